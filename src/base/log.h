/* log.h — logging to stderr. Level from HEARTH_LOG (error|warn|info|debug), default info. */
#ifndef HEARTH_BASE_LOG_H
#define HEARTH_BASE_LOG_H

#include <stddef.h>

typedef enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

void log_set_level(log_level level);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Text from outside (request paths, served names, bodies, client-supplied errors) made safe
 * for one log line: control bytes (newline, ESC, ...), DEL, bytes >= 0x80 and the backslash
 * become \n, \r, \t, \\ or \xNN, so a client can neither forge log lines nor send escape
 * sequences to a terminal. Input that does not fit cap (including the NUL) ends in "...".
 * NULL prints as "(null)". Returns buf. */
#define LOG_ESC_CAP 256
const char *log_esc(const char *s, char *buf, size_t cap);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
