/* test_moe.c — mixture-of-experts models (qwen2moe, qwen3moe, Mixtral-style llama).
 *
 * Each model is regenerated with `hearth make-model`'s generator (synth.h, deterministic for a
 * seed) and checked against references hearth did not write:
 *   - tiny-qwen2moe and tiny-mixtral (f32 and a quantized type) against llama.cpp's
 *     llama-server: next-token top-5 log-probs within 2e-3 (tests/data/moe/moe.reference.json,
 *     tools/moe_reference.py);
 *   - tiny-qwen3moe against a PyTorch model written from the Hugging Face Qwen3-MoE modeling
 *     code (tests/data/moe/qwen3moe.reference.json, tools/qwen3moe_reference.py);
 *   - tiny-gpt-oss (sinks, sliding window of 8, YaRN, biased router and experts, clamped
 *     SwiGLU) against a PyTorch model written from the Hugging Face gpt-oss modeling code
 *     (tests/data/moe/gptoss.reference.json, tools/gptoss_reference.py), on both attention paths;
 * plus batch invariance (a sequence decoded alone = decoded in a batch of 3, bit for bit),
 * prompt chunking, and the loader's refusals of MoE keys hearth does not implement. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORACLE_TAG "moe"
#include "engine_oracle.h"
#include "fixtures.h"
#include "gguf/gguf.h"
#include "model/hearth.h"
#include "model/synth.h"



/* Against llama-server (F16 KV cache, as the server ran). F32 models agree to 2.2e-5 (measured),
 * so they are held to 2e-4, ten times tighter than the 2e-3 the issue asks: the experts' share
 * of these random models' logits is small, and a wrong routing detail (e.g. top-k weights
 * renormalized or not) moves log-probs by 2e-3 .. 2e-2. Quantized models agree bit for bit up to
 * 17-token prompts (max 4.8e-7) and are held to 2e-3; from 33 tokens on llama.cpp's prompt
 * matmuls round the Q8_0 activations differently now and then, and the same happens on the
 * dense models (tiny-qwen2 Q8_0: 2.2e-3 at 33 tokens, 3.7e-3 at 70; tiny Q4_0: 2.8e-3 at 70;
 * measured with tools/moe_reference.py MOE_REF_MODELS=...), so those cases get 5e-3. */
static const tolerances server_tol = {.f32 = 2e-4, .quant = 2e-3, .quant_long = 5e-3};

Test(moe, qwen2moe_matches_llama_server) {
    int n = 0;
    double worst = check_reference_file("moe/moe.reference.json", "tiny-qwen2moe", server_tol, &n);
    cr_assert_geq(n, 20, "checked %d cases", n);
    cr_log_info("tiny-qwen2moe vs llama-server: %d cases, max |d log-prob| %.2e", n, worst);
}

Test(moe, mixtral_matches_llama_server) {
    int n = 0;
    double worst = check_reference_file("moe/moe.reference.json", "tiny-mixtral", server_tol, &n);
    cr_assert_geq(n, 20, "checked %d cases", n);
    cr_log_info("tiny-mixtral vs llama-server: %d cases, max |d log-prob| %.2e", n, worst);
}

/* Against the PyTorch model (float32 throughout), with an F32 KV cache so that both sides keep
 * K and V unrounded: measured 1.2e-6, held to 1e-4 (flipping the top-k renormalization moves
 * these log-probs by up to 7.6e-3). */
Test(moe, qwen3moe_matches_pytorch) {
    int n = 0;
    kv_type = HEARTH_KV_F32;
    const tolerances tl = {.f32 = 1e-4, .quant = 2e-3, .quant_long = 2e-3};
    double worst = check_reference_file("moe/qwen3moe.reference.json", NULL, tl, &n);
    cr_assert_geq(n, 14, "checked %d cases", n);
    cr_log_info("tiny-qwen3moe vs PyTorch: %d cases, max |d log-prob| %.2e", n, worst);
}

/* gpt-oss against its PyTorch model (float32, F32 KV cache), held to 1e-4, on the tiled and
 * the exact attention path. Prompts of 9+ tokens cross the window of 8 and YaRN's original
 * context of 16. */
Test(moe, gptoss_matches_pytorch) {
    kv_type = HEARTH_KV_F32;
    const tolerances tl = {.f32 = 1e-4, .quant = 2e-3, .quant_long = 2e-3};
    for (int exact = 0; exact < 2; exact++) {
        if (exact) setenv("HEARTH_ATTN", "exact", 1);
        int n = 0;
        double worst = check_reference_file("moe/gptoss.reference.json", NULL, tl, &n);
        cr_assert_geq(n, 12, "checked %d cases", n);
        cr_log_info("tiny-gpt-oss vs PyTorch (%s attention): %d cases, max |d log-prob| %.2e",
                    exact ? "exact" : "tiled", n, worst);
    }
    unsetenv("HEARTH_ATTN");
}

/* ---- Batch invariance ---- */

/* Logits of every token of seq's ids decoded alone (prompt in chunks of `chunk`). */
static void alone(const hearth_model *m, const int32_t *ids, int n, int chunk, float *out) {
    const int nv = hearth_model_n_vocab(m);
    hearth_ctx *c = ctx_ok(m, 1, 64);
    hearth_batch b;
    hearth_batch_init(&b, 64);
    for (int i = 0; i < n; i += chunk) {
        hearth_batch_clear(&b);
        for (int j = i; j < n && j < i + chunk; j++)
            hearth_batch_add(&b, ids[j], j, 0, true);
        decode_ok(c, &b);
        for (int j = 0; j < b.n_tokens; j++)
            memcpy(out + (size_t)(i + j) * nv, hearth_logits(c, j), (size_t)nv * sizeof(float));
    }
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
}

/* Three sequences decoded together — a prompt chunk of one beside single decode steps of the
 * others, in varying mixes, so experts see different groups of rows — must give each token the
 * logits it gets alone, bit for bit. */
static void check_batch_invariance(const char *shape, const char *type) {
    char path[256];
    make_model(path, sizeof path, shape, type, 3);
    hearth_model *m = load_ok(path);
    const int nv = hearth_model_n_vocab(m);
    enum { NS = 3, LEN = 24 };
    int32_t ids[NS][LEN];
    uint32_t x = 99;
    for (int s = 0; s < NS; s++)
        for (int i = 0; i < LEN; i++) {
            x = x * 1103515245u + 12345u;
            ids[s][i] = i == 0 ? 1 : 3 + (int32_t)((x >> 8) % (uint32_t)(nv - 3));
        }
    float *ref = malloc((size_t)NS * LEN * nv * sizeof(float));
    float *got = malloc((size_t)NS * LEN * nv * sizeof(float));
    cr_assert(ref && got);
    for (int s = 0; s < NS; s++)
        alone(m, ids[s], LEN, 1 + s * 7, ref + (size_t)s * LEN * nv);

    hearth_ctx *c = ctx_ok(m, NS, 64);
    hearth_batch b;
    hearth_batch_init(&b, 64);
    int done[NS] = {0};
    /* per step, how many tokens each sequence adds */
    static const int plan[][NS] = {{8, 1, 0}, {1, 5, 3},   {1, 1, 9}, {6, 6, 1},
                                   {8, 1, 1}, {0, 10, 10}, {0, 0, 0}};
    for (int step = 0;; step++) {
        bool last = plan[step][0] + plan[step][1] + plan[step][2] == 0;
        hearth_batch_clear(&b);
        for (int s = 0; s < NS; s++) {
            int k = last ? LEN - done[s] : plan[step][s];
            if (done[s] + k > LEN) k = LEN - done[s];
            for (int i = 0; i < k; i++)
                hearth_batch_add(&b, ids[s][done[s] + i], done[s] + i, s, true);
        }
        if (b.n_tokens) {
            decode_ok(c, &b);
            for (int j = 0; j < b.n_tokens; j++)
                memcpy(got + ((size_t)b.seq_id[j] * LEN + (size_t)b.pos[j]) * nv,
                       hearth_logits(c, j), (size_t)nv * sizeof(float));
            for (int j = 0; j < b.n_tokens; j++)
                done[b.seq_id[j]]++;
        }
        if (last) break;
    }
    for (int s = 0; s < NS; s++)
        cr_assert_eq(done[s], LEN);
    for (size_t i = 0; i < (size_t)NS * LEN * nv; i++)
        cr_assert_eq(ref[i], got[i], "%s %s: logit %zu (seq %zu pos %zu) %g alone, %g batched",
                     shape, type, i, i / ((size_t)LEN * nv), (i / nv) % LEN, (double)ref[i],
                     (double)got[i]);
    free(ref);
    free(got);
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
    hearth_model_free(m);
    unlink(path);
}

Test(moe, batch_invariance_qwen2moe) {
    check_batch_invariance("tiny-qwen2moe", "f32");
    check_batch_invariance("tiny-qwen2moe", "q4_0");
}
Test(moe, batch_invariance_qwen3moe) { check_batch_invariance("tiny-qwen3moe", "q8_0"); }
Test(moe, batch_invariance_mixtral) { check_batch_invariance("tiny-mixtral", "q4_k"); }
Test(moe, batch_invariance_gptoss) {
    check_batch_invariance("tiny-gpt-oss", "f32");
    check_batch_invariance("tiny-gpt-oss", "mxfp4");
}

/* ---- Loader ---- */

Test(moe, loader_refuses_what_it_does_not_implement) {
    char path[256];
    make_model(path, sizeof path, "tiny-qwen2moe", "f32", 5);
    expect_refused(path, "qwen2moe.expert_count", -1, HE_FORMAT, "qwen2moe.expert_count");
    expect_refused(path, "qwen2moe.expert_used_count", 9, HE_FORMAT, "qwen2moe.expert_used_count");
    expect_refused(path, "qwen2moe.expert_used_count", 0, HE_FORMAT, "qwen2moe.expert_used_count");
    expect_refused(path, "qwen2moe.expert_gating_func", 2, HE_UNSUPPORTED,
                   "qwen2moe.expert_gating_func");
    expect_refused(path, "qwen2moe.expert_shared_count", 2, HE_UNSUPPORTED,
                   "qwen2moe.expert_shared_count");
    expect_refused(path, "qwen2moe.leading_dense_block_count", 1, HE_UNSUPPORTED,
                   "qwen2moe.leading_dense_block_count");
    /* expert sizes that do not match the tensors: the shape error names the tensor */
    expect_refused(path, "qwen2moe.expert_feed_forward_length", 64, HE_FORMAT,
                   "ffn_gate_exps.weight");
    unlink(path);

    make_model(path, sizeof path, "tiny-mixtral", "f32", 5);
    expect_refused(path, "llama.expert_count", 16, HE_FORMAT, "ffn_gate_inp.weight");
    /* without expert_count a llama file with experts lacks the dense FFN tensors */
    expect_refused(path, "llama.expert_count", -1, HE_FORMAT, "ffn_gate.weight");
    unlink(path);
}

/* expert_weights_norm, when present, decides the renormalization: flipping it on qwen3moe
 * changes the logits (the key is read, not ignored), and writing the default changes nothing. */
Test(moe, expert_weights_norm_is_read) {
    char path[256], on[300], off[300];
    make_model(path, sizeof path, "tiny-qwen3moe", "f32", 5);
    snprintf(on, sizeof on, "%s.on.gguf", path);
    snprintf(off, sizeof off, "%s.off.gguf", path);
    rewrite_key(path, on, "qwen3moe.expert_weights_norm", 1, true);
    rewrite_key(path, off, "qwen3moe.expert_weights_norm", 0, true);
    const int32_t ids[] = {1, 50, 60, 70, 80, 90};
    double lp_def[1024], lp_on[1024], lp_off[1024];
    const char *paths[] = {path, on, off};
    double *outs[] = {lp_def, lp_on, lp_off};
    for (int i = 0; i < 3; i++) {
        hearth_model *m = load_ok(paths[i]);
        cr_assert_leq(hearth_model_n_vocab(m), 1024);
        next_logprobs(m, ids, 6, 6, outs[i]);
        hearth_model_free(m);
        unlink(paths[i]);
    }
    double d_on = 0, d_off = 0;
    for (int i = 0; i < 700; i++) {
        d_on = fmax(d_on, fabs(lp_def[i] - lp_on[i]));
        d_off = fmax(d_off, fabs(lp_def[i] - lp_off[i]));
    }
    cr_assert_eq(d_on, 0.0, "writing the default changed the output by %g", d_on);
    cr_assert_gt(d_off, 1e-4, "expert_weights_norm = false changed nothing");
}

/* gpt-oss: expert sizes that disagree with the expert biases are refused naming the bias, and
 * the sliding window is read: widening it past the prompt changes the logits of a 20-token
 * prompt (the even layers then see every position), while writing the default 8 changes
 * nothing. */
Test(moe, gptoss_window_and_biases_are_read) {
    char path[256], dst[300];
    make_model(path, sizeof path, "tiny-gpt-oss", "f32", 5);
    expect_refused(path, "gpt-oss.attention.sliding_window", 0, HE_FORMAT,
                   "gpt-oss.attention.sliding_window");
    expect_refused(path, "gpt-oss.expert_feed_forward_length", 64, HE_FORMAT, "ffn_gate_exps.bias");
    snprintf(dst, sizeof dst, "%s.edit.gguf", path);
    enum { N = 20 };
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = i == 0 ? 1 : 3 + (i * 37) % 200;
    double *base = malloc(4096 * sizeof(double)), *lp = malloc(4096 * sizeof(double));
    cr_assert(base && lp);
    hearth_model *m = load_ok(path);
    const int nv = hearth_model_n_vocab(m);
    cr_assert_leq(nv, 4096);
    next_logprobs(m, ids, N, N, base);
    hearth_model_free(m);
    const int64_t windows[] = {8, 4096};
    for (int w = 0; w < 2; w++) {
        rewrite_key(path, dst, "gpt-oss.attention.sliding_window", windows[w], false);
        m = load_ok(dst);
        next_logprobs(m, ids, N, N, lp);
        double d = 0.0;
        for (int i = 0; i < nv; i++)
            d = fmax(d, fabs(lp[i] - base[i]));
        if (windows[w] == 8)
            cr_assert_eq(d, 0.0, "window 8 written explicitly changed the logits by %g", d);
        else
            cr_assert_gt(d, 1e-3, "window 4096: logits moved only %g", d);
        hearth_model_free(m);
        unlink(dst);
    }
    free(base);
    free(lp);
    unlink(path);
}

/* hearth_model_idle_bytes (what `hearth bench` subtracts for the bandwidth a decode step uses),
 * recomputed from the file's tensor table: the unchosen experts' share of every *_exps tensor,
 * plus token_embd when the file has its own output.weight (a token reads one embedding row). */
static void check_idle_bytes(const char *shape) {
    char path[256];
    make_model(path, sizeof path, shape, "q8_0", 5);
    he_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    cr_assert(f, "%s", err.msg);
    hearth_model *m = load_ok(path);
    const uint64_t X = (uint64_t)hearth_model_n_expert(m), k = (uint64_t)hearth_model_n_expert_used(m);
    cr_assert(X > k && k > 0);
    uint64_t exps = 0, embd = 0;
    bool own_output = false;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (strstr(name, "_exps.weight")) exps += t->nbytes;
        if (!strcmp(name, "token_embd.weight")) embd = t->nbytes;
        if (!strcmp(name, "output.weight")) own_output = true;
    }
    cr_assert_gt(exps, 0);
    const uint64_t want = exps / X * (X - k) + (own_output ? embd : 0);
    cr_assert_eq(hearth_model_idle_bytes(m), want, "%s: idle %llu, from the tensor table %llu",
                 shape, (unsigned long long)hearth_model_idle_bytes(m), (unsigned long long)want);
    hearth_model_free(m);
    gguf_close(f);
    unlink(path);
}

Test(moe, idle_bytes_are_the_unread_weights) {
    check_idle_bytes("tiny-qwen2moe");
    check_idle_bytes("tiny-gpt-oss");
}
