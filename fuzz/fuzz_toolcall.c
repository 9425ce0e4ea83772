/* fuzz_toolcall.c — libFuzzer target over the tool-call parsers (chat/toolcall.h).
 * The first input byte picks the family (low 3 bits, plus 8 when bit 7 is set, modulo the
 * number of families), reasoning (bit 3), starting inside reasoning (bit 4), call parsing off
 * (bit 5) and the chunking seed (bits 6-7); the other
 * bytes are the model's output. Each input is parsed whole, then streamed in chunks of 1..8
 * bytes: the two must agree exactly (content, reasoning, every call's name and arguments),
 * and every call's arguments must be a JSON object. Streamed eagerly (argument fragments), the
 * fragments must add up to the whole parse's arguments whenever the calls announced are the
 * calls found. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/toolcall.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    char *content, *reasoning;
    size_t clen, rlen;
    int n_calls;
    char *calls; /* "name\0args\0" ... */
    size_t kl;
} acc;

static void app(char **b, size_t *len, const char *t, size_t n) {
    *b = realloc(*b, *len + n + 1);
    memcpy(*b + *len, t, n);
    *len += n;
    (*b)[*len] = 0;
}

static void on_delta(const tc_delta *d, void *user) {
    acc *a = user;
    if (d->kind == TC_DELTA_CONTENT) {
        app(&a->content, &a->clen, d->text, d->len);
    } else if (d->kind == TC_DELTA_REASONING) {
        app(&a->reasoning, &a->rlen, d->text, d->len);
    } else {
        if (d->index != a->n_calls || !d->id || strncmp(d->id, "call_", 5)) abort();
        a->n_calls++;
        app(&a->calls, &a->kl, d->name, strlen(d->name) + 1);
        app(&a->calls, &a->kl, d->text, d->len + 1);
    }
}

/* Eager streaming (tc_stream_set_eager): calls announced early, arguments in fragments. */
typedef struct {
    char *content, *reasoning;
    size_t clen, rlen;
    int n_calls;
    char *args[64]; /* reassembled arguments of the first 64 calls */
    size_t alen[64];
    char *names[64];
} eacc;

static void on_eager(const tc_delta *d, void *user) {
    eacc *a = user;
    if (d->kind == TC_DELTA_CONTENT) {
        app(&a->content, &a->clen, d->text, d->len);
    } else if (d->kind == TC_DELTA_REASONING) {
        app(&a->reasoning, &a->rlen, d->text, d->len);
    } else if (d->kind == TC_DELTA_CALL || d->kind == TC_DELTA_CALL_START) {
        if (d->index != a->n_calls || !d->id || strncmp(d->id, "call_", 5) || !d->name) abort();
        if (a->n_calls < 64) {
            a->names[a->n_calls] = strdup(d->name);
            a->args[a->n_calls] = NULL;
            a->alen[a->n_calls] = 0;
            app(&a->args[a->n_calls], &a->alen[a->n_calls], d->text, d->len);
        }
        a->n_calls++;
    } else { /* TC_DELTA_ARGS: for a call already announced */
        if (d->index < 0 || d->index >= a->n_calls) abort();
        if (d->index < 64) app(&a->args[d->index], &a->alen[d->index], d->text, d->len);
    }
}

static bool same(const char *a, size_t an, const char *b, size_t bn) {
    return an == bn && (!an || !memcmp(a, b, an));
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 16 * 1024) return 0;
    uint8_t flags = data[0];
    tc_family f = (tc_family)(((flags & 7) | ((flags >> 7) << 3)) % TC_N_FAMILIES);
    tc_reasoning r = {(flags >> 3) & 1, (flags >> 4) & 1};
    bool parse_calls = !((flags >> 5) & 1);
    unsigned seed = flags >> 6;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;

    tc_result res;
    he_error err;
    if (tc_parse(f, &r, parse_calls, text, n, &res, &err) < 0) return 0;
    acc whole = {0};
    for (int i = 0; i < res.n_calls; i++) {
        json_error_t je;
        json_t *args = json_loads(res.calls[i].arguments, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &je);
        if (!json_is_object(args) || !res.calls[i].name[0] || strlen(res.calls[i].id) != 29) abort();
        json_decref(args);
        whole.n_calls++;
        app(&whole.calls, &whole.kl, res.calls[i].name, strlen(res.calls[i].name) + 1);
        app(&whole.calls, &whole.kl, res.calls[i].arguments, strlen(res.calls[i].arguments) + 1);
    }

    tc_stream *s = tc_stream_new(f, &r, parse_calls);
    acc st = {0};
    size_t p = 0;
    unsigned x = seed * 2654435761u + 1;
    while (p < n) {
        x = x * 1103515245u + 12345u;
        size_t step = 1 + (x >> 16) % 8;
        if (step > n - p) step = n - p;
        if (tc_stream_feed(s, text + p, step, false, on_delta, &st, &err) < 0) abort();
        p += step;
    }
    if (tc_stream_feed(s, NULL, 0, true, on_delta, &st, &err) < 0) abort();
    if (tc_stream_n_calls(s) != st.n_calls) abort();
    tc_stream_free(s);

    /* tc_result holds C strings: compare as such (an output may contain NUL bytes) */
    if (strcmp(res.content, st.content ? st.content : "")) abort();
    if (strcmp(res.reasoning ? res.reasoning : "", st.reasoning ? st.reasoning : "")) abort();
    if (whole.n_calls != st.n_calls || !same(whole.calls, whole.kl, st.calls, st.kl)) abort();

    /* Eager: reasoning is untouched; when it announced exactly the calls the whole parse found
     * (text in the grammar's shape that then does not parse is announced in vain: only
     * grammar-constrained output is streamed eagerly), each call's fragments add up to its
     * arguments. */
    s = tc_stream_new(f, &r, parse_calls);
    tc_stream_set_eager(s, true);
    eacc ea = {0};
    p = 0;
    x = seed * 2654435761u + 1;
    while (p < n) {
        x = x * 1103515245u + 12345u;
        size_t step = 1 + (x >> 16) % 8;
        if (step > n - p) step = n - p;
        if (tc_stream_feed(s, text + p, step, false, on_eager, &ea, &err) < 0) abort();
        p += step;
    }
    if (tc_stream_feed(s, NULL, 0, true, on_eager, &ea, &err) < 0) abort();
    if (tc_stream_n_calls(s) != ea.n_calls) abort();
    tc_stream_free(s);
    if (strcmp(res.reasoning ? res.reasoning : "", ea.reasoning ? ea.reasoning : "")) abort();
    if (ea.n_calls == res.n_calls && !strcmp(res.content, ea.content ? ea.content : ""))
        for (int i = 0; i < res.n_calls && i < 64; i++)
            if (strcmp(ea.names[i], res.calls[i].name) || strcmp(ea.args[i] ? ea.args[i] : "", res.calls[i].arguments))
                abort();
    for (int i = 0; i < ea.n_calls && i < 64; i++) {
        free(ea.names[i]);
        free(ea.args[i]);
    }
    free(ea.content);
    free(ea.reasoning);
    tc_result_free(&res);
    free(whole.calls);
    free(st.content);
    free(st.reasoning);
    free(st.calls);
    return 0;
}
