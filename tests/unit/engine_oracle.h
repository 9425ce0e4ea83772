/* engine_oracle.h — what the tests that compare the engine with an outside reference share
 * (test_moe: llama-server and PyTorch; test_arch: llama-server on gemma2/phi3/YaRN; test_lora:
 * llama-server with adapters): making a model of a shape, loading it, decoding, and turning
 * logits into log-probs the way llama-server reports them, so that the committed reference
 * fixtures (tests/data/{moe,arch,lora}) compare value for value.
 *
 * Define ORACLE_TAG (a short word) before including: it names the test's temporary files. */
#ifndef HEARTH_TESTS_ENGINE_ORACLE_H
#define HEARTH_TESTS_ENGINE_ORACLE_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fixtures.h"
#include "model/hearth.h"
#include "model/synth.h"

#ifndef ORACLE_TAG
#define ORACLE_TAG "oracle"
#endif

/* `hearth make-model --shape shape --type type --seed seed` into a per-process temp file. */
static inline void make_model(char *path, size_t cap, const char *shape, const char *type, uint64_t seed) {
    snprintf(path, cap, "/tmp/hearth_test_" ORACLE_TAG "_%d_%s_%s_%llu.gguf", (int)getpid(), shape, type,
             (unsigned long long)seed);
    synth_params p = {.shape = shape, .seed = seed, .n_threads = 1};
    he_error err = {0};
    cr_assert_eq(quant_ftype_from_name(type, &p.ftype, &err), 0, "%s", err.msg);
    cr_assert_eq(synth_make_model(&p, path, &err), 0, "make-model %s: %s", shape, err.msg);
}

static inline hearth_model *load_ok(const char *path) {
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert_not_null(m, "load %s: %s", path, err.msg);
    return m;
}

static inline void decode_ok(hearth_ctx *c, const hearth_batch *b) {
    he_error err = {0};
    cr_assert_eq(hearth_decode(c, b, &err), 0, "decode: %s", err.msg);
}

/* A reference fixture (JSON) under tests/data. */
static inline json_t *load_json(const char *rel) {
    char path[1024];
    fixture_path(path, sizeof path, rel);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    cr_assert_not_null(root, "%s: %s", path, je.text);
    return root;
}

/* log-probs as llama-server computes them: tokens sorted by logit (descending), p = expf(l -
 * max) summed in float in that order, p / sum, then logf */
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
