/* alloc.c — allocation gateway with optional fault injection. */
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n) {
    fprintf(stderr, "hearth: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* HEARTH_FAIL_ALLOC_AT=N: the Nth fallible allocation (1-based) returns NULL. Read once. */
static long fail_at = -2;
static long alloc_count;

static int injected_failure(void) {
    if (fail_at == -2) {
        const char *s = getenv("HEARTH_FAIL_ALLOC_AT");
        fail_at = s ? atol(s) : -1;
    }
    if (fail_at < 0) return 0;
    return ++alloc_count == fail_at;
}

void *he_malloc(size_t n) { return injected_failure() ? NULL : malloc(n ? n : 1); }

void *he_calloc(size_t n, size_t size) {
    return injected_failure() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *he_realloc(void *p, size_t n) { return injected_failure() ? NULL : realloc(p, n ? n : 1); }

int he_mul_overflow(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out) ? -1 : 0; }

int he_add_overflow(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out) ? -1 : 0; }
