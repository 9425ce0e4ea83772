/* detok.c — token ids back to bytes. Byte-level BPE entries are mapped back through GPT-2's
 * character->byte table, SentencePiece entries turn "▁" into a space, byte tokens <0xXX> give
 * their byte. No leading space is dropped: a continuation prints exactly as generated.
 * The streaming detokenizer holds the bytes of a character split across tokens until it is
 * complete, so every chunk it hands out is valid UTF-8 (broken sequences become U+FFFD). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/tok_internal.h"

typedef struct {
    char *buf;
    size_t cap, n; /* n counts every byte, written or not */
} sink;

static void put(sink *s, const char *p, size_t n) {
    if (s->n < s->cap) {
        size_t k = s->cap - s->n < n ? s->cap - s->n : n;
        memcpy(s->buf + s->n, p, k);
    }
    s->n += n;
}

/* Decodes one UTF-8 character at p (n bytes available); returns its length (0 if invalid). */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp) {
    size_t l = tok_utf8_len(p[0]);
    if (p[0] >= 0x80 && l == 1) return 0;
    if (l > n) return 0;
    uint32_t c = l == 1 ? p[0] : l == 2 ? p[0] & 0x1Fu : l == 3 ? p[0] & 0x0Fu : p[0] & 0x07u;
    for (size_t k = 1; k < l; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (p[k] & 0x3Fu);
    }
    *cp = c;
    return l;
}

static int hexdigit(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

size_t tok_token_bytes(const tok_vocab *v, int32_t id, bool render_special, char *buf, size_t cap) {
    if (id < 0 || id >= v->n) return 0;
    sink s = {buf, cap, 0};
    const char *t = tok_str(v, id);
    size_t n = v->len[id];
    switch (v->attr[id]) {
    case TOK_ATTR_CONTROL:
    case TOK_ATTR_UNKNOWN:
        if (render_special) put(&s, t, n);
        return s.n;
    case TOK_ATTR_UNUSED:
        return 0;
    case TOK_ATTR_USER_DEFINED:
        put(&s, t, n);
        return s.n;
    case TOK_ATTR_BYTE: { /* the builder checked the text is <0xXX> */
        char c = (char)(hexdigit(t[3]) << 4 | hexdigit(t[4]));
        put(&s, &c, 1);
        return s.n;
    }
    default:
        break;
    }
    if (v->model == TOK_MODEL_BPE) {
        const unsigned char *p = (const unsigned char *)t;
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t l = utf8_decode(p + i, n - i, &cp);
            int b = l ? tok_cp_to_byte(cp) : -1;
            if (b >= 0) {
                char c = (char)b;
                put(&s, &c, 1);
            } else { /* not a byte-level character: keep it as written */
                if (!l) l = 1;
                put(&s, t + i, l);
            }
            i += l;
        }
        return s.n;
    }
    if (v->model == TOK_MODEL_NONE) {
        put(&s, t, n);
        return s.n;
    }
    /* SPM and WPM: "▁" stands for a space */
    size_t last = 0;
    for (size_t i = 0; i + 3 <= n;) {
        if (memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
            put(&s, t + last, i - last);
            put(&s, " ", 1);
            i += 3;
            last = i;
        } else {
            i++;
        }
    }
    put(&s, t + last, n - last);
    return s.n;
}

/* ---- Streaming ---- */

void tok_detok_init(tok_detok *d) { memset(d, 0, sizeof *d); }

static const char replacement[] = "\xef\xbf\xbd";

/* How many bytes the character starting at p needs, or 0 when p[0..n) can never start a valid
 * character (so it is replaced rather than held). */
static size_t seq_need(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t need;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4;
    else
        return 0;
    if (n >= 2) {
        unsigned char d = p[1];
        if ((d & 0xC0) != 0x80) return 0;
        if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) ||
            (c == 0xF4 && d > 0x8F))
            return 0;
    }
    for (size_t k = 2; k < n && k < need; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    return need;
}

/* Emits the complete characters of b[0, m), keeps an incomplete tail in d->pending. */
static void emit_utf8(tok_detok *d, const unsigned char *b, size_t m, sink *s) {
    size_t i = 0;
    while (i < m) {
        size_t need = seq_need(b + i, m - i);
        if (need == 0) {
            put(s, replacement, 3);
            i++;
        } else if (i + need > m) {
            d->n_pending = (int)(m - i);
            memcpy(d->pending, b + i, m - i);
            return;
        } else {
            put(s, (const char *)b + i, need);
            i += need;
        }
    }
    d->n_pending = 0;
}

size_t tok_detok_push(tok_detok *d, const tok_vocab *v, int32_t id, bool render_special, char *out,
                      size_t cap) {
    char stack[TOK_DETOK_MAX + 8];
    char *b = stack;
    size_t held = (size_t)d->n_pending;
    memcpy(b, d->pending, held);
    size_t n = tok_token_bytes(v, id, render_special, b + held, TOK_DETOK_MAX);
    if (n > TOK_DETOK_MAX) { /* a very long entry: decode it into the heap */
        b = xmalloc(held + n);
        memcpy(b, d->pending, held);
        tok_token_bytes(v, id, render_special, b + held, n);
    }
    d->n_tokens++;
    sink s = {out, cap, 0};
    emit_utf8(d, (const unsigned char *)b, held + n, &s);
    if (b != stack) free(b);
    return s.n < cap ? s.n : cap;
}

size_t tok_detok_flush(tok_detok *d, char *out, size_t cap) {
    sink s = {out, cap, 0};
    if (d->n_pending > 0) put(&s, replacement, 3);
    d->n_pending = 0;
    return s.n < cap ? s.n : cap;
}
