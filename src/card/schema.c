/* schema.c — a JSON Schema validator for the subset tool parameters and response formats use.
 *
 * card_schema_check runs once per schema when a suite loads (unknown keywords and ill-typed
 * values are errors, so a case never silently skips a constraint); card_schema_validate then
 * trusts the schema's shape and checks an untrusted value. Recursion follows the schema, whose
 * depth the check bounds, so a deep value from the endpoint cannot make it deeper. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "card/card.h"

/* ---- Checking a schema ---- */

static const char *const annotations[] = {"description", "title",    "default", "$schema",
                                          "format",      "examples", "$comment"};
static const char *const type_names[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null"};

static bool is_type_name(const json_t *t) {
    if (!json_is_string(t)) return false;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (!strcmp(json_string_value(t), type_names[i])) return true;
    return false;
}

static bool is_count(const json_t *v) { return json_is_integer(v) && json_integer_value(v) >= 0; }

static int check_at(const json_t *s, const char *path, int depth, he_error *err) {
    if (depth > CARD_SCHEMA_MAX_DEPTH)
        return he_fail(err, HE_LIMIT, "schema: nested deeper than %d at %s", CARD_SCHEMA_MAX_DEPTH,
                       path);
    if (json_is_boolean(s)) return 0;
    if (!json_is_object(s))
        return he_fail(err, HE_FORMAT, "schema: %s: a schema must be an object or a boolean", path);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        char sub[256];
        bool ann = false;
        for (size_t i = 0; i < sizeof annotations / sizeof annotations[0]; i++)
            if (!strcmp(k, annotations[i])) ann = true;
        if (ann) continue;
        if (!strcmp(k, "type")) {
            if (json_is_array(v)) {
                size_t i;
                json_t *t;
                if (!json_array_size(v))
                    return he_fail(err, HE_FORMAT, "schema: %s.type: an empty list", path);
                json_array_foreach(v, i, t) if (!is_type_name(t)) return he_fail(
                    err, HE_FORMAT, "schema: %s.type[%zu]: not a type name", path, i);
            } else if (!is_type_name(v))
                return he_fail(err, HE_FORMAT, "schema: %s.type: not a type name", path);
        } else if (!strcmp(k, "properties")) {
            if (!json_is_object(v))
                return he_fail(err, HE_FORMAT, "schema: %s.properties: must be an object", path);
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                snprintf(sub, sizeof sub, "%s.%s", path, pk);
                if (check_at(pv, sub, depth + 1, err)) return -1;
            }
        } else if (!strcmp(k, "required")) {
            size_t i;
            json_t *r;
            if (!json_is_array(v))
                return he_fail(err, HE_FORMAT, "schema: %s.required: must be a list of names",
                               path);
            json_array_foreach(v, i, r) if (!json_is_string(r)) return he_fail(
                err, HE_FORMAT, "schema: %s.required[%zu]: not a string", path, i);
        } else if (!strcmp(k, "enum")) {
            if (!json_is_array(v) || !json_array_size(v))
                return he_fail(err, HE_FORMAT, "schema: %s.enum: must be a non-empty list", path);
        } else if (!strcmp(k, "const")) {
        } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") ||
                   !strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) {
            if (!json_is_number(v))
                return he_fail(err, HE_FORMAT, "schema: %s.%s: must be a number", path, k);
        } else if (!strcmp(k, "minLength") || !strcmp(k, "maxLength") || !strcmp(k, "minItems") ||
                   !strcmp(k, "maxItems")) {
            if (!is_count(v))
                return he_fail(err, HE_FORMAT, "schema: %s.%s: must be a non-negative integer",
                               path, k);
        } else if (!strcmp(k, "items") || !strcmp(k, "additionalProperties")) {
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            if (check_at(v, sub, depth + 1, err)) return -1;
        } else
            return he_fail(err, HE_UNSUPPORTED, "schema: %s: unsupported keyword '%s'", path, k);
    }
    return 0;
}

int card_schema_check(const json_t *schema, he_error *err) {
    if (!schema) return he_fail(err, HE_FORMAT, "schema: missing");
    return check_at(schema, "$", 0, err);
}

/* ---- Validating a value ---- */

static bool is_integral(const json_t *v) {
    if (json_is_integer(v)) return true;
    if (!json_is_real(v)) return false;
    double d = json_real_value(v);
    return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0;
}

static bool has_type(const json_t *v, const char *t) {
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer")) return is_integral(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return false;
}

/* JSON equality with 1 and 1.0 equal (jansson's json_equal keeps them apart). */
static bool values_equal(const json_t *a, const json_t *b, int depth) {
    if (depth > 64) return false;
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!values_equal(json_array_get(a, i), json_array_get(b, i), depth + 1)) return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !values_equal(v, w, depth + 1)) return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

/* Code points of a UTF-8 string (bytes that do not start a sequence are not counted). */
static size_t utf8_len(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

static int fail_why(char *why, size_t cap, const char *path, const char *what) {
    if (why && cap) snprintf(why, cap, "%s: %s", path, what);
    return -1;
}

static int validate_at(const json_t *s, const json_t *v, const char *path, int depth, char *why,
                       size_t cap) {
    if (depth > CARD_SCHEMA_MAX_DEPTH + 1) return fail_why(why, cap, path, "too deep");
    if (json_is_true(s)) return 0;
    if (!json_is_object(s)) return fail_why(why, cap, path, "no value is valid here");
    char sub[256];
    json_t *t = json_object_get(s, "type");
    if (t) {
        bool ok = false;
        if (json_is_string(t))
            ok = has_type(v, json_string_value(t));
        else {
            size_t i;
            json_t *e;
            json_array_foreach(t, i, e) if (json_is_string(e) && has_type(v, json_string_value(e)))
                ok = true;
        }
        if (!ok) {
            char what[96];
            snprintf(what, sizeof what, "expected %s",
                     json_is_string(t) ? json_string_value(t) : "one of the listed types");
            return fail_why(why, cap, path, what);
        }
    }
    json_t *e = json_object_get(s, "enum");
    if (e) {
        bool ok = false;
        size_t i;
        json_t *x;
        json_array_foreach(e, i, x) if (values_equal(x, v, 0)) ok = true;
        if (!ok) return fail_why(why, cap, path, "not one of the enum values");
    }
    json_t *c = json_object_get(s, "const");
    if (c && !values_equal(c, v, 0)) return fail_why(why, cap, path, "not the const value");
    if (json_is_number(v)) {
        double d = json_number_value(v);
        json_t *m;
        if ((m = json_object_get(s, "minimum")) && d < json_number_value(m))
            return fail_why(why, cap, path, "below minimum");
        if ((m = json_object_get(s, "maximum")) && d > json_number_value(m))
            return fail_why(why, cap, path, "above maximum");
        if ((m = json_object_get(s, "exclusiveMinimum")) && d <= json_number_value(m))
            return fail_why(why, cap, path, "not above exclusiveMinimum");
        if ((m = json_object_get(s, "exclusiveMaximum")) && d >= json_number_value(m))
            return fail_why(why, cap, path, "not below exclusiveMaximum");
    }
    if (json_is_string(v)) {
        size_t n = utf8_len(json_string_value(v), json_string_length(v));
        json_t *m;
        if ((m = json_object_get(s, "minLength")) && n < (size_t)json_integer_value(m))
            return fail_why(why, cap, path, "shorter than minLength");
        if ((m = json_object_get(s, "maxLength")) && n > (size_t)json_integer_value(m))
            return fail_why(why, cap, path, "longer than maxLength");
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        json_t *m;
        if ((m = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(m))
            return fail_why(why, cap, path, "fewer items than minItems");
        if ((m = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(m))
            return fail_why(why, cap, path, "more items than maxItems");
        json_t *items = json_object_get(s, "items");
        if (items)
            for (size_t i = 0; i < n; i++) {
                snprintf(sub, sizeof sub, "%s[%zu]", path, i);
                if (validate_at(items, json_array_get(v, i), sub, depth + 1, why, cap)) return -1;
            }
    }
    if (json_is_object(v)) {
        json_t *props = json_object_get(s, "properties");
        json_t *req = json_object_get(s, "required");
        json_t *addl = json_object_get(s, "additionalProperties");
        size_t i;
        json_t *r;
        if (req) json_array_foreach(req, i, r) {
                if (!json_object_get(v, json_string_value(r))) {
                    char what[160];
                    snprintf(what, sizeof what, "missing required '%.100s'", json_string_value(r));
                    return fail_why(why, cap, path, what);
                }
            }
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            snprintf(sub, sizeof sub, "%s.%.100s", path, k);
            json_t *ps = props ? json_object_get(props, k) : NULL;
            if (ps) {
                if (validate_at(ps, x, sub, depth + 1, why, cap)) return -1;
            } else if (addl && validate_at(addl, x, sub, depth + 1, why, cap)) {
                if (json_is_false(addl)) fail_why(why, cap, sub, "not an allowed property");
                return -1;
            }
        }
    }
    return 0;
}

int card_schema_validate(const json_t *schema, const json_t *v, char *why, size_t cap) {
    if (why && cap) why[0] = 0;
    if (!schema || !v) return fail_why(why, cap, "$", "missing");
    return validate_at(schema, v, "$", 0, why, cap);
}
