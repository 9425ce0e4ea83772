/* index.h — a local context index: text files of a folder, chunked, embedded, kept in SQLite.
 *
 * `hearth index DIR --model EMBEDDER [--db FILE]` walks DIR (regular text files; hidden entries,
 * symlinks, files over 1 MiB and binary files — a NUL in the first 8 KiB — are skipped), splits
 * each file into chunks of whole lines (about 1000 bytes; a line longer than that is split), embeds
 * the chunks and stores, per file, its SHA-256 and its chunks with their vectors. Each file is one
 * SQLite transaction (delete its old chunks, insert the new, record the hash): a run killed midway
 * leaves every finished file committed, and the next run re-embeds only files whose hash differs
 * or that are not recorded yet (and drops files that are gone). The database remembers the model
 * (file name and dimension) and refuses to mix vectors of another.
 *
 * Search is an exact scan: the query's vector against every chunk's (unit vectors: the dot product
 * is the cosine), best first; optionally the best candidates are re-scored by a reranker. Exact
 * scan keeps every result right and needs no index structure; at 128-768 floats per chunk it reads
 * ~0.5-3 KB per chunk, so up to a few hundred thousand chunks (a person's notes and code) answer in
 * well under a second. */
#ifndef HEARTH_INDEX_INDEX_H
#define HEARTH_INDEX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "model/embed.h"

typedef struct {
    int64_t files_seen, files_embedded, files_unchanged, files_removed, files_skipped;
    int64_t chunks_embedded, tokens_embedded;
} index_stats;

typedef struct {
    const char *dir;
    const char *db_path;
    const hearth_model *model; /* an embedder */
    const char *model_name;    /* recorded in the database (the model file's base name) */
    const char *model_path;    /* recorded too, so `hearth search` can load the model itself */
    he_pool *pool;             /* borrowed; NULL: a pool of its own */
    bool verbose;              /* one stderr line per embedded file */
} index_params;

/* Brings the database up to date with the folder. */
int index_update(const index_params *p, index_stats *st, he_error *err);

typedef struct {
    char *path;           /* relative to the indexed folder */
    int32_t line0, line1; /* first and last line of the chunk (1-based) */
    char *text;
    float score; /* cosine, or the reranker's score when reranked */
} index_hit;

/* The k best chunks for query (embedded with model; reranked by reranker when not NULL, which
 * scores the best 4 * k by cosine). *hits is malloc'd (index_hits_free). */
int index_search(const char *db_path, const hearth_model *model, const hearth_model *reranker,
                 const char *query, int k, index_hit **hits, int *n_hits, he_error *err);
void index_hits_free(index_hit *hits, int n);
/* The model file the index was built with (as given to index_update). */
int index_model_path(const char *db_path, char *out, size_t cap, he_error *err);

#endif
