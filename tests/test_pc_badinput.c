/* PCH2ULV bad input: each case must give a clear PETSc error or a failed reason, never NaN:
   - Cholesky demanded on a negative definite matrix (sc22-sphere) factors its negative and solves it
   - Cholesky demanded on an indefinite one (its diagonal -1e6 and +1e6 by turns) -> DIVERGED_PC_FAILED
   - automatic factorization on the indefinite one falls back to LU and solves it
   - a singular matrix (all-zero entries after MatZeroEntries) -> DIVERGED_PC_FAILED
   - zero-size system, dense Pmat without coordinates and a zero diagonal, unsupported Pmat type
   - -pc_h2ulv_factorization cholesky on a nonsymmetric matrix */
#include <h2ulv.h>

static char lastmsg[4096];
static PetscErrorCode Handler(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  if (p == PETSC_ERROR_INITIAL && mess) PetscStrncpy(lastmsg, mess, sizeof(lastmsg));
  return n;
}

/* solve with the given PC options; return the converged reason (errors are returned as code) */
static PetscErrorCode TrySolve(Mat A, const char *factor, KSPConvergedReason *reason, PetscReal *err)
{
  KSP         ksp;
  PC          pc;
  Vec         x, b, y;
  PetscReal   nb;

  PetscFunctionBeginUser;
  PetscCall(MatCreateVecs(A, &x, &b));
  PetscCall(VecDuplicate(b, &y));
  PetscCall(VecSet(x, 1.0));
  PetscCall(MatMult(A, x, b));
  PetscCall(VecSet(x, 0.0));
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetType(ksp, KSPPREONLY));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(PetscOptionsSetValue(NULL, "-pc_h2ulv_factorization", factor));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(PetscOptionsClearValue(NULL, "-pc_h2ulv_factorization"));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetConvergedReason(ksp, reason));
  PetscCall(MatMult(A, x, y));
  PetscCall(VecAXPY(y, -1.0, b));
  PetscCall(VecNorm(y, NORM_2, err));
  PetscCall(VecNorm(b, NORM_2, &nb));
  *err /= nb;
  PetscCall(KSPDestroy(&ksp));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&y));
  PetscFunctionReturn(0);
}

static PetscErrorCode ExpectError(PetscErrorCode code, const char *what, const char *needle)
{
  PetscFunctionBeginUser;
  PetscCheck(code != 0, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: %s gave no error", what);
  PetscCheck(!needle || strstr(lastmsg, needle), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: %s: the message does not mention '%s': %s", what, needle, lastmsg);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "ok: %s -> error \"%s\"\n", what, lastmsg));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  H2ULVProblem       prob;
  Mat                A, D;
  KSPConvergedReason reason;
  PetscReal          err;
  PetscErrorCode     code;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "PCH2ULV bad input"));
  PetscCall(H2ULVInitializePackage());
  /* indefinite: sc22-sphere (diagonal -1e6) */
  PetscCall(H2ULVProblemCreate("sc22-sphere", 1024, 0, &prob));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  PetscCall(TrySolve(A, "cholesky", &reason, &err));
  PetscCheck(reason > 0 && err < 1e-8, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: Cholesky of the negative of a negative definite matrix gave %s, residual %g", KSPConvergedReasons[reason], (double)err);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "ok: Cholesky demanded on a negative definite matrix factors its negative: residual %.2e\n", (double)err));
  { /* indefinite: the diagonal -1e6 and +1e6 by turns */
    Vec      dg;
    PetscInt rs, re;
    PetscCall(MatCreateVecs(A, &dg, NULL));
    PetscCall(VecGetOwnershipRange(dg, &rs, &re));
    for (PetscInt i = rs; i < re; i++) PetscCall(VecSetValue(dg, i, i % 2 ? 1e6 : -1e6, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(dg));
    PetscCall(VecAssemblyEnd(dg));
    PetscCall(MatDiagonalSet(A, dg, INSERT_VALUES));
    PetscCall(VecDestroy(&dg));
  }
  PetscCall(TrySolve(A, "cholesky", &reason, &err));
  PetscCheck(reason == KSP_DIVERGED_PC_FAILED, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: Cholesky on an indefinite matrix gave %s", KSPConvergedReasons[reason]);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "ok: Cholesky demanded on an indefinite matrix -> %s\n", KSPConvergedReasons[reason]));
  PetscCall(TrySolve(A, "auto", &reason, &err));
  PetscCheck(reason > 0 && err < 1e-8, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: automatic LU fallback gave %s, residual %g", KSPConvergedReasons[reason], (double)err);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "ok: automatic factorization falls back to LU: residual %.2e\n", (double)err));
  /* singular: the zero matrix */
  PetscCall(MatZeroEntries(A));
  PetscCall(TrySolve(A, "lu", &reason, &err));
  PetscCheck(reason == KSP_DIVERGED_PC_FAILED, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: singular matrix gave %s", KSPConvergedReasons[reason]);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "ok: singular matrix -> %s\n", KSPConvergedReasons[reason]));
  PetscCall(MatDestroy(&A));
  PetscCall(H2ULVProblemDestroy(&prob));

  PetscCall(PetscPushErrorHandler(Handler, NULL));
  /* dense Pmat without coordinates whose diagonal is zero (no tree from the entries) */
  {
    KSP ksp;
    PC  pc;
    PetscCall(H2ULVProblemCreate("cube-yukawa", 200, 0, &prob));
    PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
    PetscCall(MatShift(D, -1.0)); /* the diagonal of cube-yukawa is 1 */
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
    PetscCall(KSPSetOperators(ksp, D, D));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, PCH2ULV));
    code = KSPSetUp(ksp);
    PetscCall(ExpectError(code, "dense Pmat with a zero diagonal without PCSetCoordinates", "nonzero, finite diagonal"));
    PetscCall(KSPDestroy(&ksp));
    /* unsupported type */
    {
      Mat S;
      PetscCall(MatConvert(D, MATAIJ, MAT_INITIAL_MATRIX, &S));
      PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
      PetscCall(KSPSetOperators(ksp, S, S));
      PetscCall(KSPGetPC(ksp, &pc));
      PetscCall(PCSetType(pc, PCH2ULV));
      code = KSPSetUp(ksp);
      PetscCall(ExpectError(code, "Pmat of type aij", "MATH2"));
      PetscCall(KSPDestroy(&ksp));
      PetscCall(MatDestroy(&S));
    }
    PetscCall(MatDestroy(&D));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  /* Cholesky demanded on a nonsymmetric matrix */
  {
    KSP ksp;
    PC  pc;
    PetscCall(H2ULVProblemCreate("sphere-laplace-ns", 600, 0, &prob));
    PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
    PetscCall(KSPSetOperators(ksp, A, A));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, PCH2ULV));
    PetscCall(PetscOptionsSetValue(NULL, "-pc_h2ulv_factorization", "cholesky"));
    PetscCall(KSPSetFromOptions(ksp));
    PetscCall(PetscOptionsClearValue(NULL, "-pc_h2ulv_factorization"));
    code = KSPSetUp(ksp);
    PetscCall(ExpectError(code, "Cholesky on a nonsymmetric matrix", "symmetric"));
    PetscCall(KSPDestroy(&ksp));
    PetscCall(MatDestroy(&A));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  /* tensor cores asked for with double-precision factors, and with the kokkos backend */
  for (int t = 0; t < 2; t++) {
    KSP ksp;
    PC  pc;
    Vec x, b;
    PetscCall(H2ULVProblemCreate("sphere-laplace", 600, 0, &prob));
    PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
    PetscCall(KSPSetOperators(ksp, A, A));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, PCH2ULV));
    PetscCall(PetscOptionsSetValue(NULL, "-pc_h2ulv_tensor_cores", "corrected"));
    if (t) PetscCall(PetscOptionsSetValue(NULL, "-pc_h2ulv_precision", "single"));
    if (t) PetscCall(PetscOptionsSetValue(NULL, "-pc_h2ulv_backend", "kokkos"));
    PetscCall(KSPSetFromOptions(ksp));
    PetscCall(PetscOptionsClearValue(NULL, "-pc_h2ulv_tensor_cores"));
    if (t) PetscCall(PetscOptionsClearValue(NULL, "-pc_h2ulv_precision"));
    if (t) PetscCall(PetscOptionsClearValue(NULL, "-pc_h2ulv_backend"));
    PetscCall(MatCreateVecs(A, &x, &b));
    PetscCall(VecSet(b, 1.0));
    code = KSPSolve(ksp, b, x); /* the factorization runs at the first solve */
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&b));
    if (t) PetscCall(ExpectError(code, "tensor cores on the kokkos backend", "not supported by the kokkos backend"));
    else PetscCall(ExpectError(code, "tensor cores with double-precision factors", "needs -pc_h2ulv_precision single"));
    PetscCall(KSPDestroy(&ksp));
    PetscCall(MatDestroy(&A));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  /* zero-size system */
  {
    KSP ksp;
    PC  pc;
    Mat Z;
    PetscCall(MatCreateDense(PETSC_COMM_WORLD, 0, 0, 0, 0, NULL, &Z));
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
    PetscCall(KSPSetOperators(ksp, Z, Z));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, PCH2ULV));
    code = KSPSetUp(ksp);
    PetscCall(ExpectError(code, "zero-size system", "size 0"));
    PetscCall(KSPDestroy(&ksp));
    PetscCall(MatDestroy(&Z));
  }
  PetscCall(PetscPopErrorHandler());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(PetscFinalize());
  return 0;
}
