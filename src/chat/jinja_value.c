/* jinja_value.c — the arena, growable buffers and Python-semantics values of the Jinja
 * interpreter: truthiness, equality, str()/repr() (floats as Python prints them) and
 * json.dumps. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "chat/jinja_internal.h"

/* ---- Arena ---- */

struct jchunk {
    jchunk *next;
    size_t used, cap;
    _Alignas(16) char data[];
};

#define CHUNK_MIN (64 * 1024)

void ja_init(jarena *a, size_t cap, jmp_buf *jb, he_error *err) {
    memset(a, 0, sizeof *a);
    a->cap = cap;
    a->jb = jb;
    a->err = err;
}

void ja_free(jarena *a) {
    jchunk *c = a->head;
    while (c) {
        jchunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

void jthrow(jarena *a, he_code code, const char *fmt, ...) {
    if (a->err) {
        char msg[sizeof a->err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        he_fail(a->err, code, "template:%d:%d: %s", a->line, a->col, msg);
    }
    longjmp(*a->jb, 1);
}

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    jchunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t want = n > CHUNK_MIN ? n : CHUNK_MIN;
        if (n > a->cap || a->total > a->cap - want)
            jthrow(a, HE_LIMIT, "memory limit exceeded (%zu bytes)", a->cap);
        c = he_malloc(sizeof *c + want);
        if (!c) jthrow(a, HE_NOMEM, "out of memory");
        c->cap = want;
        c->used = 0;
        a->total += want;
        /* A big block goes behind the current chunk so the current one keeps filling. */
        if (a->head && want > CHUNK_MIN) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void *ja_dup(jarena *a, const void *p, size_t n) {
    void *q = ja_alloc(a, n + 1);
    if (n) memcpy(q, p, n);
    return q;
}

void *ja_grow(jarena *a, void *p, size_t old_n, size_t new_n) {
    void *q = ja_alloc(a, new_n);
    if (old_n) memcpy(q, p, old_n);
    return q;
}

/* ---- Buffers ---- */

void jb_init(jbuf *b, jarena *a, size_t max) {
    memset(b, 0, sizeof *b);
    b->a = a;
    b->max = max;
}

void jb_put(jbuf *b, const char *s, size_t n) {
    if (n > b->max - b->n) jthrow(b->a, HE_LIMIT, "output limit exceeded (%zu bytes)", b->max);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = ja_grow(b->a, b->p, b->n, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* Appends [st, en) to the buffer's user ranges. A range may cover ones marked before (a
 * whole repr marked after its parts): those are absorbed, so the list stays sorted and
 * disjoint; touching ranges merge, so "user" * 1000 is one range. */
void jb_mark(jbuf *b, size_t st, size_t en) {
    if (st >= en) return;
    while (b->nsp && b->sp[b->nsp - 1].st >= st) {
        if (b->sp[b->nsp - 1].en > en) en = b->sp[b->nsp - 1].en;
        b->nsp--;
    }
    if (b->nsp && b->sp[b->nsp - 1].en >= st) {
        if (en > b->sp[b->nsp - 1].en) b->sp[b->nsp - 1].en = en;
        return;
    }
    if (b->nsp == b->capsp) {
        size_t cap = b->capsp ? b->capsp * 2 : 8;
        b->sp = ja_grow(b->a, b->sp, b->nsp * sizeof *b->sp, cap * sizeof *b->sp);
        b->capsp = cap;
    }
    b->sp[b->nsp].st = st;
    b->sp[b->nsp].en = en;
    b->nsp++;
}

/* Index of the first range of u that ends after byte st (binary search: jb_put_sub is called
 * once per character by replace("", x) and slices). */
static size_t spans_first(const jspans *u, size_t st) {
    size_t lo = 0, hi = u->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->r[mid].en <= st)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void jb_put_sub(jbuf *b, const jstr *s, size_t st, size_t en) {
    size_t at = b->n;
    jb_put(b, s->p + st, en - st);
    if (!s->user) return;
    for (size_t i = spans_first(s->user, st); i < s->user->n && s->user->r[i].st < en; i++) {
        size_t a = s->user->r[i].st > st ? s->user->r[i].st : st;
        size_t z = s->user->r[i].en < en ? s->user->r[i].en : en;
        jb_mark(b, at + a - st, at + z - st);
    }
}

void jb_put_str(jbuf *b, const jstr *s) { jb_put_sub(b, s, 0, s->n); }
void jb_puts(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }
void jb_putc(jbuf *b, char c) { jb_put(b, &c, 1); }

static const jspans *spans_new(jarena *a, const jspan *r, size_t n) {
    if (n == 0) return NULL;
    if (n > (SIZE_MAX - sizeof(jspans)) / sizeof(jspan)) jthrow(a, HE_LIMIT, "too many spans");
    jspans *u = ja_alloc(a, sizeof *u + n * sizeof(jspan));
    u->n = n;
    memcpy(u->r, r, n * sizeof(jspan));
    return u;
}

const jstr *jb_str(jbuf *b) {
    jstr *s = ja_alloc(b->a, sizeof *s);
    s->n = b->n;
    s->p = b->n ? ja_dup(b->a, b->p, b->n) : "";
    s->user = spans_new(b->a, b->sp, b->nsp);
    return s;
}

static const jspans *spans_all(jarena *a, size_t n) {
    jspan r = {0, n};
    return spans_new(a, &r, n ? 1 : 0);
}

const jstr *jstr_user_if(jarena *a, const jstr *s, const jstr *from) {
    if (!from->user || s->n == 0) return s;
    if (s->user && s->user->n == 1 && s->user->r[0].st == 0 && s->user->r[0].en == s->n) return s;
    jstr *r = ja_alloc(a, sizeof *r);
    r->n = s->n;
    r->p = s->p;
    r->user = spans_all(a, s->n);
    return r;
}

/* ---- Constructors ---- */

jv jv_undef(const char *hint) {
    jv v = {.t = JV_UNDEF};
    v.u.hint = hint;
    return v;
}
jv jv_none(void) { return (jv){.t = JV_NONE}; }
jv jv_bool(int b) {
    jv v = {.t = JV_BOOL};
    v.u.b = !!b;
    return v;
}
jv jv_int(int64_t i) {
    jv v = {.t = JV_INT};
    v.u.i = i;
    return v;
}
jv jv_float(double f) {
    jv v = {.t = JV_FLOAT};
    v.u.f = f;
    return v;
}
jv jv_str(const jstr *s) {
    jv v = {.t = JV_STR};
    v.u.s = s;
    return v;
}
jv jv_strn(jarena *a, const char *p, size_t n) {
    jstr *s = ja_alloc(a, sizeof *s);
    s->n = n;
    s->p = n ? ja_dup(a, p, n) : "";
    return jv_str(s);
}
jv jv_cstr(jarena *a, const char *s) { return jv_strn(a, s, strlen(s)); }

jv jv_substr(jarena *a, const jstr *s, size_t st, size_t en) {
    jstr *r = ja_alloc(a, sizeof *r);
    r->p = s->p + st;
    r->n = en - st;
    if (s->user && en > st) {
        /* the ranges inside [st, en), shifted to start at 0 */
        size_t i0 = spans_first(s->user, st), k = 0;
        while (i0 + k < s->user->n && s->user->r[i0 + k].st < en)
            k++;
        if (k) {
            jspans *u = (jspans *)spans_new(a, s->user->r + i0, k);
            for (size_t i = 0; i < k; i++) {
                u->r[i].st = (u->r[i].st > st ? u->r[i].st : st) - st;
                u->r[i].en = (u->r[i].en < en ? u->r[i].en : en) - st;
            }
            r->user = u;
        }
    }
    return jv_str(r);
}

jv jv_list(jarena *a, size_t n) {
    jv v = {.t = JV_LIST};
    v.u.l = ja_alloc(a, sizeof *v.u.l);
    v.u.l->n = n;
    if (n > SIZE_MAX / sizeof(jv) / 2) jthrow(a, HE_LIMIT, "list too long");
    v.u.l->v = ja_alloc(a, n * sizeof(jv));
    for (size_t i = 0; i < n; i++)
        v.u.l->v[i] = jv_none();
    return v;
}

/* ---- Dicts: insertion-ordered entries plus a hash index ---- */

/* Keys are hashed with SipHash-1-3 under a per-process random key: request JSON chooses dict
 * keys (chat_template_kwargs, tool arguments), and a fixed hash would let a client pick keys
 * that all collide and make every insert a full scan again. */
static uint64_t g_sipkey[2];
static pthread_once_t g_sipkey_once = PTHREAD_ONCE_INIT;

static void sipkey_init(void) {
    if (getrandom(g_sipkey, sizeof g_sipkey, 0) != (ssize_t)sizeof g_sipkey) {
        /* no entropy source: still better than a constant */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g_sipkey[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&ts;
        g_sipkey[1] = (uint64_t)ts.tv_sec * 0xBF58476D1CE4E5B9ull ^ (uint64_t)getpid();
    }
}

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL64(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = ROTL64(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = ROTL64(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL64(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL64(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = ROTL64(v2, 32);                                                                       \
    } while (0)

static uint64_t siphash13(const void *data, size_t n, uint64_t tag) {
    const unsigned char *p = data;
    uint64_t k0 = g_sipkey[0] ^ tag, k1 = g_sipkey[1];
    uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m = 0;
        for (int b = 0; b < 8; b++)
            m |= (uint64_t)p[i + b] << (8 * b);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)n << 56;
    for (int b = 0; i + (size_t)b < n; b++)
        last |= (uint64_t)p[i + b] << (8 * b);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* A hash consistent with jv_equal: 1, 1.0 and True are equal keys, so numbers hash by value
 * (an integral float as its integer). Values that cannot be dict keys in Python hash to a
 * constant: still correct, only slower. */
static uint64_t hash_rec(jv k, int depth) {
    switch (k.t) {
    case JV_STR:
        return siphash13(k.u.s->p, k.u.s->n, 1);
    case JV_INT:
    case JV_BOOL: {
        int64_t i = k.t == JV_INT ? k.u.i : k.u.b;
        return siphash13(&i, sizeof i, 2);
    }
    case JV_FLOAT: {
        double f = k.u.f;
        if (f >= -9.2e18 && f <= 9.2e18 && f == (double)(int64_t)f) {
            int64_t i = (int64_t)f;
            return siphash13(&i, sizeof i, 2);
        }
        return siphash13(&f, sizeof f, 3);
    }
    case JV_LIST: {
        if (depth > 8 || (k.flags & JF_GEN)) return 4;
        uint64_t h = 5 + k.u.l->n;
        for (size_t i = 0; i < k.u.l->n && i < 64; i++)
            h = (h ^ hash_rec(k.u.l->v[i], depth + 1)) * 0x100000001B3ull;
        return h;
    }
    default:
        return 6 + k.t;
    }
}

static uint64_t jv_hash(jv k) {
    pthread_once(&g_sipkey_once, sipkey_init);
    return hash_rec(k, 0);
}

#define JD_SCAN_MAX 8 /* up to this many entries a scan beats hashing */

jdict *jd_new(jarena *a) { return ja_alloc(a, sizeof(jdict)); }

static void jd_reindex(jarena *a, jdict *d, size_t nidx) {
    d->idx = ja_alloc(a, nidx * sizeof *d->idx);
    d->nidx = nidx;
    for (size_t i = 0; i < d->n; i++) {
        uint64_t h = jv_hash(d->k[i]);
        size_t s = (size_t)h & (nidx - 1);
        while (d->idx[s].i)
            s = (s + 1) & (nidx - 1);
        d->idx[s].i = (uint32_t)(i + 1);
        d->idx[s].hash = (uint32_t)h;
    }
}

static int key_equal(jv x, jv y) {
    if (x.t == JV_STR && y.t == JV_STR)
        return x.u.s->n == y.u.s->n && memcmp(x.u.s->p, y.u.s->p, x.u.s->n) == 0;
    return jv_equal(x, y);
}

/* Index of key k (hash h) in d, or -1; with an index, *slot gets the probe's end. */
static ptrdiff_t jd_find(const jdict *d, jv k, uint64_t h, size_t *slot) {
    if (!d->idx) {
        for (size_t i = 0; i < d->n; i++)
            if (key_equal(d->k[i], k)) return (ptrdiff_t)i;
        return -1;
    }
    size_t s = (size_t)h & (d->nidx - 1);
    for (; d->idx[s].i; s = (s + 1) & (d->nidx - 1)) {
        size_t i = d->idx[s].i - 1;
        if (d->idx[s].hash == (uint32_t)h && key_equal(d->k[i], k)) return (ptrdiff_t)i;
    }
    if (slot) *slot = s;
    return -1;
}

jv *jd_get(const jdict *d, jv k) {
    ptrdiff_t i = jd_find(d, k, d->idx ? jv_hash(k) : 0, NULL);
    return i < 0 ? NULL : &d->v[i];
}

jv *jd_gets(const jdict *d, const char *p, size_t n) {
    if (d->idx) {
        jstr s = {.n = n, .p = p};
        return jd_get(d, jv_str(&s));
    }
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].u.s->n == n && memcmp(d->k[i].u.s->p, p, n) == 0)
            return &d->v[i];
    return NULL;
}

void jd_set(jarena *a, jdict *d, jv k, jv v) {
    uint64_t h = d->idx ? jv_hash(k) : 0;
    size_t slot = 0;
    ptrdiff_t i = jd_find(d, k, h, &slot);
    if (i >= 0) {
        d->v[i] = v;
        return;
    }
    if (d->n >= UINT32_MAX - 1) jthrow(a, HE_LIMIT, "dict too large");
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        d->k = ja_grow(a, d->k, d->n * sizeof(jv), cap * sizeof(jv));
        d->v = ja_grow(a, d->v, d->n * sizeof(jv), cap * sizeof(jv));
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
    if (d->idx && 2 * d->n <= d->nidx) {
        d->idx[slot].i = (uint32_t)d->n;
        d->idx[slot].hash = (uint32_t)h;
    } else if (d->n > JD_SCAN_MAX) {
        /* (re)build at load <= 1/4 so the next n inserts need no rebuild */
        size_t nidx = 16;
        while (nidx < 4 * d->n)
            nidx *= 2;
        jd_reindex(a, d, nidx);
    }
}

/* ---- From JSON ---- */

static jv user_str(jarena *a, const char *p, size_t n, int user) {
    jv v = jv_strn(a, p, n);
    if (user && n) ((jstr *)v.u.s)->user = spans_all(a, n);
    return v;
}

jv jv_from_json(jarena *a, const json_t *j, int user, int depth) {
    if (depth > 1000) jthrow(a, HE_LIMIT, "context nested too deeply");
    switch (json_typeof(j)) {
    case JSON_NULL:
        return jv_none();
    case JSON_TRUE:
        return jv_bool(1);
    case JSON_FALSE:
        return jv_bool(0);
    case JSON_INTEGER:
        return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL:
        return jv_float(json_real_value(j));
    case JSON_STRING:
        return user_str(a, json_string_value(j), json_string_length(j), user);
    case JSON_ARRAY: {
        jv l = jv_list(a, json_array_size(j));
        for (size_t i = 0; i < l.u.l->n; i++)
            l.u.l->v[i] = jv_from_json(a, json_array_get(j, i), user, depth + 1);
        return l;
    }
    case JSON_OBJECT: {
        jv d = {.t = JV_DICT};
        d.u.d = jd_new(a);
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)j, key, val) {
            jd_set(a, d.u.d, user_str(a, key, strlen(key), user),
                   jv_from_json(a, val, user, depth + 1));
        }
        return d;
    }
    }
    return jv_none();
}

/* ---- Predicates ---- */

int jv_is_str(jv v) { return v.t == JV_STR; }

int jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE:
        return 0;
    case JV_BOOL:
        return v.u.b;
    case JV_INT:
        return v.u.i != 0;
    case JV_FLOAT:
        return v.u.f != 0.0;
    case JV_STR:
        return v.u.s->n != 0;
    case JV_LIST:
        return (v.flags & JF_GEN) ? 1 : v.u.l->n != 0;
    case JV_DICT:
        return v.u.d->n != 0;
    default:
        return 1;
    }
}

static int is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double num_f(jv v) {
    return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b;
}

/* Python ==, with a bound on depth and work: values built by a hostile template can nest
 * deeply or share sub-lists (a DAG whose paths grow exponentially). Past the bound the
 * values compare unequal, which is safe for every caller (lookups, `in`, ==). */
static int equal_rec(jv x, jv y, int depth, long *budget) {
    if (--*budget < 0 || depth > 1000) return 0;
    if (x.t == JV_STR && y.t == JV_STR) *budget -= (long)(x.u.s->n >> 6); /* bytes compared */
    if (is_num(x) && is_num(y)) {
        if (x.t != JV_FLOAT && y.t != JV_FLOAT)
            return (x.t == JV_INT ? x.u.i : x.u.b) == (y.t == JV_INT ? y.u.i : y.u.b);
        return num_f(x) == num_f(y);
    }
    if (x.t != y.t) return 0;
    switch (x.t) {
    case JV_UNDEF:
    case JV_NONE:
        return 1;
    case JV_STR:
        return x.u.s->n == y.u.s->n &&
               (x.u.s->p == y.u.s->p || memcmp(x.u.s->p, y.u.s->p, x.u.s->n) == 0);
    case JV_LIST:
        if ((x.flags | y.flags) & JF_GEN) return x.u.l == y.u.l;
        if ((x.flags & JF_TUPLE) != (y.flags & JF_TUPLE)) return 0;
        if (x.u.l == y.u.l) return 1; /* lists are immutable: same list, same contents */
        if (x.u.l->n != y.u.l->n) return 0;
        for (size_t i = 0; i < x.u.l->n; i++)
            if (!equal_rec(x.u.l->v[i], y.u.l->v[i], depth + 1, budget)) return 0;
        return 1;
    case JV_DICT:
        if (x.u.d->n != y.u.d->n) return 0;
        for (size_t i = 0; i < x.u.d->n; i++) {
            jv *o = jd_get(y.u.d, x.u.d->k[i]);
            if (!o || !equal_rec(x.u.d->v[i], *o, depth + 1, budget)) return 0;
        }
        return 1;
    default:
        return x.u.d == y.u.d;
    }
}

int jv_equal_work(jv x, jv y, uint64_t *work) {
    long budget = 10000000;
    int r = equal_rec(x, y, 0, &budget);
    *work = (uint64_t)(10000000 - (budget < 0 ? 0 : budget));
    return r;
}

int jv_equal(jv x, jv y) {
    uint64_t work;
    return jv_equal_work(x, y, &work);
}

const char *jv_typename(jv v) {
    switch (v.t) {
    case JV_UNDEF:
        return "Undefined";
    case JV_NONE:
        return "NoneType";
    case JV_BOOL:
        return "bool";
    case JV_INT:
        return "int";
    case JV_FLOAT:
        return "float";
    case JV_STR:
        return "str";
    case JV_LIST:
        return (v.flags & JF_GEN) ? "generator" : (v.flags & JF_TUPLE) ? "tuple" : "list";
    case JV_DICT:
        return "dict";
    case JV_NS:
        return "Namespace";
    case JV_MACRO:
        return "Macro";
    case JV_LOOP:
        return "LoopContext";
    default:
        return "function";
    }
}

/* ---- UTF-8 ---- */

size_t utf8_len(const char *p, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) c++;
    return c;
}

size_t utf8_offset(const char *p, size_t n, size_t i) {
    size_t c = 0;
    for (size_t k = 0; k < n; k++) {
        if (((unsigned char)p[k] & 0xC0) != 0x80) {
            if (c == i) return k;
            c++;
        }
    }
    return n;
}

/* Decodes one code point at p[*i] (advancing *i); invalid bytes decode as themselves. */
static uint32_t utf8_next(const char *p, size_t n, size_t *i) {
    const unsigned char *s = (const unsigned char *)p;
    uint32_t c = s[*i];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (extra) {
        uint32_t cp = c & (0x3F >> extra);
        size_t k;
        for (k = 1; k <= (size_t)extra; k++) {
            if (*i + k >= n || (s[*i + k] & 0xC0) != 0x80) break;
            cp = (cp << 6) | (s[*i + k] & 0x3F);
        }
        if (k > (size_t)extra) {
            *i += (size_t)extra + 1;
            return cp;
        }
    }
    (*i)++;
    return c;
}

/* ---- str() and repr() ---- */

void fmt_float(char *out, size_t cap, double f) {
    if (isnan(f)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(out, cap, f < 0 ? "-inf" : "inf");
        return;
    }
    if (f == 0.0) {
        snprintf(out, cap, signbit(f) ? "-0.0" : "0.0");
        return;
    }
    /* Shortest digits that round-trip, as Python's repr picks them. */
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f) break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    const char *q = e;
    int neg = 0;
    if (*q == '-') {
        neg = 1;
        q++;
    }
    char digits[24];
    int nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int exp = atoi(q + 1);
    char buf[64];
    size_t k = 0;
    if (neg) buf[k++] = '-';
    if (exp >= -5 + 1 && exp < 16) {
        if (exp < 0) {
            buf[k++] = '0';
            buf[k++] = '.';
            for (int z = 0; z < -exp - 1; z++)
                buf[k++] = '0';
            for (int d = 0; d < nd; d++)
                buf[k++] = digits[d];
        } else {
            for (int d = 0; d <= exp; d++)
                buf[k++] = d < nd ? digits[d] : '0';
            buf[k++] = '.';
            if (nd > exp + 1)
                for (int d = exp + 1; d < nd; d++)
                    buf[k++] = digits[d];
            else
                buf[k++] = '0';
        }
        buf[k] = 0;
    } else {
        buf[k++] = digits[0];
        if (nd > 1) {
            buf[k++] = '.';
            for (int d = 1; d < nd; d++)
                buf[k++] = digits[d];
        }
        k += (size_t)snprintf(buf + k, sizeof buf - k, "e%c%02d", exp < 0 ? '-' : '+',
                              exp < 0 ? -exp : exp);
    }
    snprintf(out, cap, "%s", buf);
}

static int is_printable(uint32_t c) {
    /* Python's str.isprintable approximation: controls and a few format characters are not. */
    if (c < 0x20 || c == 0x7F) return 0;
    if (c >= 0x80 && c < 0xA0) return 0;
    if (c == 0xAD) return 0;
    if (c >= 0x2028 && c <= 0x2029) return 0;
    if (c >= 0xD800 && c <= 0xDFFF) return 0;
    return 1;
}

static void write_str_repr(jbuf *b, const jstr *s) {
    size_t at = b->n;
    int has_sq = memchr(s->p, '\'', s->n) != NULL, has_dq = memchr(s->p, '"', s->n) != NULL;
    char quote = (has_sq && !has_dq) ? '"' : '\'';
    jb_putc(b, quote);
    size_t i = 0;
    while (i < s->n) {
        size_t st = i;
        uint32_t c = utf8_next(s->p, s->n, &i);
        char tmp[16];
        if (c == (uint32_t)quote || c == '\\') {
            jb_putc(b, '\\');
            jb_putc(b, (char)c);
        } else if (c == '\n') {
            jb_puts(b, "\\n");
        } else if (c == '\r') {
            jb_puts(b, "\\r");
        } else if (c == '\t') {
            jb_puts(b, "\\t");
        } else if (!is_printable(c)) {
            if (c < 0x100)
                snprintf(tmp, sizeof tmp, "\\x%02x", c);
            else if (c < 0x10000)
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
            else
                snprintf(tmp, sizeof tmp, "\\U%08x", c);
            jb_puts(b, tmp);
        } else {
            jb_put(b, s->p + st, i - st);
        }
    }
    jb_putc(b, quote);
    if (s->user) jb_mark(b, at, b->n); /* escaped: the whole repr counts as user bytes */
}

static void write_repr(jbuf *b, jv v, int depth) {
    if (depth > 500) jthrow(b->a, HE_LIMIT, "value nested too deeply");
    switch (v.t) {
    case JV_STR:
        write_str_repr(b, v.u.s);
        return;
    case JV_LIST:
        if (v.flags & JF_GEN) {
            jb_puts(b, "<generator object>");
            return;
        }
        jb_putc(b, (v.flags & JF_TUPLE) ? '(' : '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_puts(b, ", ");
            write_repr(b, v.u.l->v[i], depth + 1);
        }
        if ((v.flags & JF_TUPLE) && v.u.l->n == 1) jb_putc(b, ',');
        jb_putc(b, (v.flags & JF_TUPLE) ? ')' : ']');
        return;
    case JV_DICT:
        jb_putc(b, '{');
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) jb_puts(b, ", ");
            write_repr(b, v.u.d->k[i], depth + 1);
            jb_puts(b, ": ");
            write_repr(b, v.u.d->v[i], depth + 1);
        }
        jb_putc(b, '}');
        return;
    case JV_NS: {
        jv d = {.t = JV_DICT};
        d.u.d = v.u.d;
        jb_puts(b, "<Namespace ");
        write_repr(b, d, depth + 1);
        jb_puts(b, ">");
        return;
    }
    default:
        jv_write_str(b, v);
    }
}

void jv_write_repr(jbuf *b, jv v) { write_repr(b, v, 0); }

void jv_write_str(jbuf *b, jv v) {
    char tmp[64];
    switch (v.t) {
    case JV_UNDEF:
        return;
    case JV_NONE:
        jb_puts(b, "None");
        return;
    case JV_BOOL:
        jb_puts(b, v.u.b ? "True" : "False");
        return;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i);
        jb_puts(b, tmp);
        return;
    case JV_FLOAT:
        fmt_float(tmp, sizeof tmp, v.u.f);
        jb_puts(b, tmp);
        return;
    case JV_STR:
        jb_put_str(b, v.u.s);
        return;
    case JV_LIST:
    case JV_DICT:
        write_repr(b, v, 0);
        return;
    case JV_NS: {
        jv d = {.t = JV_DICT};
        d.u.d = v.u.d;
        jb_puts(b, "<Namespace ");
        write_repr(b, d, 1);
        jb_puts(b, ">");
        return;
    }
    default:
        jthrow(b->a, HE_RUNTIME, "cannot convert a %s to a string", jv_typename(v));
    }
}

const jstr *jv_to_str(jarena *a, jv v, size_t max) {
    if (v.t == JV_STR) return v.u.s;
    jbuf b;
    jb_init(&b, a, max);
    jv_write_str(&b, v);
    return jb_str(&b);
}

/* ---- json.dumps ---- */

static void json_str_out(jbuf *b, const jstr *s, int ensure_ascii) {
    size_t at = b->n;
    jb_putc(b, '"');
    size_t i = 0;
    while (i < s->n) {
        size_t st = i;
        uint32_t c = utf8_next(s->p, s->n, &i);
        char tmp[16];
        switch (c) {
        case '"':
            jb_puts(b, "\\\"");
            break;
        case '\\':
            jb_puts(b, "\\\\");
            break;
        case '\n':
            jb_puts(b, "\\n");
            break;
        case '\r':
            jb_puts(b, "\\r");
            break;
        case '\t':
            jb_puts(b, "\\t");
            break;
        case '\b':
            jb_puts(b, "\\b");
            break;
        case '\f':
            jb_puts(b, "\\f");
            break;
        default:
            if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
                if (c >= 0x10000) {
                    uint32_t v = c - 0x10000;
                    snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (v >> 10),
                             0xDC00 + (v & 0x3FF));
                } else {
                    snprintf(tmp, sizeof tmp, "\\u%04x", c);
                }
                jb_puts(b, tmp);
            } else {
                jb_put(b, s->p + st, i - st);
            }
        }
    }
    jb_putc(b, '"');
    if (s->user) jb_mark(b, at, b->n); /* escaped: the whole literal counts as user bytes */
}

static void json_newline(jbuf *b, const jstr *indent, int level) {
    jb_putc(b, '\n');
    for (int i = 0; i < level; i++)
        jb_put_str(b, indent);
}

static int cmp_keys(const void *x, const void *y) {
    const jv *a = *(const jv *const *)x, *c = *(const jv *const *)y;
    if (a->t == JV_STR && c->t == JV_STR) {
        size_t n = a->u.s->n < c->u.s->n ? a->u.s->n : c->u.s->n;
        int r = memcmp(a->u.s->p, c->u.s->p, n);
        if (r) return r;
        return a->u.s->n < c->u.s->n ? -1 : a->u.s->n > c->u.s->n;
    }
    return 0;
}

void jv_write_json(jbuf *b, jv v, int ensure_ascii, const jstr *indent, const jstr *item_sep,
                   const jstr *key_sep, int sort_keys, int depth) {
    char tmp[64];
    if (depth > 500) jthrow(b->a, HE_LIMIT, "value nested too deeply for tojson");
    switch (v.t) {
    case JV_NONE:
        jb_puts(b, "null");
        return;
    case JV_BOOL:
        jb_puts(b, v.u.b ? "true" : "false");
        return;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i);
        jb_puts(b, tmp);
        return;
    case JV_FLOAT:
        if (isnan(v.u.f))
            jb_puts(b, "NaN");
        else if (isinf(v.u.f))
            jb_puts(b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else {
            fmt_float(tmp, sizeof tmp, v.u.f);
            jb_puts(b, tmp);
        }
        return;
    case JV_STR:
        json_str_out(b, v.u.s, ensure_ascii);
        return;
    case JV_LIST:
        if (v.flags & JF_GEN) break;
        if (v.u.l->n == 0) {
            jb_puts(b, "[]");
            return;
        }
        jb_putc(b, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_put_str(b, item_sep);
            if (indent) json_newline(b, indent, depth + 1);
            jv_write_json(b, v.u.l->v[i], ensure_ascii, indent, item_sep, key_sep, sort_keys,
                          depth + 1);
        }
        if (indent) json_newline(b, indent, depth);
        jb_putc(b, ']');
        return;
    case JV_DICT: {
        const jdict *d = v.u.d;
        if (d->n == 0) {
            jb_puts(b, "{}");
            return;
        }
        const jv **order = ja_alloc(b->a, d->n * sizeof *order);
        for (size_t i = 0; i < d->n; i++)
            order[i] = &d->k[i];
        if (sort_keys) {
            for (size_t i = 0; i < d->n; i++)
                if (d->k[i].t != JV_STR)
                    jthrow(b->a, HE_RUNTIME, "tojson: sort_keys needs string keys");
            qsort(order, d->n, sizeof *order, cmp_keys);
        }
        jb_putc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            size_t idx = (size_t)(order[i] - d->k);
            jv k = d->k[idx];
            if (i) jb_put_str(b, item_sep);
            if (indent) json_newline(b, indent, depth + 1);
            if (k.t == JV_STR) {
                json_str_out(b, k.u.s, ensure_ascii);
            } else if (k.t == JV_INT || k.t == JV_FLOAT || k.t == JV_BOOL || k.t == JV_NONE) {
                jb_putc(b, '"');
                jv_write_json(b, k, ensure_ascii, indent, item_sep, key_sep, sort_keys, depth + 1);
                jb_putc(b, '"');
            } else {
                jthrow(b->a, HE_RUNTIME, "keys must be str, int, float, bool or None, not %s",
                       jv_typename(k));
            }
            jb_put_str(b, key_sep);
            jv_write_json(b, d->v[idx], ensure_ascii, indent, item_sep, key_sep, sort_keys,
                          depth + 1);
        }
        if (indent) json_newline(b, indent, depth);
        jb_putc(b, '}');
        return;
    }
    default:
        break;
    }
    jthrow(b->a, HE_RUNTIME, "TypeError: Object of type %s is not JSON serializable",
           jv_typename(v));
}
