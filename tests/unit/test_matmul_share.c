/* test_matmul_share.c — how tensor_matmul and tensor_matmul_many share rows out over a pool:
 * each thread starts on its own share and the ones done early take over the rest of the
 * others' (matmul.c). Whatever thread computes a row, every output must come out once and
 * bit-identical to a one-thread run: checked over pools of 1 to 6 threads, all on one CPU
 * (so a thread waits for the CPU while the others finish their shares and take over its
 * units: the path this test is for), products of different types, kernels (small-batch,
 * tiled, float, row by row) and sizes (a partial tile, products smaller than one unit) in one
 * dispatch. Also under TSan (make test-tsan). */
#include <criterion/criterion.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "tensor/matmul.h"
#include "tensor/tensor.h"
#include "tensor/tensor_internal.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static float rng_uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

typedef struct {
    tensor_type type;
    int64_t n_in, n_out;
    int n_tok;
} product;

/* weights of the given shape and type, random */
static uint8_t *make_weights(const product *p) {
    const size_t w_row = tensor_row_size(p->type, p->n_in);
    uint8_t *w = malloc(w_row * (size_t)p->n_out);
    float *row = malloc(sizeof(float) * (size_t)p->n_in);
    for (int64_t r = 0; r < p->n_out; r++) {
        for (int64_t i = 0; i < p->n_in; i++)
            row[i] = rng_uniform();
        tensor_traits_ref_of(p->type)->from_float(row, w + (size_t)r * w_row, p->n_in);
    }
    free(row);
    return w;
}

/* One dispatch of products like a decode step's and a prompt's: experts' small-batch products,
 * a tiled one with a partial tile, an F16 one, an F32 one (row by row), tiny ones. */
static const product products[] = {
    {TENSOR_TYPE_Q4_K, 512, 384, 1},  {TENSOR_TYPE_Q4_K, 512, 384, 1},
    {TENSOR_TYPE_Q6_K, 256, 200, 1},  {TENSOR_TYPE_Q4_0, 256, 16 * 9 + 5, 30},
    {TENSOR_TYPE_F16, 96, 77, 3},     {TENSOR_TYPE_F32, 64, 33, 2},
    {TENSOR_TYPE_Q8_0, 64, 4, 1},     {TENSOR_TYPE_MXFP4, 128, 1000, 2},
};
enum { N_PRODUCTS = sizeof products / sizeof products[0] };

Test(matmul_share, any_pool_gives_the_one_thread_bits_once_per_row) {
    uint8_t *w[N_PRODUCTS];
    float *x[N_PRODUCTS], *want[N_PRODUCTS], *got[N_PRODUCTS];
    size_t scratch_size = 0;
    tensor_mm mm[N_PRODUCTS];
    for (int i = 0; i < N_PRODUCTS; i++) {
        const product *p = &products[i];
        w[i] = make_weights(p);
        x[i] = malloc(sizeof(float) * (size_t)(p->n_in * p->n_tok));
        for (int64_t k = 0; k < p->n_in * p->n_tok; k++)
            x[i][k] = rng_uniform();
        want[i] = malloc(sizeof(float) * (size_t)(p->n_out * p->n_tok));
        got[i] = malloc(sizeof(float) * (size_t)(p->n_out * p->n_tok));
        scratch_size += tensor_matmul_scratch(p->type, p->n_in, p->n_tok);
        mm[i] = (tensor_mm){got[i], w[i], p->type, p->n_in, p->n_out, x[i], p->n_tok};
    }
    void *scratch = malloc(scratch_size);
    for (int i = 0; i < N_PRODUCTS; i++) {
        const product *p = &products[i];
        tensor_matmul(NULL, want[i], w[i], p->type, p->n_in, p->n_out, x[i], p->n_tok, scratch);
    }
    /* every thread of the pools on one CPU (they inherit the mask) */
    cpu_set_t mask, one;
    cr_assert_eq(sched_getaffinity(0, sizeof mask, &mask), 0);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &mask))
        cpu++;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    const unsigned long long taken0 = tensor_matmul_taken_over();
    for (int n = 1; n <= 6; n++) {
        he_pool *pool = he_pool_new(n);
        for (int rep = 0; rep < 40; rep++) {
            /* NaN first: a row no thread computed stays NaN and fails the comparison */
            for (int i = 0; i < N_PRODUCTS; i++)
                for (int64_t k = 0; k < products[i].n_out * products[i].n_tok; k++)
                    got[i][k] = NAN;
            if (rep % 2)
                tensor_matmul_many(pool, mm, N_PRODUCTS, scratch, scratch_size);
            else
                for (int i = 0; i < N_PRODUCTS; i++) {
                    const product *p = &products[i];
                    tensor_matmul(pool, got[i], w[i], p->type, p->n_in, p->n_out, x[i], p->n_tok,
                                  scratch);
                }
            for (int i = 0; i < N_PRODUCTS; i++)
                cr_assert_eq(memcmp(got[i], want[i], sizeof(float) * (size_t)(products[i].n_out *
                                                                               products[i].n_tok)),
                             0, "%d threads, rep %d: product %d (%s) differs from one thread", n,
                             rep, i, tensor_traits_of(products[i].type)->name);
        }
        he_pool_free(pool);
    }
    sched_setaffinity(0, sizeof mask, &mask);
    /* the comparisons above covered units run by a thread other than their share's */
    cr_log_info("units taken over: %llu", tensor_matmul_taken_over() - taken0);
    cr_assert_gt(tensor_matmul_taken_over(), taken0, "no thread ever took over another's units");
    free(scratch);
    for (int i = 0; i < N_PRODUCTS; i++) {
        free(w[i]);
        free(x[i]);
        free(want[i]);
        free(got[i]);
    }
}
