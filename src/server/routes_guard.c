/* routes_guard.c — POST /v1/guard/check: the agent guard (guard/guard.h) as a service for any
 * agent framework. Body: {"tool": NAME, "arguments": {...}, "workspace"?: DIR}; answer: the
 * verdict JSON (guard_verdict_json: decision, rule, category, reason, parsed), the same line
 * `hearth guard check` prints.
 *
 * "arguments" may also be a string holding the object, as OpenAI tool calls carry it.
 * The workspace is the server's (--guard-workspace DIR). Without one the server classifies
 * against an empty private directory it made at start, so no caller's path counts as "inside
 * the workspace" and writes are never allowed by default. A request may name a "workspace" only
 * at or under the server's one: narrowing it can only raise decisions, never lower them; any
 * other is refused (403). The route follows the ordinary API-key rules and, like every body
 * route, accepts only application/json (http.c). */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "guard/guard.h"
#include "server/http_internal.h"

#define GUARD_MAX_TOOL 128

int http_guard_start(srv_http *h, const char *workspace, const char *policy, he_error *err) {
    char real[PATH_MAX];
    if (workspace && workspace[0]) {
        if (!realpath(workspace, real))
            return he_fail(err, HE_INVALID, "serve: --guard-workspace %s: not found", workspace);
    } else {
        char tmpl[] = "/tmp/hearth-guard-ws-XXXXXX";
        if (!mkdtemp(tmpl))
            return he_fail(err, HE_IO, "serve: cannot create the guard's empty workspace");
        snprintf(real, sizeof real, "%s", tmpl);
        h->guard_tmp_ws = true;
    }
    h->guard_ws = xstrdup(real);
    h->guard_policy = policy && policy[0] ? xstrdup(policy) : NULL;
    h->guard = guard_new(real, h->guard_policy, err);
    if (!h->guard) {
        he_prefix(err, "serve: guard");
        return -1;
    }
    pthread_mutex_init(&h->guard_mu, NULL);
    return 0;
}

void http_guard_stop(srv_http *h) {
    if (h->guard) {
        guard_free(h->guard);
        pthread_mutex_destroy(&h->guard_mu);
    }
    if (h->guard_tmp_ws && h->guard_ws) rmdir(h->guard_ws);
    free(h->guard_ws);
    free(h->guard_policy);
    h->guard = NULL;
    h->guard_ws = h->guard_policy = NULL;
}

static bool under(const char *path, const char *dir) {
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

enum MHD_Result route_guard(http_req *q) {
    srv_http *h = q->h;
    if (!h->guard)
        return http_error(q, 503, NULL, "guard_unavailable",
                          "The guard is not running on this server.");
    srv_req_error e;
    json_t *root = srv_json_parse_object(q->body ? q->body : "", q->len, &e);
    if (!root) return http_req_error(q, &e);
    enum MHD_Result r;
    json_t *parsed_args = NULL;
    json_t *tj = json_object_get(root, "tool"), *args = json_object_get(root, "arguments"),
           *wj = json_object_get(root, "workspace");
    const char *tool = json_string_value(tj);
    if (!tool || !tool[0] || json_string_length(tj) > GUARD_MAX_TOOL ||
        strlen(tool) != json_string_length(tj)) {
        r = http_error(q, 400, "tool", "invalid_request_error",
                       "'tool' must be a non-empty string of at most %d bytes.", GUARD_MAX_TOOL);
        goto out;
    }
    if (json_is_string(args)) { /* as OpenAI tool calls carry it: a string holding the object */
        parsed_args = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
        args = parsed_args;
        if (!args) args = json_null();
    }
    if (args && !json_is_object(args)) {
        r = http_error(q, 400, "arguments", "invalid_request_error",
                       "'arguments' must be a JSON object.");
        goto out;
    }
    if (wj && !json_is_string(wj) && !json_is_null(wj)) {
        r = http_error(q, 400, "workspace", "invalid_request_error",
                       "'workspace' must be a string.");
        goto out;
    }
    json_t *empty = args ? NULL : json_object();
    guard *g = h->guard, *own = NULL;
    const char *ws = json_string_value(wj);
    if (ws) {
        char real[PATH_MAX];
        if (!realpath(ws, real) || !under(real, h->guard_ws)) {
            json_decref(empty);
            r = http_error(
                q, 403, "workspace", "workspace_not_allowed",
                "'workspace' must be the server's guard workspace or a directory under it.");
            goto out;
        }
        if (strcmp(real, h->guard_ws)) {
            he_error ge;
            own = guard_new(real, h->guard_policy, &ge);
            if (!own) {
                json_decref(empty);
                r = http_error(q, 500, NULL, "guard_error",
                               "The guard could not start for that workspace.");
                goto out;
            }
            g = own;
        }
    }
    guard_verdict v;
    memset(&v, 0, sizeof v);
    he_error ge = {0};
    if (!own) pthread_mutex_lock(&h->guard_mu);
    int rc = guard_check(g, tool, args ? args : empty, &v, &ge);
    if (!own) pthread_mutex_unlock(&h->guard_mu);
    guard_free(own);
    json_decref(empty);
    if (rc) {
        r = http_error(q, 500, NULL, "guard_error", "The guard failed: %s", ge.msg);
        goto out;
    }
    json_t *vj = guard_verdict_json(&v);
    guard_verdict_free(&v);
    r = http_respond_json(q, 200, vj);
out:
    json_decref(parsed_args);
    json_decref(root);
    return r;
}
