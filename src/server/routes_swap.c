/* routes_swap.c — POST /admin/swap {"name": ..., "path": ...}: hot-swap the model behind a
 * served name, loaded off the HTTP threads.
 *
 * Who may load what: a store name (the model store already holds it) under the ordinary API-key
 * rules; a file only with the admin credential (X-Hearth-Admin), and only from under a model
 * directory (realpath, then a whole-component prefix check, so neither ".." nor a symlink
 * leads out). A caller that is not admin never learns anything about files: every non-store
 * path gets the same 403 without being looked at, and a failed load is described generically
 * ("not a GGUF model file"), never by the loader's message (which could quote the file:
 * "bad magic 'root'") or a path.
 *
 * How: route_swap validates, queues the swap for the swap worker and suspends the connection
 * (as the generation pump does, routes.c). The worker loads one swap at a time —
 * srv_registry_swap holds the registry's lock only for the pointer switch — then resumes the
 * connection, and MHD calls route_swap_resume to answer. So /health and every other route keep
 * answering however long a load takes, and concurrent swaps queue instead of each taking an
 * HTTP thread. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/log.h"
#include "server/http_internal.h"
#include "server/websafe.h"
#include "store/store.h"

#define HTTP_MAX_SWAPS 16 /* queued swaps beyond the one loading before 429 */

struct http_swap {
    srv_http *h;
    struct MHD_Connection *conn;
    char *name;
    char *path; /* what is loaded: a resolved file (admin) or a store name */
    bool admin;
    /* guarded by h->swap_mu */
    bool done;      /* the worker is finished with it (rc/err/seconds set) */
    bool abandoned; /* the request ended first: the worker frees it */
    bool stopped;   /* the server stopped before it was loaded */
    int rc;
    he_error err;
    double seconds;
    struct http_swap *next;
};

static void swap_free(struct http_swap *s) {
    if (!s) return;
    free(s->name);
    free(s->path);
    free(s);
}

/* ---- the worker ---- */

static void *swap_main(void *arg) {
    srv_http *h = arg;
    pthread_mutex_lock(&h->swap_mu);
    for (;;) {
        while (!h->swap_head && !__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE))
            pthread_cond_wait(&h->swap_cv, &h->swap_mu);
        struct http_swap *s = h->swap_head;
        if (!s) break; /* stopping, nothing queued */
        h->swap_head = s->next;
        if (!h->swap_head) h->swap_tail = NULL;
        h->swap_queued--;
        if (__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE)) {
            s->stopped = true;
            s->rc = -1;
        } else if (!s->abandoned) {
            pthread_mutex_unlock(&h->swap_mu);
            char en[LOG_ESC_CAP], ep[LOG_ESC_CAP], ee[LOG_ESC_CAP]; /* request text, escaped for the log */
            log_esc(s->name, en, sizeof en);
            log_esc(s->path, ep, sizeof ep);
            log_info("serve: swapping '%s' to %s", en, ep);
            double t0 = http_now();
            s->rc = srv_registry_swap(h->reg, s->name, s->path, &s->err);
            s->seconds = http_now() - t0;
            if (s->rc)
                log_warn("serve: swap of '%s' to %s failed: %s", en, ep, log_esc(s->err.msg, ee, sizeof ee));
            else
                log_info("serve: '%s' now serves %s (%.0f ms)", en, ep, s->seconds * 1e3);
            pthread_mutex_lock(&h->swap_mu);
        }
        s->done = true;
        if (s->abandoned)
            swap_free(s);
        else
            MHD_resume_connection(s->conn); /* route_swap_resume answers; s is the request's now */
    }
    pthread_mutex_unlock(&h->swap_mu);
    return NULL;
}

int http_swap_worker_start(srv_http *h) {
    pthread_mutex_init(&h->swap_mu, NULL);
    pthread_cond_init(&h->swap_cv, NULL);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, (size_t)1 << 20);
    h->swap_started = pthread_create(&h->swap_thread, &at, swap_main, h) == 0;
    pthread_attr_destroy(&at);
    return h->swap_started ? 0 : -1;
}

void http_swap_worker_stop(srv_http *h) {
    if (!h->swap_started) return;
    /* h->stopping is already set: the worker answers what is queued, finishes the load in
     * progress (a load cannot be interrupted) and ends, so no connection stays suspended when
     * MHD stops. */
    pthread_mutex_lock(&h->swap_mu);
    pthread_cond_broadcast(&h->swap_cv);
    pthread_mutex_unlock(&h->swap_mu);
    pthread_join(h->swap_thread, NULL);
    h->swap_started = false;
    pthread_mutex_destroy(&h->swap_mu);
    pthread_cond_destroy(&h->swap_cv);
}

/* ---- the route ---- */

/* Resolves path for an admin caller: an existing file under a model directory (its real path
 * in out), or a store name. 0, or an HTTP status with the error already sent (*r). */
static int admin_target(http_req *q, const char *path, char *out, size_t cap, enum MHD_Result *r) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (store_name_check(path, NULL) == 0) {
            snprintf(out, cap, "%s", path);
            return 0;
        }
        *r = http_error(q, 422, "path", "swap_failed",
                        "No such file, and not a model store name: '%s'.", path);
        return 422;
    }
    char real[PATH_MAX];
    if (!S_ISREG(st.st_mode) || !realpath(path, real)) {
        *r = http_error(q, 422, "path", "swap_failed", "Not a regular file: '%s'.", path);
        return 422;
    }
    for (int i = 0; i < q->h->n_model_dirs; i++) {
        if (srv_path_under(real, q->h->model_dirs[i])) {
            snprintf(out, cap, "%s", real);
            return 0;
        }
    }
    *r = http_error(q, 403, "path", "path_not_allowed",
                    "The file is not under a model directory of this server (--model-dir).");
    return 403;
}

enum MHD_Result route_swap(http_req *q) {
    srv_http *h = q->h;
    srv_req_error e;
    json_t *root = srv_json_parse_object(q->body ? q->body : "", q->len, &e);
    if (!root) return http_req_error(q, &e);
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *path = json_string_value(json_object_get(root, "path"));
    enum MHD_Result r;
    if (!name || !path) {
        r = http_error(q, 400, !name ? "name" : "path", "missing_required_parameter",
                       "Missing required parameter: '%s' (a string).", !name ? "name" : "path");
        goto out;
    }
    char target[PATH_MAX];
    if (q->admin) {
        if (admin_target(q, path, target, sizeof target, &r)) goto out;
    } else {
        /* Anything but a store name is a file: refused without looking at it, so the answer
         * says nothing about what exists. A store name shadowed by a file of that name in the
         * server's folder would load that file: refused the same way. */
        struct stat st;
        if (store_name_check(path, NULL) != 0 || stat(path, &st) == 0) {
            r = http_error(
                q, 403, "path", "admin_required",
                "Loading a model file is an admin action: send the server's admin token in the "
                "%s header (`hearth swap` does), or name a model of the store.",
                SRV_ADMIN_HEADER);
            goto out;
        }
        snprintf(target, sizeof target, "%s", path);
    }
    srv_model *cur = srv_registry_acquire(h->reg, name);
    if (!cur) {
        r = http_error(q, 404, "name", "model_not_found",
                       "The model '%s' does not exist or you do not have access to it.", name);
        goto out;
    }
    srv_model_release(cur);
    struct http_swap *s = xcalloc(1, sizeof *s);
    s->h = h;
    s->conn = q->conn;
    s->name = xstrdup(name);
    s->path = xstrdup(target);
    s->admin = q->admin;
    pthread_mutex_lock(&h->swap_mu);
    if (!h->swap_started || h->swap_queued >= HTTP_MAX_SWAPS) {
        pthread_mutex_unlock(&h->swap_mu);
        swap_free(s);
        r = http_error(q, 429, NULL, "rate_limit_exceeded",
                       "Too many swaps are waiting; retry shortly.");
        goto out;
    }
    if (h->swap_tail)
        h->swap_tail->next = s;
    else
        h->swap_head = s;
    h->swap_tail = s;
    h->swap_queued++;
    q->swap = s;
    /* Suspended under swap_mu: the worker resumes only after taking it, so it cannot resume a
     * connection that is not suspended yet. */
    MHD_suspend_connection(q->conn);
    pthread_cond_signal(&h->swap_cv);
    pthread_mutex_unlock(&h->swap_mu);
    r = MHD_YES;
out:
    json_decref(root);
    return r;
}

/* What a caller that is not admin may learn of a failed load: no loader message, no path. */
static const char *generic_failure(const he_error *err) {
    switch (err->code) {
    case HE_FORMAT:
        return "not a GGUF model file";
    case HE_UNSUPPORTED:
        return "the model is not supported";
    case HE_NOMEM:
    case HE_LIMIT:
        return "not enough memory or over a limit";
    default:
        return "the model could not be loaded (the server log says why)";
    }
}

enum MHD_Result route_swap_resume(http_req *q) {
    srv_http *h = q->h;
    struct http_swap *s = q->swap;
    pthread_mutex_lock(&h->swap_mu);
    bool done = s->done;
    if (!done) MHD_suspend_connection(q->conn); /* spurious: keep waiting */
    pthread_mutex_unlock(&h->swap_mu);
    if (!done) return MHD_YES;
    q->swap = NULL;
    enum MHD_Result r;
    if (s->stopped) {
        r = http_error(q, 503, NULL, "server_error",
                       "The server is stopping; the swap was not done.");
    } else if (s->rc) {
        if (s->admin)
            r = http_error(q, 422, "path", "swap_failed", "Swap failed; '%s' keeps its model: %s",
                           s->name, s->err.msg);
        else
            r = http_error(q, 422, "path", "swap_failed", "Swap failed; '%s' keeps its model: %s",
                           s->name, generic_failure(&s->err));
    } else {
        r = http_respond_json(q, 200,
                              json_pack("{s:s, s:s, s:s, s:f}", "status", "ok", "name", s->name,
                                        "path", s->path, "seconds", s->seconds));
    }
    swap_free(s);
    return r;
}

void route_swap_abandon(http_req *q) {
    struct http_swap *s = q->swap;
    if (!s) return;
    q->swap = NULL;
    pthread_mutex_lock(&q->h->swap_mu);
    bool done = s->done;
    if (!done) s->abandoned = true;
    pthread_mutex_unlock(&q->h->swap_mu);
    if (done) swap_free(s);
}
