// Embeddings and reranking over HTTP: /v1/embeddings, /api/embed, /api/embeddings, /v1/rerank
// (and aliases) on tiny-bert, tiny-nomic-bert and tiny-bert-reranker generated with a fixed seed,
// checked against llama.cpp's llama-server outputs for the same files
// (tests/data/embed/llama_server_reference.json, written by tools/embed_reference.py), and
// through the clients people use: openai, ollama, LangChain JS, the AI SDK.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { OpenAIEmbeddings } from '@langchain/openai';
import { OllamaEmbeddings } from '@langchain/ollama';
import { embedMany } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';

import { BIN, startServer, vocab, fixture } from './server_helpers.mjs';

const REF = JSON.parse(readFileSync(fixture('embed/llama_server_reference.json'), 'utf8'));
// the PyTorch reference for the decoder embedding / reranking models (tools/qwen3_embed_reference.py;
// made on F32 files: the Q8_0 files served here agree less closely)
const QREF = JSON.parse(readFileSync(fixture('embed/qwen3.reference.json'), 'utf8')).models;
const H = { 'Content-Type': 'application/json' };
let dir, srv;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-embed-'));
  for (const s of ['tiny-bert', 'tiny-nomic-bert', 'tiny-bert-reranker'])
    execFileSync(BIN, ['make-model', '--shape', s, '--type', 'f32', '--vocab', vocab('bert-bge'), '--seed', '1',
                       join(dir, `${s}.gguf`)], { stdio: 'ignore' });
  for (const s of ['tiny-qwen2-embed', 'tiny-qwen3-embed', 'tiny-qwen3-reranker'])
    execFileSync(BIN, ['make-model', '--shape', s, '--type', 'q8_0', '--vocab', vocab('qwen2'), '--seed', '1',
                       join(dir, `${s}.gguf`)], { stdio: 'ignore' });
  execFileSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', join(dir, 'gen.gguf')], { stdio: 'ignore' });
  const conf = join(dir, 'hearth.conf');
  const names = { bge: 'tiny-bert', nomic: 'tiny-nomic-bert', rr: 'tiny-bert-reranker', gen: 'gen',
                  q2e: 'tiny-qwen2-embed', q3e: 'tiny-qwen3-embed', q3r: 'tiny-qwen3-reranker' };
  writeFileSync(conf, Object.entries(names).map(([n, f]) =>
    `[${n}]\nmodel = ${join(dir, f + '.gguf')}\nthreads = 1\n`).join('\n'));
  srv = await startServer(['--config', conf]);
});

after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = async (path, body) => {
  const r = await fetch(srv.url + path, { method: 'POST', headers: H, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};
const cos = (a, b) => {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
};
const norm = (a) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

for (const [name, shape] of [['bge', 'tiny-bert'], ['nomic', 'tiny-nomic-bert'], ['q2e', 'tiny-qwen2-embed']]) {
  test(`${shape}: /v1/embeddings agrees with llama-server (cosine >= 0.9999 on every text)`, async () => {
    const ref = REF.models[shape];
    const r = await post('/v1/embeddings', { model: name, input: ref.texts });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.object, 'list');
    assert.equal(r.body.data.length, ref.texts.length);
    assert.equal(r.body.usage.prompt_tokens, ref.prompt_tokens);
    r.body.data.forEach((d, i) => {
      assert.equal(d.index, i);
      assert.equal(d.object, 'embedding');
      assert.equal(d.embedding.length, ref.embeddings[i].length);
      const c = cos(d.embedding, ref.embeddings[i]);
      assert.ok(c >= 0.9999, `${shape} text ${i}: cosine ${c}`);
      assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-5);
    });
    // the texts really differ: an implementation that ignored its input would fail above
    assert.ok(cos(ref.embeddings[0], ref.embeddings[2]) < 0.99);
  });

  test(`${shape}: /api/embed returns the same vectors; one text alone = inside a batch`, async () => {
    const ref = REF.models[shape];
    const a = await post('/api/embed', { model: name, input: ref.texts });
    const o = await post('/v1/embeddings', { model: name, input: ref.texts });
    assert.equal(a.status, 200);
    assert.equal(a.body.model, name);
    assert.equal(a.body.prompt_eval_count, ref.prompt_tokens);
    assert.deepEqual(a.body.embeddings, o.body.data.map((d) => d.embedding));
    const one = await post('/api/embed', { model: name, input: ref.texts[3] });
    assert.equal(one.body.embeddings.length, 1);
    assert.ok(cos(one.body.embeddings[0], a.body.embeddings[3]) > 0.999999);
  });
}

test('tiny-qwen3-embed: a decoder embedding model (last-token pooling) serves embeddings, not chat', async () => {
  const r = await post('/v1/embeddings', { model: 'q3e', input: ['hello world', 'the giant panda', 'hello world'] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [a, b, c] = r.body.data.map((d) => d.embedding);
  assert.equal(a.length, 256);
  assert.deepEqual(a, c); // no state carried from one input to the next
  assert.ok(cos(a, b) < 0.99);
  const chat = await post('/v1/chat/completions', { model: 'q3e', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chat.status, 400);
});

test('tiny-qwen3-embed: /v1/embeddings appends <|endoftext|> and agrees with the PyTorch reference', async () => {
  const cases = QREF['tiny-qwen3-embed'].cases;
  const r = await post('/v1/embeddings', { model: 'q3e', input: cases.map((c) => c.text) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  // the reference's ids end with <|endoftext|>: the same count means the server appended it
  assert.equal(r.body.usage.prompt_tokens, cases.reduce((n, c) => n + c.ids.length, 0));
  r.body.data.forEach((d, i) => {
    const c = cos(d.embedding, cases[i].embedding);
    assert.ok(c >= 0.999, `text ${i}: cosine ${c} (Q8_0 file vs the F32 reference)`);
  });
  const ids = await post('/v1/embeddings', { model: 'q3e', input: [cases[2].ids] });
  assert.ok(cos(ids.body.data[0].embedding, r.body.data[2].embedding) > 0.999999);
  const a = await post('/api/embed', { model: 'q3e', input: cases.map((c) => c.text) });
  assert.equal(a.status, 200);
  assert.equal(a.body.prompt_eval_count, r.body.usage.prompt_tokens);
  assert.deepEqual(a.body.embeddings, r.body.data.map((d) => d.embedding));
});

test('tiny-qwen3-reranker: /v1/rerank scores P(yes) of the Qwen3-Reranker prompt, as the PyTorch reference', async () => {
  const ref = QREF['tiny-qwen3-reranker'];
  const docs = ref.cases.map((c) => c.document);
  const r = await post('/v1/rerank', { model: 'q3r', query: ref.query, documents: docs });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.usage.prompt_tokens, ref.cases.reduce((n, c) => n + c.ids.length, 0));
  for (const x of r.body.results) {
    assert.ok(x.relevance_score > 0 && x.relevance_score < 1);
    assert.ok(Math.abs(x.relevance_score - ref.cases[x.index].score) < 0.01,
              `doc ${x.index}: ${x.relevance_score} vs ${ref.cases[x.index].score}`);
  }
  const order = ref.cases.map((c, i) => [c.score, i]).sort((a, b) => b[0] - a[0]).map((x) => x[1]);
  assert.deepEqual(r.body.results.map((x) => x.index), order);
  // a reranker is not an embedder, and the other way round
  assert.equal((await post('/v1/embeddings', { model: 'q3r', input: 'x' })).status, 400);
  assert.equal((await post('/v1/rerank', { model: 'q3e', query: 'q', documents: ['d'] })).status, 400);
  const chat = await post('/v1/chat/completions', { model: 'q3r', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chat.status, 400);
});

test('input forms: string, token array, array of token arrays; base64; dimensions', async () => {
  const s = await post('/v1/embeddings', { model: 'bge', input: 'hello world' });
  // bge: [CLS] hello world [SEP]
  const t = await post('/v1/embeddings', { model: 'bge', input: [101, 7592, 2088, 102] });
  const tt = await post('/v1/embeddings', { model: 'bge', input: [[101, 7592, 2088, 102], [101, 102]] });
  assert.equal(t.status, 200);
  assert.deepEqual(t.body.data[0].embedding, s.body.data[0].embedding);
  assert.deepEqual(tt.body.data[0].embedding, s.body.data[0].embedding);
  assert.equal(tt.body.data.length, 2);
  assert.equal(s.body.usage.prompt_tokens, 4);
  const b = await post('/v1/embeddings', { model: 'bge', input: 'hello world', encoding_format: 'base64' });
  const buf = Buffer.from(b.body.data[0].embedding, 'base64');
  const f = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
  assert.deepEqual(f, s.body.data[0].embedding.map(Math.fround));
  const d = await post('/v1/embeddings', { model: 'bge', input: 'hello world', dimensions: 16 });
  assert.equal(d.body.data[0].embedding.length, 16);
  assert.ok(Math.abs(norm(d.body.data[0].embedding) - 1) < 1e-5);
  assert.ok(cos(d.body.data[0].embedding, s.body.data[0].embedding.slice(0, 16)) > 0.99999);
  const legacy = await post('/api/embeddings', { model: 'bge', prompt: 'hello world' });
  assert.equal(legacy.status, 200);
  assert.ok(cos(legacy.body.embedding, s.body.data[0].embedding) > 0.99999); // same direction, not unit
  assert.deepEqual((await post('/api/embeddings', { model: 'bge', prompt: '' })).body, { embedding: [] });
});

test('too long: OpenAI refuses, Ollama truncates unless truncate=false', async () => {
  const long = 'word '.repeat(700);
  const o = await post('/v1/embeddings', { model: 'bge', input: long });
  assert.equal(o.status, 400);
  assert.equal(o.body.error.code, 'context_length_exceeded');
  const a = await post('/api/embed', { model: 'bge', input: long });
  assert.equal(a.status, 200);
  assert.equal(a.body.prompt_eval_count, 512);
  const n = await post('/api/embed', { model: 'bge', input: long, truncate: false });
  assert.equal(n.status, 400);
  assert.match(n.body.error, /more than the model's limit of 512/);
});

test('a served name refuses the other kind of request clearly', async () => {
  const c = await post('/v1/chat/completions', { model: 'bge', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(c.status, 400);
  assert.equal(c.body.error.code, 'model_kind_mismatch');
  assert.match(c.body.error.message, /for embedding, not generation; use \/v1\/embeddings/);
  const g = await post('/api/generate', { model: 'bge', prompt: 'hi' });
  assert.equal(g.status, 400);
  assert.match(g.body.error, /use \/api\/embed/);
  const e = await post('/v1/embeddings', { model: 'gen', input: 'hi' });
  assert.equal(e.status, 400);
  assert.match(e.body.error.message, /'gen' is for generation, not embedding/);
  const r = await post('/v1/rerank', { model: 'bge', query: 'q', documents: ['d'] });
  assert.equal(r.status, 400);
  const re = await post('/v1/embeddings', { model: 'rr', input: 'hi' });
  assert.match(re.body.error.message, /use \/v1\/rerank/);
  // the generator still generates
  const ok = await post('/v1/chat/completions', { model: 'gen', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  assert.equal(ok.status, 200);
});

test('concurrent requests on one embedder take turns and get their own vectors', async () => {
  const ref = REF.models['tiny-bert'];
  const rs = await Promise.all(ref.texts.map((t) => post('/v1/embeddings', { model: 'bge', input: t })));
  rs.forEach((r, i) => {
    assert.equal(r.status, 200);
    assert.ok(cos(r.body.data[0].embedding, ref.embeddings[i]) >= 0.9999, `text ${i}`);
  });
});

test('Ollama /api/show says which capability a name has', async () => {
  assert.deepEqual((await post('/api/show', { model: 'bge' })).body.capabilities, ['embedding']);
  assert.deepEqual((await post('/api/show', { model: 'gen' })).body.capabilities, ['completion']);
});

test('bad requests are 4xx with an OpenAI-style body', async () => {
  const cases = [
    [{ model: 'bge' }, 'input'],
    [{ model: 'bge', input: '' }, 'input'],
    [{ model: 'bge', input: [] }, 'input'],
    [{ model: 'bge', input: [1.5] }, 'input'],
    [{ model: 'bge', input: [-1] }, 'input'],
    [{ model: 'bge', input: [99999999] }, 'input'],
    [{ model: 'bge', input: [{}] }, 'input'],
    [{ model: 'bge', input: 'x', encoding_format: 'hex' }, 'encoding_format'],
    [{ model: 'bge', input: 'x', dimensions: 0 }, 'dimensions'],
    [{ model: 'bge', input: 'x', dimensions: 129 }, 'dimensions'],
    [{ input: 'x' }, 'model'],
  ];
  for (const [body, param] of cases) {
    const r = await post('/v1/embeddings', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.param, param, JSON.stringify(body));
    assert.equal(r.body.error.type, 'invalid_request_error');
  }
  assert.equal((await post('/v1/embeddings', { model: 'nope', input: 'x' })).status, 404);
});

test('rerank agrees with llama-server; sorted, top_n, documents, aliases', async () => {
  const ref = REF.models['tiny-bert-reranker'];
  const r = await post('/v1/rerank', { model: 'rr', query: ref.query, documents: ref.documents });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.results.length, ref.documents.length);
  for (const x of r.body.results)
    assert.ok(Math.abs(x.relevance_score - ref.scores[x.index]) < 1e-3 * Math.max(1, Math.abs(ref.scores[x.index])),
              `doc ${x.index}: ${x.relevance_score} vs ${ref.scores[x.index]}`);
  const sorted = [...r.body.results].sort((a, b) => b.relevance_score - a.relevance_score);
  assert.deepEqual(r.body.results, sorted);
  assert.ok(r.body.usage.prompt_tokens > 0);
  const top = await post('/rerank', { model: 'rr', query: ref.query, documents: ref.documents.map((text) => ({ text })),
                                      top_n: 2, return_documents: true });
  assert.equal(top.body.results.length, 2);
  assert.deepEqual(top.body.results.map((x) => x.index), r.body.results.slice(0, 2).map((x) => x.index));
  assert.equal(top.body.results[0].document.text, ref.documents[top.body.results[0].index]);
  for (const alias of ['/v1/reranking', '/reranking'])
    assert.equal((await post(alias, { model: 'rr', query: 'q', documents: ['d'] })).status, 200);
  assert.equal((await post('/v1/rerank', { model: 'rr', query: 'q', documents: [] })).status, 400);
  assert.equal((await post('/v1/rerank', { model: 'rr', documents: ['d'] })).status, 400);
});

test('clients: openai and ollama npm, LangChain OpenAIEmbeddings / OllamaEmbeddings, AI SDK embedMany', async () => {
  const ref = REF.models['tiny-bert'];
  const texts = ref.texts.slice(0, 4);
  const check = (vecs, who) => {
    assert.equal(vecs.length, texts.length, who);
    vecs.forEach((v, i) => assert.ok(cos(v, ref.embeddings[i]) >= 0.9999, `${who} text ${i}`));
  };
  const openai = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none' });
  const o = await openai.embeddings.create({ model: 'bge', input: texts }); // base64 on the wire
  check(o.data.map((d) => d.embedding), 'openai');
  const of = await openai.embeddings.create({ model: 'bge', input: texts[0], encoding_format: 'float' });
  check([of.data[0].embedding, ...o.data.slice(1).map((d) => d.embedding)], 'openai float');

  const ollama = new Ollama({ host: srv.url });
  const e = await ollama.embed({ model: 'bge', input: texts });
  check(e.embeddings, 'ollama embed');
  const legacy = await ollama.embeddings({ model: 'bge', prompt: texts[0] });
  assert.ok(cos(legacy.embedding, ref.embeddings[0]) >= 0.9999);

  const lo = new OpenAIEmbeddings({ model: 'bge', apiKey: 'none', configuration: { baseURL: `${srv.url}/v1` } });
  check(await lo.embedDocuments(texts), 'langchain openai');
  assert.ok(cos(await lo.embedQuery(texts[1]), ref.embeddings[1]) >= 0.9999);
  const ll = new OllamaEmbeddings({ model: 'bge', baseUrl: srv.url });
  check(await ll.embedDocuments(texts), 'langchain ollama');

  const provider = createOpenAICompatible({ name: 'hearth', baseURL: `${srv.url}/v1` });
  const { embeddings } = await embedMany({ model: provider.embeddingModel('bge'), values: texts });
  check(embeddings, 'ai sdk');
});
