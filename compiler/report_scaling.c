/*
 * report_scaling.c - closed-form formulas for how a model's cost scales,
 * read off the model itself, and their charts.
 *
 * Every quantity is a sum over the graph's nodes: a weight's elements, a
 * node's FLOPs (plan_node_flops), a cache's bytes per token, a buffer's
 * bytes.  Each node's term is a monomial in the configuration values it
 * depends on, c * dim^a * heads^b * kv_heads^c * ffn^d * d_kv^e, times a
 * polynomial in the sequence length S of degree at most 2 (rows: S;
 * attention pairs: S^2 or S(S+1)/2).  The exponents are found by
 * compiling the model again with each value doubled (or halved when
 * doubling is not a valid model) and comparing each node's term: a ratio
 * of 2^e gives exponent e, any other ratio means the term is not a
 * monomial and the formula is not given.  The S polynomial comes from the
 * node's count at S = 1, 2, 3.  A node of a `repeat` block (l<i>_...)
 * counts layers / layers-of-the-model times, so the formulas are
 * A + layers * B.
 *
 * The arena's formula is its lower bound: the most bytes live at one step
 * (the planner's arena is within 2% of it, tests/plan); live ranges are
 * the model's plan's.  The training estimate adds to the weights their
 * gradients and Adam's two moments (16 bytes a parameter in float32) and
 * the activations backward reads: every intermediate of the forward pass
 * (nothing reused, no recomputation) and each attention's probabilities,
 * heads x S x S.
 *
 * tests/report/check_scaling.py compiles the model at every point of the
 * charts and compares the formulas with the plans.
 */
#include "report.h"

#include <math.h>
#include <string.h>

enum { R_DIM, R_HEADS, R_KV_HEADS, R_FFN, R_D_KV, R_COUNT };
static const char *const role_names[R_COUNT] = {"dim", "heads", "kv_heads", "ffn", "d_kv"};

/* A node's terms: [0] parameters, [1..3] FLOPs as a*S^2 + b*S + c,
 * [4] KV bytes per token, [5..6] arena bytes as a*S + c (a root buffer),
 * [7..8] kept activation bytes as a*S + c, [9] attention heads (their
 * probabilities, heads*S^2, are kept for backward). */
enum { Q_PARAMS, Q_F2, Q_F1, Q_F0, Q_KV, Q_A1, Q_A0, Q_K1, Q_K0, Q_HEADS, Q_COUNT };

/* A term may be a sum: a node's FLOPs of each kind (plan_node_flops),
 * a fused matmul's buffer of each part; each piece is a monomial. */
#define NSUB (PLAN_FLOP_KINDS * MAX_PARTS)

typedef struct {
    double c[Q_COUNT][NSUB];
    signed char e[Q_COUNT][NSUB][R_COUNT];
} Terms;

typedef struct {
    const Graph *g;
    double role[R_COUNT];        /* the model's values; 0: no such config */
    int layers;                  /* the model's blocks (0: no `repeat`) */
    Terms *t;                    /* per node of g */
    int *block;                  /* per node: in a repeat block */
    const char *failed;          /* why there is no formula, or NULL */
} Scaling;

/* The value of config `name`, 0 when the model has none (or not an integer). */
static double config(const Graph *g, const char *name)
{
    for (int i = 0; i < g->nconfig; i++)
        if (strcmp(g->config_names[i], name) == 0 && g->config_is_int[i])
            return g->config_values[i];
    return 0;
}

static int block_index(const char *s)
{
    if (s[0] != 'l' || s[1] < '0' || s[1] > '9')
        return -1;
    int i = 0;
    for (s++; *s >= '0' && *s <= '9'; s++)
        i = i * 10 + (*s - '0');
    return *s == '_' ? i : -1;
}

/* Whether weight `name` (its checkpoint name), of block b, has a
 * counterpart in another block: the first number in it that is b,
 * changed to the other block's index. */
static int repeated_name(const Graph *g, const char *name, int b, int other)
{
    for (const char *p = name; *p; p++) {
        if (*p < '0' || *p > '9' || (p > name && p[-1] >= '0' && p[-1] <= '9'))
            continue;
        const char *e = p;
        int v = 0;
        for (; *e >= '0' && *e <= '9'; e++)
            v = v * 10 + (*e - '0');
        if (v != b)
            continue;
        const char *twin = tfc_format("%.*s%d%s", (int)(p - name), name, other, e);
        for (int i = 0; i < g->count; i++) {
            const Node *n = &g->nodes[i];
            if (!n->dead && n->op == OP_WEIGHT && strcmp(n->attr.weight.ckpt, twin) == 0)
                return 1;
        }
        return 0;
    }
    return 0;
}

/* A weight belongs to the block of its first reader. */
static int node_block(const Graph *g, int id)
{
    if (g->nodes[id].op != OP_WEIGHT && g->nodes[id].op != OP_CONCAT)
        return block_index(g->nodes[id].name);
    for (int i = id + 1; i < g->count; i++)
        for (int j = 0; !g->nodes[i].dead && j < MAX_ARGS; j++)
            if (g->nodes[i].in[j] == id)
                return node_block(g, i);
    return -1;
}

static void all_lengths(const Graph *g, int64_t s, int64_t *len)
{
    for (int k = 1; k < g->nsyms; k++)
        len[k] = s;
}

/* Node i's terms at the model's values (exponents not yet known). */
static void node_terms(const Graph *g, int i, double q[Q_COUNT][NSUB])
{
    const Node *n = &g->nodes[i];
    int64_t len[MAX_INPUTS + 2], f[3][PLAN_FLOP_KINDS];
    memset(q, 0, Q_COUNT * sizeof *q);
    if (n->dead)
        return;
    if (n->op == OP_WEIGHT)
        q[Q_PARAMS][0] = (double)ir_max_elems(g, n->shape);
    for (int s = 1; s <= 3; s++) {
        all_lengths(g, s, len);
        plan_node_flops(g, len, i, f[s - 1]);
    }
    int parts = n->op == OP_MATMUL && n->attr.matmul.parts > 1 ? n->attr.matmul.parts : 1;
    for (int j = 0; j < PLAN_FLOP_KINDS; j++)
        for (int p = 0; p < parts; p++) {
            /* a fused matmul's work, part by part: in proportion to its
             * columns (the rope's kinds are one part each already) */
            double share = parts > 1 && j < 3 ? n->attr.matmul.part_cols[p] / (double)n->shape.d[1].n
                                              : p == 0;
            double y1 = f[0][j] * share, y2 = f[1][j] * share, y3 = f[2][j] * share;
            int u = j * MAX_PARTS + p;
            q[Q_F2][u] = (y3 - 2 * y2 + y1) / 2;
            q[Q_F1][u] = y2 - y1 - 3 * q[Q_F2][u];
            q[Q_F0][u] = y1 - q[Q_F2][u] - q[Q_F1][u];
        }
    if (n->op == OP_CACHE)
        q[Q_KV][0] = (double)n->shape.d[1].n * 4;
    if (n->op == OP_ATTENTION)
        q[Q_HEADS][0] = n->attr.attn.heads;
    if (!g->plan->bytes[i])
        return;
    int per_row = n->shape.d[0].sym != 0;
    double bytes = per_row ? (double)plan_row_bytes(g, i) : (double)g->plan->bytes[i];
    for (int p = 0; p < parts; p++) {
        /* a fused matmul's row: its parts side by side */
        double share = parts > 1 ? bytes * n->attr.matmul.part_cols[p] / (double)n->shape.d[1].n : bytes;
        q[per_row ? Q_K1 : Q_K0][p] = share;
        if (g->plan->alias[i] < 0)
            q[per_row ? Q_A1 : Q_A0][p] = share;
    }
}

/* The model compiled with config `name` set to value, or NULL when that
 * is not a valid model. */
typedef struct {
    const ReportSource *src;
    const char *name;
    double value;
    Graph *g;
} Variant;

static void compile_variant(void *arg)
{
    Variant *v = arg;
    const ReportSource *src = v->src;
    Define *defs = tfc_alloc((size_t)(src->ndefs + 1) * sizeof *defs);
    int n = 0;
    for (int i = 0; i < src->ndefs; i++)
        if (strcmp(src->defs[i].name, v->name) != 0 || src->defs[i].from)
            defs[n++] = src->defs[i];
    defs[n++] = (Define){v->name, tfc_format("%.0f", v->value), NULL};
    v->g = pipeline_run(lower_program(src->prog, defs, n), &src->passes, NULL, NULL);
}

static Graph *variant(const ReportSource *src, const char *name, double value)
{
    Variant v = {src, name, value, NULL};
    diag_set_quiet(1);
    int failed = diag_try(compile_variant, &v);
    diag_set_quiet(0);
    return failed ? NULL : v.g;
}

static int node_named(const Graph *g, const char *name)
{
    for (int i = 0; i < g->count; i++)
        if (!g->nodes[i].dead && strcmp(g->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* Exponent of role r in each term of each node, from the variant h
 * where r is `factor` times the model's value. */
static void exponents(Scaling *sc, int r, const Graph *h, double factor)
{
    const Graph *g = sc->g;
    for (int i = 0; i < g->count && !sc->failed; i++) {
        if (g->nodes[i].dead)
            continue;
        int j = node_named(h, g->nodes[i].name);
        double q[Q_COUNT][NSUB], p[Q_COUNT][NSUB];
        node_terms(g, i, q);
        if (j < 0) {
            sc->failed = tfc_format("node %s is gone when %s changes", g->nodes[i].name, role_names[r]);
            return;
        }
        node_terms(h, j, p);
        for (int k = 0; k < Q_COUNT; k++)
            for (int u = 0; u < NSUB; u++) {
                if (q[k][u] == 0 && p[k][u] == 0)
                    continue;
                double e = q[k][u] != 0 && p[k][u] != 0 ? log(p[k][u] / q[k][u]) / log(factor) : NAN;
                if (!isfinite(e) || fabs(e - round(e)) > 1e-9 || fabs(e) > 3) {
                    sc->failed = tfc_format("%s of node %s is not a power of %s",
                                            k == Q_PARAMS ? "the size" : "a term", g->nodes[i].name,
                                            role_names[r]);
                    return;
                }
                sc->t[i].e[k][u][r] = (signed char)round(e);
            }
    }
}

static void analyse(Scaling *sc, const Graph *g, const ReportSource *src)
{
    memset(sc, 0, sizeof *sc);
    sc->g = g;
    sc->t = tfc_alloc((size_t)g->count * sizeof *sc->t);
    sc->block = tfc_alloc((size_t)g->count * sizeof *sc->block);
    for (int r = 0; r < R_COUNT; r++)
        sc->role[r] = config(g, role_names[r]);
    for (int i = 0; i < g->count; i++) {
        sc->block[i] = node_block(g, i);
        if (sc->block[i] + 1 > sc->layers)
            sc->layers = sc->block[i] + 1;
        node_terms(g, i, sc->t[i].c);
    }
    /* what one block has and the others do not (T5's relative position
     * table, in block 0 only) is counted once, not per layer */
    for (int i = 0; i < g->count && sc->layers > 1; i++) {
        const Node *n = &g->nodes[i];
        int b = sc->block[i], other = b == 0 ? 1 : 0;
        if (b >= 0 && !n->dead && n->op == OP_WEIGHT && !repeated_name(g, n->attr.weight.ckpt, b, other))
            sc->block[i] = -1;
    }
    if (sc->layers && config(g, "layers") != sc->layers)
        sc->failed = "the blocks a repeat made are not counted by a config named layers";
    for (int r = 0; r < R_COUNT && !sc->failed; r++) {
        if (!sc->role[r])
            continue;
        double factor = 2;
        Graph *h = variant(src, role_names[r], sc->role[r] * 2);
        if (!h && (long long)sc->role[r] % 2 == 0)
            h = variant(src, role_names[r], sc->role[r] / 2), factor = 0.5;
        if (!h) {
            sc->role[r] = 0;      /* no valid neighbour: held fixed */
            continue;
        }
        exponents(sc, r, h, factor);
    }
    /* constants: the term at the model's values over its monomial */
    for (int i = 0; i < g->count; i++)
        for (int k = 0; k < Q_COUNT; k++)
            for (int u = 0; u < NSUB; u++)
                for (int r = 0; r < R_COUNT; r++)
                    if (sc->t[i].e[k][u][r])
                        sc->t[i].c[k][u] /= pow(sc->role[r], sc->t[i].e[k][u][r]);
}

/* A point: layers, the roles, S. */
typedef struct {
    double layers, role[R_COUNT], s;
} Point;

/* Node i's term k at p, as one block's node (no layer count). */
static double raw_term(const Scaling *sc, int i, int k, const Point *p)
{
    double v = 0;
    for (int u = 0; u < NSUB; u++) {
        double x = sc->t[i].c[k][u];
        for (int r = 0; r < R_COUNT && x != 0; r++)
            if (sc->t[i].e[k][u][r])
                x *= pow(p->role[r], sc->t[i].e[k][u][r]);
        v += x;
    }
    return v;
}

/* The same, for the whole model: a block's node stands for
 * layers / (the model's layers) nodes. */
static double term(const Scaling *sc, int i, int k, const Point *p)
{
    double v = raw_term(sc, i, k, p);
    return sc->block[i] >= 0 ? v * p->layers / sc->layers : v;
}

typedef struct {
    double params, flops, kv, arena, train;
} Costs;

static double align64(double b) { return ceil(b / PLAN_ALIGN) * PLAN_ALIGN; }

/* The lower bound at p: the most bytes live at one step, with the
 * model's live ranges (a chain in place counted once, at its root).  A
 * block's buffers are live in their own block's steps, so they count
 * once; the encoder's values kept for the decoder (one per layer) are all
 * live at once, so they count per layer. */
static double arena_at(const Scaling *sc, const Point *p)
{
    const Graph *g = sc->g;
    const Plan *pl = g->plan;
    double best = 0;
    for (int t = 0; t < g->count; t++) {
        double live = 0;
        for (int i = 0; i < g->count; i++) {
            if (!pl->bytes[i] || pl->alias[i] >= 0 || pl->first[i] > t || pl->free_at[i] < t)
                continue;
            double b = align64(raw_term(sc, i, Q_A1, p) * p->s + raw_term(sc, i, Q_A0, p));
            live += sc->block[i] >= 0 && g->nodes[i].persist ? b * p->layers / sc->layers : b;
        }
        best = live > best ? live : best;
    }
    return best;
}

static Costs costs_at(const Scaling *sc, const Point *p)
{
    Costs c = {0};
    double s = p->s;
    for (int i = 0; i < sc->g->count; i++) {
        c.params += term(sc, i, Q_PARAMS, p);
        c.flops += term(sc, i, Q_F2, p) * s * s + term(sc, i, Q_F1, p) * s + term(sc, i, Q_F0, p);
        c.kv += term(sc, i, Q_KV, p) * s;
        c.train += term(sc, i, Q_K1, p) * s + term(sc, i, Q_K0, p) + term(sc, i, Q_HEADS, p) * s * s * 4;
    }
    c.arena = arena_at(sc, p);
    c.train += 16 * c.params;
    return c;
}

/* ---- the formulas as text ---------------------------------------------- */

/* Terms k of the nodes in or out of the blocks, summed by monomial. */
typedef struct {
    double c[64];
    signed char e[64][R_COUNT];
    int n;
} Sum;

static void sum_add(Sum *sum, double c, const signed char *e)
{
    for (int i = 0; i < sum->n; i++)
        if (memcmp(sum->e[i], e, R_COUNT) == 0) {
            sum->c[i] += c;
            return;
        }
    if (sum->n == 64)
        tfc_bug("more than 64 monomials");
    sum->c[sum->n] = c;
    memcpy(sum->e[sum->n++], e, R_COUNT);
}

static const char *monomial(double c, const signed char *e)
{
    static const char *const sup[] = {"", "", "\xc2\xb2", "\xc2\xb3"};
    const char *num = "", *den = "";
    for (int r = 0; r < R_COUNT; r++) {
        int x = e[r] < 0 ? -e[r] : e[r];
        if (!x)
            continue;
        const char *f = tfc_format("%s%s", role_names[r], sup[x]);
        if (e[r] > 0)
            num = tfc_format("%s%s%s", num, *num ? "\xc2\xb7" : "", f);
        else
            den = tfc_format("%s/%s", den, f);
    }
    const char *cs = fabs(c - round(c)) < 1e-6 ? tfc_format("%.0f", round(c)) : tfc_format("%.4g", c);
    if (!*num)
        return tfc_format("%s%s", cs, den);
    if (fabs(c - 1) < 1e-9)
        return tfc_format("%s%s", num, den);
    return tfc_format("%s\xc2\xb7%s%s", cs, num, den);
}

static const char *sum_str(const Sum *sum)
{
    const char *s = "";
    for (int i = 0; i < sum->n; i++)
        if (fabs(sum->c[i]) > 1e-9)
            s = tfc_format("%s%s%s", s, *s ? " + " : "", monomial(sum->c[i], sum->e[i]));
    return *s ? s : "0";
}

/* "A + layers\xc2\xb7(B)" for term k. */
static const char *formula(const Scaling *sc, int k)
{
    Sum out = {0}, in = {0};
    for (int i = 0; i < sc->g->count; i++)
        for (int u = 0; u < NSUB; u++)
            if (sc->t[i].c[k][u] != 0)
                sum_add(sc->block[i] >= 0 ? &in : &out,
                        sc->block[i] >= 0 ? sc->t[i].c[k][u] / sc->layers : sc->t[i].c[k][u],
                        sc->t[i].e[k][u]);
    if (!in.n)
        return sum_str(&out);
    const char *b = tfc_format("layers\xc2\xb7(%s)", sum_str(&in));
    return out.n ? tfc_format("%s + %s", sum_str(&out), b) : b;
}

static void formulas(const Scaling *sc, FILE *out)
{
    fprintf(out, "<table><tr><th>quantity</th><th>closed form (S: tokens of every input)</th></tr>\n");
    fprintf(out, "<tr><td>parameters</td><td><code>%s</code></td></tr>\n",
            report_escape(formula(sc, Q_PARAMS)));
    fprintf(out, "<tr><td>FLOPs of a prompt of S tokens</td><td><code>S\xc2\xb2\xc2\xb7[%s] + "
                 "S\xc2\xb7[%s] + [%s]</code> (per token: divide by S)</td></tr>\n",
            report_escape(formula(sc, Q_F2)), report_escape(formula(sc, Q_F1)),
            report_escape(formula(sc, Q_F0)));
    fprintf(out, "<tr><td>KV-cache bytes for S tokens</td><td><code>S\xc2\xb7[%s]</code></td></tr>\n",
            report_escape(formula(sc, Q_KV)));
    fprintf(out, "<tr><td>arena bytes (its lower bound)</td><td>the most bytes live at one step: "
                 "at each step of the schedule, the sum over live buffers of align64(S\xc2\xb7row) "
                 "(+ fixed buffers), each row bytes a term of <code>%s</code>, with the model's live "
                 "ranges (at another depth the schedule's ends may reuse a little differently: "
                 "within 1%%); the planner's arena is within 2%% of the bound</td></tr>\n", report_escape(formula(sc, Q_A1)));
    fprintf(out, "<tr><td>training memory (Adam, float32, batch 1)</td><td><code>16\xc2\xb7parameters "
                 "+ S\xc2\xb7[%s] + [%s] + 4\xc2\xb7S\xc2\xb2\xc2\xb7[%s]</code>: weights, gradients "
                 "and two Adam moments (4 bytes each a parameter), every intermediate of the forward "
                 "pass kept for backward (no recomputation), and each attention's probabilities "
                 "(heads \xc3\x97 S \xc3\x97 S)</td></tr>\n", report_escape(formula(sc, Q_K1)),
            report_escape(formula(sc, Q_K0)), report_escape(formula(sc, Q_HEADS)));
    fprintf(out, "</table>\n");
}

/* ---- charts -------------------------------------------------------------- */

static const char *count_str(double v)
{
    if (v >= 1e12)
        return tfc_format("%.1f T", v / 1e12);
    if (v >= 1e9)
        return tfc_format("%.1f G", v / 1e9);
    if (v >= 1e6)
        return tfc_format("%.1f M", v / 1e6);
    if (v >= 1e3)
        return tfc_format("%.1f k", v / 1e3);
    return tfc_format("%.0f", v);
}

static const char *whole(double v)
{
    char digits[40], out[60];
    int n = snprintf(digits, sizeof digits, "%.0f", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return tfc_strdup(out);
}

/* The values of `var` around the model's: a quarter to four times it. */
static int points(const Scaling *sc, const ReportSource *src, int var, Point base, Point *pts)
{
    static const double mult[] = {0.25, 0.5, 1, 2, 4};
    double v0 = var < 0 ? base.layers : var < R_COUNT ? base.role[var] : base.s;
    int n = 0;
    for (int k = 0; k < 5; k++) {
        double v = floor(v0 * mult[k]);
        if (v < 1 || (n && v == (var < 0 ? pts[n - 1].layers : var < R_COUNT ? pts[n - 1].role[var]
                                                                            : pts[n - 1].s)))
            continue;
        if (var == R_COUNT && v > base.s)
            continue;
        Point p = base;
        if (var < 0)
            p.layers = v;
        else if (var < R_COUNT)
            p.role[var] = v;
        else
            p.s = v;
        /* widths must divide as the model requires: compiled to be sure */
        if (v != v0 && (var == R_DIM || var == R_HEADS) && !variant(src, role_names[var], v))
            continue;
        (void)sc;
        pts[n++] = p;
    }
    return n;
}

static void chart(const Scaling *sc, const ReportSource *src, int var, Point base, FILE *out)
{
    const char *name = var < 0 ? "layers" : var < R_COUNT ? role_names[var] : "seq";
    Point pts[5];
    int n = points(sc, src, var, base, pts);
    double xs[5], y[4][5], v0 = var < 0 ? base.layers : var < R_COUNT ? base.role[var] : base.s;
    Costs c[5];
    for (int i = 0; i < n; i++) {
        c[i] = costs_at(sc, &pts[i]);
        xs[i] = var < 0 ? pts[i].layers : var < R_COUNT ? pts[i].role[var] : pts[i].s;
        y[0][i] = c[i].params;
        y[1][i] = c[i].flops / pts[i].s;
        y[2][i] = c[i].kv;
        y[3][i] = c[i].arena;
    }
    ReportSeries series[] = {{"parameters", "#1f77b4", y[0]}, {"FLOPs per token", "#d62728", y[1]},
                             {"KV-cache bytes", "#a08000", y[2]}, {"arena bytes", "#2ca02c", y[3]}};
    fprintf(out, "<div class='scaling'><h3>Scaling: %s</h3>\n", name);
    report_line_chart(out, tfc_format("as %s varies", name), var == R_COUNT ? "seq (tokens)" : name, xs,
                      n, v0, series, 4, count_str);
    fprintf(out, "<table><tr><th>%s</th><th>parameters</th><th>FLOPs, prompt of "
                 "S tokens</th><th>S</th><th>KV-cache bytes</th><th>arena bytes (lower bound)</th>"
                 "<th>training bytes</th></tr>\n", name);
    for (int i = 0; i < n; i++)
        fprintf(out, "<tr><td class='n'>%.0f%s</td><td class='n'>%s</td><td class='n'>%s</td>"
                     "<td class='n'>%.0f</td><td class='n'>%s</td><td class='n'>%s</td>"
                     "<td class='n'>%s</td></tr>\n", xs[i], xs[i] == v0 ? " (model)" : "",
                     whole(c[i].params), whole(c[i].flops), pts[i].s, whole(c[i].kv),
                     whole(c[i].arena), whole(c[i].train));
    fprintf(out, "</table></div>\n");
}

void report_scaling(const Graph *g, const ReportSource *src, FILE *out)
{
    Scaling sc;
    analyse(&sc, g, src);
    fprintf(out, "<h2 id='scaling'>Scaling</h2>\n");
    if (sc.failed) {
        fprintf(out, "<p>No closed form for this model: %s.</p>\n", report_escape(sc.failed));
        return;
    }
    Point base = {sc.layers ? sc.layers : 1, {0}, 1};
    memcpy(base.role, sc.role, sizeof base.role);
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past && g->syms[s].max > base.s)
            base.s = (double)g->syms[s].max;
    fprintf(out, "<p>Each quantity is a sum over the graph's nodes; each node's share is a power "
                 "product of the configuration values, found by compiling the model again with each "
                 "value doubled. A node of a <code>repeat</code> block counts once per layer. "
                 "<code>tests/report</code> compiles the model at every point below and compares.</p>\n");
    formulas(&sc, out);
    fprintf(out, "<p class='note'>Charts: one value varies, the others stay the model's (S = %.0f); "
                 "the red line is the model. Values that do not make a valid model (heads must "
                 "divide dim) are left out.</p>\n", base.s);
    if (sc.layers)
        chart(&sc, src, -1, base, out);
    for (int r = 0; r < R_COUNT; r++)
        if (sc.role[r] && r != R_KV_HEADS && r != R_D_KV)
            chart(&sc, src, r, base, out);
    chart(&sc, src, R_COUNT, base, out);
}
