/* The defaults that set the cost of a solve, against MATDENSE + LAPACK LU references:
   - symmetry: MAT_SYMMETRIC set after MatAssemblyEnd on a user kernel gives the one-basis matrix,
     the same as with the option before it (its row bases kept as the one basis)
     (the same memory as with the option set before assembly, less than the two-basis build of the
     same kernel), and its product matches MATDENSE;
   - the PC tolerance by use, without -pc_h2ulv_rtol: KSPPREONLY solves to the matrix's tolerance
     (solution error against LU below -max_err; the same solve with an explicit loose tolerance
     misses it, so the check can fail); GMRES takes the loose -pc_h2ulv_krylov_rtol (less memory
     than the direct solve's factorization) and still converges to 1e-10 in a few iterations; the
     log-determinant after that GMRES is the tight one (refactored, equal to the direct solve's);
   - MatSolverType h2ulv (PCCHOLESKY) solves to the matrix's tolerance;
   - an explicit -pc_h2ulv_rtol wins over the rule (GMRES and preonly alike). */
#include <h2ulv.h>
#include <petscblaslapack.h>

#define DIM 3
static PetscReal w_; /* quadrature weight of the sphere's single layer */

static PetscScalar SingleLayer(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  PetscReal r2 = 0;
  (void)ctx;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return r2 == 0 ? PetscSqrtReal(w_ / PETSC_PI) / 2 : w_ / (4 * PETSC_PI * PetscSqrtReal(r2));
}

/* sym: 0 never declared symmetric, 1 MAT_SYMMETRIC before MatAssemblyEnd, 2 after it */
static PetscErrorCode CreateH2(H2ULVProblem prob, PetscInt N, int sym, Mat *A)
{
  PetscInt   rstart, rend;
  PetscReal *c;

  PetscFunctionBeginUser;
  PetscCall(MatCreate(PETSC_COMM_WORLD, A));
  PetscCall(MatSetSizes(*A, PETSC_DECIDE, PETSC_DECIDE, N, N));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(MatSetFromOptions(*A));
  PetscCall(MatSetUp(*A));
  PetscCall(MatGetOwnershipRange(*A, &rstart, &rend));
  PetscCall(PetscMalloc1(DIM * (rend - rstart), &c));
  PetscCall(H2ULVProblemGetCoordinates(prob, rstart, rend, c));
  PetscCall(MatH2SetCoordinates(*A, DIM, c));
  PetscCall(PetscFree(c));
  PetscCall(MatH2SetKernel(*A, SingleLayer, NULL));
  if (sym == 1) PetscCall(MatSetOption(*A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  if (sym == 2) PetscCall(MatSetOption(*A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscFunctionReturn(0);
}

/* ||A x - D x|| / ||D x|| for a random x */
static PetscErrorCode ProductError(Mat A, Mat D, PetscReal *err)
{
  Vec         x, y, z;
  PetscRandom rnd;
  PetscReal   nz;

  PetscFunctionBeginUser;
  PetscCall(MatCreateVecs(D, &x, &y));
  PetscCall(VecDuplicate(y, &z));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(VecSetRandom(x, rnd));
  PetscCall(MatMult(A, x, y));
  PetscCall(MatMult(D, x, z));
  PetscCall(VecNorm(z, NORM_2, &nz));
  PetscCall(VecAXPY(y, -1.0, z));
  PetscCall(VecNorm(y, NORM_2, err));
  *err /= nz;
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&z));
  PetscFunctionReturn(0);
}

static PetscErrorCode CheckSymmetryLate(H2ULVProblem prob, PetscInt N, Mat D)
{
  Mat       A[3];
  MatH2Info info[3];
  PetscReal err;

  PetscFunctionBeginUser;
  for (int s = 0; s < 3; s++) {
    PetscCall(CreateH2(prob, N, s, &A[s]));
    PetscCall(MatH2GetInfo(A[s], &info[s]));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "memory: two bases %.4g MB, MAT_SYMMETRIC before assembly %.4g MB, after %.4g MB\n", info[0].bytes / 1048576.0, info[1].bytes / 1048576.0, info[2].bytes / 1048576.0));
  PetscCheck(info[2].bytes == info[1].bytes, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: MAT_SYMMETRIC after assembly did not give the one-basis matrix (%g bytes, %g with the option before)", info[2].bytes, info[1].bytes);
  PetscCheck(info[0].bytes > 1.2 * info[1].bytes, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: the two-basis build (%g bytes) is not larger than the one-basis build (%g bytes): the check cannot tell them apart", info[0].bytes, info[1].bytes);
  PetscCall(ProductError(A[2], D, &err));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "MAT_SYMMETRIC after assembly: product error against MATDENSE %.2e\n", (double)err));
  PetscCheck(err < 1e-6, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: the rebuilt symmetric matrix multiplies with error %g against MATDENSE", (double)err);
  { /* the late matrix keeps its row bases as the one basis: the same as the one built symmetric */
    Vec       x, y1, y2;
    PetscReal d, n1;
    PetscCall(MatCreateVecs(A[1], &x, &y1));
    PetscCall(VecDuplicate(y1, &y2));
    PetscCall(VecSet(x, 1.0));
    PetscCall(MatMult(A[1], x, y1));
    PetscCall(MatMult(A[2], x, y2));
    PetscCall(VecNorm(y1, NORM_2, &n1));
    PetscCall(VecAXPY(y2, -1.0, y1));
    PetscCall(VecNorm(y2, NORM_2, &d));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "MAT_SYMMETRIC after against before assembly: products differ by %.2e relative\n", (double)(d / n1)));
    PetscCheck(d <= 1e-14 * n1, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: the late symmetric matrix differs from the one built symmetric (%g relative)", (double)(d / n1));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&y1));
    PetscCall(VecDestroy(&y2));
  }
  for (int s = 0; s < 3; s++) PetscCall(MatDestroy(&A[s]));
  PetscFunctionReturn(0);
}

typedef struct {
  PetscReal          err, logdet, bytes;
  PetscInt           its;
  KSPConvergedReason reason;
} Outcome;

/* solve A x = b (b = A x0) with KSP type kt and PCH2ULV (factor: PCCHOLESKY with MatSolverType
   h2ulv instead); rtol > 0: -pc_h2ulv_rtol given; error of x against xd (the LU solution); the
   log-determinant after the solve when logdet */
static PetscErrorCode Solve(Mat A, Vec b, Vec xd, KSPType kt, PetscBool factor, PetscReal rtol, PetscBool logdet, Outcome *o)
{
  KSP       ksp;
  PC        pc;
  Vec       x;
  PetscReal nxd;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(b, &x));
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetType(ksp, kt));
  PetscCall(KSPSetTolerances(ksp, 1e-10, PETSC_DEFAULT, PETSC_DEFAULT, 50));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, factor ? PCCHOLESKY : PCH2ULV));
  if (factor) PetscCall(PCFactorSetMatSolverType(pc, MATSOLVERH2ULV));
  if (rtol > 0) PetscCall(PCH2ULVSetTolerance(pc, rtol, PETSC_DEFAULT));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetIterationNumber(ksp, &o->its));
  PetscCall(KSPGetConvergedReason(ksp, &o->reason));
  o->bytes  = 0; /* not asked of the factor matrix */
  o->logdet = 0;
  if (!factor) PetscCall(PCH2ULVGetInfo(pc, &o->bytes, NULL));
  if (logdet) PetscCall(PCH2ULVGetLogDeterminant(pc, &o->logdet));
  PetscCall(VecNorm(xd, NORM_2, &nxd));
  PetscCall(VecAXPY(x, -1.0, xd));
  PetscCall(VecNorm(x, NORM_2, &o->err));
  o->err /= nxd;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-8s %-9s -pc_h2ulv_rtol %-8s: %s in %" PetscInt_FMT " its, error against LU %.2e, factorization %.4g MB, log det %.10g\n", kt, factor ? "h2ulv-LLt" : "PCH2ULV", rtol > 0 ? "given" : "default", KSPConvergedReasons[o->reason], o->its, (double)o->err, o->bytes / 1048576.0, (double)o->logdet));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(VecDestroy(&x));
  PetscFunctionReturn(0);
}

/* the reference: x = D^{-1} b by MATDENSE LU; on several processes (no dense LU in PETSc there)
   the exact solution x0 of b = D x0, which LU reproduces to cond(D) eps */
static PetscErrorCode DenseSolve(Mat D, Vec b, Vec x0, Vec xd)
{
  KSP         ksp;
  PC          pc;
  PetscMPIInt size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  if (size > 1) {
    PetscCall(VecCopy(x0, xd));
    PetscFunctionReturn(0);
  }
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOptionsPrefix(ksp, "dense_"));
  PetscCall(KSPSetOperators(ksp, D, D));
  PetscCall(KSPSetType(ksp, KSPPREONLY));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCLU));
  PetscCall(PCFactorSetMatSolverType(pc, MATSOLVERPETSC));
  PetscCall(KSPSolve(ksp, b, xd));
  PetscCall(KSPDestroy(&ksp));
  PetscFunctionReturn(0);
}

static PetscErrorCode CheckToleranceRule(H2ULVProblem prob, PetscInt N, Mat D, PetscReal maxerr)
{
  Mat       A;
  Vec       x0, b, xd;
  Outcome   pre, gm, gmset, preset, fact;
  PetscReal loose = 1e-4;

  PetscFunctionBeginUser;
  PetscCall(CreateH2(prob, N, 1, &A));
  PetscCall(MatCreateVecs(A, &x0, &b));
  PetscCall(VecDuplicate(b, &xd));
  PetscCall(VecSet(x0, 1.0));
  PetscCall(VecSetValue(x0, 0, 2.0, INSERT_VALUES)); /* not an eigenvector by symmetry */
  PetscCall(VecAssemblyBegin(x0));
  PetscCall(VecAssemblyEnd(x0));
  PetscCall(MatMult(D, x0, b));
  PetscCall(DenseSolve(D, b, x0, xd));
  PetscCall(Solve(A, b, xd, KSPPREONLY, PETSC_FALSE, 0, PETSC_TRUE, &pre));
  PetscCall(Solve(A, b, xd, KSPGMRES, PETSC_FALSE, 0, PETSC_TRUE, &gm));
  PetscCall(Solve(A, b, xd, KSPGMRES, PETSC_FALSE, loose, PETSC_FALSE, &gmset));
  PetscCall(Solve(A, b, xd, KSPPREONLY, PETSC_FALSE, loose, PETSC_FALSE, &preset));
  PetscCall(Solve(A, b, xd, KSPPREONLY, PETSC_TRUE, 0, PETSC_FALSE, &fact));
  PetscCheck(fact.err <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: MatSolverType h2ulv (-pc_type cholesky) with the default tolerance: error %g against LU exceeds %g", (double)fact.err, (double)maxerr);
  PetscCheck(pre.err <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: KSPPREONLY with the default tolerance: error %g against LU exceeds %g (a direct solve must use the matrix's tolerance)", (double)pre.err, (double)maxerr);
  PetscCheck(preset.err > maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: KSPPREONLY with -pc_h2ulv_rtol %g is as accurate (%g) as the tight default: the error bound %g cannot tell the tolerances apart", (double)loose, (double)preset.err, (double)maxerr);
  PetscCheck(gm.reason > 0 && gm.its <= 8 && gm.err <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: GMRES with the default (loose) tolerance: %s in %" PetscInt_FMT " iterations, error %g", KSPConvergedReasons[gm.reason], gm.its, (double)gm.err);
  PetscCheck(gmset.bytes == gm.bytes, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: GMRES's default factorization (%g bytes) is not the one of -pc_h2ulv_rtol %g (%g bytes)", gm.bytes, (double)loose, gmset.bytes);
  PetscCheck(gm.bytes < pre.bytes, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: GMRES's default factorization (%g bytes) is not cheaper than the direct solve's (%g bytes)", gm.bytes, pre.bytes);
  PetscCheck(preset.bytes == gmset.bytes, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: an explicit -pc_h2ulv_rtol did not win over the direct-solve rule (%g bytes, %g with GMRES)", preset.bytes, gmset.bytes);
  PetscCheck(PetscAbsReal(gm.logdet - pre.logdet) <= 1e-10 * PetscAbsReal(pre.logdet), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: the log-determinant after GMRES (%.12g) is not the tight one (%.12g)", (double)gm.logdet, (double)pre.logdet);
  PetscCall(VecDestroy(&x0));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&xd));
  PetscCall(MatDestroy(&A));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscInt     N      = 2048;
  PetscReal    maxerr = 1e-6;
  H2ULVProblem prob;
  Mat          D;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err", &maxerr, NULL));
  w_ = 4 * PETSC_PI / N;
  PetscCall(H2ULVProblemCreate("sphere-laplace", N, 0, &prob));
  PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
  PetscCall(CheckSymmetryLate(prob, N, D));
  PetscCall(CheckToleranceRule(prob, N, D, maxerr));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(MatDestroy(&D));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(PetscFinalize());
  return 0;
}
