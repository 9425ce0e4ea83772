/* types.c — the traits table: block layout of every ggml type id a GGUF file may hold, with the
 * scalar reference kernels for the types hearth computes with (attached by quant_ref.c) and the
 * per-ISA overrides dispatch.c selects. */
#include "tensor/tensor.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "tensor/tensor_internal.h"

// clang-format off
/* Layout only for types hearth reads but cannot compute with (their sizes still let the GGUF
 * reader validate offsets). Kernels are attached in tensor_kernels_attach(). */
static const tensor_traits layout[TENSOR_TYPE_COUNT] = {
    [TENSOR_TYPE_F32]  = {.name = "f32",  .block_size = 1,   .type_size = 4},
    [TENSOR_TYPE_F16]  = {.name = "f16",  .block_size = 1,   .type_size = 2},
    [TENSOR_TYPE_Q4_0] = {.name = "q4_0", .block_size = 32,  .type_size = 18,  .is_quantized = true},
    [TENSOR_TYPE_Q4_1] = {.name = "q4_1", .block_size = 32,  .type_size = 20,  .is_quantized = true},
    [TENSOR_TYPE_Q5_0] = {.name = "q5_0", .block_size = 32,  .type_size = 22,  .is_quantized = true},
    [TENSOR_TYPE_Q5_1] = {.name = "q5_1", .block_size = 32,  .type_size = 24,  .is_quantized = true},
    [TENSOR_TYPE_Q8_0] = {.name = "q8_0", .block_size = 32,  .type_size = 34,  .is_quantized = true},
    [TENSOR_TYPE_Q8_1] = {.name = "q8_1", .block_size = 32,  .type_size = 36,  .is_quantized = true},
    [TENSOR_TYPE_Q2_K] = {.name = "q2_K", .block_size = 256, .type_size = 84,  .is_quantized = true},
    [TENSOR_TYPE_Q3_K] = {.name = "q3_K", .block_size = 256, .type_size = 110, .is_quantized = true},
    [TENSOR_TYPE_Q4_K] = {.name = "q4_K", .block_size = 256, .type_size = 144, .is_quantized = true},
    [TENSOR_TYPE_Q5_K] = {.name = "q5_K", .block_size = 256, .type_size = 176, .is_quantized = true},
    [TENSOR_TYPE_Q6_K] = {.name = "q6_K", .block_size = 256, .type_size = 210, .is_quantized = true},
    [TENSOR_TYPE_Q8_K] = {.name = "q8_K", .block_size = 256, .type_size = 292, .is_quantized = true},
    [TENSOR_TYPE_IQ2_XXS] = {.name = "iq2_xxs", .block_size = 256, .type_size = 66,  .is_quantized = true},
    [TENSOR_TYPE_IQ2_XS] = {.name = "iq2_xs",  .block_size = 256, .type_size = 74,  .is_quantized = true},
    [TENSOR_TYPE_IQ3_XXS] = {.name = "iq3_xxs", .block_size = 256, .type_size = 98,  .is_quantized = true},
    [TENSOR_TYPE_IQ1_S] = {.name = "iq1_s",   .block_size = 256, .type_size = 50,  .is_quantized = true},
    [TENSOR_TYPE_IQ4_NL] = {.name = "iq4_nl",  .block_size = 32,  .type_size = 18,  .is_quantized = true},
    [TENSOR_TYPE_IQ3_S] = {.name = "iq3_s",   .block_size = 256, .type_size = 110, .is_quantized = true},
    [TENSOR_TYPE_IQ2_S] = {.name = "iq2_s",   .block_size = 256, .type_size = 82,  .is_quantized = true},
    [TENSOR_TYPE_IQ4_XS] = {.name = "iq4_xs",  .block_size = 256, .type_size = 136, .is_quantized = true},
    [TENSOR_TYPE_I8]   = {.name = "i8",   .block_size = 1, .type_size = 1},
    [TENSOR_TYPE_I16]  = {.name = "i16",  .block_size = 1, .type_size = 2},
    [TENSOR_TYPE_I32]  = {.name = "i32",  .block_size = 1, .type_size = 4},
    [TENSOR_TYPE_I64]  = {.name = "i64",  .block_size = 1, .type_size = 8},
    [TENSOR_TYPE_F64]  = {.name = "f64",  .block_size = 1, .type_size = 8},
    [TENSOR_TYPE_IQ1_M] = {.name = "iq1_m",   .block_size = 256, .type_size = 56,  .is_quantized = true},
    [TENSOR_TYPE_BF16] = {.name = "bf16", .block_size = 1, .type_size = 2},
    [TENSOR_TYPE_TQ1_0] = {.name = "tq1_0",   .block_size = 256, .type_size = 54,  .is_quantized = true},
    [TENSOR_TYPE_TQ2_0] = {.name = "tq2_0",   .block_size = 256, .type_size = 66,  .is_quantized = true},
    [TENSOR_TYPE_MXFP4] = {.name = "mxfp4",   .block_size = 32,  .type_size = 17,  .is_quantized = true},
};
// clang-format on

static tensor_traits ref_table[TENSOR_TYPE_COUNT]; /* layout + scalar reference kernels */
static tensor_traits table[TENSOR_TYPE_COUNT];     /* ... with the selected ISA's overrides */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* Runs once, on the first lookup from any thread (pthread_once: concurrent first lookups from
 * worker threads wait for it instead of racing on the table). */
static void table_init(void) {
    for (int t = 0; t < TENSOR_TYPE_COUNT; t++) {
        ref_table[t] = layout[t];
        if (ref_table[t].name) tensor_kernels_attach((tensor_type)t, &ref_table[t]);
        table[t] = ref_table[t];
    }
    tensor_dispatch_select(table);
}

const tensor_traits *tensor_traits_ref_of(uint32_t type) {
    pthread_once(&table_once, table_init);
    if (type >= TENSOR_TYPE_COUNT || !ref_table[type].name) return NULL;
    return &ref_table[type];
}

const tensor_traits *tensor_traits_of(uint32_t type) {
    pthread_once(&table_once, table_init);
    if (type >= TENSOR_TYPE_COUNT || !table[type].name) return NULL;
    return &table[type];
}

size_t tensor_row_size(tensor_type type, int64_t n) {
    const tensor_traits *t = tensor_traits_of((uint32_t)type);
    if (!t || n < 0 || n % t->block_size) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}

int tensor_type_from_name(const char *name) {
    for (int t = 0; t < TENSOR_TYPE_COUNT; t++)
        if (layout[t].name && !strcasecmp(layout[t].name, name)) return t;
    return -1;
}
