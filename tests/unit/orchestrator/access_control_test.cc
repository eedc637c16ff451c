#include "plinth/orchestrator/access_control.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace plinth::orchestrator {
namespace {

using ::testing::HasSubstr;

class AccessControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::Open({.path = dir_.path() + "/g.db"});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    grants_ = std::make_unique<store::GrantStore>(db_.get(), &clock_);
    access_ = NewAccess();
    ASSERT_TRUE(access_->Load().ok());
  }

  std::unique_ptr<AccessControl> NewAccess() {
    return std::make_unique<AccessControl>(grants_.get(), [](const std::string& who) { return who == "root"; });
  }

  testing::TempDir dir_;
  core::FakeClock clock_{absl::FromUnixSeconds(1796000000)};
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::GrantStore> grants_;
  std::unique_ptr<AccessControl> access_;
};

TEST_F(AccessControlTest, AGrantCoversItsScopeAndWhatIsUnderItWithItsRoleAndTheOnesBelow) {
  ASSERT_TRUE(access_->Grant("root", "dana", "operator", "acme/dev").ok());
  const auto web = AccessScope::Resource("acme", "dev", "KubernetesDeployment", "web");
  EXPECT_TRUE(access_->Allowed("dana", Role::kViewer, web));
  EXPECT_TRUE(access_->Allowed("dana", Role::kOperator, web));
  EXPECT_TRUE(access_->Allowed("dana", Role::kOperator, AccessScope::Env("acme", "dev")));
  EXPECT_FALSE(access_->Allowed("dana", Role::kAdmin, web));
  EXPECT_FALSE(access_->Allowed("dana", Role::kViewer, AccessScope::Env("acme", "prod")));
  EXPECT_FALSE(access_->Allowed("dana", Role::kViewer, AccessScope::Org("acme")));
  EXPECT_FALSE(access_->Allowed("dana", Role::kViewer, AccessScope::Everything()));
  EXPECT_FALSE(access_->Allowed("dana", Role::kViewer, AccessScope::Env("acmex", "dev")));
  // A resource grant covers that resource only.
  ASSERT_TRUE(access_->Grant("root", "gus", "viewer", "acme/prod/KubernetesDeployment/web").ok());
  EXPECT_TRUE(access_->Allowed("gus", Role::kViewer, AccessScope::Resource("acme", "prod", "KubernetesDeployment", "web")));
  EXPECT_FALSE(access_->Allowed("gus", Role::kViewer, AccessScope::Resource("acme", "prod", "KubernetesDeployment", "api")));
  EXPECT_FALSE(access_->Allowed("gus", Role::kViewer, AccessScope::Resource("acme", "prod", "KubernetesPostgres", "web")));
  EXPECT_FALSE(access_->Allowed("gus", Role::kViewer, AccessScope::Env("acme", "prod")));
  // The unscoped identity may do everything; an unknown one nothing.
  EXPECT_TRUE(access_->Allowed("root", Role::kAdmin, AccessScope::Everything()));
  EXPECT_FALSE(access_->Allowed("nobody", Role::kViewer, web));
  absl::Status refused = access_->Require("dana", Role::kAdmin, web, "delete it");
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.message(), HasSubstr("dana may not delete it: it needs admin on acme/dev/KubernetesDeployment/web"));
}

TEST_F(AccessControlTest, UseOfAConnectionIsNotARoleAndOrgAdminsHoldIt) {
  ASSERT_TRUE(access_->Grant("root", "ada", "use", "acme/cluster").ok());
  EXPECT_TRUE(access_->RequireUse("ada", "acme", "cluster").ok());
  EXPECT_EQ(access_->RequireUse("ada", "acme", "other").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(access_->RequireUse("ada", "globex", "cluster").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(access_->Allowed("ada", Role::kViewer, AccessScope::Org("acme")));
  ASSERT_TRUE(access_->Grant("root", "alex", "admin", "acme").ok());
  EXPECT_TRUE(access_->RequireUse("alex", "acme", "anything").ok());
  EXPECT_EQ(access_->RequireUse("alex", "globex", "cluster").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(access_->Grant("root", "ada", "use", "acme").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AccessControlTest, OnlyAdminsOfAScopeGrantAndRevokeOnItAndBadInputChangesNothing) {
  ASSERT_TRUE(access_->Grant("root", "alex", "admin", "acme").ok());
  EXPECT_TRUE(access_->Grant("alex", "dana", "viewer", "acme/dev").ok());
  EXPECT_EQ(access_->Grant("alex", "dana", "viewer", "globex").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(access_->Grant("alex", "dana", "admin", "*").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(access_->Grant("dana", "dana", "admin", "acme/dev").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(access_->Grant("alex", "dana", "viewer", "acme/dev").status().code(), absl::StatusCode::kAlreadyExists);
  for (const char* bad : {"", "acme/", "/dev", "acme/dev/Kind", "acme/*", "a/b/c/d/e"}) {
    auto s = access_->Grant("root", "dana", "viewer", bad);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.status().message(), HasSubstr("scope")) << bad;
  }
  EXPECT_EQ(access_->Grant("root", "dana", "owner", "acme").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(access_->Grant("root", "", "viewer", "acme").status().code(), absl::StatusCode::kInvalidArgument);
  auto all = access_->List("root", "");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);

  // Revoke: an admin of the scope; then it is gone, from memory and the
  // store (a fresh AccessControl reads the same).
  const std::string id = (*all)[1].id;
  EXPECT_EQ(access_->Revoke("dana", id).status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(access_->Revoke("alex", id).ok());
  EXPECT_FALSE(access_->Allowed("dana", Role::kViewer, AccessScope::Env("acme", "dev")));
  EXPECT_EQ(access_->Revoke("alex", id).status().code(), absl::StatusCode::kNotFound);
  auto fresh = NewAccess();
  ASSERT_TRUE(fresh->Load().ok());
  EXPECT_TRUE(fresh->Allowed("alex", Role::kAdmin, AccessScope::Env("acme", "prod")));
  EXPECT_FALSE(fresh->Allowed("dana", Role::kViewer, AccessScope::Env("acme", "dev")));
}

TEST_F(AccessControlTest, ListsShowOwnGrantsAndThoseUnderAdministeredScopes) {
  ASSERT_TRUE(access_->Grant("root", "alex", "admin", "acme").ok());
  ASSERT_TRUE(access_->Grant("root", "dana", "viewer", "acme/dev").ok());
  ASSERT_TRUE(access_->Grant("root", "dana", "viewer", "globex").ok());
  ASSERT_TRUE(access_->Grant("root", "ada", "use", "acme/cluster").ok());
  auto names = [&](const std::string& actor, const std::string& identity) {
    std::vector<std::string> out;
    auto list = access_->List(actor, identity);
    EXPECT_TRUE(list.ok());
    for (const auto& g : *list) out.push_back(g.identity + ":" + g.scope);
    return out;
  };
  EXPECT_THAT(names("alex", ""), ::testing::UnorderedElementsAre("alex:acme", "dana:acme/dev", "ada:acme/cluster"));
  EXPECT_THAT(names("dana", ""), ::testing::UnorderedElementsAre("dana:acme/dev", "dana:globex"));
  EXPECT_THAT(names("alex", "dana"), ::testing::UnorderedElementsAre("dana:acme/dev"));
  EXPECT_EQ(names("root", "").size(), 4u);
  EXPECT_TRUE(access_->SeesAnyOf("dana", "globex"));
  EXPECT_FALSE(access_->SeesAnyOf("dana", "initech"));
  EXPECT_FALSE(access_->SeesAnyOf("ada", "acme"));
}

}  // namespace
}  // namespace plinth::orchestrator
