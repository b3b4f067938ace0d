/* Private header of PCH2ULV: the PC's data, and the factorization handle the PETSc layer works
   through.  pch2ulv.cxx: the type (options, view, composed functions, public API); pch2ulvsetup.cxx:
   PCSetUp (which matrix and tree are factored, the factorization's options, refactorization);
   pch2ulvapply.cxx: the solves (PCApply, transpose, the symmetric halves, PCMatApply). */
#pragma once

#include <petsc/private/pcimpl.h>
#include "mat/h2ulv/math2impl.h"
#include "core/ulv.hpp"

#include <memory>
#include <string>
#include <vector>

typedef enum {
  PCH2ULV_FACTOR_AUTO,
  PCH2ULV_FACTOR_CHOLESKY,
  PCH2ULV_FACTOR_LU
} PCH2ULVFactorType;
typedef enum {
  PCH2ULV_FILLIN_NONE,
  PCH2ULV_FILLIN_NEARFIELD,
  PCH2ULV_FILLIN_GENERATOR,
  PCH2ULV_FILLIN_AUTO
} PCH2ULVFillIn;
typedef enum {
  PCH2ULV_SCHUR_DIAG,
  PCH2ULV_SCHUR_NEAR1,
  PCH2ULV_SCHUR_TWOHOP
} PCH2ULVSchur;
/* what a factorization is for, which sets its tolerance when -pc_h2ulv_rtol is not given */
typedef enum {
  PCH2ULV_USE_GIVEN,  /* -pc_h2ulv_rtol or PCH2ULVSetTolerance(): that tolerance */
  PCH2ULV_USE_DIRECT, /* a direct solve (KSPPREONLY, one iteration, PCApply outside a KSP, MatSolverType h2ulv, log-det, inertia): the matrix's */
  PCH2ULV_USE_KRYLOV  /* a preconditioner inside a Krylov method: -pc_h2ulv_krylov_rtol (never below the matrix's) */
} PCH2ULVUse;
typedef enum {
  PCH2ULV_PRECISION_DOUBLE,
  PCH2ULV_PRECISION_SINGLE
} PCH2ULVPrecision;
/* the GEMMs of single-precision factors on tensor cores (-pc_h2ulv_tensor_cores); see src/core/backend/tensor.hpp */
typedef enum {
  PCH2ULV_TENSOR_OFF,
  PCH2ULV_TENSOR_PLAIN,
  PCH2ULV_TENSOR_CORRECTED
} PCH2ULVTensorCores;

/* The H^2-ULV factorization whatever the precision of its factors (-pc_h2ulv_precision): vectors
   are PetscScalar, and single-precision factors convert at this boundary.  Columns are in the
   factorization's tree order, nt rows each (ld max(nt, 1)); the half space has nh rows. */
class PCH2ULVFactorization {
public:
  virtual ~PCH2ULVFactorization() = default;
  virtual void refactor(double alpha, const std::vector<double> &dshift, bool spdKnown, bool choleskyRequired) = 0;
  virtual void solve(bool transpose, int k, PetscScalar *t, int nt) const                                   = 0;
  virtual void halfSolve(bool backward, int k, PetscScalar *t, int nt, PetscScalar *h, int nh) const        = 0;
  virtual bool hasHalves() const                                                                            = 0;
  virtual std::vector<int> halfIndex() const                                                                = 0;
  virtual const h2ulv::Layout                     &layout() const                                           = 0;
  virtual const h2ulv::UlvStatus                  &status() const                                           = 0;
  virtual const h2ulv::UlvCommStats               &commStats() const                                        = 0;
  virtual const std::vector<h2ulv::UlvLevelStats> &levelStats() const                                       = 0;
  virtual double logAbsDet() const                                                                          = 0;
  virtual int    detSign() const                                                                            = 0;
  virtual bool   hasInertia() const                                                                         = 0;
  virtual bool   negated() const                                                                            = 0;
  virtual void   inertia(long &neg, long &zero, long &pos) const                                            = 0;
  virtual size_t bytes() const                                                                              = 0;
  virtual void   bytesSplit(size_t &factors, size_t &bases, size_t &kernel) const                           = 0;
  virtual double factorFlops() const                                                                        = 0;
  virtual double timeBasis() const                                                                          = 0;
  virtual double timeFactor() const                                                                         = 0;
  virtual double cpuBasis() const                                                                           = 0;
  virtual double cpuFactor() const                                                                          = 0;
  virtual int    rootSize() const                                                                           = 0;
  virtual int    rootLevel() const                                                                          = 0;
  virtual bool   rootForCap() const                                                                         = 0;
  virtual h2ulv::BackendKind backendKind() const                                                            = 0;
  virtual std::string        backendDescription() const                                                     = 0;
  virtual const std::string &backendNote() const                                                            = 0;
};

/* the factorization in double or single precision (throws h2ulv::Error: call through H2ULVCallCore) */
std::unique_ptr<PCH2ULVFactorization> PCH2ULVFactorizationCreate(PCH2ULVPrecision, MPI_Comm, std::shared_ptr<const h2ulv::ClusterTree>, const h2ulv::EntryEvaluator &, const h2ulv::UlvOptions &, double alpha, const std::vector<double> &dshift);

struct PC_H2ULV {
  /* options */
  PetscReal          rtol         = 0; /* 0: the Pmat's tolerance */
  PetscBool          rtolSet      = PETSC_FALSE; /* rtol was given: it wins over the rule by use */
  PetscReal          krylovRtol   = 1e-4;        /* the tolerance inside a Krylov method when rtol was not given */
  PetscReal          theta        = 0; /* admissibility of the factorization's own tree (<0: the Pmat's tree; 0: chosen, PCH2ULVChooseTree_Private) */
  PetscReal          thetaUsed    = 0; /* the admissibility of the last factorization */
  PetscReal          thetaRatio   = -1; /* theta 0: the sampled leaves' dominance ratio it was chosen by (-1: not sampled) */
  PetscInt           leafsize     = 0; /* 0: the Pmat's */
  PetscInt           maxrank      = 0; /* 0: the Pmat's cap */
  PetscInt           nsamples     = 0;
  PCH2ULVFactorType  ftype        = PCH2ULV_FACTOR_AUTO;
  PCH2ULVFillIn      fillin       = PCH2ULV_FILLIN_AUTO;
  PetscReal          keepKernelMB = 2048; /* keep K's near blocks and couplings for refactorizations up to about this */
  PetscReal          fillinWeight = 0.01; /* generator columns scaled to this times ||A_ii||_F (measured: bench/run.py fillin-weight runs) */
  PetscBool          rtolDiagonal = PETSC_TRUE; /* where a cell's block dominates its diagonal, the tolerance also relative to its margin (-pc_h2ulv_rtol_diagonal) */
  PetscReal          fillinSketch = 0;    /* > 0: a Gaussian sketch of each cell's generators, this times its block size columns */
  PCH2ULVSchur       schur        = PCH2ULV_SCHUR_TWOHOP;
  PetscBool          cross        = PETSC_TRUE;  /* -pc_h2ulv_cross_correction: the solve corrects for the dropped redundant couplings of near cells */
  PCH2ULVPrecision   precision    = PCH2ULV_PRECISION_DOUBLE;
  PetscBool          dropped      = PETSC_FALSE;
  PetscBool          monitor      = PETSC_FALSE; /* -pc_h2ulv_monitor: a line per level of the setup */
  PetscInt           maxroot      = 4096; /* dense top block: levels whose skeletons add up to at most this */
  PetscInt           maxrootcapped = 0;   /* ... or at most this, where the next level's bases would reach the rank cap (0: never) */
  PCH2ULVBackendType backend      = PCH2ULV_BACKEND_HOST; /* where the batched dense operations run */
  PetscBool          backendRequired = PETSC_FALSE;       /* error instead of falling back to the host */
  PCH2ULVTensorCores tensor       = PCH2ULV_TENSOR_OFF;   /* single: TF32 tensor-core GEMMs, plain or corrected (emulated on the host) */
  PetscReal          zeropivot    = PETSC_DEFAULT;        /* pivots below this times max |A_ii| are zero (default: 100 eps; 1e-6 for single factors) */
  PetscBool          zeropivotSet = PETSC_FALSE;          /* given by -pc_h2ulv_zeropivot */
  PetscBool          inFactor     = PETSC_FALSE;          /* the engine of MatSolverType h2ulv (PCCHOLESKY/PCLU outside) */
  /* coordinates from PCSetCoordinates (for a dense Pmat) */
  PetscInt               cdim = 0;
  std::vector<PetscReal> coords;
  /* the factorization and what it depends on */
  Mat                                          h2 = NULL;     /* the MATH2 that is factored (the Pmat, or a compressed copy of it) */
  std::shared_ptr<const h2ulv::ClusterTree>    srctree, tree; /* the Pmat's tree; the factorization's tree */
  std::shared_ptr<const h2ulv::EntryEvaluator> srcev, evaluator;
  std::vector<int>                             map; /* factorization tree position -> Pmat tree position (empty: same tree) */
  std::unique_ptr<PCH2ULVFactorization>        fact;
  PetscLogDouble                               t_setup = 0, t_first = 0;
  PetscBool                                    pending = PETSC_FALSE;  /* PCSetUp deferred to the first use (PCPreSolve, an apply, log-det, inertia) */
  PCH2ULVUse                                   use     = PCH2ULV_USE_GIVEN; /* what the factorization was made for */
  PetscReal                                    usedRtol = 0;           /* and its tolerance */
  PetscInt                                     nsetups = 0, nrefactor = 0;
  PetscBool                                    batchLog = PETSC_FALSE; /* the factorization logs its batches' flops (-log_view) */
  /* PCApplySymmetricLeft/Right: my rows of the half space, and the scatter to the global order */
  Vec        halfv  = NULL, halfu = NULL; /* (arrays placed column by column) */
  VecScatter halfsc = NULL;
  PetscInt   ldProbes = 32;          /* -pc_h2ulv_logdet_probes */
  PetscBool  ldView   = PETSC_FALSE; /* -pc_h2ulv_logdet_view */
};

static inline PC_H2ULV *PCH2ULVData(PC pc) { return static_cast<PC_H2ULV *>(pc->data); }

PETSC_INTERN PetscErrorCode PCSetUp_H2ULV(PC);
PETSC_INTERN PetscErrorCode PCPreSolve_H2ULV(PC, KSP, Vec, Vec);
/* the factorization for this use, now (a deferred PCSetUp, or a tight one where a Krylov one was made) */
PETSC_INTERN PetscErrorCode PCH2ULVSetUpFor_Private(PC, PCH2ULVUse);
/* before a direct use (an apply outside a KSP, log-det, inertia): a deferred setup done with the
   matrix's tolerance, or (tight) a factorization made for a Krylov method refactored with it */
PETSC_INTERN PetscErrorCode PCH2ULVSetUpDirect_Private(PC, PetscBool tight);
PETSC_INTERN PetscErrorCode PCApply_H2ULV(PC, Vec, Vec);
PETSC_INTERN PetscErrorCode PCApplyTranspose_H2ULV(PC, Vec, Vec);
PETSC_INTERN PetscErrorCode PCApplySymmetricLeft_H2ULV(PC, Vec, Vec);
PETSC_INTERN PetscErrorCode PCApplySymmetricRight_H2ULV(PC, Vec, Vec);
PETSC_INTERN PetscErrorCode PCMatApply_H2ULV(PC, Mat, Mat);
/* forget the factorization (a changed option): the next PCSetUp builds it anew */
PETSC_INTERN PetscErrorCode PCH2ULVInvalidate_Private(PC);
/* forget the half-space scatter of PCApplySymmetricLeft/Right (it follows the factorization's ranks) */
PETSC_INTERN PetscErrorCode PCH2ULVResetHalves_Private(PC);
