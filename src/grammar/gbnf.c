/* gbnf.c — GBNF text -> compiled grammar (grammar_internal.h).
 *
 * A recursive-descent parser over the text, writing each rule's elements into its own growing
 * array, then one pass that concatenates them, checks that every referenced rule is defined,
 * and refuses left recursion (the matcher expands rule references eagerly, so a left-recursive
 * rule would expand forever). Repetitions become generated rules here, with counts and sizes
 * bounded by the GRAM_MAX_* limits so a short hostile text cannot compile into gigabytes.
 *
 *   grammar     ::= (rule | blank-line)*
 *   rule        ::= name ws '::=' alternates newline
 *   alternates  ::= sequence ('|' sequence)*
 *   sequence    ::= (item postfix?)*
 *   item        ::= '"' literal '"' | '@' '"' literal '"' | '[' '^'? class ']' | '.' | name
 *                 | '(' alternates ')'
 * `@"text"` is a marker: the one special token whose text is `text` (grammar_internal.h).
 *   postfix     ::= '*' | '+' | '?' | '{' int (',' int?)? '}'
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "grammar/grammar_internal.h"

typedef struct {
    gram_elem *e;
    uint32_t n, cap;
} elem_vec;

typedef struct {
    char *name;
    elem_vec body;
    bool defined;
    size_t first_ref; /* text offset of the first reference (for "undefined rule") */
} prule;

typedef struct {
    const char *s;
    size_t n, i;
    prule *rules;
    uint32_t n_rules, cap_rules;
    gram_class *classes;
    uint32_t n_classes, cap_classes;
    uint32_t *ranges;
    uint32_t n_ranges, cap_ranges;
    uint32_t total_elems;
    uint32_t *names; /* hash of user rule names -> rule index + 1 (0: empty) */
    uint32_t names_cap, n_names;
    int depth;
    he_error *err;
    bool failed;
    char **marker; /* @"..." texts, each once */
    uint32_t *marker_len;
    uint32_t n_markers;
} parser;

/* ---- errors ---- */

static void where(const char *s, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

__attribute__((format(printf, 3, 4))) static int perr(parser *p, size_t off, const char *fmt, ...) {
    if (p->failed) return -1;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(p->s, off < p->n ? off : p->n, &line, &col);
    he_fail(p->err, HE_INVALID, "grammar:%d:%d: %s", line, col, msg);
    return -1;
}

/* ---- building blocks ---- */

static int push_elem(parser *p, elem_vec *v, uint8_t type, uint32_t val) {
    if (p->total_elems >= GRAM_MAX_ELEMS)
        return perr(p, p->i, "grammar too large (more than %u elements after expansion)",
                    GRAM_MAX_ELEMS);
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->e = xrealloc(v->e, v->cap * sizeof *v->e);
    }
    v->e[v->n].type = type;
    v->e[v->n].val = val;
    v->n++;
    p->total_elems++;
    return 0;
}

static int64_t new_rule(parser *p, const char *name, size_t nlen) {
    if (p->n_rules >= GRAM_MAX_RULES)
        return perr(p, p->i, "too many rules (more than %d, generated ones included)",
                    GRAM_MAX_RULES);
    if (p->n_rules == p->cap_rules) {
        p->cap_rules = p->cap_rules ? p->cap_rules * 2 : 16;
        p->rules = xrealloc(p->rules, p->cap_rules * sizeof *p->rules);
    }
    prule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = xstrndup(name, nlen);
    return p->n_rules++;
}

/* A generated rule (group, repetition): named after the rule being defined. */
static int64_t gen_rule(parser *p, uint32_t parent) {
    char buf[96];
    snprintf(buf, sizeof buf, "%.60s~%u", p->rules[parent].name,
             p->n_rules); /* "~": never a user name */
    int64_t r = new_rule(p, buf, strlen(buf));
    if (r >= 0) p->rules[r].defined = true;
    return r;
}

static uint32_t name_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The rule named name[0, nlen), created (undefined, first referenced at off) if new. A hash
 * table keeps this O(1): a grammar may name thousands of rules. */
static int64_t find_or_add_rule(parser *p, const char *name, size_t nlen, size_t off) {
    if ((p->n_names + 1) * 2 > p->names_cap) {
        uint32_t cap = p->names_cap ? p->names_cap * 2 : 64;
        uint32_t *t = xcalloc(cap, sizeof *t);
        for (uint32_t i = 0; i < p->names_cap; i++) {
            uint32_t k = p->names[i];
            if (!k) continue;
            const char *nm = p->rules[k - 1].name;
            uint32_t h = name_hash(nm, strlen(nm)) & (cap - 1);
            while (t[h])
                h = (h + 1) & (cap - 1);
            t[h] = k;
        }
        free(p->names);
        p->names = t;
        p->names_cap = cap;
    }
    uint32_t h = name_hash(name, nlen) & (p->names_cap - 1);
    for (; p->names[h]; h = (h + 1) & (p->names_cap - 1)) {
        const char *nm = p->rules[p->names[h] - 1].name;
        if (strlen(nm) == nlen && !memcmp(nm, name, nlen)) return p->names[h] - 1;
    }
    int64_t r = new_rule(p, name, nlen);
    if (r < 0) return r;
    p->rules[r].first_ref = off;
    p->names[h] = (uint32_t)r + 1;
    p->n_names++;
    return r;
}

/* Classes: ranges collected into a temporary list, then folded into a gram_class. */
typedef struct {
    uint32_t lo[64], hi[64]; /* small classes stay here */
    uint32_t *xlo, *xhi;     /* overflow */
    uint32_t n, cap;
} range_list;

static void rl_add(range_list *rl, uint32_t lo, uint32_t hi) {
    if (rl->n < 64) {
        rl->lo[rl->n] = lo;
        rl->hi[rl->n] = hi;
    } else {
        uint32_t k = rl->n - 64;
        if (k == rl->cap) {
            rl->cap = rl->cap ? rl->cap * 2 : 64;
            rl->xlo = xrealloc(rl->xlo, rl->cap * sizeof *rl->xlo);
            rl->xhi = xrealloc(rl->xhi, rl->cap * sizeof *rl->xhi);
        }
        rl->xlo[k] = lo;
        rl->xhi[k] = hi;
    }
    rl->n++;
}

static void rl_get(const range_list *rl, uint32_t i, uint32_t *lo, uint32_t *hi) {
    if (i < 64) {
        *lo = rl->lo[i];
        *hi = rl->hi[i];
    } else {
        *lo = rl->xlo[i - 64];
        *hi = rl->xhi[i - 64];
    }
}

static int64_t add_class(parser *p, const range_list *rl, bool negate) {
    if (p->n_classes >= GRAM_MAX_CLASSES)
        return perr(p, p->i, "too many character classes (more than %d)", GRAM_MAX_CLASSES);
    if (p->n_ranges + 2 * rl->n > 4 * GRAM_MAX_ELEMS)
        return perr(p, p->i, "grammar too large (character class ranges)");
    if (p->n_classes == p->cap_classes) {
        p->cap_classes = p->cap_classes ? p->cap_classes * 2 : 16;
        p->classes = xrealloc(p->classes, p->cap_classes * sizeof *p->classes);
    }
    gram_class *k = &p->classes[p->n_classes];
    memset(k, 0, sizeof *k);
    k->negate = negate;
    k->range_off = p->n_ranges;
    for (uint32_t i = 0; i < rl->n; i++) {
        uint32_t lo, hi;
        rl_get(rl, i, &lo, &hi);
        for (uint32_t c = lo; c <= hi && c < 128; c++)
            k->ascii[c >> 6] |= 1ull << (c & 63);
        if (hi >= 128) {
            if (p->n_ranges + 2 > p->cap_ranges) {
                p->cap_ranges = p->cap_ranges ? p->cap_ranges * 2 : 64;
                p->ranges = xrealloc(p->ranges, p->cap_ranges * sizeof *p->ranges);
            }
            p->ranges[p->n_ranges++] = lo < 128 ? 128 : lo;
            p->ranges[p->n_ranges++] = hi;
            k->n_ranges++;
        }
    }
    if (negate) {
        k->ascii[0] = ~k->ascii[0];
        k->ascii[1] = ~k->ascii[1];
    }
    return p->n_classes++;
}

static int64_t single_char_class(parser *p, uint32_t cp) {
    /* literals repeat the same characters often: reuse classes of one character */
    for (uint32_t c = p->n_classes > 256 ? p->n_classes - 256 : 0; c < p->n_classes; c++) {
        const gram_class *k = &p->classes[c];
        if (k->negate) continue;
        if (cp < 128) {
            uint64_t w0 = cp < 64 ? 1ull << cp : 0, w1 = cp >= 64 ? 1ull << (cp - 64) : 0;
            if (k->n_ranges == 0 && k->ascii[0] == w0 && k->ascii[1] == w1) return c;
        } else if (k->n_ranges == 1 && !k->ascii[0] && !k->ascii[1] &&
                   p->ranges[k->range_off] == cp && p->ranges[k->range_off + 1] == cp) {
            return c;
        }
    }
    range_list rl = {.n = 0};
    rl_add(&rl, cp, cp);
    return add_class(p, &rl, false);
}

/* ---- lexing ---- */

static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Skips spaces, tabs and comments; newlines too when nl_ok. */
static void skip_space(parser *p, bool nl_ok) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == ' ' || c == '\t') {
            p->i++;
        } else if (c == '#') {
            while (p->i < p->n && p->s[p->i] != '\n')
                p->i++;
        } else if (nl_ok && (c == '\n' || c == '\r')) {
            p->i++;
        } else {
            break;
        }
    }
}

/* Decodes one UTF-8 character of the grammar text. */
static int read_utf8(parser *p, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)p->s;
    size_t i = p->i;
    unsigned char b = s[i];
    int len = b < 0x80             ? 1
              : (b & 0xE0) == 0xC0 ? 2
              : (b & 0xF0) == 0xE0 ? 3
              : (b & 0xF8) == 0xF0 ? 4
                                   : 0;
    if (!len || i + (size_t)len > p->n) return perr(p, i, "invalid UTF-8 in grammar text");
    uint32_t c = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (int k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return perr(p, i, "invalid UTF-8 in grammar text");
        c = c << 6 | (s[i + k] & 0x3Fu);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return perr(p, i, "invalid UTF-8 in grammar text");
    p->i += (size_t)len;
    *cp = c;
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class, escapes decoded. */
static int read_char(parser *p, uint32_t *cp) {
    if (p->i >= p->n) return perr(p, p->i, "unexpected end of grammar");
    if (p->s[p->i] != '\\') return read_utf8(p, cp);
    size_t at = p->i;
    p->i++;
    if (p->i >= p->n) return perr(p, at, "unfinished escape");
    char e = p->s[p->i++];
    int digits = 0;
    switch (e) {
    case 'n':
        *cp = '\n';
        return 0;
    case 't':
        *cp = '\t';
        return 0;
    case 'r':
        *cp = '\r';
        return 0;
    case '\\':
    case '"':
    case '\'':
    case '[':
    case ']':
    case '-':
    case '^':
        *cp = (unsigned char)e;
        return 0;
    case 'x':
        digits = 2;
        break;
    case 'u':
        digits = 4;
        break;
    case 'U':
        digits = 8;
        break;
    default:
        return perr(p, at, "unknown escape '\\%c'", e);
    }
    uint32_t v = 0;
    for (int k = 0; k < digits; k++) {
        int h = p->i < p->n ? hexval(p->s[p->i]) : -1;
        if (h < 0) return perr(p, at, "escape '\\%c' needs %d hex digits", e, digits);
        v = v << 4 | (uint32_t)h;
        p->i++;
    }
    if (v > 0x10FFFF) return perr(p, at, "escape beyond U+10FFFF");
    if (v >= 0xD800 && v <= 0xDFFF)
        return perr(p, at, "escape names a surrogate (not a character)");
    *cp = v;
    return 0;
}

static int parse_alternates(parser *p, uint32_t rule, elem_vec *out);

static int parse_uint(parser *p, uint32_t *v) {
    size_t at = p->i;
    uint64_t x = 0;
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return perr(p, at, "expected a number");
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        x = x * 10 + (uint64_t)(p->s[p->i++] - '0');
        if (x > GRAM_MAX_REPEAT)
            return perr(p, at, "repetition count above the limit of %d", GRAM_MAX_REPEAT);
    }
    *v = (uint32_t)x;
    return 0;
}

/* Applies a postfix to the item out[start, n): makes it one element, then expands. */
static int apply_repeat(parser *p, uint32_t rule, elem_vec *out, uint32_t start, uint32_t min,
                        uint32_t max /* UINT32_MAX = unbounded */) {
    if (out->n - start > 1) { /* wrap a multi-element item (a literal) into a rule */
        int64_t g = gen_rule(p, rule);
        if (g < 0) return -1;
        for (uint32_t k = start; k < out->n; k++)
            if (push_elem(p, &p->rules[g].body, out->e[k].type, out->e[k].val)) return -1;
        if (push_elem(p, &p->rules[g].body, GE_END, 0)) return -1;
        p->total_elems -= out->n - start;
        out->n = start;
        if (push_elem(p, out, GE_RULE, (uint32_t)g)) return -1;
    }
    gram_elem item = out->e[start];
    p->total_elems--;
    out->n = start;
    for (uint32_t k = 0; k < min; k++)
        if (push_elem(p, out, item.type, item.val)) return -1;
    if (max == UINT32_MAX) { /* R ::= item R | (empty) */
        int64_t r = gen_rule(p, rule);
        if (r < 0) return -1;
        elem_vec *b = &p->rules[r].body;
        if (push_elem(p, b, item.type, item.val) || push_elem(p, b, GE_RULE, (uint32_t)r) ||
            push_elem(p, b, GE_ALT, 0) || push_elem(p, b, GE_END, 0) ||
            push_elem(p, out, GE_RULE, (uint32_t)r))
            return -1;
        return 0;
    }
    /* up to max - min more: O1 ::= item | ; Ok ::= item O(k-1) | */
    int64_t prev = -1;
    for (uint32_t k = min; k < max; k++) {
        int64_t r = gen_rule(p, rule);
        if (r < 0) return -1;
        elem_vec *b = &p->rules[r].body;
        if (push_elem(p, b, item.type, item.val)) return -1;
        if (prev >= 0 && push_elem(p, b, GE_RULE, (uint32_t)prev)) return -1;
        if (push_elem(p, b, GE_ALT, 0) || push_elem(p, b, GE_END, 0)) return -1;
        prev = r;
    }
    if (prev >= 0 && push_elem(p, out, GE_RULE, (uint32_t)prev)) return -1;
    return 0;
}

/* sequence ::= (item postfix?)*  — stops at '|', ')', end, or a newline at the top level. */
static int parse_sequence(parser *p, uint32_t rule, elem_vec *out) {
    bool nested = p->depth > 0;
    for (;;) {
        skip_space(p, nested);
        if (p->i >= p->n) return 0;
        char c = p->s[p->i];
        if (c == '|' || c == ')' || c == '\n' || c == '\r') return 0;
        uint32_t start = out->n;
        size_t at = p->i;
        if (c == '@') { /* a marker: one special token */
            p->i++;
            if (p->i >= p->n || p->s[p->i] != '"') return perr(p, at, "expected '\"' after '@'");
            p->i++;
            char buf[256];
            size_t bl = 0;
            for (;;) {
                if (p->i >= p->n || p->s[p->i] == '\n') return perr(p, at, "unterminated literal");
                if (p->s[p->i] == '"') {
                    p->i++;
                    break;
                }
                uint32_t cp;
                if (read_char(p, &cp)) return -1;
                if (bl + 4 > sizeof buf) return perr(p, at, "marker longer than 250 bytes");
                if (cp < 0x80) buf[bl++] = (char)cp;
                else if (cp < 0x800) buf[bl++] = (char)(0xC0 | cp >> 6), buf[bl++] = (char)(0x80 | (cp & 0x3F));
                else if (cp < 0x10000)
                    buf[bl++] = (char)(0xE0 | cp >> 12), buf[bl++] = (char)(0x80 | ((cp >> 6) & 0x3F)),
                    buf[bl++] = (char)(0x80 | (cp & 0x3F));
                else
                    buf[bl++] = (char)(0xF0 | cp >> 18), buf[bl++] = (char)(0x80 | ((cp >> 12) & 0x3F)),
                    buf[bl++] = (char)(0x80 | ((cp >> 6) & 0x3F)), buf[bl++] = (char)(0x80 | (cp & 0x3F));
            }
            if (!bl) return perr(p, at, "empty marker");
            uint32_t k = 0;
            while (k < p->n_markers && !(p->marker_len[k] == bl && !memcmp(p->marker[k], buf, bl)))
                k++;
            if (k == p->n_markers) {
                if (k >= GRAM_MAX_MARKERS) return perr(p, at, "more than %d markers", GRAM_MAX_MARKERS);
                p->marker = xrealloc(p->marker, (k + 1) * sizeof *p->marker);
                p->marker_len = xrealloc(p->marker_len, (k + 1) * sizeof *p->marker_len);
                p->marker[k] = xmalloc(bl + 1);
                memcpy(p->marker[k], buf, bl);
                p->marker[k][bl] = 0;
                p->marker_len[k] = (uint32_t)bl;
                p->n_markers++;
            }
            int64_t cls = single_char_class(p, GRAM_MARKER_BASE + k);
            if (cls < 0 || push_elem(p, out, GE_CHAR, (uint32_t)cls)) return -1;
        } else if (c == '"') {
            p->i++;
            for (;;) {
                if (p->i >= p->n) return perr(p, at, "unterminated literal");
                if (p->s[p->i] == '"') {
                    p->i++;
                    break;
                }
                if (p->s[p->i] == '\n') return perr(p, at, "unterminated literal");
                uint32_t cp;
                if (read_char(p, &cp)) return -1;
                int64_t k = single_char_class(p, cp);
                if (k < 0 || push_elem(p, out, GE_CHAR, (uint32_t)k)) return -1;
            }
            if (out->n == start) continue; /* "" is the empty sequence */
        } else if (c == '[') {
            p->i++;
            bool neg = p->i < p->n && p->s[p->i] == '^';
            if (neg) p->i++;
            range_list rl = {.n = 0};
            int rc = 0;
            for (;;) {
                if (p->i >= p->n || p->s[p->i] == '\n') {
                    rc = perr(p, at, "unterminated character class");
                    break;
                }
                if (p->s[p->i] == ']') {
                    p->i++;
                    break;
                }
                size_t cat = p->i;
                uint32_t lo, hi;
                if ((rc = read_char(p, &lo))) break;
                hi = lo;
                if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
                    p->i++;
                    if ((rc = read_char(p, &hi))) break;
                    if (hi < lo) {
                        rc = perr(p, cat, "character range out of order");
                        break;
                    }
                }
                if (rl.n >= 4096) {
                    rc = perr(p, cat, "character class with more than 4096 ranges");
                    break;
                }
                rl_add(&rl, lo, hi);
            }
            int64_t k = rc ? -1 : add_class(p, &rl, neg);
            free(rl.xlo);
            free(rl.xhi);
            if (k < 0 || push_elem(p, out, GE_CHAR, (uint32_t)k)) return -1;
        } else if (c == '.') {
            p->i++;
            range_list rl = {.n = 0};
            int64_t k = add_class(p, &rl, true);
            if (k < 0 || push_elem(p, out, GE_CHAR, (uint32_t)k)) return -1;
        } else if (c == '(') {
            p->i++;
            if (++p->depth > GRAM_MAX_NEST)
                return perr(p, at, "groups nested deeper than %d", GRAM_MAX_NEST);
            int64_t g = gen_rule(p, rule);
            if (g < 0) return -1;
            elem_vec body = {0};
            int rc = parse_alternates(p, rule, &body);
            p->rules[g].body = body;
            if (rc) return -1;
            skip_space(p, true);
            if (p->i >= p->n || p->s[p->i] != ')') return perr(p, p->i, "expected ')'");
            p->i++;
            p->depth--;
            if (push_elem(p, out, GE_RULE, (uint32_t)g)) return -1;
        } else if (is_name_char(c)) {
            size_t b = p->i;
            while (p->i < p->n && is_name_char(p->s[p->i]))
                p->i++;
            size_t save = p->i;
            skip_space(p, false);
            if (p->i + 2 < p->n && !memcmp(p->s + p->i, "::=", 3))
                return perr(p, b, "expected a newline before the next rule '%.*s'",
                            (int)(save - b > 60 ? 60 : save - b), p->s + b);
            p->i = save;
            int64_t r = find_or_add_rule(p, p->s + b, save - b, b);
            if (r < 0 || push_elem(p, out, GE_RULE, (uint32_t)r)) return -1;
        } else {
            return perr(p, at, "unexpected '%c'", c);
        }
        /* postfix */
        skip_space(p, nested);
        if (p->i >= p->n) return 0;
        c = p->s[p->i];
        size_t pat = p->i;
        uint32_t min, max;
        if (c == '*') {
            min = 0, max = UINT32_MAX;
        } else if (c == '+') {
            min = 1, max = UINT32_MAX;
        } else if (c == '?') {
            min = 0, max = 1;
        } else if (c == '{') {
            p->i++;
            skip_space(p, false);
            if (parse_uint(p, &min)) return -1;
            skip_space(p, false);
            max = min;
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                skip_space(p, false);
                max = UINT32_MAX;
                if (p->i < p->n && p->s[p->i] != '}') {
                    if (parse_uint(p, &max)) return -1;
                    skip_space(p, false);
                    if (max < min)
                        return perr(p, pat, "repetition {%u,%u}: max below min", min, max);
                }
            }
            if (p->i >= p->n || p->s[p->i] != '}') return perr(p, p->i, "expected '}'");
        } else {
            continue;
        }
        p->i++;
        if (apply_repeat(p, rule, out, start, min, max)) return -1;
        skip_space(p, nested);
        if (p->i < p->n &&
            (p->s[p->i] == '*' || p->s[p->i] == '+' || p->s[p->i] == '?' || p->s[p->i] == '{'))
            return perr(p, p->i, "a repetition cannot follow another; use a group");
    }
}

/* alternates ::= sequence ('|' sequence)*; writes alternatives separated by GE_ALT, then GE_END */
static int parse_alternates(parser *p, uint32_t rule, elem_vec *out) {
    for (;;) {
        if (parse_sequence(p, rule, out)) return -1;
        size_t save = p->i;
        skip_space(p, true);
        if (p->i < p->n && p->s[p->i] == '|') {
            p->i++;
            skip_space(p, true);
            if (push_elem(p, out, GE_ALT, 0)) return -1;
            continue;
        }
        p->i = save;
        return push_elem(p, out, GE_END, 0);
    }
}

static int parse_rule(parser *p) {
    size_t b = p->i;
    while (p->i < p->n && is_name_char(p->s[p->i]))
        p->i++;
    if (p->i == b) return perr(p, b, "expected a rule name");
    size_t e = p->i;
    skip_space(p, false);
    if (p->i + 2 >= p->n || memcmp(p->s + p->i, "::=", 3)) return perr(p, p->i, "expected '::='");
    p->i += 3;
    int64_t r = find_or_add_rule(p, p->s + b, e - b, b);
    if (r < 0) return -1;
    if (p->rules[r].defined) return perr(p, b, "rule '%s' defined twice", p->rules[r].name);
    p->rules[r].defined = true;
    skip_space(p, true);
    elem_vec body = {0};
    int rc = parse_alternates(p, (uint32_t)r, &body);
    p->rules[r].body = body;
    if (rc) return -1;
    skip_space(p, false);
    if (p->i < p->n && p->s[p->i] != '\n' && p->s[p->i] != '\r')
        return perr(p, p->i, "expected a newline or the end after the rule");
    return 0;
}

/* ---- checks over the compiled rules ---- */

static int check_left_recursion(parser *p, gram_grammar *g) {
    uint32_t nr = g->n_rules;
    bool *nullable = xcalloc(nr, 1);
    for (bool changed = true; changed;) { /* nullable: some alternative of only nullable refs */
        changed = false;
        for (uint32_t r = 0; r < nr; r++) {
            if (nullable[r]) continue;
            bool ok = true;
            for (uint32_t k = g->rule_start[r];; k++) {
                gram_elem e = g->elems[k];
                if (e.type == GE_END || e.type == GE_ALT) {
                    if (ok) {
                        nullable[r] = changed = true;
                        break;
                    }
                    if (e.type == GE_END) break;
                    ok = true;
                } else if (e.type == GE_CHAR || !nullable[e.val]) {
                    ok = false;
                }
            }
        }
    }
    /* Iterative DFS over "r may begin with s" edges; a back edge is left recursion. */
    uint8_t *color = xcalloc(nr, 1); /* 0 new, 1 on the path, 2 done */
    uint32_t *st_rule = xmalloc(nr * sizeof *st_rule), *st_pos = xmalloc(nr * sizeof *st_pos);
    int rc = 0;
    for (uint32_t s0 = 0; s0 < nr && !rc; s0++) {
        if (color[s0]) continue;
        uint32_t sp = 0;
        st_rule[sp] = s0;
        st_pos[sp] = g->rule_start[s0];
        color[s0] = 1;
        sp++;
        while (sp && !rc) {
            uint32_t r = st_rule[sp - 1];
            uint32_t k = st_pos[sp - 1];
            gram_elem e = g->elems[k];
            if (e.type == GE_END) {
                color[r] = 2;
                sp--;
                continue;
            }
            /* Is element k at the start of its alternative, or preceded only by nullable refs? */
            bool leading = true;
            for (uint32_t j = k; j > g->rule_start[r]; j--) {
                gram_elem q = g->elems[j - 1];
                if (q.type == GE_ALT) break;
                if (q.type == GE_CHAR || !nullable[q.val]) {
                    leading = false;
                    break;
                }
            }
            st_pos[sp - 1]++;
            if (e.type != GE_RULE || !leading) continue;
            uint32_t s = e.val;
            if (color[s] == 1) {
                rc = he_fail(p->err, HE_INVALID,
                             "grammar: rule '%s' is left-recursive (through '%s'); rewrite it with "
                             "repetition",
                             g->rule_name[s], g->rule_name[r]);
            } else if (color[s] == 0) {
                color[s] = 1;
                st_rule[sp] = s;
                st_pos[sp] = g->rule_start[s];
                sp++;
            }
        }
    }
    free(nullable);
    free(color);
    free(st_rule);
    free(st_pos);
    return rc;
}

void gram_free(gram_grammar *g) {
    if (!g) return;
    for (uint32_t r = 0; r < g->n_rules; r++)
        free(g->rule_name[r]);
    free(g->rule_name);
    free(g->rule_start);
    free(g->alt_off);
    free(g->alts);
    free(g->elems);
    free(g->classes);
    free(g->ranges);
    free(g->cls_min);
    free(g->rule_min);
    free(g->suf_min);
    for (uint32_t k = 0; k < g->n_markers; k++)
        free(g->marker[k]);
    free(g->marker);
    free(g->marker_len);
    free(g);
}

gram_grammar *gram_parse(const char *text, size_t len, const char *root, he_error *err) {
    if (!root) root = "root";
    if (len > GRAM_MAX_TEXT)
        return he_fail(err, HE_LIMIT, "grammar: text of %zu bytes exceeds the limit of %u", len,
                       GRAM_MAX_TEXT),
               NULL;
    parser p = {.s = text ? text : "", .n = text ? len : 0, .err = err};
    for (;;) {
        skip_space(&p, true);
        if (p.i >= p.n) break;
        if (parse_rule(&p)) break;
    }
    gram_grammar *g = NULL;
    int64_t root_rule = -1;
    if (!p.failed) {
        for (uint32_t r = 0; r < p.n_rules; r++) {
            if (!p.rules[r].defined) {
                perr(&p, p.rules[r].first_ref, "undefined rule '%s'", p.rules[r].name);
                break;
            }
            if (!strcmp(p.rules[r].name, root)) root_rule = r;
        }
        if (!p.failed && root_rule < 0)
            p.failed = true, he_fail(err, HE_INVALID, "grammar: no rule named '%s'", root);
    }
    if (!p.failed) {
        g = xcalloc(1, sizeof *g);
        g->n_rules = p.n_rules;
        g->root = (uint32_t)root_rule;
        g->rule_start = xmalloc(p.n_rules * sizeof *g->rule_start);
        g->rule_name = xmalloc(p.n_rules * sizeof *g->rule_name);
        g->elems = xmalloc((p.total_elems ? p.total_elems : 1) * sizeof *g->elems);
        for (uint32_t r = 0; r < p.n_rules; r++) {
            g->rule_start[r] = g->n_elems;
            memcpy(g->elems + g->n_elems, p.rules[r].body.e, p.rules[r].body.n * sizeof(gram_elem));
            g->n_elems += p.rules[r].body.n;
            g->rule_name[r] = p.rules[r].name;
            p.rules[r].name = NULL;
        }
        /* where each alternative starts (the matcher expands a reference into all of them) */
        g->alt_off = xmalloc((p.n_rules + 1) * sizeof *g->alt_off);
        uint32_t n_alts = 0;
        for (uint32_t k = 0; k < g->n_elems; k++)
            n_alts += g->elems[k].type == GE_END || g->elems[k].type == GE_ALT;
        g->alts = xmalloc((n_alts ? n_alts : 1) * sizeof *g->alts);
        n_alts = 0;
        for (uint32_t r = 0; r < p.n_rules; r++) {
            g->alt_off[r] = n_alts;
            g->alts[n_alts++] = g->rule_start[r];
            for (uint32_t k = g->rule_start[r]; g->elems[k].type != GE_END; k++)
                if (g->elems[k].type == GE_ALT) g->alts[n_alts++] = k + 1;
        }
        g->alt_off[p.n_rules] = n_alts;
        g->classes = p.classes;
        g->n_classes = p.n_classes;
        g->ranges = p.ranges;
        g->n_ranges = p.n_ranges;
        p.classes = NULL;
        p.ranges = NULL;
        g->marker = p.marker;
        g->marker_len = p.marker_len;
        g->n_markers = p.n_markers;
        p.marker = NULL;
        p.marker_len = NULL;
        p.n_markers = 0;
        if (!g->ranges) g->ranges = xmalloc(2 * sizeof *g->ranges); /* never NULL + offset */
        if (!g->classes) g->classes = xmalloc(sizeof *g->classes);
        if (check_left_recursion(&p, g)) {
            gram_free(g);
            g = NULL;
        } else {
            gram_lengths_init(g);
        }
    }
    for (uint32_t r = 0; r < p.n_rules; r++) {
        free(p.rules[r].name);
        free(p.rules[r].body.e);
    }
    free(p.rules);
    free(p.names);
    free(p.classes);
    free(p.ranges);
    for (uint32_t k = 0; k < p.n_markers; k++)
        free(p.marker[k]);
    free(p.marker);
    free(p.marker_len);
    return g;
}
