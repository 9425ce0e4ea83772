/* fuzz_chat_session.c — libFuzzer target: any bytes as a `hearth chat` conversation file
 * (/load; client/chat_session.h) and as a REPL input line. Loading must never crash or leak;
 * a file that loads saves to a document that loads again to the same document (nothing the
 * loader accepts is lost or changed on the way back); a failed load leaves the session as it
 * was. The same bytes as a line go through the slash-command parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/chat_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    chat_session s;
    chat_session_init(&s);
    chat_session_add_turn(&s, "before", "load");
    he_error err = {0};
    if (chat_session_load(&s, (const char *)data, size, &err) == 0) {
        char *a = chat_session_save(&s, "m");
        chat_session t;
        chat_session_init(&t);
        if (!a || chat_session_load(&t, a, strlen(a), &err) != 0) abort();
        char *b = chat_session_save(&t, "m");
        if (!b || strcmp(a, b) != 0) abort();
        json_decref(chat_session_request(&t, "m", "next"));
        free(a);
        free(b);
        chat_session_free(&t);
    } else if (json_array_size(s.messages) != 2 || !err.msg[0]) {
        abort();
    }
    chat_session_free(&s);
    char line[512];
    size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
    memcpy(line, data, n);
    line[n] = 0;
    chat_cmd c;
    chat_cmd_parse(line, &c);
    if (c.kind == CHAT_CMD_BAD && !c.message[0]) abort();
    if ((c.kind == CHAT_CMD_SAVE || c.kind == CHAT_CMD_LOAD) && !chat_name_ok(c.arg)) abort();
    return 0;
}
