// MATH2 private header: the implementation struct behind A->data.
#pragma once

#include <petsc/private/matimpl.h>
#include "h2ulvimpl.h"
#include "core/entries.hpp"
#include "core/h2matrix.hpp"
#include "core/tree.hpp"

#include <memory>
#include <vector>

struct Mat_H2 {
  /* construction parameters (options database: -mat_h2_*) */
  PetscInt               leafsize  = 128;
  PetscReal              rtol      = 1e-8;
  PetscInt               maxrank   = 512;
  PetscInt               nsamples  = 0; /* 0: automatic, 500 per digit of rtol */
  MatH2AdmissibilityType adm       = MATH2_ADMISSIBILITY_THETA;
  PetscReal              theta     = 2.0;
  PetscReal              eta       = 1.0;
  PetscInt               threads   = 0;
  MatH2StorageType       storage   = MATH2_STORAGE_AUTO;
  PetscReal              memlimit  = 0; /* MB per process for stored values under auto; 0: half the physical memory / processes */
  PetscBool              jit       = PETSC_FALSE; /* the values of the built matrix are computed on the fly */
  PetscBool3             cbthreads = PETSC_BOOL3_UNKNOWN; /* user callbacks may run on several threads (unknown: MatH2SetKernel's yes, MatH2SetEntries' no) */
  PetscBool              symmetric_opt = PETSC_FALSE, symmetric_set = PETSC_FALSE;
  PetscBool              monitor   = PETSC_FALSE; /* -mat_h2_monitor: a line per level of the bases */
  PetscInt               checkrows = -1; /* rows whose product is checked against the exact entries after the build (-1: 16 when -mat_h2_samples is below the automatic count, else none) */
  PetscReal              checkerr  = -1; /* the error measured on them (relative, 2-norm); -1: not measured */
  MatH2GeometryType      geometry  = MATH2_GEOMETRY_AUTO; /* -mat_h2_geometry; -mat_h2_neighbors: k of the tree from the entries */
  PetscInt               neighbors = 32;
  PetscBool              defer     = PETSC_TRUE; /* -mat_h2_defer: MatAssemblyEnd() builds the tree; the bases and values wait for their first use */

  /* built-in kernel */
  MatH2KernelType kernel  = MATH2_KERNEL_NONE;
  PetscReal       kscale  = 1.0, kparam = 1.0, kdiag = PETSC_DEFAULT, knugget = 0.0;
  PetscBool       kdiag_set = PETSC_FALSE;

  /* user input */
  PetscInt               dim = 0;
  std::vector<PetscReal> coords; /* local points, user order */
  PetscBool              coords_set = PETSC_FALSE;
  MatH2KernelFn          kfn  = nullptr;
  void                  *kctx = nullptr;
  MatH2EntriesFn         efn  = nullptr;
  MatH2KernelBlockFn     kbfn = nullptr; /* a point kernel by blocks (MatH2SetKernelBlock) */
  void                  *kbctx = nullptr;
  void                  *ectx = nullptr;
  std::shared_ptr<std::vector<double>> dense; /* MatConvert from a dense matrix: all entries, column-major */

  /* built representation; tree, evaluator and bases are shared with duplicates */
  std::shared_ptr<h2ulv::ClusterTree>           tree;
  std::shared_ptr<const h2ulv::EntryEvaluator>  evaluator;
  std::shared_ptr<const h2ulv::H2Structure>     structure;
  h2ulv::H2Values<double>                       values;
  PetscSF                                       sf = nullptr; /* roots: user layout; leaves: local tree order */
  PetscInt                                      ntree = 0;    /* this process's points in tree order (the leaves of sf) */
  PetscBool                                     deferred = PETSC_FALSE; /* assembled (tree, entries, sf) but the bases and values not built yet */
  PetscBool                                     symmetric = PETSC_FALSE;
  PetscLogDouble                                multflops = 0;
  /* the values are alpha K + diag(dshift) with K the entries of the evaluator (tracked through
     MatShift/MatDiagonalSet/MatScale/MatAXPY/MatCopy/MatZeroEntries, for the factorization) */
  PetscScalar                                   alpha = 1.0;
  std::vector<double>                           dshift; /* local tree order; empty = 0 */
  PetscLogDouble                                t_tree = 0, t_basis = 0, t_values = 0, t_load = 0; /* t_load: MatLoad() from a file */
};

/* the far-field sample cap when none is given: 500 per digit of the tolerance, at least 1000 */
static inline PetscInt MatH2AutoSamples_Private(PetscReal rtol) { return PetscMax(1000, (PetscInt)(500 * PetscCeilReal(-PetscLog10Real(rtol)))); }

/* the core's tree and basis options from the matrix's parameters */
static inline h2ulv::TreeOptions MatH2TreeOptions_Private(const Mat_H2 *h)
{
  h2ulv::TreeOptions t;
  t.leafsize = (int)h->leafsize;
  t.adm      = h->adm == MATH2_ADMISSIBILITY_THETA ? h2ulv::Admissibility::Theta : h2ulv::Admissibility::Eta;
  t.admparam = h->adm == MATH2_ADMISSIBILITY_THETA ? h->theta : h->eta;
  return t;
}
static inline h2ulv::BuildOptions MatH2BuildOptions_Private(const Mat_H2 *h)
{
  h2ulv::BuildOptions b;
  b.rtol      = h->rtol;
  b.maxrank   = (int)h->maxrank;
  b.nsamples  = (int)(h->nsamples > 0 ? h->nsamples : MatH2AutoSamples_Private(h->rtol));
  b.symmetric = h->symmetric;
  return b;
}

static inline Mat_H2 *H2(Mat A) { return static_cast<Mat_H2 *>(A->data); }

/* math2.cxx: the type, its setters and getters */
PETSC_INTERN PetscErrorCode MatH2ResetBuilt_Private(Mat);
PETSC_INTERN PetscErrorCode MatH2CheckBuilt_Private(Mat);
PETSC_INTERN PetscErrorCode MatH2SymmetrizeBuilt_Private(Mat);
PETSC_INTERN PetscErrorCode MatH2SetCoordinates_H2(Mat, PetscInt, const PetscReal[]);
PETSC_INTERN PetscErrorCode MatH2GetMemory_H2(Mat, PetscLogDouble *);
PETSC_INTERN PetscErrorCode MatSetFromOptions_H2(Mat, PetscOptionItems *);

/* math2build.cxx: the construction */
PETSC_INTERN PetscErrorCode MatAssemblyEnd_H2(Mat, MatAssemblyType);
PETSC_INTERN PetscErrorCode MatH2SetGeometry_H2(Mat, MatH2GeometryType, PetscInt);
PETSC_INTERN PetscErrorCode MatH2GeometryFromOptions_Private(Mat, PetscOptionItems *, PetscBool *);
PETSC_INTERN PetscErrorCode MatH2GeometryView_Private(Mat, PetscViewer);
PETSC_INTERN void           MatH2CreateEvaluator_Private(Mat_H2 *); /* throws */
PETSC_INTERN PetscErrorCode MatH2BuildSF_Private(Mat);
PETSC_INTERN PetscErrorCode MatH2BuildDeferred_Private(Mat);
PETSC_INTERN PetscErrorCode MatH2ResolveSymmetry_Private(Mat);

/* math2io.cxx: the matrix in PETSc binary files */
PETSC_INTERN PetscErrorCode MatView_H2_Binary(Mat, PetscViewer);
PETSC_INTERN PetscErrorCode MatLoad_H2(Mat, PetscViewer);

/* math2ops.cxx: the operations (the ops table of MatCreate_H2) */
PETSC_INTERN PetscErrorCode MatH2Apply_Private(Mat, PetscBool, PetscInt, const PetscScalar *, PetscInt, PetscScalar *, PetscInt, PetscBool);
PETSC_INTERN PetscErrorCode MatMult_H2(Mat, Vec, Vec);
PETSC_INTERN PetscErrorCode MatMultTranspose_H2(Mat, Vec, Vec);
PETSC_INTERN PetscErrorCode MatMultAdd_H2(Mat, Vec, Vec, Vec);
PETSC_INTERN PetscErrorCode MatMultTransposeAdd_H2(Mat, Vec, Vec, Vec);
PETSC_INTERN PetscErrorCode MatProductSetFromOptions_H2_Dense(Mat);
PETSC_INTERN PetscErrorCode MatGetDiagonal_H2(Mat, Vec);
PETSC_INTERN PetscErrorCode MatShift_H2(Mat, PetscScalar);
PETSC_INTERN PetscErrorCode MatDiagonalSet_H2(Mat, Vec, InsertMode);
PETSC_INTERN PetscErrorCode MatScale_H2(Mat, PetscScalar);
PETSC_INTERN PetscErrorCode MatAXPY_H2(Mat, PetscScalar, Mat, MatStructure);
PETSC_INTERN PetscErrorCode MatDuplicate_H2(Mat, MatDuplicateOption, Mat *);
PETSC_INTERN PetscErrorCode MatCopy_H2(Mat, Mat, MatStructure);
PETSC_INTERN PetscErrorCode MatZeroEntries_H2(Mat);
PETSC_INTERN PetscErrorCode MatNorm_H2(Mat, NormType, PetscReal *);
PETSC_INTERN PetscErrorCode MatConvert_H2(Mat, MatType, MatReuse, Mat *);
PETSC_INTERN PetscErrorCode MatConvert_Dense_H2(Mat, MatType, MatReuse, Mat *);
PETSC_INTERN PetscErrorCode MatGetRow_H2(Mat, PetscInt, PetscInt *, PetscInt **, PetscScalar **);

/* the pieces the PC reuses */
PETSC_INTERN PetscErrorCode MatH2GetStructure_Private(Mat, Mat_H2 **);
PETSC_INTERN PetscBool      MatH2KernelIsSPD_Private(const Mat_H2 *);
PETSC_INTERN PetscErrorCode MatH2ToTree_Private(Mat, const PetscScalar *user, PetscScalar *tree, PetscInt k, PetscInt ldu);
PETSC_INTERN PetscErrorCode MatH2FromTree_Private(Mat, const PetscScalar *tree, PetscScalar *user, PetscInt k, PetscInt ldu);

/* before the bases of a large MATH2: their memory estimated from a pilot build on a subsample of the
   points, and refused up front when it cannot fit (math2pilot.cxx) */
PETSC_INTERN PetscErrorCode MatH2CheckMemoryPilot_Private(Mat);
/* the bytes per process the stored values may take under -mat_h2_storage auto: -mat_h2_memory_limit,
   else half the physical memory shared by the processes; the smallest over the processes (collective) */
PETSC_INTERN PetscErrorCode MatH2StoredValuesLimit_Private(Mat, PetscLogDouble *);
