/* fuzz_schema.c — libFuzzer target over the JSON Schema converter.
 * Input: JSON text. When it parses and converts, the grammar text must compile with gram_parse
 * (the converter promises that for every output) and a matcher must start on it: anything else
 * aborts, which the fuzzer reports. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16 * 1024) return 0;
    json_t *s = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!s) return 0;
    he_error err;
    char *text = gram_schema_to_gbnf(s, &err);
    if (text) {
        gram_grammar *g = gram_parse(text, strlen(text), NULL, &err);
        if (!g) {
            fprintf(stderr, "fuzz_schema: converter output does not parse: %s\n%s\n", err.msg,
                    text);
            abort();
        }
        gram_matcher *m = gram_matcher_new(g, NULL, &err);
        if (m) {
            gram_matcher_accept_bytes(m, "{\"a\": [1, \"x\"]}", 15, NULL);
            gram_matcher_free(m);
        }
        gram_free(g);
        free(text);
    }
    json_decref(s);
    return 0;
}
