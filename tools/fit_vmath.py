#!/usr/bin/python3
"""Fits the polynomial coefficients of the runtime's vector math (tfrt.h,
runtime/vmath.h) and prints them as C constants.

Each fit minimizes the largest relative error over Chebyshev points with
Lawson's iteration (a weighted least-squares fit whose weights grow where
the error is largest, converging to the minimax fit); the function values
come from mpmath at 40 digits.  The printed error is the fit's own, before
float32 rounding of the coefficients and of the arithmetic; the unit tests
(tests/unit/test_vmath.c) measure the finished functions against libm.

    /usr/bin/python3 tools/fit_vmath.py      (needs python3-numpy, python3-mpmath)
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40


def cheb(a, b, n):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / n)


def minimax(f, powers, pts, iters=400):
    """Coefficients c with sum c_k x^powers[k] ~ f(x), minimax relative."""
    a = np.array([[x ** p for p in powers] for x in pts])
    y = np.array([float(f(mp.mpf(x))) for x in pts])
    w = np.full(len(pts), 1.0 / len(pts))
    for _ in range(iters):
        s = np.sqrt(w) / np.abs(y)
        c = np.linalg.lstsq(a * s[:, None], y * s, rcond=None)[0]
        e = np.abs(a @ c - y) / np.abs(y)
        w = w * e
        w /= w.sum()
    return c, e.max()


def show(name, c, err):
    print(f"/* {name}: relative error of the fit {err:.2g} */")
    for i, v in enumerate(c):
        print(f"#define {name}{i} {float(np.float32(v))!r:}f")


LN2_HALF = float(mp.log(2)) / 2 + 0.002        # |r| after the reduction, with slack
# e^r = 1 + r + r^2 S(r) on |r| <= ln2/2: S's coefficients
c, err = minimax(lambda r: (mp.exp(r) - 1 - r) / r**2, range(5),
                 [x for x in cheb(-LN2_HALF, LN2_HALF, 400) if abs(x) > 1e-4])
show("TFRT_EXP_P", c, err)

# tanh x = x + x^3 S(x^2) on [0, 0.625]
c, err = minimax(lambda x: (mp.tanh(x) - x) / x**3, [0, 2, 4, 6, 8], cheb(1e-3, 0.625, 400))
show("TFRT_TANH_P", c, err)

# erf z = z S(z^2) on [0, 0.75]
c, err = minimax(lambda z: mp.erf(z) / z, [0, 2, 4, 6, 8, 10], cheb(1e-3, 0.75, 400))
show("TFRT_ERF_P", c, err)

# erfc z = e^(-z^2) Q(t), t = 1 / (1 + 0.4 z), on z in [0.75, 10.2] (beyond,
# e^(-z^2) is below float32's range)
def erfc_scaled(t):
    z = (1 / t - 1) / mp.mpf("0.4")
    return mp.erfc(z) * mp.exp(z * z)
c, err = minimax(erfc_scaled, range(9), cheb(1 / (1 + 0.4 * 10.2), 1 / (1 + 0.4 * 0.75), 500))
show("TFRT_ERFC_P", c, err)
