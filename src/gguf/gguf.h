/* gguf.h — reading and writing GGUF files (versions 2 and 3).
 *
 * File layout (little-endian):
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv × { string key | u32 type | value }        string = u64 len + bytes (no NUL)
 *   n_tensors × { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset }
 *   padding to general.alignment (default 32) | tensor data (offsets relative to its start)
 *
 * The reader memory-maps the file and checks every count, length, dimension, type id, offset and
 * byte size against the file size with overflow-safe arithmetic before use; a malformed file
 * gets an error naming what is wrong and where (key or tensor name, byte offset). Values and
 * tensor data are borrowed pointers into the mapping, valid until gguf_close.
 * Multi-byte values inside the mapping may be unaligned: read them with the getters.
 * Limits (docs/GGUF.md): arrays nest at most 8 deep, tensor names are at most 63 bytes,
 * general.alignment is a u32 power of two <= 16 MiB, at most 2^20 keys and 2^20 tensors. */
#ifndef HEARTH_GGUF_H
#define HEARTH_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_file gguf_file;

/* Encoded size of a fixed-size value type; 0 for STRING, ARRAY and unknown ids. */
size_t gguf_type_size(gguf_type t);
/* "u32", "string", "array", ...; "?" for an unknown id. */
const char *gguf_type_name(gguf_type t);

typedef struct {
    const char *ptr; /* borrowed, NOT NUL-terminated */
    uint64_t len;
} gguf_str;

/* True when s holds exactly the bytes of the C string cstr. */
bool gguf_str_eq(gguf_str s, const char *cstr);
/* Length (1..4) of the valid UTF-8 sequence at p (n bytes available), or 0 if invalid. */
size_t gguf_utf8_len(const char *p, size_t n);
/* A display copy of s for messages: at most max bytes (whole UTF-8 sequences), control bytes and
 * invalid UTF-8 as '?', "..." appended when cut. Returns buf (cap >= 8). */
const char *gguf_str_show(char *buf, size_t cap, gguf_str s, size_t max);

typedef struct {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length (contiguous); unused dims are 1 */
    uint32_t type;             /* tensor_type id */
    uint64_t offset;           /* relative to the data section */
    uint64_t nbytes;
    const void *data; /* borrowed pointer into the mapping */
} gguf_tensor;

/* ---- Opening ---- */

/* Maps and validates path. Returns NULL with err filled on any problem. */
gguf_file *gguf_open(const char *path, he_error *err);
/* Validates an in-memory buffer (borrowed: must outlive the handle). For fuzzing and tests. */
gguf_file *gguf_open_buffer(const void *buf, size_t len, he_error *err);
void gguf_close(gguf_file *f); /* NULL is a no-op */
/* Maps every page of a mapped file into the process now (madvise MADV_POPULATE_READ; Linux
 * 5.14+), reading it into the page cache where it is not (and reading it again, once, where
 * less than half of a file of 64 MiB or more maps in 2 MiB pages: its page cache was in small
 * folios), then reads one byte of each page (a
 * hypervisor with shadow page tables traps each page's first access even when mapped): the
 * first forward passes then take no page faults or traps (a MoE model otherwise pays them on
 * each expert's first use). Returns 0, or -1 when the handle is not a mapping or the kernel
 * refused the madvise (the mapping stays usable either way, and its pages were still read). */
int gguf_populate(const gguf_file *f);
/* Bytes of a mapped file this process maps in 2 MiB pages (FilePmdMapped of its mapping in
 * /proc/self/smaps), or -1 when not a mapping or unknown. */
long long gguf_huge_mapped(const gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f); /* file offset of the tensor data section */
size_t gguf_file_size(const gguf_file *f);

/* ---- Metadata ---- */

int64_t gguf_n_kv(const gguf_file *f);
int64_t gguf_find_key(const gguf_file *f, const char *key); /* index, or -1 */
gguf_str gguf_key(const gguf_file *f, int64_t i);
gguf_type gguf_kv_type(const gguf_file *f, int64_t i);

/* Scalar getters by index. Integer getters accept any integer (and bool) type and fail (-1,
 * err filled, naming the key) when the stored value does not fit; float getters accept
 * float32/float64 and integers. gguf_get_str requires a string. */
int gguf_get_i64(const gguf_file *f, int64_t i, int64_t *out, he_error *err);
int gguf_get_u64(const gguf_file *f, int64_t i, uint64_t *out, he_error *err);
int gguf_get_f64(const gguf_file *f, int64_t i, double *out, he_error *err);
int gguf_get_bool(const gguf_file *f, int64_t i, bool *out, he_error *err);
int gguf_get_str(const gguf_file *f, int64_t i, gguf_str *out, he_error *err);

/* Arrays by index (the kv must be an array). Nested arrays are supported: a kv value is a tree
 * and gguf_value handles address any node. */
typedef struct {
    const gguf_file *f;
    gguf_type type;      /* of this node */
    const uint8_t *raw;  /* start of the encoded value in the mapping */
    uint64_t n;          /* for arrays: element count */
    gguf_type elem_type; /* for arrays: element type */
    const void *aux;     /* internal */
} gguf_value;

int gguf_get_value(const gguf_file *f, int64_t i, gguf_value *out);
/* Element j of an array value (any element type, including strings and arrays). O(1). */
int gguf_value_elem(const gguf_value *arr, uint64_t j, gguf_value *out, he_error *err);
/* Scalar reads of a value node, with the same conversions as the getters above. */
int gguf_value_i64(const gguf_value *v, int64_t *out, he_error *err);
int gguf_value_f64(const gguf_value *v, double *out, he_error *err);
int gguf_value_bool(const gguf_value *v, bool *out, he_error *err);
int gguf_value_str(const gguf_value *v, gguf_str *out, he_error *err);

/* Convenience by key name: returns 1 if found and read, 0 if absent, -1 on a type/range error. */
int gguf_find_i64(const gguf_file *f, const char *key, int64_t *out, he_error *err);
int gguf_find_f64(const gguf_file *f, const char *key, double *out, he_error *err);
int gguf_find_bool(const gguf_file *f, const char *key, bool *out, he_error *err);
int gguf_find_str(const gguf_file *f, const char *key, gguf_str *out, he_error *err);
/* Array by key: 1 found (out filled), 0 absent, -1 not an array or wrong element type
 * (elem_type < 0 accepts any). */
int gguf_find_arr(const gguf_file *f, const char *key, int elem_type, gguf_value *out,
                  he_error *err);

/* ---- Tensors ---- */

int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i);
const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name); /* NULL if absent */

/* ---- Writing ----
 * Collect key/values and tensors, then write the file crash-safely (temporary file, fsync,
 * rename). Tensor data is borrowed until gguf_writer_write returns. Keys keep insertion order;
 * setting an existing key replaces its value in place. The void setters record the first misuse
 * (empty key, non-scalar type for set_val/set_arr, bad alignment) and gguf_writer_write reports
 * it. gguf_writer_set_alignment sets general.alignment (power of two, <= 16 MiB); tensor data
 * is padded to it. Tensor names are 1..63 bytes (ggml's limit). */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
/* Any fixed-size scalar type (not STRING/ARRAY: gguf_writer_write then fails); v points to a
 * value of that type in host (little-endian) order. Covers u8/i8/u16/i16/i64/f64. */
void gguf_writer_set_val(gguf_writer *w, const char *key, gguf_type type, const void *v);
/* Array of fixed-size scalars (type not STRING/ARRAY); data is copied. */
void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type type, const void *data,
                         uint64_t n);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* Copies kv i of src verbatim (any type, nested arrays included). */
void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, int64_t i);
/* Adds a tensor; data (nbytes = tensor_row_size(type, ne[0]) * rows) is borrowed. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, const void *data, he_error *err);
int gguf_writer_write(gguf_writer *w, const char *path, he_error *err);

#endif
