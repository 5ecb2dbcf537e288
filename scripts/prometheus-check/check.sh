#!/usr/bin/env bash
# Checks agentstorm's live metrics against a real Prometheus (Debian's `prometheus`): starts
# it on loopback ports with a temporary config that scrapes the run's --metrics-listen
# address every second and with its remote-write receiver on, runs a short agentstorm run
# against the embedded gateway with both --metrics-listen and --metrics-push, then asks
# Prometheus's HTTP API (/api/v1/query) whether
#   - the sign-in total of the scraped series and of the pushed series each equal
#     summary.csv's sign-in count,
#   - the series carry run_id, scenario and shard, and the final push said run_finished 1,
#   - the p99 that histogram_quantile reads from the buckets is near summary.csv's p99,
#   - every query of the Grafana dashboard (deploy/grafana) is valid PromQL there.
# Prometheus is killed at the end (trap); everything is written to a temp dir.
#
# Usage: scripts/prometheus-check/check.sh [OUT_DIR]   (default: a fresh temp dir)
#        AGENTSTORM_BIN=path/to/agentstorm scripts/prometheus-check/check.sh
# Needs: prometheus (apt-get install -y prometheus), python3, and cargo unless
# AGENTSTORM_BIN is set. Exit 0 = all checks pass, 1 = a check failed, 2 = the tools are
# missing or the run could not be made.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/agentstorm-prometheus-check.XXXXXX")}"
mkdir -p "$out"

if ! command -v prometheus >/dev/null 2>&1; then
  echo "prometheus-check: no prometheus found (apt-get install -y prometheus)" >&2
  exit 2
fi
command -v python3 >/dev/null 2>&1 || { echo "prometheus-check: python3 is needed" >&2; exit 2; }

# The remote-write receiver's flag: its own since Prometheus 2.33, a feature flag before.
if prometheus --help 2>&1 | grep -q -- '--web.enable-remote-write-receiver'; then
  rw_flag=--web.enable-remote-write-receiver
else
  rw_flag=--enable-feature=remote-write-receiver
fi

bin="${AGENTSTORM_BIN:-}"
if [ -z "$bin" ]; then
  # Built as the test suite builds it (its dev-dependency features), so after `cargo test`
  # this is a no-op rather than a second build of the dependencies.
  echo "prometheus-check: building agentstorm (debug, as cargo test does)"
  if ! (cd "$root" && cargo test -q --no-run --test it >"$out/cargo.log" 2>&1); then
    cat "$out/cargo.log" >&2
    echo "prometheus-check: could not build agentstorm" >&2
    exit 2
  fi
  target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  bin="$target_dir/debug/agentstorm"
fi
[ -x "$bin" ] || { echo "prometheus-check: $bin is not an executable" >&2; exit 2; }

# Two free loopback ports: Prometheus's, and the run's /metrics.
read -r prom_port metrics_port < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
)
prom="http://127.0.0.1:$prom_port"
run_id="prometheus-check-$$-$(date +%s)"

cat >"$out/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: agentstorm
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
EOF

echo "prometheus-check: starting $(prometheus --version 2>&1 | head -1) on $prom ($rw_flag)"
prometheus --config.file="$out/prometheus.yml" --storage.tsdb.path="$out/data" \
  --web.listen-address="127.0.0.1:$prom_port" "$rw_flag" >"$out/prometheus.log" 2>&1 &
prom_pid=$!
trap 'kill "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true' EXIT

ready=0
for _ in $(seq 1 60); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
       "$prom/-/ready" 2>/dev/null; then ready=1; break; fi
  kill -0 "$prom_pid" 2>/dev/null || break
  sleep 0.5
done
if [ "$ready" -ne 1 ]; then
  cat "$out/prometheus.log" >&2
  echo "prometheus-check: Prometheus did not become ready" >&2
  exit 2
fi

# About 8 s: 40 sign-ins over 4 s, polls, sign-outs.
cat >"$out/scenario.toml" <<'EOF'
name = "prometheus-check"
[target]
timeout = "5s"
[agents]
ids = "1001-1040"
[session]
hold = "2s"
poll_gap = "100ms"
[load]
stages = [{ hold = "4s", rate = 10 }, { hold = "3s", rate = 0 }]
[gateway]
poll_wait = "500ms"
[report]
interval = "1s"
EOF

echo "prometheus-check: running agentstorm (run_id $run_id)"
set +e
(cd "$out" && env -u AGENTSTORM_RUN_ID -u AGENTSTORM_SHARDS -u GITHUB_STEP_SUMMARY \
  "$bin" run scenario.toml --out run --quiet --run-id "$run_id" \
  --metrics-listen "127.0.0.1:$metrics_port" \
  --metrics-push "$prom/api/v1/write" --metrics-push-interval 1s \
  >"$out/run.log" 2>&1)
rc=$?
set -e
if [ "$rc" -ne 0 ] || [ ! -s "$out/run/summary.csv" ]; then
  cat "$out/run.log" >&2
  echo "prometheus-check: the run exited $rc" >&2
  exit 2
fi

# Let the last pushed samples be appended and readable.
sleep 2
if PROM="$prom" RUN_ID="$run_id" OUT="$out" ROOT="$root" python3 "$here/queries.py"; then
  rm -rf "$out/data"
  echo "prometheus-check: ok (artifacts in $out)"
else
  echo "prometheus-check: FAILED (artifacts in $out; Prometheus log: $out/prometheus.log)" >&2
  exit 1
fi
