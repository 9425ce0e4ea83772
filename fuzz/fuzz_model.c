/* fuzz_model.c — hostile model files (SECURITY.md G25): a GGUF in memory goes through the
 * loader's hyperparameter and shape validation, and when it loads, a small context decodes a
 * mixed two-sequence batch; an embedding model or reranker (encoder, or a decoder with a
 * pooling type and for rank its cls.output label rows) also embeds two short sequences. Any
 * crash, over-read or unbounded allocation is a bug. */
#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"
#include "gguf/gguf.h"
#include "model/embed.h"
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
    if (hearth_model_is_embedder(m) || hearth_model_is_reranker(m)) {
        static he_pool *pool;
        if (!pool) pool = he_pool_new(1);
        hearth_embedder *e = hearth_embedder_new(m, pool, 8, &err);
        if (e) {
            int32_t nv = hearth_model_n_vocab(m);
            const int32_t a[3] = {0, 1 % nv, nv - 1}, b1[1] = {nv - 1};
            const int32_t *seqs[2] = {a, b1};
            const int32_t lens[2] = {3, 1};
            float out[2 * 64];
            if (hearth_model_n_embd_out(m) <= 64 &&
                hearth_embed(e, seqs, lens, 2, true, out, &err) == 0) {
                volatile float sink = out[0];
                (void)sink;
            }
            hearth_embedder_free(e);
        }
    }
    hearth_model_free(m);
    return 0;
}
