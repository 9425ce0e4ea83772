/* guard.h — the agent guard: classifies a proposed action before it runs.
 *
 * An action is a tool name plus its JSON arguments, exactly as a model proposed them
 * ({"tool": "run_command", "arguments": {"command": "rm -rf build"}}). The guard parses it (a
 * real shell tokenizer for commands, wrappers unwrapped, every path resolved against the
 * workspace) and answers one of three decisions. It has no HTTP and no model inside: the agent
 * loop, `hearth guard check` and the server's POST /v1/guard/check all call this one function.
 * The policy (rules as data, docs/AGENT.md) comes from a file the operator owns; the built-in
 * default policy applies when none is given. */
#ifndef HEARTH_GUARD_GUARD_H
#define HEARTH_GUARD_GUARD_H

#include <jansson.h>

#include "base/error.h"

typedef enum {
    GUARD_ALLOW = 0, /* run it (sandboxed), log it */
    GUARD_ASK = 1,   /* a person must confirm, shown the exact action */
    GUARD_DENY = 2   /* never; only the operator's policy changes that */
} guard_decision;

typedef struct guard guard;

typedef struct {
    guard_decision decision;
    char rule[64];     /* id of the deciding rule ("rm-root", "unknown-tool", ...) */
    char category[32]; /* "read-only", "catastrophic", "egress", ... */
    char reason[256];  /* one sentence a person can read */
    json_t *parsed;    /* the parsed form: argv per simple command, resolved paths (owned) */
} guard_verdict;

/* workspace: the directory the agent may change (resolved with realpath; must exist).
 * policy_path: the operator's policy file, or NULL for the built-in default.
 * Returns NULL with err filled on a bad policy or workspace. */
guard *guard_new(const char *workspace, const char *policy_path, he_error *err);
void guard_free(guard *g);

/* Classifies one action. Never fails on hostile arguments: what cannot be parsed is at least
 * GUARD_ASK. Returns -1 only when out of memory. Free the verdict with guard_verdict_free.
 * guard_check does not change g: several threads may check actions on one guard at once (but not
 * while guard_declare_tool or guard_add_protected runs). Paths are resolved against the file
 * system as it is at the call. */
int guard_check(guard *g, const char *tool, const json_t *arguments, guard_verdict *out,
                he_error *err);
void guard_verdict_free(guard_verdict *v);

const char *guard_decision_name(guard_decision d); /* "allow", "ask", "deny" */

/* A tool's declared risk (from its definition, independent of its arguments): the decision for
 * "tool:NAME" when no policy rule matches it (instead of GUARD_ASK). */
void guard_declare_tool(guard *g, const char *name, guard_decision d);

/* Adds a protected path (the audit log's directory, ...): writes to it or under it are denied.
 * The policy file, $HEARTH_HOME, ~/.local/share/hearth, ~/.local/state/hearth and
 * ~/.config/hearth are protected from guard_new on. */
void guard_add_protected(guard *g, const char *path);

/* The built-in default policy's text (docs/AGENT.md, "The guard"). Static storage. */
const char *guard_default_policy_text(void);

/* A verdict as the JSON line `hearth guard check` prints and /v1/guard/check returns:
 * {"decision":..., "rule":..., "category":..., "reason":..., "parsed":...}. New reference. */
json_t *guard_verdict_json(const guard_verdict *v);

#endif
