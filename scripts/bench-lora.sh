#!/usr/bin/env bash
# LoRA section of `make bench` (scripts/bench.sh runs it unless BENCH_LORA=0; it runs alone too):
# generation tokens/s with 0, 1 and 2 rank-16 adapters on every projection (q,k,v,o,gate,up,down
# of all 22 layers; `hearth make-lora --rank 16`, seeds 1 and 2) applied unmerged at scale 1 on
# the TinyLlama-shaped Q4_0 file, and the same on the TinyLlama-shaped Q8_0 file (BENCH_LORA_TYPES,
# default "q4_0 q8_0"; the adapters fit both: same shapes).
#
# hearth: `hearth bench FILE -p 0 -n N --lora A [--lora B]` (random next ids, logits every token,
# no sampling). The Feb-2025 llama-bench has no --lora option, so the peer is llama-server
# (LLAMA_SERVER=/path/to/llama-server) started with the same `--lora` files and threads, one
# POST /completion per sample: a 1-token prompt, n_predict N, ignore_eos, greedy (samplers top_k,
# top_k 1: the cheapest sampling it has), reading the server's own timings.predicted_per_second
# (decode time only: no HTTP, no prompt). That figure includes llama-server's per-token sampling
# and slot bookkeeping, which `hearth bench` does not have; so the 0-adapter row is measured by
# both, and with LLAMA_BENCH also by llama-bench, and the comparison that matters is the
# slowdown of each engine against its own 0-adapter figure. Samples are interleaved: per
# repetition, per adapter count, hearth then llama-server.
# The Feb-2025 peer cannot apply an adapter to a Q4_0 base on an AVX2/AVX-512 CPU: it places the
# adapter's tensors in the same "CPU_AARCH64" repacking buffer as the Q4_0 weights and crashes
# while loading them (segmentation fault after "CPU_AARCH64 LoRA buffer size"; later llama.cpp
# keeps adapters out of repacking buffers). So on the Q4_0 file the peer row is its 0-adapter
# figures only, and the adapter comparison with the peer is made on the Q8_0 file (not
# repacked by that build).
#
# Env: BENCH_N (generated tokens, default 128), BENCH_T (threads, default nproc; first value
# used), BENCH_R (repetitions, default 3), LLAMA_SERVER, LLAMA_BENCH.
# Output: a markdown table on stdout; raw samples in build/bench/lora.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_N:-128}
T=${BENCH_T:-$(nproc)}
T=${T%% *}
R=${BENCH_R:-3}
FIXTURES=${HEARTH_FIXTURES:-tests/data}
VOCAB=$FIXTURES/vocab/ggml-vocab-llama-spm.gguf
LS=${LLAMA_SERVER:-}
LB=${LLAMA_BENCH:-}
out=build/bench
mkdir -p "$out"
LTYPES=${BENCH_LORA_TYPES:-"q4_0 q8_0"}
for ty in $LTYPES; do
    m=$out/tinyllama-$ty.gguf
    if [ ! -f "$m" ]; then
        echo "bench-lora: generating $m" >&2
        build/hearth make-model --shape tinyllama --type "$ty" --vocab "$VOCAB" "$m" >&2
    fi
done
ad=()
for seed in 1 2; do
    f=$out/lora-r16-s$seed.gguf
    [ -f "$f" ] || build/hearth make-lora --base "$out/tinyllama-${LTYPES%% *}.gguf" --rank 16 --seed "$seed" "$f" >&2
    ad+=("$f")
done
load0=$(cut -d' ' -f1-3 /proc/loadavg)
samples=$out/lora.jsonl
: >"$samples"
PORT=${BENCH_LORA_PORT:-18573}

# one llama-server sample: start it with the first $1 adapters, one completion, stop it
peer_sample() {
    local n=$1 args=() pid ok=0
    for ((i = 0; i < n; i++)); do args+=(--lora "${ad[$i]}"); done
    "$LS" -m "$m" -t "$T" -c $((N + 64)) -np 1 --port "$PORT" --host 127.0.0.1 "${args[@]}" \
        >"$out/lora-server.log" 2>&1 &
    pid=$!
    for ((w = 0; w < 600; w++)); do
        if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then ok=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ "$ok" = 1 ]; then
        curl -sf "http://127.0.0.1:$PORT/completion" -H 'Content-Type: application/json' \
            -d "{\"prompt\":\"Hello\",\"n_predict\":$N,\"ignore_eos\":true,\"samplers\":[\"top_k\"],\"top_k\":1,\"cache_prompt\":false}" |
            node -e '
              const [n] = process.argv.slice(1);
              const x = JSON.parse(require("fs").readFileSync(0, "utf8"));
              console.log(JSON.stringify({engine: "llama-server", model: process.argv[2], lora: +n,
                                          ts: x.timings.predicted_per_second, n: x.timings.predicted_n}));' "$n" "$ty" >>"$samples"
    else
        echo "bench-lora: llama-server did not start (see $out/lora-server.log)" >&2
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

for ((r = 1; r <= R; r++)); do
    for ty in $LTYPES; do
        m=$out/tinyllama-$ty.gguf
        for n in 0 1 2; do
            echo "bench-lora: $ty repetition $r/$R, $n adapter(s), $T threads: hearth" >&2
            args=()
            for ((i = 0; i < n; i++)); do args+=(--lora "${ad[$i]}"); done
            build/hearth bench "$m" -p 0 -n "$N" -t "$T" -r 1 --json "${args[@]}" |
                node -e '
                  const x = JSON.parse(require("fs").readFileSync(0, "utf8"))[0];
                  console.log(JSON.stringify({engine: "hearth", model: process.argv[1], lora: x.lora,
                                              ts: x.tokens_per_s, isa: x.isa}));' "$ty" >>"$samples"
            if [ -n "$LS" ] && { [ "$ty" != q4_0 ] || [ "$n" = 0 ]; }; then
                echo "bench-lora: $ty repetition $r/$R, $n adapter(s): llama-server" >&2
                peer_sample "$n"
            fi
            if [ -n "$LB" ] && [ "$n" = 0 ]; then
                echo "bench-lora: $ty repetition $r/$R, 0 adapters: llama-bench" >&2
                "$LB" -m "$m" -p 0 -n "$N" -t "$T" -r 1 -o json 2>/dev/null |
                    node -e '
                      const x = JSON.parse(require("fs").readFileSync(0, "utf8"))[0];
                      console.log(JSON.stringify({engine: "llama-bench", model: process.argv[1], lora: 0,
                                                  ts: x.avg_ts}));' "$ty" >>"$samples"
            fi
        done
    done
done

node - "$samples" "$N" "$T" "$R" "$load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end" <<'EOF'
const [file, n, t, reps, load] = process.argv.slice(2);
const rows = require('fs').readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const stat = (xs) => {
  if (!xs.length) return null;
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return { m, sd: Math.sqrt(v) };
};
const fmt = (s) => (s ? `${s.m.toFixed(2)} ± ${s.sd.toFixed(2)}` : '—');
const engines = ['hearth', 'llama-server', 'llama-bench'].filter((e) => rows.some((r) => r.engine === e));
for (const model of [...new Set(rows.map((r) => r.model))]) {
  console.log('');
  console.log(`LoRA: tg${n} on tinyllama-${model} with 0, 1, 2 rank-16 adapters (every projection, scale 1), ` +
              `${t} threads, ${reps} interleaved repetitions; load average ${load}`);
  console.log('');
  console.log(`| adapters | ${engines.map((e) => e + ' t/s | vs own 0').join(' | ')} | hearth/llama-server |`);
  console.log(`|---:|${engines.map(() => '---:|---:').join('|')}|---:|`);
  const st = {};
  for (const e of engines)
    for (const k of [0, 1, 2])
      st[e + k] = stat(rows.filter((r) => r.engine === e && r.model === model && r.lora === k).map((r) => r.ts));
  for (const k of [0, 1, 2]) {
    const cells = engines.map((e) => {
      const s = st[e + k], z = st[e + 0];
      return `${fmt(s)} | ${s && z ? (s.m / z.m).toFixed(2) + '×' : '—'}`;
    });
    const h = st['hearth' + k], l = st['llama-server' + k];
    console.log(`| ${k} | ${cells.join(' | ')} | ${h && l ? (h.m / l.m).toFixed(2) + '×' : '—'} |`);
  }
}
EOF
