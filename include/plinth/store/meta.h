// Facts about the data dir itself (table plinth_meta), such as which secret
// key sealed it.
#ifndef PLINTH_STORE_META_H_
#define PLINTH_STORE_META_H_

#include <string>

#include "absl/status/statusor.h"
#include "plinth/store/database.h"

namespace plinth::store {

// The value stored under `name`, "" when none.
absl::StatusOr<std::string> ReadMeta(Database* db, const std::string& name);
absl::Status WriteMeta(Database* db, const std::string& name, const std::string& value);

}  // namespace plinth::store

#endif  // PLINTH_STORE_META_H_
