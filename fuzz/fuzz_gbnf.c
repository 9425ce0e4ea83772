/* fuzz_gbnf.c — libFuzzer target over the GBNF parser and the matcher.
 * Input: grammar text, then optionally a NUL byte and bytes to feed the matcher. A grammar that
 * parses is driven with those bytes (in pieces of 1..3, as tokens would split them), its mask
 * computed over a small byte-piece vocab at each step, and the matcher reset and re-fed. Limits
 * in the engine keep every input fast and small. The vocab has a special token "<m>" (what a
 * marker @"<m>" names), tried with gram_matcher_accept at each step. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static gram_vocab *v;
    if (!v) { /* single bytes, a few multi-byte pieces, and an EOG token */
        static char bytes[256];
        const char *piece[263];
        size_t len[263];
        uint8_t kind[263];
        for (int i = 0; i < 256; i++) {
            bytes[i] = (char)i;
            piece[i] = &bytes[i];
            len[i] = 1;
            kind[i] = GRAM_TOKEN_TEXT;
        }
        const char *extra[5] = {"ab", "\"}", "\xc3\xa9", "{\"", "true"};
        for (int i = 0; i < 5; i++) {
            piece[256 + i] = extra[i];
            len[256 + i] = strlen(extra[i]);
            kind[256 + i] = GRAM_TOKEN_TEXT;
        }
        piece[261] = "";
        len[261] = 0;
        kind[261] = GRAM_TOKEN_EOG;
        piece[262] = "<m>";
        len[262] = 3;
        kind[262] = GRAM_TOKEN_SPECIAL;
        v = gram_vocab_new(263, piece, len, kind, NULL);
    }
    if (size > 16 * 1024) return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    he_error err;
    gram_grammar *g = gram_parse((const char *)data, glen, NULL, &err);
    if (!g) return 0;
    gram_matcher *m = gram_matcher_new(g, v, &err);
    if (m) {
        float logits[263];
        const uint8_t *in = nul ? nul + 1 : NULL;
        size_t n = nul ? size - glen - 1 : 0;
        for (int pass = 0; pass < 2; pass++) {
            size_t i = 0;
            int steps = 0;
            while (i < n && steps++ < 64) {
                size_t k = 1 + (in[i] % 3);
                if (k > n - i) k = n - i;
                if (steps % 8 == 1) gram_matcher_mask(m, logits);
                if (gram_matcher_allows(m, 262)) { /* the marker's special token */
                    if (gram_matcher_accept(m, 262, NULL)) abort(); /* allowed, so accepted */
                    continue;
                }
                if (gram_matcher_accept_bytes(m, (const char *)in + i, k, NULL)) {
                    /* refused: try one byte instead (the matcher must be unchanged) */
                    if (gram_matcher_accept_bytes(m, (const char *)in + i, 1, NULL)) break;
                    k = 1;
                }
                i += k;
            }
            gram_matcher_mask(m, logits);
            (void)gram_matcher_can_end(m);
            (void)gram_matcher_must_end(m);
            gram_matcher_reset(m);
        }
        gram_matcher_free(m);
    }
    gram_free(g);
    return 0;
}
