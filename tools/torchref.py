"""torchref.py — what the PyTorch references in tools/ (qwen3moe_reference.py,
gptoss_reference.py, gemma3_reference.py, qwen3_embed_reference.py) share: a minimal GGUF v3
reader (metadata and F32 tensors, Q8_0 ones dequantized, as torch
tensors in the Hugging Face layout: llama.cpp's converter does not permute Q/K for these
architectures), the RMS norm of the HF modeling code, the fixtures' prompt ids, and the HF
rotary embedding and Qwen3/Gemma 3 attention (per-head q/k norms, rotate_half RoPE, GQA). Needs Debian's python3-torch and
python3-numpy."""
import struct

import numpy as np
import torch


def read_gguf(path, types=None):
    """types: a dict that receives each tensor's GGML type number, when given."""
    data = open(path, "rb").read()
    off = 0

    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal off
        n = take("Q")
        s = data[off:off + n].decode("utf-8", "replace")
        off += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
              12: "d"}

    def value(t):
        if t in scalar:
            return take(scalar[t])
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        raise ValueError(f"gguf value type {t}")

    assert data[:4] == b"GGUF"
    off = 4
    take("I")  # version
    n_tensors, n_kv = take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = take("I")
        ne = [take("Q") for _ in range(nd)]
        typ, toff = take("I"), take("Q")
        infos.append((name, ne, typ, toff))
    align = meta.get("general.alignment", 32)
    base = (off + align - 1) // align * align
    tensors = {}
    for name, ne, typ, toff in infos:
        count = int(np.prod(ne))
        if typ == 0:
            a = np.frombuffer(data, np.float32, count, base + toff)
        elif typ == 8:  # Q8_0: blocks of an f16 scale and 32 int8 values, dequantized
            nb = count // 32
            blk = np.frombuffer(data, np.uint8, nb * 34, base + toff).reshape(nb, 34)
            d = blk[:, :2].copy().view(np.float16).astype(np.float32)
            q = blk[:, 2:].copy().view(np.int8).astype(np.float32)
            a = (q * d).reshape(count)
        else:
            raise ValueError(f"{name}: only F32 and Q8_0 tensors are read (type {typ})")
        tensors[name] = torch.from_numpy(a.reshape(list(reversed(ne))).copy())
        if types is not None:
            types[name] = typ
    return meta, tensors


def rms_norm(x, w, eps):
    x32 = x.to(torch.float32)
    var = x32.pow(2).mean(-1, keepdim=True)
    return w * (x32 * torch.rsqrt(var + eps))


def q8_0_round(x):
    """x (..., n), n a multiple of 32, rounded as ggml's CPU backend quantizes a matmul's input
    for Q8_0 weights (quantize_row_q8_0: per block of 32, d = max|x| / 127 stored as f16,
    q = round(x / d)), returned dequantized: what a Q8_0 file's matmul multiplies."""
    shape = x.shape
    b = x.reshape(-1, 32).to(torch.float32)
    amax = b.abs().amax(dim=1, keepdim=True)
    d = amax / 127.0
    inv = torch.where(d > 0, 1.0 / d, torch.zeros_like(d))
    q = torch.round(b * inv)  # ggml: roundf (half away from zero); ties are measure-zero here
    d16 = d.to(torch.float16).to(torch.float32)
    return (q * d16).reshape(shape)


def prompt_ids(n, n_vocab, salt):
    """The fixtures' prompts: BOS (1), then n - 1 ids from a fixed LCG (salt: the case)."""
    ids, x = [1], 12345 + 7919 * salt
    for _ in range(n - 1):
        x = (x * 1103515245 + 12345) % (1 << 31)
        ids.append(3 + x % (n_vocab - 3))
    return ids


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_cos_sin(base, hd, n, factor=1.0):
    """The HF rotary embedding's cos and sin (n, hd) for positions 0..n-1: default inv_freq,
    divided by factor ("linear" rope_scaling; 1: none)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    inv_freq = inv_freq / factor
    freqs = torch.outer(torch.arange(n).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def causal_mask(n):
    return torch.full((n, n), float("-inf")).triu(1)


def qk_norm_attention(h, T, p, n_head, n_kv, hd, eps, cos, sin, mask, scale, mm=None):
    """Qwen3's and Gemma 3's self-attention of layer prefix p on the normed input h (n, E):
    q/k/v projections, per-head q_norm/k_norm (RMS), rotate_half RoPE, grouped-query softmax
    attention (scale(scores) + mask, softmax in float32) and the output projection. mm(x, name)
    multiplies by a weight (default x @ W^T); scale is a function so that each model keeps its
    own arithmetic (a product by hd^-1/2 and a quotient by hd^1/2 differ in the last bits)."""
    if mm is None:
        def mm(x, name):
            return x @ T[name].T
    n = h.shape[0]
    q = mm(h, p + "attn_q.weight").view(n, n_head, hd)
    k = mm(h, p + "attn_k.weight").view(n, n_kv, hd)
    v = mm(h, p + "attn_v.weight").view(n, n_kv, hd)
    q = rms_norm(q, T[p + "attn_q_norm.weight"], eps).transpose(0, 1)  # (H, n, hd)
    k = rms_norm(k, T[p + "attn_k_norm.weight"], eps).transpose(0, 1)
    v = v.transpose(0, 1)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    rep = n_head // n_kv
    k = k.repeat_interleave(rep, dim=0)
    v = v.repeat_interleave(rep, dim=0)
    att = scale(q @ k.transpose(1, 2)) + mask
    att = torch.softmax(att.to(torch.float32), dim=-1)
    o = (att @ v).transpose(0, 1).reshape(n, n_head * hd)
    return mm(o, p + "attn_output.weight")
