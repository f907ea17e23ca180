/*
 * kv_cache.c - KV-cache insertion.
 *
 * Requires: a verified graph after DCE and partition.  Guarantees: when the
 * model is a decoder over one sequence symbol s (the output's rows, read
 * from exactly one model input, the decoder input), every node that
 * depends on the decoder input has rows s and is row-wise, a causal
 * self-attention over s, or an attention whose keys and values do not
 * depend on the decoder input (cross-attention to an encoder's values).
 * Then each self-attention reads its keys and values through CACHE nodes.
 * A CACHE node appends the new rows to a persistent region and yields all
 * rows so far, so a call may run only the tokens that follow those of
 * earlier calls: the prefill runs the prompt, a step runs one token.
 * Results are unchanged: a causal query at absolute position p sees keys
 * 0..p either way, and cross-attention sees the whole encoding either way.
 *
 * The test is on the graph, not on a known model: any decoder the
 * language can express qualifies, with or without an encoder (partition.c
 * has put the encoder's nodes first and persisted what the decoder reads
 * of them; they need no cache).  A model with a row-mixing op on the
 * decoder's values (a pooler, non-causal self-attention) is left as it is.
 */
#include "tfc.h"

#include <stdlib.h>
#include <string.h>

static Dim rows(const Graph *g, int id) { return g->nodes[id].shape.d[0]; }

static int rows_are(const Graph *g, int id, int sym)
{
    return id >= 0 && rows(g, id).sym == sym;
}

/* The index in g->inputs of the one input over symbol s, or -1 when no
 * input or more than one is over s (a step takes one token of one input). */
static int input_over(const Graph *g, int s)
{
    int found = -1;
    for (int i = 0; i < g->ninputs; i++)
        if (rows_are(g, g->inputs[i], s)) {
            if (found >= 0)
                return -1;
            found = i;
        }
    return found;
}

int kv_cache_input(const Graph *g)
{
    return g->cache_sym ? input_over(g, g->cache_sym) : -1;
}

/* A causal attention over s whose keys and values are also s's rows. */
static int is_self_attention(const Graph *g, const Node *n, int s)
{
    return n->op == OP_ATTENTION && n->attr.attn.causal && rows_are(g, n->in[0], s)
           && rows_are(g, n->in[1], s) && rows_are(g, n->in[2], s);
}

/* Whether decoder node i may run on new rows alone: row-wise, attention
 * over cached keys, or attention over keys and values that are the same
 * for every call (dep: what depends on the decoder input). */
static int runs_on_new_rows(const Graph *g, int i, int s, const char *dep)
{
    const Node *n = &g->nodes[i];
    if (!rows_are(g, i, s))
        return 0;
    if (n->op == OP_ATTENTION)
        return is_self_attention(g, n, s) || (!dep[n->in[1]] && !dep[n->in[2]]);
    return (op_flags[n->op] & OPF_ROWWISE) != 0;
}

/* The sequence to cache, or 0 when the graph is not a cacheable decoder.
 * A padded sequence is not cached: a step could not mask its keys. */
static int cacheable_sym(const Graph *g)
{
    int s = rows(g, g->output).sym;
    if (!s || g->nodes[g->output].shape.ndim != 2 || (g->padded >> s & 1u))
        return 0;
    int in = input_over(g, s);
    if (in < 0)
        return 0;
    char *dep = calloc((size_t)g->count, 1);
    if (!dep)
        error_plain("out of memory");
    int attentions = 0, ok = 1;
    for (int i = 0; i < g->count && ok; i++) {
        const Node *n = &g->nodes[i];
        dep[i] = i == g->inputs[in];
        for (int j = 0; j < MAX_ARGS; j++)
            dep[i] |= n->in[j] >= 0 && dep[n->in[j]];
        if (n->dead || !dep[i])
            continue;
        ok = runs_on_new_rows(g, i, s, dep);
        attentions += is_self_attention(g, n, s);
    }
    free(dep);
    return ok && attentions ? s : 0;
}

static int append_cache(Graph *g, Node *nodes, int *count, int src, int past, int64_t *bytes)
{
    const Node *x = &nodes[src];
    Node *c = &nodes[*count];
    memset(c, 0, sizeof *c);
    c->op = OP_CACHE;
    c->dtype = DT_F32;
    c->loc = x->loc;
    for (int j = 0; j < MAX_ARGS; j++)
        c->in[j] = -1;
    c->in[0] = src;
    c->shape = ir_shape2((Dim){past, g->syms[past].max}, x->shape.d[1]);
    c->name = tfc_format("%s_cache", x->name);
    c->attr.cache.offset = *bytes;
    *bytes += g->syms[past].max * dtype_bytes(DT_F32, x->shape.d[1].n);
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
        for (int j = 0; j < MAX_ARGS; j++)
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
    if (g->enc_end)   /* caches go before decoder nodes: the encoder keeps its ids */
        g->enc_end = map[g->enc_end - 1] + 1;
    g->nodes = nodes;
    g->count = g->cap = count;
    g->cache_sym = s;
    g->cache_bytes = bytes;
}

/* ---- the step plan ------------------------------------------------------ */

typedef struct {
    int64_t begin, end;
} Range;

static int by_begin(const void *a, const void *b)
{
    const Range *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* The arena bytes of the encoder values that decode calls read, where the
 * full plan put them: a step reads them there too.  Sorted by offset. */
static int persisted_ranges(const Graph *g, Range *r)
{
    int n = 0;
    for (int i = 0; i < g->enc_end; i++)
        if (g->nodes[i].persist && !g->nodes[i].dead && g->plan->bytes[i])
            r[n++] = (Range){g->nodes[i].offset, g->nodes[i].offset + g->plan->bytes[i]};
    qsort(r, (size_t)n, sizeof *r, by_begin);
    return n;
}

/* The lowest offset where `bytes` fit between the ranges. */
static int64_t first_gap(const Range *r, int n, int64_t bytes)
{
    int64_t at = 0;
    for (int i = 0; i < n && r[i].begin < at + bytes; i++)
        if (r[i].end > at)
            at = r[i].end;
    return at;
}

/* The step plan: the decoder's nodes with the cached sequence one token
 * long, planned as a block of their own, which sits in the full plan's
 * arena at the lowest offset clear of the encoder values that outlive
 * encode (none in a decoder-only model: the block starts at 0).  One
 * arena then serves encode, prefill and step; where the block fits
 * nowhere below the full plan's top, a step uses the full plan's offsets. */
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
        n->dead |= i < g->enc_end;   /* encode ran them, with the full plan */
        for (int d = 0; d < n->shape.ndim; d++)
            if (n->shape.d[d].sym == g->cache_sym)
                n->shape.d[d].n = 1;
    }
    pass_plan(&step);
    Range *kept = tfc_alloc((size_t)(g->enc_end + 1) * sizeof *kept);
    int nkept = persisted_ranges(g, kept);
    int64_t base = first_gap(kept, nkept, step.arena_bytes), top = base + step.arena_bytes;
    for (int i = 0; i < nkept; i++)
        if (kept[i].end > top)
            top = kept[i].end;
    if (top > g->arena_bytes) {
        /* No room for the block: the full plan's offsets serve a step as
         * well (the same schedule, no buffer larger), at no extra arena. */
        top = 0;
        for (int i = 0; i < g->count; i++) {
            g->nodes[i].step_offset = g->nodes[i].offset;
            int64_t bytes = i < g->enc_end ? g->plan->bytes[i] : step.plan->bytes[i];
            if (bytes && g->nodes[i].offset + bytes > top)
                top = g->nodes[i].offset + bytes;
        }
        g->step_arena_bytes = top;
        return;
    }
    for (int i = 0; i < g->count; i++)
        g->nodes[i].step_offset = i < g->enc_end ? g->nodes[i].offset : base + step.nodes[i].offset;
    g->step_arena_bytes = top;
}
