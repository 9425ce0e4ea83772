/* test_toolcall.c — tool-call formats: family detection on the real chat templates, parsing of
 * a corpus of recorded-style outputs per family (exact results), streaming in any chunking
 * giving the same result as one whole parse, call ids, request validation messages, and the
 * grammars of every family (they parse, accept the canonical call, refuse an unknown tool). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/toolcall.h"
#include "test_toolcall_canon.h"
#include "test_toolcall_corpus.h"
#include "fixtures.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* ---- Detection ---- */

static const struct {
    const char *file;
    tc_family f;
    bool reasoning;
} templates[] = {
    {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", TC_GENERIC, false},
    {"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", TC_COMMAND_R7B, true},
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", TC_HERMES, false},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", TC_HERMES, false},
    {"Qwen-Qwen2.5-7B-Instruct.jinja", TC_HERMES, false},
    {"Qwen-Qwen3-tokenizer-config.jinja", TC_HERMES, true},
    {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", TC_DEEPSEEK_R1, true},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", TC_DEEPSEEK_R1, true},
    {"llama-cpp-deepseek-r1.jinja", TC_DEEPSEEK_R1, true},
    {"fireworks-ai-llama-3-firefunction-v2.jinja", TC_GENERIC, false},
    {"google-gemma-2-2b-it.jinja", TC_GENERIC, false},
    {"meetkai-functionary-medium-v3.1.jinja", TC_FUNCTIONARY_V3_1, false},
    {"meetkai-functionary-medium-v3.2.jinja", TC_FUNCTIONARY_V3_2, false},
    {"meta-llama-Llama-3.1-8B-Instruct.jinja", TC_LLAMA3, false},
    {"meta-llama-Llama-3.2-3B-Instruct.jinja", TC_LLAMA3, false},
    {"meta-llama-Llama-3.3-70B-Instruct.jinja", TC_LLAMA3, false},
    {"microsoft-Phi-3.5-mini-instruct.jinja", TC_GENERIC, false},
    {"mistralai-Mistral-Nemo-Instruct-2407.jinja", TC_MISTRAL, false},
    {"openai-gpt-oss-20b.jinja", TC_HARMONY, true},
};

Test(toolcall, detect_real_templates) {
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
        char rel[256], path[1024];
        snprintf(rel, sizeof rel, "chat-templates/%s", templates[i].file);
        fixture_path(path, sizeof path, rel);
        char *src = slurp(path);
        cr_assert(src, "cannot read %s", path);
        tc_family f = tc_detect(src);
        cr_expect_eq(f, templates[i].f, "%s: detected %s, expected %s", templates[i].file, tc_family_name(f),
                     tc_family_name(templates[i].f));
        tc_reasoning r;
        tc_reasoning_detect(f, src, NULL, &r);
        cr_expect_eq(r.reasoning, templates[i].reasoning, "%s: reasoning", templates[i].file);
        free(src);
    }
}

Test(toolcall, detect_gguf_qwen3_template) {
    char path[1024];
    fixture_path(path, sizeof path, "vocab/ggml-vocab-qwen2.gguf");
    chat_gguf_info info;
    he_error err = {0};
    cr_assert_eq(chat_gguf_read(path, &info, &err), 0, "%s", err.msg);
    cr_assert(info.template_text);
    cr_expect_eq(tc_detect(info.template_text), TC_HERMES);
    tc_reasoning r;
    tc_reasoning_detect(TC_HERMES, info.template_text, "<|im_start|>assistant\n<think>\n", &r);
    cr_expect(r.reasoning && r.starts_in_reasoning);
    tc_reasoning_detect(TC_HERMES, info.template_text, "<|im_start|>assistant\n<think>\n\n</think>\n\n", &r);
    cr_expect(r.reasoning && !r.starts_in_reasoning);
    chat_gguf_info_deinit(&info);
}

Test(toolcall, detect_none_and_names) {
    cr_expect_eq(tc_detect(NULL), TC_GENERIC);
    cr_expect_eq(tc_detect("{{ messages[0].content }}"), TC_GENERIC);
    for (int f = 0; f < TC_N_FAMILIES; f++) {
        tc_family g;
        cr_expect_eq(tc_family_from_name(tc_family_name((tc_family)f), &g), 0);
        cr_expect_eq((int)g, f);
    }
    tc_family g;
    cr_expect_eq(tc_family_from_name("Functionary-v3.2", &g), 0);
    cr_expect_eq(g, TC_FUNCTIONARY_V3_2);
    cr_expect_eq(tc_family_from_name("qwen", &g), 0);
    cr_expect_eq(g, TC_HERMES);
    cr_expect_eq(tc_family_from_name("nope", &g), -1);
    cr_expect_eq(tc_family_from_name(NULL, &g), -1);
}

/* ---- Parsing ---- */

static bool valid_id(const char *id) {
    if (!id || strncmp(id, "call_", 5) || strlen(id) != 29) return false;
    for (const char *p = id + 5; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return false;
    return true;
}

static void check_result(const corpus_case *c, const tc_result *r, const char *how) {
    cr_expect_str_eq(r->content, c->content, "%s (%s): content", c->label, how);
    if (c->reasoning_text) {
        cr_expect(r->reasoning != NULL, "%s (%s): no reasoning", c->label, how);
        if (r->reasoning) cr_expect_str_eq(r->reasoning, c->reasoning_text, "%s (%s): reasoning", c->label, how);
    } else {
        cr_expect(r->reasoning == NULL, "%s (%s): unexpected reasoning '%s'", c->label, how,
                  r->reasoning ? r->reasoning : "");
    }
    cr_expect_eq(r->n_calls, c->n_calls, "%s (%s): %d calls, expected %d", c->label, how, r->n_calls, c->n_calls);
    for (int i = 0; i < r->n_calls && i < c->n_calls; i++) {
        cr_expect_str_eq(r->calls[i].name, c->calls[i].name, "%s (%s): call %d name", c->label, how, i);
        cr_expect_str_eq(r->calls[i].arguments, c->calls[i].args, "%s (%s): call %d arguments", c->label, how, i);
        cr_expect(valid_id(r->calls[i].id), "%s: id '%s'", c->label, r->calls[i].id);
        for (int j = 0; j < i; j++) cr_expect_str_neq(r->calls[i].id, r->calls[j].id);
    }
}

Test(toolcall, corpus_whole) {
    for (int i = 0; i < N_CORPUS; i++) {
        const corpus_case *c = &corpus[i];
        tc_reasoning r = {c->reasoning, c->starts_in_reasoning};
        tc_result res;
        he_error err = {0};
        cr_assert_eq(tc_parse(c->f, &r, c->parse_calls, c->text, strlen(c->text), &res, &err), 0, "%s", err.msg);
        check_result(c, &res, "whole");
        tc_result_free(&res);
    }
}

/* Collects stream deltas into a tc_result, checking call indexes run 0, 1, ... */
typedef struct {
    tc_result r;
    size_t clen, rlen;
} sink;

static void app(char **b, size_t *len, const char *t, size_t n) {
    *b = realloc(*b, *len + n + 1);
    memcpy(*b + *len, t, n);
    *len += n;
    (*b)[*len] = 0;
}

static void on_delta(const tc_delta *d, void *user) {
    sink *s = user;
    cr_assert(d->len > 0 || d->kind == TC_DELTA_CALL, "empty delta");
    if (d->kind == TC_DELTA_CONTENT) {
        app(&s->r.content, &s->clen, d->text, d->len);
    } else if (d->kind == TC_DELTA_REASONING) {
        app(&s->r.reasoning, &s->rlen, d->text, d->len);
    } else {
        cr_assert_eq(d->index, s->r.n_calls);
        s->r.calls = realloc(s->r.calls, (size_t)(s->r.n_calls + 1) * sizeof *s->r.calls);
        tc_call *k = &s->r.calls[s->r.n_calls++];
        k->id = strdup(d->id);
        k->name = strdup(d->name);
        k->arguments = strndup(d->text, d->len);
    }
}

/* Feeds text in pieces of the sizes drawn from seed (0: one byte at a time). */
static void stream_case(const corpus_case *c, unsigned seed) {
    tc_reasoning r = {c->reasoning, c->starts_in_reasoning};
    tc_stream *s = tc_stream_new(c->f, &r, c->parse_calls);
    sink k = {0};
    he_error err = {0};
    size_t n = strlen(c->text), p = 0;
    while (p < n) {
        size_t step = 1;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            step = 1 + (seed >> 16) % 7;
        }
        if (step > n - p) step = n - p;
        cr_assert_eq(tc_stream_feed(s, c->text + p, step, false, on_delta, &k, &err), 0);
        p += step;
    }
    cr_assert_eq(tc_stream_feed(s, NULL, 0, true, on_delta, &k, &err), 0);
    cr_expect_eq(tc_stream_n_calls(s), c->n_calls, "%s", c->label);
    if (!k.r.content) k.r.content = strdup("");
    char how[32];
    snprintf(how, sizeof how, "stream seed %u", seed);
    check_result(c, &k.r, how);
    tc_result_free(&k.r);
    tc_stream_free(s);
}

Test(toolcall, corpus_streaming_equals_whole) {
    for (int i = 0; i < N_CORPUS; i++) {
        stream_case(&corpus[i], 0);
        for (unsigned seed = 1; seed <= 5; seed++) stream_case(&corpus[i], seed);
    }
}

/* Content is released as soon as it cannot be part of a call, and held while it could. */
Test(toolcall, stream_holds_back_only_opener_prefixes) {
    tc_reasoning r = {false, false};
    tc_stream *s = tc_stream_new(TC_HERMES, &r, true);
    sink k = {0};
    he_error err = {0};
    tc_stream_feed(s, "Hello <tool", 11, false, on_delta, &k, &err);
    cr_expect_str_eq(k.r.content, "Hello");
    tc_stream_feed(s, "box> x", 6, false, on_delta, &k, &err);
    cr_expect_str_eq(k.r.content, "Hello <toolbox> x");
    cr_expect_eq(tc_stream_opener_at(s), -1);
    tc_stream_feed(s, " <tool_call>{\"name\"", 19, false, on_delta, &k, &err);
    cr_expect_str_eq(k.r.content, "Hello <toolbox> x");
    cr_expect_eq(tc_stream_opener_at(s), 18);
    tc_stream_feed(s, ": \"f\"}</tool_call>", 18, false, on_delta, &k, &err);
    cr_expect_eq(k.r.n_calls, 1);
    tc_stream_feed(s, "", 0, true, on_delta, &k, &err);
    cr_expect_str_eq(k.r.content, "Hello <toolbox> x");
    tc_result_free(&k.r);
    tc_stream_free(s);
}

Test(toolcall, ids_unique) {
    enum { N = 2000 };
    static char ids[N][30];
    tc_reasoning r = {0};
    for (int i = 0; i < N; i++) {
        tc_result res;
        const char *t = "<tool_call>{\"name\": \"f\"}</tool_call>";
        cr_assert_eq(tc_parse(TC_HERMES, &r, true, t, strlen(t), &res, NULL), 0);
        cr_assert_eq(res.n_calls, 1);
        cr_assert(valid_id(res.calls[0].id));
        memcpy(ids[i], res.calls[0].id, 30);
        tc_result_free(&res);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < i; j++) cr_assert_str_neq(ids[i], ids[j]);
}

Test(toolcall, hostile_outputs) {
    /* deep nesting, NULs, invalid UTF-8 in arguments, huge names: content, never a crash */
    char deep[4096];
    size_t n = 0;
    n += (size_t)sprintf(deep, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": ");
    while (n < 3000) deep[n++] = '[';
    memcpy(deep + n, "}}</tool_call>", 14);
    n += 14;
    tc_reasoning r = {true, false};
    for (int f = 0; f < TC_N_FAMILIES; f++) {
        tc_result res;
        cr_assert_eq(tc_parse((tc_family)f, &r, true, deep, n, &res, NULL), 0);
        cr_expect_eq(res.n_calls, 0);
        tc_result_free(&res);
        const char bad[] = "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": \"\xff\xfe\"}}</tool_call>\0tail";
        cr_assert_eq(tc_parse((tc_family)f, &r, true, bad, sizeof bad - 1, &res, NULL), 0);
        cr_expect_eq(res.n_calls, 0);
        tc_result_free(&res);
    }
}

/* The text each family's grammar produces reads back as the same calls. */
Test(toolcall, canonical_calls_round_trip) {
    for (int f = 0; f < TC_N_FAMILIES; f++) {
        for (int n = 1; n <= 2; n++) {
            char text[2048];
            canon_calls((tc_family)f, n, text, sizeof text);
            tc_reasoning r = {0};
            tc_result res;
            cr_assert_eq(tc_parse((tc_family)f, &r, true, text, strlen(text), &res, NULL), 0);
            cr_expect_str_eq(res.content, "", "%s: content '%s'", tc_family_name((tc_family)f), res.content);
            cr_expect_eq(res.n_calls, n, "%s: %d calls of %d", tc_family_name((tc_family)f), res.n_calls, n);
            if (res.n_calls >= 1) {
                cr_expect_str_eq(res.calls[0].name, "get_weather");
                cr_expect_str_eq(res.calls[0].arguments, "{\"location\":\"Paris\"}");
            }
            if (res.n_calls >= 2) {
                cr_expect_str_eq(res.calls[1].name, "now");
                cr_expect_str_eq(res.calls[1].arguments, "{}");
            }
            tc_result_free(&res);
        }
    }
}

Test(toolcall, prepare_messages) {
    const char *msgs = "[{\"role\": \"user\", \"content\": \"hi\"},"
                       "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"call_abc\", \"type\": "
                       "\"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}}]},"
                       "{\"role\": \"tool\", \"tool_call_id\": \"call_abc\", \"content\": \"42\"}]";
    json_error_t je;
    json_t *m = json_loads(msgs, 0, &je);
    cr_assert_eq(tc_prepare_messages(TC_HERMES, m, NULL), 0);
    json_t *args = json_object_get(json_object_get(json_array_get(json_object_get(json_array_get(m, 1), "tool_calls"), 0),
                                                   "function"),
                                   "arguments");
    cr_expect(json_is_object(args) && json_integer_value(json_object_get(args, "a")) == 1);
    cr_assert_eq(tc_prepare_messages(TC_DEEPSEEK_R1, m, NULL), 0);
    json_t *call = json_array_get(json_object_get(json_array_get(m, 1), "tool_calls"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(call, "function"), "arguments")), "{\"a\":1}");
    cr_assert_eq(tc_prepare_messages(TC_MISTRAL, m, NULL), 0);
    const char *id = json_string_value(json_object_get(call, "id"));
    const char *tid = json_string_value(json_object_get(json_array_get(m, 2), "tool_call_id"));
    cr_expect_eq(strlen(id), 9);
    cr_expect_str_eq(id, tid);
    json_decref(m);
    cr_expect_eq(tc_prepare_messages(TC_HERMES, NULL, NULL), -1);
}

Test(toolcall, generic_instructions) {
    json_error_t je;
    json_t *tools = json_loads("[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
                               "{\"type\": \"object\"}}}]",
                               0, &je);
    char *s = tc_generic_instructions(tools);
    cr_expect(strstr(s, "\"get_weather\""));
    cr_expect(strstr(s, "{\"tool_calls\": [{\"name\": "));
    free(s);
    json_decref(tools);
}

/* Where a lazy grammar should engage: the first opener outside reasoning; Llama 3's bare JSON
 * only at the start. */
Test(toolcall, opener_at_skips_reasoning) {
    static const struct {
        tc_family f;
        bool reasoning;
        const char *text;
        long long at;
    } cases[] = {
        {TC_HERMES, true, "<think>I could write <tool_call> now</think>\n\nOk <tool_call>\n{\"name\": \"f\"}", 49},
        {TC_HERMES, false, "no call here", -1},
        {TC_LLAMA3, false, "  {\"name\": \"f\", \"parameters\": {}}", 2},
        {TC_LLAMA3, false, "Text {\"name\": \"f\", \"parameters\": {}}", -1},
        {TC_MISTRAL, false, "x[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}]", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tc_reasoning r = {cases[i].reasoning, false};
        tc_stream *s = tc_stream_new(cases[i].f, &r, true);
        sink k = {0};
        const char *t = cases[i].text;
        for (size_t p = 0; t[p]; p++) tc_stream_feed(s, t + p, 1, false, on_delta, &k, NULL);
        cr_expect_eq(tc_stream_opener_at(s), cases[i].at, "case %zu: %lld", i, tc_stream_opener_at(s));
        tc_stream_feed(s, NULL, 0, true, on_delta, &k, NULL);
        tc_result_free(&k.r);
        tc_stream_free(s);
    }
}

/* Eager streaming: a call in the grammar's shape is announced when its arguments begin, and
 * its arguments come in fragments (fed a byte at a time here) that add up to what tc_parse
 * returns; text that is not in the shape falls back to whole calls. */
typedef struct {
    int starts, frags, whole;
    char name[64], id[32];
    char *args;
    size_t n_args;
} eager_log;

static void on_eager(const tc_delta *d, void *user) {
    eager_log *l = user;
    if (d->kind == TC_DELTA_CALL_START) {
        l->starts++;
        snprintf(l->name, sizeof l->name, "%s", d->name);
        snprintf(l->id, sizeof l->id, "%s", d->id);
    } else if (d->kind == TC_DELTA_ARGS) {
        l->frags++;
        app(&l->args, &l->n_args, d->text, d->len);
    } else if (d->kind == TC_DELTA_CALL) {
        l->whole++;
    }
}

Test(toolcall, eager_argument_fragments) {
    static const struct {
        tc_family f;
        const char *text;
    } cases[] = {
        {TC_HERMES, "<think>hm</think>\n<tool_call>\n{\"name\": \"get_w\", \"arguments\": {\"city\": \"Pa ris\", \"n\": [1, {\"x\": \"}\"}]}}\n</tool_call>"},
        {TC_DEEPSEEK_R1, DS_CALLS_B DS_CALL_B "function" DS_SEP_ "get_w\n```json\n{\"city\": \"a\\\"b\"}\n```" DS_CALL_E DS_CALLS_E},
        {TC_COMMAND_R7B, "<|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": \"get_w\", \"parameters\": {\"city\": \"x\"}}\n]<|END_ACTION|>"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tc_reasoning r = {.reasoning = true};
        he_error err;
        tc_result whole;
        const char *t = cases[k].text;
        cr_assert_eq(tc_parse(cases[k].f, &r, true, t, strlen(t), &whole, &err), 0);
        cr_assert_eq(whole.n_calls, 1, "case %zu", k);
        tc_stream *s = tc_stream_new(cases[k].f, &r, true);
        tc_stream_set_eager(s, true);
        eager_log l = {0};
        for (size_t i = 0; i < strlen(t); i++)
            cr_assert_eq(tc_stream_feed(s, t + i, 1, false, on_eager, &l, &err), 0);
        cr_assert_eq(tc_stream_feed(s, "", 0, true, on_eager, &l, &err), 0);
        cr_expect_eq(l.starts, 1, "case %zu", k);
        cr_expect_eq(l.whole, 0, "case %zu", k);
        cr_expect_geq(l.frags, 3, "case %zu", k);
        cr_expect_str_eq(l.name, "get_w");
        cr_expect(valid_id(l.id));
        cr_expect_str_eq(l.args ? l.args : "", whole.calls[0].arguments, "case %zu", k);
        cr_expect_eq(tc_stream_n_calls(s), 1);
        free(l.args);
        tc_stream_free(s);
        tc_result_free(&whole);
    }
    /* not the grammar's shape (keys swapped): one whole call, nothing announced early */
    tc_stream *s = tc_stream_new(TC_HERMES, NULL, true);
    tc_stream_set_eager(s, true);
    eager_log l = {0};
    const char *t = "<tool_call>\n{\"arguments\": {\"a\": 1}, \"name\": \"f\"}\n</tool_call>";
    he_error err;
    for (size_t i = 0; i < strlen(t); i++) tc_stream_feed(s, t + i, 1, false, on_eager, &l, &err);
    tc_stream_feed(s, "", 0, true, on_eager, &l, &err);
    cr_expect(l.starts == 0 && l.frags == 0 && l.whole == 1);
    free(l.args);
    tc_stream_free(s);
}

/* gpt-oss's template reads `thinking` and tests `"..." in message.content`: reasoning_content
 * is copied over, a null content is left out, arguments become an object. */
Test(toolcall, prepare_messages_harmony) {
    json_error_t je;
    json_t *m = json_loads("[{\"role\": \"user\", \"content\": \"hi\"},"
                           "{\"role\": \"assistant\", \"content\": null, \"reasoning_content\": \"Call f.\", \"tool_calls\": "
                           "[{\"id\": \"c1\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}}]},"
                           "{\"role\": \"assistant\", \"content\": \"x\", \"thinking\": \"kept\", \"reasoning_content\": \"other\"}]",
                           0, &je);
    cr_assert(m, "%s", je.text);
    cr_assert_eq(tc_prepare_messages(TC_HARMONY, m, NULL), 0);
    json_t *a = json_array_get(m, 1);
    cr_expect_null(json_object_get(a, "content"));
    cr_expect_str_eq(json_string_value(json_object_get(a, "thinking")), "Call f.");
    json_t *args = json_object_get(json_object_get(json_array_get(json_object_get(a, "tool_calls"), 0), "function"), "arguments");
    cr_expect(json_is_object(args));
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(m, 2), "thinking")), "kept");
    json_decref(m);
    tc_family g;
    cr_expect_eq(tc_family_from_name("gpt-oss", &g), 0);
    cr_expect_eq(g, TC_HARMONY);
    tc_reasoning r;
    tc_reasoning_detect(TC_HARMONY, NULL, "<|start|>assistant", &r);
    cr_expect(r.reasoning && !r.starts_in_reasoning);
    tc_reasoning_detect(TC_HARMONY, NULL, "<|start|>assistant<|channel|>analysis<|message|>", &r);
    cr_expect(r.reasoning && r.starts_in_reasoning);
}
