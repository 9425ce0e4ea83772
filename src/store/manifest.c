/* manifest.c — the JSON manifest (schema 1) that names the blobs making up a model:
 *   {"schema":1, "name":"qwen3:8b", "weights":{"digest":"sha256-…","size":N},
 *    "adapters":[{"digest":…,"size":…}], "template":{…}, "params":{…},
 *    "imported_at":"2026-11-23T10:59:51Z", "source":"/path/it/came/from.gguf"}
 * A manifest is outside input as far as the parser is concerned (a user can edit it, a crash or a
 * disk can damage it): every digest goes through store_digest_valid before it is ever used. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static int parse_ref(json_t *o, const char *what, store_blob_ref *out, he_error *err) {
    if (!json_is_object(o)) return he_fail(err, HE_FORMAT, "manifest: '%s' is not an object", what);
    json_t *d = json_object_get(o, "digest"), *sz = json_object_get(o, "size");
    if (!json_is_string(d) || !store_digest_valid(json_string_value(d)))
        return he_fail(err, HE_FORMAT, "manifest: '%s' has no valid digest", what);
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return he_fail(err, HE_FORMAT, "manifest: '%s' has no valid size", what);
    memcpy(out->digest, json_string_value(d), STORE_DIGEST_LEN + 1);
    out->size = (uint64_t)json_integer_value(sz);
    return 0;
}

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int store_manifest_parse(const char *text, size_t len, store_manifest *out, he_error *err) {
    memset(out, 0, sizeof *out);
    if (len > STORE_MANIFEST_MAX)
        return he_fail(err, HE_LIMIT, "manifest: larger than %d bytes", STORE_MANIFEST_MAX);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return he_fail(err, HE_FORMAT, "manifest:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        he_fail(err, HE_FORMAT, "manifest: not a JSON object");
        goto done;
    }
    json_t *schema = json_object_get(root, "schema");
    if (!json_is_integer(schema) || json_integer_value(schema) != 1) {
        he_fail(err, HE_UNSUPPORTED, "manifest: schema is not 1");
        goto done;
    }
    json_t *name = json_object_get(root, "name");
    if (!json_is_string(name) || strlen(json_string_value(name)) != json_string_length(name)) {
        he_fail(err, HE_FORMAT, "manifest: no 'name' string");
        goto done;
    }
    if (store_name_check(json_string_value(name), err) < 0) {
        he_prefix(err, "manifest");
        goto done;
    }
    copy_str(out->name, sizeof out->name, json_string_value(name));
    if (parse_ref(json_object_get(root, "weights"), "weights", &out->weights, err) < 0) goto done;
    json_t *ad = json_object_get(root, "adapters");
    if (ad && !json_is_null(ad)) {
        if (!json_is_array(ad) || json_array_size(ad) > STORE_MAX_ADAPTERS) {
            he_fail(err, HE_FORMAT, "manifest: 'adapters' is not an array of at most %d",
                    STORE_MAX_ADAPTERS);
            goto done;
        }
        for (size_t i = 0; i < json_array_size(ad); i++)
            if (parse_ref(json_array_get(ad, i), "adapters", &out->adapters[i], err) < 0) goto done;
        out->n_adapters = (int)json_array_size(ad);
    }
    json_t *t = json_object_get(root, "template"), *p = json_object_get(root, "params");
    if (t && !json_is_null(t)) {
        if (parse_ref(t, "template", &out->template_blob, err) < 0) goto done;
        out->has_template = true;
    }
    if (p && !json_is_null(p)) {
        if (parse_ref(p, "params", &out->params_blob, err) < 0) goto done;
        out->has_params = true;
    }
    json_t *at = json_object_get(root, "imported_at"), *src = json_object_get(root, "source");
    if (json_is_string(at))
        copy_str(out->imported_at, sizeof out->imported_at, json_string_value(at));
    if (json_is_string(src)) copy_str(out->source, sizeof out->source, json_string_value(src));
    rc = 0;
done:
    json_decref(root);
    if (rc < 0) memset(out, 0, sizeof *out);
    return rc;
}

static json_t *ref_json(const store_blob_ref *r) {
    return json_pack("{s:s, s:I}", "digest", r->digest, "size", (json_int_t)r->size);
}

char *store_manifest_dump(const store_manifest *m) {
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_integer(1));
    json_object_set_new(root, "name", json_string(m->name));
    json_object_set_new(root, "weights", ref_json(&m->weights));
    json_t *ad = json_array();
    for (int i = 0; i < m->n_adapters; i++)
        json_array_append_new(ad, ref_json(&m->adapters[i]));
    json_object_set_new(root, "adapters", ad);
    if (m->has_template) json_object_set_new(root, "template", ref_json(&m->template_blob));
    if (m->has_params) json_object_set_new(root, "params", ref_json(&m->params_blob));
    json_object_set_new(root, "imported_at", json_string(m->imported_at));
    /* source is informational: a path that is not UTF-8 is stored as "" */
    json_t *src = json_string(m->source);
    json_object_set_new(root, "source", src ? src : json_string(""));
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

int store_manifest_blobs(const store_manifest *m, store_blob_ref *out, int cap) {
    int n = 0;
    if (n < cap) out[n++] = m->weights;
    for (int i = 0; i < m->n_adapters && n < cap; i++)
        out[n++] = m->adapters[i];
    if (m->has_template && n < cap) out[n++] = m->template_blob;
    if (m->has_params && n < cap) out[n++] = m->params_blob;
    return n;
}
