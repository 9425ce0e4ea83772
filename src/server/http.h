/* http.h — `hearth serve`'s HTTP front end (libmicrohttpd): the OpenAI and Ollama routes,
 * health, metrics, auth, CORS, limits and the admin swap endpoint, over an srv_registry.
 *
 * A few epoll event-loop threads serve every connection; no HTTP thread ever blocks on a
 * model. A generation runs a small pump thread that waits for the scheduler's events and
 * resumes the (suspended) connection when there is something to send, so thousands of idle or
 * slow clients cost memory, not threads, and cannot delay /health or other requests. A client
 * that goes away is noticed (hang-up on the socket, or a failed write) and its job cancelled,
 * freeing the slot. A swap is loaded by the swap worker thread (routes_swap.c) while its
 * connection is parked the same way. What a web page in the user's browser can and cannot make
 * the server do is websafe.h's subject. */
#ifndef HEARTH_SERVER_HTTP_H
#define HEARTH_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "server/sched.h"

typedef struct {
    const char *host;               /* default "127.0.0.1" */
    int port;                       /* default 8080; 0 picks a free port (see srv_http_port) */
    const char *const *api_keys;    /* accepted Bearer keys; none: no auth */
    int n_api_keys;
    const char *cors_origin;        /* NULL: no CORS headers */
    size_t max_body;                /* bytes; 0: 32 MiB */
    unsigned max_connections;       /* 0: 8192 (capped by the open-file limit) */
    unsigned per_ip_limit;          /* connections per client address; 0: 256 on a non-loopback
                                       bind, unlimited on loopback (every local client is 127.0.0.1) */
    unsigned idle_timeout;          /* seconds a connection may send nothing; 0: 10 */
    unsigned request_timeout;       /* seconds for a request's line, headers and body to arrive
                                       after the connection opens (or its last request ended); 0: 30 */
    unsigned http_threads;          /* event-loop threads; 0: 4 */
    const char *admin_key;          /* the admin credential (X-Hearth-Admin); NULL: no request is
                                       admin, so no model file can be loaded over HTTP */
    const char *const *model_dirs;  /* folders a swap may load files from (resolved here; missing
                                       ones are skipped with a warning) */
    int n_model_dirs;
    const char *guard_workspace;    /* POST /v1/guard/check classifies against this directory;
                                       NULL: an empty private one (nothing counts as inside) */
    const char *guard_policy;       /* the guard's policy file; NULL: the built-in default */
    bool no_ui;                     /* true: no web chat UI (webui.h); "/" is plain text only */
    /* Store mode (routes_manage.c, docs/SERVER.md "Store mode"): every model of the store is
     * served by name, loaded on first use under the memory budget, unloaded after keep_alive. */
    bool store_mode;
    const srv_model_config *store_defaults; /* slots, ctx, threads, kv_type, queue, verify for
                                               store models (NULL: srv_model_config_default) */
    uint64_t max_memory;                    /* bytes; 0: 80% of MemAvailable at start */
    double keep_alive;                      /* default keep_alive in seconds (< 0: forever) */
    bool keep_alive_set;                    /* false: Ollama's 5 minutes */
} srv_http_config;

typedef struct srv_http srv_http;

/* Starts listening (requests get 503 until srv_http_set_ready). Refuses a non-loopback host
 * without an API key (HE_INVALID). reg is borrowed and must outlive the server. */
srv_http *srv_http_start(const srv_http_config *cfg, srv_registry *reg, he_error *err);
int srv_http_port(const srv_http *h);
void srv_http_set_ready(srv_http *h, bool ready);
void srv_http_stop(srv_http *h); /* NULL is a no-op */

/* The registry smoke hook: renders a short conversation with the model's chat template. */
int srv_http_smoke(srv_model *m, void *user, he_error *err);

/* True when host names the loopback interface ("127.0.0.1", "localhost", "::1", ...). */
bool srv_host_is_loopback(const char *host);
/* Host header check against DNS rebinding on a loopback bind: true for localhost,
 * 127.0.0.1, [::1] with or without a port. */
bool srv_host_header_ok(const char *host_header);

#endif
