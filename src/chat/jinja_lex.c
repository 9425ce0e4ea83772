/* jinja_lex.c — the Jinja tokenizer.
 *
 * Splits a template into text and tag tokens exactly as Jinja2's lexer does with
 * trim_blocks and lstrip_blocks on (the way Hugging Face configures it): '{%-'/'-%}' strip
 * all whitespace on that side, '%}' eats one following newline, a block or comment tag alone
 * on its line loses the indentation before it unless opened with '{%+', '{# #}' vanishes,
 * '{% raw %}' passes text through, and one trailing newline of the template is dropped. */
#include <string.h>

#include "base/utf8.h"
#include "chat/jinja_internal.h"

typedef struct {
    jarena *a;
    const char *s;
    size_t n, pos;
    int line;
    size_t line_start;
    jtok *toks;
    size_t ntoks, cap;
} lexer;

static int is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_name(char c) { return is_name0(c) || is_digit(c); }

/* Moves pos forward to p, counting lines. */
static void advance(lexer *L, size_t p) {
    for (; L->pos < p; L->pos++)
        if (L->s[L->pos] == '\n') {
            L->line++;
            L->line_start = L->pos + 1;
        }
}

static void set_pos(lexer *L, size_t p) {
    /* point jthrow at p */
    int line = L->line;
    size_t ls = L->line_start;
    for (size_t i = L->pos; i < p && i < L->n; i++)
        if (L->s[i] == '\n') {
            line++;
            ls = i + 1;
        }
    L->a->line = line;
    L->a->col = (int)(p - ls) + 1;
}

static jtok *push(lexer *L, int t) {
    if (L->ntoks == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        L->toks = ja_grow(L->a, L->toks, L->ntoks * sizeof(jtok), cap * sizeof(jtok));
        L->cap = cap;
    }
    jtok *t0 = &L->toks[L->ntoks++];
    memset(t0, 0, sizeof *t0);
    t0->t = (uint8_t)t;
    t0->line = L->line;
    t0->col = (int)(L->pos - L->line_start) + 1;
    return t0;
}

static void push_text(lexer *L, const char *p, size_t n) {
    if (!n) return;
    jtok *t = push(L, T_TEXT);
    t->s.p = p;
    t->s.n = n;
}

/* Applies the left-side whitespace rules to the text before a tag and emits it.
 * sign: '-', '+' or 0; is_var: the tag is '{{' (lstrip_blocks does not apply). */
static void emit_text_before(lexer *L, const char *p, size_t n, char sign, int is_var,
                             int line_starting) {
    if (sign == '-') {
        while (n && is_ws(p[n - 1]))
            n--;
    } else if (sign != '+' && !is_var) {
        size_t l = n;
        while (l && p[l - 1] != '\n')
            l--;
        if (l > 0 || line_starting) {
            size_t k = l;
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\f' || p[k] == '\v'))
                k++;
            if (k == n && n > l) n = l;
        }
    }
    push_text(L, p, n);
}

/* Consumes the right side of a block/comment end at q (just after '%}' or '#}'):
 * '-' strips all whitespace, '+' nothing, plain ends eat one newline (trim_blocks).
 * Returns the new position; *ls gets whether the consumed text ended with a newline. */
static size_t after_end(lexer *L, size_t q, char sign, int trim, int *ls) {
    *ls = 0;
    if (sign == '-') {
        while (q < L->n && is_ws(L->s[q]))
            q++;
    } else if (sign != '+' && trim && q < L->n && L->s[q] == '\n') {
        q++;
    }
    *ls = q > 0 && L->s[q - 1] == '\n';
    return q;
}

/* ---- String literals: Python escape rules ---- */

static void put_utf8(char *out, size_t *k, uint32_t c) { *k += utf8_encode(c, out + *k); }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the body of a string literal p[0..n) (between the quotes). */
static jstr decode_string(lexer *L, const char *p, size_t n, size_t at) {
    char *out = ja_alloc(L->a, n + 1); /* escapes never grow the text */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c != '\\' || i + 1 >= n) {
            out[k++] = c;
            continue;
        }
        char e = p[++i];
        switch (e) {
        case '\n':
            break;
        case '\\':
            out[k++] = '\\';
            break;
        case '\'':
            out[k++] = '\'';
            break;
        case '"':
            out[k++] = '"';
            break;
        case 'a':
            out[k++] = '\a';
            break;
        case 'b':
            out[k++] = '\b';
            break;
        case 'f':
            out[k++] = '\f';
            break;
        case 'n':
            out[k++] = '\n';
            break;
        case 'r':
            out[k++] = '\r';
            break;
        case 't':
            out[k++] = '\t';
            break;
        case 'v':
            out[k++] = '\v';
            break;
        case 'x':
        case 'u':
        case 'U': {
            int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int d = 0; d < len; d++) {
                int h = i + 1 + (size_t)d < n ? hexval(p[i + 1 + (size_t)d]) : -1;
                if (h < 0) {
                    set_pos(L, at);
                    jthrow(L->a, HE_FORMAT, "truncated \\%c escape in string literal", e);
                }
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF) {
                set_pos(L, at);
                jthrow(L->a, HE_FORMAT, "illegal Unicode character in string literal");
            }
            i += (size_t)len;
            put_utf8(out, &k, cp);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                uint32_t cp = (uint32_t)(e - '0');
                for (int d = 0; d < 2 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7'; d++)
                    cp = cp * 8 + (uint32_t)(p[++i] - '0');
                put_utf8(out, &k, cp);
            } else {
                out[k++] = '\\';
                out[k++] = e;
            }
        }
    }
    out[k] = 0;
    return (jstr){.n = k, .p = out};
}

/* ---- Tag contents ---- */

static const char *const OPS2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char OPS1[] = "+-/*%~[](){}.:|,;=<>";

/* Lexes tokens inside a '{{ }}' or '{% %}' (is_block) up to and including its end, the way
 * Jinja2 does: the end is only recognized outside brackets. *ls_out gets whether the text
 * consumed by the end ('-%}' eats whitespace, '%}' one newline) ended with a newline. */
static void lex_tag(lexer *L, int is_block, int *ls_out) {
    char depth_stack[256];
    int depth = 0;
    for (;;) {
        size_t p = L->pos;
        if (p >= L->n) {
            set_pos(L, p);
            jthrow(L->a, HE_FORMAT, "unexpected end of template, expected '%s'",
                   is_block ? "%}" : "}}");
        }
        const char *s = L->s + p;
        size_t left = L->n - p;
        if (depth == 0) {
            char endc = is_block ? '%' : '}';
            char sign = 0;
            size_t len = 0;
            if (left >= 3 && (s[0] == '-' || (is_block && s[0] == '+')) && s[1] == endc &&
                s[2] == '}') {
                sign = s[0];
                len = 3;
            } else if (left >= 2 && s[0] == endc && s[1] == '}') {
                len = 2;
            }
            if (len) {
                push(L, is_block ? T_BLOCK_END : T_VAR_END);
                size_t q = after_end(L, p + len, sign, is_block, ls_out);
                if (!is_block && sign != '-') *ls_out = 0;
                advance(L, q);
                return;
            }
        }
        if (is_ws(s[0])) {
            advance(L, p + 1);
            continue;
        }
        if (is_digit(s[0])) {
            size_t q = p;
            int is_float = 0;
            if (s[0] == '0' && left > 2 &&
                (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'O' || s[1] == 'b' ||
                 s[1] == 'B')) {
                int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
                uint64_t v = 0;
                q = p + 2;
                int nd = 0;
                while (q < L->n && (hexval(L->s[q]) >= 0 || L->s[q] == '_')) {
                    if (L->s[q] != '_') {
                        int h = hexval(L->s[q]);
                        if (h >= base) break;
                        if (v > (UINT64_MAX >> 4)) {
                            set_pos(L, p);
                            jthrow(L->a, HE_UNSUPPORTED, "integer literal too large");
                        }
                        v = v * (uint64_t)base + (uint64_t)h;
                        nd++;
                    }
                    q++;
                }
                if (nd && v <= INT64_MAX) {
                    jtok *t = push(L, T_INT);
                    t->i = (int64_t)v;
                    advance(L, q);
                    continue;
                }
                q = p;
            }
            char num[128];
            size_t k = 0;
#define NUMPUT(c)                                                                                  \
    do {                                                                                           \
        if (k >= sizeof num - 1) {                                                                 \
            set_pos(L, p);                                                                         \
            jthrow(L->a, HE_UNSUPPORTED, "number literal too long");                               \
        }                                                                                          \
        num[k++] = (c);                                                                            \
    } while (0)
            while (q < L->n && (is_digit(L->s[q]) || L->s[q] == '_')) {
                if (L->s[q] != '_') NUMPUT(L->s[q]);
                q++;
            }
            int after_dot = p > 0 && L->s[p - 1] == '.';
            if (!after_dot && q + 1 < L->n && L->s[q] == '.' && is_digit(L->s[q + 1])) {
                is_float = 1;
                NUMPUT('.');
                q++;
                while (q < L->n && (is_digit(L->s[q]) || L->s[q] == '_')) {
                    if (L->s[q] != '_') NUMPUT(L->s[q]);
                    q++;
                }
            }
            if (!after_dot && q < L->n && (L->s[q] == 'e' || L->s[q] == 'E')) {
                size_t r = q + 1;
                if (r < L->n && (L->s[r] == '+' || L->s[r] == '-')) r++;
                if (r < L->n && is_digit(L->s[r])) {
                    is_float = 1;
                    NUMPUT('e');
                    for (size_t z = q + 1; z < r; z++)
                        NUMPUT(L->s[z]);
                    q = r;
                    while (q < L->n && (is_digit(L->s[q]) || L->s[q] == '_')) {
                        if (L->s[q] != '_') NUMPUT(L->s[q]);
                        q++;
                    }
                }
            }
#undef NUMPUT
            num[k] = 0;
            if (is_float) {
                jtok *t = push(L, T_FLOAT);
                t->f = strtod(num, NULL);
            } else {
                jtok *t = push(L, T_INT);
                int64_t v = 0;
                for (size_t z = 0; z < k; z++) {
                    if (v > (INT64_MAX - (num[z] - '0')) / 10) { /* exact: INT64_MAX lexes */
                        set_pos(L, p);
                        jthrow(L->a, HE_UNSUPPORTED, "integer literal too large");
                    }
                    v = v * 10 + (num[z] - '0');
                }
                t->i = v;
            }
            advance(L, q);
            continue;
        }
        if (is_name0(s[0])) {
            size_t q = p;
            while (q < L->n && is_name(L->s[q]))
                q++;
            jtok *t = push(L, T_NAME);
            t->s.p = s;
            t->s.n = q - p;
            advance(L, q);
            continue;
        }
        if (s[0] == '\'' || s[0] == '"') {
            size_t q = p + 1;
            while (q < L->n && L->s[q] != s[0]) {
                if (L->s[q] == '\\') q++;
                q++;
            }
            if (q >= L->n) {
                set_pos(L, p);
                jthrow(L->a, HE_FORMAT, "unterminated string literal");
            }
            jtok *t = push(L, T_STRING);
            t->s = decode_string(L, s + 1, q - p - 1, p);
            advance(L, q + 1);
            continue;
        }
        int oplen = 0;
        for (size_t k = 0; k < sizeof OPS2 / sizeof *OPS2; k++)
            if (left >= 2 && s[0] == OPS2[k][0] && s[1] == OPS2[k][1]) oplen = 2;
        if (!oplen && s[0] && strchr(OPS1, s[0])) oplen = 1;
        if (!oplen) {
            set_pos(L, p);
            if ((unsigned char)s[0] >= 0x20 && (unsigned char)s[0] < 0x7F)
                jthrow(L->a, HE_FORMAT, "unexpected char '%c'", s[0]);
            jthrow(L->a, HE_FORMAT, "unexpected byte 0x%02x", (unsigned char)s[0]);
        }
        if (oplen == 1 && (s[0] == '(' || s[0] == '[' || s[0] == '{')) {
            if (depth == (int)sizeof depth_stack) {
                set_pos(L, p);
                jthrow(L->a, HE_LIMIT, "brackets nested too deeply");
            }
            depth_stack[depth++] = s[0] == '(' ? ')' : s[0] == '[' ? ']' : '}';
        } else if (oplen == 1 && (s[0] == ')' || s[0] == ']' || s[0] == '}')) {
            set_pos(L, p);
            if (!depth) jthrow(L->a, HE_FORMAT, "unexpected '%c'", s[0]);
            if (depth_stack[depth - 1] != s[0])
                jthrow(L->a, HE_FORMAT, "unexpected '%c', expected '%c'", s[0],
                       depth_stack[depth - 1]);
            depth--;
        }
        jtok *t = push(L, T_OP);
        memcpy(t->op, s, (size_t)oplen);
        advance(L, p + (size_t)oplen);
    }
}

/* Matches '{%' [-+] ws* word ws* at p; returns the index after it or 0. */
static size_t match_tag_word(lexer *L, size_t p, const char *word, char *sign) {
    const char *s = L->s;
    if (p + 2 > L->n || s[p] != '{' || s[p + 1] != '%') return 0;
    size_t q = p + 2;
    *sign = 0;
    if (q < L->n && (s[q] == '-' || s[q] == '+')) *sign = s[q++];
    while (q < L->n && is_ws(s[q]))
        q++;
    size_t wl = strlen(word);
    if (q + wl > L->n || memcmp(s + q, word, wl) != 0) return 0;
    q += wl;
    if (q < L->n && is_name(s[q])) return 0;
    while (q < L->n && is_ws(s[q]))
        q++;
    return q;
}

size_t jinja_lex(jarena *a, const char *src, size_t len, jtok **out) {
    /* Newlines are normalized to \n and one trailing newline is dropped, as Jinja2 does. */
    char *s = ja_alloc(a, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = 0;

    lexer L = {.a = a, .s = s, .n = n, .line = 1};
    int line_starting = 1;
    while (L.pos < n) {
        /* find the next tag opener */
        size_t p = L.pos;
        const char *hit = NULL;
        while (p + 1 < n) {
            hit = memchr(s + p, '{', n - p - 1);
            if (!hit) break;
            char c = hit[1];
            if (c == '{' || c == '%' || c == '#') break;
            p = (size_t)(hit - s) + 1;
            hit = NULL;
        }
        if (!hit) {
            push_text(&L, s + L.pos, n - L.pos);
            advance(&L, n);
            break;
        }
        size_t tag = (size_t)(hit - s);
        char kind = hit[1];
        char sign = (tag + 2 < n && (s[tag + 2] == '-' || s[tag + 2] == '+')) ? s[tag + 2] : 0;
        char rsign = 0;
        size_t raw_end = kind == '%' ? match_tag_word(&L, tag, "raw", &rsign) : 0;
        size_t raw_body = 0;
        if (raw_end) {
            if (raw_end + 3 <= n && s[raw_end] == '-' && s[raw_end + 1] == '%' &&
                s[raw_end + 2] == '}') {
                raw_body = raw_end + 3;
                while (raw_body < n && is_ws(s[raw_body]))
                    raw_body++;
            } else if (raw_end + 2 <= n && s[raw_end] == '%' && s[raw_end + 1] == '}') {
                raw_body = raw_end + 2;
            }
        }
        emit_text_before(&L, s + L.pos, tag - L.pos, sign, kind == '{', line_starting);
        advance(&L, tag);
        if (raw_body) {
            /* {% raw %} ... {% endraw %}: the body is text, with the same stripping rules */
            size_t q = raw_body, endq = 0;
            char esign = 0;
            for (; q < n; q++) {
                if (s[q] == '{' && (endq = match_tag_word(&L, q, "endraw", &esign))) break;
            }
            if (q >= n) {
                set_pos(&L, tag);
                jthrow(a, HE_FORMAT, "missing end of raw directive");
            }
            char csign = 0;
            size_t close = 0;
            if (endq + 3 <= n && (s[endq] == '+' || s[endq] == '-') && s[endq + 1] == '%' &&
                s[endq + 2] == '}') {
                csign = s[endq];
                close = endq + 3;
            } else if (endq + 2 <= n && s[endq] == '%' && s[endq + 1] == '}') {
                close = endq + 2;
            }
            if (!close) {
                set_pos(&L, q);
                jthrow(a, HE_FORMAT, "malformed endraw tag");
            }
            int ls_raw = s[raw_body - 1] == '\n';
            emit_text_before(&L, s + raw_body, q - raw_body, esign, 0, ls_raw);
            int ls;
            size_t after = after_end(&L, close, csign, 1, &ls);
            line_starting = ls;
            advance(&L, after);
            continue;
        }
        if (kind == '#') {
            size_t q = tag + 2 + (sign ? 1 : 0);
            const char *e = NULL;
            while (q + 1 < n + 1) {
                e = memchr(s + q, '#', n - q);
                if (!e) break;
                if ((size_t)(e - s) + 1 < n && e[1] == '}') break;
                q = (size_t)(e - s) + 1;
                e = NULL;
            }
            if (!e) {
                set_pos(&L, tag);
                jthrow(a, HE_FORMAT, "missing end of comment tag");
            }
            size_t endpos = (size_t)(e - s);
            char csign = 0;
            if (endpos > tag + 2 + (sign ? 1u : 0u) &&
                (s[endpos - 1] == '-' || s[endpos - 1] == '+'))
                csign = s[endpos - 1];
            int ls;
            size_t after = after_end(&L, endpos + 2, csign, 1, &ls);
            line_starting = ls;
            advance(&L, after);
            continue;
        }
        push(&L, kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN);
        advance(&L, tag + 2 + (sign ? 1 : 0));
        int ls = 0;
        lex_tag(&L, kind == '%', &ls);
        line_starting = ls;
    }
    L.pos = n;
    push(&L, T_EOF);
    *out = L.toks;
    return L.ntoks;
}
