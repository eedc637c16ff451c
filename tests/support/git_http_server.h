// Starts tests/fakes/git_http_server.py (git's own http-backend behind
// basic auth, optionally holding requests) for a test; kills it at the end.
#ifndef PLINTH_TESTS_SUPPORT_GIT_HTTP_SERVER_H_
#define PLINTH_TESTS_SUPPORT_GIT_HTTP_SERVER_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test_paths.h"

namespace plinth::testing {

// tests/fakes/git_http_server.py: git's own http-backend behind basic auth.
class GitHttpServer {
 public:
  GitHttpServer(const std::string& root, const std::string& token, const std::string& hold_file) {
    port_file_ = root + "/git-http.port";
    std::vector<std::string> args = {"python3", std::string(PLINTH_SOURCE_DIR) + "/tests/fakes/git_http_server.py",
                                     root, port_file_};
    if (!token.empty()) args.insert(args.end(), {"--token", token});
    if (!hold_file.empty()) args.insert(args.end(), {"--hold-file", hold_file});
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(port_file_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::ifstream in(port_file_);
    in >> port_;
  }
  ~GitHttpServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::string Url(const std::string& repo) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + repo;
  }
  int port() const { return port_; }

 private:
  std::string port_file_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace plinth::testing

#endif  // PLINTH_TESTS_SUPPORT_GIT_HTTP_SERVER_H_
