#!/usr/bin/env bash
# Sign-in storm over fresh TLS connections (issue 6 item 6): agentstorm's sign-ins per
# second, every agent on its own new connection (full TLS handshake, no resumption),
# against oha --disable-keepalive (one new connection per request) signing in random agent
# ids on the same simulated gateway. Each run gets a freshly started gateway (so every
# sign-in is a first sign-in); PAIRS pairs alternate which goes first. Prints the medians
# and the median per-pair ratio (target: agentstorm >= 1.0x oha). Every rate is the
# gateway's own count of sign-in requests (its stats, sampled by stub_rate.py --sim) over
# the span in which that count grew, less a second at each end; agentstorm's own figure
# is printed beside it on stderr.
#
# Usage: scripts/bench/storm.sh            (after cargo build --release)
# Env:   CONC=64 (agents in flight / oha connections)  ARRIVALS=20000  SECONDS_PER_RUN=8
#        PAIRS=5  THREADS=2 (harness and oha worker threads)  GATEWAY_THREADS=2
# Needs: oha, python3.
source "$(dirname "$0")/lib.sh"
need oha python3
need_bin
CONC=${CONC:-64}
ARRIVALS=${ARRIVALS:-20000}
SECS=${SECONDS_PER_RUN:-8}
THREADS=${THREADS:-2}
PORT=${GW_PORT:-18543}

cat >"$WORK/gateway.toml" <<'TOML'
# Defaults of the simulated gateway; sign-ins answer at once.
inactivity_timeout = "10m"
TOML

fresh_gateway() {
    start_gateway "gw-$1" "$WORK/gateway.toml" --listen "127.0.0.1:$PORT"
    GW_PID=${BENCH_PIDS[-1]}
}
stop_gateway() {
    kill "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
}

agentstorm_rate() { # tag
    fresh_gateway "as-$1"
    local out="$WORK/as-$1" rate
    rate=$(TOKIO_WORKER_THREADS=$THREADS sim_counted login "$BIN" run "$BENCH_DIR/scenarios/storm.toml" \
        --out "$out" --quiet --target "$GW_URL" --ca-file "$GW_CERT" \
        --set "agents.ids=\"100001-$((100000 + ARRIVALS))\"" \
        --set "load.stages=[{ hold = \"$((ARRIVALS / 10000)).$((ARRIVALS % 10000 / 10))s\", rate = 10000 }]" \
        --set "load.max_in_flight=$CONC" 2>"$out.log") || true
    stop_gateway
    [ -n "$rate" ] && [ -f "$out/results.json" ] || { cat "$out.log" >&2; die "agentstorm run failed ($1)"; }
    local count terr dur
    count=$($PY "$out/results.json" get operations.signin.ok)
    terr=$($PY "$out/results.json" get operations.signin.transport_errors)
    dur=$($PY "$out/results.json" get duration_s)
    [ "$terr" = 0 ] || echo "bench: agentstorm saw $terr sign-in transport errors ($1)" >&2
    echo "  $1: agentstorm's own count $(python3 -c "print(round($count / $dur, 1))")/s over the whole run, the gateway's $rate/s" >&2
    echo "$rate"
}

oha_rate() { # tag
    fresh_gateway "oha-$1"
    local url="https://127.0.0.1:$PORT/agentgateway/resource/onlineagent/[1-9][0-9]{5}"
    local rate
    rate=$(sim_counted login oha --no-tui -z "${SECS}s" -c "$CONC" --worker-threads "$THREADS" --disable-keepalive \
        --cacert "$GW_CERT" --rand-regex-url -m PUT \
        -H 'Content-Type: application/json; charset=UTF-8' \
        -d '{"password":"","phonenum":"7100001","status":4,"agenttype":4,"releasephone":true,"checkInWebm":false}' \
        "$url" 2>"$WORK/oha-$1.log") || true
    stop_gateway
    [ -n "$rate" ] || { cat "$WORK/oha-$1.log" >&2; die "no gateway-counted rate for oha ($1)"; }
    echo "$rate"
}

as=() oh=() ratios=()
for ((p = 1; p <= PAIRS; p++)); do
    if ((p % 2)); then
        a=$(agentstorm_rate "$p")
        o=$(oha_rate "$p")
    else
        o=$(oha_rate "$p")
        a=$(agentstorm_rate "$p")
    fi
    as+=("$a") oh+=("$o") ratios+=("$(ratio "$a" "$o")")
    echo "  pair $p: agentstorm $a sign-ins/s, oha $o requests/s" >&2
done
printf '%-6s %-8s %14s %14s %10s\n' conc threads agentstorm/s oha/s 'as/oha'
printf '%-6s %-8s %14.0f %14.0f %10.2f\n' "$CONC" "$THREADS" "$(median "${as[@]}")" \
    "$(median "${oh[@]}")" "$(median "${ratios[@]}")"
