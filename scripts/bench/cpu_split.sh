#!/usr/bin/env bash
# Where a request's CPU time goes, agentstorm against hyper's floor (issue 22 item 2: where
# the cycles went). Each client polls the canned nginx gateway (nginx/canned-gateway.conf)
# over N keep-alive connections for SECONDS under `perf record` (cpu-clock samples at FREQ
# Hz, user and kernel). nginx's own request counter (stub_status), read before and after
# each run, divides the samples: microseconds of CPU per request, as the server counted the
# requests. agentstorm runs the engine scenario (as engine.sh does) on TOKIO_WORKER_THREADS
# threads; hyper's floor (examples/hyper_floor.rs) on as many.
#
# Prints, for each client, the time per request of its request threads (agentstorm's lanes
# or tokio workers; the floor's threads) in the kernel and in user space (the binary, libc,
# the vDSO's clock), then the other threads; then the TOP symbols where agentstorm's
# request threads spend the most beyond the floor's, per request. Connection set-up,
# sign-in and sign-out are inside the runs, so a shorter run weighs them more; they are the
# same few thousand requests at any length.
#
# Sampling by the clock (no hardware counters on these VMs) counts time, cache misses
# included, where callgrind (instructions.sh) counts instructions: the two disagree where a
# client's instructions wait on memory.
#
# Usage: scripts/bench/cpu_split.sh        (after cargo build --release)
# Env:   SCHEME=http|https  CONNS="64 1000"  SECONDS_PER_RUN=6  THREADS=2  FREQ=2999  TOP=25
#        KEEP_WORK=1 (keep perf.data files)
# Needs: perf, nginx, openssl, curl, python3.
source "$(dirname "$0")/lib.sh"
need perf nginx openssl curl python3
need_bin
need_floor_bin
SCHEME=${SCHEME:-http}
CONNS=${CONNS:-"64 1000"}
SECS=${SECONDS_PER_RUN:-6}
THREADS=${THREADS:-2}
FREQ=${FREQ:-2999}
TOP=${TOP:-25}
HTTP_PORT=${HTTP_PORT:-18080}
HTTPS_PORT=${HTTPS_PORT:-18443}
start_nginx 1 "$HTTP_PORT" "$HTTPS_PORT"
CA="$WORK/nginx/cert.pem"
case $SCHEME in
http) PORT=$HTTP_PORT extra=() ;;
https) PORT=$HTTPS_PORT extra=(--ca-file "$CA") ;;
*) die "SCHEME must be http or https" ;;
esac

# served: requests nginx has counted so far.
served() {
    curl -s "$STUB_URL" | awk 'NR == 3 {print $3}'
}

# profiled TAG CMD...: runs CMD under perf; prints the requests nginx counted meanwhile
# (less the two status reads).
profiled() {
    local tag=$1 before after
    shift
    before=$(served)
    perf record -q -F "$FREQ" -o "$WORK/$tag.data" -- "$@" >"$WORK/$tag.out" 2>&1 ||
        { cat "$WORK/$tag.out" >&2; die "$tag failed under perf"; }
    after=$(served)
    echo $((after - before - 1))
}

# The per-request split of one profile: perf's samples by thread and object on stdin.
SPLIT_PY=$(
    cat <<'EOF'
import re, sys
tag, requests, threads, freq = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), int(sys.argv[4])
us = lambda samples: samples / freq / requests * 1e6
rows = {}
for line in sys.stdin:
    parts = line.split()
    if len(parts) < 3 or not parts[0].isdigit():
        continue
    samples, comm, dso = int(parts[0]), parts[1], " ".join(parts[2:])
    group = "request threads" if any(comm.startswith(t) for t in threads) else "other threads"
    place = "kernel" if dso.startswith("[kernel") else ("vdso" if dso == "[vdso]" else
            ("libc" if dso.startswith("libc") else ("binary" if not dso.startswith("[") else "other")))
    rows[(group, place)] = rows.get((group, place), 0) + samples
for group in ("request threads", "other threads"):
    cells = {p: us(rows.get((group, p), 0)) for p in ("kernel", "binary", "libc", "vdso", "other")}
    user = cells["binary"] + cells["libc"] + cells["vdso"] + cells["other"]
    print(f"{tag:<11} {group:<16} {cells['kernel'] + user:7.2f} {cells['kernel']:7.2f} {user:7.2f} "
          f"{cells['binary']:7.2f} {cells['libc']:6.2f} {cells['vdso']:5.2f}")
EOF
)

# report TAG REQUESTS REQUEST_THREADS: the per-request split of one profile.
report() {
    perf report -i "$WORK/$1.data" --stdio -q --no-children --sort comm,dso -F sample,comm,dso 2>/dev/null |
        python3 -c "$SPLIT_PY" "$1" "$2" "$3" "$FREQ"
}

# symbols TAG REQUESTS REQUEST_THREADS: "microseconds-per-request<TAB>symbol" lines.
symbols() {
    perf report -i "$WORK/$1.data" --stdio -q --no-children --comms "$3" --sort sym -F sample,sym 2>/dev/null |
        awk -v n="$2" -v f="$FREQ" '$1 ~ /^[0-9]+$/ {s = $1; $1 = ""; $2 = ""; sub(/^ +/, ""); printf "%.4f\t%s\n", s / f / n * 1e6, $0}'
}

for n in $CONNS; do
    echo "== $SCHEME, $n connections, $THREADS threads, $SECS s each (microseconds per nginx-counted request)"
    as_n=$(TOKIO_WORKER_THREADS=$THREADS profiled as-$n "$BIN" run "$BENCH_DIR/scenarios/engine.toml" \
        --out "$WORK/as-$n" --quiet --target "$SCHEME://127.0.0.1:$PORT" "${extra[@]}" \
        --set "agents.ids=\"100001-$((100000 + n))\"" \
        --set "load.stages=[{ hold = \"100ms\", rate = $((n * 10)) }, { hold = \"$((SECS + 10))s\", rate = 0 }]" \
        --set "load.max_in_flight=$n" --set "session.hold=\"${SECS}s\"")
    fl_n=$(
        [ "$SCHEME" = https ] && export AGENTSTORM_FLOOR_CA="$CA"
        AGENTSTORM_FLOOR_TARGET="127.0.0.1:$PORT" AGENTSTORM_FLOOR_CONNS=$n \
            AGENTSTORM_FLOOR_THREADS=$THREADS AGENTSTORM_FLOOR_SECONDS=$SECS \
            profiled floor-$n "$FLOOR_BIN"
    )
    # agentstorm's agents run on lanes (agentstorm-lane-N) or on the runtime's workers.
    as_threads=agentstorm-lane,tokio-rt-worker
    echo "requests: agentstorm $as_n, floor $fl_n"
    printf '%-11s %-16s %7s %7s %7s %7s %6s %5s\n' client threads total kernel user binary libc vdso
    report as-$n "$as_n" "$as_threads"
    report floor-$n "$fl_n" hyper_floor
    symbols as-$n "$as_n" "$as_threads" | sort -t$'\t' -k2 >"$WORK/as-$n.sym"
    symbols floor-$n "$fl_n" hyper_floor | sort -t$'\t' -k2 >"$WORK/floor-$n.sym"
    echo "agentstorm beyond the floor, by symbol (request threads; agentstorm, floor, difference):"
    join -t$'\t' -1 2 -2 2 -a1 -a2 -e 0 -o 0,1.1,2.1 "$WORK/as-$n.sym" "$WORK/floor-$n.sym" |
        awk -F'\t' '{printf "%7.3f %7.3f %+7.3f  %s\n", $2, $3, $2 - $3, substr($1, 1, 100)}' |
        sort -k3,3 -g -r | head -"$TOP"
done
