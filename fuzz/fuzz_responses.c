/* fuzz_responses.c — libFuzzer target: any bytes as a POST /v1/responses body. The Responses
 * parser (srv_responses_to_chat, then the chat validation it feeds: srv_request_parse with
 * SRV_API_RESPONSES) must never crash, leak or accept a body without a model and a non-empty
 * message list; an error is always a 4xx with a message. The output builder (srv_resp) is then
 * driven with deltas cut from the same bytes: every event carries the next sequence number and
 * the final object has one output item per opened item. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"
#include "server/responses.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    json_int_t next;
    size_t added, done;
} seen;

static void on_event(void *user, const char *type, json_t *ev) {
    seen *s = user;
    if (json_integer_value(json_object_get(ev, "sequence_number")) != s->next++) abort();
    if (strcmp(json_string_value(json_object_get(ev, "type")), type) != 0) abort();
    if (!strcmp(type, "response.output_item.added")) s->added++;
    if (!strcmp(type, "response.output_item.done")) s->done++;
    json_decref(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    srv_request r;
    srv_req_error e;
    if (srv_request_parse(SRV_API_RESPONSES, (const char *)data, size, &r, &e) == 0) {
        if (!r.model || !r.model[0] || !json_is_array(r.messages) ||
            json_array_size(r.messages) == 0)
            abort();
        if (!json_is_object(r.resp_echo)) abort();
        if ((r.format != SRV_FMT_TEXT) != (r.grammar != NULL)) abort();
    } else if (e.status < 400 || e.status > 499 || !e.message[0]) {
        abort();
    }
    /* the output side: the bytes as a sequence of deltas (kind from a byte, text after it) */
    seen s = {0};
    srv_resp *b = srv_resp_new("m", r.resp_echo, on_event, &s);
    srv_request_free(&r);
    if (!b) return 0;
    srv_resp_begin(b);
    for (size_t i = 0; i + 1 < size;) {
        size_t n = data[i + 1] % 16;
        if (i + 2 + n > size) n = size - i - 2;
        tc_delta d = {.kind = (tc_delta_kind)(data[i] % 5),
                      .text = (const char *)data + i + 2,
                      .len = n,
                      .index = data[i] / 5 % 3,
                      .id = "call_x",
                      .name = "f"};
        srv_resp_delta(b, &d);
        i += 2 + n;
    }
    srv_resp_end(b, size % 2 ? "length" : "stop", 3, 1, 2);
    json_t *o = srv_resp_object(b);
    if (s.added != s.done || s.added != json_array_size(json_object_get(o, "output")) ||
        s.added == 0)
        abort();
    json_decref(o);
    srv_resp_free(b);
    return 0;
}
