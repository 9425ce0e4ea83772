/* test_server_http.c — the HTTP server in-process over a real socket, on a generated tiny model
 * (no ../shared): out-of-memory on request-sized data is a 503 (or a cut stream), never a crash
 * or a leak, with each fallible allocation failing in turn while a request runs; and
 * srv_http_stop with generations parked and queued waits for every pump thread before freeing
 * the server (run under ASan, and under TSan by make test-tsan). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "model/synth.h"
#include "server/chat.h"
#include "server/http.h"
#include "server/sched.h"

static char model_path[64];
static srv_registry *reg;
static srv_http *srv;
static int port;

static void start_server(int slots, int queue, int ctx) {
    log_set_level(LOG_ERROR);
    snprintf(model_path, sizeof model_path, "/tmp/hearth-http-XXXXXX");
    int fd = mkstemp(model_path);
    cr_assert(fd >= 0);
    close(fd);
    synth_params sp = {.shape = "tiny", .ftype = QUANT_FTYPE_ALL_F32, .seed = 5, .n_threads = 1};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&sp, model_path, &err), 0, "%s", err.msg);
    reg = srv_registry_new();
    srv_model_config c = srv_model_config_default();
    c.name = "tiny";
    c.path = model_path;
    c.n_slots = slots;
    c.n_ctx = ctx;
    c.max_queue = queue;
    c.n_threads = 1;
    cr_assert_eq(srv_registry_start_put(reg, &c, &err), 0, "%s", err.msg);
    srv_http_config hc = {.host = "127.0.0.1", .port = 0, .http_threads = 2};
    srv = srv_http_start(&hc, reg, &err);
    cr_assert_not_null(srv, "%s", err.msg);
    srv_http_set_ready(srv, true);
    port = srv_http_port(srv);
}

static void stop_server(void) {
    srv_http_stop(srv);
    srv_registry_free(reg);
    srv_chat_cache_clear();
    unlink(model_path);
}

static int connect_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_request(int fd, const char *path, const char *body) {
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     path, strlen(body));
    cr_assert_eq(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    cr_assert_eq(send(fd, body, strlen(body), MSG_NOSIGNAL), (ssize_t)strlen(body));
}

/* Reads the whole answer (the server closes the connection); returns the status, 0 when the
 * connection closed without one. *resp gets the bytes (caller frees). */
static int read_answer(int fd, char **resp) {
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (len + 1024 > cap) b = realloc(b, cap *= 2);
        ssize_t r = recv(fd, b + len, cap - len - 1, 0);
        if (r <= 0) break;
        len += (size_t)r;
    }
    b[len] = 0;
    close(fd);
    int status = 0;
    if (sscanf(b, "HTTP/1.%*d %d", &status) != 1) status = 0;
    *resp = b;
    return status;
}

static int call(const char *path, const char *body, char **resp) {
    int fd = connect_server();
    send_request(fd, path, body);
    return read_answer(fd, resp);
}

#define CHAT                                                                                       \
    "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hello "                    \
    "there\"}],\"max_tokens\":4"

/* Each request shape: non-streaming and streaming chat with logprobs, completion, Ollama
 * generate (its `context` buffer) and chat, Responses (whole and streamed), tokenize and
 * detokenize. */
static const struct {
    const char *path, *body;
    bool stream;
} shapes[] = {
    {"/v1/chat/completions", CHAT ",\"temperature\":0,\"logprobs\":true,\"top_logprobs\":2}",
     false},
    {"/v1/chat/completions", CHAT ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
     true},
    {"/v1/completions",
     "{\"model\":\"tiny\",\"prompt\":\"once upon\",\"max_tokens\":4,\"logprobs\":2}", false},
    {"/api/generate",
     "{\"model\":\"tiny\",\"prompt\":\"once "
     "upon\",\"stream\":false,\"options\":{\"num_predict\":4}}",
     false},
    {"/api/chat",
     "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"options\":{\"num_"
     "predict\":4}}",
     true},
    {"/v1/responses",
     "{\"model\":\"tiny\",\"instructions\":\"be brief\",\"input\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"input_text\",\"text\":\"hi\"}]}],\"max_output_tokens\":4}",
     false},
    {"/v1/responses", "{\"model\":\"tiny\",\"input\":\"hi\",\"max_output_tokens\":4,\"stream\":true}", true},
    {"/tokenize", "{\"model\":\"tiny\",\"content\":\"once upon a time\",\"with_pieces\":true}", false},
    {"/detokenize", "{\"model\":\"tiny\",\"tokens\":[1,2,3,100,200]}", false},
};

/* F1 of SECURITY.md for a server request: with fallible allocation N failing (N = 1 .. K, K =
 * what one request allocates, counted from the request's start on every thread), every request
 * is answered: 200, or 503 with the out_of_memory error body, or (a stream already under way)
 * 200 cut short; the server goes on answering. ASan/LSan: no crash, no leak. */
Test(server_http, every_failed_allocation_in_a_request_is_a_503_and_the_server_lives) {
    start_server(2, 8, 128);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        char *resp;
        he_alloc_fail_at(LONG_MAX); /* count only */
        cr_assert_eq(call(shapes[s].path, shapes[s].body, &resp), 200, "%s: %s", shapes[s].path,
                     resp);
        free(resp);
        long k = he_alloc_fail_at(0);
        cr_assert_gt(k, 0, "%s: no fallible allocation", shapes[s].path);
        int n_503 = 0;
        /* HEARTH_SWEEP_STRIDE=S fails every S-th allocation only (make test-tsan: TSan is slow) */
        const char *st_env = getenv("HEARTH_SWEEP_STRIDE");
        long stride = st_env && atol(st_env) > 0 ? atol(st_env) : 1;
        for (long n = 1; n <= k + 4; n += stride) { /* a few more: the count may vary with timing */
            he_alloc_fail_at(n);
            int st = call(shapes[s].path, shapes[s].body, &resp);
            he_alloc_fail_at(0);
            cr_assert(st == 200 || st == 503, "%s, allocation %ld failed: status %d\n%s",
                      shapes[s].path, n, st, resp);
            if (st == 503) {
                n_503++;
                cr_assert(strstr(resp, "out of memory"), "%s, allocation %ld: %s", shapes[s].path,
                          n, resp);
                cr_assert(strstr(resp, shapes[s].path[1] == 'a' ? "{\"error\":\""
                                                                : "\"type\":\"server_error\""),
                          "%s, allocation %ld: %s", shapes[s].path, n, resp);
            }
            free(resp);
        }
        /* the server is alive and its slots free (each run above also needed a slot: one
         * kept by a failed request would have made a later one wait forever) */
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(call(shapes[s].path, shapes[s].body, &resp), 200, "%s after the sweep: %s",
                         shapes[s].path, resp);
            free(resp);
        }
        cr_expect(n_503 > 0, "%s: no allocation failure reached the answer", shapes[s].path);
        cr_log_info("%s: %ld fallible allocations; failing each: %d answers were 503",
                    shapes[s].path, k, n_503);
    }
    stop_server();
}

/* srv_http_stop while generations are parked (1 slot busy, others queued: their pump threads
 * wait in srv_job_next): it returns once every pump has ended, each client's connection is
 * closed, and nothing is used after it is freed (ASan, TSan). */
Test(server_http, stop_waits_for_every_pump) {
    start_server(1, 16, 2048);
    enum { N = 8 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = connect_server();
        send_request(fds[i], i % 2 ? "/v1/chat/completions" : "/api/generate",
                     i % 2 ? CHAT ",\"max_tokens\":100000,\"stream\":true}"
                           : "{\"model\":\"tiny\",\"prompt\":\"x\",\"stream\":false,\"options\":{"
                             "\"num_predict\":100000}}");
    }
    usleep(300 * 1000);
    stop_server();
    for (int i = 0; i < N; i++) {
        char *resp;
        read_answer(fds[i], &resp); /* returns: the server closed the connection */
        free(resp);
    }
}

/* log_esc: what a client sends (paths, names) reaches a log line without control bytes. */
Test(server_http, log_esc_escapes_and_cuts) {
    char b[LOG_ESC_CAP];
    cr_assert_str_eq(log_esc("/x\nforged\r\t\x1b[31m\x7f\\", b, sizeof b),
                     "/x\\nforged\\r\\t\\x1b[31m\\x7f\\\\");
    cr_assert_str_eq(log_esc("caf\xc3\xa9", b, sizeof b), "caf\\xc3\\xa9");
    cr_assert_str_eq(log_esc(NULL, b, sizeof b), "(null)");
    char s[8];
    cr_assert_str_eq(log_esc("abcdefghij", s, sizeof s), "abcd...");
    cr_assert_str_eq(log_esc("abcdefg", s, sizeof s), "abcdefg");
    cr_assert_str_eq(log_esc("abcde\n", s, sizeof s), "abcde\\n"); /* just fits */
    cr_assert_str_eq(log_esc("abcdef\n", s, sizeof s),
                     "abcd..."); /* an escape that does not fit is cut whole */
}

/* Clients that keep sending generations while srv_http_stop runs: a generation that arrives
 * after stop began gets no pump (503), the ones running end, and stop frees the server only
 * after the last pump is done (ASan: no use after free; TSan: no race). */
static atomic_bool hammer_stop;

static void *hammer(void *arg) {
    (void)arg;
    while (!atomic_load(&hammer_stop)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) break;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct timeval tv = {.tv_sec = 30};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(fd);
            break; /* the server is gone */
        }
        const char *body = CHAT ",\"max_tokens\":32,\"stream\":true}";
        char head[256];
        int n = snprintf(
            head, sizeof head,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n%s",
            strlen(body), body);
        if (send(fd, head, (size_t)n, MSG_NOSIGNAL) == n) {
            char b[4096];
            while (recv(fd, b, sizeof b, 0) > 0) {
            }
        }
        close(fd);
    }
    return NULL;
}

Test(server_http, stop_while_generations_keep_arriving) {
    start_server(2, 4, 512);
    atomic_store(&hammer_stop, false);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
    usleep(400 * 1000);
    srv_http_stop(srv);
    atomic_store(&hammer_stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    srv_registry_free(reg);
    srv_chat_cache_clear();
    unlink(model_path);
}
