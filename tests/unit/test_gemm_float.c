/* test_gemm_float.c — the float-weight kernels (F16/BF16 rows against F32 activations,
 * gemm_float_avx512.c, gemm_float_avx2.c) that matmul.c uses at every batch size:
 *   - each value is within 1e-5 of sum |w x| of the double-precision reference vec_dot,
 *   - each value depends on its row and token only: computing the pair alone (1 row × 1 token)
 *     gives the same bits as inside any block of a batch (so prompt and generation agree),
 *   - tensor_matmul over a 2-thread pool gives the same bits as one thread,
 * over row lengths around the 8- and 16-element steps (zero-padded tails), row counts around
 * the 3- and 4-row blocks and token counts around the 4- and 6-token blocks and the 48-token
 * pass. Each ISA's kernels are called directly; one the CPU lacks is skipped with a message.
 * (The matmul test runs on the selected set: run it with HEARTH_ISA=avx2 for that one.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/pool.h"
#include "tensor/matmul.h"
#include "tensor/tensor_internal.h"

static uint64_t rng_state;

static float rng_uniform(void) { /* [-1, 1), xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (float)(uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32) * 0x1p-31f - 1.0f;
}

static bool have_avx2(void) {
    const cpu_features *f = cpu_features_get();
    return f->avx2 && f->fma && f->f16c;
}

static bool have_avx512(void) {
    const cpu_features *f = cpu_features_get();
    return have_avx2() && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq &&
           f->avx512vnni;
}

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

typedef struct {
    tensor_type type;
    tensor_gemmf_fn fn;
} float_case;

static void check_kernel(const float_case *fc, int64_t n_in, int n_rows, int n_tok) {
    const tensor_traits *ref = tensor_traits_ref_of(fc->type);
    const size_t w_row = tensor_row_size(fc->type, n_in);
    float *wf = malloc(sizeof(float) * (size_t)n_in * (size_t)n_rows);
    float *wd = malloc(sizeof(float) * (size_t)n_in * (size_t)n_rows);
    uint8_t *w = malloc(w_row * (size_t)n_rows);
    float *x = malloc(sizeof(float) * (size_t)n_in * (size_t)n_tok);
    float *y = malloc(sizeof(float) * (size_t)n_rows * (size_t)n_tok);
    rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)(n_in * 131 + n_rows * 17 + n_tok);
    for (int64_t i = 0; i < n_in * n_rows; i++)
        wf[i] = rng_uniform() * 4.0f;
    for (int64_t i = 0; i < n_in * n_tok; i++)
        x[i] = rng_uniform();
    for (int r = 0; r < n_rows; r++) {
        ref->from_float(wf + (int64_t)r * n_in, w + (size_t)r * w_row, n_in);
        ref->to_float(w + (size_t)r * w_row, wd + (int64_t)r * n_in, n_in);
    }
    /* poison: every output must be written */
    for (int i = 0; i < n_rows * n_tok; i++)
        y[i] = NAN;
    fc->fn(n_in, n_rows, n_tok, y, n_rows, w, w_row, x, n_in);
    for (int t = 0; t < n_tok; t++)
        for (int r = 0; r < n_rows; r++) {
            const float got = y[t * n_rows + r];
            float want, alone;
            ref->vec_dot(n_in, &want, w + (size_t)r * w_row, x + (int64_t)t * n_in);
            double mag = 0.0;
            for (int64_t i = 0; i < n_in; i++)
                mag += fabs((double)wd[(int64_t)r * n_in + i] * (double)x[(int64_t)t * n_in + i]);
            cr_assert(fabs((double)got - (double)want) <= 1e-5 * mag,
                      "%s n_in=%lld rows=%d toks=%d (r %d, t %d): %g vs ref %g", ref->name,
                      (long long)n_in, n_rows, n_tok, r, t, (double)got, (double)want);
            fc->fn(n_in, 1, 1, &alone, 1, w + (size_t)r * w_row, w_row, x + (int64_t)t * n_in,
                   n_in);
            cr_assert_eq(bits(got), bits(alone),
                         "%s n_in=%lld rows=%d toks=%d (r %d, t %d): %a in the batch, %a alone",
                         ref->name, (long long)n_in, n_rows, n_tok, r, t, (double)got,
                         (double)alone);
        }
    free(wf);
    free(wd);
    free(w);
    free(x);
    free(y);
}

static void check_cases(const float_case *cases, size_t n_cases) {
    const int64_t lens[] = {1, 7, 8, 9, 15, 16, 17, 100, 2055};
    const int rows[] = {1, 2, 3, 4, 5, 7, 9};
    const int toks[] = {1, 2, 4, 5, 6, 7, 13, 50};
    for (size_t c = 0; c < n_cases; c++)
        for (size_t a = 0; a < sizeof lens / sizeof *lens; a++)
            for (size_t b = 0; b < sizeof rows / sizeof *rows; b++)
                for (size_t d = 0; d < sizeof toks / sizeof *toks; d++)
                    check_kernel(&cases[c], lens[a], rows[b], toks[d]);
}

Test(gemm_float, kernels_close_to_ref_and_batch_invariant) {
    const struct {
        const char *isa;
        bool (*have)(void);
        float_case cases[2];
    } sets[] = {
        {"avx2", have_avx2,
         {{TENSOR_TYPE_F16, tensor_avx2_gemmf_f16}, {TENSOR_TYPE_BF16, tensor_avx2_gemmf_bf16}}},
        {"avx512", have_avx512,
         {{TENSOR_TYPE_F16, tensor_avx512_gemmf_f16},
          {TENSOR_TYPE_BF16, tensor_avx512_gemmf_bf16}}},
    };
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
        if (!sets[k].have()) {
            cr_log_warn("no %s set on this CPU: its float-weight kernels not tested", sets[k].isa);
            continue;
        }
        check_cases(sets[k].cases, 2);
    }
}

/* Through tensor_matmul (the selected set): 1 thread and a 2-thread pool agree bit for bit, and
 * the batch's values equal single-token products. */
Test(gemm_float, matmul_threads_and_batches_agree) {
    const tensor_type types[] = {TENSOR_TYPE_F16, TENSOR_TYPE_BF16};
    const int64_t n_in = 259;
    const int n_out = 67, n_tok = 53;
    he_pool *pool = he_pool_new(2);
    for (int k = 0; k < 2; k++) {
        const tensor_traits *tr = tensor_traits_of(types[k]);
        const size_t w_row = tensor_row_size(types[k], n_in);
        uint8_t *w = malloc(w_row * n_out);
        float *wf = malloc(sizeof(float) * (size_t)n_in);
        float *x = malloc(sizeof(float) * (size_t)n_in * n_tok);
        float *y1 = malloc(sizeof(float) * (size_t)n_out * n_tok);
        float *y2 = malloc(sizeof(float) * (size_t)n_out * n_tok);
        float *y3 = malloc(sizeof(float) * (size_t)n_out);
        rng_state = 12345 + (uint64_t)k;
        for (int r = 0; r < n_out; r++) {
            for (int64_t i = 0; i < n_in; i++)
                wf[i] = rng_uniform();
            tr->from_float(wf, w + (size_t)r * w_row, n_in);
        }
        for (int64_t i = 0; i < n_in * n_tok; i++)
            x[i] = rng_uniform();
        tensor_matmul(NULL, y1, w, types[k], n_in, n_out, x, n_tok, NULL);
        tensor_matmul(pool, y2, w, types[k], n_in, n_out, x, n_tok, NULL);
        cr_assert_eq(memcmp(y1, y2, sizeof(float) * (size_t)n_out * n_tok), 0,
                     "%s: 1 vs 2 threads differ", tr->name);
        for (int t = 0; t < n_tok; t += 13) {
            tensor_matmul(pool, y3, w, types[k], n_in, n_out, x + (int64_t)t * n_in, 1, NULL);
            cr_assert_eq(memcmp(y3, y1 + (size_t)t * n_out, sizeof(float) * (size_t)n_out), 0,
                         "%s: token %d alone differs from the batch", tr->name, t);
        }
        free(w);
        free(wf);
        free(x);
        free(y1);
        free(y2);
        free(y3);
    }
    he_pool_free(pool);
}
