#!/usr/bin/env bash
# Soak memory check (issue 4): the harness's RSS at the end of a steady run with an hour's
# worth of intervals must be within 10 % of its RSS at "minute 5" of that hour.
#
# Timing is compressed with the report interval: 360 intervals of 1 s stand for an hour of
# 10 s intervals (the interval count — what could grow memory — is that of an hour), and
# the gateway's knobs are shortened so sessions cycle many times (closed model, sessions of
# 5-15 s, 1-3 s pauses). Memory that grew per interval, per session or per sample would show.
#
# The gateway runs as its own process (HTTPS, its generated certificate trusted with
# --ca-file), so the RSS measured is the harness's alone.
#
# Usage: scripts/soak/rss.sh [AGENTS] [INTERVALS]   (defaults 2000 and 360)
# Traffic stays on loopback; the run is bounded by its plan; the gateway is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
agents=${1:-2000}
intervals=${2:-360}
out=$(mktemp -d)
cargo build --release --quiet
printf 'poll_wait = "2s"\n' > "$out/gateway.toml"
./target/release/agentstorm gateway --listen 127.0.0.1:0 --config "$out/gateway.toml" \
  --cert-out "$out/gateway.pem" > "$out/gateway.log" 2>&1 &
gw=$!
trap 'kill $gw 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q listening "$out/gateway.log" && break; sleep 0.1; done
url=$(grep -o 'https://[0-9.:]*' "$out/gateway.log" | head -1)
ids_end=$((1000 + agents * 2))
./target/release/agentstorm run scenarios/smoke.toml --quiet --out "$out" \
  --target "$url" --ca-file "$out/gateway.pem" \
  --set name=soak-rss \
  --set "agents.ids=\"1001-$ids_end\"" \
  --set 'load.model="closed"' \
  --set "load.stages=[{ ramp = \"10s\", to = $agents }, { hold = \"$((intervals - 10))s\" }]" \
  --set 'session.hold={ min = "5s", max = "15s" }' \
  --set 'session.pause={ min = "1s", max = "3s" }' \
  --set 'report.interval="1s"' >/dev/null || true
python3 - "$out/results.json" "$intervals" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
iv = [i for i in r["intervals"] if i["rss_bytes"] > 0]
n = int(sys.argv[2])
at5 = iv[min(len(iv) - 1, n * 5 // 60)]          # "minute 5" of the hour
end = iv[-1]
ratio = end["rss_bytes"] / at5["rss_bytes"]
peak = max(i["rss_bytes"] for i in iv)
print(f"intervals: {len(iv)}  sessions: {r['sessions']['started']}  samples: {sum(o['count'] for o in r['operations'].values())}")
print(f"rss at minute 5 (interval {iv.index(at5)}): {at5['rss_bytes']/2**20:.1f} MiB")
print(f"rss at the end  (interval {len(iv)-1}): {end['rss_bytes']/2**20:.1f} MiB")
print(f"peak rss: {peak/2**20:.1f} MiB   end / minute-5 = {ratio:.3f}  ({'PASS' if abs(ratio - 1) <= 0.10 else 'FAIL'}: within 10 %)")
PY
echo "results: $out"
