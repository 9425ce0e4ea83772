/* alloc.c — allocation gateway with optional fault injection. */
#include "base/alloc.h"

#include <stdatomic.h>
#include <stdbool.h>
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

/* HEARTH_FAIL_ALLOC_AT=N: the Nth fallible allocation (1-based) returns NULL. Read once.
 * Allocations happen on many threads (HTTP, pumps, schedulers), so both the setting and the
 * count are atomics; when injection is off (fail_at < 0) the cost is one relaxed load. */
static atomic_long fail_at = -2; /* -2: HEARTH_FAIL_ALLOC_AT not read yet; < 0: off */
static atomic_long alloc_count;

/* Allocations made while the thread holds injection off are neither failed nor counted. */
static _Thread_local bool inject_held;

void he_alloc_inject_hold(bool hold) { inject_held = hold; }

static int injected_failure(void) {
    long f = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (inject_held) return 0;
    if (f == -2) {
        const char *s = getenv("HEARTH_FAIL_ALLOC_AT");
        long v = s ? atol(s) : -1;
        if (v < 1) v = -1;
        /* he_alloc_fail_at may have armed it meanwhile: that setting wins */
        if (!atomic_compare_exchange_strong(&fail_at, &f, v)) v = f;
        f = v;
    }
    if (f < 0) return 0;
    return atomic_fetch_add(&alloc_count, 1) + 1 == f;
}

long he_alloc_fail_at(long n) {
    atomic_store(&fail_at, -1L);
    long counted_so_far = atomic_exchange(&alloc_count, 0L);
    atomic_store(&fail_at, n >= 1 ? n : -1L);
    return counted_so_far;
}

/* Failed fallible allocations on this thread (see he_alloc_failures). */
static _Thread_local unsigned long failures;

static void *counted(void *p) {
    if (!p) failures++;
    return p;
}

void *he_malloc(size_t n) { return counted(injected_failure() ? NULL : malloc(n ? n : 1)); }

void *he_calloc(size_t n, size_t size) {
    return counted(injected_failure() ? NULL : calloc(n ? n : 1, size ? size : 1));
}

void *he_realloc(void *p, size_t n) { return counted(injected_failure() ? NULL : realloc(p, n ? n : 1)); }

unsigned long he_alloc_failures(void) { return failures; }

int he_mul_overflow(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out) ? -1 : 0; }

int he_add_overflow(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out) ? -1 : 0; }
