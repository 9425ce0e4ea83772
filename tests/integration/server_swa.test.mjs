// The sliding-window ring behind the server (docs/ENGINE.md "Sliding-window layers"): a
// generated tiny Gemma 2 (window 8, every other layer sliding) served as `ring` with batch 16,
// whose sliding-window layers keep 2 * 7 + 16 rows instead of 2 * 256, and as `full` with
// batch 512, for which a ring would be no smaller than the context (so none is made).
//
// With prefix reuse off (`ring`, `full`) both place every token in the same cells, so greedy
// completions with log-probs must be identical, over long prompts (many windows) and two slots
// sharing the ring. With prefix reuse on (`ring_reuse`, `full_reuse`), a prompt that shares only
// an early prefix with a slot's history is where they part: the full cache keeps that prefix,
// while the ring no longer holds the window before it — the cache drops the sequence and the
// scheduler recomputes it (cached_tokens 0). The answers are still the same bit for bit (the
// recomputed tokens sit in other cells, but attention lists a sequence's cells in position
// order: docs/ENGINE.md "KV cache"), and the same as a cache that recomputes as well. /metrics shows both names' KV bytes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, metric } from './server_helpers.mjs';

let dir, srv;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-swa-'));
  execFileSync(BIN, ['make-model', '--shape', 'tiny-gemma2', '--type', 'f32', '--seed', '3', join(dir, 'g2.gguf')], { stdio: 'ignore' });
  const conf = join(dir, 'hearth.conf');
  const common = 'model = g2.gguf\nslots = 2\nctx = 256\ntemperature = 0\n';
  writeFileSync(
    conf,
    `[ring]\n${common}batch = 16\nprefix_reuse = off\n\n[full]\n${common}batch = 512\nprefix_reuse = off\n\n` +
      `[ring_reuse]\n${common}batch = 16\n\n[full_reuse]\n${common}batch = 512\n`,
  );
  srv = await startServer(['--config', conf], { readyTimeoutMs: 60_000 });
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function ids(n, seed) {
  const out = [];
  for (let i = 0; i < n; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    out.push(3 + (seed >>> 8) % 500);
  }
  return out;
}

async function complete(model, prompt) {
  const r = await fetch(`${srv.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt, max_tokens: 12, logprobs: 5, seed: 1 }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  const o = JSON.parse(text);
  const c = o.choices[0];
  return { text: c.text, logprobs: c.logprobs, cached: o.usage.prompt_tokens_details?.cached_tokens ?? 0 };
}

async function same(prompt, what) {
  const a = await complete('ring', prompt);
  const b = await complete('full', prompt);
  assert.equal(a.cached, 0);
  assert.deepEqual(a, b, `${what}: the ring answers differently`);
  return a;
}

test('the ring keeps less KV', async () => {
  await same([1, 2, 3], 'warm-up');
  const ring = await metric(srv.url, 'hearth_kv_cache_bytes', 'ring');
  const full = await metric(srv.url, 'hearth_kv_cache_full_bytes', 'ring');
  assert.equal(full, await metric(srv.url, 'hearth_kv_cache_bytes', 'full'));
  // 13 of 26 layers keep 30 rows instead of 512
  assert.equal(ring * 2 * 512, full * (512 + 30));
});

test('long prompts and two slots sharing the ring: identical answers', async () => {
  const p1 = ids(180, 7);
  await same(p1, '180-token prompt');
  await same([...p1.slice(0, 60), ...ids(70, 9)], 'another prompt');
  const a = ids(100, 31), b = ids(110, 32);
  await same(a, 'slot A');
  await same(b, 'slot B');
  await same([...a, ...ids(30, 33)], 'slot A again, longer');
  await same([...b.slice(0, 90), ...ids(20, 34)], 'slot B again, shorter');
});

test('prefix reuse past the ring: the sequence is recomputed, the answer agrees', async () => {
  const p1 = ids(180, 41);
  const r1 = await complete('ring_reuse', p1);
  const f1 = await complete('full_reuse', p1);
  assert.deepEqual(r1, f1);
  // shares 60 tokens with the slot's 192: the full cache reuses them, the ring cannot
  const p2 = [...p1.slice(0, 60), ...ids(70, 42)];
  const r2 = await complete('ring_reuse', p2);
  const f2 = await complete('full_reuse', p2);
  assert.equal(f2.cached, 60);
  assert.equal(r2.cached, 0, 'the ring must not serve a window it gave away');
  assert.equal(r2.text, f2.text);
  // bit for bit: where the recomputed tokens sit in the cache changes nothing (attention lists a
  // sequence's cells in position order), nor does reused prefix + remainder vs the whole prompt
  assert.deepEqual(r2.logprobs, f2.logprobs, 'log-probs: the reused prefix and the recomputed one');
  // and exactly what a cache that recomputes gives
  const { cached, ...fresh } = await complete('full', p2);
  const { cached: c2, ...ring2 } = r2;
  assert.deepEqual(ring2, fresh);
  // a rollback the ring still holds is reused: continue the same prompt by 3 tokens
  const p3 = [...p2, ...ids(3, 43)];
  const r3 = await complete('ring_reuse', p3);
  assert.equal(r3.cached, p2.length, 'the shared prompt is reused (the generated tail is dropped)');
});
