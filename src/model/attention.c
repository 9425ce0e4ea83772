/* attention.c — attention over the KV cache: the tiled path (the default), the choice between
 * it and the exact path (attn_exact.c), and their scratch.
 *
 * Tiled path. A work item is one KV head g and a group of up to ATT_TILE_ROWS query rows: the
 * grp query heads that share g, for up to ATT_TILE_ROWS / grp consecutive tokens of one
 * sequence. The item first lists the cells visible to any of its rows (pos >= 0, pos <= the
 * latest of its positions, its sequence's bit), so cells of other sequences and blocks nobody
 * in the item sees cost nothing. Then, per block of ATT_TILE_CELLS listed cells, the K rows
 * are converted to f32 once and the scores of all rows computed with the query rows as the
 * vector lanes (attn_kernels.h); scores of cells a row must not see (later positions, near
 * the diagonal of a prompt chunk) become -inf. Softmax, then the same for V.
 *
 * Softmax is two-pass: the item's scores stay in per-thread scratch, rp x n_ctx floats (rp <=
 * ATT_TILE_ROWS rounded up to the vector width, so linear in the context, never n_ctx^2):
 * max, exponentials (op_expf_ggml, as ggml), sums (per 16 cells pairwise in float, then in
 * double, as ggml's soft_max), probabilities normalized before p.V. This keeps two roundings
 * llama.cpp's graph has with an F16 cache — the query and the probabilities rounded to f16
 * before their products — which an online (flash-attention) softmax cannot (it rescales
 * unnormalized weights). With them, stories260K sits on a knife edge: a value within an f32
 * ulp of an f16 rounding boundary that rounds the other way moves a log-prob by ~1e-3, so the
 * sums must also be ggml's. Measured on its reference check (tests/unit/test_model.c, bound
 * 2.5e-3 and 22 values over 1e-3): float FMAs for q.k and one float chain per row for p.V gave
 * 3.15e-3 / 46; q.k in double alone 3.5e-3 / 28; ggml's p.V lanes alone 3.1e-3 / 33; both plus
 * the pairwise softmax sums 2.20e-3 / 16, the exact path's figures (and on the test model the
 * two paths' logits are equal bit for bit). So q.k is summed in double (f16 x f16 products are
 * exact; 8 lanes of doubles), and p.V in ggml's 64 float lanes (cell k into lane k % 64, the
 * lanes folded as ggml folds them; pv64), with the cells past the row's KV window rounded down
 * to 64 in double (pvd). Before the lanes the probabilities and V rows are copied lane-major
 * (each lane's cells contiguous: 64 rows apart they fall into the same few L1 sets).
 *
 * A Q8_0 cache is dequantized block by block (the same values as the tensor module's
 * to_float) and used in f32 with an unquantized query; that is more accurate than the exact
 * path's int8 q.k and, per cell, cheaper than quantizing nothing and doing integer dots for
 * 8-64 rows.
 *
 * Work items go to threads dynamically (an atomic counter), and every row's arithmetic is the
 * same whichever thread runs it and whatever other rows share its item, so results do not
 * depend on the thread count or on how the batch mixes sequences. */
#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "model/attention.h"
#include "tensor/blocks.h"
#include "tensor/ops.h"

/* ---- Reference kernels: 4 lanes of GCC vector extensions (any target) ---- */

typedef float att_v4f __attribute__((vector_size(16)));
typedef int32_t att_v4i __attribute__((vector_size(16)));
typedef double att_v2d __attribute__((vector_size(16)));

static inline att_v4f v4_load(const float *p) {
    att_v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v4_store(float *p, att_v4f v) { memcpy(p, &v, sizeof v); }
static inline att_v4f v4_set1(float x) { return (att_v4f){x, x, x, x}; }
static inline att_v2d v2_load(const double *p) {
    att_v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v2_store(double *p, att_v2d v) { memcpy(p, &v, sizeof v); }
static inline att_v2d v2_load_f(const float *p) { return (att_v2d){(double)p[0], (double)p[1]}; }
static inline void v2_store_f(float *p, att_v2d v) {
    p[0] = (float)v[0];
    p[1] = (float)v[1];
}
static inline att_v4f v4_max(att_v4f a, att_v4f b) {
    const att_v4i m = a > b;
    return (att_v4f)(((att_v4i)a & m) | ((att_v4i)b & ~m));
}

#define ATT_SFX ref
#define ATT_VEC att_v4f
#define ATT_W 4
#define ATT_LOAD(p) v4_load(p)
#define ATT_STORE(p, v) v4_store(p, v)
#define ATT_SET1(x) v4_set1(x)
#define ATT_ZERO() v4_set1(0.0f)
#define ATT_FMA(a, b, c) ((a) * (b) + (c))
#define ATT_MUL(a, b) ((a) * (b))
#define ATT_SUB(a, b) ((a) - (b))
#define ATT_ADD(a, b) ((a) + (b))
#define ATT_MAX(a, b) v4_max(a, b)
#define ATT_DVEC att_v2d
#define ATT_DW 2
#define ATT_DLOAD(p) v2_load(p)
#define ATT_DLOAD_F(p) v2_load_f(p)
#define ATT_DSTORE(p, v) v2_store(p, v)
#define ATT_DSTORE_F(p, v) v2_store_f(p, v)
#define ATT_DSET1(x) ((att_v2d){(x), (x)})
#define ATT_DZERO() ((att_v2d){0.0, 0.0})
#define ATT_DFMA(a, b, c) ((a) * (b) + (c))
#include "model/attn_kernels.h"

#define ATT_KERNELS(sfx, w, dw)                                                                  \
    {#sfx,          w,                    dw,             attn_qk_##sfx, attn_widen_##sfx,      \
     attn_pv64_##sfx, attn_pvd_##sfx, attn_scale_max_##sfx, attn_sub_##sfx, attn_sum_##sfx,     \
     attn_mul_##sfx}

static const attn_kernels kernels_ref = ATT_KERNELS(ref, 4, 2);
#if defined(__x86_64__)
static const attn_kernels kernels_avx2 = ATT_KERNELS(avx2, 8, 4);
static const attn_kernels kernels_avx512 = ATT_KERNELS(avx512, 16, 8);
#endif

const attn_kernels *hearth_attn_kernels(const char *name) {
    if (!name) name = tensor_isa();
#if defined(__x86_64__)
    if (!strcmp(name, "avx512")) return &kernels_avx512;
    if (!strcmp(name, "avx2")) return &kernels_avx2;
#endif
    return &kernels_ref;
}

/* ---- Cache rows ---- */

/* Q8_0 blocks to floats, d * q (the same values as the traits' to_float), in a loop the compiler
 * vectorizes (the scalar reference would dominate a long context). The scale goes through the
 * f16 traits. */
__attribute__((target_clones("avx512f", "default"))) static void
dequant_q8_row(const hearth_ctx *c, const block_q8_0 *restrict x, float *restrict y, int n) {
    for (int b = 0; b < n / 32; b++) {
        float d;
        c->f16->to_float(&x[b].d, &d, 1);
        const int8_t *restrict q = x[b].qs;
        float *restrict yb = y + 32 * b;
        for (int i = 0; i < 32; i++)
            yb[i] = d * (float)q[i];
    }
}

void hearth_kv_load(const hearth_ctx *c, const void *cache, size_t off, float *dst, int n) {
    if (c->kv_elt == 4)
        memcpy(dst, (const float *)cache + off, (size_t)n * sizeof(float));
    else if (c->kv_elt == 2)
        c->f16->to_float((const uint16_t *)cache + off, dst, n);
    else
        dequant_q8_row(c, (const block_q8_0 *)cache + off / 32, dst, n);
}

/* The K or V row of a listed cell of layer (head: hearth_kv_head's offset), as floats; zeros
 * for a cell the sliding-window ring no longer holds: every row of the item masks such a cell
 * (kv_cache.c), so its score is -inf and its probability exactly 0 whatever the row held. */
static inline void load_cell(const hearth_ctx *c, int layer, const void *cache, size_t head,
                             int32_t cell, float *dst, int hd) {
    const int32_t r = hearth_kv_row(c, layer, cell);
    if (r < 0)
        memset(dst, 0, (size_t)hd * sizeof(float));
    else
        hearth_kv_load(c, cache, head + (size_t)r * (size_t)hd, dst, hd);
}

/* Asks for the row at element offset off of a cache ahead of its use: a cell's row of one head
 * is 64-256 bytes at a stride of all heads' rows, which the hardware prefetcher follows
 * poorly, and decoding one token is bound by reading the cache. */
static inline void kv_prefetch(const hearth_ctx *c, const void *cache, size_t off, int n) {
    const char *p;
    size_t bytes;
    if (c->kv_elt) {
        p = (const char *)cache + off * c->kv_elt;
        bytes = (size_t)n * c->kv_elt;
    } else {
        p = (const char *)((const block_q8_0 *)cache + off / 32);
        bytes = (size_t)n / 32 * sizeof(block_q8_0);
    }
    for (size_t o = 0; o < bytes; o += 64)
        __builtin_prefetch(p + o);
}

#define ATT_PREFETCH 16 /* rows ahead */

/* ---- The tiled path ---- */

typedef struct {
    att_job a;
    const attn_kernels *k;
    int n_groups;        /* token groups: rows [c->att_groups[i], c->att_groups[i + 1]) */
    atomic_int next;     /* next work item */
} tile_job;

/* Per-thread scratch, carved from c->att_tile in this order; every piece starts on 64 bytes. */
typedef struct {
    double *qt;     /* (hdk, rp) query rows as lanes, in double */
    float *s;       /* (n_ctx, rp) scores, then probabilities */
    double *kd;     /* (ATT_TILE_CELLS, hdk) K rows in double */
    float *kf;      /* (ATT_TILE_CELLS, hdk) K rows */
    float *vf;      /* (n_ctx, hdv) the item's V rows, lane-major (see pv64) */
    float *pl;      /* (n_ctx, rp) probabilities, lane-major */
    float *vd;      /* (ATT_PD_CELLS, hdv) V rows of p.V's double part */
    float *ot;      /* (hdv, rp) output */
    float *lanes;   /* (20, hdv, rp) p.V lanes and their folds (pv64) */
    double *pd;     /* (ATT_PD_CELLS, rp) probabilities of p.V's double part */
    float *mx;      /* (rp) row maxima, then 1 / sum */
    double *sum;    /* (rp) */
    int32_t *rpos;  /* (rp) position of each row */
    int32_t *nvis;  /* (rp) cells each row sees, then where its double part starts */
    float *qrow;    /* (hdk) one query row rounded to f16 */
    uint16_t *half; /* (ATT_TILE_CELLS * rp) f16 rounding buffer */
} tile_scratch;

/* the cells past a row's 64-lane part: fewer than 32 of its own plus those of the item's later
 * tokens (at most ATT_TILE_ROWS - 1) */
#define ATT_PD_CELLS (32 + ATT_TILE_ROWS)

static size_t carve(size_t *at, size_t bytes) {
    size_t off = *at;
    *at += (bytes + 63) & ~(size_t)63;
    return off;
}

/* Bytes of one thread's scratch; fills *ts with pointers from base when base is not NULL. */
static size_t tile_layout(const hearth_ctx *c, char *base, tile_scratch *ts) {
    const hearth_hparams *hp = &c->m->hp;
    const size_t rp = (size_t)c->att_rp, n_ctx = (size_t)c->p.n_ctx;
    const size_t hdk = (size_t)hp->head_dim_k, hdv = (size_t)hp->head_dim_v;
    size_t at = 0;
    size_t o_qt = carve(&at, hdk * rp * sizeof(double));
    size_t o_s = carve(&at, n_ctx * rp * sizeof(float));
    size_t o_kd = carve(&at, ATT_TILE_CELLS * hdk * sizeof(double));
    size_t o_kf = carve(&at, ATT_TILE_CELLS * hdk * sizeof(float));
    size_t o_vf = carve(&at, (n_ctx + 64) * hdv * sizeof(float));
    size_t o_pl = carve(&at, (n_ctx + 64) * rp * sizeof(float));
    size_t o_vd = carve(&at, ATT_PD_CELLS * hdv * sizeof(float));
    size_t o_ot = carve(&at, hdv * rp * sizeof(float));
    size_t o_lanes = carve(&at, 20 * hdv * rp * sizeof(float));
    size_t o_pd = carve(&at, ATT_PD_CELLS * rp * sizeof(double));
    size_t o_mx = carve(&at, rp * sizeof(float));
    size_t o_sum = carve(&at, rp * sizeof(double));
    size_t o_rpos = carve(&at, rp * sizeof(int32_t));
    size_t o_nvis = carve(&at, rp * sizeof(int32_t));
    size_t o_qrow = carve(&at, hdk * sizeof(float));
    size_t o_half = carve(&at, (ATT_TILE_CELLS * rp > hdk ? ATT_TILE_CELLS * rp : hdk) * 2);
    if (base) {
        ts->qt = (double *)(void *)(base + o_qt);
        ts->s = (float *)(void *)(base + o_s);
        ts->kd = (double *)(void *)(base + o_kd);
        ts->kf = (float *)(void *)(base + o_kf);
        ts->vf = (float *)(void *)(base + o_vf);
        ts->pl = (float *)(void *)(base + o_pl);
        ts->vd = (float *)(void *)(base + o_vd);
        ts->ot = (float *)(void *)(base + o_ot);
        ts->lanes = (float *)(void *)(base + o_lanes);
        ts->pd = (double *)(void *)(base + o_pd);
        ts->mx = (float *)(void *)(base + o_mx);
        ts->sum = (double *)(void *)(base + o_sum);
        ts->rpos = (int32_t *)(void *)(base + o_rpos);
        ts->nvis = (int32_t *)(void *)(base + o_nvis);
        ts->qrow = (float *)(void *)(base + o_qrow);
        ts->half = (uint16_t *)(void *)(base + o_half);
    }
    return at;
}

/* x = f32(f16(x)), via tmp (n halves) */
static void round_f16(const hearth_ctx *c, float *x, int n, uint16_t *tmp) {
    c->f16->from_float(x, tmp, n);
    c->f16->to_float(tmp, x, n);
}

/* One work item: KV head g, query rows [r0, r1) of one sequence (see the file comment). */
static void tile_item(const tile_job *j, int g, int r0, int r1, const tile_scratch *ts,
                      int32_t *cells) {
    hearth_ctx *c = j->a.c;
    const attn_kernels *K = j->k;
    const hearth_hparams *hp = &c->m->hp;
    const int hdk = hp->head_dim_k, hdv = hp->head_dim_v, grp = hp->n_head / hp->n_head_kv;
    const int nq = hp->n_head * hdk;
    const int no = hp->n_head * hdv;
    const bool f16 = c->kv_elt == 2;
    const int nt = r1 - r0, R = nt * grp;
    const int rp = (R + K->width - 1) / K->width * K->width;
    const int rq = (R + K->dwidth - 1) / K->dwidth * K->dwidth;
    const size_t head_k = hearth_kv_head(c, j->a.layer, g, hdk);
    const size_t head_v = hearth_kv_head(c, j->a.layer, g, hdv);
    const float scale = hp->kq_scale, cap = hp->attn_softcap;
    /* sliding-window layer: a row at position p sees cells at p - n_swa + 1 .. p (ggml masks
     * p - cell >= n_swa) */
    const int32_t swa = c->m->layers[j->a.layer].swa ? hp->n_swa : 0;
    const int layer = j->a.layer;
    const bool ring = hearth_kv_is_ring(c, layer);

    /* rows as lanes: lane tt * grp + h is query head g * grp + h of token r0 + tt */
    int32_t minpos = INT32_MAX, maxpos = -1;
    uint64_t bit = 0;
    memset(ts->qt, 0, (size_t)hdk * rp * sizeof(double));
    for (int tt = 0; tt < nt; tt++) {
        const int t = r0 + tt, e = j->a.rows ? j->a.rows[t] : t;
        const int32_t pos = j->a.b->pos[e];
        bit = 1ull << j->a.b->seq_id[e];
        if (pos < minpos) minpos = pos;
        if (pos > maxpos) maxpos = pos;
        for (int h = 0; h < grp; h++) {
            const int r = tt * grp + h;
            const float *q = c->q + (size_t)t * nq + (size_t)(g * grp + h) * hdk;
            ts->rpos[r] = pos;
            memcpy(ts->qrow, q, (size_t)hdk * sizeof(float));
            if (f16) round_f16(c, ts->qrow, hdk, ts->half);
            for (int d = 0; d < hdk; d++)
                ts->qt[(size_t)d * rp + r] = (double)ts->qrow[d];
        }
    }
    for (int r = R; r < rp; r++)
        ts->rpos[r] = maxpos;

    /* the cells some row sees; the rows' own cells are among them, so n >= 1 */
    int n = hearth_kv_list(c, bit, maxpos, cells); /* in position order: batch invariance */
    /* Ring layer: the list is the same as with every row kept, cells outside all the rows'
     * windows included (they count in ggml's KV window, nvis below). Those that lead the list
     * add exact zeros to every sum (probability 0), so dropping a multiple of 64 of them
     * leaves each sum's grouping (16 cells for the softmax, 64 lanes for p.V, the double
     * tail) and so every bit of the result as it was, while the work becomes proportional to
     * the window. (Only on a ring, so that the full cache runs the unchanged path the ring
     * is tested against.) */
    if (ring) {
        int lead = 0;
        while (lead < n && c->cells[cells[lead]].pos <= minpos - swa)
            lead++;
        cells += lead & ~63;
        n -= lead & ~63;
    }

    /* scores, -inf where a row must not look (pos > its own), row maxima */
    for (int r = 0; r < rp; r++) {
        ts->mx[r] = -INFINITY;
        ts->nvis[r] = n;
    }
    for (int k0 = 0; k0 < n; k0 += ATT_TILE_CELLS) {
        const int nb = n - k0 < ATT_TILE_CELLS ? n - k0 : ATT_TILE_CELLS;
        for (int i = 0; i < nb; i++) {
            if (k0 + i + ATT_PREFETCH < n) {
                const int32_t pr = hearth_kv_row(c, layer, cells[k0 + i + ATT_PREFETCH]);
                if (pr >= 0) kv_prefetch(c, c->k_cache, head_k + (size_t)pr * hdk, hdk);
            }
            load_cell(c, layer, c->k_cache, head_k, cells[k0 + i], ts->kf + (size_t)i * hdk,
                      hdk);
        }
        K->widen(ts->kf, ts->kd, nb * hdk);
        float *sb = ts->s + (size_t)k0 * rp;
        K->qk(sb, ts->qt, rq, rp, ts->kd, hdk, nb);
        if (cap != 0.0f) { /* soft-capping of the raw scores, as ggml: scale, tanh, scale */
            const float inv = 1.0f / cap;
            for (size_t i = 0; i < (size_t)nb * rp; i++)
                sb[i] = tanhf(sb[i] * inv) * cap;
        }
        for (int i = 0; i < nb; i++) {
            const int32_t cp = c->cells[cells[k0 + i]].pos;
            if (cp <= minpos && (!swa || maxpos - cp < swa)) continue;
            for (int r = 0; r < rp; r++)
                if (cp > ts->rpos[r]) {
                    sb[(size_t)i * rp + r] = -INFINITY;
                    ts->nvis[r]--;
                } else if (swa && ts->rpos[r] - cp >= swa) {
                    /* outside the window: masked, but still within ggml's KV window (nvis) */
                    sb[(size_t)i * rp + r] = -INFINITY;
                }
        }
        K->scale_max(sb, rp, nb, scale, ts->mx);
    }

    /* gpt-oss: a learned sink logit per head joins each row's softmax (its maximum and sum),
     * taking probability mass without a value */
    const float *sinks = c->m->layers[j->a.layer].attn_sinks.data;
    if (sinks)
        for (int r = 0; r < R; r++)
            if (sinks[g * grp + r % grp] > ts->mx[r]) ts->mx[r] = sinks[g * grp + r % grp];
    /* softmax: exponentials, sums, probabilities (rounded to f16 with an F16 cache) */
    K->sub(ts->s, rp, n, ts->mx);
    op_expf_ggml_n(ts->s, ts->s, n * rp);
    for (int r = 0; r < rp; r++)
        ts->sum[r] = 0.0;
    K->sum(ts->s, rp, n, ts->sum);
    if (sinks)
        for (int r = 0; r < R; r++)
            ts->sum[r] += (double)expf(sinks[g * grp + r % grp] - ts->mx[r]);
    for (int r = 0; r < rp; r++)
        ts->mx[r] = (float)(1.0 / ts->sum[r]);
    for (int k0 = 0; k0 < n; k0 += ATT_TILE_CELLS) {
        const int nb = n - k0 < ATT_TILE_CELLS ? n - k0 : ATT_TILE_CELLS;
        float *pb = ts->s + (size_t)k0 * rp;
        K->mul(pb, rp, nb, ts->mx);
        if (f16) round_f16(c, pb, nb * rp, ts->half);
    }

    /* p.V as ggml sums it for a row that sees nv cells: its KV window is nv rounded up to 32;
     * the cells below that window rounded down to 64 go to 64 float lanes (pv64), the rest are
     * added in double (pvd). Row r's lane part is [0, e_r); rows differ by the item's later
     * tokens only, so the double parts all lie in [e_min, n), fewer than ATT_PD_CELLS cells. */
    int e_min = n, e_max = 0;
    for (int r = 0; r < rp; r++) {
        const int nv = r < R ? ts->nvis[r] : n, win = (nv + 31) / 32 * 32, lanes = win & ~63;
        int e = nv < lanes ? nv : lanes;
        if (e == nv) e = n; /* all its cells in lanes: the ones it does not see add zeros */
        ts->nvis[r] = e;
        if (e < e_min) e_min = e;
        if (e > e_max) e_max = e;
    }
    const int n_pd = n - e_min;
    /* a row's own tail is under 32 cells, plus fewer than ATT_TILE_ROWS of the item's later
     * tokens (its positions are consecutive, one cell each) */
    assert(n_pd <= ATT_PD_CELLS);
    for (int k = e_min; k < n; k++)
        for (int r = 0; r < rp; r++) {
            float *pk = ts->s + (size_t)k * rp + r;
            const bool dbl = k >= ts->nvis[r];
            ts->pd[(size_t)(k - e_min) * rp + r] = dbl ? (double)*pk : 0.0;
            if (dbl) *pk = 0.0f;
        }
    /* lane-major copies for pv64 (cell k = l + 64 m to row l * mm + m): each lane's cells are
     * contiguous, not 64 rows apart (which maps them onto the same few L1 sets) */
    const int mm = (e_max + 63) / 64;
    for (int k = 0; k < e_max; k++) {
        const size_t row = (size_t)(k & 63) * mm + (size_t)(k >> 6);
        memcpy(ts->pl + row * rp, ts->s + (size_t)k * rp, (size_t)rp * sizeof(float));
        if (k + ATT_PREFETCH < n) {
            const int32_t pr = hearth_kv_row(c, layer, cells[k + ATT_PREFETCH]);
            if (pr >= 0) kv_prefetch(c, c->v_cache, head_v + (size_t)pr * hdv, hdv);
        }
        load_cell(c, layer, c->v_cache, head_v, cells[k], ts->vf + row * hdv, hdv);
    }
    K->pv64(ts->ot, ts->pl, rp, ts->vf, hdv, e_max, ts->lanes);
    if (n_pd > 0) {
        for (int k = e_min; k < n; k++)
            load_cell(c, layer, c->v_cache, head_v, cells[k], ts->vd + (size_t)(k - e_min) * hdv,
                      hdv);
        K->pvd(ts->ot, ts->pd, rq, rp, ts->vd, hdv, n_pd);
    }

    for (int tt = 0; tt < nt; tt++)
        for (int h = 0; h < grp; h++) {
            const int r = tt * grp + h;
            float *out = c->xb + (size_t)(r0 + tt) * no + (size_t)(g * grp + h) * hdv;
            for (int i = 0; i < hdv; i++)
                out[i] = ts->ot[(size_t)i * rp + r];
        }
}

static void tile_worker(void *arg, int ith, int nth) {
    (void)nth;
    tile_job *j = arg;
    hearth_ctx *c = j->a.c;
    const int n_kv = c->m->hp.n_head_kv, n_items = j->n_groups * n_kv;
    tile_scratch ts;
    tile_layout(c, c->att_tile + (size_t)ith * c->att_tile_stride, &ts);
    int32_t *cells = c->att_cells + (size_t)ith * (size_t)c->p.n_ctx;
    for (;;) {
        const int item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= n_items) break;
        const int gi = item / n_kv, g = item % n_kv;
        tile_item(j, g, c->att_groups[gi], c->att_groups[gi + 1], &ts, cells);
    }
}

void hearth_attention(hearth_ctx *c, const hearth_batch *b, int layer, int n_rows,
                      const int32_t *rows) {
    const int n_kv = c->m->hp.n_head_kv, nth = he_pool_size(c->pool);
    if (c->att_exact) {
        att_job job = {c, b, layer, n_rows, rows};
        const int items = n_rows * n_kv;
        he_pool_run_n(c->pool, items < nth ? items : nth, hearth_attention_exact_worker, &job);
        return;
    }
    /* token groups: consecutive rows of one sequence, at most att_tok of them */
    int ng = 0;
    for (int t = 0; t < n_rows; t++) {
        const int e = rows ? rows[t] : t;
        const int start = ng ? c->att_groups[ng - 1] : 0;
        const int prev = t ? (rows ? rows[t - 1] : t - 1) : -1;
        /* (consecutive positions too: the last layer keeps only the rows that want logits) */
        if (ng == 0 || t - start >= c->att_tok || b->seq_id[e] != b->seq_id[prev] ||
            b->pos[e] != b->pos[prev] + 1)
            c->att_groups[ng++] = t;
    }
    c->att_groups[ng] = n_rows;
    tile_job job = {{c, b, layer, n_rows, rows}, c->att_kern, ng, 0};
    const int items = ng * n_kv;
    he_pool_run_n(c->pool, items < nth ? items : nth, tile_worker, &job);
}

/* ---- Scratch ---- */

int hearth_attention_alloc(hearth_ctx *c, he_error *err) {
    const hearth_hparams *hp = &c->m->hp;
    const size_t nth = (size_t)c->p.n_threads, n_ctx = (size_t)c->p.n_ctx;
    const size_t grp = (size_t)(hp->n_head / hp->n_head_kv);
    const char *want = getenv("HEARTH_ATTN");
    c->att_exact = false;
    if (want && *want) {
        if (!strcmp(want, "exact") || !strcmp(want, "ref"))
            c->att_exact = true;
        else if (strcmp(want, "tiled"))
            log_warn("attention: unknown HEARTH_ATTN '%s' (tiled|exact); using tiled", want);
    }
    c->att_cells = he_calloc(nth * n_ctx, sizeof *c->att_cells);
    if (!c->att_cells) goto nomem;
    if (c->att_exact) {
        c->att_stride = grp * (n_ctx + (size_t)hp->head_dim_k + (size_t)hp->head_dim_v) +
                        (size_t)hp->head_dim_k + (size_t)hp->head_dim_v +
                        grp * (size_t)ATT_LANES * (size_t)hp->head_dim_v;
        c->att = he_calloc(nth * c->att_stride, sizeof(float));
        c->att_half_stride = grp * (size_t)hp->head_dim_k > n_ctx ? grp * (size_t)hp->head_dim_k
                                                                   : n_ctx;
        c->att_half = he_calloc(nth * c->att_half_stride, sizeof *c->att_half);
        c->att_sum = he_calloc(nth * grp * (size_t)hp->head_dim_v, sizeof *c->att_sum);
        if (!c->att || !c->att_half || !c->att_sum) goto nomem;
        return 0;
    }
    const attn_kernels *k = hearth_attn_kernels(NULL);
    c->att_kern = k;
    c->att_tok = grp >= ATT_TILE_ROWS ? 1 : (int)(ATT_TILE_ROWS / grp);
    size_t rows = (size_t)c->att_tok * grp;
    c->att_rp = (int)((rows + (size_t)k->width - 1) / (size_t)k->width * (size_t)k->width);
    size_t bytes = tile_layout(c, NULL, NULL);
    c->att_tile_stride = bytes;
    size_t total;
    if (he_mul_overflow(bytes, nth, &total)) goto nomem;
    c->att_tile_mem = he_malloc(total + 64);
    c->att_groups = he_calloc((size_t)c->p.n_batch + 1, sizeof *c->att_groups);
    if (!c->att_tile_mem || !c->att_groups) goto nomem;
    c->att_tile = (char *)(((uintptr_t)c->att_tile_mem + 63) & ~(uintptr_t)63);
    return 0;
nomem:
    return he_fail(err, HE_NOMEM, "ctx: cannot allocate attention scratch for %zu cells",
                   n_ctx);
}

void hearth_attention_free(hearth_ctx *c) {
    free(c->att);
    free(c->att_cells);
    free(c->att_sum);
    free(c->att_half);
    free(c->att_tile_mem);
    free(c->att_groups);
}
