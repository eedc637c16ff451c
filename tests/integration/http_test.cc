// plinthd's HTTP side: /healthz, /readyz and /metrics against the real
// daemon, read with an HTTP client (cpp-httplib).
#include <fstream>
#include <thread>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/stack_job.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;

httplib::Result HttpGet(const std::string& address, const std::string& path) {
  size_t colon = address.rfind(':');
  httplib::Client client(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  return client.Get(path.c_str());
}

TEST(HttpTest, HealthReadinessAndMetricsOfJobsAndCalls) {
  TempDir dir;
  std::string config = dir.path() + "/plinthd.yaml";
  std::ofstream(config) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}}\n"
                        << "modules: {default: {engine: tofu, source: " << PLINTH_SOURCE_DIR << "/examples/modules/sim}}\n";
  DaemonProcess d;
  ASSERT_TRUE(d.Start({"--config", config}).ok()) << d.Stderr();
  ASSERT_FALSE(d.http_address().empty());
  auto health = HttpGet(d.http_address(), "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = HttpGet(d.http_address(), "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready\n");

  auto resources = pb::CloudResourceService::NewStub(d.Channel());
  pb::ApplyCloudResourcesRequest apply;
  apply.add_sources()->set_content("apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: shop}\nspec: {name: shop}\n");
  apply.set_org("acme");
  apply.set_env("dev");
  pb::ApplyCloudResourcesResponse applied;
  ASSERT_TRUE(resources->ApplyCloudResources(DaemonProcess::Context().get(), apply, &applied).ok());
  pb::GetCloudResourceRequest missing;
  missing.set_id("cr-nope");
  pb::CloudResource r;
  EXPECT_FALSE(resources->GetCloudResource(DaemonProcess::Context().get(), missing, &r).ok());
  auto jobs = pb::StackJobService::NewStub(d.Channel());
  pb::CreateStackJobRequest create;
  create.set_resource_id(applied.results(0).resource().id());
  create.set_operation("update");
  pb::StackJob job;
  ASSERT_TRUE(jobs->CreateStackJob(DaemonProcess::Context().get(), create, &job).ok());
  for (int i = 0; i < 400 && job.state() != "succeeded" && job.state() != "failed"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    pb::GetStackJobRequest get;
    get.set_id(job.id());
    ASSERT_TRUE(jobs->GetStackJob(DaemonProcess::Context().get(), get, &job).ok());
  }
  ASSERT_EQ(job.state(), "succeeded") << job.error();

  // The job's end is stored first and counted just after (and the worker
  // leaves the running count after that): a scrape catches up at once.
  auto metrics = HttpGet(d.http_address(), "/metrics");
  for (int i = 0; i < 200 && metrics &&
                  (metrics->body.find("plinth_stack_jobs_finished_total{operation=\"update\"") == std::string::npos ||
                   metrics->body.find("plinth_stack_jobs_running 0\n") == std::string::npos);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    metrics = HttpGet(d.http_address(), "/metrics");
  }
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  const std::string& text = metrics->body;
  EXPECT_THAT(text, HasSubstr("# TYPE plinth_grpc_requests_total counter"));
  EXPECT_THAT(text, HasSubstr("plinth_grpc_requests_total{method=\"ApplyCloudResources\",code=\"OK\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plinth_grpc_requests_total{method=\"GetCloudResource\",code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plinth_grpc_request_duration_seconds_count{method=\"CreateStackJob\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plinth_stack_jobs_finished_total{operation=\"update\",state=\"succeeded\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plinth_stack_job_duration_seconds_count{operation=\"update\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plinth_stack_job_duration_seconds_bucket{operation=\"update\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plinth_stack_jobs{state=\"succeeded\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plinth_stack_jobs_running 0\n"));
  EXPECT_THAT(text, HasSubstr("plinth_stack_job_queue_depth 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE plinth_infra_pipelines gauge"));
  auto nope = HttpGet(d.http_address(), "/nope");
  ASSERT_TRUE(nope);
  EXPECT_EQ(nope->status, 404);
}

TEST(HttpTest, BadAddressInUseAndOff) {
  TempDir dir;
  CommandResult r = RunCommand({PlinthdPath(), "--data-dir", dir.path() + "/a", "--listen", "127.0.0.1:0",
                                "--http-listen", "nowhere"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("http_listen \"nowhere\": use host:port"));

  DaemonProcess first;
  ASSERT_TRUE(first.Start().ok()) << first.Stderr();
  r = RunCommand({PlinthdPath(), "--data-dir", dir.path() + "/b", "--listen", "127.0.0.1:0", "--http-listen",
                  first.http_address()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot listen for HTTP on " + first.http_address()));

  DaemonProcess off;
  ASSERT_TRUE(off.Start({"--http-listen", "off"}).ok()) << off.Stderr();
  EXPECT_TRUE(off.http_address().empty());
}

}  // namespace
}  // namespace plinth::testing
