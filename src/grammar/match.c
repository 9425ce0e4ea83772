/* match.c — the grammar matcher: the set of parse stacks reachable after the accepted text,
 * advanced one UTF-8 code point at a time, and the token mask computed over the vocab trie.
 *
 * A parse stack is a chain of frames (element position, parent frame). Frames live in one
 * arena per matcher and are hash-consed (equal (pos, parent) -> the same index), so equal
 * stacks are equal indices: a set of stacks is a set of top-frame indices, deduplicated by a
 * stamp, and advancing a stack never copies its deeper part. The top frame of a stack always
 * points at a character class; DONE stands for a stack that has finished the root rule.
 *
 * The mask walks the vocab trie depth-first, advancing the stack set one byte at a time: tokens
 * sharing a prefix share the work, and a dead prefix prunes its whole subtree. Frames created
 * below a trie node are rolled back when the walk leaves it (LIFO removal keeps the
 * linear-probing hash table exact), so a mask allocates nothing once the arena is warm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "grammar/grammar_internal.h"

#define NIL UINT32_MAX
#define DONE (UINT32_MAX - 1)

typedef struct {
    uint32_t pos, parent;
} frame;

#define MASK_CACHE 4
#define WALK_KEEP (1u << 20)
#define MASK_KEY_MAX 4096

/* A code point being assembled from UTF-8 bytes (need = continuation bytes still missing). */
typedef struct {
    uint32_t cp;
    uint32_t need;
    uint32_t min; /* smallest code point of this length (overlong forms are refused) */
} utf8_state;

/* One level of the trie walk. */
typedef struct {
    uint32_t node, child;  /* trie node; next child to try */
    uint32_t tops, n_tops; /* offset into tb */
    utf8_state u;
    uint32_t mark_nodes, mark_tb; /* to roll back when leaving this level */
} level;

struct gram_matcher {
    const gram_grammar *g;
    const gram_vocab *v;
    frame *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *hash; /* node index + 1; 0 = empty */
    uint32_t hash_mask;
    uint32_t *stamp; /* per node: last advance that visited it */
    uint32_t cur_stamp;
    uint32_t *work;
    uint32_t n_work, cap_work;
    /* current state */
    uint32_t *tops;
    uint32_t n_tops, cap_tops;
    utf8_state u;
    /* scratch for advancing: tops buffer (stack of levels) and walk levels */
    uint32_t *tb;
    uint32_t n_tb, cap_tb;
    level *lv;
    uint32_t cap_lv;
    uint64_t *allowed; /* bitset over the vocab */
    uint32_t n_live;   /* frames right after the last compaction */
    /* Memo of code-point steps during one mask walk: (tops, which tops accept) -> tops. The walk
     * keeps the frames it makes (hash-consing shares them: the stacks after "ab" and "xy" inside
     * a string are the same frames) and rolls back only at its end, or below a node when it has
     * made more than WALK_KEEP frames, which also clears the memo. */
    struct memo_entry {
        uint32_t gen, in_off, in_n, out_off, out_n;
        bool self;
        uint64_t h, bits;
    } * memo;
    uint32_t *memo_buf;
    uint32_t n_memo_buf, cap_memo_buf;
    uint32_t memo_gen;
    uint32_t memo_base; /* nonzero while a mask walk runs (the memo is on) */
    /* Whole-mask cache keyed by the state's content (every stack's positions, the partial
     * character): inside a JSON string the state after each ordinary character is the same, so
     * repeated masks there cost one bitset copy. */
    struct mask_entry {
        uint32_t *key;
        uint32_t key_n;
        uint64_t *bits;
    } cache[MASK_CACHE];
    uint32_t cache_next;
    uint32_t *key;
    uint32_t cap_key;
    bool limit_hit;
    /* marker k of the grammar -> the vocab's special token with its text (-1: none, then the
     * marker can never be written with this vocab) */
    int32_t *marker_tok;
};

/* ---- frames ---- */

static inline uint32_t hash2(uint32_t a, uint32_t b) {
    uint64_t x = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32) ^ (uint32_t)x;
}

static void rehash(gram_matcher *m, uint32_t cap) {
    free(m->hash);
    m->hash = xcalloc(cap, sizeof *m->hash);
    m->hash_mask = cap - 1;
    for (uint32_t i = 0; i < m->n_nodes; i++) { /* insertion order keeps LIFO removal exact */
        uint32_t h = hash2(m->nodes[i].pos, m->nodes[i].parent) & m->hash_mask;
        while (m->hash[h])
            h = (h + 1) & m->hash_mask;
        m->hash[h] = i + 1;
    }
}

/* The frame (pos, parent), created if new. NIL when the arena is full. */
static uint32_t intern(gram_matcher *m, uint32_t pos, uint32_t parent) {
    uint32_t h = hash2(pos, parent) & m->hash_mask;
    for (;;) {
        uint32_t k = m->hash[h];
        if (!k) break;
        if (m->nodes[k - 1].pos == pos && m->nodes[k - 1].parent == parent) return k - 1;
        h = (h + 1) & m->hash_mask;
    }
    if (m->n_nodes >= GRAM_MAX_NODES) {
        m->limit_hit = true;
        return NIL;
    }
    if (m->n_nodes == m->cap_nodes) {
        m->cap_nodes *= 2;
        m->nodes = xrealloc(m->nodes, m->cap_nodes * sizeof *m->nodes);
        m->stamp = xrealloc(m->stamp, m->cap_nodes * sizeof *m->stamp);
    }
    uint32_t i = m->n_nodes++;
    m->nodes[i].pos = pos;
    m->nodes[i].parent = parent;
    m->stamp[i] = 0;
    m->hash[h] = i + 1;
    if (m->n_nodes * 2 > m->hash_mask + 1) rehash(m, (m->hash_mask + 1) * 2);
    return i;
}

/* Removes the frames created after mark (newest first). */
static void rollback(gram_matcher *m, uint32_t mark) {
    while (m->n_nodes > mark) {
        uint32_t i = --m->n_nodes;
        uint32_t h = hash2(m->nodes[i].pos, m->nodes[i].parent) & m->hash_mask;
        while (m->hash[h] != i + 1)
            h = (h + 1) & m->hash_mask;
        m->hash[h] = 0;
    }
}

/* ---- advancing ---- */

static void tb_reserve(gram_matcher *m, uint32_t extra) {
    if (m->n_tb + extra <= m->cap_tb) return;
    while (m->n_tb + extra > m->cap_tb)
        m->cap_tb *= 2;
    m->tb = xrealloc(m->tb, m->cap_tb * sizeof *m->tb);
}

static void push_work(gram_matcher *m, uint32_t pos, uint32_t parent) {
    if (m->n_work + 2 > m->cap_work) {
        m->cap_work *= 2;
        m->work = xrealloc(m->work, m->cap_work * sizeof *m->work);
    }
    m->work[m->n_work++] = pos;
    m->work[m->n_work++] = parent;
}

/* Runs the closure of the queued work items: every stack reachable without consuming input,
 * stopped at a character class (appended to tb) or at the end of the root (DONE). Returns how
 * many tops were appended, or -1 past a limit. */
static int64_t closure(gram_matcher *m) {
    const gram_grammar *g = m->g;
    uint32_t begin = m->n_tb, steps = 0;
    bool done = false;
    while (m->n_work) {
        uint32_t parent = m->work[--m->n_work];
        uint32_t pos = m->work[--m->n_work];
        if (++steps > GRAM_MAX_WORK) {
            m->limit_hit = true;
            return -1;
        }
        uint32_t idx = intern(m, pos, parent);
        if (idx == NIL) return -1;
        if (m->stamp[idx] == m->cur_stamp) continue;
        m->stamp[idx] = m->cur_stamp;
        gram_elem e = g->elems[pos];
        if (e.type == GE_END || e.type == GE_ALT) {
            if (parent == NIL) {
                done = true;
            } else {
                push_work(m, m->nodes[parent].pos, m->nodes[parent].parent);
            }
        } else if (e.type == GE_CHAR) {
            if (m->n_tb - begin >= GRAM_MAX_STACKS) {
                m->limit_hit = true;
                return -1;
            }
            tb_reserve(m, 2);
            m->tb[m->n_tb++] = idx;
        } else { /* GE_RULE: a tail reference needs no return frame */
            uint8_t nt = g->elems[pos + 1].type;
            uint32_t ret = parent;
            if (nt != GE_END && nt != GE_ALT) {
                ret = intern(m, pos + 1, parent);
                if (ret == NIL) return -1;
            }
            for (uint32_t a = g->alt_off[e.val]; a < g->alt_off[e.val + 1]; a++)
                push_work(m, g->alts[a], ret);
        }
    }
    if (done) {
        tb_reserve(m, 1);
        m->tb[m->n_tb++] = DONE;
    }
    return m->n_tb - begin;
}

static void next_stamp(gram_matcher *m) {
    if (++m->cur_stamp == 0) { /* wrapped: clear */
        memset(m->stamp, 0, m->cap_nodes * sizeof *m->stamp);
        m->cur_stamp = 1;
    }
}

#define MEMO_SIZE 4096

static inline bool same_u32(const uint32_t *a, const uint32_t *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static uint64_t tops_hash(const uint32_t *t, uint32_t n, uint32_t cp) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ cp;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ t[i]) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

static int64_t advance_cp_raw(gram_matcher *m, uint32_t tops_off, uint32_t n, uint32_t cp);

/* Advances tops (an array not inside tb's growing tail, or below n_tb) by code point cp,
 * appending the new tops to tb. Returns their count (0: dead), -1 past a limit.
 * The result depends only on WHICH tops accept cp (the closure after that ignores cp), so the
 * memo is keyed by (tops, bitmask of accepting tops): inside a JSON string every ordinary
 * character shares one entry. */
static int64_t advance_cp(gram_matcher *m, uint32_t tops_off, uint32_t n, uint32_t cp) {
    if (!m->memo_base || n > 64) return advance_cp_raw(m, tops_off, n, cp);
    const gram_grammar *g = m->g;
    const uint32_t *in = m->tb + tops_off;
    uint64_t bits = 0;
    for (uint32_t i = 0; i < n; i++)
        if (in[i] != DONE && gram_class_has(g, g->elems[m->nodes[in[i]].pos].val, cp))
            bits |= 1ull << i;
    if (!bits) return 0;
    uint64_t h = tops_hash(in, n, (uint32_t)bits ^ (uint32_t)(bits >> 32) * 0x9E3779B1u);
    struct memo_entry *e = &m->memo[h & (MEMO_SIZE - 1)];
    if (e->gen == m->memo_gen && e->h == h && e->bits == bits && e->in_n == n &&
        same_u32(m->memo_buf + e->in_off, in, n)) {
        if (e->self) return -2; /* the set steps to itself (a string's characters) */
        tb_reserve(m, e->out_n + 1);
        memcpy(m->tb + m->n_tb, m->memo_buf + e->out_off, e->out_n * sizeof *m->tb);
        m->n_tb += e->out_n;
        return e->out_n;
    }
    uint32_t at = m->n_tb;
    int64_t k = advance_cp_raw(m, tops_off, n, cp);
    if (k < 0) return k;
    in = m->tb + tops_off; /* tb may have moved */
    uint32_t need = n + (uint32_t)k;
    if (m->n_memo_buf + need > m->cap_memo_buf) {
        if (m->n_memo_buf + need > (1u << 20)) return k; /* full for this mask */
        while (m->n_memo_buf + need > m->cap_memo_buf)
            m->cap_memo_buf = m->cap_memo_buf ? m->cap_memo_buf * 2 : 4096;
        m->memo_buf = xrealloc(m->memo_buf, m->cap_memo_buf * sizeof *m->memo_buf);
    }
    e->gen = m->memo_gen;
    e->h = h;
    e->bits = bits;
    e->in_off = m->n_memo_buf;
    e->in_n = n;
    memcpy(m->memo_buf + m->n_memo_buf, in, n * sizeof *in);
    m->n_memo_buf += n;
    e->out_off = m->n_memo_buf;
    e->out_n = (uint32_t)k;
    e->self = (uint32_t)k == n && same_u32(in, m->tb + at, n);
    memcpy(m->memo_buf + m->n_memo_buf, m->tb + at, (size_t)k * sizeof *m->tb);
    m->n_memo_buf += (uint32_t)k;
    return k;
}

static int64_t advance_cp_raw(gram_matcher *m, uint32_t tops_off, uint32_t n, uint32_t cp) {
    const gram_grammar *g = m->g;
    next_stamp(m);
    m->n_work = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = m->tb[tops_off + i];
        if (t == DONE) continue;
        frame f = m->nodes[t];
        if (gram_class_has(g, g->elems[f.pos].val, cp)) push_work(m, f.pos + 1, f.parent);
    }
    if (!m->n_work) return 0;
    return closure(m);
}

static inline bool try_cp(const gram_grammar *g, uint32_t cls, uint32_t x, uint32_t lo,
                          uint32_t hi) {
    return x >= lo && x <= hi && !(x >= 0xD800 && x <= 0xDFFF) && gram_class_has(g, cls, x);
}

/* Could any top accept some character in [lo, hi] (the characters a partial UTF-8 sequence
 * can still become)? Exact: the matched part of [lo, hi] is a union of intervals whose ends
 * are among lo, hi, the class's range ends (+-1) and the surrogate gap's ends, so testing
 * those points finds one if any exists. A partial sequence is never let through into a dead
 * end. */
static bool any_in_range(gram_matcher *m, uint32_t tops_off, uint32_t n, uint32_t lo, uint32_t hi) {
    const gram_grammar *g = m->g;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = m->tb[tops_off + i];
        if (t == DONE) continue;
        uint32_t cls = g->elems[m->nodes[t].pos].val;
        const gram_class *k = &g->classes[cls];
        if (try_cp(g, cls, lo, lo, hi) || try_cp(g, cls, hi, lo, hi) ||
            try_cp(g, cls, 0xD7FF, lo, hi) || try_cp(g, cls, 0xE000, lo, hi))
            return true;
        const uint32_t *r = g->ranges + k->range_off;
        for (uint32_t j = 0; j < k->n_ranges; j++) {
            uint32_t a = r[2 * j], z = r[2 * j + 1];
            if (try_cp(g, cls, a, lo, hi) || try_cp(g, cls, z, lo, hi) ||
                (a > 0 && try_cp(g, cls, a - 1, lo, hi)) || try_cp(g, cls, z + 1, lo, hi))
                return true;
        }
    }
    return false;
}

/* One byte from state (tops at tb[off, off+n), u): 0 dead; 1 alive with the new tops appended
 * to tb (*new_off, *new_n) and *u updated; -1 past a limit. Partial characters keep the same
 * tops (they are referenced, not copied). */
static int step_byte(gram_matcher *m, uint32_t off, uint32_t n, utf8_state *u, uint8_t b,
                     uint32_t *new_off, uint32_t *new_n) {
    uint32_t cp;
    if (u->need == 0) {
        if (b < 0x80) {
            cp = b;
        } else {
            uint32_t need, v;
            if (b >= 0xC2 && b <= 0xDF)
                need = 1, v = b & 0x1Fu;
            else if (b >= 0xE0 && b <= 0xEF)
                need = 2, v = b & 0x0Fu;
            else if (b >= 0xF0 && b <= 0xF4)
                need = 3, v = b & 0x07u;
            else
                return 0;
            uint32_t min = need == 1 ? 0x80 : need == 2 ? 0x800 : 0x10000;
            uint32_t lo = v << (6 * need), hi = lo | ((1u << (6 * need)) - 1);
            if (lo < min) lo = min;
            if (hi > 0x10FFFF) hi = 0x10FFFF;
            if (lo > hi || !any_in_range(m, off, n, lo, hi)) return 0;
            u->cp = v;
            u->need = need;
            u->min = min;
            *new_off = off;
            *new_n = n;
            return 1;
        }
    } else {
        if ((b & 0xC0) != 0x80) return 0;
        u->cp = u->cp << 6 | (b & 0x3Fu);
        if (--u->need) {
            uint32_t lo = u->cp << (6 * u->need), hi = lo | ((1u << (6 * u->need)) - 1);
            if (lo < u->min) lo = u->min;
            if (hi > 0x10FFFF) hi = 0x10FFFF;
            if (lo > hi || !any_in_range(m, off, n, lo, hi)) return 0;
            *new_off = off;
            *new_n = n;
            return 1;
        }
        cp = u->cp;
        u->cp = 0;
        /* overlong, surrogate or out of range: not a character */
        if (cp < u->min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
    }
    uint32_t at = m->n_tb;
    int64_t k = advance_cp(m, off, n, cp);
    if (k == -2) { /* unchanged set: refer to it */
        *new_off = off;
        *new_n = n;
        return 1;
    }
    if (k < 0) return -1;
    if (k == 0) return 0;
    *new_off = at;
    *new_n = (uint32_t)k;
    return 1;
}

/* ---- state ---- */

/* Copies the frames reachable from the current tops into a fresh arena (frames accumulate
 * over accepted tokens otherwise). */
static void compact(gram_matcher *m) {
    frame *old = m->nodes;
    uint32_t n_old = m->n_nodes;
    uint32_t *map = xmalloc((n_old ? n_old : 1) * sizeof *map);
    for (uint32_t i = 0; i < n_old; i++)
        map[i] = NIL;
    m->nodes = xmalloc(m->cap_nodes * sizeof *m->nodes);
    m->n_nodes = 0;
    memset(m->hash, 0, (m->hash_mask + 1) * sizeof *m->hash);
    uint32_t *chain = NULL, cap = 0;
    for (uint32_t i = 0; i < m->n_tops; i++) {
        uint32_t t = m->tops[i];
        if (t == DONE) continue;
        uint32_t n = 0, x = t; /* the unmapped part of the chain, then intern it bottom-up */
        while (x != NIL && map[x] == NIL) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                chain = xrealloc(chain, cap * sizeof *chain);
            }
            chain[n++] = x;
            x = old[x].parent;
        }
        uint32_t p = x == NIL ? NIL : map[x];
        while (n) {
            uint32_t c = chain[--n];
            p = map[c] = intern(m, old[c].pos, p);
        }
        m->tops[i] = map[t];
    }
    free(chain);
    free(map);
    free(old);
    m->n_live = m->n_nodes;
}

static void set_tops_from_tb(gram_matcher *m, uint32_t off, uint32_t n) {
    if (n > m->cap_tops) {
        m->cap_tops = n;
        m->tops = xrealloc(m->tops, n * sizeof *m->tops);
    }
    memmove(m->tops, m->tb + off, n * sizeof *m->tops);
    m->n_tops = n;
}

gram_matcher *gram_matcher_new(const gram_grammar *g, const gram_vocab *v, he_error *err) {
    if (!g) return he_fail(err, HE_INVALID, "grammar: no grammar"), NULL;
    gram_matcher *m = xcalloc(1, sizeof *m);
    m->g = g;
    m->v = v;
    m->cap_nodes = 1024;
    m->nodes = xmalloc(m->cap_nodes * sizeof *m->nodes);
    m->stamp = xcalloc(m->cap_nodes, sizeof *m->stamp);
    rehash(m, 4096);
    m->cap_work = 256;
    m->work = xmalloc(m->cap_work * sizeof *m->work);
    m->cap_tb = 4096;
    m->tb = xmalloc(m->cap_tb * sizeof *m->tb);
    if (v) m->allowed = xcalloc(((size_t)v->n_vocab + 63) / 64, sizeof *m->allowed);
    if (g->n_markers) {
        m->marker_tok = xmalloc(g->n_markers * sizeof *m->marker_tok);
        for (uint32_t k = 0; k < g->n_markers; k++)
            m->marker_tok[k] = gram_vocab_special(v, g->marker[k], g->marker_len[k]);
    }
    gram_matcher_reset(m);
    if (m->n_tops == 0) {
        he_fail(err, HE_LIMIT, "grammar: the start rule expands to too many parse stacks");
        gram_matcher_free(m);
        return NULL;
    }
    return m;
}

static void *memdup_n(const void *src, size_t n) {
    if (!n) return NULL;
    void *d = xmalloc(n);
    memcpy(d, src, n);
    return d;
}

gram_matcher *gram_matcher_clone(const gram_matcher *src) {
    gram_matcher *m = xcalloc(1, sizeof *m);
    m->g = src->g;
    m->v = src->v;
    /* the state: the frame arena (tops index it), its hash, the stamps, the partial character */
    m->cap_nodes = src->cap_nodes;
    m->nodes = xmalloc(m->cap_nodes * sizeof *m->nodes);
    memcpy(m->nodes, src->nodes, src->n_nodes * sizeof *m->nodes);
    m->n_nodes = src->n_nodes;
    m->stamp = xcalloc(m->cap_nodes, sizeof *m->stamp);
    memcpy(m->stamp, src->stamp, src->n_nodes * sizeof *m->stamp);
    m->cur_stamp = src->cur_stamp;
    m->hash_mask = src->hash_mask;
    m->hash = memdup_n(src->hash, ((size_t)src->hash_mask + 1) * sizeof *m->hash);
    m->cap_tops = src->n_tops;
    m->tops = memdup_n(src->tops, src->n_tops * sizeof *m->tops);
    m->n_tops = src->n_tops;
    m->u = src->u;
    m->n_live = src->n_live;
    m->limit_hit = src->limit_hit;
    /* scratch: fresh (the memo, walk levels and mask cache are made on first use) */
    m->cap_work = src->cap_work;
    m->work = xmalloc(m->cap_work * sizeof *m->work);
    m->cap_tb = src->cap_tb;
    m->tb = xmalloc(m->cap_tb * sizeof *m->tb);
    if (m->v) m->allowed = xcalloc(((size_t)m->v->n_vocab + 63) / 64, sizeof *m->allowed);
    if (m->g->n_markers) m->marker_tok = memdup_n(src->marker_tok, m->g->n_markers * sizeof *m->marker_tok);
    return m;
}

void gram_matcher_free(gram_matcher *m) {
    if (!m) return;
    free(m->nodes);
    free(m->hash);
    free(m->stamp);
    free(m->work);
    free(m->tops);
    free(m->tb);
    free(m->lv);
    free(m->allowed);
    free(m->memo);
    free(m->memo_buf);
    for (int i = 0; i < MASK_CACHE; i++) {
        free(m->cache[i].key);
        free(m->cache[i].bits);
    }
    free(m->key);
    free(m->marker_tok);
    free(m);
}

void gram_matcher_reset(gram_matcher *m) {
    rollback(m, 0);
    m->n_live = 0;
    m->u.cp = m->u.need = m->u.min = 0;
    m->n_tb = 0;
    m->n_work = 0;
    m->limit_hit = false;
    next_stamp(m);
    const gram_grammar *g = m->g;
    for (uint32_t a = g->alt_off[g->root]; a < g->alt_off[g->root + 1]; a++)
        push_work(m, g->alts[a], NIL);
    int64_t k = closure(m);
    set_tops_from_tb(m, 0, k > 0 ? (uint32_t)k : 0);
    m->n_tb = 0;
}

/* Feeds bytes s[0, n) from the current state; on success the state moves (and 1 is
 * returned), else it is unchanged and 0 (does not fit) or -1 (limit) is returned. */
/* Bytes at least that finish the text from the stacks tops[0, n) with partial character u:
 * for each stack, the shortest completion of its top element's alternative plus that of
 * every return position below it (suf_min); the least over the stacks. */
static uint64_t need_of(const gram_matcher *m, const uint32_t *tops, uint32_t n, utf8_state u) {
    const gram_grammar *g = m->g;
    uint64_t best = GRAM_LEN_INF;
    for (uint32_t i = 0; i < n; i++) {
        if (tops[i] == DONE) {
            if (!u.need) return 0;
            continue;
        }
        uint32_t pos = m->nodes[tops[i]].pos;
        /* mid-character: the rest of this character, then what follows the class */
        uint64_t sum = u.need ? u.need + (uint64_t)g->suf_min[pos + 1] : g->suf_min[pos];
        for (uint32_t f = m->nodes[tops[i]].parent; f != NIL && sum < best; f = m->nodes[f].parent)
            sum += g->suf_min[m->nodes[f].pos];
        if (sum < best) best = sum;
    }
    return best;
}

static int feed_need(gram_matcher *m, const char *s, size_t n, bool commit, uint64_t *need);
static int feed_text(gram_matcher *m, const char *s, size_t n, bool commit, uint64_t *need, bool markers);

static int feed(gram_matcher *m, const char *s, size_t n, bool commit) {
    return feed_need(m, s, n, commit, NULL);
}

/* The marker that token t stands for in this grammar, -1 when none. */
static int marker_of(const gram_matcher *m, int32_t t) {
    for (uint32_t k = 0; k < m->g->n_markers; k++)
        if (m->marker_tok[k] == t) return (int)k;
    return -1;
}

/* Steps over marker k (one special token): as feed_need, for a code point that no text has. */
static int feed_marker(gram_matcher *m, uint32_t k, bool commit, uint64_t *need) {
    if (m->u.need) return 0; /* not in the middle of a character */
    uint32_t mark = m->n_nodes;
    m->n_tb = 0;
    tb_reserve(m, m->n_tops);
    memcpy(m->tb, m->tops, m->n_tops * sizeof *m->tb);
    m->n_tb = m->n_tops;
    int64_t got = advance_cp(m, 0, m->n_tops, GRAM_MARKER_BASE + k);
    int rc = got > 0 ? 1 : got == 0 ? 0 : -1;
    uint32_t off = m->n_tops, cnt = got > 0 ? (uint32_t)got : 0;
    if (rc == 1 && need) *need = need_of(m, m->tb + off, cnt, m->u);
    if (rc == 1 && commit) {
        set_tops_from_tb(m, off, cnt);
        if (m->n_nodes > 2 * m->n_live + 4096) compact(m);
    } else {
        rollback(m, mark);
    }
    m->n_tb = 0;
    return rc;
}

/* feed(), and *need (when not NULL) = need_of the state after the bytes. */
static int feed_need(gram_matcher *m, const char *s, size_t n, bool commit, uint64_t *need) {
    return feed_text(m, s, n, commit, need, false);
}

/* markers: a marker's text, where the marker may come, is read as the marker (text already
 * written, e.g. a lazy grammar's trigger); tokens never take this path. */
static int feed_text(gram_matcher *m, const char *s, size_t n, bool commit, uint64_t *need, bool markers) {
    uint32_t mark = m->n_nodes;
    m->n_tb = 0;
    tb_reserve(m, m->n_tops);
    memcpy(m->tb, m->tops, m->n_tops * sizeof *m->tb);
    m->n_tb = m->n_tops;
    uint32_t off = 0, cnt = m->n_tops;
    utf8_state u = m->u;
    int rc = 1;
    for (size_t i = 0; i < n && rc == 1; i++) {
        uint32_t no, nn;
        if (markers && !u.need) {
            bool took = false;
            for (uint32_t k = 0; k < m->g->n_markers && !took; k++) {
                uint32_t ml = m->g->marker_len[k];
                if (ml > n - i || memcmp(s + i, m->g->marker[k], ml)) continue;
                uint32_t at = m->n_tb;
                int64_t got = advance_cp(m, off, cnt, GRAM_MARKER_BASE + k);
                if (got < 0) {
                    rc = -1;
                    break;
                }
                if (got == 0) continue;
                memmove(m->tb, m->tb + at, (size_t)got * sizeof *m->tb);
                m->n_tb = (uint32_t)got;
                off = 0;
                cnt = (uint32_t)got;
                i += ml - 1;
                took = true;
            }
            if (rc != 1) break;
            if (took) continue;
        }
        rc = step_byte(m, off, cnt, &u, (uint8_t)s[i], &no, &nn);
        if (rc == 1) {
            /* keep only the live level at the bottom of tb */
            if (no != off) {
                memmove(m->tb, m->tb + no, nn * sizeof *m->tb);
                m->n_tb = nn;
            }
            off = 0;
            cnt = nn;
        }
    }
    if (rc == 1 && need) *need = need_of(m, m->tb + off, cnt, u);
    if (rc == 1 && commit) {
        set_tops_from_tb(m, off, cnt);
        m->u = u;
        if (m->n_nodes > 2 * m->n_live + 4096) compact(m); /* amortized: frames since the last */
    } else {
        rollback(m, mark);
    }
    m->n_tb = 0;
    return rc;
}

static const char *fail_reason(const gram_matcher *m) {
    return m->limit_hit ? "the grammar is too ambiguous here (parse stack limit)"
                        : "the text does not fit the grammar";
}

bool gram_matcher_can_end(const gram_matcher *m) {
    if (m->u.need) return false;
    for (uint32_t i = 0; i < m->n_tops; i++)
        if (m->tops[i] == DONE) return true;
    return false;
}

bool gram_matcher_must_end(const gram_matcher *m) {
    return gram_matcher_can_end(m) && m->n_tops == 1;
}

int gram_matcher_accept_bytes(gram_matcher *m, const char *s, size_t n, he_error *err) {
    m->limit_hit = false;
    int rc = feed_text(m, s, n, true, NULL, m->g->n_markers > 0);
    if (rc == 1) return 0;
    return he_fail(err, rc < 0 ? HE_LIMIT : HE_INVALID, "grammar: %s", fail_reason(m));
}

bool gram_matcher_allows(gram_matcher *m, int32_t t) {
    const gram_vocab *v = m->v;
    if (!v || t < 0 || t >= v->n_vocab) return false;
    if (v->kind[t] == GRAM_TOKEN_EOG) return gram_matcher_can_end(m);
    int k = m->g->n_markers ? marker_of(m, t) : -1;
    if (k >= 0 && feed_marker(m, (uint32_t)k, false, NULL) == 1) return true;
    if (v->kind[t] != GRAM_TOKEN_TEXT || v->piece_len[t] == 0) return false;
    return feed(m, v->piece[t], v->piece_len[t], false) == 1;
}

int gram_matcher_accept(gram_matcher *m, int32_t t, he_error *err) {
    const gram_vocab *v = m->v;
    if (!v || t < 0 || t >= v->n_vocab)
        return he_fail(err, HE_INVALID, "grammar: token %d is out of range", t);
    if (v->kind[t] == GRAM_TOKEN_EOG) {
        if (gram_matcher_can_end(m)) return 0;
        return he_fail(err, HE_INVALID,
                       "grammar: end of generation before the grammar is complete");
    }
    m->limit_hit = false;
    int k = m->g->n_markers ? marker_of(m, t) : -1;
    if (k >= 0) {
        int mrc = feed_marker(m, (uint32_t)k, true, NULL);
        if (mrc == 1) return 0;
        if (mrc < 0) return he_fail(err, HE_LIMIT, "grammar: token %d: %s", t, fail_reason(m));
    }
    if (v->kind[t] != GRAM_TOKEN_TEXT || v->piece_len[t] == 0)
        return he_fail(err, HE_INVALID, "grammar: token %d is a control token", t);
    int rc = feed(m, v->piece[t], v->piece_len[t], true);
    if (rc == 1) return 0;
    return he_fail(err, rc < 0 ? HE_LIMIT : HE_INVALID, "grammar: token %d: %s", t, fail_reason(m));
}

/* ---- the mask ---- */

/* Leaving a trie node: its frames stay (they are shared with later siblings) unless the walk
 * has made too many; a rollback clears the memo, whose entries may name those frames. */
static void walk_release(gram_matcher *m, uint32_t mark, uint32_t mark0) {
    if (m->n_nodes - mark0 <= WALK_KEEP) return;
    rollback(m, mark);
    if (++m->memo_gen == 0) {
        memset(m->memo, 0, MEMO_SIZE * sizeof *m->memo);
        m->memo_gen = 1;
    }
    m->n_memo_buf = 0;
}

/* The state as a key: u, then each stack's positions top to bottom. 0 when too long. */
static uint32_t state_key(gram_matcher *m) {
    uint32_t n = 0;
    if (m->cap_key < MASK_KEY_MAX) {
        m->cap_key = MASK_KEY_MAX;
        m->key = xrealloc(m->key, m->cap_key * sizeof *m->key);
    }
    m->key[n++] = m->u.cp;
    m->key[n++] = m->u.need << 24 | m->u.min;
    for (uint32_t i = 0; i < m->n_tops; i++) {
        for (uint32_t t = m->tops[i]; t != NIL && t != DONE; t = m->nodes[t].parent) {
            if (n + 2 >= MASK_KEY_MAX) return 0;
            m->key[n++] = m->nodes[t].pos;
        }
        m->key[n++] = m->tops[i] == DONE ? DONE : NIL;
    }
    return n;
}

static int32_t apply_mask(const gram_matcher *m, float *logits) {
    const gram_vocab *v = m->v;
    int32_t n_allowed = 0;
    for (int32_t t = 0; t < v->n_vocab; t++) {
        if ((m->allowed[t >> 6] >> (t & 63)) & 1) {
            n_allowed++;
        } else if (logits) {
            logits[t] = -INFINITY;
        }
    }
    return n_allowed;
}

int32_t gram_matcher_mask(gram_matcher *m, float *logits) {
    const gram_vocab *v = m->v;
    if (!v) return 0;
    size_t words = ((size_t)v->n_vocab + 63) / 64;
    uint32_t key_n = state_key(m);
    for (int i = 0; key_n && i < MASK_CACHE; i++) {
        struct mask_entry *e = &m->cache[i];
        if (e->key_n == key_n && !memcmp(e->key, m->key, key_n * sizeof *m->key)) {
            memcpy(m->allowed, e->bits, words * sizeof *m->allowed);
            return apply_mask(m, logits);
        }
    }
    memset(m->allowed, 0, words * sizeof *m->allowed);
    m->limit_hit = false;
    uint32_t mark0 = m->n_nodes;
    if (!m->memo) m->memo = xcalloc(MEMO_SIZE, sizeof *m->memo);
    if (++m->memo_gen == 0) { /* wrapped: forget every entry */
        memset(m->memo, 0, MEMO_SIZE * sizeof *m->memo);
        m->memo_gen = 1;
    }
    m->n_memo_buf = 0;
    m->memo_base = mark0 ? mark0 : 1;
    m->n_tb = 0;
    tb_reserve(m, m->n_tops);
    memcpy(m->tb, m->tops, m->n_tops * sizeof *m->tb);
    m->n_tb = m->n_tops;
    uint32_t depth = 0;
    if (m->cap_lv < 64) {
        m->cap_lv = 64;
        m->lv = xrealloc(m->lv, m->cap_lv * sizeof *m->lv);
    }
    level *L = &m->lv[0];
    L->node = 0;
    L->child = 1;
    L->tops = 0;
    L->n_tops = m->n_tops;
    L->u = m->u;
    L->mark_nodes = mark0;
    L->mark_tb = 0;
    const gram_trie_node *tn = v->nodes;
    for (;;) {
        L = &m->lv[depth];
        if (L->child >= tn[L->node].end) { /* all children done */
            walk_release(m, L->mark_nodes, mark0);
            m->n_tb = L->mark_tb;
            if (depth == 0) break;
            depth--;
            continue;
        }
        uint32_t c = L->child;
        L->child = tn[c].end;
        uint32_t mark_nodes = m->n_nodes, mark_tb = m->n_tb;
        utf8_state u = L->u;
        uint32_t no, nn;
        if (step_byte(m, L->tops, L->n_tops, &u, tn[c].byte, &no, &nn) != 1) {
            walk_release(m, mark_nodes, mark0);
            m->n_tb = mark_tb;
            continue;
        }
        for (uint32_t k = tn[c].tok_begin; k < tn[c].tok_end; k++) {
            int32_t t = v->tok[k];
            m->allowed[t >> 6] |= 1ull << (t & 63);
        }
        if (c + 1 >= tn[c].end) { /* a leaf */
            walk_release(m, mark_nodes, mark0);
            m->n_tb = mark_tb;
            continue;
        }
        if (++depth == m->cap_lv) {
            m->cap_lv *= 2;
            m->lv = xrealloc(m->lv, m->cap_lv * sizeof *m->lv);
        }
        level *N = &m->lv[depth];
        N->node = c;
        N->child = c + 1;
        N->tops = no;
        N->n_tops = nn;
        N->u = u;
        N->mark_nodes = mark_nodes;
        N->mark_tb = mark_tb;
    }
    rollback(m, mark0);
    m->n_tb = 0;
    m->memo_base = 0;
    if (gram_matcher_can_end(m))
        for (int32_t i = 0; i < v->n_eog; i++)
            m->allowed[v->eog[i] >> 6] |= 1ull << (v->eog[i] & 63);
    for (uint32_t k = 0; k < m->g->n_markers; k++) { /* the special tokens the grammar names */
        int32_t t = m->marker_tok[k];
        if (t >= 0 && feed_marker(m, k, false, NULL) == 1) m->allowed[t >> 6] |= 1ull << (t & 63);
    }
    if (key_n && !m->limit_hit) {
        struct mask_entry *e = &m->cache[m->cache_next++ % MASK_CACHE];
        e->key = xrealloc(e->key, key_n * sizeof *e->key);
        memcpy(e->key, m->key, key_n * sizeof *e->key);
        e->key_n = key_n;
        if (!e->bits) e->bits = xmalloc(words * sizeof *e->bits);
        memcpy(e->bits, m->allowed, words * sizeof *e->bits);
    }
    return apply_mask(m, logits);
}

/* ---- sampling ---- */

int32_t gram_sample(gram_matcher *m, sample_chain *s, const float *logits, float *scratch,
                    he_error *err) {
    int32_t t = sample_chain_sample(s, logits);
    if (!gram_matcher_allows(m, t)) {
        int32_t n_vocab = m->v->n_vocab;
        memcpy(scratch, logits, (size_t)n_vocab * sizeof *scratch);
        if (gram_matcher_mask(m, scratch) == 0) {
            if (gram_matcher_can_end(m))
                return he_fail(err, HE_INVALID,
                               "grammar: complete, and the vocab has no end-of-generation token"),
                       -1;
            return he_fail(err, HE_INVALID, "grammar: no token can continue the text (a dead end)"),
                   -1;
        }
        t = sample_chain_sample(s, scratch);
        if (t < 0 || t >= n_vocab || !((m->allowed[t >> 6] >> (t & 63)) & 1)) {
            /* the chain cannot see the mask (e.g. every allowed logit was -inf): best allowed */
            int32_t best = -1;
            for (int32_t i = 0; i < n_vocab; i++)
                if (((m->allowed[i >> 6] >> (i & 63)) & 1) &&
                    (best < 0 || logits[i] > logits[best]))
                    best = i;
            t = best;
        }
    }
    if (gram_matcher_accept(m, t, err)) return -1;
    return t;
}

/* ---- room: finishing within a number of tokens ---- */

int64_t gram_matcher_need(const gram_matcher *m) {
    if (gram_matcher_can_end(m)) return 0;
    uint64_t n = need_of(m, m->tops, m->n_tops, m->u);
    return n >= GRAM_LEN_INF ? -1 : (int64_t)n;
}

/* The bytes need_of after token t, or -1 when t is not allowed. */
static int64_t need_after(gram_matcher *m, int32_t t) {
    const gram_vocab *v = m->v;
    if (t < 0 || t >= v->n_vocab) return -1;
    if (v->kind[t] == GRAM_TOKEN_EOG) return gram_matcher_can_end(m) ? 0 : -1;
    uint64_t need = 0;
    int k = m->g->n_markers ? marker_of(m, t) : -1;
    if (k >= 0 && feed_marker(m, (uint32_t)k, false, &need) == 1) return (int64_t)need;
    if (v->kind[t] != GRAM_TOKEN_TEXT || v->piece_len[t] == 0) return -1;
    if (feed_need(m, v->piece[t], v->piece_len[t], false, &need) != 1) return -1;
    return (int64_t)need;
}

int32_t gram_force_token(const gram_vocab *v, gram_matcher *m, const char *text, size_t n, size_t *used) {
    /* the trie along text: the deepest node whose token the grammar (if any) allows */
    const gram_trie_node *tn = v->nodes;
    uint32_t node = 0;
    int32_t best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = node + 1, found = 0;
        for (; c < tn[node].end; c = tn[c].end)
            if (tn[c].byte == (uint8_t)text[i]) {
                found = 1;
                break;
            }
        if (!found) break;
        node = c;
        for (uint32_t k = tn[node].tok_begin; k < tn[node].tok_end; k++) {
            int32_t t = v->tok[k];
            if (!m || gram_matcher_allows(m, t)) {
                best = t;
                best_len = i + 1;
                break;
            }
        }
    }
    if (used) *used = best_len;
    return best;
}

/* A token that starts the grammar's shortest completion: the cheapest stack's next character
 * (gram_class_pick), or, in the middle of a character, a continuation byte that fits. */
static int32_t shortest_token(gram_matcher *m) {
    const gram_grammar *g = m->g;
    const gram_vocab *v = m->v;
    if (m->u.need) {
        for (uint32_t b = 0x80; b < 0xC0; b++) {
            char c = (char)b;
            size_t used;
            int32_t t = gram_force_token(v, m, &c, 1, &used);
            if (t >= 0) return t;
        }
        return -1;
    }
    /* complete already: the shortest completion is to stop */
    if (gram_matcher_can_end(m)) return v->n_eog > 0 ? v->eog[0] : -1;
    uint64_t best = GRAM_LEN_INF;
    uint32_t best_top = NIL;
    for (uint32_t i = 0; i < m->n_tops; i++) {
        if (m->tops[i] == DONE) continue;
        uint64_t one = need_of(m, &m->tops[i], 1, m->u);
        if (one < best) best = one, best_top = m->tops[i];
    }
    if (best_top == NIL) return -1;
    uint32_t cp;
    if (!gram_class_pick(g, g->elems[m->nodes[best_top].pos].val, &cp)) return -1;
    if (cp >= GRAM_MARKER_BASE) /* a marker: its special token */
        return cp - GRAM_MARKER_BASE < g->n_markers ? m->marker_tok[cp - GRAM_MARKER_BASE] : -1;
    char b[4];
    size_t n;
    if (cp < 0x80) b[0] = (char)cp, n = 1;
    else if (cp < 0x800) b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    size_t used;
    return gram_force_token(v, m, b, n, &used);
}

int32_t gram_sample_room(gram_matcher *m, sample_chain *s, const float *logits, float *scratch, int64_t room,
                         he_error *err) {
    int64_t need = room > 0 ? gram_matcher_need(m) : -1;
    /* no limit, or already past saving: the plain path */
    if (need < 0 || need > room) return gram_sample(m, s, logits, scratch, err);
    /* the chain's own pick, when it leaves room to finish (the usual case: one check) */
    int32_t t = sample_chain_sample(s, logits);
    int64_t after = need_after(m, t);
    if (after < 0 || after > room - 1) {
        int32_t n_vocab = m->v->n_vocab;
        memcpy(scratch, logits, (size_t)n_vocab * sizeof *scratch);
        t = -1;
        if (gram_matcher_mask(m, scratch) > 0) {
            t = sample_chain_sample(s, scratch);
            if (t < 0 || t >= n_vocab || !((m->allowed[t >> 6] >> (t & 63)) & 1)) t = -1;
            after = t >= 0 ? need_after(m, t) : -1;
            if (after < 0 || after > room - 1) t = -1;
        }
        /* The model's choice would leave too little room: take the first step of the
         * shortest completion instead. need <= room keeps it possible: that step's
         * character costs as many bytes as it removes from need, and at least one. */
        if (t < 0) t = shortest_token(m);
        if (t < 0) return gram_sample(m, s, logits, scratch, err);
    }
    if (gram_matcher_accept(m, t, err)) return -1;
    return t;
}
