/* test_gguf.c — the GGUF reader and writer.
 *
 * Round trips through the writer (every value type, nested arrays, tensors of several types,
 * v2 and v3 headers), the real files carried in tests/data (fixtures.h), and a malformed-file
 * corpus built byte by byte here (SECURITY.md G1-G21): each case must fail with a specific code
 * and message, with the input in an exact-size heap buffer (ASan) and against a PROT_NONE guard
 * page (no ASan needed).
 *
 * HEARTH_GGUF_CORPUS_OUT=DIR with `--filter "corpus/write_seeds"` also writes the fuzz seed corpus
 * there. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tensor/tensor.h"
#include "fixtures.h"

/* ---- A raw byte builder for hand-made files ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} rb;

static void rb_bytes(rb *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void rb_u8(rb *b, uint8_t v) { rb_bytes(b, &v, 1); }
static void rb_u32(rb *b, uint32_t v) { rb_bytes(b, &v, 4); }
static void rb_u64(rb *b, uint64_t v) { rb_bytes(b, &v, 8); }
static void rb_str(rb *b, const char *s) {
    rb_u64(b, strlen(s));
    rb_bytes(b, s, strlen(s));
}
static void rb_header(rb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    rb_bytes(b, "GGUF", 4);
    rb_u32(b, version);
    rb_u64(b, n_tensors);
    rb_u64(b, n_kv);
}
static void rb_kv(rb *b, const char *key, uint32_t type) {
    rb_str(b, key);
    rb_u32(b, type);
}
static void rb_pad(rb *b, size_t align) {
    while (b->n % align)
        rb_u8(b, 0);
}
static void rb_free(rb *b) { free(b->p); }

typedef struct {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
    uint64_t offset;
} tspec;

static void rb_tensor(rb *b, const tspec *t) {
    rb_str(b, t->name);
    rb_u32(b, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims && d < 4; d++)
        rb_u64(b, (uint64_t)t->ne[d]);
    rb_u32(b, t->type);
    rb_u64(b, t->offset);
}

/* A small valid model: v3, strings, arrays of strings and ints, a nested array, two tensors
 * whose data ends the file (so every truncation must be detected). */
static void tiny_model(rb *b, uint32_t version) {
    rb_header(b, version, 2, 6);
    rb_kv(b, "general.architecture", GGUF_TYPE_STRING);
    rb_str(b, "llama");
    rb_kv(b, "general.alignment", GGUF_TYPE_UINT32);
    rb_u32(b, 32);
    rb_kv(b, "llama.block_count", GGUF_TYPE_UINT32);
    rb_u32(b, 1);
    rb_kv(b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
    rb_u32(b, GGUF_TYPE_STRING);
    rb_u64(b, 3);
    rb_str(b, "<s>");
    rb_str(b, "");
    rb_str(b, "hello");
    rb_kv(b, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY);
    rb_u32(b, GGUF_TYPE_INT32);
    rb_u64(b, 3);
    rb_u32(b, 3);
    rb_u32(b, 1);
    rb_u32(b, (uint32_t)-1);
    rb_kv(b, "x.nested", GGUF_TYPE_ARRAY); /* [[1, 2], ["a"]] */
    rb_u32(b, GGUF_TYPE_ARRAY);
    rb_u64(b, 2);
    rb_u32(b, GGUF_TYPE_UINT8);
    rb_u64(b, 2);
    rb_u8(b, 1);
    rb_u8(b, 2);
    rb_u32(b, GGUF_TYPE_STRING);
    rb_u64(b, 1);
    rb_str(b, "a");
    tspec a = {"a", 2, {8, 2}, TENSOR_TYPE_F32, 0};
    tspec q = {"b.q8", 1, {32}, TENSOR_TYPE_Q8_0, 64};
    rb_tensor(b, &a);
    rb_tensor(b, &q);
    rb_pad(b, 32);
    for (int i = 0; i < 64 + 34; i++)
        rb_u8(b, (uint8_t)(i * 7 + 1));
}

/* ---- Opening helpers ---- */

/* Input in an exact-size heap copy, so ASan catches any read past the end. */
typedef struct {
    gguf_file *f;
    uint8_t *buf;
} opened;

static opened open_bytes(const void *p, size_t n, he_error *err) {
    opened o = {NULL, malloc(n ? n : 1)};
    if (n) memcpy(o.buf, p, n);
    o.f = gguf_open_buffer(n ? o.buf : NULL, n, err);
    return o;
}
static void close_opened(opened *o) {
    gguf_close(o->f);
    free(o->buf);
}

/* The same input ending right before a PROT_NONE page: a one-byte over-read faults. */
static gguf_file *open_guarded(const void *p, size_t n, he_error *err, void **map, size_t *maplen) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (n + pg - 1) / pg;
    if (data_pages == 0) data_pages = 1;
    *maplen = (data_pages + 1) * pg;
    uint8_t *m = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(m != MAP_FAILED);
    cr_assert_eq(mprotect(m + data_pages * pg, pg, PROT_NONE), 0);
    uint8_t *start = m + data_pages * pg - n;
    if (n) memcpy(start, p, n);
    *map = m;
    return gguf_open_buffer(start, n, err);
}

static void expect_fail_bytes(const uint8_t *p, size_t n, he_code code, const char *substr,
                              const char *label) {
    he_error err = {0};
    opened o = open_bytes(p, n, &err);
    cr_assert_null(o.f, "%s: opened a malformed file", label);
    cr_assert_eq(err.code, code, "%s: code %d (%s), want %d: %s", label, err.code,
                 he_code_name(err.code), code, err.msg);
    cr_assert(strncmp(err.msg, "gguf: ", 6) == 0, "%s: message '%s'", label, err.msg);
    if (substr)
        cr_assert(strstr(err.msg, substr), "%s: message '%s' lacks '%s'", label, err.msg, substr);
    close_opened(&o);

    he_error err2 = {0};
    void *map;
    size_t maplen;
    gguf_file *f = open_guarded(p, n, &err2, &map, &maplen);
    cr_assert_null(f, "%s: opened a malformed file (guarded)", label);
    cr_assert_str_eq(err2.msg, err.msg);
    munmap(map, maplen);
}

static char tmpdir[256];
static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hearth_test_gguf.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}
static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(tmpdir);
}
static int count_dir_entries(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* ---- The valid tiny model ---- */

Test(reader, tiny_model_values) {
    rb b = {0};
    tiny_model(&b, 3);
    he_error err = {0};
    opened o = open_bytes(b.p, b.n, &err);
    cr_assert_not_null(o.f, "%s", err.msg);
    gguf_file *f = o.f;
    cr_assert_eq(gguf_version(f), 3);
    cr_assert_eq(gguf_alignment(f), 32);
    cr_assert_eq(gguf_n_kv(f), 6);
    cr_assert_eq(gguf_n_tensors(f), 2);
    cr_assert_eq(gguf_data_offset(f) % 32, 0);
    cr_assert_eq(gguf_data_offset(f) + 64 + 34, b.n);

    gguf_str s;
    cr_assert_eq(gguf_find_str(f, "general.architecture", &s, &err), 1);
    cr_assert(gguf_str_eq(s, "llama"));
    cr_assert_eq(gguf_find_str(f, "no.such.key", &s, &err), 0);
    cr_assert_eq(gguf_find_str(f, "llama.block_count", &s, &err), -1);
    cr_assert(strstr(err.msg, "llama.block_count") && strstr(err.msg, "expected a string"), "%s",
              err.msg);

    gguf_value arr, e, e2;
    cr_assert_eq(gguf_find_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &arr, &err), 1);
    cr_assert_eq(arr.n, 3);
    const char *want[] = {"<s>", "", "hello"};
    for (int j = 2; j >= 0; j--) { /* any order: O(1) access */
        cr_assert_eq(gguf_value_elem(&arr, (uint64_t)j, &e, &err), 0);
        cr_assert_eq(gguf_value_str(&e, &s, &err), 0);
        cr_assert(gguf_str_eq(s, want[j]));
    }
    cr_assert_eq(gguf_value_elem(&arr, 3, &e, &err), -1);
    cr_assert(strstr(err.msg, "out of range"), "%s", err.msg);
    cr_assert_eq(gguf_find_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_INT32, &arr, &err), -1);
    cr_assert(strstr(err.msg, "array of string"), "%s", err.msg);

    cr_assert_eq(gguf_find_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &arr, &err), 1);
    int64_t v;
    cr_assert_eq(gguf_value_elem(&arr, 2, &e, &err), 0);
    cr_assert_eq(gguf_value_i64(&e, &v, &err), 0);
    cr_assert_eq(v, -1);

    cr_assert_eq(gguf_find_arr(f, "x.nested", GGUF_TYPE_ARRAY, &arr, &err), 1);
    cr_assert_eq(arr.n, 2);
    cr_assert_eq(gguf_value_elem(&arr, 1, &e, &err), 0);
    cr_assert_eq(e.type, GGUF_TYPE_ARRAY);
    cr_assert_eq(e.elem_type, GGUF_TYPE_STRING);
    cr_assert_eq(gguf_value_elem(&e, 0, &e2, &err), 0);
    cr_assert_eq(gguf_value_str(&e2, &s, &err), 0);
    cr_assert(gguf_str_eq(s, "a"));
    cr_assert_eq(gguf_value_elem(&arr, 0, &e, &err), 0);
    cr_assert_eq(e.n, 2);
    cr_assert_eq(gguf_value_elem(&e, 1, &e2, &err), 0);
    cr_assert_eq(gguf_value_i64(&e2, &v, &err), 0);
    cr_assert_eq(v, 2);

    const gguf_tensor *t = gguf_tensor_find(f, "b.q8");
    cr_assert_not_null(t);
    cr_assert_eq(t->type, TENSOR_TYPE_Q8_0);
    cr_assert_eq(t->nbytes, 34);
    cr_assert_eq(t->offset, 64);
    cr_assert_eq((const uint8_t *)t->data, o.buf + gguf_data_offset(f) + 64);
    cr_assert_eq(t->ne[1], 1);
    t = gguf_tensor_find(f, "a");
    cr_assert_eq(t->nbytes, 64);
    cr_assert_eq(t->ne[0], 8);
    cr_assert_eq(t->ne[1], 2);
    cr_assert_null(gguf_tensor_find(f, "c"));
    cr_assert_null(gguf_tensor_at(f, 2));
    close_opened(&o);
    rb_free(&b);
}

Test(reader, version_2_accepted) {
    rb b = {0};
    tiny_model(&b, 2);
    he_error err = {0};
    opened o = open_bytes(b.p, b.n, &err);
    cr_assert_not_null(o.f, "%s", err.msg);
    cr_assert_eq(gguf_version(o.f), 2);
    close_opened(&o);
    rb_free(&b);
}

/* G21: every proper prefix of a valid file is rejected cleanly. */
Test(malformed, truncation_at_every_offset) {
    rb b = {0};
    tiny_model(&b, 3);
    char label[64];
    for (size_t n = 0; n < b.n; n++) {
        snprintf(label, sizeof label, "prefix of %zu bytes", n);
        expect_fail_bytes(b.p, n, HE_FORMAT, NULL, label);
    }
    rb_free(&b);
}

/* ---- The malformed corpus: one builder per case ---- */

typedef void (*builder)(rb *b);

static void m_bad_magic(rb *b) {
    tiny_model(b, 3);
    memcpy(b->p, "GGML", 4);
}
static void m_version1(rb *b) { tiny_model(b, 1); }
static void m_version999(rb *b) { tiny_model(b, 999); }
static void m_big_endian(rb *b) { tiny_model(b, 0x03000000); }
static void m_n_tensors_max(rb *b) { rb_header(b, 3, UINT64_MAX, 0); }
static void m_n_kv_2_63(rb *b) { rb_header(b, 3, 0, 1ull << 63); }
static void m_key_len_max(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_u64(b, UINT64_MAX);
    rb_bytes(b, "general.name", 12);
}
static void m_string_too_long(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "general.name", GGUF_TYPE_STRING);
    rb_u64(b, 1000);
    rb_bytes(b, "short", 5);
}
static void m_array_overflow(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "k", GGUF_TYPE_ARRAY);
    rb_u32(b, GGUF_TYPE_UINT64);
    rb_u64(b, (1ull << 61) + 1); /* × 8 wraps to 8 */
    rb_u64(b, 0);
}
static void m_string_array_count(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
    rb_u32(b, GGUF_TYPE_STRING);
    rb_u64(b, 1ull << 60);
    rb_str(b, "a");
}
static void m_type13(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "k", 13);
    rb_u32(b, 0);
}
static void m_type_ffffffff(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "k", 0xFFFFFFFFu);
    rb_u32(b, 0);
}
static void m_elem_type13(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "k", GGUF_TYPE_ARRAY);
    rb_u32(b, 13);
    rb_u64(b, 1);
    rb_u32(b, 0);
}
static void nest(rb *b, int levels) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "k", GGUF_TYPE_ARRAY);
    for (int i = 1; i < levels; i++) {
        rb_u32(b, GGUF_TYPE_ARRAY);
        rb_u64(b, 1);
    }
    rb_u32(b, GGUF_TYPE_UINT8);
    rb_u64(b, 1);
    rb_u8(b, 7);
}
static void m_depth_bomb(rb *b) { nest(b, 1000); }
static void m_depth_9(rb *b) { nest(b, 9); }
static void m_dup_key(rb *b) {
    rb_header(b, 3, 0, 2);
    rb_kv(b, "general.name", GGUF_TYPE_STRING);
    rb_str(b, "a");
    rb_kv(b, "general.name", GGUF_TYPE_UINT8);
    rb_u8(b, 1);
}
static void align_kv(rb *b, uint32_t type, uint64_t v) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "general.alignment", type);
    if (type == GGUF_TYPE_UINT64)
        rb_u64(b, v);
    else
        rb_u32(b, (uint32_t)v);
}
static void m_align0(rb *b) { align_kv(b, GGUF_TYPE_UINT32, 0); }
static void m_align3(rb *b) { align_kv(b, GGUF_TYPE_UINT32, 3); }
static void m_align2_31(rb *b) { align_kv(b, GGUF_TYPE_UINT32, 1u << 31); }
static void m_align_u64(rb *b) { align_kv(b, GGUF_TYPE_UINT64, 32); }
static void m_align_i32(rb *b) { align_kv(b, GGUF_TYPE_INT32, 32); }
static void m_bool2(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "tokenizer.ggml.add_bos_token", GGUF_TYPE_BOOL);
    rb_u8(b, 2);
}
static void m_empty_key(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_kv(b, "", GGUF_TYPE_UINT8);
    rb_u8(b, 1);
}
static void m_nul_key(rb *b) {
    rb_header(b, 3, 0, 1);
    rb_u64(b, 3);
    rb_bytes(b, "a\0b", 3);
    rb_u32(b, GGUF_TYPE_UINT8);
    rb_u8(b, 1);
}
/* One tensor with the given info and enough zero data for a valid one of 64 bytes. */
static void one_tensor(rb *b, const tspec *t, size_t data) {
    rb_header(b, 3, 1, 0);
    rb_tensor(b, t);
    rb_pad(b, 32);
    for (size_t i = 0; i < data; i++)
        rb_u8(b, 0);
}
static void m_name64(rb *b) {
    char name[65];
    memset(name, 'n', 64);
    name[64] = 0;
    tspec t = {name, 1, {16}, TENSOR_TYPE_F32, 0};
    one_tensor(b, &t, 64);
}
static void m_dup_tensor(rb *b) {
    tspec t1 = {"blk.0.attn_q.weight", 1, {8}, TENSOR_TYPE_F32, 0};
    tspec t2 = {"blk.0.attn_q.weight", 1, {8}, TENSOR_TYPE_F32, 32};
    rb_header(b, 3, 2, 0);
    rb_tensor(b, &t1);
    rb_tensor(b, &t2);
    rb_pad(b, 32);
    for (int i = 0; i < 64; i++)
        rb_u8(b, 0);
}
static void m_empty(rb *b) { (void)b; }
static void m_ndims5(rb *b) {
    tspec t = {"t", 5, {1, 1, 1, 1}, TENSOR_TYPE_F32, 0};
    one_tensor(b, &t, 64);
}
static void m_ndims_max(rb *b) {
    tspec t = {"t", 0xFFFFFFFFu, {1, 1, 1, 1}, TENSOR_TYPE_F32, 0};
    one_tensor(b, &t, 64);
}
static void m_ndims0(rb *b) {
    tspec t = {"t", 0, {0}, TENSOR_TYPE_F32, 0};
    one_tensor(b, &t, 64);
}
static void m_ne_negative(rb *b) {
    tspec t = {"t", 2, {16, -1}, TENSOR_TYPE_F32, 0};
    one_tensor(b, &t, 64);
}
static void m_ne_overflow(rb *b) {
    tspec t = {"t", 2, {(1ll << 42) + 1, (1ll << 42) + 1}, TENSOR_TYPE_F32, 0};
    one_tensor(b, &t, 64);
}
static void m_bytes_overflow(rb *b) { /* 2^62 elements fit int64, but 2^62 × 4 bytes do not */
    tspec t = {"t", 2, {1ll << 31, 1ll << 31}, TENSOR_TYPE_F32, 0};
    one_tensor(b, &t, 64);
}
static void m_ne0_block(rb *b) {
    tspec t = {"t", 1, {33}, TENSOR_TYPE_Q4_0, 0};
    one_tensor(b, &t, 64);
}
static void m_type_removed(rb *b) { /* 4 was Q4_2, removed from ggml */
    tspec t = {"t", 1, {32}, 4, 0};
    one_tensor(b, &t, 64);
}
static void m_type_unknown(rb *b) {
    tspec t = {"t", 1, {32}, 1000, 0};
    one_tensor(b, &t, 64);
}
static void m_unaligned(rb *b) {
    tspec t = {"t", 1, {4}, TENSOR_TYPE_F32, 1};
    one_tensor(b, &t, 64);
}
static void m_past_end(rb *b) {
    tspec t = {"blk.0.attn_q.weight", 1, {16}, TENSOR_TYPE_F32, 32};
    one_tensor(b, &t, 64); /* needs 32 + 64 bytes */
}
static void m_offset_huge(rb *b) {
    tspec t = {"t", 1, {16}, TENSOR_TYPE_F32, UINT64_MAX - 31};
    one_tensor(b, &t, 64);
}
static void m_overlap(rb *b) {
    tspec t1 = {"a", 1, {16}, TENSOR_TYPE_F32, 0}; /* [0, 64) */
    tspec t2 = {"b", 1, {8}, TENSOR_TYPE_F32, 32}; /* [32, 64) */
    rb_header(b, 3, 2, 0);
    rb_tensor(b, &t1);
    rb_tensor(b, &t2);
    rb_pad(b, 32);
    for (int i = 0; i < 64; i++)
        rb_u8(b, 0);
}

typedef struct {
    const char *id;
    builder build;
    he_code code;
    const char *msg;
} bad_case;

// clang-format off
static const bad_case bad_cases[] = {
    {"G1 bad magic",           m_bad_magic,         HE_FORMAT,      "bad magic 'GGML'"},
    {"G2 version 1",           m_version1,          HE_UNSUPPORTED, "version 1 at offset 4 is not supported"},
    {"G2 version 999",         m_version999,        HE_UNSUPPORTED, "unknown version 999"},
    {"G2 big-endian",          m_big_endian,        HE_UNSUPPORTED, "big-endian"},
    {"G3 n_tensors 2^64-1",    m_n_tensors_max,     HE_FORMAT,      "tensor count 18446744073709551615"},
    {"G4 n_kv 2^63",           m_n_kv_2_63,         HE_FORMAT,      "key/value count 9223372036854775808"},
    {"G5 key length max",      m_key_len_max,       HE_FORMAT,      "has length 18446744073709551615"},
    {"G6 string too long",     m_string_too_long,   HE_FORMAT,      "key 'general.name': string at offset 48 has length 1000"},
    {"G7 array size overflow", m_array_overflow,    HE_FORMAT,      "2305843009213693953 elements of type u64"},
    {"G7 string array count",  m_string_array_count,HE_FORMAT,      "elements of type string, which cannot fit"},
    {"G8 value type 13",       m_type13,            HE_FORMAT,      "key 'k': unknown value type 13"},
    {"G8 value type -1",       m_type_ffffffff,     HE_FORMAT,      "unknown value type 4294967295"},
    {"G8 element type 13",     m_elem_type13,       HE_FORMAT,      "unknown element type 13"},
    {"G8 depth bomb",          m_depth_bomb,        HE_LIMIT,       "nested deeper than 8"},
    {"G8 depth 9",             m_depth_9,           HE_LIMIT,       "nested deeper than 8"},
    {"G9 duplicate key",       m_dup_key,           HE_FORMAT,      "key 'general.name' at offset"},
    {"G10 alignment 0",        m_align0,            HE_FORMAT,      "is 0, not a nonzero power of two"},
    {"G10 alignment 3",        m_align3,            HE_FORMAT,      "is 3, not a nonzero power of two"},
    {"G10 alignment 2^31",     m_align2_31,         HE_LIMIT,       "above hearth's limit"},
    {"G10 alignment u64",      m_align_u64,         HE_FORMAT,      "has type u64, expected u32"},
    {"G10 alignment i32",      m_align_i32,         HE_FORMAT,      "has type i32, expected u32"},
    {"bool value 2",           m_bool2,             HE_FORMAT,      "has value 2 (not 0 or 1)"},
    {"empty key",              m_empty_key,         HE_FORMAT,      "key at offset 24 is empty"},
    {"NUL in key",             m_nul_key,           HE_FORMAT,      "contains a NUL byte"},
    {"G11 tensor name 64",     m_name64,            HE_FORMAT,      "name is 64 bytes"},
    {"G11 duplicate tensor",   m_dup_tensor,        HE_FORMAT,      "tensor 'blk.0.attn_q.weight' at offset"},
    {"G12 empty file",         m_empty,             HE_FORMAT,      "empty file"},
    {"G13 n_dims 5",           m_ndims5,            HE_FORMAT,      "n_dims 5 at offset"},
    {"G13 n_dims 2^32-1",      m_ndims_max,         HE_FORMAT,      "n_dims 4294967295"},
    {"G13 n_dims 0",           m_ndims0,            HE_FORMAT,      "n_dims 0 at offset"},
    {"G14 ne negative",        m_ne_negative,       HE_FORMAT,      "ne[1] = -1"},
    {"G15 ne overflow",        m_ne_overflow,       HE_FORMAT,      "element count overflows at ne[1]"},
    {"G15 bytes overflow",     m_bytes_overflow,    HE_FORMAT,      "byte size of 4611686018427387904 f32 elements overflows"},
    {"G16 ne[0] % block",      m_ne0_block,         HE_FORMAT,      "ne[0] = 33 is not a multiple of the q4_0 block size 32"},
    {"G17 removed type 4",     m_type_removed,      HE_FORMAT,      "unknown tensor type id 4"},
    {"G17 unknown type",       m_type_unknown,      HE_FORMAT,      "unknown tensor type id 1000"},
    {"G18 unaligned offset",   m_unaligned,         HE_FORMAT,      "data offset 1 at offset"},
    {"G19 past end",           m_past_end,          HE_FORMAT,      "tensor 'blk.0.attn_q.weight': data [offset 32, 64 bytes] extends past end of file"},
    {"G19 huge offset",        m_offset_huge,       HE_FORMAT,      "extends past end of file"},
    {"G20 overlap",            m_overlap,           HE_FORMAT,      "tensors 'a' [offset 0, 64 bytes] and 'b' [offset 32, 32 bytes] overlap"},
};
// clang-format on

Test(malformed, corpus) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        rb b = {0};
        bad_cases[i].build(&b);
        expect_fail_bytes(b.p, b.n, bad_cases[i].code, bad_cases[i].msg, bad_cases[i].id);
        rb_free(&b);
    }
}

Test(malformed, depth_8_is_allowed) {
    rb b = {0};
    nest(&b, 8);
    he_error err = {0};
    opened o = open_bytes(b.p, b.n, &err);
    cr_assert_not_null(o.f, "%s", err.msg);
    gguf_value v;
    cr_assert_eq(gguf_get_value(o.f, 0, &v), 0);
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(v.elem_type, GGUF_TYPE_ARRAY);
        cr_assert_eq(gguf_value_elem(&v, 0, &v, &err), 0);
    }
    cr_assert_eq(v.elem_type, GGUF_TYPE_UINT8);
    gguf_value e;
    int64_t x;
    cr_assert_eq(gguf_value_elem(&v, 0, &e, &err), 0);
    cr_assert_eq(gguf_value_i64(&e, &x, &err), 0);
    cr_assert_eq(x, 7);
    close_opened(&o);
    rb_free(&b);
}

/* Zero-sized dimensions are valid in ggml: the tensor has no data and overlaps nothing. */
Test(reader, zero_sized_tensor) {
    rb b = {0};
    tspec t1 = {"empty", 2, {0, 5}, TENSOR_TYPE_Q4_0, 0};
    tspec t2 = {"full", 1, {16}, TENSOR_TYPE_F32, 0};
    rb_header(&b, 3, 2, 0);
    rb_tensor(&b, &t1);
    rb_tensor(&b, &t2);
    rb_pad(&b, 32);
    for (int i = 0; i < 64; i++)
        rb_u8(&b, 0);
    he_error err = {0};
    opened o = open_bytes(b.p, b.n, &err);
    cr_assert_not_null(o.f, "%s", err.msg);
    cr_assert_eq(gguf_tensor_find(o.f, "empty")->nbytes, 0);
    cr_assert_eq(gguf_tensor_find(o.f, "full")->nbytes, 64);
    close_opened(&o);
    rb_free(&b);
}

/* Empty arrays of every kind, at top level and nested (found by the fuzzer: an empty array of
 * strings once pointed its index table at NULL). */
Test(reader, empty_arrays) {
    rb b = {0};
    rb_header(&b, 3, 0, 3);
    rb_kv(&b, "s", GGUF_TYPE_ARRAY);
    rb_u32(&b, GGUF_TYPE_STRING);
    rb_u64(&b, 0);
    rb_kv(&b, "a", GGUF_TYPE_ARRAY);
    rb_u32(&b, GGUF_TYPE_ARRAY);
    rb_u64(&b, 0);
    rb_kv(&b, "n", GGUF_TYPE_ARRAY); /* [[]] of strings */
    rb_u32(&b, GGUF_TYPE_ARRAY);
    rb_u64(&b, 1);
    rb_u32(&b, GGUF_TYPE_STRING);
    rb_u64(&b, 0);
    he_error err = {0};
    opened o = open_bytes(b.p, b.n, &err);
    cr_assert_not_null(o.f, "%s", err.msg);
    gguf_value v, e;
    cr_assert_eq(gguf_find_arr(o.f, "s", GGUF_TYPE_STRING, &v, &err), 1);
    cr_assert_eq(v.n, 0);
    cr_assert_eq(gguf_value_elem(&v, 0, &e, &err), -1);
    cr_assert_eq(gguf_find_arr(o.f, "a", GGUF_TYPE_ARRAY, &v, &err), 1);
    cr_assert_eq(gguf_value_elem(&v, 0, &e, &err), -1);
    cr_assert_eq(gguf_find_arr(o.f, "n", GGUF_TYPE_ARRAY, &v, &err), 1);
    cr_assert_eq(gguf_value_elem(&v, 0, &e, &err), 0);
    cr_assert_eq(e.elem_type, GGUF_TYPE_STRING);
    cr_assert_eq(e.n, 0);
    cr_assert_eq(gguf_value_elem(&e, 0, &v, &err), -1);
    close_opened(&o);
    rb_free(&b);
}

/* A vocab-only file may end right after its tensor infos, without padding. */
Test(reader, no_tensors_no_padding) {
    rb b = {0};
    rb_header(&b, 3, 0, 1);
    rb_kv(&b, "general.name", GGUF_TYPE_STRING);
    rb_str(&b, "abc");
    he_error err = {0};
    opened o = open_bytes(b.p, b.n, &err);
    cr_assert_not_null(o.f, "%s", err.msg);
    cr_assert_eq(gguf_n_tensors(o.f), 0);
    cr_assert_eq(gguf_data_offset(o.f), 64);
    close_opened(&o);
    rb_free(&b);
}

Test(reader, getter_conversions) {
    rb b = {0};
    rb_header(&b, 3, 0, 7);
    rb_kv(&b, "big", GGUF_TYPE_UINT64);
    rb_u64(&b, UINT64_MAX);
    rb_kv(&b, "neg", GGUF_TYPE_INT8);
    rb_u8(&b, 0xFE);
    rb_kv(&b, "f", GGUF_TYPE_FLOAT32);
    float fv = 0.5f;
    rb_bytes(&b, &fv, 4);
    rb_kv(&b, "t", GGUF_TYPE_BOOL);
    rb_u8(&b, 1);
    rb_kv(&b, "u16", GGUF_TYPE_UINT16);
    rb_bytes(&b, "\x01\x02", 2);
    rb_kv(&b, "i64min", GGUF_TYPE_INT64);
    rb_u64(&b, 1ull << 63);
    rb_kv(&b, "s", GGUF_TYPE_STRING);
    rb_str(&b, "x");
    he_error err = {0};
    opened o = open_bytes(b.p, b.n, &err);
    cr_assert_not_null(o.f, "%s", err.msg);
    gguf_file *f = o.f;
    int64_t i;
    uint64_t u;
    double d;
    bool bo;
    cr_assert_eq(gguf_get_u64(f, gguf_find_key(f, "big"), &u, &err), 0);
    cr_assert_eq(u, UINT64_MAX);
    cr_assert_eq(gguf_get_i64(f, gguf_find_key(f, "big"), &i, &err), -1);
    cr_assert(strstr(err.msg, "key 'big'") && strstr(err.msg, "does not fit"), "%s", err.msg);
    cr_assert_eq(gguf_find_i64(f, "neg", &i, &err), 1);
    cr_assert_eq(i, -2);
    cr_assert_eq(gguf_get_u64(f, gguf_find_key(f, "neg"), &u, &err), -1);
    cr_assert(strstr(err.msg, "non-negative"), "%s", err.msg);
    cr_assert_eq(gguf_find_f64(f, "f", &d, &err), 1);
    cr_assert(d == 0.5);
    cr_assert_eq(gguf_find_f64(f, "neg", &d, &err), 1);
    cr_assert(d == -2.0);
    cr_assert_eq(gguf_find_i64(f, "f", &i, &err), -1);
    cr_assert_eq(gguf_find_bool(f, "t", &bo, &err), 1);
    cr_assert(bo);
    cr_assert_eq(gguf_find_i64(f, "u16", &i, &err), 1);
    cr_assert_eq(i, 0x0201);
    cr_assert_eq(gguf_find_i64(f, "i64min", &i, &err), 1);
    cr_assert_eq(i, INT64_MIN);
    cr_assert_eq(gguf_find_bool(f, "s", &bo, &err), -1);
    cr_assert_eq(gguf_find_arr(f, "s", -1, &(gguf_value){0}, &err), -1);
    cr_assert(strstr(err.msg, "expected an array"), "%s", err.msg);
    cr_assert_eq(gguf_get_i64(f, 99, &i, &err), -1);
    cr_assert_eq(gguf_kv_type(f, 99), GGUF_TYPE_COUNT);
    cr_assert_null(gguf_key(f, -1).ptr);
    close_opened(&o);
    rb_free(&b);
}

/* The count limits (2^20 keys, 2^20 tensors) apply after the bytes-left check, so they need
 * files big enough to hold that many minimal entries. */
Test(malformed, count_limits) {
    size_t n = 40u << 20;
    uint8_t *buf = calloc(1, n);
    cr_assert_not_null(buf);
    rb b = {0};
    rb_header(&b, 3, 0, (1u << 20) + 1);
    memcpy(buf, b.p, b.n);
    he_error err = {0};
    cr_assert_null(gguf_open_buffer(buf, n, &err));
    cr_assert_eq(err.code, HE_LIMIT);
    cr_assert(strstr(err.msg, "key/value count 1048577 exceeds hearth's limit"), "%s", err.msg);
    b.n = 0;
    rb_header(&b, 3, (1u << 20) + 1, 0);
    memcpy(buf, b.p, b.n);
    cr_assert_null(gguf_open_buffer(buf, n, &err));
    cr_assert_eq(err.code, HE_LIMIT);
    cr_assert(strstr(err.msg, "tensor count 1048577 exceeds hearth's limit"), "%s", err.msg);
    rb_free(&b);
    free(buf);
}

/* Fault injection: fail the Nth fallible allocation (each parameter runs in its own process, so
 * HEARTH_FAIL_ALLOC_AT is read fresh). Opening must fail cleanly with HE_NOMEM, leaking nothing
 * (LSan), until N passes the number of allocations the open makes. */
static int alloc_ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 40};
ParameterizedTestParameters(reader, alloc_failure) {
    return cr_make_param_array(int, alloc_ns, sizeof alloc_ns / sizeof alloc_ns[0]);
}
ParameterizedTest(int *n, reader, alloc_failure) {
    char v[16];
    snprintf(v, sizeof v, "%d", *n);
    setenv("HEARTH_FAIL_ALLOC_AT", v, 1);
    rb b = {0};
    tiny_model(&b, 3);
    he_error err = {0};
    gguf_file *f = gguf_open_buffer(b.p, b.n, &err);
    if (*n <= 4) cr_assert_null(f, "allocation %d failed but the open succeeded", *n);
    if (*n >= 40) cr_assert_not_null(f, "%s", err.msg);
    if (!f) {
        cr_assert_eq(err.code, HE_NOMEM, "N=%d: %s", *n, err.msg);
        cr_assert(strncmp(err.msg, "gguf: ", 6) == 0, "%s", err.msg);
    }
    gguf_close(f);
    rb_free(&b);
}

Test(reader, utf8_and_show) {
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"a", 1},        {"\xc3\xa9", 2},     {"\xe2\x82\xac", 3}, {"\xf0\x9f\x98\x80", 4},
        {"\xc0\xaf", 0}, {"\xed\xa0\x80", 0}, {"\xe2\x82", 0},     {"\xf4\x90\x80\x80", 0},
        {"\x80", 0},     {"\xff", 0},         {"\xe0\x80\x80", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(gguf_utf8_len(cases[i].s, strlen(cases[i].s)), cases[i].len, "case %zu", i);
    char buf[80];
    gguf_str s = {"ab\x1b[31m\xc3\xa9\xff", 10};
    cr_assert_str_eq(gguf_str_show(buf, sizeof buf, s, 64), "ab?[31m\xc3\xa9?");
    gguf_str l = {"\xc3\xa9\xc3\xa9\xc3\xa9", 6};
    cr_assert_str_eq(gguf_str_show(buf, sizeof buf, l, 3), "\xc3\xa9...");
    cr_assert_str_eq(gguf_str_show(buf, 8, (gguf_str){"abcdefghij", 10}, 64), "abc...");
}

/* ---- Shared files ---- */

static gguf_file *open_shared(const char *rel, he_error *err) {
    char p[1024];
    return gguf_open(fixture_path(p, sizeof p, rel), err);
}

Test(shared, stories260k) {
    he_error err = {0};
    gguf_file *f = open_shared("models/stories260K.gguf", &err);
    cr_assert_not_null(f, "%s", err.msg);
    gguf_str s;
    int64_t v;
    cr_assert_eq(gguf_find_str(f, "general.architecture", &s, &err), 1);
    cr_assert(gguf_str_eq(s, "llama"));
    cr_assert_eq(gguf_find_i64(f, "llama.block_count", &v, &err), 1);
    cr_assert_eq(v, 5);
    gguf_value a, e;
    cr_assert_eq(gguf_find_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &a, &err), 1);
    cr_assert_eq(a.n, 512);
    cr_assert_eq(gguf_value_elem(&a, 1, &e, &err), 0);
    cr_assert_eq(gguf_value_str(&e, &s, &err), 0);
    cr_assert(gguf_str_eq(s, "<s>"));
    const gguf_tensor *t = gguf_tensor_find(f, "token_embd.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->ne[0], 64);
    cr_assert_eq(t->ne[1], 512);
    cr_assert_eq(gguf_n_tensors(f), 48);
    cr_assert_eq(gguf_data_offset(f) % gguf_alignment(f), 0);
    gguf_close(f);
}

/* gguf_populate maps a file's pages in (the handle stays readable, values unchanged) and refuses
 * a handle that is not a mapping. */
Test(shared, populate) {
    he_error err = {0};
    gguf_file *f = open_shared("models/stories260K.gguf", &err);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_eq(gguf_populate(f), 0, "MADV_POPULATE_READ refused (kernel older than 5.14?)");
    int64_t v;
    cr_assert_eq(gguf_find_i64(f, "llama.block_count", &v, &err), 1);
    cr_assert_eq(v, 5);
    gguf_close(f);
    static const uint8_t empty_v3[24] = {'G', 'G', 'U', 'F', 3};
    gguf_file *b = gguf_open_buffer(empty_v3, sizeof empty_v3, &err);
    cr_assert_not_null(b, "%s", err.msg);
    cr_assert_eq(gguf_populate(b), -1);
    gguf_close(b);
    cr_assert_eq(gguf_populate(NULL), -1);
}

/* Opens every vocab GGUF in dir; with carried set, only those tests/data does not carry (the extra
 * coverage a ../shared beside the clone may give). Returns how many it checked. */
static int check_vocab_dir(const char *dir, const char *carried) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf")) continue;
        char p[1536];
        if (carried) {
            snprintf(p, sizeof p, "%s/%s", carried, e->d_name);
            if (access(p, R_OK) == 0) continue;
        }
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        he_error err = {0};
        gguf_file *f = gguf_open(p, &err);
        cr_assert_not_null(f, "%s: %s", p, err.msg);
        gguf_value a;
        cr_assert_eq(gguf_find_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &a, &err), 1, "%s",
                     p);
        cr_assert_gt(a.n, 1000);
        gguf_str s;
        cr_assert_eq(gguf_find_str(f, "tokenizer.ggml.model", &s, &err), 1, "%s", p);
        gguf_close(f);
        n++;
    }
    closedir(d);
    return n;
}

Test(shared, vocab_files) {
    char dir[1024];
    fixture_path(dir, sizeof dir, "vocab");
    int n = check_vocab_dir(dir, NULL);
    cr_assert_geq(n, 14, "%s: %d vocab files", dir, n);
    /* extra coverage: vocab files only ../shared has */
    char more[1024];
    snprintf(more, sizeof more, "%s/fixtures/vocab", fixtures_shared_dir());
    int m = check_vocab_dir(more, dir);
    if (m > 0) cr_log_info("%s: %d more vocab files", more, m);
}

Test(reader, open_errors, .init = make_tmpdir, .fini = remove_tmpdir) {
    he_error err = {0};
    char p[512];
    snprintf(p, sizeof p, "%s/empty.gguf", tmpdir);
    FILE *fp = fopen(p, "wb");
    fclose(fp);
    cr_assert_null(gguf_open(p, &err));
    cr_assert_eq(err.code, HE_FORMAT);
    cr_assert_str_eq(err.msg, "gguf: empty file (0 bytes)");
    cr_assert_null(gguf_open("/nonexistent/x.gguf", &err));
    cr_assert_eq(err.code, HE_IO);
    cr_assert(strstr(err.msg, "/nonexistent/x.gguf"), "%s", err.msg);
    cr_assert_null(gguf_open("/tmp", &err));
    cr_assert_eq(err.code, HE_IO);
    gguf_close(NULL);
}

/* ---- Writer ---- */

Test(writer, round_trip_every_type, .init = make_tmpdir, .fini = remove_tmpdir) {
    gguf_writer *w = gguf_writer_new();
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -(1ll << 40);
    double f64 = 3.141592653589793;
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "a.u32", 4000000000u);
    gguf_writer_set_i32(w, "a.i32", -5);
    gguf_writer_set_u64(w, "a.u64", UINT64_MAX);
    gguf_writer_set_f32(w, "a.f32", 1.5f);
    gguf_writer_set_bool(w, "a.bool", true);
    gguf_writer_set_val(w, "a.u8", GGUF_TYPE_UINT8, &u8);
    gguf_writer_set_val(w, "a.i8", GGUF_TYPE_INT8, &i8);
    gguf_writer_set_val(w, "a.u16", GGUF_TYPE_UINT16, &u16);
    gguf_writer_set_val(w, "a.i16", GGUF_TYPE_INT16, &i16);
    gguf_writer_set_val(w, "a.i64", GGUF_TYPE_INT64, &i64);
    gguf_writer_set_val(w, "a.f64", GGUF_TYPE_FLOAT64, &f64);
    float fs[3] = {0.25f, -1.0f, 1e30f};
    gguf_writer_set_arr(w, "a.arr_f32", GGUF_TYPE_FLOAT32, fs, 3);
    gguf_writer_set_arr(w, "a.arr_empty", GGUF_TYPE_INT32, NULL, 0);
    const char *strs[] = {"<unk>", "", "héllo wörld", "\n"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, 4);
    gguf_writer_set_str(w, "a.replace", "first");
    gguf_writer_set_u32(w, "a.last", 7);
    gguf_writer_set_str(w, "a.replace", "second, longer"); /* replaces in place */
    gguf_writer_set_alignment(w, 64);

    /* Nested arrays come from a read file through copy_kv. */
    rb b = {0};
    tiny_model(&b, 3);
    he_error err = {0};
    opened src = open_bytes(b.p, b.n, &err);
    cr_assert_not_null(src.f, "%s", err.msg);
    gguf_writer_copy_kv(w, src.f, gguf_find_key(src.f, "x.nested"));

    /* Tensors of several types and odd sizes (data patterns, not zeros). */
    static uint8_t d_f32[4 * 7 * 3], d_f16[2 * 5], d_q4[18 * 2 * 2], d_q8[34], d_q4k[144];
    uint8_t *datas[] = {d_f32, d_f16, d_q4, d_q8, d_q4k};
    size_t sizes[] = {sizeof d_f32, sizeof d_f16, sizeof d_q4, sizeof d_q8, sizeof d_q4k};
    for (int k = 0; k < 5; k++)
        for (size_t j = 0; j < sizes[k]; j++)
            datas[k][j] = (uint8_t)(j * 31 + (size_t)k * 7 + 3);
    struct {
        const char *name;
        uint32_t type, n_dims;
        int64_t ne[4];
    } ts[] = {
        {"t.f32", TENSOR_TYPE_F32, 2, {7, 3}},       {"t.f16", TENSOR_TYPE_F16, 1, {5}},
        {"t.q4_0", TENSOR_TYPE_Q4_0, 3, {64, 1, 2}}, {"t.q8_0", TENSOR_TYPE_Q8_0, 4, {32, 1, 1, 1}},
        {"t.q4_K", TENSOR_TYPE_Q4_K, 1, {256}},
    };
    for (int k = 0; k < 5; k++)
        cr_assert_eq(gguf_writer_add_tensor(w, ts[k].name, ts[k].type, ts[k].n_dims, ts[k].ne,
                                            datas[k], &err),
                     0, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/out.gguf", tmpdir);
    cr_assert_eq(gguf_writer_write(w, path, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    cr_assert_eq(count_dir_entries(), 1, "temporary file left behind");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);

    gguf_file *f = gguf_open(path, &err);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_eq(gguf_version(f), 3);
    cr_assert_eq(gguf_alignment(f), 64);
    cr_assert_eq(gguf_data_offset(f) % 64, 0);
    const char *order[] = {"general.architecture",
                           "a.u32",
                           "a.i32",
                           "a.u64",
                           "a.f32",
                           "a.bool",
                           "a.u8",
                           "a.i8",
                           "a.u16",
                           "a.i16",
                           "a.i64",
                           "a.f64",
                           "a.arr_f32",
                           "a.arr_empty",
                           "tokenizer.ggml.tokens",
                           "a.replace",
                           "a.last",
                           "general.alignment",
                           "x.nested"};
    int nk = (int)(sizeof order / sizeof order[0]);
    cr_assert_eq(gguf_n_kv(f), nk);
    for (int k = 0; k < nk; k++)
        cr_assert(gguf_str_eq(gguf_key(f, k), order[k]), "key %d", k);

    int64_t iv;
    uint64_t uv;
    double dv;
    bool bv;
    gguf_str sv;
    cr_assert_eq(gguf_find_str(f, "general.architecture", &sv, &err), 1);
    cr_assert(gguf_str_eq(sv, "llama"));
    cr_assert_eq(gguf_find_i64(f, "a.u32", &iv, &err), 1);
    cr_assert_eq(iv, 4000000000ll);
    cr_assert_eq(gguf_kv_type(f, 1), GGUF_TYPE_UINT32);
    cr_assert_eq(gguf_find_i64(f, "a.i32", &iv, &err), 1);
    cr_assert_eq(iv, -5);
    cr_assert_eq(gguf_get_u64(f, gguf_find_key(f, "a.u64"), &uv, &err), 0);
    cr_assert_eq(uv, UINT64_MAX);
    cr_assert_eq(gguf_find_f64(f, "a.f32", &dv, &err), 1);
    cr_assert(dv == 1.5);
    cr_assert_eq(gguf_find_bool(f, "a.bool", &bv, &err), 1);
    cr_assert(bv);
    cr_assert_eq(gguf_find_i64(f, "a.u8", &iv, &err), 1);
    cr_assert_eq(iv, 200);
    cr_assert_eq(gguf_find_i64(f, "a.i8", &iv, &err), 1);
    cr_assert_eq(iv, -100);
    cr_assert_eq(gguf_find_i64(f, "a.u16", &iv, &err), 1);
    cr_assert_eq(iv, 60000);
    cr_assert_eq(gguf_find_i64(f, "a.i16", &iv, &err), 1);
    cr_assert_eq(iv, -30000);
    cr_assert_eq(gguf_find_i64(f, "a.i64", &iv, &err), 1);
    cr_assert_eq(iv, i64);
    cr_assert_eq(gguf_find_f64(f, "a.f64", &dv, &err), 1);
    cr_assert(dv == f64);
    for (int k = 0; k < nk; k++) {
        static const gguf_type types[] = {GGUF_TYPE_STRING, GGUF_TYPE_UINT32,  GGUF_TYPE_INT32,
                                          GGUF_TYPE_UINT64, GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL,
                                          GGUF_TYPE_UINT8,  GGUF_TYPE_INT8,    GGUF_TYPE_UINT16,
                                          GGUF_TYPE_INT16,  GGUF_TYPE_INT64,   GGUF_TYPE_FLOAT64};
        if (k < 12) cr_assert_eq(gguf_kv_type(f, k), types[k], "key %d", k);
    }
    gguf_value a, e, e2;
    cr_assert_eq(gguf_find_arr(f, "a.arr_f32", GGUF_TYPE_FLOAT32, &a, &err), 1);
    cr_assert_eq(a.n, 3);
    for (uint64_t j = 0; j < 3; j++) {
        cr_assert_eq(gguf_value_elem(&a, j, &e, &err), 0);
        cr_assert_eq(gguf_value_f64(&e, &dv, &err), 0);
        cr_assert(dv == (double)fs[j]);
    }
    cr_assert_eq(gguf_find_arr(f, "a.arr_empty", GGUF_TYPE_INT32, &a, &err), 1);
    cr_assert_eq(a.n, 0);
    cr_assert_eq(gguf_find_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &a, &err), 1);
    cr_assert_eq(a.n, 4);
    for (uint64_t j = 0; j < 4; j++) {
        cr_assert_eq(gguf_value_elem(&a, j, &e, &err), 0);
        cr_assert_eq(gguf_value_str(&e, &sv, &err), 0);
        cr_assert(gguf_str_eq(sv, strs[j]));
    }
    cr_assert_eq(gguf_find_str(f, "a.replace", &sv, &err), 1);
    cr_assert(gguf_str_eq(sv, "second, longer"));
    cr_assert_eq(gguf_find_arr(f, "x.nested", GGUF_TYPE_ARRAY, &a, &err), 1);
    cr_assert_eq(gguf_value_elem(&a, 1, &e, &err), 0);
    cr_assert_eq(gguf_value_elem(&e, 0, &e2, &err), 0);
    cr_assert_eq(gguf_value_str(&e2, &sv, &err), 0);
    cr_assert(gguf_str_eq(sv, "a"));
    /* The copied value is byte-identical to the source's. */
    gguf_value sa;
    cr_assert_eq(gguf_find_arr(src.f, "x.nested", GGUF_TYPE_ARRAY, &sa, &err), 1);
    cr_assert_eq(memcmp(sa.raw, a.raw, 12 + 12 + 2 + 12 + 9), 0);

    cr_assert_eq(gguf_n_tensors(f), 5);
    for (int k = 0; k < 5; k++) {
        const gguf_tensor *t = gguf_tensor_find(f, ts[k].name);
        cr_assert_not_null(t, "%s", ts[k].name);
        cr_assert_eq(t, gguf_tensor_at(f, k));
        cr_assert_eq(t->type, ts[k].type);
        cr_assert_eq(t->n_dims, ts[k].n_dims);
        for (uint32_t dd = 0; dd < 4; dd++)
            cr_assert_eq(t->ne[dd], dd < ts[k].n_dims ? ts[k].ne[dd] : 1);
        cr_assert_eq(t->nbytes, sizes[k]);
        cr_assert_eq(t->offset % 64, 0);
        cr_assert_eq(memcmp(t->data, datas[k], sizes[k]), 0, "%s data", ts[k].name);
    }
    gguf_close(f);

    /* The same file as version 2 (identical layout) reads the same. */
    FILE *fp = fopen(path, "r+b");
    cr_assert_not_null(fp);
    fseek(fp, 4, SEEK_SET);
    uint32_t two = 2;
    fwrite(&two, 4, 1, fp);
    fclose(fp);
    f = gguf_open(path, &err);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_eq(gguf_version(f), 2);
    cr_assert_eq(gguf_n_kv(f), nk);
    cr_assert_eq(memcmp(gguf_tensor_find(f, "t.q4_K")->data, d_q4k, sizeof d_q4k), 0);
    gguf_close(f);
    close_opened(&src);
    rb_free(&b);
}

/* Copying every kv and tensor of stories260K reproduces the file byte for byte. */
Test(writer, copy_reproduces_stories260k, .init = make_tmpdir, .fini = remove_tmpdir) {
    he_error err = {0};
    gguf_file *f = open_shared("models/stories260K.gguf", &err);
    cr_assert_not_null(f, "%s", err.msg);
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        gguf_writer_copy_kv(w, f, i);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        cr_assert_eq(gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, &err), 0);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/copy.gguf", tmpdir);
    cr_assert_eq(gguf_writer_write(w, path, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    gguf_file *g = gguf_open(path, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(gguf_file_size(g), gguf_file_size(f));
    gguf_close(g);
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = malloc(gguf_file_size(f));
    cr_assert_eq(fread(buf, 1, gguf_file_size(f), fp), gguf_file_size(f));
    fclose(fp);
    const uint8_t *orig = gguf_tensor_at(f, 0)->data;
    orig -= gguf_data_offset(f);
    cr_assert_eq(memcmp(buf, orig, gguf_file_size(f)), 0);
    free(buf);
    gguf_close(f);
}

static void misuse_empty_key(gguf_writer *w) { gguf_writer_set_u32(w, "", 1); }
static void misuse_set_val_string(gguf_writer *w) {
    uint64_t x = 0;
    gguf_writer_set_val(w, "v", GGUF_TYPE_STRING, &x);
}
static void misuse_copy_kv_range(gguf_writer *w) {
    rb b = {0};
    tiny_model(&b, 3);
    gguf_file *f = gguf_open_buffer(b.p, b.n, NULL);
    cr_assert_not_null(f);
    gguf_writer_copy_kv(w, f, 6);
    gguf_close(f);
    rb_free(&b);
}

Test(writer, errors, .init = make_tmpdir, .fini = remove_tmpdir) {
    he_error err = {0};
    gguf_writer *w = gguf_writer_new();
    int64_t ne[4] = {32, 2};
    static uint8_t data[4096];
    char longname[80];
    memset(longname, 'x', 64);
    longname[64] = 0;
    cr_assert_eq(gguf_writer_add_tensor(w, longname, TENSOR_TYPE_F32, 1, ne, data, &err), -1);
    cr_assert(strstr(err.msg, "1..63 bytes"), "%s", err.msg);
    cr_assert_eq(gguf_writer_add_tensor(w, "t", TENSOR_TYPE_F32, 5, ne, data, &err), -1);
    cr_assert_eq(gguf_writer_add_tensor(w, "t", 4, 1, ne, data, &err), -1);
    cr_assert(strstr(err.msg, "unknown type id 4"), "%s", err.msg);
    int64_t bad[1] = {33};
    cr_assert_eq(gguf_writer_add_tensor(w, "t", TENSOR_TYPE_Q8_0, 1, bad, data, &err), -1);
    cr_assert(strstr(err.msg, "block size"), "%s", err.msg);
    cr_assert_eq(gguf_writer_add_tensor(w, "t", TENSOR_TYPE_F32, 2, ne, data, &err), 0);
    cr_assert_eq(gguf_writer_add_tensor(w, "t", TENSOR_TYPE_F32, 2, ne, data, &err), -1);
    cr_assert(strstr(err.msg, "added twice"), "%s", err.msg);

    char path[512];
    snprintf(path, sizeof path, "%s/nodir/out.gguf", tmpdir);
    cr_assert_eq(gguf_writer_write(w, path, &err), -1);
    cr_assert_eq(err.code, HE_IO);

    gguf_writer_set_arr(w, "k", GGUF_TYPE_STRING, NULL, 0); /* misuse: reported at write */
    snprintf(path, sizeof path, "%s/out.gguf", tmpdir);
    cr_assert_eq(gguf_writer_write(w, path, &err), -1);
    cr_assert(strstr(err.msg, "key 'k'"), "%s", err.msg);
    cr_assert_eq(count_dir_entries(), 0);
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_writer_set_alignment(w, 3);
    cr_assert_eq(gguf_writer_write(w, path, &err), -1);
    cr_assert(strstr(err.msg, "power of two"), "%s", err.msg);
    gguf_writer_free(w);
    gguf_writer_free(NULL);

    /* general.alignment set by hand with the wrong type. */
    w = gguf_writer_new();
    gguf_writer_set_u64(w, "general.alignment", 32);
    cr_assert_eq(gguf_writer_write(w, path, &err), -1);
    cr_assert(strstr(err.msg, "general.alignment must be a u32"), "%s", err.msg);
    gguf_writer_free(w);

    /* Each misuse of a void setter is reported by the write, naming the first one. */
    struct {
        void (*misuse)(gguf_writer *);
        const char *msg;
    } misuses[] = {
        {misuse_empty_key, "empty key"},
        {misuse_set_val_string, "key 'v': gguf_writer_set_val needs a fixed-size scalar type"},
        {misuse_copy_kv_range, "key index out of range"},
    };
    for (size_t i = 0; i < sizeof misuses / sizeof misuses[0]; i++) {
        w = gguf_writer_new();
        misuses[i].misuse(w);
        gguf_writer_set_u32(w, "fine", 1);
        cr_assert_eq(gguf_writer_write(w, path, &err), -1);
        cr_assert(strstr(err.msg, misuses[i].msg), "%s", err.msg);
        gguf_writer_free(w);
    }

    w = gguf_writer_new();
    int64_t neg[2] = {32, -1};
    cr_assert_eq(gguf_writer_add_tensor(w, "n", TENSOR_TYPE_F32, 2, neg, data, &err), -1);
    cr_assert(strstr(err.msg, "bad ne[1] = -1"), "%s", err.msg);
    int64_t huge[2] = {1ll << 40, 1ll << 22};
    cr_assert_eq(gguf_writer_add_tensor(w, "h", TENSOR_TYPE_F32, 2, huge, data, &err), -1);
    cr_assert(strstr(err.msg, "byte size overflows"), "%s", err.msg);
    cr_assert_eq(gguf_writer_add_tensor(w, "d", TENSOR_TYPE_F32, 1, ne, NULL, &err), -1);
    cr_assert(strstr(err.msg, "no data"), "%s", err.msg);
    int64_t zero[1] = {0};
    cr_assert_eq(gguf_writer_add_tensor(w, "z", TENSOR_TYPE_F32, 1, zero, NULL, &err), 0);

    /* The rename fails (path is a directory): an I/O error, and no temporary file is left. */
    char dirpath[512];
    snprintf(dirpath, sizeof dirpath, "%s/isdir", tmpdir);
    cr_assert_eq(mkdir(dirpath, 0755), 0);
    cr_assert_eq(gguf_writer_write(w, dirpath, &err), -1);
    cr_assert_eq(err.code, HE_IO);
    cr_assert(strstr(err.msg, "renaming"), "%s", err.msg);
    cr_assert_eq(count_dir_entries(), 1);
    rmdir(dirpath);
    gguf_writer_free(w);
}

/* ---- Fuzz seed corpus (written only on request) ---- */

static void corpus_file(const char *dir, const char *name, const uint8_t *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp, "%s", path);
    fwrite(p, 1, n, fp);
    fclose(fp);
}

Test(corpus, write_seeds) {
    const char *dir = getenv("HEARTH_GGUF_CORPUS_OUT");
    if (!dir) cr_skip_test("set HEARTH_GGUF_CORPUS_OUT=DIR to write the fuzz seed corpus");
    rb b = {0};
    tiny_model(&b, 3);
    corpus_file(dir, "valid-tiny-v3.gguf", b.p, b.n);
    b.p[4] = 2;
    corpus_file(dir, "valid-tiny-v2.gguf", b.p, b.n);
    corpus_file(dir, "truncated-tiny.gguf", b.p, b.n / 2);
    rb_free(&b);

    /* One made by the writer: several value types and three tensor types. */
    char tmpl[] = "/tmp/hearth_seed.XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    char path[512];
    snprintf(path, sizeof path, "%s/w.gguf", tmpl);
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 1);
    gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);
    float scores[5] = {0, 0, 0, -1, -2};
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 5);
    static uint8_t data[512];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    he_error err = {0};
    int64_t ne1[2] = {4, 5}, ne2[2] = {32, 2}, ne3[1] = {32};
    cr_assert_eq(
        gguf_writer_add_tensor(w, "token_embd.weight", TENSOR_TYPE_F32, 2, ne1, data, &err), 0);
    cr_assert_eq(
        gguf_writer_add_tensor(w, "blk.0.attn_q.weight", TENSOR_TYPE_Q4_0, 2, ne2, data, &err), 0);
    cr_assert_eq(gguf_writer_add_tensor(w, "output.weight", TENSOR_TYPE_Q8_0, 1, ne3, data, &err),
                 0);
    cr_assert_eq(gguf_writer_write(w, path, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    FILE *fp = fopen(path, "rb");
    uint8_t fb[4096];
    size_t fn = fread(fb, 1, sizeof fb, fp);
    fclose(fp);
    unlink(path);
    rmdir(tmpl);
    corpus_file(dir, "valid-writer.gguf", fb, fn);

    b = (rb){0};
    nest(&b, 8);
    corpus_file(dir, "valid-nested-8.gguf", b.p, b.n);
    rb_free(&b);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        b = (rb){0};
        bad_cases[i].build(&b);
        char name[96];
        snprintf(name, sizeof name, "bad-%s.gguf", bad_cases[i].id);
        for (char *c = name; *c; c++)
            if (*c == ' ' || *c == '/' || *c == '^' || *c == '%' || *c == '[' || *c == ']')
                *c = '_';
        corpus_file(dir, name, b.p, b.n);
        rb_free(&b);
    }
}

/* ---- Populating a mapped file in 2 MiB pages ---- */

/* a 72 MiB model-like file (one f32 tensor of pseudo-random bytes) written to path with
 * write() calls of `piece` bytes: small pieces leave its page cache in small folios */
static void write_in_pieces(const char *path, const rb *b, size_t piece) {
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    setvbuf(fp, NULL, _IONBF, 0);
    for (size_t o = 0; o < b->n; o += piece)
        cr_assert_eq(fwrite(b->p + o, 1, b->n - o < piece ? b->n - o : piece, fp),
                     b->n - o < piece ? b->n - o : piece);
    cr_assert_eq(fclose(fp), 0);
}

/* share of path mapped in 2 MiB pages after gguf_populate; the tensor's bytes checked */
static double populated_huge_share(const char *path, const rb *b, size_t data_at) {
    he_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    cr_assert_not_null(f, "%s", err.msg);
    cr_assert_eq(gguf_populate(f), 0);
    const long long huge = gguf_huge_mapped(f);
    const gguf_tensor *t = gguf_tensor_find(f, "w");
    cr_assert_not_null(t);
    cr_assert_eq(memcmp(t->data, b->p + data_at, (size_t)t->nbytes), 0, "bytes changed by the re-read");
    gguf_close(f);
    return huge < 0 ? -1.0 : (double)huge / (double)b->n;
}

/* A file whose page cache is in small folios (4 KiB writes) is read back in 2 MiB ones by
 * gguf_populate, so that it maps in 2 MiB pages (decode speed depends on it: gguf_open). Where
 * the kernel maps no file in 2 MiB pages, not even one written in 4 MiB pieces (no THP, or a
 * file system without large folios), there is nothing to check. */
Test(populate, small_folios_are_read_back_huge) {
    make_tmpdir();
    rb b = {0};
    const int64_t n = 18 << 20; /* f32: 72 MiB */
    tspec t = {"w", 1, {n}, TENSOR_TYPE_F32, 0};
    rb_header(&b, 3, 1, 0);
    rb_tensor(&b, &t);
    rb_pad(&b, 32);
    const size_t data_at = b.n;
    uint8_t chunk[4096];
    uint32_t x = 12345;
    for (int64_t o = 0; o < n * 4; o += (int64_t)sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++) {
            x = x * 1664525u + 1013904223u;
            chunk[i] = (uint8_t)(x >> 24);
        }
        rb_bytes(&b, chunk, sizeof chunk);
    }
    char small[300], big[300];
    snprintf(small, sizeof small, "%s/small.gguf", tmpdir);
    snprintf(big, sizeof big, "%s/big.gguf", tmpdir);
    write_in_pieces(small, &b, 4096);
    const double share = populated_huge_share(small, &b, data_at);
    if (share < 0.5) {
        write_in_pieces(big, &b, (size_t)4 << 20);
        const double big_share = populated_huge_share(big, &b, data_at);
        remove_tmpdir();
        rb_free(&b);
        if (big_share < 0.5) cr_skip_test("this kernel maps no file in 2 MiB pages (%.2f)", big_share);
        cr_assert_fail("small-folio file: %.2f in 2 MiB pages, one written in 4 MiB pieces: %.2f",
                       share, big_share);
    }
    remove_tmpdir();
    rb_free(&b);
}
