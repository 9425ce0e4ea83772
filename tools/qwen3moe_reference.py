#!/usr/bin/python3
"""qwen3moe_reference.py — a PyTorch Qwen3-MoE forward pass, written from the public Hugging
Face modeling code (transformers' models/qwen3_moe/modeling_qwen3_moe.py: Qwen3MoeRMSNorm,
Qwen3MoeAttention with per-head q_norm/k_norm and rotate_half RoPE, Qwen3MoeSparseMoeBlock with
a softmax router, top-k and norm_topk_prob), run on hearth's tiny-qwen3moe model to give the
fixture tests/unit/test_moe.c compares hearth with.

Reads the F32 GGUF itself (a minimal reader: metadata and F32 tensors; llama.cpp's converter
does not permute Q/K for Qwen, so GGUF matrices are the HF Linear weights) and writes, for the
same prompts as tools/moe_reference.py, the next-token top-5 log-probs (log_softmax in float64
of the float32 logits). Needs Debian's python3-torch and python3-numpy.

  /usr/bin/python3 tools/qwen3moe_reference.py build/release/hearth tests/data/moe/qwen3moe.reference.json
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import torch

from torchref import (causal_mask, prompt_ids, qk_norm_attention, read_gguf, rms_norm,  # tools/torchref.py
                      rope_cos_sin)

SEED = 7
LENGTHS = [1, 2, 5, 9, 17, 33, 70]


# ---- The model, after Hugging Face's Qwen3MoeForCausalLM ----

def forward(meta, T, ids):
    a = "qwen3moe"
    E = meta[f"{a}.embedding_length"]
    n_layer = meta[f"{a}.block_count"]
    n_head = meta[f"{a}.attention.head_count"]
    n_kv = meta[f"{a}.attention.head_count_kv"]
    hd = meta[f"{a}.attention.key_length"]
    eps = meta[f"{a}.attention.layer_norm_rms_epsilon"]
    theta = meta[f"{a}.rope.freq_base"]
    n_exp = meta[f"{a}.expert_count"]
    k_used = meta[f"{a}.expert_used_count"]
    norm_topk = meta.get(f"{a}.expert_weights_norm", True)
    n = len(ids)

    x = T["token_embd.weight"][torch.tensor(ids)]  # (n, E)
    cos, sin = rope_cos_sin(theta, hd, n)  # (n, hd)
    mask = causal_mask(n)

    for l in range(n_layer):
        p = f"blk.{l}."
        h = rms_norm(x, T[p + "attn_norm.weight"], eps)
        x = x + qk_norm_attention(h, T, p, n_head, n_kv, hd, eps, cos, sin, mask,
                                  lambda s: s / (hd ** 0.5))

        # Qwen3MoeSparseMoeBlock
        h = rms_norm(x, T[p + "ffn_norm.weight"], eps)
        router_logits = h @ T[p + "ffn_gate_inp.weight"].T  # (n, n_exp)
        rw = torch.softmax(router_logits, dim=1, dtype=torch.float)
        rw, sel = torch.topk(rw, k_used, dim=-1)
        if norm_topk:
            rw = rw / rw.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(h)
        G, U, D = (T[p + "ffn_gate_exps.weight"], T[p + "ffn_up_exps.weight"],
                   T[p + "ffn_down_exps.weight"])
        for e in range(n_exp):
            tok, slot = torch.where(sel == e)
            if tok.numel() == 0:
                continue
            he = h[tok]
            ye = (torch.nn.functional.silu(he @ G[e].T) * (he @ U[e].T)) @ D[e].T
            out.index_add_(0, tok, ye * rw[tok, slot, None])
        x = x + out

    x = rms_norm(x, T["output_norm.weight"], eps)
    w_out = T.get("output.weight", T["token_embd.weight"])
    return x[-1] @ w_out.T


def main():
    hearth, out = sys.argv[1:3]
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "tiny-qwen3moe-f32.gguf")
    subprocess.run([hearth, "make-model", "--shape", "tiny-qwen3moe", "--type", "f32", "--seed",
                    str(SEED), path], check=True)
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    meta, T = read_gguf(path)
    n_vocab = T["token_embd.weight"].shape[0]
    cases = []
    with torch.no_grad():
        for i, n in enumerate(LENGTHS):
            ids = prompt_ids(n, n_vocab, i)
            logits = forward(meta, T, ids)
            lp = torch.log_softmax(logits.to(torch.float64), dim=-1)
            top = torch.topk(lp, 5)
            cases.append({"prompt_ids": ids,
                          "top5": [[int(t), float(v)] for v, t in zip(top.values, top.indices)]})
    result = {"how": ("/usr/bin/python3 tools/qwen3moe_reference.py build/release/hearth "
                      "tests/data/moe/qwen3moe.reference.json (PyTorch %s, float32, CPU)"
                      % torch.__version__),
              "seed": SEED,
              "models": [{"shape": "tiny-qwen3moe", "type": "f32", "sha256": sha,
                          "cases": cases}]}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
