/* pretok_none.c — stands in for src/tokenizer/pretok.c in the cross-built test binaries only
 * (make test-cross): the aarch64 cross build has no arm64 PCRE2, which the BPE pre-tokenizers
 * need. Every pre-tokenizer name is unknown here, so a BPE vocab fails to load with the
 * tokenizer's own "unknown pre-tokenizer" error; SPM vocabs (stories260K) need none. Never part
 * of libhearth or the hearth binary. */
#include "tokenizer/tok_internal.h"

int tok_pre_lookup(const char *name, size_t len) {
    (void)name;
    (void)len;
    return -1;
}

const char *tok_pre_name_at(int pre) {
    (void)pre;
    return "default";
}

bool tok_pre_ignore_merges(int pre) {
    (void)pre;
    return false;
}

bool tok_pre_add_bos(int pre) {
    (void)pre;
    return false;
}

bool tok_pre_nfc(int pre) {
    (void)pre;
    return false;
}

int tok_pre_split(int pre, const char *text, size_t len, tok_piece_fn fn, void *ctx,
                  he_error *err) {
    (void)pre;
    (void)text;
    (void)len;
    (void)fn;
    (void)ctx;
    he_fail(err, HE_UNSUPPORTED, "tokenizer: no pre-tokenizers in this cross-test build");
    return -1;
}
