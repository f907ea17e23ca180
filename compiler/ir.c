/* ir.c - the graph: building it, shapes, and its text form (--dump-ir). */
#include "tfc.h"
#include "q8.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

const char *const op_names[OP_COUNT_] = {
#define OP(name, nin, flags, rule) #name,
#include "ops.h"
#undef OP
};

const int op_arity[OP_COUNT_] = {
#define OP(name, nin, flags, rule) nin,
#include "ops.h"
#undef OP
};

const int op_flags[OP_COUNT_] = {
#define OP(name, nin, flags, rule) flags,
#include "ops.h"
#undef OP
};

_Static_assert(sizeof op_names / sizeof op_names[0] == OP_COUNT_, "op table out of step");

const DTypeInfo dtypes[DT_COUNT_] = {
#define DTYPE(id, name, block_bytes, block_values, what) {name, block_bytes, block_values, what},
#include "dtypes.h"
#undef DTYPE
};

_Static_assert(sizeof dtypes / sizeof dtypes[0] == DT_COUNT_, "dtype table out of step");
/* The table's numbers as constants, for the asserts below. */
enum {
#define DTYPE(id, name, block_bytes, block_values, what) \
    DT_BYTES_##id = block_bytes, DT_BLOCK_##id = block_values,
#include "dtypes.h"
#undef DTYPE
};
#define DTYPE(id, name, block_bytes, block_values, what) \
    _Static_assert(block_bytes > 0 && block_values > 0, "dtype " name " has an empty block");
#include "dtypes.h"
#undef DTYPE
_Static_assert(DT_BYTES_F32 == sizeof(float) && DT_BYTES_I32 == sizeof(int32_t), "4-byte scalars");
_Static_assert(DT_BLOCK_Q8 == TFRT_Q8_BLOCK, "a q8 block is the kernels' block (runtime/q8.h)");
_Static_assert(DT_BYTES_Q8 == DT_BLOCK_Q8 * sizeof(int8_t) + sizeof(float),
               "a q8 block: its int8 values and one float scale");

int64_t dtype_bytes(DType dt, int64_t elems)
{
    const DTypeInfo *t = &dtypes[dt];
    if (elems < 0 || elems % t->block)
        tfc_bug("%lld values of %s are not whole blocks of %d", (long long)elems, t->name, t->block);
    if (elems / t->block > INT64_MAX / t->block_bytes)
        return INT64_MAX;
    return elems / t->block * t->block_bytes;
}

Graph *ir_new_graph(void)
{
    Graph *g = tfc_alloc(sizeof *g);
    g->output = -1;
    g->nsyms = 1;
    return g;
}

/* Nodes are appended in evaluation order: the list is the schedule. */
int ir_add(Graph *g, Op op, DType dt, Shape shape, Loc loc)
{
    if (g->count == g->cap) {
        int cap = g->cap ? 2 * g->cap : 256;
        Node *nodes = tfc_alloc((size_t)cap * sizeof *nodes);
        if (g->count)
            memcpy(nodes, g->nodes, (size_t)g->count * sizeof *nodes);
        g->nodes = nodes;
        g->cap = cap;
    }
    Node *n = &g->nodes[g->count];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->dtype = dt;
    n->shape = shape;
    n->loc = loc;
    for (int i = 0; i < MAX_ARGS; i++)
        n->in[i] = -1;
    return g->count++;
}

/* Node ids from `at` on move up by one: every reference to them too. */
static int shifted(int id, int at) { return id >= at ? id + 1 : id; }

int ir_insert(Graph *g, int at, Op op, DType dt, Shape shape, Loc loc)
{
    if (g->plan || at < 0 || at > g->count)
        tfc_bug("ir_insert at %d of %d nodes%s", at, g->count, g->plan ? " after planning" : "");
    int last = ir_add(g, op, dt, shape, loc);
    Node fresh = g->nodes[last];
    memmove(&g->nodes[at + 1], &g->nodes[at], (size_t)(last - at) * sizeof *g->nodes);
    g->nodes[at] = fresh;
    for (int i = 0; i < g->count; i++) {
        Node *n = &g->nodes[i];
        for (int j = 0; j < MAX_ARGS; j++)
            if (n->in[j] >= 0)
                n->in[j] = shifted(n->in[j], at);
        if (n->op == OP_MATMUL)
            for (int p = 0; p < MAX_PARTS; p++)
                if (n->attr.matmul.cache[p])
                    n->attr.matmul.cache[p] = shifted(n->attr.matmul.cache[p], at);
    }
    for (int i = 0; i < g->ninputs; i++)
        g->inputs[i] = shifted(g->inputs[i], at);
    g->output = shifted(g->output, at);
    if (g->enc_end > at)
        g->enc_end++;
    return at;
}

Dim ir_const(int64_t n) { return (Dim){0, n}; }

Shape ir_shape1(Dim a)
{
    Shape s = {1, {a}};
    return s;
}

Shape ir_shape2(Dim a, Dim b)
{
    Shape s = {2, {a, b}};
    return s;
}

int ir_dim_equal(Dim a, Dim b)
{
    return a.sym == b.sym && (a.sym != 0 || a.n == b.n);
}

int ir_shape_equal(Shape a, Shape b)
{
    if (a.ndim != b.ndim)
        return 0;
    for (int i = 0; i < a.ndim; i++)
        if (!ir_dim_equal(a.d[i], b.d[i]))
            return 0;
    return 1;
}

int64_t ir_dim_max(const Graph *g, Dim d)
{
    return d.sym ? g->syms[d.sym].max : d.n;
}

int64_t ir_max_elems(const Graph *g, Shape s)
{
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++)
        n *= ir_dim_max(g, s.d[i]);
    return n;
}

const char *ir_dim_str(const Graph *g, Dim d)
{
    if (d.sym && g->syms[d.sym].past)
        return tfc_format("pos+%s", g->syms[g->syms[d.sym].past].name);
    return d.sym ? g->syms[d.sym].name : tfc_format("%lld", (long long)d.n);
}

const char *ir_shape_str(const Graph *g, Shape s)
{
    char buf[128] = "(";
    for (int i = 0; i < s.ndim; i++) {
        strcat(buf, ir_dim_str(g, s.d[i]));
        strcat(buf, i + 1 < s.ndim ? "," : "");
    }
    strcat(buf, ")");
    return tfc_strdup(buf);
}

const char *const act_names[] = {"none", "gelu", "gelu_tanh", "relu", "silu", "tanh"};

/* layout, then what the fusion pass put into the epilogue */
static void dump_matmul(const Node *n, FILE *out)
{
    fprintf(out, " layout=%s", n->attr.matmul.layout ? "in_out" : "out_in");
    if (n->attr.matmul.act)
        fprintf(out, " act=%s", act_names[n->attr.matmul.act]);
    if (n->attr.matmul.glu)
        fprintf(out, " glu");
    for (int p = 0; p < n->attr.matmul.parts; p++) {
        fprintf(out, " part%d=%d", p, n->attr.matmul.part_cols[p]);
        if (n->attr.matmul.rope_heads[p])
            fprintf(out, "+rope(heads=%d%s)", n->attr.matmul.rope_heads[p],
                    n->attr.matmul.rope_interleaved ? ",interleaved" : "");
        if (n->attr.matmul.cache[p])
            fprintf(out, "+cache(%%%d)", n->attr.matmul.cache[p]);
    }
    static const char *const tp_names[] = {"", "column", "row+allreduce", "gather"};
    if (n->attr.matmul.tp)   /* --tp (passes/shard.c) */
        fprintf(out, " tp=%s", tp_names[n->attr.matmul.tp]);
}

static void dump_attrs(const Node *n, FILE *out)
{
    switch (n->op) {
    case OP_WEIGHT:
        fprintf(out, " \"%s\"", n->attr.weight.ckpt);
        if (n->attr.weight.full.ndim)
            fprintf(out, " view from element %lld", (long long)n->attr.weight.first);
        if (n->attr.weight.split_axis)   /* --tp: a rank's slice */
            fprintf(out, " rank slice of axis %d", n->attr.weight.split_axis - 1);
        break;
    case OP_ROPE:
        fprintf(out, " heads=%d theta=%g%s", n->attr.rope.heads, n->attr.rope.theta,
                n->attr.rope.interleaved ? " interleaved" : "");
        break;
    case OP_INPUT: fprintf(out, " #%d", n->attr.input.index); break;
    case OP_MATMUL: dump_matmul(n, out); break;
    case OP_CONCAT: fprintf(out, " axis=%d", n->attr.concat.axis); break;
    case OP_LAYERNORM:
    case OP_RMSNORM: fprintf(out, " eps=%g", n->attr.norm.eps); break;
    case OP_ATTENTION:
        fprintf(out, " heads=%d kv_heads=%d causal=%d scale=%g", n->attr.attn.heads,
                n->attr.attn.kv_heads, n->attr.attn.causal, n->attr.attn.scale);
        if (n->in[3] >= 0)
            fprintf(out, " buckets=%d max_distance=%d bidirectional=%d", n->attr.attn.buckets,
                    n->attr.attn.max_distance, n->attr.attn.bidirectional);
        break;
    case OP_SLICE:
        fprintf(out, " cols=[%d,+%d)%s", n->attr.slice.first, n->attr.slice.cols,
                n->attr.slice.view ? " view" : "");
        break;
    case OP_SCALE: fprintf(out, " s=%g", n->attr.scale.s); break;
    case OP_CACHE:
        fprintf(out, " at=%lld%s", (long long)n->attr.cache.offset,
                n->attr.cache.fused ? " written-by-epilogue" : "");
        break;
    default: break;
    }
}

/* One node a line:  %12 (seq,768) f32 = MATMUL %11, %3, %4 layout=in_out  # l0_c_attn */
void ir_dump(const Graph *g, FILE *out)
{
    fprintf(out, "graph %s  # %d nodes\n", g->model ? g->model : "?", g->count);
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        fprintf(out, "  %%%-4d %-12s %s = %s", i, ir_shape_str(g, n->shape),
                dtypes[n->dtype].name, op_names[n->op]);
        int args = 0;
        for (int j = 0; j < MAX_ARGS; j++)
            args = n->in[j] >= 0 ? j + 1 : args;
        for (int j = 0; j < args; j++)   /* an absent operand before a present one: _ */
            fprintf(out, n->in[j] >= 0 ? "%s%%%d" : "%s_", j ? ", " : " ", n->in[j]);
        dump_attrs(n, out);
        fprintf(out, "%s%s  # %s%s\n", n->inlined ? " inlined" : "", n->persist ? " persist" : "",
                n->name, i == g->output ? " (output)" : "");
    }
}
