/* log det of the operator from a loose PCH2ULV: log det P (the factors) + the stochastic Lanczos
   correction log det A - log det P (PCH2ULVGetLogDeterminantCorrection), against the dense LAPACK
   Cholesky log det of the exact kernel matrix (computed on process 0; log|det| of a negative
   definite one, whose negative PCH2ULV factorizes).
   A: the MATH2 of the problem (-mat_h2_rtol, tight); P: PCH2ULV at its own -pc_h2ulv_rtol (loose).
   Assertions:
     - |log det P + corr - ld_dense| <= max(3 stderr, 1e-9 |ld_dense|)   (within the error bar)
     - with -closer: |log det P + corr - ld_dense| < |log det P - ld_dense| (better than the factors;
       meaningful where the factors' error is well above the standard error)
     - the halves of the solve: y^T S x = x^T S y for S = F^-1 A F^-T (PCApplySymmetricLeft/Right),
       and PCApplySymmetricRight(PCApplySymmetricLeft(x)) = PCApply(x), to 1e-10 relative
       (-halves_tol: where the solve corrects for the dropped couplings, -pc_h2ulv_cross_correction,
       the halves are those of the uncorrected factors and differ from it by about the tolerance).
   -serial (several processes): the same estimate on process 0 alone agrees to 1e-3 standard errors
       (plus roundoff, 1e-12 |ld_dense|)
       (the probes and the factorization do not depend on the process count).
   -probes <k>: probes (default: -pc_h2ulv_logdet_probes); -view: PCView (shows the estimate). */
#include <h2ulv.h>
#include <petscblaslapack.h>

/* log|det| of the definite dense kernel matrix by LAPACK Cholesky (potrf) of it or of its negative,
   on process 0, broadcast */
static PetscErrorCode DenseLogDet(H2ULVProblem prob, PetscReal *ld)
{
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  *ld = 0;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    Mat          D;
    PetscScalar *a;
    PetscInt     N, lda;
    PetscBLASInt n, bld, info;
    PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_SELF, PETSC_DECIDE, &D));
    PetscCall(MatGetSize(D, &N, NULL));
    PetscCall(MatDenseGetLDA(D, &lda));
    PetscCall(PetscBLASIntCast(N, &n));
    PetscCall(PetscBLASIntCast(lda, &bld));
    PetscCall(MatDenseGetArray(D, &a));
    PetscCallBLAS("LAPACKpotrf", LAPACKpotrf_("L", &n, a, &bld, &info));
    if (info > 0) { /* not SPD: negative definite? log|det D| = log det(-D) */
      PetscCall(MatDenseRestoreArray(D, &a));
      PetscCall(MatDestroy(&D));
      PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_SELF, PETSC_DECIDE, &D));
      PetscCall(MatScale(D, -1.0));
      PetscCall(MatDenseGetArray(D, &a));
      PetscCallBLAS("LAPACKpotrf", LAPACKpotrf_("L", &n, a, &bld, &info));
    }
    PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK potrf failed (the matrix is neither positive nor negative definite?): info %d", (int)info);
    for (PetscInt i = 0; i < N; i++) *ld += 2 * PetscLogReal(PetscRealPart(a[i + i * lda]));
    PetscCall(MatDenseRestoreArray(D, &a));
    PetscCall(MatDestroy(&D));
  }
  PetscCallMPI(MPI_Bcast(ld, 1, MPIU_REAL, 0, PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

/* S = F^-1 A F^-T symmetric, and F^-T F^-1 = P^-1, on random vectors */
static PetscErrorCode CheckHalves(PC pc, Mat A, PetscReal halvesTol)
{
  Vec         x, y, u, t, Sx, Sy, w;
  PetscRandom rnd;
  PetscScalar ySx, xSy;
  PetscReal   nx, nSx, dw, nw;

  PetscFunctionBeginUser;
  PetscCall(MatCreateVecs(A, &x, &y));
  PetscCall(VecDuplicate(x, &u));
  PetscCall(VecDuplicate(x, &t));
  PetscCall(VecDuplicate(x, &Sx));
  PetscCall(VecDuplicate(x, &Sy));
  PetscCall(VecDuplicate(x, &w));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 11));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecSetRandom(x, rnd));
  PetscCall(VecSetRandom(y, rnd));
  PetscCall(PCApplySymmetricRight(pc, x, u));
  PetscCall(MatMult(A, u, t));
  PetscCall(PCApplySymmetricLeft(pc, t, Sx));
  PetscCall(PCApplySymmetricRight(pc, y, u));
  PetscCall(MatMult(A, u, t));
  PetscCall(PCApplySymmetricLeft(pc, t, Sy));
  PetscCall(VecDot(Sx, y, &ySx));
  PetscCall(VecDot(Sy, x, &xSy));
  PetscCall(VecNorm(x, NORM_2, &nx));
  PetscCall(VecNorm(Sx, NORM_2, &nSx));
  PetscCall(PCApplySymmetricLeft(pc, x, t));
  PetscCall(PCApplySymmetricRight(pc, t, u));
  PetscCall(PCApply(pc, x, w));
  PetscCall(VecNorm(w, NORM_2, &nw));
  PetscCall(VecAXPY(w, -1.0, u));
  PetscCall(VecNorm(w, NORM_2, &dw));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "halves: |y^T S x - x^T S y| / (|x| |Sx|) = %.3e, |F^-T F^-1 x - P^-1 x| / |P^-1 x| = %.3e\n", (double)(PetscAbsScalar(ySx - xSy) / (nx * nSx)), (double)(dw / nw)));
  PetscCheck(PetscAbsScalar(ySx - xSy) <= 1e-10 * nx * nSx, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: F^-1 A F^-T is not symmetric");
  PetscCheck(dw <= halvesTol * nw, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: PCApplySymmetricRight(PCApplySymmetricLeft(x)) differs from PCApply(x)");
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&u));
  PetscCall(VecDestroy(&t));
  PetscCall(VecDestroy(&Sx));
  PetscCall(VecDestroy(&Sy));
  PetscCall(VecDestroy(&w));
  PetscFunctionReturn(0);
}

/* the MATH2 of the problem on comm and a set-up PCH2ULV of it, from the options */
static PetscErrorCode SetUpPC(H2ULVProblem prob, MPI_Comm comm, Mat *A, KSP *ksp, PC *pc)
{
  PetscFunctionBeginUser;
  PetscCall(H2ULVProblemCreateH2(prob, comm, PETSC_DECIDE, A));
  PetscCall(KSPCreate(comm, ksp));
  PetscCall(KSPSetOperators(*ksp, *A, *A));
  PetscCall(KSPGetPC(*ksp, pc));
  PetscCall(PCSetType(*pc, PCH2ULV));
  PetscCall(KSPSetFromOptions(*ksp));
  PetscCall(KSPSetUp(*ksp));
  PetscFunctionReturn(0);
}

/* the correction from the same problem and options on process 0 alone, broadcast */
static PetscErrorCode SerialCorrection(H2ULVProblem prob, PetscInt probes, PetscReal *corr)
{
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  *corr = 0;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    Mat A;
    KSP ksp;
    PC  pc;
    PetscCall(SetUpPC(prob, PETSC_COMM_SELF, &A, &ksp, &pc));
    PetscCall(PCH2ULVGetLogDeterminantCorrection(pc, probes, PETSC_DEFAULT, corr, NULL));
    PetscCall(KSPDestroy(&ksp));
    PetscCall(MatDestroy(&A));
  }
  PetscCallMPI(MPI_Bcast(corr, 1, MPIU_REAL, 0, PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char           name[64] = "ball-matern";
  PetscInt       N = 8192, probes = PETSC_DEFAULT;
  PetscReal      ldP, corr, se, ldd, errP, errC, rtol = 0;
  PetscMPIInt    size;
  PetscBool      closer = PETSC_FALSE, view = PETSC_FALSE, serial = PETSC_FALSE;
  PetscReal      halvesTol = 1e-10;
  H2ULVProblem   prob;
  Mat            A;
  KSP            ksp;
  PC             pc;
  PetscLogDouble t0, t1, t2, t3;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "log det correction by stochastic Lanczos quadrature"));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-probes", &probes, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-closer", &closer, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-halves_tol", &halvesTol, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-view", &view, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-serial", &serial, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-pc_h2ulv_rtol", &rtol, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
  PetscCall(PetscTime(&t0));
  PetscCall(SetUpPC(prob, PETSC_COMM_WORLD, &A, &ksp, &pc)); /* with -pc_h2ulv_logdet_view: the estimate too */
  PetscCall(PetscTime(&t1));
  PetscCall(PCH2ULVGetLogDeterminant(pc, &ldP));
  PetscCall(PCH2ULVGetLogDeterminantCorrection(pc, probes, PETSC_DEFAULT, &corr, &se));
  PetscCall(PetscTime(&t2));
  if (view) PetscCall(PCView(pc, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(CheckHalves(pc, A, halvesTol));
  PetscCall(DenseLogDet(prob, &ldd));
  PetscCall(PetscTime(&t3));
  errP = PetscAbsReal(ldP - ldd);
  errC = PetscAbsReal(ldP + corr - ldd);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT " on %d process(es), -pc_h2ulv_rtol %g: H2 and setup %.2f s, correction %.2f s, dense reference %.2f s\n", name, N, (int)size, (double)rtol, t1 - t0, t2 - t1, t3 - t2));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "log det: dense %.10f, P %.10f (error %.3e), correction %.6f +- %.2e, P + correction %.10f (error %.3e = %.2f stderr)\n", (double)ldd, (double)ldP, (double)errP, (double)corr, (double)se, (double)(ldP + corr), (double)errC, (double)(errC / se)));
  PetscCheck(errC <= PetscMax(3 * se, 1e-9 * PetscAbsReal(ldd)), PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: the corrected log det is %.3e from the dense one, more than 3 standard errors (%.3e)", (double)errC, (double)(3 * se));
  PetscCheck(!closer || errC < errP, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: the corrected log det (error %.3e) is not closer to the dense one than the factors' (error %.3e)", (double)errC, (double)errP);
  if (serial) {
    PetscReal c1;
    PetscCall(SerialCorrection(prob, probes, &c1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "correction on process 0 alone %.10f, on %d processes %.10f (difference %.3e)\n", (double)c1, (int)size, (double)corr, (double)PetscAbsReal(c1 - corr)));
    PetscCheck(PetscAbsReal(c1 - corr) <= 1e-3 * se + 1e-12 * PetscAbsReal(ldd), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: the estimate depends on the process count");
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(MatDestroy(&A));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(PetscFinalize());
  return 0;
}
