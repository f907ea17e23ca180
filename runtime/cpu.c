/*
 * cpu.c - instruction-set detection (cpuid, xgetbv) and the TFRT_ISA
 * override.
 *
 * A CPU may report AVX or AVX-512 while the operating system does not save
 * their registers on a context switch; xgetbv says which register states
 * the OS enabled (XCR0 bits 1-2: xmm/ymm; bits 5-7: opmask and zmm).  Both
 * must agree before a level is used.
 */
#include "tfrt.h"
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if TFRT_X86
#include <cpuid.h>
#endif

static struct {
    TfrtIsa detected;           /* the CPU's and OS's best level */
    TfrtIsa env;                /* min(detected, TFRT_ISA) */
    int avx512_vnni, avx_vnni;
} cpu;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static int forced = -1;         /* tfrt_cpu_force_isa, -1: none */

#if TFRT_X86
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static void detect(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    int fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1;
    if (!osxsave || !avx || __get_cpuid_max(0, NULL) < 7)
        return;
    uint64_t xcr0 = xgetbv0();
    int os_ymm = (xcr0 & 0x6) == 0x6, os_zmm = (xcr0 & 0xe6) == 0xe6;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = b >> 5 & 1;
    int avx512 = (b >> 16 & 1) && (b >> 17 & 1) && (b >> 30 & 1) && (b >> 31 & 1);
    int vnni512 = c >> 11 & 1;
    __cpuid_count(7, 1, a, b, c, d);
    int vnni256 = a >> 4 & 1;
    if (!(os_ymm && avx2 && fma))
        return;
    cpu.detected = TFRT_ISA_AVX2;
    cpu.avx_vnni = vnni256;
    if (os_zmm && avx512) {
        cpu.detected = TFRT_ISA_AVX512;
        cpu.avx512_vnni = vnni512;
    }
}
#else
static void detect(void) {}
#endif

static void init(void)
{
    detect();
    cpu.env = cpu.detected;
    const char *want = getenv("TFRT_ISA");
    for (int isa = TFRT_ISA_C; want && isa < (int)cpu.detected; isa++)
        if (strcmp(want, tfrt_isa_name((TfrtIsa)isa)) == 0)
            cpu.env = (TfrtIsa)isa;
}

TfrtIsa tfrt_cpu_detected_isa(void)
{
    pthread_once(&cpu_once, init);
    return cpu.detected;
}

TfrtIsa tfrt_cpu_isa(void)
{
    pthread_once(&cpu_once, init);
    int f = __atomic_load_n(&forced, __ATOMIC_RELAXED);
    if (f < 0)
        return cpu.env;
    return f < (int)cpu.detected ? (TfrtIsa)f : cpu.detected;
}

void tfrt_cpu_force_isa(int isa)
{
    __atomic_store_n(&forced, isa < 0 ? -1 : isa, __ATOMIC_RELAXED);
}

int tfrt_cpu_has_avx512_vnni(void)
{
    pthread_once(&cpu_once, init);
    return cpu.avx512_vnni;
}

int tfrt_cpu_has_avx_vnni(void)
{
    pthread_once(&cpu_once, init);
    return cpu.avx_vnni;
}

const char *tfrt_isa_name(TfrtIsa isa)
{
    static const char *const names[] = {"c", "avx2", "avx512"};
    return isa >= TFRT_ISA_C && isa <= TFRT_ISA_AVX512 ? names[isa] : "?";
}

const char *tfrt_isa(void)
{
    return tfrt_isa_name(tfrt_cpu_isa());
}
