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
 * Tokens go in tiles of up to 8 (VNNI) or 4 (AVX2) that share every
 * weight load; decode (n = 1) streams the weights once, with a prefetch a
 * few blocks ahead.
 */
#include "tfrt.h"
#include "cpu.h"
#include "q8_internal.h"

#include <string.h>

#if TFRT_X86
#include <immintrin.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define TFRT_VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

enum {
    GROUPS = TFRT_Q8_BLOCK / TFRT_Q8_GROUP,      /* 8 groups of 4 inputs per block */
    SCALES_AT = TFRT_Q8_PANEL * TFRT_Q8_BLOCK,   /* the scales' offset in a panel block */
    PREFETCH_AHEAD = 4 * TFRT_Q8_BLOCK_BYTES,    /* decode: bytes ahead of the reads */
    VNNI_TILE = 8,
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
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *blk = panel + (size_t)b * TFRT_Q8_BLOCK_BYTES;
        if (T == 1)
            for (int l = 0; l < TFRT_Q8_BLOCK_BYTES; l += 64)
                _mm_prefetch((const char *)blk + PREFETCH_AHEAD + l, _MM_HINT_T0);
        __m512i s[VNNI_TILE];
        for (int t = 0; t < T; t++)
            s[t] = _mm512_set1_epi32(x[t].bias[b]);
        for (int g = 0; g < GROUPS; g++) {
            __m512i w = _mm512_loadu_si512(blk + g * 64);
            for (int t = 0; t < T; t++)
                s[t] = _mm512_dpbusd_epi32(
                    s[t], w, _mm512_set1_epi32(load4(x[t].q + b * TFRT_Q8_BLOCK + g * 4)));
        }
        __m512 sw = _mm512_loadu_ps((const float *)(blk + SCALES_AT));
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]),
                                     _mm512_mul_ps(sw, _mm512_set1_ps(x[t].s[b])), acc[t]);
    }
    __mmask16 m = (__mmask16)((1u << valid) - 1);
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
        ActRow x[VNNI_TILE];
        for (int t = 0; t < T; t++)
            x[t] = act_row(xq, xq_stride, i0 + t, in);
        float *yi = y + (size_t)i0 * y_stride;
        switch (T) {    /* a constant T keeps the accumulators in registers */
        case 1: tile_vnni(yi, y_stride, w, in, c0, cols, x, 1); break;
        case 2: tile_vnni(yi, y_stride, w, in, c0, cols, x, 2); break;
        case 3: tile_vnni(yi, y_stride, w, in, c0, cols, x, 3); break;
        case 4: tile_vnni(yi, y_stride, w, in, c0, cols, x, 4); break;
        case 5: tile_vnni(yi, y_stride, w, in, c0, cols, x, 5); break;
        case 6: tile_vnni(yi, y_stride, w, in, c0, cols, x, 6); break;
        case 7: tile_vnni(yi, y_stride, w, in, c0, cols, x, 7); break;
        default: tile_vnni(yi, y_stride, w, in, c0, cols, x, 8); break;
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
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *blk = panel + (size_t)b * TFRT_Q8_BLOCK_BYTES;
        if (T == 1 && h == 0)
            for (int l = 0; l < TFRT_Q8_BLOCK_BYTES; l += 64)
                _mm_prefetch((const char *)blk + PREFETCH_AHEAD + l, _MM_HINT_T0);
        __m256i s[AVX2_TILE];
        for (int t = 0; t < T; t++)
            s[t] = _mm256_setzero_si256();
        for (int g = 0; g < GROUPS; g++) {
            __m256i q = _mm256_xor_si256(
                _mm256_loadu_si256((const __m256i *)(blk + g * 64 + h * 32)), flip);
            __m256i aq = _mm256_abs_epi8(q);
            for (int t = 0; t < T; t++) {
                __m256i xv = _mm256_set1_epi32(load4(x[t].q + b * TFRT_Q8_BLOCK + g * 4));
                __m256i pairs = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(xv, q));
                s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(pairs, ones));
            }
        }
        __m256 sw = _mm256_loadu_ps((const float *)(blk + SCALES_AT) + h * 8);
        for (int t = 0; t < T; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]),
                                     _mm256_mul_ps(sw, _mm256_set1_ps(x[t].s[b])), acc[t]);
    }
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
        ActRow x[AVX2_TILE];
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

#else
typedef int tfrt_q8_x86_unused;     /* ISO C wants a declaration */
#endif
