// Runs a shell command for a test (fixture repositories with the git CLI):
// its output without the trailing newline; a non-zero exit fails the test.
#ifndef PLINTH_TESTS_SUPPORT_SHELL_H_
#define PLINTH_TESTS_SUPPORT_SHELL_H_

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace plinth::testing {

inline std::string Shell(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) out += buf;
  int rc = p != nullptr ? pclose(p) : -1;
  EXPECT_EQ(rc, 0) << command << "\n" << out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace plinth::testing

#endif  // PLINTH_TESTS_SUPPORT_SHELL_H_
