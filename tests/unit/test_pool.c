/* test_pool.c — the thread pool: every thread runs each job exactly once with its own index,
 * run_n limits the threads taking part, back-to-back jobs see each other's writes (the
 * barrier), and pools of any size start and stop cleanly. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "base/pool.h"

typedef struct {
    atomic_int hits[64];
    atomic_int calls;
    atomic_int nth_seen; /* every thread stores it: atomic (TSan) */
} count_job;

static void count(void *arg, int ith, int nth) {
    count_job *j = arg;
    atomic_fetch_add(&j->hits[ith], 1);
    atomic_fetch_add(&j->calls, 1);
    atomic_store(&j->nth_seen, nth); /* same value from every thread */
}

Test(pool, each_thread_runs_each_job_once) {
    for (int n = 1; n <= 5; n++) {
        he_pool *p = he_pool_new(n);
        cr_assert_eq(he_pool_size(p), n);
        for (int rep = 0; rep < 200; rep++) {
            count_job j;
            memset(&j, 0, sizeof j);
            he_pool_run(p, count, &j);
            cr_assert_eq(atomic_load(&j.calls), n);
            cr_assert_eq(atomic_load(&j.nth_seen), n);
            for (int i = 0; i < n; i++)
                cr_assert_eq(atomic_load(&j.hits[i]), 1, "n=%d thread %d", n, i);
        }
        he_pool_free(p);
    }
}

Test(pool, run_n_uses_only_the_first_n_threads) {
    he_pool *p = he_pool_new(4);
    for (int n = 1; n <= 6; n++) {
        count_job j;
        memset(&j, 0, sizeof j);
        he_pool_run_n(p, n, count, &j);
        int want = n > 4 ? 4 : n;
        cr_assert_eq(atomic_load(&j.calls), want, "n=%d", n);
        cr_assert_eq(atomic_load(&j.nth_seen), want);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(atomic_load(&j.hits[i]), i < want ? 1 : 0);
    }
    he_pool_free(p);
}

/* Two dependent phases: phase 2 reads what every thread wrote in phase 1 (the barrier). */
typedef struct {
    int n;
    int *a, *b;
} phase_job;

static void phase1(void *arg, int ith, int nth) {
    phase_job *j = arg;
    for (int i = ith; i < j->n; i += nth)
        j->a[i] = i * 3;
}

static void phase2(void *arg, int ith, int nth) {
    phase_job *j = arg;
    for (int i = ith; i < j->n; i += nth)
        j->b[i] = j->a[j->n - 1 - i] + 1;
}

Test(pool, jobs_are_ordered_by_the_barrier) {
    he_pool *p = he_pool_new(3);
    enum { N = 10007 };
    static int a[N], b[N];
    phase_job j = {N, a, b};
    for (int rep = 0; rep < 50; rep++) {
        memset(a, 0, sizeof a);
        he_pool_run(p, phase1, &j);
        he_pool_run(p, phase2, &j);
        for (int i = 0; i < N; i++)
            cr_assert_eq(b[i], (N - 1 - i) * 3 + 1);
    }
    he_pool_free(p);
}

Test(pool, default_size_and_free_null) {
    he_pool *p = he_pool_new(0);
    cr_assert_eq(he_pool_size(p), he_n_cores());
    he_pool_free(p);
    he_pool_free(NULL);
}

/* The default counts physical cores the process may use: never more than its affinity mask,
 * exactly one when pinned to one CPU. */
Test(pool, n_cores_follows_affinity) {
    cpu_set_t all;
    cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
    int n = he_n_cores();
    cr_assert(n >= 1 && n <= CPU_COUNT(&all), "he_n_cores() = %d, %d CPUs allowed", n,
              CPU_COUNT(&all));
    int first = 0;
    while (!CPU_ISSET(first, &all))
        first++;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    cr_assert_eq(he_n_cores(), 1);
    cr_assert_eq(sched_setaffinity(0, sizeof all, &all), 0);
    cr_assert_eq(he_n_cores(), n);
}
