/* shell.h — a POSIX-ish shell parser for the guard: command text → a flat list of simple commands.
 *
 * The guard never runs a shell; it reads a command line the way a shell would, to see which
 * programs would run with which words. Quotes ('...', "...", $'...'), backslash escapes, `$VAR`
 * and `${VAR}` (expanded only where the value is known: $HOME, `~`, variables assigned earlier in
 * the same text), `$(...)`, backticks, `<(...)`/`>(...)`, `;` `&&` `||` `|` `&` newlines, groups
 * `( )` `{ }`, the reserved words of if/while/for, function definitions, redirections (`>`, `>>`,
 * `<`, `2>`, `&>`, `<>`, `>&`), here-documents and here-strings, comments. Commands inside
 * substitutions are listed too (they run). A word whose value is not known (an unknown variable,
 * a substitution) carries SH_W_DYNAMIC. What the parser cannot read (a `case`, an unterminated
 * quote, a limit) sets `error`; the commands read so far stay in the list.
 *
 * Bounded: input length, words, commands and nesting depth all have limits (SH_MAX_*). */
#ifndef HEARTH_GUARD_SHELL_H
#define HEARTH_GUARD_SHELL_H

#include <stddef.h>

#define SH_MAX_INPUT (64 * 1024) /* bytes of command text */
#define SH_MAX_DEPTH 24          /* nested substitutions, groups, sh -c levels */
#define SH_MAX_CMDS 512          /* simple commands in one text */
#define SH_MAX_WORDS 2048        /* words in one simple command */
#define SH_MAX_WORD (16 * 1024)  /* bytes in one word */

/* word flags */
#define SH_W_QUOTED 1u   /* some part of it was quoted or escaped */
#define SH_W_DYNAMIC 2u  /* its value is not known before it runs */
#define SH_W_GLOB 4u     /* unquoted * ? [ */
#define SH_W_SUBST 8u    /* holds a command substitution */
#define SH_W_PROCSUB 16u /* a process substitution <(...) or >(...) */

typedef struct {
    char *s; /* the value after quote removal and the known expansions (owned) */
    unsigned flags;
} sh_word;

typedef enum {
    SH_R_IN,       /* < */
    SH_R_OUT,      /* > and >| */
    SH_R_APPEND,   /* >> */
    SH_R_BOTH,     /* &> and >& FILE */
    SH_R_BOTH_APP, /* &>> */
    SH_R_INOUT,    /* <> */
    SH_R_DUP,      /* >&N, <&N, >&- */
    SH_R_HEREDOC,  /* << and <<- (target: the body) */
    SH_R_HERESTR   /* <<< */
} sh_redir_kind;

typedef struct {
    int fd; /* -1 when not written */
    sh_redir_kind kind;
    sh_word target;
} sh_redir;

typedef struct {
    sh_word *w; /* argv, after the leading assignments */
    int nw, capw;
    sh_word *assign; /* leading NAME=value words */
    int na, capa;
    sh_redir *r;
    int nr, capr;
    int piped;     /* stdin comes from the previous command's pipe */
    int pipe_prev; /* index of that command in the list, or -1 */
    int depth;     /* nesting: 0 at top level */
    int subst;     /* runs inside $(...), `...` or <(...) */
    int background;
    int func; /* inside the body of a function definition: index into funcs + 1, else 0 */
} sh_cmd;

typedef struct {
    sh_cmd *c;
    int n, cap;
    int error; /* set when something could not be parsed or a limit was hit */
    char errmsg[160];
    int recursive_func; /* a function calls itself from its own body (fork bomb shape) */
    char **funcs;       /* names of defined functions */
    int nfuncs;
    struct sh_var {
        char *name;
        char *value; /* NULL: assigned a value not known statically */
    } * vars;
    int nvars;
    char *home; /* the value of $HOME and ~ (owned), NULL when unknown */
} sh_script;

/* Parses src[0..len) into s (which must be zeroed or from a previous sh_parse, whose commands it
 * appends to); depth is the nesting of this text (0 at top level, >0 for `sh -c` text). home:
 * $HOME (NULL = unknown) used only when s->home is not set yet. Returns 0, or -1 with s->error
 * set (the commands parsed so far are kept). Never reads outside src[0..len). */
int sh_parse(sh_script *s, const char *src, size_t len, int depth, const char *home);
void sh_script_free(sh_script *s);

/* True when the text is a valid shell variable name (letters, digits, _; not starting with a
 * digit). */
int sh_is_name(const char *s, size_t n);

#endif
