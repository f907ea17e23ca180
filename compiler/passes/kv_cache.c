/*
 * kv_cache.c - KV-cache insertion.
 *
 * Requires: a verified graph after DCE.  Guarantees: when the model is a
 * decoder over one sequence symbol s (every node whose rows are s is
 * row-wise, except causal self-attention over s), each such attention
 * reads its keys and values through CACHE nodes.  A CACHE node appends
 * the new rows to a persistent region and yields all rows so far, so a
 * call may run only the tokens that follow those of earlier calls: the
 * prefill runs the prompt, a step runs one token.  Results are unchanged:
 * a causal query at absolute position p sees keys 0..p either way.
 *
 * The test is on the graph, not on a known model: any decoder the
 * language can express qualifies, and a model with a row-mixing op on s
 * (a pooler, non-causal self-attention) is left as it is.
 */
#include "tfc.h"

#include <string.h>

static Dim rows(const Graph *g, int id) { return g->nodes[id].shape.d[0]; }

static int rows_are(const Graph *g, int id, int sym)
{
    return id >= 0 && rows(g, id).sym == sym;
}

/* A causal attention over s whose keys and values are also s's rows. */
static int is_self_attention(const Graph *g, const Node *n, int s)
{
    return n->op == OP_ATTENTION && n->attr.attn.causal && rows_are(g, n->in[0], s)
           && rows_are(g, n->in[1], s) && rows_are(g, n->in[2], s);
}

/* Attention that is row-wise in its queries: keys and values from
 * elsewhere (cross-attention to an encoder). */
static int is_cross_attention(const Graph *g, const Node *n, int s)
{
    return n->op == OP_ATTENTION && !rows_are(g, n->in[1], s) && !rows_are(g, n->in[2], s);
}

/* The sequence to cache, or 0 when the graph is not a cacheable decoder. */
static int cacheable_sym(const Graph *g)
{
    int s = rows(g, g->output).sym;
    if (!s || g->nodes[g->output].shape.ndim != 2)
        return 0;
    int attentions = 0;
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || !rows_are(g, i, s))
            continue;
        if (is_self_attention(g, n, s))
            attentions++;
        else if (!(op_flags[n->op] & OPF_ROWWISE) && !is_cross_attention(g, n, s))
            return 0;
    }
    return attentions ? s : 0;
}

static int append_cache(Graph *g, Node *nodes, int *count, int src, int past, int64_t *bytes)
{
    const Node *x = &nodes[src];
    Node *c = &nodes[*count];
    memset(c, 0, sizeof *c);
    c->op = OP_CACHE;
    c->dtype = DT_F32;
    c->loc = x->loc;
    for (int j = 0; j < MAX_INPUTS; j++)
        c->in[j] = -1;
    c->in[0] = src;
    c->shape = ir_shape2((Dim){past, g->syms[past].max}, x->shape.d[1]);
    c->name = tfc_format("%s_cache", x->name);
    c->attr.cache.offset = *bytes;
    *bytes += g->syms[past].max * x->shape.d[1].n * 4;
    return (*count)++;
}

void pass_kv_cache(Graph *g)
{
    int s = cacheable_sym(g);
    if (!s)
        return;
    int past = g->nsyms++;
    g->syms[past] = (Sym){tfc_format("pos+%s", g->syms[s].name), g->syms[s].max, s};

    int attentions = 0;
    for (int i = 0; i < g->count; i++)
        attentions += !g->nodes[i].dead && is_self_attention(g, &g->nodes[i], s);
    /* Rebuild the schedule with a CACHE node for K and V before each
     * attention; old ids map to new ones. */
    Node *nodes = tfc_alloc((size_t)(g->count + 2 * attentions) * sizeof *nodes);
    int *map = tfc_alloc((size_t)g->count * sizeof *map);
    int count = 0;
    int64_t bytes = 0;
    for (int i = 0; i < g->count; i++) {
        Node n = g->nodes[i];
        for (int j = 0; j < MAX_INPUTS; j++)
            if (n.in[j] >= 0)
                n.in[j] = map[n.in[j]];
        if (!n.dead && is_self_attention(g, &g->nodes[i], s)) {
            n.in[1] = append_cache(g, nodes, &count, n.in[1], past, &bytes);
            n.in[2] = append_cache(g, nodes, &count, n.in[2], past, &bytes);
        }
        map[i] = count;
        nodes[count++] = n;
    }
    for (int i = 0; i < g->ninputs; i++)
        g->inputs[i] = map[g->inputs[i]];
    g->output = map[g->output];
    g->nodes = nodes;
    g->count = g->cap = count;
    g->cache_sym = s;
    g->cache_bytes = bytes;
}

/* The step plan: the same graph with the cached sequence one token long. */
void pass_plan_step(Graph *g)
{
    if (!g->cache_sym)
        return;
    Graph step = *g;
    step.nodes = tfc_alloc((size_t)g->count * sizeof *step.nodes);
    memcpy(step.nodes, g->nodes, (size_t)g->count * sizeof *step.nodes);
    step.syms[g->cache_sym].max = 1;
    for (int i = 0; i < step.count; i++) {
        Node *n = &step.nodes[i];
        for (int d = 0; d < n->shape.ndim; d++)
            if (n->shape.d[d].sym == g->cache_sym)
                n->shape.d[d].n = 1;
    }
    pass_plan(&step);
    for (int i = 0; i < g->count; i++)
        g->nodes[i].step_offset = step.nodes[i].offset;
    g->step_arena_bytes = step.arena_bytes;
}
