#!/usr/bin/env python3
"""lora_reference.py — next-token top-5 log-probs of a tiny Llama with a random LoRA adapter from
llama.cpp's llama-server, written as the fixture tests/unit/test_lora.c compares hearth with.

For each base type it generates the model (`hearth make-model --shape tiny --seed 7`) and a
rank-8 adapter on every projection (`hearth make-lora --rank 8 --seed 11`), then runs
llama-server three times: bare, `--lora A` and `--lora-scaled A 0.5` (CPU, 2 threads, no flash
attention), asking /completion for each prompt (token ids, BOS first) with n_probs 5, greedy,
no prompt cache. Standard library only.

  python3 tools/lora_reference.py HEARTH_BIN LLAMA_SERVER OUT.json
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

TYPES = ["f32", "q8_0"]
SHAPE = "tiny"
SEED, LORA_SEED, RANK = 7, 11, 8
SCALES = [0.0, 1.0, 0.5]  # 0: the bare base (no --lora)
LENGTHS = [1, 2, 5, 9, 17]
PORT = 18239


def prompt_ids(n, n_vocab, salt):
    ids, x = [1], 12345 + 7919 * salt
    for _ in range(n - 1):
        x = (x * 1103515245 + 12345) % (1 << 31)
        ids.append(3 + x % (n_vocab - 3))
    return ids


def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def wait_ready(proc):
    for _ in range(300):
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


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    hearth, server, out = sys.argv[1:4]
    result = {"how": ("python3 tools/lora_reference.py build/release/hearth "
                      "/work/peer/llama.cpp/build/bin/llama-server tests/data/lora/lora.reference.json; "
                      "llama.cpp llama-server (Feb 2025 build, CPU, -t 2 -c 512, no flash attention; "
                      "--lora A for scale 1, --lora-scaled A 0.5 for scale 0.5, neither for 0), "
                      "/completion with the prompt as token ids, n_predict 4 (the first token's "
                      "top 5 kept), temperature 0, n_probs 5, cache_prompt false"),
              "shape": SHAPE, "seed": SEED, "lora_seed": LORA_SEED, "rank": RANK, "models": []}
    tmp = tempfile.mkdtemp()
    for qtype in TYPES:
        path = os.path.join(tmp, f"{SHAPE}-{qtype}.gguf")
        lora = os.path.join(tmp, f"{SHAPE}-{qtype}-lora.gguf")
        subprocess.run([hearth, "make-model", "--shape", SHAPE, "--type", qtype, "--seed",
                        str(SEED), path], check=True)
        subprocess.run([hearth, "make-lora", "--base", path, "--rank", str(RANK), "--seed",
                        str(LORA_SEED), lora], check=True)
        entry = {"type": qtype, "sha256": sha(path), "lora_sha256": sha(lora), "runs": []}
        for scale in SCALES:
            extra = [] if scale == 0 else (["--lora", lora] if scale == 1 else
                                           ["--lora-scaled", lora, str(scale)])
            proc = subprocess.Popen([server, "-m", path, "--port", str(PORT), "-c", "512", "-t",
                                     "2", "-np", "1"] + extra, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                wait_ready(proc)
                cases = []
                for i, n in enumerate(LENGTHS):
                    ids = prompt_ids(n, 740, i)
                    r = post("/completion", {"prompt": ids, "n_predict": 4, "temperature": 0,
                                             "n_probs": 5, "cache_prompt": False})
                    if "completion_probabilities" not in r:
                        continue  # a first token that stays partial UTF-8: no probabilities
                    top = r["completion_probabilities"][0]["top_logprobs"]
                    cases.append({"prompt_ids": ids,
                                  "top5": [[t["id"], t["logprob"]] for t in top]})
                entry["runs"].append({"scale": scale, "cases": cases})
            finally:
                proc.terminate()
                proc.wait()
        result["models"].append(entry)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
