/* gguf.c — the GGUF reader: map a file (or borrow a buffer), validate all of it once, then serve
 * keys, values and tensors from an index without further checks.
 *
 * Validation is the whole point: every count, length, type id, dimension, offset and byte size
 * read from the file is compared with the bytes actually left before it is used or allocated
 * for, using overflow-safe arithmetic, so a hostile file costs at most a small multiple of its own
 * size in memory and ends in an error that names the key or tensor and the byte offset. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "gguf/gguf_internal.h"
#include "tensor/tensor.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

/* ---- Value types ---- */

size_t gguf_type_size(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    case GGUF_TYPE_STRING:
    case GGUF_TYPE_ARRAY:
    case GGUF_TYPE_COUNT:
        return 0;
    }
    return 0;
}

const char *gguf_type_name(gguf_type t) {
    static const char *const names[GGUF_TYPE_COUNT] = {
        [GGUF_TYPE_UINT8] = "u8",    [GGUF_TYPE_INT8] = "i8",    [GGUF_TYPE_UINT16] = "u16",
        [GGUF_TYPE_INT16] = "i16",   [GGUF_TYPE_UINT32] = "u32", [GGUF_TYPE_INT32] = "i32",
        [GGUF_TYPE_FLOAT32] = "f32", [GGUF_TYPE_BOOL] = "bool",  [GGUF_TYPE_STRING] = "string",
        [GGUF_TYPE_ARRAY] = "array", [GGUF_TYPE_UINT64] = "u64", [GGUF_TYPE_INT64] = "i64",
        [GGUF_TYPE_FLOAT64] = "f64",
    };
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "?";
}

bool gguf_str_eq(gguf_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

/* Unaligned little-endian loads from the mapping. */
static uint32_t ld_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t ld_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- Parser state ---- */

typedef struct {
    gguf_file *f;
    size_t pos;     /* cursor: file offset of the next unread byte */
    char where[96]; /* what is being read, for messages: "key 'general.name'" */
    he_error *err;
} parser;

size_t gguf_utf8_len(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    if (n == 0) return 0;
    if (s[0] < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0) lo = 0xA0;
        if (s[0] == 0xED) hi = 0x9F; /* no surrogates */
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0) lo = 0x90;
        if (s[0] == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

const char *gguf_str_show(char *buf, size_t cap, gguf_str s, size_t max) {
    size_t o = 0, i = 0, n = (size_t)s.len;
    while (i < n && i < max && o + 5 < cap) {
        size_t k = gguf_utf8_len(s.ptr + i, n - i);
        unsigned char c = (unsigned char)s.ptr[i];
        if (k == 0 || (k == 1 && (c < 0x20 || c == 0x7f))) {
            buf[o++] = '?';
            i++;
            continue;
        }
        if (i + k > max) break;
        memcpy(buf + o, s.ptr + i, k);
        o += k;
        i += k;
    }
    if (i < n && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

/* A name from the file, fit for a message (see gguf_str_show). */
static const char *show(char *buf, size_t cap, const char *p, uint64_t len) {
    return gguf_str_show(buf, cap, (gguf_str){p, len}, 64);
}

static size_t left(const parser *p) { return p->f->size - p->pos; }

/* Fails unless n more bytes are available at the cursor. */
static int need(parser *p, uint64_t n, const char *what) {
    if (n > left(p))
        return he_fail(p->err, HE_FORMAT,
                       "gguf: %s: %s at offset %zu needs %llu bytes but only %zu are left "
                       "(file size %zu)",
                       p->where, what, p->pos, (unsigned long long)n, left(p), p->f->size);
    return 0;
}

static int rd_u32(parser *p, uint32_t *out, const char *what) {
    if (need(p, 4, what)) return -1;
    *out = ld_u32(p->f->base + p->pos);
    p->pos += 4;
    return 0;
}

static int rd_u64(parser *p, uint64_t *out, const char *what) {
    if (need(p, 8, what)) return -1;
    *out = ld_u64(p->f->base + p->pos);
    p->pos += 8;
    return 0;
}

/* string -> u64 len, len bytes */
static int rd_str(parser *p, gguf_str *out, const char *what) {
    size_t at = p->pos;
    uint64_t len;
    if (rd_u64(p, &len, what)) return -1;
    if (len > left(p))
        return he_fail(p->err, HE_FORMAT,
                       "gguf: %s: %s at offset %zu has length %llu but only %zu bytes are left "
                       "(file size %zu)",
                       p->where, what, at, (unsigned long long)len, left(p), p->f->size);
    out->ptr = (const char *)p->f->base + p->pos;
    out->len = len;
    p->pos += (size_t)len;
    return 0;
}

/* Reserves k entries in the aux arena; returns the index of the first, or -1. k is bounded by
 * the caller against the bytes left, so the arena stays proportional to the file size. */
static int arena_reserve(parser *p, uint64_t k, uint64_t *idx) {
    gguf_file *f = p->f;
    if (k > f->arena_cap - f->arena_len) {
        uint64_t cap = f->arena_cap ? f->arena_cap : 64;
        while (cap - f->arena_len < k)
            cap *= 2;
        size_t bytes;
        if (cap > SIZE_MAX / sizeof(uint64_t) || he_mul_overflow(cap, sizeof(uint64_t), &bytes))
            return he_fail(p->err, HE_NOMEM, "gguf: %s: array index too large", p->where);
        uint64_t *a = he_realloc(f->arena, bytes);
        if (!a)
            return he_fail(p->err, HE_NOMEM,
                           "gguf: %s: out of memory indexing an array of %llu "
                           "elements",
                           p->where, (unsigned long long)k);
        f->arena = a;
        f->arena_cap = cap;
    }
    *idx = f->arena_len;
    f->arena_len += k;
    return 0;
}

/* ---- Values ---- */

/* value -> scalar | string | array
 * array -> u32 elem_type, u64 n, n × value(elem_type)
 * Validates one value of type t at the cursor and advances past it. For arrays, *n_out,
 * *elem_out and *aux_out describe it (aux: arena index of the offsets table or GGUF_NO_AUX). */
static int parse_value(parser *p, uint32_t t, int depth, uint64_t *n_out, gguf_type *elem_out,
                       uint64_t *aux_out) {
    size_t at = p->pos;
    *n_out = 0;
    *elem_out = GGUF_TYPE_COUNT;
    *aux_out = GGUF_NO_AUX;
    if (t >= GGUF_TYPE_COUNT)
        return he_fail(p->err, HE_FORMAT, "gguf: %s: unknown value type %u at offset %zu", p->where,
                       t, at);
    if (t == GGUF_TYPE_STRING) {
        gguf_str s;
        return rd_str(p, &s, "string");
    }
    if (t != GGUF_TYPE_ARRAY) {
        size_t sz = gguf_type_size((gguf_type)t);
        if (need(p, sz, gguf_type_name((gguf_type)t))) return -1;
        if (t == GGUF_TYPE_BOOL && p->f->base[p->pos] > 1)
            return he_fail(p->err, HE_FORMAT,
                           "gguf: %s: bool at offset %zu has value %u (not 0 or 1)", p->where,
                           p->pos, p->f->base[p->pos]);
        p->pos += sz;
        return 0;
    }

    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return he_fail(p->err, HE_LIMIT,
                       "gguf: %s: arrays nested deeper than %d levels at offset %zu", p->where,
                       GGUF_MAX_ARRAY_DEPTH, at);
    uint32_t et;
    uint64_t n;
    if (rd_u32(p, &et, "array element type")) return -1;
    if (et >= GGUF_TYPE_COUNT)
        return he_fail(p->err, HE_FORMAT,
                       "gguf: %s: array at offset %zu has unknown element type %u", p->where, at,
                       et);
    if (rd_u64(p, &n, "array length")) return -1;
    *n_out = n;
    *elem_out = (gguf_type)et;

    /* Every element takes at least min bytes, so n > left/min cannot be valid: checking this
     * first keeps n * size from overflowing and bounds the offsets table by the file size. */
    size_t min = et == GGUF_TYPE_STRING  ? 8
                 : et == GGUF_TYPE_ARRAY ? 12
                                         : gguf_type_size((gguf_type)et);
    if (n > left(p) / min)
        return he_fail(
            p->err, HE_FORMAT,
            "gguf: %s: array at offset %zu has %llu elements of type %s, which cannot fit "
            "in the %zu bytes left (file size %zu)",
            p->where, at, (unsigned long long)n, gguf_type_name((gguf_type)et), left(p),
            p->f->size);

    if (et != GGUF_TYPE_STRING && et != GGUF_TYPE_ARRAY) {
        if (et == GGUF_TYPE_BOOL)
            for (uint64_t j = 0; j < n; j++)
                if (p->f->base[p->pos + j] > 1)
                    return he_fail(
                        p->err, HE_FORMAT,
                        "gguf: %s: bool element %llu at offset %zu has value %u (not 0 or 1)",
                        p->where, (unsigned long long)j, p->pos + (size_t)j,
                        p->f->base[p->pos + j]);
        p->pos += (size_t)n * min;
        return 0;
    }

    if (n == 0) return 0; /* no table: nothing to index */
    uint64_t idx = 0;
    uint64_t per = et == GGUF_TYPE_STRING ? 1 : 2;
    if (arena_reserve(p, n * per, &idx)) return -1;
    *aux_out = idx;
    for (uint64_t j = 0; j < n; j++) {
        p->f->arena[idx + j * per] = p->pos;
        if (et == GGUF_TYPE_STRING) {
            gguf_str s;
            if (rd_str(p, &s, "string element")) return -1;
        } else {
            uint64_t cn, caux;
            gguf_type ce;
            if (parse_value(p, GGUF_TYPE_ARRAY, depth + 1, &cn, &ce, &caux)) return -1;
            p->f->arena[idx + j * 2 + 1] = caux; /* re-index: the arena may have moved */
        }
    }
    return 0;
}

/* ---- Hash sets (FNV-1a over the name bytes, linear probing, index+1 stored) ---- */

static uint64_t hash_bytes(const char *s, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint32_t *hash_new(uint64_t n, uint64_t *size_out) {
    uint64_t size = 8;
    while (size < 2 * n)
        size *= 2;
    *size_out = size;
    return he_calloc((size_t)size, sizeof(uint32_t));
}

/* Returns the slot holding name, or the empty slot where it would go. */
static uint64_t hash_slot(const uint32_t *h, uint64_t size, const char *name, uint64_t len,
                          gguf_str (*name_of)(const gguf_file *, uint32_t), const gguf_file *f) {
    uint64_t i = hash_bytes(name, len) & (size - 1);
    while (h[i]) {
        gguf_str s = name_of(f, h[i] - 1);
        if (s.len == len && (len == 0 || memcmp(s.ptr, name, (size_t)len) == 0)) return i;
        i = (i + 1) & (size - 1);
    }
    return i;
}

static gguf_str kv_name(const gguf_file *f, uint32_t i) { return f->kv[i].key; }
static gguf_str tensor_name(const gguf_file *f, uint32_t i) { return f->tensors[i].name; }

/* ---- Header, key/values, tensor infos ---- */

static int check_name(parser *p, gguf_str s, const char *what, size_t at) {
    char b[80];
    if (s.len == 0) return he_fail(p->err, HE_FORMAT, "gguf: %s at offset %zu is empty", what, at);
    if (memchr(s.ptr, 0, (size_t)s.len))
        return he_fail(p->err, HE_FORMAT, "gguf: %s '%s' at offset %zu contains a NUL byte", what,
                       show(b, sizeof b, s.ptr, s.len), at);
    return 0;
}

static int parse_header(parser *p, uint64_t *n_tensors, uint64_t *n_kv) {
    gguf_file *f = p->f;
    if (f->size == 0) return he_fail(p->err, HE_FORMAT, "gguf: empty file (0 bytes)");
    snprintf(p->where, sizeof p->where, "header");
    if (f->size < 4 || memcmp(f->base, "GGUF", 4) != 0) {
        char b[16];
        return he_fail(p->err, HE_FORMAT, "gguf: bad magic '%s' at offset 0 (not a GGUF file)",
                       show(b, sizeof b, (const char *)f->base, f->size < 4 ? f->size : 4));
    }
    p->pos = 4;
    if (rd_u32(p, &f->version, "version")) return -1;
    if (f->version == 1)
        return he_fail(p->err, HE_UNSUPPORTED,
                       "gguf: version 1 at offset 4 is not supported "
                       "(GGUF v1 used 32-bit counts; re-convert the model)");
    if (f->version != 2 && f->version != 3) {
        uint32_t sw = __builtin_bswap32(f->version);
        if (sw == 2 || sw == 3)
            return he_fail(p->err, HE_UNSUPPORTED,
                           "gguf: version field 0x%08x at offset 4 means a big-endian file, which "
                           "hearth does not read",
                           f->version);
        return he_fail(p->err, HE_UNSUPPORTED,
                       "gguf: unknown version %u at offset 4 (supported: 2 and 3)", f->version);
    }
    if (rd_u64(p, n_tensors, "tensor count") || rd_u64(p, n_kv, "key/value count")) return -1;

    /* A key/value takes at least 13 bytes (8 key length + 4 type + 1 value) and a tensor info
     * 32 (8 name length + 4 n_dims + 8 ne[0] + 4 type + 8 offset): counts that cannot fit are
     * rejected before anything is allocated for them. */
    if (*n_kv > left(p) / 13)
        return he_fail(p->err, HE_FORMAT,
                       "gguf: key/value count %llu at offset 16 cannot fit in the %zu bytes left "
                       "(each takes at least 13)",
                       (unsigned long long)*n_kv, left(p));
    if (*n_tensors > (left(p) - *n_kv * 13) / 32)
        return he_fail(p->err, HE_FORMAT,
                       "gguf: tensor count %llu at offset 8 cannot fit in the %zu bytes left "
                       "(each tensor info takes at least 32)",
                       (unsigned long long)*n_tensors, left(p));
    if (*n_kv > GGUF_MAX_KV)
        return he_fail(p->err, HE_LIMIT, "gguf: key/value count %llu exceeds hearth's limit of %u",
                       (unsigned long long)*n_kv, GGUF_MAX_KV);
    if (*n_tensors > GGUF_MAX_TENSORS)
        return he_fail(p->err, HE_LIMIT, "gguf: tensor count %llu exceeds hearth's limit of %u",
                       (unsigned long long)*n_tensors, GGUF_MAX_TENSORS);
    return 0;
}

/* kv -> string key, u32 type, value */
static int parse_kvs(parser *p, uint64_t n_kv) {
    gguf_file *f = p->f;
    char b[80];
    f->kv = he_calloc((size_t)(n_kv ? n_kv : 1), sizeof *f->kv);
    f->kv_hash = hash_new(n_kv, &f->kv_hash_size);
    if (!f->kv || !f->kv_hash)
        return he_fail(p->err, HE_NOMEM, "gguf: out of memory for %llu keys",
                       (unsigned long long)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        size_t at = p->pos;
        snprintf(p->where, sizeof p->where, "key #%llu", (unsigned long long)i);
        if (rd_str(p, &kv->key, "key") || check_name(p, kv->key, "key", at)) return -1;
        snprintf(p->where, sizeof p->where, "key '%s'",
                 show(b, sizeof b, kv->key.ptr, kv->key.len));
        uint64_t slot =
            hash_slot(f->kv_hash, f->kv_hash_size, kv->key.ptr, kv->key.len, kv_name, f);
        if (f->kv_hash[slot])
            return he_fail(p->err, HE_FORMAT, "gguf: %s at offset %zu: duplicate key", p->where,
                           at);
        uint32_t t;
        if (rd_u32(p, &t, "value type")) return -1;
        kv->val_off = p->pos;
        if (parse_value(p, t, 0, &kv->n, &kv->elem_type, &kv->aux)) return -1; /* checks t */
        kv->type = (gguf_type)t;
        kv->val_size = p->pos - kv->val_off;
        f->kv_hash[slot] = (uint32_t)i + 1;
        f->n_kv = (int64_t)i + 1; /* what is filled so far, for gguf_close on error */
    }
    return 0;
}

static int read_alignment(parser *p) {
    gguf_file *f = p->f;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gguf_find_key(f, "general.alignment");
    if (i < 0) return 0;
    const gguf_kv *kv = &f->kv[i];
    if (kv->type != GGUF_TYPE_UINT32)
        return he_fail(p->err, HE_FORMAT,
                       "gguf: key 'general.alignment' at offset %llu has type %s, "
                       "expected u32",
                       (unsigned long long)kv->val_off, gguf_type_name(kv->type));
    uint32_t a = ld_u32(f->base + kv->val_off);
    if (a == 0 || (a & (a - 1)) != 0)
        return he_fail(p->err, HE_FORMAT,
                       "gguf: key 'general.alignment' at offset %llu is %u, "
                       "not a nonzero power of two",
                       (unsigned long long)kv->val_off, a);
    if (a > GGUF_MAX_ALIGNMENT)
        return he_fail(p->err, HE_LIMIT,
                       "gguf: key 'general.alignment' at offset %llu is %u, "
                       "above hearth's limit of %u",
                       (unsigned long long)kv->val_off, a, GGUF_MAX_ALIGNMENT);
    f->alignment = a;
    return 0;
}

/* tensor_info -> string name, u32 n_dims, n_dims × i64 ne, u32 type, u64 offset */
static int parse_tensor_infos(parser *p, uint64_t n_tensors) {
    gguf_file *f = p->f;
    char b[80];
    f->tensors = he_calloc((size_t)(n_tensors ? n_tensors : 1), sizeof *f->tensors);
    f->tensor_hash = hash_new(n_tensors, &f->tensor_hash_size);
    if (!f->tensors || !f->tensor_hash)
        return he_fail(p->err, HE_NOMEM, "gguf: out of memory for %llu tensors",
                       (unsigned long long)n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        size_t at = p->pos;
        snprintf(p->where, sizeof p->where, "tensor #%llu", (unsigned long long)i);
        if (rd_str(p, &t->name, "tensor name") || check_name(p, t->name, "tensor name", at))
            return -1;
        show(b, sizeof b, t->name.ptr, t->name.len);
        if (t->name.len > GGUF_MAX_TENSOR_NAME)
            return he_fail(p->err, HE_FORMAT,
                           "gguf: tensor '%s' at offset %zu: name is %llu bytes, "
                           "longer than the %d that ggml allows",
                           b, at, (unsigned long long)t->name.len, GGUF_MAX_TENSOR_NAME);
        snprintf(p->where, sizeof p->where, "tensor '%s'", b);
        uint64_t slot = hash_slot(f->tensor_hash, f->tensor_hash_size, t->name.ptr, t->name.len,
                                  tensor_name, f);
        if (f->tensor_hash[slot])
            return he_fail(p->err, HE_FORMAT, "gguf: %s at offset %zu: duplicate tensor name",
                           p->where, at);
        f->tensor_hash[slot] = (uint32_t)i + 1;
        f->n_tensors = (int64_t)i + 1;

        size_t dat = p->pos;
        if (rd_u32(p, &t->n_dims, "n_dims")) return -1;
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
            return he_fail(p->err, HE_FORMAT, "gguf: %s: n_dims %u at offset %zu is not in 1..%d",
                           p->where, t->n_dims, dat, GGUF_MAX_DIMS);
        int64_t nel = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            t->ne[d] = 1;
            if ((uint32_t)d >= t->n_dims) continue;
            size_t nat = p->pos;
            uint64_t v;
            if (rd_u64(p, &v, "dimension")) return -1;
            t->ne[d] = (int64_t)v;
            if (t->ne[d] < 0)
                return he_fail(p->err, HE_FORMAT,
                               "gguf: %s: ne[%d] = %lld at offset %zu is negative", p->where, d,
                               (long long)t->ne[d], nat);
            if (__builtin_mul_overflow(nel, t->ne[d], &nel))
                return he_fail(p->err, HE_FORMAT,
                               "gguf: %s: element count overflows at ne[%d] = "
                               "%lld (offset %zu)",
                               p->where, d, (long long)t->ne[d], nat);
        }
        size_t tat = p->pos;
        if (rd_u32(p, &t->type, "tensor type")) return -1;
        const tensor_traits *tr = tensor_traits_of(t->type);
        if (!tr)
            return he_fail(p->err, HE_FORMAT, "gguf: %s: unknown tensor type id %u at offset %zu",
                           p->where, t->type, tat);
        if (t->ne[0] % tr->block_size != 0)
            return he_fail(p->err, HE_FORMAT,
                           "gguf: %s: ne[0] = %lld is not a multiple of the "
                           "%s block size %lld",
                           p->where, (long long)t->ne[0], tr->name, (long long)tr->block_size);
        t->nbytes = 0;
        if (nel > 0) {
            uint64_t row, rows = (uint64_t)(nel / t->ne[0]);
            if (__builtin_mul_overflow((uint64_t)(t->ne[0] / tr->block_size),
                                       (uint64_t)tr->type_size, &row) ||
                __builtin_mul_overflow(row, rows, &t->nbytes))
                return he_fail(p->err, HE_FORMAT,
                               "gguf: %s: byte size of %lld %s elements overflows", p->where,
                               (long long)nel, tr->name);
        }
        size_t oat = p->pos;
        if (rd_u64(p, &t->offset, "data offset")) return -1;
        if (t->offset % f->alignment != 0)
            return he_fail(p->err, HE_FORMAT,
                           "gguf: %s: data offset %llu at offset %zu is not a "
                           "multiple of the alignment %llu",
                           p->where, (unsigned long long)t->offset, oat,
                           (unsigned long long)f->alignment);
    }
    return 0;
}

static int cmp_by_offset(const void *a, const void *b, void *ctx) {
    const gguf_tensor *t = ctx;
    uint64_t x = t[*(const uint32_t *)a].offset, y = t[*(const uint32_t *)b].offset;
    return x < y ? -1 : x > y;
}

/* Places every tensor's data inside the file and checks that no two overlap. */
static int check_tensor_data(parser *p) {
    gguf_file *f = p->f;
    char b[80], c[80];
    /* data_offset <= size + alignment - 1, no overflow: size fits in size_t. */
    f->data_offset = ((uint64_t)p->pos + f->alignment - 1) & ~(f->alignment - 1);
    uint64_t data_size = f->data_offset <= f->size ? f->size - f->data_offset : 0;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        show(b, sizeof b, t->name.ptr, t->name.len);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return he_fail(p->err, HE_FORMAT,
                           "gguf: tensor '%s': data [offset %llu, %llu bytes] extends past end of "
                           "file (%zu bytes, data section starts at %llu)",
                           b, (unsigned long long)t->offset, (unsigned long long)t->nbytes, f->size,
                           (unsigned long long)f->data_offset);
        t->data = f->base + (f->data_offset <= f->size ? f->data_offset + t->offset : f->size);
    }
    if (f->n_tensors < 2) return 0;
    uint32_t *order = he_malloc((size_t)f->n_tensors * sizeof *order);
    if (!order) return he_fail(p->err, HE_NOMEM, "gguf: out of memory sorting tensors");
    for (int64_t i = 0; i < f->n_tensors; i++)
        order[i] = (uint32_t)i;
    qsort_r(order, (size_t)f->n_tensors, sizeof *order, cmp_by_offset, f->tensors);
    const gguf_tensor *prev = NULL;
    int rc = 0;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[order[i]];
        if (t->nbytes == 0) continue; /* an empty tensor occupies nothing */
        if (prev && prev->offset + prev->nbytes > t->offset) {
            rc = he_fail(p->err, HE_FORMAT,
                         "gguf: tensors '%s' [offset %llu, %llu bytes] and '%s' [offset %llu, %llu "
                         "bytes] overlap",
                         show(b, sizeof b, prev->name.ptr, prev->name.len),
                         (unsigned long long)prev->offset, (unsigned long long)prev->nbytes,
                         show(c, sizeof c, t->name.ptr, t->name.len), (unsigned long long)t->offset,
                         (unsigned long long)t->nbytes);
            break;
        }
        prev = t;
    }
    free(order);
    return rc;
}

static gguf_file *parse(gguf_file *f, he_error *err) {
    parser p = {.f = f, .err = err};
    uint64_t n_tensors, n_kv;
    if (parse_header(&p, &n_tensors, &n_kv) || parse_kvs(&p, n_kv) || read_alignment(&p) ||
        parse_tensor_infos(&p, n_tensors) || check_tensor_data(&p)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

/* ---- Opening ---- */

gguf_file *gguf_open_buffer(const void *buf, size_t len, he_error *err) {
    gguf_file *f = he_calloc(1, sizeof *f);
    if (!f) {
        he_fail(err, HE_NOMEM, "gguf: out of memory");
        return NULL;
    }
    f->base = buf ? buf : (const uint8_t *)"";
    f->size = buf ? len : 0;
    f->fd = -1;
    return parse(f, err);
}

gguf_file *gguf_open(const char *path, he_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        he_fail(err, HE_IO, "gguf: cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        he_fail(err, HE_IO, "gguf: '%s' is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        close(fd);
        he_fail(err, HE_FORMAT, "gguf: empty file (0 bytes)");
        return NULL;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        he_fail(err, HE_LIMIT, "gguf: '%s' is too large to map", path);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    if (m == MAP_FAILED) {
        close(fd);
        he_fail(err, HE_IO, "gguf: cannot map '%s': %s", path, strerror(e));
        return NULL;
    }
    gguf_file *f = he_calloc(1, sizeof *f);
    if (!f) {
        munmap(m, (size_t)st.st_size);
        close(fd);
        he_fail(err, HE_NOMEM, "gguf: out of memory");
        return NULL;
    }
    f->base = m;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    f->fd = fd;
#ifdef MADV_HUGEPAGE
    /* ask for 2 MiB page-cache folios where this mapping reads the file in (the kernel aligns
     * a file mapping this large to 2 MiB, and maps such folios with one PMD entry each): a
     * decode step streams GBs of weights, and with 4 KiB pages each page is a TLB miss whose
     * walk misses the cache too: gpt-oss-20b tg, one thread, 8.8-10.5 t/s mapped in 2 MiB
     * pages vs 3.5-4.9 in 4 KiB ones (docs/ENGINE.md). Parts already cached in small folios
     * stay small (gguf_populate re-reads them); a kernel without THP for files ignores it. */
    (void)madvise(m, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
    return parse(f, err);
}

long long gguf_huge_mapped(const gguf_file *f) {
    if (!f || !f->mapped) return -1;
    FILE *fp = fopen("/proc/self/smaps", "r");
    if (!fp) return -1;
    char line[512];
    bool in = false;
    long long kib = -1;
    while (fgets(line, sizeof line, fp)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = lo <= (uintptr_t)f->base && (uintptr_t)f->base < hi;
            continue;
        }
        long long v;
        if (in && sscanf(line, "FilePmdMapped: %lld kB", &v) == 1) {
            kib = v;
            break;
        }
    }
    fclose(fp);
    return kib < 0 ? -1 : kib * 1024;
}

static int populate(const gguf_file *f) {
#ifdef MADV_POPULATE_READ
    return madvise((void *)f->base, f->size, MADV_POPULATE_READ) == 0 ? 0 : -1;
#else
    (void)f;
    return -1;
#endif
}

/* drops bytes [off, off + len) of the file from this process's page tables and the page
 * cache, and maps them in again (read back in folios as large as the mapping asks) */
static int reread(const gguf_file *f, size_t off, size_t len) {
    /* a file just written has dirty pages, which the drop skips: write them out first */
    (void)sync_file_range(f->fd, (off_t)off, (off_t)len,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER);
    if (madvise((void *)(f->base + off), len, MADV_DONTNEED) != 0 ||
        posix_fadvise(f->fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED) != 0)
        return -1;
#ifdef MADV_POPULATE_READ
    return madvise((void *)(f->base + off), len, MADV_POPULATE_READ) == 0 ? 0 : -1;
#else
    return -1;
#endif
}

int gguf_populate(const gguf_file *f) {
    if (!f || !f->mapped) return -1;
    int rc = populate(f);
    /* A file whose page cache was filled in small folios (written in small pieces, e.g. by a
     * downloader's 16 KiB writes, or read back in small pieces) maps in 4 KiB pages whatever
     * MADV_HUGEPAGE says, and decodes at under half the speed (gguf_open). When under half of
     * it is mapped in 2 MiB pages: unmap this process's pages, drop the file's clean cached
     * pages (others' mapped ones stay), and populate again, which reads it back in 2 MiB
     * folios: once, at disk speed; later loads find them cached.
     * Kernels whose page cache has no large folios for the file system (before Linux 6.16 for
     * ext4) never map it so: a 16 MiB probe first, so that they do not pay a re-read per load. */
    const size_t huge = (size_t)2 << 20;
    if (rc == 0 && f->fd >= 0 && f->size >= 32 * huge && ((uintptr_t)f->base & (huge - 1)) == 0) {
        const long long pmd = gguf_huge_mapped(f);
        if (pmd >= 0 && (size_t)pmd < f->size / 2 &&
            reread(f, (f->size / 2) & ~(huge - 1), 8 * huge) == 0 &&
            gguf_huge_mapped(f) - pmd >= (long long)(4 * huge))
            rc = reread(f, 0, f->size);
    }
    /* then one read per page: MADV_POPULATE_READ fills this process's page tables, but under a
     * hypervisor that shadows them (the development machine, a PVM guest) each page's first
     * access still traps, ~1.5 us a page: a first pass over a model at 1.5 GB/s, 10x slower than the next
     * (tools/gemv1.c --map). Reading each page once here moves that cost to the load; on bare
     * metal the pass is a cache miss per page, overlapped (~0.1 s for 12 GB). */
    const long psz = sysconf(_SC_PAGESIZE);
    if (psz > 0) {
        const volatile uint8_t *p = f->base;
        uint8_t acc = 0;
        for (size_t o = 0; o < f->size; o += (size_t)psz)
            acc ^= p[o];
        (void)acc;
    }
    return rc;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->mapped) munmap((void *)f->base, f->size);
    if (f->mapped && f->fd >= 0) close(f->fd);
    free(f->kv);
    free(f->kv_hash);
    free(f->tensors);
    free(f->tensor_hash);
    free(f->arena);
    free(f);
}

uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint64_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
size_t gguf_file_size(const gguf_file *f) { return f->size; }

/* ---- Metadata ---- */

int64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }

int64_t gguf_find_key(const gguf_file *f, const char *key) {
    if (!f->kv_hash) return -1;
    uint64_t s = hash_slot(f->kv_hash, f->kv_hash_size, key, strlen(key), kv_name, f);
    return f->kv_hash[s] ? (int64_t)f->kv_hash[s] - 1 : -1;
}

gguf_str gguf_key(const gguf_file *f, int64_t i) {
    if (i < 0 || i >= f->n_kv) return (gguf_str){NULL, 0};
    return f->kv[i].key;
}

gguf_type gguf_kv_type(const gguf_file *f, int64_t i) {
    if (i < 0 || i >= f->n_kv) return GGUF_TYPE_COUNT;
    return f->kv[i].type;
}

int gguf_get_value(const gguf_file *f, int64_t i, gguf_value *out) {
    if (i < 0 || i >= f->n_kv) return -1;
    const gguf_kv *kv = &f->kv[i];
    *out = (gguf_value){.f = f,
                        .type = kv->type,
                        .raw = f->base + kv->val_off,
                        .n = kv->n,
                        .elem_type = kv->elem_type,
                        .aux = kv->aux == GGUF_NO_AUX ? NULL : f->arena + kv->aux};
    return 0;
}

/* The key whose value contains the byte at p, for messages about a value node. */
static const char *key_of(const gguf_file *f, const uint8_t *p, char *buf, size_t cap) {
    uint64_t off = (uint64_t)(p - f->base);
    for (int64_t i = 0; i < f->n_kv; i++)
        if (off >= f->kv[i].val_off && off < f->kv[i].val_off + f->kv[i].val_size)
            return show(buf, cap, f->kv[i].key.ptr, f->kv[i].key.len);
    return "?";
}

/* Shared by the getters: describes v's failure to convert. */
static int conv_fail(const gguf_value *v, he_error *err, const char *want, const char *detail) {
    char b[80];
    return he_fail(err, HE_FORMAT, "gguf: key '%s' (%s at offset %llu): %s%s",
                   key_of(v->f, v->raw, b, sizeof b), gguf_type_name(v->type),
                   (unsigned long long)(v->raw - v->f->base), want, detail ? detail : "");
}

int gguf_value_elem(const gguf_value *arr, uint64_t j, gguf_value *out, he_error *err) {
    if (arr->type != GGUF_TYPE_ARRAY) return conv_fail(arr, err, "not an array", NULL);
    if (j >= arr->n) {
        char b[80];
        return he_fail(err, HE_INVALID, "gguf: key '%s': index %llu out of range (array of %llu)",
                       key_of(arr->f, arr->raw, b, sizeof b), (unsigned long long)j,
                       (unsigned long long)arr->n);
    }
    const gguf_file *f = arr->f;
    const uint64_t *aux = arr->aux;
    gguf_type et = arr->elem_type;
    *out = (gguf_value){.f = f, .type = et, .elem_type = GGUF_TYPE_COUNT};
    if (et == GGUF_TYPE_STRING) {
        out->raw = f->base + aux[j];
    } else if (et == GGUF_TYPE_ARRAY) {
        out->raw = f->base + aux[2 * j];
        out->elem_type = (gguf_type)ld_u32(out->raw);
        out->n = ld_u64(out->raw + 4);
        out->aux = aux[2 * j + 1] == GGUF_NO_AUX ? NULL : f->arena + aux[2 * j + 1];
    } else {
        out->raw = arr->raw + 12 + j * gguf_type_size(et);
    }
    return 0;
}

/* Integer view of an integer or bool node: *neg set when the value is negative. */
static int int_of(const gguf_value *v, uint64_t *mag, bool *neg) {
    const uint8_t *r = v->raw;
    int64_t s = 0;
    *neg = false;
    switch (v->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_BOOL:
        *mag = r[0];
        return 0;
    case GGUF_TYPE_UINT16: {
        uint16_t x;
        memcpy(&x, r, 2);
        *mag = x;
        return 0;
    }
    case GGUF_TYPE_UINT32:
        *mag = ld_u32(r);
        return 0;
    case GGUF_TYPE_UINT64:
        *mag = ld_u64(r);
        return 0;
    case GGUF_TYPE_INT8:
        s = (int8_t)r[0];
        break;
    case GGUF_TYPE_INT16: {
        int16_t x;
        memcpy(&x, r, 2);
        s = x;
        break;
    }
    case GGUF_TYPE_INT32:
        s = (int32_t)ld_u32(r);
        break;
    case GGUF_TYPE_INT64:
        s = (int64_t)ld_u64(r);
        break;
    default:
        return -1;
    }
    *neg = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return 0;
}

int gguf_value_i64(const gguf_value *v, int64_t *out, he_error *err) {
    uint64_t m;
    bool neg;
    if (int_of(v, &m, &neg)) return conv_fail(v, err, "expected an integer", NULL);
    if (neg) {
        *out = (int64_t)((uint64_t)0 - m); /* m <= 2^63 here */
        return 0;
    }
    if (m > (uint64_t)INT64_MAX) return conv_fail(v, err, "value does not fit in int64", NULL);
    *out = (int64_t)m;
    return 0;
}

static int value_u64(const gguf_value *v, uint64_t *out, he_error *err) {
    uint64_t m;
    bool neg;
    if (int_of(v, &m, &neg)) return conv_fail(v, err, "expected an integer", NULL);
    if (neg) return conv_fail(v, err, "expected a non-negative value", NULL);
    *out = m;
    return 0;
}

int gguf_value_f64(const gguf_value *v, double *out, he_error *err) {
    if (v->type == GGUF_TYPE_FLOAT32) {
        float x;
        memcpy(&x, v->raw, 4);
        *out = (double)x;
        return 0;
    }
    if (v->type == GGUF_TYPE_FLOAT64) {
        memcpy(out, v->raw, 8);
        return 0;
    }
    uint64_t m;
    bool neg;
    if (v->type == GGUF_TYPE_BOOL || int_of(v, &m, &neg))
        return conv_fail(v, err, "expected a number", NULL);
    *out = neg ? -(double)m : (double)m;
    return 0;
}

int gguf_value_bool(const gguf_value *v, bool *out, he_error *err) {
    uint64_t m;
    bool neg;
    if (int_of(v, &m, &neg)) return conv_fail(v, err, "expected a bool", NULL);
    if (neg || m > 1) return conv_fail(v, err, "expected a bool (0 or 1)", NULL);
    *out = m != 0;
    return 0;
}

int gguf_value_str(const gguf_value *v, gguf_str *out, he_error *err) {
    if (v->type != GGUF_TYPE_STRING) return conv_fail(v, err, "expected a string", NULL);
    out->len = ld_u64(v->raw);
    out->ptr = (const char *)v->raw + 8;
    return 0;
}

static int get_node(const gguf_file *f, int64_t i, gguf_value *v, he_error *err) {
    if (gguf_get_value(f, i, v))
        return he_fail(err, HE_INVALID, "gguf: key index %lld out of range (%lld keys)",
                       (long long)i, (long long)f->n_kv);
    return 0;
}

int gguf_get_i64(const gguf_file *f, int64_t i, int64_t *out, he_error *err) {
    gguf_value v = {0};
    return get_node(f, i, &v, err) ? -1 : gguf_value_i64(&v, out, err);
}
int gguf_get_u64(const gguf_file *f, int64_t i, uint64_t *out, he_error *err) {
    gguf_value v = {0};
    return get_node(f, i, &v, err) ? -1 : value_u64(&v, out, err);
}
int gguf_get_f64(const gguf_file *f, int64_t i, double *out, he_error *err) {
    gguf_value v = {0};
    return get_node(f, i, &v, err) ? -1 : gguf_value_f64(&v, out, err);
}
int gguf_get_bool(const gguf_file *f, int64_t i, bool *out, he_error *err) {
    gguf_value v = {0};
    return get_node(f, i, &v, err) ? -1 : gguf_value_bool(&v, out, err);
}
int gguf_get_str(const gguf_file *f, int64_t i, gguf_str *out, he_error *err) {
    gguf_value v = {0};
    return get_node(f, i, &v, err) ? -1 : gguf_value_str(&v, out, err);
}

int gguf_find_i64(const gguf_file *f, const char *key, int64_t *out, he_error *err) {
    int64_t i = gguf_find_key(f, key);
    return i < 0 ? 0 : gguf_get_i64(f, i, out, err) ? -1 : 1;
}
int gguf_find_f64(const gguf_file *f, const char *key, double *out, he_error *err) {
    int64_t i = gguf_find_key(f, key);
    return i < 0 ? 0 : gguf_get_f64(f, i, out, err) ? -1 : 1;
}
int gguf_find_bool(const gguf_file *f, const char *key, bool *out, he_error *err) {
    int64_t i = gguf_find_key(f, key);
    return i < 0 ? 0 : gguf_get_bool(f, i, out, err) ? -1 : 1;
}
int gguf_find_str(const gguf_file *f, const char *key, gguf_str *out, he_error *err) {
    int64_t i = gguf_find_key(f, key);
    return i < 0 ? 0 : gguf_get_str(f, i, out, err) ? -1 : 1;
}

int gguf_find_arr(const gguf_file *f, const char *key, int elem_type, gguf_value *out,
                  he_error *err) {
    int64_t i = gguf_find_key(f, key);
    if (i < 0) return 0;
    gguf_value v;
    gguf_get_value(f, i, &v);
    if (v.type != GGUF_TYPE_ARRAY) return conv_fail(&v, err, "expected an array", NULL);
    if (elem_type >= 0 && v.elem_type != (gguf_type)elem_type) {
        char d[64];
        snprintf(d, sizeof d, " of %s, found an array of %s", gguf_type_name((gguf_type)elem_type),
                 gguf_type_name(v.elem_type));
        return conv_fail(&v, err, "expected an array", d);
    }
    *out = v;
    return 1;
}

/* ---- Tensors ---- */

int64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name) {
    if (!f->tensor_hash) return NULL;
    uint64_t s = hash_slot(f->tensor_hash, f->tensor_hash_size, name, strlen(name), tensor_name, f);
    return f->tensor_hash[s] ? &f->tensors[f->tensor_hash[s] - 1] : NULL;
}
