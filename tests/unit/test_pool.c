/*
 * test_pool.c - the thread pool: every task runs exactly once, on a valid
 * thread, for many jobs in a row (workers awake and asleep), from nested
 * calls, and with a NULL pool.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "tfrt.h"
#include "tests.h"

typedef struct {
    int *runs;          /* runs[task]: how often the task ran */
    int threads;        /* the pool's thread count */
    int bad_thread;     /* set when a task saw a thread index out of range */
    int *order;         /* NULL, or the tasks in the order they ran (serial) */
    int next;
} Count;

static void count_task(void *arg, int task, int thread)
{
    Count *c = arg;
    __atomic_add_fetch(&c->runs[task], 1, __ATOMIC_RELAXED);
    if (thread < 0 || thread >= c->threads)
        __atomic_store_n(&c->bad_thread, 1, __ATOMIC_RELAXED);
    if (c->order)
        c->order[c->next++] = task;
}

/* Runs `tasks` tasks once on pool; 1 if each ran exactly once on a valid
 * thread. */
static int run_once(TfrtPool *pool, int tasks)
{
    Count c = {.runs = calloc((size_t)tasks + 1, sizeof(int)),
               .threads = tfrt_pool_threads(pool)};
    tfrt_pool_run(pool, count_task, &c, tasks);
    int ok = !c.bad_thread;
    for (int t = 0; t < tasks; t++)
        ok &= c.runs[t] == 1;
    free(c.runs);
    return ok;
}

static void test_pool_every_task_once(void)
{
    static const int sizes[] = {0, 1, 2, 3, 7, 64, 1000};
    static const int threads[] = {1, 2, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        TfrtPool *pool;
        CU_ASSERT_EQUAL_FATAL(tfrt_pool_create(&pool, threads[t]), TFRT_OK);
        CU_ASSERT_EQUAL(tfrt_pool_threads(pool), threads[t]);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            CU_ASSERT(run_once(pool, sizes[s]));
        tfrt_pool_destroy(pool);
    }
}

/* Thousands of short jobs back to back (the decode pattern), then jobs
 * with pauses long enough for the workers to fall asleep between them. */
static void test_pool_many_jobs(void)
{
    TfrtPool *pool;
    CU_ASSERT_EQUAL_FATAL(tfrt_pool_create(&pool, 3), TFRT_OK);
    int ok = 1;
    for (int i = 0; i < 5000; i++)
        ok &= run_once(pool, 1 + i % 9);
    CU_ASSERT(ok);
    for (int i = 0; i < 5; i++) {
        struct timespec pause = {0, 2 * 1000 * 1000};     /* 2 ms, past the spin */
        nanosleep(&pause, NULL);
        ok &= run_once(pool, 4);
    }
    CU_ASSERT(ok);
    tfrt_pool_destroy(pool);
}

/* Jobs that grow from few tasks to many, back to back, on two threads:
 * the pattern that let a worker late in a small job take a task of it
 * again once the next, larger job had set its count (a task ran twice,
 * and the caller waited forever on an overshot count).  Three threads, so
 * that on a small machine workers are descheduled mid-claim. */
static void test_pool_growing_jobs(void)
{
    TfrtPool *pool;
    CU_ASSERT_EQUAL_FATAL(tfrt_pool_create(&pool, 3), TFRT_OK);
    int ok = 1;
    for (int i = 0; i < 100000 && ok; i++)
        ok &= run_once(pool, i % 2 ? 33 : 2);
    CU_ASSERT(ok);
    tfrt_pool_destroy(pool);
}

/* A task that starts a job on the same pool: the inner job runs on the
 * task's own thread instead of deadlocking. */
typedef struct {
    TfrtPool *pool;
    int inner_ok[4];
} Nested;

static void nested_task(void *arg, int task, int thread)
{
    Nested *n = arg;
    (void)thread;
    n->inner_ok[task] = run_once(n->pool, 5);
}

static void test_pool_nested(void)
{
    Nested n = {0};
    CU_ASSERT_EQUAL_FATAL(tfrt_pool_create(&n.pool, 2), TFRT_OK);
    tfrt_pool_run(n.pool, nested_task, &n, 4);
    for (int i = 0; i < 4; i++)
        CU_ASSERT(n.inner_ok[i]);
    tfrt_pool_destroy(n.pool);
}

/* A NULL pool runs the tasks in order on thread 0. */
static void test_pool_null(void)
{
    int runs[5] = {0}, order[5];
    Count c = {.runs = runs, .threads = 1, .order = order};
    tfrt_pool_run(NULL, count_task, &c, 5);
    CU_ASSERT_EQUAL(tfrt_pool_threads(NULL), 1);
    CU_ASSERT(!c.bad_thread);
    for (int i = 0; i < 5; i++)
        CU_ASSERT(runs[i] == 1 && order[i] == i);
    tfrt_pool_destroy(NULL);
}

/* Pools created and destroyed in a loop leak nothing (ASan checks) and
 * threads <= 0 means the default count. */
static void test_pool_lifecycle(void)
{
    for (int i = 0; i < 20; i++) {
        TfrtPool *pool;
        CU_ASSERT_EQUAL_FATAL(tfrt_pool_create(&pool, 1 + i % 4), TFRT_OK);
        if (i % 2)
            CU_ASSERT(run_once(pool, 10));
        tfrt_pool_destroy(pool);
    }
    TfrtPool *pool;
    CU_ASSERT_EQUAL_FATAL(tfrt_pool_create(&pool, 0), TFRT_OK);
    CU_ASSERT_EQUAL(tfrt_pool_threads(pool), tfrt_default_threads());
    tfrt_pool_destroy(pool);
}

void register_pool_tests(void)
{
    static const struct { const char *name; void (*fn)(void); } tests[] = {
        {"every task once, 1-8 threads", test_pool_every_task_once},
        {"thousands of jobs, awake and asleep", test_pool_many_jobs},
        {"jobs growing from 2 tasks to 33, 100000 times, 3 threads", test_pool_growing_jobs},
        {"nested job runs serially", test_pool_nested},
        {"NULL pool runs serially", test_pool_null},
        {"create and destroy", test_pool_lifecycle},
    };
    CU_pSuite s = CU_add_suite("pool", NULL, NULL);
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
}
