/*
 * cpu.h - which instruction set the runtime's kernels use (internal).
 *
 * Optimized kernels come in three versions: plain C, AVX2 + FMA and
 * AVX-512 (F, BW, DQ, VL).  The SIMD versions are compiled with function
 * target attributes, not with flags for the whole build, so the library
 * runs on any x86-64 and builds with only the C versions elsewhere; each
 * kernel picks its version from tfrt_cpu_isa() when it is called.
 */
#ifndef TFRT_CPU_H
#define TFRT_CPU_H

typedef enum {
    TFRT_ISA_C = 0,
    TFRT_ISA_AVX2 = 1,          /* AVX2 and FMA, with OS support for ymm */
    TFRT_ISA_AVX512 = 2         /* AVX-512 F/BW/DQ/VL, OS support for zmm */
} TfrtIsa;

/* The level kernels use: the best this CPU supports, lowered by the
 * environment variable TFRT_ISA (c, avx2, avx512; a level above the CPU's,
 * or an unknown name, changes nothing) or by tfrt_cpu_force_isa. */
TfrtIsa tfrt_cpu_isa(void);
/* The best level the CPU and OS support, ignoring TFRT_ISA. */
TfrtIsa tfrt_cpu_detected_isa(void);
/* 1 if the CPU has AVX512-VNNI (and the OS saves zmm state). */
int tfrt_cpu_has_avx512_vnni(void);
/* 1 if the CPU has AVX-VNNI, the VEX-encoded form. */
int tfrt_cpu_has_avx_vnni(void);
/* For tests: use min(isa, detected) from now on; a negative isa returns to
 * the level TFRT_ISA and the CPU give.  Not to be called while kernels run
 * on other threads. */
void tfrt_cpu_force_isa(int isa);
const char *tfrt_isa_name(TfrtIsa isa);

/* TFRT_NO_SIMD builds the C versions only, as on a host that is not x86. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(TFRT_NO_SIMD)
#define TFRT_X86 1
#define TFRT_AVX2 __attribute__((target("avx2,fma")))
#define TFRT_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")))
#else
#define TFRT_X86 0
#endif

#endif
