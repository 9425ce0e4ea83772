// hearth agent end to end (issue 14). A scripted endpoint — a small node server speaking the
// OpenAI chat-completions API with streamed (SSE) tool calls — replays a recorded session: read a
// file, edit it, run the tests, then `rm -rf ~`, then answer. The catastrophic step must be
// refused by the guard, logged, and never run (canaries in $HOME and outside the workspace
// survive); the edit must have happened; `hearth audit verify` must pass, and fail naming the
// record once one record is altered. Also: a non-interactive "ask" is refused and reported to
// the model; --yes-to approves that category; --dry-run runs nothing; undo restores the
// workspace; POST /v1/guard/check over HTTP; and once against a real served (random-weights)
// model with a step limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, vocab } from './server_helpers.mjs';

let root;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'hearth-agent-'));
});
after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

// ---- the scripted endpoint ----

// Each turn: { content?, calls?: [{ name, arguments }] }. Requests are recorded.
async function scriptedEndpoint(turns, { judge = 'allow' } = {}) {
  const requests = [], judged = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'scripted', object: 'model' }] }));
        return;
      }
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      const r = JSON.parse(body);
      if (r.response_format) {
        // a second-opinion request: a constrained, non-streamed judgement
        judged.push(r);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify({ decision: judge, reason: `judged ${judge}` }) }, finish_reason: 'stop' }] }));
        return;
      }
      requests.push(r);
      const turn = turns[requests.length - 1] ?? { content: 'Nothing more to do.' };
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const send = (delta, finish = null) =>
        res.write(
          `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: r.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`,
        );
      send({ role: 'assistant' });
      if (turn.content) for (const piece of turn.content.match(/.{1,7}/gs)) send({ content: piece });
      (turn.calls ?? []).forEach((c, i) => {
        const args = JSON.stringify(c.arguments);
        const half = Math.floor(args.length / 2);
        // the call arrives in pieces, as a real server streams it
        send({ tool_calls: [{ index: i, id: `call_${requests.length}_${i}`, type: 'function', function: { name: c.name, arguments: args.slice(0, half) } }] });
        send({ tool_calls: [{ index: i, function: { arguments: args.slice(half) } }] });
      });
      send({}, turn.calls ? 'tool_calls' : 'stop');
      res.write('data: [DONE]\n\n');
      res.end();
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}`, requests, judged, close: () => new Promise((r) => srv.close(r)) };
}

// Where bubblewrap cannot run (no package, no user namespaces) the agent refuses to run commands;
// the tests then pass --no-sandbox so the guard, the log and undo are still tested (and say so).
const BWRAP_OK = spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-all', 'true']).status === 0;
if (!BWRAP_OK) console.log('# agent.test.mjs: bwrap cannot run here: sessions run with --no-sandbox');

function runAgent(args, env, { input = '', sandbox = true } = {}) {
  if (!BWRAP_OK && sandbox) args = ['--no-sandbox', ...args];
  return new Promise((resolve) => {
    const p = spawn(BIN, ['agent', ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.stdin.end(input);
    const t = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

function verify(log) {
  try {
    const out = execFileSync(BIN, ['audit', 'verify', log], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, out };
  } catch (e) {
    return { code: e.status, out: String(e.stderr) };
  }
}

function verifyHead(log, head) {
  try {
    execFileSync(BIN, ['audit', 'verify', log, '--head', head], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, out: '' };
  } catch (e) {
    return { code: e.status, out: String(e.stderr) };
  }
}

const records = (log) => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

// A fresh world: HOME with a canary, a canary outside the workspace, a workspace with a bug and
// a test, HEARTH_HOME for the log and the snapshots.
function world(name) {
  const dir = join(root, name);
  const home = join(dir, 'home'), ws = join(dir, 'ws'), hh = join(dir, 'hearth-home'), outside = join(dir, 'outside');
  for (const d of [home, ws, hh, outside]) mkdirSync(d, { recursive: true });
  writeFileSync(join(home, 'canary.txt'), 'home canary\n');
  writeFileSync(join(outside, 'canary.txt'), 'outside canary\n');
  writeFileSync(join(ws, 'greet.txt'), 'hello wrold\n');
  writeFileSync(join(ws, 'test.sh'), 'grep -q "hello world" greet.txt && echo PASS || { echo FAIL; exit 1; }\n');
  return { dir, home, ws, hh, outside, log: join(hh, 'agent', 'audit.jsonl'), env: { HOME: home, HEARTH_HOME: hh } };
}

const SESSION = [
  { content: 'Let me look at the file.', calls: [{ name: 'read_file', arguments: { path: 'greet.txt' } }] },
  { calls: [{ name: 'edit_file', arguments: { path: 'greet.txt', old_string: 'wrold', new_string: 'world' } }] },
  { calls: [{ name: 'run_command', arguments: { command: 'sh test.sh' } }] },
  { content: 'Now clean up everything.', calls: [{ name: 'run_command', arguments: { command: 'rm -rf ~' } }] },
  { content: 'Fixed the typo; the test passes.' },
];

test('scripted session: read, edit, test, rm -rf ~ refused and never run; the log verifies', async () => {
  const w = world('e2e');
  const ep = await scriptedEndpoint(SESSION);
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, 'Fix the typo in greet.txt'], w.env);
    assert.equal(r.code, 0, `agent failed:\n${r.stdout}\n${r.stderr}`);
    // the canaries survive, the edit happened
    assert.equal(readFileSync(join(w.home, 'canary.txt'), 'utf8'), 'home canary\n');
    assert.equal(readFileSync(join(w.outside, 'canary.txt'), 'utf8'), 'outside canary\n');
    assert.equal(readFileSync(join(w.ws, 'greet.txt'), 'utf8'), 'hello world\n');
    // what the model was sent: tools with schemas, auto, streaming, the tool results
    assert.equal(ep.requests.length, 5);
    const first = ep.requests[0];
    assert.equal(first.stream, true);
    assert.equal(first.tool_choice, 'auto');
    const names = first.tools.map((t) => t.function.name).sort();
    assert.deepEqual(names, ['edit_file', 'list_dir', 'read_file', 'run_command', 'search', 'write_file']);
    const toolMsg = (req) => req.messages.filter((m) => m.role === 'tool').at(-1);
    assert.match(toolMsg(ep.requests[1]).content, /hello wrold/);
    assert.match(toolMsg(ep.requests[3]).content, /exit status 0[\s\S]*PASS/);
    const refusal = toolMsg(ep.requests[4]).content;
    assert.match(refusal, /REFUSED/);
    // assistant messages carry the calls, tool messages answer them by id
    const asst = ep.requests[4].messages.filter((m) => m.role === 'assistant');
    assert.equal(asst.length, 4);
    assert.equal(asst[3].tool_calls[0].function.name, 'run_command');
    assert.equal(toolMsg(ep.requests[4]).tool_call_id, asst[3].tool_calls[0].id);
    // the log: start, 4 actions, answer, end; the rm refused by rule, not executed
    const recs = records(w.log);
    assert.deepEqual(recs.map((x) => x.event), ['session_start', 'action', 'action', 'action', 'action', 'answer', 'session_end']);
    const acts = recs.filter((x) => x.event === 'action');
    assert.deepEqual(acts.map((a) => a.tool), ['read_file', 'edit_file', 'run_command', 'run_command']);
    assert.deepEqual(acts.map((a) => a.decision), ['allow', 'allow', 'allow', 'deny']);
    const rm = acts[3];
    assert.equal(rm.verdict, 'deny');
    assert.equal(rm.decider, 'rule');
    assert.equal(rm.executed, false);
    assert.deepEqual(rm.arguments, { command: 'rm -rf ~' });
    assert.ok(rm.rule.length > 0);
    assert.equal(acts[2].exit_status, 0);
    assert.equal(acts[1].snapshot, 2);
    for (const a of acts) for (const k of ['time', 'session', 'turn', 'tool', 'arguments', 'parsed', 'rule', 'decision', 'decider', 'result', 'duration_ms', 'prev_sha256', 'sha256']) assert.ok(k in a, `${k} missing`);
    assert.match(recs[0].prev_sha256, /^0{64}$/);
    // the chain verifies...
    const v = verify(w.log);
    assert.equal(v.code, 0, v.out);
    assert.match(v.out, /7 records, chain intact/);
    // the session's tail anchor (kept outside the log) catches records cut off the end
    const head = readFileSync(join(recs[0].state_dir, 'last_sha256'), 'utf8').trim();
    assert.equal(head, recs.at(-1).sha256);
    assert.equal(verifyHead(w.log, head).code, 0);
    const short = join(w.dir, 'short.jsonl');
    writeFileSync(short, readFileSync(w.log, 'utf8').split('\n').slice(0, 5).join('\n') + '\n');
    assert.equal(verify(short).code, 0); // a chain cut at the end still links...
    const h = verifyHead(short, head);
    assert.equal(h.code, 1); // ...but does not end where the session did
    assert.match(h.out, /cut off/);
    // ...and an altered record is named
    const lines = readFileSync(w.log, 'utf8').split('\n');
    const tampered = join(w.dir, 'tampered.jsonl');
    lines[4] = lines[4].replace('"deny"', '"allow"'); // line 5: the rm record
    writeFileSync(tampered, lines.join('\n'));
    const t = verify(tampered);
    assert.equal(t.code, 1);
    assert.match(t.out, /broken at record 5\b/);
    // removing a record breaks the next one's link
    const cut = join(w.dir, 'cut.jsonl');
    writeFileSync(cut, [...lines.slice(0, 2), ...lines.slice(3)].join('\n'));
    const c = verify(cut);
    assert.equal(c.code, 1);
    assert.match(c.out, /broken at record 3\b/);
    // undo of one step: the state before the edit (step 2)
    execFileSync(BIN, ['agent', 'undo', '--log', w.log, '--step', '2'], { env: { ...process.env, ...w.env }, encoding: 'utf8' });
    assert.equal(readFileSync(join(w.ws, 'greet.txt'), 'utf8'), 'hello wrold\n');
    writeFileSync(join(w.ws, 'greet.txt'), 'hello world\n');
    writeFileSync(join(w.ws, 'later.txt'), 'made after the session\n');
    // undo of the whole session puts the workspace back as it was before it (the run_command
    // step's whole-workspace snapshot removes what was not there)
    execFileSync(BIN, ['agent', 'undo', '--log', w.log], { env: { ...process.env, ...w.env }, encoding: 'utf8' });
    assert.equal(existsSync(join(w.ws, 'later.txt')), false);
    assert.equal(readFileSync(join(w.ws, 'greet.txt'), 'utf8'), 'hello wrold\n');
    assert.equal(verify(w.log).code, 0);
    assert.equal(records(w.log).at(-1).event, 'undo');
  } finally {
    await ep.close();
  }
});

test('a non-interactive "ask" is refused and reported; --yes-to approves its category; --dry-run runs nothing', async () => {
  const w = world('ask');
  const push = [{ calls: [{ name: 'run_command', arguments: { command: 'git push --force origin main' } }] }, { content: 'ok' }];
  let ep = await scriptedEndpoint(push);
  let category;
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, 'push it'], w.env);
    assert.equal(r.code, 0, r.stderr);
    const a = records(w.log).find((x) => x.event === 'action');
    assert.equal(a.verdict, 'ask');
    assert.equal(a.decision, 'deny');
    assert.equal(a.executed, false);
    assert.match(a.note, /no terminal/);
    assert.match(ep.requests[1].messages.at(-1).content, /REFUSED/);
    category = a.category;
  } finally {
    await ep.close();
  }
  // the operator pre-approves that category: it runs (in the sandbox: no repository, no network)
  ep = await scriptedEndpoint(push);
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, '--yes-to', category, 'push it'], w.env);
    assert.equal(r.code, 0, r.stderr);
    const a = records(w.log).filter((x) => x.event === 'action').at(-1);
    assert.equal(a.decision, 'allow');
    assert.equal(a.decider, 'operator');
    assert.equal(a.executed, true);
    assert.notEqual(a.exit_status, 0); // not a git repository
  } finally {
    await ep.close();
  }
  // dry run: classified and logged, nothing runs (the file stays)
  ep = await scriptedEndpoint([{ calls: [{ name: 'write_file', arguments: { path: 'new.txt', content: 'x' } }] }, { content: 'ok' }]);
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, '--dry-run', 'write'], w.env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(join(w.ws, 'new.txt')), false);
    const a = records(w.log).filter((x) => x.event === 'action').at(-1);
    assert.equal(a.executed, false);
    assert.equal(a.dry_run, true);
  } finally {
    await ep.close();
  }
  assert.equal(verify(w.log).code, 0);
});

test('--second-opinion may raise a decision, never lower it', async () => {
  const w = world('second');
  const ls = { calls: [{ name: 'list_dir', arguments: { path: '.' } }] };
  const rm = { calls: [{ name: 'run_command', arguments: { command: 'rm -rf /' } }] };
  // the model says deny on a routine action: raised, refused, decider "model"
  let ep = await scriptedEndpoint([ls, { content: 'ok' }], { judge: 'deny' });
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, '--second-opinion', 'look'], w.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(ep.judged.length, 1);
    assert.equal(ep.judged[0].response_format.type, 'json_schema');
    const a = records(w.log).filter((x) => x.event === 'action').at(-1);
    assert.equal(a.verdict, 'allow'); // the guard's
    assert.equal(a.verdict_raised_by, 'model');
    assert.equal(a.raised_to, 'deny');
    assert.equal(a.decision, 'deny');
    assert.equal(a.decider, 'model');
    assert.equal(a.second_opinion.decision, 'deny');
  } finally {
    await ep.close();
  }
  // the model says allow on a denied action: not even asked, still denied
  ep = await scriptedEndpoint([rm, { content: 'ok' }], { judge: 'allow' });
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, '--second-opinion', 'go'], w.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(ep.judged.length, 0);
    const a = records(w.log).filter((x) => x.event === 'action').at(-1);
    assert.equal(a.decision, 'deny');
    assert.equal(a.decider, 'rule');
  } finally {
    await ep.close();
  }
  // allow + allow stays allow
  ep = await scriptedEndpoint([ls, { content: 'ok' }], { judge: 'allow' });
  try {
    await runAgent(['--url', ep.url, '--workspace', w.ws, '--second-opinion', 'look'], w.env);
    const a = records(w.log).filter((x) => x.event === 'action').at(-1);
    assert.equal(a.decision, 'allow');
    assert.equal(a.second_opinion.decision, 'allow');
    assert.equal(a.verdict_raised_by, undefined);
  } finally {
    await ep.close();
  }
  assert.equal(verify(w.log).code, 0);
});

test('the audit log and the snapshots are protected: writing them is denied', async () => {
  const w = world('protected');
  // a log and a state directory of the operator's choosing, outside $HEARTH_HOME
  w.log = join(w.dir, 'logs', 'audit.jsonl');
  const state = join(w.dir, 'state');
  const ep = await scriptedEndpoint([
    { calls: [{ name: 'write_file', arguments: { path: w.log, content: '' } }] },
    { calls: [{ name: 'run_command', arguments: { command: `truncate -s 0 ${w.log}` } }] },
    { calls: [{ name: 'write_file', arguments: { path: join(state, 'last-session'), content: 'x' } }] },
    { content: 'ok' },
  ]);
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, '--log', w.log, '--state', state, 'x'], w.env);
    assert.equal(r.code, 4, r.stdout + r.stderr); // 3 refusals in a row
    const acts = records(w.log).filter((x) => x.event === 'action');
    assert.deepEqual(acts.map((a) => a.verdict), ['deny', 'deny', 'deny']);
    assert.equal(verify(w.log).code, 0);
  } finally {
    await ep.close();
  }
});

test('repeated refusals end the session; the step limit ends it too', async () => {
  const w = world('limits');
  const rm = { calls: [{ name: 'run_command', arguments: { command: 'rm -rf /' } }] };
  let ep = await scriptedEndpoint([rm, rm, rm, rm, rm]);
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, 'go'], w.env);
    assert.equal(r.code, 4, r.stdout + r.stderr);
    assert.equal(ep.requests.length, 3);
    assert.equal(records(w.log).at(-1).reason, '3 refusals in a row');
  } finally {
    await ep.close();
  }
  const ls = { calls: [{ name: 'list_dir', arguments: { path: '.' } }] };
  ep = await scriptedEndpoint([ls, ls, ls, ls, ls]);
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, '--max-steps', '2', 'go'], w.env);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.equal(records(w.log).filter((x) => x.event === 'action').length >= 2, true);
    assert.equal(records(w.log).at(-1).reason, 'step limit');
  } finally {
    await ep.close();
  }
  assert.equal(verify(w.log).code, 0);
});

test('hostile model output: bad JSON arguments, unknown tools, huge arguments do not crash it', async () => {
  const w = world('hostile');
  const srv = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const n = (srv.n = (srv.n ?? 0) + 1);
      const chunk = (delta, fin = null) => `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: fin }] })}\n\n`;
      if (n === 1) {
        res.write(chunk({ tool_calls: [{ index: 0, id: 'a', function: { name: 'read_file', arguments: '{"path": ' } }] }));
        res.write(chunk({ tool_calls: [{ index: 1, id: 'b', function: { name: 'send_email', arguments: '{"to":"x@y.z"}' } }] }));
        res.write(chunk({ tool_calls: [{ index: 99, id: 'c', function: { name: 'read_file', arguments: '{}' } }] }));
        res.write('data: {not json}\n\n: comment\n\n');
        res.write(chunk({ tool_calls: [{ index: 2, id: 'd', function: { name: 'write_file', arguments: JSON.stringify({ path: 'big.txt', content: 'y'.repeat(200_000) }) } }] }));
        res.end('data: [DONE]\n\n');
      } else {
        // terminal escape sequences (C0 and UTF-8 C1) must not reach the person's terminal
        res.end(chunk({ content: 'done\u001b]0;pwned\u0007\u009b31m' }, 'stop') + 'data: [DONE]\n\n');
      }
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const r = await runAgent(['--url', `http://127.0.0.1:${srv.address().port}`, '--workspace', w.ws, 'go'], w.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const acts = records(w.log).filter((x) => x.event === 'action');
    assert.equal(acts.length, 3, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /[\u001b\u0007\u009b]/);
    assert.match(r.stdout, /done\?\]0;pwned\?\?31m/);
    assert.equal(acts[0].rule, 'bad-arguments');
    assert.equal(acts[1].tool, 'send_email');
    assert.notEqual(acts[1].decision, 'allow'); // an unknown tool is at least ask
    assert.equal(readFileSync(join(w.ws, 'big.txt'), 'utf8').length, 200_000);
    assert.equal(verify(w.log).code, 0);
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

test('the log and state directory must be outside the workspace; https is refused clearly', async () => {
  const w = world('inside');
  let r = await runAgent(['--url', 'http://127.0.0.1:9', '--workspace', w.ws, '--log', join(w.ws, 'audit.jsonl'), 'x'], w.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /outside the workspace/);
  r = await runAgent(['--url', 'https://example.com', '--workspace', w.ws, 'x'], w.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /https is not supported/);
  // no bubblewrap to be found: the agent refuses to start rather than run commands unconfined
  const ep = await scriptedEndpoint([{ content: 'ok' }]);
  try {
    r = await runAgent(['--url', ep.url, '--workspace', w.ws, 'x'], { ...w.env, PATH: '/nonexistent' }, { sandbox: false });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bubblewrap \(bwrap\) cannot run here.*--no-sandbox/s);
    assert.equal(ep.requests.length, 0);
  } finally {
    await ep.close();
  }
});

// ---- against hearth serve: the guard route and a real (random-weights) model ----

const VOCAB = vocab('qwen2'); // carried in tests/data (fixtures.mjs): never skipped
let served;
test('POST /v1/guard/check and the agent against a real served model', async () => {
  const w = world('served');
  const model = join(w.dir, 'tiny-qwen3.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny-qwen3', '--type', 'q8_0', '--vocab', VOCAB, model], { stdio: 'ignore' });
  served = await startServer([model, '--name', 'tq3', '--ctx', '2048', '--guard-workspace', w.ws]);
  try {
    const check = (body, ctype = 'application/json') =>
      fetch(`${served.url}/v1/guard/check`, { method: 'POST', headers: { 'content-type': ctype }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    let res = await check({ tool: 'run_command', arguments: { command: 'rm -rf /' } });
    assert.equal(res.status, 200);
    let v = await res.json();
    assert.equal(v.decision, 'deny');
    assert.ok(v.rule && v.reason);
    res = await check({ tool: 'read_file', arguments: { path: 'greet.txt' } });
    assert.equal((await res.json()).decision, 'allow');
    // arguments as OpenAI tool calls carry them: a string holding the object
    res = await check({ tool: 'run_command', arguments: JSON.stringify({ command: 'rm -rf ~' }) });
    assert.equal((await res.json()).decision, 'deny');
    res = await check({ tool: 'read_file', arguments: { path: 'greet.txt' }, workspace: '/' });
    assert.equal(res.status, 403); // only the server's workspace or one under it
    for (const bad of ['{', '[]', '{"tool": 5}', '{"tool": "x", "arguments": []}', '{"tool": "x", "arguments": "[1]"}', '{"tool": "x", "arguments": "{bad"}', '{"arguments": {}}']) {
      res = await check(bad);
      assert.equal(res.status, 400, bad);
      assert.ok((await res.json()).error.message);
    }
    res = await check('{"tool":"read_file"}', 'text/plain');
    assert.equal(res.status, 415);
    // the agent against the served model: whatever a random model says, it ends and logs it all
    const r = await runAgent(['--url', served.url, '--workspace', w.ws, '--max-steps', '3', '--max-tokens', '48', '--second-opinion', 'List the files.'], w.env);
    assert.ok([0, 3, 4].includes(r.code), r.stdout + r.stderr);
    const recs = records(w.log);
    assert.equal(recs[0].event, 'session_start');
    assert.equal(recs.at(-1).event, 'session_end');
    const shown = (r.stdout.match(/^-> /gm) ?? []).length;
    assert.equal(recs.filter((x) => x.event === 'action').length, shown);
    assert.equal(verify(w.log).code, 0);
    // tool_choice required: the served model must call tools (its grammar makes the calls
    // well-formed); each streamed call reaches the guard, is decided and logged
    // tool_choice required, and the operator's --extra-body narrows the tools to enums (a random
    // model's free strings never end within max_tokens): the served model must pick among reading,
    // listing, running the tests and `rm -rf ~`. Its streamed calls reach the guard, run or are
    // refused, and are logged; whatever it picks, the canaries survive.
    const fn = (name, props) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: props, required: Object.keys(props) } } });
    const tools = [
      fn('list_dir', { path: { type: 'string', enum: ['.'] } }),
      fn('read_file', { path: { type: 'string', enum: ['greet.txt', 'test.sh'] } }),
      fn('run_command', { command: { type: 'string', enum: ['sh test.sh', 'rm -rf ~', 'rm -rf /'] } }),
    ];
    const before = records(w.log).length;
    const extra = JSON.stringify({ enable_thinking: false, seed: 7, tools });
    const r2 = await runAgent(['--url', served.url, '--workspace', w.ws, '--max-steps', '6', '--max-tokens', '64', '--tool-choice', 'required', '--extra-body', extra, 'Look around.'], w.env);
    if (process.env.AGENT_TEST_SHOW) console.log(r2.stdout);
    assert.ok([0, 3, 4].includes(r2.code), r2.stdout + r2.stderr);
    const acts = records(w.log).slice(before).filter((x) => x.event === 'action');
    assert.ok(acts.length >= 1, r2.stdout + r2.stderr);
    assert.equal(acts.length, (r2.stdout.match(/^-> /gm) ?? []).length);
    for (const a of acts.filter((x) => x.tool === 'run_command' && x.arguments.command.startsWith('rm'))) {
      assert.equal(a.decision, 'deny');
      assert.equal(a.executed, false);
    }
    assert.equal(readFileSync(join(w.home, 'canary.txt'), 'utf8'), 'home canary\n');
    assert.equal(readFileSync(join(w.outside, 'canary.txt'), 'utf8'), 'outside canary\n');
    for (const a of acts) {
      assert.ok(['allow', 'deny'].includes(a.decision));
      assert.ok(a.rule);
    }
    assert.equal(verify(w.log).code, 0);
  } finally {
    await served.stop();
  }
  // --model FILE without --url: the agent serves the model itself on loopback, and stops it
  const r = await runAgent(['--model', model, '--ctx', '2048', '--workspace', w.ws, '--max-steps', '2', '--max-tokens', '32', 'List the files.'], w.env);
  assert.ok([0, 3, 4].includes(r.code), r.stdout + r.stderr);
  const start = records(w.log).filter((x) => x.event === 'session_start').at(-1);
  assert.match(start.endpoint, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  assert.equal(start.model, 'agent');
  assert.equal(verify(w.log).code, 0);
});

// `ask` at a terminal: `script` gives the agent a pseudo-terminal; the prompt shows the exact
// action (arguments, the guard's parsed form, the resolved path, a diff) and waits for y/N.
test('ask at a terminal shows the exact action and waits for y/N', { skip: !existsSync('/usr/bin/script') && 'no script(1)' }, async () => {
  const w = world('tty');
  const target = join(w.outside, 'note.txt');
  const write = [{ calls: [{ name: 'write_file', arguments: { path: target, content: 'approved\n' } }] }, { content: 'ok' }];
  for (const answer of ['y', 'n']) {
    const ep = await scriptedEndpoint(write);
    try {
      const cmd = [BIN, 'agent', ...(BWRAP_OK ? [] : ['--no-sandbox']), '--url', ep.url, '--workspace', w.ws, 'write a note'].map((a) => `'${a}'`).join(' ');
      const r = await new Promise((resolve) => {
        const p = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...w.env }, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (d) => {
          out += d;
          if (/Allow this action\? \[y\/N\]/.test(out) && !p.answered) {
            p.answered = true;
            p.stdin.write(`${answer}\n`);
          }
        });
        const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
        p.on('exit', (code) => {
          clearTimeout(t);
          resolve({ code, out });
        });
      });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /the guard asks/);
      assert.match(r.out, /OUTSIDE the workspace/);
      assert.match(r.out, /\+approved/); // the diff
      const a = records(w.log).filter((x) => x.event === 'action').at(-1);
      assert.equal(a.verdict, 'ask');
      assert.equal(a.decider, 'person');
      if (answer === 'y') {
        assert.equal(a.decision, 'allow');
        assert.equal(readFileSync(target, 'utf8'), 'approved\n');
        rmSync(target);
      } else {
        assert.equal(a.decision, 'deny');
        assert.equal(existsSync(target), false);
      }
    } finally {
      await ep.close();
    }
  }
  assert.equal(verify(w.log).code, 0);
});

test('--index DB offers search_context: the model gets the passages of a hearth index', async () => {
  const w = world('context');
  const notes = join(w.dir, 'notes');
  mkdirSync(notes, { recursive: true });
  writeFileSync(join(notes, 'key.txt'), 'Grandmother keeps the spare house key under the blue flowerpot.\n');
  writeFileSync(join(notes, 'other.txt'), 'garden river stone bridge cloud apple window\n');
  const model = join(w.dir, 'bge.gguf'), db = join(w.dir, 'idx.db');
  execFileSync(BIN, ['make-model', '--shape', 'tiny-bert', '--type', 'f32', '--vocab', vocab('bert-bge'), '--seed', '1', model], { stdio: 'ignore' });
  execFileSync(BIN, ['index', notes, '--model', model, '--db', db], { stdio: 'ignore' });
  const q = 'Grandmother keeps the spare house key under the blue flowerpot.';
  const ep = await scriptedEndpoint([{ calls: [{ name: 'search_context', arguments: { query: q, k: 2 } }] }, { content: 'Under the blue flowerpot.' }]);
  try {
    const r = await runAgent(['--url', ep.url, '--workspace', w.ws, '--index', db, 'where is the key?'], w.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(ep.requests[0].tools.some((t) => t.function.name === 'search_context'));
    const tool = ep.requests[1].messages.at(-1);
    assert.equal(tool.role, 'tool');
    assert.match(tool.content, /^\[1\] key\.txt:1-1 \(score 1\.000\)\nGrandmother keeps/);
    assert.match(tool.content, /\[2\] other\.txt/);
    const a = records(w.log).filter((x) => x.event === 'action').at(-1);
    assert.equal(a.decision, 'allow');
  } finally {
    await ep.close();
  }
  // without --index the tool is not offered
  const ep2 = await scriptedEndpoint([{ content: 'ok' }]);
  try {
    await runAgent(['--url', ep2.url, '--workspace', w.ws, 'hi'], w.env);
    assert.ok(!ep2.requests[0].tools.some((t) => t.function.name === 'search_context'));
  } finally {
    await ep2.close();
  }
});
