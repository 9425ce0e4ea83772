/* fuzz_store_path.c — the store's two path gates (store_digest_path, store_name_file) over
 * arbitrary bytes. Invariant: the result is "<root>/blobs/<one component>" or
 * "<root>/manifests/<one component>" — under the store root, with no '/' and no "." or ".."
 * component below it — or an error with an empty output. Input: when it contains a '\n', the bytes
 * before it are the root, else the root is fixed; the rest is the digest / name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static void check_under(const char *root, const char *sub, const char *out) {
    size_t rn = strlen(root), sn = strlen(sub);
    if (strncmp(out, root, rn) != 0 || out[rn] != '/' || strncmp(out + rn + 1, sub, sn) != 0 ||
        out[rn + 1 + sn] != '/')
        abort();
    const char *leaf = out + rn + 1 + sn + 1;
    if (!leaf[0] || strchr(leaf, '/') || !strcmp(leaf, ".") || !strcmp(leaf, "..")) abort();
    if (leaf[0] == '.' || leaf[0] == '-') abort();
    for (const char *p = leaf; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) abort();
    /* the root itself was accepted: it must be absolute and normalized */
    if (root[0] != '/' || strstr(root, "/../") || strstr(root, "/./") || strstr(root, "//"))
        abort();
    size_t n = strlen(root);
    if (n >= 3 && !strcmp(root + n - 3, "/..")) abort();
    if (n >= 2 && !strcmp(root + n - 2, "/.")) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *root = "/home/u/.local/share/hearth", *arg = buf;
    char *nl = memchr(buf, '\n', size);
    if (nl) {
        *nl = '\0';
        root = buf;
        arg = nl + 1;
    }
    char out[STORE_PATH_MAX];
    he_error err;
    if (store_digest_path(root, arg, out, sizeof out, &err) == 0) {
        check_under(root, "blobs", out);
        if (!store_digest_valid(arg) || strlen(out) != strlen(root) + 7 + STORE_DIGEST_LEN) abort();
    } else if (out[0]) {
        abort();
    }
    if (store_name_file(root, arg, out, sizeof out, &err) == 0) {
        check_under(root, "manifests", out);
        if (store_name_check(arg, NULL) != 0) abort();
    } else if (out[0]) {
        abort();
    }
    /* sanitize always yields a valid name */
    char name[STORE_NAME_MAX + 1];
    store_name_sanitize(arg, name, sizeof name);
    if (store_name_check(name, NULL) != 0) abort();
    free(buf);
    return 0;
}
