// job_bench: plinth's own cost per stack job, beyond the engine's processes.
//
//   build/bin/job_bench [--jobs 200] [--concurrency 4] [--output-mb 200]
//
// Runs the real StackJobRunner (store, worker pool, workspace, runner,
// process supervision, event storage) in this process on a temp data dir,
// with plinth-noop-engine, a SIMULATED engine whose every step ends at once.
// Per-job overhead = the job's wall time minus the time its engine processes
// ran (which includes their fork/exec). Then one job prints --output-mb MB
// of output: capture throughput (read, split, redact, store).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "spdlog/spdlog.h"
#include "plinth/core/secret_box.h"
#include "plinth/engine/process.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/orchestrator/stack_job_runner.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/stack_job_store.h"

namespace {

using nlohmann::json;

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(v.size() * p))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"job_bench: per-job overhead and output capture throughput"};
  int jobs = 200, concurrency = 4, output_mb = 200;
  std::string engine = std::filesystem::absolute(std::filesystem::path(argv[0]).parent_path() / "plinth-noop-engine").string();
  app.add_option("--jobs", jobs, "update jobs to run");
  app.add_option("--concurrency", concurrency, "max_concurrent_jobs");
  app.add_option("--output-mb", output_mb, "MB printed by the capture job");
  app.add_option("--engine", engine, "the no-op engine binary");
  bool direct = false;
  app.add_flag("--direct", direct, "run engine steps directly, not under plinth-step as plinthd does");
  CLI11_PARSE(app, argc, argv);
  engine = std::filesystem::absolute(engine).string();
  spdlog::set_level(spdlog::level::warn);

  char tmpl[] = "/tmp/plinth-job-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto db = plinth::store::Database::Open({.path = dir + "/plinth.db", .readers = 4});
  auto catalog = plinth::manifest::KindCatalog::CreateWithBuiltins();
  auto box = plinth::core::SecretBox::FromKeyFile(dir + "/secret.key");
  if (!db.ok() || !catalog.ok() || !box.ok()) {
    std::fprintf(stderr, "setup failed\n");
    return 1;
  }
  plinth::store::CloudResourceStore resources(db->get(), plinth::core::SystemClock());
  plinth::store::StackJobStore job_store(db->get(), plinth::core::SystemClock());
  // As plinthd runs them: every step under plinth-step (next to this bench).
  std::string supervisor =
      direct ? "" : std::filesystem::absolute(std::filesystem::path(argv[0]).parent_path() / "plinth-step").string();
  plinth::engine::PosixProcessLauncher launcher(supervisor);
  std::printf("engine steps %s\n", direct ? "run directly" : "run under plinth-step");

  std::string text;
  for (int i = 0; i < jobs; ++i) {
    text += "---\napiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: ns-" + std::to_string(i) + "}\nspec: {name: ns-" + std::to_string(i) + "}\n";
  }
  text += "---\napiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: loud}\nspec: {name: loud}\n";
  auto manifests = plinth::manifest::ParseManifests({{"bench", text}}, {.org = "bench", .env = "dev"}, **catalog);
  auto applied = resources.Apply(*manifests, "bench", false);
  if (!applied.ok()) return 1;

  auto run_jobs = [&](int n, size_t max_log, size_t print_bytes) {
    // The no-op engine's "module": noop.json says how much to print.
    std::string mod = dir + "/module-" + std::to_string(print_bytes);
    std::filesystem::create_directories(mod);
    std::ofstream(mod + "/noop.json") << "{\"print_bytes\": " << print_bytes << ", \"line_bytes\": 100}\n";
    plinth::orchestrator::EngineSettings settings;
    settings.binaries = {{"terraform", engine}};
    settings.modules = {{"default", {"terraform", mod}}};
    settings.max_concurrent_jobs = concurrency;
    settings.max_log_bytes = max_log;
    settings.data_dir = dir;
    plinth::orchestrator::StackJobRunner runner(settings, &job_store, &resources, nullptr, catalog->get(), &launcher,
                                                box->get(), plinth::core::SystemClock());
    runner.Start();
    std::vector<std::string> ids;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const auto& r = (*applied)[n == 1 ? jobs : i].record;
      ids.push_back(runner.Submit(r.id, "update", json::object(), "bench")->id);
    }
    std::vector<plinth::store::StackJobRecord> done;
    for (const auto& id : ids) {
      for (;;) {
        auto j = job_store.Get(id);
        if (j.ok() && j->Terminal()) {
          done.push_back(*j);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::make_pair(wall, done);
  };

  // 1. Per-job overhead.
  auto [wall, done] = run_jobs(jobs, 64 << 20, 0);
  // Where the overhead goes: before the first step (workspace, variables,
  // state), between steps, and after the last one (outputs, state, the end).
  std::vector<double> overhead_ms, engine_ms, before_ms, between_ms, after_ms;
  int ok = 0;
  for (const auto& j : done) {
    if (j.state == plinth::store::JobState::kSucceeded) ++ok;
    double steps = 0, between = 0;
    absl::Time first = *j.ended_at, last = *j.started_at, prev_end = absl::InfinitePast();
    for (const auto& s : j.steps) {
      absl::Time a, b;
      std::string e;
      absl::ParseTime(absl::RFC3339_full, s.value("startTime", ""), &a, &e);
      absl::ParseTime(absl::RFC3339_full, s.value("endTime", ""), &b, &e);
      steps += Seconds(b - a);
      if (prev_end != absl::InfinitePast()) between += Seconds(a - prev_end);
      prev_end = b;
      first = std::min(first, a);
      last = std::max(last, b);
    }
    double total = Seconds(*j.ended_at - *j.started_at);
    overhead_ms.push_back((total - steps) * 1000);
    engine_ms.push_back(steps * 1000);
    before_ms.push_back(Seconds(first - *j.started_at) * 1000);
    between_ms.push_back(between * 1000);
    after_ms.push_back(Seconds(*j.ended_at - last) * 1000);
  }
  std::printf("job_bench: %d update jobs, max_concurrent_jobs %d, simulated no-op engine (4 processes a job)\n", jobs, concurrency);
  std::printf("  succeeded                  %d/%d\n", ok, jobs);
  std::printf("  throughput                 %.1f jobs/s (%.2f s wall)\n", jobs / wall, wall);
  std::printf("  engine processes a job     p50 %.2f ms   p99 %.2f ms\n", Pct(engine_ms, 0.5), Pct(engine_ms, 0.99));
  std::printf("  plinth overhead a job      p50 %.2f ms   p99 %.2f ms  (aim: under 5 ms)\n", Pct(overhead_ms, 0.5),
              Pct(overhead_ms, 0.99));
  std::printf("    before the first step      p50 %.2f ms   p99 %.2f ms\n", Pct(before_ms, 0.5), Pct(before_ms, 0.99));
  std::printf("    between steps (all)        p50 %.2f ms   p99 %.2f ms\n", Pct(between_ms, 0.5), Pct(between_ms, 0.99));
  std::printf("    after the last step        p50 %.2f ms   p99 %.2f ms\n", Pct(after_ms, 0.5), Pct(after_ms, 0.99));

  // 2. Capture throughput: one job printing output_mb MB in 100-byte lines,
  // every line stored (the log limit raised above the output).
  size_t bytes = static_cast<size_t>(output_mb) << 20;
  auto [cap_wall, cap_done] = run_jobs(1, bytes + (16 << 20), bytes);
  const auto& cj = cap_done[0];
  double job_s = Seconds(*cj.ended_at - *cj.started_at);
  std::printf(
      "  capture: %d MB in 100-byte lines, all stored: %.2f s -> %.0f MB/s (aim: 100 MB/s), job %s, %lld bytes "
      "stored\n",
      output_mb, job_s, output_mb / job_s, std::string(plinth::store::JobStateName(cj.state)).c_str(),
      static_cast<long long>(cj.log_bytes));
  std::filesystem::remove_all(dir);
  return ok == jobs ? 0 : 1;
}
