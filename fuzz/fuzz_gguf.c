/* fuzz_gguf.c — libFuzzer target for the GGUF reader: validate the bytes as a file, then walk
 * every key, value (arrays element by element, nested arrays recursively) and tensor, touching
 * every byte the reader hands out, so an index that escapes the buffer faults under ASan. */
#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc ^= b[i];
    sink = acc;
}

static void walk(const gguf_value *v, int depth) {
    he_error err;
    int64_t i;
    double d;
    bool b;
    gguf_str s;
    if (v->type == GGUF_TYPE_STRING) {
        if (gguf_value_str(v, &s, &err) == 0) {
            touch(s.ptr, s.len);
            char shown[16];
            gguf_str_show(shown, sizeof shown, s, 12);
        }
        return;
    }
    if (v->type != GGUF_TYPE_ARRAY) {
        (void)gguf_value_i64(v, &i, &err);
        (void)gguf_value_f64(v, &d, &err);
        (void)gguf_value_bool(v, &b, &err);
        return;
    }
    (void)gguf_value_str(v, &s, &err); /* wrong-type path */
    /* Bounded work per input: sample large arrays at both ends. */
    for (uint64_t j = 0; j < v->n; j++) {
        if (j == 64 && v->n > 128) j = v->n - 64;
        gguf_value e;
        if (gguf_value_elem(v, j, &e, &err) == 0) walk(&e, depth + 1);
    }
    gguf_value e;
    (void)gguf_value_elem(v, v->n, &e, &err); /* out of range */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    he_error err;
    gguf_file *f = gguf_open_buffer(data, size, &err);
    if (!f) return 0;
    (void)gguf_version(f);
    (void)gguf_alignment(f);
    for (int64_t k = 0; k < gguf_n_kv(f); k++) {
        gguf_str key = gguf_key(f, k);
        touch(key.ptr, key.len);
        char shown[80];
        gguf_str_show(shown, sizeof shown, key, 64);
        char name[128];
        size_t n = key.len < sizeof name - 1 ? (size_t)key.len : sizeof name - 1;
        memcpy(name, key.ptr, n);
        name[n] = 0;
        if (key.len < sizeof name && gguf_find_key(f, name) != k) __builtin_trap();
        gguf_value v;
        if (gguf_get_value(f, k, &v) == 0) walk(&v, 0);
        int64_t i;
        uint64_t u;
        double d;
        bool b;
        gguf_str s;
        (void)gguf_get_i64(f, k, &i, &err);
        (void)gguf_get_u64(f, k, &u, &err);
        (void)gguf_get_f64(f, k, &d, &err);
        (void)gguf_get_bool(f, k, &b, &err);
        (void)gguf_get_str(f, k, &s, &err);
    }
    for (int64_t t = 0; t < gguf_n_tensors(f); t++) {
        const gguf_tensor *ti = gguf_tensor_at(f, t);
        touch(ti->name.ptr, ti->name.len);
        touch(ti->data, ti->nbytes);
        char name[80];
        memcpy(name, ti->name.ptr, (size_t)ti->name.len); /* names are <= 63 bytes */
        name[ti->name.len] = 0;
        if (gguf_tensor_find(f, name) != ti) __builtin_trap();
    }
    gguf_close(f);
    return 0;
}
