#!/usr/bin/env python3
"""Steady HTTP/1.1 load through a Service while the cluster changes under it.

    load.py URL HOST STOPFILE [--workers N] [--max-seconds S] [--bodies FILE]

Each worker keeps one keep-alive connection (reconnecting when the server
closes it, as a draining edge asks with `Connection: close`) and sends GET
requests back to back until STOPFILE exists. A request fails when it gets no
complete response or a status other than 2xx. Prints one line:
`N requests, F failed (E connection errors, S non-2xx), p50 … p99 … max … ms`
and, with --bodies, writes how many times each distinct body was seen (JSON).
Exits 1 when any request failed.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.connection_errors = 0
        self.bad_status = {}
        self.bodies = {}
        self.first_errors = []

    def ok(self, seconds, body):
        with self.lock:
            self.latencies.append(seconds)
            self.bodies[body] = self.bodies.get(body, 0) + 1

    def failed(self, seconds, what, status=None):
        with self.lock:
            self.latencies.append(seconds)
            if status is None:
                self.connection_errors += 1
            else:
                self.bad_status[status] = self.bad_status.get(status, 0) + 1
            if len(self.first_errors) < 5:
                self.first_errors.append(what)


def worker(url, host, stop_file, deadline, tally):
    conn = None
    path = url.path or "/"
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        if conn is None:
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
        started = time.monotonic()
        try:
            conn.request("GET", path, headers={"Host": host})
            response = conn.getresponse()
            body = response.read()
            took = time.monotonic() - started
            if 200 <= response.status < 300:
                tally.ok(took, body.decode("utf-8", "replace").strip()[:80])
            else:
                tally.failed(took, f"status {response.status}", response.status)
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            tally.failed(time.monotonic() - started, f"{type(e).__name__}: {e}")
            conn.close()
            conn = None
            time.sleep(0.05)
    if conn is not None:
        conn.close()


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[index] * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("host")
    parser.add_argument("stop_file")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--bodies")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    tally = Tally()
    deadline = time.monotonic() + args.max_seconds
    threads = [
        threading.Thread(target=worker, args=(url, args.host, args.stop_file, deadline, tally), daemon=True)
        for _ in range(args.workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies = sorted(tally.latencies)
    non_2xx = sum(tally.bad_status.values())
    failed = tally.connection_errors + non_2xx
    print(
        f"{len(latencies)} requests, {failed} failed ({tally.connection_errors} connection errors, "
        f"{non_2xx} non-2xx), latency p50 {percentile(latencies, 50):.1f} ms, p90 {percentile(latencies, 90):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms, max {percentile(latencies, 100):.1f} ms"
    )
    for e in tally.first_errors:
        print(f"  error: {e}")
    if args.bodies:
        with open(args.bodies, "w") as f:
            json.dump(tally.bodies, f)
    sys.exit(1 if failed or not latencies else 0)


if __name__ == "__main__":
    main()
