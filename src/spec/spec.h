/* spec.h — speculative decoding: a cheap drafter proposes tokens, the target verifies them in one
 * batch, and the output is exactly what the target alone would have produced.
 *
 * Drafters: a draft model (its own context on a model with the same vocabulary: the greedy
 * tokens of the draft), or prompt lookup (no model: the tokens that followed the latest earlier
 * occurrence of the last n-gram of prompt + generated text).
 *
 * One step: the drafter proposes k tokens d1..dk; the target decodes [last, d1..dk] in ONE
 * hearth_decode with logits for all k+1 entries; entry i's logits decide position i+1:
 *   greedy (temperature <= 0): the target's token t_i = sample_chain_sample (argmax after
 *     penalties, exactly as plain decoding); d_{i+1} is kept while it equals t_i; the first
 *     disagreement is replaced by t_i; when all k agree, t_k is a free extra token;
 *   temperature > 0: the drafts are a point mass q = δ(d), so the standard rule (accept with
 *     min(1, p/q), else draw from norm(max(0, p - q))) is: keep d with probability p(d), else
 *     draw from p without d, renormalized; p is the target chain's distribution
 *     (sample_chain_candidates: penalties, top-k/p, min-p, temperature). The output's
 *     distribution is the target's exactly.
 * The KV cells of rejected tokens are removed from both caches (hearth_kv_seq_rm).
 * Adaptive draft length: k = 1 + floor(rate * draft_max), clamped to [1, draft_max], where rate
 * is an exponential average (weight 0.3) of the fraction of drafted tokens accepted per step.
 *
 * Invariant between steps: the target's cache (sequence 0) holds every token of the history but
 * the last; the draft's cache holds a prefix of the history (caught up in one batch before
 * drafting). Not thread-safe: one decoder per pair of contexts. */
#ifndef HEARTH_SPEC_H
#define HEARTH_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "grammar/grammar.h"
#include "model/hearth.h"
#include "sample/sample.h"

#define SPEC_MAX_DRAFT 32

typedef struct {
    int32_t draft_max; /* 1 .. SPEC_MAX_DRAFT (default 8) */
    bool adaptive;     /* adapt k to the recent acceptance rate (default true) */
    int32_t lookup;    /* > 0 and no draft context: prompt lookup drafting up to this many */
    int32_t ngram_max; /* prompt lookup: longest n-gram tried first (default 3) */
    int32_t ngram_min; /* ... down to this (default 1) */
} spec_params;

spec_params spec_params_default(void);

typedef struct {
    int64_t steps;        /* target passes (verification batches) */
    int64_t drafted;      /* tokens the drafter proposed */
    int64_t accepted;     /* of those, kept */
    int64_t emitted;      /* tokens produced (accepted + one per step) */
    int64_t draft_passes; /* hearth_decode calls on the draft context */
} spec_stats;

typedef struct spec_decoder spec_decoder;

/* Vocabularies of target and draft must agree: same n_vocab and, when both have a tokenizer,
 * the same token texts. Returns 0, or -1 with err naming the difference ("the target has 32000
 * tokens, the draft 32001", "token 17 is 'ab' in the target but 'ac' in the draft"). */
int spec_check_vocab(const hearth_model *target, const hearth_model *draft, he_error *err);

/* target: a context whose n_outputs is at least draft_max + 1 (sequence 0 is used, it must be
 * empty). draft: NULL for prompt lookup, else a context of a model with the target's vocabulary
 * (checked; sequence 0 used, must be empty). sc: the target's sampler chain (borrowed; its
 * params decide greedy or not: temperature <= 0 is greedy). seed: the acceptance draws at
 * temperature > 0. All borrowed; they must outlive the decoder. */
spec_decoder *spec_new(hearth_ctx *target, hearth_ctx *draft, sample_chain *sc, float temperature,
                       uint64_t seed, const spec_params *p, he_error *err);
void spec_free(spec_decoder *s);

/* Decodes the prompt (n >= 1 tokens) into the target (and draft) and accepts it into sc. */
int spec_prompt(spec_decoder *s, const int32_t *ids, int32_t n, he_error *err);

/* One step: out[] (capacity at least draft_max + 1) gets the next tokens, in order; returns how
 * many (>= 1), or -1 with err (context full: HE_LIMIT). Every returned token has been accepted
 * into sc. max_out (>= 1) bounds how many tokens the caller wants (the last ones of -n). */
int spec_step(spec_decoder *s, int32_t *out, int32_t max_out, he_error *err);

spec_stats spec_get_stats(const spec_decoder *s);

/* Constrains the output to gm's grammar (borrowed; NULL: none), as gram_sample does for plain
 * decoding: drafts are proposed under a clone of gm (the draft model's best allowed token; lookup
 * drafts cut at the first refused one), and verification samples under gm's mask (greedy: the
 * very gram_sample call of plain decoding), so the output is valid and, greedy, identical to
 * plain constrained decoding. gm advances over the emitted tokens only. Once it must end,
 * spec_done is true and the step's later drafts are dropped. */
void spec_set_grammar(spec_decoder *s, gram_matcher *gm);
bool spec_done(const spec_decoder *s);

/* Prompt lookup on its own (the server drafts per slot with it): up to k tokens that followed
 * the latest earlier occurrence of the last n-gram of hist[0, H), longest n (ngram_max) first,
 * down to ngram_min. Returns how many were written to out (0: no match). */
int32_t spec_lookup(const int32_t *hist, int32_t H, int32_t ngram_min, int32_t ngram_max, int32_t k,
                    int32_t *out);

/* The adaptive draft length after a step that kept `accepted` of `drafted` (> 0) tokens: rate
 * is the running acceptance (start at 1.0; updated here), the result is in [1, draft_max]. */
int32_t spec_adapt(double *rate, int32_t drafted, int32_t accepted, int32_t draft_max);

#endif
