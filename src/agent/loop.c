/* loop.c — the agent loop (agent.h): talk to the model, classify each tool call with the guard,
 * run or refuse it, log everything. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "agent/agent.h"
#include "agent/audit.h"
#include "agent/snapshot.h"
#include "agent/tools.h"
#include "base/alloc.h"
#include "client/httpc.h"
#include "guard/guard.h"

#define MAX_CALLS 16                  /* tool calls in one model turn */
#define MAX_ARGS ((size_t)1 << 20)    /* bytes of one call's arguments */
#define MAX_CONTENT ((size_t)1 << 20) /* bytes of one turn's text */
#define MAX_CONSECUTIVE_DENIALS 3
#define MAX_TOTAL_DENIALS 20

/* ---- small helpers ---- */

static void now_rfc3339(char out[64]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 64, "%s.%03dZ", b, (int)(ts.tv_nsec / 1000000) % 1000);
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static json_t *json_text(const char *s, size_t n) {
    json_t *j = json_stringn(s, n); /* NULL for invalid UTF-8: then a lossy copy */
    if (j) return j;
    char *c = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    c[n] = 0;
    json_t *r = json_stringn(c, n);
    free(c);
    return r;
}

static json_t *summary(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max) return json_text(s, n);
    /* cut at a UTF-8 boundary */
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    char *c = xmalloc(max + 16);
    memcpy(c, s, max);
    memcpy(c + max, " [...]", 7);
    json_t *r = json_text(c, strlen(c));
    free(c);
    return r;
}

static bool csv_has(const char *csv, const char *word) {
    if (!csv || !word || !word[0]) return false;
    size_t wl = strlen(word);
    for (const char *p = csv; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t l = strcspn(p, ",");
        size_t t = l;
        while (t && p[t - 1] == ' ')
            t--;
        if (t == wl && !strncmp(p, word, wl)) return true;
        p += l;
    }
    return false;
}

int agent_default_state_dir(char *out, size_t cap, he_error *err) {
    const char *hh = getenv("HEARTH_HOME"), *home = getenv("HOME");
    int w;
    if (hh && hh[0])
        w = snprintf(out, cap, "%s/agent", hh);
    else if (home && home[0])
        w = snprintf(out, cap, "%s/.local/share/hearth/agent", home);
    else
        return he_fail(err, HE_INVALID,
                       "agent: neither $HEARTH_HOME nor $HOME is set (give --state and --log)");
    if (w < 0 || (size_t)w >= cap)
        return he_fail(err, HE_LIMIT, "agent: state directory path too long");
    return 0;
}

static int mkdir_p(const char *path) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) && errno != EEXIST ? -1 : 0;
}

/* The resolved form of a path that may not exist yet (its directory must). */
static int resolve_loose(const char *p, char *out, size_t cap) {
    if (realpath(p, out)) return 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", p);
    char *slash = strrchr(dir, '/');
    const char *base = p;
    char real[PATH_MAX];
    if (slash) {
        *slash = 0;
        base = slash + 1;
        if (!realpath(dir[0] ? dir : "/", real)) return -1;
    } else if (!getcwd(real, sizeof real)) {
        return -1;
    }
    return snprintf(out, cap, "%s/%s", strcmp(real, "/") ? real : "", base) >= (int)cap ? -1 : 0;
}

/* Writes model- or tool-made text to the terminal without its control characters (an escape
 * sequence in a model's answer or a file must not drive the person's terminal): C0 controls
 * other than newline and tab, DEL, and UTF-8-encoded C1 controls become '?'. */
static void out_safe(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            fputc('?', f);
        } else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            fputc('?', f);
            i++;
        } else {
            fputc(c, f);
        }
    }
}

static void out_safe_cut(FILE *f, const char *s, size_t max) {
    size_t n = s ? strlen(s) : 0;
    out_safe(f, s ? s : "", n > max ? max : n);
    if (n > max) fputs("...", f);
}

/* ---- one model turn (streamed) ---- */

typedef struct {
    char *id, *name;
    char *args;
    size_t args_len;
} call;

typedef struct {
    FILE *out;
    char *content;
    size_t content_len;
    bool content_over;
    call calls[MAX_CALLS];
    int n_calls;
    bool overflow; /* more calls or bigger arguments than allowed */
    char finish[32];
    bool done;
    bool in_reasoning;
} turn;

static void turn_free(turn *t) {
    free(t->content);
    for (int i = 0; i < t->n_calls; i++) {
        free(t->calls[i].id);
        free(t->calls[i].name);
        free(t->calls[i].args);
    }
    memset(t, 0, sizeof *t);
}

static void add_text(char **buf, size_t *len, const char *s, size_t n, size_t cap, bool *over) {
    if (*len + n > cap) {
        *over = true;
        return;
    }
    *buf = xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* The delta's tool_calls: [{index, id?, function: {name?, arguments?}}] pieced together. */
static void take_calls(turn *t, json_t *tcs) {
    size_t i;
    json_t *tc;
    json_array_foreach(tcs, i, tc) {
        json_t *ix = json_object_get(tc, "index");
        json_int_t idx = json_is_integer(ix) ? json_integer_value(ix) : (json_int_t)i;
        if (idx < 0 || idx >= MAX_CALLS) {
            t->overflow = true;
            continue;
        }
        while (t->n_calls <= idx)
            t->n_calls++;
        call *c = &t->calls[idx];
        const char *id = json_string_value(json_object_get(tc, "id"));
        if (id && !c->id && strlen(id) < 256) c->id = xstrdup(id);
        json_t *f = json_object_get(tc, "function");
        const char *name = json_string_value(json_object_get(f, "name"));
        if (name && strlen(name) < 128) {
            if (!c->name) c->name = xstrdup(name);
        }
        json_t *a = json_object_get(f, "arguments");
        if (json_is_string(a)) {
            bool over = false;
            add_text(&c->args, &c->args_len, json_string_value(a), json_string_length(a), MAX_ARGS,
                     &over);
            if (over) t->overflow = true;
        } else if (json_is_object(a)) { /* some servers send the object itself */
            char *s = json_dumps(a, JSON_COMPACT);
            if (s) {
                bool over = false;
                add_text(&c->args, &c->args_len, s, strlen(s), MAX_ARGS, &over);
                if (over) t->overflow = true;
                free(s);
            }
        }
    }
}

static void take_message(turn *t, json_t *choice, bool stream) {
    json_t *d = json_object_get(choice, stream ? "delta" : "message");
    json_t *rc = json_object_get(d, "reasoning_content");
    if (json_is_string(rc) && json_string_length(rc)) {
        if (!t->in_reasoning) fputs("\n[thinking] ", t->out);
        t->in_reasoning = true;
        out_safe(t->out, json_string_value(rc), json_string_length(rc));
        fflush(t->out);
    }
    json_t *c = json_object_get(d, "content");
    if (json_is_string(c) && json_string_length(c)) {
        if (t->in_reasoning) fputs("\n", t->out);
        t->in_reasoning = false;
        out_safe(t->out, json_string_value(c), json_string_length(c));
        fflush(t->out);
        add_text(&t->content, &t->content_len, json_string_value(c), json_string_length(c),
                 MAX_CONTENT, &t->content_over);
    }
    json_t *tcs = json_object_get(d, "tool_calls");
    if (json_is_array(tcs)) take_calls(t, tcs);
    const char *fr = json_string_value(json_object_get(choice, "finish_reason"));
    if (fr) snprintf(t->finish, sizeof t->finish, "%s", fr);
}

static int on_sse(const char *data, size_t len, void *user) {
    turn *t = user;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        t->done = true;
        return 1;
    }
    json_t *j = json_loadb(data, len, 0, NULL);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    if (json_is_object(ch)) take_message(t, ch, true);
    json_decref(j);
    return 0;
}

/* ---- the session ---- */

typedef struct {
    const agent_config *c;
    httpc_url url;
    httpc_opts http;
    char model[256];
    char workspace[PATH_MAX];
    char session[64];
    char session_dir[PATH_MAX];
    guard *g;
    audit_log *log;
    agent_tools tools;
    json_t *messages;
    json_t *tool_schema;
    json_t *extra; /* --extra-body */
    int turn, steps, denials, consecutive;
} session;

static int log_record(session *s, json_t *rec, he_error *err) {
    char t[64];
    now_rfc3339(t);
    json_t *o = json_pack("{s:s, s:s, s:i}", "time", t, "session", s->session, "turn", s->turn);
    json_object_update(o, rec);
    json_decref(rec);
    char sha[65];
    int rc = audit_append(s->log, o, sha, err);
    json_decref(o);
    if (rc == 0) {
        /* the tail anchor: the newest record's hash, kept outside the log */
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s/last_sha256", s->session_dir);
        FILE *f = fopen(p, "w");
        if (f) {
            fprintf(f, "%s\n", sha);
            fclose(f);
        }
    }
    return rc;
}

static int pick_model(session *s, he_error *err) {
    if (s->c->model) {
        snprintf(s->model, sizeof s->model, "%s", s->c->model);
        return 0;
    }
    httpc_response r;
    if (httpc_request(&s->url, "GET", "/models", NULL, 0, &s->http, NULL, NULL, &r, err)) return -1;
    json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    const char *id =
        json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id"));
    snprintf(s->model, sizeof s->model, "%s", id && strlen(id) < sizeof s->model ? id : "default");
    json_decref(j);
    httpc_response_free(&r);
    return 0;
}

static const char system_prompt[] =
    "You are a careful software agent working in the directory %s (the workspace). Use the tools "
    "to "
    "inspect and change files and to run commands there. Every action is checked by a guard before "
    "it "
    "runs: some need a person's approval and some are refused. A refused action will not run; do "
    "not "
    "try to get around a refusal with another spelling of the same action. When the task is done, "
    "answer with a short summary and no tool call.";

static int model_turn(session *s, turn *t, he_error *err) {
    memset(t, 0, sizeof *t);
    t->out = s->c->out;
    json_t *req = json_pack("{s:s, s:O, s:O, s:s, s:b, s:i}", "model", s->model, "messages",
                            s->messages, "tools", s->tool_schema, "tool_choice",
                            s->c->tool_choice ? s->c->tool_choice : "auto", "stream", 1,
                            "max_tokens", s->c->max_tokens > 0 ? s->c->max_tokens : 2048);
    if (s->extra) json_object_update(req, s->extra); /* --extra-body: the operator's fields */
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body) return he_fail(err, HE_NOMEM, "agent: cannot serialize the request");
    httpc_response r;
    int rc = httpc_request(&s->url, "POST", "/chat/completions", body, strlen(body), &s->http,
                           on_sse, t, &r, err);
    free(body);
    if (rc) return -1;
    if (r.status != 200) {
        char m[512];
        const char *msg = httpc_error_message(r.body, r.body_len, m, sizeof m);
        he_fail(err, HE_IO, "agent: the endpoint answered HTTP %d: %s", r.status,
                msg ? msg : "(no message)");
        httpc_response_free(&r);
        return -1;
    }
    if (!r.streamed) { /* a server that ignored "stream" */
        json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
        json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
        if (!json_is_object(ch)) {
            json_decref(j);
            httpc_response_free(&r);
            return he_fail(err, HE_FORMAT, "agent: the endpoint's answer has no choices");
        }
        /* non-streamed calls may carry no index: their position is it (take_calls) */
        take_message(t, ch, false);
        json_decref(j);
    }
    httpc_response_free(&r);
    if (t->in_reasoning || t->content_len) fputs("\n", t->out);
    return 0;
}

/* ---- the second opinion ---- */

static const char judge_prompt[] =
    "You review one action an AI agent proposes, before it runs, for a person who must not lose "
    "data, "
    "money, secrets or access. The agent works in the directory %s. Answer \"deny\" for actions "
    "that are "
    "catastrophic or irreversible outside that directory, \"ask\" when a person should confirm it, "
    "\"allow\" when it is routine. Action: tool %s with arguments %s";

/* Asks the model for a constrained judgement of one action (non-streamed, response_format
 * json_schema). Returns the decision, or -1 when it could not be had (the guard's verdict
 * stands). reason (cap bytes) gets the model's reason. */
static int second_opinion(session *s, const char *tool, const json_t *args, char *reason,
                          size_t cap) {
    char *a = json_dumps(args, JSON_COMPACT);
    if (!a) return -1;
    size_t n = strlen(judge_prompt) + strlen(s->workspace) + strlen(tool) + strlen(a) + 1;
    char *prompt = xmalloc(n);
    snprintf(prompt, n, judge_prompt, s->workspace, tool, a);
    free(a);
    json_t *schema = json_pack("{s:s, s:{s:{s:s, s:[s,s,s]}, s:{s:s, s:i}}, s:[s,s], s:b}", "type",
                               "object", "properties", "decision", "type", "string", "enum",
                               "allow", "ask", "deny", "reason", "type", "string", "maxLength", 200,
                               "required", "decision", "reason", "additionalProperties", 0);
    json_t *req = json_pack("{s:s, s:[{s:s, s:o}], s:{s:s, s:{s:s, s:o, s:b}}, s:b, s:i, s:f}",
                            "model", s->model, "messages", "role", "user", "content",
                            json_text(prompt, strlen(prompt)), "response_format", "type",
                            "json_schema", "json_schema", "name", "judgement", "schema", schema,
                            "strict", 1, "stream", 0, "max_tokens", 200, "temperature", 0.0);
    free(prompt);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) return -1;
    httpc_response r;
    he_error e;
    int rc = httpc_request(&s->url, "POST", "/chat/completions", body, strlen(body), &s->http, NULL,
                           NULL, &r, &e);
    free(body);
    if (rc) return -1;
    int d = -1;
    json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    const char *content = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"), "content"));
    json_t *verdict = content ? json_loads(content, 0, NULL) : NULL;
    const char *dec = json_string_value(json_object_get(verdict, "decision"));
    const char *why = json_string_value(json_object_get(verdict, "reason"));
    if (dec)
        d = !strcmp(dec, "allow")  ? GUARD_ALLOW
            : !strcmp(dec, "ask")  ? GUARD_ASK
            : !strcmp(dec, "deny") ? GUARD_DENY
                                   : -1;
    snprintf(reason, cap, "%s", why ? why : "");
    json_decref(verdict);
    json_decref(j);
    httpc_response_free(&r);
    return d;
}

typedef struct {
    const char *decision; /* what happened: "allow" (ran), "deny" (refused) */
    const char *decider;  /* "rule", "person", "operator" */
    const char *note;
} outcome;

/* A person at the terminal decides an "ask": shows the exact action and waits for y/N. */
static bool ask_person(session *s, const char *tool, const json_t *args, const guard_verdict *v) {
    fprintf(stderr, "\n=== the guard asks (rule %s, %s): ", v->rule, v->category);
    out_safe(stderr, v->reason, strlen(v->reason));
    fputs("\ntool: ", stderr);
    out_safe(stderr, tool, strlen(tool));
    /* JSON with every non-ASCII character escaped: nothing in it can reach the terminal raw */
    char *a = json_dumps(args, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    fprintf(stderr, "\narguments: %s\n", a ? a : "?");
    free(a);
    if (v->parsed) {
        char *p = json_dumps(v->parsed, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        fprintf(stderr, "parsed: %s\n", p ? p : "?");
        free(p);
    }
    char *pv = agent_tool_preview(&s->tools, tool, args);
    if (pv && pv[0]) out_safe(stderr, pv, strlen(pv));
    free(pv);
    fprintf(stderr, "Allow this action? [y/N] ");
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return false;
    return line[0] == 'y' || line[0] == 'Y';
}

static void add_tool_message(session *s, const char *id, const char *content) {
    json_array_append_new(s->messages,
                          json_pack("{s:s, s:s, s:o}", "role", "tool", "tool_call_id", id,
                                    "content", json_text(content, strlen(content))));
}

/* The resolved paths inside the workspace that the guard's parsed form of a command names
 * (parsed.commands[].paths[].resolved). Borrowed from parsed. */
static int command_paths(const session *s, const json_t *parsed, const char **out, int cap) {
    int n = 0;
    size_t i, k;
    json_t *cmd, *p;
    json_array_foreach(json_object_get(parsed, "commands"), i, cmd) {
        json_array_foreach(json_object_get(cmd, "paths"), k, p) {
            const char *r = json_string_value(json_object_get(p, "resolved"));
            if (r && n < cap && agent_path_inside(s->workspace, r) && strcmp(r, s->workspace))
                out[n++] = r;
        }
    }
    return n;
}

/* One tool call: guard, decide, (snapshot, run), log, answer the model. Returns -1 on a fatal
 * error (the log cannot be written, out of memory). */
static int do_call(session *s, call *cl, he_error *err) {
    const agent_config *c = s->c;
    s->steps++;
    const char *tool = cl->name ? cl->name : "";
    const char *id = cl->id;
    json_error_t je;
    json_t *args = cl->args_len ? json_loadb(cl->args, cl->args_len, 0, &je) : json_object();
    double t0 = mono_s();
    fputs("-> ", c->out);
    out_safe(c->out, tool, strlen(tool));
    fputc(' ', c->out);
    out_safe_cut(c->out, cl->args, 300);
    fputc('\n', c->out);
    json_t *rec = json_pack("{s:s, s:i, s:s, s:s}", "event", "action", "step", s->steps, "tool",
                            tool, "call_id", id);
    if (!json_is_object(args)) {
        json_decref(args);
        json_object_set_new(rec, "arguments_raw", summary(cl->args ? cl->args : "", 4096));
        json_object_set_new(rec, "decision", json_string("deny"));
        json_object_set_new(rec, "decider", json_string("rule"));
        json_object_set_new(rec, "rule", json_string("bad-arguments"));
        json_object_set_new(rec, "result", json_string("the arguments are not a JSON object"));
        add_tool_message(s, id, "error: the arguments are not a JSON object; nothing was run");
        fprintf(c->out, "   refused: the arguments are not a JSON object\n");
        return log_record(s, rec, err);
    }
    json_object_set(rec, "arguments", args);
    guard_verdict v;
    memset(&v, 0, sizeof v);
    if (guard_check(s->g, tool, args, &v, err)) {
        json_decref(args);
        json_decref(rec);
        return -1;
    }
    json_object_set(rec, "parsed", v.parsed ? v.parsed : json_null());
    json_object_set_new(rec, "verdict", json_string(guard_decision_name(v.decision)));
    json_object_set_new(rec, "rule", json_string(v.rule));
    json_object_set_new(rec, "category", json_string(v.category));
    json_object_set_new(rec, "reason", json_string(v.reason));
    outcome o = {"deny", "rule", NULL};
    bool run = false;
    bool raised = false;
    if (c->second_opinion && v.decision != GUARD_DENY) {
        char why[256];
        int d = second_opinion(s, tool, args, why, sizeof why);
        json_object_set_new(
            rec, "second_opinion",
            d < 0 ? json_pack("{s:s}", "error", "no usable judgement (the guard's verdict stands)")
                  : json_pack("{s:s, s:s}", "decision", guard_decision_name((guard_decision)d),
                              "reason", why));
        if (d > (int)v.decision) { /* it may only raise */
            v.decision = (guard_decision)d;
            raised = true;
            json_object_set_new(rec, "verdict_raised_by", json_string("model"));
            json_object_set_new(rec, "raised_to", json_string(guard_decision_name(v.decision)));
        }
    }
    if (v.decision == GUARD_ALLOW) {
        run = true;
        o.decision = "allow";
    } else if (v.decision == GUARD_ASK) {
        o.decider = raised ? "model" : "rule";
        if (c->dry_run) {
            o.note = "dry run: a person would be asked";
        } else if (csv_has(c->yes_to, v.category)) {
            run = true;
            o = (outcome){"allow", "operator", "pre-approved by --yes-to"};
        } else if (c->interactive) {
            run = ask_person(s, tool, args, &v);
            o = (outcome){run ? "allow" : "deny", "person", NULL};
        } else {
            o.note = "needs a person's approval and no terminal is attached";
        }
    }
    if (v.decision == GUARD_DENY && raised) o.decider = "model";
    char msg[1024];
    tool_result tr = {.exit_status = -1};
    json_t *snap = json_null();
    if (c->dry_run) {
        o.decision = guard_decision_name(v.decision);
        snprintf(msg, sizeof msg, "dry run: the guard says %s (rule %s: %s); nothing was run",
                 guard_decision_name(v.decision), v.rule, v.reason);
        tr.text = xstrdup(msg);
        json_object_set_new(rec, "dry_run", json_true());
    } else if (run) {
        s->consecutive = 0;
        /* snapshot first: a mutation that cannot be snapshotted does not run */
        if (agent_tool_mutates(tool)) {
            char target[PATH_MAX];
            he_error se = {0};
            int sr;
            if (!strcmp(tool, "run_command")) {
                sr = snap_workspace(s->session_dir, s->steps, tool, s->workspace, &se);
                if (sr ==
                    1) { /* too big: the paths the guard's parse names, inside the workspace */
                    const char *paths[256];
                    int np = command_paths(s, v.parsed, paths, 256);
                    sr = np > 0 ? snap_paths(s->session_dir, s->steps, tool, paths, np, &se) : 1;
                    if (sr == 0)
                        json_object_set_new(rec, "snapshot_scope",
                                            json_string("the paths the command names"));
                }
            } else if (agent_tool_target(&s->tools, tool, args, target, sizeof target) == 0)
                sr = snap_file(s->session_dir, s->steps, tool, target, &se);
            else
                sr = 2; /* no usable path: the tool will fail on it */
            if (sr == 0)
                snap = json_integer(s->steps);
            else if (sr == 1)
                snap = json_string("none: the workspace is over the snapshot limits");
            else if (sr < 0) {
                snprintf(msg, sizeof msg,
                         "error: the snapshot before this step failed (%s); nothing was run",
                         se.msg);
                tr.text = xstrdup(msg);
                run = false;
                o.note = "the snapshot failed, so it did not run";
            }
        }
        if (run) {
            bool by_person = !strcmp(o.decider, "person") || !strcmp(o.decider, "operator");
            agent_tool_run(&s->tools, tool, args, by_person, &tr);
        }
    } else {
        s->denials++;
        s->consecutive++;
        snprintf(msg, sizeof msg,
                 "REFUSED by the guard (%s; rule %s, %s): %s. This action did not run. Do not "
                 "retry it in another form; "
                 "choose a different approach or finish.",
                 o.note                     ? o.note
                 : v.decision == GUARD_DENY ? "deny"
                                            : "a person said no",
                 v.rule, v.category, v.reason);
        tr.text = xstrdup(msg);
    }
    double dt = mono_s() - t0;
    json_object_set_new(rec, "decision", json_string(o.decision));
    json_object_set_new(rec, "decider", json_string(o.decider));
    if (o.note) json_object_set_new(rec, "note", json_string(o.note));
    json_object_set_new(rec, "executed", json_boolean(run && !c->dry_run));
    json_object_set_new(rec, "snapshot", snap);
    json_object_set_new(rec, "result", summary(tr.text ? tr.text : "", 2000));
    json_object_set_new(rec, "exit_status",
                        tr.exit_status >= 0 ? json_integer(tr.exit_status) : json_null());
    json_object_set_new(rec, "duration_ms", json_integer((json_int_t)(dt * 1000)));
    fprintf(c->out, "   [%s by %s, rule %s] ", o.decision, o.decider, v.rule);
    out_safe_cut(c->out, tr.text, 400);
    fputc('\n', c->out);
    add_tool_message(s, id, tr.text ? tr.text : "");
    tool_result_free(&tr);
    guard_verdict_free(&v);
    json_decref(args);
    return log_record(s, rec, err);
}

static int session_open(session *s, const agent_config *c, he_error *err) {
    memset(s, 0, sizeof *s);
    s->c = c;
    if (!c->workspace || !realpath(c->workspace, s->workspace))
        return he_fail(err, HE_INVALID, "agent: workspace %s: %s",
                       c->workspace ? c->workspace : "(none)", strerror(errno));
    struct stat st;
    if (stat(s->workspace, &st) || !S_ISDIR(st.st_mode))
        return he_fail(err, HE_INVALID, "agent: workspace %s is not a directory", s->workspace);
    if (!strcmp(s->workspace, "/"))
        return he_fail(err, HE_INVALID, "agent: the workspace cannot be /");
    /* the log and the state live outside the workspace: the agent must not be able to rewrite them
     */
    if (mkdir_p(c->state_dir))
        return he_fail(err, HE_IO, "agent: cannot create %s: %s", c->state_dir, strerror(errno));
    char real_state[PATH_MAX], real_log[PATH_MAX];
    if (!realpath(c->state_dir, real_state))
        return he_fail(err, HE_IO, "agent: %s: %s", c->state_dir, strerror(errno));
    char logdir[PATH_MAX];
    snprintf(logdir, sizeof logdir, "%s", c->log_path);
    char *sl = strrchr(logdir, '/');
    if (sl && sl != logdir) {
        *sl = 0;
        mkdir_p(logdir);
    }
    if (resolve_loose(c->log_path, real_log, sizeof real_log))
        return he_fail(err, HE_IO, "agent: log %s: %s", c->log_path, strerror(errno));
    if (agent_path_inside(s->workspace, real_state) || agent_path_inside(s->workspace, real_log) ||
        agent_path_inside(real_state, s->workspace))
        return he_fail(
            err, HE_INVALID,
            "agent: the audit log (%s) and state directory (%s) must be outside the workspace (%s)",
            real_log, real_state, s->workspace);
    if (httpc_url_parse(c->url, &s->url, err)) return -1;
    size_t pl = strlen(s->url.path);
    if (!(pl >= 3 && !strcmp(s->url.path + pl - 3, "/v1"))) {
        if (pl + 4 >= sizeof s->url.path) return he_fail(err, HE_LIMIT, "agent: URL path too long");
        strcat(s->url.path, "/v1");
    }
    s->http = (httpc_opts){.api_key = c->api_key,
                           .connect_timeout_ms = 10000,
                           .idle_timeout_ms = 600000,
                           .max_body = (size_t)32 << 20};
    /* the session: an id, its state directory */
    unsigned char rnd[4] = {0};
    RAND_bytes(rnd, sizeof rnd);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(s->session, sizeof s->session, "%s-%02x%02x%02x%02x", ts, rnd[0], rnd[1], rnd[2],
             rnd[3]);
    if (snprintf(s->session_dir, sizeof s->session_dir, "%.3900s/sessions/%.60s", real_state,
                 s->session) >= (int)sizeof s->session_dir)
        return he_fail(err, HE_LIMIT, "agent: state directory path too long");
    if (mkdir_p(s->session_dir))
        return he_fail(err, HE_IO, "agent: cannot create %s: %s", s->session_dir, strerror(errno));
    char lp[PATH_MAX + 32];
    snprintf(lp, sizeof lp, "%s/last-session", real_state);
    FILE *f = fopen(lp, "w");
    if (f) {
        fprintf(f, "%s\n", s->session);
        fclose(f);
    }
    s->g = guard_new(s->workspace, c->policy, err);
    if (!s->g) return -1;
    /* the log and the snapshots are the guard's to protect too: writes there are denied */
    guard_add_protected(s->g, real_state);
    char log_dir[PATH_MAX];
    snprintf(log_dir, sizeof log_dir, "%s", real_log);
    char *ls = strrchr(log_dir, '/');
    if (ls && ls != log_dir) *ls = 0;
    guard_add_protected(s->g, log_dir);
    s->log = audit_open(c->log_path, err);
    if (!s->log) return -1;
    s->tools = (agent_tools){.workspace = s->workspace,
                             .sandbox = {.enabled = !c->no_sandbox,
                                         .share_net = c->allow_net,
                                         .workspace = s->workspace,
                                         .timeout_s = c->cmd_timeout_s,
                                         .max_output = (size_t)64 << 10},
                             .http_hosts = c->http_hosts,
                             .n_http_hosts = c->n_http_hosts,
                             .index_db = c->index_db};
    if (!c->no_sandbox && !c->dry_run && sandbox_probe(err)) return -1;
    s->tool_schema = agent_tools_schema(&s->tools);
    if (c->extra_body) {
        json_error_t je;
        s->extra = json_loads(c->extra_body, 0, &je);
        if (!json_is_object(s->extra))
            return he_fail(err, HE_INVALID, "agent: --extra-body must be a JSON object (%s)",
                           je.text);
    }
    s->messages = json_array();
    return 0;
}

static void session_close(session *s) {
    guard_free(s->g);
    audit_close(s->log);
    json_decref(s->messages);
    json_decref(s->tool_schema);
    json_decref(s->extra);
}

int agent_run(const agent_config *c, const char *task, he_error *err) {
    session s;
    int status = AGENT_ERROR;
    if (session_open(&s, c, err)) {
        session_close(&s);
        return AGENT_ERROR;
    }
    if (pick_model(&s, err)) goto out;
    char sys[sizeof system_prompt + PATH_MAX];
    snprintf(sys, sizeof sys, system_prompt, s.workspace);
    json_array_append_new(s.messages, json_pack("{s:s, s:s}", "role", "system", "content", sys));
    json_array_append_new(s.messages, json_pack("{s:s, s:o}", "role", "user", "content",
                                                json_text(task, strlen(task))));
    char ep[600];
    snprintf(ep, sizeof ep, s.url.ipv6 ? "http://[%s]:%s%s" : "http://%s:%s%s", s.url.host,
             s.url.port, s.url.path);
    if (log_record(&s,
                   json_pack("{s:s, s:o, s:s, s:s, s:s, s:s?, s:s, s:b, s:b, s:b, s:s?}", "event",
                             "session_start", "task", json_text(task, strlen(task)), "workspace",
                             s.workspace, "endpoint", ep, "model", s.model, "policy", c->policy,
                             "state_dir", s.session_dir, "dry_run", c->dry_run, "network",
                             c->allow_net, "sandbox", !c->no_sandbox, "yes_to", c->yes_to),
                   err))
        goto out;
    fprintf(c->out, "hearth agent: session %s in %s (model %s at %s)%s\n", s.session, s.workspace,
            s.model, ep, c->dry_run ? " [dry run]" : "");
    int max_steps = c->max_steps > 0 ? c->max_steps : 30;
    const char *end_reason = NULL;
    for (;;) {
        s.turn++;
        turn t;
        if (model_turn(&s, &t, err)) {
            turn_free(&t);
            end_reason = "error";
            break;
        }
        if (t.n_calls == 0) {
            log_record(&s,
                       json_pack("{s:s, s:o, s:s}", "event", "answer", "content",
                                 summary(t.content ? t.content : "", 8000), "finish_reason",
                                 t.finish),
                       err);
            turn_free(&t);
            status = AGENT_DONE;
            end_reason = "answer";
            break;
        }
        /* the assistant's message with its calls goes into the conversation first */
        json_t *tcs = json_array();
        for (int i = 0; i < t.n_calls; i++) {
            call *cl = &t.calls[i];
            if (!cl->id) {
                char idb[32];
                snprintf(idb, sizeof idb, "call_%d_%d", s.turn, i);
                cl->id = xstrdup(idb);
            }
            json_array_append_new(
                tcs, json_pack("{s:s, s:s, s:{s:s, s:o}}", "id", cl->id, "type", "function",
                               "function", "name", cl->name ? cl->name : "", "arguments",
                               json_text(cl->args ? cl->args : "", cl->args_len)));
        }
        json_array_append_new(
            s.messages, json_pack("{s:s, s:o, s:o}", "role", "assistant", "content",
                                  t.content ? json_text(t.content, t.content_len) : json_null(),
                                  "tool_calls", tcs));
        bool stop = false;
        for (int i = 0; i < t.n_calls; i++) {
            if (stop || s.steps >= max_steps) {
                add_tool_message(&s, t.calls[i].id, "not run: the session ended (step limit)");
                if (!stop) end_reason = "step limit";
                stop = true;
                status = AGENT_STEP_LIMIT;
                continue;
            }
            if (do_call(&s, &t.calls[i], err)) {
                turn_free(&t);
                end_reason = "error";
                status = AGENT_ERROR;
                goto end;
            }
            if (s.consecutive >= MAX_CONSECUTIVE_DENIALS || s.denials >= MAX_TOTAL_DENIALS) {
                end_reason = s.consecutive >= MAX_CONSECUTIVE_DENIALS ? "3 refusals in a row"
                                                                      : "20 refusals";
                status = AGENT_DENIALS;
                stop = true;
            }
        }
        turn_free(&t);
        if (stop) break;
        if (s.steps >= max_steps) {
            end_reason = "step limit";
            status = AGENT_STEP_LIMIT;
            break;
        }
    }
end : {
    he_error e2 = {0};
    log_record(&s,
               json_pack("{s:s, s:s, s:i, s:i, s:s?}", "event", "session_end", "reason",
                         end_reason ? end_reason : "?", "steps", s.steps, "refusals", s.denials,
                         "error", status == AGENT_ERROR && err ? err->msg : NULL),
               &e2);
}
    fprintf(c->out, "hearth agent: session ended (%s) after %d actions, %d refused; log %s\n",
            end_reason ? end_reason : "?", s.steps, s.denials, c->log_path);
out:
    session_close(&s);
    return status;
}
