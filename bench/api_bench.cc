// api_bench: load plinthd with concurrent gRPC clients doing Get, List and
// Apply, and compare with a trivial echo service in this process.
//
//   build/bin/api_bench [--clients 16] [--seconds 5] [--rounds 3] [--preload 1000] [--store postgres://...]
//
// It starts build/bin/plinthd on a free port with a temp data dir, preloads
// cloud resources, then runs each phase for --seconds with --clients
// closed-loop clients (one call at a time each), and prints requests/s and
// p50/p99 latency. "echo" is KindService.GetKind served by an in-process
// callback server that answers on the reactor thread: the cost of gRPC
// itself on this machine. Echo and Get run in alternating rounds, so that
// both see the same background load; each figure sums all rounds. Apply
// sends one changed manifest per call, so every Apply is a durable (fsynced)
// write.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/kind.grpc.pb.h"

namespace pb = plinth::v1;
using Clock = std::chrono::steady_clock;

namespace {

class EchoService final : public pb::KindService::CallbackService {
  grpc::ServerUnaryReactor* GetKind(grpc::CallbackServerContext* ctx, const pb::GetKindRequest* req,
                                    pb::Kind* resp) override {
    resp->set_kind(req->kind());
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

struct Result {
  std::string name;
  int clients = 0;
  long requests = 0;
  long errors = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0;
  std::vector<double> latencies;  // sorted, ms
  double rps() const { return requests / seconds; }
};

// Adds round `b` into `a`.
void Merge(Result& a, const Result& b) {
  if (a.name.empty()) {
    a = b;
    return;
  }
  a.requests += b.requests;
  a.errors += b.errors;
  a.seconds += b.seconds;
  a.latencies.insert(a.latencies.end(), b.latencies.begin(), b.latencies.end());
  std::sort(a.latencies.begin(), a.latencies.end());
  a.p50_ms = a.latencies[a.latencies.size() / 2];
  a.p99_ms = a.latencies[std::min(a.latencies.size() - 1, a.latencies.size() * 99 / 100)];
}

// Runs `call(client, i)` in `clients` threads for `seconds`; returns counts
// and latency percentiles.
Result Run(const std::string& name, int clients, double seconds,
           const std::function<bool(int, long)>& call) {
  std::vector<std::vector<double>> latencies(clients);
  std::vector<long> errors(clients, 0);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      long i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        auto t0 = Clock::now();
        bool ok = call(c, i++);
        auto t1 = Clock::now();
        if (!ok) errors[c]++;
        latencies[c].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  Result r;
  r.name = name;
  r.clients = clients;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (int c = 0; c < clients; ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    r.errors += errors[c];
  }
  r.requests = static_cast<long>(all.size()) - r.errors;
  std::sort(all.begin(), all.end());
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2];
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  r.latencies = std::move(all);
  return r;
}

std::string Vpc(const std::string& name, long n) {
  return "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata:\n  name: " + name +
         "\n  labels: {team: bench}\nspec:\n  region: us-east-1\n  cidrBlock: 10.0.0.0/16\n"
         "  secondaryIpv4CidrBlocks: [10.1.0.0/16, 10.2.0.0/16]\n  enableDnsHostnames: true\n"
         "  ipv6NetmaskLength: " + std::to_string(n % 100000) + "\n";
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& addr, int index) {
  grpc::ChannelArguments args;
  args.SetInt("bench.channel", index);  // distinct channels, distinct connections
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"api_bench: plinthd under concurrent Get, List and Apply"};
  int clients = 16;
  double seconds = 5;
  int preload = 1000;
  int rounds = 3;
  std::string plinthd = std::filesystem::path(argv[0]).parent_path() / "plinthd";
  app.add_option("--clients", clients, "concurrent clients");
  app.add_option("--seconds", seconds, "duration of each phase");
  app.add_option("--preload", preload, "cloud resources stored before the Get/List phases");
  app.add_option("--rounds", rounds, "alternating echo/get rounds");
  app.add_option("--plinthd", plinthd, "plinthd binary");
  std::string store;
  app.add_option("--store", store, "PostgreSQL URL of an empty database for plinthd (default: SQLite in a temp dir)");
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/plinth-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string ready = dir + "/ready";
  pid_t pid = fork();
  if (pid == 0) {
    int log = open((dir + "/plinthd.log").c_str(), O_WRONLY | O_CREAT, 0600);
    dup2(log, 2);
    std::string data = dir + "/data";
    std::vector<const char*> args = {plinthd.c_str(), "--data-dir", data.c_str(), "--listen", "127.0.0.1:0",
                                     "--http-listen", "off", "--ready-file", ready.c_str(), "--log-level", "warn"};
    if (!store.empty()) args.insert(args.end(), {"--store", store.c_str()});
    args.push_back(nullptr);
    execv(plinthd.c_str(), const_cast<char* const*>(args.data()));
    _exit(127);
  }
  std::string addr;
  for (int i = 0; i < 600 && addr.empty(); ++i) {
    std::ifstream in(ready);
    std::getline(in, addr);
    if (addr.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (addr.empty()) {
    std::cerr << "plinthd did not start; see " << dir << "/plinthd.log\n";
    kill(pid, SIGKILL);
    return 1;
  }

  EchoService echo;
  grpc::ServerBuilder builder;
  int echo_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &echo_port);
  builder.RegisterService(&echo);
  auto echo_server = builder.BuildAndStart();
  std::string echo_addr = "127.0.0.1:" + std::to_string(echo_port);

  int channels = std::max(1, std::min(clients, 4));
  std::vector<std::unique_ptr<pb::CloudResourceService::Stub>> stubs;
  std::vector<std::unique_ptr<pb::KindService::Stub>> echo_stubs;
  for (int i = 0; i < clients; ++i) {
    stubs.push_back(pb::CloudResourceService::NewStub(NewChannel(addr, i % channels)));
    echo_stubs.push_back(pb::KindService::NewStub(NewChannel(echo_addr, i % channels)));
  }
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return c;
  };

  // Preload in batches of 100.
  for (int start = 0; start < preload; start += 100) {
    pb::ApplyCloudResourcesRequest req;
    req.set_org("bench");
    req.set_env("load");
    std::string text;
    for (int i = start; i < std::min(preload, start + 100); ++i) {
      text += (i > start ? "---\n" : "") + Vpc("vpc-" + std::to_string(i), i);
    }
    req.add_sources()->set_content(text);
    pb::ApplyCloudResourcesResponse resp;
    grpc::Status s = stubs[0]->ApplyCloudResources(ctx().get(), req, &resp);
    if (!s.ok()) {
      std::cerr << "preload failed: " << s.error_message() << "\n";
      kill(pid, SIGKILL);
      return 1;
    }
  }

  std::vector<Result> results(2);
  std::vector<std::mt19937> rngs;
  for (int c = 0; c < clients; ++c) rngs.emplace_back(c);
  for (int round = 0; round < std::max(1, rounds); ++round) {
  Merge(results[0], Run("echo", clients, seconds, [&](int c, long) {
    pb::GetKindRequest req;
    req.set_kind("AwsVpc");
    pb::Kind resp;
    return echo_stubs[c]->GetKind(ctx().get(), req, &resp).ok();
  }));
  Merge(results[1], Run("get", clients, seconds, [&](int c, long) {
    pb::GetCloudResourceRequest req;
    auto* key = req.mutable_key();
    key->set_org("bench");
    key->set_env("load");
    key->set_kind("AwsVpc");
    key->set_name("vpc-" + std::to_string(rngs[c]() % std::max(1, preload)));
    pb::CloudResource resp;
    return stubs[c]->GetCloudResource(ctx().get(), req, &resp).ok();
  }));
  }
  results.push_back(Run("list(50)", clients, seconds, [&](int c, long) {
    pb::ListCloudResourcesRequest req;
    req.set_org("bench");
    req.set_env("load");
    req.set_page_size(50);
    pb::ListCloudResourcesResponse resp;
    return stubs[c]->ListCloudResources(ctx().get(), req, &resp).ok();
  }));
  results.push_back(Run("apply", clients, seconds, [&](int c, long i) {
    pb::ApplyCloudResourcesRequest req;
    req.set_org("bench");
    req.set_env("apply");
    // Each client owns one resource and changes it every call: a real write.
    req.add_sources()->set_content(Vpc("writer-" + std::to_string(c), i + 1));
    pb::ApplyCloudResourcesResponse resp;
    return stubs[c]->ApplyCloudResources(ctx().get(), req, &resp).ok();
  }));

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  echo_server->Shutdown();
  std::filesystem::remove_all(dir);

  std::printf("api_bench: %d clients, %.0f s a phase (echo and get: %d rounds each), %d preloaded resources, %u cores\n",
              clients, seconds, rounds, preload, std::thread::hardware_concurrency());
  std::printf("%-9s %8s %10s %7s %10s %9s %9s\n", "op", "clients", "requests", "errors", "req/s",
              "p50 ms", "p99 ms");
  for (const auto& r : results) {
    std::printf("%-9s %8d %10ld %7ld %10.0f %9.2f %9.2f\n", r.name.c_str(), r.clients, r.requests,
                r.errors, r.rps(), r.p50_ms, r.p99_ms);
  }
  std::printf("get/echo throughput ratio: %.2f\n", results[1].rps() / results[0].rps());
  std::printf("apply: %.0f durable writes/s (synchronous=FULL, group commit)\n", results[3].rps());
  long errors = 0;
  for (const auto& r : results) errors += r.errors;
  return errors == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
