/* fuzz_embed_req.c — libFuzzer target: any bytes as the body of an embedding or rerank request
 * (the first byte picks the API: /v1/embeddings, /api/embed, /api/embeddings, /v1/rerank);
 * parsing must never crash or leak, and an accepted request must hold what the routes rely on
 * (a model name, inputs that are non-empty texts or non-empty token arrays of ids >= 0, a
 * query for rerank). The base64 encoder is exercised on the body bytes too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/embed_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    srv_embed_api api = (srv_embed_api)(data[0] % 4);
    srv_embed_request r;
    srv_req_error e;
    int rc = srv_embed_request_parse(api, (const char *)data + 1, size - 1, &r, &e);
    if (rc == 0) {
        if (!r.model || !r.model[0]) abort();
        if (api != SRV_EMBED_OLLAMA_LEGACY && r.n_in == 0) abort();
        if (r.n_in > SRV_MAX_EMBED_INPUTS) abort();
        for (size_t i = 0; i < r.n_in; i++) {
            const srv_embed_input *in = &r.in[i];
            if (!in->text == !in->tokens) abort();
            if (in->text && (in->len == 0 || strlen(in->text) != in->len)) abort();
            if (in->tokens && in->n_tokens == 0) abort();
            for (size_t k = 0; in->tokens && k < in->n_tokens; k++)
                if (in->tokens[k] < 0) abort();
        }
        if (api == SRV_EMBED_RERANK && (!r.query || r.query_len == 0 || r.top_n < 0)) abort();
        if (r.dimensions < 0) abort();
    } else if (e.status < 400 || e.status > 599 || !e.message[0]) {
        abort();
    }
    srv_embed_request_free(&r);
    char *b = srv_base64(data, size);
    if (b && strlen(b) != (size + 2) / 3 * 4) abort();
    free(b);
    return 0;
}
