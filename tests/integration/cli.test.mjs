// The CLI's basic contract: usage, unknown commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const BIN = process.env.HEARTH_BIN;

test('hearth --help lists the subcommands', () => {
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const c of ['run', 'tokenize', 'inspect', 'template', 'make-model', 'quantize'])
    assert.match(r.stdout, new RegExp(`hearth ${c}`));
});

test('an unknown command is refused with exit code 2', () => {
  const r = spawnSync(BIN, ['frobnicate'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});
