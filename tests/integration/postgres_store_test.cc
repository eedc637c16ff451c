// plinthd on a PostgreSQL store (a throw-away cluster, pg_cluster.h):
// migrate-store of a SQLite data dir that ran a chart, pipelines, a
// connection and grants, then the same reads through plinthd on
// PostgreSQL; the key check that keeps a replica with another key out; and
// bad --store values.
#include <cstdlib>
#include <fstream>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pg_cluster.h"
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
