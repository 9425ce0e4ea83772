/* vocab.c — what each token spells, indexed as a byte trie for the mask.
 *
 * The pieces are sorted bytewise and the trie is built from the sorted list in one pass
 * (longest common prefix with the previous piece = how far up the path to go), laid out in
 * preorder so a subtree is a contiguous range and the mask can skip a dead one in O(1). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "grammar/grammar_internal.h"

void gram_vocab_free(gram_vocab *v) {
    if (!v) return;
    if (v->piece)
        for (int32_t i = 0; i < v->n_vocab; i++)
            free(v->piece[i]);
    free(v->piece);
    free(v->piece_len);
    free(v->kind);
    free(v->nodes);
    free(v->tok);
    free(v->eog);
    free(v->special);
    free(v);
}

static int cmp_piece(const void *a, const void *b, void *ctx) {
    const gram_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = v->piece_len[x], ly = v->piece_len[y];
    int c = memcmp(v->piece[x], v->piece[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int build_trie(gram_vocab *v, he_error *err) {
    int32_t n = 0;
    size_t total = 1, max_len = 0;
    for (int32_t i = 0; i < v->n_vocab; i++)
        if (v->kind[i] == GRAM_TOKEN_TEXT && v->piece_len[i] > 0) {
            n++;
            total += v->piece_len[i];
            if (v->piece_len[i] > max_len) max_len = v->piece_len[i];
        }
    if (total > UINT32_MAX / 2) return he_fail(err, HE_LIMIT, "grammar: vocab pieces too long");
    v->max_piece = (uint32_t)max_len;
    v->tok = xmalloc(((size_t)n + 1) * sizeof *v->tok);
    n = 0;
    for (int32_t i = 0; i < v->n_vocab; i++)
        if (v->kind[i] == GRAM_TOKEN_TEXT && v->piece_len[i] > 0) v->tok[n++] = i;
    qsort_r(v->tok, (size_t)n, sizeof *v->tok, cmp_piece, v);
    /* At most one node per piece byte, plus the root. */
    gram_trie_node *nd = xmalloc(total * sizeof *nd);
    uint32_t *path = xmalloc((max_len + 1) * sizeof *path);
    uint32_t nn = 1, depth = 0;
    nd[0].byte = 0;
    nd[0].tok_begin = nd[0].tok_end = 0;
    path[0] = 0;
    const char *prev = "";
    size_t prev_len = 0;
    for (int32_t k = 0; k < n; k++) {
        int32_t t = v->tok[k];
        const char *s = v->piece[t];
        size_t len = v->piece_len[t];
        size_t lcp = 0;
        while (lcp < len && lcp < prev_len && lcp < depth && s[lcp] == prev[lcp])
            lcp++;
        while (depth > lcp) { /* close the nodes below the common prefix */
            nd[path[depth]].end = nn;
            depth--;
        }
        while (depth < len) {
            gram_trie_node *x = &nd[nn];
            x->byte = (uint8_t)s[depth];
            x->tok_begin = x->tok_end = (uint32_t)k;
            path[++depth] = nn++;
        }
        nd[path[depth]].tok_end = (uint32_t)k + 1;
        prev = s;
        prev_len = len;
    }
    while (depth > 0) {
        nd[path[depth]].end = nn;
        depth--;
    }
    nd[0].end = nn;
    free(path);
    v->nodes = xrealloc(nd, nn * sizeof *nd);
    v->n_nodes = nn;
    return 0;
}

gram_vocab *gram_vocab_new(int32_t n_vocab, const char *const *piece, const size_t *piece_len,
                           const uint8_t *kind, he_error *err) {
    if (n_vocab <= 0 || n_vocab > (1 << 24))
        return he_fail(err, HE_INVALID, "grammar: vocab of %d tokens", n_vocab), NULL;
    gram_vocab *v = xcalloc(1, sizeof *v);
    v->n_vocab = n_vocab;
    v->kind = xmalloc((size_t)n_vocab);
    v->piece = xcalloc((size_t)n_vocab, sizeof *v->piece);
    v->piece_len = xmalloc((size_t)n_vocab * sizeof *v->piece_len);
    v->eog = xmalloc((size_t)n_vocab * sizeof *v->eog);
    for (int32_t i = 0; i < n_vocab; i++) {
        if (kind[i] > GRAM_TOKEN_SPECIAL || piece_len[i] > 65536) {
            he_fail(err, HE_INVALID, "grammar: vocab token %d: bad kind or piece length", i);
            gram_vocab_free(v);
            return NULL;
        }
        v->kind[i] = kind[i];
        v->piece_len[i] = (uint32_t)piece_len[i];
        v->piece[i] = xmalloc(piece_len[i] + 1);
        if (piece_len[i]) memcpy(v->piece[i], piece[i], piece_len[i]);
        v->piece[i][piece_len[i]] = 0;
        if (kind[i] == GRAM_TOKEN_EOG) v->eog[v->n_eog++] = i;
        if (kind[i] == GRAM_TOKEN_SPECIAL && piece_len[i]) {
            v->special = xrealloc(v->special, ((size_t)v->n_special + 1) * sizeof *v->special);
            v->special[v->n_special++] = i;
        }
    }
    if (build_trie(v, err)) {
        gram_vocab_free(v);
        return NULL;
    }
    return v;
}

gram_vocab *gram_vocab_from_tok(const tok_vocab *tv, he_error *err) {
    int32_t n = tok_n_vocab(tv);
    if (n <= 0) return he_fail(err, HE_INVALID, "grammar: the vocab is empty"), NULL;
    char **piece = xcalloc((size_t)n, sizeof *piece);
    size_t *len = xmalloc((size_t)n * sizeof *len);
    uint8_t *kind = xmalloc((size_t)n);
    char buf[256];
    int32_t *user = NULL, n_user = 0;
    for (int32_t i = 0; i < n; i++) {
        if (tok_is_eog(tv, i)) {
            kind[i] = GRAM_TOKEN_EOG;
        } else if (tok_attr(tv, i) == TOK_ATTR_UNKNOWN || tok_attr(tv, i) == TOK_ATTR_UNUSED) {
            kind[i] = GRAM_TOKEN_NEVER;
        } else if (tok_is_control(tv, i)) {
            kind[i] = GRAM_TOKEN_SPECIAL;
        } else {
            kind[i] = GRAM_TOKEN_TEXT;
            if (tok_attr(tv, i) == TOK_ATTR_USER_DEFINED) {
                user = xrealloc(user, ((size_t)n_user + 1) * sizeof *user);
                user[n_user++] = i;
            }
        }
        len[i] = 0;
        if (kind[i] != GRAM_TOKEN_TEXT && kind[i] != GRAM_TOKEN_SPECIAL) continue;
        /* a control token's piece is its rendered text (what a marker names) */
        bool render = kind[i] == GRAM_TOKEN_SPECIAL;
        size_t k = tok_token_bytes(tv, i, render, buf, sizeof buf);
        piece[i] = xmalloc(k ? k : 1);
        if (k > sizeof buf) {
            tok_token_bytes(tv, i, render, piece[i], k);
        } else {
            memcpy(piece[i], buf, k);
        }
        len[i] = k;
    }
    gram_vocab *v = gram_vocab_new(n, (const char *const *)piece, len, kind, err);
    if (v && n_user) { /* user-defined tokens: text, and markers too */
        v->special = xrealloc(v->special, ((size_t)v->n_special + (size_t)n_user) * sizeof *v->special);
        for (int32_t i = 0; i < n_user; i++)
            if (v->piece_len[user[i]]) v->special[v->n_special++] = user[i];
    }
    free(user);
    for (int32_t i = 0; i < n; i++)
        free(piece[i]);
    free(piece);
    free(len);
    free(kind);
    return v;
}

uint32_t gram_vocab_max_piece(const gram_vocab *v) { return v ? v->max_piece : 0; }

int32_t gram_vocab_special(const gram_vocab *v, const char *text, size_t n) {
    if (!v) return -1;
    for (int32_t i = 0; i < v->n_special; i++) {
        int32_t t = v->special[i];
        if (v->piece_len[t] == n && !memcmp(v->piece[t], text, n)) return t;
    }
    return -1;
}
