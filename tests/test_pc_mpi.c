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

/* the options (see the comment at the top) */
typedef struct {
  PetscInt  N, nfew, ilayout;
  PetscReal tolagree, tolld, tolorder, shift, tolmat;
  PetscBool onlyone, transpose_set, transpose_opt, everywhere;
  char    **names; /* -problem a,b,...: the problems to run (onlyone) */
  int       nnames;
} PcOptions;

/* one problem: the P-process system, the one-process reference (A1), with shuffle the reference in
   the problem's order (A0), and what is compared ([t]: 0 solve, 1 transposed; [.][r]: 0 P processes, 1 one) */
typedef struct {
  H2ULVProblem       prob;
  PetscBool          sym, transpose, fail;
  PetscInt          *perm, its[2][2], sign[2], ntrans, its0[2];
  KSPConvergedReason reason[2][2], reason0[2];
  PetscReal          xdiff[2], ld[2], lddiff, odiff[2], matdiff, sdiff;
  Mat                A, A1, A0;
  Vec                x, b, x1, b1, x0, b0;
  KSP                ksp, ksp1, ksp0;
} PcRun;

/* the command-line options; every name in -problem must be a standard problem */
static PetscErrorCode ReadOptions(PcOptions *o)
{
  char name[256] = "";

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), &o->onlyone));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &o->N, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-few", &o->nfew, NULL));
  PetscCall(PetscOptionsGetEList(NULL, NULL, "-layout", LayoutNames, 3, &o->ilayout, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree", &o->tolagree, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree_logdet", &o->tolld, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree_order", &o->tolorder, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-transpose", &o->transpose_opt, &o->transpose_set));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-reference_everywhere", &o->everywhere, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-shift", &o->shift, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree_matapply", &o->tolmat, NULL));
  PetscCheck(o->N >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-n must be at least 1");
  PetscCheck(o->nfew >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-few must be at least 0");
  if (o->onlyone) { /* -problem a,b,...: every name must be a standard problem */
    PetscCall(PetscStrToArray(name, ',', &o->nnames, &o->names));
    for (int q = 0; q < o->nnames; q++) {
      PetscBool known = PETSC_FALSE, eq;
      for (PetscInt p = 0; H2ULVProblemNames[p]; p++) {
        PetscCall(PetscStrcmp(o->names[q], H2ULVProblemNames[p], &eq));
        if (eq) known = PETSC_TRUE;
      }
      PetscCheck(known, PETSC_COMM_WORLD, PETSC_ERR_ARG_UNKNOWN_TYPE, "Unknown problem '%s': choose from sphere-laplace, cube-yukawa, ball-matern, cube-gaussian, sc22-sphere, sphere-laplace-ns", o->names[q]);
    }
  }
  PetscFunctionReturn(0);
}

/* whether the standard problem pname is to be run (all are without -problem) */
static PetscErrorCode IsListed(const PcOptions *o, const char *pname, PetscBool *listed)
{
  PetscBool eq;

  PetscFunctionBeginUser;
  *listed = (PetscBool)!o->onlyone;
  for (int q = 0; q < o->nnames; q++) {
    PetscCall(PetscStrcmp(o->names[q], pname, &eq));
    if (eq) *listed = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

/* the problem and its three systems: P processes, one process (the same matrix in the same
   numbering; on the processes that hold a reference), with shuffle the problem's own order */
static PetscErrorCode CreateSystems(const PcOptions *o, const char *pname, PetscBool refhere, PcRun *r)
{
  const Layout layout = (Layout)o->ilayout;

  PetscFunctionBeginUser;
  PetscCall(H2ULVProblemCreate(pname, o->N, 0, &r->prob));
  PetscCall(H2ULVProblemGetInfo(r->prob, NULL, NULL, NULL, &r->sym));
  r->transpose = o->transpose_set ? o->transpose_opt : (PetscBool)!r->sym;
  r->ntrans    = r->transpose ? 2 : 1;
  if (layout == LAYOUT_SHUFFLE) PetscCall(CreateShuffle(o->N, &r->perm));

  /* P processes */
  PetscCall(CreateMatrix(r->prob, PETSC_COMM_WORLD, layout, o->nfew, r->perm, &r->A));
  PetscCall(MatCreateVecs(r->A, &r->x, &r->b));
  PetscCall(FillRHS(r->b, r->perm));
  PetscCall(CreateSolver(r->A, &r->ksp));
  /* one process, the same matrix (in the same numbering) */
  if (refhere) {
    PetscCall(CreateMatrix(r->prob, PETSC_COMM_SELF, layout, o->nfew, r->perm, &r->A1));
    PetscCall(MatCreateVecs(r->A1, &r->x1, &r->b1));
    PetscCall(FillRHS(r->b1, r->perm));
    PetscCall(CreateSolver(r->A1, &r->ksp1));
  } else PetscCall(VecCreateSeq(PETSC_COMM_SELF, o->N, &r->x1));

  /* with shuffle, the mapping: the matrix in the problem's own order, on one process */
  if (r->perm) {
    if (refhere) {
      PetscCall(CreateMatrix(r->prob, PETSC_COMM_SELF, LAYOUT_EVEN, o->nfew, NULL, &r->A0));
      PetscCall(MatCreateVecs(r->A0, &r->x0, &r->b0));
      PetscCall(FillRHS(r->b0, NULL));
      PetscCall(CreateSolver(r->A0, &r->ksp0));
    } else PetscCall(VecCreateSeq(PETSC_COMM_SELF, o->N, &r->x0));
  }
  PetscFunctionReturn(0);
}

/* the solutions (and transposed) against the one-process ones, and with shuffle against the problem's order */
static PetscErrorCode CompareSolves(const PcOptions *o, PcRun *r)
{
  PetscFunctionBeginUser;
  for (PetscInt t = 0; t < r->ntrans; t++) {
    PetscCall(Solve(r->ksp, (PetscBool)(t == 1), r->b, r->x, &r->its[t][0], &r->reason[t][0]));
    PetscCall(SolveReference(r->ksp1, (PetscBool)(t == 1), r->b1, r->x1, o->everywhere, &r->its[t][1], &r->reason[t][1]));
    PetscCall(CompareSolutions(r->x, NULL, r->x1, &r->xdiff[t]));
    if (r->reason[t][0] < 0 || r->reason[t][1] < 0 || r->its[t][0] != r->its[t][1] || !(r->xdiff[t] <= o->tolagree)) r->fail = PETSC_TRUE;
    if (r->perm) {
      PetscCall(SolveReference(r->ksp0, (PetscBool)(t == 1), r->b0, r->x0, o->everywhere, &r->its0[t], &r->reason0[t]));
      PetscCall(CompareSolutions(r->x, r->perm, r->x0, &r->odiff[t]));
      if (r->reason0[t] < 0 || !(r->odiff[t] <= o->tolorder)) r->fail = PETSC_TRUE;
    }
  }
  PetscFunctionReturn(0);
}

/* log|det| and its sign against the one-process factorization's (a failed factorization has no determinant) */
static PetscErrorCode CompareLogDet(const PcOptions *o, PcRun *r)
{
  PC pc;

  PetscFunctionBeginUser;
  if (r->reason[0][0] == KSP_DIVERGED_PC_FAILED || r->reason[0][1] == KSP_DIVERGED_PC_FAILED) PetscFunctionReturn(0);
  PetscCall(KSPGetPC(r->ksp, &pc));
  PetscCall(PCH2ULVGetLogAbsDeterminant(pc, &r->ld[0], &r->sign[0]));
  PetscCall(ReferenceLogDet(r->ksp1, o->everywhere, &r->ld[1], &r->sign[1]));
  r->lddiff = PetscAbsReal(r->ld[0] - r->ld[1]) / PetscMax(PetscAbsReal(r->ld[1]), PETSC_SMALL);
  if (PetscIsNanReal(r->lddiff)) r->lddiff = PETSC_INFINITY;
  if (r->sign[0] != r->sign[1] || !(r->lddiff <= o->tolld)) r->fail = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* MatShift, then a refactorization (same tree and bases) on both, solved again and compared */
static PetscErrorCode CompareShifted(const PcOptions *o, PetscBool refhere, PcRun *r)
{
  PetscInt           sits[2];
  KSPConvergedReason sreason[2];

  PetscFunctionBeginUser;
  PetscCall(MatShift(r->A, o->shift));
  if (refhere) PetscCall(MatShift(r->A1, o->shift));
  PetscCall(Solve(r->ksp, PETSC_FALSE, r->b, r->x, &sits[0], &sreason[0]));
  PetscCall(SolveReference(r->ksp1, PETSC_FALSE, r->b1, r->x1, o->everywhere, &sits[1], &sreason[1]));
  PetscCall(CompareSolutions(r->x, NULL, r->x1, &r->sdiff));
  if (sreason[0] < 0 || sreason[1] < 0 || sits[0] != sits[1] || !(r->sdiff <= o->tolagree)) r->fail = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* PCMatApply (3 columns at once, distributed) against PCApply column by column */
static PetscErrorCode CompareMatApply(const PcOptions *o, PcRun *r)
{
  PC        pc;
  Mat       X, Y;
  Vec       xc, yc, z;
  PetscInt  m, M;
  PetscReal e, nz;

  PetscFunctionBeginUser;
  PetscCall(KSPGetPC(r->ksp, &pc));
  PetscCall(MatGetLocalSize(r->A, &m, NULL));
  PetscCall(MatGetSize(r->A, &M, NULL));
  PetscCall(MatCreateDense(PETSC_COMM_WORLD, m, PETSC_DECIDE, M, 3, NULL, &X));
  PetscCall(MatDuplicate(X, MAT_DO_NOT_COPY_VALUES, &Y));
  for (PetscInt c = 0; c < 3; c++) {
    PetscCall(MatDenseGetColumnVecWrite(X, c, &xc));
    PetscCall(VecCopy(r->b, xc));
    PetscCall(VecScale(xc, (PetscScalar)(c + 1)));
    PetscCall(VecShift(xc, (PetscScalar)(0.25 * c)));
    PetscCall(MatDenseRestoreColumnVecWrite(X, c, &xc));
  }
  PetscCall(PCMatApply(pc, X, Y));
  PetscCall(VecDuplicate(r->b, &z));
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
    r->matdiff = PetscMax(r->matdiff, e);
  }
  if (!(r->matdiff <= o->tolmat)) r->fail = PETSC_TRUE;
  PetscCall(VecDestroy(&z));
  PetscCall(MatDestroy(&X));
  PetscCall(MatDestroy(&Y));
  PetscFunctionReturn(0);
}

/* the log|det| difference and the verdict, the largest over the processes */
static PetscErrorCode AgreeOverProcesses(PcRun *r)
{
  PetscReal   lmax;
  PetscMPIInt f = r->fail ? 1 : 0, fmax;

  PetscFunctionBeginUser;
  PetscCall(MPIU_Allreduce(&r->lddiff, &lmax, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  PetscCall(MPIU_Allreduce(&f, &fmax, 1, MPI_INT, MPI_MAX, PETSC_COMM_WORLD));
  r->lddiff = lmax;
  r->fail   = fmax ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* the line of one problem, and the solves that did not converge */
static PetscErrorCode PrintRun(const PcOptions *o, const char *pname, PetscLogDouble secs, const PcRun *r)
{
  const Layout layout = (Layout)o->ilayout;
  PetscMPIInt  size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-18s N=%" PetscInt_FMT " P=%d layout=%s: its %" PetscInt_FMT "/%" PetscInt_FMT ", x diff %.2e", pname, o->N, (int)size, LayoutNames[layout], r->its[0][0], r->its[0][1], (double)r->xdiff[0]));
  if (r->transpose) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; transposed: its %" PetscInt_FMT "/%" PetscInt_FMT ", x diff %.2e", r->its[1][0], r->its[1][1], (double)r->xdiff[1]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; log|det| %.10e/%.10e diff %.2e, sign %" PetscInt_FMT "/%" PetscInt_FMT, (double)r->ld[0], (double)r->ld[1], (double)r->lddiff, r->sign[0], r->sign[1]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; PCMatApply vs PCApply %.2e", (double)r->matdiff));
  if (o->shift != 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; after MatShift(%g) and refactorization: x diff %.2e", (double)o->shift, (double)r->sdiff));
  if (r->perm && r->transpose) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; vs problem order %.2e, transposed %.2e", (double)r->odiff[0], (double)r->odiff[1]));
  else if (r->perm) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "; vs problem order %.2e", (double)r->odiff[0]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, " (%.1f s)%s\n", secs, r->fail ? "  FAILED" : ""));
  for (PetscInt t = 0; t < r->ntrans; t++)
    for (PetscInt q = 0; q < 2; q++)
      if (r->reason[t][q] < 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  FAILED: the %s%s solve did not converge: %s\n", q == 0 ? "P-process" : "one-process", t == 1 ? " transposed" : "", KSPConvergedReasons[r->reason[t][q]]));
  for (PetscInt t = 0; t < r->ntrans; t++)
    if (r->reason0[t] < 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  FAILED: the one-process%s solve in the problem's order did not converge: %s\n", t == 1 ? " transposed" : "", KSPConvergedReasons[r->reason0[t]]));
  PetscFunctionReturn(0);
}

/* everything CreateSystems made */
static PetscErrorCode DestroyRun(PcRun *r)
{
  PetscFunctionBeginUser;
  PetscCall(KSPDestroy(&r->ksp));
  PetscCall(KSPDestroy(&r->ksp1));
  PetscCall(VecDestroy(&r->x));
  PetscCall(VecDestroy(&r->b));
  PetscCall(VecDestroy(&r->x1));
  PetscCall(VecDestroy(&r->b1));
  PetscCall(MatDestroy(&r->A));
  PetscCall(MatDestroy(&r->A1));
  PetscCall(KSPDestroy(&r->ksp0));
  PetscCall(VecDestroy(&r->x0));
  PetscCall(VecDestroy(&r->b0));
  PetscCall(MatDestroy(&r->A0));
  PetscCall(PetscFree(r->perm));
  PetscCall(H2ULVProblemDestroy(&r->prob));
  PetscFunctionReturn(0);
}

/* one problem on P processes against one process; *fail: it differs or did not converge */
static PetscErrorCode RunProblem(const PcOptions *o, const char *pname, PetscBool refhere, PetscBool *fail)
{
  PcRun          r;
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&r, sizeof(r)));
  r.reason[0][0] = r.reason[0][1] = r.reason[1][0] = r.reason[1][1] = KSP_CONVERGED_ITERATING;
  r.reason0[0] = r.reason0[1] = KSP_CONVERGED_ITERATING;
  PetscCall(PetscTime(&t0));
  PetscCall(CreateSystems(o, pname, refhere, &r));
  PetscCall(CompareSolves(o, &r));
  PetscCall(CompareLogDet(o, &r));
  if (o->shift != 0 && !r.fail) PetscCall(CompareShifted(o, refhere, &r));
  if (r.reason[0][0] >= 0) PetscCall(CompareMatApply(o, &r));
  PetscCall(AgreeOverProcesses(&r));
  PetscCall(PetscTime(&t1));
  PetscCall(PrintRun(o, pname, t1 - t0, &r));
  *fail = r.fail;
  PetscCall(DestroyRun(&r));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PcOptions   o = {.N = 8192, .nfew = 5, .ilayout = LAYOUT_EVEN, .tolagree = 1e-10, .tolld = 1e-10, .tolorder = 1e-6, .shift = 0, .tolmat = 1e-8}; /* the rest zero */
  PetscInt    nfail = 0, nrun = 0;
  PetscBool   refhere;
  PetscMPIInt rank;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "PCH2ULV: P processes vs one process"));
  { /* the solve's correction for the dropped couplings (and with it the far-field-only bases of
       diagonally dominant cells) exists on one process only: the reference on PETSC_COMM_SELF
       would take it, the distributed solve cannot, so both go without it unless told otherwise */
    PetscBool set;
    PetscCall(PetscOptionsHasName(NULL, NULL, "-pc_h2ulv_cross_correction", &set));
    if (!set) PetscCall(PetscOptionsSetValue(NULL, "-pc_h2ulv_cross_correction", "0"));
  }
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(ReadOptions(&o));
  refhere = (PetscBool)(o.everywhere || rank == 0);
  for (PetscInt p = 0; H2ULVProblemNames[p]; p++) {
    PetscBool listed, fail;
    PetscCall(IsListed(&o, H2ULVProblemNames[p], &listed));
    if (!listed) continue;
    nrun++;
    PetscCall(RunProblem(&o, H2ULVProblemNames[p], refhere, &fail));
    if (fail) nfail++;
  }
  PetscCheck(nrun > 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "No problem to run");
  if (o.names) PetscCall(PetscStrToArrayDestroy(o.nnames, o.names));
  if (nfail) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "RESULT: FAIL: %" PetscInt_FMT " of %" PetscInt_FMT " problem(s) differ from the one-process result (tolerance %g, log|det| %g) or did not converge\n", nfail, nrun, (double)o.tolagree, (double)o.tolld));
  else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "RESULT: PASS\n"));
  PetscCall(PetscFinalize());
  return nfail ? 1 : 0;
}
