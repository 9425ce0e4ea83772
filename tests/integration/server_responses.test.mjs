// The OpenAI Responses API (POST /v1/responses) and llama-server's /tokenize and /detokenize,
// driven by the official `openai` SDK on a random-weights tiny Qwen 3 that carries the real Qwen
// vocab and chat template (<tool_call> calls, <think> reasoning). /v1/responses is the chat
// path under another shape, so with greedy decoding on a one-slot name without prefix reuse
// (every request decodes the same way) a Responses answer must equal the chat answer to the
// same conversation, token for token; forced function calls must validate (ajv); streamed
// events must follow the SDK's accumulator and reassemble to the non-streamed object.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Ajv from 'ajv';
import { startServer, BIN, vocab } from './server_helpers.mjs';
import { fixture } from './fixtures.mjs';

const VOCAB = vocab('qwen2');
let dir, srv, client;
const ajv = new Ajv({ strict: false });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-responses-'));
  const model = join(dir, 'tiny-qwen3.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', '--vocab', VOCAB, model], { stdio: 'ignore' });
  // det: one slot, no prefix reuse: a request decodes the same way every time
  writeFileSync(join(dir, 'hearth.conf'),
    `[tq3]\nmodel = ${model}\nslots = 4\nctx = 1024\n\n[det]\nmodel = ${model}\nslots = 1\nctx = 1024\nprefix_reuse = false\n`);
  srv = await startServer(['--config', join(dir, 'hearth.conf')], { readyTimeoutMs: 60_000 });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = (path, body) =>
  fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

const WEATHER = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 12 }, unit: { type: 'string', enum: ['c', 'f'] } },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
  strict: true,
};

// An answer reduced to what both shapes carry.
function fromResponse(r) {
  const msg = r.output.filter((i) => i.type === 'message');
  const rs = r.output.filter((i) => i.type === 'reasoning');
  return {
    content: msg.flatMap((m) => m.content).map((c) => c.text).join(''),
    reasoning: rs.flatMap((i) => i.content ?? []).map((c) => c.text).join('') || undefined,
    calls: r.output.filter((i) => i.type === 'function_call').map((c) => ({ name: c.name, arguments: c.arguments })),
  };
}

test('responses.create returns output_text, usage and the echoed parameters', async () => {
  const r = await client.responses.create({ model: 'tq3', input: 'Say hello.', max_output_tokens: 24, temperature: 0.7, top_p: 0.9 });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_[0-9a-f]{24}$/);
  assert.ok(['completed', 'incomplete'].includes(r.status));
  assert.equal(typeof r.output_text, 'string');
  assert.ok(r.output.some((i) => i.type === 'message' && i.role === 'assistant' && i.content[0].type === 'output_text'));
  assert.equal(r.output_text, fromResponse(r).content, 'the SDK output_text is the message text');
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0 && r.usage.output_tokens <= 24);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  assert.equal(r.max_output_tokens, 24);
  assert.equal(r.temperature, 0.7);
  assert.equal(r.store, false);
  if (r.status === 'incomplete') assert.equal(r.incomplete_details.reason, 'max_output_tokens');
});

test('a Responses request is the chat request it maps to (greedy: same prompt, same answer)', async () => {
  const input = [
    { role: 'user', content: [{ type: 'input_text', text: 'Weather in Oslo?' }] },
    { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo","unit":"c"}' },
    { type: 'function_call_output', call_id: 'call_1', output: '{"temp": 3}' },
    { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'It is 3 degrees.' }] },
    { role: 'user', content: 'And tomorrow?' },
  ];
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Weather in Oslo?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo","unit":"c"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 3}' },
    { role: 'assistant', content: 'It is 3 degrees.' },
    { role: 'user', content: 'And tomorrow?' },
  ];
  for (const withTools of [false, true]) {
    const r = await client.responses.create({
      model: 'det', instructions: 'Be brief.', input, max_output_tokens: 40, temperature: 0,
      ...(withTools ? { tools: [WEATHER] } : {}),
    });
    const c = await client.chat.completions.create({
      model: 'det', messages, max_tokens: 40, temperature: 0,
      ...(withTools ? { tools: [{ type: 'function', function: { name: WEATHER.name, description: WEATHER.description, parameters: WEATHER.parameters, strict: true } }] } : {}),
    });
    assert.equal(r.usage.input_tokens, c.usage.prompt_tokens, 'the same prompt');
    assert.equal(r.usage.output_tokens, c.usage.completion_tokens);
    const m = c.choices[0].message;
    const got = fromResponse(r);
    assert.equal(got.content, m.content ?? '');
    assert.equal(got.reasoning, m.reasoning_content ?? undefined);
    assert.deepEqual(got.calls, (m.tool_calls ?? []).map((t) => ({ name: t.function.name, arguments: t.function.arguments })));
    assert.equal(r.status, c.choices[0].finish_reason === 'length' ? 'incomplete' : 'completed');
  }
});

test('a forced function tool gives a function_call item whose arguments validate', async () => {
  const validate = ajv.compile(WEATHER.parameters);
  for (let i = 0; i < 12; i++) {
    const r = await client.responses.create({
      model: 'tq3', input: `Weather please (${i})`, tools: [WEATHER], max_output_tokens: 200,
      tool_choice: i % 2 ? 'required' : { type: 'function', name: 'get_weather' },
    });
    const calls = r.output.filter((o) => o.type === 'function_call');
    assert.ok(calls.length >= 1, JSON.stringify(r.output));
    for (const c of calls) {
      assert.equal(c.name, 'get_weather');
      assert.match(c.call_id, /\S/);
      assert.match(c.id, /^fc_/);
      assert.equal(c.status, 'completed');
      const args = JSON.parse(c.arguments);
      assert.ok(validate(args), JSON.stringify(validate.errors));
    }
    assert.equal(r.status, 'completed');
  }
});

test('text.format json_schema: output_text validates', async () => {
  const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['n'], additionalProperties: false };
  const validate = ajv.compile(schema);
  for (let i = 0; i < 4; i++) {
    const r = await client.responses.create({
      model: 'tq3', input: `A number (${i})`, max_output_tokens: 200,
      text: { format: { type: 'json_schema', name: 'num', schema, strict: true } },
    });
    assert.ok(validate(JSON.parse(r.output_text)), r.output_text);
  }
});

// Collects a stream's events with the SDK's own accumulator (responses.stream) and checks the
// event grammar: created first, sequence numbers 0.., every delta inside an open item.
async function streamed(body) {
  const s = client.responses.stream(body);
  const events = [];
  for await (const ev of s) events.push(ev);
  const fin = await s.finalResponse();
  assert.equal(events[0].type, 'response.created');
  assert.equal(events[1].type, 'response.in_progress');
  assert.ok(['response.completed', 'response.incomplete'].includes(events.at(-1).type));
  events.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number of ${e.type}`));
  const open = new Set();
  let deltas = 0;
  for (const e of events) {
    if (e.type === 'response.output_item.added') open.add(e.output_index);
    if (e.type === 'response.output_item.done') assert.ok(open.delete(e.output_index));
    if (/\.delta$/.test(e.type)) {
      assert.ok(open.has(e.output_index), `${e.type} outside its item`);
      deltas++;
    }
  }
  assert.equal(open.size, 0, 'every item is closed');
  return { events, fin, deltas };
}

test('streamed events reassemble to the non-streamed response (text, reasoning, calls)', async () => {
  const cases = [
    { model: 'det', input: 'Tell me a story.', max_output_tokens: 60, temperature: 0 },
    { model: 'det', input: 'Weather?', tools: [WEATHER], tool_choice: 'required', max_output_tokens: 200, temperature: 0 },
    { model: 'det', input: 'Weather in Rome?', tools: [WEATHER], tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 200, temperature: 0 },
  ];
  for (const body of cases) {
    const whole = await client.responses.create(body);
    const { events, fin, deltas } = await streamed(body);
    assert.deepEqual(fromResponse(fin), fromResponse(whole));
    assert.equal(fin.output_text, whole.output_text);
    assert.deepEqual(fin.usage, whole.usage);
    assert.equal(fin.status, whole.status);
    const done = events.at(-1).response;
    assert.deepEqual(fromResponse(done), fromResponse(whole), 'response.completed carries the whole response');
    assert.ok(deltas > 1, 'the output arrives in pieces');
    if (body.tools) {
      assert.ok(events.some((e) => e.type === 'response.function_call_arguments.delta'));
      assert.ok(events.some((e) => e.type === 'response.function_call_arguments.done'));
      assert.ok(fin.output.some((o) => o.type === 'function_call'));
    }
  }
});

test('stateless: store, previous_response_id and unsupported inputs are a 400 naming the field', async () => {
  const bad = [
    [{ store: true }, 'store'],
    [{ previous_response_id: 'resp_123' }, 'previous_response_id'],
    [{ conversation: 'conv_1' }, 'conversation'],
    [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type'],
    [{ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }, 'input[0].content[0]'],
    [{ input: [{ role: 'critic', content: 'x' }] }, 'input[0].role'],
    [{ input: 42 }, 'input'],
    [{ input: [] }, 'input'],
    [{ input: undefined }, 'input'],
    [{ tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    [{ tools: [WEATHER], tool_choice: { type: 'function', name: 'nope' } }, 'tool_choice'],
    [{ text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name'],
    [{ text: { format: { type: 'xml' } } }, 'text.format.type'],
    [{ reasoning: { effort: 'extreme' } }, 'reasoning_effort'],
    [{ max_output_tokens: 0 }, 'max_output_tokens'],
    [{ max_output_tokens: 'ten' }, 'max_output_tokens'],
    [{ temperature: 5 }, 'temperature'],
    [{ input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[0].call_id'],
  ];
  for (const [extra, param] of bad) {
    const res = await post('/v1/responses', { model: 'tq3', input: 'hi', ...extra });
    const body = await res.json();
    assert.equal(res.status, 400, `${JSON.stringify(extra)}: ${JSON.stringify(body)}`);
    assert.equal(body.error.param, param, JSON.stringify(body));
    assert.equal(body.error.type, 'invalid_request_error');
  }
  await assert.rejects(client.responses.create({ model: 'tq3', input: 'hi', store: true }), (e) => e.status === 400);
  const nf = await post('/v1/responses', { model: 'nope', input: 'hi' });
  assert.equal(nf.status, 404);
  // store: false and a reasoning item in the input are fine
  const ok = await post('/v1/responses', {
    model: 'tq3', store: false, max_output_tokens: 4, reasoning: { effort: 'low' },
    input: [{ type: 'reasoning', id: 'rs_1', summary: [] }, { role: 'user', content: 'hi' }],
  });
  assert.equal(ok.status, 200);
});

// ---- /tokenize, /detokenize ----

test('/tokenize equals the tokenizer CLI; /detokenize inverts it; with_pieces spell the text', async () => {
  const texts = ['Hello world', ' héllo 世界 <|im_start|>user\n', 'a  b\t\tc 123456'];
  for (const content of texts) {
    const cli = spawnSync(BIN, ['tokenize', VOCAB, '--no-bos'], { input: content, encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const want = JSON.parse(cli.stdout);
    const t = await (await post('/tokenize', { model: 'tq3', content })).json();
    assert.deepEqual(t.tokens, want);
    const p = await (await post('/tokenize', { content, with_pieces: true, model: 'tq3' })).json();
    assert.deepEqual(p.tokens.map((x) => x.id), want);
    const bytes = p.tokens.flatMap((x) => (typeof x.piece === 'string' ? [...Buffer.from(x.piece)] : x.piece));
    assert.equal(Buffer.from(bytes).toString('utf8'), content);
    const d = await (await post('/detokenize', { model: 'tq3', tokens: want })).json();
    assert.equal(d.content, content);
  }
  // parse_special false: the control token's text stays text
  const sp = await (await post('/tokenize', { model: 'tq3', content: '<|im_start|>' })).json();
  const nsp = await (await post('/tokenize', { model: 'tq3', content: '<|im_start|>', parse_special: false })).json();
  assert.equal(sp.tokens.length, 1);
  assert.ok(nsp.tokens.length > 1);
});

test('/tokenize and /detokenize answer as llama-server does (reference answers, same vocab)', async () => {
  const ref = JSON.parse(readFileSync(fixture('tokenize/llama_server_qwen2.json'), 'utf8'));
  assert.ok(ref.length >= 9);
  for (const c of ref) {
    const r = await post(c.path, { ...c.body, model: 'tq3' });
    assert.equal(r.status, c.status);
    assert.deepEqual(await r.json(), c.response, `${c.path} ${JSON.stringify(c.body)}`);
  }
});

test('/tokenize and /detokenize errors: ids out of range, types, model', async () => {
  const nv = 151_643 + 300; // well past any Qwen 2 id
  const cases = [
    ['/detokenize', { model: 'tq3', tokens: [1, nv * 10] }, 400, 'tokens'],
    ['/detokenize', { model: 'tq3', tokens: [-1] }, 400, 'tokens'],
    ['/detokenize', { model: 'tq3', tokens: [1.5] }, 400, 'tokens'],
    ['/detokenize', { model: 'tq3', tokens: 'abc' }, 400, 'tokens'],
    ['/detokenize', { model: 'tq3' }, 400, 'tokens'],
    ['/tokenize', { model: 'tq3' }, 400, 'content'],
    ['/tokenize', { model: 'tq3', content: 7 }, 400, 'content'],
    ['/tokenize', { model: 'tq3', content: 'x', with_pieces: 'yes' }, 400, 'with_pieces'],
    ['/tokenize', { model: 'nope', content: 'x' }, 404, 'model'],
    ['/tokenize', { content: 'x' }, 400, 'model'], // two names served: say which
  ];
  for (const [path, body, status, param] of cases) {
    const r = await post(path, body);
    const j = await r.json();
    assert.equal(r.status, status, `${path} ${JSON.stringify(body)}: ${JSON.stringify(j)}`);
    assert.equal(j.error.param, param);
  }
  // the last id of the vocabulary is fine, the next one is not
  const probe = await post('/detokenize', { model: 'tq3', tokens: [0] });
  assert.equal(probe.status, 200);
  const tooBig = await (await post('/detokenize', { model: 'tq3', tokens: [2 ** 31 - 1] })).json();
  const n = Number(/has (\d+) tokens/.exec(tooBig.error.message)[1]);
  assert.equal((await post('/detokenize', { model: 'tq3', tokens: [n - 1] })).status, 200);
  assert.equal((await post('/detokenize', { model: 'tq3', tokens: [n] })).status, 400);
  const asText = await fetch(`${srv.url}/tokenize`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"content":"x"}' });
  assert.equal(asText.status, 415);
});
