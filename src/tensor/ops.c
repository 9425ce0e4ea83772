/* ops.c — scalar reference of the elementwise ops (see ops.h). */
#include "tensor/ops.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "base/cpu.h"
#include "tensor/tensor.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

void op_rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    // x (n,) -> out (n,)
    /* As ggml computes it (llama.cpp's reference outputs): float squares summed in double (rows
     * reach 8k elements and the sum must not lose the tail), the mean rounded to float, then
     * 1/sqrtf in float. The order of x * scale * w is ggml's too (rms_norm, then mul). */
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)(x[i] * x[i]);
    float mean = (float)(ss / n);
    float scale = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

void op_layernorm(float *out, const float *x, const float *w, const float *b, int n, float eps) {
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)x[i];
    float mean = (float)(sum / n);
    double ss = 0.0;
    for (int i = 0; i < n; i++) {
        float d = x[i] - mean;
        ss += (double)(d * d);
    }
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) {
        float v = (x[i] - mean) * scale * w[i];
        out[i] = b ? v + b[i] : v;
    }
}

/* GELU of one f16 input value h, rounded to f16: the table's entry. */
static float gelu_f16(float h) {
    const float c = 0.79788456080286535587989211986876f; /* sqrt(2 / pi) */
    float g = 0.5f * h * (1.0f + tanhf(c * h * (1.0f + 0.044715f * h * h)));
    return tensor_fp16_to_fp32(tensor_fp32_to_fp16(g));
}

/* Every f16 input's result (as ggml's ggml_table_gelu_f16): the function only ever sees the
 * 65,536 f16 values, so a table gives exactly what computing it each time gives (tanhf per
 * element was half of a BERT pass). Filled once (pthread_once: pool threads may call first). */
static float gelu_table[1 << 16];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_fill(void) {
    for (uint32_t i = 0; i < (1u << 16); i++)
        gelu_table[i] = gelu_f16(tensor_fp16_to_fp32((uint16_t)i));
}

static const float *gelu_lookup(void) {
    pthread_once(&gelu_once, gelu_fill);
    return gelu_table;
}

void op_gelu(float *x, int n) {
    const float *t = gelu_lookup();
    for (int i = 0; i < n; i++) {
        float v = x[i];
        if (v <= -10.0f)
            x[i] = 0.0f;
        else if (v < 10.0f)
            x[i] = t[tensor_fp32_to_fp16(v)];
    }
}

void op_add(float *x, const float *y, int n) {
    for (int i = 0; i < n; i++)
        x[i] += y[i];
}

void op_silu(float *x, int n) {
    for (int i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

/* The body of op_expf_ggml; FMA is fmaf, or the instruction in fma-targeted copies. */
static inline float expf_ggml_body(float x) {
    /* 2^n * p(b): n = round(x / ln 2), b = x - n ln 2 (in two parts), p a degree-5 polynomial;
     * the constants are the ones of ARM's optimized-routines expf that ggml adapted */
    const float r = 0x1.8p23f; /* adding it rounds to an integer */
    float z = fmaf(x, 0x1.715476p+0f, r);
    float n = z - r;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    if (n != n) return x; /* NaN in, NaN out */
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                        fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                   u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (fabsf(n) <= 126.0f) { /* 2^n is a normal float and j * 2^n rounds like scalef */
        uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
        float p2;
        memcpy(&p2, &bits, sizeof p2);
        return j * p2;
    }
    return ldexpf(j, (int)n);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Same arithmetic with the FMA instruction instead of libm's fmaf call (6x faster). */
__attribute__((target("fma"))) static float expf_ggml_fma(float x) { return expf_ggml_body(x); }
#endif

float op_expf_ggml(float x) {
#if defined(__x86_64__) && defined(__GNUC__)
    static _Atomic int has_fma = -1; /* cached: this runs per attention score */
    int f = atomic_load_explicit(&has_fma, memory_order_relaxed);
    if (f < 0) atomic_store_explicit(&has_fma, f = cpu_features_get()->fma, memory_order_relaxed);
    if (f) return expf_ggml_fma(x);
#endif
    return expf_ggml_body(x);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* op_expf_ggml on 16 lanes: expf_ggml_body's arithmetic with the same FMAs, lane by lane, so
 * every value is bit-identical to the scalar function; lanes outside the fast range (|n| > 126,
 * NaN) are redone by the scalar body. */
__attribute__((target("avx512f,fma"))) static void expf_ggml_16(const float *x, float *y) {
    const __m512 vx = _mm512_loadu_ps(x);
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(vx, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 nn = _mm512_castsi512_ps( /* -n, as the scalar's negation (sign flip) */
        _mm512_xor_si512(_mm512_castps_si512(n), _mm512_set1_epi32((int)0x80000000u)));
    const __m512 b = _mm512_fmadd_ps(nn, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                     _mm512_fmadd_ps(nn, _mm512_set1_ps(0x1.62e4p-1f), vx));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b,
                                        _mm512_set1_ps(0x1.573e2ep-5f)),
                        u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b,
                                        _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 an = _mm512_abs_ps(n);
    /* fast lanes: |n| <= 126 (false for NaN) */
    const __mmask16 fast = _mm512_cmp_ps_mask(an, _mm512_set1_ps(126.0f), _CMP_LE_OQ);
    const __m512i bits = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    float in[16]; /* x may be y */
    if (fast != 0xFFFF) _mm512_storeu_ps(in, vx);
    _mm512_storeu_ps(y, _mm512_mul_ps(j, _mm512_castsi512_ps(bits)));
    if (fast != 0xFFFF)
        for (int i = 0; i < 16; i++)
            if (!(fast >> i & 1)) y[i] = expf_ggml_fma(in[i]);
}

static int has_avx512_fma(void) {
    static _Atomic int v = -1;
    int f = atomic_load_explicit(&v, memory_order_relaxed);
    if (f < 0) {
        const cpu_features *c = cpu_features_get();
        atomic_store_explicit(&v, f = c->avx512f && c->fma, memory_order_relaxed);
    }
    return f;
}
#endif

void op_expf_ggml_n(const float *x, float *y, int n) {
    int i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (has_avx512_fma())
        for (; i + 16 <= n; i += 16)
            expf_ggml_16(x + i, y + i);
#endif
    for (; i < n; i++)
        y[i] = op_expf_ggml(x[i]);
}

void op_swiglu(float *a, const float *b, int n) {
    int i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (has_avx512_fma())
        for (; i < (n & ~15); i += 16) {
            float e[16], na[16];
            for (int k = 0; k < 16; k++)
                na[k] = 0.0f - a[i + k];
            expf_ggml_16(na, e);
            for (int k = 0; k < 16; k++) {
                float s = a[i + k] / (1.0f + e[k]);
                a[i + k] = s * b[i + k];
            }
        }
#endif
    for (; i < (n & ~15); i++) {
        float s = a[i] / (1.0f + op_expf_ggml(0.0f - a[i]));
        a[i] = s * b[i];
    }
    for (; i < n; i++) {
        float s = a[i] / (1.0f + expf(-a[i]));
        a[i] = s * b[i];
    }
}

/* gpt-oss's clamped SwiGLU, one value (the scalar body and the vector loop's tail) */
static inline float swiglu_oai_1(float x, float y, float alpha, float limit) {
    x = x > limit ? limit : x;
    y = y > limit ? limit : y < -limit ? -limit : y;
    return (y + 1.0f) * (x / (1.0f + op_expf_ggml(-alpha * x)));
}

#if defined(__x86_64__) && defined(__GNUC__)
/* swiglu_oai_1 on 16 lanes with the same operations (min/max in the order that keeps a NaN
 * as the scalar's comparisons do), so every value is bit-identical; returns the count done */
__attribute__((target("avx512f,fma"))) static int swiglu_oai_avx512(float *a, const float *b,
                                                                      int n, float alpha,
                                                                      float limit) {
    const __m512 lim = _mm512_set1_ps(limit), nlim = _mm512_set1_ps(-limit);
    const __m512 one = _mm512_set1_ps(1.0f), nalpha = _mm512_set1_ps(-alpha);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_min_ps(lim, _mm512_loadu_ps(a + i)); /* x > lim ? lim : x */
        const __m512 y = _mm512_max_ps(nlim, _mm512_min_ps(lim, _mm512_loadu_ps(b + i)));
        float e[16];
        _mm512_storeu_ps(e, _mm512_mul_ps(nalpha, x));
        expf_ggml_16(e, e);
        const __m512 g = _mm512_div_ps(x, _mm512_add_ps(one, _mm512_loadu_ps(e)));
        _mm512_storeu_ps(a + i, _mm512_mul_ps(_mm512_add_ps(y, one), g));
    }
    return i;
}
#endif

void op_swiglu_oai(float *a, const float *b, int n, float alpha, float limit) {
    int i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (has_avx512_fma()) i = swiglu_oai_avx512(a, b, n, alpha, limit);
#endif
    for (; i < n; i++)
        a[i] = swiglu_oai_1(a[i], b[i], alpha, limit);
}

void op_softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

void op_rope_angles(float *cs, int32_t pos, float theta_scale, const float *div, int n_rot) {
    /* ggml's angles: theta_0 = pos, theta_{i+1} = theta_i * theta_scale in float, divided by
     * the frequency factor */
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        float t = theta / div[i];
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void op_rope_angles_linear(float *cs, int32_t pos, float theta_scale, const float *div, int n_rot,
                           float freq_scale, float mscale) {
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        const float t = freq_scale * (theta / div[i]);
        cs[2 * i] = cosf(t) * mscale;
        cs[2 * i + 1] = sinf(t) * mscale;
        theta *= theta_scale;
    }
}

void op_rope_angles_yarn(float *cs, int32_t pos, float theta_scale, const float *div, int n_rot,
                         float freq_scale, float corr0, float corr1, float mscale) {
    float theta = (float)pos;
    const float ms = mscale * (1.0f + 0.1f * logf(1.0f / freq_scale));
    for (int i = 0; i < n_rot / 2; i++) {
        const float extrap = theta / div[i], interp = freq_scale * extrap;
        const float y = ((float)(2 * i / 2) - corr0) / fmaxf(0.001f, corr1 - corr0);
        const float ramp = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
        const float t = interp * (1.0f - ramp) + extrap * ramp;
        cs[2 * i] = cosf(t) * ms;
        cs[2 * i + 1] = sinf(t) * ms;
        theta *= theta_scale;
    }
}

void op_rope(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox) {
    int half = n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            int a = neox ? i : 2 * i;
            int b = neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            /* fused as gcc -std=gnu11 compiles ggml's x0*c - x1*s (llama.cpp's reference) */
            v[a] = fmaf(x0, c, -(x1 * s));
            v[b] = fmaf(x0, s, x1 * c);
        }
    }
}
