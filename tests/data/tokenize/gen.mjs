// Records llama-server's /tokenize and /detokenize answers (README.md): node gen.mjs URL > llama_server_qwen2.json
// (the parse_special case was removed from the output afterwards; see README.md)
const url = process.argv[2];
const cases = [
  ['/tokenize', { content: 'Hello world' }],
  ['/tokenize', { content: 'Hello world', with_pieces: true }],
  ['/tokenize', { content: ' héllo 世界 <|im_start|>user\n', with_pieces: true }],
  ['/tokenize', { content: ' héllo 世界 <|im_start|>user\n', parse_special: false }],
  ['/tokenize', { content: 'a  b\t\tc 123456 🤳汾 ﮑ𝑛', with_pieces: true }],
  ['/tokenize', { content: 'Hello', add_special: true }],
  ['/tokenize', { content: '' }],
  ['/detokenize', { tokens: [9707, 1879, 151644] }],
  ['/detokenize', { tokens: [] }],
  ['/detokenize', { tokens: [305, 18503, 385, 220, 99489] }],
];
const out = [];
for (const [path, body] of cases) {
  const r = await fetch(url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  out.push({ path, body, status: r.status, response: await r.json() });
}
console.log(JSON.stringify(out, null, 1));
