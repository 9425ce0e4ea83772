#!/usr/bin/env node
// bench-embed.mjs — embedding throughput of `hearth serve` on /v1/embeddings: texts/s and
// tokens/s at batch sizes (texts per request) 1, 16 and 64, one client. With LLAMA_SERVER set
// to a llama-server binary, `llama-server --embedding` serves the same file with the same
// threads and the same client (this script) sends it the same requests, interleaved with
// hearth measurement by measurement (hearth, llama, hearth, llama ...) so both see the same
// machine load; medians of BENCH_R rounds are printed with the hearth/llama.cpp ratio.
// tokens/s counts the tokens each server reports in usage.prompt_tokens (special tokens
// included; the two tokenizers agree on these texts, which the script checks).
//
// Env: HEARTH_BIN (default build/hearth), BENCH_EMBED_MODEL (default build/bench/bge-small-f16.gguf),
// BENCH_T (threads; bench.sh's list: its first entry; default nproc), BENCH_EMBED_BATCHES
// ("1 16 64"), BENCH_EMBED_TEXTS (texts per measurement, default 64: batch 1 = 64 requests,
// batch 64 = one), BENCH_EMBED_WORDS (words per text, default 24), BENCH_R (rounds, default 3),
// BENCH_EMBED_JSON (raw samples, default build/bench/embed.json), LLAMA_SERVER.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runMain, saveJson, startServer } from './bench-common.mjs';

const root = resolve(new URL('..', import.meta.url).pathname);
const BIN = process.env.HEARTH_BIN ?? join(root, 'build/hearth');
const MODEL = resolve(process.env.BENCH_EMBED_MODEL ?? join(root, 'build/bench/bge-small-f16.gguf'));
const T = Number((process.env.BENCH_T ?? String(cpus().length)).trim().split(/\s+/)[0]);
const BATCHES = (process.env.BENCH_EMBED_BATCHES ?? '1 16 64').split(/\s+/).filter(Boolean).map(Number);
const NTEXTS = Number(process.env.BENCH_EMBED_TEXTS ?? 64);
const WORDS = Number(process.env.BENCH_EMBED_WORDS ?? 24);
const R = Number(process.env.BENCH_R ?? 3);

// Deterministic, varied English texts (a fixed LCG over a small word list; no two alike).
const WORDLIST = ('the river garden stone bridge morning quiet letter village train window ' +
  'winter market children music evening story forest paper kitchen journey summer mountain ' +
  'library question answer memory harbour lantern orchard meadow').split(' ');
function texts(n, words) {
  let x = 12345;
  const out = [];
  for (let i = 0; i < n; i++) {
    const w = [];
    for (let k = 0; k < words; k++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      w.push(WORDLIST[x % WORDLIST.length]);
    }
    out.push(`${i}: ${w.join(' ')}.`);
  }
  return out;
}

async function embed(url, model, input) {
  const r = await fetch(`${url}/v1/embeddings`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, input }),
  });
  const b = await r.json();
  if (r.status !== 200 || b.data?.length !== input.length) throw new Error(`${url}: ${r.status} ${JSON.stringify(b).slice(0, 300)}`);
  return { tokens: b.usage.prompt_tokens, vec: b.data[0].embedding };
}

// One measurement: all NTEXTS texts sent in requests of `batch` texts, one after another.
async function run(url, model, all, batch) {
  const t0 = process.hrtime.bigint();
  let tokens = 0;
  for (let i = 0; i < all.length; i += batch) tokens += (await embed(url, model, all.slice(i, i + batch))).tokens;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds: s, texts_per_s: all.length / s, tokens_per_s: tokens / s, tokens };
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, d = 1) => (x == null || !isFinite(x) ? '-' : x.toFixed(d));
const cos = (a, b) => {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-embed-'));
  const conf = join(dir, 'bench.conf');
  writeFileSync(conf, `[bench]\nmodel = ${MODEL}\nthreads = ${T}\n`);
  const procs = [];
  const stopAll = () => procs.forEach((p) => p.kill('SIGTERM'));
  process.on('exit', stopAll);
  const hurl = await startServer(procs, BIN, ['serve', '--config', conf, '--host', '127.0.0.1', '--port', '0']);
  let lurl = null;
  if (process.env.LLAMA_SERVER) {
    // -np 1 (BENCH_EMBED_NP): llama-server's fastest setting for this, measured here (64 texts
    // of ~30 tokens in one request, 2 threads: -np 1 1.09 s, -np 4 1.1-2.8 s, -np 16 4.1-4.4 s,
    // -np 64 12.6 s: its slots share one KV buffer that every token of a pass attends over,
    // masked, so packing the texts of more slots into a pass costs more than it saves)
    const np = Number(process.env.BENCH_EMBED_NP ?? 1);
    const ctx = Math.max(512, 128 * np);
    lurl = await startServer(procs, process.env.LLAMA_SERVER,
      ['-m', MODEL, '--embedding', '-np', String(np), '-t', String(T), '-tb', String(T), '-c', String(ctx),
       '-b', String(ctx), '-ub', String(ctx), '--host', '127.0.0.1', '--port', String(18000 + (process.pid % 1000))],
      // llama.cpp's CPU backend runs its threads under OpenMP; on a machine with more runnable
      // threads than cores, OpenMP's default spin-waiting at every barrier collapses it
      // (measured here, 2 cores at load average 8: 0.5-4 s per 30-token text instead of
      // 0.03-0.07 s). passive = its threads sleep at barriers; hearth's pool already does.
      { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'passive' });
  }
  const all = texts(NTEXTS, WORDS);
  const engines = [['hearth', hurl, 'bench'], ...(lurl ? [['llama', lurl, 'bench']] : [])];
  // warm-up, and the same input gives the same tokens and (nearly) the same vector on both
  const warm = {};
  for (const [e, url, model] of engines) warm[e] = await embed(url, model, all.slice(0, 4));
  if (lurl) {
    if (warm.hearth.tokens !== warm.llama.tokens) throw new Error(`token counts differ: hearth ${warm.hearth.tokens}, llama ${warm.llama.tokens}`);
    const c = cos(warm.hearth.vec, warm.llama.vec);
    if (!(c > 0.999)) throw new Error(`hearth and llama-server vectors differ: cosine ${c}`);
  }
  const load0 = loadavg();
  const runs = {};
  for (const b of BATCHES) {
    runs[b] = {};
    for (let r = 0; r < R; r++)
      for (const [e, url, model] of engines) (runs[b][e] ??= []).push(await run(url, model, all, b));
  }
  const load1 = loadavg();
  stopAll();
  const L = !!lurl;
  const toks = runs[BATCHES[0]].hearth[0].tokens;
  console.log(`model ${MODEL}, ${T} threads, ${NTEXTS} texts of ${WORDS} words (${toks} tokens in all) per measurement, ` +
              `${R} rounds (medians); load average ${load0.map((x) => x.toFixed(2)).join(' ')} before, ` +
              `${load1.map((x) => x.toFixed(2)).join(' ')} after`);
  console.log('');
  console.log('| batch | hearth texts/s | hearth tokens/s |' + (L ? ' llama-server texts/s | llama-server tokens/s | hearth / llama.cpp |' : ''));
  console.log('|---:|---:|---:|' + (L ? '---:|---:|---:|' : ''));
  const out = { date: new Date().toISOString(), model: MODEL, threads: T, texts: NTEXTS, words: WORDS, tokens: toks, rounds: R,
                loadavg_before: load0, loadavg_after: load1, batches: {} };
  for (const b of BATCHES) {
    const a = { texts_per_s: median(runs[b].hearth.map((x) => x.texts_per_s)), tokens_per_s: median(runs[b].hearth.map((x) => x.tokens_per_s)) };
    const l = L ? { texts_per_s: median(runs[b].llama.map((x) => x.texts_per_s)), tokens_per_s: median(runs[b].llama.map((x) => x.tokens_per_s)) } : null;
    out.batches[b] = { hearth: a, llama: l, samples: runs[b] };
    console.log(`| ${b} | ${fmt(a.texts_per_s)} | ${fmt(a.tokens_per_s, 0)} |` +
                (l ? ` ${fmt(l.texts_per_s)} | ${fmt(l.tokens_per_s, 0)} | ${fmt(a.texts_per_s / l.texts_per_s, 2)}× |` : ''));
  }
  const json = process.env.BENCH_EMBED_JSON ?? join(root, 'build/bench/embed.json');
  saveJson(json, out);
  rmSync(dir, { recursive: true, force: true });
}

runMain(main);
