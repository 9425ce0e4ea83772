/* tools.c — the built-in tools (tools.h): read_file, list_dir, search, write_file, edit_file,
 * run_command, http_get. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/tools.h"
#include "base/alloc.h"
#include "client/httpc.h"

/* ---- text buffers ---- */

typedef struct {
    char *p;
    size_t n, cap, limit;
    bool full;
} tbuf;

static void tb_init(tbuf *b, size_t limit) {
    b->limit = limit;
    b->cap = 256;
    b->n = 0;
    b->full = false;
    b->p = xmalloc(b->cap);
    b->p[0] = 0;
}

static void tb_add(tbuf *b, const char *s, size_t n) {
    if (b->full) return;
    if (b->n + n > b->limit) {
        n = b->limit - b->n;
        b->full = true;
    }
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap)
            b->cap *= 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

__attribute__((format(printf, 2, 3))) static void tb_printf(tbuf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof tmp) {
        char *big = xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        tb_add(b, big, (size_t)n);
        free(big);
        return;
    }
    tb_add(b, tmp, (size_t)n);
}

__attribute__((format(printf, 3, 4))) static void result_set(tool_result *r, bool ok,
                                                             const char *fmt, ...) {
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    free(r->text);
    r->text = xstrdup(tmp);
    r->ok = ok;
}

/* ---- schemas ---- */

static json_t *fn(const char *name, const char *desc, json_t *props, const char *req1,
                  const char *req2) {
    json_t *req = json_array();
    if (req1) json_array_append_new(req, json_string(req1));
    if (req2) json_array_append_new(req, json_string(req2));
    return json_pack("{s:s, s:{s:s, s:s, s:{s:s, s:o, s:o, s:b}}}", "type", "function", "function",
                     "name", name, "description", desc, "parameters", "type", "object",
                     "properties", props, "required", req, "additionalProperties", 0);
}

json_t *agent_tools_schema(const agent_tools *t) {
    json_t *a = json_array();
    json_array_append_new(
        a, fn("read_file",
              "Read a text file (relative paths are in the workspace). Returns numbered lines.",
              json_pack("{s:{s:s}, s:{s:s, s:i}, s:{s:s, s:i, s:i}}", "path", "type", "string",
                        "start_line", "type", "integer", "minimum", 1, "max_lines", "type",
                        "integer", "minimum", 1, "maximum", 2000),
              "path", NULL));
    json_array_append_new(a, fn("list_dir",
                                "List a directory: one entry per line, directories end with '/'.",
                                json_pack("{s:{s:s}}", "path", "type", "string"), "path", NULL));
    json_array_append_new(
        a,
        fn("search",
           "Find lines containing a literal string in the files under a directory (like grep -rF).",
           json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "pattern", "type", "string", "path", "type",
                     "string", "ignore_case", "type", "boolean"),
           "pattern", NULL));
    json_array_append_new(a, fn("write_file", "Create or overwrite a file with the given content.",
                                json_pack("{s:{s:s}, s:{s:s}}", "path", "type", "string", "content",
                                          "type", "string"),
                                "path", "content"));
    json_array_append_new(
        a, fn("edit_file",
              "Replace old_string by new_string in a file. old_string must occur exactly once; "
              "include enough "
              "surrounding text to make it unique.",
              json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "path", "type", "string", "old_string",
                        "type", "string", "new_string", "type", "string"),
              "path", "old_string"));
    json_array_append_new(
        a, fn("run_command",
              "Run a shell command in the workspace (sandboxed: only the workspace is writable, no "
              "network). "
              "Returns the exit status and the output.",
              json_pack("{s:{s:s}, s:{s:s, s:i, s:i}}", "command", "type", "string", "timeout_s",
                        "type", "integer", "minimum", 1, "maximum", 600),
              "command", NULL));
    if (t && t->index_db)
        json_array_append_new(
            a, fn("search_context",
                  "Search the user's indexed files (notes, documents, code) by meaning. Returns "
                  "the best matching passages with their file and lines.",
                  json_pack("{s:{s:s}, s:{s:s, s:i, s:i}}", "query", "type", "string", "k",
                            "type", "integer", "minimum", 1, "maximum", 20),
                  "query", NULL));
    if (t && t->n_http_hosts > 0)
        json_array_append_new(a, fn("http_get",
                                    "Fetch a URL with HTTP GET (only hosts the operator allowed).",
                                    json_pack("{s:{s:s}}", "url", "type", "string"), "url", NULL));
    return a;
}

static const char *const known[] = {"read_file", "list_dir",    "search",  "write_file",
                                    "edit_file", "run_command", "http_get", "search_context"};

bool agent_tool_known(const char *name) {
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(name, known[i])) return true;
    return false;
}

bool agent_tool_mutates(const char *name) {
    return !strcmp(name, "write_file") || !strcmp(name, "edit_file") ||
           !strcmp(name, "run_command");
}

/* ---- paths ---- */

bool agent_path_inside(const char *dir, const char *path) {
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return path[0] == '/';
    return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

int agent_path_resolve(const char *workspace, const char *arg, char *out, size_t cap,
                       he_error *err) {
    if (!arg || !arg[0]) return he_fail(err, HE_INVALID, "empty path");
    if (strlen(arg) >= PATH_MAX) return he_fail(err, HE_LIMIT, "path too long");
    char abs[PATH_MAX * 2];
    const char *home = getenv("HOME");
    if ((arg[0] == '~' && (arg[1] == 0 || arg[1] == '/'))) {
        if (!home || !home[0]) return he_fail(err, HE_INVALID, "%s: $HOME is not set", arg);
        snprintf(abs, sizeof abs, "%s%s", home, arg + 1);
    } else if (arg[0] == '/') {
        snprintf(abs, sizeof abs, "%s", arg);
    } else {
        snprintf(abs, sizeof abs, "%s/%s", workspace, arg);
    }
    if (strlen(abs) >= PATH_MAX) return he_fail(err, HE_LIMIT, "path too long");
    /* realpath the longest prefix that exists; the rest must be plain names */
    char head[PATH_MAX], real[PATH_MAX];
    size_t tail_at = strlen(abs); /* < PATH_MAX, checked above */
    memcpy(head, abs, tail_at + 1);
    for (;;) {
        if (realpath(head, real)) break;
        if (errno != ENOENT && errno != ENOTDIR)
            return he_fail(err, HE_IO, "%s: %s", arg, strerror(errno));
        char *slash = strrchr(head, '/');
        if (!slash) return he_fail(err, HE_INVALID, "%s: cannot resolve", arg);
        if (slash == head) {
            strcpy(real, "/");
            *slash = 0;
            tail_at = 0;
            break;
        }
        *slash = 0;
        tail_at = (size_t)(slash - head);
    }
    const char *tail = abs + tail_at;
    if (*tail == 0) {
        if (snprintf(out, cap, "%s", real) >= (int)cap)
            return he_fail(err, HE_LIMIT, "path too long");
        return 0;
    }
    /* check the components of the part that does not exist */
    for (const char *p = tail; *p;) {
        while (*p == '/')
            p++;
        size_t l = strcspn(p, "/");
        if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
            return he_fail(err, HE_INVALID, "%s: '.' or '..' after a missing directory", arg);
        p += l;
    }
    int w = snprintf(out, cap, "%s%s", strcmp(real, "/") ? real : "", tail);
    if (w < 0 || (size_t)w >= cap) return he_fail(err, HE_LIMIT, "path too long");
    /* collapse doubled slashes */
    char *d = out;
    for (const char *s = out; *s; s++)
        if (!(*s == '/' && d > out && d[-1] == '/')) *d++ = *s;
    if (d > out + 1 && d[-1] == '/') d--;
    *d = 0;
    return 0;
}

static const char *str_arg(const json_t *args, const char *key) {
    return json_string_value(json_object_get(args, key));
}

/* Reads a whole regular file of at most limit bytes. */
static char *read_all(const char *path, size_t limit, size_t *len, he_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        he_fail(err, HE_IO, "%s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        he_fail(err, HE_INVALID, "not a regular file");
        return NULL;
    }
    if ((size_t)st.st_size > limit) {
        close(fd);
        he_fail(err, HE_LIMIT, "file of %lld bytes is over the %zu-byte limit",
                (long long)st.st_size, limit);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > limit) break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Writes data to path via a temporary file and rename (keeps the old mode). */
static int write_atomic(const char *path, const char *data, size_t len, he_error *err) {
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.hearth-tmp", path);
    struct stat st;
    mode_t mode = 0644;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return he_fail(err, HE_INVALID, "is a directory");
        mode = st.st_mode & 07777;
    }
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return he_fail(err, HE_IO, "%s", strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return he_fail(err, HE_IO, "%s", strerror(e));
        }
        off += (size_t)w;
    }
    fchmod(fd, mode);
    close(fd);
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return he_fail(err, HE_IO, "%s", strerror(e));
    }
    return 0;
}

/* ---- edit_file and diffs ---- */

int agent_edit_apply(const char *text, size_t len, const char *old, const char *repl, char **out,
                     size_t *out_len, he_error *err) {
    size_t ol = old ? strlen(old) : 0;
    if (ol == 0) return he_fail(err, HE_INVALID, "old_string is empty");
    if (!repl) repl = "";
    size_t count = 0, at = 0;
    for (size_t i = 0; i + ol <= len;) {
        const char *hit = memmem(text + i, len - i, old, ol);
        if (!hit) break;
        if (count++ == 0) at = (size_t)(hit - text);
        i = (size_t)(hit - text) + 1;
        if (count > 1) break;
    }
    if (count == 0) return he_fail(err, HE_INVALID, "old_string does not occur in the file");
    if (count > 1)
        return he_fail(err, HE_INVALID,
                       "old_string occurs more than once; add surrounding text to make it unique");
    size_t rl = strlen(repl), n = len - ol + rl;
    char *r = xmalloc(n + 1);
    memcpy(r, text, at);
    memcpy(r + at, repl, rl);
    memcpy(r + at + rl, text + at + ol, len - at - ol);
    r[n] = 0;
    *out = r;
    *out_len = n;
    return 0;
}

typedef struct {
    const char **p;
    size_t *len;
    size_t n;
} lines;

static void split_lines(const char *s, size_t n, lines *l) {
    size_t cap = 16;
    l->p = xmalloc(cap * sizeof *l->p);
    l->len = xmalloc(cap * sizeof *l->len);
    l->n = 0;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) + 1 : n;
        if (l->n == cap) {
            cap *= 2;
            l->p = xrealloc(l->p, cap * sizeof *l->p);
            l->len = xrealloc(l->len, cap * sizeof *l->len);
        }
        l->p[l->n] = s + i;
        l->len[l->n++] = e - i;
        i = e;
    }
}

static bool line_eq(const lines *a, size_t i, const lines *b, size_t j) {
    return a->len[i] == b->len[j] && !memcmp(a->p[i], b->p[j], a->len[i]);
}

static void diff_line(tbuf *t, char mark, const char *p, size_t n) {
    tb_add(t, &mark, 1);
    tb_add(t, p, n);
    if (n == 0 || p[n - 1] != '\n') tb_add(t, "\n\\ No newline at end of file\n", 29);
}

char *agent_diff(const char *path, const char *a, size_t alen, const char *b, size_t blen) {
    tbuf t;
    tb_init(&t, TOOL_MAX_RESULT);
    if (alen == blen && !memcmp(a, b, alen)) return t.p;
    lines la, lb;
    split_lines(a, alen, &la);
    split_lines(b, blen, &lb);
    size_t pre = 0;
    while (pre < la.n && pre < lb.n && line_eq(&la, pre, &lb, pre))
        pre++;
    size_t suf = 0;
    while (suf < la.n - pre && suf < lb.n - pre &&
           line_eq(&la, la.n - 1 - suf, &lb, lb.n - 1 - suf))
        suf++;
    size_t ctx_a = pre > 3 ? pre - 3 : 0;
    size_t end_a = la.n - suf + (suf > 3 ? 3 : suf), end_b = lb.n - suf + (suf > 3 ? 3 : suf);
    tb_printf(&t, "--- a%s%s\n+++ b%s%s\n", path[0] == '/' ? "" : "/", path,
              path[0] == '/' ? "" : "/", path);
    size_t na = end_a - ctx_a, nb = end_b - ctx_a;
    tb_printf(&t, "@@ -%zu,%zu +%zu,%zu @@\n", na ? ctx_a + 1 : ctx_a, na, nb ? ctx_a + 1 : ctx_a,
              nb);
    for (size_t i = ctx_a; i < pre; i++)
        diff_line(&t, ' ', la.p[i], la.len[i]);
    for (size_t i = pre; i < la.n - suf; i++)
        diff_line(&t, '-', la.p[i], la.len[i]);
    for (size_t i = pre; i < lb.n - suf; i++)
        diff_line(&t, '+', lb.p[i], lb.len[i]);
    for (size_t i = la.n - suf; i < end_a; i++)
        diff_line(&t, ' ', la.p[i], la.len[i]);
    free(la.p);
    free(la.len);
    free(lb.p);
    free(lb.len);
    if (t.full) tb_add(&t, "\n[diff truncated]\n", 18), t.full = true;
    return t.p;
}

/* ---- the tools ---- */

static bool is_binary(const char *s, size_t n) { return memchr(s, 0, n < 8192 ? n : 8192) != NULL; }

static void t_read_file(const agent_tools *t, const json_t *args, tool_result *r) {
    char path[PATH_MAX];
    he_error e;
    const char *arg = str_arg(args, "path");
    if (agent_path_resolve(t->workspace, arg, path, sizeof path, &e))
        return result_set(r, false, "error: %s", e.msg);
    size_t len;
    char *s = read_all(path, TOOL_MAX_FILE, &len, &e);
    if (!s) return result_set(r, false, "error: %s: %s", arg, e.msg);
    if (is_binary(s, len)) {
        free(s);
        return result_set(r, false, "%s: a binary file of %zu bytes", arg, len);
    }
    json_int_t start = json_integer_value(json_object_get(args, "start_line"));
    json_int_t max = json_integer_value(json_object_get(args, "max_lines"));
    if (start < 1) start = 1;
    if (max < 1 || max > 2000) max = 2000;
    tbuf b;
    tb_init(&b, TOOL_MAX_RESULT);
    json_int_t no = 1, shown = 0;
    size_t i = 0;
    while (i < len && shown < max && !b.full) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t e2 = nl ? (size_t)(nl - s) + 1 : len;
        if (no >= start) {
            tb_printf(&b, "%6lld\t", (long long)no);
            tb_add(&b, s + i, e2 - i);
            if (!nl) tb_add(&b, "\n", 1);
            shown++;
        }
        no++;
        i = e2;
    }
    if (i < len) {
        tb_printf(&b, "[%zu more bytes not shown; continue with start_line=%lld]\n", len - i,
                  (long long)no);
        r->truncated = true;
    }
    free(s);
    r->text = b.p;
    r->ok = true;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void t_list_dir(const agent_tools *t, const json_t *args, tool_result *r) {
    char path[PATH_MAX];
    he_error e;
    const char *arg = str_arg(args, "path");
    if (!arg || !arg[0]) arg = ".";
    if (agent_path_resolve(t->workspace, arg, path, sizeof path, &e))
        return result_set(r, false, "error: %s", e.msg);
    DIR *d = opendir(path);
    if (!d) return result_set(r, false, "error: %s: %s", arg, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0, more = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n >= 1000) {
            more++;
            continue;
        }
        char full[PATH_MAX + 256];
        snprintf(full, sizeof full, "%s/%s", path, de->d_name);
        struct stat st;
        char item[600];
        if (lstat(full, &st))
            snprintf(item, sizeof item, "%.255s", de->d_name);
        else if (S_ISDIR(st.st_mode))
            snprintf(item, sizeof item, "%.255s/", de->d_name);
        else if (S_ISLNK(st.st_mode))
            snprintf(item, sizeof item, "%.255s@", de->d_name);
        else
            snprintf(item, sizeof item, "%.255s\t%lld bytes", de->d_name, (long long)st.st_size);
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(item);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    tbuf b;
    tb_init(&b, TOOL_MAX_RESULT);
    for (size_t i = 0; i < n; i++) {
        tb_printf(&b, "%s\n", names[i]);
        free(names[i]);
    }
    free(names);
    if (more) tb_printf(&b, "[%zu more entries not shown]\n", more);
    if (n == 0 && !more) tb_add(&b, "(empty)\n", 8);
    r->text = b.p;
    r->ok = true;
}

typedef struct {
    const char *pat;
    size_t plen;
    bool icase;
    tbuf out;
    size_t files, hits, bytes;
    bool stop;
    const char *root;
} search_state;

static const char *find_in(const char *s, size_t n, const char *pat, size_t plen, bool icase) {
    if (!icase) return memmem(s, n, pat, plen);
    for (size_t i = 0; i + plen <= n; i++)
        if (!strncasecmp(s + i, pat, plen)) return s + i;
    return NULL;
}

static void search_file(search_state *st, const char *path) {
    if (st->files >= 20000 || st->bytes > ((size_t)64 << 20)) {
        st->stop = true;
        return;
    }
    st->files++;
    size_t len;
    he_error e;
    char *s = read_all(path, (size_t)1 << 20, &len, &e);
    if (!s) return;
    st->bytes += len;
    if (is_binary(s, len)) {
        free(s);
        return;
    }
    size_t i = 0, no = 1;
    const char *rel = path + strlen(st->root);
    if (*rel == '/') rel++;
    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t e2 = nl ? (size_t)(nl - s) : len;
        if (find_in(s + i, e2 - i, st->pat, st->plen, st->icase)) {
            size_t show = e2 - i > 300 ? 300 : e2 - i;
            tb_printf(&st->out, "%s:%zu: %.*s\n", rel[0] ? rel : path, no, (int)show, s + i);
            if (++st->hits >= 200) {
                st->stop = true;
                break;
            }
        }
        no++;
        i = e2 + 1;
    }
    free(s);
}

static void search_dir(search_state *st, const char *dir, int depth) {
    if (depth > 32 || st->stop) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while (!st->stop && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
            continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p) continue;
        struct stat sb;
        if (lstat(p, &sb)) continue; /* symlinks are not followed */
        if (S_ISDIR(sb.st_mode))
            search_dir(st, p, depth + 1);
        else if (S_ISREG(sb.st_mode))
            search_file(st, p);
    }
    closedir(d);
}

static void t_search(const agent_tools *t, const json_t *args, tool_result *r) {
    const char *pat = str_arg(args, "pattern");
    if (!pat || !pat[0]) return result_set(r, false, "error: pattern must be a non-empty string");
    if (strlen(pat) > 1000) return result_set(r, false, "error: pattern over 1000 bytes");
    const char *arg = str_arg(args, "path");
    if (!arg || !arg[0]) arg = ".";
    char path[PATH_MAX];
    he_error e;
    if (agent_path_resolve(t->workspace, arg, path, sizeof path, &e))
        return result_set(r, false, "error: %s", e.msg);
    search_state st = {.pat = pat,
                       .plen = strlen(pat),
                       .icase = json_is_true(json_object_get(args, "ignore_case")),
                       .root = path};
    tb_init(&st.out, TOOL_MAX_RESULT);
    struct stat sb;
    if (stat(path, &sb)) {
        free(st.out.p);
        return result_set(r, false, "error: %s: %s", arg, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        search_dir(&st, path, 0);
    else
        search_file(&st, path);
    if (st.hits == 0) tb_add(&st.out, "no matches\n", 11);
    if (st.stop) {
        tb_add(&st.out, "[search stopped at its limit: 200 matches, 20000 files or 64 MiB]\n", 67);
        r->truncated = true;
    }
    r->text = st.out.p;
    r->ok = true;
}

/* search_context: runs `/proc/self/exe search QUERY --db DB --json -k K` (the engine lives in
 * the hearth binary, not in this module) and turns its JSON into passages for the model. */
static void t_search_context(const agent_tools *t, const json_t *args, tool_result *r) {
    const char *q = str_arg(args, "query");
    if (!q || !q[0]) return result_set(r, false, "error: query must be a non-empty string");
    if (strlen(q) > 2000) return result_set(r, false, "error: query over 2000 bytes");
    json_t *kv = json_object_get(args, "k");
    long k = json_is_integer(kv) ? (long)json_integer_value(kv) : 5;
    if (k < 1 || k > 20) k = 5;
    char ks[16];
    snprintf(ks, sizeof ks, "%ld", k);
    int fd[2];
    if (pipe(fd)) return result_set(r, false, "error: pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return result_set(r, false, "error: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0) dup2(dn, 2);
        close(fd[0]);
        close(fd[1]);
        execl("/proc/self/exe", "hearth", "search", q, "--db", t->index_db, "--json", "-k", ks,
              (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    tbuf out;
    tb_init(&out, (size_t)1 << 20);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd[0], buf, sizeof buf)) > 0)
        tb_add(&out, buf, (size_t)n);
    close(fd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    json_t *hits = out.p ? json_loads(out.p, 0, NULL) : NULL;
    free(out.p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !json_is_array(hits)) {
        json_decref(hits);
        return result_set(r, false, "error: the context index could not be searched (%s)",
                          t->index_db);
    }
    tbuf res;
    tb_init(&res, TOOL_MAX_RESULT);
    size_t i;
    json_t *h;
    json_array_foreach(hits, i, h) {
        char head[PATH_MAX + 64];
        int hn = snprintf(head, sizeof head, "[%zu] %s:%lld-%lld (score %.3f)\n", i + 1,
                          json_string_value(json_object_get(h, "path")),
                          (long long)json_integer_value(json_object_get(h, "line_start")),
                          (long long)json_integer_value(json_object_get(h, "line_end")),
                          json_real_value(json_object_get(h, "score")));
        tb_add(&res, head, hn > 0 && (size_t)hn < sizeof head ? (size_t)hn : 0);
        const char *text = json_string_value(json_object_get(h, "text"));
        if (text) tb_add(&res, text, strlen(text));
        tb_add(&res, "\n", 1);
    }
    if (json_array_size(hits) == 0) tb_add(&res, "no matches\n", 11);
    json_decref(hits);
    r->truncated = res.full;
    r->text = res.p;
    r->ok = true;
}

static int mkdirs_for(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *slash = strrchr(tmp, '/');
    if (!slash || slash == tmp) return 0;
    *slash = 0;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

int agent_tool_target(const agent_tools *t, const char *tool, const json_t *args, char *out,
                      size_t cap) {
    if (strcmp(tool, "write_file") && strcmp(tool, "edit_file")) return -1;
    return agent_path_resolve(t->workspace, str_arg(args, "path"), out, cap, NULL);
}

static void t_write_file(const agent_tools *t, const json_t *args, bool outside_ok,
                         tool_result *r) {
    const char *arg = str_arg(args, "path");
    json_t *cj = json_object_get(args, "content");
    if (!json_is_string(cj)) return result_set(r, false, "error: content must be a string");
    char path[PATH_MAX];
    he_error e;
    if (agent_path_resolve(t->workspace, arg, path, sizeof path, &e))
        return result_set(r, false, "error: %s", e.msg);
    if (!outside_ok && !agent_path_inside(t->workspace, path))
        return result_set(r, false, "refused: %s is outside the workspace", path);
    if (mkdirs_for(path))
        return result_set(r, false, "error: %s: cannot create its directory: %s", arg,
                          strerror(errno));
    size_t n = json_string_length(cj);
    if (write_atomic(path, json_string_value(cj), n, &e))
        return result_set(r, false, "error: %s: %s", arg, e.msg);
    result_set(r, true, "wrote %zu bytes to %s", n, arg);
}

static void t_edit_file(const agent_tools *t, const json_t *args, bool outside_ok, tool_result *r) {
    const char *arg = str_arg(args, "path"), *old = str_arg(args, "old_string"),
               *repl = str_arg(args, "new_string");
    if (!old) return result_set(r, false, "error: old_string must be a string");
    if (json_object_get(args, "new_string") && !repl)
        return result_set(r, false, "error: new_string must be a string");
    char path[PATH_MAX];
    he_error e;
    if (agent_path_resolve(t->workspace, arg, path, sizeof path, &e))
        return result_set(r, false, "error: %s", e.msg);
    if (!outside_ok && !agent_path_inside(t->workspace, path))
        return result_set(r, false, "refused: %s is outside the workspace", path);
    size_t len, nl;
    char *s = read_all(path, TOOL_MAX_FILE, &len, &e);
    if (!s) return result_set(r, false, "error: %s: %s", arg, e.msg);
    char *ns;
    if (agent_edit_apply(s, len, old, repl, &ns, &nl, &e)) {
        free(s);
        return result_set(r, false, "error: %s: %s", arg, e.msg);
    }
    free(s);
    int rc = write_atomic(path, ns, nl, &e);
    free(ns);
    if (rc) return result_set(r, false, "error: %s: %s", arg, e.msg);
    result_set(r, true, "edited %s (1 replacement)", arg);
}

static void t_run_command(const agent_tools *t, const json_t *args, tool_result *r) {
    const char *cmd = str_arg(args, "command");
    if (!cmd || !cmd[0]) return result_set(r, false, "error: command must be a non-empty string");
    if (strlen(cmd) > 65536) return result_set(r, false, "error: command over 64 KiB");
    sandbox_cfg c = t->sandbox;
    json_int_t to = json_integer_value(json_object_get(args, "timeout_s"));
    if (to > 0 && to <= 600 && (c.timeout_s <= 0 || to < c.timeout_s)) c.timeout_s = (int)to;
    sandbox_result sr;
    he_error e;
    if (sandbox_run(&c, cmd, &sr, &e)) return result_set(r, false, "error: %s", e.msg);
    tbuf b;
    tb_init(&b, TOOL_MAX_RESULT + 256);
    if (sr.timed_out) tb_printf(&b, "timed out after %.0f s (killed)\n", sr.seconds);
    tb_printf(&b, "exit status %d\n", sr.exit_status);
    tb_add(&b, sr.output, sr.output_len);
    if (sr.output_total > sr.output_len) {
        tb_printf(&b, "\n[output truncated: %zu of %zu bytes shown]\n", sr.output_len,
                  sr.output_total);
        r->truncated = true;
    }
    r->exit_status = sr.exit_status;
    r->ok = true;
    r->text = b.p;
    sandbox_result_free(&sr);
}

static void t_http_get(const agent_tools *t, const json_t *args, tool_result *r) {
    const char *url = str_arg(args, "url");
    httpc_url u;
    he_error e;
    if (!url || httpc_url_parse(url, &u, &e))
        return result_set(r, false, "error: %s", url ? e.msg : "url must be a string");
    bool ok = false;
    for (int i = 0; i < t->n_http_hosts && !ok; i++)
        ok = !strcasecmp(u.host, t->http_hosts[i]);
    if (!ok)
        return result_set(r, false, "refused: host %s is not in the allowed list (--allow-http)",
                          u.host);
    /* the whole URL is the base; its path is sent as is */
    httpc_opts o = {.connect_timeout_ms = 10000,
                    .idle_timeout_ms = 30000,
                    .total_timeout_s = 60,
                    .max_body = (size_t)1 << 20};
    httpc_response resp;
    if (httpc_request(&u, "GET", "", NULL, 0, &o, NULL, NULL, &resp, &e))
        return result_set(r, false, "error: %s", e.msg);
    tbuf b;
    tb_init(&b, TOOL_MAX_RESULT);
    tb_printf(&b, "HTTP %d (%s)\n", resp.status, resp.content_type);
    tb_add(&b, resp.body, resp.body_len);
    r->truncated = b.full;
    httpc_response_free(&resp);
    r->text = b.p;
    r->ok = true;
}

char *agent_tool_preview(const agent_tools *t, const char *tool, const json_t *args) {
    tbuf b;
    tb_init(&b, TOOL_MAX_RESULT);
    const char *arg = str_arg(args, "path");
    char path[PATH_MAX];
    if (arg && agent_path_resolve(t->workspace, arg, path, sizeof path, NULL) == 0)
        tb_printf(&b, "path: %s -> %s%s\n", arg, path,
                  agent_path_inside(t->workspace, path) ? "" : "  (OUTSIDE the workspace)");
    if (!strcmp(tool, "run_command") && str_arg(args, "command"))
        tb_printf(&b, "command (sh -c, in %s): %s\n", t->workspace, str_arg(args, "command"));
    if (arg && (!strcmp(tool, "write_file") || !strcmp(tool, "edit_file"))) {
        size_t len = 0;
        char *old = read_all(path, TOOL_MAX_FILE, &len, NULL);
        char *nw = NULL;
        size_t nl = 0;
        he_error e;
        if (!strcmp(tool, "write_file")) {
            const char *c = str_arg(args, "content");
            if (c)
                nw = xstrndup(c, json_string_length(json_object_get(args, "content"))),
                nl = strlen(nw);
        } else if (old && agent_edit_apply(old, len, str_arg(args, "old_string"),
                                           str_arg(args, "new_string"), &nw, &nl, &e)) {
            tb_printf(&b, "the edit cannot apply: %s\n", e.msg);
        }
        if (nw) {
            char *d = agent_diff(arg, old ? old : "", old ? len : 0, nw, nl);
            tb_add(&b, d, strlen(d));
            free(d);
        }
        free(old);
        free(nw);
    }
    return b.p;
}

void agent_tool_run(const agent_tools *t, const char *tool, const json_t *args, bool outside_ok,
                    tool_result *r) {
    memset(r, 0, sizeof *r);
    r->exit_status = -1;
    if (!json_is_object(args))
        return result_set(r, false, "error: the arguments must be a JSON object");
    if (!strcmp(tool, "read_file"))
        t_read_file(t, args, r);
    else if (!strcmp(tool, "list_dir"))
        t_list_dir(t, args, r);
    else if (!strcmp(tool, "search"))
        t_search(t, args, r);
    else if (!strcmp(tool, "write_file"))
        t_write_file(t, args, outside_ok, r);
    else if (!strcmp(tool, "edit_file"))
        t_edit_file(t, args, outside_ok, r);
    else if (!strcmp(tool, "run_command"))
        t_run_command(t, args, r);
    else if (!strcmp(tool, "http_get") && t->n_http_hosts > 0)
        t_http_get(t, args, r);
    else if (!strcmp(tool, "search_context") && t->index_db)
        t_search_context(t, args, r);
    else
        result_set(r, false, "error: unknown tool '%s'", tool);
    if (!r->text) r->text = xstrdup("");
}

void tool_result_free(tool_result *r) {
    if (!r) return;
    free(r->text);
    r->text = NULL;
}
