/* tools.h — the agent's built-in tools: their JSON schemas (what the model is offered) and
 * their implementations. Every argument comes from the model and is untrusted: types are
 * checked, sizes are bounded, paths are resolved (symlinks followed for the part that exists)
 * before use. Whether a call may run at all is the guard's decision (agent loop); the tools
 * themselves keep two rules of their own: write_file and edit_file change only files inside
 * the workspace unless a person approved the call, and http_get reaches only the hosts the
 * operator allowed. */
#ifndef HEARTH_AGENT_TOOLS_H
#define HEARTH_AGENT_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "agent/sandbox.h"
#include "base/error.h"

#define TOOL_MAX_FILE ((size_t)4 << 20)    /* bytes read_file/edit_file will load */
#define TOOL_MAX_RESULT ((size_t)64 << 10) /* bytes of one result sent back to the model */

typedef struct {
    const char *workspace;         /* resolved (realpath) */
    sandbox_cfg sandbox;           /* run_command */
    const char *const *http_hosts; /* http_get may reach these hosts (exact names) */
    int n_http_hosts;
    /* search_context: `hearth search QUERY --db index_db --json` run as a child of this
     * executable (the agent module does not link the engine); NULL: the tool is not offered */
    const char *index_db;
} agent_tools;

typedef struct {
    char *text;      /* what the model is told (owned, NUL-terminated) */
    int exit_status; /* run_command's; -1 for the other tools */
    bool ok;         /* false: the tool failed (bad arguments, missing file, ...) */
    bool truncated;
} tool_result;

/* The "tools" array of a chat request: one function per built-in (http_get only when hosts are
 * allowed). New reference. */
json_t *agent_tools_schema(const agent_tools *t);
bool agent_tool_known(const char *name);
/* True for the tools that change files (snapshotted first). */
bool agent_tool_mutates(const char *name);

/* Resolves a path argument: "~" and "~/x" against $HOME, relative paths against the
 * workspace, symlinks and ".." resolved for the part that exists (what does not exist yet may
 * not contain "." or ".." components). */
int agent_path_resolve(const char *workspace, const char *arg, char *out, size_t cap,
                       he_error *err);
bool agent_path_inside(const char *dir, const char *path);

/* edit_file's rule: old must occur in text exactly once (and be non-empty); *out is text with
 * that occurrence replaced by repl (owned). Fails naming the count when it is 0 or more than 1. */
int agent_edit_apply(const char *text, size_t len, const char *old, const char *repl, char **out,
                     size_t *out_len, he_error *err);

/* A unified diff (one hunk, 3 lines of context) from a to b, labelled with path; "" when equal.
 * Owned; capped at TOOL_MAX_RESULT bytes. */
char *agent_diff(const char *path, const char *a, size_t alen, const char *b, size_t blen);

/* What a call would do, for a person deciding on it: the resolved path and, for write_file and
 * edit_file, the diff. Owned text, or NULL when the arguments are unusable. */
char *agent_tool_preview(const agent_tools *t, const char *tool, const json_t *args);

/* The path a file mutation changes (resolved), for its snapshot; -1 when the arguments have none.
 */
int agent_tool_target(const agent_tools *t, const char *tool, const json_t *args, char *out,
                      size_t cap);

/* Runs one call (the guard has already allowed it). outside_ok: a person approved it, so
 * write_file/edit_file may change a file outside the workspace. Always fills *r. */
void agent_tool_run(const agent_tools *t, const char *tool, const json_t *args, bool outside_ok,
                    tool_result *r);
void tool_result_free(tool_result *r);

#endif
