# Shared helpers for the benchmark scripts in scripts/bench/ (sourced, not run).
#
# Owns: finding the tools, a scratch folder removed on exit, starting and stopping the
# servers a benchmark needs (nginx canned gateway, agentstorm's standalone simulated
# gateway) on loopback, and running agentstorm with a scenario from scripts/bench/scenarios.
# Every process started here is stopped by its own pid on exit; nothing is killed by name.
# Figures are read from results.json with results.py, never from console output.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)
BIN=${AGENTSTORM_BIN:-$REPO/target/release/agentstorm}
PY="python3 $BENCH_DIR/results.py"
# Pairs per figure (the figure is the median ratio of PAIRS alternated pairs).
PAIRS=${PAIRS:-5}

BENCH_PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentstorm-bench.XXXXXX")

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    if [ -n "${KEEP_WORK:-}" ]; then
        echo "bench: scratch kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap bench_cleanup EXIT

die() {
    echo "bench: $*" >&2
    exit 3
}

need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || die "$t not found (see BENCHMARKS.md: apt-get install -y wrk nginx; cargo install oha)"
    done
}

need_bin() {
    [ -x "$BIN" ] || die "$BIN missing: cargo build --release"
}

# need_floor_bin: sets FLOOR_BIN to hyper's floor (examples/hyper_floor.rs), built if missing.
need_floor_bin() {
    FLOOR_BIN=${FLOOR_BIN:-$REPO/target/release/examples/hyper_floor}
    [ -x "$FLOOR_BIN" ] && return 0
    echo "bench: building hyper's floor (cargo build --release --example hyper_floor)" >&2
    (cd "$REPO" && cargo build --quiet --release --example hyper_floor) || die "could not build hyper_floor"
}

# The open-file limit the benchmarks need (wrk and nginx at 1,000 connections, agents).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# wait_line FILE PATTERN [SECONDS]: waits until FILE holds a line matching PATTERN.
wait_line() {
    local i limit=$((${3:-10} * 20))
    for ((i = 0; i < limit; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    cat "$1" >&2 2>/dev/null || true
    die "timed out waiting for '$2' in $1"
}

# self_signed_cert DIR: DIR/cert.pem and DIR/key.pem for 127.0.0.1 / localhost (not a CA,
# so rustls accepts it as the server's own certificate when trusted directly).
self_signed_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=localhost" -keyout "$1/key.pem" -out "$1/cert.pem" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -addext "basicConstraints=critical,CA:FALSE" >/dev/null 2>&1 ||
        die "openssl could not make a certificate"
}

# start_nginx WORKERS HTTP_PORT HTTPS_PORT [STATUS_PORT]: the canned gateway of
# nginx/canned-gateway.conf; its request counter (stub_status) is served at
# STUB_URL=http://127.0.0.1:STATUS_PORT/status (default port 18081).
start_nginx() {
    need nginx openssl
    local dir="$WORK/nginx"
    mkdir -p "$dir"
    self_signed_cert "$dir"
    STUB_URL="http://127.0.0.1:${4:-18081}/status"
    sed -e "s|@WORKERS@|$1|" -e "s|@HTTP_PORT@|$2|" -e "s|@HTTPS_PORT@|$3|" \
        -e "s|@STATUS_PORT@|${4:-18081}|" \
        -e "s|@PREFIX@|$dir|g" "$BENCH_DIR/nginx/canned-gateway.conf" >"$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr" &
    BENCH_PIDS+=($!)
    local i
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null "http://127.0.0.1:$2/agentgateway/resource/agentevent/1001" && return 0
        sleep 0.05
    done
    cat "$dir/stderr" >&2
    die "nginx did not start"
}

# start_gateway NAME CONFIG [gateway args...]: agentstorm's standalone simulated gateway.
# Sets GW_URL (its base URL) and GW_CERT (its certificate, for --ca-file; HTTPS only).
# GATEWAY_THREADS (default: all cores) sets its tokio worker threads.
start_gateway() {
    local name=$1 config=$2
    shift 2
    local out="$WORK/$name.out" cert_args=()
    GW_CERT="$WORK/$name-cert.pem"
    case " $* " in
        *" --plain-http "*) GW_CERT= ;;
        *) cert_args=(--cert-out "$GW_CERT") ;;
    esac
    TOKIO_WORKER_THREADS=${GATEWAY_THREADS:-$(nproc)} "$BIN" gateway --config "$config" \
        "${cert_args[@]}" "$@" >"$out" 2>&1 &
    BENCH_PIDS+=($!)
    wait_line "$out" "gateway listening on" 10
    GW_URL=$(sed -n 's/.*gateway listening on \([^ ]*\).*/\1/p' "$out" | head -1)
}

# harness SCENARIO OUT_DIR [agentstorm run args...]: one agentstorm run, quiet, bounded by
# the scenario's own plan; its results.json lands in OUT_DIR. Exit 1 (a threshold) is fine.
harness() {
    local scenario=$1 out=$2
    shift 2
    local rc=0
    "$BIN" run "$BENCH_DIR/scenarios/$scenario" --out "$out" --quiet "$@" \
        >"$out.stdout" 2>"$out.stderr" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
        cat "$out.stderr" >&2
        die "agentstorm run $scenario exited $rc"
    fi
    [ -f "$out/results.json" ] || die "no results.json in $out"
}

# counted CONNS COMMAND...: requests/s of COMMAND's steady window as nginx counted them
# (stub_status at STUB_URL, sampled by stub_rate.py), never the tool's own figure.
counted() {
    local conns=$1
    shift
    python3 "$BENCH_DIR/stub_rate.py" "$STUB_URL" "$conns" -- "$@"
}

# sim_counted ENDPOINT COMMAND...: requests/s on ENDPOINT (`login`, ...) of COMMAND's
# steady window as agentstorm's simulated gateway at GW_URL counted them (its stats,
# trusting GW_CERT over HTTPS), never the tool's own figure.
sim_counted() {
    local endpoint=$1 ca=()
    shift
    [ -n "${GW_CERT:-}" ] && ca=(--cafile "$GW_CERT")
    python3 "$BENCH_DIR/stub_rate.py" "$GW_URL/agentstorm/v1/stats" --sim "$endpoint" "${ca[@]}" -- "$@"
}

# wrk_rps URL CONNS SECONDS: requests/s of wrk (WRK_THREADS threads, default 2) as nginx
# counted them; wrk's own errors are reported.
wrk_rps() {
    local log="$WORK/wrk.$$.log" rate
    rate=$(counted "$2" wrk -t"${WRK_THREADS:-2}" -c"$2" -d"$3s" --timeout 10s "$1" 2>"$log") || true
    [ -n "$rate" ] || { cat "$log" >&2; die "no server-counted rate for wrk"; }
    if grep -q "Non-2xx\|Socket errors" "$log"; then
        echo "bench: wrk saw errors: $(cat "$log")" >&2
    fi
    echo "$rate"
}

# oha_rps CONNS ARGS...: requests/s of oha as nginx counted them.
oha_rps() {
    local conns=$1 log="$WORK/oha.$$.log" rate
    shift
    rate=$(counted "$conns" oha --no-tui "$@" 2>"$log") || true
    [ -n "$rate" ] || { cat "$log" >&2; die "no server-counted rate for oha"; }
    echo "$rate"
}

# median X...
median() { $PY median "$@"; }
ratio() { $PY ratio "$1" "$2"; }
