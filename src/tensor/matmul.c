/* matmul.c — batched matrix-vector products over the traits' reference kernels (matmul.h). */
#include "tensor/matmul.h"

#include <assert.h>

/* Below this many multiply-adds a job is not worth waking other threads for. */
#define MIN_WORK_PER_THREAD 32768

typedef struct {
    float *y;
    const uint8_t *w;
    size_t w_row; /* bytes per weight row */
    const tensor_traits *tr;
    int64_t n_in, n_out;
    const float *x;
    int n_tok;
    uint8_t *q; /* quantized activations, n_tok rows of q_row bytes */
    size_t q_row;
} mm_job;

int tensor_matmul_supported(tensor_type wtype) {
    const tensor_traits *tr = tensor_traits_of((uint32_t)wtype);
    if (!tr || !tr->vec_dot) return 0;
    if (tr->vec_dot_type == TENSOR_TYPE_F32) return 1;
    const tensor_traits *vt = tensor_traits_of((uint32_t)tr->vec_dot_type);
    return vt && vt->from_float;
}

size_t tensor_matmul_scratch(tensor_type wtype, int64_t n_in, int n_tok) {
    const tensor_traits *tr = tensor_traits_of((uint32_t)wtype);
    if (!tr || tr->vec_dot_type == TENSOR_TYPE_F32) return 0;
    return tensor_row_size(tr->vec_dot_type, n_in) * (size_t)n_tok;
}

static void range_of(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1) {
    int64_t per = (n + nth - 1) / nth;
    *r0 = per * ith < n ? per * ith : n;
    *r1 = *r0 + per < n ? *r0 + per : n;
}

static void quantize_rows(void *arg, int ith, int nth) {
    mm_job *j = arg;
    const tensor_traits *vt = tensor_traits_of((uint32_t)j->tr->vec_dot_type);
    for (int t = ith; t < j->n_tok; t += nth)
        vt->from_float(j->x + (int64_t)t * j->n_in, j->q + (size_t)t * j->q_row, j->n_in);
}

static void mm_rows(void *arg, int ith, int nth) {
    mm_job *j = arg;
    int64_t r0, r1;
    range_of(j->n_out, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = j->w + (size_t)r * j->w_row;
        for (int t = 0; t < j->n_tok; t++) {
            float s;
            if (j->q)
                j->tr->vec_dot(j->n_in, &s, wr, j->q + (size_t)t * j->q_row);
            else
                j->tr->vec_dot(j->n_in, &s, wr, j->x + (int64_t)t * j->n_in);
            j->y[(int64_t)t * j->n_out + r] = s;
        }
    }
}

static int threads_for(he_pool *pool, double work) {
    int nth = pool ? he_pool_size(pool) : 1;
    int want = (int)(work / MIN_WORK_PER_THREAD);
    if (want < 1) want = 1;
    return want < nth ? want : nth;
}

void tensor_matmul(he_pool *pool, float *y, const void *w, tensor_type wtype, int64_t n_in,
                   int64_t n_out, const float *x, int n_tok, void *scratch) {
    mm_job j = {.y = y, .w = w, .n_in = n_in, .n_out = n_out, .x = x, .n_tok = n_tok};
    j.w_row = tensor_row_size(wtype, n_in);
    j.tr = tensor_traits_of((uint32_t)wtype);
    assert(j.tr && j.tr->vec_dot);
    if (j.tr->vec_dot_type != TENSOR_TYPE_F32) {
        j.q = scratch;
        j.q_row = tensor_row_size(j.tr->vec_dot_type, n_in);
        int nq = threads_for(pool, (double)n_in * n_tok * 4);
        if (nq > 1)
            he_pool_run_n(pool, nq, quantize_rows, &j);
        else
            quantize_rows(&j, 0, 1);
    }
    int nth = threads_for(pool, (double)n_in * (double)n_out * n_tok);
    if (nth > 1)
        he_pool_run_n(pool, nth, mm_rows, &j);
    else
        mm_rows(&j, 0, 1);
}
