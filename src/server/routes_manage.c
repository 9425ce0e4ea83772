/* routes_manage.c — store mode and model management over HTTP (docs/SERVER.md "Store mode").
 *
 * Store mode: every model of the store is served by name and loaded on first use. A request
 * for a stored name that is not loaded queues a LOAD task for the manager thread and suspends
 * its connection (as the swap worker does, routes_swap.c): no HTTP thread waits for a load.
 * Before a load the manager predicts the model's memory (memory.h) and admits it under the
 * budget (--max-memory), first unloading the least recently used idle store models, or refuses
 * with the sizes. Between tasks the same thread is the reaper: a store model idle for longer
 * than its keep_alive is unloaded. Names from the command line or --config are pinned: they
 * count against the budget but are never unloaded.
 *
 * Management: /api/create, /api/copy and /api/delete run on the manager thread too (they take
 * the store's lock, which a CLI import may hold for minutes); /api/pull and /api/push answer
 * that hearth never downloads. The listings (/api/tags, /api/ps) and /api/show are here as
 * well: they describe stored models without loading them. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

#include "base/alloc.h"
#include "base/log.h"
#include "chat/toolcall.h"
#include "gguf/gguf.h"
#include "server/http_internal.h"
#include "server/manage_req.h"
#include "server/memory.h"
#include "server/websafe.h"
#include "store/store.h"

#define MANAGE_MAX_QUEUE 64

typedef struct {
    char name[STORE_NAME_MAX + 1];
    srv_mem_prediction pred;
    uint64_t rss; /* measured: RSS growth over the load (0: not loaded here) */
    double load_s;
    double keep_alive; /* seconds; < 0 forever */
    bool store;        /* loaded by store mode (may be unloaded); else pinned */
} resident;

typedef enum { T_LOAD, T_CREATE, T_COPY, T_DELETE } task_kind;

struct http_mtask {
    srv_http *h;
    struct MHD_Connection *conn;
    task_kind kind;
    srv_api api; /* T_LOAD: the route to run again once loaded */
    enum MHD_Result (*rerun)(http_req *q, int arg); /* T_LOAD: NULL: route_generate(api) */
    int rerun_arg;
    char *a, *b; /* LOAD/DELETE: the name; COPY: source, destination */
    srv_create_req create;
    bool admin;
    /* results, guarded by sm->mu */
    bool done, abandoned;
    int status; /* 0 ok, else the HTTP status */
    char code[48];
    char msg[600];
    json_t *lines; /* T_CREATE: the status lines (Ollama's progress) */
    /* T_CREATE streamed: the NDJSON not yet read by MHD, and the reader's state (sm->mu);
     * refs: the manager and the response each hold one */
    bool streaming, reader_suspended;
    char *out;
    size_t out_len, out_off;
    int refs;
    double last_progress;
    double load_s; /* T_LOAD: how long the load took (0: it was loaded already) */
    struct http_mtask *next;
};

struct http_store {
    srv_model_config defaults;
    uint64_t budget;
    double keep_alive_default;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    resident *r;
    int n, cap;
    struct http_mtask *head, *tail;
    int queued;
    pthread_t thread;
    bool started, stopping;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void task_free(struct http_mtask *t) {
    if (!t) return;
    free(t->out);
    free(t->a);
    free(t->b);
    srv_create_free(&t->create);
    json_decref(t->lines);
    free(t);
}

static int task_fail(struct http_mtask *t, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int task_fail(struct http_mtask *t, int status, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    t->status = status;
    snprintf(t->code, sizeof t->code, "%s", code);
    return -1;
}

/* ---- names ---- */

/* The store's name for what a client asked: the name itself, without ":latest", or with
 * ":latest" added (Ollama's implied tag). 0 with canon filled (and m when given), -1 when the
 * store has none of them. */
static int store_canonical(const char *asked, char *canon, size_t cap, store_manifest *m) {
    if (!asked || !*asked || strlen(asked) > STORE_NAME_MAX + 8) return -1;
    he_error err;
    store *s = store_open(NULL, &err);
    if (!s) return -1;
    char cand[3][STORE_NAME_MAX + 16];
    int nc = 0;
    size_t n = strlen(asked);
    snprintf(cand[nc++], sizeof cand[0], "%s", asked);
    if (n > 7 && !strcmp(asked + n - 7, ":latest"))
        snprintf(cand[nc++], sizeof cand[0], "%.*s", (int)(n - 7), asked);
    else if (!strchr(asked, ':'))
        snprintf(cand[nc++], sizeof cand[0], "%s:latest", asked);
    int rc = -1;
    store_manifest tmp;
    for (int i = 0; i < nc && rc; i++) {
        if (store_name_check(cand[i], NULL) || store_manifest_read(s, cand[i], m ? m : &tmp, &err))
            continue;
        size_t cl = strlen(cand[i]);
        if (cl >= cap) continue;
        memcpy(canon, cand[i], cl + 1);
        rc = 0;
    }
    store_close(s);
    return rc;
}

/* ---- the resident table (sm->mu held) ---- */

static resident *res_find(struct http_store *sm, const char *name) {
    for (int i = 0; i < sm->n; i++)
        if (!strcmp(sm->r[i].name, name)) return &sm->r[i];
    return NULL;
}

static resident *res_add(struct http_store *sm, const char *name) {
    resident *e = res_find(sm, name);
    if (e) return e;
    if (sm->n == sm->cap) {
        sm->cap = sm->cap ? 2 * sm->cap : 8;
        sm->r = xrealloc(sm->r, (size_t)sm->cap * sizeof *sm->r);
    }
    e = &sm->r[sm->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->keep_alive = SRV_KEEP_ALIVE_FOREVER;
    return e;
}

static void res_drop(struct http_store *sm, const char *name) {
    resident *e = res_find(sm, name);
    if (e) *e = sm->r[--sm->n];
}

/* The entry of a served model, made for a pinned one on first sight (its prediction from the
 * effective config). sm->mu held. */
static resident *res_of(struct http_store *sm, srv_model *m) {
    resident *e = res_find(sm, srv_model_name(m));
    if (e) return e;
    const srv_model_config *c = srv_model_config_of(m);
    srv_mem_prediction p;
    he_error err;
    if (srv_mem_predict(c->path, srv_model_n_ctx(m), c->n_slots, c->kv_type, c->n_batch,
                        c->n_threads, &p, &err))
        memset(&p, 0, sizeof p);
    e = res_add(sm, srv_model_name(m));
    e->pred = p;
    return e;
}

/* ---- public hooks (http_internal.h) ---- */

int http_store_start(srv_http *h, const srv_http_config *cfg) {
    if (!cfg->store_mode) return 0;
    struct http_store *sm = xcalloc(1, sizeof *sm);
    sm->defaults = cfg->store_defaults ? *cfg->store_defaults : srv_model_config_default();
    sm->defaults.name = sm->defaults.path = NULL;
    sm->defaults.system_prompt = sm->defaults.tool_format = sm->defaults.chat_template = NULL;
    sm->budget = cfg->max_memory;
    if (!sm->budget) sm->budget = srv_mem_available() / 10 * 8; /* 80% of MemAvailable */
    sm->keep_alive_default = cfg->keep_alive_set ? cfg->keep_alive : SRV_KEEP_ALIVE_DEFAULT;
    pthread_mutex_init(&sm->mu, NULL);
    pthread_cond_init(&sm->cv, NULL);
    h->sm = sm;
    char b[32];
    srv_size_format(sm->budget, b, sizeof b);
    log_info("serve: store mode: models of the store load on first use; memory budget %s%s", b,
             cfg->max_memory ? "" : " (80% of MemAvailable; --max-memory to set)");
    return 0;
}

static void *manager_main(void *arg);

int http_store_worker_start(srv_http *h) {
    struct http_store *sm = h->sm;
    if (!sm) return 0;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, (size_t)1 << 20);
    sm->started = pthread_create(&sm->thread, &at, manager_main, h) == 0;
    pthread_attr_destroy(&at);
    return sm->started ? 0 : -1;
}

void http_store_stop(srv_http *h) {
    struct http_store *sm = h->sm;
    if (!sm) return;
    if (sm->started) {
        pthread_mutex_lock(&sm->mu);
        sm->stopping = true;
        pthread_cond_broadcast(&sm->cv);
        pthread_mutex_unlock(&sm->mu);
        pthread_join(sm->thread, NULL);
        sm->started = false;
    }
}

void http_store_free(srv_http *h) {
    struct http_store *sm = h->sm;
    if (!sm) return;
    free(sm->r);
    pthread_mutex_destroy(&sm->mu);
    pthread_cond_destroy(&sm->cv);
    free(sm);
    h->sm = NULL;
}

void http_store_touch(srv_http *h, srv_model *m, const srv_request *r) {
    struct http_store *sm = h->sm;
    if (!sm) return;
    pthread_mutex_lock(&sm->mu);
    resident *e = res_find(sm, srv_model_name(m));
    if (e && e->store) e->keep_alive = r->has_keep_alive ? r->keep_alive : sm->keep_alive_default;
    pthread_mutex_unlock(&sm->mu);
    if (e && r->has_keep_alive && r->keep_alive == 0)
        pthread_cond_signal(&sm->cv); /* the reaper looks now */
}

bool http_store_unload(srv_http *h, srv_model *m) {
    struct http_store *sm = h->sm;
    if (!sm) return false;
    char name[STORE_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", srv_model_name(m));
    pthread_mutex_lock(&sm->mu);
    resident *e = res_find(sm, name);
    bool stored = e && e->store;
    if (stored) res_drop(sm, name);
    pthread_mutex_unlock(&sm->mu);
    if (!stored) return false;
    srv_registry_remove(h->reg, name);
    log_info("serve: '%s' unloaded (keep_alive 0)", name);
    return true;
}

/* ---- the manager thread ---- */

static void reap(srv_http *h) {
    struct http_store *sm = h->sm;
    char gone[16][STORE_NAME_MAX + 1];
    int n_gone = 0;
    pthread_mutex_lock(&sm->mu);
    for (int i = 0; i < sm->n && n_gone < 16; i++) {
        resident *e = &sm->r[i];
        srv_model *m = srv_registry_acquire(h->reg, e->name);
        if (!m) { /* removed behind our back (a delete, a reload) */
            snprintf(gone[n_gone++], sizeof gone[0], "%s", e->name);
            continue;
        }
        double idle = srv_model_idle_seconds(m);
        srv_model_release(m);
        if (e->store && e->keep_alive >= 0 && idle >= e->keep_alive)
            snprintf(gone[n_gone++], sizeof gone[0], "%s", e->name);
    }
    for (int i = 0; i < n_gone; i++)
        res_drop(sm, gone[i]);
    pthread_mutex_unlock(&sm->mu);
    for (int i = 0; i < n_gone; i++) {
        srv_model *m = srv_registry_acquire(h->reg, gone[i]);
        if (!m) continue;
        srv_model_release(m);
        log_info("serve: '%s' unloading (keep_alive expired)", gone[i]);
        srv_registry_remove(h->reg, gone[i]);
    }
}

/* Makes room for need bytes (sm->mu held on entry and exit; dropped around unloads). 0, or -1
 * with the task failed: need alone is over the budget, or the models holding it are busy. */
static int admit(srv_http *h, struct http_mtask *t, const char *name, const srv_mem_prediction *p) {
    struct http_store *sm = h->sm;
    char need[32], budget[32], w[32], kv[32], sc[32];
    srv_size_format(p->total, need, sizeof need);
    srv_size_format(sm->budget, budget, sizeof budget);
    srv_size_format(p->weights, w, sizeof w);
    srv_size_format(p->kv, kv, sizeof kv);
    srv_size_format(p->scratch, sc, sizeof sc);
    if (p->total > sm->budget)
        return task_fail(t, 507, "insufficient_memory",
                         "model '%s' needs %s (weights %s + KV cache %s at context %d + scratch "
                         "%s), more than the "
                         "server's whole memory budget of %s (--max-memory)",
                         name, need, w, kv, p->n_ctx, sc, budget);
    for (;;) {
        /* every served model counts, pinned ones (command line, --config) included */
        uint64_t used = 0;
        int lru = -1;
        double lru_idle = -1;
        int nn = 0;
        char **names = srv_registry_names(h->reg, &nn);
        for (int i = 0; i < nn; i++) {
            srv_model *m = srv_registry_acquire(h->reg, names[i]);
            if (!m) continue;
            resident *e = res_of(sm, m);
            used += e->pred.total;
            double idle = srv_model_idle_seconds(m);
            srv_model_release(m);
            if (e->store && idle >= 0 && idle > lru_idle) {
                lru = (int)(e - sm->r);
                lru_idle = idle;
            }
        }
        srv_names_free(names, nn);
        if (used + p->total <= sm->budget) return 0;
        if (lru < 0) {
            char u[32];
            srv_size_format(used, u, sizeof u);
            return task_fail(
                t, 503, "insufficient_memory",
                "model '%s' needs %s (weights %s + KV cache %s + scratch %s); %s of the %s budget "
                "(--max-memory) are held by models that are busy or pinned; retry shortly",
                name, need, w, kv, sc, u, budget);
        }
        char victim[STORE_NAME_MAX + 1];
        snprintf(victim, sizeof victim, "%s", sm->r[lru].name);
        res_drop(sm, victim);
        pthread_mutex_unlock(&sm->mu);
        srv_registry_remove(h->reg, victim);
        log_info("serve: '%s' unloaded to make room for '%s' (%s)", victim, name, need);
        pthread_mutex_lock(&sm->mu);
    }
}

static void run_load(srv_http *h, struct http_mtask *t) {
    struct http_store *sm = h->sm;
    char canon[STORE_NAME_MAX + 16];
    if (store_canonical(t->a, canon, sizeof canon, NULL)) {
        task_fail(t, 404, "model_not_found", "model '%s' not found", t->a);
        return;
    }
    srv_model *cur = srv_registry_acquire(h->reg, canon);
    if (cur) { /* an earlier task loaded it */
        srv_model_release(cur);
        return;
    }
    srv_model_config cfg = sm->defaults;
    cfg.name = canon;
    cfg.path = canon;
    /* the context the model will get: the store's num_ctx unless --ctx set it */
    he_error err = {0};
    char *tmpl = NULL, *params = NULL, path[STORE_PATH_MAX];
    srv_model_config eff = cfg;
    if (store_resolve(canon, path, sizeof path, false, &err) ||
        store_overrides(canon, &tmpl, &params, &err) ||
        (params && srv_config_apply_params(&eff, params, canon, &err))) {
        free(tmpl);
        free(params);
        free((char *)eff.system_prompt);
        task_fail(t, 422, "load_failed", "model '%s' cannot be loaded: %s", canon, err.msg);
        return;
    }
    free(tmpl);
    free(params);
    free((char *)eff.system_prompt);
    srv_mem_prediction p;
    if (srv_mem_predict(path, eff.n_ctx, cfg.n_slots, cfg.kv_type, cfg.n_batch, cfg.n_threads, &p,
                        &err)) {
        task_fail(t, 422, "load_failed", "model '%s' cannot be loaded: %s", canon, err.msg);
        return;
    }
    pthread_mutex_lock(&sm->mu);
    int rc = admit(h, t, canon, &p);
    pthread_mutex_unlock(&sm->mu);
    if (rc) return;
    uint64_t rss0 = srv_mem_rss();
    double t0 = now_s();
    if (srv_registry_start_put(h->reg, &cfg, &err)) {
        task_fail(t, 422, "load_failed", "model '%s' cannot be loaded: %s", canon, err.msg);
        return;
    }
    double secs = now_s() - t0;
    t->load_s = secs;
    uint64_t rss1 = srv_mem_rss();
    pthread_mutex_lock(&sm->mu);
    resident *e = res_add(sm, canon);
    e->pred = p;
    e->rss = rss1 > rss0 ? rss1 - rss0 : 0;
    e->load_s = secs;
    e->keep_alive = sm->keep_alive_default;
    e->store = true;
    pthread_mutex_unlock(&sm->mu);
    char ps[32], rs[32];
    srv_size_format(p.total, ps, sizeof ps);
    srv_size_format(e->rss, rs, sizeof rs);
    log_info("serve: '%s' loaded in %.0f ms: predicted %s, RSS grew %s", canon, secs * 1e3, ps, rs);
}

/* From a file: an admin's GGUF under a model directory. 0 with real filled, or -1 (t failed). */
static int create_file_source(srv_http *h, struct http_mtask *t, char *real, size_t cap) {
    if (!t->admin)
        return task_fail(t, 403, "admin_required",
                         "Creating a model from a file is an admin action: send the server's admin "
                         "token in the %s "
                         "header, or name a model of the store in 'from'.",
                         SRV_ADMIN_HEADER);
    char buf[PATH_MAX];
    struct stat st;
    if (stat(t->create.from, &st) || !S_ISREG(st.st_mode) || !realpath(t->create.from, buf))
        return task_fail(t, 404, "model_not_found",
                         "'from': no such model in the store, and no such file: '%s'",
                         t->create.from);
    for (int i = 0; i < h->n_model_dirs; i++)
        if (srv_path_under(buf, h->model_dirs[i])) {
            snprintf(real, cap, "%s", buf);
            return 0;
        }
    return task_fail(t, 403, "path_not_allowed",
                     "The file is not under a model directory of this server (--model-dir).");
}

/* One progress object: kept for the final answer, and when streaming handed to the reader now. */
static void emit(struct http_mtask *t, json_t *o) {
    if (t->streaming && o) {
        char *l = json_dumps(o, JSON_COMPACT);
        struct http_store *sm = t->h->sm;
        pthread_mutex_lock(&sm->mu);
        if (l) {
            size_t n = strlen(l);
            t->out = xrealloc(t->out, t->out_len + n + 2);
            memcpy(t->out + t->out_len, l, n);
            t->out_len += n;
            t->out[t->out_len++] = '\n';
        }
        if (t->reader_suspended) {
            t->reader_suspended = false;
            MHD_resume_connection(t->conn);
        }
        pthread_mutex_unlock(&sm->mu);
        free(l);
    }
    if (o) json_array_append_new(t->lines, o);
}

static void line(struct http_mtask *t, const char *status) {
    emit(t, json_pack("{s:s}", "status", status));
}

/* store_import's progress as Ollama's pull/create progress lines, at most every 100 ms. */
static void import_progress(void *ud, const char *phase, uint64_t done, uint64_t total) {
    struct http_mtask *t = ud;
    double now = now_s();
    if (done < total && now - t->last_progress < 0.1) return;
    t->last_progress = now;
    emit(t, json_pack("{s:s, s:I, s:I}", "status", phase, "total", (json_int_t)total, "completed",
                      (json_int_t)done));
}

static void run_create(srv_http *h, struct http_mtask *t) {
    srv_create_req *c = &t->create;
    he_error err = {0};
    if (store_name_check(c->model, &err)) {
        task_fail(t, 400, "invalid_value", "Invalid 'model': %s", err.msg);
        return;
    }
    store *s = store_open(NULL, &err);
    if (!s) {
        task_fail(t, 500, "server_error", "%s", err.msg);
        return;
    }
    char src[STORE_NAME_MAX + 16], real[PATH_MAX];
    bool from_store = store_canonical(c->from, src, sizeof src, NULL) == 0;
    if (!from_store) {
        if (create_file_source(h, t, real, sizeof real)) goto out;
        line(t, "parsing GGUF");
        store_import_opts io = {.progress = import_progress, .progress_ud = t};
        if (store_import(s, real, c->model, &io, NULL, 0, &err)) {
            task_fail(t, 422, "create_failed", "import failed: %s", err.msg);
            goto out;
        }
        line(t, "writing model");
        snprintf(src, sizeof src, "%s", c->model);
    } else {
        line(t, "using existing layers");
    }
    char *tmpl = NULL, *params = NULL;
    if (store_overrides(src, &tmpl, &params, &err)) {
        task_fail(t, 422, "create_failed", "%s", err.msg);
        goto out;
    }
    srv_req_error re;
    bool failed;
    char *merged = srv_create_params(params, c, STORE_MANIFEST_MAX, &failed, &re);
    free(params);
    free(tmpl);
    if (failed) {
        task_fail(t, re.status, re.code, "%s", re.message);
        goto out;
    }
    if (c->tmpl) line(t, "creating template layer");
    if (c->system) line(t, "creating system layer");
    if (c->parameters) line(t, "creating parameters layer");
    if (c->messages) line(t, "creating messages layer");
    if (from_store || c->tmpl || merged) {
        line(t, "writing manifest");
        int rc = store_derive(s, src, c->model, c->tmpl, merged, &err);
        free(merged);
        if (rc) {
            task_fail(t, 422, "create_failed", "%s", err.msg);
            goto out;
        }
    } else {
        free(merged);
    }
    /* a loaded model of that name serves the old manifest: unload it (the next request loads
     * the new one) */
    if (h->sm) {
        pthread_mutex_lock(&h->sm->mu);
        resident *e = res_find(h->sm, c->model);
        bool drop = e && e->store;
        if (drop) res_drop(h->sm, c->model);
        pthread_mutex_unlock(&h->sm->mu);
        if (drop) srv_registry_remove(h->reg, c->model);
    }
    line(t, "success");
    log_info("serve: created '%s' from %s", c->model, from_store ? src : "a file");
out:
    store_close(s);
}

static void run_copy_delete(srv_http *h, struct http_mtask *t) {
    he_error err = {0};
    char src[STORE_NAME_MAX + 16];
    if (store_canonical(t->a, src, sizeof src, NULL)) {
        task_fail(t, 404, "model_not_found", "model '%s' not found", t->a);
        return;
    }
    store *s = store_open(NULL, &err);
    if (!s) {
        task_fail(t, 500, "server_error", "%s", err.msg);
        return;
    }
    if (t->kind == T_COPY) {
        if (store_copy(s, src, t->b, &err))
            task_fail(t, err.code == HE_INVALID ? 400 : 500, "copy_failed", "copy failed: %s",
                      err.msg);
        else
            log_info("serve: copied '%s' to '%s'", src, t->b);
    } else {
        if (h->sm) {
            pthread_mutex_lock(&h->sm->mu);
            res_drop(h->sm, src);
            pthread_mutex_unlock(&h->sm->mu);
        }
        srv_registry_remove(h->reg, src); /* running requests finish on it */
        int n = 0;
        if (store_remove(s, src, &n, &err))
            task_fail(t, 500, "delete_failed", "delete failed: %s", err.msg);
        else
            log_info("serve: deleted '%s' (%d blobs freed)", src, n);
    }
    store_close(s);
}

static void *manager_main(void *arg) {
    srv_http *h = arg;
    struct http_store *sm = h->sm;
    pthread_mutex_lock(&sm->mu);
    for (;;) {
        if (!sm->head && !sm->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 250 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&sm->cv, &sm->mu, &ts);
        }
        struct http_mtask *t = sm->head;
        if (!t) {
            if (sm->stopping) break;
            pthread_mutex_unlock(&sm->mu);
            reap(h);
            pthread_mutex_lock(&sm->mu);
            continue;
        }
        sm->head = t->next;
        if (!sm->head) sm->tail = NULL;
        sm->queued--;
        if (sm->stopping) {
            task_fail(t, 503, "server_error", "The server is stopping.");
        } else if (!t->abandoned) {
            pthread_mutex_unlock(&sm->mu);
            if (t->kind == T_LOAD)
                run_load(h, t);
            else if (t->kind == T_CREATE)
                run_create(h, t);
            else
                run_copy_delete(h, t);
            pthread_mutex_lock(&sm->mu);
        }
        t->done = true;
        if (t->streaming) {
            /* an error after the stream began is its last line, as Ollama's */
            if (t->status) {
                pthread_mutex_unlock(&sm->mu);
                emit(t, json_pack("{s:s}", "error", t->msg));
                pthread_mutex_lock(&sm->mu);
            }
            if (t->reader_suspended) {
                t->reader_suspended = false;
                MHD_resume_connection(t->conn);
            }
            if (--t->refs == 0) task_free(t);
        } else if (t->abandoned) {
            task_free(t);
        } else {
            MHD_resume_connection(t->conn);
        }
    }
    pthread_mutex_unlock(&sm->mu);
    return NULL;
}

static ssize_t create_reader(void *cls, uint64_t pos, char *buf, size_t max);
static void create_reader_free(void *cls);

/* Queues t and parks the connection (the manager resumes it); a streamed create answers at
 * once with a response that the manager's progress lines feed. */
static enum MHD_Result enqueue(http_req *q, struct http_mtask *t) {
    struct http_store *sm = q->h->sm;
    t->h = q->h;
    t->conn = q->conn;
    t->admin = q->admin;
    pthread_mutex_lock(&sm->mu);
    if (!sm->started || sm->stopping || sm->queued >= MANAGE_MAX_QUEUE) {
        pthread_mutex_unlock(&sm->mu);
        task_free(t);
        return http_error(q, 429, NULL, "rate_limit_exceeded",
                          "Too many model operations are waiting; retry shortly.");
    }
    if (t->streaming) t->refs = 2; /* the manager's and the response's */
    if (sm->tail)
        sm->tail->next = t;
    else
        sm->head = t;
    sm->tail = t;
    sm->queued++;
    if (!t->streaming) {
        q->mtask = t;
        MHD_suspend_connection(q->conn); /* under mu: the manager cannot resume it before this */
    }
    pthread_cond_signal(&sm->cv);
    pthread_mutex_unlock(&sm->mu);
    if (t->streaming)
        return http_respond_stream(q, create_reader, t, create_reader_free, "application/x-ndjson");
    return MHD_YES;
}

static ssize_t create_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    struct http_mtask *t = cls;
    struct http_store *sm = t->h->sm;
    pthread_mutex_lock(&sm->mu);
    ssize_t r = 0;
    if (t->out_off < t->out_len) {
        size_t n = t->out_len - t->out_off;
        if (n > max) n = max;
        memcpy(buf, t->out + t->out_off, n);
        t->out_off += n;
        r = (ssize_t)n;
    } else if (t->done) {
        r = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* nothing yet: park until the manager has a line (returning 0 unparked would spin) */
        t->reader_suspended = true;
        MHD_suspend_connection(t->conn);
    }
    pthread_mutex_unlock(&sm->mu);
    return r;
}

static void create_reader_free(void *cls) {
    struct http_mtask *t = cls;
    struct http_store *sm = t->h->sm;
    pthread_mutex_lock(&sm->mu);
    t->reader_suspended = false; /* the connection is gone: never resume it */
    t->abandoned = true;
    bool last = --t->refs == 0;
    pthread_mutex_unlock(&sm->mu);
    if (last) task_free(t);
}

static bool store_load(http_req *q, const char *name, srv_api api,
                       enum MHD_Result (*rerun)(http_req *, int), int arg, enum MHD_Result *res) {
    if (!q->h->sm) return false;
    char canon[STORE_NAME_MAX + 16];
    if (store_canonical(name, canon, sizeof canon, NULL)) return false;
    struct http_mtask *t = xcalloc(1, sizeof *t);
    t->kind = T_LOAD;
    t->api = api;
    t->rerun = rerun;
    t->rerun_arg = arg;
    t->a = xstrdup(canon);
    *res = enqueue(q, t);
    return true;
}

bool http_store_load(http_req *q, const char *name, srv_api api, enum MHD_Result *res) {
    return store_load(q, name, api, NULL, 0, res);
}

bool http_store_load_then(http_req *q, const char *name, enum MHD_Result (*rerun)(http_req *, int),
                          int arg, enum MHD_Result *res) {
    return store_load(q, name, 0, rerun, arg, res);
}

enum MHD_Result route_manage_resume(http_req *q) {
    struct http_mtask *t = q->mtask;
    struct http_store *sm = q->h->sm;
    pthread_mutex_lock(&sm->mu);
    bool done = t->done;
    if (!done) MHD_suspend_connection(q->conn); /* spurious: keep waiting */
    pthread_mutex_unlock(&sm->mu);
    if (!done) return MHD_YES;
    q->mtask = NULL;
    enum MHD_Result r;
    if (t->status) {
        r = http_error(q, t->status, NULL, t->code, "%s", t->msg);
    } else if (t->kind == T_LOAD) {
        q->load_seconds = t->load_s;   /* Ollama's load_duration */
        /* loaded: the request runs as if it had been */
        r = t->rerun ? t->rerun(q, t->rerun_arg) : route_generate(q, t->api);
    } else if (t->kind == T_CREATE) {
        r = http_respond_json(q, 200, json_pack("{s:s}", "status", "success"));
    } else {
        r = http_respond_json(q, 200, json_object());
    }
    task_free(t);
    return r;
}

void route_manage_abandon(http_req *q) {
    struct http_mtask *t = q->mtask;
    if (!t) return;
    q->mtask = NULL;
    pthread_mutex_lock(&q->h->sm->mu);
    bool done = t->done;
    if (!done) t->abandoned = true;
    pthread_mutex_unlock(&q->h->sm->mu);
    if (done) task_free(t);
}

/* ---- management routes ---- */

static enum MHD_Result no_store_mode(http_req *q) {
    return http_error(q, 400, NULL, "store_mode_required",
                      "Model management needs store mode: start `hearth serve` without a model (or "
                      "with --store).");
}

enum MHD_Result route_create(http_req *q) {
    if (!q->h->sm) return no_store_mode(q);
    srv_req_error e;
    struct http_mtask *t = xcalloc(1, sizeof *t);
    if (srv_create_parse(q->body ? q->body : "", q->len, &t->create, &e)) {
        task_free(t);
        return http_req_error(q, &e);
    }
    t->kind = T_CREATE;
    t->lines = json_array();
    t->streaming = t->create.stream;
    return enqueue(q, t);
}

static const char *name_field(json_t *root, const char *a, const char *b) {
    const char *v = json_string_value(json_object_get(root, a));
    return v ? v : b ? json_string_value(json_object_get(root, b)) : NULL;
}

enum MHD_Result route_copy_delete(http_req *q, bool del) {
    if (!q->h->sm) return no_store_mode(q);
    srv_req_error e;
    json_t *root = srv_json_parse_object(q->body ? q->body : "", q->len, &e);
    if (!root) return http_req_error(q, &e);
    const char *a = del ? name_field(root, "model", "name") : name_field(root, "source", NULL);
    const char *b = del ? NULL : name_field(root, "destination", NULL);
    enum MHD_Result r;
    he_error err;
    if (!a || (!del && !b)) {
        const char *p = !a ? (del ? "model" : "source") : "destination";
        r = http_error(q, 400, p, "missing_required_parameter", "Missing required parameter: '%s'.",
                       p);
    } else if (!del && store_name_check(b, &err)) {
        r = http_error(q, 400, "destination", "invalid_value", "Invalid 'destination': %s",
                       err.msg);
    } else {
        struct http_mtask *t = xcalloc(1, sizeof *t);
        t->kind = del ? T_DELETE : T_COPY;
        t->a = xstrdup(a);
        t->b = b ? xstrdup(b) : NULL;
        r = enqueue(q, t);
    }
    json_decref(root);
    return r;
}

enum MHD_Result route_pull_push(http_req *q, bool push) {
    return http_error(
        q, 501, NULL, "not_supported",
        push
            ? "hearth never uploads models: copy the GGUF file yourself (`hearth export NAME DIR` "
              "writes it)."
            : "hearth never downloads models: get the GGUF file yourself, then import it on the "
              "server "
              "with `hearth import FILE --name NAME` (or POST /api/create with 'from' a file path, "
              "as an admin).");
}

/* ---- describing models: /api/tags, /api/ps, /api/show ---- */

void http_store_list_models(srv_http *h, json_t *data) {
    if (!h->sm) return;
    he_error err;
    store *s = store_open(NULL, &err);
    char **list = NULL;
    int nl = s ? store_list(s, &list, &err) : 0;
    for (int i = 0; i < nl; i++) {
        bool seen = false;
        for (size_t k = 0; k < json_array_size(data) && !seen; k++)
            seen =
                !strcmp(json_string_value(json_object_get(json_array_get(data, k), "id")), list[i]);
        store_manifest m;
        struct tm tm = {0};
        int64_t created = 0;
        if (!seen && store_manifest_read(s, list[i], &m, &err) == 0) {
            if (strptime(m.imported_at, "%Y-%m-%dT%H:%M:%SZ", &tm)) created = (int64_t)timegm(&tm);
            json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", list[i], "object",
                                                  "model", "created", (json_int_t)created,
                                                  "owned_by", "hearth"));
        }
        free(list[i]);
    }
    free(list);
    store_close(s);
}

/* An identity digest for a model file that is not in the store (not the content hash, which
 * would mean reading gigabytes): SHA-256 of "path:size:mtime", so it changes when the file
 * behind a name changes. The path is hashed where it lies, so a path of any length is hashed
 * whole. */
static void file_digest(const char *path, const struct stat *st, char out[65]) {
    char tail[96];
    int n = snprintf(tail, sizeof tail, ":%lld:%lld.%09ld", (long long)st->st_size,
                     (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    size_t tn = n < 0 ? 0 : (size_t)n < sizeof tail ? (size_t)n : sizeof tail - 1;
    unsigned char d[SHA256_DIGEST_LENGTH];
    memset(d, 0, sizeof d);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(c, path, strlen(path)) || !EVP_DigestUpdate(c, tail, tn) ||
        !EVP_DigestFinal_ex(c, d, NULL))
        memset(d, 0, sizeof d);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + i * 2, 3, "%02x", d[i]);
}

/* What a model is, loaded or not. */
typedef struct {
    char name[STORE_NAME_MAX + 16]; /* as listed */
    char file[PATH_MAX];            /* the weights (never shown) */
    char digest[65];
    char modified[40];
    uint64_t size;
    bool stored;
    store_info info;
} model_desc;

static void iso_time(time_t t, char *out, size_t cap) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Fills d for a store name (canonical) or a served model's effective config. 0 or -1. */
static int describe(const char *store_name, srv_model *m, model_desc *d) {
    memset(d, 0, sizeof *d);
    he_error err;
    const char *req = m ? srv_model_config_requested(m)->path : store_name;
    store_manifest man;
    char canon[STORE_NAME_MAX + 16];
    if (req && store_canonical(req, canon, sizeof canon, &man) == 0) {
        struct stat st;
        if (!(m && stat(req, &st) == 0)) { /* a file of that name wins, as store_resolve does */
            d->stored = true;
            snprintf(d->name, sizeof d->name, "%s", canon);
            if (store_resolve(canon, d->file, sizeof d->file, false, &err)) return -1;
            memcpy(d->digest, man.weights.digest + 7, 64); /* a valid digest: "sha256-" + 64 hex */
            d->digest[64] = 0;
            snprintf(d->modified, sizeof d->modified, "%s", man.imported_at);
            d->size = man.weights.size;
        }
    }
    if (!d->stored) {
        if (!m) return -1;
        snprintf(d->file, sizeof d->file, "%s", srv_model_config_of(m)->path);
        struct stat st;
        memset(&st, 0, sizeof st);
        stat(d->file, &st);
        file_digest(d->file, &st, d->digest);
        iso_time(st.st_mtime, d->modified, sizeof d->modified);
        d->size = (uint64_t)st.st_size;
    }
    if (m) snprintf(d->name, sizeof d->name, "%s", srv_model_name(m));
    if (store_info_read(d->file, &d->info, &err)) return -1;
    return 0;
}

static json_t *details_json(const model_desc *d) {
    return json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "parent_model", "", "format", "gguf",
                     "family", d->info.arch, "families", d->info.arch, "parameter_size",
                     d->info.params, "quantization_level", d->info.quant);
}

static json_t *tag_json(const model_desc *d) {
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", d->name, "model", d->name,
                     "modified_at", d->modified, "size", (json_int_t)d->size, "digest", d->digest,
                     "details", details_json(d));
}

enum MHD_Result route_tags(http_req *q, bool ps) {
    srv_http *h = q->h;
    int n = 0;
    char **names = srv_registry_names(h->reg, &n);
    json_t *models = json_array(), *seen = json_object();
    time_t now = time(NULL);
    for (int i = 0; i < n; i++) {
        srv_model *m = srv_registry_acquire(h->reg, names[i]);
        if (!m) continue;
        model_desc d;
        if (describe(NULL, m, &d)) {
            srv_model_release(m);
            continue;
        }
        json_t *o = tag_json(&d);
        json_object_set_new(seen, d.name, json_true());
        if (ps) {
            json_object_del(o, "modified_at");
            uint64_t size = d.size;
            char exp[40] = "2318-01-01T00:00:00Z"; /* pinned, or keep_alive -1 */
            if (h->sm) {
                pthread_mutex_lock(&h->sm->mu);
                resident *e = res_of(h->sm, m);
                size = e->pred.total;
                if (e->store && e->keep_alive >= 0) {
                    double idle = srv_model_idle_seconds(m);
                    double left = e->keep_alive - (idle > 0 ? idle : 0);
                    iso_time(now + (time_t)(left > 0 ? left + 0.5 : 0), exp, sizeof exp);
                }
                pthread_mutex_unlock(&h->sm->mu);
            }
            json_object_set_new(o, "size", json_integer((json_int_t)size));
            json_object_set_new(o, "expires_at", json_string(exp));
            json_object_set_new(o, "size_vram", json_integer(0));
            json_object_set_new(o, "context_length", json_integer(srv_model_n_ctx(m)));
        }
        srv_model_release(m);
        json_array_append_new(models, o);
    }
    srv_names_free(names, n);
    if (!ps && h->sm) { /* every stored model, loaded or not */
        he_error err;
        store *s = store_open(NULL, &err);
        char **list = NULL;
        int nl = s ? store_list(s, &list, &err) : 0;
        for (int i = 0; i < nl; i++) {
            model_desc d;
            if (!json_object_get(seen, list[i]) && describe(list[i], NULL, &d) == 0)
                json_array_append_new(models, tag_json(&d));
            free(list[i]);
        }
        free(list);
        store_close(s);
    }
    json_decref(seen);
    return http_respond_json(q, 200, json_pack("{s:o}", "models", models));
}

/* model_info as Ollama fills it: the GGUF's scalar metadata under its own keys, arrays as null
 * (Ollama's non-verbose form), long strings (the chat template) left out. */
static json_t *model_info(gguf_file *f, const store_info *info) {
    json_t *o = json_object();
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_str k = gguf_key(f, i);
        if (k.len == 0 || k.len > 200 || memchr(k.ptr, 0, k.len)) continue;
        char key[208];
        memcpy(key, k.ptr, k.len);
        key[k.len] = 0;
        if (!strcmp(key, "tokenizer.chat_template")) continue;
        gguf_type ty = gguf_kv_type(f, i);
        he_error e;
        json_t *v = NULL;
        if (ty == GGUF_TYPE_ARRAY) {
            v = json_null();
        } else if (ty == GGUF_TYPE_STRING) {
            gguf_str s;
            if (gguf_get_str(f, i, &s, &e) == 0 && s.len <= 1024) v = http_json_text(s.ptr, s.len);
        } else if (ty == GGUF_TYPE_FLOAT32 || ty == GGUF_TYPE_FLOAT64) {
            double d;
            if (gguf_get_f64(f, i, &d, &e) == 0) v = json_real(d);
        } else if (ty == GGUF_TYPE_BOOL) {
            bool b;
            if (gguf_get_bool(f, i, &b, &e) == 0) v = json_boolean(b);
        } else if (ty == GGUF_TYPE_UINT64) {
            uint64_t u;
            if (gguf_get_u64(f, i, &u, &e) == 0)
                v = json_integer((json_int_t)(u > INT64_MAX ? INT64_MAX : u));
        } else {
            int64_t x;
            if (gguf_get_i64(f, i, &x, &e) == 0) v = json_integer(x);
        }
        if (v) json_object_set_new(o, key, v);
    }
    if (!json_object_get(o, "general.parameter_count"))
        json_object_set_new(o, "general.parameter_count", json_integer((json_int_t)info->n_params));
    return o;
}

/* The capabilities a model's template gives it: "completion" always; "tools" when the template
 * writes tool calls in a known family or reads `tools`; "thinking" when it has a reasoning
 * block (chat/toolcall.h). */
static json_t *capabilities(const char *tmpl, bool embedder) {
    if (embedder) return json_pack("[s]", "embedding"); /* Ollama's name; clients pick by it */
    json_t *c = json_pack("[s]", "completion");
    if (!tmpl || !*tmpl) return c;
    tc_family f = tc_detect(tmpl);
    if (f != TC_GENERIC || strstr(tmpl, "tools")) json_array_append_new(c, json_string("tools"));
    tc_reasoning r;
    tc_reasoning_detect(f, tmpl, NULL, &r);
    if (r.reasoning) json_array_append_new(c, json_string("thinking"));
    return c;
}

/* An embedding model or reranker (served by model/embed.h, not generation): an encoder
 * architecture, or a decoder whose file gives a pooling type. Read from the file so that a
 * stored model that is not loaded answers the same as a loaded one. */
static bool file_is_embedder(const gguf_file *f) {
    he_error err = {0};
    gguf_str a;
    if (gguf_find_str(f, "general.architecture", &a, &err) != 1) return false;
    if ((a.len == 4 && !memcmp(a.ptr, "bert", 4)) || (a.len == 10 && !memcmp(a.ptr, "nomic-bert", 10)))
        return true;
    char key[96];
    snprintf(key, sizeof key, "%.*s.pooling_type", (int)(a.len < 64 ? a.len : 64), a.ptr);
    return gguf_find_key(f, key) >= 0;
}

enum MHD_Result route_show(http_req *q) {
    srv_req_error e;
    json_t *root = srv_json_parse_object(q->body ? q->body : "", q->len, &e);
    if (!root) return http_req_error(q, &e);
    const char *name = name_field(root, "model", "name");
    if (!name) {
        json_decref(root);
        return http_error(q, 400, "model", "missing_required_parameter",
                          "Missing required parameter: 'model'.");
    }
    srv_model *m = http_acquire(q->h, name);
    char canon[STORE_NAME_MAX + 16];
    model_desc d;
    bool stored = !m && q->h->sm && store_canonical(name, canon, sizeof canon, NULL) == 0;
    if ((!m && !stored) || describe(stored ? canon : NULL, m, &d)) {
        srv_model_release(m);
        enum MHD_Result r =
            http_error(q, 404, "model", "model_not_found", "model '%s' not found", name);
        json_decref(root);
        return r;
    }
    json_decref(root);
    /* the effective parameters: the served config, or for a model not loaded the server's
     * defaults with the store's params applied */
    he_error err = {0};
    char *tmpl = NULL, *params = NULL;
    srv_model_config eff = q->h->sm ? q->h->sm->defaults : srv_model_config_default();
    int32_t n_ctx;
    bool own_system = false;
    if (m) {
        eff = *srv_model_config_of(m);
        n_ctx = srv_model_n_ctx(m);
        if (eff.chat_template) tmpl = xstrdup(eff.chat_template);
    } else {
        if (store_overrides(canon, &tmpl, &params, &err) ||
            (params && srv_config_apply_params(&eff, params, canon, &err))) {
            free(tmpl);
            free(params);
            free((char *)eff.system_prompt);
            return http_error(q, 422, "model", "invalid_model", "model '%s': %s", name, err.msg);
        }
        own_system = true;
        n_ctx = eff.n_ctx ? eff.n_ctx
                : d.info.context_length > 0 && d.info.context_length < 4096
                    ? (int32_t)d.info.context_length
                    : 4096;
    }
    gguf_file *f = gguf_open(d.file, &err);
    if (!f) {
        srv_model_release(m);
        free(tmpl);
        free(params);
        if (own_system) free((char *)eff.system_prompt);
        return http_error(q, 422, "model", "invalid_model", "model '%s' cannot be read", name);
    }
    if (!tmpl) {
        gguf_str s;
        if (gguf_find_str(f, "tokenizer.chat_template", &s, &err) == 1)
            tmpl = xstrndup(s.ptr, s.len);
    }
    char ps[256];
    snprintf(ps, sizeof ps, "temperature %g\ntop_k %d\ntop_p %g\nmin_p %g\nnum_ctx %d",
             (double)eff.sampling.temperature, eff.sampling.top_k, (double)eff.sampling.top_p,
             (double)eff.sampling.min_p, n_ctx);
    /* No file path (any key holder may ask; SECURITY.md): the Modelfile names the model. */
    size_t mfcap = strlen(ps) * 2 + strlen(d.name) + 128;
    char *mf = xmalloc(mfcap);
    size_t len = (size_t)snprintf(mf, mfcap, "# Modelfile generated by hearth\nFROM %s\n", d.name);
    for (const char *p = ps; *p;) {
        size_t l = strcspn(p, "\n");
        len += (size_t)snprintf(mf + len, mfcap - len, "PARAMETER %.*s\n", (int)l, p);
        p += l + (p[l] == '\n');
    }
    json_t *o = json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:s}", "modelfile",
                          http_json_text(mf, len), "parameters", ps, "template", tmpl ? tmpl : "",
                          "details", details_json(&d), "model_info", model_info(f, &d.info),
                          "capabilities", capabilities(tmpl, m ? srv_model_kind_of(m) != SRV_MODEL_GENERATOR : file_is_embedder(f)), "modified_at", d.modified);
    free(mf);
    if (eff.system_prompt) json_object_set_new(o, "system", json_string(eff.system_prompt));
    if (d.info.license[0]) json_object_set_new(o, "license", json_string(d.info.license));
    if (params) { /* messages a create stored (shown; see docs/SERVER.md) */
        json_t *pj = json_loads(params, 0, NULL);
        json_t *msgs = json_object_get(pj, "messages");
        if (json_is_array(msgs)) json_object_set(o, "messages", msgs);
        json_decref(pj);
    }
    gguf_close(f);
    free(tmpl);
    free(params);
    if (own_system) free((char *)eff.system_prompt);
    srv_model_release(m);
    return http_respond_json(q, 200, o);
}
