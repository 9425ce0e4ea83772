/* gemv1_q4_0.c — the selected set's Q4_0 small-batch kernel with ONE token (plain generation,
 * and every routed expert of a MoE decode step) on the matrix shapes of qwen1.5-moe-a2.7b: an
 * expert's gate/up (1408 x 2048) and down (2048 x 1408: 44 blocks per row, so a 12-block tail
 * after the 16-block steps), the shared expert's (5632 x 2048, 2048 x 5632). Weight GB/s per
 * CPU-second of this thread, best of 5: "cache" repeats one matrix (1.6-6.5 MB: L2/L3),
 * "stream" walks 512 MiB of copies once (DRAM). CPU time, so the figures mean something on a
 * loaded machine; compare with tools/membw.c. Not part of hearth or the build.
 *   build: cc -std=c11 -O2 -D_GNU_SOURCE -Isrc tools/gemv1_q4_0.c build/release/libhearth.a \
 *          $(pkg-config --libs libpcre2-8 jansson libcrypto) -lm -pthread -o build/gemv1_q4_0 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/tensor.h"
#include "tensor/tensor_internal.h"

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x243F6A8885A308D3ULL;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

int main(void) {
    const tensor_gemvn_fn fn = tensor_gemvn_of(TENSOR_TYPE_Q4_0);
    if (!fn) {
        printf("isa %s: no Q4_0 small-batch kernel\n", tensor_isa());
        return 0;
    }
    const tensor_traits *ref = tensor_traits_ref_of(TENSOR_TYPE_Q4_0);
    const tensor_traits *q8 = tensor_traits_ref_of(TENSOR_TYPE_Q8_0);
    static const int64_t shapes[][2] = {{2048, 1408}, {1408, 2048}, {2048, 5632}, {5632, 2048}};
    printf("isa %s; Q4_0, 1 token; weight GB/s per CPU-second, one thread, best of 5\n", tensor_isa());
    float sink = 0;
    for (int s = 0; s < 4; s++) {
        const int64_t n_in = shapes[s][0], n_out = shapes[s][1];
        const size_t w_row = tensor_row_size(TENSOR_TYPE_Q4_0, n_in), mat = w_row * (size_t)n_out;
        const int nmat = (int)((512u << 20) / mat);
        uint8_t *w = malloc(mat * (size_t)nmat);
        float *xf = malloc(sizeof(float) * (size_t)n_in * 64);
        const size_t q_row = tensor_row_size(TENSOR_TYPE_Q8_0, n_in);
        uint8_t *q = malloc(q_row);
        void *pack = malloc((size_t)(n_in / 32) * TENSOR_GEMV_PACK32);
        float *y = malloc(sizeof(float) * (size_t)n_out);
        if (!w || !xf || !q || !pack || !y) return 1;
        for (int64_t k = 0; k < n_in * 64; k++)
            xf[k] = frand();
        for (int r = 0; r < 64; r++)
            ref->from_float(xf + (int64_t)r * n_in, w + (size_t)r * w_row, n_in);
        for (size_t r = 64; r < (size_t)n_out * (size_t)nmat; r++)
            memcpy(w + r * w_row, w + (r % 64) * w_row, w_row);
        q8->from_float(xf, q, n_in);
        tensor_gemvn_pack(TENSOR_TYPE_Q4_0, n_in, q, q_row, 1, pack);
        double best_c = 0, best_s = 0;
        for (int rep = 0; rep < 5; rep++) {
            const int passes = 200;
            double t0 = cpu_s();
            for (int p = 0; p < passes; p++) {
                fn(n_in, (int)n_out, 1, y, n_out, w, w_row, pack, 0);
                sink += y[p % n_out];
            }
            const double c = (double)mat * passes / (cpu_s() - t0) / 1e9;
            t0 = cpu_s();
            for (int m = 0; m < nmat; m++) {
                fn(n_in, (int)n_out, 1, y, n_out, w + (size_t)m * mat, w_row, pack, 0);
                sink += y[0];
            }
            const double st = (double)mat * nmat / (cpu_s() - t0) / 1e9;
            if (c > best_c) best_c = c;
            if (st > best_s) best_s = st;
        }
        printf("%5lld x %5lld: cache %6.2f GB/s  stream %6.2f GB/s\n", (long long)n_out,
               (long long)n_in, best_c, best_s);
        free(w);
        free(xf);
        free(q);
        free(pack);
        free(y);
    }
    return sink == 12345.0f ? 1 : 0; /* keeps the products from being optimized away */
}
