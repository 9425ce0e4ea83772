/* attn_kernels.h — the tiled attention kernels, written once over a vector abstraction and
 * built per ISA: attention.c (ref: 4 lanes of GCC vector extensions, any target),
 * attn_avx2.c (8 lanes, AVX2+FMA) and attn_avx512.c (16 lanes, AVX-512F). No include guard:
 * each including file first defines
 *   ATT_SFX, ATT_VEC (the vector type), ATT_W (its lanes), ATT_LOAD(p), ATT_STORE(p, v),
 *   ATT_SET1(x), ATT_ZERO(), ATT_FMA(a, b, c) (a * b + c), ATT_MUL, ATT_SUB, ATT_ADD, ATT_MAX,
 *   and for doubles ATT_DVEC, ATT_DW, ATT_DLOAD, ATT_DSET1, ATT_DZERO, ATT_DFMA and
 *   ATT_DSTORE_F(p, v) (stores v rounded to floats), ATT_DLOAD_F(p) (loads floats widened).
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
    for (int i = 0; i < n; i++)
        y[i] = (double)x[i];
}

/* One output column block: lanes[l * ATT_NB + i] = the sum over k = l, l + 64, ... < n of
 * p[k] * v[k][j + i] (in k order), then folded as ggml folds its 64 partial sums. */
void ATT_FN(attn_pv64)(float *ot, const float *p, int rp, const float *vf, int hdv, int n) {
    ATT_VEC lanes[64 * ATT_NB];
    for (int rv = 0; rv < rp; rv += ATT_W) {
        for (int j = 0; j < hdv; j += ATT_NB) {
            const int nj = hdv - j < ATT_NB ? hdv - j : ATT_NB;
            for (int l = 0; l < 64; l++) {
                ATT_VEC acc[ATT_NB];
#pragma GCC unroll 8
                for (int i = 0; i < ATT_NB; i++)
                    acc[i] = ATT_ZERO();
                if (nj == ATT_NB) {
                    for (int k = l; k < n; k += 64) {
                        const ATT_VEC pk = ATT_LOAD(p + (size_t)k * rp + rv);
                        const float *vr = vf + (size_t)k * hdv + j;
#pragma GCC unroll 8
                        for (int i = 0; i < ATT_NB; i++)
                            acc[i] = ATT_FMA(pk, ATT_SET1(vr[i]), acc[i]);
                    }
                } else {
                    for (int k = l; k < n; k += 64) {
                        const ATT_VEC pk = ATT_LOAD(p + (size_t)k * rp + rv);
                        const float *vr = vf + (size_t)k * hdv + j;
                        for (int i = 0; i < nj; i++)
                            acc[i] = ATT_FMA(pk, ATT_SET1(vr[i]), acc[i]);
                    }
                }
#pragma GCC unroll 8
                for (int i = 0; i < ATT_NB; i++)
                    lanes[l * ATT_NB + i] = acc[i];
            }
            for (int i = 0; i < nj; i++) {
                ATT_VEC f[16];
#pragma GCC unroll 16
                for (int l = 0; l < 16; l++)
                    f[l] = ATT_ADD(ATT_ADD(lanes[l * ATT_NB + i], lanes[(l + 32) * ATT_NB + i]),
                                   ATT_ADD(lanes[(l + 16) * ATT_NB + i],
                                           lanes[(l + 48) * ATT_NB + i]));
#pragma GCC unroll 8
                for (int l = 0; l < 8; l++)
                    f[l] = ATT_ADD(f[l], f[l + 8]);
#pragma GCC unroll 4
                for (int l = 0; l < 4; l++)
                    f[l] = ATT_ADD(f[l], f[l + 4]);
                f[0] = ATT_ADD(ATT_ADD(f[0], f[2]), ATT_ADD(f[1], f[3]));
                ATT_STORE(ot + (size_t)(j + i) * rp + rv, f[0]);
            }
        }
    }
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
