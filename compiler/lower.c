/*
 * lower.c - a parsed model file to a graph.
 *
 * The statements run in order like a small program: config values are
 * numbers, `repeat` is unrolled, and every tensor expression appends nodes
 * to the graph.  This is where the model's meaning is checked: each
 * mistake a user can make gets a located error here, so that the graph
 * verifier only ever catches compiler bugs.
 *
 * Modules (Embedding, Linear, Conv1D, LayerNorm, RMSNorm) are named
 * groups of weights following PyTorch's state_dict convention: a module
 * declared `at "h.0.ln_1"` owns "h.0.ln_1.weight" and "h.0.ln_1.bias".
 * `param` declares one tensor under any name, for checkpoints that do not
 * follow the convention.
 */
#include "model_limits.h"
#include "lower.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <string.h>

static Value tensor(int id) { return (Value){.kind = V_TENSOR, .node = id}; }
static Node *node(Lowering *L, int id) { return &L->g->nodes[id]; }

/* ---- limits (model_limits.h) ------------------------------------------------ */

/* Adds `add` bytes to a running total, or stops at loc when the total
 * would pass its limit (a power of two).  add < 0 means a product that
 * is already past it. */
static void add_to(int64_t *total, int64_t add, int64_t limit, Loc loc, const char *what)
{
    int64_t t = add < 0 ? -1 : limit_add(*total, add, limit);
    int log2 = 0;
    while (((int64_t)1 << log2) < limit)
        log2++;
    if (t < 0)
        error_at(loc, "%s would exceed 2^%d bytes (%lld TiB)", what, log2,
                 (long long)(limit >> 40));
    *total = t;
}

/* Elements of a shape at the longest lengths, or -1 past limit. */
static int64_t max_elems(const Graph *g, Shape s, int64_t limit)
{
    int64_t n = 1;
    for (int i = 0; i < s.ndim && n >= 0; i++)
        n = limit_mul(n, ir_dim_max(g, s.d[i]), limit);
    return n;
}

/* FLOPs of one node, counted against the pass's total. */
static void add_flops(Lowering *L, int64_t flops, Loc loc)
{
    int64_t t = flops < 0 ? -1 : limit_add(L->flops, flops, LIMIT_FLOPS);
    if (t < 0)
        error_at(loc, "a forward pass of this model at its longest inputs would exceed 2^60 FLOPs");
    L->flops = t;
}

/* Every node is made here, so that the graph's size and its byte totals
 * stay within model_limits.h and a model past one is stopped at the expression
 * that passes it.  A weight view (split) adds no bytes: it lies inside a
 * weight already counted. */
static int new_node(Lowering *L, Op op, DType dt, Shape shape, Loc loc, int is_view)
{
    if (L->g->count >= tfc_limits.nodes)
        error_at(loc, "the model unrolls to more than %lld graph nodes", (long long)tfc_limits.nodes);
    int64_t elems = max_elems(L->g, shape, LIMIT_TENSOR_BYTES / 4);
    if (elems < 0)
        error_at(loc, "a tensor %s would exceed 2^40 bytes (1 TiB), the most tfc plans for one tensor",
                 ir_shape_str(L->g, shape));
    int64_t bytes = dtype_bytes(dt, elems);   /* as lowered: float32 or int32 */
    if (op == OP_WEIGHT && !is_view)
        add_to(&L->weight_bytes, bytes, LIMIT_WEIGHT_BYTES, loc, "the model's weights (float32)");
    if (op != OP_WEIGHT && op != OP_INPUT) {
        add_to(&L->buffer_bytes, (bytes + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN,
               LIMIT_BUFFER_BYTES, loc, "the model's intermediate tensors together");
        add_flops(L, elems, loc);
    }
    return ir_add(L->g, op, dt, shape, loc);
}

/* ---- node names ------------------------------------------------------- */

/* Gives node id a unique C identifier built from base (and the repeat
 * scope), so that generated code reads like the model file.  A name
 * given before is released for reuse.  Taken names are looked up in a
 * map, and a base that is taken starts its search for a free _N where
 * the last search ended: linear in the number of nodes. */
static void name_node(Lowering *L, int id, const char *base, int scoped)
{
    char buf[160];
    size_t len = 0;
    const char *s = scoped && L->scope ? L->scope : "";
    for (const char *p = s; *p && len < 60; p++)
        buf[len++] = *p;
    for (const char *p = base; *p && len < 120; p++)
        buf[len++] = isalnum((unsigned char)*p) ? *p : '_';
    buf[len] = '\0';
    if (isdigit((unsigned char)buf[0]))
        memmove(buf + 1, buf, len + 1), buf[0] = '_';
    const char *old = node(L, id)->name;
    if (old && strmap_get(&L->node_names, old, -1) == id)
        strmap_remove(&L->node_names, old);
    char *name = tfc_strdup(buf);
    if (strmap_get(&L->node_names, name, -1) >= 0) {
        const char *stem = name;
        int k = strmap_get(&L->next_suffix, stem, 2);
        do
            name = tfc_format("%s_%d", buf, k++);
        while (strmap_get(&L->node_names, name, -1) >= 0);
        strmap_put(&L->next_suffix, stem, k);
    }
    strmap_put(&L->node_names, name, id);
    node(L, id)->name = name;
}

static int add_node(Lowering *L, Op op, DType dt, Shape shape, Loc loc, const char *base)
{
    int id = new_node(L, op, dt, shape, loc, 0);
    name_node(L, id, base, 1);
    return id;
}

/* ---- operands --------------------------------------------------------- */

static int need_tensor(Lowering *L, const Ast *e, const char *what)
{
    Value v = lower_expr(L, e);
    if (v.kind != V_TENSOR)
        error_at(e->loc, "%s must be a tensor, found %s", what, sema_value_kind(v));
    return v.node;
}

static int expect_matrix(Lowering *L, int id, const Ast *e, const char *what)
{
    Node *n = node(L, id);
    if (n->shape.ndim != 2 || n->dtype != DT_F32)
        error_at(e->loc, "%s must be a float matrix (rows, columns), found %s %s", what,
                 n->dtype == DT_I32 ? "ids" : "a tensor", ir_shape_str(L->g, n->shape));
    return id;
}

static int need_matrix(Lowering *L, const Ast *e, const char *what)
{
    return expect_matrix(L, need_tensor(L, e, what), e, what);
}

static int need_ids(Lowering *L, const Ast *e, const char *what)
{
    int id = need_tensor(L, e, what);
    Node *n = node(L, id);
    if (n->shape.ndim != 1 || n->dtype != DT_I32)
        error_at(e->loc, "%s must be token ids (an input or positions(...)), found a float tensor %s",
                 what, ir_shape_str(L->g, n->shape));
    return id;
}

static int64_t cols_of(Lowering *L, int id)
{
    Node *n = node(L, id);
    return n->shape.d[n->shape.ndim - 1].n;
}

static Dim rows_of(Lowering *L, int id) { return node(L, id)->shape.d[0]; }

/* ---- call arguments --------------------------------------------------- */

/* Matches a call's arguments to parameter names: positional ones in order,
 * then keywords by name.  The first nreq are required. */
static void bind_args(const Ast *call, const char *const *names, int nreq, int nmax,
                      const Ast **out)
{
    char sig[256] = "";
    size_t len = 0;
    for (int i = 0; i < nmax; i++)
        len += (size_t)snprintf(sig + len, sizeof sig - len, "%s%s%s", i ? ", " : "",
                                names[i], i < nreq ? "" : "?");
    for (int i = 0; i < nmax; i++)
        out[i] = NULL;
    int positional = 0;
    for (int i = 0; i < call->list.count; i++) {
        const Ast *arg = call->list.items[i];
        int slot = -1;
        if (!arg->name) {
            if (positional >= nmax)
                error_at(arg->loc, "too many arguments: %s(%s) takes at most %d, got %d",
                         call->name, sig, nmax, call->list.count);
            slot = positional++;
        } else {
            for (int j = 0; j < nmax; j++)
                if (strcmp(names[j], arg->name) == 0)
                    slot = j;
            if (slot < 0)
                error_at(arg->loc, "%s has no parameter '%s' (it takes %s)", call->name, arg->name, sig);
        }
        if (out[slot])
            error_at(arg->loc, "argument '%s' of %s is given twice", names[slot], call->name);
        out[slot] = arg->lhs;
    }
    for (int i = 0; i < nreq; i++)
        if (!out[i])
            error_at(call->loc, "missing argument '%s': %s(%s) takes %d argument%s, got %d",
                     names[i], call->name, sig, nreq, nreq == 1 ? "" : "s", call->list.count);
}

static int flag_arg(Lowering *L, const Ast *e, int dflt, const char *what)
{
    if (!e)
        return dflt;
    Value v = lower_expr(L, e);
    if (v.kind != V_BOOL)
        error_at(e->loc, "%s must be true or false, found %s", what, sema_value_kind(v));
    return v.number != 0;
}

static int64_t positive_arg(Lowering *L, const Ast *e, const char *what)
{
    int64_t v = sema_int(L, e, what);
    if (v <= 0)
        error_at(e->loc, "%s must be a positive integer, found %lld", what, (long long)v);
    if (v > LIMIT_DIM)
        error_at(e->loc, "%s is %lld; sizes are at most 2^30 (%lld)", what, (long long)v,
                 (long long)LIMIT_DIM);
    return v;
}

/* A number stored as a float attribute (eps, theta, scale): it must be
 * finite as a float, or the conversion itself would be undefined. */
static float float_arg(double v, Loc loc, const char *what)
{
    if (!(fabs(v) <= FLT_MAX))
        error_at(loc, "%s is %g, beyond the range of a float (%g)", what, v, (double)FLT_MAX);
    return (float)v;
}

/* ---- weights and modules ---------------------------------------------- */

static int new_weight(Lowering *L, const char *ckpt, Shape shape, Loc loc)
{
    int old = strmap_get(&L->ckpts, ckpt, -1);
    if (old >= 0)
        error_at(loc, "checkpoint tensor '%s' is already declared at line %d",
                 ckpt, node(L, old)->loc.line);
    int id = new_node(L, OP_WEIGHT, DT_F32, shape, loc, 0);
    strmap_put(&L->ckpts, ckpt, id);
    node(L, id)->attr.weight.ckpt = ckpt;
    name_node(L, id, ckpt, 0);
    return id;
}

typedef struct {
    const char *name;
    ModuleKind kind;
    const char *params[4];
    int nreq, nmax;
} ModuleType;

static const ModuleType module_types[] = {
    {"Embedding", MOD_EMBEDDING, {"num", "dim"}, 2, 2},
    {"Linear", MOD_LINEAR, {"in", "out", "bias"}, 2, 3},
    {"Conv1D", MOD_CONV1D, {"in", "out", "bias"}, 2, 3},
    {"LayerNorm", MOD_LAYERNORM, {"dim", "eps", "bias"}, 1, 3},
    {"RMSNorm", MOD_RMSNORM, {"dim", "eps"}, 1, 2},
};

static const ModuleType *module_type(const char *name)
{
    for (size_t i = 0; i < sizeof module_types / sizeof module_types[0]; i++)
        if (strcmp(module_types[i].name, name) == 0)
            return &module_types[i];
    return NULL;
}

/* How errors name argument i of a module type: "argument 'out' of Linear",
 * so that a mistake in one of several sizes points at the right one. */
static const char *module_arg(const ModuleType *t, int i)
{
    return tfc_format("argument '%s' of %s", t->params[i], t->name);
}

/* name = Type(args) at "prefix": the module's weights, declared. */
static Module *declare_module(Lowering *L, const char *var, const Ast *call, const Ast *at)
{
    const ModuleType *t = module_type(call->name);
    const Ast *a[4];
    bind_args(call, t->params, t->nreq, t->nmax, a);
    const char *prefix = sema_interpolate(L, at, at->name);
    Module *m = tfc_alloc(sizeof *m);
    m->kind = t->kind;
    m->var = var;
    m->bias = -1;
    Dim d0 = ir_const(positive_arg(L, a[0], module_arg(t, 0)));
    const char *w = tfc_format("%s.weight", prefix), *b = tfc_format("%s.bias", prefix);
    switch (t->kind) {
    case MOD_EMBEDDING: {
        Dim d1 = ir_const(positive_arg(L, a[1], module_arg(t, 1)));
        m->weight = new_weight(L, w, ir_shape2(d0, d1), call->loc);
        break;
    }
    case MOD_LINEAR:
    case MOD_CONV1D: {
        Dim d1 = ir_const(positive_arg(L, a[1], module_arg(t, 1)));
        Shape s = t->kind == MOD_LINEAR ? ir_shape2(d1, d0) : ir_shape2(d0, d1);
        m->weight = new_weight(L, w, s, call->loc);
        if (flag_arg(L, a[2], 1, module_arg(t, 2)))
            m->bias = new_weight(L, b, ir_shape1(d1), call->loc);
        break;
    }
    case MOD_LAYERNORM:
    case MOD_RMSNORM:
        m->eps = a[1] ? float_arg(sema_scalar(L, a[1]), a[1]->loc, "eps") : 1e-5f;
        if (m->eps < 0)
            error_at(a[1]->loc, "eps must not be negative");
        m->weight = new_weight(L, w, ir_shape1(d0), call->loc);
        if (t->kind == MOD_LAYERNORM && flag_arg(L, a[2], 1, module_arg(t, 2)))
            m->bias = new_weight(L, b, ir_shape1(d0), call->loc);
        break;
    }
    return m;
}

/* The weight side of a matrix product must not grow with an input: MATMUL
 * takes W as a matrix of fixed sizes (ops.h), and the width check in
 * matmul() compares sizes only (a length such as seq counts as its bound
 * there, which would let (seq,8) pass as 8 rows, and the graph verifier
 * would then stop the compiler with an internal error). */
static int expect_fixed(Lowering *L, int id, Loc loc, const char *what)
{
    Shape s = node(L, id)->shape;
    for (int i = 0; i < s.ndim; i++)
        if (s.d[i].sym)
            error_at(loc, "%s must have a fixed shape (a weight), found %s", what,
                     ir_shape_str(L->g, s));
    return id;
}

static int matmul(Lowering *L, int x, int w, int bias, int layout, Loc loc, const char *name)
{
    Node *wn = node(L, w);
    int64_t in = layout ? wn->shape.d[0].n : wn->shape.d[1].n;
    int64_t out = layout ? wn->shape.d[1].n : wn->shape.d[0].n;
    if (cols_of(L, x) != in)
        error_at(loc, "%s expects rows of %lld values, but its input %s has %lld columns",
                 name, (long long)in, ir_shape_str(L->g, node(L, x)->shape), (long long)cols_of(L, x));
    if (bias >= 0 && cols_of(L, bias) != out)
        error_at(loc, "the bias of %s has %lld values, expected %lld",
                 name, (long long)cols_of(L, bias), (long long)out);
    int id = add_node(L, OP_MATMUL, DT_F32, ir_shape2(rows_of(L, x), ir_const(out)), loc, name);
    int64_t rows = ir_dim_max(L->g, rows_of(L, x));
    add_flops(L, limit_mul(2 * rows, limit_mul(in, out, LIMIT_FLOPS), LIMIT_FLOPS), loc);
    Node *n = node(L, id);
    n->in[0] = x;
    n->in[1] = w;
    n->in[2] = bias;
    n->attr.matmul.layout = layout;
    return id;
}

/* ids arriving from positions(t) can be checked now: the table must have a
 * row for the largest position. */
static void check_position_rows(Lowering *L, int table, int ids, Loc loc, const char *var)
{
    Node *p = node(L, ids);
    if (p->op != OP_POSITIONS)
        return;
    int64_t rows = node(L, table)->shape.d[0].n, need = ir_dim_max(L->g, p->shape.d[0]);
    if (need > rows)
        error_at(loc, "%s has %lld rows, but positions go up to %lld (sequences of up to %lld tokens)",
                 var, (long long)rows, (long long)need - 1, (long long)need);
}

static Value call_module(Lowering *L, const Module *m, const Ast *call)
{
    if (call->list.count != 1 || call->list.items[0]->name)
        error_at(call->loc, "module '%s' takes one input, got %d", m->var, call->list.count);
    const Ast *arg = call->list.items[0]->lhs;
    Node *w = node(L, m->weight);
    if (m->kind == MOD_EMBEDDING) {
        int ids = need_ids(L, arg, tfc_format("the input of %s", m->var));
        check_position_rows(L, m->weight, ids, call->loc, m->var);
        int id = add_node(L, OP_EMBED, DT_F32, ir_shape2(rows_of(L, ids), w->shape.d[1]), call->loc, m->var);
        node(L, id)->in[0] = m->weight;
        node(L, id)->in[1] = ids;
        return tensor(id);
    }
    int x = need_matrix(L, arg, tfc_format("the input of %s", m->var));
    if (m->kind == MOD_LINEAR || m->kind == MOD_CONV1D)
        return tensor(matmul(L, x, m->weight, m->bias, m->kind == MOD_CONV1D, call->loc, m->var));
    if (cols_of(L, x) != w->shape.d[0].n)
        error_at(call->loc, "%s normalizes rows of %lld values, but its input %s has %lld columns",
                 m->var, (long long)w->shape.d[0].n, ir_shape_str(L->g, node(L, x)->shape),
                 (long long)cols_of(L, x));
    Op op = m->kind == MOD_LAYERNORM ? OP_LAYERNORM : OP_RMSNORM;
    int id = add_node(L, op, DT_F32, node(L, x)->shape, call->loc, m->var);
    Node *n = node(L, id);
    n->in[0] = x;
    n->in[1] = m->weight;
    n->in[2] = m->bias;
    n->attr.norm.eps = m->eps;
    return tensor(id);
}

/* ---- built-in functions ----------------------------------------------- */

static int unary(Lowering *L, Op op, int x, Loc loc, const char *name)
{
    int id = add_node(L, op, DT_F32, node(L, x)->shape, loc, name);
    node(L, id)->in[0] = x;
    return id;
}

/* attention(..., relative = table, buckets = B, max_distance = M,
 * bidirectional = b): T5's learned relative-position bias, a table
 * (B, heads) indexed by the bucket of key position - query position.
 * a[] holds the four arguments from `relative` on; t is the table, lowered
 * before the attention node (an input must be an earlier node), or -1. */
static void relative_bias(Lowering *L, int id, int t, const Ast *const *a, const Ast *call)
{
    Node *n = node(L, id);
    if (!a[0]) {
        for (int i = 1; i < 4; i++)
            if (a[i])
                error_at(a[i]->loc, "this argument belongs to a relative position bias: "
                         "give the table too, as in relative = rel.weight");
        return;
    }
    int64_t buckets = a[1] ? positive_arg(L, a[1], "buckets") : node(L, t)->shape.d[0].n;
    int64_t maxd = a[2] ? positive_arg(L, a[2], "max_distance") : 128;
    int bidir = flag_arg(L, a[3], !n->attr.attn.causal, "bidirectional");
    Node *tn = node(L, t);
    if (tn->shape.d[0].sym || tn->shape.d[0].n != buckets || tn->shape.d[1].n != n->attr.attn.heads)
        error_at(a[0]->loc, "the relative position table must be (buckets, heads) = (%lld, %d), found %s",
                 (long long)buckets, n->attr.attn.heads, ir_shape_str(L->g, tn->shape));
    if (buckets < (bidir ? 4 : 2))
        error_at(a[1] ? a[1]->loc : call->loc, "a relative position bias needs at least %d buckets",
                 bidir ? 4 : 2);
    n = node(L, id);
    n->in[3] = t;
    n->attr.attn.buckets = (int)buckets;
    n->attr.attn.max_distance = (int)maxd;
    n->attr.attn.bidirectional = bidir;
}

/* Attention's FLOPs (QK^T and AV over every pair, at most what the
 * kernel visits), and for a causal one the keys and values a KV cache
 * would keep of it (pass_kv_cache caches causal self-attention). */
static void count_attention(Lowering *L, int q, int k, int causal, Loc loc)
{
    int64_t pairs = limit_mul(ir_dim_max(L->g, rows_of(L, q)), ir_dim_max(L->g, rows_of(L, k)),
                              LIMIT_FLOPS);
    add_flops(L, limit_mul(4 * cols_of(L, q), pairs, LIMIT_FLOPS), loc);
    if (causal)
        add_to(&L->cache_bytes, 2 * dtype_bytes(DT_F32, 1) * max_elems(L->g, node(L, k)->shape, LIMIT_CACHE_BYTES),
               LIMIT_CACHE_BYTES, loc, "the keys and values a KV cache keeps");
}

static Value call_attention(Lowering *L, const Ast *call)
{
    static const char *const names[] = {"q", "k", "v", "heads", "causal", "scale", "relative",
                                        "buckets", "max_distance", "bidirectional"};
    const Ast *a[10];
    bind_args(call, names, 4, 10, a);
    int q = need_matrix(L, a[0], "q"), k = need_matrix(L, a[1], "k"), v = need_matrix(L, a[2], "v");
    int64_t heads = positive_arg(L, a[3], "heads");
    int64_t qc = cols_of(L, q), kc = cols_of(L, k);
    if (qc % heads)
        error_at(a[3]->loc, "the width of q (%lld) is not divisible by heads (%lld)",
                 (long long)qc, (long long)heads);
    int64_t hd = qc / heads;
    if (hd > 512)
        error_at(a[3]->loc, "heads of %lld values are wider than the runtime supports (512)", (long long)hd);
    if (kc % hd || heads % (kc / hd ? kc / hd : 1) || kc / hd == 0)
        error_at(a[1]->loc, "k has %lld columns: expected a multiple of the head size %lld that divides "
                 "the %lld heads (grouped-query attention)", (long long)kc, (long long)hd, (long long)heads);
    if (cols_of(L, v) != kc)
        error_at(a[2]->loc, "v has %lld columns, k has %lld: they must match",
                 (long long)cols_of(L, v), (long long)kc);
    if (!ir_dim_equal(rows_of(L, k), rows_of(L, v)))
        error_at(a[2]->loc, "k and v must have the same number of rows");
    int causal = flag_arg(L, a[4], 0, "causal");
    if (causal && !ir_dim_equal(rows_of(L, q), rows_of(L, k)))
        error_at(call->loc, "causal attention needs q and k from the same sequence");
    float scale = a[5] ? float_arg(sema_scalar(L, a[5]), a[5]->loc, "scale")
                       : (float)(1.0 / sqrt((double)hd));
    int table = a[6] ? need_matrix(L, a[6], "relative") : -1;
    int id = add_node(L, OP_ATTENTION, DT_F32, node(L, q)->shape, call->loc, "attention");
    count_attention(L, q, k, causal, call->loc);
    Node *n = node(L, id);
    n->in[0] = q;
    n->in[1] = k;
    n->in[2] = v;
    n->attr.attn.heads = (int)heads;
    n->attr.attn.kv_heads = (int)(kc / hd);
    n->attr.attn.causal = causal;
    n->attr.attn.scale = scale;
    relative_bias(L, id, table, a + 6, call);
    return tensor(id);
}

static Value call_linear(Lowering *L, const Ast *call)
{
    static const char *const names[] = {"x", "weight", "bias"};
    const Ast *a[3];
    bind_args(call, names, 2, 3, a);
    int x = need_matrix(L, a[0], "x"), w = need_matrix(L, a[1], "weight");
    expect_fixed(L, w, a[1]->loc, "argument 'weight' of linear");
    int b = a[2] ? need_tensor(L, a[2], "bias") : -1;
    return tensor(matmul(L, x, w, b, 0, call->loc, "linear"));
}

static Value call_sinusoidal(Lowering *L, const Ast *call)
{
    static const char *const names[] = {"positions", "dim"};
    const Ast *a[2];
    bind_args(call, names, 2, 2, a);
    int pos = need_ids(L, a[0], "positions");
    int64_t dim = positive_arg(L, a[1], "dim");
    if (dim % 2)
        error_at(a[1]->loc, "sinusoidal encodings need an even dim, found %lld", (long long)dim);
    int id = add_node(L, OP_SINUSOIDAL, DT_F32, ir_shape2(rows_of(L, pos), ir_const(dim)), call->loc,
                      "sinusoidal");
    node(L, id)->in[0] = pos;
    return tensor(id);
}

/* rope(x, pos, heads = h, theta = 10000, interleaved = false): rotary
 * position embedding of each head of x; row i at position pos[i]. */
static Value call_rope(Lowering *L, const Ast *call)
{
    static const char *const names[] = {"x", "pos", "heads", "theta", "interleaved"};
    const Ast *a[5];
    bind_args(call, names, 3, 5, a);
    int x = need_matrix(L, a[0], "x");
    int pos = need_ids(L, a[1], "pos");
    int64_t heads = positive_arg(L, a[2], "heads");
    double theta = a[3] ? float_arg(sema_scalar(L, a[3]), a[3]->loc, "theta") : 10000.0;
    int interleaved = flag_arg(L, a[4], 0, "interleaved");
    int64_t c = cols_of(L, x);
    if (c % heads || (c / heads) % 2)
        error_at(a[2]->loc, "rope needs heads of an even width: x has %lld columns, heads is %lld",
                 (long long)c, (long long)heads);
    if (!(theta > 1.0))
        error_at(a[3]->loc, "theta must be greater than 1, found %g", theta);
    if (!ir_dim_equal(rows_of(L, x), rows_of(L, pos)))
        error_at(a[1]->loc, "pos has %s rows, x has %s: give the positions of x's tokens",
                 ir_dim_str(L->g, rows_of(L, pos)), ir_dim_str(L->g, rows_of(L, x)));
    int id = add_node(L, OP_ROPE, DT_F32, node(L, x)->shape, call->loc, "rope");
    Node *n = node(L, id);
    n->in[0] = x;
    n->in[1] = pos;
    n->attr.rope.heads = (int)heads;
    n->attr.rope.theta = (float)theta;
    n->attr.rope.interleaved = interleaved;
    return tensor(id);
}

/* first(x): the first row of x, (1, D); as a BERT pooler reads [CLS]. */
static Value call_first(Lowering *L, const Ast *call)
{
    static const char *const names[] = {"x"};
    const Ast *a[1];
    bind_args(call, names, 1, 1, a);
    int x = need_matrix(L, a[0], "x");
    if (node(L, x)->op == OP_WEIGHT)
        error_at(a[0]->loc, "first takes a computed tensor, not a weight");
    int id = add_node(L, OP_FIRST, DT_F32, ir_shape2(ir_const(1), ir_const(cols_of(L, x))),
                      call->loc, "first");
    node(L, id)->in[0] = x;
    return tensor(id);
}

typedef struct {
    const char *name;
    Op op;
} Activation;

static const Activation activations[] = {
    {"gelu", OP_GELU}, {"gelu_tanh", OP_GELU_TANH}, {"relu", OP_RELU},
    {"silu", OP_SILU}, {"softmax", OP_SOFTMAX}, {"tanh", OP_TANH},
};

static const char *const builtin_names[] = {
    "positions", "attention", "linear", "sinusoidal", "split", "sqrt",
    "gelu", "gelu_tanh", "relu", "silu", "softmax", "tanh", "rope", "first",
};

static Value call_function(Lowering *L, const Ast *call)
{
    const char *f = call->name;
    for (size_t i = 0; i < sizeof activations / sizeof activations[0]; i++)
        if (strcmp(f, activations[i].name) == 0) {
            static const char *const names[] = {"x"};
            const Ast *a[1];
            bind_args(call, names, 1, 1, a);
            int x = need_matrix(L, a[0], "x");
            return tensor(unary(L, activations[i].op, x, call->loc, f));
        }
    if (strcmp(f, "positions") == 0) {
        static const char *const names[] = {"ids"};
        const Ast *a[1];
        bind_args(call, names, 1, 1, a);
        int ids = need_ids(L, a[0], "ids");
        int id = add_node(L, OP_POSITIONS, DT_I32, node(L, ids)->shape, call->loc, "positions");
        node(L, id)->in[0] = ids;
        return tensor(id);
    }
    if (strcmp(f, "attention") == 0)
        return call_attention(L, call);
    if (strcmp(f, "linear") == 0)
        return call_linear(L, call);
    if (strcmp(f, "sinusoidal") == 0)
        return call_sinusoidal(L, call);
    if (strcmp(f, "rope") == 0)
        return call_rope(L, call);
    if (strcmp(f, "first") == 0)
        return call_first(L, call);
    if (strcmp(f, "split") == 0)
        error_at(call->loc, "split gives several tensors: assign them to as many names, as in "
                 "q, k, v = split(qkv, 3)");
    if (sema_is_scalar_function(f))
        return sema_call_scalar(L, call);
    if (module_type(f))
        error_at(call->loc, "%s is a module type: declare it with a checkpoint name, as in "
                 "ln = %s(...) at \"name\"", f, f);
    int nbuiltins = (int)(sizeof builtin_names / sizeof builtin_names[0]);
    const char *hint = sema_nearest(f, builtin_names, nbuiltins);
    if (hint)
        error_at(call->loc, "unknown function '%s' (did you mean '%s'?)", f, hint);
    error_at(call->loc, "unknown function '%s'", f);
}

static Value lower_call(Lowering *L, const Ast *call)
{
    Binding *b = sema_lookup(L, call->name);
    if (b && b->value.kind == V_MODULE)
        return call_module(L, b->value.module, call);
    if (b)
        error_at(call->loc, "'%s' is %s, not a function or module", call->name,
                 sema_value_kind(b->value));
    return call_function(L, call);
}

/* ---- operators -------------------------------------------------------- */

static int scale(Lowering *L, int x, double s, Loc loc)
{
    float f = float_arg(s, loc, "the scale factor");
    int id = unary(L, OP_SCALE, x, loc, "scale");
    node(L, id)->attr.scale.s = f;
    return id;
}

/* a + b and a * b on tensors: the same shape, or one side a vector as wide
 * as the other's rows (a bias or a gain). */
static int elementwise(Lowering *L, int op, int a, int b, Loc loc)
{
    Node *na = node(L, a), *nb = node(L, b);
    if (na->shape.ndim == 1 && nb->shape.ndim == 2) {
        int t = a; a = b; b = t;
        na = node(L, a);
        nb = node(L, b);
    }
    int same = ir_shape_equal(na->shape, nb->shape);
    int row = na->shape.ndim == 2 && nb->shape.ndim == 1 && nb->shape.d[0].sym == 0 &&
              nb->shape.d[0].n == na->shape.d[1].n;
    if (na->dtype != DT_F32 || nb->dtype != DT_F32)
        error_at(loc, "'%c' needs float tensors; token ids go through an embedding first", op);
    if (!same && !row)
        error_at(loc, "shape mismatch: cannot %s %s and %s", op == '+' ? "add" : "multiply",
                 ir_shape_str(L->g, na->shape), ir_shape_str(L->g, nb->shape));
    int id = add_node(L, op == '+' ? OP_ADD : OP_MUL, DT_F32, na->shape, loc, op == '+' ? "add" : "mul");
    node(L, id)->in[0] = a;
    node(L, id)->in[1] = b;
    return id;
}

static Value lower_binary(Lowering *L, const Ast *e)
{
    Value a = lower_expr(L, e->lhs), b = lower_expr(L, e->rhs);
    int op = e->op;
    if (a.kind == V_NUMBER && b.kind == V_NUMBER)
        return sema_arith(op, a, b, e->loc);
    if (a.kind == V_TENSOR && b.kind == V_TENSOR) {
        if (op == '+' || op == '*')
            return tensor(elementwise(L, op, a.node, b.node, e->loc));
        if (op == '@') {
            int x = need_matrix(L, e->lhs, "the left side of @");
            int w = need_matrix(L, e->rhs, "the right side of @");
            expect_fixed(L, w, e->loc, "the right side of @");
            return tensor(matmul(L, x, w, -1, 1, e->loc, "matmul"));
        }
        error_at(e->loc, "'%c' is not defined between tensors (use +, * or @)", op);
    }
    if (a.kind == V_TENSOR && b.kind == V_NUMBER && op == '/' && b.number == 0)
        error_at(e->loc, "division of a tensor by zero");
    if (a.kind == V_TENSOR && b.kind == V_NUMBER && (op == '*' || op == '/'))
        return tensor(scale(L, a.node, op == '*' ? b.number : 1.0 / b.number, e->loc));
    if (a.kind == V_NUMBER && b.kind == V_TENSOR && op == '*')
        return tensor(scale(L, b.node, a.number, e->loc));
    error_at(e->loc, "'%c' cannot combine %s and %s", op, sema_value_kind(a), sema_value_kind(b));
}

static Value lower_member(Lowering *L, const Ast *e)
{
    Value v = sema_need(L, e->lhs);
    if (v.kind != V_MODULE)
        error_at(e->loc, "'%s' is %s: only modules have fields such as .weight",
                 e->lhs->name, sema_value_kind(v));
    if (strcmp(e->name, "weight") == 0)
        return tensor(v.module->weight);
    if (strcmp(e->name, "bias") == 0 && v.module->bias >= 0)
        return tensor(v.module->bias);
    error_at(e->loc, "module '%s' has no field '%s'%s", e->lhs->name, e->name,
             v.module->bias >= 0 ? " (it has weight and bias)" : " (it has weight)");
}

Value lower_expr(Lowering *L, const Ast *e)
{
    switch (e->kind) {
    case AST_NUMBER: return sema_number(e->number, e->is_integer);
    case AST_BOOL: return (Value){.kind = V_BOOL, .number = strcmp(e->name, "true") == 0};
    case AST_STRING:
        error_at(e->loc, "a string is not a value here (strings name checkpoint tensors, after 'at')");
    case AST_NAME: return sema_need(L, e);
    case AST_BINARY: return lower_binary(L, e);
    case AST_NEG: {
        Value v = lower_expr(L, e->lhs);
        if (v.kind == V_NUMBER)
            return sema_number(-v.number, v.is_integer);
        if (v.kind == V_TENSOR)
            return tensor(scale(L, v.node, -1.0, e->loc));
        error_at(e->loc, "cannot negate %s", sema_value_kind(v));
    }
    case AST_CALL: return lower_call(L, e);
    case AST_MEMBER: return lower_member(L, e);
    default: tfc_bug("not an expression: kind %d", e->kind);
    }
}

/* ---- statements ------------------------------------------------------- */

static void lower_body(Lowering *L, const AstList *body);

/* wq, wk, wv = split(in_proj_weight, 3, axis = 0): views of a stored
 * tensor, split along its first dimension (a vector along its only one).
 * Nothing is copied: each view is a weight that starts further into the
 * checkpoint tensor. */
static void split_weight(Lowering *L, const Ast *stmt, int x, int64_t parts, const Ast *const *a)
{
    Shape s = node(L, x)->shape;
    int64_t axis = a[2] ? sema_int(L, a[2], "axis") : -1;
    if (axis < 0)
        axis += s.ndim;
    if (axis != 0)
        error_at(a[2] ? a[2]->loc : a[0]->loc, "a weight %s splits along its rows only: "
                 "write split(w, %lld, axis = 0)", ir_shape_str(L->g, s), (long long)parts);
    if (s.d[0].n % parts)
        error_at(a[0]->loc, "cannot split %lld rows into %lld equal parts", (long long)s.d[0].n,
                 (long long)parts);
    int64_t row_elems = s.ndim == 2 ? s.d[1].n : 1, rows = s.d[0].n / parts;
    for (int i = 0; i < parts; i++) {
        const Ast *target = stmt->list.items[i];
        Node base = *node(L, x);
        Shape vs = s;
        vs.d[0].n = rows;
        int id = new_node(L, OP_WEIGHT, DT_F32, vs, target->loc, 1);
        Node *v = node(L, id);
        v->attr.weight.ckpt = base.attr.weight.ckpt;
        v->attr.weight.first = base.attr.weight.first + i * rows * row_elems;
        v->attr.weight.full = base.attr.weight.full.ndim ? base.attr.weight.full : base.shape;
        name_node(L, id, target->name, 1);
        sema_bind(L, target->name, tensor(id), target->loc);
    }
}

static void lower_split(Lowering *L, const Ast *stmt)
{
    const Ast *call = stmt->rhs;
    int parts = stmt->list.count;
    if (call->kind != AST_CALL || strcmp(call->name, "split") != 0)
        error_at(stmt->loc, "%d names on the left of '=' need split(x, %d) on the right", parts, parts);
    static const char *const names[] = {"x", "parts", "axis"};
    const Ast *a[3];
    bind_args(call, names, 2, 3, a);
    int x = need_tensor(L, a[0], "x");
    int64_t n = positive_arg(L, a[1], "parts");
    if (n != parts)
        error_at(a[1]->loc, "split into %lld parts, but %d names receive them", (long long)n, parts);
    if (node(L, x)->op == OP_WEIGHT) {
        split_weight(L, stmt, x, n, a);
        return;
    }
    expect_matrix(L, x, a[0], "x");
    if (a[2] && sema_int(L, a[2], "axis") != -1 && sema_int(L, a[2], "axis") != 1)
        error_at(a[2]->loc, "computed tensors split along their columns (axis = -1); "
                 "only weights split along rows (axis = 0)");
    int64_t cols = cols_of(L, x);
    if (cols % n)
        error_at(a[0]->loc, "cannot split %lld columns into %lld equal parts", (long long)cols, (long long)n);
    for (int i = 0; i < parts; i++) {
        const Ast *target = stmt->list.items[i];
        int id = add_node(L, OP_SLICE, DT_F32, ir_shape2(rows_of(L, x), ir_const(cols / n)),
                          target->loc, target->name);
        node(L, id)->in[0] = x;
        node(L, id)->attr.slice.first = (int)(i * (cols / n));
        node(L, id)->attr.slice.cols = (int)(cols / n);
        sema_bind(L, target->name, tensor(id), target->loc);
    }
}

static void lower_assign(Lowering *L, const Ast *stmt)
{
    if (stmt->list.count > 1) {
        if (stmt->at)
            error_at(stmt->loc, "'at' names the checkpoint tensors of one module");
        lower_split(L, stmt);
        return;
    }
    const Ast *target = stmt->list.items[0], *rhs = stmt->rhs;
    int is_module = rhs->kind == AST_CALL && module_type(rhs->name) && !sema_lookup(L, rhs->name);
    if (is_module && !stmt->at)
        error_at(rhs->loc, "module %s needs its checkpoint name: %s = %s(...) at \"name\"",
                 rhs->name, target->name, rhs->name);
    if (is_module) {
        Ast at = {.kind = AST_STRING, .loc = stmt->loc, .name = stmt->at};
        Value v = {.kind = V_MODULE, .module = declare_module(L, target->name, rhs, &at)};
        sema_bind(L, target->name, v, target->loc);
        return;
    }
    if (stmt->at)
        error_at(stmt->loc, "'at' gives a module its checkpoint name, but the right side is not a "
                 "module such as Linear(...)");
    int first_new = L->g->count;
    Value v = lower_expr(L, rhs);
    if (v.kind == V_TENSOR && v.node >= first_new)
        name_node(L, v.node, target->name, 1);
    sema_bind(L, target->name, v, target->loc);
}

static void lower_param(Lowering *L, const Ast *stmt)
{
    Shape s = {0};
    if (stmt->list.count > 2)
        error_at(stmt->loc, "param '%s': tensors of more than 2 dimensions are not supported", stmt->name);
    for (int i = 0; i < stmt->list.count; i++)
        s.d[s.ndim++] = ir_const(positive_arg(L, stmt->list.items[i], "a dimension"));
    Ast at = {.kind = AST_STRING, .loc = stmt->loc, .name = stmt->at};
    int id = new_weight(L, sema_interpolate(L, &at, stmt->at), s, stmt->loc);
    sema_bind(L, stmt->name, tensor(id), stmt->loc);
}

static void lower_input(Lowering *L, const Ast *stmt)
{
    Graph *g = L->g;
    if (L->depth > 0)
        error_at(stmt->loc, "input '%s' inside repeat: inputs belong at the top level", stmt->name);
    if (g->ninputs == MAX_INPUTS)
        error_at(stmt->loc, "too many inputs (at most %d)", MAX_INPUTS);
    if (!stmt->rhs)
        error_at(stmt->loc, "input '%s' needs a longest length, as in %s[%s <= ctx]", stmt->name,
                 stmt->name, stmt->dim);
    int64_t max = positive_arg(L, stmt->rhs, "the longest length");
    int sym = 0;
    for (int i = 1; i < g->nsyms; i++)
        if (strcmp(g->syms[i].name, stmt->dim) == 0)
            sym = i;
    if (sym && g->syms[sym].max != max)
        error_at(stmt->rhs->loc, "length '%s' was bounded by %lld before, now by %lld", stmt->dim,
                 (long long)g->syms[sym].max, (long long)max);
    if (!sym) {
        sym = g->nsyms++;
        g->syms[sym] = (Sym){stmt->dim, max, 0};
    }
    if (stmt->lhs && strcmp(stmt->lhs->name, "padded") != 0)
        error_at(stmt->lhs->loc, "unknown input flag '%s' (the one flag is 'padded')", stmt->lhs->name);
    if (stmt->lhs)
        g->padded |= 1u << sym;
    int id = new_node(L, OP_INPUT, DT_I32, ir_shape1((Dim){sym, max}), stmt->loc, 0);
    name_node(L, id, stmt->name, 0);
    g->nodes[id].attr.input.index = g->ninputs;
    g->inputs[g->ninputs++] = id;
    sema_bind(L, stmt->name, tensor(id), stmt->loc);
}

static void lower_output(Lowering *L, const Ast *stmt)
{
    Graph *g = L->g;
    /* The line of the first output statement, not of its tensor's node:
     * output y = x names a node made wherever x was computed. */
    if (g->output >= 0)
        error_at(stmt->loc, "the model already has an output ('%s', line %d)", g->output_name,
                 L->output_at.line);
    if (L->depth > 0)
        error_at(stmt->loc, "output inside repeat: the output belongs at the top level");
    int first_new = g->count;
    int id = need_tensor(L, stmt->lhs, "the output");
    if (g->nodes[id].dtype != DT_F32 || g->nodes[id].op == OP_WEIGHT || g->nodes[id].op == OP_INPUT)
        error_at(stmt->lhs->loc, "the output must be computed from the inputs");
    if (id >= first_new)
        name_node(L, id, stmt->name, 0);
    g->output = id;
    g->output_name = stmt->name;
    L->output_at = stmt->loc;
}

/* Statements run, repeat iterations included: nested repeats multiply,
 * so this, not the file's size, bounds the time lowering takes. */
static void count_statement(Lowering *L, Loc loc)
{
    if (++L->statements > tfc_limits.statements)
        error_at(loc, "the model runs more than %lld statements once its repeats are unrolled",
                 (long long)tfc_limits.statements);
}

static void lower_repeat(Lowering *L, const Ast *stmt)
{
    int64_t n = sema_int(L, stmt->rhs, "the repeat count");
    if (n < 0 || n > tfc_limits.repeat_count)
        error_at(stmt->rhs->loc, "repeat count %lld is out of range (0 to %lld)", (long long)n,
                 (long long)tfc_limits.repeat_count);
    if (sema_lookup(L, stmt->name))
        error_at(stmt->loc, "repeat index '%s' hides an existing name", stmt->name);
    const char *outer = L->scope;
    for (int64_t i = 0; i < n; i++) {
        count_statement(L, stmt->loc);
        L->depth++;
        L->scope = tfc_format("%sl%lld_", outer ? outer : "", (long long)i);
        sema_bind(L, stmt->name, sema_number((double)i, 1), stmt->loc);
        lower_body(L, &stmt->list);
        L->depth--;
        sema_pop_scope(L);
    }
    L->scope = outer;
}

static void add_strings(const Ast *stmt, const char ***list, int *count)
{
    const char **grown = tfc_alloc((size_t)(*count + stmt->list.count) * sizeof *grown);
    if (*count)
        memcpy(grown, *list, (size_t)*count * sizeof *grown);
    for (int i = 0; i < stmt->list.count; i++)
        grown[(*count)++] = stmt->list.items[i]->name;
    *list = grown;
}

static void lower_stmt(Lowering *L, const Ast *s)
{
    count_statement(L, s->loc);
    switch (s->kind) {
    case AST_MODEL:
        if (L->g->model)
            error_at(s->loc, "the model is already named '%s'", L->g->model);
        L->g->model = s->name;
        break;
    case AST_CONFIG: sema_config(L, s); break;
    case AST_PREFIX: add_strings(s, &L->g->prefixes, &L->g->nprefixes); break;
    case AST_IGNORE: add_strings(s, &L->g->ignores, &L->g->nignores); break;
    case AST_INPUT: lower_input(L, s); break;
    case AST_ASSIGN: lower_assign(L, s); break;
    case AST_PARAM: lower_param(L, s); break;
    case AST_REPEAT: lower_repeat(L, s); break;
    case AST_OUTPUT: lower_output(L, s); break;
    default: tfc_bug("not a statement: kind %d", s->kind);
    }
}

static void lower_body(Lowering *L, const AstList *body)
{
    for (int i = 0; i < body->count; i++)
        lower_stmt(L, body->items[i]);
}

/* The model's name from its file when it has no `model` statement:
 * models/gpt2.model -> gpt2. */
static const char *name_from_path(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char buf[64];
    size_t len = 0;
    for (const char *p = base; *p && *p != '.' && len < sizeof buf - 2; p++)
        buf[len++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    buf[len] = '\0';
    return len && !isdigit((unsigned char)buf[0]) ? tfc_strdup(buf) : "model";
}

Graph *lower_program(const Program *prog, const Define *defs, int ndefs)
{
    Lowering L = {0};
    L.g = ir_new_graph();
    L.g->source = prog->src->name;
    L.g->source_text = prog->src->text;
    L.defs = defs;
    L.ndefs = ndefs;
    L.def_used = tfc_alloc((size_t)(ndefs + 1) * sizeof *L.def_used);
    lower_body(&L, &prog->stmts);
    sema_check_defines(&L);
    Loc end = {prog->src->name, 1, 1};
    if (L.g->ninputs == 0)
        error_at(end, "the model has no input; declare one, as in: input tokens[seq <= ctx]");
    if (L.g->output < 0)
        error_at(end, "the model has no output; end it with, for example: output logits = ...");
    if (!L.g->model)
        L.g->model = name_from_path(prog->src->name);
    return L.g;
}
