// `hearth serve` driven by the official openai SDK (and raw HTTP for the limits): chat,
// streaming, completions, models, logprobs, errors, auth, CORS, Host check, concurrency and
// cancellation, on stories260K.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { startServer, metric, sleep, MODEL } from './server_helpers.mjs';

let srv, client;
const NAME = 'stories';
const msgs = [{ role: 'user', content: 'Once upon a time' }];

before(async () => {
  srv = await startServer([MODEL, '--name', NAME, '--slots', '4', '--max-body', '65536']);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
});
after(async () => {
  await srv?.stop();
});

test('models: list and retrieve; unknown id is 404 model_not_found', async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [NAME]);
  const m = await client.models.retrieve(NAME);
  assert.equal(m.id, NAME);
  assert.equal(m.object, 'model');
  await assert.rejects(client.models.retrieve('nope'), (e) => e.status === 404 && e.code === 'model_not_found');
});

test('chat: non-streaming answer with usage and finish_reason length', async () => {
  const r = await client.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 12);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 12);
});

test('chat: at temperature 0 the streamed text equals the non-streamed text; usage chunk last', async () => {
  const full = await client.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 40, temperature: 0 });
  const stream = await client.chat.completions.create({
    model: NAME, messages: msgs, max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null, n = 0;
  for await (const chunk of stream) {
    n++;
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.delta.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.ok(n > 2);
  assert.equal(text, full.choices[0].message.content);
  assert.equal(finish, full.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, full.usage.completion_tokens);
});

test('chat: stop string ends the text before it; seed makes sampling reproducible', async () => {
  const base = await client.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 40, temperature: 0 });
  const text = base.choices[0].message.content;
  const cut = text.indexOf(' ', 5);
  assert.ok(cut > 0, text);
  const stop = text.slice(cut, cut + 3);
  const r = await client.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 40, temperature: 0, stop: [stop] });
  assert.equal(r.choices[0].message.content, text.slice(0, text.indexOf(stop)));
  assert.equal(r.choices[0].finish_reason, 'stop');
  const a = await client.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 20, temperature: 1, seed: 42 });
  const b = await client.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 20, temperature: 1, seed: 42 });
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test('chat: logprobs with top_logprobs', async () => {
  const r = await client.chat.completions.create({
    model: NAME, messages: msgs, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, 5);
  for (const e of lp) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 3);
    assert.ok(Array.isArray(e.bytes));
  }
});

test('completions: non-streaming and streaming agree at temperature 0', async () => {
  const full = await client.completions.create({ model: NAME, prompt: 'Once upon a time', max_tokens: 30, temperature: 0 });
  assert.equal(full.object, 'text_completion');
  assert.equal(full.usage.completion_tokens, 30);
  const stream = await client.completions.create({ model: NAME, prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.text ?? '';
  assert.equal(text, full.choices[0].text);
  const def = await client.completions.create({ model: NAME, prompt: 'Once upon a time', temperature: 0 });
  assert.equal(def.usage.completion_tokens, 16, 'legacy default max_tokens');
});

test('errors: bad parameters are 400 with the OpenAI error shape; unknown model is 404', async () => {
  const bad = [
    [{ temperature: 5 }, 'temperature'],
    [{ temperature: 'hot' }, 'temperature'],
    [{ top_p: -1 }, 'top_p'],
    [{ max_tokens: -1 }, 'max_tokens'],
    [{ n: 2 }, 'n'],
    [{ presence_penalty: 9 }, 'presence_penalty'],
    [{ seed: 1.5 }, 'seed'],
    [{ stop: 7 }, 'stop'],
  ];
  for (const [extra, param] of bad) {
    await assert.rejects(
      client.chat.completions.create({ model: NAME, messages: msgs, ...extra }),
      (e) => e.status === 400 && e.param === param && e.type === 'invalid_request_error',
      JSON.stringify(extra),
    );
  }
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-nope', messages: msgs }),
    (e) => e.status === 404 && e.code === 'model_not_found',
  );
  await assert.rejects(client.chat.completions.create({ model: NAME, messages: [] }), (e) => e.status === 400);
});

test('errors: malformed JSON, wrong route, oversized body, deep nesting', async () => {
  let r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', body: '{"model":', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  let j = await r.json();
  assert.equal(j.error.type, 'invalid_request_error');
  assert.match(j.error.message, /parse/);
  r = await fetch(`${srv.url}/v1/nothing`);
  assert.equal(r.status, 404);
  r = await fetch(`${srv.url}/v1/chat/completions`);
  assert.equal(r.status, 405);
  r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(70_000) });
  assert.equal(r.status, 413);
  j = await r.json();
  assert.match(j.error.message, /limit/);
  r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"model":"${NAME}","x":${'['.repeat(200)}${']'.repeat(200)}}` });
  assert.equal(r.status, 400);
  // the server is still fine
  r = await fetch(`${srv.url}/health`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ok' });
  assert.equal(r.headers.get('access-control-allow-origin'), null, 'no CORS without --cors-origin');
});

test('a prompt longer than the context is a 400 that says by how much', async () => {
  const long = 'Once upon a time there was a cat. '.repeat(400);
  await assert.rejects(
    client.completions.create({ model: NAME, prompt: long, max_tokens: 4 }),
    (e) => e.status === 400 && /\d/.test(e.message),
  );
});

function rawGet(port, path, host) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { Host: host } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('Host header check: a foreign Host gets 403 on a loopback bind (DNS rebinding)', async () => {
  const bad = await rawGet(srv.port, '/v1/models', 'evil.example.com');
  assert.equal(bad.status, 403);
  const ok = await rawGet(srv.port, '/v1/models', `localhost:${srv.port}`);
  assert.equal(ok.status, 200);
});

test('8 concurrent streaming clients all complete', async () => {
  const one = async (i) => {
    const s = await client.chat.completions.create({
      model: NAME, messages: [{ role: 'user', content: `Tell story ${i}` }], max_tokens: 60, temperature: 0.8, seed: i, stream: true,
    });
    let finish = null, text = '';
    for await (const c of s) {
      text += c.choices[0]?.delta?.content ?? '';
      if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
    }
    return { finish, text };
  };
  const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => one(i)));
  for (const r of rs) {
    assert.ok(r.finish === 'length' || r.finish === 'stop');
    assert.ok(r.text.length > 0);
  }
});

test('a cancelled stream frees its slot (generation stops early)', async () => {
  const before = (await metric(srv.url, 'hearth_generated_tokens_total', NAME)) || 0;
  const ac = new AbortController();
  const r = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    signal: ac.signal,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: NAME, messages: msgs, max_tokens: 1800, temperature: 1, seed: 1, stream: true }),
  });
  assert.equal(r.status, 200);
  const reader = r.body.getReader();
  for (let i = 0; i < 3; i++) await reader.read();
  ac.abort();
  await reader.read().catch(() => {});
  let busy = NaN;
  for (let i = 0; i < 100; i++) {
    busy = await metric(srv.url, 'hearth_slots_busy', NAME);
    if (busy === 0) break;
    await sleep(50);
  }
  assert.equal(busy, 0);
  const after = await metric(srv.url, 'hearth_generated_tokens_total', NAME);
  assert.ok(after - before < 1800, `cancelled generation ran ${after - before} tokens`);
  const ok = await client.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 3, temperature: 0 });
  assert.equal(ok.usage.completion_tokens, 3);
});

test('metrics: Prometheus text with requests, tokens, latency histograms, slots', async () => {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(text, /^hearth_requests_total\{route="\/v1\/chat\/completions",status="200"\} \d+$/m);
  assert.match(text, /^hearth_requests_total\{route="\/v1\/chat\/completions",status="400"\} \d+$/m);
  assert.ok((await metric(srv.url, 'hearth_generated_tokens_total', NAME)) > 0);
  assert.ok((await metric(srv.url, 'hearth_prompt_tokens_total', NAME)) > 0);
  assert.match(text, /^hearth_time_to_first_token_seconds_count\{model="stories"\} [1-9]\d*$/m);
  assert.match(text, /^hearth_token_latency_seconds_bucket\{model="stories",le="\+Inf"\} [1-9]\d*$/m);
  assert.equal(await metric(srv.url, 'hearth_slots_total', NAME), 4);
  assert.equal(await metric(srv.url, 'hearth_queue_depth', NAME), 0);
});

test('auth and CORS: --api-key requires the Bearer key (health stays open); --cors-origin adds headers', async () => {
  const s2 = await startServer([MODEL, '--name', NAME, '--api-key', 'sekrit', '--cors-origin', 'http://app.example']);
  try {
    let r = await fetch(`${s2.url}/v1/models`);
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error.type, 'authentication_error');
    r = await fetch(`${s2.url}/v1/models`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(r.status, 401);
    r = await fetch(`${s2.url}/health`);
    assert.equal(r.status, 200);
    const c2 = new OpenAI({ baseURL: `${s2.url}/v1`, apiKey: 'sekrit', maxRetries: 0 });
    const out = await c2.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 3 });
    assert.equal(out.usage.completion_tokens, 3);
    r = await fetch(`${s2.url}/v1/models`, { headers: { authorization: 'Bearer sekrit' } });
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://app.example');
    r = await fetch(`${s2.url}/v1/chat/completions`, { method: 'OPTIONS' });
    assert.equal(r.status, 204);
    assert.match(r.headers.get('access-control-allow-headers'), /Authorization/);
  } finally {
    await s2.stop();
  }
});

test('hostile numbers: every numeric field x {-1, 0, max, max+1, INT64_MIN, 1e308, "1", null} is 400 or accepted; 1000 bad requests, then a good one', async () => {
  const fields = ['temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'seed', 'presence_penalty', 'frequency_penalty', 'top_logprobs', 'n', 'top_k', 'min_p', 'repeat_penalty'];
  const values = [-1, 0, 2147483647, 2147483648, '-9223372036854775808', '1e308', '"1"', 'null', '9223372036854775808', '-0.0', '1e-320'];
  const bodies = [];
  for (const f of fields)
    for (const v of values)
      bodies.push(`{"model":"${NAME}","messages":[{"role":"user","content":"hi"}],${f.startsWith('max_') ? '' : '"max_tokens":2,'}"logprobs":true,"${f}":${v}}`);
  const statuses = new Map();
  const send = async (body) => {
    const r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const j = await r.json();
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    if (r.status !== 200) {
      assert.ok(r.status === 400, `${body} -> ${r.status}`);
      assert.equal(typeof j.error.message, 'string');
    } else {
      assert.ok(j.usage.completion_tokens > 0, body);
    }
  };
  for (let i = 0; i < bodies.length; i += 16) await Promise.all(bodies.slice(i, i + 16).map(send));
  assert.ok(statuses.get(400) > 0 && statuses.get(200) > 0, JSON.stringify([...statuses]));
  const junk = ['{', '[]', '{"model":1}', '{"model":"x","messages":"y"}', '\u0000', '{"model":"' + NAME + '","messages":[{"role":"user","content":"hi"}],"n":5}', 'null', '{"a":' + '['.repeat(80) + ']'.repeat(80) + '}'];
  for (let i = 0; i < 1000; i += 25) {
    await Promise.all(
      Array.from({ length: 25 }, (_, k) =>
        fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: junk[(i + k) % junk.length] }).then(async (r) => {
          assert.equal(r.status, 400);
          await r.arrayBuffer();
        }),
      ),
    );
  }
  const ok = await client.chat.completions.create({ model: NAME, messages: msgs, max_tokens: 2 });
  assert.equal(ok.usage.completion_tokens, 2);
});
