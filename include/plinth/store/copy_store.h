// Copies a whole store into another, empty one (plinthd migrate-store):
// every table, every row, in one transaction on the target, then checks
// each table's row count and checksum on both sides.
//
//   auto report = CopyStore(*sqlite_db, *postgres_db);
//   for (const auto& t : report->tables) ... t.name, t.rows, t.checksum
//
// The checksum of a table is the sum, modulo 2^64, of a SHA-256 prefix of
// each row's canonical text (NULL apart from ''), so it does not depend on
// row order or collation. Both stores must be at the same schema version;
// the target must hold nothing but what its migrations put there
// (FAILED_PRECONDITION otherwise, naming the table). Reads the source in
// chunks: memory stays bounded by the largest chunk, not the store.
#ifndef PLINTH_STORE_COPY_STORE_H_
#define PLINTH_STORE_COPY_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct CopyReport {
  struct Table {
    std::string name;
    int64_t rows = 0;
    std::string checksum;  // 16 hex digits
  };
  std::vector<Table> tables;  // in copy order (a table after those it refers to)
};

absl::StatusOr<CopyReport> CopyStore(Database& from, Database& to);

// The row counts and checksums of a store's tables, as CopyStore checks them.
absl::StatusOr<CopyReport> SummarizeStore(Database& db);

}  // namespace plinth::store

#endif  // PLINTH_STORE_COPY_STORE_H_
