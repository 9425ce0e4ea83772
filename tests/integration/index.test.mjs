// hearth index / hearth search: a generated corpus of 1,000 files with planted passages, indexed
// with tiny-bert (seed 1); search finds every planted passage first; a second run re-embeds
// nothing; a changed, a new and a deleted file are handled; a run killed midway leaves a
// database the next run completes without re-embedding the files it finished; --rerank reorders
// with the cross-encoder. (The random-weight model cannot test semantic quality: the queries are
// the planted passages themselves, each alone in its own file, so the right chunk scores 1.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN, vocab } from './server_helpers.mjs';

const WORDS = 'garden river stone bridge cloud apple window music paper light forest code table lamp door'.split(' ');
const PLANTED = [
  'The purple elephant sings opera in Lisbon every Tuesday.',
  'Invoice 4471 was paid twice by the accounting robot.',
  'Grandmother keeps the spare house key under the blue flowerpot.',
  'def frobnicate(widget): return widget.spin(42)',
];
let dir, corpus, model, reranker;

function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-index-'));
  corpus = join(dir, 'notes');
  const r = rng(7);
  for (let i = 0; i < 1000; i++) {
    const sub = join(corpus, `d${i % 10}`);
    mkdirSync(sub, { recursive: true });
    const paras = [];
    for (let p = 0; p < 1 + Math.floor(r() * 3); p++)
      paras.push(Array.from({ length: 8 + Math.floor(r() * 40) }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' '));
    writeFileSync(join(sub, `n${i}.md`), paras.join('\n\n') + '\n');
  }
  PLANTED.forEach((p, i) => writeFileSync(join(corpus, `d${i}`, `planted${i}.txt`), p + '\n'));
  writeFileSync(join(corpus, 'blob.bin'), Buffer.from([0, 1, 2, 0, 255]));
  mkdirSync(join(corpus, '.git'));
  writeFileSync(join(corpus, '.git', 'HEAD'), PLANTED[0]);
  model = join(dir, 'bge.gguf');
  reranker = join(dir, 'rr.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny-bert', '--type', 'f32', '--vocab', vocab('bert-bge'), '--seed', '1', model], { stdio: 'ignore' });
  execFileSync(BIN, ['make-model', '--shape', 'tiny-bert-reranker', '--type', 'f32', '--vocab', vocab('bert-bge'), '--seed', '1', reranker], { stdio: 'ignore' });
});

after(() => dir && rmSync(dir, { recursive: true, force: true }));

const run = (args, env = {}) => spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, ...env } });
const stats = (stderr) => {
  const m = /(\d+) files: (\d+) embedded \((\d+) chunks, \d+ tokens\), (\d+) unchanged, (\d+) removed, (\d+) skipped/.exec(stderr);
  assert.ok(m, stderr);
  return { files: +m[1], embedded: +m[2], chunks: +m[3], unchanged: +m[4], removed: +m[5], skipped: +m[6] };
};
const search = (db, q, extra = []) => {
  const r = run(['search', q, '--db', db, '--json', ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
};

test('index 1,000 files, find planted passages, re-run embeds nothing, changes are picked up', () => {
  const db = join(dir, 'a.db');
  const r1 = run(['index', corpus, '--model', model, '--db', db, '-t', '2']);
  assert.equal(r1.status, 0, r1.stderr);
  const s1 = stats(r1.stderr);
  assert.equal(s1.files, 1004);
  assert.equal(s1.embedded, 1004);
  assert.equal(s1.skipped, 1); // blob.bin; .git is hidden
  PLANTED.forEach((p, i) => {
    const hits = search(db, p);
    assert.equal(hits.length, 5);
    assert.equal(hits[0].path, `d${i}/planted${i}.txt`, JSON.stringify(hits[0]));
    assert.ok(hits[0].score > 0.9999);
    assert.equal(hits[0].line_start, 1);
    assert.equal(hits[0].text.trim(), p);
    assert.ok(hits[1].score < hits[0].score);
  });
  const r2 = run(['index', corpus, '--model', model, '--db', db]);
  const s2 = stats(r2.stderr);
  assert.deepEqual([s2.embedded, s2.unchanged, s2.removed], [0, 1004, 0]);
  writeFileSync(join(corpus, 'd5', 'n5.md'), 'A brand new note about the moon.\n');
  writeFileSync(join(corpus, 'd6', 'new.txt'), 'Another fresh note.\n');
  unlinkSync(join(corpus, 'd0', 'planted0.txt'));
  const s3 = stats(run(['index', corpus, '--model', model, '--db', db]).stderr);
  assert.deepEqual([s3.embedded, s3.unchanged, s3.removed], [2, 1002, 1]);
  assert.equal(search(db, 'A brand new note about the moon.')[0].path, 'd5/n5.md');
  assert.notEqual(search(db, PLANTED[0])[0].path, 'd0/planted0.txt');
  writeFileSync(join(corpus, 'd0', 'planted0.txt'), PLANTED[0] + '\n');
  // another model is refused rather than mixing vectors
  const bad = run(['index', corpus, '--model', reranker, '--db', db]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /not an embedding model|built with/);
  // --rerank re-scores the candidates with the cross-encoder (k results, sorted by its score)
  const rr = search(db, PLANTED[1], ['--rerank', reranker, '-k', '3']);
  assert.equal(rr.length, 3);
  assert.ok(rr[0].score >= rr[1].score && rr[1].score >= rr[2].score);
});

test('a run killed midway: the next one completes without re-embedding finished files', async () => {
  const db = join(dir, 'k.db');
  const child = spawn(BIN, ['index', corpus, '--model', model, '--db', db, '-v'], {
    env: { ...process.env, HEARTH_TEST_INDEX_DELAY_MS: '5' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '', done = 0;
  await new Promise((resolve) => {
    child.stderr.on('data', (d) => {
      err += d;
      done = (err.match(/embedded /g) || []).length;
      if (done >= 200 && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', resolve);
  });
  assert.equal(child.signalCode, 'SIGKILL', 'killed before it finished');
  assert.ok(done >= 200 && done < 1000, `embedded ${done} before the kill`);
  const r = run(['index', corpus, '--model', model, '--db', db]);
  assert.equal(r.status, 0, r.stderr);
  const s = stats(r.stderr);
  // every file reported done before the kill was committed (at most one more may have been)
  assert.ok(s.unchanged >= done && s.unchanged <= done + 1, `${s.unchanged} unchanged after ${done} done`);
  assert.equal(s.unchanged + s.embedded, s.files); // (the first test added a file: 1005)
  assert.ok(s.embedded > 0);
  const again = stats(run(['index', corpus, '--model', model, '--db', db]).stderr);
  assert.equal(again.embedded, 0);
  assert.equal(search(db, PLANTED[2])[0].path, 'd2/planted2.txt');
});

test('errors: no model, not a folder, not an index', () => {
  assert.equal(run(['index', corpus]).status, 2);
  const nf = run(['index', join(dir, 'nope'), '--model', model, '--db', join(dir, 'x.db')]);
  assert.equal(nf.status, 1);
  assert.match(nf.stderr, /not a folder/);
  const ni = run(['search', 'q', '--db', join(dir, 'missing.db')]);
  assert.equal(ni.status, 1);
});
