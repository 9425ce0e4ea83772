/* ops.c — scalar reference of the elementwise ops (see ops.h). */
#include "tensor/ops.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "base/cpu.h"

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

void op_swiglu(float *a, const float *b, int n) {
    int i = 0;
    for (; i < (n & ~15); i++) {
        float s = a[i] / (1.0f + op_expf_ggml(0.0f - a[i]));
        a[i] = s * b[i];
    }
    for (; i < n; i++) {
        float s = a[i] / (1.0f + expf(-a[i]));
        a[i] = s * b[i];
    }
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
