/*
   The H^2-ULV factorization as a MatSolverType ("h2ulv"), so that PETSc's factorization PCs and
   SLEPc's default spectral transformation pipeline use it:

       -pc_type cholesky -pc_factor_mat_solver_type h2ulv        (symmetric: Cholesky, LU fallback)
       -pc_type lu       -pc_factor_mat_solver_type h2ulv
       -st_pc_type cholesky -st_pc_factor_mat_solver_type h2ulv  (SLEPc, with -eps_interval slicing)

   The factor matrix owns a PCH2ULV that does the work (same options, under the factor's prefix),
   and adds MatGetInertia(), which SLEPc's spectrum slicing calls.  Registered (src/sys/h2ulvregis.cxx)
   for MATH2 and for dense matrices whose points were attached with MatH2SetCoordinates().
*/
#include <petsc/private/matimpl.h>
#include <petsc/private/pcimpl.h>
#include "h2ulvimpl.h"

struct Mat_H2ULVFactor {
  PC pc = NULL; /* the PCH2ULV that holds the factorization */
};

static Mat_H2ULVFactor *Fact(Mat F) { return static_cast<Mat_H2ULVFactor *>(F->data); }

static PetscErrorCode MatFactorGetSolverType_H2ULV(Mat F, MatSolverType *type)
{
  PetscFunctionBegin;
  *type = MATSOLVERH2ULV;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatFactorNumeric_H2ULV(Mat F, Mat A, const MatFactorInfo *info)
{
  Mat_H2ULVFactor *f = Fact(F);
  PCFailedReason   reason;

  PetscFunctionBegin;
  if (info) PetscCall(PCH2ULVSetFactorZeroPivot_Private(f->pc, info->zeropivot));
  PetscCall(PCSetOperators(f->pc, A, A));
  PetscCall(PCSetUp(f->pc)); /* a shifted/scaled MATH2 with the same tree is refactorized, bases reused */
  PetscCall(PCGetFailedReason(f->pc, &reason));
  F->factorerrortype = reason ? MAT_FACTOR_NUMERIC_ZEROPIVOT : MAT_FACTOR_NOERROR;
  PetscCheck(!(reason && A->erroriffailure), PetscObjectComm((PetscObject)F), PETSC_ERR_MAT_LU_ZRPVT, "H2-ULV factorization failed (a pivot block is singular, or not SPD with -pc_h2ulv_factorization cholesky); -info shows which");
  F->assembled    = PETSC_TRUE;
  F->preallocated = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* no symbolic phase: the tree and bases depend on the points and the kernel, built in the numeric phase */
static PetscErrorCode MatFactorSymbolic_H2ULV(Mat F, Mat A)
{
  Mat_H2ULVFactor *f = Fact(F);
  const char      *prefix;

  PetscFunctionBegin;
  PetscCheck(A->rmap->N == A->cmap->N, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_SIZ, "H2-ULV factorization needs a square matrix, got %" PetscInt_FMT " x %" PetscInt_FMT, A->rmap->N, A->cmap->N);
  PetscCall(PetscObjectGetOptionsPrefix((PetscObject)F, &prefix));
  if (!prefix) PetscCall(PetscObjectGetOptionsPrefix((PetscObject)A, &prefix));
  PetscCall(PCSetOptionsPrefix(f->pc, prefix));
  /* only the -<prefix>pc_h2ulv_* options: PCSetFromOptions() would read -<prefix>pc_type too (the
     outer PC's cholesky/lu) and turn the inner PC into a factorization of itself */
  PetscObjectOptionsBegin((PetscObject)f->pc);
  PetscCall((*f->pc->ops->setfromoptions)(f->pc, PetscOptionsObject));
  PetscOptionsEnd();
  F->ops->lufactornumeric       = MatFactorNumeric_H2ULV;
  F->ops->choleskyfactornumeric = MatFactorNumeric_H2ULV;
  PetscFunctionReturn(0);
}
static PetscErrorCode MatCholeskyFactorSymbolic_H2ULV(Mat F, Mat A, IS perm, const MatFactorInfo *info)
{
  PetscFunctionBegin;
  (void)perm, (void)info;
  PetscCall(MatFactorSymbolic_H2ULV(F, A));
  PetscFunctionReturn(0);
}
static PetscErrorCode MatLUFactorSymbolic_H2ULV(Mat F, Mat A, IS r, IS c, const MatFactorInfo *info)
{
  PetscFunctionBegin;
  (void)r, (void)c, (void)info;
  PetscCall(MatFactorSymbolic_H2ULV(F, A));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatSolve_H2ULV(Mat F, Vec b, Vec x) { return PCApply(Fact(F)->pc, b, x); }
static PetscErrorCode MatSolveTranspose_H2ULV(Mat F, Vec b, Vec x) { return PCApplyTranspose(Fact(F)->pc, b, x); }
static PetscErrorCode MatMatSolve_H2ULV(Mat F, Mat B, Mat X) { return PCMatApply(Fact(F)->pc, B, X); }

static PetscErrorCode MatGetInertia_H2ULV(Mat F, PetscInt *neg, PetscInt *zero, PetscInt *pos)
{
  PetscFunctionBegin;
  PetscCheck(F->factortype == MAT_FACTOR_CHOLESKY, PetscObjectComm((PetscObject)F), PETSC_ERR_SUP, "MatGetInertia with the h2ulv solver needs a Cholesky (symmetric) factorization: use -pc_type cholesky");
  PetscCall(PCH2ULVGetInertia(Fact(F)->pc, neg, zero, pos));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatGetInfo_H2ULV(Mat F, MatInfoType flag, MatInfo *info)
{
  PetscFunctionBegin;
  (void)flag;
  PetscCall(PetscMemzero(info, sizeof(*info)));
  info->block_size        = 1.0;
  info->fill_ratio_given  = 1.0;
  info->fill_ratio_needed = 1.0;
  (void)F;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatView_H2ULV(Mat F, PetscViewer viewer)
{
  PetscBool isascii;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &isascii));
  if (!isascii) PetscFunctionReturn(0);
  PetscCall(PetscViewerASCIIPrintf(viewer, "H2-ULV factorization (MatSolverType h2ulv), %s\n", F->factortype == MAT_FACTOR_CHOLESKY ? "Cholesky (LU where a pivot is not SPD)" : "LU"));
  PetscCall(PetscViewerASCIIPushTab(viewer));
  PetscCall(PCView(Fact(F)->pc, viewer));
  PetscCall(PetscViewerASCIIPopTab(viewer));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatDestroy_H2ULV(Mat F)
{
  Mat_H2ULVFactor *f = Fact(F);

  PetscFunctionBegin;
  PetscCall(PCDestroy(&f->pc));
  delete f;
  F->data = NULL;
  PetscCall(PetscObjectComposeFunction((PetscObject)F, "MatFactorGetSolverType_C", NULL));
  PetscFunctionReturn(0);
}

PetscErrorCode MatGetFactor_H2ULV(Mat A, MatFactorType ftype, Mat *F)
{
  Mat B;

  PetscFunctionBegin;
  *F = NULL;
  if (ftype != MAT_FACTOR_LU && ftype != MAT_FACTOR_CHOLESKY) PetscFunctionReturn(0); /* PETSc reports the unsupported type */
  PetscCall(MatCreate(PetscObjectComm((PetscObject)A), &B));
  PetscCall(MatSetSizes(B, A->rmap->n, A->cmap->n, A->rmap->N, A->cmap->N));
  PetscCall(PetscStrallocpy(MATSOLVERH2ULV, &((PetscObject)B)->type_name));
  PetscCall(PetscLayoutSetUp(B->rmap));
  PetscCall(PetscLayoutSetUp(B->cmap));
  auto *f = new Mat_H2ULVFactor(); /* owned by B: deleted in MatDestroy_H2ULV */
  B->data = f;
  PetscCall(PCCreate(PetscObjectComm((PetscObject)A), &f->pc));
  PetscCall(PCSetType(f->pc, PCH2ULV));
  /* Cholesky: symmetric pivots with LU where one is not SPD (shift-and-invert inside the spectrum
     gives indefinite matrices), and the inertia; LU: LU pivots everywhere */
  PetscCall(PCH2ULVSetFactorization_Private(f->pc, ftype == MAT_FACTOR_LU ? PETSC_TRUE : PETSC_FALSE));
  B->factortype     = ftype;
  B->canuseordering = PETSC_FALSE;
  B->preallocated   = PETSC_TRUE;
  PetscCall(PetscFree(B->solvertype));
  PetscCall(PetscStrallocpy(MATSOLVERH2ULV, &B->solvertype));
  B->ops->choleskyfactorsymbolic = MatCholeskyFactorSymbolic_H2ULV;
  B->ops->lufactorsymbolic       = MatLUFactorSymbolic_H2ULV;
  B->ops->solve                  = MatSolve_H2ULV;
  B->ops->solvetranspose         = MatSolveTranspose_H2ULV;
  B->ops->matsolve               = MatMatSolve_H2ULV;
  B->ops->getinertia             = MatGetInertia_H2ULV;
  B->ops->getinfo                = MatGetInfo_H2ULV;
  B->ops->view                   = MatView_H2ULV;
  B->ops->destroy                = MatDestroy_H2ULV;
  PetscCall(PetscObjectComposeFunction((PetscObject)B, "MatFactorGetSolverType_C", MatFactorGetSolverType_H2ULV));
  *F = B;
  PetscFunctionReturn(0);
}
