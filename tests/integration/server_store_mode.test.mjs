// Store mode driven by the official `ollama` npm client: `hearth serve` with no model serves
// every model of the store (a temp HEARTH_HOME with two generated tiny models), loading on
// first use; keep_alive unloads; /api/show is truthful; create/copy/delete change the store
// (seen by /api/tags and `hearth ls`); pull is refused with the explanation; memory admission
// evicts the least recently used idle model under a small --max-memory, or refuses naming the
// sizes when one model alone does not fit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ollama } from 'ollama';
import { startServer, BIN, sleep } from './server_helpers.mjs';

const TEMPLATES = join(dirname(fileURLToPath(import.meta.url)), '../data/templates');
let dir, home;

function hearth(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, HEARTH_HOME: home } });
  assert.equal(r.status, 0, `hearth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-storemode-'));
  home = join(dir, 'home');
  process.env.HEARTH_HOME = home; // inherited by the servers
  hearth(['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', '--seed', '1', join(dir, 'q.gguf')]);
  hearth(['make-model', '--shape', 'tiny', '--type', 'q4_0', '--seed', '2', join(dir, 't.gguf')]);
  hearth(['import', join(dir, 'q.gguf'), '--name', 'qwen', '--template', join(TEMPLATES, 'qwen3.jinja')]);
  hearth(['import', join(dir, 't.gguf'), '--name', 'tiny:1m']);
});
after(() => {
  delete process.env.HEARTH_HOME;
  rmSync(dir, { recursive: true, force: true });
});

const names = (list) => list.models.map((m) => m.name).sort();

test('store mode: list, generate on a model not loaded, show, ps, keep_alive', async () => {
  const srv = await startServer(['-t', '2']);
  try {
    const ollama = new Ollama({ host: srv.url });
    assert.deepEqual(names(await ollama.list()), ['qwen', 'tiny:1m']);
    assert.deepEqual((await ollama.ps()).models, [], 'nothing loaded at start');
    const v1 = await (await fetch(`${srv.url}/v1/models`)).json();
    assert.deepEqual(v1.data.map((m) => m.id).sort(), ['qwen', 'tiny:1m'], '/v1/models lists the store too');
    const tags = (await ollama.list()).models.find((m) => m.name === 'qwen');
    assert.equal(tags.details.family, 'qwen3');
    assert.equal(tags.details.quantization_level, 'Q8_0');
    assert.match(tags.details.parameter_size, /^\d+(\.\d)?M$/);
    assert.match(tags.digest, /^[0-9a-f]{64}$/);

    // "qwen:latest" is the stored "qwen" (Ollama's implied tag); the first request loads it
    const g = await ollama.generate({ model: 'qwen:latest', prompt: 'Hello', stream: false, options: { num_predict: 4, temperature: 0 } });
    assert.equal(g.done, true);
    assert.equal(g.eval_count, 4);
    assert.ok(g.load_duration > 0 && g.load_duration < g.total_duration, 'load_duration: this request loaded it');
    const ps = (await ollama.ps()).models;
    assert.deepEqual(ps.map((m) => m.name), ['qwen']);
    assert.ok(ps[0].size > tags.size, 'ps size is the predicted memory: weights + KV + scratch');
    assert.equal(ps[0].context_length, 512);
    const left = (Date.parse(ps[0].expires_at) - Date.now()) / 1000;
    assert.ok(left > 240 && left <= 301, `default keep_alive 5m, ${left} s left`);

    // show: capabilities from the Qwen 3 template, details, model_info, no paths
    const show = await ollama.show({ model: 'qwen' });
    assert.deepEqual(show.capabilities, ['completion', 'tools', 'thinking']);
    assert.equal(show.details.format, 'gguf');
    assert.equal(show.details.quantization_level, 'Q8_0');
    assert.equal(show.model_info['general.architecture'], 'qwen3');
    assert.equal(show.model_info['qwen3.context_length'], 512);
    assert.ok(show.model_info['general.parameter_count'] > 1e6);
    assert.match(show.modified_at, /^\d{4}-\d\d-\d\dT/);
    assert.ok(!JSON.stringify(show).includes(dir), 'no store path in show');
    // a model not loaded is described without loading it; no template: completion only
    const tshow = await ollama.show({ model: 'tiny:1m' });
    assert.deepEqual(tshow.capabilities, ['completion']);
    assert.equal(tshow.details.quantization_level, 'Q4_0');
    assert.deepEqual((await ollama.ps()).models.map((m) => m.name), ['qwen']);

    // keep_alive -1: forever; keep_alive 0 on a load request: unloaded now
    const load = await ollama.generate({ model: 'tiny:1m', prompt: '', keep_alive: -1 });
    assert.equal(load.done_reason, 'load');
    const forever = (await ollama.ps()).models.find((m) => m.name === 'tiny:1m');
    assert.ok(Date.parse(forever.expires_at) > Date.now() + 100 * 365 * 86400e3);
    const unload = await ollama.generate({ model: 'tiny:1m', prompt: '', keep_alive: 0 });
    assert.equal(unload.done_reason, 'unload');
    assert.deepEqual((await ollama.ps()).models.map((m) => m.name), ['qwen']);

    // a short keep_alive ("1s"): the reaper unloads it once idle that long
    await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'Hi' }], keep_alive: '1s', options: { num_predict: 2 } });
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      await sleep(100);
      gone = (await ollama.ps()).models.length === 0 && /'qwen' unloading \(keep_alive expired\)/.test(srv.stderr());
    }
    assert.ok(gone, 'unloaded after keep_alive 1s');

    await assert.rejects(ollama.generate({ model: 'qwen', prompt: 'x', keep_alive: '5 minutes' }), /keep_alive/);
    await assert.rejects(ollama.generate({ model: 'nope', prompt: 'x', stream: false }), /not found/);
  } finally {
    await srv.stop();
  }
});

test('store mode: create, copy, delete reflected in list and `hearth ls`; pull refused', async () => {
  const srv = await startServer(['-t', '2', '--model-dir', dir]);
  try {
    const ollama = new Ollama({ host: srv.url });
    const r = await ollama.create({ model: 'brief:v1', from: 'qwen', system: 'Be brief.', parameters: { temperature: 0, num_ctx: 256 }, stream: false });
    assert.equal(r.status, 'success');
    // streamed: Ollama's status lines, ending in success
    const lines = [];
    for await (const p of await ollama.create({ model: 'brief:v1', from: 'brief:v1', template: '{{ messages[0].content }}', stream: true })) lines.push(p.status);
    assert.equal(lines.at(-1), 'success');
    assert.ok(lines.includes('creating template layer'));
    const show = await ollama.show({ model: 'brief:v1' });
    assert.equal(show.system, 'Be brief.');
    assert.match(show.parameters, /temperature 0\b/);
    assert.match(show.parameters, /num_ctx 256\b/);
    assert.equal(show.template, '{{ messages[0].content }}');
    assert.deepEqual(show.capabilities, ['completion'], 'the new template has no tools');
    const g = await ollama.generate({ model: 'brief:v1', prompt: 'Hi', stream: false, options: { num_predict: 2 } });
    assert.equal(g.done, true);
    assert.equal((await ollama.ps()).models[0].context_length, 256, 'the created num_ctx is used');

    await ollama.copy({ source: 'brief:v1', destination: 'brief:v2' });
    await ollama.delete({ model: 'brief:v1' });
    assert.deepEqual(names(await ollama.list()), ['brief:v2', 'qwen', 'tiny:1m']);
    const ls = hearth(['ls']);
    assert.match(ls, /^brief:v2\s/m);
    assert.doesNotMatch(ls, /^brief:v1\s/m);
    assert.deepEqual((await ollama.ps()).models, [], 'the deleted model was unloaded');
    await assert.rejects(ollama.delete({ model: 'brief:v1' }), /not found/);
    await assert.rejects(ollama.copy({ source: 'qwen', destination: '../x' }), /destination/);

    // from a file: only with the admin token (the ollama client refuses local paths: fetch)
    const create = (headers) => fetch(`${srv.url}/api/create`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'fromfile', from: join(dir, 't.gguf'), system: 'S.', stream: false }),
    });
    const refused = await create({});
    assert.equal(refused.status, 403);
    assert.match((await refused.json()).error, /admin action/);
    const token = readFileSync(join(home, 'run', `admin-${srv.port}.token`), 'utf8').trim();
    const made = await create({ 'X-Hearth-Admin': token });
    assert.equal(made.status, 200, await made.clone().text());
    assert.deepEqual(await made.json(), { status: 'success' });
    assert.equal((await ollama.show({ model: 'fromfile' })).system, 'S.');
    // streamed (Ollama's default): progress lines with total/completed as the file is hashed
    const streamed = await fetch(`${srv.url}/api/create`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Hearth-Admin': token },
      body: JSON.stringify({ model: 'fromfile:2', from: join(dir, 'q.gguf') }),
    });
    assert.equal(streamed.status, 200);
    const events = (await streamed.text()).trim().split('\n').map((l) => JSON.parse(l));
    const size = statSync(join(dir, 'q.gguf')).size;
    assert.ok(events.some((e) => e.total === size && e.completed === size), JSON.stringify(events));
    assert.equal(events.at(-1).status, 'success');
    assert.match(hearth(['ls']), /^fromfile\s/m);
    await assert.rejects(ollama.pull({ model: 'llama3', stream: false }), /never downloads.*hearth import/);
    await assert.rejects(ollama.push({ model: 'qwen', stream: false }), /never uploads/);
  } finally {
    await srv.stop();
  }
});

test('--config names coexist with store names (--store) and stay pinned', async () => {
  writeFileSync(join(dir, 'h.conf'), `[pinned]\nmodel = ${join(dir, 't.gguf')}\n`);
  const srv = await startServer(['-t', '2', '--config', join(dir, 'h.conf'), '--store']);
  try {
    const ollama = new Ollama({ host: srv.url });
    const listed = names(await ollama.list());
    for (const n of ['pinned', 'qwen', 'tiny:1m']) assert.ok(listed.includes(n), `${n} in ${listed}`);
    await ollama.generate({ model: 'qwen', prompt: '' });
    const ps = (await ollama.ps()).models;
    assert.deepEqual(ps.map((m) => m.name).sort(), ['pinned', 'qwen']);
    assert.ok(ps.every((m) => m.size > 0));
    const r = await ollama.generate({ model: 'pinned', prompt: '', keep_alive: 0 });
    assert.equal(r.done_reason, 'load', 'a pinned name is not unloaded');
    assert.deepEqual((await ollama.ps()).models.map((m) => m.name).sort(), ['pinned', 'qwen']);
  } finally {
    await srv.stop();
  }
});

test('memory admission: LRU eviction under --max-memory; a model that alone does not fit is refused with sizes', async () => {
  // the predicted sizes on this machine (they depend on the thread count: -t 2 fixes it)
  const big = await startServer(['-t', '2', '--max-memory', '4G']);
  let sq, st;
  try {
    const ollama = new Ollama({ host: big.url });
    await ollama.generate({ model: 'qwen', prompt: '' });
    await ollama.generate({ model: 'tiny:1m', prompt: '' });
    const ps = (await ollama.ps()).models;
    sq = ps.find((m) => m.name === 'qwen').size;
    st = ps.find((m) => m.name === 'tiny:1m').size;
  } finally {
    await big.stop();
  }
  const budget = Math.max(sq, st) + Math.floor(Math.min(sq, st) / 2); // one fits, not both
  const srv = await startServer(['-t', '2', '--max-memory', String(budget)]);
  try {
    const ollama = new Ollama({ host: srv.url });
    await ollama.generate({ model: 'qwen', prompt: 'a', stream: false, options: { num_predict: 1 } });
    await ollama.generate({ model: 'tiny:1m', prompt: 'a', stream: false, options: { num_predict: 1 } });
    assert.deepEqual((await ollama.ps()).models.map((m) => m.name), ['tiny:1m'], 'qwen evicted for tiny');
    assert.match(srv.stderr(), /'qwen' unloaded to make room for 'tiny:1m'/);
    await ollama.generate({ model: 'qwen', prompt: 'a', stream: false, options: { num_predict: 1 } });
    assert.deepEqual((await ollama.ps()).models.map((m) => m.name), ['qwen']);
  } finally {
    await srv.stop();
  }
  const small = await startServer(['-t', '2', '--max-memory', '1M']);
  try {
    const ollama = new Ollama({ host: small.url });
    await assert.rejects(ollama.generate({ model: 'qwen', prompt: 'a', stream: false }),
      (e) => /model 'qwen' needs [\d.]+ MiB \(weights [\d.]+ MiB \+ KV cache [\d.]+ MiB at context 512 \+ scratch [\d.]+ MiB\), more than the server's whole memory budget of 1\.00 MiB/.test(e.message));
    assert.deepEqual((await ollama.ps()).models, []);
  } finally {
    await small.stop();
  }
});
