// Context overflow as a served-name choice (docs/SERVER.md "Context overflow"): with
// `context_overflow = error` (the default) a chat longer than the context is a 400
// context_length_exceeded; with `shift` its oldest whole turns are dropped — the system message
// and the newest turn stay — until the prompt leaves room for the answer (max_tokens, else a
// quarter of the context), the response says how many messages went (X-Hearth-Context-Shift)
// and /metrics counts the shifts. Both names serve the same generated tiny Qwen 3 (ChatML
// template) at ctx 160, greedy, so a shifted request must answer exactly as the same chat with
// those turns left out by hand.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, vocab, metric } from './server_helpers.mjs';

const CTX = 160;
let dir, srv;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-overflow-'));
  execFileSync(BIN, ['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', '--vocab', vocab('qwen2'), join(dir, 'tiny.gguf')], {
    stdio: 'ignore',
  });
  const conf = join(dir, 'hearth.conf');
  writeFileSync(
    conf,
    `[err]\nmodel = tiny.gguf\nslots = 1\nctx = ${CTX}\ntemperature = 0\n\n` +
      `[shift]\nmodel = tiny.gguf\nslots = 1\nctx = ${CTX}\ntemperature = 0\ncontext_overflow = shift\n`,
  );
  srv = await startServer(['--config', conf], { readyTimeoutMs: 60_000 });
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const SYSTEM = { role: 'system', content: 'You are a careful assistant.' };
// turn i: a user message and the assistant's answer (the last turn: the user message alone)
function conversation(nTurns) {
  const msgs = [SYSTEM];
  for (let i = 0; i < nTurns; i++) {
    msgs.push({ role: 'user', content: `Question ${i}: ${'tell me more about the weather '.repeat(2)}` });
    if (i < nTurns - 1) msgs.push({ role: 'assistant', content: `Answer ${i}: it is sunny and mild today.` });
  }
  return msgs;
}

async function post(path, model, body) {
  const r = await fetch(`${srv.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, seed: 1, ...body }),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, body: json, text, shift: r.headers.get('x-hearth-context-shift') };
}
const chat = (model, messages, extra = {}) => post('/v1/chat/completions', model, { messages, max_tokens: 8, ...extra });

test('error (default): a chat longer than the context is a 400 context_length_exceeded', async () => {
  const r = await chat('err', conversation(12));
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.error.code, 'context_length_exceeded');
  assert.equal(r.body.error.param, 'messages');
  assert.match(r.body.error.message, /more than the context size 160/);
  assert.equal(r.shift, null);
});

test('shift: the oldest turns go, the system message and newest turns stay, as if left out by hand', async () => {
  const msgs = conversation(12);
  const r = await chat('shift', msgs);
  assert.equal(r.status, 200, r.text);
  const dropped = Number(r.shift);
  assert.ok(dropped >= 2 && dropped % 2 === 0, `whole turns (user + assistant) dropped: ${r.shift}`);
  // room for the answer: max_tokens (8)
  assert.ok(r.body.usage.prompt_tokens <= CTX - 8, `prompt ${r.body.usage.prompt_tokens} tokens`);
  // the same chat with those messages removed by hand, on the name that never shifts
  const kept = [SYSTEM, ...msgs.slice(1 + dropped)];
  const by_hand = await chat('err', kept);
  assert.equal(by_hand.status, 200, by_hand.text);
  assert.equal(r.body.usage.prompt_tokens, by_hand.body.usage.prompt_tokens);
  assert.equal(r.body.choices[0].message.content, by_hand.body.choices[0].message.content);
  // the fewest turns: with one more turn kept it would not have left the room
  const one_more = await chat('err', [SYSTEM, ...msgs.slice(1 + dropped - 2)]);
  assert.ok(one_more.status === 400 || one_more.body.usage.prompt_tokens > CTX - 8, one_more.text);
  // max_tokens unset: a quarter of the context is kept free, so more goes
  const quarter = await chat('shift', msgs, { max_tokens: undefined });
  assert.equal(quarter.status, 200, quarter.text);
  assert.ok(Number(quarter.shift) >= dropped);
  assert.ok(quarter.body.usage.prompt_tokens <= CTX - CTX / 4, `prompt ${quarter.body.usage.prompt_tokens}`);
});

test('shift: a chat that fits is untouched; a newest turn too long alone is still a 400', async () => {
  const short = conversation(2);
  const a = await chat('shift', short);
  const b = await chat('err', short);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.shift, null);
  assert.equal(a.body.usage.prompt_tokens, b.body.usage.prompt_tokens);
  assert.equal(a.body.choices[0].message.content, b.body.choices[0].message.content);
  const huge = [SYSTEM, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'word '.repeat(400) }];
  const r = await chat('shift', huge);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.error.code, 'context_length_exceeded');
});

test('shift: streaming, the Ollama chat route and the Responses API report it too; /metrics counts shifts and messages', async () => {
  const before_n = await metric(srv.url, 'hearth_context_shifts_total', 'shift');
  const before_m = await metric(srv.url, 'hearth_context_shift_dropped_messages_total', 'shift');
  assert.ok(before_n >= 2, `earlier shifts counted: ${before_n}`);
  const s = await chat('shift', conversation(12), { stream: true });
  assert.equal(s.status, 200, s.text);
  assert.ok(Number(s.shift) >= 2);
  assert.match(s.text, /data: \[DONE\]/);
  const o = await post('/api/chat', 'shift', { messages: conversation(12), stream: false, options: { num_predict: 8 } });
  assert.equal(o.status, 200, o.text);
  assert.ok(Number(o.shift) >= 2, `ollama: ${o.shift}`);
  assert.ok(o.body.prompt_eval_count <= CTX - 8);
  const rs = await post('/v1/responses', 'shift', { input: conversation(12), max_output_tokens: 16 });
  assert.equal(rs.status, 200, rs.text);
  assert.ok(Number(rs.shift) >= 2, `responses: ${rs.shift}`);
  assert.ok(rs.body.usage.input_tokens <= CTX - 16);
  // the error mode's /v1/responses names 'input'
  const re = await post('/v1/responses', 'err', { input: conversation(12), max_output_tokens: 16 });
  assert.equal(re.status, 400, re.text);
  assert.equal(re.body.error.code, 'context_length_exceeded');
  assert.equal(re.body.error.param, 'input');
  assert.equal(await metric(srv.url, 'hearth_context_shifts_total', 'shift'), before_n + 3);
  assert.equal(
    await metric(srv.url, 'hearth_context_shift_dropped_messages_total', 'shift'),
    before_m + Number(s.shift) + Number(o.shift) + Number(rs.shift),
  );
  assert.equal(await metric(srv.url, 'hearth_context_shifts_total', 'err'), 0);
  // the KV figures of both names
  assert.ok((await metric(srv.url, 'hearth_kv_cache_bytes', 'err')) > 0);
  assert.equal(await metric(srv.url, 'hearth_kv_cache_bytes', 'err'), await metric(srv.url, 'hearth_kv_cache_full_bytes', 'err'));
});
