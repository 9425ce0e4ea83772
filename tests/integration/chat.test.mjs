// `hearth chat` in a real terminal: tmux runs it, send-keys types, capture-pane reads the screen.
// Against a running server (--url) and serving the model itself (no --url): two turns keep the
// conversation (the second request carries the first turn, and the server reuses the first
// turn's prompt from its KV cache: proof from the server's own usage numbers), Ctrl-C during a
// generation stops it without quitting (the turn is dropped, the slot freed), Ctrl-C twice at
// the prompt / Ctrl-D / /bye exit 0, multi-line """ input, /set, /show, /save, /load, and
// thinking shown dimmed (ANSI) for a template that opens a think block (DeepSeek R1's).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, vocab, metric, sleep } from './server_helpers.mjs';
import { fixture } from './fixtures.mjs';

const SOCK = `hearth-chat-test-${process.pid}`;
let dir, model, srv;

const tmux = (...args) => execFileSync('tmux', ['-L', SOCK, ...args], { encoding: 'utf8' });
const q = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-chat-'));
  model = join(dir, 'tiny-qwen3.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', '--vocab', vocab('qwen2'), model], { stdio: 'ignore' });
  srv = await startServer([model, '--name', 'tq3', '--slots', '2', '--ctx', '4096']);
  // A session that lives as long as the file: tmux ends its server when the last session ends, and
  // a test's new-session arriving while the previous test's last session is closing then fails
  // with "server exited unexpectedly" (seen once under load in CI).
  tmux('new-session', '-d', '-s', 'keeper', 'sleep 86400');
});
after(async () => {
  spawnSync('tmux', ['-L', SOCK, 'kill-server'], { stdio: 'ignore' });
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// The server's metric; retried, since a pooled keep-alive connection the server just closed
// for idleness fails one fetch (the chat tests sit idle for seconds between metric reads).
async function m(name) {
  for (let i = 0; ; i++) {
    try {
      return await metric(srv.url, name, 'tq3');
    } catch (e) {
      if (i >= 3) throw e;
      await sleep(100);
    }
  }
}

// A chat in a fresh tmux window; returns helpers bound to it.
function open(name, args, env = {}) {
  const status = join(dir, `${name}.status`);
  const log = join(dir, `${name}.jsonl`);
  const envs = Object.entries({ HEARTH_HOME: join(dir, 'home'), ...env }).map(([k, v]) => `${k}=${q(v)}`).join(' ');
  const cmd = `env ${envs} ${q(BIN)} chat ${args.map(q).join(' ')} --log-requests ${q(log)}; echo $? > ${q(status)}`;
  tmux('new-session', '-d', '-s', name, '-x', '160', '-y', '50', cmd);
  const screen = (esc = false) => {
    try { return tmux('capture-pane', '-p', ...(esc ? ['-e'] : []), '-J', '-t', name, '-S', '-2000'); } catch { return ''; }
  };
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  const until = async (pred, what, ms = 60_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${screen()}`);
      await sleep(50);
    }
  };
  const prompts = () => (screen().match(/^>>> /gm) ?? []).length;
  return {
    screen, lines, until, prompts,
    exitCode: () => (existsSync(status) ? Number(readFileSync(status, 'utf8').trim()) : null),
    // types a line and waits for the next prompt
    async say(text, waitPrompt = true) {
      const n = prompts();
      tmux('send-keys', '-t', name, '-l', text);
      tmux('send-keys', '-t', name, 'Enter');
      if (waitPrompt) await until(() => prompts() > n, `the prompt after '${text}'`);
    },
    keys: (...k) => tmux('send-keys', '-t', name, ...k),
  };
}

test('--url: two turns keep the conversation; Ctrl-C stops a generation, not the program; /bye exits 0', async () => {
  const c = open('url', ['tq3', '--url', srv.url], { HEARTH_CHAT_TEST_DELAY_MS: '40' });
  await c.until(() => c.prompts() >= 1, 'the first prompt');
  await c.say('/set parameter num_predict 6');
  assert.match(c.screen(), /Set parameter 'num_predict' to '6'/);
  const p0 = (await m('hearth_prompt_tokens_total')) || 0; // NaN before the first request
  await c.say('first question');
  await c.say('second question');
  const [t1, t2] = c.lines();
  assert.ok(t1.completed && t2.completed);
  assert.deepEqual(t1.request.messages, [{ role: 'user', content: 'first question' }]);
  assert.deepEqual(t2.request.messages, [
    { role: 'user', content: 'first question' },
    { role: 'assistant', content: t1.answer },
    { role: 'user', content: 'second question' },
  ]);
  assert.equal(t1.request.max_tokens, 6);
  // the server's view: the second prompt is longer than the first and starts with it (the slot's
  // cached first turn is reused), and its prompt counter saw exactly these two prompts
  assert.ok(t2.prompt_tokens > t1.prompt_tokens, JSON.stringify([t1, t2]));
  assert.ok(t2.cached_tokens >= t1.prompt_tokens - 1, `cached ${t2.cached_tokens} of the first ${t1.prompt_tokens}`);
  assert.equal(await m('hearth_prompt_tokens_total'), p0 + t1.prompt_tokens + t2.prompt_tokens);
  assert.match(c.screen(), /^>>> first question$/m);
  assert.match(c.screen(), /^>>> second question$/m);

  // Ctrl-C mid-generation (40 ms per streamed piece, no token limit: it would run for minutes)
  await c.say('/set parameter num_predict -1');
  const before = c.screen();
  await c.say('tell me everything', false);
  await c.until(() => c.screen().length > before.length + 40, 'streamed text');
  // (the server may already have generated the whole answer into its send buffer: the client
  // reads 40 ms per piece, so it is the client's stream that is cut mid-answer)
  const n = c.prompts();
  c.keys('C-c');
  await c.until(() => c.prompts() > n, 'the prompt after Ctrl-C', 10_000);
  assert.match(c.screen(), /stopped; this turn is not kept/);
  assert.equal(c.exitCode(), null, 'still running');
  // the server freed the slot (the client closed the connection)
  for (let i = 0; i < 40 && (await m('hearth_slots_busy')) !== 0; i++) await sleep(50);
  assert.equal(await m('hearth_slots_busy'), 0);
  await c.say('/set parameter num_predict 3');
  await c.say('after the interrupt');
  const all = c.lines();
  assert.equal(all.length, 4);
  assert.equal(all[2].completed, false);
  assert.deepEqual(all[3].request.messages.map((m) => m.content), ['first question', t1.answer, 'second question', t2.answer, 'after the interrupt']);
  await c.say('/bye', false);
  await c.until(() => c.exitCode() !== null, 'the exit');
  assert.equal(c.exitCode(), 0);
});

test('Ctrl-C twice at the prompt and Ctrl-D quit with status 0; one Ctrl-C does not', async () => {
  const a = open('cc', ['tq3', '--url', srv.url]);
  await a.until(() => a.prompts() >= 1, 'the prompt');
  a.keys('C-c');
  await a.until(() => /Ctrl-C again/.test(a.screen()), 'the hint');
  await a.say('/show'); // a command between resets the count
  assert.match(a.screen(), /Model: tq3/);
  a.keys('C-c');
  await a.until(() => a.prompts() >= 4, 'the prompt after one Ctrl-C');
  assert.equal(a.exitCode(), null);
  a.keys('C-c');
  await a.until(() => a.exitCode() !== null, 'the exit');
  assert.equal(a.exitCode(), 0);
  const d = open('cd', ['tq3', '--url', srv.url]);
  await d.until(() => d.prompts() >= 1, 'the prompt');
  d.keys('C-d');
  await d.until(() => d.exitCode() !== null, 'the exit');
  assert.equal(d.exitCode(), 0);
});

test('without --url: the model served in-process; multi-line input, /set system, /save, /clear, /load, /show', async () => {
  const c = open('local', [model, '--ctx', '2048']);
  await c.until(() => c.prompts() >= 1, 'the model to load and the prompt');
  await c.say('/set parameter num_predict 4');
  await c.say('/set parameter temperature 0.5');
  await c.say('/set parameter bogus 1');
  assert.match(c.screen(), /unknown parameter 'bogus'/);
  await c.say('/set system You are terse.');
  await c.say('"""first line', false);
  await c.until(() => /^\.\.\. $/m.test(c.screen()), 'the continuation prompt');
  await c.say('second line"""');
  const [t1] = c.lines();
  assert.deepEqual(t1.request.messages, [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'first line\nsecond line' },
  ]);
  assert.equal(t1.request.temperature, 0.5);
  assert.ok(t1.completed && t1.prompt_tokens > 0);
  await c.say('/save conv1');
  const saved = JSON.parse(readFileSync(join(dir, 'home', 'chats', 'conv1.json'), 'utf8'));
  assert.equal(saved.messages.length, 2);
  assert.equal(saved.system, 'You are terse.');
  await c.say('/clear');
  await c.say('/show');
  assert.match(c.screen(), /History: 0 messages/);
  await c.say('/load conv1');
  await c.say('/show');
  assert.match(c.screen(), /History: 2 messages/);
  await c.say('/load ../etc');
  assert.match(c.screen(), /usage: \/load NAME/);
  await c.say('again');
  const [, t2] = c.lines();
  assert.equal(t2.request.messages.length, 4, 'the loaded history is sent');
  await c.say('/?');
  assert.match(c.screen(), /\/set parameter NAME VALUE/);
  await c.say('/bye', false);
  await c.until(() => c.exitCode() !== null, 'the exit');
  assert.equal(c.exitCode(), 0);
});

test('thinking is shown dimmed on a terminal (DeepSeek R1 template: the answer starts in <think>)', async () => {
  const home = join(dir, 'home');
  const r = spawnSync(BIN, ['import', model, '--name', 'r1:tiny', '--template', fixture('templates/deepseek-r1.jinja')],
    { encoding: 'utf8', env: { ...process.env, HEARTH_HOME: home } });
  assert.equal(r.status, 0, r.stderr);
  const c = open('think', ['r1:tiny', '--ctx', '1024']);
  await c.until(() => c.prompts() >= 1, 'the prompt');
  await c.say('/set parameter num_predict 12');
  await c.say('why?');
  const esc = c.screen(true);
  assert.match(esc, /\x1b\[2mThinking\.\.\./, 'dim on');
  assert.match(esc, /\.\.\.done thinking\.\s*\x1b\[0?m[^]*>>> $/m, 'then off before the prompt');
  const [t] = c.lines();
  assert.ok(t.completed);
  await c.say('/bye', false);
  await c.until(() => c.exitCode() !== null, 'the exit');
  assert.equal(c.exitCode(), 0);
});
