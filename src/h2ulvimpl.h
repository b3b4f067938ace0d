// Private declarations shared by the PETSc-facing layer of h2ulv.
#pragma once

#include "h2ulv.h"
#include "core/dense.hpp"

#include <exception>
#include <functional>
#include <new>

PETSC_INTERN PetscErrorCode MatCreate_H2(Mat);
PETSC_INTERN PetscErrorCode H2ULVRegisterPC_Private(void);
PETSC_INTERN PetscErrorCode H2ULVRegisterSolverType_Private(void);
/* the factor Mat's PCH2ULV: lu = LU pivots everywhere, else auto (Cholesky, LU where not SPD) */
PETSC_INTERN PetscErrorCode PCH2ULVSetFactorization_Private(PC, PetscBool lu);
PETSC_INTERN PetscErrorCode PCH2ULVSetFactorZeroPivot_Private(PC, PetscReal zeropivot);

/* Run a piece of the C++ core; turn its exceptions into PETSc errors.  Collective variant: every
   process learns whether any process failed, so no process is left waiting in a collective. */
PETSC_INTERN PetscErrorCode H2ULVCallCore(MPI_Comm comm, PetscBool collective, const std::function<void()> &f);

