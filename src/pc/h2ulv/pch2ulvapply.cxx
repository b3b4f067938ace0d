/*
   The solves of PCH2ULV: PCApply, PCApplyTranspose, PCMatApply, and the symmetric halves
   PCApplySymmetricLeft/Right of a Cholesky factorization M = F F^T.  Vectors move from the user's
   layout to the factorization's tree order and back; the substitution is in src/core/ulv_solve.cpp.
*/
#include "pch2ulvimpl.h"

/* k columns: user layout -> my points in the factorization's tree order (t: nt x k) and back */
static PetscErrorCode PCH2ULVToTree_Private(PC pc, PetscInt k, const PetscScalar *x, PetscInt ldx, std::vector<PetscScalar> &t)
{
  PC_H2ULV            *p   = PCH2ULVData(pc);
  const h2ulv::Layout &lay = p->fact->layout();
  const PetscInt       nt  = lay.pointEnd() - lay.pointBegin(); /* on several processes not the same count as my rows */

  PetscFunctionBegin;
  t.resize((size_t)nt * k);
  PetscCall(MatH2ToTree_Private(p->h2, x, t.data(), k, ldx));
  if (!p->map.empty()) { /* Pmat tree order -> factorization tree order (one process) */
    const std::vector<PetscScalar> t1(t);
    for (PetscInt j = 0; j < k; j++)
      for (PetscInt i = 0; i < nt; i++) t[i + j * nt] = t1[p->map[i] + j * nt];
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVFromTree_Private(PC pc, PetscInt k, std::vector<PetscScalar> &t, PetscScalar *y, PetscInt ldy)
{
  PC_H2ULV      *p  = PCH2ULVData(pc);
  const PetscInt nt = (PetscInt)(k > 0 ? t.size() / k : 0);

  PetscFunctionBegin;
  if (!p->map.empty()) {
    std::vector<PetscScalar> t1(t.size());
    for (PetscInt j = 0; j < k; j++)
      for (PetscInt i = 0; i < nt; i++) t1[p->map[i] + j * nt] = t[i + j * nt];
    t.swap(t1);
  }
  PetscCall(MatH2FromTree_Private(p->h2, t.data(), y, k, ldy));
  PetscFunctionReturn(0);
}

/* the core's solve (half < 0), forward half (0) or backward half (1) on k columns t (tree order, nt
   x k) and h (half space, nh x k) */
static PetscErrorCode PCH2ULVCoreSolve_Private(PC pc, PetscBool trans, int half, PetscInt k, std::vector<PetscScalar> &t, PetscScalar *h, PetscInt nh)
{
  const PCH2ULVFactorization &f  = *PCH2ULVData(pc)->fact;
  const int                   nt = (int)(k > 0 ? t.size() / k : 0);

  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)pc), PETSC_TRUE, [&]() {
    if (half < 0) f.solve(trans, (int)k, t.data(), nt);
    else f.halfSolve(half == 1, (int)k, t.data(), nt, h, (int)nh);
  }));
  PetscFunctionReturn(0);
}

/* Y = M^{-1} X (or M^{-T} X), k columns in the user's layout */
static PetscErrorCode PCH2ULVApply_Private(PC pc, PetscBool trans, PetscInt k, const PetscScalar *x, PetscInt ldx, PetscScalar *y, PetscInt ldy)
{
  PetscInt n = pc->pmat->rmap->n;

  PetscFunctionBegin;
  PetscCall(PCH2ULVSetUpDirect_Private(pc, PETSC_FALSE));
  if (pc->failedreason) { /* KSP reports DIVERGED_PC_FAILED; never return silent garbage */
    for (PetscInt j = 0; j < k; j++)
      for (PetscInt i = 0; i < n; i++) y[i + j * ldy] = PETSC_MAX_REAL;
    PetscFunctionReturn(0);
  }
  PetscCall(PetscLogEventBegin(PCH2ULV_Solve, pc, 0, 0, 0));
  std::vector<PetscScalar> t;
  PetscCall(PCH2ULVToTree_Private(pc, k, x, ldx, t));
  PetscCall(PCH2ULVCoreSolve_Private(pc, trans, -1, k, t, NULL, 0));
  PetscCall(PCH2ULVFromTree_Private(pc, k, t, y, ldy));
  PetscCall(PetscLogEventEnd(PCH2ULV_Solve, pc, 0, 0, 0));
  PetscFunctionReturn(0);
}

/* PCApplySymmetricLeft (y = F^{-1} x) and PCApplySymmetricRight (y = F^{-T} x) for M = F F^T: the
   halves of the solve of a Cholesky factorization, on k columns in the user's layout (ld: the local
   rows).  The half space (the unknowns each level eliminates, then the root's) is numbered in the
   core's process-independent order (halfIndex) and scattered into the user's layout in that order. */
/* one column: half space h -> user layout (forward), or user -> h (right: reverse) */
static PetscErrorCode PCH2ULVHalfScatter_Private(PC_H2ULV *p, PetscBool right, PetscScalar *h, PetscScalar *user)
{
  PetscFunctionBegin;
  PetscCall(VecPlaceArray(p->halfv, h));
  PetscCall(VecPlaceArray(p->halfu, user));
  if (right) {
    PetscCall(VecScatterBegin(p->halfsc, p->halfu, p->halfv, INSERT_VALUES, SCATTER_REVERSE));
    PetscCall(VecScatterEnd(p->halfsc, p->halfu, p->halfv, INSERT_VALUES, SCATTER_REVERSE));
  } else {
    PetscCall(VecScatterBegin(p->halfsc, p->halfv, p->halfu, INSERT_VALUES, SCATTER_FORWARD));
    PetscCall(VecScatterEnd(p->halfsc, p->halfv, p->halfu, INSERT_VALUES, SCATTER_FORWARD));
  }
  PetscCall(VecResetArray(p->halfv));
  PetscCall(VecResetArray(p->halfu));
  PetscFunctionReturn(0);
}

PetscErrorCode PCH2ULVApplySymmetricHalf_Private(PC pc, PetscBool right, PetscInt k, const PetscScalar *x, PetscScalar *y)
{
  PC_H2ULV      *p = PCH2ULVData(pc);
  const PetscInt n = pc->pmat->rmap->n;
  PetscInt       nh;

  PetscFunctionBegin;
  PetscCall(PCH2ULVSetUpDirect_Private(pc, PETSC_FALSE));
  if (pc->failedreason) {
    for (PetscInt i = 0; i < n * k; i++) y[i] = PETSC_MAX_REAL;
    PetscFunctionReturn(0);
  }
  PetscCheck(p->fact->hasHalves(), PetscObjectComm((PetscObject)pc), PETSC_ERR_SUP, "PCApplySymmetricLeft/Right of PCH2ULV need M = F F^T: a symmetric matrix factored with Cholesky pivots everywhere (not -pc_h2ulv_factorization lu, and no pivot block may have fallen back to LU)");
  if (!p->halfsc) {
    std::vector<int> idx;
    IS               is;
    PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { idx = p->fact->halfIndex(); }));
    std::vector<PetscInt> pidx(idx.begin(), idx.end());
    PetscCall(ISCreateGeneral(PETSC_COMM_SELF, (PetscInt)pidx.size(), pidx.data(), PETSC_COPY_VALUES, &is));
    PetscCall(VecCreateSeqWithArray(PETSC_COMM_SELF, 1, (PetscInt)pidx.size(), NULL, &p->halfv));
    PetscCall(VecCreateMPIWithArray(PetscObjectComm((PetscObject)pc), 1, n, pc->pmat->rmap->N, NULL, &p->halfu));
    PetscCall(VecScatterCreate(p->halfv, NULL, p->halfu, is, &p->halfsc));
    PetscCall(ISDestroy(&is));
  }
  PetscCall(PetscLogEventBegin(PCH2ULV_Solve, pc, 0, 0, 0));
  PetscCall(VecGetLocalSize(p->halfv, &nh));
  std::vector<PetscScalar> t, h((size_t)nh * k);
  if (!right) {
    PetscCall(PCH2ULVToTree_Private(pc, k, x, n, t));
    PetscCall(PCH2ULVCoreSolve_Private(pc, PETSC_FALSE, 0, k, t, h.data(), nh));
    for (PetscInt j = 0; j < k; j++) PetscCall(PCH2ULVHalfScatter_Private(p, PETSC_FALSE, h.data() + j * nh, y + j * n));
  } else {
    const h2ulv::Layout &lay = p->fact->layout();
    for (PetscInt j = 0; j < k; j++) PetscCall(PCH2ULVHalfScatter_Private(p, PETSC_TRUE, h.data() + j * nh, const_cast<PetscScalar *>(x) + j * n)); /* x: read only */
    t.resize((size_t)(lay.pointEnd() - lay.pointBegin()) * k);
    PetscCall(PCH2ULVCoreSolve_Private(pc, PETSC_FALSE, 1, k, t, h.data(), nh));
    PetscCall(PCH2ULVFromTree_Private(pc, k, t, y, n));
  }
  PetscCall(PetscLogEventEnd(PCH2ULV_Solve, pc, 0, 0, 0));
  PetscFunctionReturn(0);
}

/* kind: 0 PCApply, 1 PCApplyTranspose, 2 PCApplySymmetricLeft, 3 PCApplySymmetricRight */
static PetscErrorCode PCApplyKernel_H2ULV(PC pc, Vec x, Vec y, int kind)
{
  const PetscScalar *xa;
  PetscScalar       *ya;

  PetscFunctionBegin;
  PetscCall(VecGetArrayRead(x, &xa));
  PetscCall(VecGetArrayWrite(y, &ya));
  if (kind < 2) PetscCall(PCH2ULVApply_Private(pc, (PetscBool)(kind == 1), 1, xa, pc->pmat->rmap->n, ya, pc->pmat->rmap->n));
  else PetscCall(PCH2ULVApplySymmetricHalf_Private(pc, (PetscBool)(kind == 3), 1, xa, ya));
  PetscCall(VecRestoreArrayRead(x, &xa));
  PetscCall(VecRestoreArrayWrite(y, &ya));
  PetscFunctionReturn(0);
}
PetscErrorCode PCApply_H2ULV(PC pc, Vec x, Vec y) { return PCApplyKernel_H2ULV(pc, x, y, 0); }
PetscErrorCode PCApplyTranspose_H2ULV(PC pc, Vec x, Vec y) { return PCApplyKernel_H2ULV(pc, x, y, 1); }
PetscErrorCode PCApplySymmetricLeft_H2ULV(PC pc, Vec x, Vec y) { return PCApplyKernel_H2ULV(pc, x, y, 2); }
PetscErrorCode PCApplySymmetricRight_H2ULV(PC pc, Vec x, Vec y) { return PCApplyKernel_H2ULV(pc, x, y, 3); }

PetscErrorCode PCMatApply_H2ULV(PC pc, Mat X, Mat Y)
{
  const PetscScalar *xa;
  PetscScalar       *ya;
  PetscInt           ldx, ldy, k;

  PetscFunctionBegin;
  PetscCall(MatGetSize(X, NULL, &k));
  PetscCall(MatDenseGetArrayRead(X, &xa));
  PetscCall(MatDenseGetLDA(X, &ldx));
  PetscCall(MatDenseGetArrayWrite(Y, &ya));
  PetscCall(MatDenseGetLDA(Y, &ldy));
  PetscCall(PCH2ULVApply_Private(pc, PETSC_FALSE, k, xa, ldx, ya, ldy));
  PetscCall(MatDenseRestoreArrayRead(X, &xa));
  PetscCall(MatDenseRestoreArrayWrite(Y, &ya));
  PetscFunctionReturn(0);
}


PetscErrorCode PCH2ULVResetHalves_Private(PC pc)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  PetscCall(VecDestroy(&p->halfv));
  PetscCall(VecDestroy(&p->halfu));
  PetscCall(VecScatterDestroy(&p->halfsc));
  PetscFunctionReturn(0);
}
