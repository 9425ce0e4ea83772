/* test_quantize.c — type names, the per-tensor type rules (mixes, fallbacks), round-trip error
 * of every target type on a generated model, metadata preservation, clean errors; and the
 * model generator's shapes, determinism and vocab copying. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "model/quantize.h"
#include "model/synth.h"
#include "tensor/tensor.h"
#include "fixtures.h"
#include "fixtures.h"

static char tmpdir[64];

static void make_tmpdir(void) {
    /* tmpfs when there is one: the writer fsyncs every file, and these are throwaway */
    snprintf(tmpdir, sizeof tmpdir, "%s/hearth-test-quantize-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    cr_assert(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(quantize, .init = make_tmpdir, .fini = remove_tmpdir);

static const char *tmp(const char *name) {
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 256, "%s/%s", tmpdir, name);
    return b;
}

static void gen(const char *shape, quant_ftype ftype, uint64_t seed, const char *vocab,
                const char *out) {
    synth_params p = {
        .shape = shape, .ftype = ftype, .vocab_path = vocab, .seed = seed, .n_threads = 2};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&p, out, &err), 0, "make %s: %s", shape, err.msg);
}

static gguf_file *open_ok(const char *path) {
    he_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    cr_assert(f, "open %s: %s", path, err.msg);
    return f;
}

static int64_t n_elems(const gguf_tensor *t) {
    int64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        n *= t->ne[d];
    return n;
}

/* The tensor's values as floats (malloc'd). */
static float *to_f32(const gguf_tensor *t) {
    int64_t n = n_elems(t), ne0 = t->ne[0];
    float *y = malloc((size_t)n * sizeof *y);
    const tensor_traits *tr = tensor_traits_of(t->type);
    size_t rb = tensor_row_size((tensor_type)t->type, ne0);
    for (int64_t r = 0; r < n / ne0; r++) {
        const uint8_t *row = (const uint8_t *)t->data + (size_t)r * rb;
        float *out = y + r * ne0;
        if (t->type == TENSOR_TYPE_F32)
            memcpy(out, row, (size_t)ne0 * 4);
        else if (t->type == TENSOR_TYPE_F16 || t->type == TENSOR_TYPE_BF16)
            for (int64_t i = 0; i < ne0; i++) {
                uint16_t h;
                memcpy(&h, row + 2 * i, 2);
                out[i] =
                    t->type == TENSOR_TYPE_F16 ? tensor_fp16_to_fp32(h) : tensor_bf16_to_fp32(h);
            }
        else {
            cr_assert(tr && tr->to_float, "no dequantizer for %s", tr ? tr->name : "?");
            tr->to_float(row, out, ne0);
        }
    }
    return y;
}

static char *tname(const gguf_tensor *t) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)t->name.len, t->name.ptr);
    return buf;
}

/* ---- Names ---- */

Test(quantize, ftype_names) {
    static const struct {
        const char *name;
        quant_ftype ftype;
        tensor_type base;
    } cases[] = {
        {"f32", QUANT_FTYPE_ALL_F32, TENSOR_TYPE_F32},
        {"F16", QUANT_FTYPE_MOSTLY_F16, TENSOR_TYPE_F16},
        {"bf16", QUANT_FTYPE_MOSTLY_BF16, TENSOR_TYPE_BF16},
        {"Q8_0", QUANT_FTYPE_MOSTLY_Q8_0, TENSOR_TYPE_Q8_0},
        {"q4_0", QUANT_FTYPE_MOSTLY_Q4_0, TENSOR_TYPE_Q4_0},
        {"q4_1", QUANT_FTYPE_MOSTLY_Q4_1, TENSOR_TYPE_Q4_1},
        {"q5_0", QUANT_FTYPE_MOSTLY_Q5_0, TENSOR_TYPE_Q5_0},
        {"Q5_1", QUANT_FTYPE_MOSTLY_Q5_1, TENSOR_TYPE_Q5_1},
        {"q4_k", QUANT_FTYPE_MOSTLY_Q4_K_S, TENSOR_TYPE_Q4_K},
        {"q5_K", QUANT_FTYPE_MOSTLY_Q5_K_S, TENSOR_TYPE_Q5_K},
        {"Q6_K", QUANT_FTYPE_MOSTLY_Q6_K, TENSOR_TYPE_Q6_K},
        {"q4_k_m", QUANT_FTYPE_MOSTLY_Q4_K_M, TENSOR_TYPE_Q4_K},
        {"Q5_K_M", QUANT_FTYPE_MOSTLY_Q5_K_M, TENSOR_TYPE_Q5_K},
        {"iq4_nl", QUANT_FTYPE_MOSTLY_IQ4_NL, TENSOR_TYPE_IQ4_NL},
        {"IQ4_XS", QUANT_FTYPE_MOSTLY_IQ4_XS, TENSOR_TYPE_IQ4_XS},
        {"tq1_0", QUANT_FTYPE_MOSTLY_TQ1_0, TENSOR_TYPE_TQ1_0},
        {"TQ2_0", QUANT_FTYPE_MOSTLY_TQ2_0, TENSOR_TYPE_TQ2_0},
        {"mxfp4", QUANT_FTYPE_MOSTLY_MXFP4, TENSOR_TYPE_MXFP4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        quant_ftype f;
        he_error err = {0};
        cr_assert_eq(quant_ftype_from_name(cases[i].name, &f, &err), 0, "%s: %s", cases[i].name,
                     err.msg);
        cr_assert_eq(f, cases[i].ftype, "%s", cases[i].name);
        cr_assert_eq(quant_ftype_base(f), cases[i].base, "%s", cases[i].name);
    }
    /* the numbers are llama.cpp's LLAMA_FTYPE values */
    cr_assert_eq(QUANT_FTYPE_MOSTLY_Q4_K_M, 15);
    cr_assert_eq(QUANT_FTYPE_MOSTLY_BF16, 32);
    cr_assert_eq(QUANT_FTYPE_MOSTLY_IQ4_NL, 25);
    cr_assert_eq(QUANT_FTYPE_MOSTLY_IQ4_XS, 30);
    cr_assert_eq(QUANT_FTYPE_MOSTLY_TQ1_0, 36);
    cr_assert_eq(QUANT_FTYPE_MOSTLY_TQ2_0, 37);
    cr_assert_eq(QUANT_FTYPE_MOSTLY_MXFP4, 38); /* LLAMA_FTYPE_MOSTLY_MXFP4_MOE */
    quant_ftype f;
    he_error err = {0};
    cr_assert_eq(quant_ftype_from_name("q3_k", &f, &err), -1);
    cr_assert_eq(err.code, HE_INVALID);
    cr_assert(strstr(err.msg, "'q3_k'") && strstr(err.msg, "q4_k_m"), "%s", err.msg);
    cr_assert_eq(quant_ftype_from_name("", &f, NULL), -1);
    /* the importance-matrix types: refused with the reason, not as unknown */
    static const char *const imatrix[] = {"iq2_xxs", "IQ2_XS", "iq2_s",
                                          "iq3_xxs", "iq1_s",  "IQ1_M"};
    for (size_t i = 0; i < sizeof imatrix / sizeof imatrix[0]; i++) {
        he_error e2 = {0};
        cr_assert_eq(quant_ftype_from_name(imatrix[i], &f, &e2), -1, "%s", imatrix[i]);
        cr_assert_eq(e2.code, HE_INVALID);
        cr_assert(strstr(e2.msg, imatrix[i]) && strstr(e2.msg, "importance matrix"), "%s", e2.msg);
    }
}

/* ---- Type rules ---- */

Test(quantize, use_more_bits_layers) {
    /* 16 layers: the first 2, the last 2, and every third from layer 2 (4, 7, 10, 13) */
    const int expect16[16] = {1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1};
    for (int i = 0; i < 16; i++)
        cr_assert_eq(quant_use_more_bits(i, 16) != 0, expect16[i], "layer %d", i);
    /* 22 layers (TinyLlama): n/8 = 2, 7n/8 = 19 */
    int count = 0;
    for (int i = 0; i < 22; i++)
        count += quant_use_more_bits(i, 22) != 0;
    cr_assert_eq(count, 2 + 3 + 5); /* 0, 1 | 19, 20, 21 | 4, 7, 10, 13, 16 */
}

Test(quantize, choose_type_rules) {
    const int64_t mat[2] = {2048, 2048}, vec[1] = {2048}, q2[2] = {896, 896}, odd[2] = {48, 64};
    quant_ftype m = QUANT_FTYPE_MOSTLY_Q4_K_M;
    cr_assert_eq(quant_choose_type(m, "blk.0.attn_norm.weight", 1, vec, 16, false),
                 TENSOR_TYPE_F32);
    cr_assert_eq(quant_choose_type(m, "blk.0.attn_q.bias", 1, vec, 16, false), TENSOR_TYPE_F32);
    cr_assert_eq(quant_choose_type(m, "output.weight", 2, mat, 16, false), TENSOR_TYPE_Q6_K);
    cr_assert_eq(quant_choose_type(m, "token_embd.weight", 2, mat, 16, false), TENSOR_TYPE_Q4_K);
    cr_assert_eq(quant_choose_type(m, "blk.0.attn_v.weight", 2, mat, 16, false), TENSOR_TYPE_Q6_K);
    cr_assert_eq(quant_choose_type(m, "blk.2.attn_v.weight", 2, mat, 16, false), TENSOR_TYPE_Q4_K);
    cr_assert_eq(quant_choose_type(m, "blk.4.ffn_down.weight", 2, mat, 16, false),
                 TENSOR_TYPE_Q6_K);
    cr_assert_eq(quant_choose_type(m, "blk.5.ffn_down.weight", 2, mat, 16, false),
                 TENSOR_TYPE_Q4_K);
    cr_assert_eq(quant_choose_type(m, "blk.15.ffn_down.weight", 2, mat, 16, false),
                 TENSOR_TYPE_Q6_K);
    cr_assert_eq(quant_choose_type(m, "blk.0.attn_q.weight", 2, mat, 16, false), TENSOR_TYPE_Q4_K);
    cr_assert_eq(quant_choose_type(m, "blk.0.ffn_up.weight", 2, mat, 16, false), TENSOR_TYPE_Q4_K);
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_Q5_K_M, "blk.0.attn_v.weight", 2, mat, 16, false),
        TENSOR_TYPE_Q6_K);
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_Q5_K_M, "blk.3.attn_v.weight", 2, mat, 16, false),
        TENSOR_TYPE_Q5_K);
    /* pure types: the same type everywhere but 1-D */
    cr_assert_eq(quant_choose_type(QUANT_FTYPE_MOSTLY_Q4_0, "output.weight", 2, mat, 16, false),
                 TENSOR_TYPE_Q4_0);
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_Q4_K_S, "blk.0.attn_v.weight", 2, mat, 16, false),
        TENSOR_TYPE_Q4_K);
    cr_assert_eq(quant_choose_type(QUANT_FTYPE_ALL_F32, "output.weight", 2, mat, 16, false),
                 TENSOR_TYPE_F32);
    /* rows of 896 (Qwen2.5 0.5B) are not a multiple of 256: K-quants fall back */
    cr_assert_eq(quant_choose_type(m, "blk.2.attn_q.weight", 2, q2, 24, false), TENSOR_TYPE_Q5_0);
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_Q5_K_S, "blk.2.attn_q.weight", 2, q2, 24, false),
        TENSOR_TYPE_Q5_1);
    cr_assert_eq(quant_choose_type(m, "blk.0.attn_v.weight", 2, q2, 24, false), TENSOR_TYPE_Q8_0);
    /* not even a multiple of 32: F16 */
    cr_assert_eq(quant_choose_type(m, "blk.2.attn_q.weight", 2, odd, 24, false), TENSOR_TYPE_F16);
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_Q8_0, "blk.2.attn_q.weight", 2, odd, 24, false),
        TENSOR_TYPE_F16);
    /* llama.cpp's fallbacks for the 256-element i-quant and ternary types */
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_IQ4_XS, "blk.2.attn_q.weight", 2, q2, 24, false),
        TENSOR_TYPE_IQ4_NL);
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_TQ1_0, "blk.2.attn_q.weight", 2, q2, 24, false),
        TENSOR_TYPE_Q4_0);
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_TQ2_0, "blk.2.attn_q.weight", 2, q2, 24, false),
        TENSOR_TYPE_Q4_0);
    cr_assert_eq(
        quant_choose_type(QUANT_FTYPE_MOSTLY_MXFP4, "blk.2.attn_q.weight", 2, q2, 24, false),
        TENSOR_TYPE_MXFP4);
    cr_assert_eq(quant_choose_type(QUANT_FTYPE_MOSTLY_IQ4_XS, "output.weight", 2, mat, 24, false),
                 TENSOR_TYPE_IQ4_XS);
}

/* llama.cpp's MXFP4_MOE (src/llama-quant.cpp): with experts, the expert stacks MXFP4 and every
 * other matrix Q8_0, routers and vectors F32; without experts, hearth makes every matrix MXFP4 */
Test(quantize, mxfp4_as_gpt_oss_files_have_it) {
    const int64_t exps[3] = {2880, 2880, 32}, mat[2] = {2880, 4096}, one[3] = {2880, 2880, 1};
    const quant_ftype x = QUANT_FTYPE_MOSTLY_MXFP4;
    cr_assert_eq(quant_choose_type(x, "blk.0.ffn_gate_exps.weight", 3, exps, 24, true),
                 TENSOR_TYPE_MXFP4);
    cr_assert_eq(quant_choose_type(x, "blk.0.ffn_down_exps.weight", 3, exps, 24, true),
                 TENSOR_TYPE_MXFP4);
    /* a stack of one matrix is no expert stack (llama.cpp: ne[2] > 1) */
    cr_assert_eq(quant_choose_type(x, "blk.0.ffn_up_exps.weight", 3, one, 24, true),
                 TENSOR_TYPE_Q8_0);
    cr_assert_eq(quant_choose_type(x, "blk.0.attn_q.weight", 2, mat, 24, true), TENSOR_TYPE_Q8_0);
    cr_assert_eq(quant_choose_type(x, "token_embd.weight", 2, mat, 24, true), TENSOR_TYPE_Q8_0);
    cr_assert_eq(quant_choose_type(x, "output.weight", 2, mat, 24, true), TENSOR_TYPE_Q8_0);
    cr_assert_eq(quant_choose_type(x, "blk.0.ffn_gate_inp.weight", 2, mat, 24, true),
                 TENSOR_TYPE_F32);
    cr_assert_eq(quant_choose_type(x, "blk.0.ffn_gate_exps.bias", 2, mat, 24, true),
                 TENSOR_TYPE_F32);
    cr_assert_eq(quant_choose_type(x, "blk.0.attn_q.weight", 2, mat, 24, false), TENSOR_TYPE_MXFP4);

    /* a generated tiny-gpt-oss file */
    gen("tiny-gpt-oss", x, 1, "", tmp("oss.gguf"));
    gguf_file *f = open_ok(tmp("oss.gguf"));
    int n_mxfp4 = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        const bool exps_w = strstr(name, "_exps.weight") != NULL;
        const bool f32 = t->n_dims < 2 || strstr(name, ".bias") || strstr(name, "ffn_gate_inp.");
        const uint32_t want = exps_w ? TENSOR_TYPE_MXFP4 : f32 ? TENSOR_TYPE_F32 : TENSOR_TYPE_Q8_0;
        cr_assert_eq(t->type, want, "%s: type %u, expected %u", name, t->type, want);
        n_mxfp4 += t->type == TENSOR_TYPE_MXFP4;
    }
    cr_assert_gt(n_mxfp4, 0);
    int64_t ft;
    cr_assert_eq(gguf_find_i64(f, "general.file_type", &ft, NULL), 1);
    cr_assert_eq(ft, 38);
    gguf_close(f);
}

Test(quantize, q4_k_m_mix_in_a_generated_model) {
    /* tiny: 2 layers -> layer 1 (>= 7*2/8) gets more bits, layer 0 does not; untied output */
    gen("tiny", QUANT_FTYPE_ALL_F32, 1, "", tmp("f32.gguf"));
    he_error err = {0};
    cr_assert_eq(
        quant_model_file(tmp("f32.gguf"), tmp("q4km.gguf"), QUANT_FTYPE_MOSTLY_Q4_K_M, 2, &err), 0,
        "%s", err.msg);
    gguf_file *f = open_ok(tmp("q4km.gguf"));
    static const struct {
        const char *name;
        uint32_t type;
    } expect[] = {
        {"token_embd.weight", TENSOR_TYPE_Q4_K},     {"output.weight", TENSOR_TYPE_Q6_K},
        {"output_norm.weight", TENSOR_TYPE_F32},     {"blk.0.attn_norm.weight", TENSOR_TYPE_F32},
        {"blk.0.attn_q.weight", TENSOR_TYPE_Q4_K},   {"blk.0.attn_k.weight", TENSOR_TYPE_Q4_K},
        {"blk.0.attn_v.weight", TENSOR_TYPE_Q4_K},   {"blk.0.attn_output.weight", TENSOR_TYPE_Q4_K},
        {"blk.0.ffn_gate.weight", TENSOR_TYPE_Q4_K}, {"blk.0.ffn_up.weight", TENSOR_TYPE_Q4_K},
        {"blk.0.ffn_down.weight", TENSOR_TYPE_Q4_K}, {"blk.1.attn_v.weight", TENSOR_TYPE_Q6_K},
        {"blk.1.ffn_down.weight", TENSOR_TYPE_Q6_K}, {"blk.1.attn_q.weight", TENSOR_TYPE_Q4_K},
        {"blk.1.ffn_norm.weight", TENSOR_TYPE_F32},
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        const gguf_tensor *t = gguf_tensor_find(f, expect[i].name);
        cr_assert(t, "missing %s", expect[i].name);
        cr_assert_eq(t->type, expect[i].type, "%s: type %u, expected %u", expect[i].name, t->type,
                     expect[i].type);
    }
    int64_t ft;
    cr_assert_eq(gguf_find_i64(f, "general.file_type", &ft, NULL), 1);
    cr_assert_eq(ft, 15);
    gguf_close(f);
}

/* ---- Round trips ---- */

/* Relative RMSE bounds of dequant(quant(w)) vs w for ~N(0, 0.02) weights (measured values are
 * about half of these; see docs). */
static const struct {
    const char *name;
    double max_rel_rmse;
} round_trip[] = {
    {"f16", 0.001}, {"bf16", 0.005}, {"q8_0", 0.01},   {"q6_k", 0.04},
    {"q5_0", 0.07}, {"q5_1", 0.07},  {"q5_k", 0.07},   {"q4_0", 0.14},
    {"q4_1", 0.14}, {"q4_k", 0.14},  {"q4_k_m", 0.14}, {"q5_k_m", 0.07},
    /* measured 0.074, 0.075, 0.112, 0.771 (ternary: 3 levels), 0.771 */
    {"iq4_nl", 0.14}, {"iq4_xs", 0.14}, {"mxfp4", 0.2}, {"tq1_0", 0.9}, {"tq2_0", 0.9},
};

Test(quantize, round_trip_error_per_type) {
    gen("tiny", QUANT_FTYPE_ALL_F32, 7, "", tmp("src.gguf"));
    gguf_file *src = open_ok(tmp("src.gguf"));
    for (size_t c = 0; c < sizeof round_trip / sizeof round_trip[0]; c++) {
        quant_ftype ft;
        cr_assert_eq(quant_ftype_from_name(round_trip[c].name, &ft, NULL), 0);
        he_error err = {0};
        cr_assert_eq(quant_model_file(tmp("src.gguf"), tmp("q.gguf"), ft, 2, &err), 0, "%s: %s",
                     round_trip[c].name, err.msg);
        gguf_file *q = open_ok(tmp("q.gguf"));
        cr_assert_eq(gguf_n_tensors(q), gguf_n_tensors(src));
        double worst = 0.0;
        for (int64_t i = 0; i < gguf_n_tensors(src); i++) {
            const gguf_tensor *a = gguf_tensor_at(src, i);
            const gguf_tensor *b = gguf_tensor_find(q, tname(a));
            cr_assert(b, "%s: %s missing", round_trip[c].name, tname(a));
            cr_assert_eq(b->n_dims, a->n_dims);
            for (uint32_t d = 0; d < a->n_dims; d++)
                cr_assert_eq(b->ne[d], a->ne[d]);
            int64_t n = n_elems(a);
            float *x = to_f32(a), *y = to_f32(b);
            double se = 0.0, ss = 0.0;
            for (int64_t k = 0; k < n; k++) {
                double dlt = (double)y[k] - (double)x[k];
                se += dlt * dlt;
                ss += (double)x[k] * (double)x[k];
            }
            double rel = sqrt(se / ss);
            if (a->n_dims == 1) {
                cr_assert_eq(b->type, TENSOR_TYPE_F32, "%s: 1-D %s quantized", round_trip[c].name,
                             tname(a));
                cr_assert_eq(rel, 0.0, "%s: 1-D %s changed", round_trip[c].name, tname(a));
            } else {
                cr_assert_neq(b->type, TENSOR_TYPE_F32, "%s: %s left in f32", round_trip[c].name,
                              tname(a));
            }
            cr_assert_lt(rel, round_trip[c].max_rel_rmse, "%s: %s relative RMSE %.5f",
                         round_trip[c].name, tname(a), rel);
            if (rel > worst) worst = rel;
            free(x);
            free(y);
        }
        cr_log_info("%-7s worst relative RMSE %.5f (bound %.3f)", round_trip[c].name, worst,
                    round_trip[c].max_rel_rmse);
        gguf_close(q);
    }
    gguf_close(src);
}

Test(quantize, requantizing_from_a_quantized_input) {
    /* q8_0 -> q4_0 goes through f32; q8_0 -> q8_0 copies bytes */
    gen("tiny", QUANT_FTYPE_MOSTLY_Q8_0, 3, "", tmp("q8.gguf"));
    he_error err = {0};
    cr_assert_eq(quant_model_file(tmp("q8.gguf"), tmp("q4.gguf"), QUANT_FTYPE_MOSTLY_Q4_0, 2, &err),
                 0, "%s", err.msg);
    cr_assert_eq(
        quant_model_file(tmp("q8.gguf"), tmp("q8b.gguf"), QUANT_FTYPE_MOSTLY_Q8_0, 2, &err), 0,
        "%s", err.msg);
    gguf_file *a = open_ok(tmp("q8.gguf")), *b = open_ok(tmp("q8b.gguf")),
              *c = open_ok(tmp("q4.gguf"));
    const gguf_tensor *ta = gguf_tensor_find(a, "blk.0.ffn_up.weight"),
                      *tb = gguf_tensor_find(b, "blk.0.ffn_up.weight");
    cr_assert_eq(ta->nbytes, tb->nbytes);
    cr_assert(!memcmp(ta->data, tb->data, ta->nbytes));
    cr_assert_eq(gguf_tensor_find(c, "blk.0.ffn_up.weight")->type, TENSOR_TYPE_Q4_0);
    gguf_close(a);
    gguf_close(b);
    gguf_close(c);
}

/* ---- Metadata ---- */

Test(quantize, metadata_preserved) {
    gen("tiny-qwen3", QUANT_FTYPE_MOSTLY_F16, 2, "", tmp("in.gguf"));
    he_error err = {0};
    cr_assert_eq(
        quant_model_file(tmp("in.gguf"), tmp("out.gguf"), QUANT_FTYPE_MOSTLY_Q5_K_M, 2, &err), 0,
        "%s", err.msg);
    gguf_file *a = open_ok(tmp("in.gguf")), *b = open_ok(tmp("out.gguf"));
    cr_assert_eq(gguf_n_kv(b), gguf_n_kv(a));
    for (int64_t i = 0; i < gguf_n_kv(a); i++) {
        gguf_str k = gguf_key(a, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.ptr);
        int64_t j = gguf_find_key(b, key);
        cr_assert_geq(j, 0, "key %s lost", key);
        cr_assert_eq(gguf_kv_type(b, j), gguf_kv_type(a, i), "key %s changed type", key);
        if (!strcmp(key, "general.file_type")) continue;
        gguf_value va, vb;
        cr_assert_eq(gguf_get_value(a, i, &va), 0);
        cr_assert_eq(gguf_get_value(b, j, &vb), 0);
        if (va.type == GGUF_TYPE_ARRAY) {
            cr_assert_eq(vb.n, va.n, "key %s: array length", key);
            cr_assert_eq(vb.elem_type, va.elem_type);
            uint64_t last = va.n - 1; /* spot-check the last element */
            gguf_value ea, eb;
            cr_assert_eq(gguf_value_elem(&va, last, &ea, NULL), 0);
            cr_assert_eq(gguf_value_elem(&vb, last, &eb, NULL), 0);
            if (ea.type == GGUF_TYPE_STRING) {
                gguf_str sa, sb;
                cr_assert_eq(gguf_value_str(&ea, &sa, NULL), 0);
                cr_assert_eq(gguf_value_str(&eb, &sb, NULL), 0);
                cr_assert(sa.len == sb.len && !memcmp(sa.ptr, sb.ptr, sa.len), "key %s", key);
            } else {
                double da, db;
                cr_assert_eq(gguf_value_f64(&ea, &da, NULL), 0);
                cr_assert_eq(gguf_value_f64(&eb, &db, NULL), 0);
                cr_assert_eq(da, db, "key %s", key);
            }
        } else if (va.type == GGUF_TYPE_STRING) {
            gguf_str sa, sb;
            cr_assert_eq(gguf_get_str(a, i, &sa, NULL), 0);
            cr_assert_eq(gguf_get_str(b, j, &sb, NULL), 0);
            cr_assert(sa.len == sb.len && !memcmp(sa.ptr, sb.ptr, sa.len), "key %s", key);
        } else if (va.type == GGUF_TYPE_BOOL) {
            bool ba, bb;
            cr_assert_eq(gguf_get_bool(a, i, &ba, NULL), 0);
            cr_assert_eq(gguf_get_bool(b, j, &bb, NULL), 0);
            cr_assert_eq(ba, bb, "key %s", key);
        } else if (va.type == GGUF_TYPE_FLOAT32 || va.type == GGUF_TYPE_FLOAT64) {
            double da, db;
            cr_assert_eq(gguf_get_f64(a, i, &da, NULL), 0);
            cr_assert_eq(gguf_get_f64(b, j, &db, NULL), 0);
            cr_assert_eq(da, db, "key %s", key);
        } else {
            uint64_t ua, ub;
            cr_assert_eq(gguf_get_u64(a, i, &ua, NULL), 0, "key %s", key);
            cr_assert_eq(gguf_get_u64(b, j, &ub, NULL), 0);
            cr_assert_eq(ua, ub, "key %s", key);
        }
    }
    int64_t v;
    cr_assert_eq(gguf_find_i64(b, "general.file_type", &v, NULL), 1);
    cr_assert_eq(v, QUANT_FTYPE_MOSTLY_Q5_K_M);
    cr_assert_eq(gguf_find_i64(b, "general.quantization_version", &v, NULL), 1);
    cr_assert_eq(v, 2);
    gguf_close(a);
    gguf_close(b);
}

/* ---- Errors ---- */

Test(quantize, missing_input_is_an_io_error) {
    he_error err = {0};
    cr_assert_eq(
        quant_model_file(tmp("nope.gguf"), tmp("out.gguf"), QUANT_FTYPE_MOSTLY_Q4_0, 1, &err), -1);
    cr_assert_eq(err.code, HE_IO, "%s", err.msg);
    cr_assert_eq(access(tmp("out.gguf"), F_OK), -1);
}

/* Every quantized type a GGUF file may hold now has a dequantizer (the importance-matrix
 * i-quants were the last ones without), so quant_model_file's refusal of an input type it cannot
 * read (HE_UNSUPPORTED) is no longer reachable from a real type id: the invariant is checked
 * here instead, and a file of such a type (llama-quantize's IQ2_XXS) is requantized. */
Test(quantize, every_quantized_input_type_has_a_dequantizer) {
    for (uint32_t t = 0; t < TENSOR_TYPE_COUNT; t++) {
        const tensor_traits *tr = tensor_traits_of(t);
        if (tr && tr->is_quantized) cr_assert(tr->to_float, "%s has no dequantizer", tr->name);
    }
    char in[1024];
    fixture_path(in, sizeof in, "quant/tiny-IQ2_XXS.gguf");
    he_error err = {0};
    cr_assert_eq(quant_model_file(in, tmp("out.gguf"), QUANT_FTYPE_MOSTLY_Q8_0, 1, &err), 0, "%s",
                 err.msg);
    gguf_file *f = gguf_open(tmp("out.gguf"), &err);
    cr_assert(f, "%s", err.msg);
    const gguf_tensor *q = gguf_tensor_find(f, "blk.0.attn_q.weight");
    cr_assert(q && q->type == TENSOR_TYPE_Q8_0);
    gguf_close(f);
}

Test(quantize, garbage_input_is_a_format_error) {
    FILE *fp = fopen(tmp("junk.gguf"), "wb");
    fputs("This is not a GGUF model at all", fp);
    fclose(fp);
    he_error err = {0};
    cr_assert_eq(
        quant_model_file(tmp("junk.gguf"), tmp("out.gguf"), QUANT_FTYPE_MOSTLY_Q8_0, 1, &err), -1);
    cr_assert_eq(err.code, HE_FORMAT, "%s", err.msg);
    cr_assert_eq(access(tmp("out.gguf"), F_OK), -1);
}

/* ---- The generator ---- */

static int64_t get_i64(const gguf_file *f, const char *key) {
    int64_t v = -1;
    cr_assert_eq(gguf_find_i64(f, key, &v, NULL), 1, "missing %s", key);
    return v;
}

Test(quantize, synth_shapes_metadata_and_tensors) {
    static const char *const names[] = {"tiny", "tiny-llama3", "tiny-qwen2", "tiny-qwen3"};
    for (size_t s = 0; s < 4; s++) {
        const synth_shape *sh = synth_shape_find(names[s]);
        cr_assert(sh);
        gen(names[s], QUANT_FTYPE_ALL_F32, 0, "", tmp("m.gguf"));
        gguf_file *f = open_ok(tmp("m.gguf"));
        gguf_str arch;
        cr_assert_eq(gguf_find_str(f, "general.architecture", &arch, NULL), 1);
        cr_assert(arch.len == strlen(sh->arch) && !memcmp(arch.ptr, sh->arch, arch.len));
        char key[128];
        int32_t hd = sh->head_dim ? sh->head_dim : sh->n_embd / sh->n_head;
#define GET(suffix) (snprintf(key, sizeof key, "%s." suffix, sh->arch), get_i64(f, key))
        cr_assert_eq(GET("embedding_length"), sh->n_embd);
        cr_assert_eq(GET("block_count"), sh->n_layer);
        cr_assert_eq(GET("attention.head_count"), sh->n_head);
        cr_assert_eq(GET("attention.head_count_kv"), sh->n_head_kv);
        cr_assert_eq(GET("feed_forward_length"), sh->n_ff);
        cr_assert_eq(GET("attention.key_length"), hd);
#undef GET
        gguf_value toks;
        cr_assert_eq(gguf_find_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &toks, NULL), 1);
        cr_assert_gt(toks.n, 259 + 100);
        const gguf_tensor *te = gguf_tensor_find(f, "token_embd.weight");
        cr_assert(te);
        cr_assert_eq(te->ne[0], sh->n_embd);
        cr_assert_eq((uint64_t)te->ne[1], toks.n);
        cr_assert_eq(gguf_tensor_find(f, "output.weight") == NULL, sh->tied);
        cr_assert_eq(gguf_tensor_find(f, "blk.0.attn_q.bias") != NULL, sh->qkv_bias);
        cr_assert_eq(gguf_tensor_find(f, "blk.1.attn_k_norm.weight") != NULL, sh->qk_norm);
        cr_assert_eq(gguf_tensor_find(f, "rope_freqs.weight") != NULL, sh->rope_scale > 0.0f);
        const gguf_tensor *q = gguf_tensor_find(f, "blk.1.attn_q.weight");
        cr_assert_eq(q->ne[0], sh->n_embd);
        cr_assert_eq(q->ne[1], sh->n_head * hd);
        const gguf_tensor *k = gguf_tensor_find(f, "blk.1.attn_k.weight");
        cr_assert_eq(k->ne[1], sh->n_head_kv * hd);
        const gguf_tensor *o = gguf_tensor_find(f, "blk.1.attn_output.weight");
        cr_assert_eq(o->ne[0], sh->n_head * hd);
        cr_assert_eq(o->ne[1], sh->n_embd);
        /* weights ~ N(0, 0.02), norms ~ 1 */
        float *w = to_f32(q), *nw = to_f32(gguf_tensor_find(f, "blk.0.attn_norm.weight"));
        double s1 = 0, s2 = 0;
        int64_t n = n_elems(q);
        for (int64_t i = 0; i < n; i++) {
            s1 += (double)w[i];
            s2 += (double)w[i] * (double)w[i];
        }
        double mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
        cr_assert(fabs(mean) < 0.001 && fabs(sd - 0.02) < 0.001, "%s: mean %g sd %g", names[s],
                  mean, sd);
        for (int i = 0; i < sh->n_embd; i++)
            cr_assert(nw[i] > 0.7f && nw[i] < 1.3f);
        free(w);
        free(nw);
        gguf_close(f);
    }
}

Test(quantize, synth_real_shapes_table) {
    /* the hparams of the real models, as their llama.cpp conversions carry them */
    static const struct {
        const char *name, *arch;
        int32_t embd, layers, heads, kv, ff, hd;
        float rope;
        bool tied, bias, qk_norm;
    } real[] = {
        {"tinyllama", "llama", 2048, 22, 32, 4, 5632, 0, 10000.0f, false, false, false},
        {"llama3-1b", "llama", 2048, 16, 32, 8, 8192, 0, 500000.0f, true, false, false},
        {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 0, 1e6f, true, true, false},
        {"qwen3-0.6b", "qwen3", 1024, 28, 16, 8, 3072, 128, 1e6f, true, false, true},
    };
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        const synth_shape *s = synth_shape_find(real[i].name);
        cr_assert(s, "%s", real[i].name);
        cr_assert_str_eq(s->arch, real[i].arch);
        cr_assert(s->n_embd == real[i].embd && s->n_layer == real[i].layers &&
                      s->n_head == real[i].heads && s->n_head_kv == real[i].kv &&
                      s->n_ff == real[i].ff && s->head_dim == real[i].hd,
                  "%s", real[i].name);
        cr_assert_eq(s->rope_base, real[i].rope, "%s", real[i].name);
        cr_assert(s->tied == real[i].tied && s->qkv_bias == real[i].bias &&
                      s->qk_norm == real[i].qk_norm,
                  "%s", real[i].name);
    }
    const synth_shape *l3 = synth_shape_find("llama3-1b");
    cr_assert(l3->rope_scale == 32.0f && l3->rope_low == 1.0f && l3->rope_high == 4.0f &&
              l3->rope_orig_ctx == 8192);
    cr_assert_null(synth_shape_find("llama3-8b"));
}

Test(quantize, synth_llama3_rope_freqs) {
    gen("tiny-llama3", QUANT_FTYPE_ALL_F32, 0, "", tmp("l3.gguf"));
    gguf_file *f = open_ok(tmp("l3.gguf"));
    const gguf_tensor *t = gguf_tensor_find(f, "rope_freqs.weight");
    cr_assert(t);
    cr_assert_eq(t->type, TENSOR_TYPE_F32);
    cr_assert_eq(t->ne[0], 32);
    float *v = to_f32(t);
    /* high frequencies unchanged, the lowest ones divided by the factor 32, monotone between */
    cr_assert_float_eq(v[0], 1.0f, 1e-6f);
    cr_assert_float_eq(v[31], 32.0f, 1e-4f);
    for (int i = 1; i < 32; i++)
        cr_assert_geq(v[i], v[i - 1]);
    free(v);
    gguf_close(f);
}

static void *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    cr_assert(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    void *b = malloc(*len);
    cr_assert_eq(fread(b, 1, *len, fp), *len);
    fclose(fp);
    return b;
}

Test(quantize, synth_is_deterministic) {
    gen("tiny", QUANT_FTYPE_MOSTLY_Q4_K_M, 11, "", tmp("a.gguf"));
    synth_params p = {
        .shape = "tiny", .ftype = QUANT_FTYPE_MOSTLY_Q4_K_M, .seed = 11, .n_threads = 1};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&p, tmp("b.gguf"), &err), 0, "%s",
                 err.msg); /* other thread count */
    gen("tiny", QUANT_FTYPE_MOSTLY_Q4_K_M, 12, "", tmp("c.gguf"));
    size_t la, lb, lc;
    void *a = slurp(tmp("a.gguf"), &la), *b = slurp(tmp("b.gguf"), &lb),
         *c = slurp(tmp("c.gguf"), &lc);
    cr_assert(la == lb && !memcmp(a, b, la), "same seed, different files");
    cr_assert(la != lc || memcmp(a, c, la), "different seeds, same file");
    free(a);
    free(b);
    free(c);
}

Test(quantize, synth_copies_the_vocab) {
    char vocab[1024];
    fixture_path(vocab, sizeof vocab, "vocab/ggml-vocab-llama-spm.gguf");
    gen("tiny", QUANT_FTYPE_MOSTLY_Q8_0, 0, vocab, tmp("v.gguf"));
    gguf_file *v = open_ok(vocab), *m = open_ok(tmp("v.gguf"));
    int copied = 0;
    for (int64_t i = 0; i < gguf_n_kv(v); i++) {
        gguf_str k = gguf_key(v, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.ptr);
        if (strncmp(key, "tokenizer.", 10)) continue;
        cr_assert_geq(gguf_find_key(m, key), 0, "%s not copied", key);
        cr_assert_eq(gguf_kv_type(m, gguf_find_key(m, key)), gguf_kv_type(v, i));
        copied++;
    }
    cr_assert_gt(copied, 3);
    gguf_value toks;
    cr_assert_eq(gguf_find_arr(v, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &toks, NULL), 1);
    cr_assert_eq((uint64_t)gguf_tensor_find(m, "token_embd.weight")->ne[1], toks.n);
    cr_assert_eq(get_i64(m, "llama.vocab_size"), (int64_t)toks.n);
    gguf_close(v);
    gguf_close(m);
}

Test(quantize, synth_errors) {
    synth_params p = {.shape = "gpt5", .ftype = QUANT_FTYPE_ALL_F32};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&p, tmp("x.gguf"), &err), -1);
    cr_assert_eq(err.code, HE_INVALID);
    cr_assert(strstr(err.msg, "gpt5") && strstr(err.msg, "tinyllama"), "%s", err.msg);
    p.shape = "tiny";
    p.vocab_path = tmp("no-such-vocab.gguf");
    cr_assert_eq(synth_make_model(&p, tmp("x.gguf"), &err), -1);
    cr_assert_eq(err.code, HE_IO, "%s", err.msg);
    cr_assert_eq(access(tmp("x.gguf"), F_OK), -1);
}
