/* route.h — the rules of a routing served name (route = SMALL, LARGE; docs/SERVER.md "Routing").
 *
 * Pure: which of the two names a request goes to, and why. The HTTP layer (routes.c) gathers
 * the facts from the parsed request and handles fallback when the chosen name is unavailable. */
#ifndef HEARTH_SERVER_ROUTE_H
#define HEARTH_SERVER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SRV_ROUTE_SMALL = 0, SRV_ROUTE_LARGE = 1 } srv_route_target;

/* Why a target was picked; also the /metrics label. FALLBACK: the chosen one was unavailable. */
typedef enum {
    SRV_ROUTE_HINT = 0,    /* "hearth": {"route": "small"|"large"} in the body */
    SRV_ROUTE_TOOLS,       /* the request offers tools */
    SRV_ROUTE_JSON_SCHEMA, /* a JSON schema answer is asked (response_format / format) */
    SRV_ROUTE_LONG_PROMPT, /* estimated prompt tokens above route_long_prompt */
    SRV_ROUTE_DEFAULT,     /* none of the above: small */
    SRV_ROUTE_FALLBACK,
    SRV_ROUTE_N_REASONS
} srv_route_reason;

typedef struct {
    int hint; /* -1: none, else an srv_route_target */
    bool tools;
    bool json_schema;
    size_t prompt_chars; /* bytes of the prompt's text (messages, system, prompt) */
    int32_t long_prompt; /* the route's threshold in tokens */
} srv_route_facts;

/* The rules in order: hint, tools, JSON schema, long prompt (prompt_chars / 4 tokens, an
 * estimate: no tokenizer is chosen yet), else small. */
srv_route_target srv_route_pick(const srv_route_facts *f, srv_route_reason *why);
const char *srv_route_target_name(srv_route_target t); /* "small" / "large" */
const char *srv_route_reason_name(srv_route_reason r); /* "hint", "tools", ... */
/* "small" / "large" -> 0 with *t set; -1 for anything else. */
int srv_route_target_from_name(const char *s, srv_route_target *t);

#endif
