// `hearth template`: renders real chat templates byte for byte as Jinja2 does (vectors from
// ../shared/fixtures/chat-templates/cases.json), and refuses with exit 1 and a message on stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, vocab } from './fixtures.mjs';

const BIN = process.env.HEARTH_BIN;
const DIR = fixture('chat-templates');
const CASES = JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8'));
const TMP = mkdtempSync(join(tmpdir(), 'hearth-template-'));

function run(args) {
  return spawnSync(BIN, ['template', ...args], { encoding: 'buffer' });
}

function writeContext(name, ctx) {
  const p = join(TMP, `${name}.json`);
  writeFileSync(p, JSON.stringify(ctx));
  return p;
}

const PICKS = [
  ['Qwen-Qwen3-tokenizer-config.jinja', 'tool_round_trip'],
  ['meta-llama-Llama-3.1-8B-Instruct.jinja', 'tools_offered'],
  ['mistralai-Mistral-Nemo-Instruct-2407.jinja', 'unicode'],
  ['CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja', 'parallel_calls'],
  ['meetkai-functionary-medium-v3.1.jinja', 'tools_offered'],
];

for (const [tmpl, name] of PICKS) {
  test(`renders ${tmpl} / ${name} byte for byte`, () => {
    const c = CASES.find((x) => x.template === tmpl && x.case === name);
    assert.ok(c && c.expected !== null, 'vector exists');
    const ctx = writeContext(`${tmpl}-${name}`, c.context);
    const r = run(['--jinja', join(DIR, tmpl), '--context', ctx, '--now', '2024-07-26T12:00:00']);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString('utf8'), c.expected);
  });
}

test('strftime_now reads --now', () => {
  const tmpl = join(TMP, 'date.jinja');
  writeFileSync(tmpl, "Today is {{ strftime_now('%d %b %Y %H:%M') }}.");
  const ctx = writeContext('empty', {});
  const r = run(['--jinja', tmpl, '--context', ctx, '--now', '2024-07-26T12:00:00']);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(r.stdout.toString(), 'Today is 26 Jul 2024 12:00.');
});

test("a template's raise_exception exits 1 with its message on stderr", () => {
  const c = CASES.find((x) => x.template === 'google-gemma-2-2b-it.jinja' && x.case === 'basic');
  assert.match(c.error, /^TemplateError: System role not supported/);
  const ctx = writeContext('gemma-basic', c.context);
  const r = run(['--jinja', join(DIR, c.template), '--context', ctx]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout.length, 0);
  assert.match(r.stderr.toString(), /System role not supported/);
});

test('a syntax error names the line and column', () => {
  const tmpl = join(TMP, 'bad.jinja');
  writeFileSync(tmpl, 'ok\n{% for m in messages %}\n{% endif %}\n');
  const r = run(['--jinja', tmpl, '--context', writeContext('empty2', { messages: [] })]);
  assert.equal(r.status, 1);
  assert.match(r.stderr.toString(), /template:3:4: unexpected 'endif'/);
});

test('a missing context file is an error, and bad usage exits 2', () => {
  const r = run(['--jinja', join(DIR, 'google-gemma-2-2b-it.jinja'), '--context', join(TMP, 'nope.json')]);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.length > 0);
  assert.equal(run(['--context', 'x.json']).status, 2);
});

// Templates read from GGUF files; bos_token/eos_token default to the vocab's tokens.
const GGUF_CASES = JSON.parse(
  readFileSync(fixture('templates/gguf_cases.json'), 'utf8'));

for (const c of GGUF_CASES.filter((_, i) => i % 3 === 0)) {
  test(`renders the template inside ${c.gguf} / ${c.name}`, () => {
    const ctx = writeContext(`gguf-${c.gguf}-${c.name}`, c.context);
    const r = run([fixture(`vocab/${c.gguf}`), '--context', ctx]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString('utf8'), c.expected);
  });
}

test('a GGUF without a chat template is refused', () => {
  const r = run([vocab('gpt-2'), '--context', writeContext('e3', {})]);
  assert.equal(r.status, 1);
  assert.match(r.stderr.toString(), /no tokenizer.chat_template/);
});
