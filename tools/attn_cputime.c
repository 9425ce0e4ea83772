/* attn_cputime.c — attention at depth measured in CPU time rather than wall time, for a busy
 * machine: one thread (a 1-thread pool runs everything on the calling thread), so the thread's
 * CPU clock counts only hearth's own work. Prefills D random tokens in chunks of 512, then a
 * P-token prompt, then N single tokens, and prints tokens per CPU-second of each phase.
 * Compare HEARTH_ATTN=tiled and HEARTH_ATTN=exact back to back (docs/BENCHMARKS.md, "Attention
 * at depth"). Not part of hearth; build:
 *   cc -O2 -Isrc tools/attn_cputime.c build/release/libhearth.a \
 *      $(pkg-config --libs libpcre2-8 jansson libcrypto libmicrohttpd) -lm -pthread -o attn_cputime
 * usage: attn_cputime MODEL.gguf D P N [f16|f32|q8_0] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/hearth.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Decodes tokens [*pos, end) in chunks of 512, logits for the last. */
static int feed(hearth_ctx *c, hearth_batch *b, int *pos, int end, unsigned *x) {
    he_error err = {0};
    while (*pos < end) {
        hearth_batch_clear(b);
        for (int i = 0; i < 512 && *pos < end; i++, (*pos)++) {
            *x = *x * 1103515245u + 12345u;
            hearth_batch_add(b, (int32_t)((*x >> 8) % 1000u), *pos, 0, *pos == end - 1);
        }
        if (hearth_decode(c, b, &err)) {
            fprintf(stderr, "decode: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: attn_cputime MODEL.gguf D P N [f16|f32|q8_0]\n");
        return 2;
    }
    const int D = atoi(argv[2]), P = atoi(argv[3]), N = atoi(argv[4]);
    he_error err = {0};
    hearth_model_params mp = hearth_model_params_default();
    mp.load_vocab = false;
    hearth_model *m = hearth_model_load(argv[1], &mp, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    hearth_ctx_params p = hearth_ctx_params_default();
    p.n_ctx = D + P + N + 16;
    p.n_threads = 1;
    if (argc > 5 && hearth_kv_type_from_name(argv[5], &p.kv_type)) {
        fprintf(stderr, "unknown KV type '%s'\n", argv[5]);
        return 2;
    }
    hearth_ctx *c = hearth_ctx_new(m, &p, &err);
    if (!c) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    hearth_batch b;
    hearth_batch_init(&b, 512);
    int pos = 0, rc = 1;
    unsigned x = 1;
    const double t0 = cpu_s();
    if (feed(c, &b, &pos, D, &x)) goto out;
    const double t1 = cpu_s();
    if (feed(c, &b, &pos, D + P, &x)) goto out;
    const double t2 = cpu_s();
    for (int i = 0; i < N; i++, pos++) {
        hearth_batch_clear(&b);
        hearth_batch_add(&b, 5 + i, pos, 0, true);
        if (hearth_decode(c, &b, &err)) {
            fprintf(stderr, "decode: %s\n", err.msg);
            goto out;
        }
    }
    const double t3 = cpu_s();
    printf("prefill %d: %.1f t/cpu-s | pp%d@d%d: %.1f t/cpu-s | tg%d@d%d: %.2f t/cpu-s (%.1f "
           "ms/token)\n",
           D, D ? D / (t1 - t0) : 0.0, P, D, P ? P / (t2 - t1) : 0.0, N, D + P,
           N ? N / (t3 - t2) : 0.0, N ? 1e3 * (t3 - t2) / N : 0.0);
    rc = 0;
out:
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
    hearth_model_free(m);
    return rc;
}
