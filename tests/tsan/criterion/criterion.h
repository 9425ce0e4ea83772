/* criterion.h (shim) — just enough of Criterion's API to run a unit test file under
 * ThreadSanitizer, which Criterion itself cannot start under (its inheritable arena mmap fails:
 * Snaipe/Criterion#274). Tests run in one process, in declaration order; the first failed
 * assertion aborts with its message. Used by scripts/tsan-test.sh only. */
#ifndef HEARTH_TSAN_CRITERION_SHIM_H
#define HEARTH_TSAN_CRITERION_SHIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*shim_test_fn)(void);
void shim_register(const char *suite, const char *name, shim_test_fn fn);
void shim_fail(const char *file, int line, const char *expr, const char *fmt, ...);
/* cr_expect*: reports and goes on; the run then exits 1 */
void shim_expect_failed(const char *file, int line, const char *expr, const char *fmt, ...);

#define Test(suite, name)                                                                          \
    static void shim_##suite##_##name(void);                                                       \
    __attribute__((constructor)) static void shim_reg_##suite##_##name(void) {                     \
        shim_register(#suite, #name, shim_##suite##_##name);                                       \
    }                                                                                              \
    static void shim_##suite##_##name(void)

/* Suite options: .init runs once before any test (not per test, as Criterion does). */
struct shim_suite {
    void (*init)(void);
    void (*fini)(void);
};
#define TestSuite(s, ...)                                                                          \
    static struct shim_suite shim_suite_##s = {__VA_ARGS__};                                       \
    __attribute__((constructor)) static void shim_suite_init_##s(void) {                           \
        if (shim_suite_##s.init) shim_suite_##s.init();                                            \
    }

#define SHIM_CHECK(cond, expr, ...)                                                                \
    do {                                                                                           \
        if (!(cond)) shim_fail(__FILE__, __LINE__, expr, "" __VA_ARGS__);                          \
    } while (0)

#define SHIM_EXPECT(cond, expr, ...)                                                               \
    do {                                                                                           \
        if (!(cond)) shim_expect_failed(__FILE__, __LINE__, expr, "" __VA_ARGS__);                 \
    } while (0)

#define cr_log_info(...) (fprintf(stderr, "[----] " __VA_ARGS__), fputc('\n', stderr))

#define cr_expect(c, ...) SHIM_EXPECT((c), #c, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) SHIM_EXPECT((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) SHIM_EXPECT((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) SHIM_EXPECT((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) SHIM_EXPECT((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) SHIM_EXPECT((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) SHIM_EXPECT((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_expect_null(p, ...) SHIM_EXPECT((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) SHIM_EXPECT((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) SHIM_EXPECT(!strcmp((a), (b)), #a " equals " #b, __VA_ARGS__)

#define cr_assert(c, ...) SHIM_CHECK((c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...) SHIM_CHECK(!(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_null(p, ...) SHIM_CHECK((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) SHIM_CHECK((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) SHIM_CHECK((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) SHIM_CHECK((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) SHIM_CHECK((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) SHIM_CHECK((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) SHIM_CHECK((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) SHIM_CHECK((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...)                                                         \
    SHIM_CHECK(__builtin_fabs((double)(a) - (double)(b)) <= (double)(eps), #a " ~= " #b,           \
               __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) SHIM_CHECK(!strcmp((a), (b)), #a " equals " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...)                                                               \
    SHIM_CHECK(strcmp((a), (b)), #a " differs from " #b, __VA_ARGS__)

#endif
