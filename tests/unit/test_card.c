/* test_card.c — the `hearth card` module: the JSON-schema subset validator, value matching with
 * its normalisations, the scorer (well-formed and landed per expectation), suite loading and its
 * errors, the built-in suite, and the reports (XML escaping, nulls for what was not measured).
 * Untrusted texts (case files, answers) are placed against a guard page. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "card/card.h"

/* ---- Guard pages ---- */

typedef struct {
    char *mem;
    size_t size;
} guarded;

/* Copies s to the end of a readable region followed by a PROT_NONE page. */
static const char *guard(guarded *g, const char *s) {
    size_t len = strlen(s), page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (len + page - 1) / page + 1;
    g->size = pages * page;
    g->mem = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(g->mem != MAP_FAILED);
    cr_assert_eq(mprotect(g->mem + (pages - 1) * page, page, PROT_NONE), 0);
    char *p = g->mem + (pages - 1) * page - len;
    memcpy(p, s, len);
    return p;
}

static void unguard(guarded *g) { munmap(g->mem, g->size); }

/* ---- JSON schema subset ---- */

typedef struct {
    const char *schema, *value;
    bool valid;
    const char *why; /* a substring of the reason, for invalid values */
} schema_case;

static const schema_case schema_cases[] = {
    {"{\"type\": \"string\"}", "\"x\"", true, NULL},
    {"{\"type\": \"string\"}", "1", false, "$: expected string"},
    {"{\"type\": \"integer\"}", "3", true, NULL},
    {"{\"type\": \"integer\"}", "3.0", true, NULL},
    {"{\"type\": \"integer\"}", "3.5", false, "expected integer"},
    {"{\"type\": \"number\", \"minimum\": 0, \"maximum\": 10}", "10", true, NULL},
    {"{\"type\": \"number\", \"minimum\": 0, \"maximum\": 10}", "-0.5", false, "below minimum"},
    {"{\"type\": \"number\", \"minimum\": 0, \"maximum\": 10}", "10.01", false, "above maximum"},
    {"{\"exclusiveMinimum\": 0}", "0", false, "exclusiveMinimum"},
    {"{\"type\": [\"string\", \"null\"]}", "null", true, NULL},
    {"{\"type\": [\"string\", \"null\"]}", "true", false, "listed types"},
    {"{\"enum\": [\"a\", 2]}", "2.0", true, NULL},
    {"{\"enum\": [\"a\", 2]}", "\"b\"", false, "enum"},
    {"{\"const\": {\"k\": [1]}}", "{\"k\": [1.0]}", true, NULL},
    {"{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"",
     true, NULL},
    {"{\"type\": \"string\", \"maxLength\": 2}", "\"abc\"", false, "maxLength"},
    {"{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"minItems\": 1, \"maxItems\": 2}",
     "[1, 2]", true, NULL},
    {"{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"minItems\": 1}", "[]", false,
     "minItems"},
    {"{\"type\": \"array\", \"items\": {\"type\": \"integer\"}}", "[1, \"x\"]", false,
     "$[1]: expected integer"},
    {"{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\"}}, \"required\": "
     "[\"a\"]}",
     "{\"a\": \"x\", \"b\": 1}", true, NULL},
    {"{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\"}}, \"required\": "
     "[\"a\"]}",
     "{}", false, "missing required 'a'"},
    {"{\"properties\": {\"a\": {}}, \"additionalProperties\": false}", "{\"a\": 1, \"b\": 2}",
     false, "$.b: not an allowed property"},
    {"{\"additionalProperties\": {\"type\": \"integer\"}}", "{\"x\": 1, \"y\": \"no\"}", false,
     "$.y: expected integer"},
    {"{\"type\": \"object\", \"properties\": {\"o\": {\"type\": \"object\", \"properties\": "
     "{\"d\": {\"enum\": [1]}}}}}",
     "{\"o\": {\"d\": 2}}", false, "$.o.d: not one of the enum values"},
    {"{\"description\": \"any\", \"title\": \"t\", \"default\": 1}", "[[[]]]", true, NULL},
    {"false", "1", false, "no value"},
    {"true", "1", true, NULL},
};

Test(card_schema, validates_the_subset) {
    for (size_t i = 0; i < sizeof schema_cases / sizeof schema_cases[0]; i++) {
        const schema_case *c = &schema_cases[i];
        json_t *s = json_loads(c->schema, JSON_DECODE_ANY, NULL),
               *v = json_loads(c->value, JSON_DECODE_ANY, NULL);
        cr_assert(s && v, "case %zu parses", i);
        he_error err;
        cr_assert_eq(card_schema_check(s, &err), 0, "case %zu: %s", i, err.msg);
        char why[200];
        int rc = card_schema_validate(s, v, why, sizeof why);
        cr_assert_eq(rc == 0, c->valid, "case %zu: %s against %s: %s", i, c->value, c->schema, why);
        if (c->why) cr_assert(strstr(why, c->why), "case %zu: '%s' lacks '%s'", i, why, c->why);
        json_decref(s);
        json_decref(v);
    }
}

Test(card_schema, rejects_what_it_cannot_check) {
    static const struct {
        const char *schema, *msg;
    } bad[] = {
        {"{\"type\": \"object\", \"properties\": {\"a\": {\"pattern\": \"x\"}}}",
         "$.a: unsupported keyword 'pattern'"},
        {"{\"anyOf\": []}", "unsupported keyword 'anyOf'"},
        {"{\"type\": \"text\"}", "$.type: not a type name"},
        {"{\"required\": \"a\"}", "required: must be a list"},
        {"{\"minimum\": \"0\"}", "minimum: must be a number"},
        {"{\"maxItems\": -1}", "maxItems: must be a non-negative integer"},
        {"[]", "must be an object or a boolean"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *s = json_loads(bad[i].schema, JSON_DECODE_ANY, NULL);
        he_error err = {0};
        cr_assert_eq(card_schema_check(s, &err), -1, "case %zu", i);
        cr_assert(strstr(err.msg, bad[i].msg), "case %zu: '%s' lacks '%s'", i, err.msg, bad[i].msg);
        json_decref(s);
    }
    /* nesting is bounded */
    char deep[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "{\"items\": ");
    strcat(deep, "{}");
    for (int i = 0; i < 40; i++)
        strcat(deep, "}");
    json_t *s = json_loads(deep, 0, NULL);
    he_error err;
    cr_assert_eq(card_schema_check(s, &err), -1);
    cr_assert(strstr(err.msg, "nested deeper"), "%s", err.msg);
    json_decref(s);
}

/* ---- Matching values ---- */

Test(card_match, normalisations) {
    static const struct {
        const char *want, *got, *mode;
        bool match;
    } t[] = {
        {"\"Paris\"", "\"  paris \"", "ci", true},
        {"\"Paris\"", "\"paris\"", "exact", false},
        {"\"Paris\"", "\"Paris\"", "exact", true},
        {"\"17*23\"", "\"17 * 23\"", "nospace", true},
        {"\"17*23\"", "\"17 * 23\"", "ci", false},
        {"100", "100.0", "ci", true},
        {"0.1", "0.10000000000000001", "ci", true},
        {"100", "\"100\"", "ci", false},
        {"true", "true", "ci", true},
        {"true", "1", "ci", false},
        {"null", "null", "exact", true},
        {"[\"a\", 1]", "[\"A\", 1]", "ci", true},
        {"[\"a\", 1]", "[1, \"a\"]", "ci", false},
        {"{\"a\": 1}", "{\"a\": 1, \"extra\": 2}", "ci", true},
        {"{\"a\": 1}", "{\"b\": 1}", "ci", false},
        {"{\"$one_of\": [\"NYC\", \"New York\"]}", "\"new york\"", "ci", true},
        {"{\"$one_of\": [\"NYC\", \"New York\"]}", "\"Boston\"", "ci", false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        json_t *w = json_loads(t[i].want, JSON_DECODE_ANY, NULL),
               *g = json_loads(t[i].got, JSON_DECODE_ANY, NULL);
        cr_assert_eq(card_value_matches(w, g, t[i].mode), t[i].match, "case %zu: %s vs %s (%s)", i,
                     t[i].want, t[i].got, t[i].mode);
        json_decref(w);
        json_decref(g);
    }
}

/* ---- Scoring ---- */

static const char *suite_text =
    "{\"tools\": ["
    "  {\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
    "{\"type\": \"object\","
    "    \"properties\": {\"city\": {\"type\": \"string\"}, \"unit\": {\"enum\": [\"c\", \"f\"]}}, "
    "\"required\": [\"city\"],"
    "    \"additionalProperties\": false}}},"
    "  {\"type\": \"function\", \"function\": {\"name\": \"set_timer\", \"parameters\": {\"type\": "
    "\"object\","
    "    \"properties\": {\"minutes\": {\"type\": \"integer\", \"minimum\": 1}, \"label\": "
    "{\"type\": \"string\"}},"
    "    \"required\": [\"minutes\"], \"additionalProperties\": false}}}],"
    " \"cases\": ["
    "  {\"id\": \"simple\", \"category\": \"simple\", \"tools\": [\"get_weather\"], \"messages\": "
    "[{\"role\": \"user\", \"content\": \"x\"}],"
    "   \"expect\": {\"calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": "
    "\"Paris\"}}]}},"
    "  {\"id\": \"parallel\", \"category\": \"parallel\", \"tools\": [\"set_timer\"], "
    "\"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
    "   \"expect\": {\"calls\": [{\"name\": \"set_timer\", \"arguments\": {\"minutes\": 5}}, "
    "{\"name\": \"set_timer\", \"arguments\": {\"minutes\": 5, \"label\": \"b\"}}]}},"
    "  {\"id\": \"irrelevance\", \"category\": \"irrelevance\", \"tools\": [\"set_timer\"], "
    "\"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
    "   \"expect\": {\"no_call\": true}},"
    "  {\"id\": \"content\", \"category\": \"multi_turn\", \"tools\": [\"get_weather\"], "
    "\"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
    "   \"expect\": {\"content\": [\"21\", \"sunny\"]}},"
    "  {\"id\": \"structured\", \"category\": \"structured\", \"messages\": [{\"role\": \"user\", "
    "\"content\": \"x\"}],"
    "   \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", "
    "\"schema\": {\"type\": \"object\","
    "     \"properties\": {\"n\": {\"type\": \"integer\"}, \"s\": {\"type\": \"string\"}}, "
    "\"required\": [\"n\"]}}},"
    "   \"match\": {\"s\": \"exact\"}, \"expect\": {\"json\": {\"n\": 3, \"s\": \"Ab\"}}},"
    "  {\"id\": \"object\", \"category\": \"json_object\", \"messages\": [{\"role\": \"user\", "
    "\"content\": \"x\"}],"
    "   \"response_format\": {\"type\": \"json_object\"}, \"expect\": {\"json\": {}}}"
    "]}";

static card_suite suite;

static void load_suite(void) {
    card_suite_init(&suite);
    guarded g;
    const char *p = guard(&g, suite_text);
    he_error err = {0};
    cr_assert_eq(card_suite_add_json(&suite, "t.json", p, strlen(suite_text), &err), 0, "%s",
                 err.msg);
    cr_assert_eq(card_suite_finish(&suite, &err), 0, "%s", err.msg);
    unguard(&g);
}

static void free_suite(void) { card_suite_free(&suite); }

static const card_case *find_case(const char *id) {
    for (size_t i = 0; i < suite.n; i++)
        if (!strcmp(suite.cases[i].id, id)) return &suite.cases[i];
    cr_assert_fail("no case %s", id);
    return NULL;
}

#define CALL(name, args)                                                                           \
    "{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"" name                     \
    "\", \"arguments\": " args "}}"
#define ANSWER(content, calls, finish)                                                             \
    "{\"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": " content   \
    ", \"tool_calls\": " calls "}, \"finish_reason\": \"" finish "\"}]}"

typedef struct {
    const char *id, *body;
    bool well_formed, landed, length;
    const char *why;
} score_case;

static const score_case score_cases[] = {
    {"simple",
     ANSWER("null", "[" CALL("get_weather", "\"{\\\"city\\\": \\\" PARIS\\\"}\"") "]",
            "tool_calls"),
     true, true, false, NULL},
    {"simple", ANSWER("null", "[" CALL("get_weather", "{\"city\": \"Paris\"}") "]", "tool_calls"),
     true, true, false, NULL},
    {"simple",
     ANSWER("null", "[" CALL("get_weather", "\"{\\\"city\\\": \\\"Lyon\\\"}\"") "]", "tool_calls"),
     true, false, false, "calls [get_weather]"},
    {"simple",
     ANSWER("null", "[" CALL("get_weather", "\"{\\\"town\\\": \\\"Paris\\\"}\"") "]", "tool_calls"),
     false, false, false, "missing required 'city'"},
    {"simple", ANSWER("null", "[" CALL("set_timer", "\"{\\\"minutes\\\": 1}\"") "]", "tool_calls"),
     false, false, false, "not an offered tool"},
    {"simple", ANSWER("null", "[" CALL("get_weather", "\"{\\\"city\\\": \"") "]", "tool_calls"),
     false, false, false, "do not parse"},
    {"simple", ANSWER("null", "[" CALL("get_weather", "\"[1]\"") "]", "tool_calls"), false, false,
     false, "do not parse as a JSON object"},
    {"simple", ANSWER("\"I think Paris\"", "null", "length"), false, false, true, "no call"},
    {"simple", ANSWER("null", "\"x\"", "stop"), false, false, false, "not a list"},
    {"simple", "{\"choices\": []}", false, false, false, "not a chat completion"},
    {"simple", "not json at all", false, false, false, "not a chat completion"},
    {"parallel",
     ANSWER("null",
            "[" CALL("set_timer", "\"{\\\"minutes\\\": 5, \\\"label\\\": \\\"b\\\"}\"") "," CALL(
                "set_timer", "\"{\\\"minutes\\\": 5}\"") "]",
            "tool_calls"),
     true, true, false, NULL},
    {"parallel",
     ANSWER("null",
            "[" CALL("set_timer", "\"{\\\"minutes\\\": 5}\"") "," CALL(
                "set_timer", "\"{\\\"minutes\\\": 5}\"") "]",
            "tool_calls"),
     true, false, false, "wanted"},
    {"parallel",
     ANSWER("null", "[" CALL("set_timer", "\"{\\\"minutes\\\": 5}\"") "]", "tool_calls"), true,
     false, false, NULL},
    {"parallel",
     ANSWER("null",
            "[" CALL("set_timer", "\"{\\\"minutes\\\": 5}\"") "," CALL(
                "set_timer", "\"{\\\"minutes\\\": 0}\"") "]",
            "tool_calls"),
     false, false, false, "below minimum"},
    {"irrelevance", ANSWER("\"no tool fits\"", "null", "stop"), true, true, false, NULL},
    {"irrelevance", ANSWER("null", "[]", "stop"), true, true, false, NULL},
    {"irrelevance",
     ANSWER("null", "[" CALL("set_timer", "\"{\\\"minutes\\\": 2}\"") "]", "tool_calls"), true,
     false, false, "where no tool fits"},
    {"irrelevance", ANSWER("null", "[" CALL("set_timer", "\"{\"") "]", "tool_calls"), false, false,
     false, "do not parse"},
    {"content", ANSWER("\"It is 21 degrees and SUNNY.\"", "null", "stop"), true, true, false, NULL},
    {"content", ANSWER("\"It is 21 degrees.\"", "null", "stop"), true, false, false,
     "does not mention 'sunny'"},
    {"content", ANSWER("\"\"", "null", "stop"), false, false, false, "no answer text"},
    {"content",
     ANSWER("null", "[" CALL("get_weather", "\"{\\\"city\\\": \\\"x\\\"}\"") "]", "tool_calls"),
     true, false, false, "instead of answering"},
    {"structured", ANSWER("\" {\\\"n\\\": 3.0, \\\"s\\\": \\\"Ab\\\"}\\n\"", "null", "stop"), true,
     true, false, NULL},
    {"structured", ANSWER("\"{\\\"n\\\": 3, \\\"s\\\": \\\"ab\\\"}\"", "null", "stop"), true, false,
     false, "expected values"},
    {"structured", ANSWER("\"{\\\"s\\\": \\\"Ab\\\"}\"", "null", "stop"), false, false, false,
     "missing required 'n'"},
    {"structured", ANSWER("\"```json\\n{\\\"n\\\": 3}\\n```\"", "null", "stop"), false, false,
     false, "not JSON"},
    {"structured", ANSWER("\"{\\\"n\\\": 3\"", "null", "length"), false, false, true, "not JSON"},
    {"object", ANSWER("\"{}\"", "null", "stop"), true, true, false, NULL},
    {"object", ANSWER("\"[]\"", "null", "stop"), false, false, false, "not an object"},
    {"object", ANSWER("null", "null", "stop"), false, false, false, "no answer text"},
};

Test(card_score, verdicts, .init = load_suite, .fini = free_suite) {
    for (size_t i = 0; i < sizeof score_cases / sizeof score_cases[0]; i++) {
        const score_case *t = &score_cases[i];
        guarded g;
        const char *body = guard(&g, t->body);
        card_verdict v;
        card_score(find_case(t->id), body, strlen(t->body), &v);
        unguard(&g);
        cr_assert_eq(v.well_formed, t->well_formed, "case %zu (%s): well_formed %d (%s)", i, t->id,
                     v.well_formed, v.why);
        cr_assert_eq(v.landed, t->landed, "case %zu (%s): landed %d (%s)", i, t->id, v.landed,
                     v.why);
        cr_assert_eq(v.length_stop, t->length, "case %zu (%s): length", i, t->id);
        if (t->why)
            cr_assert(strstr(v.why, t->why), "case %zu (%s): '%s' lacks '%s'", i, t->id, v.why,
                      t->why);
        if (v.landed) cr_assert_str_empty(v.why);
    }
}

Test(card_score, many_calls_are_refused_not_overflowed, .init = load_suite, .fini = free_suite) {
    char body[8192] = "{\"choices\": [{\"message\": {\"tool_calls\": [";
    for (int i = 0; i < 40; i++) {
        if (i) strcat(body, ",");
        strcat(body, CALL("set_timer", "\"{\\\"minutes\\\": 5}\""));
    }
    strcat(body, "]}}]}");
    card_verdict v;
    card_score(find_case("parallel"), body, strlen(body), &v);
    cr_assert(v.answered && !v.well_formed && !v.landed);
    cr_assert(strstr(v.why, "more than 16 calls"), "%s", v.why);
}

/* ---- Suite loading ---- */

Test(card_suite, errors_name_the_file_case_and_field) {
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"{\"cases\": [", "bad.json:1:"},
        {"[]", "must hold an object"},
        {"{\"case\": []}", "unknown key 'case'"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"nope\", \"messages\": [{\"role\": "
         "\"user\"}], \"expect\": {\"no_call\": true}}]}",
         "(a): category must be"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"simple\", \"messages\": [], \"expect\": "
         "{\"no_call\": true}}]}",
         "messages must be a non-empty list"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"simple\", \"messages\": [{\"role\": "
         "\"user\"}], \"tools\": [\"x\"], \"expect\": {\"no_call\": true}}]}",
         "no tool named 'x'"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"irrelevance\", \"messages\": [{\"role\": "
         "\"user\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"t\", "
         "\"parameters\": {\"type\": \"object\", \"oneOf\": []}}}], \"expect\": {\"no_call\": "
         "true}}]}",
         "unsupported keyword 'oneOf'"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"simple\", \"messages\": [{\"role\": "
         "\"user\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"t\"}}], "
         "\"expect\": {\"no_call\": true}}]}",
         "a simple case expects calls"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"simple\", \"messages\": [{\"role\": "
         "\"user\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"t\"}}], "
         "\"expect\": {\"calls\": [{\"name\": \"u\"}]}}]}",
         "must name an offered tool"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"parallel\", \"messages\": [{\"role\": "
         "\"user\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"t\"}}], "
         "\"expect\": {\"calls\": [{\"name\": \"t\"}]}}]}",
         "two or more calls"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"structured\", \"messages\": [{\"role\": "
         "\"user\"}], \"expect\": {\"json\": 1}}]}",
         "needs response_format"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"irrelevance\", \"messages\": [{\"role\": "
         "\"user\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"t\"}}], "
         "\"expect\": {\"no_call\": true, \"content\": [\"x\"]}}]}",
         "expect must hold one of"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"irrelevance\", \"messages\": [{\"role\": "
         "\"user\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"t\"}}], "
         "\"expect\": {\"no_call\": true}, \"match\": \"fuzzy\"}]}",
         "match must be"},
        {"{\"cases\": [{\"id\": \"a\", \"category\": \"json_object\", \"messages\": [{\"role\": "
         "\"user\"}], \"response_format\": {\"type\": \"json_object\"}, \"expect\": {\"json\": 1}},"
         " {\"id\": \"a\", \"category\": \"json_object\", \"messages\": [{\"role\": \"user\"}], "
         "\"response_format\": {\"type\": \"json_object\"}, \"expect\": {\"json\": 1}}]}",
         "id 'a' is used twice"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"t\"}}, {\"type\": "
         "\"function\", \"function\": {\"name\": \"t\"}}]}",
         "already in the library"},
        {"{}", "no cases"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        card_suite s;
        card_suite_init(&s);
        guarded g;
        const char *p = guard(&g, bad[i].text);
        he_error err = {0};
        int rc = card_suite_add_json(&s, "bad.json", p, strlen(bad[i].text), &err);
        if (!rc) rc = card_suite_finish(&s, &err);
        unguard(&g);
        cr_assert_eq(rc, -1, "case %zu loads", i);
        cr_assert(strstr(err.msg, bad[i].msg), "case %zu: '%s' lacks '%s'", i, err.msg, bad[i].msg);
        card_suite_free(&s);
    }
}

Test(card_suite, the_builtin_suite) {
    card_suite s;
    card_suite_init(&s);
    he_error err = {0};
    cr_assert_eq(card_suite_load_builtin(&s, &err), 0, "%s", err.msg);
    int per_cat[CARD_CAT_COUNT] = {0}, quick[CARD_CAT_COUNT] = {0}, tools = 0;
    for (size_t i = 0; i < s.n; i++) {
        per_cat[s.cases[i].cat]++;
        quick[s.cases[i].cat] += s.cases[i].quick;
        tools += s.cases[i].cat < CARD_TOOL_CATS;
        cr_assert(json_integer_value(json_object_get(s.cases[i].request, "max_tokens")) > 0);
    }
    cr_assert_geq(tools, 40, "%d tool cases", tools);
    for (int c = 0; c < CARD_CAT_COUNT; c++) {
        cr_assert_geq(per_cat[c], c < CARD_TOOL_CATS ? 5 : 1, "%s: %d cases",
                      card_category_name((card_category)c), per_cat[c]);
        cr_assert_eq(quick[c], 1, "%s: one --quick case", card_category_name((card_category)c));
    }
    card_suite_free(&s);
}

/* ---- Reports ---- */

Test(card_report, escapes_names_and_writes_nulls) {
    card_model_result r[2];
    memset(r, 0, sizeof r);
    r[0].name = (char *)"a<b>&\"c'\x01\xff";
    r[0].endpoint = (char *)"http://x";
    r[0].pp_tps = (double)NAN;
    r[0].tg_tps = 12.345;
    r[0].ttft_ms = r[0].ttft_turn5_ms = r[0].conc_tps[0] = r[0].conc_tps[1] = (double)NAN;
    r[0].cat[CARD_SIMPLE] = (card_tally){1, 2, 3};
    r[0].tools = (card_tally){1, 2, 3};
    r[1] = r[0];
    r[1].name = (char *)"b|pipe";
    card_machine m = {
        .cpu = "CPU & co", .cores = 2, .mem_gib = 1.5, .date = "2025-01-01T00:00:00Z"};
    char *svg = card_report_svg(r, 2, &m);
    cr_assert(strstr(svg, "a&lt;b&gt;&amp;&quot;c&apos;??"), "the name is escaped");
    cr_assert(strstr(svg, "CPU &amp; co"));
    cr_assert_null(strstr(svg, "a<b"));
    cr_assert_null(strstr(svg, "\x01"));
    cr_assert(strstr(svg, "</svg>"));
    free(svg);
    char *md = card_report_md(r, 2, &m);
    cr_assert(strstr(md, "| b\\|pipe |"), "%s", md);
    cr_assert(strstr(md, "1/3 (33%)"), "%s", md);
    free(md);
    char *js = card_report_json(r, 1, &m);
    json_t *root = json_loads(js, 0, NULL);
    cr_assert_not_null(root, "%s", js);
    json_t *m0 = json_array_get(json_object_get(root, "models"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(m0, "name")), "a<b>&\"c'\x01?");
    cr_assert(json_is_null(json_object_get(m0, "pp_tokens_per_s")));
    cr_assert_float_eq(json_real_value(json_object_get(m0, "tg_tokens_per_s")), 12.35, 1e-9);
    cr_assert_eq(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(json_object_get(m0, "tool_calls"), "by_category"),
                            "simple"),
            "total")),
        3);
    cr_assert(json_is_null(json_object_get(json_object_get(m0, "concurrency"), "4")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "machine"), "cpu")),
                     "CPU & co");
    json_decref(root);
    free(js);
}
