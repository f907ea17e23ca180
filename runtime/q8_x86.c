/*
 * q8_x86.c - the int8 matmul on x86: AVX512-VNNI and AVX2 (contract in
 * q8_internal.h; plain C reference in q8.c).
 *
 *   y (n, cols) = xq (n, in) . W[c0 : c0+cols]^T, per panel of 16 rows
 *
 * VNNI: one vpdpbusd multiplies a group (16 rows x 4 inputs of the
 * weights, 64 bytes) by 4 inputs of one token broadcast to every lane,
 * adding 4 products into each row's int32.  Its first operand is unsigned:
 * the weights are stored as q + 128 (1..255), so the sum it forms is
 * sum q_x q_w + 128 sum q_x, and the accumulator starts at the token's
 * -128 sum q_x of the block (kept with the quantized activations).  No
 * extra weight bytes, no instruction per group beyond the vpdpbusd.
 *
 * AVX2: a ymm holds half a group (8 rows x 4 inputs).  maddubs multiplies
 * unsigned by signed bytes into saturating int16 pairs; with the weights
 * back to signed (q + 128 xor 0x80) and the sign trick (|q_w| times q_x
 * with q_w's sign) a pair is at most 2 * 127 * 127 = 32258 < 32767, so it
 * never saturates; madd by ones then widens the pairs to int32.
 *
 * Either way the block's integer sum is exact, then both do what the C
 * reference does: y = fma((float)s, s_w * s_x, y), block after block.
 * Tokens go in tiles of up to 4 that share every weight load (8 measured
 * slower: the tile's row pointers no longer fit the registers).  Decode
 * (n = 1) streams a task's panels once, front to back, which the hardware
 * prefetcher follows (software prefetch measured no better).
 */
#include "tfrt.h"
#include "cpu.h"
#include "q8_internal.h"

#include <string.h>

#if TFRT_X86
#include <immintrin.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Loops over a tile's tokens and a block's groups, unrolled so that the
 * accumulator arrays live in registers (gcc -O2 leaves them in memory). */
#define UNROLL _Pragma("GCC unroll 8")
#define TFRT_VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

enum {
    GROUPS = TFRT_Q8_BLOCK / TFRT_Q8_GROUP,      /* 8 groups of 4 inputs per block */
    SCALES_AT = TFRT_Q8_PANEL * TFRT_Q8_BLOCK,   /* the scales' offset in a panel block */
    VNNI_TILE = 4,
    AVX2_TILE = 4
};

static inline int32_t load4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* One token's quantized row: values, scales, biases. */
typedef struct {
    const int8_t *q;
    const float *s;
    const int32_t *bias;
} ActRow;

static ActRow act_row(const void *xq, size_t stride, int i, int in)
{
    const char *row = (const char *)xq + (size_t)i * stride;
    ActRow r = {tfrt_q8_act_q(row), tfrt_q8_act_scale(row, in), tfrt_q8_act_bias(row, in)};
    return r;
}

/* ---- AVX512-VNNI ------------------------------------------------------------------ */

/* T tokens (a constant after inlining) against one panel: y rows get
 * `valid` outputs each. */
ALWAYS_INLINE TFRT_VNNI void panel_vnni(float *y, size_t y_stride, const uint8_t *panel,
                                        int blocks, const ActRow *x, int T, int valid)
{
    __m512 acc[VNNI_TILE];
    UNROLL
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *blk = panel + (size_t)b * TFRT_Q8_BLOCK_BYTES;
        __m512i s[VNNI_TILE];
        UNROLL
        for (int t = 0; t < T; t++)
            s[t] = _mm512_set1_epi32(x[t].bias[b]);
        UNROLL
        for (int g = 0; g < GROUPS; g++) {
            __m512i w = _mm512_loadu_si512(blk + g * 64);
            UNROLL
            for (int t = 0; t < T; t++)
                s[t] = _mm512_dpbusd_epi32(
                    s[t], w, _mm512_set1_epi32(load4(x[t].q + b * TFRT_Q8_BLOCK + g * 4)));
        }
        __m512 sw = _mm512_loadu_ps((const float *)(blk + SCALES_AT));
        UNROLL
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]),
                                     _mm512_mul_ps(sw, _mm512_set1_ps(x[t].s[b])), acc[t]);
    }
    __mmask16 m = (__mmask16)((1u << valid) - 1);
    UNROLL
    for (int t = 0; t < T; t++)
        _mm512_mask_storeu_ps(y + (size_t)t * y_stride, m, acc[t]);
}

ALWAYS_INLINE TFRT_VNNI void tile_vnni(float *y, size_t y_stride, const void *w, int in,
                                       int c0, int cols, const ActRow *x, int T)
{
    for (int c = 0; c < cols; c += TFRT_Q8_PANEL) {
        int valid = cols - c < TFRT_Q8_PANEL ? cols - c : TFRT_Q8_PANEL;
        panel_vnni(y + c, y_stride, tfrt_q8_panel_block(w, in, (c0 + c) / TFRT_Q8_PANEL, 0),
                   in / TFRT_Q8_BLOCK, x, T, valid);
    }
}

TFRT_VNNI void tfrt_q8_matmul_vnni(float *y, size_t y_stride, const void *w, int rows, int in,
                                   int c0, int cols, const void *xq, size_t xq_stride, int n)
{
    (void)rows;
    for (int i0 = 0; i0 < n; i0 += VNNI_TILE) {
        int T = n - i0 < VNNI_TILE ? n - i0 : VNNI_TILE;
        ActRow x[VNNI_TILE] = {{NULL, NULL, NULL}};
        UNROLL
        for (int t = 0; t < T; t++)
            x[t] = act_row(xq, xq_stride, i0 + t, in);
        float *yi = y + (size_t)i0 * y_stride;
        switch (T) {    /* a constant T keeps the accumulators in registers */
        case 1: tile_vnni(yi, y_stride, w, in, c0, cols, x, 1); break;
        case 2: tile_vnni(yi, y_stride, w, in, c0, cols, x, 2); break;
        case 3: tile_vnni(yi, y_stride, w, in, c0, cols, x, 3); break;
        default: tile_vnni(yi, y_stride, w, in, c0, cols, x, 4); break;
        }
    }
}

/* ---- AVX2 -------------------------------------------------------------------------- */

/* T tokens against half h (rows 8h .. 8h+7) of one panel. */
ALWAYS_INLINE TFRT_AVX2 void half_avx2(float *y, size_t y_stride, const uint8_t *panel,
                                       int blocks, const ActRow *x, int T, int h, int valid)
{
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256 acc[AVX2_TILE];
    UNROLL
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *blk = panel + (size_t)b * TFRT_Q8_BLOCK_BYTES;
        __m256i s[AVX2_TILE];
        UNROLL
        for (int t = 0; t < T; t++)
            s[t] = _mm256_setzero_si256();
        UNROLL
        for (int g = 0; g < GROUPS; g++) {
            __m256i q = _mm256_xor_si256(
                _mm256_loadu_si256((const __m256i *)(blk + g * 64 + h * 32)), flip);
            __m256i aq = _mm256_abs_epi8(q);
            UNROLL
            for (int t = 0; t < T; t++) {
                __m256i xv = _mm256_set1_epi32(load4(x[t].q + b * TFRT_Q8_BLOCK + g * 4));
                __m256i pairs = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(xv, q));
                s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(pairs, ones));
            }
        }
        __m256 sw = _mm256_loadu_ps((const float *)(blk + SCALES_AT) + h * 8);
        UNROLL
        for (int t = 0; t < T; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]),
                                     _mm256_mul_ps(sw, _mm256_set1_ps(x[t].s[b])), acc[t]);
    }
    UNROLL
    for (int t = 0; t < T; t++) {
        float out[8];
        _mm256_storeu_ps(out, acc[t]);
        memcpy(y + (size_t)t * y_stride, out, sizeof(float) * (size_t)valid);
    }
}

ALWAYS_INLINE TFRT_AVX2 void tile_avx2(float *y, size_t y_stride, const void *w, int in,
                                       int c0, int cols, const ActRow *x, int T)
{
    for (int c = 0; c < cols; c += 8) {
        int valid = cols - c < 8 ? cols - c : 8;
        int r = c0 + c;
        half_avx2(y + c, y_stride, tfrt_q8_panel_block(w, in, r / TFRT_Q8_PANEL, 0),
                  in / TFRT_Q8_BLOCK, x, T, r % TFRT_Q8_PANEL / 8, valid);
    }
}

TFRT_AVX2 void tfrt_q8_matmul_avx2(float *y, size_t y_stride, const void *w, int rows, int in,
                                   int c0, int cols, const void *xq, size_t xq_stride, int n)
{
    (void)rows;
    for (int i0 = 0; i0 < n; i0 += AVX2_TILE) {
        int T = n - i0 < AVX2_TILE ? n - i0 : AVX2_TILE;
        ActRow x[AVX2_TILE] = {{NULL, NULL, NULL}};
        UNROLL
        for (int t = 0; t < T; t++)
            x[t] = act_row(xq, xq_stride, i0 + t, in);
        float *yi = y + (size_t)i0 * y_stride;
        switch (T) {
        case 1: tile_avx2(yi, y_stride, w, in, c0, cols, x, 1); break;
        case 2: tile_avx2(yi, y_stride, w, in, c0, cols, x, 2); break;
        case 3: tile_avx2(yi, y_stride, w, in, c0, cols, x, 3); break;
        default: tile_avx2(yi, y_stride, w, in, c0, cols, x, 4); break;
        }
    }
}

/* ---- quantizing activations -------------------------------------------------------- */

/* One row, as q8.c's C version: amax, inv = 127 / amax, q = rint(x inv)
 * (cvtps2dq rounds ties to even, as rintf; |x inv| <= 127 (1 + 2^-23)
 * rounds to at most 127, so the C version's clamp changes nothing). */
TFRT_AVX512 void tfrt_q8_quantize_act_row_avx512(void *row, const float *x, int in)
{
    int8_t *q = row;
    float *scale = (float *)((char *)row + in);
    int32_t *bias = (int32_t *)((char *)row + in + 4 * (in / TFRT_Q8_BLOCK));
    for (int b = 0; b < in / TFRT_Q8_BLOCK; b++) {
        const float *v = x + (size_t)b * TFRT_Q8_BLOCK;
        __m512 lo = _mm512_loadu_ps(v), hi = _mm512_loadu_ps(v + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, _mm512_set1_ps(inv)));
        __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, _mm512_set1_ps(inv)));
        _mm_storeu_si128((__m128i *)(q + b * TFRT_Q8_BLOCK), _mm512_cvtepi32_epi8(qlo));
        _mm_storeu_si128((__m128i *)(q + b * TFRT_Q8_BLOCK + 16), _mm512_cvtepi32_epi8(qhi));
        scale[b] = amax / 127.0f;
        bias[b] = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(qlo, qhi));
    }
}

#else
typedef int tfrt_q8_x86_unused;     /* ISO C wants a declaration */
#endif
