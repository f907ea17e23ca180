/*
 * report_html.c - `tfc M --report out.html`: one self-contained page.
 *
 * Requires: a planned graph.  Writes HTML with inline CSS and SVG, no
 * script: the page reads the same with JavaScript off.  Sections: the
 * model (architecture, configuration, parameters by component), cost
 * (FLOPs per token, memory by kind, the generated header's memory formula
 * at a few lengths), scaling (report_scaling.c), the memory plan (the
 * picture of --plan=svg), the attention a run recorded (report_heatmap.c)
 * or why there is none, and with --quantize int8 the error per layer.
 *
 * Every number is computed by plan_report.c's functions, the ones --plan
 * prints; this file only chooses the lengths and lays the page out.
 */
#include "report.h"

#include <string.h>

static const char style[] =
    "body{font-family:sans-serif;max-width:1440px;margin:1em auto;padding:0 1em;color:#222}"
    "h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}"
    "svg.chart{font-size:12px;margin:.5em 1em .5em 0;vertical-align:top}"
    "svg .ct{font-size:14px;font-weight:bold}svg .ax{font-size:10px}"
    ".note{color:#555;font-size:.9em}.scroll{overflow-x:auto}code{background:#f4f4f4;padding:0 3px}"
    "nav a{margin-right:1em}.scaling{display:flex;flex-wrap:wrap;gap:0 1em;align-items:flex-start}"
    ".scaling h3{width:100%;margin-bottom:0}";

/* 124439808 -> "124,439,808". */
static const char *grouped(int64_t v)
{
    char digits[32], out[48];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v)), o = 0;
    if (v < 0)
        out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return tfc_strdup(out);
}

static const char *count_str(double v)
{
    if (v >= 1e9)
        return tfc_format("%.2f G", v / 1e9);
    if (v >= 1e6)
        return tfc_format("%.2f M", v / 1e6);
    if (v >= 1e3)
        return tfc_format("%.1f k", v / 1e3);
    return tfc_format("%.0f", v);
}

/* The longest input any symbol allows (the planned maximum). */
static int64_t longest(const Graph *g)
{
    int64_t n = 1;
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past && g->syms[s].max > n)
            n = g->syms[s].max;
    return n;
}

/* Lengths for a first call of n tokens in every input (each capped at
 * its symbol's maximum), a cache then holding what the call appended. */
static void prompt_lengths(const Graph *g, int64_t n, int64_t *len)
{
    for (int s = 1; s < g->nsyms; s++) {
        int base = g->syms[s].past ? g->syms[s].past : s;
        len[s] = n < g->syms[base].max ? n : g->syms[base].max;
    }
}

/* Lengths for one cached step: one new token, the cache holding ctx. */
static void step_lengths(const Graph *g, int64_t ctx, int64_t *len)
{
    prompt_lengths(g, ctx, len);
    len[g->cache_sym] = 1;
}

static void header(const Graph *g, FILE *out)
{
    fprintf(out, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                 "<title>%s: tfc report</title><style>%s</style></head><body>\n",
            report_escape(g->model), style);
    const char *lens = "";
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past)
            lens = tfc_format("%s%s%s \xe2\x89\xa4 %lld", lens, *lens ? ", " : "", g->syms[s].name,
                              (long long)g->syms[s].max);
    fprintf(out, "<h1>%s</h1><p class='note'>from <code>%s</code>, planned for %s. Made by "
                 "<code>tfc --report</code>; every number comes from the functions behind "
                 "<code>tfc --plan</code>.</p>\n", report_escape(g->model), report_escape(g->source),
            report_escape(*lens ? lens : "fixed shapes"));
    fprintf(out, "<nav><a href='#model'>model</a><a href='#cost'>cost</a><a href='#scaling'>scaling</a><a href='#plan'>memory plan</a><a href='#attention'>attention</a>%s</nav>\n",
            g->q8_layers ? "<a href='#quantization'>quantization</a>" : "");
}

static void config_table(const Graph *g, FILE *out)
{
    fprintf(out, "<h3>Configuration</h3><table><tr><th>name</th><th>value</th></tr>\n");
    for (int i = 0; i < g->nconfig; i++)
        fprintf(out, "<tr><td>%s</td><td class='n'>%s</td></tr>\n", report_escape(g->config_names[i]),
                g->config_is_int[i] ? grouped((int64_t)g->config_values[i])
                                    : tfc_format("%g", g->config_values[i]));
    fprintf(out, "</table>\n");
}

static void params_section(const PlanFigures *f, FILE *out)
{
    fprintf(out, "<h3>Parameters by component</h3><table><tr><th>component</th><th>parameters</th>"
                 "<th>bytes (float32)</th><th>share</th></tr>\n");
    ReportBar bars[C_COUNT];
    int nbars = 0;
    for (int c = 0; c <= C_COUNT; c++) {
        if (c == C_OTHER && !f->params[c])
            continue;
        const char *name = c < C_COUNT ? plan_component_names[c] : "total";
        fprintf(out, "<tr><td>%s</td><td class='n'>%s</td><td class='n'>%s</td><td class='n'>%.1f%%"
                     "</td></tr>\n", name, grouped(f->params[c]), grouped(f->bytes[c]),
                f->params[C_COUNT] ? 100.0 * f->params[c] / f->params[C_COUNT] : 0.0);
        if (c < C_COUNT)
            bars[nbars++] = (ReportBar){name, (double)f->params[c]};
    }
    fprintf(out, "</table>\n");
    for (int i = 0; i < f->ntied; i++)
        fprintf(out, "<p class='note'><code>%s</code> is read by several components: counted once, "
                     "under the first of embeddings, attention, MLP, norms, head.</p>\n",
                report_escape(f->tied[i]));
    report_bar_chart(out, "parameters by component", bars, nbars, count_str);
}

static void model_section(const Graph *g, const PlanFigures *f, FILE *out)
{
    fprintf(out, "<h2 id='model'>The model</h2>\n<div class='scroll'>");
    report_diagram(g, out);
    fprintf(out, "</div><p class='note'>One block of each stack is drawn; the dashed frame repeats. "
                 "Each small square in an attention box is a head (alternate shades: the groups "
                 "that share one key/value head).</p>\n");
    config_table(g, out);
    params_section(f, out);
}

/* Lengths worth showing: 1, powers of 4 from 16, and the maximum. */
static int sample_lengths(const Graph *g, int64_t *ns)
{
    int64_t top = longest(g);
    int k = 0;
    ns[k++] = 1;
    for (int64_t n = 16; n < top && k < 6; n *= 4)
        ns[k++] = n;
    if (top > 1)
        ns[k++] = top;
    return k;
}

static void flops_table(const Graph *g, FILE *out)
{
    int64_t ns[8], len[MAX_INPUTS + 2];
    int k = sample_lengths(g, ns);
    fprintf(out, "<h3>FLOPs per token</h3><p class='note'>2\xc2\xb7m\xc2\xb7n\xc2\xb7k per matrix "
                 "product; attention 4\xc2\xb7head_dim per query-key pair and head the kernel visits; "
                 "1 per output element of other ops (as <code>tfc --plan</code>).</p>\n");
    fprintf(out, "<table><tr><th>tokens</th><th>prompt: FLOPs of the call</th><th>per token</th>"
                 "%s</tr>\n", g->cache_sym ? "<th>cached step at this context: FLOPs</th>" : "");
    for (int i = 0; i < k; i++) {
        PlanFigures p, s;
        prompt_lengths(g, ns[i], len);
        plan_figures(g, len, 0, &p);
        fprintf(out, "<tr><td class='n'>%lld</td><td class='n'>%s</td><td class='n'>%s</td>",
                (long long)ns[i], grouped(p.flops_total), grouped(p.flops_total / ns[i]));
        if (g->cache_sym) {
            step_lengths(g, ns[i], len);
            plan_figures(g, len, g->enc_end, &s);
            fprintf(out, "<td class='n'>%s</td>", grouped(s.flops_total));
        }
        fprintf(out, "</tr>\n");
    }
    fprintf(out, "</table>\n");
    if (!g->cache_sym)
        fprintf(out, "<p class='note'>No KV cache (the model has no causal self-attention, or "
                     "-fno-kv-cache): every call runs the whole sequence.</p>\n");
    else if (g->enc_end)
        fprintf(out, "<p class='note'>A cached step runs the decoder only; the encoder ran once, "
                     "over a source of the same length.</p>\n");
}

static int64_t output_bytes(const Graph *g, const int64_t *len)
{
    const Shape *s = &g->nodes[g->output].shape;
    int64_t n = 4;
    for (int d = 0; d < s->ndim; d++)
        n *= s->d[d].sym ? len[s->d[d].sym] : s->d[d].n;
    return n;
}

static void memory_table(const Graph *g, const PlanFigures *f, FILE *out)
{
    int64_t len[MAX_INPUTS + 2], top = longest(g);
    prompt_lengths(g, top, len);
    fprintf(out, "<h3>Memory by kind</h3><table><tr><th>kind</th><th>bytes</th><th></th></tr>\n");
    fprintf(out, "<tr><td>weights</td><td class='n'>%s</td><td>%s, %s</td></tr>\n",
            grouped(f->bytes[C_COUNT]), plan_bytes_str(f->bytes[C_COUNT]),
            f->dtype_params[DT_Q8] ? "the int8 ones (--quantize int8: a byte a value and a float scale "
                                     "a block of 32) made at open, the float32 ones mapped from the file"
                                   : "float32, mapped from the file, not copied");
    fprintf(out, "<tr><td>arena</td><td class='n'>%s</td><td>%s, every intermediate, longest inputs "
                 "(lower bound %s)</td></tr>\n", grouped(g->arena_bytes), plan_bytes_str(g->arena_bytes),
            plan_bytes_str(g->plan->lower_bound));
    if (g->cache_sym)
        fprintf(out, "<tr><td>arena, one step</td><td class='n'>%s</td><td>of the arena, what a cached "
                     "step touches</td></tr>\n", grouped(g->step_arena_bytes));
    fprintf(out, "<tr><td>KV cache</td><td class='n'>%s</td><td>%s: %s bytes per token, persistent</td></tr>\n",
            grouped(g->cache_bytes), plan_bytes_str(g->cache_bytes), grouped(plan_kv_bytes_per_token(g)));
    fprintf(out, "<tr><td>output</td><td class='n'>%s</td><td>the caller's <code>%s</code> %s, "
                 "longest inputs</td></tr>\n", grouped(output_bytes(g, len)),
            report_escape(g->output_name), report_escape(ir_shape_str(g, g->nodes[g->output].shape)));
    fprintf(out, "</table>\n");
}

/* The generated header's PREFIX_memory_bytes(lengths, ctx), evaluated. */
static void formula_table(const Graph *g, const PlanFigures *f, FILE *out)
{
    int64_t ns[8], len[MAX_INPUTS + 2];
    int k = sample_lengths(g, ns);
    int64_t kv = plan_kv_bytes_per_token(g);
    fprintf(out, "<h3>The header's memory formula</h3><p>The generated header states "
                 "<code>memory_bytes(lengths, ctx) = WEIGHT_BYTES + arena_bytes(lengths) + ctx "
                 "\xc3\x97 KV_BYTES_PER_TOKEN</code> with WEIGHT_BYTES = %s and KV_BYTES_PER_TOKEN = "
                 "%s; <code>arena_bytes</code> is the highest end of the planned buffers at those "
                 "lengths. At inputs of n tokens and a context of n:</p>\n",
            grouped(f->bytes[C_COUNT]), grouped(kv));
    fprintf(out, "<table><tr><th>n</th><th>arena_bytes</th><th>KV cache</th><th>memory_bytes</th>"
                 "<th></th></tr>\n");
    for (int i = 0; i < k; i++) {
        prompt_lengths(g, ns[i], len);
        int64_t arena = plan_arena_need(g, len), cache = g->cache_sym ? kv * ns[i] : 0;
        int64_t total = f->bytes[C_COUNT] + arena + cache;
        fprintf(out, "<tr><td class='n'>%lld</td><td class='n'>%s</td><td class='n'>%s</td>"
                     "<td class='n'>%s</td><td>%s</td></tr>\n", (long long)ns[i], grouped(arena),
                grouped(cache), grouped(total), plan_bytes_str(total));
    }
    fprintf(out, "</table>\n");
}

static void cost_section(const Graph *g, const PlanFigures *f, FILE *out)
{
    fprintf(out, "<h2 id='cost'>Cost</h2>\n");
    flops_table(g, out);
    memory_table(g, f, out);
    formula_table(g, f, out);
}

static void plan_section(const Graph *g, FILE *out)
{
    fprintf(out, "<h2 id='plan'>Memory plan</h2><p>The arena over the schedule: one rectangle per "
                 "buffer, its steps across and its bytes down; the red line is the step where the "
                 "most bytes are live, the lower bound no plan can beat (the picture of "
                 "<code>tfc --plan=svg</code>).</p>\n<div class='scroll'>\n");
    plan_report(g, PLAN_SVG, out);
    fprintf(out, "</div>\n");
}

static const char *percent(double v) { return tfc_format("%.3g%%", v); }

/* The per-layer error of --quant-report (quant_measure's numbers). */
static void quant_section(const Graph *g, const ReportRun *run, FILE *out)
{
    if (!g->q8_layers && !run->quant)
        return;
    fprintf(out, "<h2 id='quantization'>Quantization</h2>\n");
    const QuantMeasure *q = run->quant;
    if (!q) {
        fprintf(out, "<p>No quantization numbers: %s.</p>\n", run->quant_why_not ? run->quant_why_not
                : "the page was made without weights (the error of int8 is measured on them)");
        return;
    }
    fprintf(out, "<p><code>--quantize int8</code>: %d linear layers int8 (blocks of 32 values, a "
                 "float scale each), %d kept float32. The numbers of <code>--quant-report</code>: per "
                 "layer, the relative RMS error of the dequantized weights, \xe2\x80\x96W \xe2\x88\x92 "
                 "deq(q(W))\xe2\x80\x96 / \xe2\x80\x96W\xe2\x80\x96%s.</p>\n", g->q8_layers,
            g->fp32_layers, q->outputs ? tfc_format(", and of each layer's output against the "
            "float32 model's over the prompt's %lld tokens, \xe2\x80\x96y8 \xe2\x88\x92 y32\xe2\x80\x96 / "
            "\xe2\x80\x96y32\xe2\x80\x96 (it includes what reaches the layer from the layers before)",
            (long long)q->tokens) : "");
    ReportBar *bars = tfc_alloc((size_t)(q->n + 1) * sizeof *bars);
    for (int i = 0; i < q->n; i++)
        bars[i] = (ReportBar){q->layers[i].name, 100 * q->layers[i].weight_rel_rms};
    fprintf(out, "<div class='scaling'>");
    report_bar_chart(out, "weights: relative RMS error, %", bars, q->n, percent);
    if (q->outputs) {
        for (int i = 0; i < q->n; i++)
            bars[i] = (ReportBar){q->layers[i].name, 100 * q->layers[i].output_rel_rms};
        report_bar_chart(out, "outputs: relative RMS error, %", bars, q->n, percent);
    }
    fprintf(out, "</div>\n");
    if (q->outputs)
        fprintf(out, "<p>End to end over %lld next-token predictions: top-1 agreement with float32 "
                     "%.2f%%, mean KL(fp32 \xe2\x80\x96 int8) %.3g nats, loss %.4f \xe2\x86\x92 %.4f.</p>\n",
                (long long)q->predictions, 100 * q->top1, q->kl, q->loss32, q->loss8);
    else if (!quant_is_language_model(g))
        fprintf(out, "<p class='note'>The outputs' error is measured on a language model (one "
                     "token input, logits for every position) running over a text; this model is "
                     "not one, so only the weights' error is shown.</p>\n");
    else
        fprintf(out, "<p class='note'>The outputs' error needs a text the model runs over: "
                     "give <code>--prompt</code> or <code>-f</code>.</p>\n");
}

void report_write(const Graph *g, const ReportSource *src, const ReportRun *run, FILE *out)
{
    static const ReportRun none;
    if (!run)
        run = &none;
    if (!g->plan)
        tfc_bug("report_write before planning");
    PlanFigures f;
    plan_figures(g, NULL, 0, &f);
    header(g, out);
    model_section(g, &f, out);
    cost_section(g, &f, out);
    report_scaling(g, src, out);
    plan_section(g, out);
    report_attention_section(run->attention, out);
    quant_section(g, run, out);
    fprintf(out, "</body></html>\n");
}
