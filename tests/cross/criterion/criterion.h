/* criterion.h (cross-test shim) — the part of Criterion's API that the cross-built tests use,
 * so the same test sources run under qemu-aarch64 without an arm64 libcriterion (whose Debian
 * package cannot be installed beside the host's). Found before the real header only by the
 * cross build (-Itests/cross); the native suite still uses Criterion itself.
 *
 * Semantics kept: Test(suite, name, .init/.fini/.timeout/.disabled) and TestSuite(...); each
 * test runs in a forked child (a fresh process, as Criterion does); cr_assert* ends the test on
 * failure, cr_expect* records it and goes on; cr_skip_test skips; cr_log_* print.
 * criterion_shim.c holds the runner (main). */
#ifndef HEARTH_CRITERION_SHIM_H
#define HEARTH_CRITERION_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct shim_options {
    int set; /* a field no test names, so {.set = 1, __VA_ARGS__} overrides nothing */
    void (*init)(void);
    void (*fini)(void);
    double timeout; /* seconds; 0: none */
    bool disabled;
    const char *description;
};

typedef struct shim_test {
    const char *suite, *name;
    void (*fn)(void);
    struct shim_options opt;
    struct shim_test *next;
} shim_test;

typedef struct shim_suite {
    const char *name;
    struct shim_options opt;
    struct shim_suite *next;
} shim_suite;

void shim_register_test(shim_test *t);
void shim_register_suite(shim_suite *s);
/* Records a failed check (prints where and why); fatal ones end the test. */
void shim_check(bool ok, bool fatal, const char *file, int line, const char *expr, const char *fmt,
                ...) __attribute__((format(printf, 6, 7)));
void shim_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void shim_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define SHIM_ID(suite, name, what) shim_##suite##_##name##_##what

#define Test(suite, name, ...)                                                                   \
    static void SHIM_ID(suite, name, fn)(void);                                                  \
    static shim_test SHIM_ID(suite, name, t) = {#suite, #name, SHIM_ID(suite, name, fn),         \
                                                {.set = 1, __VA_ARGS__}, NULL};              \
    __attribute__((constructor)) static void SHIM_ID(suite, name, reg)(void) {                   \
        shim_register_test(&SHIM_ID(suite, name, t));                                            \
    }                                                                                            \
    static void SHIM_ID(suite, name, fn)(void)

#define TestSuite(suite, ...)                                                                    \
    static shim_suite shim_suite_##suite = {#suite, {.set = 1, __VA_ARGS__}, NULL};          \
    __attribute__((constructor)) static void shim_suite_reg_##suite(void) {                      \
        shim_register_suite(&shim_suite_##suite);                                                \
    }

/* the message arguments are optional: " " keeps the format string non-empty */
#define cr_assert(c, ...) shim_check(!!(c), true, __FILE__, __LINE__, #c, " " __VA_ARGS__)
#define cr_expect(c, ...) shim_check(!!(c), false, __FILE__, __LINE__, #c, " " __VA_ARGS__)

#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) cr_assert(strcmp((a), (b)) != 0, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...)                                                       \
    cr_assert((a) - (b) <= (eps) && (b) - (a) <= (eps), __VA_ARGS__)

#define cr_expect_eq(a, b, ...) cr_expect((a) == (b), __VA_ARGS__)
#define cr_expect_neq(a, b, ...) cr_expect((a) != (b), __VA_ARGS__)
#define cr_expect_lt(a, b, ...) cr_expect((a) < (b), __VA_ARGS__)
#define cr_expect_leq(a, b, ...) cr_expect((a) <= (b), __VA_ARGS__)
#define cr_expect_gt(a, b, ...) cr_expect((a) > (b), __VA_ARGS__)
#define cr_expect_geq(a, b, ...) cr_expect((a) >= (b), __VA_ARGS__)
#define cr_expect_null(p, ...) cr_expect((p) == NULL, __VA_ARGS__)
#define cr_expect_not_null(p, ...) cr_expect((p) != NULL, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) cr_expect(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...) cr_expect(strcmp((a), (b)) != 0, __VA_ARGS__)
#define cr_expect_float_eq(a, b, eps, ...)                                                       \
    cr_expect((a) - (b) <= (eps) && (b) - (a) <= (eps), __VA_ARGS__)

#define cr_skip_test(...) shim_skip(" " __VA_ARGS__)
#define cr_log_info(...) shim_log("info", __VA_ARGS__)
#define cr_log_warn(...) shim_log("warn", __VA_ARGS__)
#define cr_log_error(...) shim_log("error", __VA_ARGS__)

#endif
