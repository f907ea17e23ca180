/*
 * quantize.c - `--quantize int8`: the linear layers' weights to int8.
 *
 * Requires: a fused graph (a layer's parts and stacked weights are
 * final).  Guarantees: every live MATMUL whose input dimension is whole
 * blocks of 32 reads weights of dtype Q8 (dtypes.h): its stored weight, or
 * every member of its stacked weight, is marked Q8, and open quantizes it
 * (tfrt_quantize_weights) into blocks of 32 along the input dimension with
 * one float scale a block.  A layer stays fp32 when
 *   - its input dimension is not a multiple of 32 (reported on stderr);
 *   - it is the head (the matmul that makes the output) and
 *     -fno-quantize-head was given;
 *   - one of its weights is also read by something that reads f32: an
 *     fp32 layer, or an embedding lookup in a table that stays fp32.
 * An embedding table whose rows are whole blocks of 32, and that no fp32
 * layer reads, is int8 too: a lookup dequantizes the rows it reads, from
 * the head's int8 copy when the head reads the table whole (tied), else
 * from the table's own (kprog.c, table_parts); no fp32 copy is kept.  An
 * untied table was once left fp32 and mapped, on the grounds that a
 * lookup touches only its tokens' rows; but the kernel maps 64 KiB of the
 * file around each fault, so a few hundred lookups made 70 MB of the
 * 110M Llama's 98 MB table resident, more than its int8 copy (28 MB).
 *
 * What stays fp32, and why (docs/quantization.md): norms (a handful of
 * values a row; their scale sets every later activation), biases (added
 * after the product, cost nothing), the residual stream (a sum across all
 * layers: int8 steps would accumulate), softmax and attention (exp()
 * amplifies errors in the logits; the KV cache is activations, not
 * weights).  Activations that feed an int8 layer are quantized per row
 * per block on the fly by the kernel (runtime/q8.h).
 */
#include "tfc.h"
#include "tfrt.h"

#include <stdio.h>

static int64_t in_dim(const Graph *g, const Node *m) { return g->nodes[m->in[0]].shape.d[1].n; }

/* Whether table w can be int8 for its lookups: rows of whole blocks (a
 * tied head that is int8 reads it whole, so this holds for its table). */
static int table_blocks(const Graph *g, int w)
{
    const Node *t = &g->nodes[w];
    return t->op == OP_WEIGHT && t->shape.ndim == 2 && !t->attr.weight.full.ndim
           && t->shape.d[1].n % dtypes[DT_Q8].block == 0;
}

/* Whether node r reading weight w (as operand j) can read it as int8. */
static int reads_int8(const Graph *g, const char *q8, int r, int j, int w)
{
    const Node *u = &g->nodes[r];
    if (u->op == OP_MATMUL)
        return j == 1 && q8[r];
    if (u->op == OP_CONCAT) {   /* the stack's layer */
        for (int i = r + 1; i < g->count; i++)
            if (!g->nodes[i].dead && g->nodes[i].op == OP_MATMUL && g->nodes[i].in[1] == r)
                return q8[i];
        return 0;
    }
    return u->op == OP_EMBED && j == 0 && table_blocks(g, w);
}

/* Whether every reader of weight (or stack) w reads it as int8. */
static int all_int8(const Graph *g, const char *q8, int w)
{
    for (int r = w + 1; r < g->count; r++) {
        const Node *u = &g->nodes[r];
        for (int j = 0; !u->dead && j < MAX_ARGS; j++)
            if (u->in[j] == w && !reads_int8(g, q8, r, j, w))
                return 0;
    }
    return 1;
}

/* Whether matmul m's weights can all be int8 with the layers q8 marks. */
static int weights_int8(const Graph *g, const char *q8, const Node *m)
{
    const Node *w = &g->nodes[m->in[1]];
    if (w->op != OP_CONCAT)
        return all_int8(g, q8, m->in[1]);
    for (int j = 0; j < MAX_ARGS; j++)
        if (w->in[j] >= 0 && !all_int8(g, q8, w->in[j]))
            return 0;
    return all_int8(g, q8, m->in[1]);
}

static void mark(Graph *g, int w)
{
    Node *n = &g->nodes[w];
    n->dtype = DT_Q8;
    for (int j = 0; n->op == OP_CONCAT && j < MAX_ARGS; j++)
        if (n->in[j] >= 0)
            g->nodes[n->in[j]].dtype = DT_Q8;
}

void pass_quantize(Graph *g, const PassOptions *o)
{
    if (o->quantize != QUANT_INT8)
        return;
    char *q8 = tfc_alloc((size_t)g->count + 1);
    int blocks = dtypes[DT_Q8].block, layers = 0, kept = 0;
    for (int i = 0; i < g->count; i++) {
        const Node *m = &g->nodes[i];
        if (m->dead || m->op != OP_MATMUL)
            continue;
        layers++;
        q8[i] = in_dim(g, m) % blocks == 0 && !(i == g->output && o->keep_head_fp32);
        if (in_dim(g, m) % blocks)
            fprintf(stderr, "tfc: --quantize int8: %s stays fp32: its %lld inputs are not whole "
                            "blocks of %d\n", m->name, (long long)in_dim(g, m), blocks);
    }
    /* a layer dropped back to fp32 may drop a layer it shares a weight with */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < g->count; i++)
            if (q8[i] && !weights_int8(g, q8, &g->nodes[i]))
                q8[i] = 0, changed = 1;
    }
    for (int i = 0; i < g->count; i++) {
        const Node *e = &g->nodes[i];
        if (!e->dead && e->op == OP_EMBED && table_blocks(g, e->in[0]) && all_int8(g, q8, e->in[0]))
            mark(g, e->in[0]);
    }
    for (int i = 0; i < g->count; i++) {
        if (q8[i])
            mark(g, g->nodes[i].in[1]);
        kept += !g->nodes[i].dead && g->nodes[i].op == OP_MATMUL && !q8[i];
    }
    g->q8_layers = layers - kept;
    g->fp32_layers = kept;
}
