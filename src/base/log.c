/* log.c — leveled logging to stderr. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int level = -1;

void log_set_level(log_level l) { level = (int)l; }

static int current_level(void) {
    if (level < 0) {
        const char *s = getenv("HEARTH_LOG");
        level = LOG_INFO;
        if (s) {
            if (!strcmp(s, "error")) level = LOG_ERROR;
            else if (!strcmp(s, "warn")) level = LOG_WARN;
            else if (!strcmp(s, "debug")) level = LOG_DEBUG;
        }
    }
    return level;
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
