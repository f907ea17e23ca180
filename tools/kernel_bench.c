/*
 * kernel_bench.c - throughput of the runtime's kernels, each beside a
 * reference measured in the same run.
 *
 *   kernel_bench [gemv] [gemm] [model] [pool] [-t 1,2] [-r REPS]
 *
 * gemv   tfrt_linear at n = 1 (GB/s of weights) on Llama-110M and GPT-2
 *        shapes, weights cycled through a 1 GiB set so that they come from
 *        DRAM, beside the DRAM read bandwidth of a plain AVX sum over the
 *        same set (measured right before, every repetition) and OpenBLAS
 *        sgemv on one thread.
 * gemm   tfrt_linear at n = 64, 128, 256 (GFLOPS), and one OpenBLAS sgemm
 *        call on the whole matrix with OpenBLAS's own threads.
 * model  the kernel calls of a Llama-110M prefill of 128 tokens and of a
 *        GPT-2 small forward pass without cache at T = 64 and 256
 *        (random weights; norms, linear layers, attention, logits), as the
 *        generated code would make them: tokens/s and ms; and Llama-110M
 *        decoding steps at positions 128..159 from a filled cache.
 * pool   the cost of handing a job to the pool's threads.
 * int8   tfrt_linear with int8 weights (q8 parts) on the Llama-110M ops,
 *        at n = 1 beside the DRAM bound and at n = 128, for each ISA
 *        level (-isa avx512,avx2,c: the VNNI, AVX2 and C kernels; all
 *        that the CPU has by default), and their sums over a token.
 *
 * Every figure is the median of REPS (default 9) repetitions; the machine
 * may be shared, so compare figures of one run, and ratios.  OpenBLAS's
 * core (kernel family) is printed: OPENBLAS_CORETYPE changes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "tfrt.h"
#include "cpu.h"
#include "q8.h"

#if TFRT_X86
#include <immintrin.h>
#endif

enum { MAX_REPS = 99 };
static int reps = 9;
static int thread_counts[4] = {1, 2}, n_thread_counts = 2;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *fill(size_t n, uint32_t seed)
{
    float *p = malloc(sizeof(float) * n);
    if (!p) {
        fprintf(stderr, "kernel_bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)((seed >> 8) / 8388608.0 - 1.0) * 0.05f;
    }
    return p;
}

/* ---- DRAM read bandwidth ---------------------------------------------------------- */

#if TFRT_X86
/* Four streams a quarter of the range apart, each prefetched 2 KiB ahead:
 * the best plain read this file found, so that ratios against it are not
 * flattered by a weak reference. */
static TFRT_AVX512 float sum_avx512(const float *p, size_t n)
{
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
    size_t q = n / 4 / 16 * 16, i = 0;
    const float *p1 = p + q, *p2 = p + 2 * q, *p3 = p + 3 * q;
    for (; i + 16 <= q; i += 16) {
        if (i + 512 < q) {
            _mm_prefetch((const char *)(p + i + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(p1 + i + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(p2 + i + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(p3 + i + 512), _MM_HINT_T0);
        }
        a = _mm512_add_ps(a, _mm512_loadu_ps(p + i));
        b = _mm512_add_ps(b, _mm512_loadu_ps(p1 + i));
        c = _mm512_add_ps(c, _mm512_loadu_ps(p2 + i));
        d = _mm512_add_ps(d, _mm512_loadu_ps(p3 + i));
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
    for (i = 4 * q; i < n; i++)
        s += p[i];
    return s;
}

static TFRT_AVX2 float sum_avx2(const float *p, size_t n)
{
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(p + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8));
        c = _mm256_add_ps(c, _mm256_loadu_ps(p + i + 16));
        d = _mm256_add_ps(d, _mm256_loadu_ps(p + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    float s = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
    for (; i < n; i++)
        s += p[i];
    return s;
}
#endif

static float sum_floats(const float *p, size_t n)
{
#if TFRT_X86
    if (tfrt_cpu_isa() == TFRT_ISA_AVX512)
        return sum_avx512(p, n);
    if (tfrt_cpu_isa() == TFRT_ISA_AVX2)
        return sum_avx2(p, n);
#endif
    float s[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int u = 0; u < 16; u++)
            s[u] += p[i + u];
    for (; i < n; i++)
        s[0] += p[i];
    float t = 0;
    for (int u = 0; u < 16; u++)
        t += s[u];
    return t;
}

typedef struct {
    const float *p;
    size_t n;
    int parts;
    float sum[64];
} SumJob;

static void sum_task(void *arg, int task, int thread)
{
    SumJob *j = arg;
    (void)thread;
    size_t per = j->n / (size_t)j->parts;
    j->sum[task] = sum_floats(j->p + per * (size_t)task, per);
}

/* GB/s of reading n floats at p with the pool's threads. */
static double read_bandwidth(TfrtPool *pool, const float *p, size_t n)
{
    SumJob j = {.p = p, .n = n, .parts = 8 * tfrt_pool_threads(pool)};
    double t = now();
    tfrt_pool_run(pool, sum_task, &j, j.parts);
    t = now() - t;
    volatile float keep = j.sum[0];
    (void)keep;
    return 4.0 * (double)n / t / 1e9;
}

/* ---- GEMV -------------------------------------------------------------------------- */

static const size_t SET_FLOATS = (size_t)1 << 28;          /* 1 GiB */

typedef struct {
    const char *name;
    int in, out, layout;
} Shape;

static void bench_gemv(void)
{
    static const Shape shapes[] = {
        {"llama 768x768", 768, 768, TFRT_W_OUT_IN},
        {"llama w1 2048x768", 768, 2048, TFRT_W_OUT_IN},
        {"llama w2 768x2048", 2048, 768, TFRT_W_OUT_IN},
        {"llama cls 32000x768", 768, 32000, TFRT_W_OUT_IN},
        {"gpt2 c_attn 768->2304", 768, 2304, TFRT_W_IN_OUT},
        {"gpt2 c_fc 768->3072", 768, 3072, TFRT_W_IN_OUT},
        {"gpt2 proj 3072->768", 3072, 768, TFRT_W_IN_OUT},
    };
    float *set = fill(SET_FLOATS, 1);
    float *x = fill(4096, 2), *y = fill(32000, 3);
    printf("\nGEMV, n = 1: GB/s of weights streamed from a 1 GiB set (medians of %d)\n", reps);
    printf("%-24s %3s %9s %9s %6s %9s %6s %11s\n", "shape", "thr", "tfrt", "DRAM", "ratio",
           "packed", "ratio", "sgemv 1T");
    openblas_set_num_threads(1);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ti = 0; ti < n_thread_counts; ti++) {
            const Shape *sh = &shapes[s];
            TfrtPool *pool;
            if (tfrt_pool_create(&pool, thread_counts[ti]) != TFRT_OK)
                exit(1);
            size_t size = (size_t)sh->in * sh->out, copies = SET_FLOATS / size, next = 0;
            int calls = copies < 64 ? (int)copies : 64;
            double gb = 4.0 * (double)size * calls / 1e9;
            double ours[MAX_REPS], dram[MAX_REPS], ratio[MAX_REPS], blas[MAX_REPS];
            double packed[MAX_REPS], pratio[MAX_REPS];
            for (int r = 0; r < reps; r++) {
                dram[r] = read_bandwidth(pool, set, SET_FLOATS);
                double t = now();
                for (int c = 0; c < calls; c++) {
                    const float *w = set + size * (next++ % copies);
                    TfrtLinear op = {.in = sh->in, .out = sh->out, .layout = sh->layout,
                                     .parts = 1, .w = {w}, .rows = {sh->out},
                                     .ldw = {sh->layout == TFRT_W_OUT_IN ? sh->in : sh->out},
                                     .x_stride = sh->in, .y_stride = sh->out};
                    tfrt_linear(pool, &op, y, x, 1, NULL, 0, NULL);
                }
                ours[r] = gb / (now() - t);
                ratio[r] = ours[r] / dram[r];
                /* Timing only reads memory, so each copy in the set stands
                 * in for its packed form: the sizes match, every shape's
                 * out being a multiple of 32. */
                t = now();
                for (int c = 0; c < calls; c++) {
                    const float *w = set + size * (next++ % copies);
                    TfrtLinear op = {.in = sh->in, .out = sh->out, .layout = sh->layout,
                                     .parts = 1, .w = {w}, .rows = {sh->out},
                                     .ldw = {sh->layout == TFRT_W_OUT_IN ? sh->in : sh->out},
                                     .x_stride = sh->in, .y_stride = sh->out, .packed = {w}};
                    tfrt_linear(pool, &op, y, x, 1, NULL, 0, NULL);
                }
                packed[r] = gb / (now() - t);
                pratio[r] = packed[r] / dram[r];
                t = now();
                for (int c = 0; c < calls; c++) {
                    const float *w = set + size * (next++ % copies);
                    if (sh->layout == TFRT_W_OUT_IN)
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, sh->out, sh->in, 1.0f, w,
                                    sh->in, x, 1, 0.0f, y, 1);
                    else
                        cblas_sgemv(CblasRowMajor, CblasTrans, sh->in, sh->out, 1.0f, w,
                                    sh->out, x, 1, 0.0f, y, 1);
                }
                blas[r] = gb / (now() - t);
            }
            printf("%-24s %3d %9.1f %9.1f %6.2f %9.1f %6.2f %11.1f\n", sh->name,
                   thread_counts[ti], median(ours, reps), median(dram, reps), median(ratio, reps),
                   median(packed, reps), median(pratio, reps), median(blas, reps));
            fflush(stdout);
            tfrt_pool_destroy(pool);
        }
    free(set); free(x); free(y);
}

/* ---- GEMM ---------------------------------------------------------------------------- */

static void bench_gemm(void)
{
    static const Shape shapes[] = {
        {"768x768", 768, 768, TFRT_W_OUT_IN},
        {"2048x768 (w1)", 768, 2048, TFRT_W_OUT_IN},
        {"768x2048 (w2)", 2048, 768, TFRT_W_OUT_IN},
        {"768->3072 (c_fc)", 768, 3072, TFRT_W_IN_OUT},
    };
    static const int ns[] = {64, 128, 256};
    printf("\nGEMM: GFLOPS of tfrt_linear (sgemm per column block on the pool; packed: own\n"
           "GEMM on packed weights) and of one sgemm call with OpenBLAS's own threads\n"
           "(medians of %d)\n", reps);
    printf("%-18s %4s %3s %9s %9s %12s\n", "shape", "n", "thr", "tfrt", "packed", "sgemm");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            for (int ti = 0; ti < n_thread_counts; ti++) {
                const Shape *sh = &shapes[s];
                int n = ns[k], threads = thread_counts[ti];
                float *w = fill((size_t)sh->in * sh->out, 4), *x = fill((size_t)n * sh->in, 5);
                float *y = fill((size_t)n * sh->out, 6);
                TfrtPool *pool;
                if (tfrt_pool_create(&pool, threads) != TFRT_OK)
                    exit(1);
                TfrtLinear op = {.in = sh->in, .out = sh->out, .layout = sh->layout,
                                 .parts = 1, .w = {w}, .rows = {sh->out},
                                 .ldw = {sh->layout == TFRT_W_OUT_IN ? sh->in : sh->out},
                                 .x_stride = sh->in, .y_stride = sh->out};
                TfrtLinear pk = op;
                void *buf = NULL;
                if (posix_memalign(&buf, 64, sizeof(float) * tfrt_linear_packed_floats(&pk)))
                    exit(1);
                tfrt_linear_pack(&pk, buf);
                double flop = 2.0 * n * sh->in * sh->out, ours[MAX_REPS], blas[MAX_REPS];
                double packed[MAX_REPS];
                int calls = 5;
                for (int r = 0; r < reps; r++) {
                    double t = now();
                    for (int c = 0; c < calls; c++)
                        tfrt_linear(pool, &op, y, x, n, NULL, 0, NULL);
                    ours[r] = flop * calls / (now() - t) / 1e9;
                    t = now();
                    for (int c = 0; c < calls; c++)
                        tfrt_linear(pool, &pk, y, x, n, NULL, 0, NULL);
                    packed[r] = flop * calls / (now() - t) / 1e9;
                    openblas_set_num_threads(threads);
                    t = now();
                    for (int c = 0; c < calls; c++)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans,
                                    sh->layout == TFRT_W_OUT_IN ? CblasTrans : CblasNoTrans, n,
                                    sh->out, sh->in, 1.0f, x, sh->in, w, op.ldw[0], 0.0f, y,
                                    sh->out);
                    blas[r] = flop * calls / (now() - t) / 1e9;
                    openblas_set_num_threads(1);
                }
                printf("%-18s %4d %3d %9.1f %9.1f %12.1f\n", sh->name, n, threads,
                       median(ours, reps), median(packed, reps), median(blas, reps));
                fflush(stdout);
                tfrt_pool_destroy(pool);
                free(w); free(x); free(y); free(buf);
            }
}

/* ---- whole forward passes ------------------------------------------------------------- */

typedef struct {
    int dim, layers, heads, kv_heads, ffn, vocab;
    int llama;                  /* 1: rmsnorm, rope, SwiGLU, OUT_IN; 0: GPT-2 */
} Model;

/* A layer's weights and its four linear operations, built once (and
 * packed, as generated code would at open). */
typedef struct {
    float *w[4], *bias[4], *norm, *beta;
    TfrtLinear qkv, o, up, down;
    float *kc, *vc;             /* this layer's cache */
} Layer;

static void pack_op(TfrtLinear *op, float **buf)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, sizeof(float) * tfrt_linear_packed_floats(op)))
        exit(1);
    tfrt_linear_pack(op, p);
    *buf = p;
}

static void layer_init(Layer *l, const Model *m, int T, uint32_t seed, int packed,
                       float **packs)
{
    int d = m->dim, kv = d / m->heads * m->kv_heads, f = m->ffn;
    int layout = m->llama ? TFRT_W_OUT_IN : TFRT_W_IN_OUT;
    l->w[0] = fill((size_t)d * (d + 2 * kv), seed);
    l->w[1] = fill((size_t)d * d, seed + 1);
    l->w[2] = fill((size_t)d * f * (m->llama ? 2 : 1), seed + 2);
    l->w[3] = fill((size_t)f * d, seed + 3);
    l->bias[0] = m->llama ? NULL : fill((size_t)d + 2 * kv, seed + 4);
    l->bias[1] = m->llama ? NULL : fill((size_t)d, seed + 5);
    l->bias[2] = m->llama ? NULL : fill((size_t)f, seed + 6);
    l->bias[3] = m->llama ? NULL : fill((size_t)d, seed + 7);
    l->norm = fill((size_t)d, seed + 8);
    l->beta = fill((size_t)d, seed + 9);
    l->kc = fill((size_t)T * kv, seed + 10);
    l->vc = fill((size_t)T * kv, seed + 11);
    TfrtLinear *a = &l->qkv;
    *a = (TfrtLinear){.in = d, .out = d + 2 * kv, .layout = layout, .x_stride = d,
                      .y_stride = d + 2 * kv};
    if (m->llama) {
        a->parts = 3;
        for (int p = 0; p < 3; p++) {
            a->w[p] = l->w[0] + (size_t)(p == 0 ? 0 : d + (p - 1) * kv) * d;
            a->rows[p] = p == 0 ? d : kv;
            a->ldw[p] = d;
        }
        a->rope_heads[0] = m->heads;
        a->rope_heads[1] = m->kv_heads;
        a->rope_theta = 10000.0f;
        a->cache[1] = l->kc;
        a->cache[2] = l->vc;
    } else {
        a->parts = 1;
        a->w[0] = l->w[0];
        a->rows[0] = a->ldw[0] = d + 2 * kv;
        a->bias[0] = l->bias[0];
    }
    l->o = (TfrtLinear){.in = d, .out = d, .layout = layout, .parts = 1, .w = {l->w[1]},
                        .rows = {d}, .ldw = {d}, .bias = {l->bias[1]}, .x_stride = d,
                        .y_stride = d, .residual_stride = d};
    TfrtLinear *up = &l->up;
    *up = (TfrtLinear){.in = d, .out = f, .layout = layout, .x_stride = d, .y_stride = f};
    if (m->llama) {
        up->parts = 2;
        up->glu = 1;
        up->act = TFRT_ACT_SILU;
        up->w[0] = l->w[2];
        up->w[1] = l->w[2] + (size_t)f * d;
        up->rows[0] = up->rows[1] = f;
        up->ldw[0] = up->ldw[1] = d;
    } else {
        up->parts = 1;
        up->act = TFRT_ACT_GELU_TANH;
        up->w[0] = l->w[2];
        up->rows[0] = up->ldw[0] = f;
        up->bias[0] = l->bias[2];
    }
    l->down = (TfrtLinear){.in = f, .out = d, .layout = layout, .parts = 1, .w = {l->w[3]},
                           .rows = {d}, .ldw = {m->llama ? f : d}, .bias = {l->bias[3]},
                           .x_stride = f, .y_stride = d, .residual_stride = d};
    if (packed) {
        pack_op(&l->qkv, &packs[0]);
        pack_op(&l->o, &packs[1]);
        pack_op(&l->up, &packs[2]);
        pack_op(&l->down, &packs[3]);
    }
}

static void layer_free(Layer *l)
{
    for (int i = 0; i < 4; i++) {
        free(l->w[i]);
        free(l->bias[i]);
    }
    free(l->norm); free(l->beta); free(l->kc); free(l->vc);
}

typedef struct {
    float *x, *buf, *qkv, *att, *ffn, *scratch, *logits;
    int32_t *pos;
} Buffers;

static void norm(const Model *m, const Layer *l, float *y, const float *x, int rows)
{
    if (m->llama)
        tfrt_rmsnorm(y, x, l->norm, rows, m->dim, 1e-5f);
    else
        tfrt_layernorm(y, x, l->norm, l->beta, rows, m->dim, 1e-5f);
}

/* One forward pass of T tokens without cache (for Llama, the prefill: k
 * and v go to the cache, logits of the last token only). */
static void forward(TfrtPool *pool, const Model *m, Layer *layers, const TfrtLinear *lm,
                    Buffers *b, int T)
{
    int d = m->dim, hd = d / m->heads, kv = hd * m->kv_heads, qkv_w = d + 2 * kv;
    for (int li = 0; li < m->layers; li++) {
        Layer *l = &layers[li];
        norm(m, l, b->buf, b->x, T);
        tfrt_linear(pool, &l->qkv, b->qkv, b->buf, T, b->pos, 0, NULL);
        TfrtAttention at = {.n_q = T, .n_kv = T, .heads = m->heads, .kv_heads = m->kv_heads,
                            .head_dim = hd, .q_stride = qkv_w, .kv_stride = qkv_w,
                            .out_stride = d, .scale = 0.125f, .causal = 1, .kv_len = T};
        tfrt_attention(pool, &at, b->att, b->qkv, b->qkv + d, b->qkv + d + kv);
        l->o.residual = b->x;
        tfrt_linear(pool, &l->o, b->x, b->att, T, NULL, 0, NULL);
        norm(m, l, b->buf, b->x, T);
        tfrt_linear(pool, &l->up, b->ffn, b->buf, T, NULL, 0, b->scratch);
        l->down.residual = b->x;
        tfrt_linear(pool, &l->down, b->x, b->ffn, T, NULL, 0, NULL);
    }
    int rows = m->llama ? 1 : T;
    norm(m, &layers[0], b->buf, b->x + (size_t)(T - rows) * d, rows);
    tfrt_linear(pool, lm, b->logits, b->buf, rows, NULL, 0, NULL);
}

/* One decoding step at position `at` (Llama): the cache holds rows
 * [0, at) already; logits of the new token. */
static void step(TfrtPool *pool, const Model *m, Layer *layers, const TfrtLinear *lm,
                 Buffers *b, int at)
{
    int d = m->dim, hd = d / m->heads, kv = hd * m->kv_heads;
    int32_t pos = at;
    for (int li = 0; li < m->layers; li++) {
        Layer *l = &layers[li];
        norm(m, l, b->buf, b->x, 1);
        tfrt_linear(pool, &l->qkv, b->qkv, b->buf, 1, &pos, at, NULL);
        TfrtAttention att = {.n_q = 1, .n_kv = at + 1, .heads = m->heads,
                             .kv_heads = m->kv_heads, .head_dim = hd, .q_stride = d + 2 * kv,
                             .kv_stride = kv, .out_stride = d, .scale = 0.125f, .causal = 1,
                             .q_pos0 = at, .kv_len = at + 1};
        tfrt_attention(pool, &att, b->att, b->qkv, l->kc, l->vc);
        l->o.residual = b->x;
        tfrt_linear(pool, &l->o, b->x, b->att, 1, NULL, 0, NULL);
        norm(m, l, b->buf, b->x, 1);
        tfrt_linear(pool, &l->up, b->ffn, b->buf, 1, NULL, 0, b->scratch);
        l->down.residual = b->x;
        tfrt_linear(pool, &l->down, b->x, b->ffn, 1, NULL, 0, NULL);
    }
    norm(m, &layers[0], b->buf, b->x, 1);
    tfrt_linear(pool, lm, b->logits, b->buf, 1, NULL, 0, NULL);
}

enum { STEP_FROM = 128, STEPS = 32 };

/* Median seconds of one forward pass of T tokens, or with steps, of one
 * decoding step (positions STEP_FROM ..; T must exceed them). */
static double time_model(const Model *m, int T, int threads, int packed, int steps)
{
    Layer *layers = calloc((size_t)m->layers, sizeof *layers);
    float **packs = calloc((size_t)m->layers * 4 + 1, sizeof *packs);
    for (int l = 0; l < m->layers; l++)
        layer_init(&layers[l], m, T, 100u + 20u * (uint32_t)l, packed, packs + 4 * l);
    int d = m->dim, kv = d / m->heads * m->kv_heads;
    float *head = fill((size_t)m->vocab * d, 7), *x0 = fill((size_t)T * d, 8);
    TfrtLinear lm = {.in = d, .out = m->vocab, .layout = TFRT_W_OUT_IN, .parts = 1,
                     .w = {head}, .rows = {m->vocab}, .ldw = {d}, .x_stride = d,
                     .y_stride = m->vocab};
    if (packed)
        pack_op(&lm, &packs[4 * m->layers]);
    Buffers b = {.x = fill((size_t)T * d, 8), .buf = fill((size_t)T * d, 9),
                 .qkv = fill((size_t)T * (d + 2 * kv), 10), .att = fill((size_t)T * d, 11),
                 .ffn = fill((size_t)T * m->ffn, 12), .scratch = fill((size_t)T * m->ffn, 13),
                 .logits = fill((size_t)T * m->vocab, 15),
                 .pos = malloc(sizeof(int32_t) * (size_t)T)};
    tfrt_positions(b.pos, 0, T);
    TfrtPool *pool;
    if (tfrt_pool_create(&pool, threads) != TFRT_OK)
        exit(1);
    double times[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        memcpy(b.x, x0, sizeof(float) * (size_t)T * d);
        double t = now();
        if (steps)
            for (int i = 0; i < STEPS; i++)
                step(pool, m, layers, &lm, &b, STEP_FROM + i);
        else
            forward(pool, m, layers, &lm, &b, T);
        times[r] = (now() - t) / (steps ? STEPS : 1);
    }
    tfrt_pool_destroy(pool);
    for (int l = 0; l < m->layers; l++)
        layer_free(&layers[l]);
    for (int i = 0; i <= 4 * m->layers; i++)
        free(packs[i]);
    free(packs); free(layers); free(head); free(x0); free(b.x); free(b.buf); free(b.qkv);
    free(b.att); free(b.ffn); free(b.scratch); free(b.logits); free(b.pos);
    return median(times, reps);
}

static void bench_models(void)
{
    static const Model llama = {768, 12, 12, 12, 2048, 32000, 1};
    static const Model gpt2 = {768, 12, 12, 12, 3072, 50257, 0};
    printf("\nForward passes of the kernel calls (random weights, medians of %d);\n"
           "packed: weights packed once beforehand (tfrt_linear_pack)\n", reps);
    for (int ti = 0; ti < n_thread_counts; ti++)
        for (int packed = 0; packed < 2; packed++) {
            int th = thread_counts[ti];
            double t = time_model(&llama, 128, th, packed, 0);
            printf("Llama-110M prefill, 128 tokens, %d thread%s%s: %7.1f ms  %7.1f tokens/s\n",
                   th, th > 1 ? "s" : " ", packed ? ", packed" : "        ", 1e3 * t, 128 / t);
            fflush(stdout);
        }
    for (int ti = 0; ti < n_thread_counts; ti++)
        for (int packed = 0; packed < 2; packed++) {
            int th = thread_counts[ti];
            double t = time_model(&llama, STEP_FROM + STEPS, th, packed, 1);
            printf("Llama-110M decoding at %d..%d, %d thread%s%s: %6.2f ms  %6.1f tokens/s\n",
                   STEP_FROM, STEP_FROM + STEPS - 1, th, th > 1 ? "s" : " ",
                   packed ? ", packed" : "        ", 1e3 * t, 1 / t);
            fflush(stdout);
        }
    for (int ti = 0; ti < n_thread_counts; ti++)
        for (int T = 64; T <= 256; T *= 4)
            for (int packed = 0; packed < 2; packed++) {
                int th = thread_counts[ti];
                double t = time_model(&gpt2, T, th, packed, 0);
                printf("GPT-2 small, no cache, T = %3d, %d thread%s%s: %7.1f ms\n", T, th,
                       th > 1 ? "s" : " ", packed ? ", packed" : "        ", 1e3 * t);
                fflush(stdout);
            }
    printf("(GPT-2: logits of every position, as a full forward pass gives them)\n");
}

/* ---- the pool's handoff ---------------------------------------------------------------- */

static void nothing(void *arg, int task, int thread)
{
    (void)arg; (void)task; (void)thread;
}

/* Microseconds per tfrt_pool_run of `threads` empty tasks, back to back
 * (workers spinning), and after a 5 ms pause (workers asleep). */
static void bench_pool(void)
{
    printf("\nPool handoff: microseconds per job of one empty task per thread\n");
    for (int ti = 0; ti < n_thread_counts; ti++) {
        int th = thread_counts[ti];
        TfrtPool *pool;
        if (tfrt_pool_create(&pool, th) != TFRT_OK)
            exit(1);
        double awake[MAX_REPS], asleep[MAX_REPS];
        for (int r = 0; r < reps; r++) {
            double t = now();
            for (int i = 0; i < 1000; i++)
                tfrt_pool_run(pool, nothing, NULL, th);
            awake[r] = (now() - t) * 1e3;
            struct timespec pause = {0, 5 * 1000 * 1000};
            nanosleep(&pause, NULL);
            t = now();
            tfrt_pool_run(pool, nothing, NULL, th);
            asleep[r] = (now() - t) * 1e6;
        }
        printf("%d thread%s: %6.2f us awake, %6.1f us waking from sleep\n", th,
               th > 1 ? "s" : " ", median(awake, reps), median(asleep, reps));
        tfrt_pool_destroy(pool);
    }
}

/* ---- int8 linear layers --------------------------------------------------------------- */

/* The linear operations of the Llama-110M layer as the compiler fuses
 * them (q, k, v as one op of three parts; w1 and w3 as a SwiGLU pair),
 * with how many a token runs. */
typedef struct {
    const char *name;
    int in, parts, rows[TFRT_MAX_PARTS], glu, per_token;
} Q8Shape;

static const Q8Shape q8_shapes[] = {
    {"qkv 3x768x768", 768, 3, {768, 768, 768}, 0, 12},
    {"wo 768x768", 768, 1, {768}, 0, 12},
    {"w1,w3 glu 2x2048x768", 768, 2, {2048, 2048}, 1, 12},
    {"w2 768x2048", 2048, 1, {768}, 0, 12},
    {"cls 32000x768", 768, 1, {32000}, 0, 1},
};
enum { Q8_SHAPES = sizeof q8_shapes / sizeof q8_shapes[0], Q8_PROMPT = 128 };

static size_t q8_part_bytes(const Q8Shape *sh, int p)
{
    return (tfrt_q8_weight_bytes(sh->rows[p], sh->in) + 63) / 64 * 64;
}

static size_t q8_op_bytes(const Q8Shape *sh)
{
    size_t b = 0;
    for (int p = 0; p < sh->parts; p++)
        b += q8_part_bytes(sh, p);
    return b;
}

/* The op reading its parts from w (q8_op_bytes of them). */
static TfrtLinear q8_op(const Q8Shape *sh, const unsigned char *w)
{
    TfrtLinear op = {.in = sh->in, .parts = sh->parts, .glu = sh->glu,
                     .act = sh->glu ? TFRT_ACT_SILU : TFRT_ACT_NONE, .x_stride = sh->in};
    for (int p = 0; p < sh->parts; p++) {
        op.rows[p] = sh->rows[p];
        op.out += sh->glu && p > 0 ? 0 : sh->rows[p];
        op.q8[p] = w;
        w += q8_part_bytes(sh, p);
    }
    op.y_stride = op.out;
    return op;
}

/* n = 1 from a 1 GiB set of copies of the quantized weights (DRAM), and
 * n = Q8_PROMPT on one copy, at every ISA level in isas and every thread
 * count; then the sums over a Llama-110M token. */
static void bench_int8(const int *isas, int n_isas)
{
    const size_t set_bytes = (size_t)1 << 30;
    unsigned char *set = NULL;
    float *dram_set = fill(SET_FLOATS / 4, 7);      /* 256 MiB for the DRAM probe */
    if (posix_memalign((void **)&set, 64, set_bytes))
        exit(1);
    float *x = fill((size_t)Q8_PROMPT * 2048, 8), *y = fill((size_t)Q8_PROMPT * 32000, 9);
    size_t scratch_bytes = 0;
    for (int s = 0; s < Q8_SHAPES; s++) {
        TfrtLinear op = q8_op(&q8_shapes[s], set);
        size_t b = tfrt_linear_scratch_bytes(&op, Q8_PROMPT);
        scratch_bytes = b > scratch_bytes ? b : scratch_bytes;
    }
    void *scratch = malloc(scratch_bytes);
    printf("\nint8 linear layers (tfrt_linear with q8 parts; weights 32 per block + a float\n"
           "scale, 1.125 bytes a weight).  n = 1: us per call and GB/s of weights from a\n"
           "1 GiB set, beside DRAM read GB/s measured just before (bound = bytes / DRAM);\n"
           "n = %d: ms per call, GOPS (2 n in out).  Medians of %d.\n", Q8_PROMPT, reps);
    printf("%-6s %3s %-22s %9s %7s %7s %6s %9s %7s\n", "isa", "thr", "op", "n=1 us", "GB/s",
           "DRAM", "bound", "n=128 ms", "GOPS");
    for (int ii = 0; ii < n_isas; ii++)
        for (int ti = 0; ti < n_thread_counts; ti++) {
            tfrt_cpu_force_isa(isas[ii]);
            TfrtPool *pool;
            if (tfrt_pool_create(&pool, thread_counts[ti]) != TFRT_OK)
                exit(1);
            int slow = isas[ii] == TFRT_ISA_C;
            double tok_us = 0, tok_bound_us = 0, prompt_ms = 0, tok_bytes = 0, dram_all = 0;
            for (int s = 0; s < Q8_SHAPES; s++) {
                const Q8Shape *sh = &q8_shapes[s];
                size_t bytes = q8_op_bytes(sh), copies = set_bytes / bytes, next = 0;
                float *w = fill((size_t)sh->in * 32000, 10);     /* rows of any part */
                unsigned char *one = set;
                for (int p = 0; p < sh->parts; p++) {
                    tfrt_q8_quantize_rows(one, sh->rows[p], sh->in, 0, sh->rows[p], w);
                    one += q8_part_bytes(sh, p);
                }
                for (size_t c = 1; c < copies; c++)
                    memcpy(set + c * bytes, set, bytes);
                free(w);
                int calls = copies < 64 ? (int)copies : 64, pcalls = slow ? 1 : 3;
                calls = slow ? 4 : calls;
                double us[MAX_REPS], dram[MAX_REPS], ms[MAX_REPS];
                for (int c = 0; c < calls; c++) {      /* warm-up, untimed */
                    TfrtLinear op = q8_op(sh, set + bytes * (next++ % copies));
                    tfrt_linear(pool, &op, y, x, 1, NULL, 0, scratch);
                }
                for (int r = 0; r < reps; r++) {
                    dram[r] = read_bandwidth(pool, dram_set, SET_FLOATS / 4);
                    double t = now();
                    for (int c = 0; c < calls; c++) {
                        TfrtLinear op = q8_op(sh, set + bytes * (next++ % copies));
                        tfrt_linear(pool, &op, y, x, 1, NULL, 0, scratch);
                    }
                    us[r] = (now() - t) / calls * 1e6;
                    TfrtLinear op = q8_op(sh, set);
                    t = now();
                    for (int c = 0; c < pcalls; c++)
                        tfrt_linear(pool, &op, y, x, Q8_PROMPT, NULL, 0, scratch);
                    ms[r] = (now() - t) / pcalls * 1e3;
                }
                double t1 = median(us, reps), bw = median(dram, reps), tp = median(ms, reps);
                double gbs = (double)bytes / (t1 * 1e-6) / 1e9;
                double outs = 0;
                for (int p = 0; p < sh->parts; p++)
                    outs += sh->rows[p];
                printf("%-6s %3d %-22s %9.1f %7.1f %7.1f %5.0f%% %9.2f %7.1f\n",
                       tfrt_isa_name((TfrtIsa)isas[ii]), thread_counts[ti], sh->name, t1, gbs,
                       bw, 100 * gbs / bw, tp, 2.0 * Q8_PROMPT * sh->in * outs / (tp * 1e-3) / 1e9);
                fflush(stdout);
                tok_us += sh->per_token * t1;
                tok_bytes += sh->per_token * (double)bytes;
                tok_bound_us += sh->per_token * (double)bytes / (bw * 1e9) * 1e6;
                prompt_ms += sh->per_token * tp;
                dram_all += bw / Q8_SHAPES;
            }
            printf("%-6s %3d %-22s %9.1f %7.1f %7.1f %5.0f%% %9.2f   (110M: %.0f tok/s decode, "
                   "bound %.0f; prefill %.0f tok/s)\n",
                   tfrt_isa_name((TfrtIsa)isas[ii]), thread_counts[ti], "110M token (sum)",
                   tok_us, tok_bytes / (tok_us * 1e-6) / 1e9, dram_all,
                   100 * tok_bound_us / tok_us, prompt_ms, 1e6 / tok_us, 1e6 / tok_bound_us,
                   Q8_PROMPT / (prompt_ms * 1e-3));
            fflush(stdout);
            tfrt_pool_destroy(pool);
        }
    tfrt_cpu_force_isa(-1);
    free(set); free(dram_set); free(x); free(y); free(scratch);
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    int gemv = 0, gemm = 0, model = 0, pool = 0, int8 = 0;
    int isas[3], n_isas = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "gemv") == 0)
            gemv = 1;
        else if (strcmp(argv[i], "gemm") == 0)
            gemm = 1;
        else if (strcmp(argv[i], "model") == 0)
            model = 1;
        else if (strcmp(argv[i], "pool") == 0)
            pool = 1;
        else if (strcmp(argv[i], "int8") == 0)
            int8 = 1;
        else if (strcmp(argv[i], "-isa") == 0 && i + 1 < argc) {
            for (char *s = strtok(argv[++i], ","); s && n_isas < 3; s = strtok(NULL, ","))
                for (int isa = TFRT_ISA_C; isa <= TFRT_ISA_AVX512; isa++)
                    if (strcmp(s, tfrt_isa_name((TfrtIsa)isa)) == 0 && isa <= (int)tfrt_cpu_detected_isa())
                        isas[n_isas++] = isa;
        }
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            n_thread_counts = 0;
            for (char *s = argv[++i]; *s && n_thread_counts < 4;) {
                thread_counts[n_thread_counts++] = (int)strtol(s, &s, 10);
                s += *s == ',';
            }
        } else {
            fprintf(stderr, "usage: kernel_bench [gemv] [gemm] [model] [pool] [int8] [-t 1,2] [-r REPS]\n"
                            "                    [-isa avx512,avx2,c]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "kernel_bench: -r must be in 1..%d\n", MAX_REPS);
        return 2;
    }
    for (int i = 0; i < n_thread_counts; i++)
        if (thread_counts[i] < 1 || thread_counts[i] > 64) {
            fprintf(stderr, "kernel_bench: thread counts must be in 1..64\n");
            return 2;
        }
    if (!gemv && !gemm && !model && !pool && !int8)
        gemv = gemm = model = pool = int8 = 1;
    for (int k = 0; n_isas == 0 && k <= (int)tfrt_cpu_detected_isa(); k++)
        isas[k] = (int)tfrt_cpu_detected_isa() - k;     /* all, best first */
    if (n_isas == 0)
        n_isas = (int)tfrt_cpu_detected_isa() + 1;
    printf("tfrt kernels: isa %s (detected %s); OpenBLAS %s, core %s\n", tfrt_isa(),
           tfrt_isa_name(tfrt_cpu_detected_isa()), openblas_get_config(),
           openblas_get_corename());
    if (gemv)
        bench_gemv();
    if (gemm)
        bench_gemm();
    if (model)
        bench_models();
    if (pool)
        bench_pool();
    if (int8)
        bench_int8(isas, n_isas);
    return 0;
}
