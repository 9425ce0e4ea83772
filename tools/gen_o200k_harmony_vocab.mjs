#!/usr/bin/env node
// gen_o200k_harmony_vocab.mjs — writes tests/data/vocab/ggml-vocab-o200k-harmony.gguf: the
// gpt-oss tokenizer (o200k_harmony) as a vocab-only GGUF in the layout llama.cpp's converter
// writes for gpt-oss, plus its test vectors (.inp/.out, ids by js-tiktoken).
//
// o200k_harmony = o200k_base's 199998 byte-level BPE ranks (npm js-tiktoken carries them, MIT)
// + Harmony's special tokens at the ids OpenAI's tiktoken and openai/harmony give them:
//   199998 <|startoftext|>  199999 <|endoftext|>  200002 <|return|>  200003 <|constrain|>
//   200005 <|channel|>  200006 <|start|>  200007 <|end|>  200008 <|message|>  200012 <|call|>
//   200018 <|endofprompt|> (o200k_base's; Hugging Face's tokenizer names the id so)
//   every other id in 200000 .. 201087: <|reserved_ID|>
// GGUF keys: general.architecture "gpt-oss", tokenizer.ggml.model "gpt2", .pre "gpt-4o"
// (o200k's pre-tokenizer regex), tokens in GPT-2's byte-to-unicode spelling, token_type 1
// (normal) / 3 (control: every special token, as Hugging Face marks them all special), merges
// recovered from the ranks (each token of rank r is the merge of the two parts BPE reaches on
// its bytes with only the ranks below r: how tiktoken vocabs become Hugging Face/GGUF merges),
// bos <|startoftext|>, eos <|return|>, padding <|endoftext|>, add_bos_token false, and the gpt-oss
// chat template (tests/data/chat-templates/openai-gpt-oss-20b.jinja) as tokenizer.chat_template.
//
// Usage: node tools/gen_o200k_harmony_vocab.mjs   (needs tests/integration's node_modules)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(ROOT, 'tests', 'integration', 'package.json'));
const { Tiktoken } = require('js-tiktoken/lite');
const o200k = require('js-tiktoken/ranks/o200k_base');

export const HARMONY_SPECIALS = (() => {
  const named = {
    '<|startoftext|>': 199998, '<|endoftext|>': 199999, '<|return|>': 200002, '<|constrain|>': 200003,
    '<|channel|>': 200005, '<|start|>': 200006, '<|end|>': 200007, '<|message|>': 200008,
    '<|call|>': 200012, '<|endofprompt|>': 200018,
  };
  const byId = new Map(Object.entries(named).map(([t, id]) => [id, t]));
  for (let id = 200000; id < 201088; id++) if (!byId.has(id)) byId.set(id, `<|reserved_${id}|>`);
  return byId; // id -> text
})();

// ---- ranks: base64 token -> rank, as js-tiktoken's core reads them ----
function loadRanks() {
  const ranks = new Map(); // latin1 string of the bytes -> rank
  const byRank = [];
  for (const line of o200k.bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, off, ...toks] = line.split(' ');
    toks.forEach((t, i) => {
      const s = Buffer.from(t, 'base64').toString('latin1');
      ranks.set(s, Number(off) + i);
      byRank[Number(off) + i] = s;
    });
  }
  return { ranks, byRank };
}

// GPT-2's byte <-> printable unicode map
function byteToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const m = new Array(256);
  bs.forEach((b, i) => { m[b] = String.fromCodePoint(cs[i]); });
  return m;
}

function recoverMerge(ranks, tok, maxRank) {
  let parts = Array.from(tok);
  for (;;) {
    let best = -1, bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = ranks.get(parts[i] + parts[i + 1]);
      if (r !== undefined && r < bestRank) { best = i; bestRank = r; }
    }
    if (best < 0 || bestRank >= maxRank) break;
    parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
  }
  return parts;
}

// ---- GGUF v3 writer (metadata only, no tensors) ----
class Gguf {
  constructor() { this.chunks = []; this.n = 0; }
  raw(b) { this.chunks.push(b); }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.raw(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.raw(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.raw(b); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.raw(b); }
  key(k, type) { this.str(k); this.u32(type); this.n++; }
  kvStr(k, s) { this.key(k, 8); this.str(s); }
  kvU32(k, v) { this.key(k, 4); this.u32(v); }
  kvBool(k, v) { this.key(k, 7); this.raw(Buffer.from([v ? 1 : 0])); }
  kvStrArr(k, a) { this.key(k, 9); this.u32(8); this.u64(a.length); for (const s of a) this.str(s); }
  kvI32Arr(k, a) { this.key(k, 9); this.u32(5); this.u64(a.length); for (const v of a) this.i32(v); }
  bytes() {
    const head = Buffer.alloc(24);
    head.write('GGUF', 0, 'latin1');
    head.writeUInt32LE(3, 4);
    head.writeBigUInt64LE(0n, 8);
    head.writeBigUInt64LE(BigInt(this.n), 16);
    return Buffer.concat([head, ...this.chunks]);
  }
}

// ---- test vectors: varied texts, ids by js-tiktoken (specials as text: not parsed) ----
export const TEXTS = [
  '', ' ', '  ', '\t', '\n', '\n\n\n', ' \n', 'Hello world', ' Hello world', 'Hello World', 'HELLO',
  'hello  world', "It's a dog's life, isn't it? I'M SURE they'LL come.", 'CamelCaseIdentifier and snake_case_name',
  '1', '12', '123', '1234', '12345678901234567890', '3.14159 -42 +7 1e-9 0x1F', '2024-07-26 12:00:00',
  'def f(x):\n    return x ** 2  # square\n', 'for (int i = 0; i < n; i++) { a[i] = b[i] * 2; }\n',
  '{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}',
  '<|start|>assistant<|channel|>final<|message|>Hi<|end|>', 'Ça va? déjà vu, naïve façade',
  '日本語のテキストです。', '中文测试：你好，世界！', '한국어 문장입니다', 'Привет, мир! Как дела?',
  'مرحبا بالعالم', 'שלום עולם', 'नमस्ते दुनिया', 'ภาษาไทย', 'Emoji 🎉🚀👍🏽 and 👨‍👩‍👧‍👦 family',
  'e\u0301 vs \u00e9 (combining)', 'tabs\tand\r\nCRLF\r\n', '   leading and trailing   ', 'a\u00a0b\u2003c',
  '/usr/local/bin/hearth --help', 'https://example.com/path?q=1&r=two#frag', 'x/y//z\n/\n',
  '    indented\n        more\n', "''''", '!!!???...', '$$$ 100% ~~~ ^^^', 'ÅÄÖ åäö ẞß',
  'αβγ ΑΒΓ', 'mixedCASEWordsHERE', "don't DON'T Don'T", '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math', 'ZWJ\u200dtest\u200b',
];

function main() {
  const { ranks, byRank } = loadRanks();
  if (byRank.length !== 199998) throw new Error(`o200k_base: ${byRank.length} ranks, expected 199998`);
  const b2u = byteToUnicode();
  const spell = (s) => Array.from(s, (ch) => b2u[ch.charCodeAt(0)]).join('');
  const tokens = [], types = [], merges = [];
  for (let r = 0; r < byRank.length; r++) {
    const t = byRank[r];
    tokens.push(spell(t));
    types.push(1);
    if (t.length < 2) continue;
    const parts = recoverMerge(ranks, t, r);
    if (parts.length !== 2) throw new Error(`rank ${r}: ${parts.length} parts`);
    merges.push(`${spell(parts[0])} ${spell(parts[1])}`);
  }
  for (let id = 199998; id < 201088; id++) {
    const t = id === 199998 ? '<|startoftext|>' : id === 199999 ? '<|endoftext|>' : HARMONY_SPECIALS.get(id);
    tokens.push(t);
    types.push(3);
  }
  const template = readFileSync(join(ROOT, 'tests', 'data', 'chat-templates', 'openai-gpt-oss-20b.jinja'), 'utf8');
  const g = new Gguf();
  g.kvStr('general.architecture', 'gpt-oss');
  g.kvStr('general.name', 'vocab-o200k-harmony');
  g.kvStr('tokenizer.ggml.model', 'gpt2');
  g.kvStr('tokenizer.ggml.pre', 'gpt-4o');
  g.kvStrArr('tokenizer.ggml.tokens', tokens);
  g.kvI32Arr('tokenizer.ggml.token_type', types);
  g.kvStrArr('tokenizer.ggml.merges', merges);
  g.kvU32('tokenizer.ggml.bos_token_id', 199998);
  g.kvU32('tokenizer.ggml.eos_token_id', 200002);
  g.kvU32('tokenizer.ggml.padding_token_id', 199999);
  g.kvBool('tokenizer.ggml.add_bos_token', false);
  g.kvStr('tokenizer.chat_template', template);
  const out = join(ROOT, 'tests', 'data', 'vocab', 'ggml-vocab-o200k-harmony.gguf');
  writeFileSync(out, g.bytes());

  const enc = new Tiktoken(o200k, {});
  writeFileSync(`${out}.inp`, TEXTS.map((t) => `${t}\n__ggml_vocab_test__\n`).join(''));
  writeFileSync(`${out}.out`, TEXTS.map((t) => enc.encode(t, [], []).join(' ') + '\n').join(''));
  console.log(`wrote ${out}: ${tokens.length} tokens, ${merges.length} merges; ${TEXTS.length} vectors`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
