/* dot_ref.c — scalar reference dot products: a row of weights (first type) against a row of
 * activations (its vec_dot_type). Every kernel: x (n,) . y (n,) -> *s.
 *
 * Quantized dots follow the arithmetic the formats imply and that SIMD versions reproduce
 * exactly: per (sub-)block an exact int32 dot of the quantized values, then one float scale
 * per block, accumulated in float in block order:
 *   sumf += (float)isum * (dx * dy)   [and the min/sum term where the format has one]
 * except Q8_0 x Q8_0, which keeps llama.cpp's 8 float lanes (tensor_ref_dot_q8_0_q8_0). SIMD
 * kernels reproduce these bit for bit (test_kernels compares with ==).
 *
 * Float weights (F32/F16/BF16) are dotted against F32 activations: no activation rounding
 * to 16 bits (more accurate than ggml's F16 x F16), and F16C/AVX2 can widen the weights on
 * the fly just as cheaply. The F16/BF16 references accumulate float products in double so
 * they are the accurate baseline SIMD float sums are measured against; F32 follows ggml's
 * summation order instead (see tensor_ref_dot_f32_f32). */
#include <math.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

/* Results must not depend on the compiler fusing a*b+c into an FMA (the references are the
 * bit-exact specification; quantized files must come out identical everywhere). GCC in -std=c11
 * mode never contracts; clang does by default, so turn it off. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static float fp16(uint16_t h) { return tensor_fp16_to_fp32(h); }

/* ---- Floats ---- */

/* F32 . F32 in the order of ggml's AVX-512 ggml_vec_dot_f32 (llama.cpp's CPU build, which
 * hearth's logits are checked against): 64 fused partial sums by i % 64, folded as
 * (p[l] + p[32+l]) + (p[16+l] + p[48+l]) for the 16 lanes l, halved pairwise (l + 8, + 4, + 2,
 * + 1), then the n % 64 tail one at a time as tensor_f32_tail adds it. The AVX2 kernel computes
 * exactly this (bit-identical); F32 weights decide f16 roundings in the KV cache downstream, so
 * the order matters there and double accuracy does not help. */
void tensor_ref_dot_f32_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    float p[64] = {0};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int l = 0; l < 64; l++)
            p[l] = fmaf(x[i + l], y[i + l], p[l]);
    float t[16];
    for (int l = 0; l < 16; l++)
        t[l] = (p[l] + p[32 + l]) + (p[16 + l] + p[48 + l]);
    for (int o = 8; o >= 1; o /= 2)
        for (int l = 0; l < o; l++)
            t[l] = t[l] + t[l + o];
    *s = tensor_f32_tail(t[0], x + i, y + i, n - i);
}

/* ---- LoRA's low-rank products in llama.cpp's orders (tensor_internal.h) ---- */

static float dot16(int64_t n, const float *x, const float *y) {
    float p[16] = {0};
    for (int64_t i = 0; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++)
            p[l] = fmaf(x[i + l], y[i + l], p[l]);
    float s8[8], s4[4];
    for (int i = 0; i < 8; i++)
        s8[i] = p[i] + p[i + 8];
    for (int i = 0; i < 4; i++)
        s4[i] = s8[i] + s8[i + 4];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

void tensor_ref_dot16_f32(int64_t n, float *s, const float *x, const float *y) {
    *s = dot16(n, x, y);
}

void tensor_ref_lowrank16_add_f32(int64_t rank, int64_t n_out, const float *b, const float *t,
                                  float s, float *y) {
    for (int64_t o = 0; o < n_out; o++)
        y[o] += dot16(rank, b + o * rank, t) * s;
}

void tensor_ref_lowrank_seq_add_f32(int64_t rank, int64_t n_out, const float *b, const float *t,
                                    float s, float *y) {
    for (int64_t o = 0; o < n_out; o++) {
        y[o] += tensor_f32_tail(0.0f, b + o * rank, t, rank) * s;
    }
}

void tensor_ref_dot_f16_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx;
    const float *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(tensor_fp16_to_fp32(x[i]) * y[i]);
    *s = (float)sum;
}

void tensor_ref_dot_bf16_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx;
    const float *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(tensor_bf16_to_fp32(x[i]) * y[i]);
    *s = (float)sum;
}

/* ---- 32-element blocks ---- */

/* Q4_0 . Q8_0: sum_b dx*dy * sum_j (q_j - 8) * y_j */
void tensor_ref_dot_q4_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((x[b].qs[j] & 0x0F) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QK4_0 / 2];
        }
        sumf += (float)isum * (fp16(x[b].d) * fp16(y[b].d));
    }
    *s = sumf;
}

/* Q4_1 . Q8_1: sum_b [dx*dy * sum_j q_j y_j + mx * (dy * sum_j y_j)]; the second factor is
 * the s that Q8_1 stores, so the minimum costs one multiply per block. */
void tensor_ref_dot_q4_1_q8_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK4_1; b++) {
        int isum = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            isum += (x[b].qs[j] & 0x0F) * y[b].qs[j];
            isum += (x[b].qs[j] >> 4) * y[b].qs[j + QK4_1 / 2];
        }
        sumf += (float)isum * (fp16(x[b].d) * fp16(y[b].d)) + fp16(x[b].m) * fp16(y[b].s);
    }
    *s = sumf;
}

static uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Q5_0 . Q8_0: as Q4_0 with 5-bit q and offset 16 */
void tensor_ref_dot_q5_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK5_0; b++) {
        const uint32_t qh = load_u32le(x[b].qh);
        int isum = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = (x[b].qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + QK5_0 / 2)) & 1u) << 4);
            isum += (q0 - 16) * y[b].qs[j] + (q1 - 16) * y[b].qs[j + QK5_0 / 2];
        }
        sumf += (float)isum * (fp16(x[b].d) * fp16(y[b].d));
    }
    *s = sumf;
}

/* Q5_1 . Q8_1: as Q4_1 with 5-bit q */
void tensor_ref_dot_q5_1_q8_1(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK5_1; b++) {
        const uint32_t qh = load_u32le(x[b].qh);
        int isum = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = (x[b].qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + QK5_1 / 2)) & 1u) << 4);
            isum += q0 * y[b].qs[j] + q1 * y[b].qs[j + QK5_1 / 2];
        }
        sumf += (float)isum * (fp16(x[b].d) * fp16(y[b].d)) + fp16(x[b].m) * fp16(y[b].s);
    }
    *s = sumf;
}

/* Q8_0 . Q8_0 in the order of llama.cpp's x86 kernels (ggml_vec_dot_q8_0_q8_0 and llamafile's
 * tinyBLAS Q8_0 tiles, which its CPU build runs for decode steps and prompts alike): 8 float
 * lanes, lane j taking per block b the exact int sum of the products of elements 4j..4j+3 as
 *   acc[j] = fmaf(dx_b * dy_b, (float)isum_bj, acc[j])     (dx_b * dy_b rounded once, to float)
 * blocks in order, then the lanes folded as ggml's hsum_float_8:
 *   ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)).
 * Why this order and not one running sum per block: hearth's logits are checked against
 * llama.cpp's (test_lora, test_quant_peer, ...), and a last-bit difference in a Q8_0 matmul
 * output can cross an f16 rounding of the KV cache or the next layer's 8-bit activation
 * rounding downstream and move a log-prob by ~1e-3 (issue 22: the running-sum order left the
 * Q8_0-base LoRA cases 3.2e-3 away; this order makes them equal). Neither order is the more
 * exact. Every SIMD Q8_0 x Q8_0 kernel (dots, small-batch, tiled, NEON) reproduces this bit for
 * bit (test_kernels, test_kernels_neon). The int sums are exact (|sum| <= 4 * 128 * 127). */
void tensor_ref_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0};
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = fp16(x[b].d) * fp16(y[b].d);
        for (int j = 0; j < 8; j++) {
            int isum = 0;
            for (int k = 4 * j; k < 4 * j + 4; k++)
                isum += x[b].qs[k] * y[b].qs[k];
            acc[j] = fmaf(d, (float)isum, acc[j]);
        }
    }
    *s = tensor_q8_0_lanes_fold(acc);
}

/* ---- K-quants against Q8_K ---- */

/* Q4_K . Q8_K, per super-block:
 *   isum = sum_j sc_j * sum_{i in sub-block j} q_i y_i        (int32; |isum| < 2^31)
 *   imin = sum_j m_j * (bsums[2j] + bsums[2j+1])              (the min term via Q8_K's sums)
 *   sumf += (float)isum * (d * dy) - (float)imin * (dmin * dy) */
void tensor_ref_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            tensor_k4_scale_min(j, x[b].scales, &sc, &m);
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2); /* even sub-block: low nibbles, odd: high */
            const int8_t *q8 = y[b].qs + 32 * j;
            int sub = 0;
            for (int l = 0; l < 32; l++)
                sub += ((q[l] >> shift) & 0xF) * q8[l];
            isum += sc * sub;
            imin += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        sumf += (float)isum * (fp16(x[b].d) * y[b].d) - (float)imin * (fp16(x[b].dmin) * y[b].d);
    }
    *s = sumf;
}

/* Q5_K . Q8_K: as Q4_K with the 5th bit from qh (bit j of qh[l] for sub-block j) */
void tensor_ref_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            tensor_k4_scale_min(j, x[b].scales, &sc, &m);
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            const int8_t *q8 = y[b].qs + 32 * j;
            int sub = 0;
            for (int l = 0; l < 32; l++) {
                int v = ((q[l] >> shift) & 0xF) | (((x[b].qh[l] >> j) & 1) << 4);
                sub += v * q8[l];
            }
            isum += sc * sub;
            imin += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        sumf += (float)isum * (fp16(x[b].d) * y[b].d) - (float)imin * (fp16(x[b].dmin) * y[b].d);
    }
    *s = sumf;
}

/* Q6_K . Q8_K: isum = sum_k scales_k * sum_{i in sub-block k} (q_i - 32) y_i (16 sub-blocks
 * of 16); sumf += (float)isum * (d * dy). The -32 is folded per element (a SIMD version may
 * instead subtract 32 * scales_k * bsums[k]; the int32 result is identical). */
void tensor_ref_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int q[QK_K];
        for (int h = 0; h < 2; h++) { /* unpack 6-bit values, element order as in blocks.h */
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            int *qo = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                qo[l] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                qo[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                qo[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                qo[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
        }
        int isum = 0;
        for (int k = 0; k < QK_K / 16; k++) {
            int sub = 0;
            for (int i = 0; i < 16; i++)
                sub += q[16 * k + i] * y[b].qs[16 * k + i];
            isum += x[b].scales[k] * sub;
        }
        sumf += (float)isum * (fp16(x[b].d) * y[b].d);
    }
    *s = sumf;
}

/* Q8_K . Q8_K: sum_b dx*dy * sum_j qx_j qy_j (mainly for tests and generic code paths) */
void tensor_ref_dot_q8_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0;
        for (int j = 0; j < QK_K; j++)
            isum += x[b].qs[j] * y[b].qs[j];
        sumf += (float)isum * (x[b].d * y[b].d);
    }
    *s = sumf;
}

/* Q2_K . Q8_K: 16 sub-blocks of 16 with 4-bit scale sc and 4-bit min m (sc_k = scales[k] & 15,
 * m_k = scales[k] >> 4); element 128h + 32j + l has q = (qs[32h + l] >> 2j) & 3.
 *   isum = sum_k sc_k * sum_{i in k} q_i y_i,   imin = sum_k m_k * bsums[k]
 *   sumf += (float)isum * (d * dy) - (float)imin * (dmin * dy) */
void tensor_ref_dot_q2_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0, imin = 0;
        for (int k = 0; k < QK_K / 16; k++) {
            int sub = 0;
            for (int i = 16 * k; i < 16 * k + 16; i++) {
                const int h = i / 128, j = (i % 128) / 32, l = i % 32;
                sub += ((x[b].qs[32 * h + l] >> (2 * j)) & 3) * y[b].qs[i];
            }
            isum += (x[b].scales[k] & 0xF) * sub;
            imin += (x[b].scales[k] >> 4) * y[b].bsums[k];
        }
        sumf += (float)isum * (fp16(x[b].d) * y[b].d) - (float)imin * (fp16(x[b].dmin) * y[b].d);
    }
    *s = sumf;
}

/* Q3_K . Q8_K: 16 sub-blocks of 16 with signed 6-bit scales (stored + 32, packed as in
 * tensor_ref_q3_K_to_float); element 128h + 32j + l has q = ((qs[32h + l] >> 2j) & 3) - 4
 * unless bit 4h + j of hmask[l] is set.
 *   isum = sum_k (sc_k - 32) * sum_{i in k} q_i y_i;  sumf += (float)isum * (d * dy) */
void tensor_ref_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0;
        for (int k = 0; k < QK_K / 16; k++) {
            const int lo = k < 8 ? x[b].scales[k] & 0xF : x[b].scales[k - 8] >> 4;
            const int hi = (x[b].scales[8 + k % 4] >> (2 * (k / 4))) & 3;
            const int sc = (lo | (hi << 4)) - 32;
            int sub = 0;
            for (int i = 16 * k; i < 16 * k + 16; i++) {
                const int h = i / 128, j = (i % 128) / 32, l = i % 32;
                int q = (x[b].qs[32 * h + l] >> (2 * j)) & 3;
                if (!((x[b].hmask[l] >> (4 * h + j)) & 1)) q -= 4;
                sub += q * y[b].qs[i];
            }
            isum += sc * sub;
        }
        sumf += (float)isum * (fp16(x[b].d) * y[b].d);
    }
    *s = sumf;
}
