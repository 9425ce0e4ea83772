/* webui.h — the web chat UI that `hearth serve` shows at "/" (docs/WEBUI.md).
 *
 * The page's files (web/: index.html, app.js, markdown.js, style.css, icon.svg) are compiled
 * into the binary by scripts/embed-webui.sh: no files beside the binary, no build step, no CDN.
 * Every answer carries a strict Content-Security-Policy (scripts, styles and requests only from
 * the server itself; no inline script), nosniff (as every answer of the server), and an ETag (a
 * hash of the file, computed at build time) that the browser revalidates with If-None-Match (304).
 *
 * The matching helpers below are pure, so they are unit-tested (tests/unit/test_webui.c) and
 * fuzzed (fuzz/fuzz_webui.c): they read the client's URL and headers. */
#ifndef HEARTH_SERVER_WEBUI_H
#define HEARTH_SERVER_WEBUI_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *path;          /* "/" for index.html, else "/ui/NAME" */
    const char *ctype;         /* Content-Type */
    const unsigned char *data; /* NUL-terminated (the NUL is not part of len) */
    size_t len;
    const char *etag; /* "\"<32 hex>\"" */
} srv_webui_asset;

/* The embedded files, ended by an entry with path NULL (generated: build/.../gen/webui_data.c). */
extern const srv_webui_asset srv_webui_assets[];

/* The headers every UI answer carries (names and values, NULL-terminated pairs). */
extern const char *const srv_webui_headers[];

/* The file served at url (exact match; no query string, no "..": MHD hands the path without
 * the query), or NULL. */
const srv_webui_asset *srv_webui_find(const char *url);

/* Does an If-None-Match header value name etag? "*", or a comma-separated list of entity
 * tags (weak W/ tags compare by their opaque part, as RFC 9110 says for If-None-Match).
 * NULL or malformed values are false. */
bool srv_etag_match(const char *if_none_match, const char *etag);

/* Does an Accept header value list text/html (any case; parameters such as q= are ignored
 * unless q=0)? Browsers navigating to "/" send it; Ollama's probes and curl do not, and they
 * keep getting "hearth is running" at "/". */
bool srv_accepts_html(const char *accept);

#endif
