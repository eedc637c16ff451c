// The store test suites run against both backends: each suite is
// parameterized by "sqlite" (a file in the test's temp dir) or "postgres"
// (a new database in the throw-away cluster of pg_cluster.h).
//
//   class MyStoreTest : public ::testing::TestWithParam<std::string> { ...
//     auto db = Database::Open({.path = FreshStore(GetParam(), dir_.path())}); ...
//   PLINTH_ON_BOTH_BACKENDS(MyStoreTest);
#ifndef PLINTH_TESTS_UNIT_STORE_BACKENDS_H_
#define PLINTH_TESTS_UNIT_STORE_BACKENDS_H_

#include <string>

#include "gtest/gtest.h"
#include "pg_cluster.h"

namespace plinth::store {

inline std::string FreshStore(const std::string& backend, const std::string& dir) {
  if (backend != "postgres") return dir + "/p.db";
  testing::PgCluster* pg = testing::PgCluster::Shared();
  // Without a cluster the test fails on Open, naming why (never a skip).
  return pg != nullptr ? pg->NewDatabase() : "postgres://plinth@127.0.0.1:1/no-cluster";
}

#define PLINTH_ON_BOTH_BACKENDS(Suite)                                                      \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::Values("sqlite", "postgres"), \
                           [](const ::testing::TestParamInfo<std::string>& i) { return i.param; })

}  // namespace plinth::store

#endif  // PLINTH_TESTS_UNIT_STORE_BACKENDS_H_
