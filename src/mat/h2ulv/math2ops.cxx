/* MATH2 operations on a built matrix: products, diagonal, shift, scale, AXPY, duplicate, copy,
   zero, norms, conversions to and from dense, MatGetRow */
#include "math2impl.h"

#include <petscsf.h>
#include <cmath>

/* dshift += a * d (d in local tree order; NULL: all ones) */
static void MatH2TrackShift_Private(Mat_H2 *h, const PetscScalar *d, PetscReal a)
{
  const size_t n = (size_t)h->ntree;
  if (h->dshift.size() != n) h->dshift.assign(n, 0.0);
  for (size_t i = 0; i < n; i++) h->dshift[i] += a * (d ? PetscRealPart(d[i]) : 1.0);
}

/* ------------------------------------------------------------------------------------------------
   Products
   ------------------------------------------------------------------------------------------------ */
/* Y(:, 0:k) = op(A) X(:, 0:k) (+ Y if add), user layout, leading dimensions ldx, ldy */
PetscErrorCode MatH2Apply_Private(Mat A, PetscBool trans, PetscInt k, const PetscScalar *x, PetscInt ldx, PetscScalar *y, PetscInt ldy, PetscBool add)
{
  Mat_H2        *h = H2(A);
  PetscInt       nt;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  nt = h->ntree;
  PetscCall(PetscLogEventBegin(MATH2_Mult, A, 0, 0, 0));
  std::vector<PetscScalar> xt, yt;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), h->jit, [&]() { xt.resize((size_t)nt * k), yt.resize((size_t)nt * k); }));
  PetscCall(MatH2ToTree_Private(A, x, xt.data(), k, ldx));
  /* on-the-fly values evaluate entries (which may fail) inside the product: agree on errors then */
  ierr = H2ULVCallCore(PetscObjectComm((PetscObject)A), h->jit, [&]() { h2ulv::h2Multiply<double>(*h->structure, h->values, trans, (int)k, xt.data(), (int)std::max<PetscInt>(nt, 1), 0.0, yt.data(), (int)std::max<PetscInt>(nt, 1)); });
  if (ierr) PetscCall(PetscLogEventEnd(MATH2_Mult, A, 0, 0, 0));
  PetscCall(ierr);
  for (PetscInt j = 0; j < k; j++) {
    PetscCall(PetscSFReduceBegin(h->sf, MPIU_SCALAR, yt.data() + j * nt, y + j * ldy, add ? MPIU_SUM : MPI_REPLACE));
    PetscCall(PetscSFReduceEnd(h->sf, MPIU_SCALAR, yt.data() + j * nt, y + j * ldy, add ? MPIU_SUM : MPI_REPLACE));
  }
  PetscCall(PetscLogFlops(h->multflops * k));
  PetscCall(PetscLogEventEnd(MATH2_Mult, A, 0, 0, 0));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatMultKernel_H2(Mat A, Vec x, Vec z, Vec y, PetscBool trans)
{
  const PetscScalar *xa;
  PetscScalar       *ya;
  PetscErrorCode     ierr;

  PetscFunctionBegin;
  if (z && z != y) PetscCall(VecCopy(z, y));
  PetscCall(VecGetArrayRead(x, &xa));
  PetscCall(z ? VecGetArray(y, &ya) : VecGetArrayWrite(y, &ya));
  ierr = MatH2Apply_Private(A, trans, 1, xa, A->rmap->n, ya, A->rmap->n, (PetscBool)(z != NULL));
  PetscCall(VecRestoreArrayRead(x, &xa)); /* also after an error, so the vectors stay usable */
  PetscCall(z ? VecRestoreArray(y, &ya) : VecRestoreArrayWrite(y, &ya));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode MatMult_H2(Mat A, Vec x, Vec y) { return MatMultKernel_H2(A, x, NULL, y, PETSC_FALSE); }
PetscErrorCode MatMultTranspose_H2(Mat A, Vec x, Vec y) { return MatMultKernel_H2(A, x, NULL, y, PETSC_TRUE); }
PetscErrorCode MatMultAdd_H2(Mat A, Vec x, Vec z, Vec y) { return MatMultKernel_H2(A, x, z, y, PETSC_FALSE); }
PetscErrorCode MatMultTransposeAdd_H2(Mat A, Vec x, Vec z, Vec y) { return MatMultKernel_H2(A, x, z, y, PETSC_TRUE); }

/* MatMatMult(H2, dense) and MatTransposeMatMult(H2, dense) */
static PetscErrorCode MatProductNumeric_H2_Dense(Mat C)
{
  Mat_Product       *product = C->product;
  Mat                A = product->A, B = product->B;
  const PetscScalar *b;
  PetscScalar       *c;
  PetscInt           ldb, ldc;
  PetscErrorCode     ierr;

  PetscFunctionBegin;
  PetscCall(MatDenseGetArrayRead(B, &b));
  PetscCall(MatDenseGetLDA(B, &ldb));
  PetscCall(MatDenseGetArrayWrite(C, &c));
  PetscCall(MatDenseGetLDA(C, &ldc));
  ierr = MatH2Apply_Private(A, (PetscBool)(product->type == MATPRODUCT_AtB), B->cmap->N, b, ldb, c, ldc, PETSC_FALSE);
  PetscCall(MatDenseRestoreArrayRead(B, &b)); /* also after an error */
  PetscCall(MatDenseRestoreArrayWrite(C, &c));
  PetscCall(ierr);
  PetscCall(MatAssemblyBegin(C, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(C, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatProductSymbolic_H2_Dense(Mat C)
{
  Mat_Product *product = C->product;
  Mat          A = product->A, B = product->B;

  PetscFunctionBegin;
  PetscCheck(A->cmap->n == B->rmap->n, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "MatMatMult(MATH2, dense): local sizes do not match (%" PetscInt_FMT " columns vs %" PetscInt_FMT " rows)", A->cmap->n, B->rmap->n);
  if (C->rmap->n < 0 || C->rmap->N < 0) PetscCall(MatSetSizes(C, A->rmap->n, B->cmap->n, A->rmap->N, B->cmap->N));
  PetscCall(MatSetType(C, MATDENSE));
  PetscCall(MatSetUp(C));
  C->ops->productsymbolic = NULL;
  C->ops->productnumeric  = MatProductNumeric_H2_Dense;
  PetscFunctionReturn(0);
}

PetscErrorCode MatProductSetFromOptions_H2_Dense(Mat C)
{
  PetscFunctionBegin;
  if (C->product->type == MATPRODUCT_AB || C->product->type == MATPRODUCT_AtB) C->ops->productsymbolic = MatProductSymbolic_H2_Dense;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Diagonal, shift, scale, axpy: values only, the bases are untouched
   ------------------------------------------------------------------------------------------------ */
PetscErrorCode MatGetDiagonal_H2(Mat A, Vec d)
{
  Mat_H2      *h = H2(A);
  PetscScalar *da;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  const h2ulv::Layout     &lay = h->structure->layout();
  std::vector<PetscScalar> dt;
  /* on-the-fly values evaluate the diagonal entries (which may fail on one process) */
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() {
    dt.resize(lay.pointEnd() - lay.pointBegin());
    h->values.getDiagonal(*h->structure, dt.data());
  }));
  PetscCall(VecGetArrayWrite(d, &da));
  PetscCall(MatH2FromTree_Private(A, dt.data(), da, 1, A->rmap->n));
  PetscCall(VecRestoreArrayWrite(d, &da));
  PetscFunctionReturn(0);
}

PetscErrorCode MatShift_H2(Mat A, PetscScalar a)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  if (!h->deferred) PetscCall(MatH2CheckBuilt_Private(A)); /* deferred: the build applies the tracked shift */
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() {
    if (!h->deferred) h->values.shiftDiagonal(*h->structure, nullptr, a);
    MatH2TrackShift_Private(h, nullptr, a);
  }));
  PetscCall(PetscInfo(A, "MATH2 shifted by %g (bases kept)\n", (double)PetscRealPart(a)));
  PetscCall(PetscObjectStateIncrease((PetscObject)A)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

PetscErrorCode MatDiagonalSet_H2(Mat A, Vec D, InsertMode mode)
{
  Mat_H2            *h = H2(A);
  const PetscScalar *da;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  PetscCheck(mode == INSERT_VALUES || mode == ADD_VALUES, PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MatDiagonalSet on MATH2 supports INSERT_VALUES and ADD_VALUES");
  const h2ulv::Layout     &lay = h->structure->layout();
  std::vector<PetscScalar> dt;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { dt.resize(lay.pointEnd() - lay.pointBegin()); }));
  PetscCall(VecGetArrayRead(D, &da));
  PetscCall(MatH2ToTree_Private(A, da, dt.data(), 1, A->rmap->n));
  PetscCall(VecRestoreArrayRead(D, &da));
  /* INSERT_VALUES with on-the-fly values evaluates the current diagonal (which may fail on one process) */
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() {
    if (mode == INSERT_VALUES) {
      std::vector<PetscScalar> cur(dt.size());
      h->values.getDiagonal(*h->structure, cur.data());
      for (size_t i = 0; i < dt.size(); i++) dt[i] -= cur[i];
    }
    h->values.shiftDiagonal(*h->structure, dt.data(), 1.0);
    MatH2TrackShift_Private(h, dt.data(), 1.0);
  }));
  PetscCall(PetscObjectStateIncrease((PetscObject)A)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

PetscErrorCode MatScale_H2(Mat A, PetscScalar a)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  if (!h->deferred) PetscCall(MatH2CheckBuilt_Private(A)); /* deferred: the build applies alpha */
  if (!h->deferred) PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_FALSE, [&]() { h->values.scale(a); }));
  h->alpha *= a;
  for (double &d : h->dshift) d *= PetscRealPart(a);
  PetscCall(PetscObjectStateIncrease((PetscObject)A)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

PetscErrorCode MatAXPY_H2(Mat Y, PetscScalar a, Mat X, MatStructure str)
{
  Mat_H2   *y = H2(Y);
  PetscBool same;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)X, MATH2, &same));
  PetscCheck(same, PetscObjectComm((PetscObject)Y), PETSC_ERR_SUP, "MatAXPY into a MATH2 matrix needs X of type MATH2 too, got %s", ((PetscObject)X)->type_name);
  PetscCall(MatH2CheckBuilt_Private(Y));
  PetscCall(MatH2CheckBuilt_Private(X));
  PetscCheck(y->structure == H2(X)->structure, PetscObjectComm((PetscObject)Y), PETSC_ERR_ARG_INCOMP,
             "MatAXPY between MATH2 matrices needs the same H2 structure (shared cluster tree and bases, e.g. from MatDuplicate() or MatCopy()); these two were built separately");
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)Y), PETSC_TRUE, [&]() {
    y->values.axpy(a, H2(X)->values);
    if (!H2(X)->dshift.empty()) MatH2TrackShift_Private(y, H2(X)->dshift.data(), PetscRealPart(a));
  }));
  y->alpha += a * H2(X)->alpha;
  PetscCall(PetscObjectStateIncrease((PetscObject)Y)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Duplicate, copy, zero
   ------------------------------------------------------------------------------------------------ */
static void MatH2CopySettings_Private(const Mat_H2 *a, Mat_H2 *b)
{
  b->leafsize      = a->leafsize;
  b->rtol          = a->rtol;
  b->maxrank       = a->maxrank;
  b->nsamples      = a->nsamples;
  b->checkrows     = a->checkrows;
  b->checkerr      = a->checkerr;
  b->adm           = a->adm;
  b->theta         = a->theta;
  b->eta           = a->eta;
  b->threads       = a->threads;
  b->cbthreads     = a->cbthreads;
  b->symmetric_opt = a->symmetric_opt;
  b->symmetric_set = a->symmetric_set;
  b->kernel        = a->kernel;
  b->kscale        = a->kscale;
  b->kparam        = a->kparam;
  b->kdiag         = a->kdiag;
  b->kdiag_set     = a->kdiag_set;
  b->knugget       = a->knugget;
  b->dim           = a->dim;
  b->coords        = a->coords;
  b->coords_set    = a->coords_set;
  b->kfn           = a->kfn;
  b->kbfn          = a->kbfn;
  b->kbctx         = a->kbctx;
  b->kctx          = a->kctx;
  b->efn           = a->efn;
  b->ectx          = a->ectx;
  b->dense         = a->dense;
}

static PetscErrorCode MatH2CopyBuilt_Private(Mat A, Mat B, PetscBool values)
{
  Mat_H2 *a = H2(A), *b = H2(B);

  PetscFunctionBegin;
  b->tree      = a->tree;
  b->evaluator = a->evaluator;
  b->structure = a->structure;
  b->deferred  = a->deferred;
  b->ntree     = a->ntree;
  b->symmetric = a->symmetric;
  b->multflops = a->multflops;
  b->t_tree    = a->t_tree;
  b->t_basis   = a->t_basis;
  b->t_values  = a->t_values;
  b->jit       = a->jit;
  b->storage   = a->storage;
  b->alpha     = values ? a->alpha : 0.0;
  /* the stored values are copied (as much memory as A's): an allocation that may fail on one process */
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() {
    b->values = a->values;
    b->dshift = values ? a->dshift : std::vector<double>();
    if (!values) b->values.scale(0.0);
  }));
  if (a->sf) PetscCall(PetscObjectReference((PetscObject)a->sf));
  PetscCall(PetscSFDestroy(&b->sf));
  b->sf          = a->sf;
  B->assembled   = A->assembled;
  B->preallocated = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode MatDuplicate_H2(Mat A, MatDuplicateOption op, Mat *B)
{
  PetscFunctionBegin;
  PetscCall(MatCreate(PetscObjectComm((PetscObject)A), B));
  PetscCall(MatSetSizes(*B, A->rmap->n, A->cmap->n, A->rmap->N, A->cmap->N));
  PetscCall(MatSetType(*B, MATH2));
  PetscCall(PetscLayoutSetUp((*B)->rmap));
  PetscCall(PetscLayoutSetUp((*B)->cmap));
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { MatH2CopySettings_Private(H2(A), H2(*B)); }));
  if (H2(A)->deferred) PetscCall(MatH2CheckBuilt_Private(A)); /* the copy shares A's bases */
  if (H2(A)->structure) PetscCall(MatH2CopyBuilt_Private(A, *B, (PetscBool)(op == MAT_COPY_VALUES)));
  PetscCall(MatPropagateSymmetryOptions(A, *B));
  PetscFunctionReturn(0);
}

PetscErrorCode MatCopy_H2(Mat A, Mat B, MatStructure str)
{
  PetscBool same;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)B, MATH2, &same));
  PetscCheck(same, PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MatCopy from MATH2 needs a MATH2 target; use MatConvert(A, MATDENSE, ...) for a dense copy");
  PetscCheck(A->rmap->N == B->rmap->N && A->rmap->n == B->rmap->n, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_SIZ, "MatCopy: the two MATH2 matrices have different layouts");
  PetscCall(MatH2CheckBuilt_Private(A));
  if (H2(B)->structure != H2(A)->structure) {
    PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { MatH2CopySettings_Private(H2(A), H2(B)); }));
    B->nonzerostate++;
  }
  PetscCall(MatH2CopyBuilt_Private(A, B, PETSC_TRUE));
  PetscCall(PetscObjectStateIncrease((PetscObject)B));
  PetscFunctionReturn(0);
}

PetscErrorCode MatZeroEntries_H2(Mat A)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  if (h->structure) PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_FALSE, [&]() { h->values.scale(0.0); }));
  h->alpha = 0.0;
  h->dshift.clear();
  PetscCall(PetscObjectStateIncrease((PetscObject)A)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Norms: Frobenius exact (orthonormal bases); 1 and infinity by Hager-Higham estimation; 2 by power
   iteration on A^T A.  The estimates are lower bounds that are usually exact or within a few %.
   ------------------------------------------------------------------------------------------------ */
/* Hager-Higham on work vectors x, y, z */
static PetscErrorCode MatNormEstimate1Iterate_Private(Mat A, PetscBool trans, Vec x, Vec y, Vec z, PetscReal *nrm)
{
  PetscReal est = 0, zmax, ztx;
  PetscInt  jmax = -1, N = A->rmap->N;

  PetscFunctionBegin;
  PetscCall(VecSet(x, 1.0 / (PetscReal)N));
  for (PetscInt it = 0; it < 5; it++) {
    PetscCall(trans ? MatMultTranspose(A, x, y) : MatMult(A, x, y));
    PetscReal e;
    PetscCall(VecNorm(y, NORM_1, &e));
    if (it > 0 && e <= est) break;
    est = e;
    /* sign vector */
    PetscScalar *ya;
    PetscInt     n;
    PetscCall(VecGetLocalSize(y, &n));
    PetscCall(VecGetArray(y, &ya));
    for (PetscInt i = 0; i < n; i++) ya[i] = PetscRealPart(ya[i]) >= 0 ? 1.0 : -1.0;
    PetscCall(VecRestoreArray(y, &ya));
    PetscCall(trans ? MatMult(A, y, z) : MatMultTranspose(A, y, z));
    PetscCall(VecMax(z, &jmax, &zmax));
    PetscReal zmin;
    PetscInt  jmin;
    PetscCall(VecMin(z, &jmin, &zmin));
    if (-zmin > zmax) {
      zmax = -zmin;
      jmax = jmin;
    }
    PetscScalar dot;
    PetscCall(VecDot(z, x, &dot));
    ztx = PetscRealPart(dot);
    if (zmax <= ztx) break;
    PetscCall(VecSet(x, 0.0));
    PetscCall(VecSetValue(x, jmax, 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(x));
    PetscCall(VecAssemblyEnd(x));
  }
  *nrm = est;
  PetscFunctionReturn(0);
}

/* power iteration on A^T A with work vectors x, y */
static PetscErrorCode MatNorm2Iterate_Private(Mat A, Vec x, Vec y, PetscReal *nrm)
{
  PetscReal lam = 0, prev = 0;

  PetscFunctionBegin;
  PetscCall(VecSet(x, 1.0));
  PetscCall(VecSetValue(x, 0, 2.0, INSERT_VALUES));
  PetscCall(VecAssemblyBegin(x));
  PetscCall(VecAssemblyEnd(x));
  for (PetscInt it = 0; it < 50; it++) {
    PetscReal nx;
    PetscCall(VecNormalize(x, &nx));
    PetscCall(MatMult(A, x, y));
    PetscCall(MatMultTranspose(A, y, x));
    PetscCall(VecNorm(x, NORM_2, &lam));
    if (it > 0 && PetscAbsReal(lam - prev) <= 1e-8 * lam) break;
    prev = lam;
  }
  *nrm = std::sqrt(lam);
  PetscFunctionReturn(0);
}

/* the estimates with their work vectors, freed also when a product fails */
static PetscErrorCode MatNormEstimate_Private(Mat A, NormType type, PetscReal *nrm)
{
  Vec            x, y, z;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &x, &y));
  PetscCall(VecDuplicate(x, &z));
  if (type == NORM_2) ierr = MatNorm2Iterate_Private(A, x, y, nrm);
  else ierr = MatNormEstimate1Iterate_Private(A, (PetscBool)(type == NORM_INFINITY), x, y, z, nrm);
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&z));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

PetscErrorCode MatNorm_H2(Mat A, NormType type, PetscReal *nrm)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  if (type == NORM_FROBENIUS) {
    double loc = 0, glob;
    PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { loc = h->values.frobeniusSquared(*h->structure); }));
    PetscCall(MPIU_Allreduce(&loc, &glob, 1, MPI_DOUBLE, MPI_SUM, PetscObjectComm((PetscObject)A)));
    *nrm = std::sqrt(glob);
  } else if (type == NORM_1 || type == NORM_INFINITY || type == NORM_2) {
    PetscCall(MatNormEstimate_Private(A, type, nrm));
  } else SETERRQ(PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "Unsupported norm type for MATH2");
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Conversions
   ------------------------------------------------------------------------------------------------ */
static PetscErrorCode MatConvert_H2_Dense(Mat A, MatType newtype, MatReuse reuse, Mat *newmat)
{
  Mat          D;
  PetscScalar *d;
  PetscInt     lda, N = A->rmap->N, n = A->rmap->n, rs = A->rmap->rstart;
  const PetscInt bs = 64;
  PetscErrorCode ierr = 0;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  std::vector<PetscScalar> e;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { e.resize((size_t)std::max<PetscInt>(n, 1) * bs); }));
  PetscCall(MatCreateDense(PetscObjectComm((PetscObject)A), n, A->cmap->n, N, N, NULL, &D));
  PetscCall(MatDenseGetArrayWrite(D, &d));
  PetscCall(MatDenseGetLDA(D, &lda));
  for (PetscInt j0 = 0; j0 < N; j0 += bs) {
    PetscInt nb = std::min(bs, N - j0);
    std::fill(e.begin(), e.end(), 0.0);
    for (PetscInt j = j0; j < j0 + nb; j++)
      if (j >= rs && j < rs + n) e[(j - rs) + (size_t)(j - j0) * n] = 1.0;
    ierr = MatH2Apply_Private(A, PETSC_FALSE, nb, e.data(), n, d + (size_t)j0 * lda, lda, PETSC_FALSE);
    if (ierr) break;
  }
  PetscCall(MatDenseRestoreArrayWrite(D, &d));
  if (ierr) PetscCall(MatDestroy(&D)); /* nothing leaked when the products fail */
  PetscCall(ierr);
  PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));
  if (reuse == MAT_INPLACE_MATRIX) PetscCall(MatHeaderReplace(A, &D));
  else if (reuse == MAT_REUSE_MATRIX) {
    PetscCall(MatCopy(D, *newmat, SAME_NONZERO_PATTERN));
    PetscCall(MatDestroy(&D));
  } else *newmat = D;
  PetscFunctionReturn(0);
}

PetscErrorCode MatConvert_H2(Mat A, MatType newtype, MatReuse reuse, Mat *newmat)
{
  PetscBool dense;

  PetscFunctionBegin;
  PetscCall(PetscStrbeginswith(newtype, MATDENSE, &dense));
  if (!dense) PetscCall(PetscStrcmp(newtype, MATSEQDENSE, &dense));
  if (!dense) PetscCall(PetscStrcmp(newtype, MATMPIDENSE, &dense));
  PetscCheck(dense, PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MATH2 converts to dense types only (MATDENSE, MATSEQDENSE, MATMPIDENSE), not %s", newtype);
  PetscCall(MatConvert_H2_Dense(A, newtype, reuse, newmat));
  PetscFunctionReturn(0);
}

/* MatConvert(dense, MATH2): coordinates attached with MatH2SetCoordinates(dense, ...) */
PetscErrorCode MatConvert_Dense_H2(Mat D, MatType newtype, MatReuse reuse, Mat *newmat)
{
  Vec                cvec = NULL;
  Mat                B;
  const PetscScalar *a, *c;
  PetscInt           lda, N = D->rmap->N, n = D->rmap->n, bsz;
  PetscMPIInt        size;
  MPI_Comm           comm = PetscObjectComm((PetscObject)D);
  PetscErrorCode     ierr;

  PetscFunctionBegin;
  PetscCall(PetscObjectQuery((PetscObject)D, "MatH2Coordinates", (PetscObject *)&cvec)); /* none: the tree from the entries */
  PetscCheck(D->rmap->N == D->cmap->N, comm, PETSC_ERR_ARG_SIZ, "MatConvert(dense, MATH2) needs a square matrix");
  PetscCallMPI(MPI_Comm_size(comm, &size));
  /* the whole matrix on every process (documented: the conversion replicates the dense matrix) */
  std::shared_ptr<std::vector<double>> full;
  std::vector<double>                  loc, chunks;
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() {
    full = std::make_shared<std::vector<double>>((size_t)N * N);
    loc.resize((size_t)n * N);
    chunks.resize((size_t)N * N);
  }));
  PetscCall(MatDenseGetArrayRead(D, &a));
  PetscCall(MatDenseGetLDA(D, &lda));
  {
    for (PetscInt j = 0; j < N; j++)
      for (PetscInt i = 0; i < n; i++) loc[i + (size_t)j * n] = a[i + (size_t)j * lda];
    std::vector<PetscMPIInt> counts(size), displs(size);
    for (PetscMPIInt p = 0; p < size; p++) {
      counts[p] = (PetscMPIInt)((D->rmap->range[p + 1] - D->rmap->range[p]) * N);
      displs[p] = (PetscMPIInt)(D->rmap->range[p] * N);
    }
    PetscCallMPI(MPI_Allgatherv(loc.data(), (PetscMPIInt)loc.size(), MPI_DOUBLE, chunks.data(), counts.data(), displs.data(), MPI_DOUBLE, comm));
    for (PetscMPIInt p = 0; p < size; p++) {
      PetscInt r0 = D->rmap->range[p], np = D->rmap->range[p + 1] - r0;
      for (PetscInt j = 0; j < N; j++)
        for (PetscInt i = 0; i < np; i++) (*full)[(r0 + i) + (size_t)j * N] = chunks[displs[p] + i + (size_t)j * np];
    }
  }
  loc    = std::vector<double>();
  chunks = std::vector<double>();
  PetscCall(MatDenseRestoreArrayRead(D, &a));
  PetscCall(MatCreate(comm, &B));
  PetscCall(MatSetSizes(B, n, D->cmap->n, N, N));
  PetscCall(MatSetType(B, MATH2));
  PetscCall(MatPropagateSymmetryOptions(D, B));
  if (cvec) {
    PetscCall(VecGetBlockSize(cvec, &bsz));
    PetscCall(VecGetArrayRead(cvec, &c));
    PetscCall(MatH2SetCoordinates(B, bsz, c));
    PetscCall(VecRestoreArrayRead(cvec, &c));
  }
  H2(B)->dense = full;
  PetscObjectOptionsBegin((PetscObject)B);
  PetscCall(MatSetFromOptions_H2(B, PetscOptionsObject));
  PetscOptionsEnd();
  ierr = MatAssemblyBegin(B, MAT_FINAL_ASSEMBLY);
  if (!ierr) ierr = MatAssemblyEnd(B, MAT_FINAL_ASSEMBLY);
  if (ierr) PetscCall(MatDestroy(&B)); /* nothing leaked when the build fails */
  PetscCall(ierr);
  if (reuse == MAT_INPLACE_MATRIX) PetscCall(MatHeaderReplace(D, &B));
  else if (reuse == MAT_REUSE_MATRIX) {
    PetscCall(MatCopy(B, *newmat, DIFFERENT_NONZERO_PATTERN));
    PetscCall(MatDestroy(&B));
  } else *newmat = B;
  PetscFunctionReturn(0);
}

PetscErrorCode MatGetRow_H2(Mat A, PetscInt row, PetscInt *nz, PetscInt **idx, PetscScalar **v)
{
  PetscFunctionBegin;
  SETERRQ(PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MATH2 does not give access to rows (MatGetRow): it stores a compressed H2 matrix. Use MatConvert(A, MATDENSE, ...) for explicit entries");
}
