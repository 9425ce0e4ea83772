/* chain.c — the sampler chain: penalties -> top-k -> top-p -> min-p -> temperature -> draw.
 *
 * Everything a step needs is allocated in sample_chain_new and sized by n_vocab: the candidate
 * array (logit + id), the penalty counts and the list of distinct tokens in the window. Filters
 * work on a prefix of the candidate array: top-k moves the k best to the front by partial
 * selection (quickselect) and sorts only those; top-p without top-k sorts a growing prefix
 * (64, 128, ...) until the kept mass reaches p, so a peaked distribution never sorts 150k
 * entries. Ties between equal logits always go to the lower token id, so results do not depend
 * on the order the selection happened to visit elements. */
#include "sample/sample.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct {
    float logit;
    int32_t id;
} cand;

struct sample_chain {
    sample_params p;
    int32_t n_vocab;
    cand *c;      /* [n_vocab] candidates of the current step */
    float *prob;  /* [n_vocab] probabilities of the kept candidates (sample_chain_candidates) */
    int32_t *ids; /* [n_vocab] ids of the kept candidates (sample_chain_candidates) */
    /* Penalty window: counts per token, the distinct tokens with count > 0 (swap-remove list,
     * where[t] = index in distinct or -1) and a ring of the last repeat_last_n tokens. */
    int32_t *count;    /* [n_vocab] */
    int32_t *distinct; /* [n_vocab] */
    int32_t *where;    /* [n_vocab] */
    int32_t n_distinct;
    int32_t *ring; /* [repeat_last_n] when repeat_last_n > 0 */
    int32_t ring_len, ring_pos;
    uint64_t rng[4]; /* xoshiro256** state */
};

/* ---- PRNG: xoshiro256** seeded through splitmix64 (Vigna's recommendation) ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&x);
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ---- Parameters ---- */

sample_params sample_params_default(void) {
    return (sample_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .seed = 0,
    };
}

static int check_params(const sample_params *p, int32_t n_vocab, he_error *err) {
    if (n_vocab <= 0)
        return he_fail(err, HE_INVALID, "sample: n_vocab must be positive, got %d", n_vocab);
    if (!isfinite(p->temperature))
        return he_fail(err, HE_INVALID, "sample: temperature must be a finite number, got %g",
                       (double)p->temperature);
    if (isnan(p->top_p) || p->top_p < 0.0f)
        return he_fail(err, HE_INVALID, "sample: top_p must be >= 0 (>= 1 turns it off), got %g",
                       (double)p->top_p);
    if (isnan(p->min_p) || p->min_p > 1.0f)
        return he_fail(err, HE_INVALID, "sample: min_p must be <= 1 (<= 0 turns it off), got %g",
                       (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0.0f)
        return he_fail(
            err, HE_INVALID,
            "sample: repeat_penalty must be a finite number > 0 (1 turns it off), got %g",
            (double)p->repeat_penalty);
    if (p->repeat_last_n < -1)
        return he_fail(err, HE_INVALID,
                       "sample: repeat_last_n must be >= -1 (-1: whole history, 0: off), got %d",
                       p->repeat_last_n);
    if (!isfinite(p->frequency_penalty))
        return he_fail(err, HE_INVALID, "sample: frequency_penalty must be a finite number, got %g",
                       (double)p->frequency_penalty);
    if (!isfinite(p->presence_penalty))
        return he_fail(err, HE_INVALID, "sample: presence_penalty must be a finite number, got %g",
                       (double)p->presence_penalty);
    return 0;
}

/* ---- Lifetime ---- */

sample_chain *sample_chain_new(const sample_params *p, int32_t n_vocab, he_error *err) {
    if (!p) {
        he_fail(err, HE_INVALID, "sample: no parameters");
        return NULL;
    }
    if (check_params(p, n_vocab, err) < 0) return NULL;
    sample_chain *s = he_calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->p = *p;
    s->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab;
    s->c = he_malloc(n * sizeof *s->c);
    s->prob = he_malloc(n * sizeof *s->prob);
    s->ids = he_malloc(n * sizeof *s->ids);
    s->count = he_calloc(n, sizeof *s->count);
    s->distinct = he_malloc(n * sizeof *s->distinct);
    s->where = he_malloc(n * sizeof *s->where);
    if (!s->c || !s->prob || !s->ids || !s->count || !s->distinct || !s->where) goto nomem;
    if (p->repeat_last_n > 0) {
        s->ring = he_malloc((size_t)p->repeat_last_n * sizeof *s->ring);
        if (!s->ring) goto nomem;
    }
    sample_chain_reset(s);
    return s;
nomem:
    sample_chain_free(s);
    he_fail(err, HE_NOMEM, "sample: out of memory for a chain over %d tokens", n_vocab);
    return NULL;
}

void sample_chain_free(sample_chain *s) {
    if (!s) return;
    free(s->c);
    free(s->prob);
    free(s->ids);
    free(s->count);
    free(s->distinct);
    free(s->where);
    free(s->ring);
    free(s);
}

void sample_chain_reset(sample_chain *s) {
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    for (int32_t i = 0; i < s->n_vocab; i++)
        s->where[i] = -1;
    s->n_distinct = 0;
    s->ring_len = s->ring_pos = 0;
    rng_seed(s->rng, s->p.seed);
}

/* ---- History for the penalties ---- */

static void count_add(sample_chain *s, int32_t t) {
    if (s->count[t]++ == 0) {
        s->where[t] = s->n_distinct;
        s->distinct[s->n_distinct++] = t;
    }
}

static void count_remove(sample_chain *s, int32_t t) {
    if (--s->count[t] == 0) {
        int32_t i = s->where[t], last = s->distinct[--s->n_distinct];
        s->distinct[i] = last;
        s->where[last] = i;
        s->where[t] = -1;
    }
}

void sample_chain_accept(sample_chain *s, int32_t token) {
    if (token < 0 || token >= s->n_vocab || s->p.repeat_last_n == 0) return;
    if (s->p.repeat_last_n < 0) {
        count_add(s, token);
        return;
    }
    if (s->ring_len == s->p.repeat_last_n)
        count_remove(s, s->ring[s->ring_pos]);
    else
        s->ring_len++;
    s->ring[s->ring_pos] = token;
    s->ring_pos = (s->ring_pos + 1) % s->p.repeat_last_n;
    count_add(s, token);
}

static float penalize(const sample_params *p, float l, int32_t cnt) {
    if (p->repeat_penalty != 1.0f) l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
    return l - (float)cnt * p->frequency_penalty - (cnt > 0 ? p->presence_penalty : 0.0f);
}

void sample_chain_penalize(const sample_chain *s, const float *logits, float *out) {
    if (out != logits) memcpy(out, logits, (size_t)s->n_vocab * sizeof *out);
    for (int32_t i = 0; i < s->n_distinct; i++) {
        int32_t t = s->distinct[i];
        out[t] = penalize(&s->p, out[t], s->count[t]);
    }
}

/* ---- Candidate ordering: higher logit first, ties to the lower id (a strict total order) ---- */

static inline int better(cand a, cand b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static inline void swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Partitions c[lo..hi] around a median-of-three pivot; returns the pivot's final index. */
static int64_t partition(cand *c, int64_t lo, int64_t hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (better(c[mid], c[lo])) swap(&c[mid], &c[lo]);
    if (better(c[hi], c[lo])) swap(&c[hi], &c[lo]);
    if (better(c[hi], c[mid])) swap(&c[hi], &c[mid]);
    /* now c[lo] >= c[mid] >= c[hi] in "better" order; the median goes to hi as the pivot */
    swap(&c[mid], &c[hi]);
    cand pivot = c[hi];
    int64_t i = lo;
    for (int64_t j = lo; j < hi; j++)
        if (better(c[j], pivot)) swap(&c[i++], &c[j]);
    swap(&c[i], &c[hi]);
    return i;
}

/* Rearranges c[lo..n) so that c[lo..k) are the best k - lo of them (in no particular order). */
static void select_best(cand *c, int64_t lo, int64_t n, int64_t k) {
    int64_t hi = n - 1;
    while (lo < hi) {
        int64_t m = partition(c, lo, hi);
        if (m == k || m == k - 1) return;
        if (m < k)
            lo = m + 1;
        else
            hi = m - 1;
    }
}

static void sort_cands(cand *c, int64_t lo, int64_t hi) {
    while (hi - lo > 16) {
        int64_t m = partition(c, lo, hi);
        /* recurse into the smaller side so the stack stays O(log n) */
        if (m - lo < hi - m) {
            sort_cands(c, lo, m - 1);
            lo = m + 1;
        } else {
            sort_cands(c, m + 1, hi);
            hi = m - 1;
        }
    }
    for (int64_t i = lo + 1; i <= hi; i++) {
        cand x = c[i];
        int64_t j = i;
        for (; j > lo && better(x, c[j - 1]); j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
}

/* ---- The chain ---- */

/* temperature <= 0 is greedy; so is one so small that 1/temperature overflows */
static int is_greedy(const sample_params *p) {
    return p->temperature <= 0.0f || isinf(1.0f / p->temperature);
}

/* Fills s->c with the penalized logits (NaN -> lowest, +-inf clamped so softmax stays defined). */
static void load_candidates(sample_chain *s, const float *logits) {
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        if (isnan(l))
            l = -FLT_MAX;
        else if (l > FLT_MAX)
            l = FLT_MAX;
        else if (l < -FLT_MAX)
            l = -FLT_MAX;
        s->c[i] = (cand){l, i};
    }
    for (int32_t i = 0; i < s->n_distinct; i++) {
        int32_t t = s->distinct[i];
        float l = penalize(&s->p, s->c[t].logit, s->count[t]);
        s->c[t].logit = isnan(l) ? -FLT_MAX : fmaxf(-FLT_MAX, fminf(FLT_MAX, l));
    }
}

static int64_t argmax(const cand *c, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (better(c[i], c[best])) best = i;
    return best;
}

/* Runs penalties and filters; leaves the kept candidates in s->c[0..n) and returns n.
 * With temperature <= 0 the single kept candidate is the argmax. */
static int64_t run_filters(sample_chain *s, const float *logits) {
    const sample_params *p = &s->p;
    cand *c = s->c;
    int64_t n = s->n_vocab;
    int64_t sorted = 0; /* c[0..sorted) is sorted best-first and better than the rest */
    load_candidates(s, logits);

    if (is_greedy(p)) {
        swap(&c[0], &c[argmax(c, n)]);
        return 1;
    }
    if (p->top_k > 0 && p->top_k < n) {
        select_best(c, 0, n, p->top_k);
        n = p->top_k;
        sort_cands(c, 0, n - 1);
        sorted = n;
    }
    if (p->top_p < 1.0f) {
        /* softmax denominator over all current candidates, relative to the best one */
        int64_t b = sorted ? 0 : argmax(c, n);
        float max = c[b].logit;
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += (double)expf(c[i].logit - max);
        double target = (double)p->top_p * sum, cum = 0.0;
        int64_t i = 0, keep = n;
        for (int64_t want = 64;; want *= 2) {
            if (want > n) want = n;
            if (sorted < want) {
                select_best(c, sorted, n, want);
                sort_cands(c, sorted, want - 1);
                sorted = want;
            }
            for (; i < sorted; i++) {
                cum += (double)expf(c[i].logit - max);
                if (cum >= target) break;
            }
            if (i < sorted) {
                keep = i + 1;
                break;
            }
            if (sorted == n) break;
        }
        n = keep;
    }
    if (p->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p) */
        float max = c[sorted ? 0 : argmax(c, n)].logit;
        float floor = max + logf(p->min_p);
        if (sorted) {
            int64_t keep = 1;
            while (keep < n && c[keep].logit >= floor)
                keep++;
            n = keep;
        } else {
            int64_t k = 0;
            for (int64_t i = 0; i < n; i++)
                if (c[i].logit >= floor) c[k++] = c[i];
            n = k; /* the maximum always passes, so k >= 1 */
        }
    }
    return n;
}

/* Softmax with temperature over c[0..n) into s->prob; returns the sum of unnormalized weights. */
static double softmax_temp(sample_chain *s, int64_t n) {
    const cand *c = s->c;
    float max = c[argmax(c, n)].logit, inv_t = 1.0f / s->p.temperature;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float w = expf((c[i].logit - max) * inv_t);
        s->prob[i] = w;
        sum += (double)w;
    }
    return sum;
}

int32_t sample_chain_sample(sample_chain *s, const float *logits) {
    int64_t n = run_filters(s, logits);
    if (n == 1 || is_greedy(&s->p)) return s->c[0].id;
    double sum = softmax_temp(s, n);
    double u = rng_uniform(s->rng) * sum, cum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        cum += (double)s->prob[i];
        if (u < cum) return s->c[i].id;
    }
    /* rounding left u at the very top: take the last candidate with any weight */
    for (int64_t i = n - 1; i > 0; i--)
        if (s->prob[i] > 0.0f) return s->c[i].id;
    return s->c[0].id;
}

int32_t sample_chain_candidates(sample_chain *s, const float *logits, const int32_t **ids,
                                const float **probs) {
    int64_t n = run_filters(s, logits);
    if (is_greedy(&s->p)) {
        s->prob[0] = 1.0f;
    } else {
        float inv = (float)(1.0 / softmax_temp(s, n));
        for (int64_t i = 0; i < n; i++)
            s->prob[i] *= inv;
    }
    for (int64_t i = 0; i < n; i++)
        s->ids[i] = s->c[i].id;
    if (ids) *ids = s->ids;
    if (probs) *probs = s->prob;
    return (int32_t)n;
}
