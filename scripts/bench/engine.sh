#!/usr/bin/env bash
# Request engine against wrk (issue 6 item 1). nginx (nginx/canned-gateway.conf, one
# worker) answers sign-in, poll (at once, with one event) and logout with fixed JSON. For
# each thread count T, connection count N and scheme: PAIRS pairs, each one agentstorm run
# (N agents polling with no gap for SECONDS, at its defaults on T cores: TOKIO_WORKER_THREADS
# sizes the runtime; the harness runs the agents on 1 lane at 64, 2 at 1,000, up to T)
# and one wrk run (-t T, N connections, the same poll URL, SECONDS), alternating which
# goes first; oha (-c N, --worker-threads T) runs beside each pair, and so does hyper's floor
# (examples/hyper_floor.rs: hyper 1.x's client with agentstorm's connection settings and
# TLS config, and none of its own work). Prints requests/s medians and the median of the
# per-pair ratios agentstorm/wrk (targets: >= 0.8 over HTTP, >= 0.95 over HTTPS),
# oha/wrk, floor/wrk and agentstorm/floor (the share of what hyper itself reaches that
# agentstorm keeps).
# Every rate is nginx's own count (stub_status, sampled by stub_rate.py) over the span in
# which all N connections were open, less a second at each end: no tool's own accounting
# enters a figure.
#
# Usage: scripts/bench/engine.sh           (after cargo build --release)
# Env:   THREADS="1 2"  CONNS="64 1000"  SCHEMES="http https"  SECONDS_PER_RUN=10  PAIRS=5
#        NGINX_WORKERS=1  OHA=1 (0: skip oha)  FLOOR=1 (0: skip hyper's floor)
#        KEEP_WORK=1 (keep every results.json)
# Needs: wrk, nginx, openssl, curl, python3; oha for its column.
source "$(dirname "$0")/lib.sh"
need wrk nginx openssl curl python3
need_bin
THREADS=${THREADS:-"1 2"}
CONNS=${CONNS:-"64 1000"}
SCHEMES=${SCHEMES:-"http https"}
SECS=${SECONDS_PER_RUN:-10}
HTTP_PORT=${HTTP_PORT:-18080}
HTTPS_PORT=${HTTPS_PORT:-18443}
OHA=${OHA:-1}
command -v oha >/dev/null || OHA=0
FLOOR=${FLOOR:-1}
[ "$FLOOR" = 1 ] && need_floor_bin

start_nginx "${NGINX_WORKERS:-1}" "$HTTP_PORT" "$HTTPS_PORT"
CA="$WORK/nginx/cert.pem"
POLL_PATH=/agentgateway/resource/agentevent/100001

agentstorm_rps() { # threads scheme conns tag
    local port=$HTTP_PORT extra=()
    if [ "$2" = https ]; then
        port=$HTTPS_PORT
        extra=(--ca-file "$CA")
    fi
    local out="$WORK/as-$4" rate
    # N arrivals within 0.1 s, each agent polling for SECS: nginx counts the requests
    # while all N connections are open (sign-ins and sign-outs fall outside the window).
    rate=$(TOKIO_WORKER_THREADS=$1 counted "$3" "$BIN" run "$BENCH_DIR/scenarios/engine.toml" \
        --out "$out" --quiet --target "$2://127.0.0.1:$port" "${extra[@]}" \
        --set "agents.ids=\"100001-$((100000 + $3))\"" \
        --set "load.stages=[{ hold = \"100ms\", rate = $(($3 * 10)) }, { hold = \"$((SECS + 10))s\", rate = 0 }]" \
        --set "load.max_in_flight=$3" --set "session.hold=\"${SECS}s\"" 2>"$out.log") || true
    [ -n "$rate" ] && [ -f "$out/results.json" ] || { cat "$out.log" >&2; die "agentstorm run failed ($4)"; }
    local terr
    terr=$($PY "$out/results.json" get operations.poll.transport_errors)
    [ "$terr" = 0 ] || echo "bench: agentstorm saw $terr poll transport errors ($4)" >&2
    echo "  $4: agentstorm's own count $($PY "$out/results.json" steady poll 1 "$SECS")/s, nginx's $rate/s" >&2
    echo "$rate"
}

# floor_rps PORT CONNS THREADS SCHEME: requests/s of hyper's floor as nginx counted them.
floor_rps() {
    local log="$WORK/floor.$$.log" rate
    rate=$(
        [ "$4" = https ] && export AGENTSTORM_FLOOR_CA="$CA"
        AGENTSTORM_FLOOR_TARGET="127.0.0.1:$1" AGENTSTORM_FLOOR_PATH="$POLL_PATH" \
            AGENTSTORM_FLOOR_CONNS=$2 AGENTSTORM_FLOOR_THREADS=$3 AGENTSTORM_FLOOR_SECONDS=$SECS \
            counted "$2" "$FLOOR_BIN" 2>"$log"
    ) || true
    [ -n "$rate" ] || { cat "$log" >&2; die "no server-counted rate for hyper_floor"; }
    echo "$rate"
}

printf '%-3s %-6s %-6s %10s %10s %10s %10s %8s %8s %9s %9s\n' T conns scheme agentstorm wrk oha floor \
    'as/wrk' 'oha/wrk' 'floor/wrk' 'as/floor'
for t in $THREADS; do
    for n in $CONNS; do
        for scheme in $SCHEMES; do
            port=$HTTP_PORT
            [ "$scheme" = https ] && port=$HTTPS_PORT
            url="$scheme://127.0.0.1:$port$POLL_PATH"
            as=() wr=() oh=() fl=() ratios=() oratios=() fratios=() afratios=()
            for ((p = 1; p <= PAIRS; p++)); do
                tag="t$t-n$n-$scheme-$p"
                if ((p % 2)); then
                    a=$(agentstorm_rps "$t" "$scheme" "$n" "$tag")
                    w=$(WRK_THREADS=$t wrk_rps "$url" "$n" "$SECS")
                else
                    w=$(WRK_THREADS=$t wrk_rps "$url" "$n" "$SECS")
                    a=$(agentstorm_rps "$t" "$scheme" "$n" "$tag")
                fi
                as+=("$a") wr+=("$w") ratios+=("$(ratio "$a" "$w")")
                o=-
                if [ "$OHA" = 1 ]; then
                    o=$(oha_rps "$n" -z "${SECS}s" -c "$n" --worker-threads "$t" --insecure "$url")
                    oh+=("$o") oratios+=("$(ratio "$o" "$w")")
                fi
                f=-
                if [ "$FLOOR" = 1 ]; then
                    f=$(floor_rps "$port" "$n" "$t" "$scheme")
                    fl+=("$f") fratios+=("$(ratio "$f" "$w")") afratios+=("$(ratio "$a" "$f")")
                fi
                echo "  $tag: agentstorm $a wrk $w oha $o floor $f" >&2
            done
            om=- orm=- fm=- frm=- afrm=-
            if [ "$OHA" = 1 ]; then
                om=$(median "${oh[@]}") orm=$(median "${oratios[@]}")
            fi
            if [ "${#fl[@]}" -gt 0 ]; then
                fm=$(median "${fl[@]}") frm=$(median "${fratios[@]}") afrm=$(median "${afratios[@]}")
            fi
            printf '%-3s %-6s %-6s %10.0f %10.0f %10s %10s %8.2f %8s %9s %9s\n' "$t" "$n" "$scheme" \
                "$(median "${as[@]}")" "$(median "${wr[@]}")" "${om%.*}" "${fm%.*}" \
                "$(median "${ratios[@]}")" "$orm" "$frm" "$afrm"
        done
    done
done
