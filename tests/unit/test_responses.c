/* test_responses.c — the Responses API layer (server/responses.h): bodies translated to the
 * chat request they mean (and parsed by the chat path), the stateless 400s, and the output
 * builder's items, events and sequence numbers. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"
#include "server/responses.h"

static json_t *chat_of(const char *body, srv_req_error *e) {
    json_t *root = json_loads(body, 0, NULL);
    cr_assert(root, "test body parses: %s", body);
    json_t *echo = NULL;
    json_t *chat = srv_responses_to_chat(root, &echo, e);
    json_decref(root);
    json_decref(echo);
    return chat;
}

Test(responses, string_input_and_instructions) {
    srv_req_error e;
    json_t *c = chat_of(
        "{\"model\":\"m\",\"instructions\":\"sys\",\"input\":\"hi\",\"max_output_tokens\":7,"
        "\"temperature\":0.5,\"reasoning\":{\"effort\":\"low\"}}",
        &e);
    cr_assert(c, "%s", e.message);
    json_t *want =
        json_loads("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
                   "{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":7,"
                   "\"temperature\":0.5,\"reasoning_effort\":\"low\"}",
                   0, NULL);
    cr_expect(json_equal(c, want), "%s", json_dumps(c, JSON_COMPACT));
    json_decref(c);
    json_decref(want);
}

Test(responses, items_to_messages) {
    srv_req_error e;
    json_t *c = chat_of(
        "{\"model\":\"m\",\"input\":["
        "{\"role\":\"developer\",\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},{\"type\":"
        "\"input_text\",\"text\":\"b\"}]},"
        "{\"type\":\"message\",\"role\":\"user\",\"content\":\"q\"},"
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
        "\"text\":\"thinking aloud\"}]},"
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"x\\\":"
        "1}\"},"
        "{\"type\":\"function_call\",\"call_id\":\"c2\",\"name\":\"g\",\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"one\"},"
        "{\"type\":\"reasoning\",\"summary\":[]},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c2\",\"output\":[{\"type\":\"input_"
        "text\",\"text\":\"two\"}]}],"
        "\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\"type\":\"object\"},"
        "\"strict\":true}],"
        "\"tool_choice\":{\"type\":\"function\",\"name\":\"f\"},"
        "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"n\",\"schema\":{\"type\":"
        "\"object\"}}}}",
        &e);
    cr_assert(c, "%s", e.message);
    json_t *want = json_loads(
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"a\\nb\"},{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":\"thinking aloud\",\"tool_calls\":["
        "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{"
        "\\\"x\\\":1}\"}},"
        "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}"
        ","
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"one\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"two\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":"
        "\"object\"},\"strict\":true}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":{"
        "\"type\":\"object\"}}}}",
        0, NULL);
    cr_assert(want);
    cr_expect(json_equal(c, want), "%s", json_dumps(c, JSON_COMPACT));
    json_decref(c);
    json_decref(want);
}

Test(responses, parsed_by_the_chat_path) {
    const char *body =
        "{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"function\",\"name\":\"f\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}],"
        "\"tool_choice\":\"required\",\"stream\":true,\"max_output_tokens\":9}";
    srv_request r;
    srv_req_error e;
    cr_assert_eq(srv_request_parse(SRV_API_RESPONSES, body, strlen(body), &r, &e), 0, "%s",
                 e.message);
    cr_expect_eq(r.api, SRV_API_RESPONSES);
    cr_expect_eq(r.tool_choice, TC_CHOICE_REQUIRED);
    cr_expect(r.stream);
    cr_expect_eq(r.max_tokens, 9);
    cr_expect_eq(json_array_size(r.messages), 1);
    cr_expect(json_is_object(r.resp_echo));
    cr_expect_eq(json_integer_value(json_object_get(r.resp_echo, "max_output_tokens")), 9);
    srv_request_free(&r);
}

Test(responses, bad_bodies) {
    struct {
        const char *body, *param;
    } cases[] = {
        {"{\"model\":\"m\",\"input\":\"x\",\"store\":true}", "store"},
        {"{\"model\":\"m\",\"input\":\"x\",\"store\":\"yes\"}", "store"},
        {"{\"model\":\"m\",\"input\":\"x\",\"previous_response_id\":\"r\"}",
         "previous_response_id"},
        {"{\"model\":\"m\",\"input\":\"x\",\"background\":true}", "background"},
        {"{\"model\":\"m\"}", "input"},
        {"{\"model\":\"m\",\"input\":[]}", "input"},
        {"{\"model\":\"m\",\"input\":[1]}", "input[0]"},
        {"{\"model\":\"m\",\"input\":[{\"role\":\"user\"}]}", "input[0].content"},
        {"{\"model\":\"m\",\"input\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "input[0].role"},
        {"{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\"}]}]"
         "}",
         "input[0].content[0]"},
        {"{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\"}]}]"
         "}",
         "input[0].content[0].text"},
        {"{\"model\":\"m\",\"input\":[{\"type\":\"web_search_call\"}]}", "input[0].type"},
        {"{\"model\":\"m\",\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\","
         "\"arguments\":{}}]}",
         "input[0].arguments"},
        {"{\"model\":\"m\",\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\"}]}",
         "input[0].output"},
        {"{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"file_search\"}]}",
         "tools[0].type"},
        {"{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\"}]}", "tools[0].name"},
        {"{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],"
         "\"tool_choice\":{\"type\":\"mcp\"}}",
         "tool_choice.type"},
        {"{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\"}}}",
         "text.format.name"},
        {"{\"model\":\"m\",\"input\":\"x\",\"text\":\"json\"}", "text"},
        {"{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":2.5}", "max_output_tokens"},
        {"{\"model\":\"m\",\"input\":\"x\",\"reasoning\":{\"effort\":3}}", "reasoning.effort"},
        {"{\"model\":\"m\",\"input\":\"x\",\"top_logprobs\":3}", "top_logprobs"},
        {"{\"input\":\"x\"}", "model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        srv_request r;
        srv_req_error e;
        int rc = srv_request_parse(SRV_API_RESPONSES, cases[i].body, strlen(cases[i].body), &r, &e);
        cr_expect_eq(rc, -1, "%s", cases[i].body);
        if (rc == 0) {
            srv_request_free(&r);
            continue;
        }
        cr_expect_eq(e.status, 400, "%s", cases[i].body);
        cr_expect_str_eq(e.param, cases[i].param, "%s: %s", cases[i].body, e.message);
    }
}

typedef struct {
    json_t *events;
} collected;

static void keep(void *user, const char *type, json_t *ev) {
    collected *c = user;
    (void)type;
    /* events share the builder's items: keep a snapshot, as a serializer would */
    json_array_append_new(c->events, json_deep_copy(ev));
    json_decref(ev);
}

Test(responses, builder_items_and_events) {
    collected c = {json_array()};
    srv_resp *b = srv_resp_new("m", NULL, keep, &c);
    srv_resp_begin(b);
    tc_delta d = {.kind = TC_DELTA_REASONING, .text = "hmm", .len = 3};
    srv_resp_delta(b, &d);
    d.kind = TC_DELTA_CONTENT, d.text = "Hel", d.len = 3;
    srv_resp_delta(b, &d);
    d.text = "lo", d.len = 2;
    srv_resp_delta(b, &d);
    tc_delta s = {.kind = TC_DELTA_CALL_START, .index = 0, .id = "call_1", .name = "f"};
    srv_resp_delta(b, &s);
    tc_delta a = {.kind = TC_DELTA_ARGS, .index = 0, .text = "{\"a\":", .len = 5};
    srv_resp_delta(b, &a);
    a.text = "1}", a.len = 2;
    srv_resp_delta(b, &a);
    tc_delta w = {
        .kind = TC_DELTA_CALL, .index = 1, .id = "call_2", .name = "g", .text = "{}", .len = 2};
    srv_resp_delta(b, &w);
    srv_resp_end(b, "stop", 10, 4, 20);
    json_t *o = srv_resp_object(b);
    srv_resp_free(b);
    json_t *out = json_object_get(o, "output");
    cr_assert_eq(json_array_size(out), 4);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "type")),
                     "reasoning");
    json_t *msg = json_array_get(out, 1);
    cr_expect_str_eq(json_string_value(json_object_get(msg, "type")), "message");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(msg, "content"), 0), "text")),
                     "Hello");
    json_t *f = json_array_get(out, 2);
    cr_expect_str_eq(json_string_value(json_object_get(f, "arguments")), "{\"a\":1}");
    cr_expect_str_eq(json_string_value(json_object_get(f, "call_id")), "call_1");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 3), "name")), "g");
    cr_expect_str_eq(json_string_value(json_object_get(o, "status")), "completed");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(o, "usage"), "total_tokens")),
                 30);
    /* the events: sequence numbers 0.., created first, completed last, deltas add up */
    size_t i;
    json_t *ev;
    char text[64] = "";
    json_array_foreach(c.events, i, ev) {
        cr_expect_eq(json_integer_value(json_object_get(ev, "sequence_number")), (json_int_t)i);
        const char *t = json_string_value(json_object_get(ev, "type"));
        if (!strcmp(t, "response.output_text.delta"))
            strcat(text, json_string_value(json_object_get(ev, "delta")));
    }
    cr_expect_str_eq(text, "Hello");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(c.events, 0), "type")),
                     "response.created");
    json_t *last = json_array_get(c.events, json_array_size(c.events) - 1);
    cr_expect_str_eq(json_string_value(json_object_get(last, "type")), "response.completed");
    cr_expect(json_equal(json_object_get(last, "response"), o));
    json_decref(o);
    json_decref(c.events);
}

Test(responses, empty_and_cut_answers) {
    srv_resp *b = srv_resp_new("m", NULL, NULL, NULL);
    srv_resp_end(b, "length", 1, 0, 5);
    json_t *o = srv_resp_object(b);
    srv_resp_free(b);
    cr_expect_str_eq(json_string_value(json_object_get(o, "status")), "incomplete");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(o, "incomplete_details"), "reason")),
        "max_output_tokens");
    json_t *out = json_object_get(o, "output");
    cr_assert_eq(json_array_size(out), 1, "an empty answer is one empty message");
    cr_expect_str_eq(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_array_get(out, 0), "content"), 0), "text")),
        "");
    json_decref(o);
}
