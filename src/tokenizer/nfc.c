/* nfc.c — Unicode NFC (canonical decomposition, canonical ordering, canonical composition) for
 * the vocabs whose Hugging Face tokenizer normalizes with NFC before pre-tokenizing (Qwen).
 * llama.cpp skips this step, so "e" + U+0301 differs from "é" there; hearth composes it as
 * Hugging Face does. Text that is only code points below U+0300 is already NFC and is passed
 * through untouched. Invalid UTF-8 bytes are copied as they are and break composition. */
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/alloc.h"
#include "tokenizer/nfc_tables.h"
#include "tokenizer/tok_internal.h"

#define SBASE 0xAC00u
#define LBASE 0x1100u
#define VBASE 0x1161u
#define TBASE 0x11A7u
#define LCOUNT 19u
#define VCOUNT 21u
#define TCOUNT 28u
#define NCOUNT (VCOUNT * TCOUNT)
#define SCOUNT (LCOUNT * NCOUNT)
#define RAW_BYTE 0x80000000u /* marks an invalid input byte kept verbatim (low 8 bits) */

static uint8_t ccc_of(uint32_t cp) {
    size_t lo = 0, hi = tok_nfc_ccc_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < tok_nfc_ccc_tab[mid].cp)
            hi = mid;
        else if (cp > tok_nfc_ccc_tab[mid].cp)
            lo = mid + 1;
        else
            return tok_nfc_ccc_tab[mid].ccc;
    }
    return 0;
}

static const tok_nfc_dec *dec_of(uint32_t cp) {
    size_t lo = 0, hi = tok_nfc_dec_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < tok_nfc_dec_tab[mid].cp)
            hi = mid;
        else if (cp > tok_nfc_dec_tab[mid].cp)
            lo = mid + 1;
        else
            return &tok_nfc_dec_tab[mid];
    }
    return NULL;
}

static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE &&
        b < TBASE + TCOUNT)
        return a + (b - TBASE);
    size_t lo = 0, hi = tok_nfc_comp_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const tok_nfc_comp *c = &tok_nfc_comp_tab[mid];
        if (a < c->a || (a == c->a && b < c->b))
            hi = mid;
        else if (a > c->a || b > c->b)
            lo = mid + 1;
        else
            return c->cp;
    }
    return 0;
}

typedef struct {
    uint32_t *cp;
    size_t n, cap;
} cp_buf;

static int push(cp_buf *b, uint32_t cp) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *p = he_realloc(b->cp, cap * sizeof *p);
        if (!p) return -1;
        b->cp = p;
        b->cap = cap;
    }
    b->cp[b->n++] = cp;
    return 0;
}

/* Full canonical decomposition of cp (decompositions nest at most a few levels deep). */
static int decompose(cp_buf *b, uint32_t cp, int depth) {
    if (cp >= SBASE && cp < SBASE + SCOUNT) {
        uint32_t s = cp - SBASE;
        if (push(b, LBASE + s / NCOUNT) < 0 || push(b, VBASE + (s % NCOUNT) / TCOUNT) < 0)
            return -1;
        return s % TCOUNT ? push(b, TBASE + s % TCOUNT) : 0;
    }
    const tok_nfc_dec *d = depth < 8 ? dec_of(cp) : NULL;
    if (!d) return push(b, cp);
    if (decompose(b, d->a, depth + 1) < 0) return -1;
    return d->b ? decompose(b, d->b, depth + 1) : 0;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp & RAW_BYTE) {
        o[0] = (char)(cp & 0xFF);
        return 1;
    }
    return utf8_encode(cp, o);
}

/* Strictly valid UTF-8 sequence at s[i]: its code point and length; 0 if invalid. */
static size_t decode_one(const unsigned char *s, size_t n, size_t i, uint32_t *cp) {
    unsigned char c = s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t l = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (!l || i + l > n) return 0;
    uint32_t v = l == 2 ? c & 0x1Fu : l == 3 ? c & 0x0Fu : c & 0x07u;
    for (size_t k = 1; k < l; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i + k] & 0x3Fu);
    }
    if ((l == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
        (l == 4 && (v < 0x10000 || v > 0x10FFFF)))
        return 0;
    *cp = v;
    return l;
}

int tok_nfc(const char *text, size_t len, char **out, size_t *out_len, he_error *err) {
    *out = NULL;
    *out_len = 0;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len && s[i] < 0xCC)
        i++;                /* code points below U+0300 (lead bytes up to 0xCB) are NFC already */
    if (i == len) return 0; /* nothing to do: caller uses text as is */

    cp_buf b = {0};
    for (i = 0; i < len;) {
        uint32_t cp;
        size_t l = decode_one(s, len, i, &cp);
        if (!l) {
            if (push(&b, RAW_BYTE | s[i]) < 0) goto nomem;
            i++;
            continue;
        }
        if (decompose(&b, cp, 0) < 0) goto nomem;
        i += l;
    }
    /* canonical ordering: stable insertion sort of each run of non-starters by class */
    for (size_t k = 1; k < b.n; k++) {
        uint8_t c = (b.cp[k] & RAW_BYTE) ? 0 : ccc_of(b.cp[k]);
        if (!c) continue;
        size_t j = k;
        while (j > 0) {
            uint8_t p = (b.cp[j - 1] & RAW_BYTE) ? 0 : ccc_of(b.cp[j - 1]);
            if (p <= c) break;
            uint32_t t = b.cp[j - 1];
            b.cp[j - 1] = b.cp[j];
            b.cp[j] = t;
            j--;
        }
    }
    /* canonical composition */
    size_t n = 0, starter = (size_t)-1;
    uint8_t last = 0;
    for (size_t k = 0; k < b.n; k++) {
        uint32_t cp = b.cp[k];
        uint8_t c = (cp & RAW_BYTE) ? 0 : ccc_of(cp);
        if (starter != (size_t)-1 && !(cp & RAW_BYTE) &&
            (n - 1 == starter || (last != 0 && last < c))) {
            uint32_t m = compose(b.cp[starter], cp);
            if (m) {
                b.cp[starter] = m;
                continue;
            }
        }
        if (c == 0) starter = (cp & RAW_BYTE) ? (size_t)-1 : n;
        last = c;
        b.cp[n++] = cp;
    }
    char *o = he_malloc(n * 4 + 1);
    if (!o) goto nomem;
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        m += put_utf8(o + m, b.cp[k]);
    free(b.cp);
    *out = o;
    *out_len = m;
    return 0;
nomem:
    free(b.cp);
    return he_fail(err, HE_NOMEM, "tokenizer: out of memory normalizing %zu bytes", len);
}
