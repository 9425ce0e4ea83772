/* test_quant_forward.c — the quantized forward pass against a float32 forward over the
 * dequantized weights, for generated models of every supported type and architecture.
 *
 * For each shape (llama, llama3 with rope_freqs, qwen2 with QKV bias, qwen3 with QK-norm) a model
 * is generated in f32, quantized to each type, and that quantized file converted back to f32
 * (so both files hold exactly the same weight values). hearth's forward on the quantized file
 * then differs from its forward on the dequantized file only by what the quantized kernels do
 * differently: activations quantized to the vec_dot type (Q8_0 / Q8_K / F16 / BF16) and the order
 * of accumulation. The relative L2 distance of all logits of a 24-token batch must stay under
 * the bound stated per type below (about 2x the measured values, see the log lines). As a
 * sanity check that the comparison can fail, the distance to the original f32 model (weight
 * quantization error included) must be clearly larger for the low-bit types. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/hearth.h"
#include "model/quantize.h"
#include "model/synth.h"

static char tmpdir[64];

static void make_tmpdir(void) {
    /* tmpfs when there is one: the writer fsyncs every file, and these are throwaway */
    snprintf(tmpdir, sizeof tmpdir, "%s/hearth-test-qfwd-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    cr_assert(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(quant_forward, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 240);

enum { N_TOK = 24 };

/* Logits of every position of one N_TOK-token batch (malloc'd, N_TOK * n_vocab). */
static float *forward(const char *path, int32_t *n_vocab) {
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert(m, "load %s: %s", path, err.msg);
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = 64;
    p.n_batch = N_TOK;
    p.n_threads = 2;
    p.kv_type = HEARTH_KV_F32;
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    cr_assert(c, "ctx: %s", err.msg);
    int32_t nv = hearth_model_n_vocab(m);
    hearth_batch b;
    hearth_batch_init(&b, N_TOK);
    uint32_t x = 12345;
    for (int i = 0; i < N_TOK; i++) {
        x = x * 1664525u + 1013904223u;
        hearth_batch_add(&b, (int32_t)(3 + (x >> 8) % (uint32_t)(nv - 3)), i, 0, true);
    }
    cr_assert_eq(hearth_decode(c, &b, &err), 0, "decode %s: %s", path, err.msg);
    float *out = malloc((size_t)N_TOK * (size_t)nv * sizeof *out);
    for (int i = 0; i < N_TOK; i++) {
        const float *l = hearth_logits(c, i);
        cr_assert(l);
        memcpy(out + (size_t)i * (size_t)nv, l, (size_t)nv * sizeof *out);
    }
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
    hearth_model_free(m);
    *n_vocab = nv;
    return out;
}

static double rel_l2(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return sqrt(num / den);
}

/* Bound on relative L2 of logits, quantized forward vs f32 forward over the same (dequantized)
 * weights. min_vs_orig: the distance to the original f32 model must exceed this (0: no check). */
static const struct {
    const char *type;
    double max_rel;
    double min_vs_orig;
} types[] = {
    /* measured (4 shapes): f32 0, f16 0, bf16 0 (the engine computes these with f32
     * activations); Q8_0-activation types 0.010-0.012; Q8_K-activation types (K-quants)
     * 0.014-0.017 */
    {"f32", 1e-6, 0.0},      {"f16", 0.005, 0.0},   {"bf16", 0.02, 0.0},   {"q8_0", 0.025, 0.0},
    {"q6_k", 0.035, 0.0},    {"q5_0", 0.025, 0.04}, {"q5_1", 0.025, 0.04}, {"q5_k", 0.035, 0.04},
    {"q5_k_m", 0.035, 0.04}, {"q4_0", 0.025, 0.08}, {"q4_1", 0.025, 0.08}, {"q4_k", 0.035, 0.08},
    {"q4_k_m", 0.035, 0.08},
    /* measured: iq4_nl 0.010-0.011, mxfp4 0.011-0.012 (Q8_0 activations); iq4_xs 0.014-0.016,
     * tq1_0/tq2_0 0.014-0.015 (Q8_K) */
    {"iq4_nl", 0.025, 0.08}, {"iq4_xs", 0.035, 0.08}, {"mxfp4", 0.025, 0.08},
    {"tq1_0", 0.035, 0.5},   {"tq2_0", 0.035, 0.5},
};

static const char *path(const char *name) {
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 256, "%s/%s", tmpdir, name);
    return b;
}

static void check_shape(const char *shape) {
    synth_params sp = {.shape = shape, .ftype = QUANT_FTYPE_ALL_F32, .seed = 99, .n_threads = 2};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&sp, path("orig.gguf"), &err), 0, "%s: %s", shape, err.msg);
    int32_t nv = 0, nv2 = 0;
    float *orig = forward(path("orig.gguf"), &nv);
    size_t n = (size_t)N_TOK * (size_t)nv;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        quant_ftype ft;
        cr_assert_eq(quant_ftype_from_name(types[t].type, &ft, NULL), 0);
        cr_assert_eq(quant_model_file(path("orig.gguf"), path("q.gguf"), ft, 2, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(
            quant_model_file(path("q.gguf"), path("deq.gguf"), QUANT_FTYPE_ALL_F32, 2, &err), 0,
            "%s", err.msg);
        float *q = forward(path("q.gguf"), &nv2);
        cr_assert_eq(nv2, nv);
        float *d = forward(path("deq.gguf"), &nv2);
        double rel = rel_l2(q, d, n), vs_orig = rel_l2(q, orig, n);
        cr_log_info("%-11s %-7s quantized vs dequantized-f32 forward: rel L2 %.5f (bound %.4g); vs "
                    "original f32: %.5f",
                    shape, types[t].type, rel, types[t].max_rel, vs_orig);
        cr_expect_lt(rel, types[t].max_rel, "%s %s: rel L2 %.5f over bound %g", shape,
                     types[t].type, rel, types[t].max_rel);
        if (types[t].min_vs_orig > 0.0)
            cr_expect_gt(vs_orig, types[t].min_vs_orig,
                         "%s %s: quantization changed the logits by only %.5f", shape,
                         types[t].type, vs_orig);
        free(q);
        free(d);
    }
    free(orig);
}

Test(quant_forward, llama) { check_shape("tiny"); }
Test(quant_forward, llama3_rope_freqs) { check_shape("tiny-llama3"); }
Test(quant_forward, qwen2_qkv_bias) { check_shape("tiny-qwen2"); }
Test(quant_forward, qwen3_qk_norm) { check_shape("tiny-qwen3"); }
