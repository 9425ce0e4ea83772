// `hearth bench`: the JSON report (llama-bench-like fields, test names, positive speeds), the
// table, --depth naming, and the argument and model errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL } from './fixtures.mjs';

const BIN = process.env.HEARTH_BIN;

const bench = (args) => spawnSync(BIN, ['bench', ...args], { encoding: 'utf8', timeout: 60_000 });

test('--json prints one pp and one tg result with every field', () => {
  const r = bench([MODEL, '-p', '16', '-n', '8', '-r', '2', '-t', '2', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.ok(Array.isArray(res));
  assert.deepEqual(res.map((x) => x.test), ['pp16', 'tg8']);
  for (const x of res) {
    assert.equal(typeof x.tokens_per_s, 'number');
    assert.ok(x.tokens_per_s > 0, `${x.test}: ${x.tokens_per_s}`);
    assert.equal(typeof x.stddev, 'number');
    assert.ok(x.stddev >= 0);
    assert.equal(x.threads, 2);
    assert.equal(x.type, 'f32'); // stories260K stores its weights in F32
    assert.equal(x.repetitions, 2);
    assert.ok(x.model_bytes > 1_000_000 && x.model_bytes < 1_300_000, String(x.model_bytes));
    // peak RSS of the process: at least the (small, wholly read) mapped file, far below 100 MB
    assert.ok(x.max_rss_bytes >= x.model_bytes && x.max_rss_bytes < 100e6, String(x.max_rss_bytes));
  }
  assert.equal(res[0].n_prompt, 16);
  assert.equal(res[1].n_gen, 8);
});

test('--depth names the tests @d<D>; -n 0 leaves out tg; one repetition has stddev 0', () => {
  const r = bench([MODEL, '-p', '8', '-n', '0', '-r', '1', '--depth', '32', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.deepEqual(res.map((x) => x.test), ['pp8@d32']);
  assert.equal(res[0].n_depth, 32);
  assert.equal(res[0].stddev, 0);
});

test('prompts longer than one batch are processed in chunks', () => {
  const r = bench([MODEL, '-p', '40', '-b', '16', '-n', '0', '-r', '1', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout)[0].test, 'pp40');
});

test('without --json it prints a table', () => {
  const r = bench([MODEL, '-p', '8', '-n', '4', '-r', '1']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 7);
  assert.match(lines[0], /\| model .*\| test .*\| +t\/s \|/);
  assert.match(lines[2], /stories260K\.gguf .*\| pp8 +\| +[0-9.]+ ± [0-9.]+ \|/);
  assert.match(lines[3], /\| tg4 +\|/);
  assert.match(lines[5], /^peak RSS [0-9.]+ MiB; model file 1\.[0-9] MiB \(mapped\), KV cache [0-9.]+ MiB/);
  // stories260K has an output projection of its own: a token reads one row of the embedding table
  assert.match(lines[6], /^a decode step reads 1\.0 MiB of the 1\.1 MiB of weights \(0\.1 MiB stay idle: an untied embedding table but one row\)$/);
});

test('--kv-type: reported with the cache size; q8_0 on 64-wide heads is 17/32 of f16', () => {
  const res = {};
  for (const kv of ['f16', 'f32']) {
    const r = bench([MODEL, '-p', '8', '-n', '0', '-r', '1', '--kv-type', kv, '--json']);
    assert.equal(r.status, 0, r.stderr);
    res[kv] = JSON.parse(r.stdout)[0];
    assert.equal(res[kv].kv_type, kv);
  }
  assert.equal(res.f32.kv_bytes, 2 * res.f16.kv_bytes);
  assert.ok(res.f16.kv_bytes > 0);
  // its heads are 8 wide: q8_0 is refused with the reason
  const q = bench([MODEL, '-p', '8', '-n', '0', '-r', '1', '--kv-type', 'q8_0']);
  assert.equal(q.status, 1);
  assert.match(q.stderr, /multiples of 32/);
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-kv-'));
  try {
    const file = join(dir, 'tiny.gguf');
    const mk = spawnSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', file], { encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    const bytes = {};
    for (const kv of ['f16', 'q8_0']) {
      const r = bench([file, '-p', '32', '-n', '4', '-r', '1', '--depth', '64', '--kv-type', kv, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const x = JSON.parse(r.stdout);
      assert.deepEqual(x.map((y) => y.test), ['pp32@d64', 'tg4@d64']);
      bytes[kv] = x[0].kv_bytes;
    }
    assert.equal(bytes.q8_0 * 32, bytes.f16 * 17);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--json: a sliding-window model reports the ring (swa_rows) and both KV sizes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-swa-'));
  try {
    const file = join(dir, 'g2.gguf');
    const mk = spawnSync(BIN, ['make-model', '--shape', 'tiny-gemma2', '--type', 'f32', file], { encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    // a context of about 32 + 4 + 200 cells; window 8, batch 16: the sliding layers keep 7 + 16 rows
    const r = bench([file, '-p', '32', '-n', '4', '-r', '1', '-b', '16', '--depth', '200', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const x = JSON.parse(r.stdout)[0];
    assert.equal(x.swa_rows, 23);
    // F16, one KV head of 64: 256 bytes per cell and layer, 26 layers in the full cache
    const n_ctx = x.kv_bytes_full / (26 * 256);
    assert.ok(Number.isInteger(n_ctx) && n_ctx >= 200, `n_ctx ${n_ctx}`);
    // 13 of 26 layers sliding: bytes = full * (n_ctx + 23) / (2 * n_ctx)
    assert.equal(x.kv_bytes * 2 * n_ctx, x.kv_bytes_full * (n_ctx + 23));
    const s = bench([MODEL, '-p', '8', '-n', '0', '-r', '1', '--json']);
    const y = JSON.parse(s.stdout)[0];
    assert.equal(y.swa_rows, 0);
    assert.equal(y.kv_bytes, y.kv_bytes_full);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const badArgs = [
  [[], 'missing MODEL'],
  [[MODEL, '-p'], 'missing value'],
  [[MODEL, '-p', 'many'], 'bad value for -p'],
  [[MODEL, '-n', '-3'], 'bad value for -n'],
  [[MODEL, '-r', '0'], 'bad value for -r'],
  [[MODEL, '-t', '0'], 'bad value for -t'],
  [[MODEL, '-b', '0'], 'bad value for -b'],
  [[MODEL, '--depth', '1x'], 'bad value for --depth'],
  [[MODEL, '--kv-type', 'q4'], 'bad value for --kv-type'],
  [[MODEL, '--kv-type'], 'missing value'],
  [[MODEL, '-p', '0', '-n', '0'], 'nothing to measure'],
  [[MODEL, '--frobnicate'], 'unknown option'],
  [[MODEL, MODEL], 'unexpected argument'],
];
for (const [args, msg] of badArgs) {
  test(`bad arguments (${msg}) print usage and exit 2`, () => {
    const r = bench(args);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(msg));
    assert.match(r.stderr, /usage: hearth bench/);
    assert.equal(r.stdout, '');
  });
}

test('a missing or malformed model exits 1 with an error', () => {
  const r = bench(['/nonexistent/model.gguf']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /hearth bench: /);
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-'));
  try {
    const bad = join(dir, 'bad.gguf');
    writeFileSync(bad, 'GGUF not really a model');
    const r2 = bench([bad]);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /hearth bench: /);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('--draft: the model as its own draft verifies 4 drafts per target pass', () => {
  const r = bench([MODEL, '-p', '0', '-n', '64', '-r', '2', '-t', '1', '--draft', MODEL, '--draft-max', '4', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.deepEqual(res.map((x) => x.test), ['tg64', 'tg64greedy', 'tg64spec']);
  const s = res[2];
  assert.ok(s.draft_accept_rate >= 0.95, String(s.draft_accept_rate));
  assert.ok(s.tokens_per_target_pass >= 3, String(s.tokens_per_target_pass));
  assert.equal(s.draft_max, 4);
  assert.equal(s.draft, MODEL);
  assert.ok(s.tokens_per_s > 0 && res[1].tokens_per_s > 0);
  assert.equal(res[1].draft_accept_rate, undefined);
  const t = bench([MODEL, '-p', '0', '-n', '16', '-r', '1', '--draft-layers', '2', '--draft-max', '3']);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /tg16spec: draft = the first 2 layers, draft_max 3: draft_accept_rate [0-9.]+, tokens_per_target_pass [0-9.]+; [0-9.]+x the plain greedy speed/);
});
