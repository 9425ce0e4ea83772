/* fuzz_model.c — hostile model files (SECURITY.md G25): a GGUF in memory goes through the
 * loader's hyperparameter and shape validation, and when it loads, a small context decodes a
 * mixed two-sequence batch. Any crash, over-read or unbounded allocation is a bug. */
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "model/hearth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    he_error err;
    gguf_file *f = gguf_open_buffer(data, size, &err);
    if (!f) return 0;
    hearth_model_params mp = hearth_model_params_default();
    mp.load_vocab = false; /* the tokenizer has its own fuzz target */
    hearth_model *m = hearth_model_from_gguf(f, &mp, &err);
    if (!m) return 0;
    hearth_ctx_params cp = hearth_ctx_params_default();
    cp.n_ctx = 8;
    cp.n_batch = 4;
    cp.n_seq = 2;
    cp.n_threads = 1;
    hearth_ctx *c = hearth_ctx_new(m, &cp, &err);
    if (c) {
        int32_t nv = hearth_model_n_vocab(m);
        hearth_batch b;
        hearth_batch_init(&b, 4);
        hearth_batch_add(&b, 0, 0, 0, false);
        hearth_batch_add(&b, 1 % nv, 0, 1, true);
        hearth_batch_add(&b, (nv - 1), 1, 0, true);
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
