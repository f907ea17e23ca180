/*
 * test_hardening.c - hostile input, refused cleanly: non-finite logits in
 * every sampling mode, the front end's limits (model_limits.h) and its
 * name maps.  Whole bad model files with their messages are in
 * tests/errors; command lines and files in tests/hostile.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "model_limits.h"
#include "strmap.h"
#include "tests.h"
#include "tfc.h"
#include "tfrt_text.h"

/* ---- the sampler ---------------------------------------------------------- */

/* Every mode of tfrt_sample: greedy, temperature, top-k, top-p, both. */
static const struct { float temp; int top_k; float top_p; } modes[] = {
    {0.0f, 0, 1.0f}, {1.0f, 0, 1.0f}, {0.7f, 3, 1.0f}, {1.0f, 0, 0.5f}, {1.3f, 2, 0.9f}, {1.0f, 1, 1.0f},
};

/* A NaN or +inf anywhere in the row: no token, in every mode, and
 * tfrt_bad_logit names the first such logit. */
static void test_nonfinite_logits(void)
{
    float rows[][5] = {
        {NAN, NAN, NAN, NAN, NAN},
        {0.5f, 1.0f, NAN, 2.0f, -1.0f},
        {NAN, 1.0f, 0.0f, -INFINITY, 3.0f},
        {0.5f, INFINITY, 0.0f, 1.0f, 2.0f},
        {-INFINITY, -INFINITY, INFINITY, INFINITY, NAN},
    };
    const int first_bad[] = {0, 2, 0, 1, 2};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        TfrtSampler s;
        CU_ASSERT_EQUAL_FATAL(tfrt_sampler_init(&s, 5, modes[m].temp, modes[m].top_k,
                                                modes[m].top_p, 7), TFRT_OK);
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++)
            for (int k = 0; k < 20; k++)
                CU_ASSERT_EQUAL(tfrt_sample(&s, rows[r], 5), -1);
        tfrt_sampler_free(&s);
    }
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        CU_ASSERT_EQUAL(tfrt_bad_logit(rows[r], 5), first_bad[r]);
        CU_ASSERT_EQUAL(tfrt_argmax(rows[r], 5), -1);
    }
}

/* Finite and -inf logits are fine in every mode: a token that can be
 * drawn, never a masked one; a row all -inf gives 0, as greedy. */
static void test_finite_logits(void)
{
    float row[6] = {-INFINITY, 1.0f, -3e38f, 3e38f, -INFINITY, 0.0f};
    float masked[3] = {-INFINITY, -INFINITY, -INFINITY};
    CU_ASSERT_EQUAL(tfrt_bad_logit(row, 6), -1);
    CU_ASSERT_EQUAL(tfrt_bad_logit(masked, 3), -1);
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        TfrtSampler s;
        CU_ASSERT_EQUAL_FATAL(tfrt_sampler_init(&s, 6, modes[m].temp, modes[m].top_k,
                                                modes[m].top_p, 11), TFRT_OK);
        for (int k = 0; k < 50; k++) {
            int32_t t = tfrt_sample(&s, row, 6);
            CU_ASSERT(t >= 0 && t < 6 && row[t] != -INFINITY);
            CU_ASSERT_EQUAL(tfrt_sample(&s, masked, 3), 0);
        }
        tfrt_sampler_free(&s);
    }
}

/* ---- the front end's limits --------------------------------------------- */

typedef struct {
    const char *text;
    size_t len;
    Graph *g;
} Job;

static void lower_job(void *arg)
{
    Job *j = arg;
    j->g = lower_program(parse_buffer("h.model", j->text, j->len), NULL, 0);
}

/* Lowers text[0..len); NULL with diag_last_message() when refused. */
static Graph *lower_buffer(const char *text, size_t len)
{
    Job j = {text, len, NULL};
    diag_set_quiet(1);
    int failed = diag_try(lower_job, &j);
    diag_set_quiet(0);
    return failed ? NULL : j.g;
}

static void expect_refused(const char *text, const char *message)
{
    CU_ASSERT_PTR_NULL(lower_buffer(text, strlen(text)));
    if (!strstr(diag_last_message(), message)) {
        fprintf(stderr, "\n  expected '%s'\n  got      '%s'\n", message, diag_last_message());
        CU_FAIL("wrong message");
    }
}

/* "HEAD" then n copies of "UNIT" joined by "SEP" then "TAIL". */
static char *repeated(const char *head, const char *unit, const char *sep, int n, const char *tail)
{
    size_t len = strlen(head) + (size_t)n * (strlen(unit) + strlen(sep)) + strlen(tail) + 1;
    char *s = malloc(len), *p = s;
    CU_ASSERT_FATAL(s != NULL);
    p += sprintf(p, "%s", head);
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? sep : "", unit);
    sprintf(p, "%s", tail);
    return s;
}

#define BASE "input t[s <= 4]\ne = Embedding(4, 4) at \"e\"\nx = e(t)\n"

/* Deep expressions stop with a located error, never a stack overflow:
 * left-nested sums of 10^5 terms, unary minus chains, nested calls. */
static void test_expression_depth(void)
{
    char *sum = repeated("config a = ", "1", " + ", 100000, "\n" BASE "output y = x\n");
    expect_refused(sum, "h.model:1:");
    expect_refused(sum, "nests operators and calls more than 256 deep");
    free(sum);
    char *tensors = repeated(BASE "output y = ", "x", " + ", 100000, "\n");
    expect_refused(tensors, "more than 256 deep");
    free(tensors);
    char *minus = repeated("config a = ", "-", " ", 50000, "1\n" BASE "output y = x\n");
    expect_refused(minus, "h.model:1:");
    free(minus);
    char *ok = repeated("config a = ", "1", " + ", 256, "\n" BASE "output y = x * a\n");
    Graph *g = lower_buffer(ok, strlen(ok));
    CU_ASSERT_PTR_NOT_NULL(g);
    if (g)
        CU_ASSERT_EQUAL(g->config_values[0], 256);
    free(ok);
}

/* Products and sums of sizes are bounded (model_limits.h), before any of
 * them could overflow int64 downstream. */
static void test_size_limits(void)
{
    expect_refused("input t[s <= 4]\ne = Embedding(4, 1073741824) at \"e\"\nx = e(t)\n"
                   "l = Linear(1073741824, 1073741824) at \"l\"\noutput y = l(x)\n",
                   "h.model:4:5: error: a tensor (1073741824,1073741824) would exceed 2^40 bytes");
    expect_refused("input t[s <= 4]\ne = Embedding(4, 2147483648) at \"e\"\noutput y = e(t)\n",
                   "sizes are at most 2^30");
    /* 17 weights of 2^40 bytes each: the 17th passes 2^44 in all */
    expect_refused("input t[s <= 4]\nrepeat i < 17 {\n p = Embedding(262144, 1048576) at \"p{i}\"\n}\n"
                   "e = Embedding(4, 4) at \"e\"\noutput y = e(t)\n",
                   "h.model:3:6: error: the model's weights (float32) would exceed 2^44 bytes");
    expect_refused("input t[s <= 1073741824]\np = positions(t)\n"
                   "repeat i < 20 {\n a = sinusoidal(p, 256)\n}\noutput y = a\n",
                   "h.model:4:6: error: the model's intermediate tensors together would exceed 2^44 bytes");
    /* attention over 2^20 tokens, 2^12 wide: 2^54 FLOPs each */
    expect_refused("input t[s <= 1048576]\ne = Embedding(8, 4096) at \"e\"\nx = e(t)\n"
                   "repeat i < 100 {\n x = attention(x, x, x, heads = 8, causal = true)\n}\noutput y = x\n",
                   "a forward pass of this model at its longest inputs would exceed 2^60 FLOPs");
    expect_refused(BASE "output y = x / 0\n", "division of a tensor by zero");
    expect_refused(BASE "output y = x * 1e300\n", "beyond the range of a float");
    expect_refused(BASE "n = RMSNorm(4, eps = 1e39) at \"n\"\noutput y = n(x)\n", "eps is 1e+39");
}

/* Work bounds: nodes and statements run, whatever the nesting (checked
 * at lowered limits, as a fuzz harness sets them, to stay fast). */
static void test_work_limits(void)
{
    Limits saved = tfc_limits;
    tfc_limits.statements = 100000;
    tfc_limits.nodes = 5000;
    expect_refused(BASE "repeat i < 100000 {\n repeat j < 100000 {\n }\n}\noutput y = x\n",
                   "h.model:5:2: error: the model runs more than 100000 statements");
    expect_refused(BASE "repeat i < 1000 {\n repeat j < 20 {\n  x = x * 2\n }\n}\noutput y = x\n",
                   "h.model:6:9: error: the model unrolls to more than 5000 graph nodes");
    tfc_limits = saved;
    expect_refused(BASE "repeat i < 100001 {\n}\noutput y = x\n",
                   "repeat count 100001 is out of range (0 to 100000)");
    char name[400];
    memset(name, 'a', 300);
    name[300] = 0;
    char *text = malloc(1000);
    sprintf(text, BASE "%s = x\noutput y = x\n", name);
    expect_refused(text, "a name of 300 characters; names have at most 256");
    free(text);
}

/* The statements of a 10^5-iteration repeat each get a distinct node name
 * in linear time, and reuse a released name as before. */
static void test_names(void)
{
    static const char text[] = BASE "repeat i < 3 {\n x = x * 2\n}\ny2 = x * 3\ny = x * 4\n"
                               "output z = y + y2\n";
    Graph *g = lower_buffer(text, strlen(text));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    StrMap seen = {0};
    for (int i = 0; i < g->count; i++) {
        CU_ASSERT_EQUAL(strmap_get(&seen, g->nodes[i].name, -1), -1);
        strmap_put(&seen, g->nodes[i].name, i);
    }
    CU_ASSERT(strmap_get(&seen, "l2_x", -1) >= 0);
    CU_ASSERT(strmap_get(&seen, "y2", -1) >= 0);
    CU_ASSERT(strmap_get(&seen, "z", -1) == g->output);

    StrMap m = {0};
    char keys[3000][8];
    for (int i = 0; i < 3000; i++) {
        sprintf(keys[i], "k%d", i);
        strmap_put(&m, keys[i], i);
    }
    for (int i = 0; i < 3000; i += 2)
        strmap_remove(&m, keys[i]);
    int ok = 1;
    for (int i = 0; i < 3000; i++)
        ok &= strmap_get(&m, keys[i], -1) == (i % 2 ? i : -1);
    CU_ASSERT(ok);
}

/* Found by fuzz_frontend: a relative-position table computed in the call
 * (relative = -rel) was lowered after its attention node, which then
 * read a later node and stopped tfc with an internal error. */
static void test_fuzz_findings(void)
{
    static const char text[] = "input t[s <= 4]\ne = Embedding(4, 8) at \"e\"\n"
                               "param rel[32, 2] at \"rel\"\nx = e(t)\n"
                               "output y = attention(x, x, x, heads = 2, relative = -rel * 2)\n";
    char err[256];
    Graph *g = lower_buffer(text, strlen(text));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(ir_verify(g, err, sizeof err), 0);
}

void register_hardening_tests(void)
{
    CU_pSuite s = CU_add_suite("hardening", NULL, NULL);
    CU_add_test(s, "NaN and +inf logits: no token, every mode", test_nonfinite_logits);
    CU_add_test(s, "finite and -inf logits, every mode", test_finite_logits);
    CU_add_test(s, "expression depth is bounded", test_expression_depth);
    CU_add_test(s, "size products and totals are bounded", test_size_limits);
    CU_add_test(s, "graph size and statements run are bounded", test_work_limits);
    CU_add_test(s, "node names unique, name maps", test_names);
    CU_add_test(s, "fuzzing findings stay fixed", test_fuzz_findings);
}
