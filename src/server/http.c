/* http.c — the HTTP server core: libmicrohttpd setup, body and header limits, auth, Host,
 * Origin, Content-Type and CORS checks, routing, error bodies and the Prometheus metrics (see
 * http.h). The generation routes live in routes.c, the swap route in routes_swap.c; they share
 * http_internal.h. */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/alloc.h"
#include "base/log.h"
#include "server/chat.h"
#include "server/http_internal.h"
#include "server/webui.h"
#include "server/websafe.h"

/* ---- small utilities ---- */

double http_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A JSON string from arbitrary bytes: invalid UTF-8 becomes U+FFFD (jansson refuses it).
 * NULL when memory runs out (the text is request- or output-sized). */
json_t *http_json_text(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *o = n < SIZE_MAX / 3 ? he_malloc(n * 3 + 1) : NULL;
    if (!o) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n && c != 0;
        for (size_t k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && len > 1) {
            json_t *t = json_stringn(s + i, len); /* rejects overlongs and surrogates */
            ok = t != NULL;
            json_decref(t);
        }
        if (ok) {
            memcpy(o + w, s + i, len);
            w += len;
            i += len;
        } else {
            memcpy(o + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
        }
    }
    j = json_stringn(o, w);
    free(o);
    return j;
}

char *http_dump(const json_t *j, size_t *len) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    *len = s ? strlen(s) : 0;
    return s;
}

/* Jansson allocates through the gateway (he_malloc: NULL on failure, and fault injection in
 * tests); every JSON value the server builds may therefore be NULL, and the answer is a 503. */
static void json_use_gateway(void) { json_set_alloc_funcs(he_malloc, free); }

void http_random_id(const char *prefix, char *out, size_t cap) {
    unsigned char r[12];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(r, 1, sizeof r, f) != sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof r; i++) r[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (i % 8 * 8)) ^ (unsigned char)i;
    }
    if (f) fclose(f);
    int n = snprintf(out, cap, "%s", prefix);
    for (size_t i = 0; i < sizeof r && (size_t)n + 2 < cap; i++) n += snprintf(out + n, cap - (size_t)n, "%02x", r[i]);
}

/* ---- metrics ---- */

static const double ttft_buckets[HTTP_NB] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double tok_buckets[HTTP_NB] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

static void hist_observe(http_hist *hh, const double *bounds, double v) {
    for (int i = 0; i < HTTP_NB; i++)
        if (v <= bounds[i]) hh->bucket[i]++;
    hh->count++;
    hh->sum += v;
}

static http_model_metrics *model_metrics(srv_http *h, const char *name) {
    for (int i = 0; i < h->n_mm; i++)
        if (!strcmp(h->mm[i].name, name)) return &h->mm[i];
    if (h->n_mm == HTTP_MAX_MODELS) return NULL;
    http_model_metrics *m = &h->mm[h->n_mm++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

void http_metrics_ttft(srv_http *h, const char *model, double s) {
    pthread_mutex_lock(&h->mu);
    http_model_metrics *m = model_metrics(h, model);
    if (m) hist_observe(&m->ttft, ttft_buckets, s);
    pthread_mutex_unlock(&h->mu);
}

void http_metrics_token_gap(srv_http *h, const char *model, double s) {
    pthread_mutex_lock(&h->mu);
    http_model_metrics *m = model_metrics(h, model);
    if (m) hist_observe(&m->tok, tok_buckets, s);
    pthread_mutex_unlock(&h->mu);
}

void http_metrics_shift(srv_http *h, const char *model, size_t n_msgs) {
    pthread_mutex_lock(&h->mu);
    http_model_metrics *m = model_metrics(h, model);
    if (m) {
        m->shifts++;
        m->shift_dropped += n_msgs;
    }
    pthread_mutex_unlock(&h->mu);
}

void http_metrics_route(srv_http *h, const char *route, int target, int reason) {
    if (target < 0 || target > 1 || reason < 0 || reason >= SRV_ROUTE_N_REASONS) return;
    pthread_mutex_lock(&h->mu);
    http_model_metrics *m = model_metrics(h, route);
    if (m) m->routed[target][reason]++;
    pthread_mutex_unlock(&h->mu);
}

void http_metrics_tokens(srv_http *h, const char *model, uint64_t prompt, uint64_t generated) {
    pthread_mutex_lock(&h->mu);
    http_model_metrics *m = model_metrics(h, model);
    if (m) m->prompt_tokens += prompt, m->generated_tokens += generated, m->requests++;
    pthread_mutex_unlock(&h->mu);
}

static void metrics_request(srv_http *h, const char *route, int status) {
    pthread_mutex_lock(&h->mu);
    int i;
    for (i = 0; i < h->n_rc; i++)
        if (h->rc[i].route == route && h->rc[i].status == status) break;
    if (i == h->n_rc && h->n_rc < HTTP_MAX_RC) {
        h->rc[i].route = route;
        h->rc[i].status = status;
        h->rc[i].count = 0;
        h->n_rc++;
    }
    if (i < h->n_rc) h->rc[i].count++;
    pthread_mutex_unlock(&h->mu);
}

static void buf_printf(char **b, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void buf_printf(char **b, size_t *len, size_t *cap, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*b + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (*len + (size_t)n < *cap) {
            *len += (size_t)n;
            return;
        }
        *cap = (*cap + (size_t)n) * 2;
        *b = xrealloc(*b, *cap);
    }
}

static void hist_print(char **b, size_t *len, size_t *cap, const char *metric, const char *model, const http_hist *hh,
                       const double *bounds) {
    for (int i = 0; i < HTTP_NB; i++)
        buf_printf(b, len, cap, "%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", metric, model, bounds[i],
                   (unsigned long long)hh->bucket[i]);
    buf_printf(b, len, cap, "%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", metric, model, (unsigned long long)hh->count);
    buf_printf(b, len, cap, "%s_sum{model=\"%s\"} %.6f\n%s_count{model=\"%s\"} %llu\n", metric, model, hh->sum, metric,
               model, (unsigned long long)hh->count);
}

/* Label values are served names and route constants; quotes and backslashes are escaped away. */
static void label_safe(char *dst, size_t cap, const char *s) {
    size_t w = 0;
    for (; *s && w + 1 < cap; s++) dst[w++] = (*s == '"' || *s == '\\' || *s == '\n') ? '_' : *s;
    dst[w] = 0;
}

static char *metrics_text(srv_http *h, size_t *out_len) {
    size_t cap = 8192, len = 0;
    char *b = xmalloc(cap);
    b[0] = 0;
    int n_names = 0;
    char **names = srv_registry_names(h->reg, &n_names);
    buf_printf(&b, &len, &cap, "# HELP hearth_requests_total HTTP requests by route and status.\n"
                               "# TYPE hearth_requests_total counter\n");
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n_rc; i++)
        buf_printf(&b, &len, &cap, "hearth_requests_total{route=\"%s\",status=\"%d\"} %llu\n", h->rc[i].route,
                   h->rc[i].status, (unsigned long long)h->rc[i].count);
    buf_printf(&b, &len, &cap, "# HELP hearth_prompt_tokens_total Prompt tokens of finished generations.\n"
                               "# TYPE hearth_prompt_tokens_total counter\n");
    char lab[160];
    for (int i = 0; i < h->n_mm; i++) {
        label_safe(lab, sizeof lab, h->mm[i].name);
        buf_printf(&b, &len, &cap, "hearth_prompt_tokens_total{model=\"%s\"} %llu\n", lab,
                   (unsigned long long)h->mm[i].prompt_tokens);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_generated_tokens_total Generated tokens.\n"
                               "# TYPE hearth_generated_tokens_total counter\n");
    for (int i = 0; i < h->n_mm; i++) {
        label_safe(lab, sizeof lab, h->mm[i].name);
        buf_printf(&b, &len, &cap, "hearth_generated_tokens_total{model=\"%s\"} %llu\n", lab,
                   (unsigned long long)h->mm[i].generated_tokens);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_generations_total Generation requests that reached the scheduler.\n"
                               "# TYPE hearth_generations_total counter\n");
    for (int i = 0; i < h->n_mm; i++) {
        label_safe(lab, sizeof lab, h->mm[i].name);
        buf_printf(&b, &len, &cap, "hearth_generations_total{model=\"%s\"} %llu\n", lab,
                   (unsigned long long)h->mm[i].requests);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_time_to_first_token_seconds From request to the first generated token.\n"
                               "# TYPE hearth_time_to_first_token_seconds histogram\n");
    for (int i = 0; i < h->n_mm; i++) {
        label_safe(lab, sizeof lab, h->mm[i].name);
        hist_print(&b, &len, &cap, "hearth_time_to_first_token_seconds", lab, &h->mm[i].ttft, ttft_buckets);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_token_latency_seconds Time between consecutive generated tokens.\n"
                               "# TYPE hearth_token_latency_seconds histogram\n");
    for (int i = 0; i < h->n_mm; i++) {
        label_safe(lab, sizeof lab, h->mm[i].name);
        hist_print(&b, &len, &cap, "hearth_token_latency_seconds", lab, &h->mm[i].tok, tok_buckets);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_routed_requests_total Requests a routing name sent on, by target and "
                               "reason.\n# TYPE hearth_routed_requests_total counter\n");
    for (int i = 0; i < h->n_mm; i++) {
        label_safe(lab, sizeof lab, h->mm[i].name);
        for (int t = 0; t < 2; t++)
            for (int r = 0; r < SRV_ROUTE_N_REASONS; r++)
                if (h->mm[i].routed[t][r])
                    buf_printf(&b, &len, &cap, "hearth_routed_requests_total{route=\"%s\",target=\"%s\",reason=\"%s\"} %llu\n",
                               lab, srv_route_target_name((srv_route_target)t), srv_route_reason_name((srv_route_reason)r),
                               (unsigned long long)h->mm[i].routed[t][r]);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_context_shifts_total Chats whose oldest turns were dropped to fit the "
                               "context (context_overflow = shift).\n# TYPE hearth_context_shifts_total counter\n");
    for (int i = 0; i < h->n_mm; i++) {
        label_safe(lab, sizeof lab, h->mm[i].name);
        buf_printf(&b, &len, &cap, "hearth_context_shifts_total{model=\"%s\"} %llu\n", lab,
                   (unsigned long long)h->mm[i].shifts);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_context_shift_dropped_messages_total Messages those shifts dropped.\n"
                               "# TYPE hearth_context_shift_dropped_messages_total counter\n");
    for (int i = 0; i < h->n_mm; i++) {
        label_safe(lab, sizeof lab, h->mm[i].name);
        buf_printf(&b, &len, &cap, "hearth_context_shift_dropped_messages_total{model=\"%s\"} %llu\n", lab,
                   (unsigned long long)h->mm[i].shift_dropped);
    }
    pthread_mutex_unlock(&h->mu);
    buf_printf(&b, &len, &cap, "# HELP hearth_queue_depth Jobs waiting for a slot.\n# TYPE hearth_queue_depth gauge\n");
    srv_model_stats *st = xcalloc((size_t)n_names + 1, sizeof *st);
    for (int i = 0; i < n_names; i++) {
        srv_model *m = srv_registry_acquire(h->reg, names[i]);
        if (m) {
            srv_model_stats_get(m, &st[i]);
            srv_model_release(m);
        }
    }
    for (int i = 0; i < n_names; i++) {
        label_safe(lab, sizeof lab, names[i]);
        buf_printf(&b, &len, &cap, "hearth_queue_depth{model=\"%s\"} %d\n", lab, st[i].queue_depth);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_slots_busy Slots generating or prefilling.\n# TYPE hearth_slots_busy gauge\n");
    for (int i = 0; i < n_names; i++) {
        label_safe(lab, sizeof lab, names[i]);
        buf_printf(&b, &len, &cap, "hearth_slots_busy{model=\"%s\"} %d\n", lab, st[i].slots_busy);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_slots_total Slots of the served model.\n# TYPE hearth_slots_total gauge\n");
    for (int i = 0; i < n_names; i++) {
        label_safe(lab, sizeof lab, names[i]);
        buf_printf(&b, &len, &cap, "hearth_slots_total{model=\"%s\"} %d\n", lab, st[i].slots_total);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_kv_cache_bytes KV cache of the served model's context (sliding-window "
                               "layers keep a ring of their window).\n# TYPE hearth_kv_cache_bytes gauge\n");
    for (int i = 0; i < n_names; i++) {
        label_safe(lab, sizeof lab, names[i]);
        buf_printf(&b, &len, &cap, "hearth_kv_cache_bytes{model=\"%s\"} %llu\n", lab,
                   (unsigned long long)st[i].kv_bytes);
    }
    buf_printf(&b, &len, &cap, "# HELP hearth_kv_cache_full_bytes What the KV cache would take with every layer "
                               "keeping the whole context.\n# TYPE hearth_kv_cache_full_bytes gauge\n");
    for (int i = 0; i < n_names; i++) {
        label_safe(lab, sizeof lab, names[i]);
        buf_printf(&b, &len, &cap, "hearth_kv_cache_full_bytes{model=\"%s\"} %llu\n", lab,
                   (unsigned long long)st[i].kv_bytes_full);
    }
    /* speculative decoding: only the served names that draft */
    buf_printf(&b, &len, &cap,
               "# HELP hearth_draft_tokens_total Tokens drafted (draft model or prompt lookup).\n"
               "# TYPE hearth_draft_tokens_total counter\n"
               "# HELP hearth_draft_accepted_tokens_total Drafted tokens the target kept.\n"
               "# TYPE hearth_draft_accepted_tokens_total counter\n"
               "# HELP hearth_spec_target_passes_total Per-slot verification steps of drafting served names.\n"
               "# TYPE hearth_spec_target_passes_total counter\n"
               "# HELP hearth_spec_tokens_total Tokens those steps generated.\n"
               "# TYPE hearth_spec_tokens_total counter\n"
               "# HELP hearth_draft_accept_rate Accepted over drafted tokens since start.\n"
               "# TYPE hearth_draft_accept_rate gauge\n"
               "# HELP hearth_tokens_per_target_pass Generated tokens per verification step since start.\n"
               "# TYPE hearth_tokens_per_target_pass gauge\n");
    for (int i = 0; i < n_names; i++) {
        if (!st[i].spec_passes) continue;
        label_safe(lab, sizeof lab, names[i]);
        buf_printf(&b, &len, &cap,
                   "hearth_draft_tokens_total{model=\"%s\"} %llu\nhearth_draft_accepted_tokens_total{model=\"%s\"} "
                   "%llu\nhearth_spec_target_passes_total{model=\"%s\"} %llu\nhearth_spec_tokens_total{model=\"%s\"} "
                   "%llu\n",
                   lab, (unsigned long long)st[i].draft_tokens, lab, (unsigned long long)st[i].draft_accepted, lab,
                   (unsigned long long)st[i].spec_passes, lab, (unsigned long long)st[i].spec_emitted);
        buf_printf(&b, &len, &cap, "hearth_draft_accept_rate{model=\"%s\"} %.4f\nhearth_tokens_per_target_pass{model=\"%s\"} %.4f\n",
                   lab, st[i].draft_tokens ? (double)st[i].draft_accepted / (double)st[i].draft_tokens : 0.0, lab,
                   (double)st[i].spec_emitted / (double)st[i].spec_passes);
    }
    free(st);
    srv_names_free(names, n_names);
    *out_len = len;
    return b;
}

/* ---- responses ---- */

static void add_common_headers(srv_http *h, struct MHD_Response *r) {
    /* every answer is what its Content-Type says: no browser guesses HTML into a JSON error */
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (h->cors_origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", h->cors_origin);
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

enum MHD_Result http_respond(http_req *q, int status, const char *ctype, char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
    if (status == 429 || status == 503) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (q->route_hdr[0]) MHD_add_response_header(r, "X-Hearth-Route", q->route_hdr);
    if (q->shift_hdr[0]) MHD_add_response_header(r, "X-Hearth-Context-Shift", q->shift_hdr);
    add_common_headers(q->h, r);
    q->status = status;
    enum MHD_Result rc = MHD_queue_response(q->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

/* An embedded UI file (webui.h): its type, ETag and the UI's security headers; 304 when the
 * browser's copy is current. The bytes are static: nothing is copied. */
static enum MHD_Result respond_ui(http_req *q) {
    const srv_webui_asset *a = q->ui;
    bool fresh = srv_etag_match(MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "If-None-Match"), a->etag);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(fresh ? 0 : a->len, (void *)(uintptr_t)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    if (!fresh) MHD_add_response_header(r, "Content-Type", a->ctype);
    MHD_add_response_header(r, "ETag", a->etag);
    for (int i = 0; srv_webui_headers[i]; i += 2)
        MHD_add_response_header(r, srv_webui_headers[i], srv_webui_headers[i + 1]);
    if (!strcmp(a->path, "/")) MHD_add_response_header(r, "Vary", "Accept");
    add_common_headers(q->h, r);
    q->status = fresh ? 304 : 200;
    enum MHD_Result rc = MHD_queue_response(q->conn, (unsigned)q->status, r);
    MHD_destroy_response(r);
    return rc;
}

/* The answer when memory for a request ran out: a constant body (nothing to allocate), in the
 * OpenAI or Ollama error shape. */
static enum MHD_Result respond_nomem(http_req *q) {
    static const char openai[] = "{\"error\":{\"message\":\"The server is out of memory for this request; "
                                 "retry shortly.\",\"type\":\"server_error\",\"param\":null,\"code\":\"out_of_memory\"}}";
    static const char ollama[] = "{\"error\":\"The server is out of memory for this request; retry shortly.\"}";
    const char *b = q->ollama ? ollama : openai;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(b), (void *)(uintptr_t)b, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Retry-After", "1");
    add_common_headers(q->h, r);
    q->status = 503;
    enum MHD_Result rc = MHD_queue_response(q->conn, 503, r);
    MHD_destroy_response(r);
    return rc;
}

/* j may be NULL (a JSON value could not be built): then the 503 above. Takes j. A success
 * whose building lost an allocation on the way (jansson drops an element it cannot store and
 * goes on) is a 503 too, never a silently incomplete 200. */
enum MHD_Result http_respond_json(http_req *q, int status, json_t *j) {
    size_t len;
    char *s = http_dump(j, &len);
    json_decref(j);
    if (s && status < 400 && he_alloc_failures() != q->fail_mark) {
        free(s);
        s = NULL;
    }
    if (!s) return respond_nomem(q);
    return http_respond(q, status, "application/json", s, len);
}

enum MHD_Result http_error_nomem(http_req *q) {
    return http_error(q, 503, NULL, "out_of_memory", "The server is out of memory for this request; retry shortly.");
}

enum MHD_Result http_respond_stream(http_req *q, MHD_ContentReaderCallback cb, void *cls,
                                    MHD_ContentReaderFreeCallback free_cb, const char *ctype) {
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, cb, cls, free_cb);
    if (!r) {
        free_cb(cls);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    if (q->route_hdr[0]) MHD_add_response_header(r, "X-Hearth-Route", q->route_hdr);
    if (q->shift_hdr[0]) MHD_add_response_header(r, "X-Hearth-Context-Shift", q->shift_hdr);
    add_common_headers(q->h, r);
    q->status = 200;
    enum MHD_Result rc = MHD_queue_response(q->conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static const char *error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 500:
    case 503: return "server_error";
    default: return "invalid_request_error";
    }
}

enum MHD_Result http_error(http_req *q, int status, const char *param, const char *code, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *m = http_json_text(msg, strlen(msg));
    json_t *j;
    if (q->ollama) {
        /* Ollama clients read {"error": "message"} (a string). */
        j = json_pack("{s:o}", "error", m);
    } else {
        j = json_pack("{s:{s:o, s:s, s:o, s:o}}", "error", "message", m, "type", error_type(status), "param",
                      param && param[0] ? json_string(param) : json_null(), "code",
                      code && code[0] ? json_string(code) : json_null());
    }
    return http_respond_json(q, status, j);
}

enum MHD_Result http_req_error(http_req *q, const srv_req_error *e) {
    return http_error(q, e->status, e->param, e->code, "%s", e->message);
}

/* ---- auth and Host checks ---- */

bool srv_host_is_loopback(const char *host) {
    if (!host) return true;
    if (!strcmp(host, "localhost") || !strcmp(host, "::1") || !strcmp(host, "[::1]")) return true;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
    return false;
}

bool srv_host_header_ok(const char *hh) {
    if (!hh) return true; /* HTTP/1.0 without Host */
    char host[300];
    size_t n = strlen(hh);
    if (n == 0 || n >= sizeof host) return false;
    memcpy(host, hh, n + 1);
    char *end;
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (!end) return false;
        if (end[1] && end[1] != ':') return false;
        end[1] = 0;
    } else {
        end = strchr(host, ':');
        if (end) *end = 0;
    }
    if (!strcasecmp(host, "localhost")) return true;
    if (!strcmp(host, "[::1]")) return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* The admin credential: X-Hearth-Admin holding the admin token (compared as SHA-256 digests in
 * constant time, like the API keys). A browser cannot send a custom header cross-origin
 * without a preflight, which this server never grants for it. */
static bool admin_ok(srv_http *h, struct MHD_Connection *conn) {
    if (!h->has_admin) return false;
    const char *tok;
    size_t len;
    if (srv_admin_header_parse(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, SRV_ADMIN_HEADER), &tok, &len))
        return false;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, len, d);
    return CRYPTO_memcmp(d, h->admin_digest, sizeof d) == 0;
}

static bool auth_ok(srv_http *h, struct MHD_Connection *conn, bool admin) {
    if (h->n_keys == 0 || admin) return true; /* the admin credential also stands for a key */
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) return false;
    a += 7;
    while (*a == ' ') a++;
    /* Compare SHA-256 digests in constant time: neither the key length nor its content
     * leaks through timing. */
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)a, strlen(a), d);
    bool ok = false;
    for (int i = 0; i < h->n_keys; i++) ok |= CRYPTO_memcmp(d, h->key_digest[i], sizeof d) == 0;
    return ok;
}

/* ---- request deadline (slow clients) ----
 *
 * libmicrohttpd's idle timeout closes a connection that sends nothing, but a client that
 * dribbles one byte every few seconds resets it forever. So every connection is tracked from
 * the moment it opens (or its previous request ended) until its request is complete (line,
 * headers and body): past --request-timeout the reaper shuts the socket down and MHD closes it.
 * A tracked entry is removed (under track_mu) before MHD closes the socket, so the reaper never
 * touches a reused descriptor. */

struct http_track {
    int fd;
    bool armed;
    double deadline;
    struct http_track *prev, *next;
};

static void track_arm(srv_http *h, struct http_track *t, bool on) {
    if (!t) return;
    pthread_mutex_lock(&h->track_mu);
    t->armed = on;
    t->deadline = http_now() + h->request_timeout;
    pthread_mutex_unlock(&h->track_mu);
}

static struct http_track *conn_track(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    srv_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci) return;
        struct http_track *t = xcalloc(1, sizeof *t);
        t->fd = ci->connect_fd;
        t->armed = true;
        pthread_mutex_lock(&h->track_mu);
        t->deadline = http_now() + h->request_timeout;
        t->next = h->tracked;
        if (h->tracked) h->tracked->prev = t;
        h->tracked = t;
        pthread_mutex_unlock(&h->track_mu);
        *socket_context = t;
        return;
    }
    struct http_track *t = *socket_context;
    if (!t) return;
    pthread_mutex_lock(&h->track_mu);
    if (t->prev) t->prev->next = t->next;
    else h->tracked = t->next;
    if (t->next) t->next->prev = t->prev;
    pthread_mutex_unlock(&h->track_mu);
    free(t);
    *socket_context = NULL;
}

static void *reaper_main(void *arg) {
    srv_http *h = arg;
    pthread_mutex_lock(&h->track_mu);
    while (!__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&h->track_cv, &h->track_mu, &ts);
        double now = http_now();
        for (struct http_track *t = h->tracked; t; t = t->next) {
            if (t->armed && now > t->deadline) {
                t->armed = false;
                log_debug("serve: closing a connection whose request did not arrive within %.0f s", h->request_timeout);
                shutdown(t->fd, SHUT_RDWR);
            }
        }
    }
    pthread_mutex_unlock(&h->track_mu);
    return NULL;
}

/* ---- routing ---- */

static const char R_HEALTH[] = "/health", R_METRICS[] = "/metrics", R_MODELS[] = "/v1/models",
                  R_CHAT[] = "/v1/chat/completions", R_COMPL[] = "/v1/completions", R_OCHAT[] = "/api/chat",
                  R_OGEN[] = "/api/generate", R_TAGS[] = "/api/tags", R_SHOW[] = "/api/show", R_PS[] = "/api/ps",
                  R_VERSION[] = "/api/version", R_SWAP[] = "/admin/swap", R_ROOT[] = "/", R_GUARD[] = "/v1/guard/check", R_UI[] = "/ui/", R_OTHER[] = "other",
                  R_RESP[] = "/v1/responses", R_TOK[] = "/tokenize", R_DETOK[] = "/detokenize",
                  R_EMB[] = "/v1/embeddings", R_OEMBED[] = "/api/embed", R_OEMBEDDINGS[] = "/api/embeddings",
                  R_RERANK[] = "/v1/rerank", R_RERANK2[] = "/rerank", R_RERANK3[] = "/v1/reranking",
                  R_RERANK4[] = "/reranking",
                  R_CREATE[] = "/api/create", R_COPY[] = "/api/copy", R_DELETE[] = "/api/delete", R_PULL[] = "/api/pull",
                  R_PUSH[] = "/api/push", R_LORA[] = "/lora-adapters";

typedef struct {
    const char *path;
    const char *method;
    bool prefix; /* /v1/models/{id} */
    bool ollama;
    bool needs_model; /* 503 while loading */
} route;

static const route routes[] = {
    {R_HEALTH, "GET", false, false, false},  {R_METRICS, "GET", false, false, false},
    {R_MODELS, "GET", false, false, true},   {R_CHAT, "POST", false, false, true},
    {R_COMPL, "POST", false, false, true},   {R_OCHAT, "POST", false, true, true},
    {R_OGEN, "POST", false, true, true},     {R_TAGS, "GET", false, true, true},
    {R_SHOW, "POST", false, true, true},     {R_PS, "GET", false, true, true},
    {R_VERSION, "GET", false, true, false},  {R_SWAP, "POST", false, false, true},
    {R_ROOT, "GET", false, true, false},     {R_GUARD, "POST", false, false, false},
    {R_RESP, "POST", false, false, true},    {R_TOK, "POST", false, false, true},
    {R_DETOK, "POST", false, false, true},
    {R_EMB, "POST", false, false, true},     {R_OEMBED, "POST", false, true, true},
    {R_OEMBEDDINGS, "POST", false, true, true}, {R_RERANK, "POST", false, false, true},
    {R_RERANK2, "POST", false, false, true}, {R_RERANK3, "POST", false, false, true},
    {R_RERANK4, "POST", false, false, true},
    {R_CREATE, "POST", false, true, true},   {R_COPY, "POST", false, true, true},
    {R_DELETE, "DELETE", false, true, true}, {R_PULL, "POST", false, true, false},
    {R_PUSH, "POST", false, true, false},
    {R_LORA, "GET", false, false, true},
    {R_UI, "GET", true, false, false},
};

static const route *find_route(const char *url, bool *method_ok, const char *method) {
    *method_ok = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!strcmp(url, routes[i].path)) {
            *method_ok = !strcmp(method, routes[i].method) || (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET"));
            return &routes[i];
        }
    }
    if (!strncmp(url, "/v1/models/", 11) && url[11]) {
        *method_ok = !strcmp(method, "GET");
        return &routes[2];
    }
    if (!strncmp(url, "/ui/", 4)) {
        *method_ok = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (routes[i].path == R_UI) return &routes[i];
    }
    return NULL;
}

static enum MHD_Result dispatch(http_req *q, const char *url, const char *method) {
    srv_http *h = q->h;
    q->fail_mark = he_alloc_failures();
    bool method_ok;
    const route *rt = find_route(url, &method_ok, method);
    q->route = rt ? rt->path : R_OTHER;
    q->ollama = rt ? rt->ollama : !strncmp(url, "/api/", 5);
    if (!strcmp(method, "OPTIONS")) {
        char *e = xstrdup("");
        return http_respond(q, h->cors_origin ? 204 : 405, NULL, e, 0);
    }
    if (!rt) return http_error(q, 404, NULL, "not_found", "Unknown route: %s %s", method, url);
    if (!method_ok) return http_error(q, 405, NULL, "method_not_allowed", "Method %s is not allowed on %s", method, url);
    if (rt->path == R_HEALTH) {
        bool ready = __atomic_load_n(&h->ready, __ATOMIC_ACQUIRE);
        return http_respond_json(q, ready ? 200 : 503, json_pack("{s:s}", "status", ready ? "ok" : "loading"));
    }
    if (q->ui) return respond_ui(q);
    if (rt->path == R_UI) return http_error(q, 404, NULL, "not_found", "Unknown route: %s %s", method, url);
    if (rt->path == R_ROOT) return http_respond(q, 200, "text/plain", xstrdup("hearth is running"), 17);
    if (rt->path == R_VERSION) return http_respond_json(q, 200, json_pack("{s:s}", "version", HEARTH_SERVER_VERSION));
    if (rt->path == R_METRICS) {
        size_t len;
        char *t = metrics_text(h, &len);
        return http_respond(q, 200, "text/plain; version=0.0.4", t, len);
    }
    bool embed_route = rt->path == R_EMB || rt->path == R_OEMBED || rt->path == R_OEMBEDDINGS ||
                       rt->path == R_RERANK || rt->path == R_RERANK2 || rt->path == R_RERANK3 ||
                       rt->path == R_RERANK4;
    if (rt->path == R_CHAT || rt->path == R_COMPL || rt->path == R_OCHAT || rt->path == R_OGEN || rt->path == R_SWAP ||
        rt->path == R_CREATE || rt->path == R_COPY || rt->path == R_DELETE || embed_route) {
        /* The request is in: from here the connection is busy, not idle, however long the
         * generation (or swap) takes. libmicrohttpd would otherwise close it once our handler
         * or content reader has been blocked longer than the idle timeout. A client that goes
         * away is still noticed (routes.c: the pump watches the socket) and its job cancelled. */
        MHD_set_connection_option(q->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
    }
    if (rt->needs_model && !__atomic_load_n(&h->ready, __ATOMIC_ACQUIRE))
        return http_error(q, 503, NULL, "loading", "The server is loading its models; retry shortly.");
    if (rt->path == R_MODELS) return route_models(q, url[10] == '/' ? url + 11 : NULL);
    if (rt->path == R_CHAT) return route_generate(q, SRV_API_CHAT);
    if (rt->path == R_COMPL) return route_generate(q, SRV_API_COMPLETION);
    if (rt->path == R_OCHAT) return route_generate(q, SRV_API_OLLAMA_CHAT);
    if (rt->path == R_OGEN) return route_generate(q, SRV_API_OLLAMA_GENERATE);
    if (rt->path == R_TAGS) return route_tags(q, false);
    if (rt->path == R_PS) return route_tags(q, true);
    if (rt->path == R_SHOW) return route_show(q);
    if (rt->path == R_SWAP) return route_swap(q);
    if (rt->path == R_GUARD) return route_guard(q);
    if (rt->path == R_RESP) return route_generate(q, SRV_API_RESPONSES);
    if (rt->path == R_TOK) return route_tokenize(q);
    if (rt->path == R_DETOK) return route_detokenize(q);
    if (rt->path == R_EMB) return route_embeddings(q, SRV_EMBED_OPENAI);
    if (rt->path == R_OEMBED) return route_embeddings(q, SRV_EMBED_OLLAMA);
    if (rt->path == R_OEMBEDDINGS) return route_embeddings(q, SRV_EMBED_OLLAMA_LEGACY);
    if (embed_route) return route_rerank(q);
    if (rt->path == R_CREATE) return route_create(q);
    if (rt->path == R_COPY) return route_copy_delete(q, false);
    if (rt->path == R_DELETE) return route_copy_delete(q, true);
    if (rt->path == R_PULL || rt->path == R_PUSH) return route_pull_push(q, rt->path == R_PUSH);
    if (rt->path == R_LORA) return route_lora_adapters(q);
    return http_error(q, 404, NULL, "not_found", "Unknown route: %s %s", method, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_http *h = cls;
    http_req *q = *con_cls;
    if (!q) {
        q = xcalloc(1, sizeof *q);
        q->h = h;
        q->conn = conn;
        q->t0 = http_now();
        bool method_ok;
        const route *rt = find_route(url, &method_ok, method);
        q->route = rt ? rt->path : R_OTHER; /* early refusals are counted under their route */
        q->ollama = rt ? rt->ollama : !strncmp(url, "/api/", 5);
        *con_cls = q;
        char em[LOG_ESC_CAP], eu[LOG_ESC_CAP]; /* the path is the client's: escaped (log.h) */
        log_debug("serve: %s %s", log_esc(method, em, sizeof em), log_esc(url, eu, sizeof eu));
        /* Checks that need no body answer before it is read. */
        const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
        if (h->loopback && !srv_host_header_ok(host))
            return http_error(q, 403, NULL, "forbidden_host",
                              "Host header not allowed: this server only answers to localhost names.");
        /* A web page of another origin: refused before any work (websafe.h). Clients outside a
         * browser send no Origin. */
        if (!srv_origin_allowed(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"), host, h->cors_origin))
            return http_error(q, 403, NULL, "forbidden_origin",
                              "Origin not allowed: this server answers only its own origin and --cors-origin.");
        q->admin = admin_ok(h, conn);
        /* The chat page and its files are public (they hold no data; the page asks for the API
         * key itself), so a browser can load it before it knows the key. "/" is the page only
         * for a browser (Accept: text/html); other clients keep "hearth is running". */
        if (h->ui && (!strcmp(method, "GET") || !strcmp(method, "HEAD")) &&
            (strcmp(url, "/") != 0 || srv_accepts_html(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept"))))
            q->ui = srv_webui_find(url);
        if (strcmp(url, "/health") != 0 && !q->ui && strcmp(method, "OPTIONS") != 0 && !auth_ok(h, conn, q->admin))
            return http_error(q, 401, NULL, "invalid_api_key",
                              "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.");
        /* Every body is JSON, and only a JSON Content-Type is accepted: the types a page may
         * send cross-origin without a preflight (text/plain, forms) are refused unread. */
        bool body_method = !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH") ||
                           !strcmp(method, "DELETE");
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        /* a DELETE may come without a body (and then without a type) */
        bool has_body = strcmp(method, "DELETE") != 0 || ct || (cl && strcmp(cl, "0") != 0) ||
                        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
        if (body_method && has_body && !srv_media_type_is_json(ct))
            return http_error(q, 415, NULL, "unsupported_media_type",
                              "Unsupported Content-Type: send the body as JSON with 'Content-Type: application/json'.");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > h->max_body)
                return http_error(q, 413, NULL, "request_too_large", "The request body exceeds the limit of %zu bytes.",
                                  h->max_body);
        }
        return MHD_YES;
    }
    if (q->gen) {
        q->fail_mark = he_alloc_failures();
        return route_generate_resume(q);
    }
    if (q->swap) return route_swap_resume(q);
    if (q->mtask) return route_manage_resume(q);
    if (q->status) { /* already answered (early error): drop any body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!q->too_large) {
            if (q->len + *upload_size > h->max_body) {
                q->too_large = true;
                free(q->body);
                q->body = NULL;
                q->len = 0;
            } else {
                if (q->len + *upload_size + 1 > q->cap) {
                    size_t cap = (q->len + *upload_size + 1) * 2;
                    if (cap > h->max_body + 1) cap = h->max_body + 1;
                    char *b = he_realloc(q->body, cap);
                    if (!b) { /* out of memory: drop the body, answer 503 once it is in */
                        q->too_large = q->nomem = true;
                        free(q->body);
                        q->body = NULL;
                        q->len = q->cap = 0;
                        *upload_size = 0;
                        return MHD_YES;
                    }
                    q->body = b;
                    q->cap = cap;
                }
                memcpy(q->body + q->len, upload, *upload_size);
                q->len += *upload_size;
                q->body[q->len] = 0;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    track_arm(h, conn_track(conn), false); /* the whole request is in */
    if (q->nomem) return http_error_nomem(q);
    if (q->too_large)
        return http_error(q, 413, NULL, "request_too_large", "The request body exceeds the limit of %zu bytes.",
                          h->max_body);
    return dispatch(q, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    srv_http *h = cls;
    http_req *q = *con_cls;
    if (!q) return;
    route_generate_abandon(q);
    route_swap_abandon(q);
    route_manage_abandon(q);
    /* keep-alive: the next request on this connection has its own deadline */
    track_arm(h, conn_track(conn), true);
    if (q->status) metrics_request(h, q->route, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK || q->status != 200 ? q->status : 499);
    free(q->body);
    free(q);
    *con_cls = NULL;
}

/* ---- lifecycle ---- */

/* libmicrohttpd's own messages (mostly "client went away while we were sending") are debug
 * noise for a server whose clients may hang up at any time. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = 0;
    char e[LOG_ESC_CAP * 2]; /* the message may quote the client's request */
    log_debug("serve: microhttpd: %s", log_esc(msg, e, sizeof e));
}

srv_http *srv_http_start(const srv_http_config *cfg, srv_registry *reg, he_error *err) {
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    bool loopback = srv_host_is_loopback(host);
    if (!loopback && cfg->n_api_keys == 0) {
        he_fail(err, HE_INVALID,
                "serve: refusing to listen on non-loopback host '%s' without an API key (--api-key or --api-key-file)",
                host);
        return NULL;
    }
    srv_origin co;
    if (cfg->cors_origin && srv_origin_parse(cfg->cors_origin, &co)) {
        he_fail(err, HE_INVALID, "serve: --cors-origin must name one origin (e.g. http://localhost:3000), not '%s'",
                cfg->cors_origin);
        return NULL;
    }
    if (cfg->n_api_keys > HTTP_MAX_KEYS) {
        he_fail(err, HE_LIMIT, "serve: at most %d API keys", HTTP_MAX_KEYS);
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    const char *lookup = !strcmp(host, "localhost") ? "127.0.0.1" : host;
    int gr = getaddrinfo(lookup, port, &hints, &ai);
    if (gr != 0 || !ai) {
        he_fail(err, HE_INVALID, "serve: cannot resolve host '%s': %s", host, gai_strerror(gr));
        return NULL;
    }
    static pthread_once_t json_once = PTHREAD_ONCE_INIT;
    pthread_once(&json_once, json_use_gateway);
    srv_http *h = xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->pump_mu, NULL);
    pthread_cond_init(&h->pump_cv, NULL);
    h->reg = reg;
    h->loopback = loopback;
    h->ui = !cfg->no_ui;
    h->max_body = cfg->max_body ? cfg->max_body : (size_t)32 << 20;
    h->cors_origin = cfg->cors_origin ? xstrdup(cfg->cors_origin) : NULL;
    h->n_keys = cfg->n_api_keys;
    for (int i = 0; i < cfg->n_api_keys; i++)
        SHA256((const unsigned char *)cfg->api_keys[i], strlen(cfg->api_keys[i]), h->key_digest[i]);
    h->request_timeout = cfg->request_timeout ? cfg->request_timeout : 30;
    if (cfg->admin_key && cfg->admin_key[0]) {
        h->has_admin = true;
        SHA256((const unsigned char *)cfg->admin_key, strlen(cfg->admin_key), h->admin_digest);
    }
    h->model_dirs = xcalloc((size_t)cfg->n_model_dirs + 1, sizeof *h->model_dirs);
    for (int i = 0; i < cfg->n_model_dirs; i++) {
        char real[PATH_MAX];
        if (realpath(cfg->model_dirs[i], real)) h->model_dirs[h->n_model_dirs++] = xstrdup(real);
        else log_warn("serve: model directory %s: %s (skipped)", cfg->model_dirs[i], strerror(errno));
    }
    if (http_swap_worker_start(h)) log_warn("serve: cannot start the swap thread; /admin/swap answers 429");
    http_store_start(h, cfg);
    if (http_store_worker_start(h)) log_warn("serve: cannot start the store manager thread; loads answer 429");
    pthread_mutex_init(&h->track_mu, NULL);
    pthread_cond_init(&h->track_cv, NULL);
    if (http_guard_start(h, cfg->guard_workspace, cfg->guard_policy, err)) {
        freeaddrinfo(ai);
        srv_http_stop(h);
        return NULL;
    }
    /* Idle connections cost a socket and a 16 KiB buffer, not a thread: allow many, within the
     * open-file limit (raised to its hard maximum; some are kept for model files and pumps). */
    unsigned max_conn = cfg->max_connections ? cfg->max_connections : 8192u;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max_conn * 2 + 256)
            max_conn = rl.rlim_cur > 512 ? (unsigned)((rl.rlim_cur - 256) / 2) : 128u;
    }
    unsigned per_ip = cfg->per_ip_limit ? cfg->per_ip_limit : loopback ? 0u : 256u;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* A pool of epoll threads answers everyone; generations park their connection (suspend)
     * while waiting for tokens (routes.c). Connections idle for idle_timeout are dropped, and a
     * request that has not fully arrived within request_timeout is cut (reaper_main). The
     * 16 KiB per-connection buffer bounds the request line and headers (414/431). */
    h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                            NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_THREAD_POOL_SIZE,
                            cfg->http_threads ? cfg->http_threads : 4u, MHD_OPTION_CONNECTION_LIMIT, max_conn,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
                            cfg->idle_timeout ? cfg->idle_timeout : 10u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)16 * 1024, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (h->d) {
        if (pthread_create(&h->reaper, NULL, reaper_main, h) == 0) h->reaper_started = true;
        else log_warn("serve: cannot start the request-deadline thread; slow clients are only cut when idle");
        log_debug("serve: HTTP: %u connections, %u per address (0: no limit), idle %u s, request %u s", max_conn, per_ip,
                  cfg->idle_timeout ? cfg->idle_timeout : 10u, (unsigned)h->request_timeout);
    }
    freeaddrinfo(ai);
    if (!h->d) {
        he_fail(err, HE_IO, "serve: cannot listen on %s:%d (%s)", host, cfg->port, strerror(errno));
        srv_http_stop(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->port;
    return h;
}

int srv_http_port(const srv_http *h) { return h->port; }

void srv_http_set_ready(srv_http *h, bool ready) { __atomic_store_n(&h->ready, ready, __ATOMIC_RELEASE); }

void srv_http_stop(srv_http *h) {
    if (!h) return;
    /* Running generations notice this within one wait and end, so the connection threads
     * MHD_stop_daemon joins do not wait for long outputs to finish. Set under pump_mu: a pump
     * that starts after this point is refused (routes.c gen_start_pump). */
    pthread_mutex_lock(&h->pump_mu);
    __atomic_store_n(&h->stopping, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&h->pump_mu);
    if (h->reaper_started) {
        pthread_mutex_lock(&h->track_mu);
        pthread_cond_broadcast(&h->track_cv);
        pthread_mutex_unlock(&h->track_mu);
        pthread_join(h->reaper, NULL);
    }
    /* The swap worker answers its queue and resumes those connections. Each pump sees
     * `stopping` within one wait (WAIT_MS), cancels its job and resumes its connection; MHD
     * must not be stopped while connections are still parked, and h must not be freed
     * while a pump can still read it, so wait for every one, however long. */
    http_swap_worker_stop(h);
    http_store_stop(h);
    pthread_mutex_lock(&h->pump_mu);
    while (h->pumps > 0) pthread_cond_wait(&h->pump_cv, &h->pump_mu);
    pthread_mutex_unlock(&h->pump_mu);
    if (h->d) MHD_stop_daemon(h->d);
    http_store_free(h);
    http_guard_stop(h);
    pthread_mutex_destroy(&h->pump_mu);
    pthread_cond_destroy(&h->pump_cv);
    pthread_mutex_destroy(&h->track_mu);
    pthread_cond_destroy(&h->track_cv);
    pthread_mutex_destroy(&h->mu);
    free(h->cors_origin);
    for (int i = 0; i < h->n_model_dirs; i++) free(h->model_dirs[i]);
    free(h->model_dirs);
    OPENSSL_cleanse(h->admin_digest, sizeof h->admin_digest);
    free(h);
}
