/* test_swa_cache.c — the sliding-window ring of the KV cache (kv_cache.c).
 *
 * Each check runs the same batches through two contexts of one model: one with the ring (the
 * default whenever n_seq * (n_swa - 1) + n_batch < n_ctx) and one with swa_full (every layer
 * keeps all n_ctx rows: the path as it was before the ring), and requires every logit to be
 * the same bit for bit. The generated models have a window of 8 and the contexts run to 10+
 * windows: tiny-gemma2 (13 of 26 layers sliding, soft-capping), tiny-gpt-oss (half the layers,
 * attention sinks, MoE), tiny-phi3 (every layer sliding). Covered: a prompt in chunks then
 * one-token decodes; three sequences batched together, and each alone (batch invariance);
 * dropping a tail within what the ring keeps, and past it (the sequence is dropped whole and
 * recomputed, never served stale K/V); prefix sharing by hearth_kv_seq_cp; F16 and Q8_0
 * caches (F32 takes the F16 path but for the element size: passed too, left out for time);
 * the tiled and the exact attention paths. And the memory: the ring's bytes are what the
 * formula says, far below the full cache's. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/hearth.h"
#include "model/synth.h"

enum { N_BATCH = 16, WINDOW = 8 };

static hearth_model *make(const char *shape, char *path, size_t cap) {
    snprintf(path, cap, "/tmp/hearth_test_swa_%s_%d.gguf", shape, (int)getpid());
    synth_params sp = {.shape = shape, .ftype = QUANT_FTYPE_ALL_F32, .seed = 11, .n_threads = 2};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&sp, path, &err), 0, "%s", err.msg);
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

static hearth_ctx *mk(const hearth_model *m, hearth_kv_type kv, int n_ctx, int n_seq, bool full) {
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = n_ctx;
    p.n_seq = n_seq;
    p.n_batch = N_BATCH;
    p.n_threads = 2;
    p.kv_type = kv;
    p.swa_full = full;
    he_error err = {0};
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    cr_assert(c, "%s", err.msg);
    return c;
}

/* A ring context and a full one, fed the same batches. */
typedef struct {
    hearth_ctx *ring, *full;
    int32_t n_vocab;
    int compared; /* logits rows compared */
} pair;

static void decode_ok(hearth_ctx *c, const hearth_batch *b) {
    he_error err = {0};
    cr_assert_eq(hearth_decode(c, b, &err), 0, "%s", err.msg);
}

/* Decodes b on both; every entry asking for logits must get the same bytes. */
static void both(pair *p, const hearth_batch *b, const char *what) {
    decode_ok(p->ring, b);
    decode_ok(p->full, b);
    for (int32_t i = 0; i < b->n_tokens; i++) {
        if (!b->logits[i]) continue;
        const float *x = hearth_logits(p->ring, i), *y = hearth_logits(p->full, i);
        cr_assert(x && y);
        cr_assert_eq(memcmp(x, y, (size_t)p->n_vocab * sizeof(float)), 0,
                     "%s: entry %d (seq %d, pos %d): the ring's logits differ from the full "
                     "cache's",
                     what, i, b->seq_id[i], b->pos[i]);
        p->compared++;
    }
}

static int32_t tok(uint32_t *seed, int32_t nv) {
    *seed = *seed * 1664525u + 1013904223u;
    return (int32_t)((*seed >> 8) % (uint32_t)(nv - 3)) + 3;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Feeds n tokens of seq (from seed) on one context only, in batches; no logits. */
static void refeed(hearth_ctx *c, hearth_batch *b, int32_t seq, int32_t from, int32_t to,
                   const int32_t *toks) {
    for (int32_t p0 = from; p0 < to; p0 += N_BATCH) {
        hearth_batch_clear(b);
        for (int32_t p = p0; p < to && p < p0 + N_BATCH; p++)
            hearth_batch_add(b, toks[p], p, seq, false);
        decode_ok(c, b);
    }
}

/* Prompt of 100 tokens in chunks of 13 (logits for every entry), 30 one-token decodes, a tail
 * dropped within the ring and regrown, then a rollback past the ring. */
static void single_sequence(pair *p) {
    hearth_batch b;
    hearth_batch_init(&b, N_BATCH);
    int32_t toks[256];
    uint32_t seed = 5;
    int32_t n = 0;
    for (; n < 100; n++)
        toks[n] = tok(&seed, p->n_vocab);
    for (int32_t p0 = 0; p0 < 100; p0 += 13) {
        hearth_batch_clear(&b);
        for (int32_t i = p0; i < 100 && i < p0 + 13; i++)
            hearth_batch_add(&b, toks[i], i, 0, true);
        both(p, &b, "prompt chunk");
    }
    for (int step = 0; step < 30; step++) {
        toks[n] = argmax(hearth_logits(p->full, b.n_tokens - 1), p->n_vocab);
        hearth_batch_clear(&b);
        hearth_batch_add(&b, toks[n], n, 0, true);
        n++;
        both(p, &b, "decode");
    }
    /* a speculative-style rollback: 6 draft tokens, keep 2 */
    hearth_batch_clear(&b);
    for (int i = 0; i < 6; i++)
        hearth_batch_add(&b, tok(&seed, p->n_vocab), n + i, 0, true);
    both(p, &b, "draft");
    hearth_kv_seq_rm(p->ring, 0, n + 2, -1);
    hearth_kv_seq_rm(p->full, 0, n + 2, -1);
    cr_assert_eq(hearth_kv_seq_pos_max(p->ring, 0), n + 1,
                 "a rollback within the last batch "
                 "must keep the sequence");
    n += 2;
    for (int step = 0; step < 10; step++) {
        toks[n] = tok(&seed, p->n_vocab);
        hearth_batch_clear(&b);
        hearth_batch_add(&b, toks[n], n, 0, true);
        n++;
        both(p, &b, "decode after rollback");
    }
    /* back to position 50: the ring gave those rows away, so the sequence goes whole and is
     * recomputed; the full cache keeps 0..49 */
    hearth_kv_seq_rm(p->ring, 0, 50, -1);
    hearth_kv_seq_rm(p->full, 0, 50, -1);
    cr_assert_eq(hearth_kv_seq_pos_max(p->full, 0), 49);
    cr_assert_eq(hearth_kv_seq_pos_max(p->ring, 0), -1,
                 "a rollback past the ring must drop the sequence, not keep a stale window");
    refeed(p->ring, &b, 0, 0, 50, toks);
    for (int32_t p0 = 50; p0 < 80; p0 += 7) {
        hearth_batch_clear(&b);
        for (int32_t i = p0; i < 80 && i < p0 + 7; i++)
            hearth_batch_add(&b, toks[i] ^ 1, i, 0, true);
        both(p, &b, "after a rollback past the ring");
    }
    hearth_batch_deinit(&b);
}

/* Three sequences of different lengths, prompts and decodes mixed in batches; each sequence's
 * logits also equal those of the same tokens decoded alone (one sequence, ring). */
static void batched(pair *p, const hearth_model *m, hearth_kv_type kv) {
    enum { S = 3, LEN = 90 };
    int32_t toks[S][LEN];
    uint32_t seed = 9;
    for (int s = 0; s < S; s++)
        for (int i = 0; i < LEN; i++)
            toks[s][i] = tok(&seed, p->n_vocab);
    const int32_t plen[S] = {40, 23, 61};
    static float got[S][LEN][1024];
    cr_assert_leq(p->n_vocab, 1024);
    hearth_batch b;
    hearth_batch_init(&b, N_BATCH);
    int32_t at[S] = {0, 0, 0};
    /* prompts: up to 5 tokens of each sequence per batch, then one token each */
    for (;;) {
        hearth_batch_clear(&b);
        for (int s = 0; s < S; s++) {
            int32_t lim = at[s] < plen[s] ? plen[s] : LEN, take = at[s] < plen[s] ? 5 : 1;
            for (int k = 0; k < take && at[s] < lim; k++, at[s]++)
                hearth_batch_add(&b, toks[s][at[s]], at[s], s, true);
        }
        if (!b.n_tokens) break;
        both(p, &b, "batched sequences");
        for (int32_t i = 0; i < b.n_tokens; i++)
            memcpy(got[b.seq_id[i]][b.pos[i]], hearth_logits(p->ring, i),
                   (size_t)p->n_vocab * sizeof(float));
    }
    /* each alone, in one-sequence ring contexts with other chunkings */
    for (int s = 0; s < S; s++) {
        hearth_ctx *c = mk(m, kv, 128, 1, false);
        for (int32_t p0 = 0; p0 < LEN; p0 += 11) {
            hearth_batch_clear(&b);
            for (int32_t i = p0; i < LEN && i < p0 + 11; i++)
                hearth_batch_add(&b, toks[s][i], i, 0, true);
            decode_ok(c, &b);
            for (int32_t i = 0; i < b.n_tokens; i++)
                cr_assert_eq(memcmp(hearth_logits(c, i), got[s][b.pos[i]],
                                    (size_t)p->n_vocab * sizeof(float)),
                             0, "sequence %d position %d alone differs from batched", s, b.pos[i]);
        }
        hearth_ctx_free(c);
    }
    hearth_batch_deinit(&b);
}

/* A shared prefix: sequence 0 decodes 60 tokens; sequence 1 gets all of it by seq_cp and
 * continues; sequence 2 gets positions [0, 20) — beyond the ring, so it is dropped and
 * recomputed there — and continues differently. */
static void shared_prefix(pair *p) {
    hearth_batch b;
    hearth_batch_init(&b, N_BATCH);
    int32_t toks[128];
    uint32_t seed = 21;
    for (int i = 0; i < 128; i++)
        toks[i] = tok(&seed, p->n_vocab);
    for (int32_t p0 = 0; p0 < 60; p0 += N_BATCH) {
        hearth_batch_clear(&b);
        for (int32_t i = p0; i < 60 && i < p0 + N_BATCH; i++)
            hearth_batch_add(&b, toks[i], i, 0, true);
        both(p, &b, "prefix");
    }
    hearth_ctx *cs[2] = {p->ring, p->full};
    for (int k = 0; k < 2; k++) {
        hearth_kv_seq_cp(cs[k], 0, 1, 0, -1);
        hearth_kv_seq_cp(cs[k], 0, 2, 0, 20);
    }
    cr_assert_eq(hearth_kv_seq_pos_max(p->ring, 1), 59, "a whole copy keeps its window");
    cr_assert_eq(hearth_kv_seq_pos_max(p->full, 2), 19);
    cr_assert_eq(hearth_kv_seq_pos_max(p->ring, 2), -1, "a copy ending past the ring is dropped");
    refeed(p->ring, &b, 2, 0, 20, toks);
    for (int step = 0; step < 40; step++) {
        hearth_batch_clear(&b);
        hearth_batch_add(&b, toks[60 + step], 60 + step, 1, true);
        hearth_batch_add(&b, toks[step] ^ 2, 20 + step, 2, true);
        if (step % 3 == 0) hearth_batch_add(&b, toks[step + 3], 60 + step / 3, 0, true);
        both(p, &b, "after seq_cp");
    }
    hearth_batch_deinit(&b);
}

static void run_all(const char *shape, hearth_kv_type kv, const char *attn) {
    setenv("HEARTH_ATTN", attn, 1);
    char path[256];
    hearth_model *m = make(shape, path, sizeof path);
    pair p = {.n_vocab = hearth_model_n_vocab(m)};

    p.ring = mk(m, kv, 256, 1, false);
    p.full = mk(m, kv, 256, 1, true);
    const size_t rb = hearth_ctx_kv_bytes(p.ring), fb = hearth_ctx_kv_bytes(p.full);
    cr_assert_eq(hearth_ctx_swa_rows(p.ring), WINDOW - 1 + N_BATCH);
    cr_assert_eq(hearth_ctx_swa_rows(p.full), 256);
    cr_assert_eq(hearth_ctx_kv_bytes_full(p.ring), fb);
    cr_assert_eq(hearth_ctx_kv_bytes_full(p.full), fb);
    cr_assert_lt(rb, fb);
    single_sequence(&p);
    hearth_ctx_free(p.ring);
    hearth_ctx_free(p.full);

    p.ring = mk(m, kv, 3 * 128, 3, false);
    p.full = mk(m, kv, 3 * 128, 3, true);
    cr_assert_eq(hearth_ctx_swa_rows(p.ring), 3 * (WINDOW - 1) + N_BATCH);
    batched(&p, m, kv);
    hearth_kv_clear(p.ring);
    hearth_kv_clear(p.full);
    shared_prefix(&p);
    hearth_ctx_free(p.ring);
    hearth_ctx_free(p.full);
    cr_log_info("%s %s %s: %d logits rows identical; KV %zu bytes with the ring, %zu full "
                "(n_ctx 256, n_batch %d)",
                shape, hearth_kv_type_name(kv), attn, p.compared, rb, fb, N_BATCH);
    hearth_model_free(m);
    unlink(path);
    unsetenv("HEARTH_ATTN");
}

Test(swa_cache, gemma2_f16_tiled) { run_all("tiny-gemma2", HEARTH_KV_F16, "tiled"); }
Test(swa_cache, gemma2_f16_exact) { run_all("tiny-gemma2", HEARTH_KV_F16, "exact"); }
Test(swa_cache, gemma2_q8_0_tiled) { run_all("tiny-gemma2", HEARTH_KV_Q8_0, "tiled"); }
Test(swa_cache, gemma2_q8_0_exact) { run_all("tiny-gemma2", HEARTH_KV_Q8_0, "exact"); }
Test(swa_cache, gpt_oss_f16_tiled) { run_all("tiny-gpt-oss", HEARTH_KV_F16, "tiled"); }
Test(swa_cache, phi3_f16_tiled) { run_all("tiny-phi3", HEARTH_KV_F16, "tiled"); }
Test(swa_cache, phi3_q8_0_exact) { run_all("tiny-phi3", HEARTH_KV_Q8_0, "exact"); }

/* The figure: bytes of the ring against the full cache are the layer arithmetic exactly
 * (tiny-gemma2: 13 of its 26 layers slide). */
Test(swa_cache, bytes_follow_the_layers) {
    char path[256];
    hearth_model *m = make("tiny-gemma2", path, sizeof path);
    hearth_ctx *r = mk(m, HEARTH_KV_F16, 1024, 1, false);
    const size_t full = hearth_ctx_kv_bytes_full(r), per_row = full / (26 * 1024);
    const size_t rows = WINDOW - 1 + N_BATCH;
    cr_assert_eq(hearth_ctx_kv_bytes(r), per_row * (13 * 1024 + 13 * rows));
    cr_log_info("tiny-gemma2 at n_ctx 1024: KV %zu bytes with the ring, %zu full",
                hearth_ctx_kv_bytes(r), full);
    hearth_ctx_free(r);
    /* a ring no smaller than the context is no ring */
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = 16;
    p.n_batch = 16;
    he_error err = {0};
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    cr_assert(c, "%s", err.msg);
    cr_assert_eq(hearth_ctx_kv_bytes(c), hearth_ctx_kv_bytes_full(c));
    cr_assert_eq(hearth_ctx_swa_rows(c), 16);
    hearth_ctx_free(c);
    hearth_model_free(m);
    unlink(path);
}
