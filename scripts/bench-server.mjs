#!/usr/bin/env node
// bench-server.mjs — `hearth serve` under load: aggregate generation tokens/s and time to first
// token (TTFT) at 1, 4 and 16 concurrent streaming clients against 4 slots, and the TTFT of
// turn 5 of a conversation with per-slot prefix reuse vs without. With LLAMA_SERVER set to a
// llama-server binary, the same load runs against `llama-server -np 4` on the same file and
// threads, interleaved with hearth measurement by measurement, and the hearth/llama.cpp ratios
// are printed (medians of BENCH_R rounds); the raw samples go to build/bench/server.json.
//
// Env: HEARTH_BIN (default build/hearth), BENCH_SERVER_MODEL (default: build/bench/tinyllama-q4_0.gguf
// when present, else stories260K), BENCH_T (threads, default nproc), BENCH_N (tokens per request,
// default 32), BENCH_REQS (requests per client, default 2), BENCH_CLIENTS ("1 4 16"),
// BENCH_CTX (per slot, default 2048), BENCH_R (rounds, default 2), BENCH_SERVER_JSON, LLAMA_SERVER.
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runMain, saveJson, startServer } from './bench-common.mjs';

const root = resolve(new URL('..', import.meta.url).pathname);
const BIN = process.env.HEARTH_BIN ?? join(root, 'build/hearth');
const SHARED = process.env.HEARTH_SHARED ?? join(root, '../shared');
const tiny = join(root, 'build/bench/tinyllama-q4_0.gguf');
const MODEL = resolve(process.env.BENCH_SERVER_MODEL ?? (existsSync(tiny) ? tiny : join(SHARED, 'models/stories260K.gguf')));
// BENCH_T may be bench.sh's list ("2 1"): the server runs use its first entry
const T = Number((process.env.BENCH_T ?? String(cpus().length)).trim().split(/\s+/)[0]);
const N = Number(process.env.BENCH_N ?? 32);
const REQS = Number(process.env.BENCH_REQS ?? 2);
const CLIENTS = (process.env.BENCH_CLIENTS ?? '1 4 16').split(/\s+/).filter(Boolean).map(Number);
const CTX = Number(process.env.BENCH_CTX ?? 2048);
const SLOTS = 4;

// One streaming /v1/completions request: TTFT (ms), tokens generated, text.
async function complete(url, model, prompt, maxTokens) {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt, max_tokens: maxTokens, temperature: 0, stream: true,
                           stream_options: { include_usage: true }, ignore_eos: true }),
  });
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  const dec = new TextDecoder();
  let buf = '', ttft = null, chunks = 0, usage = null, text = '';
  for await (const part of r.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      const t = j.choices?.[0]?.text;
      if (t !== undefined && t !== null && (t.length || j.choices[0].finish_reason == null)) {
        if (ttft === null) ttft = performance.now() - t0;
        chunks++;
        text += t;
      }
    }
  }
  return { ttft: ttft ?? performance.now() - t0, tokens: usage?.completion_tokens ?? chunks, text };
}

const PROMPTS = ['Once upon a time', 'The little dog', 'Tom and Sue went to', 'One day, a big bird', 'The sun was hot and'];

async function load(url, model, clients) {
  const ttfts = [];
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let k = 0; k < REQS; k++) {
        const r = await complete(url, model, `${PROMPTS[(c + k) % PROMPTS.length]} (${c}.${k})`, N);
        ttfts.push(r.ttft);
        tokens += r.tokens;
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  ttfts.sort((a, b) => a - b);
  return { tps: tokens / s, ttft: ttfts[Math.floor(ttfts.length / 2)], tokens };
}

async function conversationTurn5(url, model) {
  let prompt = 'A story about a cat.\n';
  let ttft = 0;
  for (let turn = 1; turn <= 5; turn++) {
    prompt += `User: tell me part ${turn}. ${'Please keep going with the story. '.repeat(Math.max(1, Math.floor(CTX / 512)))}\nAssistant:`;
    const r = await complete(url, model, prompt, 32);
    ttft = r.ttft;
    prompt += r.text + '\n';
  }
  return ttft;
}

const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : NaN;
};

// Both servers stay up (an idle server sleeps) and every measurement alternates between them,
// hearth then llama.cpp, BENCH_R rounds, so both see the same machine load; medians are shown.
async function main() {
  const R = Number(process.env.BENCH_R ?? 2);
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-'));
  const conf = join(dir, 'bench.conf');
  const common = `model = ${MODEL}\nctx = ${CTX}\nslots = ${SLOTS}\nthreads = ${T}\nqueue = 64\n`;
  writeFileSync(conf, `[bench]\n${common}\n[bench-noreuse]\n${common}prefix_reuse = off\n`);
  const procs = [];
  const stopAll = () => procs.forEach((p) => p.kill('SIGTERM'));
  process.on('exit', stopAll);
  const hurl = await startServer(procs, BIN, ['serve', '--config', conf, '--host', '127.0.0.1', '--port', '0']);
  let lurl = null;
  if (process.env.LLAMA_SERVER) {
    lurl = await startServer(procs, process.env.LLAMA_SERVER,
      ['-m', MODEL, '-np', String(SLOTS), '-t', String(T), '-tb', String(T), '-c', String(CTX * SLOTS), '--host', '127.0.0.1',
       '--port', String(18000 + (process.pid % 1000))]);
  }
  console.log(`model ${MODEL}, ${SLOTS} slots, ${T} threads, ${N} tokens x ${REQS} requests per client, ${R} rounds (medians)`);
  const engines = [['hearth', hurl, 'bench'], ...(lurl ? [['llama', lurl, 'bench']] : [])];
  const runs = {};
  for (const c of CLIENTS) {
    runs[c] = {};
    for (let r = 0; r < R; r++)
      for (const [e, url, model] of engines) (runs[c][e] ??= []).push(await load(url, model, c));
  }
  const turn5 = { reuse: [], noreuse: [], llama: [] };
  for (let r = 0; r < R; r++) {
    turn5.reuse.push(await conversationTurn5(hurl, 'bench'));
    turn5.noreuse.push(await conversationTurn5(hurl, 'bench-noreuse'));
    if (lurl) turn5.llama.push(await conversationTurn5(lurl, 'bench'));
  }
  stopAll();
  const L = !!lurl;
  const out = { date: new Date().toISOString(), model: MODEL, slots: SLOTS, threads: T, tokens: N, requests: REQS, rounds: R,
                clients: {}, turn5: { reuse: median(turn5.reuse), noreuse: median(turn5.noreuse), llama: L ? median(turn5.llama) : null } };
  console.log(`${'clients'.padStart(8)} ${'tok/s'.padStart(10)} ${'TTFT ms'.padStart(10)}` +
              (L ? ` ${'llama tok/s'.padStart(12)} ${'llama TTFT'.padStart(11)} ${'tok/s ×'.padStart(8)} ${'TTFT ×'.padStart(8)}` : ''));
  for (const c of CLIENTS) {
    const a = { tps: median(runs[c].hearth.map((x) => x.tps)), ttft: median(runs[c].hearth.map((x) => x.ttft)) };
    const b = L ? { tps: median(runs[c].llama.map((x) => x.tps)), ttft: median(runs[c].llama.map((x) => x.ttft)) } : null;
    out.clients[c] = { hearth: a, llama: b, samples: runs[c] };
    console.log(`${String(c).padStart(8)} ${fmt(a.tps).padStart(10)} ${fmt(a.ttft).padStart(10)}` +
                (b ? ` ${fmt(b.tps).padStart(12)} ${fmt(b.ttft).padStart(11)} ${fmt(a.tps / b.tps, 2).padStart(8)} ${fmt(a.ttft / b.ttft, 2).padStart(8)}` : ''));
  }
  console.log(`turn-5 TTFT: ${fmt(out.turn5.reuse)} ms with prefix reuse, ${fmt(out.turn5.noreuse)} ms without ` +
              `(${fmt(out.turn5.noreuse / out.turn5.reuse, 2)}x)` + (L ? `; llama-server (prompt cache on) ${fmt(out.turn5.llama)} ms` : ''));
  const json = process.env.BENCH_SERVER_JSON ?? join(root, 'build/bench/server.json');
  saveJson(json, out);
  rmSync(dir, { recursive: true, force: true });
}

runMain(main);
