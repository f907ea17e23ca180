/*
 * comm_none.c - tfrt_comm.h in a libtfrt built without MPI: one rank, and
 * collectives that leave the data as it is (after the epilogue they owe).
 * tfc refuses --tp N > 1 in such a build (tfrt_comm_available() is 0).
 * Compiled in every build, its code only without TFRT_MPI (comm_mpi.c).
 */
#include "tfrt.h"

#ifndef TFRT_MPI

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tfrt_comm_available(void) { return 0; }
void tfrt_comm_init(int *argc, char ***argv) { (void)argc, (void)argv; }
void tfrt_comm_finalize(void) {}
int tfrt_comm_rank(void) { return 0; }
int tfrt_comm_size(void) { return 1; }
double tfrt_comm_seconds(void) { return 0.0; }
long tfrt_comm_calls(void) { return 0; }
long long tfrt_comm_bytes(void) { return 0; }

/* one rank: its columns are the whole rows, wherever they are asked for */
TfrtLogitsTo tfrt_comm_logits_to(TfrtLogitsTo where)
{
    static TfrtLogitsTo logits_to = TFRT_LOGITS_ALL_RANKS;
    TfrtLogitsTo was = logits_to;
    logits_to = where;
    return was;
}

void tfrt_comm_abort(const char *msg)
{
    fprintf(stderr, "tfc: %s\n", msg);
    exit(1);
}

void tfrt_comm_allreduce_add(float *y, int n, int cols, int y_stride, const float *bias,
                             const float *residual, int residual_stride)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < cols; j++)
            y[(size_t)i * (size_t)y_stride + (size_t)j] +=
                (bias ? bias[j] : 0.0f) +
                (residual ? residual[(size_t)i * (size_t)residual_stride + (size_t)j] : 0.0f);
}

void tfrt_comm_gather_cols(float *y, int y_stride, int total, const float *local, int local_stride,
                           int n, int cols)
{
    int w = total < cols ? total : cols;
    for (int i = 0; i < n; i++)
        memmove(y + (size_t)i * (size_t)y_stride, local + (size_t)i * (size_t)local_stride,
                (size_t)w * sizeof *y);
}

void tfrt_comm_argmax(float *value, int *index) { (void)value, (void)index; }
void tfrt_comm_allgather(void *all, int block) { (void)all, (void)block; }
void tfrt_comm_broadcast(void *buf, int nbytes, int root) { (void)buf, (void)nbytes, (void)root; }

#else
typedef int tfrt_comm_none_absent;   /* ISO C: a translation unit declares something */
#endif
