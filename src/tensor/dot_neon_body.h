/* dot_neon_body.h — the NEON integer dot kernels, written once and compiled twice: by
 * dot_neon.c for plain ARMv8-A Advanced SIMD (NEON_DOTPROD 0: int8 products widened with
 * SMULL/SADALP) and by dot_neondp.c for ARMv8.2 with the dot-product extension (NEON_DOTPROD 1:
 * SDOT, built with -march=armv8.2-a+dotprod by the Makefile's %_neondp.o rule). The including
 * file defines NEON_DOTPROD and NEON_NAME(x), the function name for kernel x.
 *
 * Bit-identical to the references in dot_ref.c for every input: each (sub-)block's integer dot
 * is computed exactly in int32 (every int8 product and every partial sum fits, so any order
 * gives the reference's value), then the block's float terms are written exactly as the
 * reference writes them, accumulated in block order. GCC in -std=c11 mode does not contract
 * a*b+c into an FMA; for clang the pragma below says the same. */
#include <arm_neon.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* fp16 bits -> float, exact (FCVT), like tensor_fp16_to_fp32 */
static inline float h2f(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* acc + the 16 products a[i] * b[i], summed into 4 int32 lanes (which lane gets which product
 * differs between the two versions; only the lane total is used). Exact for any int8 values. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if NEON_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

/* dot of 32 int8 pairs a[0..31] . b[0..31], as 4 int32 lanes */
static inline int32x4_t dot32(int8x16_t a0, int8x16_t a1, const int8_t *b) {
    return dot16(dot16(vdupq_n_s32(0), a0, vld1q_s8(b)), a1, vld1q_s8(b + 16));
}

void NEON_NAME(dot_q4_0_q8_0)(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(8);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const uint8x16_t q = vld1q_u8(x[b].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), off);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), off);
        const int isum = vaddvq_s32(dot32(lo, hi, y[b].qs));
        sumf += (float)isum * (h2f(x[b].d) * h2f(y[b].d));
    }
    *s = sumf;
}

/* The 4 int32 sums of 4 consecutive products each: lane k = a[4k..4k+3] . b[4k..4k+3] (SDOT's
 * own grouping; without it the pairs of SMULL are added pairwise twice). */
static inline int32x4_t dot_by4(int8x16_t a, int8x16_t b) {
#if NEON_DOTPROD
    return vdotq_s32(vdupq_n_s32(0), a, b);
#else
    const int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    const int32x4_t hi = vpaddlq_s16(vmull_high_s8(a, b));
    return vpaddq_s32(lo, hi);
#endif
}

/* llama.cpp's 8 lanes (two float32x4: lanes 0-3, 4-7) folded as tensor_q8_0_lanes_fold */
static inline float q8_lanes_fold(float32x4_t a0, float32x4_t a1) {
    const float32x4_t s = vaddq_f32(a0, a1); /* l0+l4, l1+l5, l2+l6, l3+l7 */
    const float u0 = vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 2);
    const float u1 = vgetq_lane_f32(s, 1) + vgetq_lane_f32(s, 3);
    return u0 + u1;
}

/* Q8_0 . Q8_0 in llama.cpp's 8-lane order (tensor_ref_dot_q8_0_q8_0: the order and why): lanes
 * 0-3 and 4-7 are two float32x4 accumulators, each block's lane sums fused in with (dx * dy). */
void NEON_NAME(dot_q8_0_q8_0)(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = h2f(x[b].d) * h2f(y[b].d);
        const int32x4_t i0 = dot_by4(vld1q_s8(x[b].qs), vld1q_s8(y[b].qs));
        const int32x4_t i1 = dot_by4(vld1q_s8(x[b].qs + 16), vld1q_s8(y[b].qs + 16));
        a0 = vfmaq_n_f32(a0, vcvtq_f32_s32(i0), d);
        a1 = vfmaq_n_f32(a1, vcvtq_f32_s32(i1), d);
    }
    *s = q8_lanes_fold(a0, a1);
}

/* sum_j m[j] * (bsums[2j] + bsums[2j+1]) over the 8 sub-blocks of a Q4_K/Q5_K block */
static inline int k4_min_sum(const uint8_t m[8], const int16_t *bsums) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t mm = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
    const int32x4_t p = vmull_s16(vget_low_s16(pairs), vget_low_s16(mm));
    return vaddvq_s32(vmlal_high_s16(p, pairs, mm));
}

/* Q4_K: per 64-element chunk c, low nibbles of qs[32c..32c+31] are sub-block 2c, high nibbles
 * sub-block 2c+1. A block is unpacked once (q4k_unpack) and then dotted with one or more
 * activation blocks (q4k_term): isum = sum_j sc[j] * dot_j (lane-wise, exact: |isum| < 2^25). */
typedef struct {
    int8x16_t q[16]; /* sub-block j: q[2j], q[2j + 1] (levels 0..15) */
    uint8_t sc[8], m[8];
    float d, dmin;
} q4k_unpacked;

static inline void q4k_unpack(const block_q4_K *x, q4k_unpacked *u) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int j = 0; j < 8; j++)
        tensor_k4_scale_min(j, x->scales, &u->sc[j], &u->m[j]);
    for (int c = 0; c < 4; c++) {
        const uint8x16_t qa = vld1q_u8(x->qs + 32 * c), qb = vld1q_u8(x->qs + 32 * c + 16);
        u->q[4 * c] = vreinterpretq_s8_u8(vandq_u8(qa, m4));
        u->q[4 * c + 1] = vreinterpretq_s8_u8(vandq_u8(qb, m4));
        u->q[4 * c + 2] = vreinterpretq_s8_u8(vshrq_n_u8(qa, 4));
        u->q[4 * c + 3] = vreinterpretq_s8_u8(vshrq_n_u8(qb, 4));
    }
    u->d = h2f(x->d);
    u->dmin = h2f(x->dmin);
}

/* the block's term of the reference's sum, written as the reference writes it */
static inline float q4k_term(const q4k_unpacked *u, const block_q8_K *y) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int j = 0; j < 8; j++)
        acc = vmlaq_n_s32(acc, dot32(u->q[2 * j], u->q[2 * j + 1], y->qs + 32 * j), u->sc[j]);
    const int isum = vaddvq_s32(acc);
    const int imin = k4_min_sum(u->m, y->bsums);
    return (float)isum * (u->d * y->d) - (float)imin * (u->dmin * y->d);
}

void NEON_NAME(dot_q4_K_q8_K)(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    q4k_unpacked u;
    for (int64_t b = 0; b < n / QK_K; b++) {
        q4k_unpack(&x[b], &u);
        sumf += q4k_term(&u, &y[b]);
    }
    *s = sumf;
}

/* Q5_K: as Q4_K, with bit j of qh[l] as the 5th bit (16) of element l of sub-block j */
void NEON_NAME(dot_q5_K_q8_K)(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++)
            tensor_k4_scale_min(j, x[b].scales, &sc[j], &m[j]);
        const uint8x16_t ha = vld1q_u8(x[b].qh), hb = vld1q_u8(x[b].qh + 16);
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            const uint8x16_t qa = vld1q_u8(x[b].qs + 32 * c), qb = vld1q_u8(x[b].qs + 32 * c + 16);
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * c)));
            const uint8x16_t bh = vdupq_n_u8((uint8_t)(1u << (2 * c + 1)));
            const int8_t *q8 = y[b].qs + 64 * c;
            const uint8x16_t la = vorrq_u8(vandq_u8(qa, m4), vandq_u8(vtstq_u8(ha, bl), b4));
            const uint8x16_t lb = vorrq_u8(vandq_u8(qb, m4), vandq_u8(vtstq_u8(hb, bl), b4));
            const uint8x16_t ua = vorrq_u8(vshrq_n_u8(qa, 4), vandq_u8(vtstq_u8(ha, bh), b4));
            const uint8x16_t ub = vorrq_u8(vshrq_n_u8(qb, 4), vandq_u8(vtstq_u8(hb, bh), b4));
            const int32x4_t d0 = dot32(vreinterpretq_s8_u8(la), vreinterpretq_s8_u8(lb), q8);
            const int32x4_t d1 = dot32(vreinterpretq_s8_u8(ua), vreinterpretq_s8_u8(ub), q8 + 32);
            acc = vmlaq_n_s32(acc, d0, sc[2 * c]);
            acc = vmlaq_n_s32(acc, d1, sc[2 * c + 1]);
        }
        const int isum = vaddvq_s32(acc);
        const int imin = k4_min_sum(m, y[b].bsums);
        sumf += (float)isum * (h2f(x[b].d) * y[b].d) - (float)imin * (h2f(x[b].dmin) * y[b].d);
    }
    *s = sumf;
}

/* Q6_K: per 128-element half h and 32-element group g (blocks.h's element order), the 6-bit
 * values minus 32 (int8 -32..31), 16 at a time, each 16 being one sub-block k = 8h + 2g (+1)
 * with its int8 scale: unpacked once (q6k_unpack), dotted with one or more activation blocks
 * (q6k_term). */
typedef struct {
    int8x16_t q[16]; /* sub-block k: elements 16k..16k+15, minus 32 */
    const int8_t *sc;
    float d;
} q6k_unpacked;

static inline void q6k_unpack(const block_q6_K *x, q6k_unpacked *u) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(0x03), mc = vdupq_n_u8(0x0C),
                     m30 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        const uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 16), l2 = vld1q_u8(ql + 32),
                         l3 = vld1q_u8(ql + 48);
        const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
        uint8x16_t v[8];
        v[0] = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(h0, m3), 4));
        v[1] = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(h1, m3), 4));
        v[2] = vorrq_u8(vandq_u8(l2, m4), vshlq_n_u8(vandq_u8(h0, mc), 2));
        v[3] = vorrq_u8(vandq_u8(l3, m4), vshlq_n_u8(vandq_u8(h1, mc), 2));
        v[4] = vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(h0, m30));
        v[5] = vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(h1, m30));
        v[6] = vorrq_u8(vshrq_n_u8(l2, 4), vandq_u8(vshrq_n_u8(h0, 2), m30));
        v[7] = vorrq_u8(vshrq_n_u8(l3, 4), vandq_u8(vshrq_n_u8(h1, 2), m30));
        for (int k = 0; k < 8; k++)
            u->q[8 * h + k] = vsubq_s8(vreinterpretq_s8_u8(v[k]), off);
    }
    u->sc = x->scales;
    u->d = h2f(x->d);
}

static inline float q6k_term(const q6k_unpacked *u, const block_q8_K *y) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int k = 0; k < 16; k++)
        acc = vmlaq_n_s32(acc, dot16(vdupq_n_s32(0), u->q[k], vld1q_s8(y->qs + 16 * k)), u->sc[k]);
    const int isum = vaddvq_s32(acc);
    return (float)isum * (u->d * y->d);
}

void NEON_NAME(dot_q6_K_q8_K)(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    q6k_unpacked u;
    for (int64_t b = 0; b < n / QK_K; b++) {
        q6k_unpack(&x[b], &u);
        sumf += q6k_term(&u, &y[b]);
    }
    *s = sumf;
}

/* ---- Small batches (tensor_gemvn_fn): y[t * ldy + r] = the dot of row r and token t (a Q8_K
 * row, act_row bytes apart), bit-identical to the vec_dot above (same terms, block order per
 * token), each weight block unpacked once for up to GEMVN_TOK tokens. ---- */
#define GEMVN_TOK 4

#define NEON_GEMVN_K(name, block_t, unpacked_t, unpack, term)                                    \
    void NEON_NAME(name)(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,             \
                         const void *w, size_t w_row, const void *act, size_t act_row) {         \
        const int64_t nb = n_in / QK_K;                                                          \
        unpacked_t u;                                                                            \
        for (int r = 0; r < n_rows; r++) {                                                       \
            const block_t *x = (const block_t *)((const uint8_t *)w + (size_t)r * w_row);        \
            for (int t0 = 0; t0 < n_tok; t0 += GEMVN_TOK) {                                      \
                const int nt = n_tok - t0 < GEMVN_TOK ? n_tok - t0 : GEMVN_TOK;                  \
                const block_q8_K *a[GEMVN_TOK];                                                  \
                float sumf[GEMVN_TOK];                                                           \
                for (int t = 0; t < nt; t++) {                                                   \
                    a[t] = (const block_q8_K *)((const uint8_t *)act + (size_t)(t0 + t) * act_row); \
                    sumf[t] = 0.0f;                                                              \
                }                                                                                \
                for (int64_t b = 0; b < nb; b++) {                                               \
                    unpack(&x[b], &u);                                                           \
                    for (int t = 0; t < nt; t++)                                                 \
                        sumf[t] += term(&u, &a[t][b]);                                           \
                }                                                                                \
                for (int t = 0; t < nt; t++)                                                     \
                    y[(int64_t)(t0 + t) * ldy + r] = sumf[t];                                    \
            }                                                                                    \
        }                                                                                        \
    }

NEON_GEMVN_K(gemvn_q4_K, block_q4_K, q4k_unpacked, q4k_unpack, q4k_term)
NEON_GEMVN_K(gemvn_q6_K, block_q6_K, q6k_unpacked, q6k_unpack, q6k_term)

#if NEON_DOTPROD
/* ---- Tiled prompt kernels (tensor_gemm_fn, SDOT only): Q4_0 weights against the packed
 * Q8_0 activations of tensor_gemm_pack (per 8-token group and block: [k-group g][token t] the 4
 * bytes qs[4g..4g+3], then float dy[8]; the -c*sum(qs) field is for the x86 kernels' unsigned
 * weights and unused here); Q8_0 weights below, in llama.cpp's 8-lane order. A tile is 4 rows x 8
 * tokens: the 4 rows' 32 weights of a block are transposed into 8 vectors (k-group g: rows 0..3, 4
 * bytes each), and SDOT by lane multiplies one with the 4 bytes of one token, so each weight vector
 * serves 8 tokens and each activation vector 4 rows. Per block and (row, token) the int32 dot is
 * exact and its term (float)isum * (dx * dy) is added in block order, as the reference does:
 * bit-identical. ---- */

/* rows a[0..3] (32 int8 each, as two vectors) -> g[k] = the 4 rows' bytes 4k..4k+3 */
static inline void transpose_4x32(const int8x16_t a[4][2], int8x16_t g[8]) {
    for (int h = 0; h < 2; h++) {
        const int32x4_t r0 = vreinterpretq_s32_s8(a[0][h]), r1 = vreinterpretq_s32_s8(a[1][h]);
        const int32x4_t r2 = vreinterpretq_s32_s8(a[2][h]), r3 = vreinterpretq_s32_s8(a[3][h]);
        const int32x4_t t01l = vzip1q_s32(r0, r1), t01h = vzip2q_s32(r0, r1); /* r0k r1k ... */
        const int32x4_t t23l = vzip1q_s32(r2, r3), t23h = vzip2q_s32(r2, r3);
        g[4 * h + 0] = vreinterpretq_s8_s64(
            vzip1q_s64(vreinterpretq_s64_s32(t01l), vreinterpretq_s64_s32(t23l)));
        g[4 * h + 1] = vreinterpretq_s8_s64(
            vzip2q_s64(vreinterpretq_s64_s32(t01l), vreinterpretq_s64_s32(t23l)));
        g[4 * h + 2] = vreinterpretq_s8_s64(
            vzip1q_s64(vreinterpretq_s64_s32(t01h), vreinterpretq_s64_s32(t23h)));
        g[4 * h + 3] = vreinterpretq_s8_s64(
            vzip2q_s64(vreinterpretq_s64_s32(t01h), vreinterpretq_s64_s32(t23h)));
    }
}

/* One 4-row x 8-token tile over all blocks; rows' block-b weights come from load(row, b, out). */
#define NEON_GEMM_TILE(block_t, load_w)                                                          \
    for (int r0 = 0; r0 < n_rows; r0 += 4)                                                       \
        for (int t0 = 0; t0 < n_tok; t0 += 8) {                                                  \
            const uint8_t *grp = (const uint8_t *)pack + (size_t)(t0 / 8) * (size_t)nb *         \
                                                             TENSOR_GEMM_PACK32;                 \
            float32x4_t sum[8];                                                                  \
            for (int t = 0; t < 8; t++)                                                          \
                sum[t] = vdupq_n_f32(0.0f);                                                      \
            for (int64_t b = 0; b < nb; b++) {                                                   \
                int8x16_t a[4][2], g[8];                                                         \
                float dx[4];                                                                     \
                for (int i = 0; i < 4; i++) {                                                    \
                    const block_t *x =                                                           \
                        (const block_t *)((const uint8_t *)w + (size_t)(r0 + i) * w_row) + b;    \
                    load_w(x, a[i]);                                                             \
                    dx[i] = h2f(x->d);                                                           \
                }                                                                                \
                transpose_4x32(a, g);                                                            \
                const uint8_t *rec = grp + (size_t)b * TENSOR_GEMM_PACK32;                       \
                int32x4_t acc[8];                                                                \
                for (int t = 0; t < 8; t++)                                                      \
                    acc[t] = vdupq_n_s32(0);                                                     \
                for (int k = 0; k < 8; k++) {                                                    \
                    const int8x16_t lo = vld1q_s8((const int8_t *)rec + 32 * k);                 \
                    const int8x16_t hi = vld1q_s8((const int8_t *)rec + 32 * k + 16);            \
                    acc[0] = vdotq_laneq_s32(acc[0], g[k], lo, 0);                               \
                    acc[1] = vdotq_laneq_s32(acc[1], g[k], lo, 1);                               \
                    acc[2] = vdotq_laneq_s32(acc[2], g[k], lo, 2);                               \
                    acc[3] = vdotq_laneq_s32(acc[3], g[k], lo, 3);                               \
                    acc[4] = vdotq_laneq_s32(acc[4], g[k], hi, 0);                               \
                    acc[5] = vdotq_laneq_s32(acc[5], g[k], hi, 1);                               \
                    acc[6] = vdotq_laneq_s32(acc[6], g[k], hi, 2);                               \
                    acc[7] = vdotq_laneq_s32(acc[7], g[k], hi, 3);                               \
                }                                                                                \
                float dy[8];                                                                     \
                memcpy(dy, rec + 256, sizeof dy);                                                \
                const float32x4_t dxv = vld1q_f32(dx);                                           \
                for (int t = 0; t < 8; t++) {                                                    \
                    const float32x4_t dxy = vmulq_n_f32(dxv, dy[t]);                             \
                    sum[t] = vaddq_f32(sum[t], vmulq_f32(vcvtq_f32_s32(acc[t]), dxy));           \
                }                                                                                \
            }                                                                                    \
            for (int t = 0; t < 8 && t0 + t < n_tok; t++)                                        \
                vst1q_f32(y + (int64_t)(t0 + t) * ldy + r0, sum[t]);                             \
        }

static inline void load_q4_0(const block_q4_0 *x, int8x16_t out[2]) {
    const uint8x16_t q = vld1q_u8(x->qs);
    out[0] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
    out[1] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
}

static inline void load_q8_0(const block_q8_0 *x, int8x16_t out[2]) {
    out[0] = vld1q_s8(x->qs);
    out[1] = vld1q_s8(x->qs + 16);
}

void tensor_neondp_gemm_q4_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack) {
    const int64_t nb = n_in / QK8_0;
    NEON_GEMM_TILE(block_q4_0, load_q4_0)
}

/* Q8_0 in llama.cpp's 8-lane order (tensor_ref_dot_q8_0_q8_0): two float32x4 accumulators per
 * (row, token), 2 rows x 4 tokens per step, the weights straight from the rows; the pack's
 * Q8_0 record holds the token's bytes y + 128 (for the x86 kernels' vpdpbusd), made signed again
 * here with one xor per token, shared by the rows. */
static inline void q8_0_lanes_2x4(int64_t nb, const uint8_t *w, size_t w_row, const uint8_t *ap,
                                  int tt0, int nt, float *y, int64_t ldy) {
    float32x4_t acc[2][4][2];
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < 4; t++)
            acc[r][t][0] = acc[r][t][1] = vdupq_n_f32(0.0f);
    const uint8x16_t u128 = vdupq_n_u8(0x80);
    for (int64_t b = 0; b < nb; b++, ap += TENSOR_GEMM_PACKQ8) {
        int8x16_t x[2][2];
        float dx[2];
        for (int r = 0; r < 2; r++) {
            const block_q8_0 *xb = (const block_q8_0 *)(const void *)(w + (size_t)r * w_row) + b;
            load_q8_0(xb, x[r]);
            dx[r] = h2f(xb->d);
        }
        for (int t = 0; t < nt; t++) {
            const uint8_t *qu = ap + 32 * (tt0 + t);
            const int8x16_t y0 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(qu), u128));
            const int8x16_t y1 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(qu + 16), u128));
            float dy;
            memcpy(&dy, ap + 256 + 4 * (tt0 + t), 4);
            for (int r = 0; r < 2; r++) {
                const float d = dx[r] * dy;
                acc[r][t][0] = vfmaq_n_f32(acc[r][t][0], vcvtq_f32_s32(dot_by4(x[r][0], y0)), d);
                acc[r][t][1] = vfmaq_n_f32(acc[r][t][1], vcvtq_f32_s32(dot_by4(x[r][1], y1)), d);
            }
        }
    }
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < nt; t++)
            y[(int64_t)t * ldy + r] = q8_lanes_fold(acc[r][t][0], acc[r][t][1]);
}

void tensor_neondp_gemm_q8_0(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,
                             const void *w, size_t w_row, const void *pack) {
    const int64_t nb = n_in / QK8_0;
    const size_t gstride = (size_t)nb * TENSOR_GEMM_PACKQ8;
    for (int r0 = 0; r0 < n_rows; r0 += 2)
        for (int t0 = 0; t0 < n_tok; t0 += 4)
            q8_0_lanes_2x4(nb, (const uint8_t *)w + (size_t)r0 * w_row, w_row,
                           (const uint8_t *)pack + (size_t)(t0 / 8) * gstride, t0 % 8,
                           n_tok - t0 < 4 ? n_tok - t0 : 4, y + (int64_t)t0 * ldy + r0, ldy);
}
#endif
