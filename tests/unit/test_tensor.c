/* test_tensor.c — the tensor block formats and their scalar reference kernels.
 *
 * Through tensor.h only: quantize -> dequantize error bounds per type (seeded random and the
 * synthetic 0.1 + 2 cos(i) of ggml's test-quantize-fns), dots against a double-precision dot of
 * the dequantized operands, fp16/bf16 conversions (exhaustive over all 65536 halves), and
 * known-answer blocks assembled byte by byte from the documented GGUF layouts, which guard
 * compatibility with real files. Set HEARTH_TENSOR_REPORT=1 to print the measured errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"
#include "tensor/tensor_internal.h" /* tensor_iq3s_grid */

/* ---- helpers ---- */

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

static bool report(void) { return getenv("HEARTH_TENSOR_REPORT") != NULL; }

static void fill_random(float *x, int64_t n, uint64_t seed) {
    rng_seed(seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = rng_uniform();
}

static void fill_synthetic(float *x, int64_t n, float offset) {
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.1f + 2.0f * cosf((float)i + offset);
}

static uint16_t f2h(float f) { return tensor_fp32_to_fp16(f); }

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float f32_from(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- per-type expectations ----
 * max_nrmse: bound on RMSE(dequant(quant(x)) - x) / RMS(x), for random uniform and synthetic
 * data (measured values noted per line; bounds leave ~15-25% headroom: data are seeded).
 * The Q4_1/Q5_1 dots differ from the dequantized dot by the fp16 rounding of Q8_1's s.
 * dot_rel: bound on |vec_dot - double dot of the dequantized operands| / sum |x_i y_i|. */
typedef struct {
    tensor_type type;
    double max_nrmse_random;
    double max_nrmse_synth;
    double dot_rel;
    double dot_float_rel; /* bound against the unquantized float dot; 0: 0.05 */
} type_case;

static const type_case cases[] = {
    {TENSOR_TYPE_F32, 0.0, 0.0, 1e-6, 0},
    {TENSOR_TYPE_F16, 2.5e-4, 2.5e-4, 1e-6, 0}, /* measured 1.85e-4 / 1.97e-4 */
    {TENSOR_TYPE_BF16, 2e-3, 2e-3, 1e-6, 0},    /* 1.46e-3 / 1.61e-3 */
    {TENSOR_TYPE_Q4_0, 0.075, 0.060, 1e-5, 0},  /* 0.0643 / 0.0506 */
    {TENSOR_TYPE_Q4_1, 0.072, 0.060, 2e-4, 0},  /* 0.0610 / 0.0516; dot: fp16-rounded s */
    {TENSOR_TYPE_Q5_0, 0.036, 0.031, 1e-5, 0},  /* 0.0308 / 0.0267 */
    {TENSOR_TYPE_Q5_1, 0.035, 0.030, 2e-4, 0},  /* 0.0294 / 0.0251 */
    {TENSOR_TYPE_Q8_0, 0.0045, 0.004, 1e-5, 0}, /* 0.00375 / 0.00336 */
    {TENSOR_TYPE_Q2_K, 0.27, 0.245, 1e-5, 0},   /* 0.2339 / 0.2109 */
    {TENSOR_TYPE_Q3_K, 0.145, 0.13, 1e-5, 0},   /* 0.1245 / 0.1135 */
    {TENSOR_TYPE_Q4_K, 0.064, 0.052, 1e-5, 0},  /* 0.0545 / 0.0442 */
    {TENSOR_TYPE_Q5_K, 0.033, 0.028, 1e-5, 0},  /* 0.0277 / 0.0240 */
    {TENSOR_TYPE_Q6_K, 0.016, 0.014, 1e-5, 0},  /* 0.0132 / 0.0118 */
    {TENSOR_TYPE_Q8_K, 0.0046, 0.004, 1e-5, 0}, /* 0.00395 / 0.00340 */
    {TENSOR_TYPE_IQ4_NL, 0.075, 0.066, 1e-5, 0}, /* 0.0643 / 0.0561 */
    {TENSOR_TYPE_IQ4_XS, 0.076, 0.067, 1e-5, 0}, /* 0.0647 / 0.0568 */
    /* 0.1442 / 0.0849: ggml's exponent choice clips |x| above 1.5 * 2^floor(log2 amax) */
    {TENSOR_TYPE_MXFP4, 0.17, 0.10, 1e-5, 0},
    /* ternary: 0.5007 / 0.3920 and 0.4950 / 0.3920; float dots within 0.141 */
    {TENSOR_TYPE_TQ1_0, 0.58, 0.46, 1e-5, 0.17},
    {TENSOR_TYPE_TQ2_0, 0.58, 0.46, 1e-5, 0.17},
};
#define NCASES (sizeof cases / sizeof cases[0])

#define ROWS 5       /* odd row count */
#define ROW_LEN 1536 /* 6 K-blocks, 48 32-blocks */
#define CANARY 0xA5

/* Quantizes ROWS rows separately into one buffer (each row at its tensor_row_size stride,
 * with a canary after the last), dequantizes back and returns the normalized RMSE. */
static double roundtrip_nrmse(const tensor_traits *t, tensor_type type, const float *x) {
    const size_t rs = tensor_row_size(type, ROW_LEN);
    cr_assert(rs > 0);
    uint8_t *q = malloc(rs * ROWS + 64);
    float *y = malloc(sizeof(float) * ROW_LEN * ROWS);
    memset(q, CANARY, rs * ROWS + 64);
    for (int r = 0; r < ROWS; r++)
        t->from_float(x + r * ROW_LEN, q + r * rs, ROW_LEN);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(q[rs * ROWS + i], CANARY, "%s wrote past its rows", t->name);
    for (int r = 0; r < ROWS; r++)
        t->to_float(q + r * rs, y + r * ROW_LEN, ROW_LEN);
    double err = 0.0, norm = 0.0;
    for (int i = 0; i < ROW_LEN * ROWS; i++) {
        double d = (double)y[i] - (double)x[i];
        err += d * d;
        norm += (double)x[i] * (double)x[i];
    }
    free(q);
    free(y);
    return sqrt(err / norm);
}

Test(tensor, quantize_roundtrip_error) {
    float *x = malloc(sizeof(float) * ROW_LEN * ROWS);
    for (size_t c = 0; c < NCASES; c++) {
        const tensor_traits *t = tensor_traits_of(cases[c].type);
        cr_assert(t && t->to_float && t->from_float, "type %d has kernels", cases[c].type);
        fill_random(x, ROW_LEN * ROWS, 1234 + c);
        double e_rand = roundtrip_nrmse(t, cases[c].type, x);
        fill_synthetic(x, ROW_LEN * ROWS, 0.0f);
        double e_syn = roundtrip_nrmse(t, cases[c].type, x);
        if (report())
            fprintf(stderr, "%-5s nrmse random %.6f synthetic %.6f\n", t->name, e_rand, e_syn);
        cr_expect(e_rand <= cases[c].max_nrmse_random, "%s random nrmse %g > %g", t->name, e_rand,
                  cases[c].max_nrmse_random);
        cr_expect(e_syn <= cases[c].max_nrmse_synth, "%s synthetic nrmse %g > %g", t->name, e_syn,
                  cases[c].max_nrmse_synth);
        if (cases[c].type == TENSOR_TYPE_F32) cr_expect_eq(e_rand, 0.0);
        /* a quantized type must actually lose something: guards against a to_float that just
         * reads back floats */
        if (t->is_quantized) cr_expect(e_rand > 1e-4, "%s suspiciously exact", t->name);
    }
    free(x);
}

/* Scale equivariance: every format stores per-block scales and every quantizer decision
 * (rounding, scale search, comparisons) is invariant under scaling by a power of two, so as long
 * as the fp16 scales stay normal, dequant(quant(2^k x)) == 2^k dequant(quant(x)) exactly. This
 * catches stray absolute epsilons and constants in the quantizers. An all-zero row stays zero. */
Test(tensor, quantize_scale_equivariant_and_zero) {
    float *x = malloc(sizeof(float) * ROW_LEN), *xs = malloc(sizeof(float) * ROW_LEN);
    float *y = malloc(sizeof(float) * ROW_LEN), *ys = malloc(sizeof(float) * ROW_LEN);
    uint8_t *q = malloc(tensor_row_size(TENSOR_TYPE_F32, ROW_LEN));
    for (size_t c = 0; c < NCASES; c++) {
        const tensor_traits *t = tensor_traits_of(cases[c].type);
        fill_random(x, ROW_LEN, 99 + c);
        t->from_float(x, q, ROW_LEN);
        t->to_float(q, y, ROW_LEN);
        const float scales[] = {0.5f, 4.0f, 64.0f};
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < ROW_LEN; i++)
                xs[i] = x[i] * scales[s];
            t->from_float(xs, q, ROW_LEN);
            t->to_float(q, ys, ROW_LEN);
            for (int i = 0; i < ROW_LEN; i++)
                cr_assert_eq(ys[i], y[i] * scales[s], "%s scale %g elem %d: %a vs %a", t->name,
                             (double)scales[s], i, (double)ys[i], (double)(y[i] * scales[s]));
        }
        memset(x, 0, sizeof(float) * ROW_LEN);
        t->from_float(x, q, ROW_LEN);
        t->to_float(q, y, ROW_LEN);
        for (int i = 0; i < ROW_LEN; i++)
            cr_assert_eq(y[i], 0.0f, "%s zero row at %d", t->name, i);
    }
    free(x);
    free(xs);
    free(y);
    free(ys);
    free(q);
}

/* Determinism: quantizing the same floats twice yields identical bytes. */
Test(tensor, quantize_deterministic) {
    float *x = malloc(sizeof(float) * ROW_LEN);
    uint8_t *a = malloc(ROW_LEN * 4), *b = malloc(ROW_LEN * 4);
    fill_random(x, ROW_LEN, 7);
    for (size_t c = 0; c < NCASES; c++) {
        const tensor_traits *t = tensor_traits_of(cases[c].type);
        size_t rs = tensor_row_size(cases[c].type, ROW_LEN);
        memset(a, 1, rs);
        memset(b, 2, rs);
        t->from_float(x, a, ROW_LEN);
        t->from_float(x, b, ROW_LEN);
        cr_expect(memcmp(a, b, rs) == 0, "%s not deterministic", t->name);
    }
    free(x);
    free(a);
    free(b);
}

static void check_dot(const type_case *tc, const float *xf, const float *yf, int64_t n,
                      const char *what) {
    const tensor_traits *t = tensor_traits_of(tc->type);
    const tensor_traits *vt = tensor_traits_of(t->vec_dot_type);
    cr_assert(t->vec_dot && vt && vt->from_float && vt->to_float);
    uint8_t *qx = malloc(tensor_row_size(tc->type, n));
    uint8_t *qy = malloc(tensor_row_size(t->vec_dot_type, n));
    float *dx = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n);
    t->from_float(xf, qx, n);
    vt->from_float(yf, qy, n);
    t->to_float(qx, dx, n);
    vt->to_float(qy, dy, n);
    double ref = 0.0, mag = 0.0, exact = 0.0, exact_mag = 0.0;
    for (int64_t i = 0; i < n; i++) {
        ref += (double)dx[i] * (double)dy[i];
        mag += fabs((double)dx[i] * (double)dy[i]);
        exact += (double)xf[i] * (double)yf[i];
        exact_mag += fabs((double)xf[i] * (double)yf[i]);
    }
    float s = NAN;
    t->vec_dot(n, &s, qx, qy);
    double rel = fabs((double)s - ref) / mag;
    /* Against the unquantized floats the error is the quantization error of both operands:
     * bounded by (nrmse_x + nrmse_y) in the Cauchy-Schwarz sense; 0.2 catches layout mixups
     * (wrong element order gives O(1)) without flaking. */
    double rel_exact = fabs((double)s - exact) / exact_mag;
    if (report())
        fprintf(stderr, "%-5s dot %-9s n=%-5lld rel_to_dequant %.3g rel_to_float %.3g\n", t->name,
                what, (long long)n, rel, rel_exact);
    cr_expect(rel <= tc->dot_rel, "%s dot (%s, n=%lld): %g vs %g (rel %g)", t->name, what,
              (long long)n, (double)s, ref, rel);
    const double bound = tc->dot_float_rel > 0 ? tc->dot_float_rel : 0.05;
    cr_expect(rel_exact <= bound, "%s dot (%s) vs float dot: rel %g", t->name, what, rel_exact);
    free(qx);
    free(qy);
    free(dx);
    free(dy);
}

Test(tensor, vec_dot_matches_double_dot) {
    float *x = malloc(sizeof(float) * ROW_LEN), *y = malloc(sizeof(float) * ROW_LEN);
    for (size_t c = 0; c < NCASES; c++) {
        const tensor_traits *t = tensor_traits_of(cases[c].type);
        const int64_t ns[] = {t->block_size == 256 ? 256 : 32, ROW_LEN, 768};
        for (int k = 0; k < 3; k++) {
            fill_random(x, ns[k], 500 + c);
            fill_random(y, ns[k], 900 + c);
            check_dot(&cases[c], x, y, ns[k], "random");
            /* same-sign data: no cancellation, so the float dot is large */
            fill_synthetic(x, ns[k], 0.0f);
            fill_synthetic(y, ns[k], 0.0f);
            check_dot(&cases[c], x, y, ns[k], "synthetic");
        }
    }
    free(x);
    free(y);
}

/* vec_dot_type as documented in tensor.h. */
Test(tensor, vec_dot_types) {
    struct {
        tensor_type t, vt;
    } want[] = {
        {TENSOR_TYPE_F32, TENSOR_TYPE_F32},   {TENSOR_TYPE_F16, TENSOR_TYPE_F32},
        {TENSOR_TYPE_BF16, TENSOR_TYPE_F32},  {TENSOR_TYPE_Q4_0, TENSOR_TYPE_Q8_0},
        {TENSOR_TYPE_Q4_1, TENSOR_TYPE_Q8_1}, {TENSOR_TYPE_Q5_0, TENSOR_TYPE_Q8_0},
        {TENSOR_TYPE_Q5_1, TENSOR_TYPE_Q8_1}, {TENSOR_TYPE_Q8_0, TENSOR_TYPE_Q8_0},
        {TENSOR_TYPE_Q4_K, TENSOR_TYPE_Q8_K}, {TENSOR_TYPE_Q5_K, TENSOR_TYPE_Q8_K},
        {TENSOR_TYPE_Q6_K, TENSOR_TYPE_Q8_K}, {TENSOR_TYPE_Q8_K, TENSOR_TYPE_Q8_K},
        {TENSOR_TYPE_Q2_K, TENSOR_TYPE_Q8_K}, {TENSOR_TYPE_Q3_K, TENSOR_TYPE_Q8_K},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const tensor_traits *t = tensor_traits_of(want[i].t);
        cr_assert(t && t->vec_dot);
        cr_expect_eq(t->vec_dot_type, want[i].vt, "%s", t->name);
        /* the activation type's block must tile the weight's block */
        cr_expect_eq(t->block_size % tensor_traits_of(t->vec_dot_type)->block_size, 0);
    }
    /* types hearth only reads (the importance-matrix i-quants) have kernels but no quantizer */
    const tensor_traits *iq = tensor_traits_of(16);
    cr_assert(iq && !strcmp(iq->name, "iq2_xxs"));
    cr_expect_eq(iq->vec_dot_type, TENSOR_TYPE_Q8_K);
    cr_expect_null(iq->from_float);
    cr_expect_null(tensor_traits_of(TENSOR_TYPE_COUNT));
    cr_expect_null(tensor_traits_of(31));
    cr_expect_null(tensor_traits_of(0xFFFFFFFFu));
}

/* ---- fp16 / bf16 ---- */

/* Every half converts to float and back unchanged (NaNs stay NaN with the same sign). */
Test(tensor, fp16_exhaustive_roundtrip) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = tensor_fp16_to_fp32((uint16_t)h);
        uint16_t back = tensor_fp32_to_fp16(f);
        bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (is_nan) {
            cr_assert(isnan(f), "half %04x should be NaN", h);
            cr_assert((back & 0x7C00) == 0x7C00 && (back & 0x3FF), "NaN %04x -> %04x", h, back);
            cr_assert_eq(back & 0x8000, h & 0x8000);
        } else {
            cr_assert_eq(back, h, "half %04x -> %g -> %04x", h, (double)f, back);
        }
    }
}

/* Values of finite halves, computed independently with ldexp. */
Test(tensor, fp16_values) {
    for (uint32_t h = 0; h < 0x7C00; h++) {
        int e = (int)(h >> 10), m = (int)(h & 0x3FF);
        double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
        cr_assert_eq((double)tensor_fp16_to_fp32((uint16_t)h), v, "half %04x", h);
        cr_assert_eq((double)tensor_fp16_to_fp32((uint16_t)(h | 0x8000)), -v);
    }
    cr_assert(isinf(tensor_fp16_to_fp32(0x7C00)) && tensor_fp16_to_fp32(0x7C00) > 0);
    cr_assert(isinf(tensor_fp16_to_fp32(0xFC00)) && tensor_fp16_to_fp32(0xFC00) < 0);
}

/* fp32 -> fp16 rounds to nearest, ties to even: checked on random floats by comparing with the
 * neighbours of the result, and on hand-picked edges. */
Test(tensor, fp16_rounding) {
    rng_seed(42);
    for (int i = 0; i < 200000; i++) {
        /* random bit patterns in the half's range (and a bit beyond, both signs) */
        uint32_t bits = (rng_u32() & 0x80000000u) | (0x30000000u + (rng_u32() % 0x18000000u));
        float f = f32_from(bits);
        uint16_t h = tensor_fp32_to_fp16(f);
        if (fabsf(f) >= 65520.0f) {
            cr_assert_eq(h & 0x7FFF, 0x7C00, "%a should overflow", (double)f);
            continue;
        }
        double v = (double)tensor_fp16_to_fp32(h), err = fabs(v - (double)f);
        uint16_t mag = h & 0x7FFF;
        for (int d = -1; d <= 1; d += 2) {
            int nb = (int)mag + d;
            if (nb < 0 || nb >= 0x7C00) continue;
            double vn = (double)tensor_fp16_to_fp32((uint16_t)((h & 0x8000) | nb));
            double en = fabs(vn - (double)f);
            cr_assert(err <= en, "%a -> %04x not nearest", (double)f, h);
            if (err == en) cr_assert((mag & 1) == 0, "%a tie not to even (%04x)", (double)f, h);
        }
    }
    /* edges */
    cr_assert_eq(f2h(0.0f), 0x0000);
    cr_assert_eq(f2h(-0.0f), 0x8000);
    cr_assert_eq(f2h(1.0f), 0x3C00);
    cr_assert_eq(f2h(-2.0f), 0xC000);
    cr_assert_eq(f2h(65504.0f), 0x7BFF);
    cr_assert_eq(f2h(65519.99f), 0x7BFF);
    cr_assert_eq(f2h(65520.0f), 0x7C00); /* tie -> even = infinity */
    cr_assert_eq(f2h(1e10f), 0x7C00);
    cr_assert_eq(f2h(-INFINITY), 0xFC00);
    cr_assert_eq(f2h(0x1p-24f), 0x0001);        /* smallest subnormal */
    cr_assert_eq(f2h(0x1p-25f), 0x0000);        /* tie between 0 and 2^-24 -> even (0) */
    cr_assert_eq(f2h(0x1.8p-24f), 0x0002);      /* tie between 1 and 2 -> 2 */
    cr_assert_eq(f2h(0x1.000002p-25f), 0x0001); /* just above the tie */
    cr_assert_eq(f2h(0x1p-14f), 0x0400);        /* smallest normal */
    cr_assert_eq(f2h(0x1.ff8p-15f), 0x03FF);    /* largest subnormal */
    cr_assert_eq(f2h(0x1.ffcp-15f), 0x0400);    /* ... + half ulp: tie to even = smallest normal */
    cr_assert_eq(f2h(1.0f + 0x1p-11f), 0x3C00); /* tie, even stays */
    cr_assert_eq(f2h(1.0f + 0x1.8p-10f), 0x3C02); /* tie between 3C01 and 3C02 -> 3C02 */
    cr_assert_eq(f2h(1e-30f), 0x0000);
    uint16_t qn = f2h(NAN);
    cr_assert((qn & 0x7C00) == 0x7C00 && (qn & 0x3FF));
    /* a signalling-NaN payload only in low bits must still come out NaN, not infinity */
    uint16_t sn = f2h(f32_from(0x7F800001u));
    cr_assert((sn & 0x7C00) == 0x7C00 && (sn & 0x3FF), "sNaN -> %04x", sn);
}

Test(tensor, bf16) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = tensor_bf16_to_fp32((uint16_t)h);
        cr_assert_eq(f32_bits(f), h << 16);
        uint16_t back = tensor_fp32_to_bf16(f);
        if (isnan(f))
            cr_assert(isnan(tensor_bf16_to_fp32(back)), "bf16 NaN %04x -> %04x", h, back);
        else
            cr_assert_eq(back, h, "bf16 %04x -> %04x", h, back);
    }
    cr_assert_eq(tensor_fp32_to_bf16(f32_from(0x3F808000u)), 0x3F80); /* tie -> even */
    cr_assert_eq(tensor_fp32_to_bf16(f32_from(0x3F818000u)), 0x3F82); /* tie -> even (up) */
    cr_assert_eq(tensor_fp32_to_bf16(f32_from(0x3F808001u)), 0x3F81);
    cr_assert_eq(tensor_fp32_to_bf16(f32_from(0x7F7FFFFFu)), 0x7F80); /* max float -> inf */
    cr_assert(isnan(tensor_bf16_to_fp32(tensor_fp32_to_bf16(f32_from(0x7F800001u)))));
    cr_assert_eq(tensor_fp32_to_bf16(f32_from(0x00000001u)), 0x0000); /* denormal rounds */
}

/* ---- known-answer blocks, assembled from the documented byte layouts ---- */

/* Q4_0: 2-byte fp16 d, then 16 bytes: element j = low nibble of byte j, element j+16 = high
 * nibble; value (q - 8) * d. */
Test(tensor, known_q4_0) {
    uint8_t blk[18];
    put_u16(blk, 0x3800); /* d = 0.5 */
    for (int j = 0; j < 16; j++)
        blk[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    tensor_traits_of(TENSOR_TYPE_Q4_0)->to_float(blk, y, 32);
    for (int j = 0; j < 16; j++) {
        cr_assert_eq(y[j], (float)(j - 8) * 0.5f, "elem %d", j);
        cr_assert_eq(y[j + 16], (float)(7 - j) * 0.5f, "elem %d", j + 16);
    }
    /* and the quantizer reproduces this block from those values */
    uint8_t back[18];
    tensor_traits_of(TENSOR_TYPE_Q4_0)->from_float(y, back, 32);
    cr_assert(memcmp(back, blk, 18) == 0, "q4_0 requantize differs");
}

/* Q8_0: fp16 d then 32 int8. */
Test(tensor, known_q8_0) {
    uint8_t blk[34];
    put_u16(blk, 0x3400); /* d = 0.25 */
    for (int j = 0; j < 32; j++)
        blk[2 + j] = (uint8_t)(int8_t)(j * 8 - 127 + (j == 31 ? 3 : 0));
    float y[32];
    tensor_traits_of(TENSOR_TYPE_Q8_0)->to_float(blk, y, 32);
    for (int j = 0; j < 32; j++)
        cr_assert_eq(y[j], (float)(int8_t)blk[2 + j] * 0.25f);
    cr_assert_eq(y[0], -31.75f);
    cr_assert_eq(y[31], (float)(31 * 8 - 124) * 0.25f);
    /* quantize known values: amax 127 -> d = 1, q = round(x) half away from zero */
    float x[32] = {127.0f, -2.5f, 2.5f, 0.49f, -0.5f, 3.0f};
    uint8_t q[34];
    tensor_traits_of(TENSOR_TYPE_Q8_0)->from_float(x, q, 32);
    cr_assert_eq(q[0] | q[1] << 8, 0x3C00);
    const int8_t want[6] = {127, -3, 3, 0, -1, 3};
    for (int j = 0; j < 6; j++)
        cr_assert_eq((int8_t)q[2 + j], want[j], "q8_0 elem %d", j);
}

/* Q4_1 / Q5_0 / Q5_1: layout and bit positions. */
Test(tensor, known_q4_1_q5) {
    uint8_t b41[20];
    put_u16(b41, 0x4000);     /* d = 2 */
    put_u16(b41 + 2, 0xBC00); /* m = -1 */
    for (int j = 0; j < 16; j++)
        b41[4 + j] = (uint8_t)(j << 4 | (j ^ 5));
    float y[32];
    tensor_traits_of(TENSOR_TYPE_Q4_1)->to_float(b41, y, 32);
    for (int j = 0; j < 16; j++) {
        cr_assert_eq(y[j], (float)(j ^ 5) * 2.0f - 1.0f);
        cr_assert_eq(y[j + 16], (float)j * 2.0f - 1.0f);
    }
    uint8_t b50[22];
    put_u16(b50, 0x3C00);                       /* d = 1 */
    const uint32_t qh = 0x80000001u | 1u << 17; /* 5th bit of elements 0, 17, 31 */
    for (int i = 0; i < 4; i++)
        b50[2 + i] = (uint8_t)(qh >> (8 * i));
    for (int j = 0; j < 16; j++)
        b50[6 + j] = 0x33; /* low 4 bits = 3 everywhere */
    tensor_traits_of(TENSOR_TYPE_Q5_0)->to_float(b50, y, 32);
    for (int j = 0; j < 32; j++) {
        int hi = (j == 0 || j == 17 || j == 31);
        cr_assert_eq(y[j], (float)(3 + 16 * hi - 16), "q5_0 elem %d", j);
    }
    uint8_t b51[24];
    put_u16(b51, 0x3800);     /* d = 0.5 */
    put_u16(b51 + 2, 0x4200); /* m = 3 */
    for (int i = 0; i < 4; i++)
        b51[4 + i] = (uint8_t)(qh >> (8 * i));
    for (int j = 0; j < 16; j++)
        b51[8 + j] = 0xF0; /* low nibble 0, high nibble 15 */
    tensor_traits_of(TENSOR_TYPE_Q5_1)->to_float(b51, y, 32);
    for (int j = 0; j < 32; j++) {
        int hi = (j == 0 || j == 17 || j == 31);
        int q = (j < 16 ? 0 : 15) + 16 * hi;
        cr_assert_eq(y[j], (float)q * 0.5f + 3.0f, "q5_1 elem %d", j);
    }
}

/* The 12-byte 6-bit scale/min packing of Q4_K/Q5_K, written out independently. */
static void pack_k_scales(uint8_t *s, const int *sc, const int *mn) {
    memset(s, 0, 12);
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

/* Q4_K: d, dmin (fp16), 12 scale bytes, 128 qs; sub-block j (32 elements) has scale sc_j and
 * min m_j; element 64c + l is the low nibble of qs[32c + l], 64c + 32 + l the high nibble;
 * value d * sc_j * q - dmin * m_j. */
Test(tensor, known_q4_K) {
    const int sc[8] = {1, 2, 63, 17, 33, 48, 5, 60};
    const int mn[8] = {0, 7, 1, 63, 16, 40, 31, 2};
    uint8_t blk[144];
    put_u16(blk, 0x3800);     /* d = 0.5 */
    put_u16(blk + 2, 0x3400); /* dmin = 0.25 */
    pack_k_scales(blk + 4, sc, mn);
    int q[256];
    for (int i = 0; i < 256; i++)
        q[i] = (i * 7 + i / 32) & 15;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            blk[16 + 32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
    float y[256];
    tensor_traits_of(TENSOR_TYPE_Q4_K)->to_float(blk, y, 256);
    for (int i = 0; i < 256; i++) {
        int j = i / 32;
        float want = 0.5f * (float)sc[j] * (float)q[i] - 0.25f * (float)mn[j];
        cr_assert_eq(y[i], want, "q4_K elem %d: %g vs %g", i, (double)y[i], (double)want);
    }
}

/* Q5_K: as Q4_K plus qh[32] before qs: high bit of element 32j + l is bit j of qh[l]. */
Test(tensor, known_q5_K) {
    const int sc[8] = {3, 9, 27, 63, 1, 44, 20, 32};
    const int mn[8] = {5, 0, 63, 12, 33, 8, 19, 50};
    uint8_t blk[176];
    put_u16(blk, 0x3C00);     /* d = 1 */
    put_u16(blk + 2, 0x3800); /* dmin = 0.5 */
    pack_k_scales(blk + 4, sc, mn);
    int q[256];
    for (int i = 0; i < 256; i++)
        q[i] = (i * 13 + 5) & 31;
    memset(blk + 16, 0, 32);
    for (int i = 0; i < 256; i++)
        if (q[i] & 16) blk[16 + i % 32] |= (uint8_t)(1u << (i / 32));
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            blk[48 + 32 * c + l] = (uint8_t)((q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4);
    float y[256];
    tensor_traits_of(TENSOR_TYPE_Q5_K)->to_float(blk, y, 256);
    for (int i = 0; i < 256; i++) {
        int j = i / 32;
        float want = (float)sc[j] * (float)q[i] - 0.5f * (float)mn[j];
        cr_assert_eq(y[i], want, "q5_K elem %d", i);
    }
}

/* Q6_K: ql[128], qh[64], int8 scales[16], fp16 d. In half h (128 elements), with l < 32:
 * element 128h+l: ql[64h+l] low, qh[32h+l] bits 0-1; +32: ql[64h+l+32] low, bits 2-3;
 * +64: ql[64h+l] high, bits 4-5; +96: ql[64h+l+32] high, bits 6-7. Value d * scale[i/16] * (q-32).
 */
Test(tensor, known_q6_K) {
    uint8_t blk[210];
    memset(blk, 0, sizeof blk);
    int q[256];
    for (int i = 0; i < 256; i++)
        q[i] = (i * 29 + 3) & 63;
    for (int h = 0; h < 2; h++) {
        for (int l = 0; l < 32; l++) {
            const int *qq = q + 128 * h;
            blk[64 * h + l] = (uint8_t)((qq[l] & 15) | (qq[l + 64] & 15) << 4);
            blk[64 * h + l + 32] = (uint8_t)((qq[l + 32] & 15) | (qq[l + 96] & 15) << 4);
            blk[128 + 32 * h + l] = (uint8_t)((qq[l] >> 4) | (qq[l + 32] >> 4) << 2 |
                                              (qq[l + 64] >> 4) << 4 | (qq[l + 96] >> 4) << 6);
        }
    }
    const int8_t scales[16] = {1, -1, 127, -128, 5, 17, -33, 64, 2, 3, -4, 100, -90, 7, 0, 11};
    memcpy(blk + 192, scales, 16);
    put_u16(blk + 208, 0x3000); /* d = 0.125 */
    float y[256];
    tensor_traits_of(TENSOR_TYPE_Q6_K)->to_float(blk, y, 256);
    for (int i = 0; i < 256; i++) {
        float want = 0.125f * (float)scales[i / 16] * (float)(q[i] - 32);
        cr_assert_eq(y[i], want, "q6_K elem %d", i);
    }
}

/* Q8_K: float d, 256 int8, 16 int16 block sums; quantizer fills the sums. */
Test(tensor, known_q8_K) {
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)((i % 19) - 9);
    x[100] = -12.7f; /* largest magnitude: maps to -127, so d = 0.1 */
    uint8_t blk[292];
    tensor_traits_of(TENSOR_TYPE_Q8_K)->from_float(x, blk, 256);
    float d;
    memcpy(&d, blk, 4);
    cr_assert_float_eq(d, 0.1f, 1e-7f);
    cr_assert_eq((int8_t)blk[4 + 100], -127);
    for (int k = 0; k < 16; k++) {
        int sum = 0;
        for (int i = 0; i < 16; i++)
            sum += (int8_t)blk[4 + 16 * k + i];
        int16_t bs;
        memcpy(&bs, blk + 260 + 2 * k, 2);
        cr_assert_eq(bs, sum, "bsums[%d]", k);
    }
}

/* MXFP4 dequantizes as the OCP Microscaling spec defines E2M1 and E8M0, decoded here from the
 * bits (not from hearth's level table): sign bit 3, exponent bits 2-1, mantissa bit 0; value
 * (E == 0 ? m / 2 : (1 + m / 2) * 2^(E - 1)) * 2^(e - 127). Element j is the low nibble of
 * qs[j], element j + 16 the high nibble (ggml's packing). (e = 255, NaN in the spec, is read
 * as 2^128 as ggml does; not checked.) Also the quantizer: a block of exact
 * E2M1 values times 2^(e-127) (largest magnitude 4 or 6) comes back unchanged. */
Test(tensor, mxfp4_matches_ocp_spec) {
    const tensor_traits *t = tensor_traits_of(TENSOR_TYPE_MXFP4);
    cr_assert(t && t->to_float && t->from_float && t->type_size == 17 && t->block_size == 32);
    uint8_t blk[17];
    float y[32];
    rng_seed(4242);
    for (int trial = 0; trial < 300; trial++) {
        blk[0] = (uint8_t)(trial < 255 ? (uint32_t)trial : rng_u32() % 255); /* 0..254 */
        for (int i = 1; i < 17; i++)
            blk[i] = (uint8_t)rng_u32();
        t->to_float(blk, y, 32);
        for (int j = 0; j < 32; j++) {
            const int nib = j < 16 ? blk[1 + j] & 0xF : blk[1 + j - 16] >> 4;
            const int sgn = nib >> 3, ex = (nib >> 1) & 3, m = nib & 1;
            const double mag = ex == 0 ? 0.5 * m : (1.0 + 0.5 * m) * ldexp(1.0, ex - 1);
            const double want = (sgn ? -mag : mag) * ldexp(1.0, blk[0] - 127);
            /* beyond float's range the product overflows to inf, as in the float kernels */
            cr_assert_eq(y[j], (float)want, "e %d elem %d nibble %x: %a vs %a", blk[0], j, nib,
                         (double)y[j], want);
        }
    }
    static const float e2m1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    for (int trial = 0; trial < 50; trial++) {
        const int e = 100 + trial;
        float x[32], back[32];
        for (int j = 0; j < 32; j++) {
            const float v = e2m1[rng_u32() % 8] * ldexpf(1.0f, e - 127);
            x[j] = (rng_u32() & 1) ? -v : v;
        }
        x[rng_u32() % 32] = ldexpf(trial % 2 ? 6.0f : 4.0f, e - 127);
        t->from_float(x, blk, 32);
        cr_assert_eq(blk[0], e, "trial %d: exponent %d, want %d", trial, blk[0], e);
        t->to_float(blk, back, 32);
        for (int j = 0; j < 32; j++)
            cr_assert_eq(back[j], x[j], "trial %d elem %d", trial, j);
    }
}

/* IQ3_S: on random blocks (every index, sign and scale bit) the dot equals the
 * double dot of the dequantized operands within 1e-6 of sum |x y|, and a hand-built block
 * dequantizes as blocks.h describes (codebook point, qh bit, sign bit, odd scale). */
Test(tensor, iq3_s_dequantize_and_dot) {
    const tensor_traits *t = tensor_traits_of(TENSOR_TYPE_IQ3_S);
    const tensor_traits *vt = tensor_traits_of(TENSOR_TYPE_Q8_K);
    cr_assert(t && t->to_float && t->vec_dot && t->from_float && t->type_size == 110);
    cr_assert_eq(t->vec_dot_type, TENSOR_TYPE_Q8_K);
    enum { NB = 6, N = NB * 256 };
    uint8_t *x = malloc(110 * NB), *y = malloc(292 * NB);
    float *xf = malloc(sizeof(float) * N), *yf = malloc(sizeof(float) * N);
    rng_seed(31337);
    for (int trial = 0; trial < 5; trial++) {
        for (int i = 0; i < 110 * NB; i++)
            x[i] = (uint8_t)rng_u32();
        for (int b = 0; b < NB; b++)
            put_u16(x + 110 * b, f2h(0.01f * (1.0f + rng_uniform())));
        for (int i = 0; i < N; i++)
            yf[i] = rng_uniform();
        vt->from_float(yf, y, N);
        t->to_float(x, xf, N);
        vt->to_float(y, yf, N);
        double ref = 0.0, mag = 0.0;
        for (int i = 0; i < N; i++) {
            ref += (double)xf[i] * (double)yf[i];
            mag += fabs((double)xf[i] * (double)yf[i]);
        }
        float s = NAN;
        t->vec_dot(N, &s, x, y);
        cr_assert(fabs((double)s - ref) <= 1e-6 * mag, "trial %d: %g vs %g", trial, (double)s, ref);
    }
    /* one block by hand: sub-block 3 (scale nibble 7 -> 15), point 2 = codebook entry 256 + 5
     * (qh bit 2 set), element 1 of the point negated (sign bit 9 of the sub-block) */
    memset(x, 0, 110);
    put_u16(x, f2h(0.5f));
    x[2 + 8 * 3 + 2] = 5;          /* qs */
    x[2 + 64 + 3] = 1u << 2;       /* qh */
    x[2 + 64 + 8 + 4 * 3 + 1] = 2; /* signs: byte 1 of sub-block 3, bit 1: element 9 */
    x[2 + 64 + 8 + 32 + 1] = 0x70; /* scales[1] high nibble: sub-block 3 */
    t->to_float(x, xf, 256);
    const uint32_t p = tensor_iq3s_grid[256 + 5];
    for (int j = 0; j < 4; j++) {
        const float want = 0.5f * 15.0f * (float)((p >> (8 * j)) & 0xFF) * (j == 1 ? -1.0f : 1.0f);
        cr_assert_eq(xf[96 + 8 + j], want, "elem %d: %g vs %g", 96 + 8 + j, (double)xf[96 + 8 + j],
                     (double)want);
    }
    /* elsewhere: codebook entry 0 with scale 1 (sub-blocks 0-2, 4-7 have scale nibble 0) */
    const float e0 = 0.5f * (float)(tensor_iq3s_grid[0] & 0xFF);
    cr_assert_eq(xf[0], e0);
    cr_assert_eq(xf[96 + 8 + 4], 0.5f * 15.0f * (float)(tensor_iq3s_grid[0] & 0xFF));
    free(x);
    free(y);
    free(xf);
    free(yf);
}

/* The importance-matrix i-quants (read-only types: no from_float). On random blocks (every
 * index, sign and scale bit; IQ1_M's packed d set sane) the dot equals the double dot of the
 * dequantized operands within 1e-6 of sum |x y|. */
static void set_iq1_m_d(uint8_t *blk, uint16_t d) {
    for (int k = 0; k < 4; k++)
        blk[48 + 2 * k + 1] = (uint8_t)((blk[48 + 2 * k + 1] & 0x0F) | ((d >> (4 * k)) & 0xF) << 4);
}

Test(tensor, iq_imatrix_types_dequantize_and_dot) {
    static const struct {
        tensor_type type;
        size_t size;
    } types[] = {{TENSOR_TYPE_IQ2_XXS, 66}, {TENSOR_TYPE_IQ2_XS, 74}, {TENSOR_TYPE_IQ2_S, 82},
                 {TENSOR_TYPE_IQ3_XXS, 98}, {TENSOR_TYPE_IQ1_S, 50},  {TENSOR_TYPE_IQ1_M, 56}};
    const tensor_traits *vt = tensor_traits_of(TENSOR_TYPE_Q8_K);
    enum { NB = 6, N = NB * 256 };
    uint8_t *x = malloc(98 * NB), *y = malloc(292 * NB);
    float *xf = malloc(sizeof(float) * N), *yf = malloc(sizeof(float) * N);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const tensor_traits *t = tensor_traits_of(types[k].type);
        cr_assert(t && t->to_float && t->vec_dot && !t->from_float);
        cr_assert_eq(t->type_size, types[k].size);
        cr_assert_eq(t->block_size, 256);
        cr_assert_eq(t->vec_dot_type, TENSOR_TYPE_Q8_K);
        rng_seed(4242 + k);
        for (int trial = 0; trial < 5; trial++) {
            for (size_t i = 0; i < t->type_size * NB; i++)
                x[i] = (uint8_t)rng_u32();
            for (int b = 0; b < NB; b++) {
                const uint16_t d = f2h(0.01f * (1.0f + rng_uniform()));
                if (types[k].type == TENSOR_TYPE_IQ1_M)
                    set_iq1_m_d(x + t->type_size * b, d);
                else
                    put_u16(x + t->type_size * b, d);
            }
            for (int i = 0; i < N; i++)
                yf[i] = rng_uniform();
            vt->from_float(yf, y, N);
            t->to_float(x, xf, N);
            vt->to_float(y, yf, N);
            double ref = 0.0, mag = 0.0;
            for (int i = 0; i < N; i++) {
                ref += (double)xf[i] * (double)yf[i];
                mag += fabs((double)xf[i] * (double)yf[i]);
            }
            float s = NAN;
            t->vec_dot(N, &s, x, y);
            cr_assert(mag > 0 && fabs((double)s - ref) <= 1e-6 * mag, "%s trial %d: %g vs %g",
                      t->name, trial, (double)s, ref);
        }
    }
    free(x);
    free(y);
    free(xf);
    free(yf);
}

/* grid byte j of a codebook entry, unsigned (IQ2/IQ3 magnitudes) or signed (IQ1 values) */
static float gbyte(uint64_t entry, int j) { return (float)((entry >> (8 * j)) & 0xFF); }
static float gsigned(uint64_t entry, int j) { return (float)(int8_t)((entry >> (8 * j)) & 0xFF); }

static void expect8(const float *got, int first, const float *want) {
    for (int j = 0; j < 8; j++)
        cr_assert_eq(got[first + j], want[j], "elem %d: %g vs %g", first + j,
                     (double)got[first + j], (double)want[j]);
}

/* One hand-built block per type: a codebook point with high index bits, its sign bits (with the
 * parity bit where the type has one) and its scale, placed as blocks.h describes. d = 0.5. */
Test(tensor, iq_imatrix_types_layout_by_hand) {
    uint8_t x[98];
    float xf[256], want[8];
    /* IQ2_XXS: sub-block 2, group 1: index 200, sign index 1 (-> 129: elements 0 and 7),
     * ls 5 (scale 11/8) */
    memset(x, 0, sizeof x);
    put_u16(x, f2h(0.5f));
    x[2 + 16 + 1] = 200;
    const uint32_t b = 1u << 7 | 5u << 28;
    memcpy(x + 2 + 16 + 4, &b, 4);
    tensor_traits_of(TENSOR_TYPE_IQ2_XXS)->to_float(x, xf, 256);
    for (int j = 0; j < 8; j++)
        want[j] =
            0.5f * 11.0f / 8.0f * gbyte(tensor_iq2xxs_grid[200], j) * (j == 0 || j == 7 ? -1 : 1);
    expect8(xf, 64 + 8, want);
    for (int j = 0; j < 8; j++)
        want[j] = 0.5f * 11.0f / 8.0f * gbyte(tensor_iq2xxs_grid[0], j);
    expect8(xf, 64, want);
    /* IQ2_XS: sub-block 5, group 3: index 300 | sign index 1 << 9, high scale nibble 7 (15/8) */
    memset(x, 0, sizeof x);
    put_u16(x, f2h(0.5f));
    put_u16(x + 2 + 2 * (4 * 5 + 3), (uint16_t)(300 | 1 << 9));
    x[66 + 5] = 0x70;
    tensor_traits_of(TENSOR_TYPE_IQ2_XS)->to_float(x, xf, 256);
    for (int j = 0; j < 8; j++)
        want[j] =
            0.5f * 15.0f / 8.0f * gbyte(tensor_iq2xs_grid[300], j) * (j == 0 || j == 7 ? -1 : 1);
    expect8(xf, 160 + 24, want);
    /* IQ2_S: sub-block 6, group 2: index 17 | qh bits 4-5 = 3 (785), sign byte 0x05 as it is,
     * high scale nibble 2 (5/8) */
    memset(x, 0, sizeof x);
    put_u16(x, f2h(0.5f));
    x[2 + 4 * 6 + 2] = 17;
    x[2 + 32 + 4 * 6 + 2] = 0x05;
    x[2 + 64 + 6] = 3 << 4;
    x[2 + 72 + 6] = 0x20;
    tensor_traits_of(TENSOR_TYPE_IQ2_S)->to_float(x, xf, 256);
    for (int j = 0; j < 8; j++)
        want[j] =
            0.5f * 5.0f / 8.0f * gbyte(tensor_iq2s_grid[785], j) * (j == 0 || j == 2 ? -1 : 1);
    expect8(xf, 192 + 16, want);
    /* IQ3_XXS: sub-block 1, group 2: points 100 and 7, sign index 1 (elements 0, 7), ls 3 (7/4) */
    memset(x, 0, sizeof x);
    put_u16(x, f2h(0.5f));
    x[2 + 8 + 4] = 100;
    x[2 + 8 + 5] = 7;
    const uint32_t ss = 1u << 14 | 3u << 28;
    memcpy(x + 2 + 64 + 4, &ss, 4);
    tensor_traits_of(TENSOR_TYPE_IQ3_XXS)->to_float(x, xf, 256);
    for (int j = 0; j < 8; j++)
        want[j] = 0.5f * 7.0f / 4.0f *
                  gbyte(j < 4 ? tensor_iq3xxs_grid[100] : tensor_iq3xxs_grid[7], j % 4) *
                  (j == 0 || j == 7 ? -1 : 1);
    expect8(xf, 32 + 16, want);
    /* IQ1_S: sub-block 4, group 3: index 0x12 | qh bits 9-11 = 5 (1298), s = 3 (7), shift -1/8 */
    memset(x, 0, sizeof x);
    put_u16(x, f2h(0.5f));
    x[2 + 4 * 4 + 3] = 0x12;
    put_u16(x + 34 + 2 * 4, (uint16_t)(5 << 9 | 3 << 12 | 0x8000));
    tensor_traits_of(TENSOR_TYPE_IQ1_S)->to_float(x, xf, 256);
    for (int j = 0; j < 8; j++)
        want[j] = 0.5f * 7.0f * (gsigned(tensor_iq1s_grid[1298], j) - 0.125f);
    expect8(xf, 128 + 24, want);
    for (int j = 0; j < 8; j++) /* group 0 of the same sub-block: point 0, same scale and shift */
        want[j] = 0.5f * 7.0f * (gsigned(tensor_iq1s_grid[0], j) - 0.125f);
    expect8(xf, 128, want);
    /* IQ1_M: d = 0.5 (0x3800) in the scales' top nibbles; sub-block 3, group 1: index 0x40 | 6
     * << 8 (1600), shift -1/8 (qh high nibble 0xE), scale bits 6-8 of word 1 = 4 (9); group 2:
     * point 0, scale 1, shift +1/8 */
    memset(x, 0, sizeof x);
    set_iq1_m_d(x, 0x3800);
    cr_assert_eq(tensor_iq1_m_d(x), 0x3800);
    x[4 * 3 + 1] = 0x40;
    x[32 + 2 * 3] = 0xE0;
    x[48 + 3] |= 0x01; /* word 1, bit 8 */
    tensor_traits_of(TENSOR_TYPE_IQ1_M)->to_float(x, xf, 256);
    for (int j = 0; j < 8; j++)
        want[j] = 0.5f * 9.0f * (gsigned(tensor_iq1s_grid[1600], j) - 0.125f);
    expect8(xf, 96 + 8, want);
    for (int j = 0; j < 8; j++)
        want[j] = 0.5f * (gsigned(tensor_iq1s_grid[0], j) + 0.125f);
    expect8(xf, 96 + 16, want);
}

/* IQ3_S quantizer (its bytes are llama-quantize's: test_quant_peer): uniform data round-trips
 * with a relative RMS error under 0.2, every element keeps its sign, and an all-zero block is
 * all zero bytes. */
Test(tensor, iq3_s_quantize_round_trip) {
    const tensor_traits *t = tensor_traits_of(TENSOR_TYPE_IQ3_S);
    enum { N = 4 * 256 };
    float *x = malloc(sizeof(float) * N), *back = malloc(sizeof(float) * N);
    uint8_t *q = malloc(110 * (N / 256));
    rng_seed(4242);
    for (int i = 0; i < N; i++)
        x[i] = rng_uniform();
    t->from_float(x, q, N);
    t->to_float(q, back, N);
    double err = 0.0, mag = 0.0;
    for (int i = 0; i < N; i++) {
        const double dv = (double)back[i] - (double)x[i];
        err += dv * dv;
        mag += (double)x[i] * (double)x[i];
        cr_assert(back[i] * x[i] >= 0.0f, "elem %d: %g from %g", i, (double)back[i], (double)x[i]);
    }
    const double rel = sqrt(err / mag);
    cr_log_info("iq3_s round trip: relative RMS error %.4f", rel);
    cr_assert(rel > 0.0 && rel < 0.2, "relative RMS error %g", rel);
    memset(x, 0, sizeof(float) * 256);
    memset(q, 0xAB, 110);
    t->from_float(x, q, 256);
    for (int i = 0; i < 110; i++)
        cr_assert_eq(q[i], 0, "byte %d of an all-zero block: %u", i, q[i]);
    free(x);
    free(back);
    free(q);
}

/* Q2_K / Q3_K dequantize: layouts from blocks.h, checked on hand-built blocks. */
Test(tensor, known_q2_K_q3_K) {
    uint8_t b2[84];
    int q[256];
    for (int i = 0; i < 256; i++)
        q[i] = (i * 5 + i / 16) & 3;
    for (int k = 0; k < 16; k++)
        b2[k] = (uint8_t)((k & 15) | ((15 - k) << 4));
    memset(b2 + 16, 0, 64);
    for (int i = 0; i < 256; i++) { /* element 128h + 32k + l: qs[32h + l] bits 2k */
        int h = i / 128, k = (i % 128) / 32, l = i % 32;
        b2[16 + 32 * h + l] |= (uint8_t)(q[i] << (2 * k));
    }
    put_u16(b2 + 80, 0x3800); /* d = 0.5 */
    put_u16(b2 + 82, 0x3400); /* dmin = 0.25 */
    float y[256];
    tensor_traits_of(TENSOR_TYPE_Q2_K)->to_float(b2, y, 256);
    for (int i = 0; i < 256; i++) {
        int s = i / 16;
        float want = 0.5f * (float)(s & 15) * (float)q[i] - 0.25f * (float)(15 - s);
        cr_assert_eq(y[i], want, "q2_K elem %d", i);
    }

    uint8_t b3[110];
    memset(b3, 0, sizeof b3);
    int sc[16];
    for (int s = 0; s < 16; s++)
        sc[s] = (s * 11 + 7) & 63; /* 6-bit, biased by 32 */
    for (int s = 0; s < 16; s++) {
        if (s < 8)
            b3[96 + s] |= (uint8_t)(sc[s] & 15);
        else
            b3[96 + s - 8] |= (uint8_t)((sc[s] & 15) << 4);
        b3[96 + 8 + s % 4] |= (uint8_t)((sc[s] >> 4) << (2 * (s / 4)));
    }
    int hb[256];
    for (int i = 0; i < 256; i++) {
        int h = i / 128, k = (i % 128) / 32, l = i % 32;
        hb[i] = (i * 3 / 7) & 1;
        b3[32 + 32 * h + l] |= (uint8_t)(q[i] << (2 * k));
        if (hb[i]) b3[l] |= (uint8_t)(1u << (4 * h + k)); /* hmask[l] bit (i / 32) */
    }
    put_u16(b3 + 108, 0x3C00); /* d = 1 */
    tensor_traits_of(TENSOR_TYPE_Q3_K)->to_float(b3, y, 256);
    for (int i = 0; i < 256; i++) {
        float want = (float)(sc[i / 16] - 32) * (float)(q[i] - (hb[i] ? 0 : 4));
        cr_assert_eq(y[i], want, "q3_K elem %d", i);
    }
}

/* ---- traits helpers ---- */

Test(tensor, row_size) {
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_F32, 10), 40);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_F16, 3), 6);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_BF16, 4096), 8192);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q4_0, 64), 36);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q8_0, 4096), 128 * 34);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q4_K, 4096), 16 * 144);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q6_K, 256), 210);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q8_K, 512), 584);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q4_0, 33), 0); /* not a multiple of the block */
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q4_K, 128), 0);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q4_0, -32), 0);
    cr_expect_eq(tensor_row_size(TENSOR_TYPE_Q4_0, 0), 0);
    cr_expect_eq(tensor_row_size((tensor_type)4, 32), 0); /* removed Q4_2: unknown */
}

Test(tensor, type_from_name) {
    cr_expect_eq(tensor_type_from_name("f32"), TENSOR_TYPE_F32);
    cr_expect_eq(tensor_type_from_name("F16"), TENSOR_TYPE_F16);
    cr_expect_eq(tensor_type_from_name("q4_K"), TENSOR_TYPE_Q4_K);
    cr_expect_eq(tensor_type_from_name("Q4_K"), TENSOR_TYPE_Q4_K);
    cr_expect_eq(tensor_type_from_name("q8_0"), TENSOR_TYPE_Q8_0);
    cr_expect_eq(tensor_type_from_name("BF16"), TENSOR_TYPE_BF16);
    cr_expect_eq(tensor_type_from_name("iq4_nl"), 20);
    cr_expect_eq(tensor_type_from_name("q4_k_m"), -1);
    cr_expect_eq(tensor_type_from_name(""), -1);
    cr_expect_eq(tensor_type_from_name("q4"), -1);
    /* every name maps back to its own id */
    for (uint32_t t = 0; t < TENSOR_TYPE_COUNT; t++) {
        const tensor_traits *tr = tensor_traits_of(t);
        if (tr) cr_expect_eq(tensor_type_from_name(tr->name), (int)t, "%s", tr->name);
    }
}

/* ---- selected (SIMD) kernels against their scalar twins: bit-identical ---- */

/* Where a block of each type keeps its fp16 scale fields (the rest may hold any bytes). */
typedef struct {
    tensor_type type;
    int half_offsets[2]; /* -1: none */
} scale_fields;

static const scale_fields scale_layout[] = {
    {TENSOR_TYPE_Q4_0, {0, -1}},   {TENSOR_TYPE_Q4_1, {0, 2}},    {TENSOR_TYPE_Q5_0, {0, -1}},
    {TENSOR_TYPE_Q5_1, {0, 2}},    {TENSOR_TYPE_Q8_0, {0, -1}},   {TENSOR_TYPE_Q4_K, {0, 2}},
    {TENSOR_TYPE_Q5_K, {0, 2}},    {TENSOR_TYPE_Q6_K, {208, -1}}, {TENSOR_TYPE_Q2_K, {80, 82}},
    {TENSOR_TYPE_Q3_K, {108, -1}},  {TENSOR_TYPE_IQ4_NL, {0, -1}}, {TENSOR_TYPE_IQ4_XS, {0, -1}},
    {TENSOR_TYPE_TQ1_0, {52, -1}},  {TENSOR_TYPE_TQ2_0, {64, -1}},
};

static bool simd_expected(void) {
    const cpu_features *f = cpu_features_get();
    const char *isa = getenv("HEARTH_ISA");
    return (f->neon || (f->avx2 && f->fma && f->f16c)) && !(isa && !strcmp(isa, "ref"));
}

Test(tensor, isa_selection) {
    if (!simd_expected()) {
        cr_log_warn("no AVX2/NEON set (or HEARTH_ISA=ref): SIMD comparisons check ref against ref");
        cr_expect_str_eq(tensor_isa(), "ref");
        return;
    }
    const cpu_features *f = cpu_features_get();
    const char *isa = getenv("HEARTH_ISA");
    const bool has512 = f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni;
    if (f->neon) /* aarch64: the SDOT variant wherever the CPU has the dot-product extension */
        cr_expect_str_eq(tensor_isa(), f->neon_dotprod ? "neondot" : "neon");
    else
        cr_expect_str_eq(tensor_isa(), has512 && !(isa && !strcmp(isa, "avx2")) ? "avx512" : "avx2");
    cr_expect(tensor_traits_of(TENSOR_TYPE_Q4_K)->vec_dot !=
              tensor_traits_ref_of(TENSOR_TYPE_Q4_K)->vec_dot);
    cr_expect(tensor_traits_of(TENSOR_TYPE_Q8_K)->from_float !=
              tensor_traits_ref_of(TENSOR_TYPE_Q8_K)->from_float);
    /* references stay reachable and describe the same layout */
    for (uint32_t t = 0; t < TENSOR_TYPE_COUNT; t++) {
        const tensor_traits *a = tensor_traits_of(t), *r = tensor_traits_ref_of(t);
        cr_assert_eq(a == NULL, r == NULL);
        if (!a) continue;
        cr_expect_eq(a->block_size, r->block_size);
        cr_expect_eq(a->type_size, r->type_size);
        cr_expect_eq(a->vec_dot_type, r->vec_dot_type);
    }
}

/* Every selected quantizer writes the same bytes as the reference: random data at several
 * magnitudes, plus values on exact rounding ties (k + 0.5 when the scale is 1). */
Test(tensor, simd_quantize_matches_ref) {
    const int64_t n = 1024;
    float *x = malloc(sizeof(float) * n);
    uint8_t *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    for (size_t c = 0; c <= NCASES; c++) { /* every case, then Q8_1 (an activation type only) */
        const tensor_type type = c < NCASES ? cases[c].type : TENSOR_TYPE_Q8_1;
        const tensor_traits *t = tensor_traits_of(type);
        const tensor_traits *r = tensor_traits_ref_of(type);
        const size_t rs = tensor_row_size(type, n);
        for (int trial = 0; trial < 6; trial++) {
            fill_random(x, n, 3000 + 10 * c + (uint64_t)trial);
            const float mag[] = {1.0f, 1e-3f, 37.0f, 1e4f, 1.0f, 1.0f};
            for (int64_t i = 0; i < n; i++)
                x[i] *= mag[trial];
            if (trial == 4) /* ties: amax 127 gives scale 1 for Q8_0; halves everywhere */
                for (int64_t i = 0; i < n; i++)
                    x[i] = (i % 32 == 0) ? 127.0f : (float)(i % 61 - 30) + 0.5f;
            if (trial == 5) /* repeated magnitudes of both signs: first one wins the sign */
                for (int64_t i = 0; i < n; i++)
                    x[i] = (i % 7 == 3) ? ((i / 7) % 2 ? 2.0f : -2.0f) : x[i];
            memset(a, 0x11, rs);
            memset(b, 0x22, rs);
            t->from_float(x, a, n);
            r->from_float(x, b, n);
            for (size_t i = 0; i < rs; i++)
                cr_assert_eq(a[i], b[i], "%s trial %d: byte %zu differs (%02x vs ref %02x)",
                             t->name, trial, i, a[i], b[i]);
        }
    }
    free(x);
    free(a);
    free(b);
}

/* Every selected dot equals the reference exactly, on weights quantized from floats and on
 * weights of random bytes (every bit pattern of the quant fields, -128 in Q8_0, any 6-bit
 * scale) with finite scales, against activations from the reference quantizer. */
Test(tensor, simd_dot_matches_ref) {
    const int64_t n = 2048;
    float *xf = malloc(sizeof(float) * n), *yf = malloc(sizeof(float) * n);
    uint8_t *qx = malloc((size_t)n * 4), *qy = malloc((size_t)n * 4);
    for (size_t c = 0; c < NCASES; c++) {
        const tensor_traits *t = tensor_traits_of(cases[c].type);
        const tensor_traits *r = tensor_traits_ref_of(cases[c].type);
        const tensor_traits *vr = tensor_traits_ref_of(r->vec_dot_type);
        if (!t->is_quantized) continue; /* float weights: see simd_float_dot_close_to_ref */
        const size_t bs = t->type_size;
        const int64_t nb = n / t->block_size;
        const int *halves = NULL;
        for (size_t k = 0; k < sizeof scale_layout / sizeof scale_layout[0]; k++)
            if (scale_layout[k].type == cases[c].type) halves = scale_layout[k].half_offsets;
        for (int trial = 0; trial < 8; trial++) {
            fill_random(xf, n, 7000 + 10 * c + (uint64_t)trial);
            fill_random(yf, n, 8000 + 10 * c + (uint64_t)trial);
            r->from_float(xf, qx, n);
            vr->from_float(yf, qy, n);
            if (trial >= 4 && halves) { /* random quant bytes, sane scales */
                rng_seed(9000 + 10 * c + (uint64_t)trial);
                for (size_t i = 0; i < bs * (size_t)nb; i++)
                    qx[i] = (uint8_t)rng_u32();
                for (int64_t blk = 0; blk < nb; blk++)
                    for (int h = 0; h < 2; h++)
                        if (halves[h] >= 0)
                            put_u16(qx + blk * (int64_t)bs + halves[h],
                                    f2h(0.01f * (float)(h + 1) * (1.0f + rng_uniform())));
            }
            for (int64_t len = t->block_size; len <= n; len *= 2) {
                float s1 = NAN, s2 = NAN;
                t->vec_dot(len, &s1, qx, qy);
                r->vec_dot(len, &s2, qx, qy);
                cr_assert(s1 == s2 || (isnan(s1) && isnan(s2)), "%s trial %d n=%lld: %a vs ref %a",
                          t->name, trial, (long long)len, (double)s1, (double)s2);
            }
        }
    }
    free(xf);
    free(yf);
    free(qx);
    free(qy);
}

/* Q2_K / Q3_K dots also on random-byte blocks (every bit pattern of quants and 4/6-bit scales,
 * finite d) against the double dot of the dequantized operands. */
Test(tensor, dot_q2_K_q3_K_random_blocks) {
    const int64_t n = 1024;
    const struct {
        tensor_type type;
        int halves[2];
    } kinds[] = {{TENSOR_TYPE_Q2_K, {80, 82}}, {TENSOR_TYPE_Q3_K, {108, -1}}};
    float *yf = malloc(sizeof(float) * n), *dx = malloc(sizeof(float) * n),
          *dy = malloc(sizeof(float) * n);
    uint8_t *qx = malloc((size_t)n), *qy = malloc((size_t)n * 2);
    for (int k = 0; k < 2; k++) {
        const tensor_traits *t = tensor_traits_of(kinds[k].type);
        cr_assert(t->vec_dot && t->to_float);
        cr_assert_eq(t->vec_dot_type, TENSOR_TYPE_Q8_K);
        for (int trial = 0; trial < 4; trial++) {
            rng_seed(4242 + 10 * (uint64_t)k + (uint64_t)trial);
            for (int64_t i = 0; i < n / 256 * (int64_t)t->type_size; i++)
                qx[i] = (uint8_t)rng_u32();
            for (int64_t b = 0; b < n / 256; b++)
                for (int h = 0; h < 2; h++)
                    if (kinds[k].halves[h] >= 0)
                        put_u16(qx + b * (int64_t)t->type_size + kinds[k].halves[h],
                                f2h(0.02f * (1.0f + rng_uniform())));
            fill_random(yf, n, 555 + (uint64_t)trial);
            tensor_traits_of(TENSOR_TYPE_Q8_K)->from_float(yf, qy, n);
            t->to_float(qx, dx, n);
            tensor_traits_of(TENSOR_TYPE_Q8_K)->to_float(qy, dy, n);
            double ref = 0.0, mag = 0.0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)dx[i] * (double)dy[i];
                mag += fabs((double)dx[i] * (double)dy[i]);
            }
            float s = NAN;
            t->vec_dot(n, &s, qx, qy);
            cr_expect(fabs((double)s - ref) <= 1e-5 * mag, "%s trial %d: %g vs %g", t->name, trial,
                      (double)s, ref);
        }
    }
    free(yf);
    free(dx);
    free(dy);
    free(qx);
    free(qy);
}

/* Float-weight dots sum in float (SIMD) vs double (reference): within 1e-5 of sum |x y|, on odd
 * lengths with tails. F16 -> F32 conversion is exact either way: all 65536 halves compared. */
Test(tensor, simd_float_dot_close_to_ref) {
    const tensor_type types[] = {TENSOR_TYPE_F32, TENSOR_TYPE_F16, TENSOR_TYPE_BF16};
    const int64_t lens[] = {1, 7, 8, 33, 100, 1000, 4096, 4099};
    const int64_t n = 4099;
    float *xf = malloc(sizeof(float) * n), *yf = malloc(sizeof(float) * n),
          *dx = malloc(sizeof(float) * n);
    uint8_t *qx = malloc((size_t)n * 4);
    for (int k = 0; k < 3; k++) {
        const tensor_traits *t = tensor_traits_of(types[k]), *r = tensor_traits_ref_of(types[k]);
        for (int trial = 0; trial < 2; trial++) {
            fill_random(xf, n, 61 + (uint64_t)trial);
            if (trial)
                fill_synthetic(yf, n, 0.5f);
            else
                fill_random(yf, n, 67);
            r->from_float(xf, qx, n);
            r->to_float(qx, dx, n);
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                double mag = 0.0;
                for (int64_t i = 0; i < lens[li]; i++)
                    mag += fabs((double)dx[i] * (double)yf[i]);
                float s1 = NAN, s2 = NAN;
                t->vec_dot(lens[li], &s1, qx, yf);
                r->vec_dot(lens[li], &s2, qx, yf);
                cr_expect(fabs((double)s1 - (double)s2) <= 1e-5 * mag, "%s n=%lld: %g vs ref %g",
                          t->name, (long long)lens[li], (double)s1, (double)s2);
                /* F32: both in ggml's summation order, so bit for bit */
                if (types[k] == TENSOR_TYPE_F32)
                    cr_expect_eq(f32_bits(s1), f32_bits(s2), "f32 n=%lld: %a vs ref %a",
                                 (long long)lens[li], (double)s1, (double)s2);
            }
        }
    }
    uint16_t *h = malloc(sizeof(uint16_t) * 65536);
    float *a = malloc(sizeof(float) * 65536), *b = malloc(sizeof(float) * 65536);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    tensor_traits_of(TENSOR_TYPE_F16)->to_float(h, a, 65536);
    tensor_traits_ref_of(TENSOR_TYPE_F16)->to_float(h, b, 65536);
    for (uint32_t i = 0; i < 65536; i++)
        cr_assert_eq(f32_bits(a[i]), f32_bits(b[i]), "half %04x: %08x vs ref %08x", i,
                     f32_bits(a[i]), f32_bits(b[i]));
    free(h);
    free(a);
    free(b);
    free(xf);
    free(yf);
    free(dx);
    free(qx);
}

/* First lookups racing from several threads (each Criterion test is a fresh process, so this is
 * the first use here) all see the same, fully initialized table. */
static void *lookup_thread(void *arg) {
    const tensor_traits **out = arg;
    *out = tensor_traits_of(TENSOR_TYPE_Q4_K);
    return NULL;
}

Test(tensor, concurrent_first_lookup) {
    pthread_t th[8];
    const tensor_traits *got[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, lookup_thread, &got[i]), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(got[i], got[0]);
        cr_assert(got[i]->vec_dot && got[i]->from_float && got[i]->to_float);
    }
}

/* The selected F32 -> F16 row conversion equals tensor_fp32_to_fp16 bit for bit: a stride
 * through all 2^32 float patterns (every exponent, both signs, NaNs, subnormals) plus the
 * rounding edges, in rows with a tail. */
Test(tensor, simd_f16_from_float_matches_ref) {
    enum { ROW = 1003 };
    float x[ROW];
    uint16_t a[ROW], b[ROW];
    const tensor_traits *t = tensor_traits_of(TENSOR_TYPE_F16);
    const tensor_traits *r = tensor_traits_ref_of(TENSOR_TYPE_F16);
    uint64_t bits = 0;
    int rows = 0;
    while (bits < (1ull << 32)) {
        for (int i = 0; i < ROW; i++, bits += 4099)
            x[i] = f32_from((uint32_t)bits);
        const float edges[] = {65504.0f,   65520.0f,     65519.996f,      0x1p-24f, 0x1p-25f,
                               0x1.8p-24f, 0x1.ffcp-15f, 1.0f + 0x1p-11f, -0.0f,    INFINITY};
        if (rows++ == 0) memcpy(x, edges, sizeof edges);
        t->from_float(x, a, ROW);
        r->from_float(x, b, ROW);
        for (int i = 0; i < ROW; i++)
            cr_assert_eq(a[i], b[i], "float %08x: %04x vs ref %04x", f32_bits(x[i]), a[i], b[i]);
    }
}

/* op_swiglu_oai: its 16-lane loop gives what the formula gives value by value (clamps, NaN kept,
 * the exponential by op_expf_ggml), for a row with a tail */
Test(tensor, swiglu_oai_equals_formula) {
    enum { N = 16 * 5 + 7 };
    const float alpha = 1.702f, limit = 7.0f;
    float a[N], b[N], want[N];
    for (int i = 0; i < N; i++) {
        a[i] = (float)((i * 37) % 41 - 20) * 0.61f;
        b[i] = (float)((i * 53) % 43 - 21) * 0.47f;
    }
    a[3] = NAN, b[5] = NAN, a[20] = -INFINITY, b[21] = INFINITY, a[22] = 100.0f;
    for (int i = 0; i < N; i++) {
        const float x = a[i] > limit ? limit : a[i];
        const float y = b[i] > limit ? limit : b[i] < -limit ? -limit : b[i];
        want[i] = (y + 1.0f) * (x / (1.0f + op_expf_ggml(-alpha * x)));
    }
    op_swiglu_oai(a, b, N, alpha, limit);
    for (int i = 0; i < N; i++)
        cr_assert(memcmp(&a[i], &want[i], sizeof(float)) == 0 || (isnan(a[i]) && isnan(want[i])),
                  "value %d: %a vs %a", i, (double)a[i], (double)want[i]);
}

/* op_expf_ggml: ggml's polynomial expf, within 2 ulp of libm's over the whole finite range, with
 * exact 1 at 0, 0 below the underflow range (masked attention scores are -inf), inf above,
 * NaN through. */
Test(tensor, expf_ggml_close_to_expf) {
    cr_assert_eq(op_expf_ggml(0.0f), 1.0f);
    cr_assert_eq(op_expf_ggml(-INFINITY), 0.0f);
    cr_assert_eq(op_expf_ggml(-200.0f), 0.0f);
    cr_assert(isinf(op_expf_ggml(200.0f)));
    cr_assert(isnan(op_expf_ggml(NAN)));
    int differ = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
        float a = op_expf_ggml(x), b = expf(x);
        int64_t ulp = (int64_t)f32_bits(a) - (int64_t)f32_bits(b);
        cr_assert(ulp >= -2 && ulp <= 2, "x=%a: %a vs expf %a", (double)x, (double)a, (double)b);
        differ += ulp != 0;
    }
    cr_expect(differ > 0, "no input differs from expf: not ggml's polynomial?");
}

/* op_expf_ggml_n (16 lanes at a time where the CPU has AVX-512) gives op_expf_ggml's bits for
 * every input: the whole range in fine steps, the subnormal results (|n| > 126: scalar redo),
 * zeros of both signs, +-inf, NaN, and a count that leaves a scalar tail. */
Test(tensor, expf_ggml_n_equals_scalar) {
    enum { N = 13000 + 7 };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++)
        x[i] = -104.0f + 0.0147f * (float)i;
    x[0] = 0.0f;
    x[1] = -0.0f;
    x[2] = INFINITY;
    x[3] = -INFINITY;
    x[4] = NAN;
    x[5] = -200.0f;
    x[6] = 200.0f;
    x[7] = 88.7f;
    op_expf_ggml_n(x, y, N);
    float *z = malloc(sizeof(float) * N); /* in place too (softmax does that) */
    memcpy(z, x, sizeof(float) * N);
    op_expf_ggml_n(z, z, N);
    for (int i = 0; i < N; i++) {
        cr_assert(f32_bits(z[i]) == f32_bits(y[i]) || (isnan(z[i]) && isnan(y[i])),
                  "in place, x=%a: %a vs %a", (double)x[i], (double)z[i], (double)y[i]);
        const float s = op_expf_ggml(x[i]);
        cr_assert(f32_bits(y[i]) == f32_bits(s) || (isnan(y[i]) && isnan(s)),
                  "x=%a: %a vs scalar %a", (double)x[i], (double)y[i], (double)s);
    }
    free(x);
    free(y);
    free(z);
}

/* RoPE angles with linear scaling and an attention factor (Gemma 3's global layers, Phi-3
 * LongRoPE), as ggml computes them: the angle theta_i / div[i] times freq_scale, cos and sin
 * times mscale; with both 1 the values are op_rope_angles' bit for bit. */
Test(ops, rope_angles_linear) {
    const int n_rot = 16;
    float div[8], plain[16], lin[16];
    for (int i = 0; i < 8; i++)
        div[i] = 1.0f + 0.5f * (float)i;
    const float ts = powf(10000.0f, -2.0f / (float)n_rot);
    for (int32_t pos = 0; pos < 300; pos += 37) {
        op_rope_angles(plain, pos, ts, div, n_rot);
        op_rope_angles_linear(lin, pos, ts, div, n_rot, 1.0f, 1.0f);
        cr_assert_eq(memcmp(plain, lin, sizeof plain), 0, "pos %d", pos);
        op_rope_angles_linear(lin, pos, ts, div, n_rot, 0.125f, 1.5f);
        float theta = (float)pos;
        for (int i = 0; i < 8; i++) {
            const float t = 0.125f * (theta / div[i]);
            cr_assert_float_eq(lin[2 * i], cosf(t) * 1.5f, 1e-6f, "pos %d pair %d", pos, i);
            cr_assert_float_eq(lin[2 * i + 1], sinf(t) * 1.5f, 1e-6f, "pos %d pair %d", pos, i);
            theta *= ts;
        }
    }
}
