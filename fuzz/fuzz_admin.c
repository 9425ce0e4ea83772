/* fuzz_admin.c — the admin credential's header parser and the model-directory check
 * (server/websafe.h) over arbitrary bytes. Input: the header value; when it contains a '\n',
 * the bytes before it are the header value and the two lines after it a path and a folder.
 * Invariants: an accepted token is 1..SRV_ADMIN_TOKEN_MAX printable non-space ASCII bytes
 * inside the input with only blanks around it (a rejected one leaves NULL/0); a path is
 * "under" a folder only when both are absolute, the folder (without trailing '/') is a prefix
 * followed by '/', and no component below it is empty, "." or "..". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/websafe.h"

static void check_header(const char *s, size_t n) {
    const char *tok;
    size_t len;
    if (srv_admin_header_parse(s, &tok, &len) != 0) {
        if (tok || len) abort();
        return;
    }
    if (len == 0 || len > SRV_ADMIN_TOKEN_MAX || tok < s || tok + len > s + n) abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f) abort();
    for (const char *p = s; p < tok; p++)
        if (*p != ' ' && *p != '\t') abort();
    for (const char *p = tok + len; *p; p++)
        if (*p != ' ' && *p != '\t') abort();
}

static void check_under(const char *path, const char *dir) {
    if (!srv_path_under(path, dir)) return;
    if (path[0] != '/' || dir[0] != '/') abort();
    size_t n = strlen(dir);
    while (n && dir[n - 1] == '/')
        n--;
    if (strncmp(path, dir, n) || path[n] != '/') abort();
    for (const char *p = path + n; *p;) {
        const char *c = p + 1;
        size_t cl = strcspn(c, "/");
        if (cl == 0 || (cl == 1 && c[0] == '.') || (cl == 2 && !strncmp(c, "..", 2))) abort();
        p = c + cl;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *path = NULL, *dir = NULL, *nl = strchr(buf, '\n');
    if (nl) {
        *nl = '\0';
        path = nl + 1;
        char *nl2 = strchr(path, '\n');
        if (nl2) {
            *nl2 = '\0';
            dir = nl2 + 1;
        }
    }
    check_header(buf, strlen(buf));
    if (path && dir) {
        check_under(path, dir);
        check_under(dir, path);
    }
    free(buf);
    return 0;
}
