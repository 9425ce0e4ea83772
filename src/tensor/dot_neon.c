/* dot_neon.c — ARMv8-A Advanced SIMD (NEON) kernels, compiled on aarch64 only (the Makefile
 * leaves the x86 files out there and this one out on x86).
 *
 * The integer dots (Q4_0/Q8_0 against Q8_0, Q4_K/Q5_K/Q6_K against Q8_K) come from
 * dot_neon_body.h, here in their plain-NEON form (int8 products widened with SMULL + SADALP);
 * dot_neondp.c builds the same kernels with SDOT. Both are bit-identical to the references.
 *
 * Float weights: F32 . F32 reproduces the reference's summation order exactly (64 fused
 * partial sums, ggml's fold), so it is bit-identical too; F16/BF16 . F32 widen the weights
 * exactly and sum float products with FMA in 16 lanes: equal to the double-accumulating
 * references up to float summation order (tests: within 1e-5 of sum |x y|), as the AVX2 ones. */
#define NEON_DOTPROD 0
#define NEON_NAME(x) tensor_neon_##x
#include "tensor/dot_neon_body.h"

#include <math.h>
#include <string.h>

/* ---- Activation quantizers (bit-identical to quant_ref.c) ---- */

/* largest |x[j]| over n (a multiple of 16) floats; NaN ignored (FMAXNM), as the reference's
 * fabsf(x) > amax comparison does */
static inline float absmax16(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < n; j += 4)
        m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxnmvq_f32(m);
}

/* 16 int32 lanes (already in -127..127, or anything for NaN lanes marked by nan) -> int8 */
static inline int8x16_t narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    return vcombine_s8(vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b))),
                       vqmovn_s16(vcombine_s16(vqmovn_s32(c), vqmovn_s32(d))));
}

/* v rounded by cvt, clamped to -127..127; NaN gives -127 like the reference's clamps (the
 * conversion alone would give 0) */
#define ROUND_CLAMP(cvt, v)                                                                      \
    vbslq_s32(vceqq_f32((v), (v)),                                                               \
              vmaxq_s32(vdupq_n_s32(-127), vminq_s32(vdupq_n_s32(127), cvt(v))),                 \
              vdupq_n_s32(-127))

/* Q8_0: d = amax / 127, q = roundf(x / d) (ties away from zero: FCVTAS) */
void tensor_neon_q8_0_from_float(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        const float amax = absmax16(x, QK8_0);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tensor_fp32_to_fp16(d);
        for (int h = 0; h < 2; h++) {
            int32x4_t q[4];
            for (int k = 0; k < 4; k++) {
                const float32x4_t v = vmulq_n_f32(vld1q_f32(x + 16 * h + 4 * k), id);
                q[k] = ROUND_CLAMP(vcvtaq_s32_f32, v);
            }
            vst1q_s8(y[b].qs + 16 * h, narrow16(q[0], q[1], q[2], q[3]));
        }
    }
}

/* Q8_K: scale from the first element of largest magnitude (with its sign), q rounded to
 * nearest even (FCVTNS, as nearest_int), bsums of each 16 */
void tensor_neon_q8_K_from_float(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        const float amax = absmax16(x, QK_K);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            if (x[j] == amax || x[j] == -amax) {
                max = x[j];
                break;
            }
        }
        const float iscale = -127.0f / max;
        for (int g = 0; g < QK_K / 16; g++) {
            int32x4_t q[4];
            for (int k = 0; k < 4; k++) {
                const float32x4_t v = vmulq_n_f32(vld1q_f32(x + 16 * g + 4 * k), iscale);
                q[k] = ROUND_CLAMP(vcvtnq_s32_f32, v);
            }
            const int8x16_t q8 = narrow16(q[0], q[1], q[2], q[3]);
            vst1q_s8(y[b].qs + 16 * g, q8);
            y[b].bsums[g] = vaddlvq_s8(q8);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ---- F16 rows (the default KV cache type): FCVT/FCVTN, IEEE round-to-nearest-even like the
 * reference (NaNs come out quiet in both) ---- */

void tensor_neon_f16_to_float(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
        vst1q_f32(y + i, vcvt_f32_f16(vget_low_f16(h)));
        vst1q_f32(y + i + 4, vcvt_high_f32_f16(h));
    }
    for (; i < n; i++)
        y[i] = h2f(x[i]);
}

void tensor_neon_f16_from_float(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h =
            vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
        vst1q_u16(y + i, vreinterpretq_u16_f16(h));
    }
    for (; i < n; i++)
        y[i] = tensor_fp32_to_fp16(x[i]);
}

/* ---- Float weights ---- */

void tensor_neon_dot_f32_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    float32x4_t p[16]; /* lane j of p[k] is the reference's partial sum p[4k + j] */
    for (int k = 0; k < 16; k++)
        p[k] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < 16; k++)
            p[k] = vfmaq_f32(p[k], vld1q_f32(x + i + 4 * k), vld1q_f32(y + i + 4 * k));
    /* t[l] = (p[l] + p[32+l]) + (p[16+l] + p[48+l]) for l = 4k..4k+3 */
    float32x4_t t[4];
    for (int k = 0; k < 4; k++)
        t[k] = vaddq_f32(vaddq_f32(p[k], p[8 + k]), vaddq_f32(p[4 + k], p[12 + k]));
    t[0] = vaddq_f32(t[0], t[2]); /* l += 8 */
    t[1] = vaddq_f32(t[1], t[3]);
    t[0] = vaddq_f32(t[0], t[1]); /* l += 4 */
    const float u0 = vgetq_lane_f32(t[0], 0) + vgetq_lane_f32(t[0], 2); /* l += 2 */
    const float u1 = vgetq_lane_f32(t[0], 1) + vgetq_lane_f32(t[0], 3);
    const float sum = u0 + u1; /* l += 1 */
    *s = tensor_f32_tail(sum, x + i, y + i, n - i); /* the reference's tail order */
}

/* 16 lanes of FMA over the widened weights; widen(h, k) gives elements 4k..4k+3 of 8 halves */
void tensor_neon_dot_f16_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx;
    const float *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const float16x8_t h0 = vreinterpretq_f16_u16(vld1q_u16(x + i));
        const float16x8_t h1 = vreinterpretq_f16_u16(vld1q_u16(x + i + 8));
        a0 = vfmaq_f32(a0, vcvt_f32_f16(vget_low_f16(h0)), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vcvt_high_f32_f16(h0), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vcvt_f32_f16(vget_low_f16(h1)), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vcvt_high_f32_f16(h1), vld1q_f32(y + i + 12));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++)
        sum = fmaf(h2f(x[i]), y[i], sum);
    *s = sum;
}

/* bf16 -> f32 is a 16-bit left shift of the bits (exact) */
void tensor_neon_dot_bf16_f32(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx;
    const float *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const uint16x8_t h0 = vld1q_u16(x + i), h1 = vld1q_u16(x + i + 8);
        a0 = vfmaq_f32(a0, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h0), 16)),
                       vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vreinterpretq_f32_u32(vshll_high_n_u16(h0, 16)), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h1), 16)),
                       vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vreinterpretq_f32_u32(vshll_high_n_u16(h1, 16)), vld1q_f32(y + i + 12));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++)
        sum = fmaf(tensor_bf16_to_fp32(x[i]), y[i], sum);
    *s = sum;
}
