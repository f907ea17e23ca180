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
    char err[256] = "";
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
        for (int j = 0; j < MAX_INPUTS; j++)
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

void register_verify_tests(void)
{
    CU_pSuite s = CU_add_suite("verify", NULL, NULL);
    CU_add_test(s, "a valid graph passes", test_valid);
    CU_add_test(s, "broken graphs are caught", test_broken);
    CU_add_test(s, "planned buffers never overlap", test_plan_no_overlap);
}
