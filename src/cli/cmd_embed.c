/* cmd_embed.c — `hearth embed MODEL.gguf TEXT...`: the embedding (or, for a reranker,
 * `--query Q`, the relevance score) of each text, one JSON array per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "model/embed.h"

static void usage(void) {
    fprintf(stderr, "usage: hearth embed MODEL.gguf [--query Q] [--no-normalize] [-t THREADS] "
                    "TEXT...\n"
                    "       hearth embed MODEL.gguf --bench [--tokens N] [-r REPS] [-t THREADS]\n");
}

/* --bench: texts/s and tokens/s embedding batches of 1, 16 and 64 inputs of n_tok tokens each
 * (token ids spread over the vocabulary; [BOS] ... [EOS] when the vocab has them). */
static int bench(hearth_model *m, he_pool *pool, int n_tok, int reps) {
    he_error err = {0};
    int32_t max = hearth_model_max_seq_tokens(m);
    if (n_tok > max) n_tok = max;
    if (n_tok < 2) n_tok = 2;
    hearth_embedder *e = hearth_embedder_new(m, pool, 64 * n_tok, &err);
    if (!e) {
        fprintf(stderr, "hearth embed: %s\n", err.msg);
        return 1;
    }
    const tok_vocab *v = hearth_model_vocab(m);
    int32_t nv = hearth_model_n_vocab(m), dim = hearth_model_n_embd_out(m);
    int32_t *toks = xmalloc((size_t)64 * (size_t)n_tok * sizeof(int32_t));
    const int32_t **seqs = xmalloc(64 * sizeof *seqs);
    int32_t *lens = xmalloc(64 * sizeof *lens);
    uint64_t x = 88172645463325252ull;
    for (int s = 0; s < 64; s++) {
        int32_t *t = toks + (size_t)s * (size_t)n_tok;
        for (int i = 0; i < n_tok; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            t[i] = 1000 + (int32_t)(x % (uint64_t)(nv > 2000 ? nv - 1000 : 1000)) % nv;
        }
        if (v && tok_bos(v) >= 0) t[0] = tok_bos(v);
        if (v && tok_eos(v) >= 0) t[n_tok - 1] = tok_eos(v);
        seqs[s] = t;
        lens[s] = n_tok;
    }
    float *out = xmalloc((size_t)64 * (size_t)dim * sizeof(float));
    printf("| model | threads | tokens/input | batch | texts/s | tokens/s "
           "|\n|---|---:|---:|---:|---:|---:|\n");
    int rc = 0;
    const int sizes[] = {1, 16, 64};
    for (int k = 0; k < 3 && !rc; k++) {
        int b = sizes[k];
        if (hearth_embed(e, seqs, lens, b, true, out, &err)) { /* warm-up */
            rc = 1;
            break;
        }
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = cli_now_s();
            if (hearth_embed(e, seqs, lens, b, true, out, &err)) {
                rc = 1;
                break;
            }
            double dt = cli_now_s() - t0;
            if (dt < best) best = dt;
        }
        if (!rc)
            printf("| %s | %d | %d | %d | %.1f | %.0f |\n", hearth_model_arch(m),
                   he_pool_size(pool), n_tok, b, b / best, (double)b * n_tok / best);
    }
    if (rc) fprintf(stderr, "hearth embed: %s\n", err.msg);
    free(out);
    free(toks);
    free(seqs);
    free(lens);
    hearth_embedder_free(e);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    const char *path = NULL, *query = NULL;
    bool normalize = true, do_bench = false;
    long threads = 0, bench_tokens = 64, reps = 5;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--query") && i + 1 < argc)
            query = argv[++i];
        else if (!strcmp(argv[i], "--no-normalize"))
            normalize = false;
        else if (!strcmp(argv[i], "--bench"))
            do_bench = true;
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], 2, 8192, &bench_tokens)) {
                usage();
                return 2;
            }
        } else if (!strcmp(argv[i], "-r") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], 1, 1000, &reps)) {
                usage();
                return 2;
            }
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], 0, 1024, &threads)) {
                usage();
                return 2;
            }
        } else if (!strcmp(argv[i], "--")) {
            first_text = i + 1;
            break;
        } else if (!path)
            path = argv[i];
        else {
            first_text = i;
            break;
        }
    }
    if (!path || (first_text >= argc && !do_bench)) {
        usage();
        return 2;
    }
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    if (!m) {
        fprintf(stderr, "hearth embed: %s\n", err.msg);
        return 1;
    }
    const tok_vocab *v = hearth_model_vocab(m);
    he_pool *pool = he_pool_new((int)threads);
    if (do_bench) {
        int brc = bench(m, pool, (int)bench_tokens, (int)reps);
        he_pool_free(pool);
        hearth_model_free(m);
        return brc;
    }
    hearth_embedder *e = v ? hearth_embedder_new(m, pool, 0, &err) : NULL;
    if (!v) he_fail(&err, HE_UNSUPPORTED, "the model has no vocabulary");
    int rc = 1;
    int32_t n = argc - first_text, dim = hearth_model_n_embd_out(m);
    int32_t **toks = xcalloc((size_t)n, sizeof *toks);
    int32_t *lens = xcalloc((size_t)n, sizeof *lens);
    float *out = xmalloc((size_t)n * (size_t)dim * sizeof(float));
    bool rerank = hearth_model_is_reranker(m);
    if (!e) goto done;
    if (rerank && !query) {
        he_fail(&err, HE_INVALID, "a reranker needs --query");
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        const char *t = argv[first_text + i];
        size_t len = 0;
        if (rerank) {
            int32_t nt = 0;
            if (hearth_rerank_input(m, query, strlen(query), t, strlen(t), 0, 0, &toks[i], &nt,
                                    &err))
                goto done;
            len = (size_t)nt;
        } else if (tok_encode(v, t, strlen(t), true, true, &toks[i], &len, &err))
            goto done;
        lens[i] = (int32_t)len;
    }
    if (hearth_embed(e, (const int32_t *const *)toks, lens, n, normalize, out, &err)) goto done;
    for (int32_t i = 0; i < n; i++) {
        printf("[");
        for (int32_t k = 0; k < dim; k++)
            printf("%s%.9g", k ? "," : "", (double)out[(size_t)i * dim + k]);
        printf("]\n");
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "hearth embed: %s\n", err.msg);
    for (int32_t i = 0; i < n; i++)
        free(toks[i]);
    free(toks);
    free(lens);
    free(out);
    hearth_embedder_free(e);
    he_pool_free(pool);
    hearth_model_free(m);
    return rc;
}
