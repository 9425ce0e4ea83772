// The web chat UI (issue 20, docs/WEBUI.md) in a real browser: Debian's chromium driven by
// playwright-core, against `hearth serve` with two served names (a config file, both on
// stories260K). Every page records its requests, console errors and dialogs:
//   - the page loads with no console error and asks nothing of any host but the server;
//   - typing + Send (and Enter) streams an answer into a data-role="assistant" element, and the
//     text the page assembled from the SSE stream is the server's own answer (same request, no
//     stream);
//   - Stop aborts mid-stream and /metrics shows the slot freed, the generation cut short;
//   - the model picker lists every served name; switching sends the other name;
//   - model output with <img onerror>, <script> and Markdown renders as text (the SSE stream is
//     replaced with page.route, so the renderer meets exactly these bytes), with reasoning
//     collapsible and tool calls as cards;
//   - with --api-key the page asks for the key and works after it; reload keeps the
//     conversation; rename, export as JSON, delete;
//   - headers: CSP, nosniff, ETag + 304; --no-ui turns the page off.
// HEARTH_WEBUI_SCREENSHOTS=DIR also writes webui-desktop.png and webui-narrow.png there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, metric, sleep, MODEL } from './server_helpers.mjs';

const CHROMIUM = '/usr/bin/chromium';
const A = 'stories', B = 'stories-b';
let dir, srv, browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh installs it`);
  dir = mkdtempSync(join(tmpdir(), 'hearth-webui-'));
  const conf = join(dir, 'hearth.conf');
  // A long context for A: a 12000-token answer runs for seconds, so Stop always lands mid-stream.
  writeFileSync(conf, `[${A}]\nmodel = ${MODEL}\nslots = 2\nctx = 16384\n\n[${B}]\nmodel = ${MODEL}\nslots = 1\n`);
  srv = await startServer(['--config', conf]);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-features=Translate,MediaRouter'],
  });
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// A fresh browser context (its own localStorage) with a page that records what it does.
async function openPage(url, viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await ctx.newPage();
  const rec = { requests: [], console: [], dialogs: [], pageErrors: [] };
  page.on('request', (r) => rec.requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  page.on('console', (m) => {
    if (m.type() === 'error') rec.console.push(m.text());
  });
  page.on('pageerror', (e) => rec.pageErrors.push(String(e)));
  page.on('dialog', (d) => {
    rec.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  await page.goto(`${url}/`);
  return { ctx, page, rec };
}

function onlyServer(rec, url) {
  const foreign = rec.requests.filter((r) => !r.url.startsWith(`${url}/`) && !r.url.startsWith('blob:') && !r.url.startsWith('data:'));
  assert.deepEqual(foreign, [], 'the page asks nothing of any other host');
}

async function waitDone(page) {
  await page.locator('#stop').waitFor({ state: 'hidden', timeout: 60_000 });
}

// The per-chat settings dialog: open, fill, Done.
async function setSetting(page, id, value) {
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.locator(`#${id}`).fill(String(value));
  await page.getByRole('button', { name: 'Done' }).click();
  await page.locator('#settings').waitFor({ state: 'hidden' });
}

const stored = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('hearth.conversations')));

test('headers: the page, CSP, nosniff, ETag and 304; plain clients still get "hearth is running"', async () => {
  let r = await fetch(`${srv.url}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /connect-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  const tag = r.headers.get('etag');
  assert.match(tag, /^"[0-9a-f]{32}"$/);
  const html = await r.text();
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, 'no inline script');
  assert.doesNotMatch(html, /https?:\/\//, 'no external URL in the page');
  r = await fetch(`${srv.url}/`, { headers: { accept: 'text/html', 'if-none-match': `W/${tag}, "other"` } });
  assert.equal(r.status, 304);
  assert.equal(r.headers.get('etag'), tag);
  for (const [path, type] of [['/ui/app.js', 'text/javascript; charset=utf-8'], ['/ui/markdown.js', 'text/javascript; charset=utf-8'],
                              ['/ui/style.css', 'text/css; charset=utf-8'], ['/ui/icon.svg', 'image/svg+xml']]) {
    r = await fetch(`${srv.url}${path}`);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-type'), type, path);
    assert.match(r.headers.get('content-security-policy'), /default-src 'none'/);
    assert.ok((await r.text()).length > 100, path);
  }
  assert.equal((await fetch(`${srv.url}/ui/nope.js`)).status, 404);
  r = await fetch(`${srv.url}/`);
  assert.equal(await r.text(), 'hearth is running', 'an Ollama-style probe (no text/html) keeps its answer');
  r = await fetch(`${srv.url}/`, { headers: { accept: 'text/html;q=0' } });
  assert.equal(await r.text(), 'hearth is running');
});

test('the page loads with no console errors, lists every served name, and Send streams an answer', async () => {
  const { ctx, page, rec } = await openPage(srv.url);
  try {
    const picker = page.getByRole('combobox', { name: 'Model' });
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    assert.deepEqual(await picker.locator('option').allTextContents(), [A, B]);
    assert.equal(await page.getByRole('textbox').count(), 1, 'the message box is the page\'s textbox');
    await setSetting(page, 'temperature', 0);
    await setSetting(page, 'max_tokens', 1500); // long enough to arrive in many reads, even on a loaded machine
    // every change of the answer's text as the page shows it
    await page.evaluate(() => {
      window.__lengths = [];
      new MutationObserver(() => {
        const a = document.querySelector('[data-role="assistant"] .msg-body');
        if (a) window.__lengths.push(a.textContent.length);
      }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
    });
    await page.getByRole('textbox').fill('Tell me a story about a cat.');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('[data-role="user"]').first().waitFor();
    await waitDone(page);
    const answer = page.locator('[data-role="assistant"]').first();
    const shown = await answer.locator('.msg-body').textContent();
    assert.ok(shown.trim().length > 20, `an answer was shown: ${JSON.stringify(shown)}`);
    assert.match(await page.locator('[data-role="user"]').first().textContent(), /Tell me a story about a cat\./);
    const lengths = await page.evaluate(() => window.__lengths.filter((n) => n > 0));
    assert.ok(new Set(lengths).size >= 3, `the answer grew in steps while streaming (${new Set(lengths).size} sizes)`);
    // the text the page assembled from the stream is the server's answer to the same request
    const conv = (await stored(page)).conversations[0];
    const msg = conv.messages.at(-1);
    assert.equal(msg.role, 'assistant');
    const sent = JSON.parse(rec.requests.find((r) => r.url.endsWith('/v1/chat/completions')).body);
    assert.equal(sent.stream, true);
    assert.equal(sent.model, A);
    const ref = await (await fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...sent, stream: false, stream_options: undefined }),
    })).json();
    assert.equal(msg.content, ref.choices[0].message.content);
    assert.equal(msg.stats.tokens, ref.usage.completion_tokens);
    assert.ok(msg.stats.ttft_ms > 0 && msg.stats.tps > 0, JSON.stringify(msg.stats));
    // the status view: the last answer's speed and the server's /metrics summary
    await page.locator('#status > summary').click();
    assert.match(await page.locator('#stat-tps').textContent(), /^\d+\.\d$/);
    await page.locator(`#metrics-body li[data-model="${A}"]`).waitFor();
    // Enter sends too (Shift+Enter is a new line)
    await page.getByRole('textbox').fill('Line one');
    await page.getByRole('textbox').press('Shift+Enter');
    await page.getByRole('textbox').pressSequentially('line two');
    assert.equal(await page.getByRole('textbox').inputValue(), 'Line one\nline two');
    await page.getByRole('textbox').press('Enter');
    await waitDone(page);
    assert.equal(await page.locator('[data-role="assistant"]').count(), 2);
    assert.equal(await page.locator('[data-role="user"]').nth(1).textContent().then((t) => t.includes('Line one\nline two')), true);
    // reload keeps the conversation
    const before = await page.locator('.messages').textContent();
    await page.reload();
    await page.locator('[data-role="assistant"]').nth(1).waitFor();
    assert.equal(await page.locator('.messages').textContent(), before);
    assert.equal(await page.locator('.conv[aria-current="true"]').textContent(), 'Tell me a story about a cat.');
    assert.deepEqual(rec.console, [], 'no console errors');
    assert.deepEqual(rec.pageErrors, []);
    onlyServer(rec, srv.url);
  } finally {
    await ctx.close();
  }
});

test('Stop cancels mid-stream: the slot is freed (/metrics) and the generation cut short', async () => {
  const { ctx, page, rec } = await openPage(srv.url);
  try {
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    await setSetting(page, 'max_tokens', 12000);
    await setSetting(page, 'seed', 7);
    const gen0 = (await metric(srv.url, 'hearth_generated_tokens_total', A)) || 0;
    await page.getByRole('textbox').fill('Once upon a time');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.waitForFunction(() => (document.querySelector('[data-role="assistant"] .msg-body')?.textContent || '').length > 10);
    assert.equal(await metric(srv.url, 'hearth_slots_busy', A), 1, 'generating when Stop is pressed');
    await page.getByRole('button', { name: 'Stop' }).click();
    await waitDone(page);
    let busy = NaN;
    for (let i = 0; i < 60 && busy !== 0; i++) {
      busy = await metric(srv.url, 'hearth_slots_busy', A);
      if (busy !== 0) await sleep(50);
    }
    assert.equal(busy, 0, 'the slot is free');
    const ran = (await metric(srv.url, 'hearth_generated_tokens_total', A)) - gen0;
    const msg = (await stored(page)).conversations[0].messages.at(-1);
    assert.ok(ran < 12000, `the generation stopped early (${ran} tokens)`);
    assert.ok(msg.content.length > 10 && msg.stats.tokens < 12000);
    assert.match(await page.locator('[data-role="assistant"] .msg-foot').textContent(), /stopped/);
    assert.equal(msg.stopped, true);
    // the page's own status view agrees
    await page.locator('#status > summary').click();
    await page.locator('#metrics-refresh').click();
    await page.waitForFunction((a) => document.querySelector(`#metrics-body li[data-model="${a}"] dd.slots`)?.textContent.startsWith('0 /'), A);
    assert.deepEqual(rec.pageErrors, []);
    onlyServer(rec, srv.url);
  } finally {
    await ctx.close();
  }
});

test('switching models sends the other served name', async () => {
  const { ctx, page, rec } = await openPage(srv.url);
  try {
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 1);
    const g0 = (await metric(srv.url, 'hearth_generations_total', B)) || 0;
    await setSetting(page, 'max_tokens', 16);
    await page.getByRole('combobox', { name: 'Model' }).selectOption(B);
    await page.getByRole('textbox').fill('Hello');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitDone(page);
    const sent = JSON.parse(rec.requests.filter((r) => r.url.endsWith('/v1/chat/completions')).at(-1).body);
    assert.equal(sent.model, B);
    assert.equal(await page.locator('[data-role="assistant"] .who').textContent(), B);
    assert.ok((await page.locator('[data-role="assistant"] .msg-body').textContent()).length > 0);
    assert.equal(await metric(srv.url, 'hearth_generations_total', B), g0 + 1);
    // and back
    await page.getByRole('combobox', { name: 'Model' }).selectOption(A);
    await page.getByRole('textbox').fill('Again');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitDone(page);
    assert.equal(JSON.parse(rec.requests.filter((r) => r.url.endsWith('/v1/chat/completions')).at(-1).body).model, A);
    assert.equal(await page.locator('[data-role="assistant"] .who').nth(1).textContent(), A);
    assert.deepEqual(rec.console, []);
    onlyServer(rec, srv.url);
  } finally {
    await ctx.close();
  }
});

// The stream a model could send: HTML that would run if it reached the DOM as markup,
// Markdown, reasoning and a tool call, split mid-token across chunks.
function hostileStream() {
  const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: A,
    choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const text = 'Here: <img src=x onerror=alert(1)> and <script>window.__pwned = 1; alert(2)</script>\n\n' +
    '**bold** and `<b>code</b>` and a [link](javascript:alert(3)) and [site](https://example.com/a)\n\n' +
    '```html\n<script>alert(4)</script>\n<img src=y onerror=alert(5)>\n```\n\n- one <i>\n- two';
  const parts = [chunk({ role: 'assistant', content: '' }), chunk({ reasoning_content: 'Thinking <b>hard</b>' }),
                 chunk({ reasoning_content: ' about <svg onload=alert(6)>' })];
  for (let i = 0; i < text.length; i += 7) parts.push(chunk({ content: text.slice(i, i + 7) }));
  parts.push(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "<img src=z onerror=alert(7)>",' } }] }));
  parts.push(chunk({ tool_calls: [{ index: 0, function: { arguments: ' "days": 3}' } }] }));
  parts.push(chunk({}, 'tool_calls'));
  parts.push(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: A, choices: [], usage: { prompt_tokens: 5, completion_tokens: 42, total_tokens: 47 } })}\n\n`);
  parts.push('data: [DONE]\n\n');
  return { text, body: parts.join('') };
}

test('model output with <img onerror> and <script> renders as text; reasoning collapsible; tool calls as cards', async () => {
  const { ctx, page, rec } = await openPage(srv.url);
  try {
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    const { text, body } = hostileStream();
    await page.route('**/v1/chat/completions', (route) =>
      route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream' }, body }));
    await page.getByRole('textbox').fill('Show me HTML');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitDone(page);
    const a = page.locator('[data-role="assistant"]');
    const shown = await a.locator('.msg-body').textContent();
    assert.ok(shown.includes('<img src=x onerror=alert(1)>'), shown);
    assert.ok(shown.includes('<script>window.__pwned = 1; alert(2)</script>'));
    assert.ok(shown.includes('<script>alert(4)</script>'));
    assert.equal(await page.locator('.messages img, .messages script, .messages svg, .messages b, .messages i').count(), 0,
                 'no element came from the model');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual(rec.dialogs, [], 'no alert ran');
    // Markdown: strong, inline code, a code block, a list; only the http(s) link is a link
    assert.equal(await a.locator('.msg-body strong').textContent(), 'bold');
    assert.equal(await a.locator('.msg-body p code').textContent(), '<b>code</b>');
    assert.equal(await a.locator('.msg-body pre code').textContent(), '<script>alert(4)</script>\n<img src=y onerror=alert(5)>');
    assert.equal(await a.locator('.code-lang').textContent(), 'html');
    assert.deepEqual(await a.locator('.msg-body li').allTextContents(), ['one <i>', 'two']);
    assert.deepEqual(await a.locator('.msg-body a').evaluateAll((l) => l.map((x) => x.getAttribute('href'))), ['https://example.com/a']);
    assert.ok(shown.includes('[link](javascript:alert(3))'), 'a javascript: link stays text');
    // reasoning: collapsed, text only
    const details = a.locator('details.reasoning');
    assert.equal(await details.evaluate((d) => d.open), false);
    assert.equal(await details.locator('.reasoning-body').textContent(), 'Thinking <b>hard</b> about <svg onload=alert(6)>');
    await details.locator('summary').click();
    assert.equal(await details.evaluate((d) => d.open), true);
    // the tool call: a card with the name and the parsed arguments
    const card = a.getByRole('group', { name: 'Tool call get_weather' });
    assert.equal(await card.locator('.tool-name').textContent(), 'get_weather');
    assert.deepEqual(await card.locator('dt').allTextContents(), ['city', 'days']);
    assert.deepEqual(await card.locator('dd').allTextContents(), ['<img src=z onerror=alert(7)>', '3']);
    assert.match(await a.locator('.msg-foot').textContent(), /42 tokens/);
    // stored as text, and the page never tried to load x, y or z
    assert.equal((await stored(page)).conversations[0].messages.at(-1).content, text);
    assert.deepEqual(rec.requests.filter((r) => /\/[xyz]$/.test(r.url)), []);
    if (process.env.HEARTH_WEBUI_SCREENSHOTS) await page.screenshot({ path: join(process.env.HEARTH_WEBUI_SCREENSHOTS, 'webui-rendering.png') });
    assert.deepEqual(rec.console, []);
    assert.deepEqual(rec.pageErrors, []);
    onlyServer(rec, srv.url);
  } finally {
    await ctx.close();
  }
});

test('a real tool call (tools + tool_choice required) from the server shows as cards', async () => {
  const { ctx, page, rec } = await openPage(srv.url);
  try {
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object',
      properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] } } }];
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.locator('#tools').fill(JSON.stringify(tools));
    await page.locator('#tool_choice').selectOption('required');
    await page.locator('#seed').fill('1');
    await page.locator('#max_tokens').fill('200');
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('textbox').fill('What is the weather in Paris?');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitDone(page);
    const sent = JSON.parse(rec.requests.find((r) => r.url.endsWith('/v1/chat/completions')).body);
    assert.deepEqual(sent.tools, tools);
    assert.equal(sent.tool_choice, 'required');
    // the same request without streaming: the calls the page shows are the server's
    const ref = await (await fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...sent, stream: false, stream_options: undefined }),
    })).json();
    const calls = ref.choices[0].message.tool_calls;
    assert.ok(calls.length >= 1);
    const cards = page.locator('[data-role="assistant"] .tool-card');
    assert.equal(await cards.count(), calls.length);
    for (let i = 0; i < calls.length; i++) {
      assert.equal(await cards.nth(i).locator('.tool-name').textContent(), 'get_weather');
      const args = JSON.parse(calls[i].function.arguments);
      assert.deepEqual(await cards.nth(i).locator('dt').allTextContents(), Object.keys(args));
      assert.deepEqual(await cards.nth(i).locator('dd').allTextContents(), Object.values(args).map(String));
    }
    const stored1 = (await stored(page)).conversations[0].messages.at(-1);
    assert.deepEqual(stored1.tool_calls.map((t) => t.function), calls.map((t) => t.function));
    assert.deepEqual(rec.console, []);
    onlyServer(rec, srv.url);
  } finally {
    await ctx.close();
  }
});

test('with --api-key the page asks for the key and works after it', async () => {
  const conf = join(dir, 'hearth.conf');
  const s2 = await startServer(['--config', conf, '--api-key', 'sesame']);
  const { ctx, page, rec } = await openPage(s2.url);
  try {
    const key = page.getByLabel('API key');
    await key.waitFor();
    assert.equal(await page.locator('#model option').count(), 0);
    await key.fill('wrong');
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.waitForFunction(() => /refused/.test(document.getElementById('key-why').textContent));
    await key.fill('sesame');
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.waitForFunction(() => document.querySelectorAll('#model option').length === 2);
    assert.equal(await page.locator('#key-form').isHidden(), true);
    await setSetting(page, 'max_tokens', 16);
    await page.getByRole('textbox').fill('Hello');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitDone(page);
    assert.ok((await page.locator('[data-role="assistant"] .msg-body').textContent()).length > 0);
    assert.equal(await page.locator('.msg-error').count(), 0);
    const chat = rec.requests.filter((r) => r.url.endsWith('/v1/chat/completions'));
    assert.equal(chat.length, 1);
    // reload: the key is remembered
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('#model option').length === 2);
    assert.equal(await page.locator('#key-form').isHidden(), true);
    // the only console errors are the two refused requests' 401s
    assert.ok(rec.console.every((t) => /401/.test(t)), rec.console.join('\n'));
    assert.deepEqual(rec.pageErrors, []);
    onlyServer(rec, s2.url);
  } finally {
    await ctx.close();
    await s2.stop();
  }
});

test('conversations: new, rename, export as JSON, delete (localStorage)', async () => {
  const { ctx, page, rec } = await openPage(srv.url);
  try {
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    await setSetting(page, 'max_tokens', 8);
    await setSetting(page, 'system', 'You are terse.');
    await page.getByRole('textbox').fill('First chat');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitDone(page);
    await page.getByRole('button', { name: 'New chat' }).click();
    assert.equal(await page.locator('[data-role]').count(), 0);
    await page.getByRole('button', { name: 'Settings' }).click();
    assert.equal(await page.locator('#system').inputValue(), '', 'settings are per conversation');
    assert.equal(await page.locator('#max_tokens').inputValue(), '');
    await page.locator('#max_tokens').fill('6');
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('textbox').fill('Second chat');
    await page.getByRole('button', { name: 'Send' }).click();
    await waitDone(page);
    assert.deepEqual(await page.locator('.conv').allTextContents(), ['Second chat', 'First chat']);
    const sent = rec.requests.filter((r) => r.url.endsWith('/v1/chat/completions')).map((r) => JSON.parse(r.body));
    assert.deepEqual(sent[0].messages[0], { role: 'system', content: 'You are terse.' });
    assert.equal(sent[0].max_tokens, 8);
    assert.equal(sent[1].messages[0].role, 'user', 'the new chat has no system prompt');
    assert.equal(sent[1].max_tokens, 6);
    // rename
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('Renamed');
    await page.getByLabel('New name').press('Enter');
    assert.deepEqual(await page.locator('.conv').allTextContents(), ['Renamed', 'First chat']);
    // export
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
    const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.equal(exported.format, 'hearth-chat');
    assert.equal(exported.title, 'Renamed');
    assert.deepEqual(exported.messages.map((m) => m.role), ['user', 'assistant']);
    assert.equal(exported.messages[0].content, 'Second chat');
    // back to the first: its settings come back
    await page.locator('.conv', { hasText: 'First chat' }).click();
    await page.getByRole('button', { name: 'Settings' }).click();
    assert.equal(await page.locator('#system').inputValue(), 'You are terse.');
    await page.getByRole('button', { name: 'Done' }).click();
    assert.equal(await page.locator('[data-role="user"]').textContent().then((t) => t.includes('First chat')), true);
    // delete asks for a second click
    await page.getByRole('button', { name: 'Delete' }).click();
    assert.equal(await page.locator('.conv').count(), 2);
    await page.getByRole('button', { name: 'Confirm delete' }).click();
    assert.deepEqual(await page.locator('.conv').allTextContents(), ['Renamed']);
    await page.reload();
    assert.deepEqual(await page.locator('.conv').allTextContents(), ['Renamed']);
    assert.deepEqual(rec.console, []);
    onlyServer(rec, srv.url);
  } finally {
    await ctx.close();
  }
});

test('keyboard: the message box has focus; Tab reaches Settings and Send; the dialog closes with Escape', async () => {
  const { ctx, page, rec } = await openPage(srv.url);
  try {
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    const focused = () => page.evaluate(() => document.activeElement.id);
    assert.equal(await focused(), 'input');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'open-settings');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'send');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    await page.locator('#settings').waitFor({ state: 'visible' });
    assert.equal(await page.getByRole('dialog', { name: 'Settings for this chat' }).isVisible(), true);
    await page.keyboard.press('Escape');
    await page.locator('#settings').waitFor({ state: 'hidden' });
    assert.equal(await focused(), 'input');
    // every form control has an accessible name
    const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
      .map((e) => e.id || e.outerHTML.slice(0, 60)));
    assert.deepEqual(unnamed, []);
    assert.deepEqual(rec.console, []);
  } finally {
    await ctx.close();
  }
});

test('a phone-sized screen: the chat fits, the conversation list is a drawer', async () => {
  const { ctx, page, rec } = await openPage(srv.url, { width: 390, height: 844 });
  try {
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    assert.equal(await page.locator('#side').isVisible(), false);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow} px)`);
    const send = await page.getByRole('button', { name: 'Send' }).boundingBox();
    assert.ok(send && send.x + send.width <= 390 && send.y + send.height <= 844, 'Send is on screen');
    await page.getByRole('button', { name: 'Chats' }).click();
    await page.locator('#side').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Chats' }).click();
    assert.deepEqual(rec.console, []);
  } finally {
    await ctx.close();
  }
});

test('--no-ui: no page, "/" stays the plain probe answer', async () => {
  const s3 = await startServer([MODEL, '--name', A, '--no-ui']);
  try {
    const r = await fetch(`${s3.url}/`, { headers: { accept: 'text/html' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(await r.text(), 'hearth is running');
    assert.equal((await fetch(`${s3.url}/ui/app.js`)).status, 404);
  } finally {
    await s3.stop();
  }
});

test('screenshots (HEARTH_WEBUI_SCREENSHOTS=DIR)', { skip: !process.env.HEARTH_WEBUI_SCREENSHOTS }, async () => {
  const out = process.env.HEARTH_WEBUI_SCREENSHOTS;
  for (const [name, viewport] of [['webui-desktop.png', { width: 1280, height: 800 }], ['webui-narrow.png', { width: 390, height: 844 }]]) {
    const { ctx, page } = await openPage(srv.url, viewport);
    try {
      await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
      await setSetting(page, 'max_tokens', 90);
      await setSetting(page, 'temperature', 0.7);
      await setSetting(page, 'seed', 3);
      for (const q of ['Tell me a short story about a little dog.', 'What was the dog called?']) {
        await page.getByRole('textbox').fill(q);
        await page.getByRole('button', { name: 'Send' }).click();
        await waitDone(page);
      }
      if (viewport.width >= 700) {
        await page.locator('#status > summary').click();
        await page.locator(`#metrics-body li[data-model="${A}"]`).waitFor();
      }
      await page.getByRole('textbox').fill('And what happened next?');
      await page.screenshot({ path: join(out, name) });
    } finally {
      await ctx.close();
    }
  }
});
