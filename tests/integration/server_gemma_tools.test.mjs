// Gemma 2's template raises on a system message ("System role not supported"): the generic
// tool instructions the server adds for templates that do not render tools must then open the
// first user turn instead (server/chat.c probes the template once). Forced and automatic tool
// requests answer 200 and forced calls validate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Ajv from 'ajv';
import { startServer, BIN } from './server_helpers.mjs';
import { fixture } from './fixtures.mjs';

const ajv = new Ajv({ strict: false });
let dir, srv, client;
const PARAMS = { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'], additionalProperties: false };
const TOOLS = [{ type: 'function', function: { name: 'get_weather', description: 'weather of a city', parameters: PARAMS } }];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-gemma-tools-'));
  process.env.HEARTH_HOME = join(dir, 'home');
  const model = join(dir, 'tiny.gguf');
  let r = spawnSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', model], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  r = spawnSync(BIN, ['import', model, '--name', 't:gemma', '--template', fixture('chat-templates/google-gemma-2-2b-it.jinja')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  srv = await startServer(['t:gemma', '--name', 'g', '--slots', '2', '--ctx', '2048'], { readyTimeoutMs: 60_000 });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
});
after(async () => {
  await srv?.stop();
  delete process.env.HEARTH_HOME;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the template itself refuses a system message (what the server works around)', async () => {
  const res = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'g', max_tokens: 4, messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error.message, /System role not supported/);
});

test('forced tool calls land and validate with tools in the first user turn', async () => {
  const validate = ajv.compile(PARAMS);
  for (const tool_choice of ['required', { type: 'function', function: { name: 'get_weather' } }]) {
    for (let i = 0; i < 3; i++) {
      const r = await client.chat.completions.create({
        model: 'g', max_tokens: 120, seed: i, tools: TOOLS, tool_choice,
        messages: [{ role: 'user', content: `weather in city ${i}?` }],
      });
      const calls = r.choices[0].message.tool_calls ?? [];
      assert.ok(calls.length >= 1, JSON.stringify(r.choices[0]));
      assert.equal(calls[0].function.name, 'get_weather');
      assert.ok(validate(JSON.parse(calls[0].function.arguments)), calls[0].function.arguments);
    }
  }
});

test('tool_choice auto answers 200 and the prompt carries the tool description', async () => {
  const r = await client.chat.completions.create({
    model: 'g', max_tokens: 8, tools: TOOLS, messages: [{ role: 'user', content: 'hello' }],
  });
  assert.ok(r.choices[0].finish_reason);
  // the instructions went into the prompt: more prompt tokens than the same request without tools
  const bare = await client.chat.completions.create({ model: 'g', max_tokens: 1, messages: [{ role: 'user', content: 'hello' }] });
  assert.ok(r.usage.prompt_tokens > bare.usage.prompt_tokens + 20, `${r.usage.prompt_tokens} vs ${bare.usage.prompt_tokens}`);
});
