/*
 * activation.c - the array activations of tfrt.h (gelu, gelu_tanh, silu,
 * tanh, relu) and the activation step of fused epilogues.
 *
 * Each runs the vector twin (vmath.h) of its one-value function in tfrt.h
 * on AVX-512 or AVX2, picked at run time, or the one-value function itself
 * in blocks of 16 that the compiler vectorizes for the baseline ISA.  A
 * tail shorter than a vector goes through the same vector code (masked
 * loads on AVX-512, a padded copy on AVX2), so every element of an array
 * gets the same arithmetic whatever its index.
 */
#include "tfrt.h"
#include "cpu.h"
#include "kernels_internal.h"
#include "vmath.h"

#include <string.h>

/* ---- plain C ------------------------------------------------------------------ */

/* y = f(x) over count floats in blocks of 16 copied through a local array:
 * gcc -O2 vectorizes a loop only when it knows the trip count and that
 * nothing overlaps (y may be x). */
#define APPLY_C(f, y, x, count)                                         \
    do {                                                                \
        float b_[16];                                                   \
        for (size_t i_ = 0; i_ < (count); i_ += 16) {                   \
            size_t n_ = (count) - i_ < 16 ? (count) - i_ : 16;          \
            memcpy(b_, (x) + i_, sizeof(float) * n_);                   \
            for (int u_ = 0; u_ < 16; u_++)                             \
                b_[u_] = f(b_[u_]);                                     \
            memcpy((y) + i_, b_, sizeof(float) * n_);                   \
        }                                                               \
    } while (0)

static void activate_c(int act, float *y, const float *x, size_t count)
{
    switch (act) {
    case TFRT_ACT_GELU: APPLY_C(tfrt_gelu1, y, x, count); break;
    case TFRT_ACT_GELU_TANH: APPLY_C(tfrt_gelu_tanh1, y, x, count); break;
    case TFRT_ACT_RELU: APPLY_C(tfrt_relu1, y, x, count); break;
    case TFRT_ACT_SILU: APPLY_C(tfrt_silu1, y, x, count); break;
    case TFRT_ACT_TANH: APPLY_C(tfrt_tanh1, y, x, count); break;
    default: if (y != x) memmove(y, x, sizeof(float) * count); break;
    }
}

#if TFRT_X86

/* ---- AVX-512 ------------------------------------------------------------------ */

static inline TFRT_AVX512 __m512 relu_avx512(__m512 x)
{
    return _mm512_max_ps(_mm512_setzero_ps(), x);
}

#define APPLY_AVX512(f, y, x, count)                                            \
    do {                                                                        \
        size_t i_ = 0;                                                          \
        for (; i_ + 16 <= (count); i_ += 16)                                    \
            _mm512_storeu_ps((y) + i_, f(_mm512_loadu_ps((x) + i_)));           \
        if (i_ < (count)) {                                                     \
            __mmask16 m_ = (__mmask16)((1u << ((count) - i_)) - 1);             \
            _mm512_mask_storeu_ps((y) + i_, m_, f(_mm512_maskz_loadu_ps(m_, (x) + i_))); \
        }                                                                       \
    } while (0)

static TFRT_AVX512 void activate_avx512(int act, float *y, const float *x, size_t count)
{
    switch (act) {
    case TFRT_ACT_GELU: APPLY_AVX512(gelu_avx512, y, x, count); break;
    case TFRT_ACT_GELU_TANH: APPLY_AVX512(gelu_tanh_avx512, y, x, count); break;
    case TFRT_ACT_RELU: APPLY_AVX512(relu_avx512, y, x, count); break;
    case TFRT_ACT_SILU: APPLY_AVX512(silu_avx512, y, x, count); break;
    case TFRT_ACT_TANH: APPLY_AVX512(tanh_avx512, y, x, count); break;
    default: if (y != x) memmove(y, x, sizeof(float) * count); break;
    }
}

/* ---- AVX2 ------------------------------------------------------------------------ */

static inline TFRT_AVX2 __m256 relu_avx2(__m256 x)
{
    return _mm256_max_ps(_mm256_setzero_ps(), x);
}

#define APPLY_AVX2(f, y, x, count)                                              \
    do {                                                                        \
        size_t i_ = 0;                                                          \
        for (; i_ + 8 <= (count); i_ += 8)                                      \
            _mm256_storeu_ps((y) + i_, f(_mm256_loadu_ps((x) + i_)));           \
        if (i_ < (count)) {                                                     \
            float pad_[8] = {0};                                                \
            memcpy(pad_, (x) + i_, sizeof(float) * ((count) - i_));             \
            _mm256_storeu_ps(pad_, f(_mm256_loadu_ps(pad_)));                   \
            memcpy((y) + i_, pad_, sizeof(float) * ((count) - i_));             \
        }                                                                       \
    } while (0)

static TFRT_AVX2 void activate_avx2(int act, float *y, const float *x, size_t count)
{
    switch (act) {
    case TFRT_ACT_GELU: APPLY_AVX2(gelu_avx2, y, x, count); break;
    case TFRT_ACT_GELU_TANH: APPLY_AVX2(gelu_tanh_avx2, y, x, count); break;
    case TFRT_ACT_RELU: APPLY_AVX2(relu_avx2, y, x, count); break;
    case TFRT_ACT_SILU: APPLY_AVX2(silu_avx2, y, x, count); break;
    case TFRT_ACT_TANH: APPLY_AVX2(tanh_avx2, y, x, count); break;
    default: if (y != x) memmove(y, x, sizeof(float) * count); break;
    }
}

#endif /* TFRT_X86 */

void tfrt_activate(int act, float *y, const float *x, size_t count)
{
#if TFRT_X86
    switch (tfrt_cpu_isa()) {
    case TFRT_ISA_AVX512: activate_avx512(act, y, x, count); return;
    case TFRT_ISA_AVX2: activate_avx2(act, y, x, count); return;
    default: break;
    }
#endif
    activate_c(act, y, x, count);
}

void tfrt_gelu(float *y, const float *x, size_t count) { tfrt_activate(TFRT_ACT_GELU, y, x, count); }
void tfrt_gelu_tanh(float *y, const float *x, size_t count) { tfrt_activate(TFRT_ACT_GELU_TANH, y, x, count); }
void tfrt_relu(float *y, const float *x, size_t count) { tfrt_activate(TFRT_ACT_RELU, y, x, count); }
void tfrt_silu(float *y, const float *x, size_t count) { tfrt_activate(TFRT_ACT_SILU, y, x, count); }
void tfrt_tanh(float *y, const float *x, size_t count) { tfrt_activate(TFRT_ACT_TANH, y, x, count); }

float tfrt_gelu1_fn(float x) { return tfrt_gelu1(x); }
float tfrt_gelu_tanh1_fn(float x) { return tfrt_gelu_tanh1(x); }
float tfrt_relu1_fn(float x) { return tfrt_relu1(x); }
float tfrt_silu1_fn(float x) { return tfrt_silu1(x); }
float tfrt_tanh1_fn(float x) { return tfrt_tanh1(x); }
