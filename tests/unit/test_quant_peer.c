/* test_quant_peer.c — the IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, IQ3_S formats and the importance-matrix
 * i-quants (IQ3_XXS, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M) against llama.cpp, from
 * the reference tools/gen_quant_peer_ref.py wrote once (tests/data/quant/peer_reference.json):
 *
 *   1. hearth quantizes the same tiny f32 model (make-model tiny, seed 7) and must write, tensor
 *      for tensor, the bytes llama.cpp's `llama-quantize --pure` wrote (SHA-256 of each tensor's
 *      data). So the file hearth reads below IS llama-quantize's file.
 *   2. hearth's next-token top-5 log-probs on that file must match llama-server's within 5e-3
 *      for every recorded prompt (computed as llama-server does: softmax over the full vocab).
 *   IQ3_S is checked both ways: hearth's own quantizer (bytes as above), and llama-quantize's
 *   file itself, carried in tests/data/quant/, read as it is. The importance-matrix types only
 *   the second way (hearth has no quantizer for them): llama-quantize --imatrix's files are
 *   carried, all their block tensors in the type (token_embd: Q4_K).
 *
 * Run under every kernel set the CPU has (HEARTH_ISA; tensor_isa() is logged): the SIMD kernels
 * are bit-identical to the references (test_kernels), so the result does not depend on it. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "model/hearth.h"
#include "model/quantize.h"
#include "model/synth.h"
#include "tensor/tensor.h"
#include "fixtures.h"
#include "server_logprobs.h"

static char tmpdir[64];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/hearth-test-qpeer-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    cr_assert(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(quant_peer, .init = make_tmpdir, .fini = remove_tmpdir);

static json_t *reference(void) {
    char path[1024];
    fixture_path(path, sizeof path, "quant/peer_reference.json");
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    cr_assert(root, "%s: %s", path, je.text);
    return root;
}

/* the tiny f32 model of the reference, quantized by hearth to ftype; returns its path */
static const char *make_quantized(const char *type_name, char *out, size_t cap) {
    char f32[256];
    snprintf(f32, sizeof f32, "%s/tiny-f32.gguf", tmpdir);
    he_error err = {0};
    if (access(f32, R_OK) != 0) {
        synth_params p = {.shape = "tiny", .ftype = QUANT_FTYPE_ALL_F32, .seed = 7, .n_threads = 2};
        cr_assert_eq(synth_make_model(&p, f32, &err), 0, "make-model: %s", err.msg);
    }
    quant_ftype ft;
    cr_assert_eq(quant_ftype_from_name(type_name, &ft, &err), 0, "%s", err.msg);
    snprintf(out, cap, "%s/tiny-%s.gguf", tmpdir, type_name);
    cr_assert_eq(quant_model_file(f32, out, ft, 2, &err), 0, "quantize %s: %s", type_name, err.msg);
    return out;
}

static void hex(const unsigned char *d, char *out) {
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* every tensor of the reference exists in hearth's file with the same type and data hash */
static void check_bytes(const char *type_name, const char *path, json_t *tensors) {
    he_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    cr_assert(f, "%s", err.msg);
    cr_assert_eq(gguf_n_tensors(f), (int64_t)json_object_size(tensors));
    const char *name;
    json_t *tj;
    int n_quant = 0, n_type = 0;
    const int type = tensor_type_from_name(type_name);
    json_object_foreach(tensors, name, tj) {
        const gguf_tensor *t = gguf_tensor_find(f, name);
        cr_assert(t, "%s: tensor %s missing", type_name, name);
        cr_assert_eq(t->type, (uint32_t)json_integer_value(json_object_get(tj, "type")),
                     "%s: %s has type %u", type_name, name, t->type);
        unsigned char d[SHA256_DIGEST_LENGTH];
        SHA256(t->data, t->nbytes, d);
        char h[2 * SHA256_DIGEST_LENGTH + 1];
        hex(d, h);
        cr_assert_str_eq(h, json_string_value(json_object_get(tj, "sha256")),
                         "%s: %s differs from llama-quantize's bytes", type_name, name);
        if (t->type != TENSOR_TYPE_F32) n_quant++;
        if ((int)t->type == type) n_type++;
    }
    cr_assert_geq(n_quant, 10, "%s: only %d quantized tensors", type_name, n_quant);
    cr_assert_geq(n_type, 10, "%s: only %d tensors of the type", type_name, n_type);
    gguf_close(f);
}

/* worst |log-prob - reference| over every case's top-5 */
static double check_logprobs(const char *type_name, const char *path, json_t *cases) {
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert(m, "load %s: %s", path, err.msg);
    const int nv = hearth_model_n_vocab(m);
    double *lp = malloc((size_t)nv * sizeof *lp);
    double worst = 0.0, spread = 0.0;
    size_t ci;
    json_t *cj;
    cr_assert_geq(json_array_size(cases), 4);
    json_array_foreach(cases, ci, cj) {
        hearth_ctx_params p = hearth_ctx_params_default();
        p.n_ctx = 64;
        p.n_threads = 2;
        hearth_ctx *c = hearth_ctx_new(m, &p, &err);
        cr_assert(c, "%s", err.msg);
        json_t *ids = json_object_get(cj, "prompt_ids");
        const int n = (int)json_array_size(ids);
        hearth_batch b;
        hearth_batch_init(&b, 64);
        for (int k = 0; k < n; k++)
            hearth_batch_add(&b, (int32_t)json_integer_value(json_array_get(ids, k)), k, 0,
                             k == n - 1);
        cr_assert_eq(hearth_decode(c, &b, &err), 0, "%s", err.msg);
        server_logprobs(hearth_logits(c, n - 1), nv, lp);
        json_t *top = json_object_get(cj, "top5");
        cr_assert_eq(json_array_size(top), 5);
        for (size_t r = 0; r < 5; r++) {
            json_t *pair = json_array_get(top, r);
            const int id = (int)json_integer_value(json_array_get(pair, 0));
            const double ref = json_number_value(json_array_get(pair, 1));
            cr_assert(id >= 0 && id < nv);
            const double d = fabs(lp[id] - ref);
            if (d > worst) worst = d;
            cr_assert(d <= 5e-3, "%s case %zu: top-%zu token %d log-prob %.5f, llama.cpp %.5f",
                      type_name, ci, r + 1, id, lp[id], ref);
            if (r == 4) {
                const double s = json_number_value(json_array_get(json_array_get(top, 0), 1)) - ref;
                if (s > spread) spread = s;
            }
        }
        hearth_batch_deinit(&b);
        hearth_ctx_free(c);
    }
    /* the check means something only if the top-5 are not all equal */
    cr_assert_gt(spread, 0.05, "%s: top-5 log-probs not spread (%.4f)", type_name, spread);
    free(lp);
    hearth_model_free(m);
    return worst;
}

/* carried: the file is llama-quantize's own (tests/data/quant/tiny-TYPE.gguf); its hashes then
 * only confirm the fixture is the one the reference was made from */
static void check_type_file(const char *type_name, bool carried) {
    json_t *root = reference();
    json_t *t = json_object_get(json_object_get(root, "types"), type_name);
    cr_assert(t, "no reference for %s", type_name);
    char path[1024];
    if (carried) {
        char rel[64];
        snprintf(rel, sizeof rel, "quant/tiny-%s.gguf", type_name);
        fixture_path(path, sizeof path, rel);
    } else {
        make_quantized(type_name, path, sizeof path);
    }
    check_bytes(type_name, path, json_object_get(t, "tensors"));
    const double worst = check_logprobs(type_name, path, json_object_get(t, "cases"));
    cr_log_info("%s (%s kernels): bytes equal llama-quantize's%s; max |logprob - llama.cpp| = %.2e",
                type_name, tensor_isa(), carried ? " (its own file)" : "", worst);
    json_decref(root);
}

static void check_type(const char *type_name) { check_type_file(type_name, false); }

Test(quant_peer, iq4_nl_matches_llama_cpp, .timeout = 60) { check_type("IQ4_NL"); }
Test(quant_peer, iq4_xs_matches_llama_cpp, .timeout = 60) { check_type("IQ4_XS"); }
Test(quant_peer, tq1_0_matches_llama_cpp, .timeout = 60) { check_type("TQ1_0"); }
Test(quant_peer, tq2_0_matches_llama_cpp, .timeout = 60) { check_type("TQ2_0"); }
Test(quant_peer, iq3_s_matches_llama_cpp, .timeout = 60) { check_type("IQ3_S"); }
Test(quant_peer, iq3_s_file_matches_llama_cpp, .timeout = 60) { check_type_file("IQ3_S", true); }

/* the importance-matrix types: llama-quantize --imatrix's files (hearth cannot write them) */
Test(quant_peer, iq3_xxs_file_matches_llama_cpp, .timeout = 60) {
    check_type_file("IQ3_XXS", true);
}
Test(quant_peer, iq2_xxs_file_matches_llama_cpp, .timeout = 60) {
    check_type_file("IQ2_XXS", true);
}
Test(quant_peer, iq2_xs_file_matches_llama_cpp, .timeout = 60) { check_type_file("IQ2_XS", true); }
Test(quant_peer, iq2_s_file_matches_llama_cpp, .timeout = 60) { check_type_file("IQ2_S", true); }
Test(quant_peer, iq1_s_file_matches_llama_cpp, .timeout = 60) { check_type_file("IQ1_S", true); }
Test(quant_peer, iq1_m_file_matches_llama_cpp, .timeout = 60) { check_type_file("IQ1_M", true); }
