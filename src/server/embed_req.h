/* embed_req.h — parsing and validating the bodies of the embedding and rerank routes.
 *
 * Like request.h, a pure function from a body to a request or to the exact 4xx the client gets
 * (nothing here touches a model; fuzz/fuzz_embed_req.c). Inputs are kept as given — text (to be
 * tokenized with the model's vocab by the route) or token ids (checked against the vocab
 * there). Shapes:
 *   OpenAI  POST /v1/embeddings  {model, input: string | [string] | [int] | [[int]],
 *                                 encoding_format?: "float" | "base64", dimensions?: int}
 *   Ollama  POST /api/embed      {model, input: string | [string], truncate?: bool,
 *                                 dimensions?: int}
 *   Ollama  POST /api/embeddings {model, prompt: string}          (legacy; one vector)
 *   Jina / Cohere / llama-server  POST /v1/rerank (/rerank, /v1/reranking)
 *                                {model, query: string, documents: [string | {text}],
 *                                 top_n?: int, return_documents?: bool} */
#ifndef HEARTH_SERVER_EMBED_REQ_H
#define HEARTH_SERVER_EMBED_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/request.h"

typedef enum {
    SRV_EMBED_OPENAI,        /* /v1/embeddings */
    SRV_EMBED_OLLAMA,        /* /api/embed */
    SRV_EMBED_OLLAMA_LEGACY, /* /api/embeddings */
    SRV_EMBED_RERANK         /* /v1/rerank and aliases */
} srv_embed_api;

#define SRV_MAX_EMBED_INPUTS 2048 /* inputs (or documents) per request */

typedef struct {
    const char *text; /* NULL for a token input; else NUL-terminated (may hold no NUL inside) */
    size_t len;
    int32_t *tokens; /* token input (n_tokens ids, each >= 0), else NULL */
    size_t n_tokens;
} srv_embed_input;

typedef struct {
    char *model;
    srv_embed_input *in; /* inputs, or for rerank the documents */
    size_t n_in;
    bool base64;        /* encoding_format "base64" */
    int32_t dimensions; /* 0: the model's */
    bool truncate;      /* Ollama: cut inputs longer than the context (default true) */
    /* rerank */
    const char *query;
    size_t query_len;
    int32_t top_n; /* 0: all */
    bool return_documents;
    void *json_; /* internal: the parsed body the texts point into */
} srv_embed_request;

/* 0 with out filled (free with srv_embed_request_free), or -1 with err (a 4xx; out left empty,
 * freeing it is still safe). */
int srv_embed_request_parse(srv_embed_api api, const char *body, size_t len, srv_embed_request *out,
                            srv_req_error *err);
void srv_embed_request_free(srv_embed_request *r);

/* The standard base64 encoding of n bytes (malloc'd, NUL-terminated); NULL when memory ran out. */
char *srv_base64(const void *data, size_t n);

#endif
