/* toolcall_grammar.c — validating a request's tools and tool_choice, and the GBNF grammar that
 * makes a model write a valid call to an offered tool in its family's own syntax.
 *
 * Each tool's arguments are constrained by its parameters schema (grammar/json_schema.h); the
 * call around them is a literal in the family's exact syntax, so what the grammar lets through
 * is what toolcall_parse.c turns back into calls. The grammar ends after the last call it
 * allows: a server stops generating once gram_matcher_must_end() says so, or when the model
 * picks an end-of-generation token where gram_matcher_can_end() allows it (see docs/TOOLS.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "chat/toolcall.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"

#define TC_MAX_TOOLS 128
/* Harmony (gpt-oss): the output follows a prompt ending "<|start|>assistant"; each message is a
 * header ("<|channel|>NAME", a recipient "to=functions.NAME", a content type "<|constrain|>json")
 * then "<|message|>" and its text. */
#define HARMONY_ANALYSIS "<|channel|>analysis<|message|>"
#define HARMONY_NEXT "<|start|>assistant" /* after "<|end|>": the next message of the turn */
#define TC_DEFAULT_MAX_CALLS 4

#define DS_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>"

/* ---- Validation ---- */

/* OpenAI's rule for function names; it also keeps names literal inside JSON strings and
 * grammar literals. */
static bool valid_tool_name(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static const char *tool_name(const json_t *tool) {
    return json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
}

static const json_t *tool_params(const json_t *tool) {
    return json_object_get(json_object_get(tool, "function"), "parameters");
}

static int validate_tool(const json_t *tools, size_t i, he_error *err) {
    const json_t *t = json_array_get(tools, i);
    if (!json_is_object(t)) return he_fail(err, HE_INVALID, "tools[%zu]: must be an object", i);
    const json_t *type = json_object_get(t, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "function"))
        return he_fail(err, HE_INVALID, "tools[%zu].type: must be \"function\"", i);
    const json_t *fn = json_object_get(t, "function");
    if (!json_is_object(fn)) return he_fail(err, HE_INVALID, "tools[%zu].function: must be an object", i);
    const json_t *name = json_object_get(fn, "name");
    if (!json_is_string(name)) return he_fail(err, HE_INVALID, "tools[%zu].function.name: must be a string", i);
    if (!valid_tool_name(json_string_value(name)))
        return he_fail(err, HE_INVALID,
                       "tools[%zu].function.name: '%.64s' must be 1 to 64 letters, digits, '_' or '-'", i,
                       json_string_value(name));
    for (size_t j = 0; j < i; j++)
        if (!strcmp(tool_name(json_array_get(tools, j)), json_string_value(name)))
            return he_fail(err, HE_INVALID, "tools[%zu].function.name: '%s' is already the name of tools[%zu]", i,
                           json_string_value(name), j);
    const json_t *desc = json_object_get(fn, "description");
    if (desc && !json_is_string(desc) && !json_is_null(desc))
        return he_fail(err, HE_INVALID, "tools[%zu].function.description: must be a string", i);
    const json_t *params = json_object_get(fn, "parameters");
    if (!params || json_is_null(params)) return 0;
    if (!json_is_object(params))
        return he_fail(err, HE_INVALID, "tools[%zu].function.parameters: must be a JSON Schema object", i);
    const json_t *ptype = json_object_get(params, "type");
    if (ptype && !(json_is_string(ptype) && !strcmp(json_string_value(ptype), "object")))
        return he_fail(err, HE_INVALID,
                       "tools[%zu].function.parameters: type must be \"object\" (a call's arguments are an object)",
                       i);
    /* Converting now reports unsupported or malformed schemas at request time. */
    gram_builder *b = gram_builder_new();
    const char *rule = gram_builder_add_schema(b, params, "args", err);
    gram_builder_free(b);
    if (!rule) {
        he_prefix(err, "tools[%zu].function.parameters", i);
        if (err) err->code = HE_INVALID;
        return -1;
    }
    return 0;
}

int tc_validate(const json_t *tools, const json_t *tool_choice, tc_choice *choice_out, const char **named_out,
                he_error *err) {
    tc_choice choice = TC_CHOICE_AUTO;
    const char *named = NULL;
    size_t n = 0;
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools)) return he_fail(err, HE_INVALID, "tools: must be an array");
        n = json_array_size(tools);
        if (n == 0) return he_fail(err, HE_INVALID, "tools: must not be empty (leave it out instead)");
        if (n > TC_MAX_TOOLS) return he_fail(err, HE_INVALID, "tools: %zu tools, at most %d", n, TC_MAX_TOOLS);
        for (size_t i = 0; i < n; i++)
            if (validate_tool(tools, i, err) < 0) return -1;
    }
    if (tool_choice && !json_is_null(tool_choice)) {
        if (json_is_string(tool_choice)) {
            const char *s = json_string_value(tool_choice);
            if (!strcmp(s, "auto")) choice = TC_CHOICE_AUTO;
            else if (!strcmp(s, "none")) choice = TC_CHOICE_NONE;
            else if (!strcmp(s, "required")) choice = TC_CHOICE_REQUIRED;
            else
                return he_fail(err, HE_INVALID,
                               "tool_choice: unknown value '%.64s' (expected \"none\", \"auto\", \"required\" or "
                               "{\"type\": \"function\", \"function\": {\"name\": ...}})",
                               s);
        } else if (json_is_object(tool_choice)) {
            const json_t *type = json_object_get(tool_choice, "type");
            if (!json_is_string(type) || strcmp(json_string_value(type), "function"))
                return he_fail(err, HE_INVALID, "tool_choice.type: must be \"function\"");
            const json_t *fn = json_object_get(tool_choice, "function");
            const json_t *name = json_object_get(fn, "name");
            if (!json_is_object(fn) || !json_is_string(name))
                return he_fail(err, HE_INVALID, "tool_choice.function.name: must be a string");
            named = json_string_value(name);
            bool found = false;
            for (size_t i = 0; i < n && !found; i++) found = !strcmp(tool_name(json_array_get(tools, i)), named);
            if (!found) return he_fail(err, HE_INVALID, "tool_choice: no tool named '%.64s' among tools", named);
            choice = TC_CHOICE_NAMED;
        } else {
            return he_fail(err, HE_INVALID, "tool_choice: must be a string or an object");
        }
    }
    if (choice == TC_CHOICE_REQUIRED && n == 0)
        return he_fail(err, HE_INVALID, "tool_choice: \"required\" needs a non-empty tools array");
    if (choice_out) *choice_out = choice;
    if (named_out) *named_out = named;
    return 0;
}

/* ---- Grammar ---- */

typedef struct {
    char *p;
    size_t n, cap;
    const gram_vocab *vocab; /* tool-call markers that are its special tokens go as @"..." */
} sbuf;

static void sb_add(sbuf *b, const char *s) {
    size_t m = strlen(s);
    if (b->n + m + 1 > b->cap) {
        b->cap = (b->n + m + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, m + 1);
    b->n += m;
}

static void sb_lit_plain(sbuf *b, const char *s, size_t n) {
    char *l = gram_literal(s, n);
    sb_add(b, l);
    free(l);
}

/* The families' tool-call markers. Where the model's vocab has one as a single special token,
 * the grammar names that token (`@"<tool_call>"`): the model must emit it, not spell it. */
static const char *const tc_markers[] = {"<tool_call>", "</tool_call>", "<|python_tag|>", "[TOOL_CALLS]",
                                         DS_CALLS_BEGIN, DS_CALLS_END, DS_CALL_BEGIN, DS_CALL_END, DS_SEP,
                                         "<|START_ACTION|>", "<|END_ACTION|>", NULL};

/* A literal text, its markers as special tokens where b->vocab has them. */
static void sb_lit(sbuf *b, const char *s) {
    size_t n = strlen(s), start = 0, first = 1;
    for (size_t i = 0; b->vocab && i < n; i++) {
        for (const char *const *mk = tc_markers; *mk; mk++) {
            size_t ml = strlen(*mk);
            if (ml > n - i || memcmp(s + i, *mk, ml) || gram_vocab_special(b->vocab, *mk, ml) < 0) continue;
            if (i > start) {
                if (!first) sb_add(b, " ");
                sb_lit_plain(b, s + start, i - start);
                first = 0;
            }
            if (!first) sb_add(b, " ");
            sb_add(b, "@");
            sb_lit_plain(b, *mk, ml);
            first = 0;
            start = i + ml;
            i = start - 1;
            break;
        }
    }
    if (start < n || first) {
        if (!first) sb_add(b, " ");
        sb_lit_plain(b, s + start, n - start);
    }
}

/* One character escaped for use inside [...], written to buf[3]. */
static const char *class_char(char buf[3], char c) {
    if (c == ']' || c == '^' || c == '\\' || c == '-' || c == '[') {
        buf[0] = '\\';
        buf[1] = c;
        buf[2] = 0;
    } else {
        buf[0] = c;
        buf[1] = 0;
    }
    return buf;
}

/* `name ::= ...`: any text in which `stop` does not occur (stop's first character occurs in it
 * only once, as in "</think>" or "<|END_THINKING|>"). Written with repetition, not recursion:
 * text = (ch | P* B)* P*, where P is a proper prefix of stop (each is followed by a new
 * attempt, which starts with stop[0]) and B a proper prefix followed by a character that
 * breaks it (neither its continuation nor stop[0]). */
static int add_text_without(gram_builder *gb, const char *name, const char *stop, he_error *err) {
    size_t m = strlen(stop);
    sbuf b = {0}, pre = {0};
    char cc[3], rule_p[96], rule_b[96];
    snprintf(rule_p, sizeof rule_p, "%s-p", name);
    snprintf(rule_b, sizeof rule_b, "%s-b", name);
    for (size_t k = 1; k < m; k++) {
        char *s = xstrndup(stop, k);
        if (k > 1) sb_add(&pre, " | ");
        sb_lit(&pre, s);
        if (k > 1) sb_add(&b, " | ");
        sb_lit(&b, s);
        sb_add(&b, " [^");
        sb_add(&b, class_char(cc, stop[k]));
        if (stop[k] != stop[0]) sb_add(&b, class_char(cc, stop[0]));
        sb_add(&b, "]");
        free(s);
    }
    sbuf body = {0};
    sb_add(&body, "( [^");
    sb_add(&body, class_char(cc, stop[0]));
    sb_add(&body, "] | ");
    sb_add(&body, rule_p);
    sb_add(&body, "* ");
    sb_add(&body, rule_b);
    sb_add(&body, " )* ");
    sb_add(&body, rule_p);
    sb_add(&body, "*");
    int r = gram_builder_add_rule(gb, rule_p, pre.p, err);
    if (!r) r = gram_builder_add_rule(gb, rule_b, b.p, err);
    if (!r) r = gram_builder_add_rule(gb, name, body.p, err);
    free(b.p);
    free(pre.p);
    free(body.p);
    return r;
}

/* The literal parts of one call to `name` around its arguments rule, per family. */
static void call_body(sbuf *b, tc_family f, const char *name, const char *args_rule) {
    char buf[256];
    switch (f) {
    case TC_HERMES:
        snprintf(buf, sizeof buf, "<tool_call>\n{\"name\": \"%s\", \"arguments\": ", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        sb_add(b, " ");
        sb_lit(b, "}\n</tool_call>");
        break;
    case TC_LLAMA3:
        snprintf(buf, sizeof buf, "{\"name\": \"%s\", \"parameters\": ", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        sb_add(b, " \"}\"");
        break;
    case TC_MISTRAL:
        snprintf(buf, sizeof buf, "{\"name\": \"%s\", \"arguments\": ", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        sb_add(b, " ");
        sb_lit(b, ", \"id\": \"");
        sb_add(b, " [a-zA-Z0-9]{9} \"\\\"}\"");
        break;
    case TC_DEEPSEEK_R1:
        snprintf(buf, sizeof buf, DS_CALL_BEGIN "function" DS_SEP "%s\n```json\n", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        sb_add(b, " ");
        sb_lit(b, "\n```" DS_CALL_END);
        break;
    case TC_FUNCTIONARY_V3_1:
        snprintf(buf, sizeof buf, "<function=%s>", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        sb_add(b, " ");
        sb_lit(b, "</function>");
        break;
    case TC_FUNCTIONARY_V3_2:
        snprintf(buf, sizeof buf, "%s\n", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        break;
    case TC_COMMAND_R7B:
        sb_lit(b, "{\"tool_call_id\": \"");
        sb_add(b, " [0-9]{1,3} ");
        snprintf(buf, sizeof buf, "\", \"tool_name\": \"%s\", \"parameters\": ", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        sb_add(b, " \"}\"");
        break;
    case TC_HARMONY:
        /* the call as gpt-oss writes it; its closer <|call|> is an end-of-generation token, so
         * the grammar ends with the arguments and the server stops there */
        snprintf(buf, sizeof buf, "<|channel|>commentary to=functions.%s <|constrain|>json<|message|>", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        break;
    default: /* TC_GENERIC */
        snprintf(buf, sizeof buf, "{\"name\": \"%s\", \"arguments\": ", name);
        sb_lit(b, buf);
        sb_add(b, " ");
        sb_add(b, args_rule);
        sb_add(b, " \"}\"");
        break;
    }
}

/* `calls`: the opener, 1..k calls with the family's separator, the closer. */
static void calls_body(sbuf *b, tc_family f, int k) {
    const char *open = "", *sep = "", *close = "";
    switch (f) {
    case TC_HERMES: sep = "\n"; break;
    case TC_LLAMA3: sep = "; "; break;
    case TC_MISTRAL: open = "[TOOL_CALLS]["; sep = ", "; close = "]"; break;
    case TC_DEEPSEEK_R1: open = DS_CALLS_BEGIN; sep = "\n"; close = DS_CALLS_END; break;
    case TC_FUNCTIONARY_V3_1: break;
    case TC_HARMONY: break;
    case TC_FUNCTIONARY_V3_2: sep = ">>>"; break;
    case TC_COMMAND_R7B: open = "<|START_ACTION|>[\n    "; sep = ",\n    "; close = "\n]<|END_ACTION|>"; break;
    default: open = "{\"tool_calls\": ["; sep = ", "; close = "]}"; break;
    }
    if (f == TC_LLAMA3) {
        sb_add(b, "( ");
        sb_lit(b, "<|python_tag|>");
        sb_add(b, " )? ");
    }
    if (*open) {
        sb_lit(b, open);
        sb_add(b, " ");
    }
    sb_add(b, "tc-call");
    if (k > 1) {
        char rep[32];
        sb_add(b, " ( ");
        if (*sep) {
            sb_lit(b, sep);
            sb_add(b, " ");
        }
        snprintf(rep, sizeof rep, "tc-call ){0,%d}", k - 1);
        sb_add(b, rep);
    }
    if (*close) {
        sb_add(b, " ");
        sb_lit(b, close);
    }
}

const char *tc_reasoning_open(tc_family f) {
    return f == TC_COMMAND_R7B ? "<|START_THINKING|>" : f == TC_HARMONY ? HARMONY_ANALYSIS : "<think>";
}
const char *tc_reasoning_close(tc_family f) {
    return f == TC_COMMAND_R7B ? "<|END_THINKING|>" : f == TC_HARMONY ? "<|end|>" : "</think>";
}

/* root's body: the reasoning block r allows (none; optional at the start; or, when the prompt
 * opened it, its rest and closer), then the rule `inner`. The block's text is unbounded here:
 * the server bounds it (a budget, and room kept for `inner`), forcing the closer. */
static int add_reasoning_root(gram_builder *gb, sbuf *root, tc_family f, const tc_reasoning *r, const char *inner,
                              he_error *err) {
    if (!r || !r->reasoning) {
        sb_add(root, inner);
        return 0;
    }
    const char *open = tc_reasoning_open(f), *close = tc_reasoning_close(f);
    if (add_text_without(gb, "tc-think", close, err) < 0) return -1;
    /* after the block: up to two spaces/newlines, or Harmony's next message header */
    const char *after = f == TC_HARMONY ? NULL : "[ \\n]{0,2}";
    if (r->starts_in_reasoning) {
        sb_add(root, "tc-think ");
        sb_lit(root, close);
    } else {
        sb_add(root, "( ");
        sb_lit(root, open);
        sb_add(root, " tc-think ");
        sb_lit(root, close);
        sb_add(root, " ");
        if (after) sb_add(root, after);
        else sb_lit(root, HARMONY_NEXT);
        sb_add(root, " )?");
    }
    if (r->starts_in_reasoning) {
        sb_add(root, " ");
        if (after) sb_add(root, after);
        else sb_lit(root, HARMONY_NEXT);
    }
    sb_add(root, " ");
    sb_add(root, inner);
    return 0;
}

char *tc_format_grammar(tc_family f, const tc_reasoning *r, const json_t *schema, he_error *err) {
    gram_builder *gb = gram_builder_new();
    sbuf root = {0};
    char *out = NULL;
    const char *rule = gram_builder_add_schema(gb, schema, "output", err);
    f = (unsigned)f < TC_N_FAMILIES ? f : TC_GENERIC;
    /* Harmony: the answer is the final channel's message */
    const char *inner = f == TC_HARMONY ? "\"<|channel|>final<|message|>\" tc-output" : "tc-output";
    if (rule && gram_builder_add_rule(gb, "tc-output", rule, err) == 0 &&
        add_reasoning_root(gb, &root, f, r, inner, err) == 0 &&
        gram_builder_add_rule(gb, "root", root.p, err) == 0)
        out = gram_builder_text(gb, NULL, err);
    free(root.p);
    gram_builder_free(gb);
    return out;
}

static void add_trigger(tc_grammar *g, const char *t) {
    g->triggers = xrealloc(g->triggers, (size_t)(g->n_triggers + 1) * sizeof *g->triggers);
    g->triggers[g->n_triggers++] = xstrdup(t);
}

int tc_grammar_build(const tc_spec *s, tc_grammar *out, he_error *err) {
    memset(out, 0, sizeof *out);
    if (s->choice == TC_CHOICE_NONE) return 0;
    size_t n = json_array_size(s->tools);
    if (!json_is_array(s->tools) || n == 0) return he_fail(err, HE_INVALID, "tools: no tools to call");
    tc_family f = (unsigned)s->family < TC_N_FAMILIES ? s->family : TC_GENERIC;
    gram_builder *gb = gram_builder_new();
    sbuf call = {0}, body = {.vocab = s->vocab}, root = {0}, builtin = {0};
    int rc = -1, n_alt = 0, n_builtin = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(s->tools, i);
        const char *name = tool_name(t);
        if (!name || !valid_tool_name(name)) {
            he_fail(err, HE_INVALID, "tools[%zu]: not validated (tc_validate)", i);
            goto done;
        }
        if (s->choice == TC_CHOICE_NAMED && (!s->named || strcmp(s->named, name))) continue;
        if (tc_is_builtin(f, name)) {
            /* Llama 3.1's built-in tools: NAME.call(query="...") after <|python_tag|>, or raw
             * code for code_interpreter (toolcall.h) */
            if (!n_builtin++ && gram_builder_add_rule(gb, "tc-pystr", "( [^\"\\\\\\x00-\\x1F] | \"\\\\\" [\"\\\\nt] ){0,256}", err) < 0)
                goto done;
            sb_add(&builtin, n_builtin > 1 ? " | " : "");
            if (!strcmp(name, "code_interpreter")) {
                sb_add(&builtin, "( [^{ \\t\\n\\x00] [^\\x00]* )");
            } else {
                char lit[128];
                snprintf(lit, sizeof lit, "%s.call(query=\"", name);
                sb_add(&builtin, "( ");
                sb_lit(&builtin, lit);
                sb_add(&builtin, " tc-pystr \"\\\")\" )");
            }
            continue;
        }
        const json_t *params = tool_params(t);
        json_t *any = NULL;
        if (!params || json_is_null(params)) {
            params = any = json_pack("{s:s}", "type", "object");
        } else if (!json_object_get(params, "type")) {
            /* a schema without "type" admits any value; arguments must still be an object */
            params = any = json_copy((json_t *)params);
            json_object_set_new(any, "type", json_string("object"));
        }
        char hint[80];
        snprintf(hint, sizeof hint, "%s-args", name);
        const char *args_rule = gram_builder_add_schema(gb, params, hint, err);
        json_decref(any);
        if (!args_rule) {
            he_prefix(err, "tools[%zu].function.parameters", i);
            goto done;
        }
        char call_rule[96];
        snprintf(call_rule, sizeof call_rule, "tc-call-%zu", i);
        body.n = 0;
        if (body.p) body.p[0] = 0;
        call_body(&body, f, name, args_rule);
        if (gram_builder_add_rule(gb, call_rule, body.p, err) < 0) goto done;
        sb_add(&call, n_alt++ ? " | " : "");
        sb_add(&call, call_rule);
    }
    if (!n_alt && !n_builtin) {
        he_fail(err, HE_INVALID, "tool_choice: no tool named '%.64s' among tools", s->named ? s->named : "");
        goto done;
    }
    if (n_alt && gram_builder_add_rule(gb, "tc-call", call.p, err) < 0) goto done;
    int k = s->parallel ? (s->max_calls > 0 ? s->max_calls : TC_DEFAULT_MAX_CALLS) : 1;
    if (f == TC_HARMONY) k = 1; /* one call per turn: <|call|> ends generation (and the template
                                 * renders a turn's first call only) */
    body.n = 0;
    if (body.p) body.p[0] = 0;
    if (n_alt) calls_body(&body, f, k);
    if (n_builtin) { /* one built-in call (the template allows one call per turn for them) */
        if (gram_builder_add_rule(gb, "tc-builtin", builtin.p, err) < 0) goto done;
        if (n_alt) {
            char *json_calls = xstrdup(body.p);
            body.n = 0;
            body.p[0] = 0;
            sb_add(&body, "( ");
            sb_add(&body, json_calls);
            sb_add(&body, " ) | ");
            free(json_calls);
        }
        sb_lit(&body, "<|python_tag|>");
        sb_add(&body, " tc-builtin");
    }
    if (gram_builder_add_rule(gb, "tc-calls", body.p, err) < 0) goto done;

    if (s->choice == TC_CHOICE_AUTO && f != TC_FUNCTIONARY_V3_2) {
        /* Lazy: the grammar matches from a trigger on, and the trigger is where it starts. */
        out->lazy = true;
        sb_add(&root, "tc-calls");
        switch (f) {
        case TC_HERMES: add_trigger(out, "<tool_call>"); break;
        case TC_LLAMA3:
            add_trigger(out, "<|python_tag|>");
            add_trigger(out, "{\"name\"");
            break;
        case TC_MISTRAL: add_trigger(out, "[TOOL_CALLS]"); break;
        case TC_DEEPSEEK_R1: add_trigger(out, DS_CALLS_BEGIN); break;
        case TC_FUNCTIONARY_V3_1: add_trigger(out, "<function="); break;
        case TC_COMMAND_R7B: add_trigger(out, "<|START_ACTION|>"); break;
        case TC_HARMONY: add_trigger(out, "<|channel|>commentary to=functions."); break;
        default: add_trigger(out, "{\"tool_calls\""); break;
        }
    } else if (s->choice == TC_CHOICE_AUTO) {
        /* Functionary v3.2 names the recipient first (the prompt ends with ">>>"), so no
         * trigger can come before a call: the grammar is active from the first token and
         * lets "all\n" text through, up to a ">>>" that starts calls. */
        if (gram_builder_add_rule(gb, "tc-text", "( [^>] | \">\" [^>] | \">>\" [^>] )*", err) < 0) goto done;
        sb_add(&root, "\"all\\n\" tc-text ( \">>>\" tc-calls )? | tc-calls");
    } else {
        /* required / named: from the first token; a reasoning block may come first. */
        if (add_reasoning_root(gb, &root, f, s->reasoning, "tc-calls", err) < 0) goto done;
    }
    if (gram_builder_add_rule(gb, "root", root.p, err) < 0) goto done;
    out->gbnf = gram_builder_text(gb, NULL, err);
    if (!out->gbnf) goto done;
    rc = 0;
done:
    if (rc < 0) tc_grammar_free(out);
    gram_builder_free(gb);
    free(call.p);
    free(body.p);
    free(root.p);
    free(builtin.p);
    return rc;
}

void tc_grammar_free(tc_grammar *g) {
    if (!g) return;
    free(g->gbnf);
    for (int i = 0; i < g->n_triggers; i++) free(g->triggers[i]);
    free(g->triggers);
    memset(g, 0, sizeof *g);
}
