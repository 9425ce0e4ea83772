/* cmd_index.c — `hearth index DIR --model EMBEDDER [--db FILE]` and
 * `hearth search "QUERY" [--db FILE] [--model EMBEDDER] [--rerank RERANKER] [-k N] [--json]`:
 * the local context index (src/index/index.h, docs/INDEX.md). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "index/index.h"

/* --db, else $HEARTH_HOME/index.db, else ~/.local/share/hearth/index.db */
static const char *default_db(char *buf, size_t cap) {
    const char *home = getenv("HEARTH_HOME");
    if (home && *home)
        snprintf(buf, cap, "%s/index.db", home);
    else
        snprintf(buf, cap, "%s/.local/share/hearth/index.db",
                 getenv("HOME") ? getenv("HOME") : ".");
    return buf;
}

static hearth_model *load(const char *path, const char *what) {
    he_error err = {0};
    hearth_model *m = hearth_model_load(path, NULL, &err);
    if (!m) fprintf(stderr, "hearth %s: %s\n", what, err.msg);
    return m;
}

int cmd_index(int argc, char **argv) {
    const char *dir = NULL, *model = NULL, *db = NULL;
    long threads = 0;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], 0, 1024, &threads)) dir = NULL, model = NULL;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            verbose = true;
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "hearth index: unexpected argument '%s'\n", argv[i]);
            dir = NULL;
            break;
        }
    }
    if (!dir || !model) {
        fprintf(stderr, "usage: hearth index DIR --model EMBEDDER.gguf [--db FILE] [-t N] [-v]\n");
        return 2;
    }
    char dbbuf[PATH_MAX], abs_model[PATH_MAX];
    if (!db) db = default_db(dbbuf, sizeof dbbuf);
    if (!realpath(model, abs_model)) snprintf(abs_model, sizeof abs_model, "%s", model);
    hearth_model *m = load(model, "index");
    if (!m) return 1;
    const char *base = strrchr(abs_model, '/');
    he_pool *pool = he_pool_new((int)threads);
    index_params p = {.dir = dir,
                      .db_path = db,
                      .model = m,
                      .model_name = base ? base + 1 : abs_model,
                      .model_path = abs_model,
                      .pool = pool,
                      .verbose = verbose};
    index_stats st;
    he_error err = {0};
    double t0 = cli_now_s();
    int rc = index_update(&p, &st, &err);
    if (rc)
        fprintf(stderr, "hearth index: %s\n", err.msg);
    else
        fprintf(stderr,
                "hearth index: %lld files: %lld embedded (%lld chunks, %lld tokens), %lld "
                "unchanged, %lld removed, %lld skipped (binary or too large) in %.1f s -> %s\n",
                (long long)st.files_seen, (long long)st.files_embedded,
                (long long)st.chunks_embedded, (long long)st.tokens_embedded,
                (long long)st.files_unchanged, (long long)st.files_removed,
                (long long)st.files_skipped, cli_now_s() - t0, db);
    he_pool_free(pool);
    hearth_model_free(m);
    return rc ? 1 : 0;
}

int cmd_search(int argc, char **argv) {
    const char *query = NULL, *model = NULL, *db = NULL, *rerank = NULL;
    long k = 5;
    bool json = false, bad = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "--rerank") && i + 1 < argc)
            rerank = argv[++i];
        else if (!strcmp(argv[i], "-k") && i + 1 < argc)
            bad |= cli_parse_long(argv[++i], 1, 1000, &k) != 0;
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!query && (argv[i][0] != '-' || !argv[i][1]))
            query = argv[i];
        else
            bad = true;
    }
    if (!query || bad) {
        fprintf(stderr, "usage: hearth search QUERY [--db FILE] [--model EMBEDDER.gguf] "
                        "[--rerank RERANKER.gguf] [-k N] [--json]\n");
        return 2;
    }
    char dbbuf[PATH_MAX], mp[PATH_MAX];
    if (!db) db = default_db(dbbuf, sizeof dbbuf);
    he_error err = {0};
    if (!model) {
        if (index_model_path(db, mp, sizeof mp, &err)) {
            fprintf(stderr, "hearth search: %s\n", err.msg);
            return 1;
        }
        model = mp;
    }
    hearth_model *m = load(model, "search"), *r = NULL;
    if (!m) return 1;
    if (rerank && !(r = load(rerank, "search"))) {
        hearth_model_free(m);
        return 1;
    }
    index_hit *hits;
    int n;
    int rc = index_search(db, m, r, query, (int)k, &hits, &n, &err);
    if (rc) {
        fprintf(stderr, "hearth search: %s\n", err.msg);
    } else if (json) {
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(a,
                                  json_pack("{s:s, s:i, s:i, s:f, s:s}", "path", hits[i].path,
                                            "line_start", hits[i].line0, "line_end", hits[i].line1,
                                            "score", (double)hits[i].score, "text", hits[i].text));
        char *s = json_dumps(a, JSON_INDENT(1));
        puts(s ? s : "[]");
        free(s);
        json_decref(a);
    } else {
        for (int i = 0; i < n; i++) {
            printf("%.4f  %s:%d-%d\n", (double)hits[i].score, hits[i].path, hits[i].line0,
                   hits[i].line1);
            const char *t = hits[i].text;
            int len = (int)strcspn(t, "\n");
            bool more = len > 160 || t[len + strspn(t + len, " \t\r\n")] != 0;
            printf("        %.*s%s\n", len > 160 ? 160 : len, t, more ? " ..." : "");
        }
    }
    if (!rc) index_hits_free(hits, n);
    hearth_model_free(m);
    hearth_model_free(r);
    return rc ? 1 : 0;
}
