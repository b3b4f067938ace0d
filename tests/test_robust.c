/* Robustness of the factorization against changed values and singular input; -case picks one:
   axpy       A <- A + 2 (A + I) after a first solve: the re-solve (the same KSP) must use the new
              values. Reference: the dense matrix 3 D + 2 I (MATDENSE, LAPACK log-det on 1 process).
              Runs with -pc_type h2ulv or -pc_type cholesky -pc_factor_mat_solver_type h2ulv.
   duplicate  every point twice (N/2 zero eigenvalues): the factorization must fail with a zero
              pivot (KSP_DIVERGED_PC_FAILED), never converge to a wrong answer.
   mismatch   run as an MPMD job whose processes were given different options: building the
              matrix or the factorization must stop with an error that names the option given in
              -expect, without its leading dash (on every process: no hang, no crash).
   symmetric  -mat_h2_symmetric on the nonsymmetric sphere-laplace-ns: an error at assembly.
   coordcount a dense Pmat whose PCSetCoordinates() on the last process gives one point too few:
              an error on every process (no process left waiting).
   options    a PC option with a value it refuses (given on the command line): the error names it.
   samples    the build's check of the product on a few rows against the exact entries: with
              too few far-field samples (-mat_h2_samples) it must report an error above 10 x rtol
              where the whole product's error against MATDENSE is, and below where it is not.
   memory     a problem far too large for the machine (-n): a PETSC_ERR_MEM error up front. */
#include <h2ulv.h>

/* a preonly KSP with PCH2ULV on A, then the options database (-pc_type etc. may change the PC) */
static PetscErrorCode PreonlyKSP(Mat A, KSP *ksp)
{
  PC pc;

  PetscFunctionBeginUser;
  PetscCall(KSPCreate(PETSC_COMM_WORLD, ksp));
  PetscCall(KSPSetOperators(*ksp, A, A));
  PetscCall(KSPSetType(*ksp, KSPPREONLY));
  PetscCall(KSPGetPC(*ksp, &pc));
  PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(KSPSetFromOptions(*ksp));
  PetscFunctionReturn(0);
}

/* ||D x - b|| / ||b|| for the dense reference D */
static PetscErrorCode Residual(Mat D, Vec x, Vec b, PetscReal *res)
{
  Vec       r;
  PetscReal nb;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(b, &r));
  PetscCall(MatMult(D, x, r));
  PetscCall(VecAXPY(r, -1.0, b));
  PetscCall(VecNorm(r, NORM_2, res));
  PetscCall(VecNorm(b, NORM_2, &nb));
  *res /= nb;
  PetscCall(VecDestroy(&r));
  PetscFunctionReturn(0);
}

/* log det of the SPD dense matrix D by LAPACK Cholesky (one process) */
static PetscErrorCode DenseLogDet(Mat D, PetscReal *logdet)
{
  Mat                F;
  const PetscScalar *a;
  PetscInt           n, lda;

  PetscFunctionBeginUser;
  PetscCall(MatDuplicate(D, MAT_COPY_VALUES, &F));
  PetscCall(MatSetOption(F, MAT_SPD, PETSC_TRUE)); /* potrf: F holds L with log det = 2 sum log L_ii */
  PetscCall(MatCholeskyFactor(F, NULL, NULL));
  PetscCall(MatGetSize(F, &n, NULL));
  PetscCall(MatDenseGetLDA(F, &lda));
  PetscCall(MatDenseGetArrayRead(F, &a));
  *logdet = 0;
  for (PetscInt i = 0; i < n; i++) *logdet += 2 * PetscLogReal(PetscAbsScalar(a[i + i * lda]));
  PetscCall(MatDenseRestoreArrayRead(F, &a));
  PetscCall(MatDestroy(&F));
  PetscFunctionReturn(0);
}

static PetscErrorCode CaseAxpy(PetscInt N)
{
  H2ULVProblem       prob;
  Mat                A, X, D;
  KSP                ksp;
  PC                 pc;
  Vec                x, b;
  KSPConvergedReason reason;
  PetscReal          res, tol = 1e-6;
  PetscMPIInt        size;
  PetscBool          ish2ulv;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(H2ULVProblemCreate("ball-matern", N, 0, &prob));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
  PetscCall(MatCreateVecs(A, &x, &b));
  PetscCall(VecSetRandom(b, NULL));
  PetscCall(PreonlyKSP(A, &ksp));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PetscObjectTypeCompare((PetscObject)pc, PCH2ULV, &ish2ulv));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(Residual(D, x, b, &res));
  PetscCheck(res < tol, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: the first solve has residual %g", (double)res);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "first solve: residual %.2e against dense\n", (double)res));

  /* A <- A + 2 (A + I) and D <- 3 D + 2 I */
  PetscCall(MatDuplicate(A, MAT_COPY_VALUES, &X));
  PetscCall(MatShift(X, 1.0));
  PetscCall(MatAXPY(A, 2.0, X, SAME_NONZERO_PATTERN));
  PetscCall(MatScale(D, 3.0));
  PetscCall(MatShift(D, 2.0));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  PetscCall(Residual(D, x, b, &res));
  PetscCheck(reason > 0 && res < tol, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: after MatAXPY the re-solve gives %s with residual %g against 3 D + 2 I: the old factorization was used", KSPConvergedReasons[reason], (double)res);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "after MatAXPY: %s, residual %.2e against 3 D + 2 I\n", KSPConvergedReasons[reason], (double)res));
  if (ish2ulv) {
    PetscInt neg, zero, pos;
    PetscCall(PCH2ULVGetInertia(pc, &neg, &zero, &pos));
    PetscCheck(neg == 0 && zero == 0 && pos == N, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: inertia %" PetscInt_FMT "/%" PetscInt_FMT "/%" PetscInt_FMT " of an SPD matrix", neg, zero, pos);
    if (size == 1) {
      PetscReal ld, ldd;
      PetscCall(PCH2ULVGetLogDeterminant(pc, &ld));
      PetscCall(DenseLogDet(D, &ldd));
      PetscCheck(PetscAbsReal(ld - ldd) < 1e-4 * PetscAbsReal(ldd), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: log det after MatAXPY %.10g, dense %.10g", (double)ld, (double)ldd);
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "after MatAXPY: log det %.8g, dense %.8g\n", (double)ld, (double)ldd));
    }
  }
  PetscCall(KSPDestroy(&ksp));
  PetscCall(MatDestroy(&X));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscFunctionReturn(0);
}

static PetscErrorCode CaseDuplicate(PetscInt N)
{
  Mat                A;
  KSP                ksp;
  Vec                x, b;
  KSPConvergedReason reason;
  PetscInt           m, rstart;
  PetscReal         *c;
  PetscRandom        rnd;

  PetscFunctionBeginUser;
  PetscCall(MatCreate(PETSC_COMM_WORLD, &A));
  PetscCall(MatSetSizes(A, PETSC_DECIDE, PETSC_DECIDE, N, N));
  PetscCall(MatSetType(A, MATH2));
  PetscCall(MatSetUp(A));
  PetscCall(MatGetLocalSize(A, &m, NULL));
  PetscCall(MatGetOwnershipRange(A, &rstart, NULL));
  /* point i and point i + N/2 coincide: the same pseudo-random point from the index */
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  PetscCall(PetscMalloc1(3 * m, &c));
  for (PetscInt i = 0; i < m; i++) {
    PetscInt g = (rstart + i) % (N / 2);
    PetscCall(PetscRandomSetSeed(rnd, (unsigned long)(g + 1)));
    PetscCall(PetscRandomSeed(rnd));
    for (int d = 0; d < 3; d++) PetscCall(PetscRandomGetValueReal(rnd, &c[3 * i + d]));
  }
  PetscCall(MatH2SetCoordinates(A, 3, c));
  PetscCall(MatH2SetBuiltinKernel(A, MATH2_KERNEL_EXPONENTIAL, 1.0, 0.5, PETSC_DEFAULT, 0.0));
  PetscCall(MatSetFromOptions(A));
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatCreateVecs(A, &x, &b));
  PetscCall(VecSet(b, 1.0));
  PetscCall(PreonlyKSP(A, &ksp));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  PetscCheck(reason == KSP_DIVERGED_PC_FAILED, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: a matrix with %" PetscInt_FMT " zero eigenvalues gave %s", N / 2, KSPConvergedReasons[reason]);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "ok: every point twice -> %s\n", KSPConvergedReasons[reason]));
  PetscCall(PetscFree(c));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(MatDestroy(&A));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscFunctionReturn(0);
}

static PetscErrorCode CaseSamples(PetscInt N)
{
  H2ULVProblem prob;
  Mat          A, D;
  Vec          x, y, z;
  MatH2Info    info;
  PetscReal    err, nz;

  PetscFunctionBeginUser;
  PetscCall(H2ULVProblemCreate("ball-matern", N, 0, &prob));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
  PetscCall(MatCreateVecs(A, &x, &y));
  PetscCall(VecDuplicate(y, &z));
  PetscCall(VecSetRandom(x, NULL));
  PetscCall(MatMult(A, x, y));
  PetscCall(MatMult(D, x, z));
  PetscCall(VecAXPY(y, -1.0, z));
  PetscCall(VecNorm(y, NORM_2, &err));
  PetscCall(VecNorm(z, NORM_2, &nz));
  err /= nz;
  PetscCall(MatH2GetInfo(A, &info));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "product error against dense %.3e, the build's check %.3e, rtol %g\n", (double)err, (double)info.checkerr, (double)info.rtol));
  PetscCheck(info.checkerr >= 0, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: the build did not check its product");
  PetscCheck((err > 10 * info.rtol) == (info.checkerr > 10 * info.rtol), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: the check (%g) and the dense comparison (%g) disagree on whether the error is above 10 x rtol", (double)info.checkerr, (double)err);
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&z));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscFunctionReturn(0);
}

static char lastmsg[4096];
static PetscErrorCode Handler(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  if (p == PETSC_ERROR_INITIAL && mess) PetscStrncpy(lastmsg, mess, sizeof(lastmsg));
  return n;
}

/* build the matrix and solve with the options of this process; errors come back as the code */
static PetscErrorCode BuildAndSolve(const char *problem, PetscInt N)
{
  H2ULVProblem prob;
  Mat          A;
  KSP          ksp;
  Vec          x, b;

  PetscFunctionBeginUser;
  PetscCall(H2ULVProblemCreate(problem, N, 0, &prob));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  PetscCall(MatCreateVecs(A, &x, &b));
  PetscCall(VecSet(b, 1.0));
  PetscCall(PreonlyKSP(A, &ksp));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscCall(MatDestroy(&A));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscFunctionReturn(0);
}

/* a dense Pmat and PCSetCoordinates() with one point too few on the last process */
static PetscErrorCode DenseWrongCount(PetscInt N)
{
  H2ULVProblem prob;
  Mat          D;
  KSP          ksp;
  PC           pc;
  Vec          x, b;
  PetscInt     rstart, rend;
  PetscMPIInt  rank, size;
  PetscReal   *c;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(H2ULVProblemCreate("ball-matern", N, 0, &prob));
  PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
  PetscCall(MatGetOwnershipRange(D, &rstart, &rend));
  PetscCall(PetscMalloc1(3 * (rend - rstart), &c));
  PetscCall(H2ULVProblemGetCoordinates(prob, rstart, rend, c));
  PetscCall(MatCreateVecs(D, &x, &b));
  PetscCall(VecSet(b, 1.0));
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, D, D));
  PetscCall(KSPSetType(ksp, KSPPREONLY));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(PCSetCoordinates(pc, 3, rend - rstart - (rank == size - 1 ? 1 : 0), c));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(PetscFree(c));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscCall(MatDestroy(&D));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscFunctionReturn(0);
}

/* the run must fail with error class code (0: any) and a message that contains needle */
static PetscErrorCode CaseExpectError(const char *problem, PetscInt N, PetscErrorCode want, PetscErrorCode (*run)(const char *, PetscInt))
{
  char           needle[256] = "";
  PetscErrorCode code;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-expect", needle, sizeof(needle), NULL));
  PetscCall(PetscPushErrorHandler(Handler, NULL));
  code = run ? run(problem, N) : DenseWrongCount(N);
  PetscCall(PetscPopErrorHandler());
  PetscCheck(code != 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED: no error (expected one naming '%s')", needle);
  PetscCheck(!want || code == want, PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED: error code %d, expected %d: %s", (int)code, (int)want, lastmsg);
  PetscCheck(strstr(lastmsg, needle), PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED: the error does not name '%s': %s", needle, lastmsg);
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "ok: error \"%s\"\n", lastmsg));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char      cs[32] = "axpy";
  PetscInt  N      = 2048;
  PetscBool flg;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "Robustness of PCH2ULV against changed values and singular input"));
  PetscCall(H2ULVInitializePackage());
  PetscCall(PetscOptionsGetString(NULL, NULL, "-case", cs, sizeof(cs), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscStrcmp(cs, "axpy", &flg));
  if (flg) PetscCall(CaseAxpy(N));
  else if (PetscStrcmp(cs, "duplicate", &flg) == 0 && flg) PetscCall(CaseDuplicate(N));
  else if (PetscStrcmp(cs, "mismatch", &flg) == 0 && flg) PetscCall(CaseExpectError("ball-matern", N, PETSC_ERR_ARG_INCOMP, BuildAndSolve));
  else if (PetscStrcmp(cs, "symmetric", &flg) == 0 && flg) PetscCall(CaseExpectError("sphere-laplace-ns", N, PETSC_ERR_ARG_WRONG, BuildAndSolve));
  else if (PetscStrcmp(cs, "options", &flg) == 0 && flg) PetscCall(CaseExpectError("ball-matern", N, PETSC_ERR_ARG_OUTOFRANGE, BuildAndSolve));
  else if (PetscStrcmp(cs, "coordcount", &flg) == 0 && flg) PetscCall(CaseExpectError(NULL, N, PETSC_ERR_ARG_SIZ, NULL));
  else if (PetscStrcmp(cs, "samples", &flg) == 0 && flg) PetscCall(CaseSamples(N));
  else if (PetscStrcmp(cs, "memory", &flg) == 0 && flg) PetscCall(CaseExpectError("ball-matern", N, PETSC_ERR_MEM, BuildAndSolve));
  else SETERRQ(PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-case must be axpy, duplicate, mismatch, symmetric, coordcount, options, samples or memory, got %s", cs);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "RESULT: PASS\n"));
  PetscCall(PetscFinalize());
  return 0;
}
