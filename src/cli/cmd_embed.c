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
                    "TEXT...\n");
}

int cmd_embed(int argc, char **argv) {
    const char *path = NULL, *query = NULL;
    bool normalize = true;
    long threads = 0;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--query") && i + 1 < argc)
            query = argv[++i];
        else if (!strcmp(argv[i], "--no-normalize"))
            normalize = false;
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
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
    if (!path || first_text >= argc) {
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
            int32_t *q = NULL, *d = NULL;
            size_t nq = 0, nd = 0;
            if (tok_encode(v, query, strlen(query), false, true, &q, &nq, &err) ||
                tok_encode(v, t, strlen(t), false, true, &d, &nd, &err)) {
                free(q);
                goto done;
            }
            toks[i] = xmalloc((nq + nd + 4) * sizeof(int32_t));
            toks[i][len++] = tok_bos(v);
            memcpy(toks[i] + len, q, nq * sizeof(int32_t));
            len += nq;
            toks[i][len++] = tok_eos(v);
            toks[i][len++] = hearth_model_sep_token(m);
            memcpy(toks[i] + len, d, nd * sizeof(int32_t));
            len += nd;
            toks[i][len++] = tok_eos(v);
            free(q);
            free(d);
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
