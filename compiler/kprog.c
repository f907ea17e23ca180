/*
 * kprog.c - the kernel program: the scheduled, planned graph as a list of
 * runtime calls with their arguments, and elementwise loops.
 *
 * Requires: a planned graph.  Guarantees: for the nodes [from, to) that one
 * entry point runs, in schedule order, one instruction per node that does
 * work: a call (embedding, linear layer with its fused epilogue, norm,
 * attention, ...) or a loop (an elementwise op with the chain inlined into
 * it, a copy).  Nodes that do no work of their own get none: weights and
 * stacked weights (CONCAT, resolved into a linear layer's parts), views,
 * inlined ops, caches written by an epilogue.  Every argument is a
 * constant, a run-time length, or a pointer to a node's data; where a
 * node's data lives (arena offset, row stride) is in `tensors`.
 */
#include "tfc.h"
#include "tfrt.h"
#include "q8.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- the runtime functions a program calls ------------------------------- */

static const char *const layout_names[] = {"TFRT_W_OUT_IN", "TFRT_W_IN_OUT"};
static const char *const activation_names[] = {
    "TFRT_ACT_NONE", "TFRT_ACT_GELU", "TFRT_ACT_GELU_TANH", "TFRT_ACT_RELU",
    "TFRT_ACT_SILU", "TFRT_ACT_TANH",
};
_Static_assert(TFRT_ACT_TANH == (int)ACT_TANH && TFRT_ACT_GELU_TANH == (int)ACT_GELU_TANH,
               "the compiler's activations are the runtime's");

#define FIELD(type, name, kind, count, enums) {#name, kind, count, offsetof(type, name), enums}

static const KField linear_fields[] = {
    FIELD(TfrtLinear, in, KT_INT, 1, NULL),
    FIELD(TfrtLinear, out, KT_INT, 1, NULL),
    FIELD(TfrtLinear, layout, KT_INT, 1, layout_names),
    FIELD(TfrtLinear, parts, KT_INT, 1, NULL),
    FIELD(TfrtLinear, w, KT_PTR, TFRT_MAX_PARTS, NULL),
    FIELD(TfrtLinear, rows, KT_INT, TFRT_MAX_PARTS, NULL),
    FIELD(TfrtLinear, ldw, KT_INT, TFRT_MAX_PARTS, NULL),
    FIELD(TfrtLinear, bias, KT_PTR, TFRT_MAX_PARTS, NULL),
    FIELD(TfrtLinear, act, KT_INT, 1, activation_names),
    FIELD(TfrtLinear, glu, KT_INT, 1, NULL),
    FIELD(TfrtLinear, x_stride, KT_INT, 1, NULL),
    FIELD(TfrtLinear, y_stride, KT_INT, 1, NULL),
    FIELD(TfrtLinear, residual, KT_PTR, 1, NULL),
    FIELD(TfrtLinear, residual_stride, KT_INT, 1, NULL),
    FIELD(TfrtLinear, rope_heads, KT_INT, TFRT_MAX_PARTS, NULL),
    FIELD(TfrtLinear, rope_theta, KT_FLOAT, 1, NULL),
    FIELD(TfrtLinear, rope_interleaved, KT_INT, 1, NULL),
    FIELD(TfrtLinear, cache, KT_PTR, TFRT_MAX_PARTS, NULL),
    FIELD(TfrtLinear, packed, KT_PACKED, TFRT_MAX_PARTS, NULL),
    FIELD(TfrtLinear, q8, KT_Q8, TFRT_MAX_PARTS, NULL),
};
enum {
    L_IN, L_OUT, L_LAYOUT, L_PARTS, L_W, L_ROWS, L_LDW, L_BIAS, L_ACT, L_GLU, L_X_STRIDE,
    L_Y_STRIDE, L_RESIDUAL, L_RESIDUAL_STRIDE, L_ROPE_HEADS, L_ROPE_THETA, L_ROPE_INTERLEAVED,
    L_CACHE, L_PACKED, L_Q8, L_COUNT_
};
_Static_assert(sizeof linear_fields / sizeof *linear_fields == L_COUNT_, "TfrtLinear fields");
_Static_assert(MAX_PARTS == TFRT_MAX_PARTS, "parts of a stacked weight");
static const KStruct linear_struct = {"TfrtLinear", sizeof(TfrtLinear), linear_fields, L_COUNT_};

static const KField attention_fields[] = {
    FIELD(TfrtAttention, n_q, KT_INT, 1, NULL),
    FIELD(TfrtAttention, n_kv, KT_INT, 1, NULL),
    FIELD(TfrtAttention, heads, KT_INT, 1, NULL),
    FIELD(TfrtAttention, kv_heads, KT_INT, 1, NULL),
    FIELD(TfrtAttention, head_dim, KT_INT, 1, NULL),
    FIELD(TfrtAttention, q_stride, KT_INT, 1, NULL),
    FIELD(TfrtAttention, kv_stride, KT_INT, 1, NULL),
    FIELD(TfrtAttention, out_stride, KT_INT, 1, NULL),
    FIELD(TfrtAttention, scale, KT_FLOAT, 1, NULL),
    FIELD(TfrtAttention, causal, KT_INT, 1, NULL),
    FIELD(TfrtAttention, q_pos0, KT_INT, 1, NULL),
    FIELD(TfrtAttention, kv_len, KT_INT, 1, NULL),
    FIELD(TfrtAttention, rel_bias, KT_PTR, 1, NULL),
    FIELD(TfrtAttention, rel_buckets, KT_INT, 1, NULL),
    FIELD(TfrtAttention, rel_max_distance, KT_INT, 1, NULL),
    FIELD(TfrtAttention, rel_bidirectional, KT_INT, 1, NULL),
};
enum {
    A_N_Q, A_N_KV, A_HEADS, A_KV_HEADS, A_HEAD_DIM, A_Q_STRIDE, A_KV_STRIDE, A_OUT_STRIDE,
    A_SCALE, A_CAUSAL, A_Q_POS0, A_KV_LEN, A_REL_BIAS, A_REL_BUCKETS, A_REL_MAX_DISTANCE,
    A_REL_BIDIRECTIONAL, A_COUNT_
};
_Static_assert(sizeof attention_fields / sizeof *attention_fields == A_COUNT_, "TfrtAttention fields");
static const KStruct attention_struct = {"TfrtAttention", sizeof(TfrtAttention), attention_fields, A_COUNT_};

#define FN(f) ((void (*)(void))(f))
#define P(name, type) {name, type, NULL}

const KFunc kfunc_embed = {"tfrt_embed", FN(tfrt_embed), 1, 6,
    {P("y", KT_PTR), P("table", KT_PTR), P("ids", KT_PTR), P("n", KT_INT), P("vocab", KT_INT),
     P("dim", KT_INT)}};
const KFunc kfunc_embed_packed = {"tfrt_embed_packed", FN(tfrt_embed_packed), 1, 7,
    {P("y", KT_PTR), P("table", KT_PTR), P("packed", KT_PACKED), P("ids", KT_PTR), P("n", KT_INT),
     P("vocab", KT_INT), P("dim", KT_INT)}};
const KFunc kfunc_embed_q8 = {"tfrt_embed_q8", FN(tfrt_embed_q8), 1, 6,
    {P("y", KT_PTR), P("q8", KT_Q8), P("ids", KT_PTR), P("n", KT_INT), P("vocab", KT_INT),
     P("dim", KT_INT)}};
const KFunc kfunc_positions = {"tfrt_positions", FN(tfrt_positions), 0, 3,
    {P("pos", KT_PTR), P("start", KT_INT), P("n", KT_INT)}};
const KFunc kfunc_sinusoidal = {"tfrt_sinusoidal", FN(tfrt_sinusoidal), 0, 4,
    {P("y", KT_PTR), P("pos", KT_PTR), P("n", KT_INT), P("dim", KT_INT)}};
const KFunc kfunc_linear = {"tfrt_linear", FN(tfrt_linear), 0, 8,
    {P("pool", KT_POOL), {"op", KT_STRUCT, &linear_struct}, P("y", KT_PTR), P("x", KT_PTR),
     P("n", KT_INT), P("pos", KT_PTR), P("cache_row", KT_INT), P("scratch", KT_PTR)}};
const KFunc kfunc_layernorm = {"tfrt_layernorm", FN(tfrt_layernorm), 0, 7,
    {P("y", KT_PTR), P("x", KT_PTR), P("gamma", KT_PTR), P("beta", KT_PTR), P("n", KT_INT),
     P("dim", KT_INT), P("eps", KT_FLOAT)}};
const KFunc kfunc_rmsnorm = {"tfrt_rmsnorm", FN(tfrt_rmsnorm), 0, 6,
    {P("y", KT_PTR), P("x", KT_PTR), P("gamma", KT_PTR), P("n", KT_INT), P("dim", KT_INT),
     P("eps", KT_FLOAT)}};
const KFunc kfunc_attention = {"tfrt_attention", FN(tfrt_attention), 0, 6,
    {P("pool", KT_POOL), {"a", KT_STRUCT, &attention_struct}, P("out", KT_PTR), P("q", KT_PTR),
     P("k", KT_PTR), P("v", KT_PTR)}};
const KFunc kfunc_softmax = {"tfrt_softmax", FN(tfrt_softmax), 0, 3,
    {P("x", KT_PTR), P("n", KT_INT), P("dim", KT_INT)}};
const KFunc kfunc_rope = {"tfrt_rope", FN(tfrt_rope), 0, 8,
    {P("y", KT_PTR), P("x", KT_PTR), P("pos", KT_PTR), P("n", KT_INT), P("heads", KT_INT),
     P("head_dim", KT_INT), P("theta", KT_FLOAT), P("interleaved", KT_INT)}};

/* --tp: the collectives after a row-parallel matmul and the split head */
const KFunc kfunc_allreduce_add = {"tfrt_comm_allreduce_add", FN(tfrt_comm_allreduce_add), 0, 7,
    {P("y", KT_PTR), P("n", KT_INT), P("cols", KT_INT), P("y_stride", KT_INT), P("bias", KT_PTR),
     P("residual", KT_PTR), P("residual_stride", KT_INT)}};
const KFunc kfunc_gather_cols = {"tfrt_comm_gather_cols", FN(tfrt_comm_gather_cols), 0, 7,
    {P("y", KT_PTR), P("y_stride", KT_INT), P("total", KT_INT), P("local", KT_PTR), P("local_stride", KT_INT),
     P("n", KT_INT), P("cols", KT_INT)}};

const KFunc *const kfuncs[] = {
    &kfunc_embed, &kfunc_embed_packed, &kfunc_embed_q8, &kfunc_positions, &kfunc_sinusoidal, &kfunc_linear,
    &kfunc_layernorm, &kfunc_rmsnorm, &kfunc_attention, &kfunc_softmax, &kfunc_rope, &kfunc_allreduce_add,
    &kfunc_gather_cols,
};
const int nkfuncs = (int)(sizeof kfuncs / sizeof kfuncs[0]);

const KAct kacts[] = {
    [ACT_NONE] = {"", "", NULL},
    [ACT_GELU] = {"tfrt_gelu1", "tfrt_gelu1_fn", tfrt_gelu1_fn},
    [ACT_GELU_TANH] = {"tfrt_gelu_tanh1", "tfrt_gelu_tanh1_fn", tfrt_gelu_tanh1_fn},
    [ACT_RELU] = {"tfrt_relu1", "tfrt_relu1_fn", tfrt_relu1_fn},
    [ACT_SILU] = {"tfrt_silu1", "tfrt_silu1_fn", tfrt_silu1_fn},
    [ACT_TANH] = {"tfrt_tanh1", "tfrt_tanh1_fn", tfrt_tanh1_fn},
};

/* ---- integers and pointers ------------------------------------------------ */

static KInt kconst(int64_t c) { return (KInt){c, 0, 0, 0, 0}; }

static KInt kscale(KInt a, int64_t k)
{
    return (KInt){a.c * k, a.k_len * k, a.k_pos * k, a.k_valid * k, a.sym};
}

KInt kprog_rows(const Graph *g, int id)
{
    Dim d = g->nodes[id].shape.d[0];
    if (!d.sym)
        return kconst(d.n);
    if (g->syms[d.sym].past)   /* the cached tokens and the new ones */
        return (KInt){0, 1, 1, 0, g->syms[d.sym].past};
    return (KInt){0, 1, 0, 0, d.sym};
}

static int64_t cols(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    return n->shape.d[n->shape.ndim - 1].n;
}

static KRef ref(int node) { return (KRef){node, kconst(0)}; }
static KRef ref_at(int node, int64_t elems) { return (KRef){node, kconst(elems)}; }

/* The position of node id's first row: the tokens already cached, for
 * the cached sequence; 0 for any other. */
static KInt first_pos(const Graph *g, int id)
{
    return g->cache_sym && g->nodes[id].shape.d[0].sym == g->cache_sym ? (KInt){0, 0, 1, 0, 0}
                                                                       : kconst(0);
}

/* ---- where data lives --------------------------------------------------------- */

static KTensor place(const KProgram *kp, int id)
{
    const Graph *g = kp->g;
    const Node *n = &g->nodes[id];
    KTensor t = {KB_ARENA, -1, kp->step ? n->step_offset : n->offset, cols(g, id)};
    if (n->op == OP_WEIGHT)
        t.base = KB_WEIGHT, t.index = id, t.offset = 0;
    else if (n->op == OP_INPUT)
        t.base = KB_INPUT, t.index = n->attr.input.index, t.offset = 0;
    else if (n->op == OP_CACHE)
        t.base = KB_CACHE, t.index = kprog_cache_slot(g, id), t.offset = 0;
    else if (n->op == OP_CONCAT || n->inlined)
        t.base = KB_NONE, t.offset = 0;
    else if (id == g->output)
        t.base = KB_OUTPUT, t.offset = 0;
    else if (plan_is_view(g, id))
        t.stride = kp->tensors[n->in[0]].stride;
    return t;
}

/* ---- building instructions ------------------------------------------------- */

static KInstr *push(KProgram *kp, KKind kind, int node)
{
    KInstr *in = &kp->instrs[kp->count++];
    memset(in, 0, sizeof *in);
    in->kind = kind;
    in->node = node;
    return in;
}

static KValue *call(KProgram *kp, const KFunc *fn, int node)
{
    KInstr *in = push(kp, KI_CALL, node);
    in->fn = fn;
    in->args = tfc_alloc((size_t)fn->nparams * sizeof *in->args);
    for (int i = 0; i < fn->nparams; i++) {
        in->args[i].p = ref(-1);
        if (fn->params[i].type == KT_STRUCT) {
            int total = 0;
            for (int f = 0; f < fn->params[i].st->nfields; f++)
                total += fn->params[i].st->fields[f].count;
            in->args[i].fields = tfc_alloc((size_t)total * sizeof(KValue));
            for (int f = 0; f < total; f++)
                in->args[i].fields[f].p = ref(-1);
        }
    }
    return in->args;
}

/* Element `e` of field f of a struct argument. */
static KValue *field(KValue *arg, const KStruct *st, int f, int e)
{
    int at = 0;
    for (int i = 0; i < f; i++)
        at += st->fields[i].count;
    return &arg->fields[at + e];
}

static void emit_linear(KProgram *kp, int id);
static void emit_collective(KProgram *kp, int id, KValue *lin);
static void emit_attention(KProgram *kp, int id);
static void emit_loop(KProgram *kp, int id);
static void emit_copy(KProgram *kp, int id, int src, KRef from, KRef to, KInt rows);

/* The number + 1 of the part of parts[0..n) that holds table t whole,
 * stored (out, in), which a lookup in t can read; 0 if none does. */
static int whole_part(const Graph *g, const KPackedPart *parts, int n, int t)
{
    const Node *w = &g->nodes[t];
    for (int i = 0; i < n; i++)
        if (parts[i].weight == t && parts[i].first == 0 && parts[i].layout == TFRT_W_OUT_IN
            && parts[i].rows == w->shape.d[0].n && parts[i].ldw == w->shape.d[1].n)
            return i + 1;
    return 0;
}

/* An embedding table that a linear layer also reads whole, stored (out,
 * in) (a tied head): its packed part's number + 1, so that the lookup
 * reads that copy; for an int8 table, its int8 part's (the head's, or
 * its own: table_parts); 0 for any other table. */
static int packed_table(const Graph *g, int table)
{
    int n;
    const KPackedPart *parts = g->nodes[table].dtype == DT_Q8 ? kprog_q8_parts(g, &n)
                                                              : kprog_packed_parts(g, &n);
    return whole_part(g, parts, n, table);
}

/* The instruction of node id, if it does work of its own. */
static void emit_node(KProgram *kp, int id)
{
    const Graph *g = kp->g;
    const Node *n = &g->nodes[id];
    KValue *a;
    switch (n->op) {
    case OP_EMBED: {
        int packed = packed_table(g, n->in[0]);   /* 0, or its part's number + 1 */
        if (g->nodes[n->in[0]].dtype == DT_Q8) {  /* rows dequantized at lookup */
            if (!packed)
                tfc_bug("int8 table %s has no int8 part (table_parts)", g->nodes[n->in[0]].name);
            a = call(kp, &kfunc_embed_q8, id);
            a[0].p = ref(id), a[1].i = kconst(packed), a[2].p = ref(n->in[1]);
            a[3].i = kprog_rows(g, id), a[4].i = kconst(g->nodes[n->in[0]].shape.d[0].n);
            a[5].i = kconst(cols(g, id));
            break;
        }
        a = call(kp, packed ? &kfunc_embed_packed : &kfunc_embed, id);
        KValue *rest = a + 2;                       /* ids, n, vocab, dim */
        if (packed)
            a[2].i = kconst(packed), rest = a + 3;
        a[0].p = ref(id), a[1].p = ref(n->in[0]);
        rest[0].p = ref(n->in[1]);
        rest[1].i = kprog_rows(g, id), rest[2].i = kconst(g->nodes[n->in[0]].shape.d[0].n);
        rest[3].i = kconst(cols(g, id));
        break;
    }
    case OP_POSITIONS:
        a = call(kp, &kfunc_positions, id);
        a[0].p = ref(id), a[1].i = first_pos(g, id), a[2].i = kprog_rows(g, id);
        break;
    case OP_SINUSOIDAL:
        a = call(kp, &kfunc_sinusoidal, id);
        a[0].p = ref(id), a[1].p = ref(n->in[0]), a[2].i = kprog_rows(g, id), a[3].i = kconst(cols(g, id));
        break;
    case OP_MATMUL: emit_linear(kp, id); break;
    case OP_LAYERNORM:
        a = call(kp, &kfunc_layernorm, id);
        a[0].p = ref(id), a[1].p = ref(n->in[0]), a[2].p = ref(n->in[1]), a[3].p = ref(n->in[2]);
        a[4].i = kprog_rows(g, id), a[5].i = kconst(cols(g, id)), a[6].f = n->attr.norm.eps;
        break;
    case OP_RMSNORM:
        a = call(kp, &kfunc_rmsnorm, id);
        a[0].p = ref(id), a[1].p = ref(n->in[0]), a[2].p = ref(n->in[1]);
        a[3].i = kprog_rows(g, id), a[4].i = kconst(cols(g, id)), a[5].f = n->attr.norm.eps;
        break;
    case OP_ATTENTION: emit_attention(kp, id); break;
    case OP_ROPE:
        a = call(kp, &kfunc_rope, id);
        a[0].p = ref(id), a[1].p = ref(n->in[0]), a[2].p = ref(n->in[1]), a[3].i = kprog_rows(g, id);
        a[4].i = kconst(n->attr.rope.heads), a[5].i = kconst(cols(g, id) / n->attr.rope.heads);
        a[6].f = n->attr.rope.theta, a[7].i = kconst(n->attr.rope.interleaved);
        break;
    case OP_SOFTMAX:
        if (!g->plan || g->plan->alias[id] != n->in[0])   /* not in place: copy first */
            emit_copy(kp, id, n->in[0], ref(n->in[0]), ref(id), kprog_rows(g, id));
        a = call(kp, &kfunc_softmax, id);
        a[0].p = ref(id), a[1].i = kprog_rows(g, id), a[2].i = kconst(cols(g, id));
        break;
    case OP_SLICE:
        if (!plan_is_view(g, id))
            emit_copy(kp, id, n->in[0], ref_at(n->in[0], n->attr.slice.first), ref(id),
                      kprog_rows(g, id));
        break;
    case OP_FIRST:
        emit_copy(kp, id, n->in[0], ref(n->in[0]), ref(id), kconst(1));
        break;
    case OP_CACHE:
        if (!n->attr.cache.fused)   /* the new rows go after the pos cached */
            emit_copy(kp, id, n->in[0], ref(n->in[0]),
                      (KRef){id, (KInt){0, 0, cols(g, id), 0, 0}}, kprog_rows(g, n->in[0]));
        break;
    case OP_INPUT:
    case OP_WEIGHT:
    case OP_CONCAT:
    case OP_COUNT_:
        break;
    default:
        if ((op_flags[n->op] & OPF_ELEMENTWISE) && !n->inlined)
            emit_loop(kp, id);
        else if (!n->inlined)
            tfc_bug("no kernel for %s", op_names[n->op]);
        break;
    }
}

/* ---- linear layers ---------------------------------------------------------- */

/* Part p of matmul id: its weight and bias pointers, rows and row stride. */
/* Where part p of matmul m reads its weight: node *wnode, *elem elements
 * on, rows ldw apart; *bias likewise (node -1: none). */
static void weight_part(const Graph *g, const Node *m, int p, int64_t first, int *wnode,
                        int64_t *elem, int64_t *ldw, KRef *bias)
{
    const Node *w = &g->nodes[m->in[1]];
    const Node *b = m->in[2] >= 0 ? &g->nodes[m->in[2]] : NULL;
    int in_out = m->attr.matmul.layout == TFRT_W_IN_OUT;
    *bias = ref(-1);
    /* --tp: a rank's slice is read in place, rows of the stored tensor
       apart (shard_row_len), its parts where the stored parts are */
    if (w->op == OP_CONCAT) {   /* one stored tensor a part */
        *wnode = w->in[p];
        *elem = 0;
        *ldw = shard_row_len(&g->nodes[w->in[p]]);
        if (b)
            *bias = ref(b->in[p]);
    } else {                    /* column ranges of one stored tensor */
        *wnode = m->in[1];
        int64_t at = shard_stored_first(g, w, first);
        *ldw = shard_row_len(w);
        *elem = in_out ? at : at * *ldw;
        if (b)
            *bias = ref_at(m->in[2], shard_stored_first(g, b, first));
    }
}

static void linear_part(const KProgram *kp, const Node *m, int p, int64_t first, int64_t rows,
                        KValue *op)
{
    int wnode;
    int64_t elem, ldw;
    KRef bp;
    weight_part(kp->g, m, p, first, &wnode, &elem, &ldw, &bp);
    const KStruct *st = &linear_struct;
    KInt part = kconst(kp->packed_first[m - kp->g->nodes] + p + 1);
    field(op, st, L_BIAS, p)->p = bp;
    field(op, st, L_ROWS, p)->i = kconst(rows);
    field(op, st, L_LDW, p)->i = kconst(ldw);
    if (kp->g->nodes[m->in[1]].dtype == DT_Q8) {   /* the int8 copy alone */
        field(op, st, L_Q8, p)->i = part;
        return;
    }
    field(op, st, L_W, p)->p = ref_at(wnode, elem);
    field(op, st, L_PACKED, p)->i = part;
}

/* The parts of matmul id: its epilogue's parts, a stacked weight's
 * members, or the whole. */
static int linear_parts(const Graph *g, const Node *m, int64_t *rows)
{
    const Node *w = &g->nodes[m->in[1]];
    if (m->attr.matmul.parts) {
        for (int p = 0; p < m->attr.matmul.parts; p++)
            rows[p] = m->attr.matmul.part_cols[p];
        return m->attr.matmul.parts;
    }
    if (w->op == OP_CONCAT) {
        int n = 0;
        for (int j = 0; j < MAX_ARGS && w->in[j] >= 0; j++)
            rows[n++] = g->nodes[w->in[j]].shape.d[w->attr.concat.axis].n;
        return n;
    }
    rows[0] = m->attr.matmul.layout ? w->shape.d[1].n : w->shape.d[0].n;
    return 1;
}

static void emit_linear(KProgram *kp, int id)
{
    const Graph *g = kp->g;
    const Node *m = &g->nodes[id];
    const KStruct *st = &linear_struct;
    KValue *a = call(kp, &kfunc_linear, id), *op = &a[1];
    int64_t rows[MAX_PARTS], first = 0;
    int parts = linear_parts(g, m, rows);
    field(op, st, L_IN, 0)->i = kconst(cols(g, m->in[0]));
    field(op, st, L_OUT, 0)->i = kconst(cols(g, id));
    field(op, st, L_LAYOUT, 0)->i = kconst(m->attr.matmul.layout);
    field(op, st, L_PARTS, 0)->i = kconst(parts);
    for (int p = 0; p < parts; p++) {
        linear_part(kp, m, p, first, rows[p], op);
        first += rows[p];
        field(op, st, L_ROPE_HEADS, p)->i = kconst(m->attr.matmul.rope_heads[p]);
        if (m->attr.matmul.cache[p])
            field(op, st, L_CACHE, p)->p = ref(m->attr.matmul.cache[p]);
    }
    field(op, st, L_ACT, 0)->i = kconst(m->attr.matmul.act);
    field(op, st, L_GLU, 0)->i = kconst(m->attr.matmul.glu);
    field(op, st, L_X_STRIDE, 0)->i = kconst(kp->tensors[m->in[0]].stride);
    field(op, st, L_Y_STRIDE, 0)->i = kconst(kp->tensors[id].stride);
    if (m->in[3] >= 0) {
        field(op, st, L_RESIDUAL, 0)->p = ref(m->in[3]);
        field(op, st, L_RESIDUAL_STRIDE, 0)->i = kconst(kp->tensors[m->in[3]].stride);
    }
    if (m->in[4] >= 0) {
        field(op, st, L_ROPE_THETA, 0)->f = m->attr.matmul.rope_theta;
        field(op, st, L_ROPE_INTERLEAVED, 0)->i = kconst(m->attr.matmul.rope_interleaved);
    }
    a[2].p = ref(id), a[3].p = ref(m->in[0]), a[4].i = kprog_rows(g, id);
    a[5].p = ref(m->in[4]);
    a[6].i = first_pos(g, id);
    if (kp->last_row && id == g->output) {   /* the last row of x alone */
        KInt last = kprog_rows(g, id);
        last.c -= 1;
        a[3].p.elem = kscale(last, kp->tensors[m->in[0]].stride);
        a[4].i = kconst(1);
        if (m->in[3] >= 0)
            field(op, st, L_RESIDUAL, 0)->p.elem = kscale(last, kp->tensors[m->in[3]].stride);
        if (m->in[4] >= 0)
            a[5].p.elem = last;
        KInt row = last;   /* the row's cache row: pos + rows - 1 */
        row.k_pos = a[6].i.k_pos;
        a[6].i = row;
    }
    if (g->nodes[m->in[1]].dtype == DT_Q8)   /* tfrt_linear_scratch_bytes of it */
        a[7].p = (KRef){KREF_SCRATCH, kconst(0)};
    else if (m->attr.matmul.glu)   /* the value half, after the gate's rows */
        a[7].p = (KRef){id, kscale(kprog_rows(g, id), cols(g, id))};
    if (m->attr.matmul.tp == TP_ROW || m->attr.matmul.tp == TP_GATHER)
        emit_collective(kp, id, a);
}

/* --tp (passes/shard.c): a row-parallel matmul's product is this rank's
 * partial sum: the linear layer leaves out the bias and residual, which
 * the all-reduce adds once to the sum.  The split head writes this rank's
 * vocabulary columns, packed, at the start of the output, and the gather
 * puts the rows where tfrt_comm_logits_to says at run time: whole on every
 * rank (the default), on rank 0, or each rank's own columns left in place
 * for a choice that needs no row (tfrt_sample_split). */
static void emit_collective(KProgram *kp, int id, KValue *lin)
{
    const Graph *g = kp->g;
    const Node *m = &g->nodes[id];
    const KStruct *st = &linear_struct;
    KValue *op = &lin[1];
    if (m->attr.matmul.tp == TP_ROW) {
        KValue *a = call(kp, &kfunc_allreduce_add, id);
        a[0].p = lin[2].p, a[1].i = lin[4].i, a[2].i = kconst(cols(g, id));
        a[3].i = kconst(kp->tensors[id].stride);
        a[4].p = field(op, st, L_BIAS, 0)->p;
        field(op, st, L_BIAS, 0)->p = ref(-1);
        a[5].p = field(op, st, L_RESIDUAL, 0)->p;
        a[6].i = field(op, st, L_RESIDUAL_STRIDE, 0)->i;
        field(op, st, L_RESIDUAL, 0)->p = ref(-1);
        field(op, st, L_RESIDUAL_STRIDE, 0)->i = kconst(0);
        return;
    }
    int64_t local = (cols(g, id) + g->tp - 1) / g->tp;   /* a padded vocabulary: rounded up */
    field(op, st, L_OUT, 0)->i = kconst(local);
    field(op, st, L_Y_STRIDE, 0)->i = kconst(local);
    KValue *a = call(kp, &kfunc_gather_cols, id);
    a[0].p = lin[2].p, a[1].i = kconst(kp->tensors[id].stride), a[2].i = kconst(cols(g, id));
    a[3].p = lin[2].p, a[4].i = kconst(local);
    a[5].i = lin[4].i, a[6].i = kconst(local);
}

/* ---- attention ----------------------------------------------------------------- */

/* The keys attention may read: all rows of k, or the valid length of a
 * padded input's symbol. */
static KInt kv_len(const Graph *g, const Node *n)
{
    Dim d = g->nodes[n->in[1]].shape.d[0];
    if (d.sym && (g->padded >> d.sym & 1u))
        return (KInt){0, 0, 0, 1, d.sym};
    return kprog_rows(g, n->in[1]);
}

static void emit_attention(KProgram *kp, int id)
{
    const Graph *g = kp->g;
    const Node *n = &g->nodes[id];
    const KStruct *st = &attention_struct;
    KValue *a = call(kp, &kfunc_attention, id), *at = &a[1];
    if (kp->tensors[n->in[1]].stride != kp->tensors[n->in[2]].stride)
        tfc_bug("keys and values of %s have different strides", n->name);
    field(at, st, A_N_Q, 0)->i = kprog_rows(g, n->in[0]);
    field(at, st, A_N_KV, 0)->i = kprog_rows(g, n->in[1]);
    field(at, st, A_HEADS, 0)->i = kconst(n->attr.attn.heads);
    field(at, st, A_KV_HEADS, 0)->i = kconst(n->attr.attn.kv_heads);
    field(at, st, A_HEAD_DIM, 0)->i = kconst(cols(g, n->in[0]) / n->attr.attn.heads);
    field(at, st, A_Q_STRIDE, 0)->i = kconst(kp->tensors[n->in[0]].stride);
    field(at, st, A_KV_STRIDE, 0)->i = kconst(kp->tensors[n->in[1]].stride);
    field(at, st, A_OUT_STRIDE, 0)->i = kconst(kp->tensors[id].stride);
    field(at, st, A_SCALE, 0)->f = n->attr.attn.scale;
    field(at, st, A_CAUSAL, 0)->i = kconst(n->attr.attn.causal);
    field(at, st, A_Q_POS0, 0)->i = first_pos(g, n->in[0]);
    field(at, st, A_KV_LEN, 0)->i = kv_len(g, n);
    if (n->in[3] >= 0) {   /* a relative position bias (T5) */
        field(at, st, A_REL_BIAS, 0)->p = ref(n->in[3]);
        field(at, st, A_REL_BUCKETS, 0)->i = kconst(n->attr.attn.buckets);
        field(at, st, A_REL_MAX_DISTANCE, 0)->i = kconst(n->attr.attn.max_distance);
        field(at, st, A_REL_BIDIRECTIONAL, 0)->i = kconst(n->attr.attn.bidirectional);
    }
    a[2].p = ref(id), a[3].p = ref(n->in[0]), a[4].p = ref(n->in[1]), a[5].p = ref(n->in[2]);
}

/* ---- loops ------------------------------------------------------------------------ */

/* The input slot of loop L reading node x with stride, added if new. */
static int loop_input(const KProgram *kp, KLoop *L, int x, int64_t out_rows_shape)
{
    const Graph *g = kp->g;
    for (int i = 0; i < L->nin; i++)
        if (L->in[i].node == x)
            return i;
    if (L->nin == KLOOP_MAX_IN)
        tfc_bug("a loop reads more than %d tensors", KLOOP_MAX_IN);
    const Node *n = &g->nodes[x];
    int broadcast = n->shape.ndim == 1 && out_rows_shape;   /* a row for every row */
    L->in[L->nin] = ref(x);
    L->in_stride[L->nin] = broadcast ? 0 : kp->tensors[x].stride;
    return L->nin++;
}

static int code(KLoop *L, KExpr e)
{
    if (L->ncode == KLOOP_MAX_CODE)
        tfc_bug("a loop longer than %d steps", KLOOP_MAX_CODE);
    L->code[L->ncode] = e;
    return L->ncode++;
}

/* Code computing node id's element in loop L: its inlined operands are
 * computed in place, the others loaded. */
static int loop_value(const KProgram *kp, KLoop *L, int id, int root, int matrix)
{
    const Graph *g = kp->g;
    const Node *n = &g->nodes[id];
    if (id != root && !n->inlined)
        return code(L, (KExpr){KE_LOAD, 0, 0, loop_input(kp, L, id, matrix), 0, ACT_NONE});
    int a = loop_value(kp, L, n->in[0], root, matrix);
    switch (n->op) {
    case OP_ADD:
    case OP_MUL: {
        int b = loop_value(kp, L, n->in[1], root, matrix);
        return code(L, (KExpr){n->op == OP_ADD ? KE_ADD : KE_MUL, a, b, 0, 0, ACT_NONE});
    }
    case OP_SCALE: {
        int c = code(L, (KExpr){KE_CONST, 0, 0, 0, n->attr.scale.s, ACT_NONE});
        return code(L, (KExpr){KE_MUL, a, c, 0, 0, ACT_NONE});
    }
    case OP_GELU: return code(L, (KExpr){KE_ACT, a, 0, 0, 0, ACT_GELU});
    case OP_GELU_TANH: return code(L, (KExpr){KE_ACT, a, 0, 0, 0, ACT_GELU_TANH});
    case OP_RELU: return code(L, (KExpr){KE_ACT, a, 0, 0, 0, ACT_RELU});
    case OP_SILU: return code(L, (KExpr){KE_ACT, a, 0, 0, 0, ACT_SILU});
    case OP_TANH: return code(L, (KExpr){KE_ACT, a, 0, 0, 0, ACT_TANH});
    default: tfc_bug("%s in an elementwise loop", op_names[n->op]);
    }
}

/* A node of (rows, cols), or of (cols,): the loop's bounds. */
static KLoop *new_loop(KProgram *kp, int id, KRef out, KInt rows, int64_t cols, int64_t out_stride)
{
    KLoop *L = tfc_alloc(sizeof *L);
    L->rows = rows;
    L->cols = cols;
    L->out = out;
    L->out_stride = out_stride;
    L->alias = -1;
    push(kp, KI_LOOP, id)->loop = L;
    return L;
}

static void emit_loop(KProgram *kp, int id)
{
    const Graph *g = kp->g;
    const Node *n = &g->nodes[id];
    int matrix = n->shape.ndim == 2;
    KLoop *L = new_loop(kp, id, ref(id), matrix ? kprog_rows(g, id) : kconst(1), cols(g, id),
                        kp->tensors[id].stride);
    loop_value(kp, L, id, id, matrix);
    int alias = g->plan ? g->plan->alias[id] : -1;
    for (int i = 0; i < L->nin; i++)
        if (L->in[i].node == alias)
            L->alias = i;
}

/* rows of node src's shape, from `from` to `to`: a copy as a loop. */
static void emit_copy(KProgram *kp, int id, int src, KRef from, KRef to, KInt rows)
{
    const Graph *g = kp->g;
    KLoop *L = new_loop(kp, id, to, rows, cols(g, id), cols(g, id));
    L->nin = 1;
    L->in[0] = from;
    L->in_stride[0] = kp->tensors[src].stride;
    code(L, (KExpr){KE_LOAD, 0, 0, 0, 0, ACT_NONE});
}

/* ---- poison mode: buffers free after a step ------------------------------------ */

/* Whether a later node overwrites j in place (then j's storage lives on). */
static int overwritten(const Plan *p, int j)
{
    for (int k = j + 1; k <= p->free_at[j]; k++)
        if (p->alias[k] == j)
            return 1;
    return 0;
}

/* The buffers whose storage is free once step i has run go to the last
 * instruction built (none yet: nothing in this program has read them).
 * Encoder values kept for decode stay. */
/* The arena buffers whose last reader is node i go on its instruction:
 * dying[i] heads a list (through next_dying) in node order. */
static void mark_dead(KProgram *kp, int i, const int *dying, const int *next_dying)
{
    if (!kp->count)
        return;
    KInstr *last = &kp->instrs[kp->count - 1];
    for (int j = dying[i]; j >= 0; j = next_dying[j]) {
        int *dead = tfc_alloc((size_t)(last->ndead + 1) * sizeof *dead);
        if (last->ndead)
            memcpy(dead, last->dead, (size_t)last->ndead * sizeof *dead);
        dead[last->ndead++] = j;
        last->dead = dead;
    }
}

int kprog_cache_slot(const Graph *g, int id)
{
    int slot = 0;
    for (int i = 0; i < id; i++)
        slot += !g->nodes[i].dead && g->nodes[i].op == OP_CACHE;
    return slot;
}

int kprog_cache_slots(const Graph *g) { return kprog_cache_slot(g, g->count); }

int kprog_has_last_row(const Graph *g)
{
    const Node *o = &g->nodes[g->output];
    return o->op == OP_MATMUL && o->shape.ndim == 2 && o->shape.d[0].sym;
}

static int is_q8(const Graph *g, const Node *m) { return g->nodes[m->in[1]].dtype == DT_Q8; }

/* Parts before each matmul node of the fp32 layers (q8 = 0) or of the
 * int8 ones (q8 = 1); the total. */
static int count_parts(const Graph *g, int *first, int q8)
{
    int n = 0;
    for (int i = 0; i < g->count; i++) {
        const Node *m = &g->nodes[i];
        if (first && !m->dead && m->op == OP_MATMUL && is_q8(g, m) == q8)
            first[i] = n;
        if (!m->dead && m->op == OP_MATMUL && is_q8(g, m) == q8) {
            int64_t rows[MAX_PARTS];
            n += linear_parts(g, m, rows);
        }
    }
    return n;
}

/* The int8 embedding tables no int8 layer reads whole (untied tables):
 * each becomes a part of its own, after the layers' parts, appended to
 * parts (when not NULL) from n on; returns the new count. */
static int table_parts(const Graph *g, KPackedPart *parts, int n)
{
    for (int i = 0; i < g->count; i++) {
        const Node *e = &g->nodes[i];
        if (e->dead || e->op != OP_EMBED || g->nodes[e->in[0]].dtype != DT_Q8)
            continue;
        int t = e->in[0];
        const Node *w = &g->nodes[t];
        KPackedPart whole = {.weight = t, .first = 0, .ldw = w->shape.d[1].n, .in = w->shape.d[1].n,
                             .rows = w->shape.d[0].n, .layout = TFRT_W_OUT_IN};
        if (parts && whole_part(g, parts, n, t))
            continue;
        if (parts)
            parts[n] = whole;
        n++;
    }
    return n;
}

static KPackedPart *parts_of(const Graph *g, int *count, int q8)
{
    int layers = count_parts(g, NULL, q8), at = 0;
    /* at most one table part a lookup, counted before deduplication */
    int n = q8 ? table_parts(g, NULL, layers) : layers;
    KPackedPart *parts = tfc_alloc((size_t)(n ? n : 1) * sizeof *parts);
    for (int i = 0; i < g->count; i++) {
        const Node *m = &g->nodes[i];
        if (m->dead || m->op != OP_MATMUL || is_q8(g, m) != q8)
            continue;
        int64_t rows[MAX_PARTS], first = 0;
        int np = linear_parts(g, m, rows);
        const Node *w = &g->nodes[m->in[1]];
        int in_out = m->attr.matmul.layout == TFRT_W_IN_OUT;
        for (int p = 0; p < np; p++) {
            KPackedPart *pt = &parts[at++];
            KRef bias;
            weight_part(g, m, p, first, &pt->weight, &pt->first, &pt->ldw, &bias);
            pt->in = in_out ? w->shape.d[0].n : w->shape.d[1].n;
            pt->rows = rows[p];
            pt->layout = m->attr.matmul.layout;
            first += rows[p];
        }
    }
    *count = q8 ? table_parts(g, parts, layers) : layers;
    return parts;
}

KPackedPart *kprog_packed_parts(const Graph *g, int *count) { return parts_of(g, count, 0); }
KPackedPart *kprog_q8_parts(const Graph *g, int *count) { return parts_of(g, count, 1); }
int kprog_q8_layer_parts(const Graph *g) { return count_parts(g, NULL, 1); }
int kprog_q8_count(const Graph *g)
{
    int n;
    kprog_q8_parts(g, &n);
    return n;
}

int kprog_spec_quantized(const Graph *g, int id)
{
    int n;
    if (g->nodes[id].dtype != DT_Q8)
        return 0;
    KPackedPart *parts = kprog_q8_parts(g, &n);
    for (int p = 0; p < n; p++)
        if (parts[p].weight == id)
            return 2 + parts[p].layout;
    return 1;
}

/* Whether part i repeats an earlier one: open makes one copy of both. */
static int repeated(const KPackedPart *parts, int i)
{
    for (int j = 0; j < i; j++)
        if (parts[j].weight == parts[i].weight && parts[j].first == parts[i].first &&
            parts[j].in == parts[i].in && parts[j].rows == parts[i].rows &&
            parts[j].ldw == parts[i].ldw && parts[j].layout == parts[i].layout)
            return 1;
    return 0;
}

int64_t kprog_packed_bytes(const Graph *g)
{
    int n;
    KPackedPart *parts = kprog_packed_parts(g, &n);
    int64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        /* each part is at most 32 times its weight (<= 2^44 bytes) */
        int64_t panels = (parts[i].rows + TFRT_PACK_PANEL - 1) / TFRT_PACK_PANEL;
        int64_t b = panels * TFRT_PACK_PANEL * parts[i].in * (int64_t)sizeof(float);
        if (!repeated(parts, i))
            bytes = b > INT64_MAX - bytes ? INT64_MAX : bytes + b;
    }
    return bytes;
}

int64_t kprog_q8_bytes(const Graph *g)
{
    int n;
    KPackedPart *parts = kprog_q8_parts(g, &n);
    int64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        /* a part's rows and in are a weight's dimensions (lower.c's limits) */
        int64_t b = (int64_t)tfrt_q8_weight_bytes((int)parts[i].rows, (int)parts[i].in);
        if (!repeated(parts, i))
            bytes = b > INT64_MAX - bytes ? INT64_MAX : bytes + b;
    }
    return bytes;
}

int64_t kprog_q8_scratch(const Graph *g, int id, int64_t n)
{
    const Node *m = &g->nodes[id];
    int64_t rows[MAX_PARTS];
    TfrtLinear op = {0};
    op.in = (int)cols(g, m->in[0]);
    op.out = (int)cols(g, id);
    op.glu = m->attr.matmul.glu;
    op.parts = linear_parts(g, m, rows);
    for (int p = 0; p < op.parts; p++) {
        op.rows[p] = (int)rows[p];
        op.q8[p] = &op;   /* any pointer: the size asks only whether parts are int8 */
    }
    return (int64_t)tfrt_linear_scratch_bytes(&op, (int)n);
}

KProgram *kprog_build(const Graph *g, int from, int to, int flags)
{
    if (!g->plan)
        tfc_bug("the kernel program needs a planned graph");
    if ((flags & KP_LAST_ROW) && !kprog_has_last_row(g))
        tfc_bug("a last-row program of an output that is not a matmul");
    KProgram *kp = tfc_alloc(sizeof *kp);
    kp->g = g;
    kp->from = from;
    kp->to = to;
    kp->step = (flags & KP_STEP) != 0;
    kp->last_row = (flags & KP_LAST_ROW) != 0;
    kp->tensors = tfc_alloc((size_t)g->count * sizeof *kp->tensors);
    kp->packed_first = tfc_alloc((size_t)g->count * sizeof *kp->packed_first);
    count_parts(g, kp->packed_first, 0);
    count_parts(g, kp->packed_first, 1);
    for (int i = 0; i < g->count; i++)
        kp->tensors[i] = place(kp, i);
    kp->instrs = tfc_alloc((size_t)(2 * (to - from) + 1) * sizeof *kp->instrs);
    /* buffers by the node that frees them, each list in node order */
    int *dying = tfc_alloc((size_t)g->count * sizeof *dying);
    int *next_dying = tfc_alloc((size_t)g->count * sizeof *next_dying);
    for (int i = 0; i < g->count; i++)
        dying[i] = -1;
    const Plan *p = g->plan;
    for (int j = to - 1; j >= from; j--) {
        int at = p->free_at[j];
        if (p->bytes[j] && at >= j && at < to && !overwritten(p, j) && !g->nodes[j].persist) {
            next_dying[j] = dying[at];
            dying[at] = j;
        }
    }
    for (int i = from; i < to; i++) {
        if (g->nodes[i].dead)
            continue;
        emit_node(kp, i);
        mark_dead(kp, i, dying, next_dying);
    }
    return kp;
}
