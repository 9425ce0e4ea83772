// Hostile web pages (issue 12): a page in the user's browser can reach a loopback server. It may
// send "simple" requests (text/plain or form bodies, no custom headers) without a preflight and
// never reads the answer; that must not be enough to generate, swap models or probe files.
//   - JSON routes take only Content-Type application/json (415 otherwise), unread;
//   - a foreign Origin gets 403 before any work; the server's own origin and --cors-origin pass;
//   - loading a file (/admin/swap with a path) needs the admin token (X-Hearth-Admin), which an
//     API key is not, and a file under a model directory; errors echo neither paths nor contents;
//   - (swaps load off the HTTP threads: server_swap_health.timing.test.mjs, run alone);
//   - a real browser (Debian chromium, driven by playwright-core) on another origin fails to
//     generate or swap with no-cors fetches and auto-submitted forms.
// Models are generated (hearth make-model --shape tiny): no ../shared needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, sleep, rawRequest } from './server_helpers.mjs';

const NAME = 'tiny';
let dir, models, other, home, srv;

// The token file lives under $HEARTH_HOME/run: a private one for this file's servers (spawned
// servers and `hearth swap` inherit process.env).
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-websafe-'));
  home = join(dir, 'home');
  mkdirSync(home);
  process.env.HEARTH_HOME = home;
  models = join(dir, 'models');
  mkdirSync(models);
  const main = join(models, 'tiny.gguf');
  other = join(models, 'tiny-q8.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny', main], { stdio: 'ignore' });
  execFileSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', other], { stdio: 'ignore' });
  // a distinct mtime: /v1/models/{id}.created tells which file a name serves
  utimesSync(other, new Date('2001-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00Z'));
  srv = await startServer([main, '--name', NAME, '--slots', '2']);
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const raw = rawRequest;

async function metricsText(url) {
  return (await fetch(`${url}/metrics`)).text();
}
function counter(text, re) {
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}
const generations = async (url) => counter(await metricsText(url), new RegExp(`^hearth_generations_total\\{model="${NAME}"\\} (\\S+)$`, 'm'));
const promptTokens = async (url) => counter(await metricsText(url), new RegExp(`^hearth_prompt_tokens_total\\{model="${NAME}"\\} (\\S+)$`, 'm'));
const requests = async (url, route, status) =>
  counter(await metricsText(url), new RegExp(`^hearth_requests_total\\{route="${route.replace(/\//g, '\\/')}",status="${status}"\\} (\\S+)$`, 'm'));
const served = async (url) => (await (await fetch(`${url}/v1/models/${NAME}`)).json()).created;
const token = () => readFileSync(join(home, 'run', `admin-${srv.port}.token`), 'utf8').trim();

const chatBody = JSON.stringify({ model: NAME, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
const bodies = {
  '/v1/chat/completions': chatBody,
  '/api/chat': JSON.stringify({ model: NAME, messages: [{ role: 'user', content: 'hi' }], stream: false, options: { num_predict: 2 } }),
  '/api/generate': JSON.stringify({ model: NAME, prompt: 'hi', stream: false, options: { num_predict: 2 } }),
  '/admin/swap': JSON.stringify({ name: NAME, path: other }),
};

test('415: text/plain, form-encoded, multipart and missing Content-Type are refused unread', async () => {
  const g0 = await generations(srv.url), p0 = await promptTokens(srv.url), m0 = await served(srv.url);
  for (const [path, body] of Object.entries(bodies)) {
    for (const ct of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json5', null]) {
      const headers = ct ? { 'content-type': ct } : {};
      const r = await raw(srv.port, 'POST', path, { ...headers, 'x-hearth-admin': token() }, body);
      assert.equal(r.status, 415, `${path} ${ct}: ${r.body}`);
      const j = JSON.parse(r.body);
      if (path.startsWith('/api/')) assert.match(j.error, /Content-Type/); // Ollama's error form
      else {
        assert.equal(j.error.type, 'invalid_request_error');
        assert.equal(j.error.code, 'unsupported_media_type');
      }
    }
  }
  assert.equal(await generations(srv.url), g0);
  assert.equal(await promptTokens(srv.url), p0);
  assert.equal(await served(srv.url), m0, 'the served model did not change');
  // application/json, with parameters and in any case, is served
  for (const ct of ['application/json', 'Application/JSON; charset=utf-8']) {
    const r = await raw(srv.port, 'POST', '/v1/chat/completions', { 'content-type': ct }, chatBody);
    assert.equal(r.status, 200, r.body);
  }
  assert.equal(await generations(srv.url), g0 + 2);
});

test('403 for a foreign Origin before any work; own origin, --cors-origin and no Origin pass', async () => {
  const json = { 'content-type': 'application/json' };
  const g0 = await generations(srv.url);
  const foreign = ['http://evil.example', `http://127.0.0.1:${srv.port + 1}`, `http://localhost:${srv.port}`, `https://127.0.0.1:${srv.port}`, 'null', ''];
  for (const origin of foreign) {
    for (const [path, body] of Object.entries(bodies)) {
      const r = await raw(srv.port, 'POST', path, { ...json, origin, 'x-hearth-admin': token() }, body);
      assert.equal(r.status, 403, `${origin} ${path}: ${r.body}`);
      if (!path.startsWith('/api/')) assert.equal(JSON.parse(r.body).error.code, 'forbidden_origin');
    }
  }
  // a GET too (a cors-mode fetch could read it if the server said yes)
  assert.equal((await raw(srv.port, 'GET', '/v1/models', { origin: 'http://evil.example' })).status, 403);
  assert.equal(await generations(srv.url), g0, 'no generation for a foreign origin');
  // the server's own origin (Host as the client sent it) and no Origin at all
  let r = await raw(srv.port, 'POST', '/v1/chat/completions', { ...json, origin: `http://127.0.0.1:${srv.port}` }, chatBody);
  assert.equal(r.status, 200, r.body);
  r = await raw(srv.port, 'POST', '/v1/chat/completions', { ...json, host: `localhost:${srv.port}`, origin: `http://localhost:${srv.port}` }, chatBody);
  assert.equal(r.status, 200, r.body);
  r = await raw(srv.port, 'POST', '/v1/chat/completions', json, chatBody);
  assert.equal(r.status, 200, r.body);
  assert.equal(await generations(srv.url), g0 + 3);
  // --cors-origin: that origin passes (with CORS headers), others still do not
  const s2 = await startServer([join(models, 'tiny.gguf'), '--name', NAME, '--cors-origin', 'http://localhost:3999']);
  try {
    r = await raw(s2.port, 'POST', '/v1/chat/completions', { ...json, origin: 'http://localhost:3999' }, chatBody);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['access-control-allow-origin'], 'http://localhost:3999');
    r = await raw(s2.port, 'OPTIONS', '/v1/chat/completions', { origin: 'http://localhost:3999', 'access-control-request-method': 'POST' });
    assert.equal(r.status, 204);
    r = await raw(s2.port, 'POST', '/v1/chat/completions', { ...json, origin: 'http://localhost:4000' }, chatBody);
    assert.equal(r.status, 403);
    assert.equal(await generations(s2.url), 1);
  } finally {
    await s2.stop();
  }
});

test('/admin/swap: loading a file needs the admin token, under a model directory; nothing echoed', async () => {
  const json = { 'content-type': 'application/json' };
  const m0 = await served(srv.url);
  const swapBody = (path) => JSON.stringify({ name: NAME, path });
  // no API key configured, still no admin: 403, and the answer names no path
  let r = await raw(srv.port, 'POST', '/admin/swap', json, swapBody(other));
  assert.equal(r.status, 403, r.body);
  assert.equal(JSON.parse(r.body).error.code, 'admin_required');
  assert.ok(!r.body.includes(dir), r.body);
  // a wrong token is no token
  r = await raw(srv.port, 'POST', '/admin/swap', { ...json, 'x-hearth-admin': 'f'.repeat(64) }, swapBody(other));
  assert.equal(r.status, 403, r.body);
  // probing files: the same answer whether they exist or not, never their content
  for (const p of ['/etc/passwd', '/etc/nonexistent-file', '/etc', `${models}/../../../etc/passwd`]) {
    r = await raw(srv.port, 'POST', '/admin/swap', json, swapBody(p));
    assert.equal(r.status, 403, `${p}: ${r.body}`);
    assert.equal(JSON.parse(r.body).error.code, 'admin_required');
    assert.ok(!/root|passwd|etc/.test(r.body), r.body);
  }
  // a store name needs no admin; one the store lacks fails generically (no store path, no detail)
  r = await raw(srv.port, 'POST', '/admin/swap', json, swapBody('passwd'));
  assert.equal(r.status, 422, r.body);
  assert.match(JSON.parse(r.body).error.message, /could not be loaded/);
  assert.ok(!r.body.includes(home) && !/root|store:/.test(r.body), r.body);
  // admin, but outside the model directories (also through .. and a symlink): 403, no echo
  const evil = join(models, 'evil.gguf');
  symlinkSync('/etc/passwd', evil);
  for (const p of ['/etc/passwd', `${models}/../../../etc/passwd`, evil]) {
    r = await raw(srv.port, 'POST', '/admin/swap', { ...json, 'x-hearth-admin': token() }, swapBody(p));
    assert.equal(r.status, 403, `${p}: ${r.body}`);
    assert.equal(JSON.parse(r.body).error.code, 'path_not_allowed');
    assert.ok(!/root|passwd|evil/.test(r.body), r.body);
  }
  assert.equal(await served(srv.url), m0);
  // admin, a model file under a model directory: swapped
  r = await raw(srv.port, 'POST', '/admin/swap', { ...json, 'x-hearth-admin': token() }, swapBody(other));
  assert.equal(r.status, 200, r.body);
  assert.equal(await served(srv.url), Math.floor(statSync(other).mtimeMs / 1000));
  // `hearth swap` reads the token file
  const cli = spawnSync(BIN, ['swap', NAME, join(models, 'tiny.gguf'), '--port', String(srv.port)], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(await served(srv.url), m0);
  // the token file: 0600, 64 hex digits
  const st = statSync(join(home, 'run', `admin-${srv.port}.token`));
  assert.equal(st.mode & 0o777, 0o600);
  assert.match(token(), /^[0-9a-f]{64}$/);
});

test('an API key is not the admin token; --admin-key sets it; the token file goes on exit', async () => {
  const json = { 'content-type': 'application/json' };
  const s2 = await startServer([join(models, 'tiny.gguf'), '--name', NAME, '--api-key', 'k1', '--admin-key', 'adm-secret']);
  try {
    const body = JSON.stringify({ name: NAME, path: other });
    let r = await raw(s2.port, 'POST', '/admin/swap', json, body);
    assert.equal(r.status, 401);
    r = await raw(s2.port, 'POST', '/admin/swap', { ...json, authorization: 'Bearer k1' }, body);
    assert.equal(r.status, 403, r.body);
    assert.equal(JSON.parse(r.body).error.code, 'admin_required');
    r = await raw(s2.port, 'POST', '/admin/swap', { ...json, authorization: 'Bearer adm-secret' }, body);
    assert.equal(r.status, 401, 'the admin token is not sent as a Bearer key');
    r = await raw(s2.port, 'POST', '/admin/swap', { ...json, 'x-hearth-admin': 'adm-secret' }, body);
    assert.equal(r.status, 200, r.body);
    // a given key is not written anywhere
    assert.ok(!existsSync(join(home, 'run', `admin-${s2.port}.token`)));
    const cli = spawnSync(BIN, ['swap', NAME, join(models, 'tiny.gguf'), '--port', String(s2.port), '--api-key', 'k1', '--admin-key', 'adm-secret'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 0, cli.stderr);
  } finally {
    await s2.stop();
  }
  const s3 = await startServer([join(models, 'tiny.gguf'), '--name', NAME]);
  const f = join(home, 'run', `admin-${s3.port}.token`);
  assert.ok(existsSync(f));
  await s3.stop();
  assert.ok(!existsSync(f), 'the token file is removed on a clean exit');
});

// ---- a real browser ----

const CHROMIUM = '/usr/bin/chromium';

test('a page of another origin in chromium cannot generate or swap (no-cors fetch, forms)', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh installs it`);
  const { chromium } = await import('playwright-core');
  const target = `http://127.0.0.1:${srv.port}`;
  const swapJson = JSON.stringify({ name: NAME, path: other });
  const pages = {
    '/fetch.html': `<!doctype html><script>
      (async () => {
        const opts = (body) => ({ method: 'POST', mode: 'no-cors', body });
        await fetch('${target}/v1/chat/completions', opts(${JSON.stringify(chatBody)})).catch(() => {});
        await fetch('${target}/api/generate', opts(${JSON.stringify(bodies['/api/generate'])})).catch(() => {});
        await fetch('${target}/admin/swap', opts(${JSON.stringify(swapJson)})).catch(() => {});
        document.title = 'done';
      })();
    </script>`,
    // text/plain form: name + "=" + value rebuilds a JSON body (the classic trick)
    '/form-text.html': `<!doctype html><form method="POST" enctype="text/plain" action="${target}/api/chat">
      <input name='{"model":"${NAME}","messages":[{"role":"user","content":"hi"}],"stream":false,"x":"' value='"}'></form>
      <script>document.forms[0].submit()</script>`,
    '/form-url.html': `<!doctype html><form method="POST" action="${target}/v1/chat/completions">
      <input name="model" value="${NAME}"><input name="prompt" value="hi"></form>
      <script>document.forms[0].submit()</script>`,
    '/form-swap.html': `<!doctype html><form method="POST" enctype="text/plain" action="${target}/admin/swap">
      <input name='{"name":"${NAME}","path":"${other}","x":"' value='"}'></form>
      <script>document.forms[0].submit()</script>`,
  };
  const site = http.createServer((req, res) => {
    const page = pages[req.url];
    res.writeHead(page ? 200 : 404, { 'content-type': 'text/html' });
    res.end(page ?? '');
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${site.address().port}`;
  const profile = mkdtempSync(join(tmpdir(), 'hearth-chromium-'));
  const g0 = await generations(srv.url), p0 = await promptTokens(srv.url), m0 = await served(srv.url);
  const seen0 = (await Promise.all(['/v1/chat/completions', '/api/generate', '/api/chat', '/admin/swap'].map((r) => requests(srv.url, r, 403)))).reduce((a, b) => a + b);
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await ctx.newPage();
    await page.goto(`${origin}/fetch.html`);
    await page.waitForFunction(() => document.title === 'done', null, { timeout: 20_000 });
    for (const p of ['/form-text.html', '/form-url.html', '/form-swap.html']) {
      await page.goto(`${origin}${p}`);
      await page.waitForURL((u) => u.href.startsWith(target), { timeout: 20_000 });
    }
  } finally {
    await ctx?.close();
    site.close();
    rmSync(profile, { recursive: true, force: true });
  }
  // every request reached the server and was refused (403: the page's Origin) ...
  let seen = 0;
  for (let i = 0; i < 50; i++) {
    seen = (await Promise.all(['/v1/chat/completions', '/api/generate', '/api/chat', '/admin/swap'].map((r) => requests(srv.url, r, 403)))).reduce((a, b) => a + b);
    if (seen - seen0 >= 6) break;
    await sleep(100);
  }
  assert.ok(seen - seen0 >= 6, `the browser's 6 requests were all refused with 403 (${seen - seen0})`);
  // ... and nothing happened
  assert.equal(await generations(srv.url), g0);
  assert.equal(await promptTokens(srv.url), p0);
  assert.equal(await served(srv.url), m0, 'the served model did not change');
});
