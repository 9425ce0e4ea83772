/* sample.h — the sampler chain: turns a row of logits into the next token.
 *
 * Order (as llama.cpp's default chain): penalties (repetition, frequency, presence over the last
 * repeat_last_n accepted tokens) -> top-k -> top-p -> min-p -> temperature -> draw with a seeded
 * PRNG. temperature <= 0 means greedy (argmax after penalties; ties go to the lowest id).
 * A chain owns its scratch (sized at creation): sampling allocates nothing. */
#ifndef HEARTH_SAMPLE_H
#define HEARTH_SAMPLE_H

#include <stdint.h>

#include "base/error.h"

typedef struct {
    float temperature;       /* <= 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int32_t repeat_last_n;   /* window for the penalties; 0: off, -1: whole history */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    uint64_t seed;           /* same seed + same logits -> same tokens */
} sample_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off, repeat_last_n 64, seed 0 */
sample_params sample_params_default(void);

typedef struct sample_chain sample_chain;

/* Validates p (NaN, negative top_p, ... -> HE_INVALID naming the field). */
sample_chain *sample_chain_new(const sample_params *p, int32_t n_vocab, he_error *err);
void sample_chain_free(sample_chain *s);
/* Records an accepted token (prompt or generated) for the penalties. */
void sample_chain_accept(sample_chain *s, int32_t token);
void sample_chain_reset(sample_chain *s); /* forgets history, reseeds */
/* Picks the next token from logits[n_vocab] (not modified). */
int32_t sample_chain_sample(sample_chain *s, const float *logits);

/* ---- Introspection (tests, logprobs) ---- */

/* Runs the chain up to the draw: *ids and *probs (borrowed, valid until the next call on s) get
 * the kept candidates and their final probabilities (after temperature, summing to 1); returns
 * how many. Best first when top-k or top-p sorted them, else in id order. Draws nothing. */
int32_t sample_chain_candidates(sample_chain *s, const float *logits, const int32_t **ids /* out */,
                                const float **probs /* out */);
/* out[n_vocab] = logits after the repetition, frequency and presence penalties of the current
 * history (out may equal logits). */
void sample_chain_penalize(const sample_chain *s, const float *logits, float *out /* out */);

#endif
