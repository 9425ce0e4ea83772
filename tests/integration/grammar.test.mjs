// `hearth run` under a grammar: on a random-weights tiny-qwen3 model with the real 151K Qwen
// vocab, --json-schema outputs parse as JSON and validate against the schema (checked by a
// small validator for the keywords used), --grammar-file outputs match the grammar's language,
// and bad grammars and schemas fail with messages naming the problem.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vocab } from './fixtures.mjs';

const BIN = process.env.HEARTH_BIN;
let dir, model;

const hearth = (args) => spawnSync(BIN, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 });

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-grammar-'));
  model = join(dir, 'tq.gguf');
  const r = hearth(['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', '--vocab',
    vocab('qwen2'), model]);
  assert.equal(r.status, 0, r.stderr);
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

// A validator for the keywords these schemas use.
function validate(v, s, root = s) {
  if (s === true) return true;
  if (s.$ref) return validate(v, s.$ref.slice(2).split('/').reduce((o, k) => o[k], root), root);
  const typeOk = (t) => t === 'null' ? v === null : t === 'integer' ? Number.isInteger(v)
    : t === 'number' ? typeof v === 'number' : t === 'array' ? Array.isArray(v)
    : t === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v) : typeof v === t;
  if (s.type && ![].concat(s.type).some(typeOk)) return false;
  if ('const' in s && JSON.stringify(v) !== JSON.stringify(s.const)) return false;
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) return false;
  if (s.anyOf && !s.anyOf.some((x) => validate(v, x, root))) return false;
  if (typeof v === 'string') {
    const n = [...v].length;
    if (s.minLength !== undefined && n < s.minLength) return false;
    if (s.maxLength !== undefined && n > s.maxLength) return false;
    if (s.pattern && !new RegExp(s.pattern, 'u').test(v)) return false;
    if (s.format === 'date' && !/^\d{4}-\d\d-\d\d$/.test(v)) return false;
    if (s.format === 'uuid' && !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(v)) return false;
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) return false;
    if (s.maximum !== undefined && v > s.maximum) return false;
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) return false;
    if (s.maxItems !== undefined && v.length > s.maxItems) return false;
    if (s.items && !v.every((x) => validate(x, s.items, root))) return false;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const k of s.required ?? []) if (!(k in v)) return false;
    for (const [k, x] of Object.entries(v)) {
      const ps = s.properties?.[k];
      if (ps) { if (!validate(x, ps, root)) return false; }
      else if (s.additionalProperties === false) return false;
    }
  }
  return true;
}

const SCHEMAS = [
  { type: 'object', properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 } }, required: ['name', 'age'] },
  { type: 'object', properties: { ok: { type: 'boolean' }, tags: { type: 'array', items: { enum: ['red', 'green', 'blue'] }, minItems: 1, maxItems: 3 } }, required: ['ok', 'tags'], additionalProperties: false },
  { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, when: { type: 'string', format: 'date' }, code: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{2}$' } }, required: ['id', 'when', 'code'] },
  { $defs: { pt: { type: 'object', properties: { x: { type: 'integer', minimum: -9, maximum: 9 }, y: { type: 'integer', minimum: -9, maximum: 9 } }, required: ['x', 'y'] } }, type: 'object', properties: { a: { $ref: '#/$defs/pt' }, b: { anyOf: [{ $ref: '#/$defs/pt' }, { type: 'null' }] } }, required: ['a', 'b'] },
];

for (const [i, schema] of SCHEMAS.entries()) {
  for (const [temp, seed] of [['0', '1'], ['1', String(10 + i)]]) {
    test(`--json-schema #${i} at temperature ${temp}: the output is JSON valid under the schema`, () => {
      const f = join(dir, `s${i}.json`);
      writeFileSync(f, JSON.stringify(schema));
      const r = hearth(['run', model, '-p', 'Reply in JSON:', '-n', '400', '--temp', temp, '--seed', seed, '--json-schema', f]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /output complete/, r.stdout);
      const v = JSON.parse(r.stdout);
      assert.ok(validate(v, schema), `does not validate: ${r.stdout}`);
    });
  }
}

test('--grammar-file: the output is a sentence of the grammar', () => {
  const f = join(dir, 'g.gbnf');
  writeFileSync(f, 'root ::= "answer: " ("yes" | "no") " (" [0-9]{1,3} "%)"\n');
  for (const temp of ['0', '1']) {
    const r = hearth(['run', model, '-p', 'Q?', '-n', '50', '--temp', temp, '--grammar-file', f]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^answer: (yes|no) \([0-9]{1,3}%\)$/);
  }
});

test('--json gives a JSON object (or stops at -n with an incomplete one, said on stderr)', () => {
  const r = hearth(['run', model, '-p', '{', '-n', '60', '--temp', '1', '--seed', '5', '--json']);
  assert.equal(r.status, 0, r.stderr);
  if (/output complete/.test(r.stderr)) assert.equal(typeof JSON.parse(r.stdout), 'object');
  else assert.match(r.stderr, /INCOMPLETE/);
  assert.match(r.stdout, /^\{/);
});

test('bad grammars and schemas fail with the problem and its place', () => {
  const g = join(dir, 'bad.gbnf');
  writeFileSync(g, 'root ::= "a" | x\n');
  let r = hearth(['run', model, '-p', 'x', '--grammar-file', g]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /grammar:1:16: undefined rule 'x'/);
  const s = join(dir, 'bad.json');
  writeFileSync(s, JSON.stringify({ type: 'object', properties: { a: { type: 'string', format: 'email' } } }));
  r = hearth(['run', model, '-p', 'x', '--json-schema', s]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unsupported format 'email'.* at #\/properties\/a\/format/);
  r = hearth(['run', model, '-p', 'x', '--json', '--grammar-file', g]);
  assert.equal(r.status, 2);
});
