/* gemv1.c — the selected set's small-batch kernel of a quantized type (default Q4_0) with ONE
 * token (plain generation, and every routed expert of a MoE decode step), or with
 * --rows the type's vec_dot row by row (the path without a small-batch kernel), on MoE matrix
 * shapes: by default qwen1.5-moe-a2.7b's expert gate/up (1408 x 2048) and down (2048 x 1408: 44
 * blocks per row, so a 12-block tail after the 16-block steps), its shared expert's (5632 x
 * 2048, 2048 x 5632); or OUTxIN arguments (gpt-oss-20b's experts: 2880x2880). Weight GB/s per
 * CPU-second of this thread, best of 5: "cache" repeats one matrix (L2/L3), "stream" walks
 * 512 MiB of copies once (DRAM). CPU time, so the figures mean something on a loaded machine;
 * compare with tools/membw.c. Not part of hearth or the build.
 *   build: cc -std=c11 -O2 -D_GNU_SOURCE -Isrc tools/gemv1.c build/release/libhearth.a \
 *          $(pkg-config --libs libpcre2-8 jansson libcrypto) -lm -pthread -o build/gemv1
 *   run:   build/gemv1 [--type q4_0|q8_0|iq4_nl|mxfp4|q4_K|q6_K|...] [--rows] [--file] [--random] [--mib N] [--map GGUF OFFSET] [OUTxIN ...]
 * (--file: weights in a shared file mapping, as a loaded model's, instead of anonymous memory;
 * --mib: the streamed copies' size, default 512; --random: stream them in a scattered order;
 * --map: a model file's bytes from OFFSET on as the weights, e.g. a tensor of experts)
 * (OUTxIN: IN a multiple of the type's block size; others are skipped) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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

/* one token through either path: the small-batch kernel on the linear pack, or vec_dot per row */
static void product(tensor_gemvn_fn fn, const tensor_traits *tr, int64_t n_in, int64_t n_out,
                    float *y, const uint8_t *w, size_t w_row, const void *pack, const void *q,
                    size_t q_row) {
    if (fn) {
        fn(n_in, (int)n_out, 1, y, n_out, w, w_row, pack ? pack : q, q_row);
        return;
    }
    for (int64_t r = 0; r < n_out; r++)
        tr->vec_dot(n_in, &y[r], w + (size_t)r * w_row, q);
}

int main(int argc, char **argv) {
    tensor_type type = TENSOR_TYPE_Q4_0;
    bool rows = false, file = false, scatter = false;
    const char *map_path = NULL;
    size_t map_off = 0;
    size_t stream_mib = 512;
    int64_t shapes[16][2] = {{2048, 1408}, {1408, 2048}, {2048, 5632}, {5632, 2048}};
    int n_shapes = 4, given = 0;
    for (int i = 1; i < argc; i++) {
        long long o, n;
        if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            const char *t = argv[++i];
            type = TENSOR_TYPE_COUNT;
            for (int k = 0; k < TENSOR_TYPE_COUNT; k++) {
                const tensor_traits *tk = tensor_traits_of((uint32_t)k);
                if (tk && tk->name && !strcasecmp(tk->name, t) && tk->vec_dot &&
                    tk->vec_dot_type != TENSOR_TYPE_F32 && tensor_traits_ref_of((uint32_t)k)->from_float)
                    type = (tensor_type)k;
            }
            if (type == TENSOR_TYPE_COUNT) {
                fprintf(stderr, "gemv1: --type: a quantized type with a quantizer (q4_0, q4_K, mxfp4...)\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--rows")) {
            rows = true;
        } else if (!strcmp(argv[i], "--file")) {
            file = true;
        } else if (!strcmp(argv[i], "--random")) {
            scatter = true;
        } else if (!strcmp(argv[i], "--map") && i + 2 < argc) {
            map_path = argv[++i];
            map_off = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--mib") && i + 1 < argc) {
            stream_mib = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (sscanf(argv[i], "%lldx%lld", &o, &n) == 2 && o > 0 && n > 0 && n % 32 == 0 &&
                   given < 16) {
            shapes[given][0] = n, shapes[given][1] = o, given++;
        } else {
            fprintf(stderr, "usage: gemv1 [--type TYPE] [--rows] [--file] [--random] [--mib N] [--map GGUF OFFSET] [OUTxIN ...]\n");
            return 2;
        }
    }
    if (given) n_shapes = given;
    const tensor_traits *tr = tensor_traits_of((uint32_t)type);
    const tensor_gemvn_fn fn = rows ? NULL : tensor_gemvn_of(type);
    if (!rows && !fn) {
        printf("isa %s: no %s small-batch kernel\n", tensor_isa(), tr->name);
        return 0;
    }
    const tensor_traits *ref = tensor_traits_ref_of(type);
    const tensor_traits *q8 = tensor_traits_ref_of(tr->vec_dot_type);
    const bool linear = tensor_gemvn_packs(type);
    printf("isa %s; %s, 1 token, %s; weight GB/s per CPU-second, one thread, best of 5\n",
           tensor_isa(), tr->name, rows ? "vec_dot per row" : "small-batch kernel");
    float sink = 0;
    for (int s = 0; s < n_shapes; s++) {
        const int64_t n_in = shapes[s][0], n_out = shapes[s][1];
        if (n_in % tr->block_size) {
            printf("%6lld x %5lld: skipped (%s blocks are %d wide)\n", (long long)n_out,
                   (long long)n_in, tr->name, (int)tr->block_size);
            continue;
        }
        const size_t w_row = tensor_row_size(type, n_in), mat = w_row * (size_t)n_out;
        const int nmat = (int)(stream_mib * (1u << 20) / mat) > 0 ? (int)(stream_mib * (1u << 20) / mat) : 1;
        /* --file: the weights in a shared mapping of a (deleted) temporary file, page-cache pages
         * as a memory-mapped model's, instead of anonymous memory */
        const size_t wbytes = mat * (size_t)nmat;
        uint8_t *w;
        uint8_t *map_base = NULL;
        size_t map_len = 0;
        if (map_path) { /* a model file's own bytes from map_off on (e.g. a tensor of experts) */
            FILE *mf = fopen(map_path, "rb");
            if (!mf || fseek(mf, 0, SEEK_END) != 0) return 1;
            map_len = (size_t)ftell(mf);
            map_base = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fileno(mf), 0);
            fclose(mf);
            if (map_base == MAP_FAILED || map_off + wbytes > map_len) return 1;
            /* 2 MiB pages where the page cache has them, as gguf_open advises; only the range read */
            madvise(map_base, map_len, MADV_HUGEPAGE);
            const size_t a0 = map_off & ~(size_t)4095;
            madvise(map_base + a0, map_off + wbytes - a0, MADV_POPULATE_READ);
            w = map_base + map_off;
        } else if (file) {
            char tmpl[] = "/tmp/gemv1-XXXXXX";
            const int fd = mkstemp(tmpl);
            if (fd < 0 || ftruncate(fd, (off_t)wbytes) != 0) return 1;
            unlink(tmpl);
            w = mmap(NULL, wbytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            close(fd);
            if (w == MAP_FAILED) return 1;
        } else {
            /* in 2 MiB pages, as a loaded model's weights are mapped where the kernel can */
            const size_t huge = (size_t)2 << 20;
            w = aligned_alloc(huge, (wbytes + huge - 1) / huge * huge);
            if (w) madvise(w, (wbytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
        }
        float *xf = malloc(sizeof(float) * (size_t)n_in * 64);
        const size_t q_row = tensor_row_size(tr->vec_dot_type, n_in);
        uint8_t *q = malloc(q_row);
        void *pack = malloc((size_t)(n_in / 32) * TENSOR_GEMV_PACK32);
        float *y = malloc(sizeof(float) * (size_t)n_out);
        if (!w || !xf || !q || !pack || !y) return 1;
        for (int64_t k = 0; k < n_in * 64; k++)
            xf[k] = frand();
        for (int r = 0; r < 64 && !map_base; r++)
            ref->from_float(xf + (int64_t)r * n_in, w + (size_t)r * w_row, n_in);
        for (size_t r = 64; r < (size_t)n_out * (size_t)nmat && !map_base; r++)
            memcpy(w + r * w_row, w + (r % 64) * w_row, w_row);
        q8->from_float(xf, q, n_in);
        if (linear) tensor_gemvn_pack(type, n_in, q, q_row, 1, pack);
        double best_c = 0, best_s = 0;
        for (int rep = 0; rep < 5; rep++) {
            const int passes = (int)(200 * 2048 * 2048 / (n_in * n_out)) + 1;
            double t0 = cpu_s();
            for (int p = 0; p < passes; p++) {
                product(fn, tr, n_in, n_out, y, w, w_row, linear ? pack : NULL, q, q_row);
                sink += y[p % n_out];
            }
            const double c = (double)mat * passes / (cpu_s() - t0) / 1e9;
            t0 = cpu_s();
            for (int m = 0; m < nmat; m++) {
                /* --random: the copies in a scattered order (a MoE step's chosen experts) */
                const size_t mi = scatter ? ((size_t)m * 7919u) % (size_t)nmat : (size_t)m;
                product(fn, tr, n_in, n_out, y, w + mi * mat, w_row, linear ? pack : NULL, q,
                        q_row);
                sink += y[0];
            }
            const double st = (double)mat * nmat / (cpu_s() - t0) / 1e9;
            if (c > best_c) best_c = c;
            if (st > best_s) best_s = st;
        }
        printf("%6lld x %5lld: cache %6.2f GB/s  stream %6.2f GB/s\n", (long long)n_out,
               (long long)n_in, best_c, best_s);
        if (map_base)
            munmap(map_base, map_len);
        else if (file)
            munmap(w, wbytes);
        else
            free(w);
        free(xf);
        free(q);
        free(pack);
        free(y);
    }
    return sink == 12345.0f ? 1 : 0; /* keeps the products from being optimized away */
}
