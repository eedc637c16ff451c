// cloud_ops_bench: what Cloud Ops adds between a caller and the cluster.
//
//   build/bin/cloud_ops_bench [--calls 300] [--log-mb 64]
//
// Starts the SIMULATED Kubernetes API server (tests/fakes/sim_kube.py, over
// TLS with a bearer token), plinthd, and one plinth-runner holding the
// cluster's kubernetes connection, all on loopback. Then:
//
// 1. `get pod`: --calls GETs of one pod straight to the simulated API server
//    with plinth's Kubernetes client (kept connections, as the runner uses
//    it), and --calls CloudOpsService.GetObject of the same pod through
//    plinthd and the runner, in admin mode and in developer mode; prints
//    the medians and p99s and the added latency at the median (aim: under
//    5 ms).
// 2. Logs: a pod whose log is --log-mb MiB, streamed straight from the API
//    server and end to end through plinthd and the runner
//    (StreamLogs); prints MB/s of each (aim: at least 20 MB/s end to end).
//    The straight figure is the simulator's own ceiling.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "plinth/cloudops/kube_client.h"
#include "plinth/v1/cloud_ops.grpc.pb.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/connection.grpc.pb.h"
#include "plinth/v1/runner.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
namespace pb = plinth::v1;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(v.size() * p))];
}

// Child processes, stopped at the end.
struct Children {
  std::vector<pid_t> pids;
  ~Children() {
    for (pid_t p : pids) kill(p, SIGTERM);
    for (pid_t p : pids) waitpid(p, nullptr, 0);
  }
  pid_t Start(const std::vector<std::string>& argv, const std::string& log) {
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    pids.push_back(pid);
    return pid;
  }
};

std::string WaitFile(const std::string& path) {
  for (int i = 0; i < 600; ++i) {
    std::ifstream in(path);
    std::string line;
    if (std::getline(in, line) && !line.empty()) return line;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cloud_ops_bench: Cloud Ops latency and log throughput through plinthd and a runner"};
  int calls = 300;
  int log_mb = 64;
  app.add_option("--calls", calls, "get-pod calls per path");
  app.add_option("--log-mb", log_mb, "size of the streamed log, MiB");
  CLI11_PARSE(app, argc, argv);

  const std::string bin = fs::canonical("/proc/self/exe").parent_path().string();
  const std::string source = PLINTH_SOURCE_DIR;
  std::string dir_template = (fs::temp_directory_path() / "cloud-ops-bench-XXXXXX").string();
  const std::string dir = mkdtemp(dir_template.data());
  Children children;

  // The simulated cluster: the shop namespace and a pod with a big log.
  std::ifstream shop_in(source + "/tests/fakes/kube/shop.json");
  nlohmann::json objects = nlohmann::json::parse(shop_in);
  objects["items"].push_back({{"apiVersion", "v1"},
                              {"kind", "Pod"},
                              {"metadata",
                               {{"name", "bulk"},
                                {"namespace", "shop"},
                                {"annotations", {{"sim.plinth.dev/log-bytes", std::to_string(int64_t{log_mb} << 20)}}}}},
                              {"spec", {{"containers", {{{"name", "app"}, {"image", "bulk:1"}}}}}},
                              {"status", {{"phase", "Running"}}}});
  std::ofstream(dir + "/objects.json") << objects.dump();
  children.Start({"/usr/bin/python3", source + "/tests/fakes/sim_kube.py", "--state", dir + "/objects.json",
                  "--port-file", dir + "/kube.port", "--kubeconfig-out", dir + "/kubeconfig", "--token", "bench-token",
                  "--log", dir + "/sim-kube.log", "--tls"},
                 dir + "/sim-kube.out");
  if (WaitFile(dir + "/kube.port").empty() || WaitFile(dir + "/kubeconfig").empty()) {
    std::cerr << "the simulated API server did not start; see " << dir << "\n";
    return 1;
  }
  std::cout << "cluster: SIMULATED Kubernetes API server (tests/fakes/sim_kube.py), TLS + bearer token\n";

  children.Start({bin + "/plinthd", "--data-dir", dir + "/data", "--listen", "127.0.0.1:0", "--http-listen", "off",
                  "--ready-file", dir + "/ready", "--log-level", "warn"},
                 dir + "/plinthd.log");
  const std::string address = WaitFile(dir + "/ready");
  if (address.empty()) {
    std::cerr << "plinthd did not start; see " << dir << "/plinthd.log\n";
    return 1;
  }
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto connections = pb::ConnectionService::NewStub(channel);
  auto pools = pb::RunnerPoolService::NewStub(channel);
  auto resources = pb::CloudResourceService::NewStub(channel);
  auto ops = pb::CloudOpsService::NewStub(channel);
  {
    pb::CreateConnectionRequest c;
    c.set_org("bench");
    c.set_name("cluster");
    c.set_provider("kubernetes");
    c.set_runner_held(true);
    pb::Connection created;
    pb::SetDefaultConnectionRequest d;
    d.set_org("bench");
    d.set_provider("kubernetes");
    d.set_name("cluster");
    pb::SetDefaultConnectionResponse ok;
    pb::CreateRunnerPoolRequest pool;
    pool.set_name("edge");
    pb::RunnerPool p;
    pb::BindRunnerPoolRequest bind;
    bind.set_pool("edge");
    bind.set_org("bench");
    pb::RunnerPoolBinding b;
    pb::CreatePoolTokenRequest token;
    token.set_pool("edge");
    pb::CreatePoolTokenResponse secret;
    pb::ApplyCloudResourcesRequest apply;
    apply.set_org("bench");
    apply.set_env("prod");
    apply.add_sources()->set_content(
        "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesDeployment\nmetadata: {name: web}\nspec:\n"
        "  namespace: {value: shop}\n  version: main\n  container: {app: {image: {repo: nginx, tag: '1'}}}\n");
    pb::ApplyCloudResourcesResponse applied;
    grpc::Status s = connections->CreateConnection(Ctx().get(), c, &created);
    if (s.ok()) s = connections->SetDefaultConnection(Ctx().get(), d, &ok);
    if (s.ok()) s = pools->CreateRunnerPool(Ctx().get(), pool, &p);
    if (s.ok()) s = pools->BindRunnerPool(Ctx().get(), bind, &b);
    if (s.ok()) s = pools->CreatePoolToken(Ctx().get(), token, &secret);
    if (s.ok()) s = resources->ApplyCloudResources(Ctx().get(), apply, &applied);
    if (!s.ok()) {
      std::cerr << "setup: " << s.error_message() << "\n";
      return 1;
    }
    std::ofstream(dir + "/runner.token") << secret.secret() << "\n";
    std::ofstream(dir + "/runner.yaml") << "connections:\n  - name: bench/cluster\n    provider: kubernetes\n"
                                        << "    secrets: {kubeconfig: {file: " << dir << "/kubeconfig}}\n";
  }
  children.Start({bin + "/plinth-runner", "--server", address, "--token-file", dir + "/runner.token", "--name", "bench",
                  "--config", dir + "/runner.yaml", "--work-dir", dir + "/runner"},
                 dir + "/runner.log");
  for (int i = 0;; ++i) {
    pb::ListRunnersRequest req;
    pb::ListRunnersResponse resp;
    pools->ListRunners(Ctx().get(), req, &resp);
    if (resp.runners_size() > 0 && resp.runners(0).connected()) break;
    if (i > 200) {
      std::cerr << "the runner did not connect; see " << dir << "/runner.log\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  // 1. get pod.
  auto access = plinth::cloudops::LoadKubeconfigFile(dir + "/kubeconfig", "token");
  auto kube = plinth::cloudops::KubeClient::Create(*access);
  if (!access.ok() || !kube.ok()) {
    std::cerr << "client: " << (access.ok() ? kube.status() : access.status()) << "\n";
    return 1;
  }
  std::vector<double> direct, admin, developer;
  pb::GetObjectRequest admin_req;
  admin_req.mutable_target()->set_org("bench");
  admin_req.mutable_target()->set_connection("cluster");
  admin_req.mutable_target()->set_namespace_("shop");
  admin_req.set_type("pods");
  admin_req.set_name("web-7d4f9-a1");
  pb::GetObjectRequest dev_req = admin_req;
  dev_req.clear_target();
  dev_req.mutable_target()->set_resource("bench/prod/KubernetesDeployment/web");
  for (int warm = 0; warm < 10; ++warm) {
    pb::KubeObject o;
    ops->GetObject(Ctx().get(), admin_req, &o);
    ops->GetObject(Ctx().get(), dev_req, &o);
    (void)(*kube)->Call("GET", "/api/v1/namespaces/shop/pods/web-7d4f9-a1");
  }
  // Interleaved, so that the machine's moods fall on all three alike.
  for (int i = 0; i < calls; ++i) {
    auto t0 = Clock::now();
    auto pod = (*kube)->Call("GET", "/api/v1/namespaces/shop/pods/web-7d4f9-a1");
    direct.push_back(Ms(Clock::now() - t0));
    if (!pod.ok()) {
      std::cerr << "direct get: " << pod.status() << "\n";
      return 1;
    }
    for (auto* req : {&admin_req, &dev_req}) {
      pb::KubeObject o;
      auto c = Ctx();
      auto t1 = Clock::now();
      grpc::Status s = ops->GetObject(c.get(), *req, &o);
      (req == &admin_req ? admin : developer).push_back(Ms(Clock::now() - t1));
      if (!s.ok()) {
        std::cerr << "GetObject: " << s.error_message() << "\n";
        return 1;
      }
    }
  }
  std::printf("get pod, %d calls each (ms)       p50     p99\n", calls);
  std::printf("  straight to the API server    %6.2f  %6.2f\n", Pct(direct, 0.5), Pct(direct, 0.99));
  std::printf("  through plinthd, admin mode   %6.2f  %6.2f   added at p50: %.2f ms (aim < 5)\n", Pct(admin, 0.5),
              Pct(admin, 0.99), Pct(admin, 0.5) - Pct(direct, 0.5));
  std::printf("  through plinthd, developer    %6.2f  %6.2f   added at p50: %.2f ms (scope check: lists workloads and pods)\n",
              Pct(developer, 0.5), Pct(developer, 0.99), Pct(developer, 0.5) - Pct(direct, 0.5));

  // 2. Log throughput.
  size_t straight = 0;
  auto t0 = Clock::now();
  absl::Status streamed = (*kube)->Stream("/api/v1/namespaces/shop/pods/bulk/log",
                                          [&](absl::string_view d) {
                                            straight += d.size();
                                            return true;
                                          },
                                          nullptr);
  double straight_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!streamed.ok()) {
    std::cerr << "direct log: " << streamed << "\n";
    return 1;
  }
  pb::StreamLogsRequest logs;
  *logs.mutable_target() = admin_req.target();
  logs.add_pods("bulk");
  grpc::ClientContext lctx;
  size_t through = 0;
  auto t1 = Clock::now();
  auto reader = ops->StreamLogs(&lctx, logs);
  pb::LogChunk chunk;
  while (reader->Read(&chunk)) through += chunk.data().size();
  grpc::Status done = reader->Finish();
  double through_s = std::chrono::duration<double>(Clock::now() - t1).count();
  if (!done.ok()) {
    std::cerr << "StreamLogs: " << done.error_message() << "\n";
    return 1;
  }
  std::printf("log of %d MiB                     MB/s\n", log_mb);
  std::printf("  straight from the API server  %7.1f  (%zu bytes; the simulator's ceiling)\n",
              straight / 1e6 / straight_s, straight);
  std::printf("  end to end through plinthd    %7.1f  (%zu bytes; aim >= 20)\n", through / 1e6 / through_s, through);
  if (through != straight) {
    std::cerr << "the two streams differ in size\n";
    return 1;
  }
  std::error_code ec;
  if (!std::getenv("KEEP")) fs::remove_all(dir, ec);
  return 0;
}
