/* jinja_internal.h — shared by the Jinja lexer, parser, evaluator and value files.
 *
 * Memory: every object (tokens, AST, values) lives in an arena that is freed as a whole.
 * Errors: fallible steps never return codes; they call jthrow(), which fills the he_error and
 * longjmps to the entry point (jinja_parse / jinja_render), which frees the arena. */
#ifndef HEARTH_CHAT_JINJA_INTERNAL_H
#define HEARTH_CHAT_JINJA_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "chat/jinja.h"

/* ---- Arena ---- */

typedef struct jchunk jchunk;

typedef struct {
    jchunk *head;
    size_t total; /* bytes reserved so far */
    size_t cap;   /* bytes allowed; exceeding it throws HE_LIMIT */
    jmp_buf *jb;  /* where jthrow jumps */
    he_error *err;
    int line, col; /* position reported by jthrow (the node being evaluated) */
} jarena;

void ja_init(jarena *a, size_t cap, jmp_buf *jb, he_error *err);
void ja_free(jarena *a);
void *ja_alloc(jarena *a, size_t n); /* zeroed, 8-aligned */
void *ja_dup(jarena *a, const void *p, size_t n);
void *ja_grow(jarena *a, void *p, size_t old_n, size_t new_n); /* copy into a bigger block */
_Noreturn void jthrow(jarena *a, he_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Values ---- */

typedef enum {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST, /* also tuples (flag JF_TUPLE) and generators (JF_GEN) */
    JV_DICT,
    JV_NS, /* namespace(): a mutable dict reached by attribute */
    JV_MACRO,
    JV_BUILTIN,
    JV_METHOD,
    JV_LOOP
} jvtype;

/* JF_SAFE: a Markup string (from |safe or |e); adding a plain string to it escapes that one */
enum { JF_TUPLE = 1, JF_GEN = 2, JF_SAFE = 4 };

/* User spans: which bytes of a string came from request data (message contents, tool
 * arguments and results, names, chat_template_kwargs). The render output carries them to the
 * tokenizer, which then never turns those bytes into control tokens: text a user typed stays
 * text. A list of byte ranges rather than a per-byte mask, since a string is typically all
 * template text, all user text, or a few runs of each. Byte-preserving operations (+, ~,
 * {{ }}, slices, strip, split, replace, join, indent, ...) carry the exact ranges; operations
 * that rewrite bytes (case mapping, escaping, repr, tojson of a string) mark their whole
 * result as user when any input byte was: user bytes never become template bytes. */
typedef struct {
    size_t st, en; /* [st, en) */
} jspan;

typedef struct {
    size_t n; /* sorted, disjoint, non-adjacent, non-empty ranges */
    jspan r[];
} jspans;

typedef struct jstr {
    size_t n;
    const char *p;
    const jspans *user; /* NULL: every byte is the template's */
} jstr;

typedef struct jv jv;
typedef struct jlist jlist;
typedef struct jdict jdict;

struct jv {
    uint8_t t;
    uint8_t flags;
    uint16_t id; /* JV_BUILTIN: which global; JV_METHOD: which method */
    union {
        int b;
        int64_t i;
        double f;
        const jstr *s;
        jlist *l;
        jdict *d;
        struct jmacro *m;
        struct jmethod *meth;
        struct jloop *loop;
        const char *hint; /* JV_UNDEF: why it is undefined ("'x' is undefined"), or NULL */
    } u;
};

struct jlist {
    size_t n;
    jv *v;
};

/* Insertion-ordered (Jinja2 iterates dicts in insertion order) with a hash index beside the
 * entries once a dict outgrows a few keys, so building one from a request with 100 000 keys is
 * linear. Open addressing, load <= 1/2; a slot keeps 32 bits of the key's hash so a probe
 * rarely has to touch the key itself (cache misses dominate big dicts). */
struct jdslot {
    uint32_t i;    /* entry index + 1; 0 = empty */
    uint32_t hash; /* low bits of the key's hash */
};
struct jdict {
    size_t n, cap;
    jv *k, *v;
    struct jdslot *idx; /* NULL while n is small: lookups scan the few entries */
    size_t nidx;        /* slots in idx, a power of two */
};

struct jmethod {
    jv self;
};

/* ---- Tokens and AST ---- */

typedef enum {
    T_EOF,
    T_TEXT,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_OP
} jtoktype;

typedef struct {
    uint8_t t;
    char op[3]; /* T_OP: the operator text */
    int line, col;
    jstr s;    /* T_TEXT, T_NAME, T_STRING (decoded) */
    int64_t i; /* T_INT */
    double f;  /* T_FLOAT */
} jtok;

/* Tokenizes src (already a private copy) into *out; throws on malformed input. */
size_t jinja_lex(jarena *a, const char *src, size_t len, jtok **out);

typedef enum {
    /* expressions */
    E_CONST,
    E_NAME,
    E_LIST,
    E_TUPLE,
    E_DICT,
    E_ATTR,
    E_ITEM,
    E_SLICE,
    E_CALL,
    E_FILTER,
    E_TEST,
    E_NOT,
    E_NEG,
    E_POS,
    E_AND,
    E_OR,
    E_BIN,
    E_COND,
    /* statements */
    S_BODY,
    S_TEXT,
    S_OUT,
    S_IF,
    S_FOR,
    S_SET,
    S_SETBLOCK,
    S_MACRO,
    S_CALLBLOCK,
    S_FILTERBLOCK,
    S_BREAK,
    S_CONTINUE,
    S_WITH
} jnodekind;

typedef enum {
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_CONCAT,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_NOTIN
} jbinop;

typedef struct jnode jnode;
struct jnode {
    uint8_t kind;
    uint8_t op; /* E_BIN operator; E_TEST: negated; S_FOR: recursive */
    int line, col;
    const jstr *s; /* name, attribute, filter/test name, text */
    jv val;        /* E_CONST */
    jnode *a, *b, *c, *d;
    jnode **kids; /* args, items, statements; E_DICT: key,value,key,value... */
    size_t nkids;
    const jstr **kwn; /* keyword names / macro parameter names / assignment targets */
    jnode **kwv;      /* keyword values / parameter defaults (NULL = none) */
    size_t nkw;
};

/* S_FOR/S_SET targets: names in kwn (nkw of them; >1 means unpacking), or for S_SET with
 * an attribute target (ns.attr = ...) s = "ns" and kwn[0] = "attr" with op = 1. */

/* Parses tokens into the template body; throws on syntax errors. */
jnode *jinja_parse_tokens(jarena *a, const jtok *toks, size_t ntoks, int max_depth);

/* ---- Value helpers (jinja_value.c) ---- */

typedef struct {
    jarena *a;
    char *p;
    size_t n, cap, max;
    jspan *sp; /* user ranges of p[0, n), as in jspans */
    size_t nsp, capsp;
} jbuf;

void jb_init(jbuf *b, jarena *a, size_t max);
void jb_put(jbuf *b, const char *s, size_t n);
void jb_put_str(jbuf *b, const jstr *s);                       /* all of s */
void jb_put_sub(jbuf *b, const jstr *s, size_t st, size_t en); /* s's bytes [st, en) */
void jb_puts(jbuf *b, const char *s);
void jb_putc(jbuf *b, char c);
const jstr *jb_str(jbuf *b); /* the contents as a string (the buffer may be reused after) */
void jb_mark(jbuf *b, size_t st, size_t en); /* bytes [st, en) of the buffer are user bytes */
/* A copy of s whose bytes are all user bytes when any of `from`'s are (from may be s):
 * for results that rewrite bytes, where exact ranges are not worth tracking. */
const jstr *jstr_user_if(jarena *a, const jstr *s, const jstr *from);

jv jv_undef(const char *hint);
jv jv_none(void);
jv jv_bool(int b);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_str(const jstr *s);
jv jv_strn(jarena *a, const char *p, size_t n);
jv jv_cstr(jarena *a, const char *s);
/* s[st, en) as a string sharing s's bytes (st <= en <= s->n) */
jv jv_substr(jarena *a, const jstr *s, size_t st, size_t en);
jv jv_list(jarena *a, size_t n); /* n items, all none */
jdict *jd_new(jarena *a);
void jd_set(jarena *a, jdict *d, jv k, jv v);
jv *jd_get(const jdict *d, jv k);
jv *jd_gets(const jdict *d, const char *p, size_t n);
/* user: the strings (and dict keys) are request data, marked as user bytes */
jv jv_from_json(jarena *a, const json_t *j, int user, int depth);

int jv_truthy(jv v);
int jv_equal(jv x, jv y);
/* jv_equal, and *work gets the nodes visited plus bytes compared / 64 (at most 10 M) */
int jv_equal_work(jv x, jv y, uint64_t *work);
int jv_is_str(jv v);
const char *jv_typename(jv v); /* Python-ish: 'str', 'int', 'dict', ... */
size_t utf8_len(const char *p, size_t n);
/* Byte offset of code point index i (clamped to n). */
size_t utf8_offset(const char *p, size_t n, size_t i);

void jv_write_str(jbuf *b, jv v);                /* Python str(v) */
void jv_write_repr(jbuf *b, jv v);               /* Python repr(v) */
void fmt_float(char *out, size_t cap, double f); /* Python repr(float) */
/* Python json.dumps(v, ensure_ascii, indent (NULL or string), separators, sort_keys). */
void jv_write_json(jbuf *b, jv v, int ensure_ascii, const jstr *indent, const jstr *item_sep,
                   const jstr *key_sep, int sort_keys, int depth);
const jstr *jv_to_str(jarena *a, jv v, size_t max);

/* ---- Evaluator state (jinja_eval.c), shared with the filters ---- */

typedef struct jscope {
    struct jscope *parent;
    jdict vars;
} jscope;

typedef struct jmacro {
    const jnode *def; /* S_MACRO, or S_CALLBLOCK for a caller() */
    jscope *closure;  /* where it was defined */
} jmacro;

typedef struct jloop {
    const jlist *items;
    size_t i;
} jloop;

typedef struct {
    jarena a;
    struct tm now;
    jinja_limits lim;
    uint64_t steps;
    int depth;
    jscope *globals;
    uintptr_t stack_base; /* frame address at jinja_render entry */
} jvm;

/* Arguments of a filter/test/method/global call. */
typedef struct {
    jv *pos;
    size_t npos;
    const jstr **kwn;
    jv *kwv;
    size_t nkw;
} jargs;

enum { BI_RANGE = 1, BI_NAMESPACE, BI_DICT, BI_RAISE, BI_STRFTIME, BI_JOINER_UNUSED };

/* Positional argument i or keyword `name`, or dflt; *found (may be NULL) says which. */
jv jargs_get(const jargs *g, size_t i, const char *name, jv dflt, int *found);
void jvm_step(jvm *V);
/* Charges work that allocates nothing (scans, searches, comparisons) against max_steps, one
 * step per 64 bytes: repeating such an operation in a loop stays bounded. Work that allocates
 * in proportion (building strings and lists) is bounded by max_output and max_memory. */
void jvm_work(jvm *V, size_t bytes);
/* Python == with its work charged to max_steps (a template comparing big values in a loop) */
int jvm_equal(jvm *V, jv x, jv y);
/* Throws HE_LIMIT when evaluation has used more than JINJA_STACK_BUDGET bytes of C stack
 * (small enough for the server's 1 MiB connection threads). */
void jvm_check_stack(jvm *V);
#define JINJA_STACK_BUDGET (256u << 10)
_Noreturn void jvm_undefined_error(jvm *V, jv undef);

jv jinja_filter(jvm *V, const jstr *name, jv self, const jargs *g);
int jinja_test(jvm *V, const jstr *name, jv self, const jargs *g);
/* Calls self.name(args) for the string/dict methods; *ok = 0 when there is no such method. */
jv jinja_method(jvm *V, jv self, const jstr *name, const jargs *g, int *ok);
int jinja_has_method(jv self, const jstr *name);
/* Python iteration: list items, dict keys, string characters, nothing for undefined. */
const jlist *jv_iter(jvm *V, jv v);
/* Python getattr-then-getitem as Jinja's sandbox does it. */
jv jv_getattr(jvm *V, jv obj, const jstr *name);
jv jv_getitem(jvm *V, jv obj, jv key);
int jv_compare(jvm *V, jv x, jv y); /* <0, 0, >0; throws when Python would */
jv jv_str_len_check(jvm *V, const char *p, size_t n);
jv jinja_html_escape(jvm *V, jv v);
jv jinja_percent_format(jvm *V, const jstr *fmt, jv args); /* Python fmt % args */ /* markupsafe.escape: returns a safe string */

#endif
