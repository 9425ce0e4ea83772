/* length.c — how long the sentences of a grammar are, in bytes of UTF-8.
 *
 * The server must know how much room a forced output needs: a tool call under tool_choice
 * "required" must still arrive when max_tokens is near, and a reasoning block must close in
 * time for it. Every token a grammar lets through spells at least one byte (empty pieces are
 * never allowed), so bytes bound tokens from above: a text of B bytes takes at most B tokens
 * whenever the vocab can spell it byte by byte (byte-level BPE vocabs have all 256 bytes;
 * SentencePiece vocabs have byte-fallback tokens).
 *
 * - The shortest completion of every element (suf_min) is computed once per grammar, so a
 *   matcher knows in O(stack depth) how many bytes at least still finish its text.
 * - The longest sentence of a rule (gram_rule_bounds) is computed on demand: unbounded when the
 *   rule reaches a cycle (every cycle consumes text: left recursion is refused). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "grammar/grammar_internal.h"

static uint32_t sat_add(uint32_t a, uint32_t b) {
    uint64_t s = (uint64_t)a + b;
    return s >= GRAM_LEN_INF ? GRAM_LEN_INF : (uint32_t)s;
}

static uint32_t utf8_len(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

static bool cp_ok(const gram_grammar *g, uint32_t c, uint32_t cp) {
    /* above 0x10FFFF: a marker (one token; counted as 4 bytes, at least its one token) */
    return !(cp >= 0xD800 && cp <= 0xDFFF) && gram_class_has(g, c, cp);
}

bool gram_class_pick(const gram_grammar *g, uint32_t c, uint32_t *cp) {
    /* printable ASCII first (a forced completion should read as text), then the rest */
    for (uint32_t x = 0x20; x < 0x7f; x++)
        if (cp_ok(g, c, x)) return *cp = x, true;
    for (uint32_t x = 0; x < 0x80; x++)
        if (cp_ok(g, c, x)) return *cp = x, true;
    /* The smallest member >= 0x80 of a union of intervals (or of its complement) is the start
     * of a UTF-8 length band, a range's low end, just past a range's high end, or just past
     * the surrogates. */
    const gram_class *k = &g->classes[c];
    const uint32_t *r = g->ranges + k->range_off;
    uint32_t best = UINT32_MAX;
    uint32_t fixed[] = {0x80, 0x800, 0x10000, 0xE000};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i] < best && cp_ok(g, c, fixed[i])) best = fixed[i];
    for (uint32_t i = 0; i < k->n_ranges; i++) {
        uint32_t cand[2] = {r[2 * i], r[2 * i + 1] + 1};
        for (int j = 0; j < 2; j++)
            if (cand[j] >= 0x80 && cand[j] < best && cp_ok(g, c, cand[j])) best = cand[j];
    }
    if (best == UINT32_MAX) return false;
    *cp = best;
    return true;
}

/* Shortest text of element k (one character, or a rule's shortest sentence). */
static uint32_t elem_min(const gram_grammar *g, const uint32_t *rule_min, uint32_t k) {
    gram_elem e = g->elems[k];
    if (e.type == GE_CHAR) return g->cls_min[e.val] == 0xff ? GRAM_LEN_INF : g->cls_min[e.val];
    if (e.type == GE_RULE) return rule_min[e.val];
    return 0;
}

/* suf_min over rule r's elements from its current rule_min; returns the rule's shortest. */
static uint32_t rule_pass(gram_grammar *g, uint32_t r) {
    uint32_t end = g->rule_start[r];
    while (g->elems[end].type != GE_END)
        end++;
    uint32_t best = GRAM_LEN_INF, acc = 0;
    g->suf_min[end] = 0;
    for (uint32_t k = end; k-- > g->rule_start[r];) {
        if (g->elems[k].type == GE_ALT) {
            g->suf_min[k] = 0;
            if (acc < best) best = acc; /* the alternative after this GE_ALT */
            acc = 0;
            continue;
        }
        acc = sat_add(acc, elem_min(g, g->rule_min, k));
        g->suf_min[k] = acc;
    }
    return acc < best ? acc : best;
}

void gram_lengths_init(gram_grammar *g) {
    g->cls_min = xmalloc((g->n_classes ? g->n_classes : 1) * sizeof *g->cls_min);
    for (uint32_t c = 0; c < g->n_classes; c++) {
        uint32_t cp;
        g->cls_min[c] = gram_class_pick(g, c, &cp) ? (uint8_t)utf8_len(cp) : 0;
    }
    g->rule_min = xmalloc((g->n_rules ? g->n_rules : 1) * sizeof *g->rule_min);
    g->suf_min = xmalloc((g->n_elems ? g->n_elems : 1) * sizeof *g->suf_min);
    for (uint32_t r = 0; r < g->n_rules; r++)
        g->rule_min[r] = GRAM_LEN_INF;
    /* An empty class can never match: as long as anything can be (GRAM_LEN_INF). */
    for (uint32_t c = 0; c < g->n_classes; c++)
        if (!g->cls_min[c]) g->cls_min[c] = 0xff;
    /* Shortest lengths only decrease: relax rules until nothing changes, revisiting the rules
     * that refer to one that changed (a worklist over the reverse references). */
    uint32_t *n_ref = xcalloc((size_t)g->n_rules + 1, sizeof *n_ref);
    for (uint32_t r = 0; r < g->n_rules; r++)
        for (uint32_t k = g->rule_start[r]; g->elems[k].type != GE_END; k++)
            if (g->elems[k].type == GE_RULE) n_ref[g->elems[k].val + 1]++;
    for (uint32_t r = 0; r < g->n_rules; r++)
        n_ref[r + 1] += n_ref[r];
    uint32_t *refs = xmalloc((n_ref[g->n_rules] ? n_ref[g->n_rules] : 1) * sizeof *refs);
    uint32_t *fill = xmalloc((g->n_rules ? g->n_rules : 1) * sizeof *fill);
    memcpy(fill, n_ref, g->n_rules * sizeof *fill);
    for (uint32_t r = 0; r < g->n_rules; r++)
        for (uint32_t k = g->rule_start[r]; g->elems[k].type != GE_END; k++)
            if (g->elems[k].type == GE_RULE) refs[fill[g->elems[k].val]++] = r;
    uint32_t *queue = xmalloc((g->n_rules ? g->n_rules : 1) * sizeof *queue);
    bool *queued = xcalloc(g->n_rules ? g->n_rules : 1, sizeof *queued);
    uint32_t head = 0, n_q = 0;
    for (uint32_t r = 0; r < g->n_rules; r++)
        queue[n_q++] = r, queued[r] = true;
    while (n_q) {
        uint32_t r = queue[head];
        head = (head + 1) % g->n_rules;
        n_q--;
        queued[r] = false;
        uint32_t m = rule_pass(g, r);
        if (m >= g->rule_min[r]) continue;
        g->rule_min[r] = m;
        for (uint32_t i = n_ref[r]; i < n_ref[r + 1]; i++) {
            uint32_t q = refs[i];
            if (queued[q]) continue;
            queued[q] = true;
            queue[(head + n_q++) % g->n_rules] = q;
        }
    }
    for (uint32_t r = 0; r < g->n_rules; r++)
        rule_pass(g, r); /* suf_min from the final rule_min */
    free(n_ref);
    free(refs);
    free(fill);
    free(queue);
    free(queued);
}

/* ---- the longest sentence ---- */

static uint32_t class_max(const gram_grammar *g, uint32_t c) {
    const gram_class *k = &g->classes[c];
    if (k->negate) return 4;
    uint32_t best = 0;
    for (uint32_t x = 0; x < 128 && !best; x++)
        if (gram_class_has(g, c, x)) best = 1;
    const uint32_t *r = g->ranges + k->range_off;
    for (uint32_t i = 0; i < k->n_ranges; i++) {
        uint32_t l = utf8_len(r[2 * i + 1] > 0x10FFFF ? 0x10FFFF : r[2 * i + 1]);
        if (l > best) best = l;
    }
    return best;
}

/* state: 0 unvisited, 1 on the DFS path, 2 done (max in out[r]). */
static uint32_t rule_max(const gram_grammar *g, uint32_t r, uint8_t *state, uint32_t *out, uint32_t depth) {
    if (state[r] == 2) return out[r];
    if (state[r] == 1 || depth > GRAM_MAX_RULES) return GRAM_LEN_INF; /* a cycle: unbounded */
    state[r] = 1;
    uint32_t best = 0, acc = 0;
    for (uint32_t k = g->rule_start[r];; k++) {
        gram_elem e = g->elems[k];
        if (e.type == GE_END || e.type == GE_ALT) {
            if (acc > best) best = acc;
            acc = 0;
            if (e.type == GE_END) break;
            continue;
        }
        if (acc >= GRAM_LEN_INF) continue;
        uint32_t l = e.type == GE_CHAR ? class_max(g, e.val) : rule_max(g, e.val, state, out, depth + 1);
        acc = sat_add(acc, l);
    }
    state[r] = 2;
    out[r] = best;
    return best;
}

int gram_rule_bounds(const gram_grammar *g, const char *name, int64_t *min_bytes, int64_t *max_bytes) {
    uint32_t r = g->root;
    if (name) {
        for (r = 0; r < g->n_rules && strcmp(g->rule_name[r], name); r++) {
        }
        if (r == g->n_rules) return -1;
    }
    if (min_bytes) *min_bytes = g->rule_min[r] >= GRAM_LEN_INF ? -1 : (int64_t)g->rule_min[r];
    if (max_bytes) {
        uint8_t *state = xcalloc(g->n_rules, 1);
        uint32_t *out = xmalloc(g->n_rules * sizeof *out);
        uint32_t m = rule_max(g, r, state, out, 0);
        *max_bytes = m >= GRAM_LEN_INF ? -1 : (int64_t)m;
        free(state);
        free(out);
    }
    return 0;
}
