// `hearth serve` driven by the official ollama npm client: chat and generate (streaming and
// not), options, timing fields, tags, show, ps, version and errors, on stories260K.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startServer, MODEL } from './server_helpers.mjs';

let srv, ollama;
const NAME = 'stories:260k';

before(async () => {
  srv = await startServer([MODEL, '--name', NAME]);
  ollama = new Ollama({ host: srv.url });
});
after(async () => {
  await srv?.stop();
});

function checkTimings(r) {
  assert.equal(r.done, true);
  assert.ok(r.eval_count > 0);
  assert.ok(r.eval_duration > 0, 'eval_duration in ns');
  assert.ok(r.total_duration >= r.eval_duration);
  assert.ok(r.prompt_eval_count >= 0);
  assert.ok(r.prompt_eval_duration >= 0);
  assert.equal(typeof r.load_duration, 'number');
}

test('chat: non-streaming with options; num_predict bounds eval_count', async () => {
  const r = await ollama.chat({
    model: NAME, messages: [{ role: 'user', content: 'Once upon a time' }], stream: false,
    options: { temperature: 0, num_predict: 10, top_k: 40, seed: 1, num_ctx: 512, repeat_penalty: 1.0 }, keep_alive: '5m',
  });
  assert.equal(r.model, NAME);
  assert.equal(r.message.role, 'assistant');
  assert.ok(r.message.content.length > 0);
  assert.equal(r.eval_count, 10);
  assert.equal(r.done_reason, 'length');
  checkTimings(r);
});

test('chat: streaming parts join to the non-streamed answer at temperature 0', async () => {
  const req = { model: NAME, messages: [{ role: 'user', content: 'Tell me a story' }], options: { temperature: 0, num_predict: 30 } };
  const full = await ollama.chat({ ...req, stream: false });
  const parts = await ollama.chat({ ...req, stream: true });
  let text = '', last = null, n = 0;
  for await (const p of parts) {
    n++;
    text += p.message.content;
    last = p;
  }
  assert.ok(n > 2);
  assert.equal(text, full.message.content);
  checkTimings(last);
});

test('generate: streaming and not, system prompt, raw, stop', async () => {
  const full = await ollama.generate({ model: NAME, prompt: 'Once upon a time', raw: true, stream: false, options: { temperature: 0, num_predict: 25 } });
  assert.ok(full.response.length > 0);
  checkTimings(full);
  const parts = await ollama.generate({ model: NAME, prompt: 'Once upon a time', raw: true, stream: true, options: { temperature: 0, num_predict: 25 } });
  let text = '';
  for await (const p of parts) text += p.response;
  assert.equal(text, full.response);
  const cut = full.response.indexOf(' ', 3);
  const stop = full.response.slice(cut, cut + 3);
  const stopped = await ollama.generate({ model: NAME, prompt: 'Once upon a time', raw: true, stream: false, options: { temperature: 0, num_predict: 25, stop: [stop] } });
  assert.equal(stopped.response, full.response.slice(0, full.response.indexOf(stop)));
  assert.equal(stopped.done_reason, 'stop');
  const sys = await ollama.generate({ model: NAME, prompt: 'hello', system: 'You are a storyteller.', stream: false, options: { num_predict: 5 } });
  assert.equal(sys.eval_count, 5);
});

test('tags, show, ps, version', async () => {
  const tags = await ollama.list();
  assert.equal(tags.models.length, 1);
  assert.equal(tags.models[0].name, NAME);
  assert.ok(tags.models[0].size > 0);
  assert.equal(tags.models[0].details.format, 'gguf');
  assert.equal(tags.models[0].details.family, 'llama');
  const show = await ollama.show({ model: NAME });
  assert.equal(show.details.family, 'llama');
  assert.equal(show.model_info['general.architecture'], 'llama');
  assert.equal(typeof show.template, 'string');
  const ps = await ollama.ps();
  assert.equal(ps.models[0].name, NAME);
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+$/);
});

test('errors: unknown model is 404 with an Ollama error string; bad options are 400', async () => {
  await assert.rejects(
    ollama.chat({ model: 'nope', messages: [{ role: 'user', content: 'x' }], stream: false }),
    (e) => e.status_code === 404 && /not found/.test(e.error),
  );
  await assert.rejects(ollama.show({ model: 'nope' }), (e) => e.status_code === 404);
  await assert.rejects(
    ollama.generate({ model: NAME, prompt: 'x', stream: false, options: { temperature: 'hot' } }),
    (e) => e.status_code === 400 && /temperature/.test(e.error),
  );
  await assert.rejects(
    ollama.generate({ model: NAME, prompt: 'x', stream: false, format: 'yaml' }),
    (e) => e.status_code === 400 && /format/.test(e.error),
  );
  const r = await fetch(`${srv.url}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
  assert.equal(r.status, 400);
  assert.equal(typeof (await r.json()).error, 'string');
});

test('empty prompt / no messages is a load request (done_reason load)', async () => {
  const g = await ollama.generate({ model: NAME, prompt: '', stream: false });
  assert.equal(g.done, true);
  assert.equal(g.done_reason, 'load');
  const c = await ollama.chat({ model: NAME, messages: [], stream: false });
  assert.equal(c.done_reason, 'load');
});

test('generate returns `context`; a request sending it back continues the conversation (and reuses the cache)', async () => {
  const opts = { temperature: 0, num_predict: 10 };
  const r1 = await ollama.generate({ model: NAME, prompt: 'Once upon a time', stream: false, options: opts });
  assert.ok(Array.isArray(r1.context) && r1.context.every(Number.isInteger));
  assert.ok(r1.context.length > r1.eval_count);
  // the context is the prompt then the answer: the prompt part as token ids gives the same answer
  const openai = `${srv.url}/v1/completions`;
  const again = async (ids) => (await (await fetch(openai, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: NAME, prompt: ids, max_tokens: 10, temperature: 0 }) })).json()).choices[0].text;
  assert.equal(await again(r1.context.slice(0, r1.context.length - r1.eval_count)), r1.response);

  const r2 = await ollama.generate({ model: NAME, prompt: 'And then?', context: r1.context, stream: false, options: opts });
  assert.deepEqual(r2.context.slice(0, r1.context.length), r1.context, 'the new context continues the old one');
  const n2 = r2.context.length - r2.eval_count; // prompt tokens of the second turn
  assert.ok(n2 > r1.context.length);
  assert.ok(r2.prompt_eval_count < n2 - r1.context.length / 2, `only the new turn is evaluated (${r2.prompt_eval_count} of ${n2})`);
  assert.equal(await again(r2.context.slice(0, n2)), r2.response);

  // streaming: the final line carries the same context
  let last;
  for await (const p of await ollama.generate({ model: NAME, prompt: 'And then?', context: r1.context, stream: true, options: opts })) last = p;
  assert.deepEqual(last.context, r2.context);
  // raw prompts return no context (as Ollama)
  const raw = await ollama.generate({ model: NAME, prompt: 'Once', raw: true, stream: false, options: opts });
  assert.equal(raw.context, undefined);
  // bad contexts are 400s naming the field
  await assert.rejects(ollama.generate({ model: NAME, prompt: 'x', context: [1, 'a'], stream: false }),
    (e) => e.status_code === 400 && /context\[1\]/.test(e.error));
  await assert.rejects(ollama.generate({ model: NAME, prompt: 'x', context: [99999999], stream: false }),
    (e) => e.status_code === 400 && /out of range/.test(e.error));
});

test('logprobs and top_logprobs on generate and chat, streaming and not', async () => {
  const opts = { temperature: 0, num_predict: 12 };
  const g = await ollama.generate({ model: NAME, prompt: 'Once upon a time', stream: false, logprobs: true, top_logprobs: 3, options: opts });
  assert.equal(g.logprobs.length, g.eval_count);
  for (const lp of g.logprobs) {
    assert.equal(typeof lp.token, 'string');
    assert.ok(lp.logprob <= 0);
    assert.equal(lp.top_logprobs.length, 3);
    assert.ok(lp.top_logprobs[0].logprob >= lp.top_logprobs[1].logprob && lp.top_logprobs[1].logprob >= lp.top_logprobs[2].logprob);
    assert.ok(Math.abs(lp.top_logprobs[0].logprob - lp.logprob) < 1e-4, 'greedy: the chosen token is the most likely');
  }
  // streaming: every token's logprob arrives exactly once, on the line that releases its text
  let n = 0, text = '';
  for await (const p of await ollama.chat({ model: NAME, messages: [{ role: 'user', content: 'Once upon a time' }], stream: true, logprobs: true, options: opts })) {
    n += p.logprobs?.length ?? 0;
    text += p.message.content;
    if (p.done) assert.equal(n, p.eval_count);
  }
  const c = await ollama.chat({ model: NAME, messages: [{ role: 'user', content: 'Once upon a time' }], stream: false, logprobs: true, options: opts });
  assert.equal(c.message.content, text);
  assert.equal(c.logprobs.length, c.eval_count);
  assert.deepEqual(c.logprobs[0].top_logprobs, []);
  // without logprobs: none
  const plain = await ollama.generate({ model: NAME, prompt: 'Once', stream: false, options: opts });
  assert.equal(plain.logprobs, undefined);
});
