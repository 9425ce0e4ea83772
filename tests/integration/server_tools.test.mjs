// Tool calls and structured output through `hearth serve` (issue 7), driven by the openai and
// ollama npm clients on a random-weights tiny Qwen 3 model that carries the real Qwen vocab and
// chat template (Hermes-style <tool_call> format, <think> reasoning). A random model intends
// nothing, so every well-formed call here is the grammar's doing: with tool_choice "required" or
// a named function, 100% of answers must carry calls whose arguments JSON.parse and validate
// (ajv) against the tool's schema — or end with finish_reason "length" when max_tokens cut
// them, never "stop" with broken JSON. Schemas are generated (seeded) and bounded so a valid
// answer fits the budget.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import Ajv from 'ajv';
import { startServer, BIN, vocab } from './server_helpers.mjs';
import { mulberry32, objectSchema, toolSet, pool } from './schema_gen.mjs';

const VOCAB = vocab('qwen2');
const NAME = 'tq3';
const N_TOOL_REQUESTS = Number(process.env.HEARTH_TOOLS_REQUESTS ?? 200); // fewer under sanitizers
const N_FORMAT_REQUESTS = 30;
const MAX_TOKENS = 160;
const CONCURRENCY = 6;

let dir, srv, client, ollama;
const ajv = new Ajv({ strict: false });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-tools-'));
  const model = join(dir, 'tiny-qwen3.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', '--vocab', VOCAB, model], { stdio: 'ignore' });
  srv = await startServer([model, '--name', NAME, '--slots', String(CONCURRENCY), '--ctx', '1024']);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
  ollama = new Ollama({ host: srv.url });
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers ----


// One chat request, streaming or not, reduced to { finish, content, calls: [{id, type, name, arguments}] }.
async function chat(body, stream) {
  if (!stream) {
    const r = await client.chat.completions.create({ ...body, stream: false });
    const m = r.choices[0].message;
    return {
      finish: r.choices[0].finish_reason,
      content: m.content,
      reasoning: m.reasoning_content,
      calls: (m.tool_calls ?? []).map((c) => ({ id: c.id, type: c.type, name: c.function.name, arguments: c.function.arguments })),
    };
  }
  const s = await client.chat.completions.create({ ...body, stream: true });
  const calls = [];
  let content = '', reasoning = '', finish = null, first = true;
  for await (const chunk of s) {
    const c = chunk.choices[0];
    if (!c) continue;
    if (first) {
      assert.equal(c.delta.role, 'assistant', 'the first delta announces the role');
      first = false;
    }
    content += c.delta.content ?? '';
    reasoning += c.delta.reasoning_content ?? '';
    for (const tc of c.delta.tool_calls ?? []) {
      const cur = (calls[tc.index] ??= { id: '', type: '', name: '', arguments: '' });
      if (tc.id) cur.id = tc.id;
      if (tc.type) cur.type = tc.type;
      if (tc.function?.name) cur.name += tc.function.name;
      if (tc.function?.arguments) cur.arguments += tc.function.arguments;
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { finish, content, reasoning, calls };
}

function checkCalls(res, tools, named, label) {
  assert.equal(res.finish, 'tool_calls', `${label}: finish_reason`);
  assert.ok(res.calls.length >= 1, `${label}: carries tool calls`);
  const ids = new Set();
  for (const c of res.calls) {
    assert.ok(c.id && !ids.has(c.id), `${label}: unique non-empty id`);
    ids.add(c.id);
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

// ---- the 200+ forced tool calls ----

test(`forced tool calls: ${N_TOOL_REQUESTS} requests, required and named, streaming and not, all land`, { timeout: 600_000 }, async () => {
  const rnd = mulberry32(7);
  const cases = Array.from({ length: N_TOOL_REQUESTS }, (_, k) => {
    const tools = toolSet(rnd, k);
    const named = k % 2 === 1 ? tools[Math.floor(rnd() * tools.length)].function.name : null;
    // a quarter may answer with several calls (parallel_tool_calls, the default)
    return { tools, named, stream: k % 4 >= 2, seed: k, parallel: k % 8 < 2 };
  });
  const t0 = Date.now();
  const results = await pool(cases.length, CONCURRENCY, async (k) => {
    const c = cases[k];
    const body = {
      model: NAME,
      messages: [{ role: 'user', content: `Call a tool, please (${k}).` }],
      tools: c.tools,
      tool_choice: c.named ? { type: 'function', function: { name: c.named } } : 'required',
      parallel_tool_calls: c.parallel,
      max_tokens: MAX_TOKENS,
      seed: c.seed,
      // Qwen 3 thinks first unless told not to, and a random model never closes its <think>
      // block: with thinking off the template closes it and the grammar starts at the call
      chat_template_kwargs: { enable_thinking: false },
    };
    return chat(body, c.stream);
  });
  let landed = 0, cut = 0;
  results.forEach((res, k) => {
    const label = `request ${k} (${cases[k].named ? 'named' : 'required'}, ${cases[k].stream ? 'stream' : 'whole'})`;
    if (res.finish === 'length') {
      cut++;
      return;
    }
    checkCalls(res, cases[k].tools, cases[k].named, label);
    landed++;
  });
  const secs = (Date.now() - t0) / 1000;
  console.log(`# tool calls: ${landed}/${N_TOOL_REQUESTS} landed and validated, ${cut} cut by max_tokens (finish_reason length), ${secs.toFixed(1)} s`);
  assert.equal(landed + cut, N_TOOL_REQUESTS);
  // the room guard keeps every forced call completable within max_tokens (issue 13)
  assert.equal(landed, N_TOOL_REQUESTS, `every forced call lands within max_tokens ${MAX_TOKENS} (${cut} cut)`);
});

test(`response_format json_schema: ${N_FORMAT_REQUESTS} requests, every output validates`, { timeout: 300_000 }, async () => {
  const rnd = mulberry32(11);
  const schemas = Array.from({ length: N_FORMAT_REQUESTS }, () => objectSchema(rnd));
  let ok = 0, cut = 0;
  await pool(schemas.length, CONCURRENCY, async (k) => {
    const res = await chat(
      {
        model: NAME,
        messages: [{ role: 'user', content: `Answer in JSON (${k}).` }],
        response_format: { type: 'json_schema', json_schema: { name: `s${k}`, schema: schemas[k], strict: true } },
        max_tokens: MAX_TOKENS,
        seed: k,
      },
      k % 2 === 1,
    );
    if (res.finish === 'length') return cut++;
    assert.equal(res.finish, 'stop');
    assert.equal(res.calls.length, 0);
    const v = ajv.compile(schemas[k]);
    let doc;
    assert.doesNotThrow(() => (doc = JSON.parse(res.content)), `output ${k} parses: ${res.content}`);
    assert.ok(v(doc), `output ${k} validates: ${res.content}: ${ajv.errorsText(v.errors)}`);
    ok++;
  });
  console.log(`# response_format json_schema: ${ok}/${N_FORMAT_REQUESTS} validated, ${cut} cut by max_tokens`);
  assert.equal(ok, N_FORMAT_REQUESTS, `every output completes within max_tokens (${cut} cut)`);
});

test('response_format json_object gives a JSON object', async () => {
  const res = await chat({ model: NAME, messages: [{ role: 'user', content: 'JSON please' }], response_format: { type: 'json_object' }, max_tokens: 120 }, false);
  if (res.finish === 'length') return;
  assert.equal(typeof JSON.parse(res.content), 'object');
});

test('tool_choice none: tools in the prompt, no tool_calls parsed', async () => {
  const tools = toolSet(mulberry32(3), 0);
  for (const stream of [false, true]) {
    const res = await chat({ model: NAME, messages: [{ role: 'user', content: 'hi' }], tools, tool_choice: 'none', max_tokens: 24 }, stream);
    assert.equal(res.calls.length, 0);
    assert.notEqual(res.finish, 'tool_calls');
  }
});

test('tool_choice auto: answers are text, or calls that validate', async () => {
  const tools = toolSet(mulberry32(5), 0);
  for (const stream of [false, true]) {
    const res = await chat({ model: NAME, messages: [{ role: 'user', content: 'hi' }], tools, max_tokens: 40, seed: 1 }, stream);
    if (res.calls.length) checkCalls(res, tools, null, 'auto');
    else assert.ok(['stop', 'length'].includes(res.finish));
  }
});

test('a previous assistant tool call and its tool result go through the template', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 8 } }, required: ['city'] } } }];
  const r = await client.chat.completions.create({
    model: NAME,
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
    ],
    tools,
    tool_choice: 'required',
    max_tokens: 60,
    chat_template_kwargs: { enable_thinking: false },
  });
  assert.ok(r.usage.prompt_tokens > 0);
  if (r.choices[0].finish_reason !== 'length') checkCalls({ finish: r.choices[0].finish_reason, calls: r.choices[0].message.tool_calls.map((c) => ({ id: c.id, type: c.type, name: c.function.name, arguments: c.function.arguments })) }, tools, null, 'history');
});

test('a raw grammar constrains the output; <think> goes to reasoning_content', async () => {
  const grammar = 'root ::= "<think>" [a-z]{2,6} "</think>" [a-z]{2,6}';
  for (const stream of [false, true]) {
    const res = await chat({ model: NAME, messages: [{ role: 'user', content: 'think' }], grammar, max_tokens: 40 }, stream);
    assert.equal(res.finish, 'stop');
    assert.match(res.reasoning, /^[a-z]{2,6}$/);
    assert.match(res.content, /^[a-z]{2,6}$/);
  }
});

test('enable_thinking reaches the template (Qwen 3 closes the think block itself)', async () => {
  const base = { model: NAME, messages: [{ role: 'user', content: 'hello' }], max_tokens: 1 };
  const on = await client.chat.completions.create(base);
  const off = await client.chat.completions.create({ ...base, chat_template_kwargs: { enable_thinking: false } });
  assert.ok(off.usage.prompt_tokens > on.usage.prompt_tokens, 'the empty <think></think> block is in the prompt');
});

// ---- oneOf with exclusive branches, decimal ranges (issue 13) ----

const SHAPES = {
  type: 'object',
  properties: {
    shape: {
      oneOf: [
        { type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number', exclusiveMinimum: 0, maximum: 2.5 } }, required: ['kind', 'r'], additionalProperties: false },
        { type: 'object', properties: { kind: { const: 'rect' }, w: { type: 'number', minimum: 0.5, maximum: 1.5 }, h: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['kind', 'w', 'h'], additionalProperties: false },
        { type: 'string', maxLength: 8 },
        { type: 'null' },
      ],
    },
    temp: { type: 'number', exclusiveMinimum: -40.5, exclusiveMaximum: 0 },
    level: { oneOf: [{ type: 'integer', maximum: -1 }, { type: 'integer', minimum: 0, maximum: 5 }] },
  },
  required: ['shape', 'temp', 'level'],
  additionalProperties: false,
};

test('oneOf (discriminated, typed, ranged) and number ranges: 24 forced calls and formats validate with ajv', { timeout: 300_000 }, async () => {
  const tools = [{ type: 'function', function: { name: 'draw', parameters: SHAPES } }];
  const validate = ajv.compile(SHAPES);
  let fractions = 0;
  await pool(24, CONCURRENCY, async (k) => {
    const body = { model: NAME, messages: [{ role: 'user', content: `draw ${k}` }], max_tokens: MAX_TOKENS, seed: 100 + k };
    if (k % 3 === 2) {
      const res = await chat({ ...body, response_format: { type: 'json_schema', json_schema: { name: 'draw', schema: SHAPES } } }, k % 2 === 1);
      assert.equal(res.finish, 'stop', `format ${k}: ${res.content}`);
      const doc = JSON.parse(res.content);
      assert.ok(validate(doc), `format ${k}: ${res.content}: ${ajv.errorsText(validate.errors)}`);
      return;
    }
    const res = await chat({ ...body, tools, tool_choice: 'required' }, k % 2 === 1);
    checkCalls(res, tools, 'draw', `oneOf ${k}`);
    if (/\.\d/.test(res.calls[0].arguments)) fractions++;
  });
  console.log(`# oneOf/number ranges: 24 validated, ${fractions} calls with a fraction`);
});

// ---- errors ----

async function expect400(body, re) {
  await assert.rejects(client.chat.completions.create({ model: NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 4, ...body }), (e) => {
    assert.equal(e.status, 400, e.message);
    assert.match(e.message, re);
    return true;
  });
}

test('errors: bad schemas, unknown tools, bad grammars are 400 naming the problem', async () => {
  const tool = (parameters, name = 'f') => [{ type: 'function', function: { name, parameters } }];
  await expect400({ tools: tool({ type: 'object' }), tool_choice: { type: 'function', function: { name: 'nope' } } }, /nope/);
  await expect400({ tools: tool({ type: 'object', properties: { a: { not: { type: 'string' } } } }) }, /not/);
  await expect400({ tools: tool({ type: 'objekt' }) }, /objekt|type/);
  await expect400({ tools: tool({ type: 'object', properties: 5 }) }, /properties/);
  await expect400({ tool_choice: 'required' }, /tools/);
  await expect400({ response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'string', not: {} } } } }, /not/);
  await expect400({ response_format: { type: 'xml' } }, /response_format/);
  // oneOf whose branches may both match: refused, naming oneOf and why (not treated as anyOf)
  await expect400({ tools: tool({ type: 'object', properties: { a: { oneOf: [{ type: 'number' }, { type: 'integer' }] } } }) },
    /'oneOf' branches 0 and 1 are not provably exclusive.*#\/properties\/a\/oneOf/);
  await expect400({ response_format: { type: 'json_schema', json_schema: { name: 's', schema: { oneOf: [{ type: 'string' }, { type: 'string', maxLength: 2 }] } } } },
    /oneOf.*not provably exclusive/);
  await expect400({ tools: tool({ type: 'object', properties: { x: { type: 'number', minimum: 2.5, exclusiveMaximum: 2.5 } } }) },
    /no number between minimum and maximum/);
  await expect400({ grammar: 'root ::= "a' }, /grammar.*\d+:\d+|\d+:\d+.*grammar/s);
  await expect400({ grammar: 'root ::= undefined_rule' }, /undefined_rule/);
});

// ---- Ollama ----

test('ollama: tools give message.tool_calls with object arguments; format json and schema', async () => {
  const tools = toolSet(mulberry32(9), 0);
  for (const stream of [false, true]) {
    const req = { model: NAME, messages: [{ role: 'user', content: 'call' }], tools, tool_choice: 'required', think: false, stream, options: { num_predict: MAX_TOKENS, seed: 3 } };
    let calls = [], done;
    if (stream) {
      for await (const part of await ollama.chat(req)) {
        calls.push(...(part.message.tool_calls ?? []));
        if (part.done) done = part;
      }
    } else {
      done = await ollama.chat(req);
      calls = done.message.tool_calls ?? [];
    }
    if (done.done_reason === 'length') continue;
    assert.ok(calls.length >= 1, 'ollama: a tool call');
    for (const c of calls) {
      const tool = tools.find((t) => t.function.name === c.function.name);
      assert.ok(tool);
      assert.equal(typeof c.function.arguments, 'object');
      const v = ajv.compile(tool.function.parameters);
      assert.ok(v(c.function.arguments), ajv.errorsText(v.errors));
    }
  }
  const schema = objectSchema(mulberry32(13));
  const r = await ollama.chat({ model: NAME, messages: [{ role: 'user', content: 'json' }], format: schema, options: { num_predict: MAX_TOKENS } });
  if (r.done_reason !== 'length') assert.ok(ajv.compile(schema)(JSON.parse(r.message.content)), r.message.content);
  const j = await ollama.generate({ model: NAME, prompt: 'json', format: 'json', options: { num_predict: 200 } });
  if (j.done_reason !== 'length') assert.equal(typeof JSON.parse(j.response), 'object');
  await assert.rejects(ollama.chat({ model: NAME, messages: [{ role: 'user', content: 'x' }], format: 'yaml' }), /format/);
});

// ---- cost of the grammar ----

test('tokens/s with and without a JSON grammar (printed)', async () => {
  const schema = { type: 'object', properties: { items: { type: 'array', items: { type: 'string', maxLength: 40 }, maxItems: 60 } }, required: ['items'] };
  const rate = async (format) => {
    const r = await ollama.chat({ model: NAME, messages: [{ role: 'user', content: 'go' }], format, options: { num_predict: 120, seed: 1 } });
    return { n: r.eval_count, tps: r.eval_count / (r.eval_duration / 1e9) };
  };
  const free = await rate(undefined);
  const constrained = await rate(schema);
  console.log(`# decode: unconstrained ${free.tps.toFixed(1)} tok/s (${free.n} tokens), JSON-schema grammar ${constrained.tps.toFixed(1)} tok/s (${constrained.n} tokens)`);
  assert.ok(free.n > 0 && constrained.n > 0);
});
