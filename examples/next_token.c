/*
 * next_token.c - embeds a model compiled by tfc in a C program.
 *
 *   tfc models/gpt2.model -o gpt2.c
 *   cc -std=c99 -O2 -Iruntime next_token.c gpt2.c build/libtfrt.a -lopenblas -lm
 *   ./a.out model.safetensors 464 2068 7586 [--logits out.f32]
 *
 * Runs the model over the token ids and prints the most likely next token
 * (the argmax of the last position's logits).  With --logits it also
 * writes every position's logits as float32, for checking.
 *
 * The working memory is the caller's: the header states its size before
 * anything is opened (GPT2_ARENA_BYTES; gpt2_memory_bytes adds weights and
 * KV cache), and exactly that much is passed to gpt2_open_with_arena, so a
 * memory checker flags any byte the model touches beyond its plan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt2.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s WEIGHTS TOKEN... [--logits FILE]\n", argv[0]);
        return 2;
    }
    const char *logits_path = NULL;
    int32_t tokens[GPT2_MAX_SEQ];
    int n = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--logits") == 0 && i + 1 < argc) {
            logits_path = argv[++i];
        } else if (n < GPT2_MAX_SEQ) {
            tokens[n++] = (int32_t)atoi(argv[i]);
        } else {
            fprintf(stderr, "at most %d tokens\n", GPT2_MAX_SEQ);
            return 2;
        }
    }

    /* exactly the planned size: malloc's alignment suits float */
    void *arena = malloc(GPT2_ARENA_BYTES > 0 ? (size_t)GPT2_ARENA_BYTES : 1);
    if (!arena) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    gpt2_model *model;
    char err[256];
    int rc = gpt2_open_with_arena(&model, argv[1], arena, (size_t)GPT2_ARENA_BYTES, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        free(arena);
        return 1;
    }
    float *logits = malloc((size_t)n * GPT2_OUTPUT_COLS * sizeof *logits);
    if (!logits || (rc = gpt2_forward(model, tokens, n, logits)) != 0) {
        fprintf(stderr, "forward: %s\n", logits ? gpt2_strerror(rc) : "out of memory");
        free(logits);
        gpt2_close(model);
        free(arena);
        return 1;
    }
    const float *last = logits + (size_t)(n - 1) * GPT2_OUTPUT_COLS;
    int best = 0;
    for (int v = 1; v < GPT2_OUTPUT_COLS; v++)
        if (last[v] > last[best])
            best = v;
    printf("%d\n", best);
    if (logits_path) {
        FILE *f = fopen(logits_path, "wb");
        if (!f || fwrite(logits, sizeof *logits, (size_t)n * GPT2_OUTPUT_COLS, f)
                      != (size_t)n * GPT2_OUTPUT_COLS) {
            fprintf(stderr, "cannot write %s\n", logits_path);
            return 1;
        }
        fclose(f);
    }
    free(logits);
    gpt2_close(model);
    free(arena);   /* the model is closed: the arena is the caller's again */
    return 0;
}
