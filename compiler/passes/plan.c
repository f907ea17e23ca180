/*
 * plan.c - static memory planning: one arena for every intermediate.
 *
 * Requires: a verified graph with dead nodes marked, scheduled in node
 * order (step i runs node i).  Guarantees: every live node other than
 * weights (mapped from the file), inputs and the output (the caller's) and
 * caches (a persistent region of their own) has an `offset` into an arena
 * of `g->arena_bytes`, sized for the longest lengths the symbols allow
 * (so the same offsets serve every shorter input: a buffer then uses a
 * prefix of its slot), and no two buffers live at the same step overlap.
 * g->plan keeps the live ranges and figures for the report and the
 * emitter's poison mode.
 *
 * The algorithm, in three steps (docs/memory-planning.md says why):
 *  1. Liveness: a buffer lives from the step that writes it to the last
 *     step that reads it, both included (a kernel reads its inputs while
 *     it writes its output).
 *  2. In place: a node whose op allows it (OPF_INPLACE) writes over an
 *     input of its own shape and dtype whose storage is last read by this
 *     node.  Such a chain of nodes is one buffer from then on.
 *  3. Offsets: greedy placement of the buffers in some order, each at a
 *     gap among the already placed buffers that live at the same time
 *     (best fit: the smallest gap it fits in; first fit: the lowest), as in
 *     the TFLite arena planner and XLA's heap simulator.  Several orders
 *     are tried, then a short seeded local search over the best order;
 *     the smallest arena wins.  The search stops as soon as an arena
 *     equals the lower bound (the largest sum of bytes live at one step),
 *     which no plan can beat.
 */
#include "tfc.h"

#include <stdlib.h>
#include <string.h>

#define SEARCH_ROUNDS 400

typedef struct {
    int first, last;       /* steps: written, last read (over its chain) */
    int64_t size;
    int64_t offset;
} Buffer;

int plan_is_view(const Graph *g, int i)
{
    return g->nodes[i].op == OP_SLICE && g->nodes[i].attr.slice.view;
}

static int needs_buffer(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    /* weights are mapped, inputs and the output are the caller's, caches
     * are persistent, stacked weights and views are other nodes' memory,
     * and an inlined op is computed in its reader's loop: none of these
     * has a buffer of its own in the arena */
    return !n->dead && n->op != OP_WEIGHT && n->op != OP_INPUT && n->op != OP_CACHE
           && n->op != OP_CONCAT && !plan_is_view(g, i) && !n->inlined && i != g->output;
}

int64_t plan_row_bytes(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    int64_t bytes = dtype_bytes(n->dtype, n->shape.ndim == 2 ? n->shape.d[1].n : 1);
    /* a gated matmul's buffer holds the gate's product, then the value's */
    return n->op == OP_MATMUL && n->attr.matmul.glu ? 2 * bytes : bytes;
}

int64_t plan_node_bytes(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    int64_t bytes = ir_dim_max(g, n->shape.d[0]) * plan_row_bytes(g, id);
    return (bytes + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

/* ---- liveness and in-place chains -------------------------------------- */

/* The operand slots node i may overwrite: the first (unary ops and the
 * norms), either of a binary elementwise op, a matmul's residual when
 * the product adds straight onto it (no activation between them, not
 * gated: tfrt_linear's contract). */
static void inplace_slots(const Node *n, int *from, int *to)
{
    *from = 0, *to = 0;
    /* a row-parallel matmul (--tp) writes its partial product before the
       all-reduce adds the residual: never over it */
    if (n->op == OP_MATMUL && !n->attr.matmul.glu && !n->attr.matmul.act && n->attr.matmul.tp != TP_ROW)
        *from = 3, *to = 4;
    else if (op_flags[n->op] & OPF_INPLACE)
        *to = (op_flags[n->op] & OPF_ELEMENTWISE) && op_arity[n->op] == 2 ? 2 : 1;
}

/* The input of node i that i may overwrite, or -1.  last[] holds each
 * chain's last read so far, indexed by the chain's root: chain[k], the
 * first node of the chain node k belongs to. */
static int inplace_input(const Graph *g, int i, const Plan *p, const int *chain)
{
    const Node *n = &g->nodes[i];
    int from, to;
    inplace_slots(n, &from, &to);
    if (!needs_buffer(g, i))
        return -1;
    for (int j = from; j < to; j++) {
        int k = n->in[j];
        if (k < 0 || !needs_buffer(g, k))
            continue;
        const Node *x = &g->nodes[k];
        if (x->dtype == n->dtype && ir_shape_equal(x->shape, n->shape)
            && p->last[chain[k]] == i)
            return k;
    }
    return -1;
}

/* Step i reads node k: and through a view, the memory it views; through
 * an inlined op, that op's operands (computed in step i's loop). */
static void mark_read(const Graph *g, int i, int k, int *last)
{
    const Node *x = &g->nodes[k];
    if (i > last[k])
        last[k] = i;
    if (plan_is_view(g, k))
        mark_read(g, i, x->in[0], last);
    else if (x->inlined)
        for (int j = 0; j < MAX_ARGS; j++)
            if (x->in[j] >= 0)
                mark_read(g, i, x->in[j], last);
}

/* last[k]: the last step that reads node k's memory. */
static void last_reads(const Graph *g, int *last)
{
    for (int i = 0; i < g->count; i++)
        last[i] = i;
    for (int i = 0; i < g->count; i++)
        for (int j = 0; !g->nodes[i].dead && j < MAX_ARGS; j++)
            if (g->nodes[i].in[j] >= 0)
                mark_read(g, i, g->nodes[i].in[j], last);
}

static void liveness(const Graph *g, Plan *p)
{
    /* each node's chain root, kept as chains grow (a chain's members
     * follow one another: walking alias[] for each would be quadratic in a
     * residual stream written in place through every block) */
    int *chain = calloc((size_t)g->count + 1, sizeof *chain);
    if (!chain)
        error_plain("out of memory");
    for (int i = 0; i < g->count; i++) {
        chain[i] = i;
        p->first[i] = i;
        p->alias[i] = -1;
        p->bytes[i] = needs_buffer(g, i) ? plan_node_bytes(g, i) : 0;
    }
    last_reads(g, p->last);
    /* encoder outputs that later decode calls read (partition.c): live
     * through the last step, so no decoder buffer ever shares their bytes */
    for (int i = 0; i < g->count; i++)
        if (g->nodes[i].persist && !g->nodes[i].dead)
            p->last[i] = g->count - 1;
    /* the chain's last read, kept at its root: last[] of a root grows as
     * members join; free_at is filled once all chains are known */
    for (int i = 0; i < g->count; i++) {
        int k = inplace_input(g, i, p, chain);
        if (k < 0)
            continue;
        int r = chain[i] = chain[k];
        p->alias[i] = k;
        if (p->last[i] > p->last[r])
            p->last[r] = p->last[i];
    }
    for (int i = 0; i < g->count; i++) {
        int r = chain[i];
        p->free_at[i] = p->bytes[i] ? (p->last[r] > p->last[i] ? p->last[r] : p->last[i]) : -1;
    }
    /* last[] of a root was widened for the chain: restore the node's own
     * last read for the report */
    last_reads(g, p->last);
    free(chain);
}

/* One Buffer per chain; group[i] is node i's buffer, or -1. */
static int make_buffers(const Graph *g, const Plan *p, Buffer *bufs, int *group)
{
    int n = 0;
    for (int i = 0; i < g->count; i++) {
        group[i] = -1;
        if (!p->bytes[i])
            continue;
        if (p->alias[i] >= 0) {
            group[i] = group[p->alias[i]];   /* its chain's, set at an earlier node */
            continue;
        }
        bufs[n] = (Buffer){i, p->free_at[i], p->bytes[i], 0};
        group[i] = n++;
    }
    return n;
}

/* Largest sum of bytes live at one step, and that step. */
static int64_t lower_bound(const Buffer *bufs, int n, int steps, int *peak_step)
{
    int64_t *delta = calloc((size_t)steps + 1, sizeof *delta);
    if (!delta)
        error_plain("out of memory");
    for (int i = 0; i < n; i++) {
        delta[bufs[i].first] += bufs[i].size;
        delta[bufs[i].last + 1] -= bufs[i].size;
    }
    int64_t live = 0, best = 0;
    *peak_step = 0;
    for (int s = 0; s < steps; s++) {
        live += delta[s];
        if (live > best) {
            best = live;
            *peak_step = s;
        }
    }
    free(delta);
    return best;
}

/* ---- placement ---------------------------------------------------------- */

static const Buffer *sort_base;

static int by_offset(const void *a, const void *b)
{
    const Buffer *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* The buffers placed so far, found by lifetime: a buffer that lives at
 * most SHORT steps is listed under its first step (head/next), a longer
 * one in `longs`.  A buffer to place then meets only the short ones that
 * start within SHORT steps before it or during its life, and the long
 * ones: linear in the graph's size where lifetimes are short, as they are
 * in a transformer's blocks, instead of a scan of every placed buffer. */
enum { SHORT = 64 };

typedef struct {
    int *head;        /* by step: the last short buffer placed that starts there, or -1 */
    int *next;        /* by buffer: the short one placed before it at its step, or -1 */
    int *longs, nlongs;
    int steps;
} Placed;

static void placed_add(Placed *p, const Buffer *bufs, int b)
{
    if (bufs[b].last - bufs[b].first > SHORT) {
        p->longs[p->nlongs++] = b;
    } else {
        p->next[b] = p->head[bufs[b].first];
        p->head[bufs[b].first] = b;
    }
}

static int overlaps(const Buffer *q, const Buffer *b) { return q->first <= b->last && b->first <= q->last; }

/* The offset for bufs[b] among those placed (p): best fit (the smallest
 * gap that holds it) or first fit (the lowest). */
static int64_t place(Buffer *bufs, const Placed *p, int b, int best_fit, int *tmp)
{
    int m = 0;
    for (int i = 0; i < p->nlongs; i++)
        if (overlaps(&bufs[p->longs[i]], &bufs[b]))
            tmp[m++] = p->longs[i];
    int from = bufs[b].first - SHORT > 0 ? bufs[b].first - SHORT : 0;
    for (int step = from; step <= bufs[b].last && step < p->steps; step++)
        for (int q = p->head[step]; q >= 0; q = p->next[q])
            if (overlaps(&bufs[q], &bufs[b]))
                tmp[m++] = q;
    sort_base = bufs;
    qsort(tmp, (size_t)m, sizeof *tmp, by_offset);
    int64_t end = 0, found = -1, found_gap = 0;
    for (int i = 0; i < m; i++) {
        const Buffer *q = &bufs[tmp[i]];
        int64_t gap = q->offset - end;
        if (gap >= bufs[b].size && (found < 0 || (best_fit && gap < found_gap))) {
            found = end;
            found_gap = gap;
            if (!best_fit)
                break;
        }
        if (q->offset + q->size > end)
            end = q->offset + q->size;
    }
    return found >= 0 ? found : end;
}

/* Places the buffers in `order`; returns the arena size. */
static int64_t place_all(Buffer *bufs, int n, const int *order, int best_fit, int *tmp, Placed *p)
{
    int64_t arena = 0;
    for (int s = 0; s < p->steps; s++)
        p->head[s] = -1;
    p->nlongs = 0;
    for (int i = 0; i < n; i++) {
        int b = order[i];
        bufs[b].offset = place(bufs, p, b, best_fit, tmp);
        placed_add(p, bufs, b);
        if (bufs[b].offset + bufs[b].size > arena)
            arena = bufs[b].offset + bufs[b].size;
    }
    return arena;
}

typedef int64_t (*KeyFn)(const Buffer *);
static int64_t key_size(const Buffer *b) { return b->size; }
static int64_t key_area(const Buffer *b) { return b->size * (b->last - b->first + 1); }
static int64_t key_length(const Buffer *b) { return b->last - b->first; }
static int64_t key_early(const Buffer *b) { return -(int64_t)b->first; }
static int64_t key_late(const Buffer *b) { return b->last; }

static KeyFn sort_key;

/* Descending by key, then by size, then by first step: deterministic. */
static int by_key(const void *a, const void *b)
{
    const Buffer *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    int64_t kx = sort_key(x), ky = sort_key(y);
    if (kx != ky)
        return kx < ky ? 1 : -1;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->first - y->first;
}

static const struct {
    const char *name;
    KeyFn key;
} orders[] = {
    {"size", key_size}, {"size x lifetime", key_area}, {"lifetime", key_length},
    {"first step", key_early}, {"last step", key_late},
};

typedef struct {
    Buffer *bufs;
    int n;
    int *order, *best_order, *tmp;
    Placed placed;
    int64_t best, bound;
    int best_fit;
    const char *how;
} Search;

static void try_order(Search *s, const int *order, int best_fit, const char *how)
{
    int64_t arena = place_all(s->bufs, s->n, order, best_fit, s->tmp, &s->placed);
    if (s->best < 0 || arena < s->best) {
        s->best = arena;
        s->best_fit = best_fit;
        s->how = how;
        memmove(s->best_order, order, (size_t)s->n * sizeof *order);
    }
}

/* Swaps two buffers of the best order, keeping the change when the arena
 * does not grow; a fixed seed keeps the plan reproducible. */
static void local_search(Search *s)
{
    unsigned seed = 12345;
    for (int round = 0; round < SEARCH_ROUNDS && s->best > s->bound && s->n > 1; round++) {
        memcpy(s->order, s->best_order, (size_t)s->n * sizeof *s->order);
        seed = seed * 1103515245u + 12345u;
        int a = (int)((seed >> 8) % (unsigned)s->n);
        seed = seed * 1103515245u + 12345u;
        int b = (int)((seed >> 8) % (unsigned)s->n);
        int t = s->order[a];
        s->order[a] = s->order[b];
        s->order[b] = t;
        int64_t arena = place_all(s->bufs, s->n, s->order, s->best_fit, s->tmp, &s->placed);
        if (arena <= s->best) {
            if (arena < s->best)
                s->how = tfc_format("%s, then local search", s->how);
            s->best = arena;
            memcpy(s->best_order, s->order, (size_t)s->n * sizeof *s->order);
        }
    }
}

static void search(Search *s)
{
    s->best = -1;
    for (size_t k = 0; k < sizeof orders / sizeof orders[0] && s->best != s->bound; k++) {
        for (int i = 0; i < s->n; i++)
            s->order[i] = i;
        sort_base = s->bufs;
        sort_key = orders[k].key;
        qsort(s->order, (size_t)s->n, sizeof *s->order, by_key);
        try_order(s, s->order, 1, tfc_format("best fit by %s", orders[k].name));
        if (s->best != s->bound)
            try_order(s, s->order, 0, tfc_format("first fit by %s", orders[k].name));
    }
    local_search(s);
    /* leave the winner's offsets in bufs */
    place_all(s->bufs, s->n, s->best_order, s->best_fit, s->tmp, &s->placed);
}

static Plan *new_plan(int count)
{
    Plan *p = tfc_alloc(sizeof *p);
    p->bytes = tfc_alloc((size_t)(count + 1) * sizeof *p->bytes);
    p->first = tfc_alloc((size_t)(count + 1) * sizeof *p->first);
    p->last = tfc_alloc((size_t)(count + 1) * sizeof *p->last);
    p->alias = tfc_alloc((size_t)(count + 1) * sizeof *p->alias);
    p->free_at = tfc_alloc((size_t)(count + 1) * sizeof *p->free_at);
    return p;
}

void pass_plan(Graph *g)
{
    Plan *p = new_plan(g->count);
    liveness(g, p);
    Buffer *bufs = calloc((size_t)g->count + 1, sizeof *bufs);
    int *group = calloc((size_t)g->count + 1, sizeof *group);
    size_t m = (size_t)g->count + 1;
    int *work = calloc(6 * m, sizeof *work);
    if (!bufs || !group || !work)
        error_plain("out of memory");
    int n = make_buffers(g, p, bufs, group);
    Placed placed = {work + 3 * m, work + 4 * m, work + 5 * m, 0, g->count + 1};
    Search s = {bufs, n, work, work + m, work + 2 * m, placed, -1, 0, 1, ""};
    s.bound = lower_bound(bufs, n, g->count, &p->peak_step);
    search(&s);
    for (int i = 0; i < g->count; i++) {
        g->nodes[i].offset = group[i] >= 0 ? bufs[group[i]].offset : 0;
        if (plan_is_view(g, i))   /* where its first element is */
            g->nodes[i].offset = g->nodes[g->nodes[i].in[0]].offset
                                  + dtype_bytes(g->nodes[i].dtype, g->nodes[i].attr.slice.first);
        p->no_reuse += p->bytes[i];
    }
    p->buffers = n;
    p->lower_bound = s.bound;
    p->heuristic = s.how;
    g->arena_bytes = s.best < 0 ? 0 : s.best;
    g->plan = p;
    free(bufs);
    free(group);
    free(work);
}

/* Every symbolic length at most n: shapes and symbols alike. */
void plan_limit_length(Graph *g, int64_t n)
{
    for (int s = 1; s < g->nsyms; s++)
        if (g->syms[s].max > n)
            g->syms[s].max = n;
    for (int i = 0; i < g->count; i++) {
        Shape *sh = &g->nodes[i].shape;
        for (int d = 0; d < sh->ndim; d++)
            if (sh->d[d].sym && sh->d[d].n > n)
                sh->d[d].n = n;
    }
}

/* ---- the int8 linear layers' scratch ----------------------------------------- */

/* The int8 linear layers quantize their input rows on the fly into
 * scratch (runtime/q8.h; with a gated unit, the value half too): one
 * region above every planned buffer, as large as the largest layer needs
 * at the longest length, which each of them uses while it runs and no
 * other node reads.  The one-token step uses its start.  Nothing is
 * allocated in the forward pass. */
void pass_plan_scratch(Graph *g)
{
    int64_t full = 0, step = 0;
    g->scratch_offset = g->scratch_bytes = 0;
    for (int i = 0; i < g->count; i++) {
        const Node *m = &g->nodes[i];
        if (m->dead || m->op != OP_MATMUL || g->nodes[m->in[1]].dtype != DT_Q8)
            continue;
        int64_t f = kprog_q8_scratch(g, i, ir_dim_max(g, m->shape.d[0]));
        int64_t s = kprog_q8_scratch(g, i, 1);
        full = f > full ? f : full;
        step = s > step ? s : step;
    }
    if (!full)
        return;
    g->scratch_offset = (g->arena_bytes + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
    g->scratch_bytes = (full + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
    g->arena_bytes = g->scratch_offset + g->scratch_bytes;
    if (g->cache_sym && g->scratch_offset + step > g->step_arena_bytes)
        g->step_arena_bytes = g->scratch_offset + (step + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}
