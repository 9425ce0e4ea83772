/* merge.c — best-first pair merging over a linked list of symbols, the core of both
 * SentencePiece-style BPE (pairs keyed by the merged token's score) and byte-level BPE (keyed
 * by merge rank). A binary heap holds candidate pairs; entries made stale by earlier merges are
 * recognised when popped (a side already merged away, or a size that no longer adds up), which
 * keeps every step O(log n) and the whole run O(n log n) in the number of symbols. */
#include <stdlib.h>

#include "base/alloc.h"
#include "tokenizer/tok_internal.h"

typedef struct {
    double key;
    int32_t left, right;
    uint32_t size; /* n of left + right when pushed */
} bigram;

typedef struct {
    bigram *b;
    size_t n, cap;
} heap;

/* a comes out before b: higher key first, then the leftmost pair */
static bool before(const bigram *a, const bigram *b) {
    return a->key > b->key || (a->key == b->key && a->left < b->left);
}

static int heap_push(heap *h, bigram x) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        bigram *b = he_realloc(h->b, cap * sizeof *b);
        if (!b) return -1;
        h->b = b;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&x, &h->b[p])) break;
        h->b[i] = h->b[p];
        i = p;
    }
    h->b[i] = x;
    return 0;
}

static bigram heap_pop(heap *h) {
    bigram top = h->b[0], x = h->b[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->b[c + 1], &h->b[c])) c++;
        if (!before(&h->b[c], &x)) break;
        h->b[i] = h->b[c];
        i = c;
    }
    if (h->n) h->b[i] = x;
    return top;
}

static int try_pair(heap *h, const char *s, const tok_sym *sym, int32_t l, int32_t r,
                    tok_pair_fn pair, const void *ctx) {
    if (l < 0 || r < 0) return 0;
    double key;
    if (!pair(ctx, s + sym[l].off, sym[l].n, s + sym[r].off, sym[r].n, &key)) return 0;
    return heap_push(h, (bigram){key, l, r, sym[l].n + sym[r].n});
}

int tok_merge_run(const char *s, tok_sym *sym, int32_t n_sym, tok_pair_fn pair, const void *ctx,
                  he_error *err) {
    heap h = {0};
    for (int32_t i = 1; i < n_sym; i++)
        if (try_pair(&h, s, sym, i - 1, i, pair, ctx) < 0) goto nomem;
    while (h.n) {
        bigram b = heap_pop(&h);
        tok_sym *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size || l->next != b.right)
            continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        if (try_pair(&h, s, sym, l->prev, b.left, pair, ctx) < 0 ||
            try_pair(&h, s, sym, b.left, l->next, pair, ctx) < 0)
            goto nomem;
    }
    free(h.b);
    return 0;
nomem:
    free(h.b);
    return he_fail(err, HE_NOMEM, "tokenizer: out of memory merging %d symbols", (int)n_sym);
}
