/* store.h — hearth's local model store: content-addressed blobs plus named manifests.
 *
 * Layout under the store root ($HEARTH_HOME, default ~/.local/share/hearth; docs/STORE.md):
 *   blobs/sha256-<64 hex>   file contents, named by their SHA-256; 0400 once in place
 *   manifests/<name>        JSON naming the blobs that make a model (weights, optional adapters,
 *                           template and parameter overrides), when and from where it was imported
 *   .lock                   flock()ed by every command that changes the store
 * Folders are 0700, files 0600 (blobs 0400). The one core idea: every path inside the store is
 * built by store_digest_path (blobs) or store_name_file (manifests), each of which validates its
 * input first, so no digest or name read from a manifest, a command line or a request can point
 * outside the root. Every write is crash-safe: a temporary file in the same folder, fsync, rename,
 * fsync of the folder — and a blob is renamed into place only after its hash was checked, and a
 * manifest is written only after its blobs are in place. */
#ifndef HEARTH_STORE_H
#define HEARTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define STORE_DIGEST_LEN 71            /* "sha256-" + 64 hex */
#define STORE_NAME_MAX 128             /* bytes in a model name */
#define STORE_MAX_ADAPTERS 16          /* adapters in one manifest */
#define STORE_MANIFEST_MAX (64 * 1024) /* bytes in a manifest file */
#define STORE_PATH_MAX 4096

/* ---- Paths and names (pure functions, no I/O) ---- */

/* True when digest is exactly "sha256-" followed by 64 lower-case hex digits. */
bool store_digest_valid(const char *digest);
/* THE mapping from a digest to a blob path: "<root>/blobs/<digest>" after checking the digest
 * (store_digest_valid) and the root (absolute, no "/../" or "/./" components, not "/"). Every
 * blob path hearth opens comes from here. Returns 0, or -1 (HE_INVALID / HE_LIMIT). */
int store_digest_path(const char *root, const char *digest, char *out, size_t cap, he_error *err);

/* Model names: 1..STORE_NAME_MAX bytes of [A-Za-z0-9._-] with at most one ':' (family:tag, both
 * sides non-empty); the first byte is a letter or digit; no "..". So no path separator, no
 * control byte, no leading dot or dash. Returns 0 or -1 (HE_INVALID naming the problem). */
int store_name_check(const char *name, he_error *err);
/* The manifest path of a valid name: "<root>/manifests/<name>" (':' kept as is — Linux file
 * names allow it, and the charset has no other special byte). Checks the name first. */
int store_name_file(const char *root, const char *name, char *out, size_t cap, he_error *err);
/* Makes a valid name out of arbitrary text (general.name, a file basename): letters, digits, '.',
 * '_' and '-' kept, any other run of bytes becomes one '-', leading/trailing non-alphanumerics
 * dropped, ".." broken up, cut to fit. Writes "model" when nothing usable remains. */
void store_name_sanitize(const char *text, char *out, size_t cap);

/* ---- Manifests ---- */

typedef struct {
    char digest[STORE_DIGEST_LEN + 1];
    uint64_t size;
} store_blob_ref;

typedef struct {
    char name[STORE_NAME_MAX + 1];
    store_blob_ref weights;
    store_blob_ref adapters[STORE_MAX_ADAPTERS];
    int n_adapters;
    bool has_template, has_params;
    store_blob_ref template_blob; /* a Jinja chat template that overrides the GGUF's */
    store_blob_ref params_blob;   /* JSON sampling/context parameter overrides */
    char imported_at[32];         /* "2026-11-23T10:59:51Z" */
    char source[1024];            /* the path imported from (informational, may be cut) */
} store_manifest;

/* Parses and validates a manifest (JSON, at most STORE_MANIFEST_MAX bytes): every digest valid,
 * sizes non-negative integers, the name valid, unknown keys ignored. Returns 0 or -1. */
int store_manifest_parse(const char *json, size_t len, store_manifest *out, he_error *err);
/* Serializes m as JSON (schema 1). Returns a malloc'ed NUL-terminated string (caller frees),
 * NULL when out of memory. */
char *store_manifest_dump(const store_manifest *m);
/* Blob references of m in a flat list (weights first); returns how many (<= 3 + adapters). */
int store_manifest_blobs(const store_manifest *m, store_blob_ref *out, int cap);

/* ---- The store ---- */

typedef struct store store;

/* Opens (creating with mode 0700 when missing) the store at root; NULL root means $HEARTH_HOME,
 * else $HOME/.local/share/hearth. The root is made absolute. Returns NULL with err filled. */
store *store_open(const char *root, he_error *err);
void store_close(store *s);             /* NULL is a no-op; releases the lock if held */
const char *store_root(const store *s); /* borrowed, valid until store_close */

/* Takes the store's exclusive lock (flock on <root>/.lock); commands that change the store hold
 * it, so an import never races an rm's garbage collection. Released by store_unlock/close. */
int store_lock(store *s, he_error *err);
void store_unlock(store *s);

/* Reads and parses manifests/<name>. Returns 0, or -1 (HE_INVALID for a bad name, HE_IO with
 * "no model named" when absent, HE_FORMAT when malformed). */
int store_manifest_read(const store *s, const char *name, store_manifest *out, he_error *err);
/* Writes manifests/<m->name> crash-safely (temp, fsync, rename, fsync dir), replacing any. */
int store_manifest_write(const store *s, const store_manifest *m, he_error *err);
/* Names of every manifest, sorted; *out is malloc'ed (free each and the array). Entries whose
 * file name is not a valid name are skipped. Returns the count or -1. */
int store_list(const store *s, char ***out, he_error *err);

/* Progress callback: phase ("hashing", "copying", "verifying"), bytes done and total. */
typedef void (*store_progress_fn)(void *ud, const char *phase, uint64_t done, uint64_t total);

#define STORE_TEMPLATE_MAX (1024 * 1024) /* bytes in a chat template override */

typedef struct {
    bool no_link;              /* never hard-link or reflink: always copy */
    const char *template_path; /* a Jinja chat template overriding the GGUF's (UTF-8), or NULL */
    const char *params_path;   /* a JSON object of parameter overrides, or NULL */
    const char *adapters[STORE_MAX_ADAPTERS]; /* LoRA adapter GGUFs */
    int n_adapters;
    store_progress_fn progress; /* may be NULL */
    void *progress_ud;
} store_import_opts;

/* Imports a GGUF file: validates it (gguf_open), hashes it, and unless a valid blob with that
 * digest exists, places it in blobs/ — a reflink (FICLONE) where the file system can, else a hard
 * link when the source is read-only (no write bit: an in-place edit of a linked source would
 * change the blob), else a copy — hashing again what landed there (the two hashes must agree),
 * fsyncs, renames into place and fsyncs blobs/. Adapters, template and params (opts) are
 * validated first and stored the same way; the manifest is written last.
 * name NULL: derived from general.name or the file's basename (store_name_sanitize).
 * name_out (may be NULL) receives the name used. Takes the store lock. */
int store_import(store *s, const char *src, const char *name, const store_import_opts *opts,
                 char *name_out, size_t name_cap, he_error *err);

/* SHA-256 of the blob at digest, compared with the digest (and size when size_expected is not
 * UINT64_MAX). Returns 1 if it matches, 0 if the blob changed (err says how), -1 if it is missing
 * or unreadable. progress may be NULL. */
int store_blob_verify(const store *s, const char *digest, uint64_t size_expected,
                      store_progress_fn progress, void *ud, he_error *err);

/* Copies manifest src to the new name dst (blobs are shared). Fails if dst exists. */
int store_copy(store *s, const char *src, const char *dst, he_error *err);
/* A new model from a stored one (Ollama's create FROM): dst gets src's weights and adapters, and
 * template_text / params_json (NULL: src's own, if any) as blobs written from memory (hashed,
 * crash-safe, 0400). params_json must be a JSON object (<= STORE_MANIFEST_MAX), the template
 * UTF-8 text without NUL (<= STORE_TEMPLATE_MAX). An existing dst is replaced (src == dst is
 * allowed: the model is updated in place); blobs no longer named stay until the next rm. Takes
 * the store lock. */
int store_derive(store *s, const char *src, const char *dst, const char *template_text, const char *params_json,
                 he_error *err);
/* Removes a manifest, then every blob that no remaining manifest references (and stale temporary
 * files of killed imports). n_removed (may be NULL) receives the number of blobs deleted. */
int store_remove(store *s, const char *name, int *n_removed, he_error *err);
/* Writes the model's weights as a plain GGUF file dir/<name with ':' as '-'>.gguf (crash-safe,
 * hash checked while copying; refuses to overwrite). path_out (may be NULL) gets the file. */
int store_export(const store *s, const char *name, const char *dir, char *path_out, size_t cap,
                 store_progress_fn progress, void *ud, he_error *err);

/* For the server and the CLI: an existing regular file path passes through unchanged; otherwise
 * name_or_path must be a store name, resolved to its weights blob path (re-hashed first when
 * verify is true: a changed blob is an error, never served). The store is $HEARTH_HOME's. */
int store_resolve(const char *name_or_path, char *path_out, size_t cap, bool verify, he_error *err);

/* For the server: the blob paths of a store model's LoRA adapters, in manifest order (each
 * re-hashed first when verify). Returns how many (<= cap; 0 when name_or_path is an existing
 * file, or the manifest names none), -1 on error. The store is $HEARTH_HOME's. */
int store_adapter_paths(const char *name_or_path, char (*paths)[STORE_PATH_MAX], int cap,
                        bool verify, he_error *err);

/* For the server: a store model's template and params overrides. When name_or_path is an
 * existing file (not a store name) both outputs are NULL and 0 is returned. Otherwise each blob
 * the manifest names is read whole (template <= STORE_TEMPLATE_MAX, params <= STORE_MANIFEST_MAX)
 * and its SHA-256 checked against the digest before it is returned (a changed blob is an error,
 * never applied). *template_out / *params_out: malloc'd NUL-terminated text, or NULL when the
 * manifest has none. The store is $HEARTH_HOME's. */
int store_overrides(const char *name_or_path, char **template_out, char **params_out, he_error *err);

/* ---- Model summary (from the blob's GGUF metadata) ---- */

typedef struct {
    char arch[64];
    char params[32]; /* "260K", "1.1B" (general.size_label or counted) */
    char quant[32];  /* from general.file_type or the dominant tensor type */
    uint64_t n_params;
    int64_t context_length; /* -1 when absent */
    char license[64];       /* general.license, "" when absent */
} store_info;

/* Reads the summary of a GGUF file; text fields are display-safe (control bytes replaced). */
int store_info_read(const char *gguf_path, store_info *out, he_error *err);

#endif
