/* ctx_shift.h — context shift for a served name with context_overflow = shift: which messages
 * of a chat to drop so that its rendered prompt fits the context with room for the answer.
 *
 * A chat is split into: the leading system messages (role "system" or "developer" before any
 * other), always kept; then turns, each beginning at a user message and running to the next
 * one (the assistant's answer, its tool calls and their results stay with the user message
 * that led to them, so no tool result is left without its call); messages before the first
 * user message (after the system ones) form a turn of their own. The newest turn is always
 * kept; a shift drops the oldest turns, whole, and nothing else. Pure functions on the
 * normalized messages array (request.h), unit-tested on their own (test_ctx_shift). */
#ifndef HEARTH_SERVER_CTX_SHIFT_H
#define HEARTH_SERVER_CTX_SHIFT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Turn structure of msgs: *n_sys leading system/developer messages; returns the number of
 * turns after them (0 for an array of system messages only, or not an array). starts (may be
 * NULL) receives each turn's first message index, up to cap of them. */
size_t srv_shift_turns(const json_t *msgs, size_t *n_sys, size_t *starts, size_t cap);

/* A new array: msgs without its first `drop` turns (the system messages kept; drop is clamped
 * to turns - 1, so the newest turn always stays). *n_dropped: messages left out. NULL when
 * out of memory. */
json_t *srv_shift_drop(const json_t *msgs, size_t drop, size_t *n_dropped);

/* Tokens a shifted prompt must leave free for the answer: max_tokens when the request set it
 * (> 0), else a quarter of the context; at most half the context either way. */
int32_t srv_shift_room(int32_t n_ctx, int32_t max_tokens);

#endif
