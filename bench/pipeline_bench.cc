// pipeline_bench: plinth's pipeline scheduler against ninja on the same
// graph and the same commands, and plinthd under 500 concurrently running
// stack jobs.
//
//   build/bin/pipeline_bench [--nodes 1000] [--parallel 4] [--seed 20261126]
//                            [--concurrent 500] [--sleep 20] [--runners 2]
//
// With --runners N, part 1 deploys the graph twice: on plinthd itself (pool
// local) and through N plinth-runner processes on loopback (one pool bound
// to the org, --parallel slots spread over them), and prints the per-job
// cost a runner adds; part 2 runs its jobs over N runners (say 4).
//
// Part 1: a seeded random layered graph of --nodes resources (each depends on
// 1-3 nodes of earlier layers). plinthd deploys it as one pipeline with
// plinth-noop-engine (a SIMULATED engine whose every step ends at once); the
// same graph becomes a build.ninja whose edge per node runs the same engine
// commands as the node's stack job (init, plan, show, output) in a fresh
// copy of the module, with the same parallelism (ninja -j). Prints both wall
// times and the ratio (aim: plinth within 1.25x of ninja).
// Part 2: --concurrent independent resources whose simulated engine sleeps
// --sleep seconds in plan, all running at once (max_concurrent_jobs =
// --concurrent); meanwhile samples plinthd's RSS and GetInfraPipeline latency
// (aim: RSS < 250 MB, p99 < 20 ms). Through runners, plinthd is pinned to
// CPU 0 and the runners (with their 500 engines) to CPU 1: they stand in for
// runners on other machines, and 500 engine processes starting at once on
// plinthd's two cores measure the machine, not plinthd (--share-cpus does
// that anyway).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "plinth/v1/infra_pipeline.grpc.pb.h"
#include "plinth/v1/infra_project.grpc.pb.h"
#include "plinth/v1/runner.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
namespace pb = plinth::v1;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(v.size() * p))];
}

struct Daemon {
  pid_t pid = -1;
  std::string address;
  ~Daemon() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

// Keeps this process (and what it starts) on one CPU.
void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

// cpu >= 0: plinthd runs on that CPU only.
bool StartDaemon(const std::string& plinthd, const std::string& dir, const std::string& config, Daemon* d,
                 int cpu = -1) {
  std::string ready = dir + "/ready";
  d->pid = fork();
  if (d->pid == 0) {
    if (cpu >= 0) PinTo(cpu);
    int log = open((dir + "/plinthd.log").c_str(), O_WRONLY | O_CREAT, 0600);
    dup2(log, 2);
    execl(plinthd.c_str(), plinthd.c_str(), "--config", config.c_str(), "--data-dir", (dir + "/data").c_str(),
          "--listen", "127.0.0.1:0", "--http-listen", "off", "--ready-file", ready.c_str(), "--log-level", "warn",
          nullptr);
    _exit(127);
  }
  for (int i = 0; i < 600 && d->address.empty(); ++i) {
    std::ifstream in(ready);
    std::getline(in, d->address);
    if (d->address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (d->address.empty()) std::cerr << "plinthd did not start; see " << dir << "/plinthd.log\n";
  return !d->address.empty();
}

// plinth-runner processes serving a pool bound to org `bench`.
struct Runners {
  std::vector<pid_t> pids;
  ~Runners() {
    for (pid_t p : pids) kill(p, SIGTERM);
    for (pid_t p : pids) waitpid(p, nullptr, 0);
  }
};

bool StartRunners(const std::string& bin, const std::string& address, const std::string& dir, int count, int slots,
                  const std::string& engine, Runners* out, int cpu = -1) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto pools = pb::RunnerPoolService::NewStub(channel);
  pb::CreateRunnerPoolRequest create;
  create.set_name("bench");
  pb::RunnerPool pool;
  grpc::ClientContext c1;
  grpc::Status s = pools->CreateRunnerPool(&c1, create, &pool);
  pb::CreatePoolTokenRequest token_req;
  token_req.set_pool("bench");
  pb::CreatePoolTokenResponse token;
  grpc::ClientContext c2;
  if (s.ok()) s = pools->CreatePoolToken(&c2, token_req, &token);
  pb::BindRunnerPoolRequest bind;
  bind.set_pool("bench");
  bind.set_org("bench");
  pb::RunnerPoolBinding binding;
  grpc::ClientContext c3;
  if (s.ok()) s = pools->BindRunnerPool(&c3, bind, &binding);
  if (!s.ok()) {
    std::cerr << "runner pool: " << s.error_message() << "\n";
    return false;
  }
  std::string token_file = dir + "/runner.token";
  std::ofstream(token_file) << token.secret() << "\n";
  for (int i = 0; i < count; ++i) {
    std::string name = "bench-" + std::to_string(i);
    std::string max_jobs = std::to_string(std::max(1, (slots + count - 1) / count));
    pid_t pid = fork();
    if (pid == 0) {
      if (cpu >= 0) PinTo(cpu);
      int log = open((dir + "/" + name + ".log").c_str(), O_WRONLY | O_CREAT, 0600);
      dup2(log, 2);
      std::string runner = bin + "/plinth-runner", work = dir + "/" + name;
      execl(runner.c_str(), runner.c_str(), "--server", address.c_str(), "--token-file", token_file.c_str(), "--name",
            name.c_str(), "--max-jobs", max_jobs.c_str(), "--work-dir", work.c_str(), "--engine", engine.c_str(), nullptr);
      _exit(127);
    }
    out->pids.push_back(pid);
  }
  // Registered: listed as connected.
  for (int i = 0; i < 200; ++i) {
    pb::ListRunnersRequest list;
    pb::ListRunnersResponse runners;
    grpc::ClientContext c;
    int connected = 0;
    if (pools->ListRunners(&c, list, &runners).ok()) {
      for (const auto& r : runners.runners()) connected += r.connected();
    }
    if (connected == count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cerr << "the runners did not connect; see " << dir << "/bench-*.log\n";
  return false;
}

long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

void AddChart(pb::CreateInfraProjectRequest* req, const std::string& manifests) {
  auto add = [&](const std::string& path, const std::string& content) {
    auto* f = req->mutable_inline_()->add_files();
    f->set_path(path);
    f->set_content(content);
  };
  add("Chart.yaml", "apiVersion: infra-hub.planton.dev/v1\nkind: InfraChart\nmetadata: {name: bench, version: 1.0.0}\n");
  add("values.yaml", "params: []\n");
  // Raw: the manifests have no template syntax worth rendering.
  add("templates/all.yaml", "{% raw %}" + manifests + "{% endraw %}\n");
}

// Creates the project and waits for its pipeline; returns it.
bool Deploy(const std::string& address, const std::string& name, const std::string& manifests, pb::InfraPipeline* out,
            double* total_seconds, const std::function<void(const std::string&)>& meanwhile = {}) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto projects = pb::InfraProjectService::NewStub(channel);
  auto pipelines = pb::InfraPipelineService::NewStub(channel);
  pb::CreateInfraProjectRequest req;
  req.set_org("bench");
  req.set_env("dev");
  req.set_name(name);
  AddChart(&req, manifests);
  pb::InfraProjectResponse resp;
  auto t0 = Clock::now();
  grpc::ClientContext ctx;
  grpc::Status s = projects->CreateInfraProject(&ctx, req, &resp);
  if (!s.ok()) {
    std::cerr << "CreateInfraProject: " << s.error_message() << "\n";
    return false;
  }
  if (meanwhile) meanwhile(resp.pipeline().id());
  // Watched the way `plinth project ... --watch` does (a stream that sends
  // the pipeline when it changed), not polled in a tight loop: a client
  // fetching 1,000 nodes every 20 ms costs the daemon more than the
  // scheduling it is meant to observe.
  pb::WatchInfraPipelineRequest w;
  w.set_id(resp.pipeline().id());
  grpc::ClientContext c;
  auto reader = pipelines->WatchInfraPipeline(&c, w);
  bool ended = false;
  while (reader->Read(out)) {
    if (out->state() == "succeeded" || out->state() == "failed" || out->state() == "cancelled") {
      ended = true;
      break;
    }
  }
  if (!ended) {
    c.TryCancel();
    s = reader->Finish();
    std::cerr << "WatchInfraPipeline ended before the pipeline: " << s.error_message() << "\n";
    return false;
  }
  c.TryCancel();
  reader->Finish();
  *total_seconds = Since(t0);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pipeline_bench: plinth pipelines against ninja, and 500 concurrent jobs"};
  int nodes = 1000, parallel = 4, concurrent = 500;
  double sleep_seconds = 20;
  unsigned seed = 20261126;
  fs::path bin = fs::absolute(fs::path(argv[0]).parent_path());
  std::string plinthd = bin / "plinthd", noop = bin / "plinth-noop-engine", sim = bin / "plinth-sim-tofu";
  std::string sim_module = fs::absolute(bin / "../../examples/modules/sim").lexically_normal();
  bool skip_concurrent = false;
  int runners = 0;
  app.add_option("--runners", runners, "also through this many plinth-runner processes on loopback");
  app.add_option("--nodes", nodes, "resources in the random graph");
  app.add_option("--parallel", parallel, "jobs at once (max_concurrent_jobs and ninja -j)");
  app.add_option("--seed", seed, "graph seed");
  app.add_option("--concurrent", concurrent, "part 2: stack jobs running at once");
  app.add_option("--sleep", sleep_seconds, "part 2: seconds each simulated job sleeps");
  app.add_option("--sim-module", sim_module, "part 2: the simulated engine's module directory");
  app.add_flag("--skip-concurrent", skip_concurrent, "run part 1 only");
  bool share_cpus = false;
  app.add_flag("--share-cpus", share_cpus,
               "part 2 with --runners: let plinthd share both CPUs with the runners and their engines (by default "
               "plinthd runs on CPU 0 and the runners on CPU 1, standing in for runners on other machines)");
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/plinth-pipeline-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  fs::create_directories(dir + "/module");
  std::ofstream(dir + "/module/main.tf") << "# the no-op engine reads nothing\n";

  // ---- the graph: layers of random width, each node depends on 1-3 earlier nodes
  std::mt19937 rng(seed);
  std::vector<std::vector<int>> deps(nodes);
  std::vector<int> layer_start = {0};
  int layer_count = std::max(2, static_cast<int>(std::sqrt(nodes) / 1.5));
  for (int l = 1; l < layer_count; ++l) layer_start.push_back(nodes * l / layer_count);
  layer_start.push_back(nodes);
  int edges = 0;
  for (int l = 1; l < layer_count; ++l) {
    for (int i = layer_start[l]; i < layer_start[l + 1]; ++i) {
      int k = 1 + static_cast<int>(rng() % 3);
      for (int j = 0; j < k; ++j) {
        // Mostly the previous layer, sometimes any earlier one.
        int lo = rng() % 4 == 0 ? 0 : layer_start[l - 1];
        int d = lo + static_cast<int>(rng() % (layer_start[l] - lo));
        if (std::find(deps[i].begin(), deps[i].end(), d) == deps[i].end()) {
          deps[i].push_back(d);
          ++edges;
        }
      }
    }
  }
  std::ostringstream manifests;
  for (int i = 0; i < nodes; ++i) {
    manifests << "---\napiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nspec: {name: n" << i << "}\nmetadata:\n  name: n" << i << "\n";
    if (!deps[i].empty()) {
      manifests << "  relationships:\n";
      for (int d : deps[i]) manifests << "    - {kind: KubernetesNamespace, name: n" << d << ", type: depends_on}\n";
    }
  }
  std::printf("graph: %d nodes, %d edges, %d layers (seed %u); %d jobs at once\n", nodes, edges, layer_count, seed,
              parallel);

  // ---- plinth
  std::string config = dir + "/plinthd.yaml";
  std::ofstream(config) << "engines: {terraform: {binary: " << noop << "}}\n"
                        << "modules: {default: {engine: terraform, source: " << dir << "/module}}\n"
                        << "jobs: {max_concurrent_jobs: " << parallel << ", max_jobs_per_pipeline: " << parallel << "}\n";
  double plinth_pipeline = 0, plinth_total = 0, remote_pipeline = 0, remote_total = 0;
  for (int remote = 0; remote <= (runners > 0 ? 1 : 0); ++remote) {
    std::string run_dir = dir + (remote ? "/remote" : "/local");
    fs::create_directories(run_dir);
    Daemon d;
    if (!StartDaemon(plinthd, run_dir, config, &d)) return 1;
    Runners agents;
    if (remote && !StartRunners(bin.string(), d.address, run_dir, runners, parallel, "terraform=" + noop, &agents)) return 1;
    pb::InfraPipeline p;
    double* total = remote ? &remote_total : &plinth_total;
    if (!Deploy(d.address, "graph", manifests.str(), &p, total)) return 1;
    if (p.state() != "succeeded") {
      std::cerr << "the pipeline ended " << p.state() << ": " << p.error() << "\n";
      return 1;
    }
    using google::protobuf::util::TimeUtil;
    (remote ? remote_pipeline : plinth_pipeline) = TimeUtil::DurationToMicroseconds(p.end_time() - p.start_time()) / 1e6;
  }

  // ---- ninja: the same graph, the same engine commands per node
  std::string nd = dir + "/ninja";
  fs::create_directories(nd);
  {
    std::ofstream b(nd + "/build.ninja");
    b << "rule job\n  command = rm -rf ws/$name && mkdir -p ws/$name && cp -r " << dir
      << "/module/. ws/$name/ && cd ws/$name && " << noop << " init -input=false -no-color > init.log && " << noop
      << " plan -input=false -json -out=plinth.tfplan -detailed-exitcode > plan.log && " << noop
      << " show -json plinth.tfplan > show.log && " << noop << " output -json > output.json && touch ../../$out\n";
    for (int i = 0; i < nodes; ++i) {
      b << "build stamp/n" << i << ": job";
      for (int d : deps[i]) b << " stamp/n" << d;
      b << "\n  name = n" << i << "\n";
    }
  }
  fs::create_directories(nd + "/stamp");
  auto t0 = Clock::now();
  std::string cmd = "ninja -C " + nd + " -j " + std::to_string(parallel) + " > " + nd + "/ninja.log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "ninja failed; see " << nd << "/ninja.log\n";
    return 1;
  }
  double ninja = Since(t0);
  std::printf("plinth pipeline (start to end, as recorded): %.2f s\n", plinth_pipeline);
  std::printf("plinth total (CreateInfraProject call to observed end): %.2f s\n", plinth_total);
  std::printf("ninja -j %d: %.2f s\n", parallel, ninja);
  std::printf("ratio plinth/ninja: %.2fx pipeline, %.2fx total (aim <= 1.25x)\n", plinth_pipeline / ninja,
              plinth_total / ninja);
  if (runners > 0) {
    std::printf("through %d runners: pipeline %.2f s, total %.2f s, ratio to ninja %.2fx; a runner adds %.2f ms a job "
                "(aim < 5 ms)\n",
                runners, remote_pipeline, remote_total, remote_pipeline / ninja,
                (remote_pipeline - plinth_pipeline) * 1000.0 * parallel / nodes);
  }
  std::fflush(stdout);
  if (skip_concurrent) return 0;

  // ---- part 2: many jobs at once
  std::string dir2 = dir + "/concurrent";
  fs::create_directories(dir2);
  std::string config2 = dir2 + "/plinthd.yaml";
  std::ofstream(config2) << "engines: {tofu: {binary: " << sim << "}}\n"
                         << "modules: {default: {engine: tofu, source: " << sim_module << "}}\n"
                         << "jobs: {max_concurrent_jobs: " << concurrent << ", max_jobs_per_pipeline: " << concurrent
                         << "}\n";
  std::ostringstream many;
  for (int i = 0; i < concurrent; ++i) {
    many << "---\napiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nspec: {name: c" << i << "}\nmetadata:\n  name: c" << i
         << "\n  annotations: {\"sim.plinth.dev/sleep-seconds\": \"" << sleep_seconds << "\"}\n";
  }
  Daemon d2;
  const bool pin = runners > 0 && !share_cpus && std::thread::hardware_concurrency() >= 2;
  if (!StartDaemon(plinthd, dir2, config2, &d2, pin ? 0 : -1)) return 1;
  Runners agents2;
  if (runners > 0 &&
      !StartRunners(bin.string(), d2.address, dir2, runners, concurrent, "tofu=" + sim, &agents2, pin ? 1 : -1)) {
    return 1;
  }
  if (runners > 0) {
    std::printf("part 2 through %d runners%s\n", runners,
                pin ? " (plinthd on CPU 0; the runners and their engines on CPU 1)" : " (sharing every CPU)");
  }
  long rss_idle = RssKb(d2.pid);
  long rss_max = 0;
  int max_running = 0;
  std::vector<double> latencies;
  auto meanwhile = [&](const std::string& id) {
    auto channel = grpc::CreateChannel(d2.address, grpc::InsecureChannelCredentials());
    auto pipelines = pb::InfraPipelineService::NewStub(channel);
    auto until = Clock::now() + std::chrono::duration<double>(sleep_seconds * 0.9);
    while (Clock::now() < until) {
      pb::GetInfraPipelineRequest g;
      g.set_id(id);
      pb::InfraPipeline p;
      grpc::ClientContext c;
      auto t = Clock::now();
      grpc::Status s = pipelines->GetInfraPipeline(&c, g, &p);
      double ms = Since(t) * 1000;
      if (!s.ok()) continue;
      int running = 0;
      for (const auto& n : p.nodes()) running += n.state() == "running";
      max_running = std::max(max_running, running);
      // Only while the jobs run: that is the load being measured.
      if (running >= concurrent * 9 / 10) {
        latencies.push_back(ms);
        rss_max = std::max(rss_max, RssKb(d2.pid));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  pb::InfraPipeline p2;
  double total2 = 0;
  if (!Deploy(d2.address, "many", many.str(), &p2, &total2, meanwhile)) return 1;
  {
    auto channel = grpc::CreateChannel(d2.address, grpc::InsecureChannelCredentials());
    auto pipelines = pb::InfraPipelineService::NewStub(channel);
    std::vector<double> idle;
    for (int i = 0; i < 100; ++i) {
      pb::GetInfraPipelineRequest g;
      g.set_id(p2.id());
      pb::InfraPipeline p;
      grpc::ClientContext c;
      auto t = Clock::now();
      pipelines->GetInfraPipeline(&c, g, &p);
      idle.push_back(Since(t) * 1000);
    }
    std::printf("GetInfraPipeline (%d nodes) once they ended: p50 %.2f ms, p99 %.2f ms\n", p2.nodes_size(),
                Pct(idle, 0.5), Pct(idle, 0.99));
  }
  std::printf("concurrent: %d jobs (simulated engine sleeping %.0f s in plan), at most %d seen running at once; "
              "pipeline %s in %.1f s\n",
              concurrent, sleep_seconds, max_running, p2.state().c_str(), total2);
  std::printf("plinthd RSS: %.1f MB idle, %.1f MB max while they ran (aim < 250 MB)\n", rss_idle / 1024.0,
              rss_max / 1024.0);
  std::printf("GetInfraPipeline (%d nodes) meanwhile: %zu calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms (aim p99 < 20 ms)\n",
              p2.nodes_size(), latencies.size(), Pct(latencies, 0.5), Pct(latencies, 0.99), Pct(latencies, 1.0));
  return 0;
}
