/* attn_exact.c — the exact attention: the reference (oracle) for the tiled path of attention.c,
 * selected with HEARTH_ATTN=exact (see docs/ENGINE.md).
 *
 * One work item = one batch token x one KV head, scanning every cell its sequence sees with
 * arithmetic that follows llama.cpp's non-flash CPU graph (AVX-512 build) value for value:
 * q.k summed in double, the f16 rounding of the query and of the probabilities, ggml's
 * softmax grouping and its 64 p.V partial sums. Exact but slow at depth (one K and one V row
 * converted per cell and per query token). Scratch is per thread and linear in n_ctx. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/attention.h"
#include "tensor/blocks.h"
#include "tensor/ops.h"

/* ---- Helpers ---- */
/* x = f32(f16(x)), via tmp (n halves) */
static void round_f16(const hearth_ctx *c, float *x, int n, uint16_t *tmp) {
    c->f16->from_float(x, tmp, n);
    c->f16->to_float(tmp, x, n);
}

/* pairwise sum of 16 floats: i + 8, then + 4, + 2, + 1 (AVX-512's _mm512_reduce_add_ps) */
static float tree_sum16(const float *v) {
    float t[16];
    memcpy(t, v, sizeof t);
    for (int o = 8; o >= 1; o /= 2)
        for (int i = 0; i < o; i++)
            t[i] = t[i] + t[i + o];
    return t[0];
}

/* ---- Attention ---- */

/* sum of the float products x[i] * y[i] in double, in 8 interleaved partial sums (i % 8) added
 * pairwise at the end: vectorizable, unlike one sequential chain. The products of f16-rounded
 * operands are exact and their double sum is exact unless they span ~30 binades, so this equals
 * the sequential double sum except in such rare cases (both round to the same float far more
 * often still). */
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));

/* (built for AVX-512 and for the baseline, picked at load time by the CPU: the arithmetic is the
 * same in both, only the vector width differs) */
__attribute__((target_clones("avx512f", "default"))) static void
dots_f32_in_f64(const float *restrict q, const float *restrict k, int grp, int n, float scale,
                float *restrict out, int ostride) {
    for (int h = 0; h < grp; h++) {
        const float *restrict x = q + (size_t)h * n;
        v8d p = {0};
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            v8f a, b;
            memcpy(&a, x + i, sizeof a);
            memcpy(&b, k + i, sizeof b);
            const v8f prod = a * b;
            p += __builtin_convertvector(prod, v8d);
        }
        for (; i < n; i++)
            p[0] += (double)(x[i] * k[i]);
        const double s = ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
        out[(size_t)h * ostride] = (float)s * scale;
    }
}

/* s[h * hdv + i] += (double)(p[h * pstride] * v[i]): float product, double sum */
__attribute__((target_clones("avx512f", "default"))) static void
axpy_heads_f64(double *restrict s, const float *restrict v, const float *restrict p, int pstride,
               int grp, int hdv) {
    for (int h = 0; h < grp; h++) {
        const float ph = p[(size_t)h * pstride];
        double *restrict sh = s + (size_t)h * hdv;
        int i = 0;
        for (; i + 8 <= hdv; i += 8) {
            v8f x;
            v8d acc;
            memcpy(&x, v + i, sizeof x);
            memcpy(&acc, sh + i, sizeof acc);
            const v8f prod = ph * x;
            acc += __builtin_convertvector(prod, v8d);
            memcpy(sh + i, &acc, sizeof acc);
        }
        for (; i < hdv; i++)
            sh[i] += (double)(ph * v[i]);
    }
}

/* dst[i] = (a[i] + c[i]) + (b[i] + d[i]) (c, d may be NULL: dst[i] = dst[i] + a[i]) */
__attribute__((target_clones("avx512f", "default"))) static void
add4(float *restrict dst, const float *restrict a, const float *restrict b,
     const float *restrict c, const float *restrict d, size_t n) {
    size_t i = 0;
    if (c) {
        for (; i + 16 <= n; i += 16) {
            v16f va, vb, vc, vd;
            memcpy(&va, a + i, sizeof va);
            memcpy(&vb, b + i, sizeof vb);
            memcpy(&vc, c + i, sizeof vc);
            memcpy(&vd, d + i, sizeof vd);
            const v16f r = (va + vc) + (vb + vd);
            memcpy(dst + i, &r, sizeof r);
        }
        for (; i < n; i++)
            dst[i] = (a[i] + c[i]) + (b[i] + d[i]);
    } else {
        for (; i + 16 <= n; i += 16) {
            v16f vx, va;
            memcpy(&vx, dst + i, sizeof vx);
            memcpy(&va, a + i, sizeof va);
            vx = vx + va;
            memcpy(dst + i, &vx, sizeof vx);
        }
        for (; i < n; i++)
            dst[i] = dst[i] + a[i];
    }
}

#define KD_MAX 32 /* head sizes up to 256 take dots_exact_f64 */

/* As dots_f32_in_f64, for operands whose float products are exact (f16-rounded q and k): the
 * query is already widened to double (qd) and k is widened once for all heads, so each product
 * is one double multiply, equal to (double)(q * k). Same partial sums, same order, same result.
 * n: a multiple of 8, at most 8 * KD_MAX. */
__attribute__((target_clones("avx512f", "default"))) static void
dots_exact_f64(const double *restrict qd, const float *restrict k, int grp, int n, float scale,
               float *restrict out, int ostride) {
    v8d kd[KD_MAX];
    const int nv = n / 8;
    for (int j = 0; j < nv; j++) {
        v8f a;
        memcpy(&a, k + 8 * j, sizeof a);
        kd[j] = __builtin_convertvector(a, v8d);
    }
    for (int h = 0; h < grp; h++) {
        const double *restrict x = qd + (size_t)h * n;
        v8d p = {0};
        for (int j = 0; j < nv; j++) {
            v8d a;
            memcpy(&a, x + 8 * j, sizeof a);
            p += a * kd[j];
        }
        const double s = ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
        out[(size_t)h * ostride] = (float)s * scale;
    }
}

/* a[h * hdv + i] += p[h * pstride] * v[i] for h < grp, i < hdv (a multiply, then an add) */
__attribute__((target_clones("avx512f", "default"))) static void
axpy_heads(float *restrict a, const float *restrict v, const float *restrict p, int pstride,
           int grp, int hdv) {
    for (int h = 0; h < grp; h++) {
        const float ph = p[(size_t)h * pstride];
        float *restrict ah = a + (size_t)h * hdv;
        int i = 0;
        for (; i + 16 <= hdv; i += 16) { /* explicit vectors: -O2 does not vectorize this */
            v16f x, y;
            memcpy(&x, ah + i, sizeof x);
            memcpy(&y, v + i, sizeof y);
            x += ph * y;
            memcpy(ah + i, &x, sizeof x);
        }
        for (; i < hdv; i++)
            ah[i] += ph * v[i];
    }
}

/* p.V over the first n cells (cells[k], k < n <= ATT_LANES multiple) of one KV head: cell k goes
 * to float partial sum k % 64 of each head h and column i, the 64 partial sums are folded as
 * (l, l+32) + (l+16, l+48) for l < 16 and then pairwise (tree_sum16), and the result is written
 * to sum[h * hdv + i] as a double. Computed lane by lane (4 lanes' accumulators, then their fold)
 * instead of updating all 64 lanes per cell, so the scratch stays in L1; each lane still adds
 * its cells in increasing k, so the values are the same as the straightforward order.
 * scr: at least 20 * grp * hdv floats. */
static void pv_lanes(const hearth_ctx *c, const void *vcache, size_t off0, int stride,
                     const int32_t *cells, int n, const float *scores, int n_ctx, int grp, int hdv,
                     float *vf, float *scr, double *sum) {
    const size_t gh = (size_t)grp * hdv;
    if (n == 0) {
        for (size_t i = 0; i < gh; i++)
            sum[i] = 0.0;
        return;
    }
    float *acc = scr;          /* (4, grp, hdv): lanes l, l+16, l+32, l+48 */
    float *fold = scr + 4 * gh; /* (16, grp, hdv) */
    for (int l = 0; l < 16; l++) {
        for (int a = 0; a < 4; a++) {
            float *ac = acc + (size_t)a * gh;
            memset(ac, 0, gh * sizeof(float));
            for (int k = l + 16 * a; k < n; k += ATT_LANES) {
                hearth_kv_load(c, vcache, off0 + (size_t)cells[k] * stride, vf, hdv);
                axpy_heads(ac, vf, scores + k, n_ctx, grp, hdv);
            }
        }
        add4(fold + (size_t)l * gh, acc, acc + gh, acc + 2 * gh, acc + 3 * gh, gh);
    }
    /* tree_sum16 over l, for every (h, i) at once */
    for (int o = 8; o >= 1; o /= 2)
        for (int l = 0; l < o; l++)
            add4(fold + (size_t)l * gh, fold + (size_t)(l + o) * gh, NULL, NULL, NULL, gh);
    for (size_t i = 0; i < gh; i++)
        sum[i] = (double)fold[i];
}

/* The softmax of one head's n scores (its visible cells in cache order), as ggml's soft_max
 * computes it on AVX-512: exponentials with op_expf_ggml, summed per 16 consecutive values
 * (pairwise within the group: i + 8, + 4, + 2, + 1) and the group sums added in double, then
 * p = e * (float)(1 / sum). Groups follow the rank among the visible cells, not the cell
 * index, so results do not depend on where in the cache a sequence's cells are (batching);
 * for one sequence in a fresh cache the two are the same, as in llama.cpp. */
static void softmax_visible(float *s, int n, float sink) {
    float max = s[0];
    for (int k = 1; k < n; k++)
        if (s[k] > max) max = s[k];
    if (sink > max) max = sink; /* gpt-oss: the sink is one more logit in the denominator */
    for (int k = 0; k < n; k++)
        s[k] = s[k] - max;
    op_expf_ggml_n(s, s, n);
    double sum = 0.0;
    for (int k0 = 0; k0 < n; k0 += 16) {
        float lane[16] = {0};
        for (int k = k0; k < n && k < k0 + 16; k++)
            lane[k - k0] = s[k];
        sum += (double)tree_sum16(lane);
    }
    if (sink != -INFINITY) sum += (double)expf(sink - max);
    float inv = (float)(1.0 / sum);
    for (int k = 0; k < n; k++)
        s[k] *= inv;
}

/* One work item = one batch token x one KV head: the query heads sharing that KV head score
 * the cells their sequence sees (pos <= own), softmax, then sum V weighted by the
 * probabilities. Scratch is per thread and linear in n_ctx (no (tokens x cells) matrix).
 *
 * The arithmetic follows llama.cpp's CPU graph (non-flash attention, AVX-512 build), so that
 * values near an f16 rounding boundary round the way they do there: with an F16 cache the query
 * and the probabilities are rounded to f16 before their dot products (ggml's f16 mul_mat); q.k
 * is summed in double (ggml_vec_dot_f16 with 8 values); p.V runs over ggml's KV window of
 * n_kv = n_vis rounded up to 32: the k-th visible cell, for k below n_kv & ~63, goes to float
 * partial sum k % 64 (of 64), folded like ggml's reduce, then the remaining cells are added in
 * double. (By rank, not cell index, as in softmax_visible.)
 * With f16 operands every product is exact, so plain multiply-adds equal ggml's FMAs. */
void hearth_attention_exact_worker(void *arg, int ith, int nth) {
    const att_job *j = arg;
    hearth_ctx *c = j->c;
    const hearth_hparams *hp = &c->m->hp;
    const int hdk = hp->head_dim_k, hdv = hp->head_dim_v, grp = hp->n_head / hp->n_head_kv;
    const int nq = hp->n_head * hdk;
    const int no = hp->n_head * hdv, n_ctx = c->p.n_ctx;
    const bool f16 = c->kv_elt == 2, q8 = c->kv_elt == 0;
    float *scr = c->att + (size_t)ith * c->att_stride;
    float *scores = scr;                                 // (grp, n_ctx)
    float *qr = scores + (size_t)grp * n_ctx;            // (grp, hdk) query, rounded like the cache
    float *kf = qr + (size_t)grp * hdk;                  // (hdk)
    float *vf = kf + hdk;                                // (hdv)
    float *acc = vf + hdv;                               // (grp, hdv)
    float *lanes = acc + (size_t)grp * hdv;              // (grp, ATT_LANES, hdv)
    double *sum = c->att_sum + (size_t)ith * grp * hdv;  // (grp, hdv)
    int32_t *cells = c->att_cells + (size_t)ith * n_ctx; // (n_ctx) visible cells
    uint16_t *tmp = c->att_half + (size_t)ith * c->att_half_stride;
    /* soft-capping (Gemma 2) applies to the raw q.k, before the softmax scale */
    const float cap = hp->attn_softcap, scale = cap != 0.0f ? 1.0f : hp->kq_scale;
    const int32_t swa = c->m->layers[j->layer].swa ? hp->n_swa : 0;
    const int n_items = j->n_rows * hp->n_head_kv;

    for (int item = ith; item < n_items; item += nth) {
        int t = item / hp->n_head_kv, g = item % hp->n_head_kv;
        const size_t head_k = hearth_kv_head(c, j->layer, g, hdk);
        const size_t head_v = hearth_kv_head(c, j->layer, g, hdv);
        int e = j->rows ? j->rows[t] : t; /* the batch entry of query row t */
        int32_t pos = j->b->pos[e];
        uint64_t bit = 1ull << j->b->seq_id[e];
        const float *q = c->q + (size_t)t * nq + (size_t)g * grp * hdk;
        memcpy(qr, q, (size_t)grp * hdk * sizeof(float));
        if (f16) round_f16(c, qr, grp * hdk, tmp);
        /* f16 operands: q·k products are exact in float and in double, so the query can be
         * widened once (into the p.V lanes' scratch, unused until then; it holds
         * grp * 64 * hdv floats, far more than grp * hdk doubles + alignment) */
        double *qd = NULL;
        if (f16 && hdk % 8 == 0 && hdk <= 8 * KD_MAX) {
            qd = (double *)(void *)(((uintptr_t)lanes + 63) & ~(uintptr_t)63);
            for (int i = 0; i < grp * hdk; i++)
                qd[i] = (double)qr[i];
        }

        /* Q8_0 cache: the query is quantized to Q8_0 once (into the p.V lanes' scratch, unused
         * until then: grp * hdk / 32 blocks of 34 bytes, far less than its grp * 64 * hdv
         * floats), and each q.k is the int8 block dot of the tensor module, as a Q8_0 matmul
         * against quantized activations would compute it */
        const block_q8_0 *qq = NULL;
        if (q8) {
            c->q8->from_float(qr, lanes, grp * hdk);
            qq = (const block_q8_0 *)lanes;
        }

        /* scores, over the visible cells in position order whatever cells the sequence was
         * given (hearth_kv_list); cells[] is rewritten in place with the rows kept (n_vis <= i) */
        int n_vis = 0;
        const int32_t n_list = hearth_kv_list(c, bit, pos, cells);
        for (int32_t i = 0; i < n_list; i++) {
            const int32_t cell = cells[i];
            const kv_cell *kc = &c->cells[cell];
            if (swa && pos - kc->pos >= swa) continue; /* outside the sliding window */
            /* its row: the cell, or its slot in a sliding-window ring (held: it is in the
             * window); cells[] keeps rows, which is all p.V needs */
            const int32_t row = hearth_kv_row(c, j->layer, cell);
            if (qq) {
                const block_q8_0 *kb =
                    (const block_q8_0 *)c->k_cache +
                    (head_k + (size_t)row * hdk) / 32;
                for (int h = 0; h < grp; h++) {
                    float d;
                    c->q8->vec_dot(hdk, &d, kb, qq + (size_t)h * (hdk / 32));
                    scores[(size_t)h * n_ctx + n_vis] = d * scale;
                }
                cells[n_vis++] = row;
                continue;
            }
            hearth_kv_load(c, c->k_cache, head_k + (size_t)row * hdk, kf, hdk);
            if (qd)
                dots_exact_f64(qd, kf, grp, hdk, scale, scores + n_vis, n_ctx);
            else
                dots_f32_in_f64(qr, kf, grp, hdk, scale, scores + n_vis, n_ctx);
            cells[n_vis++] = row;
        }
        if (cap != 0.0f)
            for (int h = 0; h < grp; h++)
                for (int i = 0; i < n_vis; i++) {
                    float *sc = scores + (size_t)h * n_ctx + i;
                    *sc = tanhf(*sc * (1.0f / cap)) * cap * hp->kq_scale;
                }
        /* softmax per head; the token's own cell is always visible, so n_vis >= 1 */
        for (int h = 0; h < grp; h++) {
            float *sh = scores + (size_t)h * n_ctx;
            const float *sinks = c->m->layers[j->layer].attn_sinks.data;
            softmax_visible(sh, n_vis, sinks ? sinks[g * grp + h] : -INFINITY);
            if (f16) round_f16(c, sh, n_vis, tmp);
        }
        /* weighted sum of V: lanes for the cells below n_kv & ~63, then the rest in double */
        int n_kv = (n_vis + 31) / 32 * 32, n_lane = n_kv & ~(ATT_LANES - 1);
        const int n_in_lanes = n_vis < n_lane ? n_vis : n_lane;
        pv_lanes(c, c->v_cache, head_v, hdv, cells, n_in_lanes, scores, n_ctx,
                 grp, hdv, vf, lanes, sum);
        int k = n_in_lanes;
        for (; k < n_vis; k++) {
            hearth_kv_load(c, c->v_cache, head_v + (size_t)cells[k] * hdv, vf, hdv);
            axpy_heads_f64(sum, vf, scores + k, n_ctx, grp, hdv);
        }
        for (int i = 0; i < grp * hdv; i++)
            acc[i] = (float)sum[i];
        float *out = c->xb + (size_t)t * no + (size_t)g * grp * hdv;
        memcpy(out, acc, (size_t)grp * hdv * sizeof(float));
    }
}

