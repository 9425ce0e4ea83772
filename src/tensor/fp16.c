/* fp16.c — IEEE binary16 and bfloat16 <-> binary32 conversions, in plain integer code.
 *
 * Exact in both directions: widening is lossless; narrowing rounds to nearest, ties to even,
 * overflows to infinity, produces subnormals (and zero) below the smallest normal, and keeps
 * NaNs NaN (quietened, sign and top payload bits kept). No F16C: this is the reference the
 * SIMD paths must agree with. */
#include <math.h>
#include <string.h>

#include "tensor/tensor.h"

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float tensor_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exactly representable in binary32 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) { /* inf, or NaN: payload kept, made quiet as IEEE (and F16C) convert it */
        return f32_from_bits(sign | 0x7F800000u | (mant << 13) | (mant ? 0x400000u : 0));
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13)); /* rebias 15 -> 127 */
}

uint16_t tensor_fp32_to_fp16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7FFFFFFFu;
    if (x >= 0x7F800000u) { /* inf or NaN */
        if (x == 0x7F800000u) return sign | 0x7C00;
        return (uint16_t)(sign | 0x7E00 | ((x >> 13) & 0x3FF)); /* quiet bit set: stays NaN */
    }
    /* 65520 = 0x477FF000 is halfway between 65504 (max half) and 65536: ties-to-even goes up */
    if (x >= 0x477FF000u) return sign | 0x7C00;
    if (x < 0x38800000u) {
        /* below 2^-14: the half is a subnormal k * 2^-24. |f| * 2^24 is exact (power-of-two
         * scaling of a value far from overflow); nearbyintf rounds it ties-to-even. k may
         * round up to 1024, which is exactly the encoding of the smallest normal. */
        float k = nearbyintf(f32_from_bits(x) * 0x1p24f);
        return (uint16_t)(sign | (uint16_t)k);
    }
    /* normal: drop 13 mantissa bits, rounding to nearest even; a carry out of the mantissa
     * correctly bumps the exponent */
    uint32_t r = x + 0xFFFu + ((x >> 13) & 1u);
    return (uint16_t)(sign | ((r - (112u << 23)) >> 13));
}

float tensor_bf16_to_fp32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t tensor_fp32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    /* round to nearest even on the 16 dropped bits; large finite values round to inf */
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}
