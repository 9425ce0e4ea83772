/* responses.h — the OpenAI Responses API (POST /v1/responses), stateless, on top of chat.
 *
 * There is one generation path: a Responses body is translated into a chat-completions body
 * (srv_responses_to_chat: `instructions` + `input` items -> messages, Responses-shaped function
 * tools -> chat tools, `text.format` -> response_format, `reasoning.effort` ->
 * reasoning_effort, `max_output_tokens` -> max_completion_tokens), which request.c then parses
 * and validates exactly as /v1/chat/completions. On the way out, the split output (content,
 * reasoning, tool calls: chat/toolcall.h's deltas) is turned into Responses output items and
 * stream events by srv_resp, the same builder for streamed and whole answers, so a stream
 * reassembles to the same object the non-streaming call returns.
 *
 * Stateless on purpose: `store: true`, `previous_response_id`, `conversation`, `background` and
 * `item_reference` items are a 400 (the client sends the whole conversation as input items).
 * Pure (no model, no HTTP): unit-tested and fuzzed (fuzz/fuzz_responses.c). */
#ifndef HEARTH_SERVER_RESPONSES_H
#define HEARTH_SERVER_RESPONSES_H

#include <stdint.h>

#include <jansson.h>

#include "chat/toolcall.h"
#include "server/request.h"

/* body: a Responses request object. Returns a new chat-completions request object, or NULL
 * with err (400 naming the Responses field; 503 out of memory). *echo (may be NULL) gets the
 * request fields a response object repeats (instructions, tools, tool_choice, text, ...). */
json_t *srv_responses_to_chat(const json_t *body, json_t **echo, srv_req_error *err);

/* ---- output: items, events and the response object ---- */

typedef struct srv_resp srv_resp;
/* Each event is a JSON object with its "type" and "sequence_number" set; the callback takes
 * the reference and must serialize it at once (events share the builder's items). */
typedef void (*srv_resp_emit_fn)(void *user, const char *type, json_t *event);

/* echo (borrowed, may be NULL): from srv_responses_to_chat. emit NULL: build the object only. */
srv_resp *srv_resp_new(const char *model, const json_t *echo, srv_resp_emit_fn emit, void *user);
void srv_resp_free(srv_resp *r);
/* response.created and response.in_progress. */
void srv_resp_begin(srv_resp *r);
/* One piece of the split output (TC_DELTA_CONTENT, _REASONING, _CALL, _CALL_START, _ARGS). */
void srv_resp_delta(srv_resp *r, const tc_delta *d);
/* Closes the open items and sends response.completed (or response.incomplete when finish is
 * "length"), with usage. */
void srv_resp_end(srv_resp *r, const char *finish, int32_t n_prompt, int32_t n_cached,
                  int32_t n_generated);
/* Sends an `error` event (a stream that fails after it started). */
void srv_resp_error(srv_resp *r, const char *message);
/* The response object as it stands (after srv_resp_end: the final one); a new reference. */
json_t *srv_resp_object(const srv_resp *r);

#endif
