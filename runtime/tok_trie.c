/*
 * tok_trie.c - byte tries, for added tokens and Unigram pieces.
 *
 * Edges live in one open-addressing table keyed by (node, byte), so a node
 * costs a few bytes however many children it has, and a step is one hash
 * probe.  Walking the trie along the text finds every entry that starts at
 * a position in time proportional to the longest one that matches there,
 * whatever the number of entries.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static int grow_nodes(Trie *tr)
{
    size_t cap = tr->node_cap ? 2 * tr->node_cap : 64;
    int32_t *a;

    if (cap > INT32_MAX || !(a = realloc(tr->accept, cap * sizeof *a)))
        return TFRT_ERR_NOMEM;
    tr->accept = a;
    tr->node_cap = cap;
    return TFRT_OK;
}

static int grow_edges(Trie *tr)
{
    size_t cap = tr->edge_cap ? 2 * tr->edge_cap : 64;
    uint64_t *keys = malloc(cap * sizeof *keys);
    int32_t *to = malloc(cap * sizeof *to);

    if (!keys || !to || cap > SIZE_MAX / 16) {
        free(keys);
        free(to);
        return TFRT_ERR_NOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        keys[i] = EMPTY_KEY;
    for (size_t i = 0; i < tr->edge_cap; i++) {
        size_t j;
        if (tr->edge_key[i] == EMPTY_KEY)
            continue;
        for (j = (size_t)mix(tr->edge_key[i]) & (cap - 1); keys[j] != EMPTY_KEY; j = (j + 1) & (cap - 1))
            ;
        keys[j] = tr->edge_key[i];
        to[j] = tr->edge_to[i];
    }
    free(tr->edge_key);
    free(tr->edge_to);
    tr->edge_key = keys;
    tr->edge_to = to;
    tr->edge_cap = cap;
    return TFRT_OK;
}

int trie_init(Trie *tr)
{
    memset(tr, 0, sizeof *tr);
    if (grow_nodes(tr) || grow_edges(tr))
        return TFRT_ERR_NOMEM;
    tr->accept[0] = -1;
    tr->nodes = 1;
    return TFRT_OK;
}

/* The slot of edge (node, byte): where it is, or the free slot for it. */
static size_t edge_slot(const Trie *tr, int32_t node, uint8_t byte)
{
    uint64_t key = (uint64_t)(uint32_t)node << 8 | byte;
    size_t mask = tr->edge_cap - 1, i = (size_t)mix(key) & mask;

    while (tr->edge_key[i] != EMPTY_KEY && tr->edge_key[i] != key)
        i = (i + 1) & mask;
    return i;
}

int32_t trie_child(const Trie *tr, int32_t node, uint8_t byte)
{
    size_t i;

    if (!tr->edge_key)
        return -1;
    i = edge_slot(tr, node, byte);
    return tr->edge_key[i] == EMPTY_KEY ? -1 : tr->edge_to[i];
}

int trie_insert(Trie *tr, const uint8_t *s, size_t n, int32_t value)
{
    int32_t node = 0;

    for (size_t k = 0; k < n; k++) {
        int32_t next = trie_child(tr, node, s[k]);
        size_t i;
        if (next >= 0) {
            node = next;
            continue;
        }
        if ((tr->nodes == tr->node_cap && grow_nodes(tr)) ||
            ((tr->edges + 1) * 2 > tr->edge_cap && grow_edges(tr)))
            return TFRT_ERR_NOMEM;
        i = edge_slot(tr, node, s[k]);
        tr->edge_key[i] = (uint64_t)(uint32_t)node << 8 | s[k];
        tr->edge_to[i] = (int32_t)tr->nodes;
        tr->edges++;
        tr->accept[tr->nodes] = -1;
        node = (int32_t)tr->nodes++;
    }
    if (tr->accept[node] < 0)
        tr->accept[node] = value;
    return TFRT_OK;
}

void trie_free(Trie *tr)
{
    free(tr->accept);
    free(tr->edge_key);
    free(tr->edge_to);
    memset(tr, 0, sizeof *tr);
}
