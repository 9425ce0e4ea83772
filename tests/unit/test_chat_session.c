/* test_chat_session.c — `hearth chat`'s session (client/chat_session.h): parameters, the
 * request body of a turn, save/load round trips, strict loading, and the slash commands. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "client/chat_session.h"

Test(chat_session, params_and_request) {
    chat_session s;
    chat_session_init(&s);
    he_error err = {0};
    cr_assert_eq(chat_session_set_param(&s, "temperature", "0.3", &err), 0, "%s", err.msg);
    cr_assert_eq(chat_session_set_param(&s, "num_predict", "12", &err), 0);
    cr_assert_eq(chat_session_set_param(&s, "top_k", "5", &err), 0);
    cr_assert_eq(chat_session_set_param(&s, "stop", "END", &err), 0);
    cr_expect_eq(chat_session_set_param(&s, "temperature", "3", &err), -1);
    cr_expect_eq(chat_session_set_param(&s, "top_k", "1.5", &err), -1);
    cr_expect_eq(chat_session_set_param(&s, "num_predict", "0", &err), -1);
    cr_expect_eq(chat_session_set_param(&s, "mirostat", "1", &err), -1);
    cr_expect(strstr(err.msg, "unknown parameter"));
    chat_session_set_system(&s, "be kind");
    s.think = 0;
    chat_session_add_turn(&s, "q1", "a1");
    json_t *b = chat_session_request(&s, "m", "q2");
    json_t *want = json_loads(
        "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"system\",\"content\":\"be "
        "kind\"},{\"role\":\"user\",\"content\":\"q1\"},"
        "{\"role\":\"assistant\",\"content\":\"a1\"},{\"role\":\"user\",\"content\":\"q2\"}],"
        "\"temperature\":0.3,\"max_tokens\":12,\"top_k\":5,\"stop\":[\"END\"],\"enable_thinking\":"
        "false}",
        0, NULL);
    cr_expect(json_equal(b, want), "%s", json_dumps(b, JSON_COMPACT));
    json_decref(b);
    json_decref(want);
    /* num_predict -1: no limit */
    cr_assert_eq(chat_session_set_param(&s, "num_predict", "-1", &err), 0);
    cr_expect_null(json_object_get(s.params, "max_tokens"));
    chat_session_clear(&s);
    cr_expect_eq(json_array_size(s.messages), 0);
    cr_expect_str_eq(s.system, "be kind");
    chat_session_free(&s);
}

Test(chat_session, save_load_round_trip) {
    chat_session s, t;
    chat_session_init(&s);
    chat_session_init(&t);
    he_error err = {0};
    chat_session_set_param(&s, "seed", "42", &err);
    chat_session_set_param(&s, "top_p", "0.5", &err);
    chat_session_set_system(&s, "sys \"quoted\"\nline");
    s.think = 1;
    chat_session_add_turn(&s, "hello", "héllo 世界");
    char *doc = chat_session_save(&s, "m");
    cr_assert_eq(chat_session_load(&t, doc, strlen(doc), &err), 0, "%s", err.msg);
    char *again = chat_session_save(&t, "m");
    cr_expect_str_eq(doc, again);
    free(doc);
    free(again);
    chat_session_free(&s);
    chat_session_free(&t);
}

Test(chat_session, strict_load) {
    const char *bad[] = {
        "",
        "[]",
        "{\"version\":2,\"messages\":[]}",
        "{\"version\":1,\"extra\":1}",
        "{\"version\":1,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
        "{\"version\":1,\"messages\":[{\"role\":\"user\",\"content\":1}]}",
        "{\"version\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"name\":\"n\"}]}",
        "{\"version\":1,\"parameters\":{\"temperature\":9}}",
        "{\"version\":1,\"parameters\":{\"top_k\":1.5}}",
        "{\"version\":1,\"parameters\":{\"max_tokens\":0}}",
        "{\"version\":1,\"parameters\":{\"num_ctx\":10}}",
        "{\"version\":1,\"parameters\":{\"stop\":[\"\"]}}",
        "{\"version\":1,\"think\":\"yes\"}",
        "{\"version\":1,\"system\":5}",
        "{\"version\":1,\"version\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        chat_session s;
        chat_session_init(&s);
        chat_session_add_turn(&s, "keep", "me");
        he_error err = {0};
        cr_expect_eq(chat_session_load(&s, bad[i], strlen(bad[i]), &err), -1, "%s", bad[i]);
        cr_expect_eq(json_array_size(s.messages), 2, "a failed load leaves the session: %s",
                     bad[i]);
        chat_session_free(&s);
    }
}

Test(chat_session, commands) {
    chat_cmd c;
    chat_cmd_parse("hello /bye", &c);
    cr_expect_eq(c.kind, CHAT_CMD_TEXT);
    chat_cmd_parse("/bye", &c);
    cr_expect_eq(c.kind, CHAT_CMD_BYE);
    chat_cmd_parse("/?", &c);
    cr_expect_eq(c.kind, CHAT_CMD_HELP);
    chat_cmd_parse("/set system   You are \"x\"", &c);
    cr_expect_eq(c.kind, CHAT_CMD_SET_SYSTEM);
    cr_expect_str_eq(c.arg, "You are \"x\"");
    chat_cmd_parse("/set system \"quoted all\"", &c);
    cr_expect_str_eq(c.arg, "quoted all");
    chat_cmd_parse("/set parameter temperature 0.2", &c);
    cr_expect_eq(c.kind, CHAT_CMD_SET_PARAM);
    cr_expect_str_eq(c.arg, "temperature");
    cr_expect_str_eq(c.arg2, "0.2");
    chat_cmd_parse("/set parameter stop two words", &c);
    cr_expect_str_eq(c.arg2, "two words");
    chat_cmd_parse("/set parameter temperature", &c);
    cr_expect_eq(c.kind, CHAT_CMD_BAD);
    chat_cmd_parse("/save my-chat.1", &c);
    cr_expect_eq(c.kind, CHAT_CMD_SAVE);
    cr_expect_str_eq(c.arg, "my-chat.1");
    chat_cmd_parse("/load ../x", &c);
    cr_expect_eq(c.kind, CHAT_CMD_BAD);
    chat_cmd_parse("/load .hidden", &c);
    cr_expect_eq(c.kind, CHAT_CMD_BAD);
    chat_cmd_parse("/save a b", &c);
    cr_expect_eq(c.kind, CHAT_CMD_BAD);
    chat_cmd_parse("/set think", &c);
    cr_expect_eq(c.kind, CHAT_CMD_SET_THINK);
    chat_cmd_parse("/set nothink", &c);
    cr_expect_eq(c.kind, CHAT_CMD_SET_NOTHINK);
    chat_cmd_parse("/frobnicate", &c);
    cr_expect_eq(c.kind, CHAT_CMD_BAD);
    cr_expect(strstr(c.message, "unknown command"));
}
