/* error.c — filling he_error. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int he_fail(he_error *err, he_code code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void he_prefix(he_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable here: the message is for people. */
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3, m = strnlen(old, sizeof old);
    if (m > room) m = room;
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = 0;
}

const char *he_code_name(he_code code) {
    switch (code) {
    case HE_OK: return "ok";
    case HE_NOMEM: return "out of memory";
    case HE_IO: return "io";
    case HE_FORMAT: return "format";
    case HE_INVALID: return "invalid";
    case HE_UNSUPPORTED: return "unsupported";
    case HE_LIMIT: return "limit";
    case HE_RUNTIME: return "runtime";
    }
    return "unknown";
}
