/* toolcall_internal.h — what toolcall.c, toolcall_parse.c and toolcall_grammar.c share: the
 * incremental JSON scanner (finds where a JSON value ends in text that may still be growing,
 * without being fooled by closers inside strings) and the call-id generator. */
#ifndef HEARTH_CHAT_TOOLCALL_INTERNAL_H
#define HEARTH_CHAT_TOOLCALL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Scanner verdicts. NEED: the text ends before the value does and could still become valid. */
enum { TCJ_OK = 0, TCJ_NEED = 1, TCJ_BAD = 2 };

/* Scans one JSON value starting at t[*p] (no leading whitespace skipped) within t[0, n).
 * TCJ_OK: *p is just past the value. A top-level number is never OK (more digits could
 * follow), so callers scan objects and arrays. Nesting deeper than 128 is TCJ_BAD. */
int tcj_scan_value(const char *t, size_t n, size_t *p);

/* Copies the valid JSON text t[0, n) without the whitespace outside strings (malloc'd). */
char *tcj_compact(const char *t, size_t n);

/* Writes a fresh call id ("call_" + 24 alphanumerics, NUL-terminated) into out[30].
 * Never the same twice in a process (a counter is mixed into the random part). */
void tc_call_id(char out[30]);

#endif
