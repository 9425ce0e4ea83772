/* test_stories_cross.c — stories260K greedy decoding against the reference ids, for the
 * cross-built test run (make test-cross: qemu-aarch64, NEON kernels). test_model.c does the
 * same check natively (and the log-probs too) but reads the reference with jansson, which the
 * cross build has no arm64 copy of; this file pulls the two integer arrays per case out of the
 * reference JSON by hand. The model and reference come from tests/data (tests/unit/fixtures.h);
 * the test fails when they are absent. Greedy ids must be identical on every kernel set and
 * thread count: F16 and F32 KV cache, 1 and 2 threads. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/hearth.h"
#include "tensor/tensor.h"
#include "../unit/fixtures.h"

typedef struct {
    int n_prompt, n_gen;
    int32_t prompt[64];
    int32_t ids[256];
} ref_case;

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    cr_assert(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = 0;
    fclose(f);
    return buf;
}

/* the integer array after "key": at or after *pos; returns its length, moves *pos past it */
static int int_array(const char **pos, const char *key, int32_t *out, int cap) {
    const char *p = strstr(*pos, key);
    cr_assert(p, "reference: no %s", key);
    p = strchr(p + strlen(key), '[');
    cr_assert(p);
    p++;
    int n = 0;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == ',' || *p == '\r' || *p == '\t')
            p++;
        if (*p == ']') break;
        char *end;
        long v = strtol(p, &end, 10);
        cr_assert(end != p && n < cap, "reference: bad %s array", key);
        out[n++] = (int32_t)v;
        p = end;
    }
    *pos = p + 1;
    return n;
}

static int load_cases(ref_case *cases, int cap) {
    char path[1024];
    fixture_path(path, sizeof path, "models/stories260K.reference.json");
    char *json = read_all(path);
    cr_assert(json, "cannot read %s", path);
    const char *pos = json;
    int n = 0;
    while (n < cap && strstr(pos, "\"prompt_ids\"")) {
        cases[n].n_prompt = int_array(&pos, "\"prompt_ids\"", cases[n].prompt, 64);
        cases[n].n_gen = int_array(&pos, "\"ids\"", cases[n].ids, 256);
        n++;
    }
    free(json);
    return n;
}

static void check_greedy(hearth_kv_type kv, int n_threads) {
    char path[1024];
    fixture_path(path, sizeof path, "models/stories260K.gguf");
    static ref_case cases[8];
    const int n_cases = load_cases(cases, 8);
    cr_assert_eq(n_cases, 3);
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    cr_assert(m, "load %s: %s", path, err.msg);
    const int nv = hearth_model_n_vocab(m);
    int steps = 0;
    for (int ci = 0; ci < n_cases; ci++) {
        const ref_case *rc = &cases[ci];
        cr_assert(rc->n_prompt > 0 && rc->n_gen > 0);
        hearth_ctx_params p = hearth_ctx_params_default();
        p.n_ctx = 256;
        p.kv_type = kv;
        p.n_threads = n_threads;
        hearth_ctx *c = hearth_ctx_new(m, &p, &err);
        cr_assert(c, "%s", err.msg);
        hearth_batch b;
        hearth_batch_init(&b, 64);
        for (int k = 0; k < rc->n_prompt; k++)
            hearth_batch_add(&b, rc->prompt[k], k, 0, k == rc->n_prompt - 1);
        cr_assert_eq(hearth_decode(c, &b, &err), 0, "decode: %s", err.msg);
        const float *logits = hearth_logits(c, rc->n_prompt - 1);
        for (int step = 0; step < rc->n_gen; step++) {
            cr_assert(logits);
            int id = 0;
            for (int t = 1; t < nv; t++)
                if (logits[t] > logits[id]) id = t;
            cr_assert_eq(id, rc->ids[step], "%s kernels, case %d step %d: greedy id %d, reference %d",
                         tensor_isa(), ci, step, id, rc->ids[step]);
            steps++;
            if (step + 1 == rc->n_gen) break;
            hearth_batch_clear(&b);
            hearth_batch_add(&b, id, rc->n_prompt + step, 0, true);
            cr_assert_eq(hearth_decode(c, &b, &err), 0, "decode: %s", err.msg);
            logits = hearth_logits(c, 0);
        }
        hearth_batch_deinit(&b);
        hearth_ctx_free(c);
    }
    hearth_model_free(m);
    cr_log_info("stories260K (%s kernels, %s KV, %d thread(s)): %d greedy ids equal the reference",
                tensor_isa(), kv == HEARTH_KV_F16 ? "F16" : "F32", n_threads, steps);
}

Test(stories_cross, greedy_ids_f16_kv_two_threads, .timeout = 300) { check_greedy(HEARTH_KV_F16, 2); }

Test(stories_cross, greedy_ids_f32_kv_one_thread, .timeout = 300) { check_greedy(HEARTH_KV_F32, 1); }
