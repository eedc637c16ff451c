// The cloud-resource repository: manifests, their revisions and the audit
// log, in the database. Every mutation writes the resource row, a revision
// and an audit event in one transaction.
//
//   CloudResourceStore store(db.get(), core::SystemClock());
//   auto outcomes = store.Apply(manifests, "alice", /*dry_run=*/false);
//   auto record = store.Get({.key = {"acme", "dev", "AwsVpc", "main"}});
//
// Thread-safe. Every method blocks on SQLite: call it from a worker thread.
#ifndef PLINTH_STORE_CLOUD_RESOURCE_STORE_H_
#define PLINTH_STORE_CLOUD_RESOURCE_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "plinth/core/clock.h"
#include "plinth/manifest/label_selector.h"
#include "plinth/manifest/manifest.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct CloudResourceKey {
  std::string org;
  std::string env;
  std::string kind;
  std::string name;
  // "org/env/kind/name"
  std::string ToString() const { return org + "/" + env + "/" + kind + "/" + name; }
};

// Names one resource: by id when `id` is set, else by key.
struct ResourceSelector {
  std::string id;
  CloudResourceKey key;
};

struct CloudResourceRecord {
  std::string id;
  CloudResourceKey key;
  std::string api_version;
  // apiVersion, kind, metadata (with id, org, env) and spec.
  nlohmann::json manifest;
  // The same manifest as stored JSON text; set by reads, so that callers
  // that only pass it on need not build `manifest` (see Get's parse flag).
  std::string manifest_text;
  // status.outputs; null until a stack job sets them.
  nlohmann::json outputs;
  // True after a successful update/refresh job, false after a destroy.
  bool deployed = false;
  // The infra project that owns the resource ("" = none): only the
  // project's revisions and pipelines change it.
  std::string project_id;
  // Digest of the manifest last deployed successfully ("" = none).
  std::string deployed_digest;
  int64_t version = 0;
  absl::Time created_at;
  std::string created_by;
  absl::Time updated_at;
  std::string updated_by;
};

enum class ApplyAction { kCreated, kUpdated, kUnchanged };

struct ApplyOutcome {
  ApplyAction action;
  CloudResourceRecord record;
  std::string source;  // the manifest's source, e.g. "vpc.yaml document 1"
};

struct ListQuery {
  std::string org;  // "" = any
  std::string env;
  std::string kind;
  std::vector<manifest::LabelRequirement> selector;
  int page_size = 0;  // 0 = 50; capped at 1000
  std::string page_token;
};

struct ListPage {
  std::vector<CloudResourceRecord> items;
  std::string next_page_token;  // "" on the last page
};

struct Revision {
  std::string resource_id;
  int64_t version = 0;
  std::string action;  // create, update, delete
  CloudResourceKey key;
  nlohmann::json manifest;
  std::string actor;
  absl::Time created_at;
};

struct RevisionPage {
  std::vector<Revision> items;  // newest first
  std::string next_page_token;
};

class CloudResourceStore {
 public:
  // `db` and `clock` must outlive the store.
  CloudResourceStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}

  // Creates or updates every manifest in one transaction: all or none.
  // A manifest equal to the stored one is kUnchanged and writes nothing.
  // A metadata.id that does not match the stored resource is
  // INVALID_ARGUMENT. With dry_run nothing is written.
  absl::StatusOr<std::vector<ApplyOutcome>> Apply(const std::vector<manifest::Manifest>& manifests,
                                                  const std::string& actor, bool dry_run);

  // ALREADY_EXISTS when org/env/kind/name is taken.
  absl::StatusOr<CloudResourceRecord> Create(const manifest::Manifest& manifest,
                                             const std::string& actor);

  // Replaces the manifest if the stored version is `expected_version`;
  // ABORTED otherwise, NOT_FOUND if there is no such resource. An update to
  // an identical manifest changes nothing and returns the stored record.
  absl::StatusOr<CloudResourceRecord> Update(const manifest::Manifest& manifest,
                                             int64_t expected_version, const std::string& actor);

  // NOT_FOUND when missing. With parse_manifest false only manifest_text is
  // filled (the hot path of the API's Get converts the text itself).
  absl::StatusOr<CloudResourceRecord> Get(const ResourceSelector& selector, bool parse_manifest = true) const;

  // INVALID_ARGUMENT for a bad page token or size.
  absl::StatusOr<ListPage> List(const ListQuery& query) const;

  // Removes the record (never infrastructure). With expected_version > 0 the
  // stored version must match (ABORTED otherwise). Returns the deleted record.
  absl::StatusOr<CloudResourceRecord> Delete(const ResourceSelector& selector,
                                             int64_t expected_version, const std::string& actor);

  // Revisions of one resource, newest first; also for deleted resources when
  // selected by id.
  absl::StatusOr<RevisionPage> ListRevisions(const ResourceSelector& selector, int page_size,
                                             const std::string& page_token) const;

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_CLOUD_RESOURCE_STORE_H_
