#include "plinth/store/runner_pool_store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "backends.h"
#include "temp_dir.h"

namespace plinth::store {
namespace {

using ::testing::HasSubstr;

class RunnerPoolStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto db = Database::Open({.path = FreshStore(GetParam(), dir_.path())});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    pools_ = std::make_unique<RunnerPoolStore>(db_.get(), &clock_);
  }

  testing::TempDir dir_;
  core::FakeClock clock_{absl::FromUnixSeconds(1796000000)};
  std::unique_ptr<Database> db_;
  std::unique_ptr<RunnerPoolStore> pools_;
};

TEST_P(RunnerPoolStoreTest, LocalExistsAndPoolNamesAreChecked) {
  auto local = pools_->GetPool("local");
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(pools_->CreatePool("Edge", "", "alice").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pools_->CreatePool("", "", "alice").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(pools_->CreatePool("edge", "rack 4", "alice").ok());
  EXPECT_EQ(pools_->CreatePool("edge", "", "alice").status().code(), absl::StatusCode::kAlreadyExists);
  auto all = pools_->ListPools();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "edge");
  EXPECT_EQ((*all)[1].name, "local");
  EXPECT_EQ(pools_->DeletePool("local", "alice").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pools_->GetPool("nowhere").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(RunnerPoolStoreTest, TokensAuthenticateUntilRevokedAndOnlyTheirHashIsStored) {
  ASSERT_TRUE(pools_->CreatePool("edge", "", "alice").ok());
  EXPECT_EQ(pools_->CreateToken("nowhere", "", "alice").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(pools_->CreateToken("local", "", "alice").status().code(), absl::StatusCode::kInvalidArgument);
  auto created = pools_->CreateToken("edge", "rack 4", "alice");
  ASSERT_TRUE(created.ok()) << created.status();
  const auto& [token, secret] = *created;
  EXPECT_THAT(secret, ::testing::StartsWith("plrt_" + token.id + "_"));
  auto who = pools_->Authenticate(secret);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->pool, "edge");
  for (const std::string& bad : {std::string(""), std::string("plrt_"), secret + "x", secret.substr(0, secret.size() - 1),
                                 "plrt_" + token.id + "_" + std::string(48, '0'), std::string("Bearer ") + secret}) {
    EXPECT_EQ(pools_->Authenticate(bad).status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
  // The database holds a hash, never the secret.
  std::string part = secret.substr(secret.rfind('_') + 1);
  bool leaked = false;
  ASSERT_TRUE(db_->Read([&](Connection& c) -> absl::Status {
                  Statement& st = c.Prepare("SELECT secret_hash FROM runner_pool_tokens");
                  auto row = st.Step();
                  if (row.ok() && *row) leaked = st.ColumnText(0).find(part) != std::string::npos;
                  st.Reset();
                  return absl::OkStatus();
                }).ok());
  EXPECT_FALSE(leaked);
  EXPECT_EQ(pools_->DeletePool("edge", "alice").code(), absl::StatusCode::kFailedPrecondition);
  auto revoked = pools_->RevokeToken(token.id, "bob");
  ASSERT_TRUE(revoked.ok());
  EXPECT_TRUE(revoked->revoked_at.has_value());
  EXPECT_EQ(revoked->revoked_by, "bob");
  EXPECT_EQ(pools_->Authenticate(secret).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(pools_->DeletePool("edge", "alice").ok());
}

TEST_P(RunnerPoolStoreTest, TheMostSpecificBindingWins) {
  for (const char* p : {"org-pool", "env-pool", "db-pool"}) ASSERT_TRUE(pools_->CreatePool(p, "", "alice").ok());
  EXPECT_EQ(*pools_->PoolFor("acme", "prod", {}), "local");
  ASSERT_TRUE(pools_->Bind("org-pool", "acme", "", "", "alice").ok());
  ASSERT_TRUE(pools_->Bind("env-pool", "acme", "prod", "", "alice").ok());
  ASSERT_TRUE(pools_->Bind("db-pool", "acme", "prod", "tier=db", "alice").ok());
  EXPECT_EQ(*pools_->PoolFor("acme", "dev", {}), "org-pool");
  EXPECT_EQ(*pools_->PoolFor("acme", "prod", {{"tier", "web"}}), "env-pool");
  EXPECT_EQ(*pools_->PoolFor("acme", "prod", {{"tier", "db"}}), "db-pool");
  EXPECT_EQ(*pools_->PoolFor("other", "prod", {{"tier", "db"}}), "local");
  // Bad scopes, taken scopes, unknown pools.
  EXPECT_EQ(pools_->Bind("db-pool", "", "", "", "alice").status().code(), absl::StatusCode::kInvalidArgument);
  auto no_env = pools_->Bind("db-pool", "acme", "", "tier=db", "alice");
  EXPECT_EQ(no_env.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_env.status().message(), HasSubstr("label_selector"));
  EXPECT_EQ(pools_->Bind("db-pool", "acme", "prod", "=db", "alice").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pools_->Bind("db-pool", "acme", "prod", "", "alice").status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(pools_->Bind("nowhere", "acme", "qa", "", "alice").status().code(), absl::StatusCode::kNotFound);
  auto pool = pools_->GetPool("env-pool");
  ASSERT_TRUE(pool.ok());
  ASSERT_EQ(pool->bindings.size(), 1u);
  EXPECT_EQ(pools_->DeletePool("env-pool", "alice").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(pools_->Unbind(pool->bindings[0].id, "alice").ok());
  EXPECT_EQ(pools_->Unbind(pool->bindings[0].id, "alice").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*pools_->PoolFor("acme", "prod", {{"tier", "web"}}), "org-pool");
}

TEST_P(RunnerPoolStoreTest, ARunnerKeepsItsIdAcrossRegistrations) {
  ASSERT_TRUE(pools_->CreatePool("edge", "", "alice").ok());
  RunnerRecord r;
  r.pool = "edge";
  r.name = "rack4-a";
  r.version = "0.1";
  r.max_jobs = 4;
  r.engines = {"tofu", "pulumi"};
  auto first = pools_->RegisterRunner(r);
  ASSERT_TRUE(first.ok()) << first.status();
  clock_.Advance(absl::Seconds(30));
  r.version = "0.2";
  auto again = pools_->RegisterRunner(r);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, first->id);
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(pools_->RecordHeartbeat(first->id).ok());
  auto listed = pools_->ListRunners("edge");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].version, "0.2");
  EXPECT_EQ((*listed)[0].engines, (std::vector<std::string>{"tofu", "pulumi"}));
  EXPECT_EQ(*(*listed)[0].last_heartbeat, absl::FromUnixSeconds(1796000035));
  EXPECT_TRUE(pools_->ListRunners("local")->empty());
}

PLINTH_ON_BOTH_BACKENDS(RunnerPoolStoreTest);

}  // namespace
}  // namespace plinth::store
