/* bench_grammar.c — the cost of the grammar mask on a real vocab: microseconds per
 * gram_matcher_mask at several positions of a JSON grammar, and per gram_matcher_allows.
 *
 *   build/release/bench/bench_grammar [VOCAB.gguf [REPS]]
 *       (default tests/data/vocab/ggml-vocab-qwen2.gguf, 20)
 *   make bench-grammar
 *
 * The positions are where a JSON object spends its tokens: before a key, inside a string,
 * inside a number, after a value. "walk" is the first mask in a state (the trie walk, best of REPS
 * fresh matchers); "cached"
 * the same state again (the matcher keeps the last few masks by state). Last, the cost of the
 * forced-output bookkeeping (gram_sample_room, gram_matcher_need) per sampled token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "tokenizer/tokenizer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: steadier on a shared machine */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "tests/data/vocab/ggml-vocab-qwen2.gguf";
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (reps < 1) reps = 1;
    he_error err;
    gguf_file *f = gguf_open(path, &err);
    if (!f) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    tok_vocab *tv = tok_vocab_load(f, &err);
    gguf_close(f);
    if (!tv) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    double t0 = now_s();
    gram_vocab *gv = gram_vocab_from_tok(tv, &err);
    double t_index = now_s() - t0;
    json_t *schema =
        json_loads("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                   "\"age\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":"
                   "{\"type\":\"string\"}},\"code\":{\"type\":\"string\",\"maxLength\":16}},"
                   "\"required\":[\"name\",\"age\"]}",
                   0, NULL);
    char *text = gram_schema_to_gbnf(schema, &err);
    json_decref(schema);
    if (!text) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    gram_grammar *g = gram_parse(text, strlen(text), NULL, &err);
    if (!g) {
        fprintf(stderr, "bench_grammar: %s\n", err.msg);
        return 1;
    }
    int32_t n = tok_n_vocab(tv);
    printf("vocab %s: %d tokens, indexed in %.1f ms\n", path, n, t_index * 1e3);
    float *logits = malloc((size_t)n * sizeof *logits);
    const char *pos[][2] = {{"start", ""},
                            {"in a string", "{\"name\": \"Al"},
                            {"in a number", "{\"name\": \"Al\", \"age\": 4"},
                            {"after a value", "{\"name\": \"Al\", \"age\": 42"},
                            {"in an array", "{\"name\": \"Al\", \"age\": 42, \"tags\": [\"x\", "},
                            {"maxLength str", "{\"name\": \"Al\", \"age\": 42, \"code\": \"ab"}};
    for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
        gram_matcher *m = gram_matcher_new(g, gv, &err);
        if (gram_matcher_accept_bytes(m, pos[k][1], strlen(pos[k][1]), &err)) {
            fprintf(stderr, "bench_grammar: %s\n", err.msg);
            return 1;
        }
        double cold = 1e9;
        for (int r = 0; r < reps; r++) { /* the first mask in a state: a trie walk */
            gram_matcher *fm = gram_matcher_new(g, gv, &err);
            gram_matcher_accept_bytes(fm, pos[k][1], strlen(pos[k][1]), NULL);
            double t = now_s();
            gram_matcher_mask(fm, logits);
            t = now_s() - t;
            if (t < cold) cold = t;
            gram_matcher_free(fm);
        }
        int32_t allowed = gram_matcher_mask(m, logits);
        double best = 1e9;
        for (int r = 0; r < reps; r++) { /* the same state again: the matcher's mask cache */
            double t = now_s();
            allowed = gram_matcher_mask(m, logits);
            t = now_s() - t;
            if (t < best) best = t;
        }
        double ta = now_s();
        int hits = 0;
        for (int32_t t = 0; t < n; t++)
            hits += gram_matcher_allows(m, t);
        ta = now_s() - ta;
        printf(
            "%-14s mask %8.3f ms walk, %6.3f ms cached (%6d allowed)   allows(): %.3f us/token\n",
            pos[k][0], cold * 1e3, best * 1e3, allowed, ta * 1e6 / n);
        (void)hits;
        gram_matcher_free(m);
    }
    /* The forced-output bookkeeping (reasoning budget, room guard): gram_sample_room against
     * gram_sample over the same random logits and seed (the difference is the bookkeeping:
     * gram_matcher_need and a need check of the pick), a loose room (the usual case) and a
     * tight one (the guard binds near the end of every sentence), and gram_matcher_need alone. */
    {
        const int n_tok = 400;
        float *scratch = malloc((size_t)n * sizeof *scratch);
        float *rl = malloc((size_t)n * sizeof *rl);
        sample_params sp = sample_params_default();
        sp.temperature = 1.0f;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0.0f;
        double t_run[3] = {0, 0, 0};
        int64_t rooms[3] = {0, 1 << 20, 0};
        int32_t toks[3] = {0, 0, 0};
        for (int mode = 0; mode < 3; mode++) {
            sp.seed = 7;
            sample_chain *sc = sample_chain_new(&sp, n, &err);
            gram_matcher *m = gram_matcher_new(g, gv, &err);
            uint64_t x = 12345;
            int64_t left = 40; /* tight: 40 tokens per sentence */
            for (int i = 0; i < n_tok; i++) {
                for (int32_t t = 0; t < n; t++) {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    rl[t] = (float)(x >> 40) / (float)(1 << 24) * 8.0f;
                }
                double t0b = now_s();
                int32_t tok = mode == 0 ? gram_sample(m, sc, rl, scratch, &err)
                                        : gram_sample_room(m, sc, rl, scratch, mode == 1 ? rooms[1] : left, &err);
                t_run[mode] += now_s() - t0b;
                toks[mode]++;
                left--;
                if (tok < 0 || gram_matcher_must_end(m) || gram_matcher_can_end(m) || left <= 0) {
                    gram_matcher_reset(m);
                    left = 40;
                } else {
                    sample_chain_accept(sc, tok);
                }
            }
            gram_matcher_free(m);
            sample_chain_free(sc);
        }
        gram_matcher *m = gram_matcher_new(g, gv, &err);
        gram_matcher_accept_bytes(m, pos[1][1], strlen(pos[1][1]), NULL);
        double tn = now_s();
        int64_t sink = 0;
        for (int r = 0; r < 100000; r++)
            sink += gram_matcher_need(m);
        tn = now_s() - tn;
        gram_matcher_free(m);
        printf("forced-output bookkeeping, per token (random logits, %d tokens): gram_sample %.3f ms, "
               "gram_sample_room loose %.3f ms (+%.3f), tight (40-token room) %.3f ms (+%.3f); "
               "gram_matcher_need %.3f us (%lld)\n",
               n_tok, t_run[0] * 1e3 / toks[0], t_run[1] * 1e3 / toks[1], (t_run[1] - t_run[0]) * 1e3 / toks[0],
               t_run[2] * 1e3 / toks[2], (t_run[2] - t_run[0]) * 1e3 / toks[0], tn * 1e6 / 100000, (long long)(sink > 0));
        free(scratch);
        free(rl);
    }
    free(logits);
    free(text);
    gram_free(g);
    gram_vocab_free(gv);
    tok_vocab_free(tv);
    return 0;
}
