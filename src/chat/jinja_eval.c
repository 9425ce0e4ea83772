/* jinja_eval.c — the tree-walking evaluator and the public parse/render entry points.
 *
 * Values follow Python: truthiness, int/float arithmetic, str()/repr(), and Jinja2's default
 * Undefined (renders empty, is falsy, iterates as empty; using it in arithmetic or taking an
 * attribute of it is an error). Scopes mirror Jinja2's: each loop iteration, macro call and
 * 'with' gets a fresh scope, so 'set' inside a loop does not leak out (hence namespace()). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "chat/jinja_internal.h"

struct jinja_template {
    jarena a;
    jnode *root;
};

enum { FLOW_NORMAL = 0, FLOW_BREAK, FLOW_CONTINUE };

static jv eval(jvm *V, const jnode *n, jscope *sc);
static int exec(jvm *V, const jnode *n, jscope *sc, jbuf *out);

/* ---- Scopes and helpers ---- */

static jscope *scope_new(jvm *V, jscope *parent) {
    jscope *s = ja_alloc(&V->a, sizeof *s);
    s->parent = parent;
    return s;
}

static jv *scope_find(jscope *s, const jstr *name) {
    for (; s; s = s->parent) {
        jv *v = jd_gets(&s->vars, name->p, name->n);
        if (v) return v;
    }
    return NULL;
}

static void scope_set(jvm *V, jscope *s, const jstr *name, jv v) {
    jd_set(&V->a, &s->vars, jv_str(name), v);
}

static void at(jvm *V, const jnode *n) {
    V->a.line = n->line;
    V->a.col = n->col;
}

void jvm_step(jvm *V) {
    if (++V->steps > V->lim.max_steps)
        jthrow(&V->a, HE_LIMIT, "too many steps (limit %llu): runaway loop?",
               (unsigned long long)V->lim.max_steps);
}

void jvm_work(jvm *V, size_t bytes) {
    V->steps += bytes >> 6;
    jvm_step(V);
}

int jvm_equal(jvm *V, jv x, jv y) {
    uint64_t work;
    int r = jv_equal_work(x, y, &work);
    V->steps += work;
    jvm_step(V);
    return r;
}

/* Recursion in templates (macros calling macros, nested blocks, deep values) runs on the C
 * stack; measuring it catches every path at once, whatever the mix of frames. */
void jvm_check_stack(jvm *V) {
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (V->stack_base > here && V->stack_base - here > JINJA_STACK_BUDGET)
        jthrow(&V->a, HE_LIMIT, "template recursion too deep");
}

void jvm_undefined_error(jvm *V, jv u) {
    jthrow(&V->a, HE_RUNTIME, "UndefinedError: %s", u.u.hint ? u.u.hint : "value is undefined");
}

static char *hintf(jvm *V, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *hintf(jvm *V, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return ja_dup(&V->a, buf, strlen(buf));
}

static const char *obj_desc(jv v) {
    switch (v.t) {
    case JV_NONE:
        return "'None'";
    case JV_BOOL:
        return v.u.b ? "'True'" : "'False'";
    case JV_INT:
        return "'int object'";
    case JV_FLOAT:
        return "'float object'";
    case JV_STR:
        return "'str object'";
    case JV_LIST:
        return (v.flags & JF_TUPLE) ? "'tuple object'" : "'list object'";
    case JV_DICT:
        return "'dict object'";
    case JV_NS:
        return "'Namespace object'";
    case JV_LOOP:
        return "'LoopContext object'";
    default:
        return "'object'";
    }
}

jv jv_str_len_check(jvm *V, const char *p, size_t n) {
    if (n > V->lim.max_output)
        jthrow(&V->a, HE_LIMIT, "string too long (limit %zu bytes)", V->lim.max_output);
    return jv_strn(&V->a, p, n);
}

jv jargs_get(const jargs *g, size_t i, const char *name, jv dflt, int *found) {
    if (found) *found = 1;
    if (i < g->npos) return g->pos[i];
    if (name) {
        size_t nl = strlen(name);
        for (size_t k = 0; k < g->nkw; k++)
            if (g->kwn[k]->n == nl && memcmp(g->kwn[k]->p, name, nl) == 0) return g->kwv[k];
    }
    if (found) *found = 0;
    return dflt;
}

/* ---- Attribute and item access ---- */

static jv loop_attr(jvm *V, const jloop *L, const jstr *name) {
    size_t n = L->items->n, i = L->i;
#define IS(s) (name->n == sizeof(s) - 1 && memcmp(name->p, s, name->n) == 0)
    if (IS("index")) return jv_int((int64_t)i + 1);
    if (IS("index0")) return jv_int((int64_t)i);
    if (IS("revindex")) return jv_int((int64_t)(n - i));
    if (IS("revindex0")) return jv_int((int64_t)(n - i - 1));
    if (IS("first")) return jv_bool(i == 0);
    if (IS("last")) return jv_bool(i + 1 == n);
    if (IS("length")) return jv_int((int64_t)n);
    if (IS("depth")) return jv_int(1);
    if (IS("depth0")) return jv_int(0);
    if (IS("previtem"))
        return i > 0 ? L->items->v[i - 1] : jv_undef(hintf(V, "there is no previous item"));
    if (IS("nextitem"))
        return i + 1 < n ? L->items->v[i + 1] : jv_undef(hintf(V, "there is no next item"));
    if (IS("cycle")) {
        jv m = {.t = JV_METHOD, .id = 1};
        m.u.meth = ja_alloc(&V->a, sizeof *m.u.meth);
        m.u.meth->self.t = JV_LOOP;
        m.u.meth->self.u.loop = (struct jloop *)L;
        return m;
    }
#undef IS
    return jv_undef(
        hintf(V, "'LoopContext object' has no attribute '%.*s'", (int)name->n, name->p));
}

static jv make_method(jvm *V, jv self, const jstr *name) {
    jv m = {.t = JV_METHOD};
    m.u.meth = ja_alloc(&V->a, sizeof(struct jmethod) + sizeof(jstr));
    m.u.meth->self = self;
    /* the method name travels in a jstr right behind the struct */
    jstr *nm = (jstr *)(m.u.meth + 1);
    *nm = *name;
    return m;
}

jv jv_getattr(jvm *V, jv obj, const jstr *name) {
    switch (obj.t) {
    case JV_UNDEF:
        jvm_undefined_error(V, obj);
    case JV_DICT:
        if (jinja_has_method(obj, name)) return make_method(V, obj, name);
        {
            jv *v = jd_gets(obj.u.d, name->p, name->n);
            if (v) return *v;
        }
        break;
    case JV_NS: {
        jv *v = jd_gets(obj.u.d, name->p, name->n);
        if (v) return *v;
        break;
    }
    case JV_STR:
    case JV_LIST:
        if (jinja_has_method(obj, name)) return make_method(V, obj, name);
        break;
    case JV_LOOP:
        return loop_attr(V, obj.u.loop, name);
    default:
        break;
    }
    return jv_undef(hintf(V, "%s has no attribute '%.*s'", obj_desc(obj),
                          (int)(name->n > 100 ? 100 : name->n), name->p));
}

jv jv_getitem(jvm *V, jv obj, jv key) {
    if (obj.t == JV_UNDEF) jvm_undefined_error(V, obj);
    if (obj.t == JV_DICT) {
        jv *v = jd_get(obj.u.d, key);
        if (v) return *v;
    } else if ((obj.t == JV_LIST && !(obj.flags & JF_GEN)) || obj.t == JV_STR) {
        if (key.t == JV_INT || key.t == JV_BOOL) {
            int64_t i = key.t == JV_INT ? key.u.i : key.u.b;
            if (obj.t == JV_LIST) {
                int64_t n = (int64_t)obj.u.l->n;
                if (i < 0) i += n;
                if (i >= 0 && i < n) return obj.u.l->v[i];
            } else {
                jvm_work(V, obj.u.s->n);
                int64_t n = (int64_t)utf8_len(obj.u.s->p, obj.u.s->n);
                if (i < 0) i += n;
                if (i >= 0 && i < n) {
                    size_t st = utf8_offset(obj.u.s->p, obj.u.s->n, (size_t)i);
                    size_t en = utf8_offset(obj.u.s->p, obj.u.s->n, (size_t)i + 1);
                    return jv_substr(&V->a, obj.u.s, st, en);
                }
            }
            return jv_undef(hintf(V, "%s has no element %lld", obj_desc(obj), (long long)i));
        }
    }
    /* Jinja2's getitem turns TypeError/LookupError into undefined (e.g. 7[0], gen[0]) */
    if (key.t == JV_STR) return jv_getattr(V, obj, key.u.s);
    jbuf b;
    jb_init(&b, &V->a, 200);
    jv_write_repr(&b, key.t == JV_STR || key.t == JV_INT || key.t == JV_FLOAT || key.t == JV_NONE ||
                              key.t == JV_BOOL
                          ? key
                          : jv_cstr(&V->a, "?"));
    return jv_undef(hintf(V, "%s has no element %s", obj_desc(obj), b.p ? b.p : ""));
}

static int64_t clamp_index(int64_t i, int64_t n, int neg_step) {
    if (i < 0) {
        i += n;
        if (i < 0) i = neg_step ? -1 : 0;
    } else if (i >= n) {
        i = neg_step ? n - 1 : n;
    }
    return i;
}

/* A slice index; *bad set when it is not an integer (Python's TypeError). */
static int64_t slice_arg(jv v, int64_t dflt, int *bad) {
    if (v.t == JV_NONE || v.t == JV_UNDEF) return dflt;
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    *bad = 1;
    return dflt;
}

static jv do_slice(jvm *V, jv obj, jv start, jv stop, jv step) {
    int bad = 0;
    int64_t st = slice_arg(step, 1, &bad);
    int is_str = obj.t == JV_STR;
    if (obj.t == JV_UNDEF) jvm_undefined_error(V, obj);
    int64_t a0 = slice_arg(start, 0, &bad), b0 = slice_arg(stop, 0, &bad);
    /* Jinja2 compiles slices to plain Python subscripts, so these are TypeErrors */
    if (!is_str && !(obj.t == JV_LIST && !(obj.flags & JF_GEN)))
        jthrow(&V->a, HE_RUNTIME, "TypeError: '%s' object is not subscriptable", jv_typename(obj));
    if (bad) jthrow(&V->a, HE_RUNTIME, "TypeError: slice indices must be integers or None");
    if (st == 0) jthrow(&V->a, HE_RUNTIME, "ValueError: slice step cannot be zero");
    if (st < -INT64_MAX) st = -INT64_MAX;
    if (is_str) jvm_work(V, obj.u.s->n);
    int64_t n = is_str ? (int64_t)utf8_len(obj.u.s->p, obj.u.s->n) : (int64_t)obj.u.l->n;
    int64_t a = start.t == JV_NONE || start.t == JV_UNDEF
                    ? (st > 0 ? 0 : n - 1)
                    : clamp_index(a0, n, st < 0);
    int64_t b = stop.t == JV_NONE || stop.t == JV_UNDEF
                    ? (st > 0 ? n : -1)
                    : clamp_index(b0, n, st < 0);
    /* collect indices */
    size_t cnt = 0;
    if (st > 0 && a < b) cnt = (size_t)((b - a + st - 1) / st);
    if (st < 0 && a > b) cnt = (size_t)((a - b + (-st) - 1) / (-st));
    if (is_str) {
        /* one walk over the code points (forwards or backwards with the step's sign), no
         * table of offsets: slicing a few characters off a big string stays cheap */
        const jstr *s = obj.u.s;
        jbuf out;
        jb_init(&out, &V->a, V->lim.max_output);
        if (cnt == 0) return jv_str(jb_str(&out));
        int64_t last = a + (int64_t)(cnt - 1) * st; /* index of the last code point taken */
        if (st > 0) {
            int64_t idx = 0;
            for (size_t i = 0; i < s->n && idx <= last; idx++) {
                size_t j = i + 1;
                while (j < s->n && ((unsigned char)s->p[j] & 0xC0) == 0x80)
                    j++;
                if (idx >= a && (idx - a) % st == 0) jb_put_sub(&out, s, i, j);
                i = j;
            }
        } else {
            int64_t idx = n - 1;
            for (size_t j = s->n; j > 0 && idx >= last; idx--) {
                size_t i = j - 1;
                while (i > 0 && ((unsigned char)s->p[i] & 0xC0) == 0x80)
                    i--;
                if (idx <= a && (a - idx) % (-st) == 0) jb_put_sub(&out, s, i, j);
                j = i;
            }
        }
        return jv_str(jb_str(&out));
    }
    jv r = jv_list(&V->a, cnt);
    r.flags = obj.flags & JF_TUPLE;
    for (size_t c = 0; c < cnt; c++)
        r.u.l->v[c] = obj.u.l->v[a + (int64_t)c * st];
    return r;
}

/* ---- Iteration ---- */

const jlist *jv_iter(jvm *V, jv v) {
    static const jlist empty = {0, NULL};
    switch (v.t) {
    case JV_UNDEF:
        return &empty;
    case JV_LIST:
        return v.u.l;
    case JV_DICT: {
        jv l = jv_list(&V->a, v.u.d->n);
        for (size_t i = 0; i < v.u.d->n; i++)
            l.u.l->v[i] = v.u.d->k[i];
        return l.u.l;
    }
    case JV_STR: {
        const jstr *s = v.u.s;
        jv l = jv_list(&V->a, utf8_len(s->p, s->n));
        size_t k = 0;
        for (size_t i = 0; i < s->n;) {
            size_t j = i + 1;
            while (j < s->n && ((unsigned char)s->p[j] & 0xC0) == 0x80)
                j++;
            l.u.l->v[k++] = jv_substr(&V->a, s, i, j);
            i = j;
        }
        return l.u.l;
    }
    default:
        jthrow(&V->a, HE_RUNTIME, "TypeError: '%s' object is not iterable", jv_typename(v));
    }
}

/* ---- Operators ---- */

static int is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static int64_t as_i(jv v) { return v.t == JV_INT ? v.u.i : v.u.b; }
static double as_f(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)as_i(v); }

int jv_compare(jvm *V, jv x, jv y) {
    jvm_check_stack(V);
    if (is_num(x) && is_num(y)) {
        if (x.t != JV_FLOAT && y.t != JV_FLOAT) {
            int64_t a = as_i(x), b = as_i(y);
            return a < b ? -1 : a > b;
        }
        double a = as_f(x), b = as_f(y);
        return a < b ? -1 : a > b;
    }
    if (x.t == JV_STR && y.t == JV_STR) {
        size_t n = x.u.s->n < y.u.s->n ? x.u.s->n : y.u.s->n;
        jvm_work(V, n);
        int r = memcmp(x.u.s->p, y.u.s->p, n);
        if (r) return r < 0 ? -1 : 1;
        return x.u.s->n < y.u.s->n ? -1 : x.u.s->n > y.u.s->n;
    }
    if (x.t == JV_LIST && y.t == JV_LIST && !((x.flags | y.flags) & JF_GEN)) {
        size_t n = x.u.l->n < y.u.l->n ? x.u.l->n : y.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jvm_equal(V, x.u.l->v[i], y.u.l->v[i])) continue;
            return jv_compare(V, x.u.l->v[i], y.u.l->v[i]);
        }
        return x.u.l->n < y.u.l->n ? -1 : x.u.l->n > y.u.l->n;
    }
    if (x.t == JV_UNDEF) jvm_undefined_error(V, x);
    if (y.t == JV_UNDEF) jvm_undefined_error(V, y);
    jthrow(&V->a, HE_RUNTIME,
           "TypeError: comparison not supported between instances of '%s' and '%s'", jv_typename(x),
           jv_typename(y));
}

static int contains(jvm *V, jv hay, jv needle) {
    switch (hay.t) {
    case JV_STR:
        if (needle.t != JV_STR)
            jthrow(&V->a, HE_RUNTIME,
                   "TypeError: 'in <string>' requires string as left operand, not %s",
                   jv_typename(needle));
        if (needle.u.s->n == 0) return 1;
        jvm_work(V, hay.u.s->n + needle.u.s->n);
        return memmem(hay.u.s->p, hay.u.s->n, needle.u.s->p, needle.u.s->n) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < hay.u.l->n; i++)
            if (jvm_equal(V, hay.u.l->v[i], needle)) return 1;
        return 0;
    case JV_DICT:
        return jd_get(hay.u.d, needle) != NULL;
    case JV_UNDEF:
        return 0;
    default:
        jthrow(&V->a, HE_RUNTIME, "TypeError: argument of type '%s' is not iterable",
               jv_typename(hay));
    }
}

static const char *op_sym(int op) {
    static const char *const s[] = {"+",  "-",  "*", "/",  "//", "%",  "**", "~",
                                    "==", "!=", "<", "<=", ">",  ">=", "in", "not in"};
    return s[op];
}

_Noreturn static void bad_operands(jvm *V, int op, jv x, jv y) {
    if (x.t == JV_UNDEF) jvm_undefined_error(V, x);
    if (y.t == JV_UNDEF) jvm_undefined_error(V, y);
    if (op == OP_ADD && x.t == JV_STR)
        jthrow(&V->a, HE_RUNTIME, "TypeError: can only concatenate str (not \"%s\") to str",
               jv_typename(y));
    if (op == OP_ADD && x.t == JV_LIST)
        jthrow(&V->a, HE_RUNTIME, "TypeError: can only concatenate %s (not \"%s\") to %s",
               jv_typename(x), jv_typename(y), jv_typename(x));
    jthrow(&V->a, HE_RUNTIME, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'",
           op_sym(op), jv_typename(x), jv_typename(y));
}

_Noreturn static void overflow(jvm *V) {
    jthrow(&V->a, HE_UNSUPPORTED, "integer overflow (hearth's integers are 64-bit)");
}

static double py_fmod(double a, double b) {
    double m = fmod(a, b);
    if (m != 0.0 && ((m < 0) != (b < 0))) m += b;
    if (m == 0.0) m = copysign(0.0, b); /* CPython float_rem */
    return m;
}

/* seq * times. An empty sequence repeats to an empty one at once, as in Python: a loop over
 * `times` would run 2^63 times producing nothing. Otherwise the output limit caps `times`. */
static jv repeat(jvm *V, jv seq, int64_t times) {
    if (times < 0) times = 0;
    if ((seq.t == JV_STR ? seq.u.s->n : seq.u.l->n) == 0) times = 0;
    if (seq.t == JV_STR) {
        size_t n = seq.u.s->n;
        if (n && (uint64_t)times > V->lim.max_output / n)
            jthrow(&V->a, HE_LIMIT, "string too long (limit %zu bytes)", V->lim.max_output);
        jbuf b;
        jb_init(&b, &V->a, V->lim.max_output);
        for (int64_t i = 0; i < times; i++)
            jb_put_str(&b, seq.u.s);
        jv r = jv_str(jb_str(&b));
        r.flags = seq.flags & JF_SAFE;
        return r;
    }
    size_t n = seq.u.l->n;
    if (n && (uint64_t)times > (V->lim.max_output / 16) / n)
        jthrow(&V->a, HE_LIMIT, "list too long");
    jv r = jv_list(&V->a, n * (size_t)times);
    r.flags = seq.flags & JF_TUPLE;
    for (int64_t i = 0; i < times; i++)
        if (n) memcpy(r.u.l->v + (size_t)i * n, seq.u.l->v, n * sizeof(jv));
    return r;
}

static jv binop(jvm *V, int op, jv x, jv y) {
    switch (op) {
    case OP_EQ:
    case OP_NE:
        return jv_bool(jvm_equal(V, x, y) == (op == OP_EQ));
    case OP_LT:
        return jv_bool(jv_compare(V, x, y) < 0);
    case OP_LE:
        return jv_bool(jv_compare(V, x, y) <= 0);
    case OP_GT:
        return jv_bool(jv_compare(V, x, y) > 0);
    case OP_GE:
        return jv_bool(jv_compare(V, x, y) >= 0);
    case OP_IN:
        return jv_bool(contains(V, y, x));
    case OP_NOTIN:
        return jv_bool(!contains(V, y, x));
    case OP_CONCAT: {
        const jstr *a = jv_to_str(&V->a, x, V->lim.max_output);
        const jstr *b = jv_to_str(&V->a, y, V->lim.max_output);
        jbuf buf;
        jb_init(&buf, &V->a, V->lim.max_output);
        jb_put_str(&buf, a);
        jb_put_str(&buf, b);
        return jv_str(jb_str(&buf));
    }
    default:
        break;
    }
    if (is_num(x) && is_num(y)) {
        int ints = x.t != JV_FLOAT && y.t != JV_FLOAT;
        int64_t a = as_i(x), b = as_i(y), r;
        double fa = as_f(x), fb = as_f(y);
        switch (op) {
        case OP_ADD:
            if (!ints) return jv_float(fa + fb);
            if (__builtin_add_overflow(a, b, &r)) overflow(V);
            return jv_int(r);
        case OP_SUB:
            if (!ints) return jv_float(fa - fb);
            if (__builtin_sub_overflow(a, b, &r)) overflow(V);
            return jv_int(r);
        case OP_MUL:
            if (!ints) return jv_float(fa * fb);
            if (__builtin_mul_overflow(a, b, &r)) overflow(V);
            return jv_int(r);
        case OP_DIV:
            if (fb == 0.0) jthrow(&V->a, HE_RUNTIME, "ZeroDivisionError: division by zero");
            return jv_float(fa / fb);
        case OP_FLOORDIV:
        case OP_MOD:
            if (ints) {
                if (b == 0)
                    jthrow(&V->a, HE_RUNTIME,
                           "ZeroDivisionError: integer division or modulo by zero");
                if (a == INT64_MIN && b == -1) overflow(V);
                int64_t q = a / b, m = a % b;
                if (m != 0 && ((m < 0) != (b < 0))) {
                    q--;
                    m += b;
                }
                return jv_int(op == OP_MOD ? m : q);
            }
            if (fb == 0.0) jthrow(&V->a, HE_RUNTIME, "ZeroDivisionError: float modulo");
            if (op == OP_MOD) return jv_float(py_fmod(fa, fb));
            {
                /* CPython's float floor division (float_divmod) */
                double m = fmod(fa, fb), d = (fa - m) / fb;
                if (m != 0.0 && ((fb < 0) != (m < 0))) d -= 1.0;
                double fl = floor(d);
                if (d - fl > 0.5) fl += 1.0;
                if (d == 0.0) fl = copysign(0.0, fa / fb);
                return jv_float(fl);
            }
        case OP_POW:
            if (ints && b >= 0) {
                int64_t acc = 1, base = a;
                int64_t e = b;
                while (e) {
                    if (e & 1)
                        if (__builtin_mul_overflow(acc, base, &acc)) overflow(V);
                    e >>= 1;
                    if (e && __builtin_mul_overflow(base, base, &base)) overflow(V);
                }
                return jv_int(acc);
            }
            if (fa == 0.0 && fb < 0)
                jthrow(&V->a, HE_RUNTIME,
                       "ZeroDivisionError: 0.0 cannot be raised to a negative power");
            {
                double pr = pow(fa, fb);
                if (isinf(pr) && !isinf(fa) && !isinf(fb))
                    jthrow(&V->a, HE_RUNTIME, "OverflowError: (34, 'Numerical result out of range')");
                return jv_float(pr);
            }
        default:
            break;
        }
    }
    if (op == OP_ADD) {
        if (x.t == JV_STR && y.t == JV_STR) {
            /* Markup + str escapes the plain side (markupsafe), result is Markup */
            int safe = (x.flags | y.flags) & JF_SAFE;
            if (safe) {
                x = jinja_html_escape(V, x);
                y = jinja_html_escape(V, y);
            }
            jbuf buf;
            jb_init(&buf, &V->a, V->lim.max_output);
            jb_put_str(&buf, x.u.s);
            jb_put_str(&buf, y.u.s);
            jv r = jv_str(jb_str(&buf));
            r.flags = (uint8_t)safe;
            return r;
        }
        if (x.t == JV_LIST && y.t == JV_LIST && !((x.flags | y.flags) & JF_GEN) &&
            (x.flags & JF_TUPLE) == (y.flags & JF_TUPLE)) {
            size_t n = x.u.l->n + y.u.l->n;
            if (n > V->lim.max_output / 16) jthrow(&V->a, HE_LIMIT, "list too long");
            jv r = jv_list(&V->a, n);
            r.flags = x.flags & JF_TUPLE;
            if (x.u.l->n) memcpy(r.u.l->v, x.u.l->v, x.u.l->n * sizeof(jv));
            if (y.u.l->n) memcpy(r.u.l->v + x.u.l->n, y.u.l->v, y.u.l->n * sizeof(jv));
            return r;
        }
    }
    if (op == OP_MOD && x.t == JV_STR) return jinja_percent_format(V, x.u.s, y);
    if (op == OP_MUL) {
        if ((x.t == JV_STR || (x.t == JV_LIST && !(x.flags & JF_GEN))) &&
            (y.t == JV_INT || y.t == JV_BOOL))
            return repeat(V, x, as_i(y));
        if ((y.t == JV_STR || (y.t == JV_LIST && !(y.flags & JF_GEN))) &&
            (x.t == JV_INT || x.t == JV_BOOL))
            return repeat(V, y, as_i(x));
    }
    bad_operands(V, op, x, y);
}

/* ---- Calls ---- */

static jv call_macro(jvm *V, const jmacro *m, const jargs *g, jv caller, const char *name);

static void eval_args(jvm *V, const jnode *n, jscope *sc, jargs *g, size_t extra_front) {
    g->npos = n->nkids + extra_front;
    g->pos = ja_alloc(&V->a, (g->npos ? g->npos : 1) * sizeof(jv));
    for (size_t i = 0; i < n->nkids; i++)
        g->pos[extra_front + i] = eval(V, n->kids[i], sc);
    g->nkw = n->nkw;
    g->kwn = n->kwn;
    g->kwv = ja_alloc(&V->a, (n->nkw ? n->nkw : 1) * sizeof(jv));
    for (size_t i = 0; i < n->nkw; i++)
        g->kwv[i] = eval(V, n->kwv[i], sc);
}

static jv call_builtin(jvm *V, int id, const jargs *g) {
    switch (id) {
    case BI_RAISE: {
        jv msg = jargs_get(g, 0, "message", jv_cstr(&V->a, ""), NULL);
        const jstr *s = jv_to_str(&V->a, msg, V->lim.max_output);
        jthrow(&V->a, HE_RUNTIME, "TemplateError: %.*s", (int)(s->n > 400 ? 400 : s->n), s->p);
    }
    case BI_STRFTIME: {
        jv fmt = jargs_get(g, 0, "format", jv_cstr(&V->a, ""), NULL);
        if (fmt.t != JV_STR)
            jthrow(&V->a, HE_RUNTIME, "TypeError: strftime_now() needs a string format");
        char *f = ja_dup(&V->a, fmt.u.s->p, fmt.u.s->n);
        if (strlen(f) > 256) jthrow(&V->a, HE_LIMIT, "strftime_now format too long");
        char out[4096];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        /* the format comes from the template; strftime only reads V->now */
        size_t k = fmt.u.s->n ? strftime(out, sizeof out, f, &V->now) : 0;
#pragma GCC diagnostic pop
        return jv_strn(&V->a, out, k);
    }
    case BI_RANGE: {
        int64_t a = 0, b, st = 1;
        for (size_t i = 0; i < g->npos; i++)
            if (g->pos[i].t != JV_INT && g->pos[i].t != JV_BOOL)
                jthrow(&V->a, HE_RUNTIME, "TypeError: range() needs integer arguments, not '%s'",
                       jv_typename(g->pos[i]));
        if (g->npos == 1) {
            b = as_i(g->pos[0]);
        } else if (g->npos == 2 || g->npos == 3) {
            a = as_i(g->pos[0]);
            b = as_i(g->pos[1]);
            if (g->npos == 3) st = as_i(g->pos[2]);
        } else {
            jthrow(&V->a, HE_RUNTIME, "TypeError: range expected 1 to 3 arguments, got %zu",
                   g->npos);
        }
        if (st == 0) jthrow(&V->a, HE_RUNTIME, "ValueError: range() arg 3 must not be zero");
        __int128 cnt = 0;
        if (st > 0 && a < b) cnt = ((__int128)b - a + st - 1) / st;
        if (st < 0 && a > b) cnt = ((__int128)a - b - st - 1) / -st;
        /* Jinja2's sandbox caps range() at 100000 items (MAX_RANGE) */
        if (cnt > 100000)
            jthrow(&V->a, HE_LIMIT,
                   "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
                   "(100000).");
        jv r = jv_list(&V->a, (size_t)cnt);
        for (size_t i = 0; i < (size_t)cnt; i++)
            r.u.l->v[i] = jv_int(a + (int64_t)i * st);
        return r;
    }
    case BI_NAMESPACE:
    case BI_DICT: {
        jv d = {.t = id == BI_NAMESPACE ? JV_NS : JV_DICT};
        d.u.d = jd_new(&V->a);
        for (size_t i = 0; i < g->npos; i++) {
            jv p = g->pos[i];
            if (p.t == JV_DICT || p.t == JV_NS) {
                for (size_t k = 0; k < p.u.d->n; k++)
                    jd_set(&V->a, d.u.d, p.u.d->k[k], p.u.d->v[k]);
            } else if (p.t == JV_LIST) {
                for (size_t k = 0; k < p.u.l->n; k++) {
                    jv pair = p.u.l->v[k];
                    if (pair.t != JV_LIST || pair.u.l->n != 2)
                        jthrow(&V->a, HE_RUNTIME,
                               "ValueError: dictionary update sequence element has wrong length");
                    jd_set(&V->a, d.u.d, pair.u.l->v[0], pair.u.l->v[1]);
                }
            } else {
                jthrow(&V->a, HE_RUNTIME, "TypeError: '%s' object is not iterable", jv_typename(p));
            }
        }
        for (size_t i = 0; i < g->nkw; i++)
            jd_set(&V->a, d.u.d, jv_str(g->kwn[i]), g->kwv[i]);
        return d;
    }
    default:
        jthrow(&V->a, HE_RUNTIME, "unknown builtin");
    }
}

static jv call_value(jvm *V, jv f, const jargs *g, const char *what) {
    switch (f.t) {
    case JV_MACRO:
        return call_macro(V, f.u.m, g, jv_undef(NULL), what);
    case JV_BUILTIN:
        return call_builtin(V, f.id, g);
    case JV_METHOD: {
        if (f.id == 1) { /* loop.cycle */
            const jloop *L = f.u.meth->self.u.loop;
            if (!g->npos) jthrow(&V->a, HE_RUNTIME, "TypeError: no items for cycling given");
            return g->pos[L->i % g->npos];
        }
        int ok;
        jv r = jinja_method(V, f.u.meth->self, (const jstr *)(f.u.meth + 1), g, &ok);
        if (!ok) jthrow(&V->a, HE_RUNTIME, "method not supported");
        return r;
    }
    case JV_UNDEF:
        jvm_undefined_error(V, f);
    default:
        jthrow(&V->a, HE_RUNTIME, "TypeError: '%s' object is not callable", jv_typename(f));
    }
}

static void render_body(jvm *V, const jnode *body, jscope *sc, jbuf *out) {
    int flow = exec(V, body, sc, out);
    if (flow != FLOW_NORMAL)
        jthrow(&V->a, HE_FORMAT, "'%s' outside of a loop",
               flow == FLOW_BREAK ? "break" : "continue");
}

static jv call_macro(jvm *V, const jmacro *m, const jargs *g, jv caller, const char *name) {
    const jnode *def = m->def;
    if (++V->depth > V->lim.max_depth)
        jthrow(&V->a, HE_LIMIT, "macro calls nested too deeply (limit %d)", V->lim.max_depth);
    jvm_step(V);
    jscope *sc = scope_new(V, m->closure);
    size_t np = def->nkw;
    if (g->npos > np)
        jthrow(&V->a, HE_RUNTIME, "TypeError: macro '%s' takes not more than %zu argument(s)",
               name ? name : "caller", np);
    jv *vals = ja_alloc(&V->a, (np ? np : 1) * sizeof(jv));
    int *set = ja_alloc(&V->a, (np ? np : 1) * sizeof(int));
    for (size_t i = 0; i < g->npos; i++) {
        vals[i] = g->pos[i];
        set[i] = 1;
    }
    jv kwargs = {.t = JV_DICT};
    kwargs.u.d = jd_new(&V->a);
    for (size_t k = 0; k < g->nkw; k++) {
        size_t i;
        for (i = 0; i < np; i++)
            if (def->kwn[i]->n == g->kwn[k]->n &&
                memcmp(def->kwn[i]->p, g->kwn[k]->p, g->kwn[k]->n) == 0)
                break;
        if (i < np) {
            if (set[i])
                jthrow(&V->a, HE_RUNTIME,
                       "TypeError: macro '%s' got multiple values for argument '%.*s'",
                       name ? name : "caller", (int)g->kwn[k]->n, g->kwn[k]->p);
            vals[i] = g->kwv[k];
            set[i] = 1;
        } else {
            jd_set(&V->a, kwargs.u.d, jv_str(g->kwn[k]), g->kwv[k]);
        }
    }
    for (size_t i = 0; i < np; i++) {
        if (!set[i])
            vals[i] = def->kwv[i] ? eval(V, def->kwv[i], sc)
                                  : jv_undef(hintf(V, "parameter '%.*s' was not provided",
                                                   (int)def->kwn[i]->n, def->kwn[i]->p));
        scope_set(V, sc, def->kwn[i], vals[i]);
    }
    static const jstr s_kwargs = {.n = 6, .p = "kwargs"}, s_varargs = {.n = 7, .p = "varargs"},
                      s_caller = {.n = 6, .p = "caller"};
    scope_set(V, sc, &s_kwargs, kwargs);
    scope_set(V, sc, &s_varargs, jv_list(&V->a, 0));
    if (caller.t == JV_MACRO) scope_set(V, sc, &s_caller, caller);
    jbuf out;
    jb_init(&out, &V->a, V->lim.max_output);
    render_body(V, def->b, sc, &out);
    V->depth--;
    return jv_str(jb_str(&out));
}

/* ---- Expressions ---- */

static jv eval_call(jvm *V, const jnode *n, jscope *sc, jv caller) {
    jargs g;
    const jnode *fn = n->a;
    if (fn->kind == E_ATTR) {
        jv self = eval(V, fn->a, sc);
        eval_args(V, n, sc, &g, 0);
        at(V, n);
        if (jinja_has_method(self, fn->s)) {
            int ok;
            jv r = jinja_method(V, self, fn->s, &g, &ok);
            if (ok) return r;
        }
        jv f = jv_getattr(V, self, fn->s);
        if (f.t == JV_MACRO && caller.t == JV_MACRO) return call_macro(V, f.u.m, &g, caller, NULL);
        return call_value(V, f, &g, NULL);
    }
    jv f = eval(V, fn, sc);
    eval_args(V, n, sc, &g, 0);
    at(V, n);
    char name[64] = "";
    if (fn->kind == E_NAME)
        snprintf(name, sizeof name, "%.*s", (int)(fn->s->n > 60 ? 60 : fn->s->n), fn->s->p);
    if (f.t == JV_MACRO) return call_macro(V, f.u.m, &g, caller, name);
    return call_value(V, f, &g, name);
}

static jv eval_filter(jvm *V, const jnode *n, jscope *sc, jv self) {
    jargs g;
    eval_args(V, n, sc, &g, 0);
    at(V, n);
    return jinja_filter(V, n->s, self, &g);
}

static jv eval(jvm *V, const jnode *n, jscope *sc) {
    jvm_step(V);
    jvm_check_stack(V);
    switch (n->kind) {
    case E_CONST:
        return n->val;
    case E_NAME: {
        jv *v = scope_find(sc, n->s);
        if (v) return *v;
        return jv_undef(
            hintf(V, "'%.*s' is undefined", (int)(n->s->n > 100 ? 100 : n->s->n), n->s->p));
    }
    case E_LIST:
    case E_TUPLE: {
        jv l = jv_list(&V->a, n->nkids);
        if (n->kind == E_TUPLE) l.flags = JF_TUPLE;
        for (size_t i = 0; i < n->nkids; i++)
            l.u.l->v[i] = eval(V, n->kids[i], sc);
        return l;
    }
    case E_DICT: {
        jv d = {.t = JV_DICT};
        d.u.d = jd_new(&V->a);
        for (size_t i = 0; i + 1 < n->nkids; i += 2) {
            jv k = eval(V, n->kids[i], sc);
            jv v = eval(V, n->kids[i + 1], sc);
            if (k.t == JV_LIST && !(k.flags & JF_TUPLE)) {
                at(V, n);
                jthrow(&V->a, HE_RUNTIME, "TypeError: unhashable type: 'list'");
            }
            if (k.t == JV_DICT || k.t == JV_UNDEF) {
                at(V, n);
                jthrow(&V->a, HE_RUNTIME, "TypeError: unhashable type: '%s'", jv_typename(k));
            }
            jd_set(&V->a, d.u.d, k, v);
        }
        return d;
    }
    case E_ATTR: {
        jv o = eval(V, n->a, sc);
        at(V, n);
        return jv_getattr(V, o, n->s);
    }
    case E_ITEM: {
        jv o = eval(V, n->a, sc);
        jv k = eval(V, n->b, sc);
        at(V, n);
        return jv_getitem(V, o, k);
    }
    case E_SLICE: {
        jv o = eval(V, n->a, sc);
        jv a = n->b ? eval(V, n->b, sc) : jv_none();
        jv b = n->c ? eval(V, n->c, sc) : jv_none();
        jv c = n->d ? eval(V, n->d, sc) : jv_none();
        at(V, n);
        return do_slice(V, o, a, b, c);
    }
    case E_CALL:
        return eval_call(V, n, sc, jv_undef(NULL));
    case E_FILTER:
        return eval_filter(V, n, sc, eval(V, n->a, sc));
    case E_TEST: {
        jv self = eval(V, n->a, sc);
        jargs g;
        eval_args(V, n, sc, &g, 0);
        at(V, n);
        int r = jinja_test(V, n->s, self, &g);
        return jv_bool(n->op ? !r : r);
    }
    case E_NOT:
        return jv_bool(!jv_truthy(eval(V, n->a, sc)));
    case E_NEG:
    case E_POS: {
        jv v = eval(V, n->a, sc);
        at(V, n);
        if (v.t == JV_UNDEF) jvm_undefined_error(V, v);
        if (!is_num(v))
            jthrow(&V->a, HE_RUNTIME, "TypeError: bad operand type for unary %c: '%s'",
                   n->kind == E_NEG ? '-' : '+', jv_typename(v));
        if (n->kind == E_POS) return v.t == JV_BOOL ? jv_int(v.u.b) : v;
        if (v.t == JV_FLOAT) return jv_float(-v.u.f);
        if (as_i(v) == INT64_MIN) overflow(V);
        return jv_int(-as_i(v));
    }
    case E_AND: {
        jv a = eval(V, n->a, sc);
        return jv_truthy(a) ? eval(V, n->b, sc) : a;
    }
    case E_OR: {
        jv a = eval(V, n->a, sc);
        return jv_truthy(a) ? a : eval(V, n->b, sc);
    }
    case E_BIN: {
        jv a = eval(V, n->a, sc);
        jv b = eval(V, n->b, sc);
        at(V, n);
        return binop(V, n->op, a, b);
    }
    case E_COND:
        if (jv_truthy(eval(V, n->b, sc))) return eval(V, n->a, sc);
        if (n->c) return eval(V, n->c, sc);
        return jv_undef(hintf(
            V, "the inline if-expression evaluated to false and no else section was defined"));
    default:
        at(V, n);
        jthrow(&V->a, HE_RUNTIME, "internal: bad expression node %d", n->kind);
    }
}

/* ---- Statements ---- */

static void write_value(jvm *V, jbuf *out, jv v) {
    if (v.t == JV_LIST && (v.flags & JF_GEN))
        jthrow(&V->a, HE_UNSUPPORTED,
               "cannot render a generator (Jinja2 prints its address); add |list");
    if (v.t == JV_MACRO || v.t == JV_BUILTIN || v.t == JV_METHOD || v.t == JV_LOOP)
        jthrow(&V->a, HE_UNSUPPORTED, "cannot render a %s", jv_typename(v));
    jv_write_str(out, v);
}

static void assign(jvm *V, jscope *sc, const jnode *n, jv v) {
    if (n->op == 1) { /* ns.attr = v */
        jv *ns = scope_find(sc, n->s);
        if (!ns || ns->t != JV_NS)
            jthrow(&V->a, HE_RUNTIME,
                   "TemplateRuntimeError: cannot assign attribute on non-namespace object");
        jd_set(&V->a, ns->u.d, jv_str(n->kwn[0]), v);
        return;
    }
    if (n->nkw == 1) {
        scope_set(V, sc, n->kwn[0], v);
        return;
    }
    const jlist *items = v.t == JV_STR || v.t == JV_DICT ? jv_iter(V, v)
                         : v.t == JV_LIST                ? v.u.l
                                                         : NULL;
    if (!items)
        jthrow(&V->a, HE_RUNTIME, "TypeError: cannot unpack non-iterable %s object",
               jv_typename(v));
    if (items->n != n->nkw)
        jthrow(&V->a, HE_RUNTIME, "ValueError: %s values to unpack (expected %zu, got %zu)",
               items->n > n->nkw ? "too many" : "not enough", n->nkw, items->n);
    for (size_t i = 0; i < n->nkw; i++)
        scope_set(V, sc, n->kwn[i], items->v[i]);
}

static int exec_for(jvm *V, const jnode *n, jscope *sc, jbuf *out) {
    jv it = eval(V, n->a, sc);
    at(V, n);
    const jlist *items = jv_iter(V, it);
    if (n->d) { /* loop filter: applied before the loop, so loop.* counts kept items only */
        jv kept = jv_list(&V->a, items->n);
        size_t k = 0;
        for (size_t i = 0; i < items->n; i++) {
            jvm_step(V);
            jscope *tmp = scope_new(V, sc);
            assign(V, tmp, n, items->v[i]);
            if (jv_truthy(eval(V, n->d, tmp))) kept.u.l->v[k++] = items->v[i];
        }
        kept.u.l->n = k;
        items = kept.u.l;
    }
    if (items->n == 0) {
        if (n->c) return exec(V, n->c, sc, out);
        return FLOW_NORMAL;
    }
    jloop *L = ja_alloc(&V->a, sizeof *L);
    L->items = items;
    jv loopv = {.t = JV_LOOP};
    loopv.u.loop = L;
    static const jstr s_loop = {.n = 4, .p = "loop"};
    for (size_t i = 0; i < items->n; i++) {
        jvm_step(V);
        L->i = i;
        jscope *body = scope_new(V, sc);
        scope_set(V, body, &s_loop, loopv);
        at(V, n);
        assign(V, body, n, items->v[i]);
        int flow = exec(V, n->b, body, out);
        if (flow == FLOW_BREAK) break;
    }
    return FLOW_NORMAL;
}

static int exec(jvm *V, const jnode *n, jscope *sc, jbuf *out) {
    jvm_step(V);
    jvm_check_stack(V);
    switch (n->kind) {
    case S_BODY:
        for (size_t i = 0; i < n->nkids; i++) {
            int flow = exec(V, n->kids[i], sc, out);
            if (flow != FLOW_NORMAL) return flow;
        }
        return FLOW_NORMAL;
    case S_TEXT:
        jb_put(out, n->s->p, n->s->n);
        return FLOW_NORMAL;
    case S_OUT: {
        jv v = eval(V, n->a, sc);
        at(V, n);
        write_value(V, out, v);
        return FLOW_NORMAL;
    }
    case S_IF:
        if (jv_truthy(eval(V, n->a, sc))) return exec(V, n->b, sc, out);
        if (n->c) return exec(V, n->c, sc, out);
        return FLOW_NORMAL;
    case S_FOR:
        return exec_for(V, n, sc, out);
    case S_SET: {
        jv v = eval(V, n->a, sc);
        at(V, n);
        assign(V, sc, n, v);
        return FLOW_NORMAL;
    }
    case S_SETBLOCK: {
        jbuf b;
        jb_init(&b, &V->a, V->lim.max_output);
        render_body(V, n->b, sc, &b);
        jv v = jv_str(jb_str(&b));
        if (n->d) {
            /* apply the filter chain innermost-first */
            const jnode *chain[64];
            int k = 0;
            for (const jnode *f = n->d; f && k < 64; f = f->a)
                chain[k++] = f;
            while (k--)
                v = eval_filter(V, chain[k], sc, v);
        }
        at(V, n);
        assign(V, sc, n, v);
        return FLOW_NORMAL;
    }
    case S_MACRO: {
        jv m = {.t = JV_MACRO};
        m.u.m = ja_alloc(&V->a, sizeof *m.u.m);
        m.u.m->def = n;
        m.u.m->closure = sc;
        scope_set(V, sc, n->s, m);
        return FLOW_NORMAL;
    }
    case S_CALLBLOCK: {
        jv caller = {.t = JV_MACRO};
        caller.u.m = ja_alloc(&V->a, sizeof *caller.u.m);
        caller.u.m->def = n;
        caller.u.m->closure = sc;
        jv r = eval_call(V, n->a, sc, caller);
        write_value(V, out, r);
        return FLOW_NORMAL;
    }
    case S_FILTERBLOCK: {
        jbuf b;
        jb_init(&b, &V->a, V->lim.max_output);
        render_body(V, n->b, sc, &b);
        jv v = jv_str(jb_str(&b));
        const jnode *chain[64];
        int k = 0;
        for (const jnode *f = n->a; f && k < 64; f = f->a)
            chain[k++] = f;
        while (k--)
            v = eval_filter(V, chain[k], sc, v);
        write_value(V, out, v);
        return FLOW_NORMAL;
    }
    case S_WITH: {
        jscope *inner = scope_new(V, sc);
        for (size_t i = 0; i < n->nkw; i++)
            scope_set(V, inner, n->kwn[i], eval(V, n->kwv[i], sc));
        return exec(V, n->b, inner, out);
    }
    case S_BREAK:
        return FLOW_BREAK;
    case S_CONTINUE:
        return FLOW_CONTINUE;
    default:
        at(V, n);
        jthrow(&V->a, HE_RUNTIME, "internal: bad statement node %d", n->kind);
    }
}

/* ---- Entry points ---- */

jinja_template *jinja_parse(const char *src, size_t len, he_error *err) {
    jinja_template *t = xcalloc(1, sizeof *t);
    jmp_buf jb;
    /* Parsing is bounded by the source size: tokens and nodes are a small multiple of it. */
    size_t cap = len > SIZE_MAX / 64 ? SIZE_MAX : 64 * len + (1u << 20);
    ja_init(&t->a, cap, &jb, err);
    if (setjmp(jb)) {
        ja_free(&t->a);
        free(t);
        return NULL;
    }
    jtok *toks;
    size_t ntoks = jinja_lex(&t->a, src, len, &toks);
    t->root = jinja_parse_tokens(&t->a, toks, ntoks, 200);
    t->a.jb = NULL;
    t->a.err = NULL;
    return t;
}

void jinja_free(jinja_template *t) {
    if (!t) return;
    ja_free(&t->a);
    free(t);
}

char *jinja_render(const jinja_template *t, const json_t *ctx, const jinja_options *opt,
                   size_t *out_len, he_error *err) {
    return jinja_render_spans(t, ctx, opt, out_len, NULL, NULL, err);
}

static int is_trusted(const jinja_options *opt, const char *key) {
    if (!opt || !opt->trusted) return 0;
    for (const char *const *k = opt->trusted; *k; k++)
        if (!strcmp(*k, key)) return 1;
    return 0;
}

char *jinja_render_spans(const jinja_template *t, const json_t *ctx, const jinja_options *opt,
                         size_t *out_len, jinja_span **user, size_t *n_user, he_error *err) {
    if (user) *user = NULL;
    if (n_user) *n_user = 0;
    jvm *V = xcalloc(1, sizeof *V);
    jmp_buf jb;
    jinja_limits lim = opt ? opt->limits : (jinja_limits){0};
    if (!lim.max_depth) lim.max_depth = 200;
    if (!lim.max_steps) lim.max_steps = 50000000;
    if (!lim.max_output) lim.max_output = 16u << 20;
    if (!lim.max_memory) lim.max_memory = 256u << 20;
    V->lim = lim;
    V->stack_base = (uintptr_t)__builtin_frame_address(0);
    ja_init(&V->a, lim.max_memory, &jb, err);
    if (opt && opt->now) {
        V->now = *opt->now;
    } else {
        time_t now = time(NULL);
        localtime_r(&now, &V->now);
    }
    if (setjmp(jb)) {
        ja_free(&V->a);
        free(V);
        return NULL;
    }
    if (ctx && !json_is_object(ctx)) jthrow(&V->a, HE_INVALID, "context must be a JSON object");
    V->globals = scope_new(V, NULL);
    static const struct {
        const char *name;
        int id;
    } builtins[] = {{"range", BI_RANGE},
                    {"namespace", BI_NAMESPACE},
                    {"dict", BI_DICT},
                    {"raise_exception", BI_RAISE},
                    {"strftime_now", BI_STRFTIME}};
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++) {
        jv b = {.t = JV_BUILTIN, .id = (uint16_t)builtins[i].id};
        jd_set(&V->a, &V->globals->vars, jv_cstr(&V->a, builtins[i].name), b);
    }
    jscope *root = scope_new(V, V->globals);
    if (ctx) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)ctx, key, val) {
            int mark = opt && opt->mark_user && !is_trusted(opt, key);
            jd_set(&V->a, &root->vars, jv_cstr(&V->a, key), jv_from_json(&V->a, val, mark, 1));
        }
    }
    jbuf out;
    jb_init(&out, &V->a, lim.max_output);
    render_body(V, t->root, root, &out);
    jinja_span *spans = NULL;
    if (user && out.nsp) {
        spans = he_malloc(out.nsp * sizeof *spans);
        if (!spans) jthrow(&V->a, HE_NOMEM, "out of memory");
        for (size_t i = 0; i < out.nsp; i++) {
            spans[i].start = out.sp[i].st;
            spans[i].end = out.sp[i].en;
        }
    }
    char *result = he_malloc(out.n + 1);
    if (!result) {
        free(spans);
        jthrow(&V->a, HE_NOMEM, "out of memory");
    }
    if (out.n) memcpy(result, out.p, out.n);
    result[out.n] = 0;
    if (out_len) *out_len = out.n;
    if (user) {
        *user = spans;
        *n_user = out.nsp;
    }
    ja_free(&V->a);
    free(V);
    return result;
}
