/*
 * kernels.c - the float32 kernels of tfrt.h, except attention.
 *
 * Plain loops over rows that the compiler vectorizes well enough, since
 * these kernels are memory-bound (linear layers are in linear.c).  Reductions (norms, softmax sums) accumulate in double so
 * that results match PyTorch to about 1e-6 relative even for wide rows.
 * The unit tests compare each kernel with a naive double-precision
 * reference (tests/unit/test_kernels.c).
 */
#include "tfrt.h"
#include "kernels_internal.h"

#include <math.h>
#include <string.h>

/* ---- normalization -------------------------------------------------------- */

/* y (n,dim) = (x - mean) / sqrt(var + eps) * gamma + beta.  Two passes in
 * double: the one-pass E[x^2] - E[x]^2 loses digits when |mean| >> std. */
void tfrt_layernorm(float *y, const float *x, const float *gamma,
                    const float *beta, int n, int dim, float eps)
{
    for (int i = 0; i < n; i++) {
        const float *xr = x + (size_t)i * dim;
        float *yr = y + (size_t)i * dim;
        double mean = 0, var = 0;
        for (int j = 0; j < dim; j++)
            mean += xr[j];
        mean /= dim;
        for (int j = 0; j < dim; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        var /= dim;                     /* biased, as PyTorch */
        double inv = 1.0 / sqrt(var + eps);
        for (int j = 0; j < dim; j++) {
            double v = (xr[j] - mean) * inv * gamma[j];
            yr[j] = (float)(beta ? v + beta[j] : v);
        }
    }
}

/* y (n,dim) = x / sqrt(mean(x^2) + eps) * gamma. */
void tfrt_rmsnorm(float *y, const float *x, const float *gamma,
                  int n, int dim, float eps)
{
    for (int i = 0; i < n; i++) {
        const float *xr = x + (size_t)i * dim;
        float *yr = y + (size_t)i * dim;
        double ss = 0;
        for (int j = 0; j < dim; j++)
            ss += (double)xr[j] * xr[j];
        double inv = 1.0 / sqrt(ss / dim + eps);
        for (int j = 0; j < dim; j++)
            yr[j] = (float)(xr[j] * inv * gamma[j]);
    }
}

/* x (n,dim) row-wise softmax in place.  Subtracting the row max keeps expf
 * in range; a row of all -inf (fully masked) becomes NaN, as in PyTorch. */
void tfrt_softmax(float *x, int n, int dim)
{
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * dim;
        float max = -INFINITY;
        for (int j = 0; j < dim; j++)
            if (r[j] > max)
                max = r[j];
        double sum = 0;
        for (int j = 0; j < dim; j++) {
            r[j] = expf(r[j] - max);
            sum += r[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < dim; j++)
            r[j] *= inv;
    }
}

/* ---- elementwise ---------------------------------------------------------- */

void tfrt_add(float *y, const float *a, const float *b, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = a[i] + b[i];
}

void tfrt_mul(float *y, const float *a, const float *b, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = a[i] * b[i];
}

/* y (n,dim) = x (n,dim) + row (dim,) */
void tfrt_add_row(float *y, const float *x, const float *row, int n, int dim)
{
    for (int i = 0; i < n; i++)
        tfrt_add(y + (size_t)i * dim, x + (size_t)i * dim, row, (size_t)dim);
}

/* y (n,dim) = x (n,dim) * row (dim,) */
void tfrt_mul_row(float *y, const float *x, const float *row, int n, int dim)
{
    for (int i = 0; i < n; i++)
        tfrt_mul(y + (size_t)i * dim, x + (size_t)i * dim, row, (size_t)dim);
}

void tfrt_scale(float *y, const float *x, float s, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = x[i] * s;
}

/* y (n,cols) = x (n,x_cols)[:, first:first+cols] */
void tfrt_slice_cols(float *y, const float *x, int n, int x_cols,
                     int first, int cols)
{
    for (int i = 0; i < n; i++)
        memmove(y + (size_t)i * cols, x + (size_t)i * x_cols + first,
                sizeof(float) * (size_t)cols);
}

/* ---- embeddings and positions ---------------------------------------------- */

/* y (n,dim) = table (vocab,dim)[ids (n,)].  Ids come from the user, so all
 * are checked before any row is copied. */
int tfrt_embed(float *y, const float *table, const int32_t *ids,
               int n, int vocab, int dim)
{
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return TFRT_ERR_TOKEN;
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * dim, table + (size_t)ids[i] * dim,
               sizeof(float) * (size_t)dim);
    return TFRT_OK;
}

/* Row o of a table packed as one part (runtime/packed.c): element k is in
 * panel o / P at k * P + o % P, P = TFRT_PACK_PANEL. */
int tfrt_embed_packed(float *y, const float *table, const float *packed, const int32_t *ids,
                      int n, int vocab, int dim)
{
    if (!packed)
        return tfrt_embed(y, table, ids, n, vocab, dim);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return TFRT_ERR_TOKEN;
    for (int i = 0; i < n; i++) {
        const float *panel = packed + (size_t)(ids[i] / TFRT_PACK_PANEL) * dim * TFRT_PACK_PANEL;
        int c = ids[i] % TFRT_PACK_PANEL;
        float *yi = y + (size_t)i * dim;
        for (int k = 0; k < dim; k++)
            yi[k] = panel[(size_t)k * TFRT_PACK_PANEL + c];
    }
    return TFRT_OK;
}

/* pos (n,) = start .. start+n-1 */
void tfrt_positions(int32_t *pos, int start, int n)
{
    for (int i = 0; i < n; i++)
        pos[i] = start + i;
}

/* y (n,dim): y[i][2j] = sin(p w_j), y[i][2j+1] = cos(p w_j), with
 * w_j = exp(-2j ln(10000) / dim), p = pos[i].  The arithmetic is float32
 * in the order of the PyTorch tutorial's PositionalEncoding, so that a
 * model trained with that module sees the same table. */
void tfrt_sinusoidal(float *y, const int32_t *pos, int n, int dim)
{
    const float c = (float)(-log(10000.0) / dim);
    for (int i = 0; i < n; i++) {
        float p = (float)pos[i];
        float *r = y + (size_t)i * dim;
        for (int j = 0; 2 * j + 1 < dim; j++) {
            float w = expf((float)(2 * j) * c);
            r[2 * j] = sinf(p * w);
            r[2 * j + 1] = cosf(p * w);
        }
    }
}

/* ---- rotary position embedding ---------------------------------------------- */

/* Angles of pairs [j0, j0+count) at position pos.  f_j and the angle are
 * float32, as torch computes inv_freq = 1 / theta^(2j/hd) and freqs =
 * pos * inv_freq. */
void tfrt_rope_angles(float *cos_t, float *sin_t, int32_t pos, int j0, int count,
                      int head_dim, float theta)
{
    float p = (float)pos;
    for (int j = j0; j < j0 + count; j++) {
        float f = 1.0f / powf(theta, (float)(2 * j) / (float)head_dim);
        float angle = p * f;
        cos_t[j - j0] = cosf(angle);
        sin_t[j - j0] = sinf(angle);
    }
}

/* Rotates pairs [j0, j0+count) of `heads` heads of one row in place:
 * (a, b) -> (a cos - b sin, a sin + b cos). */
void tfrt_rope_heads(float *row, int heads, int head_dim, int j0, int count,
                     const float *cos_t, const float *sin_t, int interleaved)
{
    /* stride between the two members of a pair, and between pairs */
    int step = interleaved ? 1 : head_dim / 2, pair = interleaved ? 2 : 1;
    for (int h = 0; h < heads; h++)
        for (int j = j0; j < j0 + count; j++) {
            float *at = row + (size_t)h * head_dim + (size_t)j * pair;
            float a = at[0], b = at[step], c = cos_t[j - j0], s = sin_t[j - j0];
            at[0] = a * c - b * s;
            at[step] = a * s + b * c;
        }
}

/* y (n, heads*hd) = x rotated pairwise by pos[i] * f_j, a row at a time,
 * the angles in blocks of TFRT_ROPE_BLOCK pairs. */
void tfrt_rope(float *y, const float *x, const int32_t *pos, int n,
               int heads, int head_dim, float theta, int interleaved)
{
    float c[TFRT_ROPE_BLOCK], s[TFRT_ROPE_BLOCK];
    size_t width = (size_t)heads * head_dim;
    for (int i = 0; i < n; i++) {
        float *row = y + (size_t)i * width;
        if (row != x + (size_t)i * width)
            memmove(row, x + (size_t)i * width, sizeof(float) * width);
        for (int j0 = 0; j0 < head_dim / 2; j0 += TFRT_ROPE_BLOCK) {
            int count = head_dim / 2 - j0 < TFRT_ROPE_BLOCK ? head_dim / 2 - j0 : TFRT_ROPE_BLOCK;
            tfrt_rope_angles(c, s, pos[i], j0, count, head_dim, theta);
            tfrt_rope_heads(row, heads, head_dim, j0, count, c, s, interleaved);
        }
    }
}

/* T5's _relative_position_bucket, with its float32 logarithm. */
int tfrt_relative_bucket(int rel, int bidirectional, int buckets, int max_distance)
{
    int bucket = 0;
    if (bidirectional) {
        buckets /= 2;
        if (rel > 0)
            bucket += buckets;
        rel = rel < 0 ? -rel : rel;
    } else {
        rel = rel < 0 ? -rel : 0;
    }
    int max_exact = buckets / 2;
    if (rel < max_exact)
        return bucket + rel;
    float ratio = logf((float)rel / (float)max_exact)
                / (float)log((double)max_distance / max_exact);
    int large = max_exact + (int)(ratio * (float)(buckets - max_exact));
    return bucket + (large < buckets - 1 ? large : buckets - 1);
}
