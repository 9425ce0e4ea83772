/* test_sample.c — the sampler chain: greedy, filters' candidate sets, temperature statistics,
 * seeding, penalties and parameter validation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sample.h"

/* Parameters with every filter off and temperature 1 (pure softmax sampling). */
static sample_params plain(void) {
    sample_params p = sample_params_default();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static sample_chain *make(const sample_params *p, int32_t n) {
    he_error err = {0};
    sample_chain *s = sample_chain_new(p, n, &err);
    cr_assert(s, "sample_chain_new: %s", err.msg);
    return s;
}

/* A small deterministic generator for test data (independent of the chain's PRNG). */
static uint32_t lcg(uint32_t *x) {
    *x = *x * 1664525u + 1013904223u;
    return *x >> 8;
}

static int has(const int32_t *ids, int32_t n, int32_t id) {
    for (int32_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

Test(sample, greedy_is_argmax_ties_to_lowest_id) {
    sample_params p = sample_params_default();
    p.temperature = 0.0f;
    const float logits[] = {1.0f, 3.0f, -2.0f, 3.0f, 2.9f};
    sample_chain *s = make(&p, 5);
    cr_assert_eq(sample_chain_sample(s, logits), 1);
    p.temperature = -1.0f; /* any temperature <= 0 is greedy */
    sample_chain *s2 = make(&p, 5);
    cr_assert_eq(sample_chain_sample(s2, logits), 1);
    const float rev[] = {3.0f, 1.0f, 3.0f, -1.0f, 3.0f};
    cr_assert_eq(sample_chain_sample(s2, rev), 0);
    sample_params tiny_t = plain();
    tiny_t.temperature = 1e-45f; /* 1/T overflows: still greedy, never NaN */
    sample_chain *s3 = make(&tiny_t, 5);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(sample_chain_sample(s3, logits), 1);
    sample_chain_free(s3);
    sample_chain_free(s);
    sample_chain_free(s2);
}

Test(sample, greedy_on_large_random_rows) {
    enum { N = 32000 };
    float *l = malloc(N * sizeof *l);
    sample_params p = plain();
    p.temperature = 0.0f;
    sample_chain *s = make(&p, N);
    uint32_t x = 7;
    for (int r = 0; r < 20; r++) {
        int best = 0;
        for (int i = 0; i < N; i++) {
            l[i] = (float)(lcg(&x) % 100000) * 1e-3f;
            if (l[i] > l[best]) best = i;
        }
        cr_assert_eq(sample_chain_sample(s, l), best);
    }
    sample_chain_free(s);
    free(l);
}

Test(sample, top_k_1_equals_greedy) {
    enum { N = 5000 };
    float *l = malloc(N * sizeof *l);
    uint32_t x = 99;
    for (uint64_t seed = 0; seed < 30; seed++) {
        sample_params p = sample_params_default(); /* top-p and min-p on, temperature 0.8 */
        p.top_k = 1;
        p.seed = seed;
        sample_chain *s = make(&p, N);
        int best = 0;
        for (int i = 0; i < N; i++) {
            l[i] = (float)(lcg(&x) % 1000) * 0.01f; /* many ties: the lowest id must win */
            if (l[i] > l[best]) best = i;
        }
        cr_assert_eq(sample_chain_sample(s, l), best, "seed %llu", (unsigned long long)seed);
        sample_chain_free(s);
    }
    free(l);
}

Test(sample, top_k_keeps_the_k_best_sorted) {
    const float logits[] = {0.1f, 5.0f, 2.0f, 4.0f, -1.0f, 3.0f, 4.0f};
    sample_params p = plain();
    p.top_k = 3;
    sample_chain *s = make(&p, 7);
    const int32_t *ids;
    const float *probs;
    int32_t n = sample_chain_candidates(s, logits, &ids, &probs);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(ids[1], 3); /* tie 4.0 between ids 3 and 6: lower id first */
    cr_assert_eq(ids[2], 6);
    float z = expf(5.0f) + 2.0f * expf(4.0f);
    cr_assert_float_eq(probs[0], expf(5.0f) / z, 1e-6f);
    cr_assert_float_eq(probs[1], expf(4.0f) / z, 1e-6f);
    sample_chain_free(s);
}

/* Logits whose softmax is exactly probs (up to a constant). */
static void logits_of(const float *probs, float *l, int n) {
    for (int i = 0; i < n; i++)
        l[i] = logf(probs[i]);
}

Test(sample, top_p_keeps_smallest_prefix_reaching_p) {
    /* sorted: 0.40 (id 3), 0.25 (id 0), 0.15 (id 4), 0.12 (id 1), 0.08 (id 2) */
    const float probs[] = {0.25f, 0.12f, 0.08f, 0.40f, 0.15f};
    float l[5];
    logits_of(probs, l, 5);
    static const struct {
        float top_p;
        int32_t n;
        int32_t ids[5];
    } cases[] = {
        {0.30f, 1, {3}},          {0.60f, 2, {3, 0}},          {0.70f, 3, {3, 0, 4}},
        {0.85f, 4, {3, 0, 4, 1}}, {0.99f, 5, {3, 0, 4, 1, 2}}, {0.0f, 1, {3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sample_params p = plain();
        p.top_p = cases[c].top_p;
        sample_chain *s = make(&p, 5);
        const int32_t *ids;
        const float *pr;
        int32_t n = sample_chain_candidates(s, l, &ids, &pr);
        cr_assert_eq(n, cases[c].n, "top_p %g: kept %d", (double)cases[c].top_p, n);
        float kept = 0.0f;
        for (int i = 0; i < n; i++)
            kept += probs[cases[c].ids[i]];
        for (int i = 0; i < n; i++) {
            cr_assert_eq(ids[i], cases[c].ids[i], "top_p %g: candidate %d", (double)cases[c].top_p,
                         i);
            cr_assert_float_eq(pr[i], probs[ids[i]] / kept, 1e-5f); /* renormalized */
        }
        /* every draw lands in the kept set */
        for (int d = 0; d < 200; d++)
            cr_assert(has(cases[c].ids, n, sample_chain_sample(s, l)));
        sample_chain_free(s);
    }
}

Test(sample, top_p_on_a_large_vocab_past_the_first_prefix) {
    /* 300 tokens share 90% of the mass equally, 9700 share 10%: top_p 0.5 needs 167 of the 300,
     * more than the first sorted prefix of 64, so the prefix has to grow. */
    enum { N = 10000, HEAVY = 300 };
    float *l = malloc(N * sizeof *l);
    for (int i = 0; i < N; i++)
        l[i] = logf(i % 33 == 0 && i / 33 < HEAVY ? 0.9f / HEAVY : 0.1f / (N - HEAVY));
    sample_params p = plain();
    p.top_p = 0.5f;
    sample_chain *s = make(&p, N);
    const int32_t *ids;
    const float *pr;
    int32_t n = sample_chain_candidates(s, l, &ids, &pr);
    int expect = (int)ceilf(0.5f / (0.9f / HEAVY));
    cr_assert(n == expect || n == expect + 1, "kept %d, expected %d", n,
              expect); /* float rounding at the edge */
    for (int i = 0; i < n; i++) {
        cr_assert(ids[i] % 33 == 0 && ids[i] / 33 < HEAVY, "kept a light token %d", ids[i]);
        if (i) cr_assert_lt(ids[i - 1], ids[i]); /* equal logits: ascending ids */
    }
    sample_chain_free(s);
    free(l);
}

Test(sample, min_p_keeps_tokens_above_fraction_of_max) {
    const float probs[] = {0.05f, 0.30f, 0.10f, 0.40f, 0.15f};
    float l[5];
    logits_of(probs, l, 5);
    /* min_p 0.3 -> threshold 0.12: keeps ids 3, 1, 4 */
    for (int with_top_k = 0; with_top_k < 2; with_top_k++) { /* unsorted and sorted paths */
        sample_params p = plain();
        p.min_p = 0.3f;
        p.top_k = with_top_k ? 4 : 0;
        sample_chain *s = make(&p, 5);
        const int32_t *ids;
        const float *pr;
        int32_t n = sample_chain_candidates(s, l, &ids, &pr);
        cr_assert_eq(n, 3, "top_k %d: kept %d", p.top_k, n);
        cr_assert(has(ids, n, 3) && has(ids, n, 1) && has(ids, n, 4));
        float sum = 0.0f;
        for (int i = 0; i < n; i++) {
            cr_assert_float_eq(pr[i], probs[ids[i]] / 0.85f, 1e-5f);
            sum += pr[i];
        }
        cr_assert_float_eq(sum, 1.0f, 1e-5f);
        sample_chain_free(s);
    }
    /* min_p 1 keeps only the maximum */
    sample_params p = plain();
    p.min_p = 1.0f;
    sample_chain *s = make(&p, 5);
    const int32_t *ids;
    cr_assert_eq(sample_chain_candidates(s, l, &ids, NULL), 1);
    cr_assert_eq(ids[0], 3);
    sample_chain_free(s);
}

Test(sample, temperature_frequencies_match_softmax) {
    const float logits[] = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 2.0f, 1.5f, -3.0f};
    enum { K = 8, DRAWS = 20000 };
    const float temps[] = {0.5f, 1.0f, 1.7f};
    for (size_t t = 0; t < 3; t++) {
        sample_params p = plain();
        p.temperature = temps[t];
        p.seed = 1234 + t;
        sample_chain *s = make(&p, K);
        double expect[K], z = 0.0;
        for (int i = 0; i < K; i++)
            z += exp((double)logits[i] / (double)temps[t]);
        for (int i = 0; i < K; i++)
            expect[i] = exp((double)logits[i] / (double)temps[t]) / z;
        /* the candidates API reports the same distribution */
        const int32_t *ids;
        const float *pr;
        cr_assert_eq(sample_chain_candidates(s, logits, &ids, &pr), K);
        for (int i = 0; i < K; i++)
            cr_assert_float_eq((double)pr[i], expect[ids[i]], 1e-6);
        int count[K] = {0};
        for (int d = 0; d < DRAWS; d++) {
            int32_t tok = sample_chain_sample(s, logits);
            cr_assert(tok >= 0 && tok < K);
            count[tok]++;
        }
        /* Pearson chi-square with K-1 = 7 degrees of freedom; P(X > 24.3) = 0.001. */
        double chi2 = 0.0;
        for (int i = 0; i < K; i++) {
            double e = expect[i] * DRAWS;
            chi2 += ((double)count[i] - e) * ((double)count[i] - e) / e;
        }
        cr_assert_lt(chi2, 24.3, "temperature %g: chi2 %.2f", (double)temps[t], chi2);
        sample_chain_free(s);
    }
}

static void draw_seq(uint64_t seed, int32_t *out, int n) {
    enum { V = 1000 };
    static float l[V];
    for (int i = 0; i < V; i++)
        l[i] = 0.001f * (float)(i % 17);
    sample_params p = plain();
    p.seed = seed;
    sample_chain *s = make(&p, V);
    for (int i = 0; i < n; i++)
        out[i] = sample_chain_sample(s, l);
    sample_chain_free(s);
}

Test(sample, seed_reproducibility) {
    int32_t a[64], b[64], c[64];
    draw_seq(42, a, 64);
    draw_seq(42, b, 64);
    draw_seq(43, c, 64);
    cr_assert(!memcmp(a, b, sizeof a), "same seed, different sequence");
    cr_assert(memcmp(a, c, sizeof a), "different seeds, same sequence");
}

Test(sample, reset_reseeds_and_forgets_history) {
    enum { V = 100 };
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = 0.0f;
    sample_params p = plain();
    p.seed = 5;
    p.presence_penalty = 100.0f;
    sample_chain *s = make(&p, V);
    int32_t a[20], b[20];
    for (int i = 0; i < 20; i++) {
        a[i] = sample_chain_sample(s, l);
        sample_chain_accept(s, a[i]);
    }
    sample_chain_reset(s);
    for (int i = 0; i < 20; i++) {
        b[i] = sample_chain_sample(s, l);
        sample_chain_accept(s, b[i]);
    }
    cr_assert(!memcmp(a, b, sizeof a));
    /* the presence penalty of 100 made every draw a new token */
    for (int i = 0; i < 20; i++)
        for (int j = 0; j < i; j++)
            cr_assert_neq(a[i], a[j]);
    sample_chain_free(s);
}

Test(sample, repetition_penalty_divides_positive_multiplies_negative) {
    const float l[] = {2.0f, -2.0f, 1.0f, 0.0f, 3.0f};
    float out[5];
    sample_params p = plain();
    p.repeat_penalty = 2.0f;
    sample_chain *s = make(&p, 5);
    sample_chain_accept(s, 0);
    sample_chain_accept(s, 1);
    sample_chain_accept(s, 1); /* repeats do not compound the repetition penalty */
    sample_chain_accept(s, 3);
    sample_chain_penalize(s, l, out);
    cr_assert_float_eq(out[0], 1.0f, 1e-6f);
    cr_assert_float_eq(out[1], -4.0f, 1e-6f);
    cr_assert_float_eq(out[2], 1.0f, 1e-6f);
    cr_assert_float_eq(out[3], 0.0f, 1e-6f);
    cr_assert_float_eq(out[4], 3.0f, 1e-6f);
    /* greedy after penalties: 4 stays best; penalize 4 and 0 wins over it */
    p.temperature = 0.0f;
    sample_chain *g = make(&p, 5);
    cr_assert_eq(sample_chain_sample(g, l), 4);
    sample_chain_accept(g, 4); /* 3 -> 1.5 < 2 */
    cr_assert_eq(sample_chain_sample(g, l), 0);
    sample_chain_free(s);
    sample_chain_free(g);
}

Test(sample, frequency_and_presence_penalties) {
    const float l[] = {1.0f, 1.0f, 1.0f, 1.0f};
    float out[4];
    sample_params p = plain();
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    sample_chain *s = make(&p, 4);
    const int32_t hist[] = {2, 2, 2, 1};
    for (int i = 0; i < 4; i++)
        sample_chain_accept(s, hist[i]);
    sample_chain_penalize(s, l, out);
    cr_assert_float_eq(out[0], 1.0f, 1e-6f);
    cr_assert_float_eq(out[1], 1.0f - 0.5f - 0.25f, 1e-6f);
    cr_assert_float_eq(out[2], 1.0f - 1.5f - 0.25f, 1e-6f);
    cr_assert_float_eq(out[3], 1.0f, 1e-6f);
    sample_chain_free(s);
}

Test(sample, penalty_window) {
    const float l[] = {1.0f, 1.0f, 1.0f, 1.0f};
    float out[4];
    sample_params p = plain();
    p.presence_penalty = 1.0f;
    p.repeat_last_n = 2;
    sample_chain *s = make(&p, 4);
    sample_chain_accept(s, 0);
    sample_chain_accept(s, 1);
    sample_chain_accept(s, 2); /* 0 leaves the window */
    sample_chain_penalize(s, l, out);
    cr_assert_float_eq(out[0], 1.0f, 1e-6f);
    cr_assert_float_eq(out[1], 0.0f, 1e-6f);
    cr_assert_float_eq(out[2], 0.0f, 1e-6f);
    sample_chain_free(s);

    p.repeat_last_n = -1; /* whole history */
    s = make(&p, 4);
    for (int i = 0; i < 100; i++)
        sample_chain_accept(s, i % 3);
    sample_chain_penalize(s, l, out);
    cr_assert_float_eq(out[0], 0.0f, 1e-6f);
    cr_assert_float_eq(out[3], 1.0f, 1e-6f);
    sample_chain_free(s);

    p.repeat_last_n = 0; /* off */
    s = make(&p, 4);
    sample_chain_accept(s, 0);
    sample_chain_accept(s, 99); /* out of range: ignored */
    sample_chain_penalize(s, l, out);
    cr_assert_float_eq(out[0], 1.0f, 1e-6f);
    sample_chain_free(s);
}

Test(sample, nan_and_inf_logits_do_not_break_sampling) {
    const float l[] = {NAN, -INFINITY, 1.0f, INFINITY, 0.0f};
    sample_params p = sample_params_default();
    sample_chain *s = make(&p, 5);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(sample_chain_sample(s, l), 3);
    sample_chain_free(s);
}

Test(sample, invalid_params_name_the_field) {
    static const struct {
        const char *field;
        int which;
    } cases[] = {
        {"temperature", 0},
        {"temperature", 1},
        {"top_p", 2},
        {"top_p", 3},
        {"min_p", 4},
        {"min_p", 5},
        {"repeat_penalty", 6},
        {"repeat_penalty", 7},
        {"repeat_last_n", 8},
        {"frequency_penalty", 9},
        {"presence_penalty", 10},
        {"n_vocab", 11},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sample_params p = sample_params_default();
        int32_t n = 10;
        switch (cases[c].which) {
        case 0:
            p.temperature = NAN;
            break;
        case 1:
            p.temperature = INFINITY;
            break;
        case 2:
            p.top_p = -0.1f;
            break;
        case 3:
            p.top_p = NAN;
            break;
        case 4:
            p.min_p = NAN;
            break;
        case 5:
            p.min_p = 1.5f;
            break;
        case 6:
            p.repeat_penalty = 0.0f;
            break;
        case 7:
            p.repeat_penalty = NAN;
            break;
        case 8:
            p.repeat_last_n = -2;
            break;
        case 9:
            p.frequency_penalty = INFINITY;
            break;
        case 10:
            p.presence_penalty = NAN;
            break;
        case 11:
            n = 0;
            break;
        }
        he_error err = {0};
        cr_assert_null(sample_chain_new(&p, n, &err), "case %zu accepted", c);
        cr_assert_eq(err.code, HE_INVALID);
        cr_assert(strstr(err.msg, cases[c].field), "case %zu: '%s' does not name %s", c, err.msg,
                  cases[c].field);
    }
    cr_assert_null(sample_chain_new(NULL, 10, NULL));
    sample_chain_free(NULL);
}
