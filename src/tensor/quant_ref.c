/* quant_ref.c — scalar reference dequantizers and quantizers for every computable type, and
 * the attachment of all reference kernels to the traits table.
 *
 * The quantizers are the deterministic reference: given the same floats they produce the same
 * bytes on every machine, with ggml's block semantics (same scale choice and rounding), so
 * files hearth writes load in llama.cpp and vice versa. The K-quant quantizers search the
 * sub-block scale (and min) by weighted least squares over a few candidate scales rather than
 * taking min/max, which is what keeps their error close to llama.cpp's. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

/* Results must not depend on the compiler fusing a*b+c into an FMA (the references are the
 * bit-exact specification; quantized files must come out identical everywhere). GCC in -std=c11
 * mode never contracts; clang does by default, so turn it off. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define GROUP_MAX_EPS 1e-15f /* below this a group is treated as all zeros */

/* Round to nearest, ties to even, without a libm call (this sits in the K-quant search loops):
 * adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits (the FPU rounds the
 * addition ties-to-even). Exact for |v| < 2^22; larger values (and NaN) are first clamped to
 * that range, which every caller clamps much tighter anyway. */
static inline int nearest_int(float v) {
    v = v >= -4194303.0f ? (v <= 4194303.0f ? v : 4194303.0f) : -4194303.0f;
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007FFFFF) - 0x00400000;
}

int tensor_nearest_int(float v) { return nearest_int(v); }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* v clamped to [lo, hi]; NaN gives lo (so a float->int cast after it is always defined) */
static inline float clampf(float v, float lo, float hi) {
    return v >= lo ? (v <= hi ? v : hi) : lo;
}

static float fp16(uint16_t h) { return tensor_fp16_to_fp32(h); }

/* ======================================================================================
 * Floats
 * ====================================================================================== */

void tensor_ref_f32_to_float(const void *x, float *y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

void tensor_ref_f32_from_float(const float *x, void *y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

void tensor_ref_f16_to_float(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = tensor_fp16_to_fp32(h[i]);
}

void tensor_ref_f16_from_float(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = tensor_fp32_to_fp16(x[i]);
}

void tensor_ref_bf16_to_float(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = tensor_bf16_to_fp32(h[i]);
}

void tensor_ref_bf16_from_float(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = tensor_fp32_to_bf16(x[i]);
}

/* ======================================================================================
 * 32-element blocks
 * ====================================================================================== */

/* The element of largest magnitude, with its sign (the Q4_0/Q5_0 scale maps it to -8/-16 so
 * the asymmetric range -8..7 is used fully on the side that needs it). */
static float signed_absmax(const float *x, int n, float *amax_out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax_out) *amax_out = amax;
    return max;
}

/* Q4_0: d = max / -8, q = clamp(round(x/d) + 8, 0, 15) (rounding as ggml: trunc(x/d + 8.5)) */
void tensor_ref_q4_0_from_float(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy;
    for (int64_t b = 0; b < n / QK4_0; b++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0, NULL) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            /* clampf keeps NaN/huge inputs from reaching an undefined float->int cast */
            int q0 = (int)clampf(x[j] * id + 8.5f, 0.0f, 15.0f);
            int q1 = (int)clampf(x[j + QK4_0 / 2] * id + 8.5f, 0.0f, 15.0f);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void tensor_ref_q4_0_to_float(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t b = 0; b < n / QK4_0; b++, y += QK4_0) {
        const float d = fp16(x[b].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[b].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Q4_1: d = (max - min) / 15, m = min, q = clamp(trunc((x - min)/d + 0.5), 0, 15) */
void tensor_ref_q4_1_from_float(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy;
    for (int64_t b = 0; b < n / QK4_1; b++, x += QK4_1) {
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        y[b].m = tensor_fp32_to_fp16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = (int)clampf((x[j] - min) * id + 0.5f, 0.0f, 15.0f);
            int q1 = (int)clampf((x[j + QK4_1 / 2] - min) * id + 0.5f, 0.0f, 15.0f);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void tensor_ref_q4_1_to_float(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t b = 0; b < n / QK4_1; b++, y += QK4_1) {
        const float d = fp16(x[b].d), m = fp16(x[b].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[b].qs[j] & 0x0F) * d + m;
            y[j + QK4_1 / 2] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

static uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_u32le(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Q5_0: d = max / -16, q = clamp(trunc(x/d + 16.5), 0, 31); bit 4 of q goes to qh */
void tensor_ref_q5_0_from_float(const float *x, void *vy, int64_t n) {
    block_q5_0 *y = vy;
    for (int64_t b = 0; b < n / QK5_0; b++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0, NULL) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            uint32_t q0 = (uint32_t)clampf(x[j] * id + 16.5f, 0.0f, 31.0f);
            uint32_t q1 = (uint32_t)clampf(x[j + QK5_0 / 2] * id + 16.5f, 0.0f, 31.0f);
            y[b].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 >> 4) & 1u) << j;
            qh |= ((q1 >> 4) & 1u) << (j + QK5_0 / 2);
        }
        store_u32le(y[b].qh, qh);
    }
}

void tensor_ref_q5_0_to_float(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx;
    for (int64_t b = 0; b < n / QK5_0; b++, y += QK5_0) {
        const float d = fp16(x[b].d);
        const uint32_t qh = load_u32le(x[b].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = (x[b].qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + QK5_0 / 2)) & 1u) << 4);
            y[j] = (float)(q0 - 16) * d;
            y[j + QK5_0 / 2] = (float)(q1 - 16) * d;
        }
    }
}

/* Q5_1: d = (max - min) / 31, m = min, q = clamp(trunc((x - min)/d + 0.5), 0, 31) */
void tensor_ref_q5_1_from_float(const float *x, void *vy, int64_t n) {
    block_q5_1 *y = vy;
    for (int64_t b = 0; b < n / QK5_1; b++, x += QK5_1) {
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        y[b].m = tensor_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            uint32_t q0 = (uint32_t)clampf((x[j] - min) * id + 0.5f, 0.0f, 31.0f);
            uint32_t q1 = (uint32_t)clampf((x[j + QK5_1 / 2] - min) * id + 0.5f, 0.0f, 31.0f);
            y[b].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 >> 4) & 1u) << j;
            qh |= ((q1 >> 4) & 1u) << (j + QK5_1 / 2);
        }
        store_u32le(y[b].qh, qh);
    }
}

void tensor_ref_q5_1_to_float(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx;
    for (int64_t b = 0; b < n / QK5_1; b++, y += QK5_1) {
        const float d = fp16(x[b].d), m = fp16(x[b].m);
        const uint32_t qh = load_u32le(x[b].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = (x[b].qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + QK5_1 / 2)) & 1u) << 4);
            y[j] = (float)q0 * d + m;
            y[j + QK5_1 / 2] = (float)q1 * d + m;
        }
    }
}

/* Q8_0: d = amax / 127, q = roundf(x / d) (half away from zero, as ggml) */
void tensor_ref_q8_0_from_float(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        float amax;
        signed_absmax(x, QK8_0, &amax);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++)
            y[b].qs[j] = (int8_t)clampf(roundf(x[j] * id), -127.0f, 127.0f);
    }
}

void tensor_ref_q8_0_to_float(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t b = 0; b < n / QK8_0; b++, y += QK8_0) {
        const float d = fp16(x[b].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = (float)x[b].qs[j] * d;
    }
}

/* Q8_1: Q8_0 plus s = d * sum(q), the term Q4_1/Q5_1 dots need for their minimum */
void tensor_ref_q8_1_from_float(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        float amax;
        signed_absmax(x, QK8_1, &amax);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[b].qs[j] = (int8_t)clampf(roundf(x[j] * id), -127.0f, 127.0f);
            sum += y[b].qs[j];
        }
        y[b].d = tensor_fp32_to_fp16(d);
        y[b].s = tensor_fp32_to_fp16((float)sum * d);
    }
}

void tensor_ref_q8_1_to_float(const void *vx, float *y, int64_t n) {
    const block_q8_1 *x = vx;
    for (int64_t b = 0; b < n / QK8_1; b++, y += QK8_1) {
        const float d = fp16(x[b].d);
        for (int j = 0; j < QK8_1; j++)
            y[j] = (float)x[b].qs[j] * d;
    }
}

/* ======================================================================================
 * K-quants (256-element super-blocks)
 * ====================================================================================== */

/* Scale and min search for an asymmetric group (Q2_K/Q4_K/Q5_K sub-blocks): find scale s >= 0
 * and min m <= 0 so that x[i] ~ s * L[i] + m with L[i] in 0..nmax, minimising the weighted
 * squared error sum w[i] (s L[i] + m - x[i])^2 (with abs_err: sum w[i] |...|, used by Q2_K).
 * The (s, m) refit is least squares either way.
 *
 * Start from the min/max grid, then try nstep+1 slightly different grid densities
 * (nmax + rmin + rdelta*k levels across [min, max]); for each resulting L solve the 2x2
 * weighted least-squares problem for (s, m) in closed form and keep the best. Returns s and
 * stores -m (the positive "min" that Q4_K/Q5_K store and subtract) in *neg_min. */
static float search_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                              float *neg_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool abs_err) {
    float min = x[0], max = x[0];
    float sum_w = 0.0f, sum_x = 0.0f;
    for (int i = 0; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f; /* the format can only subtract: m <= 0 */
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_err = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        best_err += w[i] * (abs_err ? fabsf(diff) : diff * diff);
    }
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * (float)k + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)(l * l);
            sum_xl += w[i] * (float)l * x[i];
        }
        /* normal equations of min_{s,m} sum w (s l + m - x)^2 */
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0.0f) continue;
        float s = (sum_w * sum_xl - sum_x * sum_l) / det;
        float m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (m > 0.0f) { /* infeasible: refit s with m = 0 */
            m = 0.0f;
            s = sum_xl / sum_l2;
        }
        float err = 0.0f;
        for (int i = 0; i < n; i++) {
            float diff = s * (float)Laux[i] + m - x[i];
            err += w[i] * (abs_err ? fabsf(diff) : diff * diff);
        }
        if (err < best_err) {
            memcpy(L, Laux, (size_t)n);
            best_err = err;
            scale = s;
            min = m;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Scale search for a symmetric group (Q6_K sub-blocks): x[i] ~ s * l[i], l in -nmax..nmax-1,
 * weights x^2 (large values matter most). Tries 19 grid densities around nmax/max and keeps
 * the one maximising (sum w x l)^2 / sum w l^2 (equivalently minimising the weighted error
 * with the least-squares s). Stores L = l + nmax (0..2nmax-1) and returns s (its sign follows
 * the convention that the largest-magnitude element maps to -nmax). */
static float search_scale_sym(int n, int nmax, const float *x, uint8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    float sum_lx = 0.0f, sum_l2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (uint8_t)(l + nmax);
        float w = x[i] * x[i];
        sum_lx += w * x[i] * (float)l;
        sum_l2 += w * (float)(l * l);
    }
    float scale = sum_l2 != 0.0f ? sum_lx / sum_l2 : 0.0f;
    float best = scale * sum_lx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)k) / max;
        sum_lx = sum_l2 = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sum_lx += w * x[i] * (float)l;
            sum_l2 += w * (float)(l * l);
        }
        if (sum_l2 > 0.0f && sum_lx * sum_lx > best * sum_l2) {
            for (int i = 0; i < n; i++)
                L[i] = (uint8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sum_lx / sum_l2;
            best = scale * sum_lx;
        }
    }
    return scale;
}

/* Packs 8 six-bit scales and mins into the 12-byte Q4_K/Q5_K layout (see blocks.h). */
static void pack_k4_scales(const uint8_t *ls, const uint8_t *lm, uint8_t *q) {
    memset(q, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            q[j] = ls[j];
            q[j + 4] = lm[j];
        } else {
            q[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            q[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            q[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Shared by Q4_K and Q5_K (nmax 15 / 31): per 32-element sub-block search (scale, min)
 * weighted by rms + |x|, then quantize the 8 scales and 8 mins to 6 bits against the
 * super-block d and dmin, and recompute the levels L with the rounded scales. */
static void quantize_k4_block(const float *x, int nmax, float rmin, int nstep, uint8_t *L,
                              uint16_t *d_out, uint16_t *dmin_out, uint8_t *scales_out) {
    float w[32], scales[8], mins[8];
    uint8_t Laux[32];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(xs[l]);
        scales[j] =
            search_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)clampi(nearest_int(inv_scale * scales[j]), 0, 63);
        lm[j] = (uint8_t)clampi(nearest_int(inv_min * mins[j]), 0, 63);
    }
    pack_k4_scales(ls, lm, scales_out);
    *d_out = tensor_fp32_to_fp16(max_scale / 63.0f);
    *dmin_out = tensor_fp32_to_fp16(max_min / 63.0f);
    const float d = fp16(*d_out), dmin = fp16(*dmin_out);
    for (int j = 0; j < 8; j++) {
        const float dj = d * (float)ls[j];
        if (dj == 0.0f) continue; /* keeps the levels the search chose (all decode to -m) */
        const float mj = dmin * (float)lm[j];
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)clampi(nearest_int((x[32 * j + l] + mj) / dj), 0, nmax);
    }
}

void tensor_ref_q4_K_from_float(const float *x, void *vy, int64_t n) {
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        quantize_k4_block(x, 15, -1.0f, 20, L, &y[b].d, &y[b].dmin, y[b].scales);
        for (int c = 0; c < 4; c++) /* 64-element chunks: low nibble l, high nibble l + 32 */
            for (int l = 0; l < 32; l++)
                y[b].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

void tensor_ref_q4_K_to_float(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16(x[b].d), dmin = fp16(x[b].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc, m;
            tensor_k4_scale_min(2 * c, x[b].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            tensor_k4_scale_min(2 * c + 1, x[b].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            const uint8_t *q = x[b].qs + 32 * c;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void tensor_ref_q5_K_from_float(const float *x, void *vy, int64_t n) {
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        quantize_k4_block(x, 31, -0.5f, 15, L, &y[b].d, &y[b].dmin, y[b].scales);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
                if (lo > 15) y[b].qh[l] |= (uint8_t)(1u << (2 * c));
                if (hi > 15) y[b].qh[l] |= (uint8_t)(1u << (2 * c + 1));
                y[b].qs[32 * c + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
            }
        }
    }
}

void tensor_ref_q5_K_to_float(const void *vx, float *y, int64_t n) {
    const block_q5_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16(x[b].d), dmin = fp16(x[b].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc, m;
            tensor_k4_scale_min(2 * c, x[b].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            tensor_k4_scale_min(2 * c + 1, x[b].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            const uint8_t *q = x[b].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                int h = (x[b].qh[l] >> (2 * c)) & 1;
                *y++ = d1 * (float)((q[l] & 0xF) | (h << 4)) - m1;
            }
            for (int l = 0; l < 32; l++) {
                int h = (x[b].qh[l] >> (2 * c + 1)) & 1;
                *y++ = d2 * (float)((q[l] >> 4) | (h << 4)) - m2;
            }
        }
    }
}

/* Q6_K: per 16-element sub-block symmetric scale search, scales quantized to int8 against
 * the super-block d (largest |scale| maps to -128, clamped to 127), then levels recomputed. */
void tensor_ref_q6_K_from_float(const float *x, void *vy, int64_t n) {
    block_q6_K *y = vy;
    uint8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max_scale = 0.0f, max_abs = 0.0f;
        for (int k = 0; k < QK_K / 16; k++) {
            scales[k] = search_scale_sym(16, 32, x + 16 * k, L + 16 * k);
            if (fabsf(scales[k]) > max_abs) {
                max_abs = fabsf(scales[k]);
                max_scale = scales[k];
            }
        }
        if (max_abs < GROUP_MAX_EPS) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -128.0f / max_scale;
        y[b].d = tensor_fp32_to_fp16(1.0f / iscale);
        for (int k = 0; k < QK_K / 16; k++)
            y[b].scales[k] = (int8_t)clampi(nearest_int(iscale * scales[k]), -128, 127);
        const float d = fp16(y[b].d);
        for (int k = 0; k < QK_K / 16; k++) {
            const float dk = d * (float)y[b].scales[k];
            if (dk == 0.0f) continue;
            for (int i = 0; i < 16; i++)
                L[16 * k + i] = (uint8_t)(clampi(nearest_int(x[16 * k + i] / dk), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *Lh = L + 128 * h;
            uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                  ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

void tensor_ref_q6_K_to_float(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16(x[b].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                const int s = l / 16; /* sub-block within each 32-run */
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[s + 0] * (float)q1;
                y[l + 32] = d * (float)sc[s + 2] * (float)q2;
                y[l + 64] = d * (float)sc[s + 4] * (float)q3;
                y[l + 96] = d * (float)sc[s + 6] * (float)q4;
            }
            y += 128;
        }
    }
}

/* Scale search for a symmetric 3-bit group (Q3_K sub-blocks): start from the grid that maps
 * the largest-magnitude element to -nmax, then refine the levels coordinate by coordinate (up to
 * 5 sweeps): move L[i] to the level the current least-squares scale suggests whenever that
 * raises (sum w x l)^2 / sum w l^2, i.e. lowers the weighted error (weights x^2). Stores
 * L + nmax (0..2nmax-1); returns the least-squares scale. */
static float search_scale_q3(int n, int nmax, const float *x, int8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -(float)nmax / max;
    float sum_lx = 0.0f, sum_l2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sum_lx += w * x[i] * (float)l;
        sum_l2 += w * (float)(l * l);
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sum_lx - w * x[i] * (float)L[i];
            if (slx <= 0.0f) continue;
            float sl2 = sum_l2 - w * (float)(L[i] * L[i]);
            int nl = clampi(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += w * x[i] * (float)nl;
            sl2 += w * (float)(nl * nl);
            if (sl2 > 0.0f && slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
                L[i] = (int8_t)nl;
                sum_lx = slx;
                sum_l2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return sum_lx / sum_l2;
}

/* Packs 2-bit levels L (0..3, element order) into Q2_K/Q3_K qs: element 128h + 32k + l goes
 * to bits 2k..2k+1 of qs[32h + l]. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *Lh = L + 128 * h;
            qs[32 * h + l] =
                (uint8_t)(Lh[l] | (Lh[l + 32] << 2) | (Lh[l + 64] << 4) | (Lh[l + 96] << 6));
        }
}

/* Q2_K: per 16-element sub-block (scale, min) search with levels 0..3, weights |x| and absolute
 * error; scales and mins quantized to 4 bits against fp16 d = max_scale/15, dmin = max_min/15;
 * levels recomputed with the rounded values. */
void tensor_ref_q2_K_from_float(const float *x, void *vy, int64_t n) {
    block_q2_K *y = vy;
    uint8_t L[QK_K], Laux[16];
    float w[16], scales[16], mins[16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max_scale = 0.0f, max_min = 0.0f;
        for (int k = 0; k < 16; k++) {
            for (int l = 0; l < 16; l++)
                w[l] = fabsf(x[16 * k + l]);
            scales[k] = search_scale_min(16, 3, x + 16 * k, w, L + 16 * k, &mins[k], Laux, -0.5f,
                                         0.1f, 15, true);
            if (scales[k] > max_scale) max_scale = scales[k];
            if (mins[k] > max_min) max_min = mins[k];
        }
        memset(y[b].scales, 0, sizeof y[b].scales);
        y[b].d = y[b].dmin = 0;
        if (max_scale > 0.0f) {
            const float iscale = 15.0f / max_scale;
            for (int k = 0; k < 16; k++)
                y[b].scales[k] = (uint8_t)clampi(nearest_int(iscale * scales[k]), 0, 15);
            y[b].d = tensor_fp32_to_fp16(max_scale / 15.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = 15.0f / max_min;
            for (int k = 0; k < 16; k++)
                y[b].scales[k] |= (uint8_t)(clampi(nearest_int(iscale * mins[k]), 0, 15) << 4);
            y[b].dmin = tensor_fp32_to_fp16(max_min / 15.0f);
        }
        const float d = fp16(y[b].d), dmin = fp16(y[b].dmin);
        for (int k = 0; k < 16; k++) {
            const float dk = d * (float)(y[b].scales[k] & 0xF);
            if (dk == 0.0f) continue;
            const float mk = dmin * (float)(y[b].scales[k] >> 4);
            for (int i = 0; i < 16; i++)
                L[16 * k + i] = (uint8_t)clampi(nearest_int((x[16 * k + i] + mk) / dk), 0, 3);
        }
        pack_2bit(L, y[b].qs);
    }
}

/* Q3_K: per 16-element sub-block symmetric scale search (levels -4..3), scales quantized to
 * signed 6 bits against fp16 d (largest |scale| maps to -32), levels recomputed; the high bit
 * of each level goes to hmask (bit k of hmask[l] for element 32k + l), the low 2 bits to qs. */
void tensor_ref_q3_K_from_float(const float *x, void *vy, int64_t n) {
    block_q3_K *y = vy;
    int8_t Ls[QK_K];
    uint8_t L[QK_K];
    float scales[16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max_scale = 0.0f, amax = 0.0f;
        for (int k = 0; k < 16; k++) {
            scales[k] = search_scale_q3(16, 4, x + 16 * k, Ls + 16 * k);
            if (fabsf(scales[k]) > amax) {
                amax = fabsf(scales[k]);
                max_scale = scales[k];
            }
        }
        memset(&y[b], 0, sizeof y[b]);
        int sc[16] = {0};
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int k = 0; k < 16; k++) {
                const int l = clampi(nearest_int(iscale * scales[k]), -32, 31) + 32;
                if (k < 8)
                    y[b].scales[k] |= (uint8_t)(l & 0xF);
                else
                    y[b].scales[k - 8] |= (uint8_t)((l & 0xF) << 4);
                y[b].scales[8 + k % 4] |= (uint8_t)((l >> 4) << (2 * (k / 4)));
                sc[k] = l - 32;
            }
            y[b].d = tensor_fp32_to_fp16(1.0f / iscale);
        }
        const float d = fp16(y[b].d);
        for (int k = 0; k < 16; k++) {
            const float dk = d * (float)sc[k];
            for (int i = 0; i < 16; i++) {
                /* a zero scale keeps the search's levels (they all decode to 0) */
                int l = dk != 0.0f ? clampi(nearest_int(x[16 * k + i] / dk), -4, 3) + 4
                                   : Ls[16 * k + i];
                L[16 * k + i] = (uint8_t)l;
            }
        }
        for (int i = 0; i < QK_K; i++) {
            if (L[i] > 3) {
                y[b].hmask[i % 32] |= (uint8_t)(1u << (i / 32));
                L[i] -= 4;
            }
        }
        pack_2bit(L, y[b].qs);
    }
}

/* Q2_K: 16 sub-blocks of 16, scale/min nibbles against d/dmin. */
void tensor_ref_q2_K_to_float(const void *vx, float *y, int64_t n) {
    const block_q2_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16(x[b].d), dmin = fp16(x[b].dmin);
        int is = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[b].qs + 32 * h;
            for (int k = 0; k < 4; k++) { /* bit pair k: 32 elements, two sub-blocks */
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[b].scales[is++];
                    const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (float)((q[16 * half + l] >> (2 * k)) & 3) - ml;
                }
            }
        }
    }
}

/* Q3_K. Scale i (0..15) is 6 bits: low 4 from scales[i] (i < 8) or
 * the high nibble of scales[i - 8]; top 2 from scales[8 + i % 4] bits 2*(i / 4). Stored biased
 * by 32. */
void tensor_ref_q3_K_to_float(const void *vx, float *y, int64_t n) {
    const block_q3_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = fp16(x[b].d);
        int sc[16];
        for (int i = 0; i < 16; i++) {
            int lo = i < 8 ? x[b].scales[i] & 0xF : x[b].scales[i - 8] >> 4;
            int hi = (x[b].scales[8 + i % 4] >> (2 * (i / 4))) & 3;
            sc[i] = (lo | (hi << 4)) - 32;
        }
        int is = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[b].qs + 32 * h;
            for (int k = 0; k < 4; k++) {
                const int hbit = 4 * h + k; /* hmask bit holding the high bit of this run */
                for (int half = 0; half < 2; half++) {
                    const float dl = d * (float)sc[is++];
                    for (int l = 0; l < 16; l++) {
                        int idx = 16 * half + l;
                        int v = (q[idx] >> (2 * k)) & 3;
                        if (!((x[b].hmask[idx] >> hbit) & 1)) v -= 4;
                        *y++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

/* Q8_K: d = max / -127 (largest magnitude maps to -127, so q is symmetric in -127..127,
 * which keeps SIMD sign tricks simple), plus the 16-element sums. */
void tensor_ref_q8_K_from_float(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float amax;
        const float max = signed_absmax(x, QK_K, &amax);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++)
            y[b].qs[j] = (int8_t)clampi(nearest_int(iscale * x[j]), -127, 127);
        for (int k = 0; k < QK_K / 16; k++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += y[b].qs[16 * k + j];
            y[b].bsums[k] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

void tensor_ref_q8_K_to_float(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K)
        for (int j = 0; j < QK_K; j++)
            y[j] = x[b].d * (float)x[b].qs[j];
}

/* ======================================================================================
 * Traits attachment
 * ====================================================================================== */

void tensor_kernels_attach(tensor_type type, tensor_traits *t) {
    switch (type) {
#define K(T, TO, FROM, DOT, VT)                                                                    \
    case T:                                                                                        \
        t->to_float = TO;                                                                          \
        t->from_float = FROM;                                                                      \
        t->vec_dot = DOT;                                                                          \
        t->vec_dot_type = VT;                                                                      \
        break;
        // clang-format off
        K(TENSOR_TYPE_F32,  tensor_ref_f32_to_float,  tensor_ref_f32_from_float,  tensor_ref_dot_f32_f32,   TENSOR_TYPE_F32)
        K(TENSOR_TYPE_F16,  tensor_ref_f16_to_float,  tensor_ref_f16_from_float,  tensor_ref_dot_f16_f32,   TENSOR_TYPE_F32)
        K(TENSOR_TYPE_BF16, tensor_ref_bf16_to_float, tensor_ref_bf16_from_float, tensor_ref_dot_bf16_f32,  TENSOR_TYPE_F32)
        K(TENSOR_TYPE_Q4_0, tensor_ref_q4_0_to_float, tensor_ref_q4_0_from_float, tensor_ref_dot_q4_0_q8_0, TENSOR_TYPE_Q8_0)
        K(TENSOR_TYPE_Q4_1, tensor_ref_q4_1_to_float, tensor_ref_q4_1_from_float, tensor_ref_dot_q4_1_q8_1, TENSOR_TYPE_Q8_1)
        K(TENSOR_TYPE_Q5_0, tensor_ref_q5_0_to_float, tensor_ref_q5_0_from_float, tensor_ref_dot_q5_0_q8_0, TENSOR_TYPE_Q8_0)
        K(TENSOR_TYPE_Q5_1, tensor_ref_q5_1_to_float, tensor_ref_q5_1_from_float, tensor_ref_dot_q5_1_q8_1, TENSOR_TYPE_Q8_1)
        K(TENSOR_TYPE_Q8_0, tensor_ref_q8_0_to_float, tensor_ref_q8_0_from_float, tensor_ref_dot_q8_0_q8_0, TENSOR_TYPE_Q8_0)
        K(TENSOR_TYPE_Q8_1, tensor_ref_q8_1_to_float, tensor_ref_q8_1_from_float, NULL,                     TENSOR_TYPE_Q8_1)
        K(TENSOR_TYPE_Q2_K, tensor_ref_q2_K_to_float, tensor_ref_q2_K_from_float, tensor_ref_dot_q2_K_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_Q3_K, tensor_ref_q3_K_to_float, tensor_ref_q3_K_from_float, tensor_ref_dot_q3_K_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_Q4_K, tensor_ref_q4_K_to_float, tensor_ref_q4_K_from_float, tensor_ref_dot_q4_K_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_Q5_K, tensor_ref_q5_K_to_float, tensor_ref_q5_K_from_float, tensor_ref_dot_q5_K_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_Q6_K, tensor_ref_q6_K_to_float, tensor_ref_q6_K_from_float, tensor_ref_dot_q6_K_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_Q8_K, tensor_ref_q8_K_to_float, tensor_ref_q8_K_from_float, tensor_ref_dot_q8_K_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_IQ4_NL, tensor_ref_iq4_nl_to_float, tensor_ref_iq4_nl_from_float, tensor_ref_dot_iq4_nl_q8_0, TENSOR_TYPE_Q8_0)
        K(TENSOR_TYPE_IQ4_XS, tensor_ref_iq4_xs_to_float, tensor_ref_iq4_xs_from_float, tensor_ref_dot_iq4_xs_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_TQ1_0,  tensor_ref_tq1_0_to_float,  tensor_ref_tq1_0_from_float,  tensor_ref_dot_tq1_0_q8_K,  TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_TQ2_0,  tensor_ref_tq2_0_to_float,  tensor_ref_tq2_0_from_float,  tensor_ref_dot_tq2_0_q8_K,  TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_IQ3_S,  tensor_ref_iq3_s_to_float,  tensor_ref_iq3_s_from_float,  tensor_ref_dot_iq3_s_q8_K,  TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_IQ2_XXS, tensor_ref_iq2_xxs_to_float, NULL, tensor_ref_dot_iq2_xxs_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_IQ2_XS,  tensor_ref_iq2_xs_to_float,  NULL, tensor_ref_dot_iq2_xs_q8_K,  TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_IQ2_S,   tensor_ref_iq2_s_to_float,   NULL, tensor_ref_dot_iq2_s_q8_K,   TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_IQ3_XXS, tensor_ref_iq3_xxs_to_float, NULL, tensor_ref_dot_iq3_xxs_q8_K, TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_IQ1_S,   tensor_ref_iq1_s_to_float,   NULL, tensor_ref_dot_iq1_s_q8_K,   TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_IQ1_M,   tensor_ref_iq1_m_to_float,   NULL, tensor_ref_dot_iq1_m_q8_K,   TENSOR_TYPE_Q8_K)
        K(TENSOR_TYPE_MXFP4,  tensor_ref_mxfp4_to_float,  tensor_ref_mxfp4_from_float,  tensor_ref_dot_mxfp4_q8_0,  TENSOR_TYPE_Q8_0)
        // clang-format on
#undef K
    default:
        break;
    }
}
