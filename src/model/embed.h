/* embed.h — the engine's embedding and reranking API.
 *
 * An embedding model turns each text (a token sequence) into one vector: the hidden states of
 * its last layer, pooled over the sequence as the GGUF's {arch}.pooling_type says (mean, the
 * first token "CLS", or the last token), then L2-normalised. Encoders (bert, nomic-bert) attend
 * in both directions and run many short sequences in one forward pass (each attends only to its
 * own tokens); decoders with a pooling_type (Qwen3-Embedding: last) run through the ordinary
 * decoder path (hearth_decode) one sequence at a time. A reranker (pooling_type rank: a
 * cross-encoder with a classification head) gives one relevance score per sequence instead of
 * a vector.
 *
 * Threading: an embedder is used by one thread at a time (like a hearth_ctx); the model may be
 * shared by several embedders. See docs/ENGINE.md. */
#ifndef HEARTH_MODEL_EMBED_H
#define HEARTH_MODEL_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/pool.h"
#include "model/hearth.h"

/* llama.cpp's LLAMA_POOLING_TYPE_* values, as GGUF files store them. */
typedef enum {
    HEARTH_POOL_NONE = 0,
    HEARTH_POOL_MEAN = 1,
    HEARTH_POOL_CLS = 2,
    HEARTH_POOL_LAST = 3,
    HEARTH_POOL_RANK = 4
} hearth_pooling;

const char *hearth_pooling_name(hearth_pooling p); /* "none", "mean", "cls", "last", "rank" */

/* The pooling the model's GGUF asks for ({arch}.pooling_type; an encoder without the key:
 * mean; a decoder without it: none, i.e. not an embedding model). */
hearth_pooling hearth_model_pooling(const hearth_model *m);
/* True for models that produce embeddings (pooling mean / cls / last). */
bool hearth_model_is_embedder(const hearth_model *m);
/* True for rerankers (pooling rank with a classification head). */
bool hearth_model_is_reranker(const hearth_model *m);
/* Floats per sequence hearth_embed writes: n_embd, or 1 for a reranker. */
int32_t hearth_model_n_embd_out(const hearth_model *m);
/* The most tokens one sequence may have (the trained context; for encoders the number of
 * position embeddings). */
int32_t hearth_model_max_seq_tokens(const hearth_model *m);
/* The separator token a cross-encoder puts between query and document
 * (tokenizer.ggml.seperator_token_id, else EOS); -1 when the model has no vocab. */
int32_t hearth_model_sep_token(const hearth_model *m);

/* The Qwen3-Reranker prompt (its model card's format, default instruction): {query} and
 * {document} are replaced by the texts. A GGUF may carry its own as
 * tokenizer.chat_template.rerank (llama.cpp's converter writes this one there). */
#define HEARTH_RERANK_PROMPT_QWEN3                                                                \
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the "         \
    "Query and the Instruct provided. Note that the answer can only be \"yes\" or "               \
    "\"no\".<|im_end|>\n<|im_start|>user\n<Instruct>: Given a web search query, retrieve "        \
    "relevant passages that answer the query\n<Query>: {query}\n<Document>: "                     \
    "{document}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

/* The tokens a reranker reads for one (query, document) pair: a cross-encoder (bert)
 * [BOS] query [EOS] [SEP] document [EOS] (llama.cpp's format); a decoder reranker (Qwen3-
 * Reranker) its prompt (tokenizer.chat_template.rerank, else HEARTH_RERANK_PROMPT_QWEN3) with
 * the texts put in, the whole tokenized at once with special tokens parsed (as the model
 * card's tokenizer call does: a control token spelled inside a text is read as one).
 * max_query > 0 cuts the query to that many tokens, max_total > 0 the document so that the
 * whole fits (an input that cannot fit is HE_LIMIT). *out is malloc'd. */
int hearth_rerank_input(const hearth_model *m, const char *query, size_t query_len,
                        const char *doc, size_t doc_len, int32_t max_query, int32_t max_total,
                        int32_t **out, int32_t *n_out, he_error *err);

typedef struct hearth_embedder hearth_embedder;

/* An embedder for m running on pool (borrowed; NULL: a pool of he_n_cores threads of its own).
 * n_batch: the most tokens per forward pass (0: 2048); a longer sequence is refused by
 * hearth_embed. HE_INVALID when m is neither an embedder nor a reranker. */
hearth_embedder *hearth_embedder_new(const hearth_model *m, he_pool *pool, int32_t n_batch,
                                     he_error *err);
void hearth_embedder_free(hearth_embedder *e); /* NULL is a no-op */

/* Embeds n_seq token sequences (toks[i] of n_toks[i] tokens, special tokens already added)
 * into out (n_seq * hearth_model_n_embd_out floats, sequence i at i * n_embd_out). Vectors are
 * L2-normalised when normalize is set (scores of a reranker never are). Sequences are packed
 * into forward passes of up to n_batch tokens. Errors: an empty sequence, one longer than
 * max_seq_tokens or n_batch (HE_LIMIT, naming it), a token out of range (HE_INVALID). */
int hearth_embed(hearth_embedder *e, const int32_t *const *toks, const int32_t *n_toks,
                 int32_t n_seq, bool normalize, float *out, he_error *err);

/* Scales v (n,) to unit L2 norm (left alone when its norm is 0). */
void hearth_l2_normalize(float *v, int32_t n);

#endif
