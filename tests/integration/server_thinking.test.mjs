// Forced tool calls and structured outputs on thinking models (issue 13): the reasoning block
// is bounded (a budget, and room kept for the forced output), so 100% of forced calls land and
// validate even from a random-weights model that never closes its <think> block by itself.
// Streamed calls come as OpenAI streams them (id/name first, then argument fragments) and add
// up to the non-streamed call of the same seed.
//
// Needs no ../shared: the model is generated (built-in vocab) and the chat templates come from
// tests/data/templates (the Qwen 3, DeepSeek R1 and Command R7B templates as published; the
// QwQ-like one is Qwen 3's with QwQ's generation prompt, which opens <think>; the R7B "plan"
// one opens <|START_THINKING|> so that the plan is always begun).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import Ajv from 'ajv';
import { startServer, BIN } from './server_helpers.mjs';
import { mulberry32, objectSchema, toolSet, pool } from './schema_gen.mjs';

const TEMPLATES = join(dirname(fileURLToPath(import.meta.url)), '../data/templates');
const N_PAIRS = Number(process.env.HEARTH_THINKING_PAIRS ?? 100); // x2: streamed and not
// requests per family; sanitizer builds want fewer (Command R7B's preamble is ~4K tokens here)
const N_FAMILY = Number(process.env.HEARTH_THINKING_FAMILY ?? 12);
const MAX_TOKENS = 300;
const CONCURRENCY = 6;
const NAMES = { q3: 'qwen3.jinja', r1: 'deepseek-r1.jinja', qwq: 'qwq-like.jinja', r7b: 'command-r7b.jinja', r7bplan: 'command-r7b-plan.jinja' };

let dir, srv, client, ollama;
const ajv = new Ajv({ strict: false });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-thinking-'));
  process.env.HEARTH_HOME = join(dir, 'home');
  const model = join(dir, 'tiny.gguf');
  const mk = spawnSync(BIN, ['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', model], { encoding: 'utf8' });
  assert.equal(mk.status, 0, mk.stderr);
  let conf = '';
  for (const [name, file] of Object.entries(NAMES)) {
    const r = spawnSync(BIN, ['import', model, '--name', `t:${name}`, '--template', join(TEMPLATES, file)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    conf += `[${name}]\nmodel = t:${name}\nslots = ${CONCURRENCY}\nctx = ${name.startsWith("r7b") ? 8192 : 2048}\n\n`;
  }
  // one slot, no prefix reuse: a request decodes the same way every time (batch composition
  // and a reused prefix change the float rounding, and so what a seed samples)
  conf += `[q3det]\nmodel = t:q3\nslots = 1\nctx = 2048\nprefix_reuse = false\n`;
  writeFileSync(join(dir, 'hearth.conf'), conf);
  srv = await startServer(['--config', join(dir, 'hearth.conf')], { readyTimeoutMs: 60_000 });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
  ollama = new Ollama({ host: srv.url });
});
after(async () => {
  await srv?.stop();
  delete process.env.HEARTH_HOME;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// One chat request reduced to { finish, content, reasoning, calls, argDeltas: [per call] }.
async function chat(body, stream) {
  if (!stream) {
    const r = await client.chat.completions.create({ ...body, stream: false });
    const m = r.choices[0].message;
    return {
      finish: r.choices[0].finish_reason,
      content: m.content,
      reasoning: m.reasoning_content ?? '',
      usage: r.usage,
      calls: (m.tool_calls ?? []).map((c) => ({ id: c.id, type: c.type, name: c.function.name, arguments: c.function.arguments })),
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
        // OpenAI's shape: the first delta of a call names it
        assert.ok(tc.id && tc.type === 'function' && tc.function?.name, `the first delta of call ${tc.index} carries id, type, name`);
        assert.equal(typeof tc.function.arguments, 'string');
        calls[tc.index] = { id: tc.id, type: tc.type, name: tc.function.name, arguments: '' };
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
  assert.ok(res.calls.length >= 1, `${label}: carries tool calls`);
  for (const c of res.calls) {
    assert.equal(c.type, 'function');
    const tool = tools.find((t) => t.function.name === c.name);
    assert.ok(tool, `${label}: '${c.name}' is an offered tool`);
    if (named) assert.equal(c.name, named, `${label}: the named function`);
    let args;
    assert.doesNotThrow(() => (args = JSON.parse(c.arguments)), `${label}: arguments parse: ${c.arguments}`);
    const validate = ajv.compile(tool.function.parameters);
    assert.ok(validate(args), `${label}: ${c.arguments} validates: ${ajv.errorsText(validate.errors)}`);
  }
}

// ---- 100% of forced calls land ----

test(`forced calls with thinking on: ${2 * N_PAIRS} requests (Qwen 3 template, max_tokens ${MAX_TOKENS}), streaming and not, all land`, { timeout: 900_000 }, async () => {
  const rnd = mulberry32(17);
  const cases = Array.from({ length: N_PAIRS }, (_, k) => {
    const tools = toolSet(rnd, k);
    const named = k % 2 === 1 ? tools[Math.floor(rnd() * tools.length)].function.name : null;
    return { tools, named, seed: 1000 + k, parallel: k % 4 === 0 };
  });
  const body = (c, k) => ({
    model: 'q3',
    messages: [{ role: 'user', content: `Call a tool, please (${k}).` }],
    tools: c.tools,
    tool_choice: c.named ? { type: 'function', function: { name: c.named } } : 'required',
    parallel_tool_calls: c.parallel,
    max_tokens: MAX_TOKENS,
    seed: c.seed,
  });
  const t0 = Date.now();
  const results = await pool(2 * N_PAIRS, CONCURRENCY, (i) => chat({ ...body(cases[i >> 1], i >> 1), seed: i }, i % 2 === 1));
  const secs = (Date.now() - t0) / 1000;
  let landed = 0, reasoned = 0, maxDeltas = 0;
  for (let i = 0; i < results.length; i++) {
    const c = cases[i >> 1];
    const label = `request ${i} (${c.named ? 'named' : 'required'}, ${i % 2 ? 'stream' : 'whole'})`;
    checkCalls(results[i], c.tools, c.named, label);
    if (!c.parallel) assert.equal(results[i].calls.length, 1, `${label}: parallel_tool_calls false is one call`);
    landed++;
    if (results[i].reasoning.length) reasoned++;
    if (i % 2) maxDeltas = Math.max(maxDeltas, ...results[i].argDeltas);
  }
  console.log(`# thinking, forced: ${landed}/${results.length} landed and validated (${reasoned} after reasoning, ` +
    `${results.length / 2} streamed), most argument deltas in one call ${maxDeltas}, ${secs.toFixed(1)} s`);
  assert.equal(landed, 2 * N_PAIRS);
  assert.ok(reasoned >= results.length / 10, `reasoning happened (${reasoned})`);
  assert.ok(maxDeltas >= 3, 'arguments arrive in fragments');
});

test('streamed argument fragments add up to the non-streamed call of the same seed', { timeout: 300_000 }, async () => {
  const rnd = mulberry32(29);
  let same = 0, maxDeltas = 0;
  const n = 12;
  for (let k = 0; k < n; k++) {
    const tools = toolSet(rnd, k);
    const body = { model: 'q3det', messages: [{ role: 'user', content: `Call (${k}).` }], tools, tool_choice: 'required', max_tokens: MAX_TOKENS, seed: 77 + k };
    const w = await chat(body, false);
    const s = await chat(body, true);
    checkCalls(w, tools, null, `pair ${k} whole`);
    checkCalls(s, tools, null, `pair ${k} stream`);
    assert.deepEqual(s.calls.map((c) => [c.name, c.arguments]), w.calls.map((c) => [c.name, c.arguments]), `pair ${k}`);
    assert.equal(s.reasoning, w.reasoning, `pair ${k}: reasoning`);
    same++;
    maxDeltas = Math.max(maxDeltas, ...s.argDeltas);
  }
  console.log(`# streamed = whole: ${same}/${n} pairs, most argument deltas in one call ${maxDeltas}`);
  assert.ok(maxDeltas >= 3);
});

// ---- families whose prompt opens the block, with a model that never closes it ----

for (const [name, label] of [['r1', 'DeepSeek R1'], ['qwq', 'QwQ'], ['r7bplan', 'Command R7B plan'], ['r7b', 'Command R7B (plan optional)']]) {
  test(`${label}: forced calls land although the model never closes its reasoning`, { timeout: 300_000 }, async () => {
    const rnd = mulberry32(name.length * 7919);
    const res = await pool(N_FAMILY, CONCURRENCY, async (k) => {
      const tools = toolSet(rnd, k);
      const r = await chat({ model: name, messages: [{ role: 'user', content: `go ${k}` }], tools, tool_choice: 'required', max_tokens: MAX_TOKENS, seed: k }, k % 2 === 1);
      return { r, tools };
    });
    for (const [k, { r, tools }] of res.entries()) {
      checkCalls(r, tools, null, `${label} ${k}`);
      if (name !== 'r7b') assert.ok(r.reasoning.length > 0, `${label} ${k}: the opened block is reasoning`);
    }
  });
}

test('a generous budget still reasons, a small one cuts, 0 skips; the call follows', async () => {
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['a'] } } }];
  const run = (extra) => chat({ model: 'r1', messages: [{ role: 'user', content: 'think, then call' }], tools, tool_choice: 'required', parallel_tool_calls: false, max_tokens: 800, seed: 5, ...extra }, false);
  const big = await run({ reasoning_budget: 200 });
  const small = await run({ thinking_budget: 10 });
  const none = await run({ reasoning_effort: 'none' });
  for (const r of [big, small, none]) checkCalls(r, tools, null, 'budget');
  assert.ok(big.usage.completion_tokens >= 200, `the budget was used (${big.usage.completion_tokens} tokens)`);
  assert.ok(big.reasoning.length > small.reasoning.length, 'a bigger budget reasons longer');
  // the built-in vocab's longest token is 8 bytes: 10 tokens of reasoning are at most 80
  assert.ok(Buffer.byteLength(small.reasoning) <= 80, `a budget of 10 stops reasoning early (${JSON.stringify(small.reasoning)})`);
  assert.equal(none.reasoning, '', 'reasoning_effort none: the block closes at once');
  // auto: the budget applies only when set, and the answer is then free
  const auto = await chat({ model: 'r1', messages: [{ role: 'user', content: 'hi' }], tools, max_tokens: 60, reasoning_budget: 4, seed: 1 }, false);
  assert.ok(auto.usage.completion_tokens <= 60);
});

test('response_format json_schema and Ollama format: the answer after the reasoning validates', async () => {
  const schema = objectSchema(mulberry32(23));
  const v = ajv.compile(schema);
  for (const model of ['q3', 'r1']) {
    for (const stream of [false, true]) {
      const r = await chat({ model, messages: [{ role: 'user', content: 'json' }], response_format: { type: 'json_schema', json_schema: { name: 's', schema } }, max_tokens: MAX_TOKENS, seed: 3 }, stream);
      assert.equal(r.finish, 'stop', `${model}: ${r.content}`);
      assert.ok(v(JSON.parse(r.content)), `${model}: ${r.content}`);
      if (model === 'r1') assert.ok(r.reasoning.length > 0);
    }
  }
  const o = await ollama.chat({ model: 'r1', messages: [{ role: 'user', content: 'json' }], format: schema, think: false, stream: false, options: { num_predict: MAX_TOKENS } });
  assert.equal(o.done_reason, 'stop');
  assert.ok(!o.message.thinking, 'think: false closes the block at once');
  assert.ok(v(JSON.parse(o.message.content)), o.message.content);
});

test('a forced call that cannot fit max_tokens is a 400 saying so; bad budget fields are 400s', async () => {
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', minLength: 40, maxLength: 50 } }, required: ['a'] } } }];
  const base = { model: 'q3', messages: [{ role: 'user', content: 'x' }], tools, tool_choice: 'required' };
  const expect400 = (body, param, re) =>
    assert.rejects(client.chat.completions.create({ ...base, ...body }), (e) => {
      assert.equal(e.status, 400, e.message);
      assert.equal(e.param, param);
      assert.match(e.message, re);
      return true;
    });
  await expect400({ max_tokens: 5 }, 'max_tokens', /forced tool call cannot fit.*raise max_tokens/);
  await expect400({ max_tokens: 100, reasoning_budget: -1 }, 'reasoning_budget', />= 0/);
  await expect400({ max_tokens: 100, reasoning_budget: 'x' }, 'reasoning_budget', /integer/);
  await expect400({ max_tokens: 100, thinking_budget: 1 << 21 }, 'thinking_budget', /<=/);
  await expect400({ max_tokens: 100, reasoning_budget: 3, thinking_budget: 4 }, 'thinking_budget', /differs/);
  await expect400({ max_tokens: 100, reasoning_effort: 'extreme' }, 'reasoning_effort', /'low'/);
  // it fits: lands
  const r = await chat({ ...base, max_tokens: 120, seed: 2 }, false);
  checkCalls(r, tools, null, 'fits');
});

// ---- real clients: LangChain JS and the Vercel AI SDK, thinking on ----

const N_CLIENT = 10;

test(`LangChain JS: bindTools with tool_choice, withStructuredOutput (${N_CLIENT} each), all land`, { timeout: 300_000 }, async () => {
  const { ChatOpenAI } = await import('@langchain/openai');
  const llm = new ChatOpenAI({ model: 'q3', apiKey: 'unused', configuration: { baseURL: `${srv.url}/v1` }, maxRetries: 0, maxTokens: MAX_TOKENS });
  const rnd = mulberry32(31);
  await pool(N_CLIENT, CONCURRENCY, async (k) => {
    const tools = toolSet(rnd, k);
    const named = k % 2 ? tools[0].function.name : null;
    const bound = llm.bindTools(tools, { tool_choice: named ? { type: 'function', function: { name: named } } : 'required' });
    const msg = await bound.invoke(`Use a tool (${k}).`, { seed: k });
    assert.ok(msg.tool_calls?.length >= 1, `LangChain ${k}: a tool call (${JSON.stringify(msg.content)})`);
    for (const c of msg.tool_calls) {
      const tool = tools.find((t) => t.function.name === c.name);
      assert.ok(tool, c.name);
      if (named) assert.equal(c.name, named);
      const v = ajv.compile(tool.function.parameters);
      assert.ok(v(c.args), `LangChain ${k}: ${JSON.stringify(c.args)}: ${ajv.errorsText(v.errors)}`);
    }
  });
  const srnd = mulberry32(37);
  await pool(N_CLIENT, CONCURRENCY, async (k) => {
    const schema = { title: `out${k}`, ...objectSchema(srnd) };
    const structured = llm.withStructuredOutput(schema, { method: 'jsonSchema', name: `out${k}` });
    const out = await structured.invoke(`Answer in JSON (${k}).`);
    const { title, ...plain } = schema;
    const v = ajv.compile(plain);
    assert.ok(v(out), `LangChain structured ${k}: ${JSON.stringify(out)}: ${ajv.errorsText(v.errors)}`);
  });
});

test(`Vercel AI SDK: generateText with toolChoice "required", generateObject (${N_CLIENT} each), all land`, { timeout: 300_000 }, async () => {
  const { generateText, generateObject, jsonSchema, tool } = await import('ai');
  const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
  const provider = createOpenAICompatible({ name: 'hearth', baseURL: `${srv.url}/v1`, apiKey: 'unused', supportsStructuredOutputs: true });
  const rnd = mulberry32(41);
  await pool(N_CLIENT, CONCURRENCY, async (k) => {
    const offered = toolSet(rnd, k);
    const tools = Object.fromEntries(offered.map((t) => [t.function.name, tool({ description: t.function.description, inputSchema: jsonSchema(t.function.parameters) })]));
    const r = await generateText({ model: provider('q3'), tools, toolChoice: 'required', prompt: `Use a tool (${k}).`, maxOutputTokens: MAX_TOKENS, seed: k, maxRetries: 0 });
    assert.ok(r.toolCalls.length >= 1, `AI SDK ${k}: a tool call (finish ${r.finishReason})`);
    for (const c of r.toolCalls) {
      const t = offered.find((o) => o.function.name === c.toolName);
      assert.ok(t, c.toolName);
      const v = ajv.compile(t.function.parameters);
      assert.ok(v(c.input), `AI SDK ${k}: ${JSON.stringify(c.input)}: ${ajv.errorsText(v.errors)}`);
    }
  });
  const srnd = mulberry32(43);
  await pool(N_CLIENT, CONCURRENCY, async (k) => {
    const schema = objectSchema(srnd);
    const r = await generateObject({ model: provider('q3'), schema: jsonSchema(schema), prompt: `Answer in JSON (${k}).`, maxOutputTokens: MAX_TOKENS, seed: k, maxRetries: 0 });
    const v = ajv.compile(schema);
    assert.ok(v(r.object), `AI SDK object ${k}: ${JSON.stringify(r.object)}: ${ajv.errorsText(v.errors)}`);
  });
});
