// The schema, as numbered migrations. Migration N is applied once, in order,
// inside one transaction with the row that records it. Never edit a landed
// migration: add a new one.
#ifndef PLINTH_STORE_MIGRATIONS_H_
#define PLINTH_STORE_MIGRATIONS_H_

#include <string>
#include <vector>

namespace plinth::store {

struct Migration {
  int version;
  std::string description;
  std::string sql;
};

// SQLite's, from 1.
const std::vector<Migration>& Migrations();
// PostgreSQL's: numbered as SQLite's; a new migration goes into both.
const std::vector<Migration>& PostgresMigrations();

}  // namespace plinth::store

#endif  // PLINTH_STORE_MIGRATIONS_H_
