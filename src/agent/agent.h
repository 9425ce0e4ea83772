/* agent.h — `hearth agent`: a tool-calling loop against any OpenAI-compatible endpoint, with
 * every proposed action classified by the guard (guard/guard.h) before it runs.
 *
 * One session: the task goes to the model with the built-in tools' schemas (tools.h); the
 * streamed answer is shown as it comes; each tool call is checked by the guard — allow runs it
 * (commands in the sandbox, mutations snapshotted first), ask needs a person at a terminal (or a
 * category the operator pre-approved with --yes-to), deny never runs — and its result (or the
 * refusal) goes back to the model as a `tool` message. The session ends on an answer without
 * tool calls, at the step limit, or after 3 consecutive / 20 total refusals. Every action, the
 * start, the answer and the end are records in the hash-chained audit log (audit.h). See
 * docs/AGENT.md. */
#ifndef HEARTH_AGENT_AGENT_H
#define HEARTH_AGENT_AGENT_H

#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"

#define AGENT_MAX_HOSTS 16

/* Exit codes of a session (cmd_agent.c returns them). */
enum { AGENT_DONE = 0, AGENT_ERROR = 1, AGENT_STEP_LIMIT = 3, AGENT_DENIALS = 4 };

typedef struct {
    const char *url;       /* the endpoint, "http://host:port" or ".../v1" */
    const char *api_key;   /* Bearer key for the endpoint, or NULL */
    const char *model;     /* the request's "model"; NULL: the first of GET /v1/models */
    const char *workspace; /* the directory the agent works in (resolved here) */
    const char *policy;    /* the guard's policy file, or NULL for the default */
    const char *state_dir; /* sessions (snapshots) live under STATE/sessions/ID */
    const char *log_path;  /* the audit log */
    const char *yes_to;    /* comma-separated guard categories whose "ask" is pre-approved */
    const char *const *http_hosts; /* --allow-http hosts (http_get; commands keep no network) */
    int n_http_hosts;
    const char *index_db; /* --index DB: offer search_context over this `hearth index` database */
    bool dry_run;    /* classify and log, never run */
    bool no_sandbox; /* run commands without bubblewrap (operator's explicit choice) */
    bool allow_net; /* commands keep the network (--allow-net); the guard still classifies egress */
    bool interactive;        /* a person can answer "ask" (stdin and stderr are terminals) */
    bool second_opinion;     /* ask the model for a JSON-schema judgement of each allow/ask verdict;
                                it may only raise the decision (logged with decider "model") */
    const char *tool_choice; /* "auto" (NULL) or "required": every turn must call a tool */
    const char
        *extra_body;   /* a JSON object merged into every chat request (--extra-body), or NULL */
    int max_steps;     /* actions per session; 0: 30 */
    int max_tokens;    /* per model turn; 0: 2048 */
    int cmd_timeout_s; /* run_command's wall clock; 0: 120 */
    FILE *out;         /* what the model says and does (stdout) */
} agent_config;

/* Runs one session for task. Returns an exit code (AGENT_*); err is filled for AGENT_ERROR. */
int agent_run(const agent_config *c, const char *task, he_error *err);

/* Puts back what a session changed: every snapshotted step from the last one down (step 0), or
 * one step. session NULL: the last session_start in the log (else STATE/last-session). The undo
 * is itself logged. */
int agent_undo(const char *state_dir, const char *log_path, const char *session, int step,
               FILE *out, he_error *err);

/* $HEARTH_HOME/agent, else ~/.local/share/hearth/agent (out: PATH_MAX). */
int agent_default_state_dir(char *out, size_t cap, he_error *err);

#endif
