#include "plinth/manifest/kind_catalog.h"

#include <fstream>
#include <set>
#include <sstream>

#include "google/protobuf/descriptor.pb.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_paths.h"

namespace plinth::manifest {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<KindCatalog> Builtins() {
  auto catalog = KindCatalog::CreateWithBuiltins();
  EXPECT_TRUE(catalog.ok()) << catalog.status();
  return std::move(*catalog);
}

TEST(KindCatalogTest, ShipsAtLeastFortyKindsAcrossFiveProviders) {
  auto catalog = Builtins();
  EXPECT_GE(catalog->size(), 40u);
  std::set<std::string> providers;
  for (const Kind* k : catalog->List()) providers.insert(k->provider);
  EXPECT_EQ(providers, (std::set<std::string>{"aws", "azure", "cloudflare", "gcp", "kubernetes"}));
  for (const char* name : {"AwsVpc", "AwsSubnet", "AwsEcsCluster", "AwsEcsService", "AwsAlb",
                           "AwsRdsInstance", "GcpGkeCluster", "GcpGkeNodePool", "AzureAksCluster",
                           "KubernetesPostgres", "CloudflareDnsZone"}) {
    EXPECT_EQ(catalog->FindByName(name).size(), 1u) << name;
  }
}

TEST(KindCatalogTest, ApiVersionComesFromTheConstRule) {
  auto catalog = Builtins();
  const Kind* vpc = catalog->Find("aws.planton.dev/v1", "AwsVpc");
  ASSERT_NE(vpc, nullptr);
  EXPECT_EQ(vpc->provider, "aws");
  EXPECT_EQ(vpc->origin, "builtin");
  EXPECT_EQ(vpc->description, "A VPC with public and private subnets spread over availability zones.");
  ASSERT_NE(catalog->Find("gcp.planton.dev/v1", "GcpGkeCluster"), nullptr);
  ASSERT_NE(catalog->Find("kubernetes.planton.dev/v1", "KubernetesPostgres"), nullptr);
}

TEST(KindCatalogTest, FieldsCarryTypesDescriptionsAndReferences) {
  auto catalog = Builtins();
  const Kind* subnet = catalog->Find("aws.planton.dev/v1", "AwsSubnet");
  ASSERT_NE(subnet, nullptr);
  const KindField* vpc_id = nullptr;
  for (const auto& f : subnet->spec_fields) {
    if (f.path == "vpcId") vpc_id = &f;
  }
  ASSERT_NE(vpc_id, nullptr);
  EXPECT_TRUE(vpc_id->reference);
  EXPECT_EQ(vpc_id->reference_kind, "AwsVpc");
  EXPECT_EQ(vpc_id->type, "string | valueFrom");
  EXPECT_EQ(vpc_id->description, "VPC the subnet belongs to.");

  const Kind* sg = catalog->Find("aws.planton.dev/v1", "AwsSecurityGroup");
  std::set<std::string> paths;
  for (const auto& f : sg->spec_fields) paths.insert(f.path);
  EXPECT_TRUE(paths.count("ingress[].fromPort")) << "nested repeated fields are flattened";
  std::set<std::string> outputs;
  for (const auto& f : catalog->Find("aws.planton.dev/v1", "AwsVpc")->output_fields) outputs.insert(f.path);
  EXPECT_TRUE(outputs.count("vpc_id"));
}

TEST(KindCatalogTest, LoadsKindsFromADescriptorSetAndReplacesBuiltins) {
  auto catalog = Builtins();
  size_t before = catalog->size();
  auto added = catalog->LoadDescriptorSetFile(PLINTH_ACME_KINDS_PB);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 4);
  EXPECT_EQ(catalog->size(), before + 3);  // AwsVpc replaced, three new

  const Kind* widget = catalog->Find("acme.example.com/v1", "AcmeWidget");
  ASSERT_NE(widget, nullptr);
  EXPECT_EQ(widget->provider, "acme");
  EXPECT_EQ(widget->origin, PLINTH_ACME_KINDS_PB);

  const Kind* vpc = catalog->Find("aws.planton.dev/v1", "AwsVpc");
  ASSERT_NE(vpc, nullptr);
  EXPECT_EQ(vpc->origin, PLINTH_ACME_KINDS_PB);
  ASSERT_EQ(vpc->spec_fields.size(), 1u);
  EXPECT_EQ(vpc->spec_fields[0].path, "cidr");

  // No const rule: "<package minus version>/<version>".
  EXPECT_NE(catalog->Find("acme.kinds/v1", "AcmeGadget"), nullptr);
}

TEST(KindCatalogTest, TheBuiltinSetLoadsAgainAsAFile) {
  KindCatalog catalog;
  auto added = catalog.LoadDescriptorSetFile(PLINTH_BUILTIN_KINDS_PB);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(static_cast<size_t>(*added), Builtins()->size());
}

TEST(KindCatalogTest, BadDescriptorSetsAreClearErrors) {
  KindCatalog catalog;
  auto garbage = catalog.LoadDescriptorSet("this is not protobuf", "junk.pb");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("junk.pb"));

  auto missing = catalog.LoadDescriptorSetFile("/nonexistent/kinds.pb");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  google::protobuf::FileDescriptorSet empty_kinds;
  auto* file = empty_kinds.add_file();
  file->set_name("x.proto");
  file->set_syntax("proto3");
  file->add_message_type()->set_name("NotAKind");
  auto none = catalog.LoadDescriptorSet(empty_kinds.SerializeAsString(), "x.pb");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("holds no kind"));

  google::protobuf::FileDescriptorSet broken;
  auto* f = broken.add_file();
  f->set_name("y.proto");
  f->add_dependency("missing.proto");
  auto unbuildable = catalog.LoadDescriptorSet(broken.SerializeAsString(), "y.pb");
  ASSERT_FALSE(unbuildable.ok());
  EXPECT_THAT(unbuildable.status().message(), HasSubstr("does not build"));
}

TEST(KindCatalogTest, SuggestsCloseKindNames) {
  auto catalog = Builtins();
  EXPECT_EQ(catalog->Suggest("AwsVcp"), "AwsVpc");
  EXPECT_EQ(catalog->Suggest("Zzzzzzzzzzzzzzzz"), "");
}

}  // namespace
}  // namespace plinth::manifest
