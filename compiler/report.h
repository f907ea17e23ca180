/*
 * report.h - `tfc M --report out.html`: the model, its cost, how it
 * scales and its memory plan on one self-contained HTML page.
 *
 * Every figure on the page comes from plan_report.c's functions, the ones
 * `--plan` and `--plan=json` print: plan_figures (parameters by component,
 * FLOPs at given lengths), plan_arena_need, plan_kv_bytes_per_token, and
 * the SVG picture of the arena (plan_report(g, PLAN_SVG, out)).
 *
 *   report_html.c     the page: sections, tables, the charts' frames
 *   report_diagram.c  the architecture drawn from the graph
 *   report_scaling.c  closed-form formulas and their charts
 *   report_svg.c      bar and line charts, HTML escaping
 */
#ifndef TFC_REPORT_H
#define TFC_REPORT_H

#include "tfc.h"

/* ---- plan_report.c: the figures behind --plan -------------------------- */

enum { C_EMBED, C_ATTN, C_MLP, C_NORM, C_HEAD, C_OTHER, C_COUNT };
extern const char *const plan_component_names[C_COUNT];

typedef struct {
    int64_t params[C_COUNT + 1];     /* [C_COUNT]: total */
    int64_t bytes[C_COUNT + 1];      /* the same in bytes, each weight by its dtype */
    int64_t dtype_params[DT_COUNT_]; /* weights by dtype: f32, q8 */
    int64_t flops_matmul, flops_attention, flops_other, flops_total;
    int ntied;
    const char *tied[8];             /* weights read by several components */
} PlanFigures;

/* Parameters by component, and the FLOPs of the nodes [from, count) for
 * inputs of len[sym] tokens (len[s] for every symbol s < g->nsyms, a
 * cache's pos+seq symbol included: the tokens the cache holds after the
 * call), or at the planned maxima when len is NULL. */
void plan_figures(const Graph *g, const int64_t *len, int from, PlanFigures *f);
/* Node i's FLOPs at those lengths: [0] matmul, [1] attention, [2] other
 * (norms, activations, adds, a matmul's epilogue), [3 + p] the rope on
 * part p of a matmul (counted as other). */
#define PLAN_FLOP_KINDS (3 + MAX_PARTS)
void plan_node_flops(const Graph *g, const int64_t *len, int i, int64_t flops[PLAN_FLOP_KINDS]);
/* "1.50 MiB", "12.0 KiB", "17 B" (in the compiler's arena). */
const char *plan_bytes_str(int64_t bytes);

/* ---- report_svg.c: charts ---------------------------------------------- */

/* s with & < > ' " escaped, for HTML text and attributes. */
const char *report_escape(const char *s);

typedef struct {
    const char *label;
    double value;
} ReportBar;
/* A horizontal bar chart, one bar a row, the value printed at its end. */
void report_bar_chart(FILE *out, const char *title, const ReportBar *bars, int n,
                      const char *(*fmt)(double));

typedef struct {
    const char *name, *colour;
    const double *y;             /* n values, one per x */
} ReportSeries;
/* A line chart of series over xs (log-scaled y when the values span more
 * than 100x), the model's own x marked. */
void report_line_chart(FILE *out, const char *title, const char *xlabel, const double *xs, int n,
                       double mark, const ReportSeries *series, int nseries,
                       const char *(*fmt)(double));

/* ---- report_diagram.c -------------------------------------------------- */

/* The architecture as an SVG: the stacks (encoder, decoder), the ops of
 * one block with its repeat count, attention heads, the KV cache, the
 * cross-attention's link from the encoder. */
void report_diagram(const Graph *g, FILE *out);

/* ---- report_scaling.c -------------------------------------------------- */

/* What the graph was compiled from: the scaling section compiles the
 * model again with configuration values changed. */
typedef struct {
    const Program *prog;
    const Define *defs;
    int ndefs;
    PassOptions passes;
} ReportSource;

/* The scaling section: formulas and charts as layers, dim, heads, ffn and
 * seq vary around the model's values. */
void report_scaling(const Graph *g, const ReportSource *src, FILE *out);

/* ---- report_attention.c: what a run records ---------------------------- */

/* One tfrt_attention call of the forward pass: an ATTENTION node. */
typedef struct {
    int node;                    /* the ATTENTION node */
    int cross;                   /* an encoder-decoder's cross-attention */
    int q_input, k_input;        /* the model inputs whose tokens are its query
                                    rows and its keys (-1: none) */
    int heads, n_q, n_kv;
    int kv_len, causal, q_pos0;  /* as the kernel had them: keys >= kv_len
                                    are masked (padding) */
    float *p;                    /* (heads, n_q, n_kv): the kernel's softmax,
                                    0 for a key a query may not see */
} ReportAttnCall;

struct TfrtTokenizer;

typedef struct {
    const Graph *g;
    const char *why_not;         /* set: no probabilities, and why */
    const char *source;          /* what ran, in words (for the page) */
    ReportAttnCall *calls;
    int ncalls;
    int length[MAX_INPUTS];      /* per model input: its tokens */
    int valid[MAX_INPUTS];       /* the valid ones (--length of a padded input) */
    const int32_t *ids[MAX_INPUTS];    /* the tokens */
    const char **labels[MAX_INPUTS];   /* each token's text, or its id */
    int generated;               /* decoder tokens chosen greedily before the run */
} ReportAttention;

/* Decoder tokens an encoder-decoder's --prompt gets, at most. */
#define REPORT_DECODER_TOKENS 24

/* One forward pass of g over ro's inputs (through run_load, as --run)
 * with libtfrt's attention recorder on.  Before it, with greedy > 0, up to
 * greedy tokens are appended to the input the output's rows follow (an
 * encoder-decoder's decoder), each the most likely after those before, up
 * to and with eos; ra->generated counts them.  Returns 0 or an exit
 * status. */
int report_attention_record(const Graph *g, RunOptions *ro, int greedy, int32_t eos, ReportAttention *ra);
/* The labels of ro's input tokens: their texts (tok), or ids (tok NULL). */
void report_attention_labels(const Graph *g, const RunOptions *ro, const struct TfrtTokenizer *tok,
                             ReportAttention *ra);
/* --prompt TEXT as ro's inputs: its ids (special tokens added) in the
 * input `tokens`, or an encoder-decoder's `src` with the decoder's start
 * token in `tokens`; token types all 0.  A prompt longer than the input
 * takes is cut to its first *kept tokens.  Returns the prompt's tokens;
 * exits with a message when the model cannot take it. */
int report_prompt_inputs(const Graph *g, const char *text, size_t len, const struct TfrtTokenizer *tok,
                         const char *weights, RunOptions *ro, int *kept);
/* The recorded probabilities as JSON (schema tfc-attention/1). */
void report_attention_json(const ReportAttention *ra, FILE *out);
void report_attention_free(ReportAttention *ra);

/* ---- report_heatmap.c: the attention section --------------------------- */

void report_attention_section(const ReportAttention *ra, FILE *out);

/* ---- report_html.c ----------------------------------------------------- */

/* What a run adds to the page (each NULL: not asked for). */
typedef struct {
    const ReportAttention *attention;
    const QuantMeasure *quant;
    const char *quant_why_not;   /* no quantization numbers, and why */
} ReportRun;

void report_write(const Graph *g, const ReportSource *src, const ReportRun *run, FILE *out);

#endif
