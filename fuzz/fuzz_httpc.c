/* fuzz_httpc.c — the HTTP client's response reader and SSE reader (client/httpc.h) over
 * arbitrary bytes, fed in pieces whose sizes come from the input's first byte. Invariants: no
 * crash or over-read; a completed response has a status in 100..599; the kept body never exceeds
 * the cap; every SSE event handed to the callback is NUL-terminated at its length and within the
 * event cap. The same bytes are also fed to a bare SSE reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/httpc.h"

#define BODY_CAP 4096
#define EVENT_CAP 1024

static int on_event(const char *data, size_t len, void *user) {
    size_t *count = user;
    if (len > EVENT_CAP || data[len] != 0) abort();
    (*count)++;
    return *count > 50; /* stop after many events, as the agent's reader may */
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len) {
    if (len == 0) return 0;
    size_t step = (size_t)(buf[0] % 17) + 1;
    const char *p = (const char *)buf + 1;
    size_t n = len - 1;
    size_t count = 0;
    httpc_sse sse;
    httpc_sse_init(&sse, on_event, &count, EVENT_CAP);
    httpc_reader r;
    httpc_reader_init(&r, (buf[0] & 0x80) ? NULL : &sse, 512, BODY_CAP);
    he_error err;
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += step) {
        size_t k = n - off < step ? n - off : step;
        rc = httpc_reader_feed(&r, p + off, k, &err);
    }
    if (rc == 0) rc = httpc_reader_eof(&r, &err);
    if (rc == 1 && (r.status < 100 || r.status > 599)) abort();
    if (r.body_len > BODY_CAP && !r.is_sse) abort();
    if (r.body && r.body[r.body_len] != 0) abort();
    httpc_reader_deinit(&r);
    httpc_sse_deinit(&sse);
    count = 0;
    httpc_sse_init(&sse, on_event, &count, EVENT_CAP);
    rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += step) {
        size_t k = n - off < step ? n - off : step;
        rc = httpc_sse_feed(&sse, p + off, k, &err);
    }
    if (rc == 0) httpc_sse_finish(&sse, &err);
    httpc_sse_deinit(&sse);
    return 0;
}
