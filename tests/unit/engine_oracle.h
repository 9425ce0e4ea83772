/* engine_oracle.h — what the tests that compare the engine with an outside reference share
 * (test_moe: llama-server and PyTorch; test_arch: llama-server on gemma2/phi3/YaRN; test_lora:
 * llama-server with adapters): making a model of a shape, loading it, decoding, turning logits
 * into log-probs the way llama-server reports them, and checking a committed reference fixture
 * (tests/data/{moe,arch}: per model, its file's sha256 and each prompt's top-5) whole and in
 * chunks of 3 (check_reference_file), so that the fixtures compare value for value.
 *
 * Define ORACLE_TAG (a short word) before including: it names the test's temporary files. */
#ifndef HEARTH_TESTS_ENGINE_ORACLE_H
#define HEARTH_TESTS_ENGINE_ORACLE_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/sha.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "server_logprobs.h"
#include "gguf/gguf.h"
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

/* The KV cache type of the contexts below (tests switch it, e.g. to F32 for PyTorch). */
static hearth_kv_type kv_type = HEARTH_KV_F16;
/* Their cells (check_reference_file takes a model entry's "n_ctx" when it has one: Phi-3's
 * LongRoPE table depends on it). */
static int32_t oracle_n_ctx = 512;

static inline hearth_ctx *ctx_ok(const hearth_model *m, int n_seq, int n_batch) {
    hearth_ctx_params p = hearth_ctx_params_default();
    p.kv_type = kv_type;
    p.n_ctx = oracle_n_ctx;
    p.n_seq = n_seq;
    p.n_batch = n_batch;
    p.n_threads = 2;
    he_error err = {0};
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    cr_assert_not_null(c, "ctx: %s", err.msg);
    return c;
}

/* Decodes ids into sequence 0 of a fresh context, in chunks of `chunk` tokens (the last token's
 * logits asked), and returns the last token's log-probs in lp (n_vocab). */
static inline void next_logprobs(const hearth_model *m, const int32_t *ids, int n, int chunk, double *lp) {
    hearth_ctx *c = ctx_ok(m, 1, 128);
    hearth_batch b;
    hearth_batch_init(&b, 128);
    for (int i = 0; i < n; i += chunk) {
        hearth_batch_clear(&b);
        for (int j = i; j < n && j < i + chunk; j++)
            hearth_batch_add(&b, ids[j], j, 0, j == n - 1);
        decode_ok(c, &b);
    }
    const float *x = hearth_logits(c, b.n_tokens - 1);
    cr_assert_not_null(x);
    server_logprobs(x, hearth_model_n_vocab(m), lp);
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
}

/* The file's sha256 as lowercase hex (65 bytes with the NUL). */
static inline void file_sha256(const char *path, char hex[65]) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n), d[SHA256_DIGEST_LENGTH];
    cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    SHA256(buf, (size_t)n, d);
    free(buf);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

typedef struct {
    double f32;        /* F32 models */
    double quant;      /* quantized models, prompts up to 17 tokens */
    double quant_long; /* quantized models, longer prompts */
} tolerances;

/* Every model of a reference file: each case's reference top-5 ids must have hearth log-probs
 * within the tolerance (a near-tie may reorder them; the values still have to agree), and
 * hearth's own best token must be one the reference ranks within it of its best. Prompts are
 * decoded whole and in chunks of 3 (prompt and decode paths). Returns the largest difference. */
static inline double check_reference_file(const char *rel, const char *only_shape, tolerances tl,
                                   int *n_checked) {
    json_t *root = load_json(rel);
    json_t *models = json_object_get(root, "models");
    cr_assert(json_is_array(models));
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(root, "seed"));
    double worst = 0.0;
    size_t mi;
    json_t *mo;
    json_array_foreach(models, mi, mo) {
        const char *shape = json_string_value(json_object_get(mo, "shape"));
        const char *type = json_string_value(json_object_get(mo, "type"));
        cr_assert(shape && type);
        if (only_shape && strcmp(shape, only_shape)) continue;
        char path[256];
        make_model(path, sizeof path, shape, type, seed);
        /* the reference was computed on exactly this file (when the fixture records its
         * sha256): a generator change (synth.c) must regenerate the fixture (its README), not
         * be compared against it */
        const char *want = json_string_value(json_object_get(mo, "sha256"));
        char sha[65];
        if (want) file_sha256(path, sha);
        cr_assert(!want || !strcmp(sha, want),
                  "%s %s: generated file sha256 %s, the reference was made on %s: regenerate "
                  "the fixture",
                  shape, type, sha, want ? want : "?");
        json_t *jctx = json_object_get(mo, "n_ctx");
        oracle_n_ctx = jctx ? (int32_t)json_integer_value(jctx) : 512;
        hearth_model *m = load_ok(path);
        int nv = hearth_model_n_vocab(m);
        double *lp = malloc((size_t)nv * sizeof *lp);
        cr_assert_not_null(lp);
        size_t ci;
        json_t *cs;
        json_array_foreach(json_object_get(mo, "cases"), ci, cs) {
            json_t *ja = json_object_get(cs, "prompt_ids");
            int n = (int)json_array_size(ja);
            cr_assert(n >= 1 && n <= 128);
            int32_t ids[128];
            for (int i = 0; i < n; i++)
                ids[i] = (int32_t)json_integer_value(json_array_get(ja, (size_t)i));
            json_t *top = json_object_get(cs, "top5");
            cr_assert_eq(json_array_size(top), 5);
            const double tol = !strcmp(type, "f32") ? tl.f32 : n <= 17 ? tl.quant : tl.quant_long;
            for (int chunk = 128; chunk >= 3; chunk = chunk == 128 ? 3 : 0) {
                next_logprobs(m, ids, n, chunk, lp);
                double ref_best = json_real_value(json_array_get(json_array_get(top, 0), 1));
                for (size_t k = 0; k < 5; k++) {
                    json_t *e = json_array_get(top, k);
                    int id = (int)json_integer_value(json_array_get(e, 0));
                    double ref = json_real_value(json_array_get(e, 1));
                    cr_assert(id >= 0 && id < nv);
                    double d = fabs(lp[id] - ref);
                    if (d > worst) worst = d;
                    cr_expect_leq(d, tol,
                                  "%s %s case %zu (%d tokens, chunk %d): token %d log-prob %.6f, "
                                  "reference %.6f",
                                  shape, type, ci, n, chunk, id, lp[id], ref);
                }
                int best = 0;
                for (int i = 1; i < nv; i++)
                    if (lp[i] > lp[best]) best = i;
                cr_expect_geq(lp[best], ref_best - tol, "%s %s case %zu: best %d", shape, type, ci,
                              best);
                cr_expect_leq(lp[best], ref_best + tol, "%s %s case %zu: best %d %.6f vs %.6f",
                              shape, type, ci, best, lp[best], ref_best);
                (*n_checked)++;
            }
        }
        free(lp);
        hearth_model_free(m);
        unlink(path);
        oracle_n_ctx = 512;
    }
    json_decref(root);
    return worst;
}

/* ---- Edited copies of a generated model (the loader tests) ---- */

/* A writer holding f's metadata but key (which the caller sets again, or leaves out). */
static inline gguf_writer *oracle_copy_kv_except(const gguf_file *f, const char *key) {
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_str k = gguf_key(f, i);
        if (key && k.len == strlen(key) && !memcmp(k.ptr, key, k.len)) continue;
        gguf_writer_copy_kv(w, f, i);
    }
    return w;
}

/* Adds f's tensors but the one named skip (NULL: all), writes w to dst and frees w and f. */
static inline void oracle_write_with_tensors(gguf_writer *w, gguf_file *f, const char *skip,
                                             const char *dst) {
    he_error err = {0};
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (skip && !strcmp(name, skip)) continue;
        cr_assert_eq(gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, &err), 0,
                     "%s", err.msg);
    }
    cr_assert_eq(gguf_writer_write(w, dst, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    gguf_close(f);
}

static inline gguf_file *oracle_open_gguf(const char *path) {
    he_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    cr_assert_not_null(f, "%s", err.msg);
    return f;
}

/* Rewrites a generated model's metadata: key set to a u32 or a bool (or removed when val < 0). */
static inline void rewrite_key(const char *src, const char *dst, const char *key, int64_t val,
                               bool as_bool) {
    gguf_file *f = oracle_open_gguf(src);
    gguf_writer *w = oracle_copy_kv_except(f, key);
    if (val >= 0) {
        if (as_bool)
            gguf_writer_set_bool(w, key, val != 0);
        else
            gguf_writer_set_u32(w, key, (uint32_t)val);
    }
    oracle_write_with_tensors(w, f, NULL, dst);
}

/* Rewrites a generated model's metadata key to an f32 (or a string when str is set). */
static inline void rewrite_key_f32(const char *src, const char *dst, const char *key, float val,
                                   const char *str) {
    gguf_file *f = oracle_open_gguf(src);
    gguf_writer *w = oracle_copy_kv_except(f, key);
    if (str)
        gguf_writer_set_str(w, key, str);
    else
        gguf_writer_set_f32(w, key, val);
    oracle_write_with_tensors(w, f, NULL, dst);
}

/* The model at src with key rewritten to val must be refused with code, naming needle. */
static inline void expect_refused(const char *src, const char *key, int64_t val, he_code code,
                                  const char *needle) {
    char dst[300];
    snprintf(dst, sizeof dst, "%.200s.edit.gguf", src);
    rewrite_key(src, dst, key, val, false);
    he_error err = {0};
    hearth_model *m = hearth_model_load(dst, NULL, &err);
    cr_assert_null(m, "%s = %lld should be refused", key, (long long)val);
    cr_assert_eq(err.code, code, "%s: code %d (%s)", key, (int)err.code, err.msg);
    cr_assert_not_null(strstr(err.msg, needle), "'%s' should name '%s'", err.msg, needle);
    unlink(dst);
}

/* Max |d log-prob| over the first 700 ids between the next-token log-probs of the model at pa
 * (a context of ca cells) and the one at pb (cb cells), on the same n_tok-token prompt
 * (n_tok <= 70; the models' vocabularies at most 1024). */
static inline double logprob_delta(const char *pa, int32_t ca, const char *pb, int32_t cb,
                                   int n_tok) {
    int32_t ids[70];
    cr_assert(n_tok >= 1 && n_tok <= 70);
    for (int i = 0; i < n_tok; i++)
        ids[i] = i == 0 ? 1 : 3 + (i * 37) % 700;
    static double lp[2][1024];
    const char *paths[] = {pa, pb};
    const int32_t ctxs[] = {ca, cb};
    for (int i = 0; i < 2; i++) {
        hearth_model *m = load_ok(paths[i]);
        cr_assert_leq(hearth_model_n_vocab(m), 1024);
        oracle_n_ctx = ctxs[i];
        next_logprobs(m, ids, n_tok, n_tok, lp[i]);
        oracle_n_ctx = 512;
        hearth_model_free(m);
    }
    double d = 0;
    for (int i = 0; i < 700; i++)
        d = fmax(d, fabs(lp[0][i] - lp[1][i]));
    return d;
}

#endif
