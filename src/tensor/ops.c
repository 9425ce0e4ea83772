/* ops.c — scalar reference of the elementwise ops (see ops.h). */
#include "tensor/ops.h"

#include <math.h>

void op_rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    // x (n,) -> out (n,)
    double ss = 0.0; /* double: rows reach 8k elements and the sum must not lose the tail */
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * (double)x[i];
    float scale = (float)(1.0 / sqrt(ss / n + (double)eps));
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

void op_swiglu(float *a, const float *b, int n) {
    for (int i = 0; i < n; i++)
        a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
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

void op_rope_angles(float *cs, int32_t pos, const float *inv_freq, int n_rot) {
    for (int i = 0; i < n_rot / 2; i++) {
        float theta = (float)pos * inv_freq[i];
        cs[2 * i] = cosf(theta);
        cs[2 * i + 1] = sinf(theta);
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
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}
