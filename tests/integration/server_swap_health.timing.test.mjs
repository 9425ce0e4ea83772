// Swaps load off the HTTP threads (issue 12): /health stays fast while 4 swaps load. A timing
// suite (*.timing.test.mjs): scripts/run-integration-tests.sh runs it alone, after the bulk.
// Models are generated (hearth make-model --shape tiny): no ../shared needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, sleep, rawRequest } from './server_helpers.mjs';

const NAME = 'tiny';
let dir, models, other, home;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-swaphealth-'));
  home = join(dir, 'home');
  mkdirSync(home);
  process.env.HEARTH_HOME = home; // the admin token file lives under $HEARTH_HOME/run
  models = join(dir, 'models');
  mkdirSync(models);
  other = join(models, 'tiny-q8.gguf');
  execFileSync(BIN, ['make-model', '--shape', 'tiny', join(models, 'tiny.gguf')], { stdio: 'ignore' });
  execFileSync(BIN, ['make-model', '--shape', 'tiny', '--type', 'q8_0', other], { stdio: 'ignore' });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const raw = rawRequest;

test('/health answers within 50 ms (median of 20) while 4 swaps load', async () => {
  const DELAY = 1500;
  process.env.HEARTH_TEST_LOAD_DELAY_MS = String(DELAY); // test hook: each swap's load takes 1.5 s longer
  let s2;
  try {
    s2 = await startServer([join(models, 'tiny.gguf'), '--name', NAME]);
  } finally {
    delete process.env.HEARTH_TEST_LOAD_DELAY_MS;
  }
  try {
    const tok = readFileSync(join(home, 'run', `admin-${s2.port}.token`), 'utf8').trim();
    const t0 = performance.now();
    const swaps = [other, join(models, 'tiny.gguf'), other, join(models, 'tiny.gguf')].map((p) =>
      raw(s2.port, 'POST', '/admin/swap', { 'content-type': 'application/json', 'x-hearth-admin': tok }, JSON.stringify({ name: NAME, path: p })).then((r) => ({ ...r, t: performance.now() - t0 })),
    );
    await sleep(100);
    const times = [];
    for (let i = 0; i < 20; i++) {
      const a = performance.now();
      const r = await fetch(`${s2.url}/health`);
      assert.equal(r.status, 200);
      await r.text();
      times.push(performance.now() - a);
      await sleep(25);
    }
    const tHealth = performance.now() - t0;
    // other routes answer too while the loads run
    const a = performance.now();
    assert.equal((await fetch(`${s2.url}/v1/models`)).status, 200);
    const modelsMs = performance.now() - a;
    const results = await Promise.all(swaps);
    for (const r of results) assert.equal(r.status, 200, r.body);
    times.sort((x, y) => x - y);
    const median = (times[9] + times[10]) / 2;
    const last = Math.max(...results.map((r) => r.t));
    console.log(`# /health during 4 swaps: median ${median.toFixed(2)} ms, max ${times[19].toFixed(2)} ms; /v1/models ${modelsMs.toFixed(2)} ms; swaps done after ${last.toFixed(0)} ms`);
    // the measurement happened while loads were running: they take 4 x DELAY in turn
    assert.ok(tHealth < last, `health probes (${tHealth} ms) ended before the swaps (${last} ms)`);
    assert.ok(last >= 4 * DELAY, `swaps done in ${last} ms`);
    assert.ok(median < 50, `/health median ${median} ms`);
  } finally {
    await s2.stop();
  }
});
