/* guard_internal.h — what the guard's files share: path classes (paths.c), the policy as data
 * (policy.c), the effective commands that unwrapping produces (unwrap.c) and the guard handle. */
#ifndef HEARTH_GUARD_INTERNAL_H
#define HEARTH_GUARD_INTERNAL_H

#include <stddef.h>

#include "base/error.h"
#include "guard/guard.h"
#include "guard/shell.h"

/* ---- Path classes (a bit mask: a path can be several) ---- */
enum {
    GP_ROOT = 1u << 0,        /* "/" itself */
    GP_HOME = 1u << 1,        /* $HOME itself */
    GP_ANCESTOR = 1u << 2,    /* a directory that holds the workspace (its parent, ...) */
    GP_WORKSPACE = 1u << 3,   /* the workspace directory itself */
    GP_INSIDE = 1u << 4,      /* strictly inside the workspace */
    GP_OUTSIDE = 1u << 5,     /* neither the workspace nor inside it */
    GP_PROTECTED = 1u << 6,   /* .git internals, the policy file, the audit log, the store */
    GP_CREDENTIAL = 1u << 7,  /* keys, tokens, cloud credentials (policy `path credential`) */
    GP_PERSISTENCE = 1u << 8, /* shell rc files, cron, systemd units, authorized_keys */
    GP_DEVICE = 1u << 9,      /* a device node other than null/zero/tty/random */
    GP_SYSTEM = 1u << 10,     /* system directories (policy `path system`) */
    GP_HARDLINK = 1u << 11,   /* a regular file inside with other links (maybe outside) */
    GP_DYNAMIC = 1u << 12,    /* not known before it runs ($VAR, $(...), unknown cwd) */
    GP_DIRTREE = 1u << 13     /* a directory that exists (a recursive operation takes a tree) */
};
#define GP_NCLASSES 14

/* "root", "home", ... for bit i; parses a name into its bit (0 when unknown). */
const char *gp_class_name(int bit);
unsigned gp_class_parse(const char *name, size_t n);

typedef struct guard_s_policy g_policy;

/* ---- The policy (policy.c) ---- */
enum {
    GC_SUB,
    GC_SUB2,
    GC_FLAG,
    GC_ARG,
    GC_TARGET,
    GC_FIRST,
    GC_DEST,
    GC_VAL,
    GC_PATH,
    GC_NOPOS,
    GC_PIPED,
    GC_FROM,
    GC_PIPEIN,
    GC_REMOTE,
    GC_ALLOWED_HOSTS,
    GC_SQL,
    GC_DYNAMIC,
    GC_ELEVATED,
    GC_EVAL,
    GC_WSPROG,
    GC_DYNPROG,
    GC_RECURSIVE
};

typedef struct {
    int kind;
    int neg;
    char *key;   /* GC_VAL / GC_PATH: the option ("-m", "--output") or key ("of") */
    char **vals; /* alternatives: globs, flags, SQL kinds */
    int nvals;
    unsigned mask; /* class conditions */
} g_cond;

typedef struct {
    guard_decision decision;
    char id[64];
    char category[32];
    char reason[256];
    char **progs; /* "*" matches any */
    int nprogs;
    g_cond *conds;
    int nconds;
    int layer; /* 0: the built-in default policy; 1: the operator's file */
    int line;
} g_rule;

struct guard_s_policy {
    g_rule *rules;
    int nrules;
    struct {
        unsigned cls;
        char *pat;
    } * paths;
    int npaths;
    char **hosts;
    int nhosts;
    struct {
        char *prog;
        char **opts; /* options of prog that take a value */
        int nopts;
    } * optspecs;
    int noptspecs;
    struct {
        char *name;
        char **vals;
        int nvals;
    } * sets;
    int nsets;
    int no_defaults; /* the operator's file said `defaults off` */
};

extern const char guard_default_policy[];

/* Parses policy text into pol (appending; layer 0 or 1). name: for messages. */
int gpol_parse(g_policy *pol, const char *text, size_t len, int layer, const char *name,
               he_error *err);
void gpol_free(g_policy *pol);
int gpol_host_allowed(const g_policy *pol, const char *host);

/* ---- The guard handle ---- */
struct guard {
    char *ws;    /* realpath of the workspace */
    char *home;  /* $HOME (realpath when it exists) */
    char **prot; /* protected paths (resolved) */
    int nprot;
    g_policy pol;
    struct {
        char *name;
        guard_decision d;
    } * tools;
    int ntools;
};

/* ---- Paths (paths.c) ---- */
/* Resolves path (absolute, or relative to cwd) the way the kernel would at this moment: every
 * existing component's symlinks followed (40 at most), '.' and '..' applied, the part that does
 * not exist yet appended lexically. out: PATH_MAX bytes. Returns 0, -1 when it cannot. */
int gp_resolve(const char *cwd, const char *path, char *out, size_t cap);
/* Classes of one word used as a path from cwd (NULL: unknown). resolved gets the resolved path
 * ("" when dynamic). */
unsigned gp_classify(const guard *g, const char *cwd, const char *word, unsigned wflags,
                     char *resolved, size_t cap);
/* 1 when path is dir or inside it (both resolved, absolute). */
int gp_under(const char *path, const char *dir);

/* ---- Effective commands (unwrap.c) ---- */
#define GF_ELEVATED 1u /* sudo/doas/su/pkexec */
#define GF_PIPED 2u    /* stdin from a pipe */
#define GF_HEREDOC 4u  /* stdin from a here-document or here-string */
#define GF_EVAL 8u     /* text built at run time and run as code (eval, sh -c "$x") */
#define GF_XARGS 16u   /* more arguments come from stdin (xargs) */
#define GF_WSPROG 32u  /* the program is a file inside the workspace */
#define GF_DYNPROG 64u /* the program name is not known */
#define GF_SUBST 128u  /* runs inside a substitution */
#define GF_REDIR 256u  /* a pseudo-command for a redirection (">" or "<") */

typedef struct {
    char **argv;  /* argv[0]: the program's name (basename); owned */
    unsigned *wf; /* word flags per argv (SH_W_*) */
    int argc;
    char *cwd; /* owned; NULL when unknown */
    unsigned flags;
    char from[64];   /* program that feeds stdin through a pipe ("" none) */
    unsigned pipein; /* path classes of what feeds stdin */
    char wrappers[128];
    char *home; /* $HOME for this command (owned; NULL = unknown) */
} g_cmd;

typedef struct {
    g_cmd *c;
    int n, cap;
    int parse_error;
    char errmsg[160];
    int fork_bomb;
} g_cmdlist;

/* Parses and unwraps a command line run from cwd into effective commands. Never fails: what it
 * cannot read sets parse_error. */
void gu_unwrap_text(const guard *g, const char *text, size_t len, const char *cwd, g_cmdlist *out);
/* Adds one effective command with the given argv (copied). */
g_cmd *gu_add(g_cmdlist *l, char *const *argv, const unsigned *wf, int argc, const char *cwd);
void gu_list_free(g_cmdlist *l);

/* ---- Evaluation (policy.c) ---- */
typedef struct {
    const g_rule *rule; /* NULL: no rule matched */
    guard_decision decision;
} g_match;

/* Finds the deciding rule for one effective command. */
g_match gpol_eval(const guard *g, const g_cmd *c);

#endif
