/* test_toolcall_corpus.h — recorded-style model outputs per tool-call family and what they must
 * parse into. Shared by tests/unit/test_toolcall.c (exact results, streaming == whole) and
 * written out as the seed corpus of fuzz/fuzz_toolcall.c. Outputs are written the way each
 * family's chat template renders an assistant turn (tests/unit/test_toolcall.c checks a few
 * against the real templates' markers). */
#ifndef HEARTH_TEST_TOOLCALL_CORPUS_H
#define HEARTH_TEST_TOOLCALL_CORPUS_H

#include "chat/toolcall.h"

typedef struct {
    const char *name, *args;
} corpus_call;

typedef struct {
    const char *label;
    tc_family f;
    bool reasoning, starts_in_reasoning, parse_calls;
    const char *text;
    const char *content;   /* expected content */
    const char *reasoning_text; /* expected reasoning, NULL for none */
    int n_calls;
    corpus_call calls[3];
} corpus_case;

#define DS_CALLS_B "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_E "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_B "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_E "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP_ "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>"

#define WEATHER "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}"
#define WEATHER_ARGS "{\"location\":\"Paris\",\"unit\":\"celsius\"}"

static const corpus_case corpus[] = {
    /* ---- Hermes / Qwen ---- */
    {"hermes-one", TC_HERMES, false, false, true, "<tool_call>\n" WEATHER "\n</tool_call>", "", NULL, 1,
     {{"get_weather", WEATHER_ARGS}}},
    {"hermes-text-before", TC_HERMES, false, false, true,
     "Let me check the weather for you.\n\n<tool_call>\n" WEATHER "\n</tool_call>",
     "Let me check the weather for you.", NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"hermes-two-calls", TC_HERMES, false, false, true,
     "<tool_call>\n" WEATHER "\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
     "{\"tz\": \"Europe/Paris\"}}\n</tool_call>",
     "", NULL, 2, {{"get_weather", WEATHER_ARGS}, {"get_time", "{\"tz\":\"Europe/Paris\"}"}}},
    {"hermes-closer-in-string", TC_HERMES, false, false, true,
     "<tool_call>\n{\"name\": \"echo\", \"arguments\": {\"text\": \"a </tool_call> b <tool_call> c\"}}\n</tool_call>",
     "", NULL, 1, {{"echo", "{\"text\":\"a </tool_call> b <tool_call> c\"}"}}},
    {"hermes-truncated", TC_HERMES, false, false, true,
     "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"loc",
     "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"loc", NULL, 0, {{0}}},
    {"hermes-malformed", TC_HERMES, false, false, true, "<tool_call>\n{name: get_weather}\n</tool_call>",
     "<tool_call>\n{name: get_weather}\n</tool_call>", NULL, 0, {{0}}},
    {"hermes-bad-then-good", TC_HERMES, false, false, true,
     "<tool_call>{\"nom\": 1}</tool_call> then <tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>",
     "<tool_call>{\"nom\": 1}</tool_call> then", NULL, 1, {{"f", "{}"}}},
    {"hermes-no-closer-at-end", TC_HERMES, false, false, true, "<tool_call>\n" WEATHER "\n", "", NULL, 1,
     {{"get_weather", WEATHER_ARGS}}},
    {"hermes-garbage-after-json", TC_HERMES, false, false, true, "<tool_call>\n" WEATHER " oops",
     "<tool_call>\n" WEATHER " oops", NULL, 0, {{0}}},
    {"hermes-args-string", TC_HERMES, false, false, true,
     "<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": [1, 2]}\"}\n</tool_call>", "", NULL, 1,
     {{"f", "{\"a\":[1,2]}"}}},
    {"hermes-numbers-unicode", TC_HERMES, false, false, true,
     "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 0.1, \"big\": 123456789012345678901234, "
     "\"city\": \"Z\xc3\xbcrich\", \"esc\": \"\\u00fc\\n\"}}\n</tool_call>",
     "", NULL, 1,
     {{"f", "{\"x\":0.1,\"big\":123456789012345678901234,\"city\":\"Z\xc3\xbcrich\",\"esc\":\"\\u00fc\\n\"}"}}},
    {"hermes-no-args", TC_HERMES, false, false, true, "<tool_call>{\"name\": \"now\"}</tool_call>", "", NULL, 1,
     {{"now", "{}"}}},
    {"hermes-parse-off", TC_HERMES, false, false, false, "<tool_call>\n" WEATHER "\n</tool_call>",
     "<tool_call>\n" WEATHER "\n</tool_call>", NULL, 0, {{0}}},
    {"hermes-plain", TC_HERMES, false, false, true, "  The capital of France is Paris.\n\nIt has 2M people. ",
     "The capital of France is Paris.\n\nIt has 2M people. ", NULL, 0, {{0}}},
    {"hermes-almost-opener", TC_HERMES, false, false, true, "Use <tool_cal and <tool_x> tags",
     "Use <tool_cal and <tool_x> tags", NULL, 0, {{0}}},
    {"qwen3-think-call", TC_HERMES, true, false, true,
     "<think>\nThe user wants the weather in Paris.\n</think>\n\n<tool_call>\n" WEATHER "\n</tool_call>", "",
     "The user wants the weather in Paris.", 1, {{"get_weather", WEATHER_ARGS}}},
    {"qwen3-think-answer", TC_HERMES, true, false, true, "<think>\n\n</think>\n\nParis is sunny.",
     "Paris is sunny.", NULL, 0, {{0}}},
    {"qwen3-starts-in-reasoning", TC_HERMES, true, true, true,
     "Hmm, a <tool_call> here is only thought.\n</think>\n\nIt is sunny.", "It is sunny.",
     "Hmm, a <tool_call> here is only thought.", 0, {{0}}},
    {"qwen3-truncated-thinking", TC_HERMES, true, false, true, "<think>\nStill thinking about </thi",
     "", "Still thinking about </thi", 0, {{0}}},
    /* ---- Llama 3.x ---- */
    {"llama3-bare", TC_LLAMA3, false, false, true,
     "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}", "", NULL, 1,
     {{"get_weather", WEATHER_ARGS}}},
    {"llama3-bare-spaced", TC_LLAMA3, false, false, true,
     "\n{ \"name\" : \"get_weather\",\n  \"parameters\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}", "",
     NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"llama3-python-tag", TC_LLAMA3, false, false, true,
     "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}",
     "", NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"llama3-two-calls", TC_LLAMA3, false, false, true,
     "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"parameters\": {}}", "", NULL,
     2, {{"a", "{\"x\":1}"}, {"b", "{}"}}},
    {"llama3-code", TC_LLAMA3, false, false, true, "<|python_tag|>print(6 * 7)\n", "", NULL, 1,
     {{"python", "{\"code\":\"print(6 * 7)\"}"}}},
    /* Llama 3.1 built-in tools, as the template renders an earlier call */
    {"llama3-brave-search", TC_LLAMA3, false, false, true,
     "<|python_tag|>brave_search.call(query=\"weather in Paris\")<|eom_id|>", "", NULL, 1,
     {{"brave_search", "{\"query\":\"weather in Paris\"}"}}},
    {"llama3-wolfram-escapes", TC_LLAMA3, false, false, true,
     "<|python_tag|>wolfram_alpha.call(query=\"solve x^2 = \\\"4\\\"\\n\", unit='si')", "", NULL, 1,
     {{"wolfram_alpha", "{\"query\":\"solve x^2 = \\\"4\\\"\\n\",\"unit\":\"si\"}"}}},
    {"llama3-builtin-not-call", TC_LLAMA3, false, false, true, "<|python_tag|>brave_search.call(query=x)", "", NULL, 1,
     {{"python", "{\"code\":\"brave_search.call(query=x)\"}"}}},
    {"llama3-json-after-text", TC_LLAMA3, false, false, true, "The call is {\"name\": \"x\", \"parameters\": {}}",
     "The call is {\"name\": \"x\", \"parameters\": {}}", NULL, 0, {{0}}},
    {"llama3-json-not-call", TC_LLAMA3, false, false, true, "{\"answer\": 42}", "{\"answer\": 42}", NULL, 0, {{0}}},
    {"llama3-truncated", TC_LLAMA3, false, false, true, "{\"name\": \"get_weather\", \"parameters\": {\"loc",
     "{\"name\": \"get_weather\", \"parameters\": {\"loc", NULL, 0, {{0}}},
    {"llama3-text-before-tag", TC_LLAMA3, false, false, true,
     "Checking.<|python_tag|>{\"name\": \"f\", \"arguments\": {\"q\": \"}\"}}", "Checking.", NULL, 1,
     {{"f", "{\"q\":\"}\"}"}}},
    /* ---- Mistral ---- */
    {"mistral-one", TC_MISTRAL, false, false, true,
     "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", \"unit\": \"celsius\"}, "
     "\"id\": \"abcDEF123\"}]",
     "", NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"mistral-two", TC_MISTRAL, false, false, true,
     "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {\"q\": \"x]y\"}}, {\"name\": \"b\", \"arguments\": {}}]", "",
     NULL, 2, {{"a", "{\"q\":\"x]y\"}"}, {"b", "{}"}}},
    {"mistral-text-before", TC_MISTRAL, false, false, true,
     "I'll look that up.[TOOL_CALLS][" WEATHER "]", "I'll look that up.", NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"mistral-truncated", TC_MISTRAL, false, false, true, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {",
     "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {", NULL, 0, {{0}}},
    {"mistral-args-format", TC_MISTRAL, false, false, true, "[TOOL_CALLS]get_weather[ARGS]{\"location\": \"Paris\"}",
     "", NULL, 1, {{"get_weather", "{\"location\":\"Paris\"}"}}},
    {"mistral-empty-list", TC_MISTRAL, false, false, true, "[TOOL_CALLS][]", "[TOOL_CALLS][]", NULL, 0, {{0}}},
    /* ---- DeepSeek R1 ---- */
    {"r1-call", TC_DEEPSEEK_R1, true, true, true,
     "Okay, the user wants the weather.\n</think>\n\n" DS_CALLS_B DS_CALL_B "function" DS_SEP_
     "get_weather\n```json\n{\"location\": \"Paris\", \"unit\": \"celsius\"}\n```" DS_CALL_E DS_CALLS_E,
     "", "Okay, the user wants the weather.", 1, {{"get_weather", WEATHER_ARGS}}},
    {"r1-two-calls", TC_DEEPSEEK_R1, true, true, true,
     "Two lookups.</think>" DS_CALLS_B DS_CALL_B "function" DS_SEP_ "a\n```json\n{\"x\": \"```\"}\n```" DS_CALL_E
     "\n" DS_CALL_B "function" DS_SEP_ "b\n```json\n{}\n```" DS_CALL_E DS_CALLS_E,
     "", "Two lookups.", 2, {{"a", "{\"x\":\"```\"}"}, {"b", "{}"}}},
    {"r1-no-calls-begin", TC_DEEPSEEK_R1, true, false, true,
     "Sure." DS_CALL_B "function" DS_SEP_ "f\n```json\n{\"q\": 1}\n```" DS_CALL_E, "Sure.", NULL, 1,
     {{"f", "{\"q\":1}"}}},
    {"r1-truncated", TC_DEEPSEEK_R1, true, true, true,
     "Hmm.</think>" DS_CALLS_B DS_CALL_B "function" DS_SEP_ "f\n```json\n{\"q\": ",
     DS_CALLS_B DS_CALL_B "function" DS_SEP_ "f\n```json\n{\"q\": ", "Hmm.", 0, {{0}}},
    {"r1-thinking-only", TC_DEEPSEEK_R1, true, true, true, "<think>\nI keep thinking", "", "I keep thinking", 0,
     {{0}}},
    {"r1-answer", TC_DEEPSEEK_R1, true, true, true, "Easy.\n</think>\n\nThe answer is 4.", "The answer is 4.",
     "Easy.", 0, {{0}}},
    {"r1-stray-end", TC_DEEPSEEK_R1, false, false, true, "text " DS_CALLS_E, "text " DS_CALLS_E, NULL, 0, {{0}}},
    /* ---- Functionary v3.1 ---- */
    {"fn31-one", TC_FUNCTIONARY_V3_1, false, false, true,
     "<function=get_weather>{\"location\": \"Paris\", \"unit\": \"celsius\"}</function>", "", NULL, 1,
     {{"get_weather", WEATHER_ARGS}}},
    {"fn31-two-text", TC_FUNCTIONARY_V3_1, false, false, true,
     "Looking.<function=a>{\"s\": \"</function>\"}</function><function=b>{}</function>", "Looking.", NULL, 2,
     {{"a", "{\"s\":\"</function>\"}"}, {"b", "{}"}}},
    {"fn31-code", TC_FUNCTIONARY_V3_1, false, false, true, "<|python_tag|>import math\nprint(math.pi)", "", NULL, 1,
     {{"python", "{\"code\":\"import math\\nprint(math.pi)\"}"}}},
    {"fn31-bad-name", TC_FUNCTIONARY_V3_1, false, false, true, "<function=a b>{}</function>",
     "<function=a b>{}</function>", NULL, 0, {{0}}},
    /* ---- Functionary v3.2 (the prompt ends with ">>>") ---- */
    {"fn32-call", TC_FUNCTIONARY_V3_2, false, false, true, "get_weather\n{\"location\": \"Paris\", \"unit\": \"celsius\"}",
     "", NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"fn32-all", TC_FUNCTIONARY_V3_2, false, false, true, "all\nHello there!", "Hello there!", NULL, 0, {{0}}},
    {"fn32-text-then-call", TC_FUNCTIONARY_V3_2, false, false, true,
     "all\nLet me check.>>>get_weather\n{\"location\": \"Paris\", \"unit\": \"celsius\"}", "Let me check.", NULL, 1,
     {{"get_weather", WEATHER_ARGS}}},
    {"fn32-two", TC_FUNCTIONARY_V3_2, false, false, true, "a\n{\"x\": \">>>\"}>>>b\n{}", "", NULL, 2,
     {{"a", "{\"x\":\">>>\"}"}, {"b", "{}"}}},
    {"fn32-python", TC_FUNCTIONARY_V3_2, false, false, true, "python\nprint(2)", "", NULL, 1,
     {{"python", "{\"code\":\"print(2)\"}"}}},
    {"fn32-no-recipient", TC_FUNCTIONARY_V3_2, false, false, true, "Hello world", "Hello world", NULL, 0, {{0}}},
    {"fn32-parse-off", TC_FUNCTIONARY_V3_2, false, false, false, "all\nHi>>>f\n{}", "Hi>>>f\n{}", NULL, 0, {{0}}},
    /* ---- Command R7B ---- */
    {"r7b-call", TC_COMMAND_R7B, false, false, true,
     "<|START_THINKING|>I will look up the weather.<|END_THINKING|><|START_ACTION|>[\n    {\"tool_call_id\": \"0\", "
     "\"tool_name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}\n]<|END_ACTION|>",
     "", "I will look up the weather.", 1, {{"get_weather", WEATHER_ARGS}}},
    {"r7b-two", TC_COMMAND_R7B, false, false, true,
     "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"a\", \"parameters\": {}}, {\"tool_call_id\": \"1\", "
     "\"tool_name\": \"b\", \"parameters\": {\"k\": null}}]<|END_ACTION|>",
     "", NULL, 2, {{"a", "{}"}, {"b", "{\"k\":null}"}}},
    {"r7b-response", TC_COMMAND_R7B, false, false, true, "<|START_RESPONSE|>Hello!<|END_RESPONSE|>", "Hello!", NULL,
     0, {{0}}},
    {"r7b-truncated", TC_COMMAND_R7B, false, false, true, "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_na",
     "<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_na", NULL, 0, {{0}}},
    /* ---- Generic JSON ---- */
    {"generic-calls", TC_GENERIC, false, false, true,
     "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}]}",
     "", NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"generic-one", TC_GENERIC, false, false, true, "{\"tool_call\": {\"name\": \"f\", \"arguments\": {\"a\": true}}}",
     "", NULL, 1, {{"f", "{\"a\":true}"}}},
    {"generic-text", TC_GENERIC, false, false, true, "Just text.", "Just text.", NULL, 0, {{0}}},
    {"generic-json-answer", TC_GENERIC, false, false, true, "{\"response\": \"hi\"}", "{\"response\": \"hi\"}", NULL,
     0, {{0}}},
    /* ---- Harmony (gpt-oss): the prompt ends "<|start|>assistant"; <|call|> and <|return|> are
     * end-of-generation tokens, so a served output usually lacks them ---- */
#define HM_CALL "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
#define HM_NEXT "<|end|><|start|>assistant"
    {"harmony-final", TC_HARMONY, true, false, true, "<|channel|>final<|message|>Hello!", "Hello!", NULL, 0, {{0}}},
    {"harmony-analysis-final", TC_HARMONY, true, false, true,
     "<|channel|>analysis<|message|>User greets. Reply in kind." HM_NEXT "<|channel|>final<|message|>Hello!<|return|>",
     "Hello!", "User greets. Reply in kind.", 0, {{0}}},
    {"harmony-call", TC_HARMONY, true, false, true,
     "<|channel|>analysis<|message|>Need the weather." HM_NEXT HM_CALL
     "{\"location\": \"Paris\", \"unit\": \"celsius\"}<|call|>",
     "", "Need the weather.", 1, {{"get_weather", WEATHER_ARGS}}},
    {"harmony-call-no-closer", TC_HARMONY, true, false, true, HM_CALL "{\"location\":\"Paris\",\"unit\":\"celsius\"}", "",
     NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"harmony-call-role-recipient", TC_HARMONY, true, false, true,
     " to=functions.get_weather<|channel|>commentary json<|message|>{\"location\": \"Paris\", \"unit\": \"celsius\"}<|call|>",
     "", NULL, 1, {{"get_weather", WEATHER_ARGS}}},
    {"harmony-preamble-then-call", TC_HARMONY, true, false, true,
     "<|channel|>commentary<|message|>Checking the weather now." HM_NEXT HM_CALL "{}<|call|>",
     "Checking the weather now.", NULL, 1, {{"get_weather", "{}"}}},
    {"harmony-closer-in-string", TC_HARMONY, true, false, true,
     HM_CALL "{\"text\": \"a <|call|> b <|end|> c <|message|>\"}<|call|>", "", NULL, 1,
     {{"get_weather", "{\"text\":\"a <|call|> b <|end|> c <|message|>\"}"}}},
    {"harmony-truncated", TC_HARMONY, true, false, true, "<|channel|>analysis<|message|>Hm." HM_NEXT HM_CALL "{\"loc",
     "<|start|>assistant" HM_CALL "{\"loc", "Hm.", 0, {{0}}},
    {"harmony-garbage-after-json", TC_HARMONY, true, false, true, HM_CALL "{} oops", HM_CALL "{} oops", NULL, 0, {{0}}},
    {"harmony-bad-json", TC_HARMONY, true, false, true, HM_CALL "{nope}<|call|>", HM_CALL "{nope}", NULL, 0, {{0}}},
    {"harmony-parse-off", TC_HARMONY, true, false, false, HM_CALL "{\"location\": \"Paris\"}<|call|>",
     HM_CALL "{\"location\": \"Paris\"}", NULL, 0, {{0}}},
    {"harmony-call-after-text", TC_HARMONY, true, false, true, "Let me check." HM_CALL "{\"location\": \"Paris\"}",
     "Let me check.", NULL, 1, {{"get_weather", "{\"location\":\"Paris\"}"}}},
    {"harmony-plain", TC_HARMONY, true, false, true, "Just text, no markers.", "Just text, no markers.", NULL, 0, {{0}}},
    {"harmony-analysis-truncated", TC_HARMONY, true, false, true, "<|channel|>analysis<|message|>Thinking about <|en",
     "", "Thinking about <|en", 0, {{0}}},
    {"harmony-starts-in-reasoning", TC_HARMONY, true, true, true,
     "still thinking" HM_NEXT "<|channel|>final<|message|>Done.", "Done.", "still thinking", 0, {{0}}},
    {"harmony-two-analysis", TC_HARMONY, true, false, true,
     "<|channel|>analysis<|message|>A. " HM_NEXT "<|channel|>analysis<|message|>B." HM_NEXT
     "<|channel|>final<|message|>C" HM_NEXT "<|channel|>final<|message|>D",
     "CD", "A. B.", 0, {{0}}},
    {"harmony-builtin-recipient", TC_HARMONY, true, false, true,
     "<|channel|>analysis to=browser.search code<|message|>{\"query\": \"héllo \\u00e9 日本\", \"topn\": 3}<|call|>", "",
     NULL, 1, {{"browser.search", "{\"query\":\"héllo \\u00e9 日本\",\"topn\":3}"}}},
#define HM_LONG "to=" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "<|message|>{}"
    {"harmony-header-too-long", TC_HARMONY, true, false, true, HM_LONG, HM_LONG, NULL, 0, {{0}}},
#undef HM_LONG
#undef HM_CALL
#undef HM_NEXT
};

#define N_CORPUS ((int)(sizeof corpus / sizeof corpus[0]))

#endif
