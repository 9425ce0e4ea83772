/* httpc.h — a small HTTP/1.1 client for OpenAI-compatible endpoints (http:// only).
 *
 * One request per connection (Connection: close): connect with a timeout, send, then read the
 * response through httpc_reader, an incremental parser that never trusts the peer — the status
 * line and headers are capped, Content-Length and chunked bodies are decoded, the body is capped,
 * and a text/event-stream body can be handed to an SSE reader that calls back once per event's
 * `data:`. Everything from the socket is untrusted; every buffer has a cap. https:// is refused
 * with a clear message (put a local TLS-terminating proxy in front, or use plain http on
 * loopback). Used by `hearth agent` and `hearth swap`. */
#ifndef HEARTH_CLIENT_HTTPC_H
#define HEARTH_CLIENT_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* ---- URLs ---- */

typedef struct {
    char host[256];  /* without brackets for an IPv6 literal */
    char port[8];    /* "80" when the URL names none */
    char path[2048]; /* the base path without a trailing '/', "" for none */
    bool ipv6;
} httpc_url;

/* Parses "http://host[:port][/base]". https:// and other schemes fail with HE_UNSUPPORTED. */
int httpc_url_parse(const char *url, httpc_url *out, he_error *err);

/* ---- SSE (text/event-stream) ---- */

/* Called once per event with the event's data lines joined by '\n' (NUL-terminated, borrowed
 * until the callback returns). Return non-zero to stop reading. */
typedef int (*httpc_sse_fn)(const char *data, size_t len, void *user);

typedef struct {
    httpc_sse_fn fn;
    void *user;
    size_t max_event; /* bytes of one event's data; 0: 8 MiB */
    char *line;       /* the line being read (owned) */
    size_t line_len, line_cap;
    char *data; /* the event being built (owned) */
    size_t data_len, data_cap;
    bool has_data;
    bool last_cr; /* the previous byte ended a line with '\r' (a '\n' after it is skipped) */
    bool stopped; /* the callback asked to stop */
} httpc_sse;

void httpc_sse_init(httpc_sse *s, httpc_sse_fn fn, void *user, size_t max_event);
void httpc_sse_deinit(httpc_sse *s);
/* Feeds body bytes. Returns 0, 1 when the callback asked to stop, -1 on a limit (err). */
int httpc_sse_feed(httpc_sse *s, const char *buf, size_t n, he_error *err);
/* The stream ended: dispatches an event left without its blank line. Same returns. */
int httpc_sse_finish(httpc_sse *s, he_error *err);

/* ---- Responses ---- */

typedef struct {
    size_t max_header; /* status line + headers; 0: 64 KiB */
    size_t max_body;   /* decoded body bytes kept (or streamed); 0: 16 MiB */
    httpc_sse *sse; /* when set and the response is a 2xx text/event-stream, the body goes here */
    bool head;      /* the request was HEAD: no body */
    /* state (read these after the reader completes) */
    int status;
    char content_type[128];
    bool is_sse; /* the body went to sse */
    char *body;  /* the decoded body when not streamed (owned, NUL-terminated) */
    size_t body_len, body_cap;
    /* parser internals */
    int state;
    char *hdr;
    size_t hdr_len;
    bool chunked, has_length;
    unsigned long long length, left;
    char line[64]; /* a chunk-size or trailer line */
    size_t line_len;
    bool line_long; /* a trailer line longer than line (skipped) */
    size_t trailer_bytes;
} httpc_reader;

void httpc_reader_init(httpc_reader *r, httpc_sse *sse, size_t max_header, size_t max_body);
void httpc_reader_deinit(httpc_reader *r);
/* Feeds bytes from the socket. Returns 0 (more needed), 1 (the response is complete; later bytes
 * are ignored), 2 (the SSE callback asked to stop) or -1 (malformed or over a cap; err). */
int httpc_reader_feed(httpc_reader *r, const char *buf, size_t n, he_error *err);
/* The peer closed the connection: returns 1 when that ends a valid response (a body read to
 * EOF), -1 for a truncated one. */
int httpc_reader_eof(httpc_reader *r, he_error *err);

/* ---- Requests ---- */

typedef struct {
    const char *api_key;      /* sent as "Authorization: Bearer KEY"; NULL/"" for none */
    const char *extra_header; /* one more "Name: value" line (no CRLF), or NULL */
    int connect_timeout_ms;   /* 0: 10000 */
    int idle_timeout_ms;      /* the longest silence while reading; 0: 300000 */
    double total_timeout_s;   /* the whole exchange; 0: none beyond idle_timeout_ms */
    size_t max_body;          /* 0: 16 MiB */
    volatile int *cancel;     /* when non-NULL and set, the read stops (err HE_RUNTIME) */
} httpc_opts;

typedef struct {
    int status;
    char content_type[128];
    char *body; /* owned, NUL-terminated ("" for none or when streamed) */
    size_t body_len;
    bool streamed; /* the body went to the SSE callback */
} httpc_response;

/* Sends METHOD base.path + path with body (Content-Type: application/json when body != NULL) and
 * reads the response. When sse_fn is set and the server answers 2xx text/event-stream, each event
 * goes to sse_fn; otherwise the body is collected. Returns 0 with *out filled (any HTTP status),
 * -1 on a network, timeout or protocol error (err). Free out with httpc_response_free. */
int httpc_request(const httpc_url *base, const char *method, const char *path, const char *body,
                  size_t body_len, const httpc_opts *o, httpc_sse_fn sse_fn, void *user,
                  httpc_response *out, he_error *err);
void httpc_response_free(httpc_response *r);

/* The message of an OpenAI-style ({"error": {"message": ...}}) or Ollama-style ({"error": "..."})
 * error body, else NULL. Borrowed from body (copied into buf, at most cap-1 bytes). */
const char *httpc_error_message(const char *body, size_t len, char *buf, size_t cap);

#endif
