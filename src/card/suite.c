/* suite.c — loading `hearth card` case files.
 *
 * A suite is a set of JSON files, each {"comment"?, "tools"?: [tool...], "cases"?: [case...]}.
 * Tools join one library shared by all files (cases name them); cases are checked strictly when
 * the suite is finished, so a typo in a user's case file is an error naming the file, the case
 * and the field, not a case that silently scores nothing. Format: docs/CARD.md. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "card/card.h"
#include "card/card_internal.h"

#define MAX_CASES 10000
#define MAX_FILE_BYTES (8u << 20)
#define DEFAULT_MAX_TOKENS 256

static const char *const cat_names[CARD_CAT_COUNT] = {
    [CARD_SIMPLE] = "simple",         [CARD_MULTIPLE] = "multiple",
    [CARD_PARALLEL] = "parallel",     [CARD_IRRELEVANCE] = "irrelevance",
    [CARD_MULTI_TURN] = "multi_turn", [CARD_FORCED] = "forced",
    [CARD_STRUCTURED] = "structured", [CARD_JSON_OBJECT] = "json_object",
};

const char *card_category_name(card_category c) {
    return (unsigned)c < CARD_CAT_COUNT ? cat_names[c] : "?";
}

int card_category_from_name(const char *s) {
    for (int i = 0; i < CARD_CAT_COUNT; i++)
        if (s && !strcmp(s, cat_names[i])) return i;
    return -1;
}

void card_suite_init(card_suite *s) {
    memset(s, 0, sizeof *s);
    s->tools = json_object();
    s->raw = json_array();
}

static void case_deinit(card_case *c) {
    free(c->id);
    json_decref(c->request);
    json_decref(c->want);
    json_decref(c->match);
}

void card_suite_free(card_suite *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        case_deinit(&s->cases[i]);
    free(s->cases);
    json_decref(s->tools);
    json_decref(s->raw);
    memset(s, 0, sizeof *s);
}

/* ---- Reading a file ---- */

/* tool -> {"type": "function", "function": {"name", "description"?, "parameters"?}} */
static int check_tool(const json_t *t, const char *where, he_error *err) {
    json_t *fn = json_object_get(t, "function");
    if (!json_is_object(t) || !json_is_object(fn))
        return he_fail(err, HE_FORMAT,
                       "%s: a tool is {\"type\": \"function\", \"function\": {...}}", where);
    json_t *type = json_object_get(t, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "function"))
        return he_fail(err, HE_FORMAT, "%s: type must be \"function\"", where);
    json_t *name = json_object_get(fn, "name");
    if (!json_is_string(name) || !json_string_length(name) || json_string_length(name) > 64)
        return he_fail(err, HE_FORMAT, "%s: function.name must be a string of 1 to 64 bytes",
                       where);
    json_t *params = json_object_get(fn, "parameters");
    if (params) {
        if (!json_is_object(params))
            return he_fail(err, HE_FORMAT, "%s: function.parameters must be an object", where);
        if (card_schema_check(params, err)) {
            he_prefix(err, "%s: tool '%s': parameters", where, json_string_value(name));
            return -1;
        }
    }
    return 0;
}

int card_suite_add_json(card_suite *s, const char *name, const char *text, size_t len,
                        he_error *err) {
    if (len > MAX_FILE_BYTES)
        return he_fail(err, HE_LIMIT, "%s: larger than %u bytes", name, MAX_FILE_BYTES);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return he_fail(err, HE_FORMAT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
    int rc = -1;
    if (!json_is_object(root)) {
        he_fail(err, HE_FORMAT, "%s: the file must hold an object {\"tools\", \"cases\"}", name);
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "comment") && strcmp(k, "tools") && strcmp(k, "cases")) {
            he_fail(err, HE_FORMAT, "%s: unknown key '%s' (expected comment, tools, cases)", name,
                    k);
            goto done;
        }
    }
    json_t *tools = json_object_get(root, "tools"), *cases = json_object_get(root, "cases");
    if ((tools && !json_is_array(tools)) || (cases && !json_is_array(cases))) {
        he_fail(err, HE_FORMAT, "%s: tools and cases must be lists", name);
        goto done;
    }
    size_t i;
    json_array_foreach(tools, i, v) {
        char where[300];
        snprintf(where, sizeof where, "%s: tools[%zu]", name, i);
        if (check_tool(v, where, err)) goto done;
        const char *tn = json_string_value(json_object_get(json_object_get(v, "function"), "name"));
        if (json_object_get(s->tools, tn)) {
            he_fail(err, HE_FORMAT, "%s: a tool named '%s' is already in the library", where, tn);
            goto done;
        }
        json_object_set(s->tools, tn, v);
    }
    if (json_array_size(s->raw) + json_array_size(cases) > MAX_CASES) {
        he_fail(err, HE_LIMIT, "%s: more than %d cases in the suite", name, MAX_CASES);
        goto done;
    }
    json_array_foreach(cases, i, v) {
        /* keep the file name beside the case for error messages */
        json_t *pair =
            json_pack("{s:s, s:I, s:O}", "file", name, "index", (json_int_t)i, "case", v);
        if (!pair) {
            he_fail(err, HE_NOMEM, "%s: out of memory", name);
            goto done;
        }
        json_array_append_new(s->raw, pair);
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* ---- Finishing: checking and building the cases ---- */

static int depth_of(const json_t *v, int depth) {
    if (depth > 64) return depth;
    int d = depth;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int x = depth_of(json_array_get(v, i), depth + 1);
            if (x > d) d = x;
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            int y = depth_of(x, depth + 1);
            if (y > d) d = y;
        }
    }
    return d;
}

static bool is_mode(const json_t *m) {
    const char *s = json_string_value(m);
    return s && (!strcmp(s, "ci") || !strcmp(s, "exact") || !strcmp(s, "nospace"));
}

static const char *const case_keys[] = {"id",         "category", "quick",       "comment",
                                        "messages",   "tools",    "tool_choice", "response_format",
                                        "max_tokens", "match",    "expect"};

static int build_case(card_suite *s, const json_t *c, const char *w, card_case *out,
                      he_error *err) {
    const char *k;
    json_t *v;
    if (!json_is_object(c)) return he_fail(err, HE_FORMAT, "%s: a case must be an object", w);
    json_object_foreach((json_t *)c, k, v) {
        bool ok = false;
        for (size_t i = 0; i < sizeof case_keys / sizeof case_keys[0]; i++)
            if (!strcmp(k, case_keys[i])) ok = true;
        if (!ok) return he_fail(err, HE_FORMAT, "%s: unknown key '%s'", w, k);
    }
    json_t *id = json_object_get(c, "id");
    if (!json_is_string(id) || !json_string_length(id) || json_string_length(id) > 63)
        return he_fail(err, HE_FORMAT, "%s: id must be a string of 1 to 63 bytes", w);
    const char *ids = json_string_value(id);
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->cases[i].id, ids))
            return he_fail(err, HE_FORMAT, "%s: id '%s' is used twice", w, ids);
    int cat = card_category_from_name(json_string_value(json_object_get(c, "category")));
    if (cat < 0)
        return he_fail(err, HE_FORMAT,
                       "%s (%s): category must be one of simple, multiple, parallel, irrelevance, "
                       "multi_turn, forced, structured, json_object",
                       w, ids);
    json_t *quick = json_object_get(c, "quick");
    if (quick && !json_is_boolean(quick))
        return he_fail(err, HE_FORMAT, "%s (%s): quick must be true or false", w, ids);
    json_t *msgs = json_object_get(c, "messages");
    if (!json_is_array(msgs) || !json_array_size(msgs))
        return he_fail(err, HE_FORMAT, "%s (%s): messages must be a non-empty list", w, ids);
    size_t i;
    json_array_foreach(
        msgs, i,
        v) if (!json_is_object(v) ||
               !json_is_string(json_object_get(
                   v,
                   "role"))) return he_fail(err, HE_FORMAT,
                                            "%s (%s): messages[%zu] must be an object with a role",
                                            w, ids, i);
    json_t *mt = json_object_get(c, "max_tokens");
    if (mt &&
        (!json_is_integer(mt) || json_integer_value(mt) < 1 || json_integer_value(mt) > 32768))
        return he_fail(err, HE_FORMAT, "%s (%s): max_tokens must be an integer 1..32768", w, ids);
    json_t *match = json_object_get(c, "match");
    if (match) {
        bool ok = is_mode(match);
        if (json_is_object(match)) {
            ok = true;
            json_object_foreach(match, k, v) if (!is_mode(v)) ok = false;
        }
        if (!ok)
            return he_fail(err, HE_FORMAT,
                           "%s (%s): match must be \"ci\", \"exact\", \"nospace\" or an object of "
                           "those per argument",
                           w, ids);
    }
    /* tools: names from the library or whole tool objects */
    json_t *tools = json_object_get(c, "tools"), *resolved = NULL;
    if (tools) {
        if (!json_is_array(tools))
            return he_fail(err, HE_FORMAT, "%s (%s): tools must be a list", w, ids);
        resolved = json_array();
        json_array_foreach(tools, i, v) {
            json_t *t = v;
            char where[400];
            snprintf(where, sizeof where, "%.300s (%.63s): tools[%zu]", w, ids, i);
            if (json_is_string(v)) {
                t = json_object_get(s->tools, json_string_value(v));
                if (!t) {
                    json_decref(resolved);
                    return he_fail(err, HE_FORMAT, "%s: no tool named '%s' in the library", where,
                                   json_string_value(v));
                }
            } else if (check_tool(v, where, err)) {
                json_decref(resolved);
                return -1;
            }
            json_array_append(resolved, t);
        }
    }
    int rc = -1;
    json_t *tc = json_object_get(c, "tool_choice");
    json_t *rf = json_object_get(c, "response_format");
    json_t *expect = json_object_get(c, "expect");
    json_t *want = NULL;
    card_expect_kind kind = CARD_EXPECT_NO_CALL;
    int n_expect = 0;
    if (!json_is_object(expect)) {
        he_fail(err, HE_FORMAT, "%s (%s): expect must be an object", w, ids);
        goto fail;
    }
    json_object_foreach(expect, k, v) {
        n_expect++;
        if (!strcmp(k, "calls")) {
            kind = CARD_EXPECT_CALLS;
            want = v;
        } else if (!strcmp(k, "no_call")) {
            kind = CARD_EXPECT_NO_CALL;
            if (!json_is_true(v)) n_expect = 99;
        } else if (!strcmp(k, "content")) {
            kind = CARD_EXPECT_CONTENT;
            want = v;
        } else if (!strcmp(k, "json")) {
            kind = CARD_EXPECT_JSON;
            want = v;
        } else
            n_expect = 99;
    }
    if (n_expect != 1) {
        he_fail(err, HE_FORMAT,
                "%s (%s): expect must hold one of calls, no_call: true, content, json", w, ids);
        goto fail;
    }
    if (want && depth_of(want, 0) > CARD_SCHEMA_MAX_DEPTH) {
        he_fail(err, HE_LIMIT, "%s (%s): expect is nested too deep", w, ids);
        goto fail;
    }
    if (kind == CARD_EXPECT_CALLS) {
        if (!json_is_array(want) || !json_array_size(want) || json_array_size(want) > 8) {
            he_fail(err, HE_FORMAT, "%s (%s): expect.calls must be a list of 1 to 8 calls", w, ids);
            goto fail;
        }
        json_array_foreach(want, i, v) {
            json_t *n = json_object_get(v, "name"), *a = json_object_get(v, "arguments");
            bool offered = false;
            size_t j;
            json_t *t;
            json_array_foreach(
                resolved, j,
                t) if (json_is_string(n) &&
                       json_equal(json_object_get(json_object_get(t, "function"), "name"), n))
                offered = true;
            if (!offered || (a && !json_is_object(a))) {
                he_fail(err, HE_FORMAT,
                        "%s (%s): expect.calls[%zu] must name an offered tool, with arguments an "
                        "object",
                        w, ids, i);
                goto fail;
            }
        }
    }
    if (kind == CARD_EXPECT_CONTENT) {
        bool ok = json_is_array(want) && json_array_size(want);
        json_array_foreach(want, i, v) if (!json_is_string(v)) ok = false;
        if (!ok) {
            he_fail(err, HE_FORMAT, "%s (%s): expect.content must be a non-empty list of strings",
                    w, ids);
            goto fail;
        }
    }
    /* the expectation must fit the category */
    const char *rft = json_string_value(json_object_get(rf, "type"));
    const char *why = NULL;
    if (cat == CARD_STRUCTURED) {
        json_t *schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!rft || strcmp(rft, "json_schema") || !json_is_object(schema))
            why = "needs response_format {\"type\": \"json_schema\", \"json_schema\": {\"schema\": "
                  "{...}}}";
        else if (card_schema_check(schema, err)) {
            he_prefix(err, "%s (%s): response_format", w, ids);
            goto fail;
        } else if (kind != CARD_EXPECT_JSON)
            why = "expects json";
    } else if (cat == CARD_JSON_OBJECT) {
        if (!rft || strcmp(rft, "json_object"))
            why = "needs response_format {\"type\": \"json_object\"}";
        else if (kind != CARD_EXPECT_JSON)
            why = "expects json";
    } else {
        if (!resolved || !json_array_size(resolved))
            why = "needs tools";
        else if (cat == CARD_IRRELEVANCE && kind != CARD_EXPECT_NO_CALL)
            why = "expects no_call";
        else if (cat != CARD_IRRELEVANCE && cat != CARD_MULTI_TURN && kind != CARD_EXPECT_CALLS)
            why = "expects calls";
        else if (cat == CARD_MULTI_TURN && kind != CARD_EXPECT_CALLS && kind != CARD_EXPECT_CONTENT)
            why = "expects calls or content";
        else if (cat == CARD_PARALLEL && json_array_size(want) < 2)
            why = "expects two or more calls";
    }
    if (why) {
        he_fail(err, HE_FORMAT, "%s (%s): a %s case %s", w, ids, cat_names[cat], why);
        goto fail;
    }
    json_t *req = json_object();
    json_object_set(req, "messages", msgs);
    if (resolved) json_object_set(req, "tools", resolved);
    if (tc) json_object_set(req, "tool_choice", tc);
    if (rf) json_object_set(req, "response_format", rf);
    json_object_set_new(req, "max_tokens",
                        json_integer(mt ? json_integer_value(mt) : DEFAULT_MAX_TOKENS));
    memset(out, 0, sizeof *out);
    out->id = xstrdup(ids);
    out->cat = (card_category)cat;
    out->quick = json_is_true(quick);
    out->request = req;
    out->expect = kind;
    out->want = want ? json_incref(want) : NULL;
    out->match = match ? json_incref(match) : NULL;
    rc = 0;
fail:
    json_decref(resolved);
    return rc;
}

int card_suite_finish(card_suite *s, he_error *err) {
    size_t i;
    json_t *p;
    json_array_foreach(s->raw, i, p) {
        char w[300];
        snprintf(w, sizeof w, "%s: cases[%d]", json_string_value(json_object_get(p, "file")),
                 (int)json_integer_value(json_object_get(p, "index")));
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->cases = xrealloc(s->cases, s->cap * sizeof *s->cases);
        }
        if (build_case(s, json_object_get(p, "case"), w, &s->cases[s->n], err)) return -1;
        s->n++;
    }
    json_array_clear(s->raw);
    if (!s->n) return he_fail(err, HE_FORMAT, "suite: no cases");
    return 0;
}

int card_suite_load_builtin(card_suite *s, he_error *err) {
    for (size_t i = 0; i < card_builtin_count; i++)
        if (card_suite_add_json(s, card_builtin_files[i].name,
                                (const char *)card_builtin_files[i].data, card_builtin_files[i].len,
                                err))
            return -1;
    return card_suite_finish(s, err);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int card_suite_load_dir(card_suite *s, const char *dir, he_error *err) {
    DIR *d = opendir(dir);
    if (!d) return he_fail(err, HE_IO, "suite: cannot open folder %s", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") || e->d_name[0] == '.') continue;
        if (n == cap) names = xrealloc(names, (cap = cap ? 2 * cap : 16) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            rc = he_fail(err, HE_IO, "suite: cannot read %s", path);
            break;
        }
        char *buf = xmalloc(MAX_FILE_BYTES + 1);
        size_t len = fread(buf, 1, MAX_FILE_BYTES + 1, f);
        fclose(f);
        rc = card_suite_add_json(s, path, buf, len, err);
        free(buf);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc ? rc : card_suite_finish(s, err);
}
