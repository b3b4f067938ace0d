/* Matvec accuracy of MATH2 against PETSc MATDENSE (LAPACK) on a standard problem:
     ||A_H2 x - A x|| / ||A x|| <= factor * rtol   (and the same for MatMultTranspose, MatMatMult)
   Options: -problem <name> -n <N> -mat_h2_rtol <tol> -factor <10> -nvec <3>
            -offdiag: zero the diagonal of both matrices first (MatDiagonalSet), so the error is measured
                      on the off-diagonal part (sc22-sphere: its -1e6 diagonal hides kernel errors) */
#include <h2ulv.h>

int main(int argc, char **argv)
{
  char         name[64] = "sphere-laplace";
  PetscInt     N = 2048, nvec = 3;
  PetscReal    factor = 10, rtol = 1e-8, worst = 0;
  H2ULVProblem prob;
  Mat          A, D, X, Y1, Y2;
  Vec          x, y1, y2;
  PetscRandom  rnd;
  PetscBool    sym, offdiag = PETSC_FALSE;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2 matvec accuracy test"));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nvec", &nvec, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-factor", &factor, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-offdiag", &offdiag, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-mat_h2_rtol", &rtol, NULL));
  PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
  PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
  PetscCall(MatViewFromOptions(A, NULL, "-view"));

  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetFromOptions(rnd));
  PetscCall(MatCreateVecs(A, &x, &y1));
  PetscCall(VecDuplicate(y1, &y2));
  if (offdiag) {
    Vec z;
    PetscCall(VecDuplicate(y1, &z));
    PetscCall(VecSet(z, 0.0));
    PetscCall(MatDiagonalSet(A, z, INSERT_VALUES));
    PetscCall(MatDiagonalSet(D, z, INSERT_VALUES));
    PetscCall(VecDestroy(&z));
  }
  for (PetscInt t = 0; t < 2; t++) {
    PetscReal e, nr;
    PetscCall(VecSetRandom(x, rnd));
    PetscCall(VecShift(x, -0.5));
    if (t == 0) {
      PetscCall(MatMult(A, x, y1));
      PetscCall(MatMult(D, x, y2));
    } else {
      PetscCall(MatMultTranspose(A, x, y1));
      PetscCall(MatMultTranspose(D, x, y2));
    }
    PetscCall(VecNorm(y2, NORM_2, &nr));
    PetscCall(VecAXPY(y1, -1.0, y2));
    PetscCall(VecNorm(y1, NORM_2, &e));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT " rtol=%g %s relative error %.3e\n", name, N, (double)rtol, t ? "MatMultTranspose" : "MatMult", (double)(e / nr)));
    worst = PetscMax(worst, e / nr);
  }
  /* blocks of vectors */
  {
    PetscInt nl;
    PetscCall(MatGetLocalSize(A, NULL, &nl));
    PetscCall(MatCreateDense(PETSC_COMM_WORLD, nl, PETSC_DECIDE, N, nvec, NULL, &X));
  }
  PetscCall(MatSetRandom(X, rnd));
  PetscCall(MatMatMult(A, X, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Y1));
  PetscCall(MatMatMult(D, X, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Y2));
  {
    PetscReal e, nr;
    PetscCall(MatNorm(Y2, NORM_FROBENIUS, &nr));
    PetscCall(MatAXPY(Y1, -1.0, Y2, SAME_NONZERO_PATTERN));
    PetscCall(MatNorm(Y1, NORM_FROBENIUS, &e));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT " MatMatMult (%" PetscInt_FMT " vectors) relative error %.3e\n", name, N, nvec, (double)(e / nr)));
    worst = PetscMax(worst, e / nr);
  }
  PetscCheck(worst <= factor * rtol, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: error %.3e exceeds %g x rtol = %.3e", (double)worst, (double)factor, (double)(factor * rtol));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(MatDestroy(&X));
  PetscCall(MatDestroy(&Y1));
  PetscCall(MatDestroy(&Y2));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y1));
  PetscCall(VecDestroy(&y2));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(PetscFinalize());
  return 0;
}
