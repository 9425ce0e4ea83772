// hearth's model store driven through the real binary, with HEARTH_HOME in a temporary folder:
// import / ls / show / cp / rm / verify / export round trip, a flipped byte caught by verify,
// hostile names refused, kill -9 at random points during import never leaving a manifest that
// points to a missing or partial blob, and no socket opened by store commands (strace, netns).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdtempSync, mkdirSync, readFileSync, writeFileSync, readdirSync, rmSync, chmodSync, existsSync,
  copyFileSync, statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL, vocab } from './fixtures.mjs';

const BIN = process.env.HEARTH_BIN;
let dir, model;

const sha256 = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');

function hearth(home, args, opts = {}) {
  return spawnSync(BIN, args, {
    encoding: 'utf8',
    env: { ...process.env, HEARTH_HOME: home },
    ...opts,
  });
}

function freshHome(tag) {
  const h = join(dir, `home-${tag}`);
  rmSync(h, { recursive: true, force: true });
  return h;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-store-'));
  model = join(dir, 'tiny.gguf');
  const r = spawnSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', '--vocab',
    vocab('llama-spm'), model], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('import, ls, show, cp, rm, verify, export round trip', () => {
  const home = freshHome('rt');
  let r = hearth(home, ['import', model]);
  assert.equal(r.status, 0, r.stderr);
  const defaultName = r.stdout.match(/^imported (\S+)$/m)[1];
  assert.match(defaultName, /^hearth-synthetic-tiny/);
  r = hearth(home, ['import', model, '--name', 'tiny:q8_0', '--copy']);
  assert.equal(r.status, 0, r.stderr);
  const blobs = readdirSync(join(home, 'blobs')).filter((f) => !f.startsWith('.'));
  assert.deepEqual(blobs, [`sha256-${sha256(model)}`], 'one blob, named by its hash');
  assert.equal(statSync(join(home, 'blobs')).mode & 0o777, 0o700);
  assert.equal(statSync(join(home, 'manifests', 'tiny:q8_0')).mode & 0o777, 0o600);

  r = hearth(home, ['ls']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^NAME +ARCH +PARAMS +QUANT +SIZE +CONTEXT +LICENSE$/m);
  assert.match(r.stdout, /^tiny:q8_0 +llama +17\.6M +Q8_0 +19\.4 MB +512 +-$/m);
  assert.ok(r.stdout.includes(defaultName));

  r = hearth(home, ['show', 'tiny:q8_0']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^sha256: +${sha256(model)}$`, 'm'));
  assert.match(r.stdout, /^architecture: +llama$/m);
  assert.match(r.stdout, /^ {2}llama\.block_count = 2$/m);
  assert.match(r.stdout, /^ {2}tokenizer\.ggml\.tokens = \[32000 × string\]$/m);

  r = hearth(home, ['cp', 'tiny:q8_0', 'tiny:copy']);
  assert.equal(r.status, 0, r.stderr);
  assert.notEqual(hearth(home, ['cp', 'tiny:q8_0', 'tiny:copy']).status, 0, 'cp onto existing');
  r = hearth(home, ['verify']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok +tiny:copy$/m);

  const out = join(dir, 'export-rt');
  mkdirSync(out);
  r = hearth(home, ['export', 'tiny:copy', out]);
  assert.equal(r.status, 0, r.stderr);
  const exported = join(out, 'tiny-copy.gguf');
  assert.ok(readFileSync(exported).equals(readFileSync(model)), 'byte-identical export');
  assert.notEqual(hearth(home, ['export', 'tiny:copy', out]).status, 0, 'no overwrite');
  assert.equal(spawnSync(BIN, ['inspect', exported]).status, 0);

  r = hearth(home, ['rm', 'tiny:q8_0', 'tiny:copy']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /removed tiny:copy \(0 blobs deleted\)/);
  r = hearth(home, ['rm', defaultName]);
  assert.match(r.stdout, /\(1 blob deleted\)/);
  assert.deepEqual(readdirSync(join(home, 'blobs')), []);
  assert.notEqual(hearth(home, ['show', 'tiny:q8_0']).status, 0);
  assert.ok(existsSync(model), 'the source is untouched');
});

test('a flipped byte in a blob is named by verify and blocks export', () => {
  const home = freshHome('flip');
  let r = hearth(home, ['import', model, '--name', 'm:1', '--copy']);
  assert.equal(r.status, 0, r.stderr);
  hearth(home, ['cp', 'm:1', 'm:2']);
  const digest = `sha256-${sha256(model)}`;
  const blob = join(home, 'blobs', digest);
  chmodSync(blob, 0o600);
  const buf = readFileSync(blob);
  buf[buf.length - 100] ^= 0x40; // same size, different content
  writeFileSync(blob, buf);
  r = hearth(home, ['verify']);
  assert.equal(r.status, 1);
  assert.match(r.stdout, new RegExp(`^CHANGED m:1: .*${digest} changed`, 'm'));
  assert.match(r.stdout, /^CHANGED m:2: /m);
  assert.equal(hearth(home, ['verify', 'm:2']).status, 1);
  const out = join(dir, 'export-flip');
  mkdirSync(out);
  assert.notEqual(hearth(home, ['export', 'm:1', out]).status, 0);
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.gguf')), []);
  // re-importing the good file repairs the blob
  r = hearth(home, ['import', model, '--name', 'm:1', '--copy']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(hearth(home, ['verify']).status, 0);
});

test('names with traversal or odd characters are refused', () => {
  const home = freshHome('names');
  const canary = join(dir, 'canary');
  writeFileSync(canary, 'keep');
  for (const bad of ['../canary', '../../canary', 'a/b', '..', '.hidden', '-rf', 'a b', 'a\x1bb',
    'a:b:c', 'x'.repeat(129), 'a..b']) {
    const r = hearth(home, ['import', model, '--name', bad, '--copy']);
    assert.notEqual(r.status, 0, `import --name ${JSON.stringify(bad)}`);
    assert.doesNotMatch(r.stderr, /\x1b/, 'no control bytes echoed');
    for (const cmd of [['show', bad], ['rm', bad], ['verify', bad], ['cp', bad, 'x'],
      ['export', bad, dir]])
      assert.notEqual(hearth(home, cmd).status, 0, `${cmd[0]} ${JSON.stringify(bad)}`);
  }
  assert.equal(readFileSync(canary, 'utf8'), 'keep');
  assert.deepEqual(existsSync(join(home, 'manifests')) ? readdirSync(join(home, 'manifests')) : [], []);
  // a manifest edited to reach outside the store is refused, not followed
  assert.equal(hearth(home, ['import', model, '--name', 'ok', '--copy']).status, 0);
  writeFileSync(join(home, 'manifests', 'ok'), JSON.stringify({
    schema: 1, name: 'ok', weights: { digest: 'sha256-../../canary', size: 4 },
  }));
  assert.notEqual(hearth(home, ['show', 'ok']).status, 0);
  assert.equal(hearth(home, ['verify']).status, 1);
  assert.equal(readFileSync(canary, 'utf8'), 'keep');
});

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// Every manifest names blobs that exist and hash to their names; every sha256-* file in blobs/
// hashes to its name (no partial blob ever looks valid).
function checkStore(home) {
  const mdir = join(home, 'manifests');
  const bdir = join(home, 'blobs');
  if (!existsSync(mdir)) return 0;
  let n = 0;
  for (const f of readdirSync(mdir)) {
    if (f.startsWith('.')) continue;
    const m = JSON.parse(readFileSync(join(mdir, f), 'utf8'));
    const blob = join(bdir, m.weights.digest);
    assert.ok(existsSync(blob), `manifest ${f} points to a missing blob`);
    assert.equal(`sha256-${sha256(blob)}`, m.weights.digest, `manifest ${f}: partial blob`);
    n++;
  }
  for (const f of readdirSync(bdir)) {
    if (f.startsWith('.tmp-')) continue;
    assert.match(f, /^sha256-[0-9a-f]{64}$/);
    assert.equal(`sha256-${sha256(join(bdir, f))}`, f, `blob ${f} does not match its name`);
  }
  return n;
}

test('kill -9 at random points during import never leaves a bad manifest or blob', async () => {
  const home = freshHome('kill');
  const base = readFileSync(model);
  // Time one uncontended import, then kill at uniformly random points over 1.2x that span, so
  // kills land in hashing, copying, fsync, rename and manifest writing, and some imports finish.
  let t = Date.now();
  assert.equal(hearth(freshHome('kill-timing'), ['import', model, '--copy']).status, 0);
  const span = Math.max(50, Math.round((Date.now() - t) * 1.2));
  const t0 = Date.now();
  let killed = 0, completed = 0, iterations = 0;
  for (let i = 0; i < 30 && Date.now() - t0 < 60000; i++, iterations++) {
    // A different file each time (the last tensor bytes carry i) so every import really copies.
    // Every 4th iteration imports a read-only file, which is hard-linked rather than copied; a
    // linked source shares the blob's inode, so it gets its own file that is never written again.
    const link = i % 4 === 3;
    const src = join(dir, link ? `kill-link-${i}.gguf` : `kill-${i % 3}.gguf`);
    base.writeUInt32LE(i, base.length - 4);
    writeFileSync(src, base);
    if (link) chmodSync(src, 0o444);
    const args = ['import', src, '--name', `k:${i}`];
    if (!link) args.push('--copy');
    const child = spawn(BIN, args, { env: { ...process.env, HEARTH_HOME: home }, stdio: 'ignore' });
    const exited = new Promise((res) => child.on('exit', (code, sig) => res({ code, sig })));
    await sleep(Math.floor(Math.random() * span));
    child.kill('SIGKILL');
    const { code, sig } = await exited;
    if (sig === 'SIGKILL') killed++;
    else { assert.equal(code, 0); completed++; }
    checkStore(home);
    const r = hearth(home, ['verify']);
    assert.equal(r.status, 0, `after iteration ${i}: ${r.stdout}${r.stderr}`);
    // Keep the store small (the checks re-hash everything): rm also collects orphaned blobs.
    if (existsSync(join(home, 'manifests', `k:${i}`)))
      assert.equal(hearth(home, ['rm', `k:${i}`]).status, 0);
  }
  assert.ok(iterations >= 10, `only ${iterations} iterations`);
  assert.ok(killed > 0, 'no import was ever killed');
  // The store stays usable: a later command cleans stale temporaries of the killed imports.
  const r = hearth(home, ['import', model, '--name', 'final', '--copy']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(join(home, 'blobs')).filter((f) => f.startsWith('.')), []);
  assert.ok(checkStore(home) >= 1);
  t = `kill -9 loop: ${iterations} iterations over ${span} ms, ${killed} killed, ${completed} completed`;
  process.stderr.write(`# ${t}\n`);
});

test('kill -9 during rm (garbage collection) never leaves a manifest without its blob', async () => {
  const home = freshHome('kill-rm');
  const base = readFileSync(MODEL);
  const t0 = Date.now();
  let killed = 0, iterations = 0;
  for (let i = 0; i < 8 && Date.now() - t0 < 30000; i++, iterations++) {
    // two models sharing one blob plus one with its own: rm of the own one must collect it,
    // rm of a sharer must keep the shared blob
    const src = join(dir, `rm-${i}.gguf`);
    base.writeUInt32LE(i, base.length - 4);
    writeFileSync(src, base);
    for (const [file, name] of [[model, `s:a${i}`], [model, `s:b${i}`], [src, `own:${i}`]])
      assert.equal(hearth(home, ['import', file, '--name', name, '--copy']).status, 0);
    const victims = i % 2 ? [`own:${i}`] : [`s:a${i}`, `own:${i}`];
    const child = spawn(BIN, ['rm', ...victims], { env: { ...process.env, HEARTH_HOME: home }, stdio: 'ignore' });
    const exited = new Promise((res) => child.on('exit', (code, sig) => res({ code, sig })));
    await sleep(Math.floor(Math.random() * 15));
    child.kill('SIGKILL');
    if ((await exited).sig === 'SIGKILL') killed++;
    checkStore(home);
    const r = hearth(home, ['verify']);
    assert.equal(r.status, 0, `after iteration ${i}: ${r.stdout}${r.stderr}`);
    assert.ok(existsSync(join(home, 'manifests', `s:b${i}`)));
  }
  assert.ok(iterations >= 3);
  // whatever the kills left, a completed rm leaves exactly the blobs still referenced
  const names = readdirSync(join(home, 'manifests')).filter((f) => !f.startsWith('.'));
  assert.equal(hearth(home, ['rm', ...names]).status, 0);
  assert.deepEqual(readdirSync(join(home, 'blobs')), []);
  process.stderr.write(`# kill -9 during rm: ${iterations} iterations, ${killed} killed\n`);
});

// The isolation proofs must run: a machine that cannot make a network namespace or lacks strace
// or ip fails them, saying why (scripts/deps.sh installs strace, iproute2, util-linux and curl).
// HEARTH_NETNS=0 is the one explicit opt-out (scripts/run-integration-tests.sh documents it).
function isolationProof(t, { loopback = false } = {}) {
  if (process.env.HEARTH_NETNS === '0') {
    t.skip('HEARTH_NETNS=0: the network-isolation proof is switched off');
    return false;
  }
  const how = ' (run scripts/deps.sh; or HEARTH_NETNS=0 to switch the proof off)';
  assert.equal(spawnSync('unshare', ['-n', 'true']).status, 0,
    'unshare -n is not permitted here (needs root or a user namespace)' + how);
  assert.equal(spawnSync('strace', ['-V']).status, 0, 'strace is not installed' + how);
  if (loopback) {
    assert.equal(spawnSync('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'up']).status, 0,
      'cannot bring up loopback in a network namespace (ip from iproute2)' + how);
    assert.equal(spawnSync('curl', ['--version']).status, 0, 'curl is not installed' + how);
  }
  return true;
}

// scripts/run-integration-tests.sh runs every suite in a namespace of its own (HEARTH_IN_NETNS=1):
// check that it really has no interface but loopback (/proc/net/dev is this process's namespace).
test('the suites run in a network namespace with loopback only', (t) => {
  if (process.env.HEARTH_NETNS === '0') return t.skip('HEARTH_NETNS=0: the network-isolation proof is switched off');
  if (process.env.HEARTH_IN_NETNS !== '1') return t.skip('not started by scripts/run-integration-tests.sh');
  const ifaces = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)
    .map((l) => l.split(':')[0].trim()).filter(Boolean);
  assert.deepEqual(ifaces, ['lo']);
});

test('store commands open no sockets (strace inside an empty network namespace)', (t) => {
  if (!isolationProof(t)) return;
  const home = freshHome('net');
  const out = join(dir, 'export-net');
  mkdirSync(out);
  const src = join(dir, 'net.gguf');
  copyFileSync(model, src);
  const cmds = [['import', src, '--name', 'n:1', '--copy'], ['import', src, '--name', 'n:2'],
    ['ls'], ['show', 'n:1'], ['cp', 'n:1', 'n:3'], ['verify'], ['export', 'n:3', out],
    ['rm', 'n:2']];
  for (const [i, cmd] of cmds.entries()) {
    const log = join(dir, `strace-${i}.log`);
    const r = spawnSync('unshare', ['-n', 'strace', '-f', '-qq', '-o', log, '-e',
      'trace=socket,connect,bind,listen,sendto', BIN, ...cmd], {
      // LeakSanitizer cannot run under ptrace, should HEARTH_BIN be an ASan build
      encoding: 'utf8', env: { ...process.env, HEARTH_HOME: home, ASAN_OPTIONS: 'detect_leaks=0' },
    });
    assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`);
    const calls = readFileSync(log, 'utf8').split('\n').filter((l) => /\b(socket|connect|bind|listen|sendto)\(/.test(l));
    assert.deepEqual(calls, [], `hearth ${cmd[0]} made network calls`);
  }
});

test('hearth serve loads a store name and opens no socket but its listener (netns + strace)', (t) => {
  if (!/hearth serve/.test(spawnSync(BIN, ['--help'], { encoding: 'utf8' }).stdout))
    return t.skip('this build has no `hearth serve`');
  if (!isolationProof(t, { loopback: true })) return;
  const home = freshHome('serve');
  const src = join(dir, 'serve.gguf');
  copyFileSync(MODEL, src);
  assert.equal(hearth(home, ['import', src, '--name', 'story:260k', '--copy']).status, 0);
  const log = join(dir, 'serve-strace.log'), err = join(dir, 'serve.err'), models = join(dir, 'models.json');
  // Everything runs inside the namespace: the server, and curl as its only client.
  const script = `
    ip link set lo up
    strace -f -qq -o "$LOG" -e trace=socket,connect,bind,listen "$BIN" serve story:260k --host 127.0.0.1 --port 0 2>"$ERR" &
    sp=$!
    for i in $(seq 1 300); do grep -q 'listening on' "$ERR" && break; sleep 0.1; done
    port=$(sed -n 's/.*listening on http:\\/\\/127\\.0\\.0\\.1:\\([0-9]*\\).*/\\1/p' "$ERR" | head -1)
    for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/v1/models" >"$MODELS"; rc=$?
    hp=$(cat /proc/$sp/task/$sp/children)   # hearth, traced by strace ($sp)
    kill -TERM $hp; wait $sp
    exit $rc`;
  const r = spawnSync('unshare', ['-n', 'bash', '-c', script], {
    encoding: 'utf8', timeout: 90_000,
    env: { ...process.env, HEARTH_HOME: home, LOG: log, ERR: err, MODELS: models, BIN,
      ASAN_OPTIONS: 'detect_leaks=0' },
  });
  assert.equal(r.status, 0, `serve in netns: ${r.stderr}\n${existsSync(err) ? readFileSync(err, 'utf8') : ''}`);
  assert.match(readFileSync(models, 'utf8'), /story:260k/);
  const lines = readFileSync(log, 'utf8').split('\n');
  assert.deepEqual(lines.filter((l) => /\bconnect\(/.test(l)), [], 'hearth serve connected somewhere');
  const binds = lines.filter((l) => /\bbind\(/.test(l));
  assert.ok(binds.length >= 1, 'the listener was bound');
  for (const b of binds) assert.match(b, /127\.0\.0\.1/, `bind to something but loopback: ${b}`);
});

test('hearth serve --verify refuses a store model whose blob changed', (t) => {
  if (!/hearth serve/.test(spawnSync(BIN, ['--help'], { encoding: 'utf8' }).stdout))
    return t.skip('this build has no `hearth serve`');
  const home = freshHome('serve-verify');
  const src = join(dir, 'serve-verify.gguf');
  copyFileSync(MODEL, src);
  assert.equal(hearth(home, ['import', src, '--name', 'sv:1', '--copy']).status, 0);
  const blob = join(home, 'blobs', `sha256-${sha256(src)}`);
  chmodSync(blob, 0o600);
  const buf = readFileSync(blob);
  buf[buf.length - 10] ^= 1;
  writeFileSync(blob, buf);
  const r = hearth(home, ['serve', 'sv:1', '--verify', '--host', '127.0.0.1', '--port', '0'],
    { timeout: 30_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /changed/);
  const n = hearth(home, ['serve', 'no-such-model', '--host', '127.0.0.1', '--port', '0'], { timeout: 30_000 });
  assert.equal(n.status, 1);
  assert.match(n.stderr, /no model named 'no-such-model'/);
});
