/*
 * generate.c - text generation in a C program: a model compiled by tfc,
 * the runtime's tokenizer and its generation loop (tfrt_generate.h).
 *
 *   tfc models/gpt2.model -o gpt2.c           # gpt2.c + gpt2.h
 *   cc -O2 generate.c gpt2.c $(pkg-config --cflags --libs tfrt)
 *   ./a.out WEIGHTS TOKENIZER PROMPT [TOKENS [SEED]]
 *
 * The demo model (docs/demo-model.md) is GPT-2 at a tiny size:
 *
 *   tfc models/gpt2.model -D vocab=65 -D ctx=128 -D dim=128 -D heads=4 \
 *       -D layers=4 -o gpt2.c
 *   ./a.out models/shakespeare.safetensors models/shakespeare.chars.json ROMEO: 200 1
 *
 * prints what `tfc ... --run --prompt ROMEO: -n 200 --seed 1` prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt2.h"
#include "tfrt_generate.h"

/* The model's two entry points, as the loop calls them. */
static int prefill(void *m, const int32_t *ids, int n, float *logits)
{
    return gpt2_prefill_last(m, ids, n, logits);
}

static int step(void *m, int32_t id, float *logits)
{
    return gpt2_step(m, id, logits);
}

/* Text as it comes: whole UTF-8 characters. */
static int print(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    return fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s WEIGHTS TOKENIZER PROMPT [TOKENS [SEED]]\n", argv[0]);
        return 2;
    }
    gpt2_model *m = NULL;
    TfrtTokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    int rc = gpt2_open(&m, argv[1], err, sizeof err);
    if (rc == TFRT_OK)
        rc = tfrt_tok_load(&tok, argv[2], err, sizeof err);
    if (rc == TFRT_OK)
        rc = tfrt_tok_encode_special(tok, argv[3], strlen(argv[3]), 1, &ids, &n, err, sizeof err);
    if (rc == TFRT_OK) {
        TfrtLm lm = {m, GPT2_OUTPUT_COLS, gpt2_context(m), prefill, step, NULL};
        TfrtGenOptions o = tfrt_gen_defaults(tok);   /* tfc's defaults: temperature 0.8 */
        o.max_tokens = argc > 4 ? atoi(argv[4]) : 128;
        o.seed = argc > 5 ? strtoull(argv[5], NULL, 10) : 1;
        o.on_text = print;
        rc = tfrt_generate(&lm, ids, (int)n, &o, NULL, err, sizeof err);
        printf("\n");
    }
    if (rc != TFRT_OK)
        fprintf(stderr, "%s\n", err);
    free(ids);
    tfrt_tok_free(tok);
    gpt2_close(m);
    return rc == TFRT_OK ? 0 : 1;
}
