/*
 * tp_next_token.c - a model compiled with --tp N, run as N MPI ranks.
 *
 *   tfc models/gpt2.model --tp 2 -o gpt2.c
 *   mpicc -std=c99 -O2 -Iruntime tp_next_token.c gpt2.c build/libtfrt.a -lopenblas -lm
 *   mpirun -np 2 ./a.out model.safetensors 464 2068 7586 [--logits out.f32]
 *
 * Every rank runs this same program.  The application initializes MPI
 * itself (MPI_Init; tfrt_comm_init would do it too), then opens the model
 * as usual: open finds this process's rank (gpt2_rank()) and maps only its
 * slices of the weights, and refuses a job of another size than GPT2_TP.
 * Every rank calls forward with the same tokens.  By default the
 * collectives inside leave the whole logits on every rank; this program
 * asks for less (tfrt_comm_logits_to, docs/parallelism.md): with --logits
 * the rows are gathered on rank 0 alone, which writes them; without, no
 * rank gathers anything: each keeps its own vocabulary rows, takes its
 * best, and one MPI_MAXLOC all-reduce (tfrt_comm_argmax, 8 bytes) gives
 * every rank the next token.  Rank 0 alone prints.  MPI_Finalize comes
 * after close.  A rank that fails should end the job (MPI_Abort), so that
 * the others do not wait for it in the next collective.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt2.h"
#include "tfrt.h"

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "rank %d: %s: %s\n", gpt2_rank(), what, why);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (argc < 3)
        fail("usage", "tp_next_token WEIGHTS TOKEN... [--logits FILE]");
    const char *logits_path = NULL;
    int32_t tokens[GPT2_MAX_SEQ];
    int n = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--logits") == 0 && i + 1 < argc)
            logits_path = argv[++i];
        else if (n < GPT2_MAX_SEQ)
            tokens[n++] = (int32_t)atoi(argv[i]);
        else
            fail("tokens", "too many");
    }
    /* whole rows on rank 0 to write them; else each rank's own rows */
    tfrt_comm_logits_to(logits_path ? TFRT_LOGITS_RANK0 : TFRT_LOGITS_LOCAL);
    gpt2_model *model;
    char err[256];
    if (gpt2_open(&model, argv[1], err, sizeof err) != 0)
        fail("open", err);
    float *logits = malloc((size_t)n * GPT2_OUTPUT_COLS * sizeof *logits);
    int rc = logits ? gpt2_forward(model, tokens, n, logits) : -1;
    if (rc != 0)
        fail("forward", logits ? gpt2_strerror(rc) : "out of memory");
    const float *last = logits + (size_t)(n - 1) * GPT2_OUTPUT_COLS;
    /* this rank's share of the vocabulary: all of it on rank 0 with
     * --logits, else cols rows from rank * cols (the last rank's may run
     * past the vocabulary: padding) */
    int cols = logits_path ? GPT2_OUTPUT_COLS : (GPT2_OUTPUT_COLS + GPT2_TP - 1) / GPT2_TP;
    int first = logits_path ? 0 : gpt2_rank() * cols;
    int count = GPT2_OUTPUT_COLS - first < cols ? GPT2_OUTPUT_COLS - first : cols;
    float value = last[0];
    int best = first;
    for (int v = 1; v < count; v++)   /* the lowest id among equal maxima */
        if (last[v] > value)
            value = last[v], best = first + v;
    if (!logits_path)
        tfrt_comm_argmax(&value, &best);
    if (gpt2_rank() == 0) {
        printf("%d\n", best);
        FILE *f = logits_path ? fopen(logits_path, "wb") : NULL;
        if (logits_path && (!f || fwrite(logits, sizeof *logits, (size_t)n * GPT2_OUTPUT_COLS, f)
                                      != (size_t)n * GPT2_OUTPUT_COLS || fclose(f) != 0))
            fail("cannot write", logits_path);
    }
    free(logits);
    gpt2_close(model);
    MPI_Finalize();
    return 0;
}
