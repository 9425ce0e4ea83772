/* numerics_probe.c — experiment harness for matching llama.cpp's numerics on stories260K.
 * A standalone scalar re-implementation of the llama forward pass (F32 weights, F16 KV cache)
 * in which each rounding/summation choice can be switched between hearth's and ggml's CPU
 * (AVX2 + FMA, Feb 2025) behaviour; prints max |logprob - reference| and the count over 1e-3
 * over the top-3 of every step of the three reference cases.
 *   build: gcc -std=c11 -O2 -D_GNU_SOURCE -Isrc tools/numerics_probe.c build/release/libhearth.a
 *          -ljansson -lm -lpthread -o /tmp/probe
 *   run:   /tmp/probe MODEL REFERENCE.json [flags]   flags: letters, see the opt table below
 *          (PROBE_TRACE=<case> prints per-step differences of the first 30 steps)
 * Hearth's engine today corresponds to flags "mnsquvrxco" (and "lr" in the test); the closest
 * variant found is "mnsquvrlgxco" (adds tinyBLAS order for prompts). See docs/ENGINE.md. */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tensor/tensor.h"

/* options (a letter on the command line turns one on) */
static int o_rope;  /* r: ggml theta_{i+1} = theta_i * powf(base, -2/n) */
static int o_norm;  /* n: ggml rms: float products, double sum, float mean, 1/sqrtf */
static int o_smax;  /* s: ggml softmax: v_expf, 8-groups summed in double, * (float)(1/sum) */
static int o_qk;    /* q: q.k in double (vec_dot_f16 leftovers) / tinyBLAS for prompts */
static int o_pv;    /* v: p.V in ggml vec_dot_f16 order (4x8 fma acc) / tinyBLAS for prompts */
static int o_mm;    /* m: F32 matmul in ggml vec_dot_f32 order / tinyBLAS for prompts */
static int o_mmd;   /* d: F32 matmul summed in double (hearth's ref kernel) */
static int o_silu;  /* u: silu via v_expf for 8-blocks */
static int o_lp;    /* l: final logprobs like llama-server (float softmax, sorted) */
static int o_fa;    /* f: flash attention path */
static int o_gemm;  /* g: use tinyBLAS order for n>=2 (prompt) matmuls (with m/q/v) */
static int o_con;   /* c: GCC -std=gnu11 contracts the scalar tail x*y + s into an FMA */
static int o_rfma;  /* o: rope rotation contracted: fma(x0,c,-(x1*s)), fma(x0,s,x1*c); O: other */
static int W = 8;   /* x: AVX-512 lane width 16 (else AVX2, 8) */

static float asf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t asu(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float h(float x) { return tensor_fp16_to_fp32(tensor_fp32_to_fp16(x)); }

static float v_expf512(float x) {
    const float r = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, r);
    float n = z - r;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192) return n <= 0 ? 0.0f : INFINITY;
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                        fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                   u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}
static float v_expf(float x) {
    if (W == 16) return v_expf512(x);
    const float r = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, r);
    float n = z - r;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    uint32_t e = asu(z) << 23;
    float k = asf(e + asu(1.0f));
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                        fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                   u, 0x1.ffffecp-1f * b);
    if (!(fabsf(n) > 126)) return fmaf(k, j, k);
    uint32_t g = n <= 0 ? 0x82000000u : 0;
    float s1 = asf(g + 0x7f000000u), s2 = asf(e - g);
    if (fabsf(n) > 192) return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}

static float tree(const float *v, int w) {
    float t[16];
    memcpy(t, v, (size_t)w * 4);
    for (int o = w / 2; o >= 1; o /= 2)
        for (int i = 0; i < o; i++)
            t[i] = t[i] + t[i + o];
    return t[0];
}
/* sum order of tinyBLAS/hearth hsum of one 8-lane register */
static float hsum8(const float *v) {
    float t[4];
    for (int i = 0; i < 4; i++)
        t[i] = v[i] + v[i + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}
/* GGML_F32x8_REDUCE of 4 accumulators */
static float ggml_reduce(float a[4][16]) {
    float x[16], t[4];
    if (W == 16) {
        for (int l = 0; l < 16; l++)
            x[l] = (a[0][l] + a[2][l]) + (a[1][l] + a[3][l]);
        return tree(x, 16);
    }
    for (int l = 0; l < 8; l++)
        x[l] = (a[0][l] + a[2][l]) + (a[1][l] + a[3][l]);
    for (int i = 0; i < 4; i++)
        t[i] = x[i] + x[i + 4];
    return (t[0] + t[1]) + (t[2] + t[3]);
}

/* ggml_vec_dot_f32 (AVX2+FMA) */
static float dot_ggml(int n, const float *x, const float *y) {
    float a[4][16] = {{0}};
    int np = n & ~(4 * W - 1);
    for (int i = 0; i < np; i += 4 * W)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < W; l++)
                a[j][l] = fmaf(x[i + W * j + l], y[i + W * j + l], a[j][l]);
    float s = ggml_reduce(a);
    for (int i = np; i < n; i++) {
        if (o_con) {
            s = fmaf(x[i], y[i], s);
            continue;
        }
        float p = x[i] * y[i];
        s += p;
    }
    return s;
}
/* ggml_vec_dot_f16 with already-widened values: reduce in float, then double leftovers */
static float dot_ggml16(int n, const float *x, const float *y) {
    float a[4][16] = {{0}};
    int np = n & ~(4 * W - 1);
    for (int i = 0; i < np; i += 4 * W)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < W; l++)
                a[j][l] = fmaf(x[i + W * j + l], y[i + W * j + l], a[j][l]);
    double s = (double)ggml_reduce(a);
    for (int i = np; i < n; i++)
        s += (double)(x[i] * y[i]);
    return (float)s;
}
/* tinyBLAS<8>: one 8-lane accumulator */
static float dot_tiny(int n, const float *x, const float *y) {
    float a[16] = {0};
    for (int i = 0; i < n; i += W)
        for (int l = 0; l < W; l++)
            a[l] = fmaf(x[i + l], y[i + l], a[l]);
    return tree(a, W);
}
/* hearth's AVX2 f32 dot */
static float dot_hearth(int n, const float *x, const float *y) {
    float a[4][8] = {{0}};
    int i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 8; l++)
                a[j][l] = fmaf(x[i + 8 * j + l], y[i + 8 * j + l], a[j][l]);
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            a[0][l] = fmaf(x[i + l], y[i + l], a[0][l]);
    float v[8];
    for (int l = 0; l < 8; l++)
        v[l] = (a[0][l] + a[1][l]) + (a[2][l] + a[3][l]);
    float s = hsum8(v);
    for (; i < n; i++) {
        float p = x[i] * y[i];
        s += p;
    }
    return s;
}
static float dot_double(int n, const float *x, const float *y) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)(x[i] * y[i]);
    return (float)s;
}
static float dot_seq(int n, const float *x, const float *y) {
    float s = 0;
    for (int i = 0; i < n; i++) {
        float p = x[i] * y[i];
        s += p;
    }
    return s;
}

/* y (t, m) = W (m, k) x (t, k) */
static void matmul(float *y, const float *w, int k, int m, const float *x, int t) {
    bool tiny = o_gemm && t >= 2 && k % W == 0 && m % 4 == 0;
    for (int r = 0; r < t; r++)
        for (int o = 0; o < m; o++) {
            const float *wr = w + (size_t)o * k, *xr = x + (size_t)r * k;
            float s;
            if (tiny)
                s = dot_tiny(k, wr, xr);
            else if (o_mm)
                s = dot_ggml(k, wr, xr);
            else if (o_mmd)
                s = dot_double(k, wr, xr);
            else
                s = dot_hearth(k, wr, xr);
            y[(size_t)r * m + o] = s;
        }
}

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    float scale;
    if (o_norm) {
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (double)(x[i] * x[i]);
        float mean = (float)(ss / n);
        scale = 1.0f / sqrtf(mean + eps);
    } else {
        double ss = 0.0;
        for (int i = 0; i < n; i++)
            ss += (double)x[i] * (double)x[i];
        scale = (float)(1.0 / sqrt(ss / n + (double)eps));
    }
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

/* model */
enum { E = 64, NH = 8, NKV = 4, HD = 8, F = 172, NL = 5, V = 512, CTX = 256 };
typedef struct {
    const float *emb, *onorm, *out;
    const float *an[NL], *wq[NL], *wk[NL], *wv[NL], *wo[NL], *fn[NL], *wg[NL], *wu[NL], *wd[NL];
} model;
static float kc[NL][CTX][NKV * HD], vc[NL][CTX][NKV * HD]; /* f16-rounded values */

static const float *T(gguf_file *g, const char *fmt, int l) {
    char name[64];
    snprintf(name, sizeof name, fmt, l);
    const gguf_tensor *t = gguf_tensor_find(g, name);
    if (!t) {
        fprintf(stderr, "missing %s\n", name);
        exit(1);
    }
    return t->data;
}

/* attention for one query row (head-major q (NH*HD) already rope'd) at position pos, n_tok =
 * rows in this ubatch (tinyBLAS paths when >= 2) */
static void attention(int l, const float *q, int pos, int n_tok, float *out) {
    int nkv = ((pos + 1 + 31) / 32) * 32;
    for (int hh = 0; hh < NH; hh++) {
        int g = hh / (NH / NKV);
        float qh[HD];
        for (int i = 0; i < HD; i++)
            qh[i] = h(q[hh * HD + i]);
        const float scale = 1.0f / sqrtf((float)HD);
        if (o_fa) {
            float S = 0, M = -INFINITY, acc[HD] = {0};
            for (int c = 0; c <= pos; c++) {
                double sd = 0;
                for (int i = 0; i < HD; i++)
                    sd += (double)(kc[l][c][g * HD + i] * qh[i]);
                float s = (float)sd * scale;
                float Mold = M, ms = 1.0f, vs = 1.0f;
                if (s > M) {
                    M = s;
                    ms = expf(Mold - M);
                    for (int i = 0; i < HD; i++)
                        acc[i] = h(acc[i] * ms);
                } else
                    vs = expf(s - M);
                for (int i = 0; i < HD; i++) {
                    float p = vc[l][c][g * HD + i] * vs;
                    acc[i] = h(acc[i] + p);
                }
                S = S * ms + vs;
            }
            float inv = 1.0f / S;
            for (int i = 0; i < HD; i++)
                out[hh * HD + i] = acc[i] * inv;
            continue;
        }
        static float sc[CTX + 32];
        for (int c = 0; c < nkv; c++) {
            if (c > pos) {
                sc[c] = -INFINITY;
                continue;
            }
            const float *kr = &kc[l][c][g * HD];
            float s;
            if (o_qk && o_gemm && n_tok >= 2 && W == 8) {
                float a[8];
                for (int i = 0; i < 8; i++)
                    a[i] = kr[i] * qh[i];
                s = hsum8(a);
            } else if (o_qk)
                s = dot_ggml16(HD, kr, qh);
            else
                s = dot_seq(HD, qh, kr);
            sc[c] = s * scale;
        }
        float mx = -INFINITY;
        for (int c = 0; c <= pos; c++)
            if (sc[c] > mx) mx = sc[c];
        if (o_smax) {
            double sum = 0;
            for (int c0 = 0; c0 < nkv; c0 += W) {
                for (int c = c0; c < c0 + W; c++)
                    sc[c] = v_expf(sc[c] - mx);
                sum += (double)tree(sc + c0, W);
            }
            float inv = (float)(1.0 / sum);
            for (int c = 0; c < nkv; c++)
                sc[c] *= inv;
        } else {
            float sum = 0;
            for (int c = 0; c <= pos; c++) {
                sc[c] = expf(sc[c] - mx);
                sum += sc[c];
            }
            for (int c = 0; c <= pos; c++)
                sc[c] /= sum;
            for (int c = pos + 1; c < nkv; c++)
                sc[c] = 0;
        }
        for (int c = 0; c < nkv; c++)
            sc[c] = h(sc[c]);
        for (int i = 0; i < HD; i++) {
            static float vr[CTX + 32];
            for (int c = 0; c < nkv; c++)
                vr[c] = c <= pos ? vc[l][c][g * HD + i] : 0.0f;
            float s;
            if (o_pv && o_gemm && n_tok >= 2)
                s = dot_tiny(nkv, vr, sc);
            else if (o_pv)
                s = dot_ggml16(nkv, vr, sc);
            else
                s = dot_seq(pos + 1, sc, vr);
            out[hh * HD + i] = s;
        }
    }
}

static void rope(float *x, int nh, int pos, const float *inv_freq, float theta_scale) {
    float cs[HD];
    float theta = (float)pos;
    for (int i = 0; i < HD / 2; i++) {
        float th = o_rope ? theta : (float)pos * inv_freq[i];
        cs[2 * i] = cosf(th);
        cs[2 * i + 1] = sinf(th);
        theta *= theta_scale;
    }
    for (int hh = 0; hh < nh; hh++)
        for (int i = 0; i < HD / 2; i++) {
            float *v = x + hh * HD + 2 * i;
            float x0 = v[0], x1 = v[1], c = cs[2 * i], s = cs[2 * i + 1];
            if (o_rfma == 1) {
                v[0] = fmaf(x0, c, -(x1 * s));
                v[1] = fmaf(x0, s, x1 * c);
            } else if (o_rfma == 2) {
                v[0] = fmaf(-x1, s, x0 * c);
                v[1] = fmaf(x1, c, x0 * s);
            } else {
                v[0] = x0 * c - x1 * s;
                v[1] = x0 * s + x1 * c;
            }
        }
}

static float inv_freq[HD / 2], theta_scale;

/* decodes n tokens at positions p0.. ; logits of the last one into lg */
static void decode(const model *m, const int *tok, int n, int p0, float *lg) {
    static float x[64][E], xb[64][E], q[64][E], k[64][NKV * HD], v[64][NKV * HD], att[64][E],
        xo[64][E], hg[64][F], hu[64][F];
    for (int t = 0; t < n; t++)
        memcpy(x[t], m->emb + (size_t)tok[t] * E, sizeof x[t]);
    for (int l = 0; l < NL; l++) {
        for (int t = 0; t < n; t++)
            rmsnorm(xb[t], x[t], m->an[l], E, 1e-5f);
        matmul(&q[0][0], m->wq[l], E, E, &xb[0][0], n);
        matmul(&k[0][0], m->wk[l], E, NKV * HD, &xb[0][0], n);
        matmul(&v[0][0], m->wv[l], E, NKV * HD, &xb[0][0], n);
        for (int t = 0; t < n; t++) {
            rope(q[t], NH, p0 + t, inv_freq, theta_scale);
            rope(k[t], NKV, p0 + t, inv_freq, theta_scale);
            for (int i = 0; i < NKV * HD; i++) {
                kc[l][p0 + t][i] = h(k[t][i]);
                vc[l][p0 + t][i] = h(v[t][i]);
            }
        }
        for (int t = 0; t < n; t++)
            attention(l, q[t], p0 + t, n, att[t]);
        matmul(&xo[0][0], m->wo[l], E, E, &att[0][0], n);
        for (int t = 0; t < n; t++)
            for (int i = 0; i < E; i++)
                x[t][i] += xo[t][i];
        if (l == NL - 1 && n > 1) { /* only the last row goes on */
            memcpy(x[0], x[n - 1], sizeof x[0]);
            n = 1;
        }
        for (int t = 0; t < n; t++)
            rmsnorm(xb[t], x[t], m->fn[l], E, 1e-5f);
        matmul(&hg[0][0], m->wg[l], E, F, &xb[0][0], n);
        matmul(&hu[0][0], m->wu[l], E, F, &xb[0][0], n);
        for (int t = 0; t < n; t++)
            for (int i = 0; i < F; i++) {
                float a = hg[t][i], s;
                if (o_silu && i < (F & ~(W - 1)))
                    s = a / (1.0f + v_expf(0.0f - a));
                else
                    s = a / (1.0f + expf(-a));
                hg[t][i] = s * hu[t][i];
            }
        matmul(&xo[0][0], m->wd[l], F, E, &hg[0][0], n);
        for (int t = 0; t < n; t++)
            for (int i = 0; i < E; i++)
                x[t][i] += xo[t][i];
    }
    rmsnorm(xb[0], x[0], m->onorm, E, 1e-5f);
    matmul(lg, m->out, E, V, xb[0], 1);
}

static void logprobs(const float *lg, double *lp) {
    if (o_lp) {
        int idx[V];
        for (int i = 0; i < V; i++)
            idx[i] = i;
        for (int i = 1; i < V; i++) /* stable insertion sort by logit, descending */
            for (int j = i; j > 0 && lg[idx[j]] > lg[idx[j - 1]]; j--) {
                int t = idx[j];
                idx[j] = idx[j - 1];
                idx[j - 1] = t;
            }
        float mx = lg[idx[0]], sum = 0, p[V];
        for (int i = 0; i < V; i++) {
            p[i] = expf(lg[idx[i]] - mx);
            sum += p[i];
        }
        for (int i = 0; i < V; i++)
            lp[idx[i]] = (double)logf(p[i] / sum);
        return;
    }
    double mx = lg[0];
    for (int i = 1; i < V; i++)
        if (lg[i] > mx) mx = lg[i];
    double s = 0;
    for (int i = 0; i < V; i++)
        s += exp((double)lg[i] - mx);
    for (int i = 0; i < V; i++)
        lp[i] = (double)lg[i] - mx - log(s);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *fl = argc > 3 ? argv[3] : "";
    o_rope = !!strchr(fl, 'r'), o_norm = !!strchr(fl, 'n'), o_smax = !!strchr(fl, 's');
    o_qk = !!strchr(fl, 'q'), o_pv = !!strchr(fl, 'v'), o_mm = !!strchr(fl, 'm');
    o_mmd = !!strchr(fl, 'd'), o_silu = !!strchr(fl, 'u'), o_lp = !!strchr(fl, 'l');
    o_fa = !!strchr(fl, 'f'), o_gemm = !!strchr(fl, 'g');
    if (strchr(fl, 'x')) W = 16;
    o_con = !!strchr(fl, 'c');
    o_rfma = strchr(fl, 'o') ? 1 : strchr(fl, 'O') ? 2 : 0;
    he_error err = {0};
    gguf_file *g = gguf_open(argv[1], &err);
    if (!g) return 1;
    model m;
    m.emb = T(g, "token_embd.weight", 0);
    m.onorm = T(g, "output_norm.weight", 0);
    m.out = T(g, "output.weight", 0);
    for (int l = 0; l < NL; l++) {
        m.an[l] = T(g, "blk.%d.attn_norm.weight", l);
        m.wq[l] = T(g, "blk.%d.attn_q.weight", l);
        m.wk[l] = T(g, "blk.%d.attn_k.weight", l);
        m.wv[l] = T(g, "blk.%d.attn_v.weight", l);
        m.wo[l] = T(g, "blk.%d.attn_output.weight", l);
        m.fn[l] = T(g, "blk.%d.ffn_norm.weight", l);
        m.wg[l] = T(g, "blk.%d.ffn_gate.weight", l);
        m.wu[l] = T(g, "blk.%d.ffn_up.weight", l);
        m.wd[l] = T(g, "blk.%d.ffn_down.weight", l);
    }
    for (int i = 0; i < HD / 2; i++)
        inv_freq[i] = (float)pow(10000.0, -2.0 * i / HD);
    theta_scale = powf(10000.0f, -2.0f / HD);

    json_error_t je;
    json_t *root = json_load_file(argv[2], 0, &je);
    json_t *cases = json_object_get(root, "cases");
    double worst = 0;
    int over = 0, bad_ids = 0, total = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cj = json_array_get(cases, ci);
        json_t *pj = json_object_get(cj, "prompt_ids"), *ids = json_object_get(cj, "ids"),
               *top = json_object_get(cj, "top3_logprobs");
        int np = (int)json_array_size(pj), tok[64];
        for (int i = 0; i < np; i++)
            tok[i] = (int)json_integer_value(json_array_get(pj, i));
        float lg[V];
        double lp[V];
        double cw = 0;
        int first = -1;
        int cw_step = -1;
        decode(&m, tok, np, 0, lg);
        for (size_t s = 0; s < json_array_size(ids); s++) {
            logprobs(lg, lp);
            int best = 0;
            for (int i = 1; i < V; i++)
                if (lg[i] > lg[best]) best = i;
            int rid = (int)json_integer_value(json_array_get(ids, s));
            if (best != rid) bad_ids++;
            json_t *t3 = json_object_get(json_array_get(top, s), "top");
            for (int r = 0; r < 3; r++) {
                json_t *pr = json_array_get(t3, (size_t)r);
                int id = (int)json_integer_value(json_array_get(pr, 0));
                double d = fabs(lp[id] - json_number_value(json_array_get(pr, 1)));
                total++;
                if (d > 1e-3) over++;
                if (d > worst) worst = d;
                if (d > cw) cw = d, cw_step = (int)s;
                if (d > 1e-4 && first < 0) first = (int)s;
                if (getenv("PROBE_TRACE") && (int)ci == atoi(getenv("PROBE_TRACE")) && s < 30) printf("s%zu r%d %.5f\n", s, r, d);
            }
            int nt = rid;
            decode(&m, &nt, 1, np + (int)s, lg);
        }
        printf("  case %zu: max %.5f at step %d, first > 1e-4 at step %d\n", ci, cw, cw_step, first);
    }
    printf("flags '%s': max %.6f, %d of %d over 1e-3, %d id mismatches\n", fl, worst, over, total,
           bad_ids);
    json_decref(root);
    gguf_close(g);
    return 0;
}
