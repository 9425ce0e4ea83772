/* matmul.c — batched matrix products (matmul.h): the traits' dispatched vec_dot per (row,
 * token), or, for small batches of a type with a small-batch kernel (tensor_gemvn_of), that
 * kernel, or, for prompt batches of a type with a tiled kernel (tensor_gemm_of), 16-row tiles
 * that unpack each weight block once for all tokens. All give bit-identical results. F16/BF16
 * weights (F32 activations) go to the selected set's float kernel (tensor_gemmf_of) at every
 * batch size, so their results do not depend on batching either. */
#include "tensor/matmul.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

static _Thread_local _Alignas(64) unsigned char tile_tls[TENSOR_TILE_BYTES];
void *tensor_tile_tls(void) {
    return tile_tls;
}

/* Batches of up to tensor_gemvn_max_tok tokens of a type with a small-batch kernel
 * (tensor_gemvn_of) go to it: every weight block unpacked once for all tokens, no repacking.
 * Larger ones of a type with a tiled kernel use the tile (its repacking is amortized over the
 * tokens); the rest call vec_dot per (row, token). The limits are measured (docs/TENSOR.md);
 * HEARTH_GEMV_MAX=N overrides them, for comparisons. */
int tensor_gemvn_max_tok(tensor_type wtype) {
    /* read by every worker thread: relaxed atomics (the value depends on the environment only,
     * so racing first callers store the same int) */
    static atomic_int over_cache = -2;
    int over = atomic_load_explicit(&over_cache, memory_order_relaxed);
    if (over == -2) {
        const char *e = getenv("HEARTH_GEMV_MAX");
        over = e && *e ? atoi(e) : -1;
        if (over < -1) over = -1;
        atomic_store_explicit(&over_cache, over, memory_order_relaxed);
    }
    if (!tensor_gemvn_of(wtype)) return 0;
    if (over >= 0) return over;
    /* make bench-kernels' small-batch table (2026-11-23): the lane-wise Q4_0/Q8_0 kernels beat
     * the tile up to 24 tokens and more; the row-wise K-quant ones up to ~5 (Q4_K) and ~11
     * (Q6_K); IQ4_XS's (2026-12-07) up to ~8; IQ4_NL's and MXFP4's four-row kernel (2026-12-07,
     * one token at a time: 44-53 GMAC/s at any batch) up to 4, the tile from 6 (59-60) */
    switch (wtype) {
    case TENSOR_TYPE_Q4_0: return 24;
    case TENSOR_TYPE_Q8_0: return 24;
    case TENSOR_TYPE_Q4_K: return 5;
    case TENSOR_TYPE_Q6_K: return 11;
    case TENSOR_TYPE_IQ4_XS: return 8;
    case TENSOR_TYPE_IQ4_NL: return 4;
    case TENSOR_TYPE_MXFP4: return 4;
    default: return 0;
    }
}

/* Without a small-batch kernel (HEARTH_GEMV=0), batches below this go through vec_dot: the tile's
 * repacking costs about as much as a few tokens' worth of row-wise dots. */
#define TENSOR_GEMM_MIN_TOK 4

/* Below this many multiply-adds a job is not worth waking other threads for. */
#define MIN_WORK_PER_THREAD 32768

typedef struct {
    float *y;
    const uint8_t *w;
    size_t w_row; /* bytes per weight row */
    const tensor_traits *tr;
    int64_t n_in, n_out;
    const float *x;
    int n_tok;
    uint8_t *q; /* quantized activations, n_tok rows of q_row bytes */
    size_t q_row;
    tensor_gemm_fn gemm;   /* tiled kernel for this batch, or NULL */
    tensor_gemvn_fn gemvn; /* small-batch kernel for this batch, or NULL */
    tensor_gemmf_fn gemmf; /* float-weight kernel (F16/BF16 rows, F32 activations), or NULL */
    void *pack;            /* the activations packed for either (NULL: none needed) */
    tensor_type wtype;
} mm_job;

int tensor_matmul_supported(tensor_type wtype) {
    const tensor_traits *tr = tensor_traits_of((uint32_t)wtype);
    if (!tr || !tr->vec_dot) return 0;
    if (tr->vec_dot_type == TENSOR_TYPE_F32) return 1;
    const tensor_traits *vt = tensor_traits_of((uint32_t)tr->vec_dot_type);
    return vt && vt->from_float;
}

size_t tensor_gemm_pack_size(tensor_type wtype, int64_t n_in, int n_tok) {
    const size_t groups = ((size_t)n_tok + TENSOR_GEMM_TOKENS - 1) / TENSOR_GEMM_TOKENS;
    if (wtype == TENSOR_TYPE_Q4_0 || wtype == TENSOR_TYPE_Q8_0 || wtype == TENSOR_TYPE_IQ4_NL ||
        wtype == TENSOR_TYPE_MXFP4)
        return groups * (size_t)(n_in / QK8_0) * TENSOR_GEMM_PACK32;
    if (wtype == TENSOR_TYPE_Q4_K || wtype == TENSOR_TYPE_Q6_K || wtype == TENSOR_TYPE_IQ4_XS ||
        wtype == TENSOR_TYPE_TQ2_0 || wtype == TENSOR_TYPE_IQ3_S || wtype == TENSOR_TYPE_TQ1_0)
        return groups * (size_t)(n_in / QK_K) * TENSOR_GEMM_PACKK;
    return 0;
}

bool tensor_gemvn_packs(tensor_type wtype) {
    return wtype == TENSOR_TYPE_Q4_0 || wtype == TENSOR_TYPE_Q8_0 || wtype == TENSOR_TYPE_IQ4_NL ||
           wtype == TENSOR_TYPE_MXFP4;
}

/* token t's linear pack for the Q4_0/Q8_0/IQ4_NL/MXFP4 small-batch kernels (tensor_internal.h) */
static void pack_linear(tensor_type wtype, int64_t n_in, const void *row, int t, uint8_t *pack) {
    const int c = wtype == TENSOR_TYPE_Q4_0 ? 8 : 128;
    const int64_t nb = n_in / QK8_0;
    const block_q8_0 *y = row;
    uint8_t *qs = pack + (size_t)t * (size_t)nb * TENSOR_GEMV_PACK32;
    float *dy = (float *)(void *)(qs + 32 * nb);
    int32_t *nc = (int32_t *)(dy + nb);
    for (int64_t b = 0; b < nb; b++) {
        int sum = 0;
        for (int i = 0; i < QK8_0; i++)
            sum += y[b].qs[i];
        memcpy(qs + 32 * b, y[b].qs, 32);
        dy[b] = tensor_fp16_to_fp32(y[b].d);
        nc[b] = -c * sum;
    }
}

void tensor_gemvn_pack(tensor_type wtype, int64_t n_in, const void *q, size_t q_row, int n_tok,
                       void *pack) {
    for (int t = 0; t < n_tok; t++)
        pack_linear(wtype, n_in, (const uint8_t *)q + (size_t)t * q_row, t, pack);
}

/* token t's slots in the tiled kernel's packed layout (tensor_internal.h); y: its row, NULL for
 * a padding token (zeros) */
static void pack_token(tensor_type wtype, int64_t n_in, const void *row, int t, uint8_t *pack) {
    const int G = TENSOR_GEMM_TOKENS, tt = t % G;
    if (wtype == TENSOR_TYPE_Q4_0 || wtype == TENSOR_TYPE_Q8_0 || wtype == TENSOR_TYPE_IQ4_NL ||
        wtype == TENSOR_TYPE_MXFP4) {
        const int c = wtype == TENSOR_TYPE_Q4_0 ? 8 : 128; /* Q8_0, IQ4_NL, MXFP4: levels + 128 */
        const int64_t nb = n_in / QK8_0;
        const block_q8_0 *y = row;
        uint8_t *grp = pack + (size_t)(t / G) * (size_t)nb * TENSOR_GEMM_PACK32;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *r = grp + (size_t)b * TENSOR_GEMM_PACK32;
            int sum = 0;
            float dy = 0.0f;
            if (y) {
                for (int i = 0; i < QK8_0; i++)
                    sum += y[b].qs[i];
                dy = tensor_fp16_to_fp32(y[b].d);
            }
            for (int g = 0; g < 8; g++)
                if (y)
                    memcpy(r + 32 * g + 4 * tt, y[b].qs + 4 * g, 4);
                else
                    memset(r + 32 * g + 4 * tt, 0, 4);
            const int32_t nc = -c * sum;
            memcpy(r + 256 + 4 * tt, &dy, 4);
            memcpy(r + 288 + 4 * tt, &nc, 4);
        }
    } else {
        const int64_t ns = n_in / QK_K;
        const block_q8_K *y = row;
        uint8_t *grp = pack + (size_t)(t / G) * (size_t)ns * TENSOR_GEMM_PACKK;
        for (int64_t s = 0; s < ns; s++) {
            uint8_t *r = grp + (size_t)s * TENSOR_GEMM_PACKK;
            for (int g = 0; g < 64; g++)
                if (y)
                    memcpy(r + 32 * g + 4 * tt, y[s].qs + 4 * g, 4);
                else
                    memset(r + 32 * g + 4 * tt, 0, 4);
            for (int p = 0; p < 8; p++)
                if (y)
                    memcpy(r + 2048 + 32 * p + 4 * tt, &y[s].bsums[2 * p], 4);
                else
                    memset(r + 2048 + 32 * p + 4 * tt, 0, 4);
            const float d = y ? y[s].d : 0.0f;
            memcpy(r + 2304 + 4 * tt, &d, 4);
        }
    }
}

void tensor_gemm_pack(tensor_type wtype, int64_t n_in, const void *q, size_t q_row, int n_tok,
                      void *pack) {
    const int padded = (n_tok + TENSOR_GEMM_TOKENS - 1) / TENSOR_GEMM_TOKENS * TENSOR_GEMM_TOKENS;
    for (int t = 0; t < padded; t++)
        pack_token(wtype, n_in, t < n_tok ? (const uint8_t *)q + (size_t)t * q_row : NULL, t,
                   pack);
}

size_t tensor_matmul_scratch(tensor_type wtype, int64_t n_in, int n_tok) {
    const tensor_traits *tr = tensor_traits_of((uint32_t)wtype);
    if (!tr || tr->vec_dot_type == TENSOR_TYPE_F32) return 0;
    /* + the tiled kernel's side arrays, aligned to 64 bytes after the rows */
    /* + the tiled kernel's packed copy (rounded up to whole token groups), 64-byte aligned */
    return tensor_row_size(tr->vec_dot_type, n_in) * (size_t)n_tok + 64 +
           tensor_gemm_pack_size(wtype, n_in, n_tok + TENSOR_GEMM_TOKENS - 1);
}

static void range_of(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1) {
    int64_t per = (n + nth - 1) / nth;
    *r0 = per * ith < n ? per * ith : n;
    *r1 = *r0 + per < n ? *r0 + per : n;
}

/* quantizes activation rows and, for the tiled kernel, packs them (padding tokens too) */
static void quantize_rows(void *arg, int ith, int nth) {
    mm_job *j = arg;
    const tensor_traits *vt = tensor_traits_of((uint32_t)j->tr->vec_dot_type);
    const int padded = j->gemm ? (j->n_tok + TENSOR_GEMM_TOKENS - 1) / TENSOR_GEMM_TOKENS *
                                     TENSOR_GEMM_TOKENS
                               : j->n_tok;
    for (int t = ith; t < padded; t += nth) {
        uint8_t *row = t < j->n_tok ? j->q + (size_t)t * j->q_row : NULL;
        if (row) vt->from_float(j->x + (int64_t)t * j->n_in, row, j->n_in);
        if (j->gemm)
            pack_token(j->wtype, j->n_in, row, t, j->pack);
        else if (j->pack)
            pack_linear(j->wtype, j->n_in, row, t, j->pack);
    }
}

/* Each kernel below computes output rows [r0, r1) of its job for every token; the rows are
 * shared out by the scheduler further down (sched_run), in runs that start at a multiple of
 * TENSOR_GEMM_ROWS. Every form's results are independent of how the rows are split. */
typedef void (*mm_rows_fn)(const mm_job *j, int64_t r0, int64_t r1);

/* the tiled kernel over the whole 16-row tiles of the run; the rows past the last whole tile
 * (only in the run that ends at n_out) dotted one by one */
static void mm_tiles(const mm_job *j, int64_t r0, int64_t r1) {
    const int64_t whole = (r1 - r0) / TENSOR_GEMM_ROWS * TENSOR_GEMM_ROWS;
    if (whole > 0)
        j->gemm(j->n_in, (int)whole, j->n_tok, j->y + r0, j->n_out, j->w + (size_t)r0 * j->w_row,
                j->w_row, j->pack);
    for (int64_t r = r0 + whole; r < r1; r++)
        for (int t = 0; t < j->n_tok; t++)
            j->tr->vec_dot(j->n_in, &j->y[(int64_t)t * j->n_out + r], j->w + (size_t)r * j->w_row,
                           j->q + (size_t)t * j->q_row);
}

/* the small-batch kernel */
static void mm_gemvn(const mm_job *j, int64_t r0, int64_t r1) {
    j->gemvn(j->n_in, (int)(r1 - r0), j->n_tok, j->y + r0, j->n_out, j->w + (size_t)r0 * j->w_row,
             j->w_row, j->pack ? (const void *)j->pack : j->q, j->q_row);
}

/* the float-weight kernel (its results do not depend on the batch size either) */
static void mm_gemmf(const mm_job *j, int64_t r0, int64_t r1) {
    j->gemmf(j->n_in, (int)(r1 - r0), j->n_tok, j->y + r0, j->n_out, j->w + (size_t)r0 * j->w_row,
             j->w_row, j->x, j->n_in);
}

static void mm_rows(const mm_job *j, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = j->w + (size_t)r * j->w_row;
        for (int t = 0; t < j->n_tok; t++) {
            float s;
            if (j->q)
                j->tr->vec_dot(j->n_in, &s, wr, j->q + (size_t)t * j->q_row);
            else
                j->tr->vec_dot(j->n_in, &s, wr, j->x + (int64_t)t * j->n_in);
            j->y[(int64_t)t * j->n_out + r] = s;
        }
    }
}

static int threads_for(he_pool *pool, double work) {
    int nth = pool ? he_pool_size(pool) : 1;
    int want = (int)(work / MIN_WORK_PER_THREAD);
    if (want < 1) want = 1;
    return want < nth ? want : nth;
}

/* Sets up j for y = W x (n_tok rows): picks the kernel and, for quantized activations, places
 * the quantized rows (and the kernels' pack) at scratch. Returns the scratch bytes it uses. */
static size_t mm_setup(mm_job *j, float *y, const void *w, tensor_type wtype, int64_t n_in,
                       int64_t n_out, const float *x, int n_tok, void *scratch) {
    *j = (mm_job){.y = y, .w = w, .n_in = n_in, .n_out = n_out, .x = x, .n_tok = n_tok};
    j->w_row = tensor_row_size(wtype, n_in);
    j->tr = tensor_traits_of((uint32_t)wtype);
    assert(j->tr && j->tr->vec_dot);
    if (j->tr->vec_dot_type == TENSOR_TYPE_F32) {
        j->gemmf = tensor_gemmf_of(wtype);
        return 0;
    }
    j->q = scratch;
    j->q_row = tensor_row_size(j->tr->vec_dot_type, n_in);
    j->wtype = wtype;
    if (n_tok <= tensor_gemvn_max_tok(wtype))
        j->gemvn = tensor_gemvn_of(wtype);
    else if (n_tok >= TENSOR_GEMM_MIN_TOK && n_out >= TENSOR_GEMM_ROWS)
        j->gemm = tensor_gemm_of(wtype);
    if (j->gemm || (j->gemvn && tensor_gemvn_packs(wtype))) {
        uintptr_t a = (uintptr_t)(j->q + j->q_row * (size_t)n_tok);
        j->pack = (void *)((a + 63) & ~(uintptr_t)63);
    }
    return tensor_matmul_scratch(wtype, n_in, n_tok);
}

static mm_rows_fn mm_fn(const mm_job *j) {
    return j->gemm ? mm_tiles : j->gemvn ? mm_gemvn : j->gemmf ? mm_gemmf : mm_rows;
}

/* ---- Sharing the rows out ----
 * The products' rows are cut into units (runs of rows, whole 16-row tiles, about equal in
 * multiply-adds across products), numbered in product order. Each thread owns a contiguous
 * share of the units and claims half of what is left of it at a time, from its front (one
 * kernel call per claim and product, so its weights stay long streams the prefetchers follow);
 * a thread whose share is done takes single units from the back of the others' shares. So a
 * thread that runs slower (a core busy with something else, a slower core, a vCPU its host
 * shares, pages farther away) no longer holds the barrier up alone: the others finish its
 * share. Which thread computes a row changes nothing in it. */
enum { UNITS_PER_THREAD = 8, SCHED_MAX_THREADS = 256 };

typedef struct {
    _Alignas(64) _Atomic uint64_t span; /* the share's unclaimed units [lo, hi): lo | hi << 32 */
} sched_share;

typedef struct {
    const mm_job *jobs;
    int n;
    int64_t unit[TENSOR_MM_MANY_MAX];      /* rows per unit of job i */
    int32_t first[TENSOR_MM_MANY_MAX + 1]; /* job i's units are [first[i], first[i + 1]) */
    sched_share *shares;                   /* one per thread */
} sched;

static uint64_t span_of(uint32_t lo, uint32_t hi) { return (uint64_t)lo | (uint64_t)hi << 32; }

static atomic_ullong units_taken_over; /* tensor_matmul_taken_over */
unsigned long long tensor_matmul_taken_over(void) {
    return atomic_load_explicit(&units_taken_over, memory_order_relaxed);
}

static void sched_setup(sched *s, const mm_job *jobs, int n, int nth, sched_share *shares) {
    double work = 0;
    for (int i = 0; i < n; i++)
        work += (double)jobs[i].n_in * (double)jobs[i].n_out * jobs[i].n_tok;
    const double per_unit = work / (nth * UNITS_PER_THREAD);
    int32_t total = 0;
    for (int i = 0; i < n; i++) {
        const double row_work = (double)jobs[i].n_in * jobs[i].n_tok;
        const double want = per_unit / (row_work > 0 ? row_work : 1);
        int64_t rows = want < (double)jobs[i].n_out ? (int64_t)want : jobs[i].n_out;
        rows = (rows + TENSOR_GEMM_ROWS - 1) / TENSOR_GEMM_ROWS * TENSOR_GEMM_ROWS;
        if (rows < TENSOR_GEMM_ROWS) rows = TENSOR_GEMM_ROWS;
        s->unit[i] = rows;
        s->first[i] = total;
        total += (int32_t)((jobs[i].n_out + rows - 1) / rows);
    }
    s->first[n] = total;
    s->jobs = jobs;
    s->n = n;
    s->shares = shares;
    for (int t = 0; t < nth; t++)
        atomic_init(&shares[t].span, span_of((uint32_t)((int64_t)total * t / nth),
                                             (uint32_t)((int64_t)total * (t + 1) / nth)));
}

/* units [a, b): one kernel call per product they cover */
static void sched_units(const sched *s, int32_t a, int32_t b) {
    int i = 0;
    while (s->first[i + 1] <= a)
        i++;
    for (; a < b; i++) {
        const int32_t e = b < s->first[i + 1] ? b : s->first[i + 1];
        const mm_job *j = &s->jobs[i];
        const int64_t r0 = (int64_t)(a - s->first[i]) * s->unit[i];
        int64_t r1 = (int64_t)(e - s->first[i]) * s->unit[i];
        if (r1 > j->n_out) r1 = j->n_out;
        if (r1 > r0) mm_fn(j)(j, r0, r1);
        a = e;
    }
}

/* The claims only decide who runs a unit; the rows' inputs and outputs are ordered by the
 * pool's fork and join, so relaxed atomics suffice. */
static void sched_run(void *arg, int ith, int nth) {
    const sched *s = arg;
    _Atomic uint64_t *own = &s->shares[ith].span;
    uint64_t v = atomic_load_explicit(own, memory_order_relaxed);
    for (;;) {
        const uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
        if (lo >= hi) break;
        const uint32_t take = (hi - lo + 1) / 2;
        if (atomic_compare_exchange_weak_explicit(own, &v, span_of(lo + take, hi),
                                                  memory_order_relaxed, memory_order_relaxed)) {
            sched_units(s, (int32_t)lo, (int32_t)(lo + take));
            v = atomic_load_explicit(own, memory_order_relaxed);
        }
    }
    for (int k = 1; k < nth; k++) {
        _Atomic uint64_t *other = &s->shares[(ith + k) % nth].span;
        uint64_t w = atomic_load_explicit(other, memory_order_relaxed);
        for (;;) {
            const uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
            if (lo >= hi) break;
            if (atomic_compare_exchange_weak_explicit(other, &w, span_of(lo, hi - 1),
                                                      memory_order_relaxed, memory_order_relaxed)) {
                sched_units(s, (int32_t)(hi - 1), (int32_t)hi);
                atomic_fetch_add_explicit(&units_taken_over, 1, memory_order_relaxed);
                w = atomic_load_explicit(other, memory_order_relaxed);
            }
        }
    }
}

/* every product's rows on nth threads: one dispatch, one barrier */
static void run_jobs(he_pool *pool, int nth, const mm_job *jobs, int n) {
    if (nth <= 1) {
        for (int i = 0; i < n; i++)
            if (jobs[i].n_out > 0) mm_fn(&jobs[i])(&jobs[i], 0, jobs[i].n_out);
        return;
    }
    if (nth > SCHED_MAX_THREADS) nth = SCHED_MAX_THREADS;
    sched_share shares[SCHED_MAX_THREADS];
    sched s;
    sched_setup(&s, jobs, n, nth, shares);
    he_pool_run_n(pool, nth, sched_run, &s);
}

void tensor_matmul(he_pool *pool, float *y, const void *w, tensor_type wtype, int64_t n_in,
                   int64_t n_out, const float *x, int n_tok, void *scratch) {
    mm_job j;
    mm_setup(&j, y, w, wtype, n_in, n_out, x, n_tok, scratch);
    if (j.q) {
        int nq = threads_for(pool, (double)n_in * n_tok * 4);
        if (nq > 1)
            he_pool_run_n(pool, nq, quantize_rows, &j);
        else
            quantize_rows(&j, 0, 1);
    }
    run_jobs(pool, threads_for(pool, (double)n_in * (double)n_out * n_tok), &j, 1);
}

/* ---- LoRA's low-rank products ---- */

typedef struct {
    float *y;
    int64_t ldy, k, n_out; /* k: the dot length (n_in for A, rank for B) */
    const int32_t *rows;
    const float *w, *x, *scale;
    int n_tok;
    tensor_dot16_fn dot;
    tensor_lowrank_fn add;
} lowrank_job;

static void lowrank_a_range(void *arg, int ith, int nth) {
    const lowrank_job *j = arg;
    int64_t r0, r1;
    range_of(j->n_out, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++)
        for (int t = 0; t < j->n_tok; t++)
            j->dot(j->k, &j->y[(int64_t)t * j->n_out + r], j->w + r * j->k,
                   j->x + (int64_t)t * j->k);
}

int tensor_lowrank_a(he_pool *pool, float *y, const float *a, int64_t n_in, int64_t n_out,
                     const float *x, int n_tok) {
    if (n_in % 16 || n_out % 4) return -1;
    lowrank_job j = {.y = y,
                     .k = n_in,
                     .n_out = n_out,
                     .w = a,
                     .x = x,
                     .n_tok = n_tok,
                     .dot = tensor_dot16_of()};
    int nth = threads_for(pool, (double)n_in * (double)n_out * n_tok);
    if (nth > 1)
        he_pool_run_n(pool, nth, lowrank_a_range, &j);
    else
        lowrank_a_range(&j, 0, 1);
    return 0;
}

/* this thread's range of outputs, in whole groups of 8 (the vector kernels' width), every row */
static void lowrank_b_range(void *arg, int ith, int nth) {
    const lowrank_job *j = arg;
    int64_t g0, g1;
    range_of((j->n_out + 7) / 8, ith, nth, &g0, &g1);
    const int64_t o0 = g0 * 8, o1 = g1 * 8 < j->n_out ? g1 * 8 : j->n_out;
    if (o1 <= o0) return;
    for (int r = 0; r < j->n_tok; r++)
        j->add(j->k, o1 - o0, j->w + o0 * j->k, j->x + (int64_t)r * j->k, j->scale[r],
               j->y + (int64_t)j->rows[r] * j->ldy + o0);
}

int tensor_lowrank_b_add(he_pool *pool, float *y, int64_t ldy, const int32_t *rows, const float *b,
                         int64_t rank, int64_t n_out, const float *t, const float *scale, int n_tok,
                         bool tiled) {
    tensor_lowrank_fn add;
    if (tiled && rank % 16 == 0 && n_out % 4 == 0)
        add = tensor_lowrank16_of(); /* tinyBLAS's order */
    else if (rank < 64)
        add = tensor_lowrank_seq_of(); /* ggml_vec_dot_f32's, short rows */
    else
        return -1;
    lowrank_job j = {.y = y,
                     .ldy = ldy,
                     .k = rank,
                     .n_out = n_out,
                     .rows = rows,
                     .w = b,
                     .x = t,
                     .scale = scale,
                     .n_tok = n_tok,
                     .add = add};
    int nth = threads_for(pool, (double)rank * (double)n_out * n_tok);
    if (nth > 1)
        he_pool_run_n(pool, nth, lowrank_b_range, &j);
    else
        lowrank_b_range(&j, 0, 1);
    return 0;
}

/* ---- Several products in one dispatch ---- */

typedef struct {
    mm_job *jobs;
    int n;
    bool *own_q; /* job i quantizes its activations (false: it shares job i-1's) */
} mm_many;

static void many_quantize(void *arg, int ith, int nth) {
    mm_many *m = arg;
    for (int i = 0; i < m->n; i++)
        if (m->own_q[i]) quantize_rows(&m->jobs[i], ith, nth);
}

/* item b shares item a's quantized activations: the same rows against the same weight type, and
 * the same kernel (which depends on the row count only through the tile's minimum) */
static bool same_input(const tensor_mm *a, const tensor_mm *b) {
    return a->x == b->x && a->n_tok == b->n_tok && a->n_in == b->n_in && a->wtype == b->wtype &&
           (a->n_out >= TENSOR_GEMM_ROWS) == (b->n_out >= TENSOR_GEMM_ROWS);
}

void tensor_matmul_many(he_pool *pool, const tensor_mm *mm, int n, void *scratch,
                        size_t scratch_size) {
    mm_job jobs[TENSOR_MM_MANY_MAX];
    bool own_q[TENSOR_MM_MANY_MAX];
    size_t used = 0;
    bool fits = n <= TENSOR_MM_MANY_MAX;
    for (int i = 0; fits && i < n; i++) {
        own_q[i] = i == 0 || !same_input(&mm[i], &mm[i - 1]);
        if (own_q[i]) used += tensor_matmul_scratch(mm[i].wtype, mm[i].n_in, mm[i].n_tok);
        fits = used <= scratch_size;
    }
    if (!fits) { /* one at a time (each product alone fits the scratch: the caller's contract) */
        for (int i = 0; i < n; i++)
            tensor_matmul(pool, mm[i].y, mm[i].w, mm[i].wtype, mm[i].n_in, mm[i].n_out, mm[i].x,
                          mm[i].n_tok, scratch);
        return;
    }
    uint8_t *s = scratch;
    double qwork = 0, work = 0;
    for (int i = 0; i < n; i++) {
        if (own_q[i]) {
            s += mm_setup(&jobs[i], mm[i].y, mm[i].w, mm[i].wtype, mm[i].n_in, mm[i].n_out, mm[i].x,
                          mm[i].n_tok, s);
            if (jobs[i].q) qwork += (double)mm[i].n_in * mm[i].n_tok * 4;
        } else { /* the previous job's quantized rows and pack, this product's weight and output */
            jobs[i] = jobs[i - 1];
            jobs[i].y = mm[i].y;
            jobs[i].w = mm[i].w;
            jobs[i].n_out = mm[i].n_out;
        }
        work += (double)mm[i].n_in * (double)mm[i].n_out * mm[i].n_tok;
    }
    mm_many m = {jobs, n, own_q};
    int nq = threads_for(pool, qwork);
    if (qwork > 0) {
        if (nq > 1)
            he_pool_run_n(pool, nq, many_quantize, &m);
        else
            many_quantize(&m, 0, 1);
    }
    run_jobs(pool, threads_for(pool, work), jobs, n);
}
