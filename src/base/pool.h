/* pool.h — a persistent thread pool for data-parallel kernels.
 *
 * he_pool_run(pool, fn, arg) calls fn(arg, ith, nth) once on each of the pool's nth threads
 * (the caller is thread 0) and returns when all have finished: a fork and a barrier. Workers
 * spin briefly before sleeping, so back-to-back kernels (one per matmul) cost microseconds, not
 * a futex round trip each. A pool is driven by one thread at a time. */
#ifndef HEARTH_BASE_POOL_H
#define HEARTH_BASE_POOL_H

typedef struct he_pool he_pool;
typedef void (*he_pool_fn)(void *arg, int ith, int nth);

/* n_threads <= 0: he_n_cores(). Never fails (aborts when threads cannot start). */
he_pool *he_pool_new(int n_threads);
void he_pool_free(he_pool *p); /* NULL is a no-op */
int he_pool_size(const he_pool *p);
/* Runs fn on every thread of p (ith = 0 .. nth-1) and waits for all. */
void he_pool_run(he_pool *p, he_pool_fn fn, void *arg);
/* Runs fn on the first n threads only (1 <= n <= size): for work too small to split widely. */
void he_pool_run_n(he_pool *p, int n, he_pool_fn fn, void *arg);

/* Physical cores in this process's CPU affinity mask (>= 1): the default thread count. */
int he_n_cores(void);

#endif
