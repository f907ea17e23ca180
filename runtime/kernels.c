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

/* ---- activations ---------------------------------------------------------- */

/* gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): torch's default. */
void tfrt_gelu(float *y, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

/* GPT-2's "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void tfrt_gelu_tanh(float *y, const float *x, size_t count)
{
    const float k = 0.7978845608028654f;        /* sqrt(2/pi) */
    for (size_t i = 0; i < count; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

float tfrt_gelu1(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

float tfrt_gelu_tanh1(float x)
{
    const float k = 0.7978845608028654f;        /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

float tfrt_silu1(float x) { return x / (1.0f + expf(-x)); }

float tfrt_tanh1(float x) { return tanhf(x); }

void tfrt_relu(float *y, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* x * sigmoid(x) = x / (1 + e^-x); for x << 0, e^-x = inf gives -0. */
void tfrt_silu(float *y, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

void tfrt_tanh(float *y, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = tanhf(x[i]);
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

/* y (n, heads*hd) = x rotated pairwise by pos[i] * f_j.  f_j and the angle
 * are float32, as torch computes inv_freq = 1 / theta^(2j/hd) and
 * freqs = pos * inv_freq; the rotation follows a cos - b sin, a sin + b cos. */
void tfrt_rope(float *y, const float *x, const int32_t *pos, int n,
               int heads, int head_dim, float theta, int interleaved)
{
    int half = head_dim / 2;
    /* stride between the two members of a pair, and between pairs */
    int step = interleaved ? 1 : half, pair = interleaved ? 2 : 1;
    for (int i = 0; i < n; i++) {
        float p = (float)pos[i];
        for (int j = 0; j < half; j++) {
            float f = 1.0f / powf(theta, (float)(2 * j) / (float)head_dim);
            float angle = p * f, c = cosf(angle), s = sinf(angle);
            for (int h = 0; h < heads; h++) {
                size_t at = (size_t)i * heads * head_dim + (size_t)h * head_dim + (size_t)j * pair;
                float a = x[at], b = x[at + step];
                y[at] = a * c - b * s;
                y[at + step] = a * s + b * c;
            }
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
