/*
 * pool.c - the persistent thread pool of tfrt.h.
 *
 * Decoding one token makes about a hundred kernel calls of a few tens of
 * microseconds each, so handing work over must cost far less than that:
 * threads are started once, and an idle worker spins on the job word for
 * a while (SPIN_NS) before it sleeps on a condition variable, so that a
 * run of kernel calls finds the workers awake while an idle pool does not
 * burn a core for long.
 *
 * A job is published in one 64-bit word, `claim`: the job's epoch in the
 * high half, the next unclaimed task in the low half.  A thread takes a
 * task with a compare-and-swap that also checks the epoch, so a worker
 * that wakes late, after its job is over and perhaps after the next one
 * was set up, can never run a task of the wrong job with another job's
 * function: the swap fails instead.  The caller takes tasks like any
 * worker and returns when `done` counts every task, without waiting for
 * workers that found nothing to do (a worker descheduled on a busy machine
 * costs only the tasks it holds).
 *
 * The job's fields are written before its epoch is published (release)
 * and read after it is seen (acquire); they are stored with relaxed atomic
 * accesses because a late worker may read them while the next job writes
 * them, a read whose result the failed swap then discards.
 */
#include "tfrt.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { SPIN_NS = 200 * 1000 };          /* how long an idle worker spins */
#define CLOSED 0xffffffffu                  /* a task number no job has */

typedef struct Worker {
    struct TfrtPool *pool;
    int index;                          /* 1 .. threads-1; the caller is 0 */
    pthread_t thread;
} Worker;

struct TfrtPool {
    int threads;
    Worker *workers;                    /* threads - 1 of them */
    uint64_t claim;                     /* epoch << 32 | next task */
    uint32_t done;                      /* tasks finished in this job */
    int busy;                           /* 1 while a job runs */
    int stop;                           /* 1: workers exit */
    TfrtTaskFn fn;                      /* the job, valid with its epoch */
    void *arg;
    uint32_t tasks;
    int sleepers;                       /* workers waiting on wake */
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

#define LOAD(p, order) __atomic_load_n(p, __ATOMIC_##order)
#define STORE(p, v, order) __atomic_store_n(p, v, __ATOMIC_##order)

static int default_threads;   /* set by tfrt_set_threads; 0: the CPUs */

void tfrt_set_threads(int n)
{
    if (n > 0)
        STORE(&default_threads, n, RELAXED);
}

int tfrt_default_threads(void)
{
    int n = LOAD(&default_threads, RELAXED);
    if (n > 0)
        return n;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 && cpus < 1024 ? (int)cpus : 1;
}

int tfrt_pool_threads(const TfrtPool *pool)
{
    return pool ? pool->threads : 1;
}

static uint32_t epoch_of(uint64_t claim) { return (uint32_t)(claim >> 32); }

/* Runs tasks of the job of `epoch` until none is left or the job is over. */
static void work_on(TfrtPool *p, uint32_t epoch, int thread)
{
    uint64_t c = LOAD(&p->claim, ACQUIRE);
    while (epoch_of(c) == epoch) {
        TfrtTaskFn fn = LOAD(&p->fn, RELAXED);
        void *arg = LOAD(&p->arg, RELAXED);
        uint32_t task = (uint32_t)c, tasks = LOAD(&p->tasks, RELAXED);
        if (task >= tasks)
            return;
        /* On failure c is reloaded and the loop checks the epoch again;
         * on success no one can start the next job before this task is
         * counted done, so fn and arg were this job's. */
        if (__atomic_compare_exchange_n(&p->claim, &c, c + 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            fn(arg, (int)task, thread);
            __atomic_add_fetch(&p->done, 1, __ATOMIC_RELEASE);
            c = LOAD(&p->claim, ACQUIRE);
        }
    }
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Waits until the epoch differs from seen or the pool stops: spins for
 * SPIN_NS, then sleeps.  Returns the new epoch. */
static uint32_t wait_for_job(TfrtPool *p, uint32_t seen)
{
    uint64_t start = now_ns();
    for (unsigned spin = 1;; spin++) {
        uint32_t e = epoch_of(LOAD(&p->claim, ACQUIRE));
        if (e != seen || LOAD(&p->stop, ACQUIRE))
            return e;
        cpu_relax();
        if (spin % 256 == 0 && now_ns() - start > SPIN_NS)
            break;
    }
    pthread_mutex_lock(&p->lock);
    /* sleepers and claim are both sequentially consistent: either the
     * publisher sees this sleeper and signals under the lock, or this
     * thread sees the new epoch here. */
    __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
    while (epoch_of(__atomic_load_n(&p->claim, __ATOMIC_SEQ_CST)) == seen &&
           !LOAD(&p->stop, ACQUIRE))
        pthread_cond_wait(&p->wake, &p->lock);
    __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->lock);
    return epoch_of(LOAD(&p->claim, ACQUIRE));
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    TfrtPool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (LOAD(&p->stop, ACQUIRE))
            return NULL;
        work_on(p, seen, w->index);
    }
}

/* Stops and joins the first `started` workers, frees the pool. */
static void pool_free(TfrtPool *p, int started)
{
    pthread_mutex_lock(&p->lock);
    STORE(&p->stop, 1, SEQ_CST);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < started; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p);
}

int tfrt_pool_create(TfrtPool **out, int threads)
{
    *out = NULL;
    TfrtPool *p = calloc(1, sizeof *p);
    if (!p)
        return TFRT_ERR_NOMEM;
    p->threads = threads > 0 ? threads : tfrt_default_threads();
    p->workers = calloc((size_t)p->threads, sizeof *p->workers);
    if (!p->workers || pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->workers);
        free(p);
        return TFRT_ERR_NOMEM;
    }
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p->workers);
        free(p);
        return TFRT_ERR_NOMEM;
    }
    for (int i = 0; i < p->threads - 1; i++) {
        p->workers[i] = (Worker){.pool = p, .index = i + 1};
        if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
            pool_free(p, i);
            return TFRT_ERR_NOMEM;
        }
    }
    *out = p;
    return TFRT_OK;
}

void tfrt_pool_destroy(TfrtPool *pool)
{
    if (pool)
        pool_free(pool, pool->threads - 1);
}

static void run_serially(TfrtTaskFn fn, void *arg, int tasks)
{
    for (int t = 0; t < tasks; t++)
        fn(arg, t, 0);
}

void tfrt_pool_run(TfrtPool *pool, TfrtTaskFn fn, void *arg, int tasks)
{
    /* A single task, a one-thread pool, or a job started from inside a
     * task of this pool (or from a second thread) runs on this thread. */
    int idle = 0;
    if (!pool || pool->threads == 1 || tasks <= 1 ||
        !__atomic_compare_exchange_n(&pool->busy, &idle, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED)) {
        run_serially(fn, arg, tasks);
        return;
    }
    /* Close the last job first: a worker late in it may still hold the
     * word it last read, (epoch - 1, its task count), and would take a
     * "task" of that old epoch if it read the new job's larger count below
     * while the word was unchanged; the task then ran twice and `done`
     * overshot, so the caller waited forever.  Closed, that swap fails. */
    uint32_t epoch = epoch_of(LOAD(&pool->claim, RELAXED)) + 1;
    __atomic_store_n(&pool->claim, (uint64_t)(epoch - 1) << 32 | CLOSED, __ATOMIC_SEQ_CST);
    STORE(&pool->fn, fn, RELAXED);
    STORE(&pool->arg, arg, RELAXED);
    STORE(&pool->tasks, (uint32_t)tasks, RELAXED);
    STORE(&pool->done, 0, RELAXED);
    __atomic_store_n(&pool->claim, (uint64_t)epoch << 32, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&pool->sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    work_on(pool, epoch, 0);
    /* A worker still holds a task.  On a machine with more runnable
     * threads than cores it may be waiting for this very core: yield it
     * now and then. */
    for (unsigned spin = 1; LOAD(&pool->done, ACQUIRE) != (uint32_t)tasks; spin++) {
        cpu_relax();
        if (spin % 1024 == 0)
            sched_yield();
    }
    STORE(&pool->busy, 0, RELEASE);
}
