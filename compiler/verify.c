/*
 * verify.c - the graph's invariants, checked after lowering and after
 * every pass.  A failure here is a compiler bug, never the user's: the
 * front end has already given located errors for everything a model file
 * can get wrong.
 *
 *  - inputs refer to earlier, live nodes (the node list is a schedule);
 *  - each op has its arity and its shape rule (ops.h) holds;
 *  - dtypes: ids are i32, weights f32 or q8 (an int8 weight, read only by
 *    the linear layers and lookups that know it: matmul, stack, embedding),
 *    everything else f32;
 *  - live nodes have distinct names (C variables in generated code);
 *  - once planned, the memory plan (verify_plan.c).
 */
#include "strmap.h"
#include "tfc.h"

#include <stdarg.h>
#include <string.h>

typedef struct {
    const Graph *g;
    char *err;
    size_t errlen;
    int failed;
} Check;

static void fail(Check *c, int id, const char *fmt, ...)
{
    if (c->failed++)
        return;
    int n = snprintf(c->err, c->errlen, "node %%%d (%s): ", id, op_names[c->g->nodes[id].op]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static const Node *input(const Check *c, const Node *n, int i)
{
    return n->in[i] >= 0 ? &c->g->nodes[n->in[i]] : NULL;
}

static int is_matrix(const Node *n) { return n && n->shape.ndim == 2 && n->dtype == DT_F32; }
static int is_vector(const Node *n) { return n && n->shape.ndim == 1 && n->dtype == DT_F32; }
static int is_ids(const Node *n) { return n && n->shape.ndim == 1 && n->dtype == DT_I32; }
/* A stored or stacked weight matrix: f32, or int8 blocks (--quantize). */
static int is_weights(const Node *n)
{
    return n && n->shape.ndim == 2 && (n->dtype == DT_F32 || n->dtype == DT_Q8);
}
static Dim rows(const Node *n) { return n->shape.d[0]; }
static Dim cols(const Node *n) { return n->shape.d[n->shape.ndim - 1]; }

/* Inputs marked "?" in ops.h: a bias, a position-bias table. */
static int optional_input(Op op, int i)
{
    return (op == OP_MATMUL && i >= 2) || (op == OP_LAYERNORM && i == 2)
           || (op == OP_ATTENTION && i == 3) || (op == OP_CONCAT && i == 2);
}

static void check_links(Check *c, int id)
{
    const Node *n = &c->g->nodes[id];
    for (int i = 0; i < MAX_ARGS; i++) {
        int in = n->in[i];
        if (in >= id)
            fail(c, id, "input %d (%%%d) is not an earlier node", i, in);
        else if (in >= 0 && c->g->nodes[in].dead)
            fail(c, id, "input %d (%%%d) is dead", i, in);
        else if (in < 0 && i < op_arity[n->op] && !optional_input(n->op, i))
            fail(c, id, "input %d is missing", i);
        else if (in >= 0 && i >= op_arity[n->op])
            fail(c, id, "has %d inputs, the op takes %d", i + 1, op_arity[n->op]);
    }
}

/* The epilogue's column parts tile the product; rope parts hold whole
 * heads of even width; cache copies go to CACHE nodes marked as written
 * here, as wide as their part. */
static void check_parts(Check *c, int id, const Node *n, int64_t out)
{
    const int parts = n->attr.matmul.parts;
    int64_t sum = 0;
    for (int p = 0; p < parts; p++) {
        int64_t w = n->attr.matmul.part_cols[p];
        int h = n->attr.matmul.rope_heads[p], k = n->attr.matmul.cache[p];
        sum += w;
        if (w <= 0 || (h && (h < 0 || w % h || (w / h) % 2)))
            fail(c, id, "part %d: %lld columns, rope over %d heads", p, (long long)w, h);
        if (k && (k <= id || k >= c->g->count || c->g->nodes[k].op != OP_CACHE
                  || !c->g->nodes[k].attr.cache.fused || cols(&c->g->nodes[k]).n != w))
            fail(c, id, "part %d: %%%d is not a cache this epilogue writes", p, k);
    }
    if (parts < 0 || parts > MAX_PARTS || (parts && (sum != out || n->attr.matmul.glu)))
        fail(c, id, "%d parts of %lld columns do not tile %lld outputs", parts, (long long)sum,
             (long long)out);
}

static void check_matmul(Check *c, int id, const Node *n)
{
    const Node *x = input(c, n, 0), *w = input(c, n, 1), *b = input(c, n, 2);
    const Node *r = input(c, n, 3), *pos = input(c, n, 4);
    if (!is_matrix(x) || !is_weights(w) || !is_matrix(n) || (w->op != OP_WEIGHT && w->op != OP_CONCAT)) {
        fail(c, id, "operands must be f32 matrices, the weight a stored or stacked one");
        return;
    }
    Dim in = n->attr.matmul.layout ? rows(w) : cols(w);
    if (w->dtype == DT_Q8 && in.n % dtypes[DT_Q8].block)
        fail(c, id, "an int8 weight's input dimension %lld is not whole blocks of %d",
             (long long)in.n, dtypes[DT_Q8].block);
    Dim out = n->attr.matmul.layout ? cols(w) : rows(w);
    Dim y = cols(n);
    if (n->attr.matmul.glu)
        y.n *= 2;   /* the gate and the value, side by side */
    if (n->attr.matmul.tp == TP_GATHER && c->g->tp > 1)   /* --tp: this rank's vocabulary */
        y.n = (y.n + c->g->tp - 1) / c->g->tp;            /* rows, the last rank's padded */
    if (!ir_dim_equal(cols(x), in) || !ir_dim_equal(y, out) || !ir_dim_equal(rows(n), rows(x)))
        fail(c, id, "shapes %s . %s -> %s do not agree", ir_shape_str(c->g, x->shape),
             ir_shape_str(c->g, w->shape), ir_shape_str(c->g, n->shape));
    if (b && (!is_vector(b) || !ir_dim_equal(cols(b), out)))
        fail(c, id, "bias %s does not match %s outputs", ir_shape_str(c->g, b->shape),
             ir_dim_str(c->g, out));
    if (r && (r->dtype != DT_F32 || !ir_shape_equal(r->shape, n->shape)))
        fail(c, id, "residual %s is not shaped as the result", ir_shape_str(c->g, r->shape));
    int rope = 0;
    for (int p = 0; p < MAX_PARTS; p++)
        rope |= n->attr.matmul.rope_heads[p];
    if ((rope != 0) != (pos != NULL) || (pos && (!is_ids(pos) || !ir_dim_equal(rows(pos), rows(n)))))
        fail(c, id, "rope needs positions (n,), and positions need rope");
    if (n->attr.matmul.act < ACT_NONE || n->attr.matmul.act > ACT_TANH)
        fail(c, id, "unknown activation %d", n->attr.matmul.act);
    check_parts(c, id, n, out.n);
}

/* A stacked weight: stored tensors (or stacks) side by side along axis,
 * alike along the other. */
static void check_concat(Check *c, int id, const Node *n)
{
    int axis = n->attr.concat.axis;
    int64_t sum = 0;
    for (int i = 0; i < MAX_ARGS; i++) {
        const Node *x = input(c, n, i);
        if (!x)
            continue;
        if (x->op != OP_WEIGHT || x->dtype != n->dtype || x->shape.ndim != n->shape.ndim
            || axis < 0 || axis >= n->shape.ndim
            || (n->shape.ndim == 2 && !ir_dim_equal(x->shape.d[1 - axis], n->shape.d[1 - axis]))) {
            fail(c, id, "operand %d %s does not stack into %s", i, ir_shape_str(c->g, x->shape),
                 ir_shape_str(c->g, n->shape));
            return;
        }
        sum += x->shape.d[axis].n;
    }
    if (sum != n->shape.d[axis].n)
        fail(c, id, "operands add up to %lld, not %lld along axis %d", (long long)sum,
             (long long)n->shape.d[axis].n, axis);
}

static void check_attention(Check *c, int id, const Node *n)
{
    const Node *q = input(c, n, 0), *k = input(c, n, 1), *v = input(c, n, 2);
    if (!is_matrix(q) || !is_matrix(k) || !is_matrix(v)) {
        fail(c, id, "q, k, v must be f32 matrices");
        return;
    }
    int h = n->attr.attn.heads, kh = n->attr.attn.kv_heads;
    int64_t qc = cols(q).n, kc = cols(k).n;
    if (h <= 0 || kh <= 0 || h % kh || qc % h || kc != qc / h * kh || cols(v).n != kc)
        fail(c, id, "heads %d / kv_heads %d do not fit q %s, k %s, v %s", h, kh,
             ir_shape_str(c->g, q->shape), ir_shape_str(c->g, k->shape), ir_shape_str(c->g, v->shape));
    if (!ir_dim_equal(rows(k), rows(v)) || !ir_dim_equal(rows(n), rows(q)) || !ir_dim_equal(cols(n), cols(q)))
        fail(c, id, "row counts of q, k, v and the result do not agree");
    const Node *t = input(c, n, 3);
    if (t && (!is_matrix(t) || rows(t).sym || rows(t).n != n->attr.attn.buckets || cols(t).n != h
              || n->attr.attn.max_distance < 1))
        fail(c, id, "relative position table %s is not (buckets %d, heads %d)",
             ir_shape_str(c->g, t->shape), n->attr.attn.buckets, h);
}

/* Binary elementwise: same shape, or b a row vector broadcast over a. */
static void check_binary(Check *c, int id, const Node *n)
{
    const Node *a = input(c, n, 0), *b = input(c, n, 1);
    if (!a || !b || a->dtype != DT_F32 || b->dtype != DT_F32)
        fail(c, id, "operands must be f32");
    else if (!ir_shape_equal(a->shape, n->shape))
        fail(c, id, "result shape differs from the first operand");
    else if (!ir_shape_equal(a->shape, b->shape)
             && !(is_vector(b) && ir_dim_equal(cols(b), cols(a))))
        fail(c, id, "cannot combine %s with %s", ir_shape_str(c->g, a->shape), ir_shape_str(c->g, b->shape));
}

static void check_unary(Check *c, int id, const Node *n)
{
    const Node *x = input(c, n, 0);
    if (!x || x->dtype != DT_F32 || !ir_shape_equal(x->shape, n->shape))
        fail(c, id, "result must have the f32 operand's shape");
}

static void check_norm(Check *c, int id, const Node *n)
{
    check_unary(c, id, n);
    const Node *x = input(c, n, 0), *gm = input(c, n, 1), *b = input(c, n, 2);
    if (!is_matrix(x) || !is_vector(gm) || !ir_dim_equal(cols(gm), cols(x)) ||
        (b && (!is_vector(b) || !ir_dim_equal(cols(b), cols(x)))))
        fail(c, id, "gain/bias must be vectors as wide as the rows");
}

/* rope: x (n,H*d) with d even, positions (n,) -> (n,H*d). */
static void check_rope(Check *c, int id, const Node *n)
{
    check_unary(c, id, n);
    const Node *x = input(c, n, 0), *pos = input(c, n, 1);
    int h = n->attr.rope.heads;
    if (!is_matrix(x) || !is_ids(pos) || !ir_dim_equal(rows(pos), rows(x)) || h <= 0
        || cols(x).n % h || (cols(x).n / h) % 2)
        fail(c, id, "expects x (n,H*d), d even, and positions (n,)");
}

/* weights: named; a view lies inside its stored tensor. */
static void check_weight(Check *c, int id, const Node *n)
{
    if ((n->dtype != DT_F32 && n->dtype != DT_Q8) || !n->attr.weight.ckpt)
        fail(c, id, "weights are named f32 or q8 tensors");
    if (n->dtype == DT_Q8)
        for (int r = id + 1; r < c->g->count; r++) {
            const Node *u = &c->g->nodes[r];
            for (int i = 0; !u->dead && i < MAX_ARGS; i++)
                if (u->in[i] == id && !((u->op == OP_MATMUL && i == 1) || u->op == OP_CONCAT
                                        || (u->op == OP_EMBED && i == 0)))
                    fail(c, id, "an int8 weight read by %%%d (%s), which reads f32", r,
                         op_names[u->op]);
        }
    if (n->attr.weight.full.ndim && n->attr.weight.first + ir_max_elems(c->g, n->shape)
                                    > ir_max_elems(c->g, n->attr.weight.full))
        fail(c, id, "view beyond its stored tensor %s", ir_shape_str(c->g, n->attr.weight.full));
}

static void check_node(Check *c, int id)
{
    const Node *n = &c->g->nodes[id];
    check_links(c, id);
    if (c->failed)
        return;
    switch (n->op) {
    case OP_INPUT:
        if (!is_ids(n)) fail(c, id, "inputs are i32 vectors");
        break;
    case OP_WEIGHT: check_weight(c, id, n); break;
    case OP_ROPE: check_rope(c, id, n); break;
    case OP_FIRST: {
        const Node *x = input(c, n, 0);
        if (!is_matrix(x) || !is_matrix(n) || rows(n).sym || rows(n).n != 1 || !ir_dim_equal(cols(n), cols(x)))
            fail(c, id, "expects x (n,D) giving (1,D)");
        break;
    }
    case OP_POSITIONS:
        if (!is_ids(n) || !is_ids(input(c, n, 0)) || !ir_dim_equal(rows(n), rows(input(c, n, 0))))
            fail(c, id, "positions are as long as their ids");
        break;
    case OP_EMBED: {
        const Node *t = input(c, n, 0), *ids = input(c, n, 1);
        if (!is_weights(t) || !is_ids(ids) || !is_matrix(n) || !ir_dim_equal(rows(n), rows(ids))
            || !ir_dim_equal(cols(n), cols(t)))
            fail(c, id, "expects table (V,D) and ids (n,) giving (n,D)");
        break;
    }
    case OP_SINUSOIDAL:
        if (!is_ids(input(c, n, 0)) || !is_matrix(n) || cols(n).n % 2)
            fail(c, id, "expects positions (n,) giving (n,D), D even");
        break;
    case OP_MATMUL: check_matmul(c, id, n); break;
    case OP_CONCAT: check_concat(c, id, n); break;
    case OP_LAYERNORM:
    case OP_RMSNORM: check_norm(c, id, n); break;
    case OP_ATTENTION: check_attention(c, id, n); break;
    case OP_SLICE: {
        const Node *x = input(c, n, 0);
        if (!is_matrix(x) || n->attr.slice.first < 0 || n->attr.slice.cols <= 0
            || n->attr.slice.first + n->attr.slice.cols > cols(x).n || cols(n).n != n->attr.slice.cols)
            fail(c, id, "column range outside the operand");
        else if (n->attr.slice.view && (id == c->g->output || x->op == OP_WEIGHT))
            fail(c, id, "a view must be of a computed value, and not the output");
        break;
    }
    case OP_ADD:
    case OP_MUL: check_binary(c, id, n); break;
    case OP_CACHE: {
        const Node *x = input(c, n, 0);
        Dim r = rows(n);
        if (!is_matrix(x) || !is_matrix(n) || !ir_dim_equal(cols(x), cols(n)) || !r.sym
            || c->g->syms[r.sym].past != rows(x).sym
            || (n->attr.cache.fused && (x->op != OP_SLICE || c->g->nodes[x->in[0]].op != OP_MATMUL)))
            fail(c, id, "caches rows of a sequence as (pos+n, cols)");
        break;
    }
    default: check_unary(c, id, n); break;
    }
}

/* Live nodes have names, and no two the same: the emitter declares one C
 * variable per node under its name. */
static void check_names(Check *c)
{
    StrMap seen = {0};
    for (int i = 0; i < c->g->count && !c->failed; i++) {
        const Node *n = &c->g->nodes[i];
        if (n->dead)
            continue;
        int other = n->name ? strmap_get(&seen, n->name, -1) : -1;
        if (!n->name)
            fail(c, i, "has no name");
        else if (other >= 0)
            fail(c, i, "has the name '%s' of %%%d", n->name, other);
        else
            strmap_put(&seen, n->name, i);
    }
}

int ir_verify(const Graph *g, char *err, size_t errlen)
{
    Check c = {g, err, errlen, 0};
    for (int i = 0; i < g->count && !c.failed; i++)
        if (!g->nodes[i].dead)
            check_node(&c, i);
    if (!c.failed)
        check_names(&c);
    if (!c.failed && (g->output < 0 || g->output >= g->count || g->nodes[g->output].dead))
        snprintf(err, errlen, "the graph has no live output"), c.failed = 1;
    if (!c.failed && g->plan)
        c.failed = plan_verify(g, err, errlen);
    return c.failed != 0;
}
