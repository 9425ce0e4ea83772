/* http_internal.h — what http.c (server core) and routes.c (the API routes) share. */
#ifndef HEARTH_SERVER_HTTP_INTERNAL_H
#define HEARTH_SERVER_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/sha.h>

#include "server/http.h"
#include "server/request.h"
#include "server/route.h"
#include "server/sched.h"
#include "server/webui.h"

#define HEARTH_SERVER_VERSION "0.1.0"
#define HTTP_NB 12          /* histogram buckets */
#define HTTP_MAX_MODELS 64  /* served names tracked by the metrics */
#define HTTP_MAX_RC 256     /* (route, status) pairs */
#define HTTP_MAX_KEYS 64

typedef struct {
    uint64_t bucket[HTTP_NB], count;
    double sum;
} http_hist;

typedef struct {
    char name[128];
    uint64_t prompt_tokens, generated_tokens, requests;
    http_hist ttft, tok;
    uint64_t routed[2][SRV_ROUTE_N_REASONS]; /* a routing name: requests by target and reason */
    uint64_t shifts, shift_dropped; /* context shifts, and the messages they dropped */
} http_model_metrics;

struct srv_http {
    struct MHD_Daemon *d;
    srv_registry *reg;
    int port;
    bool ready;
    bool stopping; /* srv_http_stop has begun */
    bool loopback;
    bool ui;            /* the web chat UI is served (webui.h; off with --no-ui) */
    int pumps;          /* generation pump threads alive (routes.c), under pump_mu */
    pthread_mutex_t pump_mu; /* pumps and the start of `stopping`: no pump starts once stop began */
    pthread_cond_t pump_cv;  /* signalled when pumps drops to 0; srv_http_stop waits on it */
    double request_timeout; /* seconds for a request's line, headers and body to arrive */
    pthread_t reaper;
    bool reaper_started;
    pthread_mutex_t track_mu; /* guards the tracked connections (http.c) */
    pthread_cond_t track_cv;
    struct http_track *tracked;
    size_t max_body;
    char *cors_origin;
    int n_keys;
    unsigned char key_digest[HTTP_MAX_KEYS][SHA256_DIGEST_LENGTH];
    bool has_admin;
    unsigned char admin_digest[SHA256_DIGEST_LENGTH];
    char **model_dirs; /* resolved (realpath) folders a swap may load files from */
    int n_model_dirs;
    /* The swap worker (routes_swap.c): one thread loads queued swaps in turn, so no HTTP thread
     * waits for a model and at most one extra model is being loaded at a time. */
    pthread_mutex_t swap_mu;
    pthread_cond_t swap_cv;
    struct http_swap *swap_head, *swap_tail;
    int swap_queued;
    bool swap_started;
    pthread_t swap_thread;
    /* Store mode and model management (routes_manage.c); NULL outside store mode. */
    struct http_store *sm;
    /* The guard behind POST /v1/guard/check (routes_guard.c). */
    struct guard *guard;
    pthread_mutex_t guard_mu;
    char *guard_ws;     /* its resolved workspace */
    char *guard_policy; /* the operator's policy file, or NULL */
    bool guard_tmp_ws;  /* guard_ws is the empty directory made at start (removed at stop) */
    pthread_mutex_t mu; /* metrics */
    struct {
        const char *route;
        int status;
        uint64_t count;
    } rc[HTTP_MAX_RC];
    int n_rc;
    http_model_metrics mm[HTTP_MAX_MODELS];
    int n_mm;
};

/* One HTTP request (MHD's per-request closure). */
typedef struct {
    srv_http *h;
    struct MHD_Connection *conn;
    double t0;
    const char *route; /* metrics label */
    bool ollama;       /* error bodies in Ollama's {"error": "..."} form */
    int status;        /* set once a response is queued */
    char *body;
    size_t len, cap;
    bool too_large;
    bool nomem;        /* the body could not be stored: answered 503 */
    unsigned long fail_mark; /* he_alloc_failures() when this callback began handling it */
    void *gen;         /* a parked non-streaming generation (routes.c) */
    struct http_swap *swap; /* a parked swap (routes_swap.c) */
    struct http_mtask *mtask; /* a parked load or model operation (routes_manage.c) */
    double load_seconds;      /* store mode: the load this request waited for (load_duration) */
    bool admin;        /* sent the admin credential (X-Hearth-Admin) */
    const srv_webui_asset *ui; /* the UI file this GET asks for, or NULL (webui.h) */
    char route_hdr[48];        /* X-Hearth-Route value when a routing name answered, else "" */
    char shift_hdr[24];        /* X-Hearth-Context-Shift value (messages dropped), else "" */
} http_req;

#define CONF_ROUTE_NAME_CAP 160 /* > the config's longest served name (128) */

double http_now(void);
json_t *http_json_text(const char *s, size_t n);
char *http_dump(const json_t *j, size_t *len); /* NULL (len 0) when j is NULL or memory ran out */
void http_random_id(const char *prefix, char *out, size_t cap);

enum MHD_Result http_respond(http_req *q, int status, const char *ctype, char *body, size_t len);
enum MHD_Result http_respond_json(http_req *q, int status, json_t *j);
enum MHD_Result http_respond_stream(http_req *q, MHD_ContentReaderCallback cb, void *cls,
                                    MHD_ContentReaderFreeCallback free_cb, const char *ctype);
enum MHD_Result http_error(http_req *q, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
enum MHD_Result http_req_error(http_req *q, const srv_req_error *e);
/* 503 out_of_memory (OpenAI or Ollama shape); a constant body if even that cannot be built. */
enum MHD_Result http_error_nomem(http_req *q);

void http_metrics_ttft(srv_http *h, const char *model, double s);
void http_metrics_token_gap(srv_http *h, const char *model, double s);
void http_metrics_tokens(srv_http *h, const char *model, uint64_t prompt, uint64_t generated);
/* One request a routing name sent to target (srv_route_target) for reason (srv_route_reason). */
void http_metrics_route(srv_http *h, const char *route, int target, int reason);
/* A context shift on a served name that dropped n_msgs messages. */
void http_metrics_shift(srv_http *h, const char *model, size_t n_msgs);

/* routes.c */
/* The model serving name (a counted reference), trying Ollama's ":latest" both ways. */
srv_model *http_acquire(srv_http *h, const char *name);
enum MHD_Result route_models(http_req *q, const char *id);
/* GET /lora-adapters: every served model's adapters, [{id, path (basename), scale, model}] */
enum MHD_Result route_lora_adapters(http_req *q);
enum MHD_Result route_generate(http_req *q, srv_api api);
/* A parked non-streaming generation was resumed: answer it (or close on a hang-up). */
enum MHD_Result route_generate_resume(http_req *q);
/* The request ended (connection closed or response sent): release a parked generation. */
void route_generate_abandon(http_req *q);

/* routes_tokenize.c: llama-server's /tokenize and /detokenize */
enum MHD_Result route_tokenize(http_req *q);
enum MHD_Result route_detokenize(http_req *q);
/* routes_embed.c */
#include "server/embed_req.h"
enum MHD_Result route_embeddings(http_req *q, srv_embed_api api);
enum MHD_Result route_rerank(http_req *q);
/* 400: m is not of kind want (names the route m's kind serves). */
enum MHD_Result route_wrong_kind(http_req *q, srv_model *m, srv_model_kind want);

/* routes_guard.c */
enum MHD_Result route_guard(http_req *q);
/* Starts the guard on workspace (NULL: an empty private directory) with policy (NULL: default). */
int http_guard_start(srv_http *h, const char *workspace, const char *policy, he_error *err);
void http_guard_stop(srv_http *h);

/* routes_manage.c: store mode, model management, listings */
enum MHD_Result route_tags(http_req *q, bool ps);
enum MHD_Result route_show(http_req *q);
enum MHD_Result route_create(http_req *q);
enum MHD_Result route_copy_delete(http_req *q, bool del);
enum MHD_Result route_pull_push(http_req *q, bool push);
/* The manager resumed a parked task: answer it (a finished load runs the generation). */
enum MHD_Result route_manage_resume(http_req *q);
void route_manage_abandon(http_req *q);
/* Store mode: name is a stored model not loaded yet: queues its load (the connection parks,
 * *res set) and returns true; false when not in store mode or not a stored name. */
bool http_store_load(http_req *q, const char *name, srv_api api, enum MHD_Result *res);
/* The same for another route: once loaded, rerun(q, arg) answers the request. */
bool http_store_load_then(http_req *q, const char *name, enum MHD_Result (*rerun)(http_req *, int),
                          int arg, enum MHD_Result *res);
/* A request for m: its keep_alive (or the default) becomes m's. */
void http_store_touch(srv_http *h, srv_model *m, const srv_request *r);
/* keep_alive 0 on a load request: unloads a store model now; false for a pinned one. */
bool http_store_unload(srv_http *h, srv_model *m);
/* Store mode: appends {"id", "object", "created", "owned_by"} for every stored model not in data
 * yet (/v1/models). */
void http_store_list_models(srv_http *h, json_t *data);
int http_store_start(srv_http *h, const srv_http_config *cfg);
int http_store_worker_start(srv_http *h);
/* Answers the queued tasks 503, finishes the one running, joins the manager (before MHD stops);
 * http_store_free after MHD stopped (a resumed connection still reads h->sm). */
void http_store_stop(srv_http *h);
void http_store_free(srv_http *h);

/* routes_swap.c */
enum MHD_Result route_swap(http_req *q);
/* The swap worker answered a parked swap: respond with its result. */
enum MHD_Result route_swap_resume(http_req *q);
/* The request ended: release its swap (the worker frees one it has not finished). */
void route_swap_abandon(http_req *q);
int http_swap_worker_start(srv_http *h);
/* Answers every queued swap with 503, waits for the one loading, joins the worker. */
void http_swap_worker_stop(srv_http *h);

#endif
