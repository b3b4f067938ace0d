/*
   log det A - log det P for PCH2ULV (P the H^2-ULV factorization, A the operator) by stochastic
   Lanczos quadrature on the symmetric S = F^{-1} A F^{-T}, where P = F F^T (the halves of the
   solve: PCApplySymmetricLeft/Right of PCH2ULV).
*/
#include <petsc/private/pcimpl.h>
#include "h2ulvimpl.h"

#include <vector>

extern "C" void dsteqr_(const char *, const int *, double *, double *, double *, const int *, double *, int *); /* LAPACK, as the core's (core/dense.hpp) */

static const char    CacheName[]    = "PCH2ULVLogDetSLQ";

/* the last estimate, composed with the PC until its next setup */
typedef struct {
  Mat              A;
  PetscObjectState state;
  PetscInt         nprobes, maxits, products;
  PetscReal        corr, se, ldP, time;
} LogDetSLQ;

static PetscErrorCode GetLast(PC pc, LogDetSLQ **last)
{
  PetscContainer c;

  PetscFunctionBegin;
  *last = NULL;
  PetscCall(PetscObjectQuery((PetscObject)pc, CacheName, (PetscObject *)&c));
  if (c) PetscCall(PetscContainerGetPointer(c, (void **)last));
  PetscFunctionReturn(0);
}

/* Rademacher probe j into z (my n rows): the entries [rstart, rstart + n) of one global sequence
   (seeded from j), so every process count draws the same vector */
static PetscErrorCode Probe(PetscRandom rnd, PetscInt j, PetscInt rstart, PetscInt n, PetscScalar *z)
{
  PetscReal v;

  PetscFunctionBegin;
  PetscCall(PetscRandomSetSeed(rnd, (unsigned long)(0x51a9 + 7919 * j)));
  PetscCall(PetscRandomSeed(rnd));
  for (PetscInt i = 0; i < rstart; i++) PetscCall(PetscRandomGetValueReal(rnd, &v));
  for (PetscInt i = 0; i < n; i++) {
    PetscCall(PetscRandomGetValueReal(rnd, &v));
    z[i] = v < 0.5 ? -1.0 : 1.0;
  }
  PetscFunctionReturn(0);
}

/* Gauss quadrature of e1^T log(T) e1 for the k x k tridiagonal T (diagonal a, off-diagonal b):
   sum_j (e1^T y_j)^2 log theta_j over its eigenpairs; mass: the same with |log theta_j| */
static PetscErrorCode QuadratureLog(PC pc, PetscInt k, const PetscReal *a, const PetscReal *b, PetscReal *val, PetscReal *mass)
{
  const int              n = (int)k;
  int                    info;
  std::vector<PetscReal> d(a, a + k), e(b, b + k), Z((size_t)k * k), work(2 * k);

  PetscFunctionBegin;
  dsteqr_("I", &n, d.data(), e.data(), Z.data(), &n, work.data(), &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK steqr (the Lanczos tridiagonal's eigenvalues) failed: info %d", (int)info);
  *val = *mass = 0;
  for (PetscInt j = 0; j < k; j++) {
    PetscCheck(d[j] > 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_NOT_CONVERGED, "PCH2ULVGetLogDeterminantCorrection: F^-1 A F^-T has a Ritz value %g <= 0: the operator A is not positive definite", (double)d[j]);
    *val += Z[(size_t)j * k] * Z[(size_t)j * k] * PetscLogReal(d[j]);
    *mass += Z[(size_t)j * k] * Z[(size_t)j * k] * PetscAbsReal(PetscLogReal(d[j]));
  }
  PetscFunctionReturn(0);
}

/* the b columns' dot products u_c^T v_c (n rows each, ld n), summed over the processes */
static PetscErrorCode ColumnDots(MPI_Comm comm, PetscInt n, PetscInt b, const PetscScalar *u, const PetscScalar *v, PetscReal *d)
{
  PetscFunctionBegin;
  for (PetscInt c = 0; c < b; c++) {
    d[c] = 0;
    for (PetscInt i = 0; i < n; i++) d[c] += PetscRealPart(u[i + c * n] * v[i + c * n]);
  }
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, d, (PetscMPIInt)b, MPIU_REAL, MPI_SUM, comm));
  PetscFunctionReturn(0);
}

/* T = A U on b columns: one MatMatMult where A has it (MATH2, dense, AIJ), else column by column */
static PetscErrorCode ApplyA(Mat A, Mat U, Mat *T)
{
  PetscBool block;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompareAny((PetscObject)A, &block, MATH2, MATSEQDENSE, MATMPIDENSE, MATSEQAIJ, MATMPIAIJ, ""));
  if (block) PetscCall(MatMatMult(A, U, *T ? MAT_REUSE_MATRIX : MAT_INITIAL_MATRIX, PETSC_DEFAULT, T));
  else {
    PetscInt nc;
    if (!*T) PetscCall(MatDuplicate(U, MAT_DO_NOT_COPY_VALUES, T));
    PetscCall(MatGetSize(U, NULL, &nc));
    for (PetscInt c = 0; c < nc; c++) {
      Vec u, t;
      PetscCall(MatDenseGetColumnVecRead(U, c, &u));
      PetscCall(MatDenseGetColumnVecWrite(*T, c, &t));
      PetscCall(MatMult(A, u, t));
      PetscCall(MatDenseRestoreColumnVecWrite(*T, c, &t));
      PetscCall(MatDenseRestoreColumnVecRead(U, c, &u));
    }
  }
  PetscFunctionReturn(0);
}

/* z_c^T log(S) z_c for the b probes z_c (columns of V on entry), S = F^{-1} A F^{-T}: b Lanczos
   recurrences at once (one block product with A and two block half solves per step), each with a
   second Gram-Schmidt pass against its last two vectors; a column stops when its quadrature changes
   by at most 1e-10 of its mass, or at maxits steps */
static PetscErrorCode LanczosLogBlock(PC pc, Mat A, PetscInt b, PetscInt maxits, Mat V, Mat Vp, Mat W, Mat U, Mat *T, PetscReal *val, PetscInt *steps)
{
  MPI_Comm               comm = PetscObjectComm((PetscObject)pc);
  const PetscReal        rtol = 1e-10;
  PetscInt               n, active = b;
  PetscScalar           *v, *vp, *w, *u, *t;
  std::vector<PetscReal> nz(b), al((size_t)b * maxits), be((size_t)b * maxits), prev(b, 0), d(2 * b);
  std::vector<char>      on(b, 1);

  PetscFunctionBegin;
  PetscCall(MatGetLocalSize(V, &n, NULL));
  PetscCall(MatDenseGetArray(V, &v));
  PetscCall(MatDenseGetArray(Vp, &vp));
  PetscCall(MatDenseGetArray(W, &w));
  PetscCall(ColumnDots(comm, n, b, v, v, nz.data()));
  for (PetscInt c = 0; c < b; c++) {
    nz[c] = PetscSqrtReal(nz[c]);
    for (PetscInt i = 0; i < n; i++) {
      v[i + c * n] /= nz[c];
      vp[i + c * n] = 0;
    }
  }
  for (PetscInt k = 0; k < maxits && active; k++) {
    PetscCall(MatDenseGetArrayWrite(U, &u));
    PetscCall(PCH2ULVApplySymmetricHalf_Private(pc, PETSC_TRUE, b, v, u)); /* W = F^{-1} A F^{-T} V */
    PetscCall(MatDenseRestoreArrayWrite(U, &u));
    PetscCall(ApplyA(A, U, T));
    PetscCall(MatDenseGetArrayRead(*T, (const PetscScalar **)&t));
    PetscCall(PCH2ULVApplySymmetricHalf_Private(pc, PETSC_FALSE, b, t, w));
    PetscCall(MatDenseRestoreArrayRead(*T, (const PetscScalar **)&t));
    PetscCall(ColumnDots(comm, n, b, v, w, d.data()));
    for (PetscInt c = 0; c < b; c++) {
      const PetscReal bp = k ? be[c * maxits + k - 1] : 0;
      al[c * maxits + k] = d[c];
      for (PetscInt i = 0; i < n; i++) w[i + c * n] -= d[c] * v[i + c * n] + bp * vp[i + c * n];
    }
    PetscCall(ColumnDots(comm, n, b, v, w, d.data())); /* the second pass */
    PetscCall(ColumnDots(comm, n, b, vp, w, d.data() + b));
    for (PetscInt c = 0; c < b; c++) {
      for (PetscInt i = 0; i < n; i++) w[i + c * n] -= d[c] * v[i + c * n] + d[b + c] * vp[i + c * n];
      al[c * maxits + k] += d[c];
    }
    PetscCall(ColumnDots(comm, n, b, w, w, d.data()));
    for (PetscInt c = 0; c < b; c++) {
      PetscReal q = 0, mass = 0, bk = PetscSqrtReal(d[c]);
      if (!on[c]) continue;
      be[c * maxits + k] = bk;
      PetscCall(QuadratureLog(pc, k + 1, &al[c * maxits], &be[c * maxits], &q, &mass));
      val[c]   = nz[c] * nz[c] * q;
      steps[c] = k + 1;
      if (bk <= 1e-14 * PetscAbsReal(al[c * maxits + k]) || (k > 0 && PetscAbsReal(q - prev[c]) <= rtol * mass)) { /* invariant subspace, or converged */
        on[c] = 0;
        active--;
        bk    = 0;
      }
      prev[c] = q;
      for (PetscInt i = 0; i < n; i++) { /* stopped columns: zero from here on */
        vp[i + c * n] = on[c] ? v[i + c * n] : 0;
        v[i + c * n]  = on[c] ? w[i + c * n] / bk : 0;
      }
    }
  }
  PetscCall(MatDenseRestoreArray(V, &v));
  PetscCall(MatDenseRestoreArray(Vp, &vp));
  PetscCall(MatDenseRestoreArray(W, &w));
  PetscFunctionReturn(0);
}

/* the probes' values z_j^T log(S) z_j, j < nprobes, in blocks of up to 32; products: the Lanczos steps */
static PetscErrorCode RunProbes(PC pc, Mat A, PetscInt nprobes, PetscInt maxits, std::vector<PetscReal> &vals, PetscInt *products)
{
  PetscInt    n, N, rstart, bmax, bcur = 0;
  Mat         V = NULL, Vp = NULL, W = NULL, U = NULL, T = NULL;
  PetscRandom rnd;

  PetscFunctionBegin;
  PetscCall(MatGetLocalSize(pc->pmat, &n, NULL));
  PetscCall(MatGetSize(pc->pmat, &N, NULL));
  PetscCall(MatGetOwnershipRange(pc->pmat, &rstart, NULL));
  bmax = PetscMax(1, PetscMin(32, (PetscInt)(4e6 / (double)N))); /* probes per block: at most about 32 MB a block */
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  *products = 0;
  for (PetscInt j0 = 0; j0 < nprobes; j0 += bmax) {
    const PetscInt        b = PetscMin(bmax, nprobes - j0);
    std::vector<PetscInt> steps(b);
    PetscScalar          *v;
    if (b != bcur) { /* the first block, or a smaller last one */
      for (Mat *m : {&V, &Vp, &W, &U, &T}) PetscCall(MatDestroy(m));
      PetscCall(MatCreateDense(PetscObjectComm((PetscObject)pc), n, PETSC_DECIDE, N, b, NULL, &V));
      for (Mat *m : {&Vp, &W, &U}) PetscCall(MatDuplicate(V, MAT_DO_NOT_COPY_VALUES, m));
      bcur = b;
    }
    PetscCall(MatDenseGetArrayWrite(V, &v));
    for (PetscInt c = 0; c < b; c++) PetscCall(Probe(rnd, j0 + c, rstart, n, v + c * n));
    PetscCall(MatDenseRestoreArrayWrite(V, &v));
    PetscCall(LanczosLogBlock(pc, A, b, maxits, V, Vp, W, U, &T, &vals[j0], steps.data()));
    for (PetscInt c = 0; c < b; c++) {
      PetscCall(PetscInfo(pc, "PCH2ULV log det correction: probe %" PetscInt_FMT ": z^T log(F^-1 A F^-T) z = %g after %" PetscInt_FMT " Lanczos steps\n", j0 + c, (double)vals[j0 + c], steps[c]));
      *products += steps[c];
    }
  }
  for (Mat *m : {&V, &Vp, &W, &U, &T}) PetscCall(MatDestroy(m));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscFunctionReturn(0);
}

PetscErrorCode PCH2ULVLogDetSLQ_Private(PC pc, PetscInt nprobes, PetscInt maxits, PetscReal *corr, PetscReal *se)
{
  Mat            A;
  PetscReal              ldP, mean = 0, var = 0;
  PetscInt               products = 0, sign;
  std::vector<PetscReal> vals(nprobes > 0 ? nprobes : 0);
  PetscBool      symknown, sym;
  LogDetSLQ     *last;
  PetscLogDouble t0, t1;

  PetscFunctionBegin;
  if (maxits == PETSC_DEFAULT) maxits = 50;
  PetscCheck(nprobes >= 2, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCH2ULVGetLogDeterminantCorrection: nprobes must be at least 2 (the standard error needs two), got %" PetscInt_FMT, nprobes);
  PetscCheck(maxits >= 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCH2ULVGetLogDeterminantCorrection: maxits must be positive, got %" PetscInt_FMT, maxits);
  PetscCall(PCH2ULVGetLogAbsDeterminant(pc, &ldP, &sign)); /* errors when not set up or failed */
  PetscCheck(sign > 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULVGetLogDeterminantCorrection: the factorization has a negative determinant: the matrix is not positive definite");
  PetscCall(PCGetOperators(pc, &A, NULL));
  {
    PetscInt ma, mp;
    PetscCall(MatGetLocalSize(A, &ma, NULL));
    PetscCall(MatGetLocalSize(pc->pmat, &mp, NULL));
    PetscCheck(ma == mp, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "PCH2ULVGetLogDeterminantCorrection: the operator has %" PetscInt_FMT " local rows, the preconditioning matrix %" PetscInt_FMT, ma, mp);
  }
  PetscCall(MatIsSymmetricKnown(A, &symknown, &sym));
  PetscCheck(!symknown || sym, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONG, "PCH2ULVGetLogDeterminantCorrection: the operator (Amat) is not symmetric; stochastic Lanczos quadrature needs a symmetric positive definite one");
  PetscCall(GetLast(pc, &last));
  if (last && last->A == A && last->nprobes == nprobes && last->maxits == maxits) {
    PetscObjectState st;
    PetscCall(PetscObjectStateGet((PetscObject)A, &st));
    if (st == last->state) { /* the same estimate as last time */
      *corr = last->corr;
      if (se) *se = last->se;
      PetscFunctionReturn(0);
    }
  }
  PetscCall(PetscLogEventBegin(PCH2ULV_LogDet, pc, A, 0, 0));
  PetscCall(PetscTime(&t0));
  PetscCall(RunProbes(pc, A, nprobes, maxits, vals, &products));
  PetscCall(PetscTime(&t1));
  PetscCall(PetscLogEventEnd(PCH2ULV_LogDet, pc, A, 0, 0));
  { /* keep it with the PC until the next setup */
    PetscContainer c;
    PetscCall(PetscNew(&last));
    last->A        = A;
    last->nprobes  = nprobes;
    last->maxits   = maxits;
    last->products = products;
    for (PetscReal v : vals) mean += v / nprobes;
    for (PetscReal v : vals) var += (v - mean) * (v - mean) / (nprobes - 1);
    last->corr     = mean;
    last->se       = PetscSqrtReal(var / nprobes);
    last->ldP      = ldP;
    last->time     = t1 - t0;
    PetscCall(PetscObjectStateGet((PetscObject)A, &last->state));
    PetscCall(PetscContainerCreate(PetscObjectComm((PetscObject)pc), &c));
    PetscCall(PetscContainerSetPointer(c, last));
    PetscCall(PetscContainerSetUserDestroy(c, PetscContainerUserDestroyDefault));
    PetscCall(PetscObjectCompose((PetscObject)pc, CacheName, (PetscObject)c));
    PetscCall(PetscContainerDestroy(&c));
  }
  *corr = last->corr;
  if (se) *se = last->se;
  PetscFunctionReturn(0);
}

PetscErrorCode PCH2ULVLogDetView_Private(PC pc, PetscViewer viewer)
{
  LogDetSLQ *last;

  PetscFunctionBegin;
  PetscCall(GetLast(pc, &last));
  if (!last) PetscFunctionReturn(0);
  PetscCall(PetscViewerASCIIPrintf(viewer, "  log det P (the factors) %.10g; log det A - log det P = %.6g +- %.2g (stochastic Lanczos quadrature: %" PetscInt_FMT " probes, %" PetscInt_FMT " products with A, %.3g s); log det A = %.10g +- %.2g\n", (double)last->ldP, (double)last->corr, (double)last->se, last->nprobes, last->products, last->time, (double)(last->ldP + last->corr), (double)last->se));
  PetscFunctionReturn(0);
}

PetscErrorCode PCH2ULVLogDetSetUp_Private(PC pc, PetscBool view, PetscInt nprobes)
{
  PetscReal corr;

  PetscFunctionBegin;
  PetscCall(PetscObjectCompose((PetscObject)pc, CacheName, NULL));
  if (!view || pc->failedreason) PetscFunctionReturn(0);
  PetscCall(PCH2ULVLogDetSLQ_Private(pc, nprobes, PETSC_DEFAULT, &corr, NULL));
  PetscCall(PCH2ULVLogDetView_Private(pc, PETSC_VIEWER_STDOUT_(PetscObjectComm((PetscObject)pc))));
  PetscFunctionReturn(0);
}

/*@
   PCH2ULVGetLogDeterminantCorrection - estimates log det A - log det P, where A is the operator
   (the Amat of KSPSetOperators(): a MATH2 at a tight tolerance, or a dense matrix) and P the H^2-ULV
   factorization, so that log det P + corr is the log-determinant of the operator itself (e.g. a
   Gaussian-process likelihood), with its standard error

   Collective

   Input Parameters:
+  pc      - the PCH2ULV preconditioner, set up, of a symmetric positive definite matrix factored
             with Cholesky pivots everywhere
.  nprobes - number of random probes, at least 2 (PETSC_DEFAULT: -pc_h2ulv_logdet_probes, 32)
-  maxits  - most Lanczos steps per probe (PETSC_DEFAULT: 50)

   Output Parameters:
+  corr    - the estimate of log det A - log det P = tr log(P^{-1} A)
-  stderr_ - its standard error: the probes' sample standard deviation over sqrt(nprobes) (or NULL)

   Options Database Keys:
+  -pc_h2ulv_logdet_probes <32> - the probes of a PETSC_DEFAULT request
-  -pc_h2ulv_logdet_view - after each setup, estimate it and print log det P, the correction with
                           its standard error and their sum (also shown by PCView() once estimated)

   Notes:
   The factorization is a congruence P = F F^T (orthogonal transforms and Cholesky pivots level by
   level, a Cholesky root), so tr log(P^{-1} A) = tr log(S) with the symmetric positive definite
   S = F^{-1} A F^{-T}, whose halves are PCApplySymmetricLeft() (F^{-1}) and PCApplySymmetricRight()
   (F^{-T}).  Each probe z (Rademacher: +-1 entries, the same for every process count) gives
   z^T log(S) z by k steps of Lanczos on S from z and Gauss quadrature,
   ||z||^2 sum_j (e1^T y_j)^2 log theta_j over the eigenpairs (theta_j, y_j) of the Lanczos
   tridiagonal; the estimate is their mean (Hutchinson's).  A good preconditioner makes S close to
   the identity, so the quadrature converges in a few steps (about 5 for a 1e-4 factorization): a
   probe stops when its value changes by at most 1e-10 of its absolute mass
   (||z||^2 sum_j (e1^T y_j)^2 |log theta_j|), or after maxits steps.  The symmetric form is exact for
   the factorization actually applied and keeps the Lanczos recurrence short; a factorization with
   LU pivots (nonsymmetric or indefinite matrices, -pc_h2ulv_factorization lu) has no such halves
   and is an error here.

   The error is statistical: the standard error falls like 1/sqrt(nprobes) and grows with
   ||log S||_F, i.e. with the factorization's error.  The compression errors of A - P largely cancel
   in the trace, so log det P is often closer to log det A than the spread of single probes: compare
   the standard error with the correction before relying on it, and add probes (ball-matern,
   N = 8192, -pc_h2ulv_rtol 1e-4: log det P is 0.088 off, one probe's standard deviation is about
   0.6, so 256 probes give +-0.037).  Cost: nprobes times the Lanczos steps, each one product with A
   and a solve with P (its two halves); the probes run in blocks of up to 32 columns (one MatMatMult
   and two multi-column half solves per step), which costs much less per probe than one at a time.
   The result is kept until the next setup; the same request on the same (unchanged) A returns it.

   Level: intermediate

.seealso: `PCH2ULV`, `PCH2ULVGetLogDeterminant()`, `PCH2ULVGetLogAbsDeterminant()`, `PCApplySymmetricLeft()`, `PCApplySymmetricRight()`
@*/
PetscErrorCode PCH2ULVGetLogDeterminantCorrection(PC pc, PetscInt nprobes, PetscInt maxits, PetscReal *corr, PetscReal *stderr_)
{
  PetscFunctionBegin;
  PetscValidHeaderSpecific(pc, PC_CLASSID, 1);
  PetscValidLogicalCollectiveInt(pc, nprobes, 2);
  PetscValidLogicalCollectiveInt(pc, maxits, 3);
  PetscValidRealPointer(corr, 4);
  PetscUseMethod(pc, "PCH2ULVGetLogDeterminantCorrection_C", (PC, PetscInt, PetscInt, PetscReal *, PetscReal *), (pc, nprobes, maxits, corr, stderr_));
  PetscFunctionReturn(0);
}
