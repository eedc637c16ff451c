// The infra-chart repository: immutable (name, version) -> files.
//
//   InfraChartStore charts(db, clock);
//   auto pushed = charts.Push({.name = "vpc", .version = "1.0.0", .files = ...}, "alice");
//   auto newest = charts.Get("vpc", "");
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_INFRA_CHART_STORE_H_
#define PLINTH_STORE_INFRA_CHART_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plinth/chart/chart.h"
#include "plinth/core/clock.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct InfraChartRecord {
  std::string name;
  std::string version;
  std::string description;
  std::vector<chart::ChartFile> files;  // sorted by path
  absl::Time created_at;
  std::string created_by;
};

struct InfraChartPage {
  std::vector<InfraChartRecord> items;
  std::string next_page_token;
};

class InfraChartStore {
 public:
  InfraChartStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}

  // Stores a new version. Pushing the same files again returns the stored
  // record with *unchanged = true; other files under a stored version are
  // ALREADY_EXISTS (versions are immutable).
  absl::StatusOr<InfraChartRecord> Push(InfraChartRecord record, const std::string& actor, bool* unchanged);
  // `version` "" is the newest pushed. NOT_FOUND when missing.
  absl::StatusOr<InfraChartRecord> Get(const std::string& name, const std::string& version) const;
  // Without files. Ordered by name, then newest first.
  absl::StatusOr<InfraChartPage> List(const std::string& name, int page_size,
                                      const std::string& page_token) const;
  absl::Status Delete(const std::string& name, const std::string& version, const std::string& actor);

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_INFRA_CHART_STORE_H_
