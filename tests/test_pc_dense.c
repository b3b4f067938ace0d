/* An existing PETSc program: a dense (MATDENSE) kernel matrix, the points given with the standard
   PCSetCoordinates(), and -pc_type h2ulv from the options (with -dll_append this needs no code
   change).  With -no_coordinates the points stay hidden: the cluster tree comes from the entries.
   The KSP solution is checked against PETSc's own dense LAPACK solve (ScaLAPACK on several processes). */
#include <petscksp.h>

int main(int argc, char **argv)
{
  PetscInt    N = 2048, rs, re, its;
  PetscReal  *xyz, err, nrm, maxerr = 1e-6, len = 0.4;
  Mat         D, Dr = NULL;
  Vec         b, x, xd;
  PetscMPIInt size;
  KSP         ksp, kd;
  PC          pc, pd;
  PetscBool   nocoords = PETSC_FALSE;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "PCH2ULV with a dense matrix and PCSetCoordinates"));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err", &maxerr, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-no_coordinates", &nocoords, NULL));
  PetscCall(PetscMalloc1(3 * N, &xyz));
  for (PetscInt i = 0; i < N; i++) { /* a jittered 3-D lattice in the unit cube */
    PetscInt s = (PetscInt)PetscCeilReal(PetscPowReal((PetscReal)N, 1.0 / 3.0));
    xyz[3 * i]     = ((i % s) + 0.3 * PetscSinReal(1.7 * i)) / s;
    xyz[3 * i + 1] = (((i / s) % s) + 0.3 * PetscCosReal(2.3 * i)) / s;
    xyz[3 * i + 2] = ((i / (s * s)) + 0.3 * PetscSinReal(0.9 * i)) / s;
  }
  /* exponential covariance + nugget: SPD */
  PetscCall(MatCreateDense(PETSC_COMM_WORLD, PETSC_DECIDE, PETSC_DECIDE, N, N, NULL, &D));
  PetscCall(MatGetOwnershipRange(D, &rs, &re));
  for (PetscInt i = rs; i < re; i++)
    for (PetscInt j = 0; j < N; j++) {
      PetscReal r2 = 0;
      for (int d = 0; d < 3; d++) r2 += (xyz[3 * i + d] - xyz[3 * j + d]) * (xyz[3 * i + d] - xyz[3 * j + d]);
      PetscCall(MatSetValue(D, i, j, PetscExpReal(-PetscSqrtReal(r2) / len) + (i == j ? 0.1 : 0.0), INSERT_VALUES));
    }
  PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatSetOption(D, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatCreateVecs(D, &x, &b));
  PetscCall(VecDuplicate(x, &xd));
  for (PetscInt i = rs; i < re; i++) PetscCall(VecSetValue(b, i, PetscCosReal(0.37 * i), INSERT_VALUES));
  PetscCall(VecAssemblyBegin(b));
  PetscCall(VecAssemblyEnd(b));

  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, D, D));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(KSPSetFromOptions(ksp)); /* -pc_type h2ulv -ksp_type ... */
  if (!nocoords) PetscCall(PCSetCoordinates(pc, 3, re - rs, xyz + 3 * rs));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetIterationNumber(ksp, &its));

  /* the reference: LAPACK on one process, ScaLAPACK on several (named: MATMPIDENSE has no factorization
     of PETSc's own, and the default would be whichever package registered one, h2ulv's included) */
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  if (size > 1) PetscCall(MatConvert(D, MATSCALAPACK, MAT_INITIAL_MATRIX, &Dr));
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &kd));
  PetscCall(KSPSetOperators(kd, Dr ? Dr : D, Dr ? Dr : D));
  PetscCall(KSPSetType(kd, KSPPREONLY));
  PetscCall(KSPGetPC(kd, &pd));
  PetscCall(PCSetType(pd, PCCHOLESKY));
  PetscCall(PCFactorSetMatSolverType(pd, size > 1 ? MATSOLVERSCALAPACK : MATSOLVERPETSC));
  PetscCall(KSPSolve(kd, b, xd));
  PetscCall(VecNorm(xd, NORM_2, &nrm));
  PetscCall(VecAXPY(xd, -1.0, x));
  PetscCall(VecNorm(xd, NORM_2, &err));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "dense Pmat + %s: %" PetscInt_FMT " iterations, ||x - x_lapack|| / ||x_lapack|| = %.3e\n", nocoords ? "no coordinates" : "PCSetCoordinates", its, (double)(err / nrm)));
  PetscCheck(err / nrm <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: error above %g", (double)maxerr);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(KSPDestroy(&kd));
  PetscCall(MatDestroy(&Dr));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&xd));
  PetscCall(VecDestroy(&b));
  PetscCall(MatDestroy(&D));
  PetscCall(PetscFree(xyz));
  PetscCall(PetscFinalize());
  return 0;
}
