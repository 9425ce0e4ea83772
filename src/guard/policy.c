/* policy.c — the guard's rules as data: the policy language's parser and the matcher that finds
 * the deciding rule for one effective command. The language is documented in docs/AGENT.md
 * ("The guard"); the built-in rules are in policy_default.c.
 *
 *   # comment
 *   set NAME a|b|c                     a named list, used as @NAME in programs and values
 *   path CLASS PATTERN...              path classes: credential, persistence, system, protected,
 * device host NAME...                       hosts egress may reach without asking (*.example.com)
 *   options PROG|PROG OPT...           options of PROG that take a value (skipped when finding
 *                                      positional arguments)
 *   defaults off                       (operator file only) do not load the built-in rules
 *   DECISION ID CATEGORY PROGS [COND...] [-- REASON]
 *
 * Precedence: for one command, the operator's rules (layer 1) decide when any of them matches;
 * otherwise the built-in ones (layer 0). Within a layer the most severe matching decision wins
 * (deny > ask > allow); between rules of the same decision, the one written later wins. */
#include <ctype.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "guard/guard_internal.h"

#define POL_MAX_LINE 4096
#define POL_MAX_RULES 4096
#define POL_MAX_ALTS 1024

/* ---- parsing ---- */

static void strv_free(char **v, int n) {
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int strv_push(char ***v, int *n, const char *s, size_t len) {
    if (*n >= POL_MAX_ALTS) return -1;
    *v = xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrndup(s, len);
    return 0;
}

/* Splits "a|b|@SET" into alternatives, expanding sets. */
static int split_alts(const g_policy *pol, const char *s, char ***out, int *n) {
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 1 && p[0] == '@') {
            int found = 0;
            for (int i = 0; i < pol->nsets; i++)
                if (strlen(pol->sets[i].name) == len - 1 &&
                    !memcmp(pol->sets[i].name, p + 1, len - 1)) {
                    for (int k = 0; k < pol->sets[i].nvals; k++)
                        if (strv_push(out, n, pol->sets[i].vals[k], strlen(pol->sets[i].vals[k])) <
                            0)
                            return -1;
                    found = 1;
                }
            if (!found) return -2;
        } else if (len > 0) {
            if (strv_push(out, n, p, len) < 0) return -1;
        }
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static const struct {
    const char *name;
    int kind;
    int has_value; /* 0: none, 1: globs, 2: classes */
} cond_kinds[] = {
    {"sub", GC_SUB, 1},           {"sub2", GC_SUB2, 1},
    {"flag", GC_FLAG, 1},         {"arg", GC_ARG, 1},
    {"target", GC_TARGET, 2},     {"first", GC_FIRST, 2},
    {"dest", GC_DEST, 2},         {"src", GC_RECURSIVE, 2},
    {"nopos", GC_NOPOS, 0},       {"piped", GC_PIPED, 0},
    {"from", GC_FROM, 1},         {"pipein", GC_PIPEIN, 2},
    {"remote", GC_REMOTE, 0},     {"allowed-hosts", GC_ALLOWED_HOSTS, 0},
    {"sql", GC_SQL, 1},           {"dynamic", GC_DYNAMIC, 0},
    {"elevated", GC_ELEVATED, 0}, {"eval", GC_EVAL, 0},
    {"wsprog", GC_WSPROG, 0},     {"dynprog", GC_DYNPROG, 0},
};
/* note: GC_RECURSIVE is reused as "src" (all positional arguments but the last) */

static int parse_cond(g_policy *pol, const char *tok, g_cond *c, char *msg, size_t msgcap) {
    memset(c, 0, sizeof *c);
    if (*tok == '!') {
        c->neg = 1;
        tok++;
    }
    const char *eq = strchr(tok, '=');
    size_t nlen = eq ? (size_t)(eq - tok) : strlen(tok);
    if (nlen > 4 && (!strncmp(tok, "val:", 4) || !strncmp(tok, "path:", 5))) {
        int isval = tok[0] == 'v';
        const char *key = tok + (isval ? 4 : 5);
        if (!eq || eq <= key) {
            snprintf(msg, msgcap, "'%s': expected %s:OPTION=VALUES", tok, isval ? "val" : "path");
            return -1;
        }
        c->kind = isval ? GC_VAL : GC_PATH;
        c->key = xstrndup(key, (size_t)(eq - key));
        if (isval) {
            int r = split_alts(pol, eq + 1, &c->vals, &c->nvals);
            if (r < 0) {
                snprintf(msg, msgcap, "'%s': %s", tok, r == -2 ? "unknown set" : "too many values");
                return -1;
            }
        } else {
            const char *p = eq + 1;
            for (;;) {
                const char *e = strchr(p, '|');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                unsigned m = gp_class_parse(p, len);
                if (!m) {
                    snprintf(msg, msgcap, "'%s': unknown path class '%.*s'", tok, (int)len, p);
                    return -1;
                }
                c->mask |= m;
                if (!e) break;
                p = e + 1;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof cond_kinds / sizeof *cond_kinds; i++) {
        if (strlen(cond_kinds[i].name) != nlen || memcmp(cond_kinds[i].name, tok, nlen)) continue;
        c->kind = cond_kinds[i].kind;
        if (cond_kinds[i].has_value == 0) {
            if (eq) {
                snprintf(msg, msgcap, "'%s' takes no value", cond_kinds[i].name);
                return -1;
            }
            return 0;
        }
        if (!eq || !eq[1]) {
            snprintf(msg, msgcap, "'%s' needs a value", cond_kinds[i].name);
            return -1;
        }
        if (cond_kinds[i].has_value == 1) {
            int r = split_alts(pol, eq + 1, &c->vals, &c->nvals);
            if (r < 0) {
                snprintf(msg, msgcap, "'%s': %s", tok, r == -2 ? "unknown set" : "too many values");
                return -1;
            }
            return 0;
        }
        const char *p = eq + 1;
        for (;;) {
            const char *e = strchr(p, '|');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            unsigned m = gp_class_parse(p, len);
            if (!m) {
                snprintf(msg, msgcap, "'%s': unknown path class '%.*s'", tok, (int)len, p);
                return -1;
            }
            c->mask |= m;
            if (!e) break;
            p = e + 1;
        }
        return 0;
    }
    snprintf(msg, msgcap, "unknown condition '%.*s'", (int)nlen, tok);
    return -1;
}

static void cond_free(g_cond *c) {
    free(c->key);
    strv_free(c->vals, c->nvals);
}

static void rule_free(g_rule *r) {
    strv_free(r->progs, r->nprogs);
    for (int i = 0; i < r->nconds; i++)
        cond_free(&r->conds[i]);
    free(r->conds);
}

void gpol_free(g_policy *pol) {
    if (!pol) return;
    for (int i = 0; i < pol->nrules; i++)
        rule_free(&pol->rules[i]);
    free(pol->rules);
    for (int i = 0; i < pol->npaths; i++)
        free(pol->paths[i].pat);
    free(pol->paths);
    strv_free(pol->hosts, pol->nhosts);
    for (int i = 0; i < pol->noptspecs; i++) {
        free(pol->optspecs[i].prog);
        strv_free(pol->optspecs[i].opts, pol->optspecs[i].nopts);
    }
    free(pol->optspecs);
    for (int i = 0; i < pol->nsets; i++) {
        free(pol->sets[i].name);
        strv_free(pol->sets[i].vals, pol->sets[i].nvals);
    }
    free(pol->sets);
    memset(pol, 0, sizeof *pol);
}

static int decision_parse(const char *s, guard_decision *d) {
    if (!strcmp(s, "allow"))
        *d = GUARD_ALLOW;
    else if (!strcmp(s, "ask"))
        *d = GUARD_ASK;
    else if (!strcmp(s, "deny"))
        *d = GUARD_DENY;
    else
        return -1;
    return 0;
}

/* One line, already split into tokens (reason: the text after a "--" token, or NULL). */
static int parse_line(g_policy *pol, char **tok, int ntok, const char *reason, int layer, int line,
                      char *msg, size_t msgcap) {
    const char *kw = tok[0];
    guard_decision d;
    if (!strcmp(kw, "set")) {
        if (ntok < 3) return snprintf(msg, msgcap, "set NAME VALUES"), -1;
        if (pol->nsets >= 256) return snprintf(msg, msgcap, "too many sets"), -1;
        pol->sets = xrealloc(pol->sets, (size_t)(pol->nsets + 1) * sizeof *pol->sets);
        char **vals = NULL;
        int n = 0;
        for (int i = 2; i < ntok; i++) {
            int r = split_alts(pol, tok[i], &vals, &n);
            if (r < 0) {
                strv_free(vals, n);
                return snprintf(msg, msgcap, "set %s: %s", tok[1],
                                r == -2 ? "unknown set" : "too many values"),
                       -1;
            }
        }
        pol->sets[pol->nsets].name = xstrdup(tok[1]);
        pol->sets[pol->nsets].vals = vals;
        pol->sets[pol->nsets].nvals = n;
        pol->nsets++;
        return 0;
    }
    if (!strcmp(kw, "path")) {
        if (ntok < 3) return snprintf(msg, msgcap, "path CLASS PATTERN..."), -1;
        unsigned cls = gp_class_parse(tok[1], strlen(tok[1]));
        if (!cls) return snprintf(msg, msgcap, "unknown path class '%s'", tok[1]), -1;
        for (int i = 2; i < ntok; i++) {
            if (pol->npaths >= POL_MAX_RULES) return snprintf(msg, msgcap, "too many paths"), -1;
            pol->paths = xrealloc(pol->paths, (size_t)(pol->npaths + 1) * sizeof *pol->paths);
            pol->paths[pol->npaths].cls = cls;
            pol->paths[pol->npaths].pat = xstrdup(tok[i]);
            pol->npaths++;
        }
        return 0;
    }
    if (!strcmp(kw, "host")) {
        for (int i = 1; i < ntok; i++)
            if (strv_push(&pol->hosts, &pol->nhosts, tok[i], strlen(tok[i])) < 0)
                return snprintf(msg, msgcap, "too many hosts"), -1;
        return 0;
    }
    if (!strcmp(kw, "options")) {
        if (ntok < 3) return snprintf(msg, msgcap, "options PROG OPT..."), -1;
        char **progs = NULL;
        int np = 0;
        if (split_alts(pol, tok[1], &progs, &np) < 0) {
            strv_free(progs, np);
            return snprintf(msg, msgcap, "options: bad program list"), -1;
        }
        for (int k = 0; k < np; k++) {
            if (pol->noptspecs >= 1024) break;
            pol->optspecs =
                xrealloc(pol->optspecs, (size_t)(pol->noptspecs + 1) * sizeof *pol->optspecs);
            pol->optspecs[pol->noptspecs].prog = xstrdup(progs[k]);
            pol->optspecs[pol->noptspecs].opts = NULL;
            pol->optspecs[pol->noptspecs].nopts = 0;
            for (int i = 2; i < ntok; i++)
                strv_push(&pol->optspecs[pol->noptspecs].opts, &pol->optspecs[pol->noptspecs].nopts,
                          tok[i], strlen(tok[i]));
            pol->noptspecs++;
        }
        strv_free(progs, np);
        return 0;
    }
    if (!strcmp(kw, "defaults")) {
        if (ntok != 2 || (strcmp(tok[1], "off") && strcmp(tok[1], "on")))
            return snprintf(msg, msgcap, "defaults on|off"), -1;
        if (layer == 0)
            return snprintf(msg, msgcap, "'defaults' belongs in the operator's file"), -1;
        pol->no_defaults = !strcmp(tok[1], "off");
        return 0;
    }
    if (decision_parse(kw, &d) < 0) return snprintf(msg, msgcap, "unknown directive '%s'", kw), -1;
    if (ntok < 4)
        return snprintf(msg, msgcap, "%s ID CATEGORY PROGRAMS [CONDITIONS] [-- REASON]", kw), -1;
    if (pol->nrules >= POL_MAX_RULES) return snprintf(msg, msgcap, "too many rules"), -1;
    g_rule r;
    memset(&r, 0, sizeof r);
    r.decision = d;
    r.layer = layer;
    r.line = line;
    if (strlen(tok[1]) >= sizeof r.id) return snprintf(msg, msgcap, "rule id too long"), -1;
    if (strlen(tok[2]) >= sizeof r.category) return snprintf(msg, msgcap, "category too long"), -1;
    snprintf(r.id, sizeof r.id, "%s", tok[1]);
    snprintf(r.category, sizeof r.category, "%s", tok[2]);
    snprintf(r.reason, sizeof r.reason, "%s", reason ? reason : "");
    int sr = split_alts(pol, tok[3], &r.progs, &r.nprogs);
    if (sr < 0 || r.nprogs == 0) {
        rule_free(&r);
        return snprintf(msg, msgcap, "%s: bad program list '%s'", tok[1], tok[3]), -1;
    }
    for (int i = 4; i < ntok; i++) {
        g_cond c;
        if (parse_cond(pol, tok[i], &c, msg, msgcap) < 0) {
            cond_free(&c);
            rule_free(&r);
            return -1;
        }
        r.conds = xrealloc(r.conds, (size_t)(r.nconds + 1) * sizeof *r.conds);
        r.conds[r.nconds++] = c;
    }
    pol->rules = xrealloc(pol->rules, (size_t)(pol->nrules + 1) * sizeof *pol->rules);
    pol->rules[pol->nrules++] = r;
    return 0;
}

int gpol_parse(g_policy *pol, const char *text, size_t len, int layer, const char *name,
               he_error *err) {
    size_t i = 0;
    int line = 0;
    char buf[POL_MAX_LINE + 1];
    while (i < len) {
        line++;
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        size_t n = e - i;
        if (n > POL_MAX_LINE)
            return he_fail(err, HE_LIMIT, "%s:%d: line longer than %d bytes", name, line,
                           POL_MAX_LINE);
        memcpy(buf, text + i, n);
        buf[n] = 0;
        i = e + 1;
        if (memchr(buf, 0, n)) return he_fail(err, HE_FORMAT, "%s:%d: NUL byte", name, line);
        /* tokens; '#' at a token start begins a comment; "--" starts the reason */
        char *tok[256];
        int ntok = 0;
        const char *reason = NULL;
        char *p = buf;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\r')
                p++;
            if (!*p || *p == '#') break;
            if (p[0] == '-' && p[1] == '-' && (p[2] == ' ' || p[2] == '\t' || p[2] == 0)) {
                reason = p + 2;
                while (*reason == ' ' || *reason == '\t')
                    reason++;
                char *end = (char *)reason + strlen(reason);
                while (end > reason && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                    *--end = 0;
                break;
            }
            if (ntok >= 256) return he_fail(err, HE_LIMIT, "%s:%d: too many tokens", name, line);
            tok[ntok++] = p;
            while (*p && *p != ' ' && *p != '\t' && *p != '\r')
                p++;
            if (*p) *p++ = 0;
        }
        if (ntok == 0) continue;
        char msg[256];
        if (parse_line(pol, tok, ntok, reason, layer, line, msg, sizeof msg) < 0)
            return he_fail(err, HE_FORMAT, "%s:%d: %s", name, line, msg);
    }
    return 0;
}

int gpol_host_allowed(const g_policy *pol, const char *host) {
    for (int i = 0; i < pol->nhosts; i++) {
        const char *h = pol->hosts[i];
        if (!strcasecmp(h, host)) return 1;
        if (h[0] == '*' && h[1] == '.') {
            size_t hl = strlen(h + 1), nl = strlen(host);
            if (nl > hl && !strcasecmp(host + nl - hl, h + 1)) return 1;
        }
    }
    return 0;
}

/* ---- matching ---- */

typedef struct {
    const guard *g;
    const g_cmd *c;
    int *pos; /* indices of positional words */
    int npos;
    unsigned *cls;    /* per argv word: path classes of the word and of its value after '=' */
    unsigned *poscls; /* per argv word: classes of the word itself */
    int *isflag;
} ctx;

static const char *const *optspec(const g_policy *pol, const char *prog, int *n) {
    for (int i = pol->noptspecs - 1; i >= 0; i--)
        if (!fnmatch(pol->optspecs[i].prog, prog, 0)) {
            *n = pol->optspecs[i].nopts;
            return (const char *const *)pol->optspecs[i].opts;
        }
    *n = 0;
    return NULL;
}

static void ctx_init(ctx *x, const guard *g, const g_cmd *c) {
    x->g = g;
    x->c = c;
    int n = c->argc;
    x->pos = xcalloc((size_t)n + 1, sizeof(int));
    x->cls = xcalloc((size_t)n + 1, sizeof(unsigned));
    x->poscls = xcalloc((size_t)n + 1, sizeof(unsigned));
    x->isflag = xcalloc((size_t)n + 1, sizeof(int));
    x->npos = 0;
    int nopt;
    const char *const *opts = optspec(&g->pol, c->argv[0], &nopt);
    int ended = 0;
    for (int i = 1; i < n; i++) {
        const char *w = c->argv[i];
        if (!ended && !strcmp(w, "--") && !(c->wf[i] & SH_W_DYNAMIC)) {
            ended = 1;
            x->isflag[i] = 1;
            continue;
        }
        if (!ended && w[0] == '-' && w[1]) {
            x->isflag[i] = 1;
            for (int k = 0; k < nopt; k++)
                if (!strcmp(opts[k], w) && i + 1 < n) {
                    i++; /* its value: not positional, not a path the rules look at */
                    x->isflag[i] = 2;
                    break;
                }
            continue;
        }
        x->pos[x->npos++] = i;
    }
    char res[PATH_MAX];
    for (int i = 1; i < n; i++) {
        const char *w = c->argv[i];
        unsigned m = 0;
        if (x->isflag[i] == 2) continue;
        if (!x->isflag[i]) {
            const char *pw = w[0] == '@' && w[1] ? w + 1 : w;
            m = gp_classify(g, c->cwd, pw, c->wf[i], res, sizeof res);
            x->poscls[i] = m;
        }
        const char *eq = strchr(w, '=');
        if (eq && eq[1] && !(c->wf[i] & SH_W_DYNAMIC)) {
            const char *v = eq[1] == '@' && eq[2] ? eq + 2 : eq + 1;
            if (v[0] == '/' || v[0] == '.' || v[0] == '~' || !x->isflag[i])
                m |= gp_classify(g, c->cwd, v, c->wf[i] & ~(unsigned)SH_W_GLOB, res, sizeof res);
        } else if (x->isflag[i] && (c->wf[i] & SH_W_DYNAMIC)) {
            m |= GP_DYNAMIC;
        }
        x->cls[i] = m;
    }
}

static void ctx_free(ctx *x) {
    free(x->pos);
    free(x->cls);
    free(x->poscls);
    free(x->isflag);
}

static int glob_any(char *const *vals, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!fnmatch(vals[i], s, 0)) return 1;
    return 0;
}

/* A flag pattern against one flag word: "--force" matches "--force" and "--force=x"; "-f"
 * matches any short cluster holding f ("-rf"); "-delete" (one dash, longer) only itself. */
static int flag_match(const char *pat, const char *w) {
    if (strpbrk(pat, "*?[")) return !fnmatch(pat, w, 0);
    if (pat[0] == '-' && pat[1] == '-') {
        size_t n = strlen(pat);
        return !strncmp(w, pat, n) && (w[n] == 0 || w[n] == '=');
    }
    if (pat[0] == '-' && pat[1] && !pat[2]) {
        if (w[0] != '-' || w[1] == '-') return 0;
        return strchr(w + 1, pat[1]) != NULL;
    }
    return !strcmp(pat, w);
}

/* The value of option/key `key` in argv (first occurrence), or NULL. */
static const char *opt_value(const g_cmd *c, const char *key, unsigned *wf) {
    size_t kl = strlen(key);
    for (int i = 1; i < c->argc; i++) {
        const char *w = c->argv[i];
        if (key[0] == '-') {
            if (!strcmp(w, key) && i + 1 < c->argc) {
                *wf = c->wf[i + 1];
                return c->argv[i + 1];
            }
            if (!strncmp(w, key, kl) && w[kl] == '=') {
                *wf = c->wf[i];
                return w + kl + 1;
            }
            if (kl == 2 && key[1] != '-' && !strncmp(w, key, 2) && w[2]) {
                *wf = c->wf[i];
                return w + 2;
            }
        } else if (!strncmp(w, key, kl) && w[kl] == '=') {
            *wf = c->wf[i];
            return w + kl + 1;
        }
    }
    return NULL;
}

/* host of a network word, or 0 when the word does not name one. */
static int net_host(const char *w, char *host, size_t cap) {
    const char *p = strstr(w, "://");
    const char *h;
    if (p) {
        h = p + 3;
    } else {
        /* [user@]host:path (scp, rsync): a ':' before any '/' */
        if (w[0] == '/' || w[0] == '.' || w[0] == '-' || w[0] == '~') return 0;
        const char *colon = strchr(w, ':');
        const char *slash = strchr(w, '/');
        if (!colon || colon == w || (slash && slash < colon)) return 0;
        if (strchr(w, '=') && strchr(w, '=') < colon) return 0;
        h = w;
    }
    const char *at = strchr(h, '@');
    const char *end = h + strcspn(h, "/?#");
    if (at && at < end) h = at + 1;
    size_t n = 0;
    if (*h == '[') {
        const char *rb = strchr(h, ']');
        if (!rb) return 0;
        n = (size_t)(rb - h + 1);
    } else
        n = strcspn(h, ":/?#");
    if (n == 0 || n >= cap) return 0;
    memcpy(host, h, n);
    host[n] = 0;
    return 1;
}

/* SQL kinds in the command's words: drop, truncate, delete-all (no WHERE), update-all, alter,
 * flush (redis FLUSHALL/FLUSHDB). A word scan over the statement text, split at ';'. */
static int sql_kinds(const g_cmd *c, char *const *vals, int nvals) {
    char kinds[8][16];
    int nk = 0;
    for (int i = 1; i < c->argc && nk < 8; i++) {
        const char *s = c->argv[i];
        char first[16] = "";
        int where = 0, have_first = 0;
        for (const char *p = s;;) {
            while (*p && !isalnum((unsigned char)*p) && *p != '_' && *p != ';')
                p++;
            if (!*p || *p == ';') {
                if (have_first && nk < 8) {
                    if (!strcmp(first, "drop"))
                        snprintf(kinds[nk++], 16, "drop");
                    else if (!strcmp(first, "truncate"))
                        snprintf(kinds[nk++], 16, "truncate");
                    else if (!strcmp(first, "alter"))
                        snprintf(kinds[nk++], 16, "alter");
                    else if (!strcmp(first, "flushall") || !strcmp(first, "flushdb"))
                        snprintf(kinds[nk++], 16, "flush");
                    else if (!strcmp(first, "delete") && !where)
                        snprintf(kinds[nk++], 16, "delete-all");
                    else if (!strcmp(first, "update") && !where)
                        snprintf(kinds[nk++], 16, "update-all");
                }
                have_first = 0;
                where = 0;
                if (!*p) break;
                p++;
                continue;
            }
            const char *e = p;
            while (isalnum((unsigned char)*e) || *e == '_')
                e++;
            char wd[16];
            size_t n = (size_t)(e - p);
            if (n < sizeof wd) {
                for (size_t k = 0; k < n; k++)
                    wd[k] = (char)tolower((unsigned char)p[k]);
                wd[n] = 0;
                if (!have_first) {
                    snprintf(first, sizeof first, "%s", wd);
                    have_first = 1;
                } else if (!strcmp(wd, "where"))
                    where = 1;
            } else if (!have_first) {
                have_first = 1;
                first[0] = 0;
            }
            p = e;
        }
    }
    for (int k = 0; k < nk; k++)
        if (glob_any(vals, nvals, kinds[k])) return 1;
    return 0;
}

static int cond_holds(const ctx *x, const g_cond *k) {
    const g_cmd *c = x->c;
    switch (k->kind) {
    case GC_SUB:
        return x->npos > 0 && glob_any(k->vals, k->nvals, c->argv[x->pos[0]]);
    case GC_SUB2:
        return x->npos > 1 && glob_any(k->vals, k->nvals, c->argv[x->pos[1]]);
    case GC_FLAG:
        for (int i = 1; i < c->argc; i++)
            if (x->isflag[i] == 1)
                for (int v = 0; v < k->nvals; v++)
                    if (flag_match(k->vals[v], c->argv[i])) return 1;
        return 0;
    case GC_ARG:
        for (int i = 1; i < c->argc; i++)
            if (glob_any(k->vals, k->nvals, c->argv[i])) return 1;
        return 0;
    case GC_TARGET:
        for (int i = 1; i < c->argc; i++)
            if (x->cls[i] & k->mask) return 1;
        return 0;
    case GC_FIRST:
        return x->npos > 0 && (x->poscls[x->pos[0]] & k->mask);
    case GC_DEST:
        return x->npos > 0 && (x->poscls[x->pos[x->npos - 1]] & k->mask);
    case GC_RECURSIVE: /* src= */
        for (int i = 0; i + 1 < x->npos || (x->npos == 1 && i == 0); i++)
            if (x->poscls[x->pos[i]] & k->mask) return 1;
        return 0;
    case GC_VAL:
    case GC_PATH: {
        unsigned wf = 0;
        const char *v = opt_value(c, k->key, &wf);
        if (!v) return 0;
        if (k->kind == GC_VAL) return glob_any(k->vals, k->nvals, v);
        char res[PATH_MAX];
        return (gp_classify(x->g, c->cwd, v, wf, res, sizeof res) & k->mask) != 0;
    }
    case GC_NOPOS:
        return x->npos == 0 && !(c->flags & GF_XARGS);
    case GC_PIPED:
        return (c->flags & (GF_PIPED | GF_HEREDOC)) != 0;
    case GC_FROM:
        return c->from[0] && glob_any(k->vals, k->nvals, c->from);
    case GC_PIPEIN:
        return (c->pipein & k->mask) != 0;
    case GC_REMOTE:
    case GC_ALLOWED_HOSTS: {
        int any = 0, bad = 0;
        char host[256];
        for (int i = 1; i < c->argc; i++) {
            const char *w = c->argv[i];
            if (x->isflag[i] == 1 && !strstr(w, "://")) continue;
            if ((c->wf[i] & SH_W_DYNAMIC) && strstr(w, "://") == NULL) continue;
            if (net_host(w, host, sizeof host)) {
                any = 1;
                if ((c->wf[i] & SH_W_DYNAMIC) || !gpol_host_allowed(&x->g->pol, host)) bad = 1;
            }
        }
        if (k->kind == GC_REMOTE) return bad;
        return any && !bad;
    }
    case GC_SQL:
        return sql_kinds(c, k->vals, k->nvals);
    case GC_DYNAMIC:
        for (int i = 1; i < c->argc; i++)
            if (c->wf[i] & SH_W_DYNAMIC) return 1;
        return (c->flags & GF_XARGS) != 0;
    case GC_ELEVATED:
        return (c->flags & GF_ELEVATED) != 0;
    case GC_EVAL:
        return (c->flags & GF_EVAL) != 0;
    case GC_WSPROG:
        return (c->flags & GF_WSPROG) != 0;
    case GC_DYNPROG:
        return (c->flags & GF_DYNPROG) != 0;
    }
    return 0;
}

static int rule_matches(const ctx *x, const g_rule *r) {
    int prog = 0;
    for (int i = 0; i < r->nprogs && !prog; i++)
        if (!strcmp(r->progs[i], "*") || !fnmatch(r->progs[i], x->c->argv[0], 0)) prog = 1;
    if (!prog) return 0;
    for (int i = 0; i < r->nconds; i++)
        if (cond_holds(x, &r->conds[i]) == r->conds[i].neg) return 0;
    return 1;
}

g_match gpol_eval(const guard *g, const g_cmd *c) {
    g_match best[2] = {{NULL, GUARD_ALLOW}, {NULL, GUARD_ALLOW}};
    ctx x;
    ctx_init(&x, g, c);
    for (int i = 0; i < g->pol.nrules; i++) {
        const g_rule *r = &g->pol.rules[i];
        if (r->layer == 0 && g->pol.no_defaults) continue;
        if (!rule_matches(&x, r)) continue;
        g_match *b = &best[r->layer ? 1 : 0];
        if (!b->rule || r->decision >= b->decision) {
            b->rule = r;
            b->decision = r->decision;
        }
    }
    ctx_free(&x);
    return best[1].rule ? best[1] : best[0];
}
