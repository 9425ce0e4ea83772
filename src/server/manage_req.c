/* manage_req.c — keep_alive durations, byte sizes and the /api/create body (manage_req.h). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "server/manage_req.h"

/* ---- keep_alive ---- */

static int why_fail(char *why, size_t cap, const char *msg) {
    if (why && cap) snprintf(why, cap, "%s", msg);
    return -1;
}

static double clamp_keep(double s) {
    if (s < 0 || s > SRV_KEEP_ALIVE_MAX || isnan(s)) return SRV_KEEP_ALIVE_FOREVER;
    return s;
}

/* Go's time.ParseDuration grammar: [-+]? then one or more <decimal><unit>; "0" alone is fine. */
static int parse_go_duration(const char *s, double *out) {
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (!strcmp(p, "0")) {
        *out = 0;
        return 0;
    }
    if (!*p) return -1;
    double total = 0;
    while (*p) {
        const char *start = p;
        double v = 0, scale = 1;
        bool digits = false;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (*p++ - '0');
            digits = true;
            if (v > 1e18) return -1;
        }
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) {
                scale /= 10;
                v += (*p++ - '0') * scale;
                digits = true;
            }
        }
        if (!digits || p == start) return -1;
        double unit;
        if (!strncmp(p, "ns", 2))
            unit = 1e-9, p += 2;
        else if (!strncmp(p, "us", 2))
            unit = 1e-6, p += 2;
        else if (!strncmp(p, "\xc2\xb5s", 3))
            unit = 1e-6, p += 3; /* µs */
        else if (!strncmp(p, "ms", 2))
            unit = 1e-3, p += 2;
        else if (*p == 's')
            unit = 1, p++;
        else if (*p == 'm')
            unit = 60, p++;
        else if (*p == 'h')
            unit = 3600, p++;
        else
            return -1;
        total += v * unit;
        if (total > 1e15) return -1;
    }
    *out = neg ? -total : total;
    return 0;
}

int srv_keep_alive_parse(const json_t *v, double *seconds, char *why, size_t cap) {
    if (json_is_integer(v) || json_is_real(v)) {
        *seconds = clamp_keep(json_number_value(v));
        return 0;
    }
    if (!json_is_string(v))
        return why_fail(why, cap, "expected a duration string (\"5m\") or a number of seconds");
    const char *s = json_string_value(v);
    if (json_string_length(v) != strlen(s) || json_string_length(v) > 64)
        return why_fail(why, cap, "expected a duration string (\"5m\") or a number of seconds");
    char *end;
    double d = strtod(s, &end);
    if (*s && end != s && !*end && !isspace((unsigned char)*s) &&
        strspn(s, "+-0123456789.") == strlen(s)) {
        *seconds = clamp_keep(d); /* a unitless number string: seconds */
        return 0;
    }
    if (parse_go_duration(s, &d))
        return why_fail(
            why, cap, "not a duration: use a number and a unit (\"30s\", \"5m\", \"1h\"), 0 or -1");
    *seconds = clamp_keep(d);
    return 0;
}

/* ---- sizes ---- */

int srv_size_parse(const char *s, uint64_t *out) {
    if (!s || !isdigit((unsigned char)*s)) return -1;
    const char *p = s;
    double v = 0, scale = 1;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        if (v > 1e20) return -1;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return -1;
        while (isdigit((unsigned char)*p)) {
            scale /= 10;
            v += (*p++ - '0') * scale;
        }
    }
    static const struct {
        const char *u;
        double m;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1024.0},
                 {"kb", 1024.0},
                 {"kib", 1024.0},
                 {"m", 1048576.0},
                 {"mb", 1048576.0},
                 {"mib", 1048576.0},
                 {"g", 1073741824.0},
                 {"gb", 1073741824.0},
                 {"gib", 1073741824.0},
                 {"t", 1099511627776.0},
                 {"tb", 1099511627776.0},
                 {"tib", 1099511627776.0}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].u)) continue;
        double b = v * units[i].m;
        if (b > 4611686018427387904.0) return -1; /* 2^62 */
        *out = (uint64_t)b;
        return 0;
    }
    return -1;
}

void srv_size_format(uint64_t bytes, char *out, size_t cap) {
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(out, cap, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, cap, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, u[i]);
}

/* ---- /api/create ---- */

void srv_create_free(srv_create_req *r) {
    if (!r) return;
    free(r->model);
    free(r->from);
    free(r->tmpl);
    free(r->system);
    json_decref(r->parameters);
    json_decref(r->messages);
    memset(r, 0, sizeof *r);
}

static int opt_string(const json_t *root, const char *key, char **out, size_t max,
                      srv_req_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return srv_req_fail(err, 400, key, "invalid_type",
                            "Invalid type for '%s': expected a string.", key);
    size_t n = json_string_length(v);
    if (n > max)
        return srv_req_fail(err, 400, key, "invalid_value", "'%s' is longer than %zu bytes.", key,
                            max);
    if (memchr(json_string_value(v), 0, n))
        return srv_req_fail(err, 400, key, "invalid_value", "'%s' holds a NUL byte.", key);
    *out = xstrndup(json_string_value(v), n);
    return 0;
}

int srv_create_parse(const char *body, size_t len, srv_create_req *out, srv_req_error *err) {
    memset(out, 0, sizeof *out);
    out->stream = true;
    json_t *root = srv_json_parse_object(body, len, err);
    if (!root) return -1;
    int rc = -1;
    static const char *const unsupported[][2] = {
        {"files", "hearth has no blob upload: import the GGUF file on the server with `hearth "
                  "import FILE --name NAME`, "
                  "or name a file path in 'from' (admin only)"},
        {"adapters", "adapters are imported with `hearth import FILE --adapter A.gguf`"},
        {"modelfile", "send the Modelfile's parts as fields: 'from', 'template', 'system', "
                      "'parameters', 'messages'"},
        {"quantize",
         "hearth does not quantize on create: use `hearth quantize` and import the result"}};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        json_t *v = json_object_get(root, unsupported[i][0]);
        if (v && !json_is_null(v)) {
            srv_req_fail(err, 400, unsupported[i][0], "unsupported_parameter",
                         "'%s' is not supported: %s.", unsupported[i][0], unsupported[i][1]);
            goto out;
        }
    }
    if (opt_string(root, "model", &out->model, 1024, err)) goto out;
    if (!out->model && opt_string(root, "name", &out->model, 1024, err)) goto out;
    if (!out->model) {
        srv_req_fail(err, 400, "model", "missing_required_parameter",
                     "Missing required parameter: 'model'.");
        goto out;
    }
    if (opt_string(root, "from", &out->from, 4096, err)) goto out;
    if (!out->from) {
        srv_req_fail(err, 400, "from", "missing_required_parameter",
                     "Missing required parameter: 'from' (a model of the store, or a GGUF file "
                     "path for an admin).");
        goto out;
    }
    if (opt_string(root, "template", &out->tmpl, 1024 * 1024, err) ||
        opt_string(root, "system", &out->system, 64 * 1024, err))
        goto out;
    json_t *st = json_object_get(root, "stream");
    if (st && !json_is_null(st)) {
        if (!json_is_boolean(st)) {
            srv_req_fail(err, 400, "stream", "invalid_type",
                         "Invalid type for 'stream': expected a boolean.");
            goto out;
        }
        out->stream = json_is_true(st);
    }
    json_t *pa = json_object_get(root, "parameters");
    if (pa && !json_is_null(pa)) {
        if (!json_is_object(pa)) {
            srv_req_fail(err, 400, "parameters", "invalid_type",
                         "Invalid type for 'parameters': expected an object.");
            goto out;
        }
        const char *k;
        json_t *v;
        json_object_foreach(pa, k, v) {
            bool ok = json_is_number(v) || json_is_boolean(v) || json_is_string(v);
            if (json_is_array(v)) {
                ok = json_array_size(v) <= 64;
                for (size_t i = 0; ok && i < json_array_size(v); i++)
                    ok = json_is_string(json_array_get(v, i));
            }
            if (!ok || !*k || strlen(k) > 64 || !strcmp(k, "system") || !strcmp(k, "messages")) {
                srv_req_fail(err, 400, "parameters", "invalid_value",
                             "Invalid 'parameters': each key (1..64 bytes, not 'system' or "
                             "'messages') takes a "
                             "number, boolean, string or array of at most 64 strings.");
                goto out;
            }
        }
        out->parameters = json_incref(pa);
    }
    json_t *ms = json_object_get(root, "messages");
    if (ms && !json_is_null(ms)) {
        bool ok = json_is_array(ms) && json_array_size(ms) <= 256;
        for (size_t i = 0; ok && i < json_array_size(ms); i++) {
            json_t *m = json_array_get(ms, i);
            const char *role = json_string_value(json_object_get(m, "role"));
            ok = json_is_object(m) && role && json_is_string(json_object_get(m, "content")) &&
                 (!strcmp(role, "system") || !strcmp(role, "user") || !strcmp(role, "assistant") ||
                  !strcmp(role, "tool"));
        }
        if (!ok) {
            srv_req_fail(err, 400, "messages", "invalid_value",
                         "Invalid 'messages': expected at most 256 objects {\"role\": "
                         "system|user|assistant|tool, "
                         "\"content\": a string}.");
            goto out;
        }
        out->messages = json_array();
        for (size_t i = 0; i < json_array_size(ms); i++) {
            json_t *m = json_array_get(ms, i);
            json_array_append_new(out->messages,
                                  json_pack("{s:O, s:O}", "role", json_object_get(m, "role"),
                                            "content", json_object_get(m, "content")));
        }
    }
    rc = 0;
out:
    json_decref(root);
    if (rc) srv_create_free(out);
    return rc;
}

char *srv_create_params(const char *base, const srv_create_req *r, size_t max, bool *failed,
                        srv_req_error *err) {
    *failed = false;
    json_t *o;
    if (base) {
        o = json_loads(base, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o)) {
            json_decref(o);
            *failed = true;
            srv_req_fail(err, 422, "from", "invalid_value",
                         "The source model's params override is not a JSON object.");
            return NULL;
        }
    } else {
        if (!r->parameters && !r->system && !r->messages) return NULL;
        o = json_object();
    }
    if (r->parameters) json_object_update(o, r->parameters);
    if (r->system) json_object_set_new(o, "system", json_string(r->system));
    if (r->messages) json_object_set(o, "messages", r->messages);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s || strlen(s) > max) {
        free(s);
        *failed = true;
        srv_req_fail(err, 400, "parameters", "invalid_value",
                     "The model's parameters come to more than %zu bytes.", max);
        return NULL;
    }
    return s;
}
