/* fuzz_config.c — the served-names config parser (srv_config_parse) over arbitrary bytes.
 *
 * Invariants: it returns 0 with at least one section or -1 with a message that names the input
 * and a line ("fuzz:N: ..."); every section has a name and a non-empty model path (or is a
 * route to two other names); names are
 * unique. A parsed config written back out (quoted values, %.9g floats) parses to the same
 * configs: the format can express whatever it accepts. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/sched.h"

typedef struct {
    char *b;
    size_t n, cap;
} buf;

static void put(buf *o, const char *s, size_t n) {
    if (o->n + n + 1 > o->cap) {
        o->cap = (o->n + n + 1) * 2;
        o->b = realloc(o->b, o->cap);
        assert(o->b);
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
    o->b[o->n] = 0;
}

static void puts_(buf *o, const char *s) { put(o, s, strlen(s)); }

static void put_quoted(buf *o, const char *key, const char *v) {
    puts_(o, key);
    puts_(o, " = \"");
    for (const char *p = v; *p; p++) {
        if (*p == '\n')
            puts_(o, "\\n");
        else if (*p == '\t')
            puts_(o, "\\t");
        else if (*p == '"')
            puts_(o, "\\\"");
        else if (*p == '\\')
            puts_(o, "\\\\");
        else
            put(o, p, 1);
    }
    puts_(o, "\"\n");
}

static void write_cfg(buf *o, const srv_model_config *c) {
    char line[512];
    snprintf(line, sizeof line, "[%s]\n", c->name);
    puts_(o, line);
    if (c->route_small) { /* a routing name: nothing else may be set */
        snprintf(line, sizeof line, "route = %s, %s\nroute_long_prompt = %d\n", c->route_small,
                 c->route_large, c->route_long_prompt);
        puts_(o, line);
        return;
    }
    put_quoted(o, "model", c->path);
    if (c->system_prompt) put_quoted(o, "system", c->system_prompt);
    const sample_params *s = &c->sampling;
    snprintf(
        line, sizeof line,
        "ctx = %d\nslots = %d\nthreads = %d\nqueue = %d\n%s%d\ntemperature = %.9g\ntop_p = %.9g\n"
        "top_k = %d\nmin_p = %.9g\nrepeat_penalty = %.9g\nrepeat_last_n = %d\n",
        c->n_ctx, c->n_slots, c->n_threads, c->max_queue, c->n_batch ? "batch = " : "# batch ",
        c->n_batch, (double)s->temperature, (double)s->top_p, s->top_k, (double)s->min_p,
        (double)s->repeat_penalty, s->repeat_last_n);
    puts_(o, line);
    snprintf(line, sizeof line,
             "frequency_penalty = %.9g\npresence_penalty = %.9g\nseed = %llu\nprefix_reuse = %s\n",
             (double)s->frequency_penalty, (double)s->presence_penalty, (unsigned long long)s->seed,
             c->no_prefix_reuse ? "off" : "on");
    puts_(o, line);
    /* speculative decoding: draft or lookup, then the bounds they allow */
    if (c->draft) put_quoted(o, "draft", c->draft);
    if (c->lookup) {
        snprintf(line, sizeof line, "lookup = %d\n", c->lookup);
        puts_(o, line);
    }
    if (c->draft_max) {
        snprintf(line, sizeof line, "draft_max = %d\n", c->draft_max);
        puts_(o, line);
    }
    if (c->draft_layers) {
        snprintf(line, sizeof line, "draft_layers = %d\n", c->draft_layers);
        puts_(o, line);
    }
    if ((c->draft || c->draft_layers) && c->draft_min_p != 0) {
        snprintf(line, sizeof line, "draft_min_p = %.9g\n", (double)c->draft_min_p);
        puts_(o, line);
    }
}

static int same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void check_same(const srv_model_config *a, const srv_model_config *b) {
    assert(same_str(a->name, b->name) && same_str(a->path, b->path));
    assert(same_str(a->system_prompt, b->system_prompt));
    assert(same_str(a->route_small, b->route_small) && same_str(a->route_large, b->route_large) &&
           a->route_long_prompt == b->route_long_prompt);
    assert(a->n_ctx == b->n_ctx && a->n_slots == b->n_slots && a->n_threads == b->n_threads);
    assert(a->max_queue == b->max_queue && a->n_batch == b->n_batch &&
           a->no_prefix_reuse == b->no_prefix_reuse);
    assert(!memcmp(&a->sampling, &b->sampling, sizeof a->sampling));
    assert(same_str(a->draft, b->draft) && a->lookup == b->lookup && a->draft_max == b->draft_max &&
           a->draft_min_p == b->draft_min_p && a->draft_layers == b->draft_layers);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    srv_model_config *cfgs = NULL;
    int n = -1;
    he_error err = {0};
    if (srv_config_parse((const char *)data, size, "fuzz", &cfgs, &n, &err)) {
        assert(!cfgs && n == 0);
        assert(err.code != HE_OK && err.msg[0]);
        assert(!strncmp(err.msg, "fuzz", 4));
        return 0;
    }
    assert(n >= 1 && cfgs);
    buf o = {0};
    for (int i = 0; i < n; i++) {
        assert(cfgs[i].name && cfgs[i].name[0]);
        /* a model (non-empty path) or a route to two other names (no path) */
        assert(cfgs[i].route_small ? !cfgs[i].path && cfgs[i].route_large &&
                                         strcmp(cfgs[i].route_small, cfgs[i].name)
                                   : cfgs[i].path && cfgs[i].path[0]);
        for (int k = 0; k < i; k++)
            assert(strcmp(cfgs[i].name, cfgs[k].name));
        write_cfg(&o, &cfgs[i]);
    }
    srv_model_config *again = NULL;
    int n2 = 0;
    int rc = srv_config_parse(o.b, o.n, "fuzz-rewritten", &again, &n2, &err);
    if (rc) fprintf(stderr, "rewritten config failed: %s\n---\n%s\n", err.msg, o.b);
    assert(rc == 0 && n2 == n);
    for (int i = 0; i < n; i++)
        check_same(&cfgs[i], &again[i]);
    srv_config_free(again, n2);
    srv_config_free(cfgs, n);
    free(o.b);
    return 0;
}
