"""The petsc4py module python/h2ulv.py against numpy references on 1 or more processes: MATH2 from
points and a built-in kernel, from a vectorised Python entries function, from a numpy array, from
a standard problem;
PCH2ULV as a direct solver (solution, log-determinant, inertia after a shift), options through
PETSc.Options, and a MatView/MatLoad round trip through petsc4py's binary viewer.  Each check
compares with numpy's dense linear algebra on the same matrix (the round trip: with the matrix it
was saved from); a failure raises (nonzero exit).

    python3 tests/test_petsc4py.py [-n 1200]
"""
import os
import sys

import numpy as np
from petsc4py import PETSc

import h2ulv

OPT = PETSc.Options()
N = OPT.getInt("n", 1200)
COMM = PETSc.COMM_WORLD
ELL, NUGGET = 0.5, 1e-2


def check(ok, what):
    if not ok:
        raise SystemExit("FAILED: " + what)
    PETSc.Sys.Print("ok: " + what)


def points():
    """N points on the unit sphere, the same on every process (seeded)"""
    x = np.random.default_rng(7).normal(size=(N, 3))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def dense_exponential(x):
    r = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    return np.exp(-r / ELL) + NUGGET * np.eye(len(x))


def rows_of(A):
    rs, re = A.getOwnershipRange()
    return rs, re


def to_numpy(v):
    """the whole vector on every process"""
    sc, full = PETSc.Scatter.toAll(v)
    sc.scatter(v, full)
    return full.getArray().copy()


def random_vec(A, seed):
    """a random vector in A's column layout, and the whole of it as a numpy array"""
    v = A.createVecRight()
    rs, re = rows_of(A)
    vg = np.random.default_rng(seed).normal(size=N)
    v.setArray(vg[rs:re])
    return v, vg


def mult_error(A, K):
    x, xg = random_vec(A, 3)
    y = A.createVecLeft()
    A.mult(x, y)
    return np.linalg.norm(to_numpy(y) - K @ xg) / np.linalg.norm(K @ xg)


def direct_solver(A):
    ksp = PETSc.KSP().create(comm=COMM)
    ksp.setOperators(A)
    ksp.setType("preonly")
    ksp.getPC().setType("h2ulv")
    ksp.setFromOptions()
    return ksp


def main():
    x = points()
    K = dense_exponential(x)
    OPT.setValue("mat_h2_rtol", "1e-10")
    OPT.setValue("pc_h2ulv_rtol", "1e-10")

    # 1. built-in kernel: product, options seen, solve, log det, inertia
    A = h2ulv.kernel_matrix(x[slice(*_local_range())], "exponential", scale=1.0, param=ELL, nugget=NUGGET, comm=COMM)
    info = h2ulv.mat_info(A)
    check(info["rtol"] == 1e-10, "-mat_h2_rtol through PETSc.Options reaches the matrix (rtol %g)" % info["rtol"])
    err = mult_error(A, K)
    check(err < 1e-8, "built-in exponential kernel: MatMult against numpy, relative error %.2e" % err)
    ksp = direct_solver(A)
    b, bg = random_vec(A, 5)
    xs = A.createVecRight()
    ksp.solve(b, xs)
    xe = np.linalg.solve(K, bg)
    err = np.linalg.norm(to_numpy(xs) - xe) / np.linalg.norm(xe)
    check(err < 1e-7, "PCH2ULV direct solve against numpy.linalg.solve, relative error %.2e" % err)
    logdet, ref = h2ulv.pc_logdet(ksp.getPC()), np.linalg.slogdet(K)[1]
    check(abs(logdet - ref) < 1e-7 * abs(ref), "log det %.10f against numpy %.10f" % (logdet, ref))
    neg, zero, pos = h2ulv.pc_inertia(ksp.getPC())
    check((neg, zero, pos) == (0, 0, N), "inertia (%d, %d, %d) of an SPD matrix" % (neg, zero, pos))
    ev = np.linalg.eigvalsh(K)
    sigma = 0.5 * (ev[N // 2] + ev[N // 2 + 1])  # a shift in a gap between two eigenvalues
    A.shift(-sigma)
    ksp.setOperators(A)
    ksp.getPC().setUp()
    neg, zero, pos = h2ulv.pc_inertia(ksp.getPC())
    want = int(np.sum(ev < sigma))
    check(neg == want and zero == 0 and pos == N - want, "inertia of A - sigma I: %d negative, numpy %d" % (neg, want))
    pinfo = h2ulv.pc_info(ksp.getPC())
    check(pinfo["bytes"] > 0 and pinfo["flops"] > 0, "PCH2ULV info: %.3g MB, %.3g Gflop" % (pinfo["bytes"] / 2**20, pinfo["flops"] / 1e9))

    # 2. the same kernel from a vectorised Python entries function (global indices)
    def block(rows, cols):
        r = np.linalg.norm(x[rows][:, None, :] - x[cols][None, :, :], axis=2)
        return np.exp(-r / ELL) + NUGGET * (rows[:, None] == cols[None, :])
    B = h2ulv.entries_matrix(x[slice(*_local_range())], block, symmetric=True, comm=COMM)
    err = mult_error(B, K)
    check(err < 1e-8, "Python entries function: MatMult against numpy, relative error %.2e" % err)

    # 3. an entries function that fails: an error, not a crash
    def failing(rows, cols):
        raise RuntimeError("deliberate failure")
    try:
        F = h2ulv.entries_matrix(x[slice(*_local_range())], failing, comm=COMM)
        y = F.createVecLeft()
        F.mult(F.createVecRight(), y)  # the first use builds the bases from the entries
        check(False, "a failing entries function raised no error")
    except PETSc.Error as e:
        check(e.ierr != 0, "a failing entries function raises PETSc.Error (code %d)" % e.ierr)

    # 4. a standard problem of the library
    C = h2ulv.problem_matrix("ball-matern", 2048, comm=COMM)
    check(C.getSize() == (2048, 2048) and h2ulv.mat_info(C)["levels"] > 1, "standard problem ball-matern, N = 2048, %d levels" % h2ulv.mat_info(C)["levels"])
    # 5. compressed from a dense matrix: a numpy array of this process's rows, with their points
    rs, re = _local_range()
    E = h2ulv.dense_matrix(K[rs:re], points=x[rs:re], comm=COMM)
    err = mult_error(E, K)
    check(err < 1e-8, "MATH2 from a numpy array (MatConvert dense -> h2): MatMult against numpy, relative error %.2e" % err)
    E.destroy()
    E = h2ulv.dense_matrix(K[rs:re], comm=COMM)  # no points: the cluster tree from the entries
    err = mult_error(E, K)
    check(err < 1e-8, "MATH2 from a numpy array without points: MatMult against numpy, relative error %.2e" % err)
    kspe = direct_solver(E)
    xs = E.createVecRight()
    kspe.solve(b, xs)
    err = np.linalg.norm(to_numpy(xs) - xe) / np.linalg.norm(xe)
    check(err < 1e-7, "PCH2ULV on it against numpy.linalg.solve, relative error %.2e" % err)
    kspe.destroy()
    E.destroy()

    # 6. saved with MatView to a binary file and loaded with MatLoad: the same products, bit for bit
    name = "test_petsc4py_np%d.h2" % COMM.getSize()
    C.view(PETSc.Viewer().createBinary(name, "w", comm=COMM))
    D = PETSc.Mat().create(comm=COMM)
    D.setType("h2")
    D.load(PETSc.Viewer().createBinary(name, "r", comm=COMM))
    u, yc, yd = C.createVecRight(), C.createVecLeft(), C.createVecLeft()
    u.setRandom()
    C.mult(u, yc)
    D.mult(u, yd)
    yd.axpy(-1.0, yc)
    check(yd.norm(PETSc.NormType.INFINITY) == 0.0, "MatView/MatLoad through petsc4py: bit-identical product")
    COMM.barrier()
    if COMM.getRank() == 0:
        for f in (name, name + ".info"):
            if os.path.exists(f):
                os.remove(f)
    for M in (A, B, C, D):
        M.destroy()
    ksp.destroy()
    PETSc.Sys.Print("RESULT: PASS")


def _local_range():
    """PETSc's default split of N rows over the processes"""
    size, rank = COMM.getSize(), COMM.getRank()
    n = N // size + (1 if rank < N % size else 0)
    start = rank * (N // size) + min(rank, N % size)
    return start, start + n


if __name__ == "__main__":
    sys.exit(main())
