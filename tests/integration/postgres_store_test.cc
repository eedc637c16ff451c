// plinthd on a PostgreSQL store (a throw-away cluster, pg_cluster.h):
// migrate-store of a SQLite data dir that ran a chart, pipelines, a
// connection and grants, then the same reads through plinthd on
// PostgreSQL; the key check that keeps a replica with another key out; and
// bad --store values.
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "pg_cluster.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

using ::testing::HasSubstr;

std::string SimConfig(const std::string& dir) {
  std::string config = dir + "/plinthd.yaml";
  std::ofstream(config) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}}\n"
                        << "modules: {default: {engine: tofu, source: " << PLINTH_SOURCE_DIR << "/examples/modules/sim}}\n";
  return config;
}

// What a user reads back, without the fields that name the daemon instance.
std::vector<std::vector<std::string>> Reads() {
  return {{"project", "get", "shop", "--org", "acme", "--env", "dev", "-o", "json"},
          {"project", "history", "shop", "--org", "acme", "--env", "dev"},
          {"pipeline", "list", "--project", "shop", "--org", "acme", "--env", "dev"},
          {"get", "cloud-resources", "--org", "acme", "--env", "dev", "-o", "json"},
          {"history", "acme/dev/KubernetesDeployment/shop-api"},
          {"connection", "list", "--org", "acme"},
          {"grant", "list"},
          {"chart", "list"}};
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // These tests pick their stores themselves.
    const char* mode = std::getenv("PLINTH_TEST_STORE");
    if (mode != nullptr) saved_ = mode;
    unsetenv("PLINTH_TEST_STORE");
    pg_ = PgCluster::Shared();
    ASSERT_NE(pg_, nullptr) << "no PostgreSQL cluster";
  }
  void TearDown() override {
    if (!saved_.empty()) setenv("PLINTH_TEST_STORE", saved_.c_str(), 1);
  }

  std::string saved_;
  PgCluster* pg_ = nullptr;
  TempDir dir_;
};

TEST_F(PostgresStoreTest, MigrateStoreCopiesEverythingAndPlinthdReadsTheSameFromPostgres) {
  std::string config = SimConfig(dir_.path());
  DaemonProcess lite;
  ASSERT_TRUE(lite.Start({"--config", config}).ok()) << lite.Stderr();
  const std::string chart = std::string(PLINTH_SOURCE_DIR) + "/examples/charts/local-demo";
  ASSERT_EQ(lite.Cli({"chart", "push", chart}).exit_code, 0);
  CommandResult install = lite.Cli({"chart", "install", "shop", chart, "--org", "acme", "--env", "dev", "--wait"});
  ASSERT_EQ(install.exit_code, 0) << install.out << install.err;
  ASSERT_EQ(lite.Cli({"project", "update", "shop", "--org", "acme", "--env", "dev", "--set", "api_replicas=3", "--wait"})
                .exit_code,
            0);
  ASSERT_EQ(lite.Cli({"connection", "create", "acme/cloud", "--provider", "aws", "--field", "region=eu-west-1",
                      "--field", "access_key_id=AKIAEXAMPLE", "--secret", "secret_access_key=s3cr3t"})
                .exit_code,
            0);
  ASSERT_EQ(lite.Cli({"grant", "create", "dev", "--role", "viewer", "--scope", "acme/dev"}).exit_code, 0);
  std::vector<std::string> before;
  for (const auto& r : Reads()) {
    CommandResult c = lite.Cli(r);
    ASSERT_EQ(c.exit_code, 0) << r[0] << " " << r[1] << ": " << c.err;
    before.push_back(c.out);
  }
  ASSERT_EQ(lite.Stop(), 0);

  const std::string url = pg_->NewDatabase();
  CommandResult migrated = RunCommand({PlinthdPath(), "migrate-store", "--from", "sqlite:" + lite.data_dir(), "--to", url});
  ASSERT_EQ(migrated.exit_code, 0) << migrated.out << migrated.err;
  EXPECT_THAT(migrated.out, HasSubstr("counts and checksums match the source"));
  EXPECT_THAT(migrated.out, HasSubstr("stack_job_events"));
  EXPECT_THAT(migrated.out, HasSubstr("infra_pipeline_nodes"));
  // Into a store that is no longer empty: refused, nothing changed.
  CommandResult again = RunCommand({PlinthdPath(), "migrate-store", "--from", "sqlite:" + lite.data_dir(), "--to", url});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("not empty"));

  // Another data dir, the same key: plinthd on PostgreSQL answers the same.
  DaemonProcess pg;
  ASSERT_TRUE(pg.Start({"--config", config, "--store", url, "--secret-key-file", lite.data_dir() + "/secret.key"}).ok())
      << pg.Stderr();
  for (size_t i = 0; i < Reads().size(); ++i) {
    CommandResult c = pg.Cli(Reads()[i]);
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_EQ(c.out, before[i]) << Reads()[i][0] << " " << Reads()[i][1];
  }
  // It goes on working there: a new pipeline, and the sealed secret opens.
  CommandResult run = pg.Cli({"project", "update", "shop", "--org", "acme", "--env", "dev", "--set", "api_replicas=4", "--wait"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  CommandResult history = pg.Cli({"project", "history", "shop", "--org", "acme", "--env", "dev"});
  EXPECT_THAT(history.out, HasSubstr("3"));
  ASSERT_EQ(pg.Stop(), 0);

  // A replica without the key, or with another one, is refused before it
  // writes anything.
  DaemonProcess keyless;
  EXPECT_FALSE(keyless.Start({"--config", config, "--store", url}).ok());
  EXPECT_THAT(keyless.Stderr(), HasSubstr("secret.key is missing, but the catalog exists"));
  DaemonProcess fresh;  // makes a key of its own
  ASSERT_TRUE(fresh.Start().ok());
  ASSERT_EQ(fresh.Stop(), 0);
  DaemonProcess other;
  EXPECT_FALSE(other.Start({"--config", config, "--store", url, "--secret-key-file", fresh.data_dir() + "/secret.key"}).ok());
  EXPECT_THAT(other.Stderr(), HasSubstr("is not the key the catalog was sealed with"));
  EXPECT_THAT(other.Stderr(), HasSubstr("every replica must be given the same key file"));
}

TEST_F(PostgresStoreTest, OnePlinthdPerStoreUntilReplicasShareTheWork) {
  std::string config = SimConfig(dir_.path());
  const std::string url = pg_->NewDatabase();
  DaemonProcess first;
  ASSERT_TRUE(first.Start({"--config", config, "--store", url}).ok()) << first.Stderr();
  DaemonProcess second;
  EXPECT_FALSE(second.Start({"--config", config, "--store", url, "--secret-key-file",
                             first.data_dir() + "/secret.key"}).ok());
  EXPECT_THAT(second.Stderr(), HasSubstr("another plinthd is using this store"));
  // Once the first is gone (even by kill -9), the store can be taken over.
  first.Kill();
  DaemonProcess third;
  EXPECT_TRUE(third.Start({"--config", config, "--store", url, "--secret-key-file",
                           first.data_dir() + "/secret.key"}).ok())
      << third.Stderr();
}

int Readyz(const std::string& http) {
  size_t colon = http.rfind(':');
  httplib::Client c(http.substr(0, colon), std::stoi(http.substr(colon + 1)));
  c.set_read_timeout(3);
  auto r = c.Get("/readyz");
  return r ? r->status : -1;
}

bool WaitForReadyz(const std::string& http, int status, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    if (Readyz(http) == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The server restarted under load (its own cluster, fsync on): plinthd says
// it is not ready while the server is away, is ready again by itself, every
// write it acknowledged is there, and the writes it refused say so.
TEST_F(PostgresStoreTest, AServerRestartUnderLoadLosesNoAcknowledgedWrite) {
  std::string why;
  auto own = PgCluster::Start(&why, /*fsync=*/true);
  ASSERT_NE(own, nullptr) << why;
  const std::string url = own->NewDatabase();
  DaemonProcess d;
  ASSERT_TRUE(d.Start({"--store", url}).ok()) << d.Stderr();
  ASSERT_TRUE(WaitForReadyz(d.http_address(), 200, 10));

  namespace pb = plinth::v1;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<int> refused{0}, refused_unavailable{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      auto stub = pb::CloudResourceService::NewStub(d.Channel());
      for (int i = 0; !stop; ++i) {
        std::string name = "ns-" + std::to_string(w) + "-" + std::to_string(i);
        pb::CreateCloudResourceRequest req;
        req.set_org("acme");
        req.set_env("dev");
        req.set_manifest("apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: " + name +
                         "}\nspec: {name: " + name + "}\n");
        pb::CloudResource out;
        auto ctx = DaemonProcess::Context();
        grpc::Status s = stub->CreateCloudResource(ctx.get(), req, &out);
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged.insert(name);
        } else {
          ++refused;
          if (s.error_code() == grpc::StatusCode::UNAVAILABLE) ++refused_unavailable;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(own->Stop(&why)) << why;
  EXPECT_TRUE(WaitForReadyz(d.http_address(), 503, 10)) << "not-ready while the server is away";
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(own->StartServer(&why)) << why;
  EXPECT_TRUE(WaitForReadyz(d.http_address(), 200, 20)) << "ready again by itself";
  size_t before_end = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    before_end = acknowledged.size();
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(refused.load(), refused_unavailable.load()) << "every refusal is UNAVAILABLE";
  EXPECT_GT(acknowledged.size(), before_end) << "writes go on after the restart";
  // Every acknowledged write is there.
  auto stub = pb::CloudResourceService::NewStub(d.Channel());
  int missing = 0;
  for (const std::string& name : acknowledged) {
    pb::GetCloudResourceRequest get;
    get.mutable_key()->set_org("acme");
    get.mutable_key()->set_env("dev");
    get.mutable_key()->set_kind("KubernetesNamespace");
    get.mutable_key()->set_name(name);
    pb::CloudResource r;
    grpc::Status got = stub->GetCloudResource(DaemonProcess::Context().get(), get, &r);
    if (!got.ok()) {
      ++missing;
      ADD_FAILURE() << name << ": " << got.error_code() << " " << got.error_message();
    }
  }
  EXPECT_EQ(missing, 0) << "of " << acknowledged.size() << " acknowledged writes";
  EXPECT_EQ(d.Stop(), 0);
}

TEST_F(PostgresStoreTest, BadStoreValuesAreRefusedAtStart) {
  DaemonProcess bad;
  EXPECT_FALSE(bad.Start({"--store", "mysql://nope"}).ok());
  EXPECT_THAT(bad.Stderr(), HasSubstr("store: must be a PostgreSQL URL"));
  DaemonProcess unreachable;
  EXPECT_FALSE(unreachable.Start({"--store", "postgres://plinth:hunter2@127.0.0.1:1/plinth"}).ok());
  EXPECT_THAT(unreachable.Stderr(), HasSubstr("cannot connect to postgres://plinth:***@127.0.0.1:1/plinth"));
  EXPECT_THAT(unreachable.Stderr(), ::testing::Not(HasSubstr("hunter2")));
  CommandResult no_from = RunCommand({PlinthdPath(), "migrate-store", "--from", "/tmp/x", "--to", pg_->NewDatabase()});
  EXPECT_EQ(no_from.exit_code, 1);
  EXPECT_THAT(no_from.err, HasSubstr("--from must be sqlite:PATH"));
  CommandResult missing = RunCommand({PlinthdPath(), "migrate-store", "--from", "sqlite:" + dir_.path() + "/none.db",
                                      "--to", pg_->NewDatabase()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no such file"));
}

}  // namespace
}  // namespace plinth::testing
