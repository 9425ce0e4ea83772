/* websafe.h — what keeps a web page in the user's browser from driving `hearth serve`.
 *
 * hearth binds to loopback, which every page the browser shows can reach. A page may send
 * "simple" requests without a CORS preflight (text/plain, form-encoded or multipart bodies;
 * fetch(..., {mode: "no-cors"}); an auto-submitted <form>), and it can never set a custom
 * header or read the answer. So the server (1) refuses a request whose Origin header names
 * another origin, before any work; (2) accepts only Content-Type application/json on routes
 * with a body, which a page cannot send cross-origin without a preflight the server does not
 * grant; (3) treats loading a file as an admin act, proven by a per-server token held in a
 * 0600 file (or --admin-key) and sent in X-Hearth-Admin, a header no page can set; (4) loads
 * files only from under the model directories. docs/SERVER.md, "Web pages and the browser".
 *
 * The parsers below are pure (no I/O, no allocation) so they can be unit-tested and fuzzed
 * (fuzz/fuzz_websafe.c, fuzz/fuzz_admin.c); the token file functions at the end do the I/O. */
#ifndef HEARTH_SERVER_WEBSAFE_H
#define HEARTH_SERVER_WEBSAFE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* ---- Parsers (pure) ---- */

/* True when a Content-Type value's media type is application/json (case-insensitive), with
 * optional parameters ("application/json; charset=utf-8"). NULL, empty, "application/json5",
 * "text/plain", "application/x-www-form-urlencoded" and malformed values are false. */
bool srv_media_type_is_json(const char *ctype);

/* An origin as a browser sends it: scheme "://" host [":" port], nothing after. */
typedef struct {
    char scheme[8]; /* "http" or "https", lower case */
    char host[256]; /* lower case; an IPv6 literal keeps its brackets: "[::1]" */
    int port;       /* explicit, or the scheme's default (80, 443) */
} srv_origin;

/* Parses an Origin header value (or --cors-origin). Returns 0, or -1 for anything else:
 * "null", other schemes, userinfo, a path, query or fragment, an empty host, a bad port, control
 * bytes or spaces. */
int srv_origin_parse(const char *s, srv_origin *out /* out */);

/* The Host header (as http.c's Host check accepts it) as host + port; port -1 when absent. */
int srv_host_parse(const char *s, char *host /* out */, size_t cap, int *port /* out */);

/* May a request carrying this Origin header be served? True when origin is NULL (no browser
 * context: curl, SDKs), when it is the server's own origin — http:// followed by the request's
 * Host header (same host name as the client used, same port; 127.0.0.1, localhost and [::1] are
 * different origins to a browser, so they are to us) — or when it equals cors_origin (may be
 * NULL). Everything else, "null" included, is false. */
bool srv_origin_allowed(const char *origin, const char *host_header, const char *cors_origin);

/* The admin credential header (X-Hearth-Admin: TOKEN): the token with surrounding spaces and
 * tabs trimmed. Returns 0 with *tok and *len pointing into v, or -1 when v is NULL, empty, longer
 * than SRV_ADMIN_TOKEN_MAX or holds a control byte, a space inside or a non-ASCII byte. */
#define SRV_ADMIN_TOKEN_MAX 256
int srv_admin_header_parse(const char *v, const char **tok /* out */, size_t *len /* out */);

/* True when real_path lies inside real_dir: both absolute and already resolved (realpath), and
 * real_dir is a whole-component prefix ("/models" holds "/models/a.gguf", not "/models2/a").
 * "/" holds every absolute path. */
bool srv_path_under(const char *real_path, const char *real_dir);

/* ---- The per-server admin token file ---- */

#define SRV_ADMIN_HEADER "X-Hearth-Admin"

/* 32 random bytes (OpenSSL RAND_bytes) as 64 lower-case hex digits in out (cap >= 65). */
int srv_admin_token_new(char *out, size_t cap, he_error *err);
/* The token file for a server on port: $HEARTH_HOME/run/admin-<port>.token, else
 * $XDG_RUNTIME_DIR/hearth/admin-<port>.token, else ~/.local/share/hearth/run/admin-<port>.token.
 * create: make the folder (0700) when missing. A folder that is not ours or is writable by
 * others is refused (HE_INVALID). */
int srv_admin_token_path(int port, bool create, char *out, size_t cap, he_error *err);
/* Writes token to path with mode 0600 (temporary file + rename, so a reader never sees half). */
int srv_admin_token_write(const char *path, const char *token, he_error *err);
/* Reads the token of the server on port into out (trimmed). */
int srv_admin_token_read(int port, char *out, size_t cap, he_error *err);

#endif
