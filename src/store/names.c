/* names.c — the two gates into the store's namespace: digests to blob paths and model names to
 * manifest paths. Both are pure functions; they validate before they build, so a hostile digest
 * ("sha256-../../etc/passwd", Ollama's CVE-2024-37032) or name ("../x", "a/b") never becomes a
 * path. Nothing else in the store concatenates paths from outside input. */
#include <stdio.h>
#include <string.h>

#include "store/store.h"

static bool is_hex_lower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
static bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool store_digest_valid(const char *digest) {
    if (!digest || strncmp(digest, "sha256-", 7) != 0) return false;
    for (int i = 0; i < 64; i++)
        if (!is_hex_lower(digest[7 + i])) return false; /* also stops at the NUL */
    return digest[71] == '\0';
}

/* The root must be absolute and normalized: no empty, "." or ".." components, no trailing '/',
 * and not "/" itself. store_open normalizes what it is given, so this only rejects misuse. */
static int root_check(const char *root, he_error *err) {
    size_t n = root ? strlen(root) : 0;
    if (n < 2 || root[0] != '/' || root[n - 1] == '/')
        return he_fail(err, HE_INVALID, "store: root must be an absolute path, not '/'");
    for (const char *p = root; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return he_fail(err, HE_INVALID, "store: root contains a control byte");
        if (*p != '/') continue;
        const char *c = p + 1, *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return he_fail(err, HE_INVALID, "store: root is not a normalized path");
    }
    return 0;
}

int store_digest_path(const char *root, const char *digest, char *out, size_t cap, he_error *err) {
    if (cap) out[0] = '\0';
    if (!store_digest_valid(digest))
        return he_fail(err, HE_INVALID, "store: invalid digest (want sha256-<64 lower-case hex>)");
    if (root_check(root, err) < 0) return -1;
    int n = snprintf(out, cap, "%s/blobs/%s", root, digest);
    if (n < 0 || (size_t)n >= cap) {
        if (cap) out[0] = '\0';
        return he_fail(err, HE_LIMIT, "store: blob path too long");
    }
    return 0;
}

int store_name_check(const char *name, he_error *err) {
    if (!name || !name[0]) return he_fail(err, HE_INVALID, "store: empty model name");
    size_t n = strnlen(name, STORE_NAME_MAX + 1);
    if (n > STORE_NAME_MAX)
        return he_fail(err, HE_INVALID, "store: model name longer than %d bytes", STORE_NAME_MAX);
    if (!is_alnum(name[0]))
        return he_fail(err, HE_INVALID, "store: model name must start with a letter or digit");
    int colons = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == ':') {
            if (++colons > 1)
                return he_fail(err, HE_INVALID, "store: model name has more than one ':'");
            if (i + 1 == n)
                return he_fail(err, HE_INVALID, "store: model name has an empty tag after ':'");
            continue;
        }
        if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
            return he_fail(err, HE_INVALID,
                           "store: model name may contain only letters, digits, '.', '_', '-' and "
                           "one ':' (byte %zu is 0x%02x)",
                           i, (unsigned char)c);
        if (c == '.' && i + 1 < n && name[i + 1] == '.')
            return he_fail(err, HE_INVALID, "store: model name contains '..'");
    }
    return 0;
}

int store_name_file(const char *root, const char *name, char *out, size_t cap, he_error *err) {
    if (cap) out[0] = '\0';
    if (store_name_check(name, err) < 0) return -1;
    if (root_check(root, err) < 0) return -1;
    int n = snprintf(out, cap, "%s/manifests/%s", root, name);
    if (n < 0 || (size_t)n >= cap) {
        if (cap) out[0] = '\0';
        return he_fail(err, HE_LIMIT, "store: manifest path too long");
    }
    return 0;
}

void store_name_sanitize(const char *text, char *out, size_t cap) {
    size_t max = cap - 1 < STORE_NAME_MAX ? cap - 1 : STORE_NAME_MAX, o = 0;
    bool dash = false;
    for (const char *p = text ? text : ""; *p && o < max; p++) {
        char c = *p;
        if (c == '.' && o && out[o - 1] == '.' && !dash) continue; /* ".." -> "." */
        bool keep = is_alnum(c) || c == '_' || c == '-' || (c == '.' && o);
        if (!keep) {
            dash = o > 0; /* a run of dropped bytes becomes one '-', none at the start */
            continue;
        }
        if (o == 0 && !is_alnum(c)) continue;
        if (dash && o < max) {
            if (out[o - 1] != '-') out[o++] = '-';
            dash = false;
            if (o >= max) break;
        }
        out[o++] = c;
    }
    while (o && !is_alnum(out[o - 1]))
        o--;
    out[o] = '\0';
    if (o == 0) snprintf(out, cap, "model");
}
