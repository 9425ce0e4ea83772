/* registry.c — served names -> srv_models, with counted references and atomic replacement.
 *
 * The registry holds one reference per entry. acquire takes another under the registry lock,
 * so a concurrent put (hot swap) can only drop the registry's own reference after the pointer
 * is replaced: a request that acquired the old model keeps it alive, and the old model is
 * freed (its thread joined, context and weights unmapped) by whoever releases it last.
 * Swaps are serialized by their own lock so two swaps of one name don't race on the config and
 * at most one extra model is loading at a time; the registry lock (mu) is never held during a
 * load, only for the pointer switch, so lookups (every request) never wait for one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/log.h"
#include "server/sched.h"

typedef struct {
    char *name;
    srv_model *m;
} reg_entry;

typedef struct {
    char *name, *small, *large;
    int32_t long_prompt;
} reg_route;

struct srv_registry {
    pthread_mutex_t mu, swap_mu;
    reg_entry *e;
    int n, cap;
    srv_smoke_fn smoke;
    void *smoke_user;
    reg_route *routes; /* routing names (under mu); replaced whole by srv_registry_set_routes */
    int n_routes;
};

static void routes_free(reg_route *rt, int n) {
    for (int i = 0; i < n; i++) {
        free(rt[i].name);
        free(rt[i].small);
        free(rt[i].large);
    }
    free(rt);
}

void srv_registry_set_routes(srv_registry *r, const srv_model_config *cfgs, int n) {
    int k = 0;
    reg_route *rt = xcalloc((size_t)n + 1, sizeof *rt);
    for (int i = 0; i < n; i++) {
        if (!cfgs[i].route_small || !cfgs[i].route_large) continue;
        rt[k].name = xstrdup(cfgs[i].name);
        rt[k].small = xstrdup(cfgs[i].route_small);
        rt[k].large = xstrdup(cfgs[i].route_large);
        rt[k].long_prompt = cfgs[i].route_long_prompt;
        log_info("serve: route '%s' -> small '%s', large '%s' (long prompt > %d tokens)", rt[k].name, rt[k].small,
                 rt[k].large, rt[k].long_prompt);
        k++;
    }
    pthread_mutex_lock(&r->mu);
    reg_route *old = r->routes;
    int n_old = r->n_routes;
    r->routes = rt;
    r->n_routes = k;
    pthread_mutex_unlock(&r->mu);
    routes_free(old, n_old);
}

int srv_registry_route(srv_registry *r, const char *name, char *small, char *large, size_t cap,
                       int32_t *long_prompt) {
    int found = 0;
    if (!name) return 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_routes && !found; i++)
        if (!strcmp(r->routes[i].name, name)) {
            snprintf(small, cap, "%s", r->routes[i].small);
            snprintf(large, cap, "%s", r->routes[i].large);
            *long_prompt = r->routes[i].long_prompt;
            found = 1;
        }
    pthread_mutex_unlock(&r->mu);
    return found;
}

char **srv_registry_route_names(srv_registry *r, int *n) {
    pthread_mutex_lock(&r->mu);
    char **names = xcalloc((size_t)r->n_routes + 1, sizeof *names);
    for (int i = 0; i < r->n_routes; i++)
        names[i] = xstrdup(r->routes[i].name);
    *n = r->n_routes;
    pthread_mutex_unlock(&r->mu);
    return names;
}

srv_registry *srv_registry_new(void) {
    srv_registry *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->swap_mu, NULL);
    return r;
}

void srv_registry_free(srv_registry *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        srv_model_release(r->e[i].m);
        free(r->e[i].name);
    }
    free(r->e);
    routes_free(r->routes, r->n_routes);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->swap_mu);
    free(r);
}

void srv_registry_put(srv_registry *r, srv_model *m) {
    const char *name = srv_model_name(m);
    srv_model *old = NULL;
    pthread_mutex_lock(&r->mu);
    int i = 0;
    while (i < r->n && strcmp(r->e[i].name, name))
        i++;
    if (i < r->n) {
        old = r->e[i].m;
        r->e[i].m = m;
    } else {
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 4;
            r->e = xrealloc(r->e, (size_t)r->cap * sizeof *r->e);
        }
        r->e[r->n].name = xstrdup(name);
        r->e[r->n].m = m;
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
    /* outside the lock: the last release joins the old model's thread */
    srv_model_release(old);
}

srv_model *srv_registry_acquire(srv_registry *r, const char *name) {
    srv_model *m = NULL;
    if (!name) return NULL;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->e[i].name, name)) {
            m = srv_model_retain(r->e[i].m);
            break;
        }
    pthread_mutex_unlock(&r->mu);
    return m;
}

char **srv_registry_names(srv_registry *r, int *n) {
    pthread_mutex_lock(&r->mu);
    char **names = xcalloc((size_t)r->n + 1, sizeof *names);
    for (int i = 0; i < r->n; i++)
        names[i] = xstrdup(r->e[i].name);
    *n = r->n;
    pthread_mutex_unlock(&r->mu);
    return names;
}

void srv_names_free(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void srv_registry_set_smoke(srv_registry *r, srv_smoke_fn fn, void *user) {
    pthread_mutex_lock(&r->mu);
    r->smoke = fn;
    r->smoke_user = user;
    pthread_mutex_unlock(&r->mu);
}

/* Starts cfg and runs the smoke hook; the new model (one reference) or NULL. */
static srv_model *start_checked(srv_registry *r, const srv_model_config *cfg, he_error *err) {
    srv_model *m = srv_model_start(cfg, err);
    if (!m) return NULL;
    pthread_mutex_lock(&r->mu);
    srv_smoke_fn fn = r->smoke;
    void *user = r->smoke_user;
    pthread_mutex_unlock(&r->mu);
    if (fn && fn(m, user, err)) {
        he_prefix(err, "serve '%s': smoke test", srv_model_name(m));
        srv_model_release(m);
        return NULL;
    }
    return m;
}

int srv_registry_start_put(srv_registry *r, const srv_model_config *cfg, he_error *err) {
    srv_model *m = start_checked(r, cfg, err);
    if (!m) return -1;
    srv_registry_put(r, m);
    return 0;
}

/* Test hook: HEARTH_TEST_LOAD_DELAY_MS=N makes every swap's load take N ms longer, so tests can
 * check that a slow load blocks nothing but its own request (docs/SERVER.md). */
static void test_load_delay(void) {
    const char *v = getenv("HEARTH_TEST_LOAD_DELAY_MS");
    long ms = v ? strtol(v, NULL, 10) : 0;
    if (ms <= 0) return;
    if (ms > 60000) ms = 60000;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

int srv_registry_swap(srv_registry *r, const char *name, const char *new_path, he_error *err) {
    if (!new_path || !*new_path) return he_fail(err, HE_INVALID, "swap: no model path");
    pthread_mutex_lock(&r->swap_mu);
    srv_model *old = srv_registry_acquire(r, name);
    if (!old) {
        pthread_mutex_unlock(&r->swap_mu);
        return he_fail(err, HE_INVALID, "swap: '%s' is not a served name", name ? name : "(null)");
    }
    srv_model_config cfg = *srv_model_config_requested(old);
    cfg.path = new_path;
    test_load_delay();
    srv_model *m = start_checked(r, &cfg, err);
    int rc = 0;
    if (m) {
        srv_registry_put(r, m);
        char ep[LOG_ESC_CAP]; /* the path may come from a request (/admin/swap) */
        log_info("swap: '%s' now serves %s (was %s)", name, log_esc(new_path, ep, sizeof ep),
                 srv_model_config_of(old)->path);
    } else {
        he_prefix(err, "swap '%s' to %s (the old model stays)", name, new_path);
        rc = -1;
    }
    srv_model_release(old);
    pthread_mutex_unlock(&r->swap_mu);
    return rc;
}

int srv_registry_remove(srv_registry *r, const char *name) {
    srv_model *old = NULL;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->e[i].name, name)) {
            old = r->e[i].m;
            free(r->e[i].name);
            r->e[i] = r->e[--r->n];
            break;
        }
    pthread_mutex_unlock(&r->mu);
    if (!old) return -1;
    log_info("serve: '%s' removed", name);
    srv_model_release(old);
    return 0;
}

static bool str_same(const char *a, const char *b);

/* same adapters (paths) at the same default scales */
static bool same_lora(const srv_model_config *a, const srv_model_config *b) {
    if (a->n_lora != b->n_lora) return false;
    for (int32_t i = 0; i < a->n_lora; i++)
        if (!str_same(a->lora_path[i], b->lora_path[i]) || a->lora_scale[i] != b->lora_scale[i])
            return false;
    return true;
}

static bool str_same(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

bool srv_model_config_same(const srv_model_config *a, const srv_model_config *b) {
    const sample_params *x = &a->sampling, *y = &b->sampling;
    return str_same(a->name, b->name) && str_same(a->path, b->path) &&
           str_same(a->system_prompt, b->system_prompt) && str_same(a->tool_format, b->tool_format) &&
           a->n_ctx == b->n_ctx && a->kv_type == b->kv_type && a->reasoning_budget == b->reasoning_budget &&
           a->n_slots == b->n_slots && a->n_threads == b->n_threads &&
           a->max_queue == b->max_queue && a->n_batch == b->n_batch &&
           a->no_prefix_reuse == b->no_prefix_reuse && a->set == b->set && x->temperature == y->temperature &&
           x->top_k == y->top_k && x->top_p == y->top_p && x->min_p == y->min_p &&
           x->repeat_penalty == y->repeat_penalty && x->repeat_last_n == y->repeat_last_n &&
           x->frequency_penalty == y->frequency_penalty &&
           x->presence_penalty == y->presence_penalty && x->seed == y->seed && same_lora(a, b) &&
           str_same(a->draft, b->draft) && a->draft_max == b->draft_max && a->lookup == b->lookup &&
           a->draft_min_p == b->draft_min_p && a->draft_layers == b->draft_layers;
}

int srv_registry_reload(srv_registry *r, const srv_model_config *cfgs, int n, he_error *err) {
    int failed = 0;
    he_error first = {0}, e;
    pthread_mutex_lock(&r->swap_mu);
    /* names no longer listed */
    int nn;
    char **names = srv_registry_names(r, &nn);
    for (int i = 0; i < nn; i++) {
        bool listed = false;
        for (int k = 0; k < n && !listed; k++)
            listed = cfgs[k].name && !cfgs[k].route_small && !strcmp(cfgs[k].name, names[i]);
        if (!listed) srv_registry_remove(r, names[i]);
    }
    srv_names_free(names, nn);
    for (int k = 0; k < n; k++) {
        if (cfgs[k].route_small) continue; /* a routing name: srv_registry_set_routes below */
        srv_model *cur = srv_registry_acquire(r, cfgs[k].name);
        /* compare against the config as given, not as resolved (n_ctx 0 -> the model's) */
        bool same = cur && srv_model_config_same(srv_model_config_requested(cur), &cfgs[k]);
        srv_model_release(cur);
        if (same) continue;
        if (srv_registry_start_put(r, &cfgs[k], &e)) {
            log_error("reload: %s", e.msg);
            if (!failed++) first = e;
        }
    }
    srv_registry_set_routes(r, cfgs, n);
    pthread_mutex_unlock(&r->swap_mu);
    if (failed) {
        he_fail(err, first.code,
                "reload: %d of %d served names failed (they keep their old model); first: %s",
                failed, n, first.msg);
        return -1;
    }
    return 0;
}
