/* gguf_internal.h — the reader's in-memory index of a validated GGUF file, shared by the reader
 * (gguf.c) and the writer (gguf_write.c, which copies encoded values verbatim). Not for use
 * outside src/gguf/. */
#ifndef HEARTH_GGUF_INTERNAL_H
#define HEARTH_GGUF_INTERNAL_H

#include <stdint.h>

#include "gguf/gguf.h"

/* Limits enforced while reading (see docs/GGUF.md for why). */
#define GGUF_MAX_ARRAY_DEPTH 8        /* array of array of ... nesting */
#define GGUF_MAX_TENSOR_NAME 63       /* bytes; ggml's GGML_MAX_NAME (64) including the NUL */
#define GGUF_MAX_ALIGNMENT (1u << 24) /* 16 MiB: far beyond any page or huge-page size */
#define GGUF_MAX_KV (1u << 20)        /* real files have ~50 keys */
#define GGUF_MAX_TENSORS (1u << 20)   /* the largest MoE models have tens of thousands */

/* Aux tables live in one uint64_t arena, addressed by index because it grows while parsing.
 * An array of strings has n entries: the file offset of element j. An array of arrays has 2n:
 * the file offset of element j, then the arena index of its own table (GGUF_NO_AUX if none). */
#define GGUF_NO_AUX UINT64_MAX

typedef struct {
    gguf_str key;
    gguf_type type;
    uint64_t val_off;  /* file offset of the encoded value */
    uint64_t val_size; /* encoded size of the value in bytes */
    uint64_t n;        /* arrays: element count */
    gguf_type elem_type;
    uint64_t aux; /* arrays of strings/arrays: arena index of the offsets table, else GGUF_NO_AUX */
} gguf_kv;

struct gguf_file {
    const uint8_t *base; /* the mapping or borrowed buffer */
    size_t size;
    int mapped; /* base was mmap()ed by gguf_open and is unmapped by gguf_close */
    int fd;     /* gguf_open's file (gguf_populate may drop its page cache), or -1 */
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;

    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    gguf_tensor *tensors;

    uint64_t *arena; /* aux tables */
    uint64_t arena_len, arena_cap;

    /* Open-addressing hash sets holding index+1 (0 = empty); size is a power of two. */
    uint32_t *kv_hash;
    uint64_t kv_hash_size;
    uint32_t *tensor_hash;
    uint64_t tensor_hash_size;
};

#endif
