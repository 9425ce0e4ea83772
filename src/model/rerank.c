/* rerank.c — the token sequence a reranker reads for one (query, document) pair (embed.h):
 * the cross-encoder pair format, or a decoder reranker's prompt with the texts put in. One
 * place for the server's /v1/rerank, `hearth embed --query` and `hearth search --rerank`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "model/embed.h"
#include "model/model_internal.h"

/* [BOS] query [EOS] [SEP] document [EOS], query cut to max_query, document to what fits */
static int pair_input(const hearth_model *m, const char *q, size_t ql, const char *d, size_t dl,
                      int32_t max_query, int32_t max_total, int32_t **out, int32_t *n_out,
                      he_error *err) {
    const tok_vocab *v = m->vocab;
    int32_t *qt = NULL, *dt = NULL;
    size_t nq = 0, nd = 0;
    if (tok_encode(v, q, ql, false, true, &qt, &nq, err) ||
        tok_encode(v, d, dl, false, true, &dt, &nd, err)) {
        free(qt);
        return -1;
    }
    if (max_query > 0 && nq > (size_t)max_query) nq = (size_t)max_query;
    if (max_total > 0 && nq + nd + 4 > (size_t)max_total) {
        if (nq + 4 >= (size_t)max_total) {
            free(qt);
            free(dt);
            return he_fail(err, HE_LIMIT, "rerank: the query alone is %zu tokens, more than %d", nq,
                           max_total);
        }
        nd = (size_t)max_total - nq - 4;
    }
    const int32_t bos = tok_bos(v), eos = tok_eos(v), sep = hearth_model_sep_token(m);
    int32_t *t = xmalloc((nq + nd + 4) * sizeof(int32_t));
    size_t k = 0;
    t[k++] = bos >= 0 ? bos : 0;
    memcpy(t + k, qt, nq * sizeof(int32_t));
    k += nq;
    t[k++] = eos >= 0 ? eos : 0;
    t[k++] = sep >= 0 ? sep : 0;
    memcpy(t + k, dt, nd * sizeof(int32_t));
    k += nd;
    t[k++] = eos >= 0 ? eos : 0;
    free(qt);
    free(dt);
    *out = t;
    *n_out = (int32_t)k;
    return 0;
}

/* A decoder reranker's prompt: {query} / {document} replaced (each once, in either order),
 * the texts marked plain so that only the prompt's own bytes become control tokens. */
static int prompt_input(const hearth_model *m, const char *q, size_t ql, const char *d, size_t dl,
                        int32_t max_total, int32_t **out, int32_t *n_out, he_error *err) {
    gguf_str tmpl = {HEARTH_RERANK_PROMPT_QWEN3, strlen(HEARTH_RERANK_PROMPT_QWEN3)};
    he_error e2 = {0};
    gguf_str own;
    if (gguf_find_str(m->file, "tokenizer.chat_template.rerank", &own, &e2) == 1) tmpl = own;
    static const char QK[] = "{query}", DK[] = "{document}";
    const char *qp = memmem(tmpl.ptr, tmpl.len, QK, sizeof QK - 1);
    const char *dp = memmem(tmpl.ptr, tmpl.len, DK, sizeof DK - 1);
    if (!qp || !dp)
        return he_fail(err, HE_FORMAT,
                       "rerank: the model's rerank prompt has no {query} or no {document}");
    /* the two holes in order of appearance */
    typedef struct {
        const char *at;
        size_t key_len;
        const char *text;
        size_t len;
    } hole;
    hole hq = {qp, sizeof QK - 1, q, ql}, hd = {dp, sizeof DK - 1, d, dl};
    hole h[2] = {hq, hd};
    if (dp < qp) {
        h[0] = hd;
        h[1] = hq;
    }
    size_t cap = tmpl.len + ql + dl + 1, n = 0;
    char *s = xmalloc(cap);
    tok_range plain[2];
    const char *from = tmpl.ptr;
    for (int i = 0; i < 2; i++) {
        memcpy(s + n, from, (size_t)(h[i].at - from));
        n += (size_t)(h[i].at - from);
        plain[i].start = n;
        memcpy(s + n, h[i].text, h[i].len);
        n += h[i].len;
        plain[i].end = n;
        from = h[i].at + h[i].key_len;
    }
    memcpy(s + n, from, (size_t)(tmpl.ptr + tmpl.len - from));
    n += (size_t)(tmpl.ptr + tmpl.len - from);
    /* an empty text is no range (tok_encode_spans wants non-empty, disjoint ranges) */
    tok_range pr[2];
    size_t np = 0;
    for (int i = 0; i < 2; i++)
        if (plain[i].end > plain[i].start) pr[np++] = plain[i];
    int32_t *t = NULL;
    size_t nt = 0;
    /* no BOS/EOS added: the prompt is the whole input (the card tokenizes with
     * add_special_tokens=False; a GGUF's add_eos_token must not put a token after it) */
    int rc = tok_encode_spans(m->vocab, s, n, pr, np, false, true, &t, &nt, err);
    free(s);
    if (rc) return -1;
    if (max_total > 0 && nt > (size_t)max_total) {
        free(t);
        return he_fail(err, HE_LIMIT,
                       "rerank: the prompt with query and document is %zu tokens, more than %d", nt,
                       max_total);
    }
    *out = t;
    *n_out = (int32_t)nt;
    return 0;
}

int hearth_rerank_input(const hearth_model *m, const char *query, size_t query_len, const char *doc,
                        size_t doc_len, int32_t max_query, int32_t max_total, int32_t **out,
                        int32_t *n_out, he_error *err) {
    *out = NULL;
    *n_out = 0;
    if (!m->vocab) return he_fail(err, HE_UNSUPPORTED, "rerank: the model has no vocabulary");
    if (!hearth_model_is_reranker(m)) return he_fail(err, HE_INVALID, "rerank: not a reranker");
    if (m->enc)
        return pair_input(m, query, query_len, doc, doc_len, max_query, max_total, out, n_out, err);
    return prompt_input(m, query, query_len, doc, doc_len, max_total, out, n_out, err);
}
