/* routes_tokenize.c — POST /tokenize and POST /detokenize in llama-server's shape.
 *
 * /tokenize {content, add_special?, parse_special?, with_pieces?, model?} -> {tokens: [id]}, or
 * with with_pieces {tokens: [{id, piece}]} where piece is the token's text when it is valid
 * UTF-8 and its bytes (an array of numbers) when not, as llama-server answers.
 * /detokenize {tokens, model?} -> {content}. An id outside the vocabulary is a 400 naming it.
 * `model` picks a served name; without it the only served name is used (several: a 400 asking
 * for it). Bodies are parsed by srv_tok_request_parse (request.c, fuzzed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "server/http_internal.h"
#include "tokenizer/tokenizer.h"

/* The served model a request names (":latest" stripped as Ollama clients add it), or the only
 * one. NULL after answering the error. */
static srv_model *pick_model(http_req *q, const char *name, enum MHD_Result *res) {
    srv_model *m = NULL;
    if (name) {
        m = srv_registry_acquire(q->h->reg, name);
        size_t n = strlen(name);
        if (!m && n > 7 && !strcmp(name + n - 7, ":latest")) {
            char *bare = xstrndup(name, n - 7);
            m = srv_registry_acquire(q->h->reg, bare);
            free(bare);
        }
        if (!m)
            *res =
                http_error(q, 404, "model", "model_not_found",
                           "The model '%s' does not exist or you do not have access to it.", name);
        return m;
    }
    int n = 0;
    char **names = srv_registry_names(q->h->reg, &n);
    if (n == 1) m = srv_registry_acquire(q->h->reg, names[0]);
    srv_names_free(names, n);
    if (!m)
        *res = http_error(q, 400, "model", "missing_required_parameter",
                          "Missing required parameter: 'model' (this server serves %d names).", n);
    return m;
}

enum MHD_Result route_tokenize(http_req *q) {
    srv_tok_request r;
    srv_req_error e;
    if (srv_tok_request_parse(q->body ? q->body : "", q->len, false, &r, &e))
        return http_req_error(q, &e);
    enum MHD_Result res = MHD_NO;
    srv_model *m = pick_model(q, r.model, &res);
    if (!m) {
        srv_tok_request_free(&r);
        return res;
    }
    const tok_vocab *v = hearth_model_vocab(srv_model_engine(m));
    int32_t *ids = NULL;
    size_t n = 0;
    he_error err = {0};
    if (!v || tok_encode(v, r.content, r.content_len, r.add_special, r.parse_special, &ids, &n,
                         &err) < 0) {
        srv_model_release(m);
        srv_tok_request_free(&r);
        if (err.code == HE_NOMEM) return http_error_nomem(q);
        return http_error(q, 400, "content", "invalid_value", "Cannot tokenize 'content': %s",
                          v ? err.msg : "the model has no tokenizer");
    }
    json_t *toks = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!r.with_pieces) {
            json_array_append_new(toks, json_integer(ids[i]));
            continue;
        }
        char b[512];
        size_t bl = tok_token_bytes(v, ids[i], true, b, sizeof b);
        if (bl > sizeof b) bl = sizeof b;
        json_t *piece = json_stringn(b, bl); /* NULL when not valid UTF-8 */
        if (!piece) {
            piece = json_array();
            for (size_t k = 0; k < bl; k++)
                json_array_append_new(piece, json_integer((unsigned char)b[k]));
        }
        json_array_append_new(toks, json_pack("{s:i, s:o}", "id", ids[i], "piece", piece));
    }
    free(ids);
    srv_model_release(m);
    srv_tok_request_free(&r);
    return http_respond_json(q, 200, json_pack("{s:o}", "tokens", toks));
}

enum MHD_Result route_detokenize(http_req *q) {
    srv_tok_request r;
    srv_req_error e;
    if (srv_tok_request_parse(q->body ? q->body : "", q->len, true, &r, &e))
        return http_req_error(q, &e);
    enum MHD_Result res = MHD_NO;
    srv_model *m = pick_model(q, r.model, &res);
    if (!m) {
        srv_tok_request_free(&r);
        return res;
    }
    const tok_vocab *v = hearth_model_vocab(srv_model_engine(m));
    int32_t nv = v ? tok_n_vocab(v) : 0;
    for (size_t i = 0; i < r.n_tokens; i++)
        if (r.tokens[i] >= nv) {
            res = http_error(q, 400, "tokens", "invalid_value",
                             "Invalid 'tokens[%zu]': token id %d is out of range (the vocabulary "
                             "has %d tokens).",
                             i, r.tokens[i], nv);
            srv_model_release(m);
            srv_tok_request_free(&r);
            return res;
        }
    /* grown as the text comes (a few bytes a token), never sized for the worst case */
    size_t cap = 4096, len = 0;
    char *out = he_malloc(cap), piece[TOK_DETOK_MAX];
    tok_detok d;
    tok_detok_init(&d);
    for (size_t i = 0; out && i <= r.n_tokens; i++) {
        size_t pn = i < r.n_tokens ? tok_detok_push(&d, v, r.tokens[i], true, piece, sizeof piece)
                                   : tok_detok_flush(&d, piece, sizeof piece);
        if (len + pn > cap) {
            char *o = he_realloc(out, (cap = (len + pn) * 2));
            if (!o) free(out);
            out = o;
        }
        if (out) memcpy(out + len, piece, pn), len += pn;
    }
    if (!out) {
        srv_model_release(m);
        srv_tok_request_free(&r);
        return http_error_nomem(q);
    }
    json_t *content = http_json_text(out, len);
    free(out);
    srv_model_release(m);
    srv_tok_request_free(&r);
    return http_respond_json(q, 200, json_pack("{s:o}", "content", content));
}
