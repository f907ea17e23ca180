/*
 * vmath.h - exp, sigmoid, tanh and the GELUs on AVX2 and AVX-512 vectors
 * (internal).
 *
 * Each function is its scalar twin in tfrt.h (tfrt_exp1, tfrt_tanh1, ...)
 * lane by lane: the same range reduction, polynomials, exact x^2 split and
 * selections, so the accuracy stated there holds here too; results differ
 * from the scalar ones only where FMA contraction rounds differently.
 * Selections keep the scalar code's NaN behaviour: max(c, x) and min(c, x)
 * return x when x is NaN, as `x < c ? c : x` does, and an ordered compare
 * is false for NaN.
 *
 * The functions are static inline with target attributes: include this
 * header only from files that pick a version with tfrt_cpu_isa().
 */
#ifndef TFRT_VMATH_H
#define TFRT_VMATH_H

#include "tfrt.h"
#include "cpu.h"

#if TFRT_X86
#include <immintrin.h>

/* ---- AVX-512: 16 lanes ------------------------------------------------------ */

#define V16(c) _mm512_set1_ps(c)

static inline TFRT_AVX512 __m512 exp_lo_avx512(__m512 x, __m512 lo)
{
    x = _mm512_max_ps(V16(-104.0f), x);
    x = _mm512_min_ps(V16(88.8f), x);
    __m512 t = _mm512_fmadd_ps(x, V16(1.44269504088896341f), V16(TFRT_EXP_SHIFT));
    __m512 n = _mm512_sub_ps(t, V16(TFRT_EXP_SHIFT));
    __m512 r = _mm512_fnmadd_ps(n, V16(TFRT_LN2_HI), x);
    r = _mm512_add_ps(_mm512_fnmadd_ps(n, V16(TFRT_LN2_LO), r), lo);
    __m512 p = _mm512_fmadd_ps(r, V16(TFRT_EXP_P4), V16(TFRT_EXP_P3));
    p = _mm512_fmadd_ps(p, r, V16(TFRT_EXP_P2));
    p = _mm512_fmadd_ps(p, r, V16(TFRT_EXP_P1));
    p = _mm512_fmadd_ps(p, r, V16(TFRT_EXP_P0));
    p = _mm512_fmadd_ps(p, r, V16(1.0f));
    p = _mm512_fmadd_ps(p, r, V16(1.0f));
    __m512i m = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(V16(12582912.0f)));
    __m512i m1 = _mm512_srli_epi32(m, 1), m2 = _mm512_sub_epi32(m, m1);
    __m512i b52 = _mm512_set1_epi32(52);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(m1, b52), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(m2, b52), 23));
    return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

static inline TFRT_AVX512 __m512 exp_avx512(__m512 x)
{
    return exp_lo_avx512(x, _mm512_setzero_ps());
}

static inline TFRT_AVX512 __m512 abs_avx512(__m512 x)
{
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x),
                                                _mm512_set1_epi32(0x7fffffff)));
}

static inline TFRT_AVX512 __m512 tanh_avx512(__m512 x)
{
    __m512 a = abs_avx512(x), x2 = _mm512_mul_ps(x, x);
    __m512 s = _mm512_fmadd_ps(x2, V16(TFRT_TANH_P4), V16(TFRT_TANH_P3));
    s = _mm512_fmadd_ps(s, x2, V16(TFRT_TANH_P2));
    s = _mm512_fmadd_ps(s, x2, V16(TFRT_TANH_P1));
    s = _mm512_fmadd_ps(s, x2, V16(TFRT_TANH_P0));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(x, x2), s, x);
    __m512 e = exp_avx512(_mm512_add_ps(a, a));
    __m512 big = _mm512_sub_ps(V16(1.0f), _mm512_div_ps(V16(2.0f), _mm512_add_ps(e, V16(1.0f))));
    big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big),
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, V16(0.625f), _CMP_LT_OQ), big, small);
}

static inline TFRT_AVX512 __m512 sigmoid_avx512(__m512 x)
{
    __m512 e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), abs_avx512(x)));
    __m512 s = _mm512_div_ps(V16(1.0f), _mm512_add_ps(V16(1.0f), e));
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(neg, s, _mm512_mul_ps(e, s));
}

static inline TFRT_AVX512 __m512 silu_avx512(__m512 x)
{
    return _mm512_mul_ps(x, sigmoid_avx512(x));
}

static inline TFRT_AVX512 __m512 gelu_tanh_avx512(__m512 x)
{
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 u = _mm512_mul_ps(V16(0.7978845608028654f), _mm512_fmadd_ps(V16(0.044715f), x3, x));
    return _mm512_mul_ps(x, sigmoid_avx512(_mm512_add_ps(u, u)));
}

static inline TFRT_AVX512 __m512 gelu_avx512(__m512 x)
{
    __m512 a = abs_avx512(x);
    __m512 z = _mm512_mul_ps(a, V16(0.70710678118654752f)), z2 = _mm512_mul_ps(z, z);
    __m512 erf = _mm512_fmadd_ps(z2, V16(TFRT_ERF_P5), V16(TFRT_ERF_P4));
    erf = _mm512_fmadd_ps(erf, z2, V16(TFRT_ERF_P3));
    erf = _mm512_fmadd_ps(erf, z2, V16(TFRT_ERF_P2));
    erf = _mm512_fmadd_ps(erf, z2, V16(TFRT_ERF_P1));
    erf = _mm512_fmadd_ps(erf, z2, V16(TFRT_ERF_P0));
    erf = _mm512_mul_ps(erf, z);
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    erf = _mm512_mask_sub_ps(erf, neg, _mm512_setzero_ps(), erf);
    __m512 small = _mm512_mul_ps(_mm512_mul_ps(V16(0.5f), x), _mm512_add_ps(V16(1.0f), erf));
    __m512 ac = _mm512_min_ps(V16(16.0f), a);
    __m512 ah = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(ac),
                                                     _mm512_set1_epi32((int)0xfffff000u)));
    __m512 al = _mm512_sub_ps(ac, ah);
    __m512 e = exp_lo_avx512(_mm512_mul_ps(_mm512_mul_ps(V16(-0.5f), ah), ah),
                             _mm512_mul_ps(_mm512_mul_ps(V16(-0.5f), al), _mm512_add_ps(ac, ah)));
    __m512 t = _mm512_div_ps(V16(1.0f), _mm512_fmadd_ps(V16(0.4f), z, V16(1.0f)));
    __m512 q = _mm512_fmadd_ps(t, V16(TFRT_ERFC_P8), V16(TFRT_ERFC_P7));
    q = _mm512_fmadd_ps(q, t, V16(TFRT_ERFC_P6));
    q = _mm512_fmadd_ps(q, t, V16(TFRT_ERFC_P5));
    q = _mm512_fmadd_ps(q, t, V16(TFRT_ERFC_P4));
    q = _mm512_fmadd_ps(q, t, V16(TFRT_ERFC_P3));
    q = _mm512_fmadd_ps(q, t, V16(TFRT_ERFC_P2));
    q = _mm512_fmadd_ps(q, t, V16(TFRT_ERFC_P1));
    q = _mm512_fmadd_ps(q, t, V16(TFRT_ERFC_P0));
    __m512 h = _mm512_mul_ps(_mm512_mul_ps(V16(0.5f), e), q);
    __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    __m512 big = _mm512_mul_ps(x, _mm512_mask_blend_ps(pos, h, _mm512_sub_ps(V16(1.0f), h)));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, V16(0.75f), _CMP_LT_OQ), big, small);
}

/* ---- AVX2: 8 lanes ------------------------------------------------------------ */

#define V8(c) _mm256_set1_ps(c)

static inline TFRT_AVX2 __m256 exp_lo_avx2(__m256 x, __m256 lo)
{
    x = _mm256_max_ps(V8(-104.0f), x);
    x = _mm256_min_ps(V8(88.8f), x);
    __m256 t = _mm256_fmadd_ps(x, V8(1.44269504088896341f), V8(TFRT_EXP_SHIFT));
    __m256 n = _mm256_sub_ps(t, V8(TFRT_EXP_SHIFT));
    __m256 r = _mm256_fnmadd_ps(n, V8(TFRT_LN2_HI), x);
    r = _mm256_add_ps(_mm256_fnmadd_ps(n, V8(TFRT_LN2_LO), r), lo);
    __m256 p = _mm256_fmadd_ps(r, V8(TFRT_EXP_P4), V8(TFRT_EXP_P3));
    p = _mm256_fmadd_ps(p, r, V8(TFRT_EXP_P2));
    p = _mm256_fmadd_ps(p, r, V8(TFRT_EXP_P1));
    p = _mm256_fmadd_ps(p, r, V8(TFRT_EXP_P0));
    p = _mm256_fmadd_ps(p, r, V8(1.0f));
    p = _mm256_fmadd_ps(p, r, V8(1.0f));
    __m256i m = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(V8(12582912.0f)));
    __m256i m1 = _mm256_srli_epi32(m, 1), m2 = _mm256_sub_epi32(m, m1);
    __m256i b52 = _mm256_set1_epi32(52);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(m1, b52), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(m2, b52), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

static inline TFRT_AVX2 __m256 exp_avx2(__m256 x)
{
    return exp_lo_avx2(x, _mm256_setzero_ps());
}

static inline TFRT_AVX2 __m256 abs_avx2(__m256 x)
{
    return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

static inline TFRT_AVX2 __m256 tanh_avx2(__m256 x)
{
    __m256 a = abs_avx2(x), x2 = _mm256_mul_ps(x, x);
    __m256 s = _mm256_fmadd_ps(x2, V8(TFRT_TANH_P4), V8(TFRT_TANH_P3));
    s = _mm256_fmadd_ps(s, x2, V8(TFRT_TANH_P2));
    s = _mm256_fmadd_ps(s, x2, V8(TFRT_TANH_P1));
    s = _mm256_fmadd_ps(s, x2, V8(TFRT_TANH_P0));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(x, x2), s, x);
    __m256 e = exp_avx2(_mm256_add_ps(a, a));
    __m256 big = _mm256_sub_ps(V8(1.0f), _mm256_div_ps(V8(2.0f), _mm256_add_ps(e, V8(1.0f))));
    big = _mm256_or_ps(big, _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u))));
    return _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, V8(0.625f), _CMP_LT_OQ));
}

static inline TFRT_AVX2 __m256 sigmoid_avx2(__m256 x)
{
    __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), abs_avx2(x)));
    __m256 s = _mm256_div_ps(V8(1.0f), _mm256_add_ps(V8(1.0f), e));
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(s, _mm256_mul_ps(e, s), neg);
}

static inline TFRT_AVX2 __m256 silu_avx2(__m256 x)
{
    return _mm256_mul_ps(x, sigmoid_avx2(x));
}

static inline TFRT_AVX2 __m256 gelu_tanh_avx2(__m256 x)
{
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 u = _mm256_mul_ps(V8(0.7978845608028654f), _mm256_fmadd_ps(V8(0.044715f), x3, x));
    return _mm256_mul_ps(x, sigmoid_avx2(_mm256_add_ps(u, u)));
}

static inline TFRT_AVX2 __m256 gelu_avx2(__m256 x)
{
    __m256 a = abs_avx2(x);
    __m256 z = _mm256_mul_ps(a, V8(0.70710678118654752f)), z2 = _mm256_mul_ps(z, z);
    __m256 erf = _mm256_fmadd_ps(z2, V8(TFRT_ERF_P5), V8(TFRT_ERF_P4));
    erf = _mm256_fmadd_ps(erf, z2, V8(TFRT_ERF_P3));
    erf = _mm256_fmadd_ps(erf, z2, V8(TFRT_ERF_P2));
    erf = _mm256_fmadd_ps(erf, z2, V8(TFRT_ERF_P1));
    erf = _mm256_fmadd_ps(erf, z2, V8(TFRT_ERF_P0));
    erf = _mm256_mul_ps(erf, z);
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    erf = _mm256_blendv_ps(erf, _mm256_sub_ps(_mm256_setzero_ps(), erf), neg);
    __m256 small = _mm256_mul_ps(_mm256_mul_ps(V8(0.5f), x), _mm256_add_ps(V8(1.0f), erf));
    __m256 ac = _mm256_min_ps(V8(16.0f), a);
    __m256 ah = _mm256_and_ps(ac, _mm256_castsi256_ps(_mm256_set1_epi32((int)0xfffff000u)));
    __m256 al = _mm256_sub_ps(ac, ah);
    __m256 e = exp_lo_avx2(_mm256_mul_ps(_mm256_mul_ps(V8(-0.5f), ah), ah),
                           _mm256_mul_ps(_mm256_mul_ps(V8(-0.5f), al), _mm256_add_ps(ac, ah)));
    __m256 t = _mm256_div_ps(V8(1.0f), _mm256_fmadd_ps(V8(0.4f), z, V8(1.0f)));
    __m256 q = _mm256_fmadd_ps(t, V8(TFRT_ERFC_P8), V8(TFRT_ERFC_P7));
    q = _mm256_fmadd_ps(q, t, V8(TFRT_ERFC_P6));
    q = _mm256_fmadd_ps(q, t, V8(TFRT_ERFC_P5));
    q = _mm256_fmadd_ps(q, t, V8(TFRT_ERFC_P4));
    q = _mm256_fmadd_ps(q, t, V8(TFRT_ERFC_P3));
    q = _mm256_fmadd_ps(q, t, V8(TFRT_ERFC_P2));
    q = _mm256_fmadd_ps(q, t, V8(TFRT_ERFC_P1));
    q = _mm256_fmadd_ps(q, t, V8(TFRT_ERFC_P0));
    __m256 h = _mm256_mul_ps(_mm256_mul_ps(V8(0.5f), e), q);
    __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
    __m256 big = _mm256_mul_ps(x, _mm256_blendv_ps(h, _mm256_sub_ps(V8(1.0f), h), pos));
    return _mm256_blendv_ps(big, small, _mm256_cmp_ps(z, V8(0.75f), _CMP_LT_OQ));
}

#endif /* TFRT_X86 */
#endif
