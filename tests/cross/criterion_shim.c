/* criterion_shim.c — runner for the cross-test Criterion shim (criterion/criterion.h here):
 * runs every registered test (or those whose "suite::name" contains argv[1]) in its own forked
 * child with its timeout, one at a time, and prints a Criterion-like synthesis. Exit status 0
 * only when no test failed, crashed or timed out. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_PASS = 0, EXIT_FAIL = 1, EXIT_SKIP = 77 };

static shim_test *tests;
static shim_suite *suites;
static int failed_checks; /* in the child: failed cr_expect/cr_assert so far */

void shim_register_test(shim_test *t) {
    t->next = tests;
    tests = t;
}

void shim_register_suite(shim_suite *s) {
    s->next = suites;
    suites = s;
}

void shim_check(bool ok, bool fatal, const char *file, int line, const char *expr, const char *fmt,
                ...) {
    if (ok) return;
    failed_checks++;
    fprintf(stderr, "[----] %s:%d: %s failed: %s\n[----]  ", file, line,
            fatal ? "assertion" : "expectation", expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (fatal) {
        fflush(NULL);
        _exit(EXIT_FAIL);
    }
}

void shim_skip(const char *fmt, ...) {
    fprintf(stderr, "[SKIP]");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(NULL);
    _exit(EXIT_SKIP);
}

void shim_log(const char *level, const char *fmt, ...) {
    fprintf(stderr, "[%s] ", level);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const shim_suite *suite_of(const shim_test *t) {
    for (const shim_suite *s = suites; s; s = s->next)
        if (!strcmp(s->name, t->suite)) return s;
    return NULL;
}

static int run_child(const shim_test *t) {
    const shim_suite *s = suite_of(t);
    double timeout = t->opt.timeout > 0 ? t->opt.timeout : s ? s->opt.timeout : 0;
    if (timeout > 0) alarm((unsigned)timeout + 1);
    if (s && s->opt.init) s->opt.init();
    if (t->opt.init) t->opt.init();
    t->fn();
    if (t->opt.fini) t->opt.fini();
    if (s && s->opt.fini) s->opt.fini();
    fflush(NULL);
    return failed_checks ? EXIT_FAIL : EXIT_PASS;
}

int main(int argc, char **argv) {
    /* registration order is reversed: put the tests back in source order */
    shim_test *rev = NULL;
    while (tests) {
        shim_test *n = tests->next;
        tests->next = rev;
        rev = tests;
        tests = n;
    }
    tests = rev;
    const char *filter = argc > 1 ? argv[1] : NULL;
    int n = 0, pass = 0, fail = 0, skip = 0;
    for (const shim_test *t = tests; t; t = t->next) {
        char full[256];
        snprintf(full, sizeof full, "%s::%s", t->suite, t->name);
        if (filter && !strstr(full, filter)) continue;
        const shim_suite *s = suite_of(t);
        if (t->opt.disabled || (s && s->opt.disabled)) {
            skip++;
            continue;
        }
        n++;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) _exit(run_child(t));
        int st = 0;
        while (waitpid(pid, &st, 0) < 0) {
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        const double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_PASS) {
            pass++;
            printf("[PASS] %s (%.2fs)\n", full, secs);
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SKIP) {
            skip++;
            printf("[SKIP] %s\n", full);
        } else {
            fail++;
            if (WIFSIGNALED(st))
                printf("[FAIL] %s: %s\n", full,
                       WTERMSIG(st) == SIGALRM ? "timed out" : strsignal(WTERMSIG(st)));
            else
                printf("[FAIL] %s\n", full);
        }
        fflush(stdout);
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Skipped: %d\n", n, pass, fail,
           skip);
    return fail ? 1 : 0;
}
