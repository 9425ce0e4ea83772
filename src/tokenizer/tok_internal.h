/* tok_internal.h — what the tokenizer's files share: the vocab layout, its hash tables, the
 * growable id list, and the per-algorithm encoders. Not for use outside src/tokenizer/. */
#ifndef HEARTH_TOK_INTERNAL_H
#define HEARTH_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

typedef enum { TOK_MODEL_NONE, TOK_MODEL_SPM, TOK_MODEL_BPE, TOK_MODEL_WPM } tok_model;

/* A borrowed byte span (not NUL-terminated). */
typedef struct {
    const char *p;
    size_t n;
} tok_span;

/* Open-addressing hash table of int32 values, keyed by something the owner can compare
 * (token text or merge pair); -1 marks an empty slot. */
typedef struct {
    int32_t *slot;
    size_t mask; /* capacity - 1 (capacity is a power of two) */
} tok_hash;

/* Special texts longer than this are not matched inside input text (real ones are short; the
 * cap bounds the work per input position against hostile vocabs). */
#define TOK_SPECIAL_MAX_LEN 256

typedef struct {
    int32_t any;  /* lowest special id whose text ends here, or -1 */
    int32_t user; /* lowest user-defined id whose text ends here, or -1 */
    int32_t parent;
    uint8_t byte; /* edge from parent */
} tok_trie_node;

struct tok_vocab {
    tok_model model;
    int pre;          /* index into the pre-tokenizer table (pretok.c) */
    int32_t n;        /* n_vocab */
    char *arena;      /* all token texts, each NUL-terminated */
    size_t *off;      /* (n) offset of token i's text in arena */
    uint32_t *len;    /* (n) its length in bytes */
    float *score;     /* (n) */
    uint8_t *attr;    /* (n) TOK_ATTR_* */
    tok_hash by_text; /* text -> id (the last id wins for duplicate texts, as in llama.cpp) */

    /* BPE merges: pair (left text, right text) -> rank (the first listing wins). */
    size_t n_merges;
    char *merge_arena;     /* "left right" strings, each NUL-terminated */
    size_t *merge_off;     /* (n_merges) */
    uint32_t *merge_split; /* (n_merges) length of the left part */
    uint32_t *merge_len;   /* (n_merges) total length */
    tok_hash merges;

    int32_t byte_tok[256]; /* SPM byte fallback <0xXX> ids (-1 if absent); BPE: single-char ids */
    int32_t special_bos, special_eos, special_unk, special_pad, special_eot, special_eom;
    bool add_bos, add_eos, add_space_prefix;
    bool ignore_merges; /* a pre-tokenized word that is itself a token is taken whole (Llama 3) */

    /* Texts matched inside input: control/unknown (only with parse_special) and user-defined
     * (always), in a byte trie so the leftmost-longest match at a position costs at most
     * TOK_SPECIAL_MAX_LEN steps whatever the number of special tokens. Node 0 is the root. */
    tok_trie_node *trie;
    size_t n_trie;
    tok_hash trie_edges; /* (node, byte) -> child node */
    size_t n_special;    /* special tokens in the trie */

    bool *eog; /* (n) end-of-generation ids */
};

/* ---- Building (vocab.c): the loader and tok_vocab_new both describe the vocab with borrowed
 * spans and let this copy and check it ---- */
typedef struct {
    tok_model model;
    int pre;
    int32_t n;
    const tok_span *tokens; /* (n) */
    const float *scores;    /* (n) or NULL */
    const uint8_t *attr;    /* (n) or NULL; values already checked to be TOK_ATTR_* */
    size_t n_merges;
    const tok_span *merges;                 /* (n_merges) */
    int64_t bos, eos, unk, pad, eot, eom;   /* -1 none; range-checked by the builder */
    int add_bos, add_eos, add_space_prefix; /* -1 = default */
} tok_build;

tok_vocab *tok_vocab_build(const tok_build *b, he_error *err);
int tok_model_lookup(const char *name, size_t len); /* tok_model, or -1 */

/* ---- Hashing ---- */
uint64_t tok_hash_bytes(const void *p, size_t n, uint64_t seed);

/* ---- Growable output ---- */
typedef struct {
    int32_t *ids;
    size_t n, cap;
    int failed; /* an allocation failed; the list is then frozen */
} tok_ids;

int tok_ids_push(tok_ids *o, int32_t id); /* 0, or -1 when out of memory */

/* ---- Pre-tokenizers (pretok.c) ---- */
int tok_pre_lookup(const char *name, size_t len); /* table index, or -1 when unknown */
const char *tok_pre_name_at(int pre);
bool tok_pre_ignore_merges(int pre);
bool tok_pre_add_bos(int pre);
bool tok_pre_nfc(int pre); /* the Hugging Face tokenizer NFC-normalizes text first (Qwen) */

/* ---- NFC (nfc.c) ----
 * Normalizes text[0, len). When the text is already NFC by a quick check, *out stays NULL and
 * the caller uses text as is; otherwise *out is malloc'd (caller frees). */
int tok_nfc(const char *text, size_t len, char **out, size_t *out_len, he_error *err);

/* Splits text into pieces with the regex list of pre, calling fn(piece) in order.
 * The pieces cover text exactly (what the regexes do not match is a piece too). */
typedef int (*tok_piece_fn)(void *ctx, const char *p, size_t n);
int tok_pre_split(int pre, const char *text, size_t len, tok_piece_fn fn, void *ctx, he_error *err);

/* ---- GPT-2 byte-level map (bpe.c) ---- */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp); /* -1 when cp stands for no byte */

/* ---- The merge engine shared by SPM and BPE (merge.c) ----
 * Symbols form a linked list over one string; neighbouring pairs are merged best-first
 * (highest key, then leftmost) until no pair has a key. A merged-away symbol has n = 0. */
typedef struct {
    int32_t prev, next; /* -1 at the ends */
    uint32_t off, n;    /* span of the string */
} tok_sym;

/* Returns true and sets *key when the pair (l, r) may merge. */
typedef bool (*tok_pair_fn)(const void *ctx, const char *l, size_t ln, const char *r, size_t rn,
                            double *key);
int tok_merge_run(const char *s, tok_sym *sym, int32_t n_sym, tok_pair_fn pair, const void *ctx,
                  he_error *err);

/* ---- Encoders: append the tokens of one raw-text fragment ---- */
/* prefix: put a "▁" first (add_space_prefix at the start of text or after a special token) */
int tok_spm_encode(const tok_vocab *v, const char *text, size_t len, bool prefix, tok_ids *out,
                   he_error *err);
int tok_bpe_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, he_error *err);
int tok_wpm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, he_error *err);

/* token lookup by exact text; -1 when absent */
int32_t tok_lookup(const tok_vocab *v, const char *p, size_t n);
/* merge rank of (left, right); -1 when the pair is not a merge */
int32_t tok_merge_rank(const tok_vocab *v, const char *l, size_t ln, const char *r, size_t rn);
/* trie child of node for byte b; -1 when absent */
int32_t tok_trie_child(const tok_vocab *v, int32_t node, uint8_t b);

static inline const char *tok_str(const tok_vocab *v, int32_t id) { return v->arena + v->off[id]; }

/* UTF-8 sequence length announced by lead byte c (1 for invalid leads). */
static inline size_t tok_utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

#endif
