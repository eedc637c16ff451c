// Git module sources: fixture repositories are made with the git CLI (an
// independent implementation), fetched with libgit2 over file://.
#include "plinth/gitsource/git_cache.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "git_http_server.h"
#include "shell.h"
#include "temp_dir.h"

namespace plinth::gitsource {
using engine::FetchedModule;
using engine::GitModuleSource;
using engine::IsGitUrl;
using plinth::testing::TempDir;
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

using plinth::testing::Shell;
std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class GitCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = tmp_.path() + "/modules-repo";
    fs::create_directories(repo_ + "/aws/vpc/tf");
    std::ofstream(repo_ + "/aws/vpc/tf/main.tf") << "# vpc v1\n";
    std::ofstream(repo_ + "/aws/vpc/tf/run.sh") << "#!/bin/sh\n";
    chmod((repo_ + "/aws/vpc/tf/run.sh").c_str(), 0755);
    std::ofstream(repo_ + "/README.md") << "modules\n";
    Git("init -q -b main");
    Commit("v1");
    Git("tag v1.0.0");
    url_ = "file://" + repo_;
  }

  std::string Git(const std::string& args) {
    return Shell("git -C " + repo_ + " -c user.name=t -c user.email=t@example.com " + args);
  }
  void Commit(const std::string& message) {
    Git("add -A");
    Git("commit -q -m " + message);
  }

  TempDir tmp_;
  std::string repo_, url_;
  GitCache cache_{tmp_.path() + "/cache"};
};

TEST_F(GitCacheTest, FetchesABranchWithItsFilesSubdirAndCommit) {
  auto m = cache_.Fetch({.url = url_, .ref = "main", .subdir = "aws/vpc/tf"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->commit, Git("rev-parse main"));
  EXPECT_EQ(Read(fs::path(m->dir) / "main.tf"), "# vpc v1\n");
  struct stat st;
  ASSERT_EQ(stat((fs::path(m->dir) / "run.sh").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR) << "the executable bit is kept";
  EXPECT_FALSE(fs::exists(fs::path(m->dir) / ".git"));
}

TEST_F(GitCacheTest, ABranchThatMovesIsFetchedAgainAndOldCommitsStay) {
  auto first = cache_.Fetch({.url = url_, .ref = "main"});
  ASSERT_TRUE(first.ok()) << first.status();
  std::ofstream(repo_ + "/aws/vpc/tf/main.tf") << "# vpc v2\n";
  Commit("v2");
  auto second = cache_.Fetch({.url = url_, .ref = "main", .subdir = "aws/vpc/tf"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->commit, first->commit);
  EXPECT_EQ(second->commit, Git("rev-parse main"));
  EXPECT_EQ(Read(fs::path(second->dir) / "main.tf"), "# vpc v2\n");
  // The tag still names the first commit, with its own files.
  auto tag = cache_.Fetch({.url = url_, .ref = "v1.0.0", .subdir = "aws/vpc/tf"});
  ASSERT_TRUE(tag.ok()) << tag.status();
  EXPECT_EQ(tag->commit, first->commit);
  EXPECT_EQ(Read(fs::path(tag->dir) / "main.tf"), "# vpc v1\n");
}

TEST_F(GitCacheTest, ACachedCommitNeedsNoRemote) {
  auto first = cache_.Fetch({.url = url_, .ref = "main"});
  ASSERT_TRUE(first.ok()) << first.status();
  fs::remove_all(repo_);
  auto again = cache_.Fetch({.url = url_, .ref = first->commit, .subdir = "aws/vpc/tf"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->commit, first->commit);
  // A branch must be fetched, and the remote is gone.
  auto branch = cache_.Fetch({.url = url_, .ref = "main"});
  EXPECT_EQ(branch.status().code(), absl::StatusCode::kUnavailable) << branch.status();
}

TEST_F(GitCacheTest, DefaultRefIsTheRemotesHead) {
  auto m = cache_.Fetch({.url = url_});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->commit, Git("rev-parse HEAD"));
}

TEST_F(GitCacheTest, BadSourcesSayWhatIsWrong) {
  auto ref = cache_.Fetch({.url = url_, .ref = "no-such-branch"});
  EXPECT_EQ(ref.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ref.status().message(), HasSubstr("no-such-branch"));

  auto subdir = cache_.Fetch({.url = url_, .ref = "main", .subdir = "gcp/gke"});
  EXPECT_EQ(subdir.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(subdir.status().message(), HasSubstr("gcp/gke"));

  auto escape = cache_.Fetch({.url = url_, .ref = "main", .subdir = "../../etc"});
  EXPECT_EQ(escape.status().code(), absl::StatusCode::kInvalidArgument);

  auto missing = cache_.Fetch({.url = "file://" + tmp_.path() + "/nothing-here", .ref = "main"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(missing.status().message(), HasSubstr("nothing-here"));

  auto scheme = cache_.Fetch({.url = "/plain/path"});
  EXPECT_EQ(scheme.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(GitCacheTest, TheTokenNeverAppearsInAnError) {
  const std::string canary = "tok-CANARY-7f3a9";
  // Nothing listens on port 9 of localhost: the fetch fails fast.
  auto m = cache_.Fetch({.url = "https://user:pw@127.0.0.1:9/org/modules.git", .ref = "main", .token = canary});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(m.status().message(), Not(HasSubstr(canary)));
  EXPECT_THAT(m.status().message(), Not(HasSubstr("pw@"))) << "credentials in the URL are not shown";
}

TEST_F(GitCacheTest, AHostThatStopsAnsweringCostsAtMostTheFetchTimeout) {
  Shell("git clone -q --bare " + repo_ + " " + tmp_.path() + "/served.git");
  const std::string hold = tmp_.path() + "/hold";
  plinth::testing::GitHttpServer server(tmp_.path(), "", hold);
  ASSERT_GT(server.port(), 0);
  GitCache cache(tmp_.path() + "/bounded-cache", absl::Seconds(3));
  GitModuleSource source{.url = server.Url("served.git"), .ref = "main"};
  ASSERT_TRUE(cache.Fetch(source).ok());

  std::ofstream(hold) << "";  // the host accepts, then says nothing
  std::ofstream(repo_ + "/aws/vpc/tf/main.tf") << "# vpc v2\n";
  Commit("v2");
  Shell("git -C " + repo_ + " push -q " + tmp_.path() + "/served.git main");
  auto start = absl::Now();
  auto stalled = cache.Fetch(source);
  EXPECT_EQ(stalled.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(stalled.status().message(), HasSubstr("no answer within 3s"));
  auto again = cache.Fetch(source);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(again.status().message(), HasSubstr("an earlier fetch of it is still running"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(20)) << "two waits of 3 s, not a hang";
  // Another repository is not held up by the stuck one.
  EXPECT_TRUE(cache.Fetch({.url = url_, .ref = "main"}).ok());

  std::filesystem::remove(hold);  // the host answers again
  absl::StatusOr<FetchedModule> recovered;
  for (int i = 0; i < 200; ++i) {
    recovered = cache.Fetch(source);
    if (recovered.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->commit, Git("rev-parse main"));
}

TEST(IsGitUrl, TellsUrlsFromDirectories) {
  EXPECT_TRUE(IsGitUrl("https://github.com/plantonhq/openmcf.git"));
  EXPECT_TRUE(IsGitUrl("file:///srv/modules"));
  EXPECT_FALSE(IsGitUrl("/opt/openmcf/modules/aws"));
  EXPECT_FALSE(IsGitUrl("modules/aws"));
}

}  // namespace
}  // namespace plinth::gitsource
