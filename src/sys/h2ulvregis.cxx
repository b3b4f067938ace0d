// Package registration: types, log events, and the dynamic-library entry point.
#include "h2ulv.h"
#include "h2ulvimpl.h"

PetscLogEvent MATH2_Tree = 0, MATH2_Basis = 0, MATH2_Values = 0, MATH2_Mult = 0;

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
  PetscCall(MatRegister(MATH2, MatCreate_H2));
  PetscCall(PetscLogEventRegister("MatH2Tree", MAT_CLASSID, &MATH2_Tree));
  PetscCall(PetscLogEventRegister("MatH2Basis", MAT_CLASSID, &MATH2_Basis));
  PetscCall(PetscLogEventRegister("MatH2Values", MAT_CLASSID, &MATH2_Values));
  PetscCall(PetscLogEventRegister("MatH2Mult", MAT_CLASSID, &MATH2_Mult));
  PetscCall(H2ULVRegisterPC_Private());
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
