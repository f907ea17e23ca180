/*
 * comm_mpi.c - tfrt_comm.h over MPI: the collectives of a tensor-parallel
 * model (tfc --tp N), on MPI_COMM_WORLD.
 *
 * Every collective checks MPI's result and aborts the job on failure: a
 * rank that cannot go on must not leave the others waiting in the next
 * all-reduce.  For the same reason an exit without tfrt_comm_finalize (an
 * error message followed by exit(1) anywhere in the program) runs
 * MPI_Abort from an atexit handler, which ends every rank.
 *
 * Compiled in every build; its code only where the Makefile found MPI
 * (TFRT_MPI), comm_none.c's otherwise.  Both files are always built so that
 * a build started before the dependency step installed Open MPI still
 * picks it up: the Makefile asks mpicc when it compiles, not when it reads.
 */
#include "tfrt.h"

#ifdef TFRT_MPI

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SLEEP_NS = 20000 };            /* between polls, once spinning stops */
#define SPIN_SECONDS 50e-6

static int inited_here;     /* tfrt_comm_init called MPI_Init */
static int active;          /* between tfrt_comm_init and tfrt_comm_finalize */
static int rank_, size_ = 1;
static double seconds;
static long calls;
static long long bytes;     /* tfrt_comm_bytes */
static TfrtLogitsTo logits_to = TFRT_LOGITS_ALL_RANKS;
static float *scratch_;     /* tfrt_comm_gather_cols's packing buffer */
static size_t scratch_floats;

int tfrt_comm_available(void) { return 1; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The world as MPI has it, once the application or tfrt_comm_init has
 * initialized MPI; one rank before that and after MPI_Finalize. */
static int known(void)
{
    static int seen;
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (!up || down)
        return 0;
    if (!seen) {
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);   /* errors come to check() */
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
        seen = 1;
    }
    return 1;
}

void tfrt_comm_abort(const char *msg)
{
    fprintf(stderr, "tfc: rank %d of %d: %s; ending every rank\n", rank_, size_, msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);   /* not reached */
}

static void check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return;
    char text[MPI_MAX_ERROR_STRING + 64];
    int len = 0;
    snprintf(text, sizeof text, "%s failed: ", what);
    size_t at = strlen(text);
    MPI_Error_string(rc, text + at, &len);
    text[at + (size_t)len] = '\0';
    tfrt_comm_abort(text);
}

/* A rank leaving without finalize (an error, exit(1)) takes the job down. */
static void abort_unfinished(void)
{
    if (!active)
        return;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

void tfrt_comm_init(int *argc, char ***argv)
{
    int done = 0;
    if (active)
        return;
    MPI_Initialized(&done);
    if (!done) {
        if (MPI_Init(argc, argv) != MPI_SUCCESS) {
            fprintf(stderr, "tfc: MPI_Init failed\n");
            exit(1);
        }
        inited_here = 1;
    }
    known();
    active = 1;
    atexit(abort_unfinished);
}

void tfrt_comm_finalize(void)
{
    if (!active)
        return;
    active = 0;
    free(scratch_);
    scratch_ = NULL;
    scratch_floats = 0;
    if (inited_here)
        MPI_Finalize();
}

int tfrt_comm_rank(void) { return known() ? rank_ : 0; }
int tfrt_comm_size(void) { return known() ? size_ : 1; }
double tfrt_comm_seconds(void) { return seconds; }
long tfrt_comm_calls(void) { return calls; }
long long tfrt_comm_bytes(void) { return bytes; }

TfrtLogitsTo tfrt_comm_logits_to(TfrtLogitsTo where)
{
    TfrtLogitsTo was = logits_to;
    logits_to = where;
    return was;
}

/* One collective's time and payload, for tfrt_comm_seconds and _bytes. */
static void tally(double t0, size_t payload)
{
    seconds += now() - t0;
    calls++;
    bytes += (long long)payload;
}

/* Waits for a non-blocking collective: polling for a few microseconds (a
 * collective among ranks that are all running returns within them), then
 * sleeping between polls.  A blocking MPI call would spin all the while,
 * and on a machine with more processes than cores the spinning rank takes
 * the core that the rank it waits for needs. */
static void wait_for(MPI_Request *req, const char *what)
{
    int done = 0;
    double t0 = now();
    while (!done) {
        check(MPI_Test(req, &done, MPI_STATUS_IGNORE), what);
        if (!done && now() - t0 > SPIN_SECONDS) {
            struct timespec nap = {0, SLEEP_NS};
            nanosleep(&nap, NULL);
        }
    }
}

/* Packs rows of cols floats, stride apart, into dst (and back). */
static void pack(float *dst, const float *src, int n, int cols, int stride)
{
    for (int i = 0; i < n; i++)
        memmove(dst + (size_t)i * (size_t)cols, src + (size_t)i * (size_t)stride, (size_t)cols * sizeof *dst);
}

static float *scratch(size_t floats)
{
    if (floats > scratch_floats) {
        free(scratch_);
        scratch_ = malloc(floats * sizeof *scratch_);
        if (!scratch_)
            tfrt_comm_abort("out of memory for a collective's buffer");
        scratch_floats = floats;
    }
    return scratch_;
}

void tfrt_comm_allreduce_add(float *y, int n, int cols, int y_stride, const float *bias,
                             const float *residual, int residual_stride)
{
    double t0 = now();
    size_t floats = (size_t)n * (size_t)cols;
    if (floats > (size_t)0x7fffffff)
        tfrt_comm_abort("an all-reduce of more than 2^31 floats");
    float *buf = y;
    known();
    if (y_stride != cols && n > 1)
        pack(buf = scratch(floats), y, n, cols, y_stride);
    if (size_ > 1) {
        MPI_Request req;
        check(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)floats, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req),
              "MPI_Iallreduce");
        wait_for(&req, "MPI_Iallreduce");
    }
    tally(t0, floats * sizeof *buf);
    for (int i = 0; i < n; i++) {
        const float *s = buf + (size_t)i * (size_t)(buf == y ? y_stride : cols);
        float *d = y + (size_t)i * (size_t)y_stride;
        const float *r = residual ? residual + (size_t)i * (size_t)residual_stride : NULL;
        for (int j = 0; j < cols; j++)
            d[j] = s[j] + (bias ? bias[j] : 0.0f) + (r ? r[j] : 0.0f);
    }
}

/* Row i of local (cols floats, local_stride apart) to row i of y (y_stride
 * apart, y_stride >= local_stride when they alias): the last row first,
 * so that packed rows at the start of y are not overwritten before they
 * move. */
static void spread(float *y, int y_stride, const float *local, int local_stride, int n, int cols)
{
    for (int i = n - 1; i >= 0; i--)
        memmove(y + (size_t)i * (size_t)y_stride, local + (size_t)i * (size_t)local_stride,
                (size_t)cols * sizeof *y);
}

/* Every rank's columns to every rank (root < 0: MPI_Iallgather) or to root
 * (MPI_Igather; the other ranks keep their own columns, spread). */
static void gather_to(int root, float *y, int y_stride, int total, const float *local, int local_stride,
                      int n, int cols)
{
    double t0 = now();
    size_t part = (size_t)n * (size_t)cols;
    if (part * (size_t)size_ > (size_t)0x7fffffff)
        tfrt_comm_abort("a gather of more than 2^31 floats");
    float *all = scratch(part * (size_t)(size_ + 1)), *mine = all + part * (size_t)size_;
    pack(mine, local, n, cols, local_stride);
    MPI_Request req;
    if (root < 0)
        check(MPI_Iallgather(mine, (int)part, MPI_FLOAT, all, (int)part, MPI_FLOAT, MPI_COMM_WORLD, &req),
              "MPI_Iallgather");
    else
        check(MPI_Igather(mine, (int)part, MPI_FLOAT, all, (int)part, MPI_FLOAT, root, MPI_COMM_WORLD, &req),
              "MPI_Igather");
    wait_for(&req, root < 0 ? "MPI_Iallgather" : "MPI_Igather");
    if (root >= 0 && rank_ != root) {
        spread(y, y_stride, mine, cols, n, cols);
        tally(t0, part * sizeof *y);   /* sent */
        return;
    }
    for (int r = 0; r < size_; r++) {   /* rank r's block: columns r*cols.. of every row */
        int64_t first = (int64_t)r * cols, w = total - first < cols ? total - first : cols;
        for (int i = 0; w > 0 && i < n; i++)
            memcpy(y + (size_t)i * (size_t)y_stride + (size_t)first,
                   all + part * (size_t)r + (size_t)i * (size_t)cols, (size_t)w * sizeof *y);
    }
    tally(t0, part * (size_t)(size_ - 1) * sizeof *y);   /* received */
}

void tfrt_comm_gather_cols(float *y, int y_stride, int total, const float *local, int local_stride,
                           int n, int cols)
{
    known();
    if (logits_to == TFRT_LOGITS_LOCAL)
        spread(y, y_stride, local, local_stride, n, cols);
    else
        gather_to(logits_to == TFRT_LOGITS_RANK0 ? 0 : -1, y, y_stride, total, local, local_stride, n, cols);
}

void tfrt_comm_argmax(float *value, int *index)
{
    if (!known() || size_ < 2)   /* one rank: its best is the best */
        return;
    double t0 = now();
    struct { float v; int i; } pair = {*value, *index};
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, &pair, 1, MPI_FLOAT_INT, MPI_MAXLOC, MPI_COMM_WORLD, &req),
          "MPI_Iallreduce (MAXLOC)");
    wait_for(&req, "MPI_Iallreduce (MAXLOC)");
    *value = pair.v;
    *index = pair.i;
    tally(t0, sizeof pair);
}

void tfrt_comm_allgather(void *all, int block)
{
    if (!known() || size_ < 2)
        return;
    double t0 = now();
    MPI_Request req;
    check(MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, block, MPI_BYTE, MPI_COMM_WORLD, &req),
          "MPI_Iallgather");
    wait_for(&req, "MPI_Iallgather");
    tally(t0, (size_t)block * (size_t)(size_ - 1));   /* received */
}

void tfrt_comm_broadcast(void *buf, int nbytes, int root)
{
    if (!known() || size_ < 2)
        return;
    double t0 = now();
    MPI_Request req;
    check(MPI_Ibcast(buf, nbytes, MPI_BYTE, root, MPI_COMM_WORLD, &req), "MPI_Ibcast");
    wait_for(&req, "MPI_Ibcast");
    tally(t0, (size_t)nbytes);
}

#else
typedef int tfrt_comm_mpi_absent;   /* ISO C: a translation unit declares something */
#endif
