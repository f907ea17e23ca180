/*
 * partition.c - splits an encoder-decoder graph into encode and decode.
 *
 * Requires: a verified graph after DCE.  Guarantees: when some model input
 * has a length symbol other than the output's rows (an encoder input:
 * src beside the decoder's tokens), the nodes that depend on encoder
 * inputs only (never on a decoder input) come first in the schedule, nodes
 * [0, g->enc_end), in their old order; the rest follow in theirs.  Every
 * encoder node that a decoder node reads is marked `persist`: the planner
 * keeps it live to the end, so its value outlives the encode call and any
 * number of decode calls over the same encoding.
 *
 * This is a test on the graph, not on a known model: cross-attention key
 * and value projections of the encoder output land in the encoder part by
 * the same rule as the encoder blocks, and so are computed once.
 */
#include "tfc.h"

#include <stdlib.h>
#include <string.h>

enum { SIDE_NONE, SIDE_ENC, SIDE_DEC };

/* The side of each node: inputs by their symbol, the rest by their
 * operands (any decoder operand makes a decoder node). */
static int classify(const Graph *g, int *side)
{
    int out_sym = g->nodes[g->output].shape.d[0].sym, encoders = 0;
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        side[i] = SIDE_NONE;
        if (n->op == OP_INPUT) {
            side[i] = n->shape.d[0].sym == out_sym ? SIDE_DEC : SIDE_ENC;
            encoders += side[i] == SIDE_ENC;
            continue;
        }
        for (int j = 0; j < MAX_ARGS; j++)
            if (n->in[j] >= 0 && side[n->in[j]] > side[i])
                side[i] = side[n->in[j]];
    }
    /* the decoder may read encoder values, not encoder inputs: those are
     * the caller's memory, gone after encode returns */
    for (int i = 0; i < g->count; i++)
        for (int j = 0; j < MAX_ARGS; j++) {
            int k = g->nodes[i].in[j];
            if (side[i] == SIDE_DEC && !g->nodes[i].dead && k >= 0
                && g->nodes[k].op == OP_INPUT && side[k] == SIDE_ENC)
                return 0;
        }
    return out_sym && encoders;
}

/* Moves node ids: old id i becomes map[i]; every reference follows. */
static void renumber(Graph *g, const int *map)
{
    Node *nodes = tfc_alloc((size_t)g->cap * sizeof *nodes);
    for (int i = 0; i < g->count; i++) {
        Node n = g->nodes[i];
        for (int j = 0; j < MAX_ARGS; j++)
            if (n.in[j] >= 0)
                n.in[j] = map[n.in[j]];
        nodes[map[i]] = n;
    }
    g->nodes = nodes;
    for (int i = 0; i < g->ninputs; i++)
        g->inputs[i] = map[g->inputs[i]];
    g->output = map[g->output];
}

void pass_partition(Graph *g)
{
    g->enc_end = 0;
    int *side = tfc_alloc((size_t)(g->count + 1) * sizeof *side);
    if (!classify(g, side))
        return;
    int *map = tfc_alloc((size_t)(g->count + 1) * sizeof *map), next = 0;
    for (int i = 0; i < g->count; i++)
        if (side[i] != SIDE_DEC)
            map[i] = next++;
    g->enc_end = next;
    for (int i = 0; i < g->count; i++)
        if (side[i] == SIDE_DEC)
            map[i] = next++;
    renumber(g, map);
    for (int i = g->enc_end; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        for (int j = 0; j < MAX_ARGS && !n->dead; j++) {
            Node *x = n->in[j] >= 0 ? &g->nodes[n->in[j]] : NULL;
            if (x && n->in[j] < g->enc_end && x->op != OP_WEIGHT && x->op != OP_INPUT)
                x->persist = 1;
        }
    }
}
