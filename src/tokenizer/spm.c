/* spm.c — SentencePiece-style encoding (tokenizer.ggml.model = "llama"): spaces become "▁"
 * (U+2581), the text is cut into UTF-8 characters, and neighbouring symbols merge best-score
 * first as long as the merged text is a vocab entry. A symbol left without an entry is spelled
 * with byte-fallback tokens <0xXX> (or <unk> when the vocab has no byte tokens). Invalid UTF-8
 * bytes become single-byte symbols, so they are byte-encoded too and survive a round trip. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/tok_internal.h"

/* Only ordinary entries may be formed from raw text: "<s>" or "<0x41>" typed by a user must
 * not become the control or byte token (SentencePiece never produces those from text). */
static int32_t text_token(const tok_vocab *v, const char *p, size_t n) {
    int32_t id = tok_lookup(v, p, n);
    if (id >= 0 && v->attr[id] != TOK_ATTR_NORMAL && v->attr[id] != TOK_ATTR_USER_DEFINED &&
        v->attr[id] != TOK_ATTR_UNDEFINED)
        return -1;
    return id;
}

static bool spm_pair(const void *ctx, const char *l, size_t ln, const char *r, size_t rn,
                     double *key) {
    const tok_vocab *v = ctx;
    (void)r; /* l and r are adjacent in the same string */
    int32_t id = text_token(v, l, ln + rn);
    if (id < 0) return false;
    *key = (double)v->score[id];
    return true;
}

int tok_spm_encode(const tok_vocab *v, const char *text, size_t len, bool prefix, tok_ids *out,
                   he_error *err) {
    /* escaped text: at most 3 bytes per input byte, plus the prefix */
    size_t cap;
    if (he_mul_overflow(len, 3, &cap) || he_add_overflow(cap, 4, &cap))
        return he_fail(err, HE_LIMIT, "tokenizer: text too long");
    char *s = he_malloc(cap);
    tok_sym *sym = he_malloc((len + 2) * sizeof *sym);
    int rc = -1;
    if (!s || !sym) goto nomem;
    size_t n = 0;
    if (prefix) {
        memcpy(s, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            s[n++] = text[i];
        }
    }
    /* symbols: one per UTF-8 character (a truncated or invalid sequence: one per byte) */
    int32_t n_sym = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_len((unsigned char)s[i]);
        if (cl > n - i) cl = 1;
        for (size_t k = 1; k < cl; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80) cl = 1;
        sym[n_sym] = (tok_sym){n_sym - 1, n_sym + 1, (uint32_t)i, (uint32_t)cl};
        n_sym++;
        i += cl;
    }
    if (n_sym) sym[n_sym - 1].next = -1;
    if (tok_merge_run(s, sym, n_sym, spm_pair, v, err) < 0) goto out;
    for (int32_t i = 0; i >= 0 && i < n_sym; i = sym[i].next) {
        const char *p = s + sym[i].off;
        int32_t id = text_token(v, p, sym[i].n);
        if (id >= 0) {
            if (tok_ids_push(out, id) < 0) goto nomem;
            continue;
        }
        bool have_bytes = true;
        for (uint32_t k = 0; k < sym[i].n; k++)
            if (v->byte_tok[(unsigned char)p[k]] < 0) have_bytes = false;
        if (have_bytes) {
            for (uint32_t k = 0; k < sym[i].n; k++)
                if (tok_ids_push(out, v->byte_tok[(unsigned char)p[k]]) < 0) goto nomem;
        } else if (v->special_unk >= 0) {
            if (tok_ids_push(out, v->special_unk) < 0) goto nomem;
        }
    }
    rc = 0;
    goto out;
nomem:
    he_fail(err, HE_NOMEM, "tokenizer: out of memory encoding %zu bytes", len);
out:
    free(s);
    free(sym);
    return rc;
}
