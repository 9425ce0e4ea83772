/* request.h — parsing and validating the JSON bodies of the OpenAI and Ollama generation routes.
 *
 * One pure function turns a request body into an srv_request (model name, normalized messages
 * or prompt, sampling overrides, limits, stop strings, streaming flags) or into the exact HTTP
 * status and OpenAI-style message the client gets back. Nothing here touches a model, so the
 * whole path is unit-tested and fuzzed on its own. Rules: a field that is absent or null takes
 * the default; a present field of the wrong type or out of range is a 400 naming the field;
 * fields OpenAI ignores are ignored; features hearth does not have (n > 1, images, echo) are a
 * clear 400 rather than a silent difference. */
#ifndef HEARTH_SERVER_REQUEST_H
#define HEARTH_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "chat/toolcall.h"
#include "grammar/grammar.h"
#include "sample/sample.h"

typedef enum {
    SRV_API_CHAT,           /* POST /v1/chat/completions */
    SRV_API_COMPLETION,     /* POST /v1/completions */
    SRV_API_OLLAMA_CHAT,    /* POST /api/chat */
    SRV_API_OLLAMA_GENERATE, /* POST /api/generate */
    SRV_API_RESPONSES        /* POST /v1/responses: translated to a chat request (responses.h) */
} srv_api;

#define SRV_MAX_STOP 16
#define SRV_MAX_STOP_LEN 256
#define SRV_MAX_JSON_DEPTH 64
#define SRV_MAX_TOOLS 128
#define SRV_MAX_GRAMMAR_LEN (256 * 1024)
#define SRV_MAX_REASONING_BUDGET (1 << 20)
/* reasoning_effort (and Ollama think levels) as budgets; docs/TOOLS.md says why these. */
#define SRV_EFFORT_LOW 256
#define SRV_EFFORT_MEDIUM 1024
#define SRV_EFFORT_HIGH 4096
/* Reasoning before a forced output (required / named tool, json_schema) when neither the
 * request nor the served name says: medium effort. */
#define SRV_DEFAULT_REASONING_BUDGET SRV_EFFORT_MEDIUM
/* Room kept after reasoning for a forced output, on top of its shortest form, in tokens, when
 * its longest form is larger (unbounded: a string without maxLength, any object; or merely
 * loose: the JSON grammar allows up to 21 bytes of whitespace between tokens). */
#define SRV_OUTPUT_RESERVE 64

/* What constrains the output besides tools (response_format, Ollama format, grammar). */
typedef enum {
    SRV_FMT_TEXT = 0,    /* unconstrained */
    SRV_FMT_JSON_OBJECT, /* any JSON object */
    SRV_FMT_JSON_SCHEMA, /* JSON valid under a schema */
    SRV_FMT_GRAMMAR      /* a raw GBNF grammar (extension) */
} srv_format;

/* Which sampling fields the request set (the rest come from the served model's defaults). */
enum {
    SRV_SET_TEMPERATURE = 1u << 0,
    SRV_SET_TOP_P = 1u << 1,
    SRV_SET_TOP_K = 1u << 2,
    SRV_SET_MIN_P = 1u << 3,
    SRV_SET_REPEAT_PENALTY = 1u << 4,
    SRV_SET_REPEAT_LAST_N = 1u << 5,
    SRV_SET_FREQUENCY_PENALTY = 1u << 6,
    SRV_SET_PRESENCE_PENALTY = 1u << 7,
    SRV_SET_SEED = 1u << 8
};

typedef struct {
    srv_api api;
    char *model;        /* served name asked for (owned) */
    json_t *messages;   /* chat: array of {role, content: string, [name], [tool_calls], [tool_call_id]} */
    json_t *tools;      /* chat: the tools array when given, else NULL */
    char *prompt;       /* completion / generate: prompt text (owned), NULL when given as tokens */
    int32_t *prompt_tokens; /* completion given as an array of token ids (owned) */
    size_t n_prompt_tokens;
    char *system;       /* generate: system message, or NULL */
    int32_t *context;   /* generate: token ids a previous response returned (owned), or NULL */
    size_t n_context;
    bool raw;           /* generate: no chat template */
    bool stream;        /* OpenAI default false, Ollama default true */
    bool include_usage; /* stream_options.include_usage */
    unsigned set;       /* SRV_SET_* */
    sample_params sampling; /* the fields named by set */
    int32_t max_tokens; /* 0: not given (until EOG or context end) */
    char *stop[SRV_MAX_STOP];
    int32_t n_stop;
    int32_t top_logprobs; /* -1: no logprobs; 0..20 alternatives */
    int32_t num_ctx;      /* Ollama options.num_ctx (0: not given) */
    /* "lora": [{"id": N, "scale": S}, ...] as llama-server takes it (ids checked against the
     * served model by the route) */
    int32_t n_lora;
    int32_t lora_id[16];
    float lora_scale[16];
    /* Tools (chat routes): validated by tc_validate; tool_choice "none" keeps tools in the
     * prompt but parses no calls. */
    tc_choice tool_choice;
    char *tool_named;          /* TC_CHOICE_NAMED: the function (owned) */
    bool parallel_tool_calls;  /* default true */
    /* Structured output: format and its compiled grammar (owned; NULL for SRV_FMT_TEXT). The
     * grammar is compiled while parsing so a bad schema or GBNF is a 400 naming the problem. */
    srv_format format;
    gram_grammar *grammar;
    /* The JSON Schema behind SRV_FMT_JSON_OBJECT / SRV_FMT_JSON_SCHEMA (owned), so the server
     * can compose it after a reasoning block when the template thinks first. */
    json_t *format_schema;
    /* Reasoning: -1 not given, else the value passed to the template as enable_thinking. */
    int enable_thinking;
    /* Tokens the reasoning block may take (reasoning_budget / thinking_budget, or mapped from
     * reasoning_effort or Ollama's think); -1 when the request does not say. */
    int32_t reasoning_budget;
    json_t *template_kwargs; /* chat_template_kwargs object, or NULL */
    json_t *resp_echo;       /* SRV_API_RESPONSES: the fields the response object repeats */
    /* "low", "medium" or "high" (static) when reasoning_effort / Ollama's think named a level:
     * passed to the template as reasoning_effort (gpt-oss's reads it); NULL otherwise */
    const char *reasoning_effort;
    /* Ollama keep_alive in seconds (SRV_KEEP_ALIVE_FOREVER: -1 forever); has_keep_alive false
     * when the request does not say (the server's default applies). */
    double keep_alive;
    bool has_keep_alive;
} srv_request;

typedef struct {
    int status;         /* HTTP status: 400, 404, 413, ... */
    char message[400];
    char param[64];     /* "" -> null */
    char code[48];      /* "" -> null */
} srv_req_error;

/* Parses body[0, len) for api. 0 with out filled (free with srv_request_free), or -1 with err
 * filled (status 400) and out left empty (srv_request_free on it is still safe). */
int srv_request_parse(srv_api api, const char *body, size_t len, srv_request *out, srv_req_error *err);
void srv_request_free(srv_request *r);
/* Overwrites the fields of base that the request set. */
void srv_request_apply_sampling(const srv_request *r, sample_params *base);

/* POST /tokenize and /detokenize (llama-server's shape, plus `model`). */
typedef struct {
    char *model;        /* NULL: the only served name */
    char *content;      /* tokenize: the text (owned), content_len bytes */
    size_t content_len;
    bool add_special;   /* tokenize: BOS/EOS as the vocab says (default false, as llama-server) */
    bool parse_special; /* tokenize: control-token texts become those tokens (default true) */
    bool with_pieces;   /* tokenize: [{id, piece}] instead of [id] */
    int32_t *tokens;    /* detokenize: the ids (owned; range-checked against the vocab later) */
    size_t n_tokens;
} srv_tok_request;

#define SRV_MAX_DETOKENIZE (1u << 22)

/* detok false: {content, add_special, parse_special, with_pieces, model}; true: {tokens,
 * model}. 0, or -1 with err (400). Free with srv_tok_request_free (also after a failure). */
int srv_tok_request_parse(const char *body, size_t len, bool detok, srv_tok_request *out, srv_req_error *err);
void srv_tok_request_free(srv_tok_request *r);

/* Parses body as a JSON object with the depth limit; NULL with err (400) on failure. */
json_t *srv_json_parse_object(const char *body, size_t len, srv_req_error *err);

/* Fills err; always returns -1. param/code may be NULL. */
int srv_req_fail(srv_req_error *err, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 503 out_of_memory: memory for a request-sized value ran out. Returns -1. */
int srv_req_nomem(srv_req_error *err);

#endif
