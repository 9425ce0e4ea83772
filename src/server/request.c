/* request.c — request body -> srv_request, with OpenAI-style errors (see request.h).
 *
 * Every field goes through one of a few typed getters that treat absent and null alike
 * (default), reject the wrong JSON type, and check the range, so each error names its field
 * the way OpenAI does ("Invalid type for 'temperature': ..."). The body is depth-checked before
 * jansson sees it, so deeply nested input cannot exhaust the stack. */
#include "server/request.h"
#include "server/manage_req.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "grammar/json_schema.h"
#include "server/responses.h"

int srv_req_fail(srv_req_error *err, int status, const char *param, const char *code, const char *fmt, ...) {
    if (!err) return -1;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    return -1;
}

/* Deepest [ / { nesting outside strings (the scan stops once it passes max). */
static int json_depth_exceeds(const char *s, size_t len, int max) {
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max) return 1;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

json_t *srv_json_parse_object(const char *body, size_t len, srv_req_error *err) {
    if (len == 0) {
        srv_req_fail(err, 400, NULL, "invalid_json", "The request body is empty; expected a JSON object.");
        return NULL;
    }
    if (json_depth_exceeds(body, len, SRV_MAX_JSON_DEPTH)) {
        srv_req_fail(err, 400, NULL, "invalid_json", "The request body nests deeper than %d levels.",
                     SRV_MAX_JSON_DEPTH);
        return NULL;
    }
    json_error_t je;
    unsigned long failed = he_alloc_failures();
    he_alloc_inject_hold(true); /* see alloc.h: jansson's parser crashes on an injected failure */
    json_t *root = json_loadb(body, len, 0, &je);
    he_alloc_inject_hold(false);
    /* jansson reports some allocation failures as syntax errors (jansson allocates through
     * he_malloc in the server: http.c), so ask the gateway */
    if (!root && he_alloc_failures() != failed) {
        srv_req_nomem(err);
        return NULL;
    }
    if (!root) {
        srv_req_fail(err, 400, NULL, "invalid_json",
                     "We could not parse the JSON body of your request: %s (line %d, column %d).", je.text,
                     je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        srv_req_fail(err, 400, NULL, "invalid_json", "The request body must be a JSON object.");
        return NULL;
    }
    return root;
}

int srv_req_nomem(srv_req_error *err) {
    return srv_req_fail(err, 503, NULL, "out_of_memory", "The server is out of memory for this request; retry shortly.");
}

/* A copy of request text (request-sized: fallible). */
static char *dup_text(const char *s, size_t n) {
    char *d = he_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static const char *json_type_word(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

static int type_error(srv_req_error *err, const char *param, const char *want, const json_t *v) {
    return srv_req_fail(err, 400, param, "invalid_type",
                        "Invalid type for '%s': expected %s, but got %s instead.", param, want, json_type_word(v));
}

/* Absent or null: 0 (*present false). Wrong type or range: -1. */
static int get_number(const json_t *o, const char *key, const char *param, double lo, double hi, double *out,
                      bool *present, srv_req_error *err) {
    *present = false;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return type_error(err, param, "a number", v);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return srv_req_fail(err, 400, param, "invalid_value",
                            "Invalid value for '%s': expected a number between %g and %g, but got %g instead.", param,
                            lo, hi, d);
    *out = d;
    *present = true;
    return 0;
}

static int get_int(const json_t *o, const char *key, const char *param, int64_t lo, int64_t hi, int64_t *out,
                   bool *present, srv_req_error *err) {
    *present = false;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    int64_t i;
    if (json_is_integer(v)) {
        i = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        /* 5.0 is accepted as 5 (as pydantic does); 5.5 and 1e300 are not integers. */
        if (!(d >= -9.2e18 && d <= 9.2e18) || d != floor(d)) return type_error(err, param, "an integer", v);
        i = (int64_t)d;
    } else {
        return type_error(err, param, "an integer", v);
    }
    if (i < lo || i > hi) {
        if (i < lo)
            return srv_req_fail(err, 400, param, "integer_below_min_value",
                                "Invalid '%s': integer below minimum value. Expected a value >= %lld, but got %lld "
                                "instead.",
                                param, (long long)lo, (long long)i);
        return srv_req_fail(err, 400, param, "integer_above_max_value",
                            "Invalid '%s': integer above maximum value. Expected a value <= %lld, but got %lld "
                            "instead.",
                            param, (long long)hi, (long long)i);
    }
    *out = i;
    *present = true;
    return 0;
}

static int get_bool(const json_t *o, const char *key, const char *param, bool *out, srv_req_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return type_error(err, param, "a boolean", v);
    *out = json_is_true(v);
    return 0;
}

/* *out = NULL when absent or null. */
static int get_string(const json_t *o, const char *key, const char *param, const char **out, srv_req_error *err) {
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return type_error(err, param, "a string", v);
    *out = json_string_value(v);
    return 0;
}

static int parse_stop(srv_request *r, const json_t *v, const char *param, srv_req_error *err) {
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        if (json_string_length(v) > SRV_MAX_STOP_LEN)
            return srv_req_fail(err, 400, param, "invalid_value", "Invalid '%s': a stop string is longer than %d bytes.",
                                param, SRV_MAX_STOP_LEN);
        if (json_string_length(v) > 0) r->stop[r->n_stop++] = xstrdup(json_string_value(v));
        return 0;
    }
    if (!json_is_array(v)) return type_error(err, param, "a string or an array of strings", v);
    if (json_array_size(v) > SRV_MAX_STOP)
        return srv_req_fail(err, 400, param, "invalid_value",
                            "Invalid '%s': expected at most %d stop sequences, but got %zu.", param, SRV_MAX_STOP,
                            json_array_size(v));
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        char p[64];
        snprintf(p, sizeof p, "%s[%zu]", param, i);
        if (!json_is_string(s)) return type_error(err, p, "a string", s);
        if (json_string_length(s) > SRV_MAX_STOP_LEN)
            return srv_req_fail(err, 400, p, "invalid_value", "Invalid '%s': a stop string is longer than %d bytes.", p,
                                SRV_MAX_STOP_LEN);
        if (json_string_length(s) > 0) r->stop[r->n_stop++] = xstrdup(json_string_value(s));
    }
    return 0;
}

/* ---- messages ---- */

static bool role_ok(const char *role, bool openai) {
    static const char *const roles[] = {"system", "user", "assistant", "tool", "developer", "function"};
    size_t n = openai ? 6 : 4;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(role, roles[i])) return true;
    return false;
}

/* content: string, null, or an array of parts; text parts are joined with '\n'. */
static int content_text(const json_t *c, const char *param, bool openai, char **out, srv_req_error *err) {
    if (!c || json_is_null(c)) {
        *out = dup_text("", 0);
        return *out ? 0 : srv_req_nomem(err);
    }
    if (json_is_string(c)) {
        *out = dup_text(json_string_value(c), json_string_length(c));
        return *out ? 0 : srv_req_nomem(err);
    }
    if (!openai || !json_is_array(c)) return type_error(err, param, openai ? "a string or an array of content parts" : "a string", c);
    size_t total = 0, i;
    json_t *part;
    json_array_foreach(c, i, part) {
        char p[96];
        snprintf(p, sizeof p, "%s[%zu]", param, i);
        if (!json_is_object(part)) return type_error(err, p, "an object", part);
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!type) return srv_req_fail(err, 400, p, "missing_required_parameter", "Missing required parameter: '%s.type'.", p);
        if (strcmp(type, "text") != 0) {
            if (!strcmp(type, "image_url") || !strcmp(type, "input_audio") || !strcmp(type, "file"))
                return srv_req_fail(err, 400, p, "unsupported_content",
                                    "Invalid content part '%s': type '%s' is not supported by this server (text only).", p,
                                    type);
            return srv_req_fail(err, 400, p, "invalid_value",
                                "Invalid value for '%s.type': expected 'text', but got '%s'.", p, type);
        }
        json_t *t = json_object_get(part, "text");
        if (!json_is_string(t)) {
            char pt[112];
            snprintf(pt, sizeof pt, "%s.text", p);
            return t ? type_error(err, pt, "a string", t)
                     : srv_req_fail(err, 400, pt, "missing_required_parameter", "Missing required parameter: '%s'.", pt);
        }
        total += json_string_length(t) + 1;
    }
    char *s = he_malloc(total + 1), *w = s;
    if (!s) return srv_req_nomem(err);
    json_array_foreach(c, i, part) {
        json_t *t = json_object_get(part, "text");
        if (i) *w++ = '\n';
        memcpy(w, json_string_value(t), json_string_length(t));
        w += json_string_length(t);
    }
    *w = 0;
    *out = s;
    return 0;
}

/* OpenAI sends tool-call arguments as a JSON string; templates expect a mapping, so parse it
 * when it is valid JSON (the copy is what the template sees; the request is not changed). */
static json_t *normalize_tool_calls(const json_t *calls) {
    json_t *out = json_deep_copy(calls);
    size_t i;
    json_t *c;
    json_array_foreach(out, i, c) {
        json_t *fn = json_object_get(c, "function");
        json_t *args = fn ? json_object_get(fn, "arguments") : NULL;
        if (json_is_string(args)) {
            json_t *parsed = json_loadb(json_string_value(args), json_string_length(args), JSON_DECODE_ANY, NULL);
            if (parsed && json_is_object(parsed)) json_object_set_new(fn, "arguments", parsed);
            else json_decref(parsed);
        }
    }
    return out;
}

static int parse_messages(srv_request *r, const json_t *root, bool openai, srv_req_error *err) {
    json_t *msgs = json_object_get(root, "messages");
    if (!msgs || json_is_null(msgs)) {
        if (!openai) {
            r->messages = json_array(); /* Ollama: no messages loads the model */
            return 0;
        }
        return srv_req_fail(err, 400, "messages", "missing_required_parameter", "Missing required parameter: 'messages'.");
    }
    if (!json_is_array(msgs)) return type_error(err, "messages", "an array", msgs);
    if (openai && json_array_size(msgs) == 0)
        return srv_req_fail(err, 400, "messages", "empty_array",
                            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
                            "array instead.");
    r->messages = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        char p[48];
        snprintf(p, sizeof p, "messages[%zu]", i);
        if (!json_is_object(m)) return type_error(err, p, "an object", m);
        char pr[64], pc[64];
        snprintf(pr, sizeof pr, "%s.role", p);
        snprintf(pc, sizeof pc, "%s.content", p);
        json_t *role = json_object_get(m, "role");
        if (!role || json_is_null(role))
            return srv_req_fail(err, 400, pr, "missing_required_parameter", "Missing required parameter: '%s'.", pr);
        if (!json_is_string(role)) return type_error(err, pr, "a string", role);
        const char *rs = json_string_value(role);
        if (!role_ok(rs, openai))
            return srv_req_fail(err, 400, pr, "invalid_value",
                                "Invalid value for '%s': '%s' is not one of 'system', 'user', 'assistant', 'tool'.", pr,
                                rs);
        if (!strcmp(rs, "developer")) rs = "system";
        if (!strcmp(rs, "function")) rs = "tool";
        json_t *content = json_object_get(m, "content");
        if (openai && !content && strcmp(rs, "assistant") != 0)
            return srv_req_fail(err, 400, pc, "missing_required_parameter", "Missing required parameter: '%s'.", pc);
        json_t *images = json_object_get(m, "images");
        if (!openai && images && !json_is_null(images) && !(json_is_array(images) && json_array_size(images) == 0))
            return srv_req_fail(err, 400, "images", "unsupported_content",
                                "Invalid '%s.images': images are not supported by this server (text only).", p);
        char *text = NULL;
        if (content_text(content, pc, openai, &text, err)) return -1;
        json_t *nm = json_pack("{s:s, s:s}", "role", rs, "content", text);
        free(text);
        json_array_append_new(r->messages, nm);
        json_t *name = json_object_get(m, "name");
        if (json_is_string(name)) json_object_set(nm, "name", name);
        json_t *tcid = json_object_get(m, "tool_call_id");
        if (json_is_string(tcid)) json_object_set(nm, "tool_call_id", tcid);
        json_t *tname = json_object_get(m, "tool_name");
        if (json_is_string(tname)) json_object_set(nm, "name", tname);
        json_t *calls = json_object_get(m, "tool_calls");
        if (calls && !json_is_null(calls)) {
            char pt[64];
            snprintf(pt, sizeof pt, "%s.tool_calls", p);
            if (!json_is_array(calls)) return type_error(err, pt, "an array", calls);
            json_object_set_new(nm, "tool_calls", normalize_tool_calls(calls));
        }
    }
    return 0;
}

/* ---- tools, structured output, reasoning ---- */

/* An error from the grammar/toolcall modules as a 400 on param (their messages already name
 * the keyword or position). */
static int he_to_400(srv_req_error *err, const char *param, const char *code, const he_error *he) {
    return srv_req_fail(err, 400, param, code, "Invalid '%s': %s", param, he->msg);
}

/* Compiles GBNF text into r->grammar; a syntax error is a 400 on param with its position. */
static int compile_grammar(srv_request *r, const char *text, size_t len, const char *param, srv_req_error *err) {
    he_error he = {0};
    r->grammar = gram_parse(text, len, NULL, &he);
    if (!r->grammar) return he_to_400(err, param, "invalid_grammar", &he);
    return 0;
}

/* schema -> GBNF -> compiled grammar; unsupported keywords are a 400 naming them. */
static int compile_schema(srv_request *r, const json_t *schema, const char *param, srv_req_error *err) {
    he_error he = {0};
    json_decref(r->format_schema);
    r->format_schema = json_incref((json_t *)schema);
    char *gbnf = gram_schema_to_gbnf(schema, &he);
    if (!gbnf) return he_to_400(err, param, "invalid_schema", &he);
    int rc = compile_grammar(r, gbnf, strlen(gbnf), param, err);
    free(gbnf);
    return rc;
}

/* `{"type": "object"}`: any JSON object (json_object mode, Ollama format "json"). */
static int compile_any_object(srv_request *r, const char *param, srv_req_error *err) {
    json_t *o = json_pack("{s:s}", "type", "object");
    int rc = compile_schema(r, o, param, err);
    json_decref(o);
    return rc;
}

static int parse_response_format(srv_request *r, const json_t *root, srv_req_error *err) {
    json_t *rf = json_object_get(root, "response_format");
    if (!rf || json_is_null(rf)) return 0;
    if (!json_is_object(rf)) return type_error(err, "response_format", "an object", rf);
    json_t *tv = json_object_get(rf, "type");
    if (!tv) return srv_req_fail(err, 400, "response_format.type", "missing_required_parameter",
                                 "Missing required parameter: 'response_format.type'.");
    if (!json_is_string(tv)) return type_error(err, "response_format.type", "a string", tv);
    const char *t = json_string_value(tv);
    if (!strcmp(t, "text")) return 0;
    if (!strcmp(t, "json_object")) {
        r->format = SRV_FMT_JSON_OBJECT;
        return compile_any_object(r, "response_format", err);
    }
    if (strcmp(t, "json_schema") != 0)
        return srv_req_fail(err, 400, "response_format.type", "invalid_value",
                            "Invalid value for 'response_format.type': expected one of 'text', 'json_object', "
                            "'json_schema', but got '%s'.",
                            t);
    json_t *js = json_object_get(rf, "json_schema");
    if (!js || json_is_null(js))
        return srv_req_fail(err, 400, "response_format.json_schema", "missing_required_parameter",
                            "Missing required parameter: 'response_format.json_schema'.");
    if (!json_is_object(js)) return type_error(err, "response_format.json_schema", "an object", js);
    const char *name;
    if (get_string(js, "name", "response_format.json_schema.name", &name, err)) return -1;
    if (!name)
        return srv_req_fail(err, 400, "response_format.json_schema.name", "missing_required_parameter",
                            "Missing required parameter: 'response_format.json_schema.name'.");
    bool strict = false;
    if (get_bool(js, "strict", "response_format.json_schema.strict", &strict, err)) return -1;
    json_t *schema = json_object_get(js, "schema");
    r->format = SRV_FMT_JSON_SCHEMA;
    if (!schema || json_is_null(schema)) return compile_any_object(r, "response_format.json_schema.schema", err);
    if (!json_is_object(schema) && !json_is_boolean(schema))
        return type_error(err, "response_format.json_schema.schema", "an object", schema);
    return compile_schema(r, schema, "response_format.json_schema.schema", err);
}

/* Ollama `format`: "json" or a JSON schema object ("" or null: plain text). */
static int parse_ollama_format(srv_request *r, const json_t *root, srv_req_error *err) {
    json_t *fmt = json_object_get(root, "format");
    if (!fmt || json_is_null(fmt)) return 0;
    if (json_is_string(fmt)) {
        const char *f = json_string_value(fmt);
        if (!f[0]) return 0;
        if (strcmp(f, "json") != 0)
            return srv_req_fail(err, 400, "format", "invalid_value",
                                "Invalid value for 'format': expected \"json\" or a JSON schema object, but got '%s'.", f);
        r->format = SRV_FMT_JSON_OBJECT;
        return compile_any_object(r, "format", err);
    }
    if (!json_is_object(fmt)) return type_error(err, "format", "\"json\" or a JSON schema object", fmt);
    r->format = SRV_FMT_JSON_SCHEMA;
    return compile_schema(r, fmt, "format", err);
}

/* The `grammar` extension: raw GBNF text (root rule "root"). */
static int parse_grammar(srv_request *r, const json_t *root, srv_req_error *err) {
    const char *g;
    if (get_string(root, "grammar", "grammar", &g, err)) return -1;
    if (!g || !g[0]) return 0;
    size_t len = json_string_length(json_object_get(root, "grammar"));
    if (len > SRV_MAX_GRAMMAR_LEN)
        return srv_req_fail(err, 400, "grammar", "invalid_value", "Invalid 'grammar': longer than %d bytes.",
                            SRV_MAX_GRAMMAR_LEN);
    if (r->format != SRV_FMT_TEXT)
        return srv_req_fail(err, 400, "grammar", "invalid_value",
                            "Invalid 'grammar': give either 'grammar' or a structured output format, not both.");
    r->format = SRV_FMT_GRAMMAR;
    return compile_grammar(r, g, len, "grammar", err);
}

/* tools, tool_choice, parallel_tool_calls (chat routes, OpenAI and Ollama alike). */
static int parse_tools(srv_request *r, const json_t *root, srv_req_error *err) {
    r->tool_choice = TC_CHOICE_AUTO;
    r->parallel_tool_calls = true;
    json_t *tools = json_object_get(root, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools)) return type_error(err, "tools", "an array", tools);
        if (json_array_size(tools) > SRV_MAX_TOOLS)
            return srv_req_fail(err, 400, "tools", "invalid_value",
                                "Invalid 'tools': expected at most %d tools, but got %zu.", SRV_MAX_TOOLS,
                                json_array_size(tools));
        if (json_array_size(tools) == 0) tools = NULL;
    } else {
        tools = NULL;
    }
    if (get_bool(root, "parallel_tool_calls", "parallel_tool_calls", &r->parallel_tool_calls, err)) return -1;
    json_t *choice = json_object_get(root, "tool_choice");
    if (choice && json_is_null(choice)) choice = NULL;
    if (!tools) {
        /* "none" and "auto" mean the same without tools; anything else needs tools */
        if (!choice) return 0;
        if (json_is_string(choice) &&
            (!strcmp(json_string_value(choice), "none") || !strcmp(json_string_value(choice), "auto"))) {
            r->tool_choice = TC_CHOICE_NONE;
            return 0;
        }
        if (!json_is_string(choice) && !json_is_object(choice))
            return type_error(err, "tool_choice", "a string or an object", choice);
        return srv_req_fail(err, 400, "tool_choice", "invalid_value",
                            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                            "specified.");
    }
    he_error he = {0};
    const char *named = NULL;
    if (tc_validate(tools, choice, &r->tool_choice, &named, &he)) {
        const char *param = !strncmp(he.msg, "tool_choice", 11) ? "tool_choice" : "tools";
        return srv_req_fail(err, 400, param, !strcmp(param, "tools") ? "invalid_tools" : "invalid_value", "%s",
                            he.msg);
    }
    if (named) r->tool_named = xstrdup(named);
    r->tools = json_incref(tools);
    return 0;
}

/* The level word as a static string for the template (low/medium/high only), else NULL. */
static const char *effort_level(const char *e) {
    static const char *const levels[] = {"low", "medium", "high"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (!strcmp(e, levels[i])) return levels[i];
    return NULL;
}

/* reasoning_effort / Ollama think levels as token budgets; -1 for an unknown word. */
static int32_t effort_budget(const char *e) {
    if (!strcmp(e, "none") || !strcmp(e, "minimal")) return 0;
    if (!strcmp(e, "low")) return SRV_EFFORT_LOW;
    if (!strcmp(e, "medium")) return SRV_EFFORT_MEDIUM;
    if (!strcmp(e, "high")) return SRV_EFFORT_HIGH;
    return -1;
}

/* chat_template_kwargs (an object handed to the template), enable_thinking (top level or in
 * the kwargs), Ollama's think (a boolean, or "low"/"medium"/"high" meaning on). */
static int parse_reasoning(srv_request *r, const json_t *root, bool openai, srv_req_error *err) {
    r->enable_thinking = -1;
    json_t *kw = json_object_get(root, "chat_template_kwargs");
    if (kw && !json_is_null(kw)) {
        if (!json_is_object(kw)) return type_error(err, "chat_template_kwargs", "an object", kw);
        const char *k;
        json_t *v;
        json_object_foreach(kw, k, v) {
            /* the keys the server itself sets would silently break the prompt */
            if (!strcmp(k, "messages") || !strcmp(k, "tools") || !strcmp(k, "add_generation_prompt"))
                return srv_req_fail(err, 400, "chat_template_kwargs", "invalid_value",
                                    "Invalid 'chat_template_kwargs': '%s' is set by the server and cannot be overridden.",
                                    k);
        }
        if (json_object_size(kw) > 0) r->template_kwargs = json_incref(kw);
        json_t *et = json_object_get(kw, "enable_thinking");
        if (et && !json_is_null(et)) {
            if (!json_is_boolean(et)) return type_error(err, "chat_template_kwargs.enable_thinking", "a boolean", et);
            r->enable_thinking = json_is_true(et);
        }
    }
    /* The budget: reasoning_budget and thinking_budget (the same thing under two names, as
     * clients spell it) win over a level (reasoning_effort, Ollama's think). */
    int32_t level = -1;
    if (openai) {
        json_t *et = json_object_get(root, "enable_thinking");
        if (et && !json_is_null(et)) {
            if (!json_is_boolean(et)) return type_error(err, "enable_thinking", "a boolean", et);
            r->enable_thinking = json_is_true(et);
        }
        const char *effort;
        if (get_string(root, "reasoning_effort", "reasoning_effort", &effort, err)) return -1;
        if (effort) {
            level = effort_budget(effort);
            r->reasoning_effort = effort_level(effort);
            if (level < 0)
                return srv_req_fail(err, 400, "reasoning_effort", "invalid_value",
                                    "Invalid value for 'reasoning_effort': expected one of 'none', 'minimal', 'low', "
                                    "'medium', 'high', but got '%.64s'.",
                                    effort);
        }
    } else {
        json_t *th = json_object_get(root, "think");
        if (th && !json_is_null(th)) {
            if (json_is_boolean(th)) {
                r->enable_thinking = json_is_true(th);
                if (!json_is_true(th)) level = 0; /* no thinking: a template that opens it anyway closes at once */
            } else if (json_is_string(th) && (!strcmp(json_string_value(th), "low") || !strcmp(json_string_value(th), "medium") ||
                                              !strcmp(json_string_value(th), "high"))) {
                r->enable_thinking = 1;
                level = effort_budget(json_string_value(th));
                r->reasoning_effort = effort_level(json_string_value(th));
            } else {
                return type_error(err, "think", "a boolean or one of \"low\", \"medium\", \"high\"", th);
            }
        }
    }
    int64_t b1 = -1, b2 = -1;
    bool p1, p2;
    if (get_int(root, "reasoning_budget", "reasoning_budget", 0, SRV_MAX_REASONING_BUDGET, &b1, &p1, err)) return -1;
    if (get_int(root, "thinking_budget", "thinking_budget", 0, SRV_MAX_REASONING_BUDGET, &b2, &p2, err)) return -1;
    if (p1 && p2 && b1 != b2)
        return srv_req_fail(err, 400, "thinking_budget", "invalid_value",
                            "Invalid 'thinking_budget': %lld differs from 'reasoning_budget' %lld (give one of them).",
                            (long long)b2, (long long)b1);
    r->reasoning_budget = p1 ? (int32_t)b1 : p2 ? (int32_t)b2 : level;
    return 0;
}

/* ---- sampling fields shared by the OpenAI routes ---- */

static int openai_sampling(srv_request *r, const json_t *root, srv_req_error *err) {
    double d;
    int64_t i;
    bool present;
    if (get_number(root, "temperature", "temperature", 0, 2, &d, &present, err)) return -1;
    if (present) r->sampling.temperature = (float)d, r->set |= SRV_SET_TEMPERATURE;
    if (get_number(root, "top_p", "top_p", 0, 1, &d, &present, err)) return -1;
    if (present) r->sampling.top_p = (float)d, r->set |= SRV_SET_TOP_P;
    if (get_number(root, "presence_penalty", "presence_penalty", -2, 2, &d, &present, err)) return -1;
    if (present) r->sampling.presence_penalty = (float)d, r->set |= SRV_SET_PRESENCE_PENALTY;
    if (get_number(root, "frequency_penalty", "frequency_penalty", -2, 2, &d, &present, err)) return -1;
    if (present) r->sampling.frequency_penalty = (float)d, r->set |= SRV_SET_FREQUENCY_PENALTY;
    if (get_int(root, "seed", "seed", INT64_MIN, INT64_MAX, &i, &present, err)) return -1;
    if (present) r->sampling.seed = (uint64_t)i, r->set |= SRV_SET_SEED;
    /* Extensions llama.cpp's server also accepts. */
    if (get_int(root, "top_k", "top_k", 0, INT32_MAX, &i, &present, err)) return -1;
    if (present) r->sampling.top_k = (int32_t)i, r->set |= SRV_SET_TOP_K;
    if (get_number(root, "min_p", "min_p", 0, 1, &d, &present, err)) return -1;
    if (present) r->sampling.min_p = (float)d, r->set |= SRV_SET_MIN_P;
    if (get_number(root, "repeat_penalty", "repeat_penalty", 0, 100, &d, &present, err)) return -1;
    if (present) r->sampling.repeat_penalty = (float)d, r->set |= SRV_SET_REPEAT_PENALTY;

    if (get_int(root, "n", "n", INT64_MIN, INT64_MAX, &i, &present, err)) return -1;
    if (present && i != 1)
        return srv_req_fail(err, 400, "n", "unsupported_value",
                            "Invalid value for 'n': this server generates one choice per request (n must be 1), but "
                            "got %lld.",
                            (long long)i);
    if (parse_stop(r, json_object_get(root, "stop"), "stop", err)) return -1;
    json_t *so = json_object_get(root, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return type_error(err, "stream_options", "an object", so);
        if (get_bool(so, "include_usage", "stream_options.include_usage", &r->include_usage, err)) return -1;
    }
    json_t *lo = json_object_get(root, "lora");
    if (lo && !json_is_null(lo)) {
        if (!json_is_array(lo)) return type_error(err, "lora", "an array", lo);
        if (json_array_size(lo) > 16)
            return srv_req_fail(err, 400, "lora", "invalid_value",
                                "Invalid value for 'lora': at most 16 entries.");
        size_t li;
        json_t *e;
        json_array_foreach(lo, li, e) {
            json_t *id = json_is_object(e) ? json_object_get(e, "id") : NULL;
            json_t *sc = json_is_object(e) ? json_object_get(e, "scale") : NULL;
            if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > 1000 ||
                !json_is_number(sc) || !isfinite(json_number_value(sc)) || fabs(json_number_value(sc)) > 1e6)
                return srv_req_fail(err, 400, "lora", "invalid_value",
                                    "Invalid value for 'lora': expected [{\"id\": integer >= 0, \"scale\": number}], entry %zu "
                                    "is not.",
                                    li);
            r->lora_id[r->n_lora] = (int32_t)json_integer_value(id);
            r->lora_scale[r->n_lora++] = (float)json_number_value(sc);
        }
    }
    json_t *lb = json_object_get(root, "logit_bias");
    if (lb && !json_is_null(lb)) {
        if (!json_is_object(lb)) return type_error(err, "logit_bias", "an object", lb);
        if (json_object_size(lb) > 0)
            return srv_req_fail(err, 400, "logit_bias", "unsupported_parameter",
                                "Unsupported parameter: 'logit_bias' is not supported by this server.");
    }
    return 0;
}

static int parse_model(srv_request *r, const json_t *root, srv_req_error *err) {
    const char *model;
    if (get_string(root, "model", "model", &model, err)) return -1;
    if (!model)
        return srv_req_fail(err, 400, "model", "missing_required_parameter", "Missing required parameter: 'model'.");
    if (!model[0] || strlen(model) > 256)
        return srv_req_fail(err, 400, "model", "invalid_value", "Invalid value for 'model': expected 1 to 256 characters.");
    r->model = xstrdup(model);
    return 0;
}

static int parse_chat(srv_request *r, const json_t *root, srv_req_error *err) {
    if (parse_model(r, root, err) || parse_messages(r, root, true, err) || openai_sampling(r, root, err)) return -1;
    if (get_bool(root, "stream", "stream", &r->stream, err)) return -1;
    int64_t i;
    bool present;
    if (get_int(root, "max_tokens", "max_tokens", 1, INT32_MAX, &i, &present, err)) return -1;
    if (present) r->max_tokens = (int32_t)i;
    if (get_int(root, "max_completion_tokens", "max_completion_tokens", 1, INT32_MAX, &i, &present, err)) return -1;
    if (present) r->max_tokens = (int32_t)i;
    bool logprobs = false;
    if (get_bool(root, "logprobs", "logprobs", &logprobs, err)) return -1;
    if (get_int(root, "top_logprobs", "top_logprobs", 0, 20, &i, &present, err)) return -1;
    if (present && !logprobs)
        return srv_req_fail(err, 400, "top_logprobs", "invalid_value",
                            "Invalid value for 'top_logprobs': 'logprobs' must be true when 'top_logprobs' is given.");
    r->top_logprobs = logprobs ? (present ? (int32_t)i : 0) : -1;
    if (parse_tools(r, root, err) || parse_response_format(r, root, err) || parse_grammar(r, root, err) ||
        parse_reasoning(r, root, true, err))
        return -1;
    return 0;
}

static int parse_completion(srv_request *r, const json_t *root, srv_req_error *err) {
    if (parse_model(r, root, err) || openai_sampling(r, root, err)) return -1;
    if (get_bool(root, "stream", "stream", &r->stream, err)) return -1;
    json_t *p = json_object_get(root, "prompt");
    if (!p || json_is_null(p))
        return srv_req_fail(err, 400, "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'.");
    if (json_is_array(p) && json_array_size(p) == 1 && (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0); /* ["text"] or [[ids]] */
    if (json_is_string(p)) {
        r->prompt = dup_text(json_string_value(p), json_string_length(p));
        if (!r->prompt) return srv_req_nomem(err);
    } else if (json_is_array(p) && json_array_size(p) > 0) {
        size_t n = json_array_size(p), i;
        json_t *t;
        if (json_is_string(json_array_get(p, 0)))
            return srv_req_fail(err, 400, "prompt", "unsupported_value",
                                "Invalid 'prompt': this server takes one prompt per request, but got %zu.", n);
        r->prompt_tokens = he_malloc(n * sizeof *r->prompt_tokens);
        if (!r->prompt_tokens) return srv_req_nomem(err);
        json_array_foreach(p, i, t) {
            if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
                return srv_req_fail(err, 400, "prompt", "invalid_type",
                                    "Invalid 'prompt[%zu]': expected a token id (a non-negative integer).", i);
            r->prompt_tokens[i] = (int32_t)json_integer_value(t);
        }
        r->n_prompt_tokens = n;
    } else {
        return type_error(err, "prompt", "a string, an array of one string, or an array of token ids", p);
    }
    int64_t i;
    bool present;
    r->max_tokens = 16; /* the legacy completions API's default */
    if (get_int(root, "max_tokens", "max_tokens", 0, INT32_MAX, &i, &present, err)) return -1;
    if (present) r->max_tokens = (int32_t)i;
    if (present && i == 0) r->max_tokens = 0;
    if (get_int(root, "logprobs", "logprobs", 0, 5, &i, &present, err)) return -1;
    r->top_logprobs = present ? (int32_t)i : -1;
    bool echo = false;
    if (get_bool(root, "echo", "echo", &echo, err)) return -1;
    if (echo)
        return srv_req_fail(err, 400, "echo", "unsupported_value", "Invalid value for 'echo': echo is not supported by this server.");
    if (get_int(root, "best_of", "best_of", INT64_MIN, INT64_MAX, &i, &present, err)) return -1;
    if (present && i != 1)
        return srv_req_fail(err, 400, "best_of", "unsupported_value", "Invalid value for 'best_of': only 1 is supported.");
    const char *suffix;
    if (get_string(root, "suffix", "suffix", &suffix, err)) return -1;
    if (suffix && suffix[0])
        return srv_req_fail(err, 400, "suffix", "unsupported_parameter", "Unsupported parameter: 'suffix' is not supported by this server.");
    /* constrained completions, as llama.cpp's server takes them */
    if (parse_response_format(r, root, err) || parse_grammar(r, root, err)) return -1;
    return 0;
}

/* ---- Ollama ---- */

static int ollama_options(srv_request *r, const json_t *root, srv_req_error *err) {
    json_t *o = json_object_get(root, "options");
    if (!o || json_is_null(o)) return 0;
    if (!json_is_object(o)) return type_error(err, "options", "an object", o);
    struct {
        const char *key;
        unsigned bit;
        double lo, hi;
        float *dst;
    } fl[] = {
        {"temperature", SRV_SET_TEMPERATURE, 0, 1000, &r->sampling.temperature},
        {"top_p", SRV_SET_TOP_P, 0, 1, &r->sampling.top_p},
        {"min_p", SRV_SET_MIN_P, 0, 1, &r->sampling.min_p},
        {"repeat_penalty", SRV_SET_REPEAT_PENALTY, 0, 100, &r->sampling.repeat_penalty},
        {"presence_penalty", SRV_SET_PRESENCE_PENALTY, -100, 100, &r->sampling.presence_penalty},
        {"frequency_penalty", SRV_SET_FREQUENCY_PENALTY, -100, 100, &r->sampling.frequency_penalty},
    };
    for (size_t k = 0; k < sizeof fl / sizeof fl[0]; k++) {
        char p[64];
        snprintf(p, sizeof p, "options.%s", fl[k].key);
        double d;
        bool present;
        if (get_number(o, fl[k].key, p, fl[k].lo, fl[k].hi, &d, &present, err)) return -1;
        if (present) *fl[k].dst = (float)d, r->set |= fl[k].bit;
    }
    int64_t i;
    bool present;
    if (get_int(o, "top_k", "options.top_k", 0, INT32_MAX, &i, &present, err)) return -1;
    if (present) r->sampling.top_k = (int32_t)i, r->set |= SRV_SET_TOP_K;
    if (get_int(o, "repeat_last_n", "options.repeat_last_n", -1, INT32_MAX, &i, &present, err)) return -1;
    if (present) r->sampling.repeat_last_n = (int32_t)i, r->set |= SRV_SET_REPEAT_LAST_N;
    if (get_int(o, "seed", "options.seed", INT64_MIN, INT64_MAX, &i, &present, err)) return -1;
    if (present) r->sampling.seed = (uint64_t)i, r->set |= SRV_SET_SEED;
    /* num_predict: -1 infinite, -2 fill the context, 0 (as Ollama) no limit */
    if (get_int(o, "num_predict", "options.num_predict", -2, INT32_MAX, &i, &present, err)) return -1;
    if (present) r->max_tokens = i > 0 ? (int32_t)i : 0;
    if (get_int(o, "num_ctx", "options.num_ctx", 1, INT32_MAX, &i, &present, err)) return -1;
    if (present) r->num_ctx = (int32_t)i;
    if (parse_stop(r, json_object_get(o, "stop"), "options.stop", err)) return -1;
    return 0;
}

static int ollama_common(srv_request *r, const json_t *root, srv_req_error *err) {
    r->stream = true;
    if (parse_model(r, root, err)) return -1;
    if (get_bool(root, "stream", "stream", &r->stream, err)) return -1;
    if (parse_ollama_format(r, root, err) || parse_reasoning(r, root, false, err)) return -1;
    json_t *ka = json_object_get(root, "keep_alive");
    if (ka && !json_is_null(ka)) {
        char why[128];
        if (!json_is_string(ka) && !json_is_number(ka))
            return type_error(err, "keep_alive", "a duration string or a number of seconds", ka);
        if (srv_keep_alive_parse(ka, &r->keep_alive, why, sizeof why))
            return srv_req_fail(err, 400, "keep_alive", "invalid_value", "Invalid 'keep_alive': %s.", why);
        r->has_keep_alive = true;
    }
    bool lp = false;
    if (get_bool(root, "logprobs", "logprobs", &lp, err)) return -1;
    int64_t i;
    bool present;
    if (get_int(root, "top_logprobs", "top_logprobs", 0, 20, &i, &present, err)) return -1;
    r->top_logprobs = lp ? (present ? (int32_t)i : 0) : -1;
    return ollama_options(r, root, err);
}

static int parse_generate(srv_request *r, const json_t *root, srv_req_error *err) {
    if (ollama_common(r, root, err)) return -1;
    const char *s;
    if (get_string(root, "prompt", "prompt", &s, err)) return -1;
    r->prompt = dup_text(s ? s : "", s ? strlen(s) : 0);
    if (!r->prompt) return srv_req_nomem(err);
    if (get_string(root, "system", "system", &s, err)) return -1;
    if (s && !(r->system = dup_text(s, strlen(s)))) return srv_req_nomem(err);
    if (get_bool(root, "raw", "raw", &r->raw, err)) return -1;
    if (get_string(root, "template", "template", &s, err)) return -1;
    if (s && s[0])
        return srv_req_fail(err, 400, "template", "unsupported_parameter",
                            "Unsupported parameter: 'template' (Go templates) is not supported; the model's chat template is used.");
    if (get_string(root, "suffix", "suffix", &s, err)) return -1;
    if (s && s[0])
        return srv_req_fail(err, 400, "suffix", "unsupported_parameter", "Unsupported parameter: 'suffix' is not supported by this server.");
    json_t *images = json_object_get(root, "images");
    if (images && !json_is_null(images) && !(json_is_array(images) && json_array_size(images) == 0))
        return srv_req_fail(err, 400, "images", "unsupported_content", "Invalid 'images': images are not supported by this server (text only).");
    /* context: the token ids a previous /api/generate returned; the new prompt continues them
     * (the ids are checked against the vocabulary once the model is known) */
    json_t *ctx = json_object_get(root, "context");
    if (ctx && !json_is_null(ctx)) {
        if (!json_is_array(ctx)) return type_error(err, "context", "an array of token ids", ctx);
        size_t n = json_array_size(ctx), i;
        json_t *t;
        if (n > ((size_t)1 << 22))
            return srv_req_fail(err, 400, "context", "invalid_value", "Invalid 'context': %zu tokens is more than any context.", n);
        if (n && !(r->context = he_malloc(n * sizeof *r->context))) return srv_req_nomem(err);
        json_array_foreach(ctx, i, t) {
            if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
                return srv_req_fail(err, 400, "context", "invalid_type",
                                    "Invalid 'context[%zu]': expected a token id (a non-negative integer).", i);
            r->context[i] = (int32_t)json_integer_value(t);
        }
        r->n_context = n;
    }
    return 0;
}

int srv_request_parse(srv_api api, const char *body, size_t len, srv_request *out, srv_req_error *err) {
    memset(out, 0, sizeof *out);
    out->api = api;
    out->top_logprobs = -1;
    out->enable_thinking = -1;
    out->reasoning_budget = -1;
    out->parallel_tool_calls = true;
    out->sampling = sample_params_default();
    unsigned long failed = he_alloc_failures();
    json_t *root = srv_json_parse_object(body, len, err);
    if (!root) return -1;
    int rc;
    switch (api) {
    case SRV_API_CHAT: rc = parse_chat(out, root, err); break;
    case SRV_API_COMPLETION: rc = parse_completion(out, root, err); break;
    case SRV_API_OLLAMA_CHAT:
        rc = ollama_common(out, root, err) || parse_messages(out, root, false, err) || parse_tools(out, root, err) ? -1 : 0;
        break;
    case SRV_API_OLLAMA_GENERATE: rc = parse_generate(out, root, err); break;
    case SRV_API_RESPONSES: { /* one path: the Responses body as the chat body it means */
        json_t *chat = srv_responses_to_chat(root, &out->resp_echo, err);
        rc = chat ? parse_chat(out, chat, err) : -1;
        json_decref(chat);
        /* a value the translation lost to a failed allocation (jansson drops it and goes on)
         * would read as a missing field: out of memory, not a 400 */
        if (he_alloc_failures() != failed) rc = srv_req_nomem(err);
        break;
    }
    default: rc = srv_req_fail(err, 400, NULL, NULL, "unknown API");
    }
    json_decref(root);
    /* jansson drops a value it cannot allocate (a message from the normalized list) and goes
     * on: a failed allocation anywhere in here means the request was not read whole */
    if (rc == 0 && he_alloc_failures() != failed) rc = srv_req_nomem(err);
    if (rc) {
        srv_request_free(out);
        out->api = api;
        return -1;
    }
    return 0;
}

void srv_request_free(srv_request *r) {
    if (!r) return;
    free(r->model);
    json_decref(r->messages);
    json_decref(r->tools);
    free(r->prompt);
    free(r->prompt_tokens);
    free(r->system);
    free(r->context);
    for (int32_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->tool_named);
    gram_free(r->grammar);
    json_decref(r->template_kwargs);
    json_decref(r->format_schema);
    json_decref(r->resp_echo);
    memset(r, 0, sizeof *r);
    r->top_logprobs = -1;
    r->enable_thinking = -1;
    r->reasoning_budget = -1;
}

void srv_request_apply_sampling(const srv_request *r, sample_params *b) {
    const sample_params *s = &r->sampling;
    if (r->set & SRV_SET_TEMPERATURE) b->temperature = s->temperature;
    if (r->set & SRV_SET_TOP_P) b->top_p = s->top_p;
    if (r->set & SRV_SET_TOP_K) b->top_k = s->top_k;
    if (r->set & SRV_SET_MIN_P) b->min_p = s->min_p;
    if (r->set & SRV_SET_REPEAT_PENALTY) b->repeat_penalty = s->repeat_penalty;
    if (r->set & SRV_SET_REPEAT_LAST_N) b->repeat_last_n = s->repeat_last_n;
    if (r->set & SRV_SET_FREQUENCY_PENALTY) b->frequency_penalty = s->frequency_penalty;
    if (r->set & SRV_SET_PRESENCE_PENALTY) b->presence_penalty = s->presence_penalty;
    if (r->set & SRV_SET_SEED) b->seed = s->seed;
}

/* ---- /tokenize, /detokenize ---- */

static int tok_fields(srv_tok_request *r, const json_t *root, bool detok, srv_req_error *err) {
    const char *model;
    if (get_string(root, "model", "model", &model, err)) return -1;
    if (model && (!model[0] || strlen(model) > 256))
        return srv_req_fail(err, 400, "model", "invalid_value", "Invalid value for 'model': expected 1 to 256 characters.");
    if (model) r->model = xstrdup(model);
    if (!detok) {
        json_t *c = json_object_get(root, "content");
        if (!c || json_is_null(c))
            return srv_req_fail(err, 400, "content", "missing_required_parameter", "Missing required parameter: 'content'.");
        if (!json_is_string(c)) return type_error(err, "content", "a string", c);
        r->content_len = json_string_length(c);
        if (!(r->content = dup_text(json_string_value(c), r->content_len))) return srv_req_nomem(err);
        r->parse_special = true;
        if (get_bool(root, "add_special", "add_special", &r->add_special, err) ||
            get_bool(root, "parse_special", "parse_special", &r->parse_special, err) ||
            get_bool(root, "with_pieces", "with_pieces", &r->with_pieces, err))
            return -1;
        return 0;
    }
    json_t *t = json_object_get(root, "tokens");
    if (!t || json_is_null(t))
        return srv_req_fail(err, 400, "tokens", "missing_required_parameter", "Missing required parameter: 'tokens'.");
    if (!json_is_array(t)) return type_error(err, "tokens", "an array of token ids", t);
    size_t n = json_array_size(t), i;
    if (n > SRV_MAX_DETOKENIZE)
        return srv_req_fail(err, 400, "tokens", "invalid_value", "Invalid 'tokens': at most %u ids, but got %zu.",
                            SRV_MAX_DETOKENIZE, n);
    if (n && !(r->tokens = he_malloc(n * sizeof *r->tokens))) return srv_req_nomem(err);
    json_t *id;
    json_array_foreach(t, i, id) {
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX)
            return srv_req_fail(err, 400, "tokens", json_is_integer(id) ? "invalid_value" : "invalid_type",
                                "Invalid 'tokens[%zu]': expected a token id (a non-negative integer).", i);
        r->tokens[i] = (int32_t)json_integer_value(id);
    }
    r->n_tokens = n;
    return 0;
}

int srv_tok_request_parse(const char *body, size_t len, bool detok, srv_tok_request *out, srv_req_error *err) {
    memset(out, 0, sizeof *out);
    unsigned long failed = he_alloc_failures();
    json_t *root = srv_json_parse_object(body, len, err);
    if (!root) return -1;
    int rc = tok_fields(out, root, detok, err);
    json_decref(root);
    if (rc == 0 && he_alloc_failures() != failed) rc = srv_req_nomem(err);
    if (rc) srv_tok_request_free(out);
    return rc ? -1 : 0;
}

void srv_tok_request_free(srv_tok_request *r) {
    if (!r) return;
    free(r->model);
    free(r->content);
    free(r->tokens);
    memset(r, 0, sizeof *r);
}
