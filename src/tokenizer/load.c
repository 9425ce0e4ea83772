/* load.c — tok_vocab_load: reads the tokenizer.ggml.* keys of a GGUF file into a tok_build
 * and lets vocab.c copy and check it. Array element types and lengths are checked here
 * (SECURITY.md G22); ids and byte tokens are checked by the builder (G23, G24). Only metadata
 * is read: vocab-only files, which have no tensors, load fine. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/tok_internal.h"

static bool is_int_type(gguf_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_UINT16 ||
           t == GGUF_TYPE_INT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

/* An array of n strings as borrowed spans. */
static tok_span *read_strings(const gguf_value *arr, const char *key, he_error *err) {
    if (arr->elem_type != GGUF_TYPE_STRING) {
        he_fail(err, HE_FORMAT, "%s: expected an array of strings, got element type %d", key,
                (int)arr->elem_type);
        return NULL;
    }
    tok_span *s = he_malloc((arr->n ? arr->n : 1) * sizeof *s);
    if (!s) {
        he_fail(err, HE_NOMEM, "%s: out of memory for %llu entries", key,
                (unsigned long long)arr->n);
        return NULL;
    }
    for (uint64_t i = 0; i < arr->n; i++) {
        gguf_value e;
        gguf_str str;
        if (gguf_value_elem(arr, i, &e, err) < 0 || gguf_value_str(&e, &str, err) < 0) {
            he_prefix(err, "%s[%llu]", key, (unsigned long long)i);
            free(s);
            return NULL;
        }
        s[i].p = str.ptr;
        s[i].n = (size_t)str.len;
    }
    return s;
}

/* Optional id key: -1 when absent. */
static int read_id(const gguf_file *f, const char *key, int64_t *out, he_error *err) {
    *out = -1;
    int rc = gguf_find_i64(f, key, out, err);
    if (rc < 0) return -1;
    if (rc == 0) *out = -1;
    return 0;
}

static int read_flag(const gguf_file *f, const char *key, int *out, he_error *err) {
    bool b;
    int rc = gguf_find_bool(f, key, &b, err);
    if (rc < 0) return -1;
    *out = rc == 0 ? -1 : b;
    return 0;
}

tok_vocab *tok_vocab_load(const gguf_file *f, he_error *err) {
    tok_vocab *v = NULL;
    tok_span *tokens = NULL, *merges = NULL;
    float *scores = NULL;
    uint8_t *attr = NULL;
    tok_build b = {0};

    gguf_str s;
    int rc = gguf_find_str(f, "tokenizer.ggml.model", &s, err);
    if (rc < 0) return NULL;
    if (rc == 0) {
        he_fail(err, HE_FORMAT, "tokenizer.ggml.model: missing (the file has no tokenizer)");
        return NULL;
    }
    int m = tok_model_lookup(s.ptr, (size_t)s.len);
    if (m < 0) {
        he_fail(err, HE_UNSUPPORTED, "tokenizer.ggml.model: '%.*s' is not supported",
                (int)(s.len > 64 ? 64 : s.len), s.ptr);
        return NULL;
    }
    b.model = (tok_model)m;
    b.pre = 0;
    rc = gguf_find_str(f, "tokenizer.ggml.pre", &s, err);
    if (rc < 0) return NULL;
    if (rc == 1 && b.model == TOK_MODEL_BPE) {
        b.pre = tok_pre_lookup(s.ptr, (size_t)s.len);
        if (b.pre < 0) {
            he_fail(err, HE_UNSUPPORTED, "tokenizer.ggml.pre: unknown pre-tokenizer '%.*s'",
                    (int)(s.len > 64 ? 64 : s.len), s.ptr);
            return NULL;
        }
    }

    gguf_value arr;
    rc = gguf_find_arr(f, "tokenizer.ggml.tokens", -1, &arr, err);
    if (rc < 0) return NULL;
    if (rc == 0) {
        if (b.model == TOK_MODEL_NONE) return tok_vocab_build(&b, err);
        he_fail(err, HE_FORMAT, "tokenizer.ggml.tokens: missing");
        return NULL;
    }
    if (arr.n > (1u << 24)) {
        he_fail(err, HE_LIMIT, "tokenizer.ggml.tokens: %llu tokens exceeds the limit of %u",
                (unsigned long long)arr.n, 1u << 24);
        return NULL;
    }
    size_t n = (size_t)arr.n;
    if (!(tokens = read_strings(&arr, "tokenizer.ggml.tokens", err))) goto out;
    b.n = (int32_t)n;
    b.tokens = tokens;

    rc = gguf_find_arr(f, "tokenizer.ggml.scores", -1, &arr, err);
    if (rc < 0) goto out;
    if (rc == 1) {
        if (arr.elem_type != GGUF_TYPE_FLOAT32 && arr.elem_type != GGUF_TYPE_FLOAT64) {
            he_fail(err, HE_FORMAT,
                    "tokenizer.ggml.scores: expected an array of float32, got element type %d",
                    (int)arr.elem_type);
            goto out;
        }
        if (arr.n != n) {
            he_fail(err, HE_FORMAT, "tokenizer.ggml.scores: %llu entries for %zu tokens",
                    (unsigned long long)arr.n, n);
            goto out;
        }
        scores = he_malloc((n ? n : 1) * sizeof *scores);
        if (!scores) goto nomem;
        for (size_t i = 0; i < n; i++) {
            gguf_value e;
            double d;
            if (gguf_value_elem(&arr, i, &e, err) < 0 || gguf_value_f64(&e, &d, err) < 0) {
                he_prefix(err, "tokenizer.ggml.scores[%zu]", i);
                goto out;
            }
            scores[i] = (float)d;
        }
        b.scores = scores;
    }

    rc = gguf_find_arr(f, "tokenizer.ggml.token_type", -1, &arr, err);
    if (rc < 0) goto out;
    if (rc == 1) {
        if (!is_int_type(arr.elem_type)) {
            he_fail(err, HE_FORMAT,
                    "tokenizer.ggml.token_type: expected an array of int32, got element type %d",
                    (int)arr.elem_type);
            goto out;
        }
        if (arr.n != n) {
            he_fail(err, HE_FORMAT, "tokenizer.ggml.token_type: %llu entries for %zu tokens",
                    (unsigned long long)arr.n, n);
            goto out;
        }
        attr = he_malloc(n ? n : 1);
        if (!attr) goto nomem;
        for (size_t i = 0; i < n; i++) {
            gguf_value e;
            int64_t t;
            if (gguf_value_elem(&arr, i, &e, err) < 0 || gguf_value_i64(&e, &t, err) < 0) {
                he_prefix(err, "tokenizer.ggml.token_type[%zu]", i);
                goto out;
            }
            if (t < 0 || t > TOK_ATTR_BYTE) {
                he_fail(err, HE_FORMAT,
                        "tokenizer.ggml.token_type[%zu] = %lld is not a known token type", i,
                        (long long)t);
                goto out;
            }
            attr[i] = (uint8_t)t;
        }
        b.attr = attr;
    }

    rc = gguf_find_arr(f, "tokenizer.ggml.merges", -1, &arr, err);
    if (rc < 0) goto out;
    if (rc == 1) {
        if (!(merges = read_strings(&arr, "tokenizer.ggml.merges", err))) goto out;
        b.n_merges = (size_t)arr.n;
        b.merges = merges;
    } else if (b.model == TOK_MODEL_BPE) {
        he_fail(err, HE_FORMAT, "tokenizer.ggml.merges: missing (required by a gpt2 tokenizer)");
        goto out;
    }

    if (read_id(f, "tokenizer.ggml.bos_token_id", &b.bos, err) < 0 ||
        read_id(f, "tokenizer.ggml.eos_token_id", &b.eos, err) < 0 ||
        read_id(f, "tokenizer.ggml.unknown_token_id", &b.unk, err) < 0 ||
        read_id(f, "tokenizer.ggml.padding_token_id", &b.pad, err) < 0 ||
        read_id(f, "tokenizer.ggml.eot_token_id", &b.eot, err) < 0 ||
        read_id(f, "tokenizer.ggml.eom_token_id", &b.eom, err) < 0)
        goto out;
    if (read_flag(f, "tokenizer.ggml.add_bos_token", &b.add_bos, err) < 0 ||
        read_flag(f, "tokenizer.ggml.add_eos_token", &b.add_eos, err) < 0 ||
        read_flag(f, "tokenizer.ggml.add_space_prefix", &b.add_space_prefix, err) < 0)
        goto out;
    if (b.model == TOK_MODEL_WPM) { /* BERT's [CLS]/[SEP] play BOS/EOS */
        int64_t cls = -1, sep = -1;
        if (read_id(f, "tokenizer.ggml.cls_token_id", &cls, err) < 0 ||
            read_id(f, "tokenizer.ggml.seperator_token_id", &sep, err) < 0)
            goto out;
        if (b.bos < 0) b.bos = cls;
        if (b.eos < 0) b.eos = sep;
    }
    v = tok_vocab_build(&b, err);
    goto out;
nomem:
    he_fail(err, HE_NOMEM, "tokenizer: out of memory loading %zu tokens", n);
out:
    free(tokens);
    free(merges);
    free(scores);
    free(attr);
    return v;
}
