/* logits_dump.c — writes the raw float logits of a fixed decode sequence, so two builds of the
 * engine can be compared bit for bit (`cmp A B`) on any model file, real-size ones included.
 * The sequence: a prompt of P pseudo-random token ids as one batch (logits of every entry),
 * then G tokens decoded one at a time (each the previous step's greedy argmax), then one batch of
 * 3 sequences continuing from copies of that cache (logits of each). So prompt kernels, decode
 * kernels and a mixed batch all leave their mark.
 *   build: cc -std=c11 -O2 -D_GNU_SOURCE -Isrc tools/logits_dump.c build/release/libhearth.a \
 *          $(pkg-config --libs libpcre2-8 jansson libcrypto) -lm -pthread -o build/logits_dump
 *   run:   build/logits_dump MODEL.gguf OUT.bin [P=24] [G=8] [THREADS=2] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/hearth.h"

static int write_logits(FILE *f, const hearth_ctx *c, int32_t i, int32_t n_vocab) {
    const float *l = hearth_logits(c, i);
    return l && fwrite(l, sizeof *l, (size_t)n_vocab, f) == (size_t)n_vocab ? 0 : -1;
}

static int32_t argmax(const float *l, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: logits_dump MODEL.gguf OUT.bin [P] [G] [THREADS]\n");
        return 2;
    }
    const int32_t P = argc > 3 ? atoi(argv[3]) : 24, G = argc > 4 ? atoi(argv[4]) : 8;
    he_error err = {0};
    hearth_model_params mp = hearth_model_params_default();
    hearth_model *m = hearth_model_load(argv[1], &mp, &err);
    if (!m) {
        fprintf(stderr, "logits_dump: %s\n", err.msg);
        return 1;
    }
    hearth_ctx_params cp = hearth_ctx_params_default();
    cp.n_ctx = P + G + 8;
    cp.n_batch = P > 3 ? P : 3;
    cp.n_seq = 4;
    cp.n_threads = argc > 5 ? atoi(argv[5]) : 2;
    hearth_ctx *c = hearth_ctx_new(m, &cp, &err);
    FILE *f = fopen(argv[2], "wb");
    if (!c || !f) {
        fprintf(stderr, "logits_dump: %s\n", c ? "cannot open the output" : err.msg);
        return 1;
    }
    const int32_t nv = hearth_model_n_vocab(m);
    hearth_batch b;
    hearth_batch_init(&b, cp.n_batch);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int32_t i = 0; i < P; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        hearth_batch_add(&b, (int32_t)((s >> 33) % (uint64_t)nv), i, 0, true);
    }
    int rc = hearth_decode(c, &b, &err);
    for (int32_t i = 0; !rc && i < P; i++)
        rc = write_logits(f, c, i, nv);
    int32_t tok = rc ? 0 : argmax(hearth_logits(c, P - 1), nv);
    for (int32_t g = 0; !rc && g < G; g++) {
        hearth_batch_clear(&b);
        hearth_batch_add(&b, tok, P + g, 0, true);
        rc = hearth_decode(c, &b, &err) || write_logits(f, c, 0, nv);
        if (!rc) tok = argmax(hearth_logits(c, 0), nv);
    }
    if (!rc) { /* three sequences sharing the history, one new token each, in one batch */
        hearth_batch_clear(&b);
        for (int32_t q = 1; q <= 3; q++) {
            hearth_kv_seq_cp(c, 0, q, 0, P + G);
            hearth_batch_add(&b, (tok + 7 * q) % nv, P + G, q, true);
        }
        rc = hearth_decode(c, &b, &err);
        for (int32_t q = 0; !rc && q < 3; q++)
            rc = write_logits(f, c, q, nv);
    }
    if (rc) fprintf(stderr, "logits_dump: %s\n", err.msg[0] ? err.msg : "write failed");
    fclose(f);
    hearth_batch_deinit(&b);
    hearth_ctx_free(c);
    hearth_model_free(m);
    return rc ? 1 : 0;
}
