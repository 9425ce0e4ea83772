#!/usr/bin/env python3
"""Writes tests/data/embed/llama_server_reference.json: embeddings and rerank scores from
llama.cpp's llama-server (the oracle, ORACLES.md) for hearth's tiny encoder models.

usage: tools/embed_reference.py LLAMA_SERVER HEARTH OUT.json

The models are generated with `HEARTH make-model --shape S --type f32 --vocab
tests/data/vocab/ggml-vocab-bert-bge.gguf --seed 1` (deterministic; tiny-qwen2-embed with
ggml-vocab-qwen2.gguf and --type q8_0), served one at a time by `LLAMA_SERVER -m MODEL --embedding` (or
`--reranking`; tiny-qwen2-embed: `--embedding --pooling last`, since llama.cpp reads no
pooling_type for qwen2) `-c 2048 -b 2048 -ub 2048 -t 1`, and asked through its OpenAI
/v1/embeddings and /v1/rerank routes. Nothing here is needed by the
tests; they read the JSON."""
import json, os, socket, subprocess, sys, tempfile, time, urllib.request

TEXTS = [
    "hello world",
    "a",
    "The quick brown fox jumps over the lazy dog.",
    "Embeddings map text to vectors; similar meanings land on nearby vectors.",
    "naïve café résumé — unicode, accents and dashes",
    "12345 67890 numbers, and    runs of   spaces",
    "def f(x):\n    return x * 2  # some code",
    "東京は日本の首都です。",
    "UPPER lower MiXeD case!!! ??? ...",
    " ".join(["a longer passage about the garden, the river and the old stone bridge"] * 12),
]
QUERY = "what is a panda?"
DOCS = ["hi", "The giant panda is a bear native to south central China.",
        "Paris is the capital of France.", "pandas eat bamboo", "panda"]


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))


def serve(server, model, flags):
    port = free_port()
    p = subprocess.Popen([server, "-m", model, *flags, "--port", str(port), "-c", "2048", "-b", "2048",
                          "-ub", "2048", "-t", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health").status == 200: return p, port
        except Exception: time.sleep(0.05)
    p.kill(); raise SystemExit(f"llama-server did not start for {model}")


def main():
    server, hearth, out = sys.argv[1:4]
    vocabs = os.path.join(os.path.dirname(__file__), "..", "tests/data/vocab")
    ref = {"generated_by": "tools/embed_reference.py " + " ".join(sys.argv[1:]),
           "oracle": "llama.cpp llama-server (/v1/embeddings, /v1/rerank)",
           "models": {}}
    with tempfile.TemporaryDirectory() as d:
        for shape in ["tiny-bert", "tiny-nomic-bert", "tiny-bert-reranker", "tiny-qwen2-embed"]:
            path = os.path.join(d, shape + ".gguf")
            qwen = shape.startswith("tiny-qwen")
            vocab = os.path.join(vocabs, "ggml-vocab-qwen2.gguf" if qwen else "ggml-vocab-bert-bge.gguf")
            # the qwen2 vocab makes a 150k-row embedding table: q8_0 keeps the file (and test) small
            subprocess.run([hearth, "make-model", "--shape", shape, "--type", "q8_0" if qwen else "f32", "--vocab", vocab,
                            "--seed", "1", path], check=True, stderr=subprocess.DEVNULL)
            rerank = shape.endswith("reranker")
            flags = ["--reranking"] if rerank else ["--embedding"] + (["--pooling", "last"] if qwen else [])
            p, port = serve(server, path, flags)
            try:
                if rerank:
                    r = post(port, "/v1/rerank", {"query": QUERY, "documents": DOCS})
                    scores = [None] * len(DOCS)
                    for x in r["results"]: scores[x["index"]] = x["relevance_score"]
                    ref["models"][shape] = {"query": QUERY, "documents": DOCS, "scores": scores}
                else:
                    r = post(port, "/v1/embeddings", {"input": TEXTS})
                    embs = [x["embedding"] for x in sorted(r["data"], key=lambda x: x["index"])]
                    ref["models"][shape] = {"texts": TEXTS, "prompt_tokens": r["usage"]["prompt_tokens"],
                                            "embeddings": [[round(v, 8) for v in e] for e in embs]}
            finally:
                p.terminate(); p.wait()
    with open(out, "w") as f:
        json.dump(ref, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
