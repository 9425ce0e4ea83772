// A routing served name (docs/SERVER.md "Routing"): `route = SMALL, LARGE` in the config file
// sends each request to one of two served names by rules — the "hearth": {"route"} hint, tools,
// a JSON schema answer, a long prompt, else small — and to the other one when the chosen one is
// unavailable (not served, or its slots and queue full). The response's `model` names the real
// answerer, X-Hearth-Route says which and why, /metrics counts them, /v1/models lists the route,
// and a SIGHUP changes the pair.
// Both targets serve the same generated tiny Qwen 3 model (a chat template with tools): what is
// tested is where requests go, which the served names tell apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, vocab, sleep } from './server_helpers.mjs';

let dir, conf, srv;

const config = (route, extra = '') =>
  `[small]\nmodel = tiny.gguf\nslots = 2\nctx = 1024\n\n[big]\nmodel = tiny.gguf\nslots = 2\nctx = 1024\n\n` +
  `${extra}[auto]\nroute = ${route}\nroute_long_prompt = 50\n`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-route-'));
  execFileSync(BIN, ['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', '--vocab', vocab('qwen2'), join(dir, 'tiny.gguf')], {
    stdio: 'ignore',
  });
  writeFileSync(join(dir, 'broken.gguf'), 'GGUF but not really');
  conf = join(dir, 'hearth.conf');
  writeFileSync(conf, config('small, big'));
  srv = await startServer(['--config', conf], { readyTimeoutMs: 60_000 });
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const TOOLS = [{ type: 'function', function: { name: 'get_time', description: 'the time', parameters: { type: 'object', properties: {} } } }];

async function chat(body) {
  const r = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, seed: 1, ...body }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return { model: JSON.parse(text).model, route: r.headers.get('x-hearth-route') };
}

test('short chat -> small; tools -> large; JSON schema -> large; long prompt -> large', async () => {
  assert.deepEqual(await chat({}), { model: 'small', route: 'small (default)' });
  assert.deepEqual(await chat({ tools: TOOLS }), { model: 'big', route: 'large (tools)' });
  const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
  assert.deepEqual(await chat({ max_tokens: 64, response_format: { type: 'json_schema', json_schema: { name: 'r', schema } } }), {
    model: 'big',
    route: 'large (json_schema)',
  });
  // route_long_prompt = 50 tokens, estimated as bytes / 4: 300 bytes is long, 'hi' is not
  assert.deepEqual(await chat({ messages: [{ role: 'user', content: 'word '.repeat(60) }] }), { model: 'big', route: 'large (long_prompt)' });
});

test('the hint wins over the other rules, both ways; a bad hint is a 400', async () => {
  assert.deepEqual(await chat({ hearth: { route: 'large' } }), { model: 'big', route: 'large (hint)' });
  assert.deepEqual(await chat({ tools: TOOLS, hearth: { route: 'small' } }), { model: 'small', route: 'small (hint)' });
  const r = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }], hearth: { route: 'medium' } }),
  });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /hearth\.route/);
});

test('streaming and Ollama routes are routed too; /v1/models lists the route; /metrics counts', async () => {
  const r = await fetch(`${srv.url}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }], tools: TOOLS, options: { num_predict: 4 } }),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-hearth-route'), 'large (tools)');
  const lines = (await r.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.every((l) => l.model === 'big'), JSON.stringify(lines[0]));
  const ids = (await (await fetch(`${srv.url}/v1/models`)).json()).data.map((m) => m.id).sort();
  assert.deepEqual(ids, ['auto', 'big', 'small']);
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(m, /^hearth_routed_requests_total\{route="auto",target="large",reason="tools"\} 2$/m);
  assert.match(m, /^hearth_routed_requests_total\{route="auto",target="small",reason="default"\} 1$/m);
  assert.match(m, /^hearth_routed_requests_total\{route="auto",target="large",reason="hint"\} 1$/m);
});

// Rewrites the config, sends SIGHUP and waits for the server's log line for the new pair.
async function reload(text, small, large) {
  const from = srv.stderr().length;
  writeFileSync(conf, text);
  srv.proc.kill('SIGHUP');
  const line = `route 'auto' -> small '${small}', large '${large}'`;
  for (let i = 0; i < 600 && !srv.stderr().slice(from).includes(line); i++) await sleep(100);
  assert.ok(srv.stderr().slice(from).includes(line), `the reload never applied:\n${srv.stderr().slice(from)}`);
}

test('a SIGHUP changes the pair; an unavailable target falls back to the other', async () => {
  // one line changed: the pair swapped, so a short chat now goes to big
  await reload(config('big, small'), 'big', 'small');
  assert.deepEqual(await chat({}), { model: 'big', route: 'small (default)' });
  // a large target that fails to load: requests meant for it are answered by small
  const extra = '[broken]\nmodel = broken.gguf\n\n';
  await reload(config('small, broken', extra), 'small', 'broken');
  assert.match(srv.stderr(), /'broken'/, 'the broken model was tried');
  assert.deepEqual(await chat({ tools: TOOLS }), { model: 'small', route: 'small (fallback)' });
  assert.deepEqual(await chat({ hearth: { route: 'large' } }), { model: 'small', route: 'small (fallback)' });
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(m, /^hearth_routed_requests_total\{route="auto",target="small",reason="fallback"\} 2$/m);
  // and back
  await reload(config('small, big'), 'small', 'big');
  assert.deepEqual(await chat({ tools: TOOLS }), { model: 'big', route: 'large (tools)' });
});

test('a route naming an unknown name or itself fails at start with a clear error', async () => {
  for (const [route, msg] of [
    ['small, nope', /route \[auto\] names 'nope', which is not a served name/],
    ['auto, big', /route \[auto\] names itself/],
  ]) {
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, config(route));
    // the server listens before it loads the config, so watch it exit rather than wait for /health
    const r = spawnSync(BIN, ['serve', '--config', bad, '--host', '127.0.0.1', '--port', '0'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, msg);
  }
});

test('a full queue on the chosen side falls back to the other', async () => {
  const qconf = join(dir, 'queue.conf');
  writeFileSync(
    qconf,
    '[small]\nmodel = tiny.gguf\nctx = 1024\n\n[big]\nmodel = tiny.gguf\nslots = 1\nqueue = 1\nctx = 1024\n\n[auto]\nroute = small, big\n',
  );
  const s = await startServer(['--config', qconf], { readyTimeoutMs: 60_000 });
  try {
    const long = () =>
      fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'auto', hearth: { route: 'large' }, messages: [{ role: 'user', content: 'hi' }], max_tokens: 150, ignore_eos: true, temperature: 1 }),
      }).then((r) => r.text());
    const busy = [long(), long()]; // big's one slot and its one queue place
    let full = false;
    for (let i = 0; i < 400 && !full; i++) {
      const m = await (await fetch(`${s.url}/metrics`)).text();
      full = /^hearth_slots_busy\{model="big"\} 1$/m.test(m) && /^hearth_queue_depth\{model="big"\} 1$/m.test(m);
      if (!full) await sleep(5);
    }
    assert.ok(full, 'big never had its slot and queue full');
    const r = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', tools: TOOLS, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-hearth-route'), 'small (fallback)');
    assert.equal((await r.json()).model, 'small');
    await Promise.all(busy);
  } finally {
    await s.stop();
  }
});

// Store mode (--config FILE --store): a route may name store models that are not sections of
// the file; the chosen one is loaded on first use (the request waits for it), and /v1/models
// and /v1/models/{route} list the route.
test('store mode: a route to two store names loads the chosen one; /v1/models/{route}', async () => {
  const home = join(dir, 'home');
  const env = { ...process.env, HEARTH_HOME: home };
  for (const name of ['mini', 'maxi']) {
    const r = spawnSync(BIN, ['import', join(dir, 'tiny.gguf'), '--name', name], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
  }
  const sconf = join(dir, 'store.conf');
  writeFileSync(sconf, '[auto]\nroute = mini, maxi\n');
  const saved = process.env.HEARTH_HOME;
  process.env.HEARTH_HOME = home; // inherited by the server
  let s;
  try {
    s = await startServer(['--config', sconf, '--store', '-t', '2'], { readyTimeoutMs: 60_000 });
  } finally {
    if (saved === undefined) delete process.env.HEARTH_HOME;
    else process.env.HEARTH_HOME = saved;
  }
  try {
    const ask = async (extra) => {
      const r = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, ...extra }),
      });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      return { model: JSON.parse(text).model, route: r.headers.get('x-hearth-route') };
    };
    // neither is loaded: the rules pick, and the pick is loaded (no fallback to nothing)
    assert.deepEqual(await ask({}), { model: 'mini', route: 'small (default)' });
    assert.deepEqual(await ask({ tools: TOOLS }), { model: 'maxi', route: 'large (tools)' });
    assert.deepEqual(await ask({}), { model: 'mini', route: 'small (default)' });
    const ids = (await (await fetch(`${s.url}/v1/models`)).json()).data.map((m) => m.id);
    assert.ok(ids.includes('auto'), JSON.stringify(ids));
    const one = await fetch(`${s.url}/v1/models/auto`);
    assert.equal(one.status, 200);
    assert.equal((await one.json()).id, 'auto');
    assert.equal((await fetch(`${s.url}/v1/models/nope`)).status, 404);
  } finally {
    await s.stop();
  }
  // without --store the same file is refused: 'mini' is no section of it
  const r = spawnSync(BIN, ['serve', '--config', sconf, '--host', '127.0.0.1', '--port', '0'], { encoding: 'utf8', timeout: 30_000, env });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /names 'mini', which is not a served name of this file/);
});
