/* gguf_write.c — the GGUF writer (version 3).
 *
 * Key/values are kept already encoded (the exact bytes that follow the type id in the file), so
 * setting, replacing and copying a value from a read file — nested arrays included — are all the
 * same byte copy. Tensor data is borrowed and streamed to the file at write time, never gathered
 * in memory, because model files run to gigabytes. The file appears atomically: it is written to
 * "<path>.tmp.XXXXXX" in the same directory, fsynced, renamed over path, and the directory fsynced,
 * so a crash leaves either the old file or the complete new one. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "gguf/gguf_internal.h"
#include "tensor/tensor.h"

typedef struct {
    char *key;
    gguf_type type;
    uint8_t *val; /* encoded value, owned */
    size_t len;
} wkv;

typedef struct {
    char *name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint32_t type;
    const void *data; /* borrowed until gguf_writer_write returns */
    uint64_t nbytes;
    uint64_t offset; /* assigned at write time */
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    /* The first misuse of a void setter (bad key, bad type) is kept here and reported by
     * gguf_writer_write, so setters stay convenient to call in sequence. */
    he_error err;
    int failed;
};

gguf_writer *gguf_writer_new(void) { return xcalloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static void sticky(gguf_writer *w, const char *msg, const char *key) {
    if (w->failed) return;
    w->failed = 1;
    he_fail(&w->err, HE_INVALID, "gguf writer: key '%.80s': %s", key ? key : "(null)", msg);
}

/* Sets key to an encoded value, taking ownership of val; replaces an existing key in place. */
static void set_encoded(gguf_writer *w, const char *key, gguf_type type, uint8_t *val, size_t len) {
    if (!key || !*key) {
        sticky(w, "empty key", key);
        free(val);
        return;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].len = len;
            return;
        }
    }
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 16;
        w->kv = xrealloc(w->kv, w->cap_kv * sizeof *w->kv);
    }
    w->kv[w->n_kv++] = (wkv){.key = xstrdup(key), .type = type, .val = val, .len = len};
}

static void set_scalar(gguf_writer *w, const char *key, gguf_type type, const void *v) {
    size_t n = gguf_type_size(type);
    uint8_t *val = xmalloc(n);
    memcpy(val, v, n); /* the host is little-endian, like the format (checked in gguf.c) */
    set_encoded(w, key, type, val, n);
}

void gguf_writer_set_val(gguf_writer *w, const char *key, gguf_type type, const void *v) {
    if (gguf_type_size(type) == 0) {
        sticky(w, "gguf_writer_set_val needs a fixed-size scalar type", key);
        return;
    }
    set_scalar(w, key, type, v);
}

void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) || alignment > GGUF_MAX_ALIGNMENT) {
        sticky(w, "alignment must be a power of two no larger than 16 MiB", "general.alignment");
        return;
    }
    gguf_writer_set_u32(w, "general.alignment", alignment);
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    set_scalar(w, key, GGUF_TYPE_UINT32, &v);
}
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    set_scalar(w, key, GGUF_TYPE_INT32, &v);
}
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    set_scalar(w, key, GGUF_TYPE_UINT64, &v);
}
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    set_scalar(w, key, GGUF_TYPE_FLOAT32, &v);
}

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    set_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    uint64_t n = strlen(v);
    uint8_t *val = xmalloc(8 + n);
    memcpy(val, &n, 8);
    memcpy(val + 8, v, n);
    set_encoded(w, key, GGUF_TYPE_STRING, val, 8 + n);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type type, const void *data,
                         uint64_t n) {
    size_t es = gguf_type_size(type), bytes;
    if (es == 0) {
        sticky(w, "gguf_writer_set_arr needs a fixed-size element type", key);
        return;
    }
    if (he_mul_overflow(es, n, &bytes) || he_add_overflow(bytes, 12, &bytes)) {
        sticky(w, "array too large", key);
        return;
    }
    uint8_t *val = xmalloc(bytes);
    uint32_t t = type;
    memcpy(val, &t, 4);
    memcpy(val + 4, &n, 8);
    if (n) memcpy(val + 12, data, bytes - 12);
    set_encoded(w, key, GGUF_TYPE_ARRAY, val, bytes);
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    size_t bytes = 12;
    for (uint64_t i = 0; i < n; i++)
        bytes += 8 + strlen(strs[i]);
    uint8_t *val = xmalloc(bytes), *p = val + 12;
    uint32_t t = GGUF_TYPE_STRING;
    memcpy(val, &t, 4);
    memcpy(val + 4, &n, 8);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = strlen(strs[i]);
        memcpy(p, &len, 8);
        memcpy(p + 8, strs[i], len);
        p += 8 + len;
    }
    set_encoded(w, key, GGUF_TYPE_ARRAY, val, bytes);
}

void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, int64_t i) {
    if (i < 0 || i >= src->n_kv) {
        sticky(w, "gguf_writer_copy_kv: key index out of range", NULL);
        return;
    }
    const gguf_kv *kv = &src->kv[i];
    char *key = xstrndup(kv->key.ptr, (size_t)kv->key.len);
    uint8_t *val = xmalloc((size_t)kv->val_size);
    memcpy(val, src->base + kv->val_off, (size_t)kv->val_size);
    set_encoded(w, key, kv->type, val, (size_t)kv->val_size);
    free(key);
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, const void *data, he_error *err) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > GGUF_MAX_TENSOR_NAME)
        return he_fail(err, HE_INVALID, "gguf writer: tensor name '%.80s' must be 1..%d bytes",
                       name ? name : "", GGUF_MAX_TENSOR_NAME);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return he_fail(err, HE_INVALID, "gguf writer: tensor '%s' added twice", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return he_fail(err, HE_INVALID, "gguf writer: tensor '%s': n_dims %u is not in 1..%d", name,
                       n_dims, GGUF_MAX_DIMS);
    const tensor_traits *tr = tensor_traits_of(type);
    if (!tr)
        return he_fail(err, HE_INVALID, "gguf writer: tensor '%s': unknown type id %u", name, type);
    wtensor t = {.n_dims = n_dims, .type = type, .data = data, .ne = {1, 1, 1, 1}};
    int64_t nel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0 || __builtin_mul_overflow(nel, ne[d], &nel))
            return he_fail(err, HE_INVALID, "gguf writer: tensor '%s': bad ne[%u] = %lld", name, d,
                           (long long)ne[d]);
        t.ne[d] = ne[d];
    }
    if (ne[0] % tr->block_size)
        return he_fail(err, HE_INVALID,
                       "gguf writer: tensor '%s': ne[0] = %lld is not a multiple "
                       "of the %s block size %lld",
                       name, (long long)ne[0], tr->name, (long long)tr->block_size);
    if (nel > 0) {
        uint64_t row;
        if (__builtin_mul_overflow((uint64_t)(ne[0] / tr->block_size), (uint64_t)tr->type_size,
                                   &row) ||
            __builtin_mul_overflow(row, (uint64_t)(nel / ne[0]), &t.nbytes))
            return he_fail(err, HE_INVALID, "gguf writer: tensor '%s': byte size overflows", name);
    }
    if (t.nbytes && !data)
        return he_fail(err, HE_INVALID, "gguf writer: tensor '%s': no data", name);
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 64;
        w->t = xrealloc(w->t, w->cap_t * sizeof *w->t);
    }
    t.name = xstrdup(name);
    w->t[w->n_t++] = t;
    return 0;
}

/* ---- Output: a buffered fd writer ---- */

typedef struct {
    int fd;
    const char *path; /* for messages */
    uint8_t buf[1 << 16];
    size_t len;
    he_error *err;
} out_file;

static int write_all(out_file *o, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(o->fd, b, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return he_fail(o->err, HE_IO, "gguf writer: writing '%s': %s", o->path,
                           k < 0 ? strerror(errno) : "short write");
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int flush(out_file *o) {
    int rc = write_all(o, o->buf, o->len);
    o->len = 0;
    return rc;
}

static int put(out_file *o, const void *p, size_t n) {
    if (n > sizeof o->buf - o->len) {
        if (flush(o)) return -1;
        if (n >= sizeof o->buf) return write_all(o, p, n); /* large: straight through */
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

static int put_u32(out_file *o, uint32_t v) { return put(o, &v, 4); }
static int put_u64(out_file *o, uint64_t v) { return put(o, &v, 8); }

static int put_zeros(out_file *o, uint64_t n) {
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (put(o, zeros, k)) return -1;
        n -= k;
    }
    return 0;
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (a - x % a) % a; }

/* Alignment as the written file will declare it (general.alignment if set, else the default). */
static int writer_alignment(gguf_writer *w, uint64_t *out, he_error *err) {
    *out = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        uint32_t a = 0;
        if (w->kv[i].type == GGUF_TYPE_UINT32) memcpy(&a, w->kv[i].val, 4);
        if (w->kv[i].type != GGUF_TYPE_UINT32 || a == 0 || (a & (a - 1)) || a > GGUF_MAX_ALIGNMENT)
            return he_fail(err, HE_INVALID,
                           "gguf writer: general.alignment must be a u32 power of "
                           "two no larger than %u",
                           GGUF_MAX_ALIGNMENT);
        *out = a;
    }
    return 0;
}

static int write_body(gguf_writer *w, out_file *o, uint64_t align) {
    uint64_t pos = 0;
    if (put(o, "GGUF", 4) || put_u32(o, 3) || put_u64(o, w->n_t) || put_u64(o, w->n_kv)) return -1;
    pos += 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kv[i];
        size_t kl = strlen(kv->key);
        if (put_u64(o, kl) || put(o, kv->key, kl) || put_u32(o, kv->type) ||
            put(o, kv->val, kv->len))
            return -1;
        pos += 8 + kl + 4 + kv->len;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        t->offset = off;
        off += t->nbytes + pad_to(t->nbytes, align);
        if (put_u64(o, nl) || put(o, t->name, nl) || put_u32(o, t->n_dims)) return -1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if (put_u64(o, (uint64_t)t->ne[d])) return -1;
        if (put_u32(o, t->type) || put_u64(o, t->offset)) return -1;
        pos += 8 + nl + 4 + 8ull * t->n_dims + 4 + 8;
    }
    /* ggml writes no padding when there is no data section; match it byte for byte. */
    if (w->n_t && put_zeros(o, pad_to(pos, align))) return -1;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (t->nbytes && put(o, t->data, (size_t)t->nbytes)) return -1;
        if (put_zeros(o, pad_to(t->nbytes, align))) return -1;
    }
    return flush(o);
}

/* fsync the directory holding path, so the rename itself is durable. */
static int sync_dir(const char *path, he_error *err) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) != 0)
        rc = he_fail(err, HE_IO, "gguf writer: syncing directory '%s': %s", dir, strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return rc;
}

int gguf_writer_write(gguf_writer *w, const char *path, he_error *err) {
    if (w->failed) {
        if (err) *err = w->err;
        return -1;
    }
    uint64_t align;
    if (writer_alignment(w, &align, err)) return -1;
    if (w->n_kv > GGUF_MAX_KV || w->n_t > GGUF_MAX_TENSORS)
        return he_fail(err, HE_LIMIT,
                       "gguf writer: %zu keys and %zu tensors exceed the reader's "
                       "limits (%u each)",
                       w->n_kv, w->n_t, GGUF_MAX_KV);

    size_t plen = strlen(path);
    char *tmp = xmalloc(plen + sizeof ".tmp.XXXXXX");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        he_fail(err, HE_IO, "gguf writer: cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    out_file *o = xmalloc(sizeof *o);
    o->fd = fd;
    o->path = tmp;
    o->len = 0;
    o->err = err;
    int rc = write_body(w, o, align);
    free(o);
    /* mkstemp creates 0600; model files are meant to be shared (umask is not consulted because
     * reading it means changing it, which is process-wide). */
    if (rc == 0 && fchmod(fd, 0644) != 0)
        rc = he_fail(err, HE_IO, "gguf writer: chmod '%s': %s", tmp, strerror(errno));
    if (rc == 0 && fsync(fd) != 0)
        rc = he_fail(err, HE_IO, "gguf writer: fsync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = he_fail(err, HE_IO, "gguf writer: closing '%s': %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = he_fail(err, HE_IO, "gguf writer: renaming '%s' to '%s': %s", tmp, path,
                     strerror(errno));
    if (rc != 0)
        unlink(tmp);
    else
        rc = sync_dir(path, err);
    free(tmp);
    return rc;
}
