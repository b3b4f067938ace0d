/* PCH2ULV against PETSc MATDENSE + LAPACK on a standard problem.
   b = D x_true (D the exact dense matrix).  Solves A x = b with the MATH2 operator A and the KSP/PC
   from the options (e.g. -ksp_type preonly -pc_type h2ulv) and reports
     - the relative difference to the dense LAPACK solution x_d of D x = b,
     - the true relative residual ||b - D x|| / ||b||, and the iteration count,
     - with -logdet: log|det| and its sign from PCH2ULVGetLogAbsDeterminant vs LAPACK (LU of D);
     - with -inertia: PCH2ULVGetInertia vs LAPACK's LDL^T (sytrf) of D.
   Assertions: -max_err <e> (||x - x_d||/||x_d||), -max_res <r>, -max_its <k>, -max_logdet_err <e>
   (and the determinant's sign), the inertia (-inertia).
   -transpose: solve A^T x = b instead (KSPSolveTranspose; PCApplyTranspose)
   -shift <s>: shift both matrices by s after a first solve, solve again (refactorization reuses
               the tree and the bases; the second solve is the one checked)
   -compressed: the reference is the dense matrix of the H2 operator itself (MatConvert), for the
   exactness tests (theta = 0, full ranks). */
#include <h2ulv.h>
#include <petscblaslapack.h>

/* a contiguous copy f (N x N, column-major) of the (sequential) dense matrix, and room for N pivots */
static PetscErrorCode DenseCopy(Mat D, PetscInt *N, PetscScalar **f, PetscBLASInt **piv)
{
  const PetscScalar *a;
  PetscInt           ldd;

  PetscFunctionBeginUser;
  PetscCall(MatGetSize(D, N, NULL));
  PetscCall(PetscMalloc2((size_t)*N * *N, f, *N, piv));
  PetscCall(MatDenseGetArrayRead(D, &a));
  PetscCall(MatDenseGetLDA(D, &ldd));
  for (PetscInt j = 0; j < *N; j++)
    for (PetscInt i = 0; i < *N; i++) (*f)[i + j * *N] = a[i + j * ldd];
  PetscCall(MatDenseRestoreArrayRead(D, &a));
  PetscFunctionReturn(0);
}

/* log|det D| and the sign of det D by LAPACK LU (getrf) of a copy of the (sequential) dense matrix */
static PetscErrorCode DenseLogDet(Mat D, PetscReal *ld, PetscInt *sign)
{
  PetscScalar *f;
  PetscBLASInt n, lda, info, *piv;
  PetscInt     N;

  PetscFunctionBeginUser;
  PetscCall(DenseCopy(D, &N, &f, &piv));
  PetscCall(PetscBLASIntCast(N, &n));
  lda = n;
  PetscCallBLAS("LAPACKgetrf", LAPACKgetrf_(&n, &n, f, &lda, piv, &info));
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK getrf failed: %d", (int)info);
  *ld   = 0;
  *sign = 1;
  for (PetscInt i = 0; i < N; i++) {
    *ld += PetscLogReal(PetscAbsReal(PetscRealPart(f[i + i * N])));
    if ((PetscRealPart(f[i + i * N]) < 0) != (piv[i] != i + 1)) *sign = -*sign;
  }
  PetscCall(PetscFree2(f, piv));
  PetscFunctionReturn(0);
}

/* the inertia of the symmetric (sequential) dense matrix by LAPACK's Bunch-Kaufman LDL^T (sytrf):
   a 1x1 pivot counts by its sign, a 2x2 one (negative determinant) has one eigenvalue of each sign */
static PetscErrorCode DenseInertia(Mat D, PetscInt *neg, PetscInt *zero, PetscInt *pos)
{
  PetscScalar *f, wq;
  PetscBLASInt n, info, *piv, lw = -1;
  PetscInt     N;

  PetscFunctionBeginUser;
  PetscCall(DenseCopy(D, &N, &f, &piv));
  PetscCall(PetscBLASIntCast(N, &n));
  PetscCallBLAS("LAPACKsytrf", LAPACKsytrf_("L", &n, f, &n, piv, &wq, &lw, &info));
  {
    PetscScalar *w;
    PetscCall(PetscBLASIntCast((PetscInt)PetscRealPart(wq), &lw));
    PetscCall(PetscMalloc1(lw, &w));
    PetscCallBLAS("LAPACKsytrf", LAPACKsytrf_("L", &n, f, &n, piv, w, &lw, &info));
    PetscCall(PetscFree(w));
  }
  PetscCheck(info >= 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK sytrf failed: %d", (int)info);
  *neg = *zero = *pos = 0;
  for (PetscInt i = 0; i < N; i++) {
    if (piv[i] < 0) { /* a 2x2 block in rows i, i+1 */
      (*neg)++, (*pos)++, i++;
      continue;
    }
    const PetscReal d = PetscRealPart(f[i + i * N]);
    if (d < 0) (*neg)++;
    else if (d > 0) (*pos)++;
    else (*zero)++;
  }
  PetscCall(PetscFree2(f, piv));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char         name[64] = "sphere-laplace";
  PetscInt     N = 2048, its, maxits = -1;
  PetscReal    maxerr = -1, maxres = -1, maxlderr = -1, err, res, nb, nxd;
  PetscBool    sym, logdet = PETSC_FALSE, inertia = PETSC_FALSE, compressed = PETSC_FALSE, transpose = PETSC_FALSE;
  PetscReal    shift = 0;
  H2ULVProblem prob;
  Mat          A, D;
  Vec          x, xt, xd, b, r;
  KSP          ksp, kd;
  PC           pc, pd;
  PetscRandom  rnd;
  KSPConvergedReason reason;
  PetscLogDouble t0, t1, t2;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "PCH2ULV accuracy test"));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-max_its", &maxits, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err", &maxerr, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_res", &maxres, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_logdet_err", &maxlderr, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-logdet", &logdet, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-inertia", &inertia, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-compressed", &compressed, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-transpose", &transpose, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-shift", &shift, NULL));
  PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
  PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  if (compressed) PetscCall(MatConvert(A, MATDENSE, MAT_INITIAL_MATRIX, &D));
  else PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
  if (sym) PetscCall(MatSetOption(D, MAT_SYMMETRIC, PETSC_TRUE));

  PetscCall(MatCreateVecs(A, &x, &b));
  PetscCall(VecDuplicate(x, &xt));
  PetscCall(VecDuplicate(x, &xd));
  PetscCall(VecDuplicate(b, &r));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 3));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecSetRandom(xt, rnd));
  if (transpose) PetscCall(MatMultTranspose(D, xt, b));
  else PetscCall(MatMult(D, xt, b));

  /* dense LAPACK reference */
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &kd));
  PetscCall(KSPSetOperators(kd, D, D));
  PetscCall(KSPSetType(kd, KSPPREONLY));
  PetscCall(KSPGetPC(kd, &pd));
  PetscCall(PCSetType(pd, sym ? PCCHOLESKY : PCLU));
  PetscCall(PCFactorSetMatSolverType(pd, MATSOLVERPETSC)); /* LAPACK, whatever else is registered */
  if (transpose) PetscCall(KSPSolveTranspose(kd, b, xd));
  else PetscCall(KSPSolve(kd, b, xd));

  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(KSPSetTolerances(ksp, 1e-10, PETSC_DEFAULT, PETSC_DEFAULT, 200));
  PetscCall(KSPSetFromOptions(ksp));
  if (shift != 0) { /* a first factorization, then the shift: the PC refactors with the same tree and bases */
    PetscLogDouble a0, a1;
    PetscCall(PetscTime(&a0));
    PetscCall(KSPSetUp(ksp));
    PetscCall(PetscTime(&a1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "first setup %.3f s\n", a1 - a0));
    PetscCall(MatShift(A, shift));
    PetscCall(MatShift(D, shift));
    PetscCall(KSPSetOperators(ksp, A, A));
    PetscCall(KSPSetOperators(kd, D, D));
    if (transpose) PetscCall(MatMultTranspose(D, xt, b));
    else PetscCall(MatMult(D, xt, b));
    if (transpose) PetscCall(KSPSolveTranspose(kd, b, xd));
    else PetscCall(KSPSolve(kd, b, xd));
  }
  PetscCall(PetscTime(&t0));
  PetscCall(KSPSetUp(ksp));
  PetscCall(PetscTime(&t1));
  if (transpose) PetscCall(KSPSolveTranspose(ksp, b, x));
  else PetscCall(KSPSolve(ksp, b, x));
  PetscCall(PetscTime(&t2));
  PetscCall(KSPGetIterationNumber(ksp, &its));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  PetscCall(VecNorm(xd, NORM_2, &nxd));
  PetscCall(VecNorm(b, NORM_2, &nb));
  if (transpose) PetscCall(MatMultTranspose(D, x, r));
  else PetscCall(MatMult(D, x, r));
  PetscCall(VecAYPX(r, -1.0, b));
  PetscCall(VecNorm(r, NORM_2, &res));
  PetscCall(VecAXPY(xd, -1.0, x));
  PetscCall(VecNorm(xd, NORM_2, &err));
  err /= nxd;
  res /= nb;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT ": %s, %" PetscInt_FMT " its, setup %.3f s, solve %.3f s; vs LAPACK: ||x-x_d||/||x_d|| = %.3e, residual %.3e\n", name, N, KSPConvergedReasons[reason], its, t1 - t0, t2 - t1, (double)err, (double)res));
  if (logdet) {
    PetscReal ld, ldd;
    PetscInt  sgn, sgnd;
    PetscCall(PCH2ULVGetLogAbsDeterminant(pc, &ld, &sgn));
    PetscCall(DenseLogDet(D, &ldd, &sgnd));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "log|det|: H2-ULV %.12e (sign %+d), LAPACK %.12e (sign %+d), relative error %.3e\n", (double)ld, (int)sgn, (double)ldd, (int)sgnd, (double)(PetscAbsReal(ld - ldd) / PetscAbsReal(ldd))));
    if (maxlderr > 0) PetscCheck(PetscAbsReal(ld - ldd) <= maxlderr * PetscAbsReal(ldd), PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: log det error above %g", (double)maxlderr);
    PetscCheck(sgn == sgnd, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: the sign of the determinant is %+d, LAPACK's %+d", (int)sgn, (int)sgnd);
  }
  if (inertia) {
    PetscInt n0, z0, p0, n1, z1, p1;
    PetscCall(PCH2ULVGetInertia(pc, &n0, &z0, &p0));
    PetscCall(DenseInertia(D, &n1, &z1, &p1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "inertia (negative, zero, positive): H2-ULV %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT ", LAPACK sytrf %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT "\n", n0, z0, p0, n1, z1, p1));
    PetscCheck(n0 == n1 && z0 == z1 && p0 == p1, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: the inertia differs from LAPACK's");
  }
  if (maxerr > 0) PetscCheck(err <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: solution error %.3e > %g", (double)err, (double)maxerr);
  if (maxres > 0) PetscCheck(res <= maxres, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: residual %.3e > %g", (double)res, (double)maxres);
  if (maxits >= 0) PetscCheck(its <= maxits, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: %" PetscInt_FMT " iterations > %" PetscInt_FMT, its, maxits);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(KSPDestroy(&kd));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&xt));
  PetscCall(VecDestroy(&xd));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&r));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(PetscFinalize());
  return 0;
}
