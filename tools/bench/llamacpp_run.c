/* The native llama.cpp peer of the Llama rows, through llama.h: the prompt
 * ids in one llama_decode (the prefill), then greedy decoding one token at a
 * time; the argmax is taken here over the logits, the lowest id winning a
 * tie, as in the other runners.
 *
 *   llamacpp_run MODEL.gguf THREADS PROMPT_IDS N [KV_TYPE]
 *
 * PROMPT_IDS is comma separated; N new ids are made, so N - 1 decode steps
 * are timed (the first id comes from the prefill's logits).  KV_TYPE is f32
 * (default, as tfc keeps its cache) or f16 (llama.cpp's default).  Prints
 * one JSON line on stdout, llama.cpp's log on stderr.
 *
 * Built against a llama.cpp build outside the repository (see
 * docs/benchmarks.md); written for the llama.h of February 2025
 * (llama_model_load_from_file, llama_init_from_model, llama_batch_get_one). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llama.h"

/* llama.cpp as the npm package llama.rn ships its sources renames ggml's
 * symbols with an LM_ prefix (docs/benchmarks.md). */
#ifdef LM_GGML_MAX_DIMS
#define ggml_type lm_ggml_type
#define GGML_TYPE_F32 LM_GGML_TYPE_F32
#define GGML_TYPE_F16 LM_GGML_TYPE_F16
#endif

#define MAX_PROMPT 4096

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Comma-separated ids into ids[]; returns their count, or -1. */
static int parse_ids(const char *s, llama_token *ids, int cap, int vocab)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v >= vocab || n == cap || (*end && *end != ','))
            return -1;
        ids[n++] = (llama_token)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

static llama_token argmax(const float *row, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return (llama_token)best;
}

static void usage(void)
{
    fprintf(stderr, "usage: llamacpp_run MODEL.gguf THREADS PROMPT_IDS N [f32|f16]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long threads, n;
    if (argc < 5 || argc > 6 || parse_int(argv[2], 1, 256, &threads) || parse_int(argv[4], 1, 4096, &n))
        usage();
    enum ggml_type kv = GGML_TYPE_F32;
    if (argc == 6 && !strcmp(argv[5], "f16"))
        kv = GGML_TYPE_F16;
    else if (argc == 6 && strcmp(argv[5], "f32"))
        usage();

    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "llamacpp_run: cannot load %s\n", argv[1]);
        return 1;
    }
    int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    static llama_token ids[MAX_PROMPT];
    int np = parse_ids(argv[3], ids, MAX_PROMPT, vocab);
    if (np < 1) {
        fprintf(stderr, "llamacpp_run: bad prompt ids (at most %d, each below %d)\n", MAX_PROMPT, vocab);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(np + n);
    cp.n_batch = cp.n_ubatch = (uint32_t)np;
    cp.n_threads = cp.n_threads_batch = (int32_t)threads;
    cp.type_k = cp.type_v = kv;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llamacpp_run: cannot make a context\n");
        return 1;
    }
    llama_token *out = malloc((size_t)n * sizeof *out);
    if (!out)
        return 1;
    double t0 = now();
    if (llama_decode(ctx, llama_batch_get_one(ids, np))) {
        fprintf(stderr, "llamacpp_run: prefill failed\n");
        return 1;
    }
    out[0] = argmax(llama_get_logits_ith(ctx, -1), vocab);
    double t1 = now();
    for (long i = 1; i < n; i++) {
        if (llama_decode(ctx, llama_batch_get_one(&out[i - 1], 1))) {
            fprintf(stderr, "llamacpp_run: decode step %ld failed\n", i);
            return 1;
        }
        out[i] = argmax(llama_get_logits_ith(ctx, -1), vocab);
    }
    double t2 = now();
    printf("{\"prompt\": %d, \"prompt_s\": %.6f, \"steps\": %ld, \"steps_s\": %.6f, \"ids\": [", np, t1 - t0,
           n - 1, t2 - t1);
    for (long i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", out[i]);
    printf("]}\n");
    free(out);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
