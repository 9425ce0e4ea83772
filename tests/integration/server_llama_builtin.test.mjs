// Llama 3.1 built-in tools through the server (issue 13): with the Llama 3.1 template (as
// published; tests/data/templates), tools named brave_search / wolfram_alpha are announced by the
// template itself (builtin_tools) and called in their own syntax,
// <|python_tag|>brave_search.call(query="..."); forced calls from a random-weights model land as
// tool_calls with {"query": ...} arguments that validate (npm ajv), streaming and not.
// Needs no ../shared: the model is generated (built-in vocab).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import Ajv from 'ajv';
import { startServer, BIN } from './server_helpers.mjs';

const TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), '../data/templates/meta-llama-Llama-3.1-8B-Instruct.jinja');
const ajv = new Ajv({ strict: false });
let dir, srv, client;

const fn = (name, parameters) => ({ type: 'function', function: { name, description: `${name} tool`, parameters } });
const QUERY = { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] };
const WEATHER = fn('get_weather', { type: 'object', properties: { location: { type: 'string', maxLength: 20 } }, required: ['location'], additionalProperties: false });
const TOOLS = [fn('brave_search', QUERY), fn('wolfram_alpha', QUERY), WEATHER];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-builtin-'));
  process.env.HEARTH_HOME = join(dir, 'home');
  const model = join(dir, 'tiny.gguf');
  let r = spawnSync(BIN, ['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', model], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  r = spawnSync(BIN, ['import', model, '--name', 't:l31', '--template', TEMPLATE], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  srv = await startServer(['t:l31', '--name', 'l31', '--slots', '4', '--ctx', '2048'], { readyTimeoutMs: 60_000 });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
});
after(async () => {
  await srv?.stop();
  delete process.env.HEARTH_HOME;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function call(body, stream) {
  if (!stream) {
    const r = await client.chat.completions.create({ ...body, stream: false });
    const m = r.choices[0].message;
    return { finish: r.choices[0].finish_reason, content: m.content, calls: (m.tool_calls ?? []).map((c) => c.function) };
  }
  const s = await client.chat.completions.create({ ...body, stream: true });
  const calls = [];
  let finish = null, content = '';
  for await (const chunk of s) {
    const c = chunk.choices[0];
    if (!c) continue;
    content += c.delta.content ?? '';
    for (const tc of c.delta.tool_calls ?? []) {
      calls[tc.index] ??= { name: '', arguments: '' };
      if (tc.function?.name) calls[tc.index].name += tc.function.name;
      if (tc.function?.arguments) calls[tc.index].arguments += tc.function.arguments;
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { finish, content, calls };
}

test('forced built-in calls (named and required) land in their own syntax and validate', { timeout: 300_000 }, async () => {
  let builtin = 0;
  for (let k = 0; k < 12; k++) {
    const choice = k < 4 ? { type: 'function', function: { name: 'brave_search' } }
      : k < 8 ? { type: 'function', function: { name: 'wolfram_alpha' } } : 'required';
    const r = await call({ model: 'l31', messages: [{ role: 'user', content: `look it up ${k}` }], tools: TOOLS, tool_choice: choice, max_tokens: 300, seed: k }, k % 2 === 1);
    assert.equal(r.finish, 'tool_calls', `${k}: finish (content ${JSON.stringify(r.content)})`);
    assert.ok(r.calls.length >= 1, `${k}: a call`);
    for (const c of r.calls) {
      const tool = TOOLS.find((t) => t.function.name === c.name);
      assert.ok(tool, `${k}: '${c.name}' offered`);
      if (typeof choice === 'object') assert.equal(c.name, choice.function.name);
      const args = JSON.parse(c.arguments);
      const v = ajv.compile(tool.function.parameters);
      assert.ok(v(args), `${k}: ${c.arguments}: ${ajv.errorsText(v.errors)}`);
      if (c.name !== 'get_weather') {
        builtin++;
        assert.deepEqual(Object.keys(args), ['query']);
      }
    }
  }
  assert.ok(builtin >= 8);
});

test('built-in tools are announced by the template, not listed as functions', async () => {
  const base = { model: 'l31', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 };
  const plain = await client.chat.completions.create({ ...base, tools: [WEATHER] });
  const with1 = await client.chat.completions.create({ ...base, tools: [WEATHER, fn('brave_search', QUERY)] });
  const as_fn = await client.chat.completions.create({ ...base, tools: [WEATHER, fn('brave_searcher', QUERY)] });
  const extra = with1.usage.prompt_tokens - plain.usage.prompt_tokens;
  const extraFn = as_fn.usage.prompt_tokens - plain.usage.prompt_tokens;
  // "Tools: brave_search\n\n" in the system message, against a whole JSON function definition
  assert.ok(extra > 0 && extra < extraFn / 2, `built-in adds ${extra} tokens, a function ${extraFn}`);
});
