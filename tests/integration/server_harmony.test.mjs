// Harmony (gpt-oss) end to end: a random-weights model with the o200k_harmony vocab and the
// gpt-oss chat template (both carried in tests/data/vocab/ggml-vocab-o200k-harmony.gguf) on the
// gpt-oss architecture (make-model tiny-gpt-oss: sinks, alternating window, MoE). Forced tool
// calls (tool_choice required / a named function) and json_schema outputs must land 100%,
// streaming and not, validated with ajv, whether or not the model first writes an analysis
// message; the analysis channel is reasoning_content / thinking and its budget closes it;
// reasoning_effort reaches the template.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import Ajv from 'ajv';
import { Tiktoken } from 'js-tiktoken/lite';
import o200kBase from 'js-tiktoken/ranks/o200k_base';
import { startServer, BIN, vocab } from './server_helpers.mjs';
import { mulberry32, objectSchema, toolSet, pool } from './schema_gen.mjs';

const N_PAIRS = Number(process.env.HEARTH_HARMONY_PAIRS ?? 12); // x2: streamed and not
const N_FORMAT = Number(process.env.HEARTH_HARMONY_FORMAT ?? 4); // x2
const MAX_TOKENS = 160;
const CONCURRENCY = 4;
const EFFORTS = [undefined, 'low', 'medium', 'high'];

let dir, srv, client, ollama;
const ajv = new Ajv({ strict: false });
const enc = new Tiktoken(o200kBase, { '<|start|>': 200006, '<|end|>': 200007, '<|message|>': 200008, '<|channel|>': 200005 });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-harmony-'));
  process.env.HEARTH_HOME = join(dir, 'home');
  const model = join(dir, 'gptoss-tiny.gguf');
  const mk = spawnSync(BIN, ['make-model', '--shape', 'tiny-gpt-oss', '--type', 'q8_0', '--vocab', vocab('o200k-harmony'),
    '--seed', '11', model], { encoding: 'utf8' });
  assert.equal(mk.status, 0, mk.stderr);
  srv = await startServer([model, '--name', 'gptoss', '--slots', String(CONCURRENCY), '--ctx', '2048'], { readyTimeoutMs: 60_000 });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
  ollama = new Ollama({ host: srv.url });
});
after(async () => {
  await srv?.stop();
  delete process.env.HEARTH_HOME;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function chat(body, stream) {
  if (!stream) {
    const r = await client.chat.completions.create({ ...body, stream: false });
    const m = r.choices[0].message;
    return {
      finish: r.choices[0].finish_reason, content: m.content, reasoning: m.reasoning_content ?? '', usage: r.usage,
      calls: (m.tool_calls ?? []).map((c) => ({ name: c.function.name, arguments: c.function.arguments })),
    };
  }
  const s = await client.chat.completions.create({ ...body, stream: true });
  const calls = [], argDeltas = [];
  let content = '', reasoning = '', finish = null;
  for await (const chunk of s) {
    const c = chunk.choices[0];
    if (!c) continue;
    content += c.delta.content ?? '';
    reasoning += c.delta.reasoning_content ?? '';
    for (const tc of c.delta.tool_calls ?? []) {
      if (!calls[tc.index]) {
        assert.ok(tc.id && tc.type === 'function' && tc.function?.name, `the first delta of call ${tc.index} names it`);
        calls[tc.index] = { name: tc.function.name, arguments: '' };
        argDeltas[tc.index] = 0;
      } else {
        assert.ok(!tc.id && !tc.function?.name, 'later deltas carry only arguments');
      }
      if (tc.function?.arguments) {
        calls[tc.index].arguments += tc.function.arguments;
        argDeltas[tc.index]++;
      }
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { finish, content, reasoning, calls, argDeltas };
}

function checkCalls(res, tools, named, label) {
  assert.equal(res.finish, 'tool_calls', `${label}: finish_reason (content ${JSON.stringify(res.content)})`);
  assert.equal(res.calls.length, 1, `${label}: one call (Harmony: one per turn)`);
  for (const c of res.calls) {
    const tool = tools.find((t) => t.function.name === c.name);
    assert.ok(tool, `${label}: '${c.name}' is an offered tool`);
    if (named) assert.equal(c.name, named, `${label}: the named function`);
    let args;
    assert.doesNotThrow(() => (args = JSON.parse(c.arguments)), `${label}: arguments parse: ${c.arguments}`);
    const validate = ajv.compile(tool.function.parameters);
    assert.ok(validate(args), `${label}: ${c.arguments} validates: ${ajv.errorsText(validate.errors)}`);
  }
  // no Harmony markup leaks into what the client sees
  for (const t of [res.content ?? '', res.reasoning]) assert.doesNotMatch(t, /<\|(channel|message|start|end|constrain)\|>/, label);
}

test(`forced calls: ${2 * N_PAIRS} requests (required and named, reasoning_effort varied), streaming and not, all land`, { timeout: 600_000 }, async () => {
  const rnd = mulberry32(41);
  const cases = Array.from({ length: N_PAIRS }, (_, k) => {
    const tools = toolSet(rnd, k);
    const named = k % 2 === 1 ? tools[Math.floor(rnd() * tools.length)].function.name : null;
    return { tools, named, effort: EFFORTS[k % EFFORTS.length] };
  });
  const t0 = Date.now();
  const results = await pool(2 * N_PAIRS, CONCURRENCY, (i) => {
    const c = cases[i >> 1];
    return chat({
      model: 'gptoss', messages: [{ role: 'user', content: `Call a tool, please (${i}).` }], tools: c.tools,
      tool_choice: c.named ? { type: 'function', function: { name: c.named } } : 'required',
      max_tokens: MAX_TOKENS, seed: 100 + i, ...(c.effort ? { reasoning_effort: c.effort } : {}),
    }, i % 2 === 1);
  });
  let landed = 0, reasoned = 0, maxDeltas = 0;
  for (let i = 0; i < results.length; i++) {
    const c = cases[i >> 1];
    checkCalls(results[i], c.tools, c.named, `request ${i} (${c.named ? 'named' : 'required'}, ${i % 2 ? 'stream' : 'whole'})`);
    landed++;
    if (results[i].reasoning.length) reasoned++;
    if (i % 2) maxDeltas = Math.max(maxDeltas, ...results[i].argDeltas);
  }
  console.log(`# harmony, forced: ${landed}/${results.length} landed and validated (${reasoned} after an analysis message), ` +
    `most argument deltas in one call ${maxDeltas}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(landed, 2 * N_PAIRS);
  assert.ok(reasoned >= 1, `some calls came after an analysis message (${reasoned})`);
  assert.ok(maxDeltas >= 3, 'streamed arguments arrive in fragments');
});

test(`response_format json_schema: ${2 * N_FORMAT} answers in the final channel validate, streaming and not`, { timeout: 300_000 }, async () => {
  const rnd = mulberry32(43);
  const results = await pool(2 * N_FORMAT, CONCURRENCY, async (i) => {
    const schema = objectSchema(rnd);
    const r = await chat({ model: 'gptoss', messages: [{ role: 'user', content: `json ${i}` }],
      response_format: { type: 'json_schema', json_schema: { name: 's', schema } }, max_tokens: MAX_TOKENS, seed: 200 + i,
      reasoning_effort: EFFORTS[1 + (i % 3)] }, i % 2 === 1);
    return { r, schema };
  });
  for (const [i, { r, schema }] of results.entries()) {
    assert.equal(r.finish, 'stop', `${i}: ${r.content}`);
    const v = ajv.compile(schema);
    assert.ok(v(JSON.parse(r.content)), `${i}: ${r.content} validates: ${ajv.errorsText(v.errors)}`);
    assert.doesNotMatch(r.reasoning, /<\|(channel|message|start|end)\|>/);
  }
  // Ollama: format, and the analysis channel as `thinking`
  const schema = objectSchema(mulberry32(47));
  const o = await ollama.chat({ model: 'gptoss', messages: [{ role: 'user', content: 'json' }], format: schema, think: 'high',
    stream: false, options: { num_predict: MAX_TOKENS, seed: 5 } });
  assert.equal(o.done_reason, 'stop');
  assert.ok(ajv.compile(schema)(JSON.parse(o.message.content)), o.message.content);
});

test('the analysis budget closes the channel: a small budget cuts it, 0 skips it; the call follows', { timeout: 300_000 }, async () => {
  const tools = [{ type: 'function', function: { name: 'f', description: 'a tool', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['a'] } } }];
  // find seeds whose model writes an analysis message first (a random model may not)
  const run = (seed, extra) => chat({ model: 'gptoss', messages: [{ role: 'user', content: 'think, then call' }], tools,
    tool_choice: 'required', max_tokens: 400, seed, ...extra }, false);
  let checked = 0;
  for (let seed = 1; seed <= 40 && checked < 3; seed++) {
    const big = await run(seed, { reasoning_budget: 120 });
    checkCalls(big, tools, null, `seed ${seed}, budget 120`);
    if (!big.reasoning.length) continue;
    const small = await run(seed, { reasoning_budget: 6 });
    checkCalls(small, tools, null, `seed ${seed}, budget 6`);
    // the budget counts the tokens after the opener; the forced closer <|end|> is one token more
    assert.ok(enc.encode(small.reasoning, 'all').length <= 6 + 2, `budget 6: ${JSON.stringify(small.reasoning)}`);
    assert.ok(big.reasoning.length >= small.reasoning.length);
    const none = await run(seed, { reasoning_effort: 'none' });
    checkCalls(none, tools, null, `seed ${seed}, effort none`);
    assert.equal(none.reasoning, '', 'a budget of 0 offers no analysis message');
    checked++;
  }
  assert.ok(checked >= 1, 'some seed wrote an analysis message');
});

test('reasoning_effort and Ollama think levels reach the template ("Reasoning: LEVEL")', async () => {
  for (const think of ['low', 'high']) {
    const r = await fetch(`${srv.url}/api/generate`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'gptoss', prompt: 'Hi', think, stream: false, options: { num_predict: 1 } }) });
    const j = await r.json();
    const prompt = enc.decode(j.context);
    assert.match(prompt, new RegExp(`^<\\|start\\|>system<\\|message\\|>.*\\nReasoning: ${think}\\n`, 's'), prompt);
    assert.match(prompt, /<\|start\|>user<\|message\|>Hi<\|end\|><\|start\|>assistant/);
  }
  // no level given: the template's default
  const r = await fetch(`${srv.url}/api/generate`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gptoss', prompt: 'Hi', stream: false, options: { num_predict: 1 } }) });
  assert.match(enc.decode((await r.json()).context), /\nReasoning: medium\n/);
});

test('a tool round trip renders through the template: reasoning_content goes back as thinking, null content is fine', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const r = await chat({ model: 'gptoss', tools, max_tokens: 20, seed: 1, messages: [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: null, reasoning_content: 'Call get_weather.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
  ] }, false);
  assert.ok(['stop', 'length', 'tool_calls'].includes(r.finish), r.finish);
  assert.ok(r.usage.prompt_tokens > 60);
});

test('tool_choice auto (lazy grammar from the commentary header) and none: whatever comes out is well-formed', { timeout: 120_000 }, async () => {
  const tools = toolSet(mulberry32(53), 0);
  let calls = 0;
  for (let i = 0; i < 4; i++) {
    const r = await chat({ model: 'gptoss', messages: [{ role: 'user', content: `maybe call (${i})` }], tools, max_tokens: 80, seed: 300 + i }, i % 2 === 1);
    if (r.calls.length) {
      checkCalls(r, tools, null, `auto ${i}`);
      calls++;
    } else {
      assert.ok(['stop', 'length'].includes(r.finish), r.finish);
    }
    assert.doesNotMatch(r.reasoning, /<\|(channel|message|start|end)\|>/);
  }
  const n = await chat({ model: 'gptoss', messages: [{ role: 'user', content: 'no tools' }], tools, tool_choice: 'none', max_tokens: 40, seed: 1 }, false);
  assert.equal(n.calls.length, 0);
  console.log(`# harmony, auto: ${calls}/4 answered with a call`);
});
