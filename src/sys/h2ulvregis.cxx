// Package registration, all of it: the types MATH2 and PCH2ULV, the MatSolverType h2ulv, the log
// events, and the dynamic-library entry point.
#include "h2ulv.h"
#include "h2ulvimpl.h"

PetscLogEvent MATH2_Tree = 0, MATH2_Basis = 0, MATH2_Values = 0, MATH2_Mult = 0;
PetscLogEvent PCH2ULV_Setup = 0, PCH2ULV_Solve = 0, PCH2ULV_FactComm = 0, PCH2ULV_SolveComm = 0, PCH2ULV_Root = 0, PCH2ULV_Batch[6], PCH2ULV_LogDet = 0;

static PetscBool H2ULVPackageInitialized = PETSC_FALSE;

const char *const MatH2KernelTypes[]        = {"none", "laplace", "yukawa", "gaussian", "exponential", "matern32", "matern52", "imq", "MatH2KernelType", "MATH2_KERNEL_", NULL};
const char *const MatH2StorageTypes[]        = {"auto", "stored", "jit", "MatH2StorageType", "MATH2_STORAGE_", NULL};
const char *const MatH2AdmissibilityTypes[] = {"theta", "eta", "MatH2AdmissibilityType", "MATH2_ADMISSIBILITY_", NULL};

/*@C
   H2ULVFinalizePackage - resets the h2ulv package, so that it is registered again after a new PetscInitialize()

   Not Collective

   Notes:
   Registered with PetscRegisterFinalize() by H2ULVInitializePackage(); users do not call it.

   Level: developer

.seealso: H2ULVInitializePackage()
@*/
PetscErrorCode H2ULVFinalizePackage(void)
{
  PetscFunctionBegin;
  H2ULVPackageInitialized = PETSC_FALSE;
  PetscFunctionReturn(0);
}

/*@C
   H2ULVInitializePackage - registers MATH2 ("h2"), PCH2ULV ("h2ulv"), the MatSolverType h2ulv and the log events of h2ulv

   Not Collective

   Notes:
   Called by every public constructor of the library, and by PETSc when the library is loaded with
   -dll_append <path>/libh2ulv.so. A program whose first h2ulv call is MatSetType(A, MATH2) or
   PCSetType(pc, PCH2ULV) calls it after PetscInitialize(). Calling it more than once is harmless.

   Level: beginner

.seealso: H2ULVFinalizePackage(), PetscDLLibraryRegister_h2ulv()
@*/
PetscErrorCode H2ULVInitializePackage(void)
{
  PetscFunctionBegin;
  if (H2ULVPackageInitialized) PetscFunctionReturn(0);
  H2ULVPackageInitialized = PETSC_TRUE;
  PetscCall(MatInitializePackage());
  PetscCall(PCInitializePackage());
  PetscCall(MatRegister(MATH2, MatCreate_H2));
  PetscCall(PCRegister(PCH2ULV, PCCreate_H2ULV));
  for (MatType t : {MATH2, MATSEQDENSE, MATMPIDENSE}) {
    PetscCall(MatSolverTypeRegister(MATSOLVERH2ULV, t, MAT_FACTOR_CHOLESKY, MatGetFactor_H2ULV));
    PetscCall(MatSolverTypeRegister(MATSOLVERH2ULV, t, MAT_FACTOR_LU, MatGetFactor_H2ULV));
  }
  {
    const struct {
      const char    *name;
      PetscClassId   cls;
      PetscLogEvent *ev;
    } events[] = {
      {"MatH2Tree", MAT_CLASSID, &MATH2_Tree},
      {"MatH2Basis", MAT_CLASSID, &MATH2_Basis},
      {"MatH2Values", MAT_CLASSID, &MATH2_Values},
      {"MatH2Mult", MAT_CLASSID, &MATH2_Mult},
      {"PCH2ULVSetup", PC_CLASSID, &PCH2ULV_Setup},
      {"PCH2ULVSolve", PC_CLASSID, &PCH2ULV_Solve},
      {"PCH2ULVFactComm", PC_CLASSID, &PCH2ULV_FactComm},
      {"PCH2ULVSolveComm", PC_CLASSID, &PCH2ULV_SolveComm},
      {"PCH2ULVRoot", PC_CLASSID, &PCH2ULV_Root},
      {"PCH2ULVBatGemm", PC_CLASSID, &PCH2ULV_Batch[0]},
      {"PCH2ULVBatTrsm", PC_CLASSID, &PCH2ULV_Batch[1]},
      {"PCH2ULVBatPotrf", PC_CLASSID, &PCH2ULV_Batch[2]},
      {"PCH2ULVBatGetrf", PC_CLASSID, &PCH2ULV_Batch[3]},
      {"PCH2ULVBatGetrs", PC_CLASSID, &PCH2ULV_Batch[4]},
      {"PCH2ULVBatCopy", PC_CLASSID, &PCH2ULV_Batch[5]},
      {"PCH2ULVLogDet", PC_CLASSID, &PCH2ULV_LogDet},
    };
    for (const auto &e : events) PetscCall(PetscLogEventRegister(e.name, e.cls, e.ev));
  }
  PetscCall(PetscRegisterFinalize(H2ULVFinalizePackage));
  PetscFunctionReturn(0);
}

/*@C
   PetscDLLibraryRegister_h2ulv - the entry point PETSc calls when it loads libh2ulv.so with -dll_append

   Not Collective

   Notes:
   Calls H2ULVInitializePackage(). The path given to -dll_append must contain a '/'.

   Level: developer

.seealso: H2ULVInitializePackage()
@*/
PETSC_EXTERN PetscErrorCode PetscDLLibraryRegister_h2ulv(void)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscFunctionReturn(0);
}
