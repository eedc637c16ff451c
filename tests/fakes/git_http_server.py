#!/usr/bin/env python3
"""A Git smart-HTTP server for tests: `git http-backend` (git's own CGI)
behind HTTP basic authentication, like a Git host taking a token.

    git_http_server.py ROOT PORT_FILE [--token TOKEN] [--hold-file PATH]

Serves every repository under ROOT at http://127.0.0.1:<port>/<name>.git.
With --token, a request without `Authorization: Basic base64(any:TOKEN)`
gets 401 and a WWW-Authenticate challenge. While --hold-file exists,
requests wait (and PATH.held is created), so a test can stop plinthd while
a fetch is in flight. Writes the port to PORT_FILE once it listens.
"""
import argparse
import base64
import http.server
import os
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("port_file")
    ap.add_argument("--token", default="")
    ap.add_argument("--hold-file", default="")
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *a):
            sys.stderr.write("git-http: " + (fmt % a) + "\n")

        def authorized(self):
            if not args.token:
                return True
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            try:
                user_pass = base64.b64decode(header[6:]).decode()
            except ValueError:
                return False
            return user_pass.split(":", 1)[-1] == args.token

        def handle_any(self):
            if args.hold_file and os.path.exists(args.hold_file):
                open(args.hold_file + ".held", "w").close()
                while os.path.exists(args.hold_file):
                    time.sleep(0.05)
            if not self.authorized():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = dict(os.environ)
            env.update({
                "GIT_PROJECT_ROOT": args.root,
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": "token",
                "REMOTE_ADDR": "127.0.0.1",
                "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            })
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.split(b"\r\n"):
                name, _, value = line.decode().partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = handle_any
        do_POST = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
