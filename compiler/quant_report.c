/*
 * quant_report.c - `tfc M --weights W --quantize int8 --quant-report TEXT`:
 * what int8 costs, measured on a text, layer by layer and end to end.
 *
 * The model runs twice over the same windows of the text's tokens: built
 * fp32 and built int8, both with tracing on (each kernel call passes its
 * result to a callback), so that every int8 linear layer's output can be
 * set against the fp32 layer's output on the same tokens.  The residual
 * epilogue is off in both builds (the caller compiles them so), so that a
 * layer's output is its own and not the residual stream it adds to.  Per
 * int8 layer:
 *   weights     relative RMS error of the dequantized weights,
 *               ||W - deq(q(W))|| / ||W|| over the layer's parts;
 *   output      relative RMS error ||y8 - y32|| / ||y32|| and the cosine of
 *               y8 and y32, over every token of the text: this error is
 *               what the layer adds plus what reaches it from the layers
 *               before.
 * End to end, over the next-token predictions of the windows: the top-1
 * agreement of int8 with fp32, the mean KL divergence KL(p32 || p8), and
 * the mean loss (cross-entropy of the text's next token) of each, with its
 * change and the perplexities.
 */
#include "tfc.h"
#include "tfrt.h"
#include "q8.h"
#include "tfrt_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;            /* the matmul node's, the same in both builds */
    int node;                    /* in g8 */
    int parts;
    double w_err2, w_ref2;       /* weights: sum (w - deq)^2, sum w^2 */
    double e2, r2, q2, dot;      /* outputs: sum (y8 - y32)^2, y32^2, y8^2, y8 y32 */
    float *ref;                  /* this window's fp32 output, rows x cols */
    size_t ref_cap;
    int rows, cols;
} Layer;

typedef struct {
    Layer *layers;
    int n;
    int phase;                   /* 0: the fp32 run records, 1: int8 compares */
} Report;

static Layer *find(Report *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->layers[i].name, name) == 0)
            return &r->layers[i];
    return NULL;
}

/* The trace callback of both runs. */
static void on_result(void *arg, const char *name, const float *data, int rows, int cols, int stride)
{
    Report *r = arg;
    Layer *L = find(r, name);
    if (!L)
        return;
    size_t need = (size_t)rows * (size_t)cols;
    if (r->phase == 0) {
        if (need > L->ref_cap) {
            free(L->ref);
            if (!(L->ref = malloc(need * sizeof *L->ref)))
                error_plain("--quant-report: out of memory");
            L->ref_cap = need;
        }
        for (int i = 0; i < rows; i++)
            memcpy(L->ref + (size_t)i * (size_t)cols, data + (size_t)i * (size_t)stride,
                   (size_t)cols * sizeof *data);
        L->rows = rows, L->cols = cols;
        return;
    }
    if (rows != L->rows || cols != L->cols)
        tfc_bug("--quant-report: %s is %dx%d in int8, %dx%d in fp32", name, rows, cols, L->rows, L->cols);
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < cols; k++) {
            double a = L->ref[(size_t)i * (size_t)cols + (size_t)k], b = data[(size_t)i * (size_t)stride + (size_t)k];
            L->e2 += (b - a) * (b - a), L->r2 += a * a, L->q2 += b * b, L->dot += a * b;
        }
}

/* ---- the weights' error ------------------------------------------------------------ */

/* Element (r, k) of part pt: W(out = r, in = k) in either layout. */
static float part_at(const float *w, const KPackedPart *pt, int64_t r, int64_t k)
{
    return pt->layout == TFRT_W_OUT_IN ? w[pt->first + r * pt->ldw + k] : w[pt->first + k * pt->ldw + r];
}

static void part_error(const float *w, const KPackedPart *pt, Layer *L)
{
    int rows = (int)pt->rows, in = (int)pt->in;
    void *q = malloc(tfrt_q8_weight_bytes(rows, in) + 1);
    float *row = malloc((size_t)in * sizeof *row), *deq = malloc((size_t)in * sizeof *deq);
    if (!q || !row || !deq)
        error_plain("--quant-report: out of memory");
    for (int r = 0; r < rows; r++) {
        for (int k = 0; k < in; k++)
            row[k] = part_at(w, pt, r, k);
        tfrt_q8_quantize_rows(q, rows, in, r, 1, row);
    }
    for (int r = 0; r < rows; r++) {
        tfrt_q8_dequantize_row(deq, q, rows, in, r);
        for (int k = 0; k < in; k++) {
            double a = part_at(w, pt, r, k);
            L->w_err2 += (deq[k] - a) * (deq[k] - a), L->w_ref2 += a * a;
        }
    }
    free(q), free(row), free(deq);
}

/* Binds g8's weights as floats (by node id) and measures every part. */
static int weight_errors(const Graph *g8, const char *path, Report *r)
{
    TfrtSafetensors *file;
    TfrtBindings *b;
    char err[512];
    static const char *const none[] = {""};
    if (tfrt_st_open(&file, path, err, sizeof err) != TFRT_OK) {
        fprintf(stderr, "tfc: error: %s\n", err);
        return EXIT_INPUT;
    }
    TfrtWeightSpec *specs = tfc_alloc((size_t)(g8->count + 1) * sizeof *specs);
    const float **table = tfc_alloc((size_t)(g8->count + 1) * sizeof *table);
    int n = 0;
    for (int i = 0; i < g8->count; i++) {
        const Node *w = &g8->nodes[i];
        if (w->dead || w->op != OP_WEIGHT)
            continue;
        Shape stored = w->attr.weight.full.ndim ? w->attr.weight.full : w->shape;
        TfrtWeightSpec *s = &specs[n++];
        s->name = w->attr.weight.ckpt, s->ndim = stored.ndim;
        for (int d = 0; d < stored.ndim; d++)
            s->shape[d] = stored.d[d].n;
        s->offset = (size_t)i * sizeof *table, s->first = (size_t)w->attr.weight.first;
    }
    TfrtNameMap names = {g8->nprefixes ? g8->prefixes : none, g8->nprefixes,
                         g8->nignores ? g8->ignores : none, g8->nignores};
    if (tfrt_bind_weights(&b, file, specs, n, &names, table, err, sizeof err) != TFRT_OK) {
        fprintf(stderr, "tfc: error: %s\n", err);
        tfrt_st_close(file);
        return EXIT_INPUT;
    }
    int nparts;
    const KPackedPart *parts = kprog_q8_parts(g8, &nparts);
    for (int i = 0, p = 0; i < r->n; i++)
        for (int k = 0; k < r->layers[i].parts; k++, p++)
            part_error(table[parts[p].weight], &parts[p], &r->layers[i]);
    tfrt_bindings_free(b);
    tfrt_st_close(file);
    return 0;
}

/* ---- end to end --------------------------------------------------------------------- */

typedef struct {
    double loss32, loss8, kl;
    int64_t agree, count;
} EndToEnd;

/* log-softmax of x (v,) into out */
static void log_softmax(const float *x, int v, double *out)
{
    double m = x[0], s = 0;
    for (int i = 1; i < v; i++)
        m = x[i] > m ? x[i] : m;
    for (int i = 0; i < v; i++)
        s += exp(x[i] - m);
    for (int i = 0; i < v; i++)
        out[i] = x[i] - m - log(s);
}

static int argmax(const float *x, int v)
{
    int best = 0;
    for (int i = 1; i < v; i++)
        best = x[i] > x[best] ? i : best;
    return best;
}

/* Positions [0, n-1) of a window predict tokens [1, n). */
static void score(EndToEnd *e, const float *l32, const float *l8, const int32_t *tokens, int n, int v)
{
    double *a = malloc((size_t)v * sizeof *a), *b = malloc((size_t)v * sizeof *b);
    if (!a || !b)
        error_plain("--quant-report: out of memory");
    for (int t = 0; t + 1 < n; t++) {
        const float *x = l32 + (size_t)t * (size_t)v, *y = l8 + (size_t)t * (size_t)v;
        log_softmax(x, v, a);
        log_softmax(y, v, b);
        for (int i = 0; i < v; i++)
            e->kl += exp(a[i]) * (a[i] - b[i]);
        e->loss32 -= a[tokens[t + 1]];
        e->loss8 -= b[tokens[t + 1]];
        e->agree += argmax(x, v) == argmax(y, v);
        e->count++;
    }
    free(a), free(b);
}

/* ---- the report ---------------------------------------------------------------------- */

static double ratio(double a, double b) { return b > 0 ? sqrt(a / b) : 0; }
static double cosine(const Layer *L) { return L->r2 > 0 && L->q2 > 0 ? L->dot / sqrt(L->r2 * L->q2) : 0; }

static void print_text(const Graph *g8, const QuantReportOptions *q, const QuantMeasure *m)
{
    printf("Quantization report: %s, --quantize int8 (blocks of %d, one float scale a block), on %s\n",
           g8->model, TFRT_Q8_BLOCK, q->text);
    printf("  %lld tokens in windows of %d; %d linear layers int8, %d kept fp32\n\n", (long long)m->tokens,
           m->window, g8->q8_layers, g8->fp32_layers);
    printf("  %-40s %5s %12s %12s %10s\n", "layer", "parts", "weight err%", "output err%", "cosine");
    for (int i = 0; i < m->n; i++) {
        const QuantLayer *L = &m->layers[i];
        printf("  %-40s %5d %12.4f %12.4f %10.6f\n", L->name, L->parts, 100 * L->weight_rel_rms,
               100 * L->output_rel_rms, L->output_cosine);
    }
    printf("\n  (err%%: relative RMS error against fp32; a layer's output error includes what\n"
           "   reaches it from the layers before)\n\n");
    printf("End to end, %lld next-token predictions:\n", (long long)m->predictions);
    printf("  top-1 agreement with fp32   %.2f%%\n", 100.0 * m->top1);
    printf("  mean KL(fp32 || int8)       %.6f nats\n", m->kl);
    printf("  loss fp32 %.6f, int8 %.6f: %+.3f%% (perplexity %.4f -> %.4f)\n", m->loss32,
           m->loss8, m->loss32 > 0 ? 100.0 * (m->loss8 - m->loss32) / m->loss32 : 0.0,
           exp(m->loss32), exp(m->loss8));
}

static void print_json(const Graph *g8, const QuantMeasure *m)
{
    printf("{\n  \"schema\": \"tfc-quant-report/1\",\n  \"model\": \"%s\",\n  \"scheme\": \"int8\",\n"
           "  \"block\": %d,\n  \"text_tokens\": %lld,\n  \"window\": %d,\n  \"int8_layers\": %d,\n"
           "  \"fp32_layers\": %d,\n  \"layers\": [", g8->model, TFRT_Q8_BLOCK, (long long)m->tokens,
           m->window, g8->q8_layers, g8->fp32_layers);
    for (int i = 0; i < m->n; i++) {
        const QuantLayer *L = &m->layers[i];
        printf("%s\n    {\"name\": \"%s\", \"parts\": %d, \"weight_rel_rms\": %.8g, \"output_rel_rms\": %.8g, "
               "\"output_cosine\": %.10g}", i ? "," : "", L->name, L->parts, L->weight_rel_rms,
               L->output_rel_rms, L->output_cosine);
    }
    printf("\n  ],\n  \"predictions\": %lld,\n  \"top1_agreement\": %.8g,\n  \"mean_kl\": %.8g,\n"
           "  \"loss_fp32\": %.8g,\n  \"loss_int8\": %.8g,\n  \"loss_change\": %.8g\n}\n",
           (long long)m->predictions, m->top1, m->kl, m->loss32, m->loss8,
           m->loss32 > 0 ? (m->loss8 - m->loss32) / m->loss32 : 0.0);
}

/* The int8 layers of g8, in node order, with their part counts. */
static void layers_of(const Graph *g8, Report *r)
{
    KProgram *kp = kprog_build(g8, 0, g8->count, 0);
    int nparts = kprog_q8_layer_parts(g8), last = -1;
    r->layers = tfc_alloc((size_t)(g8->count + 1) * sizeof *r->layers);
    for (int i = 0; i < g8->count; i++) {
        const Node *m = &g8->nodes[i];
        if (m->dead || m->op != OP_MATMUL || g8->nodes[m->in[1]].dtype != DT_Q8)
            continue;
        if (last >= 0)
            r->layers[r->n - 1].parts = kp->packed_first[i] - kp->packed_first[last];
        r->layers[r->n].name = m->name;
        r->layers[r->n++].node = i;
        last = i;
    }
    if (last >= 0)
        r->layers[r->n - 1].parts = nparts - kp->packed_first[last];
}

static int32_t *read_tokens(const QuantReportOptions *q, size_t *n)
{
    TfrtTokenizer *tok;
    char err[512];
    size_t len;
    int32_t *ids = NULL;
    if (!q->tokenizer)
        error_status(EXIT_USAGE, "--quant-report needs a tokenizer for its text (--tokenizer, or a "
                                 "weights folder with one)");
    const char *text = prompt_read_file(q->text, &len);
    if (tfrt_tok_load(&tok, q->tokenizer, err, sizeof err) != TFRT_OK)
        error_plain("%s", err);
    if (tfrt_tok_encode(tok, text, len, &ids, n, err, sizeof err) != TFRT_OK)
        error_plain("%s: %s", q->text, err);
    tfrt_tok_free(tok);
    if ((int64_t)*n > q->max_tokens)
        *n = (size_t)q->max_tokens;
    return ids;
}

static int open_model(const Graph *g, const RunOptions *opt, Loaded *L, Report *r)
{
    int rc = run_load(g, opt, L);
    if (!rc && (!L->set_trace || L->set_trace(L->model, on_result, r) != TFRT_OK))
        tfc_bug("--quant-report: the model was built without tracing");
    return rc;
}

int quant_is_language_model(const Graph *g8)
{
    const Node *o = &g8->nodes[g8->output];
    return g8->ninputs == 1 && o->shape.ndim == 2 && o->shape.d[0].sym;
}

/* Both builds over windows of the tokens: each layer's output error (the
 * trace callback) and end to end. */
static int run_both(const Graph *g32, const Graph *g8, const RunOptions *opt, const int32_t *tokens,
                    size_t ntok, Report *r, EndToEnd *e, int window)
{
    const Node *o = &g8->nodes[g8->output];
    int v = (int)o->shape.d[1].n;
    RunOptions ro = *opt;
    ro.jit = RUN_JIT_CC, ro.trace = 1;   /* two models in one process, traced */
    Loaded L32 = {0}, L8 = {0};
    int rc = open_model(g32, &ro, &L32, r);
    if (!rc)
        rc = open_model(g8, &ro, &L8, r);
    float *l32 = malloc((size_t)window * (size_t)v * sizeof *l32), *l8 = malloc((size_t)window * (size_t)v * sizeof *l8);
    if (!l32 || !l8)
        error_plain("--quant-report: out of memory");
    for (size_t at = 0; !rc && at + 1 < ntok; at += (size_t)window) {
        int n = ntok - at < (size_t)window ? (int)(ntok - at) : window;
        const int32_t *in[1] = {tokens + at};
        int lengths[2 * MAX_INPUTS] = {n};
        r->phase = 0;
        rc = L32.forward(L32.model, in, lengths, l32);
        r->phase = 1;
        if (!rc)
            rc = L8.forward(L8.model, in, lengths, l8);
        if (!rc)
            score(e, l32, l8, tokens + at, n, v);
    }
    if (rc > 0 && rc < 64)
        fprintf(stderr, "tfc: error: %s\n", tfrt_strerror(rc));
    free(l32), free(l8);
    if (L8.so || L8.model)
        L8.close(L8.model);
    if (L32.so || L32.model)
        L32.close(L32.model);
    return rc;
}

int quant_measure(const Graph *g32, const Graph *g8, const RunOptions *opt, const int32_t *tokens,
                  size_t ntok, QuantMeasure *m)
{
    Report r = {0};
    EndToEnd e = {0};
    layers_of(g8, &r);
    if (!r.n)
        error_status(EXIT_INPUT, "--quantize int8: no linear layer of %s is int8", g8->model);
    memset(m, 0, sizeof *m);
    m->outputs = ntok >= 2 && quant_is_language_model(g8);
    m->tokens = (int64_t)ntok;
    m->window = m->outputs ? (int)g8->syms[g8->nodes[g8->output].shape.d[0].sym].max : 0;
    int rc = weight_errors(g8, opt->weights, &r);
    if (!rc && m->outputs)
        rc = run_both(g32, g8, opt, tokens, ntok, &r, &e, m->window);
    m->layers = tfc_alloc((size_t)r.n * sizeof *m->layers);
    m->n = r.n;
    for (int i = 0; i < r.n; i++) {
        const Layer *L = &r.layers[i];
        m->layers[i] = (QuantLayer){L->name, L->parts, ratio(L->w_err2, L->w_ref2),
                                    ratio(L->e2, L->r2), cosine(L)};
        free(r.layers[i].ref);
    }
    double n = e.count ? (double)e.count : 1;
    m->predictions = e.count;
    m->top1 = (double)e.agree / n, m->kl = e.kl / n, m->loss32 = e.loss32 / n, m->loss8 = e.loss8 / n;
    return rc ? EXIT_INPUT : 0;
}

int quant_report(const Graph *g32, const Graph *g8, const RunOptions *opt, const QuantReportOptions *q)
{
    if (!quant_is_language_model(g8))
        error_status(EXIT_USAGE, "--quant-report measures a language model (one token input, logits "
                                 "for every position); %s is not one", g8->model);
    size_t ntok;
    int32_t *tokens = read_tokens(q, &ntok);
    if (ntok < 2)
        error_status(EXIT_INPUT, "%s: fewer than 2 tokens", q->text);
    QuantMeasure m;
    int rc = quant_measure(g32, g8, opt, tokens, ntok, &m);
    if (!rc)
        q->json ? print_json(g8, &m) : print_text(g8, q, &m);
    free(tokens);
    return rc;
}
