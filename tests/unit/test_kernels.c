/*
 * test_kernels.c - each kernel of tfrt.h against an independent reference.
 *
 * References are naive loops in double precision written here, not calls
 * into the runtime, plus a few values computed by hand so that the tests
 * do not only compare the code with itself.  Tolerances, stated per test,
 * allow for float32 rounding of the kernel's result:
 *   matmul     |err| <= 1e-5 * (sum_k |x_k w_k| + |bias|) + 1e-6
 *   norms      |err| <= 2e-6 * (1 + |ref|)
 *   softmax    |err| <= 1e-6
 *   activations|err| <= 1e-6 * (1 + |ref|)
 *   attention  |err| <= 2e-5 (inputs in [-1, 1])
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "tfrt.h"
#include "cpu.h"
#include "tests.h"

/* ---- helpers ------------------------------------------------------------- */

/* Deterministic values in [-1, 1): a 32-bit LCG, the same on every host. */
static uint32_t rng_state;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) / 8388608.0 - 1.0);
}

static float *rand_floats(size_t n, uint32_t seed)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    rng_state = seed;
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* Largest |got - want| / (abs_tol + rel_tol * |want|); <= 1 passes. */
static double worst(const float *got, const double *want, size_t n,
                    double abs_tol, double rel_tol)
{
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / (abs_tol + rel_tol * fabs(want[i]));
        if (!(e <= w))                  /* NaN counts as the worst */
            w = isnan(e) ? INFINITY : e;
    }
    return w;
}

#define CHECK_CLOSE(got, want, n, abs_tol, rel_tol) \
    CU_ASSERT(worst(got, want, n, abs_tol, rel_tol) <= 1.0)

/* ---- matmul -------------------------------------------------------------- */

/* y (n,out) = x (n,in) W + bias in double; *mag gets sum |x w| + |b| per
 * entry, the scale of float rounding error. */
static void ref_matmul(double *y, double *mag, const float *x, const float *w,
                       const float *bias, int n, int in, int out,
                       TfrtWeightLayout layout)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = bias ? bias[o] : 0, m = bias ? fabs(bias[o]) : 0;
            for (int k = 0; k < in; k++) {
                double wk = layout == TFRT_W_OUT_IN ? w[(size_t)o * in + k]
                                                    : w[(size_t)k * out + o];
                s += (double)x[(size_t)i * in + k] * wk;
                m += fabs((double)x[(size_t)i * in + k] * wk);
            }
            y[(size_t)i * out + o] = s;
            mag[(size_t)i * out + o] = m;
        }
}

static void check_matmul(int n, int in, int out, TfrtWeightLayout layout, int with_bias)
{
    float *x = rand_floats((size_t)n * in, 1);
    float *w = rand_floats((size_t)in * out, 2);
    float *b = with_bias ? rand_floats((size_t)out, 3) : NULL;
    float *y = malloc(sizeof(float) * (size_t)n * out);
    double *ref = malloc(sizeof(double) * (size_t)n * out);
    double *mag = malloc(sizeof(double) * (size_t)n * out);
    for (int i = 0; i < n * out; i++)
        y[i] = NAN;                     /* the kernel must overwrite, not add */
    tfrt_matmul(y, x, w, b, n, in, out, layout);
    ref_matmul(ref, mag, x, w, b, n, in, out, layout);
    int ok = 1;
    for (int i = 0; i < n * out; i++)
        if (!(fabs(y[i] - ref[i]) <= 1e-5 * mag[i] + 1e-6))
            ok = 0;
    CU_ASSERT(ok);
    free(x); free(w); free(b); free(y); free(ref); free(mag);
}

static void test_matmul(void)
{
    for (int layout = 0; layout < 2; layout++)
        for (int bias = 0; bias < 2; bias++) {
            check_matmul(1, 37, 23, (TfrtWeightLayout)layout, bias);
            check_matmul(5, 37, 23, (TfrtWeightLayout)layout, bias);
            check_matmul(64, 96, 130, (TfrtWeightLayout)layout, bias);
        }
}

/* x = [1 2], W (out,in) = [[1 0], [0 1], [1 1]], bias [0.5 0 -1]
 * -> y = [1.5, 2, 2]; the same W stored (in,out) gives the same y. */
static void test_matmul_by_hand(void)
{
    const float x[2] = {1, 2}, b[3] = {0.5f, 0, -1};
    const float w_oi[6] = {1, 0, 0, 1, 1, 1}, w_io[6] = {1, 0, 1, 0, 1, 1};
    float y[3], y2[6];
    tfrt_matmul(y, x, w_oi, b, 1, 2, 3, TFRT_W_OUT_IN);
    CU_ASSERT(y[0] == 1.5f && y[1] == 2.0f && y[2] == 2.0f);
    tfrt_matmul(y, x, w_io, b, 1, 2, 3, TFRT_W_IN_OUT);
    CU_ASSERT(y[0] == 1.5f && y[1] == 2.0f && y[2] == 2.0f);
    const float x2[4] = {1, 2, 0, 1};     /* two rows: n > 1 path */
    tfrt_matmul(y2, x2, w_io, NULL, 2, 2, 3, TFRT_W_IN_OUT);
    CU_ASSERT(y2[0] == 1 && y2[1] == 2 && y2[2] == 3);
    CU_ASSERT(y2[3] == 0 && y2[4] == 1 && y2[5] == 1);
}

/* ---- normalization --------------------------------------------------------- */

static void ref_layernorm(double *y, const float *x, const float *g,
                          const float *b, int n, int dim, double eps)
{
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * dim;
        double mean = 0, var = 0;
        for (int j = 0; j < dim; j++)
            mean += r[j];
        mean /= dim;
        for (int j = 0; j < dim; j++)
            var += (r[j] - mean) * (r[j] - mean);
        var /= dim;
        for (int j = 0; j < dim; j++)
            y[(size_t)i * dim + j] = (r[j] - mean) / sqrt(var + eps) * g[j] + (b ? b[j] : 0);
    }
}

/* [1, 2, 3]: mean 2, variance 2/3, so y = [-sqrt(3/2), 0, sqrt(3/2)]. */
static void test_layernorm_by_hand(void)
{
    const float x[3] = {1, 2, 3}, g[3] = {1, 1, 1}, b[3] = {0, 0, 0};
    float y[3];
    tfrt_layernorm(y, x, g, b, 1, 3, 0.0f);
    CU_ASSERT_DOUBLE_EQUAL(y[0], -1.2247448713915890, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(y[1], 0.0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(y[2], 1.2247448713915890, 1e-6);
}

static void test_layernorm(void)
{
    int n = 4, dim = 300;
    float *x = rand_floats((size_t)n * dim, 4), *g = rand_floats(dim, 5);
    float *b = rand_floats(dim, 6), *y = malloc(sizeof(float) * (size_t)n * dim);
    double *ref = malloc(sizeof(double) * (size_t)n * dim);
    /* Row 1 sits far from zero: a one-pass variance would lose it. */
    for (int j = 0; j < dim; j++)
        x[dim + j] = 1000.0f + x[dim + j];
    tfrt_layernorm(y, x, g, b, n, dim, 1e-5f);
    ref_layernorm(ref, x, g, b, n, dim, (double)1e-5f);
    CHECK_CLOSE(y, ref, (size_t)n * dim, 2e-6, 2e-6);
    tfrt_layernorm(y, x, g, NULL, n, dim, 1e-5f);     /* no beta */
    ref_layernorm(ref, x, g, NULL, n, dim, (double)1e-5f);
    CHECK_CLOSE(y, ref, (size_t)n * dim, 2e-6, 2e-6);
    tfrt_layernorm(x, x, g, NULL, n, dim, 1e-5f);     /* in place */
    CHECK_CLOSE(x, ref, (size_t)n * dim, 2e-6, 2e-6);
    free(x); free(g); free(b); free(y); free(ref);
}

/* [3, 4]: mean square 12.5, so y = [3, 4] / sqrt(12.5). */
static void test_rmsnorm(void)
{
    const float g1[2] = {1, 1};
    float y1[2], x1[2] = {3, 4};
    tfrt_rmsnorm(y1, x1, g1, 1, 2, 0.0f);
    CU_ASSERT_DOUBLE_EQUAL(y1[0], 0.84852813742385702, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(y1[1], 1.1313708498984760, 1e-6);

    int n = 3, dim = 257;
    float *x = rand_floats((size_t)n * dim, 7), *g = rand_floats(dim, 8);
    float *y = malloc(sizeof(float) * (size_t)n * dim);
    double *ref = malloc(sizeof(double) * (size_t)n * dim);
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < dim; j++)
            ss += (double)x[i * dim + j] * x[i * dim + j];
        for (int j = 0; j < dim; j++)
            ref[i * dim + j] = x[i * dim + j] / sqrt(ss / dim + (double)1e-6f) * g[j];
    }
    tfrt_rmsnorm(y, x, g, n, dim, 1e-6f);
    CHECK_CLOSE(y, ref, (size_t)n * dim, 2e-6, 2e-6);
    free(x); free(g); free(y); free(ref);
}

/* softmax([0, ln 3]) = [1/4, 3/4]; and large inputs do not overflow. */
static void test_softmax(void)
{
    float a[4] = {0.0f, (float)log(3.0), 1000.0f, 1000.0f};
    tfrt_softmax(a, 2, 2);
    CU_ASSERT_DOUBLE_EQUAL(a[0], 0.25, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(a[1], 0.75, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(a[2], 0.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(a[3], 0.5, 1e-7);

    int n = 3, dim = 100;
    float *x = rand_floats((size_t)n * dim, 9);
    double *ref = malloc(sizeof(double) * (size_t)n * dim);
    for (int i = 0; i < n * dim; i++)
        x[i] *= 20;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < dim; j++)
            s += exp(x[i * dim + j]);
        for (int j = 0; j < dim; j++)
            ref[i * dim + j] = exp(x[i * dim + j]) / s;
    }
    tfrt_softmax(x, n, dim);
    CHECK_CLOSE(x, ref, (size_t)n * dim, 1e-6, 1e-5);
    free(x); free(ref);
}

/* ---- activations ------------------------------------------------------------- */

/* Inputs spanning the interesting range of each activation. */
static float *activation_inputs(size_t *n)
{
    *n = 161;
    float *x = malloc(sizeof(float) * *n);
    for (size_t i = 0; i < *n; i++)
        x[i] = -8.0f + 0.1f * (float)i;
    return x;
}

static void test_gelu(void)
{
    size_t n;
    float *x = activation_inputs(&n), *y = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        ref[i] = 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)));
    tfrt_gelu(y, x, n);
    CHECK_CLOSE(y, ref, n, 1e-6, 1e-6);
    const float one = 1.0f;
    float g;
    tfrt_gelu(&g, &one, 1);
    CU_ASSERT_DOUBLE_EQUAL(g, 0.8413447460685429, 1e-6);     /* Phi(1) */

    const double k = sqrt(2.0 / M_PI);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        ref[i] = 0.5 * v * (1 + tanh(k * (v + 0.044715 * v * v * v)));
    }
    tfrt_gelu_tanh(y, x, n);
    CHECK_CLOSE(y, ref, n, 1e-6, 1e-6);
    tfrt_gelu_tanh(&g, &one, 1);
    CU_ASSERT_DOUBLE_EQUAL(g, 0.8411919906082768, 1e-6);
    /* The two differ by about 1e-4 near 1: the tests would notice a swap. */
    CU_ASSERT(fabs(g - 0.8413447460685429) > 1e-4);
    free(x); free(y); free(ref);
}

static void test_relu_silu(void)
{
    size_t n;
    float *x = activation_inputs(&n), *y = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        ref[i] = x[i] > 0 ? x[i] : 0;
    tfrt_relu(y, x, n);
    CHECK_CLOSE(y, ref, n, 1e-12, 0);
    for (size_t i = 0; i < n; i++)
        ref[i] = x[i] / (1 + exp(-(double)x[i]));
    tfrt_silu(y, x, n);
    CHECK_CLOSE(y, ref, n, 1e-6, 1e-6);
    const float big[2] = {-200.0f, 200.0f};
    float s[2];
    tfrt_silu(s, big, 2);
    CU_ASSERT(s[0] == 0.0f && s[1] == 200.0f);     /* no NaN from inf/inf */
    tfrt_relu(x, x, n);                             /* in place */
    CU_ASSERT(x[0] == 0.0f && x[n - 1] == 8.0f);
    free(x); free(y); free(ref);
}

/* ---- elementwise and data movement -------------------------------------------- */

static void test_elementwise(void)
{
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {6, 5, 4, 3, 2, 1};
    const float row[3] = {10, 20, 30};
    float y[6];
    tfrt_add(y, a, b, 6);
    for (int i = 0; i < 6; i++)
        CU_ASSERT(y[i] == 7.0f);
    tfrt_mul(y, a, b, 6);
    CU_ASSERT(y[0] == 6 && y[2] == 12 && y[5] == 6);
    tfrt_add_row(y, a, row, 2, 3);
    CU_ASSERT(y[0] == 11 && y[1] == 22 && y[2] == 33 && y[3] == 14 && y[5] == 36);
    tfrt_mul_row(y, a, row, 2, 3);
    CU_ASSERT(y[0] == 10 && y[2] == 90 && y[3] == 40 && y[5] == 180);
    tfrt_scale(y, a, -0.5f, 6);
    CU_ASSERT(y[0] == -0.5f && y[5] == -3.0f);
    memcpy(y, a, sizeof y);
    tfrt_add(y, y, y, 6);                           /* aliasing allowed */
    CU_ASSERT(y[5] == 12.0f);
}

static void test_slice_cols(void)
{
    const float x[8] = {0, 1, 2, 3, 10, 11, 12, 13};   /* (2,4) */
    float y[4];
    tfrt_slice_cols(y, x, 2, 4, 1, 2);
    CU_ASSERT(y[0] == 1 && y[1] == 2 && y[2] == 11 && y[3] == 12);
}

static void test_embed(void)
{
    const float table[6] = {0, 1, 10, 11, 20, 21};   /* (3,2) */
    const int32_t ids[3] = {2, 0, 2};
    float y[6];
    CU_ASSERT_EQUAL(tfrt_embed(y, table, ids, 3, 3, 2), TFRT_OK);
    CU_ASSERT(y[0] == 20 && y[1] == 21 && y[2] == 0 && y[3] == 1 && y[4] == 20);
    const int32_t neg[2] = {0, -1}, big[2] = {3, 0};
    CU_ASSERT_EQUAL(tfrt_embed(y, table, neg, 2, 3, 2), TFRT_ERR_TOKEN);
    CU_ASSERT_EQUAL(tfrt_embed(y, table, big, 2, 3, 2), TFRT_ERR_TOKEN);
}

static void test_positions(void)
{
    int32_t p[4];
    tfrt_positions(p, 7, 4);
    CU_ASSERT(p[0] == 7 && p[1] == 8 && p[2] == 9 && p[3] == 10);
}

static void test_sinusoidal(void)
{
    int n = 5, dim = 16;
    const int32_t pos[5] = {0, 1, 2, 17, 63};
    float y[5 * 16];
    double ref[5 * 16];
    for (int i = 0; i < n; i++)
        for (int j = 0; 2 * j < dim; j++) {
            double a = pos[i] / pow(10000.0, 2.0 * j / dim);
            ref[i * dim + 2 * j] = sin(a);
            ref[i * dim + 2 * j + 1] = cos(a);
        }
    tfrt_sinusoidal(y, pos, n, dim);
    /* float32 arguments p * w carry a relative error of ~1e-7 * p. */
    CHECK_CLOSE(y, ref, (size_t)n * dim, 2e-5, 0);
    CU_ASSERT(y[0] == 0.0f && y[1] == 1.0f);                /* position 0 */
    CU_ASSERT_DOUBLE_EQUAL(y[dim], 0.8414709848078965, 1e-6);  /* sin 1 */
    CU_ASSERT_DOUBLE_EQUAL(y[dim + 1], 0.5403023058681398, 1e-6);
}

/* Rotary embedding vs a double-precision rotation; rotating (1, 0) at
 * position 1 by frequency theta^0 = 1 gives (cos 1, sin 1) by hand. */
static void ref_rope(double *y, const float *x, const int32_t *pos, int n,
                     int heads, int hd, double theta, int interleaved)
{
    for (int i = 0; i < n; i++)
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < hd / 2; j++) {
                size_t row = ((size_t)i * heads + h) * hd;
                size_t ia = row + (interleaved ? 2 * j : j);
                size_t ib = row + (interleaved ? 2 * j + 1 : j + hd / 2);
                double ang = pos[i] * pow(theta, -2.0 * j / hd);
                y[ia] = x[ia] * cos(ang) - x[ib] * sin(ang);
                y[ib] = x[ia] * sin(ang) + x[ib] * cos(ang);
            }
}

static void test_rope(void)
{
    const float one[2] = {1, 0};
    const int32_t p1 = 1;
    float r[2];
    tfrt_rope(r, one, &p1, 1, 1, 2, 10000.0f, 0);
    CU_ASSERT_DOUBLE_EQUAL(r[0], 0.5403023058681398, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(r[1], 0.8414709848078965, 1e-6);

    int n = 5, heads = 3, hd = 8;
    const int32_t pos[5] = {0, 1, 2, 9, 40};
    size_t count = (size_t)n * heads * hd;
    float *x = rand_floats(count, 21), *y = malloc(sizeof(float) * count);
    double *ref = malloc(sizeof(double) * count);
    for (int inter = 0; inter < 2; inter++) {
        ref_rope(ref, x, pos, n, heads, hd, 10000.0, inter);
        tfrt_rope(y, x, pos, n, heads, hd, 10000.0f, inter);
        /* float32 angles p * f carry an error of about 1e-7 * p */
        CHECK_CLOSE(y, ref, count, 2e-5, 0);
    }
    /* The two conventions differ: pairing matters. */
    tfrt_rope(y, x, pos, n, heads, hd, 10000.0f, 1);
    CU_ASSERT(worst(y, ref, count, 2e-5, 0) <= 1.0);
    ref_rope(ref, x, pos, n, heads, hd, 10000.0, 0);
    CU_ASSERT(worst(y, ref, count, 2e-5, 0) > 1.0);
    tfrt_rope(x, x, pos, n, heads, hd, 10000.0f, 0);   /* in place */
    CHECK_CLOSE(x, ref, count, 2e-5, 0);
    free(x); free(y); free(ref);
}

/* T5's bucketing in double; the values tested keep clear of the points
 * where float32 and double logarithms could round to different buckets. */
static int ref_bucket(int rel, int bidirectional, int buckets, int max_distance)
{
    int b = 0;
    if (bidirectional) {
        buckets /= 2;
        b = rel > 0 ? buckets : 0;
        rel = abs(rel);
    } else {
        rel = rel < 0 ? -rel : 0;
    }
    int exact = buckets / 2;
    if (rel < exact)
        return b + rel;
    int large = exact + (int)(log((double)rel / exact) / log((double)max_distance / exact)
                              * (buckets - exact));
    return b + (large < buckets - 1 ? large : buckets - 1);
}

/* T5's defaults (32 buckets, max distance 128), worked out by hand.
 * Bidirectional: 16 buckets a side, keys after the query add 16; |rel| < 8
 * is its own bucket, larger ones get 8 + floor(log(|rel|/8) / log(16) * 8),
 * at most 15 (12: 8 + floor(1.17) = 9; 127: 8 + floor(7.98) = 15).
 * Causal: keys after the query are bucket 0; |rel| < 16 is its own bucket,
 * larger ones get 16 + floor(log(|rel|/16) / log(8) * 16), at most 31
 * (45: 16 + floor(7.96) = 23; 90: 16 + floor(13.29) = 29).  16, 32 and 64
 * sit exactly on bucket edges of the bidirectional case: there the float32
 * quotient is exact (both logarithms are multiples of float32 log 2). */
static const struct { int rel, bidirectional, bucket; } hand_buckets[] = {
    {-1, 1, 1}, {-7, 1, 7}, {-8, 1, 8}, {-9, 1, 8}, {-12, 1, 9}, {-16, 1, 10},
    {-31, 1, 11}, {-32, 1, 12}, {-64, 1, 14}, {-127, 1, 15}, {-200, 1, 15},
    {0, 1, 0}, {1, 1, 17}, {5, 1, 21}, {8, 1, 24}, {15, 1, 25}, {16, 1, 26},
    {20, 1, 26}, {32, 1, 28}, {63, 1, 29}, {64, 1, 30}, {100, 1, 31}, {128, 1, 31},
    {5, 0, 0}, {0, 0, 0}, {-1, 0, 1}, {-15, 0, 15}, {-16, 0, 16}, {-20, 0, 17},
    {-31, 0, 21}, {-32, 0, 21}, {-45, 0, 23}, {-64, 0, 26}, {-90, 0, 29},
    {-127, 0, 31}, {-128, 0, 31}, {-500, 0, 31},
};

static void test_relative_bucket(void)
{
    static const int rels[] = {-1000, -200, -128, -127, -33, -20, -17, -12, -9, -8, -7,
                               -1, 0, 1, 2, 7, 8, 9, 12, 17, 20, 33, 127, 128, 1000};
    for (size_t i = 0; i < sizeof hand_buckets / sizeof hand_buckets[0]; i++) {
        int got = tfrt_relative_bucket(hand_buckets[i].rel, hand_buckets[i].bidirectional, 32, 128);
        if (got != hand_buckets[i].bucket)
            fprintf(stderr, "\n  bucket(rel %d, bidirectional %d) = %d, expected %d\n",
                    hand_buckets[i].rel, hand_buckets[i].bidirectional, got, hand_buckets[i].bucket);
        CU_ASSERT_EQUAL(got, hand_buckets[i].bucket);
    }
    int ok = 1;
    for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++) {
        ok &= tfrt_relative_bucket(rels[i], 1, 32, 128) == ref_bucket(rels[i], 1, 32, 128);
        ok &= tfrt_relative_bucket(rels[i], 0, 32, 128) == ref_bucket(rels[i], 0, 32, 128);
        ok &= tfrt_relative_bucket(rels[i], 1, 8, 20) == ref_bucket(rels[i], 1, 8, 20);
    }
    CU_ASSERT(ok);
}

static void test_tanh(void)
{
    size_t n;
    float *x = activation_inputs(&n), *y = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        ref[i] = tanh(x[i]);
    tfrt_tanh(y, x, n);
    CHECK_CLOSE(y, ref, n, 1e-6, 1e-6);
    free(x); free(y); free(ref);
}

/* ---- attention ------------------------------------------------------------ */

/* Naive attention: materializes each query's scores, softmax in double;
 * the probabilities into probs [(h * n_q + i) * n_kv + j], 0 for a key the
 * query may not see. */
static void ref_attention(const TfrtAttention *a, double *out, double *probs, const float *q,
                          const float *k, const float *v)
{
    int hd = a->head_dim, group = a->heads / a->kv_heads;
    double *s = malloc(sizeof(double) * (size_t)(a->n_kv + 1));
    for (int i = 0; i < a->n_q; i++)
        for (int h = 0; h < a->heads; h++) {
            const float *qi = q + (size_t)i * a->q_stride + h * hd;
            int g = h / group, visible = 0;
            double max = -INFINITY, sum = 0;
            for (int j = 0; j < a->n_kv; j++) {
                int ok = j < a->kv_len && (!a->causal || j <= a->q_pos0 + i);
                s[j] = -INFINITY;
                if (!ok)
                    continue;
                double d = 0;
                for (int c = 0; c < hd; c++)
                    d += (double)qi[c] * k[(size_t)j * a->kv_stride + g * hd + c];
                s[j] = a->scale * d;
                if (a->rel_bias)
                    s[j] += a->rel_bias[ref_bucket(j - (a->q_pos0 + i), a->rel_bidirectional,
                                                   a->rel_buckets, a->rel_max_distance)
                                        * a->heads + h];
                max = s[j] > max ? s[j] : max;
                visible = 1;
            }
            double *o = out + (size_t)i * a->out_stride + h * hd;
            for (int c = 0; c < hd; c++)
                o[c] = 0;
            for (int j = 0; !visible && j < a->n_kv; j++)
                probs[((size_t)h * a->n_q + i) * a->n_kv + j] = 0;
            if (!visible)
                continue;
            for (int j = 0; j < a->n_kv; j++)
                sum += s[j] == -INFINITY ? 0 : exp(s[j] - max);
            for (int j = 0; j < a->n_kv; j++) {
                probs[((size_t)h * a->n_q + i) * a->n_kv + j] = 0;
                if (s[j] == -INFINITY)
                    continue;
                double p = exp(s[j] - max) / sum;
                probs[((size_t)h * a->n_q + i) * a->n_kv + j] = p;
                for (int c = 0; c < hd; c++)
                    o[c] += p * v[(size_t)j * a->kv_stride + g * hd + c];
            }
        }
    free(s);
}

/* tfrt_attention_set_recorder's callback: the test's buffer. */
static float *record_into(void *arg, const TfrtAttention *a)
{
    (void)a;
    return arg;
}

/* The recorded probabilities against the reference's (masked keys exactly 0). */
static int same_probs(const TfrtAttention *a, const float *rec, const double *probs, int isa, int p)
{
    size_t n = (size_t)a->heads * a->n_q * a->n_kv;
    for (size_t e = 0; e < n; e++)
        if (!(fabs(rec[e] - probs[e]) <= 2e-6) || (probs[e] == 0) != (rec[e] == 0)) {
            fprintf(stderr, "\n  recorded attention: isa %d, pool %d, element %zu: %g, want %g\n",
                    isa, p, e, rec[e], probs[e]);
            return 0;
        }
    return 1;
}

/* Runs tfrt_attention on q, k, v as column ranges of one fused (rows,
 * q + 2 kv columns) matrix, with out rows wider than needed, at every ISA
 * level and on a NULL pool and pools of 1, 2 and 3 threads; checks the
 * result and that the padding columns were left alone.  On the pools of 1
 * and 3 threads a recorder is set: the probabilities it gets must be the
 * reference's, and the output still the reference's. */
static void check_attention(TfrtAttention a, uint32_t seed)
{
    int qcols = a.heads * a.head_dim, kvcols = a.kv_heads * a.head_dim;
    int rows = a.n_q > a.n_kv ? a.n_q : a.n_kv, fused = qcols + 2 * kvcols;
    a.q_stride = a.kv_stride = fused;
    a.out_stride = qcols + 3;
    float *qkv = rand_floats((size_t)rows * fused, seed);
    float *out = malloc(sizeof(float) * (size_t)a.n_q * a.out_stride);
    double *ref = calloc((size_t)a.n_q * a.out_stride, sizeof(double));
    size_t nprob = (size_t)a.heads * a.n_q * a.n_kv;
    double *probs = malloc(sizeof(double) * nprob + 1);
    float *rec = malloc(sizeof(float) * nprob + 1);
    ref_attention(&a, ref, probs, qkv, qkv + qcols, qkv + qcols + kvcols);
    TfrtPool *pools[4] = {NULL};
    for (int t = 1; t <= 3; t++)
        CU_ASSERT_EQUAL_FATAL(tfrt_pool_create(&pools[t], t), TFRT_OK);
    int ok = 1, pad_ok = 1, rec_ok = 1;
    for (int isa = 0; isa <= (int)tfrt_cpu_detected_isa(); isa++)
        for (int p = 0; p < 4; p++) {
            tfrt_cpu_force_isa(isa);
            for (int i = 0; i < a.n_q * a.out_stride; i++)
                out[i] = 1234.0f;
            for (size_t e = 0; e < nprob; e++)
                rec[e] = NAN;
            if (p & 1)
                tfrt_attention_set_recorder(record_into, rec);
            tfrt_attention(pools[p], &a, out, qkv, qkv + qcols, qkv + qcols + kvcols);
            tfrt_attention_set_recorder(NULL, NULL);
            if ((p & 1) && rec_ok)
                rec_ok = same_probs(&a, rec, probs, isa, p);
            for (int i = 0; i < a.n_q; i++) {
                for (int c = 0; c < qcols; c++)
                    if (!(fabs(out[i * a.out_stride + c] - ref[i * a.out_stride + c]) <= 2e-5)) {
                        if (ok)
                            fprintf(stderr, "\n  attention: isa %d, pool %d, row %d col %d: "
                                    "%g, want %g\n", isa, p, i, c, out[i * a.out_stride + c],
                                    ref[i * a.out_stride + c]);
                        ok = 0;
                    }
                for (int c = qcols; c < a.out_stride; c++)
                    pad_ok &= out[i * a.out_stride + c] == 1234.0f;
            }
        }
    tfrt_cpu_force_isa(-1);
    for (int t = 1; t <= 3; t++)
        tfrt_pool_destroy(pools[t]);
    CU_ASSERT(ok);
    CU_ASSERT(pad_ok);
    CU_ASSERT(rec_ok);
    free(qkv); free(out); free(ref); free(probs); free(rec);
}

static TfrtAttention attn(int n_q, int n_kv, int heads, int kv_heads, int hd,
                          int causal, int q_pos0, int kv_len)
{
    TfrtAttention a = {0};
    a.n_q = n_q; a.n_kv = n_kv;
    a.heads = heads; a.kv_heads = kv_heads; a.head_dim = hd;
    a.scale = (float)(1.0 / sqrt(hd));
    a.causal = causal; a.q_pos0 = q_pos0; a.kv_len = kv_len;
    return a;
}

static void test_attention(void)
{
    check_attention(attn(7, 7, 4, 4, 8, 0, 0, 7), 11);       /* plain MHA */
    check_attention(attn(9, 9, 4, 2, 8, 1, 0, 9), 12);       /* GQA, causal */
    check_attention(attn(3, 8, 4, 1, 16, 1, 5, 8), 13);      /* MQA, q_pos0 5 */
    check_attention(attn(4, 10, 2, 2, 8, 0, 0, 6), 14);      /* kv_len < n_kv */
    check_attention(attn(2, 10, 2, 1, 8, 1, 3, 4), 15);      /* both limits */
    check_attention(attn(150, 150, 2, 1, 64, 1, 0, 150), 16); /* many blocks */
    check_attention(attn(1, 200, 3, 3, 5, 0, 0, 200), 17);   /* odd head_dim */
    /* Decoding steps: one query row at the end of a long cache. */
    check_attention(attn(1, 300, 8, 2, 16, 1, 299, 300), 24);   /* GQA, group 4 */
    check_attention(attn(1, 130, 12, 1, 8, 1, 129, 130), 25);   /* MQA: heads split */
    check_attention(attn(1, 70, 32, 2, 8, 1, 69, 70), 26);      /* group 16 > 8 */
    check_attention(attn(3, 90, 20, 4, 24, 1, 87, 90), 27);     /* a few rows */
    check_attention(attn(40, 40, 6, 3, 33, 1, 0, 40), 28);      /* row blocks, hd 33 */
    /* T5 relative-position bias, bidirectional and causal */
    float *bias = rand_floats(32 * 4, 18);
    TfrtAttention t5 = attn(9, 9, 4, 4, 8, 0, 0, 9);
    t5.rel_bias = bias;
    t5.rel_buckets = 32;
    t5.rel_max_distance = 128;
    t5.rel_bidirectional = 1;
    check_attention(t5, 19);
    t5.causal = 1;
    t5.rel_bidirectional = 0;
    t5.q_pos0 = 2;
    t5.n_q = 4;
    check_attention(t5, 20);
    /* Far keys: past max_distance, where the kernel clamps the distance,
     * and past its bucket table (max_distance 1000), where it computes. */
    TfrtAttention far = attn(3, 700, 4, 4, 4, 0, 350, 700);
    far.rel_bias = bias;
    far.rel_buckets = 32;
    far.rel_max_distance = 128;
    far.rel_bidirectional = 1;
    check_attention(far, 21);
    far.q_pos0 = 650;
    far.rel_max_distance = 1000;
    check_attention(far, 22);
    far.causal = 1;
    far.rel_bidirectional = 0;
    check_attention(far, 23);
    free(bias);
}

/* One query, keys k = [0, ln 3] (head_dim 1, scale 1): weights 1/4, 3/4
 * over values [4, 8] give 7. */
static void test_attention_by_hand(void)
{
    TfrtAttention a = attn(1, 2, 1, 1, 1, 0, 0, 2);
    a.scale = 1.0f;
    a.q_stride = a.kv_stride = a.out_stride = 1;
    const float q[1] = {1}, k[2] = {0, (float)log(3.0)}, v[2] = {4, 8};
    float out[1];
    tfrt_attention(NULL, &a, out, q, k, v);
    CU_ASSERT_DOUBLE_EQUAL(out[0], 7.0, 1e-5);
    a.causal = 1;                       /* query 0 sees key 0 only */
    tfrt_attention(NULL, &a, out, q, k, v);
    CU_ASSERT_DOUBLE_EQUAL(out[0], 4.0, 1e-6);
}

/* A query that may see no key (kv_len 0) gets exactly 0. */
static void test_attention_no_keys(void)
{
    TfrtAttention a = attn(2, 3, 2, 1, 4, 0, 0, 0);
    a.q_stride = 8; a.kv_stride = 4; a.out_stride = 8;
    float q[16], kv[12], out[16];
    for (int i = 0; i < 16; i++)
        q[i] = 1, out[i] = NAN;
    for (int i = 0; i < 12; i++)
        kv[i] = 1;
    tfrt_attention(NULL, &a, out, q, kv, kv);
    int zero = 1;
    for (int i = 0; i < 16; i++)
        zero &= out[i] == 0.0f;
    CU_ASSERT(zero);
}

void register_kernel_tests(void)
{
    static const struct { const char *name; void (*fn)(void); } tests[] = {
        {"matmul vs double reference", test_matmul},
        {"matmul by hand", test_matmul_by_hand},
        {"layernorm by hand", test_layernorm_by_hand},
        {"layernorm vs double reference", test_layernorm},
        {"rmsnorm", test_rmsnorm},
        {"softmax", test_softmax},
        {"gelu and gelu_tanh", test_gelu},
        {"relu and silu", test_relu_silu},
        {"elementwise", test_elementwise},
        {"slice_cols", test_slice_cols},
        {"embed", test_embed},
        {"positions", test_positions},
        {"sinusoidal", test_sinusoidal},
        {"tanh", test_tanh},
        {"rope, both pairings", test_rope},
        {"T5 relative buckets", test_relative_bucket},
        {"attention vs naive reference", test_attention},
        {"attention by hand", test_attention_by_hand},
        {"attention with no visible key", test_attention_no_keys},
    };
    CU_pSuite s = CU_add_suite("kernels", NULL, NULL);
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
}
