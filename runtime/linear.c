/*
 * linear.c - tfrt_linear: a linear layer with its fused epilogue.
 *
 * The products go to BLAS, one call per weight part, written straight
 * into their columns of y; the epilogue (bias, activation, gated unit,
 * residual, rotary embedding, cache copy) then runs over y row by row,
 * while the rows are still in cache.
 */
#include "tfrt.h"

#include <cblas.h>
#include <string.h>

/* The first column of part p in z. */
static int part_column(const TfrtLinear *op, int p)
{
    int c = 0;
    for (int q = 0; q < p; q++)
        c += op->rows[q];
    return c;
}

/* dst (n, rows[p]), rows ld floats apart = x . W_p + b_p, or with
 * accumulate, dst += x . W_p + b_p */
static void part_product(const TfrtLinear *op, int p, float *dst, int ld, const float *x, int n,
                         int accumulate)
{
    int rows = op->rows[p];
    for (int i = 0; i < n; i++) {
        float *d = dst + (size_t)i * ld;
        if (accumulate && op->bias[p])
            tfrt_add(d, d, op->bias[p], (size_t)rows);
        else if (op->bias[p])
            memcpy(d, op->bias[p], sizeof(float) * (size_t)rows);
        else if (!accumulate)
            memset(d, 0, sizeof(float) * (size_t)rows);
    }
    if (op->in <= 0 || rows <= 0)
        return;
    if (op->layout == TFRT_W_OUT_IN) {
        if (n == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, op->in, 1.0f, op->w[p], op->ldw[p],
                        x, 1, 1.0f, dst, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, op->in, 1.0f, x,
                        op->x_stride, op->w[p], op->ldw[p], 1.0f, dst, ld);
    } else {
        if (n == 1)
            cblas_sgemv(CblasRowMajor, CblasTrans, op->in, rows, 1.0f, op->w[p], op->ldw[p],
                        x, 1, 1.0f, dst, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, rows, op->in, 1.0f, x,
                        op->x_stride, op->w[p], op->ldw[p], 1.0f, dst, ld);
    }
}

static void activate(int act, float *y, size_t count)
{
    switch (act) {
    case TFRT_ACT_GELU: tfrt_gelu(y, y, count); break;
    case TFRT_ACT_GELU_TANH: tfrt_gelu_tanh(y, y, count); break;
    case TFRT_ACT_RELU: tfrt_relu(y, y, count); break;
    case TFRT_ACT_SILU: tfrt_silu(y, y, count); break;
    case TFRT_ACT_TANH: tfrt_tanh(y, y, count); break;
    default: break;
    }
}

/* Row i of y after the products: activation, gate, residual, rope, cache. */
static void epilogue_row(const TfrtLinear *op, float *y, const float *gate_up, int i,
                         const int32_t *pos, int cache_row, int accumulated)
{
    activate(op->act, y, (size_t)(op->glu ? op->rows[0] : op->out));
    if (op->glu)
        tfrt_mul(y, y, gate_up, (size_t)op->out);
    if (op->residual && !accumulated)
        tfrt_add(y, y, op->residual + (size_t)i * op->residual_stride, (size_t)op->out);
    if (op->glu)
        return;
    for (int p = 0; p < op->parts; p++) {
        float *part = y + part_column(op, p);
        if (op->rope_heads[p] > 0)
            tfrt_rope(part, part, pos + i, 1, op->rope_heads[p], op->rows[p] / op->rope_heads[p],
                      op->rope_theta, op->rope_interleaved);
        if (op->cache[p])
            memcpy(op->cache[p] + (size_t)(cache_row + i) * op->rows[p], part,
                   sizeof(float) * (size_t)op->rows[p]);
    }
}

void tfrt_linear(TfrtPool *pool, const TfrtLinear *op, float *y, const float *x, int n,
                 const int32_t *pos, int cache_row, float *scratch)
{
    (void)pool;
    if (n <= 0)
        return;
    /* y holds the residual already: the products add onto it */
    int accumulate = op->residual == y;
    if (op->glu) {
        part_product(op, 0, y, op->y_stride, x, n, 0);
        part_product(op, 1, scratch, op->out, x, n, 0);
    } else {
        for (int p = 0; p < op->parts; p++)
            part_product(op, p, y + part_column(op, p), op->y_stride, x, n, accumulate);
    }
    for (int i = 0; i < n; i++)
        epilogue_row(op, y + (size_t)i * op->y_stride,
                     op->glu ? scratch + (size_t)i * op->out : NULL, i, pos, cache_row, accumulate);
}

/* One part, no epilogue but the bias, serial: the plain form. */
void tfrt_matmul(float *y, const float *x, const float *w, const float *bias,
                 int n, int in, int out, TfrtWeightLayout layout)
{
    TfrtLinear op = {.in = in, .out = out, .layout = layout, .parts = 1, .w = {w},
                     .rows = {out}, .ldw = {layout == TFRT_W_OUT_IN ? in : out},
                     .bias = {bias}, .x_stride = in, .y_stride = out};
    if (out > 0)
        tfrt_linear(NULL, &op, y, x, n, NULL, 0, NULL);
}
