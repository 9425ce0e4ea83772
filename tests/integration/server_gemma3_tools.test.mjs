// Gemma 3's template folds a system message into the first user turn (Gemma 2's raises on one):
// the server's one-time probe classes it as accepting a system turn, so a client's system
// message and the generic tool instructions go in as a system message the template merges.
// Forced tool calls land and validate; a `tool` turn gets the template's own refusal (its roles
// must alternate) as a 400.
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
  dir = mkdtempSync(join(tmpdir(), 'hearth-gemma3-tools-'));
  process.env.HEARTH_HOME = join(dir, 'home');
  const model = join(dir, 'tiny.gguf');
  let r = spawnSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', model], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  r = spawnSync(BIN, ['import', model, '--name', 't:gemma3', '--template', fixture('chat-templates/google-gemma-3-4b-it.jinja')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  srv = await startServer(['t:gemma3', '--name', 'g3', '--slots', '2', '--ctx', '2048'], { readyTimeoutMs: 60_000 });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
});
after(async () => {
  await srv?.stop();
  delete process.env.HEARTH_HOME;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a system message is accepted (folded into the first user turn)', async () => {
  const withSys = await client.chat.completions.create({
    model: 'g3', max_tokens: 1, messages: [{ role: 'system', content: 'be brief and kind' }, { role: 'user', content: 'hi' }],
  });
  const bare = await client.chat.completions.create({ model: 'g3', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] });
  assert.ok(withSys.usage.prompt_tokens > bare.usage.prompt_tokens, `${withSys.usage.prompt_tokens} vs ${bare.usage.prompt_tokens}`);
});

test('forced tool calls land and validate', async () => {
  const validate = ajv.compile(PARAMS);
  for (const tool_choice of ['required', { type: 'function', function: { name: 'get_weather' } }]) {
    for (let i = 0; i < 2; i++) {
      const r = await client.chat.completions.create({
        model: 'g3', max_tokens: 120, seed: i, tools: TOOLS, tool_choice,
        messages: [{ role: 'system', content: 'You help.' }, { role: 'user', content: `weather in city ${i}?` }],
      });
      const calls = r.choices[0].message.tool_calls ?? [];
      assert.ok(calls.length >= 1, JSON.stringify(r.choices[0]));
      assert.equal(calls[0].function.name, 'get_weather');
      assert.ok(validate(JSON.parse(calls[0].function.arguments)), calls[0].function.arguments);
    }
  }
});

test('a tool result turn gets the template refusal as a 400', async () => {
  const res = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      model: 'g3', max_tokens: 4, tools: TOOLS, messages: [
        { role: 'user', content: 'weather in Oslo?' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: '{"temp": 3}' },
      ],
    }),
  });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error.message, /Conversation roles must alternate/);
});
