/* kv_cache.c — the KV cache: a unified pool of cells shared by all sequences.
 *
 * A cell stores one position's K and V for every layer, and a bit set of the sequences that
 * see it. Sequences are not laid out contiguously: a token goes into any free cell and
 * attention scans the cells visible to its sequence with pos <= its own. That is what lets
 * hearth_kv_seq_cp share a prompt prefix between sequences by setting bits (no copy), and
 * hearth_kv_seq_rm drop a speculative tail or a finished request in place. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "model/model_internal.h"
#include "tensor/blocks.h"

int hearth_kv_alloc(hearth_ctx *c, he_error *err) {
    const hearth_hparams *hp = &c->m->hp;
    size_t n_ctx = (size_t)c->p.n_ctx, nl = (size_t)hp->n_layer;
    size_t kdim = (size_t)hp->n_head_kv * (size_t)hp->head_dim_k;
    size_t vdim = (size_t)hp->n_head_kv * (size_t)hp->head_dim_v;
    c->kv_elt = c->p.kv_type == HEARTH_KV_F32 ? 4 : c->p.kv_type == HEARTH_KV_F16 ? 2 : 0;
    /* bytes per cell and layer: Q8_0 rows are whole blocks because each head's size is a
     * multiple of 32 (checked in hearth_ctx_new), so a head starts on a block boundary */
    size_t krow = c->kv_elt ? kdim * c->kv_elt : kdim / 32 * sizeof(block_q8_0);
    size_t vrow = c->kv_elt ? vdim * c->kv_elt : vdim / 32 * sizeof(block_q8_0);
    size_t kb, vb;
    if (he_mul_overflow(n_ctx * nl, krow, &kb) || he_mul_overflow(n_ctx * nl, vrow, &vb))
        return he_fail(err, HE_LIMIT, "ctx: KV cache of %zu cells is too large", n_ctx);
    c->kv_bytes = kb + vb;
    c->cells = he_calloc(n_ctx, sizeof *c->cells);
    c->k_cache = he_malloc(kb);
    c->v_cache = he_malloc(vb);
    if (!c->cells || !c->k_cache || !c->v_cache)
        return he_fail(err, HE_NOMEM, "ctx: cannot allocate a KV cache of %zu cells (%zu MiB)",
                       n_ctx, (kb + vb) >> 20);
    hearth_kv_clear(c);
    return 0;
}

void hearth_kv_clear(hearth_ctx *c) {
    for (int32_t i = 0; i < c->p.n_ctx; i++)
        c->cells[i] = (kv_cell){.pos = -1, .seqs = 0};
    for (int s = 0; s < HEARTH_MAX_SEQ; s++)
        c->seq_pos_max[s] = -1;
    c->n_used = 0;
}

int32_t hearth_kv_n_free(const hearth_ctx *c) { return c->p.n_ctx - c->n_used; }

int32_t hearth_kv_seq_pos_max(const hearth_ctx *c, int32_t seq) {
    if (seq < 0 || seq >= c->p.n_seq) return -1;
    return c->seq_pos_max[seq];
}

void hearth_kv_place(hearth_ctx *c, const hearth_batch *b) {
    int32_t cell = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        while (c->cells[cell].pos >= 0)
            cell++; /* hearth_decode checked there are enough */
        int32_t s = b->seq_id[i];
        c->cells[cell] = (kv_cell){.pos = b->pos[i], .seqs = 1ull << s};
        c->cell_of[i] = cell;
        c->n_used++;
        if (b->pos[i] > c->seq_pos_max[s]) c->seq_pos_max[s] = b->pos[i];
    }
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

void hearth_kv_seq_rm(hearth_ctx *c, int32_t seq, int32_t p0, int32_t p1) {
    if (seq >= c->p.n_seq) return;
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    uint64_t mask = seq < 0 ? ~0ull : 1ull << seq;
    for (int32_t i = 0; i < c->p.n_ctx; i++) {
        kv_cell *k = &c->cells[i];
        if (k->pos < p0 || k->pos >= p1 || !(k->seqs & mask)) continue;
        k->seqs &= ~mask;
        if (!k->seqs) {
            k->pos = -1;
            c->n_used--;
        }
    }
    recompute_pos_max(c);
}

void hearth_kv_seq_cp(hearth_ctx *c, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    if (src < 0 || src >= c->p.n_seq || dst < 0 || dst >= c->p.n_seq || src == dst) return;
    hearth_kv_seq_rm(c, dst, p0, p1); /* dst must not hold two cells for one position */
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    for (int32_t i = 0; i < c->p.n_ctx; i++) {
        kv_cell *k = &c->cells[i];
        if (k->pos >= p0 && k->pos < p1 && (k->seqs >> src & 1)) {
            k->seqs |= 1ull << dst;
            if (k->pos > c->seq_pos_max[dst]) c->seq_pos_max[dst] = k->pos;
        }
    }
}
