#!/usr/bin/python3
"""Webhooks seen from outside: signatures made by Python's hmac module (not
plinth's code), deliveries posted with urllib, the real plinthd (simulated
engine) and the plinth CLI, a bare repository made with the git CLI.

    webhook_test.py BIN_DIR SOURCE_DIR
"""
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BIN = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin")
SRC = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else ".")
SECRET = "py webhook secret \u00e9"


def sh(*args, cwd=None, stdin=None):
    r = subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{args}: {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout.strip()


def git(work, *args):
    return sh("git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", *args)


class WebhookTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        t = self.tmp.name
        self.repo = os.path.join(t, "infra.git")
        self.work = os.path.join(t, "work")
        sh("git", "init", "-q", "--bare", "-b", "main", self.repo)
        sh("git", "init", "-q", "-b", "main", self.work)
        with open(os.path.join(self.work, "ns.yaml"), "w") as f:
            f.write("apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\n"
                    "metadata: {name: shop, labels: {v: '1'}}\nspec: {name: shop}\n")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", "one")
        git(self.work, "push", "-q", self.repo, "main")
        config = os.path.join(t, "plinthd.yaml")
        with open(config, "w") as f:
            f.write(f"engines: {{tofu: {{binary: {BIN}/plinth-sim-tofu}}}}\n"
                    f"modules: {{default: {{engine: tofu, source: {SRC}/examples/modules/sim}}}}\n")
        ready = os.path.join(t, "ready")
        self.log = open(os.path.join(t, "plinthd.log"), "w")
        self.proc = subprocess.Popen(
            [f"{BIN}/plinthd", "--config", config, "--data-dir", os.path.join(t, "data"),
             "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--ready-file", ready],
            stdout=self.log, stderr=self.log)
        for _ in range(600):
            if os.path.exists(ready):
                lines = open(ready).read().split("\n")
                if len(lines) >= 2 and lines[1].startswith("http "):
                    self.grpc, self.http = lines[0], lines[1][5:]
                    break
            time.sleep(0.05)
        else:
            self.fail("plinthd did not start")
        secret_file = os.path.join(t, "secret")
        with open(secret_file, "w", encoding="utf-8") as f:
            f.write(SECRET + "\n")
        self.cli("project", "create-git", "net", "--org", "acme", "--env", "dev", "--repo", "file://" + self.repo,
                 "--webhook-secret-file", secret_file, "--wait")

    def tearDown(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
        self.tmp.cleanup()

    def cli(self, *args):
        return sh(f"{BIN}/plinth", "--server", self.grpc, *args)

    def post(self, provider, headers, body):
        req = urllib.request.Request(f"http://{self.http}/webhooks/{provider}", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def push_commit(self, label):
        with open(os.path.join(self.work, "ns.yaml"), "w") as f:
            f.write("apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\n"
                    f"metadata: {{name: shop, labels: {{v: '{label}'}}}}\nspec: {{name: shop}}\n")
        git(self.work, "commit", "-q", "-am", label)
        git(self.work, "push", "-q", self.repo, "main")
        return git(self.work, "rev-parse", "HEAD")

    def wait_for_pipeline(self, commit):
        for _ in range(400):
            out = self.cli("pipeline", "list", "--project", "net", "--org", "acme", "--env", "dev")
            for line in out.splitlines():
                if commit[:12] in line and ("succeeded" in line or "failed" in line):
                    return line
            time.sleep(0.05)
        self.fail(f"no finished pipeline for {commit}")

    def test_github_push_signed_by_python_hmac(self):
        commit = self.push_commit("2")
        body = json.dumps({"ref": "refs/heads/main", "after": commit,
                           "repository": {"clone_url": "file://" + self.repo + "/"}}).encode()
        good = "sha256=" + hmac.new(SECRET.encode("utf-8"), body, hashlib.sha256).hexdigest()
        other = body[:-1] + b', "forged": true}'
        status, text = self.post("github", {"X-GitHub-Event": "push", "X-GitHub-Delivery": "py-1",
                                            "X-Hub-Signature-256": good}, other)
        self.assertEqual(status, 401, "the signature of another body")
        status, text = self.post("github", {"X-GitHub-Event": "push", "X-GitHub-Delivery": "py-1",
                                            "X-Hub-Signature-256": good}, body)
        self.assertEqual(status, 200, text)
        self.assertIn("succeeded", self.wait_for_pipeline(commit))
        status, text = self.post("github", {"X-GitHub-Event": "push", "X-GitHub-Delivery": "py-1",
                                            "X-Hub-Signature-256": good}, body)
        self.assertEqual((status, "handled before" in text), (200, True))

    def test_gitlab_push_with_token(self):
        commit = self.push_commit("3")
        body = json.dumps({"object_kind": "push", "ref": "refs/heads/main", "after": commit,
                           "project": {"git_http_url": "file://" + self.repo}}).encode()
        status, _ = self.post("gitlab", {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "g-1",
                                         "X-Gitlab-Token": SECRET[:-1]}, body)
        self.assertEqual(status, 401)
        status, text = self.post("gitlab", {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "g-1",
                                            "X-Gitlab-Token": SECRET.encode("utf-8").decode("latin-1")}, body)
        self.assertEqual(status, 200, text)
        self.assertIn("succeeded", self.wait_for_pipeline(commit))
        deliveries = json.loads(self.cli("webhook", "deliveries", "-o", "json"))["deliveries"]
        self.assertEqual(deliveries[0]["provider"], "gitlab")
        self.assertEqual(deliveries[0]["commit"], commit)


if __name__ == "__main__":
    unittest.main()
