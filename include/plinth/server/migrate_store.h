// plinthd migrate-store --from sqlite:PATH --to postgres://...: copies a
// whole SQLite store (a data dir, or its plinth.db) into a new, empty
// PostgreSQL database, checks every table's row count and checksum, and
// prints them. plinthd must be stopped on that data dir (its lock is taken).
#ifndef PLINTH_SERVER_MIGRATE_STORE_H_
#define PLINTH_SERVER_MIGRATE_STORE_H_

#include <iosfwd>
#include <string>

namespace plinth::server {

// The process's exit code: 0 when copied and checked, 1 otherwise (the
// reason on `err`).
int MigrateStore(const std::string& from, const std::string& to, std::ostream& out, std::ostream& err);

}  // namespace plinth::server

#endif  // PLINTH_SERVER_MIGRATE_STORE_H_
