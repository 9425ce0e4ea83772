/* bench_kernels.c — per-kernel microbenchmark of the quantized dots (llm.c dev/ style): for each
 * weight type, one matrix-vector product (ROWS rows of COLS weights against one activation row,
 * single thread) with the reference, AVX2 and AVX-512 vec_dot, best of REPS runs.
 *
 *   build/release/bench/bench_kernels [ROWS [COLS [REPS]]]     (default 2048 2048 7)
 *   make bench-kernels [BENCH_ARGS="8192 2048 5"]
 *
 * Prints ns per row and GB/s of weight bytes streamed (the figure that bounds token generation),
 * and checks that every ISA's outputs equal the reference's bit for bit. 2048x2048 is a
 * TinyLlama attention matrix (a few MB: it sits in L2/L3 after the first run); pass more rows to
 * measure from DRAM. On a shared, loaded machine take the best of several runs.
 *
 * Then the prompt path: the same matrix against BENCH_TOKENS (default 64) activation rows, as
 * the selected vec_dot per (row, token) and as the selected set's tiled kernel (gemm_avx512.c;
 * with HEARTH_ISA=avx2, gemm_avx2.c), in GMAC/s (multiply-adds per second), outputs checked
 * equal. Last, small batches (1..24 tokens): vec_dot per (row, token), the small-batch kernel
 * (0 where the set has none) and the tiled kernel, in GMAC/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cpu.h"
#include "tensor/tensor_internal.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rng_u32(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static float rng_uniform(void) { return (float)rng_u32() * 0x1p-31f - 1.0f; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    tensor_type type;
    int halves[2];           /* byte offsets of the fp16 scale fields in a block (-1: none) */
    tensor_vec_dot_fn fn[3]; /* ref, avx2, avx512 */
} bench_case;

static const bench_case cases[] = {
    {TENSOR_TYPE_Q4_0,
     {0, -1},
     {tensor_ref_dot_q4_0_q8_0, tensor_avx2_dot_q4_0_q8_0, tensor_avx512_dot_q4_0_q8_0}},
    {TENSOR_TYPE_Q8_0,
     {0, -1},
     {tensor_ref_dot_q8_0_q8_0, tensor_avx2_dot_q8_0_q8_0, tensor_avx512_dot_q8_0_q8_0}},
    {TENSOR_TYPE_Q4_K,
     {0, 2},
     {tensor_ref_dot_q4_K_q8_K, tensor_avx2_dot_q4_K_q8_K, tensor_avx512_dot_q4_K_q8_K}},
    {TENSOR_TYPE_Q5_K,
     {0, 2},
     {tensor_ref_dot_q5_K_q8_K, tensor_avx2_dot_q5_K_q8_K, tensor_avx512_dot_q5_K_q8_K}},
    {TENSOR_TYPE_Q6_K,
     {208, -1},
     {tensor_ref_dot_q6_K_q8_K, tensor_avx2_dot_q6_K_q8_K, tensor_avx512_dot_q6_K_q8_K}},
    {TENSOR_TYPE_Q2_K,
     {80, 82},
     {tensor_ref_dot_q2_K_q8_K, tensor_avx2_dot_q2_K_q8_K, tensor_avx512_dot_q2_K_q8_K}},
    {TENSOR_TYPE_Q3_K,
     {108, -1},
     {tensor_ref_dot_q3_K_q8_K, tensor_avx2_dot_q3_K_q8_K, tensor_avx512_dot_q3_K_q8_K}},
    {TENSOR_TYPE_IQ4_NL,
     {0, -1},
     {tensor_ref_dot_iq4_nl_q8_0, tensor_avx2_dot_iq4_nl_q8_0, tensor_avx512_dot_iq4_nl_q8_0}},
    {TENSOR_TYPE_IQ4_XS,
     {0, -1},
     {tensor_ref_dot_iq4_xs_q8_K, tensor_avx2_dot_iq4_xs_q8_K, tensor_avx512_dot_iq4_xs_q8_K}},
    {TENSOR_TYPE_IQ3_S,
     {0, -1},
     {tensor_ref_dot_iq3_s_q8_K, tensor_avx2_dot_iq3_s_q8_K, tensor_avx512_dot_iq3_s_q8_K}},
    {TENSOR_TYPE_IQ2_XXS,
     {0, -1},
     {tensor_ref_dot_iq2_xxs_q8_K, tensor_avx2_dot_iq2_xxs_q8_K, tensor_avx512_dot_iq2_xxs_q8_K}},
    {TENSOR_TYPE_IQ2_XS,
     {0, -1},
     {tensor_ref_dot_iq2_xs_q8_K, tensor_avx2_dot_iq2_xs_q8_K, tensor_avx512_dot_iq2_xs_q8_K}},
    {TENSOR_TYPE_IQ2_S,
     {0, -1},
     {tensor_ref_dot_iq2_s_q8_K, tensor_avx2_dot_iq2_s_q8_K, tensor_avx512_dot_iq2_s_q8_K}},
    {TENSOR_TYPE_IQ3_XXS,
     {0, -1},
     {tensor_ref_dot_iq3_xxs_q8_K, tensor_avx2_dot_iq3_xxs_q8_K, tensor_avx512_dot_iq3_xxs_q8_K}},
    {TENSOR_TYPE_IQ1_S,
     {0, -1},
     {tensor_ref_dot_iq1_s_q8_K, tensor_avx2_dot_iq1_s_q8_K, tensor_avx512_dot_iq1_s_q8_K}},
    {TENSOR_TYPE_IQ1_M, /* d (in the scales' top nibbles) is set below */
     {-1, -1},
     {tensor_ref_dot_iq1_m_q8_K, tensor_avx2_dot_iq1_m_q8_K, tensor_avx512_dot_iq1_m_q8_K}},
    {TENSOR_TYPE_MXFP4, /* the exponent byte is set below */
     {-1, -1},
     {tensor_ref_dot_mxfp4_q8_0, tensor_avx2_dot_mxfp4_q8_0, tensor_avx512_dot_mxfp4_q8_0}},
    {TENSOR_TYPE_TQ1_0,
     {52, -1},
     {tensor_ref_dot_tq1_0_q8_K, tensor_avx2_dot_tq1_0_q8_K, tensor_avx512_dot_tq1_0_q8_K}},
    {TENSOR_TYPE_TQ2_0,
     {64, -1},
     {tensor_ref_dot_tq2_0_q8_K, tensor_avx2_dot_tq2_0_q8_K, tensor_avx512_dot_tq2_0_q8_K}},
};
static const char *const isa_names[3] = {"ref", "avx2", "avx512"};

/* vec_dot per (row, token) against the tiled kernel, one thread */
static int bench_gemm(int64_t rows, int64_t cols, int reps) {
    const char *e = getenv("BENCH_TOKENS");
    const int n_tok = e && atoi(e) > 0 ? atoi(e) : 64;
    const tensor_type types[] = {TENSOR_TYPE_Q4_0,   TENSOR_TYPE_Q8_0,   TENSOR_TYPE_Q4_K,
                                 TENSOR_TYPE_Q6_K,   TENSOR_TYPE_IQ4_NL, TENSOR_TYPE_IQ4_XS,
                                 TENSOR_TYPE_MXFP4,  TENSOR_TYPE_IQ3_S,  TENSOR_TYPE_TQ1_0,
                                 TENSOR_TYPE_TQ2_0};
    const int64_t r16 = rows / TENSOR_GEMM_ROWS * TENSOR_GEMM_ROWS;
    int bad = 0;
    printf("\nprompt matmul: %lld x %lld weights, %d tokens, 1 thread, best of %d\n",
           (long long)r16, (long long)cols, n_tok, reps);
    printf("%-6s %14s %14s %8s  %s\n", "type", "vec_dot GMAC/s", "tiled GMAC/s", "speedup",
           "result");
    for (size_t c = 0; c < sizeof types / sizeof types[0]; c++) {
        const tensor_gemm_fn gemm = tensor_gemm_of(types[c]);
        const tensor_traits *t = tensor_traits_of(types[c]);
        if (!gemm || r16 == 0) {
            printf("%-6s %14s %14s %8s  %s\n", t->name, "-", "-", "-", "no tiled kernel here");
            continue;
        }
        const tensor_traits *vt = tensor_traits_of(t->vec_dot_type);
        const size_t row_bytes = tensor_row_size(types[c], cols);
        const size_t q_row = tensor_row_size(t->vec_dot_type, cols);
        uint8_t *w = malloc(row_bytes * (size_t)r16), *q = malloc(q_row * (size_t)n_tok);
        uint8_t *pack = malloc(tensor_gemm_pack_size(types[c], cols, n_tok));
        float *act = malloc(sizeof(float) * (size_t)cols);
        float *y0 = malloc(sizeof(float) * (size_t)(r16 * n_tok));
        float *y1 = malloc(sizeof(float) * (size_t)(r16 * n_tok));
        /* real quantized weights (random bytes would include NaN/Inf scales in K-quants) */
        for (int64_t r = 0; r < r16; r++) {
            for (int64_t i = 0; i < cols; i++)
                act[i] = rng_uniform();
            tensor_traits_ref_of(types[c])->from_float(act, w + (size_t)r * row_bytes, cols);
        }
        for (int k = 0; k < n_tok; k++) {
            for (int64_t i = 0; i < cols; i++)
                act[i] = rng_uniform();
            vt->from_float(act, q + (size_t)k * q_row, cols);
        }
        double best[2] = {1e30, 1e30};
        for (int rep = 0; rep < reps + 1; rep++) {
            double t0 = now_s();
            for (int64_t r = 0; r < r16; r++)
                for (int k = 0; k < n_tok; k++)
                    t->vec_dot(cols, &y0[(int64_t)k * r16 + r], w + (size_t)r * row_bytes,
                               q + (size_t)k * q_row);
            double dt = now_s() - t0;
            if (rep > 0 && dt < best[0]) best[0] = dt;
            t0 = now_s();
            tensor_gemm_pack(types[c], cols, q, q_row, n_tok, pack);
            gemm(cols, (int)r16, n_tok, y1, r16, w, row_bytes, pack);
            dt = now_s() - t0;
            if (rep > 0 && dt < best[1]) best[1] = dt;
        }
        const bool same = memcmp(y0, y1, sizeof(float) * (size_t)(r16 * n_tok)) == 0;
        if (!same) bad = 1;
        const double macs = (double)r16 * (double)cols * n_tok;
        printf("%-6s %14.1f %14.1f %8.2f  %s\n", t->name, macs / best[0] / 1e9,
               macs / best[1] / 1e9, best[0] / best[1], same ? "== vec_dot" : "DIFFERS");
        free(w);
        free(q);
        free(pack);
        free(act);
        free(y0);
        free(y1);
    }
    return bad;
}

/* Small batches: vec_dot per (row, token), the small-batch kernel (tensor_gemvn_of) and the
 * tiled kernel, per batch size, one thread, in GMAC/s (what tensor_matmul's thresholds are
 * chosen from) */
static int bench_small(int64_t rows, int64_t cols, int reps) {
    const tensor_type types[] = {TENSOR_TYPE_Q4_0, TENSOR_TYPE_Q8_0,   TENSOR_TYPE_Q4_K,
                                 TENSOR_TYPE_Q6_K, TENSOR_TYPE_IQ4_NL, TENSOR_TYPE_IQ4_XS,
                                 TENSOR_TYPE_MXFP4};
    const int toks[] = {1, 2, 3, 4, 6, 8, 12, 15, 16, 24};
    const int tmax = 24;
    const int64_t r16 = rows / TENSOR_GEMM_ROWS * TENSOR_GEMM_ROWS;
    int bad = 0;
    printf("\nsmall batches: %lld x %lld weights, 1 thread, best of %d, GMAC/s "
           "(vec_dot / small-batch / tiled)\n",
           (long long)r16, (long long)cols, reps);
    printf("%-6s", "type");
    for (size_t k = 0; k < sizeof toks / sizeof toks[0]; k++)
        printf(" %15d", toks[k]);
    printf("\n");
    for (size_t c = 0; c < sizeof types / sizeof types[0]; c++) {
        const tensor_gemvn_fn gv = tensor_gemvn_of(types[c]);
        const tensor_gemm_fn gemm = tensor_gemm_of(types[c]);
        const tensor_traits *t = tensor_traits_of(types[c]);
        if ((!gv && !gemm) || r16 == 0) {
            printf("%-6s no small-batch or tiled kernel here\n", t->name);
            continue;
        }
        const tensor_traits *vt = tensor_traits_of(t->vec_dot_type);
        const size_t row_bytes = tensor_row_size(types[c], cols);
        const size_t q_row = tensor_row_size(t->vec_dot_type, cols);
        const bool linear = tensor_gemvn_packs(types[c]);
        uint8_t *w = malloc(row_bytes * (size_t)r16), *q = malloc(q_row * (size_t)tmax);
        uint8_t *pack = malloc(tensor_gemm_pack_size(types[c], cols, tmax + 8) +
                               (size_t)(cols / 32 * tmax) * TENSOR_GEMV_PACK32);
        float *act = malloc(sizeof(float) * (size_t)cols);
        float *y[3];
        for (int i = 0; i < 3; i++)
            y[i] = malloc(sizeof(float) * (size_t)(r16 * tmax));
        for (int64_t r = 0; r < r16; r++) {
            for (int64_t i = 0; i < cols; i++)
                act[i] = rng_uniform();
            tensor_traits_ref_of(types[c])->from_float(act, w + (size_t)r * row_bytes, cols);
        }
        for (int k = 0; k < tmax; k++) {
            for (int64_t i = 0; i < cols; i++)
                act[i] = rng_uniform();
            vt->from_float(act, q + (size_t)k * q_row, cols);
        }
        printf("%-6s", t->name);
        for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
            const int n_tok = toks[ti];
            double best[3] = {1e30, 1e30, 1e30};
            for (int rep = 0; rep < reps + 1; rep++) {
                double t0 = now_s();
                for (int64_t r = 0; r < r16; r++)
                    for (int k = 0; k < n_tok; k++)
                        t->vec_dot(cols, &y[0][(int64_t)k * r16 + r], w + (size_t)r * row_bytes,
                                   q + (size_t)k * q_row);
                double dt = now_s() - t0;
                if (rep > 0 && dt < best[0]) best[0] = dt;
                if (gv) { /* the AVX2 set has none: its column reads 0 */
                    t0 = now_s();
                    if (linear) tensor_gemvn_pack(types[c], cols, q, q_row, n_tok, pack);
                    gv(cols, (int)r16, n_tok, y[1], r16, w, row_bytes, linear ? (void *)pack : q,
                       q_row);
                    dt = now_s() - t0;
                    if (rep > 0 && dt < best[1]) best[1] = dt;
                }
                if (gemm) {
                    t0 = now_s();
                    tensor_gemm_pack(types[c], cols, q, q_row, n_tok, pack);
                    gemm(cols, (int)r16, n_tok, y[2], r16, w, row_bytes, pack);
                    dt = now_s() - t0;
                    if (rep > 0 && dt < best[2]) best[2] = dt;
                }
            }
            const size_t ny = sizeof(float) * (size_t)(r16 * n_tok);
            if ((gv && memcmp(y[0], y[1], ny)) || (gemm && memcmp(y[0], y[2], ny))) bad = 1;
            const double g = (double)r16 * (double)cols * n_tok / 1e9;
            printf(" %4.0f/%4.0f/%4.0f%s", g / best[0], gv ? g / best[1] : 0.0,
                   gemm ? g / best[2] : 0.0,
                   bad ? "!" : "");
        }
        printf("%s\n", bad ? "  DIFFERS" : "");
        free(w);
        free(q);
        free(pack);
        free(act);
        for (int i = 0; i < 3; i++)
            free(y[i]);
    }
    return bad;
}

int main(int argc, char **argv) {
    const int64_t rows = argc > 1 ? atoll(argv[1]) : 2048;
    const int64_t cols = argc > 2 ? atoll(argv[2]) : 2048;
    const int reps = argc > 3 ? atoi(argv[3]) : 7;
    if (rows < 1 || cols < 256 || cols % 256 || reps < 1) {
        fprintf(stderr, "usage: bench_kernels [ROWS [COLS (multiple of 256) [REPS]]]\n");
        return 2;
    }
    const cpu_features *f = cpu_features_get();
    bool have[3];
    have[0] = true;
    have[1] = f->avx2 && f->fma && f->f16c;
    have[2] = have[1] && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni;
    printf("bench_kernels: %lld x %lld weights, one activation row, 1 thread, best of %d\n",
           (long long)rows, (long long)cols, reps);
    printf("%-6s %-7s %10s %12s %9s %8s  %s\n", "type", "isa", "MB", "ns/row", "GB/s", "x ref",
           "result");

    float *act = malloc(sizeof(float) * (size_t)cols);
    float *out[3];
    for (int i = 0; i < 3; i++)
        out[i] = malloc(sizeof(float) * (size_t)rows);
    int bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const bench_case *bc = &cases[c];
        const tensor_traits *t = tensor_traits_ref_of(bc->type);
        const tensor_traits *vt = tensor_traits_ref_of(t->vec_dot_type);
        const size_t row_bytes = tensor_row_size(bc->type, cols);
        const size_t total = row_bytes * (size_t)rows;
        uint8_t *w = malloc(total);
        uint8_t *y = malloc(tensor_row_size(t->vec_dot_type, cols));
        for (size_t i = 0; i < total; i++)
            w[i] = (uint8_t)rng_u32();
        for (size_t b = 0; b < total / t->type_size; b++)
            for (int h = 0; h < 2; h++)
                if (bc->halves[h] >= 0) {
                    const uint16_t d = tensor_fp32_to_fp16(0.01f * (1.5f + rng_uniform()));
                    memcpy(w + b * t->type_size + bc->halves[h], &d, 2);
                }
        if (bc->type == TENSOR_TYPE_MXFP4) /* scales 2^-28 .. 2^-9 */
            for (size_t b = 0; b < total / t->type_size; b++)
                w[b * t->type_size] = (uint8_t)(100 + rng_u32() % 20);
        if (bc->type == TENSOR_TYPE_IQ1_M) /* fp16 d: nibble k in the top of scale word k */
            for (size_t b = 0; b < total / t->type_size; b++) {
                const uint16_t d = tensor_fp32_to_fp16(0.01f * (1.5f + rng_uniform()));
                uint8_t *sc = w + b * t->type_size + 48;
                for (int k = 0; k < 4; k++)
                    sc[2 * k + 1] = (uint8_t)((sc[2 * k + 1] & 0x0F) | ((d >> (4 * k)) & 0xF) << 4);
            }
        for (int64_t i = 0; i < cols; i++)
            act[i] = rng_uniform();
        vt->from_float(act, y, cols);

        double ref_best = 0.0;
        for (int isa = 0; isa < 3; isa++) {
            if (!have[isa]) {
                printf("%-6s %-7s %10s %12s %9s %8s  %s\n", t->name, isa_names[isa], "-", "-", "-",
                       "-", "skipped (CPU lacks it)");
                continue;
            }
            const tensor_vec_dot_fn fn = bc->fn[isa];
            double best = 1e30;
            for (int r = 0; r < reps + 1; r++) { /* the first run warms caches and clocks */
                const double t0 = now_s();
                for (int64_t i = 0; i < rows; i++)
                    fn(cols, &out[isa][i], w + (size_t)i * row_bytes, y);
                const double dt = now_s() - t0;
                if (r > 0 && dt < best) best = dt;
            }
            if (isa == 0) ref_best = best;
            const bool same = memcmp(out[isa], out[0], sizeof(float) * (size_t)rows) == 0;
            if (!same) bad = 1;
            printf("%-6s %-7s %10.2f %12.1f %9.2f %8.2f  %s\n", t->name, isa_names[isa],
                   (double)total / 1e6, best * 1e9 / (double)rows, (double)total / best / 1e9,
                   ref_best / best, same ? "== ref" : "DIFFERS FROM REF");
        }
        free(w);
        free(y);
    }
    free(act);
    for (int i = 0; i < 3; i++)
        free(out[i]);
    bad |= bench_gemm(rows, cols, reps);
    bad |= bench_small(rows, cols, reps);
    return bad;
}
