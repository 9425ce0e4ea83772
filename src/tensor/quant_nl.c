/* quant_nl.c — scalar references of the non-linear (IQ4_NL, IQ4_XS), ternary (TQ1_0, TQ2_0) and
 * microscaling (MXFP4) formats: dequantizers, quantizers and dots against their activations.
 *
 * Layouts: blocks.h. The quantizers follow ggml's block semantics so that a file hearth writes
 * has the bytes llama.cpp's llama-quantize writes from the same f32 weights (no importance
 * matrix): IQ4_NL/IQ4_XS search each 32-element block's scale over 15 candidates by weighted
 * least squares (weights x^2), IQ4_XS then stores the block scales as 6-bit multiples of one fp16
 * super-block scale; TQ1_0/TQ2_0 round x / absmax to -1, 0, 1; MXFP4 takes the exponent of the
 * block's largest magnitude minus 2 and rounds each element to the nearest E2M1 level.
 *
 * Dots follow dot_ref.c's contract: an exact int32 per block (IQ4_XS: per super-block, the
 * sub-block sums times their integer scales), then one float statement per block, accumulated
 * in block order; the AVX2/AVX-512 versions reproduce them bit for bit. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define GROUP_MAX_EPS 1e-15f /* below this a block is treated as all zeros */

static float fp16(uint16_t h) { return tensor_fp16_to_fp32(h); }

/* v clamped to [lo, hi]; NaN gives lo */
static inline float clampf(float v, float lo, float hi) {
    return v >= lo ? (v <= hi ? v : hi) : lo;
}

/* ======================================================================================
 * IQ4_NL, IQ4_XS
 * ====================================================================================== */

/* Index of the level nearest to v in the ascending table val[16] (ties: the upper one, unless
 * v is strictly closer to the lower). Bisection, as ggml does, so ties resolve the same way. */
static int nearest_level(const int8_t *val, float v) {
    if (v <= val[0]) return 0;
    if (v >= val[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (v < val[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - val[hi - 1] < val[hi] - v ? hi - 1 : hi;
}

/* Best scale of one 32-element block x against the level table (weights w = x^2): the largest
 * magnitude first maps to the table's end (-127), then 15 neighbouring inverse scales
 * (itry - 127) / max, itry = -7..7, are tried; each candidate's least-squares scale
 * sum(w q x) / sum(w q^2) is kept if it lowers the weighted error. Returns 0 for an all-zero
 * block. */
static float iq4_block_scale(const float *x, const float *w) {
    const int8_t *val = tensor_iq4nl_values;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax < GROUP_MAX_EPS) return 0.0f;
    float d = -max / val[0];
    float id = 1.0f / d;
    float sumqx = 0.0f, sumq2 = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float q = val[nearest_level(val, id * x[j])];
        sumqx += w[j] * q * x[j];
        sumq2 += w[j] * q * q;
    }
    d = sumqx / sumq2;
    float best = d * sumqx;
    for (int itry = -7; itry <= 7; itry++) {
        id = (float)(itry + val[0]) / max;
        sumqx = sumq2 = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float q = val[nearest_level(val, id * x[j])];
            sumqx += w[j] * q * x[j];
            sumq2 += w[j] * q * q;
        }
        if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* 32 levels L (0..15) -> 16 bytes, Q4_0 nibble order */
static void pack_nibbles32(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

void tensor_ref_iq4_nl_from_float(const float *x, void *vy, int64_t n) {
    block_iq4_nl *y = vy;
    for (int64_t b = 0; b < n / QK4_NL; b++, x += QK4_NL) {
        float w[QK4_NL];
        for (int j = 0; j < QK4_NL; j++)
            w[j] = x[j] * x[j];
        const float d = iq4_block_scale(x, w);
        y[b].d = tensor_fp32_to_fp16(d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t L[QK4_NL];
        for (int j = 0; j < QK4_NL; j++)
            L[j] = (uint8_t)nearest_level(tensor_iq4nl_values, id * x[j]);
        pack_nibbles32(L, y[b].qs);
    }
}

void tensor_ref_iq4_nl_to_float(const void *vx, float *y, int64_t n) {
    const block_iq4_nl *x = vx;
    for (int64_t b = 0; b < n / QK4_NL; b++, y += QK4_NL) {
        const float d = fp16(x[b].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)tensor_iq4nl_values[x[b].qs[j] & 0xF];
            y[j + 16] = d * (float)tensor_iq4nl_values[x[b].qs[j] >> 4];
        }
    }
}

/* IQ4_XS: each sub-block's scale as IQ4_NL's, then d = -(largest-magnitude scale) / 32 and the
 * 6-bit scale l = nearest(scale / d) in -32..31; levels are re-rounded against d * l. */
void tensor_ref_iq4_xs_from_float(const float *x, void *vy, int64_t n) {
    block_iq4_xs *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float scales[8], w[32];
        float max_scale = 0.0f, amax_scale = 0.0f;
        for (int ib = 0; ib < 8; ib++) {
            const float *xb = x + 32 * ib;
            for (int j = 0; j < 32; j++)
                w[j] = xb[j] * xb[j];
            scales[ib] = iq4_block_scale(xb, w);
            const float a = fabsf(scales[ib]);
            if (a > amax_scale) {
                amax_scale = a;
                max_scale = scales[ib];
            }
        }
        const float d = -max_scale / 32.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t sh = 0;
        memset(y[b].scales_l, 0, sizeof y[b].scales_l);
        for (int ib = 0; ib < 8; ib++) {
            int l = tensor_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const float dl = d * (float)l;
            const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
            uint8_t L[32];
            for (int j = 0; j < 32; j++)
                L[j] = (uint8_t)nearest_level(tensor_iq4nl_values, idl * x[32 * ib + j]);
            pack_nibbles32(L, y[b].qs + 16 * ib);
            l += 32;
            y[b].scales_l[ib / 2] |= (uint8_t)((l & 0xF) << (4 * (ib % 2)));
            sh |= (uint16_t)((l >> 4) << (2 * ib));
        }
        y[b].scales_h = sh;
    }
}

/* the stored 6-bit scale of sub-block ib (0..63; the scale is this minus 32) */
static inline int iq4_xs_scale(const block_iq4_xs *x, int ib) {
    return ((x->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((x->scales_h >> (2 * ib)) & 3) << 4);
}

void tensor_ref_iq4_xs_to_float(const void *vx, float *y, int64_t n) {
    const block_iq4_xs *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16(x[b].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            const float dl = d * (float)(iq4_xs_scale(&x[b], ib) - 32);
            const uint8_t *qs = x[b].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)tensor_iq4nl_values[qs[j] & 0xF];
                y[j + 16] = dl * (float)tensor_iq4nl_values[qs[j] >> 4];
            }
        }
    }
}

/* IQ4_NL . Q8_0: isum = sum_j values[q_j] * y_j; sumf += (float)isum * (dx * dy) */
void tensor_ref_dot_iq4_nl_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK4_NL; b++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += tensor_iq4nl_values[x[b].qs[j] & 0xF] * y[b].qs[j];
            isum += tensor_iq4nl_values[x[b].qs[j] >> 4] * y[b].qs[j + 16];
        }
        sumf += (float)isum * (fp16(x[b].d) * fp16(y[b].d));
    }
    *s = sumf;
}

/* IQ4_XS . Q8_K: isum = sum_ib (ls_ib - 32) * sum_{j in ib} values[q_j] y_j (int32: at most
 * 8 * 32 * 32 * 127 * 127 < 2^31); sumf += (float)isum * (d * dy) */
void tensor_ref_dot_iq4_xs_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *qs = x[b].qs + 16 * ib;
            const int8_t *q8 = y[b].qs + 32 * ib;
            int sub = 0;
            for (int j = 0; j < 16; j++) {
                sub += tensor_iq4nl_values[qs[j] & 0xF] * q8[j];
                sub += tensor_iq4nl_values[qs[j] >> 4] * q8[j + 16];
            }
            isum += (iq4_xs_scale(&x[b], ib) - 32) * sub;
        }
        sumf += (float)isum * (fp16(x[b].d) * y[b].d);
    }
    *s = sumf;
}

/* ======================================================================================
 * TQ1_0, TQ2_0
 * ====================================================================================== */

/* x / absmax rounded to -1, 0, 1 (half away from zero, as lroundf), as 0, 1, 2 */
static inline int ternary(float v, float id) {
    return (int)roundf(clampf(v * id, -1.0f, 1.0f)) + 1;
}

static float absmax_n(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++)
        amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    return amax;
}

/* base-3 number of the trits (first most significant) -> ceil(T * 256 / 243) */
static inline uint8_t trits_to_byte(unsigned t) { return (uint8_t)((t * 256 + 242) / 243); }

void tensor_ref_tq1_0_from_float(const float *x, void *vy, int64_t n) {
    block_tq1_0 *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        const float d = absmax_n(x, QK_K);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        for (int m = 0; m < 32; m++) {
            unsigned t = 0;
            for (int k = 0; k < 5; k++)
                t = 3 * t + (unsigned)ternary(x[32 * k + m], id);
            y[b].qs[m] = trits_to_byte(t);
        }
        for (int m = 0; m < 16; m++) {
            unsigned t = 0;
            for (int k = 0; k < 5; k++)
                t = 3 * t + (unsigned)ternary(x[160 + 16 * k + m], id);
            y[b].qs[32 + m] = trits_to_byte(t);
        }
        for (int j = 0; j < 4; j++) {
            unsigned t = 0;
            for (int k = 0; k < 4; k++)
                t = 3 * t + (unsigned)ternary(x[240 + 4 * k + j], id);
            y[b].qh[j] = trits_to_byte(3 * t); /* 4 trits, shifted up to the top */
        }
    }
}

/* trit k (0 = most significant) of a TQ1_0 byte: the fraction's k-th base-3 digit */
static inline int trit(uint8_t byte, int k) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8_t q = (uint8_t)(byte * pow3[k]);
    return (q * 3) >> 8;
}

/* the 256 ternary values (0..2) of a TQ1_0 block in element order */
static void tq1_0_unpack(const block_tq1_0 *x, int8_t *t) {
    for (int k = 0; k < 5; k++)
        for (int m = 0; m < 32; m++)
            t[32 * k + m] = (int8_t)trit(x->qs[m], k);
    for (int k = 0; k < 5; k++)
        for (int m = 0; m < 16; m++)
            t[160 + 16 * k + m] = (int8_t)trit(x->qs[32 + m], k);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++)
            t[240 + 4 * k + j] = (int8_t)trit(x->qh[j], k);
}

void tensor_ref_tq1_0_to_float(const void *vx, float *y, int64_t n) {
    const block_tq1_0 *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K) {
        const float d = fp16(x[b].d);
        int8_t t[QK_K];
        tq1_0_unpack(&x[b], t);
        for (int j = 0; j < QK_K; j++)
            y[j] = (float)(t[j] - 1) * d;
    }
}

void tensor_ref_tq2_0_from_float(const float *x, void *vy, int64_t n) {
    block_tq2_0 *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        const float d = absmax_n(x, QK_K);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        for (int c = 0; c < 2; c++)
            for (int m = 0; m < 32; m++) {
                unsigned q = 0;
                for (int l = 0; l < 4; l++)
                    q |= (unsigned)ternary(x[128 * c + 32 * l + m], id) << (2 * l);
                y[b].qs[32 * c + m] = (uint8_t)q;
            }
    }
}

void tensor_ref_tq2_0_to_float(const void *vx, float *y, int64_t n) {
    const block_tq2_0 *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K) {
        const float d = fp16(x[b].d);
        for (int i = 0; i < QK_K; i++) {
            const int q = (x[b].qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
            y[i] = (float)(q - 1) * d;
        }
    }
}

/* TQ1_0 . Q8_K: isum = sum_j (t_j - 1) * y_j; sumf += (float)isum * (d * dy) */
void tensor_ref_dot_tq1_0_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_tq1_0 *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int8_t t[QK_K];
        tq1_0_unpack(&x[b], t);
        int isum = 0;
        for (int j = 0; j < QK_K; j++)
            isum += (t[j] - 1) * y[b].qs[j];
        sumf += (float)isum * (fp16(x[b].d) * y[b].d);
    }
    *s = sumf;
}

/* TQ2_0 . Q8_K: isum = sum_j (q_j - 1) * y_j (q = 3, never written, counts as 2);
 * sumf += (float)isum * (d * dy) */
void tensor_ref_dot_tq2_0_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_tq2_0 *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0;
        for (int i = 0; i < QK_K; i++) {
            const int q = (x[b].qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
            isum += (q - 1) * y[b].qs[i];
        }
        sumf += (float)isum * (fp16(x[b].d) * y[b].d);
    }
    *s = sumf;
}

/* ======================================================================================
 * MXFP4
 * ====================================================================================== */

/* index of the first level nearest to v / scale, levels (doubled E2M1) times scale */
static int nearest_mxfp4(float v, float scale) {
    int best = 0;
    float best_err = fabsf((float)tensor_mxfp4_values[0] * scale - v);
    for (int i = 1; i < 16; i++) {
        const float err = fabsf((float)tensor_mxfp4_values[i] * scale - v);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

/* MXFP4: e = floor(log2(absmax)) - 2 + 127, so the largest magnitude lands in the top E2M1
 * binade (4..6 times 2^(e-127), clipped at 6), each element rounded to the nearest level
 * (ties: the first in table order, so +0 before -0). All-zero blocks get e = 0. */
void tensor_ref_mxfp4_from_float(const float *x, void *vy, int64_t n) {
    block_mxfp4 *y = vy;
    for (int64_t b = 0; b < n / QK_MXFP4; b++, x += QK_MXFP4) {
        float amax = 0.0f;
        for (int j = 0; j < QK_MXFP4; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        const float e =
            amax > 0.0f ? clampf(floorf(log2f(amax)) - 2.0f + 127.0f, 0.0f, 254.0f) : 0.0f;
        y[b].e = (uint8_t)e;
        const float scale = tensor_e8m0_half(y[b].e);
        for (int j = 0; j < 16; j++)
            y[b].qs[j] =
                (uint8_t)(nearest_mxfp4(x[j], scale) | nearest_mxfp4(x[j + 16], scale) << 4);
    }
}

void tensor_ref_mxfp4_to_float(const void *vx, float *y, int64_t n) {
    const block_mxfp4 *x = vx;
    for (int64_t b = 0; b < n / QK_MXFP4; b++, y += QK_MXFP4) {
        const float d = tensor_e8m0_half(x[b].e);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)tensor_mxfp4_values[x[b].qs[j] & 0xF] * d;
            y[j + 16] = (float)tensor_mxfp4_values[x[b].qs[j] >> 4] * d;
        }
    }
}

/* MXFP4 . Q8_0: isum = sum_j values[q_j] * y_j (doubled levels); sumf += (float)isum *
 * (2^(e-128) * dy) */
void tensor_ref_dot_mxfp4_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
    const block_mxfp4 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_MXFP4; b++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += tensor_mxfp4_values[x[b].qs[j] & 0xF] * y[b].qs[j];
            isum += tensor_mxfp4_values[x[b].qs[j] >> 4] * y[b].qs[j + 16];
        }
        sumf += (float)isum * (tensor_e8m0_half(x[b].e) * fp16(y[b].d));
    }
    *s = sumf;
}

/* ======================================================================================
 * IQ3_S
 * ====================================================================================== */

/* the 32 signed magnitudes (-15..15) of sub-block ib in element order */
static void iq3_s_unpack(const block_iq3_s *x, int ib, int *v) {
    for (int g = 0; g < 8; g++) {
        const int idx = x->qs[8 * ib + g] | (((x->qh[ib] >> g) & 1) << 8);
        const uint32_t p = tensor_iq3s_grid[idx];
        for (int j = 0; j < 4; j++) {
            const int e = 4 * g + j;
            const int mag = (int)((p >> (8 * j)) & 0xFF);
            v[e] = ((x->signs[4 * ib + e / 8] >> (e % 8)) & 1) ? -mag : mag;
        }
    }
}

static inline int iq3_s_scale(const block_iq3_s *x, int ib) {
    return 1 + 2 * ((x->scales[ib / 2] >> (4 * (ib % 2))) & 0xF);
}

void tensor_ref_iq3_s_to_float(const void *vx, float *y, int64_t n) {
    const block_iq3_s *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16(x[b].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            const float db = d * (float)iq3_s_scale(&x[b], ib);
            int v[32];
            iq3_s_unpack(&x[b], ib, v);
            for (int e = 0; e < 32; e++)
                y[e] = db * (float)v[e];
        }
    }
}

/* IQ3_S . Q8_K: isum = sum_ib (1 + 2 s_ib) * sum_{e in ib} v_e y_e (exact: at most
 * 8 * 31 * 32 * 15 * 127 < 2^31); sumf += (float)isum * (d * dy) */
void tensor_ref_dot_iq3_s_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq3_s *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            int v[32], sub = 0;
            iq3_s_unpack(&x[b], ib, v);
            for (int e = 0; e < 32; e++)
                sub += v[e] * y[b].qs[32 * ib + e];
            isum += iq3_s_scale(&x[b], ib) * sub;
        }
        sumf += (float)isum * (fp16(x[b].d) * y[b].d);
    }
    *s = sumf;
}

/* ---- IQ3_S quantizer (llama-quantize's bytes without an importance matrix) ----
 *
 * A group of 4 magnitudes is a point of levels l_i in 0..7 (magnitude 2 l_i + 1); only the 512
 * points of the codebook can be stored. Points off the codebook are replaced by their best
 * "neighbour": among the codebook points at the three smallest squared distances from it, the one
 * with the least weighted error at the current scale. The neighbour lists are built once. */

typedef struct {
    int16_t map[4096];     /* point (l0 | l1 << 3 | l2 << 6 | l3 << 9) -> codebook index, or -1 */
    int32_t first[4096];   /* off-codebook point: its neighbours are list[first .. first + count) */
    uint16_t count[4096];
    uint16_t *list;        /* codebook indices, ascending (squared distance, index) */
} iq3s_nbr_table;

static iq3s_nbr_table iq3s_nbr;
static pthread_once_t iq3s_nbr_once = PTHREAD_ONCE_INIT;

static inline int iq3s_mag(int idx, int i) { return (int)((tensor_iq3s_grid[idx] >> (8 * i)) & 0xFF); }

/* squared distance of codebook entry j to point u */
static int iq3s_dist2(int u, int j) {
    int d2 = 0;
    for (int i = 0; i < 4; i++) {
        const int d = iq3s_mag(j, i) - (2 * ((u >> (3 * i)) & 7) + 1);
        d2 += d * d;
    }
    return d2;
}

/* the neighbours of off-codebook point u into out (NULL: count only): every codebook entry whose
 * squared distance is among the 3 smallest distinct ones, by (distance, index) */
static int iq3s_neighbours(int u, uint16_t *out) {
    int dmin[3] = {1 << 30, 1 << 30, 1 << 30};
    for (int j = 0; j < 512; j++) { /* the 3 smallest distinct distances */
        const int d = iq3s_dist2(u, j);
        if (d == dmin[0] || d == dmin[1] || d == dmin[2]) continue;
        if (d < dmin[0]) {
            dmin[2] = dmin[1], dmin[1] = dmin[0], dmin[0] = d;
        } else if (d < dmin[1]) {
            dmin[2] = dmin[1], dmin[1] = d;
        } else if (d < dmin[2]) {
            dmin[2] = d;
        }
    }
    int n = 0;
    for (int k = 0; k < 3; k++) /* by distance, then (the inner loop's order) by index */
        for (int j = 0; j < 512; j++)
            if (dmin[k] < (1 << 30) && iq3s_dist2(u, j) == dmin[k]) {
                if (out) out[n] = (uint16_t)j;
                n++;
            }
    return n;
}

static void iq3s_nbr_build(void) {
    iq3s_nbr_table *t = &iq3s_nbr;
    for (int u = 0; u < 4096; u++)
        t->map[u] = -1;
    for (int j = 0; j < 512; j++) {
        int u = 0;
        for (int i = 0; i < 4; i++)
            u |= ((iq3s_mag(j, i) - 1) / 2) << (3 * i);
        t->map[u] = (int16_t)j;
    }
    int32_t total = 0;
    for (int u = 0; u < 4096; u++) {
        t->first[u] = total;
        t->count[u] = t->map[u] < 0 ? (uint16_t)iq3s_neighbours(u, NULL) : 0;
        total += t->count[u];
    }
    t->list = malloc(sizeof(uint16_t) * (size_t)(total > 0 ? total : 1));
    if (!t->list) abort(); /* ~100 KB, once per process */
    for (int u = 0; u < 4096; u++)
        if (t->map[u] < 0) iq3s_neighbours(u, t->list + t->first[u]);
}

/* the neighbour of off-codebook point u with the least Σ w_i (scale q_i - x_i)^2 (first on
 * ties); its levels into L[4] */
static void iq3s_best_neighbour(int u, const float *x, const float *w, float scale, int8_t *L) {
    const iq3s_nbr_table *t = &iq3s_nbr;
    float best = 3.4028234664e38f;
    int bi = t->list[t->first[u]];
    for (int n = 0; n < t->count[u]; n++) {
        const int j = t->list[t->first[u] + n];
        float d2 = 0.0f;
        for (int i = 0; i < 4; i++) {
            const float diff = scale * (float)iq3s_mag(j, i) - x[i];
            d2 += w[i] * diff * diff;
        }
        if (d2 < best) best = d2, bi = j;
    }
    for (int i = 0; i < 4; i++)
        L[i] = (int8_t)((iq3s_mag(bi, i) - 1) / 2);
}

static inline int iq3s_point(const int8_t *L) {
    return L[0] | L[1] << 3 | L[2] << 6 | L[3] << 9;
}

/* levels of x (magnitudes) at inverse scale id: round(0.5 (id x - 1)) clamped to 0..7 */
static inline int8_t iq3s_level(float id, float x) {
    const int l = tensor_nearest_int(0.5f * (id * x - 1.0f));
    return (int8_t)(l < 0 ? 0 : l > 7 ? 7 : l);
}

/* Σ w x q and Σ w q^2 over the 32 elements, q = 2 L + 1 */
static void iq3s_sums(const float *w, const float *xv, const int8_t *L, float *sqx, float *sq2) {
    float a = 0.0f, b = 0.0f;
    for (int i = 0; i < 32; i++) {
        const float q = (float)(2 * L[i] + 1);
        a += w[i] * xv[i] * q;
        b += w[i] * q * q;
    }
    *sqx = a;
    *sq2 = b;
}

/* One sub-block of 32 (weights x^2): its levels L (on the codebook), sign bytes and scale. Inverse
 * scales (15 + 0.2 k) / max, k = -9..9, are tried, each point moved to the codebook; the
 * least-squares scale of the best is kept; if points had to move, they are re-rounded once at
 * that scale and the scale refitted. Returns the scale (≥ 0), or -1 for an all-zero sub-block
 * (nothing chosen). */
static float iq3s_subblock(const float *xb, int8_t *L, uint8_t *signs) {
    float w[32], wa[32], xv[32];
    for (int i = 0; i < 32; i++) {
        w[i] = xb[i] * xb[i];
        wa[i] = sqrtf(w[i]);
    }
    for (int k = 0; k < 4; k++) {
        uint8_t sb = 0;
        for (int i = 0; i < 8; i++) {
            const float v = xb[8 * k + i];
            xv[8 * k + i] = v >= 0.0f ? v : -v;
            if (!(v >= 0.0f)) sb |= (uint8_t)(1u << i);
        }
        signs[k] = sb;
    }
    float max = xv[0];
    for (int i = 1; i < 32; i++)
        max = xv[i] > max ? xv[i] : max;
    if (max == 0.0f) return -1.0f;
    memset(L, 0, 32); /* (kept only if no candidate scale has Σ w x q > 0: x^2 all underflow) */
    float best = 0.0f, scale = max / 15.0f;
    bool moved[8] = {false};
    for (int is = -9; is <= 9; is++) {
        const float id = (15.0f + (float)is * 0.2f) / max;
        const float this_scale = 1.0f / id;
        int8_t La[32];
        bool moved_a[8];
        for (int k = 0; k < 8; k++) {
            for (int i = 0; i < 4; i++)
                La[4 * k + i] = iq3s_level(id, xv[4 * k + i]);
            const int u = iq3s_point(La + 4 * k);
            moved_a[k] = iq3s_nbr.map[u] < 0;
            if (moved_a[k]) iq3s_best_neighbour(u, xv + 4 * k, wa + 4 * k, this_scale, La + 4 * k);
        }
        float sqx, sq2;
        iq3s_sums(w, xv, La, &sqx, &sq2);
        if (sq2 > 0.0f && sqx * sqx > best * sq2) {
            scale = sqx / sq2;
            best = scale * sqx;
            memcpy(L, La, 32);
            memcpy(moved, moved_a, sizeof moved);
        }
    }
    bool any = false;
    for (int k = 0; k < 8; k++)
        any = any || moved[k];
    if (any && scale > 0.0f) {
        const float id = 1.0f / scale;
        for (int k = 0; k < 8; k++) {
            int8_t l4[4];
            for (int i = 0; i < 4; i++)
                l4[i] = iq3s_level(id, xv[4 * k + i]);
            const int u = iq3s_point(l4);
            if (iq3s_nbr.map[u] < 0)
                iq3s_best_neighbour(u, xv + 4 * k, wa + 4 * k, scale, L + 4 * k);
            else
                memcpy(L + 4 * k, l4, 4);
        }
        float sqx, sq2;
        iq3s_sums(w, xv, L, &sqx, &sq2);
        if (sq2 > 0.0f) scale = sqx / sq2;
    }
    if (scale < 0.0f) { /* keep the stored (unsigned) scale positive: flip the signs instead */
        scale = -scale;
        for (int k = 0; k < 4; k++)
            signs[k] = (uint8_t)~signs[k];
    }
    return scale;
}

void tensor_ref_iq3_s_from_float(const float *x, void *vy, int64_t n) {
    pthread_once(&iq3s_nbr_once, iq3s_nbr_build);
    block_iq3_s *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        memset(&y[b], 0, sizeof y[b]);
        float scales[8], max_scale = 0.0f;
        /* llama-quantize's quirk, kept for its bytes: an all-zero sub-block stores nothing and
         * does not advance the qs / signs cursors (the next sub-block's go there); its qh bits
         * are addressed by sub-block and stay 0 */
        int qs_at = 0, signs_at = 0;
        for (int ib = 0; ib < 8; ib++) {
            int8_t L[32];
            uint8_t sg[4];
            scales[ib] = iq3s_subblock(x + 32 * ib, L, sg);
            if (scales[ib] < 0.0f) { /* all zero */
                scales[ib] = 0.0f;
                continue;
            }
            for (int k = 0; k < 8; k++) {
                const int idx = iq3s_nbr.map[iq3s_point(L + 4 * k)];
                y[b].qs[qs_at + k] = (uint8_t)(idx & 255);
                y[b].qh[(8 * ib + k) / 8] |= (uint8_t)((idx >> 8) << ((8 * ib + k) % 8));
            }
            qs_at += 8;
            memcpy(y[b].signs + signs_at, sg, 4);
            signs_at += 4;
            max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
        }
        if (max_scale == 0.0f) continue;
        const float d = max_scale / 31.0f;
        y[b].d = tensor_fp32_to_fp16(d * 1.033f);
        const float id = 1.0f / d;
        for (int ib = 0; ib < 8; ib += 2) {
            int l1 = tensor_nearest_int(0.5f * (id * scales[ib] - 1.0f));
            int l2 = tensor_nearest_int(0.5f * (id * scales[ib + 1] - 1.0f));
            l1 = l1 < 0 ? 0 : l1 > 15 ? 15 : l1;
            l2 = l2 < 0 ? 0 : l2 > 15 ? 15 : l2;
            y[b].scales[ib / 2] = (uint8_t)(l1 | (l2 << 4));
        }
    }
}
