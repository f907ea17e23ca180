/*
 * dce.c - dead-code elimination.
 * Requires: a verified graph.  Guarantees: every live node is needed by the
 * output or is a model input (inputs stay: they are the API).  Weights no
 * node uses are dropped, so the model does not ask the file for them.
 */
#include "tfc.h"

void pass_dce(Graph *g)
{
    for (int i = 0; i < g->count; i++)
        g->nodes[i].dead = 1;
    g->nodes[g->output].dead = 0;
    for (int i = g->count - 1; i >= 0; i--) {
        Node *n = &g->nodes[i];
        if (n->op == OP_INPUT)
            n->dead = 0;
        if (n->dead)
            continue;
        for (int j = 0; j < MAX_ARGS; j++)
            if (n->in[j] >= 0)
                g->nodes[n->in[j]].dead = 0;
    }
}
