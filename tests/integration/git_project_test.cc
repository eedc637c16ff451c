// Git projects and webhooks end to end: a bare repository made by the test
// (git CLI) is the remote, the real plinthd with the simulated engine reads
// it, and GitHub / GitLab deliveries are posted to its HTTP side with
// signatures computed here.
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "plinth/core/secret_box.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/infra_pipeline.grpc.pb.h"
#include "plinth/v1/infra_project.grpc.pb.h"
#include "git_http_server.h"
#include "shell.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace fs = std::filesystem;
namespace pb = plinth::v1;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kSecret[] = "webhook s3cret";

constexpr char kNamespace[] = R"(apiVersion: kubernetes.planton.dev/v1
kind: KubernetesNamespace
metadata: {name: shop}
spec: {name: shop}
)";

std::string Postgres(int replicas) {
  return "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesPostgres\nmetadata: {name: shop-db}\nspec:\n"
         "  namespace: {valueFrom: {kind: KubernetesNamespace, name: shop, fieldPath: status.outputs.namespace}}\n"
         "  container: {replicas: " + std::to_string(replicas) + "}\n";
}

// OpenSSH's sshd on a free loopback port, trusting one client key, for ssh://
// repositories. available() is false where sshd is not installed.
class SshServer {
 public:
  explicit SshServer(const std::string& dir) : dir_(dir) {
    if (!fs::exists("/usr/sbin/sshd")) return;
    std::error_code ec;
    fs::create_directories("/run/sshd", ec);  // sshd's privilege separation directory
    Shell("ssh-keygen -q -t ed25519 -N '' -C host -f " + dir_ + "/host_key");
    Shell("ssh-keygen -q -t ed25519 -N '' -C client -f " + dir_ + "/client_key");
    Shell("ssh-keygen -q -t ed25519 -N '' -C stranger -f " + dir_ + "/stranger_key");
    fs::copy_file(dir_ + "/client_key.pub", dir_ + "/authorized_keys");
    fingerprint_ = Shell("ssh-keygen -l -E sha256 -f " + dir_ + "/host_key.pub | cut -d' ' -f2");
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    close(sock);
    std::ofstream(dir_ + "/sshd_config") << "Port " << port_ << "\nListenAddress 127.0.0.1\nHostKey " << dir_
                                         << "/host_key\nAuthorizedKeysFile " << dir_ << "/authorized_keys\nPidFile "
                                         << dir_ << "/sshd.pid\nStrictModes no\nUsePAM no\n"
                                         << "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                                         << "PermitRootLogin prohibit-password\n";
    pid_ = fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/sshd.log";
      freopen(log.c_str(), "w", stderr);
      execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", (dir_ + "/sshd_config").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 200 && !listening(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ~SshServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool available() const { return pid_ > 0 && listening(); }
  std::string Url(const std::string& path) const {
    return "ssh://" + std::string(getpwuid(getuid())->pw_name) + "@127.0.0.1:" + std::to_string(port_) + path;
  }
  const std::string& fingerprint() const { return fingerprint_; }
  std::string Log() const {
    std::ifstream in(dir_ + "/sshd.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  bool listening() const {
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    bool ok = connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(sock);
    return ok;
  }
  std::string dir_, fingerprint_;
  int port_ = 0;
  pid_t pid_ = -1;
};

bool Ended(const std::string& state) { return state == "succeeded" || state == "failed" || state == "cancelled"; }

class GitProjectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    remote_ = dir_.path() + "/infra.git";
    work_ = dir_.path() + "/work";
    url_ = "file://" + remote_;
    Shell("git init -q --bare -b main " + remote_);
    Shell("git init -q -b main " + work_);
    Write("infra/ns.yaml", kNamespace);
    Write("infra/db.yaml", Postgres(1));
    Write("README.md", "infrastructure\n");
    Git("remote add origin " + remote_);
    first_ = CommitAndPush("one");

    config_ = dir_.path() + "/plinthd.yaml";
    std::string sim = std::string(PLINTH_SOURCE_DIR) + "/examples/modules/sim";
    std::ofstream(config_) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}}\n"
                          << "modules: {default: {engine: tofu, source: " << sim << "}}\n"
                          << "jobs: {max_concurrent_jobs: 4}\n";
    ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
    Connect();
  }

  void Connect() {
    projects_ = pb::InfraProjectService::NewStub(daemon_.Channel());
    pipelines_ = pb::InfraPipelineService::NewStub(daemon_.Channel());
    resources_ = pb::CloudResourceService::NewStub(daemon_.Channel());
  }

  void Write(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(work_ + "/" + path).parent_path());
    std::ofstream(work_ + "/" + path) << content;
  }
  std::string Git(const std::string& args) {
    return Shell("git -C " + work_ + " -c user.name=t -c user.email=t@example.com " + args);
  }
  // Commits everything and pushes the current branch; returns the commit.
  std::string CommitAndPush(const std::string& message) {
    Git("add -A");
    Git("commit -q -m " + message);
    Git("push -q origin HEAD");
    return Git("rev-parse HEAD");
  }

  grpc::Status CreateGit(const std::string& name, pb::InfraProjectResponse* resp, const std::string& path = "infra",
                         const std::string& url = "", const std::string& branch = "main",
                         pb::ProjectSettings settings = {}) {
    pb::CreateInfraProjectRequest req;
    req.set_org("acme");
    req.set_env("dev");
    req.set_name(name);
    req.mutable_git()->set_url(url.empty() ? url_ : url);
    req.mutable_git()->set_branch(branch);
    req.mutable_git()->set_path(path);
    req.set_webhook_secret(kSecret);
    *req.mutable_settings() = settings;
    return projects_->CreateInfraProject(DaemonProcess::Context().get(), req, resp);
  }

  pb::InfraPipeline Get(const std::string& id) {
    pb::GetInfraPipelineRequest req;
    req.set_id(id);
    pb::InfraPipeline p;
    EXPECT_TRUE(pipelines_->GetInfraPipeline(DaemonProcess::Context().get(), req, &p).ok());
    return p;
  }

  pb::InfraPipeline Wait(const std::string& id) {
    pb::InfraPipeline p;
    for (int i = 0; i < 1200; ++i) {
      p = Get(id);
      if (Ended(p.state())) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "pipeline " << id << " never ended: " << p.DebugString();
    return p;
  }

  std::vector<pb::InfraPipeline> Pipelines(const std::string& project, const std::string& env = "dev") {
    pb::ListInfraPipelinesRequest req;
    req.set_org("acme");
    req.set_env(env);
    req.set_project_name(project);
    pb::ListInfraPipelinesResponse resp;
    grpc::Status s = pipelines_->ListInfraPipelines(DaemonProcess::Context().get(), req, &resp);
    if (!s.ok()) return {};
    return {resp.pipelines().begin(), resp.pipelines().end()};
  }

  // The pipeline of `project` for `commit`, once the webhook's background
  // work has started it, waited to its end.
  pb::InfraPipeline PipelineForCommit(const std::string& project, const std::string& commit,
                                      const std::string& env = "dev", const std::string& trigger = "") {
    for (int i = 0; i < 600; ++i) {
      for (const auto& p : Pipelines(project, env)) {
        if (p.commit() == commit && (trigger.empty() || p.trigger() == trigger)) return Wait(p.id());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "no pipeline of " << project << " for commit " << commit;
    return {};
  }

  pb::InfraProject Project(const std::string& name, const std::string& env = "dev") {
    pb::GetInfraProjectRequest req;
    req.mutable_project()->set_org("acme");
    req.mutable_project()->set_env(env);
    req.mutable_project()->set_name(name);
    pb::InfraProject p;
    EXPECT_TRUE(projects_->GetInfraProject(DaemonProcess::Context().get(), req, &p).ok()) << name;
    return p;
  }

  bool ProjectExists(const std::string& name, const std::string& env) {
    pb::GetInfraProjectRequest req;
    req.mutable_project()->set_org("acme");
    req.mutable_project()->set_env(env);
    req.mutable_project()->set_name(name);
    pb::InfraProject p;
    return projects_->GetInfraProject(DaemonProcess::Context().get(), req, &p).ok();
  }

  std::vector<pb::WebhookDelivery> Deliveries() {
    pb::ListWebhookDeliveriesRequest req;
    pb::ListWebhookDeliveriesResponse resp;
    EXPECT_TRUE(projects_->ListWebhookDeliveries(DaemonProcess::Context().get(), req, &resp).ok());
    return {resp.deliveries().begin(), resp.deliveries().end()};
  }

  // Waits until the delivery's background work recorded what it did.
  pb::WebhookDelivery DeliveryDone(const std::string& id) {
    for (int i = 0; i < 600; ++i) {
      for (const auto& d : Deliveries()) {
        if (d.delivery_id() == id && d.result() != "accepted; acting") return d;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "delivery " << id << " never finished";
    return {};
  }

  httplib::Result PostGitHub(const std::string& event, const std::string& delivery, const std::string& body,
                             const std::string& secret = kSecret) {
    httplib::Headers h = {{"X-GitHub-Event", event}, {"X-GitHub-Delivery", delivery}};
    if (!secret.empty()) h.emplace("X-Hub-Signature-256", "sha256=" + core::HmacSha256Hex(secret, body));
    return Http().Post("/webhooks/github", h, body, "application/json");
  }

  httplib::Result PostGitLab(const std::string& event, const std::string& uuid, const std::string& body,
                             const std::string& token = kSecret) {
    httplib::Headers h = {{"X-Gitlab-Event", event}, {"X-Gitlab-Event-UUID", uuid}};
    if (!token.empty()) h.emplace("X-Gitlab-Token", token);
    return Http().Post("/webhooks/gitlab", h, body, "application/json");
  }

  httplib::Client Http() {
    httplib::Client c("http://" + daemon_.http_address());
    c.set_read_timeout(30, 0);
    return c;
  }

  std::string GitHubPush(const std::string& commit, const std::string& branch = "main") {
    return json{{"ref", "refs/heads/" + branch},
                {"before", first_},
                {"after", commit},
                {"deleted", false},
                {"repository", {{"full_name", "acme/infra"}, {"clone_url", url_}, {"html_url", url_}}},
                {"pusher", {{"name", "alice"}}}}
        .dump();
  }

  std::string GitHubPullRequest(const std::string& action, int number, const std::string& head) {
    return json{{"action", action},
                {"number", number},
                {"pull_request",
                 {{"number", number},
                  {"state", action == "closed" ? "closed" : "open"},
                  {"head", {{"ref", "feature"}, {"sha", head}}},
                  {"base", {{"ref", "main"}, {"sha", first_}}}}},
                {"repository", {{"full_name", "acme/infra"}, {"clone_url", url_}}}}
        .dump();
  }

  int Replicas(const std::string& name, const std::string& env) {
    pb::GetCloudResourceRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env(env);
    key->set_kind("KubernetesPostgres");
    key->set_name(name);
    pb::CloudResource r;
    grpc::Status s = resources_->GetCloudResource(DaemonProcess::Context().get(), req, &r);
    if (!s.ok()) return -1;
    const auto& spec = r.manifest().fields().at("spec").struct_value();
    return static_cast<int>(spec.fields().at("container").struct_value().fields().at("replicas").number_value());
  }

  TempDir dir_;
  std::string config_, remote_, work_, url_, first_;
  DaemonProcess daemon_;
  std::unique_ptr<pb::InfraProjectService::Stub> projects_;
  std::unique_ptr<pb::InfraPipelineService::Stub> pipelines_;
  std::unique_ptr<pb::CloudResourceService::Stub> resources_;
};

TEST_F(GitProjectTest, CreateGitDeploysTheBranchHeadAndSyncDeploysACommit) {
  CommandResult created = daemon_.Cli({"project", "create-git", "net", "--org", "acme", "--env", "dev", "--repo", url_,
                                       "--branch", "main", "--path", "infra", "--wait"});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  EXPECT_THAT(created.out, HasSubstr("revision 1 at commit " + first_.substr(0, 12)));
  EXPECT_THAT(created.err, HasSubstr("webhook secret (shown once"));
  pb::InfraProject p = Project("net");
  EXPECT_EQ(p.chart_source(), "git");
  EXPECT_EQ(p.git().url(), url_);
  EXPECT_EQ(p.git().path(), "infra");
  ASSERT_EQ(p.resources_size(), 2);
  for (const auto& r : p.resources()) EXPECT_TRUE(r.deployed()) << r.name();
  EXPECT_EQ(p.last_pipeline().commit(), first_);

  // A new commit, deployed by hand: only the changed resource runs.
  Write("infra/db.yaml", Postgres(3));
  std::string second = CommitAndPush("two");
  CommandResult synced = daemon_.Cli({"project", "sync", "net", "--org", "acme", "--env", "dev", "--wait"});
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  EXPECT_THAT(synced.out, HasSubstr("revision 2 at commit " + second.substr(0, 12)));
  pb::InfraPipeline p2 = Get(Project("net").last_pipeline().id());
  EXPECT_EQ(p2.commit(), second);
  EXPECT_EQ(p2.trigger(), "sync");
  ASSERT_EQ(p2.nodes_size(), 1);
  EXPECT_EQ(p2.nodes(0).name(), "shop-db");
  EXPECT_EQ(Replicas("shop-db", "dev"), 3);

  // Back to the first commit by its id: a third revision at that commit.
  CommandResult back =
      daemon_.Cli({"project", "sync", "net", "--org", "acme", "--env", "dev", "--commit", first_, "--wait"});
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_EQ(Replicas("shop-db", "dev"), 1);
  CommandResult history = daemon_.Cli({"project", "history", "net", "--org", "acme", "--env", "dev"});
  ASSERT_EQ(history.exit_code, 0);
  EXPECT_THAT(history.out, HasSubstr("commit " + first_.substr(0, 12)));
  EXPECT_THAT(history.out, HasSubstr("commit " + second.substr(0, 12)));
  CommandResult list = daemon_.Cli({"pipeline", "list", "--project", "net", "--org", "acme", "--env", "dev"});
  EXPECT_THAT(list.out, HasSubstr(second.substr(0, 12)));

  // The same commit again: no new revision, a pipeline over the current one.
  CommandResult again = daemon_.Cli({"project", "sync", "net", "--org", "acme", "--env", "dev", "--commit", first_});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("revision 3"));
  EXPECT_THAT(again.out, HasSubstr("no new revision"));

  // Chart-style updates do not apply to a Git project.
  CommandResult update = daemon_.Cli({"project", "update", "net", "--org", "acme", "--env", "dev", "--set", "a=b"});
  EXPECT_NE(update.exit_code, 0);
  EXPECT_THAT(update.err, HasSubstr("takes its manifests from Git"));
}

TEST_F(GitProjectTest, AGitHubPushDeploysThatCommitOnceAndBadDeliveriesChangeNothing) {
  pb::InfraProjectResponse created;
  ASSERT_TRUE(CreateGit("net", &created).ok());
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");

  auto ping = PostGitHub("ping", "ping-1", json{{"zen", "Keep it simple."}, {"repository", {{"clone_url", url_}}}}.dump());
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->status, 200) << ping->body;

  Write("infra/db.yaml", Postgres(2));
  std::string commit = CommitAndPush("two");
  std::string body = GitHubPush(commit);

  // A wrong or missing signature: 401, nothing recorded, nothing run.
  auto wrong = PostGitHub("push", "d-1", body, "not the secret");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto unsigned_ = PostGitHub("push", "d-1", body, "");
  ASSERT_TRUE(unsigned_);
  EXPECT_EQ(unsigned_->status, 401);
  httplib::Headers tampered_headers = {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", "d-1"},
                                       {"X-Hub-Signature-256", "sha256=" + core::HmacSha256Hex(kSecret, body)}};
  auto tampered = Http().Post("/webhooks/github", tampered_headers, GitHubPush(first_), "application/json");
  ASSERT_TRUE(tampered);
  EXPECT_EQ(tampered->status, 401) << "the signature covers the body";
  EXPECT_EQ(Pipelines("net").size(), 1u);
  EXPECT_EQ(Project("net").revision(), 1);

  // Unknown repository: the same 401 as a wrong signature, so that nobody
  // can probe which repositories are tracked.
  std::string stranger = json{{"ref", "refs/heads/main"}, {"after", commit},
                              {"repository", {{"clone_url", "https://github.com/acme/unknown.git"}}}}
                             .dump();
  auto unknown = PostGitHub("push", "d-2", stranger);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
  EXPECT_EQ(unknown->body,
            "X-Hub-Signature-256: does not match the webhook secret of any project tracking "
            "https://github.com/acme/unknown.git\n");
  EXPECT_THAT(daemon_.Stderr(), HasSubstr("no Git project tracks https://github.com/acme/unknown.git"));

  // Over 5 MiB: 413.
  std::string huge = json{{"ref", "refs/heads/main"}, {"pad", std::string(6 << 20, 'x')}}.dump();
  auto too_large = PostGitHub("push", "d-3", huge);
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);

  // Missing headers and a body that is not JSON: 400.
  auto no_event = Http().Post("/webhooks/github", httplib::Headers{{"X-GitHub-Delivery", "d-4"}}, body, "application/json");
  ASSERT_TRUE(no_event);
  EXPECT_EQ(no_event->status, 400);
  auto not_json = PostGitHub("push", "d-5", "{not json");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  EXPECT_EQ(Pipelines("net").size(), 1u) << "nothing ran for any refused delivery";

  // The signed push: a revision at that commit and its pipeline.
  auto accepted = PostGitHub("push", "d-1", body);
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200) << accepted->body;
  pb::InfraPipeline p = PipelineForCommit("net", commit);
  EXPECT_EQ(p.state(), "succeeded") << p.DebugString();
  EXPECT_EQ(p.trigger(), "push");
  EXPECT_EQ(p.created_by(), "github-webhook");
  EXPECT_EQ(Replicas("shop-db", "dev"), 2);
  EXPECT_EQ(Project("net").revision(), 2);

  // The same delivery again: 200, ignored.
  auto repeated = PostGitHub("push", "d-1", body);
  ASSERT_TRUE(repeated);
  EXPECT_EQ(repeated->status, 200);
  EXPECT_THAT(repeated->body, HasSubstr("handled before"));
  pb::WebhookDelivery d = DeliveryDone("d-1");
  EXPECT_EQ(d.event(), "push");
  EXPECT_EQ(d.commit(), commit);
  ASSERT_EQ(d.pipeline_ids_size(), 1);
  EXPECT_EQ(d.pipeline_ids(0), p.id());
  EXPECT_EQ(Pipelines("net").size(), 2u);
  EXPECT_EQ(Project("net").revision(), 2);

  // A push to another branch is recorded and does nothing.
  Git("checkout -q -b other");
  Write("infra/db.yaml", Postgres(9));
  std::string other = CommitAndPush("other");
  auto elsewhere = PostGitHub("push", "d-6", GitHubPush(other, "other"));
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->status, 200);
  EXPECT_THAT(DeliveryDone("d-6").result(), HasSubstr("tracks main, not other"));
  EXPECT_EQ(Pipelines("net").size(), 2u);

  // Every result is counted.
  auto metrics = Http().Get("/metrics");
  ASSERT_TRUE(metrics);
  for (const char* result : {"accepted", "duplicate", "unauthorized", "too_large", "bad_request",
                             "ping"}) {
    EXPECT_THAT(metrics->body, HasSubstr(std::string("plinth_webhook_deliveries_total{provider=\"github\",result=\"") +
                                         result + "\"}"));
  }
}

TEST_F(GitProjectTest, AGitLabPushAndMergeRequestUseTheToken) {
  pb::InfraProjectResponse created;
  ASSERT_TRUE(CreateGit("net", &created).ok());
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");
  Write("infra/db.yaml", Postgres(4));
  std::string commit = CommitAndPush("two");
  std::string push = json{{"object_kind", "push"},
                          {"ref", "refs/heads/main"},
                          {"before", first_},
                          {"after", commit},
                          {"checkout_sha", commit},
                          {"project", {{"path_with_namespace", "acme/infra"}, {"git_http_url", url_}}},
                          {"repository", {{"name", "infra"}, {"git_http_url", url_}}}}
                         .dump();
  auto wrong = PostGitLab("Push Hook", "u-1", push, "wrong token");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto missing = PostGitLab("Push Hook", "u-1", push, "");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(Pipelines("net").size(), 1u);

  auto accepted = PostGitLab("Push Hook", "u-1", push);
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200) << accepted->body;
  EXPECT_EQ(PipelineForCommit("net", commit).state(), "succeeded");
  EXPECT_EQ(Replicas("shop-db", "dev"), 4);
  auto repeated = PostGitLab("Push Hook", "u-1", push);
  ASSERT_TRUE(repeated);
  EXPECT_EQ(repeated->status, 200);
  EXPECT_THAT(repeated->body, HasSubstr("handled before"));

  // A merge request: its head planned against what is deployed, as a
  // preview pipeline of the project; nothing changes, closing leaves nothing.
  Git("checkout -q -b feature");
  Write("infra/db.yaml", Postgres(5));
  Write("infra/cache.yaml",
        "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesRedis\nmetadata: {name: shop-cache}\nspec:\n"
        "  namespace: {valueFrom: {kind: KubernetesNamespace, name: shop, fieldPath: status.outputs.namespace}}\n"
        "  container: {replicas: 1, persistenceEnabled: false}\n");
  std::string head = CommitAndPush("feature");
  auto mr = [&](const std::string& action) {
    return json{{"object_kind", "merge_request"},
                {"project", {{"git_http_url", url_}}},
                {"object_attributes",
                 {{"iid", 12}, {"action", action}, {"source_branch", "feature"}, {"target_branch", "main"},
                  {"last_commit", {{"id", head}}}}}}
        .dump();
  };
  auto opened = PostGitLab("Merge Request Hook", "u-2", mr("open"));
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->status, 200) << opened->body;
  pb::InfraPipeline plan = PipelineForCommit("net", head);
  EXPECT_EQ(plan.state(), "succeeded") << plan.DebugString();
  EXPECT_TRUE(plan.preview_only());
  EXPECT_EQ(plan.trigger(), "pull_request");
  ASSERT_EQ(plan.nodes_size(), 1) << "only the changed resource is planned: " << plan.DebugString();
  EXPECT_EQ(plan.nodes(0).name(), "shop-db");
  EXPECT_EQ(plan.nodes(0).operation(), "preview");
  EXPECT_EQ(plan.nodes(0).summary().change(), 1) << "planned against the deployed database: " << plan.DebugString();
  EXPECT_THAT(plan.notes(), ::testing::Contains(HasSubstr("KubernetesRedis/shop-cache: new in commit")));
  EXPECT_THAT(plan.notes(), ::testing::Contains(HasSubstr("KubernetesNamespace/shop: unchanged")));
  EXPECT_EQ(Project("net").revision(), 2) << "a plan writes no revision";
  EXPECT_EQ(Replicas("shop-db", "dev"), 4) << "and applies nothing";
  EXPECT_FALSE(ProjectExists("net-pr-12", "dev-pr-12"));
  // A new title (no oldrev: no new commits) needs no new plan.
  auto retitled = PostGitLab("Merge Request Hook", "u-5", mr("update"));
  ASSERT_TRUE(retitled);
  EXPECT_THAT(DeliveryDone("u-5").result(), HasSubstr("needs nothing"));
  auto closed = PostGitLab("Merge Request Hook", "u-3", mr("merge"));
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->status, 200);
  EXPECT_THAT(DeliveryDone("u-3").result(), HasSubstr("nothing to remove"));

  // Merged: the push deploys it; the plan left the deployed digests alone,
  // so the unchanged namespace does not run.
  Git("checkout -q main");
  Git("merge -q --ff-only feature");
  Git("push -q origin main");
  std::string merged = Git("rev-parse HEAD");
  std::string merge_push = json{{"object_kind", "push"}, {"ref", "refs/heads/main"}, {"after", merged},
                                {"project", {{"git_http_url", url_}}}}
                               .dump();
  ASSERT_TRUE(PostGitLab("Push Hook", "u-4", merge_push));
  pb::InfraPipeline deployed = PipelineForCommit("net", merged, "dev", "push");
  EXPECT_EQ(deployed.state(), "succeeded");
  std::vector<std::string> ran;
  for (const auto& n : deployed.nodes()) ran.push_back(n.name());
  EXPECT_THAT(ran, UnorderedElementsAre("shop-db", "shop-cache"));
  EXPECT_EQ(Replicas("shop-db", "dev"), 5);
}

TEST_F(GitProjectTest, PullRequestDeploymentsGetAPreviewEnvUndeployedOnClose) {
  pb::ProjectSettings settings;
  settings.set_enable_pull_request_deployments(true);
  pb::InfraProjectResponse created;
  ASSERT_TRUE(CreateGit("net", &created, "infra", "", "main", settings).ok());
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");
  Git("checkout -q -b feature");
  Write("infra/db.yaml", Postgres(7));
  std::string head = CommitAndPush("feature");

  auto opened = PostGitHub("pull_request", "pr-1", GitHubPullRequest("opened", 3, head));
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->status, 200) << opened->body;
  pb::InfraPipeline deployed = PipelineForCommit("net-pr-3", head, "dev-pr-3");
  ASSERT_EQ(deployed.state(), "succeeded") << deployed.DebugString();
  EXPECT_FALSE(deployed.preview_only());
  EXPECT_EQ(Replicas("shop-db", "dev-pr-3"), 7) << "deployed in the preview env";
  EXPECT_EQ(Replicas("shop-db", "dev"), 1) << "the tracked env is untouched";
  pb::InfraProject preview = Project("net-pr-3", "dev-pr-3");
  EXPECT_EQ(preview.git().pull_request(), 3);
  EXPECT_EQ(preview.git().parent_project_id(), created.project().id());
  for (const auto& r : preview.resources()) {
    EXPECT_EQ(r.env(), "dev-pr-3");
    EXPECT_TRUE(r.deployed());
  }

  // The parent cannot be purged or deleted while its preview exists.
  CommandResult purge_parent = daemon_.Cli({"project", "purge", "net", "--org", "acme", "--env", "dev"});
  EXPECT_NE(purge_parent.exit_code, 0);
  EXPECT_THAT(purge_parent.err, HasSubstr("acme/dev-pr-3/net-pr-3"));
  CommandResult delete_parent =
      daemon_.Cli({"project", "delete", "net", "--org", "acme", "--env", "dev", "--orphan-resources"});
  EXPECT_NE(delete_parent.exit_code, 0);
  EXPECT_THAT(delete_parent.err, HasSubstr("pull-request previews"));

  // A new commit on the pull request updates the preview.
  Write("infra/db.yaml", Postgres(8));
  std::string head2 = CommitAndPush("feature2");
  auto sync = PostGitHub("pull_request", "pr-2", GitHubPullRequest("synchronize", 3, head2));
  ASSERT_TRUE(sync);
  EXPECT_EQ(PipelineForCommit("net-pr-3", head2, "dev-pr-3").state(), "succeeded");
  EXPECT_EQ(Replicas("shop-db", "dev-pr-3"), 8);

  // Closed: the preview env is destroyed and the preview project removed.
  auto closed = PostGitHub("pull_request", "pr-3", GitHubPullRequest("closed", 3, head2));
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->status, 200);
  pb::WebhookDelivery d = DeliveryDone("pr-3");
  ASSERT_EQ(d.pipeline_ids_size(), 1) << d.result();
  pb::InfraPipeline purge = Wait(d.pipeline_ids(0));
  EXPECT_EQ(purge.kind(), "undeploy");
  EXPECT_EQ(purge.state(), "succeeded");
  for (int i = 0; i < 200 && ProjectExists("net-pr-3", "dev-pr-3"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(ProjectExists("net-pr-3", "dev-pr-3"));
  EXPECT_EQ(Replicas("shop-db", "dev-pr-3"), -1);
  EXPECT_EQ(Replicas("shop-db", "dev"), 1);
}

TEST_F(GitProjectTest, ABadCommitFailsAtValidationNamingTheFileAndDeploysNothing) {
  pb::InfraProjectResponse created;
  ASSERT_TRUE(CreateGit("net", &created).ok());
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");
  // One good change and one malformed file in the same commit: neither deploys.
  Write("infra/db.yaml", Postgres(6));
  Write("infra/broken.yaml", "kind: KubernetesNamespace\nmetadata: {name: [unclosed\n");
  std::string bad = CommitAndPush("broken");

  auto pushed = PostGitHub("push", "bad-1", GitHubPush(bad));
  ASSERT_TRUE(pushed);
  EXPECT_EQ(pushed->status, 200);
  pb::InfraPipeline failed = PipelineForCommit("net", bad);
  EXPECT_EQ(failed.state(), "failed");
  EXPECT_THAT(failed.error(), HasSubstr("infra/broken.yaml"));
  EXPECT_EQ(failed.nodes_size(), 0);
  EXPECT_EQ(Project("net").revision(), 1) << "no revision from a commit that does not validate";
  EXPECT_EQ(Replicas("shop-db", "dev"), 1);

  CommandResult sync = daemon_.Cli({"project", "sync", "net", "--org", "acme", "--env", "dev"});
  EXPECT_NE(sync.exit_code, 0);
  EXPECT_THAT(sync.err, HasSubstr("infra/broken.yaml"));
  EXPECT_THAT(sync.err, HasSubstr("nothing deployed"));

  CommandResult missing = daemon_.Cli(
      {"project", "sync", "net", "--org", "acme", "--env", "dev", "--commit", std::string(40, 'e')});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("has no branch, tag or commit \"" + std::string(40, 'e') + "\""));
  CommandResult short_id = daemon_.Cli({"project", "sync", "net", "--org", "acme", "--env", "dev", "--commit", "abc"});
  EXPECT_NE(short_id.exit_code, 0);
  EXPECT_THAT(short_id.err, HasSubstr("not a full commit id"));
  EXPECT_EQ(Project("net").revision(), 1);
  EXPECT_EQ(Replicas("shop-db", "dev"), 1);

  // Fixed: the next push deploys.
  fs::remove(work_ + "/infra/broken.yaml");
  std::string fixed = CommitAndPush("fixed");
  ASSERT_TRUE(PostGitHub("push", "bad-2", GitHubPush(fixed)));
  EXPECT_EQ(PipelineForCommit("net", fixed).state(), "succeeded");
  EXPECT_EQ(Replicas("shop-db", "dev"), 6);
}

TEST_F(GitProjectTest, CreateGitRefusesBadSourcesAndCreatesNothing) {
  pb::InfraProjectResponse resp;
  grpc::Status unreachable = CreateGit("a", &resp, "infra", "file://" + dir_.path() + "/nothing-here.git");
  EXPECT_EQ(unreachable.error_code(), grpc::StatusCode::UNAVAILABLE) << unreachable.error_message();
  grpc::Status no_branch = CreateGit("b", &resp, "infra", "", "release");
  EXPECT_EQ(no_branch.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(no_branch.error_message(), HasSubstr("\"release\""));
  grpc::Status outside = CreateGit("c", &resp, "../../etc");
  EXPECT_EQ(outside.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outside.error_message(), HasSubstr("leaves the repository"));
  grpc::Status no_dir = CreateGit("d", &resp, "nowhere");
  EXPECT_EQ(no_dir.error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status empty = CreateGit("e", &resp, "");  // the root holds README.md only... and infra/
  EXPECT_TRUE(empty.ok()) << "the root reads infra/ too: " << empty.error_message();
  grpc::Status ssh = CreateGit("f", &resp, "infra", "ssh://git@127.0.0.1:1/acme/infra.git");
  EXPECT_EQ(ssh.error_code(), grpc::StatusCode::UNAVAILABLE) << "nothing listens on port 1";
  grpc::Status scheme = CreateGit("h", &resp, "infra", "ftp://example.com/infra.git");
  EXPECT_EQ(scheme.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  Write("infra/broken.yaml", "kind: [\n");
  CommitAndPush("broken");
  grpc::Status malformed = CreateGit("g", &resp);
  EXPECT_EQ(malformed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(malformed.error_message(), HasSubstr("infra/broken.yaml"));

  pb::ListInfraProjectsRequest req;
  pb::ListInfraProjectsResponse list;
  ASSERT_TRUE(projects_->ListInfraProjects(DaemonProcess::Context().get(), req, &list).ok());
  ASSERT_EQ(list.projects_size(), 1) << "only the one good source made a project";
  EXPECT_EQ(list.projects(0).name(), "e");
}

TEST_F(GitProjectTest, AKustomizeDirectoryDeploysOneSetPerOverlayEnvButLocal) {
  Write("svc/_kustomize/base/kustomization.yaml", "resources: [ns.yaml]\n");
  Write("svc/_kustomize/base/ns.yaml",
        "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata:\n  name: api\n  labels: {tier: "
        "base}\nspec: {name: api}\n");
  for (const std::string env : {"local", "staging", "prod"}) {
    Write("svc/_kustomize/overlays/" + env + "/kustomization.yaml", "resources: [../../base]\npatches: [ns.yaml]\n");
    Write("svc/_kustomize/overlays/" + env + "/ns.yaml",
          "kind: KubernetesNamespace\nmetadata:\n  name: api\n  env: " + env + "\n  labels: {tier: " + env + "}\n");
  }
  std::string commit = CommitAndPush("overlays");
  pb::InfraProjectResponse created;
  ASSERT_TRUE(CreateGit("svc", &created, "svc").ok());
  EXPECT_EQ(created.revision().commit(), commit);
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");
  std::vector<std::string> deployed;
  pb::InfraProject svc = Project("svc");
  for (const auto& r : svc.resources()) {
    if (r.deployed()) deployed.push_back(r.env() + "/" + r.kind() + "/" + r.name());
  }
  EXPECT_THAT(deployed, UnorderedElementsAre("staging/KubernetesNamespace/api", "prod/KubernetesNamespace/api"));
}

TEST_F(GitProjectTest, AGitConnectionsTokenReadsARepositoryOverHttpAndNeverShows) {
  const std::string token = "tok-Sup3r-s3cret";
  GitHttpServer server(dir_.path(), token, "");
  ASSERT_GT(server.port(), 0);
  CommandResult good = daemon_.Cli({"connection", "create", "acme/gh", "--provider", "git", "--secret", "token=-"}, token);
  ASSERT_EQ(good.exit_code, 0) << good.err;
  CommandResult bad =
      daemon_.Cli({"connection", "create", "acme/stale", "--provider", "git", "--secret", "token=-"}, "tok-WRONG-123");
  ASSERT_EQ(bad.exit_code, 0) << bad.err;

  pb::CreateInfraProjectRequest req;
  req.set_org("acme");
  req.set_env("dev");
  req.set_name("net");
  req.mutable_git()->set_url(server.Url("infra.git"));
  req.mutable_git()->set_path("infra");
  req.set_webhook_secret(kSecret);
  pb::InfraProjectResponse resp;
  grpc::Status anonymous = projects_->CreateInfraProject(DaemonProcess::Context().get(), req, &resp);
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAVAILABLE) << anonymous.error_message();
  req.mutable_git()->set_connection("stale");
  grpc::Status refused = projects_->CreateInfraProject(DaemonProcess::Context().get(), req, &resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_THAT(refused.error_message(), ::testing::Not(HasSubstr("tok-WRONG-123")));
  req.mutable_git()->set_connection("gh");
  grpc::Status created = projects_->CreateInfraProject(DaemonProcess::Context().get(), req, &resp);
  ASSERT_TRUE(created.ok()) << created.error_message();
  EXPECT_EQ(resp.revision().commit(), first_);
  EXPECT_EQ(Wait(resp.pipeline().id()).state(), "succeeded");
  EXPECT_EQ(Project("net").git().connection(), "gh");
  EXPECT_THAT(daemon_.Stderr(), ::testing::Not(HasSubstr(token)));

  // Without a connection named, the org's default git connection is used.
  CommandResult set_default = daemon_.Cli({"connection", "set-default", "acme/gh"});
  ASSERT_EQ(set_default.exit_code, 0) << set_default.err;
  pb::CreateInfraProjectRequest qa = req;
  qa.set_env("qa");
  qa.mutable_git()->clear_connection();
  pb::InfraProjectResponse qa_resp;
  grpc::Status by_default = projects_->CreateInfraProject(DaemonProcess::Context().get(), qa, &qa_resp);
  ASSERT_TRUE(by_default.ok()) << by_default.error_message();
  EXPECT_EQ(Wait(qa_resp.pipeline().id()).state(), "succeeded");

  // Pushes read through the same connection.
  Write("infra/db.yaml", Postgres(2));
  std::string commit = CommitAndPush("two");
  auto pushed = PostGitHub("push", "h-1", json{{"ref", "refs/heads/main"}, {"after", commit},
                                               {"repository", {{"clone_url", server.Url("infra.git")}}}}
                                              .dump());
  ASSERT_TRUE(pushed);
  ASSERT_EQ(pushed->status, 200) << pushed->body;
  EXPECT_EQ(PipelineForCommit("net", commit).state(), "succeeded");
}

TEST_F(GitProjectTest, ADeliveryAcknowledgedBeforeACrashIsActedOnAfterTheRestart) {
  const std::string hold = dir_.path() + "/hold";
  GitHttpServer server(dir_.path(), "", hold);
  ASSERT_GT(server.port(), 0);
  pb::InfraProjectResponse created;
  ASSERT_TRUE(CreateGit("net", &created, "infra", server.Url("infra.git")).ok());
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");
  Write("infra/db.yaml", Postgres(5));
  std::string commit = CommitAndPush("two");

  // The Git host stalls; the delivery is answered, then plinthd dies while
  // its fetch waits.
  std::ofstream(hold) << "";
  auto accepted = PostGitHub("push", "crash-1", json{{"ref", "refs/heads/main"}, {"after", commit},
                                                     {"repository", {{"clone_url", server.Url("infra.git")}}}}
                                                    .dump());
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->status, 200);
  for (int i = 0; i < 400 && !fs::exists(hold + ".held"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_TRUE(fs::exists(hold + ".held")) << "the fetch reached the Git host";
  daemon_.Kill();
  fs::remove(hold);

  ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
  Connect();
  pb::InfraPipeline p = PipelineForCommit("net", commit);
  EXPECT_EQ(p.state(), "succeeded") << p.DebugString();
  EXPECT_EQ(Replicas("shop-db", "dev"), 5);
  EXPECT_THAT(DeliveryDone("crash-1").result(), HasSubstr("revision 2"));
  auto repeated = PostGitHub("push", "crash-1", json{{"ref", "refs/heads/main"}, {"after", commit},
                                                     {"repository", {{"clone_url", server.Url("infra.git")}}}}
                                                    .dump());
  ASSERT_TRUE(repeated);
  EXPECT_THAT(repeated->body, HasSubstr("handled before"));
  EXPECT_EQ(Pipelines("net").size(), 2u);
}

TEST_F(GitProjectTest, ARotatedWebhookSecretRefusesTheOldOne) {
  pb::InfraProjectResponse created;
  ASSERT_TRUE(CreateGit("net", &created).ok());
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");
  std::string file = dir_.path() + "/new.secret";
  std::ofstream(file) << "the new secret\n";
  CommandResult rotated =
      daemon_.Cli({"project", "webhook-secret", "net", "--org", "acme", "--env", "dev", "--secret-file", file});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  Write("infra/db.yaml", Postgres(2));
  std::string commit = CommitAndPush("two");
  auto old = PostGitHub("push", "r-1", GitHubPush(commit));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->status, 401);
  auto fresh = PostGitHub("push", "r-1", GitHubPush(commit), "the new secret");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->status, 200) << fresh->body;
  EXPECT_EQ(PipelineForCommit("net", commit).state(), "succeeded");

  CommandResult random = daemon_.Cli({"project", "webhook-secret", "net", "--org", "acme", "--env", "dev"});
  ASSERT_EQ(random.exit_code, 0) << random.err;
  EXPECT_THAT(random.out, HasSubstr("new webhook secret (shown once"));
  auto stale = PostGitHub("push", "r-2", GitHubPush(commit), "the new secret");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 401);
}

TEST_F(GitProjectTest, AnSshRepositoryNeedsTheConnectionsKeyAndItsPinnedHostKey) {
  SshServer sshd(dir_.path());
  if (!sshd.available()) GTEST_SKIP() << "no sshd here (Debian's openssh-server; scripts/test installs it)";
  ASSERT_THAT(sshd.fingerprint(), ::testing::StartsWith("SHA256:"));
  auto connection = [&](const std::string& name, const std::string& key, const std::string& fingerprint) {
    std::vector<std::string> args = {"connection", "create", "acme/" + name, "--provider", "git",
                                     "--secret-file", "ssh_private_key=" + dir_.path() + "/" + key};
    if (!fingerprint.empty()) args.insert(args.end(), {"--field", "ssh_host_fingerprint=" + fingerprint});
    CommandResult r = daemon_.Cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  connection("unpinned", "client_key", "");
  connection("other-host", "client_key", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
  connection("stranger", "stranger_key", sshd.fingerprint());
  connection("good", "client_key", sshd.fingerprint());

  auto create = [&](const std::string& conn, pb::InfraProjectResponse* resp) {
    pb::CreateInfraProjectRequest req;
    req.set_org("acme");
    req.set_env("dev");
    req.set_name("net");
    req.mutable_git()->set_url(sshd.Url(remote_));
    req.mutable_git()->set_path("infra");
    req.mutable_git()->set_connection(conn);
    return projects_->CreateInfraProject(DaemonProcess::Context().get(), req, resp);
  };
  pb::InfraProjectResponse resp;
  grpc::Status unpinned = create("unpinned", &resp);
  EXPECT_EQ(unpinned.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << unpinned.error_message();
  EXPECT_THAT(unpinned.error_message(), HasSubstr("is not trusted: its host key is " + sshd.fingerprint()));
  grpc::Status other = create("other-host", &resp);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << other.error_message();
  EXPECT_THAT(other.error_message(), HasSubstr("refusing to connect"));
  grpc::Status stranger = create("stranger", &resp);
  EXPECT_EQ(stranger.error_code(), grpc::StatusCode::UNAVAILABLE) << stranger.error_message();
  EXPECT_THAT(stranger.error_message(), ::testing::Not(HasSubstr("PRIVATE KEY")));
  grpc::Status good = create("good", &resp);
  ASSERT_TRUE(good.ok()) << good.error_message() << "\n" << sshd.Log();
  EXPECT_EQ(resp.revision().commit(), first_);
  EXPECT_EQ(Wait(resp.pipeline().id()).state(), "succeeded");
}

TEST_F(GitProjectTest, APullRequestsPlanNeverGetsSensitiveOutputsInTheClear) {
  // The namespace's output is sensitive; the database plans with it.
  Write("infra/ns.yaml",
        "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata:\n  name: shop\n"
        "  annotations: {sim.plinth.dev/sensitive-output: namespace}\nspec: {name: shop}\n");
  CommitAndPush("sensitive");
  pb::InfraProjectResponse created;
  ASSERT_TRUE(CreateGit("net", &created).ok());
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");
  Git("checkout -q -b feature");
  Write("infra/db.yaml", "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesPostgres\nmetadata:\n"
                         "  name: shop-db\n  annotations: {sim.plinth.dev/print-spec: \"true\"}\nspec:\n"
                         "  namespace: {valueFrom: {kind: KubernetesNamespace, name: shop, fieldPath: "
                         "status.outputs.namespace}}\n  container: {replicas: 1}\n");
  std::string head = CommitAndPush("print");
  ASSERT_TRUE(PostGitHub("pull_request", "s-1", GitHubPullRequest("opened", 9, head)));
  pb::InfraPipeline plan = PipelineForCommit("net", head);
  ASSERT_EQ(plan.state(), "succeeded") << plan.DebugString();
  ASSERT_EQ(plan.nodes_size(), 1);
  CommandResult logs = daemon_.Cli({"job", "logs", plan.nodes(0).stack_job_id()});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("debug: spec is {\"container\":{\"replicas\":1},\"namespace\":\"(sensitive)\"}"));

  // A reviewed commit (the push of the merge) gets the value, and its log
  // shows it redacted.
  Git("checkout -q main");
  Git("merge -q --ff-only feature");
  Git("push -q origin main");
  ASSERT_TRUE(PostGitHub("push", "s-2", GitHubPush(head)));
  pb::InfraPipeline deployed = PipelineForCommit("net", head, "dev", "push");
  ASSERT_EQ(deployed.state(), "succeeded") << deployed.DebugString();
  ASSERT_EQ(deployed.nodes_size(), 1);
  CommandResult deploy_logs = daemon_.Cli({"job", "logs", deployed.nodes(0).stack_job_id()});
  EXPECT_THAT(deploy_logs.out, HasSubstr("\"namespace\":\"[REDACTED]\"")) << deploy_logs.out;
}

}  // namespace
}  // namespace plinth::testing
