/* jinja_filters.c — Jinja2's built-in filters and tests, Hugging Face's tojson, and the
 * Python string and dict methods that chat templates call (the sandbox's whole surface).
 * Semantics follow jinja2/filters.py and CPython's str methods, by code point. */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "base/utf8.h"
#include "chat/jinja_internal.h"

/* ---- Small helpers ---- */

static int name_is(const jstr *name, const char *s) {
    size_t n = strlen(s);
    return name->n == n && memcmp(name->p, s, n) == 0;
}

_Noreturn static void type_error(jvm *V, const char *what, jv v) {
    if (v.t == JV_UNDEF) jvm_undefined_error(V, v);
    jthrow(&V->a, HE_RUNTIME, "TypeError: %s, not '%s'", what, jv_typename(v));
}

static const jstr *need_str(jvm *V, jv v, const char *what) {
    if (v.t != JV_STR) type_error(V, what, v);
    return v.u.s;
}

static jv mkstr(jvm *V, jbuf *b) {
    (void)V;
    return jv_str(jb_str(b));
}

static jv mklist(jvm *V, size_t n, int flags) {
    jv l = jv_list(&V->a, n);
    l.flags = (uint8_t)flags;
    return l;
}

static jv tuple2(jvm *V, jv a, jv b) {
    jv t = mklist(V, 2, JF_TUPLE);
    t.u.l->v[0] = a;
    t.u.l->v[1] = b;
    return t;
}

/* Decodes UTF-8 into code points (invalid bytes pass through as themselves); with off
 * non-NULL, (*off)[i] is the byte offset of code point i and (*off)[n] == s->n. */
static uint32_t *decode_off(jvm *V, const jstr *s, size_t *n, size_t **off) {
    uint32_t *cp = ja_alloc(&V->a, (s->n + 1) * sizeof *cp);
    size_t *o = off ? ja_alloc(&V->a, (s->n + 1) * sizeof *o) : NULL;
    const unsigned char *p = (const unsigned char *)s->p;
    size_t k = 0;
    for (size_t i = 0; i < s->n;) {
        uint32_t c = p[i];
        int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        size_t j = 1;
        if (extra) {
            uint32_t v = c & (0x3Fu >> extra);
            for (j = 1; j <= (size_t)extra && i + j < s->n && (p[i + j] & 0xC0) == 0x80; j++)
                v = (v << 6) | (p[i + j] & 0x3F);
            if (j == (size_t)extra + 1)
                c = v;
            else
                j = 1;
        }
        if (o) o[k] = i;
        cp[k++] = c;
        i += j;
    }
    if (o) {
        o[k] = s->n;
        *off = o;
    }
    *n = k;
    return cp;
}

static uint32_t *decode(jvm *V, const jstr *s, size_t *n) { return decode_off(V, s, n, NULL); }

static void put_cp(jbuf *b, uint32_t c) {
    char o[4];
    jb_put(b, o, utf8_encode(c, o));
}

/* Case mapping by code point through a C.UTF-8 locale (ASCII-only if unavailable). */
static locale_t g_utf8;
static pthread_once_t g_utf8_once = PTHREAD_ONCE_INIT;
static void utf8_locale_init(void) {
    g_utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!g_utf8) g_utf8 = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
}
static uint32_t cp_upper(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
    pthread_once(&g_utf8_once, utf8_locale_init);
    return g_utf8 ? (uint32_t)towupper_l((wint_t)c, g_utf8) : c;
}
static uint32_t cp_lower(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    pthread_once(&g_utf8_once, utf8_locale_init);
    return g_utf8 ? (uint32_t)towlower_l((wint_t)c, g_utf8) : c;
}
static int cp_alpha(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    pthread_once(&g_utf8_once, utf8_locale_init);
    return g_utf8 ? iswalpha_l((wint_t)c, g_utf8) : 0;
}
static int cp_alnum(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || cp_alpha(c);
    pthread_once(&g_utf8_once, utf8_locale_init);
    return g_utf8 ? iswalnum_l((wint_t)c, g_utf8) : 0;
}
/* Python str.isspace() */
static int cp_space(uint32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 ||
           c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

enum { CASE_UPPER, CASE_LOWER, CASE_TITLE_PY, CASE_TITLE_JINJA, CASE_CAPITALIZE };

static jv change_case(jvm *V, const jstr *s, int mode) {
    size_t n;
    uint32_t *cp = decode(V, s, &n);
    jbuf b;
    jb_init(&b, &V->a, V->lim.max_output);
    int prev_cased = 0, word_start = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        switch (mode) {
        case CASE_UPPER:
            c = cp_upper(c);
            break;
        case CASE_LOWER:
            c = cp_lower(c);
            break;
        case CASE_CAPITALIZE:
            c = i == 0 ? cp_upper(c) : cp_lower(c);
            break;
        case CASE_TITLE_PY:
            c = prev_cased ? cp_lower(c) : cp_upper(c);
            prev_cased = cp_alpha(cp[i]);
            break;
        case CASE_TITLE_JINJA: {
            /* jinja2 do_title: words start after runs of [-\s({\[<] */
            int sep = cp[i] == '-' || cp_space(cp[i]) || cp[i] == '(' || cp[i] == '{' ||
                      cp[i] == '[' || cp[i] == '<';
            if (sep) {
                word_start = 1;
            } else {
                c = word_start ? cp_upper(c) : cp_lower(c);
                word_start = 0;
            }
            break;
        }
        }
        put_cp(&b, c);
    }
    return jv_str(jstr_user_if(&V->a, jb_str(&b), s)); /* bytes rewritten: all or nothing */
}

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

static int in_set(const uint32_t *set, size_t nc, uint32_t c) {
    return bsearch(&c, set, nc, sizeof *set, cmp_u32) != NULL;
}

/* strip: which = 1 left, 2 right, 3 both; chars NULL = whitespace. The char set is sorted so
 * that stripping a long string by a long set stays O(n log m). */
static jv do_strip(jvm *V, const jstr *s, const jstr *chars, int which) {
    size_t n, nc = 0, *off;
    uint32_t *cp = decode_off(V, s, &n, &off);
    uint32_t *set = chars ? decode(V, chars, &nc) : NULL;
    if (set) qsort(set, nc, sizeof *set, cmp_u32);
    size_t a = 0, b = n;
    while ((which & 1) && a < b && (set ? in_set(set, nc, cp[a]) : cp_space(cp[a])))
        a++;
    while ((which & 2) && b > a && (set ? in_set(set, nc, cp[b - 1]) : cp_space(cp[b - 1])))
        b--;
    return jv_substr(&V->a, s, off[a], off[b]);
}

/* s[st, en) as a string that shares s's bytes */
static jv substr(jvm *V, const jstr *s, size_t st, size_t en) {
    return jv_substr(&V->a, s, st, en);
}

/* Searching backwards (rfind, rsplit) in linear time: Knuth-Morris-Pratt over the reversed
 * needle and the reversed text, so a needle like "aaab" in "aaaa..." is not O(n*m). */
typedef struct {
    const char *p;
    size_t m;
    size_t *fail; /* fail[i]: longest proper border of the reversed needle's first i+1 bytes */
} rsearch;

static void rs_init(jvm *V, rsearch *r, const jstr *needle) {
    r->p = needle->p;
    r->m = needle->n;
    r->fail = ja_alloc(&V->a, (r->m + 1) * sizeof *r->fail);
#define RN(i) r->p[r->m - 1 - (i)]
    for (size_t i = 1, k = 0; i < r->m; i++) {
        while (k && RN(i) != RN(k))
            k = r->fail[k - 1];
        if (RN(i) == RN(k)) k++;
        r->fail[i] = k;
    }
}

/* Start of the last occurrence of the needle inside hay[0, end), or SIZE_MAX. */
static size_t rs_find(const rsearch *r, const char *hay, size_t end) {
    if (r->m == 0) return end;
    for (size_t j = 0, k = 0; j < end; j++) {
        char c = hay[end - 1 - j];
        while (k && c != RN(k))
            k = r->fail[k - 1];
        if (c == RN(k)) k++;
        if (k == r->m) return end - 1 - j;
    }
    return SIZE_MAX;
#undef RN
}

/* Python str.split / str.rsplit */
static jv do_split(jvm *V, const jstr *s, jv sepv, int64_t maxsplit, int from_right) {
    size_t cap = 16, cnt = 0;
    jv *out = ja_alloc(&V->a, cap * sizeof(jv));
#define PUSH(x)                                                                                    \
    do {                                                                                           \
        if (cnt == cap) {                                                                          \
            out = ja_grow(&V->a, out, cap * sizeof(jv), cap * 2 * sizeof(jv));                     \
            cap *= 2;                                                                              \
        }                                                                                          \
        out[cnt++] = (x);                                                                          \
        jvm_step(V);                                                                               \
    } while (0)
    if (sepv.t == JV_NONE || sepv.t == JV_UNDEF) {
        size_t n, *off;
        uint32_t *cp = decode_off(V, s, &n, &off);
        if (!from_right) {
            size_t i = 0;
            while (i < n) {
                while (i < n && cp_space(cp[i]))
                    i++;
                if (i >= n) break;
                if (maxsplit >= 0 && (int64_t)cnt >= maxsplit) {
                    size_t e = n;
                    while (e > i && cp_space(cp[e - 1]))
                        e--;
                    PUSH(substr(V, s, off[i], off[e]));
                    break;
                }
                size_t j = i;
                while (j < n && !cp_space(cp[j]))
                    j++;
                PUSH(substr(V, s, off[i], off[j]));
                i = j;
            }
        } else {
            size_t i = n;
            while (i > 0) {
                while (i > 0 && cp_space(cp[i - 1]))
                    i--;
                if (i == 0) break;
                if (maxsplit >= 0 && (int64_t)cnt >= maxsplit) {
                    size_t b = 0;
                    while (b < i && cp_space(cp[b]))
                        b++;
                    PUSH(substr(V, s, off[b], off[i]));
                    break;
                }
                size_t j = i;
                while (j > 0 && !cp_space(cp[j - 1]))
                    j--;
                PUSH(substr(V, s, off[j], off[i]));
                i = j;
            }
        }
    } else {
        const jstr *sep = need_str(V, sepv, "must be str or None");
        if (sep->n == 0) jthrow(&V->a, HE_RUNTIME, "ValueError: empty separator");
        if (!from_right) {
            size_t i = 0;
            for (;;) {
                const char *hit = (maxsplit >= 0 && (int64_t)cnt >= maxsplit)
                                      ? NULL
                                      : memmem(s->p + i, s->n - i, sep->p, sep->n);
                if (!hit) {
                    PUSH(substr(V, s, i, s->n));
                    break;
                }
                size_t h = (size_t)(hit - s->p);
                PUSH(substr(V, s, i, h));
                i = h + sep->n;
            }
        } else {
            size_t end = s->n;
            rsearch rs;
            rs_init(V, &rs, sep);
            for (;;) {
                size_t h = SIZE_MAX;
                if (!(maxsplit >= 0 && (int64_t)cnt >= maxsplit)) h = rs_find(&rs, s->p, end);
                if (h == SIZE_MAX) {
                    PUSH(substr(V, s, 0, end));
                    break;
                }
                PUSH(substr(V, s, h + sep->n, end));
                end = h;
            }
        }
    }
#undef PUSH
    jv l = mklist(V, cnt, 0);
    for (size_t i = 0; i < cnt; i++)
        l.u.l->v[i] = out[from_right ? cnt - 1 - i : i];
    return l;
}

static jv do_replace(jvm *V, const jstr *s, const jstr *old, const jstr *new_, int64_t count) {
    jbuf b;
    jb_init(&b, &V->a, V->lim.max_output);
    if (old->n == 0) {
        /* Python inserts `new` before every character and at the end: one pass over the
         * characters (each found by skipping continuation bytes, not by counting from 0) */
        int64_t done = 0;
        size_t i = 0;
        for (;;) {
            if (count >= 0 && done >= count) {
                jb_put_sub(&b, s, i, s->n);
                break;
            }
            jb_put_str(&b, new_);
            done++;
            if (i >= s->n) break;
            size_t j = i + 1;
            while (j < s->n && ((unsigned char)s->p[j] & 0xC0) == 0x80)
                j++;
            jb_put_sub(&b, s, i, j);
            i = j;
        }
        return mkstr(V, &b);
    }
    size_t i = 0;
    int64_t done = 0;
    while (i <= s->n) {
        const char *hit =
            (count >= 0 && done >= count) ? NULL : memmem(s->p + i, s->n - i, old->p, old->n);
        if (!hit) {
            jb_put_sub(&b, s, i, s->n);
            break;
        }
        size_t h = (size_t)(hit - s->p);
        jb_put_sub(&b, s, i, h);
        jb_put_str(&b, new_);
        i = h + old->n;
        done++;
    }
    return mkstr(V, &b);
}

static int64_t count_sub(const jstr *s, const jstr *sub) {
    if (sub->n == 0) return (int64_t)utf8_len(s->p, s->n) + 1;
    int64_t c = 0;
    for (size_t i = 0; i + sub->n <= s->n;) {
        const char *hit = memmem(s->p + i, s->n - i, sub->p, sub->n);
        if (!hit) break;
        c++;
        i = (size_t)(hit - s->p) + sub->n;
    }
    return c;
}

static int has_prefix(jvm *V, const jstr *s, jv pre, int suffix) {
    if (pre.t == JV_LIST && (pre.flags & JF_TUPLE)) {
        for (size_t i = 0; i < pre.u.l->n; i++)
            if (has_prefix(V, s, pre.u.l->v[i], suffix)) return 1;
        return 0;
    }
    const jstr *p = need_str(V, pre,
                             suffix ? "endswith first arg must be str or a tuple of str"
                                    : "startswith first arg must be str or a tuple of str");
    if (p->n > s->n) return 0;
    return memcmp(suffix ? s->p + s->n - p->n : s->p, p->p, p->n) == 0;
}

/* str.format: {} / {0} / {name} fields and {{ }} escapes; format specs are not supported. */
static jv do_format(jvm *V, const jstr *f, const jargs *g) {
    jbuf b;
    jb_init(&b, &V->a, V->lim.max_output);
    size_t auto_idx = 0;
    for (size_t i = 0; i < f->n; i++) {
        char c = f->p[i];
        if (c == '{' && i + 1 < f->n && f->p[i + 1] == '{') {
            jb_putc(&b, '{');
            i++;
        } else if (c == '}' && i + 1 < f->n && f->p[i + 1] == '}') {
            jb_putc(&b, '}');
            i++;
        } else if (c == '{') {
            const char *e = memchr(f->p + i, '}', f->n - i);
            if (!e) jthrow(&V->a, HE_RUNTIME, "ValueError: expected '}' before end of string");
            size_t fl = (size_t)(e - (f->p + i)) - 1;
            const char *field = f->p + i + 1;
            if (memchr(field, ':', fl) || memchr(field, '!', fl) || memchr(field, '.', fl) ||
                memchr(field, '[', fl))
                jthrow(&V->a, HE_UNSUPPORTED, "str.format: format specs are not supported");
            jv v;
            if (fl == 0) {
                if (auto_idx >= g->npos)
                    jthrow(&V->a, HE_RUNTIME, "IndexError: Replacement index %zu out of range",
                           auto_idx);
                v = g->pos[auto_idx++];
            } else if (field[0] >= '0' && field[0] <= '9') {
                size_t idx = (size_t)strtoul(field, NULL, 10);
                if (idx >= g->npos)
                    jthrow(&V->a, HE_RUNTIME, "IndexError: Replacement index %zu out of range",
                           idx);
                v = g->pos[idx];
            } else {
                size_t k;
                for (k = 0; k < g->nkw; k++)
                    if (g->kwn[k]->n == fl && memcmp(g->kwn[k]->p, field, fl) == 0) break;
                if (k == g->nkw) jthrow(&V->a, HE_RUNTIME, "KeyError: '%.*s'", (int)fl, field);
                v = g->kwv[k];
            }
            jv_write_str(&b, v);
            i += fl + 1;
        } else if (c == '}') {
            jthrow(&V->a, HE_RUNTIME, "ValueError: Single '}' encountered in format string");
        } else {
            jb_putc(&b, c);
        }
    }
    /* the format's own characters are copied one by one: a user format makes it all user */
    return jv_str(jstr_user_if(&V->a, jb_str(&b), f));
}

/* ---- printf-style formatting: str % args and |format ---- */

/* Python's `fmt % args` for the common conversions (s r d i f F e E g G x X o c %), with
 * flags, width, precision and %(key)s lookups in a dict argument. */
jv jinja_percent_format(jvm *V, const jstr *fmt, jv args) {
    const jlist *tuple = NULL;
    jlist single = {1, &args};
    if (args.t == JV_LIST && (args.flags & JF_TUPLE))
        tuple = args.u.l;
    else
        tuple = &single;
    size_t next = 0;
    jbuf b;
    jb_init(&b, &V->a, V->lim.max_output);
    for (size_t i = 0; i < fmt->n; i++) {
        char c = fmt->p[i];
        if (c != '%') {
            jb_putc(&b, c);
            continue;
        }
        if (++i >= fmt->n) jthrow(&V->a, HE_RUNTIME, "ValueError: incomplete format");
        jv arg;
        int have_arg = 0;
        if (fmt->p[i] == '(') {
            const char *e = memchr(fmt->p + i, ')', fmt->n - i);
            if (!e) jthrow(&V->a, HE_RUNTIME, "ValueError: incomplete format key");
            if (args.t != JV_DICT) jthrow(&V->a, HE_RUNTIME, "TypeError: format requires a mapping");
            size_t kl = (size_t)(e - fmt->p) - i - 1;
            jv *v = jd_gets(args.u.d, fmt->p + i + 1, kl);
            if (!v) jthrow(&V->a, HE_RUNTIME, "KeyError: '%.*s'", (int)(kl > 60 ? 60 : kl), fmt->p + i + 1);
            arg = *v;
            have_arg = 1;
            i = (size_t)(e - fmt->p) + 1;
        }
        char spec[32];
        size_t k = 0;
        spec[k++] = '%';
        while (i < fmt->n && strchr("-+ #0", fmt->p[i]) && k < 8) spec[k++] = fmt->p[i++];
        int digits = 0;
        while (i < fmt->n && fmt->p[i] >= '0' && fmt->p[i] <= '9') {
            if (++digits > 3) jthrow(&V->a, HE_LIMIT, "format width too large");
            spec[k++] = fmt->p[i++];
        }
        if (i < fmt->n && fmt->p[i] == '.') {
            spec[k++] = fmt->p[i++];
            digits = 0;
            while (i < fmt->n && fmt->p[i] >= '0' && fmt->p[i] <= '9') {
                if (++digits > 3) jthrow(&V->a, HE_LIMIT, "format precision too large");
                spec[k++] = fmt->p[i++];
            }
        }
        if (i >= fmt->n) jthrow(&V->a, HE_RUNTIME, "ValueError: incomplete format");
        char conv = fmt->p[i];
        if (conv == '%') {
            jb_putc(&b, '%');
            continue;
        }
        if (!have_arg) {
            if (next >= tuple->n) jthrow(&V->a, HE_RUNTIME, "TypeError: not enough arguments for format string");
            arg = tuple->v[next++];
        }
        char out[2048];
        switch (conv) {
        case 's':
        case 'r': {
            jbuf sb;
            jb_init(&sb, &V->a, V->lim.max_output);
            if (conv == 's') jv_write_str(&sb, arg);
            else jv_write_repr(&sb, arg);
            /* width and precision count code points; '-' left-aligns */
            const jstr *sv = jb_str(&sb);
            const char *str = sv->p;
            size_t len = sv->n;
            int left = memchr(spec, '-', k) != NULL;
            long width = 0, prec = -1;
            size_t q = 1;
            while (q < k && strchr("-+ #0", spec[q])) q++;
            while (q < k && spec[q] >= '0' && spec[q] <= '9') width = width * 10 + (spec[q++] - '0');
            if (q < k && spec[q] == '.') {
                prec = 0;
                for (q++; q < k; q++) prec = prec * 10 + (spec[q] - '0');
            }
            if (prec >= 0) len = utf8_offset(str, len, (size_t)prec);
            long pad = width - (long)utf8_len(str, len);
            if (!left)
                for (long z = 0; z < pad; z++) jb_putc(&b, ' ');
            jb_put_sub(&b, sv, 0, len);
            if (left)
                for (long z = 0; z < pad; z++) jb_putc(&b, ' ');
            break;
        }
        case 'd': case 'i': case 'x': case 'X': case 'o': case 'c': {
            int64_t iv;
            if (arg.t == JV_INT) iv = arg.u.i;
            else if (arg.t == JV_BOOL) iv = arg.u.b;
            else if (arg.t == JV_FLOAT && conv != 'c' && !isnan(arg.u.f) && fabs(arg.u.f) < 9.2e18) iv = (int64_t)arg.u.f;
            else type_error(V, "%d format: a real number is required", arg);
            if (conv == 'c') {
                if (iv < 0 || iv > 0x10FFFF) jthrow(&V->a, HE_RUNTIME, "OverflowError: %%c arg not in range(0x110000)");
                put_cp(&b, (uint32_t)iv);
                break;
            }
            spec[k++] = 'l';
            spec[k++] = 'l';
            spec[k++] = conv == 'i' ? 'd' : conv;
            spec[k] = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            int n = snprintf(out, sizeof out, spec, (long long)iv);
#pragma GCC diagnostic pop
            if (n > 0) jb_put(&b, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
            break;
        }
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': {
            double f;
            if (arg.t == JV_FLOAT) f = arg.u.f;
            else if (arg.t == JV_INT) f = (double)arg.u.i;
            else if (arg.t == JV_BOOL) f = arg.u.b;
            else type_error(V, "must be real number", arg);
            if (fabs(f) > 1e300 && (conv == 'f' || conv == 'F')) jthrow(&V->a, HE_LIMIT, "%%f of a huge number");
            spec[k++] = conv;
            spec[k] = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            int n = snprintf(out, sizeof out, spec, f);
#pragma GCC diagnostic pop
            if (n > 0) jb_put(&b, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
            break;
        }
        default:
            jthrow(&V->a, HE_UNSUPPORTED, "unsupported format character '%c'", conv);
        }
    }
    /* Python: leftover arguments are an error, unless the one argument is mapping-like */
    int is_tuple = args.t == JV_LIST && (args.flags & JF_TUPLE);
    int mapping = !is_tuple && (args.t == JV_DICT || args.t == JV_LIST);
    if (next < tuple->n && !mapping)
        jthrow(&V->a, HE_RUNTIME, "TypeError: not all arguments converted during string formatting");
    /* the format's own characters are copied one by one: a user format makes it all user */
    return jv_str(jstr_user_if(&V->a, jb_str(&b), fmt));
}

/* ---- Methods ---- */

static const char *const STR_METHODS[] = {
    "strip",   "lstrip",  "rstrip",  "split",      "rsplit",  "startswith", "endswith",
    "upper",   "lower",   "title",   "capitalize", "replace", "format",     "find",
    "rfind",   "count",   "join",    "splitlines", "isdigit", "isalpha",    "isalnum",
    "isspace", "islower", "isupper", NULL};
static const char *const DICT_METHODS[] = {"items", "keys", "values", "get", NULL};
static const char *const LIST_METHODS[] = {"count", "index", NULL}; /* the non-mutating ones */

int jinja_has_method(jv self, const jstr *name) {
    const char *const *list = (self.t == JV_LIST && !(self.flags & JF_GEN)) ? LIST_METHODS
                              : self.t == JV_STR                         ? STR_METHODS
                              : self.t == JV_DICT ? DICT_METHODS
                                                  : NULL;
    if (!list) return 0;
    for (int i = 0; list[i]; i++)
        if (name_is(name, list[i])) return 1;
    return 0;
}

static int64_t int_arg(jvm *V, jv v, int64_t dflt) {
    if (v.t == JV_NONE || v.t == JV_UNDEF) return dflt;
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    type_error(V, "an integer is required", v);
}

static jv str_method(jvm *V, const jstr *s, const jstr *name, const jargs *g, int *ok) {
    jv a0 = jargs_get(g, 0, NULL, jv_none(), NULL);
    if (name_is(name, "strip") || name_is(name, "lstrip") || name_is(name, "rstrip")) {
        const jstr *chars =
            a0.t == JV_NONE ? NULL : need_str(V, a0, "strip arg must be None or str");
        return do_strip(V, s, chars, name->p[0] == 'l' ? 1 : name->p[0] == 'r' ? 2 : 3);
    }
    if (name_is(name, "split") || name_is(name, "rsplit")) {
        jv sep = jargs_get(g, 0, "sep", jv_none(), NULL);
        int64_t maxsplit = int_arg(V, jargs_get(g, 1, "maxsplit", jv_int(-1), NULL), -1);
        return do_split(V, s, sep, maxsplit, name->p[0] == 'r');
    }
    if (name_is(name, "startswith") || name_is(name, "endswith"))
        return jv_bool(has_prefix(V, s, a0, name->p[0] == 'e'));
    if (name_is(name, "upper")) return change_case(V, s, CASE_UPPER);
    if (name_is(name, "lower")) return change_case(V, s, CASE_LOWER);
    if (name_is(name, "title")) return change_case(V, s, CASE_TITLE_PY);
    if (name_is(name, "capitalize")) return change_case(V, s, CASE_CAPITALIZE);
    if (name_is(name, "replace")) {
        const jstr *old = need_str(V, a0, "replace() argument 1 must be str");
        const jstr *nw =
            need_str(V, jargs_get(g, 1, NULL, jv_none(), NULL), "replace() argument 2 must be str");
        return do_replace(V, s, old, nw,
                          int_arg(V, jargs_get(g, 2, "count", jv_int(-1), NULL), -1));
    }
    if (name_is(name, "format")) return do_format(V, s, g);
    if (name_is(name, "find") || name_is(name, "rfind")) {
        const jstr *sub = need_str(V, a0, "must be str");
        const char *hit = NULL;
        jvm_work(V, s->n + sub->n);
        if (name->p[0] == 'f') {
            hit = sub->n ? memmem(s->p, s->n, sub->p, sub->n) : s->p;
        } else {
            rsearch rs;
            rs_init(V, &rs, sub);
            size_t h = rs_find(&rs, s->p, s->n);
            hit = h == SIZE_MAX ? NULL : s->p + h;
        }
        return jv_int(hit ? (int64_t)utf8_len(s->p, (size_t)(hit - s->p)) : -1);
    }
    if (name_is(name, "count")) {
        jvm_work(V, s->n);
        return jv_int(count_sub(s, need_str(V, a0, "must be str")));
    }
    if (name_is(name, "join")) {
        const jlist *items = jv_iter(V, a0);
        jbuf b;
        jb_init(&b, &V->a, V->lim.max_output);
        for (size_t i = 0; i < items->n; i++) {
            jvm_step(V);
            if (i) jb_put_str(&b, s);
            const jstr *it = need_str(V, items->v[i], "sequence item: expected str instance");
            jb_put_str(&b, it);
        }
        return mkstr(V, &b);
    }
    if (name_is(name, "splitlines")) {
        jv l = mklist(V, 0, 0);
        size_t cap = 0;
        for (size_t i = 0; i < s->n;) {
            size_t j = i;
            while (j < s->n && s->p[j] != '\n' && s->p[j] != '\r')
                j++;
            if (l.u.l->n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                l.u.l->v = ja_grow(&V->a, l.u.l->v, cap * sizeof(jv), nc * sizeof(jv));
                cap = nc;
            }
            l.u.l->v[l.u.l->n++] = substr(V, s, i, j);
            jvm_step(V);
            if (j < s->n && s->p[j] == '\r' && j + 1 < s->n && s->p[j + 1] == '\n') j++;
            i = j + 1;
        }
        return l;
    }
    if (name_is(name, "isdigit") || name_is(name, "isalpha") || name_is(name, "isalnum") ||
        name_is(name, "isspace") || name_is(name, "islower") || name_is(name, "isupper")) {
        size_t n;
        uint32_t *cp = decode(V, s, &n);
        if (n == 0) return jv_bool(0);
        int cased = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t c = cp[i];
            if (name_is(name, "isdigit") && !(c >= '0' && c <= '9')) return jv_bool(0);
            if (name_is(name, "isalpha") && !cp_alpha(c)) return jv_bool(0);
            if (name_is(name, "isalnum") && !cp_alnum(c)) return jv_bool(0);
            if (name_is(name, "isspace") && !cp_space(c)) return jv_bool(0);
            if (name_is(name, "islower")) {
                if (cp_upper(c) != c && cp_lower(c) == c)
                    cased = 1;
                else if (cp_lower(c) != c)
                    return jv_bool(0);
            }
            if (name_is(name, "isupper")) {
                if (cp_lower(c) != c && cp_upper(c) == c)
                    cased = 1;
                else if (cp_upper(c) != c)
                    return jv_bool(0);
            }
        }
        if (name_is(name, "islower") || name_is(name, "isupper")) return jv_bool(cased);
        return jv_bool(1);
    }
    *ok = 0;
    return jv_none();
}

static jv dict_method(jvm *V, jv self, const jstr *name, const jargs *g, int *ok) {
    const jdict *d = self.u.d;
    if (name_is(name, "items")) {
        jv l = mklist(V, d->n, 0);
        for (size_t i = 0; i < d->n; i++)
            l.u.l->v[i] = tuple2(V, d->k[i], d->v[i]);
        return l;
    }
    if (name_is(name, "keys") || name_is(name, "values")) {
        jv l = mklist(V, d->n, 0);
        for (size_t i = 0; i < d->n; i++)
            l.u.l->v[i] = name->p[0] == 'k' ? d->k[i] : d->v[i];
        return l;
    }
    if (name_is(name, "get")) {
        jv k = jargs_get(g, 0, NULL, jv_none(), NULL);
        jv *v = jd_get(d, k);
        return v ? *v : jargs_get(g, 1, NULL, jv_none(), NULL);
    }
    *ok = 0;
    return jv_none();
}

jv jinja_method(jvm *V, jv self, const jstr *name, const jargs *g, int *ok) {
    *ok = 1;
    jvm_step(V);
    if (self.t == JV_STR) return str_method(V, self.u.s, name, g, ok);
    if (self.t == JV_DICT) return dict_method(V, self, name, g, ok);
    if (self.t == JV_LIST && !(self.flags & JF_GEN)) {
        jv x = jargs_get(g, 0, NULL, jv_undef(NULL), NULL);
        int64_t c = 0;
        for (size_t i = 0; i < self.u.l->n; i++) {
            if (jvm_equal(V, self.u.l->v[i], x)) {
                if (name_is(name, "index")) return jv_int((int64_t)i);
                c++;
            }
        }
        if (name_is(name, "index")) jthrow(&V->a, HE_RUNTIME, "ValueError: value is not in list");
        if (name_is(name, "count")) return jv_int(c);
    }
    *ok = 0;
    return jv_none();
}

/* ---- Sorting (stable merge sort; the comparison may throw) ---- */

typedef struct {
    jvm *V;
    int case_sensitive;
    int by_value; /* dictsort */
    const jstr *attr;
} sort_ctx;

static jv attr_path(jvm *V, jv item, const jstr *attr);

static jv sort_key(const sort_ctx *c, jv v) {
    if (c->attr) v = attr_path(c->V, v, c->attr);
    if (!c->case_sensitive && v.t == JV_STR) v = change_case(c->V, v.u.s, CASE_LOWER);
    return v;
}

static void merge_sort(const sort_ctx *c, jv *keys, jv *vals, size_t n, jv *tk, jv *tv) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, keys, vals, h, tk, tv);
    merge_sort(c, keys + h, vals + h, n - h, tk, tv);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        jvm_step(c->V);
        if (jv_compare(c->V, keys[j], keys[i]) < 0) {
            tk[k] = keys[j];
            tv[k++] = vals[j++];
        } else {
            tk[k] = keys[i];
            tv[k++] = vals[i++];
        }
    }
    while (i < h) {
        tk[k] = keys[i];
        tv[k++] = vals[i++];
    }
    while (j < n) {
        tk[k] = keys[j];
        tv[k++] = vals[j++];
    }
    memcpy(keys, tk, n * sizeof(jv));
    memcpy(vals, tv, n * sizeof(jv));
}

static jv sorted(const sort_ctx *c, const jlist *items, int reverse,
                 jv (*key)(const sort_ctx *, jv)) {
    jvm *V = c->V;
    size_t n = items->n;
    jv *keys = ja_alloc(&V->a, (n + 1) * sizeof(jv)), *vals = ja_alloc(&V->a, (n + 1) * sizeof(jv));
    jv *tk = ja_alloc(&V->a, (n + 1) * sizeof(jv)), *tv = ja_alloc(&V->a, (n + 1) * sizeof(jv));
    /* reverse=True keeps Python's stability: reverse, sort, reverse */
    for (size_t i = 0; i < n; i++) {
        size_t src = reverse ? n - 1 - i : i;
        vals[i] = items->v[src];
        keys[i] = key(c, items->v[src]);
    }
    merge_sort(c, keys, vals, n, tk, tv);
    jv out = mklist(V, n, 0);
    for (size_t i = 0; i < n; i++)
        out.u.l->v[i] = vals[reverse ? n - 1 - i : i];
    return out;
}

static jv dictsort_key(const sort_ctx *c, jv pair) {
    jv v = pair.u.l->v[c->by_value ? 1 : 0];
    if (!c->case_sensitive && v.t == JV_STR) v = change_case(c->V, v.u.s, CASE_LOWER);
    return v;
}

/* ---- Attribute paths ("a.b.0") as used by map/selectattr/sort/join/unique ---- */

static jv attr_path(jvm *V, jv item, const jstr *attr) {
    size_t i = 0;
    while (i <= attr->n) {
        size_t j = i;
        while (j < attr->n && attr->p[j] != '.')
            j++;
        jv key;
        int digits = j > i;
        for (size_t k = i; k < j; k++)
            if (attr->p[k] < '0' || attr->p[k] > '9') digits = 0;
        if (digits && j - i < 18)
            key = jv_int(strtoll(attr->p + i, NULL, 10));
        else
            key = substr(V, attr, i, j);
        item = jv_getitem(V, item, key);
        i = j + 1;
    }
    return item;
}

/* ---- tojson ---- */

static jv do_tojson(jvm *V, jv x, const jargs *g) {
    jv ind = jargs_get(g, 0, "indent", jv_none(), NULL);
    int ensure_ascii = jv_truthy(jargs_get(g, 99, "ensure_ascii", jv_bool(0), NULL));
    int sort_keys = jv_truthy(jargs_get(g, 99, "sort_keys", jv_bool(0), NULL));
    jv seps = jargs_get(g, 99, "separators", jv_none(), NULL);
    const jstr *indent = NULL;
    if (ind.t == JV_INT || ind.t == JV_BOOL) {
        int64_t n = ind.t == JV_INT ? ind.u.i : ind.u.b;
        if (n > 1000) jthrow(&V->a, HE_LIMIT, "tojson indent too large");
        jbuf b;
        jb_init(&b, &V->a, 1024);
        for (int64_t i = 0; i < n; i++)
            jb_putc(&b, ' ');
        indent = jb_str(&b);
    } else if (ind.t == JV_STR) {
        indent = ind.u.s;
    } else if (ind.t != JV_NONE) {
        type_error(V, "tojson indent must be an int or a string", ind);
    }
    static const jstr comma_sp = {.n = 2, .p = ", "}, comma = {.n = 1, .p = ","},
                      colon_sp = {.n = 2, .p = ": "};
    const jstr *item_sep = indent ? &comma : &comma_sp, *key_sep = &colon_sp;
    if (seps.t == JV_LIST && seps.u.l->n == 2 && seps.u.l->v[0].t == JV_STR &&
        seps.u.l->v[1].t == JV_STR) {
        item_sep = seps.u.l->v[0].u.s;
        key_sep = seps.u.l->v[1].u.s;
    } else if (seps.t != JV_NONE) {
        type_error(V, "tojson separators must be a pair of strings", seps);
    }
    jbuf b;
    jb_init(&b, &V->a, V->lim.max_output);
    jv_write_json(&b, x, ensure_ascii, indent, item_sep, key_sep, sort_keys, 0);
    return mkstr(V, &b);
}

/* ---- Filters ---- */

static int64_t py_len(jvm *V, jv v) {
    switch (v.t) {
    case JV_STR:
        jvm_work(V, v.u.s->n);
        return (int64_t)utf8_len(v.u.s->p, v.u.s->n);
    case JV_LIST:
        if (v.flags & JF_GEN)
            jthrow(&V->a, HE_RUNTIME, "TypeError: object of type 'generator' has no len()");
        return (int64_t)v.u.l->n;
    case JV_DICT:
        return (int64_t)v.u.d->n;
    case JV_UNDEF:
        return 0;
    default:
        jthrow(&V->a, HE_RUNTIME, "TypeError: object of type '%s' has no len()", jv_typename(v));
    }
}

jv jinja_html_escape(jvm *V, jv v) {
    if (v.t == JV_STR && (v.flags & JF_SAFE)) return v;
    const jstr *s = jv_to_str(&V->a, v, V->lim.max_output);
    jbuf b;
    jb_init(&b, &V->a, V->lim.max_output);
    for (size_t i = 0; i < s->n; i++) {
        switch (s->p[i]) {
        case '&':
            jb_puts(&b, "&amp;");
            break;
        case '<':
            jb_puts(&b, "&lt;");
            break;
        case '>':
            jb_puts(&b, "&gt;");
            break;
        case '"':
            jb_puts(&b, "&#34;");
            break;
        case '\'':
            jb_puts(&b, "&#39;");
            break;
        default:
            jb_putc(&b, s->p[i]);
        }
    }
    jv r = jv_str(jstr_user_if(&V->a, jb_str(&b), s));
    r.flags = JF_SAFE;
    return r;
}

static jv do_indent(jvm *V, jv v, const jargs *g) {
    /* jinja2 does `s += "\n"` first: only strings (and undefined, as "") get through */
    if (v.t != JV_STR) type_error(V, "indent needs a string", v);
    const jstr *s = jv_to_str(&V->a, v, V->lim.max_output);
    jv w = jargs_get(g, 0, "width", jv_int(4), NULL);
    int first = jv_truthy(jargs_get(g, 1, "first", jv_bool(0), NULL));
    int blank = jv_truthy(jargs_get(g, 2, "blank", jv_bool(0), NULL));
    const jstr *ind;
    if (w.t == JV_STR) {
        ind = w.u.s;
    } else {
        int64_t n = int_arg(V, w, 4);
        if (n > 1000) jthrow(&V->a, HE_LIMIT, "indent width too large");
        jbuf ib;
        jb_init(&ib, &V->a, 2048);
        for (int64_t i = 0; i < n; i++)
            jb_putc(&ib, ' ');
        ind = jb_str(&ib);
    }
    /* lines = (s + "\n").splitlines() */
    jbuf b;
    jb_init(&b, &V->a, V->lim.max_output);
    if (first) jb_put_str(&b, ind);
    /* (s + "\n").splitlines(): the segments between breaks, the last one even when empty */
    size_t i = 0, line = 0;
    for (;;) {
        size_t j = i;
        while (j < s->n && s->p[j] != '\n' && s->p[j] != '\r' && s->p[j] != '\v' &&
               s->p[j] != '\f' && s->p[j] != '\x1c' && s->p[j] != '\x1d' && s->p[j] != '\x1e')
            j++;
        if (line > 0) {
            jb_putc(&b, '\n');
            if (blank || j > i) jb_put_str(&b, ind);
        }
        jvm_step(V);
        jb_put_sub(&b, s, i, j);
        if (j >= s->n) break;
        if (s->p[j] == '\r' && j + 1 < s->n && s->p[j + 1] == '\n') j++;
        i = j + 1;
        line++;
    }
    return mkstr(V, &b);
}

/* map / select / reject / selectattr / rejectattr */
static jv select_like(jvm *V, jv seq, const jargs *g, int want, int by_attr) {
    if (!jv_truthy(seq)) return mklist(V, 0, JF_GEN); /* jinja2: `if value: for item in value` */
    const jlist *items = jv_iter(V, seq);
    const jstr *attr = NULL;
    size_t argi = 0;
    if (by_attr) {
        attr = need_str(V, jargs_get(g, 0, NULL, jv_none(), NULL),
                        "selectattr needs an attribute name");
        argi = 1;
    }
    jv testname = jargs_get(g, argi, NULL, jv_none(), NULL);
    jargs rest = {g->pos + (g->npos > argi + 1 ? argi + 1 : g->npos),
                  g->npos > argi + 1 ? g->npos - argi - 1 : 0, g->kwn, g->kwv, g->nkw};
    jv out = mklist(V, items->n, JF_GEN);
    size_t k = 0;
    for (size_t i = 0; i < items->n; i++) {
        jvm_step(V);
        jv x = attr ? attr_path(V, items->v[i], attr) : items->v[i];
        int r = testname.t == JV_NONE
                    ? jv_truthy(x)
                    : jinja_test(V, need_str(V, testname, "test name must be a string"), x, &rest);
        if (!!r == want) out.u.l->v[k++] = items->v[i];
    }
    out.u.l->n = k;
    return out;
}

static jv do_map(jvm *V, jv seq, const jargs *g) {
    if (!jv_truthy(seq)) return mklist(V, 0, JF_GEN);
    const jlist *items = jv_iter(V, seq);
    int has_attr;
    jv attr = jargs_get(g, 99, "attribute", jv_none(), &has_attr);
    jv out = mklist(V, items->n, JF_GEN);
    if (has_attr) {
        const jstr *a = need_str(V, attr, "map attribute must be a string");
        jv dflt = jargs_get(g, 99, "default", jv_undef(NULL), NULL);
        for (size_t i = 0; i < items->n; i++) {
            jvm_step(V);
            jv x = attr_path(V, items->v[i], a);
            out.u.l->v[i] = (x.t == JV_UNDEF && dflt.t != JV_UNDEF) ? dflt : x;
        }
        return out;
    }
    const jstr *fname = need_str(V, jargs_get(g, 0, NULL, jv_none(), NULL),
                                 "map needs a filter name or attribute=");
    jargs rest = {g->pos + 1, g->npos - 1, g->kwn, g->kwv, g->nkw};
    for (size_t i = 0; i < items->n; i++) {
        jvm_step(V);
        out.u.l->v[i] = jinja_filter(V, fname, items->v[i], &rest);
    }
    return out;
}

static jv first_last(jvm *V, jv v, int last) {
    if (v.t == JV_LIST && (v.flags & JF_GEN) && last)
        jthrow(&V->a, HE_RUNTIME, "TypeError: 'generator' object is not reversible");
    const jlist *items = jv_iter(V, v);
    if (!items->n)
        return jv_undef(last ? "No last item, sequence was empty."
                             : "No first item, sequence was empty.");
    return items->v[last ? items->n - 1 : 0];
}

static jv to_int(jvm *V, jv v, jv dflt, int64_t base) {
    (void)V;
    switch (v.t) {
    case JV_INT:
        return v;
    case JV_BOOL:
        return jv_int(v.u.b);
    case JV_FLOAT:
        if (isnan(v.u.f) || isinf(v.u.f) || fabs(v.u.f) >= 9.2e18) return dflt;
        return jv_int((int64_t)v.u.f);
    case JV_STR: {
        char buf[64];
        const jstr *s = v.u.s;
        size_t a = 0, b = s->n;
        while (a < b && cp_space((unsigned char)s->p[a]))
            a++;
        while (b > a && cp_space((unsigned char)s->p[b - 1]))
            b--;
        if (b - a == 0 || b - a >= sizeof buf) return dflt;
        size_t k = 0;
        for (size_t i = a; i < b; i++)
            if (s->p[i] != '_') buf[k++] = s->p[i];
        buf[k] = 0;
        char *end;
        long long r = strtoll(buf, &end, (int)base);
        if (*end == 0) return jv_int(r);
        double f = strtod(buf, &end);
        if (*end == 0 && !isnan(f) && !isinf(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
        return dflt;
    }
    default:
        return dflt;
    }
}

static jv to_float(jv v, jv dflt) {
    switch (v.t) {
    case JV_INT:
        return jv_float((double)v.u.i);
    case JV_BOOL:
        return jv_float(v.u.b);
    case JV_FLOAT:
        return v;
    case JV_STR: {
        char buf[64];
        if (v.u.s->n == 0 || v.u.s->n >= sizeof buf) return dflt;
        memcpy(buf, v.u.s->p, v.u.s->n);
        buf[v.u.s->n] = 0;
        char *end;
        double f = strtod(buf, &end);
        while (*end == ' ' || *end == '\n' || *end == '\t')
            end++;
        return *end == 0 && end != buf ? jv_float(f) : dflt;
    }
    default:
        return dflt;
    }
}

static jv do_round(jvm *V, jv v, const jargs *g) {
    int64_t prec = int_arg(V, jargs_get(g, 0, "precision", jv_int(0), NULL), 0);
    jv method = jargs_get(g, 1, "method", jv_none(), NULL);
    if (v.t != JV_INT && v.t != JV_FLOAT && v.t != JV_BOOL)
        type_error(V, "round needs a number", v);
    if (prec > 300) prec = 300;
    if (prec < -300) prec = -300;
    double f = v.t == JV_FLOAT ? v.u.f : (double)(v.t == JV_INT ? v.u.i : v.u.b);
    double scale = pow(10.0, (double)prec);
    if (method.t == JV_STR && name_is(method.u.s, "ceil")) return jv_float(ceil(f * scale) / scale);
    if (method.t == JV_STR && name_is(method.u.s, "floor"))
        return jv_float(floor(f * scale) / scale);
    if (method.t != JV_NONE && !(method.t == JV_STR && name_is(method.u.s, "common")))
        jthrow(&V->a, HE_RUNTIME, "FilterArgumentError: method must be common, ceil or floor");
    if (v.t != JV_FLOAT && prec >= 0) return v.t == JV_BOOL ? jv_int(v.u.b) : v;
    /* Python round(): correctly rounded, halves to even; via the decimal string */
    char buf[400];
    if (prec >= 0) {
        snprintf(buf, sizeof buf, "%.*f", (int)prec, f);
        double r = strtod(buf, NULL);
        if (v.t != JV_FLOAT) return jv_int((int64_t)r);
        return jv_float(r);
    }
    double r = nearbyint(f * scale) / scale;
    return v.t == JV_FLOAT ? jv_float(r) : jv_int((int64_t)r);
}

static jv keep_safe(jv from, jv r) {
    if (from.t == JV_STR && (from.flags & JF_SAFE)) r.flags |= JF_SAFE;
    return r;
}

jv jinja_filter(jvm *V, const jstr *name, jv self, const jargs *g) {
    jvm_step(V);
#define F(s) name_is(name, s)
    if (F("tojson")) return do_tojson(V, self, g);
    if (F("safe")) {
        jv r = jv_str(jv_to_str(&V->a, self, V->lim.max_output));
        r.flags = JF_SAFE;
        return r;
    }
    if (F("string")) return keep_safe(self, jv_str(jv_to_str(&V->a, self, V->lim.max_output)));
    if (F("e") || F("escape")) return jinja_html_escape(V, self);
    if (F("trim")) {
        jv chars = jargs_get(g, 0, "chars", jv_none(), NULL);
        return keep_safe(
            self,
            do_strip(V, jv_to_str(&V->a, self, V->lim.max_output),
                     chars.t == JV_NONE ? NULL : need_str(V, chars, "trim chars must be a string"),
                     3));
    }
    if (F("upper"))
        return keep_safe(self,
                         change_case(V, jv_to_str(&V->a, self, V->lim.max_output), CASE_UPPER));
    if (F("lower"))
        return keep_safe(self,
                         change_case(V, jv_to_str(&V->a, self, V->lim.max_output), CASE_LOWER));
    if (F("title"))
        return keep_safe(
            self, change_case(V, jv_to_str(&V->a, self, V->lim.max_output), CASE_TITLE_JINJA));
    if (F("capitalize"))
        return keep_safe(
            self, change_case(V, jv_to_str(&V->a, self, V->lim.max_output), CASE_CAPITALIZE));
    if (F("length") || F("count")) return jv_int(py_len(V, self));
    if (F("wordcount")) {
        const jstr *s = jv_to_str(&V->a, self, V->lim.max_output);
        size_t n;
        uint32_t *cp = decode(V, s, &n);
        int64_t words = 0;
        int in = 0;
        for (size_t i = 0; i < n; i++) {
            int w = cp_alnum(cp[i]) || cp[i] == '_';
            if (w && !in) words++;
            in = w;
        }
        return jv_int(words);
    }
    if (F("default") || F("d")) {
        jv dflt = jargs_get(g, 0, "default_value", jv_cstr(&V->a, ""), NULL);
        int boolean = jv_truthy(jargs_get(g, 1, "boolean", jv_bool(0), NULL));
        if (self.t == JV_UNDEF || (boolean && !jv_truthy(self))) return dflt;
        return self;
    }
    if (F("join")) {
        jv sep = jargs_get(g, 0, "d", jv_cstr(&V->a, ""), NULL);
        jv attr = jargs_get(g, 1, "attribute", jv_none(), NULL);
        const jstr *d = jv_to_str(&V->a, sep, V->lim.max_output);
        const jlist *items = jv_iter(V, self);
        jbuf b;
        jb_init(&b, &V->a, V->lim.max_output);
        for (size_t i = 0; i < items->n; i++) {
            jvm_step(V);
            if (i) jb_put_str(&b, d);
            jv x = items->v[i];
            if (attr.t != JV_NONE)
                x = attr_path(V, x, need_str(V, attr, "join attribute must be a string"));
            jv_write_str(&b, x);
        }
        return mkstr(V, &b);
    }
    if (F("replace")) {
        const jstr *s = jv_to_str(&V->a, self, V->lim.max_output);
        const jstr *old =
            jv_to_str(&V->a, jargs_get(g, 0, "old", jv_cstr(&V->a, ""), NULL), V->lim.max_output);
        const jstr *nw =
            jv_to_str(&V->a, jargs_get(g, 1, "new", jv_cstr(&V->a, ""), NULL), V->lim.max_output);
        jv cnt = jargs_get(g, 2, "count", jv_none(), NULL);
        return do_replace(V, s, old, nw, int_arg(V, cnt, -1));
    }
    if (F("first")) return first_last(V, self, 0);
    if (F("last")) return first_last(V, self, 1);
    if (F("list")) {
        const jlist *items = jv_iter(V, self);
        jv out = mklist(V, items->n, 0);
        if (items->n) memcpy(out.u.l->v, items->v, items->n * sizeof(jv));
        return out;
    }
    if ((F("int") || F("float")) && self.t == JV_UNDEF) jvm_undefined_error(V, self);
    if (F("int")) {
        jv dflt = jargs_get(g, 0, "default", jv_int(0), NULL);
        return to_int(V, self, dflt, int_arg(V, jargs_get(g, 1, "base", jv_int(10), NULL), 10));
    }
    if (F("float")) return to_float(self, jargs_get(g, 0, "default", jv_float(0.0), NULL));
    if (F("abs")) {
        if (self.t == JV_INT) {
            if (self.u.i == INT64_MIN) jthrow(&V->a, HE_UNSUPPORTED, "integer overflow");
            return jv_int(self.u.i < 0 ? -self.u.i : self.u.i);
        }
        if (self.t == JV_BOOL) return jv_int(self.u.b);
        if (self.t == JV_FLOAT) return jv_float(fabs(self.u.f));
        type_error(V, "bad operand type for abs()", self);
    }
    if (F("round")) return do_round(V, self, g);
    if (F("items")) {
        if (self.t == JV_UNDEF) return mklist(V, 0, JF_GEN);
        if (self.t != JV_DICT)
            jthrow(&V->a, HE_RUNTIME, "TypeError: Can only get item pairs from a mapping.");
        jv out = mklist(V, self.u.d->n, JF_GEN);
        for (size_t i = 0; i < self.u.d->n; i++)
            out.u.l->v[i] = tuple2(V, self.u.d->k[i], self.u.d->v[i]);
        return out;
    }
    if (F("dictsort")) {
        if (self.t != JV_DICT)
            type_error(V, "You can only sort by either \"key\" or \"value\"", self);
        sort_ctx c = {V, jv_truthy(jargs_get(g, 0, "case_sensitive", jv_bool(0), NULL)), 0, NULL};
        jv by = jargs_get(g, 1, "by", jv_cstr(&V->a, "key"), NULL);
        if (by.t == JV_STR && name_is(by.u.s, "value"))
            c.by_value = 1;
        else if (!(by.t == JV_STR && name_is(by.u.s, "key")))
            jthrow(&V->a, HE_RUNTIME,
                   "FilterArgumentError: You can only sort by either \"key\" or \"value\"");
        int reverse = jv_truthy(jargs_get(g, 2, "reverse", jv_bool(0), NULL));
        jv pairs = mklist(V, self.u.d->n, 0);
        for (size_t i = 0; i < self.u.d->n; i++)
            pairs.u.l->v[i] = tuple2(V, self.u.d->k[i], self.u.d->v[i]);
        return sorted(&c, pairs.u.l, reverse, dictsort_key);
    }
    if (F("sort")) {
        int reverse = jv_truthy(jargs_get(g, 0, "reverse", jv_bool(0), NULL));
        sort_ctx c = {V, jv_truthy(jargs_get(g, 1, "case_sensitive", jv_bool(0), NULL)), 0, NULL};
        jv attr = jargs_get(g, 2, "attribute", jv_none(), NULL);
        if (attr.t != JV_NONE) c.attr = need_str(V, attr, "sort attribute must be a string");
        return sorted(&c, jv_iter(V, self), reverse, sort_key);
    }
    if (F("reverse")) {
        if (self.t == JV_STR) {
            size_t n;
            uint32_t *cp = decode(V, self.u.s, &n);
            jbuf b;
            jb_init(&b, &V->a, V->lim.max_output);
            for (size_t i = n; i-- > 0;)
                put_cp(&b, cp[i]);
            return jv_str(jstr_user_if(&V->a, jb_str(&b), self.u.s));
        }
        if (self.t == JV_DICT || self.t == JV_UNDEF || (self.t == JV_LIST && (self.flags & JF_GEN)))
            jthrow(&V->a, HE_RUNTIME, "FilterArgumentError: argument must be iterable");
        const jlist *items = jv_iter(V, self);
        jv out = mklist(V, items->n, JF_GEN);
        for (size_t i = 0; i < items->n; i++)
            out.u.l->v[i] = items->v[items->n - 1 - i];
        return out;
    }
    if (F("unique")) {
        int cs = jv_truthy(jargs_get(g, 0, "case_sensitive", jv_bool(0), NULL));
        jv attr = jargs_get(g, 1, "attribute", jv_none(), NULL);
        const jlist *items = jv_iter(V, self);
        jv out = mklist(V, items->n, JF_GEN);
        jdict *seen = jd_new(&V->a); /* hashed: linear, where a scan of the kept items is not */
        size_t k = 0;
        for (size_t i = 0; i < items->n; i++) {
            jvm_step(V);
            jv key = items->v[i];
            if (attr.t != JV_NONE)
                key = attr_path(V, key, need_str(V, attr, "unique attribute must be a string"));
            if (!cs && key.t == JV_STR) key = change_case(V, key.u.s, CASE_LOWER);
            if (!jd_get(seen, key)) {
                jd_set(&V->a, seen, key, jv_none());
                out.u.l->v[k++] = items->v[i];
            }
        }
        out.u.l->n = k;
        return out;
    }
    if (F("map")) return do_map(V, self, g);
    if (F("select")) return select_like(V, self, g, 1, 0);
    if (F("reject")) return select_like(V, self, g, 0, 0);
    if (F("selectattr")) return select_like(V, self, g, 1, 1);
    if (F("rejectattr")) return select_like(V, self, g, 0, 1);
    if (F("indent")) return do_indent(V, self, g);
    if (F("attr"))
        return jv_getattr(
            V, self,
            need_str(V, jargs_get(g, 0, "name", jv_none(), NULL), "attr name must be a string"));
    if (F("format")) {
        const jstr *f = jv_to_str(&V->a, self, V->lim.max_output);
        if (g->nkw) {
            jv d = {.t = JV_DICT};
            d.u.d = jd_new(&V->a);
            for (size_t i = 0; i < g->nkw; i++) jd_set(&V->a, d.u.d, jv_str(g->kwn[i]), g->kwv[i]);
            return jinja_percent_format(V, f, d);
        }
        jv t = mklist(V, g->npos, JF_TUPLE);
        for (size_t i = 0; i < g->npos; i++) t.u.l->v[i] = g->pos[i];
        return jinja_percent_format(V, f, t);
    }
    if (F("min") || F("max")) {
        const jlist *items = jv_iter(V, self);
        if (!items->n) return jv_undef("No aggregated item, sequence was empty.");
        jv best = items->v[0];
        for (size_t i = 1; i < items->n; i++) {
            jvm_step(V);
            int c = jv_compare(V, items->v[i], best);
            if (F("min") ? c < 0 : c > 0) best = items->v[i];
        }
        return best;
    }
    if (F("sum")) {
        const jlist *items = jv_iter(V, self);
        jv attr = jargs_get(g, 0, "attribute", jv_none(), NULL);
        jv acc = jargs_get(g, 1, "start", jv_int(0), NULL);
        for (size_t i = 0; i < items->n; i++) {
            jvm_step(V);
            jv x = items->v[i];
            if (attr.t != JV_NONE)
                x = attr_path(V, x, need_str(V, attr, "sum attribute must be a string"));
            if ((acc.t != JV_INT && acc.t != JV_FLOAT) ||
                (x.t != JV_INT && x.t != JV_FLOAT && x.t != JV_BOOL))
                type_error(V, "sum needs numbers", x);
            if (acc.t == JV_INT && x.t != JV_FLOAT) {
                int64_t r;
                if (__builtin_add_overflow(acc.u.i, x.t == JV_INT ? x.u.i : x.u.b, &r))
                    jthrow(&V->a, HE_UNSUPPORTED, "integer overflow");
                acc = jv_int(r);
            } else {
                double a = acc.t == JV_INT ? (double)acc.u.i : acc.u.f;
                double b = x.t == JV_FLOAT ? x.u.f : (double)(x.t == JV_INT ? x.u.i : x.u.b);
                acc = jv_float(a + b);
            }
        }
        return acc;
    }
#undef F
    jthrow(&V->a, HE_UNSUPPORTED, "TemplateRuntimeError: No filter named '%.*s'",
           (int)(name->n > 60 ? 60 : name->n), name->p);
}

/* ---- Tests ---- */

int jinja_test(jvm *V, const jstr *name, jv v, const jargs *g) {
    jvm_step(V);
    jv a0 = jargs_get(g, 0, NULL, jv_undef(NULL), NULL);
#define T(s) name_is(name, s)
    if (T("defined")) return v.t != JV_UNDEF;
    if (T("undefined")) return v.t == JV_UNDEF;
    if (T("none")) return v.t == JV_NONE;
    if (T("string")) return v.t == JV_STR;
    if (T("number")) return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
    if (T("integer")) return v.t == JV_INT;
    if (T("float")) return v.t == JV_FLOAT;
    if (T("boolean")) return v.t == JV_BOOL;
    if (T("true")) return v.t == JV_BOOL && v.u.b;
    if (T("false")) return v.t == JV_BOOL && !v.u.b;
    if (T("mapping")) return v.t == JV_DICT;
    if (T("iterable")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    if (T("sequence"))
        return v.t == JV_STR || (v.t == JV_LIST && !(v.flags & JF_GEN)) || v.t == JV_DICT;
    if (T("callable")) return v.t == JV_MACRO || v.t == JV_BUILTIN || v.t == JV_METHOD;
    if (T("odd") || T("even") || T("divisibleby")) {
        /* value % n == 0, by Python's rules for ints and floats */
        if (v.t != JV_INT && v.t != JV_BOOL && v.t != JV_FLOAT)
            type_error(V, "odd/even/divisibleby need a number", v);
        jv d = T("divisibleby") ? a0 : jv_int(2);
        if (d.t != JV_INT && d.t != JV_BOOL && d.t != JV_FLOAT)
            type_error(V, "divisibleby needs a number", d);
        int is_int = v.t != JV_FLOAT && d.t != JV_FLOAT;
        if (is_int) {
            int64_t x = v.t == JV_INT ? v.u.i : v.u.b, n = d.t == JV_INT ? d.u.i : d.u.b;
            if (n == 0) jthrow(&V->a, HE_RUNTIME, "ZeroDivisionError: integer division or modulo by zero");
            int r = n == -1 ? 1 : x % n == 0;
            return T("odd") ? !r : r;
        }
        double x = v.t == JV_FLOAT ? v.u.f : (double)(v.t == JV_INT ? v.u.i : v.u.b);
        double n = d.t == JV_FLOAT ? d.u.f : (double)(d.t == JV_INT ? d.u.i : d.u.b);
        if (n == 0.0) jthrow(&V->a, HE_RUNTIME, "ZeroDivisionError: float modulo");
        double m = fmod(x, n);
        if (T("odd")) return m == 1.0 || m == -1.0; /* Python: x % 2 == 1 */
        return m == 0.0;
    }
    if (T("equalto") || T("eq") || T("==")) return jvm_equal(V, v, a0);
    if (T("ne") || T("!=")) return !jvm_equal(V, v, a0);
    if (T("lt") || T("lessthan") || T("<")) return jv_compare(V, v, a0) < 0;
    if (T("le") || T("<=")) return jv_compare(V, v, a0) <= 0;
    if (T("gt") || T("greaterthan") || T(">")) return jv_compare(V, v, a0) > 0;
    if (T("ge") || T(">=")) return jv_compare(V, v, a0) >= 0;
    if (T("in")) {
        if (a0.t == JV_STR) {
            if (v.t != JV_STR) type_error(V, "'in <string>' requires string as left operand", v);
            jvm_work(V, a0.u.s->n + v.u.s->n);
            return v.u.s->n == 0 || memmem(a0.u.s->p, a0.u.s->n, v.u.s->p, v.u.s->n) != NULL;
        }
        if (a0.t == JV_DICT) return jd_get(a0.u.d, v) != NULL;
        const jlist *items = jv_iter(V, a0);
        for (size_t i = 0; i < items->n; i++)
            if (jvm_equal(V, items->v[i], v)) return 1;
        return 0;
    }
    if (T("sameas")) {
        if (v.t != a0.t) return 0;
        if (v.t == JV_NONE || v.t == JV_UNDEF) return 1;
        if (v.t == JV_BOOL) return v.u.b == a0.u.b;
        return jv_equal(v, a0) && (v.t == JV_INT || v.u.d == a0.u.d);
    }
    if (T("lower") || T("upper")) {
        if (v.t != JV_STR) return 0;
        jv r = change_case(V, v.u.s, T("lower") ? CASE_LOWER : CASE_UPPER);
        return jv_equal(r, v);
    }
    if (T("escaped")) return 0;
#undef T
    jthrow(&V->a, HE_UNSUPPORTED, "TemplateRuntimeError: No test named '%.*s'",
           (int)(name->n > 60 ? 60 : name->n), name->p);
}
