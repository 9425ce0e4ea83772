/* grammar.h — GBNF grammars applied as a token mask while sampling.
 *
 * GBNF is llama.cpp's grammar format: `name ::= body` rules; sequences, `|` alternation,
 * `( )` grouping, "literals" with escapes (\n \t \r \\ \" \xHH \uHHHH \UHHHHHHHH), character
 * classes [a-z] with ranges and negation [^...], `.` (any character), `*` `+` `?` `{m}` `{m,}`
 * `{m,n}`, `#` comments, all over UTF-8 code points.
 *
 * Three objects:
 * - gram_grammar: parsed and compiled rules; immutable, shared by any number of matchers and
 *   threads.
 * - gram_vocab: what each token of a model spells (its bytes), indexed once per model so the
 *   mask does not walk 150K tokens one by one.
 * - gram_matcher: one generating sequence's position in the grammar (the set of parse stacks
 *   reachable after the text accepted so far).
 *
 * Every grammar comes from outside (a request's `grammar`, a JSON schema, a tool list), so
 * parsing reports errors with line:column, and matching is bounded in time and memory
 * (left recursion is refused at parse time; stack sets are capped). */
#ifndef HEARTH_GRAMMAR_H
#define HEARTH_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sample/sample.h"
#include "tokenizer/tokenizer.h"

typedef struct gram_grammar gram_grammar;

/* Parses GBNF text[0, len). root names the start rule (NULL: "root"). NULL with err
 * (HE_INVALID, "grammar:3:14: expected '::='", undefined rules, left recursion, ...). */
gram_grammar *gram_parse(const char *text, size_t len, const char *root, he_error *err);
void gram_free(gram_grammar *g); /* NULL is a no-op */

/* ---- Vocabulary ---- */

enum {
    GRAM_TOKEN_TEXT = 0, /* ordinary token: its bytes are matched against the grammar */
    GRAM_TOKEN_EOG = 1,  /* end of generation: allowed only where the grammar may end */
    GRAM_TOKEN_NEVER = 2, /* unknown/unused tokens: never allowed while the grammar is active */
    GRAM_TOKEN_SPECIAL = 3 /* control tokens: allowed only where the grammar names them as a
                            * marker, @"<|python_tag|>" (the piece is the token's text) */
};

typedef struct gram_vocab gram_vocab;

/* piece[i][0, piece_len[i]) are the bytes token i decodes to; kind[i] is GRAM_TOKEN_*.
 * Everything is copied. */
gram_vocab *gram_vocab_new(int32_t n_vocab, const char *const *piece, const size_t *piece_len,
                           const uint8_t *kind, he_error *err);
/* The same from a model's vocab: each token's decoded bytes; EOG tokens GRAM_TOKEN_EOG; other
 * control tokens GRAM_TOKEN_SPECIAL (their text rendered); unknown/unused GRAM_TOKEN_NEVER.
 * User-defined tokens (Qwen's <tool_call>) are text and may also stand for a marker. */
gram_vocab *gram_vocab_from_tok(const tok_vocab *tv, he_error *err);
void gram_vocab_free(gram_vocab *v); /* NULL is a no-op */
/* The most bytes one token spells (the fewest tokens a text of B bytes takes is B / this). */
uint32_t gram_vocab_max_piece(const gram_vocab *v);
/* The special token (control or user-defined) whose text is text[0, n), -1 when none: a
 * grammar writes it as the marker @"text" so the model emits that one token. */
int32_t gram_vocab_special(const gram_vocab *v, const char *text, size_t n);

/* ---- Matching ---- */

typedef struct gram_matcher gram_matcher;

gram_matcher *gram_matcher_new(const gram_grammar *g, const gram_vocab *v, he_error *err);
void gram_matcher_free(gram_matcher *m); /* NULL is a no-op */
/* An independent copy of m's state (same grammar and vocab, borrowed): speculative drafting
 * advances the copy over drafted tokens and throws it away, the original never moves. */
gram_matcher *gram_matcher_clone(const gram_matcher *m);

/* Sets logits[t] = -INFINITY for every token t that cannot continue the text accepted so far
 * (EOG tokens stay only when the grammar may end here). Returns how many tokens stay allowed. */
int32_t gram_matcher_mask(gram_matcher *m, float *logits);
/* Whether token t may come next (cheap: the sampler tries its pick first and masks only when
 * the pick is refused). */
bool gram_matcher_allows(gram_matcher *m, int32_t token);
/* Advances over token t. -1 with err when t is not allowed (the matcher is unchanged). */
int gram_matcher_accept(gram_matcher *m, int32_t token, he_error *err);
/* Advances over raw bytes (lazy grammars: the trigger text and what followed it in the same
 * token). -1 with err when the bytes do not fit the grammar (the matcher is unchanged). */
int gram_matcher_accept_bytes(gram_matcher *m, const char *s, size_t n, he_error *err);
/* The text accepted so far is a complete sentence of the grammar. */
bool gram_matcher_can_end(const gram_matcher *m);
/* Complete, and nothing more may follow: generation should stop here. */
bool gram_matcher_must_end(const gram_matcher *m);
void gram_matcher_reset(gram_matcher *m); /* back to the start of the root rule */

/* ---- Sampling under a grammar (the one path `hearth run` and the server both use) ---- */

/* Picks the next token with chain s from logits[n_vocab] under m: the chain's own pick is tried
 * first (gram_matcher_allows); only when refused are the logits copied to scratch[n_vocab],
 * masked, and sampled again. The token is accepted into m (not into s: the caller does that as
 * for any token). -1 with err when no token is allowed (a grammar dead end). */
int32_t gram_sample(gram_matcher *m, sample_chain *s, const float *logits, float *scratch,
                    he_error *err);

/* ---- Room: finishing the text within a number of tokens ---- */

/* Bytes at least that complete the text accepted so far (0 when it may end here; -1 when it
 * cannot be completed). Every token spells at least one byte, so with a vocab that has a
 * token for every byte this is also an upper bound on the tokens the shortest completion
 * takes. */
int64_t gram_matcher_need(const gram_matcher *m);
/* The shortest and longest sentence of rule `name` (NULL: the start rule) in bytes; *max_bytes
 * -1 when unbounded (the rule reaches a repetition without a bound). -1 when no such rule. */
int gram_rule_bounds(const gram_grammar *g, const char *name, int64_t *min_bytes, int64_t *max_bytes);
/* gram_sample, keeping the grammar completable within `room` tokens (this one included;
 * <= 0: no limit): a pick after which gram_matcher_need exceeds room - 1 is refused, and when
 * the model has nothing else the next character of the shortest completion is forced. So a
 * text whose need fits the room when it starts always completes in it. */
int32_t gram_sample_room(gram_matcher *m, sample_chain *s, const float *logits, float *scratch, int64_t room,
                         he_error *err);
/* The longest token whose bytes begin text[0, n) (and that m allows, when m is not NULL);
 * *used = its length. -1 when none. For forcing a fixed text, e.g. a reasoning block's
 * closer. */
int32_t gram_force_token(const gram_vocab *v, gram_matcher *m, const char *text, size_t n, size_t *used);

#endif
