#!/usr/bin/python3
"""grpc.health.v1, server reflection and auth, seen by an independent client.

Uses Debian's python3-grpcio with raw protobuf bytes (no generated code), so
nothing of plinth's own C++ is on the client side. Starts the real plinthd on
a free port with a temp data dir.

    health_reflection_test.py PATH/TO/plinthd
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import unittest

import grpc

PLINTHD = sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin/plinthd"
TOKEN = "py-test-token-0123456789"


def start_daemon(tmp, *extra):
    ready = os.path.join(tmp, "ready")
    log = open(os.path.join(tmp, "plinthd.log"), "w")
    proc = subprocess.Popen(
        [PLINTHD, "--data-dir", os.path.join(tmp, "data"), "--listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--ready-file", ready, *extra],
        stdout=log, stderr=log)
    for _ in range(600):
        if os.path.exists(ready):
            with open(ready) as f:
                lines = f.read().split("\n")
            # "host:port", then "http host:port" (written at once, by rename)
            if len(lines) >= 2 and lines[0] and lines[1].startswith("http "):
                return proc, lines[0], lines[1][5:]
        if proc.poll() is not None:
            raise RuntimeError("plinthd exited: " + open(log.name).read())
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("plinthd did not start")


def health_check(channel, service=""):
    # HealthCheckRequest{service} -> HealthCheckResponse{status}
    req = b"" if not service else b"\x0a" + bytes([len(service)]) + service.encode()
    call = channel.unary_unary("/grpc.health.v1.Health/Check")
    return call(req, timeout=10)


def list_services(channel, metadata=None):
    # ServerReflectionRequest{list_services: ""} is field 7 (string).
    call = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    responses = list(call(iter([b"\x3a\x00"]), timeout=10, metadata=metadata))
    return b"".join(responses)


class HealthAndReflectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tokens = os.path.join(cls.tmp.name, "tokens")
        with open(tokens, "w") as f:
            f.write(TOKEN + " python\n")
        cls.proc, cls.addr, cls.http = start_daemon(cls.tmp.name, "--auth-token-file", tokens)
        cls.channel = grpc.insecure_channel(cls.addr)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.proc.terminate()
        assert cls.proc.wait(timeout=30) == 0, "SIGTERM must exit 0"
        cls.tmp.cleanup()

    def test_health_serving_without_a_token(self):
        # status SERVING (1) is field 1, varint.
        self.assertEqual(health_check(self.channel), b"\x08\x01")

    def test_health_answers_for_each_service(self):
        for service in ["plinth.v1.CloudResourceService", "plinth.v1.KindService", "plinth.v1.InfraChartService",
                        "plinth.v1.StackJobService", "plinth.v1.ConnectionService", "plinth.v1.InfraProjectService",
                        "plinth.v1.InfraPipelineService", "plinth.v1.FlowControlService"]:
            self.assertEqual(health_check(self.channel, service), b"\x08\x01", service)  # SERVING
        with self.assertRaises(grpc.RpcError) as unknown:
            health_check(self.channel, "plinth.v1.NoSuchService")
        self.assertEqual(unknown.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_reflection_lists_the_services(self):
        names = list_services(self.channel, metadata=[("authorization", "Bearer " + TOKEN)])
        for service in (b"plinth.v1.CloudResourceService", b"plinth.v1.KindService",
                        b"grpc.health.v1.Health"):
            self.assertIn(service, names)

    def test_api_calls_need_the_token(self):
        list_kinds = self.channel.unary_unary("/plinth.v1.KindService/ListKinds")
        with self.assertRaises(grpc.RpcError) as err:
            list_kinds(b"", timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        reply = list_kinds(b"", timeout=10, metadata=[("authorization", "Bearer " + TOKEN)])
        self.assertIn(b"AwsVpc", reply)
        self.assertIn(b"aws.planton.dev/v1", reply)

    def test_garbage_request_bytes_are_refused_cleanly(self):
        get = self.channel.unary_unary("/plinth.v1.CloudResourceService/GetCloudResource")
        with self.assertRaises(grpc.RpcError) as err:
            get(b"\xff\xff\xff\xff", timeout=10, metadata=[("authorization", "Bearer " + TOKEN)])
        # gRPC itself rejects undecodable bytes (before plinth's handler runs).
        self.assertNotEqual(err.exception.code(), grpc.StatusCode.OK)
        # And the daemon is still healthy.
        self.assertEqual(health_check(self.channel), b"\x08\x01")


    def test_http_health_readiness_and_metrics(self):
        # No token needed: probes and scrapers are not API clients.
        with urllib.request.urlopen("http://%s/healthz" % self.http, timeout=10) as r:
            self.assertEqual(r.status, 200)
        with urllib.request.urlopen("http://%s/readyz" % self.http, timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertIn(b"ready", r.read())
        def scrape():
            with urllib.request.urlopen("http://%s/metrics" % self.http, timeout=10) as r:
                self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
                return r.read().decode()

        def count(text, code):
            m = re.search(r'plinth_grpc_requests_total\{method="ListKinds",code="%s"\} (\d+)' % code, text)
            return int(m.group(1)) if m else 0

        before = scrape()
        list_kinds = self.channel.unary_unary("/plinth.v1.KindService/ListKinds")
        list_kinds(b"", timeout=10, metadata=[("authorization", "Bearer " + TOKEN)])
        with self.assertRaises(grpc.RpcError):
            list_kinds(b"", timeout=10)
        text = scrape()
        self.assertEqual(count(text, "OK"), count(before, "OK") + 1)
        self.assertEqual(count(text, "UNAUTHENTICATED"), count(before, "UNAUTHENTICATED") + 1)
        self.assertIn('plinth_grpc_request_duration_seconds_bucket{method="ListKinds",le="+Inf"}', text)
        self.assertIn("plinth_stack_jobs_running 0", text)
        with self.assertRaises(urllib.error.HTTPError) as err:
            urllib.request.urlopen("http://%s/nope" % self.http, timeout=10)
        self.assertEqual(err.exception.code, 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)
