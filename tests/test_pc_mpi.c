/* PCH2ULV on P processes gives the same answer as on one process.
   For every standard problem (or those named by -problem NAME[,NAME...]) at N = -n (default 8192):
   the MATH2 matrix A is built on PETSC_COMM_WORLD and A1, the same matrix with the whole point set, on
   PETSC_COMM_SELF (the one-process reference): by default only on process 0, its results
   broadcast (P references side by side cost P / cores times one on a machine with fewer cores
   than processes); -reference_everywhere builds and solves it on every process, as
   test_mpi_consistency does.  Both are solved with a KSP whose PC is h2ulv (-ksp_type preonly
   unless given; KSPSetFromOptions applies to both, so -ksp_* and -pc_h2ulv_* act on both) for
   b_i = sin(0.37 i) + 0.1, i in the problem's numbering.  Compared:
     - the solutions: relative 2-norm difference <= -agree (default 1e-10),
     - log|det| from PCH2ULVGetLogAbsDeterminant: relative difference <= -agree_logdet (1e-10),
       and the sign, exactly,
     - the KSP iteration counts, exactly;
   for nonsymmetric problems (or all with -transpose, none with -transpose 0) the same for
   KSPSolveTranspose (the PCApplyTranspose path); PCMatApply on 3 columns against PCApply per column
   (-agree_matapply, 1e-8: the two differ by rounding (BLAS-3 against BLAS-2 sums) times the
   condition number, ~1e-15 on the well-conditioned problems, ~1e-10 on cube-gaussian); with -shift s, MatShift(A, s) and the refactorization that follows, solved again on
   both (1e-10).  A KSP that does not converge is a failure.
   -layout even|few|shuffle:
     even:    the rows split evenly (PETSC_DECIDE);
     few:     process 0 owns only -few rows (default 5), the rest split evenly over the others
              (on one process the same as even);
     shuffle: split evenly, but row k is the problem's point perm[k] for a fixed pseudo-random
              permutation (the same on every process), so that each process's points are scattered
              over the whole geometry.  A1 is then the same shuffled matrix (the tree's order
              inside a leaf follows the input order, and another input order moves the solution
              by up to ~1e-9 relative, e.g. 3e-10 on sphere-laplace at N = 4096: only the same
              order on one process is comparable to 1e-10); b is permuted into that numbering.  As a check of the mapping, the solution mapped back
              to the problem's numbering is also compared with the solution of the matrix in the
              problem's own order, to the compression's accuracy: -agree_order (default 1e-6).
   Prints one line per problem, then "RESULT: PASS" or "RESULT: FAIL" (exit code 1). */
#include <h2ulv.h>
#include <stdint.h>

typedef enum {
  LAYOUT_EVEN,
  LAYOUT_FEW,
  LAYOUT_SHUFFLE
} Layout;
static const char *const LayoutNames[] = {"even", "few", "shuffle"};

/* a fixed pseudo-random permutation of 0..N-1 (Fisher-Yates on splitmix64): row k of the shuffled
   matrix is the problem's point perm[k]; the same on every process */
static PetscErrorCode CreateShuffle(PetscInt N, PetscInt **perm)
{
  uint64_t s = 0x2545F4914F6CDD1DULL;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(N, perm));
  for (PetscInt k = 0; k < N; k++) (*perm)[k] = k;
  for (PetscInt k = N - 1; k > 0; k--) {
    uint64_t z;
    PetscInt j, t;
    s += 0x9E3779B97F4A7C15ULL;
    z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    j = (PetscInt)(z % (uint64_t)(k + 1));
    t = (*perm)[k];
    (*perm)[k] = (*perm)[j];
    (*perm)[j] = t;
  }
  PetscFunctionReturn(0);
}

/* the MATH2 of the problem on comm: rows split evenly, or (few) process 0 owning nfew of them;
   perm: row k is the problem's point perm[k] (NULL: the problem's order) */
static PetscErrorCode CreateMatrix(H2ULVProblem prob, MPI_Comm comm, Layout layout, PetscInt nfew, const PetscInt perm[], Mat *A)
{
  PetscInt    N, m = PETSC_DECIDE, rs, re;
  PetscMPIInt rank, size;
  PetscReal  *c;

  PetscFunctionBeginUser;
  PetscCall(H2ULVProblemGetInfo(prob, NULL, &N, NULL, NULL));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (layout == LAYOUT_FEW && size > 1) {
    PetscInt m0 = PetscMin(nfew, N), rest = N - m0;
    m = rank == 0 ? m0 : rest / (size - 1) + ((rank - 1) < rest % (size - 1) ? 1 : 0);
  }
  if (!perm) {
    PetscCall(H2ULVProblemCreateH2(prob, comm, m, A));
    PetscFunctionReturn(0);
  }
  /* H2ULVProblemSetUpMat gives the problem's kernel (and the points of the rows in the problem's
     order); the points are then replaced by the shuffled ones.  The problems' kernels are functions
     of the two points (the diagonal recognised by row == column or r = 0), so row/column k of A is
     the problem's row/column perm[k]: A = P A_problem P^T. */
  PetscCall(MatCreate(comm, A));
  PetscCall(MatSetSizes(*A, m, m, N, N));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(H2ULVProblemSetUpMat(prob, *A));
  PetscCall(MatGetOwnershipRange(*A, &rs, &re));
  PetscCall(PetscMalloc1(3 * (re - rs) + 1, &c));
  for (PetscInt k = rs; k < re; k++) PetscCall(H2ULVProblemGetCoordinates(prob, perm[k], perm[k] + 1, c + 3 * (k - rs)));
  PetscCall(MatH2SetCoordinates(*A, 3, c));
  PetscCall(PetscFree(c));
  PetscCall(MatSetFromOptions(*A));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}

/* b_k = sin(0.37 i) + 0.1 with i the problem's index of row k (perm[k]; NULL: k) */
static PetscErrorCode FillRHS(Vec b, const PetscInt perm[])
{
  PetscInt     rs, re;
  PetscScalar *a;

  PetscFunctionBeginUser;
  PetscCall(VecGetOwnershipRange(b, &rs, &re));
  PetscCall(VecGetArrayWrite(b, &a));
  for (PetscInt k = rs; k < re; k++) {
    PetscInt i = perm ? perm[k] : k;
    a[k - rs]  = PetscSinReal(0.37 * (PetscReal)i) + 0.1;
  }
  PetscCall(VecRestoreArrayWrite(b, &a));
  PetscFunctionReturn(0);
}

/* the KSP with PC h2ulv on A (preonly unless -ksp_type), set up (factored) */
static PetscErrorCode CreateSolver(Mat A, KSP *ksp)
{
  PC pc;

  PetscFunctionBeginUser;
  PetscCall(KSPCreate(PetscObjectComm((PetscObject)A), ksp));
  PetscCall(KSPSetOperators(*ksp, A, A));
  PetscCall(KSPSetType(*ksp, KSPPREONLY));
  PetscCall(KSPGetPC(*ksp, &pc));
  PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(KSPSetFromOptions(*ksp));
  PetscCall(KSPSetUp(*ksp));
  PetscFunctionReturn(0);
}

/* solve (transpose: KSPSolveTranspose) with its and reason */
static PetscErrorCode Solve(KSP ksp, PetscBool transpose, Vec b, Vec x, PetscInt *its, KSPConvergedReason *reason)
{
  PetscFunctionBeginUser;
  if (transpose) PetscCall(KSPSolveTranspose(ksp, b, x));
  else PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetIterationNumber(ksp, its));
  PetscCall(KSPGetConvergedReason(ksp, reason));
  PetscFunctionReturn(0);
}

/* A one-process solve on the processes with ksp (process 0, or all with everywhere), given to all:
   x (sequential, length N) and its, reason */
static PetscErrorCode SolveReference(KSP ksp, PetscBool transpose, Vec b, Vec x, PetscBool everywhere, PetscInt *its, KSPConvergedReason *reason)
{
  PetscFunctionBeginUser;
  if (ksp) PetscCall(Solve(ksp, transpose, b, x, its, reason));
  if (!everywhere) {
    PetscInt     ir[2] = {*its, (PetscInt)*reason}, N;
    PetscScalar *a;
    PetscMPIInt  n;

    PetscCall(VecGetSize(x, &N));
    PetscCall(PetscMPIIntCast(N, &n));
    PetscCallMPI(MPI_Bcast(ir, 2, MPIU_INT, 0, PETSC_COMM_WORLD));
    *its    = ir[0];
    *reason = (KSPConvergedReason)ir[1];
    PetscCall(VecGetArray(x, &a));
    PetscCallMPI(MPI_Bcast(a, n, MPIU_SCALAR, 0, PETSC_COMM_WORLD));
    PetscCall(VecRestoreArray(x, &a));
  }
  PetscFunctionReturn(0);
}

/* log|det| and sign of the one-process factorization (on the processes with ksp), given to all */
static PetscErrorCode ReferenceLogDet(KSP ksp, PetscBool everywhere, PetscReal *ld, PetscInt *sign)
{
  PetscFunctionBeginUser;
  if (ksp) {
    PC pc;
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCH2ULVGetLogAbsDeterminant(pc, ld, sign));
  }
  if (!everywhere) {
    PetscCallMPI(MPI_Bcast(ld, 1, MPIU_REAL, 0, PETSC_COMM_WORLD));
    PetscCallMPI(MPI_Bcast(sign, 1, MPIU_INT, 0, PETSC_COMM_WORLD));
  }
  PetscFunctionReturn(0);
}

/* ||x - x1|| / ||x1|| with x distributed and x1 sequential (the same on every process), compared in
   the problem's numbering: x's row k is the problem's point perm[k] (NULL: k), x1's row i is point
   i; the largest over the processes */
static PetscErrorCode CompareSolutions(Vec x, const PetscInt perm[], Vec x1, PetscReal *diff)
{
  VecScatter         sc;
  Vec                xall;
  const PetscScalar *a, *a1;
  PetscReal          d2 = 0, n2 = 0, d;
  PetscInt           N;

  PetscFunctionBeginUser;
  PetscCall(VecScatterCreateToAll(x, &sc, &xall));
  PetscCall(VecScatterBegin(sc, x, xall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sc, x, xall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetSize(x1, &N));
  PetscCall(VecGetArrayRead(xall, &a));
  PetscCall(VecGetArrayRead(x1, &a1));
  for (PetscInt k = 0; k < N; k++) {
    PetscInt    i = perm ? perm[k] : k;
    PetscScalar e = a[k] - a1[i];
    d2 += PetscRealPart(e * PetscConj(e));
    n2 += PetscRealPart(a1[i] * PetscConj(a1[i]));
  }
  PetscCall(VecRestoreArrayRead(x1, &a1));
  PetscCall(VecRestoreArrayRead(xall, &a));
  d = n2 > 0 ? PetscSqrtReal(d2 / n2) : PetscSqrtReal(d2);
  if (PetscIsNanReal(d)) d = PETSC_INFINITY;
  PetscCall(MPIU_Allreduce(&d, diff, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  PetscCall(VecScatterDestroy(&sc));
  PetscCall(VecDestroy(&xall));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char        name[256] = "";
  char      **names = NULL;
  int         nnames = 0;
  PetscInt    N = 8192, nfew = 5, nfail = 0, nrun = 0, ilayout = LAYOUT_EVEN;
  PetscReal   tolagree = 1e-10, tolld = 1e-10, tolorder = 1e-6, shift = 0, tolmat = 1e-8;
  PetscBool   onlyone, transpose_set, transpose_opt = PETSC_FALSE, everywhere = PETSC_FALSE, refhere;
  PetscMPIInt size, rank;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "PCH2ULV: P processes vs one process"));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), &onlyone));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-few", &nfew, NULL));
  PetscCall(PetscOptionsGetEList(NULL, NULL, "-layout", LayoutNames, 3, &ilayout, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree", &tolagree, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree_logdet", &tolld, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree_order", &tolorder, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-transpose", &transpose_opt, &transpose_set));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-reference_everywhere", &everywhere, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-shift", &shift, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree_matapply", &tolmat, NULL));
  PetscCheck(N >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-n must be at least 1");
  PetscCheck(nfew >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-few must be at least 0");
  if (onlyone) { /* -problem a,b,...: every name must be a standard problem */
    PetscCall(PetscStrToArray(name, ',', &nnames, &names));
    for (int q = 0; q < nnames; q++) {
      PetscBool known = PETSC_FALSE, eq;
      for (PetscInt p = 0; H2ULVProblemNames[p]; p++) {
        PetscCall(PetscStrcmp(names[q], H2ULVProblemNames[p], &eq));
        if (eq) known = PETSC_TRUE;
      }
      PetscCheck(known, PETSC_COMM_WORLD, PETSC_ERR_ARG_UNKNOWN_TYPE, "Unknown problem '%s': choose from sphere-laplace, cube-yukawa, ball-matern, cube-gaussian, sc22-sphere, sphere-laplace-ns", names[q]);
    }
  }
  refhere = (PetscBool)(everywhere || rank == 0);

  for (PetscInt p = 0; H2ULVProblemNames[p]; p++) {
    const Layout       layout = (Layout)ilayout;
    H2ULVProblem       prob;
    PetscBool          sym, eq, transpose, fail = PETSC_FALSE;
    PetscInt          *perm = NULL, its[2][2] = {{0, 0}, {0, 0}}, sign[2] = {0, 0}, ntrans, its0[2] = {0, 0};
    KSPConvergedReason reason[2][2] = {{KSP_CONVERGED_ITERATING, KSP_CONVERGED_ITERATING}, {KSP_CONVERGED_ITERATING, KSP_CONVERGED_ITERATING}};
    KSPConvergedReason reason0[2] = {KSP_CONVERGED_ITERATING, KSP_CONVERGED_ITERATING};
    PetscReal          xdiff[2] = {0, 0}, ld[2] = {0, 0}, lddiff = 0, odiff[2] = {0, 0}, matdiff = 0, sdiff = 0;
    PetscLogDouble     t0, t1;
    Mat                A, A1 = NULL, A0 = NULL;
    Vec                x, b, x1, b1 = NULL, x0 = NULL, b0 = NULL;
    KSP                ksp, ksp1 = NULL, ksp0 = NULL;

    if (onlyone) {
      PetscBool listed = PETSC_FALSE;
      for (int q = 0; q < nnames; q++) {
        PetscCall(PetscStrcmp(names[q], H2ULVProblemNames[p], &eq));
        if (eq) listed = PETSC_TRUE;
      }
      if (!listed) continue;
    }
    nrun++;
    PetscCall(PetscTime(&t0));
    PetscCall(H2ULVProblemCreate(H2ULVProblemNames[p], N, 0, &prob));
    PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
    transpose = transpose_set ? transpose_opt : (PetscBool)!sym;
    ntrans    = transpose ? 2 : 1;
    if (layout == LAYOUT_SHUFFLE) PetscCall(CreateShuffle(N, &perm));

    /* P processes */
    PetscCall(CreateMatrix(prob, PETSC_COMM_WORLD, layout, nfew, perm, &A));
    PetscCall(MatCreateVecs(A, &x, &b));
    PetscCall(FillRHS(b, perm));
    PetscCall(CreateSolver(A, &ksp));
    /* one process, the same matrix (in the same numbering) */
    if (refhere) {
      PetscCall(CreateMatrix(prob, PETSC_COMM_SELF, layout, nfew, perm, &A1));
      PetscCall(MatCreateVecs(A1, &x1, &b1));
      PetscCall(FillRHS(b1, perm));
      PetscCall(CreateSolver(A1, &ksp1));
    } else PetscCall(VecCreateSeq(PETSC_COMM_SELF, N, &x1));

    /* with shuffle, the mapping: the matrix in the problem's own order, on one process */
    if (perm) {
      if (refhere) {
        PetscCall(CreateMatrix(prob, PETSC_COMM_SELF, LAYOUT_EVEN, nfew, NULL, &A0));
        PetscCall(MatCreateVecs(A0, &x0, &b0));
        PetscCall(FillRHS(b0, NULL));
        PetscCall(CreateSolver(A0, &ksp0));
      } else PetscCall(VecCreateSeq(PETSC_COMM_SELF, N, &x0));
    }

    for (PetscInt t = 0; t < ntrans; t++) {
      PetscCall(Solve(ksp, (PetscBool)(t == 1), b, x, &its[t][0], &reason[t][0]));
      PetscCall(SolveReference(ksp1, (PetscBool)(t == 1), b1, x1, everywhere, &its[t][1], &reason[t][1]));
      PetscCall(CompareSolutions(x, NULL, x1, &xdiff[t]));
      if (reason[t][0] < 0 || reason[t][1] < 0 || its[t][0] != its[t][1] || !(xdiff[t] <= tolagree)) fail = PETSC_TRUE;
      if (perm) {
        PetscCall(SolveReference(ksp0, (PetscBool)(t == 1), b0, x0, everywhere, &its0[t], &reason0[t]));
        PetscCall(CompareSolutions(x, perm, x0, &odiff[t]));
        if (reason0[t] < 0 || !(odiff[t] <= tolorder)) fail = PETSC_TRUE;
      }
    }
    if (reason[0][0] != KSP_DIVERGED_PC_FAILED && reason[0][1] != KSP_DIVERGED_PC_FAILED) { /* a failed factorization has no determinant */
      PC pc;
      PetscCall(KSPGetPC(ksp, &pc));
      PetscCall(PCH2ULVGetLogAbsDeterminant(pc, &ld[0], &sign[0]));
      PetscCall(ReferenceLogDet(ksp1, everywhere, &ld[1], &sign[1]));
      lddiff = PetscAbsReal(ld[0] - ld[1]) / PetscMax(PetscAbsReal(ld[1]), PETSC_SMALL);
      if (PetscIsNanReal(lddiff)) lddiff = PETSC_INFINITY;
      if (sign[0] != sign[1] || !(lddiff <= tolld)) fail = PETSC_TRUE;
    }
    if (shift != 0 && !fail) { /* MatShift, then a refactorization (same tree and bases) on both */
      PetscInt           sits[2];
      KSPConvergedReason sreason[2];
      PetscCall(MatShift(A, shift));
      if (refhere) PetscCall(MatShift(A1, shift));
      PetscCall(Solve(ksp, PETSC_FALSE, b, x, &sits[0], &sreason[0]));
      PetscCall(SolveReference(ksp1, PETSC_FALSE, b1, x1, everywhere, &sits[1], &sreason[1]));
      PetscCall(CompareSolutions(x, NULL, x1, &sdiff));
      if (sreason[0] < 0 || sreason[1] < 0 || sits[0] != sits[1] || !(sdiff <= tolagree)) fail = PETSC_TRUE;
    }
    if (reason[0][0] >= 0) { /* PCMatApply (3 columns at once, distributed) against PCApply column by column */
      PC       pc;
      Mat      X, Y;
      Vec      xc, yc, z;
      PetscInt m, M;
      PetscReal e, nz;

      PetscCall(KSPGetPC(ksp, &pc));
      PetscCall(MatGetLocalSize(A, &m, NULL));
      PetscCall(MatGetSize(A, &M, NULL));
      PetscCall(MatCreateDense(PETSC_COMM_WORLD, m, PETSC_DECIDE, M, 3, NULL, &X));
      PetscCall(MatDuplicate(X, MAT_DO_NOT_COPY_VALUES, &Y));
      for (PetscInt c = 0; c < 3; c++) {
        PetscCall(MatDenseGetColumnVecWrite(X, c, &xc));
        PetscCall(VecCopy(b, xc));
        PetscCall(VecScale(xc, (PetscScalar)(c + 1)));
        PetscCall(VecShift(xc, (PetscScalar)(0.25 * c)));
        PetscCall(MatDenseRestoreColumnVecWrite(X, c, &xc));
      }
      PetscCall(PCMatApply(pc, X, Y));
      PetscCall(VecDuplicate(b, &z));
      for (PetscInt c = 0; c < 3; c++) {
        PetscCall(MatDenseGetColumnVecRead(X, c, &xc));
        PetscCall(PCApply(pc, xc, z));
        PetscCall(MatDenseRestoreColumnVecRead(X, c, &xc));
        PetscCall(MatDenseGetColumnVecRead(Y, c, &yc));
        PetscCall(VecNorm(z, NORM_2, &nz));
        PetscCall(VecAXPY(z, -1.0, yc));
        PetscCall(MatDenseRestoreColumnVecRead(Y, c, &yc));
        PetscCall(VecNorm(z, NORM_2, &e));
        e /= PetscMax(nz, PETSC_SMALL);
        matdiff = PetscMax(matdiff, e);
      }
      if (!(matdiff <= tolmat)) fail = PETSC_TRUE;
      PetscCall(VecDestroy(&z));
      PetscCall(MatDestroy(&X));
      PetscCall(MatDestroy(&Y));
    }
    {
      PetscReal   lmax;
      PetscMPIInt f = fail ? 1 : 0, fmax;
      PetscCall(MPIU_Allreduce(&lddiff, &lmax, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
      PetscCall(MPIU_Allreduce(&f, &fmax, 1, MPI_INT, MPI_MAX, PETSC_COMM_WORLD));
      lddiff = lmax;
      fail   = fmax ? PETSC_TRUE : PETSC_FALSE;
    }
    PetscCall(PetscTime(&t1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-18s N=%" PetscInt_FMT " P=%d layout=%s: its %" PetscInt_FMT "/%" PetscInt_FMT ", x diff %.2e", H2ULVProblemNames[p], N, (int)size, LayoutNames[layout], its[0][0], its[0][1], (double)xdiff[0]));
    if (transpose) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; transposed: its %" PetscInt_FMT "/%" PetscInt_FMT ", x diff %.2e", its[1][0], its[1][1], (double)xdiff[1]));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; log|det| %.10e/%.10e diff %.2e, sign %" PetscInt_FMT "/%" PetscInt_FMT, (double)ld[0], (double)ld[1], (double)lddiff, sign[0], sign[1]));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; PCMatApply vs PCApply %.2e", (double)matdiff));
    if (shift != 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; after MatShift(%g) and refactorization: x diff %.2e", (double)shift, (double)sdiff));
    if (perm && transpose) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; vs problem order %.2e, transposed %.2e", (double)odiff[0], (double)odiff[1]));
    else if (perm) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; vs problem order %.2e", (double)odiff[0]));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, " (%.1f s)%s\n", t1 - t0, fail ? "  FAILED" : ""));
    for (PetscInt t = 0; t < ntrans; t++)
      for (PetscInt r = 0; r < 2; r++)
        if (reason[t][r] < 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  FAILED: the %s%s solve did not converge: %s\n", r == 0 ? "P-process" : "one-process", t == 1 ? " transposed" : "", KSPConvergedReasons[reason[t][r]]));
    for (PetscInt t = 0; t < ntrans; t++)
      if (reason0[t] < 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  FAILED: the one-process%s solve in the problem's order did not converge: %s\n", t == 1 ? " transposed" : "", KSPConvergedReasons[reason0[t]]));
    if (fail) nfail++;

    PetscCall(KSPDestroy(&ksp));
    PetscCall(KSPDestroy(&ksp1));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&b));
    PetscCall(VecDestroy(&x1));
    PetscCall(VecDestroy(&b1));
    PetscCall(MatDestroy(&A));
    PetscCall(MatDestroy(&A1));
    PetscCall(KSPDestroy(&ksp0));
    PetscCall(VecDestroy(&x0));
    PetscCall(VecDestroy(&b0));
    PetscCall(MatDestroy(&A0));
    PetscCall(PetscFree(perm));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  PetscCheck(nrun > 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "No problem to run");
  if (names) PetscCall(PetscStrToArrayDestroy(nnames, names));
  if (nfail) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "RESULT: FAIL: %" PetscInt_FMT " of %" PetscInt_FMT " problem(s) differ from the one-process result (tolerance %g, log|det| %g) or did not converge\n", nfail, nrun, (double)tolagree, (double)tolld));
  else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "RESULT: PASS\n"));
  PetscCall(PetscFinalize());
  return nfail ? 1 : 0;
}
