/* manage_req.h — pure parsers for store mode and model management (routes_manage.c):
 * Ollama keep_alive durations, --max-memory sizes, and the /api/create body (with the params
 * override it produces). Nothing here touches the store or a model, so all of it is unit-tested
 * and fuzzed (fuzz/fuzz_manage.c) on its own. */
#ifndef HEARTH_SERVER_MANAGE_REQ_H
#define HEARTH_SERVER_MANAGE_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "server/request.h"

#define SRV_KEEP_ALIVE_FOREVER (-1.0)
#define SRV_KEEP_ALIVE_DEFAULT 300.0 /* Ollama's 5 minutes */
#define SRV_KEEP_ALIVE_MAX 1e9       /* seconds; longer is forever */

/* Ollama's keep_alive: a number of seconds, or a Go duration string ("5m", "1h30m", "1.5h",
 * "300ms", "10s", "0"; a unitless number string is seconds too). Negative means forever
 * (*seconds = SRV_KEEP_ALIVE_FOREVER), as does anything longer than SRV_KEEP_ALIVE_MAX.
 * 0 on success; -1 with why (a short reason) on a wrong type or a malformed string. */
int srv_keep_alive_parse(const json_t *v, double *seconds, char *why, size_t cap);

/* A byte size: digits with an optional fraction and unit (B, K, KB, KiB, M, MB, MiB, G, GB, GiB,
 * T, TB, TiB; case-insensitive; K/M/G/T are powers of 1024). 0, or -1 when malformed or over
 * 2^62 bytes. */
int srv_size_parse(const char *s, uint64_t *out);
/* "1.5 GiB", "300 MiB", "12 KiB", "512 B". */
void srv_size_format(uint64_t bytes, char *out, size_t cap);

/* POST /api/create (Ollama's current form). */
typedef struct {
    char *model;        /* the new name (owned) */
    char *from;         /* a store name or (admin only) a GGUF path (owned) */
    char *tmpl;         /* template text, or NULL (owned) */
    char *system;       /* system prompt, or NULL (owned) */
    json_t *parameters; /* object of params-override keys, or NULL (owned reference) */
    json_t *messages;   /* array of {role, content} strings, or NULL (owned reference) */
    bool stream;        /* default true, as Ollama */
} srv_create_req;

/* Parses and validates a create body: `model` (or `name`) a string; `from` a string (required:
 * hearth has no blob upload, so `files`/`adapters`/`modelfile` are a 400 saying how to import);
 * `template`, `system` strings; `parameters` an object whose values are numbers, booleans,
 * strings or arrays of strings; `messages` an array of {role: system|user|assistant|tool,
 * content: string}; `quantize` is a 400 (use `hearth quantize`). 0, or -1 with err (400). */
int srv_create_parse(const char *body, size_t len, srv_create_req *out, srv_req_error *err);
void srv_create_free(srv_create_req *r);

/* The params override the new model gets: base (the source model's params JSON, may be NULL)
 * with the request's parameters, system and messages on top (Ollama's `num_ctx` etc. keep their
 * names; `stop` and other keys the server does not apply are kept for /api/show). Returns a
 * malloc'd compact JSON object (NULL when nothing is set and base is NULL), or NULL with err
 * when base is not a JSON object or the result is over max bytes. *failed tells the two apart. */
char *srv_create_params(const char *base, const srv_create_req *r, size_t max, bool *failed,
                        srv_req_error *err);

#endif
