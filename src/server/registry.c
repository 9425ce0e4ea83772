/* registry.c — served names -> srv_models, with counted references and atomic replacement.
 *
 * The registry holds one reference per entry. acquire takes another under the registry lock,
 * so a concurrent put (hot swap) can only drop the registry's own reference after the pointer
 * is replaced: a request that acquired the old model keeps it alive, and the old model is
 * freed (its thread joined, context and weights unmapped) by whoever releases it last.
 * Swaps are serialized by their own lock so two swaps of one name don't race on the config. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "server/sched.h"

typedef struct {
    char *name;
    srv_model *m;
} reg_entry;

struct srv_registry {
    pthread_mutex_t mu, swap_mu;
    reg_entry *e;
    int n, cap;
    srv_smoke_fn smoke;
    void *smoke_user;
};

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
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->swap_mu);
    free(r);
}

void srv_registry_put(srv_registry *r, srv_model *m) {
    const char *name = srv_model_name(m);
    srv_model *old = NULL;
    pthread_mutex_lock(&r->mu);
    int i = 0;
    while (i < r->n && strcmp(r->e[i].name, name)) i++;
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
    for (int i = 0; i < r->n; i++) names[i] = xstrdup(r->e[i].name);
    *n = r->n;
    pthread_mutex_unlock(&r->mu);
    return names;
}

void srv_names_free(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
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

int srv_registry_swap(srv_registry *r, const char *name, const char *new_path, he_error *err) {
    if (!new_path || !*new_path) return he_fail(err, HE_INVALID, "swap: no model path");
    pthread_mutex_lock(&r->swap_mu);
    srv_model *old = srv_registry_acquire(r, name);
    if (!old) {
        pthread_mutex_unlock(&r->swap_mu);
        return he_fail(err, HE_INVALID, "swap: '%s' is not a served name", name ? name : "(null)");
    }
    srv_model_config cfg = *srv_model_config_of(old);
    cfg.path = new_path;
    srv_model *m = start_checked(r, &cfg, err);
    int rc = 0;
    if (m) {
        srv_registry_put(r, m);
        log_info("swap: '%s' now serves %s (was %s)", name, new_path, srv_model_config_of(old)->path);
    } else {
        he_prefix(err, "swap '%s' to %s (the old model stays)", name, new_path);
        rc = -1;
    }
    srv_model_release(old);
    pthread_mutex_unlock(&r->swap_mu);
    return rc;
}
