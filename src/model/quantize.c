/* quantize.c — choosing each tensor's type, converting rows in parallel, staging the results
 * in a spill file, and the whole-file `hearth quantize`. See quantize.h for the rules. */
#include "model/quantize.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/alloc.h"

/* ---- File types ---- */

static const struct {
    const char *name;
    quant_ftype ftype;
    tensor_type base;
} ftypes[] = {
    {"F32", QUANT_FTYPE_ALL_F32, TENSOR_TYPE_F32},
    {"F16", QUANT_FTYPE_MOSTLY_F16, TENSOR_TYPE_F16},
    {"BF16", QUANT_FTYPE_MOSTLY_BF16, TENSOR_TYPE_BF16},
    {"Q8_0", QUANT_FTYPE_MOSTLY_Q8_0, TENSOR_TYPE_Q8_0},
    {"Q4_0", QUANT_FTYPE_MOSTLY_Q4_0, TENSOR_TYPE_Q4_0},
    {"Q4_1", QUANT_FTYPE_MOSTLY_Q4_1, TENSOR_TYPE_Q4_1},
    {"Q5_0", QUANT_FTYPE_MOSTLY_Q5_0, TENSOR_TYPE_Q5_0},
    {"Q5_1", QUANT_FTYPE_MOSTLY_Q5_1, TENSOR_TYPE_Q5_1},
    {"Q4_K", QUANT_FTYPE_MOSTLY_Q4_K_S, TENSOR_TYPE_Q4_K},
    {"Q5_K", QUANT_FTYPE_MOSTLY_Q5_K_S, TENSOR_TYPE_Q5_K},
    {"Q6_K", QUANT_FTYPE_MOSTLY_Q6_K, TENSOR_TYPE_Q6_K},
    {"Q4_K_M", QUANT_FTYPE_MOSTLY_Q4_K_M, TENSOR_TYPE_Q4_K},
    {"Q5_K_M", QUANT_FTYPE_MOSTLY_Q5_K_M, TENSOR_TYPE_Q5_K},
    {"IQ4_NL", QUANT_FTYPE_MOSTLY_IQ4_NL, TENSOR_TYPE_IQ4_NL},
    {"IQ4_XS", QUANT_FTYPE_MOSTLY_IQ4_XS, TENSOR_TYPE_IQ4_XS},
    {"IQ3_S", QUANT_FTYPE_MOSTLY_IQ3_S, TENSOR_TYPE_IQ3_S},
    {"TQ1_0", QUANT_FTYPE_MOSTLY_TQ1_0, TENSOR_TYPE_TQ1_0},
    {"TQ2_0", QUANT_FTYPE_MOSTLY_TQ2_0, TENSOR_TYPE_TQ2_0},
    {"MXFP4", QUANT_FTYPE_MOSTLY_MXFP4, TENSOR_TYPE_MXFP4},
    /* aliases last, so quant_ftype_name finds the canonical name first */
    {"Q4_K_S", QUANT_FTYPE_MOSTLY_Q4_K_S, TENSOR_TYPE_Q4_K},
    {"Q5_K_S", QUANT_FTYPE_MOSTLY_Q5_K_S, TENSOR_TYPE_Q5_K},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

/* Types hearth reads and runs but does not write: llama-quantize makes them only from an
 * importance matrix (llama-imatrix), which hearth quantize does not take. */
static const char *const imatrix_only[] = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS",
                                           "IQ3_XS",  "IQ3_M",  "IQ1_S", "IQ1_M"};

int quant_ftype_from_name(const char *name, quant_ftype *out, he_error *err) {
    for (size_t i = 0; name && i < N_FTYPES; i++)
        if (!strcasecmp(name, ftypes[i].name)) {
            *out = ftypes[i].ftype;
            return 0;
        }
    for (size_t i = 0; name && i < sizeof imatrix_only / sizeof imatrix_only[0]; i++)
        if (!strcasecmp(name, imatrix_only[i]))
            return he_fail(err, HE_INVALID,
                           "type '%s' needs an importance matrix, which hearth quantize does not "
                           "take: make the file with llama.cpp's llama-imatrix and llama-quantize "
                           "--imatrix (hearth loads and runs it)",
                           name);
    return he_fail(err, HE_INVALID,
                   "unknown type '%s' (expected one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, "
                   "q5_1, q4_k, q5_k, "
                   "q6_k, q4_k_m, q5_k_m, iq4_nl, iq4_xs, iq3_s, tq1_0, tq2_0, mxfp4)",
                   name ? name : "(null)");
}

const char *quant_ftype_name(quant_ftype ftype) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].name;
    return "?";
}

tensor_type quant_ftype_base(quant_ftype ftype) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].base;
    return TENSOR_TYPE_F32;
}

/* ---- Per-tensor type choice ---- */

int quant_use_more_bits(int32_t i, int32_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Layer index of "blk.N.<...>", or -1. */
static int32_t layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end;
    long v = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || v < 0 || v > INT32_MAX) return -1;
    return (int32_t)v;
}

static int fits(tensor_type t, int64_t ne0) { return tensor_row_size(t, ne0) != 0; }

tensor_type quant_choose_type(quant_ftype ftype, const char *name, uint32_t n_dims,
                              const int64_t *ne, int32_t n_layer, bool moe) {
    if (n_dims < 2) return TENSOR_TYPE_F32;
    /* MoE routers stay F32 as llama.cpp keeps them: small, and expert choice is sensitive */
    if (ends_with(name, ".ffn_gate_inp.weight")) return TENSOR_TYPE_F32;
    /* biases stay F32 (gpt-oss's per-expert biases are 2-D: [n, n_expert]) */
    if (ends_with(name, ".bias")) return TENSOR_TYPE_F32;
    /* BERT's position and token-type tables stay F32, as llama.cpp's converter and quantizer
     * keep them (its graph adds the token-type row to f32 activations directly: an F16 table
     * makes llama-server abort) */
    if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight"))
        return TENSOR_TYPE_F32;
    tensor_type t = quant_ftype_base(ftype);
    /* llama.cpp's MXFP4_MOE (llama-quant.cpp): MXFP4 for the expert stacks, Q8_0 for the rest */
    if (ftype == QUANT_FTYPE_MOSTLY_MXFP4 && moe && !(n_dims >= 3 && ne[2] > 1))
        t = TENSOR_TYPE_Q8_0;
    if (ftype == QUANT_FTYPE_MOSTLY_Q4_K_M || ftype == QUANT_FTYPE_MOSTLY_Q5_K_M) {
        int32_t il = layer_of(name);
        if (!strcmp(name, "output.weight"))
            t = TENSOR_TYPE_Q6_K;
        else if (il >= 0 &&
                 (ends_with(name, ".attn_v.weight") || ends_with(name, ".ffn_down.weight") ||
                  ends_with(name, ".ffn_down_exps.weight") ||
                  ends_with(name, ".ffn_down_shexp.weight")) &&
                 quant_use_more_bits(il, n_layer > 0 ? n_layer : il + 1))
            t = TENSOR_TYPE_Q6_K;
    }
    if (fits(t, ne[0])) return t;
    switch (t) {
    case TENSOR_TYPE_Q4_K:
        t = TENSOR_TYPE_Q5_0;
        break;
    case TENSOR_TYPE_Q5_K:
        t = TENSOR_TYPE_Q5_1;
        break;
    case TENSOR_TYPE_Q6_K:
        t = TENSOR_TYPE_Q8_0;
        break;
    case TENSOR_TYPE_IQ4_XS:
    case TENSOR_TYPE_IQ3_S: /* as llama-quantize falls back */
        t = TENSOR_TYPE_IQ4_NL;
        break;
    case TENSOR_TYPE_TQ1_0:
    case TENSOR_TYPE_TQ2_0:
        t = TENSOR_TYPE_Q4_0;
        break;
    default:
        break;
    }
    return fits(t, ne[0]) ? t : TENSOR_TYPE_F16;
}

/* ---- Staging ---- */

typedef struct {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t offset, nbytes;
} staged;

struct quant_stage {
    int fd;
    int n_threads;
    uint64_t size;
    staged *t;
    int64_t n, cap;
    void *map;
    /* conversion scratch, grown on demand */
    float *fbuf;
    uint8_t *obuf;
    size_t fcap, ocap;
};

quant_stage *quant_stage_new(const char *near_path, int n_threads, he_error *err) {
    const char *slash = strrchr(near_path, '/');
    size_t dlen = slash ? (size_t)(slash - near_path) + 1 : 0;
    size_t len = dlen + 32;
    char *tmpl = xmalloc(len);
    snprintf(tmpl, len, "%.*s.hearth-stage-XXXXXX", (int)dlen, near_path);
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        he_fail(err, HE_IO, "cannot create a staging file in '%.*s': %s", (int)(dlen ? dlen : 1),
                dlen ? near_path : ".", strerror(errno));
        free(tmpl);
        return NULL;
    }
    unlink(tmpl); /* nothing to clean up if we die: the space is freed on close */
    free(tmpl);
    quant_stage *st = xcalloc(1, sizeof *st);
    st->fd = fd;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    st->n_threads = n_threads > 64 ? 64 : n_threads;
    return st;
}

void quant_stage_free(quant_stage *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->size);
    if (st->fd >= 0) close(st->fd);
    for (int64_t i = 0; i < st->n; i++)
        free(st->t[i].name);
    free(st->t);
    free(st->fbuf);
    free(st->obuf);
    free(st);
}

static int stage_write(quant_stage *st, const void *data, uint64_t n, he_error *err) {
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(st->fd, p, n > (1u << 30) ? (1u << 30) : (size_t)n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return he_fail(err, HE_IO, "writing the staging file: %s", strerror(errno));
        }
        p += w;
        n -= (uint64_t)w;
        st->size += (uint64_t)w;
    }
    return 0;
}

static int stage_record(quant_stage *st, const char *name, uint32_t type, uint32_t n_dims,
                        const int64_t *ne, uint64_t nbytes) {
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        st->t = xrealloc(st->t, (size_t)st->cap * sizeof *st->t);
    }
    staged *s = &st->t[st->n++];
    s->name = xstrdup(name);
    s->type = type;
    s->n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        s->ne[d] = d < n_dims ? ne[d] : 1;
    s->nbytes = nbytes;
    s->offset = st->size;
    return 0;
}

/* Pads the spill file so every tensor starts 64-byte aligned in the mapping. */
static int stage_align(quant_stage *st, he_error *err) {
    static const uint8_t zero[64];
    uint64_t pad = (64 - st->size % 64) % 64;
    return pad ? stage_write(st, zero, pad, err) : 0;
}

int quant_stage_add_raw(quant_stage *st, const char *name, uint32_t type, uint32_t n_dims,
                        const int64_t *ne, const void *data, uint64_t nbytes, he_error *err) {
    if (stage_align(st, err) < 0) return -1;
    stage_record(st, name, type, n_dims, ne, nbytes);
    return stage_write(st, data, nbytes, err);
}

typedef struct {
    quant_fill_fn fill;
    void *ctx;
    tensor_type type;
    tensor_from_float_fn from_float;
    int64_t ne0, row0, nrows;
    size_t row_bytes;
    float *f;
    uint8_t *o;
} convert_job;

static void convert_rows(const convert_job *j) {
    j->fill(j->ctx, j->row0, j->nrows, j->f);
    for (int64_t r = 0; r < j->nrows; r++) {
        const float *x = j->f + r * j->ne0;
        uint8_t *y = j->o + (size_t)r * j->row_bytes;
        switch (j->type) {
        case TENSOR_TYPE_F32:
            memcpy(y, x, (size_t)j->ne0 * sizeof(float));
            break;
        case TENSOR_TYPE_F16:
            for (int64_t i = 0; i < j->ne0; i++) {
                uint16_t h = tensor_fp32_to_fp16(x[i]);
                memcpy(y + 2 * i, &h, 2);
            }
            break;
        case TENSOR_TYPE_BF16:
            for (int64_t i = 0; i < j->ne0; i++) {
                uint16_t h = tensor_fp32_to_bf16(x[i]);
                memcpy(y + 2 * i, &h, 2);
            }
            break;
        default:
            j->from_float(x, y, j->ne0);
            break;
        }
    }
}

static void *convert_thread(void *arg) {
    convert_rows(arg);
    return NULL;
}

/* Rows converted per batch: about 16M floats (64 MB) of f32 scratch across all threads. */
#define STAGE_BATCH_FLOATS ((int64_t)16 << 20)

int quant_stage_add(quant_stage *st, const char *name, tensor_type type, uint32_t n_dims,
                    const int64_t *ne, quant_fill_fn fill, void *ctx, he_error *err) {
    const tensor_traits *tr = tensor_traits_of(type);
    if (!tr || (type != TENSOR_TYPE_F32 && type != TENSOR_TYPE_F16 && type != TENSOR_TYPE_BF16 &&
                !tr->from_float))
        return he_fail(err, HE_UNSUPPORTED, "tensor '%s': no quantizer for type %s", name,
                       tr ? tr->name : "?");
    int64_t ne0 = ne[0], rows = 1;
    for (uint32_t d = 1; d < n_dims; d++)
        rows *= ne[d];
    size_t row_bytes = tensor_row_size(type, ne0);
    if (ne0 <= 0 || rows <= 0 || row_bytes == 0)
        return he_fail(err, HE_INVALID,
                       "tensor '%s': row length %lld does not fit type %s (block %lld)", name,
                       (long long)ne0, tr->name, (long long)tr->block_size);
    int64_t batch = STAGE_BATCH_FLOATS / ne0;
    if (batch < 1) batch = 1;
    if (batch > rows) batch = rows;
    size_t fneed, oneed;
    if (he_mul_overflow((size_t)batch, (size_t)ne0 * sizeof(float), &fneed) ||
        he_mul_overflow((size_t)batch, row_bytes, &oneed))
        return he_fail(err, HE_LIMIT, "tensor '%s': rows too long", name);
    if (fneed > st->fcap) {
        free(st->fbuf);
        st->fbuf = he_malloc(fneed);
        st->fcap = st->fbuf ? fneed : 0;
    }
    if (oneed > st->ocap) {
        free(st->obuf);
        st->obuf = he_malloc(oneed);
        st->ocap = st->obuf ? oneed : 0;
    }
    if (!st->fbuf || !st->obuf)
        return he_fail(err, HE_NOMEM,
                       "tensor '%s': out of memory for %zu bytes of conversion scratch", name,
                       fneed + oneed);
    if (stage_align(st, err) < 0) return -1;
    stage_record(st, name, type, n_dims, ne, (uint64_t)row_bytes * (uint64_t)rows);

    convert_job jobs[64];
    pthread_t tid[64];
    for (int64_t r0 = 0; r0 < rows; r0 += batch) {
        int64_t nr = rows - r0 < batch ? rows - r0 : batch;
        int nt = st->n_threads;
        if (nt > nr) nt = (int)nr;
        int64_t per = (nr + nt - 1) / nt, done = 0;
        int started = 0;
        for (int t = 0; t < nt && done < nr; t++) {
            int64_t k = nr - done < per ? nr - done : per;
            jobs[t] = (convert_job){fill,
                                    ctx,
                                    type,
                                    tr->from_float,
                                    ne0,
                                    r0 + done,
                                    k,
                                    row_bytes,
                                    st->fbuf + done * ne0,
                                    st->obuf + (size_t)done * row_bytes};
            done += k;
            started = t + 1;
        }
        int spawned = 0;
        for (int t = 1; t < started; t++) {
            if (pthread_create(&tid[t], NULL, convert_thread, &jobs[t]) != 0) break;
            spawned = t;
        }
        convert_rows(&jobs[0]);
        for (int t = spawned + 1; t < started; t++)
            convert_rows(&jobs[t]); /* threads we could not start */
        for (int t = 1; t <= spawned; t++)
            pthread_join(tid[t], NULL);
        if (stage_write(st, st->obuf, (uint64_t)nr * row_bytes, err) < 0) return -1;
    }
    return 0;
}

int quant_stage_finish(quant_stage *st, gguf_writer *w, he_error *err) {
    if (st->size > 0) {
        st->map = mmap(NULL, st->size, PROT_READ, MAP_SHARED, st->fd, 0);
        if (st->map == MAP_FAILED) {
            st->map = NULL;
            return he_fail(err, HE_IO, "mapping the staging file (%llu bytes): %s",
                           (unsigned long long)st->size, strerror(errno));
        }
    }
    for (int64_t i = 0; i < st->n; i++) {
        const staged *s = &st->t[i];
        if (gguf_writer_add_tensor(w, s->name, s->type, s->n_dims, s->ne,
                                   (const uint8_t *)st->map + s->offset, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- hearth quantize ---- */

typedef struct {
    const gguf_tensor *t;
    tensor_to_float_fn to_float;
    size_t row_bytes;
} dequant_src;

static void fill_dequant(void *ctx, int64_t row0, int64_t nrows, float *out) {
    const dequant_src *s = ctx;
    int64_t ne0 = s->t->ne[0];
    const uint8_t *base = (const uint8_t *)s->t->data + (size_t)row0 * s->row_bytes;
    for (int64_t r = 0; r < nrows; r++) {
        const uint8_t *row = base + (size_t)r * s->row_bytes;
        float *y = out + r * ne0;
        switch (s->t->type) {
        case TENSOR_TYPE_F32:
            memcpy(y, row, (size_t)ne0 * sizeof(float));
            break;
        case TENSOR_TYPE_F16:
            for (int64_t i = 0; i < ne0; i++) {
                uint16_t h;
                memcpy(&h, row + 2 * i, 2);
                y[i] = tensor_fp16_to_fp32(h);
            }
            break;
        case TENSOR_TYPE_BF16:
            for (int64_t i = 0; i < ne0; i++) {
                uint16_t h;
                memcpy(&h, row + 2 * i, 2);
                y[i] = tensor_bf16_to_fp32(h);
            }
            break;
        default:
            s->to_float(row, y, ne0);
            break;
        }
    }
}

static int is_float_like(uint32_t type) {
    return type == TENSOR_TYPE_F32 || type == TENSOR_TYPE_F16 || type == TENSOR_TYPE_BF16;
}

/* Number of transformer blocks: {arch}.block_count, else 1 + the highest blk.N seen. */
static int32_t model_n_layer(const gguf_file *f) {
    gguf_str arch;
    if (gguf_find_str(f, "general.architecture", &arch, NULL) == 1 && arch.len < 64) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
        int64_t v;
        if (gguf_find_i64(f, key, &v, NULL) == 1 && v > 0 && v < INT32_MAX) return (int32_t)v;
    }
    int32_t n = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->name.len > 4 && t->name.len < 256) {
            char name[256];
            memcpy(name, t->name.ptr, t->name.len);
            name[t->name.len] = 0;
            int32_t il = layer_of(name);
            if (il >= n && il < INT32_MAX) n = il + 1;
        }
    }
    return n;
}

int quant_model_file(const char *in_path, const char *out_path, quant_ftype ftype, int n_threads,
                     he_error *err) {
    int rc = -1;
    gguf_writer *w = NULL;
    quant_stage *st = NULL;
    gguf_file *f = gguf_open(in_path, err);
    if (!f) return -1;
    int32_t n_layer = model_n_layer(f);
    bool moe = false; /* any expert stack (3-D, ne[2] > 1) */
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->n_dims >= 3 && t->ne[2] > 1) moe = true;
    }
    w = gguf_writer_new();
    if (gguf_find_key(f, "general.alignment") >= 0)
        gguf_writer_set_alignment(w, (uint32_t)gguf_alignment(f));
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        gguf_writer_copy_kv(w, f, i);
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    gguf_writer_set_u32(w, "general.quantization_version", 2);

    st = quant_stage_new(out_path, n_threads, err);
    if (!st) goto done;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[256];
        if (t->name.len >= sizeof name) {
            he_fail(err, HE_LIMIT, "tensor %lld: name longer than %zu bytes", (long long)i,
                    sizeof name - 1);
            goto done;
        }
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = 0;
        const tensor_traits *tr = tensor_traits_of(t->type);
        const char *tname = tr ? tr->name : "unknown";
        int convertible = tr && (is_float_like(t->type) || tr->to_float);
        if (!convertible && tr && !tr->is_quantized && t->type != TENSOR_TYPE_F64) {
            /* integer tensors (I8..I64) are not weights: keep them as they are */
            if (quant_stage_add_raw(st, name, t->type, t->n_dims, t->ne, t->data, t->nbytes, err) <
                0)
                goto done;
            continue;
        }
        if (!convertible) {
            he_fail(err, HE_UNSUPPORTED, "tensor '%s': hearth cannot dequantize type %s (id %u)",
                    name, tname, t->type);
            goto done;
        }
        tensor_type to = quant_choose_type(ftype, name, t->n_dims, t->ne, n_layer, moe);
        if (to == t->type) {
            if (quant_stage_add_raw(st, name, t->type, t->n_dims, t->ne, t->data, t->nbytes, err) <
                0)
                goto done;
            continue;
        }
        dequant_src src = {t, tr->to_float, tensor_row_size((tensor_type)t->type, t->ne[0])};
        if (src.row_bytes == 0) {
            he_fail(err, HE_FORMAT,
                    "tensor '%s': row length %lld is not a multiple of the %s block", name,
                    (long long)t->ne[0], tname);
            goto done;
        }
        if (quant_stage_add(st, name, to, t->n_dims, t->ne, fill_dequant, &src, err) < 0) goto done;
    }
    if (quant_stage_finish(st, w, err) < 0) goto done;
    if (gguf_writer_write(w, out_path, err) < 0) goto done;
    rc = 0;
done:
    quant_stage_free(st);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}
