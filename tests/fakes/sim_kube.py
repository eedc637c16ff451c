#!/usr/bin/env python3
"""plinth-sim-kube: a SIMULATED Kubernetes API server for tests and the demo.

There is no real cluster here. This serves the API paths plinth's Cloud Ops
and `kubectl get/logs/exec` use, with the wire formats of the real one:

  discovery      /version /api /api/v1 /apis /apis/G/V
  objects        list (labelSelector, fieldSelector metadata.name), get,
                 create (POST), replace (PUT, 409 on a stale
                 resourceVersion), merge patch, delete; Table output for
                 `kubectl get`; watch (?watch=1, newline-delimited events)
  pods/log       container, follow, tailLines, sinceSeconds, sinceTime,
                 timestamps, limitBytes; a followed log ends when its pod goes
  pods/exec      WebSocket with v5.channel.k8s.io / v4.channel.k8s.io
                 (channels 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize,
                 v5's 255 close); the command runs as a local process in the
                 pod's scratch dir (a pty with tty=true), so exit codes,
                 stdin and resizes are real
  auth           bearer tokens and client certificates (TLS, CA made at start)

    sim_kube.py --state objects.json --port-file F --kubeconfig-out KC
                [--token T ...] [--tls] [--users-out DIR]

objects.json is {"items": [object, ...]} (any kinds below). A pod's logs come
from annotations: sim.plinth.dev/log (the lines, '\\n'-separated, per
container with sim.plinth.dev/log.CONTAINER), sim.plinth.dev/log-bytes N (N
bytes of generated lines, for throughput), and sim.plinth.dev/log-every-ms N
(while followed, a new line every N ms). The kubeconfig written has one
context per user: `token` (bearer) and, with --tls, `cert` (client cert).
"""
import argparse
import base64
import copy
import datetime
import fcntl
import hashlib
import http.server
import json
import os
import pty
import select
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import urllib.parse

# (group, version, plural) -> (kind, namespaced, short names)
RESOURCES = {
    ("", "v1", "namespaces"): ("Namespace", False, ["ns"]),
    ("", "v1", "pods"): ("Pod", True, ["po"]),
    ("", "v1", "services"): ("Service", True, ["svc"]),
    ("", "v1", "configmaps"): ("ConfigMap", True, ["cm"]),
    ("", "v1", "secrets"): ("Secret", True, []),
    ("", "v1", "persistentvolumeclaims"): ("PersistentVolumeClaim", True, ["pvc"]),
    ("", "v1", "serviceaccounts"): ("ServiceAccount", True, ["sa"]),
    ("", "v1", "events"): ("Event", True, ["ev"]),
    ("apps", "v1", "deployments"): ("Deployment", True, ["deploy"]),
    ("apps", "v1", "statefulsets"): ("StatefulSet", True, ["sts"]),
    ("apps", "v1", "daemonsets"): ("DaemonSet", True, ["ds"]),
    ("apps", "v1", "replicasets"): ("ReplicaSet", True, ["rs"]),
    ("batch", "v1", "jobs"): ("Job", True, []),
    ("batch", "v1", "cronjobs"): ("CronJob", True, ["cj"]),
    ("networking.k8s.io", "v1", "ingresses"): ("Ingress", True, ["ing"]),
    ("gateway.networking.k8s.io", "v1", "httproutes"): ("HTTPRoute", True, []),
}
KIND_TO_RESOURCE = {v[0]: k for k, v in RESOURCES.items()}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def matches_selector(labels, selector):
    labels = labels or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class Store:
    def __init__(self):
        self.mu = threading.Condition()
        self.rv = 100
        self.objects = {}  # (group, plural, namespace, name) -> object
        self.events = []  # (rv, type, key, object)
        self.scratch = tempfile.mkdtemp(prefix="sim-kube-")

    def key_of(self, obj):
        kind = obj.get("kind", "")
        if kind not in KIND_TO_RESOURCE:
            raise ValueError("unknown kind %r" % kind)
        g, _, plural = KIND_TO_RESOURCE[kind]
        ns = obj.get("metadata", {}).get("namespace", "") if RESOURCES[KIND_TO_RESOURCE[kind]][1] else ""
        return (g, plural, ns, obj["metadata"]["name"])

    def put(self, obj, event_type):
        with self.mu:
            self.rv += 1
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(self.rv)
            meta.setdefault("uid", hashlib.sha1(("%s/%s/%s" % (obj.get("kind"), meta.get("namespace", ""),
                                                                 meta["name"])).encode()).hexdigest()[:8] +
                            "-sim-" + str(self.rv))
            meta.setdefault("creationTimestamp", now_rfc3339())
            key = self.key_of(obj)
            self.objects[key] = obj
            self.events.append((self.rv, event_type, key, copy.deepcopy(obj)))
            self.mu.notify_all()
            return obj

    def delete(self, key):
        with self.mu:
            obj = self.objects.pop(key, None)
            if obj is None:
                return None
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.events.append((self.rv, "DELETED", key, copy.deepcopy(obj)))
            self.mu.notify_all()
            return obj


def table_of(plural, items):
    now = datetime.datetime.now(datetime.timezone.utc)

    def age(o):
        ts = o.get("metadata", {}).get("creationTimestamp")
        if not ts:
            return "<unknown>"
        s = int((now - parse_time(ts)).total_seconds())
        return "%ds" % s if s < 120 else "%dm" % (s // 60) if s < 7200 else "%dh" % (s // 3600)

    cols = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    if plural == "pods":
        cols += [{"name": n, "type": "string", "format": "", "description": n, "priority": 0}
                 for n in ("Ready", "Status", "Restarts")]
    cols.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    rows = []
    for o in items:
        cells = [o["metadata"]["name"]]
        if plural == "pods":
            st = o.get("status", {})
            cs = st.get("containerStatuses", [])
            cells += ["%d/%d" % (sum(1 for c in cs if c.get("ready")), len(o.get("spec", {}).get("containers", []))),
                      st.get("phase", "Pending"), sum(c.get("restartCount", 0) for c in cs)]
        cells.append(age(o))
        rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                 "metadata": o["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": cols, "rows": rows}


def log_lines(pod, container):
    ann = pod.get("metadata", {}).get("annotations", {}) or {}
    text = ann.get("sim.plinth.dev/log." + container, ann.get("sim.plinth.dev/log", ""))
    lines = [l for l in text.split("\n") if l] if text else []
    n = int(ann.get("sim.plinth.dev/log-bytes", "0") or 0)
    if n:
        line = ("%s " % container) + "x" * 99 + "\n"
        lines = lines + [None] * (n // len(line))  # None: the generated line
    return lines


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        # As Go's net/http (the real API server) does: no Nagle, so a
        # response's head and body do not wait for the client's delayed ACK.
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


def make_tls(dirpath):
    def run(*a):
        subprocess.run(["openssl"] + list(a), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ca_key, ca_crt = os.path.join(dirpath, "ca.key"), os.path.join(dirpath, "ca.crt")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2",
        "-subj", "/CN=sim-kube-ca")
    ext = os.path.join(dirpath, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subj, extra in (("server", "/CN=127.0.0.1", ["-extfile", ext]), ("user", "/CN=alice/O=devs", [])):
        key, csr, crt = (os.path.join(dirpath, name + s) for s in (".key", ".csr", ".crt"))
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", subj)
        run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt, "-days", "2",
            *extra)
    return ca_crt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", default="")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--kubeconfig-out", required=True)
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--log", default="")
    args = ap.parse_args()
    tokens = set(args.token or ["sim-token"])
    store = Store()
    logf = open(args.log, "a") if args.log else sys.stderr

    def log(msg):
        logf.write("sim-kube: %s\n" % msg)
        logf.flush()

    if args.state:
        with open(args.state) as f:
            for obj in json.load(f).get("items", []):
                store.put(obj, "ADDED")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            log(fmt % a)

        # -- replies
        def reply(self, code, body, ctype="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def fail(self, code, reason, message):
            self.reply(code, status(code, reason, message))

        def start_chunked(self, ctype):
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def chunk(self, data):
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

        def end_chunked(self):
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def client_gone(self):
            """A streaming reply's client sends nothing more: readable means it closed."""
            try:
                r, _, _ = select.select([self.connection], [], [], 0)
                if not r:
                    return False
                self.connection.setblocking(False)
                try:
                    return self.connection.recv(1) == b""
                finally:
                    self.connection.setblocking(True)
            except (ssl.SSLWantReadError, BlockingIOError):
                return False
            except (OSError, ValueError):
                return True

        # -- auth
        def user(self):
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer ") and auth[7:].strip() in tokens:
                return "token-user"
            if auth:
                return None
            cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            return v
            return None

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def do_PUT(self):
            self.route("PUT")

        def do_PATCH(self):
            self.route("PATCH")

        def do_DELETE(self):
            self.route("DELETE")

        def body(self):
            n = int(self.headers.get("Content-Length", "0") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                return json.loads(raw or b"{}")
            except ValueError as e:
                raise BadRequest("the body is not JSON: %s" % e)

        def route(self, method):
            url = urllib.parse.urlsplit(self.path)
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
            self.query_all = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
            if self.user() is None:
                return self.fail(401, "Unauthorized", "Unauthorized")
            try:
                self.dispatch(method, parts, q)
            except BadRequest as e:
                self.fail(400, "BadRequest", str(e))
            except (BrokenPipeError, ConnectionResetError):
                pass

        def dispatch(self, method, parts, q):
            if parts == ["version"]:
                return self.reply(200, {"major": "1", "minor": "29", "gitVersion": "v1.29.0-sim", "platform": "linux/amd64"})
            if parts == ["api"]:
                return self.reply(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
            if parts == ["apis"]:
                groups = sorted({g for (g, _, _) in RESOURCES if g})
                return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                    {"name": g, "versions": [{"groupVersion": g + "/v1", "version": "v1"}],
                     "preferredVersion": {"groupVersion": g + "/v1", "version": "v1"}} for g in groups]})
            if parts[:1] == ["api"] and len(parts) >= 2:
                group, version, rest = "", parts[1], parts[2:]
            elif parts[:1] == ["apis"] and len(parts) >= 3:
                group, version, rest = parts[1], parts[2], parts[3:]
            else:
                return self.fail(404, "NotFound", "the server could not find the requested resource")
            if version != "v1" or not any(g == group for (g, _, _) in RESOURCES):
                return self.fail(404, "NotFound", "the server could not find the requested resource")
            if not rest:
                res = []
                for (g, v, plural), (kind, namespaced, short) in RESOURCES.items():
                    if g == group:
                        res.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                                    "kind": kind, "verbs": VERBS, "shortNames": short})
                        if plural == "pods":
                            res += [{"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
                                    {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions",
                                     "verbs": ["create", "get"]}]
                return self.reply(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                        "groupVersion": (group + "/" if group else "") + version, "resources": res})
            ns = ""
            if rest[0] == "namespaces" and len(rest) >= 3:
                ns, rest = rest[1], rest[2:]
            plural = rest[0]
            if (group, version, plural) not in RESOURCES:
                return self.fail(404, "NotFound", "the server could not find the requested resource")
            kind, namespaced, _ = RESOURCES[(group, version, plural)]
            if plural == "namespaces" and ns == "" and len(rest) >= 2:
                pass
            name = rest[1] if len(rest) >= 2 else ""
            sub = rest[2] if len(rest) >= 3 else ""
            gv = (group + "/" if group else "") + version
            if sub == "log" and plural == "pods" and method == "GET":
                return self.logs(ns, name, q)
            if sub == "exec" and plural == "pods":
                return self.exec(ns, name)
            if sub:
                return self.fail(404, "NotFound", "the server could not find the requested resource")
            if not name:
                if method == "GET":
                    return self.watch(group, plural, ns, q) if q.get("watch") in ("1", "true") else self.list(group, version, plural, kind, ns, q)
                if method == "POST":
                    obj = self.body()
                    obj.setdefault("apiVersion", gv)
                    obj.setdefault("kind", kind)
                    if namespaced:
                        obj.setdefault("metadata", {})["namespace"] = ns
                    if not obj.get("metadata", {}).get("name"):
                        return self.fail(422, "Invalid", "%s: metadata.name: Required value" % kind)
                    if store.key_of(obj) in store.objects:
                        return self.fail(409, "AlreadyExists", '%s "%s" already exists' % (plural, obj["metadata"]["name"]))
                    return self.reply(201, store.put(obj, "ADDED"))
                return self.fail(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            key = (group, plural, ns, name)
            with store.mu:
                current = copy.deepcopy(store.objects.get(key))
            if current is None:
                return self.fail(404, "NotFound", '%s "%s" not found' % (plural, name))
            if method == "GET":
                return self.reply(200, current)
            if method == "DELETE":
                store.delete(key)
                log("deleted %s/%s/%s" % (plural, ns, name))
                return self.reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                                        "details": {"name": name, "kind": plural}})
            if method in ("PUT", "PATCH"):
                incoming = self.body()
                obj = incoming if method == "PUT" else merge_patch(current, incoming)
                want = (incoming.get("metadata") or {}).get("resourceVersion", "")
                if method == "PUT" and not want:
                    return self.fail(422, "Invalid", "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")
                with store.mu:
                    latest = store.objects.get(key)
                    if latest is None:
                        return self.fail(404, "NotFound", '%s "%s" not found' % (plural, name))
                    if want and want != latest["metadata"]["resourceVersion"]:
                        return self.fail(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been '
                                         'modified; please apply your changes to the latest version and try again' % (plural, name))
                    obj.setdefault("metadata", {})
                    for k in ("name", "namespace", "uid", "creationTimestamp"):
                        if k in latest["metadata"]:
                            obj["metadata"][k] = latest["metadata"][k]
                    obj["kind"], obj["apiVersion"] = kind, gv
                    return self.reply(200, store.put(obj, "MODIFIED"))
            return self.fail(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

        def selected(self, group, plural, ns, q):
            sel = q.get("labelSelector", "")
            field = q.get("fieldSelector", "")
            out = []
            for (g, p, n, name), o in sorted(store.objects.items()):
                if g != group or p != plural or (ns and n != ns):
                    continue
                if sel and not matches_selector(o.get("metadata", {}).get("labels"), sel):
                    continue
                if field.startswith("metadata.name=") and name != field.split("=", 1)[1]:
                    continue
                out.append(copy.deepcopy(o))
            return out

        def list(self, group, version, plural, kind, ns, q):
            with store.mu:
                items = self.selected(group, plural, ns, q)
                rv = str(store.rv)
            if "as=Table" in self.headers.get("Accept", ""):
                t = table_of(plural, items)
                t["metadata"]["resourceVersion"] = rv
                return self.reply(200, t)
            return self.reply(200, {"kind": kind + "List", "apiVersion": (group + "/" if group else "") + version,
                                    "metadata": {"resourceVersion": rv}, "items": items})

        def watch(self, group, plural, ns, q):
            since = int(q.get("resourceVersion", "0") or 0)
            deadline = time.time() + min(int(q.get("timeoutSeconds", "1800") or 1800), 1800)
            self.start_chunked("application/json")
            sel = q.get("labelSelector", "")
            with store.mu:
                if since == 0:  # the current objects first, as ADDED
                    pending = [("ADDED", o) for o in self.selected(group, plural, ns, q)]
                    since = store.rv
                else:
                    pending = []
            while True:
                for t, o in pending:
                    self.chunk(json.dumps({"type": t, "object": o}).encode() + b"\n")
                pending = []
                with store.mu:
                    store.mu.wait(timeout=0.5)
                    for rv, t, (g, p, n, _), o in store.events:
                        if rv <= since or g != group or p != plural or (ns and n != ns):
                            continue
                        if sel and not matches_selector(o.get("metadata", {}).get("labels"), sel):
                            continue
                        pending.append((t, o))
                    since = store.rv
                if time.time() > deadline:
                    break
                if self.client_gone():
                    return
            self.end_chunked()

        def pod(self, ns, name, container):
            with store.mu:
                pod = copy.deepcopy(store.objects.get(("", "pods", ns, name)))
            if pod is None:
                return None, None, (404, "NotFound", 'pods "%s" not found' % name)
            names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
            if not container:
                if len(names) != 1:
                    return None, None, (400, "BadRequest", "a container name must be specified for pod %s, choose one of: [%s]"
                                        % (name, " ".join(names)))
                container = names[0]
            if container not in names:
                return None, None, (400, "BadRequest", "container %s is not valid for pod %s" % (container, name))
            return pod, container, None

        def logs(self, ns, name, q):
            pod, container, err = self.pod(ns, name, q.get("container", ""))
            if err:
                return self.fail(*err)
            lines = log_lines(pod, container)
            created = parse_time(pod["metadata"]["creationTimestamp"])
            generated = "%s %s" % (container, "x" * 99)
            # Line i was written at created + i seconds; times are made only
            # when a query needs them (a big log streams at full speed).
            idx = range(len(lines))
            stamp = lambda i: created + datetime.timedelta(seconds=i)
            if q.get("sinceTime"):
                since = parse_time(q["sinceTime"])
                idx = [i for i in idx if stamp(i) >= since]
            if q.get("sinceSeconds"):
                since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=int(q["sinceSeconds"]))
                idx = [i for i in idx if stamp(i) >= since]
            if q.get("tailLines"):
                idx = list(idx)[-int(q["tailLines"]):] if int(q["tailLines"]) > 0 else []
            limit = int(q.get("limitBytes", "0") or 0)
            ts_on = q.get("timestamps") in ("1", "true")
            self.start_chunked("text/plain")
            sent = 0
            buf = []
            buffered = 0

            def emit(t, l, flush=False):
                nonlocal sent, buffered
                data = ((t.strftime("%Y-%m-%dT%H:%M:%S.000000000Z ") if ts_on else "") + l + "\n").encode()
                if limit and sent + len(data) > limit:
                    data = data[:limit - sent]
                sent += len(data)
                buf.append(data)
                buffered += len(data)
                if flush or buffered >= 65536:
                    self.chunk(b"".join(buf))
                    buf.clear()
                    buffered = 0

            for i in idx:
                l = lines[i]
                emit(stamp(i) if ts_on else None, l if l is not None else generated)
                if limit and sent >= limit:
                    break
            self.chunk(b"".join(buf))
            buf.clear()
            every = int(pod["metadata"].get("annotations", {}).get("sim.plinth.dev/log-every-ms", "0") or 0)
            if q.get("follow") in ("1", "true") and not (limit and sent >= limit):
                n = len(lines)
                while True:
                    with store.mu:
                        store.mu.wait(timeout=(every / 1000.0) if every else 0.5)
                        alive = ("", "pods", ns, name) in store.objects
                    if not alive:
                        break  # as a real kubelet: the stream ends with its container
                    if every:
                        emit(datetime.datetime.now(datetime.timezone.utc), "%s line %d" % (container, n), flush=True)
                        n += 1
                    else:
                        self.chunk(b"")
                    if self.client_gone():
                        return
            self.end_chunked()

        # -- exec: WebSocket (v5/v4.channel.k8s.io) or SPDY/3.1 (what kubectl
        # before 1.30 speaks), one pump behind both
        def exec(self, ns, name):
            upgrade = self.headers.get("Upgrade", "").lower()
            qa = self.query_all
            flag = lambda k: qa.get(k, ["false"])[-1] in ("1", "true")
            tty, want_stdin = flag("tty"), flag("stdin")
            if upgrade == "websocket":
                protocols = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
                chosen = next((p for p in ("v5.channel.k8s.io", "v4.channel.k8s.io") if p in protocols), None)
            elif upgrade.startswith("spdy/3.1"):
                offered = self.headers.get_all("X-Stream-Protocol-Version") or []
                offered = [p.strip() for v in offered for p in v.split(",")]
                chosen = next((p for p in ("v4.channel.k8s.io",) if p in offered), None)
            else:
                chosen = None
            if chosen is None:
                return self.fail(400, "BadRequest", "Upgrade request required: websocket (v5.channel.k8s.io, "
                                 "v4.channel.k8s.io) or SPDY/3.1 (v4.channel.k8s.io)")
            command = qa.get("command", [])
            pod, container, err = self.pod(ns, name, qa.get("container", [""])[-1])
            if err:
                return self.fail(*err)
            if not command:
                return self.fail(400, "BadRequest", "you must specify at least 1 command")
            self.send_response(101, "Switching Protocols")
            if upgrade == "websocket":
                accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest())
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept.decode())
                self.send_header("Sec-WebSocket-Protocol", chosen)
            else:
                self.send_header("Connection", "Upgrade")
                self.send_header("Upgrade", "SPDY/3.1")
                self.send_header("X-Stream-Protocol-Version", chosen)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            if upgrade == "websocket":
                chans = WebSocketChannels(self.connection, self.rfile, chosen)
            else:
                # The client opens its streams in client-go's order: error,
                # stdin, stdout, stderr (not with a tty), resize (with one).
                order = ["error"] + (["stdin"] if want_stdin else []) + (["stdout"] if flag("stdout") else []) + \
                        (["stderr"] if flag("stderr") and not tty else []) + (["resize"] if tty else [])
                chans = SpdyChannels(self.connection, self.rfile, order)
            self.run_exec(ns, name, container, command, tty, want_stdin, chans)

        def run_exec(self, ns, name, container, command, tty, want_stdin, chans):
            cwd = os.path.join(store.scratch, ns, name, container)
            os.makedirs(cwd, exist_ok=True)
            env = {"PATH": "/usr/bin:/bin", "HOSTNAME": name, "HOME": cwd, "TERM": "xterm" if tty else "dumb",
                   "POD_NAME": name, "POD_NAMESPACE": ns, "CONTAINER": container}
            log("exec %s/%s/%s %s tty=%s via %s" % (ns, name, container, command, tty, type(chans).__name__))
            if not chans.wait_ready():
                return
            master = None
            try:
                if tty:
                    master, slave = pty.openpty()
                    def controlling_tty():  # a session of its own, led by the shell, with the pty as its terminal
                        os.setsid()
                        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

                    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                            preexec_fn=controlling_tty)
                    os.close(slave)
                    outs = {master: 1}
                    stdin_fd = master
                else:
                    proc = subprocess.Popen(command, cwd=cwd, env=env,
                                            stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
                    outs = {proc.stdout.fileno(): 1, proc.stderr.fileno(): 2}
                    stdin_fd = proc.stdin.fileno() if want_stdin else None
            except OSError as e:
                chans.send(3, json.dumps({"metadata": {}, "status": "Failure", "reason": "InternalError", "message":
                                          "exec: \"%s\": %s" % (command[0], e.strerror)}).encode())
                chans.close()
                return
            state = {"stdin": stdin_fd}

            def on_stdin(data):
                if state["stdin"] is not None:
                    try:
                        os.write(state["stdin"], data)
                    except OSError:
                        pass

            def on_stdin_end():
                if state["stdin"] is not None and not tty:
                    proc.stdin.close()
                    state["stdin"] = None

            def on_resize(data):
                for doc in filter(None, data.split(b"\n")):
                    try:
                        size = json.loads(doc)
                        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack(
                            "HHHH", int(size.get("Height", 24)), int(size.get("Width", 80)), 0, 0))
                    except (ValueError, OSError, TypeError, AttributeError):
                        pass

            def on_gone():  # the client went away: nothing stays running
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, 9)
                    except OSError:
                        pass

            threading.Thread(target=chans.read_loop, args=(on_stdin, on_stdin_end, on_resize, on_gone),
                             daemon=True).start()
            open_outs = dict(outs)
            while open_outs:
                r, _, _ = select.select(list(open_outs), [], [], 0.5)
                for fd in r:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:  # a pty reads EIO once its last writer is gone
                        data = b""
                    if data:
                        chans.send(open_outs[fd], data)
                    else:
                        chans.end(open_outs[fd])
                        del open_outs[fd]
            code = proc.wait()
            if code == 0:
                st = {"metadata": {}, "status": "Success"}
            else:
                st = {"metadata": {}, "status": "Failure", "message": "command terminated with non-zero exit code: "
                      "error executing command [%s], exit code %d" % (" ".join(command), code),
                      "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
            chans.send(3, json.dumps(st).encode())
            chans.close()

    server = ThreadingServer(("127.0.0.1", 0), Handler)
    config_dir = os.path.dirname(os.path.abspath(args.kubeconfig_out))
    scheme = "http"
    users = [{"name": "token", "user": {"token": sorted(tokens)[0]}}]
    cluster = {}
    if args.tls:
        tls_dir = tempfile.mkdtemp(prefix="sim-kube-tls-", dir=config_dir)
        ca = make_tls(tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, "server.crt"), os.path.join(tls_dir, "server.key"))
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=True)
        scheme = "https"
        with open(ca, "rb") as f:
            cluster["certificate-authority-data"] = base64.b64encode(f.read()).decode()
        pem = {n: base64.b64encode(open(os.path.join(tls_dir, n), "rb").read()).decode() for n in ("user.crt", "user.key")}
        users.append({"name": "cert", "user": {"client-certificate-data": pem["user.crt"], "client-key-data": pem["user.key"]}})
    port = server.server_address[1]
    cluster["server"] = "%s://127.0.0.1:%d" % (scheme, port)
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "sim", "cluster": cluster}],
                  "users": users, "contexts": [{"name": u["name"], "context": {"cluster": "sim", "user": u["name"],
                                                                                 "namespace": "default"}} for u in users],
                  "current-context": "token"}
    with open(args.kubeconfig_out + ".tmp", "w") as f:
        json.dump(kubeconfig, f, indent=1)
    os.rename(args.kubeconfig_out + ".tmp", args.kubeconfig_out)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(args.port_file + ".tmp", args.port_file)
    log("SIMULATED Kubernetes API server on %s (no real cluster)" % cluster["server"])
    server.serve_forever()


class BadRequest(Exception):
    pass


class WebSocketChannels:
    """RFC 6455 framing, server side (client frames are masked, ours not);
    each message is one channel byte then data."""

    def __init__(self, sock, rfile, protocol):
        self.sock, self.rfile, self.mu = sock, rfile, threading.Lock()
        self.v5 = protocol.startswith("v5.")

    def wait_ready(self):
        return True

    def _read(self, n):
        data = b""
        while len(data) < n:
            part = self.rfile.read1(n - len(data))
            if not part:
                return None
            data += part
        return data

    def recv(self):
        """A message's payload; b"" for control frames; None when closed."""
        head = self._read(2)
        if head is None:
            return None
        op, n = head[0] & 0x0F, head[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        mask = self._read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = self._read(n) if n else b""
        if data is None or mask is None:
            return None
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        if op == 8:
            return None
        if op == 9:
            self._send(10, data)
            return b""
        return b"" if op == 10 else data

    def read_loop(self, on_stdin, on_stdin_end, on_resize, on_gone):
        while True:
            frame = self.recv()
            if frame is None:
                return on_gone()
            if not frame:
                continue
            ch, data = frame[0], frame[1:]
            if ch == 0:
                on_stdin(data)
            elif ch == 4:
                on_resize(data)
            elif ch == 255 and self.v5 and data[:1] == b"\x00":
                on_stdin_end()

    def _send(self, op, data):
        n = len(data)
        head = bytes([0x80 | op])
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        with self.mu:
            try:
                self.sock.sendall(head + data)
            except OSError:
                pass

    def send(self, channel, data):
        self._send(2, bytes([channel]) + data)

    def end(self, channel):
        if self.v5:
            self._send(2, bytes([255, channel]))

    def close(self):
        self._send(8, struct.pack(">H", 1000))


class SpdyChannels:
    """SPDY/3.1 as kubectl's spdystream speaks it: the client opens one
    stream per channel and waits for our SYN_REPLY to each; we write a
    channel's data on its stream and end it with FIN. Header blocks are
    zlib streams; ours are compressed without SPDY's preset dictionary (a
    zlib stream names the dictionary it needs, none here), and the client's
    are not read: which stream is which follows from the order in which
    client-go opens them (given to us from the request's flags)."""

    CHANNEL = {"stdin": 0, "stdout": 1, "stderr": 2, "error": 3, "resize": 4}

    def __init__(self, sock, rfile, order):
        self.sock, self.rfile, self.mu = sock, rfile, threading.Lock()
        self.order = order
        self.streams = {}  # channel -> stream id
        self.ready = threading.Event()
        self.gone = False
        self.zlib = __import__("zlib").compressobj()
        self.callbacks = None
        self.pending = []  # data frames that arrived before the callbacks
        threading.Thread(target=self._reader, daemon=True).start()

    def wait_ready(self):
        return self.ready.wait(10) and not self.gone

    def _read(self, n):
        data = b""
        while len(data) < n:
            part = self.rfile.read1(n - len(data))
            if not part:
                return None
            data += part
        return data

    def _headers(self, pairs):
        block = struct.pack(">I", len(pairs))
        for k, v in pairs:
            block += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
        zlib = __import__("zlib")
        return self.zlib.compress(block) + self.zlib.flush(zlib.Z_SYNC_FLUSH)

    def _control(self, kind, flags, payload):
        frame = struct.pack(">HHI", 0x8000 | 3, kind, (flags << 24) | len(payload)) + payload
        with self.mu:
            try:
                self.sock.sendall(frame)
            except OSError:
                pass

    def _data(self, sid, flags, payload):
        frame = struct.pack(">II", sid & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload
        with self.mu:
            try:
                self.sock.sendall(frame)
            except OSError:
                pass

    def _reader(self):
        by_sid = {}
        while True:
            head = self._read(8)
            if head is None:
                break
            first, second = struct.unpack(">II", head)
            flags, length = second >> 24, second & 0xFFFFFF
            payload = self._read(length) if length else b""
            if payload is None:
                break
            if first & 0x80000000:
                kind = first & 0xFFFF
                if kind == 1:  # SYN_STREAM
                    sid = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
                    name = self.order[len(by_sid)] if len(by_sid) < len(self.order) else "unknown"
                    by_sid[sid] = name
                    self.streams[name] = sid
                    with self.mu:
                        block = self._headers([("streamtype", name)])
                    self._control(2, 0, struct.pack(">I", sid) + block)  # SYN_REPLY
                    if len(by_sid) == len(self.order):
                        self.ready.set()
                    if flags & 1:
                        self._deliver(name, None)
                elif kind == 6:  # PING: echoed
                    self._control(6, 0, payload)
                elif kind == 7:  # GOAWAY
                    break
                elif kind == 3:  # RST_STREAM
                    pass
            else:
                name = by_sid.get(first & 0x7FFFFFFF)
                if payload:
                    self._deliver(name, payload)
                if flags & 1:
                    self._deliver(name, None)
        self.gone = True
        self.ready.set()
        self._deliver("gone", None)

    def _deliver(self, name, data):
        if self.callbacks is None:
            self.pending.append((name, data))
            return
        on_stdin, on_stdin_end, on_resize, on_gone = self.callbacks
        if name == "gone":
            on_gone()
        elif name == "stdin":
            on_stdin(data) if data is not None else on_stdin_end()
        elif name == "resize" and data is not None:
            on_resize(data)

    def read_loop(self, on_stdin, on_stdin_end, on_resize, on_gone):
        self.callbacks = (on_stdin, on_stdin_end, on_resize, on_gone)
        pending, self.pending = self.pending, []
        for name, data in pending:
            self._deliver(name, data)

    def send(self, channel, data):
        name = {v: k for k, v in self.CHANNEL.items()}[channel]
        sid = self.streams.get(name)
        if sid is not None:
            self._data(sid, 0, data)

    def end(self, channel):
        name = {v: k for k, v in self.CHANNEL.items()}[channel]
        sid = self.streams.get(name)
        if sid is not None:
            self._data(sid, 1, b"")

    def close(self):
        sid = self.streams.get("error")
        if sid is not None:
            self._data(sid, 1, b"")
        for name in ("stdout", "stderr"):
            if name in self.streams:
                self.end(self.CHANNEL[name])
        time.sleep(0.05)
        self._control(7, 0, struct.pack(">II", 0, 0))  # GOAWAY


if __name__ == "__main__":
    main()
