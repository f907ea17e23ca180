/*
 * test_vmath.c - the float32 math of tfrt.h and runtime/vmath.h (exp,
 * sigmoid, tanh, silu, both GELUs) against libm in double.
 *
 * Inputs: every 4099th float32 bit pattern (about a million values, all
 * magnitudes, both signs, denormals, inf and NaN), steps of 2^-12 over
 * [-20, 20], and a list of special values.  Each function is measured in
 * its scalar form (tfrt_exp1, ..., as generated loops call it), through
 * the array API (tfrt_gelu, ...) at every ISA level this machine has, and,
 * for exp, as the vector function softmax and attention use.
 *
 * The error is counted in ulps of the exact result rounded to float32
 * where that is a normal float, and absolutely below FLT_MIN.  The bounds
 * checked are the ones tfrt.h states (BOUNDS below); set
 * TFRT_VMATH_REPORT=1 to print the measured maxima.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "tfrt.h"
#include "cpu.h"
#include "vmath.h"
#include "tests.h"

enum { F_EXP, F_SIGMOID, F_TANH, F_SILU, F_GELU, F_GELU_TANH, N_FUNCS };

static const char *const names[N_FUNCS] = {"exp", "sigmoid", "tanh", "silu", "gelu", "gelu_tanh"};

/* The stated accuracy (tfrt.h): `ulps` where the exact result is at least
 * `tiny` in magnitude, `abs` absolute error below.  tiny is FLT_MIN, or
 * higher where an intermediate (e^x in silu, e^(-x^2/2) in gelu) goes
 * denormal first.  gelu_tanh below x = -3 also gets 3 |2u| ulps: the
 * rounding of u = sqrt(2/pi)(x + 0.044715 x^3) amplified by e^(2u). */
static const struct { double ulps, tiny, abs; } BOUNDS[N_FUNCS] = {
    [F_EXP] = {2, FLT_MIN, 2e-45},
    [F_SIGMOID] = {3, FLT_MIN, 2e-45},
    [F_TANH] = {2, FLT_MIN, 2e-45},
    [F_SILU] = {4, 1e-36, 1e-43},
    [F_GELU] = {6, 1e-36, 3e-43},
    [F_GELU_TANH] = {16, FLT_MIN, 3e-43},
};

static double allowed_ulps(int f, double x)
{
    if (f != F_GELU_TANH || x >= -3)
        return BOUNDS[f].ulps;
    return BOUNDS[f].ulps + 6 * sqrt(2 / M_PI) * fabs(x + 0.044715 * x * x * x);
}

static double ref(int f, double x)
{
    switch (f) {
    case F_EXP: return exp(x);
    case F_SIGMOID: return 1 / (1 + exp(-x));
    case F_TANH: return tanh(x);
    case F_SILU: return x / (1 + exp(-x));
    case F_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    default: {
        /* 0.5 x (1 + tanh u) = x / (1 + e^(-2u)), without the cancellation */
        double u = sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
        return isinf(x) && x < 0 ? NAN : x / (1 + exp(-2 * u));
    }
    }
}

static float scalar(int f, float x)
{
    switch (f) {
    case F_EXP: return tfrt_exp1(x);
    case F_SIGMOID: return tfrt_sigmoid1(x);
    case F_TANH: return tfrt_tanh1(x);
    case F_SILU: return tfrt_silu1(x);
    case F_GELU: return tfrt_gelu1(x);
    default: return tfrt_gelu_tanh1(x);
    }
}

/* ---- inputs --------------------------------------------------------------------------- */

static float *inputs(size_t *count)
{
    static const float special[] = {
        0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
        1e-45f, -1e-45f, 1e-40f, -1e-40f, 88.72f, 88.73f, 89.0f, -87.3f, -87.4f, -103.9f,
        -104.0f, -105.0f, 0.625f, -0.625f, 0.6249999f, 1.0606601f, -1.0606601f, 16.0f,
        -16.0f, 20.0f, -20.0f, 1000.0f, -1000.0f, 1e30f, -1e30f};
    size_t n_special = sizeof special / sizeof special[0];
    size_t n_bits = 0xffffffffu / 4099 + 1, n_fine = 40 * 4096 + 1;
    float *x = malloc(sizeof(float) * (n_bits + n_fine + n_special));
    size_t n = 0;
    for (size_t i = 0; i < n_bits; i++) {
        uint32_t u = (uint32_t)(i * 4099u);
        memcpy(&x[n++], &u, sizeof u);
    }
    for (size_t i = 0; i < n_fine; i++)
        x[n++] = -20.0f + (float)i / 4096.0f;
    memcpy(x + n, special, sizeof special);
    *count = n + n_special;
    return x;
}

/* ---- measuring ------------------------------------------------------------------------- */

typedef struct {
    double ulps, abs;           /* worst in each regime (ulps: of the allowance) */
    float ulps_at, abs_at;
    int bad;                    /* NaN / inf where there should be none */
} Worst;

static double ulp(double v)
{
    int e;
    frexp(fabs(v), &e);
    return ldexp(1.0, e - 24);
}

static void measure(Worst *w, int f, const float *x, const double *want, const float *got,
                    size_t n)
{
    memset(w, 0, sizeof *w);
    for (size_t i = 0; i < n; i++) {
        double r = want[i], g = got[i];
        float rf = (float)r;
        if (isnan(r) || isnan(g) || isinf(rf) || isinf(g)) {
            w->bad += !(isnan(r) && isnan(g)) && g != rf;
            continue;
        }
        double err = fabs(g - r);
        if (fabs(r) >= BOUNDS[f].tiny) {
            double e = err / ulp(r) / allowed_ulps(f, x[i]);
            if (e > w->ulps)
                w->ulps = e, w->ulps_at = x[i];
        } else if (err > w->abs) {
            w->abs = err, w->abs_at = x[i];
        }
    }
}

static int within(const Worst *w, int f, const char *how)
{
    int ok = !w->bad && w->ulps <= 1 && w->abs <= BOUNDS[f].abs;
    if (!ok || getenv("TFRT_VMATH_REPORT"))
        fprintf(stderr, "\n  %-9s %-7s %5.2f ulp (x = %.9g)  abs %.3g (x = %.9g)  %d wrong",
                names[f], how, w->ulps * allowed_ulps(f, w->ulps_at), w->ulps_at, w->abs,
                w->abs_at, w->bad);
    return ok;
}

/* ---- the vector exp, as softmax and attention call it --------------------------------- */

#if TFRT_X86
static TFRT_AVX512 void exp_array_avx512(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, exp_avx512(_mm512_loadu_ps(x + i)));
    for (size_t i = n / 16 * 16; i < n; i++)
        y[i] = tfrt_exp1(x[i]);
}

static TFRT_AVX2 void exp_array_avx2(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, exp_avx2(_mm256_loadu_ps(x + i)));
    for (size_t i = n / 8 * 8; i < n; i++)
        y[i] = tfrt_exp1(x[i]);
}
#endif

/* The array form of f at the current ISA level. */
static void array(int f, float *y, const float *x, size_t n)
{
    switch (f) {
    case F_SILU: tfrt_silu(y, x, n); break;
    case F_TANH: tfrt_tanh(y, x, n); break;
    case F_GELU: tfrt_gelu(y, x, n); break;
    case F_GELU_TANH: tfrt_gelu_tanh(y, x, n); break;
    default: {
#if TFRT_X86
        TfrtIsa isa = tfrt_cpu_isa();
        if (f == F_EXP && isa == TFRT_ISA_AVX512) {
            exp_array_avx512(y, x, n);
            break;
        }
        if (f == F_EXP && isa == TFRT_ISA_AVX2) {
            exp_array_avx2(y, x, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++)
            y[i] = scalar(f, x[i]);
    }
    }
}

static void test_vmath_accuracy(void)
{
    size_t n;
    float *x = inputs(&n), *got = malloc(sizeof(float) * n);
    double *want = malloc(sizeof(double) * n);
    for (int f = 0; f < N_FUNCS; f++) {
        for (size_t i = 0; i < n; i++)
            want[i] = ref(f, x[i]);
        Worst w;
        for (size_t i = 0; i < n; i++)
            got[i] = scalar(f, x[i]);
        measure(&w, f, x, want, got, n);
        CU_ASSERT(within(&w, f, "scalar"));
        for (int isa = 0; isa <= (int)tfrt_cpu_detected_isa(); isa++) {
            tfrt_cpu_force_isa(isa);
            array(f, got, x, n);
            measure(&w, f, x, want, got, n);
            CU_ASSERT(within(&w, f, tfrt_isa_name((TfrtIsa)isa)));
        }
        tfrt_cpu_force_isa(-1);
    }
    free(x); free(got); free(want);
}

/* Values worked out by hand: e^0 = 1, e^1 = e, tanh 0 = 0, sigmoid 0 =
 * 1/2, silu and both GELUs of 0 are 0, and GELU(1) = Phi(1). */
static void test_vmath_by_hand(void)
{
    CU_ASSERT(tfrt_exp1(0.0f) == 1.0f);
    CU_ASSERT_DOUBLE_EQUAL(tfrt_exp1(1.0f), 2.718281828459045, 3e-7);
    CU_ASSERT(tfrt_exp1(-INFINITY) == 0.0f && tfrt_exp1(INFINITY) == INFINITY);
    CU_ASSERT(tfrt_tanh1(0.0f) == 0.0f && tfrt_tanh1(30.0f) == 1.0f && tfrt_tanh1(-30.0f) == -1.0f);
    CU_ASSERT(tfrt_sigmoid1(0.0f) == 0.5f);
    CU_ASSERT(tfrt_silu1(0.0f) == 0.0f && tfrt_gelu1(0.0f) == 0.0f && tfrt_gelu_tanh1(0.0f) == 0.0f);
    CU_ASSERT_DOUBLE_EQUAL(tfrt_gelu1(1.0f), 0.8413447460685429, 2e-7);
    CU_ASSERT(isnan(tfrt_exp1(NAN)) && isnan(tfrt_tanh1(NAN)) && isnan(tfrt_gelu1(NAN)));
}

void register_vmath_tests(void)
{
    static const struct { const char *name; void (*fn)(void); } tests[] = {
        {"exp, sigmoid, tanh, silu, gelus vs libm, every ISA", test_vmath_accuracy},
        {"values by hand", test_vmath_by_hand},
    };
    CU_pSuite s = CU_add_suite("vmath", NULL, NULL);
    for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
}
