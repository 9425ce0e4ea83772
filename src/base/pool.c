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
#include <stdlib.h>
#include <unistd.h>

#include "base/alloc.h"

#define SPIN_ITERS 20000

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
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->quit, memory_order_acquire)) {
            if (++spins < SPIN_ITERS) continue;
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv_work, &p->mu);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
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
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_ITERS) continue;
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void he_pool_run(he_pool *p, he_pool_fn fn, void *arg) { he_pool_run_n(p, p->n, fn, arg); }
