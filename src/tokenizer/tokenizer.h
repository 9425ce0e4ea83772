/* tokenizer.h — text <-> token ids for the vocabularies GGUF files carry.
 *
 * tokenizer.ggml.model = "llama": SentencePiece-style (scores, byte fallback <0xXX>, '▁' for
 * space); "gpt2": byte-level BPE (merges) with the pre-tokenizer regexes named by
 * tokenizer.ggml.pre (PCRE2). Special/control tokens are matched inside text only when asked
 * (parse_special). A vocab copies what it needs from the GGUF: the file may be closed after
 * loading. */
#ifndef HEARTH_TOKENIZER_H
#define HEARTH_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"

typedef struct tok_vocab tok_vocab;

/* ---- Loading ---- */

/* Reads the tokenizer.ggml.* keys of f (tensors are not touched: vocab-only files work).
 * Every array is checked for element type and length, every special id for range
 * (-1 / 0xFFFFFFFF mean "none"), every byte token's <0xXX> spelling; problems give NULL
 * with err naming the key and index. Missing add_bos/add_eos/add_space_prefix get the
 * defaults llama.cpp uses for the model and pre-tokenizer. */
tok_vocab *tok_vocab_load(const gguf_file *f, he_error *err);
void tok_vocab_free(tok_vocab *v); /* NULL is a no-op */

/* token_type values, as GGUF stores them */
enum {
    TOK_ATTR_UNDEFINED = 0,
    TOK_ATTR_NORMAL = 1,
    TOK_ATTR_UNKNOWN = 2,
    TOK_ATTR_CONTROL = 3,
    TOK_ATTR_USER_DEFINED = 4,
    TOK_ATTR_UNUSED = 5,
    TOK_ATTR_BYTE = 6
};

/* An in-memory vocab description (tests, fuzzing, tools): the same checks as tok_vocab_load.
 * Everything is copied; the description may be freed afterwards. */
typedef struct {
    const char *model; /* "llama" | "gpt2" | "bert" | "none" */
    const char *pre;   /* tokenizer.ggml.pre; NULL = "default" */
    int32_t n_vocab;
    const char *const *tokens; /* n_vocab NUL-terminated strings */
    const float *scores;       /* n_vocab, or NULL (all 0) */
    const int32_t *types;      /* n_vocab TOK_ATTR_*, or NULL (all normal) */
    int32_t n_merges;
    const char *const *merges;              /* "left right", n_merges of them (gpt2) */
    int64_t bos, eos, unk, pad, eot, eom;   /* -1 = none */
    int add_bos, add_eos, add_space_prefix; /* 0/1, or -1 = the model's default */
} tok_vocab_desc;

tok_vocab *tok_vocab_new(const tok_vocab_desc *d, he_error *err);

int32_t tok_n_vocab(const tok_vocab *v);
int32_t tok_bos(const tok_vocab *v);             /* -1 when the vocab has none */
int32_t tok_eos(const tok_vocab *v);             /* -1 when the vocab has none */
bool tok_is_eog(const tok_vocab *v, int32_t id); /* end of generation: eos, eot, eom, ... */
bool tok_is_control(const tok_vocab *v, int32_t id);
bool tok_add_bos(const tok_vocab *v); /* tokenizer.ggml.add_bos_token (or the model's default) */
bool tok_add_eos(const tok_vocab *v);
const char *tok_text(const tok_vocab *v,
                     int32_t id);             /* the vocab entry as stored; NULL if out of range */
int tok_attr(const tok_vocab *v, int32_t id); /* TOK_ATTR_*; -1 if out of range */
int32_t tok_find(const tok_vocab *v, const char *text, size_t len); /* exact entry, or -1 */
const char *tok_model_name(const tok_vocab *v); /* "llama", "gpt2", "bert", "none" */
const char *tok_pre_name(const tok_vocab *v);   /* canonical name of the pre-tokenizer in use */

/* Encodes text[0, len) (any bytes; invalid UTF-8 is handled, never read past len).
 * add_special: prepend BOS / append EOS as the metadata says. parse_special: match
 * special/control tokens' text inside text. *out is malloc'd (caller frees). */
int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t **out, size_t *n_out, he_error *err);

/* A byte range [start, end) of a text. */
typedef struct {
    size_t start, end;
} tok_range;

/* tok_encode for a text whose `plain` ranges are user data (a rendered chat prompt: message
 * contents, tool arguments): a control/unknown token is matched only when parse_special is
 * set and its whole text lies outside every plain range, so only the template's own bytes
 * become control tokens. User-defined tokens are matched everywhere, as tok_encode does
 * without parse_special. The text is cut only at the special tokens taken, so a text without
 * special-token texts in its plain ranges gives exactly tok_encode's ids. plain: n_plain
 * sorted, disjoint ranges inside [0, len) (checked: HE_INVALID otherwise); NULL/0 = none. */
int tok_encode_spans(const tok_vocab *v, const char *text, size_t len, const tok_range *plain,
                     size_t n_plain, bool add_special, bool parse_special, int32_t **out,
                     size_t *n_out, he_error *err);

/* The bytes token id stands for (byte-level and byte-fallback decoded; '▁' -> ' '). Control
 * tokens give their text only when render_special. Writes at most cap bytes to buf and returns
 * the full length (like snprintf, without NUL); returns 0 for an out-of-range id. */
size_t tok_token_bytes(const tok_vocab *v, int32_t id, bool render_special, char *buf, size_t cap);

/* Streaming detokenizer: feeds tokens one at a time, hands out only complete UTF-8 sequences
 * (bytes of a character split across tokens are held until complete). */
typedef struct {
    char pending[8];
    int n_pending;
    int n_tokens; /* tokens pushed so far (a leading-space rule may apply to the first) */
} tok_detok;

void tok_detok_init(tok_detok *d);
/* Writes the complete UTF-8 characters that id finishes to out (capacity cap) and returns the
 * bytes written; bytes of an unfinished character are held for the next push. Out-of-range ids
 * add nothing; invalid sequences come out as U+FFFD. With cap >= TOK_DETOK_MAX nothing is lost
 * unless one vocab entry is longer than ~1000 bytes (the excess is dropped). */
#define TOK_DETOK_MAX 1024
size_t tok_detok_push(tok_detok *d, const tok_vocab *v, int32_t id, bool render_special, char *out,
                      size_t cap);
/* Flushes held bytes at the end (an incomplete sequence is emitted as U+FFFD). */
size_t tok_detok_flush(tok_detok *d, char *out, size_t cap);

#endif
