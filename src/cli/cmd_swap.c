/* cmd_swap.c — `hearth swap NAME NEW.gguf`: asks a running `hearth serve` to hot-swap the model
 * behind a served name (POST /admin/swap). The server loads and smoke-tests the new file first;
 * on failure the name keeps its old model and this command prints why. Loading a file is an
 * admin act: the request carries the server's admin token (X-Hearth-Admin) from --admin-key,
 * $HEARTH_ADMIN_KEY, or — for a server on this machine — the token file it wrote at start.
 * Exit codes: 0 swapped, 1 refused or unreachable, 2 bad arguments. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "server/http.h"
#include "server/websafe.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: hearth swap NAME (NEW.gguf | STORE-NAME) [--host HOST] [--port PORT] [--api-key KEY]\n"
    "                   [--admin-key KEY]\n"
    "  asks the server on HOST:PORT (default 127.0.0.1:8080) to serve NEW.gguf under NAME;\n"
    "  the API key may also come from $HEARTH_API_KEY, the admin key from $HEARTH_ADMIN_KEY, else\n"
    "  from the token file a server on this machine wrote (docs/SERVER.md)\n";

static int usage(const char *msg, const char *arg) {
    if (msg) fprintf(stderr, "hearth swap: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    return 2;
}

static int connect_to(const char *host, const char *port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "hearth swap: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype, p->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) fprintf(stderr, "hearth swap: cannot connect to %s:%s: %s\n", host, port, strerror(errno));
    return fd;
}

int cmd_swap(int argc, char **argv) {
    const char *name = NULL, *file = NULL, *host = "127.0.0.1", *port = "8080", *key = getenv("HEARTH_API_KEY"),
               *admin = getenv("HEARTH_ADMIN_KEY");
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return usage(NULL, NULL);
        if (o[0] == '-' && o[1]) {
            if (i + 1 >= argc) return usage("missing value for", o);
            const char *v = argv[++i];
            if (!strcmp(o, "--host")) host = v;
            else if (!strcmp(o, "--port")) port = v;
            else if (!strcmp(o, "--api-key")) key = v;
            else if (!strcmp(o, "--admin-key")) admin = v;
            else return usage("unknown option", o);
        } else if (!name) {
            name = o;
        } else if (!file) {
            file = o;
        } else {
            return usage("unexpected argument", o);
        }
    }
    if (!name || !file) return usage("need NAME and NEW.gguf", NULL);
    char abs[PATH_MAX];
    if (!realpath(file, abs)) {
        /* not a file here: a model store name, resolved by the server */
        if (store_name_check(file, NULL) != 0) {
            fprintf(stderr, "hearth swap: %s: %s\n", file, strerror(errno));
            return 1;
        }
        snprintf(abs, sizeof abs, "%s", file);
    }
    /* The token file of a server on this machine; never sent anywhere else. */
    char token[SRV_ADMIN_TOKEN_MAX + 1];
    long port_n = 0;
    he_error terr = {0};
    if ((!admin || !admin[0]) && srv_host_is_loopback(host) && cli_parse_long(port, 1, 65535, &port_n) == 0) {
        if (srv_admin_token_read((int)port_n, token, sizeof token, &terr) == 0) admin = token;
    }
    if (admin && !admin[0]) admin = NULL;
    json_t *body = json_pack("{s:s, s:s}", "name", name, "path", abs);
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!b) {
        fprintf(stderr, "hearth swap: NAME and path must be valid UTF-8\n");
        return 2;
    }
    int fd = connect_to(host, port);
    if (fd < 0) {
        free(b);
        return 1;
    }
    /* The swap loads and smoke-tests a model: allow it minutes, not forever. */
    struct timeval tv = {.tv_sec = 600};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t blen = strlen(b);
    size_t cap = blen + 1024 + (key ? strlen(key) : 0) + (admin ? strlen(admin) : 0);
    char *req = xmalloc(cap);
    int n = snprintf(req, cap,
                     "POST /admin/swap HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n%s%s%s%s%s%s\r\n%s",
                     strchr(host, ':') ? "[::1]" : host, port, blen, key ? "Authorization: Bearer " : "", key ? key : "",
                     key ? "\r\n" : "", admin ? SRV_ADMIN_HEADER ": " : "", admin ? admin : "", admin ? "\r\n" : "", b);
    free(b);
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w <= 0) {
            fprintf(stderr, "hearth swap: send failed: %s\n", strerror(errno));
            free(req);
            close(fd);
            return 1;
        }
        off += (size_t)w;
    }
    explicit_bzero(req, cap);
    free(req);
    explicit_bzero(token, sizeof token);
    size_t rcap = 65536, rlen = 0;
    char *resp = xmalloc(rcap + 1);
    for (;;) {
        ssize_t r = recv(fd, resp + rlen, rcap - rlen, 0);
        if (r <= 0) break;
        rlen += (size_t)r;
        if (rlen == rcap) break;
    }
    close(fd);
    resp[rlen] = 0;
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        fprintf(stderr, "hearth swap: no HTTP response from %s:%s\n", host, port);
        free(resp);
        return 1;
    }
    const char *json = strstr(resp, "\r\n\r\n");
    json = json ? json + 4 : "";
    /* The body may be chunked; find the JSON object inside. */
    const char *brace = strchr(json, '{');
    json_t *j = brace ? json_loads(brace, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    int rc;
    if (status == 200) {
        printf("swapped '%s' to %s\n", name, abs);
        rc = 0;
    } else {
        const char *msg = NULL;
        json_t *e = json_object_get(j, "error");
        if (json_is_object(e)) msg = json_string_value(json_object_get(e, "message"));
        else if (json_is_string(e)) msg = json_string_value(e);
        fprintf(stderr, "hearth swap: HTTP %d: %s\n", status, msg ? msg : json);
        if (status == 403 && terr.msg[0]) /* say where the token was looked for */
            fprintf(stderr, "hearth swap: %s (or give --admin-key)\n", terr.msg);
        rc = 1;
    }
    json_decref(j);
    free(resp);
    return rc;
}
