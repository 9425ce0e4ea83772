/* pool.c — persistent worker threads, started once; each run is a generation bump (fork) and
 * a countdown (join). Workers and the caller spin for a short while on the atomics before
 * falling back to a condition variable, because a decode step issues hundreds of small kernels
 * and a sleep/wake per kernel would cost more than the kernel. */
#include "base/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"

/* How long a waiting thread spins before it sleeps on the condition variable. A decode step's
 * dispatches are separated by the caller's serial work (routing, gathers, norms, the
 * activation), often 6-30 us apart, and waking a sleeping worker (a futex and, on a VM, an
 * interrupt to its vCPU) costs more than that: a 20000-iteration spin (~6 us here) let the
 * workers fall asleep between kernels, and qwen3-30b-a3b decoded 8-10% slower on two threads
 * than with ~120 us (docs/BENCHMARKS.md). Time, not iterations, so the budget does not shrink
 * on a faster CPU. */
#define SPIN_NS 200000
/* Past the first SPIN_EAGER_NS the spinner yields at each clock check: where threads outnumber
 * cores (tests, a loaded box) a spinning waiter takes the CPU from the very thread it waits
 * for (tiny-qwen3moe decoding with three threads on one CPU still lost ~40% against the 6 us
 * spin; going to sleep as soon as a yield had given the CPU away did no better); without a
 * competitor sched_yield returns at once. */
#define SPIN_EAGER_NS 20000

typedef struct {
    unsigned n;
    int64_t start;
} spinner;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* true while a waiter should go on spinning; reads the clock every 1024 spins (~0.3 us) */
static bool keep_spinning(spinner *s) {
    if (++s->n & 1023) return true;
    const int64_t t = now_ns();
    if (s->start == 0) s->start = t;
    if (t - s->start >= SPIN_NS) return false;
    if (t - s->start >= SPIN_EAGER_NS) sched_yield();
    return true;
}

struct he_pool {
    int n;              /* threads including the caller */
    pthread_t *threads; /* (n-1) */
    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    pthread_cond_t cv_done;
    atomic_uint gen;    /* bumped per run */
    atomic_int pending; /* workers still running this generation */
    atomic_bool quit;
    he_pool_fn fn; /* current job (written before gen is bumped) */
    void *arg;
    int n_active; /* threads taking part in the current job */
};

typedef struct {
    he_pool *p;
    int ith;
} worker_arg;

/* The first CPU number of a sysfs CPU list ("0-1", "0,8", "3"), or -1. */
static int first_cpu_of_list(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int cpu = -1;
    if (fscanf(f, "%d", &cpu) != 1 || cpu < 0 || cpu >= CPU_SETSIZE) cpu = -1;
    fclose(f);
    return cpu;
}

/* Physical cores this process may run on: the CPUs of its affinity mask, counted once per core
 * (hyperthread siblings share a core's SIMD units and caches, and a second thread on a core
 * slows bandwidth-bound decode down rather than up). Each CPU is identified with the lowest
 * CPU of its sibling list in sysfs; without sysfs, every allowed CPU counts. */
int he_n_cores(void) {
    cpu_set_t allowed, cores;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : (int)n;
    }
    CPU_ZERO(&cores);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list",
                 cpu);
        int first = first_cpu_of_list(path);
        CPU_SET(first >= 0 ? first : cpu, &cores);
    }
    int n = CPU_COUNT(&cores);
    return n < 1 ? 1 : n;
}

static void *worker(void *varg) {
    worker_arg *wa = varg;
    he_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        spinner sp = {0, 0};
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->quit, memory_order_acquire)) {
            if (keep_spinning(&sp)) continue;
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv_work, &p->mu);
            pthread_mutex_unlock(&p->mu);
            sp = (spinner){0, 0};
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        if (ith < p->n_active) p->fn(p->arg, ith, p->n_active);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

he_pool *he_pool_new(int n_threads) {
    if (n_threads <= 0) n_threads = he_n_cores();
    if (n_threads > 256) n_threads = 256;
    he_pool *p = xcalloc(1, sizeof *p);
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, false);
    p->threads = xcalloc((size_t)n_threads, sizeof *p->threads);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = xmalloc(sizeof *wa);
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i - 1], NULL, worker, wa) != 0) {
            fprintf(stderr, "hearth: cannot start thread %d\n", i);
            abort();
        }
    }
    return p;
}

void he_pool_free(he_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->threads[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p->threads);
    free(p);
}

int he_pool_size(const he_pool *p) { return p->n; }

void he_pool_run_n(he_pool *p, int n, he_pool_fn fn, void *arg) {
    if (n > p->n) n = p->n;
    if (n <= 1 || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_active = n;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, n);
    spinner sp = {0, 0};
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (keep_spinning(&sp)) continue;
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void he_pool_run(he_pool *p, he_pool_fn fn, void *arg) { he_pool_run_n(p, p->n, fn, arg); }
