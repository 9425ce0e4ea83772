#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_model.c: tiny F32 models (a few KB) of each architecture
and a few broken variants, in GGUF v3. Usage: tools/gen_model_corpus.py fuzz/corpus/model"""
import random
import struct
import sys


def gguf(kvs, tensors, align=32):
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    s = lambda t: struct.pack("<Q", len(t)) + t.encode()
    for k, v in kvs:
        out += s(k)
        if isinstance(v, str):
            out += struct.pack("<I", 8) + s(v)
        elif isinstance(v, float):
            out += struct.pack("<If", 6, v)
        else:
            out += struct.pack("<II", 4, v)
    off = 0
    blobs = []
    for name, ne, data in tensors:
        out += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", 0, off)
        blob = struct.pack("<%df" % len(data), *data)
        blobs.append(blob)
        off += (len(blob) + align - 1) // align * align
    out += b"\0" * ((-len(out)) % align)
    for b in blobs:
        out += b + b"\0" * ((-len(b)) % align)
    return bytes(out)


def model(arch, E=8, H=2, KV=1, hd=4, F=8, V=8, L=1, drop=None, extra_kv=(), X=0, K=0, Fe=4, Fs=0,
          extra_t=()):
    """X > 0: a mixture of X experts (K used) of Fe rows, and a shared expert of Fs rows if Fs.
    extra_t: tensors added: (name, ne, values) first (LongRoPE factors), (name, ne) last with random
    values (a reranker's cls.output.weight)."""
    rnd = random.Random(arch)
    r = lambda n, off=0.0: [off + rnd.uniform(-0.5, 0.5) for _ in range(n)]
    kvs = [("general.architecture", arch), (arch + ".embedding_length", E), (arch + ".block_count", L),
           (arch + ".feed_forward_length", F), (arch + ".attention.head_count", H),
           (arch + ".attention.head_count_kv", KV), (arch + ".context_length", 32),
           (arch + ".attention.layer_norm_rms_epsilon", 1e-5)]
    if X:
        kvs += [(arch + ".expert_count", X), (arch + ".expert_used_count", K),
                (arch + ".expert_feed_forward_length", Fe)]
        if Fs:
            kvs += [(arch + ".expert_shared_feed_forward_length", Fs)]
    if hd != E // H:
        kvs += [(arch + ".attention.key_length", hd), (arch + ".attention.value_length", hd)]
    for k, v in extra_kv:  # override in place: GGUF keys are unique
        kvs = [(k2, v2) for k2, v2 in kvs if k2 != k] + [(k, v)]
    t = [x for x in extra_t if len(x) == 3] + [("token_embd.weight", [E, V], r(E * V)), ("output_norm.weight", [E], r(E, 1.0))]
    for l in range(L):
        p = "blk.%d." % l
        t += [(p + "attn_norm.weight", [E], r(E, 1.0)), (p + "attn_q.weight", [E, H * hd], r(E * H * hd)),
              (p + "attn_k.weight", [E, KV * hd], r(E * KV * hd)), (p + "attn_v.weight", [E, KV * hd], r(E * KV * hd)),
              (p + "attn_output.weight", [H * hd, E], r(H * hd * E)), (p + "ffn_norm.weight", [E], r(E, 1.0))]
        if X:
            t += [(p + "ffn_gate_inp.weight", [E, X], r(E * X)),
                  (p + "ffn_gate_exps.weight", [E, Fe, X], r(E * Fe * X)),
                  (p + "ffn_up_exps.weight", [E, Fe, X], r(E * Fe * X)),
                  (p + "ffn_down_exps.weight", [Fe, E, X], r(Fe * E * X))]
            if Fs:
                t += [(p + "ffn_gate_inp_shexp.weight", [E], r(E)), (p + "ffn_gate_shexp.weight", [E, Fs], r(E * Fs)),
                      (p + "ffn_up_shexp.weight", [E, Fs], r(E * Fs)), (p + "ffn_down_shexp.weight", [Fs, E], r(Fs * E))]
        else:
            t += [(p + "ffn_gate.weight", [E, F], r(E * F)), (p + "ffn_up.weight", [E, F], r(E * F)),
                  (p + "ffn_down.weight", [F, E], r(F * E))]
        if arch in ("qwen2", "qwen2moe"):
            t += [(p + "attn_q.bias", [H * hd], r(H * hd)), (p + "attn_k.bias", [KV * hd], r(KV * hd)),
                  (p + "attn_v.bias", [KV * hd], r(KV * hd))]
        if arch == "phi3":  # fused: Q, K, V rows in one tensor; gate and up rows in ffn_up
            t = [x for x in t if not x[0].startswith(p + "attn_q.") and not x[0].startswith(p + "attn_k.")
                 and not x[0].startswith(p + "attn_v.") and x[0] not in (p + "ffn_gate.weight", p + "ffn_up.weight")]
            t += [(p + "attn_qkv.weight", [E, (H + 2 * KV) * hd], r(E * (H + 2 * KV) * hd)),
                  (p + "ffn_up.weight", [E, 2 * F], r(E * 2 * F))]
        if arch in ("gemma2", "gemma3"):
            t += [(p + "post_attention_norm.weight", [E], r(E, 1.0)), (p + "post_ffw_norm.weight", [E], r(E, 1.0))]
        if arch in ("qwen3", "qwen3moe", "gemma3"):
            t += [(p + "attn_q_norm.weight", [hd], r(hd, 1.0)), (p + "attn_k_norm.weight", [hd], r(hd, 1.0))]
    for name, ne in (x for x in extra_t if len(x) == 2):
        n = 1
        for x in ne:
            n *= x
        t += [(name, list(ne), r(n))]
    if drop:
        t = [x for x in t if x[0] != drop]
    return gguf(kvs, t)


def main():
    d = sys.argv[1]
    files = {
        "llama.gguf": model("llama"),
        "llama3_scaling.gguf": model("llama", extra_kv=[("llama.rope.scaling.type", "llama3")]),
        "qwen2.gguf": model("qwen2"),
        "qwen3_wide_heads.gguf": model("qwen3", hd=8),
        "llama_2_layers.gguf": model("llama", L=2, V=5),
        "missing_tensor.gguf": model("llama", drop="blk.0.ffn_up.weight"),
        "zero_heads.gguf": model("llama", extra_kv=[("llama.attention.head_count", 0)]),
        "qwen2moe.gguf": model("qwen2moe", X=4, K=2, Fe=4, Fs=8),
        "qwen3moe.gguf": model("qwen3moe", hd=8, X=4, K=2, Fe=4),
        "mixtral.gguf": model("llama", L=2, X=4, K=2, Fe=8),
        "gemma2.gguf": model("gemma2", L=2, extra_kv=[("gemma2.attention.sliding_window", 2),
                                                         ("gemma2.attn_logit_softcapping", 0.5),
                                                         ("gemma2.final_logit_softcapping", 1.0)]),
        "phi3.gguf": model("phi3", H=2, KV=2, extra_kv=[("phi3.attention.sliding_window", 2)]),
        "qwen2_yarn.gguf": model("qwen2", extra_kv=[("qwen2.rope.scaling.type", "yarn"),
                                                    ("qwen2.rope.scaling.factor", 4.0),
                                                    ("qwen2.rope.scaling.original_context_length", 8)]),
        "gemma2_no_post_norm.gguf": model("gemma2", drop="blk.0.post_ffw_norm.weight"),
        "gemma3.gguf": model("gemma3", L=6, hd=8, extra_kv=[("gemma3.attention.sliding_window", 2),
                                                             ("gemma3.rope.scaling.type", "linear"),
                                                             ("gemma3.rope.scaling.factor", 8.0)]),
        "gemma3_no_window.gguf": model("gemma3", hd=8),
        "phi3_longrope.gguf": model("phi3", H=2, KV=2, extra_kv=[("phi3.attention.sliding_window", 2),
                                                                 ("phi3.rope.scaling.original_context_length", 4),
                                                                 ("phi3.rope.scaling.attn_factor", 1.2)],
                                    extra_t=[("rope_factors_long.weight", [2], [4.0, 9.0]),
                                             ("rope_factors_short.weight", [2], [1.0, 1.5])]),
        "phi3_longrope_half.gguf": model("phi3", H=2, KV=2, extra_kv=[("phi3.attention.sliding_window", 2)],
                                         extra_t=[("rope_factors_long.weight", [2], [4.0, 9.0])]),
        "moe_used_over_count.gguf": model("qwen3moe", X=4, K=2, extra_kv=[("qwen3moe.expert_used_count", 5)]),
        # decoder embedding / reranking models (fuzz_model.c runs their embedder too)
        "qwen3_embed.gguf": model("qwen3", hd=8, extra_kv=[("qwen3.pooling_type", 3)]),
        "qwen3_reranker.gguf": model("qwen3", hd=8, extra_kv=[("qwen3.pooling_type", 4)],
                                     extra_t=[("cls.output.weight", (8, 2))]),
        "qwen3_reranker_bad_head.gguf": model("qwen3", hd=8, extra_kv=[("qwen3.pooling_type", 4)],
                                              extra_t=[("cls.output.weight", (9, 2))]),
    }
    for name, data in files.items():
        with open(f"{d}/{name}", "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
