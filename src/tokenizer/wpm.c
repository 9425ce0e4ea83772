/* wpm.c — WordPiece (tokenizer.ggml.model = "bert"), as BERT's uncased tokenizers do it:
 * control characters are dropped, accents stripped (NFD without nonspacing marks) and text
 * lower-cased; words are split at whitespace, and every punctuation mark and CJK ideograph is a
 * word of its own. Each word is then covered greedily by the longest vocab entries: the first
 * piece spelled with a leading "▁" (how GGUF stores BERT's word-initial pieces), the rest as
 * stored (BERT's "##" continuations). A word that cannot be covered, or is longer than 100
 * characters, becomes [UNK]. The Unicode facts come from wpm_tables.c (generated). */
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/alloc.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/wpm_tables.h"

#define WPM_MAX_WORD_CHARS 100

static bool in_ranges(const tok_cp_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

static const tok_cp_fold *find_fold(uint32_t cp) {
    size_t lo = 0, hi = tok_wpm_fold_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < tok_wpm_fold[mid].cp)
            hi = mid;
        else if (cp > tok_wpm_fold[mid].cp)
            lo = mid + 1;
        else
            return &tok_wpm_fold[mid];
    }
    return NULL;
}

static bool is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* Next code point of s[*i, n); invalid UTF-8 gives U+FFFD (which the normalizer drops). */
static uint32_t next_cp(const unsigned char *s, size_t n, size_t *i) {
    unsigned char c = s[*i];
    size_t l = tok_utf8_len(c);
    if ((c >= 0x80 && l == 1) || *i + l > n) {
        (*i)++;
        return 0xFFFD;
    }
    uint32_t cp = l == 1 ? c : l == 2 ? c & 0x1Fu : l == 3 ? c & 0x0Fu : c & 0x07u;
    for (size_t k = 1; k < l; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) {
            (*i)++;
            return 0xFFFD;
        }
        cp = cp << 6 | (s[*i + k] & 0x3Fu);
    }
    *i += l;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
    return cp;
}

static size_t put_utf8(char *o, uint32_t cp) { return utf8_encode(cp, o); }

/* ---- WordPiece over one word ---- */

typedef struct {
    const tok_vocab *v;
    tok_ids *out;
    char *word;     /* "▁" + the word's UTF-8 */
    size_t n;       /* bytes in word, the "▁" included */
    size_t n_chars; /* characters, the "▁" not included */
    size_t cap;
} wpm_state;

static int flush_word(wpm_state *w) {
    if (w->n_chars == 0) return 0;
    const tok_vocab *v = w->v;
    size_t start_ids = w->out->n;
    bool ok = w->n_chars <= WPM_MAX_WORD_CHARS;
    /* greedy longest match; the first piece includes the "▁" */
    for (size_t pos = 0; ok && pos < w->n;) {
        size_t end = w->n;
        int32_t id = -1;
        while (end > pos) {
            id = tok_lookup(v, w->word + pos, end - pos);
            if (id >= 0 && (pos > 0 || end > 3)) break; /* never "▁" alone */
            id = -1;
            do
                end--; /* back up one character */
            while (end > pos && ((unsigned char)w->word[end] & 0xC0) == 0x80);
        }
        if (id < 0)
            ok = false;
        else if (tok_ids_push(w->out, id) < 0)
            return -1;
        pos = end;
    }
    if (!ok) {
        w->out->n = start_ids;
        if (v->special_unk >= 0 && tok_ids_push(w->out, v->special_unk) < 0) return -1;
    }
    w->n = 3;
    w->n_chars = 0;
    return 0;
}

static int add_char(wpm_state *w, uint32_t cp) {
    if (w->n + 4 > w->cap) {
        size_t cap = w->cap * 2;
        char *b = he_realloc(w->word, cap);
        if (!b) return -1;
        w->word = b;
        w->cap = cap;
    }
    w->n += put_utf8(w->word + w->n, cp);
    w->n_chars++;
    return 0;
}

/* One normalized code point: a separator, a word of its own, or part of the current word. */
static int feed(wpm_state *w, uint32_t cp) {
    if (in_ranges(tok_wpm_space, tok_wpm_space_n, cp)) return flush_word(w);
    if (in_ranges(tok_wpm_punct, tok_wpm_punct_n, cp) || is_cjk(cp)) {
        if (flush_word(w) < 0 || add_char(w, cp) < 0) return -1;
        return flush_word(w);
    }
    return add_char(w, cp);
}

int tok_wpm_encode(const tok_vocab *v, const char *text, size_t len, tok_ids *out, he_error *err) {
    wpm_state w = {.v = v, .out = out, .cap = 64};
    w.word = he_malloc(w.cap);
    if (!w.word) goto nomem;
    memcpy(w.word, "\xe2\x96\x81", 3);
    w.n = 3;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp = next_cp(s, len, &i);
        if (in_ranges(tok_wpm_removed, tok_wpm_removed_n, cp)) continue;
        if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable: NFD into its jamo */
            uint32_t k = cp - 0xAC00;
            if (feed(&w, 0x1100 + k / 588) < 0 || feed(&w, 0x1161 + (k % 588) / 28) < 0) goto nomem;
            if (k % 28 && feed(&w, 0x11A7 + k % 28) < 0) goto nomem;
            continue;
        }
        const tok_cp_fold *f = find_fold(cp);
        if (!f) {
            if (feed(&w, cp) < 0) goto nomem;
            continue;
        }
        for (int k = 0; k < 3 && f->to[k]; k++)
            if (feed(&w, f->to[k]) < 0) goto nomem;
    }
    if (flush_word(&w) < 0) goto nomem;
    free(w.word);
    return 0;
nomem:
    free(w.word);
    return he_fail(err, HE_NOMEM, "tokenizer: out of memory encoding %zu bytes", len);
}
