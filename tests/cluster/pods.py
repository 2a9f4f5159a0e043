#!/usr/bin/env python3
"""Checks on the POP pods, read from `kubectl get pods -o json` on stdin.

    pods.py healthy N      every container of N pods Ready with no restart,
                           the init containers exited 0
    pods.py no-secret-env  no container gets a literal value, a Secret or
                           envFrom through its environment (tokens are
                           files only)

Prints what is wrong, one line each; exits 1 when something is.
"""

import json
import sys


def healthy(pods, want):
    problems = []
    if len(pods) != want:
        problems.append(f"{len(pods)} pods, not {want}")
    for pod in pods:
        name = pod["metadata"]["name"]
        status = pod.get("status", {})
        for c in status.get("initContainerStatuses", []):
            state = c.get("state", {})
            if state.get("terminated", {}).get("exitCode") != 0:
                problems.append(f"{name}/{c.get('name')}: init not exited 0 ({state})")
        statuses = status.get("containerStatuses", [])
        if len(statuses) != len(pod["spec"]["containers"]):
            problems.append(f"{name}: {len(statuses)} container statuses")
        for c in statuses:
            who = f"{name}/{c.get('name')}"
            if not c.get("ready"):
                problems.append(f"{who}: not ready ({c.get('state')})")
            if c.get("restartCount", 0):
                problems.append(f"{who}: {c['restartCount']} restarts (last: {c.get('lastState')})")
    return problems


def secret_env(pods):
    problems = []
    for pod in pods:
        spec = pod["spec"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            for e in c.get("env", []):
                if "value" in e or "secretKeyRef" in e.get("valueFrom", {}):
                    problems.append(f"{pod['metadata']['name']}/{c['name']}: env {e['name']}")
            if c.get("envFrom"):
                problems.append(f"{pod['metadata']['name']}/{c['name']}: envFrom")
    return problems


def main():
    pods = json.load(sys.stdin)["items"]
    if sys.argv[1:2] == ["healthy"]:
        problems = healthy(pods, int(sys.argv[2]))
    elif sys.argv[1:2] == ["no-secret-env"]:
        problems = secret_env(pods)
    else:
        sys.exit("usage: pods.py healthy N | no-secret-env")
    print("\n".join(problems))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
