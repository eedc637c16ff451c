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

const std::vector<Migration>& Migrations();

}  // namespace plinth::store

#endif  // PLINTH_STORE_MIGRATIONS_H_
