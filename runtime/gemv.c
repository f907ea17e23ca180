/*
 * gemv.c - matrix-vector products for one token (and a few): the inner
 * kernels of tfrt_linear when n <= TFRT_GEMV_MAX_N.
 *
 * Decoding one token reads every weight once and does two flops per
 * float read: the product is bound by how fast weights stream from memory,
 * not by arithmetic.  What keeps the stream full:
 *
 *   - several independent accumulators (weight rows in OUT_IN, column
 *     vectors in IN_OUT), so the loop never waits on an FMA latency;
 *   - one pass over the weights for up to TFRT_GEMV_MAX_N rows of x;
 *   - software prefetch a fixed distance ahead: the next group of rows in
 *     OUT_IN, PREFETCH_ROWS rows ahead in IN_OUT, whose runs the hardware
 *     prefetcher follows badly.
 *
 * Both layouts read contiguous runs: OUT_IN walks R_OI rows side by side
 * along `in`; IN_OUT takes four rows at a time, each a run of the block's
 * columns, into y kept in L1 (packed weights, packed.c, read better still).  Tails (in or
 * cols not a multiple of the vector width) use masked loads, so no element
 * is read outside the matrix.  The plain C version is the reference the
 * tests compare the others with, and the fallback on CPUs without AVX2.
 */
#include "tfrt.h"
#include "cpu.h"
#include "kernels_internal.h"

#include <string.h>

#if TFRT_X86
#include <immintrin.h>
#endif

enum {
    R_OI = 4,                   /* OUT_IN weight rows per pass */
    PREFETCH_ROWS = 8           /* IN_OUT: rows ahead */
};

/* ---- plain C ------------------------------------------------------------------ */

/* y[i][r] = W[r] . x[i] for rows r < R (<= R_OI) and x rows i < n, with
 * 16 partial sums per product in blocks gcc vectorizes. */
static void oi_group_c(float *y, size_t y_stride, const float *w, size_t ldw,
                       const float *x, size_t x_stride, int in, int R, int n)
{
    for (int i = 0; i < n; i++)
        for (int r = 0; r < R; r++) {
            const float *wr = w + (size_t)r * ldw, *xi = x + (size_t)i * x_stride;
            float s[16] = {0}, t = 0;
            int k = 0;
            for (; k + 16 <= in; k += 16)
                for (int u = 0; u < 16; u++)
                    s[u] += wr[k + u] * xi[k + u];
            for (; k < in; k++)
                t += wr[k] * xi[k];
            for (int u = 0; u < 16; u += 2)
                t += s[u] + s[u + 1];
            y[(size_t)i * y_stride + r] = t;
        }
}

static void gemv_oi_c(float *y, size_t y_stride, const float *w, size_t ldw,
                      const float *x, size_t x_stride, int in, int rows, int n)
{
    for (int r = 0; r < rows; r += R_OI)
        oi_group_c(y + r, y_stride, w + (size_t)r * ldw, ldw, x, x_stride, in,
                   rows - r < R_OI ? rows - r : R_OI, n);
}

/* y[i][c] = sum_k x[i][k] W[k][c] for columns c < cols, 16 at a time. */
static void gemv_io_c(float *y, size_t y_stride, const float *w, size_t ldw,
                      const float *x, size_t x_stride, int in, int cols, int n)
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < cols; c += 16) {
            int width = cols - c < 16 ? cols - c : 16;
            float acc[16] = {0};
            for (int k = 0; k < in; k++) {
                const float *wk = w + (size_t)k * ldw + c;
                float xk = x[(size_t)i * x_stride + k];
                if (width == 16)
                    for (int u = 0; u < 16; u++)
                        acc[u] += xk * wk[u];
                else
                    for (int u = 0; u < width; u++)
                        acc[u] += xk * wk[u];
            }
            memcpy(y + (size_t)i * y_stride + c, acc, sizeof(float) * (size_t)width);
        }
}

#if TFRT_X86

/* The per-n bodies are inlined into a switch on n, so that n is a constant
 * there and the accumulator arrays live in registers. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---- AVX-512 ------------------------------------------------------------------ */

/* One group of R <= R_OI rows against n x rows.  prefetch: the next
 * group's first row, or NULL. */
ALWAYS_INLINE TFRT_AVX512 void oi_group_avx512(float *y, size_t y_stride, const float *w,
                                               size_t ldw, const float *x, size_t x_stride,
                                               int in, int R, int n, const float *prefetch)
{
    __m512 acc[R_OI][TFRT_GEMV_MAX_N];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < n; i++)
            acc[r][i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= in; k += 16) {
        __m512 xv[TFRT_GEMV_MAX_N];
        if (prefetch)
            for (int r = 0; r < R; r++)
                _mm_prefetch((const char *)(prefetch + (size_t)r * ldw + k), _MM_HINT_T0);
        for (int i = 0; i < n; i++)
            xv[i] = _mm512_loadu_ps(x + (size_t)i * x_stride + k);
        for (int r = 0; r < R; r++) {
            __m512 wv = _mm512_loadu_ps(w + (size_t)r * ldw + k);
            for (int i = 0; i < n; i++)
                acc[r][i] = _mm512_fmadd_ps(wv, xv[i], acc[r][i]);
        }
    }
    if (k < in) {
        __mmask16 m = (__mmask16)((1u << (in - k)) - 1);
        __m512 xv[TFRT_GEMV_MAX_N];
        for (int i = 0; i < n; i++)
            xv[i] = _mm512_maskz_loadu_ps(m, x + (size_t)i * x_stride + k);
        for (int r = 0; r < R; r++) {
            __m512 wv = _mm512_maskz_loadu_ps(m, w + (size_t)r * ldw + k);
            for (int i = 0; i < n; i++)
                acc[r][i] = _mm512_fmadd_ps(wv, xv[i], acc[r][i]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < n; i++)
            y[(size_t)i * y_stride + r] = _mm512_reduce_add_ps(acc[r][i]);
}

ALWAYS_INLINE TFRT_AVX512 void gemv_oi_avx512_n(float *y, size_t y_stride, const float *w,
                                                size_t ldw, const float *x, size_t x_stride,
                                                int in, int rows, int n)
{
    int r = 0;
    for (; r + R_OI <= rows; r += R_OI) {
        const float *next = r + 2 * R_OI <= rows ? w + (size_t)(r + R_OI) * ldw : NULL;
        oi_group_avx512(y + r, y_stride, w + (size_t)r * ldw, ldw, x, x_stride, in, R_OI, n,
                        next);
    }
    for (; r < rows; r++)
        oi_group_avx512(y + r, y_stride, w + (size_t)r * ldw, ldw, x, x_stride, in, 1, n, NULL);
}

static TFRT_AVX512 void gemv_oi_avx512(float *y, size_t y_stride, const float *w, size_t ldw,
                                       const float *x, size_t x_stride, int in, int rows, int n)
{
    switch (n) {       /* a constant n lets the accumulators live in registers */
    case 1: gemv_oi_avx512_n(y, y_stride, w, ldw, x, x_stride, in, rows, 1); break;
    case 2: gemv_oi_avx512_n(y, y_stride, w, ldw, x, x_stride, in, rows, 2); break;
    case 3: gemv_oi_avx512_n(y, y_stride, w, ldw, x, x_stride, in, rows, 3); break;
    default: gemv_oi_avx512_n(y, y_stride, w, ldw, x, x_stride, in, rows, 4); break;
    }
}

/* IN_OUT: y rows start at zero and take in four rows of W at a time,
 * each a contiguous run of cols floats, so memory is read in runs as long
 * as the block is wide; y (a few KiB) stays in L1.  Rows PREFETCH_ROWS
 * ahead are prefetched a cache line per 16 columns. */
ALWAYS_INLINE TFRT_AVX512 void io_rows_avx512(float *y, size_t y_stride, const float *w,
                                              size_t ldw, const float *x, size_t x_stride,
                                              int k, int R, int cols, int n)
{
    __m512 xb[4][TFRT_GEMV_MAX_N];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < n; i++)
            xb[r][i] = _mm512_set1_ps(x[(size_t)i * x_stride + k + r]);
    const float *wk = w + (size_t)k * ldw;
    for (int c = 0; c < cols; c += 16) {
        __mmask16 m = cols - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cols - c)) - 1);
        __m512 wv[4];
        for (int r = 0; r < R; r++) {
            if (R == 4)
                _mm_prefetch((const char *)(wk + (size_t)(PREFETCH_ROWS + r) * ldw + c),
                             _MM_HINT_T0);
            wv[r] = _mm512_maskz_loadu_ps(m, wk + (size_t)r * ldw + c);
        }
        for (int i = 0; i < n; i++) {
            float *yi = y + (size_t)i * y_stride + c;
            __m512 acc = _mm512_maskz_loadu_ps(m, yi);
            for (int r = 0; r < R; r++)
                acc = _mm512_fmadd_ps(wv[r], xb[r][i], acc);
            _mm512_mask_storeu_ps(yi, m, acc);
        }
    }
}

ALWAYS_INLINE TFRT_AVX512 void gemv_io_avx512_n(float *y, size_t y_stride, const float *w,
                                                size_t ldw, const float *x, size_t x_stride,
                                                int in, int cols, int n)
{
    for (int i = 0; i < n; i++)
        memset(y + (size_t)i * y_stride, 0, sizeof(float) * (size_t)cols);
    int k = 0;
    /* the prefetched rows must exist: the last rows go without */
    for (; k + 4 + PREFETCH_ROWS <= in; k += 4)
        io_rows_avx512(y, y_stride, w, ldw, x, x_stride, k, 4, cols, n);
    for (; k < in; k++)
        io_rows_avx512(y, y_stride, w, ldw, x, x_stride, k, 1, cols, n);
}

static TFRT_AVX512 void gemv_io_avx512(float *y, size_t y_stride, const float *w, size_t ldw,
                                       const float *x, size_t x_stride, int in, int cols, int n)
{
    switch (n) {
    case 1: gemv_io_avx512_n(y, y_stride, w, ldw, x, x_stride, in, cols, 1); break;
    case 2: gemv_io_avx512_n(y, y_stride, w, ldw, x, x_stride, in, cols, 2); break;
    case 3: gemv_io_avx512_n(y, y_stride, w, ldw, x, x_stride, in, cols, 3); break;
    default: gemv_io_avx512_n(y, y_stride, w, ldw, x, x_stride, in, cols, 4); break;
    }
}

/* ---- AVX2 ---------------------------------------------------------------------- */

/* Lanes [0, count) of a masked load or store, count in [0, 8]. */
static inline TFRT_AVX2 __m256i mask_avx2(int count)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline TFRT_AVX2 float hsum_avx2(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

ALWAYS_INLINE TFRT_AVX2 void oi_group_avx2(float *y, size_t y_stride, const float *w,
                                           size_t ldw, const float *x, size_t x_stride,
                                           int in, int R, int n, const float *prefetch)
{
    __m256 acc[R_OI][TFRT_GEMV_MAX_N];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < n; i++)
            acc[r][i] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= in; k += 8) {
        __m256 xv[TFRT_GEMV_MAX_N];
        if (prefetch && k % 16 == 0)
            for (int r = 0; r < R; r++)
                _mm_prefetch((const char *)(prefetch + (size_t)r * ldw + k), _MM_HINT_T0);
        for (int i = 0; i < n; i++)
            xv[i] = _mm256_loadu_ps(x + (size_t)i * x_stride + k);
        for (int r = 0; r < R; r++) {
            __m256 wv = _mm256_loadu_ps(w + (size_t)r * ldw + k);
            for (int i = 0; i < n; i++)
                acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
        }
    }
    if (k < in) {
        __m256i m = mask_avx2(in - k);
        __m256 xv[TFRT_GEMV_MAX_N];
        for (int i = 0; i < n; i++)
            xv[i] = _mm256_maskload_ps(x + (size_t)i * x_stride + k, m);
        for (int r = 0; r < R; r++) {
            __m256 wv = _mm256_maskload_ps(w + (size_t)r * ldw + k, m);
            for (int i = 0; i < n; i++)
                acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < n; i++)
            y[(size_t)i * y_stride + r] = hsum_avx2(acc[r][i]);
}

ALWAYS_INLINE TFRT_AVX2 void gemv_oi_avx2_n(float *y, size_t y_stride, const float *w,
                                            size_t ldw, const float *x, size_t x_stride,
                                            int in, int rows, int n)
{
    int r = 0;
    for (; r + R_OI <= rows; r += R_OI) {
        const float *next = r + 2 * R_OI <= rows ? w + (size_t)(r + R_OI) * ldw : NULL;
        oi_group_avx2(y + r, y_stride, w + (size_t)r * ldw, ldw, x, x_stride, in, R_OI, n, next);
    }
    for (; r < rows; r++)
        oi_group_avx2(y + r, y_stride, w + (size_t)r * ldw, ldw, x, x_stride, in, 1, n, NULL);
}

static TFRT_AVX2 void gemv_oi_avx2(float *y, size_t y_stride, const float *w, size_t ldw,
                                   const float *x, size_t x_stride, int in, int rows, int n)
{
    switch (n) {
    case 1: gemv_oi_avx2_n(y, y_stride, w, ldw, x, x_stride, in, rows, 1); break;
    case 2: gemv_oi_avx2_n(y, y_stride, w, ldw, x, x_stride, in, rows, 2); break;
    case 3: gemv_oi_avx2_n(y, y_stride, w, ldw, x, x_stride, in, rows, 3); break;
    default: gemv_oi_avx2_n(y, y_stride, w, ldw, x, x_stride, in, rows, 4); break;
    }
}

/* As io_rows_avx512, eight columns at a time. */
ALWAYS_INLINE TFRT_AVX2 void io_rows_avx2(float *y, size_t y_stride, const float *w, size_t ldw,
                                          const float *x, size_t x_stride, int k, int R,
                                          int cols, int n)
{
    __m256 xb[4][TFRT_GEMV_MAX_N];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < n; i++)
            xb[r][i] = _mm256_set1_ps(x[(size_t)i * x_stride + k + r]);
    const float *wk = w + (size_t)k * ldw;
    for (int c = 0; c < cols; c += 8) {
        __m256i m = mask_avx2(cols - c);
        __m256 wv[4];
        for (int r = 0; r < R; r++) {
            if (R == 4 && c % 16 == 0)
                _mm_prefetch((const char *)(wk + (size_t)(PREFETCH_ROWS + r) * ldw + c),
                             _MM_HINT_T0);
            wv[r] = _mm256_maskload_ps(wk + (size_t)r * ldw + c, m);
        }
        for (int i = 0; i < n; i++) {
            float *yi = y + (size_t)i * y_stride + c;
            __m256 acc = _mm256_maskload_ps(yi, m);
            for (int r = 0; r < R; r++)
                acc = _mm256_fmadd_ps(wv[r], xb[r][i], acc);
            _mm256_maskstore_ps(yi, m, acc);
        }
    }
}

ALWAYS_INLINE TFRT_AVX2 void gemv_io_avx2_n(float *y, size_t y_stride, const float *w,
                                            size_t ldw, const float *x, size_t x_stride,
                                            int in, int cols, int n)
{
    for (int i = 0; i < n; i++)
        memset(y + (size_t)i * y_stride, 0, sizeof(float) * (size_t)cols);
    int k = 0;
    for (; k + 4 + PREFETCH_ROWS <= in; k += 4)
        io_rows_avx2(y, y_stride, w, ldw, x, x_stride, k, 4, cols, n);
    for (; k < in; k++)
        io_rows_avx2(y, y_stride, w, ldw, x, x_stride, k, 1, cols, n);
}

static TFRT_AVX2 void gemv_io_avx2(float *y, size_t y_stride, const float *w, size_t ldw,
                                   const float *x, size_t x_stride, int in, int cols, int n)
{
    switch (n) {
    case 1: gemv_io_avx2_n(y, y_stride, w, ldw, x, x_stride, in, cols, 1); break;
    case 2: gemv_io_avx2_n(y, y_stride, w, ldw, x, x_stride, in, cols, 2); break;
    case 3: gemv_io_avx2_n(y, y_stride, w, ldw, x, x_stride, in, cols, 3); break;
    default: gemv_io_avx2_n(y, y_stride, w, ldw, x, x_stride, in, cols, 4); break;
    }
}

#endif /* TFRT_X86 */

/* One group of n <= TFRT_GEMV_MAX_N rows of x. */
static void gemv_group(int isa, int layout, float *y, size_t y_stride, const float *w,
                       size_t ldw, const float *x, size_t x_stride, int in, int cols, int n)
{
#if TFRT_X86
    if (isa == TFRT_ISA_AVX512) {
        (layout == TFRT_W_OUT_IN ? gemv_oi_avx512 : gemv_io_avx512)(y, y_stride, w, ldw, x,
                                                                   x_stride, in, cols, n);
        return;
    }
    if (isa == TFRT_ISA_AVX2) {
        (layout == TFRT_W_OUT_IN ? gemv_oi_avx2 : gemv_io_avx2)(y, y_stride, w, ldw, x,
                                                               x_stride, in, cols, n);
        return;
    }
#endif
    (void)isa;
    (layout == TFRT_W_OUT_IN ? gemv_oi_c : gemv_io_c)(y, y_stride, w, ldw, x, x_stride, in,
                                                      cols, n);
}

void tfrt_gemv(int isa, int layout, float *y, size_t y_stride, const float *w, size_t ldw,
               const float *x, size_t x_stride, int in, int cols, int n)
{
    if (cols <= 0)
        return;
    for (int i = 0; i < n; i += TFRT_GEMV_MAX_N) {
        int g = n - i < TFRT_GEMV_MAX_N ? n - i : TFRT_GEMV_MAX_N;
        float *yi = y + (size_t)i * y_stride;
        if (in <= 0)
            for (int j = 0; j < g; j++)
                memset(yi + (size_t)j * y_stride, 0, sizeof(float) * (size_t)cols);
        else
            gemv_group(isa, layout, yi, y_stride, w, ldw, x + (size_t)i * x_stride, x_stride,
                       in, cols, g);
    }
}
