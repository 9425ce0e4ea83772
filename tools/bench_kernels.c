/* bench_kernels.c — single-thread speed of each vec_dot kernel, reference and selected ISA.
 *
 * For every weight type: a matrix of random rows (quantized with the reference quantizer) is
 * dotted row by row against one quantized activation row, as generation does. Two sizes:
 * "cache" (256 KiB of weights, repeated: the kernel's arithmetic throughput) and "stream"
 * (256 MiB, each row once: bound by memory). Throughput is reported as GB/s of weight bytes,
 * so it compares directly with tools/membw.c: a kernel whose in-cache GB/s is not well above
 * the machine's read bandwidth cannot keep generation at the bandwidth limit.
 * Times are this thread's CPU time, not wall time: the figures then hold on a loaded machine
 * (caches are still shared, so they are not perfectly load-independent).
 * Built by scripts/bench.sh against build/release/libhearth.a; not part of hearth.
 * usage: bench_kernels [type ...]   (default: q4_0 q8_0 q4_K q6_K q5_0 f16 f32) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/tensor.h"

static double now_s(void) {
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

/* Dots n_rows rows against q `passes` times; returns weight GB/s. */
static double run(const tensor_traits *tr, int64_t n_in, const uint8_t *w, size_t w_row, int64_t n_rows,
                  const void *q, int passes, float *sink) {
    double t0 = now_s();
    float acc = 0;
    for (int p = 0; p < passes; p++)
        for (int64_t r = 0; r < n_rows; r++) {
            float s;
            tr->vec_dot(n_in, &s, w + (size_t)r * w_row, q);
            acc += s;
        }
    double dt = now_s() - t0;
    *sink += acc;
    return (double)w_row * (double)n_rows * passes / dt / 1e9;
}

int main(int argc, char **argv) {
    static const char *def[] = {"q4_0", "q8_0", "q4_K", "q6_K", "q5_0", "f16", "f32"};
    int n_types = argc > 1 ? argc - 1 : (int)(sizeof def / sizeof def[0]);
    const char **names = argc > 1 ? (const char **)(argv + 1) : def;
    const int64_t n_in = 2048;
    float *xf = malloc(sizeof(float) * (size_t)n_in * 64);
    float sink = 0;
    printf("isa %s; n_in %lld; GB/s of weight bytes per CPU-second, one thread\n", tensor_isa(), (long long)n_in);
    printf("%-6s %12s %12s %12s %12s\n", "type", "ref cache", "ref stream", "sel cache", "sel stream");
    for (int i = 0; i < n_types; i++) {
        int id = tensor_type_from_name(names[i]);
        const tensor_traits *sel = id >= 0 ? tensor_traits_of((uint32_t)id) : NULL;
        const tensor_traits *ref = id >= 0 ? tensor_traits_ref_of((uint32_t)id) : NULL;
        if (!sel || !ref || !sel->vec_dot || !ref->from_float) {
            printf("%-6s (no kernel)\n", names[i]);
            continue;
        }
        size_t w_row = tensor_row_size((tensor_type)id, n_in);
        int64_t rows_stream = (int64_t)((256u << 20) / w_row), rows_cache = (int64_t)((256u << 10) / w_row);
        uint8_t *w = malloc(w_row * (size_t)rows_stream);
        /* 64 distinct random rows, copied over the whole matrix (quantizing 256 MiB is slow). */
        for (int64_t k = 0; k < n_in * 64; k++) xf[k] = frand();
        for (int r = 0; r < 64; r++) ref->from_float(xf + (int64_t)r * n_in, w + (size_t)r * w_row, n_in);
        for (int64_t r = 64; r < rows_stream; r++) memcpy(w + (size_t)r * w_row, w + (size_t)(r % 64) * w_row, w_row);
        const void *q = xf;
        void *qbuf = NULL;
        if (sel->vec_dot_type != TENSOR_TYPE_F32) {
            const tensor_traits *vt = tensor_traits_ref_of((uint32_t)sel->vec_dot_type);
            qbuf = malloc(tensor_row_size(sel->vec_dot_type, n_in));
            vt->from_float(xf, qbuf, n_in);
            q = qbuf;
        }
        int reps_cache = (int)(((int64_t)2 << 30) / (int64_t)(w_row * (size_t)rows_cache)) / 8;
        double rc = run(ref, n_in, w, w_row, rows_cache, q, reps_cache / 8 + 1, &sink);
        double rs = run(ref, n_in, w, w_row, rows_stream, q, 1, &sink);
        double sc = run(sel, n_in, w, w_row, rows_cache, q, reps_cache, &sink);
        double ss = run(sel, n_in, w, w_row, rows_stream, q, 1, &sink);
        printf("%-6s %12.2f %12.2f %12.2f %12.2f\n", names[i], rc, rs, sc, ss);
        free(qbuf);
        free(w);
    }
    free(xf);
    return sink == 12345.0f ? 1 : 0; /* keeps the dots from being optimized away */
}
