/* cmd_swap.c — `hearth swap NAME NEW.gguf`: asks a running `hearth serve` to hot-swap the model
 * behind a served name (POST /admin/swap). The server loads and smoke-tests the new file first;
 * on failure the name keeps its old model and this command prints why. Loading a file is an
 * admin act: the request carries the server's admin token (X-Hearth-Admin) from --admin-key,
 * $HEARTH_ADMIN_KEY, or — for a server on this machine — the token file it wrote at start.
 * The request goes through the shared HTTP client (client/httpc.h).
 * Exit codes: 0 swapped, 1 refused or unreachable, 2 bad arguments. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "client/httpc.h"
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
    /* the request goes through the shared HTTP client (client/httpc.h) */
    char url[400], extra[SRV_ADMIN_TOKEN_MAX + 64];
    snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%s" : "http://%s:%s", host, port);
    httpc_url u;
    he_error herr = {0};
    if (httpc_url_parse(url, &u, &herr)) {
        fprintf(stderr, "hearth swap: %s\n", herr.msg);
        free(b);
        return 2;
    }
    if (admin) snprintf(extra, sizeof extra, "%s: %s", SRV_ADMIN_HEADER, admin);
    /* The swap loads and smoke-tests a model: allow it minutes, not forever. */
    httpc_opts o = {.api_key = key, .extra_header = admin ? extra : NULL, .idle_timeout_ms = 600000,
                    .total_timeout_s = 600, .max_body = (size_t)1 << 20};
    httpc_response resp;
    int hr = httpc_request(&u, "POST", "/admin/swap", b, strlen(b), &o, NULL, NULL, &resp, &herr);
    free(b);
    explicit_bzero(extra, sizeof extra);
    explicit_bzero(token, sizeof token);
    if (hr) {
        fprintf(stderr, "hearth swap: %s\n", herr.msg);
        return 1;
    }
    int status = resp.status;
    const char *json = resp.body;
    json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
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
    httpc_response_free(&resp);
    return rc;
}
