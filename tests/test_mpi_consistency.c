/* MATH2 on P processes gives the same products as on one process (to 1e-12 relative):
   the matrix is built on PETSC_COMM_WORLD and, independently, on PETSC_COMM_SELF on every process
   with the whole point set; a deterministic x is applied to both, on every standard problem. */
#include <h2ulv.h>

int main(int argc, char **argv)
{
  PetscInt    N = 4096, nfail = 0;
  PetscReal   tolagree = 1e-12;
  PetscMPIInt rank;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2: P processes vs one process"));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-agree", &tolagree, NULL));
  for (PetscInt p = 0; H2ULVProblemNames[p]; p++) {
    H2ULVProblem prob;
    Mat          A, A1;
    Vec          x, y, x1, y1, yall;
    VecScatter   sc;
    PetscInt     rs, re;
    PetscReal    err[2], nrm;

    PetscCall(H2ULVProblemCreate(H2ULVProblemNames[p], N, 0, &prob));
    PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
    PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_SELF, N, &A1));
    PetscCall(MatCreateVecs(A, &x, &y));
    PetscCall(MatCreateVecs(A1, &x1, &y1));
    PetscCall(VecGetOwnershipRange(x, &rs, &re));
    for (PetscInt i = rs; i < re; i++) PetscCall(VecSetValue(x, i, PetscSinReal(0.37 * i) + 0.1, INSERT_VALUES));
    for (PetscInt i = 0; i < N; i++) PetscCall(VecSetValue(x1, i, PetscSinReal(0.37 * i) + 0.1, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(x));
    PetscCall(VecAssemblyEnd(x));
    PetscCall(VecAssemblyBegin(x1));
    PetscCall(VecAssemblyEnd(x1));
    PetscCall(VecScatterCreateToAll(y, &sc, &yall));
    for (PetscInt t = 0; t < 2; t++) {
      if (t == 0) {
        PetscCall(MatMult(A, x, y));
        PetscCall(MatMult(A1, x1, y1));
      } else {
        PetscCall(MatMultTranspose(A, x, y));
        PetscCall(MatMultTranspose(A1, x1, y1));
      }
      PetscCall(VecScatterBegin(sc, y, yall, INSERT_VALUES, SCATTER_FORWARD));
      PetscCall(VecScatterEnd(sc, y, yall, INSERT_VALUES, SCATTER_FORWARD));
      PetscCall(VecNorm(y1, NORM_2, &nrm));
      PetscCall(VecAXPY(yall, -1.0, y1));
      PetscCall(VecNorm(yall, NORM_2, &err[t]));
      err[t] /= nrm;
    }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-18s N=%" PetscInt_FMT ": P processes vs 1: MatMult %.2e, MatMultTranspose %.2e\n", H2ULVProblemNames[p], N, (double)err[0], (double)err[1]));
    {
      PetscReal e = PetscMax(err[0], err[1]), emax;
      PetscCall(MPIU_Allreduce(&e, &emax, 1, MPIU_REAL, MPI_MAX, PETSC_COMM_WORLD));
      if (emax > tolagree) nfail++;
    }
    PetscCall(VecScatterDestroy(&sc));
    PetscCall(VecDestroy(&yall));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&y));
    PetscCall(VecDestroy(&x1));
    PetscCall(VecDestroy(&y1));
    PetscCall(MatDestroy(&A));
    PetscCall(MatDestroy(&A1));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  PetscCheck(nfail == 0, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: %" PetscInt_FMT " problem(s) differ from the one-process result by more than %g", nfail, (double)tolagree);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(PetscFinalize());
  return 0;
}
