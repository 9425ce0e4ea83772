/* test_client.c — the HTTP client (client/httpc.h): URL parsing, the response reader over
 * responses fed whole and one byte at a time (Content-Length, chunked, to-EOF, 1xx, caps,
 * malformed heads), the SSE reader (line endings, multi-line data, comments, split events), and
 * httpc_request against a one-shot server on a loopback socket. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/httpc.h"

Test(client, url_parse) {
    httpc_url u;
    cr_assert_eq(httpc_url_parse("http://127.0.0.1:8080", &u, NULL), 0);
    cr_expect_str_eq(u.host, "127.0.0.1");
    cr_expect_str_eq(u.port, "8080");
    cr_expect_str_eq(u.path, "");
    cr_assert_eq(httpc_url_parse("http://localhost/v1/", &u, NULL), 0);
    cr_expect_str_eq(u.port, "80");
    cr_expect_str_eq(u.path, "/v1");
    cr_assert_eq(httpc_url_parse("http://[::1]:9/x", &u, NULL), 0);
    cr_expect_str_eq(u.host, "::1");
    cr_expect(u.ipv6);
    he_error e;
    cr_expect_eq(httpc_url_parse("https://api.example.com", &u, &e), -1);
    cr_expect_eq(e.code, HE_UNSUPPORTED);
    cr_expect(strstr(e.msg, "https is not supported"));
    const char *bad[] = {"ftp://x",           "http://",     "http://:80",   "http://h:0",
                         "http://h:65536",    "http://h:8a", "http://u@h",   "http://h/a b",
                         "http://h/\r\nX: y", "http://[::1", "http://h?q=1", NULL};
    for (int i = 0; bad[i]; i++)
        cr_expect_eq(httpc_url_parse(bad[i], &u, NULL), -1, "%s", bad[i]);
}

/* ---- the reader ---- */

typedef struct {
    char buf[4096];
    size_t len;
    int n;
} events;

static int on_event(const char *data, size_t len, void *user) {
    events *ev = user;
    cr_assert_eq(data[len], 0);
    ev->len +=
        (size_t)snprintf(ev->buf + ev->len, sizeof ev->buf - ev->len, "[%.*s]", (int)len, data);
    ev->n++;
    return 0;
}

/* Feeds s whole (step 0) or in pieces of step bytes; returns the final reader status. */
static int feed(const char *s, size_t step, httpc_reader *r, httpc_sse *sse, events *ev,
                size_t max_body) {
    memset(ev, 0, sizeof *ev);
    httpc_sse_init(sse, on_event, ev, 64);
    httpc_reader_init(r, sse, 256, max_body);
    size_t n = strlen(s);
    int rc = 0;
    if (!step) step = n ? n : 1;
    for (size_t off = 0; off < n && rc == 0; off += step)
        rc = httpc_reader_feed(r, s + off, n - off < step ? n - off : step, NULL);
    if (rc == 0) rc = httpc_reader_eof(r, NULL);
    return rc;
}

typedef struct {
    const char *resp;
    int rc;
    int status;
    const char *body;   /* expected kept body, or NULL */
    const char *events; /* expected SSE events, or NULL */
} reader_case;

static const reader_case cases[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 1, 200, "hello", NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", 1, 200, "hello", NULL},
    {"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"e\":1}", 1, 404,
     "{\"e\":1}", NULL},
    {"HTTP/1.0 200 OK\n\nbody-to-eof", 1, 200, "body-to-eof", NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: "
     "1\r\n\r\n",
     1, 200, "abcde", NULL},
    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 1, 201,
     "ok", NULL},
    {"HTTP/1.1 204 No Content\r\n\r\n", 1, 204, NULL, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\ndata: b\r\ndata: "
     "c\r\n\r\n: hi\n\ndata:d\r\rdata: [DONE]\n\n",
     1, 200, NULL, "[a][b\nc][d][[DONE]]"},
    {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: "
     "chunked\r\n\r\n"
     "4\r\ndata\r\n6\r\n: x\n\n\r\n0\r\n\r\n",
     1, 200, NULL, "[x]"},
    /* an event stream on an error status is a body, not events */
    {"HTTP/1.1 500 Oops\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: x\n\n",
     1, 500, "data: x\n\n", NULL},
    /* malformed or over a cap */
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", -1, 0, NULL, NULL},
    {"HTTP/2 200\r\n\r\n", -1, 0, NULL, NULL},
    {"HTTP/1.1 2000 OK\r\n\r\n", -1, 0, NULL, NULL},
    {"garbage\r\n\r\n", -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n", -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", -1, 0, NULL,
     NULL},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\n folded\r\n\r\n", -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\nX: "
     "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012"
     "3456789"
     "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012"
     "3456789"
     "01234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n",
     -1, 0, NULL, NULL},
    {"HTTP/1.1 200 OK\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789",
     -1, 0, NULL, NULL}, /* body cap 128 */
    {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: "
     "01234567890123456789012345678901234567890123456789012345678901234567890123456789\n\n",
     -1, 0, NULL, NULL}, /* event cap 64 */
    {"", -1, 0, NULL, NULL},
};

Test(client, reader_table) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const reader_case *c = &cases[i];
        size_t steps[] = {0, 1, 2, 7};
        for (size_t k = 0; k < 4; k++) {
            httpc_reader r;
            httpc_sse sse;
            events ev;
            int rc = feed(c->resp, steps[k], &r, &sse, &ev, 128);
            cr_expect_eq(rc, c->rc, "case %zu step %zu: rc %d", i, steps[k], rc);
            if (c->rc == 1) {
                cr_expect_eq(r.status, c->status, "case %zu", i);
                if (c->body)
                    cr_expect(r.body && !strcmp(r.body, c->body), "case %zu step %zu: body '%s'", i,
                              steps[k], r.body ? r.body : "(null)");
                if (c->events)
                    cr_expect_str_eq(ev.buf, c->events, "case %zu step %zu", i, steps[k]);
                if (!c->body && !c->events) cr_expect_eq(r.body_len, 0, "case %zu", i);
            }
            httpc_reader_deinit(&r);
            httpc_sse_deinit(&sse);
        }
    }
}

static int stop_after_one(const char *data, size_t len, void *user) {
    (void)data;
    (void)len;
    ++*(int *)user;
    return 1;
}

Test(client, sse_callback_stops) {
    httpc_sse sse;
    int n = 0;
    httpc_sse_init(&sse, stop_after_one, &n, 0);
    httpc_reader r;
    httpc_reader_init(&r, &sse, 0, 0);
    const char *s =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n";
    cr_expect_eq(httpc_reader_feed(&r, s, strlen(s), NULL), 2);
    cr_expect_eq(n, 1);
    httpc_reader_deinit(&r);
    httpc_sse_deinit(&sse);
}

/* ---- httpc_request against a one-shot loopback server ---- */

typedef struct {
    int lfd;
    const char *reply;
    char request[8192];
} one_shot;

static void *serve_one(void *arg) {
    one_shot *o = arg;
    int fd = accept(o->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    size_t n = 0;
    for (;;) { /* read the head and the body (Content-Length) */
        ssize_t r = recv(fd, o->request + n, sizeof o->request - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        o->request[n] = 0;
        char *end = strstr(o->request, "\r\n\r\n");
        if (!end) continue;
        const char *cl = strstr(o->request, "Content-Length: ");
        size_t want = cl ? (size_t)atoi(cl + 16) : 0;
        if (n - (size_t)(end + 4 - o->request) >= want) break;
    }
    send(fd, o->reply, strlen(o->reply), MSG_NOSIGNAL);
    close(fd);
    return NULL;
}

static int start_one_shot(one_shot *o, pthread_t *t) {
    o->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert_eq(bind(o->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(o->lfd, 1), 0);
    getsockname(o->lfd, (struct sockaddr *)&a, &al);
    pthread_create(t, NULL, serve_one, o);
    return ntohs(a.sin_port);
}

Test(client, request_json_and_sse) {
    one_shot o = {.reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                           "11\r\n\r\n{\"ok\":true}"};
    pthread_t t;
    int port = start_one_shot(&o, &t);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    httpc_url u;
    cr_assert_eq(httpc_url_parse(url, &u, NULL), 0);
    httpc_opts opts = {.api_key = "sk-test", .idle_timeout_ms = 5000};
    httpc_response resp;
    he_error e;
    cr_assert_eq(httpc_request(&u, "POST", "/chat/completions", "{\"a\":1}", 7, &opts, NULL, NULL,
                               &resp, &e),
                 0, "%s", e.msg);
    pthread_join(t, NULL);
    close(o.lfd);
    cr_expect_eq(resp.status, 200);
    cr_expect_str_eq(resp.body, "{\"ok\":true}");
    cr_expect(strstr(o.request, "POST /v1/chat/completions HTTP/1.1\r\n"));
    cr_expect(strstr(o.request, "Authorization: Bearer sk-test\r\n"));
    cr_expect(strstr(o.request, "Content-Type: application/json\r\n"));
    cr_expect(strstr(o.request, "\r\n\r\n{\"a\":1}"));
    httpc_response_free(&resp);

    one_shot o2 = {.reply = "HTTP/1.1 200 OK\r\nContent-Type: "
                            "text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "8\r\ndata: x\n\r\n1\r\n\n\r\n0\r\n\r\n"};
    port = start_one_shot(&o2, &t);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    cr_assert_eq(httpc_url_parse(url, &u, NULL), 0);
    events ev = {0};
    cr_assert_eq(httpc_request(&u, "GET", "/stream", NULL, 0, &opts, on_event, &ev, &resp, &e), 0,
                 "%s", e.msg);
    pthread_join(t, NULL);
    close(o2.lfd);
    cr_expect(resp.streamed);
    cr_expect_str_eq(ev.buf, "[x]");
    httpc_response_free(&resp);
}

Test(client, request_refuses_header_injection_and_times_out) {
    httpc_url u;
    cr_assert_eq(httpc_url_parse("http://127.0.0.1:9", &u, NULL), 0);
    httpc_opts bad = {.api_key = "k\r\nX-Evil: 1"};
    httpc_response resp;
    cr_expect_eq(httpc_request(&u, "GET", "/", NULL, 0, &bad, NULL, NULL, &resp, NULL), -1);
    /* a server that accepts and says nothing: the idle timeout ends the wait */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(lfd, (struct sockaddr *)&a, sizeof a);
    listen(lfd, 1);
    getsockname(lfd, (struct sockaddr *)&a, &al);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    cr_assert_eq(httpc_url_parse(url, &u, NULL), 0);
    httpc_opts quick = {.idle_timeout_ms = 300};
    he_error e;
    cr_expect_eq(httpc_request(&u, "GET", "/", NULL, 0, &quick, NULL, NULL, &resp, &e), -1);
    cr_expect(strstr(e.msg, "timed out"), "%s", e.msg);
    close(lfd);
}
