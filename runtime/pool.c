/*
 * pool.c - the thread pool of tfrt.h.
 *
 * For now every task runs on the calling thread, in order: the interface
 * is the one the kernels and generated code use, and the threaded
 * implementation replaces this without touching them.
 */
#include "tfrt.h"

#include <stdlib.h>
#include <unistd.h>

struct TfrtPool {
    int threads;
};

static int default_threads;   /* set by tfrt_set_threads; 0: the CPUs */

void tfrt_set_threads(int n)
{
    if (n > 0)
        default_threads = n;
}

int tfrt_default_threads(void)
{
    if (default_threads > 0)
        return default_threads;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 && cpus < 1024 ? (int)cpus : 1;
}

int tfrt_pool_create(TfrtPool **out, int threads)
{
    *out = NULL;
    TfrtPool *p = calloc(1, sizeof *p);
    if (!p)
        return TFRT_ERR_NOMEM;
    p->threads = threads > 0 ? threads : tfrt_default_threads();
    *out = p;
    return TFRT_OK;
}

void tfrt_pool_destroy(TfrtPool *pool)
{
    free(pool);
}

int tfrt_pool_threads(const TfrtPool *pool)
{
    return pool ? pool->threads : 1;
}

void tfrt_pool_run(TfrtPool *pool, TfrtTaskFn fn, void *arg, int tasks)
{
    (void)pool;
    for (int t = 0; t < tasks; t++)
        fn(arg, t, 0);
}
