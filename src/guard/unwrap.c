/* unwrap.c — from parsed simple commands to the commands that would really run.
 *
 * Wrappers that run another command are peeled off (sudo, doas, env, timeout, nice, ionice,
 * nohup, stdbuf, xargs, command, builtin, exec, time, setsid, flock, chrt, taskset, watch, su -c,
 * busybox), `sh -c TEXT` (and bash/zsh/dash/ksh) parses TEXT as a script of its own,
 * `find -exec/-execdir/-ok/-delete` yields the command it runs, `eval` parses its words as text;
 * `cd DIR` moves the working directory the later parts of a compound command see; a program given
 * by a path (`/bin/rm`, `/proc/self/root/usr/bin/rm`) is known by its name. Redirections become
 * pseudo-commands ">" (write) and "<" (read) with their target, so the policy rules see them. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "guard/guard_internal.h"

#define UW_MAX_STEPS 64 /* wrappers peeled from one command */

g_cmd *gu_add(g_cmdlist *l, char *const *argv, const unsigned *wf, int argc, const char *cwd) {
    if (l->n >= 4 * SH_MAX_CMDS) {
        l->parse_error = 1;
        snprintf(l->errmsg, sizeof l->errmsg, "too many commands");
        return NULL;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->c = xrealloc(l->c, (size_t)l->cap * sizeof *l->c);
    }
    g_cmd *c = &l->c[l->n++];
    memset(c, 0, sizeof *c);
    c->argc = argc;
    c->argv = xcalloc((size_t)argc + 1, sizeof(char *));
    c->wf = xcalloc((size_t)argc + 1, sizeof(unsigned));
    for (int i = 0; i < argc; i++) {
        c->argv[i] = xstrdup(argv[i]);
        c->wf[i] = wf ? wf[i] : 0;
    }
    c->cwd = cwd ? xstrdup(cwd) : NULL;
    return c;
}

void gu_list_free(g_cmdlist *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) {
        for (int k = 0; k < l->c[i].argc; k++)
            free(l->c[i].argv[k]);
        free(l->c[i].argv);
        free(l->c[i].wf);
        free(l->c[i].cwd);
        free(l->c[i].home);
    }
    free(l->c);
    memset(l, 0, sizeof *l);
}

/* ---- a working argv (borrowed strings) ---- */
typedef struct {
    const char **v;
    unsigned *f;
    int n;
} wargv;

static const char *base_name(const char *s) {
    const char *b = strrchr(s, '/');
    return b ? b + 1 : s;
}

static int is_one_of(const char *s, const char *const *names) {
    for (; *names; names++)
        if (!strcmp(s, *names)) return 1;
    return 0;
}

/* Skips options of a wrapper: `with_value` lists the options that take a value. Returns the
 * index of the first non-option word (the wrapped command), or a.n. */
static int skip_opts(const wargv *a, int i, const char *const *with_value) {
    while (i < a->n) {
        const char *w = a->v[i];
        if (!strcmp(w, "--")) return i + 1;
        if (w[0] != '-' || !w[1]) return i;
        int takes = 0;
        for (const char *const *o = with_value; o && *o; o++)
            if (!strcmp(w, *o)) takes = 1;
        i += takes ? 2 : 1;
    }
    return a->n;
}

/* Wrappers that run the rest of their arguments as a command. */
typedef struct {
    const char *name;
    const char *const *opts; /* options that take a value */
    int skip;                /* positional words before the command (nice has none, chrt one) */
    const char *shell_opt;   /* an option whose value is shell text, or NULL */
    int elevated;
} wrapper_spec;

static const char *const o_none[] = {NULL};
static const char *const o_nice[] = {"-n", "--adjustment", NULL};
static const char *const o_ionice[] = {"-c", "--class", "-n", "--classdata", "-p", "--pid",
                                       "-P", "--pgid",  "-u", "--uid",       NULL};
static const char *const o_stdbuf[] = {"-i", "-o", "-e", "--input", "--output", "--error", NULL};
static const char *const o_time[] = {"-f", "--format", "-o", "--output", NULL};
static const char *const o_exec[] = {"-a", NULL};
static const char *const o_flock[] = {"-w", "--timeout", "-E", "--conflict-exit-code",
                                      "-c", "--command", NULL};
static const char *const o_script[] = {
    "-c", "--command", "-E", "--echo",       "-I", "--log-in",         "-O", "--log-out",
    "-B", "--log-io",  "-T", "--log-timing", "-m", "--logging-format", NULL};
static const char *const o_strace[] = {"-o", "-e", "-p", "-s", "-u", "-E", "-P",
                                       "-a", "-b", "-I", "-S", "-X", NULL};
static const char *const o_valgrind[] = {NULL};
static const char *const o_sdrun[] = {"-u",
                                      "--unit",
                                      "-p",
                                      "--property",
                                      "-E",
                                      "--setenv",
                                      "-M",
                                      "--machine",
                                      "-H",
                                      "--host",
                                      "--description",
                                      "--slice",
                                      "--uid",
                                      "--gid",
                                      "--working-directory",
                                      NULL};
static const char *const o_unshare[] = {"-S",     "--setuid", "-G",   "--setgid", "-R",
                                        "--root", "-w",       "--wd", NULL};
static const char *const o_xvfb[] = {"-n", "--server-num",     "-s", "--server-args",
                                     "-f", "--auth-file",      "-e", "--error-file",
                                     "-p", "--xauth-protocol", NULL};
static const char *const o_faketime[] = {"-f", "-m", NULL};

static const wrapper_spec wrappers_table[] = {
    {"nohup", o_none, 0, NULL, 0},        {"setsid", o_none, 0, NULL, 0},
    {"unbuffer", o_none, 0, NULL, 0},     {"builtin", o_none, 0, NULL, 0},
    {"exec", o_exec, 0, NULL, 0},         {"command", o_none, 0, NULL, 0},
    {"time", o_time, 0, NULL, 0},         {"nice", o_nice, 0, NULL, 0},
    {"ionice", o_ionice, 0, NULL, 0},     {"stdbuf", o_stdbuf, 0, NULL, 0},
    {"chrt", o_none, 1, NULL, 0},         {"taskset", o_none, 1, NULL, 0},
    {"flock", o_flock, 1, "-c", 0},       {"script", o_script, 0, "-c", 0},
    {"caffeinate", o_none, 0, NULL, 0},   {"strace", o_strace, 0, NULL, 0},
    {"ltrace", o_strace, 0, NULL, 0},     {"valgrind", o_valgrind, 0, NULL, 0},
    {"xvfb-run", o_xvfb, 0, NULL, 0},     {"dbus-run-session", o_none, 0, NULL, 0},
    {"faketime", o_faketime, 1, NULL, 0}, {"catchsegv", o_none, 0, NULL, 0},
    {"busybox", o_none, 0, NULL, 0},      {"systemd-run", o_sdrun, 0, NULL, 1},
    {"chroot", o_none, 1, NULL, 1},       {"unshare", o_unshare, 0, NULL, 0},
    {"firejail", o_none, 0, NULL, 0},     {"torsocks", o_none, 0, NULL, 0},
    {"proxychains", o_none, 0, NULL, 0},  {"proxychains4", o_none, 0, NULL, 0},
    {"nsenter", o_none, 0, NULL, 1},      {"sg", o_none, 1, NULL, 1},
};

static const wrapper_spec *wrapper_find(const char *name) {
    for (size_t i = 0; i < sizeof wrappers_table / sizeof *wrappers_table; i++)
        if (!strcmp(wrappers_table[i].name, name)) return &wrappers_table[i];
    return NULL;
}

typedef struct {
    const guard *g;
    g_cmdlist *out;
    char *cwd; /* owned; NULL unknown */
    int depth;
    size_t budget; /* bytes of nested text parsed so far (sh -c, eval, find -exec copies) */
} uw_state;

#define UW_MAX_NESTED_BYTES (1u << 20)

static void unwrap_script(uw_state *st, sh_script *s, int first, unsigned inherit, const char *home,
                          const char *wrappers);

static void set_cwd(uw_state *st, const char *dir, unsigned wf, const char *home) {
    char next[PATH_MAX];
    if (wf & SH_W_DYNAMIC || !strcmp(dir, "-")) {
        free(st->cwd);
        st->cwd = NULL;
        return;
    }
    if (!dir[0]) dir = home ? home : "";
    if (!dir[0]) {
        free(st->cwd);
        st->cwd = NULL;
        return;
    }
    if (dir[0] == '/')
        snprintf(next, sizeof next, "%s", dir);
    else if (st->cwd) {
        if (snprintf(next, sizeof next, "%s/%s", st->cwd, dir) >= (int)sizeof next) {
            free(st->cwd);
            st->cwd = NULL;
            return;
        }
    } else
        return;
    char res[PATH_MAX];
    free(st->cwd);
    st->cwd = gp_resolve(NULL, next, res, sizeof res) == 0 ? xstrdup(res) : NULL;
}

static void add_wrapper(char *w, size_t cap, const char *name) {
    size_t n = strlen(w);
    if (n + strlen(name) + 2 < cap) snprintf(w + n, cap - n, "%s%s", n ? " " : "", name);
}

/* Parses `text` as shell (sh -c, eval, watch, su -c) and unwraps what it holds. */
static void unwrap_text(uw_state *st, const char *text, unsigned flags, const char *home,
                        const char *wrappers) {
    if (st->depth + 1 > SH_MAX_DEPTH) {
        st->out->parse_error = 1;
        snprintf(st->out->errmsg, sizeof st->out->errmsg, "nesting too deep");
        return;
    }
    size_t len = strlen(text);
    if (st->budget + len > UW_MAX_NESTED_BYTES || st->out->n >= 4 * SH_MAX_CMDS) {
        st->out->parse_error = 1;
        snprintf(st->out->errmsg, sizeof st->out->errmsg, "too much nested text to read");
        return;
    }
    st->budget += len;
    sh_script sub = {0};
    sh_parse(&sub, text, len, st->depth + 1, home);
    if (sub.error && !st->out->parse_error) {
        st->out->parse_error = 1;
        snprintf(st->out->errmsg, sizeof st->out->errmsg, "%s", sub.errmsg);
    }
    if (sub.recursive_func) st->out->fork_bomb = 1;
    st->depth++;
    unwrap_script(st, &sub, 0, flags, sub.home, wrappers);
    st->depth--;
    sh_script_free(&sub);
}

/* Unwraps one argv run from st->cwd; emits the effective commands. */
static void unwrap_argv(uw_state *st, wargv a, unsigned flags, const char *home, char *wrappers,
                        size_t wcap, const char *from, unsigned pipein) {
    static const char *const shells[] = {"sh",   "bash", "zsh",  "dash", "ksh",  "mksh",  "ash",
                                         "fish", "csh",  "tcsh", "yash", "posh", "rbash", NULL};
    char *dirbuf = NULL;    /* cwd override for this command only (env -C, find -execdir) */
    char progres[PATH_MAX]; /* the resolved program path (name points into it) */
    const char *home_over = home;
    char *home_owned = NULL;
    for (int step = 0; step < UW_MAX_STEPS && a.n > 0; step++) {
        const char *prog = a.v[0];
        if (a.f[0] & SH_W_DYNAMIC) {
            flags |= GF_DYNPROG;
            break;
        }
        const char *name = prog;
        if (strchr(prog, '/')) {
            char *res = progres;
            unsigned cls = gp_classify(st->g, st->cwd, prog, a.f[0], res, PATH_MAX);
            if (cls & (GP_INSIDE | GP_WORKSPACE)) flags |= GF_WSPROG;
            if (cls & GP_DYNAMIC) flags |= GF_DYNPROG;
            name = base_name(res[0] ? res : prog);
            if (!name[0]) name = base_name(prog);
        }
        /* the wrappers */
        if (!strcmp(name, "sudo") || !strcmp(name, "doas") || !strcmp(name, "pkexec") ||
            !strcmp(name, "runuser")) {
            static const char *const v[] = {"-u",     "-g",      "-C",      "-D",       "-h",
                                            "-p",     "-r",      "-t",      "-U",       "-T",
                                            "--user", "--group", "--chdir", "--prompt", NULL};
            int i = skip_opts(&a, 1, v);
            int shell = 0;
            for (int k = 1; k < i; k++)
                if (!strcmp(a.v[k], "-s") || !strcmp(a.v[k], "-i") || !strcmp(a.v[k], "--shell") ||
                    !strcmp(a.v[k], "--login"))
                    shell = 1;
            flags |= GF_ELEVATED;
            add_wrapper(wrappers, wcap, name);
            if (i >= a.n) break; /* sudo alone / sudo -i: a root shell */
            if (shell) {
                /* sudo -s CMD: runs CMD through the shell */
                a.v += i;
                a.f += i;
                a.n -= i;
                continue;
            }
            a.v += i;
            a.f += i;
            a.n -= i;
            continue;
        }
        if (!strcmp(name, "env")) {
            static const char *const v[] = {
                "-u", "--unset", "-C", "--chdir", "-S", "--split-string", "-a", "--argv0", NULL};
            int i = 1;
            char *split = NULL;
            while (i < a.n) {
                const char *w = a.v[i];
                if (!strcmp(w, "--")) {
                    i++;
                    break;
                }
                if ((!strcmp(w, "-C") || !strcmp(w, "--chdir")) && i + 1 < a.n) {
                    set_cwd(st, a.v[i + 1], a.f[i + 1], home_over);
                    i += 2;
                    continue;
                }
                if ((!strcmp(w, "-S") || !strcmp(w, "--split-string")) && i + 1 < a.n) {
                    split = xstrdup(a.v[i + 1]);
                    i += 2;
                    break;
                }
                if (w[0] == '-' && w[1]) {
                    int takes = 0;
                    for (const char *const *o = v; *o; o++)
                        if (!strcmp(w, *o)) takes = 1;
                    i += takes ? 2 : 1;
                    continue;
                }
                const char *eq = strchr(w, '=');
                if (eq && sh_is_name(w, (size_t)(eq - w))) {
                    const char *ev[2] = {"export", w};
                    unsigned ef[2] = {0, a.f[i]};
                    g_cmd *ec = gu_add(st->out, (char *const *)ev, ef, 2, st->cwd);
                    if (ec) {
                        ec->flags = flags;
                        snprintf(ec->wrappers, sizeof ec->wrappers, "%s", wrappers);
                    }
                    if (eq - w == 4 && !strncmp(w, "HOME", 4)) {
                        free(home_owned);
                        home_owned = (a.f[i] & SH_W_DYNAMIC) ? NULL : xstrdup(eq + 1);
                        home_over = home_owned;
                    }
                    i++;
                    continue;
                }
                break;
            }
            add_wrapper(wrappers, wcap, "env");
            if (split) {
                /* env -S "STRING ARGS": STRING split into words, then the remaining args */
                char *text = split;
                size_t tl = strlen(text);
                for (int k = i; k < a.n; k++) {
                    tl += strlen(a.v[k]) + 3;
                }
                char *full = xmalloc(tl + 1);
                snprintf(full, tl + 1, "%s", text);
                /* the remaining words were already words: quote them for the shell parser */
                for (int k = i; k < a.n; k++) {
                    strcat(full, " '");
                    strcat(full, a.v[k]); /* a quote inside would end it: fine (we over-split) */
                    strcat(full, "'");
                }
                free(text);
                unwrap_text(st, full, flags, home_over, wrappers);
                free(full);
                free(home_owned);
                free(dirbuf);
                return;
            }
            if (i >= a.n) {
                static const char *const envv[] = {"env"};
                static const unsigned envf[] = {0};
                a.v = (const char **)envv;
                a.f = (unsigned *)envf;
                a.n = 1;
                break; /* env alone prints the environment */
            }
            a.v += i;
            a.f += i;
            a.n -= i;
            continue;
        }
        if (!strcmp(name, "timeout")) {
            static const char *const v[] = {"-s", "--signal", "-k", "--kill-after", NULL};
            int i = skip_opts(&a, 1, v);
            i++; /* the duration */
            add_wrapper(wrappers, wcap, name);
            if (i >= a.n) break;
            a.v += i;
            a.f += i;
            a.n -= i;
            continue;
        }
        {
            const wrapper_spec *ws = wrapper_find(name);
            if (ws) {
                int i = skip_opts(&a, 1, ws->opts);
                if (!strcmp(name, "command")) {
                    int lookup = 0;
                    for (int k = 1; k < i; k++)
                        if (!strcmp(a.v[k], "-v") || !strcmp(a.v[k], "-V")) lookup = 1;
                    if (lookup) { /* command -v NAME: a lookup, runs nothing */
                        a.n = 1;
                        break;
                    }
                }
                /* an option whose value is shell text (flock -c, script -c) */
                if (ws->shell_opt)
                    for (int k = 1; k + 1 < a.n && k < i; k++)
                        if (!strcmp(a.v[k], ws->shell_opt)) {
                            add_wrapper(wrappers, wcap, name);
                            if (a.f[k + 1] & SH_W_DYNAMIC) flags |= GF_EVAL;
                            unwrap_text(st, a.v[k + 1], flags, home_over, wrappers);
                            free(home_owned);
                            free(dirbuf);
                            return;
                        }
                i += ws->skip; /* priority, mask, lock file, new root */
                if (ws->elevated) flags |= GF_ELEVATED;
                add_wrapper(wrappers, wcap, name);
                if (i >= a.n) break;
                a.v += i;
                a.f += i;
                a.n -= i;
                continue;
            }
        }
        if (!strcmp(name, "xargs")) {
            static const char *const v[] = {
                "-n",    "-L",          "-P",         "-I",          "-d",          "-E",
                "-s",    "-a",          "--max-args", "--max-procs", "--delimiter", "--arg-file",
                "--eof", "--max-chars", "-i",         NULL};
            int i = skip_opts(&a, 1, v);
            flags |= GF_XARGS;
            add_wrapper(wrappers, wcap, "xargs");
            if (i >= a.n) {
                static const char *const ev[] = {"echo"};
                static const unsigned ef[] = {0};
                a.v = (const char **)ev;
                a.f = (unsigned *)ef;
                a.n = 1;
                break;
            }
            /* the arguments xargs adds from its input: unknown words at the end */
            const char **xv = xcalloc((size_t)(a.n - i) + 2, sizeof(char *));
            unsigned *xf = xcalloc((size_t)(a.n - i) + 2, sizeof(unsigned));
            memcpy(xv, a.v + i, (size_t)(a.n - i) * sizeof(char *));
            memcpy(xf, a.f + i, (size_t)(a.n - i) * sizeof(unsigned));
            xv[a.n - i] = "${xargs}";
            xf[a.n - i] = SH_W_DYNAMIC;
            wargv inner = {xv, xf, a.n - i + 1};
            unwrap_argv(st, inner, flags, home_over, wrappers, wcap, from, pipein);
            free(xv);
            free(xf);
            free(home_owned);
            free(dirbuf);
            return;
        }
        if (!strcmp(name, "watch")) {
            static const char *const v[] = {"-n", "--interval", "-d", "-q", NULL};
            int i = skip_opts(&a, 1, v);
            add_wrapper(wrappers, wcap, "watch");
            if (i >= a.n) break;
            /* watch joins its arguments and runs them through sh -c */
            size_t tl = 1;
            for (int k = i; k < a.n; k++)
                tl += strlen(a.v[k]) + 1;
            char *text = xmalloc(tl);
            text[0] = 0;
            for (int k = i; k < a.n; k++) {
                if (k > i) strcat(text, " ");
                strcat(text, a.v[k]);
            }
            unwrap_text(st, text, flags, home_over, wrappers);
            free(text);
            free(home_owned);
            free(dirbuf);
            return;
        }
        if (!strcmp(name, "su")) {
            flags |= GF_ELEVATED;
            add_wrapper(wrappers, wcap, "su");
            for (int k = 1; k + 1 < a.n; k++)
                if (!strcmp(a.v[k], "-c") || !strcmp(a.v[k], "--command")) {
                    if (a.f[k + 1] & SH_W_DYNAMIC) flags |= GF_EVAL;
                    unwrap_text(st, a.v[k + 1], flags, home_over, wrappers);
                    free(home_owned);
                    free(dirbuf);
                    return;
                }
            break;
        }
        if (!strcmp(name, "eval")) {
            add_wrapper(wrappers, wcap, "eval");
            size_t tl = 1;
            int dyn = 0;
            for (int k = 1; k < a.n; k++) {
                tl += strlen(a.v[k]) + 1;
                if (a.f[k] & SH_W_DYNAMIC) dyn = 1;
            }
            if (a.n > 1) {
                char *text = xmalloc(tl);
                text[0] = 0;
                for (int k = 1; k < a.n; k++) {
                    if (k > 1) strcat(text, " ");
                    strcat(text, a.v[k]);
                }
                unwrap_text(st, text, flags | GF_EVAL, home_over, wrappers);
                free(text);
            }
            if (dyn || a.n == 1) {
                g_cmd *c = gu_add(st->out, (char *const *)a.v, a.f, a.n, st->cwd);
                if (c) {
                    c->flags = flags | GF_EVAL;
                    snprintf(c->wrappers, sizeof c->wrappers, "%s", wrappers);
                }
            }
            free(home_owned);
            free(dirbuf);
            return;
        }
        if (is_one_of(name, shells)) {
            /* sh [-opts] -c TEXT [NAME ARGS]; sh FILE ARGS; sh (stdin) */
            int i = 1, has_c = 0;
            while (i < a.n) {
                const char *w = a.v[i];
                if (!strcmp(w, "--") || !strcmp(w, "-")) {
                    i++;
                    break;
                }
                if ((w[0] != '-' && w[0] != '+') || !w[1]) break;
                if (!strcmp(w, "-o") || !strcmp(w, "+o") || !strcmp(w, "-O") || !strcmp(w, "+O") ||
                    !strcmp(w, "--rcfile") || !strcmp(w, "--init-file")) {
                    i += 2;
                    continue;
                }
                if (w[0] == '-' && w[1] != '-' && strchr(w + 1, 'c')) has_c = 1;
                if (!strcmp(w, "--command")) has_c = 1;
                i++;
            }
            if (has_c) {
                add_wrapper(wrappers, wcap, name);
                if (i >= a.n) break; /* sh -c without text: an error */
                if (a.f[i] & SH_W_DYNAMIC) {
                    /* sh -c "$(curl ...)" / sh -c "$X": text known only when it runs */
                    g_cmd *c = gu_add(st->out, (char *const *)a.v, a.f, a.n, st->cwd);
                    if (c) {
                        c->flags = flags | GF_EVAL;
                        snprintf(c->wrappers, sizeof c->wrappers, "%s", wrappers);
                    }
                }
                unwrap_text(st, a.v[i], flags, home_over, wrappers);
                free(home_owned);
                free(dirbuf);
                return;
            }
            break; /* a script file or stdin: the policy decides (interpreter rules) */
        }
        if (!strcmp(name, "find")) {
            /* find PATHS... EXPR: -exec/-execdir/-ok/-okdir CMD ... ; or +, -delete */
            int i = 1;
            while (i < a.n &&
                   (a.v[i][0] == '-' &&
                    (a.v[i][1] == 'H' || a.v[i][1] == 'L' || a.v[i][1] == 'P') && !a.v[i][2]))
                i++;
            int p0 = i;
            while (i < a.n && a.v[i][0] != '-' && strcmp(a.v[i], "(") && strcmp(a.v[i], "!") &&
                   strcmp(a.v[i], ")"))
                i++;
            int p1 = i; /* start paths: [p0, p1) */
            static const char *const dotv[] = {"."};
            static const unsigned dotf[] = {0};
            const char *const *paths = p1 > p0 ? a.v + p0 : dotv;
            const unsigned *pathf = p1 > p0 ? a.f + p0 : dotf;
            int npaths = p1 > p0 ? p1 - p0 : 1;
            if (npaths > 64) { /* each start path repeats the -exec command: keep it bounded */
                npaths = 64;
                st->out->parse_error = 1;
                snprintf(st->out->errmsg, sizeof st->out->errmsg,
                         "find with more than 64 start paths");
            }
            int tests = 0;
            /* the find itself (without the commands it runs) */
            g_cmd *fc = gu_add(st->out, (char *const *)a.v, a.f, p1, st->cwd);
            if (fc) {
                fc->flags = flags;
                snprintf(fc->wrappers, sizeof fc->wrappers, "%s", wrappers);
            }
            for (int k = p1; k < a.n; k++) {
                const char *w = a.v[k];
                if (!strcmp(w, "-name") || !strcmp(w, "-iname") || !strcmp(w, "-path") ||
                    !strcmp(w, "-ipath") || !strcmp(w, "-regex") || !strcmp(w, "-type") ||
                    !strcmp(w, "-newer") || !strcmp(w, "-mtime") || !strcmp(w, "-mmin") ||
                    !strcmp(w, "-size") || !strcmp(w, "-user") || !strcmp(w, "-perm") ||
                    !strcmp(w, "-empty") || !strcmp(w, "-wholename") || !strcmp(w, "-links"))
                    tests = 1;
                if (!strcmp(w, "-exec") || !strcmp(w, "-execdir") || !strcmp(w, "-ok") ||
                    !strcmp(w, "-okdir")) {
                    int s = k + 1, e = s;
                    while (e < a.n && strcmp(a.v[e], ";") && strcmp(a.v[e], "+"))
                        e++;
                    if (e > s) {
                        /* the command, once per start path, with {} replaced by that path */
                        for (int pi = 0; pi < npaths; pi++) {
                            int n = e - s;
                            const char **v = xcalloc((size_t)n + 1, sizeof(char *));
                            unsigned *f = xcalloc((size_t)n + 1, sizeof(unsigned));
                            char **owned = xcalloc((size_t)n + 1, sizeof(char *));
                            for (int q = 0; q < n; q++) {
                                const char *src = a.v[s + q];
                                const char *br = strstr(src, "{}");
                                f[q] = a.f[s + q];
                                if (br) {
                                    /* with tests, {} is something under the start path */
                                    const char *sfx = tests ? "/*" : "";
                                    size_t L = strlen(src) + strlen(paths[pi]) + 3;
                                    owned[q] = xmalloc(L);
                                    snprintf(owned[q], L, "%.*s%s%s%s", (int)(br - src), src,
                                             paths[pi], sfx, br + 2);
                                    f[q] |= pathf[pi] | (tests ? (unsigned)SH_W_GLOB : 0u);
                                    v[q] = owned[q];
                                } else
                                    v[q] = src;
                            }
                            wargv sub = {v, f, n};
                            char w2[128];
                            snprintf(w2, sizeof w2, "%s", wrappers);
                            add_wrapper(w2, sizeof w2, "find");
                            char *save = st->cwd ? xstrdup(st->cwd) : NULL;
                            unwrap_argv(st, sub, flags & ~(unsigned)GF_PIPED, home_over, w2,
                                        sizeof w2, "", 0);
                            free(st->cwd);
                            st->cwd = save;
                            for (int q = 0; q < n; q++)
                                free(owned[q]);
                            free(owned);
                            free(v);
                            free(f);
                        }
                    }
                    k = e;
                    continue;
                }
                if (!strcmp(w, "-delete") || !strcmp(w, "-fprint") || !strcmp(w, "-fprintf") ||
                    !strcmp(w, "-fls")) {
                    int del = !strcmp(w, "-delete");
                    for (int pi = 0; pi < npaths; pi++) {
                        const char *v[3];
                        unsigned f[3] = {0, 0, pathf[pi]};
                        int n = 0;
                        char under[PATH_MAX];
                        if (del) {
                            v[n++] = "rm";
                            if (!tests) {
                                v[n++] = "-r";
                                v[n++] = paths[pi];
                                f[n - 1] = pathf[pi];
                            } else {
                                /* with tests: some entries under the start path */
                                v[n++] = "-f";
                                snprintf(under, sizeof under, "%s/*", paths[pi]);
                                v[n++] = under;
                                f[n - 1] = pathf[pi] | SH_W_GLOB;
                            }
                        } else if (k + 1 < a.n) {
                            v[n++] = ">";
                            v[n++] = a.v[k + 1];
                            f[1] = a.f[k + 1];
                        }
                        if (n == 0) continue;
                        g_cmd *c = gu_add(st->out, (char *const *)v, f, n, st->cwd);
                        if (c) {
                            c->flags = flags | (del ? 0 : GF_REDIR);
                            snprintf(c->wrappers, sizeof c->wrappers, "%s%sfind", wrappers,
                                     wrappers[0] ? " " : "");
                        }
                        if (!del) break;
                    }
                }
            }
            free(home_owned);
            free(dirbuf);
            return;
        }
        if (!strcmp(name, "cd") || !strcmp(name, "pushd") || !strcmp(name, "chdir")) {
            int i = 1;
            while (i < a.n && a.v[i][0] == '-' && a.v[i][1] && strcmp(a.v[i], "-"))
                i++;
            if (i < a.n)
                set_cwd(st, a.v[i], a.f[i], home_over);
            else
                set_cwd(st, "", 0, home_over);
            break;
        }
        if (!strcmp(name, "popd")) {
            free(st->cwd);
            st->cwd = NULL;
            break;
        }
        /* not a wrapper: the command itself */
        if (name != prog) {
            /* known by its name; keep argv[0] as the name for matching */
            const char **v = xcalloc((size_t)a.n + 1, sizeof(char *));
            memcpy(v, a.v, (size_t)a.n * sizeof(char *));
            v[0] = name;
            g_cmd *c = gu_add(st->out, (char *const *)v, a.f, a.n, dirbuf ? dirbuf : st->cwd);
            free(v);
            if (c) {
                c->flags = flags;
                snprintf(c->wrappers, sizeof c->wrappers, "%s", wrappers);
                snprintf(c->from, sizeof c->from, "%s", from ? from : "");
                c->pipein = pipein;
                c->home = home_over ? xstrdup(home_over) : NULL;
            }
            free(home_owned);
            free(dirbuf);
            return;
        }
        break;
    }
    if (a.n > 0) {
        const char **v = xcalloc((size_t)a.n + 1, sizeof(char *));
        memcpy(v, a.v, (size_t)a.n * sizeof(char *));
        if (strchr(v[0], '/') && !(a.f[0] & SH_W_DYNAMIC)) v[0] = base_name(v[0]);
        g_cmd *c = gu_add(st->out, (char *const *)v, a.f, a.n, dirbuf ? dirbuf : st->cwd);
        free(v);
        if (c) {
            c->flags = flags;
            snprintf(c->wrappers, sizeof c->wrappers, "%s", wrappers);
            snprintf(c->from, sizeof c->from, "%s", from ? from : "");
            c->pipein = pipein;
            c->home = home_over ? xstrdup(home_over) : NULL;
        }
    }
    free(home_owned);
    free(dirbuf);
}

/* The name of the last effective command emitted since index `mark` (what a pipe reads from). */
static void last_name(const g_cmdlist *l, int mark, char *out, size_t cap, unsigned *cls) {
    out[0] = 0;
    for (int i = l->n - 1; i >= mark; i--)
        if (!(l->c[i].flags & GF_REDIR)) {
            snprintf(out, cap, "%s", l->c[i].argv[0]);
            break;
        }
    (void)cls;
}

static void unwrap_script(uw_state *st, sh_script *s, int first, unsigned inherit, const char *home,
                          const char *wrappers) {
    /* per parsed command: the effective program name and the path classes it reads, so a
     * command reading from a pipe knows what feeds it */
    int n = s->n;
    char(*names)[64] = xcalloc((size_t)n + 1, sizeof *names);
    unsigned *reads = xcalloc((size_t)n + 1, sizeof(unsigned));
    for (int ci = first; ci < n; ci++) {
        sh_cmd *sc = &s->c[ci];
        int mark = st->out->n;
        unsigned flags = inherit;
        if (sc->subst) flags |= GF_SUBST;
        if (sc->piped) flags |= GF_PIPED;
        char from[64] = "";
        unsigned pipein = 0;
        if (sc->piped && sc->pipe_prev >= 0 && sc->pipe_prev < n) {
            snprintf(from, sizeof from, "%s", names[sc->pipe_prev]);
            pipein = reads[sc->pipe_prev];
        }
        /* input redirections: what stdin reads */
        for (int r = 0; r < sc->nr; r++) {
            sh_redir *rd = &sc->r[r];
            if (rd->kind == SH_R_HEREDOC || rd->kind == SH_R_HERESTR) {
                if (rd->fd == 0 || rd->fd < 0) flags |= GF_HEREDOC;
            }
            if (rd->kind == SH_R_IN && (rd->fd <= 0)) {
                char res[PATH_MAX];
                pipein |=
                    gp_classify(st->g, st->cwd, rd->target.s, rd->target.flags, res, sizeof res) &
                    (GP_CREDENTIAL | GP_PROTECTED | GP_PERSISTENCE);
            }
        }
        /* leading assignments: HOME=x changes ~ for wrapped shells */
        const char *home_here = home;
        for (int k = 0; k < sc->na; k++)
            if (!strncmp(sc->assign[k].s, "HOME=", 5))
                home_here = (sc->assign[k].flags & SH_W_DYNAMIC) ? NULL : sc->assign[k].s + 5;
        /* leading NAME=value words (and assignment-only commands) as "export NAME=value" */
        for (int k = 0; k < sc->na; k++) {
            const char *v[2] = {"export", sc->assign[k].s};
            unsigned f[2] = {0, sc->assign[k].flags};
            g_cmd *c = gu_add(st->out, (char *const *)v, f, 2, st->cwd);
            if (c) {
                c->flags = flags;
                snprintf(c->wrappers, sizeof c->wrappers, "%s", wrappers ? wrappers : "");
            }
        }
        if (sc->nw > 0) {
            wargv a;
            a.n = sc->nw;
            a.v = xcalloc((size_t)a.n + 1, sizeof(char *));
            a.f = xcalloc((size_t)a.n + 1, sizeof(unsigned));
            for (int k = 0; k < a.n; k++) {
                a.v[k] = sc->w[k].s;
                a.f[k] = sc->w[k].flags;
            }
            char wr[128];
            snprintf(wr, sizeof wr, "%s", wrappers ? wrappers : "");
            const char **vfree = a.v;
            unsigned *ffree = a.f;
            /* a here-document into a shell is a script: parse its body */
            int shell_heredoc = 0;
            for (int r = 0; r < sc->nr; r++)
                if ((sc->r[r].kind == SH_R_HEREDOC || sc->r[r].kind == SH_R_HERESTR) && a.n >= 1) {
                    const char *b = base_name(a.v[0]);
                    if (!strcmp(b, "sh") || !strcmp(b, "bash") || !strcmp(b, "zsh") ||
                        !strcmp(b, "dash") || !strcmp(b, "ksh")) {
                        char w3[128];
                        snprintf(w3, sizeof w3, "%s", wr);
                        add_wrapper(w3, sizeof w3, b);
                        unwrap_text(st, sc->r[r].target.s, flags, home_here, w3);
                        shell_heredoc = 1;
                    }
                }
            (void)shell_heredoc;
            unwrap_argv(st, a, flags, home_here, wr, sizeof wr, from, pipein);
            free(vfree);
            free(ffree);
        }
        /* redirections as pseudo-commands */
        for (int r = 0; r < sc->nr; r++) {
            sh_redir *rd = &sc->r[r];
            const char *op = NULL;
            switch (rd->kind) {
            case SH_R_OUT:
            case SH_R_APPEND:
            case SH_R_BOTH:
            case SH_R_BOTH_APP:
            case SH_R_INOUT:
                op = ">";
                break;
            case SH_R_IN:
                op = "<";
                break;
            default:
                break;
            }
            if (!op) continue;
            const char *v[2] = {op, rd->target.s};
            unsigned f[2] = {0, rd->target.flags};
            g_cmd *c = gu_add(st->out, (char *const *)v, f, 2, st->cwd);
            if (c) {
                c->flags = flags | GF_REDIR;
                snprintf(c->wrappers, sizeof c->wrappers, "%s", wrappers ? wrappers : "");
                if (op[0] == '<') {
                    char res[PATH_MAX];
                    reads[ci] |= gp_classify(st->g, st->cwd, rd->target.s, rd->target.flags, res,
                                             sizeof res);
                }
            }
        }
        last_name(st->out, mark, names[ci], sizeof names[ci], NULL);
        /* what this command reads (its path arguments) flows into a pipe after it */
        for (int k = mark; k < st->out->n; k++) {
            g_cmd *c = &st->out->c[k];
            if (c->flags & GF_REDIR) continue;
            for (int w = 1; w < c->argc; w++) {
                if (c->argv[w][0] == '-') continue;
                char res[PATH_MAX];
                reads[ci] |= gp_classify(st->g, c->cwd, c->argv[w], c->wf[w], res, sizeof res) &
                             (GP_CREDENTIAL | GP_PROTECTED | GP_PERSISTENCE);
            }
            reads[ci] |= c->pipein;
        }
        if (sc->piped && sc->pipe_prev >= 0) reads[ci] |= reads[sc->pipe_prev];
    }
    free(names);
    free(reads);
}

void gu_unwrap_text(const guard *g, const char *text, size_t len, const char *cwd, g_cmdlist *out) {
    sh_script s = {0};
    sh_parse(&s, text, len, 0, g->home);
    if (s.error) {
        out->parse_error = 1;
        snprintf(out->errmsg, sizeof out->errmsg, "%s", s.errmsg);
    }
    if (s.recursive_func) out->fork_bomb = 1;
    uw_state st = {g, out, cwd ? xstrdup(cwd) : NULL, 0, 0};
    unwrap_script(&st, &s, 0, 0, s.home, "");
    free(st.cwd);
    sh_script_free(&s);
}
