/* ops.h — the elementwise and row operations of a transformer forward pass (F32, scalar).
 * Plain loops in the llama2.c style; shapes in the comments. */
#ifndef HEARTH_TENSOR_OPS_H
#define HEARTH_TENSOR_OPS_H

#include <stdint.h>

/* out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i] — x, out (n,); w (n,). out may alias x. */
void op_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
/* LayerNorm: out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i] — (n,); b may be NULL.
 * As ggml_norm then mul/add: mean and variance summed in double, scaled in float. out may
 * alias x. (BERT-family encoders.) */
void op_layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps);
/* GELU (tanh approximation) in place over (n,), as ggml's CPU backend computes it: the input
 * rounded to f16, the result rounded to f16 (its lookup table), with x <= -10 -> 0 and
 * x >= 10 -> x. llama.cpp's BERT FFN uses it. */
void op_gelu(float *x, int n);
/* x[i] += y[i] — (n,) */
void op_add(float *x, const float *y, int n);
/* expf as ggml's AVX-512 ggml_v_expf computes it (a polynomial, within 1.5 ulp of expf):
 * llama.cpp's softmax and SiLU use it, so matching it keeps hearth's results on its side of
 * f16 rounding boundaries. Bit-identical on any CPU (fmaf). */
float op_expf_ggml(float x);
/* y[i] = op_expf_ggml(x[i]) for i < n (16 at a time on AVX-512, the same values); x == y is fine */
void op_expf_ggml_n(const float *x, float *y, int n);
/* a[i] = silu(a[i]) * b[i] — SwiGLU gate over one row (n,): ggml's order, silu with
 * op_expf_ggml for the first n & ~15 values (its 16-wide loop) and expf for the rest */
void op_swiglu(float *a, const float *b, int n);
/* gpt-oss's clamped SwiGLU over one row (n,): x = min(a[i], limit), y = b[i] clamped to
 * [-limit, limit], a[i] = (y + 1) * x * sigmoid(alpha x), the exponential by op_expf_ggml (16 at a
 * time on AVX-512, the same values) */
void op_swiglu_oai(float *a, const float *b, int n, float alpha, float limit);
/* x[i] = silu(x[i]) */
void op_silu(float *x, int n);
/* in-place softmax over (n,) */
void op_softmax(float *x, int n);

/* RoPE angles for one position, i < n_rot/2: cs[2i] = cos(theta_i / div[i]), cs[2i+1] = sin(...)
 * with theta_0 = pos and theta_{i+1} = theta_i * theta_scale in float (theta_scale =
 * base^(-2/n_rot)): ggml's computation, which llama.cpp's outputs come from. */
void op_rope_angles(float *cs, int32_t pos, float theta_scale, const float *div, int n_rot);
/* The same with YaRN scaling as ggml computes it: per pair i, the angle mixes the interpolated
 * (theta * freq_scale) and the extrapolated (theta) angle by ggml's ramp over the correction
 * dims [corr0, corr1]; cos and sin are multiplied by mscale * (1 + 0.1 ln(1 / freq_scale)). */
void op_rope_angles_yarn(float *cs, int32_t pos, float theta_scale, const float *div, int n_rot,
                         float freq_scale, float corr0, float corr1, float mscale);
/* The same with linear scaling as ggml computes it (no YaRN ramp): angle theta_i / div[i] times
 * freq_scale (1 / rope.scaling.factor), cos and sin times mscale (rope.scaling.attn_factor,
 * Phi-3 LongRoPE's). freq_scale = mscale = 1 gives op_rope_angles' values bit for bit. */
void op_rope_angles_linear(float *cs, int32_t pos, float theta_scale, const float *div, int n_rot,
                           float freq_scale, float mscale);
/* Rotates the first n_rot dims of each of n_heads heads of x (n_heads, head_dim) in place.
 * neox = false: pairs (x[2i], x[2i+1]) (GPT-J / llama.cpp "normal");
 * neox = true:  pairs (x[i], x[i + n_rot/2]). */
void op_rope(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox);

#endif
