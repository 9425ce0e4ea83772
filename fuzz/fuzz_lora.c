/* fuzz_lora.c — hostile LoRA adapter files: a GGUF in memory goes through the adapter loader's
 * checks against a fixed base (the tiny Llama, q8_0, seed 7, generated once into /tmp); when it
 * validates, it is attached to a fresh copy of the base and a small two-sequence batch is
 * decoded with the adapter on for one sequence. Any crash, over-read or unbounded allocation is
 * a bug. Seeds: fuzz/corpus/lora/ (`hearth make-lora --base tiny-q8_0-seed7.gguf --rank 2
 * --targets q,o` and variants). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "model/hearth.h"
#include "model/lora.h"
#include "model/synth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base_path[256];
static hearth_model *base;

static hearth_model *load_base(void) {
    he_error err;
    hearth_model_params mp = hearth_model_params_default();
    mp.load_vocab = false;
    return hearth_model_load(base_path, &mp, &err);
}

static void cleanup(void) {
    hearth_model_free(base);
    unlink(base_path);
}

static int setup(void) {
    if (base) return 0;
    snprintf(base_path, sizeof base_path, "/tmp/hearth_fuzz_lora_base_%d.gguf", (int)getpid());
    synth_params p = {.shape = "tiny", .seed = 7, .n_threads = 1, .ftype = QUANT_FTYPE_MOSTLY_Q8_0};
    he_error err;
    if (synth_make_model(&p, base_path, &err) < 0) {
        fprintf(stderr, "fuzz_lora: %s\n", err.msg);
        abort();
    }
    base = load_base();
    if (!base) abort();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    he_error err;
    gguf_file *f = gguf_open_buffer(data, size, &err);
    if (!f) return 0;
    hearth_lora *a = hearth_lora_from_gguf(base, f, &err);
    if (!a) return 0;
    hearth_lora_free(a);
    /* valid: run it on a fresh base (adapters stay with the model they are added to) */
    hearth_model *m = load_base();
    if (!m) abort();
    f = gguf_open_buffer(data, size, &err);
    a = f ? hearth_lora_from_gguf(m, f, &err) : NULL;
    if (!a || hearth_model_add_lora(m, a, &err) < 0) abort();
    hearth_ctx_params cp = hearth_ctx_params_default();
    cp.n_ctx = 8;
    cp.n_batch = 4;
    cp.n_seq = 2;
    cp.n_threads = 1;
    hearth_ctx *c = hearth_ctx_new(m, &cp, &err);
    if (c) {
        hearth_ctx_set_lora(c, 0, 1, 0.5f, &err);
        hearth_batch b;
        hearth_batch_init(&b, 4);
        hearth_batch_add(&b, 1, 0, 0, true);
        hearth_batch_add(&b, 2, 0, 1, true);
        hearth_batch_add(&b, 3, 1, 1, true);
        if (hearth_decode(c, &b, &err) == 0) {
            volatile float sink = hearth_logits(c, 2)[0];
            (void)sink;
        }
        hearth_batch_deinit(&b);
        hearth_ctx_free(c);
    }
    hearth_model_free(m);
    return 0;
}
