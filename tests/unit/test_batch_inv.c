/* test_batch_inv.c — batch invariance (docs/ENGINE.md "Batch invariance"): a sequence's logits
 * are bit for bit the same whatever else shares its context: other sequences in the same
 * batch, prompt chunks of any size beside single steps, and — the case that broke it — cells
 * freed by another sequence (a finished request) and then taken by this one's later tokens,
 * below its earlier cells. Attention sums over a sequence's cells in position order
 * (hearth_kv_list); summed in cell order, that layout moved logits by up to 7e-3 on this model
 * and a served seeded request (temperature > 0) could part from the same request alone.
 * Model: tiny-qwen3 with Q8_0 weights (as server_spec.test.mjs serves it), generated. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/hearth.h"
#include "model/synth.h"

static char model_path[256];

static void make_model(void) {
    snprintf(model_path, sizeof model_path, "/tmp/hearth_test_batch_inv_%d.gguf", (int)getpid());
    synth_params sp = {
        .shape = "tiny-qwen3", .ftype = QUANT_FTYPE_MOSTLY_Q8_0, .seed = 1, .n_threads = 2};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&sp, model_path, &err), 0, "%s", err.msg);
}
static void drop_model(void) { unlink(model_path); }
TestSuite(batch_inv, .init = make_model, .fini = drop_model, .timeout = 120);

static void tokens(int32_t *t, int n, int nv, uint32_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        t[i] = (int32_t)((seed >> 8) % (uint32_t)nv);
    }
}

/* Three sequences of LEN tokens, the first PROMPT of them a prompt (the reference decodes it in
 * one batch). Long enough that attention sums more than 64 cells per row (ggml's 64 float
 * lanes, where order matters). */
enum { NS = 3, LEN = 256, PROMPT = 90 };

typedef enum {
    ALONE,      /* sequence 0 alone, then 1 and 2 together */
    STAGGERED,  /* all three, in reverse order in each batch, 1 and 2 starting later */
    CHUNKED,    /* prompts in chunks of 1..11 beside the others' single steps */
    FREED_BELOW /* sequence 1's prompt takes the first cells, 0's the next ones; 1 leaves; 0's
                   later tokens land in the freed cells, below its prompt's */
} layout;

/* Every position's logits of every sequence, decoded as `how` says, into out (NS*LEN*nv). */
static void run(const hearth_model *m, hearth_kv_type kv, layout how, int prompt,
                int32_t toks[NS][LEN], float *out) {
    const int nv = hearth_model_n_vocab(m);
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = 1024;
    p.n_seq = NS;
    p.n_batch = 512;
    p.n_outputs = 512;
    p.n_threads = 2;
    p.kv_type = kv;
    he_error err = {0};
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    cr_assert(c, "%s", err.msg);
    hearth_batch b;
    hearth_batch_init(&b, 512);
    int cur[NS] = {0};
    if (how == FREED_BELOW) {
        for (int s = 1; s >= 0; s--) {
            hearth_batch_clear(&b);
            for (int k = 0; k < prompt; k++)
                hearth_batch_add(&b, toks[s][k], k, s, true);
            cr_assert_eq(hearth_decode(c, &b, &err), 0, "%s", err.msg);
            for (int i = 0; i < b.n_tokens; i++)
                memcpy(out + ((size_t)s * LEN + (size_t)b.pos[i]) * (size_t)nv, hearth_logits(c, i),
                       (size_t)nv * sizeof(float));
            cur[s] = prompt;
        }
        hearth_kv_seq_rm(c, 1, -1, -1);
        cur[1] = cur[2] = LEN; /* only sequence 0 goes on */
    }
    for (int step = 0;; step++) {
        hearth_batch_clear(&b);
        for (int s0 = 0; s0 < NS; s0++) {
            const int s = how == ALONE ? s0 : NS - 1 - s0;
            if (how == ALONE && s != 0 && cur[0] < LEN) continue;
            if (how == STAGGERED && s != 0 && cur[s] == 0 && step < 2 + s) continue;
            int len = 1;
            if (cur[s] < prompt) len = how == CHUNKED ? 1 + (step * 7 + s * 3) % 11 : prompt;
            for (int k = 0; k < len && cur[s] < LEN; k++, cur[s]++)
                hearth_batch_add(&b, toks[s][cur[s]], cur[s], s, true);
        }
        if (!b.n_tokens) break;
        cr_assert_eq(hearth_decode(c, &b, &err), 0, "%s", err.msg);
        for (int i = 0; i < b.n_tokens; i++)
            memcpy(out + ((size_t)b.seq_id[i] * LEN + (size_t)b.pos[i]) * (size_t)nv,
                   hearth_logits(c, i), (size_t)nv * sizeof(float));
    }
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
}

/* The first position of sequence s whose logits differ in any bit, or -1. */
static int first_diff(const float *a, const float *b, int s, int nv) {
    for (int pos = 0; pos < LEN; pos++) {
        const size_t o = ((size_t)s * LEN + (size_t)pos) * (size_t)nv;
        if (memcmp(a + o, b + o, (size_t)nv * sizeof(float))) return pos;
    }
    return -1;
}

static void check(hearth_kv_type kv, const char *attn) {
    setenv("HEARTH_ATTN", attn, 1);
    he_error err = {0};
    hearth_model *m = hearth_model_load(model_path, NULL, &err);
    cr_assert(m, "%s", err.msg);
    const int nv = hearth_model_n_vocab(m);
    int32_t toks[NS][LEN];
    for (int s = 0; s < NS; s++)
        tokens(toks[s], LEN, nv, 100u + (uint32_t)s);
    const size_t n = (size_t)NS * LEN * (size_t)nv;
    float *ref = calloc(n, sizeof(float)), *got = calloc(n, sizeof(float));
    cr_assert(ref && got);
    run(m, kv, ALONE, PROMPT, toks, ref);
    /* the freed-cells layout with two prompt lengths: whether a reordered sum changes a bit is
     * a matter of the values, and each of these caught the cell-order bug on some cache type */
    static const struct {
        layout how;
        int prompt;
        const char *name;
    } runs[] = {{STAGGERED, PROMPT, "staggered"},
                {CHUNKED, PROMPT, "chunked"},
                {FREED_BELOW, 70, "freed cells below a 70-token prompt"},
                {FREED_BELOW, 128, "freed cells below a 128-token prompt"}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        memset(got, 0, n * sizeof(float));
        run(m, kv, runs[r].how, runs[r].prompt, toks, got);
        /* freed cells: only sequence 0 decodes all its positions */
        const int ns = runs[r].how == FREED_BELOW ? 1 : NS;
        for (int s = 0; s < ns; s++) {
            const int d = first_diff(ref, got, s, nv);
            cr_expect_eq(d, -1, "%s attention, kv %d, %s: sequence %d differs from position %d",
                         attn, (int)kv, runs[r].name, s, d);
        }
    }
    free(ref);
    free(got);
    hearth_model_free(m);
    unsetenv("HEARTH_ATTN");
}

Test(batch_inv, tiled_f16_cache) { check(HEARTH_KV_F16, "tiled"); }
Test(batch_inv, tiled_q8_0_cache) { check(HEARTH_KV_Q8_0, "tiled"); }
Test(batch_inv, tiled_f32_cache) { check(HEARTH_KV_F32, "tiled"); }
Test(batch_inv, exact_f16_cache) { check(HEARTH_KV_F16, "exact"); }
Test(batch_inv, exact_q8_0_cache) { check(HEARTH_KV_Q8_0, "exact"); }
