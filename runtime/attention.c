/*
 * attention.c - fused multi-head attention with an online softmax.
 *
 * For each query row i and head h:
 *
 *   out[i,h] = sum_j softmax_j(scale * q[i,h] . k[j,g]) v[j,g],  g = h / group
 *
 * over the keys j < limit(i) that query i may see.  The scores are never
 * stored as a T x T matrix.  Keys are visited in blocks of BLOCK: the
 * block's scores go to a small stack buffer, then the running maximum m,
 * the running denominator l and the unnormalized output acc are updated:
 *
 *   m' = max(m, max_j s_j)
 *   l' = l e^(m - m') + sum_j e^(s_j - m')
 *   acc' = acc e^(m - m') + sum_j e^(s_j - m') v_j
 *
 * and out = acc / l at the end.  A relative-position bias (T5) is added to
 * each score s_j before the softmax.  Rescaling once per block rather than once
 * per key keeps expf calls to about one per key.  The inner loops run over
 * head_dim with restrict pointers so gcc -O2 vectorizes them.
 */
#include "tfrt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BLOCK = 64 };

/* a (n,) . b (n,).  Eight partial sums: independent chains the compiler can
 * keep in one vector register without reassociating float adds. */
static float dot(const float *restrict a, const float *restrict b, int n)
{
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++)
            s[u] += a[i + u] * b[i + u];
    for (; i < n; i++)
        s[0] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* acc (n,) = acc * c + p * v (n,).  Blocked by 8 like dot: gcc -O2 only
 * vectorizes loops whose trip count it knows. */
static void scale_add(float *restrict acc, float c, float p,
                      const float *restrict v, int n)
{
    int d = 0;
    for (; d + 8 <= n; d += 8)
        for (int u = 0; u < 8; u++)
            acc[d + u] = acc[d + u] * c + p * v[d + u];
    for (; d < n; d++)
        acc[d] = acc[d] * c + p * v[d];
}

/* x (n,) *= c */
static void scale_by(float *x, float c, int n)
{
    for (int d = 0; d < n; d++)
        x[d] *= c;
}

/* Keys query i may see: j < kv_len (and < n_kv), and j <= q_pos0 + i when
 * causal. */
static int key_limit(const TfrtAttention *a, int i)
{
    int limit = a->kv_len < a->n_kv ? a->kv_len : a->n_kv;
    if (a->causal && a->q_pos0 + i + 1 < limit)
        limit = a->q_pos0 + i + 1;
    return limit > 0 ? limit : 0;
}

/* The buckets of a relative-position bias, looked up rather than computed
 * for every score: tfrt_relative_bucket takes a logarithm, which costs as
 * much as the score's dot product.  Every |rel| >= max_distance falls in
 * the last bucket of its side, so with max_distance <= REL_SPAN clamping
 * rel to +-max_distance changes nothing and the table covers all of it;
 * larger max distances compute the buckets beyond REL_SPAN. */
enum { REL_SPAN = 512 };

typedef struct {
    const TfrtAttention *a;
    int span;                           /* the table holds |rel| <= span */
    int clamp;                          /* 1: rel may be clamped to span */
    int bucket[2 * REL_SPAN + 1];       /* bucket[rel + span] */
} RelBuckets;

static void rel_buckets_init(RelBuckets *t, const TfrtAttention *a)
{
    t->a = a;
    t->clamp = a->rel_max_distance <= REL_SPAN;
    t->span = t->clamp ? a->rel_max_distance : REL_SPAN;
    for (int rel = -t->span; rel <= t->span; rel++)
        t->bucket[rel + t->span] = tfrt_relative_bucket(rel, a->rel_bidirectional,
                                                        a->rel_buckets, a->rel_max_distance);
}

/* The bias of key j for the query at position qpos, head h (0 without a
 * table). */
static float rel_bias(const RelBuckets *t, int qpos, int j, int h)
{
    if (!t)
        return 0.0f;
    int rel = j - qpos, b;
    if (t->clamp)
        rel = rel < -t->span ? -t->span : rel > t->span ? t->span : rel;
    if (rel >= -t->span && rel <= t->span)
        b = t->bucket[rel + t->span];
    else
        b = tfrt_relative_bucket(rel, t->a->rel_bidirectional, t->a->rel_buckets,
                                 t->a->rel_max_distance);
    return t->a->rel_bias[(size_t)b * t->a->heads + h];
}

/* One query row (at position qpos) of head h: q (hd,), k and v (nkeys
 * rows, stride apart, hd columns each) -> out (hd,).  rel: the relative
 * position bias, or NULL. */
static void attend_row(const RelBuckets *rel, int qpos, int h, float *out,
                       const float *q, const float *k, const float *v,
                       int stride, int hd, float scale, int nkeys)
{
    float acc[TFRT_MAX_HEAD_DIM];
    float s[BLOCK];
    float m = -INFINITY, l = 0.0f;
    if (nkeys == 0) {
        memset(out, 0, sizeof(float) * (size_t)hd);
        return;
    }
    memset(acc, 0, sizeof(float) * (size_t)hd);
    for (int j0 = 0; j0 < nkeys; j0 += BLOCK) {
        int nb = nkeys - j0 < BLOCK ? nkeys - j0 : BLOCK;
        float bmax = -INFINITY;
        for (int j = 0; j < nb; j++) {
            s[j] = scale * dot(q, k + (size_t)(j0 + j) * stride, hd)
                 + rel_bias(rel, qpos, j0 + j, h);
            if (s[j] > bmax)
                bmax = s[j];
        }
        if (bmax > m) {
            float c = expf(m - bmax);   /* 0 on the first block */
            scale_by(acc, c, hd);
            l *= c;
            m = bmax;
        }
        for (int j = 0; j < nb; j++) {
            float p = expf(s[j] - m);
            l += p;
            scale_add(acc, 1.0f, p, v + (size_t)(j0 + j) * stride, hd);
        }
    }
    memcpy(out, acc, sizeof(float) * (size_t)hd);
    scale_by(out, 1.0f / l, hd);
}

/* The checks the compiler makes before emitting a call; failing one here
 * means a caller bug, and carrying on would overrun acc[]. */
static void check_args(const TfrtAttention *a)
{
    if (a->head_dim <= 0 || a->head_dim > TFRT_MAX_HEAD_DIM ||
        a->heads <= 0 || a->kv_heads <= 0 || a->heads % a->kv_heads != 0 ||
        (a->rel_bias && (a->rel_buckets < 2 || a->rel_max_distance < 1)))
        abort();
}

void tfrt_attention(TfrtPool *pool, const TfrtAttention *a, float *out,
                    const float *q, const float *k, const float *v)
{
    (void)pool;
    check_args(a);
    int hd = a->head_dim, group = a->heads / a->kv_heads;
    RelBuckets buckets;
    if (a->rel_bias)
        rel_buckets_init(&buckets, a);
    for (int i = 0; i < a->n_q; i++) {
        int nkeys = key_limit(a, i);
        for (int h = 0; h < a->heads; h++) {
            size_t kv_col = (size_t)(h / group) * hd;
            attend_row(a->rel_bias ? &buckets : NULL, a->q_pos0 + i, h,
                       out + (size_t)i * a->out_stride + (size_t)h * hd,
                       q + (size_t)i * a->q_stride + (size_t)h * hd,
                       k + kv_col, v + kv_col, a->kv_stride, hd, a->scale,
                       nkeys);
        }
    }
}
