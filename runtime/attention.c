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
 * each score s_j before the softmax.  Rescaling once per block rather than
 * once per key keeps exponentials to about one per key, computed a block
 * at a time with the vector exp of vmath.h.
 *
 * Work is spread over the pool in units of (query rows, query heads that
 * share one key/value head): attention_body.h holds the unit's loop, built
 * once per ISA.  A unit loads each key and value row once for all its
 * heads, so a decoding step with grouped-query attention reads the cache
 * once per key/value head, not once per query head.  A step (one query
 * row) has kv_heads units, or more when heads of a group are split to
 * keep every thread busy; a prompt has a unit per block of query rows and
 * key/value head, the costlier late rows of a causal prompt handed out
 * first.
 */
#include "tfrt.h"
#include "cpu.h"
#include "vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    BLOCK = 64,                 /* keys per online-softmax block */
    MAX_UNIT_HEADS = 8,         /* query heads of one unit (stack buffers) */
    ROW_BLOCK = 16              /* query rows of a unit in a prompt */
};

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

typedef struct {
    const TfrtAttention *a;
    const RelBuckets *rel;      /* NULL without a relative-position bias */
    const float *q, *k, *v;
    float *out;
    float *rec;                 /* tfrt_attention_set_recorder's buffer, or NULL */
    int row_blocks, head_splits, split_heads;
    int isa;
} AttUnit;

/* ---- recording the probabilities ------------------------------------------------- */

/* Set before a run, read by tfrt_attention on the caller's thread. */
static TfrtAttentionRecorder recorder;
static void *recorder_arg;

void tfrt_attention_set_recorder(TfrtAttentionRecorder fn, void *arg)
{
    recorder = fn;
    recorder_arg = arg;
}

/* Row i of head h in the recording: the raw scores of the keys visited so
 * far, then (at the row's end) the probabilities. */
static float *rec_row(const AttUnit *u, int h, int i)
{
    const TfrtAttention *a = u->a;
    return u->rec + ((size_t)h * (size_t)a->n_q + (size_t)i) * (size_t)a->n_kv;
}

/* The scores s (nb,) of keys [j0, j0 + nb), before the softmax. */
static void rec_scores(const AttUnit *u, int h, int i, int j0, const float *s, int nb)
{
    memcpy(rec_row(u, h, i) + j0, s, sizeof(float) * (size_t)nb);
}

/* The row's scores to probabilities with the online softmax's final
 * maximum m and denominator l; keys at and past nkeys get 0. */
static void rec_finish(const AttUnit *u, int h, int i, int nkeys, float m, float l)
{
    float *row = rec_row(u, h, i);
    for (int j = 0; j < nkeys; j++)
        row[j] = tfrt_exp1(row[j] - m) / l;
    for (int j = nkeys; j < u->a->n_kv; j++)
        row[j] = 0.0f;
}

/* ---- plain C ------------------------------------------------------------------------ */

/* a (n,) . b (n,).  Eight partial sums: independent chains the compiler can
 * keep in one vector register without reassociating float adds. */
static float dot_c(const float *restrict a, const float *restrict b, int n)
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

/* y (n,) += p x (n,), blocked by 8 like dot: gcc -O2 only vectorizes loops
 * whose trip count it knows. */
static void axpy_c(float *restrict y, float p, const float *restrict x, int n)
{
    int d = 0;
    for (; d + 8 <= n; d += 8)
        for (int u = 0; u < 8; u++)
            y[d + u] += p * x[d + u];
    for (; d < n; d++)
        y[d] += p * x[d];
}

static void scale_c(float *y, float c, int n)
{
    for (int d = 0; d < n; d++)
        y[d] *= c;
}

static float exp_c(float *s, int n, float m)
{
    float sum = 0;
    for (int j = 0; j < n; j++) {
        s[j] = tfrt_exp1(s[j] - m);
        sum += s[j];
    }
    return sum;
}

#define ATT_SUFFIX c
#define ATT_TARGET
#define ATT_DOT dot_c
#define ATT_AXPY axpy_c
#define ATT_SCALE scale_c
#define ATT_EXP exp_c
#include "attention_body.h"
#undef ATT_SUFFIX
#undef ATT_TARGET
#undef ATT_DOT
#undef ATT_AXPY
#undef ATT_SCALE
#undef ATT_EXP

#if TFRT_X86

/* ---- AVX-512 -------------------------------------------------------------------- */

static inline TFRT_AVX512 __mmask16 tail16(int n)
{
    return (__mmask16)((1u << n) - 1);
}

static inline TFRT_AVX512 float dot_avx512(const float *a, const float *b, int n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail16(n - i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static inline TFRT_AVX512 void axpy_avx512(float *y, float p, const float *x, int n)
{
    __m512 pv = _mm512_set1_ps(p);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail16(n - i);
        __m512 r = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

static inline TFRT_AVX512 void scale_avx512(float *y, float c, int n)
{
    __m512 cv = _mm512_set1_ps(c);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail16(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(cv, _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static inline TFRT_AVX512 float exp_avx512_block(float *s, int n, float m)
{
    __m512 mv = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xffff : tail16(n - j);
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), mv));
        e = _mm512_maskz_mov_ps(k, e);
        _mm512_mask_storeu_ps(s + j, k, e);
        sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

#define ATT_SUFFIX avx512
#define ATT_TARGET TFRT_AVX512
#define ATT_DOT dot_avx512
#define ATT_AXPY axpy_avx512
#define ATT_SCALE scale_avx512
#define ATT_EXP exp_avx512_block
#include "attention_body.h"
#undef ATT_SUFFIX
#undef ATT_TARGET
#undef ATT_DOT
#undef ATT_AXPY
#undef ATT_SCALE
#undef ATT_EXP

/* ---- AVX2 ------------------------------------------------------------------------- */

static inline TFRT_AVX2 __m256i tail8(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline TFRT_AVX2 float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline TFRT_AVX2 float dot_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i < n; i += 8) {
        __m256i m = tail8(n - i);
        s0 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s0);
    }
    return hsum8(_mm256_add_ps(s0, s1));
}

static inline TFRT_AVX2 void axpy_avx2(float *y, float p, const float *x, int n)
{
    __m256 pv = _mm256_set1_ps(p);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = tail8(n - i);
        __m256 r = _mm256_fmadd_ps(pv, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m));
        _mm256_maskstore_ps(y + i, m, r);
    }
}

static inline TFRT_AVX2 void scale_avx2(float *y, float c, int n)
{
    __m256 cv = _mm256_set1_ps(c);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(cv, _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] *= c;
}

static inline TFRT_AVX2 float exp_avx2_block(float *s, int n, float m)
{
    __m256 mv = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
        _mm256_storeu_ps(s + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    float total = hsum8(sum);
    for (; j < n; j++) {
        s[j] = tfrt_exp1(s[j] - m);
        total += s[j];
    }
    return total;
}

#define ATT_SUFFIX avx2
#define ATT_TARGET TFRT_AVX2
#define ATT_DOT dot_avx2
#define ATT_AXPY axpy_avx2
#define ATT_SCALE scale_avx2
#define ATT_EXP exp_avx2_block
#include "attention_body.h"
#undef ATT_SUFFIX
#undef ATT_TARGET
#undef ATT_DOT
#undef ATT_AXPY
#undef ATT_SCALE
#undef ATT_EXP

#endif /* TFRT_X86 */

/* ---- spreading the units over the pool --------------------------------------------- */

/* Task t: row block (late blocks first), key/value head, head split. */
static void unit_task(void *arg, int t, int thread)
{
    const AttUnit *u = arg;
    const TfrtAttention *a = u->a;
    (void)thread;
    int per_block = a->kv_heads * u->head_splits;
    int block = u->row_blocks - 1 - t / per_block, rest = t % per_block;
    int g = rest / u->head_splits, split = rest % u->head_splits;
    int group = a->heads / a->kv_heads;
    int h0 = g * group + split * u->split_heads;
    int h1 = h0 + u->split_heads < (g + 1) * group ? h0 + u->split_heads : (g + 1) * group;
    int i0 = block * ROW_BLOCK, i1 = i0 + ROW_BLOCK < a->n_q ? i0 + ROW_BLOCK : a->n_q;
    if (h0 >= h1)
        return;
#if TFRT_X86
    if (u->isa == TFRT_ISA_AVX512) {
        attend_unit_avx512(u, i0, i1, h0, h1);
        return;
    }
    if (u->isa == TFRT_ISA_AVX2) {
        attend_unit_avx2(u, i0, i1, h0, h1);
        return;
    }
#endif
    attend_unit_c(u, i0, i1, h0, h1);
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
    check_args(a);
    if (a->n_q <= 0)
        return;
    RelBuckets buckets;
    if (a->rel_bias)
        rel_buckets_init(&buckets, a);
    int group = a->heads / a->kv_heads, threads = tfrt_pool_threads(pool);
    AttUnit u = {.a = a, .rel = a->rel_bias ? &buckets : NULL, .q = q, .k = k, .v = v,
                 .out = out, .isa = (int)tfrt_cpu_isa()};
    if (recorder)
        u.rec = recorder(recorder_arg, a);
    u.row_blocks = (a->n_q + ROW_BLOCK - 1) / ROW_BLOCK;
    /* Split a group's heads when there are too few units for the threads
     * (a step with few key/value heads), and to fit MAX_UNIT_HEADS. */
    int want = u.row_blocks * a->kv_heads < 2 * threads
             ? (2 * threads + a->kv_heads * u.row_blocks - 1) / (a->kv_heads * u.row_blocks) : 1;
    u.split_heads = (group + want - 1) / want;
    if (u.split_heads > MAX_UNIT_HEADS)
        u.split_heads = MAX_UNIT_HEADS;
    u.head_splits = (group + u.split_heads - 1) / u.split_heads;
    tfrt_pool_run(pool, unit_task, &u, u.row_blocks * a->kv_heads * u.head_splits);
}
