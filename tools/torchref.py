"""torchref.py — what the PyTorch references in tools/ (qwen3moe_reference.py,
gptoss_reference.py) share: a minimal GGUF v3 reader (metadata and F32 tensors, as torch
tensors in the Hugging Face layout: llama.cpp's converter does not permute Q/K for these
architectures) and the RMS norm of the HF modeling code. Needs Debian's python3-torch and
python3-numpy."""
import struct

import numpy as np
import torch


def read_gguf(path):
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
        assert typ == 0, f"{name}: only F32 tensors are read"
        count = int(np.prod(ne))
        a = np.frombuffer(data, np.float32, count, base + toff)
        tensors[name] = torch.from_numpy(a.reshape(list(reversed(ne))).copy())
    return meta, tensors


def rms_norm(x, w, eps):
    x32 = x.to(torch.float32)
    var = x32.pow(2).mean(-1, keepdim=True)
    return w * (x32 * torch.rsqrt(var + eps))
