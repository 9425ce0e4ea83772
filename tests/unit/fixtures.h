/* fixtures.h — the one way a C test finds its data files (tests/data/README.md).
 *
 *   char path[1024];
 *   fixture_path(path, sizeof path, "vocab/ggml-vocab-qwen2.gguf");
 *
 * A name is relative to the carried fixtures, $HEARTH_FIXTURES (make and scripts/ set it to the
 * absolute path of the repository's tests/data; unset, "tests/data" from the repository root,
 * where the tests run). When the carried copy is absent, the same file in ../shared
 * ($HEARTH_SHARED; its layout is models/, fixtures/vocab/, fixtures/chat-templates/) is used. When
 * neither exists the test FAILS, saying where it looked: a test that needs a fixture never skips.
 *
 * fixture_optional() is for extra coverage that only ../shared gives: it returns NULL when the file
 * is in neither place, and the caller skips that part.
 *
 * Works under Criterion and under both shims (tests/cross, tests/tsan): it needs only cr_assert. */
#ifndef HEARTH_TESTS_FIXTURES_H
#define HEARTH_TESTS_FIXTURES_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline const char *fixtures_dir(void) {
    const char *s = getenv("HEARTH_FIXTURES");
    return s && *s ? s : "tests/data";
}

static inline const char *fixtures_shared_dir(void) {
    const char *s = getenv("HEARTH_SHARED");
    return s && *s ? s : "../shared";
}

/* rel's place in ../shared: vocab/ and chat-templates/ sit under fixtures/ there. */
static inline void fixture_shared_name(char *buf, size_t cap, const char *rel) {
    bool under = !strncmp(rel, "vocab", 5) || !strncmp(rel, "chat-templates", 14);
    const char *sub = under ? "fixtures/" : "";
    snprintf(buf, cap, "%s/%s%s", fixtures_shared_dir(), sub, rel);
}

/* The carried file, else the ../shared copy; NULL (buf holds the carried path) when neither. */
static inline const char *fixture_optional(char *buf, size_t cap, const char *rel) {
    snprintf(buf, cap, "%s/%s", fixtures_dir(), rel);
    if (access(buf, R_OK) == 0) return buf;
    char alt[1024];
    fixture_shared_name(alt, sizeof alt, rel);
    if (access(alt, R_OK) == 0) {
        snprintf(buf, cap, "%s", alt);
        return buf;
    }
    snprintf(buf, cap, "%s/%s", fixtures_dir(), rel);
    return NULL;
}

/* The carried file (or the ../shared copy); fails the test when neither exists. */
static inline const char *fixture_path(char *buf, size_t cap, const char *rel) {
    if (fixture_optional(buf, cap, rel)) return buf;
    char alt[1024];
    fixture_shared_name(alt, sizeof alt, rel);
    cr_assert(0, "fixture %s not found: looked in %s and %s (HEARTH_FIXTURES, HEARTH_SHARED)", rel,
              buf, alt);
    return buf;
}

#endif
