#include "plinth/server/migrate_store.h"

#include <filesystem>
#include <iomanip>
#include <ostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "plinth/server/data_dir_lock.h"
#include "plinth/store/copy_store.h"
#include "plinth/store/database.h"
#include "plinth/store/postgres.h"

namespace plinth::server {

namespace fs = std::filesystem;

int MigrateStore(const std::string& from, const std::string& to, std::ostream& out, std::ostream& err) {
  if (!absl::StartsWith(from, "sqlite:")) {
    err << "plinthd migrate-store: --from must be sqlite:PATH (a data dir or its plinth.db)\n";
    return 1;
  }
  if (!store::IsPostgresUrl(to)) {
    err << "plinthd migrate-store: --to must be a PostgreSQL URL (postgres://user@host:port/db)\n";
    return 1;
  }
  fs::path path = from.substr(strlen("sqlite:"));
  fs::path data_dir = fs::is_directory(path) ? path : path.parent_path();
  if (fs::is_directory(path)) path /= "plinth.db";
  if (!fs::exists(path)) {
    err << "plinthd migrate-store: " << path.string() << ": no such file\n";
    return 1;
  }
  // No plinthd may write to the source while it is copied.
  auto lock = DataDirLock::Acquire(data_dir.string());
  if (!lock.ok()) {
    err << "plinthd migrate-store: " << lock.status().message() << " (stop plinthd first)\n";
    return 1;
  }
  auto source = store::Database::Open({.path = path.string(), .readers = 1});
  if (!source.ok()) {
    err << "plinthd migrate-store: " << path.string() << ": " << source.status().message() << "\n";
    return 1;
  }
  auto target = store::Database::Open({.path = to, .readers = 1});
  if (!target.ok()) {
    err << "plinthd migrate-store: " << target.status().message() << "\n";
    return 1;
  }
  out << "copying " << path.string() << " (schema " << (*source)->SchemaVersion() << ") into "
      << store::RedactedUrl(to) << "\n";
  auto report = store::CopyStore(**source, **target);
  if (!report.ok()) {
    err << "plinthd migrate-store: " << report.status().message() << "\n";
    return 1;
  }
  int64_t rows = 0;
  out << std::left << std::setw(28) << "table" << std::right << std::setw(10) << "rows" << "  checksum\n";
  for (const auto& t : report->tables) {
    out << std::left << std::setw(28) << t.name << std::right << std::setw(10) << t.rows << "  " << t.checksum
        << "\n";
    rows += t.rows;
  }
  out << report->tables.size() << " tables, " << rows
      << " rows copied; counts and checksums match the source.\n"
      << "Start every replica with --store " << store::RedactedUrl(to) << " and --secret-key-file "
      << (data_dir / "secret.key").string() << " (a copy of this data dir's key: it seals the secrets).\n";
  return 0;
}

}  // namespace plinth::server
