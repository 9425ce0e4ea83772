/* test_toolcall_canon.h — the text a call grammar of each family produces for calls to
 * get_weather {"location": "Paris"} and now {} (what tc_grammar_build's grammars must accept
 * and tc_parse must read back). */
#ifndef HEARTH_TEST_TOOLCALL_CANON_H
#define HEARTH_TEST_TOOLCALL_CANON_H

#include <stdio.h>
#include <string.h>

#include "chat/toolcall.h"
#include "test_toolcall_corpus.h"

#define CANON_ARGS0 "{\"location\": \"Paris\"}"
#define CANON_ARGS1 "{}"

/* Writes the text of n_calls (1 or 2) calls in family f's syntax into buf. */
static void canon_calls(tc_family f, int n_calls, char *buf, size_t size) {
    static const char *const names[2] = {"get_weather", "now"};
    static const char *const args[2] = {CANON_ARGS0, CANON_ARGS1};
    size_t o = 0;
#define PUT(...) o += (size_t)snprintf(buf + o, size - o, __VA_ARGS__)
    switch (f) {
    case TC_MISTRAL: PUT("[TOOL_CALLS]["); break;
    case TC_DEEPSEEK_R1: PUT(DS_CALLS_B); break;
    case TC_COMMAND_R7B: PUT("<|START_ACTION|>[\n    "); break;
    case TC_GENERIC: PUT("{\"tool_calls\": ["); break;
    default: break;
    }
    for (int i = 0; i < n_calls; i++) {
        if (i) {
            switch (f) {
            case TC_HERMES: PUT("\n"); break;
            case TC_LLAMA3: PUT("; "); break;
            case TC_MISTRAL: case TC_GENERIC: PUT(", "); break;
            case TC_DEEPSEEK_R1: PUT("\n"); break;
            case TC_FUNCTIONARY_V3_2: PUT(">>>"); break;
            case TC_COMMAND_R7B: PUT(",\n    "); break;
            case TC_HARMONY: PUT("<|call|><|start|>assistant"); break; /* the next turn's call */
            default: break;
            }
        }
        const char *n = names[i], *a = args[i];
        switch (f) {
        case TC_HERMES: PUT("<tool_call>\n{\"name\": \"%s\", \"arguments\": %s}\n</tool_call>", n, a); break;
        case TC_LLAMA3: PUT("{\"name\": \"%s\", \"parameters\": %s}", n, a); break;
        case TC_MISTRAL: PUT("{\"name\": \"%s\", \"arguments\": %s, \"id\": \"abcDEF12%d\"}", n, a, i); break;
        case TC_DEEPSEEK_R1: PUT(DS_CALL_B "function" DS_SEP_ "%s\n```json\n%s\n```" DS_CALL_E, n, a); break;
        case TC_FUNCTIONARY_V3_1: PUT("<function=%s>%s</function>", n, a); break;
        case TC_FUNCTIONARY_V3_2: PUT("%s\n%s", n, a); break;
        case TC_HARMONY: PUT("<|channel|>commentary to=functions.%s <|constrain|>json<|message|>%s", n, a); break;
        case TC_COMMAND_R7B:
            PUT("{\"tool_call_id\": \"%d\", \"tool_name\": \"%s\", \"parameters\": %s}", i, n, a);
            break;
        default: PUT("{\"name\": \"%s\", \"arguments\": %s}", n, a); break;
        }
    }
    switch (f) {
    case TC_MISTRAL: PUT("]"); break;
    case TC_DEEPSEEK_R1: PUT(DS_CALLS_E); break;
    case TC_COMMAND_R7B: PUT("\n]<|END_ACTION|>"); break;
    case TC_GENERIC: PUT("]}"); break;
    default: break;
    }
#undef PUT
}

#endif
