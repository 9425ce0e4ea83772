/* sandbox.h — runs the agent's shell commands under bubblewrap (bwrap).
 *
 * The command runs as `/bin/sh -c COMMAND` in the workspace with: the whole file system
 * read-only (--ro-bind / /), the workspace read-write (--bind), a private /tmp, /dev and /proc,
 * every namespace unshared (no network unless share_net), --die-with-parent and --new-session
 * (no terminal injection), a clean environment, rlimits (CPU, address space, file size, open
 * files, processes, no core files), a wall-clock limit after which the process group is killed
 * (bwrap is the pid namespace's parent, so everything inside dies with it) and an output cap.
 * Without bwrap nothing runs unless the operator chose enabled = false (--no-sandbox). */
#ifndef HEARTH_AGENT_SANDBOX_H
#define HEARTH_AGENT_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef struct {
    bool enabled;          /* false: plain `sh -c` in the workspace (--no-sandbox) */
    bool share_net;        /* keep the network namespace (the policy allowed egress) */
    const char *workspace; /* resolved path; the only writable place */
    int timeout_s;         /* wall clock; 0: 120 */
    size_t max_output; /* bytes of stdout+stderr kept; 0: 64 KiB (the rest is counted, dropped) */
} sandbox_cfg;

typedef struct {
    char *output; /* stdout and stderr interleaved, NUL-terminated (owned) */
    size_t output_len;
    size_t output_total; /* bytes the command wrote (more than output_len when capped) */
    int exit_status;     /* the exit code, or 128 + the signal that ended it */
    bool timed_out;
    double seconds;
} sandbox_result;

/* Checks that bwrap exists and can build this sandbox here (a container without user
 * namespaces, a seccomp filter, ...). Returns 0, or -1 with a message saying so. */
int sandbox_probe(he_error *err);

/* Runs command. Returns 0 with *res filled (whatever the command's exit status), -1 when it could
 * not be started. Free res with sandbox_result_free. */
int sandbox_run(const sandbox_cfg *c, const char *command, sandbox_result *res, he_error *err);
void sandbox_result_free(sandbox_result *r);

#endif
