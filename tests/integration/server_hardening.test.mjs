// Hardening of `hearth serve` (issue 12), on a generated tiny model (no ../shared needed):
// a model path longer than any fixed buffer gets the exact /api/tags digest; an API-key file's
// long line is one key, not several; request paths reach the log escaped; /api/show names no
// file path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, sleep, BIN } from './server_helpers.mjs';

const NAME = 'tiny';
// 1023 bytes (what fgets with a 1024-byte buffer returned as one "key"), then more
const LONG_KEY = 'a'.repeat(1023) + 'b'.repeat(477);
let dir, model, srv;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-hardening-'));
  // a path of ~1.6 KB: longer than the 1200-byte buffer model_digest once formatted it into
  let deep = dir;
  for (let i = 0; i < 8; i++) deep = join(deep, `${'d'.repeat(190)}${i}`);
  mkdirSync(deep, { recursive: true });
  model = join(deep, 'tiny.gguf');
  assert.ok(model.length > 1500);
  const mk = spawnSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'f32', model], { encoding: 'utf8' });
  assert.equal(mk.status, 0, mk.stderr);
  const keys = join(dir, 'keys.txt');
  writeFileSync(keys, `# comment\n${LONG_KEY}\nshort-key\n`);
  const saved = process.env.HEARTH_LOG;
  process.env.HEARTH_LOG = 'debug'; // the server logs each request line at debug
  try {
    srv = await startServer([model, '--name', NAME, '--slots', '1', '--api-key-file', keys]);
  } finally {
    if (saved === undefined) delete process.env.HEARTH_LOG;
    else process.env.HEARTH_LOG = saved;
  }
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const auth = (key) => ({ authorization: `Bearer ${key}` });

test('a model path longer than 1200 bytes: /api/tags digest is SHA-256 of the whole "path:size:mtime"', async () => {
  const r = await fetch(`${srv.url}/api/tags`, { headers: auth('short-key') });
  assert.equal(r.status, 200);
  const { models } = await r.json();
  const st = statSync(model, { bigint: true });
  const ns = st.mtimeNs;
  const key = `${model}:${st.size}:${ns / 1000000000n}.${String(ns % 1000000000n).padStart(9, '0')}`;
  assert.equal(models[0].digest, createHash('sha256').update(key).digest('hex'));
});

test('an API-key file line longer than 1023 bytes is one key: its pieces are refused', async () => {
  let r = await fetch(`${srv.url}/v1/models`, { headers: auth(LONG_KEY) });
  assert.equal(r.status, 200);
  r = await fetch(`${srv.url}/v1/models`, { headers: auth(LONG_KEY.slice(0, 1023)) });
  assert.equal(r.status, 401);
  r = await fetch(`${srv.url}/v1/models`, { headers: auth(LONG_KEY.slice(1023)) });
  assert.equal(r.status, 401);
  r = await fetch(`${srv.url}/v1/models`, { headers: auth('short-key') });
  assert.equal(r.status, 200);
});

test('an API-key file line over 8192 bytes stops the server, naming the line', () => {
  const keys = join(dir, 'toolong.txt');
  writeFileSync(keys, `ok-key\n${'k'.repeat(9000)}\n`);
  const r = spawnSync(BIN, ['serve', model, '--port', '0', '--api-key-file', keys], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr); // like every bad option
  assert.match(r.stderr, /toolong\.txt:2: the key is 9000 bytes; at most 8192/);
});

test('a request path with a newline and an escape sequence reaches the log escaped', async () => {
  const r = await fetch(`${srv.url}/x%0Aforged%20line%1B[31mred`, { headers: auth('short-key') });
  assert.equal(r.status, 404);
  await r.text();
  // the server's stderr arrives through a pipe: wait for the line
  const want = 'serve: GET /x\\nforged line\\x1b[31mred';
  for (let i = 0; i < 100 && !srv.stderr().includes(want); i++) await sleep(20);
  const log = srv.stderr();
  assert.ok(log.includes(want), log.slice(-2000));
  assert.ok(!log.includes('\x1b'), 'a raw ESC reached the log');
  assert.ok(!/^forged line/m.test(log), 'the newline started a forged log line');
});

test('/api/show returns no file path: the Modelfile names the served name', async () => {
  const r = await fetch(`${srv.url}/api/show`, { method: 'POST', headers: { ...auth('short-key'), 'content-type': 'application/json' }, body: JSON.stringify({ model: NAME }) });
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.ok(!text.includes(dir), 'the answer holds the model path');
  assert.ok(!text.includes('tiny.gguf'));
  const show = JSON.parse(text);
  assert.match(show.modelfile, /^FROM tiny$/m);
  assert.match(show.modelfile, /^PARAMETER temperature /m);
  for (const k of ['parameters', 'template', 'details', 'model_info']) assert.ok(k in show, k);
  assert.equal(show.model_info['general.file'], undefined);
});
