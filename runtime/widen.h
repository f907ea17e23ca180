/*
 * widen.h - stored 16-bit floats to float (runtime-internal): the
 * weights binding (bind.c) widens F16/BF16 tensors with these, and the
 * int8 quantizer (quantize.c) reads them through them.
 */
#ifndef TFRT_WIDEN_H
#define TFRT_WIDEN_H

#include "tfrt.h"

#include <stdint.h>
#include <string.h>

/* IEEE half -> float, exact for every input (subnormals, inf, NaN). */
static inline float tfrt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* Subnormal: value = man * 2^-24, exact in float. */
        float f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 is the top half of a float. */
static inline float tfrt_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Value i of a little-endian tensor of dtype dt (F32, F16 or BF16) at p,
 * whatever p's alignment. */
static inline float tfrt_stored_value(const void *p, TfrtDtype dt, size_t i)
{
    const unsigned char *b = p;
    if (dt == TFRT_DT_F32) {
        float f;
        memcpy(&f, b + 4 * i, sizeof f);
        return f;
    }
    uint16_t h = (uint16_t)(b[2 * i] | (b[2 * i + 1] << 8));
    return dt == TFRT_DT_F16 ? tfrt_f16_to_f32(h) : tfrt_bf16_to_f32(h);
}

#endif
