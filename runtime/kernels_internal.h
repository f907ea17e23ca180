/*
 * kernels_internal.h - what the runtime's kernel files share (internal).
 */
#ifndef TFRT_KERNELS_INTERNAL_H
#define TFRT_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* y = act(x) over count floats (TfrtActivation; TFRT_ACT_NONE copies);
 * y may be x.  The array activations of tfrt.h call this. */
void tfrt_activate(int act, float *y, const float *x, size_t count);

/* Rotary embedding in two steps, so that a kernel splitting a row's heads
 * over threads computes each row's angles once: tfrt_rope_angles writes
 * cos and sin of pairs [j0, j0+count) at position pos, as tfrt_rope
 * defines them, and tfrt_rope_heads rotates those pairs of `heads` heads
 * of one row in place.  tfrt_rope is these two, in blocks of
 * TFRT_ROPE_BLOCK pairs. */
enum { TFRT_ROPE_BLOCK = 256 };
void tfrt_rope_angles(float *cos_t, float *sin_t, int32_t pos, int j0, int count,
                      int head_dim, float theta);
void tfrt_rope_heads(float *row, int heads, int head_dim, int j0, int count,
                     const float *cos_t, const float *sin_t, int interleaved);

/* The GEMV kernels (gemv.c) for n <= TFRT_GEMV_MAX_N rows of x at a time
 * (any n works, in groups).  y (n, cols), rows y_stride floats apart, =
 * x (n, in), rows x_stride apart, . W, where W is stored in `layout`
 * (TfrtWeightLayout) with rows ldw floats apart: for TFRT_W_OUT_IN, cols
 * rows of `in` floats; for TFRT_W_IN_OUT, `in` rows whose first cols
 * floats are used.  isa: a TfrtIsa the CPU has. */
enum { TFRT_GEMV_MAX_N = 4 };
void tfrt_gemv(int isa, int layout, float *y, size_t y_stride, const float *w, size_t ldw,
               const float *x, size_t x_stride, int in, int cols, int n);

/* Products from packed weights (packed.c).  P points at the first panel
 * of a part's columns [c, c + cols), c a multiple of TFRT_PANEL; y (n,
 * cols) rows y_stride apart; x (n, in) rows x_stride apart.
 * tfrt_packed_gemv writes y = x . W, any n (in groups of
 * TFRT_GEMV_MAX_N).  tfrt_packed_gemm adds x . W onto y and returns 1,
 * or returns 0 without touching y when isa has no such kernel. */
enum { TFRT_PANEL = TFRT_PACK_PANEL };
void tfrt_packed_gemv(int isa, float *y, size_t y_stride, const float *P, int in, int cols,
                      const float *x, size_t x_stride, int n);
int tfrt_packed_gemm(int isa, float *y, size_t y_stride, const float *P, int in, int cols,
                     const float *x, size_t x_stride, int n);

#endif
