/* webui.c — finding an embedded UI file and the two header checks its answers need
 * (If-None-Match for caching, Accept for "/"). The files and their ETags are generated at build
 * time (scripts/embed-webui.sh); see webui.h. */
#include "server/webui.h"

#include <string.h>
#include <strings.h>

/* script-src 'self' and no 'unsafe-inline' anywhere: even if model output reached the DOM as
 * markup (app.js builds it with textContent only), no script in it could run, and
 * connect-src 'self' keeps every request on this server. */
/* clang-format off: name, value pairs */
const char *const srv_webui_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options",
    "DENY",
    "Referrer-Policy",
    "no-referrer",
    /* revalidate every time (a 304 when unchanged): a new binary's page is never stale */
    "Cache-Control",
    "no-cache",
    "Cross-Origin-Opener-Policy",
    "same-origin",
    "Cross-Origin-Resource-Policy",
    "same-origin",
    NULL,
    NULL,
};
/* clang-format on */

const srv_webui_asset *srv_webui_find(const char *url) {
    if (!url) return NULL;
    for (const srv_webui_asset *a = srv_webui_assets; a->path; a++)
        if (!strcmp(url, a->path)) return a;
    return NULL;
}

static const char *skip_ows(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

bool srv_etag_match(const char *v, const char *etag) {
    if (!v || !etag) return false;
    const char *p = skip_ows(v);
    if (*p == '*') return !*skip_ows(p + 1);
    size_t el = strlen(etag);
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p) return false;
        if (p[0] == 'W' && p[1] == '/') p += 2; /* weak comparison */
        if (*p != '"') return false;
        const char *s = p++;
        /* etagc = %x21 / %x23-7E / obs-text */
        while (*p && *p != '"' && ((unsigned char)*p == 0x21 || (unsigned char)*p >= 0x23) &&
               (unsigned char)*p != 0x7f)
            p++;
        if (*p != '"') return false;
        p++;
        bool same = (size_t)(p - s) == el && !memcmp(s, etag, el);
        p = skip_ows(p);
        if (*p && *p != ',') return false; /* not a list element: the whole value is malformed */
        if (same) return true;
    }
}

/* A q parameter value that means "not acceptable": 0, 0., 0.0, 0.00, 0.000. */
static bool q_is_zero(const char *p, size_t n) {
    if (n == 0 || p[0] != '0') return false;
    if (n == 1) return true;
    if (p[1] != '.' || n > 5) return false;
    for (size_t i = 2; i < n; i++)
        if (p[i] != '0') return false;
    return true;
}

bool srv_accepts_html(const char *v) {
    if (!v) return false;
    const char *p = v;
    while (*p) {
        p = skip_ows(p);
        size_t n = strcspn(p, ",;");
        size_t t = n;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        bool html = t == 9 && !strncasecmp(p, "text/html", 9);
        p += n;
        bool zero = false;
        while (*p == ';') { /* parameters of this range */
            p = skip_ows(p + 1);
            size_t pn = strcspn(p, ",;");
            if (pn >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                size_t qn = pn - 2;
                while (qn && (p[2 + qn - 1] == ' ' || p[2 + qn - 1] == '\t'))
                    qn--;
                zero = q_is_zero(p + 2, qn);
            }
            p += pn;
        }
        if (html && !zero) return true;
        if (*p == ',') p++;
    }
    return false;
}
