/* membw.c — memory read bandwidth: threads stream through a large buffer, summing it.
 *
 * Token generation reads every weight once per token, so tg t/s × bytes per token can be held
 * against this figure: how close an engine comes to the machine's limit. Built and run by
 * scripts/bench.sh (cc -O3 -march=native -pthread tools/membw.c); not part of hearth.
 *
 * The buffer is asked for in 2 MiB pages (MADV_HUGEPAGE), as hearth maps a model's weights:
 * on 4 KiB pages the loop read 0-5% less at one thread here (docs/BENCHMARKS.md), which
 * flattered an engine's share of this figure.
 *
 * usage: membw [MiB (default 1024)] [threads (default 2)] [passes (default 5)]
 * Prints the best pass in GB/s (1e9 bytes/s), and the median, on one line. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef struct {
    const uint64_t *p;
    size_t n; /* uint64 words */
    pthread_barrier_t *bar;
    uint64_t sum;
    double t0, t1; /* this reader's own start and end */
} part;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *reader(void *arg) {
    part *w = arg;
    pthread_barrier_wait(w->bar);
    w->t0 = now_s();
    /* Eight independent sums so the loop is bound by loads, not by an add chain; -O3 turns it
     * into wide vector loads. */
    uint64_t s[8] = {0};
    for (size_t i = 0; i + 8 <= w->n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += w->p[i + k];
    w->sum = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    w->t1 = now_s();
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    int nt = argc > 2 ? atoi(argv[2]) : 2;
    int passes = argc > 3 ? atoi(argv[3]) : 5;
    if (mib < 1 || nt < 1 || nt > 256 || passes < 1 || passes > 100) {
        fprintf(stderr, "usage: membw [MiB] [threads] [passes]\n");
        return 2;
    }
    size_t bytes = mib << 20, words = bytes / 8;
    uint64_t *buf = aligned_alloc((size_t)2 << 20, bytes); /* on a 2 MiB boundary */
    if (!buf) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    (void)madvise(buf, bytes, MADV_HUGEPAGE); /* a hint: without THP the figure is 4 KiB pages' */
    for (size_t i = 0; i < words; i++) buf[i] = i; /* fault every page in before timing */

    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nt + 1);
    part *w = calloc((size_t)nt, sizeof *w);
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    double *gbs = calloc((size_t)passes, sizeof *gbs);
    uint64_t check = 0;
    for (int r = 0; r < passes; r++) {
        size_t per = words / (size_t)nt;
        for (int t = 0; t < nt; t++) {
            w[t] = (part){.p = buf + (size_t)t * per, .n = t == nt - 1 ? words - (size_t)t * per : per, .bar = &bar};
            pthread_create(&th[t], NULL, reader, &w[t]);
        }
        pthread_barrier_wait(&bar); /* every thread is created and waiting: start */
        /* Each reader times itself, from its first read to its last: the span from the first
         * start to the last end is the pass. Timing from this thread instead overstated the
         * bandwidth whenever there were as many readers as CPUs: woken after the start, it
         * waited for a CPU while the readers read (2 vCPUs: up to 166 GB/s against 32 + 30 for
         * two one-thread copies side by side). */
        double t_start = 0, t_end = 0;
        for (int t = 0; t < nt; t++) {
            pthread_join(th[t], NULL);
            check += w[t].sum;
            if (t == 0 || w[t].t0 < t_start) t_start = w[t].t0;
            if (t == 0 || w[t].t1 > t_end) t_end = w[t].t1;
        }
        double dt = t_end - t_start;
        gbs[r] = (double)bytes / dt / 1e9;
    }
    qsort(gbs, (size_t)passes, sizeof *gbs, cmp_double);
    printf("membw: %zu MiB, %d threads, %d passes: best %.2f GB/s, median %.2f GB/s (check %llu)\n", mib, nt,
           passes, gbs[passes - 1], gbs[passes / 2], (unsigned long long)(check & 0xffff));
    free(gbs);
    free(th);
    free(w);
    free(buf);
    pthread_barrier_destroy(&bar);
    return 0;
}
