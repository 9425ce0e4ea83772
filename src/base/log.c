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
