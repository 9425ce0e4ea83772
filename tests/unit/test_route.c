/* test_route.c — a routing served name's rules (server/route.h): the order hint > tools >
 * JSON schema > long prompt > small, and the names the header and /metrics use. */
#include <criterion/criterion.h>

#include "server/route.h"

static srv_route_target pick(int hint, bool tools, bool schema, size_t chars,
                             srv_route_reason *why) {
    srv_route_facts f = {.hint = hint,
                         .tools = tools,
                         .json_schema = schema,
                         .prompt_chars = chars,
                         .long_prompt = 100};
    return srv_route_pick(&f, why);
}

Test(route, rules_in_order) {
    srv_route_reason why;
    cr_assert_eq(pick(-1, false, false, 10, &why), SRV_ROUTE_SMALL);
    cr_assert_eq(why, SRV_ROUTE_DEFAULT);
    cr_assert_eq(pick(-1, true, false, 10, &why), SRV_ROUTE_LARGE);
    cr_assert_eq(why, SRV_ROUTE_TOOLS);
    cr_assert_eq(pick(-1, false, true, 10, &why), SRV_ROUTE_LARGE);
    cr_assert_eq(why, SRV_ROUTE_JSON_SCHEMA);
    cr_assert_eq(pick(-1, true, true, 10000, &why), SRV_ROUTE_LARGE);
    cr_assert_eq(why, SRV_ROUTE_TOOLS, "tools come before the schema and the length");
    /* the hint wins over everything, both ways */
    cr_assert_eq(pick(SRV_ROUTE_SMALL, true, true, 10000, &why), SRV_ROUTE_SMALL);
    cr_assert_eq(why, SRV_ROUTE_HINT);
    cr_assert_eq(pick(SRV_ROUTE_LARGE, false, false, 1, &why), SRV_ROUTE_LARGE);
    cr_assert_eq(why, SRV_ROUTE_HINT);
}

Test(route, long_prompt_is_chars_over_four) {
    srv_route_reason why;
    /* threshold 100 tokens: 400 bytes (100 estimated tokens) is not above it, 404 is */
    cr_assert_eq(pick(-1, false, false, 403, &why), SRV_ROUTE_SMALL);
    cr_assert_eq(pick(-1, false, false, 404, &why), SRV_ROUTE_LARGE);
    cr_assert_eq(why, SRV_ROUTE_LONG_PROMPT);
    srv_route_facts f = {.hint = -1, .prompt_chars = 4, .long_prompt = 0};
    cr_assert_eq(srv_route_pick(&f, &why), SRV_ROUTE_LARGE, "0: every non-empty prompt is long");
}

Test(route, names) {
    srv_route_target t;
    cr_assert_eq(srv_route_target_from_name("large", &t), 0);
    cr_assert_eq(t, SRV_ROUTE_LARGE);
    cr_assert_eq(srv_route_target_from_name("small", &t), 0);
    cr_assert_eq(t, SRV_ROUTE_SMALL);
    cr_assert_eq(srv_route_target_from_name("Large", &t), -1);
    cr_assert_eq(srv_route_target_from_name(NULL, &t), -1);
    cr_assert_str_eq(srv_route_target_name(SRV_ROUTE_LARGE), "large");
    cr_assert_str_eq(srv_route_reason_name(SRV_ROUTE_JSON_SCHEMA), "json_schema");
    cr_assert_str_eq(srv_route_reason_name(SRV_ROUTE_FALLBACK), "fallback");
    cr_assert_str_eq(srv_route_reason_name(SRV_ROUTE_N_REASONS), "?");
}
