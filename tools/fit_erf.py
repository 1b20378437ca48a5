#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Derives the rational erf approximation of gpsa::gelu_inplace (src/core/convit.cpp).

    erf(x) ~= x * P(x^2) / Q(x^2)  for |x| <= A,  sign(x) beyond (erf(A) rounds to 1 in float)

with P of degree 5 and Q of degree 5 (Q(0) = 1) in t = x^2: a branch-free formula (one division)
that compilers vectorise. The coefficients minimise the maximum absolute error on a dense grid of
[0, A] (Sanathanan-Koerner linearisation, then Lawson reweighting towards minimax), in float64.
Prints the coefficients as C++ float literals and the error of the float32 evaluation.

Needs numpy (Debian: python3-numpy). Usage: /usr/bin/python3 tools/fit_erf.py
"""
import math

import numpy as np

A = 3.925  # erfc(3.925) ~ 1e-8 < half an ulp of 1.0f
DEG_P, DEG_Q = 5, 5


def fit(n, m, iters=200):
    x = np.linspace(0, A, 20001)[1:]
    f = np.array([math.erf(v) for v in x])
    t = x * x
    lawson = np.ones_like(x) / len(x)
    q_prev = np.ones_like(x)
    best = None
    for it in range(iters):
        # f * Q(t) = x * P(t), Q(0) = 1  ->  x P(t) - f (Q(t) - 1) = f, weighted by 1 / Q_prev
        cols = [x * t**i for i in range(n + 1)] + [-f * t**j for j in range(1, m + 1)]
        sw = np.sqrt(lawson) / q_prev
        c, *_ = np.linalg.lstsq(np.stack(cols, 1) * sw[:, None], f * sw, rcond=None)
        p, q = c[: n + 1], np.concatenate([[1.0], c[n + 1 :]])
        qv = np.polyval(q[::-1], t)
        err = x * np.polyval(p[::-1], t) / qv - f
        e = np.abs(err).max()
        if best is None or e < best[2]:
            best = (p, q, e)
        q_prev = qv
        if it > 10:
            lawson = lawson * np.abs(err)
            lawson /= lawson.sum()
    return best


def main():
    p, q, e = fit(DEG_P, DEG_Q)
    assert (np.polyval(q[::-1], np.linspace(0, A * A, 1000)) > 0).all(), "Q has a root"
    pf, qf = p.astype(np.float32), q.astype(np.float32)
    x = np.linspace(-6, 6, 2000001).astype(np.float32)
    xc = np.clip(x, np.float32(-A), np.float32(A))
    t = xc * xc
    pv = np.zeros_like(t) + pf[-1]
    for c in pf[-2::-1]:
        pv = pv * t + c
    qv = np.zeros_like(t) + qf[-1]
    for c in qf[-2::-1]:
        qv = qv * t + c
    y = np.clip(xc * pv / qv, -1, 1)
    ref = np.array([math.erf(float(v)) for v in x])
    print(f"float64 fit max |error| {e:.3g}; float32 evaluation max |error| "
          f"{np.abs(y.astype(np.float64) - ref).max():.3g}")
    print("P (t^0 ... t^%d):" % DEG_P, ", ".join(f"{float(v):.9e}f" for v in pf))
    print("Q (t^0 ... t^%d):" % DEG_Q, ", ".join(f"{float(v):.9e}f" for v in qf))


if __name__ == "__main__":
    main()
