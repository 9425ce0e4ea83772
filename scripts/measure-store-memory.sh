#!/usr/bin/env bash
# Store mode's memory prediction against what the process really holds (docs/SERVER.md,
# "Memory admission"): for each GGUF given, a fresh temp store and a fresh `hearth serve`
# (store mode, -t 2), then the load time (the server's log), the predicted size (/api/ps), and
# the server's VmRSS before the load, after it, and after a 256-token generation.
#   scripts/measure-store-memory.sh A.gguf [B.gguf ...]
#   SERVE_ARGS="--slots 1 --ctx 300" scripts/measure-store-memory.sh ...   (a KV cache the 256
#   tokens nearly fill: the prediction counts the whole KV, RSS only the pages written)
set -euo pipefail
BIN=${HEARTH_BIN:-$(dirname "$0")/../build/release/hearth}
port=18731
printf '%-16s %12s %8s %12s %12s %14s\n' model file load_ms predicted 'RSS +load' 'RSS +256 tok'
for f in "$@"; do
    home=$(mktemp -d)
    HEARTH_HOME=$home "$BIN" import "$f" --name m >/dev/null 2>&1
    log=$home/serve.log
    HEARTH_HOME=$home "$BIN" serve -t 2 --port $port --max-memory 64G ${SERVE_ARGS:-} >"$log" 2>&1 &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.1; done
    rss() { awk '/VmRSS/ {print $2 * 1024}' /proc/$pid/status; }
    idle=$(rss)
    curl -sf "http://127.0.0.1:$port/api/generate" -H 'Content-Type: application/json' -d '{"model":"m"}' >/dev/null
    loaded=$(rss)
    pred=$(curl -sf "http://127.0.0.1:$port/api/ps" | python3 -c 'import json,sys; print(json.load(sys.stdin)["models"][0]["size"])')
    curl -sf "http://127.0.0.1:$port/api/generate" -H 'Content-Type: application/json' \
        -d '{"model":"m","prompt":"Once upon a time","raw":true,"stream":false,"options":{"num_predict":256,"temperature":0}}' >/dev/null
    gen=$(rss)
    ms=$(sed -n "s/.*'m' loaded in \([0-9]*\) ms.*/\1/p" "$log")
    kill $pid; wait $pid 2>/dev/null || true
    mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
    printf '%-16s %12s %8s %12s %12s %14s\n' "$(basename "$f")" "$(mib "$(stat -c %s "$f")")" "$ms" "$(mib "$pred")" \
        "$(mib $((loaded - idle)))" "$(mib $((gen - idle)))"
    rm -rf "$home"
done
