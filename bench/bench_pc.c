static const char help[] = "Solver benchmark: A x = b with the MATH2 operator, for N = nmin, 2 nmin, ..., nmax.\n\
Setup (H2 construction + factorization/PC setup) and solve, with PETSc MATDENSE + LAPACK\n\
Cholesky/LU for comparison up to -densemax.\n\
  -problem <sphere-laplace>   standard problem (H2ULVProblemCreate)\n\
  -callback                   sphere-laplace or sc22-sphere: its kernel as a user callback (MatH2SetKernel)\n\
  -callback_symmetric_late <1> MAT_SYMMETRIC set after MatAssemblyEnd (0: before it)\n\
  -callback_block             with -callback: the kernel by blocks (MatH2SetKernelBlock), a loop the compiler vectorises\n\
  -nmin <4096> -nmax <65536>  sizes (doubling)\n\
  -densemax <16384>           largest N with the dense LAPACK factorization (time, and the reference solution)\n\
  -method <label>             name of this configuration in the records (default: the PC type)\n\
  -ksp_type, -pc_type, -pc_h2ulv_*   the solver (default: GMRES preconditioned by PCH2ULV, rtol 1e-10,\n\
                              at most 500 iterations)\n\
  -exact_rows <0>             the error against the exact matrix (H2ULVProblemEntry, not the MATH2 operator):\n\
                              ||K (x - x_true)|| / ||K x_true|| over this many rows spread over 0..N-1\n\
  -rhs_random                 a direct solver's path: b random instead of A x_true, the MATH2 operator never\n\
                              used (its bases are never built, -mat_h2_defer), the residual ||K x - b|| / ||b||\n\
                              on the -exact_rows rows of the exact matrix (128 if not given)\n\
  -dgemm_rate                 first, the machine's DGEMM rate (n = 4096, best of 3; a RECORD with bench \"dgemm\"),\n\
                              the reference for the factorization's GFLOP/s\n\
Prints a table and one RECORD line (JSON) per size and method.\n";

#include <h2ulv.h>
#include <petscblaslapack.h>
#include "record.h"

/* the single layer of sphere-laplace as a user point kernel: w / (4 pi r), sqrt(w / pi) / 2 at r = 0 */
static PetscScalar SingleLayer(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  const PetscReal w  = *(const PetscReal *)ctx;
  PetscReal       r2 = 0;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return r2 == 0 ? PetscSqrtReal(w / PETSC_PI) / 2 : w / (4 * PETSC_PI * PetscSqrtReal(r2));
}

/* the kernel of sc22-sphere as a user point kernel: 1/r, -1e6 at r = 0 */
static PetscScalar InverseDistance(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  PetscReal r2 = 0;
  (void)ctx;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return r2 == 0 ? -1e6 : 1.0 / PetscSqrtReal(r2);
}

/* the two kernels by blocks (MatH2SetKernelBlock): ctx NULL is sc22-sphere's 1/r */
static PetscErrorCode BlockKernel(PetscInt dim, PetscInt m, const PetscReal x[], PetscInt n, const PetscReal y[], PetscScalar out[], PetscInt ldo, void *ctx)
{
  const PetscReal c = ctx ? *(const PetscReal *)ctx / (4 * PETSC_PI) : 1.0, d0 = ctx ? PetscSqrtReal(*(const PetscReal *)ctx / PETSC_PI) / 2 : -1e6;
  (void)dim; /* 3 */
  for (PetscInt j = 0; j < n; j++) {
    const PetscReal y0 = y[3 * j], y1 = y[3 * j + 1], y2 = y[3 * j + 2];
    PetscScalar    *o  = out + j * ldo;
    for (PetscInt i = 0; i < m; i++) {
      const PetscReal a = x[3 * i] - y0, b = x[3 * i + 1] - y1, e = x[3 * i + 2] - y2, r2 = a * a + b * b + e * e;
      o[i] = r2 == 0 ? d0 : c / PetscSqrtReal(r2);
    }
  }
  return 0;
}

/* the matrix of sphere-laplace (or sc22-sphere) built the way a user with a kernel of their own builds it */
static PetscErrorCode CreateCallbackH2(H2ULVProblem prob, PetscInt N, PetscBool sc22, PetscReal *w, Mat *A)
{
  PetscInt   rstart, rend;
  PetscReal *c;
  PetscBool  late = PETSC_TRUE;

  PetscFunctionBegin;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-callback_symmetric_late", &late, NULL));
  *w = 4 * PETSC_PI / N;
  PetscCall(MatCreate(PETSC_COMM_WORLD, A));
  PetscCall(MatSetSizes(*A, PETSC_DECIDE, PETSC_DECIDE, N, N));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(MatSetFromOptions(*A));
  PetscCall(MatSetUp(*A));
  PetscCall(MatGetOwnershipRange(*A, &rstart, &rend));
  PetscCall(PetscMalloc1(3 * (rend - rstart), &c));
  PetscCall(H2ULVProblemGetCoordinates(prob, rstart, rend, c));
  PetscCall(MatH2SetCoordinates(*A, 3, c));
  PetscCall(PetscFree(c));
  PetscBool block = PETSC_FALSE;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-callback_block", &block, NULL));
  if (block) PetscCall(MatH2SetKernelBlock(*A, BlockKernel, sc22 ? NULL : w));
  else PetscCall(MatH2SetKernel(*A, sc22 ? InverseDistance : SingleLayer, w));
  if (!late) PetscCall(MatSetOption(*A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  if (late) PetscCall(MatSetOption(*A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscFunctionReturn(0);
}

/* the rate of one large DGEMM with the BLAS PETSc uses (OpenBLAS here), best of 3 */
static PetscErrorCode DgemmRate(void)
{
  const PetscBLASInt n = 4096;
  const PetscScalar  one = 1.0, zero = 0.0;
  PetscScalar       *a, *b, *c;
  PetscLogDouble     best = 1e30;
  BenchRecord        rec;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3((size_t)n * n, &a, (size_t)n * n, &b, (size_t)n * n, &c));
  for (size_t i = 0; i < (size_t)n * n; i++) a[i] = 1.0 / (1.0 + (PetscReal)(i % 1000)), b[i] = 1.0 - a[i], c[i] = 0;
  for (int rep = 0; rep < 3; rep++) {
    PetscLogDouble t0, t1;
    PetscCall(PetscTime(&t0));
    PetscCallBLAS("BLASgemm", BLASgemm_("N", "N", &n, &n, &n, &one, a, &n, b, &n, &zero, c, &n));
    PetscCall(PetscTime(&t1));
    best = PetscMin(best, t1 - t0);
  }
  PetscCall(PetscFree3(a, b, c));
  BenchRecordInit(&rec, "dgemm", "none", "dgemm", n);
  rec.factor_s = best;
  rec.flops    = 2.0 * n * n * (double)n;
  rec.gflops   = rec.flops / best / 1e9;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# DGEMM n = %d: %.3f s, %.1f GFLOP/s\n", (int)n, best, (double)rec.gflops));
  PetscCall(BenchRecordPrint(PETSC_COMM_WORLD, &rec));
  PetscFunctionReturn(0);
}

/* ||K (x - xt)||_S / ||K xt||_S with K the exact matrix of prob and S nrows rows spread over 0..N-1: the
   accuracy of the whole path (compression and factorization) against the exact kernel, at 2 nrows N
   entries.  xt = NULL: ||K x - b||_S / ||b||_S (b = K xt exactly for the unknown xt) */
static PetscErrorCode ExactError(H2ULVProblem prob, PetscInt N, Vec x, Vec xt, Vec b, PetscInt nrows, PetscReal *err)
{
  Vec                ax, at;
  VecScatter         sx, st;
  const PetscScalar *px, *pt;
  PetscReal          e2 = 0, k2 = 0;

  PetscFunctionBegin;
  PetscCall(VecScatterCreateToAll(x, &sx, &ax));
  PetscCall(VecScatterCreateToAll(xt ? xt : b, &st, &at));
  PetscCall(VecScatterBegin(sx, x, ax, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sx, x, ax, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterBegin(st, xt ? xt : b, at, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(st, xt ? xt : b, at, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(ax, &px));
  PetscCall(VecGetArrayRead(at, &pt));
  for (PetscInt s = 0; s < PetscMin(nrows, N); s++) { /* every process the same rows: the same sums */
    const PetscInt i = (PetscInt)(((double)s + 0.5) * (double)N / (double)PetscMin(nrows, N));
    PetscScalar    e = 0, k = 0;
    for (PetscInt j = 0; j < N; j++) {
      PetscScalar a;
      PetscCall(H2ULVProblemEntry(prob, i, j, &a));
      e += a * (px[j] - (xt ? pt[j] : 0.0));
      k += a * (xt ? pt[j] : 0.0);
    }
    if (!xt) e -= pt[i], k = pt[i];
    e2 += PetscRealPart(e * PetscConj(e));
    k2 += PetscRealPart(k * PetscConj(k));
  }
  PetscCall(VecRestoreArrayRead(ax, &px));
  PetscCall(VecRestoreArrayRead(at, &pt));
  PetscCall(VecScatterDestroy(&sx));
  PetscCall(VecScatterDestroy(&st));
  PetscCall(VecDestroy(&ax));
  PetscCall(VecDestroy(&at));
  *err = k2 > 0 ? PetscSqrtReal(e2 / k2) : 0;
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char      name[64] = "sphere-laplace", method[64] = "";
  PetscInt  nmin = 4096, nmax = 65536, densemax = 16384, exactrows = 0;
  PetscBool hasmethod, callback = PETSC_FALSE, sc22 = PETSC_FALSE, rhsrandom = PETSC_FALSE;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmin", &nmin, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmax", &nmax, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-densemax", &densemax, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-exact_rows", &exactrows, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-method", method, sizeof(method), &hasmethod));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-callback", &callback, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-rhs_random", &rhsrandom, NULL));
  if (rhsrandom && exactrows <= 0) exactrows = 128;
  PetscCall(PetscStrcmp(name, "sc22-sphere", &sc22));
  if (callback) {
    PetscBool sphere;
    PetscCall(PetscStrcmp(name, "sphere-laplace", &sphere));
    PetscCheck(sphere || sc22, PETSC_COMM_WORLD, PETSC_ERR_ARG_INCOMP, "-callback is the kernel of -problem sphere-laplace or sc22-sphere, got -problem %s", name);
  }
  {
    PetscBool rate = PETSC_FALSE;
    PetscCall(PetscOptionsGetBool(NULL, NULL, "-dgemm_rate", &rate, NULL));
    if (rate) PetscCall(DgemmRate());
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# %s, OMP_NUM_THREADS=%d\n", name, BenchThreads()));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%9s %9s %9s %9s %8s %8s %5s %10s %10s %9s %9s %9s %9s %s\n", "N", "build_s", "factor_s", "setup_us/N", "solve_s", "total_s", "its", "residual", "err_dense", "fact_MB", "GFlop/s", "dense_s", "speedup", "reason"));
  for (PetscInt N = nmin; N <= nmax; N *= 2) {
    H2ULVProblem       prob;
    Mat                A;
    Vec                x, b, r, xd = NULL, xt;
    KSP                ksp;
    PC                 pc;
    PetscLogDouble     t0, t1, t2, t3, s0, s1, f0, f1, fbytes = -1;
    PetscInt           its;
    PetscReal          res, nb, errd = -1, dense = -1, dsolve = -1, w;
    PetscRandom        rnd;
    PetscBool          sym, ish2ulv;
    PCType             pctype;
    MatH2Info          info;
    KSPConvergedReason reason;
    BenchRecord        rec;

    PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
    PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
    PetscCall(PetscTime(&t0));
    if (callback) PetscCall(CreateCallbackH2(prob, N, sc22, &w, &A));
    else PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
    /* the first use builds the bases and values (-mat_h2_defer); a direct solve of a random b never does */
    if (!rhsrandom) PetscCall(MatH2GetInfo(A, &info));
    PetscCall(PetscTime(&t1));
    PetscCall(MatCreateVecs(A, &x, &b));
    PetscCall(VecDuplicate(b, &r));
    PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
    PetscCall(PetscRandomSetSeed(rnd, 5));
    PetscCall(PetscRandomSeed(rnd));
    PetscCall(VecSetRandom(x, rnd));
    if (rhsrandom) PetscCall(VecSetRandom(b, rnd));
    else PetscCall(MatMult(A, x, b));
    PetscCall(VecDuplicate(x, &xt));
    PetscCall(VecCopy(x, xt));
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
    PetscCall(KSPSetOperators(ksp, A, A));
    PetscCall(KSPSetType(ksp, KSPGMRES));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, PCH2ULV));
    PetscCall(KSPSetTolerances(ksp, 1e-10, PETSC_DEFAULT, PETSC_DEFAULT, 500));
    PetscCall(KSPSetFromOptions(ksp));
    PetscCall(PCGetType(pc, &pctype));
    PetscCall(PetscStrcmp(pctype, PCH2ULV, &ish2ulv));
    if (!hasmethod) PetscCall(PetscSNPrintf(method, sizeof(method), "%s%s", pctype, callback ? "-callback" : ""));
    PetscCall(PetscGetFlops(&f0));
    PetscCall(PetscTime(&t2));
    PetscCall(KSPSetUp(ksp));
    if (ish2ulv) { /* without -pc_h2ulv_rtol the factorization waits for KSPSolve's PCPreSolve (which
                      picks the tolerance for this KSP): made here, so that factor_s holds it */
      PetscCall(PCPreSolve(pc, ksp));
      PetscCall(PCPostSolve(pc, ksp));
    }
    PetscCall(PetscTime(&t3));
    PetscCall(PetscGetFlops(&f1));
    PetscCall(VecSet(x, 0.0));
    PetscCall(PetscTime(&s0));
    PetscCall(KSPSolve(ksp, b, x));
    PetscCall(PetscTime(&s1));
    if (!rhsrandom) PetscCall(MatH2GetInfo(A, &info));
    else {
      PetscCall(PetscMemzero(&info, sizeof(info)));
      info.rtol = 1e-8;
      PetscCall(PetscOptionsGetReal(NULL, NULL, "-mat_h2_rtol", &info.rtol, NULL));
    }
    if (ish2ulv) PetscCall(PCH2ULVGetInfo(pc, &fbytes, NULL));
    PetscCall(KSPGetIterationNumber(ksp, &its));
    PetscCall(KSPGetConvergedReason(ksp, &reason));
    if (rhsrandom) { /* the residual against the exact matrix, on its rows: the operator stays unbuilt */
      PetscCall(ExactError(prob, N, x, NULL, b, exactrows, &res));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# N = %" PetscInt_FMT ": residual against the exact matrix on %" PetscInt_FMT " rows, ||K x - b|| / ||b|| = %.2e\n", N, PetscMin(exactrows, N), (double)res));
    } else {
      PetscCall(MatMult(A, x, r));
      PetscCall(VecAYPX(r, -1.0, b));
      PetscCall(VecNorm(r, NORM_2, &res));
      PetscCall(VecNorm(b, NORM_2, &nb));
      res /= nb;
    }
    if (exactrows > 0 && !rhsrandom) {
      PetscReal ee;
      PetscCall(ExactError(prob, N, x, xt, NULL, exactrows, &ee));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# N = %" PetscInt_FMT ": error against the exact matrix on %" PetscInt_FMT " rows, ||K (x - x_true)|| / ||K x_true|| = %.2e\n", N, PetscMin(exactrows, N), (double)ee));
    }
    if (N <= densemax) { /* PETSc MATDENSE + LAPACK Cholesky (LU for the nonsymmetric problem), same b */
      Mat            D;
      KSP            kd;
      PC             pd;
      PetscLogDouble d0, d1, d2;
      PetscReal      nxd;
      PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
      PetscCall(MatSetOption(D, MAT_SPD, sym));
      PetscCall(KSPCreate(PETSC_COMM_WORLD, &kd));
      PetscCall(KSPSetOptionsPrefix(kd, "dense_"));
      PetscCall(KSPSetOperators(kd, D, D));
      PetscCall(KSPSetType(kd, KSPPREONLY));
      PetscCall(KSPGetPC(kd, &pd));
      PetscCall(PCSetType(pd, sym ? PCCHOLESKY : PCLU));
      PetscCall(VecDuplicate(x, &xd));
      PetscCall(PetscTime(&d0));
      PetscCall(KSPSetUp(kd));
      PetscCall(PetscTime(&d1));
      PetscCall(KSPSolve(kd, b, xd));
      PetscCall(PetscTime(&d2));
      dense  = d1 - d0;
      dsolve = d2 - d1;
      PetscCall(VecNorm(xd, NORM_2, &nxd));
      PetscCall(VecAXPY(xd, -1.0, x));
      PetscCall(VecNorm(xd, NORM_2, &errd));
      errd /= nxd;
      BenchRecordInit(&rec, "solver", name, sym ? "dense-cholesky" : "dense-lu", N);
      rec.factor_s  = dense;
      rec.solve_s   = dsolve;
      rec.its       = 1;
      rec.error     = 0;
      rec.mem_bytes = 8.0 * N * (double)N;
      rec.flops     = (sym ? 1.0 : 2.0) * N * (double)N * N / 3.0;
      rec.gflops    = rec.flops / dense / 1e9;
      PetscCall(BenchRecordPrint(PETSC_COMM_WORLD, &rec));
      PetscCall(KSPDestroy(&kd));
      PetscCall(MatDestroy(&D));
      PetscCall(VecDestroy(&xd));
    }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%9" PetscInt_FMT " %9.3f %9.3f %9.1f %8.3f %8.3f %5" PetscInt_FMT " %10.2e %10.2e %9.1f %9.2f %9.3f %9.1f %s\n", N, t1 - t0, t3 - t2, 1e6 * (t1 - t0 + t3 - t2) / N, s1 - s0, t1 - t0 + t3 - t2 + s1 - s0, its, (double)res, (double)errd, fbytes / 1048576.0, (f1 - f0) / (t3 - t2) / 1e9, dense,
                          dense > 0 ? dense / (t1 - t0 + t3 - t2) : 0.0, KSPConvergedReasons[reason]));
    BenchRecordInit(&rec, "solver", name, method, N);
    rec.tol       = info.rtol;
    rec.build_s   = t1 - t0;
    rec.factor_s  = t3 - t2;
    rec.solve_s   = s1 - s0;
    rec.its       = reason > 0 ? its : -its; /* negative: not converged in that many */
    rec.residual  = res;
    rec.error     = errd;
    rec.mem_bytes = info.bytes + (fbytes > 0 ? fbytes : 0);
    rec.flops     = f1 - f0;
    rec.gflops    = (f1 - f0) / (t3 - t2) / 1e9;
    PetscCall(BenchRecordPrint(PETSC_COMM_WORLD, &rec));
    PetscCall(KSPDestroy(&ksp));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&b));
    PetscCall(VecDestroy(&r));
    PetscCall(VecDestroy(&xt));
    PetscCall(PetscRandomDestroy(&rnd));
    PetscCall(MatDestroy(&A));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  PetscCall(PetscFinalize());
  return 0;
}
