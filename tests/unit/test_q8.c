/*
 * test_q8.c - int8 block quantization (runtime/q8.c) and the int8 matmul
 * kernels, against independent computations written from q8.h.
 *
 *   quantization   a weight's dequantized value is within half a step of
 *                  it, |w - s q| <= 0.501 s with s = max|w| / 127 of its
 *                  block (0.5 from rounding to nearest; 0.001 covers the
 *                  float rounding of w / s, at most 127 * 2^-24 steps); the
 *                  largest |w| of a block comes back as +-127 s; rows
 *                  quantized a few at a time give the same bytes as all at
 *                  once.  Activations: the same rule per token per block,
 *                  and the block's bias is -128 * sum q.
 *   kernels        every instruction set's kernel gives the same bits as
 *                  the C reference, which forms each block's integer sum
 *                  from the signed values directly: the SIMD kernels'
 *                  integer sums (vpdpbusd on q_w + 128 less 128 sum q_x;
 *                  maddubs with the sign trick) must be exact, and the
 *                  float steps after them are the same operations in the
 *                  same order.  Against the fp32 product in double,
 *                  y = sum_k w_k x_k, the bound derived from the scales:
 *                  with e_w = 0.501 s_w and e_x = 0.501 s_x of k's block,
 *                    |w x - (s_w q_w)(s_x q_x)| <= |w| e_x + (|x| + e_x) e_w
 *                  summed over k, plus the float rounding of the kernel's
 *                  sum over B blocks (a product of scales and one fma per
 *                  block): (B + 2) 2^-24 sum_k |s_w q_w s_x q_x|.
 *                  That bound leaves room for small errors in the integer
 *                  sums, so one more case pins them: values that are
 *                  integers times powers of two, with a +-127 in every
 *                  block, quantize exactly (s is the power of two), and
 *                  the kernel's result must then equal sum_k w_k x_k
 *                  exactly (every partial sum fits a float's 24 bits).
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

static uint32_t rng;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) / 8388608.0 - 1.0);
}

/* Values whose magnitude changes from block to block (x 1/4 .. 4), with a
 * zero block and an outlier, as trained weights have. */
static float *test_values(int rows, int in, uint32_t seed)
{
    rng = seed;
    float *v = malloc(sizeof(float) * (size_t)rows * in);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < in; k++) {
            int b = k / TFRT_Q8_BLOCK;
            float f = ldexpf(1.0f, (r + b) % 5 - 2);
            v[(size_t)r * in + k] = (r == 1 && b == 0) ? 0.0f : f * frand();
        }
    if (rows > 2 && in > 5)
        v[(size_t)2 * in + 5] = 30.0f;
    return v;
}

static float block_max(const float *v)
{
    float m = 0;
    for (int k = 0; k < TFRT_Q8_BLOCK; k++)
        m = fabsf(v[k]) > m ? fabsf(v[k]) : m;
    return m;
}

static void *aligned(size_t bytes, int fill)
{
    void *p = NULL;
    CU_ASSERT_FATAL(posix_memalign(&p, 64, bytes ? bytes : 64) == 0);
    memset(p, fill, bytes);
    return p;
}

static void *quantized(const float *w, int rows, int in)
{
    void *q = aligned(tfrt_q8_weight_bytes(rows, in), 0x5a);
    tfrt_q8_quantize_rows(q, rows, in, 0, rows, w);
    return q;
}

/* ---- quantization ----------------------------------------------------------------- */

/* A part cut from a quantized tensor (a saved file's, q8_file.h) holds the
 * bytes that quantizing its own rows and inputs gives, padding included,
 * wherever it starts in the tensor's panels and blocks. */
static void test_q8_copy_rows(void)
{
    enum { ROWS = 45, IN = 128 };
    static const int cuts[][4] = {   /* r0, rows, k0, in */
        {0, ROWS, 0, IN}, {3, 20, 32, 64}, {16, 29, 0, IN}, {40, 5, 96, 32}, {17, 1, 0, 32},
    };
    float *w = test_values(ROWS, IN, 5u);
    void *all = quantized(w, ROWS, IN);
    int ok = 1;
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        int r0 = cuts[c][0], rows = cuts[c][1], k0 = cuts[c][2], in = cuts[c][3];
        float *sub = malloc(sizeof(float) * (size_t)rows * in);
        for (int r = 0; r < rows; r++)
            memcpy(sub + (size_t)r * in, w + (size_t)(r0 + r) * IN + k0, sizeof(float) * (size_t)in);
        size_t bytes = tfrt_q8_weight_bytes(rows, in);
        void *want = quantized(sub, rows, in), *got = aligned(bytes, 0x77);
        tfrt_q8_copy_rows(got, rows, in, all, IN, r0, k0);
        ok &= memcmp(want, got, bytes) == 0;
        free(sub); free(want); free(got);
    }
    CU_ASSERT(ok);
    free(w); free(all);
}

static void test_q8_weights(void)
{
    static const int shapes[][2] = {{1, 32}, {16, 64}, {37, 96}, {5, 256}};
    int ok = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rows = shapes[s][0], in = shapes[s][1];
        float *w = test_values(rows, in, 11u + (uint32_t)s);
        size_t bytes = tfrt_q8_weight_bytes(rows, in);
        CU_ASSERT_FATAL(bytes == (size_t)((rows + 15) / 16) * (size_t)(in / 32) * 576);
        void *all = quantized(w, rows, in);
        void *parts = aligned(bytes, 0xc3);     /* different garbage, 3 rows at a time */
        for (int r0 = 0; r0 < rows; r0 += 3)
            tfrt_q8_quantize_rows(parts, rows, in, r0, rows - r0 < 3 ? rows - r0 : 3,
                                  w + (size_t)r0 * in);
        ok &= memcmp(all, parts, bytes) == 0;
        float *y = malloc(sizeof(float) * (size_t)in);
        for (int r = 0; r < rows; r++) {
            tfrt_q8_dequantize_row(y, all, rows, in, r);
            for (int b = 0; b < in / TFRT_Q8_BLOCK; b++) {
                const float *v = w + (size_t)r * in + b * TFRT_Q8_BLOCK;
                float amax = block_max(v), step = amax / 127.0f;
                for (int k = 0; k < TFRT_Q8_BLOCK; k++) {
                    float d = y[b * TFRT_Q8_BLOCK + k];
                    ok &= fabsf(d - v[k]) <= 0.501f * step;
                    if (fabsf(v[k]) == amax)
                        ok &= fabsf(d) == 127.0f * step;
                }
            }
        }
        free(y); free(w); free(all); free(parts);
    }
    CU_ASSERT(ok);
    CU_ASSERT(tfrt_q8_weight_bytes(4, 33) == 0);
    CU_ASSERT(tfrt_q8_weight_bytes(0, 32) == 0);
    CU_ASSERT(tfrt_q8_weight_bytes(1 << 30, 1 << 30) > 0 || sizeof(size_t) < 8);
}

static void test_q8_activations(void)
{
    int n = 5, in = 96;
    float *x = test_values(n, in, 99);
    size_t stride = tfrt_q8_act_row_bytes(in);
    CU_ASSERT(stride % 64 == 0 && stride >= (size_t)in + 8 * (size_t)(in / 32));
    char *xq = aligned(stride * (size_t)n, 0);
    tfrt_q8_quantize_act(xq, stride, x, (size_t)in, n, in);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        const char *row = xq + (size_t)i * stride;
        for (int b = 0; b < in / TFRT_Q8_BLOCK; b++) {
            const float *v = x + (size_t)i * in + b * TFRT_Q8_BLOCK;
            float amax = block_max(v), s = tfrt_q8_act_scale(row, in)[b];
            ok &= s == amax / 127.0f;
            int32_t sum = 0;
            for (int k = 0; k < TFRT_Q8_BLOCK; k++) {
                int q = tfrt_q8_act_q(row)[b * TFRT_Q8_BLOCK + k];
                sum += q;
                ok &= q >= -127 && q <= 127 && fabsf(s * (float)q - v[k]) <= 0.501f * s;
                if (fabsf(v[k]) == amax && amax > 0)
                    ok &= q == (v[k] > 0 ? 127 : -127);
            }
            ok &= tfrt_q8_act_bias(row, in)[b] == -128 * sum;
        }
    }
    /* every ISA's version writes the same bytes as the C one */
    char *other = aligned(stride * (size_t)n, 0);
    tfrt_cpu_force_isa(TFRT_ISA_C);
    tfrt_q8_quantize_act(xq, stride, x, (size_t)in, n, in);
    for (int isa = 1; isa <= (int)tfrt_cpu_detected_isa(); isa++) {
        tfrt_cpu_force_isa(isa);
        tfrt_q8_quantize_act(other, stride, x, (size_t)in, n, in);
        for (int i = 0; i < n; i++)
            ok &= memcmp(other + (size_t)i * stride, xq + (size_t)i * stride,
                         (size_t)in + 8 * (size_t)(in / TFRT_Q8_BLOCK)) == 0;
    }
    tfrt_cpu_force_isa(-1);
    CU_ASSERT(ok);
    free(x); free(xq); free(other);
}

/* ---- kernels ------------------------------------------------------------------------ */

/* |y - sum w x| against the bound of the header comment, for output c of
 * token i. */
static int within_bound(double y, const float *w, const float *x, const void *xrow, int in)
{
    double exact = 0, bound = 0, mag = 0;
    for (int b = 0; b < in / TFRT_Q8_BLOCK; b++) {
        const float *wb = w + b * TFRT_Q8_BLOCK, *xb = x + b * TFRT_Q8_BLOCK;
        double ew = 0.501 * (block_max(wb) / 127.0f);
        double ex = 0.501 * tfrt_q8_act_scale(xrow, in)[b];
        for (int k = 0; k < TFRT_Q8_BLOCK; k++) {
            exact += (double)wb[k] * xb[k];
            bound += fabs(wb[k]) * ex + (fabs(xb[k]) + ex) * ew;
            mag += (fabs(wb[k]) + ew) * (fabs(xb[k]) + ex);
        }
    }
    bound += (in / TFRT_Q8_BLOCK + 2) * ldexp(1.0, -24) * mag;
    return fabs(y - exact) <= bound;
}

static void test_q8_matmul(void)
{
    static const int shapes[][2] = {{1, 32}, {16, 96}, {37, 64}, {100, 256}, {48, 2048}};
    static const int ns[] = {1, 2, 3, 4, 5, 9, 17};
    int exact = 1, bounded = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rows = shapes[s][0], in = shapes[s][1], n_max = 17;
        float *w = test_values(rows, in, 7u + (uint32_t)s);
        float *x = test_values(n_max, in, 1000u + (uint32_t)s);
        void *q = quantized(w, rows, in);
        size_t stride = tfrt_q8_act_row_bytes(in);
        char *xq = aligned(stride * (size_t)n_max, 0);
        tfrt_q8_quantize_act(xq, stride, x, (size_t)in, n_max, in);
        size_t ld = (size_t)rows + 3;
        float *ref = malloc(sizeof(float) * ld * (size_t)n_max);
        float *got = malloc(sizeof(float) * ld * (size_t)n_max);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            int n = ns[k];
            /* whole part, and from the second panel on (if any) */
            for (int c0 = 0; c0 < rows; c0 += 16 * ((rows + 31) / 32)) {
                int cols = rows - c0;
                tfrt_q8_matmul_c(ref, ld, q, rows, in, c0, cols, xq, stride, n);
                for (int i = 0; i < n; i++)
                    for (int c = 0; c < cols; c++)
                        bounded &= within_bound(ref[(size_t)i * ld + c],
                                                w + (size_t)(c0 + c) * in, x + (size_t)i * in,
                                                xq + (size_t)i * stride, in);
                for (int isa = 0; isa <= (int)tfrt_cpu_detected_isa(); isa++) {
                    for (size_t e = 0; e < ld * (size_t)n; e++)
                        got[e] = 1234.0f;
                    tfrt_q8_matmul(isa, got, ld, q, rows, in, c0, cols, xq, stride, n);
                    for (int i = 0; i < n; i++) {
                        int same = memcmp(got + (size_t)i * ld, ref + (size_t)i * ld,
                                          sizeof(float) * (size_t)cols) == 0;
                        for (size_t c = (size_t)cols; c < ld; c++)
                            same &= got[(size_t)i * ld + c] == 1234.0f;
                        if (!same)
                            fprintf(stderr, "\n  q8 matmul %s: rows %d in %d n %d c0 %d row %d "
                                    "differs from C\n", tfrt_isa_name((TfrtIsa)isa), rows, in,
                                    n, c0, i);
                        exact &= same;
                    }
                }
            }
        }
        free(w); free(x); free(q); free(xq); free(ref); free(got);
    }
    CU_ASSERT(exact);
    CU_ASSERT(bounded);
}

/* Rows of integers in [-127, 127] times 2^(block % 3 - 1) (times 1 when
 * flat), each block holding a +-127: quantization is exact. */
static float *exact_values(int rows, int in, int flat, uint32_t seed)
{
    rng = seed;
    float *v = malloc(sizeof(float) * (size_t)rows * in);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < in; k++) {
            int b = k / TFRT_Q8_BLOCK, q = (int)lrintf(127.0f * frand());
            if (k % TFRT_Q8_BLOCK == (r + b) % TFRT_Q8_BLOCK)
                q = (r + k) % 2 ? 127 : -127;
            v[(size_t)r * in + k] = ldexpf((float)q, flat ? 0 : b % 3 - 1);
        }
    return v;
}

static void test_q8_exact(void)
{
    int rows = 37, in = 128, n = 6, ok = 1;
    float *w = exact_values(rows, in, 0, 5), *x = exact_values(n, in, 1, 6);
    void *q = quantized(w, rows, in);
    size_t stride = tfrt_q8_act_row_bytes(in);
    char *xq = aligned(stride * (size_t)n, 0);
    tfrt_q8_quantize_act(xq, stride, x, (size_t)in, n, in);
    float *y = malloc(sizeof(float) * (size_t)rows * n);
    for (int isa = 0; isa <= (int)tfrt_cpu_detected_isa(); isa++) {
        tfrt_q8_matmul(isa, y, (size_t)rows, q, rows, in, 0, rows, xq, stride, n);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < rows; c++) {
                double want = 0;
                for (int k = 0; k < in; k++)
                    want += (double)w[(size_t)c * in + k] * x[(size_t)i * in + k];
                ok &= y[(size_t)i * rows + c] == want;
            }
    }
    CU_ASSERT(ok);
    free(w); free(x); free(q); free(xq); free(y);
}

void register_q8_tests(void)
{
    static const struct { const char *name; void (*fn)(void); } tests[] = {
        {"q8: weights quantized within half a step, streamed", test_q8_weights},
        {"q8: a part copied out of a quantized tensor = quantized alone", test_q8_copy_rows},
        {"q8: activations per token per block, every ISA", test_q8_activations},
        {"q8: matmul, every ISA = C reference, C within the scales' bound", test_q8_matmul},
        {"q8: matmul exact on exactly quantized values", test_q8_exact},
    };
    CU_pSuite s = CU_add_suite("q8", NULL, NULL);
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
}
