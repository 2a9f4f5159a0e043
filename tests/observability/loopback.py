#!/usr/bin/env python3
"""What the POP talks to, on loopback, for tests/observability/dashboard.

    loopback.py PORTS_FILE PACKAGES_DIR

Starts three HTTP servers on free ports and writes their ports to
PORTS_FILE as JSON ({"packages": …, "origin": …, "kube": …}) once all three
listen:

- packages: the files of PACKAGES_DIR (the loader downloads the programs
  from here, pinned by SHA-256 in edge.yaml);
- origin: the backend of the proxy program. /static… answers 200 and may be
  cached for 5 minutes, /boom… answers 503, anything else 404; a POST
  (the edge's HTTPS log delivery) is read and answered 200;
- kube: the part of the Kubernetes API the agent uses: the list and watch of
  the pods of one namespace. Three POP pods, two of them ready; the first
  watch turns the third ready after 3 seconds, then holds the stream open
  (as the API server does) until the client leaves or 30 seconds pass.

Runs until killed.
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def packages_handler(root):
    class Packages(Quiet):
        def do_GET(self):
            name = os.path.basename(urlparse(self.path).path)
            path = os.path.join(root, name)
            if not name or not os.path.isfile(path):
                self.reply(404)
                return
            with open(path, "rb") as f:
                self.reply(200, f.read(), [("content-type", "application/octet-stream")])

    return Packages


class Origin(Quiet):
    def do_GET(self):
        body = b"x" * 512
        if self.path.startswith("/static"):
            self.reply(200, body, [("cache-control", "public, max-age=300")])
        elif self.path.startswith("/boom"):
            self.reply(503, body, [("cache-control", "no-store")])
        else:
            self.reply(404, body, [("cache-control", "no-store")])

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.reply(200)


class Pods:
    """The pods the stub API reports; the third turns ready once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.version = 10
        self.third_ready = False

    def pod(self, index, ready):
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"fastly-anywhere-{index}",
                "namespace": "obs",
                "resourceVersion": str(self.version),
                "labels": {"app.kubernetes.io/component": "pop"},
            },
            "status": {
                "podIP": f"10.0.0.{index + 1}",
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }

    def list(self):
        with self.lock:
            items = [self.pod(0, True), self.pod(1, True), self.pod(2, self.third_ready)]
            return {
                "apiVersion": "v1",
                "kind": "PodList",
                "metadata": {"resourceVersion": str(self.version)},
                "items": items,
            }

    def promote(self):
        """Turns the third pod ready; its event, or None when it already was."""
        with self.lock:
            if self.third_ready:
                return None
            self.third_ready = True
            self.version += 1
            return {"type": "MODIFIED", "object": self.pod(2, True)}


def kube_handler(pods):
    class Kube(Quiet):
        def do_GET(self):
            url = urlparse(self.path)
            if not url.path.endswith("/pods"):
                status = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                          "reason": "NotFound", "code": 404, "message": url.path}
                self.reply(404, json.dumps(status).encode(), [("content-type", "application/json")])
                return
            query = parse_qs(url.query)
            if query.get("watch", ["false"])[0] not in ("true", "1"):
                body = json.dumps(pods.list()).encode()
                self.reply(200, body, [("content-type", "application/json")])
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                time.sleep(3)
                event = pods.promote()
                if event is not None:
                    self.chunk((json.dumps(event) + "\n").encode())
                time.sleep(27)
                self.chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def chunk(self, data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    return Kube


def main():
    ports_file, packages = sys.argv[1], sys.argv[2]
    servers = {
        "packages": ThreadingHTTPServer(("127.0.0.1", 0), packages_handler(packages)),
        "origin": ThreadingHTTPServer(("127.0.0.1", 0), Origin),
        "kube": ThreadingHTTPServer(("127.0.0.1", 0), kube_handler(Pods())),
    }
    for server in servers.values():
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = {name: s.server_address[1] for name, s in servers.items()}
    with open(ports_file + ".tmp", "w") as f:
        json.dump(ports, f)
    os.rename(ports_file + ".tmp", ports_file)
    threading.Event().wait()


if __name__ == "__main__":
    main()
