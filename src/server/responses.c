/* responses.c — Responses API bodies -> chat bodies, and the split output -> Responses items
 * and stream events (see responses.h). */
#include "server/responses.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/alloc.h"

/* ---- input ---- */

static const char *type_word(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

static int bad_type(srv_req_error *err, const char *param, const char *want, const json_t *v) {
    return srv_req_fail(err, 400, param, "invalid_type",
                        "Invalid type for '%s': expected %s, but got %s instead.", param, want,
                        type_word(v));
}

static int missing(srv_req_error *err, const char *param) {
    return srv_req_fail(err, 400, param, "missing_required_parameter",
                        "Missing required parameter: '%s'.", param);
}

static bool present(const json_t *v) { return v && !json_is_null(v); }

/* A message's (or a function output's) content: a string, or an array of text parts
 * (input_text, output_text, text; a refusal part's refusal) joined with '\n'. Images, files
 * and audio are a 400 (text only). *out: a new JSON string. */
static int content_string(const json_t *c, const char *param, json_t **out, srv_req_error *err) {
    if (json_is_string(c)) {
        *out = json_incref((json_t *)c);
        return 0;
    }
    if (!json_is_array(c)) return bad_type(err, param, "a string or an array of content parts", c);
    size_t total = 0, i;
    json_t *part;
    json_array_foreach(c, i, part) {
        char p[96];
        snprintf(p, sizeof p, "%s[%zu]", param, i);
        if (!json_is_object(part)) return bad_type(err, p, "an object", part);
        const char *type = json_string_value(json_object_get(part, "type"));
        char pt[112];
        snprintf(pt, sizeof pt, "%s.type", p);
        if (!type) return missing(err, pt);
        const char *field = "text";
        if (!strcmp(type, "refusal"))
            field = "refusal";
        else if (strcmp(type, "input_text") != 0 && strcmp(type, "output_text") != 0 &&
                 strcmp(type, "text") != 0) {
            if (!strcmp(type, "input_image") || !strcmp(type, "input_file") ||
                !strcmp(type, "input_audio"))
                return srv_req_fail(err, 400, p, "unsupported_content",
                                    "Invalid content part '%s': type '%s' is not supported by this "
                                    "server (text only).",
                                    p, type);
            return srv_req_fail(
                err, 400, pt, "invalid_value",
                "Invalid value for '%s': expected 'input_text' or 'output_text', but got '%s'.", pt,
                type);
        }
        json_t *t = json_object_get(part, field);
        snprintf(pt, sizeof pt, "%s.%s", p, field);
        if (!json_is_string(t)) return t ? bad_type(err, pt, "a string", t) : missing(err, pt);
        total += json_string_length(t) + 1;
    }
    char *s = he_malloc(total + 1), *w = s;
    if (!s) return srv_req_nomem(err);
    json_array_foreach(c, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *t = json_object_get(part, !strcmp(type, "refusal") ? "refusal" : "text");
        if (i) *w++ = '\n';
        memcpy(w, json_string_value(t), json_string_length(t));
        w += json_string_length(t);
    }
    *w = 0;
    *out = json_stringn(s, (size_t)(w - s));
    free(s);
    return *out ? 0 : srv_req_nomem(err);
}

/* A function_call item joins the assistant turn just before it (text, or earlier calls of the
 * same turn), else starts one. */
static int add_call(json_t *msgs, const json_t *item, const char *p, srv_req_error *err) {
    char pf[96];
    const char *keys[] = {"call_id", "name"};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(item, keys[k]);
        snprintf(pf, sizeof pf, "%s.%s", p, keys[k]);
        if (!present(v)) return missing(err, pf);
        if (!json_is_string(v)) return bad_type(err, pf, "a string", v);
    }
    json_t *args = json_object_get(item, "arguments");
    snprintf(pf, sizeof pf, "%s.arguments", p);
    if (!present(args)) return missing(err, pf);
    if (!json_is_string(args)) return bad_type(err, pf, "a string", args);
    json_t *call =
        json_pack("{s:O, s:s, s:{s:O, s:O}}", "id", json_object_get(item, "call_id"), "type",
                  "function", "function", "name", json_object_get(item, "name"), "arguments", args);
    if (!call) return srv_req_nomem(err);
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *role = json_string_value(json_object_get(last, "role"));
    if (!last || !role || strcmp(role, "assistant") != 0) {
        last = json_pack("{s:s, s:n, s:[]}", "role", "assistant", "content", "tool_calls");
        if (!last || json_array_append_new(msgs, last)) {
            json_decref(call);
            return srv_req_nomem(err);
        }
    }
    json_t *calls = json_object_get(last, "tool_calls");
    if (!calls) {
        calls = json_array();
        json_object_set_new(last, "tool_calls", calls);
    }
    return json_array_append_new(calls, call) ? srv_req_nomem(err) : 0;
}

static int convert_input(const json_t *body, json_t *msgs, srv_req_error *err) {
    json_t *ins = json_object_get(body, "instructions");
    if (present(ins)) {
        if (!json_is_string(ins)) return bad_type(err, "instructions", "a string", ins);
        json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "system", "content", ins));
    }
    json_t *input = json_object_get(body, "input");
    if (!present(input)) return missing(err, "input");
    if (json_is_string(input)) {
        json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "user", "content", input));
        return 0;
    }
    if (!json_is_array(input))
        return bad_type(err, "input", "a string or an array of input items", input);
    size_t i;
    json_t *item;
    json_array_foreach(input, i, item) {
        char p[48], pf[96];
        snprintf(p, sizeof p, "input[%zu]", i);
        if (!json_is_object(item)) return bad_type(err, p, "an object", item);
        json_t *tv = json_object_get(item, "type");
        snprintf(pf, sizeof pf, "%s.type", p);
        if (present(tv) && !json_is_string(tv)) return bad_type(err, pf, "a string", tv);
        const char *type = present(tv) ? json_string_value(tv) : "message";
        if (!strcmp(type, "message")) {
            json_t *role = json_object_get(item, "role");
            snprintf(pf, sizeof pf, "%s.role", p);
            if (!present(role)) return missing(err, pf);
            if (!json_is_string(role)) return bad_type(err, pf, "a string", role);
            const char *rs = json_string_value(role);
            if (!strcmp(rs, "developer")) rs = "system";
            if (strcmp(rs, "user") != 0 && strcmp(rs, "assistant") != 0 &&
                strcmp(rs, "system") != 0)
                return srv_req_fail(
                    err, 400, pf, "invalid_value",
                    "Invalid value for '%s': expected one of 'user', 'assistant', 'system', "
                    "'developer', but got '%s'.",
                    pf, json_string_value(role));
            json_t *c = json_object_get(item, "content");
            snprintf(pf, sizeof pf, "%s.content", p);
            if (!present(c)) return missing(err, pf);
            json_t *text = NULL;
            if (content_string(c, pf, &text, err)) return -1;
            json_t *m = json_pack("{s:s, s:o}", "role", rs, "content", text);
            if (!m || json_array_append_new(msgs, m)) return srv_req_nomem(err);
        } else if (!strcmp(type, "function_call")) {
            if (add_call(msgs, item, p, err)) return -1;
        } else if (!strcmp(type, "function_call_output")) {
            json_t *id = json_object_get(item, "call_id"), *out = json_object_get(item, "output");
            snprintf(pf, sizeof pf, "%s.call_id", p);
            if (!present(id)) return missing(err, pf);
            if (!json_is_string(id)) return bad_type(err, pf, "a string", id);
            snprintf(pf, sizeof pf, "%s.output", p);
            if (!present(out)) return missing(err, pf);
            json_t *text = NULL;
            if (content_string(out, pf, &text, err)) return -1;
            json_t *m =
                json_pack("{s:s, s:O, s:o}", "role", "tool", "tool_call_id", id, "content", text);
            if (!m || json_array_append_new(msgs, m)) return srv_req_nomem(err);
        } else if (!strcmp(type, "reasoning")) {
            /* earlier reasoning: templates drop it from past turns anyway */
        } else if (!strcmp(type, "item_reference")) {
            return srv_req_fail(
                err, 400, pf, "unsupported_value",
                "Invalid '%s': item references need stored responses; this server is stateless "
                "(send the items themselves).",
                p);
        } else {
            return srv_req_fail(
                err, 400, pf, "unsupported_value",
                "Invalid value for '%s': '%s' items are not supported by this server (message, "
                "function_call, function_call_output and reasoning are).",
                pf, type);
        }
    }
    if (json_array_size(msgs) == 0)
        return srv_req_fail(err, 400, "input", "empty_array",
                            "Invalid 'input': there is nothing to answer (no items).");
    return 0;
}

static int convert_tools(const json_t *body, json_t *chat, srv_req_error *err) {
    json_t *tools = json_object_get(body, "tools");
    if (present(tools)) {
        if (!json_is_array(tools)) return bad_type(err, "tools", "an array", tools);
        if (json_array_size(tools) > SRV_MAX_TOOLS)
            return srv_req_fail(err, 400, "tools", "invalid_value",
                                "Invalid 'tools': expected at most %d tools, but got %zu.",
                                SRV_MAX_TOOLS, json_array_size(tools));
        json_t *out = json_array();
        json_object_set_new(chat, "tools", out);
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            char p[48], pf[96];
            snprintf(p, sizeof p, "tools[%zu]", i);
            if (!json_is_object(t)) return bad_type(err, p, "an object", t);
            const char *type = json_string_value(json_object_get(t, "type"));
            snprintf(pf, sizeof pf, "%s.type", p);
            if (!type) return missing(err, pf);
            if (strcmp(type, "function") != 0)
                return srv_req_fail(err, 400, pf, "unsupported_value",
                                    "Invalid value for '%s': only 'function' tools are supported "
                                    "by this server, but "
                                    "got '%s'.",
                                    pf, type);
            json_t *name = json_object_get(t, "name");
            snprintf(pf, sizeof pf, "%s.name", p);
            if (!present(name)) return missing(err, pf);
            if (!json_is_string(name)) return bad_type(err, pf, "a string", name);
            json_t *fn = json_pack("{s:O}", "name", name);
            const char *keys[] = {"description", "parameters", "strict"};
            for (int k = 0; k < 3; k++) {
                json_t *v = json_object_get(t, keys[k]);
                if (present(v)) json_object_set(fn, keys[k], v);
            }
            json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", fn));
        }
    }
    json_t *choice = json_object_get(body, "tool_choice");
    if (!present(choice)) return 0;
    if (json_is_string(choice)) {
        json_object_set(chat, "tool_choice", choice);
        return 0;
    }
    if (!json_is_object(choice))
        return bad_type(err, "tool_choice", "a string or an object", choice);
    const char *type = json_string_value(json_object_get(choice, "type"));
    if (!type) return missing(err, "tool_choice.type");
    if (strcmp(type, "function") != 0)
        return srv_req_fail(err, 400, "tool_choice.type", "unsupported_value",
                            "Invalid value for 'tool_choice.type': only 'function' is supported by "
                            "this server, but "
                            "got '%s'.",
                            type);
    json_t *name = json_object_get(choice, "name");
    if (!present(name)) return missing(err, "tool_choice.name");
    if (!json_is_string(name)) return bad_type(err, "tool_choice.name", "a string", name);
    json_object_set_new(chat, "tool_choice",
                        json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name", name));
    return 0;
}

static int convert_text_format(const json_t *body, json_t *chat, srv_req_error *err) {
    json_t *text = json_object_get(body, "text");
    if (!present(text)) return 0;
    if (!json_is_object(text)) return bad_type(err, "text", "an object", text);
    json_t *f = json_object_get(text, "format");
    if (!present(f)) return 0;
    if (!json_is_object(f)) return bad_type(err, "text.format", "an object", f);
    json_t *tv = json_object_get(f, "type");
    if (!present(tv)) return missing(err, "text.format.type");
    if (!json_is_string(tv)) return bad_type(err, "text.format.type", "a string", tv);
    const char *t = json_string_value(tv);
    if (!strcmp(t, "text")) return 0;
    if (!strcmp(t, "json_object")) {
        json_object_set_new(chat, "response_format", json_pack("{s:s}", "type", "json_object"));
        return 0;
    }
    if (strcmp(t, "json_schema") != 0)
        return srv_req_fail(
            err, 400, "text.format.type", "invalid_value",
            "Invalid value for 'text.format.type': expected one of 'text', 'json_object', "
            "'json_schema', but got '%s'.",
            t);
    json_t *name = json_object_get(f, "name");
    if (!present(name)) return missing(err, "text.format.name");
    if (!json_is_string(name)) return bad_type(err, "text.format.name", "a string", name);
    json_t *js = json_pack("{s:O}", "name", name);
    json_t *schema = json_object_get(f, "schema"), *strict = json_object_get(f, "strict");
    if (present(schema)) json_object_set(js, "schema", schema);
    if (present(strict)) json_object_set(js, "strict", strict);
    json_object_set_new(chat, "response_format",
                        json_pack("{s:s, s:o}", "type", "json_schema", "json_schema", js));
    return 0;
}

/* Fields a stateless server cannot honour: a clear 400 rather than a silent difference. */
static int refuse_state(const json_t *body, srv_req_error *err) {
    json_t *v = json_object_get(body, "store");
    if (present(v) && !json_is_boolean(v)) return bad_type(err, "store", "a boolean", v);
    if (json_is_true(v))
        return srv_req_fail(
            err, 400, "store", "unsupported_value",
            "Invalid value for 'store': this server is stateless and stores no responses; send "
            "'store': false (or leave it out) and pass the whole conversation as 'input' items.");
    static const char *const keys[] = {"previous_response_id", "conversation", "prompt"};
    for (int k = 0; k < 3; k++)
        if (present(json_object_get(body, keys[k])))
            return srv_req_fail(
                err, 400, keys[k], "unsupported_parameter",
                "Unsupported parameter: '%s': this server is stateless and stores no responses or "
                "prompts; pass the whole conversation as 'input' items.",
                keys[k]);
    v = json_object_get(body, "background");
    if (json_is_true(v))
        return srv_req_fail(err, 400, "background", "unsupported_value",
                            "Invalid value for 'background': background responses need stored "
                            "state; this server is "
                            "stateless.");
    v = json_object_get(body, "top_logprobs");
    if (present(v) && !(json_is_integer(v) && json_integer_value(v) == 0))
        return srv_req_fail(err, 400, "top_logprobs", "unsupported_parameter",
                            "Unsupported parameter: 'top_logprobs' is not supported on "
                            "/v1/responses by this server "
                            "(use /v1/chat/completions).");
    return 0;
}

json_t *srv_responses_to_chat(const json_t *body, json_t **echo, srv_req_error *err) {
    if (echo) *echo = NULL;
    if (!json_is_object(body)) {
        srv_req_fail(err, 400, NULL, "invalid_json", "The request body must be a JSON object.");
        return NULL;
    }
    if (refuse_state(body, err)) return NULL;
    json_t *chat = json_object();
    json_t *msgs = json_array();
    if (!chat || !msgs) {
        json_decref(chat);
        json_decref(msgs);
        srv_req_nomem(err);
        return NULL;
    }
    json_object_set_new(chat, "messages", msgs);
    /* same meaning, same name: the chat parser validates them */
    static const char *const pass[] = {"model",
                                       "temperature",
                                       "top_p",
                                       "stream",
                                       "parallel_tool_calls",
                                       "top_k",
                                       "min_p",
                                       "repeat_penalty",
                                       "seed",
                                       "presence_penalty",
                                       "frequency_penalty",
                                       "stop",
                                       "chat_template_kwargs",
                                       "enable_thinking",
                                       "reasoning_budget",
                                       "thinking_budget",
                                       "grammar"};
    for (size_t k = 0; k < sizeof pass / sizeof pass[0]; k++) {
        json_t *v = json_object_get(body, pass[k]);
        if (v) json_object_set(chat, pass[k], v);
    }
    json_t *mot = json_object_get(body, "max_output_tokens");
    if (present(mot)) {
        double d = json_is_number(mot) ? json_number_value(mot) : 0;
        if (!json_is_number(mot)) {
            bad_type(err, "max_output_tokens", "an integer", mot);
            goto fail;
        }
        if (d != (double)(int64_t)d || d < 1 || d > 2147483647.0) {
            srv_req_fail(err, 400, "max_output_tokens", "invalid_value",
                         "Invalid 'max_output_tokens': expected an integer from 1 to 2147483647.");
            goto fail;
        }
        json_object_set_new(chat, "max_completion_tokens", json_integer((json_int_t)d));
    }
    json_t *reasoning = json_object_get(body, "reasoning");
    if (present(reasoning)) {
        if (!json_is_object(reasoning)) {
            bad_type(err, "reasoning", "an object", reasoning);
            goto fail;
        }
        json_t *effort = json_object_get(reasoning, "effort");
        if (present(effort) && !json_is_string(effort)) {
            bad_type(err, "reasoning.effort", "a string", effort);
            goto fail;
        }
        if (present(effort)) json_object_set(chat, "reasoning_effort", effort);
    }
    if (convert_input(body, msgs, err) || convert_tools(body, chat, err) ||
        convert_text_format(body, chat, err))
        goto fail;
    if (echo) {
        json_t *e = json_object();
        const char *keys[] = {"instructions", "max_output_tokens",   "temperature", "top_p",
                              "tools",        "tool_choice",         "text",        "reasoning",
                              "metadata",     "parallel_tool_calls", "user"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(body, keys[k]);
            if (present(v)) json_object_set(e, keys[k], v);
        }
        *echo = e;
    }
    return chat;
fail:
    json_decref(chat);
    return NULL;
}

/* ---- output ---- */

typedef enum { OPEN_NONE, OPEN_MESSAGE, OPEN_REASONING, OPEN_CALL } resp_open;

struct srv_resp {
    srv_resp_emit_fn emit;
    void *user;
    json_t *obj;    /* the response object; obj.output holds the finished items */
    json_int_t seq; /* sequence_number of the next event */
    /* The item being written (one at a time: a delta of another kind closes it). */
    resp_open open;
    int open_index; /* its output_index */
    int call_index; /* OPEN_CALL: the splitter's call index */
    char item_id[40];
    json_t *item; /* the open item (its text kept in buf until it closes) */
    char *buf;
    size_t len, cap;
    bool ended;
};

static void rand_id(const char *prefix, char *out, size_t cap) {
    unsigned char b[12];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)((ts.tv_nsec >> (i % 4 * 8)) ^ (i * 37) ^ rand());
    }
    int n = snprintf(out, cap, "%s", prefix);
    for (size_t i = 0; i < sizeof b && n + 2 < (int)cap; i++, n += 2)
        snprintf(out + n, cap - (size_t)n, "%02x", b[i]);
}

static void emit(srv_resp *r, const char *type, json_t *ev) {
    if (!ev) return;
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "sequence_number", json_integer(r->seq++));
    if (r->emit)
        r->emit(r->user, type, ev);
    else
        json_decref(ev);
}

static json_t *output(const srv_resp *r) { return json_object_get(r->obj, "output"); }

srv_resp *srv_resp_new(const char *model, const json_t *echo, srv_resp_emit_fn emit_fn,
                       void *user) {
    srv_resp *r = he_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->emit = emit_fn;
    r->user = user;
    r->open = OPEN_NONE;
    char id[48];
    rand_id("resp_", id, sizeof id);
    const json_t *e = echo;
    json_t *tmp = NULL;
    if (!e) e = tmp = json_object();
#define ECHO(k, dflt) (json_object_get(e, k) ? json_incref(json_object_get(e, k)) : (dflt))
    r->obj = json_pack(
        "{s:s, s:s, s:I, s:s, s:n, s:n, s:o, s:o, s:s, s:[], s:o, s:n, s:o, s:b, s:o, s:o, s:o, "
        "s:o, "
        "s:o, s:s, s:n, s:o}",
        "id", id, "object", "response", "created_at", (json_int_t)time(NULL), "status",
        "in_progress", "error", "incomplete_details", "instructions",
        ECHO("instructions", json_null()), "max_output_tokens",
        ECHO("max_output_tokens", json_null()), "model", model ? model : "", "output",
        "parallel_tool_calls", ECHO("parallel_tool_calls", json_true()), "previous_response_id",
        "reasoning", ECHO("reasoning", json_pack("{s:n, s:n}", "effort", "summary")), "store", 0,
        "temperature", ECHO("temperature", json_null()), "text",
        ECHO("text", json_pack("{s:{s:s}}", "format", "type", "text")), "tool_choice",
        ECHO("tool_choice", json_string("auto")), "tools", ECHO("tools", json_array()), "top_p",
        ECHO("top_p", json_null()), "truncation", "disabled", "usage", "metadata",
        ECHO("metadata", json_object()));
#undef ECHO
    json_decref(tmp);
    if (!r->obj) {
        free(r);
        return NULL;
    }
    return r;
}

void srv_resp_free(srv_resp *r) {
    if (!r) return;
    json_decref(r->obj);
    json_decref(r->item);
    free(r->buf);
    free(r);
}

void srv_resp_begin(srv_resp *r) {
    emit(r, "response.created", json_pack("{s:O}", "response", r->obj));
    emit(r, "response.in_progress", json_pack("{s:O}", "response", r->obj));
}

static void buf_add(srv_resp *r, const char *p, size_t n) {
    if (r->len + n + 1 > r->cap) {
        size_t cap = (r->len + n + 1) * 2;
        char *b = he_realloc(r->buf, cap);
        if (!b) return; /* the caller's allocation check (he_alloc_failures) answers 503 */
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    r->buf[r->len] = 0;
}

static json_t *text_part(const char *type, const char *text, size_t n) {
    json_t *p = json_pack("{s:s, s:s%}", "type", type, "text", text ? text : "", text ? n : 0);
    if (p && !strcmp(type, "output_text")) {
        json_object_set_new(p, "annotations", json_array());
        json_object_set_new(p, "logprobs", json_array());
    }
    return p;
}

static void open_item(srv_resp *r, resp_open kind, const tc_delta *d) {
    r->open = kind;
    r->open_index = (int)json_array_size(output(r));
    r->len = 0;
    if (r->buf) r->buf[0] = 0;
    json_t *item;
    if (kind == OPEN_MESSAGE) {
        rand_id("msg_", r->item_id, sizeof r->item_id);
        item = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "id", r->item_id, "type", "message",
                         "status", "in_progress", "role", "assistant", "content");
    } else if (kind == OPEN_REASONING) {
        rand_id("rs_", r->item_id, sizeof r->item_id);
        item = json_pack("{s:s, s:s, s:[], s:[]}", "id", r->item_id, "type", "reasoning", "summary",
                         "content");
    } else {
        rand_id("fc_", r->item_id, sizeof r->item_id);
        r->call_index = d->index;
        item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", r->item_id, "type",
                         "function_call", "status", "in_progress", "call_id", d->id ? d->id : "",
                         "name", d->name ? d->name : "", "arguments", "");
    }
    r->item = item;
    /* a placeholder keeps output_index stable; the finished item replaces it */
    json_array_append(output(r), item);
    emit(r, "response.output_item.added",
         json_pack("{s:i, s:O}", "output_index", r->open_index, "item", item));
    if (kind == OPEN_MESSAGE || kind == OPEN_REASONING)
        emit(r, "response.content_part.added",
             json_pack("{s:s, s:i, s:i, s:o}", "item_id", r->item_id, "output_index", r->open_index,
                       "content_index", 0, "part",
                       text_part(kind == OPEN_MESSAGE ? "output_text" : "reasoning_text", "", 0)));
}

static void close_item(srv_resp *r) {
    if (r->open == OPEN_NONE) return;
    const char *text = r->buf ? r->buf : "";
    json_t *item = r->item;
    if (r->open == OPEN_MESSAGE || r->open == OPEN_REASONING) {
        bool msg = r->open == OPEN_MESSAGE;
        emit(r, msg ? "response.output_text.done" : "response.reasoning_text.done",
             json_pack("{s:s, s:i, s:i, s:s%}", "item_id", r->item_id, "output_index",
                       r->open_index, "content_index", 0, "text", text, r->len));
        json_t *part = text_part(msg ? "output_text" : "reasoning_text", text, r->len);
        emit(r, "response.content_part.done",
             json_pack("{s:s, s:i, s:i, s:O}", "item_id", r->item_id, "output_index", r->open_index,
                       "content_index", 0, "part", part));
        json_object_set_new(item, "content", json_pack("[o]", part));
        if (msg) json_object_set_new(item, "status", json_string("completed"));
    } else {
        emit(r, "response.function_call_arguments.done",
             json_pack("{s:s, s:i, s:s%}", "item_id", r->item_id, "output_index", r->open_index,
                       "arguments", text, r->len));
        json_object_set_new(item, "arguments", json_stringn(text, r->len));
        json_object_set_new(item, "status", json_string("completed"));
    }
    json_array_set(output(r), (size_t)r->open_index, item);
    emit(r, "response.output_item.done",
         json_pack("{s:i, s:O}", "output_index", r->open_index, "item", item));
    json_decref(item);
    r->item = NULL;
    r->open = OPEN_NONE;
}

void srv_resp_delta(srv_resp *r, const tc_delta *d) {
    if (r->ended) return;
    switch (d->kind) {
    case TC_DELTA_CONTENT:
    case TC_DELTA_REASONING: {
        if (d->len == 0) return;
        resp_open kind = d->kind == TC_DELTA_CONTENT ? OPEN_MESSAGE : OPEN_REASONING;
        if (r->open != kind) {
            close_item(r);
            open_item(r, kind, d);
        }
        buf_add(r, d->text, d->len);
        emit(r,
             kind == OPEN_MESSAGE ? "response.output_text.delta" : "response.reasoning_text.delta",
             json_pack("{s:s, s:i, s:i, s:s%}", "item_id", r->item_id, "output_index",
                       r->open_index, "content_index", 0, "delta", d->text, d->len));
        return;
    }
    case TC_DELTA_CALL:
    case TC_DELTA_CALL_START:
        close_item(r);
        open_item(r, OPEN_CALL, d);
        if (d->kind == TC_DELTA_CALL) {
            if (d->len) {
                buf_add(r, d->text, d->len);
                emit(r, "response.function_call_arguments.delta",
                     json_pack("{s:s, s:i, s:s%}", "item_id", r->item_id, "output_index",
                               r->open_index, "delta", d->text, d->len));
            }
            close_item(r);
        }
        return;
    case TC_DELTA_ARGS:
        if (r->open != OPEN_CALL || r->call_index != d->index || d->len == 0) return;
        buf_add(r, d->text, d->len);
        emit(r, "response.function_call_arguments.delta",
             json_pack("{s:s, s:i, s:s%}", "item_id", r->item_id, "output_index", r->open_index,
                       "delta", d->text, d->len));
        return;
    }
}

void srv_resp_end(srv_resp *r, const char *finish, int32_t n_prompt, int32_t n_cached,
                  int32_t n_generated) {
    if (r->ended) return;
    close_item(r);
    if (json_array_size(output(r)) == 0) { /* an empty answer is still a message (output_text "") */
        open_item(r, OPEN_MESSAGE, NULL);
        close_item(r);
    }
    r->ended = true;
    bool incomplete = finish && !strcmp(finish, "length");
    json_object_set_new(r->obj, "status", json_string(incomplete ? "incomplete" : "completed"));
    if (incomplete)
        json_object_set_new(r->obj, "incomplete_details",
                            json_pack("{s:s}", "reason", "max_output_tokens"));
    json_object_set_new(r->obj, "usage",
                        json_pack("{s:i, s:{s:i}, s:i, s:{s:i}, s:i}", "input_tokens", n_prompt,
                                  "input_tokens_details", "cached_tokens", n_cached,
                                  "output_tokens", n_generated, "output_tokens_details",
                                  "reasoning_tokens", 0, "total_tokens", n_prompt + n_generated));
    emit(r, incomplete ? "response.incomplete" : "response.completed",
         json_pack("{s:O}", "response", r->obj));
}

void srv_resp_error(srv_resp *r, const char *message) {
    if (r->ended) return;
    r->ended = true;
    emit(r, "error",
         json_pack("{s:s, s:s, s:n}", "code", "server_error", "message", message ? message : "",
                   "param"));
}

json_t *srv_resp_object(const srv_resp *r) { return json_incref(r->obj); }
