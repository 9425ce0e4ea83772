/* hearth.h — the engine API: load a model, decode batches, read logits.
 *
 * A hearth_model holds the weights (memory-mapped from the GGUF, immutable, shareable by any
 * number of contexts and threads). A hearth_ctx holds what one stream of work needs: the KV
 * cache for up to n_seq sequences, the scratch for a batch of up to n_batch tokens, and the
 * logits of the last decode. The one core idea: a batch is a list of (token, position,
 * sequence id, wants-logits) entries, so prompt chunks and single generated tokens of many
 * sequences go through the same hearth_decode call; every weight matrix is read once per call.
 *
 * KV cache: a unified pool of n_ctx cells shared by all sequences. A cell holds the K and V of
 * one position and the set of sequences that see it, so hearth_kv_seq_cp shares a prefix
 * without copying. Positions of a sequence must be fed contiguously (each new token of
 * sequence s has position = hearth_kv_seq_pos_max(s) + 1). Sliding-window layers keep K/V only
 * for a ring of about the window (hearth_ctx_swa_rows), with the same logits, bit for bit.
 *
 * Threading: a context is used by one thread at a time; inside hearth_decode the kernels split
 * rows across the context's thread pool. See docs/ENGINE.md. */
#ifndef HEARTH_MODEL_H
#define HEARTH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/pool.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

typedef struct hearth_model hearth_model;
typedef struct hearth_ctx hearth_ctx;

/* ---- Model ---- */

typedef struct {
    bool load_vocab; /* load tokenizer.ggml.* when present (default true) */
    /* > 0 and < block_count: run only the first n_layer_use layers, then the output norm and
     * head ("layer skip", the self-speculative draft of a model; see docs/ENGINE.md). All
     * layers are still bound and validated; hearth_model_n_layer reports n_layer_use. 0: all. */
    int32_t n_layer_use;
} hearth_model_params;

hearth_model_params hearth_model_params_default(void);

/* Maps path and binds its weights. Errors (err filled, NULL returned): unreadable/malformed
 * file (HE_IO/HE_FORMAT), unknown architecture (HE_UNSUPPORTED), a bad hyperparameter, missing
 * tensors (one message listing every missing name), a tensor whose shape or type does not fit
 * the hyperparameters (naming tensor and expected shape). p may be NULL (defaults). */
hearth_model *hearth_model_load(const char *path, const hearth_model_params *p, he_error *err);
/* The same from an already opened file, which the model takes over (closed by
 * hearth_model_free, or here on failure). For in-memory files (gguf_open_buffer: the buffer
 * must outlive the model) and fuzzing. */
hearth_model *hearth_model_from_gguf(gguf_file *f, const hearth_model_params *p, he_error *err);
void hearth_model_free(hearth_model *m); /* NULL is a no-op; free every ctx on it first */

const char *hearth_model_arch(const hearth_model *m); /* "llama", "qwen2", "qwen3moe", ... */
int32_t hearth_model_n_vocab(const hearth_model *m);  /* rows of the logits */
int32_t hearth_model_n_ctx_train(const hearth_model *m);
int32_t hearth_model_n_embd(const hearth_model *m);
int32_t hearth_model_n_layer(const hearth_model *m);
/* Mixture of experts: the routed experts per token and in all (0, 0 for dense models). */
int32_t hearth_model_n_expert_used(const hearth_model *m);
int32_t hearth_model_n_expert(const hearth_model *m);
/* The weight bytes one decode step does not read: the unchosen experts' share of the expert
 * tensors, and the token-embedding table when the output projection is a tensor of its own (a
 * token reads one row of it). A decode step streams the file's tensor bytes minus this. */
uint64_t hearth_model_idle_bytes(const hearth_model *m);
/* Bytes of the model file this process maps in 2 MiB pages (gguf_huge_mapped), or -1 when
 * unknown (no /proc, not a mapping). Generation speed depends on it: docs/ENGINE.md. */
long long hearth_model_huge_mapped(const hearth_model *m);
/* The model's tokenizer (borrowed, lives as long as the model); NULL when the file has none
 * or the params asked not to load it. */
const tok_vocab *hearth_model_vocab(const hearth_model *m);

/* ---- Context ---- */

/* Element type of the KV cache. Q8_0: blocks of 32 int8 values and one f16 scale along the
 * head dimension (34 bytes per 32 values, 53% of F16); needs head sizes that are multiples of
 * 32 (hearth_ctx_new fails with HE_UNSUPPORTED otherwise). */
typedef enum { HEARTH_KV_F16 = 0, HEARTH_KV_F32 = 1, HEARTH_KV_Q8_0 = 2 } hearth_kv_type;

/* "f16", "f32", "q8_0" (case-insensitive) -> 0 and *out; anything else -> -1. */
int hearth_kv_type_from_name(const char *name, hearth_kv_type *out);
const char *hearth_kv_type_name(hearth_kv_type t); /* "f16", "f32", "q8_0", "?" */

typedef struct {
    int32_t n_ctx;          /* KV cells shared by all sequences; 0 -> min(n_ctx_train, 4096) */
    int32_t n_batch;        /* most tokens per hearth_decode (default 512) */
    int32_t n_seq;          /* sequence ids 0 .. n_seq-1 (1 .. HEARTH_MAX_SEQ, default 1) */
    int32_t n_outputs;      /* most entries per batch that ask for logits; 0 -> automatic */
    int32_t n_threads;      /* threads of the context's own pool (0 -> number of cores) */
    he_pool *pool;          /* borrowed shared pool; when set, n_threads is ignored */
    hearth_kv_type kv_type; /* default F16 */
    bool swa_full;          /* sliding-window layers keep all n_ctx positions instead of a ring
                               of the window (also HEARTH_SWA_FULL=1); results are the same */
} hearth_ctx_params;

#define HEARTH_MAX_SEQ 64

hearth_ctx_params hearth_ctx_params_default(void);

/* Allocates the KV cache and all scratch. HE_INVALID for bad params, HE_NOMEM when too big. */
hearth_ctx *hearth_ctx_new(const hearth_model *m, const hearth_ctx_params *p, he_error *err);
void hearth_ctx_free(hearth_ctx *c); /* NULL is a no-op */

int32_t hearth_ctx_n_ctx(const hearth_ctx *c);
int32_t hearth_ctx_n_batch(const hearth_ctx *c);
int32_t hearth_ctx_n_seq(const hearth_ctx *c);
int32_t hearth_ctx_n_threads(const hearth_ctx *c);
hearth_kv_type hearth_ctx_kv_type(const hearth_ctx *c);
/* Bytes of the K and V arrays of the cache: n_ctx rows for global layers, the ring's rows for
 * sliding-window layers (see hearth_kv_seq_rm). */
size_t hearth_ctx_kv_bytes(const hearth_ctx *c);
/* What they would take with n_ctx rows in every layer (= hearth_ctx_kv_bytes without a ring). */
size_t hearth_ctx_kv_bytes_full(const hearth_ctx *c);
/* Rows a sliding-window layer keeps: n_seq * (n_swa - 1) + n_batch when that is below n_ctx
 * (a ring), else n_ctx; 0 when the model has no sliding-window layers. */
int32_t hearth_ctx_swa_rows(const hearth_ctx *c);
const hearth_model *hearth_ctx_model(const hearth_ctx *c);

/* ---- Batches ---- */

typedef struct {
    int32_t n_tokens;
    int32_t cap;
    int32_t *token;  /* (cap) */
    int32_t *pos;    /* (cap) */
    int32_t *seq_id; /* (cap) */
    bool *logits;    /* (cap) true: hearth_logits(c, i) will be valid after decode */
} hearth_batch;

/* Caller-allocated batch of capacity cap (xmalloc'd arrays). */
void hearth_batch_init(hearth_batch *b, int32_t cap);
void hearth_batch_deinit(hearth_batch *b);
void hearth_batch_clear(hearth_batch *b);
/* Appends one entry; returns -1 when the batch is full. */
int hearth_batch_add(hearth_batch *b, int32_t token, int32_t pos, int32_t seq_id, bool logits);

/* Runs the model on every entry of b, appending K/V to the cache. Validates the whole batch
 * before touching anything (on error the context is unchanged): empty batch or more than
 * n_batch entries, more logits requests than n_outputs (HE_LIMIT), token id out of range,
 * sequence id out of range, a position that does not continue its sequence (HE_INVALID),
 * not enough free KV cells (HE_LIMIT: "context full"). Allocates nothing. */
int hearth_decode(hearth_ctx *c, const hearth_batch *b, he_error *err);

/* Logits (n_vocab floats) of batch entry batch_index of the last hearth_decode; NULL when that
 * entry did not ask for logits or the index is out of range. Borrowed: valid until the next
 * hearth_decode on c. */
const float *hearth_logits(const hearth_ctx *c, int32_t batch_index);

/* ---- KV cache ---- */

/* Drops positions [p0, p1) of seq (p1 < 0: to the end; seq < 0: every sequence). Out-of-range
 * arguments are ignored. After removing the tail, the sequence continues at the new
 * pos_max + 1 — except with a sliding-window ring (hearth_ctx_swa_rows < n_ctx): when the
 * positions the next token's window needs (pos_max - n_swa + 2 .. pos_max) are no longer
 * held (the tail removed reached back past what the ring keeps: more than the last batch),
 * the whole sequence is dropped, so callers must read hearth_kv_seq_pos_max afterwards and
 * recompute what is gone. The same holds for dst after hearth_kv_seq_cp. */
void hearth_kv_seq_rm(hearth_ctx *c, int32_t seq, int32_t p0, int32_t p1);
/* Makes positions [p0, p1) of src visible to dst as well (p1 < 0: to the end) — shares the
 * cells, copies nothing. dst's own cells in [p0, p1) are dropped first; afterwards dst
 * continues at max(its pos_max, the largest copied position) + 1. Out-of-range or equal
 * sequence ids are ignored. Typical use: decode a shared prompt on one sequence, copy it to
 * the others, then let each continue on its own. */
void hearth_kv_seq_cp(hearth_ctx *c, int32_t src, int32_t dst, int32_t p0, int32_t p1);
/* Largest position seq holds, -1 when empty or seq out of range. */
int32_t hearth_kv_seq_pos_max(const hearth_ctx *c, int32_t seq);
void hearth_kv_clear(hearth_ctx *c);
int32_t hearth_kv_n_free(const hearth_ctx *c); /* unused cells */

#endif
