/* attn_kernels.h — the tiled attention kernels, written once over a vector abstraction and
 * built per ISA: attention.c (ref: 4 lanes of GCC vector extensions, any target),
 * attn_avx2.c (8 lanes, AVX2+FMA) and attn_avx512.c (16 lanes, AVX-512F). No include guard:
 * each including file first defines
 *   ATT_SFX, ATT_VEC (the vector type), ATT_W (its lanes), ATT_LOAD(p), ATT_STORE(p, v),
 *   ATT_SET1(x), ATT_ZERO(), ATT_FMA(a, b, c) (a * b + c), ATT_MUL, ATT_SUB, ATT_ADD, ATT_MAX,
 *   and for doubles ATT_DVEC, ATT_DW, ATT_DLOAD, ATT_DSET1, ATT_DZERO, ATT_DFMA and
 *   ATT_DSTORE_F(p, v) (stores v rounded to floats), ATT_DLOAD_F(p) (loads floats widened),
 *   ATT_DSTORE(p, v).
 * The query rows are the lanes (see attention.h): every cell and head dimension is a scalar
 * broadcast against a vector of rows, so there are no horizontal sums and nothing to
 * transpose, and one converted K/V row serves all the rows of a work item. Each lane adds its
 * terms in a fixed order (d for q.k, cells for p.V), whatever the other lanes hold, so a row's
 * result does not depend on which rows share its item. */

#define ATT_CAT2(a, b) a##b
#define ATT_CAT(a, b) ATT_CAT2(a, b)
#define ATT_FN(name) ATT_CAT(name##_, ATT_SFX)

/* cells (q.k) or V columns (p.V) per register block: 8 accumulators cover the FMA latency */
#define ATT_NB 8

void ATT_FN(attn_qk)(float *s, const double *qt, int rq, int rp, const double *kd, int hdk,
                     int n) {
    for (int k = 0; k < n; k++)
        for (int r = rq; r < rp; r++)
            s[(size_t)k * rp + r] = 0.0f;
    for (int rv = 0; rv < rq; rv += ATT_DW) {
        int k = 0;
        for (; k + ATT_NB <= n; k += ATT_NB) {
            ATT_DVEC acc[ATT_NB];
#pragma GCC unroll 8
            for (int i = 0; i < ATT_NB; i++)
                acc[i] = ATT_DZERO();
            const double *kr = kd + (size_t)k * hdk;
            for (int d = 0; d < hdk; d++) {
                const ATT_DVEC q = ATT_DLOAD(qt + (size_t)d * rp + rv);
#pragma GCC unroll 8
                for (int i = 0; i < ATT_NB; i++)
                    acc[i] = ATT_DFMA(q, ATT_DSET1(kr[(size_t)i * hdk + d]), acc[i]);
            }
#pragma GCC unroll 8
            for (int i = 0; i < ATT_NB; i++)
                ATT_DSTORE_F(s + (size_t)(k + i) * rp + rv, acc[i]);
        }
        for (; k < n; k++) {
            ATT_DVEC acc = ATT_DZERO();
            const double *kr = kd + (size_t)k * hdk;
            for (int d = 0; d < hdk; d++)
                acc = ATT_DFMA(ATT_DLOAD(qt + (size_t)d * rp + rv), ATT_DSET1(kr[d]), acc);
            ATT_DSTORE_F(s + (size_t)k * rp + rv, acc);
        }
    }
}

void ATT_FN(attn_widen)(const float *x, double *y, int n) {
    int i = 0;
    for (; i + ATT_DW <= n; i += ATT_DW)
        ATT_DSTORE(y + i, ATT_DLOAD_F(x + i));
    for (; i < n; i++)
        y[i] = (double)x[i];
}

/* acc[j * rp + r] = the sum over the lane's cells m < n of p[m * rp + r] * vf[m * hdv + j], in m
 * order: one of ggml's 64 lanes, its cells stored contiguously (in L1 while every output
 * column and row block is accumulated in registers). */
static void ATT_FN(attn_lane)(float *acc, const float *p, int rp, const float *vf, int hdv, int n) {
    for (int rv = 0; rv < rp; rv += ATT_W) {
        int j = 0;
        for (; j + ATT_NB <= hdv; j += ATT_NB) {
            ATT_VEC a[ATT_NB];
#pragma GCC unroll 8
            for (int i = 0; i < ATT_NB; i++)
                a[i] = ATT_ZERO();
            for (int k = 0; k < n; k++) {
                const ATT_VEC pk = ATT_LOAD(p + (size_t)k * rp + rv);
                const float *vr = vf + (size_t)k * hdv + j;
#pragma GCC unroll 8
                for (int i = 0; i < ATT_NB; i++)
                    a[i] = ATT_FMA(pk, ATT_SET1(vr[i]), a[i]);
            }
#pragma GCC unroll 8
            for (int i = 0; i < ATT_NB; i++)
                ATT_STORE(acc + (size_t)(j + i) * rp + rv, a[i]);
        }
        for (; j < hdv; j++) {
            ATT_VEC a = ATT_ZERO();
            for (int k = 0; k < n; k++)
                a = ATT_FMA(ATT_LOAD(p + (size_t)k * rp + rv), ATT_SET1(vf[(size_t)k * hdv + j]), a);
            ATT_STORE(acc + (size_t)j * rp + rv, a);
        }
    }
}

/* dst[i] = (a[i] + c[i]) + (b[i] + d[i]) over m floats (m a multiple of ATT_W) */
static void ATT_FN(attn_add4)(float *dst, const float *a, const float *b, const float *c,
                              const float *d, size_t m) {
    for (size_t i = 0; i < m; i += ATT_W)
        ATT_STORE(dst + i, ATT_ADD(ATT_ADD(ATT_LOAD(a + i), ATT_LOAD(c + i)),
                                   ATT_ADD(ATT_LOAD(b + i), ATT_LOAD(d + i))));
}

/* dst[i] += a[i] over m floats */
static void ATT_FN(attn_add2)(float *dst, const float *a, size_t m) {
    for (size_t i = 0; i < m; i += ATT_W)
        ATT_STORE(dst + i, ATT_ADD(ATT_LOAD(dst + i), ATT_LOAD(a + i)));
}

/* Lanes l, l + 16, l + 32, l + 48 into scr, folded into fold[l]; then fold[0..15] pairwise
 * (i + 8, + 4, + 2, + 1) into ot. p and vf are lane-major: cell k = l + 64 m at row l * mm + m
 * (mm = (n + 63) / 64). scr: 20 * hdv * rp floats. */
void ATT_FN(attn_pv64)(float *ot, const float *p, int rp, const float *vf, int hdv, int n,
                       float *scr) {
    const size_t m = (size_t)hdv * rp, mm = (size_t)(n + 63) / 64;
    float *four = scr, *fold = scr + 4 * m;
    for (int l = 0; l < 16; l++) {
        for (int a = 0; a < 4; a++) {
            const int lane = l + 16 * a, cnt = lane < n ? (n - lane + 63) / 64 : 0;
            ATT_FN(attn_lane)(four + a * m, p + lane * mm * rp, rp, vf + lane * mm * hdv, hdv, cnt);
        }
        ATT_FN(attn_add4)(fold + l * m, four, four + m, four + 2 * m, four + 3 * m, m);
    }
    for (int o = 8; o >= 1; o /= 2)
        for (int l = 0; l < o; l++)
            ATT_FN(attn_add2)(fold + l * m, fold + (l + o) * m, m);
    memcpy(ot, fold, m * sizeof(float));
}

void ATT_FN(attn_pvd)(float *ot, const double *pd, int rq, int rp, const float *vf, int hdv,
                      int n) {
    for (int rv = 0; rv < rq; rv += ATT_DW) {
        int j = 0;
        for (; j + ATT_NB <= hdv; j += ATT_NB) {
            ATT_DVEC acc[ATT_NB];
#pragma GCC unroll 8
            for (int i = 0; i < ATT_NB; i++)
                acc[i] = ATT_DLOAD_F(ot + (size_t)(j + i) * rp + rv);
            for (int k = 0; k < n; k++) {
                const ATT_DVEC pk = ATT_DLOAD(pd + (size_t)k * rp + rv);
                const float *vr = vf + (size_t)k * hdv + j;
#pragma GCC unroll 8
                for (int i = 0; i < ATT_NB; i++)
                    acc[i] = ATT_DFMA(pk, ATT_DSET1((double)vr[i]), acc[i]);
            }
#pragma GCC unroll 8
            for (int i = 0; i < ATT_NB; i++)
                ATT_DSTORE_F(ot + (size_t)(j + i) * rp + rv, acc[i]);
        }
        for (; j < hdv; j++) {
            ATT_DVEC acc = ATT_DLOAD_F(ot + (size_t)j * rp + rv);
            for (int k = 0; k < n; k++)
                acc = ATT_DFMA(ATT_DLOAD(pd + (size_t)k * rp + rv),
                               ATT_DSET1((double)vf[(size_t)k * hdv + j]), acc);
            ATT_DSTORE_F(ot + (size_t)j * rp + rv, acc);
        }
    }
}

void ATT_FN(attn_scale_max)(float *s, int rp, int n, float scale, float *mx) {
    const ATT_VEC sc = ATT_SET1(scale);
    for (int rv = 0; rv < rp; rv += ATT_W) {
        ATT_VEC m = ATT_LOAD(mx + rv);
        for (int k = 0; k < n; k++) {
            float *sk = s + (size_t)k * rp + rv;
            const ATT_VEC x = ATT_MUL(ATT_LOAD(sk), sc);
            ATT_STORE(sk, x);
            m = ATT_MAX(m, x);
        }
        ATT_STORE(mx + rv, m);
    }
}

void ATT_FN(attn_sub)(float *s, int rp, int n, const float *mx) {
    for (int rv = 0; rv < rp; rv += ATT_W) {
        const ATT_VEC m = ATT_LOAD(mx + rv);
        for (int k = 0; k < n; k++) {
            float *sk = s + (size_t)k * rp + rv;
            ATT_STORE(sk, ATT_SUB(ATT_LOAD(sk), m));
        }
    }
}

void ATT_FN(attn_sum)(const float *s, int rp, int n, double *sum) {
    for (int rv = 0; rv < rp; rv += ATT_W) {
        for (int k0 = 0; k0 < n; k0 += 16) {
            /* 16 cells added pairwise, i + 8, + 4, + 2, + 1, as ggml's AVX-512 reduction */
            ATT_VEC t[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                t[i] = k0 + i < n ? ATT_LOAD(s + (size_t)(k0 + i) * rp + rv) : ATT_ZERO();
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                t[i] = ATT_ADD(t[i], t[i + 8]);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                t[i] = ATT_ADD(t[i], t[i + 4]);
            t[0] = ATT_ADD(ATT_ADD(t[0], t[2]), ATT_ADD(t[1], t[3]));
            float pf[ATT_W];
            ATT_STORE(pf, t[0]);
            for (int i = 0; i < ATT_W; i++)
                sum[rv + i] += (double)pf[i];
        }
    }
}

void ATT_FN(attn_mul)(float *s, int rp, int n, const float *f) {
    for (int rv = 0; rv < rp; rv += ATT_W) {
        const ATT_VEC m = ATT_LOAD(f + rv);
        for (int k = 0; k < n; k++) {
            float *sk = s + (size_t)k * rp + rv;
            ATT_STORE(sk, ATT_MUL(ATT_LOAD(sk), m));
        }
    }
}

#undef ATT_NB
#undef ATT_FN
#undef ATT_CAT
#undef ATT_CAT2
