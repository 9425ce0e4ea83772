#!/usr/bin/python3
"""gptoss_reference.py — a PyTorch gpt-oss forward pass, written from the public Hugging Face
modeling code (transformers' models/gpt_oss/modeling_gpt_oss.py: GptOssRMSNorm, GptOssAttention
with Q/K/V/O biases, per-head sinks concatenated to the scores before the softmax and dropped
after, sliding-window layers (layer_types: even layers slide), YaRN RoPE on halves;
GptOssTopKRouter (linear with bias, top-k of the logits, softmax over those k); GptOssExperts
(gate and up with biases, gate clamped max 7, up clamped to [-7, 7], glu = gate *
sigmoid(1.702 gate), (up + 1) * glu, down with bias)), run on hearth's tiny-gpt-oss model to
give the fixture tests/unit/test_moe.c compares hearth with.

YaRN: the correction range is floored/ceiled (HF's truncate=True, ggml's behaviour, which
hearth and llama.cpp follow); the released gpt-oss config sets truncate=false — a known
difference from HF on real checkpoints, not exercised here.

Reads the F32 GGUF itself (GGUF matrices are the HF Linear weights; the converter splits HF's
interleaved gate_up_proj into ffn_gate_exps / ffn_up_exps) and writes the next-token top-5
log-probs (log_softmax in float64 of the float32 logits). Needs Debian's python3-torch.

  /usr/bin/python3 tools/gptoss_reference.py build/release/hearth tests/data/moe/gptoss.reference.json
"""
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

import torch

from torchref import prompt_ids, read_gguf, rms_norm  # tools/torchref.py

SEED = 7
LENGTHS = [1, 2, 5, 9, 17, 33]


# ---- The model, after Hugging Face's GptOssForCausalLM ----

def yarn_inv_freq(dim, base, factor, orig, beta_fast=32.0, beta_slow=1.0, truncate=True):
    def corr_dim(rot):
        return (dim * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))
    low, high = corr_dim(beta_fast), corr_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    extra_factor = 1 - ramp
    pos_freqs = base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    inv_extra, inv_inter = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    inv = inv_inter * (1 - extra_factor) + inv_extra * extra_factor
    return inv, 0.1 * math.log(factor) + 1.0


def rope(x, cos, sin):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def forward(meta, T, ids):
    a = "gpt-oss"
    n_layer = meta[f"{a}.block_count"]
    n_head = meta[f"{a}.attention.head_count"]
    n_kv = meta[f"{a}.attention.head_count_kv"]
    hd = meta[f"{a}.attention.key_length"]
    eps = meta[f"{a}.attention.layer_norm_rms_epsilon"]
    theta = meta[f"{a}.rope.freq_base"]
    n_exp = meta[f"{a}.expert_count"]
    k_used = meta[f"{a}.expert_used_count"]
    window = meta[f"{a}.attention.sliding_window"]
    inv_freq, att_factor = yarn_inv_freq(hd, theta, meta[f"{a}.rope.scaling.factor"],
                                         meta[f"{a}.rope.scaling.original_context_length"])
    n = len(ids)

    x = T["token_embd.weight"][torch.tensor(ids)]  # (n, E)
    freqs = torch.outer(torch.arange(n).float(), inv_freq)
    cos, sin = freqs.cos() * att_factor, freqs.sin() * att_factor  # (n, hd/2)
    i = torch.arange(n)
    causal = torch.where(i[None, :] <= i[:, None], 0.0, float("-inf"))
    sliding = torch.where((i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < window),
                          0.0, float("-inf"))

    for l in range(n_layer):
        p = f"blk.{l}."
        h = rms_norm(x, T[p + "attn_norm.weight"], eps)
        q = (h @ T[p + "attn_q.weight"].T + T[p + "attn_q.bias"]).view(n, n_head, hd)
        k = (h @ T[p + "attn_k.weight"].T + T[p + "attn_k.bias"]).view(n, n_kv, hd)
        v = (h @ T[p + "attn_v.weight"].T + T[p + "attn_v.bias"]).view(n, n_kv, hd)
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = n_head // n_kv
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        mask = sliding if l % 2 == 0 else causal
        att = (q @ k.transpose(1, 2)) * (hd ** -0.5) + mask  # (H, n, n)
        sinks = T[p + "attn_sinks.weight"].reshape(n_head, 1, 1).expand(n_head, n, 1)
        comb = torch.cat([att, sinks], dim=-1)
        comb = comb - comb.max(dim=-1, keepdim=True).values
        probs = torch.softmax(comb, dim=-1)[..., :-1]
        o = (probs @ v).transpose(0, 1).reshape(n, n_head * hd)
        x = x + o @ T[p + "attn_output.weight"].T + T[p + "attn_output.bias"]

        h = rms_norm(x, T[p + "post_attention_norm.weight"], eps)
        logits = h @ T[p + "ffn_gate_inp.weight"].T + T[p + "ffn_gate_inp.bias"]
        top_v, sel = torch.topk(logits, k_used, dim=-1)
        rw = torch.softmax(top_v, dim=-1)
        out = torch.zeros_like(h)
        G, U, D = (T[p + "ffn_gate_exps.weight"], T[p + "ffn_up_exps.weight"],
                   T[p + "ffn_down_exps.weight"])
        bG, bU, bD = (T[p + "ffn_gate_exps.bias"], T[p + "ffn_up_exps.bias"],
                      T[p + "ffn_down_exps.bias"])
        for e in range(n_exp):
            tok, slot = torch.where(sel == e)
            if tok.numel() == 0:
                continue
            he = h[tok]
            gate = (he @ G[e].T + bG[e]).clamp(max=7.0)
            up = (he @ U[e].T + bU[e]).clamp(min=-7.0, max=7.0)
            glu = gate * torch.sigmoid(gate * 1.702)
            ye = ((up + 1) * glu) @ D[e].T + bD[e]
            out.index_add_(0, tok, ye * rw[tok, slot, None])
        x = x + out

    x = rms_norm(x, T["output_norm.weight"], eps)
    return x[-1] @ T["output.weight"].T


def main():
    hearth, out = sys.argv[1:3]
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "tiny-gpt-oss-f32.gguf")
    subprocess.run([hearth, "make-model", "--shape", "tiny-gpt-oss", "--type", "f32", "--seed",
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
    result = {"how": ("/usr/bin/python3 tools/gptoss_reference.py build/release/hearth "
                      "tests/data/moe/gptoss.reference.json (PyTorch %s, float32, CPU)"
                      % torch.__version__),
              "seed": SEED,
              "models": [{"shape": "tiny-gpt-oss", "type": "f32", "sha256": sha,
                          "cases": cases}]}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
