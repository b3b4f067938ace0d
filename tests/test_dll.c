/* A PETSc program that is NOT linked against libh2ulv: the plugin is loaded at run time with
   -dll_append <path>/libh2ulv.so and selected with -mat_type h2 -mat_h2_kernel gaussian.  The
   coordinates reach the matrix through the composed function "MatH2SetCoordinates_C".  The product
   is checked against a dense Gaussian kernel matrix assembled here. */
#include <petscmat.h>

typedef PetscErrorCode (*SetCoordsFn)(Mat, PetscInt, const PetscReal[]);

int main(int argc, char **argv)
{
  PetscInt    N = 1500, rs, re;
  PetscReal  *xyz, len = 0.3, err, nrm;
  Mat         A, D;
  Vec         x, y1, y2;
  SetCoordsFn setcoords = NULL;
  PetscBool   ish2;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2 through -dll_append"));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-mat_h2_kernel_length", &len, NULL));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &A));
  PetscCall(MatSetSizes(A, PETSC_DECIDE, PETSC_DECIDE, N, N));
  PetscCall(MatSetFromOptions(A));
  PetscCall(PetscObjectTypeCompare((PetscObject)A, "h2", &ish2));
  PetscCheck(ish2, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: -mat_type h2 did not give an h2 matrix (is -dll_append given?)");
  PetscCall(MatSetUp(A));
  PetscCall(MatGetOwnershipRange(A, &rs, &re));
  PetscCall(PetscMalloc1(3 * N, &xyz));
  for (PetscInt i = 0; i < N; i++) { /* points on a helix-like curve filling a box */
    xyz[3 * i]     = PetscCosReal(0.1 * i) * (1 + 0.3 * PetscSinReal(0.013 * i));
    xyz[3 * i + 1] = PetscSinReal(0.1 * i) * (1 + 0.3 * PetscSinReal(0.013 * i));
    xyz[3 * i + 2] = (PetscReal)i / N;
  }
  PetscCall(PetscObjectQueryFunction((PetscObject)A, "MatH2SetCoordinates_C", &setcoords));
  PetscCheck(setcoords, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: MatH2SetCoordinates_C is not composed");
  PetscCall((*setcoords)(A, 3, xyz + 3 * rs));
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));

  PetscCall(MatCreateDense(PETSC_COMM_WORLD, re - rs, PETSC_DECIDE, N, N, NULL, &D));
  for (PetscInt i = rs; i < re; i++)
    for (PetscInt j = 0; j < N; j++) {
      PetscReal r2 = 0;
      for (int d = 0; d < 3; d++) r2 += (xyz[3 * i + d] - xyz[3 * j + d]) * (xyz[3 * i + d] - xyz[3 * j + d]);
      PetscCall(MatSetValue(D, i, j, PetscExpReal(-r2 / (len * len)), INSERT_VALUES));
    }
  PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatCreateVecs(A, &x, &y1));
  PetscCall(VecDuplicate(y1, &y2));
  for (PetscInt i = rs; i < re; i++) PetscCall(VecSetValue(x, i, PetscCosReal(1.7 * i), INSERT_VALUES));
  PetscCall(VecAssemblyBegin(x));
  PetscCall(VecAssemblyEnd(x));
  PetscCall(MatMult(A, x, y1));
  PetscCall(MatMult(D, x, y2));
  PetscCall(VecNorm(y2, NORM_2, &nrm));
  PetscCall(VecAXPY(y1, -1.0, y2));
  PetscCall(VecNorm(y1, NORM_2, &err));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "MATH2 loaded with -dll_append: relative matvec error %.3e\n", (double)(err / nrm)));
  PetscCheck(err / nrm < 1e-6, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: error too large");
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(PetscFree(xyz));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y1));
  PetscCall(VecDestroy(&y2));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscCall(PetscFinalize());
  return 0;
}
