/* server_logprobs.h — log-probs as llama-server computes them, for the tests that compare
 * hearth's logits with its fixtures: tokens sorted by logit (descending, ties by id),
 * p = expf(l - max) summed in float in that order, p / sum, then logf. Header-only (static
 * inline): each test binary is one translation unit. */
#ifndef HEARTH_TEST_SERVER_LOGPROBS_H
#define HEARTH_TEST_SERVER_LOGPROBS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

static const float *oracle_sort_logits;
static inline int oracle_by_logit_desc(const void *a, const void *b) {
    float la = oracle_sort_logits[*(const int *)a], lb = oracle_sort_logits[*(const int *)b];
    if (la != lb) return la > lb ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}
static inline void server_logprobs(const float *x, int n, double *out) {
    int *idx = malloc((size_t)n * sizeof *idx);
    float *p = malloc((size_t)n * sizeof *p);
    cr_assert(idx && p);
    for (int i = 0; i < n; i++)
        idx[i] = i;
    oracle_sort_logits = x;
    qsort(idx, (size_t)n, sizeof *idx, oracle_by_logit_desc);
    float max = x[idx[0]], sum = 0.0f;
    for (int i = 0; i < n; i++) {
        p[i] = expf(x[idx[i]] - max);
        sum += p[i];
    }
    for (int i = 0; i < n; i++)
        out[idx[i]] = (double)logf(p[i] / sum);
    free(idx);
    free(p);
}

#endif
