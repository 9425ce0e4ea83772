/* log.c — leveled logging to stderr. */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read by every thread that logs. -1: not yet read from HEARTH_LOG. Relaxed atomics: the level
 * is a lone int (it publishes no other data), and racing first readers store the same value. */
static atomic_int level = -1;

void log_set_level(log_level l) { atomic_store_explicit(&level, (int)l, memory_order_relaxed); }

static int current_level(void) {
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l < 0) {
        const char *s = getenv("HEARTH_LOG");
        int v = LOG_INFO;
        if (s) {
            if (!strcmp(s, "error")) v = LOG_ERROR;
            else if (!strcmp(s, "warn")) v = LOG_WARN;
            else if (!strcmp(s, "debug")) v = LOG_DEBUG;
        }
        /* a log_set_level that came first wins */
        if (!atomic_compare_exchange_strong_explicit(&level, &l, v, memory_order_relaxed, memory_order_relaxed)) v = l;
        l = v;
    }
    return l;
}

void log_msg(log_level l, const char *fmt, ...) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    if ((int)l > current_level()) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hearth %s: ", names[l]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *log_esc(const char *s, char *buf, size_t cap) {
    if (cap == 0) return buf;
    if (!s) s = "(null)";
    size_t w = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[5];
        size_t n;
        if (c == '\n') n = 2, memcpy(e, "\\n", 2);
        else if (c == '\r') n = 2, memcpy(e, "\\r", 2);
        else if (c == '\t') n = 2, memcpy(e, "\\t", 2);
        else if (c == '\\') n = 2, memcpy(e, "\\\\", 2);
        else if (c < 0x20 || c >= 0x7f) n = 4, snprintf(e, sizeof e, "\\x%02x", c);
        else n = 1, e[0] = (char)c;
        if (w + n + 1 > cap) { /* cut: end in "..." where it fits */
            size_t k = cap > 4 ? cap - 4 : 0;
            if (w > k) w = k;
            for (size_t i = 0; i < 3 && w + 1 < cap; i++) buf[w++] = '.';
            break;
        }
        memcpy(buf + w, e, n);
        w += n;
    }
    buf[w] = 0;
    return buf;
}
