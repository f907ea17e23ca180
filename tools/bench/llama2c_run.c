/* The llama2.c peer of the Llama rows: run.c (float32) or runq.c (int8
 * groups) included whole, its forward() driven over given prompt ids.
 * llama2.c has no batched prefill: the prompt goes one token at a time, as
 * its own generate() does.  Greedy: the argmax over the logits, the lowest
 * id winning a tie, as in the other runners.
 *
 *   llama2c_run CHECKPOINT.bin PROMPT_IDS N
 *
 * Threads come from OMP_NUM_THREADS (llama2.c's matmul is an OpenMP loop).
 * Prints one JSON line: prompt tokens and seconds, the N - 1 timed decode
 * steps and their seconds, the N ids.
 *
 * Built outside the repository against a fetched llama2.c (see
 * docs/benchmarks.md):
 *   cc -Ofast -fopenmp -march=native -DTESTING \
 *      -DLLAMA2C_SOURCE='"/path/llama2.c/run.c"' llama2c_run.c -lm */
#ifndef LLAMA2C_SOURCE
#error "define LLAMA2C_SOURCE as the quoted path of llama2.c's run.c or runq.c"
#endif
#include LLAMA2C_SOURCE

#define MAX_PROMPT 4096

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Comma-separated ids below vocab into ids[]; returns their count, or -1. */
static int parse_ids(const char *s, int *ids, int cap, int vocab)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= vocab || n == cap || (*end && *end != ','))
            return -1;
        ids[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

static int argmax_id(const float *row, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

int main(int argc, char **argv)
{
    char *end;
    long n = argc == 4 ? strtol(argv[3], &end, 10) : 0;
    if (argc != 4 || *end || n < 1 || n > 4096) {
        fprintf(stderr, "usage: llama2c_run CHECKPOINT.bin PROMPT_IDS N\n");
        return 2;
    }
    Transformer t;
    build_transformer(&t, argv[1]);
    int vocab = t.config.vocab_size;
    static int ids[MAX_PROMPT];
    int np = parse_ids(argv[2], ids, MAX_PROMPT, vocab);
    if (np < 1 || np + n > t.config.seq_len) {
        fprintf(stderr, "llama2c_run: bad prompt ids, or prompt + %ld beyond seq_len %d\n", n,
                t.config.seq_len);
        return 1;
    }
    int *out = malloc((size_t)n * sizeof *out);
    if (!out)
        return 1;
    double t0 = seconds_now();
    float *logits = NULL;
    for (int i = 0; i < np; i++)
        logits = forward(&t, ids[i], i);
    out[0] = argmax_id(logits, vocab);
    double t1 = seconds_now();
    for (long i = 1; i < n; i++)
        out[i] = argmax_id(forward(&t, out[i - 1], np + (int)i - 1), vocab);
    double t2 = seconds_now();
    printf("{\"prompt\": %d, \"prompt_s\": %.6f, \"steps\": %ld, \"steps_s\": %.6f, \"ids\": [", np, t1 - t0,
           n - 1, t2 - t1);
    for (long i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", out[i]);
    printf("]}\n");
    free(out);
    free_transformer(&t);
    return 0;
}
