/*
 * q8.c - int8 block quantization: the weight layout (q8_internal.h),
 * quantizing weights and activations, dequantizing a row, and the plain C
 * reference of the int8 matmul with its dispatch to the SIMD versions
 * (q8_x86.c).
 *
 * The C matmul computes each integer block sum directly from the signed
 * values (q_x * q_w), independently of the SIMD kernels' tricks (the +128
 * offset of the stored weights for vpdpbusd, the sign trick of AVX2's
 * maddubs); they must agree exactly, which the unit tests check.
 */
#include "tfrt.h"
#include "cpu.h"
#include "q8_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- weights --------------------------------------------------------------------- */

size_t tfrt_q8_weight_bytes(int rows, int in)
{
    if (rows <= 0 || in <= 0 || in % TFRT_Q8_BLOCK)
        return 0;
    size_t panels = ((size_t)rows + TFRT_Q8_PANEL - 1) / TFRT_Q8_PANEL;
    size_t per = tfrt_q8_panel_bytes(in);
    if (panels > SIZE_MAX / per)
        return 0;
    return panels * per;
}

/* q = rint(v), clamped to [-127, 127]; NaN gives 127 (no undefined cast). */
static int8_t to_q8(float v)
{
    v = v < 127.0f ? v : 127.0f;
    v = v > -127.0f ? v : -127.0f;
    return (int8_t)rintf(v);
}

/* The position of weight (row rr of a panel, input kk of a block) in a
 * panel block. */
static size_t at_in_block(int rr, int kk)
{
    return (size_t)(kk / TFRT_Q8_GROUP) * (TFRT_Q8_PANEL * TFRT_Q8_GROUP)
           + (size_t)rr * TFRT_Q8_GROUP + (size_t)(kk % TFRT_Q8_GROUP);
}

/* Row r of the part (a padding row when src is NULL: zeros). */
static void quantize_row(uint8_t *dst, int in, int r, const float *src)
{
    int panel = r / TFRT_Q8_PANEL, rr = r % TFRT_Q8_PANEL;
    for (int b = 0; b < in / TFRT_Q8_BLOCK; b++) {
        uint8_t *blk = (uint8_t *)tfrt_q8_panel_block(dst, in, panel, b);
        const float *v = src ? src + (size_t)b * TFRT_Q8_BLOCK : NULL;
        float amax = 0;
        for (int k = 0; v && k < TFRT_Q8_BLOCK; k++)
            amax = fabsf(v[k]) > amax ? fabsf(v[k]) : amax;
        float scale = amax / 127.0f;
        for (int k = 0; k < TFRT_Q8_BLOCK; k++) {
            int q = scale > 0 ? to_q8(v[k] / scale) : 0;
            blk[at_in_block(rr, k)] = (uint8_t)(q + 128);
        }
        memcpy(blk + TFRT_Q8_PANEL * TFRT_Q8_BLOCK + 4 * rr, &scale, sizeof scale);
    }
}

void tfrt_q8_quantize_rows(void *dst, int rows, int in, int r0, int nr, const float *src)
{
    for (int j = 0; j < nr; j++)
        quantize_row(dst, in, r0 + j, src + (size_t)j * in);
    if (nr > 0 && r0 + nr == rows)
        for (int r = rows; r % TFRT_Q8_PANEL; r++)
            quantize_row(dst, in, r, NULL);
}

void tfrt_q8_copy_rows(void *dst, int rows, int in, const void *src, int src_in, int r0, int k0)
{
    int padded = (rows + TFRT_Q8_PANEL - 1) / TFRT_Q8_PANEL * TFRT_Q8_PANEL;
    for (int r = 0; r < padded; r++) {
        int rr = r % TFRT_Q8_PANEL, sr = (r0 + r) % TFRT_Q8_PANEL;
        for (int b = 0; b < in / TFRT_Q8_BLOCK; b++) {
            uint8_t *d = (uint8_t *)tfrt_q8_panel_block(dst, in, r / TFRT_Q8_PANEL, b);
            float scale = 0;
            if (r >= rows) {   /* padding, as quantize_row writes it */
                for (int k = 0; k < TFRT_Q8_BLOCK; k += TFRT_Q8_GROUP)
                    memset(d + at_in_block(rr, k), 128, TFRT_Q8_GROUP);
            } else {
                const uint8_t *s = tfrt_q8_panel_block(src, src_in, (r0 + r) / TFRT_Q8_PANEL,
                                                       k0 / TFRT_Q8_BLOCK + b);
                for (int k = 0; k < TFRT_Q8_BLOCK; k += TFRT_Q8_GROUP)
                    memcpy(d + at_in_block(rr, k), s + at_in_block(sr, k), TFRT_Q8_GROUP);
                memcpy(&scale, s + TFRT_Q8_PANEL * TFRT_Q8_BLOCK + 4 * sr, sizeof scale);
            }
            memcpy(d + TFRT_Q8_PANEL * TFRT_Q8_BLOCK + 4 * rr, &scale, sizeof scale);
        }
    }
}

void tfrt_q8_dequantize_row(float *y, const void *w, int rows, int in, int r)
{
    (void)rows;
    int panel = r / TFRT_Q8_PANEL, rr = r % TFRT_Q8_PANEL;
    for (int b = 0; b < in / TFRT_Q8_BLOCK; b++) {
        const uint8_t *blk = tfrt_q8_panel_block(w, in, panel, b);
        float scale;
        memcpy(&scale, blk + TFRT_Q8_PANEL * TFRT_Q8_BLOCK + 4 * rr, sizeof scale);
        for (int k = 0; k < TFRT_Q8_BLOCK; k++)
            y[b * TFRT_Q8_BLOCK + k] = scale * (float)((int)blk[at_in_block(rr, k)] - 128);
    }
}

/* ---- activations ------------------------------------------------------------------- */

size_t tfrt_q8_act_row_bytes(int in)
{
    size_t bytes = (size_t)in + 8 * (size_t)(in / TFRT_Q8_BLOCK);
    return (bytes + 63) / 64 * 64;
}

/* One block of 32: in blocks of fixed length gcc vectorizes; rintf rounds
 * ties to even as cvtps2dq does. */
static void quantize_act_block(int8_t *q, float *scale, int32_t *bias, const float *x)
{
    float amax = 0;
    for (int k = 0; k < TFRT_Q8_BLOCK; k++)
        amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int k = 0; k < TFRT_Q8_BLOCK; k++) {
        q[k] = to_q8(x[k] * inv);
        sum += q[k];
    }
    *scale = amax / 127.0f;
    *bias = -128 * sum;
}

void tfrt_q8_quantize_act(void *xq, size_t stride, const float *x, size_t x_stride, int n, int in)
{
#if TFRT_X86
    if (tfrt_cpu_isa() == TFRT_ISA_AVX512) {
        for (int i = 0; i < n; i++)
            tfrt_q8_quantize_act_row_avx512((char *)xq + (size_t)i * stride,
                                            x + (size_t)i * x_stride, in);
        return;
    }
#endif
    for (int i = 0; i < n; i++) {
        char *row = (char *)xq + (size_t)i * stride;
        float *scale = (float *)(row + in);
        int32_t *bias = (int32_t *)(row + in + 4 * (in / TFRT_Q8_BLOCK));
        for (int b = 0; b < in / TFRT_Q8_BLOCK; b++)
            quantize_act_block((int8_t *)row + b * TFRT_Q8_BLOCK, scale + b, bias + b,
                               x + (size_t)i * x_stride + (size_t)b * TFRT_Q8_BLOCK);
    }
}

/* ---- the C reference matmul ---------------------------------------------------------- */

/* One panel block against one token: s[rr] = sum_k q_x[k] q_w[rr][k] for
 * the panel's 16 rows, walking the 64-byte groups in memory order (row rr
 * holds bytes 4 rr .. 4 rr + 3 of each group), in loops gcc vectorizes. */
static void block_sums_c(int32_t *s, const uint8_t *blk, const int8_t *qx)
{
    for (int rr = 0; rr < TFRT_Q8_PANEL; rr++)
        s[rr] = 0;
    for (int g = 0; g < TFRT_Q8_BLOCK / TFRT_Q8_GROUP; g++) {
        const uint8_t *wg = blk + g * TFRT_Q8_PANEL * TFRT_Q8_GROUP;
        const int8_t *xg = qx + g * TFRT_Q8_GROUP;
        for (int rr = 0; rr < TFRT_Q8_PANEL; rr++)
            for (int j = 0; j < TFRT_Q8_GROUP; j++)
                s[rr] += (int32_t)xg[j] * ((int32_t)wg[rr * TFRT_Q8_GROUP + j] - 128);
    }
}

void tfrt_q8_matmul_c(float *y, size_t y_stride, const void *w, int rows, int in, int c0,
                      int cols, const void *xq, size_t xq_stride, int n)
{
    (void)rows;
    int blocks = in / TFRT_Q8_BLOCK;
    for (int c = 0; c < cols; c += TFRT_Q8_PANEL) {
        int panel = (c0 + c) / TFRT_Q8_PANEL;
        int valid = cols - c < TFRT_Q8_PANEL ? cols - c : TFRT_Q8_PANEL;
        for (int i = 0; i < n; i++) {
            const void *row = (const char *)xq + (size_t)i * xq_stride;
            const int8_t *qx = tfrt_q8_act_q(row);
            const float *sx = tfrt_q8_act_scale(row, in);
            float acc[TFRT_Q8_PANEL] = {0};
            for (int b = 0; b < blocks; b++) {
                const uint8_t *blk = tfrt_q8_panel_block(w, in, panel, b);
                int32_t s[TFRT_Q8_PANEL];
                float sw[TFRT_Q8_PANEL];
                block_sums_c(s, blk, qx + b * TFRT_Q8_BLOCK);
                memcpy(sw, blk + TFRT_Q8_PANEL * TFRT_Q8_BLOCK, sizeof sw);
                for (int rr = 0; rr < TFRT_Q8_PANEL; rr++)
                    acc[rr] = fmaf((float)s[rr], sw[rr] * sx[b], acc[rr]);
            }
            memcpy(y + (size_t)i * y_stride + c, acc, sizeof(float) * (size_t)valid);
        }
    }
}

void tfrt_q8_matmul(int isa, float *y, size_t y_stride, const void *w, int rows, int in,
                    int c0, int cols, const void *xq, size_t xq_stride, int n)
{
    if (cols <= 0 || n <= 0)
        return;
#if TFRT_X86
    if (isa == TFRT_ISA_AVX512 && tfrt_cpu_has_avx512_vnni()) {
        tfrt_q8_matmul_vnni(y, y_stride, w, rows, in, c0, cols, xq, xq_stride, n);
        return;
    }
    if (isa >= TFRT_ISA_AVX2) {
        tfrt_q8_matmul_avx2(y, y_stride, w, rows, in, c0, cols, xq, xq_stride, n);
        return;
    }
#endif
    (void)isa;
    tfrt_q8_matmul_c(y, y_stride, w, rows, in, c0, cols, xq, xq_stride, n);
}
