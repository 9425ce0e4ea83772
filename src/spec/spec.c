/* spec.c — speculative decoding (spec.h). */
#include "spec/spec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

struct spec_decoder {
    hearth_ctx *t, *d; /* target, draft (NULL: prompt lookup) */
    sample_chain *sc;
    bool greedy;
    uint64_t rng;
    spec_params p;
    int32_t n_vocab, cur_k;
    double rate; /* recent acceptance rate */
    int32_t *hist;
    int32_t n_hist, cap_hist;
    hearth_batch b;
    float *scratch;   /* n_vocab: residual distribution */
    gram_matcher *gm; /* the output's grammar (borrowed), or NULL */
    float *gscratch;  /* n_vocab: masked logits */
    bool done;        /* the grammar is complete: nothing may follow */
    spec_stats st;
};

spec_params spec_params_default(void) {
    return (spec_params){
        .draft_max = 8, .adaptive = true, .lookup = 0, .ngram_max = 3, .ngram_min = 1};
}

int spec_check_vocab(const hearth_model *target, const hearth_model *draft, he_error *err) {
    int32_t nt = hearth_model_n_vocab(target), nd = hearth_model_n_vocab(draft);
    if (nt != nd)
        return he_fail(
            err, HE_INVALID,
            "speculative: the vocabularies differ: the target has %d tokens, the draft %d", nt, nd);
    const tok_vocab *vt = hearth_model_vocab(target), *vd = hearth_model_vocab(draft);
    if (!vt || !vd) return 0;
    if (tok_n_vocab(vt) != tok_n_vocab(vd))
        return he_fail(err, HE_INVALID,
                       "speculative: the vocabularies differ: the target's tokenizer has %d "
                       "tokens, the draft's %d",
                       tok_n_vocab(vt), tok_n_vocab(vd));
    for (int32_t i = 0; i < tok_n_vocab(vt); i++) {
        const char *at = tok_text(vt, i), *ad = tok_text(vd, i);
        if (!at) at = "";
        if (!ad) ad = "";
        if (strcmp(at, ad))
            return he_fail(err, HE_INVALID,
                           "speculative: the vocabularies differ: token %d is '%.40s' in the "
                           "target but '%.40s' in "
                           "the draft",
                           i, at, ad);
    }
    return 0;
}

spec_decoder *spec_new(hearth_ctx *target, hearth_ctx *draft, sample_chain *sc, float temperature,
                       uint64_t seed, const spec_params *p, he_error *err) {
    spec_params def = spec_params_default();
    if (!p) p = &def;
    if (p->draft_max < 1 || p->draft_max > SPEC_MAX_DRAFT) {
        he_fail(err, HE_INVALID, "speculative: draft_max %d is outside 1..%d", p->draft_max,
                SPEC_MAX_DRAFT);
        return NULL;
    }
    if (!draft && p->lookup <= 0) {
        he_fail(err, HE_INVALID, "speculative: neither a draft model nor prompt lookup");
        return NULL;
    }
    if (!draft && (p->ngram_min < 1 || p->ngram_max < p->ngram_min)) {
        he_fail(err, HE_INVALID, "speculative: bad n-gram range %d..%d", p->ngram_min,
                p->ngram_max);
        return NULL;
    }
    if (draft && spec_check_vocab(hearth_ctx_model(target), hearth_ctx_model(draft), err))
        return NULL;
    spec_decoder *s = xcalloc(1, sizeof *s);
    s->t = target;
    s->d = draft;
    s->sc = sc;
    s->greedy = !(temperature > 0);
    s->rng = seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    s->p = *p;
    if (!draft && p->lookup < s->p.draft_max) s->p.draft_max = p->lookup;
    if (s->p.draft_max > SPEC_MAX_DRAFT) s->p.draft_max = SPEC_MAX_DRAFT;
    s->n_vocab = hearth_model_n_vocab(hearth_ctx_model(target));
    s->cur_k = s->p.draft_max;
    s->rate = 1.0;
    int32_t cap = hearth_ctx_n_batch(target);
    if (draft && hearth_ctx_n_batch(draft) > cap) cap = hearth_ctx_n_batch(draft);
    hearth_batch_init(&s->b, cap);
    s->scratch = xmalloc((size_t)s->n_vocab * sizeof *s->scratch);
    return s;
}

void spec_set_grammar(spec_decoder *s, gram_matcher *gm) {
    s->gm = gm;
    if (gm && !s->gscratch) s->gscratch = xmalloc((size_t)s->n_vocab * sizeof *s->gscratch);
}

bool spec_done(const spec_decoder *s) { return s->done; }

void spec_free(spec_decoder *s) {
    if (!s) return;
    hearth_batch_deinit(&s->b);
    free(s->hist);
    free(s->scratch);
    free(s->gscratch);
    free(s);
}

spec_stats spec_get_stats(const spec_decoder *s) { return s->st; }

static void hist_push(spec_decoder *s, int32_t id) {
    if (s->n_hist == s->cap_hist) {
        s->cap_hist = s->cap_hist ? 2 * s->cap_hist : 256;
        s->hist = xrealloc(s->hist, (size_t)s->cap_hist * sizeof *s->hist);
    }
    s->hist[s->n_hist++] = id;
}

/* Feeds history tokens [from, to) to c in chunks; logits for the last one when want_last. */
static int feed(spec_decoder *s, hearth_ctx *c, int32_t from, int32_t to, bool want_last,
                he_error *err) {
    int32_t nb = hearth_ctx_n_batch(c);
    for (int32_t i = from; i < to; i += nb) {
        hearth_batch_clear(&s->b);
        int32_t end = i + nb < to ? i + nb : to;
        for (int32_t j = i; j < end; j++)
            hearth_batch_add(&s->b, s->hist[j], j, 0, want_last && j == to - 1);
        if (hearth_decode(c, &s->b, err)) return -1;
        if (c == s->d) s->st.draft_passes++;
    }
    return 0;
}

int spec_prompt(spec_decoder *s, const int32_t *ids, int32_t n, he_error *err) {
    if (n < 1) return he_fail(err, HE_INVALID, "speculative: empty prompt");
    if (s->n_hist || hearth_kv_seq_pos_max(s->t, 0) >= 0 ||
        (s->d && hearth_kv_seq_pos_max(s->d, 0) >= 0))
        return he_fail(err, HE_INVALID, "speculative: the prompt must come first, on empty caches");
    for (int32_t i = 0; i < n; i++) {
        hist_push(s, ids[i]);
        sample_chain_accept(s->sc, ids[i]);
    }
    /* the last prompt token stays pending: the first step decodes it with the drafts */
    if (n > 1 && feed(s, s->t, 0, n - 1, false, err)) return -1;
    return 0;
}

/* Argmax, ties to the lowest id (as the greedy sampler). */
static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int32_t spec_lookup(const int32_t *hist, int32_t H, int32_t ngram_min, int32_t ngram_max, int32_t k,
                    int32_t *out) {
    for (int32_t n = ngram_max; n >= ngram_min && n >= 1; n--) {
        if (n >= H) continue;
        const int32_t *tail = hist + H - n;
        for (int32_t i = H - n - 1; i >= 0; i--) {
            if (memcmp(hist + i, tail, (size_t)n * sizeof *tail)) continue;
            int32_t m = 0;
            for (int32_t j = i + n; j < H && m < k; j++)
                out[m++] = hist[j];
            if (m > 0) return m;
        }
    }
    return 0;
}

/* With a grammar, drafts are cut at the first token the grammar (a clone, advanced over the
 * drafts) refuses. */
static int32_t lookup_draft(const spec_decoder *s, gram_matcher *g, int32_t k, int32_t *out) {
    int32_t n = spec_lookup(s->hist, s->n_hist, s->p.ngram_min, s->p.ngram_max, k, out);
    if (!g) return n;
    for (int32_t i = 0; i < n; i++)
        if (gram_matcher_accept(g, out[i], NULL)) return i;
    return n;
}

/* The draft model's pick: its argmax, or under a grammar the best token the grammar allows
 * (accepted into the clone g). -1: the grammar allows nothing. */
static int32_t draft_pick(spec_decoder *s, gram_matcher *g, const float *lg) {
    int32_t best = argmax(lg, s->n_vocab);
    if (!g) return best;
    if (!gram_matcher_allows(g, best)) {
        memcpy(s->gscratch, lg, (size_t)s->n_vocab * sizeof *lg);
        if (gram_matcher_mask(g, s->gscratch) <= 0) return -1;
        best = argmax(s->gscratch, s->n_vocab);
    }
    return gram_matcher_accept(g, best, NULL) ? -1 : best;
}

/* Greedy drafts from the draft model: catch its cache up with the history in one batch, then
 * one token per decode. Returns how many (k), or -1. */
static int32_t model_draft(spec_decoder *s, gram_matcher *g, int32_t k, int32_t *out,
                           he_error *err) {
    int32_t have = hearth_kv_seq_pos_max(s->d, 0) + 1;
    if (feed(s, s->d, have, s->n_hist, true, err)) return -1;
    int32_t pos = s->n_hist;
    const float *lg = hearth_logits(s->d, s->b.n_tokens - 1);
    for (int32_t i = 0; i < k; i++) {
        out[i] = draft_pick(s, g, lg);
        if (out[i] < 0) return i; /* the grammar allows nothing more to draft */
        if (i == k - 1) break;
        hearth_batch_clear(&s->b);
        hearth_batch_add(&s->b, out[i], pos++, 0, true);
        if (hearth_decode(s->d, &s->b, err)) return -1;
        s->st.draft_passes++;
        lg = hearth_logits(s->d, 0);
    }
    return k;
}

static double uniform(spec_decoder *s) {
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

/* Temperature > 0: keeps draft d with probability p(d), else draws from p without d. Returns
 * the token and sets *kept. */
static int32_t verify_sampled(spec_decoder *s, const float *logits, int32_t d, bool *kept) {
    const int32_t *ids;
    const float *pr;
    int32_t n = sample_chain_candidates(s->sc, logits, &ids, &pr);
    double pd = 0;
    for (int32_t i = 0; i < n; i++)
        if (ids[i] == d) pd = (double)pr[i];
    if (d >= 0 && uniform(s) < pd) {
        *kept = true;
        return d;
    }
    *kept = false;
    double total = 0;
    for (int32_t i = 0; i < n; i++)
        total += ids[i] == d ? 0.0 : (double)pr[i];
    double u = uniform(s) * total, acc = 0;
    int32_t last = -1;
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] == d || pr[i] <= 0) continue;
        last = ids[i];
        acc += (double)pr[i];
        if (u < acc) return ids[i];
    }
    return last >= 0 ? last : ids[0]; /* rounding at the top end */
}

int spec_step(spec_decoder *s, int32_t *out, int32_t max_out, he_error *err) {
    if (s->n_hist < 1) return he_fail(err, HE_INVALID, "speculative: no prompt yet");
    if (max_out < 1) return he_fail(err, HE_INVALID, "speculative: max_out must be >= 1");
    int32_t k = s->p.adaptive ? s->cur_k : s->p.draft_max;
    if (k > max_out - 1) k = max_out - 1;
    int32_t room = hearth_kv_n_free(s->t) - 1; /* the pending token needs a cell */
    if (k > room) k = room;
    if (s->d) {
        int32_t droom =
            hearth_kv_n_free(s->d) - (s->n_hist - 1 - hearth_kv_seq_pos_max(s->d, 0)) - 1;
        if (k > droom) k = droom;
    }
    if (k < 0) k = 0;
    if (s->done) return he_fail(err, HE_INVALID, "speculative: the grammar is complete");
    int32_t draft[SPEC_MAX_DRAFT];
    if (k > 0) {
        /* under a grammar the drafts follow a copy of its state; the real one moves only over
         * the tokens the target keeps */
        gram_matcher *g = s->gm ? gram_matcher_clone(s->gm) : NULL;
        k = s->d ? model_draft(s, g, k, draft, err) : lookup_draft(s, g, k, draft);
        gram_matcher_free(g);
        if (k < 0) return -1;
    }

    /* verification: [pending, d1..dk] in one batch, logits for every entry */
    int32_t p0 = s->n_hist - 1;
    hearth_batch_clear(&s->b);
    hearth_batch_add(&s->b, s->hist[p0], p0, 0, true);
    for (int32_t i = 0; i < k; i++)
        hearth_batch_add(&s->b, draft[i], p0 + 1 + i, 0, true);
    if (hearth_decode(s->t, &s->b, err)) return -1;
    s->st.steps++;
    s->st.drafted += k;

    int32_t n_out = 0, j = 0;
    for (;; j++) {
        const float *lg = hearth_logits(s->t, j);
        int32_t d = j < k ? draft[j] : -1, tok;
        bool kept;
        if (s->gm && s->greedy) {
            /* exactly plain constrained decoding's call (accepts tok into the grammar) */
            tok = gram_sample(s->gm, s->sc, lg, s->gscratch, err);
            if (tok < 0) return -1;
            kept = tok == d;
        } else if (s->gm) {
            /* the target's distribution under the grammar's mask */
            memcpy(s->gscratch, lg, (size_t)s->n_vocab * sizeof *lg);
            if (gram_matcher_mask(s->gm, s->gscratch) <= 0)
                return he_fail(err, HE_INVALID, "speculative: the grammar allows no token here");
            tok = verify_sampled(s, s->gscratch, d, &kept);
            if (gram_matcher_accept(s->gm, tok, err)) return -1;
        } else if (s->greedy) {
            tok = sample_chain_sample(s->sc, lg);
            kept = tok == d;
        } else {
            tok = verify_sampled(s, lg, d, &kept);
        }
        out[n_out++] = tok;
        sample_chain_accept(s->sc, tok);
        hist_push(s, tok);
        if (s->gm && gram_matcher_must_end(s->gm)) {
            s->done = true; /* complete: the drafts after tok are not wanted */
            kept = false;
        }
        if (!kept) break;
    }
    /* j drafts kept; drop the cells of the rest (positions after the last kept draft) */
    hearth_kv_seq_rm(s->t, 0, p0 + 1 + j, -1);
    if (s->d) hearth_kv_seq_rm(s->d, 0, p0 + 1 + j, -1);
    s->st.accepted += j;
    s->st.emitted += n_out;
    if (k > 0) s->cur_k = spec_adapt(&s->rate, k, j, s->p.draft_max);
    return n_out;
}

int32_t spec_adapt(double *rate, int32_t drafted, int32_t accepted, int32_t draft_max) {
    *rate = 0.7 * *rate + 0.3 * ((double)accepted / (double)drafted);
    int32_t nk = 1 + (int32_t)floor(*rate * draft_max);
    return nk < 1 ? 1 : nk > draft_max ? draft_max : nk;
}
