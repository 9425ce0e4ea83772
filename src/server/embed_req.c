/* embed_req.c — the embedding and rerank request parser (see embed_req.h). */
#include "server/embed_req.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"

static int get_text(json_t *v, const char *param, srv_embed_input *in, srv_req_error *err) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (memchr(s, 0, n))
        return srv_req_fail(err, 400, param, "invalid_value", "'%s' contains a NUL character.",
                            param);
    if (n == 0)
        return srv_req_fail(err, 400, param, "invalid_value", "'%s' must not be an empty string.",
                            param);
    in->text = s;
    in->len = n;
    return 0;
}

static int get_tokens(json_t *arr, const char *param, srv_embed_input *in, srv_req_error *err) {
    size_t n = json_array_size(arr);
    if (n == 0)
        return srv_req_fail(err, 400, param, "invalid_value", "'%s' has an empty token array.",
                            param);
    in->tokens = he_malloc(n * sizeof(int32_t));
    if (!in->tokens) return srv_req_nomem(err);
    in->n_tokens = n;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
            return srv_req_fail(err, 400, param, "invalid_value",
                                "'%s' must hold token ids (non-negative integers).", param);
        in->tokens[i] = (int32_t)json_integer_value(t);
    }
    return 0;
}

/* input / documents: a string, or an array of strings (or, when tokens_ok, of token ids, or
 * of arrays of token ids); rerank documents may be {text} objects (Cohere). */
static int parse_inputs(srv_embed_request *r, json_t *v, const char *param, bool tokens_ok,
                        bool objects_ok, srv_req_error *err) {
    if (json_is_string(v)) {
        r->in = xcalloc(1, sizeof *r->in);
        r->n_in = 1;
        return get_text(v, param, &r->in[0], err);
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return srv_req_fail(err, 400, param, "invalid_type",
                            "'%s' must be a string or a non-empty array%s.", param,
                            tokens_ok ? " of strings or token ids" : " of strings");
    size_t n = json_array_size(v);
    json_t *first = json_array_get(v, 0);
    if (tokens_ok && json_is_integer(first)) { /* one token array */
        r->in = xcalloc(1, sizeof *r->in);
        r->n_in = 1;
        return get_tokens(v, param, &r->in[0], err);
    }
    if (n > SRV_MAX_EMBED_INPUTS)
        return srv_req_fail(err, 400, param, "invalid_value", "'%s' has %zu items; at most %d.",
                            param, n, SRV_MAX_EMBED_INPUTS);
    r->in = he_calloc(n, sizeof *r->in);
    if (!r->in) return srv_req_nomem(err);
    r->n_in = n;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (objects_ok && json_is_object(e)) e = json_object_get(e, "text");
        if (json_is_string(e)) {
            if (get_text(e, param, &r->in[i], err)) return -1;
        } else if (tokens_ok && json_is_array(e)) {
            if (get_tokens(e, param, &r->in[i], err)) return -1;
        } else {
            return srv_req_fail(err, 400, param, "invalid_type",
                                "'%s' item %zu must be a string%s.", param, i,
                                tokens_ok ? " or an array of token ids" : "");
        }
    }
    return 0;
}

static int opt_bool(json_t *root, const char *key, bool *out, srv_req_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v))
        return srv_req_fail(err, 400, key, "invalid_type", "'%s' must be a boolean.", key);
    *out = json_is_true(v);
    return 0;
}

static int opt_int(json_t *root, const char *key, int32_t lo, int32_t hi, int32_t *out,
                   srv_req_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return srv_req_fail(err, 400, key, "invalid_value", "'%s' must be an integer in [%d, %d].",
                            key, lo, hi);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int parse(srv_embed_api api, json_t *root, srv_embed_request *r, srv_req_error *err) {
    json_t *model = json_object_get(root, "model");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return srv_req_fail(err, 400, "model", "invalid_value",
                            "'model' is required: the served name of an %s model.",
                            api == SRV_EMBED_RERANK ? "reranking" : "embedding");
    r->model = xstrdup(json_string_value(model));
    r->truncate = true;
    switch (api) {
    case SRV_EMBED_OPENAI: {
        json_t *in = json_object_get(root, "input");
        if (!in || json_is_null(in))
            return srv_req_fail(err, 400, "input", "missing_required_parameter",
                                "'input' is required.");
        if (parse_inputs(r, in, "input", true, false, err)) return -1;
        r->truncate = false; /* OpenAI refuses an input longer than the model's limit */
        json_t *f = json_object_get(root, "encoding_format");
        if (f && !json_is_null(f)) {
            const char *fs = json_string_value(f);
            if (fs && !strcmp(fs, "base64"))
                r->base64 = true;
            else if (!fs || strcmp(fs, "float"))
                return srv_req_fail(err, 400, "encoding_format", "invalid_value",
                                    "'encoding_format' must be \"float\" or \"base64\".");
        }
        return opt_int(root, "dimensions", 1, 65536, &r->dimensions, err);
    }
    case SRV_EMBED_OLLAMA: {
        json_t *in = json_object_get(root, "input");
        if (!in || json_is_null(in))
            return srv_req_fail(err, 400, "input", "missing_required_parameter",
                                "'input' is required.");
        if (parse_inputs(r, in, "input", false, false, err)) return -1;
        if (opt_bool(root, "truncate", &r->truncate, err)) return -1;
        return opt_int(root, "dimensions", 1, 65536, &r->dimensions, err);
    }
    case SRV_EMBED_OLLAMA_LEGACY: {
        json_t *p = json_object_get(root, "prompt");
        if (p && !json_is_null(p) && !json_is_string(p))
            return srv_req_fail(err, 400, "prompt", "invalid_type", "'prompt' must be a string.");
        /* an empty prompt only loads the model (Ollama answers an empty embedding) */
        if (p && json_string_length(p) > 0) {
            r->in = xcalloc(1, sizeof *r->in);
            r->n_in = 1;
            return get_text(p, "prompt", &r->in[0], err);
        }
        return 0;
    }
    case SRV_EMBED_RERANK: {
        json_t *q = json_object_get(root, "query");
        if (!json_is_string(q))
            return srv_req_fail(err, 400, "query", "invalid_type", "'query' must be a string.");
        srv_embed_input qi = {0};
        if (get_text(q, "query", &qi, err)) return -1;
        r->query = qi.text;
        r->query_len = qi.len;
        json_t *d = json_object_get(root, "documents");
        if (!d || json_is_null(d)) d = json_object_get(root, "texts"); /* TEI's name */
        if (!json_is_array(d) || json_array_size(d) == 0)
            return srv_req_fail(err, 400, "documents", "invalid_type",
                                "'documents' must be a non-empty array of strings.");
        if (parse_inputs(r, d, "documents", false, true, err)) return -1;
        if (opt_int(root, "top_n", 1, INT32_MAX, &r->top_n, err)) return -1;
        return opt_bool(root, "return_documents", &r->return_documents, err);
    }
    }
    return srv_req_fail(err, 400, NULL, NULL, "unknown API");
}

int srv_embed_request_parse(srv_embed_api api, const char *body, size_t len, srv_embed_request *out,
                            srv_req_error *err) {
    memset(out, 0, sizeof *out);
    json_t *root = srv_json_parse_object(body, len, err);
    if (!root) return -1;
    out->json_ = root;
    if (parse(api, root, out, err)) {
        srv_embed_request_free(out);
        return -1;
    }
    return 0;
}

void srv_embed_request_free(srv_embed_request *r) {
    for (size_t i = 0; r->in && i < r->n_in; i++)
        free(r->in[i].tokens);
    free(r->in);
    free(r->model);
    if (r->json_) json_decref((json_t *)r->json_);
    memset(r, 0, sizeof *r);
}

char *srv_base64(const void *data, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = data;
    char *out = he_malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}
