/* card.h — `hearth card`: a report card for any OpenAI-compatible endpoint.
 *
 * Two things a person at a desk wants to know about a served model: how fast it is as a client
 * sees it (prompt and generation tokens/s, time to first token, aggregate speed under
 * concurrency) and whether it lands the tool calls it should. The tool-call suite is data (JSON
 * case files, a default compiled in: data/card/cases/); each case is one request and an expected
 * answer, scored by parsing the reply, validating the call's arguments against the tool's JSON
 * schema (a small validator for the subset the cases use) and comparing them with the expected
 * values. Everything from the endpoint is untrusted input: bounded, never a crash.
 * See docs/CARD.md. */
#ifndef HEARTH_CARD_H
#define HEARTH_CARD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/error.h"

/* ---- Categories ---- */

typedef enum {
    CARD_SIMPLE,      /* one tool, one call */
    CARD_MULTIPLE,    /* pick the right tool of several */
    CARD_PARALLEL,    /* two calls in one turn */
    CARD_IRRELEVANCE, /* no tool fits: no call is right */
    CARD_MULTI_TURN,  /* a tool result came back: use it */
    CARD_FORCED,      /* tool_choice "required" */
    CARD_STRUCTURED,  /* response_format json_schema */
    CARD_JSON_OBJECT, /* response_format json_object: json_valid only, not a tool-call category */
    CARD_CAT_COUNT
} card_category;
#define CARD_TOOL_CATS CARD_JSON_OBJECT /* the categories counted in tool_calls */

const char *card_category_name(card_category c); /* "simple", "multi_turn", ... */
int card_category_from_name(const char *s);      /* -1 when unknown */

/* ---- Suites (suite.c) ---- */

typedef enum {
    CARD_EXPECT_CALLS,
    CARD_EXPECT_NO_CALL,
    CARD_EXPECT_CONTENT,
    CARD_EXPECT_JSON
} card_expect_kind;

typedef struct {
    char *id; /* owned */
    card_category cat;
    bool quick;              /* part of the --quick subset */
    json_t *request;         /* the request body without "model" (messages, tools with their schemas
                                resolved, tool_choice, response_format, max_tokens), owned */
    card_expect_kind expect; /* what a right answer is */
    json_t *want;  /* CALLS: [{"name","arguments"}]; CONTENT: [strings]; JSON: value; owned */
    json_t *match; /* string normalisation: "ci" (default), "exact", "nospace", or an object
                      naming one of those per top-level argument; owned (NULL: "ci") */
} card_case;

typedef struct {
    card_case *cases;
    size_t n, cap;
    json_t *tools; /* the tool library: {name: tool object}, owned */
    json_t *raw;   /* cases read but not yet resolved (card_suite_finish), owned */
} card_suite;

void card_suite_init(card_suite *s);
void card_suite_free(card_suite *s); /* frees what the suite owns; s itself is the caller's */
/* Reads one case file (text, len: untrusted; name labels errors): its "tools" join the library,
 * its "cases" wait for card_suite_finish. Returns 0 or -1 (err names file and field). */
int card_suite_add_json(card_suite *s, const char *name, const char *text, size_t len,
                        he_error *err);
/* Resolves tool names against the library, checks every case (known category, tools whose
 * parameters use only the validator's keywords, an expectation that fits the category) and
 * builds the cases. Returns 0 or -1. */
int card_suite_finish(card_suite *s, he_error *err);
/* The default suite compiled into the binary (data/card/cases/, every .json file). */
int card_suite_load_builtin(card_suite *s, he_error *err);
/* Every *.json file in dir, in name order, then card_suite_finish. */
int card_suite_load_dir(card_suite *s, const char *dir, he_error *err);

/* ---- JSON Schema subset (schema.c) ---- */

/* The keywords validated: type (a name or a list), properties, required, enum, const, minimum,
 * maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, items, minItems, maxItems,
 * additionalProperties (false or a schema); description, title, default, $schema and format are
 * annotations (ignored). Nesting is bounded by CARD_SCHEMA_MAX_DEPTH. */
#define CARD_SCHEMA_MAX_DEPTH 32
/* 0 when schema uses only those keywords (well typed), else -1 with err naming the path. */
int card_schema_check(const json_t *schema, he_error *err);
/* 0 when v is valid under schema (already checked), else -1 with the first reason in why. */
int card_schema_validate(const json_t *schema, const json_t *v, char *why, size_t cap);

/* ---- Scoring (score.c) ---- */

typedef struct {
    bool answered;    /* the body parsed as a chat completion with a message */
    bool well_formed; /* the answer has the right form (see docs/CARD.md) */
    bool landed;      /* and the right content */
    bool length_stop; /* finish_reason "length" */
    char why[200];    /* why it did not land ("" when it did) */
} card_verdict;

/* Scores a non-streamed chat completion body (untrusted, len bytes) against c. */
void card_score(const card_case *c, const char *body, size_t len, card_verdict *out);
/* Compares an actual value with an expected one under mode ("ci", "exact", "nospace"; numbers
 * numerically, {"$one_of": [...]} any of the alternatives, objects as a subset: each expected
 * key present and equal). Exposed for the tests. */
bool card_value_matches(const json_t *want, const json_t *got, const char *mode);

/* ---- Running (runner.c) ---- */

typedef struct {
    int landed, well_formed, total;
} card_tally;

typedef struct {
    char id[64];
    card_category cat;
    bool well_formed, landed, length_stop;
    double seconds;
    char why[200];
} card_case_result;

typedef struct {
    char *name;     /* owned */
    char *endpoint; /* owned */
    /* speed: NAN when not measured (an error, or no tokens came) */
    double pp_tps;        /* prompt tokens / time to first token, long prompt */
    double tg_tps;        /* (completion tokens - 1) / (last token time - first token time) */
    double ttft_ms;       /* short prompt */
    double ttft_turn5_ms; /* the 5th turn of a growing conversation */
    double conc_tps[2];   /* aggregate generation tokens/s with 1 and 4 clients: all completion
                             tokens / (last token any client saw - first token any client saw) */
    int pp_prompt_tokens; /* the long prompt's size as the endpoint counted it */
    bool usage_counted;   /* token counts came from the endpoint's usage (else: counted events) */
    card_tally cat[CARD_CAT_COUNT];
    card_tally tools; /* all tool-call categories together */
    int length_stops, answers, errors;
    char first_error[256];   /* the first request error's message ("" for none) */
    card_case_result *cases; /* owned, n_cases */
    size_t n_cases;
    double seconds; /* wall time of the whole card for this model */
} card_model_result;

typedef struct {
    const char *url;     /* http://host:port (a trailing /v1 is accepted) */
    const char *api_key; /* or NULL */
    bool quick;
    int timeout_s;  /* per request; 0: 300 */
    int max_tokens; /* each case's max_tokens when > 0 (else the case's own; --quick caps it at 96)
                     */
    /* progress: called before each step (done of total) and once at the end (done == total) */
    void (*progress)(void *user, const char *model, const char *step, int done, int total);
    void *user;
} card_opts;

/* Lists the endpoint's /v1/models ids into a JSON array (new reference) or NULL (err). */
json_t *card_list_models(const card_opts *o, he_error *err);
/* Grades one served name: speed, then the suite (the quick subset under o->quick). Fills out
 * (free with card_result_free); request failures count as errors in out, not as -1. Returns -1
 * only when the endpoint cannot be reached or the URL is bad. */
int card_run_model(const card_opts *o, const card_suite *s, const char *model,
                   card_model_result *out, he_error *err);
void card_result_free(card_model_result *r);
/* The number of progress steps card_run_model takes for s. */
int card_steps(const card_opts *o, const card_suite *s);

/* ---- Reports (report.c) ---- */

typedef struct {
    char cpu[160];
    int cores;
    double mem_gib;
    char date[32]; /* UTC, ISO 8601 */
} card_machine;

void card_machine_read(card_machine *m); /* from /proc/cpuinfo and /proc/meminfo */
/* Each returns a malloc'd NUL-terminated text (the caller frees). */
char *card_report_json(const card_model_result *r, size_t n, const card_machine *m);
char *card_report_md(const card_model_result *r, size_t n, const card_machine *m);
char *card_report_svg(const card_model_result *r, size_t n, const card_machine *m);

#endif
