#!/usr/bin/env python3
"""arch_reference.py — next-token top-5 log-probs of hearth's tiny models of further
architectures (Gemma 2, Phi-3) and of YaRN RoPE scaling (qwen2) from llama.cpp's llama-server, written as the fixture
tests/unit/test_arch.c compares hearth with (the same procedure as moe_reference.py; prompts
up to 70 tokens, several times tiny-gemma2's sliding window of 8).

For each (shape, type) it generates the model with `hearth make-model --seed 7`, starts
llama-server on it (CPU, 2 threads, no flash attention), and for each prompt (token ids, BOS
first, lengths 1..70) asks /completion for greedy tokens with n_probs 5 and keeps the first token's top 5 and no prompt
cache, so every prompt is evaluated from scratch as one batch. Standard library only.

  python3 tools/arch_reference.py HEARTH_BIN LLAMA_SERVER OUT.json
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

MODELS = [("tiny-gemma2", "f32"), ("tiny-gemma2", "q8_0"), ("tiny-phi3", "f32"),
          ("tiny-phi3", "q8_0"), ("tiny-qwen2-yarn", "f32"), ("tiny-qwen2-yarn", "q8_0")]
# Phi-3 LongRoPE (tiny-phi3-128k: original context 256): llama-server with -c 512 takes the
# long factors, with -c 256 the short ones; the entries record the n_ctx hearth must use
LONGROPE = [("tiny-phi3-128k", "f32", 512), ("tiny-phi3-128k", "f32", 256),
            ("tiny-phi3-128k", "q8_0", 512), ("tiny-phi3-128k", "q8_0", 256)]
if os.environ.get("ARCH_REF_SET") == "longrope":
    MODELS = LONGROPE
if os.environ.get("ARCH_REF_MODELS"):  # "shape:type[:n_ctx],..." to probe other models
    MODELS = [tuple(m.split(":")) for m in os.environ["ARCH_REF_MODELS"].split(",")]
SEED = 7
LENGTHS = [1, 2, 5, 9, 17, 33, 70]
PORT = 18239


def prompt_ids(n, n_vocab, salt):
    """BOS then n - 1 ids from a small LCG over [3, n_vocab) (the test recomputes nothing:
    the ids are stored)."""
    ids, x = [1], 12345 + 7919 * salt
    for _ in range(n - 1):
        x = (x * 1103515245 + 12345) % (1 << 31)
        ids.append(3 + x % (n_vocab - 3))
    return ids


def post(path, body):
    """POSTs body; retries while the server answers 503 (still loading: /health can say ok
    before the 26-layer warm-up run ends)."""
    for _ in range(300):
        req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            time.sleep(0.1)
    raise RuntimeError("llama-server stayed unavailable")


def wait_ready(proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError("llama-server exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError("llama-server did not start")


def main():
    hearth, server, out = sys.argv[1:4]
    cmd = ("ARCH_REF_SET=longrope " if os.environ.get("ARCH_REF_SET") == "longrope" else "")
    result = {"how": (cmd + "python3 tools/arch_reference.py build/release/hearth "
                      "/work/peer/llama.cpp/build/bin/llama-server " + out + "; "
                      "llama.cpp llama-server (Feb 2025 build, CPU AVX-512, -t 2 -c N_CTX (512 "
                      "unless the model entry says n_ctx), no flash "
                      "attention), /completion with the prompt as token ids, n_predict 4 (the first token's probabilities are kept; the server withholds those of a partial UTF-8 byte until the text completes), "
                      "temperature 0, n_probs 5, cache_prompt false"),
              "seed": SEED, "models": []}
    tmp = tempfile.mkdtemp()
    for model in MODELS:
        shape, qtype = model[0], model[1]
        n_ctx = int(model[2]) if len(model) > 2 else 512
        path = os.path.join(tmp, f"{shape}-{qtype}.gguf")
        subprocess.run([hearth, "make-model", "--shape", shape, "--type", qtype, "--seed",
                        str(SEED), path], check=True)
        data = open(path, "rb").read()
        sha = hashlib.sha256(data).hexdigest()
        if b"tiny-phi3" in data:
            # llama.cpp gives Phi-3 vocabularies (general.name containing "phi3") special-token
            # attributes and throws when "<|endoftext|>" is missing, as in make-model's built-in
            # vocab: the peer gets a copy whose general.name says "tiny-pXi3" (same length,
            # nothing else changed)
            path = path + ".peer.gguf"
            open(path, "wb").write(data.replace(b"tiny-phi3", b"tiny-pXi3", 1))
        proc = subprocess.Popen([server, "-m", path, "--port", str(PORT), "-c", str(n_ctx), "-t", "2",
                                 "-np", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(proc)
            n_vocab = 740
            cases = []
            for i, n in enumerate(LENGTHS):
                # a prompt whose greedy continuation is a partial UTF-8 byte gets no
                # probabilities from the server: take the next salt then
                for salt in range(i, i + 100 * 8, 100):
                    ids = prompt_ids(n, n_vocab, salt)
                    r = post("/completion", {"prompt": ids, "n_predict": 4, "temperature": 0,
                                             "n_probs": 5, "cache_prompt": False})
                    if "completion_probabilities" in r:
                        break
                else:
                    raise RuntimeError(f"{shape} {qtype} case {i}: no probabilities")
                top = r["completion_probabilities"][0]["top_logprobs"]
                cases.append({"prompt_ids": ids,
                              "top5": [[t["id"], t["logprob"]] for t in top]})
            entry = {"shape": shape, "type": qtype, "sha256": sha, "cases": cases}
            if n_ctx != 512:
                entry["n_ctx"] = n_ctx
            result["models"].append(entry)
        finally:
            proc.terminate()
            proc.wait()
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
