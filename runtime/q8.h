/*
 * q8.h - int8 block quantization of linear-layer weights and its kernels
 * (inside libtfrt).
 *
 * A weight part of `rows` output rows of `in` inputs is cut along `in` into
 * blocks of TFRT_Q8_BLOCK values, each stored as int8 with one float scale:
 * w ~ scale * q, scale = max|w| / 127 over the block, q = w / scale rounded
 * to the nearest integer (ties to even), in [-127, 127].  tfrt_linear reads
 * a part quantized this way when TfrtLinear.q8[p] points at it: it
 * quantizes its input rows the same way (per token, per block) on the fly
 * and multiplies in integers (q8.c, docs/quantization.md "## Kernels").
 *
 * The layout of a quantized part is the kernels' own, opaque to callers:
 * write it with tfrt_q8_quantize_rows, read a row back with
 * tfrt_q8_dequantize_row.
 */
#ifndef TFRT_Q8_H
#define TFRT_Q8_H

#include <stddef.h>

#define TFRT_Q8_BLOCK 32   /* values per block along `in`, one float scale per block */

/* Bytes of one quantized weight part, `rows` output rows of `in` inputs
 * (in % TFRT_Q8_BLOCK == 0, rows >= 1), in the kernels' layout, to be
 * placed 64-byte aligned.  0 when in or rows is out of range or the size
 * overflows size_t. */
size_t tfrt_q8_weight_bytes(int rows, int in);

/* Quantizes rows [r0, r0+nr) of a part into dst (the whole part's buffer,
 * tfrt_q8_weight_bytes(rows, in) bytes).  src: nr rows of `in` floats,
 * dense (row r0+j at src + j*in), so that a large or f16/bf16 tensor can
 * be streamed through a small float buffer.  Writing the part's last row
 * also fills the layout's padding. */
void tfrt_q8_quantize_rows(void *dst, int rows, int in, int r0, int nr, const float *src);

/* Rows [r0, r0 + rows) and inputs [k0, k0 + in) of a quantized part whose
 * rows have src_in inputs (k0 a multiple of TFRT_Q8_BLOCK), as a part of
 * their own in dst (tfrt_q8_weight_bytes(rows, in) bytes): the bytes
 * tfrt_q8_quantize_rows makes of the same values.  For a part that lies
 * across the panels of a saved tensor (q8_file.h). */
void tfrt_q8_copy_rows(void *dst, int rows, int in, const void *src, int src_in, int r0, int k0);

/* Row r of a quantized part, dequantized into y (in,): scale * q.  For
 * embedding lookup, tests and the error report. */
void tfrt_q8_dequantize_row(float *y, const void *w, int rows, int in, int r);

#endif
