/* bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2"): the pre-tokenizer cuts text into
 * words, each byte of a word is spelled as one printable character (GPT-2's bytes_to_unicode
 * map), and neighbouring symbols merge lowest merge rank first. With ignore_merges (Llama 3) a
 * word that is already a vocab entry is taken whole, as Hugging Face does. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/tok_internal.h"

/* ---- GPT-2 byte <-> character map ---- */

/* Printable Latin-1 bytes stand for themselves; the other 68 take 256, 257, ... in order. */
uint32_t tok_byte_to_cp(uint8_t b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256u + b;
    if (b <= 160) return (uint32_t)b + 162u; /* 127..160 -> 289..322 */
    return 323;                              /* 173 */
}

int tok_cp_to_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255))
        return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 162);
    if (cp == 323) return 173;
    return -1;
}

/* ---- Encoding ---- */

typedef struct {
    const tok_vocab *v;
    tok_ids *out;
    he_error *err;
    char *buf; /* the byte-encoded word */
    tok_sym *sym;
    size_t cap; /* bytes of the input word buf and sym can hold */
} bpe_ctx;

static bool bpe_pair(const void *ctx, const char *l, size_t ln, const char *r, size_t rn,
                     double *key) {
    int32_t rank = tok_merge_rank(ctx, l, ln, r, rn);
    if (rank < 0) return false;
    *key = -(double)rank;
    return true;
}

static int bpe_word(void *vctx, const char *p, size_t n) {
    bpe_ctx *c = vctx;
    const tok_vocab *v = c->v;
    if (n > c->cap) {
        size_t cap = n * 2;
        char *buf = he_realloc(c->buf, cap * 2);
        if (!buf) goto nomem;
        c->buf = buf;
        tok_sym *sym = he_realloc(c->sym, cap * sizeof *sym);
        if (!sym) goto nomem;
        c->sym = sym;
        c->cap = cap;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = tok_byte_to_cp((uint8_t)p[i]);
        c->sym[i] = (tok_sym){(int32_t)i - 1, (int32_t)i + 1, (uint32_t)m, cp < 0x80 ? 1u : 2u};
        if (cp < 0x80) {
            c->buf[m++] = (char)cp;
        } else {
            c->buf[m++] = (char)(0xC0 | (cp >> 6));
            c->buf[m++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    if (n == 0) return 0;
    c->sym[n - 1].next = -1;
    if (v->ignore_merges) {
        int32_t id = tok_lookup(v, c->buf, m);
        if (id >= 0) {
            if (tok_ids_push(c->out, id) < 0) goto nomem;
            return 0;
        }
    }
    if (tok_merge_run(c->buf, c->sym, (int32_t)n, bpe_pair, v, c->err) < 0) return -1;
    for (int32_t i = 0; i >= 0; i = c->sym[i].next) {
        const char *s = c->buf + c->sym[i].off;
        int32_t id = tok_lookup(v, s, c->sym[i].n);
        if (id >= 0) {
            if (tok_ids_push(c->out, id) < 0) goto nomem;
            continue;
        }
        /* No entry for the merged text (a vocab with merges it cannot spell): fall back to
         * one token per byte character, or <unk>. */
        for (uint32_t k = 0; k < c->sym[i].n;) {
            size_t cl = tok_utf8_len((unsigned char)s[k]);
            int32_t b = tok_lookup(v, s + k, cl);
            if (b < 0) b = v->special_unk;
            if (b >= 0 && tok_ids_push(c->out, b) < 0) goto nomem;
            k += (uint32_t)cl;
        }
    }
    return 0;
nomem:
    return he_fail(c->err, HE_NOMEM, "tokenizer: out of memory encoding a %zu-byte word", n);
}

int tok_bpe_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, he_error *err) {
    bpe_ctx c = {.v = v, .out = out, .err = err};
    int rc = tok_pre_split(v->pre, text, len, bpe_word, &c, err);
    free(c.buf);
    free(c.sym);
    return rc;
}
