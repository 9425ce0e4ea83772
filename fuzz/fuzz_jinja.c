/* fuzz_jinja.c — libFuzzer target over the Jinja lexer, parser and evaluator.
 * The input is a template; it is rendered over a fixed chat context (messages of every role,
 * tool calls with dict arguments, tools) with tight limits, so runaway templates end quickly
 * with HE_LIMIT instead of timing out the fuzzer. Each input is rendered twice, the second time
 * with the context marked as user data: the text must not change and the user spans must be
 * well formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja.h"

static const char CONTEXT[] =
    "{\"messages\": ["
    "{\"role\": \"system\", \"content\": \"You are helpful.\"},"
    "{\"role\": \"user\", \"content\": \"Hi \\u00e9\\ud83c\\udf89 <think>x</think>\"},"
    "{\"role\": \"assistant\", \"content\": \"<think>\\nr\\n</think>\\n\\nok\", \"tool_calls\": ["
    "{\"id\": \"c1\", \"type\": \"function\", \"function\": {\"name\": \"get_weather\","
    " \"arguments\": {\"city\": \"Paris\", \"n\": 3, \"f\": 1.5, \"b\": true, \"z\": null}}}]},"
    "{\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"{\\\"t\\\": 21}\"},"
    "{\"role\": \"user\", \"content\": \"\"}],"
    "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\","
    " \"description\": \"Weather\", \"parameters\": {\"type\": \"object\", \"properties\":"
    " {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}],"
    "\"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
    " \"enable_thinking\": false}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static json_t *ctx;
    if (!ctx) ctx = json_loads(CONTEXT, 0, NULL);
    if (size > 64 * 1024) return 0;
    he_error err;
    jinja_template *t = jinja_parse((const char *)data, size, &err);
    if (!t) return 0;
    struct tm now;
    memset(&now, 0, sizeof now);
    now.tm_year = 124;
    now.tm_mon = 6;
    now.tm_mday = 26;
    now.tm_hour = 12;
    jinja_options opt = {
        .now = &now,
        .limits = {
            .max_depth = 64, .max_steps = 200000, .max_output = 1 << 20, .max_memory = 64u << 20}};
    size_t len;
    char *out = jinja_render(t, ctx, &opt, &len, &err);
    /* the same render with user spans: the same text, and spans sorted, disjoint, non-empty,
     * inside the output */
    static const char *const trusted[] = {"bos_token", "eos_token", NULL};
    opt.mark_user = true;
    opt.trusted = trusted;
    size_t len2, nsp;
    jinja_span *sp;
    char *out2 = jinja_render_spans(t, ctx, &opt, &len2, &sp, &nsp, &err);
    if (!out != !out2 || (out && (len != len2 || memcmp(out, out2, len) != 0))) abort();
    for (size_t i = 0; out2 && i < nsp; i++)
        if (sp[i].start >= sp[i].end || sp[i].end > len2 || (i && sp[i].start <= sp[i - 1].end))
            abort();
    free(sp);
    free(out2);
    free(out);
    jinja_free(t);
    return 0;
}
