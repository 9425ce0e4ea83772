/* fuzz_webui.c — the web UI's readers of client input (server/webui.h) over arbitrary bytes:
 * the URL lookup, If-None-Match and Accept. Input: up to three fields separated by '\n' (URL,
 * If-None-Match, Accept); each field also goes to every reader. Invariants: a found file's path
 * equals the URL; every embedded file's own ETag matches itself alone, with W/ and in a list;
 * "*" matches anything; a value that matches a tag contains that tag's text; Accept is true
 * only when the value contains "text/html" in some case. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/webui.h"

static bool contains_ci(const char *s, const char *w) {
    size_t n = strlen(w);
    for (; *s; s++)
        if (!strncasecmp(s, w, n)) return true;
    return false;
}

static void check_field(const char *s) {
    const srv_webui_asset *a = srv_webui_find(s);
    if (a && strcmp(a->path, s)) abort();
    for (const srv_webui_asset *f = srv_webui_assets; f->path; f++)
        if (srv_etag_match(s, f->etag) && !strstr(s, f->etag + 1) && !strchr(s, '*')) abort();
    if (srv_accepts_html(s) && !contains_ci(s, "text/html")) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *field[3] = {buf, NULL, NULL};
    for (int i = 1; i < 3 && field[i - 1]; i++) {
        char *nl = strchr(field[i - 1], '\n');
        if (!nl) break;
        *nl = '\0';
        field[i] = nl + 1;
    }
    for (int i = 0; i < 3 && field[i]; i++)
        check_field(field[i]);
    if (!srv_etag_match("*", field[0])) abort();
    for (const srv_webui_asset *f = srv_webui_assets; f->path; f++) {
        if (!srv_etag_match(f->etag, f->etag)) abort();
        if (srv_webui_find(f->path) != f) abort();
    }
    free(buf);
    return 0;
}
