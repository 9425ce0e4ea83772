/* shim_main.c — runs the tests registered through the Criterion shim (tests/tsan/criterion). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criterion/criterion.h"

#define SHIM_MAX 256
static struct {
    const char *suite, *name;
    shim_test_fn fn;
} tests[SHIM_MAX];
static int n_tests;

void shim_register(const char *suite, const char *name, shim_test_fn fn) {
    if (n_tests < SHIM_MAX) tests[n_tests++] = (typeof(tests[0])){suite, name, fn};
}

void shim_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: assertion failed: %s", file, line, expr);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    abort();
}

static int n_expect_failed;

void shim_expect_failed(const char *file, int line, const char *expr, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: expectation failed: %s", file, line, expr);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    n_expect_failed++;
}

int main(int argc, char **argv) {
    int ran = 0;
    for (int i = 0; i < n_tests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
        fprintf(stderr, "[RUN ] %s::%s\n", tests[i].suite, tests[i].name);
        tests[i].fn();
        fprintf(stderr, "[ OK ] %s::%s\n", tests[i].suite, tests[i].name);
        ran++;
    }
    if (n_expect_failed) {
        fprintf(stderr, "[FAIL] %d expectations failed\n", n_expect_failed);
        return 1;
    }
    fprintf(stderr, "[====] %d tests passed\n", ran);
    return 0;
}
