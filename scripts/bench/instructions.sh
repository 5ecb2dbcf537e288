#!/usr/bin/env bash
# User-space instructions per request (issue 6 item 1, the noise-free view). Requests/s on
# a shared 2-core machine moves ±10-15 % from run to run; the instructions a client
# executes per request do not. Each client runs under valgrind's callgrind against the
# canned nginx gateway (nginx/canned-gateway.conf) twice, a short and a long run, and the
# difference in instructions over the difference in requests is its cost per request:
# start-up, report writing and once-a-second work cancel out. Kernel work (the socket
# calls, the same for every client) is not counted. Under valgrind every client runs about
# 40 times slower, so once-a-second work (agentstorm's collector: merging shards, interval
# histograms, the HdrHistogram log) is shared among 40 times fewer requests than at full
# speed and weighs far more than it does there. So agentstorm has a second row,
# `agentstorm-agents`: the same difference counted in the threads it spawns only (the
# tokio workers that run the agents and the arrival thread), without the main thread
# where that collector runs.
#
# Clients: agentstorm (N agents polling with no gap, the engine scenario), oha (-c N),
# wrk (-c N) and hyper's floor (examples/hyper_floor.rs: hyper 1.x's client with
# agentstorm's connection settings and TLS config, and none of its own work; its own
# request count),
# all on the same poll URL over keep-alive connections.
#
# Usage: scripts/bench/instructions.sh     (after cargo build --release)
# Env:   SCHEME=http|https  CONNS=16  SHORT=3  LONG=10 (seconds of polling)  OHA=1  WRK=1
#        FLOOR=1
# Needs: valgrind, nginx, openssl, python3; oha and wrk for their rows.
source "$(dirname "$0")/lib.sh"
need valgrind nginx openssl python3
need_bin
N=${CONNS:-16}
SHORT=${SHORT:-3}
LONG=${LONG:-10}
OHA=${OHA:-1}
WRK=${WRK:-1}
command -v oha >/dev/null || OHA=0
command -v wrk >/dev/null || WRK=0
SCHEME=${SCHEME:-http}
FLOOR=${FLOOR:-1}
[ "$FLOOR" = 1 ] && need_floor_bin
HTTP_PORT=${HTTP_PORT:-18080}
HTTPS_PORT=$((HTTP_PORT + 1))
start_nginx 1 "$HTTP_PORT" "$HTTPS_PORT" $((HTTP_PORT + 2))
case $SCHEME in
http) TARGET=(--target "http://127.0.0.1:$HTTP_PORT") PORT=$HTTP_PORT ;;
https) TARGET=(--target "https://127.0.0.1:$HTTPS_PORT" --ca-file "$WORK/nginx/cert.pem") PORT=$HTTPS_PORT ;;
*) die "SCHEME must be http or https" ;;
esac
URL="$SCHEME://127.0.0.1:$PORT/agentgateway/resource/agentevent/100001"

# callgrind OUT CMD...: runs CMD under callgrind; prints its total instruction count.
callgrind() {
    local out=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$out.stdout" 2>"$out.stderr" ||
        die "valgrind $1 failed (see $out.stderr)"
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

# spawned_ir OUT: instructions in the threads the program spawned (not its main thread).
spawned_ir() {
    callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$1" |
        awk '/std::sys::thread::unix::Thread>::new::thread_start/ && !n {gsub(",", "", $1); n = $1}
             END {print n}'
}

# marginal NAME IR_SHORT REQ_SHORT IR_LONG REQ_LONG: one result row.
marginal() {
    python3 - "$@" <<'EOF'
import sys
name, a_ir, a_n, b_ir, b_n = sys.argv[1], *map(int, sys.argv[2:])
if a_n == 0:
    sys.exit(f"bench: {name}: the short run made no requests (still starting); raise SHORT")
if b_n <= a_n:
    sys.exit(f"bench: {name}: the long run made no more requests than the short one")
print(f"{name:<17} {a_n:>9} {b_n:>9} {round((b_ir - a_ir) / (b_n - a_n)):>12}")
EOF
}

agentstorm_run() { # seconds tag -> "instructions requests"
    local out="$WORK/as-$2"
    local ir
    ir=$(TOKIO_WORKER_THREADS=2 callgrind "$WORK/cg-as-$2" "$BIN" run \
        "$BENCH_DIR/scenarios/engine.toml" --out "$out" --quiet "${TARGET[@]}" \
        --set "agents.ids=\"100001-$((100000 + N))\"" \
        --set "load.stages=[{ hold = \"100ms\", rate = $((N * 10)) }, { hold = \"$(($1 + 30))s\", rate = 0 }]" \
        --set "load.max_in_flight=$N" --set "session.hold=\"${1}s\"")
    echo "$ir $($PY "$out/results.json" get operations.poll.ok)"
}

oha_run() { # seconds tag
    local ir
    ir=$(callgrind "$WORK/cg-oha-$2" oha --no-tui --output-format json -z "${1}s" -c "$N" \
        --worker-threads 2 --insecure "$URL")
    echo "$ir $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sum(d['statusCodeDistribution'].values()))" "$WORK/cg-oha-$2.stdout")"
}

wrk_run() { # seconds tag
    local ir
    ir=$(callgrind "$WORK/cg-wrk-$2" wrk -t2 -c"$N" -d"${1}s" "$URL")
    echo "$ir $(awk '/requests in/ {print $1; exit}' "$WORK/cg-wrk-$2.stdout")"
}

floor_run() { # seconds tag
    local ir
    ir=$(
        [ "$SCHEME" = https ] && export AGENTSTORM_FLOOR_CA="$WORK/nginx/cert.pem"
        AGENTSTORM_FLOOR_TARGET="127.0.0.1:$PORT" AGENTSTORM_FLOOR_CONNS=$N \
            AGENTSTORM_FLOOR_SECONDS=$1 callgrind "$WORK/cg-floor-$2" "$FLOOR_BIN"
    )
    echo "$ir $(sed -n 's/^hyper_floor: \([0-9]*\) requests.*/\1/p' "$WORK/cg-floor-$2.stderr")"
}

printf '%-17s %9s %9s %12s\n' client 'req short' 'req long' 'instr/req'
for client in agentstorm oha wrk floor; do
    case $client in
    oha) [ "$OHA" = 1 ] || continue ;;
    wrk) [ "$WRK" = 1 ] || continue ;;
    floor) [ "$FLOOR" = 1 ] || continue ;;
    esac
    read -r a_ir a_n < <("${client}_run" "$SHORT" short)
    read -r b_ir b_n < <("${client}_run" "$LONG" long)
    marginal "$client" "$a_ir" "$a_n" "$b_ir" "$b_n"
    if [ "$client" = agentstorm ]; then
        a_sp=$(spawned_ir "$WORK/cg-as-short") b_sp=$(spawned_ir "$WORK/cg-as-long")
        [ -n "$a_sp" ] && [ -n "$b_sp" ] || die "no spawned-thread total in agentstorm's profile"
        marginal agentstorm-agents "$a_sp" "$a_n" "$b_sp" "$b_n"
    fi
done
