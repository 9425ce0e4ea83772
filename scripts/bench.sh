#!/usr/bin/env bash
# make bench: prompt-processing (pp) and generation (tg) speed of hearth, measured by
# `hearth bench --json`, on generated TinyLlama-shaped models (Q4_0, Q8_0, Q4_K_M; random weights,
# real shapes) and on stories260K, beside the machine's measured memory read bandwidth
# (tools/membw.c). With LLAMA_BENCH=/path/to/llama-bench, llama.cpp runs on the same files with
# the same threads, interleaved with hearth one repetition at a time (hearth, llama, hearth, llama
# ... per model), so both see the same machine load; the hearth/llama.cpp ratios are printed.
# tg t/s × the weight bytes a decode step reads (`hearth bench --json`'s active_bytes: the file's
# tensors minus unchosen experts and an untied embedding table) is the read bandwidth each
# generation actually uses, also printed as a share of the measured membw at that thread count:
# against the figure measured at the start of the run, and against the mean of the samples taken
# just before and just after each of that model's hearth runs at that thread count ("beside": a
# shared host's bandwidth can move 2x within the minutes a run lasts; BENCH_MEMBW_BESIDE=0 skips).
#
# Env: BENCH_P (prompt tokens, default 512), BENCH_N (generated, default 128), BENCH_T (thread
# counts, space-separated, each run in turn: "2 1"; default nproc), BENCH_R (repetitions, default 3), BENCH_TYPES (default "q4_0 q8_0 q4_k_m"; empty: none),
# BENCH_STORIES (1: include stories260K, default 1), BENCH_KERNELS (1: per-kernel GB/s of
# tools/bench_kernels.c first, default 1), LLAMA_BENCH.
# Depth (attention at long context), on the Q4_0 file when BENCH_TYPES has it: BENCH_DEPTH (D,
# default 2048; 0 skips), BENCH_DEPTH_N (generated tokens, default 64): hearth `bench -p D -n 0`
# (a D-token prompt from an empty cache, in chunks of 512) and `bench -p 0 -n N --depth D`;
# with LLAMA_BATCHED_BENCH=/path/to/llama-batched-bench, `llama-batched-bench -npp D -ntg N
# -npl 1 -b 512 -ub 512` (PP speed over the same prompt, TG speed at depth D) without and with
# flash attention (-fa), interleaved with hearth, one repetition each.
# Mixtures of experts: BENCH_MOE (space-separated SHAPE:TYPE, default none; e.g.
# "qwen1.5-moe-a2.7b:q4_0 qwen3-30b-a3b:q4_k_m gpt-oss-20b:mxfp4") adds those make-model shapes
# with the Qwen2 vocab (gpt-oss: o200k_harmony) (8-17 GB files in build/bench, generated once); their tg bandwidth counts only the
# weights a token reads (the file minus the unchosen experts and the embedding table: active_bytes).
# LLAMA_BENCH_MOE=/path/to/llama-bench: the llama-bench for those rows instead of LLAMA_BENCH (also
# alone). The Feb-2025 peer's default CPU build aborts on every MoE Q4_0 tg (its runtime Q4_0
# repack, GGML_CPU_AARCH64, under-sizes a work buffer when a batch has fewer tokens than
# experts); a build with -DGGML_CPU_AARCH64=OFF runs them (docs/BENCHMARKS.md, MoE section).
# Gemma 2 / Phi-3 at real size and IQ4_XS against Q4_K_M: BENCH_ARCH=1 (default 0; see the
# section below), printed as rows of the main table and an IQ4_XS/Q4_K_M table per engine.
# Speculative decoding (layer skip): BENCH_SPEC=0 skips, see its section below.
# LoRA adapters (0, 1, 2 rank-16 adapters; vs llama-server --lora with LLAMA_SERVER): BENCH_LORA=0
# skips, see scripts/bench-lora.sh.
# Embeddings: BENCH_EMBED=0 skips; `hearth embed --bench` on a bge-small-shaped F16 bert, then
# scripts/bench-embed.mjs (texts/s and tokens/s at 1, 16, 64 texts per request) against
# `llama-server --embedding` on the same file when LLAMA_SERVER is set (or a llama-server sits
# beside LLAMA_BENCH). The server section (bench-server.mjs) also uses LLAMA_SERVER.
# Output: a markdown table on stdout; every raw sample in build/bench/samples.jsonl
# (depth: build/bench/depth.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
P=${BENCH_P:-512}
N=${BENCH_N:-128}
THREADS=${BENCH_T:-$(nproc)}
R=${BENCH_R:-3}
TYPES=${BENCH_TYPES-"q4_0 q8_0 q4_k_m"}
FIXTURES=${HEARTH_FIXTURES:-tests/data}
VOCAB=$FIXTURES/vocab/ggml-vocab-llama-spm.gguf
LLAMA=${LLAMA_BENCH:-}
LLAMA_MOE=${LLAMA_BENCH_MOE:-$LLAMA}
out=build/bench
mkdir -p "$out"
samples=$out/samples.jsonl
: >"$samples"

# ---- memory read bandwidth ----
cc -O3 -march=native -pthread -Wall -Wextra -Werror tools/membw.c -o "$out/membw"
membw=""
for t in $THREADS; do
    bw_line=$("$out/membw" 1024 "$t" 5)
    echo "$bw_line" >&2
    membw="$membw $t threads $(sed -n 's/.*best \([0-9.]*\) GB\/s.*/\1/p' <<<"$bw_line") GB/s;"
done

# membw_beside MODEL THREADS: one read-bandwidth sample (512 MiB, the median of 5 passes) recorded
# with the model it was taken beside, so the report can set each tg against the bandwidth of its
# minutes
membw_beside() {
    [ "${BENCH_MEMBW_BESIDE:-1}" = 1 ] || return 0
    local line bw
    line=$("$out/membw" 512 "$2" 5) || return 0
    bw=$(sed -n 's/.*median \([0-9.]*\) GB\/s.*/\1/p' <<<"$line")
    [ -n "$bw" ] || return 0
    node -e 'const [m, t, g] = process.argv.slice(1);
             console.log(JSON.stringify({engine: "membw", model: m, threads: Number(t), gbps: Number(g)}));' \
        "$1" "$2" "$bw" >>"$samples"
}

# ---- per-kernel throughput (one thread, CPU time): compute-bound or bandwidth-bound? ----
if [ "${BENCH_KERNELS:-1}" = 1 ]; then
    cc -std=c11 -D_GNU_SOURCE -O2 -Isrc -Wall -Wextra -Werror tools/bench_kernels.c build/release/libhearth.a \
        $(pkg-config --libs libpcre2-8 jansson libcrypto) -lm -pthread -o "$out/bench_kernels"
    "$out/bench_kernels" | tee "$out/kernels.txt" >&2
fi

# ---- models ----
models=()
for t in $TYPES; do
    f=$out/tinyllama-$t.gguf
    if [ ! -f "$f" ]; then
        echo "bench: generating $f" >&2
        if [ -f "$VOCAB" ]; then build/hearth make-model --shape tinyllama --type "$t" --vocab "$VOCAB" "$f" >&2
        else build/hearth make-model --shape tinyllama --type "$t" "$f" >&2; fi
    fi
    models+=("$f")
done
QWEN_VOCAB=$FIXTURES/vocab/ggml-vocab-qwen2.gguf
moe_models=()
for st in ${BENCH_MOE:-}; do
    shape=${st%%:*} t=${st#*:}
    f=$out/$shape-$t.gguf
    if [ ! -f "$f" ]; then
        echo "bench: generating $f" >&2
        # gpt-oss carries its own o200k_harmony vocab (llama.cpp of this date has neither the
        # arch nor the vocab: its rows are hearth's alone); the Qwen MoE shapes the Qwen2 one
        case $shape in
            gpt-oss*) v=$FIXTURES/vocab/ggml-vocab-o200k-harmony.gguf ;;
            *) v=$QWEN_VOCAB ;;
        esac
        build/hearth make-model --shape "$shape" --type "$t" --vocab "$v" "$f" >&2
    fi
    models+=("$f")
    moe_models+=("$f")
done
# Gemma 2 / Phi-3 at real size, and IQ4_XS against Q4_K_M of the same shape: BENCH_ARCH=1 adds
# ARCH_DEFAULT (below); any other non-empty value is its own SHAPE:TYPE list; 0 or empty: none
# (the default: 4.6 GB of files, ~6 minutes each to generate on 2 busy cores, and 2.6-3.8B-
# parameter models to run). Gemma 2 has no vocab fixture: its files carry the Qwen2 vocab
# (151936 tokens against Gemma's 256000, so its tied output projection is 59% of the real one's;
# the o200k vocab, 201088 tokens, is refused by llama.cpp builds that predate its pre-tokenizer).
ARCH_DEFAULT="gemma-2-2b:q4_k_m gemma-2-2b:iq4_xs phi-3-mini:q4_0"
ARCH=${BENCH_ARCH:-0}
[ "$ARCH" = 1 ] && ARCH=$ARCH_DEFAULT
[ "$ARCH" = 0 ] && ARCH=""
for st in $ARCH; do
    shape=${st%%:*} t=${st#*:}
    case $shape in
        phi-3*) v=$FIXTURES/vocab/ggml-vocab-phi-3.gguf ;;
        *) v=$QWEN_VOCAB ;;
    esac
    f=$out/$shape-$t.gguf
    if [ ! -f "$f" ]; then
        echo "bench: generating $f" >&2
        build/hearth make-model --shape "$shape" --type "$t" --vocab "$v" "$f" >&2
    fi
    models+=("$f")
done
[ "${BENCH_STORIES:-1}" = 1 ] && [ -f "$FIXTURES/models/stories260K.gguf" ] && models+=("$FIXTURES/models/stories260K.gguf")

# ---- interleaved runs: one repetition of each engine in turn ----
# Each sample line: {"engine","model","test","ts","bytes","type"}.
for m in "${models[@]}"; do
    name=$(basename "$m")
    peer=$LLAMA
    [[ " ${moe_models[*]} " == *" $m "* ]] && peer=$LLAMA_MOE
    for ((r = 1; r <= R; r++)); do
        for t in $THREADS; do
            echo "bench: $name repetition $r/$R, $t threads: hearth" >&2
            membw_beside "$name" "$t"
            build/hearth bench "$m" -p "$P" -n "$N" -t "$t" -r 1 --json |
                node -e '
                  const [name] = process.argv.slice(1);
                  const a = JSON.parse(require("fs").readFileSync(0, "utf8"));
                  for (const x of a) console.log(JSON.stringify({engine: "hearth", model: name, test: x.test,
                    ts: x.tokens_per_s, bytes: x.model_bytes, active: x.active_bytes, type: x.type, isa: x.isa, threads: x.threads,
                    kv_bytes: x.kv_bytes, rss: x.max_rss_bytes, huge: x.huge_mapped_bytes}));
                ' "$name" >>"$samples"
            membw_beside "$name" "$t"
            if [ -n "$peer" ]; then
                echo "bench: $name repetition $r/$R, $t threads: llama.cpp ($peer)" >&2
                # one test at a time, so a test that aborts (the Feb-2025 peer's repacked Q4_0
                # MUL_MAT_ID aborts on batches of fewer tokens than experts: every MoE tg, see
                # docs/BENCHMARKS.md) costs only its own row, not the run
                for pn in "-p $P -n 0" "-p 0 -n $N"; do
                # shellcheck disable=SC2086
                if ! lj=$("$peer" -m "$m" $pn -t "$t" -r 1 -o json 2>/dev/null); then
                    echo "bench: llama-bench failed on $name ($pn, $t threads): row left out" >&2
                    continue
                fi
                node -e '
                      const [name] = process.argv.slice(1);
                      const a = JSON.parse(require("fs").readFileSync(0, "utf8"));
                      for (const x of a) console.log(JSON.stringify({engine: "llama", model: name,
                        test: x.n_prompt > 0 ? `pp${x.n_prompt}` : `tg${x.n_gen}`, ts: x.avg_ts,
                        bytes: x.model_size, type: x.model_type, threads: x.n_threads}));
                    ' "$name" <<<"$lj" >>"$samples"
                done
            fi
        done
    done
done

# ---- report ----
node - "$samples" "$membw" "$R" "$THREADS" <<'EOF'
const fs = require('fs');
const [file, membw, reps, tlist] = process.argv.slice(2);
const all = fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const rows = all.filter((r) => r.engine !== 'membw');
// the bandwidth samples taken beside each model's hearth runs, per thread count
const beside = all.filter((r) => r.engine === 'membw');
const besideOf = (model, threads) => {
  const g = beside.filter((r) => r.model === model && r.threads === threads).map((r) => r.gbps);
  return g.length ? g.reduce((a, b) => a + b, 0) / g.length : null;
};
const stat = (xs) => {
  if (!xs.length) return null;
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return { m, sd: Math.sqrt(v) };
};
const fmt = (s) => (s ? `${s.m.toFixed(2)} ± ${s.sd.toFixed(2)}` : '—');
const haveLlama = rows.some((r) => r.engine === 'llama');
const keys = [];
for (const r of rows) if (!keys.some((k) => k.model === r.model && k.test === r.test && k.threads === r.threads)) keys.push(r);
console.log(`memory read bandwidth (tools/membw.c, best of 5):${membw} ` +
            `threads ${tlist}; ${reps} interleaved repetitions per engine`);
if (beside.length) {
  const span = [...new Set(beside.map((r) => r.threads))].map((t) => {
    const g = beside.filter((r) => r.threads === t).map((r) => r.gbps);
    return `${t} threads ${Math.min(...g).toFixed(2)}-${Math.max(...g).toFixed(2)} GB/s (${g.length} samples)`;
  });
  console.log(`beside the runs (512 MiB, median of 5, before and after each hearth run): ${span.join('; ')}`);
}
console.log('');
let head = '| model | type | size (MiB) | threads | test | hearth t/s |';
let sep = '|---|---|---:|---:|---|---:|';
if (haveLlama) { head += ' llama.cpp t/s | hearth/llama |'; sep += '---:|---:|'; }
const both = haveLlama ? ' / llama' : '';
head += ` tg bandwidth GB/s (hearth${both}) | % of membw at start (hearth${both}) |`; sep += '---:|---:|';
if (beside.length) { head += ` membw beside GB/s | % of membw beside (hearth${both}) |`; sep += '---:|---:|'; }
// the measured read bandwidth per thread count (" 2 threads 53.8 GB/s; 1 threads 22.1 GB/s;")
const bwOf = {};
for (const m of membw.matchAll(/(\d+) threads ([0-9.]+) GB\/s/g)) bwOf[m[1]] = Number(m[2]);
console.log(head);
console.log(sep);
for (const k of keys) {
  const pick = (e) => rows.filter((r) => r.engine === e && r.model === k.model && r.test === k.test && r.threads === k.threads);
  const h = pick('hearth'), l = pick('llama');
  const hs = stat(h.map((r) => r.ts)), ls = stat(l.map((r) => r.ts));
  const bytes = (h[0] || l[0]).bytes;
  const active = (h[0] && h[0].active) || bytes; // MoE: what one token reads
  let line = `| ${k.model} | ${(h[0] || {}).type ?? '?'} | ${(bytes / 1048576).toFixed(1)} | ${k.threads} | ${k.test} | ${fmt(hs)} |`;
  if (haveLlama) line += ` ${fmt(ls)} | ${hs && ls ? (hs.m / ls.m).toFixed(2) + '×' : '—'} |`;
  if (k.test.startsWith('tg')) {
    const bw = (s) => (s ? (s.m * active / 1e9).toFixed(1) : '—');
    const pct = (s, ref) => (s && ref ? (100 * s.m * active / 1e9 / ref).toFixed(0) + '%' : '—');
    const ref = bwOf[k.threads];
    line += ` ${bw(hs)}${haveLlama ? ' / ' + bw(ls) : ''} | ${pct(hs, ref)}${haveLlama ? ' / ' + pct(ls, ref) : ''} |`;
    if (beside.length) {
      const near = besideOf(k.model, k.threads);
      line += ` ${near ? near.toFixed(2) : '—'} | ${pct(hs, near)}${haveLlama ? ' / ' + pct(ls, near) : ''} |`;
    }
  } else line += beside.length ? ' | | | |' : ' | |';
  console.log(line);
}
// IQ4_XS against Q4_K_M of the same shape (files SHAPE-iq4_xs.gguf and SHAPE-q4_k_m.gguf), each
// engine against itself: how much of the smaller file's bandwidth saving each engine turns into
// speed (tg), and what the i-quant's table lookups cost in the prompt (pp).
const pairs = [...new Set(rows.map((r) => r.model))].filter((m) => /-iq4_xs\.gguf$/.test(m))
  .map((m) => [m, m.replace(/-iq4_xs\.gguf$/, '-q4_k_m.gguf')]).filter(([, q]) => rows.some((r) => r.model === q));
if (pairs.length) {
  console.log('');
  let h2 = '| shape | threads | test | hearth IQ4_XS t/s | hearth Q4_K_M t/s | hearth IQ4_XS/Q4_K_M |';
  let s2 = '|---|---:|---|---:|---:|---:|';
  if (haveLlama) { h2 += ' llama.cpp IQ4_XS t/s | llama.cpp Q4_K_M t/s | llama.cpp IQ4_XS/Q4_K_M | IQ4_XS hearth/llama |'; s2 += '---:|---:|---:|---:|'; }
  console.log(h2);
  console.log(s2);
  for (const [iq, qk] of pairs) {
    for (const k of keys.filter((k) => k.model === iq)) {
      const m = (e, model) => stat(rows.filter((r) => r.engine === e && r.model === model && r.test === k.test && r.threads === k.threads).map((r) => r.ts));
      const ratio = (a, b) => (a && b ? (a.m / b.m).toFixed(2) + '×' : '—');
      const hi = m('hearth', iq), hq = m('hearth', qk);
      let line = `| ${iq.replace(/-iq4_xs\.gguf$/, '')} | ${k.threads} | ${k.test} | ${fmt(hi)} | ${fmt(hq)} | ${ratio(hi, hq)} |`;
      if (haveLlama) { const li = m('llama', iq), lq = m('llama', qk); line += ` ${fmt(li)} | ${fmt(lq)} | ${ratio(li, lq)} | ${ratio(hi, li)} |`; }
      console.log(line);
    }
  }
}
// Peak RSS of a `hearth bench` process (pp and tg tests, one repetition) against what it must
// hold: the mapped model file and the KV cache; the rest is scratch (negative where mapped pages
// were never touched, e.g. embedding rows of unused tokens). And how much of the file was mapped
// in 2 MiB pages (the least over runs): on kernels with large page-cache folios a mapping in 4 KiB
// pages halves tg (docs/BENCHMARKS.md), and a page cache that other big files went through may
// come back partly in small folios.
console.log('');
console.log('| model | file MiB | KV cache MiB | hearth peak RSS MiB (max over runs) | RSS - file - KV MiB | mapped in 2 MiB pages (least over runs) |');
console.log('|---|---:|---:|---:|---:|---:|');
const mib = (b) => (b / 1048576).toFixed(1);
for (const model of [...new Set(rows.map((r) => r.model))]) {
  const h = rows.filter((r) => r.engine === 'hearth' && r.model === model && r.rss);
  if (!h.length) continue;
  const rss = Math.max(...h.map((r) => r.rss)), kv = h[0].kv_bytes, bytes = h[0].bytes;
  const hs = h.filter((r) => typeof r.huge === 'number').map((r) => r.huge);
  const huge = hs.length ? `${(100 * Math.min(...hs) / bytes).toFixed(0)}%` : '—';
  console.log(`| ${model} | ${mib(bytes)} | ${mib(kv)} | ${mib(rss)} | ${mib(rss - bytes - kv)} | ${huge} |`);
}
EOF

# ---- attention at depth: hearth vs llama-batched-bench (FA off and on) ----
DEPTH=${BENCH_DEPTH:-2048}
DEPTH_N=${BENCH_DEPTH_N:-64}
LBB=${LLAMA_BATCHED_BENCH:-}
dm=$out/tinyllama-q4_0.gguf
if [ "$DEPTH" != 0 ] && [[ " $TYPES " == *" q4_0 "* ]] && [ -f "$dm" ]; then
    depth_samples=$out/depth.jsonl
    : >"$depth_samples"
    for t in $THREADS; do
        echo "bench: depth $DEPTH, $t threads: hearth" >&2
        for args in "-p $DEPTH -n 0" "-p 0 -n $DEPTH_N --depth $DEPTH"; do
            # shellcheck disable=SC2086
            build/hearth bench "$dm" $args -t "$t" -r 1 --json |
                node -e '
                  const a = JSON.parse(require("fs").readFileSync(0, "utf8"));
                  for (const x of a) console.log(JSON.stringify({engine: "hearth", test: x.test,
                    ts: x.tokens_per_s, threads: x.threads}));
                ' >>"$depth_samples"
        done
        if [ -n "$LBB" ]; then
            for fa in off on; do
                echo "bench: depth $DEPTH, $t threads: llama-batched-bench, flash attention $fa" >&2
                flag=""
                [ "$fa" = on ] && flag=-fa
                # shellcheck disable=SC2086
                "$LBB" -m "$dm" -c $((DEPTH + DEPTH_N + 64)) -b 512 -ub 512 -npp "$DEPTH" \
                    -ntg "$DEPTH_N" -npl 1 -t "$t" $flag --output-format jsonl 2>/dev/null |
                    grep '^{' | node -e '
                      const [fa, d, n] = process.argv.slice(1);
                      const eng = fa === "on" ? "llama.cpp (FA)" : "llama.cpp";
                      for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
                        const x = JSON.parse(l);
                        console.log(JSON.stringify({engine: eng, test: `pp${d}`, ts: x.speed_pp, threads: x.n_threads}));
                        console.log(JSON.stringify({engine: eng, test: `tg${n}@d${d}`, ts: x.speed_tg, threads: x.n_threads}));
                      }
                    ' "$fa" "$DEPTH" "$DEPTH_N" >>"$depth_samples"
            done
        fi
    done
    echo
    node - "$depth_samples" <<'EOF2'
const rows = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const engines = [...new Set(rows.map((r) => r.engine))];
const keys = [...new Set(rows.map((r) => `${r.threads}|${r.test}`))];
console.log('Attention at depth, tinyllama-q4_0 (pp: a prompt of that many tokens from an empty cache; tg: generation after that many cached tokens)');
console.log('');
console.log(`| threads | test | ${engines.map((e) => e + ' t/s').join(' | ')} | ${engines.slice(1).map((e) => 'hearth/' + e).join(' | ')} |`);
console.log(`|---:|---|${engines.map(() => '---:').join('|')}|${engines.slice(1).map(() => '---:').join('|')}|`);
for (const k of keys) {
  const [t, test] = k.split('|');
  const v = engines.map((e) => rows.find((r) => r.engine === e && String(r.threads) === t && r.test === test));
  const h = v[0] ? v[0].ts : null;
  const cells = v.map((x) => (x ? x.ts.toFixed(2) : '—'));
  const ratios = v.slice(1).map((x) => (x && h ? (h / x.ts).toFixed(2) + '×' : '—'));
  console.log(`| ${t} | ${test} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
}
EOF2
fi

# Embedding throughput (texts/s and tokens/s at batches of 1, 16 and 64 inputs of 64 tokens) on
# a bge-small-shaped bert (random weights, f16). Measured only; BENCH_EMBED=0 skips.
if [ "${BENCH_EMBED:-1}" != 0 ]; then
    f=$out/bge-small-f16.gguf
    [ -f "$f" ] || build/hearth make-model --shape bge-small --type f16 --vocab "$FIXTURES/vocab/ggml-vocab-bert-bge.gguf" "$f" >&2
    echo
    echo "== embeddings (hearth embed --bench)"
    for t in $THREADS; do build/hearth embed "$f" --bench --tokens 64 -r 3 -t "$t"; done
    # through the server, against `llama-server --embedding` on the same file (LLAMA_SERVER, or
    # LLAMA_BENCH's llama-server beside it), one client, interleaved request by request
    if command -v node >/dev/null; then
        lsrv=${LLAMA_SERVER:-}
        [ -z "$lsrv" ] && [ -n "$LLAMA" ] && [ -x "$(dirname "$LLAMA")/llama-server" ] && lsrv=$(dirname "$LLAMA")/llama-server
        echo
        echo "== embedding throughput, hearth serve vs llama-server --embedding (scripts/bench-embed.mjs)"
        LLAMA_SERVER=$lsrv BENCH_EMBED_MODEL=$f node scripts/bench-embed.mjs
    fi
fi

# ---- speculative decoding: self-speculative layer skip (docs/ENGINE.md "Speculative decoding") ----
# A TinyLlama-shaped Q4_0 file whose layers SPEC_FROM.. have output projections scaled by 0.02
# (make-model --tail: random weights otherwise give no draft that agrees), drafted by its own
# first SPEC_FROM layers. One `hearth bench` run measures plain greedy decoding (tg<N>greedy) and
# speculative decoding of the same tokens (tg<N>spec); the speed-up is their ratio.
# BENCH_SPEC=0 skips; BENCH_SPEC_FROM (default 5 of 22 layers), BENCH_SPEC_MAX (default 4).
if [ "${BENCH_SPEC:-1}" != 0 ]; then
    SPEC_FROM=${BENCH_SPEC_FROM:-5}
    SPEC_MAX=${BENCH_SPEC_MAX:-4}
    f=$out/tinyllama-q4_0-tail$SPEC_FROM.gguf
    if [ ! -f "$f" ]; then
        echo "bench: generating $f" >&2
        build/hearth make-model --shape tinyllama --type q4_0 --tail "$SPEC_FROM:0.02" "$f" >&2
    fi
    echo
    echo "Speculative decoding, layer skip (draft = the first $SPEC_FROM of 22 layers of $f, draft-max $SPEC_MAX, greedy, $N tokens)"
    echo
    echo "| threads | plain greedy t/s | speculative t/s | speed-up | draft_accept_rate | tokens_per_target_pass |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for t in $THREADS; do
        build/hearth bench "$f" -p 0 -n "$N" -r "$R" -t "$t" --draft-layers "$SPEC_FROM" --draft-max "$SPEC_MAX" --json |
            tee -a "$out/spec.json" | node -e '
const a = JSON.parse(require("fs").readFileSync(0, "utf8"));
const g = a.find((x) => x.test.endsWith("greedy")), s = a.find((x) => x.test.endsWith("spec"));
console.log(`| ${s.threads} | ${g.tokens_per_s.toFixed(2)} ± ${g.stddev.toFixed(2)} | ${s.tokens_per_s.toFixed(2)} ± ${s.stddev.toFixed(2)} | ${(s.tokens_per_s / g.tokens_per_s).toFixed(2)}× | ${s.draft_accept_rate.toFixed(3)} | ${s.tokens_per_target_pass.toFixed(2)} |`);'
    done
fi

# LoRA adapters: tg with 0, 1, 2 rank-16 adapters, hearth vs llama-server --lora
# (scripts/bench-lora.sh says why not llama-bench). BENCH_LORA=0 skips.
if [ "${BENCH_LORA:-1}" != 0 ] && command -v node >/dev/null; then
    echo
    echo "== LoRA adapters (scripts/bench-lora.sh)"
    BENCH_T="${THREADS%% *}" scripts/bench-lora.sh
fi

# The server under concurrent load (aggregate tok/s and TTFT at 1/4/16 clients, turn-5 TTFT with
# and without prefix reuse; vs llama-server -np 4 when LLAMA_SERVER is set). BENCH_SERVER=0 skips.
if [ "${BENCH_SERVER:-1}" != 0 ] && command -v node >/dev/null; then
    echo
    echo "== hearth serve (scripts/bench-server.mjs)"
    node scripts/bench-server.mjs
fi
