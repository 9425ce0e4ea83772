// `hearth card` (issue 15): the report card of speed and tool calls landed, for any
// OpenAI-compatible endpoint.
//   - `hearth card MODEL.gguf` serving the file itself;
//   - two served names on one `hearth serve` (a generated tiny model; nothing from ../shared),
//     graded with --quick: card.json has the documented shape, card.md a row per model, and
//     card.svg parses as XML and renders in headless Chromium;
//   - a scripted endpoint (a node http server answering each case of a test suite with a known
//     answer: the right call, a wrong tool, bad arguments, malformed JSON, no call when none fits,
//     a call when none fits ...) proves each category's arithmetic exact;
//   - an oracle endpoint that answers every built-in case with its own expected answer proves the
//     built-in suite lands 100% when the answers are right (the suite is self-consistent).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, mkdirSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { startServer, BIN } from './server_helpers.mjs';

const CASES_DIR = new URL('../../data/card/cases/', import.meta.url).pathname;
let dir;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-card-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runCard(args, { timeout = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(BIN, ['card', ...args], { timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && err.code === undefined) return reject(err);
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

function checkCardShape(card, names) {
  assert.deepEqual(card.models.map((m) => m.name), names);
  assert.equal(typeof card.date, 'string');
  assert.equal(typeof card.machine.cpu, 'string');
  assert.ok(card.machine.cores >= 1);
  assert.ok(card.machine.memory_gib > 0);
  for (const m of card.models) {
    for (const k of ['name', 'endpoint', 'pp_tokens_per_s', 'tg_tokens_per_s', 'ttft_ms', 'ttft_turn5_ms', 'concurrency', 'tool_calls', 'json_valid', 'length_stops'])
      assert.ok(k in m, `card.json model lacks ${k}`);
    assert.deepEqual(Object.keys(m.concurrency), ['1', '4']);
    const tc = m.tool_calls;
    assert.deepEqual(Object.keys(tc.by_category), ['simple', 'multiple', 'parallel', 'irrelevance', 'multi_turn', 'forced', 'structured']);
    let l = 0, w = 0, t = 0;
    for (const c of Object.values(tc.by_category)) {
      assert.ok(c.landed <= c.well_formed && c.well_formed <= c.total, JSON.stringify(c));
      l += c.landed; w += c.well_formed; t += c.total;
    }
    assert.deepEqual([tc.landed, tc.well_formed, tc.total], [l, w, t]);
    assert.ok(m.json_valid.json_object && m.json_valid.json_schema);
    assert.equal(typeof m.length_stops.count, 'number');
  }
}

function checkSvgXml(svg, names) {
  assert.equal(XMLValidator.validate(svg), true, 'card.svg is well-formed XML');
  const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
  assert.ok(doc.svg, 'the root element is <svg>');
  const texts = JSON.stringify(doc);
  for (const n of names) assert.ok(svg.includes(escapeXml(n)), `card.svg names ${n}`);
  return texts;
}

const escapeXml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

// ---- two names on one hearth serve ----

test('grades two served names of one hearth serve (--quick) and writes card.json, card.md, card.svg', async () => {
  const model = join(dir, 'tiny.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', model], { stdio: 'ignore' });
  const conf = join(dir, 'two.conf');
  writeFileSync(conf, `[alpha]\nmodel = ${model}\nctx = 2048\nslots = 4\n\n[beta]\nmodel = ${model}\nctx = 2048\nslots = 4\n`);
  const srv = await startServer(['--config', conf]);
  const out = join(dir, 'served');
  let r;
  try {
    r = await runCard(['--url', srv.url, '--model', 'alpha', '--model', 'beta', '--quick', '--max-tokens', '48', '--out', out]);
  } finally {
    await srv.stop();
  }
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /card: \[\d+\/\d+\] alpha: /, 'plain progress lines when stderr is not a tty');
  const card = JSON.parse(readFileSync(join(out, 'card.json'), 'utf8'));
  checkCardShape(card, ['alpha', 'beta']);
  for (const m of card.models) {
    assert.equal(m.endpoint, srv.url);
    assert.equal(m.tool_calls.total, 7, 'one case per tool category under --quick');
    assert.ok(m.pp_tokens_per_s > 0 && m.tg_tokens_per_s > 0, JSON.stringify(m));
    assert.ok(m.ttft_ms > 0 && m.ttft_turn5_ms > 0);
    assert.ok(m.concurrency['1'] > 0 && m.concurrency['4'] > 0);
    assert.equal(m.token_counts, 'usage');
    assert.equal(m.errors, 0, m.first_error);
  }
  const md = readFileSync(join(out, 'card.md'), 'utf8');
  assert.match(md, /^\| alpha \|/m);
  assert.match(md, /^\| beta \|/m);
  assert.ok(r.stdout.includes('| alpha |'), 'the markdown table is printed');
  const svg = readFileSync(join(out, 'card.svg'), 'utf8');
  checkSvgXml(svg, ['alpha', 'beta']);
  await renderSvg(svg);
});

test('hearth card MODEL.gguf serves the file itself on loopback, then stops it', async () => {
  const model = join(dir, 'self.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', model], { stdio: 'ignore' });
  const out = join(dir, 'self');
  const r = await runCard([model, '--quick', '--max-tokens', '16', '--serve-arg', '--ctx', '--serve-arg', '2048', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const card = JSON.parse(readFileSync(join(out, 'card.json'), 'utf8'));
  checkCardShape(card, ['self']);
  assert.equal(card.models[0].endpoint, model, 'the card names the file');
  assert.equal(card.models[0].errors, 0, card.models[0].first_error);
  assert.match(readFileSync(join(out, 'serve-self.log'), 'utf8'), /listening on http:\/\/127\.0\.0\.1:\d+/);
});

// ---- headless Chromium renders the SVG ----

async function renderSvg(svg) {
  const CHROMIUM = '/usr/bin/chromium';
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh installs it`);
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'hearth-card-chromium-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await ctx.newPage();
    await page.setContent(`<!doctype html><body style="margin:0;background:#fff">${svg}</body>`);
    const box = await page.locator('svg').boundingBox();
    assert.ok(box && box.width >= 900 && box.height > 300, `the SVG has a size: ${JSON.stringify(box)}`);
    // the bars: coloured pixels, not a blank page
    const stats = await page.evaluate(async () => {
      const svgEl = document.querySelector('svg');
      const xml = new XMLSerializer().serializeToString(svgEl);
      const img = new Image();
      img.src = 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(xml)));
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width; c.height = img.height;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let coloured = 0, dark = 0;
      for (let i = 0; i < d.length; i += 4) {
        const [r, gg, b] = [d[i], d[i + 1], d[i + 2]];
        if (Math.max(r, gg, b) - Math.min(r, gg, b) > 60) coloured++;
        if (r + gg + b < 200) dark++;
      }
      return { coloured, dark, w: c.width, h: c.height };
    });
    assert.ok(stats.coloured > 500, `coloured bar pixels: ${JSON.stringify(stats)}`);
    assert.ok(stats.dark > 500, `text pixels: ${JSON.stringify(stats)}`);
    const png = await page.locator('svg').screenshot();
    assert.ok(png.length > 5000, `screenshot of ${png.length} bytes`);
  } finally {
    await ctx?.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// ---- a scripted endpoint ----

// Answers chat completions: streamed requests (the speed part) get CHUNKS tokens TICK ms apart
// after FIRST ms, with usage; a non-streamed request whose last user message holds a marker
// "[key]" gets answers[key]: {calls}, {content}, {raw} (a body as is), {status}, {finish}.
const CHUNKS = 12, TICK = 10, FIRST = 50, PROMPT_TOKENS = 500;
function scriptedServer(answers, models = ['scripted']) {
  const seen = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ object: 'list', data: models.map((id) => ({ id, object: 'model' })) }));
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404);
      return res.end();
    }
    const q = JSON.parse(body);
    seen.push(q);
    if (q.stream) {
      assert.equal(q.stream_options?.include_usage, true);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`);
      send({ choices: [{ index: 0, delta: { role: 'assistant' } }] });
      const n = Math.min(CHUNKS, q.max_tokens);
      await new Promise((r) => setTimeout(r, FIRST));
      for (let i = 0; i < n; i++) {
        if (i) await new Promise((r) => setTimeout(r, TICK));
        send({ choices: [{ index: 0, delta: { content: ` w${i}` } }] });
      }
      send({ choices: [{ index: 0, delta: {}, finish_reason: n < q.max_tokens ? 'stop' : 'length' }] });
      send({ choices: [], usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: n, total_tokens: PROMPT_TOKENS + n } });
      res.write('data: [DONE]\n\n');
      return res.end();
    }
    const user = [...q.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const key = /\[([\w-]+)\]/.exec(user)?.[1];
    const a = (typeof answers === 'function' ? answers(q) : answers[key]) ?? { content: 'no script for this case' };
    if (a.status) {
      res.writeHead(a.status, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { message: 'scripted failure', type: 'server_error' } }));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (a.raw !== undefined) return res.end(a.raw);
    const message = { role: 'assistant', content: a.content ?? null };
    if (a.calls)
      message.tool_calls = a.calls.map((c, i) => ({
        id: `call_${i}`,
        type: 'function',
        function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) },
      }));
    res.end(JSON.stringify({
      id: 'x', object: 'chat.completion', model: q.model,
      choices: [{ index: 0, message, finish_reason: a.finish ?? (a.calls ? 'tool_calls' : 'stop') }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, url: `http://127.0.0.1:${server.address().port}` })));
}

// A suite of cases with one scripted answer each; expected tallies below.
const WEATHER = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city'], additionalProperties: false } } };
const TIMER = { type: 'function', function: { name: 'set_timer', parameters: { type: 'object', properties: { minutes: { type: 'integer', minimum: 1, maximum: 1440 } }, required: ['minutes'], additionalProperties: false } } };
const PERSON = { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', properties: { name: { type: 'string' }, year: { type: 'integer' } }, required: ['name', 'year'], additionalProperties: false } } };
const user = (key) => [{ role: 'user', content: `case [${key}]` }];
const toolResult = (key) => [
  { role: 'user', content: `case [${key}]: temperature in Berlin?` },
  { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Berlin"}' } }] },
  { role: 'tool', tool_call_id: 'c1', content: '{"temperature": 21}' },
];
const paris = { calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] };
const SCRIPT = [
  // simple: landed 1, well-formed 2, total 6
  ['s-right', 'simple', { tools: ['get_weather'], expect: paris }, { calls: [{ name: 'get_weather', arguments: { city: ' paris ' } }] }],
  ['s-unoffered', 'simple', { tools: ['get_weather'], expect: paris }, { calls: [{ name: 'get_time', arguments: { city: 'Paris' } }] }],
  ['s-badargs', 'simple', { tools: ['get_weather'], expect: paris }, { calls: [{ name: 'get_weather', arguments: { city: 42 } }] }],
  ['s-wrongvalue', 'simple', { tools: ['get_weather'], expect: paris }, { calls: [{ name: 'get_weather', arguments: { city: 'Lyon' } }] }],
  ['s-malformed', 'simple', { tools: ['get_weather'], expect: paris }, { calls: [{ name: 'get_weather', arguments: '{"city": "Par' }] }],
  ['s-nocall', 'simple', { tools: ['get_weather'], expect: paris }, { content: 'I cannot', finish: 'length' }],
  // multiple: landed 1, well-formed 3 (an extra valid call is well-formed), total 3
  ['m-right', 'multiple', { tools: ['get_weather', 'set_timer'], expect: { calls: [{ name: 'set_timer', arguments: { minutes: 5 } }] } }, { calls: [{ name: 'set_timer', arguments: { minutes: 5 } }] }],
  ['m-wrongtool', 'multiple', { tools: ['get_weather', 'set_timer'], expect: { calls: [{ name: 'set_timer', arguments: { minutes: 5 } }] } }, { calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] }],
  ['m-extra', 'multiple', { tools: ['get_weather', 'set_timer'], expect: { calls: [{ name: 'set_timer', arguments: { minutes: 5 } }] } }, { calls: [{ name: 'set_timer', arguments: { minutes: 5 } }, { name: 'get_weather', arguments: { city: 'Paris' } }] }],
  // parallel: landed 1, well-formed 2, total 3
  ['p-right', 'parallel', { tools: ['get_weather'], expect: { calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }, { name: 'get_weather', arguments: { city: 'Lima' } }] } },
    { calls: [{ name: 'get_weather', arguments: { city: 'LIMA' } }, { name: 'get_weather', arguments: { city: 'Oslo' } }] }],
  ['p-one', 'parallel', { tools: ['get_weather'], expect: { calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }, { name: 'get_weather', arguments: { city: 'Lima' } }] } },
    { calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] }],
  ['p-badenum', 'parallel', { tools: ['get_weather'], expect: { calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }, { name: 'get_weather', arguments: { city: 'Lima' } }] } },
    { calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }, { name: 'get_weather', arguments: { city: 'Lima', unit: 'kelvin' } }] }],
  // irrelevance: landed 1, well-formed 2, total 4
  ['i-text', 'irrelevance', { tools: ['set_timer'], expect: { no_call: true } }, { content: 'A haiku.' }],
  ['i-call', 'irrelevance', { tools: ['set_timer'], expect: { no_call: true } }, { calls: [{ name: 'set_timer', arguments: { minutes: 3 } }] }],
  ['i-malformed', 'irrelevance', { tools: ['set_timer'], expect: { no_call: true } }, { calls: [{ name: 'set_timer', arguments: 'not json' }] }],
  ['i-notjson', 'irrelevance', { tools: ['set_timer'], expect: { no_call: true } }, { raw: '{"choices": [' }],
  // multi_turn: landed 1, well-formed 3, total 3
  ['t-uses', 'multi_turn', { tools: ['get_weather'], messages: toolResult('t-uses'), expect: { content: ['21'] } }, { content: 'It is 21 °C in Berlin.' }],
  ['t-ignores', 'multi_turn', { tools: ['get_weather'], messages: toolResult('t-ignores'), expect: { content: ['21'] } }, { content: 'It is warm.' }],
  ['t-calls', 'multi_turn', { tools: ['get_weather'], messages: toolResult('t-calls'), expect: { content: ['21'] } }, { calls: [{ name: 'get_weather', arguments: { city: 'Berlin' } }] }],
  // forced: landed 2, well-formed 2, total 3 (1.0 for an integer is an integer, 5.0 equals 5)
  ['f-right', 'forced', { tools: ['set_timer'], tool_choice: 'required', expect: { calls: [{ name: 'set_timer', arguments: { minutes: 5 } }] } }, { calls: [{ name: 'set_timer', arguments: '{"minutes": 5.0}' }] }],
  ['f-right2', 'forced', { tools: ['set_timer'], tool_choice: 'required', expect: { calls: [{ name: 'set_timer', arguments: { minutes: 7 } }] } }, { calls: [{ name: 'set_timer', arguments: { minutes: 7 } }] }],
  ['f-error', 'forced', { tools: ['set_timer'], tool_choice: 'required', expect: { calls: [{ name: 'set_timer', arguments: { minutes: 5 } }] } }, { status: 500 }],
  // structured: landed 2, well-formed 3, total 5
  ['j-right', 'structured', { response_format: PERSON, expect: { json: { name: 'Ada', year: 1815 } } }, { content: '{"name": "Ada", "year": 1815}' }],
  ['j-ci', 'structured', { response_format: PERSON, expect: { json: { name: 'Ada', year: 1815 } } }, { content: ' {"name": "  ADA ", "year": 1815.0}\n' }],
  ['j-wrong', 'structured', { response_format: PERSON, expect: { json: { name: 'Ada', year: 1815 } } }, { content: '{"name": "Bob", "year": 1815}' }],
  ['j-prose', 'structured', { response_format: PERSON, expect: { json: { name: 'Ada', year: 1815 } } }, { content: 'Sure! {"name": "Ada", "year": 1815}' }],
  ['j-missing', 'structured', { response_format: PERSON, expect: { json: { name: 'Ada', year: 1815 } } }, { content: '{"name": "Ada"}' }],
  // json_object: landed 1, well-formed 1, total 2
  ['o-right', 'json_object', { response_format: { type: 'json_object' }, expect: { json: { sum: 5 } } }, { content: '{"sum": 5}' }],
  ['o-array', 'json_object', { response_format: { type: 'json_object' }, expect: { json: { sum: 5 } } }, { content: '[5]' }],
];
const EXPECTED = {
  simple: { landed: 1, well_formed: 2, total: 6 },
  multiple: { landed: 1, well_formed: 3, total: 3 },
  parallel: { landed: 1, well_formed: 2, total: 3 },
  irrelevance: { landed: 1, well_formed: 2, total: 4 },
  multi_turn: { landed: 1, well_formed: 3, total: 3 },
  forced: { landed: 2, well_formed: 2, total: 3 },
  structured: { landed: 2, well_formed: 3, total: 5 },
};

test('scoring against a scripted endpoint: each category is exact', async () => {
  const suite = join(dir, 'suite');
  mkdirSync(suite, { recursive: true });
  writeFileSync(join(suite, 'tools.json'), JSON.stringify({ tools: [WEATHER, TIMER] }));
  const cases = SCRIPT.map(([id, category, c]) => ({ id, category, messages: c.messages ?? user(id), ...c }));
  writeFileSync(join(suite, 'cases.json'), JSON.stringify({ cases }));
  const answers = Object.fromEntries(SCRIPT.map(([id, , , a]) => [id, a]));
  const name = `evil<&>"'name`;
  const ep = await scriptedServer(answers, [name]);
  const out = join(dir, 'scripted');
  let r;
  try {
    r = await runCard(['--url', `${ep.url}/v1/`, '--suite', suite, '--out', out]); // no --model: every listed name
  } finally {
    ep.server.close();
  }
  assert.equal(r.code, 0, r.stderr);
  const card = JSON.parse(readFileSync(join(out, 'card.json'), 'utf8'));
  checkCardShape(card, [name]);
  const m = card.models[0];
  assert.deepEqual(m.tool_calls.by_category, EXPECTED);
  assert.deepEqual([m.tool_calls.landed, m.tool_calls.well_formed, m.tool_calls.total], [9, 17, 27]);
  assert.deepEqual(m.json_valid, { json_object: { valid: 1, total: 2 }, json_schema: { valid: 3, total: 5 } });
  // 29 answers less the unparsable body and the HTTP 500; one stopped for length
  assert.deepEqual(m.length_stops, { count: 1, answers: 27, share: 0.037 });
  assert.equal(m.errors, 1);
  assert.match(m.first_error, /f-error: HTTP 500: scripted failure/);
  const byId = Object.fromEntries(m.cases.map((c) => [c.id, c]));
  assert.match(byId['s-unoffered'].why, /not an offered tool/);
  assert.match(byId['s-badargs'].why, /arguments invalid: \$\.city: expected string/);
  assert.match(byId['p-badenum'].why, /unit: not one of the enum values/);
  assert.match(byId['i-call'].why, /called \[set_timer\] where no tool fits/);
  // every case request carried the suite's fields, temperature 0 and a seed
  const caseReqs = ep.seen.filter((q) => !q.stream);
  assert.equal(caseReqs.length, SCRIPT.length);
  for (const q of caseReqs) {
    assert.equal(q.model, name);
    assert.equal(q.temperature, 0);
    assert.equal(typeof q.seed, 'number');
    assert.equal(q.stream, false);
  }
  assert.deepEqual(caseReqs.find((q) => q.messages[0].content === 'case [f-right]').tool_choice, 'required');
  // speed from the stream's timing: FIRST ms to the first token, then one token every TICK ms
  assert.ok(m.tg_tokens_per_s > 20 && m.tg_tokens_per_s <= 1000 / TICK * 1.05, `tg ${m.tg_tokens_per_s}`);
  assert.ok(m.pp_tokens_per_s > 0 && m.pp_tokens_per_s <= PROMPT_TOKENS / (FIRST / 1000) * 1.05, `pp ${m.pp_tokens_per_s}`);
  assert.ok(m.ttft_ms >= FIRST * 0.95 && m.ttft_turn5_ms >= FIRST * 0.95);
  assert.ok(m.concurrency['4'] > m.concurrency['1'] * 1.5, `4 clients overlap: ${JSON.stringify(m.concurrency)}`);
  // turn 5 carries the four earlier turns and their answers
  const turn5 = ep.seen.filter((q) => q.stream && q.messages.length === 9);
  assert.equal(turn5.length, 1);
  assert.equal(turn5[0].messages[1].content, Array.from({ length: CHUNKS }, (_, i) => ` w${i}`).join(''));
  // the hostile name is escaped in the SVG and in the markdown table
  const svg = readFileSync(join(out, 'card.svg'), 'utf8');
  checkSvgXml(svg, [name]);
  assert.ok(readFileSync(join(out, 'card.md'), 'utf8').includes(`| ${name} |`));
});

test('the built-in suite lands every case when each answer is the expected one', async () => {
  const files = readdirSync(CASES_DIR).filter((f) => f.endsWith('.json'));
  const all = files.flatMap((f) => JSON.parse(readFileSync(join(CASES_DIR, f), 'utf8')).cases ?? []);
  const first = (v) => (v && typeof v === 'object' && !Array.isArray(v) && v.$one_of ? v.$one_of[0] : v);
  const pick = (v) => (Array.isArray(v) ? v.map(pick) : v && typeof v === 'object' && !v.$one_of ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, pick(x)])) : first(v));
  const oracle = (q) => {
    const c = all.find((x) => JSON.stringify(x.messages) === JSON.stringify(q.messages));
    if (!c) return { content: 'unknown case' };
    const e = c.expect;
    // the expected arguments, plus a placeholder for required ones a case leaves free (an email's subject)
    const complete = (k) => {
      const args = pick(k.arguments ?? {});
      const params = q.tools.find((t) => t.function.name === k.name).function.parameters;
      for (const p of params.required ?? []) if (!(p in args)) args[p] = params.properties[p].type === 'string' ? 'anything' : 1;
      return { name: k.name, arguments: args };
    };
    if (e.calls) return { calls: [...e.calls].reverse().map(complete) };
    if (e.content) return { content: `The answer: ${e.content.join(', ')}.` };
    if (e.json) return { content: JSON.stringify(pick(e.json)) };
    return { content: 'No tool fits that.' };
  };
  const ep = await scriptedServer(oracle, ['oracle']);
  const out = join(dir, 'oracle');
  let r;
  try {
    r = await runCard(['--url', ep.url, '--model', 'oracle', '--out', out]);
  } finally {
    ep.server.close();
  }
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(readFileSync(join(out, 'card.json'), 'utf8')).models[0];
  const cats = m.tool_calls.by_category;
  assert.ok(Object.keys(cats).length >= 5);
  assert.ok(m.tool_calls.total >= 40, `${m.tool_calls.total} tool cases`);
  for (const [k, c] of Object.entries(cats)) assert.deepEqual([c.landed, c.well_formed], [c.total, c.total], `${k}: ${JSON.stringify(m.cases.filter((x) => !x.landed))}`);
  assert.equal(m.json_valid.json_object.valid, m.json_valid.json_object.total);
  assert.ok(m.json_valid.json_object.total > 0);
});

test('bad usage and bad suites fail with a message', async () => {
  let r = await runCard([]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /give --url/);
  r = await runCard(['--model', 'm', '--url', 'http://127.0.0.1:9']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--model m: give its --url first/);
  const bad = join(dir, 'badsuite');
  mkdirSync(bad, { recursive: true });
  writeFileSync(join(bad, 'x.json'), JSON.stringify({ cases: [{ id: 'a', category: 'simple', messages: user('a'), tools: ['nope'], expect: paris }] }));
  r = await runCard(['--url', 'http://127.0.0.1:9', '--model', 'm', '--suite', bad, '--out', join(dir, 'bad-out')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /x\.json: cases\[0\] \(a\): tools\[0\]: no tool named 'nope' in the library/);
  r = await runCard(['--url', 'http://127.0.0.1:9', '--model', 'm', '--out', join(dir, 'bad-out')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /model 'm' at http:\/\/127\.0\.0\.1:9/);
});
