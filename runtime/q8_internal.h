/*
 * q8_internal.h - the int8 kernels' layouts and entry points (internal).
 *
 * Weights (one part of `rows` x `in`): panels of TFRT_Q8_PANEL output
 * rows, the last padded with zero rows.  A panel is its blocks in order;
 * a panel block is
 *   8 groups of 4 inputs, each 16 rows x 4 bytes (64 bytes: one zmm,
 *   exactly what one vpdpbusd multiplies), the values stored as
 *   q + 128 (unsigned, 1..255: vpdpbusd's unsigned operand), then
 *   16 float scales, one per row                          (64 bytes)
 * so 576 bytes for 16 x 32 weights: 4.5 bits more per weight than the
 * int8 values, as Q8_0's f16 scale costs 4.
 *
 * Activations (n rows of `in`), quantized per row per block by
 * tfrt_q8_quantize_act into rows of tfrt_q8_act_row_bytes(in) bytes:
 *   int8 q[in]            (signed, -127..127)
 *   float scale[in / 32]
 *   int32 bias[in / 32]   -128 * sum of the block's q: the sum of
 *                         q_x * (q_w + 128) plus this is sum q_x * q_w
 */
#ifndef TFRT_Q8_INTERNAL_H
#define TFRT_Q8_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "q8.h"

enum {
    TFRT_Q8_PANEL = 16,                     /* output rows per panel */
    TFRT_Q8_GROUP = 4,                      /* inputs per interleaved group */
    TFRT_Q8_BLOCK_BYTES = TFRT_Q8_PANEL * TFRT_Q8_BLOCK + TFRT_Q8_PANEL * 4
};

/* Bytes of one quantized activation row (a multiple of 64). */
size_t tfrt_q8_act_row_bytes(int in);

/* The parts of an activation row. */
static inline const int8_t *tfrt_q8_act_q(const void *row) { return row; }
static inline const float *tfrt_q8_act_scale(const void *row, int in)
{
    return (const float *)((const char *)row + in);
}
static inline const int32_t *tfrt_q8_act_bias(const void *row, int in)
{
    return (const int32_t *)((const char *)row + in + 4 * (in / TFRT_Q8_BLOCK));
}

/* xq rows (stride bytes apart, 16-byte aligned) := x rows (x_stride
 * floats apart) [0, n) quantized: scale = max|x| / 127 per block,
 * q = rint(x * (127 / max|x|)). */
void tfrt_q8_quantize_act(void *xq, size_t stride, const float *x, size_t x_stride, int n, int in);

/* y (n, cols), rows y_stride floats apart, = xq (n, in) . W[c0 : c0+cols]^T
 * for one part W quantized with tfrt_q8_quantize_rows (rows x in), c0 a
 * multiple of TFRT_Q8_PANEL; xq rows xq_stride bytes apart.  For each
 * output, with s the integer dot product of block b:
 *   y = 0; for b in order: y = fma((float)s_b, sw_b * sx_b, y)
 * so every instruction set gives the same bits.  isa: a TfrtIsa the CPU
 * has (the VNNI kernel where AVX-512 has VNNI, else AVX2, else C). */
void tfrt_q8_matmul(int isa, float *y, size_t y_stride, const void *w, int rows, int in,
                    int c0, int cols, const void *xq, size_t xq_stride, int n);

/* The versions, each with the same contract: plain C (q8.c), the
 * reference of the others; AVX2 and AVX512-VNNI (q8_x86.c, x86 builds
 * only), on CPUs that have their instructions. */
void tfrt_q8_matmul_c(float *y, size_t y_stride, const void *w, int rows, int in, int c0,
                      int cols, const void *xq, size_t xq_stride, int n);
void tfrt_q8_matmul_avx2(float *y, size_t y_stride, const void *w, int rows, int in, int c0,
                         int cols, const void *xq, size_t xq_stride, int n);
void tfrt_q8_matmul_vnni(float *y, size_t y_stride, const void *w, int rows, int in, int c0,
                         int cols, const void *xq, size_t xq_stride, int n);

/* tfrt_q8_quantize_act's AVX-512 version of one row (q8_x86.c): the same
 * bits as the C version for finite x. */
void tfrt_q8_quantize_act_row_avx512(void *row, const float *x, int in);

/* The weight layout's addresses: panel bytes, and the start of panel
 * block (panel, b). */
static inline size_t tfrt_q8_panel_bytes(int in)
{
    return (size_t)(in / TFRT_Q8_BLOCK) * TFRT_Q8_BLOCK_BYTES;
}
static inline const uint8_t *tfrt_q8_panel_block(const void *w, int in, int panel, int b)
{
    return (const uint8_t *)w + (size_t)panel * tfrt_q8_panel_bytes(in)
           + (size_t)b * TFRT_Q8_BLOCK_BYTES;
}

#endif
