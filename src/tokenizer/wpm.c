/* wpm.c — WordPiece (tokenizer.ggml.model = "bert"). Not implemented yet: BERT's basic
 * tokenizer needs Unicode NFD normalisation and lower-casing tables hearth does not carry.
 * Encoding with such a vocab fails with HE_UNSUPPORTED instead of producing wrong ids. */
#include "tokenizer/tok_internal.h"

int tok_wpm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, he_error *err) {
    (void)v;
    (void)text;
    (void)out;
    return he_fail(err, HE_UNSUPPORTED, "tokenizer: WordPiece (bert) encoding of %zu bytes is not supported yet", len);
}
