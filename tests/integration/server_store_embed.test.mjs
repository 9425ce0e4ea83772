// Store mode serves embedding models and rerankers too: a stored encoder is loaded on its first
// /v1/embeddings, /api/embed or /v1/rerank request (the connection parks while the manager
// loads it), and /api/show reports its capability before and after loading.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN } from './server_helpers.mjs';
import { vocab } from './fixtures.mjs';

let dir, srv;
const post = (path, body) =>
  fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-store-embed-'));
  const home = join(dir, 'home');
  process.env.HEARTH_HOME = home;
  for (const [shape, name] of [['tiny-bert', 'bge:tiny'], ['tiny-bert-reranker', 'rerank:tiny']]) {
    const f = join(dir, `${shape}.gguf`);
    let r = spawnSync(BIN, ['make-model', '--shape', shape, '--type', 'f32', '--vocab', vocab('bert-bge'), f], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    r = spawnSync(BIN, ['import', f, '--name', name], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  srv = await startServer([], { readyTimeoutMs: 60_000 });
});
after(async () => {
  await srv?.stop();
  delete process.env.HEARTH_HOME;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('show reports embedding before the model is loaded', async () => {
  const r = await post('/api/show', { model: 'bge:tiny' });
  assert.equal(r.status, 200);
  assert.deepEqual((await r.json()).capabilities, ['embedding']);
});

test('the first embeddings request loads the model; both APIs give the same vector', async () => {
  const a = await post('/v1/embeddings', { model: 'bge:tiny', input: 'a local context index' });
  assert.equal(a.status, 200, await a.clone().text());
  const va = (await a.json()).data[0].embedding;
  assert.ok(va.length > 0);
  const b = await post('/api/embed', { model: 'bge:tiny', input: 'a local context index' });
  assert.equal(b.status, 200);
  const vb = (await b.json()).embeddings[0];
  assert.equal(vb.length, va.length);
  for (let i = 0; i < va.length; i++) assert.ok(Math.abs(va[i] - vb[i]) < 1e-6);
  const ps = await (await fetch(`${srv.url}/api/ps`)).json();
  assert.ok(ps.models.some((m) => m.name.startsWith('bge')), JSON.stringify(ps));
});

test('a stored reranker loads on its first rerank; the wrong kind is refused after loading', async () => {
  const r = await post('/v1/rerank', { model: 'rerank:tiny', query: 'q', documents: ['one', 'two', 'three'] });
  assert.equal(r.status, 200, await r.clone().text());
  assert.equal((await r.json()).results.length, 3);
  const w = await post('/v1/embeddings', { model: 'rerank:tiny', input: 'x' });
  assert.equal(w.status, 400);
  assert.equal((await w.json()).error.code, 'model_kind_mismatch');
});
