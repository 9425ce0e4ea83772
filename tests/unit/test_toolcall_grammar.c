/* test_toolcall_grammar.c — tools/tool_choice validation messages and the call grammars of
 * every family, run on the real grammar engine: each grammar parses, accepts the canonical call
 * text (with a reasoning block first where the spec allows one), ends after the calls it
 * allows, and refuses unknown tools, arguments that break the schema and extra calls. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "chat/toolcall.h"
#include "grammar/grammar.h"
#include "test_toolcall_canon.h"

/* ---- Validation ---- */

static json_t *J(const char *s) {
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    cr_assert(j, "bad test JSON: %s (%s)", s, je.text);
    return j;
}

#define TOOL(name, params) "{\"type\": \"function\", \"function\": {\"name\": \"" name "\", \"parameters\": " params "}}"
#define WEATHER_SCHEMA                                                                                                 \
    "{\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\", \"maxLength\": 40}}, "              \
    "\"required\": [\"location\"], \"additionalProperties\": false}"
#define TOOLS "[" TOOL("get_weather", WEATHER_SCHEMA) ", {\"type\": \"function\", \"function\": {\"name\": \"now\"}}]"

static void expect_invalid(const char *tools, const char *choice, const char *needle) {
    json_t *t = tools ? J(tools) : NULL, *c = choice ? J(choice) : NULL;
    he_error err = {0};
    tc_choice ch;
    const char *named;
    cr_expect_eq(tc_validate(t, c, &ch, &named, &err), -1, "accepted tools=%s choice=%s", tools, choice);
    cr_expect_eq(err.code, HE_INVALID, "%s", err.msg);
    cr_expect(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
    json_decref(t);
    json_decref(c);
}

Test(toolcall_grammar, validate_messages) {
    expect_invalid("{\"a\": 1}", NULL, "tools: must be an array");
    expect_invalid("[]", NULL, "tools: must not be empty");
    expect_invalid("[" TOOL("a", "{}") ", " TOOL("b", "{}") ", " TOOL("c d", "{}") "]", NULL,
                   "tools[2].function.name: 'c d' must be");
    expect_invalid("[" TOOL("x", "{}") ", " TOOL("x", "{}") "]", NULL,
                   "tools[1].function.name: 'x' is already the name of tools[0]");
    expect_invalid("[{\"type\": \"function\"}]", NULL, "tools[0].function: must be an object");
    expect_invalid("[{\"type\": \"retrieval\", \"function\": {\"name\": \"a\"}}]", NULL, "tools[0].type");
    expect_invalid("[" TOOL("a", "\"string\"") "]", NULL, "tools[0].function.parameters: must be a JSON Schema object");
    expect_invalid("[" TOOL("a", "{\"type\": \"string\"}") "]", NULL, "tools[0].function.parameters: type must be");
    expect_invalid("[" TOOL("a", "{}") ", " TOOL("b", "{\"type\": \"object\", \"properties\": {\"x\": {\"not\": {}}}}") "]",
                   NULL, "tools[1].function.parameters");
    expect_invalid("[" TOOL("a", "{}") ", " TOOL("b", "{\"type\": \"object\", \"properties\": {\"x\": {\"not\": {}}}}") "]",
                   NULL, "not");
    expect_invalid("[" TOOL("a", "{\"type\": \"object\", \"properties\": 5}") "]", NULL, "tools[0].function.parameters");
    expect_invalid(TOOLS, "{\"type\": \"function\", \"function\": {\"name\": \"foo\"}}",
                   "tool_choice: no tool named 'foo' among tools");
    expect_invalid(TOOLS, "\"sometimes\"", "tool_choice: unknown value 'sometimes'");
    expect_invalid(TOOLS, "{\"type\": \"function\"}", "tool_choice.function.name");
    expect_invalid(NULL, "\"required\"", "\"required\" needs a non-empty tools array");
    expect_invalid(NULL, "{\"type\": \"function\", \"function\": {\"name\": \"foo\"}}", "no tool named 'foo'");
}

Test(toolcall_grammar, validate_choices) {
    json_t *tools = J(TOOLS);
    static const struct {
        const char *choice;
        tc_choice want;
    } cases[] = {{NULL, TC_CHOICE_AUTO}, {"null", TC_CHOICE_AUTO}, {"\"auto\"", TC_CHOICE_AUTO},
                 {"\"none\"", TC_CHOICE_NONE}, {"\"required\"", TC_CHOICE_REQUIRED},
                 {"{\"type\": \"function\", \"function\": {\"name\": \"now\"}}", TC_CHOICE_NAMED}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *c = cases[i].choice ? J(cases[i].choice) : NULL;
        tc_choice ch = (tc_choice)-1;
        const char *named = NULL;
        he_error err = {0};
        cr_expect_eq(tc_validate(tools, c, &ch, &named, &err), 0, "%s", err.msg);
        cr_expect_eq(ch, cases[i].want);
        if (ch == TC_CHOICE_NAMED) cr_expect_str_eq(named, "now");
        json_decref(c);
    }
    json_decref(tools);
    cr_expect_eq(tc_validate(NULL, NULL, NULL, NULL, NULL), 0);
}

/* ---- Grammars on the real engine ---- */

static gram_vocab *byte_vocab(void) { /* 256 one-byte tokens and an end-of-generation token */
    static char bytes[256];
    const char *piece[257];
    size_t len[257];
    uint8_t kind[257];
    for (int i = 0; i < 256; i++) {
        bytes[i] = (char)i;
        piece[i] = &bytes[i];
        len[i] = 1;
        kind[i] = GRAM_TOKEN_TEXT;
    }
    piece[256] = "";
    len[256] = 0;
    kind[256] = GRAM_TOKEN_EOG;
    he_error err = {0};
    gram_vocab *v = gram_vocab_new(257, piece, len, kind, &err);
    cr_assert(v, "%s", err.msg);
    return v;
}

/* Whether grammar text gbnf accepts all of text (and then may end when want_end). */
static bool accepts(const char *gbnf, const gram_vocab *v, const char *text, bool *can_end, bool *must_end) {
    he_error err = {0};
    gram_grammar *g = gram_parse(gbnf, strlen(gbnf), NULL, &err);
    cr_assert(g, "grammar does not parse: %s\n%s", err.msg, gbnf);
    gram_matcher *m = gram_matcher_new(g, v, &err);
    cr_assert(m, "%s", err.msg);
    bool ok = gram_matcher_accept_bytes(m, text, strlen(text), &err) == 0;
    if (can_end) *can_end = gram_matcher_can_end(m);
    if (must_end) *must_end = gram_matcher_must_end(m);
    gram_matcher_free(m);
    gram_free(g);
    return ok;
}

static void replace(char *s, const char *from, const char *to) {
    char *p = strstr(s, from);
    cr_assert(p);
    size_t fl = strlen(from), tl = strlen(to);
    memmove(p + tl, p + fl, strlen(p + fl) + 1);
    memcpy(p, to, tl);
}

Test(toolcall_grammar, every_family_every_choice) {
    json_t *tools = J(TOOLS);
    gram_vocab *v = byte_vocab();
    const tc_choice choices[] = {TC_CHOICE_AUTO, TC_CHOICE_REQUIRED, TC_CHOICE_NAMED};
    for (int f = 0; f < TC_N_FAMILIES; f++) {
        for (int ci = 0; ci < 3; ci++) {
            for (int par = 0; par <= 1; par++) {
                const char *fam = tc_family_name((tc_family)f);
                tc_spec spec = {.family = (tc_family)f, .tools = tools, .choice = choices[ci], .named = "get_weather",
                                .parallel = par};
                tc_grammar g;
                he_error err = {0};
                cr_assert_eq(tc_grammar_build(&spec, &g, &err), 0, "%s: %s", fam, err.msg);
                cr_assert(g.gbnf);
                cr_expect_eq(g.lazy, choices[ci] == TC_CHOICE_AUTO && f != TC_FUNCTIONARY_V3_2, "%s lazy", fam);
                char one[2048], two[2048], bad[2048];
                canon_calls((tc_family)f, 1, one, sizeof one);
                canon_calls((tc_family)f, 2, two, sizeof two);
                for (int t = 0; t < g.n_triggers; t++)
                    if (strcmp(fam, "llama3") || strcmp(g.triggers[t], "<|python_tag|>"))
                        cr_expect(!strncmp(one, g.triggers[t], strlen(g.triggers[t])),
                                  "%s: trigger '%s' does not start the call", fam, g.triggers[t]);
                bool can_end, must_end;
                cr_expect(accepts(g.gbnf, v, one, &can_end, &must_end), "%s choice %d: refuses\n%s\n%s", fam,
                          choices[ci], one, g.gbnf);
                cr_expect(can_end, "%s: cannot end after a call", fam);
                if (!par && f != TC_FUNCTIONARY_V3_2) cr_expect(must_end, "%s: does not end after its one call", fam);
                bool two_ok = accepts(g.gbnf, v, two, NULL, NULL);
                /* Harmony: one call per turn (<|call|> ends generation) */
                cr_expect_eq(two_ok, par && choices[ci] != TC_CHOICE_NAMED && f != TC_HARMONY,
                             "%s choice %d parallel %d: two calls %s",
                             fam, choices[ci], par, two_ok ? "accepted" : "refused");
                strcpy(bad, one);
                replace(bad, "get_weather", "get_weathex");
                cr_expect(!accepts(g.gbnf, v, bad, NULL, NULL), "%s: unknown tool accepted", fam);
                strcpy(bad, one);
                replace(bad, "\"Paris\"", "5");
                cr_expect(!accepts(g.gbnf, v, bad, NULL, NULL), "%s: arguments against the schema accepted", fam);
                if (choices[ci] != TC_CHOICE_AUTO && f != TC_FUNCTIONARY_V3_2) {
                    char lead[2100];
                    snprintf(lead, sizeof lead, "Sure! %s", one);
                    cr_expect(!accepts(g.gbnf, v, lead, NULL, NULL), "%s: text before a forced call", fam);
                }
                tc_grammar_free(&g);
            }
        }
    }
    gram_vocab_free(v);
    json_decref(tools);
}

Test(toolcall_grammar, reasoning_before_forced_call) {
    json_t *tools = J(TOOLS);
    gram_vocab *v = byte_vocab();
    char one[2048], text[4096];
    tc_reasoning think = {true, false}, inside = {true, true};

    canon_calls(TC_HERMES, 1, one, sizeof one);
    tc_spec spec = {.family = TC_HERMES, .tools = tools, .choice = TC_CHOICE_REQUIRED, .reasoning = &think};
    tc_grammar g;
    cr_assert_eq(tc_grammar_build(&spec, &g, NULL), 0);
    snprintf(text, sizeof text, "<think>\nIt says </th and <thinking> and </think but not the end.\n</think>\n\n%s", one);
    cr_expect(accepts(g.gbnf, v, text, NULL, NULL), "%s\n%s", text, g.gbnf);
    cr_expect(accepts(g.gbnf, v, one, NULL, NULL), "reasoning must stay optional");
    snprintf(text, sizeof text, "<think>a</think>b</think>%s", one);
    cr_expect(!accepts(g.gbnf, v, text, NULL, NULL), "text after </think>");
    tc_grammar_free(&g);

    canon_calls(TC_DEEPSEEK_R1, 1, one, sizeof one);
    spec = (tc_spec){.family = TC_DEEPSEEK_R1, .tools = tools, .choice = TC_CHOICE_REQUIRED, .reasoning = &inside};
    cr_assert_eq(tc_grammar_build(&spec, &g, NULL), 0);
    snprintf(text, sizeof text, "Okay, <think> the user wants </thin weather.\n</think>\n\n%s", one);
    cr_expect(accepts(g.gbnf, v, text, NULL, NULL), "%s\n%s", text, g.gbnf);
    bool can_end = true;
    accepts(g.gbnf, v, one, &can_end, NULL); /* a prefix of the reasoning text, but never complete */
    cr_expect(!can_end, "the open reasoning block must close first");
    tc_grammar_free(&g);

    canon_calls(TC_COMMAND_R7B, 1, one, sizeof one);
    spec = (tc_spec){.family = TC_COMMAND_R7B, .tools = tools, .choice = TC_CHOICE_REQUIRED, .reasoning = &think};
    cr_assert_eq(tc_grammar_build(&spec, &g, NULL), 0);
    snprintf(text, sizeof text, "<|START_THINKING|>I will call get_weather.<|END_THINKING|>%s", one);
    cr_expect(accepts(g.gbnf, v, text, NULL, NULL), "%s\n%s", text, g.gbnf);
    tc_grammar_free(&g);

    /* Harmony: the analysis message, then the next message's header, then the call */
    canon_calls(TC_HARMONY, 1, one, sizeof one);
    spec = (tc_spec){.family = TC_HARMONY, .tools = tools, .choice = TC_CHOICE_REQUIRED, .reasoning = &think};
    cr_assert_eq(tc_grammar_build(&spec, &g, NULL), 0);
    snprintf(text, sizeof text, "<|channel|>analysis<|message|>Call <|en it <|start|> now.<|end|><|start|>assistant%s", one);
    cr_expect(accepts(g.gbnf, v, text, NULL, NULL), "%s\n%s", text, g.gbnf);
    cr_expect(accepts(g.gbnf, v, one, NULL, NULL), "reasoning must stay optional");
    snprintf(text, sizeof text, "<|channel|>analysis<|message|>a<|end|>%s", one);
    cr_expect(!accepts(g.gbnf, v, text, NULL, NULL), "no next-message header");
    tc_grammar_free(&g);
    {
        json_t *schema = J("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"}}, \"required\": [\"n\"]}");
        char *gb = tc_format_grammar(TC_HARMONY, &think, schema, NULL);
        cr_assert(gb);
        cr_expect(accepts(gb, v, "<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>final<|message|>{\"n\": 1}",
                          &can_end, NULL) && can_end, "%s", gb);
        cr_expect(accepts(gb, v, "<|channel|>final<|message|>{\"n\": 2}", &can_end, NULL) && can_end);
        cr_expect(!accepts(gb, v, "{\"n\": 2}", NULL, NULL), "the final channel's header comes first");
        free(gb);
        json_decref(schema);
    }

    /* Functionary v3.2 under auto: text for everyone, or calls */
    spec = (tc_spec){.family = TC_FUNCTIONARY_V3_2, .tools = tools, .choice = TC_CHOICE_AUTO, .parallel = true};
    cr_assert_eq(tc_grammar_build(&spec, &g, NULL), 0);
    cr_expect(accepts(g.gbnf, v, "all\nHello > there >> you", &can_end, NULL) && can_end);
    cr_expect(accepts(g.gbnf, v, "all\nChecking.>>>get_weather\n{\"location\": \"Paris\"}", &can_end, NULL) && can_end);
    cr_expect(!accepts(g.gbnf, v, "all\nChecking.>>>nope\n{}", NULL, NULL));
    tc_grammar_free(&g);

    spec = (tc_spec){.family = TC_HERMES, .tools = tools, .choice = TC_CHOICE_NONE};
    cr_assert_eq(tc_grammar_build(&spec, &g, NULL), 0);
    cr_expect(g.gbnf == NULL);
    tc_grammar_free(&g);
    gram_vocab_free(v);
    json_decref(tools);
}

/* ---- A random-weights model under each family's grammars ---- */

#include "gguf/gguf.h"
#include "sample/sample.h"
#include "tokenizer/tokenizer.h"
#include "fixtures.h"

static void ignore_delta(const tc_delta *d, void *user) {
    (void)d;
    (void)user;
}
#define NULL_DELTA ignore_delta

/* One sampled output: free tokens first (lazy grammars: the model writes text, then the
 * trigger), then tokens under the grammar until it must end, EOG, or the budget. */
typedef struct {
    const tok_vocab *tv;
    const gram_vocab *gv;
    float *logits, *scratch;
    uint64_t rng;
    int32_t want; /* a token id to count in the outputs (-1: none) */
    int n_want;
} sim;

static void random_logits(sim *S) {
    int32_t nv = tok_n_vocab(S->tv);
    for (int32_t i = 0; i < nv; i++) {
        S->rng ^= S->rng << 13, S->rng ^= S->rng >> 7, S->rng ^= S->rng << 17;
        S->logits[i] = (float)(S->rng >> 40) / (float)(1 << 24) * 8.0f;
    }
}

static size_t generate(sim *S, const tc_grammar *g, const char *fam, uint64_t seed, char *text, size_t cap) {
    he_error err = {0};
    gram_grammar *gg = gram_parse(g->gbnf, strlen(g->gbnf), NULL, &err);
    cr_assert(gg, "%s\n%s", err.msg, g->gbnf);
    gram_matcher *m = gram_matcher_new(gg, S->gv, &err);
    cr_assert(m, "%s", err.msg);
    sample_params sp = sample_params_default();
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.seed = seed;
    sample_chain *sc = sample_chain_new(&sp, tok_n_vocab(S->tv), &err);
    size_t n = 0;
    if (g->lazy) {
        /* bare-JSON triggers count only at the start of the output */
        int free_tokens = g->triggers[0][0] == '{' ? 0 : 3;
        for (int i = 0; i < free_tokens; i++) {
            random_logits(S);
            int32_t t = sample_chain_sample(sc, S->logits);
            if (tok_is_eog(S->tv, t) || tok_is_control(S->tv, t)) continue;
            n += tok_token_bytes(S->tv, t, false, text + n, cap - n - 1);
        }
        const char *trig = g->triggers[0];
        memcpy(text + n, trig, strlen(trig));
        n += strlen(trig);
        cr_assert_eq(gram_matcher_accept_bytes(m, trig, strlen(trig), &err), 0, "%s: trigger: %s", fam, err.msg);
    }
    for (int step = 0; step < 600 && !gram_matcher_must_end(m); step++) {
        random_logits(S);
        int32_t t = gram_sample(m, sc, S->logits, S->scratch, &err);
        cr_assert(t >= 0, "%s: dead end: %s after '%.*s'", fam, err.msg, (int)n, text);
        sample_chain_accept(sc, t);
        S->n_want += t == S->want;
        if (tok_is_eog(S->tv, t)) break;
        n += tok_token_bytes(S->tv, t, true, text + n, cap - n - 1);
        cr_assert(n < cap - 300);
    }
    text[n] = 0;
    sample_chain_free(sc);
    gram_matcher_free(m);
    gram_free(gg);
    return n;
}

/* Random logits over a real 151K-token vocab, tools with varied bounded schemas: every output
 * under a forced (required, named) or engaged lazy grammar ends in calls that parse, with
 * arguments that are JSON objects, within the token budget; streamed byte by byte it parses
 * the same. */
Test(toolcall_grammar, random_model_calls_parse, .timeout = 180) {
    char path[1024];
    fixture_path(path, sizeof path, "vocab/ggml-vocab-qwen2.gguf");
    he_error err = {0};
    gguf_file *gf = gguf_open(path, &err);
    cr_assert(gf, "%s", err.msg);
    tok_vocab *tv = tok_vocab_load(gf, &err);
    cr_assert(tv, "%s", err.msg);
    gram_vocab *gv = gram_vocab_from_tok(tv, &err);
    cr_assert(gv, "%s", err.msg);
    int32_t nv = tok_n_vocab(tv);
    sim S = {tv, gv, malloc((size_t)nv * sizeof(float)), malloc((size_t)nv * sizeof(float)), 0x9e3779b97f4a7c15ULL,
             -1, 0};
    json_t *tools = J("[" TOOL("get_weather", WEATHER_SCHEMA) ", "
                      TOOL("now", "{\"type\": \"object\", \"properties\": {\"tz\": {\"enum\": [\"UTC\", \"CET\"]}}, "
                           "\"additionalProperties\": false}") ", "
                      TOOL("plan", "{\"type\": \"object\", \"properties\": {\"steps\": {\"type\": \"array\", \"items\": "
                           "{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 99}, \"maxItems\": 3}, \"mode\": "
                           "{\"enum\": [\"fast\", \"slow\"]}, \"ok\": {\"type\": \"boolean\"}, \"who\": {\"type\": "
                           "\"object\", \"properties\": {\"x\": {\"type\": \"string\", \"maxLength\": 5}}, "
                           "\"required\": [\"x\"], \"additionalProperties\": false}}, \"required\": [\"steps\", "
                           "\"mode\"], \"additionalProperties\": false}") "]");
    cr_assert_eq(tc_validate(tools, NULL, NULL, NULL, &err), 0, "%s", err.msg);
    int runs = 0, with_calls = 0;
    for (int f = 0; f < TC_N_FAMILIES; f++) {
        const char *fam = tc_family_name((tc_family)f);
        for (int rep = 0; rep < 4; rep++) {
            tc_choice ch = rep == 2 ? TC_CHOICE_NAMED : rep == 3 ? TC_CHOICE_AUTO : TC_CHOICE_REQUIRED;
            if (ch == TC_CHOICE_AUTO && f == TC_FUNCTIONARY_V3_2) ch = TC_CHOICE_REQUIRED;
            tc_spec spec = {.family = (tc_family)f, .tools = tools, .choice = ch, .named = "plan", .parallel = rep == 1,
                            .vocab = gv};
            tc_grammar g;
            cr_assert_eq(tc_grammar_build(&spec, &g, &err), 0, "%s", err.msg);
            char text[16384];
            size_t n = generate(&S, &g, fam, (uint64_t)(f * 10 + rep), text, sizeof text);
            runs++;
            tc_reasoning r = {0};
            tc_result res;
            cr_assert_eq(tc_parse((tc_family)f, &r, true, text, n, &res, NULL), 0);
            if (res.n_calls > 0) with_calls++;
            cr_expect(res.n_calls >= 1, "%s choice %d: no call in '%s'", fam, ch, text);
            for (int i = 0; i < res.n_calls; i++) {
                json_error_t je;
                json_t *a = json_loads(res.calls[i].arguments, 0, &je);
                cr_expect(json_is_object(a), "%s: arguments '%s'", fam, res.calls[i].arguments);
                if (ch == TC_CHOICE_NAMED) cr_expect_str_eq(res.calls[i].name, "plan");
                json_decref(a);
            }
            /* streamed one byte at a time: the same */
            tc_stream *s = tc_stream_new((tc_family)f, &r, true);
            for (size_t p = 0; p < n; p++) tc_stream_feed(s, text + p, 1, false, NULL_DELTA, NULL, NULL);
            tc_stream_feed(s, NULL, 0, true, NULL_DELTA, NULL, NULL);
            cr_expect_eq(tc_stream_n_calls(s), res.n_calls, "%s: streamed calls", fam);
            tc_stream_free(s);
            tc_result_free(&res);
            tc_grammar_free(&g);
        }
    }
    cr_expect_eq(with_calls, runs);
    /* Hermes markers are single tokens of this vocab: a forced call's token ids contain them,
     * and the grammar never lets the model spell them */
    int32_t open_id = gram_vocab_special(gv, "<tool_call>", 11), close_id = gram_vocab_special(gv, "</tool_call>", 12);
    cr_assert(open_id >= 0 && close_id >= 0);
    for (int rep = 0; rep < 6; rep++) {
        tc_spec spec = {.family = TC_HERMES, .tools = tools, .choice = rep & 1 ? TC_CHOICE_NAMED : TC_CHOICE_REQUIRED,
                        .named = "now", .parallel = rep >= 4, .vocab = gv};
        tc_grammar g;
        cr_assert_eq(tc_grammar_build(&spec, &g, &err), 0, "%s", err.msg);
        cr_expect(strstr(g.gbnf, "@\"<tool_call>\"") && strstr(g.gbnf, "@\"</tool_call>\""), "%s", g.gbnf);
        char text[16384];
        S.want = open_id, S.n_want = 0;
        size_t n = generate(&S, &g, "hermes", (uint64_t)(500 + rep), text, sizeof text);
        int opens = S.n_want;
        tc_reasoning r = {0};
        tc_result res;
        cr_assert_eq(tc_parse(TC_HERMES, &r, true, text, n, &res, NULL), 0);
        cr_expect(res.n_calls >= 1, "no call in '%s'", text);
        cr_expect_eq(opens, res.n_calls, "every call opened with token %d: %d of %d in '%s'", open_id, opens,
                     res.n_calls, text);
        tc_result_free(&res);
        tc_grammar_free(&g);
        /* the same without the vocab: markers are text */
        spec.vocab = NULL;
        cr_assert_eq(tc_grammar_build(&spec, &g, &err), 0, "%s", err.msg);
        cr_expect(!strstr(g.gbnf, "@\""));
        tc_grammar_free(&g);
    }
    S.want = -1;
    json_decref(tools);
    free(S.logits);
    free(S.scratch);
    gram_vocab_free(gv);
    tok_vocab_free(tv);
    gguf_close(gf);
}

/* A parameters schema without "type" still yields object arguments. */
Test(toolcall_grammar, untyped_parameters_are_objects) {
    json_t *tools = J("[" TOOL("t", "{\"description\": \"anything\"}") "]");
    gram_vocab *v = byte_vocab();
    tc_spec spec = {.family = TC_HERMES, .tools = tools, .choice = TC_CHOICE_REQUIRED};
    tc_grammar g;
    he_error err = {0};
    cr_assert_eq(tc_grammar_build(&spec, &g, &err), 0, "%s", err.msg);
    bool can_end;
    cr_expect(accepts(g.gbnf, v, "<tool_call>\n{\"name\": \"t\", \"arguments\": {\"a\": 1}}\n</tool_call>", &can_end, NULL));
    cr_expect(can_end);
    cr_expect(!accepts(g.gbnf, v, "<tool_call>\n{\"name\": \"t\", \"arguments\": 5", NULL, NULL));
    cr_expect(!accepts(g.gbnf, v, "<tool_call>\n{\"name\": \"t\", \"arguments\": \"x", NULL, NULL));
    tc_grammar_free(&g);
    gram_vocab_free(v);
    json_decref(tools);
}

/* Llama 3.1 built-in tools: the grammar writes NAME.call(query="...") (or raw code for
 * code_interpreter) after <|python_tag|>, and the parser reads it back into calls. */
Test(toolcall_grammar, llama3_builtin_tools, .timeout = 120) {
    json_t *tools = J("[" TOOL("brave_search", "{\"type\": \"object\", \"properties\": {\"query\": {\"type\": \"string\"}}, "
                                               "\"required\": [\"query\"]}") ", "
                      TOOL("code_interpreter", "{\"type\": \"object\", \"properties\": {\"code\": {\"type\": \"string\"}}}") ", "
                      TOOL("get_weather", WEATHER_SCHEMA) "]");
    he_error err = {0};
    cr_assert_eq(tc_validate(tools, NULL, NULL, NULL, &err), 0, "%s", err.msg);
    cr_expect(tc_is_builtin(TC_LLAMA3, "brave_search") && tc_is_builtin(TC_LLAMA3, "wolfram_alpha") &&
              tc_is_builtin(TC_LLAMA3, "code_interpreter"));
    cr_expect(!tc_is_builtin(TC_HERMES, "brave_search") && !tc_is_builtin(TC_LLAMA3, "get_weather"));
    gram_vocab *bv = byte_vocab();
    tc_spec spec = {.family = TC_LLAMA3, .tools = tools, .choice = TC_CHOICE_REQUIRED};
    tc_grammar g;
    cr_assert_eq(tc_grammar_build(&spec, &g, &err), 0, "%s", err.msg);
    bool can_end;
    cr_expect(accepts(g.gbnf, bv, "<|python_tag|>brave_search.call(query=\"a \\\"b\\\"\\n\")", &can_end, NULL), "%s",
              g.gbnf);
    cr_expect(can_end);
    cr_expect(accepts(g.gbnf, bv, "<|python_tag|>import math\nprint(math.pi)", &can_end, NULL));
    cr_expect(accepts(g.gbnf, bv, "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}", NULL, NULL));
    cr_expect(accepts(g.gbnf, bv, "<|python_tag|>brave_search.call(q=\"a\")", NULL, NULL), "code for code_interpreter");
    cr_expect(!accepts(g.gbnf, bv, "{\"name\": \"brave_search\", \"parameters\": {\"query\": \"a\"}}", NULL, NULL),
              "a built-in tool is called in its own syntax");
    tc_grammar_free(&g);
    spec.choice = TC_CHOICE_NAMED;
    spec.named = "brave_search";
    cr_assert_eq(tc_grammar_build(&spec, &g, &err), 0, "%s", err.msg);
    cr_expect(accepts(g.gbnf, bv, "<|python_tag|>brave_search.call(query=\"a\")", NULL, NULL));
    cr_expect(!accepts(g.gbnf, bv, "<|python_tag|>brave_search.call(q=\"a\")", NULL, NULL));
    cr_expect(!accepts(g.gbnf, bv, "<|python_tag|>print(1)", NULL, NULL));
    tc_grammar_free(&g);
    /* raw code is a call to code_interpreter when that tool is offered */
    tc_reasoning r = {0};
    tc_result res;
    const char *code = "<|python_tag|>print(6 * 7)<|eom_id|>";
    cr_assert_eq(tc_parse_tools(TC_LLAMA3, &r, true, tools, code, strlen(code), &res, &err), 0);
    cr_assert_eq(res.n_calls, 1);
    cr_expect_str_eq(res.calls[0].name, "code_interpreter");
    cr_expect_str_eq(res.calls[0].arguments, "{\"code\":\"print(6 * 7)\"}");
    tc_result_free(&res);
    cr_assert_eq(tc_parse(TC_LLAMA3, &r, true, code, strlen(code), &res, &err), 0);
    cr_expect_str_eq(res.calls[0].name, "python");
    tc_result_free(&res);
    /* a random model on a real vocab, forced to brave_search: the call lands in its syntax */
    char path[1024];
    fixture_path(path, sizeof path, "vocab/ggml-vocab-qwen2.gguf");
    gguf_file *gf = gguf_open(path, &err);
    cr_assert(gf, "%s", err.msg);
    tok_vocab *tv = tok_vocab_load(gf, &err);
    gram_vocab *gv = gram_vocab_from_tok(tv, &err);
    int32_t nv = tok_n_vocab(tv);
    sim S = {tv, gv, malloc((size_t)nv * sizeof(float)), malloc((size_t)nv * sizeof(float)), 0x1234567ULL, -1, 0};
    for (int rep = 0; rep < 8; rep++) {
        tc_spec ns = {.family = TC_LLAMA3, .tools = tools, .choice = TC_CHOICE_NAMED, .named = "brave_search",
                      .vocab = gv};
        cr_assert_eq(tc_grammar_build(&ns, &g, &err), 0, "%s", err.msg);
        char text[16384];
        size_t n = generate(&S, &g, "llama3", (uint64_t)(900 + rep), text, sizeof text);
        cr_assert_eq(tc_parse_tools(TC_LLAMA3, &r, true, tools, text, n, &res, &err), 0);
        cr_expect_eq(res.n_calls, 1, "no call in '%s'", text);
        if (res.n_calls == 1) {
            cr_expect_str_eq(res.calls[0].name, "brave_search");
            json_t *a = json_loads(res.calls[0].arguments, 0, NULL);
            cr_expect(json_is_string(json_object_get(a, "query")) && json_object_size(a) == 1, "%s",
                      res.calls[0].arguments);
            json_decref(a);
        }
        tc_result_free(&res);
        tc_grammar_free(&g);
    }
    free(S.logits);
    free(S.scratch);
    gram_vocab_free(gv);
    tok_vocab_free(tv);
    gguf_close(gf);
    gram_vocab_free(bv);
    json_decref(tools);
}
