/* error.h — hearth's error convention.
 *
 * Functions that can fail on outside input return -1 (or NULL) and fill a caller-owned
 * he_error with a code and a message naming the problem and where it is
 * ("gguf: tensor 'blk.0.attn_q.weight': offset ... exceeds file size ...").
 * No error state lives in globals. `err` may be NULL when the caller does not care. */
#ifndef HEARTH_BASE_ERROR_H
#define HEARTH_BASE_ERROR_H

typedef enum {
    HE_OK = 0,
    HE_NOMEM,       /* an allocation failed */
    HE_IO,          /* open/read/write/mmap failed */
    HE_FORMAT,      /* malformed input (file, template, grammar, request) */
    HE_INVALID,     /* a well-formed but invalid argument or value */
    HE_UNSUPPORTED, /* valid input that hearth does not (yet) handle */
    HE_LIMIT,       /* a size, depth or count limit was exceeded */
    HE_RUNTIME      /* an error raised at run time (e.g. a template's raise_exception) */
} he_code;

typedef struct {
    he_code code;
    char msg[512];
} he_error;

/* Fills err (when non-NULL) with code and a printf-style message; always returns -1. */
int he_fail(he_error *err, he_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes err->msg with "prefix: " (for adding context as an error travels up). */
void he_prefix(he_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Short name of a code ("format", "io", ...). */
const char *he_code_name(he_code code);

#endif
