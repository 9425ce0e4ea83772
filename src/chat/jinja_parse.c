/* jinja_parse.c — recursive-descent parser from tokens to the AST.
 *
 * Follows Jinja2's grammar and operator precedence (jinja2/parser.py), including its quirks:
 * 'is' tests and '|' filters bind tighter than arithmetic, 'not' binds looser than 'is',
 * '**' is left-associative, and 'for ... in X if Y' reads 'if Y' as the loop filter. */
#include <string.h>

#include "chat/jinja_internal.h"

typedef struct {
    jarena *a;
    const jtok *t;
    size_t n, i;
    int depth, max_depth;
} parser;

static const jtok *cur(parser *P) { return &P->t[P->i]; }
static const jtok *peek(parser *P, size_t k) {
    return P->i + k < P->n ? &P->t[P->i + k] : &P->t[P->n - 1];
}
static void next(parser *P) {
    if (P->i + 1 < P->n) P->i++;
}

static void at(parser *P, const jtok *t) {
    P->a->line = t->line;
    P->a->col = t->col;
}

static const char *tok_desc(const jtok *t, char *buf, size_t cap) {
    switch (t->t) {
    case T_EOF: return "end of template";
    case T_TEXT: return "template data";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "'}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "'%}'";
    case T_NAME: snprintf(buf, cap, "'%.*s'", (int)(t->s.n > 40 ? 40 : t->s.n), t->s.p); return buf;
    case T_STRING: return "string";
    case T_INT: return "integer";
    case T_FLOAT: return "float";
    default: snprintf(buf, cap, "'%s'", t->op); return buf;
    }
}

_Noreturn static void unexpected(parser *P, const char *expected) {
    char buf[64];
    const jtok *t = cur(P);
    at(P, t);
    if (expected)
        jthrow(P->a, HE_FORMAT, "unexpected %s, expected %s", tok_desc(t, buf, sizeof buf),
               expected);
    jthrow(P->a, HE_FORMAT, "unexpected %s", tok_desc(t, buf, sizeof buf));
}

static int is_op(parser *P, const char *op) {
    return cur(P)->t == T_OP && strcmp(cur(P)->op, op) == 0;
}
static int is_name(parser *P, const char *name) {
    const jtok *t = cur(P);
    return t->t == T_NAME && t->s.n == strlen(name) && memcmp(t->s.p, name, t->s.n) == 0;
}
static int tok_is_name(const jtok *t, const char *name) {
    return t->t == T_NAME && t->s.n == strlen(name) && memcmp(t->s.p, name, t->s.n) == 0;
}
static void expect_op(parser *P, const char *op) {
    if (!is_op(P, op)) {
        char want[8];
        snprintf(want, sizeof want, "'%s'", op);
        unexpected(P, want);
    }
    next(P);
}
static void expect_name(parser *P, const char *name) {
    if (!is_name(P, name)) {
        char want[32];
        snprintf(want, sizeof want, "'%s'", name);
        unexpected(P, want);
    }
    next(P);
}
static void expect(parser *P, int type, const char *what) {
    if (cur(P)->t != type) unexpected(P, what);
    next(P);
}
static const jstr *take_name(parser *P) {
    if (cur(P)->t != T_NAME) unexpected(P, "a name");
    jstr *s = ja_alloc(P->a, sizeof *s);
    *s = cur(P)->s;
    next(P);
    return s;
}

static jnode *node(parser *P, int kind, const jtok *t) {
    jnode *n = ja_alloc(P->a, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = t->line;
    n->col = t->col;
    return n;
}

/* Growable node/name arrays for the parser. */
typedef struct {
    void **p;
    size_t n, cap;
} vec;
static void vpush(parser *P, vec *v, void *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        v->p = ja_grow(P->a, v->p, v->n * sizeof(void *), cap * sizeof(void *));
        v->cap = cap;
    }
    v->p[v->n++] = x;
}

static void enter(parser *P) {
    if (++P->depth > P->max_depth) {
        at(P, cur(P));
        jthrow(P->a, HE_LIMIT, "template nested too deeply (limit %d)", P->max_depth);
    }
}
static void leave(parser *P) { P->depth--; }

/* ---- Expressions ---- */

static jnode *parse_expr(parser *P);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, int with_filter);

/* call_args -> '(' [ (expr | name '=' expr) (',' ...)* [','] ] ')' */
static void parse_call_args(parser *P, jnode *n) {
    vec args = {0}, kwn = {0}, kwv = {0};
    expect_op(P, "(");
    while (!is_op(P, ")")) {
        if (args.n + kwn.n) expect_op(P, ",");
        if (is_op(P, ")")) break;
        if (is_op(P, "*") || is_op(P, "**")) {
            at(P, cur(P));
            jthrow(P->a, HE_UNSUPPORTED, "*args and **kwargs in calls are not supported");
        }
        if (cur(P)->t == T_NAME && peek(P, 1)->t == T_OP && strcmp(peek(P, 1)->op, "=") == 0) {
            vpush(P, &kwn, (void *)take_name(P));
            next(P);
            vpush(P, &kwv, parse_expr(P));
        } else {
            if (kwn.n) {
                at(P, cur(P));
                jthrow(P->a, HE_FORMAT, "positional argument follows keyword argument");
            }
            vpush(P, &args, parse_expr(P));
        }
    }
    next(P);
    n->kids = (jnode **)args.p;
    n->nkids = args.n;
    n->kwn = (const jstr **)kwn.p;
    n->kwv = (jnode **)kwv.p;
    n->nkw = kwn.n;
}

/* filter -> '|' name ('.' name)* [call_args] */
static jnode *parse_filter(parser *P, jnode *operand) {
    const jtok *t = cur(P);
    next(P); /* '|' */
    jnode *n = node(P, E_FILTER, t);
    n->a = operand;
    n->s = take_name(P);
    if (is_op(P, "(")) parse_call_args(P, n);
    return n;
}

/* test -> 'is' ['not'] name [call_args | primary] */
static jnode *parse_test(parser *P, jnode *operand) {
    const jtok *t = cur(P);
    next(P); /* 'is' */
    jnode *n = node(P, E_TEST, t);
    n->a = operand;
    if (is_name(P, "not")) {
        n->op = 1;
        next(P);
    }
    n->s = take_name(P);
    if (is_op(P, "(")) {
        parse_call_args(P, n);
    } else {
        const jtok *c = cur(P);
        int starts = c->t == T_NAME || c->t == T_STRING || c->t == T_INT || c->t == T_FLOAT ||
                     (c->t == T_OP && (!strcmp(c->op, "(") || !strcmp(c->op, "[") ||
                                       !strcmp(c->op, "{")));
        if (starts && !tok_is_name(c, "else") && !tok_is_name(c, "or") && !tok_is_name(c, "and")) {
            if (tok_is_name(c, "is")) {
                at(P, c);
                jthrow(P->a, HE_FORMAT, "you cannot chain multiple tests with is");
            }
            n->kids = ja_alloc(P->a, sizeof(jnode *));
            n->kids[0] = parse_unary(P, 0);
            n->nkids = 1;
        }
    }
    return n;
}

/* subscript -> '[' (expr | [expr] ':' [expr] [':' [expr]]) ']' */
static jnode *parse_subscript(parser *P, jnode *obj) {
    const jtok *t = cur(P);
    next(P); /* '[' */
    jnode *parts[3] = {NULL, NULL, NULL};
    int nparts = 0, is_slice = 0;
    vec tuple = {0};
    for (;;) {
        if (is_op(P, ":")) {
            is_slice = 1;
            if (nparts >= 2) unexpected(P, "']'");
            nparts++;
            next(P);
            continue;
        }
        if (is_op(P, "]")) break;
        if (is_op(P, ",") && !is_slice) {
            if (!parts[0]) unexpected(P, "an expression");
            next(P);
            vpush(P, &tuple, parts[0]);
            parts[0] = NULL;
            if (is_op(P, "]")) break;
            continue;
        }
        if (parts[nparts]) unexpected(P, "']'");
        parts[nparts] = parse_expr(P);
    }
    next(P);
    if (is_slice) {
        jnode *n = node(P, E_SLICE, t);
        n->a = obj;
        n->b = parts[0];
        n->c = parts[1];
        n->d = parts[2];
        return n;
    }
    jnode *n = node(P, E_ITEM, t);
    n->a = obj;
    if (tuple.n) {
        if (parts[0]) vpush(P, &tuple, parts[0]);
        jnode *tn = node(P, E_TUPLE, t);
        tn->kids = (jnode **)tuple.p;
        tn->nkids = tuple.n;
        n->b = tn;
    } else {
        if (!parts[0]) unexpected(P, "an expression");
        n->b = parts[0];
    }
    return n;
}

/* postfix -> primary ( '.' name | '.' integer | subscript | call_args )* */
static jnode *parse_postfix(parser *P, jnode *n) {
    for (;;) {
        const jtok *t = cur(P);
        if (is_op(P, ".")) {
            next(P);
            if (cur(P)->t == T_NAME) {
                jnode *m = node(P, E_ATTR, t);
                m->a = n;
                m->s = take_name(P);
                n = m;
            } else if (cur(P)->t == T_INT) {
                jnode *m = node(P, E_ITEM, t);
                m->a = n;
                m->b = node(P, E_CONST, cur(P));
                m->b->val = jv_int(cur(P)->i);
                next(P);
                n = m;
            } else {
                unexpected(P, "a name");
            }
        } else if (is_op(P, "[")) {
            n = parse_subscript(P, n);
        } else if (is_op(P, "(")) {
            jnode *m = node(P, E_CALL, t);
            m->a = n;
            parse_call_args(P, m);
            n = m;
        } else {
            return n;
        }
    }
}

/* primary -> name | string+ | integer | float | '(' tuple ')' | list | dict */
static jnode *parse_primary(parser *P) {
    const jtok *t = cur(P);
    jnode *n;
    enter(P);
    if (t->t == T_NAME) {
        n = node(P, E_CONST, t);
        if (tok_is_name(t, "true") || tok_is_name(t, "True"))
            n->val = jv_bool(1);
        else if (tok_is_name(t, "false") || tok_is_name(t, "False"))
            n->val = jv_bool(0);
        else if (tok_is_name(t, "none") || tok_is_name(t, "None"))
            n->val = jv_none();
        else {
            n->kind = E_NAME;
            n->s = take_name(P);
            leave(P);
            return n;
        }
        next(P);
    } else if (t->t == T_STRING) {
        /* adjacent string literals concatenate */
        jbuf b;
        jb_init(&b, P->a, SIZE_MAX / 2);
        while (cur(P)->t == T_STRING) {
            jb_put(&b, cur(P)->s.p, cur(P)->s.n);
            next(P);
        }
        n = node(P, E_CONST, t);
        n->val = jv_str(jb_str(&b));
    } else if (t->t == T_INT) {
        n = node(P, E_CONST, t);
        n->val = jv_int(t->i);
        next(P);
    } else if (t->t == T_FLOAT) {
        n = node(P, E_CONST, t);
        n->val = jv_float(t->f);
        next(P);
    } else if (is_op(P, "(")) {
        next(P);
        if (is_op(P, ")")) {
            next(P);
            n = node(P, E_TUPLE, t);
        } else {
            jnode *first = parse_expr(P);
            if (is_op(P, ",")) {
                vec items = {0};
                vpush(P, &items, first);
                while (is_op(P, ",")) {
                    next(P);
                    if (is_op(P, ")")) break;
                    vpush(P, &items, parse_expr(P));
                }
                n = node(P, E_TUPLE, t);
                n->kids = (jnode **)items.p;
                n->nkids = items.n;
            } else {
                n = first;
            }
            expect_op(P, ")");
        }
    } else if (is_op(P, "[")) {
        next(P);
        vec items = {0};
        while (!is_op(P, "]")) {
            if (items.n) expect_op(P, ",");
            if (is_op(P, "]")) break;
            vpush(P, &items, parse_expr(P));
        }
        next(P);
        n = node(P, E_LIST, t);
        n->kids = (jnode **)items.p;
        n->nkids = items.n;
    } else if (is_op(P, "{")) {
        next(P);
        vec items = {0};
        while (!is_op(P, "}")) {
            if (items.n) expect_op(P, ",");
            if (is_op(P, "}")) break;
            vpush(P, &items, parse_expr(P));
            expect_op(P, ":");
            vpush(P, &items, parse_expr(P));
        }
        next(P);
        n = node(P, E_DICT, t);
        n->kids = (jnode **)items.p;
        n->nkids = items.n;
    } else {
        unexpected(P, "an expression");
    }
    leave(P);
    return n;
}

/* unary -> ('-' | '+') unary_nofilter | primary postfix; then (filter | test | call_args)* */
static jnode *parse_unary(parser *P, int with_filter) {
    const jtok *t = cur(P);
    jnode *n;
    enter(P);
    if (is_op(P, "-") || is_op(P, "+")) {
        next(P);
        n = node(P, t->op[0] == '-' ? E_NEG : E_POS, t);
        n->a = parse_unary(P, 0);
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) {
        for (;;) {
            if (is_op(P, "|"))
                n = parse_filter(P, n);
            else if (is_name(P, "is"))
                n = parse_test(P, n);
            else if (is_op(P, "(")) {
                jnode *m = node(P, E_CALL, cur(P));
                m->a = n;
                parse_call_args(P, m);
                n = m;
            } else
                break;
        }
    }
    leave(P);
    return n;
}

static jnode *binop(parser *P, const jtok *t, int op, jnode *l, jnode *r) {
    jnode *n = node(P, E_BIN, t);
    n->op = (uint8_t)op;
    n->a = l;
    n->b = r;
    return n;
}

/* pow -> unary ('**' unary)*   (left-associative, as in Jinja2) */
static jnode *parse_pow(parser *P) {
    jnode *n = parse_unary(P, 1);
    while (is_op(P, "**")) {
        const jtok *t = cur(P);
        next(P);
        n = binop(P, t, OP_POW, n, parse_unary(P, 1));
    }
    return n;
}

/* math2 -> pow (('*' | '/' | '//' | '%') pow)* */
static jnode *parse_math2(parser *P) {
    jnode *n = parse_pow(P);
    for (;;) {
        const jtok *t = cur(P);
        int op = is_op(P, "*") ? OP_MUL : is_op(P, "/") ? OP_DIV : is_op(P, "//") ? OP_FLOORDIV
                 : is_op(P, "%") ? OP_MOD : -1;
        if (op < 0) return n;
        next(P);
        n = binop(P, t, op, n, parse_pow(P));
    }
}

/* concat -> math2 ('~' math2)* */
static jnode *parse_concat(parser *P) {
    jnode *n = parse_math2(P);
    while (is_op(P, "~")) {
        const jtok *t = cur(P);
        next(P);
        n = binop(P, t, OP_CONCAT, n, parse_math2(P));
    }
    return n;
}

/* math1 -> concat (('+' | '-') concat)* */
static jnode *parse_math1(parser *P) {
    jnode *n = parse_concat(P);
    for (;;) {
        const jtok *t = cur(P);
        int op = is_op(P, "+") ? OP_ADD : is_op(P, "-") ? OP_SUB : -1;
        if (op < 0) return n;
        next(P);
        n = binop(P, t, op, n, parse_concat(P));
    }
}

/* compare -> math1 (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not' 'in') math1)*
 * A chain a < b < c means (a < b) and (b < c). */
static jnode *parse_compare(parser *P) {
    jnode *left = parse_math1(P), *result = NULL;
    for (;;) {
        const jtok *t = cur(P);
        int op = is_op(P, "==") ? OP_EQ : is_op(P, "!=") ? OP_NE : is_op(P, "<") ? OP_LT
                 : is_op(P, "<=") ? OP_LE : is_op(P, ">") ? OP_GT : is_op(P, ">=") ? OP_GE
                 : is_name(P, "in") ? OP_IN : -1;
        if (op < 0 && is_name(P, "not") && tok_is_name(peek(P, 1), "in")) {
            next(P);
            op = OP_NOTIN;
        }
        if (op < 0) return result ? result : left;
        next(P);
        jnode *right = parse_math1(P);
        jnode *cmp = binop(P, t, op, left, right);
        if (result) {
            jnode *and = node(P, E_AND, t);
            and->a = result;
            and->b = cmp;
            result = and;
        } else {
            result = cmp;
        }
        left = right;
    }
}

/* not -> 'not' not | compare */
static jnode *parse_not(parser *P) {
    if (is_name(P, "not")) {
        const jtok *t = cur(P);
        next(P);
        enter(P);
        jnode *n = node(P, E_NOT, t);
        n->a = parse_not(P);
        leave(P);
        return n;
    }
    return parse_compare(P);
}

/* and -> not ('and' not)* */
static jnode *parse_and(parser *P) {
    jnode *n = parse_not(P);
    while (is_name(P, "and")) {
        jnode *m = node(P, E_AND, cur(P));
        next(P);
        m->a = n;
        m->b = parse_not(P);
        n = m;
    }
    return n;
}

/* or -> and ('or' and)* */
static jnode *parse_or(parser *P) {
    jnode *n = parse_and(P);
    while (is_name(P, "or")) {
        jnode *m = node(P, E_OR, cur(P));
        next(P);
        m->a = n;
        m->b = parse_and(P);
        n = m;
    }
    return n;
}

/* expr -> or ['if' or ['else' expr]] */
static jnode *parse_expr(parser *P) {
    enter(P);
    jnode *n = parse_or(P);
    while (is_name(P, "if")) {
        jnode *m = node(P, E_COND, cur(P));
        next(P);
        m->a = n;
        m->b = parse_or(P);
        if (is_name(P, "else")) {
            next(P);
            m->c = parse_expr(P);
        }
        n = m;
    }
    leave(P);
    return n;
}

/* tuple -> expr (',' expr)* [','] ; with_cond = 0 parses 'or' level items (for/if heads) */
static jnode *parse_tuple(parser *P, int with_cond) {
    const jtok *t = cur(P);
    jnode *first = with_cond ? parse_expr(P) : parse_or(P);
    if (!is_op(P, ",")) return first;
    vec items = {0};
    vpush(P, &items, first);
    while (is_op(P, ",")) {
        next(P);
        if (cur(P)->t == T_BLOCK_END || cur(P)->t == T_VAR_END || is_name(P, "in") ||
            is_name(P, "if") || is_name(P, "recursive") || is_op(P, "="))
            break;
        vpush(P, &items, with_cond ? parse_expr(P) : parse_or(P));
    }
    jnode *n = node(P, E_TUPLE, t);
    n->kids = (jnode **)items.p;
    n->nkids = items.n;
    return n;
}

/* ---- Statements ---- */

static jnode *parse_body(parser *P, const char *const *ends);

/* target -> name (',' name)* | '(' ... ')' ; attribute targets for 'set' only */
static void parse_target(parser *P, jnode *n, int allow_attr) {
    vec names = {0};
    int paren = 0;
    if (is_op(P, "(")) {
        paren = 1;
        next(P);
    }
    const jstr *first = take_name(P);
    if (allow_attr && !paren && is_op(P, ".")) {
        next(P);
        n->s = first;
        n->op = 1;
        vpush(P, &names, (void *)take_name(P));
    } else {
        vpush(P, &names, (void *)first);
        while (is_op(P, ",")) {
            next(P);
            if (paren && is_op(P, ")")) break;
            vpush(P, &names, (void *)take_name(P));
        }
        if (paren) expect_op(P, ")");
    }
    n->kwn = (const jstr **)names.p;
    n->nkw = names.n;
}

/* params -> '(' [name ['=' expr] (',' name ['=' expr])*] ')' */
static void parse_params(parser *P, jnode *n) {
    vec names = {0}, defs = {0};
    expect_op(P, "(");
    while (!is_op(P, ")")) {
        if (names.n) expect_op(P, ",");
        if (is_op(P, ")")) break;
        vpush(P, &names, (void *)take_name(P));
        jnode *def = NULL;
        if (is_op(P, "=")) {
            next(P);
            def = parse_expr(P);
        } else if (defs.n && defs.p[defs.n - 1]) {
            at(P, cur(P));
            jthrow(P->a, HE_FORMAT, "non-default argument follows default argument");
        }
        vpush(P, &defs, def);
    }
    next(P);
    n->kwn = (const jstr **)names.p;
    n->kwv = (jnode **)defs.p;
    n->nkw = names.n;
}

static void end_block(parser *P) { expect(P, T_BLOCK_END, "'%}'"); }

/* Consumes '{%' name '%}' for a closing tag already seen by parse_body. */
static void close_tag(parser *P, const char *name) {
    expect(P, T_BLOCK_BEGIN, "'{%'");
    expect_name(P, name);
    end_block(P);
}

/* if -> '{%' 'if' expr '%}' body ('{%' 'elif' expr '%}' body)* ['{%' 'else' '%}' body]
 *       '{%' 'endif' '%}' */
static jnode *parse_if(parser *P, const jtok *t) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    jnode *n = node(P, S_IF, t);
    n->a = parse_tuple(P, 0);
    end_block(P);
    n->b = parse_body(P, ends);
    next(P); /* '{%' */
    if (is_name(P, "elif")) {
        const jtok *e = cur(P);
        next(P);
        enter(P);
        jnode *body = node(P, S_BODY, e);
        body->kids = ja_alloc(P->a, sizeof(jnode *));
        body->kids[0] = parse_if(P, e);
        body->nkids = 1;
        leave(P);
        n->c = body;
        return n; /* the nested if consumed 'endif' */
    }
    if (is_name(P, "else")) {
        static const char *const ends2[] = {"endif", NULL};
        next(P);
        end_block(P);
        n->c = parse_body(P, ends2);
        next(P);
    }
    expect_name(P, "endif");
    end_block(P);
    return n;
}

/* for -> '{%' 'for' target 'in' tuple ['if' expr] ['recursive'] '%}' body
 *        ['{%' 'else' '%}' body] '{%' 'endfor' '%}' */
static jnode *parse_for(parser *P, const jtok *t) {
    static const char *const ends[] = {"else", "endfor", NULL};
    static const char *const ends2[] = {"endfor", NULL};
    jnode *n = node(P, S_FOR, t);
    parse_target(P, n, 0);
    expect_name(P, "in");
    n->a = parse_tuple(P, 0);
    if (is_name(P, "if")) {
        next(P);
        n->d = parse_expr(P);
    }
    if (is_name(P, "recursive")) {
        at(P, cur(P));
        jthrow(P->a, HE_UNSUPPORTED, "recursive loops are not supported");
    }
    end_block(P);
    n->b = parse_body(P, ends);
    next(P);
    if (is_name(P, "else")) {
        next(P);
        end_block(P);
        n->c = parse_body(P, ends2);
        next(P);
    }
    expect_name(P, "endfor");
    end_block(P);
    return n;
}

/* set -> '{%' 'set' target '=' tuple '%}'
 *      | '{%' 'set' target ('|' filter)* '%}' body '{%' 'endset' '%}' */
static jnode *parse_set(parser *P, const jtok *t) {
    static const char *const ends[] = {"endset", NULL};
    jnode *n = node(P, S_SET, t);
    parse_target(P, n, 1);
    if (is_op(P, "=")) {
        next(P);
        n->a = parse_tuple(P, 1);
        end_block(P);
        return n;
    }
    n->kind = S_SETBLOCK;
    jnode *f = NULL;
    while (is_op(P, "|")) f = parse_filter(P, f);
    n->d = f;
    end_block(P);
    n->b = parse_body(P, ends);
    close_tag(P, "endset");
    return n;
}

/* macro -> '{%' 'macro' name params '%}' body '{%' 'endmacro' [name] '%}' */
static jnode *parse_macro(parser *P, const jtok *t) {
    static const char *const ends[] = {"endmacro", NULL};
    jnode *n = node(P, S_MACRO, t);
    n->s = take_name(P);
    parse_params(P, n);
    end_block(P);
    n->b = parse_body(P, ends);
    next(P);
    expect_name(P, "endmacro");
    if (cur(P)->t == T_NAME) next(P);
    end_block(P);
    return n;
}

/* call -> '{%' 'call' [params] expr '%}' body '{%' 'endcall' '%}' */
static jnode *parse_callblock(parser *P, const jtok *t) {
    static const char *const ends[] = {"endcall", NULL};
    jnode *n = node(P, S_CALLBLOCK, t);
    if (is_op(P, "(")) parse_params(P, n);
    n->a = parse_expr(P);
    if (n->a->kind != E_CALL) {
        at(P, t);
        jthrow(P->a, HE_FORMAT, "expected a call after 'call'");
    }
    end_block(P);
    n->b = parse_body(P, ends);
    close_tag(P, "endcall");
    return n;
}

/* filterblock -> '{%' 'filter' filter ('|' filter)* '%}' body '{%' 'endfilter' '%}' */
static jnode *parse_filterblock(parser *P, const jtok *t) {
    static const char *const ends[] = {"endfilter", NULL};
    jnode *n = node(P, S_FILTERBLOCK, t);
    jnode *f = node(P, E_FILTER, cur(P));
    f->s = take_name(P);
    if (is_op(P, "(")) parse_call_args(P, f);
    while (is_op(P, "|")) f = parse_filter(P, f);
    n->a = f;
    end_block(P);
    n->b = parse_body(P, ends);
    close_tag(P, "endfilter");
    return n;
}

/* with -> '{%' 'with' [name '=' expr (',' name '=' expr)*] '%}' body '{%' 'endwith' '%}' */
static jnode *parse_with(parser *P, const jtok *t) {
    static const char *const ends[] = {"endwith", NULL};
    jnode *n = node(P, S_WITH, t);
    vec names = {0}, vals = {0};
    while (cur(P)->t != T_BLOCK_END) {
        if (names.n) expect_op(P, ",");
        vpush(P, &names, (void *)take_name(P));
        expect_op(P, "=");
        vpush(P, &vals, parse_expr(P));
    }
    n->kwn = (const jstr **)names.p;
    n->kwv = (jnode **)vals.p;
    n->nkw = names.n;
    end_block(P);
    n->b = parse_body(P, ends);
    close_tag(P, "endwith");
    return n;
}

/* statement -> '{%' (if | for | set | macro | call | filter | with | break | continue) */
static jnode *parse_statement(parser *P) {
    const jtok *open = cur(P);
    next(P); /* '{%' */
    const jtok *t = cur(P);
    if (t->t != T_NAME) unexpected(P, "a statement name");
    jnode *n;
    enter(P);
    next(P);
    if (tok_is_name(t, "if")) n = parse_if(P, t);
    else if (tok_is_name(t, "for")) n = parse_for(P, t);
    else if (tok_is_name(t, "set")) n = parse_set(P, t);
    else if (tok_is_name(t, "macro")) n = parse_macro(P, t);
    else if (tok_is_name(t, "call")) n = parse_callblock(P, t);
    else if (tok_is_name(t, "filter")) n = parse_filterblock(P, t);
    else if (tok_is_name(t, "with")) n = parse_with(P, t);
    else if (tok_is_name(t, "break") || tok_is_name(t, "continue")) {
        n = node(P, tok_is_name(t, "break") ? S_BREAK : S_CONTINUE, t);
        end_block(P);
    } else {
        char buf[64];
        at(P, t);
        (void)open;
        static const char *const known[] = {"include", "import", "from", "extends", "block",
                                            "do", "autoescape", NULL};
        for (int k = 0; known[k]; k++)
            if (tok_is_name(t, known[k]))
                jthrow(P->a, HE_UNSUPPORTED, "'%s' tags are not supported",
                       known[k]);
        jthrow(P->a, HE_FORMAT, "unexpected %s", tok_desc(t, buf, sizeof buf));
    }
    leave(P);
    return n;
}

/* body -> (text | '{{' tuple '}}' | statement)*  up to one of `ends` (not consumed) */
static jnode *parse_body(parser *P, const char *const *ends) {
    jnode *body = node(P, S_BODY, cur(P));
    vec kids = {0};
    enter(P);
    for (;;) {
        const jtok *t = cur(P);
        if (t->t == T_EOF) {
            if (ends) {
                at(P, t);
                jthrow(P->a, HE_FORMAT, "unexpected end of template, expected '%s'", ends[0]);
            }
            break;
        }
        if (t->t == T_TEXT) {
            jnode *n = node(P, S_TEXT, t);
            jstr *s = ja_alloc(P->a, sizeof *s);
            *s = t->s;
            n->s = s;
            vpush(P, &kids, n);
            next(P);
        } else if (t->t == T_VAR_BEGIN) {
            next(P);
            jnode *n = node(P, S_OUT, t);
            n->a = parse_tuple(P, 1);
            expect(P, T_VAR_END, "'}}'");
            vpush(P, &kids, n);
        } else if (t->t == T_BLOCK_BEGIN) {
            const jtok *name = peek(P, 1);
            if (ends && name->t == T_NAME) {
                int hit = 0;
                for (int k = 0; ends[k]; k++)
                    if (tok_is_name(name, ends[k])) hit = 1;
                if (hit) break;
            }
            vpush(P, &kids, parse_statement(P));
        } else {
            unexpected(P, NULL);
        }
    }
    leave(P);
    body->kids = (jnode **)kids.p;
    body->nkids = kids.n;
    return body;
}

jnode *jinja_parse_tokens(jarena *a, const jtok *toks, size_t ntoks, int max_depth) {
    parser P = {.a = a, .t = toks, .n = ntoks, .max_depth = max_depth};
    return parse_body(&P, NULL);
}
