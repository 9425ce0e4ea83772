/* cmd_inspect.c — `hearth inspect FILE.gguf`: print a GGUF file's header, every key/value and the
 * tensor table, with long strings and arrays abbreviated so a 150k-token vocabulary or a 10 KB chat
 * template still fits on a line. The file is fully validated first (gguf_open), so a malformed
 * file gets the reader's error message and exit status 1. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gguf/gguf.h"
#include "tensor/tensor.h"

#define STR_SHOW 64 /* bytes of a string value shown before it is cut */
#define ARR_SHOW 5  /* elements of an array shown */
#define NEST_SHOW 3 /* nesting levels of arrays shown */

/* Prints at most max bytes of s as a quoted string, escaping quotes, control bytes and invalid
 * UTF-8 (partial-character tokens are common in BPE vocabularies) and never cutting a UTF-8
 * sequence in half; notes the full length when cut. */
static void print_str(gguf_str s, size_t max) {
    size_t n = s.len < max ? (size_t)s.len : max, i = 0;
    putchar('"');
    while (i < n) {
        unsigned char c = (unsigned char)s.ptr[i];
        size_t k = gguf_utf8_len(s.ptr + i, (size_t)s.len - i);
        if (k > 1) {
            if (i + k > n) break;
            fwrite(s.ptr + i, 1, k, stdout);
            i += k;
            continue;
        }
        i++;
        if (c == '"')
            fputs("\\\"", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (k == 0 || c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    n = i;
    putchar('"');
    if (n < s.len) printf("… (%" PRIu64 " bytes)", s.len);
}

static void print_value(const gguf_value *v, int depth) {
    he_error err;
    switch (v->type) {
    case GGUF_TYPE_STRING: {
        gguf_str s;
        if (gguf_value_str(v, &s, &err) == 0) print_str(s, depth ? STR_SHOW / 2 : STR_SHOW);
        return;
    }
    case GGUF_TYPE_FLOAT32: {
        /* Shortest form that reads back as the same float: 1e-05, not 9.99999975e-06. */
        float x;
        memcpy(&x, v->raw, 4);
        char buf[32];
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
            if (strtof(buf, NULL) == x || x != x) break;
        }
        fputs(buf, stdout);
        return;
    }
    case GGUF_TYPE_FLOAT64: {
        double d;
        if (gguf_value_f64(v, &d, &err) == 0) printf("%.9g", d);
        return;
    }
    case GGUF_TYPE_BOOL: {
        bool b;
        if (gguf_value_bool(v, &b, &err) == 0) fputs(b ? "true" : "false", stdout);
        return;
    }
    case GGUF_TYPE_UINT64: {
        int64_t x;
        if (gguf_value_i64(v, &x, &err) == 0)
            printf("%" PRId64, x);
        else {
            uint64_t u;
            memcpy(&u, v->raw, 8);
            printf("%" PRIu64, u);
        }
        return;
    }
    case GGUF_TYPE_ARRAY: {
        printf("[%" PRIu64 " × %s]", v->n, gguf_type_name(v->elem_type));
        if (v->n == 0) return;
        if (depth >= NEST_SHOW) {
            fputs(" […]", stdout);
            return;
        }
        fputs(" [", stdout);
        uint64_t show = v->n < ARR_SHOW ? v->n : ARR_SHOW;
        for (uint64_t j = 0; j < show; j++) {
            gguf_value e;
            if (j) fputs(", ", stdout);
            if (gguf_value_elem(v, j, &e, &err) == 0)
                print_value(&e, depth + 1);
            else
                break;
        }
        if (show < v->n) fputs(", …", stdout);
        putchar(']');
        return;
    }
    default: {
        int64_t x;
        if (gguf_value_i64(v, &x, &err) == 0) printf("%" PRId64, x);
        return;
    }
    }
}

static void print_size(uint64_t b) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)b;
    int u = 0;
    while (x >= 1024.0 && u < 4) {
        x /= 1024.0;
        u++;
    }
    if (u == 0)
        printf("%" PRIu64 " B", b);
    else
        printf("%.2f %s", x, unit[u]);
}

int cmd_inspect(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: hearth inspect FILE.gguf\n");
        return 2;
    }
    he_error err = {0};
    gguf_file *f = gguf_open(argv[1], &err);
    if (!f) {
        fprintf(stderr, "hearth inspect: %s\n", err.msg);
        return 1;
    }
    printf("file:        %s\n", argv[1]);
    printf("version:     %u\n", gguf_version(f));
    printf("alignment:   %" PRIu64 "\n", gguf_alignment(f));
    printf("data offset: %" PRIu64 "\n", gguf_data_offset(f));
    printf("file size:   %zu\n", gguf_file_size(f));

    int64_t n_kv = gguf_n_kv(f);
    int kw = 0;
    for (int64_t i = 0; i < n_kv; i++) {
        gguf_str k = gguf_key(f, i);
        char b[160];
        int w = (int)strlen(gguf_str_show(b, sizeof b, k, 96));
        if (w > kw) kw = w > 48 ? 48 : w;
    }
    printf("\nmetadata: %" PRId64 " keys\n", n_kv);
    for (int64_t i = 0; i < n_kv; i++) {
        gguf_str k = gguf_key(f, i);
        gguf_value v;
        gguf_get_value(f, i, &v);
        /* Names from a file may hold escape sequences: never print them raw to a terminal. */
        char b[160];
        printf("  %-*s  %-6s  ", kw, gguf_str_show(b, sizeof b, k, 96), gguf_type_name(v.type));
        print_value(&v, 0);
        putchar('\n');
    }

    int64_t n_t = gguf_n_tensors(f);
    printf("\ntensors: %" PRId64 "\n", n_t);
    if (n_t)
        printf("  %-40s  %-7s  %-24s  %12s  %12s\n", "name", "type", "shape", "offset", "bytes");
    uint64_t params = 0, bytes = 0;
    for (int64_t i = 0; i < n_t; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const tensor_traits *tr = tensor_traits_of(t->type);
        char shape[96];
        int o = snprintf(shape, sizeof shape, "[");
        uint64_t nel = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%" PRId64, d ? ", " : "",
                          t->ne[d]);
            nel *= (uint64_t)t->ne[d]; /* fits: the reader checked the product */
        }
        snprintf(shape + o, sizeof shape - (size_t)o, "]");
        char b[160];
        printf("  %-40s  %-7s  %-24s  %12" PRIu64 "  %12" PRIu64 "\n",
               gguf_str_show(b, sizeof b, t->name, 96), tr ? tr->name : "?", shape, t->offset,
               t->nbytes);
        params += nel;
        bytes += t->nbytes;
    }
    printf("\ntotal: %" PRId64 " tensors, %" PRIu64 " parameters, ", n_t, params);
    print_size(bytes);
    printf(" of tensor data\n");
    gguf_close(f);
    return 0;
}
