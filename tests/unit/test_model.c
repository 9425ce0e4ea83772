/* test_model.c — the engine: stories260K against llama.cpp's greedy reference (ids, top-3,
 * log-probs), batching (mixed prompt chunks and single tokens of several sequences give the
 * same logits as decoding each alone), the KV cache operations, decode's input errors, the
 * loader's errors on broken files, and every architecture's code path on tiny random models
 * written with gguf_writer. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "model/hearth.h"
#include "tensor/tensor.h"
#include "fixtures.h"
#include "server_logprobs.h"

/* ---- Helpers ---- */

static hearth_model *load_ok(const char *path) {
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert(m, "load %s: %s", path, err.msg);
    return m;
}

static hearth_ctx *ctx_ok(const hearth_model *m, int n_ctx, int n_seq, int n_batch, int n_threads) {
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = n_ctx;
    p.n_seq = n_seq;
    p.n_batch = n_batch;
    p.n_threads = n_threads;
    he_error err = {0};
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    cr_assert(c, "ctx: %s", err.msg);
    return c;
}

static void decode_ok(hearth_ctx *c, const hearth_batch *b) {
    he_error err = {0};
    cr_assert_eq(hearth_decode(c, b, &err), 0, "decode: %s", err.msg);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float d = 0.0f;
    for (int i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN wins */
    }
    return d;
}

/* ---- stories260K reference ---- */

typedef struct {
    int n_prompt, n_gen;
    int32_t prompt[64];
    int32_t ids[256];
    int32_t top_id[256][3];
    double top_lp[256][3];
} ref_case;

static int load_reference(ref_case *cases, int cap) {
    char path[1024];
    fixture_path(path, sizeof path, "models/stories260K.reference.json");
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    cr_assert(root, "%s: %s", path, je.text);
    json_t *arr = json_object_get(root, "cases");
    cr_assert(json_is_array(arr));
    int n = 0;
    size_t i;
    json_t *cj;
    json_array_foreach(arr, i, cj) {
        cr_assert(n < cap);
        ref_case *rc = &cases[n++];
        json_t *p = json_object_get(cj, "prompt_ids"), *ids = json_object_get(cj, "ids");
        json_t *top = json_object_get(cj, "top3_logprobs");
        rc->n_prompt = (int)json_array_size(p);
        rc->n_gen = (int)json_array_size(ids);
        cr_assert(rc->n_prompt <= 64 && rc->n_gen <= 256 &&
                  json_array_size(top) == (size_t)rc->n_gen);
        for (int k = 0; k < rc->n_prompt; k++)
            rc->prompt[k] = (int32_t)json_integer_value(json_array_get(p, k));
        for (int k = 0; k < rc->n_gen; k++) {
            rc->ids[k] = (int32_t)json_integer_value(json_array_get(ids, k));
            json_t *t3 = json_object_get(json_array_get(top, k), "top");
            cr_assert(json_array_size(t3) == 3);
            for (int r = 0; r < 3; r++) {
                json_t *pair = json_array_get(t3, r);
                rc->top_id[k][r] = (int32_t)json_integer_value(json_array_get(pair, 0));
                rc->top_lp[k][r] = json_number_value(json_array_get(pair, 1));
            }
        }
    }
    json_decref(root);
    return n;
}

static hearth_model *stories(void) {
    char path[1024];
    fixture_path(path, sizeof path, "models/stories260K.gguf");
    return load_ok(path);
}

/* Greedy-decodes every reference case with the given KV type; returns the largest log-prob
 * difference seen over the top-3 of every step and counts the entries over 1e-3.
 *
 * The reference comes from llama.cpp's CPU build, whose arithmetic hearth follows where it
 * decides f16 roundings (ggml's AVX-512 summation orders, its expf polynomial, fused tails;
 * docs/ENGINE.md "Numerics"): most log-probs agree to the reference's 4 printed decimals.
 * Not all: llama.cpp evaluates prompts with a different matmul kernel (tinyBLAS) than single
 * tokens, which hearth does not copy (its logits do not depend on how tokens are batched), and
 * a value within an f32 ulp of an f16 rounding boundary that rounds the other way moves a
 * log-prob of this 64-wide model by up to a few 1e-3. Measured: max 2.20e-3, 16 of 1800 over
 * 1e-3, identical for HEARTH_ISA=ref and avx2. Bounds: that plus a small margin. */
static double check_reference(hearth_kv_type kv, int n_threads, bool top3, double tol, int *n_over,
                              int *n_swaps) {
    static ref_case cases[8];
    int n_cases = load_reference(cases, 8);
    cr_assert_eq(n_cases, 3);
    hearth_model *m = stories();
    int nv = hearth_model_n_vocab(m);
    cr_assert_eq(nv, 512);
    cr_assert_str_eq(hearth_model_arch(m), "llama");
    double *lp = malloc((size_t)nv * sizeof *lp);
    double worst = 0.0;
    for (int ci = 0; ci < n_cases; ci++) {
        ref_case *rc = &cases[ci];
        hearth_ctx_params p = hearth_ctx_params_default();
        p.n_ctx = 256;
        p.kv_type = kv;
        p.n_threads = n_threads;
        he_error err = {0};
        hearth_ctx *c = hearth_ctx_new(m, &p, &err);
        cr_assert(c, "%s", err.msg);
        hearth_batch b;
        hearth_batch_init(&b, 64);
        for (int k = 0; k < rc->n_prompt; k++)
            hearth_batch_add(&b, rc->prompt[k], k, 0, k == rc->n_prompt - 1);
        decode_ok(c, &b);
        const float *logits = hearth_logits(c, rc->n_prompt - 1);
        for (int step = 0; step < rc->n_gen; step++) {
            cr_assert(logits);
            server_logprobs(logits, nv, lp);
            int id = argmax(logits, nv);
            cr_assert_eq(id, rc->ids[step], "case %d step %d: greedy id %d, reference %d", ci, step,
                         id, rc->ids[step]);
            /* top-3 by log-prob */
            int top[3] = {-1, -1, -1};
            for (int r = 0; r < 3; r++)
                for (int t = 0; t < nv; t++) {
                    if (t == top[0] || t == top[1]) continue;
                    if (top[r] < 0 || lp[t] > lp[top[r]]) top[r] = t;
                }
            for (int r = 0; r < 3 && top3; r++) {
                /* the reference's r-th token must have the reference's log-prob... */
                int32_t rid = rc->top_id[step][r];
                double d = fabs(lp[rid] - rc->top_lp[step][r]);
                if (d > worst) worst = d;
                if (d > 1e-3) (*n_over)++;
                cr_assert(d <= tol,
                          "case %d step %d: top-%d token %d log-prob %.5f, reference %.5f", ci,
                          step, r + 1, rid, lp[rid], rc->top_lp[step][r]);
                /* ...and the same rank, unless it is tied (within 2e-3) with the token we rank
                 * there */
                if (top[r] != rid) {
                    (*n_swaps)++;
                    cr_assert(fabs(lp[top[r]] - lp[rid]) <= 2e-3,
                              "case %d step %d: top-%d id %d (%.5f), reference %d (%.5f)", ci, step,
                              r + 1, top[r], lp[top[r]], rid, rc->top_lp[step][r]);
                }
            }
            if (step + 1 == rc->n_gen) break;
            hearth_batch_clear(&b);
            hearth_batch_add(&b, id, rc->n_prompt + step, 0, true);
            decode_ok(c, &b);
            logits = hearth_logits(c, 0);
        }
        hearth_batch_deinit(&b);
        hearth_ctx_free(c);
    }
    free(lp);
    hearth_model_free(m);
    return worst;
}

Test(model, stories260K_matches_reference_f16_kv, .timeout = 120) {
    int over = 0, swaps = 0;
    double worst = check_reference(HEARTH_KV_F16, 2, true, 2.5e-3, &over, &swaps);
    cr_log_info("stories260K, F16 KV cache (%s kernels): max |logprob - reference| = %.6f; %d of "
                "1800 over 1e-3; "
                "%d near-tie rank swaps",
                tensor_isa(), worst, over, swaps);
    cr_assert(swaps <= 1, "%d near-tie rank swaps", swaps);
    cr_assert(over <= 22, "%d of 1800 top-3 log-probs differ by more than 1e-3", over);
}

Test(model, stories260K_greedy_ids_match_with_f32_kv_one_thread, .timeout = 120) {
    int over = 0, swaps = 0;
    check_reference(HEARTH_KV_F32, 1, false, 0.0, &over,
                    &swaps); /* ids only: near-ties among the top-3 can swap */
}

Test(model, stories260K_vocab_and_hparams) {
    hearth_model *m = stories();
    cr_assert_eq(hearth_model_n_ctx_train(m), 2048);
    cr_assert_eq(hearth_model_n_layer(m), 5);
    cr_assert_eq(hearth_model_n_embd(m), 64);
    const tok_vocab *v = hearth_model_vocab(m);
    cr_assert(v);
    cr_assert_eq(tok_n_vocab(v), 512);
    hearth_model_free(m);
}

/* ---- Batching ---- */

/* Logits of every position of one sequence decoded alone, one chunk then single tokens:
 * out (n, n_vocab). */
static void decode_alone(const hearth_model *m, const int32_t *toks, int n, int first_chunk,
                         float *out) {
    int nv = hearth_model_n_vocab(m);
    hearth_ctx *c = ctx_ok(m, 256, 1, 64, 1);
    hearth_batch b;
    hearth_batch_init(&b, 64);
    int i = 0;
    while (i < n) {
        int len = i == 0 ? first_chunk : 1;
        if (i + len > n) len = n - i;
        hearth_batch_clear(&b);
        for (int k = 0; k < len; k++)
            hearth_batch_add(&b, toks[i + k], i + k, 0, true);
        decode_ok(c, &b);
        for (int k = 0; k < len; k++)
            memcpy(out + (size_t)(i + k) * nv, hearth_logits(c, k), (size_t)nv * sizeof(float));
        i += len;
    }
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
}

/* Three sequences with different prompts decoded together: each step takes a different-size
 * chunk of each sequence (a prompt chunk for one while another is already generating). */
static float batch_vs_alone(const hearth_model *m, int n_threads) {
    enum { NS = 3, LEN = 24 };
    int nv = hearth_model_n_vocab(m);
    int32_t toks[NS][LEN];
    uint32_t x = 12345;
    for (int s = 0; s < NS; s++)
        for (int k = 0; k < LEN; k++) {
            x = x * 1664525u + 1013904223u;
            toks[s][k] = (int32_t)((x >> 8) % (uint32_t)nv);
        }
    float *alone = malloc((size_t)NS * LEN * nv * sizeof(float));
    for (int s = 0; s < NS; s++)
        decode_alone(m, toks[s], LEN, 5 + 2 * s, alone + (size_t)s * LEN * nv);

    hearth_ctx *c = ctx_ok(m, 256, NS, 64, n_threads);
    hearth_batch b;
    hearth_batch_init(&b, 64);
    /* chunk sizes per step and sequence: seq 0 starts with its whole prompt, seq 1 in pieces,
     * seq 2 joins late */
    static const int plan[][NS] = {{8, 3, 0}, {1, 4, 0}, {1, 1, 9},
                                   {2, 1, 1}, {1, 6, 1}, {3, 1, 4}};
    int cur[NS] = {0};
    float worst = 0.0f;
    for (int step = 0; cur[0] < LEN || cur[1] < LEN || cur[2] < LEN; step++) {
        hearth_batch_clear(&b);
        int at[NS][16], n_at[NS] = {0};
        for (int s = NS - 1; s >= 0; s--) { /* reverse order: batch order must not matter */
            int len = step < 6 ? plan[step][s] : 1 + (step + s) % 3;
            for (int k = 0; k < len && cur[s] < LEN; k++, cur[s]++) {
                at[s][n_at[s]++] = b.n_tokens;
                hearth_batch_add(&b, toks[s][cur[s]], cur[s], s, true);
            }
        }
        decode_ok(c, &b);
        for (int s = 0; s < NS; s++)
            for (int k = 0; k < n_at[s]; k++) {
                int pos = b.pos[at[s][k]];
                const float *l = hearth_logits(c, at[s][k]);
                float d = max_abs_diff(l, alone + ((size_t)s * LEN + pos) * nv, nv);
                if (d > worst) worst = d;
            }
    }
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
    free(alone);
    return worst;
}

Test(model, batch_of_three_sequences_equals_each_alone, .timeout = 60) {
    hearth_model *m = stories();
    float d1 = batch_vs_alone(m, 1), d2 = batch_vs_alone(m, 2);
    cr_log_info("stories260K batch vs alone: max |dlogit| %.2e (1 thread), %.2e (2 threads)",
                (double)d1, (double)d2);
    cr_assert(d1 <= 1e-4f, "1 thread: %g", (double)d1);
    cr_assert(d2 <= 1e-4f, "2 threads: %g", (double)d2);
    hearth_model_free(m);
}

/* The last layer is computed only for entries that ask for logits: asking for fewer must not
 * change the ones asked for, nor the cache (a batch asking for none, then the next token). */
Test(model, logits_subset_equals_all_logits) {
    hearth_model *m = stories();
    int nv = hearth_model_n_vocab(m);
    hearth_ctx *all = ctx_ok(m, 64, 2, 32, 2), *some = ctx_ok(m, 64, 2, 32, 2);
    hearth_batch ba, bs;
    hearth_batch_init(&ba, 32);
    hearth_batch_init(&bs, 32);
    for (int i = 0; i < 20; i++) {
        int seq = i % 2, pos = i / 2;
        int32_t tok = (int32_t)(3 + (i * 41) % 500);
        hearth_batch_add(&ba, tok, pos, seq, true);
        hearth_batch_add(&bs, tok, pos, seq, i % 3 == 1 || i >= 18);
    }
    decode_ok(all, &ba);
    decode_ok(some, &bs);
    int asked = 0;
    for (int i = 0; i < 20; i++) {
        const float *l = hearth_logits(some, i);
        if (!bs.logits[i]) {
            cr_assert_null(l);
            continue;
        }
        asked++;
        cr_assert(max_abs_diff(l, hearth_logits(all, i), nv) <= 1e-5f, "entry %d", i);
    }
    cr_assert_eq(asked, 8);
    /* no logits at all, then one more token per sequence */
    hearth_batch_clear(&ba);
    hearth_batch_clear(&bs);
    for (int seq = 0; seq < 2; seq++) {
        hearth_batch_add(&ba, 77, 10, seq, true);
        hearth_batch_add(&bs, 77, 10, seq, false);
    }
    decode_ok(all, &ba);
    decode_ok(some, &bs);
    cr_assert_null(hearth_logits(some, 0));
    hearth_batch_clear(&ba);
    for (int seq = 0; seq < 2; seq++)
        hearth_batch_add(&ba, 88, 11, seq, true);
    decode_ok(all, &ba);
    decode_ok(some, &ba);
    for (int i = 0; i < 2; i++)
        cr_assert(max_abs_diff(hearth_logits(some, i), hearth_logits(all, i), nv) <= 1e-5f,
                  "after: %d", i);
    hearth_batch_deinit(&ba);
    hearth_batch_deinit(&bs);
    hearth_ctx_free(all);
    hearth_ctx_free(some);
    hearth_model_free(m);
}

/* Decodes toks[from..n) of seq at positions from.. one per batch; logits into out rows. */
static void feed(hearth_ctx *c, int seq, const int32_t *toks, int from, int n, float *out, int nv) {
    hearth_batch b;
    hearth_batch_init(&b, 1);
    for (int i = from; i < n; i++) {
        hearth_batch_clear(&b);
        hearth_batch_add(&b, toks[i], i, seq, true);
        decode_ok(c, &b);
        if (out) memcpy(out + (size_t)i * nv, hearth_logits(c, 0), (size_t)nv * sizeof(float));
    }
    hearth_batch_deinit(&b);
}

Test(model, kv_seq_rm_then_redecode_gives_same_logits) {
    hearth_model *m = stories();
    int nv = hearth_model_n_vocab(m);
    int32_t toks[20], other[20];
    for (int i = 0; i < 20; i++) {
        toks[i] = (int32_t)(3 + (i * 37) % 500);
        other[i] = (int32_t)(7 + (i * 91) % 500);
    }
    float *a = calloc((size_t)20 * nv, sizeof(float)), *b = calloc((size_t)20 * nv, sizeof(float));
    hearth_ctx *c = ctx_ok(m, 64, 2, 8, 2);
    feed(c, 0, toks, 0, 20, a, nv);
    cr_assert_eq(hearth_kv_seq_pos_max(c, 0), 19);
    /* drop the tail from position 12, fill it with other tokens, drop again, redo the original */
    hearth_kv_seq_rm(c, 0, 12, -1);
    cr_assert_eq(hearth_kv_seq_pos_max(c, 0), 11);
    cr_assert_eq(hearth_kv_n_free(c), 64 - 12);
    int32_t mixed[20];
    memcpy(mixed, toks, sizeof mixed);
    memcpy(mixed + 12, other + 12, 8 * sizeof(int32_t));
    feed(c, 0, mixed, 12, 20, NULL, nv);
    hearth_kv_seq_rm(c, 0, 12, -1);
    feed(c, 0, toks, 12, 20, b, nv);
    for (int i = 12; i < 20; i++) {
        float d = max_abs_diff(a + (size_t)i * nv, b + (size_t)i * nv, nv);
        cr_assert(d <= 1e-5f, "pos %d: %g", i, (double)d);
    }
    /* removing a whole sequence frees its cells */
    hearth_kv_seq_rm(c, 0, -1, -1);
    cr_assert_eq(hearth_kv_seq_pos_max(c, 0), -1);
    cr_assert_eq(hearth_kv_n_free(c), 64);
    hearth_ctx_free(c);
    free(a);
    free(b);
    hearth_model_free(m);
}

Test(model, kv_seq_cp_prefix_sharing_equals_recomputing) {
    hearth_model *m = stories();
    int nv = hearth_model_n_vocab(m);
    enum { P = 10, N = 16 };
    int32_t t0[N], t1[N];
    for (int i = 0; i < N; i++)
        t0[i] = t1[i] = (int32_t)(3 + (i * 53) % 500);
    for (int i = P; i < N; i++)
        t1[i] = (int32_t)(11 + (i * 29) % 500); /* same prefix, other tail */
    float *ref0 = calloc((size_t)N * nv, sizeof(float)),
          *ref1 = calloc((size_t)N * nv, sizeof(float));
    float *got0 = calloc((size_t)N * nv, sizeof(float)),
          *got1 = calloc((size_t)N * nv, sizeof(float));
    decode_alone(m, t0, N, 1, ref0);
    decode_alone(m, t1, N, 1, ref1);

    hearth_ctx *c = ctx_ok(m, 64, 3, 16, 2);
    feed(c, 0, t0, 0, P, NULL, nv);
    hearth_kv_seq_cp(c, 0, 2, 0, -1);
    cr_assert_eq(hearth_kv_seq_pos_max(c, 2), P - 1);
    cr_assert_eq(hearth_kv_n_free(c), 64 - P, "sharing copies no cells");
    feed(c, 2, t1, P, N, got1, nv);
    feed(c, 0, t0, P, N, got0, nv);
    for (int i = P; i < N; i++) {
        cr_assert(max_abs_diff(got0 + (size_t)i * nv, ref0 + (size_t)i * nv, nv) <= 1e-4f,
                  "seq 0 pos %d", i);
        cr_assert(max_abs_diff(got1 + (size_t)i * nv, ref1 + (size_t)i * nv, nv) <= 1e-4f,
                  "seq 2 pos %d", i);
    }
    /* the shared prefix outlives the sequence that made it */
    hearth_kv_seq_rm(c, 0, -1, -1);
    cr_assert_eq(hearth_kv_n_free(c), 64 - N);
    hearth_ctx_free(c);
    free(ref0);
    free(ref1);
    free(got0);
    free(got1);
    hearth_model_free(m);
}

/* ---- Decode errors ---- */

Test(model, decode_rejects_bad_input_cleanly) {
    hearth_model *m = stories();
    hearth_ctx *c = ctx_ok(m, 16, 2, 8, 1);
    hearth_batch b;
    hearth_batch_init(&b, 32);
    he_error err;
    struct {
        int32_t tok, pos, seq;
        he_code code;
        const char *msg;
    } cases[] = {
        {-1, 0, 0, HE_INVALID, "token id -1"},  {512, 0, 0, HE_INVALID, "token id 512"},
        {5, 0, 2, HE_INVALID, "sequence id 2"}, {5, 0, -1, HE_INVALID, "sequence id -1"},
        {5, 1, 0, HE_INVALID, "expected 0"},    {5, -1, 0, HE_INVALID, "position -1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hearth_batch_clear(&b);
        hearth_batch_add(&b, 1, 0, 1, false); /* a good entry first: nothing may be applied */
        hearth_batch_add(&b, cases[i].tok, cases[i].pos, cases[i].seq, true);
        memset(&err, 0, sizeof err);
        cr_assert_eq(hearth_decode(c, &b, &err), -1, "case %zu accepted", i);
        cr_assert_eq(err.code, cases[i].code, "case %zu: %s", i, err.msg);
        cr_assert(strstr(err.msg, cases[i].msg), "case %zu: '%s' lacks '%s'", i, err.msg,
                  cases[i].msg);
        cr_assert_eq(hearth_kv_seq_pos_max(c, 1), -1, "case %zu changed the cache", i);
    }
    /* empty batch, and more tokens than n_batch */
    hearth_batch_clear(&b);
    cr_assert_eq(hearth_decode(c, &b, &err), -1);
    for (int i = 0; i < 9; i++)
        hearth_batch_add(&b, 1, i, 0, false);
    cr_assert_eq(hearth_decode(c, &b, &err), -1);
    cr_assert_eq(err.code, HE_LIMIT, "%s", err.msg);
    /* a gap after real tokens */
    hearth_batch_clear(&b);
    for (int i = 0; i < 4; i++)
        hearth_batch_add(&b, 1 + i, i, 0, i == 3);
    decode_ok(c, &b);
    hearth_batch_clear(&b);
    hearth_batch_add(&b, 7, 5, 0, true);
    cr_assert_eq(hearth_decode(c, &b, &err), -1);
    cr_assert(strstr(err.msg, "expected 4"), "%s", err.msg);
    /* a repeated position */
    hearth_batch_clear(&b);
    hearth_batch_add(&b, 7, 3, 0, true);
    cr_assert_eq(hearth_decode(c, &b, &err), -1);
    /* context full: 16 cells, 4 used */
    hearth_batch_clear(&b);
    for (int i = 0; i < 8; i++)
        hearth_batch_add(&b, 1, i, 1, false);
    decode_ok(c, &b);
    hearth_batch_clear(&b);
    for (int i = 0; i < 5; i++)
        hearth_batch_add(&b, 1, 4 + i, 0, false);
    cr_assert_eq(hearth_decode(c, &b, &err), -1);
    cr_assert_eq(err.code, HE_LIMIT);
    cr_assert(strstr(err.msg, "context full"), "%s", err.msg);
    /* still usable: 4 cells fit */
    hearth_batch_clear(&b);
    for (int i = 0; i < 4; i++)
        hearth_batch_add(&b, 1, 4 + i, 0, i == 3);
    decode_ok(c, &b);
    cr_assert(hearth_logits(c, 3));
    cr_assert_null(hearth_logits(c, 0), "no logits were asked for entry 0");
    cr_assert_null(hearth_logits(c, 4));
    cr_assert_null(hearth_logits(c, -1));
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
    hearth_model_free(m);
}

Test(model, ctx_params_are_validated) {
    hearth_model *m = stories();
    hearth_ctx_params p = hearth_ctx_params_default();
    he_error err;
    p.n_seq = HEARTH_MAX_SEQ + 1;
    cr_assert_null(hearth_ctx_new(m, &p, &err));
    p = hearth_ctx_params_default();
    p.n_ctx = -5;
    cr_assert_null(hearth_ctx_new(m, &p, &err));
    p = hearth_ctx_params_default();
    p.n_outputs = p.n_batch + 1;
    cr_assert_null(hearth_ctx_new(m, &p, &err));
    cr_assert_eq(err.code, HE_INVALID);
    hearth_model_free(m);
}

/* ---- Tiny random models of each architecture ---- */

typedef struct {
    const char *arch;
    int n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_vocab, n_rot;
    bool tied;                /* no output.weight */
    bool rope_freqs;          /* write a rope_freqs.weight tensor */
    bool llama3_meta;         /* rope.scaling.type = llama3 metadata */
    const char *skip[4];      /* tensors to leave out */
    const char *bad_shape;    /* tensor written with a wrong shape */
    int head_count_override;  /* -1: as n_head */
    tensor_type wtype;        /* type of the matrices (vectors stay f32) */
    const char *override_key; /* "{arch}.<this>" set to override_val (u32) after the others */
    uint32_t override_val;
    uint32_t alignment; /* general.alignment, 0: default */
} tiny_spec;

static float frand(uint32_t *x) {
    *x = *x * 1664525u + 1013904223u;
    return ((float)(*x >> 8) / 16777216.0f - 0.5f);
}

typedef struct {
    gguf_writer *w;
    float *bufs[256];
    int n_bufs;
    uint32_t seed;
    const tiny_spec *s;
} tiny_builder;

static void add(tiny_builder *tb, const char *name, int64_t ne0, int64_t ne1, float scale,
                float offset) {
    for (int i = 0; i < 4 && tb->s->skip[i]; i++)
        if (!strcmp(tb->s->skip[i], name)) return;
    if (tb->s->bad_shape && !strcmp(tb->s->bad_shape, name)) ne0 += 1;
    cr_assert(tb->n_bufs < 256);
    float *d = malloc((size_t)(ne0 * ne1) * sizeof(float));
    for (int64_t i = 0; i < ne0 * ne1; i++)
        d[i] = offset + scale * frand(&tb->seed);
    tb->bufs[tb->n_bufs++] = d;
    int64_t ne[2] = {ne0, ne1};
    tensor_type type = TENSOR_TYPE_F32;
    const void *data = d;
    if (ne1 > 1 && tb->s->wtype != TENSOR_TYPE_F32) {
        const tensor_traits *tr = tensor_traits_of((uint32_t)tb->s->wtype);
        cr_assert(tr && tr->from_float);
        size_t row = tensor_row_size(tb->s->wtype, ne0);
        uint8_t *q = malloc(row * (size_t)ne1);
        for (int64_t r = 0; r < ne1; r++)
            tr->from_float(d + r * ne0, q + (size_t)r * row, ne0);
        cr_assert(tb->n_bufs < 256);
        tb->bufs[tb->n_bufs++] = (float *)(void *)q;
        type = tb->s->wtype;
        data = q;
    }
    he_error err = {0};
    cr_assert_eq(gguf_writer_add_tensor(tb->w, name, type, ne1 > 1 ? 2 : 1, ne, data, &err), 0,
                 "%s", err.msg);
}

static void write_tiny(const char *path, const tiny_spec *s) {
    tiny_builder tb = {.w = gguf_writer_new(), .seed = 99, .s = s};
    char k[128];
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, s->arch), k)
    gguf_writer_set_str(tb.w, "general.architecture", s->arch);
    gguf_writer_set_u32(tb.w, KEY("embedding_length"), (uint32_t)s->n_embd);
    gguf_writer_set_u32(tb.w, KEY("block_count"), (uint32_t)s->n_layer);
    gguf_writer_set_u32(tb.w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
    gguf_writer_set_u32(
        tb.w, KEY("attention.head_count"),
        (uint32_t)(s->head_count_override >= 0 ? s->head_count_override : s->n_head));
    gguf_writer_set_u32(tb.w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    gguf_writer_set_u32(tb.w, KEY("context_length"), 256);
    gguf_writer_set_f32(tb.w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f);
    gguf_writer_set_f32(tb.w, KEY("rope.freq_base"), 10000.0f);
    if (s->head_dim != s->n_embd / s->n_head) {
        gguf_writer_set_u32(tb.w, KEY("attention.key_length"), (uint32_t)s->head_dim);
        gguf_writer_set_u32(tb.w, KEY("attention.value_length"), (uint32_t)s->head_dim);
    }
    if (s->n_rot) gguf_writer_set_u32(tb.w, KEY("rope.dimension_count"), (uint32_t)s->n_rot);
    if (s->llama3_meta) {
        gguf_writer_set_str(tb.w, KEY("rope.scaling.type"), "llama3");
        gguf_writer_set_f32(tb.w, KEY("rope.scaling.factor"), 8.0f);
        gguf_writer_set_u32(tb.w, KEY("rope.scaling.original_context_length"), 64);
    }
    if (s->alignment) gguf_writer_set_alignment(tb.w, s->alignment);
    if (s->override_key) {
        snprintf(k, sizeof k, "%s.%s", s->arch, s->override_key);
        gguf_writer_set_u32(tb.w, k, s->override_val);
    }
#undef KEY
    int E = s->n_embd, hd = s->head_dim, nq = s->n_head * hd, nkv = s->n_head_kv * hd;
    float ws = 0.6f;
    add(&tb, "token_embd.weight", E, s->n_vocab, 2.0f, 0.0f);
    add(&tb, "output_norm.weight", E, 1, 0.2f, 1.0f);
    if (!s->tied) add(&tb, "output.weight", E, s->n_vocab, ws, 0.0f);
    if (s->rope_freqs) add(&tb, "rope_freqs.weight", (s->n_rot ? s->n_rot : hd) / 2, 1, 2.0f, 3.0f);
    for (int l = 0; l < s->n_layer; l++) {
        char n[64];
#define T(suffix, a, b, sc, off)                                                                   \
    (snprintf(n, sizeof n, "blk.%d." suffix, l), add(&tb, n, a, b, sc, off))
        T("attn_norm.weight", E, 1, 0.2f, 1.0f);
        T("attn_q.weight", E, nq, ws, 0.0f);
        T("attn_k.weight", E, nkv, ws, 0.0f);
        T("attn_v.weight", E, nkv, ws, 0.0f);
        T("attn_output.weight", nq, E, ws, 0.0f);
        if (!strcmp(s->arch, "qwen2")) {
            T("attn_q.bias", nq, 1, 0.5f, 0.0f);
            T("attn_k.bias", nkv, 1, 0.5f, 0.0f);
            T("attn_v.bias", nkv, 1, 0.5f, 0.0f);
        }
        if (!strcmp(s->arch, "qwen3")) {
            T("attn_q_norm.weight", hd, 1, 0.2f, 1.0f);
            T("attn_k_norm.weight", hd, 1, 0.2f, 1.0f);
        }
        T("ffn_norm.weight", E, 1, 0.2f, 1.0f);
        T("ffn_gate.weight", E, s->n_ff, ws, 0.0f);
        T("ffn_up.weight", E, s->n_ff, ws, 0.0f);
        T("ffn_down.weight", s->n_ff, E, ws, 0.0f);
#undef T
    }
    he_error err = {0};
    cr_assert_eq(gguf_writer_write(tb.w, path, &err), 0, "%s", err.msg);
    gguf_writer_free(tb.w);
    for (int i = 0; i < tb.n_bufs; i++)
        free(tb.bufs[i]);
}

static tiny_spec tiny(const char *arch) {
    return (tiny_spec){.arch = arch,
                       .n_embd = 32,
                       .n_layer = 2,
                       .n_ff = 64,
                       .n_head = 4,
                       .n_head_kv = 2,
                       .head_dim = 8,
                       .n_vocab = 64,
                       .head_count_override = -1,
                       .wtype = TENSOR_TYPE_F32};
}

static void tmp_path(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/hearth_test_model_%d_%s.gguf", (int)getpid(), tag);
}

static void check_arch(const tiny_spec *s, const char *tag) {
    char path[256];
    tmp_path(path, sizeof path, tag);
    write_tiny(path, s);
    hearth_model *m = load_ok(path);
    cr_assert_str_eq(hearth_model_arch(m), s->arch);
    cr_assert_eq(hearth_model_n_vocab(m), s->n_vocab);
    cr_assert_null(hearth_model_vocab(m), "no tokenizer in a tiny model");
    float d = batch_vs_alone(m, 2);
    cr_log_info("%s (%s): batch vs alone max |dlogit| %.2e", tag, s->arch, (double)d);
    cr_assert(d <= 1e-4f, "%s: batch vs alone differ by %g", tag, (double)d);
    /* attention sees positions (RoPE is applied): without it, the last logits of (a, b, c) and
     * (b, a, c) would be equal */
    hearth_ctx *c = ctx_ok(m, 32, 2, 8, 1);
    hearth_batch b;
    hearth_batch_init(&b, 8);
    static const int32_t order[2][3] = {{3, 5, 7}, {5, 3, 7}};
    for (int s2 = 0; s2 < 2; s2++)
        for (int i = 0; i < 3; i++)
            hearth_batch_add(&b, order[s2][i], i, s2, i == 2);
    decode_ok(c, &b);
    int nv = hearth_model_n_vocab(m);
    for (int i = 0; i < nv; i++)
        cr_assert(isfinite(hearth_logits(c, 2)[i]));
    float dpos = max_abs_diff(hearth_logits(c, 2), hearth_logits(c, 5), nv);
    cr_assert(dpos > 1e-3f, "%s: order of earlier tokens changes nothing (%g): RoPE not applied?",
              tag, (double)dpos);
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
    hearth_model_free(m);
    unlink(path);
}

Test(model, arch_llama_tiny) {
    tiny_spec s = tiny("llama");
    check_arch(&s, "llama");
}

Test(model, arch_llama_tied_partial_rope) {
    tiny_spec s = tiny("llama");
    s.tied = true;
    s.n_rot = 4;
    check_arch(&s, "llama_tied");
}

Test(model, arch_llama3_rope_freqs_tensor) {
    tiny_spec s = tiny("llama");
    s.rope_freqs = true;
    check_arch(&s, "llama3_freqs");
}

Test(model, arch_llama3_rope_scaling_metadata) {
    tiny_spec s = tiny("llama");
    s.llama3_meta = true;
    check_arch(&s, "llama3_meta");
}

Test(model, arch_qwen2_tiny) {
    tiny_spec s = tiny("qwen2");
    check_arch(&s, "qwen2");
}

Test(model, arch_qwen3_tiny_wide_heads) {
    tiny_spec s = tiny("qwen3");
    s.head_dim = 16; /* key_length != n_embd / n_head, as in Qwen3 */
    check_arch(&s, "qwen3");
}

/* ---- An independent naive forward pass, to check each architecture's arithmetic ----
 * Reads the F32 tensors straight from the file (not through the loader) and recomputes every
 * position from scratch with full softmax, in double: no cache, no batching, no threads. */

typedef struct {
    const gguf_file *f;
} naive;

/* blk.l.what, or just what when l < 0 */
static const float *nt(const naive *n, const char *what, int l) {
    char name[96];
    if (l < 0)
        snprintf(name, sizeof name, "%s", what);
    else
        snprintf(name, sizeof name, "blk.%d.%s", l, what);
    const gguf_tensor *t = gguf_tensor_find(n->f, name);
    return t ? t->data : NULL;
}

static void n_matvec(double *y, const float *w, const double *x, int n_in, int n_out) {
    for (int o = 0; o < n_out; o++) {
        double s = 0.0;
        for (int i = 0; i < n_in; i++)
            s += (double)w[(size_t)o * n_in + i] * x[i];
        y[o] = s;
    }
}

static void n_rmsnorm(double *y, const double *x, const float *w, int n, double eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double sc = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * sc * (double)w[i];
}

static void n_rope(double *v, int pos, int n_rot, bool neox, const float *factors) {
    for (int i = 0; i < n_rot / 2; i++) {
        double freq = pow(10000.0, -2.0 * i / n_rot);
        if (factors) freq /= (double)factors[i];
        double th = pos * freq, c = cos(th), s = sin(th);
        int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
        double x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

/* logits (n_vocab) of the last of toks[0..T) */
static void naive_forward(const tiny_spec *s, const gguf_file *f, const int32_t *toks, int T,
                          double *logits) {
    naive n = {f};
    int E = s->n_embd, H = s->n_head, KV = s->n_head_kv, hd = s->head_dim, F = s->n_ff;
    int n_rot = s->n_rot ? s->n_rot : hd, grp = H / KV;
    bool neox = strcmp(s->arch, "llama") != 0, bias = !strcmp(s->arch, "qwen2"),
         qkn = !strcmp(s->arch, "qwen3");
    double eps = 1e-6;
    const float *factors = s->rope_freqs ? nt(&n, "rope_freqs.weight", -1) : NULL;
    double *x = calloc((size_t)T * E, sizeof(double)), *xb = calloc((size_t)E, sizeof(double));
    double *q = calloc((size_t)H * hd, sizeof(double)),
           *K = calloc((size_t)T * KV * hd, sizeof(double));
    double *V = calloc((size_t)T * KV * hd, sizeof(double)),
           *att = calloc((size_t)H * hd, sizeof(double));
    double *o = calloc((size_t)E, sizeof(double)), *g = calloc((size_t)F, sizeof(double)),
           *u = calloc((size_t)F, sizeof(double));
    double *sc = calloc((size_t)T, sizeof(double)), *qk = calloc((size_t)H * hd, sizeof(double));
    const float *emb = nt(&n, "token_embd.weight", -1);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < E; i++)
            x[(size_t)t * E + i] = (double)emb[(size_t)toks[t] * E + i];
    for (int l = 0; l < s->n_layer; l++) {
        /* K, V of every position first, then each position's attention */
        for (int t = 0; t < T; t++) {
            n_rmsnorm(xb, x + (size_t)t * E, nt(&n, "attn_norm.weight", l), E, eps);
            double *k = K + (size_t)t * KV * hd, *v = V + (size_t)t * KV * hd;
            n_matvec(k, nt(&n, "attn_k.weight", l), xb, E, KV * hd);
            n_matvec(v, nt(&n, "attn_v.weight", l), xb, E, KV * hd);
            if (bias)
                for (int i = 0; i < KV * hd; i++) {
                    k[i] += (double)nt(&n, "attn_k.bias", l)[i];
                    v[i] += (double)nt(&n, "attn_v.bias", l)[i];
                }
            for (int h = 0; h < KV; h++) {
                if (qkn) {
                    for (int i = 0; i < hd; i++)
                        qk[i] = k[h * hd + i];
                    n_rmsnorm(k + h * hd, qk, nt(&n, "attn_k_norm.weight", l), hd, eps);
                }
                n_rope(k + h * hd, t, n_rot, neox, factors);
            }
        }
        double *xn = calloc((size_t)T * E, sizeof(double));
        for (int t = 0; t < T; t++) {
            n_rmsnorm(xb, x + (size_t)t * E, nt(&n, "attn_norm.weight", l), E, eps);
            n_matvec(q, nt(&n, "attn_q.weight", l), xb, E, H * hd);
            if (bias)
                for (int i = 0; i < H * hd; i++)
                    q[i] += (double)nt(&n, "attn_q.bias", l)[i];
            for (int h = 0; h < H; h++) {
                if (qkn) {
                    for (int i = 0; i < hd; i++)
                        qk[i] = q[h * hd + i];
                    n_rmsnorm(q + h * hd, qk, nt(&n, "attn_q_norm.weight", l), hd, eps);
                }
                n_rope(q + h * hd, t, n_rot, neox, factors);
                int kh = h / grp;
                double mx = -1e300, sum = 0.0;
                for (int j = 0; j <= t; j++) {
                    double d = 0.0;
                    for (int i = 0; i < hd; i++)
                        d += q[h * hd + i] * K[((size_t)j * KV + kh) * hd + i];
                    sc[j] = d / sqrt((double)hd);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= t; j++)
                    sum += (sc[j] = exp(sc[j] - mx));
                for (int i = 0; i < hd; i++) {
                    double a = 0.0;
                    for (int j = 0; j <= t; j++)
                        a += sc[j] / sum * V[((size_t)j * KV + kh) * hd + i];
                    att[h * hd + i] = a;
                }
            }
            n_matvec(o, nt(&n, "attn_output.weight", l), att, H * hd, E);
            for (int i = 0; i < E; i++)
                xn[(size_t)t * E + i] = x[(size_t)t * E + i] + o[i];
            n_rmsnorm(xb, xn + (size_t)t * E, nt(&n, "ffn_norm.weight", l), E, eps);
            n_matvec(g, nt(&n, "ffn_gate.weight", l), xb, E, F);
            n_matvec(u, nt(&n, "ffn_up.weight", l), xb, E, F);
            for (int i = 0; i < F; i++)
                g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            n_matvec(o, nt(&n, "ffn_down.weight", l), g, F, E);
            for (int i = 0; i < E; i++)
                xn[(size_t)t * E + i] += o[i];
        }
        memcpy(x, xn, (size_t)T * E * sizeof(double));
        free(xn);
    }
    n_rmsnorm(xb, x + (size_t)(T - 1) * E, nt(&n, "output_norm.weight", -1), E, eps);
    const float *out = s->tied ? emb : nt(&n, "output.weight", -1);
    n_matvec(logits, out, xb, E, s->n_vocab);
    free(x);
    free(xb);
    free(q);
    free(K);
    free(V);
    free(att);
    free(o);
    free(g);
    free(u);
    free(sc);
    free(qk);
}

/* The engine (F32 cache) against the naive pass, at every position of a 12-token sequence. */
static void check_against_naive(const tiny_spec *s, const char *tag) {
    char path[256];
    tmp_path(path, sizeof path, tag);
    write_tiny(path, s);
    he_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    cr_assert(f, "%s", err.msg);
    hearth_model *m = load_ok(path);
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = 32;
    p.kv_type = HEARTH_KV_F32;
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    cr_assert(c, "%s", err.msg);
    enum { T = 12 };
    int32_t toks[T];
    for (int i = 0; i < T; i++)
        toks[i] = (int32_t)((i * 7 + 3) % s->n_vocab);
    hearth_batch b;
    hearth_batch_init(&b, T);
    for (int i = 0; i < T; i++)
        hearth_batch_add(&b, toks[i], i, 0, true);
    decode_ok(c, &b);
    double *ref = malloc((size_t)s->n_vocab * sizeof(double));
    double worst = 0.0, scale = 0.0;
    for (int t = 1; t <= T; t++) {
        naive_forward(s, f, toks, t, ref);
        const float *got = hearth_logits(c, t - 1);
        for (int i = 0; i < s->n_vocab; i++) {
            double d = fabs((double)got[i] - ref[i]);
            if (d > worst) worst = d;
            if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
        }
    }
    cr_log_info("%s: engine vs naive max |dlogit| %.2e (logits up to %.1f)", tag, worst, scale);
    cr_assert(worst <= 1e-4 * (scale > 1.0 ? scale : 1.0),
              "%s: engine differs from the naive pass by %g", tag, worst);
    free(ref);
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
    hearth_model_free(m);
    gguf_close(f);
    unlink(path);
}

Test(model, naive_pass_agrees_llama) {
    tiny_spec s = tiny("llama");
    check_against_naive(&s, "naive_llama");
    s.tied = true;
    s.n_rot = 4;
    check_against_naive(&s, "naive_llama_tied_partial");
    s = tiny("llama");
    s.rope_freqs = true;
    check_against_naive(&s, "naive_llama3_freqs");
}

Test(model, naive_pass_agrees_qwen2) {
    tiny_spec s = tiny("qwen2");
    check_against_naive(&s, "naive_qwen2");
}

Test(model, naive_pass_agrees_qwen3) {
    tiny_spec s = tiny("qwen3");
    s.head_dim = 16;
    check_against_naive(&s, "naive_qwen3");
}

Test(model, quantized_weights_q8_0_f16_q4_0) {
    static const tensor_type types[] = {TENSOR_TYPE_Q8_0, TENSOR_TYPE_F16, TENSOR_TYPE_Q4_0};
    static const char *tags[] = {"qwen2_q8_0", "qwen3_f16", "llama_q4_0"};
    static const char *arch[] = {"qwen2", "qwen3", "llama"};
    for (int i = 0; i < 3; i++) {
        tiny_spec s = tiny(arch[i]);
        s.wtype = types[i];
        check_arch(&s, tags[i]);
    }
}

/* ---- Loader errors ---- */

static void expect_load_error(const tiny_spec *s, const char *tag, he_code code,
                              const char *const *needles) {
    char path[256];
    tmp_path(path, sizeof path, tag);
    write_tiny(path, s);
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert_null(m, "%s: loaded", tag);
    cr_assert_eq(err.code, code, "%s: code %d: %s", tag, (int)err.code, err.msg);
    for (int i = 0; needles[i]; i++)
        cr_assert(strstr(err.msg, needles[i]), "%s: '%s' lacks '%s'", tag, err.msg, needles[i]);
    unlink(path);
}

Test(model, missing_tensors_are_all_listed) {
    tiny_spec s = tiny("qwen2");
    s.skip[0] = "blk.0.attn_q.weight";
    s.skip[1] = "blk.1.ffn_up.weight";
    s.skip[2] = "blk.1.attn_k.bias";
    const char *need[] = {"missing 3 tensors", "blk.0.attn_q.weight", "blk.1.ffn_up.weight",
                          "blk.1.attn_k.bias", NULL};
    expect_load_error(&s, "missing", HE_FORMAT, need);
}

Test(model, wrong_shape_names_tensor_and_expected_shape) {
    tiny_spec s = tiny("llama");
    s.bad_shape = "blk.1.attn_v.weight";
    const char *need[] = {"blk.1.attn_v.weight", "[33, 16, 1, 1]", "expected [32, 16]", NULL};
    expect_load_error(&s, "shape", HE_FORMAT, need);
}

Test(model, zero_heads_is_an_error_not_a_division) {
    tiny_spec s = tiny("llama");
    s.head_count_override = 0;
    const char *need[] = {"attention.head_count", NULL};
    expect_load_error(&s, "heads0", HE_FORMAT, need);
}

Test(model, rope_dims_beyond_head_size_rejected) {
    tiny_spec s = tiny("llama");
    s.n_rot = 16; /* head size 8 */
    const char *need[] = {"rope.dimension_count", NULL};
    expect_load_error(&s, "nrot", HE_FORMAT, need);
}

Test(model, unknown_architecture_rejected) {
    tiny_spec s = tiny("gpt-neo-17");
    const char *need[] = {"gpt-neo-17", "not supported", NULL};
    expect_load_error(&s, "arch", HE_UNSUPPORTED, need);
}

Test(model, qk_norm_tensors_required_for_qwen3) {
    tiny_spec s = tiny("qwen3");
    s.skip[0] = "blk.0.attn_k_norm.weight";
    const char *need[] = {"blk.0.attn_k_norm.weight", NULL};
    expect_load_error(&s, "qknorm", HE_FORMAT, need);
}

/* Hostile hyperparameters (SECURITY.md G25): every key at 0, 1, odd and huge values either loads
 * a consistent model or fails with an error; nothing crashes, divides by zero or over-reads
 * (this file also runs under ASan). */
Test(model, hostile_hparams_fail_cleanly, .timeout = 60) {
    static const char *keys[] = {"embedding_length",        "block_count",
                                 "feed_forward_length",     "attention.head_count",
                                 "attention.head_count_kv", "attention.key_length",
                                 "attention.value_length",  "rope.dimension_count",
                                 "context_length"};
    static const uint32_t vals[] = {0, 1, 3, 7, 33, 100000, 0x7fffffffu, 0xffffffffu};
    char path[256];
    tmp_path(path, sizeof path, "hostile");
    int n_loaded = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) {
            tiny_spec s = tiny("qwen3");
            s.override_key = keys[i];
            s.override_val = vals[j];
            write_tiny(path, &s);
            he_error err = {0};
            hearth_model *m = hearth_model_load(path, NULL, &err);
            if (!m) {
                cr_assert_neq(err.code, HE_OK, "%s = %u: failed without an error", keys[i],
                              vals[j]);
                cr_assert(err.msg[0], "%s = %u: empty message", keys[i], vals[j]);
                continue;
            }
            n_loaded++; /* e.g. context_length = 1, or a value equal to the real one */
            hearth_ctx *c = ctx_ok(m, 8, 1, 4, 1);
            hearth_batch b;
            hearth_batch_init(&b, 2);
            hearth_batch_add(&b, 1, 0, 0, true);
            decode_ok(c, &b);
            hearth_batch_deinit(&b);
            hearth_ctx_free(c);
            hearth_model_free(m);
        }
    cr_assert(n_loaded > 0 && n_loaded < 20, "%d of 72 variants loaded", n_loaded);
    unlink(path);
}

Test(model, misaligned_tensor_data_rejected) {
    tiny_spec s = tiny("llama");
    s.alignment = 2;
    s.wtype = TENSOR_TYPE_Q8_0; /* 34-byte blocks: with alignment 2 a later tensor lands off 4 */
    s.n_vocab = 65;
    char path[256];
    tmp_path(path, sizeof path, "align");
    write_tiny(path, &s);
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert_null(m, "loaded a model with misaligned tensors");
    cr_assert(strstr(err.msg, "not 4-byte aligned"), "%s", err.msg);
    unlink(path);
}

Test(model, missing_file_is_an_error) {
    he_error err = {0};
    cr_assert_null(hearth_model_load("/nonexistent/model.gguf", NULL, &err));
    cr_assert_neq(err.code, HE_OK);
}
