#!/usr/bin/python3
"""Compares logits written by tfc with reference logits.

    compare.py OUT.f32 REF.f32 --n N --vocab V [--rel 1e-4] [--label NAME]

Both files hold little-endian float32 of shape [N, V].  The test passes when
OUT has exactly N*V floats, holds no NaN or infinity, and

    max |out - ref| <= rel * max(1, max |ref|)

Prints one line (max abs diff, where, tolerance, first bad position, PASS or
FAIL) and exits 0 on PASS, 1 on FAIL, 2 on a usage or reference problem.
"""

import argparse
import os
import sys

import numpy as np

DEFAULT_REL = 1e-4


def tolerance(ref, rel=DEFAULT_REL):
    return rel * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)


def check(out, ref, rel=DEFAULT_REL):
    """out, ref: float arrays of shape [n, vocab].  Returns (ok, message)."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if out.shape != ref.shape:
        return False, "shape %r, expected %r" % (out.shape, ref.shape)
    tol = tolerance(ref, rel)
    finite = np.isfinite(out)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        return False, ("non-finite logit %r at position %d, index %d; tol %.3g"
                       % (out[bad[0], bad[1]], bad[0], bad[1], tol))
    diff = np.abs(out - ref)
    where = np.unravel_index(int(np.argmax(diff)), diff.shape)
    maxdiff = float(diff[where])
    msg = ("max abs diff %.3g at position %d, index %d (out %.6g, ref %.6g); "
           "max |ref| %.4g; tol %.3g"
           % (maxdiff, where[0], where[1], out[where], ref[where],
              float(np.max(np.abs(ref))), tol))
    if maxdiff <= tol:
        return True, msg
    rows = np.nonzero((diff > tol).any(axis=1))[0]
    first = int(rows[0])
    col = int(np.argmax(diff[first]))
    msg += ("; first bad position %d (diff %.3g at index %d); %d of %d positions bad"
            % (first, float(diff[first, col]), col, len(rows), diff.shape[0]))
    return False, msg


def main(argv=None):
    p = argparse.ArgumentParser(description="compare tfc logits with reference logits")
    p.add_argument("out")
    p.add_argument("ref")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--rel", type=float, default=DEFAULT_REL)
    p.add_argument("--label", default="")
    a = p.parse_args(argv)
    label = (a.label + ": ") if a.label else ""
    want = a.n * a.vocab * 4
    try:
        ref_size = os.path.getsize(a.ref)
    except OSError as e:
        print("%sreference unreadable: %s; FAIL" % (label, e))
        return 2
    if ref_size != want:
        print("%sreference has %d bytes, expected %d; FAIL" % (label, ref_size, want))
        return 2
    try:
        size = os.path.getsize(a.out)
    except OSError as e:
        print("%soutput missing: %s; FAIL" % (label, e))
        return 1
    if size != want:
        print("%soutput has %d bytes (%.2f floats per position), expected %d = %d x %d floats; FAIL"
              % (label, size, size / 4.0 / max(a.n, 1), a.n * a.vocab, a.n, a.vocab))
        return 1
    out = np.fromfile(a.out, dtype="<f4").reshape(a.n, a.vocab)
    ref = np.fromfile(a.ref, dtype="<f4").reshape(a.n, a.vocab)
    ok, msg = check(out, ref, a.rel)
    print("%s%s; %s" % (label, msg, "PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
