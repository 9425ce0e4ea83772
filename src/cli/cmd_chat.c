/* cmd_chat.c — `hearth chat NAME|FILE [--url URL]`: an interactive terminal chat like
 * `ollama run`.
 *
 * Every turn is a streamed POST /v1/chat/completions with the whole conversation, so the
 * model's chat template, tool/thinking splitting and sampling are exactly the server's. With
 * --url it talks to a running server (NAME is the served name; default: the first one listed).
 * Without --url it serves NAME|FILE (a GGUF file or a store name) itself, in this process, on an
 * ephemeral loopback port behind a random API key, and talks to that: one code path for both
 * modes, no child process to reap, and a generation is stopped the way any client stops one —
 * by closing the connection (the server frees the slot within ~200 ms).
 *
 * Ctrl-C during a generation stops it and drops that turn (the conversation stays as it was);
 * at the prompt, a second Ctrl-C in a row, Ctrl-D or /bye quits with status 0. The session
 * (system prompt, parameters, history) is chat_session.h's; /save and /load keep it under
 * $HEARTH_HOME/chats/NAME.json. Thinking is shown dimmed on a terminal. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cli/cli.h"
#include "client/chat_session.h"
#include "client/httpc.h"
#include "server/chat.h"
#include "server/http.h"
#include "server/sched.h"

static const char usage_text[] =
    "usage: hearth chat (NAME | MODEL.gguf) [options]\n"
    "       hearth chat --url URL [NAME] [options]\n"
    "  --url URL          talk to a running server (NAME: its served name; default: the first "
    "listed)\n"
    "  --api-key KEY      for --url (also $HEARTH_API_KEY)\n"
    "  -c, --ctx N        without --url: context tokens (default: min(training context, 4096))\n"
    "  -t, --threads N    without --url: threads (default: number of physical cores)\n"
    "  --system TEXT      the system prompt (as /set system)\n"
    "  --load NAME        start from a saved conversation (as /load)\n"
    "  --log-requests F   append each turn's request body and usage to F as JSON lines "
    "(debugging)\n"
    "In the chat: /? for the commands; \"\"\" starts and ends a multi-line message.\n";

static const char help_text[] =
    "Available commands:\n"
    "  /set system TEXT            set the system prompt (empty: none)\n"
    "  /set parameter NAME VALUE   temperature, top_p, top_k, min_p, seed, num_predict,\n"
    "                              repeat_penalty, presence_penalty, frequency_penalty, stop\n"
    "  /set think | /set nothink   turn the model's thinking on or off\n"
    "  /show                       model, system prompt, parameters, history, last usage\n"
    "  /clear                      forget the conversation (system and parameters stay)\n"
    "  /save NAME, /load NAME      keep or restore the conversation "
    "($HEARTH_HOME/chats/NAME.json)\n"
    "  /bye                        quit (also Ctrl-D, or Ctrl-C twice at the prompt)\n"
    "  /?, /help                   this help\n"
    "Use \"\"\" to begin and end a multi-line message. Ctrl-C stops a generation.\n";

static volatile sig_atomic_t g_int; /* Ctrl-C presses not yet handled */
static volatile int g_cancel;       /* stops the running request (httpc_opts.cancel) */

static void on_sigint(int sig) {
    (void)sig;
    g_int++;
    g_cancel = 1;
}

typedef struct {
    const char *url_arg, *name, *api_key, *system, *load, *log_path;
    long ctx, threads;
} chat_args;

typedef struct {
    httpc_url url;
    char model[512];
    const char *api_key;
    bool tty;
    FILE *log;
    /* the turn being streamed */
    char *answer;
    size_t answer_len, answer_cap;
    bool in_think, printed;
    long long usage_prompt, usage_cached, usage_completion;
    int delay_ms; /* HEARTH_CHAT_TEST_DELAY_MS: a test hook, slows each event down */
} chat_ctx;

static int usage(const char *msg, const char *arg) {
    if (msg) fprintf(stderr, "hearth chat: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    return 2;
}

/* $HEARTH_HOME/chats, else ~/.local/share/hearth/chats (created 0700). */
static int chats_dir(char *out, size_t cap, he_error *err) {
    const char *home = getenv("HEARTH_HOME");
    char base[PATH_MAX];
    if (home && home[0])
        snprintf(base, sizeof base, "%s", home);
    else if (getenv("HOME"))
        snprintf(base, sizeof base, "%s/.local/share/hearth", getenv("HOME"));
    else
        return he_fail(err, HE_INVALID, "neither HEARTH_HOME nor HOME is set");
    mkdir(base, 0700);
    if ((size_t)snprintf(out, cap, "%s/chats", base) >= cap)
        return he_fail(err, HE_INVALID, "path too long");
    if (mkdir(out, 0700) && errno != EEXIST)
        return he_fail(err, HE_IO, "cannot create %s: %s", out, strerror(errno));
    return 0;
}

static void answer_add(chat_ctx *c, const char *s, size_t n) {
    if (c->answer_len + n + 1 > c->answer_cap) {
        c->answer_cap = (c->answer_len + n + 1) * 2;
        c->answer = xrealloc(c->answer, c->answer_cap);
    }
    memcpy(c->answer + c->answer_len, s, n);
    c->answer_len += n;
    c->answer[c->answer_len] = 0;
}

static void think_end(chat_ctx *c) {
    if (!c->in_think) return;
    c->in_think = false;
    fputs(c->tty ? "\n...done thinking.\033[0m\n\n" : "\n...done thinking.\n\n", stdout);
}

/* One SSE event of the streamed answer. */
static int on_event(const char *data, size_t len, void *user) {
    chat_ctx *c = user;
    if (c->delay_ms > 0) usleep((useconds_t)c->delay_ms * 1000);
    if (g_cancel) return 1;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) return 0;
    json_t *j = json_loadb(data, len, 0, NULL);
    if (!j) return 0;
    json_t *delta = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
    const char *think = json_string_value(json_object_get(delta, "reasoning_content"));
    const char *text = json_string_value(json_object_get(delta, "content"));
    if (think && think[0]) {
        if (!c->in_think) {
            fputs(c->tty ? "\033[2mThinking...\n" : "Thinking...\n", stdout);
            c->in_think = true;
        }
        fputs(think, stdout);
        c->printed = true;
    }
    if (text && text[0]) {
        think_end(c);
        fputs(text, stdout);
        answer_add(c, text, strlen(text));
        c->printed = true;
    }
    json_t *u = json_object_get(j, "usage");
    if (json_is_object(u)) {
        c->usage_prompt = json_integer_value(json_object_get(u, "prompt_tokens"));
        c->usage_completion = json_integer_value(json_object_get(u, "completion_tokens"));
        c->usage_cached = json_integer_value(
            json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"));
    }
    json_t *e = json_object_get(j, "error");
    if (e) {
        think_end(c);
        const char *m = json_string_value(json_object_get(e, "message"));
        fprintf(stdout, "\nerror: %s", m ? m : "the generation failed");
    }
    fflush(stdout);
    json_decref(j);
    return 0;
}

/* One turn: true when the answer came whole (then it joins the history). */
static bool turn(chat_ctx *c, chat_session *s, const char *text) {
    json_t *body = chat_session_request(s, c->model, text);
    char *b = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    c->answer_len = 0;
    if (c->answer) c->answer[0] = 0;
    c->in_think = c->printed = false;
    c->usage_prompt = c->usage_cached = c->usage_completion = -1;
    g_cancel = 0;
    g_int = 0;
    httpc_opts o = {.api_key = c->api_key, .cancel = &g_cancel, .idle_timeout_ms = 600000};
    httpc_response r = {0};
    he_error err = {0};
    int rc = httpc_request(&c->url, "POST", "/v1/chat/completions", b, strlen(b), &o, on_event, c,
                           &r, &err);
    think_end(c);
    bool ok = false;
    if (g_cancel) {
        fputs(c->tty ? "\033[0m\n" : "\n", stdout);
        fputs("(stopped; this turn is not kept)\n", stdout);
    } else if (rc) {
        printf("\nerror: %s\n", err.msg);
    } else if (r.status != 200) {
        char m[512];
        const char *msg = httpc_error_message(r.body, r.body_len, m, sizeof m);
        printf("error: HTTP %d: %s\n", r.status, msg ? msg : r.body);
    } else {
        ok = true;
        fputs(c->printed ? "\n\n" : "\n", stdout);
    }
    if (c->log) {
        json_t *l =
            json_pack("{s:o, s:b, s:I, s:I, s:I, s:s}", "request", json_loads(b, 0, NULL),
                      "completed", ok, "prompt_tokens", (json_int_t)c->usage_prompt,
                      "cached_tokens", (json_int_t)c->usage_cached, "completion_tokens",
                      (json_int_t)c->usage_completion, "answer", c->answer ? c->answer : "");
        char *t = json_dumps(l, JSON_COMPACT);
        fprintf(c->log, "%s\n", t);
        fflush(c->log);
        free(t);
        json_decref(l);
    }
    free(b);
    httpc_response_free(&r);
    g_cancel = 0;
    g_int = 0;
    if (ok) chat_session_add_turn(s, text, c->answer ? c->answer : "");
    fflush(stdout);
    return ok;
}

static void show(const chat_ctx *c, const chat_session *s, const char *url) {
    printf("Model: %s (%s)\n", c->model, url);
    printf("System: %s\n", s->system ? s->system : "(the model's default)");
    char *p = json_dumps(s->params, JSON_COMPACT | JSON_SORT_KEYS);
    printf("Parameters: %s\n", p);
    free(p);
    printf("Thinking: %s\n", s->think < 0 ? "the template's default" : s->think ? "on" : "off");
    printf("History: %zu messages\n", json_array_size(s->messages));
    if (c->usage_prompt >= 0)
        printf("Last turn: %lld prompt tokens (%lld reused), %lld generated\n", c->usage_prompt,
               c->usage_cached, c->usage_completion);
}

static int save_load(chat_session *s, chat_ctx *c, const char *name, bool save) {
    he_error err = {0};
    char dir[PATH_MAX], path[PATH_MAX + 80];
    if (chats_dir(dir, sizeof dir, &err)) {
        printf("error: %s\n", err.msg);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    if (save) {
        char *t = chat_session_save(s, c->model);
        char tmp[PATH_MAX + 100];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = t ? fopen(tmp, "w") : NULL;
        bool ok = f && fputs(t, f) >= 0;
        if (f && fclose(f)) ok = false;
        free(t);
        if (!ok || rename(tmp, path)) {
            printf("error: cannot write %s: %s\n", path, strerror(errno));
            unlink(tmp);
            return -1;
        }
        printf("Saved the conversation to %s\n", path);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("error: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) buf = xrealloc(buf, cap = cap ? cap * 2 : 65536);
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0 || len > ((size_t)64 << 20)) break;
    }
    fclose(f);
    int rc = len > ((size_t)64 << 20) ? he_fail(&err, HE_LIMIT, "larger than 64 MiB")
                                      : chat_session_load(s, buf, len, &err);
    free(buf);
    if (rc)
        printf("error: %s: %s\n", path, err.msg);
    else
        printf("Loaded %zu messages from %s\n", json_array_size(s->messages), path);
    return rc;
}

/* Reads one line (without the newline) into *buf; -1 on EOF, -2 on Ctrl-C. */
static int read_line(char **buf, size_t *cap) {
    errno = 0;
    ssize_t n = getline(buf, cap, stdin);
    if (n < 0) {
        bool intr = errno == EINTR || g_int;
        clearerr(stdin);
        return intr ? -2 : -1;
    }
    if (n > 0 && (*buf)[n - 1] == '\n') (*buf)[--n] = 0;
    return 0;
}

/* ---- the in-process server (no --url) ---- */

typedef struct {
    srv_registry *reg;
    srv_http *http;
    char key[65];
} local_server;

static int local_start(local_server *ls, const chat_args *a, char *url, size_t url_cap, char *name,
                       size_t name_cap, he_error *err) {
    unsigned char rnd[32];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return he_fail(err, HE_IO, "getrandom failed");
    for (int i = 0; i < 32; i++)
        snprintf(ls->key + i * 2, 3, "%02x", rnd[i]);
    const char *b = strrchr(a->name, '/');
    b = b ? b + 1 : a->name;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    snprintf(name, name_cap, "%.*s", (int)(n ? n : 1), b);
    ls->reg = srv_registry_new();
    srv_registry_set_smoke(ls->reg, srv_http_smoke, NULL);
    srv_model_config cfg = srv_model_config_default();
    cfg.name = name;
    cfg.path = a->name;
    cfg.n_slots = 1;
    cfg.n_ctx = (int32_t)a->ctx;
    if (a->ctx) cfg.set |= SRV_CONF_CTX;
    cfg.n_threads = (int32_t)a->threads;
    if (srv_registry_start_put(ls->reg, &cfg, err)) return -1;
    const char *keys[] = {ls->key};
    srv_http_config hc = {.host = "127.0.0.1", .port = 0, .api_keys = keys, .n_api_keys = 1};
    ls->http = srv_http_start(&hc, ls->reg, err);
    if (!ls->http) return -1;
    srv_http_set_ready(ls->http, true);
    snprintf(url, url_cap, "http://127.0.0.1:%d", srv_http_port(ls->http));
    return 0;
}

static void local_stop(local_server *ls) {
    srv_http_stop(ls->http);
    if (ls->reg) srv_registry_free(ls->reg);
    srv_chat_cache_clear();
    explicit_bzero(ls->key, sizeof ls->key);
}

/* The first served name (--url without NAME). */
static int first_model(chat_ctx *c, he_error *err) {
    httpc_opts o = {.api_key = c->api_key, .idle_timeout_ms = 10000};
    httpc_response r;
    if (httpc_request(&c->url, "GET", "/v1/models", NULL, 0, &o, NULL, NULL, &r, err)) return -1;
    json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    const char *id =
        json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id"));
    int rc = 0;
    if (id)
        snprintf(c->model, sizeof c->model, "%s", id);
    else
        rc = he_fail(err, HE_IO, "the server at that URL lists no model (HTTP %d)", r.status);
    json_decref(j);
    httpc_response_free(&r);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    chat_args a = {0};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(o, "--url") && has)
            a.url_arg = argv[++i];
        else if (!strcmp(o, "--api-key") && has)
            a.api_key = argv[++i];
        else if (!strcmp(o, "--system") && has)
            a.system = argv[++i];
        else if (!strcmp(o, "--load") && has)
            a.load = argv[++i];
        else if (!strcmp(o, "--log-requests") && has)
            a.log_path = argv[++i];
        else if ((!strcmp(o, "-c") || !strcmp(o, "--ctx")) && has) {
            if (cli_parse_long(argv[++i], 0, 4194304, &a.ctx)) return usage("bad --ctx", argv[i]);
        } else if ((!strcmp(o, "-t") || !strcmp(o, "--threads")) && has) {
            if (cli_parse_long(argv[++i], 0, 1024, &a.threads))
                return usage("bad --threads", argv[i]);
        } else if (o[0] == '-')
            return usage("unknown option", o);
        else if (!a.name)
            a.name = o;
        else
            return usage("unexpected argument", o);
    }
    if (!a.name && !a.url_arg)
        return usage("name a model (a store name or a .gguf file), or --url", NULL);
    if (a.load && !chat_name_ok(a.load)) return usage("bad --load name", a.load);
    if (!a.api_key) a.api_key = getenv("HEARTH_API_KEY");
    chat_ctx c = {.tty = isatty(STDOUT_FILENO) == 1};
    const char *d = getenv("HEARTH_CHAT_TEST_DELAY_MS");
    if (d) c.delay_ms = atoi(d);
    if (a.log_path && !(c.log = fopen(a.log_path, "a"))) {
        fprintf(stderr, "hearth chat: cannot open %s: %s\n", a.log_path, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    local_server ls = {0};
    char url[300];
    he_error err = {0};
    int status = 1;
    if (a.url_arg) {
        snprintf(url, sizeof url, "%s", a.url_arg);
        c.api_key = a.api_key;
        if (a.name) snprintf(c.model, sizeof c.model, "%s", a.name);
    } else {
        fprintf(stderr, "Loading %s ...\n", a.name);
        log_set_level(LOG_WARN);
        if (local_start(&ls, &a, url, sizeof url, c.model, sizeof c.model, &err)) {
            fprintf(stderr, "hearth chat: %s\n", err.msg);
            local_stop(&ls);
            if (c.log) fclose(c.log);
            return 1;
        }
        c.api_key = ls.key;
    }
    /* from here on Ctrl-C is ours (while the model loads it still ends the program) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read at the prompt returns on Ctrl-C */
    sigaction(SIGINT, &sa, NULL);
    if (httpc_url_parse(url, &c.url, &err) || (!c.model[0] && first_model(&c, &err))) {
        fprintf(stderr, "hearth chat: %s\n", err.msg);
        goto out;
    }
    chat_session s;
    chat_session_init(&s);
    if (a.system) chat_session_set_system(&s, a.system);
    if (a.load) save_load(&s, &c, a.load, false);
    if (c.tty) printf("Chatting with %s. /? for help, /bye to quit.\n", c.model);
    char *line = NULL, *multi = NULL;
    size_t cap = 0, mlen = 0;
    bool in_multi = false;
    int interrupts = 0;
    for (;;) {
        fputs(in_multi ? "... " : ">>> ", stdout);
        fflush(stdout);
        int rc = read_line(&line, &cap);
        if (rc == -2) { /* Ctrl-C at the prompt */
            g_int = 0;
            g_cancel = 0;
            in_multi = false;
            if (++interrupts >= 2) {
                fputs("\n", stdout);
                break;
            }
            fputs("\n(Ctrl-C again, Ctrl-D or /bye to quit)\n", stdout);
            continue;
        }
        if (rc == -1) { /* Ctrl-D */
            fputs("\n", stdout);
            break;
        }
        interrupts = 0;
        const char *text = line;
        if (in_multi || !strncmp(line, "\"\"\"", 3)) {
            /* """ ... """: lines are joined with '\n' until one ends with """ */
            const char *part = in_multi ? line : line + 3;
            size_t pl = strlen(part);
            bool end = pl >= 3 && !strcmp(part + pl - 3, "\"\"\"");
            if (end) pl -= 3;
            if (!in_multi) mlen = 0;
            multi = xrealloc(multi, mlen + pl + 2);
            if (in_multi) multi[mlen++] = '\n';
            memcpy(multi + mlen, part, pl);
            mlen += pl;
            multi[mlen] = 0;
            in_multi = !end;
            if (in_multi) continue;
            text = multi;
            if (!text[0]) continue;
            turn(&c, &s, text);
            continue;
        }
        if (!text[0]) continue;
        chat_cmd cmd;
        chat_cmd_parse(text, &cmd);
        switch (cmd.kind) {
        case CHAT_CMD_TEXT:
            turn(&c, &s, text);
            break;
        case CHAT_CMD_BYE:
            goto done;
        case CHAT_CMD_HELP:
            fputs(help_text, stdout);
            break;
        case CHAT_CMD_CLEAR:
            chat_session_clear(&s);
            puts("Cleared the conversation.");
            break;
        case CHAT_CMD_SHOW:
            show(&c, &s, url);
            break;
        case CHAT_CMD_SAVE:
            save_load(&s, &c, cmd.arg, true);
            break;
        case CHAT_CMD_LOAD:
            save_load(&s, &c, cmd.arg, false);
            break;
        case CHAT_CMD_SET_SYSTEM:
            chat_session_set_system(&s, cmd.arg);
            puts(cmd.arg[0] ? "Set the system prompt." : "Cleared the system prompt.");
            break;
        case CHAT_CMD_SET_PARAM:
            if (chat_session_set_param(&s, cmd.arg, cmd.arg2, &err))
                printf("error: %s\n", err.msg);
            else
                printf("Set parameter '%s' to '%s'.\n", cmd.arg, cmd.arg2);
            break;
        case CHAT_CMD_SET_THINK:
            s.think = 1;
            puts("Thinking on.");
            break;
        case CHAT_CMD_SET_NOTHINK:
            s.think = 0;
            puts("Thinking off.");
            break;
        case CHAT_CMD_BAD:
            printf("%s\n", cmd.message);
            break;
        }
    }
done:
    status = 0;
    free(line);
    free(multi);
    chat_session_free(&s);
out:
    fflush(stdout);
    if (!a.url_arg) local_stop(&ls);
    free(c.answer);
    if (c.log) fclose(c.log);
    return status;
}
