/* test_attention.c — the tiled attention path (attention.c, the default) against the exact one
 * (attn_exact.c, HEARTH_ATTN=exact) on a generated GQA model: several sequences decoded in one
 * batch with interleaved cells, depths past the 64-cell block, lengths that are not multiples
 * of it, prompt chunks beside single tokens, every KV type, 1 and 2 threads; and the tile
 * kernels of every ISA the CPU has against their reference build. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cpu.h"
#include "model/attention.h"
#include "model/hearth.h"
#include "model/synth.h"
#include "tensor/tensor.h"

static char model_path[256];

/* "tiny": llama, 4 heads of 64 sharing 2 KV heads (grp 2), 2 layers, F32 weights */
static void make_model(void) {
    snprintf(model_path, sizeof model_path, "/tmp/hearth_test_attn_%d.gguf", (int)getpid());
    synth_params sp = {.shape = "tiny", .ftype = QUANT_FTYPE_ALL_F32, .seed = 11, .n_threads = 2};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&sp, model_path, &err), 0, "%s", err.msg);
}

static void drop_model(void) { unlink(model_path); }

TestSuite(attention, .init = make_model, .fini = drop_model);

enum { NS = 3, MAXLEN = 160, NCTX = 512 };
static const int lens[NS] = {157, 99, 131}; /* none a multiple of 64 */

static hearth_ctx *new_ctx(const hearth_model *m, hearth_kv_type kv, int n_threads,
                           const char *impl) {
    setenv("HEARTH_ATTN", impl, 1);
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = NCTX;
    p.n_seq = NS;
    p.n_batch = 64;
    p.n_threads = n_threads;
    p.kv_type = kv;
    he_error err = {0};
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    unsetenv("HEARTH_ATTN");
    cr_assert(c, "%s", err.msg);
    return c;
}

/* Feeds the same schedule to both contexts: each step takes a chunk of every unfinished
 * sequence (a long prompt chunk for one while another decodes single tokens), so the cache
 * interleaves the sequences' cells; compares every entry's logits. Returns the largest
 * |difference| and, in *range, the largest |logit|. */
static float compare(const hearth_model *m, hearth_kv_type kv, int n_threads, float *range) {
    const int nv = hearth_model_n_vocab(m);
    hearth_ctx *a = new_ctx(m, kv, n_threads, "tiled"), *b = new_ctx(m, kv, n_threads, "exact");
    int32_t toks[NS][MAXLEN];
    uint32_t x = 99;
    for (int s = 0; s < NS; s++)
        for (int i = 0; i < lens[s]; i++) {
            x = x * 1664525u + 1013904223u;
            toks[s][i] = (int32_t)((x >> 8) % (uint32_t)nv);
        }
    hearth_batch bt;
    hearth_batch_init(&bt, 64);
    int cur[NS] = {0};
    float worst = 0.0f;
    *range = 0.0f;
    for (int step = 0; cur[0] < lens[0] || cur[1] < lens[1] || cur[2] < lens[2]; step++) {
        hearth_batch_clear(&bt);
        for (int s = NS - 1; s >= 0; s--) {
            int len = (step + s) % 4 == 0 ? 19 + 7 * s : 1 + (step * 5 + s) % 3;
            for (int k = 0; k < len && cur[s] < lens[s] && bt.n_tokens < 64; k++, cur[s]++)
                hearth_batch_add(&bt, toks[s][cur[s]], cur[s], s, true);
        }
        he_error err = {0};
        cr_assert_eq(hearth_decode(a, &bt, &err), 0, "%s", err.msg);
        cr_assert_eq(hearth_decode(b, &bt, &err), 0, "%s", err.msg);
        for (int i = 0; i < bt.n_tokens; i++) {
            const float *la = hearth_logits(a, i), *lb = hearth_logits(b, i);
            for (int t = 0; t < nv; t++) {
                float d = fabsf(la[t] - lb[t]);
                if (d > worst) worst = d;
                if (fabsf(lb[t]) > *range) *range = fabsf(lb[t]);
            }
        }
    }
    hearth_batch_deinit(&bt);
    hearth_ctx_free(a);
    hearth_ctx_free(b);
    return worst;
}

static void check_kv(hearth_kv_type kv, float rel_tol) {
    he_error err = {0};
    hearth_model *m = hearth_model_load(model_path, NULL, &err);
    cr_assert(m, "%s", err.msg);
    for (int th = 1; th <= 2; th++) {
        float range, d = compare(m, kv, th, &range);
        cr_log_info("attention %s KV, %d thread(s): tiled vs exact max |dlogit| %.2e (max |logit| "
                    "%.3f)",
                    hearth_kv_type_name(kv), th, (double)d, (double)range);
        cr_assert(range > 0.1f, "logits too small to compare");
        cr_assert(d <= rel_tol * range, "%s KV, %d threads: %g > %g x %g", hearth_kv_type_name(kv),
                  th, (double)d, (double)rel_tol, (double)range);
    }
    hearth_model_free(m);
}

/* F16 and F32: the same roundings as the exact path, sums in another order (float FMAs for
 * q.k where the exact path sums in double, 64 lanes either way) */
Test(attention, tiled_equals_exact_f16, .timeout = 60) { check_kv(HEARTH_KV_F16, 1e-4f); }
Test(attention, tiled_equals_exact_f32, .timeout = 60) { check_kv(HEARTH_KV_F32, 1e-4f); }
/* Q8_0: the tiled path multiplies the dequantized K by the float query, the exact path
 * quantizes the query to Q8_0 too: they differ by that quantization (see test_kv_q8: the
 * Q8_0 cache itself is ~1% from F32) */
Test(attention, tiled_close_to_exact_q8_0, .timeout = 60) { check_kv(HEARTH_KV_Q8_0, 1e-2f); }

/* ---- Kernels: every ISA the CPU has equals the reference build, bit for bit, on values whose
 * products are exact (f16-representable, as with the default F16 cache): then FMAs, separate
 * multiply-adds and double sums of float products all round alike ---- */

static float f16ish(uint32_t *x) {
    *x = *x * 1664525u + 1013904223u;
    return (float)((int32_t)(*x >> 20) - 2048) / 1024.0f; /* 12 bits: exact in f16 */
}

static void check_kernels(const char *isa) {
    const attn_kernels *ref = hearth_attn_kernels("ref"), *k = hearth_attn_kernels(isa);
    cr_assert_str_eq(k->name, isa);
    enum { HD = 72, N = 157, RP = 48 }; /* odd sizes: hd not a multiple of 64, n of 64 */
    const int rq = 40;
    double *qt = malloc(sizeof(double) * HD * RP), *kd = malloc(sizeof(double) * N * HD);
    /* (pv64 reads p and V lane-major: 64 * ceil(N / 64) rows) */
    float *kf = malloc(sizeof(float) * (N + 64) * HD), *p = malloc(sizeof(float) * (N + 64) * RP);
    float *s1 = malloc(sizeof(float) * N * RP), *s2 = malloc(sizeof(float) * N * RP);
    float *o1 = malloc(sizeof(float) * HD * RP), *o2 = malloc(sizeof(float) * HD * RP);
    float *scr = malloc(sizeof(float) * 20 * HD * RP);
    double *pd = malloc(sizeof(double) * (N + 64) * RP);
    uint32_t x = 5;
    for (int i = 0; i < HD * RP; i++)
        qt[i] = (double)f16ish(&x);
    for (int i = 0; i < (N + 64) * HD; i++)
        kf[i] = f16ish(&x);
    for (int i = 0; i < (N + 64) * RP; i++) {
        p[i] = f16ish(&x) / 4.0f;
        pd[i] = (double)p[i];
    }
    ref->widen(kf, kd, N * HD);
    /* q.k */
    ref->qk(s1, qt, rq, RP, kd, HD, N);
    k->qk(s2, qt, rq, RP, kd, HD, N);
    cr_assert_eq(memcmp(s1, s2, sizeof(float) * N * RP), 0, "%s qk", isa);
    /* softmax helpers */
    float mx1[RP], mx2[RP];
    double sum1[RP] = {0}, sum2[RP] = {0};
    for (int r = 0; r < RP; r++)
        mx1[r] = mx2[r] = -INFINITY;
    ref->scale_max(s1, RP, N, 0.125f, mx1);
    k->scale_max(s2, RP, N, 0.125f, mx2);
    ref->sub(s1, RP, N, mx1);
    k->sub(s2, RP, N, mx2);
    ref->sum(s1, RP, N, sum1);
    k->sum(s2, RP, N, sum2);
    ref->mul(s1, RP, N, mx1);
    k->mul(s2, RP, N, mx2);
    cr_assert_eq(memcmp(mx1, mx2, sizeof mx1), 0, "%s scale_max", isa);
    cr_assert_eq(memcmp(sum1, sum2, sizeof sum1), 0, "%s sum", isa);
    cr_assert_eq(memcmp(s1, s2, sizeof(float) * N * RP), 0, "%s sub/mul", isa);
    /* p.V: 64 lanes, then the double tail */
    ref->pv64(o1, p, RP, kf, HD, N, scr);
    k->pv64(o2, p, RP, kf, HD, N, scr);
    cr_assert_eq(memcmp(o1, o2, sizeof(float) * HD * RP), 0, "%s pv64", isa);
    ref->pvd(o1, pd, rq, RP, kf, HD, 37);
    k->pvd(o2, pd, rq, RP, kf, HD, 37);
    cr_assert_eq(memcmp(o1, o2, sizeof(float) * HD * RP), 0, "%s pvd", isa);
    free(qt);
    free(kd);
    free(kf);
    free(p);
    free(s1);
    free(s2);
    free(o1);
    free(o2);
    free(scr);
    free(pd);
}

Test(attention, kernels_avx2_equal_ref) {
    const cpu_features *f = cpu_features_get();
    if (!(f->avx2 && f->fma && f->f16c)) cr_skip_test("no AVX2/FMA/F16C");
    check_kernels("avx2");
}

Test(attention, kernels_avx512_equal_ref) {
    const cpu_features *f = cpu_features_get();
    if (!(f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni))
        cr_skip_test("no AVX-512");
    check_kernels("avx512");
}
