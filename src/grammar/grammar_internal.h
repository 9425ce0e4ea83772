/* grammar_internal.h — the compiled grammar, the vocabulary trie and the limits, shared by
 * gbnf.c (parser/compiler), match.c (matcher, mask) and vocab.c (token index).
 *
 * A compiled grammar is one flat array of elements. Rule r's body starts at rule_start[r]:
 * alternatives separated by GE_ALT and ended by GE_END. Terminals are GE_CHAR elements naming a
 * character class (a single character is a one-range class). Repetitions and groups are
 * compiled away into generated rules (x* -> R ::= x R | ; x{2,4} -> x x R2, R2 ::= x R1 | ...),
 * so the matcher only knows sequences, alternatives, rule references and classes. */
#ifndef HEARTH_GRAMMAR_INTERNAL_H
#define HEARTH_GRAMMAR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "grammar/grammar.h"

/* Limits: a hostile grammar fails to parse instead of exhausting memory. */
#define GRAM_MAX_TEXT (1u << 20)  /* grammar text bytes */
#define GRAM_MAX_RULES 20000      /* rules, generated ones included */
#define GRAM_MAX_ELEMS (1u << 20) /* compiled elements */
#define GRAM_MAX_CLASSES 65536    /* character classes */
#define GRAM_MAX_NEST 64          /* ( ) nesting depth */
#define GRAM_MAX_REPEAT 10000     /* m and n in {m,n} */
#define GRAM_MAX_STACKS 4096      /* parse stacks alive at once (ambiguity bound) */
#define GRAM_MAX_NODES (1u << 22) /* stack frames in one matcher's arena */
#define GRAM_MAX_WORK (1u << 18)  /* closure steps for one code point */

enum { GE_END = 0, GE_ALT = 1, GE_RULE = 2, GE_CHAR = 3 };

/* Markers: `@"<tool_call>"` in GBNF is one special token (a control or user-defined token of
 * the vocab whose text is "<tool_call>"), not text. Marker k of a grammar is the code point
 * GRAM_MARKER_BASE + k, beyond Unicode, so no text ever decodes to it: only the special token
 * steps over it (and gram_matcher_accept_bytes, which reads text already written, at the
 * marker's text). Negated classes never match a marker. */
#define GRAM_MARKER_BASE 0x110000u
#define GRAM_MAX_MARKERS 256

typedef struct {
    uint8_t type;
    uint32_t val; /* GE_RULE: rule index; GE_CHAR: class index */
} gram_elem;

typedef struct {
    uint64_t ascii[2]; /* code points 0..127 (negation applied) */
    bool negate;       /* applies to the ranges (code points >= 128) */
    uint32_t n_ranges;
    uint32_t range_off; /* into gram_grammar.ranges: pairs lo, hi (inclusive) */
} gram_class;

struct gram_grammar {
    gram_elem *elems;
    uint32_t n_elems;
    uint32_t *rule_start; /* n_rules */
    char **rule_name;     /* n_rules; generated rules get "name-N" */
    uint32_t n_rules;
    uint32_t *alt_off; /* n_rules + 1: rule r's alternatives start at alts[alt_off[r] ..] */
    uint32_t *alts;    /* element index of each alternative's first element */
    uint32_t root;
    gram_class *classes;
    uint32_t n_classes;
    uint32_t *ranges;
    uint32_t n_ranges;
    /* Lengths (length.c), in bytes of UTF-8, GRAM_LEN_INF when unbounded or impossible:
     * cls_min[c] the shortest character of class c; rule_min[r] the shortest sentence of rule
     * r; suf_min[k] the shortest text that completes element k's alternative from element k
     * on (0 at GE_ALT / GE_END). They let a matcher say how many bytes, at least, finish the
     * text from its state (gram_matcher_need). */
    uint8_t *cls_min;
    uint32_t *rule_min;
    uint32_t *suf_min;
    /* markers: text of marker k (the code point GRAM_MARKER_BASE + k) */
    char **marker;
    uint32_t *marker_len;
    uint32_t n_markers;
};

#define GRAM_LEN_INF (UINT32_MAX / 4)

/* Fills cls_min, rule_min and suf_min (gbnf.c calls it once the grammar is compiled). */
void gram_lengths_init(gram_grammar *g);
/* The smallest code point of class c whose UTF-8 is cls_min[c] bytes, preferring printable
 * ASCII; false when the class is empty. */
bool gram_class_pick(const gram_grammar *g, uint32_t c, uint32_t *cp);

/* Whether class c matches code point cp. */
static inline bool gram_class_has(const gram_grammar *g, uint32_t c, uint32_t cp) {
    const gram_class *k = &g->classes[c];
    if (cp < 128) return (k->ascii[cp >> 6] >> (cp & 63)) & 1;
    const uint32_t *r = g->ranges + k->range_off;
    bool in = false;
    for (uint32_t i = 0; i < k->n_ranges; i++)
        if (cp >= r[2 * i] && cp <= r[2 * i + 1]) {
            in = true;
            break;
        }
    if (cp > 0x10FFFF) return in && !k->negate; /* a marker: only its own class */
    return in != k->negate;
}

/* Vocabulary: token pieces in a trie laid out in preorder. Node i's subtree is [i, end);
 * its first child (if any) is i + 1, the next sibling of child c is c's end. Tokens whose
 * piece ends at node i are tok[tok_begin, tok_end). */
typedef struct {
    uint32_t end;
    uint32_t tok_begin, tok_end;
    uint8_t byte;
} gram_trie_node;

struct gram_vocab {
    int32_t n_vocab;
    uint8_t *kind; /* GRAM_TOKEN_* */
    char **piece;  /* bytes of each token */
    uint32_t *piece_len;
    gram_trie_node *nodes;
    uint32_t n_nodes;
    int32_t *tok; /* token ids in trie order (only TEXT tokens with a non-empty piece) */
    int32_t *eog; /* EOG token ids */
    int32_t n_eog;
    int32_t *special; /* tokens a grammar marker may name (control and user-defined tokens) */
    int32_t n_special;
    uint32_t max_piece; /* the longest TEXT piece, in bytes */
};

#endif
