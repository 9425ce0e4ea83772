/* quant_iq.c — scalar references of the importance-matrix i-quants (IQ2_XXS, IQ2_XS, IQ2_S,
 * IQ3_XXS, IQ1_S, IQ1_M): dequantizers and dots against Q8_K. No quantizers: llama-quantize only
 * makes these with an importance matrix, which hearth quantize does not take (quantize.c refuses
 * them); hearth reads and runs the files llama.cpp writes.
 *
 * Layouts: blocks.h; codebooks: iq_grids.c. Every type is read the same way: for sub-block ib
 * (32 elements) an unpacker gives the 32 signed integers v (codebook magnitude times sign; for
 * IQ1_S/IQ1_M 8 g +- 1, the grid value with its 1/8 shift scaled by 8) and the two integer
 * scales of its halves (elements 0-15, 16-31; equal where the format has one per sub-block).
 * The element is x = d * scale * v * F with F a power of two (IQ3_XXS 1/4, the others 1/8).
 *
 * Dots follow dot_ref.c's contract: per block the exact int32 sum of scale * v * y (at most
 * 256 * 31 * 62 * 127 < 2^31), then one float statement (float)isum * (d * dy) per block,
 * accumulated in block order, times F at the end (a power of two: exact unless subnormal). The
 * AVX2/AVX-512 dots reproduce them bit for bit (test_kernels). */
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/tensor_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static float fp16(uint16_t h) { return tensor_fp16_to_fp32(h); }

static inline uint32_t le32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 8 elements: the bytes of a codebook entry (unsigned magnitudes), negated per bit of sign */
static inline void put8(int *v, uint64_t entry, uint8_t sign) {
    for (int j = 0; j < 8; j++) {
        const int m = (int)((entry >> (8 * j)) & 0xFF);
        v[j] = (sign >> j) & 1 ? -m : m;
    }
}

/* IQ1: 8 g + delta for the 8 signed grid values g of entry (delta = +-1) */
static inline void put8_iq1(int *v, uint64_t entry, int delta) {
    for (int j = 0; j < 8; j++)
        v[j] = 8 * (int)(int8_t)((entry >> (8 * j)) & 0xFF) + delta;
}

/* ---- the unpackers: sub-block ib of block x -> v[32], sc[2] ---- */

static void iq2_xxs_unpack(const void *vx, int ib, int *v, int *sc) {
    const block_iq2_xxs *x = vx;
    const uint32_t a = le32(x->qs + 4 * ib), b = le32(x->qs + 4 * ib + 2);
    for (int l = 0; l < 4; l++)
        put8(v + 8 * l, tensor_iq2xxs_grid[(a >> (8 * l)) & 0xFF],
             tensor_iq_ksigns[(b >> (7 * l)) & 127]);
    sc[0] = sc[1] = 2 * (int)(b >> 28) + 1;
}

static void iq2_xs_unpack(const void *vx, int ib, int *v, int *sc) {
    const block_iq2_xs *x = vx;
    for (int l = 0; l < 4; l++) {
        const uint16_t q = x->qs[4 * ib + l];
        put8(v + 8 * l, tensor_iq2xs_grid[q & 511], tensor_iq_ksigns[q >> 9]);
    }
    sc[0] = 2 * (x->scales[ib] & 0xF) + 1;
    sc[1] = 2 * (x->scales[ib] >> 4) + 1;
}

static void iq2_s_unpack(const void *vx, int ib, int *v, int *sc) {
    const block_iq2_s *x = vx;
    for (int l = 0; l < 4; l++) {
        const int idx = x->qs[4 * ib + l] | (((x->qh[ib] >> (2 * l)) & 3) << 8);
        put8(v + 8 * l, tensor_iq2s_grid[idx], x->qs[32 + 4 * ib + l]);
    }
    sc[0] = 2 * (x->scales[ib] & 0xF) + 1;
    sc[1] = 2 * (x->scales[ib] >> 4) + 1;
}

static void iq3_xxs_unpack(const void *vx, int ib, int *v, int *sc) {
    const block_iq3_xxs *x = vx;
    const uint32_t ss = le32(x->qs + 64 + 4 * ib);
    for (int l = 0; l < 4; l++) {
        const uint64_t entry = tensor_iq3xxs_grid[x->qs[8 * ib + 2 * l]] |
                               (uint64_t)tensor_iq3xxs_grid[x->qs[8 * ib + 2 * l + 1]] << 32;
        put8(v + 8 * l, entry, tensor_iq_ksigns[(ss >> (7 * l)) & 127]);
    }
    sc[0] = sc[1] = 2 * (int)(ss >> 28) + 1;
}

static void iq1_s_unpack(const void *vx, int ib, int *v, int *sc) {
    const block_iq1_s *x = vx;
    const uint16_t qh = x->qh[ib];
    const int delta = qh & 0x8000 ? -1 : 1;
    for (int l = 0; l < 4; l++)
        put8_iq1(v + 8 * l, tensor_iq1s_grid[x->qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)],
                 delta);
    sc[0] = sc[1] = 2 * ((qh >> 12) & 7) + 1;
}

static void iq1_m_unpack(const void *vx, int ib, int *v, int *sc) {
    const block_iq1_m *x = vx;
    for (int l = 0; l < 4; l++) {
        const int h = (x->qh[2 * ib + l / 2] >> (4 * (l % 2))) & 0xF;
        put8_iq1(v + 8 * l, tensor_iq1s_grid[x->qs[4 * ib + l] | ((h & 7) << 8)], h & 8 ? -1 : 1);
    }
    const int w = x->scales[2 * (ib / 2)] | x->scales[2 * (ib / 2) + 1] << 8;
    sc[0] = 2 * ((w >> (6 * (ib % 2))) & 7) + 1;
    sc[1] = 2 * ((w >> (6 * (ib % 2) + 3)) & 7) + 1;
}

/* ---- the block scale d ---- */

static float iq_d_first(const void *vx) { /* every type but IQ1_M starts with its fp16 d */
    uint16_t d;
    memcpy(&d, vx, 2);
    return fp16(d);
}

uint16_t tensor_iq1_m_d(const void *vx) {
    const uint8_t *s = ((const block_iq1_m *)vx)->scales;
    return (uint16_t)((s[1] >> 4) | (s[3] & 0xF0) | (s[5] >> 4) << 8 | (s[7] & 0xF0) << 8);
}

static float iq1_m_d(const void *vx) { return fp16(tensor_iq1_m_d(vx)); }

typedef struct {
    size_t size; /* block bytes */
    void (*unpack)(const void *x, int ib, int *v, int *sc);
    float (*d)(const void *x);
    float f; /* F: 1/8 or 1/4 */
} iq_format;

static const iq_format f_iq2_xxs = {sizeof(block_iq2_xxs), iq2_xxs_unpack, iq_d_first, 0.125f};
static const iq_format f_iq2_xs = {sizeof(block_iq2_xs), iq2_xs_unpack, iq_d_first, 0.125f};
static const iq_format f_iq2_s = {sizeof(block_iq2_s), iq2_s_unpack, iq_d_first, 0.125f};
static const iq_format f_iq3_xxs = {sizeof(block_iq3_xxs), iq3_xxs_unpack, iq_d_first, 0.25f};
static const iq_format f_iq1_s = {sizeof(block_iq1_s), iq1_s_unpack, iq_d_first, 0.125f};
static const iq_format f_iq1_m = {sizeof(block_iq1_m), iq1_m_unpack, iq1_m_d, 0.125f};

static void iq_to_float(const iq_format *f, const void *vx, float *y, int64_t n) {
    const uint8_t *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++, x += f->size) {
        const float d = f->d(x);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            int v[32], sc[2];
            f->unpack(x, ib, v, sc);
            for (int h = 0; h < 2; h++) {
                const float dl = d * (float)sc[h] * f->f;
                for (int e = 16 * h; e < 16 * h + 16; e++)
                    y[e] = dl * (float)v[e];
            }
        }
    }
}

static void iq_dot(const iq_format *f, int64_t n, float *s, const void *vx, const void *vy) {
    const uint8_t *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++, x += f->size) {
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            int v[32], sc[2];
            f->unpack(x, ib, v, sc);
            for (int h = 0; h < 2; h++) {
                int sub = 0;
                for (int e = 16 * h; e < 16 * h + 16; e++)
                    sub += v[e] * y[b].qs[32 * ib + e];
                isum += sc[h] * sub;
            }
        }
        sumf += (float)isum * (f->d(x) * y[b].d);
    }
    *s = sumf * f->f;
}

#define IQ_KERNELS(NAME)                                                                           \
    void tensor_ref_##NAME##_to_float(const void *x, float *y, int64_t n) {                        \
        iq_to_float(&f_##NAME, x, y, n);                                                           \
    }                                                                                              \
    void tensor_ref_dot_##NAME##_q8_K(int64_t n, float *s, const void *x, const void *y) {         \
        iq_dot(&f_##NAME, n, s, x, y);                                                             \
    }

IQ_KERNELS(iq2_xxs)
IQ_KERNELS(iq2_xs)
IQ_KERNELS(iq2_s)
IQ_KERNELS(iq3_xxs)
IQ_KERNELS(iq1_s)
IQ_KERNELS(iq1_m)
