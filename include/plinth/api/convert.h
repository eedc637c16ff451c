// Conversions between the layers' own types and the generated API types.
// src/api is the only place that does this.
#ifndef PLINTH_API_CONVERT_H_
#define PLINTH_API_CONVERT_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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
#include "plinth/v1/states.pb.h"

namespace plinth::api {

// absl and gRPC share their codes; the message is kept, but for control
// characters (except newline and tab), which become \xNN.
grpc::Status ToGrpcStatus(const absl::Status& status);
// "NOT_FOUND" -> kNotFound (the names absl::StatusCodeToString gives);
// false for a name it does not know.
bool StatusCodeFromName(absl::string_view name, absl::StatusCode* code);
// Text with control characters (except newline and tab) as \xNN.
std::string EscapeControls(absl::string_view text);

// The states.proto enums and the strings beside them: "awaiting_approval"
// is STACK_JOB_STATE_AWAITING_APPROVAL. Unknown names are 0 (UNSPECIFIED);
// unknown or unspecified numbers are "".
int EnumNumberOf(const google::protobuf::EnumDescriptor* type, absl::string_view name);
std::string EnumNameOf(const google::protobuf::EnumDescriptor* type, int number);

template <typename E>
E EnumOf(absl::string_view name) {
  return static_cast<E>(EnumNumberOf(google::protobuf::GetEnumDescriptor<E>(), name));
}
template <typename E>
std::string NameOf(E value) {
  return EnumNameOf(google::protobuf::GetEnumDescriptor<E>(), static_cast<int>(value));
}

// A request's string field and the enum field beside it, as one name: either
// may be set; both must agree. INVALID_ARGUMENT names `field` (or
// `field`_enum) for a value that is no member, or a disagreement.
template <typename E>
absl::StatusOr<std::string> OneNameOf(absl::string_view field, const std::string& name, E value) {
  const auto* type = google::protobuf::GetEnumDescriptor<E>();
  std::string from_enum;
  if (static_cast<int>(value) != 0) {
    from_enum = EnumNameOf(type, static_cast<int>(value));
    if (from_enum.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "_enum: ", static_cast<int>(value), " is not a value of ", type->full_name()));
    }
  }
  if (!name.empty() && !from_enum.empty() && name != from_enum) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", name, "\" disagrees with ", field, "_enum ",
                                                   type->FindValueByNumber(static_cast<int>(value))->name()));
  }
  return name.empty() ? from_enum : name;
}

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
