/*
 * packed.c - linear-layer weights packed once, and the products that read
 * them: GEMV (n <= TFRT_GEMV_MAX_N) and, on AVX-512, a GEMM for prompts.
 *
 * The packed form of a weight part is a run of panels, one per 32 output
 * columns: panel q holds P[k][c] = W(out = 32 q + c, in = k) for k < in,
 * c < 32, k-major (32 consecutive floats per k), zero past the last
 * output.  Both stored layouts pack to the same thing, so after packing
 * there is one set of kernels, and each reads memory front to back:
 *
 *   GEMV  a panel is one contiguous stream of in * 128 bytes; a thread
 *         takes a run of panels, which is a run of memory.
 *   GEMM  a 12 x 32 tile of y lives in 24 zmm registers while k runs over
 *         the panel: per k, two loads of the panel and twelve broadcasts
 *         of x feed 24 FMAs.  The panel (in * 128 bytes) stays in L2
 *         while every 12-row block of x passes over it; x is read in
 *         place, without a packing copy.
 *
 * Measured on the machine this was written on (tools/kernel_bench.c), the
 * GEMM reaches 1.3-1.9x the GFLOPS of OpenBLAS sgemm at n = 64..256, which
 * packs its B operand (the weights) again on every call.  On AVX2 and C the
 * prompt path stays with sgemm on the unpacked weights.
 */
#include "tfrt.h"
#include "cpu.h"
#include "kernels_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if TFRT_X86
#include <immintrin.h>
#endif

enum {
    PREFETCH = 16 * TFRT_PANEL,      /* floats ahead in a panel stream */
    PACK_ROWS = 32 * TFRT_PANEL      /* rows tfrt_pack_weights packs, then releases */
};
#define HUGE_PAGE ((size_t)2 << 20)  /* x86-64's transparent huge page */

/* ---- packing ------------------------------------------------------------------------------ */

static int panels(int rows) { return (rows + TFRT_PANEL - 1) / TFRT_PANEL; }

size_t tfrt_linear_packed_floats(const TfrtLinear *op)
{
    size_t total = 0;
    for (int p = 0; p < op->parts; p++)
        total += (size_t)panels(op->rows[p]) * TFRT_PANEL * (size_t)(op->in > 0 ? op->in : 0);
    return total;
}

/* Panel q of part p into dst (in * TFRT_PANEL floats). */
static void pack_panel(const TfrtLinear *op, int p, int q, float *dst)
{
    int in = op->in, c0 = q * TFRT_PANEL;
    int width = op->rows[p] - c0 < TFRT_PANEL ? op->rows[p] - c0 : TFRT_PANEL;
    memset(dst, 0, sizeof(float) * (size_t)in * TFRT_PANEL);
    if (op->layout == TFRT_W_OUT_IN) {
        for (int c = 0; c < width; c++) {
            const float *row = op->w[p] + (size_t)(c0 + c) * op->ldw[p];
            for (int k = 0; k < in; k++)
                dst[(size_t)k * TFRT_PANEL + c] = row[k];
        }
    } else {
        for (int k = 0; k < in; k++)
            memcpy(dst + (size_t)k * TFRT_PANEL, op->w[p] + (size_t)k * op->ldw[p] + c0,
                   sizeof(float) * (size_t)width);
    }
}

void tfrt_linear_pack(TfrtLinear *op, float *dst)
{
    for (int p = 0; p < op->parts; p++) {
        op->packed[p] = dst;
        for (int q = 0; q < panels(op->rows[p]); q++, dst += (size_t)op->in * TFRT_PANEL)
            pack_panel(op, p, q, dst);
    }
}

/* ---- packing a model's weights at open --------------------------------------------------------- */

int tfrt_linear_pack_pays(void)
{
    const char *env = getenv("TFRT_PACK");
    return tfrt_cpu_isa() == TFRT_ISA_AVX512 && !(env && strcmp(env, "0") == 0);
}

/* Part i as a one-part linear layer (what tfrt_linear_pack reads). */
static TfrtLinear part_op(const void *weights, const TfrtPackedPart *pt)
{
    const float *base;
    memcpy(&base, (const char *)weights + pt->weight, sizeof base);
    TfrtLinear op = {0};
    op.in = pt->in;
    op.out = pt->rows;
    op.layout = pt->layout;
    op.parts = 1;
    op.w[0] = base ? base + pt->first : NULL;
    op.rows[0] = pt->rows;
    op.ldw[0] = pt->ldw;
    return op;
}

/* The first j < i whose part is part i's (same pointer and shape), or -1. */
static int earlier_same(const void *weights, const TfrtPackedPart *parts, int i)
{
    TfrtLinear a = part_op(weights, &parts[i]);
    for (int j = 0; j < i; j++) {
        TfrtLinear b = part_op(weights, &parts[j]);
        if (a.w[0] == b.w[0] && a.in == b.in && a.rows[0] == b.rows[0] &&
            a.ldw[0] == b.ldw[0] && a.layout == b.layout)
            return j;
    }
    return -1;
}

/* The stored floats part op spans: from its first element to its last. */
static size_t part_span(const TfrtLinear *op)
{
    if (op->layout == TFRT_W_OUT_IN)
        return (size_t)(op->rows[0] - 1) * (size_t)op->ldw[0] + (size_t)op->in;
    return (size_t)(op->in - 1) * (size_t)op->ldw[0] + (size_t)op->rows[0];
}

/* One task of packing: rows [r0, r0 + rows) of part `part`, into the
 * floats at `at` of the allocation.  Parts stored (out, in) are cut into
 * runs of PACK_ROWS rows (a run of whole panels is a run of stored rows);
 * parts stored (in, out) are one run each, since any column range of them
 * spans every stored row. */
typedef struct {
    int part, r0, rows;
    size_t at;
} PackRun;

typedef struct {
    const struct TfrtSafetensors *file;
    const void *weights;
    const TfrtPackedPart *parts;
    const PackRun *runs;
    float *mem;
} PackJob;

/* Packs one run and releases the mapped file's pages it read, so that the
 * two copies are never resident together.  A part's span may hold another
 * part's columns (a fused QKV tensor); those pages are read again from the
 * page cache when that part packs, on this thread or another. */
static void pack_run(void *arg, int task, int thread)
{
    const PackJob *job = arg;
    const PackRun *run = &job->runs[task];
    (void)thread;
    TfrtLinear op = part_op(job->weights, &job->parts[run->part]);
    op.rows[0] = op.out = run->rows;
    op.w[0] += (size_t)run->r0 * (size_t)op.ldw[0];
    tfrt_linear_pack(&op, job->mem + run->at);
    tfrt_st_release(job->file, op.w[0], part_span(&op) * sizeof(float));
}

/* The runs of the parts that need a copy of their own, with each run's
 * place, into *runs (free() it): their count and *total floats, or -1. */
static int plan_runs(const void *weights, const TfrtPackedPart *parts, int n, PackRun **runs,
                     size_t *total)
{
    int count = 0;
    for (int pass = 0; pass < 2; pass++) {
        count = 0;
        *total = 0;
        for (int i = 0; i < n; i++) {
            if (earlier_same(weights, parts, i) >= 0)
                continue;   /* shares that part's copy */
            TfrtLinear op = part_op(weights, &parts[i]);
            int step = op.layout == TFRT_W_OUT_IN ? PACK_ROWS : op.rows[0];
            for (int r = 0; r < op.rows[0]; r += step, count++) {
                TfrtLinear run = op;
                run.rows[0] = run.out = op.rows[0] - r < step ? op.rows[0] - r : step;
                size_t f = tfrt_linear_packed_floats(&run);
                if (pass)
                    (*runs)[count] = (PackRun){i, r, run.rows[0], *total};
                if (f > (SIZE_MAX / sizeof(float) - HUGE_PAGE) - *total)
                    return -1;
                *total += f;
            }
        }
        if (!pass && !(*runs = malloc(sizeof **runs * (size_t)(count > 0 ? count : 1))))
            return -1;
    }
    return count;
}

int tfrt_pack_weights(TfrtPool *pool, const struct TfrtSafetensors *file, const void *weights,
                      const TfrtPackedPart *parts, int n, const float **packed, float **data)
{
    *data = NULL;
    for (int i = 0; i < n; i++)
        packed[i] = NULL;
    if (!tfrt_linear_pack_pays() || n <= 0)
        return TFRT_OK;
    for (int i = 0; i < n; i++) {
        TfrtLinear op = part_op(weights, &parts[i]);
        if (!op.w[0] || op.in <= 0 || op.rows[0] <= 0)
            return TFRT_OK;   /* not a model's table: leave everything unpacked */
    }
    PackRun *runs = NULL;
    size_t total;
    int count = plan_runs(weights, parts, n, &runs, &total);
    void *mem = NULL;
    size_t bytes = total * sizeof(float) + 64;
    if (count < 0 || posix_memalign(&mem, HUGE_PAGE, bytes) != 0) {
        free(runs);
        return TFRT_ERR_NOMEM;
    }
#ifdef MADV_HUGEPAGE
    /* Hundreds of megabytes written once: in 4 KiB pages, the first
     * touches (a page fault per 1024 floats) cost more than the packing. */
    madvise(mem, bytes, MADV_HUGEPAGE);
#endif
    PackJob job = {file, weights, parts, runs, mem};
    tfrt_pool_run(pool, pack_run, &job, count);
    for (int i = 0, k = 0; i < n; i++) {
        int same = earlier_same(weights, parts, i);
        if (same >= 0) {
            packed[i] = packed[same];
        } else {
            packed[i] = (float *)mem + runs[k].at;
            while (k < count && runs[k].part == i)
                k++;
        }
    }
    free(runs);
    *data = mem;
    return TFRT_OK;
}

void tfrt_pack_when_due(TfrtPacking *pk, TfrtPool *pool, const struct TfrtSafetensors *file,
                        const void *weights, const TfrtPackedPart *parts, int n,
                        const float **packed, int tokens)
{
    if (pk->passes < 0)
        return;   /* settled */
    if (pk->passes++ == 0 && tokens == 1)
        return;   /* a first pass over one token reads each weight once */
    pk->passes = -1;
    /* Best effort: without memory for the copies the kernels read the
     * stored weights, which nothing has released yet. */
    if (tfrt_pack_weights(pool, file, weights, parts, n, packed, &pk->data) != TFRT_OK)
        pk->data = NULL;
}

/* ---- GEMV: plain C ----------------------------------------------------------------------------- */

/* y (n, cols) = x (n, in) . panels starting at P, cols <= their width. */
static void gemv_c(float *y, size_t y_stride, const float *P, int in, int cols,
                   const float *x, size_t x_stride, int n)
{
    for (int i = 0; i < n; i++)
        for (int c0 = 0; c0 < cols; c0 += TFRT_PANEL) {
            const float *panel = P + (size_t)c0 * in, *xi = x + (size_t)i * x_stride;
            float acc[TFRT_PANEL] = {0};
            for (int k = 0; k < in; k++)
                for (int c = 0; c < TFRT_PANEL; c++)
                    acc[c] += xi[k] * panel[(size_t)k * TFRT_PANEL + c];
            int width = cols - c0 < TFRT_PANEL ? cols - c0 : TFRT_PANEL;
            memcpy(y + (size_t)i * y_stride + c0, acc, sizeof(float) * (size_t)width);
        }
}

#if TFRT_X86

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Full unrolling of a loop of at most 4 trips (gcc 8+ and clang read it). */
#define UNROLL4 _Pragma("GCC unroll 4")

/* ---- GEMV: AVX-512 ------------------------------------------------------------------------------ */

static inline TFRT_AVX512 __mmask16 lanes16(int count)
{
    return count >= 16 ? (__mmask16)0xffff : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

/* NP panels side by side (NP memory streams, which keep more of DRAM's
 * bandwidth busy than one) against n rows of x; NP * n * 2 <= 16
 * accumulators.  cols: the columns of y these panels fill. */
ALWAYS_INLINE TFRT_AVX512 void panels_avx512(float *y, size_t y_stride, const float *P, int in,
                                             int cols, const float *x, size_t x_stride, int n,
                                             int NP)
{
    /* Every loop over p and i is unrolled, so that acc lives in registers:
     * left as loops, gcc kept it on the stack, a load and a store beside
     * each FMA. */
    __m512 acc[4][TFRT_GEMV_MAX_N][2];
    const float *pp[4];
    UNROLL4
    for (int p = 0; p < NP; p++) {
        pp[p] = P + (size_t)p * in * TFRT_PANEL;
        UNROLL4
        for (int i = 0; i < n; i++)
            acc[p][i][0] = acc[p][i][1] = _mm512_setzero_ps();
    }
    for (int k = 0; k < in; k++) {
        __m512 a[TFRT_GEMV_MAX_N];
        UNROLL4
        for (int i = 0; i < n; i++)
            a[i] = _mm512_set1_ps(x[(size_t)i * x_stride + k]);
        UNROLL4
        for (int p = 0; p < NP; p++) {
            const float *pk = pp[p] + (size_t)k * TFRT_PANEL;
            if (k + PREFETCH / TFRT_PANEL < in) {
                _mm_prefetch((const char *)(pk + PREFETCH), _MM_HINT_T0);
                _mm_prefetch((const char *)(pk + PREFETCH + 16), _MM_HINT_T0);
            }
            __m512 b0 = _mm512_loadu_ps(pk), b1 = _mm512_loadu_ps(pk + 16);
            UNROLL4
            for (int i = 0; i < n; i++) {
                acc[p][i][0] = _mm512_fmadd_ps(a[i], b0, acc[p][i][0]);
                acc[p][i][1] = _mm512_fmadd_ps(a[i], b1, acc[p][i][1]);
            }
        }
    }
    UNROLL4
    for (int p = 0; p < NP; p++)
        UNROLL4
        for (int i = 0; i < n; i++) {
            float *yp = y + (size_t)i * y_stride + p * TFRT_PANEL;
            int left = cols - p * TFRT_PANEL;
            _mm512_mask_storeu_ps(yp, lanes16(left), acc[p][i][0]);
            _mm512_mask_storeu_ps(yp + 16, lanes16(left - 16), acc[p][i][1]);
        }
}

ALWAYS_INLINE TFRT_AVX512 void gemv_avx512_n(float *y, size_t y_stride, const float *P, int in,
                                             int cols, const float *x, size_t x_stride, int n)
{
    const int NP = n == 1 ? 4 : n == 2 ? 2 : 1;
    int c0 = 0;
    for (; c0 + NP * TFRT_PANEL <= cols; c0 += NP * TFRT_PANEL)
        panels_avx512(y + c0, y_stride, P + (size_t)c0 * in, in, NP * TFRT_PANEL, x, x_stride,
                      n, NP);
    for (; c0 < cols; c0 += TFRT_PANEL)
        panels_avx512(y + c0, y_stride, P + (size_t)c0 * in, in, cols - c0, x, x_stride, n, 1);
}

static TFRT_AVX512 void gemv_avx512(float *y, size_t y_stride, const float *P, int in, int cols,
                                    const float *x, size_t x_stride, int n)
{
    switch (n) {       /* a constant n keeps the accumulators in registers */
    case 1: gemv_avx512_n(y, y_stride, P, in, cols, x, x_stride, 1); break;
    case 2: gemv_avx512_n(y, y_stride, P, in, cols, x, x_stride, 2); break;
    case 3: gemv_avx512_n(y, y_stride, P, in, cols, x, x_stride, 3); break;
    default: gemv_avx512_n(y, y_stride, P, in, cols, x, x_stride, 4); break;
    }
}

/* ---- GEMV: AVX2 ------------------------------------------------------------------------------------ */

/* One panel (four ymm wide) against n <= 2 rows of x, two k-steps in
 * flight for one row. */
ALWAYS_INLINE TFRT_AVX2 void panel_avx2(float *y, size_t y_stride, const float *P, int in,
                                        int width, const float *x, size_t x_stride, int n)
{
    const int U = n == 1 ? 2 : 1;
    __m256 acc[2][2][4];
    for (int u = 0; u < U; u++)
        for (int i = 0; i < n; i++)
            for (int v = 0; v < 4; v++)
                acc[u][i][v] = _mm256_setzero_ps();
    int k = 0;
    for (; k + U <= in; k += U)
        for (int u = 0; u < U; u++) {
            const float *pk = P + (size_t)(k + u) * TFRT_PANEL;
            if (k + PREFETCH / TFRT_PANEL < in) {
                _mm_prefetch((const char *)(pk + PREFETCH), _MM_HINT_T0);
                _mm_prefetch((const char *)(pk + PREFETCH + 16), _MM_HINT_T0);
            }
            for (int i = 0; i < n; i++) {
                __m256 a = _mm256_set1_ps(x[(size_t)i * x_stride + k + u]);
                for (int v = 0; v < 4; v++)
                    acc[u][i][v] = _mm256_fmadd_ps(a, _mm256_loadu_ps(pk + 8 * v), acc[u][i][v]);
            }
        }
    for (; k < in; k++)
        for (int i = 0; i < n; i++) {
            __m256 a = _mm256_set1_ps(x[(size_t)i * x_stride + k]);
            for (int v = 0; v < 4; v++)
                acc[0][i][v] = _mm256_fmadd_ps(a, _mm256_loadu_ps(P + (size_t)k * TFRT_PANEL + 8 * v),
                                               acc[0][i][v]);
        }
    for (int i = 0; i < n; i++) {
        float out[TFRT_PANEL];
        for (int v = 0; v < 4; v++)
            _mm256_storeu_ps(out + 8 * v, U == 2 ? _mm256_add_ps(acc[0][i][v], acc[1][i][v])
                                                 : acc[0][i][v]);
        memcpy(y + (size_t)i * y_stride, out, sizeof(float) * (size_t)width);
    }
}

static TFRT_AVX2 void gemv_avx2(float *y, size_t y_stride, const float *P, int in, int cols,
                                const float *x, size_t x_stride, int n)
{
    for (int i = 0; i < n; i += 2)
        for (int c0 = 0; c0 < cols; c0 += TFRT_PANEL) {
            int width = cols - c0 < TFRT_PANEL ? cols - c0 : TFRT_PANEL;
            float *yi = y + (size_t)i * y_stride + c0;
            const float *xi = x + (size_t)i * x_stride, *panel = P + (size_t)c0 * in;
            if (n - i >= 2)
                panel_avx2(yi, y_stride, panel, in, width, xi, x_stride, 2);
            else
                panel_avx2(yi, y_stride, panel, in, width, xi, x_stride, 1);
        }
}

/* ---- GEMM: AVX-512 ------------------------------------------------------------------------------ */

enum { MR = 12 };               /* rows of x per tile */

/* y rows (mr, 32 columns masked by m0/m1) += x rows (mr, in) . panel P.
 * The accumulators start at zero and are added onto y at the end, so y
 * may hold a bias or residual already. */
ALWAYS_INLINE TFRT_AVX512 void tile_avx512(int mr, float *y, size_t y_stride, const float *x,
                                           size_t x_stride, const float *P, int in,
                                           __mmask16 m0, __mmask16 m1)
{
    __m512 c0[MR], c1[MR];
    _Pragma("GCC unroll 12")
    for (int i = 0; i < mr; i++)
        c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < in; k++) {
        __m512 b0 = _mm512_loadu_ps(P + (size_t)k * TFRT_PANEL);
        __m512 b1 = _mm512_loadu_ps(P + (size_t)k * TFRT_PANEL + 16);
        _Pragma("GCC unroll 12")
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(x[(size_t)i * x_stride + k]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
    _Pragma("GCC unroll 12")
    for (int i = 0; i < mr; i++) {
        float *yi = y + (size_t)i * y_stride;
        _mm512_mask_storeu_ps(yi, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yi), c0[i]));
        _mm512_mask_storeu_ps(yi + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yi + 16), c1[i]));
    }
}

/* The rows left after the full tiles, 1 .. MR-1 of them. */
static TFRT_AVX512 void tile_rest_avx512(int mr, float *y, size_t y_stride, const float *x,
                                         size_t x_stride, const float *P, int in,
                                         __mmask16 m0, __mmask16 m1)
{
#define TILE_CASE(r) case r: tile_avx512(r, y, y_stride, x, x_stride, P, in, m0, m1); break
    switch (mr) {
    TILE_CASE(1); TILE_CASE(2); TILE_CASE(3); TILE_CASE(4); TILE_CASE(5); TILE_CASE(6);
    TILE_CASE(7); TILE_CASE(8); TILE_CASE(9); TILE_CASE(10); default: TILE_CASE(11);
    }
#undef TILE_CASE
}

static TFRT_AVX512 void gemm_avx512(float *y, size_t y_stride, const float *P, int in, int cols,
                                    const float *x, size_t x_stride, int n)
{
    for (int c0 = 0; c0 < cols; c0 += TFRT_PANEL) {
        const float *panel = P + (size_t)c0 * in;
        __mmask16 m0 = lanes16(cols - c0), m1 = lanes16(cols - c0 - 16);
        int i = 0;
        for (; i + MR <= n; i += MR)
            tile_avx512(MR, y + (size_t)i * y_stride + c0, y_stride, x + (size_t)i * x_stride,
                        x_stride, panel, in, m0, m1);
        if (i < n)
            tile_rest_avx512(n - i, y + (size_t)i * y_stride + c0, y_stride,
                             x + (size_t)i * x_stride, x_stride, panel, in, m0, m1);
    }
}

#endif /* TFRT_X86 */

/* ---- entry points ------------------------------------------------------------------------------------ */

void tfrt_packed_gemv(int isa, float *y, size_t y_stride, const float *P, int in, int cols,
                      const float *x, size_t x_stride, int n)
{
    for (int i = 0; i < n; i += TFRT_GEMV_MAX_N) {
        int g = n - i < TFRT_GEMV_MAX_N ? n - i : TFRT_GEMV_MAX_N;
        float *yi = y + (size_t)i * y_stride;
        const float *xi = x + (size_t)i * x_stride;
#if TFRT_X86
        if (isa == TFRT_ISA_AVX512) {
            gemv_avx512(yi, y_stride, P, in, cols, xi, x_stride, g);
            continue;
        }
        if (isa == TFRT_ISA_AVX2) {
            gemv_avx2(yi, y_stride, P, in, cols, xi, x_stride, g);
            continue;
        }
#endif
        (void)isa;
        gemv_c(yi, y_stride, P, in, cols, xi, x_stride, g);
    }
}

int tfrt_packed_gemm(int isa, float *y, size_t y_stride, const float *P, int in, int cols,
                     const float *x, size_t x_stride, int n)
{
#if TFRT_X86
    if (isa == TFRT_ISA_AVX512) {
        gemm_avx512(y, y_stride, P, in, cols, x, x_stride, n);
        return 1;
    }
#endif
    (void)isa; (void)y; (void)y_stride; (void)P; (void)in; (void)cols; (void)x;
    (void)x_stride; (void)n;
    return 0;
}
