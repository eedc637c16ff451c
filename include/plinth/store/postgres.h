// The PostgreSQL backend of sql.h, over libpq.
//
//   auto c = OpenPostgres("postgres://plinth@db.internal:5432/plinth", /*read_only=*/false);
//
// SQL keeps the stores' `?` / `?N` placeholders; they become $N here.
// Parameters go as text (int64 ones typed int8), results come back as text.
// A broken connection is re-established on its next use; what was in flight
// fails with UNAVAILABLE, never with a false success.
#ifndef PLINTH_STORE_POSTGRES_H_
#define PLINTH_STORE_POSTGRES_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "plinth/store/sql.h"

namespace plinth::store {

// postgres:// or postgresql:// (libpq's connection URI).
bool IsPostgresUrl(absl::string_view url);

// The URL without its password, for logs and messages.
std::string RedactedUrl(absl::string_view url);

absl::StatusOr<std::unique_ptr<Connection>> OpenPostgres(const std::string& url, bool read_only);

// SQLite-style placeholders as PostgreSQL's: "? ... ?3 ... ?" -> "$1 ... $3 ... $4"
// (a bare ? takes the largest number so far plus one), outside quotes and comments.
// `count`, when given, gets the highest number.
std::string NumberPlaceholders(absl::string_view sql, int* count = nullptr);

}  // namespace plinth::store

#endif  // PLINTH_STORE_POSTGRES_H_
