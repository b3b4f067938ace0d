// Private declarations shared by the PETSc-facing layer of h2ulv.
#pragma once

#include "h2ulv.h"
#include "core/dense.hpp"

#include <exception>
#include <functional>
#include <new>

/* what H2ULVInitializePackage() registers (src/sys/h2ulvregis.cxx) */
PETSC_INTERN PetscErrorCode MatCreate_H2(Mat);
PETSC_INTERN PetscErrorCode PCCreate_H2ULV(PC);
PETSC_INTERN PetscErrorCode MatGetFactor_H2ULV(Mat, MatFactorType, Mat *);
/* the private log events (MATH2_* and PCH2ULV_Setup/Solve are public, in h2ulv.h): the core's
   communication and dense root, each kind of batched operation (h2ulv::BatchOp order), the
   stochastic Lanczos log-determinant correction */
PETSC_INTERN PetscLogEvent PCH2ULV_FactComm, PCH2ULV_SolveComm, PCH2ULV_Root, PCH2ULV_Batch[6], PCH2ULV_LogDet;
/* the factor Mat's PCH2ULV: lu = LU pivots everywhere, else auto (Cholesky, LU where not SPD) */
PETSC_INTERN PetscErrorCode PCH2ULVSetFactorization_Private(PC, PetscBool lu);
PETSC_INTERN PetscErrorCode PCH2ULVSetFactorZeroPivot_Private(PC, PetscReal zeropivot);
/* stochastic Lanczos estimate of log det A - log det P (h2ulvlogdet.cxx); after a setup: forget the
   last one, and with view estimate it with nprobes probes and print it; PCView: the last one */
PETSC_INTERN PetscErrorCode PCH2ULVLogDetSLQ_Private(PC, PetscInt nprobes, PetscInt maxits, PetscReal *corr, PetscReal *se);
PETSC_INTERN PetscErrorCode PCH2ULVLogDetSetUp_Private(PC, PetscBool view, PetscInt nprobes);
PETSC_INTERN PetscErrorCode PCH2ULVLogDetView_Private(PC, PetscViewer);
/* PCApplySymmetricRight (right) or PCApplySymmetricLeft of PCH2ULV on k columns, user layout (ld: local rows) */
PETSC_INTERN PetscErrorCode PCH2ULVApplySymmetricHalf_Private(PC, PetscBool right, PetscInt k, const PetscScalar *x, PetscScalar *y);

/* Run a piece of the C++ core; turn its exceptions into PETSc errors.  Collective variant: every
   process learns whether any process failed, so no process is left waiting in a collective. */
PETSC_INTERN PetscErrorCode H2ULVCallCore(MPI_Comm comm, PetscBool collective, const std::function<void()> &f);


/* A parameter that must have the same value on every process, by the option that sets it */
typedef struct {
  const char *name;
  double      value;
} H2ULVParam;
/* Collective: an error naming the first parameter that differs between the processes, and where */
PETSC_INTERN PetscErrorCode H2ULVCheckSame_Private(MPI_Comm comm, const char *what, PetscInt n, const H2ULVParam params[]);
/* Collective: PETSC_ERR_MEM when some process needs more than the bytes it can still allocate
   (need: this process's bytes; what: the object; advice: the options or steps that reduce it) */
PETSC_INTERN PetscErrorCode H2ULVCheckMemory_Private(MPI_Comm comm, double need, const char *what, const char *advice);
/* Progress of a level-by-level stage (-mat_h2_monitor, -pc_h2ulv_monitor): level l of L..1 starts
   now; t0 is the stage's start (PetscTime).  Collective; errors are ignored (called from the core). */
PETSC_INTERN void H2ULVMonitorLevel_Private(MPI_Comm comm, const char *what, int l, int L, PetscLogDouble t0);
/* Collective (the node's processes): the bytes this process can still allocate */
PETSC_INTERN PetscErrorCode H2ULVAvailableBytes_Private(MPI_Comm comm, double *bytes);
