#!/usr/bin/env bash
# Capacity of the simulated gateway, measured from outside its process:
#  1. resident memory while holding AGENTS concurrent long polls (issue 3: 19,000 agents
#     with < 400 MiB resident);
#  2. fresh TLS handshakes per second (issue 3: >= 2,500/s).
# Server and clients are release builds of the ignored helper tests
# tests/sim_bench_server.rs and tests/sim_bench_clients.rs; all traffic is loopback.
#
# Usage: scripts/bench/gateway/capacity.sh        (from the repository root)
# Env:   AGENTS=19000  WORKERS=2 (gateway threads)  CONCURRENCY=64  SECS=10
#
# Measured 2026-11-28 on the shared 2-core build machine (load average 3-4 from other
# builds, WORKERS=2), two runs each:
#   19,000 long polls held, gateway RSS: HTTP 254 MiB, HTTPS 393-394 MiB (target < 400).
#   Before the connection task was slimmed (src/sim/server.rs) the same runs read 306 and
#   423-424 MiB.
#   Fresh TLS handshakes: 1,070-1,096/s with one client thread (all full handshakes; the
#   gateway offers no resumption since 2026-11-28 — before, about half of this client's
#   "fresh" handshakes were resumed, which read 1,142-1,362/s on the same machine; nginx
#   with the same client and an ECDSA P-256 certificate read 493-552/s in an earlier run).
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
PORT=${PORT:-18045}
ulimit -n 20000 2>/dev/null || true

cargo test --release --test sim_bench_server --test sim_bench_clients --no-run >/dev/null 2>&1
helper() { ls -t target/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
server=$(helper sim_bench_server)
clients=$(helper sim_bench_clients)

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
        TOKIO_WORKER_THREADS="$WORKERS" "$server" --ignored --exact --nocapture bench_gateway_server \
        >"$work/server.out" 2>&1 &
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
        AGENTSTORM_BENCH_HOLD_S=15 "$clients" --ignored --exact --nocapture bench_long_polls \
        >"$work/clients.out" 2>&1 &
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
long_polls http
long_polls https AGENTSTORM_BENCH_CERT_OUT="$work/cert.pem"

# 2. TLS handshakes
cat >"$work/gw.toml" <<TOML
auth_mode = "static"
TOML
start_server AGENTSTORM_BENCH_CERT_OUT="$work/cert.pem"
AGENTSTORM_BENCH_TARGET="127.0.0.1:$PORT" AGENTSTORM_BENCH_CA="$work/cert.pem" \
    AGENTSTORM_BENCH_CONCURRENCY="$CONCURRENCY" AGENTSTORM_BENCH_SECS="$SECS" \
    "$clients" --ignored --exact --nocapture bench_tls_handshakes 2>&1 | grep "tls handshakes"
