/* tokenizer.h — text <-> token ids for the vocabularies GGUF files carry.
 *
 * tokenizer.ggml.model = "llama": SentencePiece-style (scores, byte fallback <0xXX>, '▁' for space);
 * "gpt2": byte-level BPE (merges) with the pre-tokenizer regexes named by tokenizer.ggml.pre
 * (PCRE2). Special/control tokens are matched inside text only when asked (parse_special).
 * A vocab copies what it needs from the GGUF: the file may be closed after loading. */
#ifndef HEARTH_TOKENIZER_H
#define HEARTH_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"

typedef struct tok_vocab tok_vocab;

tok_vocab *tok_vocab_load(const gguf_file *f, he_error *err);
void tok_vocab_free(tok_vocab *v);

int32_t tok_n_vocab(const tok_vocab *v);
int32_t tok_bos(const tok_vocab *v); /* -1 when the vocab has none */
int32_t tok_eos(const tok_vocab *v); /* -1 when the vocab has none */
bool tok_is_eog(const tok_vocab *v, int32_t id); /* end of generation: eos, eot, eom, ... */
bool tok_is_control(const tok_vocab *v, int32_t id);
bool tok_add_bos(const tok_vocab *v); /* tokenizer.ggml.add_bos_token (or the model's default) */
bool tok_add_eos(const tok_vocab *v);
const char *tok_text(const tok_vocab *v, int32_t id); /* the vocab entry as stored; NULL if out of range */

/* Encodes text[0, len) (any bytes; invalid UTF-8 is handled, never read past len).
 * add_special: prepend BOS / append EOS as the metadata says. parse_special: match
 * special/control tokens' text inside text. *out is malloc'd (caller frees). */
int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
               int32_t **out, size_t *n_out, he_error *err);

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
/* Appends the text of id to out (capacity cap); returns bytes written. cap >= 64 is always
 * enough for one token's complete characters plus held bytes... callers pass a buffer of
 * at least TOK_DETOK_MAX bytes. */
#define TOK_DETOK_MAX 1024
size_t tok_detok_push(tok_detok *d, const tok_vocab *v, int32_t id, bool render_special, char *out, size_t cap);
/* Flushes held bytes at the end (an incomplete sequence is emitted as U+FFFD). */
size_t tok_detok_flush(tok_detok *d, char *out, size_t cap);

#endif
