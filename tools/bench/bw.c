/* Read bandwidth of main memory, the denominator of the bench's "share of
 * bandwidth": THREADS threads each sum their own slice of one buffer (far
 * larger than the last-level cache), PASSES times; the best pass counts.
 *
 *   bw THREADS [MIB [PASSES]]      defaults: 2048 MiB, 7 passes
 *
 * Prints one JSON line: threads, bytes a pass, best and median GB/s
 * (10^9 bytes a second).  Plain C (the bench builds it with -march=native):
 * each thread reads its slice as four streams side by side, with eight
 * independent accumulators a stream and prefetching, so that several loads
 * are in flight. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64
#define MAX_PASSES 100

typedef struct {
    const uint64_t *p;       /* this thread's slice */
    size_t n;                /* its length in words, a multiple of 8 */
    uint64_t sum;            /* kept so the loads are not optimized away */
    double t0[MAX_PASSES], t1[MAX_PASSES]; /* each pass's start and end */
    pthread_barrier_t *start, *done;
    int passes;
} Slice;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* STREAMS runs of the slice read side by side, each prefetched ahead: a
 * weaker reader (one stream, no prefetch) measures about 15% less here,
 * and tfc's own GEMV, which reads four panel streams, would then seem to
 * beat the memory.  The "share of bandwidth" must divide by the best a
 * plain reader gets. */
enum { STREAMS = 4, AHEAD = 256 };   /* AHEAD: words (2 KiB) */

static uint64_t sum_words(const uint64_t *p, size_t n)
{
    uint64_t a[STREAMS][8] = {{0}};
    size_t run = n / STREAMS / 8 * 8;
    for (size_t i = 0; i < run; i += 8)
        for (int s = 0; s < STREAMS; s++) {
            const uint64_t *q = p + (size_t)s * run + i;
            if (i + AHEAD < run)
                __builtin_prefetch(q + AHEAD);
            for (int j = 0; j < 8; j++)
                a[s][j] += q[j];
        }
    uint64_t sum = 0;
    for (size_t i = (size_t)STREAMS * run; i < n; i++)   /* the tail */
        sum += p[i];
    for (int s = 0; s < STREAMS; s++)
        for (int j = 0; j < 8; j++)
            sum += a[s][j];
    return sum;
}

static void *reader(void *arg)
{
    Slice *s = arg;
    for (int k = 0; k < s->passes; k++) {
        pthread_barrier_wait(s->start);
        s->t0[k] = now();
        s->sum += sum_words(s->p, s->n);
        s->t1[k] = now();
        pthread_barrier_wait(s->done);
    }
    return NULL;
}

static long arg_long(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bw: %s must be an integer in %ld..%ld, got '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bw THREADS [MIB [PASSES]]\n");
        return 2;
    }
    int threads = (int)arg_long(argv[1], 1, MAX_THREADS, "THREADS");
    size_t mib = argc > 2 ? (size_t)arg_long(argv[2], 1, 1 << 16, "MIB") : 2048;
    int passes = argc > 3 ? (int)arg_long(argv[3], 1, MAX_PASSES, "PASSES") : 7;
    size_t words = mib * ((size_t)1 << 20) / sizeof(uint64_t);
    size_t per = words / (size_t)threads / 8 * 8;
    uint64_t *buf = malloc(words * sizeof *buf);
    if (!buf || per == 0) {
        fprintf(stderr, "bw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    memset(buf, 1, words * sizeof *buf); /* touch every page before timing */
    pthread_barrier_t start, done;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&done, NULL, (unsigned)threads + 1);
    Slice s[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        s[t] = (Slice){.p = buf + (size_t)t * per, .n = per, .start = &start, .done = &done, .passes = passes};
        if (pthread_create(&tid[t], NULL, reader, &s[t])) {
            fprintf(stderr, "bw: cannot start thread %d\n", t);
            return 1;
        }
    }
    for (int k = 0; k < passes; k++) {
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
    }
    uint64_t check = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        check += s[t].sum;
    }
    /* a pass lasts from the first thread's start to the last one's end,
     * as each thread saw them (the main thread may be descheduled) */
    double gbs[MAX_PASSES];
    double bytes = (double)per * (double)threads * sizeof(uint64_t);
    for (int k = 0; k < passes; k++) {
        double t0 = s[0].t0[k], t1 = s[0].t1[k];
        for (int t = 1; t < threads; t++) {
            t0 = s[t].t0[k] < t0 ? s[t].t0[k] : t0;
            t1 = s[t].t1[k] > t1 ? s[t].t1[k] : t1;
        }
        gbs[k] = bytes / (t1 - t0) / 1e9;
    }
    qsort(gbs, (size_t)passes, sizeof gbs[0], by_value);
    printf("{\"threads\": %d, \"bytes\": %.0f, \"best_gb_s\": %.2f, \"median_gb_s\": %.2f, \"check\": %llu}\n",
           threads, bytes, gbs[passes - 1], gbs[passes / 2], (unsigned long long)(check & 0xffff));
    free(buf);
    return 0;
}
