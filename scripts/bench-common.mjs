// bench-common.mjs — what the server benchmarks (bench-server.mjs, bench-embed.mjs) share:
// starting a server (hearth serve or llama-server) on a port it prints, waiting until its
// /health answers 200, saving the raw samples and running main.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

// Both servers print this line once they listen (port 0: the one the OS gave).
export const LISTENING_RE = /listening on http:\/\/127\.0\.0\.1:(\d+)/;

// Spawns cmd and resolves { proc, port } once its output matches readyRe (group 1: the port);
// rejects if it exits first or says nothing matching within 2 minutes.
export function start(cmd, args, readyRe = LISTENING_RE, env = process.env) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let log = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${cmd} did not start:\n${log}`)), 120_000);
    const on = (d) => {
      log += d;
      const m = readyRe.exec(log);
      if (m) {
        clearTimeout(timer);
        res({ proc, port: Number(m[1]) });
      }
    };
    proc.stdout.on('data', on);
    proc.stderr.on('data', on);
    proc.on('exit', (c) => {
      clearTimeout(timer);
      rej(new Error(`${cmd} exited (${c}):\n${log}`));
    });
  });
}

// proc (optional): the server's process; its exit ends the wait at once (a model that fails to
// load after the server printed its port).
export async function waitHealthy(url, proc = null) {
  for (const t0 = Date.now(); Date.now() - t0 < 120_000; ) {
    if (proc && proc.exitCode !== null) throw new Error(`${url}: the server exited (${proc.exitCode})`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never healthy`);
}

// start() then waitHealthy(): pushes the process onto procs (the caller stops them all at
// exit) and returns the server's base URL.
export async function startServer(procs, cmd, args, env = process.env) {
  const s = await start(cmd, args, LISTENING_RE, env);
  procs.push(s.proc);
  const url = `http://127.0.0.1:${s.port}`;
  await waitHealthy(url, s.proc);
  return url;
}

// The raw samples, best effort (a benchmark's printed table is its result; the JSON is extra).
export function saveJson(path, obj) {
  try {
    writeFileSync(path, JSON.stringify(obj, null, 1) + '\n');
  } catch {}
}

// Runs an async main; an error is printed and the process exits 1.
export function runMain(main) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
