/* test_kernels.c — every SIMD kernel against its scalar twin, ISA by ISA.
 *
 * test_tensor.c checks whichever kernel set dispatch.c selected; this file calls each ISA's
 * kernels directly (tensor_internal.h), so on one machine the AVX2 and the AVX-512 versions are
 * both compared with the references, whatever HEARTH_ISA says. Quantized dots must be
 * bit-identical (==): weights of random bytes (every bit pattern of the quant and scale fields,
 * Q8_0's -128 included) with finite fp16 scales, activations from the reference quantizers and
 * hand-made extreme ones (every activation +-127, weights at their extremes: the saturation
 * limits of maddubs/vpdpbusd), over row lengths of 1 block, odd block counts, and counts just
 * below, at and above the 16-block steps of the AVX-512 Q8_0-family loops. An ISA the CPU lacks
 * is skipped with a message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/pool.h"
#include "tensor/matmul.h"
#include "tensor/tensor_internal.h"

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }

static uint32_t rng_u32(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static float rng_uniform(void) { /* [-1, 1) */
    return (float)rng_u32() * 0x1p-31f - 1.0f;
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

typedef enum { ISA_AVX2, ISA_AVX512 } isa;

static bool cpu_has(isa i) {
    const cpu_features *f = cpu_features_get();
    const bool avx2 = f->avx2 && f->fma && f->f16c;
    if (i == ISA_AVX2) return avx2;
    return avx2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni;
}

/* One weight type's dot: byte offsets of its fp16 scale fields (-1: none), the reference and
 * the SIMD versions (NULL where that ISA has none). */
typedef struct {
    tensor_type type;
    int halves[2];
    tensor_vec_dot_fn ref, avx2, avx512;
} dot_case;

static const dot_case dots[] = {
    {TENSOR_TYPE_Q4_0,
     {0, -1},
     tensor_ref_dot_q4_0_q8_0,
     tensor_avx2_dot_q4_0_q8_0,
     tensor_avx512_dot_q4_0_q8_0},
    {TENSOR_TYPE_Q8_0,
     {0, -1},
     tensor_ref_dot_q8_0_q8_0,
     tensor_avx2_dot_q8_0_q8_0,
     tensor_avx512_dot_q8_0_q8_0},
    {TENSOR_TYPE_Q4_K,
     {0, 2},
     tensor_ref_dot_q4_K_q8_K,
     tensor_avx2_dot_q4_K_q8_K,
     tensor_avx512_dot_q4_K_q8_K},
    {TENSOR_TYPE_Q5_K,
     {0, 2},
     tensor_ref_dot_q5_K_q8_K,
     tensor_avx2_dot_q5_K_q8_K,
     tensor_avx512_dot_q5_K_q8_K},
    {TENSOR_TYPE_Q6_K,
     {208, -1},
     tensor_ref_dot_q6_K_q8_K,
     tensor_avx2_dot_q6_K_q8_K,
     tensor_avx512_dot_q6_K_q8_K},
    {TENSOR_TYPE_Q5_0, {0, -1}, tensor_ref_dot_q5_0_q8_0, tensor_avx2_dot_q5_0_q8_0, NULL},
    {TENSOR_TYPE_Q4_1, {0, 2}, tensor_ref_dot_q4_1_q8_1, tensor_avx2_dot_q4_1_q8_1, NULL},
    {TENSOR_TYPE_Q5_1, {0, 2}, tensor_ref_dot_q5_1_q8_1, tensor_avx2_dot_q5_1_q8_1, NULL},
    {TENSOR_TYPE_Q2_K,
     {80, 82},
     tensor_ref_dot_q2_K_q8_K,
     tensor_avx2_dot_q2_K_q8_K,
     tensor_avx512_dot_q2_K_q8_K},
    {TENSOR_TYPE_Q3_K,
     {108, -1},
     tensor_ref_dot_q3_K_q8_K,
     tensor_avx2_dot_q3_K_q8_K,
     tensor_avx512_dot_q3_K_q8_K},
    {TENSOR_TYPE_IQ4_NL,
     {0, -1},
     tensor_ref_dot_iq4_nl_q8_0,
     tensor_avx2_dot_iq4_nl_q8_0,
     tensor_avx512_dot_iq4_nl_q8_0},
    {TENSOR_TYPE_IQ4_XS,
     {0, -1},
     tensor_ref_dot_iq4_xs_q8_K,
     tensor_avx2_dot_iq4_xs_q8_K,
     tensor_avx512_dot_iq4_xs_q8_K},
    {TENSOR_TYPE_TQ1_0,
     {52, -1},
     tensor_ref_dot_tq1_0_q8_K,
     tensor_avx2_dot_tq1_0_q8_K,
     tensor_avx512_dot_tq1_0_q8_K},
    {TENSOR_TYPE_TQ2_0,
     {64, -1},
     tensor_ref_dot_tq2_0_q8_K,
     tensor_avx2_dot_tq2_0_q8_K,
     tensor_avx512_dot_tq2_0_q8_K},
    {TENSOR_TYPE_IQ3_S,
     {0, -1},
     tensor_ref_dot_iq3_s_q8_K,
     tensor_avx2_dot_iq3_s_q8_K,
     tensor_avx512_dot_iq3_s_q8_K},
    {TENSOR_TYPE_IQ2_XXS,
     {0, -1},
     tensor_ref_dot_iq2_xxs_q8_K,
     tensor_avx2_dot_iq2_xxs_q8_K,
     tensor_avx512_dot_iq2_xxs_q8_K},
    {TENSOR_TYPE_IQ2_XS,
     {0, -1},
     tensor_ref_dot_iq2_xs_q8_K,
     tensor_avx2_dot_iq2_xs_q8_K,
     tensor_avx512_dot_iq2_xs_q8_K},
    {TENSOR_TYPE_IQ2_S,
     {0, -1},
     tensor_ref_dot_iq2_s_q8_K,
     tensor_avx2_dot_iq2_s_q8_K,
     tensor_avx512_dot_iq2_s_q8_K},
    {TENSOR_TYPE_IQ3_XXS,
     {0, -1},
     tensor_ref_dot_iq3_xxs_q8_K,
     tensor_avx2_dot_iq3_xxs_q8_K,
     tensor_avx512_dot_iq3_xxs_q8_K},
    {TENSOR_TYPE_IQ1_S,
     {0, -1},
     tensor_ref_dot_iq1_s_q8_K,
     tensor_avx2_dot_iq1_s_q8_K,
     tensor_avx512_dot_iq1_s_q8_K},
    {TENSOR_TYPE_IQ1_M, /* d (packed in the scales' top nibbles) set by make_weights */
     {-1, -1},
     tensor_ref_dot_iq1_m_q8_K,
     tensor_avx2_dot_iq1_m_q8_K,
     tensor_avx512_dot_iq1_m_q8_K},
    {TENSOR_TYPE_MXFP4, /* e (byte 0) set by make_weights */
     {-1, -1},
     tensor_ref_dot_mxfp4_q8_0,
     tensor_avx2_dot_mxfp4_q8_0,
     tensor_avx512_dot_mxfp4_q8_0},
};
#define NDOTS (sizeof dots / sizeof dots[0])

/* block counts: 1, odd ones, and around the 16-block steps (15, 16, 17, 31, 32, 33, 49) */
static const int64_t nblocks[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 49, 64, 67};
#define NB_MAX 67

/* Fills nb activation blocks of type vt (Q8_0, Q8_1 or Q8_K). mode 0: the reference quantizer
 * of random floats at magnitude mag; mode 1: every quant +-127 at random (fields and sums
 * consistent), the largest products the kernels can see. */
static void make_activations(tensor_type vt, uint8_t *y, int64_t nb, int mode, float mag) {
    const tensor_traits *t = tensor_traits_ref_of(vt);
    const int64_t n = nb * t->block_size;
    float *f = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        f[i] = mag * rng_uniform();
        if (mode == 1) f[i] = (rng_u32() & 1) ? 127.0f : -127.0f; /* amax 127: scale 1 */
    }
    t->from_float(f, y, n);
    free(f);
}

/* nb weight blocks of random bytes with sane finite fp16 scales; mode 1 draws the bytes from
 * {0x00, 0x7F, 0x80, 0xFF} (all-ones nibbles/levels, Q8_0's -128 and 127). */
static void make_weights(const dot_case *dc, uint8_t *x, int64_t nb, int mode) {
    const size_t bs = tensor_traits_ref_of(dc->type)->type_size;
    static const uint8_t extremes[4] = {0x00, 0x7F, 0x80, 0xFF};
    for (size_t i = 0; i < bs * (size_t)nb; i++)
        x[i] = mode == 1 ? extremes[rng_u32() & 3] : (uint8_t)rng_u32();
    for (int64_t b = 0; b < nb; b++)
        for (int h = 0; h < 2; h++)
            if (dc->halves[h] >= 0)
                put_u16(x + b * (int64_t)bs + dc->halves[h],
                        tensor_fp32_to_fp16(0.01f * (float)(h + 1) * (1.5f + rng_uniform())));
    /* MXFP4's E8M0 exponent: scales 2^-128 (subnormal; e = 0, 1 included) to 2^-65, so sums stay
     * finite */
    if (dc->type == TENSOR_TYPE_MXFP4)
        for (int64_t b = 0; b < nb; b++)
            x[b * (int64_t)bs] = (uint8_t)(rng_u32() % 64);
    /* IQ1_M's fp16 d: nibble k in the top nibble of the little-endian word k of the scales
     * (bytes 48..55), the rest of the scale bits kept random */
    if (dc->type == TENSOR_TYPE_IQ1_M)
        for (int64_t b = 0; b < nb; b++) {
            const uint16_t d = tensor_fp32_to_fp16(0.01f * (1.5f + rng_uniform()));
            uint8_t *sc = x + b * (int64_t)bs + 48;
            for (int k = 0; k < 4; k++)
                sc[2 * k + 1] = (uint8_t)((sc[2 * k + 1] & 0x0F) | ((d >> (4 * k)) & 0xF) << 4);
        }
}

static void check_isa(isa which) {
    if (!cpu_has(which))
        cr_skip_test("this CPU lacks the %s kernel set's features: not tested here",
                     which == ISA_AVX2 ? "AVX2/FMA/F16C" : "AVX-512 F/BW/VL/DQ/VNNI");
    int compared = 0;
    for (size_t c = 0; c < NDOTS; c++) {
        const dot_case *dc = &dots[c];
        const tensor_vec_dot_fn fn = which == ISA_AVX2 ? dc->avx2 : dc->avx512;
        if (!fn) continue;
        const tensor_traits *t = tensor_traits_ref_of(dc->type);
        const tensor_traits *vt = tensor_traits_ref_of(t->vec_dot_type);
        uint8_t *x = malloc(t->type_size * NB_MAX), *y = malloc(vt->type_size * NB_MAX);
        for (int trial = 0; trial < 6; trial++) {
            rng_seed(1000 * (uint64_t)c + (uint64_t)trial);
            const int mode = trial >= 4 ? 1 : 0;
            const float mags[] = {1.0f, 1e-3f, 50.0f, 1.0f, 1.0f, 1.0f};
            make_weights(dc, x, NB_MAX, trial == 5 ? 1 : 0);
            make_activations(t->vec_dot_type, y, NB_MAX, mode, mags[trial]);
            for (size_t k = 0; k < sizeof nblocks / sizeof nblocks[0]; k++) {
                const int64_t n = nblocks[k] * t->block_size;
                float s_ref = NAN, s_simd = NAN;
                dc->ref(n, &s_ref, x, y);
                fn(n, &s_simd, x, y);
                cr_assert(s_ref == s_simd, "%s %s trial %d, %lld blocks: %a vs ref %a", t->name,
                          which == ISA_AVX2 ? "avx2" : "avx512", trial, (long long)nblocks[k],
                          (double)s_simd, (double)s_ref);
                /* rows that do not start at the buffer's first block */
                if (nblocks[k] < NB_MAX) {
                    const int64_t off = NB_MAX - nblocks[k];
                    dc->ref(n, &s_ref, x + off * (int64_t)t->type_size,
                            y + off * (int64_t)vt->type_size);
                    fn(n, &s_simd, x + off * (int64_t)t->type_size,
                       y + off * (int64_t)vt->type_size);
                    cr_assert(s_ref == s_simd, "%s trial %d, %lld blocks at offset %lld", t->name,
                              trial, (long long)nblocks[k], (long long)off);
                }
                compared++;
            }
        }
        free(x);
        free(y);
    }
    cr_assert(compared > 0);
}

Test(kernels, avx2_dots_equal_ref) { check_isa(ISA_AVX2); }

Test(kernels, avx512_dots_equal_ref) { check_isa(ISA_AVX512); }

/* The AVX2 activation quantizers write the reference's bytes (an odd number of blocks). */
Test(kernels, avx2_quantizers_equal_ref) {
    if (!cpu_has(ISA_AVX2)) cr_skip_test("this CPU lacks AVX2/FMA/F16C: not tested here");
    const struct {
        tensor_type type;
        tensor_from_float_fn fn;
    } qs[] = {{TENSOR_TYPE_Q8_0, tensor_avx2_q8_0_from_float},
              {TENSOR_TYPE_Q8_1, tensor_avx2_q8_1_from_float},
              {TENSOR_TYPE_Q8_K, tensor_avx2_q8_K_from_float}};
    const int64_t n = 256 * 5;
    float *f = malloc(sizeof(float) * (size_t)n);
    uint8_t *a = malloc((size_t)n * 2), *b = malloc((size_t)n * 2);
    for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++) {
        const tensor_traits *t = tensor_traits_ref_of(qs[q].type);
        rng_seed(77 + q);
        for (int64_t i = 0; i < n; i++)
            f[i] = 3.0f * rng_uniform();
        const size_t rs = tensor_row_size(qs[q].type, n);
        memset(a, 1, rs);
        memset(b, 2, rs);
        qs[q].fn(f, a, n);
        t->from_float(f, b, n);
        cr_assert(memcmp(a, b, rs) == 0, "%s quantizer differs from the reference", t->name);
    }
    free(f);
    free(a);
    free(b);
}

/* HEARTH_ISA decides the set: the selected Q4_K dot is the ISA's own function. */
Test(kernels, selection_matches_cpu) {
    const char *want = getenv("HEARTH_ISA");
    const tensor_vec_dot_fn sel = tensor_traits_of(TENSOR_TYPE_Q4_K)->vec_dot;
    if (want && !strcmp(want, "ref")) {
        cr_expect_eq(sel, tensor_ref_dot_q4_K_q8_K);
    } else if (cpu_has(ISA_AVX512) && !(want && !strcmp(want, "avx2"))) {
        cr_expect_str_eq(tensor_isa(), "avx512");
        cr_expect_eq(sel, tensor_avx512_dot_q4_K_q8_K);
        /* types without an AVX-512 dot keep their AVX2 one */
        cr_expect_eq(tensor_traits_of(TENSOR_TYPE_Q5_0)->vec_dot, tensor_avx2_dot_q5_0_q8_0);
    } else if (cpu_has(ISA_AVX2)) {
        cr_expect_str_eq(tensor_isa(), "avx2");
        cr_expect_eq(sel, tensor_avx2_dot_q4_K_q8_K);
    } else {
        cr_expect_str_eq(tensor_isa(), "ref");
    }
}

/* ---- Tiled prompt kernels (gemm_avx512.c, gemm_avx2.c) ----
 * Every output of a tile must be bit-identical (==) to the reference vec_dot of its (row, token)
 * pair: random weight rows (all bit patterns, extreme levels too), reference-quantized
 * activations and all-+-127 ones, token counts around the 8-token steps, row lengths of one
 * block up to several K chunks (2048 elements) with a partial last chunk, and a row count of
 * two tiles. */
typedef struct {
    tensor_type type;
    tensor_gemm_fn fn;
    int halves[2];
    tensor_vec_dot_fn ref;
} gemm_case;

static void check_gemm(const gemm_case *gc) {
    const tensor_traits *t = tensor_traits_ref_of(gc->type);
    const tensor_traits *vt = tensor_traits_ref_of(t->vec_dot_type);
    const dot_case dc = {gc->type, {gc->halves[0], gc->halves[1]}, gc->ref, NULL, NULL};
    const int64_t bs = t->block_size;
    /* row lengths in blocks: 1, odd, one K chunk, a chunk and a bit, several chunks */
    const int64_t lens[] = {1, 3, 2048 / bs, 2048 / bs + 1, 3 * 2048 / bs - 1};
    const int toks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 16, 17};
    const int n_rows = 2 * TENSOR_GEMM_ROWS;
    const int64_t nb_max = 3 * 2048 / bs;
    const int tmax = 17;
    uint8_t *w = malloc(t->type_size * (size_t)(nb_max * n_rows));
    uint8_t *q = malloc(vt->type_size * (size_t)(nb_max * tmax));
    float *y = malloc(sizeof(float) * (size_t)(n_rows * tmax));
    void *pack = malloc(tensor_gemm_pack_size(gc->type, nb_max * bs, tmax));
    for (int trial = 0; trial < 3; trial++) {
        rng_seed(5000 + 100 * (uint64_t)gc->type + (uint64_t)trial);
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            const int64_t nb = lens[l], n_in = nb * bs;
            const size_t w_row = t->type_size * (size_t)nb, q_row = vt->type_size * (size_t)nb;
            for (int r = 0; r < n_rows; r++)
                make_weights(&dc, w + (size_t)r * w_row, nb, trial == 2 ? 1 : 0);
            for (int k = 0; k < tmax; k++)
                make_activations(t->vec_dot_type, q + (size_t)k * q_row, nb, trial == 1 ? 1 : 0,
                                 trial == 0 ? 1.0f : 20.0f);
            for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
                const int n_tok = toks[ti];
                tensor_gemm_pack(gc->type, n_in, q, q_row, n_tok, pack);
                for (int i = 0; i < n_rows * n_tok; i++)
                    y[i] = NAN;
                gc->fn(n_in, n_rows, n_tok, y, n_rows, w, w_row, pack);
                for (int k = 0; k < n_tok; k++)
                    for (int r = 0; r < n_rows; r++) {
                        float s_ref = NAN;
                        gc->ref(n_in, &s_ref, w + (size_t)r * w_row, q + (size_t)k * q_row);
                        cr_assert(y[k * n_rows + r] == s_ref,
                                  "%s gemm trial %d, %lld blocks, %d tokens: row %d token %d: %a "
                                  "vs ref %a",
                                  t->name, trial, (long long)nb, n_tok, r, k,
                                  (double)y[k * n_rows + r], (double)s_ref);
                    }
            }
        }
    }
    free(w);
    free(q);
    free(y);
    free(pack);
}

Test(kernels, avx512_gemm_equals_ref_dots) {
    if (!cpu_has(ISA_AVX512))
        cr_skip_test("this CPU lacks AVX-512 F/BW/VL/DQ/VNNI: not tested here");
    const gemm_case cases[] = {
        {TENSOR_TYPE_Q4_0, tensor_avx512_gemm_q4_0, {0, -1}, tensor_ref_dot_q4_0_q8_0},
        {TENSOR_TYPE_Q8_0, tensor_avx512_gemm_q8_0, {0, -1}, tensor_ref_dot_q8_0_q8_0},
        {TENSOR_TYPE_Q4_K, tensor_avx512_gemm_q4_K, {0, 2}, tensor_ref_dot_q4_K_q8_K},
        {TENSOR_TYPE_Q6_K, tensor_avx512_gemm_q6_K, {208, -1}, tensor_ref_dot_q6_K_q8_K},
        {TENSOR_TYPE_IQ4_NL, tensor_avx512_gemm_iq4_nl, {0, -1}, tensor_ref_dot_iq4_nl_q8_0},
        {TENSOR_TYPE_IQ4_XS, tensor_avx512_gemm_iq4_xs, {0, -1}, tensor_ref_dot_iq4_xs_q8_K},
        {TENSOR_TYPE_TQ2_0, tensor_avx512_gemm_tq2_0, {64, -1}, tensor_ref_dot_tq2_0_q8_K},
        {TENSOR_TYPE_MXFP4, tensor_avx512_gemm_mxfp4, {-1, -1}, tensor_ref_dot_mxfp4_q8_0},
        {TENSOR_TYPE_IQ3_S, tensor_avx512_gemm_iq3_s, {0, -1}, tensor_ref_dot_iq3_s_q8_K},
        {TENSOR_TYPE_TQ1_0, tensor_avx512_gemm_tq1_0, {52, -1}, tensor_ref_dot_tq1_0_q8_K},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        check_gemm(&cases[c]);
}

Test(kernels, avx2_gemm_equals_ref_dots) {
    if (!cpu_has(ISA_AVX2)) cr_skip_test("this CPU lacks AVX2/FMA/F16C: not tested here");
    const gemm_case cases[] = {
        {TENSOR_TYPE_Q4_0, tensor_avx2_gemm_q4_0, {0, -1}, tensor_ref_dot_q4_0_q8_0},
        {TENSOR_TYPE_Q8_0, tensor_avx2_gemm_q8_0, {0, -1}, tensor_ref_dot_q8_0_q8_0},
        {TENSOR_TYPE_Q4_K, tensor_avx2_gemm_q4_K, {0, 2}, tensor_ref_dot_q4_K_q8_K},
        {TENSOR_TYPE_Q6_K, tensor_avx2_gemm_q6_K, {208, -1}, tensor_ref_dot_q6_K_q8_K},
        {TENSOR_TYPE_IQ4_NL, tensor_avx2_gemm_iq4_nl, {0, -1}, tensor_ref_dot_iq4_nl_q8_0},
        {TENSOR_TYPE_IQ4_XS, tensor_avx2_gemm_iq4_xs, {0, -1}, tensor_ref_dot_iq4_xs_q8_K},
        {TENSOR_TYPE_TQ2_0, tensor_avx2_gemm_tq2_0, {64, -1}, tensor_ref_dot_tq2_0_q8_K},
        {TENSOR_TYPE_MXFP4, tensor_avx2_gemm_mxfp4, {-1, -1}, tensor_ref_dot_mxfp4_q8_0},
        {TENSOR_TYPE_IQ3_S, tensor_avx2_gemm_iq3_s, {0, -1}, tensor_ref_dot_iq3_s_q8_K},
        {TENSOR_TYPE_TQ1_0, tensor_avx2_gemm_tq1_0, {52, -1}, tensor_ref_dot_tq1_0_q8_K},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        check_gemm(&cases[c]);
}

Test(kernels, avx2_vnni_gemm_equals_ref_dots) {
    if (!tensor_cpu_has_avxvnni()) cr_skip_test("this CPU lacks AVX-VNNI: not tested here");
    const gemm_case cases[] = {
        {TENSOR_TYPE_Q4_0, tensor_avx2_gemm_q4_0_vnni, {0, -1}, tensor_ref_dot_q4_0_q8_0},
        {TENSOR_TYPE_Q8_0, tensor_avx2_gemm_q8_0_vnni, {0, -1}, tensor_ref_dot_q8_0_q8_0},
        {TENSOR_TYPE_Q4_K, tensor_avx2_gemm_q4_K_vnni, {0, 2}, tensor_ref_dot_q4_K_q8_K},
        {TENSOR_TYPE_Q6_K, tensor_avx2_gemm_q6_K_vnni, {208, -1}, tensor_ref_dot_q6_K_q8_K},
        {TENSOR_TYPE_IQ4_NL, tensor_avx2_gemm_iq4_nl_vnni, {0, -1}, tensor_ref_dot_iq4_nl_q8_0},
        {TENSOR_TYPE_IQ4_XS, tensor_avx2_gemm_iq4_xs_vnni, {0, -1}, tensor_ref_dot_iq4_xs_q8_K},
        {TENSOR_TYPE_TQ2_0, tensor_avx2_gemm_tq2_0_vnni, {64, -1}, tensor_ref_dot_tq2_0_q8_K},
        {TENSOR_TYPE_MXFP4, tensor_avx2_gemm_mxfp4_vnni, {-1, -1}, tensor_ref_dot_mxfp4_q8_0},
        {TENSOR_TYPE_IQ3_S, tensor_avx2_gemm_iq3_s_vnni, {0, -1}, tensor_ref_dot_iq3_s_q8_K},
        {TENSOR_TYPE_TQ1_0, tensor_avx2_gemm_tq1_0_vnni, {52, -1}, tensor_ref_dot_tq1_0_q8_K},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        check_gemm(&cases[c]);
}

/* ---- Small-batch kernels (tensor_avx512_gemvn_*, dot_avx512.c) ----
 * Every output equals (==) the reference vec_dot of its (row, token): every batch size 1..15
 * (passes of 8 tokens and partial ones), an odd row count (groups of 16 and of 4 rows and a
 * rest), row lengths with and without a tail of single blocks (Q4_0/Q8_0/IQ4_NL/MXFP4: 16-block
 * steps), random and extreme weights and activations. */
typedef struct {
    tensor_type type;
    tensor_gemvn_fn fn;
    int halves[2];
    tensor_vec_dot_fn ref;
} gemvn_case;

static void check_gemvn(const gemvn_case *gc) {
    const tensor_traits *t = tensor_traits_ref_of(gc->type);
    const tensor_traits *vt = tensor_traits_ref_of(t->vec_dot_type);
    const dot_case dc = {gc->type, {gc->halves[0], gc->halves[1]}, gc->ref, NULL, NULL};
    const int64_t bs = t->block_size;
    const int64_t lens32[] = {1, 3, 16, 19, 44, 48}, lensK[] = {1, 2, 5};
    const int64_t *lens = bs == 256 ? lensK : lens32;
    const size_t n_lens = bs == 256 ? 3 : 6;
    const int n_rows = 2 * 16 + 7, tmax = 15; /* lane-wise groups of 16 and a row-wise rest */
    const int64_t nb_max = bs == 256 ? 5 : 48;
    const bool linear = tensor_gemvn_packs(gc->type);
    uint8_t *w = malloc(t->type_size * (size_t)(nb_max * n_rows));
    uint8_t *q = malloc(vt->type_size * (size_t)(nb_max * tmax));
    float *y = malloc(sizeof(float) * (size_t)(n_rows * tmax));
    void *pack = malloc((size_t)(nb_max * tmax) * TENSOR_GEMV_PACK32);
    for (int trial = 0; trial < 3; trial++) {
        rng_seed(7000 + 100 * (uint64_t)gc->type + (uint64_t)trial);
        for (size_t l = 0; l < n_lens; l++) {
            const int64_t nb = lens[l], n_in = nb * bs;
            const size_t w_row = t->type_size * (size_t)nb, q_row = vt->type_size * (size_t)nb;
            for (int r = 0; r < n_rows; r++)
                make_weights(&dc, w + (size_t)r * w_row, nb, trial == 2 ? 1 : 0);
            for (int k = 0; k < tmax; k++)
                make_activations(t->vec_dot_type, q + (size_t)k * q_row, nb, trial == 1 ? 1 : 0,
                                 trial == 0 ? 1.0f : 20.0f);
            for (int n_tok = 1; n_tok <= tmax; n_tok++) {
                if (linear) tensor_gemvn_pack(gc->type, n_in, q, q_row, n_tok, pack);
                for (int i = 0; i < n_rows * n_tok; i++)
                    y[i] = NAN;
                gc->fn(n_in, n_rows, n_tok, y, n_rows, w, w_row, linear ? pack : (void *)q,
                       q_row);
                for (int k = 0; k < n_tok; k++)
                    for (int r = 0; r < n_rows; r++) {
                        float s_ref = NAN;
                        gc->ref(n_in, &s_ref, w + (size_t)r * w_row, q + (size_t)k * q_row);
                        cr_assert(y[k * n_rows + r] == s_ref,
                                  "%s gemvn trial %d, %lld blocks, %d tokens: row %d token %d: "
                                  "%a vs ref %a",
                                  t->name, trial, (long long)nb, n_tok, r, k,
                                  (double)y[k * n_rows + r], (double)s_ref);
                    }
            }
        }
    }
    free(w);
    free(q);
    free(y);
    free(pack);
}

Test(kernels, avx512_gemvn_equals_ref_dots) {
    if (!cpu_has(ISA_AVX512))
        cr_skip_test("this CPU lacks AVX-512 F/BW/VL/DQ/VNNI: not tested here");
    const gemvn_case cases[] = {
        {TENSOR_TYPE_Q4_0, tensor_avx512_gemvn_q4_0, {0, -1}, tensor_ref_dot_q4_0_q8_0},
        {TENSOR_TYPE_Q8_0, tensor_avx512_gemvn_q8_0, {0, -1}, tensor_ref_dot_q8_0_q8_0},
        {TENSOR_TYPE_Q4_K, tensor_avx512_gemvn_q4_K, {0, 2}, tensor_ref_dot_q4_K_q8_K},
        {TENSOR_TYPE_Q6_K, tensor_avx512_gemvn_q6_K, {208, -1}, tensor_ref_dot_q6_K_q8_K},
        {TENSOR_TYPE_IQ4_XS, tensor_avx512_gemvn_iq4_xs, {0, -1}, tensor_ref_dot_iq4_xs_q8_K},
        {TENSOR_TYPE_IQ4_NL, tensor_avx512_gemvn_iq4_nl, {0, -1}, tensor_ref_dot_iq4_nl_q8_0},
        {TENSOR_TYPE_MXFP4, tensor_avx512_gemvn_mxfp4, {-1, -1}, tensor_ref_dot_mxfp4_q8_0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        check_gemvn(&cases[c]);
}

/* the nibble types' forms with AVX512-VBMI byte permutes (dispatch.c picks them where the CPU
 * has it), against the same references */
Test(kernels, avx512_vbmi_gemvn_equals_ref_dots) {
    if (!cpu_has(ISA_AVX512) || !cpu_features_get()->avx512vbmi)
        cr_skip_test("this CPU lacks AVX-512 F/BW/VL/DQ/VNNI/VBMI: not tested here");
    const gemvn_case cases[] = {
        {TENSOR_TYPE_Q4_0, tensor_avx512_gemvn_q4_0_vbmi, {0, -1}, tensor_ref_dot_q4_0_q8_0},
        {TENSOR_TYPE_IQ4_NL, tensor_avx512_gemvn_iq4_nl_vbmi, {0, -1}, tensor_ref_dot_iq4_nl_q8_0},
        {TENSOR_TYPE_MXFP4, tensor_avx512_gemvn_mxfp4_vbmi, {-1, -1}, tensor_ref_dot_mxfp4_q8_0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        check_gemvn(&cases[c]);
    /* dispatch gives them to one-token matmuls here (with the AVX-512 set, unless HEARTH_VBMI=0) */
    const char *v = getenv("HEARTH_VBMI"), *g = getenv("HEARTH_GEMV");
    if (!strcmp(tensor_isa(), "avx512") && !(v && !strcmp(v, "0")) && !(g && !strcmp(g, "0")))
        cr_assert_eq(tensor_gemvn_of(TENSOR_TYPE_MXFP4), tensor_avx512_gemvn_mxfp4_vbmi);
}

/* tensor_matmul end to end (whatever kernels are selected: small-batch or tiled where the set has
 * them, each side of the thresholds): every output equals the selected vec_dot of its (row, token), on 1 and 2
 * threads, with a row count that leaves a partial tile (done row by row). */
static void check_matmul(void) {
    const tensor_type types[] = {TENSOR_TYPE_Q4_0,   TENSOR_TYPE_Q8_0,  TENSOR_TYPE_Q4_K,
                                 TENSOR_TYPE_Q6_K,   TENSOR_TYPE_Q5_0,  TENSOR_TYPE_IQ4_NL,
                                 TENSOR_TYPE_IQ4_XS, TENSOR_TYPE_TQ2_0, TENSOR_TYPE_MXFP4,
                                 TENSOR_TYPE_IQ3_S,  TENSOR_TYPE_TQ1_0};
    const int64_t n_in = 512, n_out = 3 * TENSOR_GEMM_ROWS + 5;
    const int toks[] = {1, 2, 3, 4, 5, 6, 8, 11, 12, 15, 24, 25};
    he_pool *pools[2] = {he_pool_new(1), he_pool_new(2)};
    for (size_t c = 0; c < sizeof types / sizeof types[0]; c++) {
        const tensor_traits *t = tensor_traits_of(types[c]);
        const tensor_traits *vt = tensor_traits_of(t->vec_dot_type);
        const size_t w_row = tensor_row_size(types[c], n_in);
        uint8_t *w = malloc(w_row * (size_t)n_out);
        float *x = malloc(sizeof(float) * (size_t)(n_in * 25));
        float *y = malloc(sizeof(float) * (size_t)(n_out * 25));
        uint8_t *scratch = malloc(tensor_matmul_scratch(types[c], n_in, 25));
        uint8_t *qrow = malloc(tensor_row_size(t->vec_dot_type, n_in));
        float *row = malloc(sizeof(float) * (size_t)n_in);
        rng_seed(9000 + c);
        for (int64_t r = 0; r < n_out; r++) {
            for (int64_t i = 0; i < n_in; i++)
                row[i] = rng_uniform();
            tensor_traits_ref_of(types[c])->from_float(row, w + (size_t)r * w_row, n_in);
        }
        for (int64_t i = 0; i < n_in * 25; i++)
            x[i] = 2.0f * rng_uniform();
        for (int p = 0; p < 2; p++)
            for (size_t k = 0; k < sizeof toks / sizeof toks[0]; k++) {
                const int n_tok = toks[k];
                tensor_matmul(pools[p], y, w, types[c], n_in, n_out, x, n_tok, scratch);
                for (int tk = 0; tk < n_tok; tk++) {
                    vt->from_float(x + (int64_t)tk * n_in, qrow, n_in);
                    for (int64_t r = 0; r < n_out; r++) {
                        float s = NAN;
                        t->vec_dot(n_in, &s, w + (size_t)r * w_row, qrow);
                        cr_assert(y[(int64_t)tk * n_out + r] == s,
                                  "%s, %d threads, %d tokens: row %lld token %d: %a vs %a", t->name,
                                  p + 1, n_tok, (long long)r, tk,
                                  (double)y[(int64_t)tk * n_out + r], (double)s);
                    }
                }
            }
        free(w);
        free(x);
        free(y);
        free(scratch);
        free(qrow);
        free(row);
    }
    he_pool_free(pools[0]);
    he_pool_free(pools[1]);
}

Test(kernels, matmul_equals_vec_dot) {
    const char *g = getenv("HEARTH_GEMM");
    if (!strcmp(tensor_isa(), "avx512") && !(g && !strcmp(g, "0"))) { /* these types' tiles */
        cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_MXFP4), tensor_avx512_gemm_mxfp4);
        cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_IQ3_S), tensor_avx512_gemm_iq3_s);
        cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_TQ1_0), tensor_avx512_gemm_tq1_0);
    }
    check_matmul();
}

/* tensor_matmul_many: each item's output equals tensor_matmul's on it alone, bit for bit, on 1
 * and 2 threads: items sharing their input (same x, n_tok, type, tile side: quantized once),
 * items that may not share it (fewer rows than a tile, another type), a float-weight item, a
 * prompt-sized batch (tiled kernels), and the one-at-a-time fallback when the scratch is short. */
Test(kernels, matmul_many_equals_matmul) {
    const int64_t n_in = 512;
    const struct {
        tensor_type type;
        int64_t n_out;
        int x, n_tok; /* input 0 or 1 */
    } items[] = {
        {TENSOR_TYPE_Q4_0, 53, 0, 3}, {TENSOR_TYPE_Q4_0, 40, 0, 3},  {TENSOR_TYPE_Q4_0, 7, 0, 3},
        {TENSOR_TYPE_Q4_K, 37, 0, 3}, {TENSOR_TYPE_Q8_0, 48, 1, 30}, {TENSOR_TYPE_Q8_0, 48, 1, 30},
        {TENSOR_TYPE_F16, 21, 1, 30}, {TENSOR_TYPE_Q6_K, 19, 0, 1},  {TENSOR_TYPE_Q6_K, 19, 1, 1},
    };
    enum { N = sizeof items / sizeof items[0] };
    float *x[2] = {malloc(sizeof(float) * n_in * 30), malloc(sizeof(float) * n_in * 30)};
    rng_seed(4242);
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < n_in * 30; i++)
            x[k][i] = 2.0f * rng_uniform();
    uint8_t *w[N];
    float *y[N], *ref[N];
    tensor_mm mm[N];
    size_t need = 0, one_max = 0;
    float *row = malloc(sizeof(float) * n_in);
    for (int i = 0; i < N; i++) {
        const size_t w_row = tensor_row_size(items[i].type, n_in);
        w[i] = malloc(w_row * (size_t)items[i].n_out);
        for (int64_t r = 0; r < items[i].n_out; r++) {
            for (int64_t j = 0; j < n_in; j++)
                row[j] = rng_uniform();
            tensor_traits_ref_of(items[i].type)->from_float(row, w[i] + (size_t)r * w_row, n_in);
        }
        y[i] = malloc(sizeof(float) * (size_t)items[i].n_out * 30);
        ref[i] = malloc(sizeof(float) * (size_t)items[i].n_out * 30);
        mm[i] = (tensor_mm){.y = y[i],
                            .w = w[i],
                            .wtype = items[i].type,
                            .n_in = n_in,
                            .n_out = items[i].n_out,
                            .x = x[items[i].x],
                            .n_tok = items[i].n_tok};
        const size_t s = tensor_matmul_scratch(items[i].type, n_in, items[i].n_tok);
        need += s;
        if (s > one_max) one_max = s;
    }
    uint8_t *scratch = malloc(need);
    he_pool *pools[2] = {he_pool_new(1), he_pool_new(2)};
    for (int p = 0; p < 2; p++)
        for (int fallback = 0; fallback < 2; fallback++) {
            for (int i = 0; i < N; i++)
                tensor_matmul(pools[p], ref[i], w[i], items[i].type, n_in, items[i].n_out,
                              x[items[i].x], items[i].n_tok, scratch);
            for (int i = 0; i < N; i++)
                for (int64_t j = 0; j < items[i].n_out * items[i].n_tok; j++)
                    y[i][j] = NAN;
            tensor_matmul_many(pools[p], mm, N, scratch, fallback ? one_max : need);
            for (int i = 0; i < N; i++)
                for (int64_t j = 0; j < items[i].n_out * items[i].n_tok; j++)
                    cr_assert(y[i][j] == ref[i][j], "%d threads%s: item %d, output %lld: %a vs %a",
                              p + 1, fallback ? " (fallback)" : "", i, (long long)j,
                              (double)y[i][j], (double)ref[i][j]);
        }
    for (int i = 0; i < N; i++) {
        free(w[i]);
        free(y[i]);
        free(ref[i]);
    }
    he_pool_free(pools[0]);
    he_pool_free(pools[1]);
    free(scratch);
    free(row);
    free(x[0]);
    free(x[1]);
}

/* The same through the AVX2 set (its tiled kernels, as on a CPU without AVX-512), and with the
 * tiled kernels switched off (HEARTH_GEMM=0: vec_dot per (row, token)). The set is chosen once per
 * process at the first lookup; Criterion runs each test in its own process, so setting
 * HEARTH_ISA first selects it (checked, else skipped). */
static void force_avx2(const char *gemm, const char *vnni) {
    if (!cpu_has(ISA_AVX2)) cr_skip_test("this CPU lacks AVX2/FMA/F16C: not tested here");
    setenv("HEARTH_ISA", "avx2", 1);
    if (gemm) setenv("HEARTH_GEMM", gemm, 1);
    if (vnni) setenv("HEARTH_AVXVNNI", vnni, 1);
    if (strcmp(tensor_isa(), "avx2"))
        cr_skip_test("kernel set already chosen (%s) in this process", tensor_isa());
}

/* AVX-VNNI variant where the CPU has it */
Test(kernels, avx2_matmul_equals_vec_dot) {
    force_avx2(NULL, NULL);
    const bool vnni = tensor_cpu_has_avxvnni();
    cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_Q4_0),
                 vnni ? tensor_avx2_gemm_q4_0_vnni : tensor_avx2_gemm_q4_0);
    cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_Q6_K),
                 vnni ? tensor_avx2_gemm_q6_K_vnni : tensor_avx2_gemm_q6_K);
    cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_MXFP4),
                 vnni ? tensor_avx2_gemm_mxfp4_vnni : tensor_avx2_gemm_mxfp4);
    cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_IQ3_S),
                 vnni ? tensor_avx2_gemm_iq3_s_vnni : tensor_avx2_gemm_iq3_s);
    cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_TQ1_0),
                 vnni ? tensor_avx2_gemm_tq1_0_vnni : tensor_avx2_gemm_tq1_0);
    cr_assert_eq(tensor_traits_of(TENSOR_TYPE_Q4_K)->vec_dot, tensor_avx2_dot_q4_K_q8_K);
    check_matmul();
}

Test(kernels, avx2_matmul_without_vnni) {
    force_avx2(NULL, "0");
    cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_Q8_0), tensor_avx2_gemm_q8_0);
    cr_assert_eq(tensor_gemm_of(TENSOR_TYPE_Q4_K), tensor_avx2_gemm_q4_K);
    check_matmul();
}

Test(kernels, avx2_matmul_without_gemm) {
    force_avx2("0", NULL);
    cr_assert_null((void *)tensor_gemm_of(TENSOR_TYPE_Q4_0));
    cr_assert_null((void *)tensor_gemm_of(TENSOR_TYPE_Q4_K));
    check_matmul();
}

/* ---- LoRA's low-rank kernels (tensor_internal.h): llama.cpp's two float orders ---- */

static void fill_f32(float *v, int64_t n, uint32_t seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        /* mixed signs and magnitudes over a few binades, so summation order shows in the bits */
        v[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * (float)(1u << ((seed >> 4) & 7));
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
/* The order tinyBLAS writes (llamafile sgemm.cpp, KN = 16 on AVX-512): one fused accumulator of
 * 16 lanes, then GCC's _mm512_reduce_add_ps — computed here with the real instructions, so the
 * reference's reading of that reduction tree is checked against the compiler's own. */
__attribute__((target("avx512f,fma"))) static float tinyblas_dot(int64_t n, const float *x,
                                                                 const float *y) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc);
    return _mm512_reduce_add_ps(acc);
}
#endif

Test(kernels, lowrank_orders_bit_identical) {
    if (!cpu_has(ISA_AVX2)) cr_skip_test("this CPU lacks AVX2/FMA/F16C: not tested here");
    const int64_t ranks[] = {1, 7, 8, 9, 16, 24, 32, 48, 63};
    const int64_t outs[] = {1, 7, 8, 9, 16, 100, 256};
    const int64_t maxr = 64, maxo = 256;
    float *b = malloc((size_t)(maxr * maxo) * sizeof(float)), t[64];
    float y_ref[256], y_simd[256];
    cr_assert_not_null(b);
    fill_f32(b, maxr * maxo, 11);
    fill_f32(t, 64, 12);
    int checked = 0, differs = 0;
    for (size_t ri = 0; ri < sizeof ranks / sizeof *ranks; ri++)
        for (size_t oi = 0; oi < sizeof outs / sizeof *outs; oi++) {
            const int64_t r = ranks[ri], no = outs[oi];
            for (int kind = 0; kind < 2; kind++) {
                if (kind == 1 && r % 16) continue;
                fill_f32(y_ref, no, 13);
                memcpy(y_simd, y_ref, (size_t)no * sizeof(float));
                if (kind == 0) {
                    tensor_ref_lowrank_seq_add_f32(r, no, b, t, 0.37f, y_ref);
                    tensor_avx2_lowrank_seq_add_f32(r, no, b, t, 0.37f, y_simd);
                } else {
                    tensor_ref_lowrank16_add_f32(r, no, b, t, 0.37f, y_ref);
                    tensor_avx2_lowrank16_add_f32(r, no, b, t, 0.37f, y_simd);
                }
                cr_assert_arr_eq(y_ref, y_simd, (size_t)no * sizeof(float),
                                 "%s rank %ld, %ld outputs: avx2 differs from the reference",
                                 kind ? "dot16" : "seq", (long)r, (long)no);
                checked++;
            }
            /* the two orders are different orders (else the test could not tell them apart) */
            if (r % 16 == 0 && r > 16) {
                float a = 0.0f, c = 0.0f;
                tensor_ref_lowrank_seq_add_f32(r, 1, b, t, 1.0f, &a);
                tensor_ref_lowrank16_add_f32(r, 1, b, t, 1.0f, &c);
                for (int64_t o = 0; o < no && a == c; o++) {
                    a = c = 0.0f;
                    tensor_ref_lowrank_seq_add_f32(r, 1, b + o * r, t, 1.0f, &a);
                    tensor_ref_lowrank16_add_f32(r, 1, b + o * r, t, 1.0f, &c);
                }
                differs += a != c;
            }
        }
    cr_expect_gt(differs, 0,
                 "seq and dot16 orders never differed: the data cannot tell them apart");
    /* dot16 over long rows (the A product) against the reference, and against the real AVX-512
     * reduction where the CPU has it */
    const int64_t lens[] = {16, 32, 256, 2048, 5632};
    float *x = malloc(5632 * sizeof(float)), *w = malloc(5632 * sizeof(float));
    cr_assert(x && w);
    fill_f32(x, 5632, 21);
    fill_f32(w, 5632, 22);
    const bool has512 = cpu_features_get()->avx512f;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        float r1, r2;
        tensor_ref_dot16_f32(lens[li], &r1, w, x);
        tensor_avx2_dot16_f32(lens[li], &r2, w, x);
        cr_assert(memcmp(&r1, &r2, sizeof r1) == 0, "dot16 n=%ld: %.9g vs %.9g", (long)lens[li],
                  (double)r1, (double)r2);
#if defined(__x86_64__)
        if (has512) {
            const float r3 = tinyblas_dot(lens[li], w, x);
            cr_assert(memcmp(&r1, &r3, sizeof r1) == 0,
                      "dot16 n=%ld: %.9g vs _mm512_reduce_add_ps %.9g", (long)lens[li], (double)r1,
                      (double)r3);
        }
#endif
        checked++;
    }
    if (!has512)
        cr_log_warn(
            "no AVX-512: the reduction-tree check against _mm512_reduce_add_ps was skipped");
    cr_log_info("low-rank kernels: %d cases bit-identical", checked);
    free(x);
    free(w);
    free(b);
}
