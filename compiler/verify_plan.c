/*
 * verify_plan.c - checks a memory plan against the graph, with a liveness
 * of its own rather than the planner's (docs/memory-planning.md states
 * the rules both follow):
 *
 *  - a live node other than a weight, an input, a cache, the output, a
 *    view (a slice of its operand's memory), a stack of weights (concat)
 *    or an op inlined into its reader's loop has a buffer of its bytes at
 *    the longest lengths (twice the row for a gated matmul, which holds
 *    gate and value), 64-byte aligned, inside the arena;
 *  - a buffer lives from its node's step to the last step that reads it,
 *    directly, through a view of it or through an inlined op that reads it
 *    (to the end of the schedule when an encoder value is persisted);
 *  - no two buffers live at one step share a byte, except a node written
 *    in place over an input of its shape whose last reader it is (ops.h
 *    OPF_INPLACE, or a matmul over the residual it adds with no
 *    activation or gate between): then both sit at the same offset;
 *  - the one-token step plan of a cached decoder obeys the same rules
 *    with the cached sequence one token long, beside the encoder values
 *    it reads at their full-plan offsets, and ends within the step arena;
 *  - KV caches lie inside the cache region and do not overlap.
 *
 * A sweep over the steps keeps the live buffers ordered by offset (a
 * Fenwick tree over their ranks in offset order), so that each new buffer
 * is compared with its two neighbours only: O(n log n) for n buffers.
 */
#include "tfc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int id;                  /* node */
    int first, last;         /* steps it is live */
    int64_t offset, bytes;
} Buf;

typedef struct {
    const Graph *g;
    const char *plan;        /* "plan" or "step plan", for messages */
    char *err;
    size_t errlen;
    int failed;
} PlanCheck;

static void fail(PlanCheck *c, const char *fmt, ...)
{
    if (c->failed++)
        return;
    int n = snprintf(c->err, c->errlen, "%s: ", c->plan);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static int is_view(const Node *n)
{
    return n->op == OP_SLICE && n->attr.slice.view;
}

static int in_arena(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    return !n->dead && n->op != OP_WEIGHT && n->op != OP_INPUT && n->op != OP_CACHE
           && n->op != OP_CONCAT && !is_view(n) && !n->inlined && i != g->output;
}

/* Bytes of node i with symbol `one` (0: none) one token long, aligned. */
static int64_t node_bytes(const Graph *g, int i, int one)
{
    const Shape *s = &g->nodes[i].shape;
    int64_t n = 4;
    for (int d = 0; d < s->ndim; d++)
        n *= s->d[d].sym && s->d[d].sym == one ? 1 : ir_dim_max(g, s->d[d]);
    if (g->nodes[i].op == OP_MATMUL && g->nodes[i].attr.matmul.glu)
        n *= 2;
    return (n + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

/* Step i reads node k, and what k's memory is: a view's operand, an
 * inlined op's operands. */
static void read_by(const Graph *g, int i, int k, int *last)
{
    const Node *x = &g->nodes[k];
    if (i > last[k])
        last[k] = i;
    for (int j = 0; j < MAX_ARGS && (is_view(x) || x->inlined); j++)
        if (x->in[j] >= 0 && (j == 0 || x->inlined))
            read_by(g, i, x->in[j], last);
}

/* last[i]: the last step that reads node i, among nodes >= from. */
static int *last_reads(const Graph *g, int from)
{
    int *last = calloc((size_t)g->count + 1, sizeof *last);
    if (!last)
        error_plain("out of memory");
    for (int i = 0; i < g->count; i++)
        last[i] = i;
    for (int i = from; i < g->count; i++)
        for (int j = 0; j < MAX_ARGS && !g->nodes[i].dead; j++)
            if (g->nodes[i].in[j] >= 0)
                read_by(g, i, g->nodes[i].in[j], last);
    return last;
}

/* Whether b may sit exactly where a is: b overwrites a in place. */
static int in_place(const Graph *g, const Buf *a, const Buf *b)
{
    const Node *nb = &g->nodes[b->id], *na = &g->nodes[a->id];
    if (nb->op == OP_MATMUL && !nb->attr.matmul.glu && !nb->attr.matmul.act)
        return nb->in[3] == a->id && a->last == b->first && a->offset == b->offset
               && a->bytes == b->bytes && ir_shape_equal(na->shape, nb->shape);
    if (!(op_flags[nb->op] & OPF_INPLACE) || a->last != b->first || a->offset != b->offset
        || a->bytes != b->bytes || na->dtype != nb->dtype || !ir_shape_equal(na->shape, nb->shape))
        return 0;
    for (int j = 0; j < MAX_ARGS; j++)
        if (nb->in[j] == a->id)
            return 1;
    return 0;
}

/* ---- a Fenwick tree of live ranks ---------------------------------------- */

typedef struct {
    int *t;
    int n, total;
} Live;

static void live_add(Live *l, int rank, int d)
{
    l->total += d;
    for (int i = rank + 1; i <= l->n; i += i & -i)
        l->t[i] += d;
}

/* Live ranks below rank. */
static int live_below(const Live *l, int rank)
{
    int s = 0;
    for (int i = rank; i > 0; i -= i & -i)
        s += l->t[i];
    return s;
}

/* The k-th live rank (k from 1). */
static int live_kth(const Live *l, int k)
{
    int pos = 0, step = 1;
    while (step * 2 <= l->n)
        step *= 2;
    for (; step; step /= 2)
        if (pos + step <= l->n && l->t[pos + step] < k) {
            pos += step;
            k -= l->t[pos];
        }
    return pos;
}

/* ---- the sweep ------------------------------------------------------------ */

static const Buf *sort_bufs;

static int by_offset(const void *x, const void *y)
{
    const Buf *a = &sort_bufs[*(const int *)x], *b = &sort_bufs[*(const int *)y];
    if (a->offset != b->offset)
        return a->offset < b->offset ? -1 : 1;
    return a->id - b->id;
}

static int by_first(const void *x, const void *y)
{
    const Buf *a = &sort_bufs[*(const int *)x], *b = &sort_bufs[*(const int *)y];
    return a->first != b->first ? a->first - b->first : a->id - b->id;
}

static int by_last(const void *x, const void *y)
{
    const Buf *a = &sort_bufs[*(const int *)x], *b = &sort_bufs[*(const int *)y];
    return a->last != b->last ? a->last - b->last : a->id - b->id;
}

static void overlap(PlanCheck *c, const Buf *a, const Buf *b, int step)
{
    fail(c, "%s (%%%d, bytes [%lld, %lld)) and %s (%%%d, bytes [%lld, %lld)) are both live at "
         "step %d and overlap", c->g->nodes[a->id].name, a->id, (long long)a->offset,
         (long long)(a->offset + a->bytes), c->g->nodes[b->id].name, b->id, (long long)b->offset,
         (long long)(b->offset + b->bytes), step);
}

/* Inserts buffer r (a rank) at step t after comparing it with its live
 * neighbours in offset order; a buffer written in place over its
 * neighbour replaces it. */
static void insert(PlanCheck *c, Live *live, const Buf *bufs, const int *by_rank, int *alive,
                   int r, int t)
{
    const Buf *b = &bufs[by_rank[r]];
    int below = live_below(live, r);
    if (below > 0) {
        int p = live_kth(live, below);
        const Buf *a = &bufs[by_rank[p]];
        if (in_place(c->g, a, b)) {
            live_add(live, p, -1);
            alive[p] = 0;
        } else if (a->offset + a->bytes > b->offset) {
            overlap(c, a, b, t);
        }
    }
    below = live_below(live, r);
    if (below < live->total) {
        int s = live_kth(live, below + 1);
        const Buf *a = &bufs[by_rank[s]];
        if (b->offset + b->bytes > a->offset)
            overlap(c, a, b, t);
    }
    live_add(live, r, 1);
    alive[r] = 1;
}

/* No two of bufs[0..n) live at one step overlap. */
static void sweep(PlanCheck *c, const Buf *bufs, int n)
{
    int *order = malloc(3 * ((size_t)n + 1) * sizeof *order);
    int *rank_of = calloc((size_t)n + 1, sizeof *rank_of), *alive = calloc((size_t)n + 1, sizeof *alive);
    Live live = {calloc((size_t)n + 2, sizeof *live.t), n, 0};
    if (!order || !rank_of || !alive || !live.t)
        error_plain("out of memory");
    int *by_rank = order, *starts = order + n + 1, *ends = order + 2 * (n + 1);
    for (int i = 0; i < n; i++)
        by_rank[i] = starts[i] = ends[i] = i;
    sort_bufs = bufs;
    qsort(by_rank, (size_t)n, sizeof *by_rank, by_offset);
    qsort(starts, (size_t)n, sizeof *starts, by_first);
    qsort(ends, (size_t)n, sizeof *ends, by_last);
    for (int r = 0; r < n; r++)
        rank_of[by_rank[r]] = r;
    for (int s = 0, e = 0; s < n && !c->failed; s++) {
        int t = bufs[starts[s]].first;
        for (; e < n && bufs[ends[e]].last < t; e++)
            if (alive[rank_of[ends[e]]]) {
                live_add(&live, rank_of[ends[e]], -1);
                alive[rank_of[ends[e]]] = 0;
            }
        insert(c, &live, bufs, by_rank, alive, rank_of[starts[s]], t);
    }
    free(order);
    free(rank_of);
    free(alive);
    free(live.t);
}

/* Each buffer inside [0, top), and the sweep. */
static void check_buffers(PlanCheck *c, const Buf *bufs, int n, int64_t top, const char *what)
{
    for (int i = 0; i < n && !c->failed; i++)
        if (bufs[i].offset < 0 || bufs[i].offset % PLAN_ALIGN || bufs[i].offset > top - bufs[i].bytes)
            fail(c, "%s (%%%d, %lld bytes at offset %lld) does not lie on a %d-byte boundary "
                 "inside %s of %lld bytes", c->g->nodes[bufs[i].id].name, bufs[i].id,
                 (long long)bufs[i].bytes, (long long)bufs[i].offset, PLAN_ALIGN, what, (long long)top);
    if (!c->failed)
        sweep(c, bufs, n);
}

/* The full plan: every arena node at `offset`. */
static void check_full(PlanCheck *c, Buf *bufs)
{
    const Graph *g = c->g;
    int *last = last_reads(g, 0), n = 0;
    for (int i = 0; i < g->count; i++) {
        if (!in_arena(g, i))
            continue;
        int end = g->nodes[i].persist ? g->count - 1 : last[i];
        bufs[n++] = (Buf){i, i, end, g->nodes[i].offset, node_bytes(g, i, 0)};
    }
    free(last);
    check_buffers(c, bufs, n, g->arena_bytes, "the arena");
}

/* The step plan: decoder nodes at `step_offset`, sized for one token, and
 * the persisted encoder values at `offset`, live throughout. */
static void check_step(PlanCheck *c, Buf *bufs)
{
    const Graph *g = c->g;
    int *last = last_reads(g, g->enc_end), n = 0;
    for (int i = 0; i < g->count; i++) {
        if (!in_arena(g, i))
            continue;
        if (i < g->enc_end && g->nodes[i].persist)
            bufs[n++] = (Buf){i, 0, g->count - 1, g->nodes[i].offset, node_bytes(g, i, 0)};
        else if (i >= g->enc_end)
            bufs[n++] = (Buf){i, i, last[i], g->nodes[i].step_offset,
                              node_bytes(g, i, g->cache_sym)};
    }
    free(last);
    if (g->step_arena_bytes > g->arena_bytes)
        fail(c, "the step arena (%lld bytes) is larger than the arena (%lld)",
             (long long)g->step_arena_bytes, (long long)g->arena_bytes);
    check_buffers(c, bufs, n, g->step_arena_bytes, "the step arena");
}

static int by_cache_offset(const void *x, const void *y)
{
    const Buf *a = x, *b = y;
    return (a->offset > b->offset) - (a->offset < b->offset);
}

/* Caches: inside the cache region, disjoint (all live throughout). */
static void check_caches(PlanCheck *c, Buf *bufs)
{
    const Graph *g = c->g;
    int n = 0;
    for (int i = 0; i < g->count; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_CACHE)
            bufs[n++] = (Buf){i, 0, 0, g->nodes[i].attr.cache.offset,
                              dtype_bytes(g->nodes[i].dtype, ir_max_elems(g, g->nodes[i].shape))};
    qsort(bufs, (size_t)n, sizeof *bufs, by_cache_offset);
    for (int i = 0; i < n && !c->failed; i++)
        if (bufs[i].offset < 0 || bufs[i].offset > g->cache_bytes - bufs[i].bytes
            || (i > 0 && bufs[i - 1].offset + bufs[i - 1].bytes > bufs[i].offset))
            fail(c, "cache %s (%%%d, %lld bytes at %lld) overlaps another or leaves the %lld-byte "
                 "cache region", g->nodes[bufs[i].id].name, bufs[i].id, (long long)bufs[i].bytes,
                 (long long)bufs[i].offset, (long long)g->cache_bytes);
}

int plan_verify(const Graph *g, char *err, size_t errlen)
{
    if (!g->plan)
        return 0;
    Buf *bufs = calloc((size_t)g->count + 1, sizeof *bufs);
    if (!bufs)
        error_plain("out of memory");
    PlanCheck c = {g, "memory plan", err, errlen, 0};
    check_full(&c, bufs);
    if (!c.failed && g->cache_sym) {
        c.plan = "step plan";
        check_step(&c, bufs);
        c.plan = "KV cache";
        check_caches(&c, bufs);
    }
    free(bufs);
    return c.failed != 0;
}
