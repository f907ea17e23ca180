/*
 * test_frontend.c - the lexer, parser and lowering: valid files give the
 * graph the language reference describes, bad ones a located error.
 * (Whole bad files, each with its expected message, are in tests/errors.)
 */
#include <math.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "tests.h"
#include "tfc.h"

typedef struct {
    const char *text;
    const Define *defs;
    int ndefs;
    Graph *g;
} Job;

static void lower_job(void *arg)
{
    Job *j = arg;
    j->g = lower_program(parse_string("t.model", j->text), j->defs, j->ndefs);
}

/* Lowers text; returns NULL and keeps the message when it fails. */
static Graph *lower_text(const char *text, const Define *defs, int ndefs)
{
    Job j = {text, defs, ndefs, NULL};
    diag_set_quiet(1);
    int failed = diag_try(lower_job, &j);
    diag_set_quiet(0);
    return failed ? NULL : j.g;
}

static int count_op(const Graph *g, Op op)
{
    int n = 0;
    for (int i = 0; i < g->count; i++)
        n += g->nodes[i].op == op;
    return n;
}

static const Node *find(const Graph *g, const char *name)
{
    for (int i = 0; i < g->count; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return &g->nodes[i];
    return NULL;
}

static const char tiny_gpt[] =
    "model tiny\n"
    "config vocab = 50\nconfig ctx = 16\nconfig dim = 32\nconfig heads = 4\nconfig layers = 2\n"
    "input tokens[seq <= ctx]\n"
    "wte = Embedding(vocab, dim) at \"wte\"\n"
    "wpe = Embedding(ctx, dim) at \"wpe\"\n"
    "x = wte(tokens) + wpe(positions(tokens))\n"
    "repeat i < layers {\n"
    "    ln = LayerNorm(dim, 1e-5) at \"h.{i}.ln\"\n"
    "    qkv = Conv1D(dim, 3 * dim) at \"h.{i}.qkv\"\n"
    "    q, k, v = split(qkv(ln(x)), 3)\n"
    "    x = x + attention(q, k, v, heads = heads, causal = true)\n"
    "}\n"
    "output logits = linear(x, wte.weight)\n";

static void test_gpt_shapes(void)
{
    Graph *g = lower_text(tiny_gpt, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    char err[256];
    CU_ASSERT_EQUAL(ir_verify(g, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(g->model, "tiny");
    /* 2 embeddings + 2 blocks of (ln weight, bias, qkv weight, bias) */
    CU_ASSERT_EQUAL(count_op(g, OP_WEIGHT), 2 + 2 * 4);
    CU_ASSERT_EQUAL(count_op(g, OP_ATTENTION), 2);
    CU_ASSERT_EQUAL(count_op(g, OP_SLICE), 6);
    const Node *out = &g->nodes[g->output];
    CU_ASSERT_EQUAL(out->op, OP_MATMUL);
    CU_ASSERT_EQUAL(out->shape.ndim, 2);
    CU_ASSERT_EQUAL(out->shape.d[0].sym, 1);
    CU_ASSERT_EQUAL(out->shape.d[1].n, 50);
    CU_ASSERT_EQUAL(g->syms[1].max, 16);
    const Node *w = find(g, "h_1_qkv_weight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_STRING_EQUAL(w->attr.weight.ckpt, "h.1.qkv.weight");
    CU_ASSERT_EQUAL(w->shape.d[0].n, 32);   /* Conv1D: [in, out] */
    CU_ASSERT_EQUAL(w->shape.d[1].n, 96);
    const Node *a = find(g, "l0_attention");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(a->attr.attn.heads, 4);
    CU_ASSERT_EQUAL(a->attr.attn.kv_heads, 4);
    CU_ASSERT_EQUAL(a->attr.attn.causal, 1);
    CU_ASSERT_DOUBLE_EQUAL(a->attr.attn.scale, 1 / sqrt(8.0), 1e-7);
}

static void test_overrides(void)
{
    Define defs[] = {{"dim", "64", NULL}, {"layers", "3", NULL}};
    Graph *g = lower_text(tiny_gpt, defs, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(count_op(g, OP_ATTENTION), 3);
    CU_ASSERT_EQUAL(find(g, "wte_weight")->shape.d[1].n, 64);
    Define bad[] = {{"depth", "3", NULL}};
    CU_ASSERT_PTR_NULL(lower_text(tiny_gpt, bad, 1));
    CU_ASSERT_PTR_NOT_NULL(strstr(diag_last_message(), "no configuration value 'depth'"));
    Define nan[] = {{"dim", "lots", NULL}};
    CU_ASSERT_PTR_NULL(lower_text(tiny_gpt, nan, 1));
    CU_ASSERT_PTR_NOT_NULL(strstr(diag_last_message(), "must be a number"));
}

/* Config arithmetic: integers stay exact; a quotient that does not divide
 * is a float, and a float cannot be a dimension. */
static void test_config_arithmetic(void)
{
    const char *text =
        "config dim = 48\nconfig heads = 4\nconfig hd = dim / heads\nconfig half = hd / 24\n"
        "input t[n <= 8]\ne = Embedding(10, hd * 2 - 8) at \"e\"\noutput y = e(t)\n";
    Graph *g = lower_text(text, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(find(g, "e_weight")->shape.d[1].n, 16);
    CU_ASSERT_EQUAL(g->config_is_int[2], 1);
    CU_ASSERT_DOUBLE_EQUAL(g->config_values[2], 12, 0);
    CU_ASSERT_EQUAL(g->config_is_int[3], 0);
    CU_ASSERT_DOUBLE_EQUAL(g->config_values[3], 0.5, 0);
    const char *bad = "config dim = 50\ninput t[n <= 8]\ne = Embedding(10, dim / 4) at \"e\"\noutput y = e(t)\n";
    CU_ASSERT_PTR_NULL(lower_text(bad, NULL, 0));
    CU_ASSERT_PTR_NOT_NULL(strstr(diag_last_message(), "t.model:3:23: error: argument 'dim' of Embedding must be an integer, found 12.5"));
}

/* Lines continue inside ( and [; ; separates statements; # comments. */
static void test_layout(void)
{
    const char *text =
        "input t[n <= 4]; e = Embedding(10,\n   8) at \"e\"  # trailing comment\n"
        "\n\n# only a comment\noutput y = e(\n t\n)";
    Graph *g = lower_text(text, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(g->nodes[g->output].op, OP_EMBED);
    CU_ASSERT_STRING_EQUAL(g->nodes[g->output].name, "y");
}

/* Grouped-query attention: the number of key/value heads follows from k. */
static void test_grouped_query(void)
{
    const char *text =
        "input t[n <= 4]\ne = Embedding(10, 64) at \"e\"\nx = e(t)\n"
        "wk = Linear(64, 32, bias = false) at \"k\"\nwv = Linear(64, 32, bias = false) at \"v\"\n"
        "output y = attention(x, wk(x), wv(x), heads = 8)\n";
    Graph *g = lower_text(text, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    const Node *a = &g->nodes[g->output];
    CU_ASSERT_EQUAL(a->attr.attn.heads, 8);
    CU_ASSERT_EQUAL(a->attr.attn.kv_heads, 4);
    CU_ASSERT_EQUAL(a->attr.attn.causal, 0);
    CU_ASSERT_EQUAL(count_op(g, OP_WEIGHT), 3);   /* no biases */
}

static void expect_error(const char *text, const char *message)
{
    CU_ASSERT_PTR_NULL(lower_text(text, NULL, 0));
    if (!strstr(diag_last_message(), message)) {
        fprintf(stderr, "\n  expected '%s'\n  got      '%s'\n", message, diag_last_message());
        CU_FAIL("wrong message");
    }
}

static void test_errors(void)
{
    expect_error("input t[n <= 4]\noutput y = foo(t)\n", "t.model:2:12: error: unknown function 'foo'");
    expect_error("config heads = 4\ninput t[n <= 4]\noutput y = haeds\n", "unknown name 'haeds' (did you mean 'heads'?)");
    expect_error("input t[n <= 4]\ne = Embedding(10) at \"e\"\noutput y = e(t)\n", "missing argument 'dim'");
    expect_error("input t[n <= 4\n", "t.model:1:8: error: '[' is never closed");
    expect_error("", "empty model file");
    expect_error("input t[n <= 4]\ne = Embedding(10, 8) at \"e\"\n"
                 "f = Embedding(10, 6) at \"f\"\noutput y = e(t) + f(t)\n",
                 "t.model:4:17: error: shape mismatch: cannot add (n,8) and (n,6)");
    expect_error("input t[n <= 4]\ne = Embedding(10, 8) at \"e\"\nx = e(t)\n"
                 "output y = attention(x, x, x, heads = 3)\n",
                 "the width of q (8) is not divisible by heads (3)");
    expect_error("input t[n <= 4]\nrepeat i < 2 {\n e = Embedding(10, 8) at \"x.{j}\"\n}\noutput y = e(t)\n",
                 "{j} in \"x.{j}\" must name an integer in scope");
}

void register_frontend_tests(void)
{
    CU_pSuite s = CU_add_suite("frontend", NULL, NULL);
    CU_add_test(s, "GPT graph: ops, shapes, names", test_gpt_shapes);
    CU_add_test(s, "-D overrides", test_overrides);
    CU_add_test(s, "config arithmetic", test_config_arithmetic);
    CU_add_test(s, "newlines, ; and comments", test_layout);
    CU_add_test(s, "grouped-query attention", test_grouped_query);
    CU_add_test(s, "located errors", test_errors);
}
