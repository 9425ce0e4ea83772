/* sched.h — the scheduler: served models, slots and continuous batching.
 *
 * A srv_model is one served name's engine: a hearth_model, one hearth_ctx whose sequences are
 * the slots, and one scheduler thread. Each step the thread builds ONE hearth_batch carrying the
 * next token of every generating slot plus chunks of waiting prompts (continuous batching),
 * decodes it, samples, detokenizes, applies stop strings, and hands events to the jobs. Requests
 * (HTTP threads) submit jobs and block on srv_job_next. A slot keeps its KV after a job ends so
 * the next job whose prompt shares the prefix reuses it (multi-turn chats don't recompute).
 *
 * The registry maps served names to srv_models with reference counts: a hot swap replaces the
 * entry atomically; jobs already running keep their srv_model, which is freed when its last
 * reference goes. This header is the contract between the HTTP layer (http.c, routes_*.c) and
 * the scheduler (sched.c, registry.c). */
#ifndef HEARTH_SERVER_SCHED_H
#define HEARTH_SERVER_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "grammar/grammar.h"
#include "model/embed.h"
#include "model/hearth.h"
#include "sample/sample.h"

/* ---- Served models ---- */

#define SRV_MAX_LORA 16

typedef enum { SRV_OVERFLOW_ERROR = 0, SRV_OVERFLOW_SHIFT = 1 } srv_overflow;

typedef struct {
    const char *name;          /* served name, e.g. "qwen3:8b" */
    const char *path;          /* GGUF file, or a model store name (store_resolve) */
    int32_t n_ctx;             /* KV cells per slot (0: min(n_ctx_train, 4096)) */
    int32_t n_slots;           /* concurrent sequences (default 4) */
    int32_t n_threads;         /* 0: number of cores */
    int32_t max_queue;         /* waiting jobs beyond the slots before 429 (default 64) */
    sample_params sampling;    /* defaults for requests that don't say */
    const char *system_prompt; /* default system message, or NULL */
    int32_t n_batch;           /* most tokens per decode step (0: 512) */
    bool no_prefix_reuse;      /* true: every job decodes its whole prompt (benchmarks) */
    bool verify;               /* a store name's weights are re-hashed before loading */
    const char *tool_format;   /* tool-call family name (chat/toolcall.h), NULL: from the template */
    hearth_kv_type kv_type;    /* KV cache element type (default F16) */
    int32_t reasoning_budget;  /* reasoning tokens before a forced output (-1: the server's
                                  default, docs/TOOLS.md); a request's own budget wins */
    unsigned set;              /* SRV_CONF_*: keys the config file or command line gave (they win
                                  over a store model's params) */
    const char *chat_template; /* effective config only: a store model's template override */
    /* LoRA adapters on the base (lora = FILE:SCALE, ...; --lora / --lora-scaled): paths
     * (owned by the model's copies) and default scales; a request may rescale them by id */
    int32_t n_lora;
    const char *lora_path[SRV_MAX_LORA];
    float lora_scale[SRV_MAX_LORA];
    /* A routing served name (route = SMALL, LARGE; docs/SERVER.md "Routing"): no model of its
     * own (path NULL); each request goes to one of two other served names (server/route.h).
     * route_long_prompt: estimated prompt tokens above which the large one answers. */
    const char *route_small, *route_large;
    int32_t route_long_prompt;
    /* A chat longer than the context (context_overflow; docs/SERVER.md "Context overflow"):
     * a 400 context_length_exceeded (the default), or shift: its oldest turns are dropped
     * (server/ctx_shift.h) so the prompt fits with room for the answer. */
    srv_overflow context_overflow;
    /* Speculative decoding (docs/SERVER.md "Speculative decoding"; src/spec): draft is a GGUF
     * file or store name with the target's vocabulary (checked at load), or NULL; lookup > 0
     * drafts from n-gram matches in the slot's own tokens instead (no draft model). draft_max
     * (1..SPEC_MAX_DRAFT, 0: 8) bounds the tokens drafted per step, the adaptive length
     * follows each slot's recent acceptance below it; a draft model's drafting stops early
     * when its top token's probability falls under draft_min_p (0: never). */
    const char *draft;
    int32_t draft_max, lookup;
    float draft_min_p;
    /* > 0: the draft runs only its first draft_layers layers (layer skip, hearth_model_params
     * n_layer_use); without `draft` the draft is the target's own file */
    int32_t draft_layers;
} srv_model_config;

/* Bits of srv_model_config.set. */
enum {
    SRV_CONF_TEMPERATURE = 1u << 0,
    SRV_CONF_TOP_P = 1u << 1,
    SRV_CONF_TOP_K = 1u << 2,
    SRV_CONF_MIN_P = 1u << 3,
    SRV_CONF_REPEAT_PENALTY = 1u << 4,
    SRV_CONF_REPEAT_LAST_N = 1u << 5,
    SRV_CONF_FREQUENCY_PENALTY = 1u << 6,
    SRV_CONF_PRESENCE_PENALTY = 1u << 7,
    SRV_CONF_SEED = 1u << 8,
    SRV_CONF_CTX = 1u << 9,
    SRV_CONF_SYSTEM = 1u << 10
};

/* Defaults: n_slots 4, max_queue 64, sampling sample_params_default(); name/path NULL. */
srv_model_config srv_model_config_default(void);

typedef struct srv_model srv_model;

/* Loads the model, creates the context, smoke-tests it (decodes a few tokens), starts the
 * scheduler thread. NULL with err filled on failure. */
srv_model *srv_model_start(const srv_model_config *cfg, he_error *err);
const char *srv_model_name(const srv_model *m);
const hearth_model *srv_model_engine(const srv_model *m);
const srv_model_config *srv_model_config_of(const srv_model *m); /* defaults resolved */
/* The config as given to srv_model_start (0s not resolved); swaps and reloads start from it. */
const srv_model_config *srv_model_config_requested(const srv_model *m);
/* KV cells per slot actually in use (the config's n_ctx resolved). */
int32_t srv_model_n_ctx(const srv_model *m);
/* The most bytes one token of the model spells under a grammar (0 without a vocab). */
uint32_t srv_model_max_token_bytes(const srv_model *m);
/* What each token spells, for grammars (NULL without a vocab): tool-call grammars name the
 * markers it has as special tokens. */
const struct gram_vocab *srv_model_gram_vocab(const srv_model *m);
/* Another counted reference to m (released with srv_model_release); returns m. */
srv_model *srv_model_retain(srv_model *m);

/* What a served name does: generate text (chat, completions), embed texts, or rank documents
 * against a query. A request of another kind is refused (400). */
typedef enum { SRV_MODEL_GENERATOR = 0, SRV_MODEL_EMBEDDER, SRV_MODEL_RERANKER } srv_model_kind;
srv_model_kind srv_model_kind_of(const srv_model *m);
const char *srv_model_kind_name(srv_model_kind k); /* "generation", "embedding", "reranking" */
/* Embeds (or scores, for a reranker) n token sequences into out (n * hearth_model_n_embd_out
 * floats); see hearth_embed. Requests on one model run one at a time, on the caller's thread.
 * HE_INVALID for a generator. */
int srv_model_embed(srv_model *m, const int32_t *const *toks, const int32_t *n_toks, int32_t n,
                    bool normalize, float *out, he_error *err);

typedef struct {
    int32_t slots_busy, slots_total, queue_depth;
    uint64_t prompt_tokens, generated_tokens, requests;
    uint64_t kv_bytes;      /* KV cache of the context (0 for embedders) */
    uint64_t kv_bytes_full; /* what it would be without a sliding-window ring */
    /* speculative decoding (all 0 without a drafter): slot-steps that verified drafts (target
     * passes per slot), tokens drafted, of those accepted, tokens those steps emitted */
    uint64_t spec_passes, draft_tokens, draft_accepted, spec_emitted;
} srv_model_stats;
void srv_model_stats_get(srv_model *m, srv_model_stats *out);
/* Seconds since the model last did anything (a job submitted or ended), or -1 while a job is
 * queued or running. What keep_alive counts (store mode, routes_manage.c). */
double srv_model_idle_seconds(srv_model *m);

/* ---- Jobs ---- */

typedef struct {
    const int32_t *prompt; /* token ids (copied by submit) */
    size_t n_prompt;
    sample_params sampling;
    int32_t max_tokens;      /* <= 0: until EOG or the context is full */
    const char *const *stop; /* stop strings (copied); generation ends before any of them */
    int32_t n_stop;
    int32_t top_logprobs; /* 0..20 alternatives per token; -1: no logprobs at all */
    /* Grammar-constrained decoding (NULL: none). A successful submit takes ownership of the
     * grammar (the job frees it); on failure the caller keeps it. Not lazy: every token is
     * sampled under the grammar (gram_sample) and EOG only where it may end. Lazy: tokens are
     * sampled freely until one of triggers (copied) appears in the output; the grammar then
     * takes the trigger and what followed it and constrains the rest. Either way the job ends
     * with "stop" when the grammar must end, and "length" when max_tokens cuts it first. Stop
     * strings are not applied while the grammar is engaged (they would cut its output). */
    gram_grammar *grammar;
    bool lazy;
    const char *const *triggers;
    int32_t n_triggers;
    /* Lazy only (both NULL: none): a reasoning block, e.g. "<think>" .. "</think>", inside
     * which triggers do not count; starts_in_skip: the output begins inside one. */
    const char *skip_open, *skip_close;
    bool starts_in_skip;
    /* Control tokens come out as their text (tool-call markers such as <|python_tag|> or
     * [TOOL_CALLS] are control tokens in their vocabularies); EOG tokens still only end. */
    bool render_special;
    /* A reasoning block to bound (think_open / think_close its markers; NULL: none; it may
     * open only at the very start of the output, or starts_in_think: the prompt opened it).
     * Inside it, once think_budget tokens are spent (< 0: no budget) or the tokens left
     * before max_tokens / the context end fall to think_reserve plus the closer, the closer
     * is forced token by token (under the grammar, when one is engaged: the grammar's
     * "force-close" step) and generation goes on after it. */
    const char *think_open, *think_close;
    bool starts_in_think;
    int32_t think_budget, think_reserve;
    /* An engaged grammar must complete within the tokens left (gram_sample_room): a forced
     * output that fits when it starts is never cut by max_tokens. */
    bool fit;
    /* Per-request LoRA scales ("lora": [{"id", "scale"}] as llama-server takes them): adapter
     * lora_id[i] at lora_req_scale[i]; adapters not named keep the config's scale. Ids are
     * checked by submit (HE_INVALID). */
    int32_t n_lora;
    int32_t lora_id[SRV_MAX_LORA];
    float lora_req_scale[SRV_MAX_LORA];
} srv_job_params;

typedef enum { SRV_EV_TOKEN, SRV_EV_DONE, SRV_EV_ERROR } srv_event_kind;

#define SRV_MAX_TOP_LOGPROBS 20

typedef struct {
    srv_event_kind kind;
    /* SRV_EV_TOKEN: text is the newly released output (complete UTF-8; may be empty while a
     * possible stop string or a split character is held back). SRV_EV_DONE may carry text too:
     * what was still held back when generation ended (e.g. on EOG); append it like a token's.
     * Borrowed until the next call; never NULL (empty string when none). */
    const char *text;
    size_t text_len;
    int32_t token;
    float logprob;
    int32_t n_top;
    int32_t top_token[SRV_MAX_TOP_LOGPROBS];
    float top_logprob[SRV_MAX_TOP_LOGPROBS];
    /* SRV_EV_DONE */
    const char *finish_reason; /* "stop" or "length" */
    int32_t n_prompt, n_generated, n_prompt_cached;
    double prompt_ms, generate_ms, queue_ms;
    /* speculative decoding (0 without a drafter): tokens drafted for this job, of those
     * accepted, and the target passes (verification steps) that generated its tokens */
    int32_t n_draft, n_draft_accepted, n_spec_passes;
    /* SRV_EV_ERROR */
    he_error error;
} srv_event;

typedef struct srv_job srv_job;

/* Queues a job. Errors: prompt longer than the context (HE_INVALID, saying by how much),
 * queue full (HE_LIMIT: the HTTP layer answers 429 with Retry-After). */
srv_job *srv_job_submit(srv_model *m, const srv_job_params *p, he_error *err);
/* Blocks until the next event (timeout_ms < 0: forever). Returns 0 with ev filled, 1 on
 * timeout. After DONE or ERROR there are no more events: further calls return -1 at once. */
int srv_job_next(srv_job *j, srv_event *ev, int timeout_ms);
/* A job holds a reference to its srv_model until srv_job_free, so the caller may release its
 * own reference (srv_model_release) right after submit. */
/* Stops generation (client went away); the slot is freed at the next step. */
void srv_job_cancel(srv_job *j);
void srv_job_free(srv_job *j); /* cancels if still running; NULL is a no-op */

/* ---- Registry of served names ---- */

typedef struct srv_registry srv_registry;

srv_registry *srv_registry_new(void);
/* Drops the registry's reference to every model. A model is stopped and freed (its thread
 * joined) when its last reference goes: at once when idle, else when the last job holding it
 * is freed. */
void srv_registry_free(srv_registry *r);
/* Adds or replaces name -> m (the registry takes the reference). On replace, the old model
 * keeps serving the jobs it has and is freed when the last reference is released. */
void srv_registry_put(srv_registry *r, srv_model *m);
/* A counted reference to the model serving name, or NULL. Release with srv_model_release. */
srv_model *srv_registry_acquire(srv_registry *r, const char *name);
void srv_model_release(srv_model *m);
/* Names currently served, for /v1/models (malloc'd array of borrowed-copy strings; free with
 * srv_names_free). */
char **srv_registry_names(srv_registry *r, int *n);
void srv_names_free(char **names, int n);

/* Extra check run on a freshly started model before a swap or srv_registry_start_put puts it
 * (the HTTP layer renders the chat template there). Returns 0, or -1 with err filled. */
typedef int (*srv_smoke_fn)(srv_model *m, void *user, he_error *err);
void srv_registry_set_smoke(srv_registry *r, srv_smoke_fn fn, void *user);
/* Hot swap: starts a new srv_model from name's current config with path new_path (load +
 * smoke test + the smoke hook), and only on success replaces name with it. Running jobs finish
 * on the old model, which is freed when its last reference goes. On failure the old model
 * stays and err says why (HE_INVALID when name is not served). Swaps are serialized. */
int srv_registry_swap(srv_registry *r, const char *name, const char *new_path, he_error *err);
/* Starts a model from cfg, runs the smoke hook, and puts it (replacing any same name). */
int srv_registry_start_put(srv_registry *r, const srv_model_config *cfg, he_error *err);
/* Stops serving name (running jobs finish on it). Returns 0, or -1 when name is not served. */
int srv_registry_remove(srv_registry *r, const char *name);
/* Makes the registry serve exactly cfgs (a reloaded config file, e.g. on SIGHUP): new names are
 * started, names whose config changed are swapped (smoke-tested first), unchanged names keep
 * their running model, names no longer listed are removed. A name that fails to start keeps
 * its old model (if any); the others still apply. Returns 0, or -1 with err describing the
 * first failure (and how many failed). */
int srv_registry_reload(srv_registry *r, const srv_model_config *cfgs, int n, he_error *err);
/* Routing served names (server/route.h): makes the registry route exactly the cfgs that have
 * route_small set (the others are ignored here; srv_registry_reload calls it too). */
void srv_registry_set_routes(srv_registry *r, const srv_model_config *cfgs, int n);
/* When name is a routing name: 1 with small/large copied (caps bytes each) and long_prompt. */
int srv_registry_route(srv_registry *r, const char *name, char *small, char *large, size_t cap,
                       int32_t *long_prompt);
/* Routing names, for /v1/models (free with srv_names_free). */
char **srv_registry_route_names(srv_registry *r, int *n);
/* True when two configs would serve the same thing (every field and string equal). */
bool srv_model_config_same(const srv_model_config *a, const srv_model_config *b);

/* ---- Config file (config.c; format in docs/SERVER.md) ---- */

/* Parses path into an array of configs (malloc'd; every string owned by the array). Errors
 * name the file and line ("hearth.conf:12: unknown key 'tmp'"). */
int srv_config_load(const char *path, srv_model_config **out, int *n_out, he_error *err);
/* The same from text in memory (name is used in messages). */
int srv_config_parse(const char *text, size_t len, const char *name, srv_model_config **out,
                     int *n_out, he_error *err);
void srv_config_free(srv_model_config *cfgs, int n);
/* The same, in store mode (store_names): a route may also name a model store name that is not a
 * section of the file (it is loaded on first use; docs/SERVER.md "Routing"). */
int srv_config_load_ex(const char *path, bool store_names, srv_model_config **out, int *n_out, he_error *err);
int srv_config_parse_ex(const char *text, size_t len, const char *name, bool store_names, srv_model_config **out,
                        int *n_out, he_error *err);
/* Applies a store model's params override (a JSON object; docs/SERVER.md): temperature, top_p,
 * top_k, min_p, repeat_penalty, repeat_last_n, frequency_penalty, presence_penalty, seed,
 * num_ctx, system. A key the config already set (c->set) is left alone; unknown keys are
 * logged and ignored; a wrong type or range is an error naming what (e.g. the store name). */
int srv_config_apply_params(srv_model_config *c, const char *json, const char *what, he_error *err);

#endif
