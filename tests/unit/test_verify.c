/*
 * test_verify.c - the graph verifier catches broken graphs, and the
 * planner's arena never places two buffers live at the same step on the
 * same bytes (checked here independently of plan.c).
 */
#include <string.h>

#include <CUnit/CUnit.h>

#include "tests.h"
#include "tfc.h"

/* x (n,8) -> layernorm -> matmul W (8,4) -> (n,4) */
static Graph *small_graph(void)
{
    Graph *g = ir_new_graph();
    g->syms[1] = (Sym){"n", 16, 0};
    g->nsyms = 2;
    Loc loc = {"t", 1, 1};
    Dim n = {1, 16};
    int ids = ir_add(g, OP_INPUT, DT_I32, ir_shape1(n), loc);
    int table = ir_add(g, OP_WEIGHT, DT_F32, ir_shape2(ir_const(10), ir_const(8)), loc);
    g->nodes[table].attr.weight.ckpt = "e";
    int e = ir_add(g, OP_EMBED, DT_F32, ir_shape2(n, ir_const(8)), loc);
    g->nodes[e].in[0] = table;
    g->nodes[e].in[1] = ids;
    int gain = ir_add(g, OP_WEIGHT, DT_F32, ir_shape1(ir_const(8)), loc);
    g->nodes[gain].attr.weight.ckpt = "g";
    int ln = ir_add(g, OP_RMSNORM, DT_F32, ir_shape2(n, ir_const(8)), loc);
    g->nodes[ln].in[0] = e;
    g->nodes[ln].in[1] = gain;
    int w = ir_add(g, OP_WEIGHT, DT_F32, ir_shape2(ir_const(8), ir_const(4)), loc);
    g->nodes[w].attr.weight.ckpt = "w";
    int mm = ir_add(g, OP_MATMUL, DT_F32, ir_shape2(n, ir_const(4)), loc);
    g->nodes[mm].in[0] = ln;
    g->nodes[mm].in[1] = w;
    g->nodes[mm].attr.matmul.layout = 1;
    int act = ir_add(g, OP_RELU, DT_F32, ir_shape2(n, ir_const(4)), loc);
    g->nodes[act].in[0] = mm;
    g->output = act;
    g->inputs[0] = ids;
    g->ninputs = 1;
    for (int i = 0; i < g->count; i++)
        g->nodes[i].name = tfc_format("v%d", i);
    return g;
}

static void expect_invalid(Graph *g, const char *fragment)
{
    char err[512] = "";
    CU_ASSERT_EQUAL(ir_verify(g, err, sizeof err), 1);
    if (!strstr(err, fragment)) {
        fprintf(stderr, "\n  expected '%s' in '%s'\n", fragment, err);
        CU_FAIL("wrong verifier message");
    }
}

static void test_valid(void)
{
    char err[256];
    Graph *g = small_graph();
    CU_ASSERT_EQUAL(ir_verify(g, err, sizeof err), 0);
}

static void test_broken(void)
{
    Graph *g = small_graph();
    g->nodes[6].shape.d[1] = ir_const(5);       /* matmul result too wide */
    expect_invalid(g, "do not agree");

    g = small_graph();
    g->nodes[4].in[0] = 6;                      /* reads a later node */
    expect_invalid(g, "not an earlier node");

    g = small_graph();
    g->nodes[6].in[1] = -1;                     /* matmul without weight */
    expect_invalid(g, "input 1 is missing");

    g = small_graph();
    g->nodes[2].dead = 1;                       /* embed removed, still read */
    expect_invalid(g, "is dead");

    g = small_graph();
    g->nodes[0].dtype = DT_F32;                 /* ids must be i32 */
    expect_invalid(g, "inputs are i32");

    g = small_graph();
    g->output = -1;
    expect_invalid(g, "no live output");
}

/* Independent of plan.c: for every pair of buffers live at one step,
 * their byte ranges are disjoint, and all lie inside the arena. */
static void test_plan_no_overlap(void)
{
    Graph *g = lower_program(parse_file("models/gpt2.model"),
                             (Define[]){{"layers", "3", NULL}, {"dim", "64", NULL}, {"heads", "4", NULL}, {"vocab", "100", NULL}, {"ctx", "32", NULL}}, 5);
    pass_dce(g);
    pass_plan(g);
    int first[4096], last[4096];
    CU_ASSERT_FATAL(g->count < 4096);
    for (int i = 0; i < g->count; i++)
        first[i] = last[i] = i;
    for (int i = 0; i < g->count; i++)
        for (int j = 0; j < MAX_ARGS; j++)
            if (!g->nodes[i].dead && g->nodes[i].in[j] >= 0)
                last[g->nodes[i].in[j]] = i;
    int checked = 0;
    for (int a = 0; a < g->count; a++) {
        const Node *x = &g->nodes[a];
        if (x->dead || x->op == OP_WEIGHT || x->op == OP_INPUT || a == g->output)
            continue;
        int64_t xs = ir_max_elems(g, x->shape) * 4;
        CU_ASSERT(x->offset >= 0 && x->offset + xs <= g->arena_bytes);
        for (int b = a + 1; b < g->count; b++) {
            const Node *y = &g->nodes[b];
            if (y->dead || y->op == OP_WEIGHT || y->op == OP_INPUT || b == g->output)
                continue;
            if (!(first[a] <= last[b] && first[b] <= last[a]))
                continue;
            /* in place: y is x's last reader and an op that may write
             * over its input, so x dies as y is born in the same slot */
            if (last[a] == b && y->offset == x->offset && (op_flags[y->op] & OPF_INPLACE)
                && ir_shape_equal(x->shape, y->shape))
                continue;
            int64_t ys = ir_max_elems(g, y->shape) * 4;
            CU_ASSERT(x->offset + xs <= y->offset || y->offset + ys <= x->offset);
            checked++;
        }
    }
    CU_ASSERT(checked > 10);
}

static Graph *planned_gpt(int cached)
{
    Graph *g = lower_program(parse_file("models/gpt2.model"),
                             (Define[]){{"layers", "2", NULL}, {"dim", "64", NULL}, {"heads", "4", NULL}, {"vocab", "100", NULL}, {"ctx", "32", NULL}}, 5);
    pass_dce(g);
    pass_partition(g);
    if (cached)
        pass_kv_cache(g);
    pass_plan(g);
    pass_plan_step(g);
    return g;
}

/* Two arena buffers live at one step (x's writer and its first reader),
 * not in place: a and b with a < b, a's last read at or after b. */
static void live_pair(const Graph *g, int *a, int *b)
{
    *a = *b = -1;
    for (int i = 0; i < g->count && *a < 0; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || !g->plan->bytes[i] || n->op != OP_MATMUL)
            continue;
        for (int j = i + 1; j < g->count; j++)
            if (!g->nodes[j].dead && g->plan->bytes[j] && g->plan->alias[j] != i
                && g->plan->first[j] <= g->plan->last[i]) {
                *a = i;
                *b = j;
                break;
            }
    }
}

/* The plan checker (verify_plan.c) passes real plans, in place writes
 * included, and catches each way a plan can be wrong. */
static void test_plan_checker(void)
{
    char err[512] = "";
    Graph *g = planned_gpt(0);
    CU_ASSERT_EQUAL(ir_verify(g, err, sizeof err), 0);
    int inplace = 0;
    for (int i = 0; i < g->count; i++)
        inplace += g->plan->alias[i] >= 0;
    CU_ASSERT(inplace > 0);

    int a, b;
    live_pair(g, &a, &b);
    CU_ASSERT_FATAL(a >= 0);
    int64_t saved = g->nodes[b].offset;
    g->nodes[b].offset = g->nodes[a].offset;              /* same bytes, both live */
    expect_invalid(g, "are both live at step");
    g->nodes[b].offset = g->nodes[a].offset + PLAN_ALIGN;  /* partly the same bytes */
    expect_invalid(g, "overlap");
    g->nodes[b].offset = saved;
    CU_ASSERT_EQUAL(ir_verify(g, err, sizeof err), 0);

    g->nodes[a].offset = g->arena_bytes;                   /* beyond the arena */
    expect_invalid(g, "inside the arena");
    g->nodes[a].offset = 8;                                /* off the 64-byte grid */
    expect_invalid(g, "64-byte boundary");
}

/* A decoder's one-token step plan, and its KV caches, are checked too. */
static void test_step_plan_checker(void)
{
    char err[512] = "";
    Graph *g = planned_gpt(1);
    CU_ASSERT_FATAL(g->cache_sym > 0);
    CU_ASSERT_EQUAL(ir_verify(g, err, sizeof err), 0);
    int a, b;
    live_pair(g, &a, &b);
    CU_ASSERT_FATAL(a >= 0);
    g->nodes[b].step_offset = g->nodes[a].step_offset;
    expect_invalid(g, "step plan");

    g = planned_gpt(1);
    int c1 = -1, c2 = -1;
    for (int i = 0; i < g->count; i++)
        if (g->nodes[i].op == OP_CACHE)
            c1 < 0 ? (c1 = i) : (c2 = i);
    CU_ASSERT_FATAL(c2 >= 0);
    g->nodes[c2].attr.cache.offset = g->nodes[c1].attr.cache.offset;
    expect_invalid(g, "KV cache");
}

void register_verify_tests(void)
{
    CU_pSuite s = CU_add_suite("verify", NULL, NULL);
    CU_add_test(s, "a valid graph passes", test_valid);
    CU_add_test(s, "broken graphs are caught", test_broken);
    CU_add_test(s, "planned buffers never overlap", test_plan_no_overlap);
    CU_add_test(s, "the plan checker catches a wrong plan", test_plan_checker);
    CU_add_test(s, "the step plan and KV caches are checked", test_step_plan_checker);
}
