#!/usr/bin/env python3
"""The queries of scripts/prometheus-check/check.sh, asked of the Prometheus it started.

Environment: PROM (Prometheus's base URL), RUN_ID, OUT (the check's folder, holding
run/summary.csv), ROOT (the repository, for the Grafana dashboard). Prints one line per
check; exits 1 if any failed.

Scraped series carry job="agentstorm"; pushed ones have no job label (job=""). The run's
endpoint is gone once it ended, so Prometheus has marked the scraped series stale:
last_over_time reads their last real sample.
"""

import csv
import json
import math
import os
import sys
import urllib.parse
import urllib.request

PROM = os.environ["PROM"]
RUN_ID = os.environ["RUN_ID"]
OUT = os.environ["OUT"]
ROOT = os.environ["ROOT"]
SOURCES = {"scraped": 'job="agentstorm"', "pushed": 'job=""'}
failures = []


def query(expr):
    """The instant query's result list, or raises with Prometheus's error."""
    url = PROM + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
    except urllib.error.HTTPError as e:
        doc = json.load(e)
    if doc.get("status") != "success":
        raise ValueError(f"{doc.get('errorType')}: {doc.get('error')}")
    return doc["data"]["result"]


def scalar(expr):
    result = query(expr)
    if not result:
        return None
    return float(result[0]["value"][1])


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def summary_row(operation):
    with open(os.path.join(OUT, "run", "summary.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["operation"] == operation:
                return row
    return None


def sel(source, extra=""):
    base = f'run_id="{RUN_ID}", {SOURCES[source]}'
    return base + (", " + extra if extra else "")


signin = summary_row("signin")
want = float(signin["count"]) if signin else None
check(want is not None and want > 0, f"summary.csv has sign-ins ({want})")
SIGNIN = 'operation="signin"'
SIGNIN_CORRECTED = 'operation="signin", kind="corrected"'
for source in SOURCES:
    got = scalar(
        f"sum(last_over_time(agentstorm_operations_total{{{sel(source, SIGNIN)}}}[10m]))"
    )
    check(got == want, f"{source}: sign-in total {got} equals summary.csv's {want}")
    labels = query(f'last_over_time(agentstorm_agents_active{{{sel(source)}}}[10m])')
    check(
        len(labels) == 1
        and labels[0]["metric"].get("scenario") == "prometheus-check"
        and labels[0]["metric"].get("shard") == "0",
        f"{source}: series carry run_id, scenario and shard ({[r['metric'] for r in labels]})",
    )
    p99 = scalar(
        "histogram_quantile(0.99, sum by (le) (last_over_time("
        f"agentstorm_latency_seconds_bucket{{{sel(source, SIGNIN_CORRECTED)}}}[10m])))"
    )
    hdr = float(signin["corrected_p99_ms"]) / 1000 if signin else None
    near = p99 is not None and hdr and abs(math.log(p99 / hdr)) <= math.log(2.5) + 1e-9
    check(near, f"{source}: histogram_quantile p99 {p99} s is within a bucket of summary.csv's {hdr} s")

les = {
    source: sorted(
        r["metric"]["le"]
        for r in query(
            f"last_over_time(agentstorm_latency_seconds_bucket{{{sel(source, SIGNIN_CORRECTED)}}}[10m])"
        )
    )
    for source in SOURCES
}
check(
    les["scraped"] == les["pushed"] and len(les["pushed"]) > 10,
    f"scraped and pushed buckets have the same le labels ({len(les['pushed'])})",
)

finished = scalar(f"max(last_over_time(agentstorm_run_finished{{{sel('pushed')}}}[10m]))")
check(finished == 1.0, f"the final push says run_finished 1 ({finished})")
failed = scalar(f"max(last_over_time(agentstorm_metrics_push_failures_total{{{sel('pushed')}}}[10m]))")
check(failed == 0.0, f"no push failed ({failed})")

# Every query of the dashboard, with its variables filled in, is valid PromQL here.
with open(os.path.join(ROOT, "deploy", "grafana", "dashboards", "agentstorm.json")) as f:
    dashboard = json.load(f)
exprs = []


def collect(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "expr" and isinstance(x, str):
                exprs.append(x)
            else:
                collect(x)
    elif isinstance(v, list):
        for x in v:
            collect(x)


collect(dashboard)
bad = []
for e in exprs:
    filled = e.replace("$run_id", RUN_ID).replace("$shard", ".*").replace("$__rate_interval", "1m")
    try:
        query(filled)
    except ValueError as err:
        bad.append(f"{e}: {err}")
check(not bad and len(exprs) > 10, f"the dashboard's {len(exprs)} queries are valid PromQL {bad}")

sys.exit(1 if failures else 0)
