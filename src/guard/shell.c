/* shell.c — the guard's shell parser (shell.h): a recursive-descent reader over the command text.
 *
 * Grammar read (a practical subset of POSIX sh / bash):
 *   list     := { command [ ';' | '&' | '&&' | '||' | '|' | '|&' | NEWLINE ] }
 *   command  := '(' list ')' | '((' arith '))' | simple
 *   simple   := { assignment } { word | redirection } [ '(' ')' body ]   (function definition)
 *   word     := { literal | '...' | "..." | $'...' | \c | $NAME | ${...} | $(list) | `list` |
 *               $((arith)) | <(list) | >(list) | ~ }
 * Reserved words (if then else elif fi do done while until ! { }) are skipped where a command
 * starts; `for NAME in WORDS` makes NAME unknown; `case` is not read (an error: the guard asks). */
#include "guard/shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct {
    char *p;
    size_t n, cap;
    unsigned char *split; /* per byte: 1 when it came from an unquoted expansion (IFS splits) */
} sbuf;

typedef struct {
    const char *s;
    size_t i, n;
    sh_script *out;
    int depth;
    int subst; /* > 0 while inside a substitution */
    int func;  /* current function body (index + 1), 0 outside */
    int func_brace;
    int brace;
    int pending_func; /* a function name was read; its body starts with the next command */
    struct {
        int cmd, redir;
        char *delim;
        int strip_tabs;
    } hd[8];
    int nhd;
} parser;

static int fail(parser *p, const char *msg) {
    if (!p->out->error) {
        p->out->error = 1;
        snprintf(p->out->errmsg, sizeof p->out->errmsg, "%s at byte %zu", msg, p->i);
    }
    return -1;
}

/* ---- buffers ---- */

static int sb_put(parser *p, sbuf *b, char c, int split) {
    if (b->n + 1 >= SH_MAX_WORD) return fail(p, "word too long");
    if (b->n + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->p = xrealloc(b->p, b->cap);
        b->split = xrealloc(b->split, b->cap);
    }
    b->split[b->n] = (unsigned char)split;
    b->p[b->n++] = c;
    b->p[b->n] = 0;
    return 0;
}

static int sb_puts(parser *p, sbuf *b, const char *s, int split) {
    for (; *s; s++)
        if (sb_put(p, b, *s, split) < 0) return -1;
    return 0;
}

static void sb_free(sbuf *b) {
    free(b->p);
    free(b->split);
    memset(b, 0, sizeof *b);
}

/* ---- the script ---- */

int sh_is_name(const char *s, size_t n) {
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

static struct sh_var *var_find(sh_script *s, const char *name, size_t n) {
    for (int i = s->nvars - 1; i >= 0; i--)
        if (strlen(s->vars[i].name) == n && !memcmp(s->vars[i].name, name, n)) return &s->vars[i];
    return NULL;
}

static void var_set(sh_script *s, const char *name, size_t n, const char *value) {
    struct sh_var *v = var_find(s, name, n);
    if (!v) {
        if (s->nvars >= 256) return;
        s->vars = xrealloc(s->vars, (size_t)(s->nvars + 1) * sizeof *s->vars);
        v = &s->vars[s->nvars++];
        v->name = xstrndup(name, n);
        v->value = NULL;
    }
    free(v->value);
    v->value = value ? xstrdup(value) : NULL;
    if (n == 4 && !memcmp(name, "HOME", 4)) {
        free(s->home);
        s->home = value ? xstrdup(value) : NULL;
    }
}

static sh_cmd *cmd_new(parser *p) {
    sh_script *s = p->out;
    if (s->n >= SH_MAX_CMDS) {
        fail(p, "too many commands");
        return NULL;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->c = xrealloc(s->c, (size_t)s->cap * sizeof *s->c);
    }
    sh_cmd *c = &s->c[s->n++];
    memset(c, 0, sizeof *c);
    c->pipe_prev = -1;
    c->depth = p->depth;
    c->subst = p->subst > 0;
    c->func = p->func;
    return c;
}

static int word_push(parser *p, sh_word **v, int *n, int *cap, char *s, unsigned flags) {
    if (*n >= SH_MAX_WORDS) {
        free(s);
        return fail(p, "too many words");
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = xrealloc(*v, (size_t)*cap * sizeof **v);
    }
    (*v)[*n].s = s;
    (*v)[*n].flags = flags;
    (*n)++;
    return 0;
}

static void cmd_free(sh_cmd *c) {
    for (int i = 0; i < c->nw; i++)
        free(c->w[i].s);
    for (int i = 0; i < c->na; i++)
        free(c->assign[i].s);
    for (int i = 0; i < c->nr; i++)
        free(c->r[i].target.s);
    free(c->w);
    free(c->assign);
    free(c->r);
}

void sh_script_free(sh_script *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++)
        cmd_free(&s->c[i]);
    free(s->c);
    for (int i = 0; i < s->nfuncs; i++)
        free(s->funcs[i]);
    free(s->funcs);
    for (int i = 0; i < s->nvars; i++) {
        free(s->vars[i].name);
        free(s->vars[i].value);
    }
    free(s->vars);
    free(s->home);
    memset(s, 0, sizeof *s);
}

/* ---- characters ---- */

static int peek(parser *p, size_t k) {
    return p->i + k < p->n ? (unsigned char)p->s[p->i + k] : -1;
}

static int is_meta(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' || c == '<' ||
           c == '>' || c == '(' || c == ')' || c == '\r';
}

static void skip_blanks(parser *p) {
    for (;;) {
        int c = peek(p, 0);
        if (c == ' ' || c == '\t' || c == '\r')
            p->i++;
        else if (c == '\\' && peek(p, 1) == '\n')
            p->i += 2;
        else
            return;
    }
}

static int parse_list(parser *p, int term);

/* Runs parse_list for a nested substitution body ending at `term` (')') with depth + 1. */
static int nested(parser *p, int term) {
    if (p->depth + 1 > SH_MAX_DEPTH) return fail(p, "nesting too deep");
    p->depth++;
    p->subst++;
    int save_func = p->func;
    int r = parse_list(p, term);
    p->func = save_func;
    p->subst--;
    p->depth--;
    return r;
}

/* Parses a separate text (a backtick body) as a nested list. */
static int nested_text(parser *p, const char *text, size_t len) {
    if (p->depth + 1 > SH_MAX_DEPTH) return fail(p, "nesting too deep");
    parser q = {0};
    q.s = text;
    q.n = len;
    q.out = p->out;
    q.depth = p->depth + 1;
    q.subst = p->subst + 1;
    q.func = p->func;
    int r = parse_list(&q, -1);
    for (int i = 0; i < q.nhd; i++)
        free(q.hd[i].delim);
    return r;
}

/* Skips an arithmetic body up to the matching "))" (the opening "((" already consumed). */
static int skip_arith(parser *p) {
    int depth = 0;
    while (p->i < p->n) {
        int c = peek(p, 0);
        if (c == '(')
            depth++;
        else if (c == ')') {
            if (depth == 0 && peek(p, 1) == ')') {
                p->i += 2;
                return 0;
            }
            if (depth > 0) depth--;
        }
        p->i++;
    }
    return fail(p, "unterminated $((");
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* $'...' (the "$'" consumed): ANSI-C escapes. */
static int parse_ansi(parser *p, sbuf *b) {
    for (;;) {
        int c = peek(p, 0);
        if (c < 0) return fail(p, "unterminated $'");
        p->i++;
        if (c == '\'') return 0;
        if (c != '\\') {
            if (sb_put(p, b, (char)c, 0) < 0) return -1;
            continue;
        }
        c = peek(p, 0);
        if (c < 0) return fail(p, "unterminated $'");
        p->i++;
        int v;
        switch (c) {
        case 'n':
            v = '\n';
            break;
        case 't':
            v = '\t';
            break;
        case 'r':
            v = '\r';
            break;
        case 'a':
            v = 7;
            break;
        case 'b':
            v = 8;
            break;
        case 'e':
        case 'E':
            v = 27;
            break;
        case 'f':
            v = 12;
            break;
        case 'v':
            v = 11;
            break;
        case 'x': {
            v = 0;
            int k = 0;
            while (k < 2 && hexval(peek(p, 0)) >= 0) {
                v = v * 16 + hexval(peek(p, 0));
                p->i++;
                k++;
            }
            if (k == 0) v = 'x';
            break;
        }
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
            v = c - '0';
            int k = 1;
            while (k < 3 && peek(p, 0) >= '0' && peek(p, 0) <= '7') {
                v = v * 8 + (peek(p, 0) - '0');
                p->i++;
                k++;
            }
            v &= 0xff;
            break;
        }
        default:
            v = c;
            break;
        }
        if (v == 0) continue; /* bash stops the word at NUL; dropping it is close enough */
        if (sb_put(p, b, (char)v, 0) < 0) return -1;
    }
}

/* A backtick substitution (the opening ` consumed). */
static int parse_backtick(parser *p, int in_dquote) {
    sbuf body = {0};
    for (;;) {
        int c = peek(p, 0);
        if (c < 0) {
            sb_free(&body);
            return fail(p, "unterminated `");
        }
        p->i++;
        if (c == '`') break;
        if (c == '\\') {
            int d = peek(p, 0);
            if (d == '`' || d == '\\' || d == '$' || (in_dquote && d == '"')) {
                p->i++;
                c = d;
            }
        }
        if (sb_put(p, &body, (char)c, 0) < 0) {
            sb_free(&body);
            return -1;
        }
    }
    int r = nested_text(p, body.p ? body.p : "", body.n);
    sb_free(&body);
    return r;
}

/* A '$' expansion (p->i at '$'). Appends the known value or marks the word dynamic. */
static int parse_dollar(parser *p, sbuf *b, unsigned *flags, int quoted) {
    int c = peek(p, 1);
    if (c == '(') {
        if (peek(p, 2) == '(') {
            p->i += 3;
            *flags |= SH_W_DYNAMIC;
            if (skip_arith(p) < 0) return -1;
            return sb_puts(p, b, "$((...))", 0);
        }
        p->i += 2;
        *flags |= SH_W_DYNAMIC | SH_W_SUBST;
        if (nested(p, ')') < 0) return -1;
        return sb_puts(p, b, "$(...)", 0);
    }
    if (c == '\'' && !quoted) {
        p->i += 2;
        *flags |= SH_W_QUOTED;
        return parse_ansi(p, b);
    }
    const char *name = NULL;
    size_t nlen = 0;
    int complex = 0;
    if (c == '{') {
        size_t start = p->i + 2, j = start;
        int depth = 1;
        while (j < p->n && depth > 0) {
            if (p->s[j] == '{')
                depth++;
            else if (p->s[j] == '}')
                depth--;
            else if (p->s[j] == '\\' && j + 1 < p->n)
                j++;
            if (depth > 0) j++;
        }
        if (j >= p->n) return fail(p, "unterminated ${");
        name = p->s + start;
        nlen = j - start;
        p->i = j + 1;
        if (!sh_is_name(name, nlen)) complex = 1;
        /* a ${...} with a substitution inside it: read that too (it runs) */
        for (size_t k = 0; k + 1 < nlen; k++)
            if ((name[k] == '$' && name[k + 1] == '(') || name[k] == '`') {
                *flags |= SH_W_SUBST;
                if (nested_text(p, name, nlen) < 0) return -1;
                break;
            }
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        size_t j = p->i + 1;
        while (j < p->n &&
               ((p->s[j] >= 'a' && p->s[j] <= 'z') || (p->s[j] >= 'A' && p->s[j] <= 'Z') ||
                (p->s[j] >= '0' && p->s[j] <= '9') || p->s[j] == '_'))
            j++;
        name = p->s + p->i + 1;
        nlen = j - p->i - 1;
        p->i = j;
    } else if (c >= 0 && strchr("0123456789@*#?$!-", c)) {
        p->i += 2;
        *flags |= SH_W_DYNAMIC;
        char t[3] = {'$', (char)c, 0};
        return sb_puts(p, b, t, 0);
    } else if (c == '"' && !quoted) {
        p->i += 1; /* $"..." reads as "..." */
        return 0;
    } else {
        p->i++;
        return sb_put(p, b, '$', 0);
    }
    struct sh_var *v = complex ? NULL : var_find(p->out, name, nlen);
    const char *value = NULL;
    if (v)
        value = v->value;
    else if (!complex && nlen == 4 && !memcmp(name, "HOME", 4))
        value = p->out->home;
    if (value) {
        for (const char *q = value; *q; q++) {
            if (!quoted && (*q == '*' || *q == '?' || *q == '[')) *flags |= SH_W_GLOB;
            if (sb_put(p, b, *q, !quoted) < 0) return -1;
        }
        return 0;
    }
    *flags |= SH_W_DYNAMIC;
    if (sb_put(p, b, '$', 0) < 0 || sb_put(p, b, '{', 0) < 0) return -1;
    for (size_t k = 0; k < nlen; k++)
        if (sb_put(p, b, name[k], 0) < 0) return -1;
    return sb_put(p, b, '}', 0);
}

/* Reads one word (p->i at its first byte). Appends the resulting fields (after IFS splitting of
 * unquoted known expansions) to v. Returns 0, or -1 on error; *raw_flags gets the union. */
static int parse_word(parser *p, sh_word **v, int *n, int *cap, unsigned *raw_flags,
                      int brackets_as_words) {
    sbuf b = {0};
    unsigned flags = 0;
    int any = 0;
    size_t start = p->i;
    for (;;) {
        int c = peek(p, 0);
        if (c < 0) break;
        if (brackets_as_words && (c == '<' || c == '>' || c == '(' || c == ')') && p->i == start) {
            /* inside [[ ]]: < > ( ) are words */
            p->i++;
            any = 1;
            if (sb_put(p, &b, (char)c, 0) < 0) goto bad;
            continue;
        }
        if ((c == '<' || c == '>') && peek(p, 1) == '(' && p->i == start) {
            p->i += 2;
            flags |= SH_W_DYNAMIC | SH_W_SUBST | SH_W_PROCSUB;
            if (nested(p, ')') < 0) goto bad;
            if (sb_puts(p, &b, "/dev/fd/63", 0) < 0) goto bad;
            any = 1;
            continue;
        }
        if (is_meta(c)) break;
        any = 1;
        if (c == '\\') {
            if (peek(p, 1) == '\n') {
                p->i += 2;
                continue;
            }
            flags |= SH_W_QUOTED;
            if (peek(p, 1) < 0) {
                p->i++;
                if (sb_put(p, &b, '\\', 0) < 0) goto bad;
                continue;
            }
            if (sb_put(p, &b, (char)peek(p, 1), 0) < 0) goto bad;
            p->i += 2;
        } else if (c == '\'') {
            flags |= SH_W_QUOTED;
            p->i++;
            for (;;) {
                int d = peek(p, 0);
                if (d < 0) {
                    fail(p, "unterminated '");
                    goto bad;
                }
                p->i++;
                if (d == '\'') break;
                if (sb_put(p, &b, (char)d, 0) < 0) goto bad;
            }
        } else if (c == '"') {
            flags |= SH_W_QUOTED;
            p->i++;
            for (;;) {
                int d = peek(p, 0);
                if (d < 0) {
                    fail(p, "unterminated \"");
                    goto bad;
                }
                if (d == '"') {
                    p->i++;
                    break;
                }
                if (d == '\\') {
                    int e = peek(p, 1);
                    if (e == '\n') {
                        p->i += 2;
                        continue;
                    }
                    if (e == '$' || e == '`' || e == '"' || e == '\\') {
                        p->i += 2;
                        if (sb_put(p, &b, (char)e, 0) < 0) goto bad;
                        continue;
                    }
                    p->i++;
                    if (sb_put(p, &b, '\\', 0) < 0) goto bad;
                    continue;
                }
                if (d == '$') {
                    if (parse_dollar(p, &b, &flags, 1) < 0) goto bad;
                    continue;
                }
                if (d == '`') {
                    p->i++;
                    flags |= SH_W_DYNAMIC | SH_W_SUBST;
                    if (parse_backtick(p, 1) < 0) goto bad;
                    if (sb_puts(p, &b, "$(...)", 0) < 0) goto bad;
                    continue;
                }
                p->i++;
                if (sb_put(p, &b, (char)d, 0) < 0) goto bad;
            }
        } else if (c == '$') {
            if (parse_dollar(p, &b, &flags, 0) < 0) goto bad;
        } else if (c == '`') {
            p->i++;
            flags |= SH_W_DYNAMIC | SH_W_SUBST;
            if (parse_backtick(p, 0) < 0) goto bad;
            if (sb_puts(p, &b, "$(...)", 0) < 0) goto bad;
        } else if (c == '~' && (p->i == start ||
                                (b.n > 0 && b.p[b.n - 1] == '=' && !memchr(b.p, '=', b.n - 1)))) {
            /* a tilde prefix at the start of a word, or after its first '=' (bash expands
             * `of=~/x` and `--prefix=~/x` too) */
            /* tilde prefix: up to the first '/' or the end of the word */
            size_t j = p->i + 1;
            while (j < p->n && p->s[j] != '/' && !is_meta((unsigned char)p->s[j]) &&
                   p->s[j] != '\'' && p->s[j] != '"' && p->s[j] != '\\' && p->s[j] != '$' &&
                   p->s[j] != '`')
                j++;
            if (j == p->i + 1 && p->out->home) {
                if (sb_puts(p, &b, p->out->home, 0) < 0) goto bad;
            } else {
                flags |= SH_W_DYNAMIC; /* ~user, ~+, ~-, or no HOME */
                for (size_t k = p->i; k < j; k++)
                    if (sb_put(p, &b, p->s[k], 0) < 0) goto bad;
            }
            p->i = j;
        } else {
            if (c == '*' || c == '?' || c == '[') flags |= SH_W_GLOB;
            if (sb_put(p, &b, (char)c, 0) < 0) goto bad;
            p->i++;
        }
    }
    if (raw_flags) *raw_flags = flags;
    if (!any) {
        sb_free(&b);
        return 0;
    }
    /* field splitting: only bytes that came from unquoted expansions split */
    int has_split = 0;
    for (size_t k = 0; k < b.n; k++)
        if (b.split[k]) has_split = 1;
    if (!has_split) {
        int r = word_push(p, v, n, cap, b.p ? b.p : xstrdup(""), flags);
        free(b.split);
        return r;
    }
    size_t k = 0;
    int pushed = 0;
    while (k < b.n) {
        while (k < b.n && b.split[k] && (b.p[k] == ' ' || b.p[k] == '\t' || b.p[k] == '\n'))
            k++;
        if (k >= b.n) break;
        size_t e = k;
        while (e < b.n && !(b.split[e] && (b.p[e] == ' ' || b.p[e] == '\t' || b.p[e] == '\n')))
            e++;
        if (word_push(p, v, n, cap, xstrndup(b.p + k, e - k), flags) < 0) {
            sb_free(&b);
            return -1;
        }
        pushed++;
        k = e;
    }
    if (!pushed && (flags & SH_W_QUOTED)) {
        if (word_push(p, v, n, cap, xstrdup(""), flags) < 0) {
            sb_free(&b);
            return -1;
        }
    }
    sb_free(&b);
    return 0;
bad:
    sb_free(&b);
    return -1;
}

/* Reads one word into *out (the first field of it; "" if none). */
static int parse_one_word(parser *p, sh_word *out) {
    sh_word *v = NULL;
    int n = 0, cap = 0;
    unsigned raw = 0;
    int r = parse_word(p, &v, &n, &cap, &raw, 0);
    if (r < 0) {
        for (int i = 0; i < n; i++)
            free(v[i].s);
        free(v);
        return -1;
    }
    if (n == 0) {
        out->s = xstrdup("");
        out->flags = raw;
    } else {
        *out = v[0];
        if (n > 1) out->flags |= SH_W_DYNAMIC; /* split into several: ambiguous redirect */
        for (int i = 1; i < n; i++)
            free(v[i].s);
    }
    free(v);
    return 0;
}

static int redir_push(parser *p, sh_cmd *c, int fd, sh_redir_kind kind, sh_word t) {
    if (c->nr >= 64) {
        free(t.s);
        return fail(p, "too many redirections");
    }
    if (c->nr == c->capr) {
        c->capr = c->capr ? c->capr * 2 : 2;
        c->r = xrealloc(c->r, (size_t)c->capr * sizeof *c->r);
    }
    c->r[c->nr].fd = fd;
    c->r[c->nr].kind = kind;
    c->r[c->nr].target = t;
    c->nr++;
    return 0;
}

/* A redirection operator at p->i (after an optional fd number). */
static int parse_redir(parser *p, int idx, int fd) {
    int c0 = peek(p, 0), c1 = peek(p, 1), c2 = peek(p, 2);
    sh_redir_kind kind;
    if (c0 == '&' && c1 == '>') {
        kind = c2 == '>' ? SH_R_BOTH_APP : SH_R_BOTH;
        p->i += c2 == '>' ? 3 : 2;
    } else if (c0 == '<' && c1 == '<' && c2 == '<') {
        kind = SH_R_HERESTR;
        p->i += 3;
    } else if (c0 == '<' && c1 == '<') {
        p->i += 2;
        int strip = 0;
        if (peek(p, 0) == '-') {
            strip = 1;
            p->i++;
        }
        skip_blanks(p);
        sh_word d;
        if (parse_one_word(p, &d) < 0) return -1;
        if (p->nhd >= 8) {
            free(d.s);
            return fail(p, "too many here-documents");
        }
        sh_cmd *c = &p->out->c[idx]; /* after the word: substitutions may have moved the list */
        p->hd[p->nhd].cmd = idx;
        p->hd[p->nhd].redir = c->nr;
        p->hd[p->nhd].delim = d.s;
        p->hd[p->nhd].strip_tabs = strip;
        p->nhd++;
        sh_word body = {xstrdup(""), (d.flags & SH_W_QUOTED) ? 0u : SH_W_DYNAMIC};
        return redir_push(p, c, fd < 0 ? 0 : fd, SH_R_HEREDOC, body);
    } else if (c0 == '<' && c1 == '>') {
        kind = SH_R_INOUT;
        p->i += 2;
    } else if (c0 == '<' && c1 == '&') {
        kind = SH_R_DUP;
        p->i += 2;
    } else if (c0 == '<') {
        kind = SH_R_IN;
        p->i += 1;
    } else if (c0 == '>' && c1 == '>') {
        kind = SH_R_APPEND;
        p->i += 2;
    } else if (c0 == '>' && c1 == '&') {
        kind = SH_R_DUP;
        p->i += 2;
    } else if (c0 == '>' && c1 == '|') {
        kind = SH_R_OUT;
        p->i += 2;
    } else {
        kind = SH_R_OUT;
        p->i += 1;
    }
    skip_blanks(p);
    int t0 = peek(p, 0);
    if (t0 < 0 || t0 == '\n' || t0 == ';' || t0 == '|' || t0 == '&' || t0 == ')' || t0 == '<' ||
        t0 == '>')
        return fail(p, "redirection without a target");
    sh_word t;
    if (parse_one_word(p, &t) < 0) return -1;
    sh_cmd *c = &p->out->c[idx];
    if (kind == SH_R_DUP) {
        /* >&N / >&- duplicate a descriptor; >& WORD (not a number) redirects both to a file */
        int digits = t.s[0] != 0;
        for (const char *q = t.s; *q; q++)
            if (*q < '0' || *q > '9') digits = 0;
        if (!digits && strcmp(t.s, "-") != 0) kind = (c0 == '>') ? SH_R_BOTH : SH_R_IN;
    }
    return redir_push(p, c, fd, kind, t);
}

/* Reads the bodies of pending here-documents (p->i just after a newline). */
static int read_heredocs(parser *p) {
    for (int h = 0; h < p->nhd; h++) {
        sbuf body = {0};
        const char *delim = p->hd[h].delim;
        size_t dl = strlen(delim);
        for (;;) {
            if (p->i >= p->n) break; /* bash warns and ends the document at end of input */
            size_t e = p->i;
            while (e < p->n && p->s[e] != '\n')
                e++;
            size_t ls = p->i;
            if (p->hd[h].strip_tabs)
                while (ls < e && p->s[ls] == '\t')
                    ls++;
            int end = (e - ls == dl && !memcmp(p->s + ls, delim, dl));
            if (!end) {
                for (size_t k = ls; k < e; k++)
                    if (sb_put(p, &body, p->s[k], 0) < 0) {
                        sb_free(&body);
                        return -1;
                    }
                if (sb_put(p, &body, '\n', 0) < 0) {
                    sb_free(&body);
                    return -1;
                }
            }
            p->i = e < p->n ? e + 1 : e;
            if (end) break;
        }
        sh_cmd *c = &p->out->c[p->hd[h].cmd];
        sh_word *t = &c->r[p->hd[h].redir].target;
        free(t->s);
        t->s = body.p ? body.p : xstrdup("");
        free(body.split);
        free(p->hd[h].delim);
        p->hd[h].delim = NULL;
    }
    p->nhd = 0;
    return 0;
}

/* Removes command idx: the last one is taken off the list; one with commands after it (from a
 * substitution inside it) stays as an empty command, which runs nothing. */
static void drop_cmd(parser *p, int idx) {
    sh_cmd *c = &p->out->c[idx];
    cmd_free(c);
    if (idx == p->out->n - 1) {
        p->out->n--;
        return;
    }
    int depth = c->depth, subst = c->subst, func = c->func;
    memset(c, 0, sizeof *c);
    c->pipe_prev = -1;
    c->depth = depth;
    c->subst = subst;
    c->func = func;
}

static int is_reserved(const sh_word *w, const char *name) {
    return !(w->flags & (SH_W_QUOTED | SH_W_DYNAMIC)) && !strcmp(w->s, name);
}

static void pop_word(sh_cmd *c) {
    c->nw--;
    free(c->w[c->nw].s);
}

/* A simple command (p->i at its first byte, not an operator). *cmd_index gets its index. */
static int parse_simple(parser *p, int piped, int pipe_prev, int term, int *cmd_index) {
    sh_cmd *c = cmd_new(p);
    if (!c) return -1;
    int idx = p->out->n - 1;
    *cmd_index = idx;
    c->piped = piped;
    c->pipe_prev = pipe_prev;
    int in_dbracket = 0;
    for (;;) {
        skip_blanks(p);
        c = &p->out->c[idx]; /* the list may have moved (nested substitutions add commands) */
        int ch = peek(p, 0);
        if (ch < 0 || ch == '\n' || ch == ';' || ch == '|' || ch == ')' || ch == term) break;
        if (ch == '&' && peek(p, 1) != '>') break;
        if (ch == '#' && !in_dbracket) {
            while (p->i < p->n && p->s[p->i] != '\n')
                p->i++;
            break;
        }
        if (ch == '(' && !in_dbracket && c->nw == 0 && c->na == 0 && c->nr == 0)
            break; /* a group after a reserved word ("{ (", "then ("): the list reads it */
        if (ch == '(' && !in_dbracket) {
            /* NAME ( ) body: a function definition */
            size_t j = p->i + 1;
            while (j < p->n && (p->s[j] == ' ' || p->s[j] == '\t'))
                j++;
            if (c->nw == 1 && c->nr == 0 && j < p->n && p->s[j] == ')') {
                p->i = j + 1;
                if (p->out->nfuncs < 64) {
                    p->out->funcs =
                        xrealloc(p->out->funcs, (size_t)(p->out->nfuncs + 1) * sizeof(char *));
                    p->out->funcs[p->out->nfuncs++] = xstrdup(c->w[0].s);
                    p->pending_func = p->out->nfuncs;
                }
                pop_word(c);
                if (c->na == 0) {
                    drop_cmd(p, idx);
                    *cmd_index = -1;
                }
                return 0;
            }
            return fail(p, "unexpected '('");
        }
        if (!in_dbracket && (ch == '<' || ch == '>') && peek(p, 1) != '(') {
            if (parse_redir(p, idx, -1) < 0) return -1;
            continue;
        }
        if (ch == '&') { /* &> */
            if (parse_redir(p, idx, -1) < 0) return -1;
            continue;
        }
        if (ch >= '0' && ch <= '9' && !in_dbracket) {
            size_t j = p->i;
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9')
                j++;
            if (j < p->n && (p->s[j] == '<' || p->s[j] == '>') && j - p->i < 4 &&
                !(j + 1 < p->n && p->s[j + 1] == '(')) {
                int fd = atoi(p->s + p->i);
                p->i = j;
                if (parse_redir(p, idx, fd) < 0) return -1;
                continue;
            }
        }
        if (in_dbracket && ch == ']' && peek(p, 1) == ']') {
            p->i += 2;
            in_dbracket = 0;
            continue;
        }
        sh_word *ws = NULL;
        int nws = 0, capws = 0;
        unsigned raw = 0;
        size_t at = p->i;
        if (parse_word(p, &ws, &nws, &capws, &raw, in_dbracket) < 0 || p->i == at) {
            if (p->i == at) fail(p, "unexpected character");
            for (int i = 0; i < nws; i++)
                free(ws[i].s);
            free(ws);
            return -1;
        }
        c = &p->out->c[idx];
        int rc = 0;
        for (int i = 0; i < nws; i++) {
            sh_word w = ws[i];
            const char *eq = strchr(w.s, '=');
            if (rc < 0) {
                free(w.s);
                continue;
            }
            if (c->nw == 0 && !in_dbracket) {
                if (eq && sh_is_name(w.s, (size_t)(eq - w.s)) && nws == 1) {
                    rc = word_push(p, &c->assign, &c->na, &c->capa, w.s, w.flags);
                    continue;
                }
                if (is_reserved(&w, "{")) {
                    p->brace++;
                    if (p->pending_func) {
                        p->func = p->pending_func;
                        p->func_brace = p->brace;
                        p->pending_func = 0;
                    }
                    free(w.s);
                    continue;
                }
                if (is_reserved(&w, "}")) {
                    if (p->func && p->brace == p->func_brace) p->func = 0;
                    if (p->brace > 0) p->brace--;
                    free(w.s);
                    continue;
                }
                if (is_reserved(&w, "if") || is_reserved(&w, "then") || is_reserved(&w, "else") ||
                    is_reserved(&w, "elif") || is_reserved(&w, "fi") || is_reserved(&w, "do") ||
                    is_reserved(&w, "done") || is_reserved(&w, "while") ||
                    is_reserved(&w, "until") || is_reserved(&w, "!") || is_reserved(&w, "time") ||
                    is_reserved(&w, "function")) {
                    if (is_reserved(&w, "function")) p->pending_func = -1; /* name follows */
                    free(w.s);
                    continue;
                }
                if (is_reserved(&w, "case") || is_reserved(&w, "esac") ||
                    is_reserved(&w, "coproc")) {
                    free(w.s);
                    rc = fail(p, "'case'/'coproc' is not read");
                    continue;
                }
                if (is_reserved(&w, "for") || is_reserved(&w, "select")) {
                    /* for NAME [in WORDS]: NAME becomes unknown; the words are not a command */
                    free(w.s);
                    skip_blanks(p);
                    if (peek(p, 0) == '(' && peek(p, 1) == '(') {
                        p->i += 2;
                        rc = skip_arith(p);
                        continue;
                    }
                    sh_word nm;
                    if (parse_one_word(p, &nm) < 0) {
                        rc = -1;
                        continue;
                    }
                    var_set(p->out, nm.s, strlen(nm.s), NULL);
                    free(nm.s);
                    /* skip "in WORDS" to the end of the line or ';' (the words still run
                     * substitutions, which parse_word lists) */
                    for (;;) {
                        skip_blanks(p);
                        int d = peek(p, 0);
                        if (d < 0 || d == ';' || d == '\n' || d == ')' || d == '&' || d == '|' ||
                            d == '<' || d == '>')
                            break;
                        sh_word *tw = NULL;
                        int tn = 0, tc = 0;
                        size_t at2 = p->i;
                        if (parse_word(p, &tw, &tn, &tc, NULL, 0) < 0 || p->i == at2) {
                            if (p->i == at2) fail(p, "unexpected character after 'for'");
                            for (int k = 0; k < tn; k++)
                                free(tw[k].s);
                            free(tw);
                            rc = -1;
                            break;
                        }
                        for (int k = 0; k < tn; k++)
                            free(tw[k].s);
                        free(tw);
                    }
                    c = &p->out->c[idx];
                    continue;
                }
                if (is_reserved(&w, "[[")) in_dbracket = 1;
                if (p->pending_func == -1) {
                    /* function NAME: record it; the body follows */
                    if (p->out->nfuncs < 64) {
                        p->out->funcs =
                            xrealloc(p->out->funcs, (size_t)(p->out->nfuncs + 1) * sizeof(char *));
                        p->out->funcs[p->out->nfuncs++] = xstrdup(w.s);
                        p->pending_func = p->out->nfuncs;
                    } else
                        p->pending_func = 0;
                    free(w.s);
                    skip_blanks(p);
                    if (peek(p, 0) == '(') {
                        size_t j = p->i + 1;
                        while (j < p->n && (p->s[j] == ' ' || p->s[j] == '\t'))
                            j++;
                        if (j < p->n && p->s[j] == ')') p->i = j + 1;
                    }
                    continue;
                }
            }
            rc = word_push(p, &c->w, &c->nw, &c->capw, w.s, w.flags);
        }
        free(ws);
        if (rc < 0) return -1;
        if (c->nw == 0) c->func = p->func;
    }
    c = &p->out->c[idx];
    /* assignment-only commands set shell variables for what follows */
    if (c->nw == 0)
        for (int i = 0; i < c->na; i++) {
            const char *eq = strchr(c->assign[i].s, '=');
            var_set(p->out, c->assign[i].s, (size_t)(eq - c->assign[i].s),
                    (c->assign[i].flags & SH_W_DYNAMIC) ? NULL : eq + 1);
        }
    /* export/declare/local/readonly NAME=value */
    if (c->nw > 0 && (!strcmp(c->w[0].s, "export") || !strcmp(c->w[0].s, "declare") ||
                      !strcmp(c->w[0].s, "local") || !strcmp(c->w[0].s, "readonly") ||
                      !strcmp(c->w[0].s, "typeset")))
        for (int i = 1; i < c->nw; i++) {
            const char *eq = strchr(c->w[i].s, '=');
            if (eq && sh_is_name(c->w[i].s, (size_t)(eq - c->w[i].s)))
                var_set(p->out, c->w[i].s, (size_t)(eq - c->w[i].s),
                        (c->w[i].flags & SH_W_DYNAMIC) ? NULL : eq + 1);
        }
    if (c->nw == 0 && c->na == 0 && c->nr == 0) {
        /* nothing there (a reserved word only): drop it */
        drop_cmd(p, idx);
        *cmd_index = -1;
    } else if (c->func && c->nw > 0) {
        const char *fname = p->out->funcs[c->func - 1];
        if (!strcmp(c->w[0].s, fname)) p->out->recursive_func = 1;
    }
    if (*cmd_index >= 0 && p->pending_func > 0 && c->nw > 0) p->pending_func = 0;
    return 0;
}

/* list: commands and operators up to `term` (')' for $( ) and ( ), -1 for end of text). */
static int parse_list(parser *p, int term) {
    int last = -1; /* the previous command at this level */
    int piped = 0; /* the next command reads the previous one's output */
    int pipe_from = -1;
    for (;;) {
        size_t before = p->i;
        skip_blanks(p);
        int c = peek(p, 0);
        if (c < 0) {
            if (term == ')') return fail(p, "missing ')'");
            if (piped) return fail(p, "pipe without a command");
            return 0;
        }
        if (c == ')') {
            if (term == ')') {
                p->i++;
                return 0;
            }
            return fail(p, "unexpected ')'");
        }
        if (c == '#') {
            while (p->i < p->n && p->s[p->i] != '\n')
                p->i++;
            continue;
        }
        if (c == '\n') {
            p->i++;
            if (read_heredocs(p) < 0) return -1;
            if (!piped) last = -1; /* a newline after '|' continues the pipeline */
            continue;
        }
        if (c == ';') {
            if (peek(p, 1) == ';') return fail(p, "';;' (case) is not read");
            p->i++;
            last = -1;
            piped = 0;
            continue;
        }
        if (c == '&' && peek(p, 1) == '&') {
            p->i += 2;
            last = -1;
            continue;
        }
        if (c == '&' && peek(p, 1) != '>') {
            p->i++;
            if (last >= 0) p->out->c[last].background = 1;
            last = -1;
            piped = 0;
            continue;
        }
        if (c == '|') {
            if (peek(p, 1) == '|') {
                p->i += 2;
                last = -1;
                piped = 0;
                continue;
            }
            p->i += peek(p, 1) == '&' ? 2 : 1;
            if (last < 0 || piped) return fail(p, "pipe without a command before it");
            piped = 1;
            pipe_from = last;
            last = -1;
            continue;
        }
        if (c == '(' && peek(p, 1) == '(') {
            p->i += 2;
            if (skip_arith(p) < 0) return -1;
            continue;
        }
        if (c == '(') {
            p->i++;
            if (p->depth + 1 > SH_MAX_DEPTH) return fail(p, "nesting too deep");
            p->depth++;
            int first = p->out->n;
            int r = parse_list(p, ')');
            p->depth--;
            if (r < 0) return -1;
            if (piped && first < p->out->n) {
                p->out->c[first].piped = 1;
                p->out->c[first].pipe_prev = pipe_from;
            }
            last = p->out->n > first ? p->out->n - 1 : last;
            piped = 0;
            /* redirections after the group: a command of its own */
            skip_blanks(p);
            int d = peek(p, 0);
            if (d == '<' || d == '>' || (d == '&' && peek(p, 1) == '>') || (d >= '0' && d <= '9')) {
                int idx;
                if (parse_simple(p, 0, -1, term, &idx) < 0) return -1;
            }
            continue;
        }
        int idx;
        if (parse_simple(p, piped, piped ? pipe_from : -1, term, &idx) < 0) return -1;
        if (idx >= 0) {
            last = idx;
            piped = 0;
        }
        if (p->i == before) return fail(p, "unexpected character"); /* always ends */
    }
}

int sh_parse(sh_script *s, const char *src, size_t len, int depth, const char *home) {
    if (!s->home && home) s->home = xstrdup(home);
    if (len > SH_MAX_INPUT) {
        s->error = 1;
        snprintf(s->errmsg, sizeof s->errmsg, "command longer than %d bytes", SH_MAX_INPUT);
        return -1;
    }
    if (depth > SH_MAX_DEPTH) {
        s->error = 1;
        snprintf(s->errmsg, sizeof s->errmsg, "nesting too deep");
        return -1;
    }
    if (memchr(src, 0, len)) {
        s->error = 1;
        snprintf(s->errmsg, sizeof s->errmsg, "NUL byte in the command");
        return -1;
    }
    parser p = {0};
    p.s = src;
    p.n = len;
    p.out = s;
    p.depth = depth;
    int r = parse_list(&p, -1);
    if (r == 0 && p.nhd > 0) r = read_heredocs(&p);
    for (int i = 0; i < p.nhd; i++)
        free(p.hd[i].delim);
    return r < 0 || s->error ? -1 : 0;
}
