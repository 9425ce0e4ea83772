#!/usr/bin/env bash
# bench-ab.sh — before/after generation speed of two hearth binaries on one model, interleaved one
# repetition at a time (A, B, A, B ...) so both see the same machine load; prints per run the
# tg t/s, the GB/s of weights a token reads (hearth bench's active_bytes), the load average at the
# start, the process's peak RSS and its user/system CPU seconds and wall time.
#   scripts/bench-ab.sh BASE_BINARY NEW_BINARY MODEL.gguf
# Env: R (rounds, default 3), TS (thread counts, default "2 1"), N (generated tokens, default 32).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: scripts/bench-ab.sh BASE_BINARY NEW_BINARY MODEL.gguf" >&2; exit 2; }
a=$1 b=$2 m=$3
tf=$(mktemp)
trap 'rm -f "$tf"' EXIT
for ((r = 1; r <= ${R:-3}; r++)); do
    for t in ${TS:-2 1}; do
        for which in base new; do
            bin=$a
            [ "$which" = new ] && bin=$b
            la=$(cut -d' ' -f1 /proc/loadavg)
            out=$(/usr/bin/time -o "$tf" -f "%U %S %e" "$bin" bench "$m" -p 0 -n "${N:-32}" -t "$t" -r 1 --json)
            ts=$(node -e 'const a = JSON.parse(require("fs").readFileSync(0, "utf8"));
                          console.log(a[0].tokens_per_s.toFixed(3), (a[0].tokens_per_s * a[0].active_bytes / 1e9).toFixed(2) +
                                      "; peak RSS MB " + (a[0].max_rss_bytes / 1e6).toFixed(0))' <<<"$out")
            echo "round $r threads $t $which: tg t/s, GB/s $ts; load $la; cpu user sys wall $(cat "$tf")"
        done
    done
done
