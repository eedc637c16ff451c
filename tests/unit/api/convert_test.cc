#include "plinth/api/convert.h"

#include "gtest/gtest.h"

namespace plinth::api {
namespace {

using nlohmann::json;

TEST(ConvertTest, JsonStructRoundTrip) {
  json j = {{"s", "x"}, {"i", 42}, {"f", 1.5}, {"b", true}, {"n", nullptr},
            {"l", {1, "two", {{"k", "v"}}}}, {"o", {{"nested", {{"deep", 1}}}}}};
  google::protobuf::Struct s;
  JsonToStruct(j, &s);
  EXPECT_EQ(StructToJson(s), j);
}

TEST(ConvertTest, StatusCodesMapOneToOne) {
  EXPECT_EQ(ToGrpcStatus(absl::OkStatus()).error_code(), grpc::StatusCode::OK);
  grpc::Status s = ToGrpcStatus(absl::AbortedError("stale"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(s.error_message(), "stale");
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(ConvertTest, RecordCarriesOutputsInsideTheManifest) {
  store::CloudResourceRecord r;
  r.id = "cr-1";
  r.key = {"acme", "dev", "AwsVpc", "main"};
  r.manifest = {{"kind", "AwsVpc"}, {"spec", {{"cidrBlock", "10.0.0.0/16"}}}};
  r.outputs = {{"vpc_id", "vpc-1"}};
  r.version = 3;
  r.updated_at = absl::FromUnixMicros(1700000000123456);
  plinth::v1::CloudResource out;
  ToProto(r, &out);
  EXPECT_EQ(out.version(), 3);
  EXPECT_EQ(StructToJson(out.manifest())["status"]["outputs"]["vpc_id"], "vpc-1");
  EXPECT_EQ(StructToJson(out.outputs())["vpc_id"], "vpc-1");
  EXPECT_EQ(out.update_time().seconds(), 1700000000);
  EXPECT_EQ(out.update_time().nanos(), 123456000);
}

}  // namespace
}  // namespace plinth::api
