// The one way an integration suite finds its data files (tests/data/README.md).
//
//   import { fixture, vocab, MODEL } from './fixtures.mjs';
//   fixture('chat-templates/cases.json'); vocab('qwen2'); // -> absolute paths
//
// A name is relative to the carried fixtures, $HEARTH_FIXTURES (scripts/run-integration-tests.sh
// sets it to the repository's tests/data; unset, the same folder found from this file). When the
// carried copy is absent, the same file in ../shared ($HEARTH_SHARED; its layout is models/,
// fixtures/vocab/, fixtures/chat-templates/) is used. When neither exists, fixture() throws: the
// suite FAILS, saying where it looked; a suite never skips for a missing fixture.
// fixtureOptional() is for extra coverage only ../shared gives: null when absent.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = resolve(process.env.HEARTH_FIXTURES || fileURLToPath(new URL('../data', import.meta.url)));
export const SHARED = resolve(process.env.HEARTH_SHARED || fileURLToPath(new URL('../../../shared', import.meta.url)));

const sharedName = (rel) => join(SHARED, /^(vocab|chat-templates)(\/|$)/.test(rel) ? 'fixtures' : '', rel);

export function fixtureOptional(rel) {
  for (const p of [join(FIXTURES, rel), sharedName(rel)]) if (existsSync(p)) return p;
  return null;
}

export function fixture(rel) {
  const p = fixtureOptional(rel);
  if (!p) {
    throw new Error(`fixture ${rel} not found: looked in ${join(FIXTURES, rel)} and ${sharedName(rel)}` +
                    ' (HEARTH_FIXTURES, HEARTH_SHARED)');
  }
  return p;
}

export const vocab = (name) => fixture(`vocab/ggml-vocab-${name}.gguf`);
export const MODEL = fixture('models/stories260K.gguf');
export const REFERENCE = fixture('models/stories260K.reference.json');
