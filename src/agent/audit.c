/* audit.c — the hash-chained audit log (audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/audit.h"
#include "base/alloc.h"

#define SHA_KEY ",\"sha256\":\""
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

struct audit_log {
    int fd;
    char *path;
};

void audit_sha256_hex(const void *buf, size_t len, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = 0;
}

static int mkdirs(const char *path, he_error *err) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return he_fail(err, HE_LIMIT, "path too long");
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) && errno != EEXIST)
            return he_fail(err, HE_IO, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0700) && errno != EEXIST)
        return he_fail(err, HE_IO, "mkdir %s: %s", tmp, strerror(errno));
    return 0;
}

audit_log *audit_open(const char *path, he_error *err) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (mkdirs(dir, err)) return NULL;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        he_fail(err, HE_IO, "audit: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    audit_log *a = xcalloc(1, sizeof *a);
    a->fd = fd;
    a->path = xstrdup(path);
    return a;
}

void audit_close(audit_log *a) {
    if (!a) return;
    close(a->fd);
    free(a->path);
    free(a);
}

/* The hash of the file's last line (zeros for an empty file). Reads backwards from the end. */
static int last_line_hash(const char *path, char out[65], he_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return he_fail(err, HE_IO, "audit: cannot read %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return he_fail(err, HE_IO, "audit: stat %s: %s", path, strerror(errno));
    }
    off_t end = st.st_size;
    if (end == 0) {
        close(fd);
        memcpy(out, ZEROS, 65);
        return 0;
    }
    /* the line ends at the final '\n' (a log not ending in one is torn: hash what is there) */
    char c;
    if (pread(fd, &c, 1, end - 1) == 1 && c == '\n') end--;
    off_t start = end;
    char buf[4096];
    while (start > 0) {
        size_t k = start > (off_t)sizeof buf ? sizeof buf : (size_t)start;
        if (pread(fd, buf, k, start - (off_t)k) != (ssize_t)k) {
            close(fd);
            return he_fail(err, HE_IO, "audit: read %s failed", path);
        }
        size_t i = k;
        while (i > 0 && buf[i - 1] != '\n')
            i--;
        if (i > 0) {
            start = start - (off_t)k + (off_t)i;
            break;
        }
        start -= (off_t)k;
    }
    size_t len = (size_t)(end - start);
    char *line = he_malloc(len ? len : 1);
    if (!line) {
        close(fd);
        return he_fail(err, HE_NOMEM, "audit: last record of %zu bytes", len);
    }
    ssize_t r = pread(fd, line, len, start);
    close(fd);
    if (r != (ssize_t)len) {
        free(line);
        return he_fail(err, HE_IO, "audit: read %s failed", path);
    }
    audit_sha256_hex(line, len, out);
    free(line);
    return 0;
}

int audit_append(audit_log *a, json_t *rec, char sha_out[65], he_error *err) {
    if (flock(a->fd, LOCK_EX))
        return he_fail(err, HE_IO, "audit: lock %s: %s", a->path, strerror(errno));
    int rc = -1;
    char *s = NULL, *line = NULL;
    char prev[65];
    if (last_line_hash(a->path, prev, err)) goto out;
    /* prev_sha256 first: rebuild the object with it at the front, sha256 dropped */
    json_t *o = json_object();
    json_object_set_new(o, "prev_sha256", json_string(prev));
    const char *k;
    json_t *v;
    json_object_foreach(rec, k, v) {
        if (strcmp(k, "prev_sha256") && strcmp(k, "sha256")) json_object_set(o, k, v);
    }
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s) {
        he_fail(err, HE_NOMEM, "audit: cannot serialize a record");
        goto out;
    }
    size_t n = strlen(s); /* ends in '}' */
    char self[65];
    audit_sha256_hex(s, n - 1, self);
    size_t ln = n - 1 + strlen(SHA_KEY) + 64 + 3;
    line = xmalloc(ln + 1);
    memcpy(line, s, n - 1);
    snprintf(line + n - 1, ln + 1 - (n - 1), "%s%s\"}\n", SHA_KEY, self);
    size_t off = 0;
    while (off < ln) {
        ssize_t w = write(a->fd, line + off, ln - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            he_fail(err, HE_IO, "audit: write %s: %s", a->path, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(a->fd)) {
        he_fail(err, HE_IO, "audit: fsync %s: %s", a->path, strerror(errno));
        goto out;
    }
    if (sha_out) memcpy(sha_out, self, 65);
    rc = 0;
out:
    flock(a->fd, LOCK_UN);
    free(s);
    free(line);
    return rc;
}

static bool is_hex64(const char *p) {
    for (int i = 0; i < 64; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return false;
    return true;
}

int audit_verify(const char *path, long *n_records, long *bad_line, char last_sha[65],
                 he_error *err) {
    *bad_line = 0;
    if (last_sha) last_sha[0] = 0;
    if (n_records) *n_records = 0;
    FILE *f = fopen(path, "r");
    if (!f) return he_fail(err, HE_IO, "audit: cannot read %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long no = 0;
    char expect[65];
    memcpy(expect, ZEROS, 65);
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        no++;
        if (len == 0 || line[len - 1] != '\n') {
            rc = 1;
            he_fail(err, HE_FORMAT,
                    "line %ld: the record is not terminated by a newline (torn write?)", no);
            break;
        }
        line[--len] = 0;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)len, 0, &je);
        const char *prev = json_string_value(json_object_get(j, "prev_sha256"));
        const char *own = json_string_value(json_object_get(j, "sha256"));
        bool shaped = json_is_object(j) && prev && own && strlen(prev) == 64;
        char prev_copy[65] = "";
        if (shaped) memcpy(prev_copy, prev, 65);
        json_decref(j);
        prev = prev_copy;
        if (!shaped) {
            rc = 1;
            he_fail(err, HE_FORMAT, "line %ld: not a JSON record with prev_sha256 and sha256", no);
            break;
        }
        /* the record's own hash covers its bytes up to the final `,"sha256":"` */
        size_t kl = strlen(SHA_KEY);
        if ((size_t)len < kl + 66 || memcmp(line + len - 66 - kl, SHA_KEY, kl) ||
            !is_hex64(line + len - 66) || memcmp(line + len - 2, "\"}", 2)) {
            rc = 1;
            he_fail(err, HE_FORMAT, "line %ld: the record does not end with its sha256", no);
            break;
        }
        char self[65];
        audit_sha256_hex(line, (size_t)len - 66 - kl, self);
        if (memcmp(self, line + len - 66, 64)) {
            rc = 1;
            he_fail(err, HE_FORMAT,
                    "line %ld: the record was altered (its content does not match its sha256)", no);
            break;
        }
        if (strcmp(prev, expect)) {
            rc = 1;
            if (no == 1)
                he_fail(err, HE_FORMAT,
                        "line 1: prev_sha256 is not zeros (records before it were removed?)");
            else
                he_fail(err, HE_FORMAT,
                        "line %ld: prev_sha256 does not match line %ld (a record between them was "
                        "removed or "
                        "inserted, or one of the two was rewritten)",
                        no, no - 1);
            break;
        }
        audit_sha256_hex(line, (size_t)len, expect);
        if (last_sha) memcpy(last_sha, self, 65);
    }
    if (rc == 0 && ferror(f)) rc = -1, he_fail(err, HE_IO, "audit: read error on %s", path);
    free(line);
    fclose(f);
    if (rc == 1) *bad_line = no;
    if (n_records) *n_records = no;
    return rc;
}
