/* attention.h — attention over the KV cache, inside the model module.
 *
 * Two implementations, chosen per context when it is created (HEARTH_ATTN, docs/ENGINE.md):
 *   tiled (attention.c, the default): a work item is one KV head x a block of query rows (the
 *     grp query heads sharing that KV head, for up to ATT_TILE_ROWS / grp tokens of one
 *     sequence); each K and V row is converted to f32 once per item and used by all its rows.
 *   exact (attn_exact.c): one (token, KV head) at a time with llama.cpp's rounding, value for
 *     value; the oracle the tests compare the tiled path with.
 * Both write c->xb from c->q and the cache; scratch is per thread and linear in n_ctx. */
#ifndef HEARTH_MODEL_ATTENTION_H
#define HEARTH_MODEL_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "model/model_internal.h"

/* query rows per tiled work item (tokens x grp), before padding to the vector width */
#define ATT_TILE_ROWS 64
/* cells converted to f32 at a time */
#define ATT_TILE_CELLS 64

typedef struct {
    hearth_ctx *c;
    const hearth_batch *b;
    int layer;
    int n_rows;          /* query rows in c->q */
    const int32_t *rows; /* batch entry of each query row; NULL: row i is entry i */
} att_job;

/* Attention of one layer for the first n_rows query rows of c->q (rows[i]: their batch
 * entries, NULL for the identity) into c->xb, on the context's pool. */
void hearth_attention(hearth_ctx *c, const hearth_batch *b, int layer, int n_rows,
                      const int32_t *rows);

/* Allocates (and frees) the scratch of the context's attention implementation; reads
 * HEARTH_ATTN. */
int hearth_attention_alloc(hearth_ctx *c, he_error *err);
void hearth_attention_free(hearth_ctx *c);

/* The cache is head-major within a layer: the row of KV head g of row r in a layer starts at
 * element (kv_base[layer] + g * rows + r) * hd (hd: head_dim_k for K, head_dim_v for V; rows:
 * n_ctx, or swa_cap for a ring layer; r: hearth_kv_row), so one head's rows lie one after
 * another and attention streams them. This is the offset of row 0. (Q8_0: hd is a multiple of
 * 32, so every row starts a block.) */
static inline size_t hearth_kv_head(const hearth_ctx *c, int layer, int g, int hd) {
    const size_t rows = hearth_kv_is_ring(c, layer) ? (size_t)c->swa_cap : (size_t)c->p.n_ctx;
    return (c->kv_base[layer] + (size_t)g * rows) * (size_t)hd;
}

/* The K or V row of n elements at element offset off of a cache, as floats. */
void hearth_kv_load(const hearth_ctx *c, const void *cache, size_t off, float *dst, int n);

/* attn_exact.c: the pool worker of the exact path (arg: an att_job). */
void hearth_attention_exact_worker(void *arg, int ith, int nth);

/* ---- Tile kernels (attn_kernels.h, built per ISA) ----
 * Query rows are the vector lanes: rp (a multiple of the kernel's width) rows side by side.
 *   qk: s[k * rp + r] = (float) of the double sum over d < hdk of qt[d * rp + r] * kd[k * hdk
 *       + d], for k < n and r < rq (rq a multiple of dwidth); lanes rq..rp-1 get 0
 *   widen: y[i] = (double)x[i]
 *   pv64: ot[j * rp + r] = p.V over cells k < n (a multiple of 64) for j < hdv, summed as ggml
 *       sums it: cell k into float partial sum k % 64, the 64 folded (l, l+32) + (l+16, l+48),
 *       then pairwise over 16; scr: 20 * hdv * rp floats
 *   pvd: ot[j * rp + r] = (float)((double)ot[j * rp + r] + the sum over k < n of pd[k * rp + r]
 *       * vf[k * hdv + j] in double), for r < rq
 *   scale_max: s[k * rp + r] *= scale, then mx[r] = max(mx[r], s[k * rp + r])
 *   sub: s[k * rp + r] -= mx[r]
 *   sum: sum[r] += the s[k * rp + r] over k: per 16 consecutive k in float, pairwise (i + 8, + 4,
 *       + 2, + 1, as ggml's AVX-512 reduction), the groups in double
 *   mul: s[k * rp + r] *= f[r] */
typedef struct {
    const char *name;
    int width;  /* float lanes per vector */
    int dwidth; /* double lanes per vector */
    void (*qk)(float *s, const double *qt, int rq, int rp, const double *kd, int hdk, int n);
    void (*widen)(const float *x, double *y, int n);
    void (*pv64)(float *ot, const float *p, int rp, const float *vf, int hdv, int n, float *scr);
    void (*pvd)(float *ot, const double *pd, int rq, int rp, const float *vf, int hdv, int n);
    void (*scale_max)(float *s, int rp, int n, float scale, float *mx);
    void (*sub)(float *s, int rp, int n, const float *mx);
    void (*sum)(const float *s, int rp, int n, double *sum);
    void (*mul)(float *s, int rp, int n, const float *f);
} attn_kernels;

#define ATT_KERNEL_DECLS(sfx)                                                                    \
    void attn_qk_##sfx(float *s, const double *qt, int rq, int rp, const double *kd, int hdk,    \
                       int n);                                                                   \
    void attn_widen_##sfx(const float *x, double *y, int n);                                     \
    void attn_pv64_##sfx(float *ot, const float *p, int rp, const float *vf, int hdv, int n,     \
                         float *scr);                                                            \
    void attn_pvd_##sfx(float *ot, const double *pd, int rq, int rp, const float *vf, int hdv,   \
                        int n);                                                                  \
    void attn_scale_max_##sfx(float *s, int rp, int n, float scale, float *mx);                \
    void attn_sub_##sfx(float *s, int rp, int n, const float *mx);                             \
    void attn_sum_##sfx(const float *s, int rp, int n, double *sum);                           \
    void attn_mul_##sfx(float *s, int rp, int n, const float *f);
ATT_KERNEL_DECLS(ref)
#if defined(__x86_64__)
ATT_KERNEL_DECLS(avx2)
ATT_KERNEL_DECLS(avx512)
#endif

/* The kernels for an ISA name ("ref", "avx2", "avx512"; the CPU must have it), or for the one
 * the tensor module chose (tensor_isa(), which HEARTH_ISA can force) when name is NULL. */
const attn_kernels *hearth_attn_kernels(const char *name);

#endif
