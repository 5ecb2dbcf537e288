#!/usr/bin/env bash
# Measurement overhead (issue 6 item 4): against a standalone simulated gateway whose
# sign-in and sign-out take a fixed 5 ms (gateway-5ms.toml), at about 500 requests/s,
# agentstorm's sign-out p50 (raw and corrected; sign-out runs on the agent's kept
# connection) beside oha's p50 at 500 requests/s of sign-outs (-q 500, 50 connections,
# random agent ids, each answered 100-006 after the same 5 ms). The target is agentstorm's
# p50 within 0.5 ms of 5 ms; oha's p50 shows what the gateway's timer and the loopback add
# on their own. PAIRS pairs, alternating which goes first; each agentstorm run signs in a
# fresh id range.
#
# Usage: scripts/bench/overhead.sh         (after cargo build --release)
# Env:   PAIRS=5  SECS=20  SCHEME=http (or https)  GATEWAY_THREADS=1
#        GATEWAY_CONFIG=gateway-5ms.toml (gateway-0ms.toml: no service time, the floor)
# Needs: oha, python3.
source "$(dirname "$0")/lib.sh"
need oha python3
need_bin
SECS=${SECS:-20}
SCHEME=${SCHEME:-http}
PORT=${GW_PORT:-18743}
export GATEWAY_THREADS=${GATEWAY_THREADS:-1}

args=(--listen "127.0.0.1:$PORT")
[ "$SCHEME" = http ] && args+=(--plain-http)
start_gateway gw "$BENCH_DIR/${GATEWAY_CONFIG:-gateway-5ms.toml}" "${args[@]}"
extra=()
[ "$SCHEME" = https ] && extra=(--ca-file "$GW_CERT")

base="$GW_URL/agentgateway/resource"

agentstorm_p50() { # tag -> "raw corrected"
    local out="$WORK/as-$1"
    local first=$((100001 + $1 * 10000))
    harness overhead.toml "$out" --target "$GW_URL" "${extra[@]}" \
        --set "agents.ids=\"$first-$((first + 9999))\"" \
        --set "load.stages=[{ hold = \"${SECS}s\", rate = 125 }]"
    local total
    total=$(python3 -c "import json; d=json.load(open('$out/results.json')); print(sum(v['count'] for k,v in d['operations'].items() if k in ('signin','forcelogin','poll','logout')))")
    echo "$($PY "$out/results.json" pct operations.logout.raw 50)" \
        "$($PY "$out/results.json" pct operations.logout.corrected 50)" \
        "$(python3 -c "print(round($total / $SECS))")"
}

oha_p50() {
    oha --no-tui --output-format json -q 500 -z "${SECS}s" -c 50 --insecure -m DELETE \
        --rand-regex-url "$base/onlineagent/[1-9][0-9]{5}/logout" 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["latencyPercentiles"]["p50"]*1000,3), round(d["summary"]["requestsPerSec"]))'
}

raws=() cors=() ohs=()
printf '%-5s %12s %14s %10s %10s %10s\n' pair 'as raw p50' 'as corr. p50' 'as req/s' 'oha p50' 'oha req/s'
for ((p = 1; p <= PAIRS; p++)); do
    if ((p % 2)); then
        read -r raw cor rps < <(agentstorm_p50 "$p")
        read -r o orps < <(oha_p50)
    else
        read -r o orps < <(oha_p50)
        read -r raw cor rps < <(agentstorm_p50 "$p")
    fi
    raws+=("$raw") cors+=("$cor") ohs+=("$o")
    printf '%-5s %12s %14s %10s %10s %10s\n' "$p" "$raw" "$cor" "$rps" "$o" "$orps"
done
echo "median p50 (ms): agentstorm raw $(median "${raws[@]}"), corrected $(median "${cors[@]}"); oha $(median "${ohs[@]}") (target: within 0.5 ms of 5 ms)"
