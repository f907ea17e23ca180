/*
 * plan.c - static memory planning: one arena for every intermediate.
 *
 * Requires: a verified graph with dead nodes marked.  Guarantees: every
 * live node other than weights, inputs and the output (which the caller
 * supplies) has an `offset` into an arena of `g->arena_bytes`, sized for
 * the longest sequences the inputs allow, and no two buffers that are live
 * at the same step overlap.
 *
 * The heuristic is greedy by size: buffers are placed largest first, each
 * at the lowest offset where it fits among the already placed buffers
 * whose live ranges intersect its own (as in the TFLite arena planner).
 */
#include "tfc.h"

#include <stdlib.h>

#define ALIGN 64

typedef struct {
    int node;
    int first, last;       /* steps (node ids) where it is written / last read */
    int64_t size;
    int64_t offset;
} Buffer;

static int needs_buffer(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    return !n->dead && n->op != OP_WEIGHT && n->op != OP_INPUT && i != g->output;
}

static int by_size_desc(const void *a, const void *b)
{
    const Buffer *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->first - y->first;
}

static int overlaps_in_time(const Buffer *a, const Buffer *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* The lowest offset >= 0 where buf fits between the placed buffers that
 * are live at the same time. */
static int64_t lowest_fit(const Buffer *placed, int nplaced, const Buffer *buf)
{
    int64_t offset = 0;
    for (int moved = 1; moved;) {
        moved = 0;
        for (int i = 0; i < nplaced; i++) {
            const Buffer *p = &placed[i];
            if (overlaps_in_time(p, buf) && p->offset < offset + buf->size
                && offset < p->offset + p->size) {
                offset = p->offset + p->size;
                moved = 1;
            }
        }
    }
    return offset;
}

void pass_plan(Graph *g)
{
    Buffer *bufs = calloc((size_t)g->count + 1, sizeof *bufs);
    if (!bufs)
        error_plain("out of memory");
    int n = 0;
    int *index = calloc((size_t)g->count + 1, sizeof *index);
    for (int i = 0; i < g->count; i++) {
        index[i] = -1;
        if (!needs_buffer(g, i))
            continue;
        int64_t bytes = ir_max_elems(g, g->nodes[i].shape) * 4;
        bufs[n] = (Buffer){i, i, i, (bytes + ALIGN - 1) / ALIGN * ALIGN, 0};
        index[i] = n++;
    }
    for (int i = 0; i < g->count; i++)
        for (int j = 0; j < MAX_INPUTS; j++) {
            const Node *nd = &g->nodes[i];
            if (!nd->dead && nd->in[j] >= 0 && index[nd->in[j]] >= 0)
                bufs[index[nd->in[j]]].last = i;
        }
    qsort(bufs, (size_t)n, sizeof *bufs, by_size_desc);
    int64_t arena = 0;
    for (int i = 0; i < n; i++) {
        bufs[i].offset = lowest_fit(bufs, i, &bufs[i]);
        if (bufs[i].offset + bufs[i].size > arena)
            arena = bufs[i].offset + bufs[i].size;
        g->nodes[bufs[i].node].offset = bufs[i].offset;
    }
    g->arena_bytes = arena;
    free(bufs);
    free(index);
}
