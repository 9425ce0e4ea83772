/* paths.c — resolving a path word the way the kernel would, and classifying the result against
 * the workspace (inside / outside / protected / credential / ...).
 *
 * Resolution walks the path one component at a time: an existing component that is a symlink is
 * replaced by its target (so a workspace symlink to / resolves to /, and /proc/self/root/etc to
 * /etc), '..' pops the resolved prefix (after the symlink, as the kernel does), and the part that
 * does not exist yet is appended lexically. A dangling symlink is followed too: writing through it
 * creates its target. */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "guard/guard_internal.h"

static const char *const class_names[GP_NCLASSES] = {
    "root",       "home",        "ancestor", "workspace", "inside",   "outside", "protected",
    "credential", "persistence", "device",   "system",    "hardlink", "dynamic", "dirtree"};

const char *gp_class_name(int bit) {
    return bit >= 0 && bit < GP_NCLASSES ? class_names[bit] : "?";
}

unsigned gp_class_parse(const char *name, size_t n) {
    for (int i = 0; i < GP_NCLASSES; i++)
        if (strlen(class_names[i]) == n && !memcmp(class_names[i], name, n)) return 1u << i;
    return 0;
}

int gp_under(const char *path, const char *dir) {
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return path[0] == '/';
    return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

/* Appends component comp[0..n) to the resolved absolute path out (length *len). */
static int push_comp(char *out, size_t *len, size_t cap, const char *comp, size_t n) {
    if (*len + 1 + n + 1 > cap) return -1;
    if (*len > 1)
        out[(*len)++] = '/';
    else if (*len == 0)
        out[(*len)++] = '/';
    memcpy(out + *len, comp, n);
    *len += n;
    out[*len] = 0;
    return 0;
}

static void pop_comp(char *out, size_t *len) {
    while (*len > 1 && out[*len - 1] != '/')
        (*len)--;
    if (*len > 1) (*len)--;
    out[*len] = 0;
}

int gp_resolve(const char *cwd, const char *path, char *out, size_t cap) {
    /* the work list: what is left to walk, as a string we rebuild when a symlink expands */
    char *rest = xmalloc(PATH_MAX * 2);
    size_t restn;
    if (path[0] == '/') {
        restn = strlen(path);
        if (restn >= PATH_MAX * 2) goto bad;
        memcpy(rest, path, restn + 1);
    } else {
        if (!cwd) goto bad;
        int k = snprintf(rest, PATH_MAX * 2, "%s/%s", cwd, path);
        if (k < 0 || (size_t)k >= PATH_MAX * 2) goto bad;
        restn = (size_t)k;
    }
    if (cap < 2) goto bad;
    size_t len = 1;
    out[0] = '/';
    out[1] = 0;
    int links = 0, exists = 1;
    size_t pos = 0;
    while (pos < restn) {
        while (pos < restn && rest[pos] == '/')
            pos++;
        if (pos >= restn) break;
        size_t e = pos;
        while (e < restn && rest[e] != '/')
            e++;
        const char *comp = rest + pos;
        size_t n = e - pos;
        pos = e;
        if (n == 1 && comp[0] == '.') continue;
        if (n == 2 && comp[0] == '.' && comp[1] == '.') {
            pop_comp(out, &len);
            continue;
        }
        size_t save = len;
        if (push_comp(out, &len, cap, comp, n) < 0) goto bad;
        if (!exists) continue;
        struct stat st;
        if (lstat(out, &st) != 0) {
            exists = 0; /* the rest is created later: lexical from here */
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            if (++links > 40) goto bad;
            char target[PATH_MAX];
            ssize_t t = readlink(out, target, sizeof target - 1);
            if (t < 0) goto bad;
            target[t] = 0;
            /* /proc/<pid>/fd/N of a pipe or socket: "pipe:[123]" is not a path */
            if (target[0] != '/' && strchr(target, ':') && !strncmp(out, "/proc/", 6)) goto bad;
            size_t tail = restn - pos;
            size_t tn = (size_t)t;
            if (tn + tail + 2 >= PATH_MAX * 2) goto bad;
            char *next = xmalloc(PATH_MAX * 2);
            memcpy(next, target, tn);
            memcpy(next + tn, rest + pos, tail);
            next[tn + tail] = 0;
            free(rest);
            rest = next;
            restn = tn + tail;
            pos = 0;
            if (target[0] == '/') {
                len = 1;
                out[0] = '/';
                out[1] = 0;
            } else {
                len = save;
                out[len] = 0;
                if (len == 0) {
                    len = 1;
                    out[0] = '/';
                    out[1] = 0;
                }
            }
            continue;
        }
        (void)errno;
    }
    free(rest);
    return 0;
bad:
    free(rest);
    return -1;
}

/* Matches a policy path pattern: "~/x" and "/x" name a file or a tree (globs allowed per
 * component); a pattern without '/' matches the last component. */
static int pat_match(const char *pat, const char *path, const char *home) {
    char buf[PATH_MAX];
    int exact = 0;
    if (pat[0] == '=') { /* "=/usr": that directory itself, not what is under it */
        exact = 1;
        pat++;
    }
    if (pat[0] == '~') {
        if (!home) return 0;
        if (snprintf(buf, sizeof buf, "%s%s", home, pat + 1) >= (int)sizeof buf) return 0;
        pat = buf;
    }
    if (pat[0] != '/') {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        return fnmatch(pat, base, 0) == 0;
    }
    if (exact) return strcmp(path, pat) == 0 || fnmatch(pat, path, FNM_PATHNAME) == 0;
    if (!strpbrk(pat, "*?[")) return gp_under(path, pat);
    if (fnmatch(pat, path, FNM_PATHNAME) == 0) return 1;
    /* a glob pattern names a tree too: match any leading part of path */
    char pre[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof pre) return 0;
    memcpy(pre, path, n + 1);
    for (size_t i = n; i > 1; i--)
        if (pre[i - 1] == '/' || i == n) {
            pre[i == n ? n : i - 1] = 0;
            if (fnmatch(pat, pre, FNM_PATHNAME) == 0) return 1;
        }
    return 0;
}

/* Devices and descriptors that reading or writing cannot harm: no class at all. */
static int benign_path(const char *r) {
    static const char *const names[] = {"/dev/null",   "/dev/zero",    "/dev/full",
                                        "/dev/random", "/dev/urandom", "/dev/tty",
                                        "/dev/stdin",  "/dev/stdout",  "/dev/stderr"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (!strcmp(r, names[k])) return 1;
    return !strncmp(r, "/dev/fd/", 8) || !strncmp(r, "/proc/self/fd/", 14);
}

static unsigned classify_resolved(const guard *g, const char *r, const char *home) {
    unsigned c = 0;
    if (benign_path(r)) return 0;
    if (!strcmp(r, "/")) c |= GP_ROOT;
    if (g->home && !strcmp(r, g->home)) c |= GP_HOME;
    if (home && !strcmp(r, home)) c |= GP_HOME;
    if (!strcmp(r, g->ws))
        c |= GP_WORKSPACE;
    else if (gp_under(r, g->ws))
        c |= GP_INSIDE;
    else
        c |= GP_OUTSIDE;
    if (!(c & (GP_WORKSPACE | GP_INSIDE)) && gp_under(g->ws, r)) c |= GP_ANCESTOR;
    if (c & GP_INSIDE) {
        /* any .git component inside the workspace: a repository's internals */
        const char *q = r + strlen(g->ws);
        while (*q) {
            while (*q == '/')
                q++;
            const char *e = q;
            while (*e && *e != '/')
                e++;
            if (e - q == 4 && !memcmp(q, ".git", 4)) c |= GP_PROTECTED;
            q = e;
        }
    }
    for (int i = 0; i < g->nprot; i++)
        if (gp_under(r, g->prot[i])) c |= GP_PROTECTED;
    for (int i = 0; i < g->pol.npaths; i++)
        if (pat_match(g->pol.paths[i].pat, r, home ? home : g->home)) c |= g->pol.paths[i].cls;
    if (!strncmp(r, "/dev/", 5)) {
        struct stat st;
        if (stat(r, &st) == 0 && (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode))) {
            static const char *const benign[] = {"/dev/null",   "/dev/zero",    "/dev/full",
                                                 "/dev/random", "/dev/urandom", "/dev/tty"};
            int ok = 0;
            for (size_t k = 0; k < sizeof benign / sizeof *benign; k++)
                if (!strcmp(r, benign[k])) ok = 1;
            if (!ok) c |= GP_DEVICE;
        } else if (!(r[5] == 0 || !strncmp(r, "/dev/fd", 7) || !strncmp(r, "/dev/std", 8) ||
                     !strncmp(r, "/dev/shm", 8) || !strncmp(r, "/dev/pts", 8)))
            c |= GP_DEVICE; /* a name under /dev that is not there (yet): assume a device */
    }
    struct stat st;
    if (lstat(r, &st) == 0) {
        if (S_ISDIR(st.st_mode)) c |= GP_DIRTREE;
        if (S_ISREG(st.st_mode) && st.st_nlink > 1 && (c & GP_INSIDE)) c |= GP_HARDLINK;
    }
    return c;
}

/* A dynamic word with its unknown parts taken out (as if each expanded to nothing): the parser
 * leaves "${NAME}", "$(...)", "$((...))" and "$N" where it could not expand. */
static void strip_unknown(const char *w, char *out, size_t cap) {
    size_t k = 0;
    while (*w && k + 1 < cap) {
        if (!strncmp(w, "$((...))", 8)) {
            w += 8;
        } else if (!strncmp(w, "$(...)", 6)) {
            w += 6;
        } else if (w[0] == '$' && w[1] == '{') {
            const char *e = strchr(w, '}');
            w = e ? e + 1 : w + strlen(w);
        } else if (w[0] == '$' && w[1] && strchr("0123456789@*#?$!-", w[1])) {
            w += 2;
        } else
            out[k++] = *w++;
    }
    out[k] = 0;
}

unsigned gp_classify(const guard *g, const char *cwd, const char *word, unsigned wflags,
                     char *resolved, size_t cap) {
    if (cap) resolved[0] = 0;
    if (wflags & SH_W_DYNAMIC) {
        /* "$DIR/" is "/" when DIR is empty or unset (the Steam uninstaller's bug): a dynamic
         * word that would name /, $HOME or a directory holding the workspace keeps that class */
        char lit[PATH_MAX];
        strip_unknown(word, lit, sizeof lit);
        if (!lit[0] || word[0] == '~') return GP_DYNAMIC;
        char r[PATH_MAX];
        unsigned c = gp_classify(g, cwd, lit, wflags & ~(unsigned)SH_W_DYNAMIC, r, sizeof r);
        return GP_DYNAMIC | (c & (GP_ROOT | GP_HOME | GP_ANCESTOR));
    }
    if (!word[0]) return 0;
    if (!strcmp(word, "-")) return GP_DYNAMIC; /* stdin or stdout, by convention */
    if (!cwd && word[0] != '/') return GP_DYNAMIC;
    char tmp[PATH_MAX];
    const char *w = word;
    if ((wflags & SH_W_GLOB) && !strpbrk(word, "*?[")) wflags &= ~(unsigned)SH_W_GLOB;
    if (wflags & SH_W_GLOB) {
        /* a glob: classify the directory holding the first globbed component; a glob over
         * the children of /, $HOME or the workspace counts as that directory itself */
        size_t n = strlen(word);
        if (n >= sizeof tmp) return GP_DYNAMIC;
        memcpy(tmp, word, n + 1);
        char *gl = strpbrk(tmp, "*?[");
        char *slash = gl;
        while (slash > tmp && *slash != '/')
            slash--;
        if (*slash == '/')
            slash[slash == tmp ? 1 : 0] = 0;
        else
            strcpy(tmp, ".");
        w = tmp;
    }
    char r[PATH_MAX];
    if (gp_resolve(cwd, w, r, sizeof r) < 0) return GP_DYNAMIC;
    if (cap) snprintf(resolved, cap, "%s", r);
    unsigned c = classify_resolved(g, r, NULL);
    if (wflags & SH_W_GLOB) {
        /* the globbed entries are inside the directory: "/x*" names things under /, which are
         * outside, and the directory's own class (root/home/workspace) stands for the set */
        if (c & GP_WORKSPACE) c = (c & ~(unsigned)GP_WORKSPACE) | GP_INSIDE;
    }
    return c;
}
