/* routes_embed.c — the embedding and rerank routes: OpenAI /v1/embeddings, Ollama /api/embed
 * and /api/embeddings, and /v1/rerank (with llama-server's aliases /rerank, /v1/reranking,
 * /reranking).
 *
 * A request is: parse (embed_req.c) -> find the served name and check it is the right kind
 * (an embedder for the embedding routes, a reranker for rerank; a 400 naming the right route
 * otherwise) -> tokenize each input with the model's vocab (special tokens added as the model
 * says; token inputs are checked against the vocab) -> one srv_model_embed call for all inputs
 * (packed into as few forward passes as fit) -> JSON. The embedding runs on this HTTP thread
 * (embedding models are small and a request is one pass); requests on one model take turns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "server/embed_req.h"
#include "server/http_internal.h"

static srv_model *acquire_named(srv_http *h, const char *name) {
    srv_model *m = srv_registry_acquire(h->reg, name);
    size_t n = strlen(name);
    if (!m && n > 7 && !strcmp(name + n - 7, ":latest")) { /* Ollama clients add it */
        char *bare = xstrndup(name, n - 7);
        m = srv_registry_acquire(h->reg, bare);
        free(bare);
    }
    return m;
}

/* The route a model of kind k serves, for "use X instead" messages. */
static const char *route_for(srv_model_kind k, bool ollama) {
    if (k == SRV_MODEL_EMBEDDER) return ollama ? "/api/embed" : "/v1/embeddings";
    if (k == SRV_MODEL_RERANKER) return "/v1/rerank";
    return ollama ? "/api/chat" : "/v1/chat/completions";
}

enum MHD_Result route_wrong_kind(http_req *q, srv_model *m, srv_model_kind want) {
    srv_model_kind k = srv_model_kind_of(m);
    return http_error(q, 400, "model", "model_kind_mismatch",
                      "The model '%s' is for %s, not %s; use %s with it.", srv_model_name(m),
                      srv_model_kind_name(k), srv_model_kind_name(want), route_for(k, q->ollama));
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    int32_t **toks;
    int32_t *lens;
    size_t n;
    uint64_t total;
} tok_set;

static void toks_free(tok_set *t) {
    for (size_t i = 0; t->toks && i < t->n; i++)
        free(t->toks[i]);
    free(t->toks);
    free(t->lens);
}

/* Tokenizes (or checks) every input; cuts an input longer than max when truncate, else 400. */
static int tokenize_all(const srv_embed_request *r, const tok_vocab *v, int32_t n_vocab,
                        int32_t max, tok_set *out, srv_req_error *err) {
    const char *param = r->query ? "documents" : "input";
    out->n = r->n_in;
    out->toks = he_calloc(r->n_in, sizeof *out->toks);
    out->lens = he_calloc(r->n_in, sizeof *out->lens);
    if (!out->toks || !out->lens) return srv_req_nomem(err);
    for (size_t i = 0; i < r->n_in; i++) {
        const srv_embed_input *in = &r->in[i];
        size_t n = 0;
        if (in->text) {
            he_error he = {0};
            if (tok_encode(v, in->text, in->len, true, true, &out->toks[i], &n, &he))
                return srv_req_fail(err, 400, param, "invalid_value", "input %zu: %s", i, he.msg);
        } else {
            out->toks[i] = he_malloc(in->n_tokens * sizeof(int32_t));
            if (!out->toks[i]) return srv_req_nomem(err);
            for (size_t k = 0; k < in->n_tokens; k++)
                if (in->tokens[k] >= n_vocab)
                    return srv_req_fail(err, 400, param, "invalid_value",
                                        "input %zu: token id %d is out of range (vocabulary of %d)",
                                        i, in->tokens[k], n_vocab);
            memcpy(out->toks[i], in->tokens, in->n_tokens * sizeof(int32_t));
            n = in->n_tokens;
        }
        if (n == 0)
            return srv_req_fail(err, 400, param, "invalid_value", "input %zu has no tokens", i);
        if (n > (size_t)max) {
            if (!r->truncate)
                return srv_req_fail(err, 400, param, "context_length_exceeded",
                                    "input %zu is %zu tokens, more than the model's limit of %d.",
                                    i, n, max);
            /* keep the closing special token (BERT's [SEP]) the model was trained to see */
            int32_t last = out->toks[i][n - 1];
            n = (size_t)max;
            if (in->text && tok_add_eos(v)) out->toks[i][n - 1] = last;
        }
        out->lens[i] = (int32_t)n;
        out->total += n;
    }
    return 0;
}

/* Keeps the first d values of a unit vector and scales them back to unit length (Matryoshka
 * embeddings: OpenAI's `dimensions`). */
static void shorten(float *v, int32_t d) { hearth_l2_normalize(v, d); }

static json_t *vector_json(const float *v, int32_t n, bool base64) {
    if (base64) {
        char *s = srv_base64(v, (size_t)n * sizeof(float)); /* little-endian f32, as OpenAI */
        if (!s) return NULL;
        json_t *j = json_string(s);
        free(s);
        return j;
    }
    json_t *a = json_array();
    for (int32_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_real((double)v[i]));
    return a;
}

static enum MHD_Result rerun_embeddings(http_req *q, int api) { return route_embeddings(q, (srv_embed_api)api); }
static enum MHD_Result rerun_rerank(http_req *q, int unused) {
    (void)unused;
    return route_rerank(q);
}

enum MHD_Result route_embeddings(http_req *q, srv_embed_api api) {
    srv_embed_request r;
    srv_req_error e;
    double t0 = mono_s();
    if (srv_embed_request_parse(api, q->body ? q->body : "", q->len, &r, &e))
        return http_req_error(q, &e);
    srv_model *m = acquire_named(q->h, r.model);
    enum MHD_Result res;
    if (!m && http_store_load_then(q, r.model, rerun_embeddings, (int)api, &res)) {
        srv_embed_request_free(&r); /* store mode: loaded first, then parsed again */
        return res;
    }
    if (!m) {
        res =
            q->ollama
                ? http_error(q, 404, "model", "model_not_found", "model '%s' not found", r.model)
                : http_error(q, 404, "model", "model_not_found",
                             "The model '%s' does not exist or you do not have access to it.",
                             r.model);
        srv_embed_request_free(&r);
        return res;
    }
    tok_set ts = {0};
    float *out = NULL;
    json_t *body = NULL;
    if (srv_model_kind_of(m) != SRV_MODEL_EMBEDDER) {
        res = route_wrong_kind(q, m, SRV_MODEL_EMBEDDER);
        goto done;
    }
    const hearth_model *hm = srv_model_engine(m);
    const int32_t dim = hearth_model_n_embd_out(hm);
    if (r.dimensions > dim) {
        res = http_error(q, 400, "dimensions", "invalid_value",
                         "'dimensions' %d is more than the model's %d.", r.dimensions, dim);
        goto done;
    }
    const int32_t d = r.dimensions ? r.dimensions : dim;
    if (r.n_in == 0) { /* legacy /api/embeddings with an empty prompt: load only */
        res = http_respond_json(q, 200, json_pack("{s:[]}", "embedding"));
        goto done;
    }
    if (tokenize_all(&r, hearth_model_vocab(hm), hearth_model_n_vocab(hm), srv_model_n_ctx(m), &ts,
                     &e)) {
        res = http_req_error(q, &e);
        goto done;
    }
    out = he_malloc(r.n_in * (size_t)dim * sizeof(float));
    if (!out) {
        res = http_error_nomem(q);
        goto done;
    }
    /* Ollama's legacy route answers the raw pooled vector; the others unit vectors */
    bool normalize = api != SRV_EMBED_OLLAMA_LEGACY;
    he_error he = {0};
    if (srv_model_embed(m, (const int32_t *const *)ts.toks, ts.lens, (int32_t)r.n_in, normalize,
                        out, &he)) {
        res = http_error(q, he.code == HE_NOMEM ? 503 : 400, NULL, NULL, "%s", he.msg);
        goto done;
    }
    if (d < dim)
        for (size_t i = 0; i < r.n_in; i++)
            shorten(out + i * (size_t)dim, d);
    http_metrics_tokens(q->h, srv_model_name(m), ts.total, 0);
    if (api == SRV_EMBED_OPENAI) {
        json_t *data = json_array();
        for (size_t i = 0; i < r.n_in; i++)
            json_array_append_new(data, json_pack("{s:s, s:I, s:o*}", "object", "embedding",
                                                  "index", (json_int_t)i, "embedding",
                                                  vector_json(out + i * (size_t)dim, d, r.base64)));
        body = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model",
                         srv_model_name(m), "usage", "prompt_tokens", (json_int_t)ts.total,
                         "total_tokens", (json_int_t)ts.total);
    } else if (api == SRV_EMBED_OLLAMA) {
        json_t *embs = json_array();
        for (size_t i = 0; i < r.n_in; i++)
            json_array_append_new(embs, vector_json(out + i * (size_t)dim, d, false));
        body = json_pack("{s:s, s:o, s:I, s:I, s:I}", "model", r.model, "embeddings", embs,
                         "total_duration", (json_int_t)((mono_s() - t0) * 1e9), "load_duration",
                         (json_int_t)0, "prompt_eval_count", (json_int_t)ts.total);
    } else {
        body = json_pack("{s:o*}", "embedding", vector_json(out, d, false));
    }
    res = body ? http_respond_json(q, 200, body) : http_error_nomem(q);
done:
    free(out);
    toks_free(&ts);
    srv_model_release(m);
    srv_embed_request_free(&r);
    return res;
}

typedef struct {
    size_t index;
    float score;
} ranked;

static int by_score_desc(const void *a, const void *b) {
    float x = ((const ranked *)a)->score, y = ((const ranked *)b)->score;
    if (x != y) return x < y ? 1 : -1;
    size_t i = ((const ranked *)a)->index, j = ((const ranked *)b)->index;
    return i < j ? -1 : i > j;
}

enum MHD_Result route_rerank(http_req *q) {
    srv_embed_request r;
    srv_req_error e;
    if (srv_embed_request_parse(SRV_EMBED_RERANK, q->body ? q->body : "", q->len, &r, &e))
        return http_req_error(q, &e);
    srv_model *m = acquire_named(q->h, r.model);
    enum MHD_Result res;
    if (!m && http_store_load_then(q, r.model, rerun_rerank, 0, &res)) {
        srv_embed_request_free(&r); /* store mode: loaded first, then parsed again */
        return res;
    }
    if (!m) {
        res = http_error(q, 404, "model", "model_not_found",
                                         "The model '%s' does not exist or you do not have access "
                                         "to it.",
                                         r.model);
        srv_embed_request_free(&r);
        return res;
    }
    tok_set ts = {0};
    float *scores = NULL;
    ranked *rk = NULL;
    if (srv_model_kind_of(m) != SRV_MODEL_RERANKER) {
        res = route_wrong_kind(q, m, SRV_MODEL_RERANKER);
        goto done;
    }
    const hearth_model *hm = srv_model_engine(m);
    const int32_t max = srv_model_n_ctx(m);
    he_error he = {0};
    /* a cross-encoder reads [BOS] query [EOS] [SEP] document [EOS] (llama.cpp's format); a
     * decoder reranker its prompt (model/embed.h: hearth_rerank_input) */
    ts.n = r.n_in;
    ts.toks = he_calloc(r.n_in, sizeof *ts.toks);
    ts.lens = he_calloc(r.n_in, sizeof *ts.lens);
    scores = he_malloc(r.n_in * sizeof(float));
    rk = he_malloc(r.n_in * sizeof *rk);
    if (!ts.toks || !ts.lens || !scores || !rk) {
        res = http_error_nomem(q);
        goto done;
    }
    for (size_t i = 0; i < r.n_in; i++) {
        if (hearth_rerank_input(hm, r.query, r.query_len, r.in[i].text, r.in[i].len, 0, max,
                                &ts.toks[i], &ts.lens[i], &he)) {
            if (he.code == HE_LIMIT)
                res = http_error(q, 400, "documents", "context_length_exceeded",
                                 "query and document %zu are more than the model's limit of %d "
                                 "tokens.",
                                 i, max);
            else
                res = http_error(q, he.code == HE_NOMEM ? 503 : 400, "documents",
                                 "invalid_value", "document %zu: %s", i, he.msg);
            goto done;
        }
        ts.total += (size_t)ts.lens[i];
    }
    /* a head with several outputs: the first is the relevance score */
    int32_t dim = hearth_model_n_embd_out(hm);
    float *all = dim == 1 ? scores : he_malloc(r.n_in * (size_t)dim * sizeof(float));
    if (!all) {
        res = http_error_nomem(q);
        goto done;
    }
    int erc = srv_model_embed(m, (const int32_t *const *)ts.toks, ts.lens, (int32_t)r.n_in, false,
                              all, &he);
    if (all != scores) {
        for (size_t i = 0; i < r.n_in; i++)
            scores[i] = all[i * (size_t)dim];
        free(all);
    }
    if (erc) {
        res = http_error(q, he.code == HE_NOMEM ? 503 : 400, NULL, NULL, "%s", he.msg);
        goto done;
    }
    http_metrics_tokens(q->h, srv_model_name(m), ts.total, 0);
    for (size_t i = 0; i < r.n_in; i++)
        rk[i] = (ranked){i, scores[i]};
    qsort(rk, r.n_in, sizeof *rk, by_score_desc);
    size_t top = r.top_n > 0 && (size_t)r.top_n < r.n_in ? (size_t)r.top_n : r.n_in;
    json_t *results = json_array();
    for (size_t i = 0; i < top; i++) {
        json_t *o = json_pack("{s:I, s:f}", "index", (json_int_t)rk[i].index, "relevance_score",
                              (double)rk[i].score);
        if (o && r.return_documents)
            json_object_set_new(
                o, "document",
                json_pack("{s:s%}", "text", r.in[rk[i].index].text, r.in[rk[i].index].len));
        json_array_append_new(results, o);
    }
    json_t *body = json_pack("{s:s, s:s, s:o, s:{s:I, s:I}}", "object", "list", "model",
                             srv_model_name(m), "results", results, "usage", "prompt_tokens",
                             (json_int_t)ts.total, "total_tokens", (json_int_t)ts.total);
    res = body ? http_respond_json(q, 200, body) : http_error_nomem(q);
done:
    free(scores);
    free(rk);
    toks_free(&ts);
    srv_model_release(m);
    srv_embed_request_free(&r);
    return res;
}
