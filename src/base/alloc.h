/* alloc.h — the allocation gateway.
 *
 * Two kinds of allocation: small internal bookkeeping uses x* (aborts with a message on
 * failure, like Redis zmalloc); sizes that come from outside (tensors, token counts, request
 * fields) use he_malloc/he_calloc, which can fail and must be checked.
 * Debug aid: HEARTH_FAIL_ALLOC_AT=N makes the Nth he_* allocation fail (fault injection). */
#ifndef HEARTH_BASE_ALLOC_H
#define HEARTH_BASE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Fallible: return NULL on failure (or on injected failure), never abort. */
void *he_malloc(size_t n);
void *he_calloc(size_t n, size_t size);
void *he_realloc(void *p, size_t n);

/* How many fallible allocations have failed on the calling thread: code that calls a library
 * which swallows allocation failures (jansson reports some as syntax errors, or drops an
 * element) compares the count before and after to tell "out of memory" from "bad input". */
unsigned long he_alloc_failures(void);

/* Fault injection from code (tests): the nth fallible allocation from now on (n >= 1, counted
 * over all threads) returns NULL; n <= 0 turns injection off. Overrides HEARTH_FAIL_ALLOC_AT.
 * Returns how many fallible allocations were counted since the previous call armed it (arm
 * with LONG_MAX to count what some code allocates). */
long he_alloc_fail_at(long n);

/* Holds fault injection off on the calling thread (true) or lets it act again (false), around
 * a library call whose own failure paths cannot take a failed allocation (jansson 2.14's
 * parser writes through the NULL its lexer gets). A real failure there is not prevented. */
void he_alloc_inject_hold(bool hold);

/* Overflow-safe arithmetic: return 0 on success, -1 when the result would overflow. */
int he_mul_overflow(size_t a, size_t b, size_t *out);
int he_add_overflow(size_t a, size_t b, size_t *out);

#endif
