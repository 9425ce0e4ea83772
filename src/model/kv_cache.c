/* kv_cache.c — the KV cache: a unified pool of cells shared by all sequences.
 *
 * A cell stores one position's K and V for every layer, and a bit set of the sequences that
 * see it. Sequences are not laid out contiguously: a token goes into any free cell and
 * attention scans the cells visible to its sequence with pos <= its own. That is what lets
 * hearth_kv_seq_cp share a prompt prefix between sequences by setting bits (no copy), and
 * hearth_kv_seq_rm drop a speculative tail or a finished request in place.
 *
 * Sliding-window layers. A row at position p of such a layer sees positions p - n_swa + 1 .. p
 * only, so once a sequence has moved on, its old positions are dead there. With a ring
 * (swa_ring), those layers' K and V keep swa_cap rows ("slots"), not n_ctx: the cells (their
 * positions and sequence bits, which the global layers need anyway) stay as they are, and a
 * cell additionally holds a slot while some sequence that sees it may still need it. When a
 * batch is placed, sequence s will compute rows at positions >= next_s (its pos_max + 1), so a
 * cell is live for s when pos >= next_s - n_swa + 1; a new token takes a free slot or one
 * whose cell is live for none of its sequences. Live cells number at most n_swa - 1 per
 * sequence plus the batch's own tokens, hence swa_cap = n_seq * (n_swa - 1) + n_batch.
 *
 * Attention lists the same cells in the same order either way (attention.c); the K and V of
 * a listed cell without a slot are never used (every row masks it), so the logits are
 * identical to keeping every row. Rolling a sequence back is where a ring can lose: the
 * positions before the new end may have been given away. Dropping a tail that lies within
 * the last batch is always safe (nothing the batch's first row could see was reused); for a
 * longer rollback, hearth_kv_seq_rm / seq_cp check the new end's window and drop the whole
 * sequence when part of it is gone (swa_check), so what stays is always exact. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "model/model_internal.h"
#include "tensor/blocks.h"

/* Rows of a sliding-window layer for these params: the ring's capacity, or n_ctx. */
static int32_t swa_rows(const hearth_ctx *c) {
    const hearth_hparams *hp = &c->m->hp;
    int64_t cap = (int64_t)c->p.n_seq * (hp->n_swa - 1) + c->p.n_batch;
    return cap < c->p.n_ctx ? (int32_t)cap : c->p.n_ctx;
}

int hearth_kv_alloc(hearth_ctx *c, he_error *err) {
    const hearth_hparams *hp = &c->m->hp;
    size_t n_ctx = (size_t)c->p.n_ctx, nl = (size_t)hp->n_layer, nkv = (size_t)hp->n_head_kv;
    size_t kdim = nkv * (size_t)hp->head_dim_k;
    size_t vdim = nkv * (size_t)hp->head_dim_v;
    c->kv_elt = c->p.kv_type == HEARTH_KV_F32 ? 4 : c->p.kv_type == HEARTH_KV_F16 ? 2 : 0;
    /* bytes per cell and layer: Q8_0 rows are whole blocks because each head's size is a
     * multiple of 32 (checked in hearth_ctx_new), so a head starts on a block boundary */
    size_t krow = c->kv_elt ? kdim * c->kv_elt : kdim / 32 * sizeof(block_q8_0);
    size_t vrow = c->kv_elt ? vdim * c->kv_elt : vdim / 32 * sizeof(block_q8_0);
    size_t kb, vb;
    if (he_mul_overflow(n_ctx * nl, krow, &kb) || he_mul_overflow(n_ctx * nl, vrow, &vb))
        return he_fail(err, HE_LIMIT, "ctx: KV cache of %zu cells is too large", n_ctx);
    c->kv_bytes_full = kb + vb;

    /* a ring for the sliding-window layers when it is smaller than the context */
    int n_swa_layers = 0;
    for (int32_t l = 0; l < hp->n_layer; l++)
        n_swa_layers += c->m->layers[l].swa;
    const char *full = getenv("HEARTH_SWA_FULL");
    bool force_full = c->p.swa_full || (full && *full && strcmp(full, "0"));
    c->swa_cap = (int32_t)n_ctx;
    if (n_swa_layers && hp->n_swa > 0) c->swa_cap = swa_rows(c);
    c->swa_ring = n_swa_layers && hp->n_swa > 0 && !force_full && c->swa_cap < (int32_t)n_ctx;
    if (!c->swa_ring) c->swa_cap = (int32_t)n_ctx;

    c->kv_base = he_calloc(nl ? nl : 1, sizeof *c->kv_base);
    if (!c->kv_base) return he_fail(err, HE_NOMEM, "ctx: cannot allocate the KV layout");
    size_t rows = 0; /* rows of all layers and heads */
    for (int32_t l = 0; l < hp->n_layer; l++) {
        c->kv_base[l] = rows;
        rows += nkv * (hearth_kv_is_ring(c, l) ? (size_t)c->swa_cap : n_ctx);
    }
    /* rows is at most n_ctx * nl * nkv, whose products with the head sizes were checked */
    kb = rows / nkv * krow;
    vb = rows / nkv * vrow;
    c->kv_bytes = kb + vb;
    c->cells = he_calloc(n_ctx, sizeof *c->cells);
    c->kv_order = he_calloc(n_ctx, sizeof *c->kv_order);
    c->kv_order_n = 0;
    c->k_cache = he_malloc(kb);
    c->v_cache = he_malloc(vb);
    if (!c->cells || !c->kv_order || !c->k_cache || !c->v_cache)
        return he_fail(err, HE_NOMEM, "ctx: cannot allocate a KV cache of %zu cells (%zu MiB)",
                       n_ctx, (kb + vb) >> 20);
    if (c->swa_ring) {
        c->swa_slot = he_calloc(n_ctx, sizeof *c->swa_slot);
        c->swa_cell = he_calloc((size_t)c->swa_cap, sizeof *c->swa_cell);
        if (!c->swa_slot || !c->swa_cell)
            return he_fail(err, HE_NOMEM, "ctx: cannot allocate the sliding-window ring");
    }
    hearth_kv_clear(c);
    return 0;
}

void hearth_kv_free(hearth_ctx *c) {
    free(c->cells);
    free(c->kv_order);
    free(c->k_cache);
    free(c->v_cache);
    free(c->kv_base);
    free(c->swa_slot);
    free(c->swa_cell);
}

int32_t hearth_ctx_swa_rows(const hearth_ctx *c) {
    for (int32_t l = 0; l < c->m->hp.n_layer; l++)
        if (c->m->layers[l].swa && c->m->hp.n_swa > 0) return c->swa_cap;
    return 0;
}

void hearth_kv_clear(hearth_ctx *c) {
    for (int32_t i = 0; i < c->p.n_ctx; i++)
        c->cells[i] = (kv_cell){.pos = -1, .seqs = 0};
    for (int s = 0; s < HEARTH_MAX_SEQ; s++)
        c->seq_pos_max[s] = -1;
    c->n_used = 0;
    if (c->swa_ring) {
        for (int32_t i = 0; i < c->p.n_ctx; i++)
            c->swa_slot[i] = -1;
        for (int32_t i = 0; i < c->swa_cap; i++)
            c->swa_cell[i] = -1;
        c->swa_next = 0;
    }
}

int32_t hearth_kv_n_free(const hearth_ctx *c) { return c->p.n_ctx - c->n_used; }

int32_t hearth_kv_seq_pos_max(const hearth_ctx *c, int32_t seq) {
    if (seq < 0 || seq >= c->p.n_seq) return -1;
    return c->seq_pos_max[seq];
}

/* A slot for a new cell: a free one, or one whose cell is live for none of its sequences
 * (lo[s]: the lowest position sequence s can still see, from before the batch). Searched from
 * where the last search stopped, so slots are reused roughly in the order they were filled. */
static int32_t swa_take_slot(hearth_ctx *c, const int32_t *lo) {
    for (int32_t i = 0; i < c->swa_cap; i++) {
        const int32_t sl = c->swa_next;
        c->swa_next = sl + 1 == c->swa_cap ? 0 : sl + 1;
        const int32_t cell = c->swa_cell[sl];
        if (cell < 0) return sl;
        const kv_cell *k = &c->cells[cell];
        bool live = false;
        for (uint64_t bits = k->seqs; bits && !live; bits &= bits - 1)
            live = k->pos >= lo[__builtin_ctzll(bits)];
        if (live) continue;
        c->swa_slot[cell] = -1;
        return sl;
    }
    return -1;
}

void hearth_kv_place(hearth_ctx *c, const hearth_batch *b) {
    int32_t lo[HEARTH_MAX_SEQ];
    if (c->swa_ring)
        for (int s = 0; s < c->p.n_seq; s++)
            lo[s] = c->seq_pos_max[s] + 2 - c->m->hp.n_swa;
    int32_t cell = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        while (c->cells[cell].pos >= 0)
            cell++; /* hearth_decode checked there are enough */
        int32_t s = b->seq_id[i];
        c->cells[cell] = (kv_cell){.pos = b->pos[i], .seqs = 1ull << s};
        c->cell_of[i] = cell;
        c->n_used++;
        if (b->pos[i] > c->seq_pos_max[s]) c->seq_pos_max[s] = b->pos[i];
        if (c->swa_ring) {
            /* never -1: live cells are at most n_seq * (n_swa - 1) + this batch (file comment) */
            const int32_t sl = swa_take_slot(c, lo);
            if (sl < 0) abort();
            c->swa_cell[sl] = cell;
            c->swa_slot[cell] = sl;
        }
    }
}

/* cells[a] before cells[b] in hearth_kv_list's order */
static inline bool list_before(const hearth_ctx *c, int32_t a, int32_t b) {
    const int32_t pa = c->cells[a].pos, pb = c->cells[b].pos;
    return pa < pb || (pa == pb && a < b);
}

static void list_sift(const hearth_ctx *c, int32_t *v, int32_t i, int32_t n) {
    for (;;) {
        int32_t m = i, l = 2 * i + 1, r = l + 1;
        if (l < n && list_before(c, v[m], v[l])) m = l;
        if (r < n && list_before(c, v[m], v[r])) m = r;
        if (m == i) return;
        const int32_t t = v[i];
        v[i] = v[m];
        v[m] = t;
        i = m;
    }
}

void hearth_kv_order(hearth_ctx *c) {
    int32_t last[HEARTH_MAX_SEQ];
    for (int s = 0; s < HEARTH_MAX_SEQ; s++)
        last[s] = INT32_MIN;
    bool ordered = true;
    int32_t n = 0;
    for (int32_t cell = 0; cell < c->p.n_ctx; cell++) {
        const kv_cell *kc = &c->cells[cell];
        if (kc->pos < 0) continue;
        c->kv_order[n++] = cell;
        for (uint64_t m = kc->seqs; m && ordered; m &= m - 1) {
            const int s = __builtin_ctzll(m);
            if (kc->pos <= last[s]) ordered = false;
            last[s] = kc->pos;
        }
    }
    if (ordered) {
        c->kv_order_n = 0;
        return;
    }
    /* heapsort by (pos, cell): in place, O(n log n), once per decode */
    int32_t *v = c->kv_order;
    for (int32_t i = n / 2 - 1; i >= 0; i--)
        list_sift(c, v, i, n);
    for (int32_t e = n - 1; e > 0; e--) {
        const int32_t t = v[0];
        v[0] = v[e];
        v[e] = t;
        list_sift(c, v, 0, e);
    }
    c->kv_order_n = n;
}

int32_t hearth_kv_list(const hearth_ctx *c, uint64_t bit, int32_t maxpos, int32_t *cells) {
    int32_t n = 0;
    if (!c->kv_order_n) { /* the usual case: cell order is position order for every sequence */
        for (int32_t cell = 0; cell < c->p.n_ctx; cell++) {
            const kv_cell *kc = &c->cells[cell];
            if (kc->pos >= 0 && kc->pos <= maxpos && (kc->seqs & bit)) cells[n++] = cell;
        }
        return n;
    }
    for (int32_t i = 0; i < c->kv_order_n; i++) {
        const int32_t cell = c->kv_order[i];
        const kv_cell *kc = &c->cells[cell];
        if (kc->pos > maxpos) break; /* sorted by position: nothing later is visible */
        if (kc->seqs & bit) cells[n++] = cell;
    }
    return n;
}

static void recompute_pos_max(hearth_ctx *c) {
    for (int s = 0; s < HEARTH_MAX_SEQ; s++)
        c->seq_pos_max[s] = -1;
    for (int32_t i = 0; i < c->p.n_ctx; i++) {
        kv_cell *k = &c->cells[i];
        if (k->pos < 0) continue;
        for (int s = 0; s < c->p.n_seq; s++)
            if ((k->seqs >> s & 1) && k->pos > c->seq_pos_max[s]) c->seq_pos_max[s] = k->pos;
    }
}

/* Frees cell i (no sequence sees it any more) and its slot. */
static void free_cell(hearth_ctx *c, kv_cell *k) {
    k->pos = -1;
    c->n_used--;
    if (c->swa_ring) {
        const int32_t i = (int32_t)(k - c->cells), sl = c->swa_slot[i];
        if (sl >= 0) c->swa_cell[sl] = -1;
        c->swa_slot[i] = -1;
    }
}

static void seq_rm(hearth_ctx *c, int32_t seq, int32_t p0, int32_t p1) {
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    uint64_t mask = seq < 0 ? ~0ull : 1ull << seq;
    for (int32_t i = 0; i < c->p.n_ctx; i++) {
        kv_cell *k = &c->cells[i];
        if (k->pos < p0 || k->pos >= p1 || !(k->seqs & mask)) continue;
        k->seqs &= ~mask;
        if (!k->seqs) free_cell(c, k);
    }
    recompute_pos_max(c);
}

/* Ring: every sequence whose next token would see a cell without a slot (a rollback past what
 * the ring keeps) is dropped whole, so that no decode can read K/V that was given away. */
static void swa_check(hearth_ctx *c) {
    if (!c->swa_ring) return;
    uint64_t broken = 0;
    for (int32_t i = 0; i < c->p.n_ctx; i++) {
        const kv_cell *k = &c->cells[i];
        if (k->pos < 0 || c->swa_slot[i] >= 0) continue;
        for (uint64_t bits = k->seqs; bits; bits &= bits - 1) {
            const int s = __builtin_ctzll(bits);
            if (k->pos >= c->seq_pos_max[s] + 2 - c->m->hp.n_swa) broken |= 1ull << s;
        }
    }
    for (int s = 0; s < c->p.n_seq; s++)
        if (broken >> s & 1) {
            log_debug("kv: sequence %d rolled back past the sliding-window ring; dropped", s);
            seq_rm(c, s, 0, -1);
        }
}

void hearth_kv_seq_rm(hearth_ctx *c, int32_t seq, int32_t p0, int32_t p1) {
    if (seq >= c->p.n_seq) return;
    seq_rm(c, seq, p0, p1);
    swa_check(c);
}

void hearth_kv_seq_cp(hearth_ctx *c, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    if (src < 0 || src >= c->p.n_seq || dst < 0 || dst >= c->p.n_seq || src == dst) return;
    seq_rm(c, dst, p0, p1); /* dst must not hold two cells for one position */
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    for (int32_t i = 0; i < c->p.n_ctx; i++) {
        kv_cell *k = &c->cells[i];
        if (k->pos >= p0 && k->pos < p1 && (k->seqs >> src & 1)) {
            k->seqs |= 1ull << dst;
            if (k->pos > c->seq_pos_max[dst]) c->seq_pos_max[dst] = k->pos;
        }
    }
    swa_check(c);
}
