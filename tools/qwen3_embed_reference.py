#!/usr/bin/python3
"""qwen3_embed_reference.py — PyTorch references for hearth's decoder embedding and reranking
models, written from the public Hugging Face code: transformers' models/qwen3/modeling_qwen3.py
(Qwen3RMSNorm, Qwen3Attention with per-head q_norm/k_norm and rotate_half RoPE, the SwiGLU
Qwen3MLP) and the Qwen3-Embedding / Qwen3-Reranker model cards (QwenLM/Qwen3-Embedding README):

- embedding: the text's tokens with <|endoftext|> (eod_id) appended, last_token_pool (the final
  hidden state, after the model's final norm, of that last token), F.normalize (p=2);
- reranking: prefix tokens + tokens of "<Instruct>: {instruction}\\n<Query>: {query}\\n<Document>:
  {doc}" + suffix tokens (each tokenized separately, as the card's process_inputs does), then
  the logits of "yes" and "no" at the last position, score = exp(log_softmax([no, yes]))[yes].

Run on hearth's tiny-qwen3-embed and tiny-qwen3-reranker (F32, --seed 1, the Qwen2 vocab
fixture); writes tests/data/embed/qwen3.reference.json, which tests/unit/test_embed.c and
tests/integration/server_embed.test.mjs compare hearth with. The token ids come from
`hearth tokenize` (no BOS/EOS added, special tokens parsed): Python here has no Qwen BPE, and
hearth's tokenizer is checked against llama.cpp's vocab tests separately; the EOS append and
the prompt assembly are done here, independently of hearth. The yes/no rows are the model's
cls.output.weight (how llama.cpp's converter stores Qwen3-Reranker's two lm_head rows).
Needs Debian's python3-torch and python3-numpy.

  /usr/bin/python3 tools/qwen3_embed_reference.py build/release/hearth tests/data/embed/qwen3.reference.json
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import torch

from embed_reference import DOCS, QUERY, TEXTS  # tools/embed_reference.py
from torchref import (causal_mask, qk_norm_attention, read_gguf, rms_norm,  # tools/torchref.py
                      rope_cos_sin)

SEED = 1
VOCAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "vocab",
                     "ggml-vocab-qwen2.gguf")
# Qwen3-Reranker model card: the prompt around the pair, and its default instruction
PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the "
          "Query and the Instruct provided. Note that the answer can only be \"yes\" or "
          "\"no\".<|im_end|>\n<|im_start|>user\n")
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


def tokenize(hearth, model, text):
    out = subprocess.run([hearth, "tokenize", model, "--no-bos"], input=text.encode(),
                         capture_output=True, check=True)
    return json.loads(out.stdout)


def hidden_last(meta, T, ids):
    """Qwen3Model's last hidden state (after the final norm) at the last position."""
    a = "qwen3"
    n_layer = meta[f"{a}.block_count"]
    n_head = meta[f"{a}.attention.head_count"]
    n_kv = meta[f"{a}.attention.head_count_kv"]
    hd = meta[f"{a}.attention.key_length"]
    eps = meta[f"{a}.attention.layer_norm_rms_epsilon"]
    theta = meta[f"{a}.rope.freq_base"]
    n = len(ids)
    x = T["token_embd.weight"][torch.tensor(ids)]
    cos, sin = rope_cos_sin(theta, hd, n)
    mask = causal_mask(n)  # causal, as the decoder was trained
    for l in range(n_layer):
        p = f"blk.{l}."
        h = rms_norm(x, T[p + "attn_norm.weight"], eps)
        x = x + qk_norm_attention(h, T, p, n_head, n_kv, hd, eps, cos, sin, mask,
                                  lambda s: s / (hd ** 0.5))
        h = rms_norm(x, T[p + "ffn_norm.weight"], eps)
        g = torch.nn.functional.silu(h @ T[p + "ffn_gate.weight"].T)
        x = x + (g * (h @ T[p + "ffn_up.weight"].T)) @ T[p + "ffn_down.weight"].T
    x = rms_norm(x, T["output_norm.weight"], eps)
    return x[-1]


def make(hearth, tmp, shape):
    path = os.path.join(tmp, shape + ".gguf")
    subprocess.run([hearth, "make-model", "--shape", shape, "--type", "f32", "--vocab", VOCAB,
                    "--seed", str(SEED), path], check=True)
    return path, hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    hearth, out = sys.argv[1:3]
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp()
    result = {"how": ("/usr/bin/python3 tools/qwen3_embed_reference.py build/release/hearth "
                      "tests/data/embed/qwen3.reference.json (PyTorch %s, float32, CPU)"
                      % torch.__version__),
              "seed": SEED, "models": {}}
    with torch.no_grad():
        path, sha = make(hearth, tmp, "tiny-qwen3-embed")
        meta, T = read_gguf(path)
        eod = meta["tokenizer.ggml.tokens"].index("<|endoftext|>")
        cases = []
        for t in TEXTS:
            ids = tokenize(hearth, path, t) + [eod]
            v = torch.nn.functional.normalize(hidden_last(meta, T, ids), p=2, dim=0)
            cases.append({"text": t, "ids": ids, "embedding": [round(float(x), 8) for x in v]})
        result["models"]["tiny-qwen3-embed"] = {"sha256": sha, "cases": cases}
        os.unlink(path)

        path, sha = make(hearth, tmp, "tiny-qwen3-reranker")
        meta, T = read_gguf(path)
        W = T["cls.output.weight"]  # rows: yes, no
        pre, suf = tokenize(hearth, path, PREFIX), tokenize(hearth, path, SUFFIX)
        cases = []
        for d in DOCS:
            body = f"<Instruct>: {INSTRUCTION}\n<Query>: {QUERY}\n<Document>: {d}"
            ids = pre + tokenize(hearth, path, body) + suf
            x = hidden_last(meta, T, ids)
            yes, no = float(x @ W[0]), float(x @ W[1])
            ls = torch.log_softmax(torch.tensor([no, yes], dtype=torch.float64), dim=0)
            cases.append({"document": d, "ids": ids, "score": float(ls[1].exp())})
        result["models"]["tiny-qwen3-reranker"] = {"sha256": sha, "query": QUERY, "cases": cases}
        os.unlink(path)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
