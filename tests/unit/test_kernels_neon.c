/* test_kernels_neon.c — the NEON kernels (dot_neon.c, dot_neondp.c) against their scalar twins,
 * both variants whatever HEARTH_ISA says. Built only where the NEON files are (aarch64: make
 * test-cross runs it under qemu-aarch64, as -cpu max and as a Cortex-A53 without the
 * dot-product extension, where the SDOT variant is skipped with a message).
 *
 * Quantized dots and the F32 dot must be bit-identical (==): weights of random bytes (every bit
 * pattern of the quant and scale fields, Q8_0's -128 included) with finite fp16 scales,
 * activations from the reference quantizers and all-+-127 ones, weights at their extreme bytes,
 * over 1 to 67 blocks and at an offset. F16/BF16 dots: within 1e-5 of sum |x y|. Quantizers:
 * the reference's bytes, NaN/inf/huge inputs included. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "tensor/blocks.h"
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

typedef struct {
    tensor_type type;
    int halves[2]; /* byte offsets of the fp16 scale fields in a block, -1: none */
    tensor_vec_dot_fn ref, neon, neondp;
} dot_case;

static const dot_case dots[] = {
    {TENSOR_TYPE_Q4_0, {0, -1}, tensor_ref_dot_q4_0_q8_0, tensor_neon_dot_q4_0_q8_0,
     tensor_neondp_dot_q4_0_q8_0},
    {TENSOR_TYPE_Q8_0, {0, -1}, tensor_ref_dot_q8_0_q8_0, tensor_neon_dot_q8_0_q8_0,
     tensor_neondp_dot_q8_0_q8_0},
    {TENSOR_TYPE_Q4_K, {0, 2}, tensor_ref_dot_q4_K_q8_K, tensor_neon_dot_q4_K_q8_K,
     tensor_neondp_dot_q4_K_q8_K},
    {TENSOR_TYPE_Q5_K, {0, 2}, tensor_ref_dot_q5_K_q8_K, tensor_neon_dot_q5_K_q8_K,
     tensor_neondp_dot_q5_K_q8_K},
    {TENSOR_TYPE_Q6_K, {208, -1}, tensor_ref_dot_q6_K_q8_K, tensor_neon_dot_q6_K_q8_K,
     tensor_neondp_dot_q6_K_q8_K},
};
#define NDOTS (sizeof dots / sizeof dots[0])

static const int64_t nblocks[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 49, 64, 67};
#define NB_MAX 67

/* nb activation blocks of type vt; mode 1: every quant +-127 (the largest products) */
static void make_activations(tensor_type vt, uint8_t *y, int64_t nb, int mode, float mag) {
    const tensor_traits *t = tensor_traits_ref_of(vt);
    const int64_t n = nb * t->block_size;
    float *f = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        f[i] = mag * rng_uniform();
        if (mode == 1) f[i] = (rng_u32() & 1) ? 127.0f : -127.0f;
    }
    t->from_float(f, y, n);
    free(f);
}

/* nb weight blocks of random bytes (mode 1: only 0x00, 0x7F, 0x80, 0xFF), finite fp16 scales */
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
}

static void check_dots(bool dotprod) {
    if (dotprod && !cpu_features_get()->neon_dotprod)
        cr_skip_test("this CPU lacks the dot-product extension (ASIMDDP): not tested here");
    int compared = 0;
    for (size_t c = 0; c < NDOTS; c++) {
        const dot_case *dc = &dots[c];
        const tensor_vec_dot_fn fn = dotprod ? dc->neondp : dc->neon;
        const tensor_traits *t = tensor_traits_ref_of(dc->type);
        const tensor_traits *vt = tensor_traits_ref_of(t->vec_dot_type);
        uint8_t *x = malloc(t->type_size * NB_MAX), *y = malloc(vt->type_size * NB_MAX);
        for (int trial = 0; trial < 6; trial++) {
            rng_seed(1000 * (uint64_t)c + (uint64_t)trial);
            const float mags[] = {1.0f, 1e-3f, 50.0f, 1.0f, 1.0f, 1.0f};
            make_weights(dc, x, NB_MAX, trial == 5 ? 1 : 0);
            make_activations(t->vec_dot_type, y, NB_MAX, trial >= 4 ? 1 : 0, mags[trial]);
            for (size_t k = 0; k < sizeof nblocks / sizeof nblocks[0]; k++) {
                const int64_t n = nblocks[k] * t->block_size;
                const int64_t off = NB_MAX - nblocks[k]; /* also rows not at the buffer start */
                for (int o = 0; o < 2; o++) {
                    const uint8_t *xo = x + (o ? off : 0) * (int64_t)t->type_size;
                    const uint8_t *yo = y + (o ? off : 0) * (int64_t)vt->type_size;
                    float s_ref = NAN, s_neon = NAN;
                    dc->ref(n, &s_ref, xo, yo);
                    fn(n, &s_neon, xo, yo);
                    cr_assert(s_ref == s_neon, "%s %s trial %d, %lld blocks%s: %a vs ref %a",
                              t->name, dotprod ? "neondot" : "neon", trial, (long long)nblocks[k],
                              o ? " at an offset" : "", (double)s_neon, (double)s_ref);
                    compared++;
                }
            }
        }
        free(x);
        free(y);
    }
    cr_assert(compared > 0);
}

Test(kernels_neon, neon_dots_equal_ref) { check_dots(false); }

Test(kernels_neon, neondot_dots_equal_ref) { check_dots(true); }

/* Small-batch kernels: every y[t * ldy + r] equals the reference dot of (row r, token t), for
 * 1 to 9 tokens (the 4-token groups and their remainders), 1 to 5 rows, rows of 1, 2 and 5
 * blocks, random and extreme weights; outputs outside the rows and tokens stay untouched. */
static void check_gemvn(bool dotprod) {
    if (dotprod && !cpu_features_get()->neon_dotprod)
        cr_skip_test("this CPU lacks the dot-product extension (ASIMDDP): not tested here");
    const struct {
        dot_case dc;
        tensor_gemvn_fn fn;
    } cases[] = {{dots[2], dotprod ? tensor_neondp_gemvn_q4_K : tensor_neon_gemvn_q4_K},
                 {dots[4], dotprod ? tensor_neondp_gemvn_q6_K : tensor_neon_gemvn_q6_K}};
    enum { ROWS = 5, TOK = 9, NB = 5, LDY = ROWS + 2 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const dot_case *dc = &cases[c].dc;
        const tensor_traits *t = tensor_traits_ref_of(dc->type);
        const size_t vbs = tensor_traits_ref_of(TENSOR_TYPE_Q8_K)->type_size;
        uint8_t *w = malloc(t->type_size * NB * ROWS), *a = malloc(vbs * NB * TOK);
        float y[TOK * LDY];
        for (int trial = 0; trial < 3; trial++) {
            rng_seed(600 + 10 * (uint64_t)c + (uint64_t)trial);
            for (int64_t nb = 1; nb <= NB; nb += (nb == 2 ? 3 : 1)) {
                const size_t w_row = t->type_size * (size_t)nb, a_row = vbs * (size_t)nb;
                for (int r = 0; r < ROWS; r++)
                    make_weights(dc, w + r * w_row, nb, trial == 2 ? 1 : 0);
                for (int k = 0; k < TOK; k++)
                    make_activations(TENSOR_TYPE_Q8_K, a + k * a_row, nb, trial == 1 ? 1 : 0, 3.0f);
                for (int n_rows = 1; n_rows <= ROWS; n_rows += 2)
                    for (int n_tok = 1; n_tok <= TOK; n_tok++) {
                        for (int i = 0; i < TOK * LDY; i++)
                            y[i] = -1.0f;
                        cases[c].fn(nb * QK_K, n_rows, n_tok, y, LDY, w, w_row, a, a_row);
                        for (int k = 0; k < TOK; k++)
                            for (int r = 0; r < LDY; r++) {
                                float want = -1.0f;
                                if (k < n_tok && r < n_rows)
                                    dc->ref(nb * QK_K, &want, w + r * w_row, a + k * a_row);
                                cr_assert(y[k * LDY + r] == want,
                                          "%s gemvn%s trial %d, %lld blocks, %d rows, %d tokens: "
                                          "row %d token %d: %a vs ref %a",
                                          t->name, dotprod ? " (dot)" : "", trial, (long long)nb,
                                          n_rows, n_tok, r, k, (double)y[k * LDY + r],
                                          (double)want);
                            }
                    }
            }
        }
        free(w);
        free(a);
    }
}

Test(kernels_neon, neon_gemvn_equals_ref_dots) { check_gemvn(false); }

Test(kernels_neon, neondot_gemvn_equals_ref_dots) { check_gemvn(true); }

/* Tiled kernels (SDOT): every output of a tile equals the reference dot of its (row, token)
 * pair: random and extreme weights, reference-quantized and all-+-127 activations, 1 to 17
 * tokens (the 8-token groups, padded), rows of 1 to 67 blocks, 8 and 32 rows. */
Test(kernels_neon, neondot_gemm_equals_ref_dots) {
    if (!cpu_features_get()->neon_dotprod)
        cr_skip_test("this CPU lacks the dot-product extension (ASIMDDP): not tested here");
    const struct {
        dot_case dc;
        tensor_gemm_fn fn;
    } cases[] = {{dots[0], tensor_neondp_gemm_q4_0}, {dots[1], tensor_neondp_gemm_q8_0}};
    const int64_t lens[] = {1, 3, 64, 67};
    const int toks[] = {1, 2, 3, 5, 7, 8, 9, 13, 16, 17};
    enum { ROWS = 32, TMAX = 17, NBMAX = 67 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const dot_case *dc = &cases[c].dc;
        const tensor_traits *t = tensor_traits_ref_of(dc->type);
        const tensor_traits *vt = tensor_traits_ref_of(TENSOR_TYPE_Q8_0);
        uint8_t *w = malloc(t->type_size * NBMAX * ROWS), *q = malloc(vt->type_size * NBMAX * TMAX);
        float *y = malloc(sizeof(float) * ROWS * TMAX);
        void *pack = malloc(tensor_gemm_pack_size(dc->type, NBMAX * 32, TMAX));
        for (int trial = 0; trial < 3; trial++) {
            rng_seed(5000 + 100 * (uint64_t)c + (uint64_t)trial);
            for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
                const int64_t nb = lens[l], n_in = nb * 32;
                const size_t w_row = t->type_size * (size_t)nb, q_row = vt->type_size * (size_t)nb;
                for (int r = 0; r < ROWS; r++)
                    make_weights(dc, w + r * w_row, nb, trial == 2 ? 1 : 0);
                for (int k = 0; k < TMAX; k++)
                    make_activations(TENSOR_TYPE_Q8_0, q + k * q_row, nb, trial == 1 ? 1 : 0,
                                     trial == 0 ? 1.0f : 20.0f);
                for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
                    const int n_tok = toks[ti], n_rows = ti % 2 ? ROWS : 8;
                    tensor_gemm_pack(dc->type, n_in, q, q_row, n_tok, pack);
                    for (int i = 0; i < ROWS * TMAX; i++)
                        y[i] = NAN;
                    cases[c].fn(n_in, n_rows, n_tok, y, ROWS, w, w_row, pack);
                    for (int k = 0; k < n_tok; k++)
                        for (int r = 0; r < n_rows; r++) {
                            float want = NAN;
                            dc->ref(n_in, &want, w + r * w_row, q + k * q_row);
                            cr_assert(y[k * ROWS + r] == want,
                                      "%s gemm trial %d, %lld blocks, %d tokens: row %d token %d: "
                                      "%a vs ref %a",
                                      t->name, trial, (long long)nb, n_tok, r, k,
                                      (double)y[k * ROWS + r], (double)want);
                        }
                }
            }
        }
        free(w);
        free(q);
        free(y);
        free(pack);
    }
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* F32: bit-identical (same summation order); F16/BF16: within 1e-5 of sum |x y|; lengths with
 * every tail size */
Test(kernels_neon, float_dots) {
    const int64_t n = 4099;
    float *xf = malloc(sizeof(float) * n), *yf = malloc(sizeof(float) * n);
    uint16_t *h = malloc(sizeof(uint16_t) * n), *bf = malloc(sizeof(uint16_t) * n);
    rng_seed(4);
    for (int64_t i = 0; i < n; i++) {
        xf[i] = 3.0f * rng_uniform();
        yf[i] = rng_uniform();
    }
    tensor_ref_f16_from_float(xf, h, n);
    tensor_ref_bf16_from_float(xf, bf, n);
    const int64_t lens[] = {1, 7, 15, 16, 17, 63, 64, 65, 100, 1000, 4096, 4099};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int64_t len = lens[li];
        float a = NAN, b = NAN;
        tensor_neon_dot_f32_f32(len, &a, xf, yf);
        tensor_ref_dot_f32_f32(len, &b, xf, yf);
        cr_assert_eq(f32_bits(a), f32_bits(b), "f32 n=%lld: %a vs ref %a", (long long)len,
                     (double)a, (double)b);
        double mag = 0.0;
        for (int64_t i = 0; i < len; i++)
            mag += fabs((double)xf[i] * (double)yf[i]);
        tensor_neon_dot_f16_f32(len, &a, h, yf);
        tensor_ref_dot_f16_f32(len, &b, h, yf);
        cr_assert(fabs((double)a - (double)b) <= 1e-5 * mag, "f16 n=%lld: %g vs ref %g",
                  (long long)len, (double)a, (double)b);
        tensor_neon_dot_bf16_f32(len, &a, bf, yf);
        tensor_ref_dot_bf16_f32(len, &b, bf, yf);
        cr_assert(fabs((double)a - (double)b) <= 1e-5 * mag, "bf16 n=%lld: %g vs ref %g",
                  (long long)len, (double)a, (double)b);
    }
    free(xf);
    free(yf);
    free(h);
    free(bf);
}

/* Q8_0 / Q8_K quantizers write the reference's bytes: random rows at several magnitudes, exact
 * rounding ties, and rows holding NaN, +-inf, huge values and all zeros. */
Test(kernels_neon, quantizers_equal_ref) {
    const struct {
        tensor_type type;
        tensor_from_float_fn neon, ref;
    } qs[] = {{TENSOR_TYPE_Q8_0, tensor_neon_q8_0_from_float, tensor_ref_q8_0_from_float},
              {TENSOR_TYPE_Q8_K, tensor_neon_q8_K_from_float, tensor_ref_q8_K_from_float}};
    const int64_t n = 256 * 5;
    float *f = malloc(sizeof(float) * (size_t)n);
    uint8_t *a = malloc((size_t)n * 2), *b = malloc((size_t)n * 2);
    for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++) {
        for (int trial = 0; trial < 6; trial++) {
            rng_seed(77 + 10 * q + (uint64_t)trial);
            const float mag[] = {3.0f, 1e-3f, 1e4f, 1.0f, 1.0f, 1.0f};
            for (int64_t i = 0; i < n; i++)
                f[i] = mag[trial] * rng_uniform();
            if (trial == 3) /* ties: amax 127 gives scale 1; halves everywhere */
                for (int64_t i = 0; i < n; i++)
                    f[i] = (i % 32 == 0) ? 127.0f : (float)(i % 61 - 30) + 0.5f;
            if (trial == 4) { /* specials in the first blocks, an all-zero block */
                f[3] = NAN;
                f[40] = INFINITY;
                f[41] = -INFINITY;
                f[300] = 3e38f;
                f[700] = -NAN;
                for (int64_t i = 768; i < 1024; i++)
                    f[i] = 0.0f;
            }
            if (trial == 5) /* equal magnitudes of both signs: the first one sets the sign */
                for (int64_t i = 0; i < n; i++)
                    f[i] = (i % 7 == 3) ? ((i / 7) % 2 ? 2.0f : -2.0f) : 0.5f * f[i];
            const size_t rs = tensor_row_size(qs[q].type, n);
            memset(a, 1, rs);
            memset(b, 2, rs);
            qs[q].neon(f, a, n);
            qs[q].ref(f, b, n);
            for (size_t i = 0; i < rs; i++)
                cr_assert_eq(a[i], b[i], "%s trial %d: byte %zu: %02x vs ref %02x",
                             tensor_traits_ref_of(qs[q].type)->name, trial, i, a[i], b[i]);
        }
    }
    free(f);
    free(a);
    free(b);
}

/* The selected set on aarch64 is neon (SDOT variant where the CPU has it), unless HEARTH_ISA=ref */
Test(kernels_neon, selection_matches_cpu) {
    const char *want = getenv("HEARTH_ISA");
    const cpu_features *f = cpu_features_get();
    const tensor_vec_dot_fn sel = tensor_traits_of(TENSOR_TYPE_Q4_K)->vec_dot;
    if (want && !strcmp(want, "ref")) {
        cr_expect_eq(sel, tensor_ref_dot_q4_K_q8_K);
        cr_expect_str_eq(tensor_isa(), "ref");
    } else if (f->neon_dotprod) {
        cr_expect_str_eq(tensor_isa(), "neondot");
        cr_expect_eq(sel, tensor_neondp_dot_q4_K_q8_K);
    } else {
        cr_assert(f->neon, "aarch64 Linux always has Advanced SIMD");
        cr_expect_str_eq(tensor_isa(), "neon");
        cr_expect_eq(sel, tensor_neon_dot_q4_K_q8_K);
    }
    cr_expect_eq(tensor_traits_of(TENSOR_TYPE_Q5_0)->vec_dot, tensor_ref_dot_q5_0_q8_0,
                 "types without a NEON dot keep the reference");
    const char *gv = getenv("HEARTH_GEMV");
    const tensor_gemvn_fn g = tensor_gemvn_of(TENSOR_TYPE_Q6_K);
    if ((want && !strcmp(want, "ref")) || (gv && !strcmp(gv, "0")))
        cr_expect_null(g);
    else
        cr_expect_eq(g, f->neon_dotprod ? tensor_neondp_gemvn_q6_K : tensor_neon_gemvn_q6_K);
    const char *gm = getenv("HEARTH_GEMM");
    if ((want && !strcmp(want, "ref")) || (gm && !strcmp(gm, "0")) || !f->neon_dotprod)
        cr_expect_null(tensor_gemm_of(TENSOR_TYPE_Q4_0), "tiled kernels: SDOT only");
    else
        cr_expect_eq(tensor_gemm_of(TENSOR_TYPE_Q4_0), tensor_neondp_gemm_q4_0);
    cr_expect_null(tensor_gemm_of(TENSOR_TYPE_Q4_K), "no K-quant tiled NEON kernels");
}
