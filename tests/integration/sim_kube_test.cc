// The simulated Kubernetes API server (tests/fakes/sim_kube.py) checked
// against Debian's kubectl: what kubectl accepts here, plinth's own client
// is tested against (so the simulator speaks the real protocol, not one of
// our own making).
#include "sim_kube.h"

#include <thread>

#include "daemon_process.h"
#include "shell.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace plinth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kShop[] = R"({"items": [
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
 {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
           "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
   "annotations": {"sim.plinth.dev/log.app": "starting\nlistening on :8080", "sim.plinth.dev/log.sidecar": "proxy up",
                   "sim.plinth.dev/log-every-ms": "100"}},
  "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "nginx:1.25"}, {"name": "sidecar", "image": "envoy"}]},
  "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 2},
                                                        {"name": "sidecar", "ready": true, "restartCount": 0}]}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "batch-1", "namespace": "jobs", "labels": {"app": "batch"}},
  "spec": {"containers": [{"name": "main", "image": "busybox"}]}, "status": {"phase": "Pending"}}
]})";

class SimKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kubectl_ = DebianKubectl();
    ASSERT_FALSE(kubectl_.empty()) << "Debian's kubectl (kubernetes-client) is missing: scripts/test unpacks it under "
                                      "the build dir (ensure_debian_kubectl in scripts/lib.sh)";
    ASSERT_TRUE(kube_.ok()) << kube_.Log();
  }
  CommandResult Kubectl(std::vector<std::string> args, const std::string& context = "token") {
    args.insert(args.begin(), {kubectl_, "--kubeconfig", kube_.kubeconfig(), "--context", context});
    return RunCommand(args);
  }

  TempDir dir_;
  SimKube kube_{dir_.path() + "/kube", kShop, {.tls = true}};
  std::string kubectl_;
};

TEST_F(SimKubeTest, KubectlGetListsAndShowsObjectsWithTokenOrCertificate) {
  CommandResult pods = Kubectl({"get", "pods", "-n", "shop"});
  ASSERT_EQ(pods.exit_code, 0) << pods.err << kube_.Log();
  EXPECT_THAT(pods.out, HasSubstr("READY"));
  EXPECT_THAT(pods.out, ::testing::ContainsRegex("web-1 +2/2 +Running +2"));
  EXPECT_THAT(pods.out, Not(HasSubstr("batch-1")));
  CommandResult all = Kubectl({"get", "pods", "-A", "-l", "app=batch"}, "cert");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("batch-1"));
  EXPECT_THAT(all.out, Not(HasSubstr("web-1")));
  CommandResult deploy = Kubectl({"get", "deploy", "web", "-n", "shop", "-o", "yaml"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.err;
  EXPECT_THAT(deploy.out, HasSubstr("kind: Deployment"));
  EXPECT_THAT(deploy.out, HasSubstr("resourceVersion:"));
  CommandResult missing = Kubectl({"get", "pod", "nope", "-n", "shop"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("pods \"nope\" not found"));
  CommandResult kinds = Kubectl({"api-resources", "--namespaced=true", "-o", "name"});
  ASSERT_EQ(kinds.exit_code, 0) << kinds.err;
  EXPECT_THAT(kinds.out, HasSubstr("deployments.apps"));
  EXPECT_THAT(kinds.out, HasSubstr("ingresses.networking.k8s.io"));
}

TEST_F(SimKubeTest, AWrongTokenIsUnauthorized) {
  std::string config = dir_.path() + "/bad-kubeconfig";
  Shell("sed 's/\"sim-token\"/\"not-the-token\"/' " + kube_.kubeconfig() + " > " + config);
  CommandResult r = RunCommand({kubectl_, "--kubeconfig", config, "get", "pods", "-n", "shop"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("Unauthorized"));
}

TEST_F(SimKubeTest, KubectlLogsOfAContainerAndAFollowThatEndsWithItsPod) {
  CommandResult app = Kubectl({"logs", "-n", "shop", "web-1", "-c", "app"});
  ASSERT_EQ(app.exit_code, 0) << app.err;
  EXPECT_EQ(app.out, "starting\nlistening on :8080\n");
  CommandResult tail = Kubectl({"logs", "-n", "shop", "web-1", "-c", "app", "--tail", "1"});
  EXPECT_EQ(tail.out, "listening on :8080\n");
  CommandResult which = Kubectl({"logs", "-n", "shop", "web-1"});
  EXPECT_NE(which.exit_code, 0);
  EXPECT_THAT(which.err, HasSubstr("a container name must be specified"));
  CommandResult followed;
  std::thread follow([&] { followed = Kubectl({"logs", "-f", "-n", "shop", "web-1", "-c", "sidecar"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  CommandResult deleted = Kubectl({"delete", "pod", "web-1", "-n", "shop", "--wait=false"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  follow.join();  // the stream ends with the pod (kubectl would hang otherwise)
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_THAT(followed.out, ::testing::StartsWith("proxy up\nsidecar line 1\n"));
  EXPECT_THAT(followed.out, HasSubstr("sidecar line 5\n"));
  EXPECT_NE(Kubectl({"get", "pod", "web-1", "-n", "shop"}).exit_code, 0);
}

// kubectl 1.20 speaks SPDY/3.1 for exec (WebSocket came in 1.29-1.30):
// output, stderr, stdin, the exit code, a TTY and a missing container.
TEST_F(SimKubeTest, KubectlExecRunsTheCommandWithItsExitCode) {
  CommandResult r = Kubectl({"exec", "-n", "shop", "web-1", "-c", "app", "--", "sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err << kube_.Log();
  EXPECT_EQ(r.out, "out\n");
  EXPECT_THAT(r.err, HasSubstr("err\n"));
  EXPECT_THAT(r.err, HasSubstr("command terminated with exit code 3"));
  CommandResult in = RunCommand({kubectl_, "--kubeconfig", kube_.kubeconfig(), "exec", "-i", "-n", "shop", "web-1",
                                 "-c", "app", "--", "sh", "-c", "read x; echo got $x; echo $POD_NAME"},
                                {}, "typed\n");
  EXPECT_EQ(in.exit_code, 0) << in.err;
  EXPECT_EQ(in.out, "got typed\nweb-1\n");
  // -it under a terminal (script gives kubectl one): a shell with a tty.
  CommandResult tty = RunCommand(
      {"/usr/bin/script", "-qec", kubectl_ + " --kubeconfig " + kube_.kubeconfig() + " exec -it -n shop web-1 -c app -- sh", "/dev/null"},
      {}, "test -t 0 && echo has-a-tty\nexit 4\n");
  EXPECT_EQ(tty.exit_code, 4) << tty.out << tty.err;
  EXPECT_THAT(tty.out, HasSubstr("has-a-tty"));
  CommandResult missing = Kubectl({"exec", "-n", "shop", "web-1", "-c", "nope", "--", "true"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("container nope is not valid for pod web-1"));
}

}  // namespace
}  // namespace plinth::testing
