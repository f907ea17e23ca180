/*
 * shard.c - tensor parallelism (--tp N): the graph of one rank of N.
 *
 * Requires: a fused (or unfused) graph, before planning.  Guarantees: the
 * graph one rank runs, Megatron-style (docs/parallelism.md):
 *   - column-parallel: the matmuls that make an attention's queries, keys
 *     and values (whole heads per rank; with grouped-query attention the
 *     key/value heads split N ways, and a rank keeps the query heads that
 *     share them, since both split in order), and the first matmul(s) of
 *     an MLP (up projection, SwiGLU's gate): a rank computes its share of
 *     their output columns;
 *   - row-parallel: the attention's output projection and the MLP's down
 *     projection read those columns and give a partial sum; one all-reduce
 *     each (TP_ROW, the kernel program) sums the ranks' partials, then adds
 *     the bias and the residual once;
 *   - the head (the output matmul): a rank computes its vocabulary rows and
 *     the ranks gather the logits as far as the caller asks (TP_GATHER,
 *     tfrt_comm_logits_to: greedy decoding gathers nothing);
 *   - everything else is replicated: norms and the residual stream are
 *     (n, dim), too small to split for the communication it would need,
 *     and the embedding table stays whole because a lookup touches only
 *     the rows of the tokens it reads (the rest of the mapped table never
 *     becomes resident), so splitting it would save little memory and cost
 *     one more all-reduce.
 * Every node between a column- and a row-parallel matmul (rope, slices,
 * the KV cache, attention, activations) has 1/N of its columns; split
 * weights carry their stored shape and the axis to cut (TfrtWeightSpec),
 * and the KV cache is re-laid out for the narrower slots.
 */
#include "tfc.h"
#include "tfrt.h"

#include <string.h>

typedef struct {
    Graph *g;
    int tp;
    char *split;          /* node id: its columns are this rank's share */
} Shard;

static _Noreturn void unsupported(const char *what)
{
    error_plain("--tp: %s: not supported with --tp yet", what);
}

static int64_t last_dim(const Node *n) { return n->shape.d[n->shape.ndim - 1].n; }

/* Cuts stored axis `axis` of weight w into tp slices of each of its nparts
 * fused parts (nparts 0: one part); pad: the last slice may be short (and
 * is padded with zeros at bind). */
static void split_weight_pad(Shard *s, int w, int axis, const int *parts, int nparts, int pad)
{
    Node *n = &s->g->nodes[w];
    if (n->op != OP_WEIGHT)
        tfc_bug("splitting %s, not a weight", n->name);
    if (n->attr.weight.split_axis)
        unsupported(tfc_format("weight '%s' is used by two layers that split it", n->attr.weight.ckpt));
    int view = n->attr.weight.full.ndim > 0;   /* rows of a stored tensor (in_proj's q, k, v) */
    if (view && (axis != 0 || nparts > 1 || pad))
        unsupported(tfc_format("weight '%s', a view of a stored tensor, split along axis %d", n->attr.weight.ckpt,
                               axis));
    int64_t len = n->shape.d[axis].n;
    for (int k = 0; k < (nparts ? nparts : 1); k++) {
        int64_t plen = nparts ? parts[k] : len;
        if (plen % s->tp && !pad)
            error_plain("--tp %d: weight '%s' has %lld %s along axis %d, which do not split %d ways",
                        s->tp, n->attr.weight.ckpt, (long long)plen, nparts > 1 ? "columns in a part" : "rows",
                        axis, s->tp);
        n->attr.weight.split_parts[k] = nparts > 1 || view ? plen : 0;   /* a view: its rows */
    }
    n->attr.weight.split_axis = axis + 1;
    n->attr.weight.split_full = view ? n->attr.weight.full : n->shape;
    n->shape.d[axis].n = (len + s->tp - 1) / s->tp;
}

static void split_weight(Shard *s, int w, int axis, const int *parts, int nparts)
{
    split_weight_pad(s, w, axis, parts, nparts, 0);
}

/* A stored or stacked weight, split along `axis` (a stack splits each
 * member, so the stack keeps its member order: rank r's q | k | v). */
static void split_operand(Shard *s, int w, int axis, const int *parts, int nparts)
{
    Node *n = &s->g->nodes[w];
    if (n->op == OP_CONCAT) {
        int a = n->shape.ndim == 2 ? axis : 0;   /* a stacked bias is a vector */
        for (int j = 0; j < MAX_ARGS && n->in[j] >= 0; j++)
            split_operand(s, n->in[j], a, NULL, 0);
        n->shape.d[a].n /= s->tp;
        return;
    }
    split_weight(s, w, axis, parts, nparts);
}

/* The matmul whose output columns reach an attention's operand x (through
 * slices, rope and the cache), or -1. */
static int source_matmul(const Graph *g, int x)
{
    while (x >= 0) {
        const Node *n = &g->nodes[x];
        if (n->op == OP_MATMUL)
            return x;
        if (n->op != OP_SLICE && n->op != OP_CACHE && n->op != OP_ROPE && n->op != OP_SCALE)
            return -1;
        x = n->in[0];
    }
    return -1;
}

/* Marks in `found` the matmuls whose products reach x through elementwise
 * ops only; 0 when anything else (a norm, attention, an input) does. */
static int matmul_chain(const Graph *g, int x, char *found)
{
    const Node *n = &g->nodes[x];
    if (n->op == OP_MATMUL) {
        found[x] = 1;
        return 1;
    }
    if (!(op_flags[n->op] & OPF_ELEMENTWISE))
        return 0;
    for (int j = 0; j < MAX_ARGS && n->in[j] >= 0; j++)
        if (g->nodes[n->in[j]].op != OP_WEIGHT && !matmul_chain(g, n->in[j], found))
            return 0;
    return 1;
}

/* Which matmuls are column- and row-parallel. */
static void roles(Shard *s)
{
    Graph *g = s->g;
    char *found = tfc_alloc((size_t)g->count);
    for (int i = 0; i < g->count; i++) {
        Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_ATTENTION)
            continue;
        if (n->attr.attn.heads % s->tp || n->attr.attn.kv_heads % s->tp)
            error_plain("--tp %d: attention '%s' has %d query heads and %d key/value heads, "
                        "which do not both split %d ways", s->tp, n->name, n->attr.attn.heads,
                        n->attr.attn.kv_heads, s->tp);
        for (int j = 0; j < 3; j++) {
            int m = source_matmul(g, n->in[j]);
            if (m < 0)
                unsupported(tfc_format("the operand %d of attention '%s' is not made by a linear layer",
                                       j, n->name));
            g->nodes[m].attr.matmul.tp = TP_COLUMN;
        }
    }
    for (int i = 0; i < g->count; i++) {   /* MLPs: matmul(elementwise(matmul ...)) */
        Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_MATMUL || n->attr.matmul.tp)
            continue;
        memset(found, 0, (size_t)g->count);
        const Node *x = &g->nodes[n->in[0]];
        if (x->op == OP_ATTENTION || (x->op == OP_SLICE && g->nodes[x->in[0]].op == OP_ATTENTION)) {
            n->attr.matmul.tp = TP_ROW;
            continue;
        }
        if (!matmul_chain(g, n->in[0], found))
            continue;
        int ok = 1;
        for (int m = 0; m < i; m++)
            ok &= !found[m] || g->nodes[m].attr.matmul.tp == TP_NONE;
        for (int m = 0; ok && m < i; m++)
            if (found[m])
                g->nodes[m].attr.matmul.tp = TP_COLUMN;
        if (ok)
            n->attr.matmul.tp = TP_ROW;
    }
    /* the head, a plain product: split by vocabulary rows.  A classifier
       with a bias (BERT's token labels) stays whole: it is small */
    Node *out = &g->nodes[g->output];
    if (out->op == OP_MATMUL && !out->attr.matmul.tp && out->in[2] < 0 && out->in[3] < 0 &&
        !out->attr.matmul.act && g->nodes[out->in[1]].op == OP_WEIGHT)
        out->attr.matmul.tp = TP_GATHER;
}

/* A stored tensor read both by the head and by something else (GPT-2's
 * head tied to the token embedding): the head gets its own weight node,
 * which binds this rank's rows, while the lookup keeps the whole table. */
static void untie_head(Graph *g)
{
    const Node *out = &g->nodes[g->output];
    if (out->op != OP_MATMUL || g->nodes[out->in[1]].op != OP_WEIGHT)
        return;
    int w = out->in[1], shared = 0;
    for (int i = 0; i < g->count; i++)
        for (int j = 0; j < MAX_ARGS; j++)
            shared |= i != g->output && !g->nodes[i].dead && g->nodes[i].in[j] == w;
    if (!shared)
        return;
    Node copy = g->nodes[w];
    int at = ir_insert(g, g->output, OP_WEIGHT, copy.dtype, copy.shape, copy.loc);
    Node *n = &g->nodes[at];
    n->attr.weight = copy.attr.weight;
    n->name = tfc_format("%s_head", copy.name);
    g->nodes[g->output].in[1] = at;
}

/* The fused parts of column matmul m's single stored weight: q, k, v of
 * GPT-2's c_attn; gate and value of a fused SwiGLU weight. */
static int column_parts(const Node *m, int *parts)
{
    for (int p = 0; p < m->attr.matmul.parts; p++)
        parts[p] = m->attr.matmul.part_cols[p];
    return m->attr.matmul.parts;
}

/* Unfused (or fused without parts) q, k, v of one stored tensor, cut
 * from the product by slices: the parts are the slices, which must tile
 * the product's columns; 0 when no slice reads it. */
static int slice_parts(const Graph *g, int id, int *parts)
{
    int n = 0;
    int64_t at = 0, out = last_dim(&g->nodes[id]);
    while (at < out) {
        int found = 0;
        for (int j = id + 1; j < g->count && !found; j++) {
            const Node *x = &g->nodes[j];
            if (!x->dead && x->op == OP_SLICE && x->in[0] == id && x->attr.slice.first == at) {
                if (n == MAX_PARTS)
                    unsupported(tfc_format("'%s' cut into more than %d parts", g->nodes[id].name, MAX_PARTS));
                parts[n++] = x->attr.slice.cols;
                at += x->attr.slice.cols;
                found = 1;
            }
        }
        if (!found)
            return at == 0 ? 0 : (unsupported(tfc_format("slices of '%s' that do not tile it",
                                                        g->nodes[id].name)), 0);
    }
    return n;
}

static void shard_matmul(Shard *s, int id)
{
    Node *m = &s->g->nodes[id];
    const Node *w = &s->g->nodes[m->in[1]];
    int in_out = m->attr.matmul.layout == TFRT_W_IN_OUT;
    int out_axis = in_out ? 1 : 0, in_axis = in_out ? 0 : 1;
    int parts[MAX_PARTS], np;
    switch (m->attr.matmul.tp) {
    case TP_COLUMN:
        if (m->attr.matmul.glu && w->op != OP_CONCAT)   /* read in place, the value half */
            unsupported(tfc_format("'%s': a gated unit whose gate and value are one stored tensor",
                                   m->name));   /* would be tp times further on */
        np = column_parts(m, parts);
        if (!np && w->op != OP_CONCAT && !m->attr.matmul.glu && (np = slice_parts(s->g, id, parts)) > 1) {
            m->attr.matmul.parts = np;   /* the kernel program reads each part where it is stored */
            for (int p = 0; p < np; p++)
                m->attr.matmul.part_cols[p] = parts[p];
        }
        split_operand(s, m->in[1], out_axis, parts, w->op == OP_CONCAT ? 0 : np);
        if (m->in[2] >= 0)
            split_operand(s, m->in[2], 0, parts, s->g->nodes[m->in[2]].op == OP_CONCAT ? 0 : np);
        if (last_dim(m) % s->tp)
            error_plain("--tp %d: '%s' has %lld outputs, which do not split %d ways", s->tp, m->name,
                        (long long)last_dim(m), s->tp);
        m->shape.d[1].n /= s->tp;
        for (int p = 0; p < m->attr.matmul.parts; p++) {
            m->attr.matmul.part_cols[p] /= s->tp;
            m->attr.matmul.rope_heads[p] /= s->tp;
        }
        s->split[id] = 1;
        break;
    case TP_ROW:
        if (!s->split[m->in[0]] || w->op == OP_CONCAT || m->attr.matmul.act || m->attr.matmul.glu)
            unsupported(tfc_format("the row-parallel layer '%s'", m->name));
        split_weight(s, m->in[1], in_axis, NULL, 0);
        break;
    case TP_GATHER:   /* a vocabulary that does not divide is padded (GPT-2's 50257) */
        if (last_dim(m) < s->tp)
            error_plain("--tp %d: the output '%s' has %lld columns, fewer than the ranks",
                        s->tp, m->name, (long long)last_dim(m));
        if (in_out && last_dim(m) % s->tp)   /* a padded slice is whole rows: (out,in) only */
            error_plain("--tp %d: the output '%s' has %lld columns, which do not split %d ways",
                        s->tp, m->name, (long long)last_dim(m), s->tp);
        split_weight_pad(s, m->in[1], out_axis, NULL, 0, 1);
        break;
    default:
        break;
    }
}

/* T5's relative position bias, a (buckets, heads) table that every block
 * of a stack shares: a rank's heads' columns, split once, and bound as a
 * packed copy (the attention kernel reads it without a row stride). */
static void split_relative_bias(Shard *s, int w)
{
    Node *n = &s->g->nodes[w];
    if (n->op != OP_WEIGHT || n->shape.ndim != 2)
        unsupported(tfc_format("the relative position bias '%s', not a stored (buckets, heads) table", n->name));
    if (n->attr.weight.split_axis == 2)   /* split for an earlier block */
        return;
    split_weight(s, w, 1, NULL, 0);
    n->attr.weight.split_packed = 1;
}

/* Node id, between a column- and a row-parallel matmul: 1/tp of its
 * columns, and of its heads. */
static void shard_node(Shard *s, int id)
{
    Graph *g = s->g;
    Node *n = &g->nodes[id];
    int any = 0, all = 1;
    for (int j = 0; j < MAX_ARGS && n->in[j] >= 0; j++) {
        const Node *x = &g->nodes[n->in[j]];
        if (x->op == OP_WEIGHT || x->op == OP_CONCAT || x->dtype != DT_F32)
            continue;
        any |= s->split[n->in[j]];
        all &= s->split[n->in[j]];
    }
    if (!any)
        return;
    if (!all || n->op == OP_EMBED || (n->op != OP_ATTENTION && n->op != OP_ROPE && n->op != OP_SLICE &&
                                      n->op != OP_CACHE && !(op_flags[n->op] & OPF_ELEMENTWISE)))
        unsupported(tfc_format("'%s' (%s) mixes a rank's columns with whole rows", n->name, op_names[n->op]));
    for (int j = 0; j < MAX_ARGS && n->in[j] >= 0; j++)   /* an unfused bias or scale vector */
        if (g->nodes[n->in[j]].op == OP_WEIGHT && g->nodes[n->in[j]].shape.ndim == 1)
            split_weight(s, n->in[j], 0, NULL, 0);
    if (n->op == OP_ATTENTION && n->in[3] >= 0)
        split_relative_bias(s, n->in[3]);
    if (last_dim(n) % s->tp)
        unsupported(tfc_format("'%s' has %lld columns", n->name, (long long)last_dim(n)));
    n->shape.d[n->shape.ndim - 1].n /= s->tp;
    if (n->op == OP_ATTENTION)
        n->attr.attn.heads /= s->tp, n->attr.attn.kv_heads /= s->tp;
    else if (n->op == OP_ROPE)
        n->attr.rope.heads /= s->tp;
    else if (n->op == OP_SLICE)
        n->attr.slice.first /= s->tp, n->attr.slice.cols /= s->tp;
    s->split[id] = 1;
}

/* The KV cache's slots, narrower now: offsets and size again. */
static void relayout_cache(Graph *g)
{
    int64_t bytes = 0;
    for (int i = 0; i < g->count; i++) {
        Node *c = &g->nodes[i];
        if (c->op != OP_CACHE)
            continue;
        c->attr.cache.offset = bytes;
        bytes += c->shape.d[0].n * c->shape.d[1].n * 4;
    }
    g->cache_bytes = bytes;
}

void pass_shard(Graph *g, int tp)
{
    if (tp <= 1)
        return;
    untie_head(g);
    Shard s = {g, tp, tfc_alloc((size_t)g->count)};
    g->tp = tp;
    roles(&s);
    for (int i = 0; i < g->count; i++) {
        if (g->nodes[i].dead)
            continue;
        if (g->nodes[i].op == OP_MATMUL)
            shard_matmul(&s, i);
        else if (g->nodes[i].op != OP_WEIGHT && g->nodes[i].op != OP_CONCAT)
            shard_node(&s, i);
    }
    relayout_cache(g);
}

Shape shard_stored_shape(const Node *w)
{
    if (w->attr.weight.split_axis)
        return w->attr.weight.split_full;
    return w->attr.weight.full.ndim ? w->attr.weight.full : w->shape;
}

int64_t shard_row_len(const Node *w)
{
    Shape s = w->attr.weight.split_axis ? w->attr.weight.split_full : w->shape;
    return s.d[s.ndim - 1].n;
}

/* A part's offset along the split axis: the parts before it are tp times
 * longer in the stored tensor (each splits exactly; a padded split has
 * one part). */
int64_t shard_stored_first(const Graph *g, const Node *w, int64_t first)
{
    if (w->op != OP_WEIGHT || !w->attr.weight.split_axis)
        return first;
    return first * g->tp;   /* only a column-parallel weight has parts past the first */
}

int64_t shard_allreduce_floats_per_token(const Graph *g)
{
    int64_t floats = 0;
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (!n->dead && n->op == OP_MATMUL && n->attr.matmul.tp == TP_ROW)
            floats += last_dim(n);
    }
    return floats;
}

int shard_split_head(const Graph *g)
{
    const Node *o = &g->nodes[g->output];
    return g->tp > 1 && o->op == OP_MATMUL && o->attr.matmul.tp == TP_GATHER;
}

int64_t shard_head_cols(const Graph *g)
{
    return (last_dim(&g->nodes[g->output]) + g->tp - 1) / g->tp;
}
