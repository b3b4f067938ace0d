/* MATH2 operations other than MatMult, each checked against an independent reference: the exact
   MATDENSE matrix of the same problem (H2ULVProblemCreateDense) operated on by PETSc's dense code
   (LAPACK/BLAS), or an analytic value (zero operator, s*x, ...).
     MatMultAdd, MatMultTransposeAdd (also in place y == z), MatGetDiagonal, MatShift (bases kept),
     MatDiagonalSet (INSERT/ADD), MatScale (also before the first use of a deferred build), MatDuplicate (COPY / DO_NOT_COPY values), MatAXPY (shared
     structure: works; separately built: must fail), MatCopy, MatZeroEntries, MatNorm (F, 1, inf, 2),
     MatConvert (H2 -> dense, dense -> H2), MatMatMult, MatTransposeMatMult, MatH2SetEntries,
     MatCreateVecs, MatView (ascii_info).
   Problems: ball-matern (symmetric) and sphere-laplace-ns (nonsymmetric).
   Options: -n <2000> -mat_h2_rtol <1e-8, the MATH2 default> -factor <10> -problem <name> (only that problem)
            -emptyrank (process 1 owns no rows; the others share them)
*/
#include <h2ulv.h>
#include <string.h>

static PetscRandom rnd;
static PetscReal   worst_seen = 0; /* largest err/tol ratio, for the log */

/* error handler that keeps the message of the error's origin (PetscErrorMessage() in 3.18 only
   gives the generic text) and returns the code instead of aborting */
static char           errmsg[4096];
static PetscErrorCode CatchError(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  if (p == PETSC_ERROR_INITIAL && mess) {
    strncpy(errmsg, mess, sizeof(errmsg) - 1);
    errmsg[sizeof(errmsg) - 1] = 0;
  }
  return n;
}

static PetscErrorCode Expect(PetscReal err, PetscReal tol, const char *prob, const char *what)
{
  PetscFunctionBegin;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  %-18s %-52s error %.3e (tol %.1e)\n", prob, what, (double)err, (double)tol));
  PetscCheck(err <= tol, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED %s %s: error %.3e exceeds %.3e", prob, what, (double)err, (double)tol);
  if (tol > 0) worst_seen = PetscMax(worst_seen, err / tol);
  PetscFunctionReturn(0);
}

static PetscErrorCode RandomVec(Vec x)
{
  PetscFunctionBegin;
  PetscCall(VecSetRandom(x, rnd));
  PetscCall(VecShift(x, -0.5));
  PetscFunctionReturn(0);
}

/* ||op(A) x - op(B) x|| / ||op(B) x|| for a random x (if B == NULL: ||op(A) x|| / ||x||) */
static PetscErrorCode MultErr(Mat A, Mat B, PetscBool trans, PetscReal *err)
{
  Vec       x, ya, yb;
  PetscReal nb, e;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &x, &ya));
  PetscCall(VecDuplicate(ya, &yb));
  PetscCall(RandomVec(x));
  PetscCall(trans ? MatMultTranspose(A, x, ya) : MatMult(A, x, ya));
  if (B) PetscCall(trans ? MatMultTranspose(B, x, yb) : MatMult(B, x, yb));
  else PetscCall(VecCopy(x, yb)); /* normalize by ||x|| */
  PetscCall(VecNorm(yb, NORM_2, &nb));
  if (B) PetscCall(VecAXPY(ya, -1.0, yb));
  PetscCall(VecNorm(ya, NORM_2, &e));
  *err = e / nb;
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&ya));
  PetscCall(VecDestroy(&yb));
  PetscFunctionReturn(0);
}

/* MatMult and MatMultTranspose of A against B */
static PetscErrorCode ExpectSameOp(Mat A, Mat B, PetscReal tol, const char *prob, const char *what)
{
  char      buf[128];
  PetscReal e;

  PetscFunctionBegin;
  for (int t = 0; t < 2; t++) {
    PetscCall(MultErr(A, B, (PetscBool)t, &e));
    PetscCall(PetscSNPrintf(buf, sizeof(buf), "%s (%s)", what, t ? "MatMultTranspose" : "MatMult"));
    PetscCall(Expect(e, tol, prob, buf));
  }
  PetscFunctionReturn(0);
}

/* the operator is zero: ||A x|| <= tol ||x|| and ||A^T x|| <= tol ||x|| for a random x */
static PetscErrorCode ExpectZeroOp(Mat A, PetscReal tol, const char *prob, const char *what)
{
  PetscReal e0, e1;

  PetscFunctionBegin;
  PetscCall(MultErr(A, NULL, PETSC_FALSE, &e0));
  PetscCall(MultErr(A, NULL, PETSC_TRUE, &e1));
  PetscCall(Expect(PetscMax(e0, e1), tol, prob, what));
  PetscFunctionReturn(0);
}

/* Block callback for MatH2SetEntries: every entry from the problem's exact formula */
static PetscErrorCode ProblemEntries(PetscInt m, const PetscInt rows[], PetscInt n, const PetscInt cols[], PetscScalar out[], PetscInt ldo, void *ctx)
{
  H2ULVProblem prob = (H2ULVProblem)ctx;

  PetscFunctionBegin;
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt i = 0; i < m; i++) PetscCall(H2ULVProblemEntry(prob, rows[i], cols[j], &out[i + j * ldo]));
  PetscFunctionReturn(0);
}

/* 2-norm of the dense reference by power iteration on D^T D, run to convergence (independent of
   MATH2's own estimator: other start vector, other operator, far more iterations) */
static PetscErrorCode DenseNorm2(Mat D, PetscReal *nrm)
{
  Vec       x, y;
  PetscReal lam = 0, prev = 0, nx;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(D, &x, &y));
  PetscCall(VecSetRandom(x, rnd));
  for (PetscInt it = 0; it < 3000; it++) {
    PetscCall(VecNormalize(x, &nx));
    PetscCall(MatMult(D, x, y));
    PetscCall(MatMultTranspose(D, y, x));
    PetscCall(VecNorm(x, NORM_2, &lam));
    if (it > 10 && PetscAbsReal(lam - prev) <= 1e-14 * lam) break;
    prev = lam;
  }
  *nrm = PetscSqrtReal(lam);
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscFunctionReturn(0);
}

/* what the checks of one problem share: the MATH2 A, its dense reference D, work vectors */
typedef struct {
  const char  *name;
  PetscInt     N, mloc, rstart, rend, nloc;
  PetscReal    tol; /* factor x rtol: the accuracy of A against D */
  H2ULVProblem prob;
  PetscBool    sym;
  Mat          A, D;
  Vec          x, y, z, yr, d1, d2; /* in A's layout */
} Ops;

/* A and D, the vectors (MatCreateVecs checked), and the check that A has compressed blocks */
static PetscErrorCode OpsSetUp(const char *name, PetscInt N, PetscInt mloc, PetscReal rtol, PetscReal factor, Ops *o)
{
  PetscFunctionBegin;
  o->name = name;
  o->N    = N;
  o->mloc = mloc;
  o->tol  = factor * rtol;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT " rtol=%g\n", name, N, (double)rtol));
  PetscCall(H2ULVProblemCreate(name, N, 0, &o->prob));
  PetscCall(H2ULVProblemGetInfo(o->prob, NULL, NULL, NULL, &o->sym));
  PetscCall(H2ULVProblemCreateH2(o->prob, PETSC_COMM_WORLD, mloc, &o->A));
  PetscCall(H2ULVProblemCreateDense(o->prob, PETSC_COMM_WORLD, mloc, &o->D));
  PetscCall(MatGetOwnershipRange(o->A, &o->rstart, &o->rend));
  o->nloc = o->rend - o->rstart;

  /* MatCreateVecs: layouts of A */
  PetscCall(MatCreateVecs(o->A, &o->x, &o->y));
  {
    PetscInt nx, ny, Nx;
    PetscCall(VecGetLocalSize(o->x, &nx));
    PetscCall(VecGetLocalSize(o->y, &ny));
    PetscCall(VecGetSize(o->x, &Nx));
    PetscCheck(nx == o->nloc && ny == o->nloc && Nx == N, PETSC_COMM_SELF, PETSC_ERR_PLIB, "MatCreateVecs: wrong sizes %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT, nx, ny, Nx);
  }
  PetscCall(VecDuplicate(o->y, &o->z));
  PetscCall(VecDuplicate(o->y, &o->yr));
  PetscCall(VecDuplicate(o->y, &o->d1));
  PetscCall(VecDuplicate(o->y, &o->d2));
  /* the configuration must give compressed (far) blocks, or the checks below would be vacuous */
  {
    PetscInt nl, maxr[64], top = 0;
    PetscCall(MatH2GetRanks(o->A, &nl, NULL, NULL, NULL));
    PetscCheck(nl >= 1 && nl <= 64, PETSC_COMM_SELF, PETSC_ERR_PLIB, "unexpected number of levels %" PetscInt_FMT, nl);
    PetscCall(MatH2GetRanks(o->A, &nl, NULL, maxr, NULL));
    for (PetscInt l = 0; l < nl; l++) top = PetscMax(top, maxr[l]);
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &top, 1, MPIU_INT, MPI_MAX, PETSC_COMM_WORLD));
    PetscCheck(top > 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "no compressed blocks (all ranks 0) for N = %" PetscInt_FMT ": use a larger -n or a smaller -mat_h2_leaf_size", N);
  }
  PetscCall(ExpectSameOp(o->A, o->D, o->tol, name, "H2 vs dense"));
  PetscFunctionReturn(0);
}

/* MatMultAdd / MatMultTransposeAdd, out of place (y = op(A) x + z) and in place (y == z) */
static PetscErrorCode CheckMultAdd(Ops *o)
{
  Mat       A = o->A, D = o->D;
  Vec       x = o->x, y = o->y, z = o->z, yr = o->yr, d1 = o->d1;
  PetscReal e, nr;

  PetscFunctionBegin;
  for (int t = 0; t < 2; t++) {
    for (int inplace = 0; inplace < 2; inplace++) {
      char buf[96];
      PetscCall(RandomVec(x));
      PetscCall(RandomVec(z));
      PetscCall(VecScale(z, 100.0)); /* z dominates: a dropped z would be a huge error */
      if (t == 0) PetscCall(MatMultAdd(D, x, z, yr));
      else PetscCall(MatMultTransposeAdd(D, x, z, yr));
      if (inplace) {
        PetscCall(VecCopy(z, y));
        PetscCall(t == 0 ? MatMultAdd(A, x, y, y) : MatMultTransposeAdd(A, x, y, y));
      } else {
        PetscCall(VecSet(y, 12345.0)); /* garbage in y must be overwritten */
        PetscCall(t == 0 ? MatMultAdd(A, x, z, y) : MatMultTransposeAdd(A, x, z, y));
      }
      /* error relative to the product part ||op(D) x|| (stricter than relative to ||y||) */
      PetscCall(VecWAXPY(d1, -1.0, z, yr));
      PetscCall(VecNorm(d1, NORM_2, &nr));
      PetscCall(VecAXPY(y, -1.0, yr));
      PetscCall(VecNorm(y, NORM_2, &e));
      PetscCall(PetscSNPrintf(buf, sizeof(buf), "%s%s", t ? "MatMultTransposeAdd" : "MatMultAdd", inplace ? " in place (y == z)" : ""));
      PetscCall(Expect(e / nr, o->tol, o->name, buf));
    }
  }
  PetscFunctionReturn(0);
}

/* the diagonals of B and Dm agree to rounding (near blocks hold exact entries); d1, d2 are overwritten */
static PetscErrorCode ExpectSameDiagonal(Ops *o, Mat B, Mat Dm, const char *what)
{
  PetscReal e, nr;

  PetscFunctionBegin;
  PetscCall(MatGetDiagonal(B, o->d1));
  PetscCall(MatGetDiagonal(Dm, o->d2));
  PetscCall(VecNorm(o->d2, NORM_INFINITY, &nr));
  PetscCall(VecAXPY(o->d1, -1.0, o->d2));
  PetscCall(VecNorm(o->d1, NORM_INFINITY, &e));
  PetscCall(Expect(e / nr, 1e-14, o->name, what));
  PetscFunctionReturn(0);
}

/* MatShift: values only; the bases (ranks, memory, shared structure) are kept */
static PetscErrorCode CheckShift(Ops *o)
{
  PetscInt          nl0, nl1, minr0[64], maxr0[64], minr1[64], maxr1[64];
  PetscReal         mean0[64], mean1[64];
  PetscLogDouble    mem0, mem1;
  const PetscScalar s = 3.25;
  Mat               A0, B, Dm;

  PetscFunctionBegin;
  PetscCall(MatDuplicate(o->A, MAT_COPY_VALUES, &B));
  PetscCall(MatDuplicate(o->A, MAT_COPY_VALUES, &A0)); /* unshifted copy sharing the structure */
  PetscCall(MatDuplicate(o->D, MAT_COPY_VALUES, &Dm));
  PetscCall(MatH2GetRanks(B, &nl0, NULL, NULL, NULL));
  PetscCheck(nl0 >= 1 && nl0 <= 64, PETSC_COMM_SELF, PETSC_ERR_PLIB, "unexpected number of levels %" PetscInt_FMT, nl0);
  PetscCall(MatH2GetRanks(B, &nl0, minr0, maxr0, mean0));
  PetscCall(MatH2GetMemory(B, &mem0));
  PetscCall(MatShift(B, s));
  PetscCall(MatShift(Dm, s));
  PetscCall(MatH2GetRanks(B, &nl1, minr1, maxr1, mean1));
  PetscCall(MatH2GetMemory(B, &mem1));
  PetscCheck(nl0 == nl1 && mem0 == mem1, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "MatShift changed the H2 structure (levels %" PetscInt_FMT " -> %" PetscInt_FMT ", memory %g -> %g)", nl0, nl1, mem0, mem1);
  for (PetscInt l = 0; l < nl0; l++) PetscCheck(minr0[l] == minr1[l] && maxr0[l] == maxr1[l] && mean0[l] == mean1[l], PETSC_COMM_WORLD, PETSC_ERR_PLIB, "MatShift changed the ranks of level %" PetscInt_FMT, l);
  PetscCall(ExpectSameOp(B, Dm, o->tol, o->name, "MatShift vs dense shifted"));
  /* B - A0 = s I exactly (shared bases): only possible if MatShift kept the structure */
  PetscCall(MatAXPY(B, -1.0, A0, SAME_NONZERO_PATTERN));
  PetscCall(MatShift(B, -s));
  PetscCall(ExpectZeroOp(B, 1e-14, o->name, "MatShift(s); MatAXPY(-1, unshifted dup); MatShift(-s) = 0"));
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&A0));
  PetscCall(MatDestroy(&Dm));
  PetscFunctionReturn(0);
}

/* MatAssemblyBegin/End on a built matrix must keep its values, as for every PETSc type
   (a shift, scale or MatZeroEntries survives, and the structure stays shared with duplicates) */
static PetscErrorCode CheckReassembly(Ops *o)
{
  Mat B, Dm;

  PetscFunctionBegin;
  PetscCall(MatDuplicate(o->A, MAT_COPY_VALUES, &B));
  PetscCall(MatDuplicate(o->D, MAT_COPY_VALUES, &Dm));
  PetscCall(MatShift(B, 3.25));
  PetscCall(MatShift(Dm, 3.25));
  PetscCall(MatAssemblyBegin(B, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(B, MAT_FINAL_ASSEMBLY));
  PetscCall(ExpectSameOp(B, Dm, o->tol, o->name, "MatShift then MatAssemblyEnd"));
  PetscCall(MatZeroEntries(B));
  PetscCall(MatAssemblyBegin(B, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(B, MAT_FINAL_ASSEMBLY));
  PetscCall(ExpectZeroOp(B, 0.0, o->name, "MatZeroEntries then MatAssemblyEnd"));
  PetscCall(MatAXPY(B, 1.0, o->A, SAME_NONZERO_PATTERN));
  PetscCall(ExpectSameOp(B, o->D, o->tol, o->name, "MatAXPY with the original after re-assembly"));
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&Dm));
  PetscFunctionReturn(0);
}

/* A new matrix scaled, shifted and zeroed before its first use (its bases and values not built yet,
   -mat_h2_defer): the build must apply them, whatever happened in between */
static PetscErrorCode CheckBeforeFirstUse(Ops *o)
{
  Mat       B, Dm;
  PetscBool deferred = PETSC_TRUE;

  PetscFunctionBegin;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-mat_h2_defer", &deferred, NULL));
  PetscCall(H2ULVProblemCreateH2(o->prob, PETSC_COMM_WORLD, o->mloc, &B));
  PetscCall(MatDuplicate(o->D, MAT_COPY_VALUES, &Dm));
  PetscCall(MatScale(B, -2.0));
  PetscCall(MatShift(B, 3.25));
  PetscCall(MatScale(B, 0.5));
  PetscCall(MatScale(Dm, -1.0));
  PetscCall(MatShift(Dm, 1.625));
  PetscCall(ExpectSameOp(B, Dm, o->tol, o->name, deferred ? "MatScale, MatShift, MatScale before the first use" : "MatScale, MatShift, MatScale"));
  PetscCall(MatDestroy(&B));
  PetscCall(H2ULVProblemCreateH2(o->prob, PETSC_COMM_WORLD, o->mloc, &B));
  PetscCall(MatShift(B, 1.0));
  PetscCall(MatZeroEntries(B));
  PetscCall(MatShift(B, 2.0));
  PetscCall(MatZeroEntries(Dm));
  PetscCall(MatShift(Dm, 2.0));
  PetscCall(ExpectSameOp(B, Dm, 1e-14, o->name, "MatShift, MatZeroEntries, MatShift before the first use"));
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&Dm));
  PetscFunctionReturn(0);
}

/* MatDiagonalSet INSERT_VALUES then ADD_VALUES */
static PetscErrorCode CheckDiagonalSet(Ops *o)
{
  Mat B, Dm;

  PetscFunctionBegin;
  for (int mode = 0; mode < 2; mode++) {
    InsertMode im = mode ? ADD_VALUES : INSERT_VALUES;
    PetscCall(MatDuplicate(o->A, MAT_COPY_VALUES, &B));
    PetscCall(MatDuplicate(o->D, MAT_COPY_VALUES, &Dm));
    PetscCall(RandomVec(o->d2));
    PetscCall(VecScale(o->d2, 10.0));
    PetscCall(MatDiagonalSet(B, o->d2, im));
    PetscCall(MatDiagonalSet(Dm, o->d2, im));
    PetscCall(ExpectSameOp(B, Dm, o->tol, o->name, mode ? "MatDiagonalSet ADD_VALUES" : "MatDiagonalSet INSERT_VALUES"));
    PetscCall(ExpectSameDiagonal(o, B, Dm, mode ? "MatGetDiagonal after DiagonalSet ADD" : "MatGetDiagonal after DiagonalSet INSERT"));
    PetscCall(MatDestroy(&B));
    PetscCall(MatDestroy(&Dm));
  }
  PetscFunctionReturn(0);
}

/* MatScale */
static PetscErrorCode CheckScale(Ops *o)
{
  Mat B, Dm;

  PetscFunctionBegin;
  PetscCall(MatDuplicate(o->A, MAT_COPY_VALUES, &B));
  PetscCall(MatDuplicate(o->D, MAT_COPY_VALUES, &Dm));
  PetscCall(MatScale(B, -2.5));
  PetscCall(MatScale(Dm, -2.5));
  PetscCall(ExpectSameOp(B, Dm, o->tol, o->name, "MatScale(-2.5)"));
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&Dm));
  PetscFunctionReturn(0);
}

/* MatDuplicate and MatAXPY between matrices sharing the structure */
static PetscErrorCode CheckDuplicateAXPY(Ops *o)
{
  const char *name = o->name;
  PetscReal   tol  = o->tol;
  Mat         A = o->A, D = o->D, B, Z, Dm;

  PetscFunctionBegin;
  PetscCall(MatDuplicate(A, MAT_COPY_VALUES, &B));
  PetscCall(ExpectSameOp(B, A, 1e-15, name, "MatDuplicate(COPY) vs original"));
  PetscCall(ExpectSameOp(B, D, tol, name, "MatDuplicate(COPY) vs dense"));
  PetscCall(MatDuplicate(A, MAT_DO_NOT_COPY_VALUES, &Z));
  PetscCall(ExpectZeroOp(Z, 0.0, name, "MatDuplicate(DO_NOT_COPY) = 0"));
  PetscCall(MatAXPY(Z, 0.75, A, SAME_NONZERO_PATTERN)); /* Z = 0.75 A */
  PetscCall(MatDuplicate(D, MAT_COPY_VALUES, &Dm));
  PetscCall(MatScale(Dm, 0.75));
  PetscCall(ExpectSameOp(Z, Dm, tol, name, "MatAXPY(0.75, A) into DO_NOT_COPY dup"));
  PetscCall(MatAXPY(B, -1.5, Z, SAME_NONZERO_PATTERN)); /* B = A - 1.5*0.75 A = -0.125 A */
  PetscCall(MatCopy(D, Dm, SAME_NONZERO_PATTERN));
  PetscCall(MatScale(Dm, -0.125));
  PetscCall(ExpectSameOp(B, Dm, tol, name, "MatAXPY(-1.5, Z) into COPY dup"));
  /* the original is untouched by operations on its duplicates (values are not shared) */
  PetscCall(ExpectSameOp(A, D, tol, name, "original after ops on duplicates"));
  PetscCall(MatDestroy(&Z));
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&Dm));
  PetscFunctionReturn(0);
}

/* MatAXPY between separately built MATH2 matrices must fail; MatCopy then makes it work;
   MatCopy into a duplicate and MatZeroEntries */
static PetscErrorCode CheckSeparatelyBuilt(Ops *o)
{
  const char    *name = o->name;
  PetscReal      tol  = o->tol, e;
  Mat            A = o->A, D = o->D, B, C, Dm;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(H2ULVProblemCreateH2(o->prob, PETSC_COMM_WORLD, o->mloc, &C));
  errmsg[0] = 0;
  PetscCall(PetscPushErrorHandler(CatchError, NULL));
  ierr = MatAXPY(C, 1.0, A, SAME_NONZERO_PATTERN);
  PetscCall(PetscPopErrorHandler());
  PetscCheck(ierr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: MatAXPY between separately built MATH2 matrices did not fail");
  PetscCheck(strstr(errmsg, "same H2 structure"), PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED: unexpected MatAXPY error message: %s", errmsg);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  %-18s MatAXPY(separately built) fails as expected\n", name));
  PetscCall(ExpectSameOp(C, D, tol, name, "target of the failed MatAXPY unchanged"));

  /* MatCopy into a separately built matrix whose values were changed (scaled, shifted) */
  PetscCall(MatScale(C, 7.0));
  PetscCall(MatShift(C, 1.0));
  PetscCall(MatCopy(A, C, DIFFERENT_NONZERO_PATTERN));
  PetscCall(ExpectSameOp(C, A, 1e-15, name, "MatCopy(A, separately built C) vs A"));
  PetscCall(ExpectSameOp(C, D, tol, name, "MatCopy(A, separately built C) vs dense"));
  /* after the copy, C shares A's structure: MatAXPY works.  C = C + 2 A = 3 A */
  PetscCall(MatAXPY(C, 2.0, A, SAME_NONZERO_PATTERN));
  PetscCall(MatDuplicate(D, MAT_COPY_VALUES, &Dm));
  PetscCall(MatScale(Dm, 3.0));
  PetscCall(ExpectSameOp(C, Dm, tol, name, "MatAXPY(2, A) after MatCopy"));
  PetscCall(MatDestroy(&Dm));

  /* MatCopy into a duplicate (same structure), after changing its values */
  PetscCall(MatDuplicate(A, MAT_DO_NOT_COPY_VALUES, &B));
  PetscCall(MatCopy(A, B, SAME_NONZERO_PATTERN));
  PetscCall(ExpectSameOp(B, D, tol, name, "MatCopy(A, DO_NOT_COPY dup) vs dense"));

  /* ---- MatZeroEntries */
  PetscCall(MatZeroEntries(B));
  PetscCall(ExpectZeroOp(B, 0.0, name, "MatZeroEntries = 0"));
  PetscCall(MatNorm(B, NORM_FROBENIUS, &e));
  PetscCall(Expect(e, 0.0, name, "||MatZeroEntries||_F"));
  PetscCall(ExpectSameOp(A, D, tol, name, "original after MatZeroEntries of a dup"));
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&C));
  PetscFunctionReturn(0);
}

/* MatNorm.  Frobenius: exact for the H2 matrix, so within the compression error of the
   dense one.  1 and infinity: Hager-Higham estimates, lower bounds (documented: usually exact).
   2: power iteration; the reference is a separate power iteration on the dense matrix. */
static PetscErrorCode CheckNorms(Ops *o)
{
  PetscReal      nh, nd;
  const NormType types[]  = {NORM_FROBENIUS, NORM_1, NORM_INFINITY};
  const char    *tnames[] = {"MatNorm(FROBENIUS)", "MatNorm(1)", "MatNorm(INFINITY)"};
  char           buf[96];

  PetscFunctionBegin;
  for (int t = 0; t < 3; t++) {
    PetscCall(MatNorm(o->A, types[t], &nh));
    PetscCall(MatNorm(o->D, types[t], &nd));
    if (t == 0) PetscCall(Expect(PetscAbsReal(nh - nd) / nd, o->tol, o->name, tnames[t]));
    else {
      /* a lower bound (up to the compression error) that is at most 1% low */
      PetscCall(PetscSNPrintf(buf, sizeof(buf), "%s estimate %.6e vs exact %.6e", tnames[t], (double)nh, (double)nd));
      PetscCheck(nh <= nd * (1 + o->tol), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED %s: %s is not a lower bound", o->name, buf);
      PetscCall(Expect((nd - nh) / nd, 1e-2, o->name, buf));
    }
  }
  PetscCall(MatNorm(o->A, NORM_2, &nh));
  PetscCall(DenseNorm2(o->D, &nd));
  PetscCall(PetscSNPrintf(buf, sizeof(buf), "MatNorm(2) %.8e vs dense power it. %.8e", (double)nh, (double)nd));
  PetscCall(Expect(PetscAbsReal(nh - nd) / nd, 1e-3, o->name, buf));
  PetscFunctionReturn(0);
}

/* MatConvert(H2 -> dense), entrywise against the reference (Frobenius norm of the error), and
   MatConvert(dense -> H2): the dense matrix carries the points of its rows */
static PetscErrorCode CheckConvert(Ops *o)
{
  Mat       D2, Dc, H;
  PetscReal nd, e, *c;
  PetscBool ish2;

  PetscFunctionBegin;
  PetscCall(MatConvert(o->A, MATDENSE, MAT_INITIAL_MATRIX, &D2));
  PetscCall(MatNorm(o->D, NORM_FROBENIUS, &nd));
  PetscCall(MatAXPY(D2, -1.0, o->D, SAME_NONZERO_PATTERN));
  PetscCall(MatNorm(D2, NORM_FROBENIUS, &e));
  PetscCall(Expect(e / nd, o->tol, o->name, "MatConvert(H2, MATDENSE) ||D2 - D||_F/||D||_F"));
  PetscCall(MatDestroy(&D2));

  PetscCall(MatDuplicate(o->D, MAT_COPY_VALUES, &Dc));
  PetscCall(PetscMalloc1(3 * o->nloc + 1, &c));
  PetscCall(H2ULVProblemGetCoordinates(o->prob, o->rstart, o->rend, c));
  PetscCall(MatH2SetCoordinates(Dc, 3, c));
  PetscCall(PetscFree(c));
  PetscCall(MatConvert(Dc, MATH2, MAT_INITIAL_MATRIX, &H));
  PetscCall(PetscObjectTypeCompare((PetscObject)H, MATH2, &ish2));
  PetscCheck(ish2, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "MatConvert(dense, MATH2) did not give a MATH2 matrix");
  PetscCall(ExpectSameOp(H, o->D, o->tol, o->name, "MatConvert(dense, MATH2)"));
  PetscCall(MatDestroy(&H));
  PetscCall(MatDestroy(&Dc));
  PetscFunctionReturn(0);
}

/* MatMatMult and MatTransposeMatMult with a dense block of 5 vectors */
static PetscErrorCode CheckMatMatMult(Ops *o)
{
  Mat       X, Y1, Y2;
  PetscReal nd, e;

  PetscFunctionBegin;
  PetscCall(MatCreateDense(PETSC_COMM_WORLD, o->nloc, PETSC_DECIDE, o->N, 5, NULL, &X));
  PetscCall(MatSetRandom(X, rnd));
  for (int t = 0; t < 2; t++) {
    if (t == 0) {
      PetscCall(MatMatMult(o->A, X, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Y1));
      PetscCall(MatMatMult(o->D, X, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Y2));
    } else {
      PetscCall(MatTransposeMatMult(o->A, X, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Y1));
      PetscCall(MatTransposeMatMult(o->D, X, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Y2));
    }
    PetscCall(MatNorm(Y2, NORM_FROBENIUS, &nd));
    PetscCall(MatAXPY(Y1, -1.0, Y2, SAME_NONZERO_PATTERN));
    PetscCall(MatNorm(Y1, NORM_FROBENIUS, &e));
    PetscCall(Expect(e / nd, o->tol, o->name, t ? "MatTransposeMatMult(A, X), 5 columns" : "MatMatMult(A, X), 5 columns"));
    PetscCall(MatDestroy(&Y1));
    PetscCall(MatDestroy(&Y2));
  }
  PetscCall(MatDestroy(&X));
  PetscFunctionReturn(0);
}

/* MatH2SetEntries: the same problem through a block callback of exact entries; MatView
   ascii_info (and the default format) just has to run */
static PetscErrorCode CheckSetEntriesAndView(Ops *o)
{
  Mat        E;
  PetscReal *c;

  PetscFunctionBegin;
  PetscCall(MatCreate(PETSC_COMM_WORLD, &E));
  PetscCall(MatSetSizes(E, o->nloc, o->nloc, o->N, o->N));
  PetscCall(MatSetType(E, MATH2));
  PetscCall(MatSetUp(E));
  PetscCall(PetscMalloc1(3 * o->nloc + 1, &c));
  PetscCall(H2ULVProblemGetCoordinates(o->prob, o->rstart, o->rend, c));
  PetscCall(MatH2SetCoordinates(E, 3, c));
  PetscCall(PetscFree(c));
  PetscCall(MatH2SetEntries(E, ProblemEntries, o->prob));
  if (o->sym) PetscCall(MatSetOption(E, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatSetFromOptions(E));
  PetscCall(MatAssemblyBegin(E, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(E, MAT_FINAL_ASSEMBLY));
  PetscCall(ExpectSameOp(E, o->D, o->tol, o->name, "MatH2SetEntries (H2ULVProblemEntry callback)"));

  PetscCall(PetscViewerPushFormat(PETSC_VIEWER_STDOUT_WORLD, PETSC_VIEWER_ASCII_INFO));
  PetscCall(MatView(E, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(PetscViewerPopFormat(PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(MatView(o->A, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(MatDestroy(&E));
  PetscFunctionReturn(0);
}

/* the vectors and matrices; a duplicate outlives its original (tree, bases, entry evaluator are
   shared, reference counted) */
static PetscErrorCode OpsDestroy(Ops *o)
{
  Mat B;

  PetscFunctionBegin;
  PetscCall(VecDestroy(&o->x));
  PetscCall(VecDestroy(&o->y));
  PetscCall(VecDestroy(&o->z));
  PetscCall(VecDestroy(&o->yr));
  PetscCall(VecDestroy(&o->d1));
  PetscCall(VecDestroy(&o->d2));
  PetscCall(MatDuplicate(o->A, MAT_COPY_VALUES, &B));
  PetscCall(MatDestroy(&o->A));
  PetscCall(ExpectSameOp(B, o->D, o->tol, o->name, "duplicate after MatDestroy of the original"));
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&o->D));
  PetscCall(H2ULVProblemDestroy(&o->prob));
  PetscFunctionReturn(0);
}

/* every check on one problem, in order */
static PetscErrorCode RunProblem(const char *name, PetscInt N, PetscInt mloc, PetscReal rtol, PetscReal factor)
{
  Ops o;

  PetscFunctionBegin;
  PetscCall(OpsSetUp(name, N, mloc, rtol, factor, &o));
  PetscCall(CheckMultAdd(&o));
  PetscCall(ExpectSameDiagonal(&o, o.A, o.D, "MatGetDiagonal")); /* MatGetDiagonal: near blocks hold exact entries */
  PetscCall(CheckShift(&o));
  PetscCall(CheckReassembly(&o));
  PetscCall(CheckBeforeFirstUse(&o));
  PetscCall(CheckDiagonalSet(&o));
  PetscCall(CheckScale(&o));
  PetscCall(CheckDuplicateAXPY(&o));
  PetscCall(CheckSeparatelyBuilt(&o));
  PetscCall(CheckNorms(&o));
  PetscCall(CheckConvert(&o));
  PetscCall(CheckMatMatMult(&o));
  PetscCall(CheckSetEntriesAndView(&o));
  PetscCall(OpsDestroy(&o));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const char *problems[] = {"ball-matern", "sphere-laplace-ns"};
  char        only[64]   = "";
  PetscInt    N          = 2000, mloc = PETSC_DECIDE;
  PetscReal   rtol = 1e-8, factor = 10;
  PetscBool   emptyrank = PETSC_FALSE;
  PetscMPIInt rank, size;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2 operations against dense references"));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-mat_h2_rtol", &rtol, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-factor", &factor, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", only, sizeof(only), NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-emptyrank", &emptyrank, NULL));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  if (emptyrank) {
    PetscCheck(size >= 2, PETSC_COMM_WORLD, PETSC_ERR_WRONG_MPI_SIZE, "-emptyrank needs at least 2 processes");
    mloc = rank == 1 ? 0 : N / (size - 1) + ((rank == 0 ? 0 : rank - 1) < N % (size - 1) ? 1 : 0);
  }
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetFromOptions(rnd));
  for (int p = 0; p < 2; p++) {
    PetscBool match = PETSC_TRUE;
    if (only[0]) PetscCall(PetscStrcmp(only, problems[p], &match));
    if (match) PetscCall(RunProblem(problems[p], N, mloc, rtol, factor));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "worst error / tolerance %.3f\nPASS\n", (double)worst_seen));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(PetscFinalize());
  return 0;
}
