/* fuzz_websafe.c — the web-page defences' parsers (server/websafe.h) over arbitrary bytes: the
 * Content-Type rule, Origin and Host parsing with the same-origin decision (the admin header
 * has fuzz_admin.c). Input: up to three fields separated by '\n' (origin, host header, cors
 * origin); each field is also fed to every parser on its own. Invariants: a parsed origin is "http"
 * or "https" with a non-empty lower-case host of host characters (or a bracketed IPv6 literal) and
 * a port in 1..65535, and it is a fixed point (printing and re-parsing gives the same origin); a
 * value the media-type check accepts starts (after blanks) with "application/json" in some case; an
 * Origin equal to "http://" + Host is always allowed when the Host parses; a missing Origin is
 * always allowed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/websafe.h"

static void check_origin(const char *s) {
    srv_origin o, o2;
    if (srv_origin_parse(s, &o) != 0) {
        if (o.host[0] || o.scheme[0]) abort();
        return;
    }
    if (strcmp(o.scheme, "http") && strcmp(o.scheme, "https")) abort();
    if (!o.host[0] || o.port < 1 || o.port > 65535) abort();
    for (const char *p = o.host; *p; p++)
        if ((*p >= 'A' && *p <= 'Z') || (unsigned char)*p <= 0x20 || *p == '/' || *p == '@' ||
            *p == '?' || *p == '#' || (unsigned char)*p >= 0x7f)
            abort();
    char again[300];
    snprintf(again, sizeof again, "%s://%s:%d", o.scheme, o.host, o.port);
    if (srv_origin_parse(again, &o2) != 0 || strcmp(o.scheme, o2.scheme) ||
        strcmp(o.host, o2.host) || o.port != o2.port)
        abort();
}

static void check_field(const char *s) {
    check_origin(s);
    if (srv_media_type_is_json(s)) {
        const char *p = s;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, "application/json", 16) != 0) abort();
    }
    char host[256];
    int port;
    if (srv_host_parse(s, host, sizeof host, &port) == 0) {
        if (!host[0] || port == 0 || port > 65535) abort();
        /* the page this Host names is same-origin with it */
        char origin[300];
        snprintf(origin, sizeof origin, "http://%s", s);
        if (strlen(s) < 280 && !srv_origin_allowed(origin, s, NULL)) abort();
    }
    if (!srv_origin_allowed(NULL, s, s)) abort();
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
    /* the decision itself: total, and consistent with a --cors-origin equal to the Origin */
    bool a = srv_origin_allowed(field[0], field[1], field[2]);
    srv_origin o;
    if (field[2] && field[0] && srv_origin_parse(field[0], &o) == 0 &&
        srv_origin_parse(field[2], &o) == 0 && !strcmp(field[0], field[2]) && !a)
        abort();
    free(buf);
    return 0;
}
