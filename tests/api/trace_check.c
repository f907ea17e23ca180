/*
 * trace_check.c - the trace callback of generated code (tfc --trace).
 *
 *   trace_check WEIGHTS      (linked with gpt2.c from `tfc --trace` and
 *                             plain.c from `tfc --prefix plain`)
 *
 * Runs GPT-2 over four tokens and checks that the traced build reports
 * every kernel call's result in schedule order, ending with the logits the
 * caller gets (the same bytes), and that a build without --trace refuses
 * a callback.  Prints "ok" lines, exits 1 on the first failure.
 */
#include "gpt2.h"
#include "plain.h"
#include "tfrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int calls;
    const char *last;
    float last_first, last_end;   /* the last result's first and last value */
    int rows, cols;
} Seen;

static void record(void *arg, const char *name, const float *data, int rows, int cols, int stride)
{
    Seen *s = arg;
    s->calls++;
    s->last = name;
    s->rows = rows;
    s->cols = cols;
    s->last_first = data[0];
    s->last_end = data[(size_t)(rows - 1) * stride + cols - 1];
}

static int fail(const char *what)
{
    printf("FAIL %s\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    const int32_t tokens[4] = {5, 17, 99, 3};
    char err[256];
    gpt2_model *m;
    plain_model *p;
    if (argc != 2 || gpt2_open(&m, argv[1], err, sizeof err) || plain_open(&p, argv[1], err, sizeof err))
        return fail(argc == 2 ? err : "usage: trace_check WEIGHTS");
    static float logits[4 * GPT2_OUTPUT_COLS];
    Seen seen = {0, NULL, 0, 0, 0, 0};
    if (gpt2_set_trace(m, record, &seen) != TFRT_OK || gpt2_forward(m, tokens, 4, logits) != TFRT_OK)
        return fail("traced forward pass");
    if (seen.calls < 2 * GPT2_LAYERS || !seen.last || strcmp(seen.last, "logits") != 0)
        return fail("the trace ends with the logits, after at least two calls a layer");
    if (seen.rows != 4 || seen.cols != GPT2_OUTPUT_COLS || seen.last_first != logits[0]
        || seen.last_end != logits[4 * GPT2_OUTPUT_COLS - 1])
        return fail("the last traced result is the caller's logits");
    printf("ok   traced build: %d kernel results reported, the last is the logits\n", seen.calls);
    if (plain_set_trace(p, record, &seen) != TFRT_ERR_ARG)
        return fail("a build without --trace refuses a callback");
    printf("ok   build without --trace refuses a callback\n");
    gpt2_close(m);
    plain_close(p);
    return 0;
}
