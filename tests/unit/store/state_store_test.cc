#include "plinth/store/state_store.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/manifest/manifest.h"
#include "backends.h"
#include "temp_dir.h"

namespace plinth::store {
namespace {

using ::testing::HasSubstr;

class StateStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto db = Database::Open({.path = FreshStore(GetParam(), dir_.path())});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto box = core::SecretBox::FromKeyFile(dir_.path() + "/secret.key");
    ASSERT_TRUE(box.ok()) << box.status();
    box_ = std::move(*box);
    states_ = std::make_unique<StateStore>(db_.get(), box_.get(), &clock_, /*keep_versions=*/3);
    auto catalog = manifest::KindCatalog::CreateWithBuiltins();
    ASSERT_TRUE(catalog.ok());
    auto m = manifest::ParseManifests(
        {{"ns.yaml", "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: shop}\n"
                     "spec: {name: shop}\n"}},
        {.org = "acme", .env = "dev"}, **catalog);
    ASSERT_TRUE(m.ok()) << m.status();
    CloudResourceStore resources(db_.get(), &clock_);
    auto applied = resources.Apply(*m, "alice", false);
    ASSERT_TRUE(applied.ok()) << applied.status();
    id_ = (*applied)[0].record.id;
  }

  static std::string State(int serial, const std::string& canary = "") {
    return "{\"version\":4,\"serial\":" + std::to_string(serial) +
           ",\"lineage\":\"ln-1\",\"outputs\":{\"token\":{\"value\":\"" + canary + "\"}}}";
  }

  // Every byte SQLite keeps for the store (the database and its WAL).
  std::string RawBytes() const {
    std::string all;
    for (const char* suffix : {"", "-wal"}) {
      std::ifstream in(dir_.path() + "/p.db" + suffix, std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      all += s.str();
    }
    return all;
  }

  testing::TempDir dir_;
  core::FakeClock clock_{absl::FromUnixSeconds(1796000000)};
  std::unique_ptr<Database> db_;
  std::unique_ptr<core::SecretBox> box_;
  std::unique_ptr<StateStore> states_;
  std::string id_;
};

TEST_P(StateStoreTest, EveryWriteIsAVersionSealedAtRestAndTheOldestArePruned) {
  auto none = states_->Get(id_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  const std::string canary = "canary-7f3a91c2e4";
  auto first = states_->Put(id_, "terraform", State(1, canary), "job-1", "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version, 1);
  EXPECT_EQ(first->serial, 1);
  EXPECT_EQ(first->lineage, "ln-1");
  // The same content again writes nothing.
  auto same = states_->Put(id_, "terraform", State(1, canary), "job-2", "");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version, 1);
  EXPECT_EQ(same->job_id, "job-1");
  for (int serial = 2; serial <= 5; ++serial) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_TRUE(states_->Put(id_, "terraform", State(serial, canary), "job-" + std::to_string(serial), "").ok());
  }
  auto latest = states_->Get(id_);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->version, 5);
  EXPECT_EQ((*latest)->content, State(5, canary));
  auto old = states_->Get(id_, 3);
  ASSERT_TRUE(old.ok() && old->has_value());
  EXPECT_EQ((*old)->content, State(3, canary));
  // Three are kept, newest first.
  auto versions = states_->Versions(id_, 10);
  ASSERT_TRUE(versions.ok()) << versions.status();
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].version, 5);
  EXPECT_EQ((*versions)[2].version, 3);
  EXPECT_TRUE((*versions)[0].content.empty());
  auto gone = states_->Get(id_, 1);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  // Not a JSON object: refused, nothing written.
  EXPECT_EQ(states_->Put(id_, "terraform", "[1]", "job-9", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*states_->Versions(id_, 10))[0].version, 5);
  // Sealed: the canary is nowhere in the database's files.
  EXPECT_EQ(RawBytes().find(canary), std::string::npos);
  // A store opened with another key cannot read it.
  auto other = core::SecretBox::FromKeyFile(dir_.path() + "/other.key");
  ASSERT_TRUE(other.ok());
  StateStore stranger(db_.get(), other->get(), &clock_);
  EXPECT_EQ(stranger.Get(id_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(StateStoreTest, OneLockAtATimeAndOnlyItsHolderWrites) {
  const nlohmann::json info = {{"ID", "lock-a"}, {"Operation", "OperationTypeApply"}, {"Who", "tofu@runner-1"}};
  auto locked = states_->Lock(id_, info, "job-1", nullptr);
  ASSERT_TRUE(locked.ok()) << locked.status();
  EXPECT_EQ(locked->lock_id, "lock-a");
  StateLockRecord holder;
  auto second = states_->Lock(id_, {{"ID", "lock-b"}, {"Who", "tofu@runner-2"}}, "job-2", &holder);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("tofu@runner-1"));
  EXPECT_EQ(holder.lock_id, "lock-a");
  EXPECT_EQ(holder.job_id, "job-1");
  // While locked only the lock's id may write.
  EXPECT_EQ(states_->Put(id_, "terraform", State(1), "job-2", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(states_->Put(id_, "terraform", State(1), "job-2", "lock-b").status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(states_->Put(id_, "terraform", State(1), "job-1", "lock-a").ok());
  auto listed = states_->List("acme", "");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].key.name, "shop");
  EXPECT_EQ((*listed)[0].versions, 1);
  ASSERT_TRUE((*listed)[0].lock.has_value());
  EXPECT_EQ((*listed)[0].lock->info.value("Operation", ""), "OperationTypeApply");
  EXPECT_TRUE(states_->List("other", "")->empty());
  // Unlock with another id is refused; with the id (or forced) it goes.
  EXPECT_EQ(states_->Unlock(id_, "lock-b", "bob").status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(states_->Unlock(id_, "lock-a", "job-1").ok());
  EXPECT_EQ(states_->Unlock(id_, "lock-a", "job-1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(states_->Lock(id_, {{"ID", "lock-c"}}, "job-3", nullptr).ok());
  ASSERT_TRUE(states_->Unlock(id_, "", "bob").ok());
  // The locks a job left go with its end, and only its own.
  ASSERT_TRUE(states_->Lock(id_, {{"ID", "lock-d"}}, "job-4", nullptr).ok());
  ASSERT_TRUE(states_->ReleaseJobLocks("job-5").ok());
  EXPECT_TRUE(states_->LockOf(id_)->has_value());
  ASSERT_TRUE(states_->ReleaseJobLocks("job-4").ok());
  EXPECT_FALSE(states_->LockOf(id_)->has_value());
}

PLINTH_ON_BOTH_BACKENDS(StateStoreTest);

}  // namespace
}  // namespace plinth::store
