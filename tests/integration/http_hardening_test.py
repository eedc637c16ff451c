#!/usr/bin/python3
"""plinthd's HTTP side under hostile clients, over raw sockets (probe
findings D3 and D4): bodies over the limit however they are sent, slow
clients, many connections. The real plinthd on free ports.

    http_hardening_test.py BIN_DIR
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


_leftover = {}


def read_response(sock, timeout=10):
    """One response: (status, headers dict, body); (None, ...) if closed first.
    What arrives after it waits for the next call on the same socket."""
    sock.settimeout(timeout)
    data = _leftover.pop(sock.fileno(), b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, {}, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    _leftover[sock.fileno()] = rest[length:]
    return status, headers, rest[:length]


class HttpHardeningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        ready = os.path.join(cls.tmp.name, "ready")
        cls.log = open(os.path.join(cls.tmp.name, "plinthd.log"), "w")
        cls.proc = subprocess.Popen(
            [f"{BIN}/plinthd", "--data-dir", os.path.join(cls.tmp.name, "data"), "--listen", "127.0.0.1:0",
             "--http-listen", "127.0.0.1:0", "--ready-file", ready],
            stdout=cls.log, stderr=cls.log)
        for _ in range(600):
            if os.path.exists(ready):
                lines = open(ready).read().split("\n")
                if len(lines) >= 2 and lines[1].startswith("http "):
                    host, port = lines[1][5:].rsplit(":", 1)
                    cls.addr = (host, int(port))
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("plinthd did not start")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(30)
        cls.log.close()
        cls.tmp.cleanup()

    def connect(self):
        s = socket.create_connection(self.addr, timeout=10)
        _leftover.pop(s.fileno(), None)
        self.addCleanup(s.close)
        return s

    def get(self, path, timeout=5):
        s = self.connect()
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        return read_response(s, timeout)

    def test_chunked_body_is_limited_while_it_is_read(self):
        before = rss_kib(self.proc.pid)
        s = self.connect()
        s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                  b"X-GitHub-Event: push\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20))
        sent = 0
        try:
            for _ in range(200):  # 200 MiB offered
                s.sendall(chunk)
                sent += 1
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        status, headers, body = read_response(s)
        self.assertEqual(status, 413)
        self.assertIn(b"5 MiB", body)
        self.assertEqual(headers.get("connection"), "close")
        self.assertLess(sent, 100, "plinthd kept reading a chunked body past its limit")
        self.assertLess(rss_kib(self.proc.pid) - before, 30 * 1024, "RSS grew with the refused body")

    def test_declared_length_over_the_limit_is_refused_before_the_body(self):
        s = self.connect()
        s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: t\r\nContent-Length: 500000000\r\n\r\n")
        status, headers, body = read_response(s)  # without sending a byte of the body
        self.assertEqual(status, 413)
        self.assertEqual(headers.get("connection"), "close")

    def test_expect_continue_and_a_small_chunked_body_reach_the_handler(self):
        s = self.connect()
        s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
                  b"X-GitHub-Event: push\r\nX-GitHub-Delivery: d1\r\n\r\n")
        status, _, _ = read_response(s)
        self.assertEqual(status, 100)
        s.sendall(b"[]")
        status, _, body = read_response(s)
        self.assertEqual(status, 400)
        self.assertIn(b"not a JSON object", body)
        # Chunked, on the same kept-alive connection.
        s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                  b"X-GitHub-Event: push\r\nX-GitHub-Delivery: d2\r\n\r\n1\r\n[\r\n1\r\n]\r\n0\r\n\r\n")
        status, _, body = read_response(s)
        self.assertEqual(status, 400)
        self.assertIn(b"not a JSON object", body)

    def test_pipelined_requests_are_answered_in_order(self):
        s = self.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertEqual(read_response(s)[:1], (200,))
        self.assertEqual(read_response(s)[0], 404)
        status, headers, body = read_response(s)
        self.assertEqual((status, body), (200, b"ready\n"))
        self.assertEqual(headers.get("connection"), "close")

    def test_malformed_requests_get_400(self):
        for raw in [b"GARBAGE\r\n\r\n",
                    b"POST /webhooks/github HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                    b"POST /webhooks/github HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                    b"POST /webhooks/github HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]:
            s = self.connect()
            s.sendall(raw)
            self.assertEqual(read_response(s)[0], 400, raw)
        s = self.connect()
        s.sendall(b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"y" * (20 << 10) + b"\r\n\r\n")
        self.assertEqual(read_response(s)[0], 431)

    def test_health_answers_while_slow_clients_hold_connections(self):
        stop = threading.Event()
        slow = []
        for _ in range(40):  # the probe needed 8 to silence it
            c = socket.create_connection(self.addr, timeout=30)
            self.addCleanup(c.close)
            c.sendall(b"POST /webhooks/github HTTP/1.1\r\n")
            slow.append(c)

        def drip():
            while not stop.is_set():
                for c in slow:
                    try:
                        c.send(b"X")
                    except OSError:
                        pass
                stop.wait(1)

        t = threading.Thread(target=drip)
        t.start()
        self.addCleanup(lambda: (stop.set(), t.join()))
        time.sleep(2)
        for path, expected in [("/healthz", 200), ("/readyz", 200), ("/metrics", 200)]:
            status, _, _ = self.get(path, timeout=5)
            self.assertEqual(status, expected, path)
        # Headers that never end are cut off (10 s from their first byte)
        # with 408, and the connection is closed.
        slow[0].settimeout(20)
        status, _, body = read_response(slow[0], timeout=20)
        self.assertEqual(status, 408)
        self.assertIn(b"not received in time", body)

    def test_more_connections_than_the_limit_do_not_lock_health_out(self):
        held = []
        for _ in range(400):  # over the 256 plinthd keeps
            try:
                held.append(socket.create_connection(self.addr, timeout=5))
            except OSError:
                break
        self.addCleanup(lambda: [c.close() for c in held])
        time.sleep(0.5)
        status, _, body = self.get("/healthz", timeout=5)
        self.assertEqual((status, body), (200, b"ok\n"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
