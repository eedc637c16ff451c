// A plinth-runner process for integration tests, its output in a file.
#ifndef PLINTH_TESTS_INTEGRATION_RUNNER_PROCESS_H_
#define PLINTH_TESTS_INTEGRATION_RUNNER_PROCESS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test_paths.h"

namespace plinth::testing {

// A plinth-runner process, its output in a file.
class RunnerProcess {
 public:
  RunnerProcess(const std::string& dir, std::vector<std::string> args) : log_(dir + "/runner-" + std::to_string(++count_) + ".log") {
    std::vector<std::string> argv = {std::string(PLINTH_BIN_DIR) + "/plinth-runner"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::fopen(log_.c_str(), "w");
      if (out != nullptr) {
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
      }
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
  }
  ~RunnerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Waits up to `wait` for it to exit; its exit code, or -1 if it runs on.
  int WaitExit(std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    for (auto until = std::chrono::steady_clock::now() + wait; std::chrono::steady_clock::now() < until;) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  void Signal(int sig) { kill(pid_, sig); }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  static inline int count_ = 0;
  std::string log_;
  pid_t pid_ = -1;
};

}  // namespace plinth::testing

#endif  // PLINTH_TESTS_INTEGRATION_RUNNER_PROCESS_H_
