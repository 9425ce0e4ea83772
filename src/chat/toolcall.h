/* toolcall.h — tool calling in each model family's own format.
 *
 * A model family writes tool calls its own way: Hermes/Qwen `<tool_call>{json}</tool_call>`,
 * Llama 3.x `{"name": ..., "parameters": ...}` (and `<|python_tag|>`), Mistral
 * `[TOOL_CALLS][{...}]`, DeepSeek R1 `<｜tool▁calls▁begin｜>...`, Functionary v3.1/v3.2,
 * Command R7B `<|START_ACTION|>...`, gpt-oss's Harmony messages (`<|channel|>commentary
 * to=functions.NAME <|constrain|>json<|message|>{json}<|call|>`), and a generic JSON form for
 * templates with no native one.
 * This module knows those formats in both directions:
 * - detection of the family from a chat template's source (overridable by name);
 * - the GBNF grammar (via grammar/json_schema.h) that makes the model write a valid call to an
 *   offered tool, with the trigger texts that engage it lazily under tool_choice "auto";
 * - parsing of the model's output (whole, or streamed piece by piece) into content, reasoning
 *   (`<think>...</think>`) and tool calls with OpenAI's shape.
 * Nothing here touches a model or HTTP: everything is unit-tested on recorded outputs. */
#ifndef HEARTH_CHAT_TOOLCALL_H
#define HEARTH_CHAT_TOOLCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"

typedef enum {
    TC_GENERIC = 0, /* no native format: {"tool_calls": [{"name": ..., "arguments": {...}}]} */
    TC_HERMES,      /* Hermes 2 Pro, Qwen 2.5, Qwen 3, QwQ */
    TC_LLAMA3,      /* Llama 3.1 / 3.2 / 3.3 */
    TC_MISTRAL,     /* Mistral Nemo / Small / Large: [TOOL_CALLS] */
    TC_DEEPSEEK_R1,
    TC_FUNCTIONARY_V3_1,
    TC_FUNCTIONARY_V3_2,
    TC_COMMAND_R7B,
    TC_HARMONY,     /* gpt-oss: <|channel|>analysis / commentary to=functions.NAME / final */
    TC_N_FAMILIES
} tc_family;

/* The family a chat template's source writes tool calls in (TC_GENERIC when none is known). */
tc_family tc_detect(const char *template_src);
const char *tc_family_name(tc_family f); /* "hermes", "llama3", ... */
/* Name -> family (config overrides). -1 when unknown. */
int tc_family_from_name(const char *name, tc_family *out);

/* Whether the template's output for this family carries <think> reasoning to split off, and
 * whether the generation prompt leaves the model already inside a <think> block (DeepSeek R1,
 * Qwen 3 with thinking). */
typedef struct {
    bool reasoning;         /* split <think>...</think> into reasoning */
    bool starts_in_reasoning; /* output begins inside the reasoning block */
} tc_reasoning;

/* Fills *out for family f from the template's source (it mentions </think>; DeepSeek R1 and
 * Command R7B always) and the rendered prompt (it ends inside an open <think>: the output
 * starts in reasoning). Either string may be NULL. Command R7B's reasoning is its
 * <|START_THINKING|>...<|END_THINKING|> tool plan. */
void tc_reasoning_detect(tc_family f, const char *template_src, const char *prompt, tc_reasoning *out);

/* ---- Requests ---- */

/* Adapts an OpenAI `messages` array (modified in place) to what family f's template expects of
 * earlier turns' tool calls: `function.arguments` as a JSON string for the templates that
 * concatenate it (DeepSeek R1, Functionary v3.1/v3.2) and as an object for those that apply
 * `tojson` (the rest; a string that is not a JSON object is left alone); and for Mistral,
 * whose template refuses other ids, every tool-call id and `tool_call_id` mapped to 9
 * alphanumerics (the same id always maps to the same 9). 0, or -1 with err when messages is
 * not an array. */
int tc_prepare_messages(tc_family f, json_t *messages, he_error *err);

/* For templates that do not show tools to the model (family TC_GENERIC): a system-message
 * text listing the validated tools and the generic call format. malloc'd. */
char *tc_generic_instructions(const json_t *tools);

typedef enum { TC_CHOICE_AUTO, TC_CHOICE_NONE, TC_CHOICE_REQUIRED, TC_CHOICE_NAMED } tc_choice;

/* Validates an OpenAI `tools` array ([{type: "function", function: {name, description?,
 * parameters?}}], unique names, parameters a valid and supported JSON Schema) and a
 * tool_choice value (NULL: "auto"; "none" | "auto" | "required" | {type: "function", function:
 * {name}} naming an offered tool). -1 with err (HE_INVALID, message naming the field and the
 * problem, e.g. "tool_choice: no tool named 'foo' among tools"). */
int tc_validate(const json_t *tools, const json_t *tool_choice, tc_choice *choice_out,
                const char **named_out /* borrowed from tool_choice */, he_error *err);

typedef struct {
    tc_family family;
    const json_t *tools; /* validated OpenAI tools array */
    tc_choice choice;
    const char *named;  /* TC_CHOICE_NAMED: the function */
    bool parallel;      /* parallel_tool_calls: several calls allowed */
    /* Added after the first contract (zero = the old behaviour): */
    const tc_reasoning *reasoning; /* NULL: none. With reasoning, a non-lazy grammar lets the
                                    * model finish (or write) its <think> block first; the block
                                    * is unbounded in the grammar: the server bounds it */
    int max_calls;      /* parallel: the most calls the grammar allows (0: 4) */
    const struct gram_vocab *vocab; /* the model's vocab (grammar/grammar.h), or NULL: a marker
                                     * (<tool_call>, <|python_tag|>, [TOOL_CALLS], ...) that it
                                     * has as one special token goes into the grammar as that
                                     * token (@"..."), so the model emits the token, never the
                                     * text spelled out; NULL: markers are text */
} tc_spec;

/* The family's reasoning block markers: "<think>" / "</think>", Command R7B's
 * "<|START_THINKING|>" / "<|END_THINKING|>", Harmony's "<|channel|>analysis<|message|>" /
 * "<|end|>" (the analysis message; the next message then starts "<|start|>assistant"). */
const char *tc_reasoning_open(tc_family f);
const char *tc_reasoning_close(tc_family f);

/* A structured output (a JSON Schema: response_format, Ollama format) that may follow the
 * family's reasoning block as r describes (NULL or r->reasoning false: the schema from the
 * first token), as GBNF text (malloc'd). The output's own rule is "tc-output"; the tool-call
 * grammar's are "tc-calls" (the whole block) and "tc-call" (one call), so a server can ask
 * gram_rule_bounds how much room the forced output needs. NULL with err on a bad schema. */
char *tc_format_grammar(tc_family f, const tc_reasoning *r, const json_t *schema, he_error *err);

typedef struct {
    char *gbnf;        /* the grammar (root rule "root"); NULL for TC_CHOICE_NONE */
    bool lazy;         /* engage only once a trigger appears (TC_CHOICE_AUTO) */
    char **triggers;   /* lazy: texts that open a call; the grammar matches from the trigger on */
    int n_triggers;
} tc_grammar;

int tc_grammar_build(const tc_spec *s, tc_grammar *out, he_error *err);
void tc_grammar_free(tc_grammar *g);

/* ---- Parsing what the model wrote ---- */

typedef struct {
    char *id;        /* unique, non-empty ("call_" + random) */
    char *name;
    char *arguments; /* a JSON object, as text */
} tc_call;

typedef struct {
    char *content;   /* text outside calls and reasoning ("" when none) */
    char *reasoning; /* NULL when none */
    tc_call *calls;
    int n_calls;
} tc_result;

/* Parses a complete output. parse_calls false (tool_choice none, or no tools): calls stay in
 * content. A call that is cut off or does not parse is left in content (never dropped). */
int tc_parse(tc_family f, const tc_reasoning *r, bool parse_calls, const char *text, size_t len,
             tc_result *out, he_error *err);
void tc_result_free(tc_result *r);
/* tc_parse knowing the offered tools (tc_stream_set_tools). */
int tc_parse_tools(tc_family f, const tc_reasoning *r, bool parse_calls, const json_t *tools, const char *text,
                   size_t len, tc_result *out, he_error *err);

/* Llama 3.1's built-in tools: brave_search, wolfram_alpha and code_interpreter, for family
 * TC_LLAMA3. The template announces them (its `builtin_tools`), and the model calls them as
 * `<|python_tag|>brave_search.call(query="...")` (arguments {"query": "..."}) or, for
 * code_interpreter, with raw code after <|python_tag|> ({"code": "..."}). */
bool tc_is_builtin(tc_family f, const char *name);

/* Streaming: text arrives in pieces; deltas come out as soon as they are certain (text that
 * might be the start of a call opener or </think> is held back until it is decided). */
typedef enum {
    TC_DELTA_CONTENT,
    TC_DELTA_REASONING,
    TC_DELTA_CALL,       /* a complete call: index, id, name, arguments */
    TC_DELTA_CALL_START, /* eager: a call begins: index, id, name (text "") */
    TC_DELTA_ARGS        /* eager: the next fragment of call `index`'s arguments */
} tc_delta_kind;

typedef struct {
    tc_delta_kind kind;
    const char *text; /* CONTENT / REASONING text; CALL: arguments */
    size_t len;
    int index;        /* CALL: 0, 1, ... */
    const char *id, *name;
} tc_delta;

typedef void (*tc_delta_fn)(const tc_delta *d, void *user);

typedef struct tc_stream tc_stream;
tc_stream *tc_stream_new(tc_family f, const tc_reasoning *r, bool parse_calls);
void tc_stream_free(tc_stream *s);
/* Feeds text; final = no more text will come (flushes what was held back). Returns 0, or -1
 * with err on allocation failure. */
int tc_stream_feed(tc_stream *s, const char *text, size_t len, bool final, tc_delta_fn fn, void *user,
                   he_error *err);
int tc_stream_n_calls(const tc_stream *s);
/* The offered tools: Llama 3.x raw <|python_tag|> code is a call to code_interpreter when that
 * tool is offered and python is not (default: python). */
void tc_stream_set_tools(tc_stream *s, const json_t *tools);
/* Eager argument streaming, for output that a tool-call grammar constrains (so a call that
 * begins is a call in the grammar's exact shape): each call is announced as soon as its
 * arguments begin (TC_DELTA_CALL_START) and its arguments come in fragments as they are
 * written (TC_DELTA_ARGS, compacted as tc_parse compacts them, so the fragments add up to the
 * whole call's arguments); no TC_DELTA_CALL then for such a call. Text not in the grammar's
 * shape falls back to whole calls. Off by default (a call is then never half-reported). */
void tc_stream_set_eager(tc_stream *s, bool eager);
/* Byte offset (in all text fed) where the first call opener outside reasoning was seen, -1
 * while none. A server may engage a lazy grammar there instead of searching the triggers
 * itself: it then skips openers inside <think> and Llama 3's bare-JSON opener after text. */
long long tc_stream_opener_at(const tc_stream *s);

#endif
