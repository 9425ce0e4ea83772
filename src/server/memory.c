/* memory.c — predicted model memory from GGUF metadata; MemAvailable and RSS (memory.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "server/memory.h"

static int64_t meta_int(gguf_file *f, const char *arch, const char *key, int64_t def) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    int64_t v;
    he_error e;
    return gguf_find_i64(f, full, &v, &e) == 1 ? v : def;
}

int srv_mem_predict(const char *gguf_path, int32_t n_ctx, int32_t n_slots, hearth_kv_type kv,
                    int32_t n_batch, int32_t n_threads, srv_mem_prediction *out, he_error *err) {
    memset(out, 0, sizeof *out);
    gguf_file *f = gguf_open(gguf_path, err);
    if (!f) return -1;
    gguf_str a;
    char arch[64];
    if (gguf_find_str(f, "general.architecture", &a, err) != 1 || a.len == 0 ||
        a.len >= sizeof arch) {
        gguf_close(f);
        return he_fail(err, HE_FORMAT, "memory: no general.architecture");
    }
    memcpy(arch, a.ptr, a.len);
    arch[a.len] = 0;
    int64_t n_embd = meta_int(f, arch, "embedding_length", 0),
            n_layer = meta_int(f, arch, "block_count", 0);
    int64_t n_ff = meta_int(f, arch, "feed_forward_length", 0),
            n_head = meta_int(f, arch, "attention.head_count", 0);
    int64_t n_head_kv = meta_int(f, arch, "attention.head_count_kv", n_head);
    int64_t ctx_train = meta_int(f, arch, "context_length", 2048);
    if (n_embd <= 0 || n_layer <= 0 || n_head <= 0 || n_head_kv <= 0 || n_embd > 1 << 20 ||
        n_layer > 1 << 12 || n_head > 1 << 12 || n_ff < 0 || n_ff > 1 << 22) {
        gguf_close(f);
        return he_fail(err, HE_FORMAT, "memory: missing or out-of-range model dimensions");
    }
    int64_t hd_k = meta_int(f, arch, "attention.key_length", n_embd / n_head);
    int64_t hd_v = meta_int(f, arch, "attention.value_length", hd_k);
    gguf_value toks;
    he_error e2;
    int64_t n_vocab =
        gguf_find_arr(f, "tokenizer.ggml.tokens", -1, &toks, &e2) == 1 ? (int64_t)toks.n : 0;
    if (n_vocab <= 0) n_vocab = meta_int(f, arch, "vocab_size", 32000);
    out->weights = (uint64_t)gguf_file_size(f);
    gguf_close(f);
    if (hd_k <= 0 || hd_v <= 0 || hd_k > 4096 || hd_v > 4096)
        return he_fail(err, HE_FORMAT, "memory: bad head size");

    if (n_ctx <= 0) n_ctx = ctx_train > 0 && ctx_train < 4096 ? (int32_t)ctx_train : 4096;
    if (n_slots <= 0) n_slots = 4;
    if (n_batch <= 0) n_batch = 512;
    if (n_batch < n_slots) n_batch = n_slots;
    if (n_threads <= 0) n_threads = (int32_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads <= 0) n_threads = 1;
    out->n_ctx = n_ctx;
    uint64_t cells = (uint64_t)n_ctx * (uint64_t)n_slots;
    uint64_t kdim = (uint64_t)(n_head_kv * hd_k), vdim = (uint64_t)(n_head_kv * hd_v);
    /* f16: 2 bytes; f32: 4; q8_0: 34 bytes per 32 values */
    uint64_t row = kv == HEARTH_KV_F32    ? (kdim + vdim) * 4
                   : kv == HEARTH_KV_Q8_0 ? (kdim + vdim) / 32 * 34
                                          : (kdim + vdim) * 2;
    out->kv = cells * (uint64_t)n_layer * row + cells * 16; /* + the cells' bookkeeping */
    /* decode scratch (model/ctx.c): activations of a batch, the logits of one row per slot,
     * attention cell lists and tiles per thread, and per slot its token history and a logits
     * copy (sched.c) */
    uint64_t B = (uint64_t)n_batch, E = (uint64_t)n_embd;
    uint64_t nq = (uint64_t)(n_head * hd_k), no = (uint64_t)(n_head * hd_v);
    uint64_t act =
        B * (3 * E + (E > no ? E : no) + nq + kdim + vdim + 2 * (uint64_t)n_ff + (uint64_t)hd_k) *
        4;
    uint64_t logits = (uint64_t)n_slots * (E + (uint64_t)n_vocab) * 4;
    uint64_t attn = (uint64_t)n_threads * cells * 8 + (uint64_t)n_threads * 256 * 1024;
    uint64_t slots = (uint64_t)n_slots * ((uint64_t)n_ctx * 4 + (uint64_t)n_vocab * 4);
    uint64_t quant_act = B * (E > (uint64_t)n_ff ? E : (uint64_t)n_ff) * 2;
    uint64_t vocab_tables = (uint64_t)n_vocab * 64; /* the grammar vocab and the tokenizer's maps */
    out->scratch = act + logits + attn + slots + quant_act + vocab_tables;
    out->total = out->weights + out->kv + out->scratch;
    return 0;
}

static uint64_t kib_field(const char *file, const char *key) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char line[256];
    unsigned long long v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            sscanf(line + kl + 1, "%llu", &v);
            break;
        }
    }
    fclose(f);
    return (uint64_t)v * 1024;
}

uint64_t srv_mem_available(void) { return kib_field("/proc/meminfo", "MemAvailable"); }
uint64_t srv_mem_rss(void) { return kib_field("/proc/self/status", "VmRSS"); }
