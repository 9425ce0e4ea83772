/* fuzz_ctx_shift.c — the context shift's turn split (server/ctx_shift.h) over any JSON: a chat's
 * messages array as a request could carry it (roles of any type, missing, repeated), or no
 * array at all. For every drop count 0 .. turns + 1 the invariants hold: the leading system
 * messages are all kept; what is kept is a suffix of the rest, starting at a turn's first
 * message, never empty while there are turns (the newest turn stays); the dropped count is the
 * size difference; more turns asked never keeps more. Also srv_shift_room's bounds. Non-JSON
 * input is ignored. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/ctx_shift.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    json_error_t je;
    json_t *m = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
    if (!m) return 0;
    size_t n_sys = 0, starts[64];
    const size_t turns = srv_shift_turns(m, &n_sys, starts, 64);
    const size_t n = json_array_size(m);
    if (n_sys > n || (turns == 0 && n_sys != n)) abort();
    size_t prev_kept = (size_t)-1;
    for (size_t d = 0; d <= turns + 1; d++) {
        size_t nd = 0;
        json_t *out = srv_shift_drop(m, d, &nd);
        if (!out) abort();
        const size_t kept = json_array_size(out);
        if (kept + nd != n || kept > prev_kept) abort();
        prev_kept = kept;
        for (size_t i = 0; i < n_sys; i++)
            if (json_array_get(out, i) != json_array_get(m, i)) abort();
        /* the rest is the suffix from message n_sys + nd, a turn's start */
        for (size_t i = n_sys; i < kept; i++)
            if (json_array_get(out, i) != json_array_get(m, i + nd)) abort();
        if (turns && kept == n_sys) abort(); /* the newest turn always stays */
        if (nd) {
            bool at_start = false;
            for (size_t t = 0; t < turns && t < 64; t++)
                at_start |= starts[t] == n_sys + nd;
            if (!at_start && turns <= 64) abort();
        }
        json_decref(out);
    }
    const int32_t ctx = (int32_t)(size * 977);
    const int32_t room = srv_shift_room(ctx, (int32_t)size - 100);
    if (room < 0 || room > ctx / 2) abort();
    json_decref(m);
    return 0;
}
