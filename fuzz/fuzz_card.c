/* fuzz_card.c — libFuzzer target over `hearth card`'s parsers of untrusted text.
 * The first byte picks what the rest is: 0 a case file (loaded, then finished: tool schemas
 * checked, cases built), 1 an endpoint's chat completion body (scored against every case of
 * the built-in suite: calls, arguments, content and JSON answers), 2 a JSON schema (checked;
 * when it passes, values validated under it, among them the schema itself). Nothing may crash,
 * leak or read out of bounds; the verdicts must be consistent (landed implies well-formed). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card/card.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static card_suite builtin;
static int builtin_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 64 * 1024) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    he_error err;
    if (data[0] % 3 == 0) {
        card_suite s;
        card_suite_init(&s);
        if (!card_suite_add_json(&s, "fuzz.json", text, len, &err)) card_suite_finish(&s, &err);
        card_suite_free(&s);
    } else if (data[0] % 3 == 1) {
        if (!builtin_ready) {
            card_suite_init(&builtin);
            if (card_suite_load_builtin(&builtin, &err)) {
                fprintf(stderr, "fuzz_card: the built-in suite does not load: %s\n", err.msg);
                abort();
            }
            builtin_ready = 1;
        }
        for (size_t i = 0; i < builtin.n; i++) {
            card_verdict v;
            card_score(&builtin.cases[i], text, len, &v);
            if (v.landed && !v.well_formed) {
                fprintf(stderr, "fuzz_card: %s landed without being well-formed\n",
                        builtin.cases[i].id);
                abort();
            }
        }
    } else {
        json_t *s = json_loadb(text, len, JSON_DECODE_ANY, NULL);
        if (s && !card_schema_check(s, &err)) {
            static const char *const values[] = {
                "{}", "[]", "1", "1.5", "\"x\"", "null", "true", "{\"a\": [1, {\"b\": \"c\"}]}"};
            char why[128];
            for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
                json_t *v = json_loads(values[i], JSON_DECODE_ANY, NULL);
                card_schema_validate(s, v, why, sizeof why);
                json_decref(v);
            }
            card_schema_validate(s, s, why, sizeof why);
        }
        json_decref(s);
    }
    return 0;
}
