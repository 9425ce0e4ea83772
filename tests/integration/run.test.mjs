// `hearth run`: the stories260K greedy reference, byte for byte on stdout (the headline
// acceptance test), and the argument and model errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = process.env.HEARTH_BIN;
const SHARED = process.env.HEARTH_SHARED ?? '../shared';
const MODEL = join(SHARED, 'models/stories260K.gguf');
const REF = JSON.parse(readFileSync(join(SHARED, 'models/stories260K.reference.json'), 'utf8'));

const run = (args) => spawnSync(BIN, ['run', ...args], { encoding: 'utf8', timeout: 60_000 });

for (const c of REF.cases) {
  test(`greedy continuation of ${JSON.stringify(c.prompt)} equals the reference text`, () => {
    const r = run([MODEL, '-p', c.prompt, '-n', '200', '--temp', '0']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, c.text);
    assert.match(r.stderr, /tok\/s/);
  });
}

test('greedy output does not depend on the thread count', () => {
  const c = REF.cases[1];
  const r = run([MODEL, '-p', c.prompt, '-n', '200', '--temp', '0', '-t', '1']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, c.text);
});

test('-n limits the continuation; sampling with a seed is reproducible', () => {
  const a = run([MODEL, '-p', 'Once upon a time', '-n', '40', '--temp', '0.9', '--seed', '7']);
  const b = run([MODEL, '-p', 'Once upon a time', '-n', '40', '--temp', '0.9', '--seed', '7']);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.ok(a.stdout.length > 0);
  const g = run([MODEL, '-p', 'Once upon a time', '-n', '3', '--temp', '0']);
  assert.equal(g.stdout, REF.cases[0].text.slice(0, g.stdout.length));
  assert.ok(g.stdout.length < 30);
});

test('generation stops with a message when the context is full', () => {
  const r = run([MODEL, '-p', 'Once upon a time', '-n', '200', '--temp', '0', '-c', '20']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /context full/);
  assert.ok(REF.cases[0].text.startsWith(r.stdout));
});

test('a prompt longer than the context is an error saying by how much', () => {
  const r = run([MODEL, '-p', 'Once upon a time there was a little girl', '-c', '4']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /prompt is \d+ tokens, \d+ more than the context size 4/);
  assert.equal(r.stdout, '');
});

const badArgs = [
  [[], 'missing MODEL'],
  [[MODEL], 'missing -p'],
  [[MODEL, '-p'], 'missing value'],
  [[MODEL, '-p', 'x', '-n', 'ten'], 'bad value for -n'],
  [[MODEL, '-p', 'x', '--temp', '-1'], 'bad value for --temp'],
  [[MODEL, '-p', 'x', '--top-p', '1.5'], 'bad value for --top-p'],
  [[MODEL, '-p', 'x', '-t', '0'], 'bad value for -t'],
  [[MODEL, '-p', 'x', '-c', '12abc'], 'bad value for -c'],
  [[MODEL, '-p', 'x', '--frobnicate', '1'], 'unknown option'],
  [[MODEL, MODEL, '-p', 'x'], 'unexpected argument'],
];
for (const [args, msg] of badArgs) {
  test(`bad arguments (${msg}) print usage and exit 2`, () => {
    const r = run(args);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(msg));
    assert.match(r.stderr, /usage: hearth run/);
  });
}

test('a missing or malformed model exits 1 with an error', () => {
  const r = run(['/nonexistent/model.gguf', '-p', 'x']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /hearth run: /);
  const dir = mkdtempSync(join(tmpdir(), 'hearth-run-'));
  try {
    const bad = join(dir, 'bad.gguf');
    writeFileSync(bad, 'GGUF not really a model');
    const r2 = run([bad, '-p', 'x']);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /hearth run: /);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a prompt longer than one batch (512 tokens) is decoded in chunks', () => {
  const prompt = 'Once upon a time there was a little girl. '.repeat(60);
  const r = run([MODEL, '-p', prompt, '-n', '8', '--temp', '0']);
  assert.equal(r.status, 0, r.stderr);
  const m = r.stderr.match(/prompt (\d+) tokens in/);
  assert.ok(m && Number(m[1]) > 512, r.stderr);
  assert.ok(r.stdout.length > 0);
});

test('every failed allocation while loading and decoding ends in a clean error (HEARTH_FAIL_ALLOC_AT)', () => {
  let clean = 0;
  for (let n = 1; n <= 64; n++) {
    const r = spawnSync(BIN, ['run', MODEL, '-p', 'Once upon', '-n', '2', '--temp', '0'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, HEARTH_FAIL_ALLOC_AT: String(n) },
    });
    assert.equal(r.signal, null, `allocation ${n}: killed by ${r.signal}\n${r.stderr}`);
    assert.ok(r.status === 0 || r.status === 1, `allocation ${n}: exit ${r.status}`);
    if (r.status === 1) assert.match(r.stderr, /hearth run: .*(memory|allocate)/, `allocation ${n}`);
    else clean++;
  }
  assert.ok(clean > 0 && clean < 64, `${clean} of 64 runs were unaffected`);
});
