/* memory.h — what a served model will cost in memory, predicted before it loads (store mode's
 * admission, docs/SERVER.md "Memory admission"), and what the machine has.
 *
 * The prediction reads only the GGUF's metadata: the weights are the mapped file (every page is
 * read by a decode, so all of it becomes resident), the KV cache is cells x layers x (K + V row
 * bytes) at the context the model will get, and the scratch is the decode buffers of a batch
 * (activations, logits rows, attention tiles, per-slot logits copies). */
#ifndef HEARTH_SERVER_MEMORY_H
#define HEARTH_SERVER_MEMORY_H

#include <stdint.h>

#include "base/error.h"
#include "model/hearth.h"

typedef struct {
    uint64_t weights, kv, scratch, total;
    int32_t n_ctx; /* KV cells per slot the model will get */
} srv_mem_prediction;

/* gguf_path: the weights file; n_ctx: per slot (0: min(training context, 4096)); n_batch 0: 512;
 * n_threads 0: online CPUs. 0, or -1 with err (not a GGUF, missing metadata). */
int srv_mem_predict(const char *gguf_path, int32_t n_ctx, int32_t n_slots, hearth_kv_type kv,
                    int32_t n_batch, int32_t n_threads, srv_mem_prediction *out, he_error *err);
/* MemAvailable from /proc/meminfo in bytes (0 when unknown). */
uint64_t srv_mem_available(void);
/* This process's resident set (VmRSS of /proc/self/status) in bytes (0 when unknown). */
uint64_t srv_mem_rss(void);

#endif
