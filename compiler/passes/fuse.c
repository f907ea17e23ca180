/*
 * fuse.c - operator fusion: fewer kernel calls and fewer passes over memory.
 *
 * Requires: a verified graph after dce, partition and kv_cache.
 * Guarantees: the same results up to float rounding, from fewer nodes:
 *
 *   glu       act(x W1 + b1) * (x W3 + b3) becomes one matmul over the
 *             stacked [W1; W3] with the gated unit in its epilogue
 *   qkv       the separate q, k, v (or k, v) projections of one attention,
 *             over one input, become one matmul over the stacked weights;
 *             the old projections become column slices of its result
 *   rope      rope of a slice of a matmul runs in the matmul's epilogue,
 *             when the matmul is read only through slices that tile its
 *             columns: they are its parts, each with its own epilogue
 *   views     slices whose readers all take a row stride (matmul inputs,
 *             attention, cache appends, elementwise loops) become views
 *             into their operand: no copy
 *   cache     the KV-cache append of a part runs in the matmul's epilogue
 *   act       act(x W + b) runs in the matmul's epilogue
 *   residual  r + (x W + b) runs in the epilogue; the result may then
 *             overwrite r (the planner's in-place rule)
 *   chains    an elementwise op whose value has one elementwise reader is
 *             computed inside that reader's loop (`inlined`): the back ends
 *             generate one loop for the whole chain
 *
 * Each rule is one function in the table `fuse_rules`, run in its order
 * over the whole graph, and can be switched off (-fno-fuse-NAME).  Every
 * rewrite keeps the schedule valid: a fused matmul sits where all its
 * operands are known, and a node fused into another one hands its readers
 * to it.  Fused nodes remember the model-file lines they cover (`covers`),
 * for the comments of the generated code.
 */
#include "tfc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- who reads what ---------------------------------------------------- */

/* Every node's readers, one entry per operand slot that reads it.  Dead
 * readers stay listed (the queries skip them).  Built on first use and
 * kept true through a rule's rewrites: redirect moves entries and
 * set_operand adds them; inserting a node shifts every id, so insert_concat
 * drops the index and the next query builds it again.  Without it, each
 * query would scan the rest of the graph: quadratic in the model's size. */
typedef struct {
    int *id;
    int n, cap;
    int own;      /* id is an allocation of its own, not a piece of `block` */
} ReaderList;

static struct {
    ReaderList *of;   /* by node id; NULL: not built */
    int *block;       /* the lists as first built, one after another */
    int count;        /* nodes when built */
} rd;

static void index_drop(void)
{
    for (int i = 0; rd.of && i < rd.count; i++)
        if (rd.of[i].own)
            free(rd.of[i].id);
    free(rd.of);
    free(rd.block);
    rd.of = NULL, rd.block = NULL, rd.count = 0;
}

static void *index_alloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "tfc: error: out of memory\n");
        exit(1);
    }
    return p;
}

static const ReaderList *readers(const Graph *g, int id)
{
    if (!rd.of) {
        size_t edges = 0;
        rd.count = g->count;
        rd.of = index_alloc((size_t)g->count, sizeof *rd.of);
        for (int i = 0; i < g->count; i++)
            for (int j = 0; !g->nodes[i].dead && j < MAX_ARGS; j++)
                if (g->nodes[i].in[j] >= 0)
                    rd.of[g->nodes[i].in[j]].cap++, edges++;
        rd.block = index_alloc(edges, sizeof *rd.block);
        for (int i = 0, at = 0; i < g->count; at += rd.of[i++].cap)
            rd.of[i].id = rd.block + at;
        for (int i = 0; i < g->count; i++)
            for (int j = 0; !g->nodes[i].dead && j < MAX_ARGS; j++)
                if (g->nodes[i].in[j] >= 0) {
                    ReaderList *l = &rd.of[g->nodes[i].in[j]];
                    l->id[l->n++] = i;
                }
    }
    if (id < 0 || id >= rd.count)
        tfc_bug("node %d outside the reader index of %d nodes", id, rd.count);
    return &rd.of[id];
}

static void index_add(int id, int reader)
{
    if (!rd.of)
        return;   /* built from the graph when next needed */
    ReaderList *l = &rd.of[id];
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        int *grown = index_alloc((size_t)cap, sizeof *grown);
        memcpy(grown, l->id, (size_t)l->n * sizeof *grown);
        if (l->own)
            free(l->id);
        l->id = grown, l->cap = cap, l->own = 1;
    }
    l->id[l->n++] = reader;
}

/* Operand slot j of node n reads id. */
static void set_operand(Graph *g, int n, int j, int id)
{
    g->nodes[n].in[j] = id;
    index_add(id, n);
}

/* ---- reading the graph ----------------------------------------------- */

/* Live references to node id: operands of live nodes, the output, and a
 * persisted value's reader to come (decode). */
static int uses(const Graph *g, int id)
{
    int n = (id == g->output) + g->nodes[id].persist;
    const ReaderList *l = readers(g, id);
    for (int k = 0; k < l->n; k++)
        n += !g->nodes[l->id[k]].dead;
    return n;
}

/* The one live reader of id, or -1 when it has none or several. */
static int only_reader(const Graph *g, int id)
{
    if (uses(g, id) != 1 || id == g->output || g->nodes[id].persist)
        return -1;
    const ReaderList *l = readers(g, id);
    for (int k = 0; k < l->n; k++)
        if (!g->nodes[l->id[k]].dead)
            return l->id[k];
    return -1;
}

static int is_activation(Op op)
{
    return op == OP_GELU || op == OP_GELU_TANH || op == OP_RELU || op == OP_SILU || op == OP_TANH;
}

static Act act_of(Op op)
{
    switch (op) {
    case OP_GELU: return ACT_GELU;
    case OP_GELU_TANH: return ACT_GELU_TANH;
    case OP_RELU: return ACT_RELU;
    case OP_SILU: return ACT_SILU;
    case OP_TANH: return ACT_TANH;
    default: return ACT_NONE;
    }
}

/* A matmul with nothing fused into it yet, over a stored weight. */
static int is_plain_matmul(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    if (id < 0 || n->dead || n->op != OP_MATMUL)
        return 0;
    return g->nodes[n->in[1]].op == OP_WEIGHT && n->in[3] < 0 && n->in[4] < 0
           && !n->attr.matmul.act && !n->attr.matmul.glu && !n->attr.matmul.parts;
}

/* Matmuls that may share one call: one input, one layout, all with a bias
 * or none. */
static int stackable(const Graph *g, const int *ids, int n)
{
    const Node *a = &g->nodes[ids[0]];
    for (int i = 0; i < n; i++) {
        const Node *b = &g->nodes[ids[i]];
        if (!is_plain_matmul(g, ids[i]) || b->in[0] != a->in[0]
            || b->attr.matmul.layout != a->attr.matmul.layout || (b->in[2] < 0) != (a->in[2] < 0))
            return 0;
        for (int j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return 0;
    }
    return 1;
}

/* ---- rewriting it ------------------------------------------------------ */

/* Readers of `from` read `to` instead; the output and persistence move
 * with them. */
static void redirect(Graph *g, int from, int to)
{
    ReaderList *l = (ReaderList *)readers(g, from);
    for (int k = 0; k < l->n; k++) {
        Node *r = &g->nodes[l->id[k]];
        for (int j = 0; !r->dead && j < MAX_ARGS; j++)
            if (r->in[j] == from) {
                r->in[j] = to;
                index_add(to, l->id[k]);
                break;   /* one entry per slot: the entry of a second slot moves it */
            }
    }
    l->n = 0;
    if (g->output == from)
        g->output = to;
    g->nodes[to].persist |= g->nodes[from].persist;
}

static void add_line(Node *n, int line)
{
    if (line <= 0 || line == n->loc.line)
        return;
    for (int i = 0; i < n->ncovers; i++)
        if (n->covers[i] == line)
            return;
    if (n->ncovers < MAX_COVERS)
        n->covers[n->ncovers++] = line;
}

/* n now does the work of x: it covers x's model-file lines too. */
static void absorb(Node *n, const Node *x)
{
    add_line(n, x->loc.line);
    for (int i = 0; i < x->ncovers; i++)
        add_line(n, x->covers[i]);
}

/* Folds `from` into `into` (which now computes its value) and retires it. */
static void fold(Graph *g, int from, int into)
{
    redirect(g, from, into);
    absorb(&g->nodes[into], &g->nodes[from]);
    g->nodes[from].dead = 1;
}

/* Inserts at `at` a CONCAT of the operand `slot` (weight or bias) of the
 * matmuls ids[0..n), stacked along their output dimension.  Returns its id;
 * ids[] are updated for the shift. */
static int insert_concat(Graph *g, int at, int *ids, int n, int slot)
{
    const Node *first = &g->nodes[ids[0]];
    int axis = slot == 1 && first->attr.matmul.layout ? 1 : 0;
    Shape s = g->nodes[first->in[slot]].shape;
    s.d[axis].n = 0;
    for (int i = 0; i < n; i++)
        s.d[axis].n += g->nodes[g->nodes[ids[i]].in[slot]].shape.d[axis].n;
    index_drop();   /* ids shift */
    int c = ir_insert(g, at, OP_CONCAT, DT_F32, s, first->loc);
    for (int i = 0; i < n; i++)
        ids[i] += ids[i] >= at;
    Node *cn = &g->nodes[c];
    for (int i = 0; i < n; i++)
        cn->in[i] = g->nodes[ids[i]].in[slot];
    cn->attr.concat.axis = axis;
    cn->name = tfc_format("%s_%s", g->nodes[ids[0]].name, slot == 1 ? "stacked_w" : "stacked_b");
    return c;
}

/* The output columns of matmul id (its weight's rows, or columns). */
static int64_t out_cols(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    const Node *w = &g->nodes[n->in[1]];
    return n->attr.matmul.layout ? w->shape.d[1].n : w->shape.d[0].n;
}

/* Whether every operand of ids[0..n) other than x precedes node `at`. */
static int operands_before(const Graph *g, const int *ids, int n, int at)
{
    for (int i = 0; i < n; i++)
        for (int j = 1; j < 3; j++)
            if (g->nodes[ids[i]].in[j] >= at)
                return 0;
    return 1;
}

/* ---- glu ----------------------------------------------------------------- */

/* MUL node m as act(gate) * up: the gate and up matmuls, or 0. */
static int glu_operands(const Graph *g, int m, int *gate, int *up, int *act)
{
    const Node *n = &g->nodes[m];
    for (int k = 0; k < 2; k++) {
        int a = n->in[k], u = n->in[1 - k];
        if (!is_activation(g->nodes[a].op) || only_reader(g, a) != m || only_reader(g, u) != m)
            continue;
        int ids[2] = {g->nodes[a].in[0], u};
        if (!stackable(g, ids, 2) || only_reader(g, ids[0]) != a
            || !ir_shape_equal(g->nodes[ids[0]].shape, g->nodes[u].shape))
            continue;
        *gate = ids[0], *up = u, *act = a;
        return 1;
    }
    return 0;
}

static int rule_glu(Graph *g)
{
    int done = 0;
    for (int m = 0; m < g->count; m++) {
        int gate, up, act;
        if (g->nodes[m].dead || g->nodes[m].op != OP_MUL || !glu_operands(g, m, &gate, &up, &act))
            continue;
        int ids[2] = {gate, up};
        int w = insert_concat(g, m, ids, 2, 1);
        m++, act += act >= w;
        int b = -1;
        if (g->nodes[ids[0]].in[2] >= 0) {
            b = insert_concat(g, m, ids, 2, 2);
            m++, act += act >= b;
        }
        /* the MUL becomes the fused matmul: its readers stay as they are */
        Node *f = &g->nodes[m];
        const Node *gn = &g->nodes[ids[0]];
        Act a = act_of(g->nodes[act].op);
        f->op = OP_MATMUL;
        for (int j = 0; j < MAX_ARGS; j++)
            f->in[j] = -1;
        f->in[0] = gn->in[0], f->in[1] = w, f->in[2] = b;
        memset(&f->attr, 0, sizeof f->attr);
        f->attr.matmul.layout = gn->attr.matmul.layout;
        f->attr.matmul.act = a;
        f->attr.matmul.glu = 1;
        int gone[3] = {ids[0], ids[1], act};
        for (int i = 0; i < 3; i++) {
            absorb(f, &g->nodes[gone[i]]);
            g->nodes[gone[i]].dead = 1;
        }
        done++;
    }
    return done;
}

/* ---- qkv ----------------------------------------------------------------- */

/* The matmul behind an attention operand, through rope and cache. */
static int projection(const Graph *g, int id)
{
    while (g->nodes[id].op == OP_ROPE || g->nodes[id].op == OP_CACHE)
        id = g->nodes[id].in[0];
    return g->nodes[id].op == OP_MATMUL ? id : -1;
}

/* Stacks matmuls ids[0..n) into one, placed before the first of them;
 * each becomes a slice of the result (keeping its id and readers). */
static void stack_projections(Graph *g, int *ids, int n)
{
    int first = ids[0];
    for (int i = 1; i < n; i++)
        first = ids[i] < first ? ids[i] : first;
    int w = insert_concat(g, first, ids, n, 1);
    int b = g->nodes[ids[0]].in[2] >= 0 ? insert_concat(g, w + 1, ids, n, 2) : -1;
    int at = (b >= 0 ? b : w) + 1;
    const Node *m0 = &g->nodes[ids[0]];
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += out_cols(g, ids[i]);
    index_drop();   /* ids shift */
    int f = ir_insert(g, at, OP_MATMUL, DT_F32, ir_shape2(m0->shape.d[0], ir_const(total)), m0->loc);
    for (int i = 0; i < n; i++)
        ids[i] += ids[i] >= f;
    Node *fn = &g->nodes[f];
    m0 = &g->nodes[ids[0]];
    fn->in[0] = m0->in[0], fn->in[1] = w, fn->in[2] = b;
    fn->attr.matmul.layout = m0->attr.matmul.layout;
    fn->attr.matmul.parts = n;
    const char *name = m0->name;
    int64_t col = 0;
    for (int i = 0; i < n; i++) {
        Node *m = &g->nodes[ids[i]];
        int cols = (int)out_cols(g, ids[i]);
        if (i)
            name = tfc_format("%s_%s", name, m->name);
        fn->attr.matmul.part_cols[i] = cols;
        absorb(fn, m);
        m->op = OP_SLICE;
        for (int j = 0; j < MAX_ARGS; j++)
            m->in[j] = -1;
        m->in[0] = f;
        memset(&m->attr, 0, sizeof m->attr);
        m->attr.slice.first = (int)col;
        m->attr.slice.cols = cols;
        col += cols;
    }
    fn->name = name;
}

static int rule_qkv(Graph *g)
{
    int done = 0;
    for (int t = 0; t < g->count; t++) {
        const Node *a = &g->nodes[t];
        if (a->dead || a->op != OP_ATTENTION)
            continue;
        int ids[3] = {projection(g, a->in[0]), projection(g, a->in[1]), projection(g, a->in[2])};
        int *group = ids, n = 3;
        if (ids[0] < 0 || !stackable(g, ids, 3))
            group = ids + 1, n = 2;   /* cross-attention: k and v share the encoding */
        if (group[0] < 0 || group[1] < 0 || !stackable(g, group, n))
            continue;
        int first = group[0];
        for (int i = 1; i < n; i++)
            first = group[i] < first ? group[i] : first;
        if (!operands_before(g, group, n, first))
            continue;
        int before = g->count;
        stack_projections(g, group, n);
        t += g->count - before;   /* the stacked weights and matmul went in before it */
        done++;
    }
    return done;
}

/* ---- views ---------------------------------------------------------------- */

/* Whether reader r can read its operand in slot j with a row stride. */
static int takes_stride(const Graph *g, int r, int j, int slice)
{
    const Node *n = &g->nodes[r];
    switch (n->op) {
    case OP_MATMUL: return j == 0 || j == 3;
    case OP_CACHE:
    case OP_FIRST: return 1;
    case OP_ATTENTION: {
        if (j == 0)
            return 1;
        /* keys and values share one stride: both views of one operand */
        const Node *k = &g->nodes[n->in[1]], *v = &g->nodes[n->in[2]];
        int x = g->nodes[slice].in[0];
        return j < 3 && k->op == OP_SLICE && v->op == OP_SLICE && k->in[0] == x && v->in[0] == x;
    }
    default: return (op_flags[n->op] & OPF_ELEMENTWISE) != 0;
    }
}

static int can_view(const Graph *g, int s)
{
    const Node *n = &g->nodes[s];
    const Node *x = &g->nodes[n->in[0]];
    if (s == g->output || x->op == OP_WEIGHT || x->op == OP_INPUT || x->op == OP_CACHE
        || (x->op == OP_SLICE && x->attr.slice.view))
        return 0;
    const ReaderList *l = readers(g, s);
    for (int k = 0; k < l->n; k++)
        for (int i = l->id[k], j = 0; !g->nodes[i].dead && j < MAX_ARGS; j++)
            if (g->nodes[i].in[j] == s && !takes_stride(g, i, j, s))
                return 0;
    return 1;
}


static int rule_views(Graph *g)
{
    int done = 0;
    for (int s = 0; s < g->count; s++) {
        Node *n = &g->nodes[s];
        if (n->dead || n->op != OP_SLICE || n->attr.slice.view || !can_view(g, s))
            continue;
        n->attr.slice.view = 1;
        g->nodes[n->in[0]].persist |= n->persist;   /* decode reads it through the view */
        done++;
    }
    /* keys and values are read with one stride: both views, or neither */
    for (int t = 0; t < g->count; t++) {
        const Node *a = &g->nodes[t];
        if (a->dead || a->op != OP_ATTENTION)
            continue;
        Node *k = &g->nodes[a->in[1]], *v = &g->nodes[a->in[2]];
        int kview = k->op == OP_SLICE && k->attr.slice.view, vview = v->op == OP_SLICE && v->attr.slice.view;
        if (kview != vview) {
            k->attr.slice.view = v->attr.slice.view = 0;
            done--;
        }
    }
    return done;
}

/* ---- rope and cache: per-part epilogues --------------------------------- */

/* A matmul read only through slices that tile its columns: those become
 * its parts, so that rope and cache copies can run per part.  Returns
 * whether f has parts. */
static int set_parts(Graph *g, int f)
{
    Node *m = &g->nodes[f];
    int64_t cols = m->shape.d[1].n, at = 0;
    int parts = 0, part_cols[MAX_PARTS];
    if (m->attr.matmul.parts)
        return 1;
    if (m->attr.matmul.glu || f == g->output || m->persist)
        return 0;
    const ReaderList *l = readers(g, f);
    for (int k = 0; k < l->n; k++)   /* slices are its only readers */
        if (!g->nodes[l->id[k]].dead && g->nodes[l->id[k]].op != OP_SLICE)
            return 0;
    while (at < cols) {
        int found = -1;   /* the first slice that starts at column `at` */
        for (int k = 0; k < l->n; k++) {
            const Node *s = &g->nodes[l->id[k]];
            if (!s->dead && s->in[0] == f && s->attr.slice.first == at && (found < 0 || l->id[k] < found))
                found = l->id[k];
        }
        if (found < 0 || parts == MAX_PARTS)
            return 0;
        part_cols[parts] = g->nodes[found].attr.slice.cols;
        at += part_cols[parts++];
    }
    m->attr.matmul.parts = parts;
    memcpy(m->attr.matmul.part_cols, part_cols, sizeof part_cols);
    return 1;
}

/* The part of matmul f that slice s covers exactly, or -1. */
static int part_of(const Graph *g, int f, int s)
{
    const Node *m = &g->nodes[f];
    int at = 0;
    for (int p = 0; p < m->attr.matmul.parts; p++) {
        if (at == g->nodes[s].attr.slice.first && m->attr.matmul.part_cols[p] == g->nodes[s].attr.slice.cols)
            return p;
        at += m->attr.matmul.part_cols[p];
    }
    return -1;
}

/* The matmul that slice `s` is a part of, with *part set, or -1. */
static int sliced_part(Graph *g, int s, int *part)
{
    const Node *n = &g->nodes[s];
    if (n->op != OP_SLICE || g->nodes[n->in[0]].op != OP_MATMUL || !set_parts(g, n->in[0]))
        return -1;
    int f = n->in[0];
    *part = part_of(g, f, s);
    return *part >= 0 ? f : -1;
}

static int rule_rope(Graph *g)
{
    int done = 0;
    for (int r = 0; r < g->count; r++) {
        const Node *rn = &g->nodes[r];
        int p, s = rn->in[0];
        if (rn->dead || rn->op != OP_ROPE || only_reader(g, s) != r)
            continue;
        int f = sliced_part(g, s, &p);
        if (f < 0)
            continue;
        Node *m = &g->nodes[f];
        int pos = rn->in[1], has_rope = m->in[4] >= 0;
        if (m->attr.matmul.act || m->in[3] >= 0 || m->attr.matmul.rope_heads[p] || pos > f
            || (has_rope && (m->in[4] != pos || m->attr.matmul.rope_theta != rn->attr.rope.theta
                             || m->attr.matmul.rope_interleaved != rn->attr.rope.interleaved)))
            continue;
        set_operand(g, f, 4, pos);
        m->attr.matmul.rope_heads[p] = rn->attr.rope.heads;
        m->attr.matmul.rope_theta = rn->attr.rope.theta;
        m->attr.matmul.rope_interleaved = rn->attr.rope.interleaved;
        g->nodes[s].name = g->nodes[r].name;   /* it now holds the rotated value */
        fold(g, r, s);
        absorb(m, &g->nodes[r]);
        done++;
    }
    return done;
}

static int rule_cache(Graph *g)
{
    int done = 0;
    for (int c = 0; c < g->count; c++) {
        Node *cn = &g->nodes[c];
        int p;
        if (cn->dead || cn->op != OP_CACHE || cn->attr.cache.fused)
            continue;
        int f = sliced_part(g, cn->in[0], &p);
        if (f < 0 || g->nodes[f].attr.matmul.cache[p])
            continue;
        g->nodes[f].attr.matmul.cache[p] = c;
        cn->attr.cache.fused = 1;
        absorb(&g->nodes[f], cn);
        done++;
    }
    return done;
}

/* ---- act and residual: epilogues of the whole result -------------------- */

/* A matmul whose result nothing else reads, with no epilogue after the
 * product yet (a bias is part of the product). */
static int bare_result(const Graph *g, int f, int reader)
{
    const Node *m = &g->nodes[f];
    return m->op == OP_MATMUL && !m->dead && only_reader(g, f) == reader && !m->attr.matmul.parts
           && !m->attr.matmul.glu && m->in[3] < 0;
}

static int rule_act(Graph *g)
{
    int done = 0;
    for (int a = 0; a < g->count; a++) {
        const Node *n = &g->nodes[a];
        int f = n->in[0];
        if (n->dead || !is_activation(n->op) || !bare_result(g, f, a) || g->nodes[f].attr.matmul.act)
            continue;
        g->nodes[f].attr.matmul.act = act_of(n->op);
        fold(g, a, f);
        done++;
    }
    return done;
}

static int rule_residual(Graph *g)
{
    int done = 0;
    for (int d = 0; d < g->count; d++) {
        const Node *n = &g->nodes[d];
        if (n->dead || n->op != OP_ADD || !ir_shape_equal(g->nodes[n->in[0]].shape, n->shape)
            || !ir_shape_equal(g->nodes[n->in[1]].shape, n->shape))
            continue;
        /* the later operand is the matmul: the other is known before it */
        int k = n->in[1] > n->in[0] ? 1 : 0, f = n->in[k], r = n->in[1 - k];
        if (!bare_result(g, f, d) || r == f || g->nodes[r].dtype != DT_F32)
            continue;
        set_operand(g, f, 3, r);
        g->nodes[f].name = g->nodes[d].name;   /* it now holds the sum: x, not wo */
        fold(g, d, f);
        done++;
    }
    return done;
}

/* ---- chains of elementwise ops -------------------------------------------- */

enum { CHAIN_MAX_OPS = 12, CHAIN_MAX_LEAVES = 4 };

/* Ops and distinct tensor operands of node id's loop, counting inlined
 * operands' own. */
static void chain_size(const Graph *g, int id, int *ops, int *leaves, int *seen, int *nseen)
{
    const Node *n = &g->nodes[id];
    (*ops)++;
    for (int j = 0; j < op_arity[n->op]; j++) {
        int k = n->in[j];
        if (g->nodes[k].inlined) {
            chain_size(g, k, ops, leaves, seen, nseen);
            continue;
        }
        int dup = 0;
        for (int i = 0; i < *nseen; i++)
            dup |= seen[i] == k;
        if (!dup && *nseen < 64)
            seen[(*nseen)++] = k, (*leaves)++;
    }
}

/* Marks operands inlined into their reader's loop; edges stay as they are. */
static int rule_chains(Graph *g)
{
    int done = 0;
    for (int d = 0; d < g->count; d++) {
        Node *n = &g->nodes[d];
        int e = n->dead ? -1 : only_reader(g, d);
        if (n->dead || !(op_flags[n->op] & OPF_ELEMENTWISE) || e < 0
            || !(op_flags[g->nodes[e].op] & OPF_ELEMENTWISE)
            || !ir_shape_equal(g->nodes[e].shape, n->shape))
            continue;
        n->inlined = 1;
        int ops = 0, leaves = 0, seen[64], nseen = 0;
        chain_size(g, e, &ops, &leaves, seen, &nseen);
        if (ops > CHAIN_MAX_OPS || leaves > CHAIN_MAX_LEAVES) {
            n->inlined = 0;
            continue;
        }
        absorb(&g->nodes[e], n);
        done++;
    }
    return done;
}

/* ---- the pass ---------------------------------------------------------------- */

const FuseRule fuse_rules[] = {
    {"glu", rule_glu, "act(x W1) * (x W3): one matmul, the gated unit in its epilogue"},
    {"qkv", rule_qkv, "an attention's q, k, v projections of one input: one matmul"},
    {"rope", rule_rope, "rope of a matmul part: in the matmul's epilogue"},
    {"views", rule_views, "slices read with a row stride: views, not copies"},
    {"cache", rule_cache, "KV-cache append of a matmul part: in the matmul's epilogue"},
    {"act", rule_act, "activation of a matmul: in its epilogue"},
    {"residual", rule_residual, "residual add of a matmul: in its epilogue"},
    {"chains", rule_chains, "elementwise chains: one loop"},
};
const int fuse_nrules = (int)(sizeof fuse_rules / sizeof fuse_rules[0]);

_Static_assert(sizeof fuse_rules / sizeof fuse_rules[0] <= MAX_FUSE_RULES, "Graph.fused counts");

void pass_fuse(Graph *g, const PassOptions *o)
{
    for (int r = 0; r < fuse_nrules; r++)
        if (!(o->fuse_off >> r & 1u)) {
            index_drop();   /* each rule starts from the graph as it is */
            g->fused[r] = fuse_rules[r].run(g);
        }
    index_drop();
}
