#include "plinth/store/cloud_resource_store.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "backends.h"
#include "temp_dir.h"

namespace plinth::store {
namespace {

using ::testing::HasSubstr;

class CloudResourceStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto c = manifest::KindCatalog::CreateWithBuiltins();
    ASSERT_TRUE(c.ok());
    catalog_ = std::move(*c);
    auto db = Database::Open({.path = FreshStore(GetParam(), dir_.path())});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    store_ = std::make_unique<CloudResourceStore>(db_.get(), &clock_);
  }

  std::vector<manifest::Manifest> Manifests(const std::string& text, const std::string& env = "dev") {
    auto m = manifest::ParseManifests({{"t.yaml", text}}, {.org = "acme", .env = env}, *catalog_);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : std::vector<manifest::Manifest>{};
  }

  static std::string Vpc(const std::string& name, const std::string& cidr,
                         const std::string& labels = "{}") {
    return "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: " + name +
           ", labels: " + labels + "}\nspec: {region: us-east-1, cidrBlock: " + cidr + "}\n";
  }

  testing::TempDir dir_;
  core::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<manifest::KindCatalog> catalog_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<CloudResourceStore> store_;
};

TEST_P(CloudResourceStoreTest, ApplyCreatesThenUpdatesThenLeavesUnchanged) {
  auto first = store_->Apply(Manifests(Vpc("main", "10.0.0.0/16")), "alice", false);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].action, ApplyAction::kCreated);
  const CloudResourceRecord& created = (*first)[0].record;
  EXPECT_EQ(created.version, 1);
  EXPECT_EQ(created.created_by, "alice");
  EXPECT_EQ(created.created_at, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(created.manifest["metadata"]["id"], created.id);

  clock_.Advance(absl::Minutes(1));
  auto same = store_->Apply(Manifests(Vpc("main", "10.0.0.0/16")), "bob", false);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)[0].action, ApplyAction::kUnchanged);
  EXPECT_EQ((*same)[0].record.version, 1);

  auto changed = store_->Apply(Manifests(Vpc("main", "10.1.0.0/16")), "bob", false);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ((*changed)[0].action, ApplyAction::kUpdated);
  EXPECT_EQ((*changed)[0].record.version, 2);
  EXPECT_EQ((*changed)[0].record.id, created.id);

  auto got = store_->Get({.key = {"acme", "dev", "AwsVpc", "main"}});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(got->updated_by, "bob");
  EXPECT_EQ(got->created_by, "alice");
  EXPECT_EQ(got->updated_at, absl::FromUnixSeconds(1700000060));
  EXPECT_EQ(got->manifest["spec"]["cidrBlock"], "10.1.0.0/16");
  EXPECT_TRUE(got->outputs.is_null());
}

TEST_P(CloudResourceStoreTest, ApplyIsAllOrNothing) {
  ASSERT_TRUE(store_->Apply(Manifests(Vpc("a", "10.0.0.0/16")), "alice", false).ok());
  // The second manifest names a wrong id: the whole batch must fail.
  auto batch = Manifests(Vpc("b", "10.2.0.0/16") + "---\n" +
                         "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: a, id: cr-wrong}\nspec: {region: r, cidrBlock: 10.0.0.0/16}\n");
  auto r = store_->Apply(batch, "alice", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("metadata.id"));
  EXPECT_EQ(store_->Get({.key = {"acme", "dev", "AwsVpc", "b"}}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(CloudResourceStoreTest, DryRunWritesNothing) {
  auto r = store_->Apply(Manifests(Vpc("a", "10.0.0.0/16")), "alice", true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].action, ApplyAction::kCreated);
  EXPECT_EQ(store_->Get({.key = {"acme", "dev", "AwsVpc", "a"}}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(CloudResourceStoreTest, UpdateNeedsTheCurrentVersion) {
  auto created = store_->Create(Manifests(Vpc("a", "10.0.0.0/16"))[0], "alice");
  ASSERT_TRUE(created.ok());
  auto dup = store_->Create(Manifests(Vpc("a", "10.0.0.0/16"))[0], "alice");
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);

  auto updated = store_->Update(Manifests(Vpc("a", "10.1.0.0/16"))[0], 1, "bob");
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->version, 2);
  auto stale = store_->Update(Manifests(Vpc("a", "10.2.0.0/16"))[0], 1, "carol");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(stale.status().message(), HasSubstr("is at version 2, not 1"));
  EXPECT_EQ(store_->Get({.key = {"acme", "dev", "AwsVpc", "a"}})->manifest["spec"]["cidrBlock"],
            "10.1.0.0/16");
  EXPECT_EQ(store_->Update(Manifests(Vpc("zzz", "10.0.0.0/16"))[0], 1, "bob").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Update(Manifests(Vpc("a", "10.0.0.0/16"))[0], 0, "bob").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CloudResourceStoreTest, DeleteKeepsHistoryAndFreesTheName) {
  auto created = store_->Create(Manifests(Vpc("a", "10.0.0.0/16"))[0], "alice");
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(store_->Update(Manifests(Vpc("a", "10.1.0.0/16"))[0], 1, "bob").ok());
  EXPECT_EQ(store_->Delete({.id = created->id}, 1, "carol").status().code(), absl::StatusCode::kAborted);
  auto deleted = store_->Delete({.key = {"acme", "dev", "AwsVpc", "a"}}, 0, "carol");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(store_->Get({.id = created->id}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete({.id = created->id}, 0, "carol").status().code(), absl::StatusCode::kNotFound);

  auto history = store_->ListRevisions({.id = created->id}, 0, "");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->items.size(), 3u);
  EXPECT_EQ(history->items[0].action, "delete");
  EXPECT_EQ(history->items[0].actor, "carol");
  EXPECT_EQ(history->items[1].action, "update");
  EXPECT_EQ(history->items[1].manifest["spec"]["cidrBlock"], "10.1.0.0/16");
  EXPECT_EQ(history->items[2].action, "create");
  EXPECT_EQ(history->items[2].actor, "alice");

  auto again = store_->Create(Manifests(Vpc("a", "10.9.0.0/16"))[0], "dave");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->id, created->id);
  EXPECT_EQ(again->version, 1);
}

TEST_P(CloudResourceStoreTest, RevisionsPaginate) {
  ASSERT_TRUE(store_->Create(Manifests(Vpc("a", "10.0.0.0/16"))[0], "alice").ok());
  for (int v = 1; v < 7; ++v) {
    ASSERT_TRUE(store_->Update(Manifests(Vpc("a", "10." + std::to_string(v) + ".0.0/16"))[0], v, "x").ok());
  }
  std::vector<int64_t> versions;
  std::string token;
  do {
    auto page = store_->ListRevisions({.key = {"acme", "dev", "AwsVpc", "a"}}, 3, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& r : page->items) versions.push_back(r.version);
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(versions, (std::vector<int64_t>{7, 6, 5, 4, 3, 2, 1}));
}

TEST_P(CloudResourceStoreTest, ListFiltersSelectsAndPaginates) {
  std::string text;
  for (int i = 0; i < 25; ++i) {
    std::string labels = i % 2 ? "{tier: web, team: shop}" : "{tier: db}";
    text += (i ? "---\n" : "") + Vpc("vpc-" + std::to_string(100 + i), "10.0.0.0/16", labels);
  }
  ASSERT_TRUE(store_->Apply(Manifests(text, "dev"), "alice", false).ok());
  ASSERT_TRUE(store_->Apply(Manifests(Vpc("other", "10.0.0.0/16"), "prod"), "alice", false).ok());

  std::vector<std::string> names;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->List({.env = "dev", .page_size = 10, .page_token = token});
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& r : page->items) names.push_back(r.key.name);
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(names.size(), 25u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), 25u);

  auto sel = manifest::ParseLabelSelector("tier=web,team");
  auto web = store_->List({.selector = *sel, .page_size = 100});
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(web->items.size(), 12u);
  auto not_web = store_->List({.selector = *manifest::ParseLabelSelector("tier!=web"), .page_size = 100});
  EXPECT_EQ(not_web->items.size(), 14u);  // 13 db + the prod one without labels
  auto no_team = store_->List({.selector = *manifest::ParseLabelSelector("!team"), .page_size = 100});
  EXPECT_EQ(no_team->items.size(), 14u);
  EXPECT_EQ(store_->List({.org = "acme", .env = "prod"})->items.size(), 1u);
  EXPECT_EQ(store_->List({.kind = "AwsSubnet"})->items.size(), 0u);
}

TEST_P(CloudResourceStoreTest, PageTokensAreBoundToTheirQuery) {
  std::string text;
  for (int i = 0; i < 5; ++i) text += (i ? "---\n" : "") + Vpc("v" + std::to_string(i), "10.0.0.0/16");
  ASSERT_TRUE(store_->Apply(Manifests(text), "alice", false).ok());
  auto page = store_->List({.env = "dev", .page_size = 2});
  ASSERT_FALSE(page->next_page_token.empty());
  auto other = store_->List({.env = "prod", .page_size = 2, .page_token = page->next_page_token});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  auto junk = store_->List({.page_token = "%%%"});
  EXPECT_EQ(junk.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List({.page_size = -1}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(CloudResourceStoreTest, EveryMutationIsAudited) {
  auto created = store_->Create(Manifests(Vpc("a", "10.0.0.0/16"))[0], "alice");
  ASSERT_TRUE(store_->Update(Manifests(Vpc("a", "10.1.0.0/16"))[0], 1, "bob").ok());
  ASSERT_TRUE(store_->Delete({.id = created->id}, 2, "carol").ok());
  std::vector<std::string> rows;
  ASSERT_TRUE(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "SELECT actor, action, COALESCE(before_version, 0), COALESCE(after_version, 0) "
        "FROM audit_events ORDER BY id");
    for (;;) {
      auto row = st.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      rows.push_back(st.ColumnText(0) + " " + st.ColumnText(1) + " " +
                     std::to_string(st.ColumnInt64(2)) + "->" + std::to_string(st.ColumnInt64(3)));
    }
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(rows, (std::vector<std::string>{"alice cloud_resource.create 0->1",
                                            "bob cloud_resource.update 1->2",
                                            "carol cloud_resource.delete 2->0"}));
}

PLINTH_ON_BOTH_BACKENDS(CloudResourceStoreTest);

}  // namespace
}  // namespace plinth::store
