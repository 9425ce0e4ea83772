/* blocks.h — the GGUF (ggml) quantized block layouts, bit for bit.
 *
 * These are the byte layouts that real GGUF files store, so every field order, width and the
 * packing of the nibbles/bits below must match ggml exactly. All multi-byte fields are
 * little-endian (hearth only targets little-endian hosts). Halves (fp16) are stored as raw
 * uint16_t and converted with tensor_fp16_to_fp32.
 *
 * Internal to the tensor module: other modules learn sizes through tensor_traits_of().
 *
 * Element order inside a block (the part that is easy to get wrong):
 *   Q4_0/Q4_1/Q5_x: element j (0..15) is the LOW nibble of qs[j], element j+16 the HIGH nibble.
 *   Q5_x: the 5th bit of element j is bit j of the little-endian uint32 qh.
 *   K-quants: 256 elements in sub-blocks; see the comments on each struct. */
#ifndef HEARTH_TENSOR_BLOCKS_H
#define HEARTH_TENSOR_BLOCKS_H

#include <assert.h>
#include <stdint.h>

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12 /* bytes of packed 6-bit scales+mins in Q4_K/Q5_K */

/* x[j] = (q[j] - 8) * d, q in 0..15 */
typedef struct {
    uint16_t d;            /* fp16 scale */
    uint8_t qs[QK4_0 / 2]; /* nibbles: low = element j, high = element j+16 */
} block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");

/* x[j] = q[j] * d + m, q in 0..15 */
typedef struct {
    uint16_t d; /* fp16 scale */
    uint16_t m; /* fp16 minimum (added) */
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");

/* x[j] = (q[j] - 16) * d, q in 0..31: low 4 bits in qs (as Q4_0), 5th bit in qh */
typedef struct {
    uint16_t d;
    uint8_t qh[4]; /* little-endian uint32: bit j = 5th bit of element j */
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");

/* x[j] = q[j] * d + m, q in 0..31 */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");

/* x[j] = qs[j] * d */
typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");

/* Q8_0 plus s = d * sum(qs): the activation format for Q4_1/Q5_1, whose minimum term
 * m * sum(y) needs the block sum. */
typedef struct {
    uint16_t d;
    uint16_t s; /* fp16 of d * sum(qs) */
    int8_t qs[QK8_1];
} block_q8_1;
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 layout");

/* Q2_K: 16 sub-blocks of 16; x = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3.
 * qs: 2 bits per element; for each 128-element half h, byte qs[32h + l] holds elements
 * 128h + l + 32*k in bits 2k..2k+1 (k = 0..3). */
typedef struct {
    uint8_t scales[QK_K / 16]; /* low nibble: scale, high nibble: min */
    uint8_t qs[QK_K / 4];
    uint16_t d;    /* fp16 super-block scale for the scales */
    uint16_t dmin; /* fp16 super-block scale for the mins */
} block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");

/* Q3_K: 16 sub-blocks of 16; x = d * (sc - 32) * (q - (hbit ? 0 : 4)), q's low 2 bits as Q2_K,
 * hmask bit k of hmask[l] is the high bit of element 32k + l. sc: 6-bit, packed in 12 bytes. */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");

/* Q4_K: 8 sub-blocks of 32; x = d * sc[j] * q - dmin * m[j], q in 0..15, sc/m 6-bit.
 * qs: for each 64-element chunk c, qs[32c + l] holds element 64c + l (low nibble) and
 * 64c + 32 + l (high nibble). scales: see tensor_k4_scale_min. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");

/* Q5_K: as Q4_K with a 5th bit: element 64c + l has its high bit in qh[l] bit 2c, element
 * 64c + 32 + l in qh[l] bit 2c+1. q in 0..31. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");

/* Q6_K: 16 sub-blocks of 16; x = d * scales[k] * (q - 32), q in 0..63, scales int8.
 * For each 128-element half h (ql += 64h, qh += 32h), l in 0..31:
 *   element 128h + l      : ql[l] low nibble,     qh[l] bits 0-1
 *   element 128h + l + 32 : ql[l + 32] low nibble, qh[l] bits 2-3
 *   element 128h + l + 64 : ql[l] high nibble,    qh[l] bits 4-5
 *   element 128h + l + 96 : ql[l + 32] high nibble, qh[l] bits 6-7 */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");

/* Q8_K: the activation format of the K-quants; x = d * qs, bsums[k] = sum of qs[16k..16k+15]
 * (lets the K-quant dots apply their per-sub-block minimums without touching qs). */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block. The 12 bytes hold:
 *   bytes 0-3 : low 6 bits = scale j (j < 4);   top 2 bits = bits 4-5 of scale j+4
 *   bytes 4-7 : low 6 bits = min j   (j < 4);   top 2 bits = bits 4-5 of min j+4
 *   bytes 8-11: low nibble = low 4 bits of scale j+4, high nibble = low 4 bits of min j+4 */
static inline void tensor_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* ---- Non-linear and ternary formats (llama.cpp's i-quants, TQ*, MXFP4) ---- */

#define QK4_NL 32
#define QK_MXFP4 32

/* The 16 levels of IQ4_NL/IQ4_XS (a non-uniform grid, denser near zero): x = d * kvalues[q]. */
static const int8_t tensor_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                               1,    13,   25,  38,  53,  69,  89,  113};

/* IQ4_NL: 32 elements, x[j] = d * tensor_iq4nl_values[q[j]]; nibbles ordered as Q4_0's. */
typedef struct {
    uint16_t d;
    uint8_t qs[QK4_NL / 2];
} block_iq4_nl;
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl layout");

/* IQ4_XS: 8 sub-blocks of 32 with 6-bit scales ls (stored + 32): x = d * (ls - 32) * values[q].
 * Sub-block ib: low 4 bits of ls = nibble ib % 2 of scales_l[ib / 2] (low nibble first), high 2
 * bits = bits 2ib..2ib+1 of scales_h. qs: 16 bytes per sub-block, nibbles ordered as Q4_0's. */
typedef struct {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs layout");

/* TQ1_0 (ternary, 1.69 bits): x = d * (t - 1), trit t in 0..2. Five trits per qs byte, four per
 * qh byte, stored as the fixed-point fraction ceil(T * 256 / 243) of the base-3 number T (first
 * trit most significant); trit n of byte b is ((uint8_t)(b * 3^n) * 3) >> 8. Elements:
 *   qs[m] (m < 32), trit n:        element 32n + m        (0..159)
 *   qs[32 + m] (m < 16), trit n:   element 160 + 16n + m  (160..239)
 *   qh[j] (j < 4), trit n (< 4):   element 240 + 4n + j   (240..255) */
typedef struct {
    uint8_t qs[48];
    uint8_t qh[4];
    uint16_t d;
} block_tq1_0;
static_assert(sizeof(block_tq1_0) == 54, "block_tq1_0 layout");

/* TQ2_0 (ternary, 2.06 bits): x = d * (q - 1), q in 0..2 (3 unused); element 128c + 32l + m is
 * bits 2l..2l+1 of qs[32c + m]. */
typedef struct {
    uint8_t qs[QK_K / 4];
    uint16_t d;
} block_tq2_0;
static_assert(sizeof(block_tq2_0) == 66, "block_tq2_0 layout");

/* MXFP4 (OCP microscaling FP4): 32 E2M1 values sharing one E8M0 exponent e. Levels are kept
 * doubled so they are integers: x[j] = tensor_mxfp4_values[q[j]] * 2^(e - 128), i.e. the E2M1
 * value {0, .5, 1, 1.5, 2, 3, 4, 6} (bit 3: sign) times 2^(e - 127). Nibbles ordered as Q4_0's. */
static const int8_t tensor_mxfp4_values[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                               0, -1, -2, -3, -4, -6, -8, -12};
typedef struct {
    uint8_t e;
    uint8_t qs[QK_MXFP4 / 2];
} block_mxfp4;
static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4 layout");

/* IQ3_S (3.44 bits): 8 sub-blocks of 32, each 8 codebook points of 4 magnitudes (odd 1..15).
 * Sub-block ib, point g (elements 32ib + 4g .. +3): index qs[8ib + g] | bit g of qh[ib] << 8 into
 * tensor_iq3s_grid (byte j of the entry is element 4g + j); element e of the sub-block is negated
 * when bit e % 8 of signs[4ib + e / 8] is set; x = d * (1 + 2 * s) * that, s = nibble ib % 2 of
 * scales[ib / 2] (low first). */
typedef struct {
    uint16_t d;
    uint8_t qs[QK_K / 4];
    uint8_t qh[QK_K / 32];
    uint8_t signs[QK_K / 8];
    uint8_t scales[QK_K / 64];
} block_iq3_s;
static_assert(sizeof(block_iq3_s) == 110, "block_iq3_s layout");

/* ---- The importance-matrix i-quants (llama-quantize makes them only with --imatrix) ----
 * All are 8 sub-blocks of 32 built from codebook points (iq_grids.c) of 8 (IQ3_XXS: 4)
 * elements. A "sign index" is 7 bits s; its sign byte is tensor_iq_ksigns[s] = s | parity << 7
 * (the 8th sign makes the count of negated elements even); bit j of a sign byte negates element j
 * of its 8-element group. Values below are exact as integers times a power of two; hearth's
 * dots compute the integer sum exactly (quant_iq.c). */

/* IQ2_XXS (2.06 bits): sub-block ib uses the two little-endian uint32 a = qs[4ib..4ib+1],
 * b = qs[4ib+2..4ib+3]: byte l of a indexes tensor_iq2xxs_grid for group l (elements 8l..8l+7),
 * bits 7l..7l+6 of b are its sign index, b >> 28 = ls: x = d * (2 ls + 1) / 8 * grid * sign. */
typedef struct {
    uint16_t d;
    uint16_t qs[QK_K / 8];
} block_iq2_xxs;
static_assert(sizeof(block_iq2_xxs) == 66, "block_iq2_xxs layout");

/* IQ2_XS (2.31 bits): qs[4ib + l]: low 9 bits index tensor_iq2xs_grid for group l of sub-block ib,
 * high 7 bits its sign index; scales[ib]: low nibble ls for groups 0-1, high nibble for 2-3:
 * x = d * (2 ls + 1) / 8 * grid * sign. */
typedef struct {
    uint16_t d;
    uint16_t qs[QK_K / 8];
    uint8_t scales[QK_K / 32];
} block_iq2_xs;
static_assert(sizeof(block_iq2_xs) == 74, "block_iq2_xs layout");

/* IQ2_S (2.56 bits): group l of sub-block ib: index qs[4ib + l] | bits 2l..2l+1 of qh[ib] << 8
 * into tensor_iq2s_grid; its 8 sign bits are qs[32 + 4ib + l] as they are (no parity); scales as
 * IQ2_XS: x = d * (2 ls + 1) / 8 * grid * sign. */
typedef struct {
    uint16_t d;
    uint8_t qs[QK_K / 4]; /* 32 index bytes, then 32 sign bytes */
    uint8_t qh[QK_K / 32];
    uint8_t scales[QK_K / 32];
} block_iq2_s;
static_assert(sizeof(block_iq2_s) == 82, "block_iq2_s layout");

/* IQ3_XXS (3.06 bits): qs[0..63]: one tensor_iq3xxs_grid index per 4 elements (element order);
 * qs[64 + 4ib..] is a little-endian uint32 per sub-block: bits 7l..7l+6 the sign index of group l
 * (elements 8l..8l+7), bits 28-31 ls: x = d * (2 ls + 1) / 4 * grid * sign. */
typedef struct {
    uint16_t d;
    uint8_t qs[3 * QK_K / 8];
} block_iq3_xxs;
static_assert(sizeof(block_iq3_xxs) == 98, "block_iq3_xxs layout");

/* IQ1_S (1.56 bits): group l of sub-block ib: index qs[4ib + l] | bits 3l..3l+2 of qh[ib] << 8
 * into tensor_iq1s_grid (values -1, 0, 1); bits 12-14 of qh[ib] are s, bit 15 the sign of the
 * shift: x = d * (2 s + 1) * (g + delta), delta = -1/8 if bit 15 else 1/8,
 * i.e. d * (2 s + 1) / 8 * (8 g +- 1). */
typedef struct {
    uint16_t d;
    uint8_t qs[QK_K / 8];
    uint16_t qh[QK_K / 32];
} block_iq1_s;
static_assert(sizeof(block_iq1_s) == 50, "block_iq1_s layout");

/* IQ1_M (1.75 bits): no d field: the fp16 d is the top nibbles of the four little-endian uint16
 * words of scales (word k gives bits 4k..4k+3). Group l of sub-block ib: index qs[4ib + l] | bits
 * 4(l%2)..4(l%2)+2 of qh[2ib + l/2] << 8 into tensor_iq1s_grid, bit 4(l%2)+3 its shift sign;
 * 3-bit s: word ib/2 of scales, bits 6(ib%2)..+2 for groups 0-1, 6(ib%2)+3..+5 for groups 2-3:
 * x = d * (2 s + 1) / 8 * (8 g +- 1) as IQ1_S. */
typedef struct {
    uint8_t qs[QK_K / 8];
    uint8_t qh[QK_K / 16];
    uint8_t scales[QK_K / 32];
} block_iq1_m;
static_assert(sizeof(block_iq1_m) == 56, "block_iq1_m layout");

/* 2^(e - 128) exactly (E8M0 halved, as the doubled levels need): e = 0, 1 are subnormal. */
static inline float tensor_e8m0_half(uint8_t e) {
    union {
        uint32_t u;
        float f;
    } v;
    v.u = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    return v.f;
}

#endif
