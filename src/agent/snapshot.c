/* snapshot.c — snapshots before agent mutations, and undo (snapshot.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "agent/snapshot.h"
#include "base/alloc.h"

static int mkdir_p(const char *path, mode_t mode) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) && errno != EEXIST) return -1;
    return 0;
}

/* Copies src to dst (created 0600; dst must not exist), without following a symlink at src;
 * hex (when non-NULL) gets the SHA-256 of the bytes. */
static int copy_file(const char *src, const char *dst, char hex[65], he_error *err) {
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) return he_fail(err, HE_IO, "snapshot: read %s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return he_fail(err, HE_IO, "snapshot: write %s: %s", dst, strerror(errno));
    }
    char buf[65536];
    int rc = 0;
    EVP_MD_CTX *md = hex ? EVP_MD_CTX_new() : NULL;
    if (md) EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = he_fail(err, HE_IO, "snapshot: read %s: %s", src, strerror(errno));
            break;
        }
        if (r == 0) break;
        if (md) EVP_DigestUpdate(md, buf, (size_t)r);
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                rc = he_fail(err, HE_IO, "snapshot: write %s: %s", dst, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc) break;
    }
    if (rc == 0 && fsync(out))
        rc = he_fail(err, HE_IO, "snapshot: fsync %s: %s", dst, strerror(errno));
    if (md) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        EVP_DigestFinal_ex(md, d, &n);
        EVP_MD_CTX_free(md);
        for (unsigned i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        hex[64] = 0;
    }
    close(in);
    close(out);
    return rc;
}

/* The session's blob store, beside snap/: dir is SESSION/snap/STEP. */
static void blobs_dir(const char *dir, char *out, size_t cap) {
    snprintf(out, cap, "%s/../../blobs", dir);
}

static void step_dir(const char *session_dir, int step, char *out, size_t cap) {
    snprintf(out, cap, "%s/snap/%d", session_dir, step);
}

/* One manifest entry for path as it is now; a regular file's bytes go to dir/b<idx>. */
static json_t *entry_for(const char *path, const char *dir, int idx, long long *bytes,
                         he_error *err) {
    struct stat st;
    if (lstat(path, &st)) {
        if (errno == ENOENT) return json_pack("{s:s, s:s}", "path", path, "type", "absent");
        he_fail(err, HE_IO, "snapshot: %s: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode))
        return json_pack("{s:s, s:s, s:i}", "path", path, "type", "dir", "mode",
                         (int)(st.st_mode & 07777));
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0) {
            he_fail(err, HE_IO, "snapshot: readlink %s: %s", path, strerror(errno));
            return NULL;
        }
        target[n] = 0;
        return json_pack("{s:s, s:s, s:s}", "path", path, "type", "link", "target", target);
    }
    if (!S_ISREG(st.st_mode)) return json_pack("{s:s, s:s}", "path", path, "type", "other");
    /* content-addressed: a file that did not change between steps is kept once per session */
    char tmp[PATH_MAX + 32], blobs[PATH_MAX + 16], blob[PATH_MAX + 96], hex[65];
    snprintf(tmp, sizeof tmp, "%s/b%d.tmp", dir, idx);
    blobs_dir(dir, blobs, sizeof blobs);
    if (mkdir(blobs, 0700) && errno != EEXIST) {
        he_fail(err, HE_IO, "snapshot: mkdir %s: %s", blobs, strerror(errno));
        return NULL;
    }
    unlink(tmp);
    if (copy_file(path, tmp, hex, err)) {
        unlink(tmp);
        return NULL;
    }
    snprintf(blob, sizeof blob, "%s/%s", blobs, hex);
    if (access(blob, F_OK) == 0)
        unlink(tmp);
    else if (rename(tmp, blob)) {
        he_fail(err, HE_IO, "snapshot: rename to %s: %s", blob, strerror(errno));
        unlink(tmp);
        return NULL;
    }
    if (bytes) *bytes += st.st_size;
    return json_pack("{s:s, s:s, s:i, s:s}", "path", path, "type", "file", "mode",
                     (int)(st.st_mode & 07777), "sha256", hex);
}

static int write_manifest(const char *dir, json_t *m, he_error *err) {
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    snprintf(tmp, sizeof tmp, "%s/manifest.json.tmp", dir);
    if (json_dump_file(m, tmp, JSON_INDENT(1) | JSON_PRESERVE_ORDER))
        return he_fail(err, HE_IO, "snapshot: write %s", tmp);
    if (rename(tmp, path))
        return he_fail(err, HE_IO, "snapshot: rename %s: %s", tmp, strerror(errno));
    return 0;
}

static int new_step_dir(const char *session_dir, int step, char *dir, size_t cap, he_error *err) {
    step_dir(session_dir, step, dir, cap);
    if (mkdir_p(dir, 0700))
        return he_fail(err, HE_IO, "snapshot: mkdir %s: %s", dir, strerror(errno));
    return 0;
}

int snap_file(const char *session_dir, int step, const char *tool, const char *path,
              he_error *err) {
    char dir[PATH_MAX];
    if (new_step_dir(session_dir, step, dir, sizeof dir, err)) return -1;
    /* a second file in the same step (not used today) gets the next index */
    char mpath[PATH_MAX + 32];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    json_t *m = json_load_file(mpath, 0, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        m = json_pack("{s:i, s:s, s:s, s:[]}", "step", step, "tool", tool, "kind", "files",
                      "entries");
    }
    json_t *entries = json_object_get(m, "entries");
    json_t *e = entry_for(path, dir, (int)json_array_size(entries), NULL, err);
    if (!e) {
        json_decref(m);
        return -1;
    }
    json_array_append_new(entries, e);
    int rc = write_manifest(dir, m, err);
    json_decref(m);
    return rc;
}

/* ---- whole-workspace snapshots ---- */

typedef struct {
    char **paths;
    unsigned char *is_dir;
    size_t n, cap;
    bool over;
    long long bytes;
} walk_list;

static void walk(const char *dir, walk_list *w, int depth) {
    if (w->over || depth > 64) {
        w->over = true;
        return;
    }
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (w->n >= SNAP_MAX_FILES) {
            w->over = true;
            break;
        }
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p) continue;
        struct stat st;
        if (lstat(p, &st)) continue;
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->paths = xrealloc(w->paths, w->cap * sizeof *w->paths);
            w->is_dir = xrealloc(w->is_dir, w->cap);
        }
        w->paths[w->n] = xstrdup(p);
        w->is_dir[w->n++] = S_ISDIR(st.st_mode);
        if (S_ISREG(st.st_mode)) {
            w->bytes += st.st_size;
            if (w->bytes > SNAP_MAX_BYTES) w->over = true;
        }
        if (S_ISDIR(st.st_mode)) walk(p, w, depth + 1);
        if (w->over) break;
    }
    closedir(d);
}

static void walk_free(walk_list *w) {
    for (size_t i = 0; i < w->n; i++)
        free(w->paths[i]);
    free(w->paths);
    free(w->is_dir);
}

int snap_workspace(const char *session_dir, int step, const char *tool, const char *workspace,
                   he_error *err) {
    walk_list w = {0};
    walk(workspace, &w, 0);
    if (w.over) {
        walk_free(&w);
        return 1;
    }
    char dir[PATH_MAX];
    if (new_step_dir(session_dir, step, dir, sizeof dir, err)) {
        walk_free(&w);
        return -1;
    }
    json_t *m = json_pack("{s:i, s:s, s:s, s:s, s:[]}", "step", step, "tool", tool, "kind",
                          "workspace", "root", workspace, "entries");
    json_t *entries = json_object_get(m, "entries");
    int rc = 0;
    for (size_t i = 0; i < w.n && rc == 0; i++) {
        json_t *e = entry_for(w.paths[i], dir, (int)i, NULL, err);
        if (!e)
            rc = -1;
        else
            json_array_append_new(entries, e);
    }
    if (rc == 0) rc = write_manifest(dir, m, err);
    json_decref(m);
    walk_free(&w);
    return rc;
}

int snap_paths(const char *session_dir, int step, const char *tool, const char *const *paths, int n,
               he_error *err) {
    walk_list w = {0};
    /* the named paths first (each one's state, present or not), then the trees under directories */
    for (int i = 0; i < n && !w.over; i++) {
        if (w.n == w.cap) {
            w.cap = w.cap ? w.cap * 2 : 64;
            w.paths = xrealloc(w.paths, w.cap * sizeof *w.paths);
            w.is_dir = xrealloc(w.is_dir, w.cap);
        }
        struct stat st;
        bool is_dir = lstat(paths[i], &st) == 0 && S_ISDIR(st.st_mode);
        w.paths[w.n] = xstrdup(paths[i]);
        w.is_dir[w.n++] = is_dir;
        if (is_dir)
            walk(paths[i], &w, 0);
        else if (lstat(paths[i], &st) == 0 && S_ISREG(st.st_mode) &&
                 (w.bytes += st.st_size) > SNAP_MAX_BYTES)
            w.over = true;
        if (w.n > SNAP_MAX_FILES) w.over = true;
    }
    if (w.over || w.n == 0) {
        walk_free(&w);
        return 1;
    }
    char dir[PATH_MAX];
    if (new_step_dir(session_dir, step, dir, sizeof dir, err)) {
        walk_free(&w);
        return -1;
    }
    json_t *m =
        json_pack("{s:i, s:s, s:s, s:[]}", "step", step, "tool", tool, "kind", "files", "entries");
    json_t *entries = json_object_get(m, "entries");
    int rc = 0;
    for (size_t i = 0; i < w.n && rc == 0; i++) {
        json_t *e = entry_for(w.paths[i], dir, (int)i, NULL, err);
        if (!e)
            rc = -1;
        else
            json_array_append_new(entries, e);
    }
    if (rc == 0) rc = write_manifest(dir, m, err);
    json_decref(m);
    walk_free(&w);
    return rc;
}

/* ---- restore ---- */

static int restore_entry(const char *dir, json_t *e, he_error *err) {
    const char *path = json_string_value(json_object_get(e, "path"));
    const char *type = json_string_value(json_object_get(e, "type"));
    if (!path || !type || path[0] != '/')
        return he_fail(err, HE_FORMAT, "undo: bad manifest entry");
    struct stat st;
    bool exists = lstat(path, &st) == 0;
    if (!strcmp(type, "absent")) {
        if (exists && !S_ISDIR(st.st_mode) && unlink(path))
            return he_fail(err, HE_IO, "undo: remove %s: %s", path, strerror(errno));
        return 0;
    }
    if (!strcmp(type, "dir")) {
        if (exists && !S_ISDIR(st.st_mode)) unlink(path);
        if (mkdir_p(path, 0755))
            return he_fail(err, HE_IO, "undo: mkdir %s: %s", path, strerror(errno));
        chmod(path, (mode_t)json_integer_value(json_object_get(e, "mode")));
        return 0;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        struct stat ps;
        if (lstat(parent, &ps) == 0 && !S_ISDIR(ps.st_mode))
            unlink(parent); /* a dir turned into a link/file */
        mkdir_p(parent, 0755);
    }
    if (!strcmp(type, "link")) {
        const char *target = json_string_value(json_object_get(e, "target"));
        if (!target) return he_fail(err, HE_FORMAT, "undo: link without a target");
        if (exists && !S_ISDIR(st.st_mode)) unlink(path);
        if (symlink(target, path))
            return he_fail(err, HE_IO, "undo: symlink %s: %s", path, strerror(errno));
        return 0;
    }
    if (strcmp(type, "file")) return 0; /* "other" (fifo, socket): not kept */
    const char *sha = json_string_value(json_object_get(e, "sha256"));
    if (!sha || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
        return he_fail(err, HE_FORMAT, "undo: bad blob name");
    char src[PATH_MAX + 96], blobs[PATH_MAX + 16], tmp[PATH_MAX + 32];
    blobs_dir(dir, blobs, sizeof blobs);
    snprintf(src, sizeof src, "%s/%s", blobs, sha);
    snprintf(tmp, sizeof tmp, "%s.hearth-undo", path);
    unlink(tmp);
    if (copy_file(src, tmp, NULL, err)) return -1;
    chmod(tmp, (mode_t)json_integer_value(json_object_get(e, "mode")));
    /* rename replaces whatever is at path now (a symlink itself, never its target) */
    if (exists && S_ISDIR(st.st_mode)) {
        unlink(tmp);
        return he_fail(err, HE_IO, "undo: %s is now a directory; left as it is", path);
    }
    if (rename(tmp, path)) {
        unlink(tmp);
        return he_fail(err, HE_IO, "undo: rename over %s: %s", path, strerror(errno));
    }
    return 0;
}

static int cmp_len_desc(const void *a, const void *b) {
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

int snap_restore(const char *session_dir, int step, he_error *err) {
    char dir[PATH_MAX], mpath[PATH_MAX + 32];
    step_dir(session_dir, step, dir, sizeof dir);
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    json_error_t je;
    json_t *m = json_load_file(mpath, 0, &je);
    if (!json_is_object(m)) {
        json_decref(m);
        return he_fail(err, HE_IO, "undo: step %d has no snapshot (%s)", step, je.text);
    }
    json_t *entries = json_object_get(m, "entries");
    const char *kind = json_string_value(json_object_get(m, "kind"));
    int rc = 0;
    if (kind && !strcmp(kind, "workspace")) {
        const char *root = json_string_value(json_object_get(m, "root"));
        if (!root || root[0] != '/' || !strcmp(root, "/")) {
            json_decref(m);
            return he_fail(err, HE_FORMAT, "undo: bad workspace root in %s", mpath);
        }
        /* what is there now and was not then goes: files and links first, then directories
         * (deepest first, only when empty) */
        walk_list w = {0};
        walk(root, &w, 0);
        size_t ne = json_array_size(entries);
        char **dirs = xcalloc(w.n + 1, sizeof *dirs);
        size_t nd = 0;
        for (size_t i = 0; i < w.n; i++) {
            bool known = false;
            for (size_t k = 0; k < ne && !known; k++)
                known = !strcmp(
                    w.paths[i],
                    json_string_value(json_object_get(json_array_get(entries, k), "path")) ?: "");
            if (known) continue;
            if (w.is_dir[i])
                dirs[nd++] = w.paths[i];
            else
                unlink(w.paths[i]);
        }
        qsort(dirs, nd, sizeof *dirs, cmp_len_desc);
        for (size_t i = 0; i < nd; i++)
            rmdir(dirs[i]);
        free(dirs);
        walk_free(&w);
        /* then the directories, then the files and links, as they were */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t k = 0; k < ne; k++) {
                json_t *e = json_array_get(entries, k);
                bool is_dir = !strcmp(json_string_value(json_object_get(e, "type")) ?: "", "dir");
                if (is_dir != (pass == 0)) continue;
                he_error e2;
                if (restore_entry(dir, e, &e2) && rc == 0) {
                    rc = -1;
                    if (err) *err = e2;
                }
            }
        }
    } else {
        /* a file step: entries in reverse order (the first copy is the oldest state) */
        for (size_t k = json_array_size(entries); k-- > 0;) {
            he_error e2;
            if (restore_entry(dir, json_array_get(entries, k), &e2) && rc == 0) {
                rc = -1;
                if (err) *err = e2;
            }
        }
    }
    json_decref(m);
    return rc;
}

static int cmp_int_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int snap_list(const char *session_dir, int **steps, int *n, he_error *err) {
    *steps = NULL;
    *n = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/snap", session_dir);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return he_fail(err, HE_IO, "undo: %s: %s", dir, strerror(errno));
    }
    struct dirent *de;
    size_t cap = 0;
    while ((de = readdir(d))) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        if (*end || end == de->d_name || v < 0 || v > 1000000) continue;
        if ((size_t)*n == cap) {
            cap = cap ? cap * 2 : 16;
            *steps = xrealloc(*steps, cap * sizeof **steps);
        }
        (*steps)[(*n)++] = (int)v;
    }
    closedir(d);
    if (*n) qsort(*steps, (size_t)*n, sizeof **steps, cmp_int_desc);
    return 0;
}
