/* gemm_float_body.h — the float-weight kernel (F16/BF16 rows against F32 activations) written
 * once for every vector width; gemm_float_avx512.c and gemm_float_avx2.c include it after
 * defining:
 *   VF, VL          the float vector type and its lane count
 *   FR, FT, TB      rows and tokens per register block, tokens per pass over the rows
 *   VF_ZERO(), VF_LOADX(p), VF_FMA(a, b, c) (fused), VF_REDUCE(v) (lanes summed in a fixed tree)
 *   VF_LOADW(k, p)  VL weights at p (uint16_t) widened exactly to f32 (k: W_F16 or W_BF16)
 *   GEMMF_SHAPES    GEMMF_SHAPE(R, T) for every R in 1..FR and T in 1..FT
 * and then GEMMF_DEFINE(isa) to define tensor_<isa>_gemmf_f16 and tensor_<isa>_gemmf_bf16.
 * The arithmetic contract is the including file's: lane l of (row, token) sums w[i] * x[i] for
 * i = l mod VL in increasing i, fused; a row's tail (n % VL elements) goes through zero-padded
 * copies, exactly as if the row were zero-padded; then VF_REDUCE. */

typedef enum { W_F16, W_BF16 } wkind;

/* One block of R rows × T tokens (compile-time constants once inlined, so acc lives in
 * registers). pf: the next row block, prefetched over this block's steps (NULL: none). */
static inline __attribute__((always_inline)) void
block(wkind k, int R, int T, int64_t n, const uint8_t *w, size_t w_row, const float *x,
      int64_t ldx, float *y, int64_t ldy, const char *pf) {
    VF acc[FR][FT];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++)
            acc[r][t] = VF_ZERO();
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        if (pf) /* the next block, R rows of 2n bytes, over this block's n / VL steps */
#pragma GCC unroll 4
            for (int l = 0; l < (2 * R * VL + 63) / 64; l++)
                _mm_prefetch(pf + 2 * R * i + 64 * l, _MM_HINT_T0);
        VF wv[FR];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = VF_LOADW(k, (const uint16_t *)(const void *)(w + (size_t)r * w_row) + i);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            const VF xv = VF_LOADX(x + (int64_t)t * ldx + i);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][t] = VF_FMA(wv[r], xv, acc[r][t]);
        }
    }
    if (i < n) {
        const int left = (int)(n - i);
        VF wv[FR];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            uint16_t pad[VL] = {0};
            memcpy(pad, (const uint16_t *)(const void *)(w + (size_t)r * w_row) + i,
                   (size_t)left * sizeof *pad);
            wv[r] = VF_LOADW(k, pad);
        }
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            float pad[VL] = {0};
            memcpy(pad, x + (int64_t)t * ldx + i, (size_t)left * sizeof *pad);
            const VF xv = VF_LOADX(pad);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][t] = VF_FMA(wv[r], xv, acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < T; t++)
            y[(int64_t)t * ldy + r] = VF_REDUCE(acc[r][t]);
}

/* The block for R × T known only at run time: one instantiation per shape (T < 8). */
#define GEMMF_SHAPE(R, T)                                                                          \
    case (R) * 8 + (T):                                                                            \
        block(k, R, T, n, w, w_row, x, ldx, y, ldy, pf);                                           \
        return;

static inline __attribute__((always_inline)) void
block_any(wkind k, int R, int T, int64_t n, const uint8_t *w, size_t w_row, const float *x,
          int64_t ldx, float *y, int64_t ldy, const char *pf) {
    switch (R * 8 + T) {
        GEMMF_SHAPES
    default: __builtin_unreachable();
    }
}

static inline __attribute__((always_inline)) void
gemm_float(wkind k, int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy, const void *vw,
           size_t w_row, const float *x, int64_t ldx) {
    const uint8_t *w = vw;
    for (int t0 = 0; t0 < n_tok; t0 += TB) {
        const int t1 = t0 + TB < n_tok ? t0 + TB : n_tok;
        for (int r0 = 0; r0 < n_rows; r0 += FR) {
            const int R = n_rows - r0 < FR ? n_rows - r0 : FR;
            for (int t = t0; t < t1; t += FT) {
                const int T = t1 - t < FT ? t1 - t : FT;
                /* the first pass over a row block also prefetches the next one: F16 rows of
                 * 2048 are exactly one 4 KB page each, and the hardware prefetchers do not
                 * follow several page-sized streams from DRAM */
                const char *pf = t == t0 && r0 + FR < n_rows
                                     ? (const char *)(w + (size_t)(r0 + FR) * w_row)
                                     : NULL;
                block_any(k, R, T, n_in, w + (size_t)r0 * w_row, w_row, x + (int64_t)t * ldx, ldx,
                          y + (int64_t)t * ldy + r0, ldy, pf);
            }
        }
    }
}

/* The two entry points of an ISA (tensor_internal.h). */
#define GEMMF_DEFINE(isa)                                                                          \
    void tensor_##isa##_gemmf_f16(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,     \
                                  const void *w, size_t w_row, const float *x, int64_t ldx) {     \
        gemm_float(W_F16, n_in, n_rows, n_tok, y, ldy, w, w_row, x, ldx);                          \
    }                                                                                              \
    void tensor_##isa##_gemmf_bf16(int64_t n_in, int n_rows, int n_tok, float *y, int64_t ldy,    \
                                   const void *w, size_t w_row, const float *x, int64_t ldx) {    \
        gemm_float(W_BF16, n_in, n_rows, n_tok, y, ldy, w, w_row, x, ldx);                         \
    }
