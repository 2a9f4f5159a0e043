#!/usr/bin/env python3
"""Runs every query of the Grafana dashboard against a real Prometheus.

    check_panels.py PROMETHEUS_URL DASHBOARD_JSON TIME

Each target's `expr`, with the dashboard's variables replaced as Grafana
would with everything selected ($pod, $namespace: `.*`; $__rate_interval:
4s, which Grafana computes for a 1 s scrape interval: four scrapes), is
evaluated at TIME (Unix seconds)
through /api/v1/query. A query fails when it returns no series, or only
NaN (a quantile or ratio over nothing). Prints one line per query and exits
1 when any failed, naming the panel. Also imported by draw_dashboard.py.
"""

import json
import math
import re
import sys
import urllib.parse
import urllib.request

RATE_INTERVAL = "4s"
VARIABLES = {"__rate_interval": RATE_INTERVAL, "pod": ".*", "namespace": ".*"}
# $name, ${name}, ${name:format} and [[name]], as Grafana writes variables.
# `${1}` (a label_replace group) is not a variable: names start with a
# letter or an underscore.
VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)\]\]")


def substitute(expr):
    """The expression with the variables replaced; unknown ones are an error."""

    def replace(match):
        name = next(g for g in match.groups() if g)
        if name not in VARIABLES:
            raise ValueError(f"unknown variable ${name} in {expr}")
        return VARIABLES[name]

    return VARIABLE.sub(replace, expr)


def panels(dashboard):
    """(title, [(refId, expr, legendFormat)]) of every panel that queries."""
    out = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop(0)
        stack[:0] = panel.get("panels", [])
        if panel.get("type") == "row":
            continue
        targets = [(t["refId"], t.get("expr", ""), t.get("legendFormat", "")) for t in panel.get("targets", [])]
        out.append((panel["title"], targets))
    return out


def api(prometheus, path, params):
    url = f"{prometheus}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body}")
    return body["data"]["result"]


def finite(value):
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def main():
    prometheus, dashboard_file, at = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(dashboard_file) as f:
        dashboard = json.load(f)
    failed = []
    count = 0
    for title, targets in panels(dashboard):
        if not targets:
            failed.append(f"{title}: no query")
            print(f"FAIL {title}: the panel has no query")
        for ref, expr, _ in targets:
            count += 1
            if not expr.strip():
                failed.append(f"{title} [{ref}]: empty expr")
                print(f"FAIL {title} [{ref}]: empty expr")
                continue
            query = substitute(expr)
            try:
                result = api(prometheus, "/api/v1/query", {"query": query, "time": at})
            except Exception as e:  # a query Prometheus refuses fails the panel
                failed.append(f"{title} [{ref}]: {e}")
                print(f"FAIL {title} [{ref}]: {e}\n     {query}")
                continue
            values = [r["value"][1] for r in result]
            numbers = [v for v in values if finite(v)]
            if not numbers:
                why = "no series" if not result else f"{len(result)} series, all NaN"
                failed.append(f"{title} [{ref}]: {why}")
                print(f"FAIL {title} [{ref}]: {why}\n     {query}")
                continue
            shown = ", ".join(f"{float(v):.3g}" for v in numbers[:4])
            print(f"ok   {title} [{ref}]: {len(numbers)} series ({shown}{', …' if len(numbers) > 4 else ''})")
    print(f"panels: {len(panels(dashboard))}, queries: {count}, with data: {count - len(failed)}, empty: {len(failed)}")
    if failed:
        print("queries that returned nothing:\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
