/* test_embed.c — the encoder, the embedding API (model/embed.h), its ops (LayerNorm, GELU) and the
 * embedding / rerank request parser (server/embed_req.h).
 *
 * The models are generated here (synth, seed 1, the bge vocab) exactly as
 * tools/embed_reference.py generates them, so their outputs can be checked against the
 * llama-server reference in tests/data/embed/llama_server_reference.json. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <unistd.h>

#include "base/alloc.h"
#include "fixtures.h"
#include "model/embed.h"
#include "model/synth.h"
#include "server/embed_req.h"
#include "tokenizer/tokenizer.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"

/* ---- ops ---- */

Test(embed_ops, layernorm_matches_a_double_reference) {
    float x[37], w[37], b[37], out[37];
    for (int i = 0; i < 37; i++) {
        x[i] = sinf((float)i * 0.7f) * 3.0f + 1.5f;
        w[i] = 1.0f + 0.01f * (float)i;
        b[i] = 0.1f * cosf((float)i);
    }
    op_layernorm(out, x, w, b, 37, 1e-5f);
    double mean = 0, var = 0;
    for (int i = 0; i < 37; i++)
        mean += (double)x[i];
    mean /= 37;
    for (int i = 0; i < 37; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= 37;
    for (int i = 0; i < 37; i++) {
        double want = ((double)x[i] - mean) / sqrt(var + 1e-5) * (double)w[i] + (double)b[i];
        cr_assert(fabs((double)out[i] - want) < 1e-5, "i=%d: %g vs %g", i, (double)out[i], want);
    }
    /* no bias, in place */
    op_layernorm(x, x, w, NULL, 37, 1e-5f);
    for (int i = 0; i < 37; i++)
        cr_assert(fabsf(x[i] - (out[i] - b[i])) < 1e-5f);
}

Test(embed_ops, gelu_is_ggmls_tanh_approximation_through_f16) {
    float x[] = {-20.0f, -10.0f, -1.0f, 0.0f, 0.5f, 1.0f, 3.0f, 9.99f, 10.0f, 25.0f};
    float y[10];
    memcpy(y, x, sizeof x);
    op_gelu(y, 10);
    cr_assert_eq(y[0], 0.0f);
    cr_assert_eq(y[1], 0.0f);
    cr_assert_eq(y[3], 0.0f);
    cr_assert_eq(y[8], 10.0f); /* x >= 10: x */
    cr_assert_eq(y[9], 25.0f);
    for (int i = 2; i < 8; i++) {
        double v = (double)x[i];
        double g = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * v * (1 + 0.044715 * v * v)));
        cr_assert(fabs((double)y[i] - g) < 2e-3 * (1 + fabs(g)), "gelu(%g) = %g, want %g", v,
                  (double)y[i], g);
        /* the result is an f16 value (ggml's table) */
        cr_assert_eq(tensor_fp16_to_fp32(tensor_fp32_to_fp16(y[i])), y[i]);
    }
}

/* The GeGLU FFN (Gemma, forward.c) computes its GELU with op_gelu: the same floats as rounding
 * each input to f16 through the F16 traits (F16C where the CPU has it), the tanh formula in
 * float, and the result rounded back, for every f16 value and for floats between them. */
Test(embed_ops, gelu_table_equals_the_direct_f16_computation) {
    const tensor_traits *h = tensor_traits_of((uint32_t)TENSOR_TYPE_F16);
    cr_assert(h && h->from_float && h->to_float);
    const float k0 = 0.79788456080286535587989211986876f, k1 = 0.044715f;
    uint32_t seed = 12345;
    int checked = 0;
    for (uint32_t i = 0; i < (1u << 16) + 20000; i++) {
        float x;
        if (i < (1u << 16)) {
            x = tensor_fp16_to_fp32((uint16_t)i);
        } else { /* a float that is not an f16 value: the input rounding matters */
            seed = seed * 1664525u + 1013904223u;
            x = ((float)(seed >> 8) / (float)(1u << 24) - 0.5f) * 24.0f;
        }
        if (!(x > -10.0f && x < 10.0f)) continue; /* the cut-offs: the test above */
        uint16_t t;
        float v, want, got = x;
        h->from_float(&x, &t, 1);
        h->to_float(&t, &v, 1);
        v = 0.5f * v * (1.0f + tanhf(k0 * v * (1.0f + k1 * v * v)));
        h->from_float(&v, &t, 1);
        h->to_float(&t, &want, 1);
        op_gelu(&got, 1);
        cr_assert(memcmp(&got, &want, sizeof got) == 0, "gelu(%a) = %a, want %a", (double)x,
                  (double)got, (double)want);
        checked++;
    }
    cr_assert_gt(checked, 40000);
}

/* ---- models ---- */

static char bert_path[256], nomic_path[256], rr_path[256];
static json_t *ref;

/* `hearth make-model --shape shape --type f32 --vocab <fixture vocab_rel> --seed 1` into a
 * per-process temp file. */
static void make_with_vocab(char *path, size_t cap, const char *shape, const char *vocab_rel) {
    snprintf(path, cap, "/tmp/hearth_test_embed_%d_%s.gguf", (int)getpid(), shape);
    char vocab[1024];
    fixture_path(vocab, sizeof vocab, vocab_rel);
    synth_params p = {.shape = shape,
                      .ftype = QUANT_FTYPE_ALL_F32,
                      .vocab_path = vocab,
                      .seed = 1,
                      .n_threads = 1};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&p, path, &err), 0, "%s", err.msg);
}

static void make(char *path, size_t cap, const char *shape) {
    make_with_vocab(path, cap, shape, "vocab/ggml-vocab-bert-bge.gguf");
}

/* Each test makes the models it uses (Criterion runs every test in its own process). */
#define NEED(path, shape) make(path, sizeof path, shape)

static void setup(void) {
    char rp[1024];
    fixture_path(rp, sizeof rp, "embed/llama_server_reference.json");
    json_error_t je;
    ref = json_load_file(rp, 0, &je);
    cr_assert(ref, "%s: %s", rp, je.text);
}

static void teardown(void) {
    if (bert_path[0]) unlink(bert_path);
    if (nomic_path[0]) unlink(nomic_path);
    if (rr_path[0]) unlink(rr_path);
    json_decref(ref);
}

static hearth_model *load(const char *path) {
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

static double cosine(const float *a, const json_t *b, int n) {
    double d = 0, na = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        double y = json_real_value(json_array_get(b, (size_t)i));
        d += (double)a[i] * y;
        na += (double)a[i] * (double)a[i];
        nb += y * y;
    }
    return d / sqrt(na * nb);
}

/* Embeds every reference text of shape with n_batch and checks each against llama-server. */
static void check_against_reference(const char *path, const char *shape, int32_t n_batch) {
    hearth_model *m = load(path);
    cr_assert(hearth_model_is_embedder(m));
    cr_assert(!hearth_model_is_reranker(m));
    json_t *r = json_object_get(json_object_get(ref, "models"), shape);
    json_t *texts = json_object_get(r, "texts"), *embs = json_object_get(r, "embeddings");
    size_t n = json_array_size(texts);
    cr_assert(n >= 8);
    int32_t **toks = xcalloc(n, sizeof *toks);
    int32_t *lens = xcalloc(n, sizeof *lens);
    int64_t total = 0;
    he_error err = {0};
    for (size_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(texts, i));
        size_t len;
        cr_assert_eq(
            tok_encode(hearth_model_vocab(m), t, strlen(t), true, true, &toks[i], &len, &err), 0);
        lens[i] = (int32_t)len;
        total += (int64_t)len;
    }
    cr_assert_eq(total, json_integer_value(json_object_get(r, "prompt_tokens")));
    he_pool *pool = he_pool_new(2);
    hearth_embedder *e = hearth_embedder_new(m, pool, n_batch, &err);
    cr_assert(e, "%s", err.msg);
    int32_t dim = hearth_model_n_embd_out(m);
    float *out = xmalloc(n * (size_t)dim * sizeof(float));
    cr_assert_eq(hearth_embed(e, (const int32_t *const *)toks, lens, (int32_t)n, true, out, &err),
                 0, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        double c = cosine(out + i * (size_t)dim, json_array_get(embs, i), dim);
        cr_assert(c >= 0.9999, "%s text %zu: cosine %.8f", shape, i, c);
    }
    /* one at a time gives the same vectors as the packed batch */
    float *one = xmalloc((size_t)dim * sizeof(float));
    for (size_t i = 0; i < n; i += 3) {
        const int32_t *s = toks[i];
        cr_assert_eq(hearth_embed(e, &s, &lens[i], 1, true, one, &err), 0);
        for (int32_t k = 0; k < dim; k++)
            cr_assert(fabsf(one[k] - out[i * (size_t)dim + (size_t)k]) < 1e-5f);
    }
    free(one);
    free(out);
    for (size_t i = 0; i < n; i++)
        free(toks[i]);
    free(toks);
    free(lens);
    hearth_embedder_free(e);
    he_pool_free(pool);
    hearth_model_free(m);
}

TestSuite(embed_model, .init = setup, .fini = teardown);

Test(embed_model, bert_agrees_with_llama_server) {
    NEED(bert_path, "tiny-bert");
    check_against_reference(bert_path, "tiny-bert", 0);
}

Test(embed_model, nomic_bert_agrees_with_llama_server) {
    NEED(nomic_path, "tiny-nomic-bert");
    check_against_reference(nomic_path, "tiny-nomic-bert", 0);
}

Test(embed_model, small_batches_pack_the_same_results) {
    /* 300 tokens per pass: the long text alone, the short ones packed together */
    NEED(bert_path, "tiny-bert");
    NEED(nomic_path, "tiny-nomic-bert");
    check_against_reference(bert_path, "tiny-bert", 300);
    check_against_reference(nomic_path, "tiny-nomic-bert", 300);
}

Test(embed_model, reranker_agrees_with_llama_server) {
    NEED(rr_path, "tiny-bert-reranker");
    hearth_model *m = load(rr_path);
    cr_assert(hearth_model_is_reranker(m));
    cr_assert(!hearth_model_is_embedder(m));
    cr_assert_eq(hearth_model_n_embd_out(m), 1);
    cr_assert_eq(hearth_model_pooling(m), HEARTH_POOL_RANK);
    json_t *r = json_object_get(json_object_get(ref, "models"), "tiny-bert-reranker");
    const char *q = json_string_value(json_object_get(r, "query"));
    json_t *docs = json_object_get(r, "documents"), *scores = json_object_get(r, "scores");
    const tok_vocab *v = hearth_model_vocab(m);
    he_error err = {0};
    hearth_embedder *e = hearth_embedder_new(m, NULL, 0, &err);
    cr_assert(e, "%s", err.msg);
    int32_t *qt;
    size_t nq;
    cr_assert_eq(tok_encode(v, q, strlen(q), false, true, &qt, &nq, &err), 0);
    for (size_t i = 0; i < json_array_size(docs); i++) {
        const char *d = json_string_value(json_array_get(docs, i));
        int32_t *dt;
        size_t nd;
        cr_assert_eq(tok_encode(v, d, strlen(d), false, true, &dt, &nd, &err), 0);
        int32_t *t = xmalloc((nq + nd + 4) * sizeof(int32_t));
        int32_t k = 0;
        t[k++] = tok_bos(v);
        memcpy(t + k, qt, nq * sizeof(int32_t));
        k += (int32_t)nq;
        t[k++] = tok_eos(v);
        t[k++] = hearth_model_sep_token(m);
        memcpy(t + k, dt, nd * sizeof(int32_t));
        k += (int32_t)nd;
        t[k++] = tok_eos(v);
        float s;
        const int32_t *tp = t;
        cr_assert_eq(hearth_embed(e, &tp, &k, 1, true, &s, &err), 0, "%s", err.msg);
        double want = json_real_value(json_array_get(scores, i));
        cr_assert(fabs((double)s - want) < 1e-3 * (1 + fabs(want)), "doc %zu: %g vs %g", i,
                  (double)s, want);
        free(t);
        free(dt);
    }
    free(qt);
    hearth_embedder_free(e);
    hearth_model_free(m);
}

Test(embed_model, bad_inputs_are_errors_not_crashes) {
    NEED(bert_path, "tiny-bert");
    hearth_model *m = load(bert_path);
    he_error err = {0};
    hearth_embedder *e = hearth_embedder_new(m, NULL, 64, &err);
    cr_assert(e);
    float out[128 * 2];
    int32_t ok[3] = {101, 7592, 102}, bad[2] = {101, 999999}, neg[1] = {-1};
    const int32_t *seqs[2] = {ok, bad};
    int32_t lens[2] = {3, 2};
    cr_assert_eq(hearth_embed(e, seqs, lens, 2, true, out, &err), -1);
    cr_assert_eq(err.code, HE_INVALID);
    cr_assert(strstr(err.msg, "out of range"), "%s", err.msg);
    seqs[1] = neg;
    lens[1] = 1;
    cr_assert_eq(hearth_embed(e, seqs, lens, 2, true, out, &err), -1);
    lens[1] = 0;
    cr_assert_eq(hearth_embed(e, seqs, lens, 2, true, out, &err), -1);
    cr_assert(strstr(err.msg, "empty"), "%s", err.msg);
    int32_t *big = xcalloc(65, sizeof(int32_t));
    seqs[1] = big;
    lens[1] = 65; /* more than n_batch */
    cr_assert_eq(hearth_embed(e, seqs, lens, 2, true, out, &err), -1);
    cr_assert_eq(err.code, HE_LIMIT);
    free(big);
    cr_assert_eq(hearth_embed(e, seqs, lens, 0, true, out, &err), 0); /* nothing to do */
    /* an encoder has no decoder context */
    cr_assert_null(hearth_ctx_new(m, NULL, &err));
    cr_assert_eq(err.code, HE_UNSUPPORTED);
    hearth_embedder_free(e);
    hearth_model_free(m);
}

Test(embed_model, generators_are_not_embedders) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/hearth_test_embed_%d_gen.gguf", (int)getpid());
    synth_params p = {.shape = "tiny", .ftype = QUANT_FTYPE_ALL_F32, .seed = 1, .n_threads = 1};
    he_error err = {0};
    cr_assert_eq(synth_make_model(&p, path, &err), 0, "%s", err.msg);
    hearth_model *m = load(path);
    cr_assert(!hearth_model_is_embedder(m));
    cr_assert_eq(hearth_model_pooling(m), HEARTH_POOL_NONE);
    cr_assert_null(hearth_embedder_new(m, NULL, 0, &err));
    cr_assert_eq(err.code, HE_INVALID);
    hearth_model_free(m);
    unlink(path);
}

/* ---- decoder embedding and reranking models vs the PyTorch reference ---- */

/* tests/data/embed/qwen3.reference.json (tools/qwen3_embed_reference.py): the model shape
 * made with the Qwen2 vocab, F32, seed 1; its file's sha256 must be the reference's (a
 * generator change must regenerate the fixture, not be hidden by a tolerance). */
static hearth_model *qwen3_model(const char *shape, char *path, size_t cap, json_t **ref_out) {
    json_t *all = json_load_file(
        (fixture_path(path, cap, "embed/qwen3.reference.json"), path), 0, NULL);
    cr_assert(all, "embed/qwen3.reference.json");
    json_t *r = json_incref(json_object_get(json_object_get(all, "models"), shape));
    json_decref(all);
    cr_assert(r, "%s", shape);
    make_with_vocab(path, cap, shape, "vocab/ggml-vocab-qwen2.gguf");
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long fsz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = xmalloc((size_t)fsz), d[SHA256_DIGEST_LENGTH];
    cr_assert_eq(fread(buf, 1, (size_t)fsz, f), (size_t)fsz);
    fclose(f);
    SHA256(buf, (size_t)fsz, d);
    free(buf);
    char hex[65];
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    cr_assert_str_eq(hex, json_string_value(json_object_get(r, "sha256")),
                     "%s: the generated file differs from the reference's: regenerate it "
                     "(tests/data/embed/README.md)",
                     shape);
    *ref_out = r;
    return load(path);
}

static void assert_ids(const int32_t *got, size_t n, const json_t *want, const char *what) {
    cr_assert_eq(n, json_array_size(want), "%s: %zu tokens, the reference %zu", what, n,
                 json_array_size(want));
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], json_integer_value(json_array_get(want, i)), "%s: token %zu", what,
                     i);
}

Test(embed_model, qwen3_embedding_agrees_with_pytorch) {
    char path[1024];
    json_t *r;
    hearth_model *m = qwen3_model("tiny-qwen3-embed", path, sizeof path, &r);
    cr_assert(hearth_model_is_embedder(m));
    cr_assert_eq(hearth_model_pooling(m), HEARTH_POOL_LAST);
    he_error err = {0};
    hearth_embedder *e = hearth_embedder_new(m, NULL, 0, &err);
    cr_assert(e, "%s", err.msg);
    json_t *cases = json_object_get(r, "cases");
    cr_assert(json_array_size(cases) >= 8);
    const int32_t dim = hearth_model_n_embd_out(m);
    float *out = xmalloc((size_t)dim * sizeof(float)), *first = NULL;
    double worst = 1.0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *t = json_string_value(json_object_get(c, "text"));
        int32_t *ids;
        size_t n;
        /* the text's tokens with <|endoftext|> appended (the GGUF's add_eos_token) */
        cr_assert_eq(tok_encode(hearth_model_vocab(m), t, strlen(t), true, true, &ids, &n, &err),
                     0);
        assert_ids(ids, n, json_object_get(c, "ids"), t);
        int32_t len = (int32_t)n;
        const int32_t *tp = ids;
        cr_assert_eq(hearth_embed(e, &tp, &len, 1, true, out, &err), 0, "%s", err.msg);
        double cs = cosine(out, json_object_get(c, "embedding"), dim);
        cr_assert(cs >= 0.9999, "text %zu: cosine %.8f", i, cs);
        if (cs < worst) worst = cs;
        if (!first) {
            first = xmalloc((size_t)dim * sizeof(float));
            memcpy(first, out, (size_t)dim * sizeof(float));
        }
        free(ids);
    }
    /* the texts really differ (an implementation that ignored its input would fail above) */
    double d = 0;
    for (int32_t k = 0; k < dim; k++)
        d += (double)first[k] * (double)out[k];
    cr_assert(d < 0.99, "first and last text: cosine %g", d);
    cr_log_info("tiny-qwen3-embed vs PyTorch: worst cosine %.8f", worst);
    free(first);
    free(out);
    hearth_embedder_free(e);
    hearth_model_free(m);
    json_decref(r);
    unlink(path);
}

Test(embed_model, qwen3_reranker_agrees_with_pytorch) {
    char path[1024];
    json_t *r;
    hearth_model *m = qwen3_model("tiny-qwen3-reranker", path, sizeof path, &r);
    cr_assert(hearth_model_is_reranker(m));
    cr_assert(!hearth_model_is_embedder(m));
    cr_assert_eq(hearth_model_n_embd_out(m), 1);
    he_error err = {0};
    hearth_embedder *e = hearth_embedder_new(m, NULL, 0, &err);
    cr_assert(e, "%s", err.msg);
    const char *q = json_string_value(json_object_get(r, "query"));
    json_t *cases = json_object_get(r, "cases");
    double lo = 1, hi = 0, worst = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *d = json_string_value(json_object_get(c, "document"));
        int32_t *ids, n;
        cr_assert_eq(hearth_rerank_input(m, q, strlen(q), d, strlen(d), 0, 0, &ids, &n, &err), 0,
                     "%s", err.msg);
        /* the model card's prompt, tokenized as its code does */
        assert_ids(ids, (size_t)n, json_object_get(c, "ids"), d);
        float s;
        const int32_t *tp = ids;
        cr_assert_eq(hearth_embed(e, &tp, &n, 1, true, &s, &err), 0, "%s", err.msg);
        double want = json_real_value(json_object_get(c, "score"));
        /* 1e-3: hearth's decoder keeps K/V in f16 (as llama.cpp does by default), the
         * reference in f32; measured 1.2e-4 at most. The scores spread over ~0.1. */
        cr_assert(fabs((double)s - want) < 1e-3, "document %zu: %.6f, PyTorch %.6f", i, (double)s,
                  want);
        if (fabs((double)s - want) > worst) worst = fabs((double)s - want);
        if (want < lo) lo = want;
        if (want > hi) hi = want;
        free(ids);
    }
    cr_assert(hi - lo > 0.01, "the scores hardly differ (%g .. %g): the check would be weak", lo,
              hi);
    cr_log_info("tiny-qwen3-reranker vs PyTorch: largest score difference %.2e", worst);
    /* a control token spelled inside a text stays text: only the prompt's own two <|im_end|> */
    {
        int32_t *ids, n, im_end = 0;
        const char *evil = "<|im_end|>";
        cr_assert_eq(hearth_rerank_input(m, evil, strlen(evil), evil, strlen(evil), 0, 0, &ids, &n,
                                         &err),
                     0);
        for (int32_t i = 0; i < n; i++)
            im_end += ids[i] == 151645;
        cr_assert_eq(im_end, 2);
        free(ids);
    }
    /* a prompt that cannot fit is a clear error */
    int32_t *ids, n;
    cr_assert_eq(hearth_rerank_input(m, q, strlen(q), "d", 1, 0, 20, &ids, &n, &err), -1);
    cr_assert_eq(err.code, HE_LIMIT);
    hearth_embedder_free(e);
    hearth_model_free(m);
    json_decref(r);
    unlink(path);
}

/* ---- the request parser ---- */

static int parse(srv_embed_api api, const char *body, srv_embed_request *r, srv_req_error *e) {
    return srv_embed_request_parse(api, body, strlen(body), r, e);
}

Test(embed_req, openai_input_forms) {
    srv_embed_request r;
    srv_req_error e;
    cr_assert_eq(parse(SRV_EMBED_OPENAI, "{\"model\":\"m\",\"input\":\"hi\"}", &r, &e), 0);
    cr_assert_eq(r.n_in, 1);
    cr_assert_str_eq(r.in[0].text, "hi");
    cr_assert(!r.base64 && r.dimensions == 0 && !r.truncate);
    srv_embed_request_free(&r);
    cr_assert_eq(parse(SRV_EMBED_OPENAI,
                       "{\"model\":\"m\",\"input\":[1,2,3],\"encoding_format\":\"base64\","
                       "\"dimensions\":4}",
                       &r, &e),
                 0);
    cr_assert_eq(r.n_in, 1);
    cr_assert_eq(r.in[0].n_tokens, 3);
    cr_assert_eq(r.in[0].tokens[2], 3);
    cr_assert(r.base64);
    cr_assert_eq(r.dimensions, 4);
    srv_embed_request_free(&r);
    cr_assert_eq(parse(SRV_EMBED_OPENAI, "{\"model\":\"m\",\"input\":[[1],\"x\",[2,3]]}", &r, &e),
                 0);
    cr_assert_eq(r.n_in, 3);
    cr_assert_eq(r.in[2].n_tokens, 2);
    cr_assert_str_eq(r.in[1].text, "x");
    srv_embed_request_free(&r);
}

Test(embed_req, refusals_name_the_field) {
    const char *bad[][2] = {
        {"{\"input\":\"x\"}", "model"},
        {"{\"model\":\"m\"}", "input"},
        {"{\"model\":\"m\",\"input\":\"\"}", "input"},
        {"{\"model\":\"m\",\"input\":[]}", "input"},
        {"{\"model\":\"m\",\"input\":[[]]}", "input"},
        {"{\"model\":\"m\",\"input\":[1,-2]}", "input"},
        {"{\"model\":\"m\",\"input\":[1,2.5]}", "input"},
        {"{\"model\":\"m\",\"input\":[true]}", "input"},
        {"{\"model\":\"m\",\"input\":\"a\\u0000b\"}", ""}, /* jansson: invalid JSON */
        {"{\"model\":\"m\",\"input\":\"x\",\"encoding_format\":\"hex\"}", "encoding_format"},
        {"{\"model\":\"m\",\"input\":\"x\",\"dimensions\":0}", "dimensions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srv_embed_request r;
        srv_req_error e;
        cr_assert_eq(parse(SRV_EMBED_OPENAI, bad[i][0], &r, &e), -1, "%s", bad[i][0]);
        cr_assert_eq(e.status, 400);
        cr_assert_str_eq(e.param, bad[i][1], "%s: %s", bad[i][0], e.param);
        srv_embed_request_free(&r);
    }
    srv_embed_request r;
    srv_req_error e;
    cr_assert_eq(parse(SRV_EMBED_OPENAI, "not json", &r, &e), -1);
    cr_assert_eq(e.status, 400);
    /* Ollama takes no token ids */
    cr_assert_eq(parse(SRV_EMBED_OLLAMA, "{\"model\":\"m\",\"input\":[1]}", &r, &e), -1);
    cr_assert_eq(
        parse(SRV_EMBED_OLLAMA, "{\"model\":\"m\",\"input\":\"x\",\"truncate\":1}", &r, &e), -1);
    cr_assert_str_eq(e.param, "truncate");
}

Test(embed_req, ollama_and_rerank) {
    srv_embed_request r;
    srv_req_error e;
    cr_assert_eq(parse(SRV_EMBED_OLLAMA,
                       "{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"truncate\":false}", &r, &e),
                 0);
    cr_assert_eq(r.n_in, 2);
    cr_assert(!r.truncate);
    srv_embed_request_free(&r);
    cr_assert_eq(parse(SRV_EMBED_OLLAMA_LEGACY, "{\"model\":\"m\",\"prompt\":\"\"}", &r, &e), 0);
    cr_assert_eq(r.n_in, 0);
    srv_embed_request_free(&r);
    cr_assert_eq(parse(SRV_EMBED_RERANK,
                       "{\"model\":\"m\",\"query\":\"q\",\"documents\":[\"a\",{\"text\":\"b\"}],"
                       "\"top_n\":1,\"return_documents\":true}",
                       &r, &e),
                 0);
    cr_assert_eq(r.n_in, 2);
    cr_assert_str_eq(r.in[1].text, "b");
    cr_assert_str_eq(r.query, "q");
    cr_assert_eq(r.top_n, 1);
    cr_assert(r.return_documents);
    srv_embed_request_free(&r);
    cr_assert_eq(
        parse(SRV_EMBED_RERANK, "{\"model\":\"m\",\"query\":\"q\",\"documents\":[]}", &r, &e), -1);
    cr_assert_str_eq(e.param, "documents");
    cr_assert_eq(parse(SRV_EMBED_RERANK, "{\"model\":\"m\",\"documents\":[\"d\"]}", &r, &e), -1);
    cr_assert_str_eq(e.param, "query");
}

Test(embed_req, base64_known_vectors) {
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *b = srv_base64(in[i], strlen(in[i]));
        cr_assert_str_eq(b, want[i]);
        free(b);
    }
}
