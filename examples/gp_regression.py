"""Gaussian-process regression from Python with h2ulv: the log marginal likelihood of a Matern-3/2
GP and its maximisation over the length scale, with the H2 matrix (MATH2) and the H2-ULV
factorization (PCH2ULV) as the direct solver, against scikit-learn's GaussianProcessRegressor.

The data: scikit-learn's diabetes set (442 patients, shipped with python3-sklearn, no download):
the response against three standardised features (body-mass index, blood pressure, serum s5).
The model: y ~ GP(0, k), k(x, x') = s * matern32(|x - x'| / l) + noise * delta(x, x'), and

    log p(y | l) = -1/2 y^T K^-1 y - 1/2 log det K - n/2 log(2 pi),

K^-1 y from the factorization's solve, log det K from its factors (h2ulv.pc_logdet).

    PYTHONPATH=python /usr/bin/python3 examples/gp_regression.py [-scale 1] [-noise 0.5] [-check 1e-8]

Options: -scale, -noise (the kernel's variance and the noise variance), -lmin, -lmax (the range of
the length-scale search), -check <tol> (compare with scikit-learn; the run fails above tol).
-mat_h2_* and -pc_h2ulv_* options reach the library.
"""
import math
import sys
import time

import numpy as np
from petsc4py import PETSc

import h2ulv

OPT = PETSc.Options()


def load_data():
    try:
        from sklearn.datasets import load_diabetes
    except ImportError:
        raise SystemExit("gp_regression.py needs scikit-learn's bundled data sets: apt-get install python3-sklearn")
    d = load_diabetes()
    x = d.data[:, [2, 3, 8]]  # bmi, bp, s5
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    y = (d.target - d.target.mean()) / d.target.std()
    return x, y


def h2ulv_lml(x, y, ell, scale, noise):
    """log p(y | ell) with MATH2 + PCH2ULV (one process holds all rows here)"""
    A = h2ulv.kernel_matrix(x, "matern32", scale=scale, param=ell, nugget=noise, comm=PETSc.COMM_SELF)
    ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
    ksp.setOperators(A)
    ksp.setType("preonly")
    ksp.getPC().setType("h2ulv")
    ksp.setFromOptions()
    b = A.createVecLeft()
    b.setArray(y)
    alpha = A.createVecRight()
    ksp.solve(b, alpha)
    logdet = h2ulv.pc_logdet(ksp.getPC())
    fit = float(np.dot(y, alpha.getArray()))
    for o in (ksp, A, b, alpha):
        o.destroy()
    return -0.5 * fit - 0.5 * logdet - 0.5 * len(y) * math.log(2 * math.pi)


def sklearn_lml(x, y, ell, scale, noise):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    k = ConstantKernel(scale, "fixed") * Matern(length_scale=ell, length_scale_bounds="fixed", nu=1.5) + WhiteKernel(noise, "fixed")
    gp = GaussianProcessRegressor(kernel=k, optimizer=None, normalize_y=False).fit(x, y)
    return gp.log_marginal_likelihood_value_


def golden_max(f, a, b, iters):
    """the maximiser of a unimodal f on [a, b] by golden-section search (iters evaluations after two)"""
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (c, fc) if fc > fd else (d, fd)


def main():
    scale, noise = OPT.getReal("scale", 1.0), OPT.getReal("noise", 0.5)
    lmin, lmax, tol = OPT.getReal("lmin", 0.1), OPT.getReal("lmax", 10.0), OPT.getReal("check", 1e-8)
    if not OPT.hasName("pc_h2ulv_rtol"):
        OPT.setValue("pc_h2ulv_rtol", "1e-12")  # a direct solver: the likelihood to about 1e-10
    if not OPT.hasName("mat_h2_rtol"):
        OPT.setValue("mat_h2_rtol", "1e-12")
    x, y = load_data()
    print("diabetes: n = %d, 3 features; Matern-3/2 GP, scale %g, noise %g" % (len(y), scale, noise))
    worst = 0.0
    for ell in (0.3, 1.0, 3.0):
        t0 = time.perf_counter()
        ours = h2ulv_lml(x, y, ell, scale, noise)
        t1 = time.perf_counter()
        ref = sklearn_lml(x, y, ell, scale, noise)
        t2 = time.perf_counter()
        err = abs(ours - ref) / abs(ref)
        worst = max(worst, err)
        print("  l = %-4g log p(y|l): h2ulv %.12f (%.3f s), scikit-learn %.12f (%.3f s), relative difference %.1e" % (ell, ours, t1 - t0, ref, t2 - t1, err))
    t0 = time.perf_counter()
    evals = []
    loge, best = golden_max(lambda t: evals.append(t) or h2ulv_lml(x, y, math.exp(t), scale, noise), math.log(lmin), math.log(lmax), 20)
    t1 = time.perf_counter()
    ref = sklearn_lml(x, y, math.exp(loge), scale, noise)
    err = abs(best - ref) / abs(ref)
    worst = max(worst, err)
    print("maximum over l in [%g, %g]: l = %.6f, log p(y|l) = %.10f (%d evaluations, %.2f s); scikit-learn there %.10f" % (lmin, lmax, math.exp(loge), best, len(evals), t1 - t0, ref))
    if worst > tol:
        raise SystemExit("FAILED: the log marginal likelihood differs from scikit-learn's by %.2e relative (> %.1e)" % (worst, tol))
    print("RESULT: PASS (largest relative difference from scikit-learn %.1e)" % worst)


if __name__ == "__main__":
    sys.exit(main())
