// A data dir written by the previous schema (migrations 1-6, with manifests in
// the field names of the kinds before they followed Planton) is upgraded in
// place: every cloud resource, project and revision is kept, and each resource
// gets its name's slug.
#include <sqlite3.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/database.h"
#include "plinth/store/infra_project_store.h"
#include "plinth/store/migrations.h"
#include "temp_dir.h"

namespace plinth::store {
namespace {

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "") << "\n" << sql;
}

// What plinthd of schema 6 wrote: its tables, exactly as its migrations made them.
void WriteSchema6DataDir(const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  Exec(db, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  for (const Migration& m : Migrations()) {
    if (m.version > 6) break;
    Exec(db, m.sql);
    Exec(db, "INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 'old', 1)");
  }
  const std::string vpc = R"({"apiVersion":"aws.planton.dev/v1","kind":"AwsVpc","metadata":{"name":"main","org":"acme","env":"dev","id":"cr-old1"},"spec":{"vpcCidr":"10.0.0.0/16"}})";
  const std::string ns = R"({"apiVersion":"kubernetes.planton.dev/v1","kind":"KubernetesNamespace","metadata":{"name":"shop--web","org":"acme","env":"dev","id":"cr-old2"},"spec":{}})";
  Exec(db, "INSERT INTO cloud_resources (id, org, env, kind, name, api_version, manifest, labels, outputs, version, "
           "created_at, created_by, updated_at, updated_by) VALUES "
           "('cr-old1', 'acme', 'dev', 'AwsVpc', 'main', 'aws.planton.dev/v1', '" + vpc + "', '{}', "
           "'{\"vpc_id\":\"vpc-1\"}', 3, 1, 'alice', 2, 'bob')");
  Exec(db, "INSERT INTO infra_projects (id, org, env, name, revision, chart_name, chart_version, chart_source, "
           "version, created_at, created_by, updated_at, updated_by) VALUES "
           "('ip-old', 'acme', 'dev', 'shop', 2, 'local-demo', '0.1.0', 'stored', 2, 1, 'alice', 2, 'alice')");
  for (int rev : {1, 2}) {
    Exec(db, "INSERT INTO infra_project_revisions (project_id, revision, chart_name, chart_version, chart_files, vals, "
             "manifests, graph, diff, actor, created_at) VALUES ('ip-old', " + std::to_string(rev) +
             ", 'local-demo', '0.1.0', '[]', '{\"app\":\"shop\"}', '[" + ns + "]', '{}', '{}', 'alice', " +
             std::to_string(rev) + ")");
  }
  Exec(db, "INSERT INTO cloud_resources (id, org, env, kind, name, api_version, manifest, labels, outputs, version, "
           "created_at, created_by, updated_at, updated_by, project_id) VALUES "
           "('cr-old2', 'acme', 'dev', 'KubernetesNamespace', 'shop--web', 'kubernetes.planton.dev/v1', '" + ns +
           "', '{}', NULL, 1, 1, 'alice', 1, 'alice', 'ip-old')");
  sqlite3_close(db);
}

TEST(MigrationTest, ASchema6DataDirKeepsEveryResourceProjectAndRevision) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/plinth.db";
  WriteSchema6DataDir(path);

  auto db = Database::Open({.path = path});
  ASSERT_TRUE(db.ok()) << db.status();
  core::FakeClock clock{absl::FromUnixSeconds(1700000000)};
  CloudResourceStore resources(db->get(), &clock);
  InfraProjectStore projects(db->get(), &clock);

  auto vpc = resources.Get({.key = {"acme", "dev", "AwsVpc", "main"}});
  ASSERT_TRUE(vpc.ok()) << vpc.status();
  EXPECT_EQ(vpc->id, "cr-old1");
  EXPECT_EQ(vpc->version, 3);
  EXPECT_EQ(vpc->manifest["spec"]["vpcCidr"], "10.0.0.0/16") << "stored manifests are kept as written";
  EXPECT_EQ(vpc->outputs["vpc_id"], "vpc-1");
  auto ns = resources.Get({.key = {"acme", "dev", "KubernetesNamespace", "shop--web"}});
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ(ns->project_id, "ip-old");

  auto project = projects.Get({.org = "acme", .env = "dev", .name = "shop"});
  ASSERT_TRUE(project.ok()) << project.status();
  EXPECT_EQ(project->revision, 2);
  for (int rev : {1, 2}) {
    auto r = projects.GetRevision(project->id, rev);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->manifests[0]["metadata"]["name"], "shop--web");
  }

  // Migration 7 filled each resource's slug ("shop--web" -> "shop-web"), so a
  // new name with the same slug is refused, naming the stored one.
  int64_t slugs = 0;
  ASSERT_TRUE((*db)->Read([&](Connection& c) -> absl::Status {
                 Statement& st = c.Prepare("SELECT COUNT(*) FROM cloud_resources WHERE slug = plinth_slug(name) AND slug != ''");
                 auto row = st.Step();
                 if (!row.ok()) return row.status();
                 slugs = st.ColumnInt64(0);
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(slugs, 2);
  auto catalog = manifest::KindCatalog::CreateWithBuiltins();
  ASSERT_TRUE(catalog.ok());
  auto clash = manifest::ParseManifests(
      {{"c.yaml", "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: shop.web}\nspec: {name: x}\n"}},
      {.org = "acme", .env = "dev"}, **catalog);
  ASSERT_TRUE(clash.ok()) << clash.status();
  auto refused = resources.Apply(*clash, "carol", false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("\"shop.web\" and the stored KubernetesNamespace \"shop--web\""));
}

}  // namespace
}  // namespace plinth::store
