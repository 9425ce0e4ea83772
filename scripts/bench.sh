#!/usr/bin/env bash
# make bench: prompt-processing and generation speed of hearth on generated TinyLlama-shaped models
# (Q4_0, Q8_0, Q4_K_M; random weights, real shapes) and on stories260K, measured by `hearth run`.
# With LLAMA_BENCH=/path/to/llama-bench, llama.cpp runs on the same files with the same threads,
# interleaved, and the hearth/llama.cpp ratios are printed.
# Env: BENCH_P (prompt tokens, default 512), BENCH_N (generated, default 128), BENCH_T (threads,
# default nproc), BENCH_TYPES (default "q4_0 q8_0 q4_k_m").
set -euo pipefail
cd "$(dirname "$0")/.."
P=${BENCH_P:-512}
N=${BENCH_N:-128}
T=${BENCH_T:-$(nproc)}
TYPES=${BENCH_TYPES:-"q4_0 q8_0 q4_k_m"}
SHARED=${HEARTH_SHARED:-../shared}
VOCAB=$SHARED/fixtures/vocab/ggml-vocab-llama-spm.gguf
out=build/bench
mkdir -p "$out"

models=()
for t in $TYPES; do
    f=$out/tinyllama-$t.gguf
    if [ ! -f "$f" ]; then
        if [ -f "$VOCAB" ]; then build/hearth make-model --shape tinyllama --type "$t" --vocab "$VOCAB" "$f"
        else build/hearth make-model --shape tinyllama --type "$t" "$f"; fi
    fi
    models+=("$f")
done
[ -f "$SHARED/models/stories260K.gguf" ] && models+=("$SHARED/models/stories260K.gguf")

# A prompt of exactly P tokens is not needed: `hearth run` reports its own token count. Build text
# long enough (about one token per word) and let -c bound nothing below it.
prompt=$(yes "the quick brown fox jumps over the lazy dog" | head -n $(( (P + 8) / 9 )) | tr '\n' ' ')

printf '%-28s %10s %12s %12s' model size "pp t/s" "tg t/s"
[ -n "${LLAMA_BENCH:-}" ] && printf ' %12s %12s %8s %8s' "llama pp" "llama tg" "pp ×" "tg ×"
echo
for m in "${models[@]}"; do
    log=$(build/hearth run "$m" -p "$prompt" -n "$N" --temp 0 -t "$T" -c 4096 2>&1 >/dev/null)
    pp=$(sed -n 's/.*prompt [0-9]* tokens in [0-9.]* s (\([0-9.]*\) tok\/s).*/\1/p' <<<"$log" | tail -1)
    tg=$(sed -n 's/.*generated [0-9]* tokens in [0-9.]* s (\([0-9.]*\) tok\/s).*/\1/p' <<<"$log" | tail -1)
    size=$(du -h "$m" | cut -f1)
    printf '%-28s %10s %12s %12s' "$(basename "$m")" "$size" "$pp" "$tg"
    if [ -n "${LLAMA_BENCH:-}" ]; then
        lj=$("$LLAMA_BENCH" -m "$m" -p "$P" -n "$N" -t "$T" -r 1 -o json 2>/dev/null)
        lpp=$(node -e 'const r=JSON.parse(process.argv[1]);console.log(r.find(x=>x.n_prompt>0).avg_ts.toFixed(1))' "$lj")
        ltg=$(node -e 'const r=JSON.parse(process.argv[1]);console.log(r.find(x=>x.n_gen>0).avg_ts.toFixed(1))' "$lj")
        printf ' %12s %12s %8s %8s' "$lpp" "$ltg" "$(awk "BEGIN{printf \"%.2f\", $pp/$lpp}")" "$(awk "BEGIN{printf \"%.2f\", $tg/$ltg}")"
    fi
    echo
done

# The server under concurrent load (aggregate tok/s and TTFT at 1/4/16 clients, turn-5 TTFT with
# and without prefix reuse; vs llama-server -np 4 when LLAMA_SERVER is set). BENCH_SERVER=0 skips.
if [ "${BENCH_SERVER:-1}" != 0 ] && command -v node >/dev/null; then
    echo
    echo "== hearth serve (scripts/bench-server.mjs)"
    node scripts/bench-server.mjs
fi
