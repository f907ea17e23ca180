/*
 * plan_report.c - `tfc M --plan`: what a model costs, before it runs.
 *
 * Requires: a planned graph (g->plan).  Prints, for the lengths the graph
 * was planned at: parameters and weight bytes by component, FLOPs of one
 * forward pass, every arena buffer with its live range, and the arena
 * against its lower bound.  Three forms: text, JSON (the schema is in
 * docs/memory-planning.md) and an SVG picture of the arena over time.
 *
 * Conventions (docs/memory-planning.md has the reasons):
 *  - components: a weight belongs to the op that reads it.  EMBED: the
 *    embeddings; LAYERNORM/RMSNORM: norms; the MATMUL that writes the
 *    output: head; a MATMUL whose result reaches an ATTENTION without
 *    passing another MATMUL, or that reads what an ATTENTION wrote the
 *    same way: attention; any other MATMUL: MLP.  A weight read by several
 *    ops (a head tied to the token embedding) counts once, under the
 *    first of embeddings, attention, MLP, norms, head.
 *  - FLOPs: 2*m*n*k per matrix product; attention 4*head_dim per (query,
 *    key) pair and head that the kernel visits (QK^T and AV; a causal
 *    query at position p visits p+1 keys); every other op that computes
 *    (norms, activations, adds, bias adds, rotary) 1 per output element;
 *    lookups, slices and cache copies 0.
 */
#include "report.h"
#include "tfc.h"

#include <string.h>

typedef PlanFigures Figures;

const char *const plan_component_names[C_COUNT] = {
    "embeddings", "attention", "mlp", "norms", "head", "other",
};
#define component_names plan_component_names

/* ---- components --------------------------------------------------------- */

/* Whether node `from`'s value reaches an ATTENTION input (forward) without
 * passing through another MATMUL. */
static int feeds_attention(const Graph *g, int from)
{
    for (int i = from + 1; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int j = 0; j < MAX_ARGS; j++)
            if (n->in[j] == from) {
                if (n->op == OP_ATTENTION)
                    return 1;
                if (n->op != OP_MATMUL && feeds_attention(g, i))
                    return 1;
            }
    }
    return 0;
}

/* Whether node id's value comes from an ATTENTION (backward) without
 * passing through a MATMUL. */
static int after_attention(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    if (n->op == OP_ATTENTION)
        return 1;
    if (n->op == OP_MATMUL || n->op == OP_WEIGHT || n->op == OP_INPUT)
        return 0;
    for (int j = 0; j < MAX_ARGS; j++)
        if (n->in[j] >= 0 && after_attention(g, n->in[j]))
            return 1;
    return 0;
}

static int matmul_component(const Graph *g, int id)
{
    if (id == g->output)
        return C_HEAD;
    if (feeds_attention(g, id) || after_attention(g, g->nodes[id].in[0]))
        return C_ATTN;
    return C_MLP;
}

static int reader_component(const Graph *g, int reader)
{
    switch (g->nodes[reader].op) {
    case OP_EMBED: return C_EMBED;
    case OP_LAYERNORM:
    case OP_RMSNORM: return C_NORM;
    case OP_MATMUL: return matmul_component(g, reader);
    case OP_CONCAT:   /* a stacked weight: the matmul that reads it */
        for (int i = reader + 1; i < g->count; i++)
            for (int j = 0; !g->nodes[i].dead && j < MAX_ARGS; j++)
                if (g->nodes[i].in[j] == reader)
                    return reader_component(g, i);
        return C_OTHER;
    default: return C_OTHER;
    }
}

/* The component of weight w: the smallest over its readers (the order of
 * the enum), so a tied head counts under the embeddings. */
static int weight_component(const Graph *g, int w, int *tied)
{
    int best = C_COUNT, seen = -1;
    *tied = 0;
    for (int i = w + 1; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        for (int j = 0; !n->dead && j < MAX_ARGS; j++) {
            if (n->in[j] != w)
                continue;
            int c = reader_component(g, i);
            if (seen >= 0 && c != seen)
                *tied = 1;
            seen = c;
            if (c < best)
                best = c;
        }
    }
    return best == C_COUNT ? C_OTHER : best;
}

/* Lengths: len[sym] for every symbol (a cache's pos+seq symbol too), or
 * NULL for the maxima the graph was planned at. */
static int64_t sym_len(const Graph *g, const int64_t *len, Dim d)
{
    return d.sym && len ? len[d.sym] : ir_dim_max(g, d);
}

static int64_t elems_at(const Graph *g, const int64_t *len, int id)
{
    const Shape *s = &g->nodes[id].shape;
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++)
        n *= sym_len(g, len, s->d[d]);
    return n;
}

static int64_t elems(const Graph *g, int id) { return elems_at(g, NULL, id); }

static int64_t cols(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    return n->shape.d[n->shape.ndim - 1].n;
}

/* Query-key pairs a causal or full attention kernel visits. */
static int64_t attention_pairs(const Graph *g, const int64_t *len, const Node *n)
{
    int64_t q = sym_len(g, len, g->nodes[n->in[0]].shape.d[0]);
    int64_t kv = sym_len(g, len, g->nodes[n->in[1]].shape.d[0]);
    if (!n->attr.attn.causal)
        return q * kv;
    /* queries are the last q of kv positions: query i sees kv - q + i + 1 */
    return q * (kv - q) + q * (q + 1) / 2;
}

/* Node i's FLOPs: [0] matmul, [1] attention, [2] other, [3 + p] the
 * rope of part p of a matmul (other too). */
void plan_node_flops(const Graph *g, const int64_t *len, int i, int64_t flops[PLAN_FLOP_KINDS])
{
    const Node *n = &g->nodes[i];
    memset(flops, 0, PLAN_FLOP_KINDS * sizeof *flops);
    if (n->dead)
        return;
    switch (n->op) {
    case OP_MATMUL: {
        /* the same work whether fused or not: bias, activation, gate,
         * residual and rope count as the ops they replace */
        int64_t rows = elems_at(g, len, i) / cols(g, i), gated = n->attr.matmul.glu ? 2 : 1;
        flops[0] = 2 * rows * cols(g, n->in[0]) * cols(g, i) * gated;
        flops[2] = elems_at(g, len, i) * ((n->in[2] >= 0) * gated + (n->attr.matmul.act != ACT_NONE)
                                          + (gated == 2) + (n->in[3] >= 0));
        for (int p = 0; p < n->attr.matmul.parts; p++)
            flops[3 + p] = n->attr.matmul.rope_heads[p] ? rows * n->attr.matmul.part_cols[p] : 0;
        break;
    }
    case OP_ATTENTION: {
        int64_t head_dim = cols(g, n->in[0]) / n->attr.attn.heads;
        flops[1] = 4 * head_dim * n->attr.attn.heads * attention_pairs(g, len, n);
        break;
    }
    case OP_INPUT: case OP_WEIGHT: case OP_POSITIONS: case OP_EMBED: case OP_SLICE:
    case OP_CACHE: case OP_CONCAT:
        break;
    default:
        flops[2] = elems_at(g, len, i);
        break;
    }
}

static void count_flops(const Graph *g, const int64_t *len, int from, Figures *f)
{
    for (int i = from; i < g->count; i++) {
        int64_t k[PLAN_FLOP_KINDS];
        plan_node_flops(g, len, i, k);
        f->flops_matmul += k[0];
        f->flops_attention += k[1];
        for (int j = 2; j < PLAN_FLOP_KINDS; j++)
            f->flops_other += k[j];
    }
}

void plan_figures(const Graph *g, const int64_t *len, int from, PlanFigures *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_WEIGHT)
            continue;
        int tied, c = weight_component(g, i, &tied);
        int64_t bytes = dtype_bytes(n->dtype, elems(g, i));
        f->params[c] += elems(g, i);
        f->params[C_COUNT] += elems(g, i);
        f->bytes[c] += bytes;
        f->bytes[C_COUNT] += bytes;
        f->dtype_params[n->dtype] += elems(g, i);
        if (tied && f->ntied < 8)
            f->tied[f->ntied++] = n->attr.weight.ckpt;
    }
    count_flops(g, len, from, f);
    f->flops_total = f->flops_matmul + f->flops_attention + f->flops_other;
}

static void figures(const Graph *g, Figures *f) { plan_figures(g, NULL, 0, f); }

int64_t plan_weight_bytes(const Graph *g)
{
    Figures f;
    figures(g, &f);
    return f.bytes[C_COUNT];
}

/* The arena a planned graph touches for inputs of len[sym] tokens (a
 * cached sequence counted from an empty cache): the highest end of its
 * buffers, each a prefix of its slot. */
int64_t plan_arena_need(const Graph *g, const int64_t *len)
{
    int64_t need = 0;
    for (int i = 0; i < g->count; i++) {
        if (!g->plan->bytes[i])
            continue;
        const Shape *s = &g->nodes[i].shape;
        int64_t bytes = dtype_bytes(g->nodes[i].dtype, 1);
        for (int d = 0; d < s->ndim; d++) {
            int sym = s->d[d].sym;
            if (sym && g->syms[sym].past)
                sym = g->syms[sym].past;
            bytes *= sym ? len[sym] : s->d[d].n;
        }
        bytes = (bytes + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
        if (g->nodes[i].offset + bytes > need)
            need = g->nodes[i].offset + bytes;
    }
    /* the int8 layers' scratch: reserved for the longest inputs */
    if (g->scratch_bytes && g->scratch_offset + g->scratch_bytes > need)
        need = g->scratch_offset + g->scratch_bytes;
    return need;
}

int64_t plan_kv_bytes_per_token(const Graph *g)
{
    int64_t kv = 0;
    for (int i = 0; i < g->count; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_CACHE)
            kv += dtype_bytes(g->nodes[i].dtype, g->nodes[i].shape.d[1].n);
    return kv;
}

/* ---- text ---------------------------------------------------------------- */


const char *plan_bytes_str(int64_t bytes)
{
    if (bytes >= 1 << 20)
        return tfc_format("%.2f MiB", bytes / 1048576.0);
    if (bytes >= 1 << 10)
        return tfc_format("%.1f KiB", bytes / 1024.0);
    return tfc_format("%lld B", (long long)bytes);
}

static const char *lengths(const Graph *g)
{
    const char *s = "";
    for (int i = 1; i < g->nsyms; i++)
        if (!g->syms[i].past)
            s = tfc_format("%s%s%s = %lld", s, *s ? ", " : "", g->syms[i].name,
                           (long long)g->syms[i].max);
    return *s ? s : "(no symbolic length)";
}

static double ratio(const Graph *g)
{
    /* the buffers' arena: the int8 scratch is no buffer of the plan */
    int64_t arena = g->scratch_bytes ? g->scratch_offset : g->arena_bytes;
    return g->plan->lower_bound ? (double)arena / (double)g->plan->lower_bound : 1.0;
}

static void text_buffers(const Graph *g, FILE *out)
{
    const Plan *p = g->plan;
    fprintf(out, "\nBuffers (steps are node ids; live from the step that writes to the last that reads):\n");
    fprintf(out, "  %-24s %-14s %12s %12s %6s %6s  %s\n", "name", "shape", "bytes", "offset", "first",
            "last", "note");
    for (int i = 0; i < g->count; i++) {
        if (!p->bytes[i])
            continue;
        const Node *n = &g->nodes[i];
        const char *note = p->alias[i] >= 0
            ? tfc_format("in place of %s", g->nodes[p->alias[i]].name) : "";
        fprintf(out, "  %-24s %-14s %12lld %12lld %6d %6d  %s\n", n->name,
                ir_shape_str(g, n->shape), (long long)p->bytes[i], (long long)n->offset,
                p->first[i], p->last[i], note);
    }
}

/* What the fusion pass did, and what it bought: kernel calls and arena
 * against the same graph planned without it. */
static void text_fusion(const Graph *g, FILE *out)
{
    int calls = kprog_build(g, 0, g->count, 0)->count;
    fprintf(out, "\nFusion (-fno-fuse switches it off, -fno-fuse-RULE one rule):\n");
    if (!g->unfused_calls) {
        fprintf(out, "  off: %d kernel calls in a forward pass\n", calls);
        return;
    }
    fprintf(out, "  kernel calls   %5d in a forward pass  (%d without fusion)\n", calls, g->unfused_calls);
    fprintf(out, "  arena        %14lld bytes  (%lld without fusion)\n", (long long)g->arena_bytes,
            (long long)g->unfused_arena_bytes);
    if (g->cache_sym)
        fprintf(out, "  step arena   %14lld bytes  (%lld without fusion)\n",
                (long long)g->step_arena_bytes, (long long)g->unfused_step_arena_bytes);
    for (int r = 0; r < fuse_nrules; r++)
        fprintf(out, "  %-9s %4d  %s\n", fuse_rules[r].name, g->fused[r], fuse_rules[r].purpose);
}

/* --tp N: what one rank holds, and what the ranks exchange per token
 * (docs/parallelism.md has the formula).  The payloads are what
 * tfrt_comm_bytes counts. */
static void text_tp(const Graph *g, FILE *out)
{
    int64_t reduce = shard_allreduce_floats_per_token(g) * 4, rows = 0, n = g->tp;
    for (int i = 0; i < g->count; i++)
        rows += !g->nodes[i].dead && g->nodes[i].op == OP_MATMUL && g->nodes[i].attr.matmul.tp == TP_ROW;
    fprintf(out, "\nTensor parallelism (--tp %d): every figure above is one rank's\n", g->tp);
    fprintf(out, "  all-reduces   %d a token (one after each row-parallel layer), %lld bytes summed a token\n",
            (int)rows, (long long)reduce);
    fprintf(out, "                (a ring all-reduce sends and receives 2 x (N-1)/N of it: %lld bytes a rank)\n",
            (long long)(2 * reduce * (n - 1) / n));
    if (!shard_split_head(g))
        return;
    int64_t cols = shard_head_cols(g), row = (n - 1) * cols * 4, k = 40;
    fprintf(out, "  the head      %lld vocabulary rows a rank; choosing a token moves, beside the all-reduces:\n",
            (long long)cols);
    fprintf(out, "    greedy          8 bytes, one MAXLOC all-reduce of (logit, id): %lld bytes a greedy token\n",
            (long long)(reduce + 8));
    if (2 * (k + 1) < cols)
        fprintf(out, "    top-k k         8 + 8 x (k+1) x (N-1) bytes, each rank's k+1 best all-gathered "
                     "(k = %lld: %lld bytes)\n", (long long)k, (long long)(8 + 8 * (k + 1) * (n - 1)));
    else
        fprintf(out, "    top-k k         8 + 8 x (k+1) x (N-1) bytes, each rank's k+1 best all-gathered, "
                     "or the row when 2 x (k+1) >= %lld\n", (long long)cols);
    fprintf(out, "    top-p, beams    8 + %lld bytes to every rank: the logits all-gathered (beams: %lld)\n",
            (long long)row, (long long)row);
    fprintf(out, "    --logits        %lld bytes to rank 0 a row: the logits gathered there\n", (long long)row);
}

static void text_report(const Graph *g, const Figures *f, FILE *out)
{
    const Plan *p = g->plan;
    fprintf(out, "Model %s (%s), planned for %s\n\n", g->model, g->source, lengths(g));
    if (f->dtype_params[DT_Q8])
        fprintf(out, "Parameters (%lld of %lld quantized to int8 blocks of %d at open, %d bytes a "
                     "block; the rest float32, mapped from the file):\n",
                (long long)f->dtype_params[DT_Q8], (long long)f->params[C_COUNT], dtypes[DT_Q8].block,
                dtypes[DT_Q8].block_bytes);
    else
        fprintf(out, "Parameters (float32 weights, mapped from the file):\n");
    for (int c = 0; c <= C_COUNT; c++) {
        if (c < C_COUNT && !f->params[c] && c == C_OTHER)
            continue;
        fprintf(out, "  %-12s %14lld params %14lld bytes  %5.1f%%\n",
                c < C_COUNT ? component_names[c] : "total", (long long)f->params[c],
                (long long)f->bytes[c],
                f->params[C_COUNT] ? 100.0 * f->params[c] / f->params[C_COUNT] : 0.0);
    }
    for (int i = 0; i < f->ntied; i++)
        fprintf(out, "  (%s is read by several components: counted once)\n", f->tied[i]);
    int64_t total = f->flops_matmul + f->flops_attention + f->flops_other;
    fprintf(out, "\nFLOPs of one forward pass (%s):\n", lengths(g));
    fprintf(out, "  matmul     %16lld  (2*m*n*k)\n", (long long)f->flops_matmul);
    fprintf(out, "  attention  %16lld  (QK^T and AV over the pairs the kernel visits)\n",
            (long long)f->flops_attention);
    fprintf(out, "  other      %16lld  (1 per output element of norms, activations, adds)\n",
            (long long)f->flops_other);
    fprintf(out, "  total      %16lld  (%.3f GFLOP)\n", (long long)total, total / 1e9);
    text_buffers(g, out);
    fprintf(out, "\nMemory:\n");
    fprintf(out, "  weights      %14lld bytes  (%s, %s)\n", (long long)f->bytes[C_COUNT],
            plan_bytes_str(f->bytes[C_COUNT]), f->dtype_params[DT_Q8] ? "the int8 ones made at open, the f32 "
                                                             "ones mapped" : "mapped, not copied");
    fprintf(out, "  kv cache     %14lld bytes  (%s, persistent)\n", (long long)g->cache_bytes,
            plan_bytes_str(g->cache_bytes));
    fprintf(out, "  arena        %14lld bytes  (%s; %d buffers from %s)\n", (long long)g->arena_bytes,
            plan_bytes_str(g->arena_bytes), p->buffers, p->heuristic);
    if (g->scratch_bytes)
        fprintf(out, "  of it, int8  %14lld bytes  (%s at %lld: the int8 layers' activations, quantized)\n",
                (long long)g->scratch_bytes, plan_bytes_str(g->scratch_bytes), (long long)g->scratch_offset);
    fprintf(out, "  lower bound  %14lld bytes  (%s live at step %d, %s)\n", (long long)p->lower_bound,
            plan_bytes_str(p->lower_bound), p->peak_step, g->nodes[p->peak_step].name);
    fprintf(out, "  arena / lower bound  %.4f\n", ratio(g));
    fprintf(out, "  without reuse  %12lld bytes  (%s; the arena is %.1f%% of it)\n",
            (long long)p->no_reuse, plan_bytes_str(p->no_reuse),
            p->no_reuse ? 100.0 * g->arena_bytes / p->no_reuse : 0.0);
    if (g->tp > 1)
        text_tp(g, out);
    text_fusion(g, out);
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_shape(const Graph *g, const Shape *s, FILE *out)
{
    fputc('[', out);
    for (int d = 0; d < s->ndim; d++)
        fprintf(out, "%s%lld", d ? ", " : "", (long long)ir_dim_max(g, s->d[d]));
    fputc(']', out);
}

static void json_nodes(const Graph *g, FILE *out)
{
    const Plan *p = g->plan;
    fprintf(out, "  \"nodes\": [\n");
    int first = 1;
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        fprintf(out, "%s    {\"id\": %d, \"name\": \"%s\", \"op\": \"%s\", \"dtype\": \"%s\", \"shape\": ",
                first ? "" : ",\n", i, n->name, op_names[n->op], dtypes[n->dtype].name);
        json_shape(g, &n->shape, out);
        fprintf(out, ", \"inputs\": [");
        for (int j = 0, k = 0; j < MAX_ARGS; j++)
            if (n->in[j] >= 0)
                fprintf(out, "%s%d", k++ ? ", " : "", n->in[j]);
        int gated = n->op == OP_MATMUL && n->attr.matmul.glu;
        fprintf(out, "], \"inplace_op\": %s, \"in_arena\": %s",
                op_flags[n->op] & OPF_INPLACE ? "true" : "false", p->bytes[i] ? "true" : "false");
        if (n->op == OP_MATMUL && n->in[3] >= 0)
            fprintf(out, ", \"residual\": %d", n->in[3]);
        if (n->op == OP_MATMUL && n->attr.matmul.act)
            fprintf(out, ", \"act\": \"%s\"", act_names[n->attr.matmul.act]);
        if (plan_is_view(g, i))
            fprintf(out, ", \"view_of\": %d", n->in[0]);
        fprintf(out, ", \"inlined\": %s, \"gated\": %s}", n->inlined ? "true" : "false",
                gated ? "true" : "false");
        first = 0;
    }
    fprintf(out, "\n  ],\n");
}

static void json_buffers(const Graph *g, FILE *out)
{
    const Plan *p = g->plan;
    fprintf(out, "  \"buffers\": [\n");
    int first = 1;
    for (int i = 0; i < g->count; i++) {
        if (!p->bytes[i])
            continue;
        const Node *n = &g->nodes[i];
        fprintf(out, "%s    {\"node\": %d, \"name\": \"%s\", \"shape\": ", first ? "" : ",\n", i, n->name);
        json_shape(g, &n->shape, out);
        fprintf(out, ", \"bytes\": %lld, \"offset\": %lld, \"first\": %d, \"last\": %d, "
                     "\"free_after\": %d, \"inplace_of\": ",
                (long long)p->bytes[i], (long long)n->offset, p->first[i], p->last[i], p->free_at[i]);
        if (p->alias[i] >= 0)
            fprintf(out, "%d}", p->alias[i]);
        else
            fprintf(out, "null}");
        first = 0;
    }
    fprintf(out, "\n  ],\n");
}

static void json_report(const Graph *g, const Figures *f, FILE *out)
{
    const Plan *p = g->plan;
    fprintf(out, "{\n  \"schema\": \"tfc-plan/1\",\n  \"model\": \"%s\",\n  \"source\": \"%s\",\n",
            g->model, g->source);
    fprintf(out, "  \"lengths\": {");
    for (int i = 1, k = 0; i < g->nsyms; i++)
        if (!g->syms[i].past)
            fprintf(out, "%s\"%s\": %lld", k++ ? ", " : "", g->syms[i].name, (long long)g->syms[i].max);
    fprintf(out, "},\n  \"params\": {");
    for (int c = 0; c <= C_COUNT; c++)
        fprintf(out, "%s\"%s\": %lld", c ? ", " : "", c < C_COUNT ? component_names[c] : "total",
                (long long)f->params[c]);
    fprintf(out, "},\n  \"weight_bytes\": %lld,\n  \"weight_params_by_dtype\": {",
            (long long)f->bytes[C_COUNT]);
    for (int d = 0; d < DT_COUNT_; d++)
        fprintf(out, "%s\"%s\": %lld", d ? ", " : "", dtypes[d].name, (long long)f->dtype_params[d]);
    fprintf(out, "},\n  \"tied\": [");
    for (int i = 0; i < f->ntied; i++)
        fprintf(out, "%s\"%s\"", i ? ", " : "", f->tied[i]);
    fprintf(out, "],\n  \"flops\": {\"matmul\": %lld, \"attention\": %lld, \"other\": %lld, \"total\": %lld},\n",
            (long long)f->flops_matmul, (long long)f->flops_attention, (long long)f->flops_other,
            (long long)(f->flops_matmul + f->flops_attention + f->flops_other));
    fprintf(out, "  \"steps\": %d,\n  \"output\": %d,\n  \"encode_steps\": %d,\n  \"alignment\": %d,\n",
            g->count, g->output, g->enc_end, PLAN_ALIGN);
    json_nodes(g, out);
    json_buffers(g, out);
    fprintf(out, "  \"kv_cache_bytes\": %lld,\n  \"step_arena_bytes\": %lld,\n",
            (long long)g->cache_bytes, (long long)g->step_arena_bytes);
    fprintf(out, "  \"scratch_offset\": %lld,\n  \"scratch_bytes\": %lld,\n", (long long)g->scratch_offset,
            (long long)g->scratch_bytes);
    fprintf(out, "  \"arena_bytes\": %lld,\n  \"lower_bound_bytes\": %lld,\n  \"ratio\": %.6f,\n",
            (long long)g->arena_bytes, (long long)p->lower_bound, ratio(g));
    fprintf(out, "  \"no_reuse_bytes\": %lld,\n  \"peak_step\": %d,\n  \"heuristic\": \"%s\",\n",
            (long long)p->no_reuse, p->peak_step, p->heuristic);
    fprintf(out, "  \"fusion\": {\"kernel_calls\": %d, \"unfused_kernel_calls\": %d, "
                 "\"unfused_arena_bytes\": %lld, \"unfused_step_arena_bytes\": %lld, \"rules\": {",
            kprog_build(g, 0, g->count, 0)->count, g->unfused_calls, (long long)g->unfused_arena_bytes,
            (long long)g->unfused_step_arena_bytes);
    for (int r = 0; r < fuse_nrules; r++)
        fprintf(out, "%s\"%s\": %d", r ? ", " : "", fuse_rules[r].name, g->fused[r]);
    fprintf(out, "}}\n}\n");
}

/* ---- SVG ----------------------------------------------------------------- */

#define SVG_W 1400
#define SVG_PLOT_H 760
#define SVG_LEFT 90
#define SVG_RIGHT 20
#define SVG_TOP 84              /* title, subtitle, then the markers' labels */
#define SVG_BOTTOM 70           /* step numbers, axis title, legend */

static const struct {
    const char *colour, *label;
} legend[] = {
    {"#7aa6da", "matmul"}, {"#e6a15c", "attention"}, {"#9cc98a", "norm"},
    {"#c9a0dc", "slice, first row"}, {"#f2d16b", "add, mul"}, {"#d0d0d0", "other"},
};

static const char *op_colour(Op op)
{
    switch (op) {
    case OP_MATMUL: return legend[0].colour;
    case OP_ATTENTION: return legend[1].colour;
    case OP_LAYERNORM: case OP_RMSNORM: return legend[2].colour;
    case OP_SLICE: case OP_FIRST: return legend[3].colour;
    case OP_ADD: case OP_MUL: return legend[4].colour;
    default: return legend[5].colour;
    }
}

/* The last step node i's storage is its own: the step it is freed, or its
 * own last read when a later node of its in-place chain takes over (that
 * node's rectangle continues the chain).  Values the decoder reads from
 * the encoder stay to the end of the schedule. */
static int storage_end(const Graph *g, int i)
{
    const Plan *p = g->plan;
    for (int k = i + 1; k < g->count && k <= p->free_at[i]; k++)
        if (p->alias[k] == i)
            return p->last[i];
    return p->free_at[i] < g->count ? p->free_at[i] : g->count - 1;
}

/* A round step for about `want` grid lines over `range` bytes: 1, 2 or 5
 * times a power of two of KiB/MiB, so the labels read as whole numbers. */
static int64_t tick_step(int64_t range, int want)
{
    int64_t unit = range >= 1 << 20 ? 1 << 20 : range >= 1 << 10 ? 1 << 10 : 1;
    int64_t step = unit;
    for (int64_t m = unit; range / m > want; m *= 10)
        for (int k = 0; k < 3; k++) {
            static const int f[] = {1, 2, 5};
            step = m * f[k];
            if (range / step <= want)
                return step;
        }
    return step;
}

typedef struct {
    int first_step, steps;
    double xs, ys;               /* pixels per step, per byte */
} Scale;

static double svg_x(const Scale *sc, int step) { return SVG_LEFT + (step - sc->first_step) * sc->xs; }

static void svg_axes(const Graph *g, FILE *out, const Scale *sc)
{
    int64_t arena = g->arena_bytes, dy = tick_step(arena, 10);
    int bottom = SVG_TOP + SVG_PLOT_H;
    fprintf(out, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#333'/>\n", SVG_LEFT,
            SVG_TOP, SVG_W - SVG_LEFT - SVG_RIGHT, SVG_PLOT_H);
    for (int64_t b = 0; dy > 0 && b <= arena; b += dy) {
        double y = SVG_TOP + b * sc->ys;
        fprintf(out, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/>", SVG_LEFT - 4, y,
                SVG_W - SVG_RIGHT, y);
        fprintf(out, "<text x='%d' y='%.1f' font-size='11' text-anchor='end'>%s</text>\n", SVG_LEFT - 6,
                y + 4, plan_bytes_str(b));
    }
    for (int k = 0; k <= 10; k++) {
        int s = sc->first_step + (sc->steps - 1) * k / 10;
        fprintf(out, "<text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%d</text>\n",
                svg_x(sc, s) + sc->xs / 2, bottom + 16, s);
    }
    fprintf(out, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>step (node id): a buffer "
                 "lives from the step that writes it to the last that reads it</text>\n",
            SVG_LEFT + (SVG_W - SVG_LEFT) / 2, bottom + 34);
    fprintf(out, "<text x='16' y='%d' font-size='12' transform='rotate(-90 16 %d)' "
                 "text-anchor='middle'>arena offset (bytes from the start, down)</text>\n",
            SVG_TOP + SVG_PLOT_H / 2, SVG_TOP + SVG_PLOT_H / 2);
    double x = SVG_LEFT;
    for (size_t k = 0; k < sizeof legend / sizeof legend[0]; k++) {
        fprintf(out, "<rect x='%.0f' y='%d' width='12' height='12' fill='%s' stroke='#333' "
                     "stroke-width='0.5'/><text x='%.0f' y='%d' font-size='12'>%s</text>\n",
                x, bottom + 48, legend[k].colour, x + 16, bottom + 58, legend[k].label);
        x += 36 + 5.8 * (double)strlen(legend[k].label);
    }
}

static void svg_buffer(const Graph *g, FILE *out, int i, const Scale *sc)
{
    const Plan *p = g->plan;
    const Node *n = &g->nodes[i];
    int end = storage_end(g, i);
    double x = svg_x(sc, p->first[i]), w = (end - p->first[i] + 1) * sc->xs;
    double y = SVG_TOP + n->offset * sc->ys, h = p->bytes[i] * sc->ys;
    if (h < 0.5)
        h = 0.5;
    fprintf(out, "<g><title>%s %s: %lld bytes at %lld, steps %d..%d%s%s</title>", n->name,
            ir_shape_str(g, n->shape), (long long)p->bytes[i], (long long)n->offset, p->first[i], end,
            p->alias[i] >= 0 ? tfc_format(", in place of %s", g->nodes[p->alias[i]].name) : "",
            n->persist ? ", kept for decode" : "");
    fprintf(out, "<rect x='%.2f' y='%.2f' width='%.2f' height='%.2f' fill='%s' stroke='#333' "
                 "stroke-width='0.5'/>", x, y, w, h, op_colour(n->op));
    /* a label where it fits, turned when the box is tall and narrow */
    size_t len = strlen(n->name);
    if (w >= len * 6.0 && h >= 11)
        fprintf(out, "<text x='%.2f' y='%.2f' font-size='10'>%s</text>", x + 2, y + 10, n->name);
    else if (h >= len * 6.0 && w >= 11)
        fprintf(out, "<text x='%.2f' y='%.2f' font-size='10' transform='rotate(90 %.2f %.2f)'>%s</text>",
                x + 3, y + 2, x + 3, y + 2, n->name);
    fprintf(out, "</g>\n");
}

/* A dashed vertical line across the plot at x, with a label `above`
 * pixels above the plot, turned toward the inside near the right edge. */
static void svg_marker(FILE *out, double x, int above, const char *colour, const char *label)
{
    int right = x > SVG_W / 2;
    fprintf(out, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='%s' stroke-width='2' "
                 "stroke-dasharray='6 3'/>\n", x, SVG_TOP - 4, x, SVG_TOP + SVG_PLOT_H, colour);
    fprintf(out, "<text x='%.1f' y='%d' font-size='12' fill='%s' text-anchor='%s'>%s</text>\n",
            x + (right ? -4 : 4), SVG_TOP - above, colour, right ? "end" : "start", label);
}

static void svg_report(const Graph *g, FILE *out)
{
    const Plan *p = g->plan;
    Scale sc = {g->count, 0, 1, 1};
    int last_step = 0;
    for (int i = 0; i < g->count; i++)
        if (p->bytes[i]) {
            if (p->first[i] < sc.first_step)
                sc.first_step = p->first[i];
            if (storage_end(g, i) > last_step)
                last_step = storage_end(g, i);
        }
    if (sc.first_step > last_step)
        sc.first_step = last_step = 0;
    sc.steps = last_step - sc.first_step + 1;
    sc.xs = (double)(SVG_W - SVG_LEFT - SVG_RIGHT) / sc.steps;
    sc.ys = g->arena_bytes ? (double)SVG_PLOT_H / (double)g->arena_bytes : 1.0;
    fprintf(out, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
                 "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
            SVG_W, SVG_TOP + SVG_PLOT_H + SVG_BOTTOM);
    fprintf(out, "<text x='%d' y='22' font-size='16'>%s: arena %s, lower bound %s (ratio %.4f), "
                 "%s without reuse</text>\n",
            SVG_LEFT, g->model, plan_bytes_str(g->arena_bytes), plan_bytes_str(p->lower_bound), ratio(g), plan_bytes_str(p->no_reuse));
    fprintf(out, "<text x='%d' y='42' font-size='12'>planned for %s; %d buffers (%s); one rectangle "
                 "per buffer: its steps across, its bytes down (hover for details)</text>\n",
            SVG_LEFT, lengths(g), p->buffers, p->heuristic);
    svg_axes(g, out, &sc);
    for (int i = 0; i < g->count; i++)
        if (p->bytes[i])
            svg_buffer(g, out, i, &sc);
    /* the boundary between the steps of encode and those of decode */
    if (g->enc_end > sc.first_step && g->enc_end <= last_step)
        svg_marker(out, svg_x(&sc, g->enc_end), 24, "#555",
                   tfc_format("encode: steps 0..%d | decode: steps %d..%d", g->enc_end - 1,
                              g->enc_end, g->count - 1));
    svg_marker(out, svg_x(&sc, p->peak_step) + sc.xs / 2, 8, "red",
               tfc_format("peak: step %d (%s), %s live", p->peak_step, g->nodes[p->peak_step].name,
                          plan_bytes_str(p->lower_bound)));
    fprintf(out, "</svg>\n");
}

void plan_report(const Graph *g, PlanFormat format, FILE *out)
{
    if (!g->plan)
        tfc_bug("plan_report before planning");
    Figures f;
    figures(g, &f);
    switch (format) {
    case PLAN_TEXT: text_report(g, &f, out); break;
    case PLAN_JSON: json_report(g, &f, out); break;
    case PLAN_SVG: svg_report(g, out); break;
    }
}
