/* httpc.c — the HTTP/1.1 client (httpc.h): URL parsing, the incremental response reader
 * (Content-Length, chunked, read-to-EOF; an SSE reader for event streams) and the request
 * function over a TCP socket with poll-based timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "client/httpc.h"

/* ---- URLs ---- */

/* url -> "http://" authority [path]; authority -> host [":" port] | "[" v6 "]" [":" port] */
int httpc_url_parse(const char *url, httpc_url *out, he_error *err) {
    memset(out, 0, sizeof *out);
    if (!url) return he_fail(err, HE_INVALID, "url: missing");
    if (!strncasecmp(url, "https://", 8))
        return he_fail(
            err, HE_UNSUPPORTED,
            "url: %s: https is not supported (hearth's client speaks plain http; use a loopback "
            "endpoint or a local TLS-terminating proxy)",
            url);
    if (strncasecmp(url, "http://", 7))
        return he_fail(err, HE_INVALID, "url: %s: must start with http://", url);
    const char *a = url + 7, *end = a + strcspn(a, "/?#");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return he_fail(err, HE_INVALID, "url: control character or space");
    if (memchr(a, '@', (size_t)(end - a)))
        return he_fail(err, HE_INVALID, "url: user info is not supported");
    const char *hs = a, *he, *pp = NULL;
    if (*a == '[') {
        hs = a + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he) return he_fail(err, HE_INVALID, "url: unterminated [IPv6] host");
        if (he + 1 < end) {
            if (he[1] != ':') return he_fail(err, HE_INVALID, "url: junk after ]");
            pp = he + 2;
        }
        out->ipv6 = true;
    } else {
        he = memchr(a, ':', (size_t)(end - a));
        if (he)
            pp = he + 1;
        else
            he = end;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof out->host) return he_fail(err, HE_INVALID, "url: bad host");
    memcpy(out->host, hs, hl);
    if (pp) {
        size_t pl = (size_t)(end - pp);
        if (pl == 0 || pl > 5) return he_fail(err, HE_INVALID, "url: bad port");
        long v = 0;
        for (size_t i = 0; i < pl; i++) {
            if (pp[i] < '0' || pp[i] > '9') return he_fail(err, HE_INVALID, "url: bad port");
            v = v * 10 + (pp[i] - '0');
        }
        if (v < 1 || v > 65535) return he_fail(err, HE_INVALID, "url: port out of range");
        snprintf(out->port, sizeof out->port, "%ld", v);
    } else {
        strcpy(out->port, "80");
    }
    if (*end == '?' || *end == '#')
        return he_fail(err, HE_INVALID, "url: a base URL takes no query or fragment");
    size_t n = strlen(end);
    while (n && end[n - 1] == '/')
        n--;
    if (n >= sizeof out->path) return he_fail(err, HE_LIMIT, "url: path too long");
    memcpy(out->path, end, n);
    return 0;
}

/* ---- SSE ---- */

void httpc_sse_init(httpc_sse *s, httpc_sse_fn fn, void *user, size_t max_event) {
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->user = user;
    s->max_event = max_event ? max_event : (size_t)8 << 20;
}

void httpc_sse_deinit(httpc_sse *s) {
    if (!s) return;
    free(s->line);
    free(s->data);
    s->line = s->data = NULL;
}

static int grow(char **buf, size_t *cap, size_t need, size_t limit) {
    if (need <= *cap) return 0;
    if (need > limit) return -1;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c = c > limit / 2 ? limit : c * 2;
    char *p = he_realloc(*buf, c);
    if (!p) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

/* One line of the stream: "" dispatches, ":..." is a comment, "data:[ ]VALUE" adds a line. */
static int sse_line(httpc_sse *s, he_error *err) {
    const char *l = s->line ? s->line : "";
    size_t n = s->line_len;
    if (n == 0) {
        if (!s->has_data) return 0;
        s->has_data = false;
        if (grow(&s->data, &s->data_cap, s->data_len + 1, s->max_event + 1))
            return he_fail(err, HE_LIMIT, "sse: event over %zu bytes", s->max_event);
        s->data[s->data_len] = 0;
        size_t len = s->data_len;
        s->data_len = 0;
        if (s->fn && s->fn(s->data, len, s->user)) {
            s->stopped = true;
            return 1;
        }
        return 0;
    }
    if (l[0] == ':') return 0;
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    if (fl != 4 || memcmp(l, "data", 4)) return 0; /* event:, id:, retry: are not needed here */
    const char *v = colon ? colon + 1 : l + n;
    if (v < l + n && *v == ' ') v++;
    size_t vl = (size_t)(l + n - v);
    size_t need = s->data_len + (s->has_data ? 1 : 0) + vl + 1;
    if (need > s->max_event + 1 || grow(&s->data, &s->data_cap, need, s->max_event + 1))
        return he_fail(err, HE_LIMIT, "sse: event over %zu bytes", s->max_event);
    if (s->has_data) s->data[s->data_len++] = '\n';
    memcpy(s->data + s->data_len, v, vl);
    s->data_len += vl;
    s->has_data = true;
    return 0;
}

int httpc_sse_feed(httpc_sse *s, const char *buf, size_t n, he_error *err) {
    if (s->stopped) return 1;
    size_t i = 0;
    while (i < n) {
        char c = buf[i];
        if (c == '\n' && s->last_cr) {
            s->last_cr = false;
            i++;
            continue;
        }
        s->last_cr = false;
        if (c == '\r' || c == '\n') {
            s->last_cr = c == '\r';
            i++;
            int rc = sse_line(s, err);
            s->line_len = 0;
            if (rc) return rc;
            continue;
        }
        /* copy the run up to the next line end in one go */
        size_t j = i;
        while (j < n && buf[j] != '\r' && buf[j] != '\n')
            j++;
        size_t run = j - i;
        if (grow(&s->line, &s->line_cap, s->line_len + run + 1, s->max_event + 64))
            return he_fail(err, HE_LIMIT, "sse: line over %zu bytes", s->max_event + 64);
        memcpy(s->line + s->line_len, buf + i, run);
        s->line_len += run;
        i = j;
    }
    return 0;
}

int httpc_sse_finish(httpc_sse *s, he_error *err) {
    if (s->stopped) return 1;
    if (s->line_len) {
        int rc = sse_line(s, err);
        s->line_len = 0;
        if (rc) return rc;
    }
    return sse_line(s, err); /* an event left without its blank line */
}

/* ---- the response reader ---- */

enum {
    R_HEAD,
    R_BODY_LEN,
    R_BODY_EOF,
    R_CHUNK_SIZE,
    R_CHUNK_DATA,
    R_CHUNK_CRLF,
    R_TRAILER,
    R_DONE,
    R_STOPPED
};

void httpc_reader_init(httpc_reader *r, httpc_sse *sse, size_t max_header, size_t max_body) {
    memset(r, 0, sizeof *r);
    r->sse = sse;
    r->max_header = max_header ? max_header : (size_t)64 << 10;
    r->max_body = max_body ? max_body : (size_t)16 << 20;
    r->state = R_HEAD;
}

void httpc_reader_deinit(httpc_reader *r) {
    if (!r) return;
    free(r->hdr);
    free(r->body);
    r->hdr = r->body = NULL;
}

static size_t streamed_total(const httpc_reader *r) { return r->body_len; }

/* Decoded body bytes: to the SSE reader or into r->body, within max_body. */
static int body_put(httpc_reader *r, const char *p, size_t n, he_error *err) {
    if (n == 0) return 0;
    if (r->is_sse) {
        if (streamed_total(r) + n > r->max_body)
            return he_fail(err, HE_LIMIT, "http: event stream over %zu bytes", r->max_body);
        r->body_len += n; /* counted, not kept */
        int rc = httpc_sse_feed(r->sse, p, n, err);
        if (rc < 0) return -1;
        if (rc > 0) {
            r->state = R_STOPPED;
            return 2;
        }
        return 0;
    }
    if (r->body_len + n > r->max_body)
        return he_fail(err, HE_LIMIT, "http: response body over %zu bytes", r->max_body);
    if (grow(&r->body, &r->body_cap, r->body_len + n + 1, r->max_body + 1))
        return he_fail(err, HE_NOMEM, "http: out of memory for the response body");
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return 0;
}

static bool is_token_char(unsigned char c) {
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* head -> status-line *(header-line) ; status-line -> "HTTP/1." DIGIT SP 3DIGIT [SP reason] */
static int parse_head(httpc_reader *r, size_t len, he_error *err) {
    char *h = r->hdr;
    h[len] = 0;
    char *eol = strchr(h, '\n');
    if (!eol) return he_fail(err, HE_FORMAT, "http: no status line");
    if (len < 12 || memcmp(h, "HTTP/1.", 7) || h[7] < '0' || h[7] > '9' || h[8] != ' ' ||
        h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' || h[11] < '0' || h[11] > '9' ||
        (h[12] != ' ' && h[12] != '\r' && h[12] != '\n'))
        return he_fail(err, HE_FORMAT, "http: malformed status line");
    r->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    r->chunked = r->has_length = false;
    r->content_type[0] = 0;
    bool te = false;
    char *line = eol + 1;
    while (*line) {
        char *e = strchr(line, '\n');
        if (!e) break;
        char *le = e;
        if (le > line && le[-1] == '\r') le--;
        *le = 0;
        if (le == line) break; /* the blank line */
        if (*line == ' ' || *line == '\t')
            return he_fail(err, HE_FORMAT, "http: folded header line");
        char *colon = strchr(line, ':');
        if (!colon || colon == line)
            return he_fail(err, HE_FORMAT, "http: header line without a name");
        for (char *p = line; p < colon; p++)
            if (!is_token_char((unsigned char)*p))
                return he_fail(err, HE_FORMAT, "http: bad header name");
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = 0;
        if (!strcasecmp(line, "content-length")) {
            if (!vl || vl > 19) return he_fail(err, HE_FORMAT, "http: bad Content-Length");
            unsigned long long x = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return he_fail(err, HE_FORMAT, "http: bad Content-Length");
                x = x * 10 + (unsigned)(v[i] - '0');
            }
            if (r->has_length && x != r->length)
                return he_fail(err, HE_FORMAT, "http: conflicting Content-Length");
            r->has_length = true;
            r->length = x;
        } else if (!strcasecmp(line, "transfer-encoding")) {
            te = true;
            /* chunked must be the last coding */
            size_t k = vl;
            while (k && v[k - 1] != ',' && v[k - 1] != ' ')
                k--;
            r->chunked = !strcasecmp(v + k, "chunked");
        } else if (!strcasecmp(line, "content-type")) {
            snprintf(r->content_type, sizeof r->content_type, "%s", v);
        }
        line = e + 1;
    }
    if (te) r->has_length = false; /* Transfer-Encoding wins (RFC 9112 6.3) */
    return 0;
}

static int start_body(httpc_reader *r, he_error *err) {
    if (r->has_length && r->length > r->max_body)
        return he_fail(err, HE_LIMIT, "http: response body of %llu bytes over the limit of %zu",
                       r->length, r->max_body);
    r->is_sse = r->sse && r->status >= 200 && r->status < 300 &&
                !strncasecmp(r->content_type, "text/event-stream", 17);
    if (r->head || r->status == 204 || r->status == 304)
        r->state = R_DONE;
    else if (r->chunked)
        r->state = R_CHUNK_SIZE;
    else if (r->has_length) {
        r->left = r->length;
        r->state = r->left ? R_BODY_LEN : R_DONE;
    } else
        r->state = R_BODY_EOF;
    return 0;
}

/* chunk-size line -> 1*HEXDIG [";" ext] ; a trailer ends at an empty line */
static int chunk_line(httpc_reader *r, he_error *err) {
    r->line[r->line_len] = 0;
    size_t n = r->line_len;
    if (n && r->line[n - 1] == '\r') r->line[--n] = 0;
    r->line_len = 0;
    if (r->state == R_TRAILER) {
        if (n == 0 && !r->line_long) r->state = R_DONE;
        r->line_long = false;
        return 0;
    }
    unsigned long long v = 0;
    size_t i = 0;
    for (; i < n; i++) {
        char c = r->line[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) break;
        if (v > (r->max_body >> 4))
            return he_fail(err, HE_LIMIT, "http: chunk over the body limit");
        v = v * 16 + (unsigned)d;
    }
    if (i == 0) return he_fail(err, HE_FORMAT, "http: bad chunk size");
    while (i < n && (r->line[i] == ' ' || r->line[i] == '\t'))
        i++;
    if (i < n && r->line[i] != ';') return he_fail(err, HE_FORMAT, "http: bad chunk size");
    if (v == 0) {
        r->state = R_TRAILER;
        r->trailer_bytes = 0;
    } else {
        r->left = v;
        r->state = R_CHUNK_DATA;
    }
    return 0;
}

int httpc_reader_feed(httpc_reader *r, const char *buf, size_t n, he_error *err) {
    size_t i = 0;
    while (i < n || r->state == R_DONE || r->state == R_STOPPED) {
        switch (r->state) {
        case R_DONE:
            return 1;
        case R_STOPPED:
            return 2;
        case R_HEAD: {
            /* append, then look for the blank line near the new bytes */
            size_t take = n - i, old = r->hdr_len;
            if (old + take > r->max_header) take = r->max_header - old;
            if (take == 0)
                return he_fail(err, HE_LIMIT, "http: response head over %zu bytes", r->max_header);
            char *p = he_realloc(r->hdr, old + take + 1);
            if (!p) return he_fail(err, HE_NOMEM, "http: out of memory");
            r->hdr = p;
            memcpy(r->hdr + old, buf + i, take);
            r->hdr_len = old + take;
            size_t from = old > 3 ? old - 3 : 0, end = 0;
            for (size_t k = from; k < r->hdr_len; k++) {
                if (r->hdr[k] != '\n') continue;
                if (k + 1 < r->hdr_len && r->hdr[k + 1] == '\n') {
                    end = k + 2;
                    break;
                }
                if (k + 2 < r->hdr_len && r->hdr[k + 1] == '\r' && r->hdr[k + 2] == '\n') {
                    end = k + 3;
                    break;
                }
            }
            if (!end) {
                i += take;
                if (r->hdr_len >= r->max_header)
                    return he_fail(err, HE_LIMIT, "http: response head over %zu bytes",
                                   r->max_header);
                break;
            }
            i += end - old; /* bytes of this buffer that belonged to the head */
            if (parse_head(r, end, err)) return -1;
            r->hdr_len = 0;
            if (r->status < 200) break; /* 1xx: an interim response; the real one follows */
            if (start_body(r, err)) return -1;
            break;
        }
        case R_BODY_LEN:
        case R_CHUNK_DATA: {
            size_t take = n - i;
            if (take > r->left) take = (size_t)r->left;
            int rc = body_put(r, buf + i, take, err);
            i += take;
            r->left -= take;
            if (rc) return rc;
            if (r->left == 0) r->state = r->state == R_BODY_LEN ? R_DONE : R_CHUNK_CRLF;
            break;
        }
        case R_BODY_EOF: {
            int rc = body_put(r, buf + i, n - i, err);
            i = n;
            if (rc) return rc;
            break;
        }
        case R_CHUNK_CRLF:
            if (buf[i] == '\r' && r->line_len == 0) {
                r->line_len = 1;
                i++;
            } else if (buf[i] == '\n') {
                r->line_len = 0;
                r->state = R_CHUNK_SIZE;
                i++;
            } else {
                return he_fail(err, HE_FORMAT, "http: chunk not followed by CRLF");
            }
            break;
        case R_CHUNK_SIZE:
        case R_TRAILER: {
            char c = buf[i++];
            if (r->state == R_TRAILER && ++r->trailer_bytes > (64u << 10))
                return he_fail(err, HE_LIMIT, "http: trailer over 64 KiB");
            if (c == '\n') {
                if (chunk_line(r, err)) return -1;
            } else if (r->line_len + 1 < sizeof r->line) {
                r->line[r->line_len++] = c;
            } else if (r->state == R_TRAILER) {
                r->line_long = true;
            } else {
                return he_fail(err, HE_FORMAT, "http: chunk-size line too long");
            }
            break;
        }
        default:
            return he_fail(err, HE_FORMAT, "http: bad reader state");
        }
    }
    return r->state == R_DONE ? 1 : r->state == R_STOPPED ? 2 : 0;
}

int httpc_reader_eof(httpc_reader *r, he_error *err) {
    if (r->state == R_DONE) return 1;
    if (r->state == R_STOPPED) return 2;
    if (r->state == R_BODY_EOF) {
        r->state = R_DONE;
        if (r->is_sse) {
            int rc = httpc_sse_finish(r->sse, err);
            if (rc < 0) return -1;
        }
        return 1;
    }
    if (r->state == R_HEAD)
        return he_fail(err, HE_FORMAT, "http: connection closed before a complete response");
    return he_fail(err, HE_FORMAT, "http: connection closed in the middle of the body");
}

/* ---- requests ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int connect_to(const httpc_url *u, int timeout_ms, he_error *err) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV},
                    *ai = NULL;
    int rc = getaddrinfo(u->host, u->port, &hints, &ai);
    if (rc) return he_fail(err, HE_IO, "http: %s: %s", u->host, gai_strerror(rc));
    int fd = -1, last = 0;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int pr;
            do
                pr = poll(&pfd, 1, timeout_ms);
            while (pr < 0 && errno == EINTR);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (pr == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            last = pr == 0 ? ETIMEDOUT : soerr ? soerr : errno;
        } else {
            last = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return he_fail(err, HE_IO, "http: cannot connect to %s:%s: %s", u->host, u->port,
                       strerror(last));
    return fd;
}

/* Waits for fd to be ready for ev within the idle and total limits (and the cancel flag). */
static int wait_fd(int fd, short ev, const httpc_opts *o, double deadline, he_error *err) {
    int idle = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 300000;
    double t_idle = now_s() + idle / 1000.0;
    for (;;) {
        if (o->cancel && *o->cancel) return he_fail(err, HE_RUNTIME, "http: cancelled");
        double t = now_s(), lim = t_idle;
        if (deadline > 0 && deadline < lim) lim = deadline;
        if (t >= lim)
            return he_fail(err, HE_IO, "http: timed out after %s",
                           lim == deadline ? "the total time limit" : "a silence");
        int ms = (int)((lim - t) * 1000) + 1;
        if (ms > 200) ms = 200;
        struct pollfd pfd = {.fd = fd, .events = ev};
        int pr = poll(&pfd, 1, ms);
        if (pr < 0 && errno != EINTR) return he_fail(err, HE_IO, "http: poll: %s", strerror(errno));
        if (pr > 0) return 0;
    }
}

static bool header_safe(const char *s) {
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || *s == 0x7f) return false;
    return true;
}

int httpc_request(const httpc_url *base, const char *method, const char *path, const char *body,
                  size_t body_len, const httpc_opts *o, httpc_sse_fn sse_fn, void *user,
                  httpc_response *out, he_error *err) {
    static const httpc_opts defaults = {0};
    if (!o) o = &defaults;
    memset(out, 0, sizeof *out);
    if (!path) path = "";
    const char *key = o->api_key && o->api_key[0] ? o->api_key : NULL;
    if (!header_safe(path) || strchr(path, ' ') || (key && !header_safe(key)) ||
        (o->extra_header && !header_safe(o->extra_header)) || !header_safe(method))
        return he_fail(err, HE_INVALID,
                       "http: a header or the path contains a line break or space");
    char hostport[300];
    snprintf(hostport, sizeof hostport, base->ipv6 ? "[%s]:%s" : "%s:%s", base->host, base->port);
    size_t cap = strlen(method) + strlen(base->path) + strlen(path) + strlen(hostport) +
                 (key ? strlen(key) : 0) + (o->extra_header ? strlen(o->extra_header) : 0) + 256;
    char *head = xmalloc(cap);
    int hn =
        snprintf(head, cap,
                 "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hearth\r\nAccept: application/json, "
                 "text/event-stream\r\nConnection: close\r\n%s%s%s%s%s",
                 method, base->path, path[0] ? path : (base->path[0] ? "" : "/"), hostport,
                 key ? "Authorization: Bearer " : "", key ? key : "", key ? "\r\n" : "",
                 o->extra_header ? o->extra_header : "", o->extra_header ? "\r\n" : "");
    if (body)
        hn += snprintf(head + hn, cap - (size_t)hn,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    hn += snprintf(head + hn, cap - (size_t)hn, "\r\n");
    double deadline = o->total_timeout_s > 0 ? now_s() + o->total_timeout_s : 0;
    int fd = connect_to(base, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000, err);
    if (fd < 0) {
        explicit_bzero(head, cap);
        free(head);
        return -1;
    }
    int rc = -1;
    httpc_sse sse;
    httpc_sse_init(&sse, sse_fn, user, 0);
    httpc_reader rd;
    httpc_reader_init(&rd, sse_fn ? &sse : NULL, 0, o->max_body);
    rd.head = !strcmp(method, "HEAD");
    /* send the head, then the body */
    for (int part = 0; part < 2; part++) {
        const char *p = part ? body : head;
        size_t len = part ? (body ? body_len : 0) : (size_t)hn, off = 0;
        while (off < len) {
            if (wait_fd(fd, POLLOUT, o, deadline, err)) goto done;
            ssize_t w = send(fd, p + off, len - off, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (w <= 0) {
                he_fail(err, HE_IO, "http: send to %s: %s", hostport, strerror(errno));
                goto done;
            }
            off += (size_t)w;
        }
    }
    char buf[16384];
    for (;;) {
        if (wait_fd(fd, POLLIN, o, deadline, err)) goto done;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r < 0) {
            he_fail(err, HE_IO, "http: receive from %s: %s", hostport, strerror(errno));
            goto done;
        }
        int fr = r == 0 ? httpc_reader_eof(&rd, err) : httpc_reader_feed(&rd, buf, (size_t)r, err);
        if (fr < 0) goto done;
        if (fr > 0) break;
    }
    if (rd.is_sse && rd.state != R_STOPPED && httpc_sse_finish(&sse, err) < 0) goto done;
    out->status = rd.status;
    snprintf(out->content_type, sizeof out->content_type, "%s", rd.content_type);
    out->streamed = rd.is_sse;
    if (rd.is_sse || !rd.body) {
        out->body = xstrdup("");
    } else {
        out->body = rd.body;
        out->body_len = rd.body_len;
        rd.body = NULL;
    }
    rc = 0;
done:
    close(fd);
    explicit_bzero(head, cap);
    free(head);
    httpc_reader_deinit(&rd);
    httpc_sse_deinit(&sse);
    return rc;
}

void httpc_response_free(httpc_response *r) {
    if (!r) return;
    free(r->body);
    r->body = NULL;
}

const char *httpc_error_message(const char *body, size_t len, char *buf, size_t cap) {
    if (!body || !len || !cap) return NULL;
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *m = NULL;
    json_t *e = json_object_get(j, "error");
    if (json_is_object(e))
        m = json_string_value(json_object_get(e, "message"));
    else if (json_is_string(e))
        m = json_string_value(e);
    if (m) snprintf(buf, cap, "%s", m);
    json_decref(j);
    return m ? buf : NULL;
}
