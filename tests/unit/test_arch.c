/* test_arch.c — the gemma2 and phi3 architectures.
 *
 * Gemma 2: embeddings times sqrt(n_embd), GeGLU,
 * post-norms, Q scaled after RoPE, attention and final logit soft-capping, sliding-window
 * (even) layers.
 *
 * tiny-gemma2 (synth.h: 26 layers, a sliding window of 8, small soft-caps) is regenerated with
 * `hearth make-model`'s generator and checked against llama.cpp's llama-server on the same file
 * (tests/data/arch/arch.reference.json, tools/arch_reference.py): next-token top-5 log-probs
 * over 7 prompts of 1..70 tokens (up to ~9 windows), whole and in chunks of 3, with the tiled
 * and the exact attention paths. Then: the window, the soft-caps and the GeGLU are each shown
 * to matter (changing the window key moves the output), and the loader's refusals.
 *
 * Phi-3: fused attn_qkv and gate-up ffn_up tensors (bound as row views), Q scaled after RoPE,
 * every layer with a sliding window: tiny-phi3 (window 8) against llama-server the same way.
 *
 * YaRN RoPE scaling (rope.scaling.type = yarn): tiny-qwen2-yarn against llama-server. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORACLE_TAG "arch"
#include "engine_oracle.h"
#include "fixtures.h"
#include "gguf/gguf.h"
#include "model/hearth.h"
#include "model/synth.h"

/* Against llama-server (F16 KV cache, as the server ran), both attention paths. F32 agrees to
 * 2.2e-5 (measured) and is held to 2e-4; Q8_0 to 1.2e-3 (exact path; 9e-4 tiled), held to the
 * issue's 2e-3. Dropping the attention soft-cap (0.05 here) fails the F32 bound. */
static const tolerances server_tol = {.f32 = 2e-4, .quant = 2e-3, .quant_long = 2e-3};

Test(gemma2, matches_llama_server_tiled) {
    int n = 0;
    setenv("HEARTH_ATTN", "tiled", 1);
    double worst = check_reference_file("arch/arch.reference.json", "tiny-gemma2", server_tol, &n);
    cr_assert_geq(n, 28, "checked %d cases", n);
    cr_log_info("tiny-gemma2 vs llama-server (tiled): %d cases, max |d log-prob| %.2e", n, worst);
}

Test(gemma2, matches_llama_server_exact) {
    int n = 0;
    setenv("HEARTH_ATTN", "exact", 1);
    double worst = check_reference_file("arch/arch.reference.json", "tiny-gemma2", server_tol, &n);
    cr_assert_geq(n, 28, "checked %d cases", n);
    cr_log_info("tiny-gemma2 vs llama-server (exact): %d cases, max |d log-prob| %.2e", n, worst);
}

/* The sliding window is read and used: a 40-token prompt (5 windows) gives other log-probs
 * when gemma2.attention.sliding_window is widened past the prompt, and the same when it is
 * rewritten to its own value; a prompt within the window is unaffected by widening it. */
Test(gemma2, sliding_window_is_applied) {
    char path[256], same[300], wide[300];
    make_model(path, sizeof path, "tiny-gemma2", "f32", 5);
    snprintf(same, sizeof same, "%s.same.gguf", path);
    snprintf(wide, sizeof wide, "%s.wide.gguf", path);
    rewrite_key(path, same, "gemma2.attention.sliding_window", 8, false);
    rewrite_key(path, wide, "gemma2.attention.sliding_window", 4096, false);
    int32_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = i == 0 ? 1 : 3 + (i * 37) % 700;
    const char *paths[] = {path, same, wide};
    static double lp[3][2][1024];
    for (int i = 0; i < 3; i++) {
        hearth_model *m = load_ok(paths[i]);
        cr_assert_leq(hearth_model_n_vocab(m), 1024);
        next_logprobs(m, ids, 40, 7, lp[i][0]);
        next_logprobs(m, ids, 8, 8, lp[i][1]);
        hearth_model_free(m);
        unlink(paths[i]);
    }
    double d_same = 0, d_wide = 0, d_short = 0;
    for (int i = 0; i < 700; i++) {
        d_same = fmax(d_same, fabs(lp[0][0][i] - lp[1][0][i]));
        d_wide = fmax(d_wide, fabs(lp[0][0][i] - lp[2][0][i]));
        d_short = fmax(d_short, fabs(lp[0][1][i] - lp[2][1][i]));
    }
    cr_assert_eq(d_same, 0.0, "rewriting the window to its value changed the output by %g", d_same);
    cr_assert_eq(d_short, 0.0, "a prompt within the window changed by %g", d_short);
    cr_assert_gt(d_wide, 1e-3, "widening the window changed a 40-token prompt by only %g", d_wide);
    cr_log_info("sliding window 8 vs 4096 on 40 tokens: max |d log-prob| %.3g", d_wide);
}

Test(phi3, matches_llama_server_tiled) {
    int n = 0;
    setenv("HEARTH_ATTN", "tiled", 1);
    double worst = check_reference_file("arch/arch.reference.json", "tiny-phi3", server_tol, &n);
    cr_assert_geq(n, 28, "checked %d cases", n);
    cr_log_info("tiny-phi3 vs llama-server (tiled): %d cases, max |d log-prob| %.2e", n, worst);
}

Test(phi3, matches_llama_server_exact) {
    int n = 0;
    setenv("HEARTH_ATTN", "exact", 1);
    double worst = check_reference_file("arch/arch.reference.json", "tiny-phi3", server_tol, &n);
    cr_assert_geq(n, 28, "checked %d cases", n);
    cr_log_info("tiny-phi3 vs llama-server (exact): %d cases, max |d log-prob| %.2e", n, worst);
}

/* Files this engine cannot run correctly are refused by name: a missing window (the model is
 * not one of those llama.cpp has a default for), a window of 0. */
Test(phi3, loader_refuses_bad_keys) {
    char path[256];
    make_model(path, sizeof path, "tiny-phi3", "f32", 5);
    expect_refused(path, "phi3.attention.sliding_window", -1, HE_FORMAT,
                   "phi3.attention.sliding_window");
    unlink(path);
}

/* A window of 0 is Phi-4 (its converter writes 0): no sliding-window layer, as llama.cpp. */
Test(phi3, window_zero_means_none) {
    char path[256], zero[300];
    make_model(path, sizeof path, "tiny-phi3", "f32", 5);
    snprintf(zero, sizeof zero, "%s.zero.gguf", path);
    rewrite_key(path, zero, "phi3.attention.sliding_window", 0, false);
    hearth_model *m = load_ok(zero);
    hearth_model_free(m);
    unlink(zero);
    unlink(path);
}

/* YaRN RoPE scaling on tiny-qwen2-yarn (factor 4, original context 32; prompts up to 70). F32
 * and Q8_0 are held to 2e-4: measured 5.7e-6 over both since the Q8_0 dots keep llama.cpp's
 * 8-lane order (tensor_ref_dot_q8_0_q8_0; before, 4.8e-3 at 17 tokens, held to 5e-3). Without
 * the YaRN angles the F32 check fails. */
Test(yarn, qwen2_matches_llama_server) {
    int n = 0;
    setenv("HEARTH_ATTN", "tiled", 1);
    const tolerances tl = {.f32 = 2e-4, .quant = 2e-4, .quant_long = 2e-4};
    double worst = check_reference_file("arch/arch.reference.json", "tiny-qwen2-yarn", tl, &n);
    cr_assert_geq(n, 28, "checked %d cases", n);
    cr_log_info("tiny-qwen2-yarn vs llama-server: %d cases, max |d log-prob| %.2e", n, worst);
}

Test(gemma2, loader_refuses_bad_keys) {
    char path[256];
    make_model(path, sizeof path, "tiny-gemma2", "f32", 5);
    expect_refused(path, "gemma2.attention.sliding_window", 0, HE_FORMAT,
                   "gemma2.attention.sliding_window");
    unlink(path);
}

/* ---- Gemma 3 ---- */

/* tiny-gemma3 (12 layers: 5 and 11 global; window 8; local RoPE base 10000, global 1e6 with
 * linear factor 8; head size 64 with n_embd / n_head 32) against the PyTorch model written from
 * HF's modeling_gemma3 (tests/data/arch/gemma3*.reference.json, tools/gemma3_reference.py), F32
 * KV cache as PyTorch keeps, both attention paths.
 * F32 against the HF computation as written: measured 8.8e-4, held to the 2e-3 (a
 * local-layer RoPE base of 500 instead of 10000, or no linear factor, moves it by > 1e-2: see
 * hyperparameters_are_applied).
 * Q8_0 against the HF computation with ggml's quantized-file arithmetic (Q8_0-rounded matmul
 * inputs, f16 GELU): measured 5.2e-2, held to 7.5e-2. Not tighter because on this random
 * 12-layer model a single activation value rounding to the other Q8_0 step (a summation-order
 * difference of 1e-7 decides it) moves logits by up to 2.8e-2 (measured: 1e-6 relative noise on
 * the rounded inputs gives either 0 or 2.8e-2 after three layers), and a 70-token prompt has
 * several such values; llama.cpp has no gemma3 in the peer build to compare with bit-close
 * arithmetic. */
static const tolerances gemma3_tol = {.f32 = 2e-3, .quant = 7.5e-2, .quant_long = 7.5e-2};

static void gemma3_against_pytorch(const char *attn) {
    setenv("HEARTH_ATTN", attn, 1);
    kv_type = HEARTH_KV_F32;
    const char *files[] = {"arch/gemma3.reference.json", "arch/gemma3_q8_0.reference.json"};
    for (int i = 0; i < 2; i++) {
        int n = 0;
        double worst = check_reference_file(files[i], "tiny-gemma3", gemma3_tol, &n);
        cr_assert_geq(n, 14, "checked %d cases", n);
        cr_log_info("tiny-gemma3 vs PyTorch %s (%s): %d cases, max |d log-prob| %.2e", files[i],
                    attn, n, worst);
    }
    kv_type = HEARTH_KV_F16;
}

Test(gemma3, matches_pytorch_tiled) { gemma3_against_pytorch("tiled"); }
Test(gemma3, matches_pytorch_exact) { gemma3_against_pytorch("exact"); }

/* Each Gemma 3 hyperparameter hearth reads is used: widening the window, the local layers'
 * RoPE base (rope.freq_base_swa), the global base and the linear factor each move a 40-token
 * prompt's output; rewriting the window to its own value does not. */
Test(gemma3, hyperparameters_are_applied) {
    char path[256], edit[300];
    make_model(path, sizeof path, "tiny-gemma3", "f32", 5);
    snprintf(edit, sizeof edit, "%s.edit.gguf", path);
    struct {
        const char *key;
        int64_t u32;
        float f32;
        bool same;
    } cases[] = {
        {"gemma3.attention.sliding_window", 8, 0, true},
        {"gemma3.attention.sliding_window", 4096, 0, false},
        {"gemma3.rope.freq_base_swa", -1, 500.0f, false},
        {"gemma3.rope.freq_base", -1, 10000.0f, false},
        {"gemma3.rope.scaling.factor", -1, 1.0f, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].u32 >= 0)
            rewrite_key(path, edit, cases[i].key, cases[i].u32, false);
        else
            rewrite_key_f32(path, edit, cases[i].key, cases[i].f32, NULL);
        const double d = logprob_delta(path, 512, edit, 512, 40);
        if (cases[i].same)
            cr_assert_eq(d, 0.0, "%s rewritten to its value changed the output by %g", cases[i].key,
                         d);
        else
            cr_assert_gt(d, 1e-3, "%s changed only %g", cases[i].key, d);
        cr_log_info("gemma3 %s edited: max |d log-prob| %.3g", cases[i].key, d);
        unlink(edit);
    }
    unlink(path);
}

/* Keys hearth does not implement for gemma3 are refused by name; a missing window too (llama.cpp
 * requires it). */
Test(gemma3, loader_refuses_bad_keys) {
    char path[256], edit[300];
    make_model(path, sizeof path, "tiny-gemma3", "f32", 5);
    expect_refused(path, "gemma3.attention.sliding_window", -1, HE_FORMAT,
                   "gemma3.attention.sliding_window");
    expect_refused(path, "gemma3.attention.sliding_window_pattern", 4, HE_UNSUPPORTED,
                   "gemma3.attention.sliding_window_pattern");
    /* the pattern key, when present, must say gemma3's 5:1: as a period or one bool per layer */
    char pat[300];
    snprintf(pat, sizeof pat, "%s.pat.gguf", path);
    rewrite_key(path, pat, "gemma3.attention.sliding_window_pattern", 6, false);
    hearth_model_free(load_ok(pat));
    for (int bad = 0; bad < 2; bad++) {
        he_error e = {0};
        gguf_file *f = oracle_open_gguf(path);
        gguf_writer *w = oracle_copy_kv_except(f, NULL);
        uint8_t flags[12];
        for (int l = 0; l < 12; l++)
            flags[l] = (l + 1) % 6 != 0;
        if (bad) flags[5] = 1; /* layer 5 sliding too */
        gguf_writer_set_arr(w, "gemma3.attention.sliding_window_pattern", GGUF_TYPE_BOOL, flags,
                            12);
        oracle_write_with_tensors(w, f, NULL, pat);
        hearth_model *pm = hearth_model_load(pat, NULL, &e);
        if (bad) {
            cr_assert_null(pm);
            cr_assert_not_null(strstr(e.msg, "sliding_window_pattern"), "%s", e.msg);
        } else {
            cr_assert_not_null(pm, "%s", e.msg);
            hearth_model_free(pm);
        }
    }
    unlink(pat);
    snprintf(edit, sizeof edit, "%s.cap.gguf", path);
    rewrite_key_f32(path, edit, "gemma3.attn_logit_softcapping", 50.0f, NULL);
    he_error err = {0};
    hearth_model *m = hearth_model_load(edit, NULL, &err);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.msg, "gemma3.attn_logit_softcapping"), "%s", err.msg);
    rewrite_key_f32(path, edit, "gemma3.rope.scaling.type", 0, "su");
    m = hearth_model_load(edit, NULL, &err);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.msg, "rope.scaling.type"), "%s", err.msg);
    unlink(edit);
    unlink(path);
}

/* ---- Phi-3 LongRoPE ---- */

/* tiny-phi3-128k (original context 256 of 2048; short factors 1..1.5, long 1..40; attention
 * factor 1.17) against llama-server in both regimes (tests/data/arch/longrope.reference.json):
 * -c 512 takes the long factors, -c 256 the short ones, and hearth's contexts of 512 and 256
 * cells the same (the entries' n_ctx). F32 measures 2.6e-5 (long) and 3.5e-5 (short), held to
 * 2e-4; Q8_0 too since its dots keep llama.cpp's 8-lane order (tensor_ref_dot_q8_0_q8_0:
 * the max over everything is 3.5e-5, the F32 cases'; before, one 33-token Q8_0 prompt of the
 * long regime was 5.6e-3 away and the bound 6e-3 beyond 17 tokens). */
static void longrope_against_server(const char *attn) {
    int n = 0;
    setenv("HEARTH_ATTN", attn, 1);
    const tolerances tl = {.f32 = 2e-4, .quant = 2e-4, .quant_long = 2e-4};
    double worst = check_reference_file("arch/longrope.reference.json", "tiny-phi3-128k", tl, &n);
    cr_assert_geq(n, 56, "checked %d cases", n);
    cr_log_info("tiny-phi3-128k vs llama-server (%s, short and long factors): %d cases, max |d "
                "log-prob| %.2e",
                attn, n, worst);
}

Test(longrope, matches_llama_server_tiled) { longrope_against_server("tiled"); }
Test(longrope, matches_llama_server_exact) { longrope_against_server("exact"); }

/* The regime follows the context size: 257 cells take the long factors (as 512), 256 the short
 * ones (as 100); the attention factor is read (rewriting it moves the output). */
Test(longrope, regime_follows_context_size) {
    char path[256], edit[300];
    make_model(path, sizeof path, "tiny-phi3-128k", "f32", 5);
    cr_assert_eq(logprob_delta(path, 257, path, 512, 70), 0.0);
    cr_assert_eq(logprob_delta(path, 100, path, 256, 70), 0.0);
    const double d = logprob_delta(path, 256, path, 257, 70);
    cr_assert_gt(d, 1e-3, "long and short factors differ by only %g", d);
    snprintf(edit, sizeof edit, "%s.af.gguf", path);
    rewrite_key_f32(path, edit, "phi3.rope.scaling.attn_factor", 1.0f, NULL);
    const double da = logprob_delta(path, 512, edit, 512, 70);
    cr_assert_gt(da, 1e-3, "the attention factor moved the output by only %g", da);
    cr_log_info("LongRoPE: short vs long factors %.3g, attention factor 1.17 vs 1: %.3g", d, da);
    unlink(edit);
    unlink(path);
}

/* Only one of the two factor tensors, or factors on another architecture, are refused by name. */
Test(longrope, loader_refuses_incomplete_factors) {
    char path[256], edit[300];
    make_model(path, sizeof path, "tiny-phi3-128k", "f32", 5);
    snprintf(edit, sizeof edit, "%s.one.gguf", path);
    gguf_file *f = oracle_open_gguf(path);
    oracle_write_with_tensors(oracle_copy_kv_except(f, NULL), f, "rope_factors_short.weight", edit);
    he_error err = {0};
    hearth_model *m = hearth_model_load(edit, NULL, &err);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.msg, "rope_factors_short.weight"), "%s", err.msg);
    unlink(edit);
    unlink(path);
}
