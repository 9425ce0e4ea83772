/* chat_session.c — see chat_session.h. */
#include "client/chat_session.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

/* Ollama's parameter names -> the chat-completions field and its range. */
typedef struct {
    const char *name, *field;
    bool integer;
    double lo, hi;
} param_def;

static const param_def PARAMS[] = {
    {"temperature", "temperature", false, 0, 2},
    {"top_p", "top_p", false, 0, 1},
    {"top_k", "top_k", true, 0, 2147483647.0},
    {"min_p", "min_p", false, 0, 1},
    {"seed", "seed", true, -9.2e18, 9.2e18},
    {"num_predict", "max_tokens", true, -1, 2147483647.0},
    {"repeat_penalty", "repeat_penalty", false, 0, 100},
    {"presence_penalty", "presence_penalty", false, -2, 2},
    {"frequency_penalty", "frequency_penalty", false, -2, 2},
};
#define N_PARAMS (sizeof PARAMS / sizeof PARAMS[0])

static const param_def *param_by_field(const char *field) {
    for (size_t i = 0; i < N_PARAMS; i++)
        if (!strcmp(PARAMS[i].field, field)) return &PARAMS[i];
    return NULL;
}

void chat_session_init(chat_session *s) {
    memset(s, 0, sizeof *s);
    s->params = json_object();
    s->messages = json_array();
    s->think = -1;
}

void chat_session_free(chat_session *s) {
    if (!s) return;
    free(s->system);
    json_decref(s->params);
    json_decref(s->messages);
    memset(s, 0, sizeof *s);
}

void chat_session_clear(chat_session *s) { json_array_clear(s->messages); }

void chat_session_set_system(chat_session *s, const char *text) {
    free(s->system);
    s->system = text && text[0] ? xstrdup(text) : NULL;
}

int chat_session_set_param(chat_session *s, const char *name, const char *value, he_error *err) {
    if (!strcmp(name, "stop")) {
        json_t *stop = json_object_get(s->params, "stop");
        if (!value[0] || strlen(value) > 256)
            return he_fail(err, HE_INVALID, "a stop string is 1 to 256 bytes");
        if (json_array_size(stop) >= CHAT_MAX_STOP)
            return he_fail(err, HE_INVALID, "at most %d stop strings", CHAT_MAX_STOP);
        if (!stop) json_object_set_new(s->params, "stop", stop = json_array());
        json_array_append_new(stop, json_string(value));
        return 0;
    }
    const param_def *p = NULL;
    for (size_t i = 0; i < N_PARAMS; i++)
        if (!strcmp(PARAMS[i].name, name)) p = &PARAMS[i];
    if (!p)
        return he_fail(
            err, HE_INVALID,
            "unknown parameter '%s' (temperature, top_p, top_k, min_p, seed, num_predict, "
            "repeat_penalty, presence_penalty, frequency_penalty, stop)",
            name);
    char *end;
    errno = 0;
    if (p->integer) {
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end || (double)v < p->lo || (double)v > p->hi)
            return he_fail(err, HE_INVALID, "%s takes an integer from %.0f to %.0f", name, p->lo,
                           p->hi);
        if (!strcmp(name, "num_predict") && v <= 0) { /* -1 (or 0): no limit */
            if (v == 0)
                return he_fail(err, HE_INVALID, "num_predict is -1 (no limit) or at least 1");
            json_object_del(s->params, p->field);
            return 0;
        }
        json_object_set_new(s->params, p->field, json_integer(v));
        return 0;
    }
    double v = strtod(value, &end);
    if (errno || end == value || *end || !isfinite(v) || v < p->lo || v > p->hi)
        return he_fail(err, HE_INVALID, "%s takes a number from %g to %g", name, p->lo, p->hi);
    json_object_set_new(s->params, p->field, json_real(v));
    return 0;
}

json_t *chat_session_request(const chat_session *s, const char *model, const char *user_text) {
    json_t *msgs = json_array();
    if (s->system)
        json_array_append_new(msgs,
                              json_pack("{s:s, s:s}", "role", "system", "content", s->system));
    size_t i;
    json_t *m;
    json_array_foreach(s->messages, i, m) json_array_append(msgs, m);
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", user_text));
    json_t *body = json_pack("{s:s, s:o, s:b, s:{s:b}}", "model", model, "messages", msgs, "stream",
                             1, "stream_options", "include_usage", 1);
    json_object_update(body, s->params);
    if (s->think >= 0) json_object_set_new(body, "enable_thinking", json_boolean(s->think));
    return body;
}

void chat_session_add_turn(chat_session *s, const char *user_text, const char *answer) {
    json_array_append_new(s->messages,
                          json_pack("{s:s, s:s}", "role", "user", "content", user_text));
    json_array_append_new(s->messages,
                          json_pack("{s:s, s:s}", "role", "assistant", "content", answer));
}

char *chat_session_save(const chat_session *s, const char *model) {
    json_t *doc =
        json_pack("{s:i, s:s, s:o, s:o, s:O, s:O}", "version", 1, "model", model ? model : "",
                  "system", s->system ? json_string(s->system) : json_null(), "think",
                  s->think < 0 ? json_null() : json_boolean(s->think), "parameters", s->params,
                  "messages", s->messages);
    char *t = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    return t;
}

static bool is_integral(const json_t *v) {
    return json_is_integer(v) ||
           (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
}

int chat_session_load(chat_session *s, const char *text, size_t len, he_error *err) {
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) return he_fail(err, HE_INVALID, "not JSON: %s (line %d)", je.text, je.line);
    chat_session n;
    chat_session_init(&n);
    int rc = -1;
    if (!json_is_object(doc)) {
        he_fail(err, HE_INVALID, "expected a JSON object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) {
        if (strcmp(k, "version") && strcmp(k, "model") && strcmp(k, "system") &&
            strcmp(k, "think") && strcmp(k, "parameters") && strcmp(k, "messages")) {
            he_fail(err, HE_INVALID, "unknown key '%.64s'", k);
            goto out;
        }
    }
    if (json_integer_value(json_object_get(doc, "version")) != 1 ||
        !json_is_integer(json_object_get(doc, "version"))) {
        he_fail(err, HE_INVALID, "'version' must be 1");
        goto out;
    }
    v = json_object_get(doc, "model");
    if (v && !json_is_string(v)) {
        he_fail(err, HE_INVALID, "'model' must be a string");
        goto out;
    }
    v = json_object_get(doc, "system");
    if (v && !json_is_null(v) && !json_is_string(v)) {
        he_fail(err, HE_INVALID, "'system' must be a string or null");
        goto out;
    }
    if (json_is_string(v)) chat_session_set_system(&n, json_string_value(v));
    v = json_object_get(doc, "think");
    if (v && !json_is_null(v) && !json_is_boolean(v)) {
        he_fail(err, HE_INVALID, "'think' must be true, false or null");
        goto out;
    }
    n.think = json_is_boolean(v) ? json_is_true(v) : -1;
    json_t *params = json_object_get(doc, "parameters");
    if (params && !json_is_object(params)) {
        he_fail(err, HE_INVALID, "'parameters' must be an object");
        goto out;
    }
    json_object_foreach(params, k, v) {
        if (!strcmp(k, "stop")) {
            size_t i;
            json_t *st;
            if (!json_is_array(v) || json_array_size(v) > CHAT_MAX_STOP) {
                he_fail(err, HE_INVALID, "'parameters.stop' must be an array of at most %d strings",
                        CHAT_MAX_STOP);
                goto out;
            }
            json_array_foreach(v, i, st) {
                if (!json_is_string(st) || json_string_length(st) == 0 ||
                    json_string_length(st) > 256) {
                    he_fail(err, HE_INVALID,
                            "'parameters.stop[%zu]' must be a string of 1 to 256 bytes", i);
                    goto out;
                }
            }
            json_object_set(n.params, k, v);
            continue;
        }
        const param_def *p = param_by_field(k);
        if (!p) {
            he_fail(err, HE_INVALID, "unknown parameter '%.64s'", k);
            goto out;
        }
        double d = json_number_value(v);
        if (!json_is_number(v) || (p->integer && !is_integral(v)) || !isfinite(d) || d < p->lo ||
            d > p->hi || (!strcmp(k, "max_tokens") && d < 1)) {
            he_fail(err, HE_INVALID, "'parameters.%s' is out of range or of the wrong type", k);
            goto out;
        }
        json_object_set_new(n.params, k, p->integer ? json_integer((json_int_t)d) : json_real(d));
    }
    json_t *msgs = json_object_get(doc, "messages");
    if (msgs && !json_is_array(msgs)) {
        he_fail(err, HE_INVALID, "'messages' must be an array");
        goto out;
    }
    if (json_array_size(msgs) > CHAT_MAX_MESSAGES) {
        he_fail(err, HE_INVALID, "more than %d messages", CHAT_MAX_MESSAGES);
        goto out;
    }
    size_t i;
    json_array_foreach(msgs, i, v) {
        const char *role = json_string_value(json_object_get(v, "role"));
        json_t *c = json_object_get(v, "content");
        if (!json_is_object(v) || json_object_size(v) != 2 || !role || !json_is_string(c) ||
            (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
            he_fail(
                err, HE_INVALID,
                "'messages[%zu]' must be {\"role\": \"user\"|\"assistant\", \"content\": string}",
                i);
            goto out;
        }
        json_array_append_new(n.messages, json_pack("{s:s, s:O}", "role", role, "content", c));
    }
    chat_session_free(s);
    *s = n;
    n.system = NULL, n.params = n.messages = NULL;
    rc = 0;
out:
    chat_session_free(&n);
    json_decref(doc);
    return rc;
}

bool chat_name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > CHAT_MAX_NAME || name[0] == '.') return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
            return false;
    return true;
}

/* Copies the next blank-separated word of *p into out (cap bytes); advances *p past it. */
static void next_word(const char **p, char *out, size_t cap) {
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strcspn(s, " \t");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), s);
    s += n;
    while (*s == ' ' || *s == '\t')
        s++;
    *p = s;
}

void chat_cmd_parse(const char *line, chat_cmd *out) {
    memset(out, 0, sizeof *out);
    if (line[0] != '/') {
        out->kind = CHAT_CMD_TEXT;
        return;
    }
    char word[32];
    const char *p = line;
    next_word(&p, word, sizeof word);
    out->kind = CHAT_CMD_BAD;
    if (!strcmp(word, "/bye") || !strcmp(word, "/exit")) {
        out->kind = CHAT_CMD_BYE;
    } else if (!strcmp(word, "/?") || !strcmp(word, "/help")) {
        out->kind = CHAT_CMD_HELP;
    } else if (!strcmp(word, "/clear")) {
        out->kind = CHAT_CMD_CLEAR;
    } else if (!strcmp(word, "/show")) {
        out->kind = CHAT_CMD_SHOW;
    } else if (!strcmp(word, "/save") || !strcmp(word, "/load")) {
        next_word(&p, out->arg, sizeof out->arg);
        if (!chat_name_ok(out->arg) || *p)
            snprintf(out->message, sizeof out->message,
                     "usage: %s NAME (1-64 of A-Z a-z 0-9 . _ -)", word);
        else
            out->kind = word[1] == 's' ? CHAT_CMD_SAVE : CHAT_CMD_LOAD;
    } else if (!strcmp(word, "/set")) {
        char what[32];
        next_word(&p, what, sizeof what);
        if (!strcmp(what, "system")) {
            out->kind = CHAT_CMD_SET_SYSTEM;
            snprintf(out->arg, sizeof out->arg, "%s", p);
            /* a quoted system prompt, as Ollama allows */
            size_t n = strlen(out->arg);
            if (n >= 2 && out->arg[0] == '"' && out->arg[n - 1] == '"') {
                memmove(out->arg, out->arg + 1, n - 2);
                out->arg[n - 2] = 0;
            }
        } else if (!strcmp(what, "parameter")) {
            next_word(&p, out->arg, sizeof out->arg);
            snprintf(out->arg2, sizeof out->arg2, "%s", p);
            if (!out->arg[0] || !out->arg2[0])
                snprintf(out->message, sizeof out->message, "usage: /set parameter NAME VALUE");
            else
                out->kind = CHAT_CMD_SET_PARAM;
        } else if (!strcmp(what, "think") && !*p) {
            out->kind = CHAT_CMD_SET_THINK;
        } else if (!strcmp(what, "nothink") && !*p) {
            out->kind = CHAT_CMD_SET_NOTHINK;
        } else {
            snprintf(
                out->message, sizeof out->message,
                "usage: /set system TEXT | /set parameter NAME VALUE | /set think | /set nothink");
        }
    } else {
        snprintf(out->message, sizeof out->message, "unknown command '%.40s' (/? for help)", word);
    }
}
