/* info.c — a one-line summary of a GGUF model for `hearth ls`: architecture, parameter count,
 * quantization, context length and licence, read from the file's own metadata. The store may use
 * only base/ and gguf/, so the names of GGUF tensor types and of llama.cpp's general.file_type
 * values (both part of the GGUF format) are tabled here. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"
#include "store/store.h"

/* ggml tensor type ids (GGUF spec). */
static const char *const tensor_type_names[] = {
    [0] = "F32",     [1] = "F16",      [2] = "Q4_0",   [3] = "Q4_1",    [6] = "Q5_0",
    [7] = "Q5_1",    [8] = "Q8_0",     [9] = "Q8_1",   [10] = "Q2_K",   [11] = "Q3_K",
    [12] = "Q4_K",   [13] = "Q5_K",    [14] = "Q6_K",  [15] = "Q8_K",   [16] = "IQ2_XXS",
    [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
    [22] = "IQ2_S",  [23] = "IQ4_XS",  [24] = "I8",    [25] = "I16",    [26] = "I32",
    [27] = "I64",    [28] = "F64",     [29] = "IQ1_M", [30] = "BF16",   [34] = "TQ1_0",
    [35] = "TQ2_0",
};

/* general.file_type values (llama_ftype). */
static const char *const file_type_names[] = {
    [0] = "F32",      [1] = "F16",      [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
    [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
    [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
    [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS",
    [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL", [26] = "IQ3_S",  [27] = "IQ3_M",
    [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS", [31] = "IQ1_M",  [32] = "BF16",
    [36] = "TQ1_0",   [37] = "TQ2_0",
};

#define N_TT (sizeof tensor_type_names / sizeof tensor_type_names[0])
#define N_FT (sizeof file_type_names / sizeof file_type_names[0])

/* Copies s into out as display-safe ASCII-ish text: control bytes and DEL become '?'. */
static void show(char *out, size_t cap, gguf_str s) {
    size_t n = 0;
    for (uint64_t i = 0; i < s.len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    /* never end inside a UTF-8 sequence */
    while (n > 0 && ((unsigned char)out[n - 1] & 0x80)) {
        size_t start = n - 1;
        while (start > 0 && ((unsigned char)out[start] & 0xC0) == 0x80)
            start--;
        if (gguf_utf8_len(out + start, n - start) == n - start) break;
        n = start;
    }
    out[n] = '\0';
}

static void human_count(uint64_t n, char *out, size_t cap) {
    if (n >= 1000000000ull)
        snprintf(out, cap, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(out, cap, "%.1fM", (double)n / 1e6);
    else if (n >= 1000ull)
        snprintf(out, cap, "%.0fK", (double)n / 1e3);
    else
        snprintf(out, cap, "%" PRIu64, n);
}

int store_info_read(const char *path, store_info *out, he_error *err) {
    memset(out, 0, sizeof *out);
    out->context_length = -1;
    gguf_file *g = gguf_open(path, err);
    if (!g) return -1;
    gguf_str s;
    if (gguf_find_str(g, "general.architecture", &s, NULL) == 1)
        show(out->arch, sizeof out->arch, s);
    if (gguf_find_str(g, "general.license", &s, NULL) == 1)
        show(out->license, sizeof out->license, s);

    /* Parameters: counted from the tensor table; tensor bytes by type for the quantization. */
    uint64_t bytes_by_type[N_TT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            ne *= (uint64_t)t->ne[d];
        out->n_params += ne;
        if (t->type < N_TT && t->n_dims >= 2) bytes_by_type[t->type] += t->nbytes;
    }
    if (gguf_find_str(g, "general.size_label", &s, NULL) == 1 && s.len > 0)
        show(out->params, sizeof out->params, s);
    else
        human_count(out->n_params, out->params, sizeof out->params);

    int64_t ft;
    if (gguf_find_i64(g, "general.file_type", &ft, NULL) == 1 && ft >= 0 && (uint64_t)ft < N_FT &&
        file_type_names[ft]) {
        snprintf(out->quant, sizeof out->quant, "%s", file_type_names[ft]);
    } else {
        size_t best = N_TT;
        for (size_t t = 0; t < N_TT; t++)
            if (bytes_by_type[t] && tensor_type_names[t] &&
                (best == N_TT || bytes_by_type[t] > bytes_by_type[best]))
                best = t;
        snprintf(out->quant, sizeof out->quant, "%s", best < N_TT ? tensor_type_names[best] : "?");
    }

    if (out->arch[0]) {
        char key[96];
        snprintf(key, sizeof key, "%s.context_length", out->arch);
        int64_t v;
        if (gguf_find_i64(g, key, &v, NULL) == 1) out->context_length = v;
    }
    gguf_close(g);
    return 0;
}
