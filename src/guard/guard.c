/* guard.c — guard_new / guard_check: one action (tool + arguments) → allow, ask or deny.
 *
 * run_command is parsed as shell and unwrapped (unwrap.c) into effective commands; every other
 * tool becomes one pseudo-command "tool:NAME" with its path or URL as the argument, so the same
 * policy rules (policy.c) decide every action. A compound command takes the most severe decision
 * of its parts; what cannot be parsed is at least ask; a fork bomb is denied. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "guard/guard_internal.h"

#define GUARD_MAX_POLICY (1 << 20)

const char *guard_decision_name(guard_decision d) {
    switch (d) {
    case GUARD_ALLOW:
        return "allow";
    case GUARD_ASK:
        return "ask";
    case GUARD_DENY:
        return "deny";
    }
    return "ask";
}

static void add_protected(guard *g, const char *path) {
    char res[PATH_MAX];
    if (!path || !path[0]) return;
    if (gp_resolve(g->ws, path, res, sizeof res) < 0) return;
    if (!strcmp(res, "/")) return; /* protecting "/" would make everything protected */
    g->prot = xrealloc(g->prot, (size_t)(g->nprot + 1) * sizeof(char *));
    g->prot[g->nprot++] = xstrdup(res);
}

void guard_add_protected(guard *g, const char *path) {
    if (g) add_protected(g, path);
}

void guard_declare_tool(guard *g, const char *name, guard_decision d) {
    if (!g || !name) return;
    for (int i = 0; i < g->ntools; i++)
        if (!strcmp(g->tools[i].name, name)) {
            g->tools[i].d = d;
            return;
        }
    g->tools = xrealloc(g->tools, (size_t)(g->ntools + 1) * sizeof *g->tools);
    g->tools[g->ntools].name = xstrdup(name);
    g->tools[g->ntools].d = d;
    g->ntools++;
}

static char *read_policy(const char *path, size_t *len, he_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        he_fail(err, HE_IO, "policy %s: cannot open", path);
        return NULL;
    }
    char *buf = xmalloc(GUARD_MAX_POLICY + 1);
    size_t n = fread(buf, 1, GUARD_MAX_POLICY + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        he_fail(err, HE_IO, "policy %s: read error", path);
        return NULL;
    }
    if (n > GUARD_MAX_POLICY) {
        free(buf);
        he_fail(err, HE_LIMIT, "policy %s: larger than %d bytes", path, GUARD_MAX_POLICY);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

guard *guard_new(const char *workspace, const char *policy_path, he_error *err) {
    if (!workspace) {
        he_fail(err, HE_INVALID, "guard: no workspace");
        return NULL;
    }
    char ws[PATH_MAX];
    if (!realpath(workspace, ws)) {
        he_fail(err, HE_INVALID, "guard: workspace %s: does not exist", workspace);
        return NULL;
    }
    struct stat st;
    if (stat(ws, &st) != 0 || !S_ISDIR(st.st_mode)) {
        he_fail(err, HE_INVALID, "guard: workspace %s: not a directory", workspace);
        return NULL;
    }
    if (!strcmp(ws, "/")) {
        he_fail(err, HE_INVALID, "guard: the workspace cannot be /");
        return NULL;
    }
    guard *g = xcalloc(1, sizeof *g);
    g->ws = xstrdup(ws);
    const char *home = getenv("HOME");
    if (home && home[0] == '/') {
        char hr[PATH_MAX];
        g->home = xstrdup(realpath(home, hr) ? hr : home);
    }
    if (gpol_parse(&g->pol, guard_default_policy, strlen(guard_default_policy), 0, "default policy",
                   err) < 0) {
        guard_free(g);
        return NULL;
    }
    if (policy_path) {
        size_t len = 0;
        char *text = read_policy(policy_path, &len, err);
        if (!text) {
            guard_free(g);
            return NULL;
        }
        int r = gpol_parse(&g->pol, text, len, 1, policy_path, err);
        free(text);
        if (r < 0) {
            guard_free(g);
            return NULL;
        }
        add_protected(g, policy_path);
    }
    /* the hearth store and hearth's own state (the audit log lives there by default) */
    const char *hh = getenv("HEARTH_HOME");
    if (hh && hh[0] == '/') add_protected(g, hh);
    if (g->home) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/.local/share/hearth", g->home);
        add_protected(g, p);
        snprintf(p, sizeof p, "%s/.local/state/hearth", g->home);
        add_protected(g, p);
        snprintf(p, sizeof p, "%s/.config/hearth", g->home);
        add_protected(g, p);
    }
    return g;
}

void guard_free(guard *g) {
    if (!g) return;
    free(g->ws);
    free(g->home);
    for (int i = 0; i < g->nprot; i++)
        free(g->prot[i]);
    free(g->prot);
    for (int i = 0; i < g->ntools; i++)
        free(g->tools[i].name);
    free(g->tools);
    gpol_free(&g->pol);
    free(g);
}

void guard_verdict_free(guard_verdict *v) {
    if (!v) return;
    json_decref(v->parsed);
    v->parsed = NULL;
}

static void set_verdict(guard_verdict *v, guard_decision d, const char *rule, const char *cat,
                        const char *reason) {
    v->decision = d;
    snprintf(v->rule, sizeof v->rule, "%s", rule);
    snprintf(v->category, sizeof v->category, "%s", cat);
    snprintf(v->reason, sizeof v->reason, "%s", reason);
}

/* JSON for one effective command: argv, cwd, wrappers, path classes, its own decision. */
static json_t *cmd_json(const guard *g, const g_cmd *c, const g_match *m, guard_decision d,
                        const char *rule) {
    json_t *o = json_object();
    json_t *argv = json_array();
    for (int i = 0; i < c->argc; i++)
        json_array_append_new(argv, json_string(c->argv[i]));
    json_object_set_new(o, "argv", argv);
    json_object_set_new(o, "cwd", c->cwd ? json_string(c->cwd) : json_null());
    if (c->wrappers[0]) json_object_set_new(o, "wrappers", json_string(c->wrappers));
    if (c->from[0]) json_object_set_new(o, "stdin_from", json_string(c->from));
    json_t *paths = json_array();
    for (int i = 1; i < c->argc && i < 64; i++) {
        const char *w = c->argv[i];
        if (w[0] == '-' && !(c->flags & GF_REDIR)) continue;
        char res[PATH_MAX];
        unsigned cls =
            gp_classify(g, c->cwd, w[0] == '@' && w[1] ? w + 1 : w, c->wf[i], res, sizeof res);
        if (!(cls & ~(unsigned)(GP_INSIDE | GP_DIRTREE)) && !(c->flags & GF_REDIR) &&
            !strchr(w, '/'))
            continue; /* a plain word: not shown as a path */
        json_t *p = json_object();
        json_object_set_new(p, "arg", json_string(w));
        json_object_set_new(p, "resolved", res[0] ? json_string(res) : json_null());
        json_t *cl = json_array();
        for (int b = 0; b < GP_NCLASSES; b++)
            if (cls & (1u << b)) json_array_append_new(cl, json_string(gp_class_name(b)));
        json_object_set_new(p, "class", cl);
        json_array_append_new(paths, p);
    }
    json_object_set_new(o, "paths", paths);
    json_t *fl = json_array();
    static const char *const fnames[] = {
        "elevated",          "piped",           "heredoc",      "eval",       "xargs",
        "workspace-program", "dynamic-program", "substitution", "redirection"};
    for (int b = 0; b < 9; b++)
        if (c->flags & (1u << b)) json_array_append_new(fl, json_string(fnames[b]));
    json_object_set_new(o, "flags", fl);
    json_object_set_new(o, "decision", json_string(guard_decision_name(d)));
    json_object_set_new(o, "rule", json_string(rule));
    (void)m;
    return o;
}

/* Decides over a list of effective commands; fills out and out->parsed["commands"]. */
static void decide_list(const guard *g, const g_cmdlist *l, guard_verdict *out, json_t *parsed) {
    json_t *cmds = json_array();
    int have = 0;
    for (int i = 0; i < l->n; i++) {
        const g_cmd *c = &l->c[i];
        g_match m = gpol_eval(g, c);
        guard_decision d;
        const char *rule, *cat, *reason;
        char rbuf[256];
        if (m.rule) {
            d = m.decision;
            rule = m.rule->id;
            cat = m.rule->category;
            reason = m.rule->reason[0] ? m.rule->reason : m.rule->id;
        } else if (!strncmp(c->argv[0], "tool:", 5)) {
            d = GUARD_ASK;
            rule = "unknown-tool";
            cat = "unknown";
            const char *tn = c->argv[0] + 5;
            for (int k = 0; k < g->ntools; k++)
                if (!strcmp(g->tools[k].name, tn)) {
                    d = g->tools[k].d;
                    rule = "declared-tool";
                    cat = "declared";
                }
            snprintf(rbuf, sizeof rbuf, "%s tool '%s'",
                     !strcmp(rule, "declared-tool") ? "the declared risk of" : "no rule knows the",
                     tn);
            reason = rbuf;
        } else {
            d = GUARD_ASK;
            rule = "unknown-command";
            cat = "unknown";
            snprintf(rbuf, sizeof rbuf, "no rule knows the program '%.200s'", c->argv[0]);
            reason = rbuf;
        }
        json_array_append_new(cmds, cmd_json(g, c, &m, d, rule));
        if (!have || d > out->decision) {
            set_verdict(out, d, rule, cat, reason);
            have = 1;
        }
    }
    json_object_set_new(parsed, "commands", cmds);
    if (!have) set_verdict(out, GUARD_ALLOW, "empty", "none", "the command runs nothing");
    if (l->parse_error && out->decision < GUARD_ASK) {
        char reason[256];
        snprintf(reason, sizeof reason, "the command could not be fully parsed: %s", l->errmsg);
        set_verdict(out, GUARD_ASK, "unparsed", "unparsed", reason);
    }
    if (l->parse_error) json_object_set_new(parsed, "parse_error", json_string(l->errmsg));
    if (l->fork_bomb) {
        set_verdict(out, GUARD_DENY, "fork-bomb", "catastrophic",
                    "a function that starts copies of itself exhausts the machine");
    }
}

/* The first of keys that is a string; "" for a string holding a NUL byte (the path a C program
 * would open is not the one the JSON names). */
static const char *str_arg(const json_t *args, const char *const *keys) {
    for (; *keys; keys++) {
        json_t *v = json_object_get(args, *keys);
        if (json_is_string(v))
            return strlen(json_string_value(v)) == json_string_length(v) ? json_string_value(v)
                                                                         : "";
    }
    return NULL;
}

int guard_check(guard *g, const char *tool, const json_t *arguments, guard_verdict *out,
                he_error *err) {
    (void)err;
    memset(out, 0, sizeof *out);
    json_t *parsed = json_object();
    out->parsed = parsed;
    json_object_set_new(parsed, "tool", json_string(tool ? tool : ""));
    if (!tool || !tool[0]) {
        set_verdict(out, GUARD_ASK, "bad-action", "unparsed", "the action names no tool");
        return 0;
    }
    json_t *owned = NULL;
    if (json_is_string(arguments)) {
        /* OpenAI tool calls carry arguments as a JSON string */
        const char *s = json_string_value(arguments);
        owned = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
        arguments = owned;
    }
    if (arguments && !json_is_object(arguments)) arguments = NULL;
    json_t *emp = NULL;
    if (!arguments) {
        emp = json_object();
        arguments = emp;
    }
    g_cmdlist l = {0};
    char cwd[PATH_MAX];
    snprintf(cwd, sizeof cwd, "%s", g->ws);
    const char *cwd_arg =
        str_arg(arguments, (const char *const[]){"cwd", "workdir", "dir_cwd", NULL});
    if (cwd_arg && !strcmp(tool, "run_command")) {
        char res[PATH_MAX];
        if (gp_resolve(g->ws, cwd_arg, res, sizeof res) == 0) snprintf(cwd, sizeof cwd, "%s", res);
    }
    json_object_set_new(parsed, "workspace", json_string(g->ws));
    if (!strcmp(tool, "run_command")) {
        json_t *cmd = json_object_get(arguments, "command");
        if (!cmd) cmd = json_object_get(arguments, "cmd");
        if (json_is_string(cmd)) {
            const char *text = json_string_value(cmd);
            size_t len = json_string_length(cmd);
            json_object_set_new(parsed, "command", json_string(text));
            gu_unwrap_text(g, text, len, cwd, &l);
        } else if (json_is_array(cmd) && json_array_size(cmd) > 0 &&
                   json_array_size(cmd) <= SH_MAX_WORDS) {
            /* an argv: no shell; quote each word and read it the same way */
            size_t n = json_array_size(cmd), total = 1;
            int ok = 1;
            for (size_t i = 0; i < n; i++) {
                json_t *w = json_array_get(cmd, i);
                if (!json_is_string(w))
                    ok = 0;
                else
                    total += json_string_length(w) * 4 + 3;
            }
            if (ok && total <= SH_MAX_INPUT) {
                char *text = xmalloc(total);
                size_t k = 0;
                for (size_t i = 0; i < n; i++) {
                    const char *s = json_string_value(json_array_get(cmd, i));
                    if (i) text[k++] = ' ';
                    text[k++] = '\'';
                    for (; *s; s++) {
                        if (*s == '\'') {
                            memcpy(text + k, "'\\''", 4);
                            k += 4;
                        } else
                            text[k++] = *s;
                    }
                    text[k++] = '\'';
                }
                text[k] = 0;
                json_object_set_new(parsed, "command", json_string(text));
                gu_unwrap_text(g, text, k, cwd, &l);
                free(text);
            } else {
                l.parse_error = 1;
                snprintf(l.errmsg, sizeof l.errmsg, "command array is not a list of strings");
            }
        } else {
            set_verdict(out, GUARD_ASK, "bad-arguments", "unparsed",
                        "run_command needs a \"command\" string");
            goto done;
        }
        decide_list(g, &l, out, parsed);
        goto done;
    }
    /* every other tool: one pseudo-command tool:NAME [PATH or URL] */
    {
        char pname[96];
        snprintf(pname, sizeof pname, "tool:%.80s", tool);
        const char *arg = NULL;
        int need = 0;
        if (!strcmp(tool, "read_file") || !strcmp(tool, "write_file") ||
            !strcmp(tool, "edit_file") || !strcmp(tool, "list_dir") || !strcmp(tool, "search")) {
            arg = str_arg(arguments, (const char *const[]){"path", "file", "filename", "file_path",
                                                           "dir", "directory", NULL});
            if (!arg && (!strcmp(tool, "list_dir") || !strcmp(tool, "search"))) arg = ".";
            need = 1;
        } else if (!strcmp(tool, "http_get")) {
            arg = str_arg(arguments, (const char *const[]){"url", "uri", NULL});
            need = 1;
        }
        if (need && (!arg || !arg[0])) {
            set_verdict(out, GUARD_ASK, "bad-arguments", "unparsed",
                        "the tool's path or URL is missing");
            goto done;
        }
        char expanded[PATH_MAX];
        if (arg && strcmp(tool, "http_get") != 0 && arg[0] == '~' && (arg[1] == '/' || !arg[1])) {
            if (g->home)
                snprintf(expanded, sizeof expanded, "%s%s", g->home, arg + 1);
            else
                snprintf(expanded, sizeof expanded, "%s", arg);
            arg = expanded;
        }
        const char *v[2] = {pname, arg};
        unsigned f[2] = {0, (arg && arg[0] == '~') ? (unsigned)SH_W_DYNAMIC : 0u};
        g_cmd *c = gu_add(&l, (char *const *)v, f, arg ? 2 : 1, g->ws);
        if (c) c->home = g->home ? xstrdup(g->home) : NULL;
        decide_list(g, &l, out, parsed);
    }
done:
    gu_list_free(&l);
    json_decref(owned);
    json_decref(emp);
    return 0;
}

json_t *guard_verdict_json(const guard_verdict *v) {
    json_t *o = json_object();
    json_object_set_new(o, "decision", json_string(guard_decision_name(v->decision)));
    json_object_set_new(o, "rule", json_string(v->rule));
    json_object_set_new(o, "category", json_string(v->category));
    json_object_set_new(o, "reason", json_string(v->reason));
    json_object_set_new(o, "parsed", v->parsed ? json_incref(v->parsed) : json_null());
    return o;
}
