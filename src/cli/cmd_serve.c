/* cmd_serve.c — `hearth serve MODEL.gguf [options]`: the OpenAI- and Ollama-compatible server.
 *
 * Starts listening first (so /health answers 503 while the models load), loads the served
 * models into the registry, then flips to ready and waits for SIGINT/SIGTERM. SIGHUP re-reads
 * the --config file (new names start, changed ones are hot-swapped, unlisted ones stop).
 * The admin token (what `hearth swap` needs to load a file) is --admin-key, $HEARTH_ADMIN_KEY or
 * a fresh random one written to a 0600 file for `hearth swap` to read, removed on exit.
 * Exit codes: 0 clean shutdown, 1 model or listen error, 2 bad arguments. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cli/cli.h"
#include "server/chat.h"
#include "server/http.h"
#include "server/manage_req.h"
#include "server/sched.h"
#include "server/websafe.h"

static const char usage_text[] =
    "usage: hearth serve (MODEL.gguf | STORE-NAME) [options]\n"
    "       hearth serve --config hearth.conf [--store] [options]\n"
    "       hearth serve [options]      store mode: every model of the store, loaded on first use\n"
    "  --name NAME          served name (default: the file name without .gguf)\n"
    "  -c, --ctx N          context tokens per slot (default: min(training context, 4096))\n"
    "  --slots N            concurrent sequences (default 4)\n"
    "  --kv-type T          KV cache element type: f16 (default), f32, q8_0\n"
    "  --context-overflow M a chat longer than the context: error (default, a 400) or shift\n"
    "                       (its oldest turns are dropped; docs/SERVER.md)\n"
    "  --lora A             LoRA adapter A.gguf at scale 1 (repeatable; ids 0, 1, ... in order)\n"
    "  --lora-scaled A S    LoRA adapter A.gguf at scale S (requests may rescale by id)\n"
    "  --queue N            requests waiting for a slot before 429 (default 64)\n"
    "  -t, --threads N      threads (default: number of physical cores)\n"
    "  --host HOST          bind address (default 127.0.0.1)\n"
    "  --port PORT          TCP port (default 8080; 0 picks a free one)\n"
    "  --api-key KEY        require 'Authorization: Bearer KEY' (repeatable)\n"
    "  --api-key-file F     keys, one per line\n"
    "  --config FILE        served names from a config file (see docs/SERVER.md)\n"
    "  --cors-origin O      allow web pages of origin O (CORS headers; other origins get 403)\n"
    "  --admin-key KEY      the admin token that loading a model file over HTTP needs (also\n"
    "                       $HEARTH_ADMIN_KEY; default: a random one in a 0600 file for hearth swap)\n"
    "  --model-dir DIR      folder a swap may load model files from (repeatable; default: the\n"
    "                       folders of the served model files and the model store)\n"
    "  --max-body BYTES     request body limit (default 33554432)\n"
    "  --max-conn N         open connections (default 8192, within the open-file limit)\n"
    "  --per-ip N           connections per client address (default 256; no limit on a loopback bind)\n"
    "  --idle-timeout S     close a connection silent for S seconds (default 10)\n"
    "  --request-timeout S  a request's line, headers and body must arrive within S seconds (default 30)\n"
    "  --no-ui              do not serve the web chat page at / (docs/WEBUI.md)\n"
    "  --verify             re-hash a store model's blob before loading it (docs/STORE.md)\n"
    "  --guard-workspace D  POST /v1/guard/check classifies actions against workspace D (default:\n"
    "                       an empty private directory: nothing counts as inside; docs/AGENT.md)\n"
    "  --guard-policy FILE  the guard's policy file (default: the built-in policy)\n"
    "  --store              with --config: also serve every model of the store by name (store mode)\n"
    "  --max-memory SIZE    store mode: memory budget for loaded models, e.g. 8G, 512M (default: 80%\n"
    "                       of MemAvailable at start); over it the least recently used idle model unloads\n"
    "  --keep-alive DUR     store mode: default keep_alive of a loaded model (\"5m\", \"30s\", -1 forever;\n"
    "                       default 5m, as Ollama); a request's keep_alive wins\n";

static int usage(const char *msg, const char *arg) {
    if (msg) fprintf(stderr, "hearth serve: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    return 2;
}

static volatile sig_atomic_t g_stop, g_hup;
static void on_signal(int sig) {
    if (sig == SIGHUP) g_hup = 1;
    else g_stop = 1;
}

#define MAX_KEYS 64
#define MAX_DIRS 64

typedef struct {
    const char *model, *name, *host, *config, *cors, *admin_key, *guard_ws, *guard_policy;
    const char *model_dirs[MAX_DIRS];
    int n_model_dirs;
    long port, n_ctx, slots, threads, max_body, queue;
    long max_conn, per_ip, idle_timeout, request_timeout;
    char *keys[MAX_KEYS];
    int n_keys;
    bool verify; /* --verify: re-hash store blobs before loading */
    bool no_ui;  /* --no-ui: no web chat page */
    bool store;  /* store mode: no model and no --config, or --store */
    uint64_t max_memory;
    double keep_alive;
    bool keep_alive_set;
    hearth_kv_type kv_type; /* --kv-type (single-model mode; a config file says kv_type) */
    srv_overflow overflow;  /* --context-overflow (single-model mode; a config says it) */
    int n_lora;             /* --lora / --lora-scaled (single-model mode; a config says lora) */
    const char *lora_path[SRV_MAX_LORA];
    float lora_scale[SRV_MAX_LORA];
} serve_args;

static int add_key(serve_args *a, const char *k) {
    if (!k[0]) return 0;
    if (a->n_keys == MAX_KEYS) return -1;
    a->keys[a->n_keys++] = xstrdup(k);
    return 0;
}

/* One key per line, taken whole: getline reads a line of any length, so a long key is never
 * split into two that would each be accepted. Keys longer than MAX_KEY_LEN could never arrive
 * (libmicrohttpd keeps a request's headers in 16 KiB), and a NUL byte would cut a key short:
 * both stop the server with the line number instead of being half-accepted. */
#define MAX_KEY_LEN 8192
static int read_key_file(serve_args *a, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hearth serve: cannot read --api-key-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    for (long lineno = 1; (got = getline(&line, &cap, f)) >= 0; lineno++) {
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        if (memchr(line, 0, n)) {
            fprintf(stderr, "hearth serve: --api-key-file %s:%ld: a NUL byte in the line\n", path, lineno);
            rc = -1;
            break;
        }
        line[n] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || !*s) continue;
        if (strlen(s) > MAX_KEY_LEN) {
            fprintf(stderr, "hearth serve: --api-key-file %s:%ld: the key is %zu bytes; at most %d\n", path, lineno,
                    strlen(s), MAX_KEY_LEN);
            rc = -1;
            break;
        }
        if (add_key(a, s)) {
            fprintf(stderr, "hearth serve: more than %d API keys\n", MAX_KEYS);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "hearth serve: cannot read --api-key-file %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

static char *default_name(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    return xstrndup(b, n ? n : 1);
}

static int parse_args(int argc, char **argv, serve_args *a) {
    memset(a, 0, sizeof *a);
    a->host = "127.0.0.1";
    a->port = 8080;
    a->slots = 4;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-' || !o[1]) {
            if (a->model) return usage("unexpected argument", o);
            a->model = o;
            continue;
        }
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return usage(NULL, NULL);
        if (!strcmp(o, "--verify")) {
            a->verify = true;
            continue;
        }
        if (!strcmp(o, "--no-ui")) {
            a->no_ui = true;
            continue;
        }
        if (!strcmp(o, "--store")) {
            a->store = true;
            continue;
        }
        if (i + 1 >= argc) return usage("missing value for", o);
        if (!strcmp(o, "--lora") || !strcmp(o, "--lora-scaled")) {
            if (a->n_lora >= SRV_MAX_LORA) return usage("too many LoRA adapters:", o);
            float sc = 1.0f;
            const char *path = argv[++i];
            if (!strcmp(o, "--lora-scaled")) {
                if (i + 1 >= argc) return usage("missing scale for --lora-scaled", path);
                if (cli_parse_float(argv[++i], -1e6f, 1e6f, &sc))
                    return usage("bad scale for --lora-scaled:", argv[i]);
            }
            a->lora_path[a->n_lora] = path;
            a->lora_scale[a->n_lora++] = sc;
            continue;
        }
        const char *v = argv[++i];
        if (!strcmp(o, "--name")) a->name = v;
        else if (!strcmp(o, "--host")) a->host = v;
        else if (!strcmp(o, "--config")) a->config = v;
        else if (!strcmp(o, "--cors-origin")) a->cors = v;
        else if (!strcmp(o, "--admin-key")) a->admin_key = v;
        else if (!strcmp(o, "--guard-workspace")) a->guard_ws = v;
        else if (!strcmp(o, "--guard-policy")) a->guard_policy = v;
        else if (!strcmp(o, "--model-dir")) {
            if (a->n_model_dirs == MAX_DIRS) return usage("too many --model-dir", NULL);
            a->model_dirs[a->n_model_dirs++] = v;
        }
        else if (!strcmp(o, "--max-memory")) {
            if (srv_size_parse(v, &a->max_memory) || a->max_memory == 0)
                return usage("bad value for --max-memory (bytes, or with K, M, G, T):", v);
        } else if (!strcmp(o, "--keep-alive")) {
            json_t *j = json_string(v);
            char why[128];
            int bad = srv_keep_alive_parse(j, &a->keep_alive, why, sizeof why);
            json_decref(j);
            if (bad) return usage("bad value for --keep-alive (\"5m\", \"30s\", 0, -1):", v);
            a->keep_alive_set = true;
        }
        else if (!strcmp(o, "--port")) {
            if (cli_parse_long(v, 0, 65535, &a->port)) return usage("bad value for --port:", v);
        } else if (!strcmp(o, "-c") || !strcmp(o, "--ctx")) {
            if (cli_parse_long(v, 1, 1 << 22, &a->n_ctx)) return usage("bad value for --ctx:", v);
        } else if (!strcmp(o, "--context-overflow")) {
            if (!strcmp(v, "error"))
                a->overflow = SRV_OVERFLOW_ERROR;
            else if (!strcmp(v, "shift"))
                a->overflow = SRV_OVERFLOW_SHIFT;
            else
                return usage("bad value for --context-overflow (error or shift):", v);
        } else if (!strcmp(o, "--kv-type")) {
            if (hearth_kv_type_from_name(v, &a->kv_type))
                return usage("bad value for --kv-type (f16, f32 or q8_0):", v);
        } else if (!strcmp(o, "--slots")) {
            if (cli_parse_long(v, 1, HEARTH_MAX_SEQ, &a->slots)) return usage("bad value for --slots:", v);
        } else if (!strcmp(o, "--queue")) {
            if (cli_parse_long(v, 1, 1 << 20, &a->queue)) return usage("bad value for --queue:", v);
        } else if (!strcmp(o, "-t") || !strcmp(o, "--threads")) {
            if (cli_parse_long(v, 1, 256, &a->threads)) return usage("bad value for -t:", v);
        } else if (!strcmp(o, "--max-body")) {
            if (cli_parse_long(v, 1024, 1L << 30, &a->max_body)) return usage("bad value for --max-body:", v);
        } else if (!strcmp(o, "--max-conn")) {
            if (cli_parse_long(v, 1, 1 << 20, &a->max_conn)) return usage("bad value for --max-conn:", v);
        } else if (!strcmp(o, "--per-ip")) {
            if (cli_parse_long(v, 1, 1 << 20, &a->per_ip)) return usage("bad value for --per-ip:", v);
        } else if (!strcmp(o, "--idle-timeout")) {
            if (cli_parse_long(v, 1, 86400, &a->idle_timeout)) return usage("bad value for --idle-timeout:", v);
        } else if (!strcmp(o, "--request-timeout")) {
            if (cli_parse_long(v, 1, 86400, &a->request_timeout)) return usage("bad value for --request-timeout:", v);
        } else if (!strcmp(o, "--api-key")) {
            if (add_key(a, v)) return usage("too many API keys", NULL);
        } else if (!strcmp(o, "--api-key-file")) {
            if (read_key_file(a, v)) return 2;
        } else {
            return usage("unknown option", o);
        }
    }
    if (a->model && a->config) return usage("give either MODEL.gguf or --config, not both", NULL);
    if (a->model && a->store) return usage("--store goes with --config (or no model at all)", NULL);
    if (!a->model && !a->config) a->store = true;
    if (a->config && a->n_lora) return usage("with --config, name adapters in the config (lora = FILE:SCALE, ...)", NULL);
    return 0;
}

/* The folder holding path when it is a file (a store name or a missing file adds nothing). */
static void add_dir_of(char **dirs, int *n, const char *path) {
    struct stat st;
    char real[PATH_MAX];
    if (*n == MAX_DIRS || stat(path, &st) || !S_ISREG(st.st_mode) || !realpath(path, real)) return;
    char *slash = strrchr(real, '/');
    if (slash == real) slash[1] = 0;
    else *slash = 0;
    for (int i = 0; i < *n; i++)
        if (!strcmp(dirs[i], real)) return;
    dirs[(*n)++] = xstrdup(real);
}

/* Where a swap may load files from: --model-dir, else the folders of the files served at start
 * and the model store's root. */
static int default_model_dirs(const serve_args *a, char **dirs) {
    int n = 0;
    if (a->n_model_dirs) {
        for (int i = 0; i < a->n_model_dirs; i++) dirs[n++] = xstrdup(a->model_dirs[i]);
        return n;
    }
    if (a->model) add_dir_of(dirs, &n, a->model);
    if (a->config) {
        srv_model_config *cfgs = NULL;
        int nc = 0;
        he_error err;
        if (srv_config_load_ex(a->config, a->store, &cfgs, &nc, &err) == 0) {
            for (int i = 0; i < nc; i++)
                if (cfgs[i].path) add_dir_of(dirs, &n, cfgs[i].path);
            srv_config_free(cfgs, nc);
        }
    }
    const char *hh = getenv("HEARTH_HOME"), *home = getenv("HOME");
    char store[PATH_MAX];
    struct stat st;
    int w = hh && hh[0] ? snprintf(store, sizeof store, "%s", hh)
                        : home ? snprintf(store, sizeof store, "%s/.local/share/hearth", home) : -1;
    if (w > 0 && w < (int)sizeof store && n < MAX_DIRS && stat(store, &st) == 0 && S_ISDIR(st.st_mode))
        dirs[n++] = xstrdup(store);
    return n;
}

/* Loads the config file; at start every name is started, on SIGHUP the registry is made to
 * serve exactly the new list (srv_registry_reload: new names start, changed ones are swapped
 * after a smoke test, unlisted ones stop). */
static int apply_config(srv_registry *reg, const char *path, bool first, bool verify, bool store) {
    srv_model_config *cfgs = NULL;
    int n = 0;
    he_error err = {0};
    if (srv_config_load_ex(path, store, &cfgs, &n, &err)) {
        log_error("serve: %s%s", err.msg, first ? "" : " (nothing changed)");
        return -1;
    }
    for (int i = 0; i < n; i++) cfgs[i].verify = verify;
    int rc = 0;
    if (first) {
        for (int i = 0; i < n && rc == 0; i++) {
            if (cfgs[i].route_small) continue; /* a routing name: set below */
            log_info("serve: loading '%s' from %s", cfgs[i].name, cfgs[i].path);
            if (srv_registry_start_put(reg, &cfgs[i], &err)) {
                log_error("serve: '%s': %s", cfgs[i].name, err.msg);
                rc = -1;
            }
        }
        if (rc == 0) srv_registry_set_routes(reg, cfgs, n);
    } else if (srv_registry_reload(reg, cfgs, n, &err)) {
        log_error("serve: reload: %s", err.msg);
        rc = -1;
    } else {
        log_info("serve: reloaded %s (%d names)", path, n);
    }
    srv_config_free(cfgs, n);
    return rc;
}

int cmd_serve(int argc, char **argv) {
    serve_args a;
    int prc = parse_args(argc, argv, &a);
    if (prc) {
        for (int i = 0; i < a.n_keys; i++) free(a.keys[i]); /* keys read before the bad option */
        return prc;
    }
    int status = 1;
    srv_registry *reg = srv_registry_new();
    srv_registry_set_smoke(reg, srv_http_smoke, NULL);
    char token[SRV_ADMIN_TOKEN_MAX + 1], token_path[4200] = "";
    const char *admin_key = a.admin_key ? a.admin_key : getenv("HEARTH_ADMIN_KEY");
    he_error err = {0};
    if (admin_key && admin_key[0]) {
        snprintf(token, sizeof token, "%s", admin_key);
    } else if (srv_admin_token_new(token, sizeof token, &err)) {
        fprintf(stderr, "hearth serve: %s\n", err.msg);
        srv_registry_free(reg);
        return 1;
    }
    char *dirs[MAX_DIRS];
    int n_dirs = default_model_dirs(&a, dirs);
    /* what a store model gets when store mode loads it (its store params may change the ctx) */
    srv_model_config store_defaults = srv_model_config_default();
    store_defaults.verify = a.verify;
    store_defaults.n_ctx = (int32_t)a.n_ctx;
    if (a.n_ctx) store_defaults.set |= SRV_CONF_CTX;
    store_defaults.kv_type = a.kv_type;
    store_defaults.n_slots = (int32_t)a.slots;
    store_defaults.n_threads = (int32_t)a.threads;
    if (a.queue) store_defaults.max_queue = (int32_t)a.queue;
    srv_http_config hc = {.host = a.host,
                          .port = (int)a.port,
                          .api_keys = (const char *const *)a.keys,
                          .n_api_keys = a.n_keys,
                          .cors_origin = a.cors,
                          .max_body = (size_t)a.max_body,
                          .max_connections = (unsigned)a.max_conn,
                          .per_ip_limit = (unsigned)a.per_ip,
                          .idle_timeout = (unsigned)a.idle_timeout,
                          .request_timeout = (unsigned)a.request_timeout,
                          .admin_key = token,
                          .model_dirs = (const char *const *)dirs,
                          .n_model_dirs = n_dirs,
                          .guard_workspace = a.guard_ws,
                          .guard_policy = a.guard_policy,
                          .no_ui = a.no_ui,
                          .store_mode = a.store,
                          .store_defaults = &store_defaults,
                          .max_memory = a.max_memory,
                          .keep_alive = a.keep_alive,
                          .keep_alive_set = a.keep_alive_set};
    srv_http *h = srv_http_start(&hc, reg, &err);
    if (!h) {
        fprintf(stderr, "hearth %s\n", err.msg);
        goto out;
    }
    for (int i = 0; i < n_dirs; i++) log_debug("serve: model directory %s", dirs[i]);
    /* A token given by the operator is theirs to pass on; a generated one goes to a file only
     * this user can read, keyed by port, for `hearth swap` on this machine. */
    if (!(admin_key && admin_key[0])) {
        if (srv_admin_token_path(srv_http_port(h), true, token_path, sizeof token_path, &err) ||
            srv_admin_token_write(token_path, token, &err)) {
            log_warn("serve: %s; loading model files over HTTP needs --admin-key", err.msg);
            token_path[0] = 0;
        } else {
            log_info("serve: admin token in %s", token_path);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "hearth serve: listening on http://%s:%d\n", strchr(a.host, ':') ? "[::1]" : a.host,
            srv_http_port(h));
    if (!a.no_ui)
        fprintf(stderr, "hearth serve: chat in your browser at http://%s:%d/\n",
                strchr(a.host, ':') ? "[::1]" : a.host, srv_http_port(h));
    fflush(stderr);
    if (a.config) {
        if (apply_config(reg, a.config, true, a.verify, a.store)) goto out;
    } else if (a.store) {
        log_info("serve: store mode: nothing loaded until a request names a model");
    } else {
        char *name = a.name ? xstrdup(a.name) : default_name(a.model);
        srv_model_config cfg = srv_model_config_default();
        cfg.name = name;
        cfg.path = a.model;
        cfg.verify = a.verify;
        cfg.n_ctx = (int32_t)a.n_ctx;
        cfg.kv_type = a.kv_type;
        cfg.context_overflow = a.overflow;
        cfg.n_lora = a.n_lora;
        for (int i = 0; i < a.n_lora; i++) {
            cfg.lora_path[i] = a.lora_path[i];
            cfg.lora_scale[i] = a.lora_scale[i];
        }
        if (a.n_ctx) cfg.set |= SRV_CONF_CTX; /* --ctx wins over a store model's num_ctx */
        cfg.n_slots = (int32_t)a.slots;
        cfg.n_threads = (int32_t)a.threads;
        if (a.queue) cfg.max_queue = (int32_t)a.queue;
        log_info("serve: loading '%s' from %s", name, a.model);
        int rc = srv_registry_start_put(reg, &cfg, &err);
        free(name);
        if (rc) {
            fprintf(stderr, "hearth serve: %s\n", err.msg);
            goto out;
        }
    }
    srv_http_set_ready(h, true);
    fprintf(stderr, "hearth serve: ready\n");
    fflush(stderr);
    while (!g_stop) {
        usleep(100 * 1000);
        if (g_hup) {
            g_hup = 0;
            if (a.config) {
                log_info("serve: SIGHUP: re-reading %s", a.config);
                apply_config(reg, a.config, false, a.verify, a.store);
            } else {
                log_info("serve: SIGHUP ignored (no --config)");
            }
        }
    }
    fprintf(stderr, "hearth serve: shutting down\n");
    status = 0;
out:
    if (h) srv_http_set_ready(h, false);
    srv_http_stop(h);
    if (token_path[0]) unlink(token_path);
    explicit_bzero(token, sizeof token);
    for (int i = 0; i < n_dirs; i++) free(dirs[i]);
    srv_registry_free(reg);
    srv_chat_cache_clear();
    for (int i = 0; i < a.n_keys; i++) free(a.keys[i]);
    return status;
}
