// The SQLite backend of sql.h: a thin RAII layer over SQLite's C API.
#ifndef PLINTH_STORE_SQLITE_H_
#define PLINTH_STORE_SQLITE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "plinth/store/sql.h"

namespace plinth::store {

// Opens `path` read-write (creating it) or read-only.
absl::StatusOr<std::unique_ptr<Connection>> OpenSqlite(const std::string& path, bool read_only);

}  // namespace plinth::store

#endif  // PLINTH_STORE_SQLITE_H_
