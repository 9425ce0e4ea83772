/* websafe.c — Origin and Content-Type rules, the admin credential and the model-directory
 * check (see websafe.h for why a web page is a threat to a loopback server). */
#include "server/websafe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

/* ---- Content-Type ---- */

/* RFC 9110 tchar: the characters of a media type's type and subtype tokens. */
static bool is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* media-type = type "/" subtype *( OWS ";" OWS parameter ) — only type and subtype matter
 * here; the parameters (charset) are the route's business and are not parsed. */
bool srv_media_type_is_json(const char *ctype) {
    if (!ctype) return false;
    const char *p = ctype;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *type = p;
    while (is_tchar((unsigned char)*p))
        p++;
    size_t tn = (size_t)(p - type);
    if (*p != '/') return false;
    const char *sub = ++p;
    while (is_tchar((unsigned char)*p))
        p++;
    size_t sn = (size_t)(p - sub);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p && *p != ';') return false;
    return tn == 11 && sn == 4 && !strncasecmp(type, "application", 11) &&
           !strncasecmp(sub, "json", 4);
}

/* ---- Origin and Host ---- */

static bool is_host_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* host [":" port] up to the end of s: the host lower-cased into host (cap bytes), the port or
 * -1 when none. An IPv6 literal keeps its brackets. Returns 0 or -1. */
static int host_port(const char *s, char *host, size_t cap, int *port) {
    size_t n = 0;
    const char *p = s;
    if (*p == '[') {
        const char *e = p + 1;
        while ((*e >= '0' && *e <= '9') || (*e >= 'a' && *e <= 'f') || (*e >= 'A' && *e <= 'F') ||
               *e == ':' || *e == '.')
            e++;
        if (*e != ']' || e == p + 1) return -1;
        n = (size_t)(e + 1 - p);
    } else {
        while (is_host_char((unsigned char)p[n]))
            n++;
        if (n == 0) return -1;
    }
    if (n + 1 > cap) return -1;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        host[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    host[n] = 0;
    p += n;
    *port = -1;
    if (*p == ':') {
        p++;
        long v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6)
            v = v * 10 + (*p++ - '0'), digits++;
        if (digits == 0 || digits > 5 || v < 1 || v > 65535) return -1;
        *port = (int)v;
    }
    return *p ? -1 : 0;
}

int srv_origin_parse(const char *s, srv_origin *out) {
    memset(out, 0, sizeof *out);
    if (!s) return -1;
    int dflt;
    if (!strncasecmp(s, "http://", 7)) {
        snprintf(out->scheme, sizeof out->scheme, "http");
        dflt = 80;
        s += 7;
    } else if (!strncasecmp(s, "https://", 8)) {
        snprintf(out->scheme, sizeof out->scheme, "https");
        dflt = 443;
        s += 8;
    } else {
        return -1;
    }
    if (host_port(s, out->host, sizeof out->host, &out->port)) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    if (out->port < 0) out->port = dflt;
    return 0;
}

int srv_host_parse(const char *s, char *host, size_t cap, int *port) {
    if (!s || !cap) return -1;
    host[0] = 0;
    if (host_port(s, host, cap, port)) {
        host[0] = 0;
        return -1;
    }
    return 0;
}

static bool origin_same(const srv_origin *a, const srv_origin *b) {
    return !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) && a->port == b->port;
}

bool srv_origin_allowed(const char *origin, const char *host_header, const char *cors_origin) {
    if (!origin) return true;
    srv_origin o, c;
    if (srv_origin_parse(origin, &o)) return false;
    if (cors_origin && srv_origin_parse(cors_origin, &c) == 0 && origin_same(&o, &c)) return true;
    /* Same origin: the page was loaded from the very scheme://host:port this request is for.
     * hearth speaks plain HTTP, so the scheme is http and a missing Host port is 80. */
    char host[256];
    int port;
    if (!host_header || srv_host_parse(host_header, host, sizeof host, &port)) return false;
    if (port < 0) port = 80;
    return !strcmp(o.scheme, "http") && !strcmp(o.host, host) && o.port == port;
}

/* ---- The admin credential ---- */

int srv_admin_header_parse(const char *v, const char **tok, size_t *len) {
    *tok = NULL;
    *len = 0;
    if (!v) return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = 0;
    while (v[n] > 0x20 && v[n] < 0x7f) {
        if (++n > SRV_ADMIN_TOKEN_MAX) return -1;
    }
    const char *rest = v + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (n == 0 || *rest) return -1;
    *tok = v;
    *len = n;
    return 0;
}

bool srv_path_under(const char *real_path, const char *real_dir) {
    if (!real_path || !real_dir || real_path[0] != '/' || real_dir[0] != '/') return false;
    size_t n = strlen(real_dir);
    while (n > 0 && real_dir[n - 1] == '/')
        n--; /* "/" -> "", "/m/" -> "/m" */
    if (strncmp(real_path, real_dir, n) != 0 || real_path[n] != '/') return false;
    /* inside, not the folder itself, and no "." or ".." component below it (a realpath has
     * none; anything else was not resolved and is refused) */
    const char *p = real_path + n;
    if (!p[1]) return false;
    while (*p == '/') {
        const char *c = p + 1;
        size_t cl = strcspn(c, "/");
        if (cl == 0 || (cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        p = c + cl;
    }
    return true;
}

/* ---- The token file ---- */

int srv_admin_token_new(char *out, size_t cap, he_error *err) {
    unsigned char r[32];
    if (cap < 2 * sizeof r + 1) return he_fail(err, HE_INVALID, "admin token: buffer too small");
    if (RAND_bytes(r, (int)sizeof r) != 1)
        return he_fail(err, HE_IO, "admin token: no random bytes (OpenSSL)");
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof r; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[2 * sizeof r] = 0;
    return 0;
}

/* mkdir -p with mode 0700 for the folders it creates. */
static int mkdirs(const char *dir, he_error *err) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return he_fail(err, HE_LIMIT, "admin token: path too long");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0700) && errno != EEXIST)
            return he_fail(err, HE_IO, "admin token: mkdir %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0700) && errno != EEXIST)
        return he_fail(err, HE_IO, "admin token: mkdir %s: %s", p, strerror(errno));
    return 0;
}

int srv_admin_token_path(int port, bool create, char *out, size_t cap, he_error *err) {
    char dir[4096];
    const char *hh = getenv("HEARTH_HOME"), *xdg = getenv("XDG_RUNTIME_DIR"),
               *home = getenv("HOME");
    int n;
    if (hh && hh[0])
        n = snprintf(dir, sizeof dir, "%s/run", hh);
    else if (xdg && xdg[0] == '/')
        n = snprintf(dir, sizeof dir, "%s/hearth", xdg);
    else if (home && home[0] == '/')
        n = snprintf(dir, sizeof dir, "%s/.local/share/hearth/run", home);
    else
        return he_fail(err, HE_INVALID,
                       "admin token: none of HEARTH_HOME, XDG_RUNTIME_DIR, HOME is set");
    if (n < 0 || n >= (int)sizeof dir) return he_fail(err, HE_LIMIT, "admin token: path too long");
    if (create && mkdirs(dir, err)) return -1;
    if (create) {
        /* The token is only as secret as its folder: it must be ours and closed to others. */
        struct stat st;
        if (lstat(dir, &st))
            return he_fail(err, HE_IO, "admin token: %s: %s", dir, strerror(errno));
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
            return he_fail(err, HE_INVALID,
                           "admin token: %s is not a folder of this user closed to others", dir);
    }
    if (snprintf(out, cap, "%s/admin-%d.token", dir, port) >= (int)cap)
        return he_fail(err, HE_LIMIT, "admin token: path too long");
    return 0;
}

int srv_admin_token_write(const char *path, const char *token, he_error *err) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp)
        return he_fail(err, HE_LIMIT, "admin token: path too long");
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return he_fail(err, HE_IO, "admin token: %s: %s", tmp, strerror(errno));
    size_t len = strlen(token);
    bool ok = write(fd, token, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return he_fail(err, HE_IO, "admin token: %s: %s", path, strerror(e));
    }
    return 0;
}

int srv_admin_token_read(int port, char *out, size_t cap, he_error *err) {
    char path[4200];
    if (srv_admin_token_path(port, false, path, sizeof path, err)) return -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return he_fail(err, HE_IO, "admin token: %s: %s", path, strerror(errno));
    char buf[SRV_ADMIN_TOKEN_MAX + 8];
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r < 0) return he_fail(err, HE_IO, "admin token: %s: %s", path, strerror(errno));
    buf[r] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    const char *tok;
    size_t len;
    if (srv_admin_header_parse(buf, &tok, &len) || len + 1 > cap)
        return he_fail(err, HE_FORMAT, "admin token: %s holds no token", path);
    memcpy(out, tok, len);
    out[len] = 0;
    return 0;
}
