/* store.c — the store on disk: opening and locking it, crash-safe writes, manifests, blob
 * hashing and verification, copy, remove (with garbage collection), export and the resolver.
 *
 * Crash safety (docs/STORE.md): a file only ever appears under its final name by rename() of a
 * complete, fsync'ed temporary file in the same folder, followed by an fsync of the folder. A blob
 * is renamed into place only after the bytes that landed in the temporary file hashed to its
 * name; a manifest is written only after every blob it names is in place. A kill at any moment
 * therefore leaves at most a stale ".tmp-*" file, which the next locked command deletes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "gguf/gguf.h"
#include "store/store.h"

#define CHUNK (1u << 20)

struct store {
    char root[STORE_PATH_MAX];
    int lock_fd; /* -1 when not locked */
};

/* ---- Small file-system helpers ---- */

static int fsync_dir(const char *dir, he_error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return he_fail(err, HE_IO, "store: open folder: %s", strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc < 0 && e != EINVAL) return he_fail(err, HE_IO, "store: fsync folder: %s", strerror(e));
    return 0;
}

static int join(char *out, size_t cap, const char *a, const char *b, he_error *err) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) return he_fail(err, HE_LIMIT, "store: path too long");
    return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* mkdir -p with mode 0700 for what it creates. */
static int mkdirs(const char *path, he_error *err) {
    char buf[STORE_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf) return he_fail(err, HE_LIMIT, "store: path too long");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return he_fail(err, HE_IO, "store: cannot create folder: %s", strerror(errno));
        buf[i] = c;
    }
    return 0;
}

static void hex_digest(const unsigned char md[32], char out[STORE_DIGEST_LEN + 1]) {
    static const char hx[] = "0123456789abcdef";
    memcpy(out, "sha256-", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hx[md[i] >> 4];
        out[8 + 2 * i] = hx[md[i] & 15];
    }
    out[STORE_DIGEST_LEN] = '\0';
}

/* Reads fd from offset 0 to the end, hashing; when out_fd >= 0 also writes every byte there (so
 * the hash is of exactly what was written). size receives the byte count. */
static int hash_stream(int fd, int out_fd, char digest[STORE_DIGEST_LEN + 1], uint64_t *size,
                       const char *phase, uint64_t total, store_progress_fn progress, void *ud,
                       he_error *err) {
    unsigned char *buf = he_malloc(CHUNK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = -1;
    uint64_t done = 0;
    if (!buf || !md) {
        he_fail(err, HE_NOMEM, "store: out of memory");
        goto out;
    }
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        he_fail(err, HE_RUNTIME, "store: SHA-256 unavailable");
        goto out;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        he_fail(err, HE_IO, "store: seek: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            he_fail(err, HE_IO, "store: read: %s", strerror(errno));
            goto out;
        }
        if (r == 0) break;
        EVP_DigestUpdate(md, buf, (size_t)r);
        if (out_fd >= 0 && write_all(out_fd, buf, (size_t)r) < 0) {
            he_fail(err, HE_IO, "store: write: %s", strerror(errno));
            goto out;
        }
        done += (uint64_t)r;
        if (progress) progress(ud, phase, done, total);
    }
    unsigned char mdv[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(md, mdv, &mdlen);
    hex_digest(mdv, digest);
    *size = done;
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

/* Writes data to dir/final_name crash-safely: dir/.tmp-XXXXXX, fsync, rename, fsync(dir). */
static int write_atomic(const char *dir, const char *final_path, const void *data, size_t n,
                        mode_t mode, he_error *err) {
    char tmp[STORE_PATH_MAX];
    if (join(tmp, sizeof tmp, dir, ".tmp-XXXXXX", err) < 0) return -1;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return he_fail(err, HE_IO, "store: create temporary file: %s", strerror(errno));
    if (write_all(fd, data, n) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        he_fail(err, HE_IO, "store: write temporary file: %s", strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, final_path) < 0) {
        he_fail(err, HE_IO, "store: rename into place: %s", strerror(errno));
        unlink(tmp);
        return -1;
    }
    return fsync_dir(dir, err);
}

/* Copies src into dst[cap], cutting it when longer (informational text only). */
static void copy_cut(char *dst, size_t cap, const char *src) {
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool is_temp_name(const char *n) { return strncmp(n, ".tmp-", 5) == 0; }

/* Deletes stale temporary files of killed commands; only called with the lock held, when no
 * other hearth process can be writing one. */
static void clean_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_temp_name(e->d_name)) unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

/* ---- Opening and locking ---- */

static store *store_open_ex(const char *root, bool create, he_error *err) {
    char want[STORE_PATH_MAX];
    const char *env = root ? root : getenv("HEARTH_HOME");
    if (env && env[0]) {
        if (env[0] == '/') {
            if (snprintf(want, sizeof want, "%s", env) >= (int)sizeof want)
                return he_fail(err, HE_LIMIT, "store: root path too long"), NULL;
        } else {
            char cwd[STORE_PATH_MAX];
            if (!getcwd(cwd, sizeof cwd))
                return he_fail(err, HE_IO, "store: getcwd: %s", strerror(errno)), NULL;
            if (join(want, sizeof want, cwd, env, err) < 0) return NULL;
        }
    } else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/')
            return he_fail(err, HE_INVALID, "store: neither HEARTH_HOME nor HOME is set"), NULL;
        if (snprintf(want, sizeof want, "%s/.local/share/hearth", home) >= (int)sizeof want)
            return he_fail(err, HE_LIMIT, "store: root path too long"), NULL;
    }
    if (create && mkdirs(want, err) < 0) return NULL;
    char real[PATH_MAX];
    if (!realpath(want, real)) return he_fail(err, HE_IO, "store: root: %s", strerror(errno)), NULL;
    if (strlen(real) < 2) return he_fail(err, HE_INVALID, "store: the root cannot be '/'"), NULL;
    store *s = xcalloc(1, sizeof *s);
    snprintf(s->root, sizeof s->root, "%s", real);
    s->lock_fd = -1;
    if (create) {
        char p[STORE_PATH_MAX];
        const char *sub[] = {"blobs", "manifests"};
        for (int i = 0; i < 2; i++) {
            if (join(p, sizeof p, s->root, sub[i], err) < 0) goto fail;
            if (mkdir(p, 0700) < 0 && errno != EEXIST) {
                he_fail(err, HE_IO, "store: cannot create %s/: %s", sub[i], strerror(errno));
                goto fail;
            }
        }
    }
    return s;
fail:
    free(s);
    return NULL;
}

store *store_open(const char *root, he_error *err) { return store_open_ex(root, true, err); }

void store_close(store *s) {
    if (!s) return;
    store_unlock(s);
    free(s);
}

const char *store_root(const store *s) { return s->root; }

int store_lock(store *s, he_error *err) {
    if (s->lock_fd >= 0) return 0;
    char p[STORE_PATH_MAX];
    if (join(p, sizeof p, s->root, ".lock", err) < 0) return -1;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return he_fail(err, HE_IO, "store: open lock file: %s", strerror(errno));
    while (flock(fd, LOCK_EX) < 0) {
        if (errno == EINTR) continue;
        he_fail(err, HE_IO, "store: lock: %s", strerror(errno));
        close(fd);
        return -1;
    }
    s->lock_fd = fd;
    return 0;
}

void store_unlock(store *s) {
    if (s->lock_fd >= 0) close(s->lock_fd);
    s->lock_fd = -1;
}

static int sub_dir(const store *s, const char *sub, char *out, size_t cap, he_error *err) {
    return join(out, cap, s->root, sub, err);
}

/* ---- Manifests on disk ---- */

int store_manifest_read(const store *s, const char *name, store_manifest *out, he_error *err) {
    char path[STORE_PATH_MAX];
    if (store_name_file(s->root, name, path, sizeof path, err) < 0) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return he_fail(err, HE_IO, "store: no model named '%s'", name);
        return he_fail(err, HE_IO, "store: model '%s': %s", name, strerror(errno));
    }
    struct stat st;
    char *buf = NULL;
    int rc = -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        he_fail(err, HE_FORMAT, "store: model '%s': manifest is not a regular file", name);
        goto out;
    }
    if (st.st_size > STORE_MANIFEST_MAX) {
        he_fail(err, HE_LIMIT, "store: model '%s': manifest larger than %d bytes", name,
                STORE_MANIFEST_MAX);
        goto out;
    }
    buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (store_manifest_parse(buf, got, out, err) < 0) {
        he_prefix(err, "store: model '%s'", name);
        goto out;
    }
    if (strcmp(out->name, name) != 0) {
        he_fail(err, HE_FORMAT, "store: model '%s': manifest names another model", name);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

int store_manifest_write(const store *s, const store_manifest *m, he_error *err) {
    char path[STORE_PATH_MAX], dir[STORE_PATH_MAX];
    if (store_name_file(s->root, m->name, path, sizeof path, err) < 0) return -1;
    if (sub_dir(s, "manifests", dir, sizeof dir, err) < 0) return -1;
    char *json = store_manifest_dump(m);
    if (!json) return he_fail(err, HE_NOMEM, "store: out of memory");
    int rc = write_atomic(dir, path, json, strlen(json), 0600, err);
    free(json);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_list(const store *s, char ***out, he_error *err) {
    char dir[STORE_PATH_MAX];
    *out = NULL;
    if (sub_dir(s, "manifests", dir, sizeof dir, err) < 0) return -1;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return he_fail(err, HE_IO, "store: manifests/: %s", strerror(errno));
    }
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (store_name_check(e->d_name, NULL) < 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, (size_t)cap * sizeof *v);
        }
        v[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

/* ---- Blobs ---- */

/* Opens the blob for reading; refuses symlinks and anything that is not a regular file. */
static int blob_open(const store *s, const char *digest, he_error *err) {
    char path[STORE_PATH_MAX];
    if (store_digest_path(s->root, digest, path, sizeof path, err) < 0) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return he_fail(err, HE_IO, "store: blob %.19s…: %s", digest,
                       errno == ENOENT ? "missing" : strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return he_fail(err, HE_IO, "store: blob %.19s…: not a regular file", digest);
    }
    return fd;
}

int store_blob_verify(const store *s, const char *digest, uint64_t size_expected,
                      store_progress_fn progress, void *ud, he_error *err) {
    int fd = blob_open(s, digest, err);
    if (fd < 0) return -1;
    struct stat st;
    fstat(fd, &st);
    if (size_expected != UINT64_MAX && (uint64_t)st.st_size != size_expected) {
        close(fd);
        he_fail(err, HE_FORMAT, "store: blob %s has %lld bytes, the manifest says %llu", digest,
                (long long)st.st_size, (unsigned long long)size_expected);
        return 0;
    }
    char got[STORE_DIGEST_LEN + 1];
    uint64_t n;
    int rc = hash_stream(fd, -1, got, &n, "verifying", (uint64_t)st.st_size, progress, ud, err);
    close(fd);
    if (rc < 0) return -1;
    if (strcmp(got, digest) != 0) {
        he_fail(err, HE_FORMAT, "store: blob %s changed: its content hashes to %s", digest, got);
        return 0;
    }
    return 1;
}

/* Places the open source file (already hashed to digest) at blobs/<digest>: reflink, hard link
 * or copy into a temporary file, hash what landed there, fsync, rename, fsync blobs/. */
static int blob_place(const store *s, int src_fd, const char *digest, uint64_t size,
                      const store_import_opts *o, he_error *err) {
    char dir[STORE_PATH_MAX], final[STORE_PATH_MAX], tmp[STORE_PATH_MAX];
    if (sub_dir(s, "blobs", dir, sizeof dir, err) < 0) return -1;
    if (store_digest_path(s->root, digest, final, sizeof final, err) < 0) return -1;
    if (join(tmp, sizeof tmp, dir, ".tmp-XXXXXX", err) < 0) return -1;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return he_fail(err, HE_IO, "store: create temporary blob: %s", strerror(errno));
    char got[STORE_DIGEST_LEN + 1];
    uint64_t n = 0;
    bool linked = false, cloned = false;
    struct stat sst;
    if (!o->no_link) {
        /* A reflink shares the extents copy-on-write but is its own inode: as good as a copy. */
        if (ioctl(fd, FICLONE, src_fd) == 0) {
            cloned = true;
        } else if (fstat(src_fd, &sst) == 0 && (sst.st_mode & 0222) == 0) {
            /* A hard link of the very inode that was hashed (via /proc/self/fd, which needs no
             * privilege, unlike AT_EMPTY_PATH). It shares the inode with the user's file, so an
             * in-place edit of that file would change the blob: only read-only sources (no write
             * bit for anyone) are linked, and `hearth verify` still catches an edit forced by root.
             */
            char proc[64], ltmp[STORE_PATH_MAX];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", src_fd);
            int k = snprintf(ltmp, sizeof ltmp, "%s.l", tmp);
            if (k > 0 && (size_t)k < sizeof ltmp &&
                linkat(AT_FDCWD, proc, AT_FDCWD, ltmp, AT_SYMLINK_FOLLOW) == 0) {
                close(fd);
                unlink(tmp);
                memcpy(tmp, ltmp, (size_t)k + 1);
                fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                    he_fail(err, HE_IO, "store: open linked blob: %s", strerror(errno));
                    unlink(tmp);
                    return -1;
                }
                linked = true;
            }
        }
    }
    int rc;
    if (linked || cloned)
        rc = hash_stream(fd, -1, got, &n, "verifying", size, o->progress, o->progress_ud, err);
    else
        rc = hash_stream(src_fd, fd, got, &n, "copying", size, o->progress, o->progress_ud, err);
    if (rc < 0) goto fail;
    if (strcmp(got, digest) != 0 || n != size) {
        he_fail(err, HE_IO, "store: the source changed while it was imported (hash mismatch)");
        goto fail;
    }
    if ((!linked && fchmod(fd, 0400) < 0) || fsync(fd) < 0) {
        he_fail(err, HE_IO, "store: fsync blob: %s", strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, final) < 0) {
        he_fail(err, HE_IO, "store: rename blob into place: %s", strerror(errno));
        goto fail;
    }
    log_debug("store: blob %s placed by %s", digest,
              linked   ? "hard link"
              : cloned ? "reflink"
                       : "copy");
    return fsync_dir(dir, err);
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    return -1;
}

static void now_iso(char out[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Default name: general.name, else the basename without ".gguf", sanitized. */
static void default_name(gguf_file *g, const char *src, char *out, size_t cap) {
    gguf_str gn;
    char buf[STORE_NAME_MAX * 2 + 1];
    if (gguf_find_str(g, "general.name", &gn, NULL) == 1 && gn.len > 0) {
        size_t n = gn.len < sizeof buf - 1 ? (size_t)gn.len : sizeof buf - 1;
        memcpy(buf, gn.ptr, n);
        buf[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\0') buf[i] = '-';
    } else {
        const char *b = strrchr(src, '/');
        b = b ? b + 1 : src;
        snprintf(buf, sizeof buf, "%s", b);
        size_t n = strlen(buf);
        if (n > 5 && !strcmp(buf + n - 5, ".gguf")) buf[n - 5] = '\0';
    }
    store_name_sanitize(buf, out, cap);
}

/* Adds one file to blobs/ (deduplicated, crash-safe): hash, reuse a valid existing blob or place
 * a new one. out receives its digest and size. Called with the lock held. */
static int blob_add(store *s, const char *path, const char *what, const store_import_opts *o,
                    store_blob_ref *out, he_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return he_fail(err, HE_IO, "import: %s: open: %s", what, strerror(errno));
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        he_fail(err, HE_IO, "import: %s: not a regular file", what);
        goto out;
    }
    if (hash_stream(fd, -1, out->digest, &out->size, "hashing", (uint64_t)st.st_size, o->progress,
                    o->progress_ud, err) < 0)
        goto out;
    he_error verr;
    int have = store_blob_verify(s, out->digest, out->size, o->progress, o->progress_ud, &verr);
    if (have == 0) log_warn("%s; replacing it", verr.msg);
    if (have != 1 && blob_place(s, fd, out->digest, out->size, o, err) < 0) goto out;
    rc = 0;
out:
    close(fd);
    return rc;
}

/* Reads a small side file (template, params) whole, for validation; NULL with err on failure. */
static char *read_small(const char *path, size_t max, size_t *len, he_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return he_fail(err, HE_IO, "import: %s: %s", path, strerror(errno)), NULL;
    char *buf = xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (n > max) {
        free(buf);
        return he_fail(err, HE_LIMIT, "import: %s is larger than %zu bytes", path, max), NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Side files are validated before anything is stored: a template must be UTF-8 text without NUL,
 * params a JSON object, an adapter a valid GGUF. */
static int check_side_files(const store_import_opts *o, he_error *err) {
    size_t n;
    char *buf;
    if (o->template_path) {
        if (!(buf = read_small(o->template_path, STORE_TEMPLATE_MAX, &n, err))) return -1;
        bool ok = strlen(buf) == n;
        for (size_t i = 0; ok && i < n;) {
            size_t k = gguf_utf8_len(buf + i, n - i);
            ok = k > 0;
            i += k;
        }
        free(buf);
        if (!ok) return he_fail(err, HE_FORMAT, "import: the template is not UTF-8 text");
    }
    if (o->params_path) {
        if (!(buf = read_small(o->params_path, STORE_MANIFEST_MAX, &n, err))) return -1;
        json_error_t jerr;
        json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr);
        free(buf);
        bool ok = json_is_object(j);
        json_decref(j);
        if (!ok) return he_fail(err, HE_FORMAT, "import: params must be a JSON object");
    }
    if (o->n_adapters < 0 || o->n_adapters > STORE_MAX_ADAPTERS)
        return he_fail(err, HE_LIMIT, "import: at most %d adapters", STORE_MAX_ADAPTERS);
    for (int i = 0; i < o->n_adapters; i++) {
        gguf_file *g = gguf_open(o->adapters[i], err);
        if (!g) {
            he_prefix(err, "import: adapter %d", i + 1);
            return -1;
        }
        gguf_close(g);
    }
    return 0;
}

int store_import(store *s, const char *src, const char *name, const store_import_opts *opts,
                 char *name_out, size_t name_cap, he_error *err) {
    store_import_opts o = opts ? *opts : (store_import_opts){0};
    store_manifest m;
    memset(&m, 0, sizeof m);
    if (name && store_name_check(name, err) < 0) return -1;
    gguf_file *g = gguf_open(src, err);
    if (!g) {
        he_prefix(err, "import");
        return -1;
    }
    if (name)
        snprintf(m.name, sizeof m.name, "%s", name);
    else
        default_name(g, src, m.name, sizeof m.name);
    gguf_close(g);
    if (name_out && name_cap) snprintf(name_out, name_cap, "%s", m.name);
    if (check_side_files(&o, err) < 0) return -1;

    if (store_lock(s, err) < 0) return -1;
    char dir[STORE_PATH_MAX];
    if (sub_dir(s, "blobs", dir, sizeof dir, err) < 0) goto fail_unlocked;
    clean_temps(dir);
    if (sub_dir(s, "manifests", dir, sizeof dir, err) < 0) goto fail_unlocked;
    clean_temps(dir);

    /* Every blob is in place before the manifest that names them is written. */
    if (blob_add(s, src, "weights", &o, &m.weights, err) < 0) goto fail_unlocked;
    for (int i = 0; i < o.n_adapters; i++)
        if (blob_add(s, o.adapters[i], "adapter", &o, &m.adapters[i], err) < 0) goto fail_unlocked;
    m.n_adapters = o.n_adapters;
    if (o.template_path) {
        if (blob_add(s, o.template_path, "template", &o, &m.template_blob, err) < 0)
            goto fail_unlocked;
        m.has_template = true;
    }
    if (o.params_path) {
        if (blob_add(s, o.params_path, "params", &o, &m.params_blob, err) < 0) goto fail_unlocked;
        m.has_params = true;
    }
    now_iso(m.imported_at);
    char real[PATH_MAX];
    copy_cut(m.source, sizeof m.source, realpath(src, real) ? real : src);
    if (store_manifest_write(s, &m, err) < 0) goto fail_unlocked;
    store_unlock(s);
    return 0;
fail_unlocked:
    store_unlock(s);
    return -1;
}

int store_copy(store *s, const char *src, const char *dst, he_error *err) {
    store_manifest m;
    char path[STORE_PATH_MAX];
    if (store_name_check(dst, err) < 0) return -1;
    if (store_lock(s, err) < 0) return -1;
    int rc = -1;
    if (store_manifest_read(s, src, &m, err) < 0) goto out;
    if (store_name_file(s->root, dst, path, sizeof path, err) < 0) goto out;
    if (access(path, F_OK) == 0) {
        he_fail(err, HE_INVALID, "store: a model named '%s' already exists", dst);
        goto out;
    }
    snprintf(m.name, sizeof m.name, "%s", dst);
    rc = store_manifest_write(s, &m, err);
out:
    store_unlock(s);
    return rc;
}

/* Stores text from memory as a blob (hash, then a crash-safe write unless it already exists). */
static int blob_from_text(const store *s, const char *text, store_blob_ref *ref, he_error *err) {
    size_t n = strlen(text);
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(text, n, md, &mdlen, EVP_sha256(), NULL)) return he_fail(err, HE_NOMEM, "store: hashing failed");
    hex_digest(md, ref->digest);
    ref->size = n;
    char dir[STORE_PATH_MAX], final[STORE_PATH_MAX];
    if (sub_dir(s, "blobs", dir, sizeof dir, err) < 0) return -1;
    if (store_digest_path(s->root, ref->digest, final, sizeof final, err) < 0) return -1;
    if (store_blob_verify(s, ref->digest, n, NULL, NULL, NULL) == 1) return 0; /* already there */
    return write_atomic(dir, final, text, n, 0400, err);
}

int store_derive(store *s, const char *src, const char *dst, const char *template_text, const char *params_json,
                 he_error *err) {
    if (store_name_check(dst, err) < 0) return -1;
    if (template_text) {
        size_t n = strlen(template_text);
        if (n > STORE_TEMPLATE_MAX) return he_fail(err, HE_LIMIT, "store: the template is over %d bytes", STORE_TEMPLATE_MAX);
        bool ok = true;
        for (size_t i = 0; ok && i < n;) {
            size_t k = gguf_utf8_len(template_text + i, n - i);
            ok = k > 0;
            i += k;
        }
        if (!ok) return he_fail(err, HE_INVALID, "store: the template is not UTF-8 text");
    }
    if (params_json) {
        json_t *j = strlen(params_json) <= STORE_MANIFEST_MAX ? json_loads(params_json, JSON_REJECT_DUPLICATES, NULL) : NULL;
        bool obj = json_is_object(j);
        json_decref(j);
        if (!obj) return he_fail(err, HE_INVALID, "store: params must be a JSON object of at most %d bytes", STORE_MANIFEST_MAX);
    }
    if (store_lock(s, err) < 0) return -1;
    store_manifest m;
    int rc = -1;
    if (store_manifest_read(s, src, &m, err) < 0) goto out;
    if (template_text) {
        if (blob_from_text(s, template_text, &m.template_blob, err) < 0) goto out;
        m.has_template = true;
    }
    if (params_json) {
        if (blob_from_text(s, params_json, &m.params_blob, err) < 0) goto out;
        m.has_params = true;
    }
    snprintf(m.name, sizeof m.name, "%s", dst);
    now_iso(m.imported_at);
    char from[STORE_NAME_MAX + 16];
    snprintf(from, sizeof from, "model %s", src);
    copy_cut(m.source, sizeof m.source, from);
    rc = store_manifest_write(s, &m, err);
out:
    store_unlock(s);
    return rc;
}

/* Simple set of digests (a sorted array). */
typedef struct {
    char (*d)[STORE_DIGEST_LEN + 1];
    int n, cap;
} digest_set;

static void set_add(digest_set *set, const char *dg) {
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 16;
        set->d = xrealloc(set->d, (size_t)set->cap * sizeof *set->d);
    }
    memcpy(set->d[set->n++], dg, STORE_DIGEST_LEN + 1);
}

static bool set_has(const digest_set *set, const char *dg) {
    for (int i = 0; i < set->n; i++)
        if (!strcmp(set->d[i], dg)) return true;
    return false;
}

int store_remove(store *s, const char *name, int *n_removed, he_error *err) {
    char path[STORE_PATH_MAX], dir[STORE_PATH_MAX];
    int removed = 0, rc = -1;
    digest_set keep = {0};
    char **names = NULL;
    int n_names = 0;
    if (n_removed) *n_removed = 0;
    if (store_name_file(s->root, name, path, sizeof path, err) < 0) return -1;
    if (store_lock(s, err) < 0) return -1;
    struct stat st;
    if (lstat(path, &st) < 0) {
        he_fail(err, HE_IO, "store: no model named '%s'", name);
        goto out;
    }
    /* The manifest goes first: a crash after it leaves only unreferenced blobs, which the next
     * rm collects; never a manifest naming a deleted blob. */
    if (unlink(path) < 0) {
        he_fail(err, HE_IO, "store: remove '%s': %s", name, strerror(errno));
        goto out;
    }
    if (sub_dir(s, "manifests", dir, sizeof dir, err) < 0 || fsync_dir(dir, err) < 0) goto out;
    clean_temps(dir);

    n_names = store_list(s, &names, err);
    if (n_names < 0) goto out;
    for (int i = 0; i < n_names; i++) {
        store_manifest m;
        he_error e2;
        if (store_manifest_read(s, names[i], &m, &e2) < 0) {
            /* We cannot tell which blobs an unreadable manifest needs: keep every blob. */
            log_warn("%s; no blobs collected", e2.msg);
            rc = 0;
            goto out;
        }
        store_blob_ref refs[STORE_MAX_ADAPTERS + 3];
        int k = store_manifest_blobs(&m, refs, STORE_MAX_ADAPTERS + 3);
        for (int j = 0; j < k; j++)
            set_add(&keep, refs[j].digest);
    }
    if (sub_dir(s, "blobs", dir, sizeof dir, err) < 0) goto out;
    DIR *d = opendir(dir);
    if (!d) {
        he_fail(err, HE_IO, "store: blobs/: %s", strerror(errno));
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (is_temp_name(e->d_name)) {
            unlinkat(dirfd(d), e->d_name, 0);
        } else if (store_digest_valid(e->d_name) && !set_has(&keep, e->d_name)) {
            if (unlinkat(dirfd(d), e->d_name, 0) == 0) removed++;
        }
    }
    closedir(d);
    if (fsync_dir(dir, err) < 0) goto out;
    rc = 0;
out:
    for (int i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    free(keep.d);
    store_unlock(s);
    if (n_removed) *n_removed = removed;
    return rc;
}

int store_export(const store *s, const char *name, const char *dir, char *path_out, size_t cap,
                 store_progress_fn progress, void *ud, he_error *err) {
    store_manifest m;
    if (store_manifest_read(s, name, &m, err) < 0) return -1;
    char fname[STORE_NAME_MAX + 8], final[STORE_PATH_MAX], tmp[STORE_PATH_MAX];
    snprintf(fname, sizeof fname, "%s.gguf", m.name);
    for (char *p = fname; *p; p++)
        if (*p == ':') *p = '-';
    if (join(final, sizeof final, dir, fname, err) < 0) return -1;
    if (join(tmp, sizeof tmp, dir, ".hearth-export-XXXXXX", err) < 0) return -1;
    if (path_out && cap) snprintf(path_out, cap, "%s", final);
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return he_fail(err, HE_IO, "export: the destination is not a folder");
    if (lstat(final, &st) == 0) return he_fail(err, HE_INVALID, "export: %s already exists", fname);
    int in = blob_open(s, m.weights.digest, err);
    if (in < 0) return -1;
    int out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        close(in);
        return he_fail(err, HE_IO, "export: create temporary file: %s", strerror(errno));
    }
    char got[STORE_DIGEST_LEN + 1];
    uint64_t n;
    int rc = hash_stream(in, out, got, &n, "exporting", m.weights.size, progress, ud, err);
    close(in);
    if (rc == 0 && (strcmp(got, m.weights.digest) != 0 || n != m.weights.size))
        rc = he_fail(err, HE_FORMAT, "export: blob %s changed (hashes to %s); not exported",
                     m.weights.digest, got);
    if (rc == 0 && (fchmod(out, 0644) < 0 || fsync(out) < 0))
        rc = he_fail(err, HE_IO, "export: fsync: %s", strerror(errno));
    close(out);
    /* link() refuses to replace a file that appeared meanwhile, unlike rename(). */
    if (rc == 0 && link(tmp, final) < 0) {
        if (errno == EEXIST)
            rc = he_fail(err, HE_INVALID, "export: %s already exists", fname);
        else if (rename(tmp, final) < 0)
            rc = he_fail(err, HE_IO, "export: rename into place: %s", strerror(errno));
    }
    unlink(tmp);
    if (rc == 0) rc = fsync_dir(dir, err);
    return rc;
}

int store_resolve(const char *name_or_path, char *path_out, size_t cap, bool verify,
                  he_error *err) {
    struct stat st;
    if (cap) path_out[0] = '\0';
    if (!name_or_path || !name_or_path[0]) return he_fail(err, HE_INVALID, "store: empty model");
    if (stat(name_or_path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return he_fail(err, HE_INVALID, "store: '%s' is not a regular file", name_or_path);
        if (snprintf(path_out, cap, "%s", name_or_path) >= (int)cap)
            return he_fail(err, HE_LIMIT, "store: path too long");
        return 0;
    }
    if (store_name_check(name_or_path, NULL) < 0)
        return he_fail(err, HE_INVALID, "no such file, and not a valid model name: '%.64s'",
                       name_or_path);
    store *s = store_open_ex(NULL, false, err);
    if (!s) return he_fail(err, HE_IO, "store: no model named '%s' (no store)", name_or_path);
    store_manifest m;
    int rc = -1;
    if (store_manifest_read(s, name_or_path, &m, err) < 0) goto out;
    if (verify) {
        int v = store_blob_verify(s, m.weights.digest, m.weights.size, NULL, NULL, err);
        if (v != 1) {
            he_prefix(err, "model '%s'", name_or_path);
            goto out;
        }
    }
    rc = store_digest_path(s->root, m.weights.digest, path_out, cap, err);
out:
    store_close(s);
    return rc;
}

int store_adapter_paths(const char *name_or_path, char (*paths)[STORE_PATH_MAX], int cap,
                        bool verify, he_error *err) {
    struct stat st;
    if (!name_or_path || stat(name_or_path, &st) == 0) return 0; /* a file: no manifest */
    if (store_name_check(name_or_path, NULL) < 0) return 0;      /* store_resolve reports it */
    store *s = store_open_ex(NULL, false, err);
    if (!s) return he_fail(err, HE_IO, "store: no model named '%s' (no store)", name_or_path);
    store_manifest m;
    int rc = -1;
    if (store_manifest_read(s, name_or_path, &m, err) < 0) goto out;
    if (m.n_adapters > cap) {
        he_fail(err, HE_LIMIT, "model '%s': %d adapters, at most %d can be applied", name_or_path,
                m.n_adapters, cap);
        goto out;
    }
    for (int i = 0; i < m.n_adapters; i++) {
        if (verify) {
            int v = store_blob_verify(s, m.adapters[i].digest, m.adapters[i].size, NULL, NULL, err);
            if (v != 1) {
                he_prefix(err, "model '%s': adapter %d", name_or_path, i + 1);
                goto out;
            }
        }
        if (store_digest_path(s->root, m.adapters[i].digest, paths[i], STORE_PATH_MAX, err) < 0)
            goto out;
    }
    rc = m.n_adapters;
out:
    store_close(s);
    return rc;
}

/* Reads a small blob whole and checks its hash against ref (one read: what is hashed is what is
 * returned). */
static char *blob_read_checked(const store *s, const store_blob_ref *ref, size_t max, he_error *err) {
    char path[STORE_PATH_MAX];
    if (store_digest_path(s->root, ref->digest, path, sizeof path, err) < 0) return NULL;
    if (ref->size > max) return he_fail(err, HE_LIMIT, "store: blob %s is larger than %zu bytes", ref->digest, max), NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return he_fail(err, HE_IO, "store: blob %s: %s", ref->digest, strerror(errno)), NULL;
    char *buf = xmalloc(max + 2);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            he_fail(err, HE_IO, "store: blob %s: %s", ref->digest, strerror(errno));
            close(fd);
            free(buf);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > max) break;
    }
    close(fd);
    buf[n] = '\0';
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL);
    char digest[STORE_DIGEST_LEN + 1];
    hex_digest(md, digest);
    if (n != ref->size || strcmp(digest, ref->digest) != 0) {
        free(buf);
        return he_fail(err, HE_FORMAT, "store: blob %s changed since import (now %s, %zu bytes)", ref->digest, digest, n),
               NULL;
    }
    if (memchr(buf, '\0', n)) {
        free(buf);
        return he_fail(err, HE_FORMAT, "store: blob %s holds a NUL byte", ref->digest), NULL;
    }
    return buf;
}

int store_overrides(const char *name_or_path, char **template_out, char **params_out, he_error *err) {
    *template_out = *params_out = NULL;
    struct stat st;
    if (!name_or_path || stat(name_or_path, &st) == 0) return 0; /* a file: nothing to override */
    if (store_name_check(name_or_path, NULL) < 0) return 0;       /* store_resolve reports it */
    store *s = store_open_ex(NULL, false, err);
    if (!s) return he_fail(err, HE_IO, "store: no model named '%s' (no store)", name_or_path);
    store_manifest m;
    int rc = -1;
    if (store_manifest_read(s, name_or_path, &m, err) < 0) goto out;
    if (m.has_template && !(*template_out = blob_read_checked(s, &m.template_blob, STORE_TEMPLATE_MAX, err))) goto out;
    if (m.has_params && !(*params_out = blob_read_checked(s, &m.params_blob, STORE_MANIFEST_MAX, err))) goto out;
    rc = 0;
out:
    if (rc) {
        he_prefix(err, "model '%s'", name_or_path);
        free(*template_out), free(*params_out);
        *template_out = *params_out = NULL;
    }
    store_close(s);
    return rc;
}
