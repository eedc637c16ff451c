#include "plinth/api/convert.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "plinth/core/error_reason.h"

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

google::rpc::Status DetailsOf(const grpc::Status& s) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(s.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(s.error_code()));
  EXPECT_EQ(details.message(), s.error_message());
  EXPECT_EQ(details.details_size(), 1);
  return details;
}

TEST(ConvertTest, InvalidArgumentCarriesTheFieldItNames) {
  auto details = DetailsOf(ToGrpcStatus(absl::InvalidArgumentError("spec.cidrBlock: required")));
  google::rpc::BadRequest bad;
  ASSERT_TRUE(details.details(0).UnpackTo(&bad));
  EXPECT_EQ(bad.field_violations(0).field(), "spec.cidrBlock");
  EXPECT_EQ(bad.field_violations(0).description(), "required");
  // A sentence is not a field: the whole text is the description.
  details = DetailsOf(ToGrpcStatus(absl::InvalidArgumentError("unknown kind aws.planton.dev/v1 AwsVpcc")));
  ASSERT_TRUE(details.details(0).UnpackTo(&bad));
  EXPECT_EQ(bad.field_violations(0).field(), "");
  EXPECT_EQ(bad.field_violations(0).description(), "unknown kind aws.planton.dev/v1 AwsVpcc");
}

TEST(ConvertTest, NotFoundNamesTheResource) {
  google::rpc::ResourceInfo info;
  ASSERT_TRUE(DetailsOf(ToGrpcStatus(absl::NotFoundError("infra project acme/prod/web not found")))
                  .details(0)
                  .UnpackTo(&info));
  EXPECT_EQ(info.resource_type(), "plinth.v1.InfraProject");
  EXPECT_EQ(info.resource_name(), "acme/prod/web");
  ASSERT_TRUE(DetailsOf(ToGrpcStatus(absl::NotFoundError("revision: infra project p-1 has no revision 9")))
                  .details(0)
                  .UnpackTo(&info));
  EXPECT_EQ(info.resource_type(), "plinth.v1.InfraProject");
  EXPECT_EQ(info.resource_name(), "p-1");
}

TEST(ConvertTest, PreconditionsCarryTheirReason) {
  google::rpc::ErrorInfo info;
  auto tagged = core::WithReason(absl::AbortedError("cloud resource x is at version 3, not 2"), "VERSION_MISMATCH");
  ASSERT_TRUE(DetailsOf(ToGrpcStatus(tagged)).details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "VERSION_MISMATCH");
  EXPECT_EQ(info.domain(), "plinth.dev");
  ASSERT_TRUE(DetailsOf(ToGrpcStatus(absl::FailedPreconditionError("no"))).details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "FAILED_PRECONDITION");
  // Internal errors say nothing more than their text.
  google::rpc::Status internal;
  ASSERT_TRUE(internal.ParseFromString(ToGrpcStatus(absl::InternalError("x")).error_details()));
  EXPECT_EQ(internal.details_size(), 0);
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
