// hearth inspect: a real model and a vocab file print their header, metadata and tensor table;
// malformed files get the reader's message on stderr and exit status 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL, vocab } from './fixtures.mjs';

const BIN = process.env.HEARTH_BIN;
const inspect = (file) => spawnSync(BIN, ['inspect', file], { encoding: 'utf8' });

test('inspect stories260K: header, metadata, tensors, totals', () => {
  const r = inspect(MODEL);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^version: +3$/m);
  assert.match(r.stdout, /^alignment: +32$/m);
  assert.match(r.stdout, /^metadata: 19 keys$/m);
  assert.match(r.stdout, /general\.architecture +string +"llama"/);
  assert.match(r.stdout, /llama\.block_count +u32 +5/);
  assert.match(r.stdout, /tokenizer\.ggml\.tokens +array +\[512 × string\] \["<unk>", "<s>", "<\/s>", /);
  assert.match(r.stdout, /^tensors: 48$/m);
  assert.match(r.stdout, /token_embd\.weight +f32 +\[64, 512\] +0 +131072/);
  const m = r.stdout.match(/^total: 48 tensors, (\d+) parameters/m);
  assert.ok(m, r.stdout);
  // Parameters: the sum of element counts over the tensor table printed above.
  let sum = 0;
  for (const line of r.stdout.matchAll(/\[([\d, ]+)\]\s+\d+\s+\d+$/gm))
    sum += line[1].split(', ').reduce((a, b) => a * Number(b), 1);
  assert.equal(Number(m[1]), sum);
});

test('inspect abbreviates long arrays and long strings', () => {
  const r = inspect(vocab('qwen2'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\[151669 × string\] \[.*, …\]/);
  assert.match(r.stdout, /tokenizer\.chat_template +string +".*"… \(\d+ bytes\)/);
  for (const line of r.stdout.split('\n')) assert.ok(line.length < 400, line.slice(0, 100));
});

// A minimal GGUF v3 with no tensors and the given string key/values.
function ggufStrings(kvs) {
  const parts = [Buffer.from('GGUF')];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const str = (b) => Buffer.concat([u64(b.length), b]);
  parts.push(u32(3), u64(0), u64(kvs.length));
  for (const [k, v] of kvs) parts.push(str(k), u32(8), str(v));
  return Buffer.concat(parts);
}

test('inspect never prints control bytes or invalid UTF-8 from the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-inspect-'));
  try {
    const p = join(dir, 'hostile.gguf');
    writeFileSync(p, ggufStrings([
      [Buffer.from('\x1b[2Jevil.key'), Buffer.from('ok')],
      [Buffer.from('general.name'), Buffer.from([0x41, 0x1b, 0x5d, 0xff, 0xe6, 0x97, 0xa5, 0x0a])],
    ]));
    const r = spawnSync(BIN, ['inspect', p]);
    assert.equal(r.status, 0, r.stderr.toString());
    const out = r.stdout;
    assert.ok(!out.includes(0x1b), 'ESC reached the terminal');
    assert.ok(!out.includes(0xff), 'invalid UTF-8 reached the terminal');
    const text = out.toString('utf8');
    assert.match(text, /\?\[2Jevil\.key +string +"ok"/);
    assert.match(text, /general\.name +string +"A\\x1b]\\xff日\\n"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inspect refuses malformed files with exit status 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-inspect-'));
  try {
    const good = readFileSync(MODEL);
    const cases = [
      ['empty.gguf', Buffer.alloc(0), /empty file/],
      ['magic.gguf', Buffer.from('not a gguf file'), /bad magic/],
      ['truncated.gguf', good.subarray(0, good.length - 1), /extends past end of file/],
      ['header.gguf', good.subarray(0, 1000), /gguf: .*(bytes (are )?left|needs)/],
    ];
    for (const [name, bytes, re] of cases) {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      const r = inspect(p);
      assert.equal(r.status, 1, name);
      assert.match(r.stderr, re, name);
      assert.equal(r.stdout, '', name);
    }
    const r = inspect(join(dir, 'missing.gguf'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot open/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
