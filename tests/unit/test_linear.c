/*
 * test_linear.c - tfrt_linear (and the GEMV kernels under it) against a
 * naive double-precision reference written from tfrt.h's description.
 *
 * Every case runs at every instruction-set level this machine has
 * (tfrt_cpu_force_isa), on a NULL pool and on pools of 1, 2 and 3
 * threads, for n = 1..5 (the GEMV path, in groups of four) and n = 17 (the
 * sgemm path, or the packed GEMM), with the weights as stored and packed.  Shapes are odd on purpose: in and rows not multiples of a
 * vector, single rows, weight rows wider than `in` (OUT_IN, ldw > in) and
 * column ranges of a wider tensor (IN_OUT), strided x, y and residual.
 * Padding that must not be read holds NaN; padding that must not be
 * written holds a sentinel.
 *
 * Tolerance, per element, from the reference's own magnitudes: with m =
 * sum_k |x_k w_k| + |b| (the scale of float rounding in the product),
 *   product      e_z = 1e-5 m
 *   activation   e_a = 1.1 e_z + 1e-6 |act(z)|     (|act'| <= 1.1)
 *   gate         e = e_a |z_1| + |act(z_0)| e_z1 + 1e-6 |y|
 *   residual     + 1e-6 |residual|
 *   rotary       e_a + e_b + 1e-6 (|a| + |b|)(1 + pos)   (float angles)
 * plus 1e-6 absolute.  The cache rows must equal y's rows bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "tfrt.h"
#include "cpu.h"
#include "q8.h"
#include "q8_internal.h"
#include "tests.h"

/* ---- data ------------------------------------------------------------------------ */

static uint32_t rng;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) / 8388608.0 - 1.0);
}

static float *floats(size_t n, float fill)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        p[i] = fill;
    return p;
}

static float *random_floats(size_t n)
{
    float *p = floats(n, 0);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* ---- the reference ------------------------------------------------------------------ */

static double act_ref(int act, double z)
{
    switch (act) {
    case TFRT_ACT_GELU: return 0.5 * z * erfc(-z / sqrt(2.0));
    case TFRT_ACT_GELU_TANH: return 0.5 * z * (1 + tanh(sqrt(2 / M_PI) * (z + 0.044715 * z * z * z)));
    case TFRT_ACT_RELU: return z > 0 ? z : 0;
    case TFRT_ACT_SILU: return z / (1 + exp(-z));
    case TFRT_ACT_TANH: return tanh(z);
    default: return z;
    }
}

/* A weight element of part p: row o (output), column k (input). */
static double weight(const TfrtLinear *op, int p, int o, int k)
{
    return op->layout == TFRT_W_OUT_IN ? op->w[p][(size_t)o * op->ldw[p] + k]
                                       : op->w[p][(size_t)k * op->ldw[p] + o];
}

/* z and its rounding scale for row i, output o of part p. */
static void product_ref(const TfrtLinear *op, const float *x, int i, int p, int o,
                        double *z, double *m)
{
    double s = op->bias[p] ? op->bias[p][o] : 0, a = fabs(s);
    for (int k = 0; k < op->in; k++) {
        double t = x[(size_t)i * op->x_stride + k] * weight(op, p, o, k);
        s += t;
        a += fabs(t);
    }
    *z = s;
    *m = a;
}

/* want/tol (n, out) for op applied to x; res0: the residual's values
 * before the call (the residual may be y). */
static void linear_ref(const TfrtLinear *op, const float *x, int n, const float *res0,
                       const int32_t *pos, double *want, double *tol)
{
    for (int i = 0; i < n; i++) {
        double *w = want + (size_t)i * op->out, *t = tol + (size_t)i * op->out;
        for (int c = 0, p = 0, o = 0; c < op->out; c++, o++) {
            if (!op->glu && o == op->rows[p])
                p++, o = 0;
            double z, m, a;
            product_ref(op, x, i, op->glu ? 0 : p, o, &z, &m);
            a = act_ref(op->act, z);
            double e = 1.1e-5 * m + 1e-6 * fabs(a);
            if (op->glu) {
                double z1, m1;
                product_ref(op, x, i, 1, c, &z1, &m1);
                e = e * fabs(z1) + fabs(a) * 1e-5 * m1 + 1e-6 * fabs(a * z1);
                a *= z1;
            }
            if (op->residual) {
                double r = res0[(size_t)i * op->residual_stride + c];
                a += r;
                e += 1e-6 * fabs(r);
            }
            w[c] = a;
            t[c] = e + 1e-6;
        }
        if (op->glu)
            continue;
        for (int p = 0, col = 0; p < op->parts; col += op->rows[p], p++) {
            int heads = op->rope_heads[p];
            if (heads <= 0)
                continue;
            int hd = op->rows[p] / heads;
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < hd / 2; j++) {
                    int ia = col + h * hd + (op->rope_interleaved ? 2 * j : j);
                    int ib = col + h * hd + (op->rope_interleaved ? 2 * j + 1 : j + hd / 2);
                    double ang = pos[i] * pow(op->rope_theta, -2.0 * j / hd);
                    double a = w[ia], b = w[ib], ea = t[ia], eb = t[ib];
                    w[ia] = a * cos(ang) - b * sin(ang);
                    w[ib] = a * sin(ang) + b * cos(ang);
                    t[ia] = t[ib] = ea + eb + 1e-6 * (fabs(a) + fabs(b)) * (1 + pos[i]);
                }
        }
    }
}

/* ---- one case ------------------------------------------------------------------------- */

typedef struct {
    int in, layout, parts, rows[TFRT_MAX_PARTS];
    int bias_mask;              /* bit p: part p has a bias */
    int act, glu;
    int residual;               /* 0 none, 1 its own buffer, 2 y itself */
    int rope[TFRT_MAX_PARTS];   /* heads with rotary embedding, per part */
    int interleaved;
    int cache_mask;             /* bit p: part p is copied to a cache */
} Case;

typedef struct {
    TfrtLinear op;
    float *wbuf[TFRT_MAX_PARTS], *bias[TFRT_MAX_PARTS], *cache[TFRT_MAX_PARTS];
    float *x, *res;
    /* int8 parts (quantize_parts): the reference op reads the dequantized
     * weights, dense, and ref_x, x quantized and dequantized again. */
    void *q8[TFRT_MAX_PARTS];
    float *deq[TFRT_MAX_PARTS], *ref_x;
    TfrtLinear ref;
} Built;

/* Weights with NaN where the kernel must not read: OUT_IN rows are in + 3
 * wide, IN_OUT parts are column ranges of a tensor 5 columns wider. */
static void build(Built *b, const Case *c, int n_max, uint32_t seed)
{
    TfrtLinear *op = &b->op;
    memset(b, 0, sizeof *b);
    rng = seed;
    op->in = c->in;
    op->layout = c->layout;
    op->parts = c->parts;
    op->act = c->act;
    op->glu = c->glu;
    op->rope_theta = 10000.0f;
    op->rope_interleaved = c->interleaved;
    for (int p = 0; p < c->parts; p++) {
        int rows = c->rows[p];
        op->rows[p] = rows;
        op->out += c->glu && p == 1 ? 0 : rows;
        if (c->layout == TFRT_W_OUT_IN) {
            op->ldw[p] = c->in + 3;
            b->wbuf[p] = floats((size_t)rows * op->ldw[p], NAN);
            for (int o = 0; o < rows; o++)
                for (int k = 0; k < c->in; k++)
                    b->wbuf[p][(size_t)o * op->ldw[p] + k] = frand();
            op->w[p] = b->wbuf[p];
        } else {
            op->ldw[p] = rows + 5;
            b->wbuf[p] = floats((size_t)c->in * op->ldw[p], NAN);
            for (int k = 0; k < c->in; k++)
                for (int o = 0; o < rows; o++)
                    b->wbuf[p][(size_t)k * op->ldw[p] + 2 + o] = frand();
            op->w[p] = b->wbuf[p] + 2;
        }
        if (c->bias_mask >> p & 1)
            op->bias[p] = b->bias[p] = random_floats((size_t)rows);
        op->rope_heads[p] = c->glu ? 0 : c->rope[p];
        if (!c->glu && (c->cache_mask >> p & 1))
            op->cache[p] = b->cache[p] = floats((size_t)(n_max + 3) * rows, 0);
    }
    op->x_stride = c->in + 2;
    op->y_stride = op->out + 4;
    b->x = floats((size_t)n_max * op->x_stride, NAN);
    for (int i = 0; i < n_max; i++)
        for (int k = 0; k < c->in; k++)
            b->x[(size_t)i * op->x_stride + k] = frand();
    if (c->residual) {
        op->residual_stride = c->residual == 2 ? op->y_stride : op->out + 1;
        b->res = random_floats((size_t)n_max * op->residual_stride);
    }
}

static void unbuild(Built *b)
{
    for (int p = 0; p < TFRT_MAX_PARTS; p++) {
        free(b->wbuf[p]);
        free(b->bias[p]);
        free(b->cache[p]);
    }
    for (int p = 0; p < TFRT_MAX_PARTS; p++) {
        free(b->q8[p]);
        free(b->deq[p]);
    }
    free(b->x);
    free(b->res);
    free(b->ref_x);
}

/* Quantizes b's weights (OUT_IN, in a multiple of TFRT_Q8_BLOCK) into
 * int8 parts, and sets up the reference: the same op on the dequantized
 * weights and on x quantized per block and dequantized.  The int8 product
 * is then exact up to float rounding of the block scales and of the sum
 * over blocks, within linear_ref's 1.1e-5 m. */
static void quantize_parts(Built *b, int n_max)
{
    TfrtLinear *op = &b->op;
    int in = op->in;
    b->ref = *op;
    for (int p = 0; p < op->parts; p++) {
        int rows = op->rows[p];
        size_t bytes = tfrt_q8_weight_bytes(rows, in);
        CU_ASSERT_FATAL(bytes > 0 && posix_memalign(&b->q8[p], 64, bytes) == 0);
        memset(b->q8[p], 0xa5, bytes);
        for (int o = 0; o < rows; o++)      /* streamed a row at a time */
            tfrt_q8_quantize_rows(b->q8[p], rows, in, o, 1, op->w[p] + (size_t)o * op->ldw[p]);
        b->deq[p] = floats((size_t)rows * in, 0);
        for (int o = 0; o < rows; o++)
            tfrt_q8_dequantize_row(b->deq[p] + (size_t)o * in, b->q8[p], rows, in, o);
        op->q8[p] = b->q8[p];
        b->ref.w[p] = b->deq[p];
        b->ref.ldw[p] = in;
    }
    size_t stride = tfrt_q8_act_row_bytes(in);
    char *xq = malloc(stride * (size_t)n_max);
    tfrt_q8_quantize_act(xq, stride, b->x, (size_t)op->x_stride, n_max, in);
    b->ref_x = floats((size_t)n_max * op->x_stride, NAN);
    for (int i = 0; i < n_max; i++) {
        const char *row = xq + (size_t)i * stride;
        for (int k = 0; k < in; k++)
            b->ref_x[(size_t)i * op->x_stride + k] =
                tfrt_q8_act_scale(row, in)[k / TFRT_Q8_BLOCK] * (float)tfrt_q8_act_q(row)[k];
    }
    free(xq);
}

/* Runs the built op on n rows; returns 1 when y, its padding and the
 * caches are right. */
static int check_run(Built *b, const Case *c, TfrtPool *pool, int n, const char *what)
{
    TfrtLinear op = b->op, ref = b->ref_x ? b->ref : b->op;
    size_t ycount = (size_t)n * op.y_stride;
    float *y = floats(ycount, 1234.0f);
    size_t scratch_bytes = tfrt_linear_scratch_bytes(&op, n);
    float *scratch = scratch_bytes ? floats(scratch_bytes / sizeof(float) + 1, NAN) : NULL;
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
    double *want = malloc(sizeof(double) * (size_t)n * op.out);
    double *tol = malloc(sizeof(double) * (size_t)n * op.out);
    for (int i = 0; i < n; i++)
        pos[i] = 3 + 7 * i;
    if (c->residual == 2) {
        for (int i = 0; i < n; i++)
            memcpy(y + (size_t)i * op.y_stride, b->res + (size_t)i * op.residual_stride,
                   sizeof(float) * (size_t)op.out);
        op.residual = ref.residual = y;
    } else if (c->residual == 1) {
        op.residual = ref.residual = b->res;
    }
    linear_ref(&ref, b->ref_x ? b->ref_x : b->x, n, c->residual == 2 ? y : b->res, pos, want, tol);
    /* scratch at an odd float: tfrt_linear aligns it itself */
    tfrt_linear(pool, &op, y, b->x, n, pos, 2, scratch ? scratch + 1 : NULL);
    int ok = 1;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        for (int col = 0; col < op.out; col++) {
            double got = y[(size_t)i * op.y_stride + col], w = want[(size_t)i * op.out + col];
            double e = fabs(got - w) / tol[(size_t)i * op.out + col];
            if (!(e <= 1)) {
                ok = 0;
                worst = isnan(e) ? INFINITY : e > worst ? e : worst;
            }
        }
        for (int col = op.out; col < op.y_stride; col++)
            ok &= y[(size_t)i * op.y_stride + col] == 1234.0f;
        for (int p = 0, col = 0; p < op.parts; col += op.rows[p], p++)
            if (op.cache[p])
                ok &= memcmp(op.cache[p] + (size_t)(2 + i) * op.rows[p],
                             y + (size_t)i * op.y_stride + col,
                             sizeof(float) * (size_t)op.rows[p]) == 0;
    }
    if (!ok)
        fprintf(stderr, "\n  tfrt_linear %s, n %d: worst error %.3g of tolerance\n", what, n, worst);
    free(y); free(scratch); free(pos); free(want); free(tol);
    return ok;
}

static const int n_values[] = {1, 2, 3, 4, 5, 17, 23, 30};    /* at most 30 (build) */

/* One case at every ISA, pool size and n, with the weights as stored and
 * packed (tfrt_linear_pack). */
static void check_case(const Case *c, TfrtPool *const *pools, int n_pools)
{
    Built b;
    build(&b, c, 30, 1000u + (uint32_t)c->in * 7u + (uint32_t)c->rows[0]);
    void *packed = NULL;
    size_t floats = tfrt_linear_packed_floats(&b.op);
    CU_ASSERT_FATAL(posix_memalign(&packed, 64, sizeof(float) * (floats ? floats : 1)) == 0);
    int ok = 1;
    for (int pack = 0; pack < 2; pack++) {
        if (pack)
            tfrt_linear_pack(&b.op, packed);
        for (int isa = 0; isa <= (int)tfrt_cpu_detected_isa(); isa++) {
            tfrt_cpu_force_isa(isa);
            for (int pi = 0; pi < n_pools; pi++)
                for (size_t k = 0; k < sizeof n_values / sizeof n_values[0]; k++) {
                    char what[128];
                    snprintf(what, sizeof what, "isa %s, %d threads, in %d, layout %d, act %d%s%s",
                             tfrt_isa_name((TfrtIsa)isa), tfrt_pool_threads(pools[pi]), c->in,
                             c->layout, c->act, c->glu ? ", glu" : "", pack ? ", packed" : "");
                    ok &= check_run(&b, c, pools[pi], n_values[k], what);
                }
        }
    }
    tfrt_cpu_force_isa(-1);
    CU_ASSERT(ok);
    free(packed);
    unbuild(&b);
}

/* One case with int8 parts, at every ISA, pool size and n. */
static void check_case_q8(const Case *c, TfrtPool *const *pools, int n_pools)
{
    Built b;
    build(&b, c, 30, 2000u + (uint32_t)c->in * 7u + (uint32_t)c->rows[0]);
    quantize_parts(&b, 30);
    int ok = 1;
    for (int isa = 0; isa <= (int)tfrt_cpu_detected_isa(); isa++) {
        tfrt_cpu_force_isa(isa);
        for (int pi = 0; pi < n_pools; pi++)
            for (size_t k = 0; k < sizeof n_values / sizeof n_values[0]; k++) {
                char what[128];
                snprintf(what, sizeof what, "int8, isa %s, %d threads, in %d, act %d%s",
                         tfrt_isa_name((TfrtIsa)isa), tfrt_pool_threads(pools[pi]), c->in,
                         c->act, c->glu ? ", glu" : "");
                ok &= check_run(&b, c, pools[pi], n_values[k], what);
            }
    }
    tfrt_cpu_force_isa(-1);
    CU_ASSERT(ok);
    unbuild(&b);
}

/* NULL, 1, 2 and 3 threads. */
static int make_pools(TfrtPool **pools)
{
    pools[0] = NULL;
    for (int t = 1; t <= 3; t++)
        if (tfrt_pool_create(&pools[t], t) != TFRT_OK)
            return 0;
    return 4;
}

static void free_pools(TfrtPool **pools)
{
    for (int t = 1; t <= 3; t++)
        tfrt_pool_destroy(pools[t]);
}

/* ---- the cases ------------------------------------------------------------------------ */

/* Shapes: odd in and rows, one row, blocks split over threads, several
 * parts; each with a bias on some parts and a residual. */
static void test_linear_shapes(void)
{
    static const struct { int in, parts, rows[3]; } shapes[] = {
        {1, 1, {1}}, {13, 1, {5}}, {16, 1, {16}}, {37, 1, {23}}, {67, 1, {130}},
        {200, 1, {65}}, {5, 3, {24, 16, 16}}, {33, 2, {70, 7}}, {8, 1, {1100}},
    };
    TfrtPool *pools[4];
    int n_pools = make_pools(pools);
    CU_ASSERT_FATAL(n_pools == 4);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int layout = 0; layout < 2; layout++) {
            Case c = {.in = shapes[s].in, .layout = layout, .parts = shapes[s].parts,
                      .bias_mask = 5, .residual = 1 + (int)(s % 2)};
            memcpy(c.rows, shapes[s].rows, sizeof c.rows);
            check_case(&c, pools, n_pools);
        }
    free_pools(pools);
}

/* Every epilogue on a two-part shape (three parts for rope and cache). */
static void test_linear_epilogues(void)
{
    TfrtPool *pools[4];
    int n_pools = make_pools(pools);
    CU_ASSERT_FATAL(n_pools == 4);
    for (int layout = 0; layout < 2; layout++)
        for (int act = TFRT_ACT_NONE; act <= TFRT_ACT_TANH; act++)
            for (int residual = 0; residual < 3; residual++) {
                Case plain = {.in = 29, .layout = layout, .parts = 2, .rows = {40, 9},
                              .bias_mask = 1, .act = act, .residual = residual};
                check_case(&plain, pools, n_pools);
                Case glu = {.in = 29, .layout = layout, .parts = 2, .rows = {70, 70},
                            .bias_mask = residual == 1 ? 3 : 2, .act = act, .glu = 1,
                            .residual = residual};
                check_case(&glu, pools, n_pools);
            }
    for (int layout = 0; layout < 2; layout++)
        for (int inter = 0; inter < 2; inter++) {
            /* q 4 heads of 8, k 2 heads of 8 (grouped), v; k and v cached */
            Case qkv = {.in = 19, .layout = layout, .parts = 3, .rows = {32, 16, 16},
                        .bias_mask = 7, .residual = inter, .rope = {4, 2, 0},
                        .interleaved = inter, .cache_mask = 6};
            check_case(&qkv, pools, n_pools);
            Case odd = {.in = 7, .layout = layout, .parts = 1, .rows = {18},
                        .rope = {3}, .interleaved = inter, .cache_mask = 1};
            check_case(&odd, pools, n_pools);       /* head_dim 6 */
        }
    free_pools(pools);
}

/* Int8 parts: odd row counts (panels of 16 padded), blocks split over
 * threads, several parts, every epilogue, against linear_ref on the
 * dequantized weights and activations. */
static void test_linear_q8(void)
{
    TfrtPool *pools[4];
    int n_pools = make_pools(pools);
    CU_ASSERT_FATAL(n_pools == 4);
    static const struct { int in, parts, rows[3]; } shapes[] = {
        {32, 1, {1}}, {64, 1, {23}}, {96, 1, {130}}, {256, 1, {300}}, {32, 3, {24, 16, 16}},
        {64, 2, {70, 7}},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        Case c = {.in = shapes[s].in, .layout = TFRT_W_OUT_IN, .parts = shapes[s].parts,
                  .bias_mask = 5, .residual = (int)(s % 3)};
        memcpy(c.rows, shapes[s].rows, sizeof c.rows);
        check_case_q8(&c, pools, n_pools);
    }
    for (int act = TFRT_ACT_NONE; act <= TFRT_ACT_TANH; act++)
        for (int residual = 0; residual < 3; residual++) {
            Case plain = {.in = 64, .layout = TFRT_W_OUT_IN, .parts = 2, .rows = {40, 9},
                          .bias_mask = 1, .act = act, .residual = residual};
            check_case_q8(&plain, pools, n_pools);
            Case glu = {.in = 32, .layout = TFRT_W_OUT_IN, .parts = 2, .rows = {70, 70},
                        .bias_mask = 2, .act = act, .glu = 1, .residual = residual};
            check_case_q8(&glu, pools, n_pools);
        }
    for (int inter = 0; inter < 2; inter++) {
        Case qkv = {.in = 64, .layout = TFRT_W_OUT_IN, .parts = 3, .rows = {32, 16, 16},
                    .bias_mask = 7, .residual = inter, .rope = {4, 2, 0},
                    .interleaved = inter, .cache_mask = 6};
        check_case_q8(&qkv, pools, n_pools);
    }
    free_pools(pools);
}

/* tfrt_matmul: y = x W + b, with the same reference. */
static void test_matmul_paths(void)
{
    for (int layout = 0; layout < 2; layout++)
        for (int n = 1; n <= 9; n += 4) {
            int in = 21, out = 35;
            rng = 77;
            float *x = random_floats((size_t)n * in), *w = random_floats((size_t)in * out);
            float *bias = random_floats((size_t)out), *y = floats((size_t)n * out, NAN);
            TfrtLinear op = {.in = in, .out = out, .layout = layout, .parts = 1, .w = {w},
                             .rows = {out}, .ldw = {layout == TFRT_W_OUT_IN ? in : out},
                             .bias = {bias}, .x_stride = in, .y_stride = out};
            double *want = malloc(sizeof(double) * (size_t)n * out);
            double *tol = malloc(sizeof(double) * (size_t)n * out);
            linear_ref(&op, x, n, NULL, NULL, want, tol);
            tfrt_matmul(y, x, w, bias, n, in, out, (TfrtWeightLayout)layout);
            int ok = 1;
            for (int i = 0; i < n * out; i++)
                ok &= fabs(y[i] - want[i]) <= tol[i];
            CU_ASSERT(ok);
            free(x); free(w); free(bias); free(y); free(want); free(tol);
        }
}

void register_linear_tests(void)
{
    static const struct { const char *name; void (*fn)(void); } tests[] = {
        {"linear: odd shapes, every ISA and thread count", test_linear_shapes},
        {"linear: every epilogue", test_linear_epilogues},
        {"matmul on both paths", test_matmul_paths},
        {"linear: int8 parts, every epilogue, ISA and thread count", test_linear_q8},
    };
    CU_pSuite s = CU_add_suite("linear", NULL, NULL);
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
}
