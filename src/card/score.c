/* score.c — grading one answer against one case.
 *
 * The answer is a non-streamed chat completion from an endpoint we do not trust: every field is
 * checked for its type before use and nothing in it sizes an allocation beyond the body itself.
 * "Well-formed" asks whether the answer has the right form (a call that parses, names an offered
 * tool and validates against its schema; JSON that parses and validates); "landed" asks whether
 * it is also the right answer. The rules per expectation are in docs/CARD.md. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "card/card.h"

#define MAX_CALLS 16

/* ---- Comparing values ---- */

/* s trimmed of ASCII blanks, folded to lower case ("ci") and stripped of all blanks ("nospace"),
 * into out (cap bytes, truncated). */
static void normalise(const char *s, size_t n, const char *mode, char *out, size_t cap) {
    size_t o = 0;
    bool exact = !strcmp(mode, "exact"), nospace = !strcmp(mode, "nospace");
    if (!exact) {
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
    }
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (nospace && isspace(ch)) continue;
        out[o++] = exact ? (char)ch : (char)tolower(ch);
    }
    out[o] = 0;
}

static bool strings_match(const json_t *want, const json_t *got, const char *mode) {
    if (!strcmp(mode, "exact"))
        return json_string_length(want) == json_string_length(got) &&
               !memcmp(json_string_value(want), json_string_value(got), json_string_length(got));
    char a[1024], b[1024];
    if (json_string_length(got) >= sizeof b) return false;
    normalise(json_string_value(want), json_string_length(want), mode, a, sizeof a);
    normalise(json_string_value(got), json_string_length(got), mode, b, sizeof b);
    return !strcmp(a, b);
}

static bool matches_at(const json_t *want, const json_t *got, const char *mode, int depth) {
    if (depth > CARD_SCHEMA_MAX_DEPTH + 2 || !got) return false;
    if (json_is_object(want) && json_object_size(want) == 1 &&
        json_is_array(json_object_get(want, "$one_of"))) {
        size_t i;
        json_t *alt;
        json_array_foreach(json_object_get(want, "$one_of"), i,
                           alt) if (matches_at(alt, got, mode, depth + 1)) return true;
        return false;
    }
    if (json_is_string(want)) return json_is_string(got) && strings_match(want, got, mode);
    if (json_is_number(want)) {
        if (!json_is_number(got)) return false;
        double a = json_number_value(want), b = json_number_value(got);
        double scale = fmax(1.0, fmax(fabs(a), fabs(b)));
        return fabs(a - b) <= 1e-9 * scale;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) return false;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!matches_at(json_array_get(want, i), json_array_get(got, i), mode, depth + 1))
                return false;
        return true;
    }
    if (json_is_object(want)) {
        if (!json_is_object(got)) return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)want, k, v) if (!matches_at(v, json_object_get(got, k), mode,
                                                                  depth + 1)) return false;
        return true;
    }
    return json_equal((json_t *)want, (json_t *)got); /* true, false, null */
}

bool card_value_matches(const json_t *want, const json_t *got, const char *mode) {
    return matches_at(want, got, mode ? mode : "ci", 0);
}

/* The top level of arguments (or of a structured answer) may name a mode per key. */
static bool top_matches(const json_t *want, const json_t *got, const json_t *match) {
    if (!json_is_object(match))
        return card_value_matches(want, got, match ? json_string_value(match) : "ci");
    if (!json_is_object(want) || !json_is_object(got)) return card_value_matches(want, got, "ci");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        const char *m = json_string_value(json_object_get(match, k));
        if (!card_value_matches(v, json_object_get(got, k), m ? m : "ci")) return false;
    }
    return true;
}

/* ---- Reading the answer ---- */

typedef struct {
    const char *name; /* borrowed from the body */
    json_t *args;     /* owned */
    bool valid;       /* names an offered tool and validates */
} call;

static const json_t *tool_schema(const card_case *c, const char *name, bool *found) {
    size_t i;
    json_t *t;
    *found = false;
    json_array_foreach(json_object_get(c->request, "tools"), i, t) {
        json_t *fn = json_object_get(t, "function");
        if (!strcmp(json_string_value(json_object_get(fn, "name")), name)) {
            *found = true;
            return json_object_get(fn, "parameters");
        }
    }
    return NULL;
}

/* Fills calls from message.tool_calls; returns the count, or -1 when one is malformed (a name
 * that is not a string, arguments that do not parse as an object). */
static int read_calls(const card_case *c, const json_t *msg, call *calls, char *why, size_t cap) {
    json_t *tcs = json_object_get(msg, "tool_calls");
    if (!tcs || json_is_null(tcs)) return 0;
    if (!json_is_array(tcs)) return snprintf(why, cap, "tool_calls is not a list"), -1;
    if (json_array_size(tcs) > MAX_CALLS)
        return snprintf(why, cap, "more than %d calls", MAX_CALLS), -1;
    int n = 0;
    size_t i;
    json_t *tc;
    json_array_foreach(tcs, i, tc) {
        json_t *fn = json_object_get(tc, "function");
        json_t *name = json_object_get(fn, "name"), *a = json_object_get(fn, "arguments");
        if (!json_is_string(name))
            return snprintf(why, cap, "call %zu has no function name", i), -n - 1;
        json_t *args = NULL;
        if (json_is_string(a)) {
            args = json_loadb(json_string_value(a), json_string_length(a), 0, NULL);
        } else if (json_is_object(a))
            args = json_incref(a); /* some servers send an object; accepted */
        if (!json_is_object(args)) {
            json_decref(args);
            snprintf(why, cap, "call %zu (%.60s): arguments do not parse as a JSON object", i,
                     json_string_value(name));
            return -n - 1;
        }
        bool found;
        const json_t *schema = tool_schema(c, json_string_value(name), &found);
        calls[n].name = json_string_value(name);
        calls[n].args = args;
        calls[n].valid = found;
        char sv[160];
        if (!found)
            snprintf(why, cap, "call %zu names '%.60s', not an offered tool", i, calls[n].name);
        else if (schema && card_schema_validate(schema, args, sv, sizeof sv)) {
            calls[n].valid = false;
            snprintf(why, cap, "call %zu (%.60s): arguments invalid: %.90s", i, calls[n].name, sv);
        }
        n++;
    }
    return n;
}

/* Whether the calls are exactly the wanted ones, in any order (a matching by backtracking:
 * at most 8 wanted and 16 calls). */
static bool assign(const card_case *c, const call *calls, int n, size_t wi, unsigned used) {
    if (wi == json_array_size(c->want)) return true;
    json_t *w = json_array_get(c->want, wi);
    const char *wn = json_string_value(json_object_get(w, "name"));
    json_t *wa = json_object_get(w, "arguments");
    for (int j = 0; j < n; j++) {
        if (used & (1u << j) || strcmp(calls[j].name, wn)) continue;
        if (wa && !top_matches(wa, calls[j].args, c->match)) continue;
        if (assign(c, calls, n, wi + 1, used | (1u << j))) return true;
    }
    return false;
}

static void names_of(const call *calls, int n, char *out, size_t cap) {
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < n && o + 1 < cap; i++) {
        int w = snprintf(out + o, cap - o, "%s%.40s", i ? ", " : "", calls[i].name);
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* "contains" under "ci": a case-insensitive substring (ASCII folding) */
static bool contains_ci(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    if (!m) return true;
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && tolower((unsigned char)hay[i + j]) == tolower((unsigned char)needle[j]))
            j++;
        if (j == m) return true;
    }
    return false;
}

/* ---- Scoring ---- */

void card_score(const card_case *c, const char *body, size_t len, card_verdict *v) {
    memset(v, 0, sizeof *v);
    call calls[MAX_CALLS];
    int n = 0;
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *msg = json_object_get(choice, "message");
    if (!json_is_object(msg)) {
        snprintf(v->why, sizeof v->why, "the answer is not a chat completion with a message");
        goto done;
    }
    v->answered = true;
    const char *fin = json_string_value(json_object_get(choice, "finish_reason"));
    v->length_stop = fin && !strcmp(fin, "length");
    json_t *content = json_object_get(msg, "content");
    const char *text = json_string_value(content);
    size_t text_len = text ? json_string_length(content) : 0;
    int r = read_calls(c, msg, calls, v->why, sizeof v->why);
    bool calls_ok = r >= 0;
    n = r >= 0 ? r : -r - 1; /* the calls read before a malformed one are freed below */
    for (int i = 0; i < n; i++)
        if (!calls[i].valid) calls_ok = false;
    char got[160], wanted[160];
    switch (c->expect) {
    case CARD_EXPECT_CALLS:
        v->well_formed = calls_ok && n > 0;
        if (!calls_ok) break;
        if (!n) {
            snprintf(v->why, sizeof v->why, "no call");
            break;
        }
        v->landed = (size_t)n == json_array_size(c->want) && assign(c, calls, n, 0, 0);
        if (!v->landed) {
            names_of(calls, n, got, sizeof got);
            wanted[0] = 0;
            size_t o = 0, i;
            json_t *w;
            json_array_foreach(c->want, i, w) {
                int k = snprintf(wanted + o, sizeof wanted - o, "%s%.40s", i ? ", " : "",
                                 json_string_value(json_object_get(w, "name")));
                if (k < 0 || (size_t)k >= sizeof wanted - o) break;
                o += (size_t)k;
            }
            snprintf(v->why, sizeof v->why,
                     "calls [%.70s] (wanted [%.70s] with the expected arguments)", got, wanted);
        }
        break;
    case CARD_EXPECT_NO_CALL:
        v->well_formed = calls_ok;
        v->landed = calls_ok && n == 0;
        if (calls_ok && n) {
            names_of(calls, n, got, sizeof got);
            snprintf(v->why, sizeof v->why, "called [%s] where no tool fits", got);
        }
        break;
    case CARD_EXPECT_CONTENT:
        v->well_formed = calls_ok && (n > 0 || text_len > 0);
        if (!calls_ok) break;
        if (n) {
            names_of(calls, n, got, sizeof got);
            snprintf(v->why, sizeof v->why, "called [%s] instead of answering", got);
            break;
        }
        v->landed = text_len > 0;
        for (size_t i = 0; i < json_array_size(c->want) && v->landed; i++) {
            const char *need = json_string_value(json_array_get(c->want, i));
            if (!contains_ci(text, text_len, need)) {
                v->landed = false;
                snprintf(v->why, sizeof v->why, "the answer does not mention '%.60s'", need);
            }
        }
        if (!text_len) snprintf(v->why, sizeof v->why, "no answer text");
        break;
    case CARD_EXPECT_JSON: {
        json_t *doc = text ? json_loadb(text, text_len, JSON_DECODE_ANY, NULL) : NULL;
        if (!doc) {
            snprintf(v->why, sizeof v->why, text ? "the answer is not JSON" : "no answer text");
            break;
        }
        char sv[160];
        json_t *schema = json_object_get(
            json_object_get(json_object_get(c->request, "response_format"), "json_schema"),
            "schema");
        if (c->cat == CARD_JSON_OBJECT && !json_is_object(doc))
            snprintf(v->why, sizeof v->why, "the answer is JSON but not an object");
        else if (schema && card_schema_validate(schema, doc, sv, sizeof sv))
            snprintf(v->why, sizeof v->why, "the answer does not validate: %s", sv);
        else {
            v->well_formed = true;
            v->landed = top_matches(c->want, doc, c->match);
            if (!v->landed)
                snprintf(v->why, sizeof v->why, "the JSON does not hold the expected values");
        }
        json_decref(doc);
        break;
    }
    }
done:
    if (v->landed) v->why[0] = 0;
    for (int i = 0; i < n; i++)
        json_decref(calls[i].args);
    json_decref(root);
}
