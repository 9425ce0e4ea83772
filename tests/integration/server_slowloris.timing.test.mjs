// Slow and idle clients must not starve anybody: 1000 idle sockets (and 1000 with half a
// request line) stay open while /health and a real generation are timed; a client that dribbles
// its headers one byte at a time is cut at --request-timeout even though it is never idle; a
// silent one at --idle-timeout; --per-ip caps one address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';
import { startServer, MODEL, sleep } from './server_helpers.mjs';

const NAME = 'stories';
let srv;

before(async () => {
  srv = await startServer([MODEL, '--name', NAME, '--idle-timeout', '3', '--request-timeout', '4', '--slots', '2']);
});
after(async () => {
  await srv?.stop();
});

function open(port, first) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (first) s.write(first);
      resolve(s);
    });
    s.on('error', () => resolve(s));
  });
}

async function timedHealth(url) {
  const t = performance.now();
  const r = await fetch(`${url}/health`);
  await r.text();
  return { status: r.status, ms: performance.now() - t };
}

// The median of a few, so one scheduling hiccup on a loaded 2-core machine does not decide it.
async function medianHealth(url, n = 7) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const h = await timedHealth(url);
    assert.equal(h.status, 200);
    ms.push(h.ms);
  }
  ms.sort((a, b) => a - b);
  return ms[n >> 1];
}

function closedWithin(sock, ms) {
  return new Promise((resolve) => {
    if (sock.destroyed || sock.readyState === 'closed') return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    sock.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

test('1000 idle and 1000 half-request sockets: /health stays fast, generation still works', async (t) => {
  await timedHealth(srv.url); // warm the client's connection machinery
  const idle = [];
  for (let i = 0; i < 1000; i++) idle.push(await open(srv.port));
  const half = [];
  for (let i = 0; i < 1000; i++) half.push(await open(srv.port, 'GET /health HTTP/1.1\r\nHost: localhost\r\n'));
  try {
    const med = await medianHealth(srv.url);
    t.diagnostic(`/health median with 2000 slow sockets open: ${med.toFixed(1)} ms`);
    assert.ok(med < 100, `/health median ${med.toFixed(1)} ms with 2000 slow sockets open (want < 100 ms)`);
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await client.completions.create({ model: NAME, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    assert.equal(r.usage.completion_tokens, 8);
    // still open: nothing here was cut early
    const alive = idle.filter((s) => !s.destroyed).length;
    assert.ok(alive > 900, `${alive} idle sockets still open`);
  } finally {
    for (const s of [...idle, ...half]) s.destroy();
  }
});

test('a client dribbling its headers is cut at --request-timeout; a silent one at --idle-timeout', async () => {
  const drib = await open(srv.port, 'G');
  const req = 'ET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'a'.repeat(200);
  let i = 0, answered = '';
  drib.on('data', (d) => (answered += d));
  const timer = setInterval(() => {
    if (!drib.destroyed && i < req.length) drib.write(req[i++]);
  }, 500); // never idle for long, never done
  const silent = await open(srv.port);
  const t0 = performance.now();
  try {
    assert.ok(await closedWithin(silent, 8000), 'silent socket closed');
    const tSilent = performance.now() - t0;
    assert.ok(tSilent > 2000, `silent socket closed after ${tSilent.toFixed(0)} ms (idle timeout 3 s)`);
    assert.ok(await closedWithin(drib, 8000), 'dribbling socket closed');
    const tDrib = performance.now() - t0;
    assert.ok(tDrib > 3000 && tDrib < 9000, `dribbler cut after ${tDrib.toFixed(0)} ms (request timeout 4 s)`);
    assert.ok(i < req.length, 'the dribbler never finished its request');
    assert.equal(answered, '', 'the dribbler got no answer');
  } finally {
    clearInterval(timer);
    drib.destroy();
    silent.destroy();
  }
  assert.equal((await timedHealth(srv.url)).status, 200);
});

test('a streaming generation is not cut by the request or idle timeouts', async () => {
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'x', maxRetries: 0 });
  // a slow reader: the request is complete, so neither deadline applies while tokens flow
  const stream = await client.completions.create({ model: NAME, prompt: 'Once', max_tokens: 40, temperature: 0, stream: true });
  let n = 0;
  for await (const c of stream) {
    if (c.choices[0]?.text) n++;
    if (n === 3) await sleep(5000); // longer than both timeouts
  }
  assert.ok(n > 3);
});

test('--per-ip caps the connections of one address; the rest are refused, then it recovers', async () => {
  const s2 = await startServer([MODEL, '--name', NAME, '--per-ip', '20']);
  const socks = [];
  try {
    for (let i = 0; i < 40; i++) socks.push(await open(s2.port));
    await sleep(300);
    const closed = socks.filter((s) => s.destroyed || s.readyState === 'closed').length;
    assert.ok(closed >= 19, `${closed} of 40 connections over the limit of 20 were closed`);
    // (fetch could reuse the helper's kept-alive connection, so a fresh socket asks)
    const extra = await open(s2.port, 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    let got = '';
    extra.on('data', (d) => (got += d));
    assert.ok(await closedWithin(extra, 3000), 'a 41st connection from the same address is closed');
    assert.equal(got, '', 'and gets no answer');
  } finally {
    for (const s of socks) s.destroy();
  }
  await sleep(300);
  assert.equal((await timedHealth(s2.url)).status, 200);
  await s2.stop();
});
