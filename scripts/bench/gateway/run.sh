#!/usr/bin/env bash
# Throughput of the simulated gateway's poll path against nginx serving the same canned
# JSON reply, with wrk on loopback over HTTP/1.1 keep-alive, at 64 and 1,000 connections,
# with the same number of server worker threads. Prints requests/s of each and the ratio
# (issue 3 target: gateway >= 0.7x nginx).
#
# The gateway runs with poll_wait = "0s" and static GUIDs: every poll passes the normal
# route + GUID check + session lookup and answers the empty reply at once.
#
# Usage: scripts/bench/gateway/run.sh            (from the repository root)
# Env:   WORKERS=1      server worker threads (nginx worker_processes, tokio workers)
#        WRK_THREADS=1  wrk threads;  DURATION=10s per run;  CONNS="64 1000"
#        AGENTSTORM_BIN=target/release/agentstorm (needs the `gateway` subcommand; if it
#        is missing the script runs the gateway from the release build of the bench
#        example `examples/bench_gateway_server.rs` instead)
# Needs: wrk, nginx, curl, bc (apt-get install -y wrk nginx curl bc).
#
# Measured on the shared 2-core build machine while other builds ran (load average 9-10,
# so absolute figures are about a third of a quiet machine's; the ratio is the result):
#   WORKERS=1 WRK_THREADS=1: 64 conns 24,279 vs nginx 22,235 req/s (1.09);
#                            1000 conns 12,488 vs 12,992 (0.96)
#   WORKERS=2 WRK_THREADS=2: 64 conns 24,878 vs 30,760 (0.81); 1000 conns 23,843 vs 18,923 (1.26)
set -euo pipefail

cd "$(dirname "$0")/../../.."
WORKERS=${WORKERS:-1}
WRK_THREADS=${WRK_THREADS:-1}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-"64 1000"}
GW_PORT=${GW_PORT:-18043}
NGINX_PORT=${NGINX_PORT:-18044}
BIN=${AGENTSTORM_BIN:-target/release/agentstorm}

for tool in wrk nginx curl; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install -y wrk nginx curl)" >&2; exit 2; }
done
ulimit -n 20000 2>/dev/null || true

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/gateway.toml" <<TOML
poll_wait = "0s"
auth_mode = "static"
inactivity_timeout = "1h"
TOML

# --- the simulated gateway ---
if [ -x "$BIN" ] && "$BIN" gateway --help 2>&1 | grep -q -- "--plain-http"; then
    TOKIO_WORKER_THREADS=$WORKERS "$BIN" gateway --plain-http --listen "127.0.0.1:$GW_PORT" \
        --config "$work/gateway.toml" >"$work/gateway.out" 2>&1 &
    pids+=($!)
else
    echo "run.sh: $BIN has no 'gateway' subcommand; using the release bench example" >&2
    cargo build --quiet --release --example bench_gateway_server
    helper=target/release/examples/bench_gateway_server
    AGENTSTORM_BENCH_LISTEN="127.0.0.1:$GW_PORT" AGENTSTORM_BENCH_CONFIG="$work/gateway.toml" \
        TOKIO_WORKER_THREADS=$WORKERS "$helper" >"$work/gateway.out" 2>&1 &
    pids+=($!)
fi
for _ in $(seq 1 200); do
    grep -q "gateway listening on" "$work/gateway.out" 2>/dev/null && break
    sleep 0.05
done
grep -q "gateway listening on" "$work/gateway.out" || { cat "$work/gateway.out" >&2; exit 3; }

base="http://127.0.0.1:$GW_PORT/agentgateway/resource"
guid=$(curl -s -D - -o /dev/null -X PUT -H 'Content-Type: application/json; charset=UTF-8' \
    --data '{"password":"","phonenum":"40038"}' "$base/onlineagent/101" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="guid" {print $2}')
[ -n "$guid" ] || { echo "run.sh: sign-in gave no Guid" >&2; exit 3; }
# Drain the sign-in events; afterwards every poll is the empty reply.
for _ in 1 2 3 4; do
    gw_body=$(curl -s -H "Guid: $guid" "$base/agentevent/101")
done

# --- nginx with the same reply ---
mkdir -p "$work/nginx"
sed -e "s|@WORKERS@|$WORKERS|" -e "s|@PORT@|$NGINX_PORT|" -e "s|@PREFIX@|$work/nginx|g" \
    scripts/bench/gateway/nginx.conf >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
sleep 0.5
nginx_body=$(curl -s "http://127.0.0.1:$NGINX_PORT/agentgateway/resource/agentevent/101")
if [ "$gw_body" != "$nginx_body" ]; then
    echo "run.sh: replies differ: gateway '$gw_body' nginx '$nginx_body'" >&2
    exit 3
fi

rps() { # url conns [header]
    local out
    if [ $# -eq 3 ]; then
        out=$(wrk -t"$WRK_THREADS" -c"$2" -d"$DURATION" -H "$3" "$1")
    else
        out=$(wrk -t"$WRK_THREADS" -c"$2" -d"$DURATION" "$1")
    fi
    echo "$out" | grep -q "Non-2xx" && { echo "run.sh: non-2xx replies: $out" >&2; exit 3; }
    echo "$out" | awk '/Requests\/sec/ {print $2}'
}

printf '%-6s %14s %14s %7s\n' conns gateway_rps nginx_rps ratio
for c in $CONNS; do
    g=$(rps "$base/agentevent/101" "$c" "Guid: $guid")
    n=$(rps "http://127.0.0.1:$NGINX_PORT/agentgateway/resource/agentevent/101" "$c")
    printf '%-6s %14s %14s %7.2f\n' "$c" "$g" "$n" "$(echo "$g / $n" | bc -l)"
done
