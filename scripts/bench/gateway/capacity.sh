#!/usr/bin/env bash
# Capacity of the simulated gateway, measured from outside its process:
#  1. resident memory while holding AGENTS concurrent long polls (issue 3: 19,000 agents
#     with < 400 MiB resident);
#  2. fresh TLS handshakes per second (issue 3: >= 2,500/s).
# For 1, server and clients are release builds of the bench examples
# examples/bench_gateway_server.rs and examples/bench_clients.rs; for 2, the client is oha
# and the server `agentstorm gateway` (target/release). All traffic is loopback.
#
# Usage: scripts/bench/gateway/capacity.sh        (from the repository root)
# Env:   AGENTS=19000  WORKERS=2 (gateway threads)  CONCURRENCY=64  SECS=10  RUNS=5
#        PARTS="polls handshakes" (which parts to run)
#
# Measured 2026-11-28 on the shared 2-core build machine (load average 3-4 from other
# builds, WORKERS=2), two runs each:
#   19,000 long polls held, gateway RSS: HTTP 254 MiB, HTTPS 393-394 MiB (target < 400).
#   Before the connection task was slimmed (src/sim/server.rs) the same runs read 306 and
#   423-424 MiB.
#   Fresh TLS handshakes (oha, 64 connections, 2 threads, on the same 2 cores; session 3,
#   aws-lc-rs, the gateway choosing AES-128-GCM/SHA-256 and X25519): five-run medians
#   2,478 and 2,902/s with WORKERS=2, 2,684 and 2,709/s with WORKERS=1; the gateway's own
#   CPU 217-293 us per handshake. BENCHMARKS.md has the history.
# Where an HTTPS long poll's ~21 KiB go (heaptrack, live allocations per held connection):
# hyper's read and write buffers 8 KiB each (allocated whole, resident only in part),
# rustls' receive buffer 4 KiB (zero-filled, so all resident), the boxed hyper connection
# with its rustls connection 1.8 KiB, the in-flight request's future 1.5 KiB
# (SimGateway::handle), rustls' handshake deframer 640 B and AES-GCM keys 2 x 560 B,
# hyper's cached header map 624 B, the agent's session ~0.7 KiB, the task 384 B, the
# socket's registration 256 B. Neither mimalloc nor jemalloc (LD_PRELOAD) nor glibc
# arena/tcache tunables moved HTTPS by more than 4 MiB.
set -euo pipefail

cd "$(dirname "$0")/../../.."
AGENTS=${AGENTS:-19000}
WORKERS=${WORKERS:-2}
CONCURRENCY=${CONCURRENCY:-64}
SECS=${SECS:-10}
RUNS=${RUNS:-5}
PARTS=${PARTS:-"polls handshakes"}
PORT=${PORT:-18045}
ulimit -n 20000 2>/dev/null || true

cargo build --quiet --release --example bench_gateway_server --example bench_clients
server=target/release/examples/bench_gateway_server
clients=target/release/examples/bench_clients

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_server() { # extra env assignments...
    : >"$work/server.out"
    env "$@" AGENTSTORM_BENCH_LISTEN="127.0.0.1:$PORT" AGENTSTORM_BENCH_CONFIG="$work/gw.toml" \
        TOKIO_WORKER_THREADS="$WORKERS" "$server" >"$work/server.out" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    for _ in $(seq 1 200); do
        grep -q "gateway listening on" "$work/server.out" && return 0
        sleep 0.05
    done
    cat "$work/server.out" >&2
    exit 3
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# 1. long polls, over HTTP and over HTTPS
long_polls() { # label [server env...]
    local label=$1
    shift
    cat >"$work/gw.toml" <<TOML
poll_wait = "120s"
inactivity_timeout = "10m"
auth_mode = "static"
TOML
    rm -f "$work/cert.pem"
    start_server "$@"
    local idle ca=()
    idle=$(rss_kib "$server_pid")
    [ -f "$work/cert.pem" ] && ca=(AGENTSTORM_BENCH_CA="$work/cert.pem")
    env "${ca[@]}" AGENTSTORM_BENCH_TARGET="127.0.0.1:$PORT" AGENTSTORM_BENCH_AGENTS="$AGENTS" \
        AGENTSTORM_BENCH_HOLD_S=15 "$clients" >"$work/clients.out" 2>&1 &
    local client_pid=$!
    pids+=("$client_pid")
    for _ in $(seq 1 1800); do
        grep -q "^holding" "$work/clients.out" && break
        sleep 0.1
    done
    local held
    held=$(grep "^holding" "$work/clients.out" || echo "holding ?")
    sleep 2
    echo "long polls ($label): $held; gateway RSS idle $((idle / 1024)) MiB, holding $(( $(rss_kib "$server_pid") / 1024 )) MiB (peak $(( $(hwm_kib "$server_pid") / 1024 )) MiB)"
    kill "$client_pid" "$server_pid" 2>/dev/null || true
    wait "$client_pid" "$server_pid" 2>/dev/null || true
}
if [[ " $PARTS " == *" polls "* ]]; then
    long_polls http
    long_polls https AGENTSTORM_BENCH_CERT_OUT="$work/cert.pem"
fi
[[ " $PARTS " == *" handshakes "* ]] || exit 0

# 2. Fresh TLS handshakes per second: oha --disable-keepalive (a new connection, so a full
# handshake, for every request: the gateway sends no tickets and keeps no session cache)
# against the standalone gateway (`agentstorm gateway`, the release build), RUNS runs of
# SECS seconds, each on a freshly started gateway. Client and gateway share the machine's
# cores, so the rate is bounded by both; the gateway's own CPU per handshake (from
# /proc/PID/stat) says what it would do alone.
if command -v oha >/dev/null && [ -x target/release/agentstorm ]; then
    cat >"$work/hs.toml" <<TOML
inactivity_timeout = "10m"
TOML
    rates=()
    for ((run = 1; run <= RUNS; run++)); do
        : >"$work/hs.out"
        TOKIO_WORKER_THREADS="$WORKERS" target/release/agentstorm gateway --config "$work/hs.toml" \
            --cert-out "$work/hs-cert.pem" --listen "127.0.0.1:$PORT" >"$work/hs.out" 2>&1 &
        gw=$!
        pids+=("$gw")
        for _ in $(seq 1 200); do
            grep -q "gateway listening on" "$work/hs.out" && break
            sleep 0.05
        done
        t0=$(awk '{print $14 + $15}' "/proc/$gw/stat")
        rps=$(oha --no-tui --output-format json -z "${SECS}s" -c "$CONCURRENCY" --worker-threads 2 \
            --disable-keepalive --cacert "$work/hs-cert.pem" \
            "https://127.0.0.1:$PORT/agentgateway/resource/agentevent/100001" 2>/dev/null |
            python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(round(s["requestsPerSec"]), round(s["successRate"], 4))')
        t1=$(awk '{print $14 + $15}' "/proc/$gw/stat")
        kill "$gw" 2>/dev/null || true
        wait "$gw" 2>/dev/null || true
        read -r rate ok <<<"$rps"
        ticks=$(getconf CLK_TCK)
        us=$(python3 -c "print(round(($t1 - $t0) / $ticks * 1e6 / max(1, $rate * $SECS)))")
        echo "tls handshakes, run $run: $rate/s (success rate $ok), gateway CPU $us us per handshake"
        rates+=("$rate")
    done
    median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
    echo "tls handshakes: median $median/s over $RUNS runs (target >= 2,500/s)"
else
    echo "tls handshakes: skipped (needs oha and target/release/agentstorm: cargo install oha; cargo build --release)"
fi
