// Hot swap under load: streaming clients loop while `hearth swap` switches the served name
// between a Q8_0 and a Q4_0 generated model; no request may fail and every stream must end
// properly. Also: a swap to a broken file is refused and the name keeps serving; a full
// queue answers 429 with Retry-After. `hearth swap` finds the server's admin token in the token
// file the server wrote (loading a file is an admin act; server_websafe.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, MODEL, vocab, sleep } from './server_helpers.mjs';

const VOCAB = vocab('llama-spm');
let dir, q8, q4, srv;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-swap-'));
  q8 = join(dir, 'tiny-q8.gguf');
  q4 = join(dir, 'tiny-q4.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', '--vocab', VOCAB, q8], { stdio: 'ignore' });
  execFileSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q4_0', '--vocab', VOCAB, q4], { stdio: 'ignore' });
  srv = await startServer([q8, '--name', 'tiny', '--slots', '4', '--api-key', 'k1']);
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function streamOnce(i) {
  const r = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer k1' },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 16, stream: true, seed: i }),
  });
  if (r.status !== 200) throw new Error(`status ${r.status}: ${await r.text()}`);
  const body = await r.text();
  if (!body.endsWith('data: [DONE]\n\n')) throw new Error(`incomplete stream: ${body.slice(-200)}`);
  if (!/"finish_reason":"(length|stop)"/.test(body)) throw new Error('no finish_reason');
}

const swap = (file) =>
  spawnSync(BIN, ['swap', 'tiny', file, '--port', String(srv.port), '--api-key', 'k1'], { encoding: 'utf8', timeout: 120_000 });

test('swap Q8_0 -> Q4_0 -> Q8_0 ... while 16 streaming clients loop: zero failed requests', async () => {
  let stop = false, ok = 0;
  const failures = [];
  const client = async (c) => {
    for (let i = 0; !stop && i < 10_000; i++) {
      try {
        await streamOnce(c * 100_000 + i);
        ok++;
      } catch (e) {
        failures.push(String(e));
      }
    }
  };
  const clients = Array.from({ length: 16 }, (_, c) => client(c));
  await sleep(200);
  for (const f of [q4, q8, q4, q8]) {
    const r = swap(f);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /swapped 'tiny'/);
    await sleep(150);
  }
  // keep the clients going until enough requests have finished (slow builds: ASan)
  for (let i = 0; i < 600 && ok < 32; i++) await sleep(100);
  stop = true;
  await Promise.all(clients);
  assert.deepEqual(failures, []);
  assert.ok(ok >= 16, `only ${ok} requests completed`);
});

test('a swap to a broken file is refused and the name keeps serving', async () => {
  const bad = join(dir, 'broken.gguf');
  writeFileSync(bad, 'GGUF but not really');
  const r = swap(bad);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /keeps its model/);
  await streamOnce(1);
  // neither the API key nor the admin token: 401; the API key without the admin token: 403
  const noauth = spawnSync(BIN, ['swap', 'tiny', q4, '--port', String(srv.port), '--admin-key', 'wrong'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(noauth.status, 1);
  assert.match(noauth.stderr, /401/);
  const noadmin = spawnSync(BIN, ['swap', 'tiny', q4, '--port', String(srv.port), '--api-key', 'k1', '--admin-key', 'wrong'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(noadmin.status, 1);
  assert.match(noadmin.stderr, /403.*admin/);
});

test('a full queue answers 429 with Retry-After', async () => {
  const s = await startServer([MODEL, '--name', 'st', '--slots', '1', '--queue', '1']);
  try {
    const body = JSON.stringify({ model: 'st', prompt: 'Once upon a time', max_tokens: 1500, temperature: 1, stream: true });
    const rs = await Promise.all(
      Array.from({ length: 6 }, () => fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })),
    );
    const limited = rs.filter((r) => r.status === 429);
    assert.ok(limited.length >= 1, `statuses: ${rs.map((r) => r.status)}`);
    assert.equal(limited[0].headers.get('retry-after'), '1');
    assert.equal((await limited[0].json()).error.type, 'rate_limit_error');
    // hang up on the long generations: their slots are freed by the disconnect
    await Promise.all(rs.filter((r) => r.status === 200).map((r) => r.body.cancel()));
  } finally {
    await s.stop();
  }
});
