#!/bin/sh
# Collects the shard results of an agentstorm Indexed Job (deploy/kubernetes/job.yaml) from
# its pods' logs, where each pod printed its report folder (tar.gz, base64) between marker
# lines. Then merge them:  agentstorm merge collected/shard-*/results.json --out merged
#
#   collect.sh [JOB [DIR]]              from the pods of JOB (default agentstorm) into DIR
#                                       (default ./collected), with kubectl
#   collect.sh --from-logs DIR LOG...   from saved logs (kubectl logs POD > LOG)
set -eu

extract() { # extract DIR < LOG: fails unless the log held a shard's results.json
    tmp=$(mktemp)
    sed -n '/^--- agentstorm results .* begin ---$/,/^--- agentstorm results end ---$/p' \
        | sed '1d;$d' | base64 -d > "$tmp" 2>/dev/null || true
    if tar -tzf "$tmp" 2>/dev/null | grep -q '^shard-[0-9]*/results\.json$'; then
        tar -xzf "$tmp" -C "$1"
        rm -f "$tmp"
    else
        rm -f "$tmp"
        return 1
    fi
}

if [ "${1:-}" = "--from-logs" ]; then
    [ $# -ge 3 ] || { echo "usage: $0 --from-logs DIR LOG..." >&2; exit 2; }
    dir="$2"
    shift 2
    mkdir -p "$dir"
    for log in "$@"; do
        extract "$dir" < "$log" || { echo "$log: no agentstorm results in it" >&2; exit 1; }
    done
else
    job="${1:-agentstorm}"
    dir="${2:-collected}"
    mkdir -p "$dir"
    pods=$(kubectl get pods -l "job-name=$job" -o name)
    [ -n "$pods" ] || { echo "no pods of job $job" >&2; exit 1; }
    for pod in $pods; do
        kubectl logs "$pod" | extract "$dir" || { echo "$pod: no agentstorm results in its log" >&2; exit 1; }
    done
fi
ls -d "$dir"/shard-*
