/* ctx_shift.c — which turns of a chat a context shift drops (ctx_shift.h). */
#include "server/ctx_shift.h"

#include <stdbool.h>
#include <string.h>

static bool is_system(const json_t *m) {
    const char *r = json_string_value(json_object_get(m, "role"));
    return r && (!strcmp(r, "system") || !strcmp(r, "developer"));
}

static bool is_user(const json_t *m) {
    const char *r = json_string_value(json_object_get(m, "role"));
    return r && !strcmp(r, "user");
}

size_t srv_shift_turns(const json_t *msgs, size_t *n_sys, size_t *starts, size_t cap) {
    size_t n = json_array_size(msgs), i = 0, turns = 0;
    while (i < n && is_system(json_array_get(msgs, i)))
        i++;
    *n_sys = i;
    for (; i < n; i++) {
        /* a turn opens at a user message, and at the first message after the system ones */
        if (i == *n_sys || is_user(json_array_get(msgs, i))) {
            if (starts && turns < cap) starts[turns] = i;
            turns++;
        }
    }
    return turns;
}

json_t *srv_shift_drop(const json_t *msgs, size_t drop, size_t *n_dropped) {
    size_t n_sys = 0, n = json_array_size(msgs);
    size_t turns = srv_shift_turns(msgs, &n_sys, NULL, 0);
    if (turns == 0 || drop > turns - 1) drop = turns ? turns - 1 : 0;
    /* the first kept turn's first message */
    size_t from = n_sys, seen = 0;
    for (size_t i = n_sys; i < n && seen <= drop; i++)
        if (i == n_sys || is_user(json_array_get(msgs, i))) {
            if (seen == drop) from = i;
            seen++;
        }
    if (drop == 0) from = n_sys;
    json_t *out = json_array();
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i >= n_sys && i < from) continue;
        if (json_array_append(out, json_array_get(msgs, i))) {
            json_decref(out);
            return NULL;
        }
    }
    *n_dropped = from - n_sys;
    return out;
}

int32_t srv_shift_room(int32_t n_ctx, int32_t max_tokens) {
    int32_t room = max_tokens > 0 ? max_tokens : n_ctx / 4;
    return room > n_ctx / 2 ? n_ctx / 2 : room;
}
