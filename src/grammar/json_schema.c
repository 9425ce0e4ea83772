/* json_schema.c — JSON Schema -> GBNF (see json_schema.h for the keywords).
 *
 * Each schema becomes a GBNF expression; objects, arrays, $ref targets and shared primitives
 * become named rules. Choices made so that every output validates against the schema (ajv) and
 * stays bounded:
 * - objects: declared properties in declared order; required ones always, optional ones may be
 *   omitted; no properties beyond the declared ones (and required names not declared), whatever
 *   additionalProperties says (omitting allowed extras is still valid). An object schema with
 *   no properties and additionalProperties not false is any JSON object (values per the
 *   additionalProperties schema when it is one).
 * - whitespace between tokens: nothing, one space, or a newline and up to 20 spaces/tabs.
 * - numbers: at most 16 integer digits, 16 fraction digits and 2 exponent digits (so every
 *   number is a finite double: 9999999999999999e99 < 1.8e308); integers
 *   never carry a fraction. A bounded "number" is exactly the decimals in range with at most
 *   15 significant digits and no exponent (see "decimal ranges" below).
 * - oneOf only when its branches are provably exclusive (types, const/enum values, numeric
 *   ranges, a required discriminator property); otherwise refused (see "oneOf" below).
 * - pattern: a regex subset (literals, escapes \d \w \s \D \W \S and \. etc., classes [a-z]
 *   [^...], ., groups ( ) (?: ), |, ?, *, +, {m}, {m,}, {m,n}, lazy forms, ^ at the start and $
 *   at the end; unanchored sides accept any characters); characters that JSON must escape are
 *   generated escaped when written literally and left out of classes.
 * Every converter output is checked with gram_parse before it is returned, so a caller never
 * gets a grammar that does not parse (e.g. a $ref cycle that consumes nothing). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "grammar/grammar.h"
#include "grammar/grammar_internal.h"
#include "grammar/json_schema.h"

#define MAX_DEPTH 64
#define MAX_DIGITS 16

/* ---- growable strings ---- */

typedef struct {
    char *s;
    size_t n, cap;
} sb;

static void sb_putn(sb *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 64;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void sb_put(sb *b, const char *s) { sb_putn(b, s, strlen(s)); }
__attribute__((format(printf, 2, 3))) static void sb_printf(sb *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}
static char *sb_take(sb *b) {
    if (!b->s) return xstrdup("");
    char *s = b->s;
    b->s = NULL;
    b->n = b->cap = 0;
    return s;
}

/* ---- the builder ---- */

typedef struct {
    char *name, *body;
} brule;

struct gram_builder {
    brule *r;
    size_t n, cap;
    size_t text_bytes;
};

gram_builder *gram_builder_new(void) { return xcalloc(1, sizeof(gram_builder)); }

void gram_builder_free(gram_builder *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->r[i].name);
        free(b->r[i].body);
    }
    free(b->r);
    free(b);
}

static brule *find_rule(const gram_builder *b, const char *name) {
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->r[i].name, name)) return &b->r[i];
    return NULL;
}

static brule *put_rule(gram_builder *b, const char *name, char *body /* owned */) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->r = xrealloc(b->r, b->cap * sizeof *b->r);
    }
    b->r[b->n].name = xstrdup(name);
    b->r[b->n].body = body;
    b->text_bytes += strlen(name) + (body ? strlen(body) : 0) + 6;
    return &b->r[b->n++];
}

static char *fresh_name(const gram_builder *b, const char *hint);

/* Reserves a fresh name now (nested generation must not pick it); the body comes later. */
static size_t reserve_rule(gram_builder *b, const char *hint) {
    char *name = fresh_name(b, hint);
    brule *r = put_rule(b, name, NULL);
    free(name);
    return (size_t)(r - b->r);
}

static const char *set_body(gram_builder *b, size_t idx, char *body) {
    b->r[idx].body = body;
    b->text_bytes += strlen(body);
    return b->r[idx].name;
}

static void drop_rules_from(gram_builder *b, size_t n) {
    while (b->n > n) {
        b->n--;
        free(b->r[b->n].name);
        free(b->r[b->n].body);
    }
}

static bool valid_name(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* A fresh rule name from hint: [A-Za-z0-9-] kept, the rest '-', made unique. "j-" is reserved
 * for the shared primitives. */
static char *fresh_name(const gram_builder *b, const char *hint) {
    char base[48];
    size_t k = 0;
    for (const char *s = hint ? hint : ""; *s && k < 40; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (ok)
            base[k++] = c;
        else if (k && base[k - 1] != '-')
            base[k++] = '-';
    }
    while (k && base[k - 1] == '-')
        k--;
    if (!k) {
        memcpy(base, "schema", 6);
        k = 6;
    }
    base[k] = 0;
    if (base[0] == 'j' && base[1] == '-') base[1] = '_';
    if (!find_rule(b, base)) return xstrdup(base);
    char buf[64];
    for (unsigned i = 1;; i++) {
        snprintf(buf, sizeof buf, "%s-%u", base, i);
        if (!find_rule(b, buf)) return xstrdup(buf);
    }
}

int gram_builder_add_rule(gram_builder *b, const char *name, const char *body, he_error *err) {
    if (!name || !valid_name(name))
        return he_fail(err, HE_INVALID, "grammar: invalid rule name '%s'", name ? name : "");
    if (find_rule(b, name))
        return he_fail(err, HE_INVALID, "grammar: rule '%s' already exists", name);
    put_rule(b, name, xstrdup(body ? body : ""));
    return 0;
}

char *gram_builder_text(const gram_builder *b, size_t *len, he_error *err) {
    if (!find_rule(b, "root"))
        return he_fail(err, HE_INVALID, "grammar: no rule named 'root'"), NULL;
    sb out = {0};
    for (size_t i = 0; i < b->n; i++)
        sb_printf(&out, "%s ::= %s\n", b->r[i].name, b->r[i].body);
    if (len) *len = out.n;
    return sb_take(&out);
}

char *gram_literal(const char *s, size_t n) {
    sb o = {0};
    sb_put(&o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            sb_put(&o, "\\\"");
        else if (c == '\\')
            sb_put(&o, "\\\\");
        else if (c == '\n')
            sb_put(&o, "\\n");
        else if (c == '\r')
            sb_put(&o, "\\r");
        else if (c == '\t')
            sb_put(&o, "\\t");
        else if (c < 0x20 || c == 0x7F)
            sb_printf(&o, "\\x%02X", c);
        else
            sb_putn(&o, (const char *)&c, 1);
    }
    sb_put(&o, "\"");
    return sb_take(&o);
}

/* ---- conversion ---- */

typedef struct {
    gram_builder *b;
    const json_t *root;
    he_error *err;
    int depth;
    /* $ref targets already given a rule in this conversion */
    char **ref_ptr, **ref_rule;
    size_t n_refs;
    bool failed;
} conv;

/* JSON pointer of where we are, for messages. */
typedef struct path {
    const struct path *up;
    const char *key;
    long index; /* >= 0: array index (key NULL) */
} path;

static void path_str(const path *p, sb *o) {
    if (!p) {
        sb_put(o, "#");
        return;
    }
    path_str(p->up, o);
    sb_put(o, "/");
    if (!p->key) {
        sb_printf(o, "%ld", p->index);
        return;
    }
    for (const char *s = p->key; *s; s++) {
        if (*s == '~')
            sb_put(o, "~0");
        else if (*s == '/')
            sb_put(o, "~1");
        else
            sb_putn(o, s, 1);
    }
}

__attribute__((format(printf, 4, 5))) static char *cfail(conv *c, he_code code, const path *p,
                                                         const char *fmt, ...) {
    if (c->failed) return NULL;
    c->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sb ps = {0};
    path_str(p, &ps);
    he_fail(c->err, code, "schema: %s at %s", msg, ps.s);
    free(ps.s);
    return NULL;
}

/* Shared primitive rules, added once per builder. */
static const char *prim(conv *c, const char *name) {
    static const struct {
        const char *name, *body;
    } defs[] = {
        {"j-ws", "| \" \" | \"\\n\" [ \\t]{0,20}"},
        {"j-char",
         "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-CefEF] "
         "[0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) )"},
        {"j-string", "\"\\\"\" j-char* \"\\\"\""},
        {"j-int", "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} )"},
        {"j-number", "j-int ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?"},
        {"j-bool", "\"true\" | \"false\""},
        {"j-null", "\"null\""},
        {"j-value", "j-object | j-array | j-string | j-number | j-bool | j-null"},
        {"j-object",
         "\"{\" j-ws ( j-string j-ws \":\" j-ws j-value j-ws ( \",\" j-ws j-string j-ws "
         "\":\" j-ws j-value j-ws )* )? \"}\""},
        {"j-array", "\"[\" j-ws ( j-value j-ws ( \",\" j-ws j-value j-ws )* )? \"]\""},
    };
    static const char *deps[][4] = {
        {"j-ws"},
        {"j-char"},
        {"j-char"},
        {NULL},
        {"j-int"},
        {NULL},
        {NULL},
        {"j-object", "j-array", "j-string", "j-number"},
        {"j-ws", "j-string", "j-value"},
        {"j-ws", "j-value"},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        if (strcmp(defs[i].name, name)) continue;
        if (!find_rule(c->b, name)) {
            put_rule(c->b, name, xstrdup(defs[i].body));
            for (int k = 0; k < 4 && deps[i][k]; k++)
                prim(c, deps[i][k]);
            if (!strcmp(name, "j-value")) {
                prim(c, "j-bool");
                prim(c, "j-null");
            }
        }
        return defs[i].name;
    }
    return NULL;
}

static char *gen(conv *c, const json_t *s, const path *p, const char *hint);

static const char *const annotations[] = {
    "title",      "description", "examples",  "default", "$schema",     "$id",    "$comment",
    "deprecated", "readOnly",    "writeOnly", "$defs",   "definitions", "strict",
    "discriminator", /* OpenAPI's (Pydantic's) hint beside oneOf: exclusivity is checked anyway */
    NULL};
static const char *const supported[] = {"type",
                                        "properties",
                                        "required",
                                        "additionalProperties",
                                        "enum",
                                        "const",
                                        "items",
                                        "prefixItems",
                                        "minItems",
                                        "maxItems",
                                        "anyOf",
                                        "oneOf",
                                        "allOf",
                                        "$ref",
                                        "minLength",
                                        "maxLength",
                                        "minimum",
                                        "maximum",
                                        "exclusiveMinimum",
                                        "exclusiveMaximum",
                                        "format",
                                        "pattern",
                                        NULL};

static bool in_list(const char *const *l, const char *k) {
    for (; *l; l++)
        if (!strcmp(*l, k)) return true;
    return false;
}

/* The rule name a $ref resolves to (generating it the first time). */
static char *gen_ref(conv *c, const char *ref, const path *p) {
    if (ref[0] != '#')
        return cfail(c, HE_INVALID, p, "$ref '%s' is not local (only '#...' refs)", ref);
    for (size_t i = 0; i < c->n_refs; i++)
        if (!strcmp(c->ref_ptr[i], ref)) return xstrdup(c->ref_rule[i]);
    const json_t *t = c->root;
    const char *s = ref + 1;
    if (*s && *s != '/') return cfail(c, HE_INVALID, p, "$ref '%s' is not a JSON pointer", ref);
    char last[64] = "ref";
    while (*s == '/') {
        s++;
        char tok[256];
        size_t k = 0;
        while (*s && *s != '/') {
            char ch = *s++;
            if (ch == '~' && (*s == '0' || *s == '1')) ch = *s++ == '0' ? '~' : '/';
            if (k + 1 >= sizeof tok) return cfail(c, HE_INVALID, p, "$ref '%s' too long", ref);
            tok[k++] = ch;
        }
        tok[k] = 0;
        snprintf(last, sizeof last, "%.40s", tok);
        if (json_is_object(t)) {
            t = json_object_get(t, tok);
        } else if (json_is_array(t)) {
            char *end;
            long ix = strtol(tok, &end, 10);
            t = *end || ix < 0 ? NULL : json_array_get(t, (size_t)ix);
        } else {
            t = NULL;
        }
        if (!t) return cfail(c, HE_INVALID, p, "$ref '%s' does not resolve", ref);
    }
    if (c->n_refs >= 1024) return cfail(c, HE_LIMIT, p, "more than 1024 $ref targets");
    size_t idx = reserve_rule(c->b, last);
    char *name = xstrdup(c->b->r[idx].name);
    c->ref_ptr = xrealloc(c->ref_ptr, (c->n_refs + 1) * sizeof *c->ref_ptr);
    c->ref_rule = xrealloc(c->ref_rule, (c->n_refs + 1) * sizeof *c->ref_rule);
    c->ref_ptr[c->n_refs] = xstrdup(ref);
    c->ref_rule[c->n_refs] = xstrdup(name);
    c->n_refs++;
    path rp = {NULL, ref + 1, -1}; /* messages inside the target name the ref */
    char *body = gen(c, t, &rp, name);
    if (!body) {
        free(name);
        return NULL;
    }
    set_body(c->b, idx, body);
    return name;
}

/* Does JSON value v have one of the types in mask? */
enum {
    T_NULL = 1,
    T_BOOL = 2,
    T_INT = 4,
    T_NUM = 8,
    T_STR = 16,
    T_ARR = 32,
    T_OBJ = 64,
    T_ALL = 127
};

static int type_bit(const char *t) {
    if (!strcmp(t, "null")) return T_NULL;
    if (!strcmp(t, "boolean")) return T_BOOL;
    if (!strcmp(t, "integer")) return T_INT;
    if (!strcmp(t, "number")) return T_NUM | T_INT;
    if (!strcmp(t, "string")) return T_STR;
    if (!strcmp(t, "array")) return T_ARR;
    if (!strcmp(t, "object")) return T_OBJ;
    return 0;
}

static bool value_has_type(const json_t *v, int mask) {
    switch (json_typeof(v)) {
    case JSON_NULL:
        return mask & T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return mask & T_BOOL;
    case JSON_INTEGER:
        return mask & (T_INT | T_NUM);
    case JSON_REAL: {
        double d = json_real_value(v);
        return (mask & T_NUM) || ((mask & T_INT) && d == floor(d));
    }
    case JSON_STRING:
        return mask & T_STR;
    case JSON_ARRAY:
        return mask & T_ARR;
    case JSON_OBJECT:
        return mask & T_OBJ;
    }
    return false;
}

static char *literal_json(const json_t *v) {
    char *j = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    char *lit = gram_literal(j, strlen(j));
    free(j);
    return lit;
}

/* Non-negative bound from a keyword: 0 ok, -1 error. */
static int get_count(conv *c, const json_t *s, const char *key, const path *p, long *out) {
    const json_t *v = json_object_get(s, key);
    if (!v) return 0;
    path kp = {p, key, -1};
    double d = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : -1;
    if (d < 0 || d != floor(d)) {
        cfail(c, HE_INVALID, &kp, "'%s' must be a non-negative integer", key);
        return -1;
    }
    if (d > GRAM_MAX_REPEAT) {
        if (!strncmp(key, "max", 3)) return 0; /* a huge maximum is no bound */
        cfail(c, HE_LIMIT, &kp, "'%s' of %.0f is above the limit of %d", key, d, GRAM_MAX_REPEAT);
        return -1;
    }
    *out = (long)d;
    return 0;
}

/* "{min,max}" repetition suffix (max < 0: unbounded). */
static void rep_suffix(sb *o, long min, long max) {
    if (max < 0) {
        if (min == 0)
            sb_put(o, "*");
        else if (min == 1)
            sb_put(o, "+");
        else
            sb_printf(o, "{%ld,}", min);
    } else if (min == max) {
        sb_printf(o, "{%ld}", min);
    } else {
        sb_printf(o, "{%ld,%ld}", min, max);
    }
}

/* ---- integer ranges ---- */

/* digits of equal length: lo <= x <= hi */
static void range_same_len(sb *o, const char *lo, const char *hi, size_t n) {
    if (n == 0) return;
    bool full = true; /* 0...0 to 9...9: any digits (keeps the recursion linear) */
    for (size_t i = 0; i < n && full; i++)
        full = lo[i] == '0' && hi[i] == '9';
    if (full) {
        sb_printf(o, "[0-9]{%zu}", n);
        return;
    }
    if (n == 1) {
        sb_printf(o, "[%c-%c]", lo[0], hi[0]);
        return;
    }
    if (lo[0] == hi[0]) {
        sb_printf(o, "\"%c\" ", lo[0]);
        range_same_len(o, lo + 1, hi + 1, n - 1);
        return;
    }
    char nines[MAX_DIGITS + 2], zeros[MAX_DIGITS + 2];
    memset(nines, '9', n - 1);
    memset(zeros, '0', n - 1);
    sb_printf(o, "( \"%c\" ( ", lo[0]);
    range_same_len(o, lo + 1, nines, n - 1);
    sb_put(o, " )");
    if (lo[0] + 1 <= hi[0] - 1) sb_printf(o, " | [%c-%c] [0-9]{%zu}", lo[0] + 1, hi[0] - 1, n - 1);
    sb_printf(o, " | \"%c\" ( ", hi[0]);
    range_same_len(o, zeros, hi + 1, n - 1);
    sb_put(o, " ) )");
}

/* 0 <= lo <= x <= hi, as decimal without leading zeros */
static void range_nonneg(sb *o, long long lo, long long hi) {
    char a[32], z[32];
    bool first = true;
    sb_put(o, "( ");
    for (int len = snprintf(a, sizeof a, "%lld", lo), lh = snprintf(z, sizeof z, "%lld", hi);
         len <= lh; len++) {
        long long p10 = 1;
        for (int k = 1; k < len; k++)
            p10 *= 10;
        long long l = len == (int)strlen(a) ? lo : p10;
        long long h = len == lh ? hi : p10 * 10 - 1;
        if (l < lo) l = lo;
        char ls[32], hs[32];
        snprintf(ls, sizeof ls, "%lld", l);
        snprintf(hs, sizeof hs, "%lld", h);
        if (!first) sb_put(o, " | ");
        first = false;
        sb_put(o, "( ");
        range_same_len(o, ls, hs, strlen(ls));
        sb_put(o, " )");
    }
    sb_put(o, " )");
}

/* Integers lo <= x <= hi (have_lo/have_hi false: unbounded on that side). */
static char *int_range(bool have_lo, long long lo, bool have_hi, long long hi) {
    sb o = {0};
    const long long big = 9999999999999999LL; /* 16 digits */
    if (!have_lo) lo = -big;
    if (!have_hi) hi = big;
    bool alt = false;
    if (lo < 0) { /* negative part: -max(1,-hi) .. -(-lo) */
        long long a = hi < 0 ? -hi : 1, b = -lo;
        sb_put(&o, "\"-\" ");
        range_nonneg(&o, a, b);
        alt = true;
    }
    if (hi >= 0) {
        if (alt) sb_put(&o, " | ");
        range_nonneg(&o, lo > 0 ? lo : 0, hi);
    }
    return sb_take(&o);
}

static int get_bound(conv *c, const json_t *s, const char *key, const path *p, double *v,
                     bool *have) {
    const json_t *x = json_object_get(s, key);
    if (!x) return 0;
    path kp = {p, key, -1};
    if (json_is_boolean(x) && !strncmp(key, "exclusive", 9))
        return 0; /* draft 4: handled by caller */
    if (!json_is_number(x)) {
        cfail(c, HE_INVALID, &kp, "'%s' must be a number", key);
        return -1;
    }
    *v = json_number_value(x);
    *have = true;
    return 0;
}

static char *gen_integer(conv *c, const json_t *s, const path *p) {
    double mn = 0, mx = 0, emn = 0, emx = 0;
    bool hmn = false, hmx = false, hemn = false, hemx = false;
    if (get_bound(c, s, "minimum", p, &mn, &hmn) || get_bound(c, s, "maximum", p, &mx, &hmx) ||
        get_bound(c, s, "exclusiveMinimum", p, &emn, &hemn) ||
        get_bound(c, s, "exclusiveMaximum", p, &emx, &hemx))
        return NULL;
    if (!hmn && !hmx && !hemn && !hemx) return xstrdup(prim(c, "j-int"));
    const double big = 9999999999999999.0;
    double lo = -big, hi = big;
    bool have_lo = false, have_hi = false;
    if (hmn) lo = ceil(mn), have_lo = true;
    if (json_is_true(json_object_get(s, "exclusiveMinimum")) && hmn) lo = floor(mn) + 1;
    if (hemn && floor(emn) + 1 > lo) lo = floor(emn) + 1, have_lo = true;
    if (hmx) hi = floor(mx), have_hi = true;
    if (json_is_true(json_object_get(s, "exclusiveMaximum")) && hmx) hi = ceil(mx) - 1;
    if (hemx && ceil(emx) - 1 < hi) hi = ceil(emx) - 1, have_hi = true;
    if (lo < -big) lo = -big;
    if (hi > big) hi = big;
    if (lo > hi) return cfail(c, HE_INVALID, p, "no integer between minimum and maximum");
    return int_range(have_lo || lo > -big, (long long)lo, have_hi || hi < big, (long long)hi);
}

/* ---- strings: format and pattern ---- */

#define FMT_DATE                                                                                   \
    "( [0-9]{4} \"-\" ( ( \"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | \"12\" ) \"-\" "     \
    "( \"0\" [1-9] | [12] [0-9] | \"3\" [01] ) | ( \"04\" | \"06\" | \"09\" | \"11\" ) \"-\" "     \
    "( \"0\" [1-9] | [12] [0-9] | \"30\" ) | \"02\" \"-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" "    \
    "[0-8] ) ) | " FMT_LEAP_YEAR " \"-02-29\" )"
/* Leap years (Gregorian, as ajv-formats checks them): the last two digits a multiple of 4
 * other than 00, or 00 after a multiple of 4 (divisible by 400). Multiples of 4 in two digits:
 * an even tens digit with 0, 4 or 8, an odd one with 2 or 6. */
#define FMT_LEAP_YEAR                                                                              \
    "( [0-9] [0-9] ( \"0\" [48] | [2468] [048] | [13579] [26] ) | ( [02468] [048] | [13579] [26] ) " \
    "\"00\" )"
#define FMT_TIME                                                                                   \
    "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? "      \
    "( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )"

/* Formats: dates with the right number of days per month (February 29 in leap years only),
 * times always with a timezone (ajv-formats' strict time). */
static const char *format_body(const char *f) {
    if (!strcmp(f, "date")) return FMT_DATE;
    if (!strcmp(f, "time")) return FMT_TIME;
    if (!strcmp(f, "date-time")) return FMT_DATE " \"T\" " FMT_TIME;
    if (!strcmp(f, "uuid"))
        return "[0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} "
               "\"-\" "
               "[0-9a-fA-F]{12}";
    return NULL;
}

/* Regex (subset) -> GBNF over the characters of a JSON string body. */
typedef struct {
    const char *s;
    size_t i, n;
    conv *c;
    const path *p;
    int depth;
} rx;

static char *rx_fail(rx *r, const char *what) {
    return cfail(r->c, HE_UNSUPPORTED, r->p,
                 "pattern: %s at offset %zu (supported: literals, classes, "
                 ".,groups, |, ?, *, +, {m,n}, ^ and $ at the ends)",
                 what, r->i);
}

/* One character as it appears inside a JSON string. */
static void rx_char(sb *o, uint32_t cp) {
    char u[8];
    size_t n = 0;
    if (cp == '"') {
        sb_put(o, "\"\\\\\\\"\"");
        return;
    }
    if (cp == '\\') {
        sb_put(o, "\"\\\\\\\\\"");
        return;
    }
    if (cp < 0x20 || cp == 0x7F) {
        sb_printf(o, "\"\\\\u%04X\"", cp);
        return;
    }
    if (cp < 0x80)
        u[n++] = (char)cp;
    else if (cp < 0x800)
        u[n++] = (char)(0xC0 | cp >> 6), u[n++] = (char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        u[n++] = (char)(0xE0 | cp >> 12), u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        u[n++] = (char)(0x80 | (cp & 0x3F));
    else
        u[n++] = (char)(0xF0 | cp >> 18), u[n++] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[n++] = (char)(0x80 | (cp & 0x3F));
    char *lit = gram_literal(u, n);
    sb_put(o, lit);
    free(lit);
}

static int rx_utf8(rx *r, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)r->s + r->i;
    size_t left = r->n - r->i;
    unsigned char b = s[0];
    int len = b < 0x80             ? 1
              : (b & 0xE0) == 0xC0 ? 2
              : (b & 0xF0) == 0xE0 ? 3
              : (b & 0xF8) == 0xF0 ? 4
                                   : 0;
    if (!len || (size_t)len > left) return -1;
    uint32_t v = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (int k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return -1;
        v = v << 6 | (s[k] & 0x3Fu);
    }
    if (v >= 0xD800 && v <= 0xDFFF) return -1;
    r->i += (size_t)len;
    *cp = v;
    return 0;
}

/* A class body ranges (GBNF class syntax, no brackets) for a shorthand; NULL if none. */
static const char *rx_shorthand(char e, bool *neg) {
    *neg = e == 'D' || e == 'W' || e == 'S';
    switch (e) {
    case 'd':
    case 'D':
        return "0-9";
    case 'w':
    case 'W':
        return "a-zA-Z0-9_";
    case 's':
    case 'S':
        return " \\t\\n\\r\\x0B\\x0C";
    }
    return NULL;
}

static void class_cp(sb *o, uint32_t cp) {
    if (cp == ']' || cp == '\\' || cp == '-' || cp == '^' || cp == '"' || cp < 0x20 || cp == 0x7F)
        sb_printf(o, "\\U%08X", cp);
    else {
        uint32_t one = cp;
        char u[8];
        size_t n = 0;
        if (one < 0x80)
            u[n++] = (char)one;
        else if (one < 0x800)
            u[n++] = (char)(0xC0 | one >> 6), u[n++] = (char)(0x80 | (one & 0x3F));
        else if (one < 0x10000)
            u[n++] = (char)(0xE0 | one >> 12), u[n++] = (char)(0x80 | ((one >> 6) & 0x3F)),
            u[n++] = (char)(0x80 | (one & 0x3F));
        else
            u[n++] = (char)(0xF0 | one >> 18), u[n++] = (char)(0x80 | ((one >> 12) & 0x3F)),
            u[n++] = (char)(0x80 | ((one >> 6) & 0x3F)), u[n++] = (char)(0x80 | (one & 0x3F));
        sb_putn(o, u, n);
    }
}

static int rx_escape(rx *r, uint32_t *cp) { /* after '\\': a literal character */
    if (r->i >= r->n) return -1;
    char e = r->s[r->i];
    const char *lit = ".\\/()[]{}|?*+^$-\"'";
    if (strchr(lit, e) && e) {
        r->i++;
        *cp = (unsigned char)e;
        return 0;
    }
    if (e == 'n' || e == 't' || e == 'r') {
        r->i++;
        *cp = e == 'n' ? '\n' : e == 't' ? '\t' : '\r';
        return 0;
    }
    return -1;
}

static char *rx_alt(rx *r);

/* Classes: positive ones drop characters JSON escapes (a valid subset); negative ones add
 * them to the excluded set. */
static char *rx_class(rx *r) {
    sb o = {0};
    r->i++; /* [ */
    bool neg = r->i < r->n && r->s[r->i] == '^';
    if (neg) r->i++;
    sb_put(&o, neg ? "[^\"\\\\\\x00-\\x1F\\x7F" : "[");
    bool any = false, first = true;
    while (r->i < r->n && (r->s[r->i] != ']' || first)) {
        first = false;
        uint32_t lo, hi;
        if (r->s[r->i] == '\\') {
            r->i++;
            bool sneg;
            const char *sh = r->i < r->n ? rx_shorthand(r->s[r->i], &sneg) : NULL;
            if (sh) {
                if (sneg) {
                    free(o.s);
                    return rx_fail(r, "negated shorthand inside a class");
                }
                /* \\s in a positive class: only the space (JSON escapes the rest) */
                sb_put(&o, r->s[r->i] == 's' ? " " : sh);
                r->i++;
                any = true;
                continue;
            }
            if (rx_escape(r, &lo)) {
                free(o.s);
                return rx_fail(r, "unsupported escape in a class");
            }
        } else if (rx_utf8(r, &lo)) {
            free(o.s);
            return rx_fail(r, "invalid UTF-8");
        }
        hi = lo;
        if (r->i + 1 < r->n && r->s[r->i] == '-' && r->s[r->i + 1] != ']') {
            r->i++;
            if (r->s[r->i] == '\\') {
                r->i++;
                if (rx_escape(r, &hi)) {
                    free(o.s);
                    return rx_fail(r, "unsupported escape in a class");
                }
            } else if (rx_utf8(r, &hi)) {
                free(o.s);
                return rx_fail(r, "invalid UTF-8");
            }
            if (hi < lo) {
                free(o.s);
                return rx_fail(r, "class range out of order");
            }
        }
        /* keep the part of [lo, hi] that needs no JSON escape (positive classes) */
        if (!neg) {
            uint32_t a = lo, z = hi;
            if (a < 0x20) a = 0x20;
            /* split around '"' (0x22), '\\' (0x5C) and 0x7F */
            uint32_t cuts[3] = {0x22, 0x5C, 0x7F};
            for (int k = 0; k <= 3 && a <= z; k++) {
                uint32_t e = k < 3 ? cuts[k] : 0x110000;
                if (a > e) continue;
                uint32_t end = z < e ? z : e - 1;
                if (a <= end) {
                    class_cp(&o, a);
                    if (end > a) {
                        sb_put(&o, "-");
                        class_cp(&o, end);
                    }
                    any = true;
                }
                a = e + 1;
            }
        } else {
            class_cp(&o, lo);
            if (hi > lo) {
                sb_put(&o, "-");
                class_cp(&o, hi);
            }
            any = true;
        }
    }
    if (r->i >= r->n) {
        free(o.s);
        return rx_fail(r, "unterminated class");
    }
    r->i++;
    sb_put(&o, "]");
    if (!any && !neg) {
        free(o.s);
        return rx_fail(r, "a class with no character a JSON string can hold unescaped");
    }
    return sb_take(&o);
}

static char *rx_atom(rx *r) {
    char ch = r->s[r->i];
    if (ch == '(') {
        r->i++;
        if (r->i < r->n && r->s[r->i] == '?') {
            if (r->i + 1 < r->n && r->s[r->i + 1] == ':')
                r->i += 2;
            else
                return rx_fail(r, "lookaround or named group");
        }
        if (++r->depth > 32) return rx_fail(r, "groups nested too deep");
        char *in = rx_alt(r);
        r->depth--;
        if (!in) return NULL;
        if (r->i >= r->n || r->s[r->i] != ')') {
            free(in);
            return rx_fail(r, "missing ')'");
        }
        r->i++;
        sb o = {0};
        sb_printf(&o, "( %s )", in);
        free(in);
        return sb_take(&o);
    }
    if (ch == '[') return rx_class(r);
    if (ch == '.') {
        r->i++;
        return xstrdup("[^\"\\\\\\x00-\\x1F\\x7F]");
    }
    if (ch == '\\') {
        r->i++;
        bool neg;
        const char *sh = r->i < r->n ? rx_shorthand(r->s[r->i], &neg) : NULL;
        sb o = {0};
        if (sh) {
            r->i++;
            sb_printf(&o, neg ? "[^%s\"\\\\\\x00-\\x1F\\x7F]" : "[%s]", sh);
            if (!neg && r->s[r->i - 1] == 's') {
                free(o.s);
                return xstrdup("\" \""); /* whitespace that needs no escape */
            }
            return sb_take(&o);
        }
        uint32_t cp;
        if (rx_escape(r, &cp))
            return rx_fail(r, "unsupported escape (backreference, \\b, \\p, ...)");
        rx_char(&o, cp);
        return sb_take(&o);
    }
    if (ch == '^' || ch == '$') return rx_fail(r, "anchor not at the start or end");
    if (ch == '*' || ch == '+' || ch == '?' || ch == '{')
        return rx_fail(r, "quantifier without operand");
    uint32_t cp;
    if (rx_utf8(r, &cp)) return rx_fail(r, "invalid UTF-8");
    sb o = {0};
    rx_char(&o, cp);
    return sb_take(&o);
}

static char *rx_seq(rx *r) {
    sb o = {0};
    sb_put(&o, "( \"\"");
    while (r->i < r->n && r->s[r->i] != '|' && r->s[r->i] != ')') {
        if (r->s[r->i] == '$' && r->i + 1 == r->n) break;
        char *a = rx_atom(r);
        if (!a) {
            free(o.s);
            return NULL;
        }
        sb_printf(&o, " ( %s )", a);
        free(a);
        if (r->i < r->n) {
            char q = r->s[r->i];
            if (q == '*' || q == '+' || q == '?') {
                r->i++;
                sb_putn(&o, &q, 1);
            } else if (q == '{') {
                size_t save = r->i;
                long m = -1, n2 = -1;
                char *end;
                m = strtol(r->s + r->i + 1, &end, 10);
                if (end == r->s + r->i + 1 || m < 0 || m > GRAM_MAX_REPEAT) {
                    free(o.s);
                    r->i = save;
                    return rx_fail(r, "bad {m,n}");
                }
                const char *q2 = end;
                if (*q2 == '}') {
                    n2 = m;
                } else if (*q2 == ',' && q2[1] == '}') {
                    n2 = -1;
                    q2++;
                } else if (*q2 == ',') {
                    n2 = strtol(q2 + 1, &end, 10);
                    if (end == q2 + 1 || n2 < m || n2 > GRAM_MAX_REPEAT || *end != '}') {
                        free(o.s);
                        return rx_fail(r, "bad {m,n}");
                    }
                    q2 = end;
                } else {
                    free(o.s);
                    return rx_fail(r, "bad {m,n}");
                }
                r->i = (size_t)(q2 - r->s) + 1;
                rep_suffix(&o, m, n2);
            }
            if (r->i < r->n && r->s[r->i] == '?' && strchr("*+?}", r->s[r->i - 1]))
                r->i++; /* lazy */
            if (r->i < r->n && strchr("*+?{", r->s[r->i])) {
                free(o.s);
                return rx_fail(r, "possessive or stacked quantifier");
            }
        }
    }
    sb_put(&o, " )");
    return sb_take(&o);
}

static char *rx_alt(rx *r) {
    sb o = {0};
    for (;;) {
        char *s = rx_seq(r);
        if (!s) {
            free(o.s);
            return NULL;
        }
        sb_put(&o, s);
        free(s);
        if (r->i < r->n && r->s[r->i] == '|') {
            r->i++;
            sb_put(&o, " | ");
            continue;
        }
        return sb_take(&o);
    }
}

static char *gen_pattern(conv *c, const char *pat, const path *p) {
    rx r = {pat, 0, strlen(pat), c, p, 0};
    bool start = r.n && pat[0] == '^';
    if (start) r.i++;
    bool end = r.n > r.i && pat[r.n - 1] == '$' && (r.n < 2 || pat[r.n - 2] != '\\');
    char *body = rx_alt(&r);
    if (!body) return NULL;
    if (r.i < r.n && !(end && r.i == r.n - 1)) {
        free(body);
        return rx_fail(&r, "unbalanced ')'");
    }
    sb o = {0};
    sb_printf(&o, "\"\\\"\" %s( %s )%s \"\\\"\"", start ? "" : "j-char* ", body,
              end ? "" : " j-char*");
    prim(c, "j-char");
    free(body);
    return sb_take(&o);
}

static char *gen_string(conv *c, const json_t *s, const path *p) {
    const json_t *fmt = json_object_get(s, "format"), *pat = json_object_get(s, "pattern");
    long mn = 0, mx = -1;
    if (get_count(c, s, "minLength", p, &mn) || get_count(c, s, "maxLength", p, &mx)) return NULL;
    bool has_len = json_object_get(s, "minLength") || json_object_get(s, "maxLength");
    if (mx >= 0 && mn > mx) return cfail(c, HE_INVALID, p, "minLength above maxLength");
    if (fmt) {
        path fp = {p, "format", -1};
        if (!json_is_string(fmt)) return cfail(c, HE_INVALID, &fp, "'format' must be a string");
        const char *body = format_body(json_string_value(fmt));
        if (!body)
            return cfail(c, HE_UNSUPPORTED, &fp,
                         "unsupported format '%s' (supported: date, time, "
                         "date-time, uuid)",
                         json_string_value(fmt));
        if (pat || has_len)
            return cfail(c, HE_UNSUPPORTED, &fp, "'format' combined with 'pattern' or a length");
        sb o = {0};
        sb_printf(&o, "\"\\\"\" %s \"\\\"\"", body);
        return sb_take(&o);
    }
    if (pat) {
        path pp = {p, "pattern", -1};
        if (!json_is_string(pat)) return cfail(c, HE_INVALID, &pp, "'pattern' must be a string");
        if (has_len)
            return cfail(c, HE_UNSUPPORTED, &pp, "'pattern' combined with minLength/maxLength");
        return gen_pattern(c, json_string_value(pat), &pp);
    }
    if (!has_len) return xstrdup(prim(c, "j-string"));
    sb o = {0};
    prim(c, "j-char");
    sb_put(&o, "\"\\\"\" j-char");
    rep_suffix(&o, mn, mx);
    sb_put(&o, " \"\\\"\"");
    return sb_take(&o);
}

/* ---- arrays and objects ---- */

static char *gen_array(conv *c, const json_t *s, const path *p, const char *hint) {
    long mn = 0, mx = -1;
    if (get_count(c, s, "minItems", p, &mn) || get_count(c, s, "maxItems", p, &mx)) return NULL;
    if (mx >= 0 && mn > mx) return cfail(c, HE_INVALID, p, "minItems above maxItems");
    const json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    prim(c, "j-ws");
    size_t self = reserve_rule(c->b, hint);
    char hb[80];
    sb o = {0};
    sb_put(&o, "\"[\" j-ws ");
    size_t k = 0; /* prefix items generated */
    if (prefix) {
        path pp = {p, "prefixItems", -1};
        if (!json_is_array(prefix))
            return cfail(c, HE_INVALID, &pp, "'prefixItems' must be an array");
        size_t np = json_array_size(prefix);
        if (mx >= 0 && (size_t)mx < np) np = (size_t)mx;
        for (; k < np; k++) {
            path ip = {&pp, NULL, (long)k};
            snprintf(hb, sizeof hb, "%.40s-%zu", hint, k);
            char *e = gen(c, json_array_get(prefix, k), &ip, hb);
            if (!e) {
                free(o.s);
                return NULL;
            }
            sb_printf(&o, "%s( %s ) j-ws ", k ? "\",\" j-ws " : "", e);
            free(e);
        }
    }
    bool no_more = items && json_is_false(items);
    long rmin = mn > (long)k ? mn - (long)k : 0, rmax = mx < 0 ? -1 : mx - (long)k;
    if (!no_more && rmax != 0) {
        path ip = {p, "items", -1};
        snprintf(hb, sizeof hb, "%.40s-item", hint);
        char *e = items ? gen(c, items, &ip, hb) : xstrdup(prim(c, "j-value"));
        if (!e) {
            free(o.s);
            return NULL;
        }
        if (k) { /* each further item follows a comma */
            sb_printf(&o, "( \",\" j-ws ( %s ) j-ws )", e);
            rep_suffix(&o, rmin, rmax);
        } else {
            sb_printf(&o, "( ( %s ) j-ws ( \",\" j-ws ( %s ) j-ws )", e, e);
            rep_suffix(&o, rmin > 0 ? rmin - 1 : 0, rmax < 0 ? -1 : rmax - 1);
            sb_put(&o, rmin > 0 ? " )" : " )?");
        }
        free(e);
    } else if (rmin > 0) {
        free(o.s);
        return cfail(c, HE_INVALID, p, "minItems cannot be met (items: false)");
    }
    sb_put(&o, " \"]\"");
    return xstrdup(set_body(c->b, self, sb_take(&o)));
}

static char *gen_object(conv *c, const json_t *s, const path *p, const char *hint) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required"),
                 *addl = json_object_get(s, "additionalProperties");
    path pp = {p, "properties", -1}, rp = {p, "required", -1}, ap = {p, "additionalProperties", -1};
    if (props && !json_is_object(props))
        return cfail(c, HE_INVALID, &pp, "'properties' must be an object");
    if (req && !json_is_array(req)) return cfail(c, HE_INVALID, &rp, "'required' must be an array");
    if (addl && !json_is_object(addl) && !json_is_boolean(addl))
        return cfail(c, HE_INVALID, &ap, "'additionalProperties' must be a schema");
    for (size_t i = 0; req && i < json_array_size(req); i++)
        if (!json_is_string(json_array_get(req, i)))
            return cfail(c, HE_INVALID, &rp, "'required' must list strings");
    prim(c, "j-ws");
    /* the members: declared properties, then required names not declared */
    size_t n = props ? json_object_size(props) : 0, nreq = req ? json_array_size(req) : 0;
    const char **key = xmalloc((n + nreq + 1) * sizeof *key);
    const json_t **sch = xmalloc((n + nreq + 1) * sizeof *sch);
    bool *must = xmalloc(n + nreq + 1);
    size_t m = 0;
    const char *k;
    json_t *v;
    void *iter;
    for (iter = props ? json_object_iter((json_t *)props) : NULL; iter;
         iter = json_object_iter_next((json_t *)props, iter)) {
        k = json_object_iter_key(iter);
        v = json_object_iter_value(iter);
        key[m] = k;
        sch[m] = v;
        must[m] = false;
        for (size_t i = 0; i < nreq; i++)
            if (!strcmp(json_string_value(json_array_get(req, i)), k)) must[m] = true;
        m++;
    }
    for (size_t i = 0; i < nreq; i++) {
        const char *rk = json_string_value(json_array_get(req, i));
        bool found = false;
        for (size_t j = 0; j < m; j++)
            if (!strcmp(key[j], rk)) found = true;
        if (found) continue;
        if (addl && json_is_false(addl)) {
            free(key), free(sch), free(must);
            return cfail(c, HE_INVALID, &rp,
                         "required '%s' is not a property and "
                         "additionalProperties is false",
                         rk);
        }
        key[m] = rk;
        sch[m] = addl && json_is_object(addl) ? addl : NULL;
        must[m] = true;
        m++;
    }
    size_t self = reserve_rule(c->b, hint);
    char *name = xstrdup(c->b->r[self].name);
    if (m == 0 && !(addl && json_is_false(addl)) && !props) {
        /* any object; values per additionalProperties when it is a schema */
        char *val;
        if (addl && json_is_object(addl)) {
            char hb[80];
            snprintf(hb, sizeof hb, "%.40s-value", hint);
            val = gen(c, addl, &ap, hb);
        } else {
            val = xstrdup(prim(c, "j-value"));
        }
        if (!val) {
            free(key), free(sch), free(must), free(name);
            return NULL;
        }
        prim(c, "j-string");
        sb o = {0};
        sb_printf(&o,
                  "\"{\" j-ws ( j-string j-ws \":\" j-ws ( %s ) j-ws ( \",\" j-ws j-string j-ws "
                  "\":\" j-ws ( %s ) j-ws )* )? \"}\"",
                  val, val);
        free(val);
        set_body(c->b, self, sb_take(&o));
        free(key), free(sch), free(must);
        return name;
    }
    /* kv_i, then first_i (nothing emitted yet) and rest_i (a member already emitted) */
    char **kv = xcalloc(m + 1, sizeof *kv);
    bool ok = true;
    for (size_t i = 0; i < m && ok; i++) {
        path kp = {&pp, key[i], -1};
        char hb[96];
        snprintf(hb, sizeof hb, "%.30s-%.30s", hint, key[i]);
        char *e = sch[i] ? gen(c, sch[i], &kp, hb) : xstrdup(prim(c, "j-value"));
        if (!e) {
            ok = false;
            break;
        }
        /* the key as JSON text */
        json_t *ks = json_string(key[i]);
        char *kj = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL;
        json_decref(ks);
        if (!kj) {
            free(e);
            ok = false;
            cfail(c, HE_INVALID, &kp, "property name is not valid UTF-8");
            break;
        }
        char *kl = gram_literal(kj, strlen(kj));
        free(kj);
        sb o = {0};
        sb_printf(&o, "%s j-ws \":\" j-ws ( %s ) j-ws", kl, e);
        free(kl);
        free(e);
        kv[i] = sb_take(&o);
    }
    if (!ok) {
        for (size_t i = 0; i < m; i++)
            free(kv[i]);
        free(kv), free(key), free(sch), free(must), free(name);
        return NULL;
    }
    /* rest_i ::= ("," j-ws kv_i)? rest_{i+1}; built from the end */
    char **rest = xcalloc(m + 2, sizeof *rest), **first = xcalloc(m + 2, sizeof *first);
    for (size_t i = m; i-- > 0;) {
        sb o = {0};
        sb_printf(&o, "\",\" j-ws %s", kv[i]);
        char *item = sb_take(&o);
        sb r = {0};
        if (must[i])
            sb_printf(&r, "%s", item);
        else
            sb_printf(&r, "( %s )?", item);
        if (rest[i + 1]) sb_printf(&r, " %s", rest[i + 1]);
        free(item);
        char hb[96];
        snprintf(hb, sizeof hb, "%s-rest%zu", name, i);
        rest[i] = xstrdup(set_body(c->b, reserve_rule(c->b, hb), sb_take(&r)));
    }
    /* first_i ::= kv_i rest_{i+1} | first_{i+1} (optional i) ; kv_i rest_{i+1} (required i) */
    for (size_t i = m; i-- > 0;) {
        sb r = {0};
        sb_printf(&r, "%s%s%s", kv[i], rest[i + 1] ? " " : "", rest[i + 1] ? rest[i + 1] : "");
        if (!must[i]) sb_printf(&r, " | %s", first[i + 1] ? first[i + 1] : "\"\"");
        char hb[96];
        snprintf(hb, sizeof hb, "%s-first%zu", name, i);
        first[i] = xstrdup(set_body(c->b, reserve_rule(c->b, hb), sb_take(&r)));
    }
    sb o = {0};
    sb_printf(&o, "\"{\" j-ws %s \"}\"", first[0] ? first[0] : "");
    set_body(c->b, self, sb_take(&o));
    for (size_t i = 0; i < m + 2; i++) {
        free(rest[i]);
        free(first[i]);
    }
    for (size_t i = 0; i < m; i++)
        free(kv[i]);
    free(rest), free(first), free(kv), free(key), free(sch), free(must);
    return name;
}

/* allOf: the subschemas (and the siblings) merged into one object schema. */
static json_t *merge_all_of(conv *c, const json_t *s, const path *p) {
    path ap = {p, "allOf", -1};
    const json_t *all = json_object_get(s, "allOf");
    if (!json_is_array(all) || !json_array_size(all))
        return cfail(c, HE_INVALID, &ap, "'allOf' must be a non-empty array"), NULL;
    json_t *m = json_object();
    json_t *parts = json_array();
    json_t *self = json_deep_copy(s);
    json_object_del(self, "allOf");
    json_array_append_new(parts, self);
    for (size_t i = 0; i < json_array_size(all); i++) {
        const json_t *x = json_array_get(all, i);
        for (int hops = 0; json_is_object(x) && json_object_get(x, "$ref") && hops < 16; hops++) {
            const char *ref = json_string_value(json_object_get(x, "$ref"));
            if (!ref || ref[0] != '#') break;
            const json_t *t = c->root;
            char *dup = xstrdup(ref + 1), *save = NULL;
            for (char *tok = strtok_r(dup, "/", &save); tok && t; tok = strtok_r(NULL, "/", &save))
                t = json_object_get(t, tok);
            free(dup);
            if (!t || json_object_size(x) > 1) break;
            x = t;
        }
        if (!json_is_object(x)) {
            json_decref(m), json_decref(parts);
            path ip = {&ap, NULL, (long)i};
            return cfail(c, HE_UNSUPPORTED, &ip, "allOf member must be an object schema"), NULL;
        }
        json_array_append(parts, (json_t *)x);
    }
    for (size_t i = 0; i < json_array_size(parts); i++) {
        json_t *x = json_array_get(parts, i);
        const char *k;
        json_t *v;
        json_object_foreach(x, k, v) {
            json_t *cur = json_object_get(m, k);
            if (!cur) {
                json_object_set(m, k, v);
            } else if (!strcmp(k, "properties") && json_is_object(cur) && json_is_object(v)) {
                json_t *np = json_deep_copy(cur);
                json_object_update(np, v);
                json_object_set_new(m, k, np);
            } else if (!strcmp(k, "required") && json_is_array(cur) && json_is_array(v)) {
                json_t *nr = json_deep_copy(cur);
                json_array_extend(nr, v);
                json_object_set_new(m, k, nr);
            } else if (in_list(annotations, k)) {
                continue;
            } else if (!json_equal(cur, v)) {
                json_decref(m), json_decref(parts);
                return cfail(c, HE_UNSUPPORTED, &ap, "allOf members disagree on '%s'", k), NULL;
            }
        }
    }
    json_decref(parts);
    return m;
}

static char *gen_number(conv *c, const json_t *s, const path *p);

static char *gen_typed(conv *c, const json_t *s, const path *p, const char *hint, int t) {
    switch (t) {
    case T_NULL:
        return xstrdup(prim(c, "j-null"));
    case T_BOOL:
        return xstrdup(prim(c, "j-bool"));
    case T_INT:
        return gen_integer(c, s, p);
    case T_NUM:
        if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
            json_object_get(s, "exclusiveMinimum") || json_object_get(s, "exclusiveMaximum"))
            return gen_number(c, s, p); /* decimals in range, no exponent */
        return xstrdup(prim(c, "j-number"));
    case T_STR:
        return gen_string(c, s, p);
    case T_ARR:
        return gen_array(c, s, p, hint);
    case T_OBJ:
        return gen_object(c, s, p, hint);
    }
    return NULL;
}

/* ---- oneOf: exclusivity ----
 *
 * A oneOf is exact as an alternation only when no value can match two of its branches. That is
 * decided here conservatively, from what each branch's schema says for sure (its "type", its
 * enum/const values, numeric bounds, required properties): two branches are disjoint when their
 * types do not meet, when their enum/const values differ (or fail the other's type or bounds),
 * when both are numbers with intervals that do not meet, or when both are objects that require a
 * common property whose own schemas are disjoint (a discriminator: "kind": {"const": "a"} vs
 * {"const": "b"}). Anything else is refused, since a value might match two branches. */

/* The schema a branch stands for: $ref chains followed (a few hops). NULL when unresolvable. */
static const json_t *resolve_branch(const conv *c, const json_t *s) {
    for (int hops = 0; hops < 16 && json_is_object(s); hops++) {
        const json_t *r = json_object_get(s, "$ref");
        if (!r) return s;
        const char *ref = json_string_value(r);
        if (!ref || ref[0] != '#') return NULL;
        const json_t *t = c->root;
        const char *q = ref + 1;
        while (t && *q == '/') {
            q++;
            char tok[256];
            size_t k = 0;
            while (*q && *q != '/') {
                char ch = *q++;
                if (ch == '~' && (*q == '0' || *q == '1')) ch = *q++ == '0' ? '~' : '/';
                if (k + 1 >= sizeof tok) return NULL;
                tok[k++] = ch;
            }
            tok[k] = 0;
            t = json_is_object(t) ? json_object_get(t, tok) : NULL;
        }
        s = t;
    }
    return json_is_object(s) || json_is_boolean(s) ? s : NULL;
}

/* The JSON types every value valid under s has, for sure (T_ALL when s does not say). */
static int sem_types(const conv *c, const json_t *s, int depth) {
    s = resolve_branch(c, s);
    if (!s || json_is_true(s)) return T_ALL;
    if (json_is_false(s)) return 0;
    int mask = T_ALL;
    const json_t *type = json_object_get(s, "type");
    if (json_is_string(type)) {
        mask = type_bit(json_string_value(type));
    } else if (json_is_array(type)) {
        mask = 0;
        for (size_t i = 0; i < json_array_size(type); i++)
            mask |= json_is_string(json_array_get(type, i))
                        ? type_bit(json_string_value(json_array_get(type, i)))
                        : T_ALL;
    }
    if (!mask) mask = T_ALL;
    const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (cn || json_is_array(en)) {
        int vm = 0;
        size_t n = cn ? 1 : json_array_size(en);
        for (size_t i = 0; i < n; i++) {
            const json_t *x = cn ? cn : json_array_get(en, i);
            vm |= json_is_null(x) ? T_NULL : json_is_boolean(x) ? T_BOOL : json_is_integer(x) ? (T_INT | T_NUM)
                  : json_is_real(x) ? (T_NUM | (json_real_value(x) == floor(json_real_value(x)) ? T_INT : 0))
                  : json_is_string(x) ? T_STR : json_is_array(x) ? T_ARR : T_OBJ;
        }
        mask &= vm;
    }
    const json_t *any = json_object_get(s, "anyOf");
    if (!any) any = json_object_get(s, "oneOf");
    if (json_is_array(any) && depth < 8) {
        int u = 0;
        for (size_t i = 0; i < json_array_size(any); i++)
            u |= sem_types(c, json_array_get(any, i), depth + 1);
        mask &= u;
    }
    return mask;
}

/* Numeric interval of s: [lo, hi] with open ends; infinite when absent. */
typedef struct {
    double lo, hi;
    bool lo_open, hi_open;
} interval;

static interval num_interval(const json_t *s) {
    interval r = {-(double)INFINITY, (double)INFINITY, false, false};
    const json_t *x;
    if ((x = json_object_get(s, "minimum")) && json_is_number(x)) {
        r.lo = json_number_value(x);
        r.lo_open = json_is_true(json_object_get(s, "exclusiveMinimum"));
    }
    if ((x = json_object_get(s, "maximum")) && json_is_number(x)) {
        r.hi = json_number_value(x);
        r.hi_open = json_is_true(json_object_get(s, "exclusiveMaximum"));
    }
    if ((x = json_object_get(s, "exclusiveMinimum")) && json_is_number(x) && json_number_value(x) >= r.lo)
        r.lo = json_number_value(x), r.lo_open = true;
    if ((x = json_object_get(s, "exclusiveMaximum")) && json_is_number(x) && json_number_value(x) <= r.hi)
        r.hi = json_number_value(x), r.hi_open = true;
    return r;
}

static bool intervals_disjoint(interval a, interval b) {
    if (a.hi < b.lo || b.hi < a.lo) return true;
    if (a.hi == b.lo && (a.hi_open || b.lo_open)) return true;
    if (b.hi == a.lo && (b.hi_open || a.lo_open)) return true;
    return false;
}

/* JSON Schema equality of values: numbers by value (1 == 1.0), the rest structurally. */
static bool json_same(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

/* Value x surely fails schema s (its type, or a numeric bound). */
static bool value_fails(const conv *c, const json_t *x, const json_t *s) {
    s = resolve_branch(c, s);
    if (!s || !json_is_object(s)) return false;
    int m = sem_types(c, s, 0);
    if (!value_has_type(x, m)) return true;
    const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (cn && !json_same(x, cn)) return true;
    if (json_is_array(en)) {
        bool in = false;
        for (size_t i = 0; i < json_array_size(en) && !in; i++)
            in = json_same(x, json_array_get(en, i));
        if (!in) return true;
    }
    if (json_is_number(x)) {
        interval iv = num_interval(s);
        double d = json_number_value(x);
        interval pt = {d, d, false, false};
        if (intervals_disjoint(iv, pt)) return true;
    }
    return false;
}

static bool schemas_disjoint(const conv *c, const json_t *a, const json_t *b, int depth) {
    if (depth > 16) return false;
    a = resolve_branch(c, a), b = resolve_branch(c, b);
    if (!a || !b) return false;
    if (json_is_false(a) || json_is_false(b)) return true;
    if (!json_is_object(a) || !json_is_object(b)) return false;
    int ta = sem_types(c, a, 0), tb = sem_types(c, b, 0);
    if (!(ta & tb)) return true;
    /* enumerated values: each one must fail the other branch */
    for (int side = 0; side < 2; side++) {
        const json_t *s = side ? b : a, *o = side ? a : b;
        const json_t *cn = json_object_get(s, "const"), *en = json_object_get(s, "enum");
        if (!cn && !json_is_array(en)) continue;
        size_t n = cn ? 1 : json_array_size(en);
        bool all_fail = true;
        for (size_t i = 0; i < n && all_fail; i++) {
            const json_t *x = cn ? cn : json_array_get(en, i);
            /* a value that fails its own branch does not count */
            all_fail = value_fails(c, x, s) || value_fails(c, x, o);
        }
        if (all_fail) return true;
    }
    /* numbers only, in intervals that do not meet */
    if (!(ta & ~(T_INT | T_NUM)) && !(tb & ~(T_INT | T_NUM)) &&
        intervals_disjoint(num_interval(a), num_interval(b)))
        return true;
    /* objects only, a common required property whose schemas are disjoint */
    if (ta == T_OBJ && tb == T_OBJ) {
        const json_t *ra = json_object_get(a, "required"), *rb = json_object_get(b, "required");
        const json_t *pa = json_object_get(a, "properties"), *pb = json_object_get(b, "properties");
        for (size_t i = 0; i < json_array_size(ra); i++) {
            const char *k = json_string_value(json_array_get(ra, i));
            if (!k) continue;
            bool in_b = false;
            for (size_t j = 0; j < json_array_size(rb) && !in_b; j++)
                in_b = json_is_string(json_array_get(rb, j)) &&
                       !strcmp(k, json_string_value(json_array_get(rb, j)));
            const json_t *sa = pa ? json_object_get(pa, k) : NULL, *sbb = pb ? json_object_get(pb, k) : NULL;
            if (in_b && sa && sbb && schemas_disjoint(c, sa, sbb, depth + 1)) return true;
        }
    }
    return false;
}

/* 0 when the branches of oneOf array `one` are pairwise disjoint; else fails naming the pair. */
static int check_one_of(conv *c, const json_t *one, const path *p) {
    size_t n = json_array_size(one);
    if (n > 64) {
        cfail(c, HE_UNSUPPORTED, p, "'oneOf' with more than 64 branches (exclusivity is checked pairwise)");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!schemas_disjoint(c, json_array_get(one, i), json_array_get(one, j), 0)) {
                cfail(c, HE_UNSUPPORTED, p,
                      "'oneOf' branches %zu and %zu are not provably exclusive (a value could match "
                      "both, and oneOf needs exactly one): give them different types, different "
                      "const/enum values, disjoint numeric ranges, or a required property with "
                      "different const values; or use anyOf",
                      i, j);
                return -1;
            }
    return 0;
}

/* ---- decimal ranges: "number" with minimum/maximum ----
 *
 * A bounded number is written without an exponent: an optional "-", an integer part and an
 * optional fraction, at most NUM_SIG significant digits in all (integer digits plus fraction
 * digits). The range is split by the integer part: the bound's own integer part takes the
 * fractions on the right side of the bound's fraction (a digit-by-digit comparison), the
 * integer parts strictly between take any fraction. Bounds are read as the shortest decimal
 * that converts back to the same double (what a JSON Schema validator in JavaScript compares
 * against); a decimal >= that decimal converts to a double >= the bound (rounding is
 * monotonic), and two different decimals of at most 15 significant digits are different
 * doubles, so an exclusive bound stays exclusive after conversion. */
#define NUM_SIG 15
#define NUM_INT_MAX 999999999999999LL /* 15 digits */
#define NUM_FRAC_CAP 40

typedef struct {
    long long ip;
    char frac[NUM_FRAC_CAP + 1]; /* fraction digits, no trailing zeros */
} dec;

/* d >= 0, d < 1e15. round_up: a lower bound (a tiny value becomes 1e-20, a larger one, so
 * outputs only narrow); else an upper bound (a tiny value becomes 0). */
static void dec_from_double(double d, bool round_up, dec *out) {
    memset(out, 0, sizeof *out);
    if (d == 0) return;
    if (d < 1e-20) {
        if (round_up) memset(out->frac, '0', 19), out->frac[19] = '1';
        return;
    }
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d) break;
    }
    char digits[32];
    size_t nd = 0;
    const char *q = buf;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    int e = atoi(q + 1); /* value = d0.d1d2... * 10^e */
    int point = e + 1;   /* digits before the decimal point */
    char all[NUM_FRAC_CAP + 40];
    size_t n = 0, ip_len;
    if (point <= 0) {
        for (int i = 0; i < -point; i++)
            all[n++] = '0';
        ip_len = 0;
        memcpy(all + n, digits, nd), n += nd;
    } else {
        memcpy(all, digits, nd), n = nd;
        while (n < (size_t)point)
            all[n++] = '0';
        ip_len = (size_t)point;
    }
    for (size_t i = 0; i < ip_len; i++)
        out->ip = out->ip * 10 + (all[i] - '0');
    size_t fl = n - ip_len;
    if (fl > NUM_FRAC_CAP) fl = NUM_FRAC_CAP; /* d >= 1e-20: at most 37 digits */
    memcpy(out->frac, all + ip_len, fl);
    out->frac[fl] = 0;
    while (fl && out->frac[fl - 1] == '0')
        out->frac[--fl] = 0;
}

/* Digit strings D of 0..r digits (1..r when need_digit) whose value 0.D lies between lo and hi
 * (digit strings; NULL: no bound on that side; open: strict). false when there is none. */
static bool frac_digits(sb *o, const char *lo, bool lo_open, const char *hi, bool hi_open, int r,
                        bool need_digit) {
    if (lo && !*lo && !lo_open) lo = NULL; /* >= 0 holds for every fraction */
    sb a = {0};
    int n = 0;
    bool end_ok = !lo && (!hi || *hi || !hi_open);
    if (end_ok && !need_digit) sb_put(&a, "\"\""), n++;
    if (r > 0) {
        int l = lo ? (*lo ? *lo - '0' : 0) : -1; /* -1: every digit is above the bound */
        int h = hi ? (*hi ? *hi - '0' : 0) : 10;
        int free_lo = l + 1 > 0 ? l + 1 : 0, free_hi = h - 1 < 9 ? h - 1 : 9;
        if (free_lo <= free_hi) {
            sb_printf(&a, "%s[%d-%d]", n++ ? " | " : "", free_lo, free_hi);
            if (r > 1) sb_printf(&a, " [0-9]{0,%d}", r - 1);
        }
        int bd[2], nb = 0; /* the digits on a bound, ascending */
        if (lo) bd[nb++] = l;
        if (hi && h <= 9 && (!lo || h != l)) bd[nb++] = h;
        if (nb == 2 && bd[0] > bd[1]) nb = 0; /* lo above hi: nothing between */
        for (int i = 0; i < nb; i++) {
            int d = bd[i];
            if ((lo && d < l) || (hi && d > h)) continue;
            const char *clo = lo && d == l ? (*lo ? lo + 1 : lo) : NULL;
            const char *chi = hi && d == h ? (*hi ? hi + 1 : hi) : NULL;
            sb c = {0};
            if (frac_digits(&c, clo, lo_open, chi, hi_open, r - 1, false))
                sb_printf(&a, "%s\"%d\" %s", n++ ? " | " : "", d, c.s);
            free(c.s);
        }
    }
    if (n) sb_printf(o, "( %s )", a.s);
    free(a.s);
    return n > 0;
}

/* The fraction after integer part digits: nothing (value 0) or "." and 1..r digits. */
static bool frac_part(sb *o, const char *lo, bool lo_open, const char *hi, bool hi_open, int r) {
    const char *lo0 = lo && !*lo && !lo_open ? NULL : lo;
    bool end_ok = !lo0 && (!hi || *hi || !hi_open);
    sb d = {0};
    bool digits = r > 0 && frac_digits(&d, lo, lo_open, hi, hi_open, r, true);
    if (end_ok && digits)
        sb_printf(o, "( \".\" %s )?", d.s);
    else if (digits)
        sb_printf(o, "\".\" %s", d.s);
    free(d.s);
    return end_ok || digits;
}

static int sig_budget(long long ip) {
    char t[32];
    return ip ? NUM_SIG - snprintf(t, sizeof t, "%lld", ip) : NUM_SIG;
}

/* Non-negative numbers between lo and hi (hi NULL: up to NUM_INT_MAX and its fractions).
 * Alternatives are appended to o (" | " between); returns how many. */
static int magnitude(sb *o, int n, const dec *lo, bool lo_open, const dec *hi, bool hi_open) {
    sb t = {0};
    if (hi && lo->ip == hi->ip) {
        if (frac_part(&t, lo->frac, lo_open, hi->frac, hi_open, sig_budget(lo->ip)))
            sb_printf(o, "%s\"%lld\" %s", n++ ? " | " : "", lo->ip, t.s);
        free(t.s);
        return n;
    }
    if (frac_part(&t, lo->frac, lo_open, NULL, false, sig_budget(lo->ip)))
        sb_printf(o, "%s\"%lld\" %s", n++ ? " | " : "", lo->ip, t.s);
    free(t.s), t = (sb){0};
    long long a = lo->ip + 1, b = hi ? hi->ip - 1 : NUM_INT_MAX;
    for (long long p10 = 1, len = 1; a <= b && len <= 15; p10 *= 10, len++) {
        long long l = a > p10 ? a : (len == 1 ? 0 : p10), h = p10 * 10 - 1 < b ? p10 * 10 - 1 : b;
        if (l < a) l = a;
        if (l > h) continue;
        char ls[32], hs[32];
        snprintf(ls, sizeof ls, "%lld", l);
        snprintf(hs, sizeof hs, "%lld", h);
        sb_printf(o, "%s( ", n++ ? " | " : "");
        range_same_len(o, ls, hs, strlen(ls));
        int r = sig_budget(h);
        if (r > 0) sb_printf(o, " ) ( \".\" [0-9]{1,%d} )?", r);
        else sb_put(o, " )");
    }
    if (hi && frac_part(&t, NULL, false, hi->frac, hi_open, sig_budget(hi->ip)))
        sb_printf(o, "%s\"%lld\" %s", n++ ? " | " : "", hi->ip, t.s);
    free(t.s);
    return n;
}

static char *gen_number(conv *c, const json_t *s, const path *p) {
    double mn = 0, mx = 0, emn = 0, emx = 0;
    bool hmn = false, hmx = false, hemn = false, hemx = false;
    if (get_bound(c, s, "minimum", p, &mn, &hmn) || get_bound(c, s, "maximum", p, &mx, &hmx) ||
        get_bound(c, s, "exclusiveMinimum", p, &emn, &hemn) ||
        get_bound(c, s, "exclusiveMaximum", p, &emx, &hemx))
        return NULL;
    interval iv = num_interval(s);
    if (!isfinite(iv.lo) && iv.lo > 0) iv.lo = (double)INFINITY;
    if (iv.lo > iv.hi || (iv.lo == iv.hi && (iv.lo_open || iv.hi_open)))
        return cfail(c, HE_INVALID, p, "no number between minimum and maximum");
    const double lim = 1e15; /* magnitudes of 15 integer digits */
    if (iv.lo >= lim || iv.hi <= -lim)
        return cfail(c, HE_UNSUPPORTED, p,
                     "a bounded number must allow values below 1e15 in magnitude (numbers are "
                     "generated with at most 15 significant digits)");
    sb o = {0};
    int n = 0;
    if (iv.hi > 0 || (iv.hi == 0 && !iv.hi_open)) { /* x >= 0 */
        dec lo, hi;
        bool lo_open = iv.lo > 0 ? iv.lo_open : iv.lo == 0 && iv.lo_open;
        dec_from_double(iv.lo > 0 ? iv.lo : 0, true, &lo);
        bool bounded = iv.hi < lim;
        if (bounded) dec_from_double(iv.hi, false, &hi);
        n = magnitude(&o, n, &lo, lo_open, bounded ? &hi : NULL, iv.hi_open);
    }
    if (iv.lo < 0) { /* x < 0: "-" and a magnitude m = -x, never -0 */
        dec lo, hi;
        bool lo_open = iv.hi < 0 ? iv.hi_open : true;
        dec_from_double(iv.hi < 0 ? -iv.hi : 0, true, &lo);
        bool bounded = -iv.lo < lim;
        if (bounded) dec_from_double(-iv.lo, false, &hi);
        sb m = {0};
        if (magnitude(&m, 0, &lo, lo_open, bounded ? &hi : NULL, iv.lo_open))
            sb_printf(&o, "%s\"-\" ( %s )", n++ ? " | " : "", m.s);
        free(m.s);
    }
    if (!n) {
        free(o.s);
        return cfail(c, HE_INVALID, p,
                     "no number of at most %d significant digits between minimum and maximum", NUM_SIG);
    }
    return sb_take(&o);
}

static char *gen(conv *c, const json_t *s, const path *p, const char *hint) {
    if (c->failed) return NULL;
    if (c->b->text_bytes > GRAM_MAX_TEXT / 2)
        return cfail(c, HE_LIMIT, p, "the grammar grows too large");
    if (json_is_true(s)) return xstrdup(prim(c, "j-value"));
    if (json_is_false(s)) return cfail(c, HE_INVALID, p, "schema 'false' admits no value");
    if (!json_is_object(s))
        return cfail(c, HE_INVALID, p, "a schema must be an object or a boolean");
    if (++c->depth > MAX_DEPTH)
        return cfail(c, HE_LIMIT, p, "schema nested deeper than %d", MAX_DEPTH);
    char *out = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (in_list(annotations, k) || in_list(supported, k)) continue;
        path kp = {p, k, -1};
        out = cfail(c, HE_UNSUPPORTED, &kp, "unsupported keyword '%s'", k);
        goto done;
    }
    if (json_object_get(s, "allOf")) {
        json_t *m = merge_all_of(c, s, p);
        if (m) out = gen(c, m, p, hint);
        json_decref(m);
        goto done;
    }
    const json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        path rp = {p, "$ref", -1};
        if (!json_is_string(ref)) {
            out = cfail(c, HE_INVALID, &rp, "'$ref' must be a string");
            goto done;
        }
        if (json_object_size(s) > 1) { /* siblings of $ref: refuse rather than ignore */
            json_object_foreach((json_t *)s, k, v) {
                if (strcmp(k, "$ref") && !in_list(annotations, k)) {
                    path kp = {p, k, -1};
                    out = cfail(c, HE_UNSUPPORTED, &kp, "keyword '%s' beside '$ref'", k);
                    goto done;
                }
            }
        }
        out = gen_ref(c, json_string_value(ref), &rp);
        goto done;
    }
    /* type mask */
    int mask = 0;
    const json_t *type = json_object_get(s, "type");
    path tp = {p, "type", -1};
    if (json_is_string(type)) {
        mask = type_bit(json_string_value(type));
        if (!mask) {
            out = cfail(c, HE_INVALID, &tp, "unknown type '%s'", json_string_value(type));
            goto done;
        }
    } else if (json_is_array(type)) {
        for (size_t i = 0; i < json_array_size(type); i++) {
            const json_t *t = json_array_get(type, i);
            int b = json_is_string(t) ? type_bit(json_string_value(t)) : 0;
            if (!b) {
                out = cfail(c, HE_INVALID, &tp, "bad entry in 'type'");
                goto done;
            }
            mask |= b;
        }
        if (!mask) {
            out = cfail(c, HE_INVALID, &tp, "empty 'type'");
            goto done;
        }
    } else if (type) {
        out = cfail(c, HE_INVALID, &tp, "'type' must be a string or an array");
        goto done;
    }
    const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en || cn) {
        path ep = {p, en ? "enum" : "const", -1};
        if (en && (!json_is_array(en) || !json_array_size(en))) {
            out = cfail(c, HE_INVALID, &ep, "'enum' must be a non-empty array");
            goto done;
        }
        sb o = {0};
        size_t n = en ? json_array_size(en) : 1;
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            const json_t *x = en ? json_array_get(en, i) : cn;
            if (cn && en && !json_equal(x, cn)) continue;
            if (mask && !value_has_type(x, mask)) continue;
            char *lit = literal_json(x);
            sb_printf(&o, "%s%s", any ? " | " : "", lit);
            free(lit);
            any = true;
        }
        if (!any) {
            free(o.s);
            out = cfail(c, HE_INVALID, &ep, "no value of 'enum'/'const' fits the schema");
            goto done;
        }
        out = sb_take(&o);
        goto done;
    }
    const json_t *any_of = json_object_get(s, "anyOf");
    const char *any_key = "anyOf";
    if (!any_of) any_of = json_object_get(s, "oneOf"), any_key = "oneOf";
    if (any_of) {
        path ap = {p, any_key, -1};
        if (!json_is_array(any_of) || !json_array_size(any_of)) {
            out = cfail(c, HE_INVALID, &ap, "'%s' must be a non-empty array", any_key);
            goto done;
        }
        if (json_object_get(s, "anyOf") && json_object_get(s, "oneOf")) {
            out = cfail(c, HE_UNSUPPORTED, &ap, "both anyOf and oneOf");
            goto done;
        }
        if (!strcmp(any_key, "oneOf") && check_one_of(c, any_of, &ap)) goto done;
        /* other keywords beside anyOf would have to hold for every branch */
        json_object_foreach((json_t *)s, k, v) {
            if (strcmp(k, any_key) && !in_list(annotations, k)) {
                path kp = {p, k, -1};
                out = cfail(c, HE_UNSUPPORTED, &kp, "keyword '%s' beside '%s'", k, any_key);
                goto done;
            }
        }
        sb o = {0};
        for (size_t i = 0; i < json_array_size(any_of); i++) {
            path ip = {&ap, NULL, (long)i};
            char hb[80];
            snprintf(hb, sizeof hb, "%.40s-%zu", hint, i);
            char *e = gen(c, json_array_get(any_of, i), &ip, hb);
            if (!e) {
                free(o.s);
                goto done;
            }
            sb_printf(&o, "%s( %s )", i ? " | " : "", e);
            free(e);
        }
        out = sb_take(&o);
        goto done;
    }
    if (!mask) { /* infer from the keywords present; none: any value */
        if (json_object_get(s, "properties") || json_object_get(s, "required") ||
            json_object_get(s, "additionalProperties"))
            mask |= T_OBJ;
        if (json_object_get(s, "items") || json_object_get(s, "prefixItems") ||
            json_object_get(s, "minItems") || json_object_get(s, "maxItems"))
            mask |= T_ARR;
        if (json_object_get(s, "minLength") || json_object_get(s, "maxLength") ||
            json_object_get(s, "pattern") || json_object_get(s, "format"))
            mask |= T_STR;
        if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
            json_object_get(s, "exclusiveMinimum") || json_object_get(s, "exclusiveMaximum"))
            mask |= T_NUM;
        if (!mask) {
            out = xstrdup(prim(c, "j-value"));
            goto done;
        }
    }
    if (mask & T_NUM) mask &= ~T_INT;
    sb o = {0};
    int n = 0;
    for (int t = 1; t <= T_OBJ; t <<= 1) {
        if (!(mask & t)) continue;
        char *e = gen_typed(c, s, p, hint, t);
        if (!e) {
            free(o.s);
            goto done;
        }
        sb_printf(&o, "%s( %s )", n++ ? " | " : "", e);
        free(e);
    }
    out = sb_take(&o);
done:
    c->depth--;
    return out;
}

static void conv_free(conv *c) {
    for (size_t i = 0; i < c->n_refs; i++) {
        free(c->ref_ptr[i]);
        free(c->ref_rule[i]);
    }
    free(c->ref_ptr);
    free(c->ref_rule);
}

/* Rules [0, b->n) plus "check ::= name" must parse: the converter never hands out a grammar
 * that gram_parse refuses. */
static int check_parses(const gram_builder *b, const char *name, he_error *err) {
    sb t = {0};
    for (size_t i = 0; i < b->n; i++)
        sb_printf(&t, "%s ::= %s\n", b->r[i].name, b->r[i].body ? b->r[i].body : "\"\"");
    sb_printf(&t, "gram-check-root ::= %s\n", name);
    gram_grammar *g = gram_parse(t.s, t.n, "gram-check-root", err);
    free(t.s);
    if (!g) {
        he_prefix(err, "schema: the generated grammar does not compile (a $ref cycle that "
                       "consumes nothing?)");
        return -1;
    }
    gram_free(g);
    return 0;
}

const char *gram_builder_add_schema(gram_builder *b, const json_t *schema, const char *name_hint,
                                    he_error *err) {
    size_t n0 = b->n, bytes0 = b->text_bytes;
    conv c = {.b = b, .root = schema, .err = err};
    size_t idx = reserve_rule(b, name_hint ? name_hint : "schema");
    char *name = xstrdup(b->r[idx].name);
    char *body = gen(&c, schema, NULL, name);
    conv_free(&c);
    if (body) {
        b->r[idx].body = body;
        b->text_bytes += strlen(body);
        if (b->text_bytes > GRAM_MAX_TEXT / 2) {
            he_fail(err, HE_LIMIT, "schema: the grammar grows too large");
        } else if (!check_parses(b, name, err)) {
            free(name);
            return b->r[idx].name;
        }
    }
    free(name);
    drop_rules_from(b, n0);
    b->text_bytes = bytes0;
    return NULL;
}

char *gram_schema_to_gbnf(const json_t *schema, he_error *err) {
    gram_builder *b = gram_builder_new();
    const char *name = gram_builder_add_schema(b, schema, "value", err);
    char *text = NULL;
    if (name && !gram_builder_add_rule(b, "root", name, err))
        text = gram_builder_text(b, NULL, err);
    gram_builder_free(b);
    return text;
}
