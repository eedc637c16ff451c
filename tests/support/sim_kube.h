// Starts tests/fakes/sim_kube.py (a SIMULATED Kubernetes API server) for a
// test, with the objects given, and kills it at the end. Its kubeconfig has
// the contexts `token` (bearer) and, with TLS, `cert` (client certificate).
//
//   SimKube kube(dir, R"({"items": [...]})", {.tls = true});
//   kube.kubeconfig();   // a path
//   DebianKubectl();     // Debian's kubectl, unpacked by scripts/test
#ifndef PLINTH_TESTS_SUPPORT_SIM_KUBE_H_
#define PLINTH_TESTS_SUPPORT_SIM_KUBE_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_paths.h"

namespace plinth::testing {

struct SimKubeOptions {
  bool tls = false;
  std::string token = "sim-token";
};

class SimKube {
 public:
  SimKube(const std::string& dir, const std::string& objects_json, const SimKubeOptions& opts = {}) {
    std::filesystem::create_directories(dir);
    const std::string state = dir + "/objects.json";
    std::ofstream(state) << objects_json;
    port_file_ = dir + "/sim-kube.port";
    kubeconfig_ = dir + "/kubeconfig";
    log_ = dir + "/sim-kube.log";
    std::vector<std::string> args = {"python3",       std::string(PLINTH_SOURCE_DIR) + "/tests/fakes/sim_kube.py",
                                     "--state",       state,
                                     "--port-file",   port_file_,
                                     "--kubeconfig-out", kubeconfig_,
                                     "--token",       opts.token,
                                     "--log",         log_};
    if (opts.tls) args.push_back("--tls");
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);  // its exec'd commands go with it
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 600 && !std::filesystem::exists(port_file_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    std::ifstream in(port_file_);
    in >> port_;
  }
  ~SimKube() {
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  SimKube(const SimKube&) = delete;
  SimKube& operator=(const SimKube&) = delete;

  // The objects of tests/fakes/kube/shop.json: namespace shop with the
  // Deployments web (two pods, a Service, an Ingress, a ConfigMap and a
  // Secret) and billing, and the StatefulSet db with its claim.
  static std::string ShopObjects() {
    std::ifstream in(std::string(PLINTH_SOURCE_DIR) + "/tests/fakes/kube/shop.json");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  bool ok() const { return port_ > 0; }
  int port() const { return port_; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string port_file_, kubeconfig_, log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Debian's kubectl (kubernetes-client): $PLINTH_DEBIAN_KUBECTL, else the
// copy scripts/test unpacks under the build dir; "" when neither is there.
inline std::string DebianKubectl() {
  if (const char* env = std::getenv("PLINTH_DEBIAN_KUBECTL"); env != nullptr && *env != '\0') return env;
  const std::string unpacked = std::string(PLINTH_BUILD_DIR) + "/tools/kubernetes-client/usr/bin/kubectl";
  return std::filesystem::exists(unpacked) ? unpacked : "";
}

}  // namespace plinth::testing

#endif  // PLINTH_TESTS_SUPPORT_SIM_KUBE_H_
