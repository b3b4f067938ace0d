"""What Python costs on top of C, on one problem: the ball-matern standard problem (Matern-3/2,
length 0.2, nugget 1e-4, N points in the unit ball) built as a MATH2 and factored by PCH2ULV (the
work of one Gaussian-process likelihood), three ways in one run on the same machine:

  C          bench/bench_io -factor (a C program: the problem's built-in kernel)
  Python     h2ulv.problem_matrix() and a petsc4py KSP (the same built-in kernel, called from Python)
  Python+cb  h2ulv.entries_matrix() with the kernel written in numpy (a vectorised block callback)

and prints the times of the H2 construction and of the factorization, and the log-determinants
(which must agree).  Usage, from the build tree:

  PYTHONPATH=python /usr/bin/python3 bench/python_overhead.py [N] [path/to/bench_io]

with the options of the run in PETSC_OPTIONS (default here: -mat_h2_rtol 1e-6 -pc_h2ulv_rtol 1e-4).
"""
import ctypes
import os
import subprocess
import sys
import time

OPTS = os.environ.get("PETSC_OPTIONS", "-mat_h2_rtol 1e-6 -pc_h2ulv_rtol 1e-4")
os.environ["PETSC_OPTIONS"] = OPTS

import numpy as np  # noqa: E402
from petsc4py import PETSc  # noqa: E402

t0 = time.perf_counter()
import h2ulv  # noqa: E402
T_IMPORT = time.perf_counter() - t0


def ball_points(N):
    """the ball-matern points, from the library (H2ULVProblemGetCoordinates)"""
    prob = ctypes.c_void_p()
    h2ulv._call("H2ULVProblemCreate", b"ball-matern", N, 0, ctypes.byref(prob))
    x = np.zeros((N, 3))
    h2ulv._call("H2ULVProblemGetCoordinates", prob, 0, N, x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
    h2ulv._call("H2ULVProblemDestroy", ctypes.byref(prob))
    return x


def matern_block(x):
    s3 = np.sqrt(3.0) / 0.2

    def block(rows, cols):
        d = x[rows][:, None, :] - x[cols][None, :, :]
        t = s3 * np.sqrt(np.einsum("ijk,ijk->ij", d, d))
        return (1.0 + t) * np.exp(-t) + 1e-4 * (rows[:, None] == cols[None, :])
    return block


def factor(A):
    """PCSetUp of h2ulv on A: seconds, log det"""
    ksp = PETSc.KSP().create()
    ksp.setOperators(A)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("h2ulv")
    ksp.setFromOptions()
    t = time.perf_counter()
    pc.setUp()
    t = time.perf_counter() - t
    return t, h2ulv.pc_logdet(pc)


def python_run(build):
    t = time.perf_counter()
    A = build()
    tb = time.perf_counter() - t
    tf, ld = factor(A)
    return tb, tf, ld


def c_run(exe, N):
    out = subprocess.run([exe, "-problem", "ball-matern", "-n", str(N), "-factor", "-file", "python_overhead.h2"], capture_output=True, text=True, check=True).stdout
    build = float(out.split("build ")[1].split(" s")[0])
    fac = float(out.split("factorization of the built matrix ")[1].split(" s")[0])
    return build, fac


def main():
    N = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    exe = sys.argv[2] if len(sys.argv) > 2 else os.path.join("build", "bench", "bench_io")
    x = ball_points(N)
    rows = [("C (bench_io)",) + c_run(exe, N) + (float("nan"),),
            ("Python, built-in kernel",) + python_run(lambda: h2ulv.problem_matrix("ball-matern", N)),
            ("Python, numpy block callback",) + python_run(lambda: h2ulv.entries_matrix(x, matern_block(x), symmetric=True))]
    print("ball-matern, N = %d, options: %s, OMP_NUM_THREADS=%s; importing h2ulv took %.3f s" % (N, OPTS, os.environ.get("OMP_NUM_THREADS", "(unset)"), T_IMPORT))
    print("%-30s %10s %10s %22s" % ("path", "build s", "factor s", "log det"))
    for name, tb, tf, ld in rows:
        print("%-30s %10.3f %10.3f %22.12f" % (name, tb, tf, ld))
    rel = abs(rows[1][3] - rows[2][3]) / abs(rows[1][3])
    print("log det, built-in vs numpy callback: relative difference %.2e" % rel)
    print("Python / C: build %.2f, factor %.2f; numpy callback / built-in: build %.2f, factor %.2f"
          % (rows[1][1] / rows[0][1], rows[1][2] / rows[0][2], rows[2][1] / rows[1][1], rows[2][2] / rows[1][2]))


if __name__ == "__main__":
    main()
