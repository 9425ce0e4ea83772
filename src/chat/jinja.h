/* jinja.h — a Jinja2 interpreter for chat templates.
 *
 * A chat model only behaves when its prompt is laid out exactly as it was trained, and that
 * layout lives in the Jinja template inside the GGUF (tokenizer.chat_template). This module
 * renders such a template the way Hugging Face does (Python Jinja2's
 * ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loop controls), byte for
 * byte, or refuses with an error naming the line and column.
 *
 * Core idea: lexer -> AST (owned by the template) -> tree-walking evaluator whose values all
 * live in one arena per render, freed at the end; errors unwind with longjmp to the entry
 * point, so nothing leaks on any path. Every render is bounded (depth, loop iterations,
 * output and memory) so hostile templates fail cleanly. The evaluator only sees the context:
 * attribute access reaches dict keys and a fixed list of string/dict methods, nothing else. */
#ifndef HEARTH_CHAT_JINJA_H
#define HEARTH_CHAT_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "base/error.h"

typedef struct jinja_template jinja_template;

/* Bounds for one render; a zero field takes the default in brackets. */
typedef struct {
    int max_depth;      /* macro/call nesting and expression recursion [200] */
    uint64_t max_steps; /* loop iterations + macro calls + evaluated nodes [50 000 000] */
    size_t max_output;  /* bytes of rendered text, also any one string [16 MiB] */
    size_t max_memory;  /* bytes of working memory (the render arena) [256 MiB] */
} jinja_limits;

typedef struct {
    /* The local time strftime_now() formats; NULL means the real current local time. */
    const struct tm *now;
    jinja_limits limits;
    /* Request data (see jinja_render_spans): with mark_user, every string of ctx, values and
     * dict keys at any depth, counts as user bytes, except those under the top-level keys in
     * trusted (a NULL-terminated list, may be NULL), such as bos_token and eos_token that the
     * server itself fills in. Numbers and booleans are never user bytes. */
    bool mark_user;
    const char *const *trusted;
} jinja_options;

/* A byte range [start, end) of rendered output. */
typedef struct {
    size_t start, end;
} jinja_span;

/* ---- Parsing ---- */

/* Parses a template from (src, len); src need not be NUL-terminated and is not retained.
 * Returns a new template (free with jinja_free) or NULL with err filled (HE_FORMAT,
 * "template:LINE:COL: message"). Parsing is bounded by the template's size. */
jinja_template *jinja_parse(const char *src, size_t len, he_error *err);

/* Frees a template; NULL is a no-op. */
void jinja_free(jinja_template *t);

/* ---- Rendering ---- */

/* Renders t over ctx (a JSON object whose keys become the template's variables: messages,
 * tools, add_generation_prompt, bos_token, ...); ctx is only read. opt may be NULL.
 * Returns a malloc'd NUL-terminated string (caller frees; *out_len, when non-NULL, gets its
 * length, which can be less than strlen when the output holds NUL) or NULL with err filled:
 * HE_RUNTIME for the template's own raise_exception (err->msg ends with the template's
 * message verbatim) and for type/undefined errors, HE_LIMIT when a bound was hit.
 * A template may be rendered from several threads at once. */
char *jinja_render(const jinja_template *t, const json_t *ctx, const jinja_options *opt,
                   size_t *out_len, he_error *err);

/* jinja_render that also says which output bytes came from user strings (opt->mark_user):
 * the bytes of a user string keep their mark through concatenation, {{ }}, slicing, strip,
 * split, replace, join, indent and format; operations that rewrite bytes (upper, escape,
 * tojson of a string, repr) mark their whole result when any input byte was a user byte.
 * So a control token's text can appear unmarked only if the template itself wrote it.
 * *user (may be NULL) gets a malloc'd array of *n_user sorted, disjoint, non-empty ranges,
 * NULL when there are none; the caller frees it. */
char *jinja_render_spans(const jinja_template *t, const json_t *ctx, const jinja_options *opt,
                         size_t *out_len, jinja_span **user, size_t *n_user, he_error *err);

#endif
