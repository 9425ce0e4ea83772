/* route.c — a routing served name's rules (route.h). */
#include "server/route.h"

#include <string.h>

srv_route_target srv_route_pick(const srv_route_facts *f, srv_route_reason *why) {
    if (f->hint == SRV_ROUTE_SMALL || f->hint == SRV_ROUTE_LARGE) {
        *why = SRV_ROUTE_HINT;
        return (srv_route_target)f->hint;
    }
    if (f->tools) {
        *why = SRV_ROUTE_TOOLS;
        return SRV_ROUTE_LARGE;
    }
    if (f->json_schema) {
        *why = SRV_ROUTE_JSON_SCHEMA;
        return SRV_ROUTE_LARGE;
    }
    /* about 4 bytes of English per token in common BPE vocabularies: an estimate, since the
     * two models may tokenize differently and neither is chosen yet */
    if (f->prompt_chars / 4 > (size_t)(f->long_prompt < 0 ? 0 : f->long_prompt)) {
        *why = SRV_ROUTE_LONG_PROMPT;
        return SRV_ROUTE_LARGE;
    }
    *why = SRV_ROUTE_DEFAULT;
    return SRV_ROUTE_SMALL;
}

const char *srv_route_target_name(srv_route_target t) {
    return t == SRV_ROUTE_LARGE ? "large" : "small";
}

const char *srv_route_reason_name(srv_route_reason r) {
    static const char *const names[SRV_ROUTE_N_REASONS] = {"hint",        "tools",   "json_schema",
                                                           "long_prompt", "default", "fallback"};
    return (unsigned)r < SRV_ROUTE_N_REASONS ? names[r] : "?";
}

int srv_route_target_from_name(const char *s, srv_route_target *t) {
    if (!s) return -1;
    if (!strcmp(s, "small"))
        *t = SRV_ROUTE_SMALL;
    else if (!strcmp(s, "large"))
        *t = SRV_ROUTE_LARGE;
    else
        return -1;
    return 0;
}
