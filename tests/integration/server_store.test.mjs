// A served name that is a model-store name gets the store's overrides: the manifest's chat
// template replaces the GGUF's, its params are the name's defaults (temperature, top_k,
// num_ctx, system, ...), and keys the config file sets win over the store's params.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { startServer, BIN, MODEL } from './server_helpers.mjs';

const TEMPLATE = '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}ASSISTANT:';
const PARAMS = { temperature: 0, top_k: 1, num_ctx: 300, system: 'You are a storyteller.', stop: ['x'] };
let dir;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-srvstore-'));
  process.env.HEARTH_HOME = join(dir, 'home'); // inherited by the servers
  writeFileSync(join(dir, 't.jinja'), TEMPLATE);
  writeFileSync(join(dir, 'p.json'), JSON.stringify(PARAMS));
  const r = spawnSync(BIN, ['import', MODEL, '--name', 'tiny:story', '--template', join(dir, 't.jinja'), '--params', join(dir, 'p.json')],
    { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const plain = spawnSync(BIN, ['import', MODEL, '--name', 'tiny:plain'], { encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
});
after(() => {
  delete process.env.HEARTH_HOME;
  rmSync(dir, { recursive: true, force: true });
});

// prompt tokens and greedy text of a raw prompt (no template) through /v1/completions
async function raw(client, model, prompt) {
  const r = await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0 });
  return { tokens: r.usage.prompt_tokens, text: r.choices[0].text };
}

test('store name: the template override renders the prompt; params are the defaults', async () => {
  const srv = await startServer(['tiny:story']);
  try {
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const ollama = new Ollama({ host: srv.url });
    // no temperature in the request: the store's temperature 0 makes it greedy
    const chat = await client.chat.completions.create({ model: 'tiny:story', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 });
    const want = await raw(client, 'tiny:story', `[system] ${PARAMS.system}\n[user] Hello\nASSISTANT:`);
    assert.equal(chat.usage.prompt_tokens, want.tokens, 'the override template with the store system prompt');
    assert.equal(chat.choices[0].message.content, want.text, 'greedy by the store temperature');
    const show = await ollama.show({ model: 'tiny:story' });
    assert.equal(show.template, TEMPLATE);
    assert.match(show.parameters, /temperature 0\b/);
    assert.match(show.parameters, /top_k 1\b/);
    assert.match(show.parameters, /num_ctx 300\b/);
    assert.equal(show.system, PARAMS.system);
    const ps = await ollama.ps();
    assert.equal(ps.models[0].context_length, 300);
    assert.match(srv.stderr(), /ignoring unknown key 'stop'/);
  } finally {
    await srv.stop();
  }
});

test('config file keys win over the store params; the template override still applies', async () => {
  const conf = join(dir, 'hearth.conf');
  writeFileSync(conf, '[story]\nmodel = tiny:story\nctx = 200\ntemperature = 0.5\nsystem = "Be brief."\n');
  const srv = await startServer(['--config', conf]);
  try {
    const ollama = new Ollama({ host: srv.url });
    const show = await ollama.show({ model: 'story' });
    assert.equal(show.template, TEMPLATE);
    assert.match(show.parameters, /temperature 0.5\b/);
    assert.match(show.parameters, /top_k 1\b/, 'not set in the config: the store value');
    assert.match(show.parameters, /num_ctx 200\b/);
    assert.equal(show.system, 'Be brief.');
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const chat = await client.chat.completions.create({ model: 'story', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 });
    const want = await raw(client, 'story', '[system] Be brief.\n[user] Hi\nASSISTANT:');
    assert.equal(chat.usage.prompt_tokens, want.tokens);
  } finally {
    await srv.stop();
  }
});

test('a store name without overrides serves the GGUF as before; a bad params blob refuses to start', async () => {
  const srv = await startServer(['tiny:plain']);
  try {
    const show = await new Ollama({ host: srv.url }).show({ model: 'tiny:plain' });
    assert.match(show.parameters, /temperature 0.8\b/);
    assert.equal(show.system, undefined);
  } finally {
    await srv.stop();
  }
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ temperature: 'hot' }));
  const r = spawnSync(BIN, ['import', MODEL, '--name', 'tiny:bad', '--params', join(dir, 'bad.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await assert.rejects(startServer(['tiny:bad']), /params: 'temperature' must be a number/);
});
