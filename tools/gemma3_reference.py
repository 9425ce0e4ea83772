#!/usr/bin/python3
"""gemma3_reference.py — a PyTorch Gemma 3 (text) forward pass, written from the public Hugging
Face modeling code (transformers' models/gemma3/modeling_gemma3.py: Gemma3TextScaledWordEmbedding
(embeddings times sqrt(hidden_size)), Gemma3RMSNorm (x * rsqrt(mean x^2 + eps) * (1 + w) in
float32), Gemma3Attention (q_norm / k_norm per head before rotate_half RoPE, scores times
query_pre_attn_scalar^-1/2, sliding-window mask on the sliding layers, no soft-capping),
Gemma3DecoderLayer (input / post_attention / pre_feedforward / post_feedforward norms),
Gemma3MLP (down(gelu_tanh(gate) * up)); layer l slides unless (l + 1) % sliding_window_pattern
(6) == 0; the sliding layers rotate with rotary_emb_local (base rope_local_base_freq, unscaled),
the others with rotary_emb (base rope_theta, "linear" rope_scaling: inv_freq / factor)), run on
hearth's tiny-gemma3 model to give the fixture tests/unit/test_arch.c compares hearth with.

Reads the GGUF itself (tools/torchref.py: F32 tensors, Q8_0 ones dequantized). For the Q8_0 file
each matmul with a Q8_0 weight first rounds its input to Q8_0 blocks (torchref.q8_0_round) and
GELU goes through f16 (ggml_gelu): the computation a Q8_0 GGUF means in llama.cpp's CPU backend
(and in hearth). llama.cpp's
converter stores Gemma's norm weights with the +1 already added and does not permute Q/K, so the
GGUF tensors are the HF weights (norms + 1). The HF config values that the GGUF does not carry
are Gemma 3's: query_pre_attn_scalar = head_dim (all sizes but 27B), rope_local_base_freq
10000, sliding_window_pattern 6. For each prompt (the same ids as tools/arch_reference.py) it
writes the next-token top-5 log-probs (log_softmax in float64 of the float32 logits). Needs
Debian's python3-torch and python3-numpy.

  /usr/bin/python3 tools/gemma3_reference.py build/release/hearth tests/data/arch

writes tests/data/arch/gemma3.reference.json (the F32 model, the HF computation as written) and
gemma3_q8_0.reference.json (the Q8_0 model: the HF computation with ggml's CPU arithmetic for a
quantized file, Q8_0-rounded matmul inputs and its f16 GELU table: on this tiny random model the
activations' Q8_0 rounding moves log-probs by up to ~0.1, and which values round which way
depends on the GELU's last bits, so a quantized comparison needs the same arithmetic; the F32
one shows the architecture).
"""
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

import torch

from torchref import (prompt_ids, q8_0_round, qk_norm_attention, read_gguf, rms_norm,  # tools/torchref.py
                      rope_cos_sin)

SEED = 7
LENGTHS = [1, 2, 5, 9, 17, 33, 70]
# (file, type): the F32 model against the HF computation; the Q8_0 one against the HF computation
# with ggml's CPU arithmetic for a quantized file (see ggml_gelu and q8_0_round)
FILES = [("gemma3.reference.json", "f32"), ("gemma3_q8_0.reference.json", "q8_0")]
PATTERN = 6          # Gemma3TextConfig.sliding_window_pattern
LOCAL_BASE = 10000.0  # Gemma3TextConfig.rope_local_base_freq


def ggml_gelu(x):
    """GELU (tanh) as ggml's CPU backend computes it from its f16 table: the input rounded to
    f16, the result rounded to f16, 0 below -10, x above 10."""
    v = x.to(torch.float16).to(torch.float32)
    y = torch.nn.functional.gelu(v, approximate="tanh").to(torch.float16).to(torch.float32)
    y = torch.where(x <= -10.0, torch.zeros_like(x), y)
    return torch.where(x >= 10.0, x, y)


def hf_gelu(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


def forward(meta, T, ids, types, gelu=hf_gelu):
    def mm(x, name):
        """x @ W^T; for a Q8_0 weight the input is rounded to Q8_0 blocks first, as the
        quantized file's matmuls compute (ggml's CPU backend; hearth's too)"""
        if types.get(name) == 8:
            x = q8_0_round(x)
        return x @ T[name].T

    a = "gemma3"
    E = meta[f"{a}.embedding_length"]
    n_layer = meta[f"{a}.block_count"]
    n_head = meta[f"{a}.attention.head_count"]
    n_kv = meta[f"{a}.attention.head_count_kv"]
    hd = meta[f"{a}.attention.key_length"]
    eps = meta[f"{a}.attention.layer_norm_rms_epsilon"]
    theta = meta[f"{a}.rope.freq_base"]
    window = meta[f"{a}.attention.sliding_window"]
    assert meta.get(f"{a}.rope.scaling.type", "linear") == "linear"
    factor = meta.get(f"{a}.rope.scaling.factor", 1.0)
    scaling = hd ** -0.5  # query_pre_attn_scalar = head_dim
    n = len(ids)

    x = T["token_embd.weight"][torch.tensor(ids)] * torch.tensor(E ** 0.5)
    cos_g, sin_g = rope_cos_sin(theta, hd, n, factor)
    cos_l, sin_l = rope_cos_sin(LOCAL_BASE, hd, n, 1.0)
    i = torch.arange(n)
    causal = i[None, :] <= i[:, None]
    sliding = causal & (i[:, None] - i[None, :] < window)

    for l in range(n_layer):
        p = f"blk.{l}."
        is_sliding = (l + 1) % PATTERN != 0
        cos, sin = (cos_l, sin_l) if is_sliding else (cos_g, sin_g)
        allowed = sliding if is_sliding else causal
        mask = torch.zeros(n, n).masked_fill(~allowed, float("-inf"))

        h = rms_norm(x, T[p + "attn_norm.weight"], eps)
        o = qk_norm_attention(h, T, p, n_head, n_kv, hd, eps, cos, sin, mask,
                              lambda s: s * scaling, mm)
        x = x + rms_norm(o, T[p + "post_attention_norm.weight"], eps)

        h = rms_norm(x, T[p + "ffn_norm.weight"], eps)
        g = gelu(mm(h, p + "ffn_gate.weight"))
        f = mm(g * mm(h, p + "ffn_up.weight"), p + "ffn_down.weight")
        x = x + rms_norm(f, T[p + "post_ffw_norm.weight"], eps)

    x = rms_norm(x, T["output_norm.weight"], eps)
    return mm(x[-1], "output.weight" if "output.weight" in T else "token_embd.weight")


def main():
    hearth, out_dir = sys.argv[1:3]
    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp()
    for fname, qtype in FILES:
        shape = "tiny-gemma3"
        path = os.path.join(tmp, f"{shape}-{qtype}.gguf")
        subprocess.run([hearth, "make-model", "--shape", shape, "--type", qtype, "--seed",
                        str(SEED), path], check=True)
        sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
        types = {}
        meta, T = read_gguf(path, types)
        quant = qtype != "f32"
        n_vocab = T["token_embd.weight"].shape[0]
        cases = []
        with torch.no_grad():
            for i, n in enumerate(LENGTHS):
                ids = prompt_ids(n, n_vocab, i)
                logits = forward(meta, T, ids, types if quant else {},
                                 ggml_gelu if quant else hf_gelu)
                lp = torch.log_softmax(logits.to(torch.float64), dim=-1)
                top = torch.topk(lp, 5)
                cases.append({"prompt_ids": ids,
                              "top5": [[int(t), float(v)] for v, t in zip(top.values, top.indices)]})
        how = ("/usr/bin/python3 tools/gemma3_reference.py build/release/hearth tests/data/arch "
               "(PyTorch %s, float32, CPU" % torch.__version__)
        how += ("; Q8_0 weights dequantized, the inputs of their matmuls rounded to Q8_0 blocks and "
                "GELU through f16 as ggml's CPU backend computes a quantized file)" if quant else
                "; the Hugging Face computation as written)")
        result = {"how": how, "seed": SEED,
                  "models": [{"shape": shape, "type": qtype, "sha256": sha, "cases": cases}]}
        with open(os.path.join(out_dir, fname), "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
