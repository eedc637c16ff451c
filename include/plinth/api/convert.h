// Conversions between the layers' own types and the generated API types.
// src/api is the only place that does this.
#ifndef PLINTH_API_CONVERT_H_
#define PLINTH_API_CONVERT_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/support/status.h"
#include "nlohmann/json.hpp"
#include "plinth/chart/chart.h"
#include "plinth/graph/graph.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/v1/infra_chart.pb.h"
#include "plinth/v1/cloud_resource.pb.h"

namespace plinth::api {

// absl and gRPC share their codes; the message is kept, but for control
// characters (except newline and tab), which become \xNN.
grpc::Status ToGrpcStatus(const absl::Status& status);
// Text with control characters (except newline and tab) as \xNN.
std::string EscapeControls(absl::string_view text);

// JSON numbers become doubles (protobuf's Value has no integers).
void JsonToValue(const nlohmann::json& j, google::protobuf::Value* out);
void JsonToStruct(const nlohmann::json& j, google::protobuf::Struct* out);
// Parses JSON text straight into a Struct (no intermediate tree). False when
// the text is not a JSON object.
bool JsonTextToStruct(const std::string& text, google::protobuf::Struct* out);
nlohmann::json ValueToJson(const google::protobuf::Value& v);
nlohmann::json StructToJson(const google::protobuf::Struct& s);

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out);

// The resource as the API returns it: the manifest with status.outputs.
// Uses r.manifest_text when r.manifest was not parsed.
void ToProto(const store::CloudResourceRecord& r, plinth::v1::CloudResource* out);

void ToProto(const chart::ParamSpec& p, plinth::v1::ChartParam* out);
void ToProto(const graph::Graph& g, plinth::v1::InfraGraph* out);
std::vector<chart::ChartFile> FromProto(const google::protobuf::RepeatedPtrField<plinth::v1::ChartFile>& files);

}  // namespace plinth::api

#endif  // PLINTH_API_CONVERT_H_
