// LoRA adapters through the real binary: hearth make-lora, hearth run --lora / --lora-scaled,
// hearth serve --lora-scaled (GET /lora-adapters, per-request "lora" scales as llama-server
// takes them, a request's adapter set keying the prefix cache, bad ids / shapes refused), and a
// config file's `lora = FILE:SCALE`, a store manifest's adapters applied by `serve` (file and
// store mode), and `hearth lora merge --type`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, startServer } from './server_helpers.mjs';

let dir, base, lora, other;

function hearth(args) {
  return spawnSync(BIN, args, { encoding: 'utf8', timeout: 120_000 });
}
function ok(args) {
  const r = hearth(args);
  assert.equal(r.status, 0, `hearth ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-lora-'));
  base = join(dir, 'base.gguf');
  lora = join(dir, 'a.gguf');
  other = join(dir, 'qwen.gguf');
  ok(['make-model', '--shape', 'tiny', '--type', 'q8_0', '--seed', '7', base]);
  ok(['make-lora', '--base', base, '--rank', '8', '--seed', '11', lora]);
  ok(['make-model', '--shape', 'tiny-qwen2', '--type', 'q8_0', '--seed', '7', other]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('make-lora is deterministic and validates its arguments', () => {
  const again = join(dir, 'again.gguf');
  ok(['make-lora', '--base', base, '--rank', '8', '--seed', '11', again]);
  const a = spawnSync('cmp', [lora, again]);
  assert.equal(a.status, 0, 'same seed, same bytes');
  let r = hearth(['make-lora', '--base', base, '--rank', '0', join(dir, 'x.gguf')]);
  assert.equal(r.status, 2);
  r = hearth(['make-lora', '--base', base, '--rank', '4', '--targets', 'q,bogus', join(dir, 'x.gguf')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--targets/);
});

test('run --lora changes the output; an adapter for another architecture is refused', () => {
  const args = ['run', base, '-p', 'hello world', '-n', '8', '--temp', '0'];
  const bare = ok(args).stdout;
  const withA = ok([...args, '--lora', lora]).stdout;
  const zero = ok([...args, '--lora-scaled', lora, '0']).stdout;
  assert.notEqual(withA, bare);
  assert.equal(zero, bare, 'scale 0 is the bare model');
  const qlora = join(dir, 'q.gguf');
  ok(['make-lora', '--base', other, '--rank', '2', qlora]);
  const r = hearth([...args, '--lora', qlora]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /architecture/);
});

async function complete(url, extra) {
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'base', prompt: 'once upon a time', max_tokens: 1, temperature: 0, logprobs: 5, ...extra }),
  });
  return { status: r.status, body: await r.json() };
}

test('serve --lora-scaled: listing, per-request scales, prefix cache keyed by adapter set', async () => {
  const s = await startServer([base, '--lora-scaled', lora, '0.5', '--slots', '1', '-t', '2']);
  try {
    const list = await (await fetch(`${s.url}/lora-adapters`)).json();
    assert.deepEqual(list, [{ id: 0, path: 'a.gguf', scale: 0.5, model: 'base' }]);
    const top = (r) => JSON.stringify(r.body.choices[0].logprobs.top_logprobs);
    const dflt = await complete(s.url, {});
    const off = await complete(s.url, { lora: [{ id: 0, scale: 0 }] });
    const half = await complete(s.url, { lora: [{ id: 0, scale: 0.5 }] });
    const full = await complete(s.url, { lora: [{ id: 0, scale: 1 }] });
    for (const r of [dflt, off, half, full]) assert.equal(r.status, 200, JSON.stringify(r.body));
    // one slot: each request reuses the previous one's prompt only under the same scales
    assert.equal(top(half), top(dflt), 'the default scale is the config one');
    assert.notEqual(top(off), top(dflt));
    assert.notEqual(top(full), top(half));
    const offAgain = await complete(s.url, { lora: [{ id: 0, scale: 0 }] });
    assert.equal(top(offAgain), top(off));
    let bad = await complete(s.url, { lora: [{ id: 1, scale: 1 }] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'lora');
    bad = await complete(s.url, { lora: { id: 0 } });
    assert.equal(bad.status, 400);
    bad = await complete(s.url, { lora: [{ id: 0, scale: 'x' }] });
    assert.equal(bad.status, 400);
  } finally {
    await s.stop();
  }
});

test('config lora = FILE:SCALE; a malformed adapter stops the start with its reason', async () => {
  const conf = join(dir, 'hearth.conf');
  writeFileSync(conf, `[base]\nmodel = ${base}\nslots = 1\nthreads = 2\nlora = ${lora}:0.25, ${lora}\n`);
  const s = await startServer(['--config', conf]);
  try {
    const list = await (await fetch(`${s.url}/lora-adapters`)).json();
    assert.deepEqual(list.map((a) => [a.id, a.scale]), [[0, 0.25], [1, 1]]);
  } finally {
    await s.stop();
  }
  const qlora = join(dir, 'q2.gguf');
  ok(['make-lora', '--base', other, '--rank', '2', qlora]);
  const r = spawnSync(BIN, ['serve', base, '--port', '0', '--lora', qlora], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /architecture/);
});

test('a store manifest\'s adapters are applied by serve (a store name, and store mode)', async () => {
  const home = join(dir, 'home');
  const env = { ...process.env, HEARTH_HOME: home };
  const imp = (args) => {
    const r = spawnSync(BIN, ['import', ...args], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
  };
  imp([base, '--name', 'tiny:lora', '--adapter', lora]);
  imp([base, '--name', 'tiny:bare']);
  const top = (r) => JSON.stringify(r.body.choices[0].logprobs.top_logprobs);
  // the reference: the same base file served with the same adapter file at scale 1
  const ref = await startServer([base, '--lora', lora, '--slots', '1', '-t', '2']);
  let withA, bare;
  try {
    withA = await complete(ref.url, {});
    bare = await complete(ref.url, { lora: [{ id: 0, scale: 0 }] });
  } finally {
    await ref.stop();
  }
  process.env.HEARTH_HOME = home; // inherited by the servers below
  try {
    const named = await startServer(['tiny:lora', '--slots', '1', '-t', '2']);
    try {
      const list = await (await fetch(`${named.url}/lora-adapters`)).json();
      assert.equal(list.length, 1);
      assert.equal(list[0].id, 0);
      assert.equal(list[0].scale, 1);
      const r = await complete(named.url, { model: 'tiny:lora' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(top(r), top(withA), 'the manifest\'s adapter at scale 1');
      const off = await complete(named.url, { model: 'tiny:lora', lora: [{ id: 0, scale: 0 }] });
      assert.equal(top(off), top(bare), 'and a request can still turn it off');
    } finally {
      await named.stop();
    }
    const store = await startServer(['-t', '2']); // store mode: loads by name on request
    try {
      const a = await complete(store.url, { model: 'tiny:lora' });
      const b = await complete(store.url, { model: 'tiny:bare' });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(b.status, 200, JSON.stringify(b.body));
      assert.equal(top(a), top(withA));
      assert.equal(top(b), top(bare));
      assert.notEqual(top(a), top(b));
    } finally {
      await store.stop();
    }
  } finally {
    delete process.env.HEARTH_HOME;
  }
});

test('lora merge --type: the merged model in one type; a bad type is refused by name', () => {
  const out = join(dir, 'merged-q4.gguf');
  ok(['lora', 'merge', base, lora, out, '--scale', '0.5', '--type', 'q4_0']);
  const info = ok(['inspect', out]).stdout;
  assert.match(info, /blk\.0\.attn_q\.weight\s+q4_0/);
  const args = ['run', out, '-p', 'hello world', '-n', '4', '--temp', '0'];
  assert.ok(ok(args).stdout.length > 0);
  const r = hearth(['lora', 'merge', base, lora, join(dir, 'x.gguf'), '--type', 'q9_9']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /q9_9/);
});
