/* test_ctx_shift.c — which messages a context shift drops (server/ctx_shift.h): the leading
 * system/developer messages stay, turns start at user messages, whole turns go oldest first,
 * the newest turn always stays, tool calls and results go with their turn; the room kept for
 * the answer. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/ctx_shift.h"

static json_t *chat(const char *json) {
    json_error_t je;
    json_t *m = json_loads(json, 0, &je);
    cr_assert_not_null(m, "%s", je.text);
    return m;
}

/* The roles and first characters of the contents, e.g. "s:S u:1 a:A". */
static void shape(const json_t *msgs, char *out, size_t cap) {
    out[0] = 0;
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        const json_t *m = json_array_get(msgs, i);
        const char *r = json_string_value(json_object_get(m, "role"));
        const char *c = json_string_value(json_object_get(m, "content"));
        snprintf(out + strlen(out), cap - strlen(out), "%s%c:%s", i ? " " : "", r[0], c ? c : "-");
    }
}

static void expect_drop(const char *json, size_t drop, const char *want, size_t want_n) {
    json_t *m = chat(json);
    size_t nd = 99;
    json_t *out = srv_shift_drop(m, drop, &nd);
    cr_assert_not_null(out);
    char got[512];
    shape(out, got, sizeof got);
    cr_assert_str_eq(got, want, "drop %zu of %s", drop, json);
    cr_assert_eq(nd, want_n, "drop %zu: %zu messages dropped, want %zu", drop, nd, want_n);
    json_decref(out);
    json_decref(m);
}

static const char *const conv =
    "[{\"role\":\"system\",\"content\":\"S\"},"
    "{\"role\":\"developer\",\"content\":\"D\"},"
    "{\"role\":\"user\",\"content\":\"1\"},{\"role\":\"assistant\",\"content\":\"A\"},"
    "{\"role\":\"user\",\"content\":\"2\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
    "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"T\"},"
    "{\"role\":\"assistant\",\"content\":\"B\"},"
    "{\"role\":\"system\",\"content\":\"M\"},"
    "{\"role\":\"user\",\"content\":\"3\"}]";

Test(ctx_shift, turns) {
    json_t *m = chat(conv);
    size_t n_sys = 0, starts[8];
    cr_assert_eq(srv_shift_turns(m, &n_sys, starts, 8), 3);
    cr_assert_eq(n_sys, 2);
    cr_assert_eq(starts[0], 2);
    cr_assert_eq(starts[1], 4);
    cr_assert_eq(starts[2], 9); /* a system message mid-chat belongs to the turn before */
    json_decref(m);
    /* an assistant greeting before the first user message is a turn of its own */
    m = chat("[{\"role\":\"assistant\",\"content\":\"hi\"},{\"role\":\"user\",\"content\":\"q\"}]");
    cr_assert_eq(srv_shift_turns(m, &n_sys, starts, 8), 2);
    cr_assert_eq(n_sys, 0);
    cr_assert_eq(starts[0], 0);
    cr_assert_eq(starts[1], 1);
    json_decref(m);
    /* only system messages, an empty array, not an array: no turns */
    m = chat("[{\"role\":\"system\",\"content\":\"S\"}]");
    cr_assert_eq(srv_shift_turns(m, &n_sys, NULL, 0), 0);
    cr_assert_eq(n_sys, 1);
    json_decref(m);
    m = chat("[]");
    cr_assert_eq(srv_shift_turns(m, &n_sys, NULL, 0), 0);
    json_decref(m);
    m = chat("{\"role\":\"user\"}");
    cr_assert_eq(srv_shift_turns(m, &n_sys, NULL, 0), 0);
    json_decref(m);
    /* messages without a role string are neither system nor user */
    m = chat("[{\"content\":\"x\"},{\"role\":7},{\"role\":\"user\",\"content\":\"q\"}]");
    cr_assert_eq(srv_shift_turns(m, &n_sys, starts, 8), 2);
    cr_assert_eq(n_sys, 0);
    json_decref(m);
}

Test(ctx_shift, drops_whole_turns_oldest_first) {
    expect_drop(conv, 0, "s:S d:D u:1 a:A u:2 a:- t:T a:B s:M u:3", 0);
    expect_drop(conv, 1, "s:S d:D u:2 a:- t:T a:B s:M u:3", 2);
    /* the tool call, its result and the mid-chat system message go with their turn */
    expect_drop(conv, 2, "s:S d:D u:3", 7);
    /* never the newest turn */
    expect_drop(conv, 3, "s:S d:D u:3", 7);
    expect_drop(conv, 1000, "s:S d:D u:3", 7);
    /* one turn: nothing to drop */
    expect_drop("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"1\"},"
                "{\"role\":\"assistant\",\"content\":\"A\"}]",
                1, "s:S u:1 a:A", 0);
    /* no system message */
    expect_drop("[{\"role\":\"user\",\"content\":\"1\"},{\"role\":\"assistant\",\"content\":\"A\"},"
                "{\"role\":\"user\",\"content\":\"2\"}]",
                1, "u:2", 2);
    /* a greeting turn goes first */
    expect_drop(
        "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"assistant\",\"content\":\"G\"},"
        "{\"role\":\"user\",\"content\":\"1\"},{\"role\":\"user\",\"content\":\"2\"}]",
        1, "s:S u:1 u:2", 1);
}

/* The kept messages are the originals (shared, not copied), in order. */
Test(ctx_shift, keeps_the_same_objects) {
    json_t *m = chat(conv);
    size_t nd;
    json_t *out = srv_shift_drop(m, 1, &nd);
    cr_assert_eq(json_array_get(out, 0), json_array_get(m, 0));
    cr_assert_eq(json_array_get(out, 2), json_array_get(m, 4));
    cr_assert_eq(json_array_get(out, json_array_size(out) - 1),
                 json_array_get(m, json_array_size(m) - 1));
    json_decref(out);
    json_decref(m);
}

Test(ctx_shift, room) {
    cr_assert_eq(srv_shift_room(4096, 0), 1024); /* unset: a quarter */
    cr_assert_eq(srv_shift_room(4096, -1), 1024);
    cr_assert_eq(srv_shift_room(4096, 100), 100);   /* max_tokens */
    cr_assert_eq(srv_shift_room(4096, 3000), 2048); /* at most half */
    cr_assert_eq(srv_shift_room(1, 0), 0);
}
