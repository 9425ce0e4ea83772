/* index.c — the local context index (see index.h): walk, chunk, embed, store; search. */
#include "index/index.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "base/alloc.h"

#define MAX_FILE (1 << 20)
#define CHUNK_BYTES 1000
#define MAX_DEPTH 32

/* ---- the database ---- */

static int db_fail(sqlite3 *db, he_error *err, const char *what) {
    return he_fail(err, HE_IO, "index: %s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
}

static int exec(sqlite3 *db, const char *sql, he_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        he_fail(err, HE_IO, "index: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3 *db_open(const char *path, bool create, he_error *err) {
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        he_fail(err, HE_IO, "index: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    /* WAL: a reader (search) never blocks the writer; synchronous=NORMAL in WAL mode is still
     * crash-safe for the database (a power cut may lose the last commits, never corrupt it) */
    if (exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err) ||
        exec(db,
             "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
             "CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
             " size INTEGER NOT NULL, n_chunks INTEGER NOT NULL);"
             "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY, path TEXT NOT NULL,"
             " line0 INTEGER NOT NULL, line1 INTEGER NOT NULL, text TEXT NOT NULL,"
             " vec BLOB NOT NULL);"
             "CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks(path);",
             err)) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* meta[key]: 1 found (copied to out), 0 absent, -1 error */
static int meta_get(sqlite3 *db, const char *key, char *out, size_t cap, he_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, err, "meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int found = 0;
    if (rc == SQLITE_ROW) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = db_fail(db, err, "meta");
    }
    sqlite3_finalize(st);
    return found;
}

static int meta_set(sqlite3 *db, const char *key, const char *value, he_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(db, err, "meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, err, "meta");
    sqlite3_finalize(st);
    return rc;
}

/* The database must have been built with this model (or be new: then it records it). */
static int check_model(sqlite3 *db, const char *name, int32_t dim, bool record, he_error *err) {
    char have[512], want[512];
    snprintf(want, sizeof want, "%s (%d dims)", name, dim);
    int rc = meta_get(db, "model", have, sizeof have, err);
    if (rc < 0) return -1;
    if (rc == 0) return record ? meta_set(db, "model", want, err) : 0;
    if (strcmp(have, want))
        return he_fail(err, HE_INVALID,
                       "index: the database was built with %s, not %s (use that model, or a new "
                       "--db)",
                       have, want);
    return 0;
}

/* ---- files ---- */

static void sha256_hex(const char *data, size_t n, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = 0;
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = xmalloc(MAX_FILE + 1);
    *n = fread(buf, 1, MAX_FILE + 1, f);
    fclose(f);
    buf[*n <= MAX_FILE ? *n : MAX_FILE] = 0;
    return buf;
}

typedef struct {
    char **paths; /* relative */
    size_t n, cap;
} path_list;

static void walk(const char *root, const char *rel, int depth, path_list *out) {
    if (depth > MAX_DEPTH) return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue; /* hidden, ".", ".." (and .git) */
        char r[4096], full[8192];
        if ((size_t)snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >= sizeof r)
            continue; /* a path too long to keep: skipped */
        snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat st;
        if (lstat(full, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            walk(root, r, depth + 1, out);
        } else if (S_ISREG(st.st_mode) && st.st_size <= MAX_FILE) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 256;
                out->paths = xrealloc(out->paths, out->cap * sizeof *out->paths);
            }
            out->paths[out->n++] = xstrdup(r);
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- chunks ---- */

typedef struct {
    size_t start, end; /* bytes */
    int32_t line0, line1;
} chunk;

/* Whole lines up to about CHUNK_BYTES; a longer line is cut at CHUNK_BYTES (at a UTF-8
 * boundary). Chunks holding only whitespace are dropped. */
static size_t chunk_text(const char *s, size_t n, chunk **out) {
    size_t cap = 16, k = 0;
    chunk *c = xmalloc(cap * sizeof *c);
    size_t i = 0;
    int32_t line = 1;
    while (i < n) {
        size_t start = i, end = i;
        int32_t l0 = line;
        while (end < n) {
            const char *nl = memchr(s + end, '\n', n - end);
            size_t le = nl ? (size_t)(nl - s) + 1 : n;
            if (le - start > CHUNK_BYTES && end > start) break; /* the next line starts a chunk */
            if (le - start > CHUNK_BYTES) {                     /* one long line: cut it */
                le = start + CHUNK_BYTES;
                while (le > start && ((unsigned char)s[le] & 0xc0) == 0x80)
                    le--;
                end = le;
                break;
            }
            end = le;
            if (nl) line++;
        }
        bool blank = true;
        for (size_t j = start; j < end && blank; j++)
            blank = s[j] == ' ' || s[j] == '\n' || s[j] == '\t' || s[j] == '\r';
        if (!blank) {
            if (k == cap) c = xrealloc(c, (cap *= 2) * sizeof *c);
            c[k++] = (chunk){start, end, l0, line - (end > start && s[end - 1] == '\n')};
            if (c[k - 1].line1 < l0) c[k - 1].line1 = l0;
        }
        i = end;
    }
    *out = c;
    return k;
}

/* Test hook: HEARTH_TEST_INDEX_DELAY_MS=N sleeps N ms after each committed file, so a test can
 * kill a run midway (docs/INDEX.md). */
static void test_delay(void) {
    const char *v = getenv("HEARTH_TEST_INDEX_DELAY_MS");
    long ms = v ? strtol(v, NULL, 10) : 0;
    if (ms <= 0) return;
    if (ms > 10000) ms = 10000;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Tokenizes (with the model's special tokens) and cuts to max tokens, keeping the last one. */
static int32_t *tokens_of(const tok_vocab *v, const char *s, size_t n, int32_t max, int32_t *len,
                          he_error *err) {
    int32_t *t = NULL;
    size_t nt = 0;
    if (tok_encode(v, s, n, true, false, &t, &nt, err)) return NULL;
    if (nt == 0) {
        free(t);
        return NULL;
    }
    if (nt > (size_t)max) {
        t[max - 1] = t[nt - 1];
        nt = (size_t)max;
    }
    *len = (int32_t)nt;
    return t;
}

/* Embeds and stores one file's chunks in one transaction. */
static int index_file(sqlite3 *db, hearth_embedder *e, const hearth_model *m, const char *rel,
                      const char *text, size_t n, const char *hash, index_stats *st,
                      he_error *err) {
    chunk *ch;
    size_t nc = chunk_text(text, n, &ch);
    const tok_vocab *v = hearth_model_vocab(m);
    int32_t max = hearth_model_max_seq_tokens(m);
    if (max > 512) max = 512;
    int32_t dim = hearth_model_n_embd_out(m);
    int32_t **toks = xcalloc(nc ? nc : 1, sizeof *toks);
    int32_t *lens = xcalloc(nc ? nc : 1, sizeof *lens);
    float *vecs = xmalloc((nc ? nc : 1) * (size_t)dim * sizeof(float));
    size_t kept = 0;
    int rc = -1;
    sqlite3_stmt *ins = NULL, *del = NULL, *file = NULL;
    for (size_t i = 0; i < nc; i++) {
        int32_t len = 0;
        int32_t *t = tokens_of(v, text + ch[i].start, ch[i].end - ch[i].start, max, &len, err);
        if (!t) continue; /* nothing to embed (or untokenizable): the chunk is not indexed */
        ch[kept] = ch[i];
        toks[kept] = t;
        lens[kept] = len;
        st->tokens_embedded += len;
        kept++;
    }
    if (kept && hearth_embed(e, (const int32_t *const *)toks, lens, (int32_t)kept, true, vecs, err))
        goto done;
    if (exec(db, "BEGIN IMMEDIATE", err)) goto done;
    if (sqlite3_prepare_v2(db, "DELETE FROM chunks WHERE path = ?", -1, &del, NULL) ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO chunks(path, line0, line1, text, vec) VALUES(?,?,?,?,?)",
                           -1, &ins, NULL) ||
        sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO files(path, sha256, size, n_chunks) "
                           "VALUES(?,?,?,?)",
                           -1, &file, NULL)) {
        db_fail(db, err, "prepare");
        goto rollback;
    }
    sqlite3_bind_text(del, 1, rel, -1, SQLITE_STATIC);
    if (sqlite3_step(del) != SQLITE_DONE) {
        db_fail(db, err, "delete");
        goto rollback;
    }
    for (size_t i = 0; i < kept; i++) {
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, rel, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 2, ch[i].line0);
        sqlite3_bind_int(ins, 3, ch[i].line1);
        sqlite3_bind_text(ins, 4, text + ch[i].start, (int)(ch[i].end - ch[i].start),
                          SQLITE_STATIC);
        sqlite3_bind_blob(ins, 5, vecs + i * (size_t)dim, dim * (int)sizeof(float), SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            db_fail(db, err, "insert");
            goto rollback;
        }
    }
    sqlite3_bind_text(file, 1, rel, -1, SQLITE_STATIC);
    sqlite3_bind_text(file, 2, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(file, 3, (sqlite3_int64)n);
    sqlite3_bind_int64(file, 4, (sqlite3_int64)kept);
    if (sqlite3_step(file) != SQLITE_DONE) {
        db_fail(db, err, "files");
        goto rollback;
    }
    if (exec(db, "COMMIT", err)) goto rollback;
    st->chunks_embedded += (int64_t)kept;
    rc = 0;
    goto done;
rollback:
    exec(db, "ROLLBACK", NULL);
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    sqlite3_finalize(file);
    for (size_t i = 0; i < kept; i++)
        free(toks[i]);
    free(toks);
    free(lens);
    free(vecs);
    free(ch);
    return rc;
}

int index_update(const index_params *p, index_stats *st, he_error *err) {
    memset(st, 0, sizeof *st);
    const hearth_model *m = p->model;
    if (!hearth_model_is_embedder(m))
        return he_fail(err, HE_INVALID, "index: the model is not an embedding model");
    if (!hearth_model_vocab(m)) return he_fail(err, HE_INVALID, "index: the model has no vocab");
    struct stat sd;
    if (stat(p->dir, &sd) || !S_ISDIR(sd.st_mode))
        return he_fail(err, HE_IO, "index: %s is not a folder", p->dir);
    sqlite3 *db = db_open(p->db_path, true, err);
    if (!db) return -1;
    int rc = -1;
    path_list pl = {0};
    hearth_embedder *e = NULL;
    sqlite3_stmt *get = NULL, *all = NULL, *rm1 = NULL, *rm2 = NULL;
    if (check_model(db, p->model_name, hearth_model_n_embd_out(m), true, err)) goto out;
    if (p->model_path && meta_set(db, "model_path", p->model_path, err)) goto out;
    e = hearth_embedder_new(m, p->pool, 0, err);
    if (!e) goto out;
    walk(p->dir, "", 0, &pl);
    qsort(pl.paths, pl.n, sizeof *pl.paths, cmp_str);
    if (sqlite3_prepare_v2(db, "SELECT sha256 FROM files WHERE path = ?", -1, &get, NULL)) {
        db_fail(db, err, "prepare");
        goto out;
    }
    for (size_t i = 0; i < pl.n; i++) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", p->dir, pl.paths[i]);
        size_t n;
        char *text = read_file(full, &n);
        if (!text || n > MAX_FILE || memchr(text, 0, n < 8192 ? n : 8192)) {
            st->files_skipped++;
            free(text);
            continue;
        }
        st->files_seen++;
        char hash[65];
        sha256_hex(text, n, hash);
        sqlite3_reset(get);
        sqlite3_bind_text(get, 1, pl.paths[i], -1, SQLITE_STATIC);
        bool same = sqlite3_step(get) == SQLITE_ROW &&
                    !strcmp((const char *)sqlite3_column_text(get, 0), hash);
        if (same) {
            st->files_unchanged++;
        } else {
            if (index_file(db, e, m, pl.paths[i], text, n, hash, st, err)) {
                he_prefix(err, "index: %s", pl.paths[i]);
                free(text);
                goto out;
            }
            st->files_embedded++;
            if (p->verbose)
                fprintf(stderr, "hearth index: embedded %s (%zu/%zu)\n", pl.paths[i], i + 1, pl.n);
            test_delay();
        }
        free(text);
    }
    /* files that are gone (or now skipped) */
    if (sqlite3_prepare_v2(db, "SELECT path FROM files", -1, &all, NULL) ||
        sqlite3_prepare_v2(db, "DELETE FROM chunks WHERE path = ?", -1, &rm1, NULL) ||
        sqlite3_prepare_v2(db, "DELETE FROM files WHERE path = ?", -1, &rm2, NULL)) {
        db_fail(db, err, "prepare");
        goto out;
    }
    path_list gone = {0};
    while (sqlite3_step(all) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(all, 0);
        const char *key = path;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", p->dir, path);
        struct stat sf;
        bool listed = bsearch(&key, pl.paths, pl.n, sizeof *pl.paths, cmp_str) != NULL;
        if (!listed || stat(full, &sf)) {
            if (gone.n == gone.cap) {
                gone.cap = gone.cap ? gone.cap * 2 : 16;
                gone.paths = xrealloc(gone.paths, gone.cap * sizeof *gone.paths);
            }
            gone.paths[gone.n++] = xstrdup(path);
        }
    }
    if (gone.n && !exec(db, "BEGIN IMMEDIATE", err)) {
        for (size_t i = 0; i < gone.n; i++) {
            sqlite3_reset(rm1);
            sqlite3_reset(rm2);
            sqlite3_bind_text(rm1, 1, gone.paths[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(rm2, 1, gone.paths[i], -1, SQLITE_STATIC);
            sqlite3_step(rm1);
            sqlite3_step(rm2);
        }
        exec(db, "COMMIT", err);
        st->files_removed = (int64_t)gone.n;
    }
    for (size_t i = 0; i < gone.n; i++)
        free(gone.paths[i]);
    free(gone.paths);
    rc = 0;
out:
    sqlite3_finalize(get);
    sqlite3_finalize(all);
    sqlite3_finalize(rm1);
    sqlite3_finalize(rm2);
    for (size_t i = 0; i < pl.n; i++)
        free(pl.paths[i]);
    free(pl.paths);
    hearth_embedder_free(e);
    sqlite3_close(db);
    return rc;
}

/* ---- search ---- */

static int by_score(const void *a, const void *b) {
    float x = ((const index_hit *)a)->score, y = ((const index_hit *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

static float rerank_one(hearth_embedder *re, const hearth_model *r, const char *q, const char *d,
                        he_error *err, int *rc) {
    float s = -INFINITY;
    int32_t max = hearth_model_max_seq_tokens(r);
    if (max > 2048) max = 2048; /* the embedder's pass (hearth_embedder_new's default n_batch) */
    int32_t *t = NULL, k = 0;
    if (hearth_rerank_input(r, q, strlen(q), d, strlen(d), max / 2, max, &t, &k, err)) {
        *rc = -1;
        return s;
    }
    int32_t dim = hearth_model_n_embd_out(r);
    float *o = xmalloc((size_t)dim * sizeof(float));
    const int32_t *tp = t;
    if (hearth_embed(re, &tp, &k, 1, false, o, err))
        *rc = -1;
    else
        s = o[0];
    free(o);
    free(t);
    return s;
}

int index_search(const char *db_path, const hearth_model *model, const hearth_model *reranker,
                 const char *query, int k, index_hit **hits, int *n_hits, he_error *err) {
    *hits = NULL;
    *n_hits = 0;
    if (k < 1) k = 1;
    if (reranker && !hearth_model_is_reranker(reranker))
        return he_fail(err, HE_INVALID, "search: --rerank needs a reranking model");
    sqlite3 *db = db_open(db_path, false, err);
    if (!db) return -1;
    int rc = -1;
    hearth_embedder *e = NULL, *re = NULL;
    sqlite3_stmt *st = NULL;
    index_hit *best = NULL;
    int nb = 0, cand = reranker ? 4 * k : k;
    int32_t dim = hearth_model_n_embd_out(model);
    char name[512];
    if (meta_get(db, "model", name, sizeof name, err) <= 0) {
        he_fail(err, HE_INVALID, "search: %s is not an index (no model recorded)", db_path);
        goto out;
    }
    e = hearth_embedder_new(model, NULL, 0, err);
    if (!e) goto out;
    int32_t len = 0;
    int32_t max = hearth_model_max_seq_tokens(model);
    if (max > 512) max = 512;
    int32_t *qt = tokens_of(hearth_model_vocab(model), query, strlen(query), max, &len, err);
    if (!qt) {
        he_fail(err, HE_INVALID, "search: the query has no tokens");
        goto out;
    }
    float *qv = xmalloc((size_t)dim * sizeof(float));
    const int32_t *qp = qt;
    int erc = hearth_embed(e, &qp, &len, 1, true, qv, err);
    free(qt);
    if (erc) {
        free(qv);
        goto out;
    }
    if (sqlite3_prepare_v2(db, "SELECT path, line0, line1, text, vec FROM chunks", -1, &st, NULL)) {
        free(qv);
        db_fail(db, err, "prepare");
        goto out;
    }
    best = xcalloc((size_t)cand + 1, sizeof *best);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const float *v = sqlite3_column_blob(st, 4);
        if (sqlite3_column_bytes(st, 4) != dim * (int)sizeof(float)) continue;
        float s = 0.0f;
        for (int32_t i = 0; i < dim; i++) {
            float x;
            memcpy(&x, v + i, sizeof x); /* the blob need not be aligned */
            s += x * qv[i];
        }
        if (nb == cand && s <= best[nb - 1].score) continue;
        /* insert into the sorted top list */
        int pos = nb < cand ? nb++ : cand - 1;
        free(best[pos].path);
        free(best[pos].text);
        while (pos > 0 && best[pos - 1].score < s) {
            best[pos] = best[pos - 1];
            pos--;
        }
        best[pos] = (index_hit){xstrdup((const char *)sqlite3_column_text(st, 0)),
                                sqlite3_column_int(st, 1), sqlite3_column_int(st, 2),
                                xstrdup((const char *)sqlite3_column_text(st, 3)), s};
    }
    free(qv);
    if (reranker && nb) {
        re = hearth_embedder_new(reranker, NULL, 0, err);
        if (!re) goto out;
        int rrc = 0;
        for (int i = 0; i < nb && !rrc; i++)
            best[i].score = rerank_one(re, reranker, query, best[i].text, err, &rrc);
        if (rrc) goto out;
        qsort(best, (size_t)nb, sizeof *best, by_score);
        for (int i = k; i < nb; i++) {
            free(best[i].path);
            free(best[i].text);
        }
        if (nb > k) nb = k;
    }
    *hits = best;
    *n_hits = nb;
    best = NULL;
    rc = 0;
out:
    if (best) index_hits_free(best, nb);
    sqlite3_finalize(st);
    hearth_embedder_free(e);
    hearth_embedder_free(re);
    sqlite3_close(db);
    return rc;
}

void index_hits_free(index_hit *hits, int n) {
    for (int i = 0; hits && i < n; i++) {
        free(hits[i].path);
        free(hits[i].text);
    }
    free(hits);
}

int index_model_path(const char *db_path, char *out, size_t cap, he_error *err) {
    sqlite3 *db = db_open(db_path, false, err);
    if (!db) return -1;
    int rc = meta_get(db, "model_path", out, cap, err);
    sqlite3_close(db);
    if (rc == 0)
        return he_fail(err, HE_INVALID, "index: %s records no model; pass --model", db_path);
    return rc < 0 ? -1 : 0;
}
