#!/usr/bin/env bash
# Scale (issue 6 item 2).
#   MODE=single: 19,000 agents (AGENTS) sign in at 1,000/s and stay signed in, long-polling
#     (10 s gateway poll wait), all at once, in one harness process against one standalone
#     simulated gateway process, over SCHEME (http or https). Prints how many reached
#     ready, transport errors, the harness's and the gateway's peaks of signed-in agents,
#     and the harness's peak RSS per agent: the whole process's peak by /usr/bin/time -v
#     (and, beside it, the largest interval RSS in results.json). Targets, with the
#     scenario's defaults (READ_BUFFER unset): all ready, no transport errors, <= 20 KiB
#     per agent over HTTP, <= 40 KiB over HTTPS.
#   MODE=multi: SHARDS (3) harness processes (`agentstorm run --shard K/3`, started
#     together with --start-at) against SHARDS gateway processes, AGENTS per shard
#     (57,000 in all), merged by `agentstorm merge` into one report. Target: all ready.
# Each harness process opens its connections from SOURCES (target.source_addresses,
# default 127.0.0.2-127.0.0.5) in turn, each socket bound with IP_BIND_ADDRESS_NO_PORT:
# one source/destination pair gets ~28,000 ephemeral ports and connect() slows sharply
# past ~14,000 on one pair. With 4 sources and one gateway per process, no pair carries
# more than AGENTS/4 (4,750 at the defaults); the harness warns if AGENTS exceeds 14,000
# per source.
#
# Usage: MODE=single SCHEME=http scripts/bench/scale.sh      (after cargo build --release)
# Env:   AGENTS=19000  RATE=1000  HOLD=40s  SHARDS=3  GATEWAY_THREADS=2  THREADS= (harness)
#        SOURCES=127.0.0.2-127.0.0.5 (comma-separated addresses or IPv4 ranges)
#        READ_BUFFER= (target.read_buffer_bytes: unset keeps the scenario default, 2048;
#        a size in bytes, or "adaptive" for hyper's own buffer)
# Needs: python3, /usr/bin/time (Debian: time). The open-file limit must allow AGENTS + 64 per process (this script
# raises the soft limit to the hard one).
source "$(dirname "$0")/lib.sh"
need python3 /usr/bin/time
need_bin
MODE=${MODE:-single}
SCHEME=${SCHEME:-http}
AGENTS=${AGENTS:-19000}
RATE=${RATE:-1000}
HOLD=${HOLD:-40s}
SHARDS=${SHARDS:-3}
PORT=${GW_PORT:-18943}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.5}
# SOURCES as a TOML list for --set: "a,b-c" -> ["a", "b-c"].
sources_toml="[\"${SOURCES//,/\", \"}\"]"
READ_BUFFER=${READ_BUFFER:-}
buffer_args=()
case "$READ_BUFFER" in
    "") ;;
    adaptive) buffer_args=(--set 'target.read_buffer_bytes="adaptive"') ;;
    *) buffer_args=(--set "target.read_buffer_bytes=$READ_BUFFER") ;;
esac
[ -n "${THREADS:-}" ] && export TOKIO_WORKER_THREADS=$THREADS
echo "open files: soft $(ulimit -Sn), hard $(ulimit -Hn)" >&2

cat >"$WORK/gateway.toml" <<'TOML'
# Defaults (10 s poll wait); sessions outlive the run's quiet moments.
inactivity_timeout = "5m"
TOML

gateway_args() { # port
    local a=(--listen "127.0.0.1:$1")
    [ "$SCHEME" = http ] && a+=(--plain-http)
    echo "${a[@]}"
}

# peak_kib FILE: the whole process's peak resident set (KiB) from /usr/bin/time -v's
# report in FILE (the kernel's high-water mark, the same figure as VmHWM); 0 if absent.
peak_kib() {
    awk -F': ' '/Maximum resident set size/ {print $2; found = 1} END {if (!found) print 0}' "$1" 2>/dev/null || echo 0
}

summary() { # results.json agents label
    python3 - "$1" "$2" "$3" "${4:-0}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); agents = int(sys.argv[2]); hwm_kib = int(sys.argv[4])
s = d["sessions"]; ops = d["operations"]
terr = sum(op["transport_errors"] for op in ops.values())
rss = max((iv.get("rss_bytes", 0) for iv in d["intervals"]), default=0)
gw = d.get("gateway") or {}
print(f'{sys.argv[3]}: started {s["started"]}, signed in {s["signed_in"]}, ready {s["ready"]}, '
      f'clean sign-outs {s["signed_out_clean"]}, transport errors {terr}, '
      f'peak agents active {d["scheduler"]["peak_active_agents"]}, '
      f'gateway signed-in peak {gw.get("signed_in_peak", "?")}')
if rss:
    line = f'  harness RSS: largest interval {rss / 1048576:.1f} MiB = {rss / 1024 / agents:.1f} KiB/agent'
    if hwm_kib:
        line += f'; peak {hwm_kib / 1024:.1f} MiB = {hwm_kib / agents:.1f} KiB/agent'
    print(line)
PY
}

ids_for() { # first count -> "a-b"
    echo "$1-$(($1 + $2 - 1))"
}

if [ "$MODE" = single ]; then
    start_gateway gw "$WORK/gateway.toml" $(gateway_args "$PORT")
    extra=()
    [ "$SCHEME" = https ] && extra=(--ca-file "$GW_CERT")
    out="$WORK/single"
    /usr/bin/time -v -o "$out.time" "$BIN" run "$BENCH_DIR/scenarios/scale.toml" --out "$out" --quiet --target "$GW_URL" "${extra[@]}" \
        --set "agents.ids=\"$(ids_for 100001 "$AGENTS")\"" \
        --set "load.max_in_flight=$AGENTS" \
        --set "load.stages=[{ hold = \"$((AGENTS / RATE))s\", rate = $RATE }, { hold = \"90s\", rate = 0 }]" \
        --set "session.hold=\"$HOLD\"" --set "target.source_addresses=$sources_toml" "${buffer_args[@]}" \
        >"$out.stdout" 2>"$out.stderr" &
    pid=$!
    BENCH_PIDS+=("$pid")
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -le 1 ] || { cat "$out.stderr" >&2; die "agentstorm run exited $rc"; }
    summary "$out/results.json" "$AGENTS" "single $SCHEME" "$(peak_kib "$out.time")"
    exit 0
fi

# MODE=multi: one gateway and one shard process per shard, started together.
at=$(date -u -d "+5 seconds" +%Y-%m-%dT%H:%M:%SZ)
total=$((AGENTS * SHARDS))
pids=()
for ((k = 0; k < SHARDS; k++)); do
    start_gateway "gw$k" "$WORK/gateway.toml" $(gateway_args $((PORT + k)))
    extra=()
    [ "$SCHEME" = https ] && extra=(--ca-file "$GW_CERT")
    out="$WORK/shard$k"
    /usr/bin/time -v -o "$out.time" "$BIN" run "$BENCH_DIR/scenarios/scale.toml" --out "$out" --quiet --target "$GW_URL" "${extra[@]}" \
        --shard "$k/$SHARDS" --start-at "$at" \
        --set "agents.ids=\"$(ids_for 100001 "$total")\"" \
        --set "load.max_in_flight=$total" \
        --set "load.stages=[{ hold = \"$((AGENTS / RATE))s\", rate = $((RATE * SHARDS)) }, { hold = \"90s\", rate = 0 }]" \
        --set "session.hold=\"$HOLD\"" --set "target.source_addresses=$sources_toml" "${buffer_args[@]}" \
        >"$out.stdout" 2>"$out.stderr" &
    pids+=($!)
    BENCH_PIDS+=($!)
done
for ((k = 0; k < SHARDS; k++)); do
    rc=0
    wait "${pids[$k]}" || rc=$?
    [ "$rc" -le 1 ] || { cat "$WORK/shard$k.stderr" >&2; die "shard $k exited $rc"; }
    summary "$WORK/shard$k/results.json" "$AGENTS" "shard $k/$SHARDS" "$(peak_kib "$WORK/shard$k.time")"
done
"$BIN" merge "$WORK"/shard*/results.json --out "$WORK/merged" >"$WORK/merge.stdout" 2>&1 ||
    { cat "$WORK/merge.stdout" >&2; die "merge failed"; }
summary "$WORK/merged/results.json" "$total" "merged ($SHARDS processes)"
