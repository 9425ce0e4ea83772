// schema_gen.mjs — seeded generators of bounded JSON Schemas and tool sets, shared by the
// forced-call suites (server_tools, server_thinking), and a small concurrency pool.

export function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const WORDS = ['red', 'green', 'blue', 'north', 'south', 'cat', 'dog', 'ok', 'fail', 'x1'];

function leafSchema(rnd) {
  const pick = Math.floor(rnd() * 5);
  if (pick === 0) return { type: 'string', maxLength: 1 + Math.floor(rnd() * 6) };
  if (pick === 1) {
    const n = 2 + Math.floor(rnd() * 3);
    const start = Math.floor(rnd() * (WORDS.length - n));
    return { type: 'string', enum: WORDS.slice(start, start + n) };
  }
  if (pick === 2) {
    const lo = Math.floor(rnd() * 100) - 50;
    return { type: 'integer', minimum: lo, maximum: lo + 1 + Math.floor(rnd() * 200) };
  }
  if (pick === 3) return { type: 'boolean' };
  return { type: 'integer', minimum: 0, maximum: 9 };
}

function valueSchema(rnd, depth) {
  const r = rnd();
  if (depth < 1 && r < 0.2) return objectSchema(rnd, depth + 1, 2);
  if (r < 0.35) return { type: 'array', items: leafSchema(rnd), maxItems: 1 + Math.floor(rnd() * 2) };
  return leafSchema(rnd);
}

export function objectSchema(rnd, depth = 0, maxProps = 3) {
  const n = 1 + Math.floor(rnd() * maxProps);
  const properties = {};
  const required = [];
  for (let i = 0; i < n; i++) {
    const key = `p${i}`;
    properties[key] = valueSchema(rnd, depth);
    if (i === 0 || rnd() < 0.6) required.push(key);
  }
  return { type: 'object', properties, required, additionalProperties: false };
}

export function toolSet(rnd, k) {
  const n = 1 + Math.floor(rnd() * 3);
  const tools = [];
  for (let i = 0; i < n; i++)
    tools.push({ type: 'function', function: { name: `fn_${k}_${i}`, description: 'a test tool', parameters: objectSchema(rnd) } });
  return tools;
}

export async function pool(n, limit, fn) {
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) out[i] = await fn(i);
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}
