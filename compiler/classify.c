/*
 * classify.c - `tfc M --run --prompt TEXT` for an encoder with a
 * classification head (BERT): the text's tokens, with the tokenizer's
 * special tokens ([CLS] ... [SEP]), run once; then
 *
 *   a sequence classifier (one row of label scores): each label and its
 *     probability (softmax), most likely first;
 *   a token classifier (a row per token): each word and the label of its
 *     first piece, as Hugging Face's token-classification pipeline does
 *     with aggregation "first".
 *
 * Label names come from config.json's id2label when the weights are a
 * folder, else LABEL_0, LABEL_1, ... (Hugging Face's defaults).
 */
#include "tfc.h"
#include "tfrt.h"
#include "tfrt_text.h"
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Label names, from the weights folder's config.json or the defaults. */
static const char **label_names(const char *weights, int64_t n)
{
    const char **names = tfc_alloc((size_t)n * sizeof *names), *path;
    JsonValue *cfg = ckpt_config_json(weights, &path);
    const JsonValue *map = json_get(cfg, "id2label");

    for (int64_t i = 0; i < n; i++) {
        const JsonValue *v = json_get(map, tfc_format("%lld", (long long)i));
        names[i] = v && v->type == JSON_STRING ? tfc_strdup(v->u.string.chars)
                                               : tfc_format("LABEL_%lld", (long long)i);
    }
    json_free(cfg);
    return names;
}

/* The inputs of a classifier: tokens, and zeros for token types. */
static void set_inputs(const Graph *g, RunOptions *ro, const int32_t *ids, int n)
{
    for (int i = 0; i < g->ninputs; i++) {
        const Node *in = &g->nodes[g->inputs[i]];
        int s = in->shape.d[0].sym;
        ro->tokens[i] = strcmp(in->name, "tokens") == 0 ? ids
                      : tfc_alloc((size_t)n * sizeof(int32_t));    /* zeroed: segment 0 */
        ro->lengths[s - 1] = n;
        if (g->padded >> s & 1u)
            ro->lengths[MAX_INPUTS + s - 1] = n;
    }
}

static int by_score(const void *a, const void *b, const float *p)
{
    int x = *(const int *)a, y = *(const int *)b;
    return p[x] < p[y] ? 1 : p[x] > p[y] ? -1 : x - y;
}

static const float *sort_scores;
static int cmp_scores(const void *a, const void *b) { return by_score(a, b, sort_scores); }

static void print_labels(const float *logits, int64_t n, const char **names)
{
    float *p = tfc_alloc((size_t)n * sizeof *p), max = logits[0], sum = 0;
    int *order = tfc_alloc((size_t)n * sizeof *order);
    for (int64_t i = 1; i < n; i++)
        max = logits[i] > max ? logits[i] : max;
    for (int64_t i = 0; i < n; i++)
        sum += p[i] = expf(logits[i] - max);
    for (int64_t i = 0; i < n; i++) {
        p[i] /= sum;
        order[i] = (int)i;
    }
    sort_scores = p;
    qsort(order, (size_t)n, sizeof *order, cmp_scores);
    for (int64_t i = 0; i < n; i++)
        printf("%s\t%.4f\n", names[order[i]], p[order[i]]);
}

/* One line a word: its text and the label of its first piece.  A piece
 * whose text starts with a space begins a word (WordPiece writes " word"
 * and "ing" for ##ing); special tokens are not words. */
static void print_tags(const TfrtTokenizer *tok, const int32_t *ids, int n,
                       const float *rows, int64_t labels, const char **names)
{
    int open = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *text = tfrt_tok_decode_token(tok, ids[i], &len);
        if (tfrt_tok_is_special(tok, ids[i]) || !text)
            continue;
        int starts = !open || (len > 0 && text[0] == ' ');
        if (starts) {
            int32_t best = tfrt_argmax(rows + (size_t)i * (size_t)labels, (int)labels);
            if (open)
                printf("\t%s\n", names[open - 1]);
            open = best + 1;
        }
        if (len > 0 && text[0] == ' ')
            text++, len--;
        fwrite(text, 1, len, stdout);
    }
    if (open)
        printf("\t%s\n", names[open - 1]);
}

int classify_text(const Graph *g, const RunOptions *opt, const GenOptions *gen,
                  const TfrtTokenizer *tok)
{
    const Node *o = &g->nodes[g->output];
    int per_token = o->shape.ndim == 2 && o->shape.d[0].sym != 0;
    int64_t labels = o->shape.d[o->shape.ndim - 1].n;
    int64_t max = ir_dim_max(g, g->nodes[g->inputs[0]].shape.d[0]);
    RunOptions ro = *opt;
    int32_t *ids;
    size_t n;
    char err[256];

    if (tfrt_tok_encode_special(tok, gen->prompt, gen->prompt_len, 1, &ids, &n, err,
                                sizeof err) != TFRT_OK) {
        fprintf(stderr, "tfc: error: --prompt: %s\n", err);
        return EXIT_INPUT;
    }
    if (n == 0 || (int64_t)n > max) {
        fprintf(stderr, "tfc: error: the prompt has %zu tokens; the model takes 1 to %lld\n", n,
                (long long)max);
        free(ids);
        return EXIT_INPUT;
    }
    set_inputs(g, &ro, ids, (int)n);
    Loaded L;
    int status = run_load(g, &ro, &L);
    float *out = tfc_alloc((size_t)(per_token ? (int64_t)n : 1) * (size_t)labels * sizeof *out);
    if (!status && L.forward(L.model, ro.tokens, ro.lengths, out) != 0) {
        fprintf(stderr, "tfc: error: the forward pass failed\n");
        status = EXIT_INPUT;
    }
    if (!status) {
        const char **names = label_names(opt->weights, labels);
        if (per_token)
            print_tags(tok, ids, (int)n, out, labels, names);
        else
            print_labels(out, labels, names);
        if (fflush(stdout) != 0)
            status = EXIT_IO;
    }
    run_unload(&L);
    free(ids);
    return status;
}
