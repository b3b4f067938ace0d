static const char help[] = "Solve a dense 3-D kernel system A x = b with MATH2 (-mat_type h2) and any PETSc KSP/PC.\n\
  -problem <sphere-laplace>  one of sphere-laplace, cube-yukawa, ball-matern, cube-gaussian, sc22-sphere, sphere-laplace-ns\n\
  -n <8192>                  number of points\n\
  -check <1>                 compare with PETSc MATDENSE (LAPACK products) when N <= 16384\n\
The right-hand side is b = A x_true with x_true a seeded random vector, A the exact dense matrix\n\
(or the H2 operator itself when N is too large for a dense reference).\n";

#include <h2ulv.h>

int main(int argc, char **argv)
{
  char           name[64] = "sphere-laplace";
  PetscInt       N = 8192, its;
  PetscBool      check = PETSC_TRUE;
  H2ULVProblem   prob;
  Mat            A, D = NULL;
  Vec            x, xt, b, r;
  KSP            ksp;
  PetscRandom    rnd;
  PetscLogDouble t0, t1, t2, t3, mem;
  PetscReal      errx, res, nb, nx;
  KSPConvergedReason reason;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(H2ULVInitializePackage());
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-check", &check, NULL));
  if (N > 16384) check = PETSC_FALSE;
  PetscCall(H2ULVProblemCreate(name, N, 0, &prob));

  /* the operator: MatCreate + -mat_type h2 (the default here) + points + kernel */
  PetscCall(PetscTime(&t0));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &A));
  PetscCall(MatSetSizes(A, PETSC_DECIDE, PETSC_DECIDE, N, N));
  PetscCall(MatSetType(A, MATH2));
  PetscCall(MatSetFromOptions(A));
  PetscCall(H2ULVProblemSetUpMat(prob, A));
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscCall(PetscTime(&t1));
  PetscCall(MatH2GetMemory(A, &mem));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s, N = %" PetscInt_FMT ": H2 construction %.3f s, %.1f MB (dense would be %.1f MB)\n", name, N, t1 - t0, mem / 1048576.0, 8.0 * N * (double)N / 1048576.0));

  PetscCall(MatCreateVecs(A, &x, &b));
  PetscCall(VecDuplicate(x, &xt));
  PetscCall(VecDuplicate(b, &r));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 42));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecSetRandom(xt, rnd));
  if (check) {
    PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
    PetscCall(MatMult(D, xt, b));
  } else PetscCall(MatMult(A, xt, b));

  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetTolerances(ksp, 1e-10, PETSC_DEFAULT, PETSC_DEFAULT, 500));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(PetscTime(&t1));
  PetscCall(KSPSetUp(ksp));
  PetscCall(PetscTime(&t2));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(PetscTime(&t3));
  PetscCall(KSPGetIterationNumber(ksp, &its));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "KSP %s: %" PetscInt_FMT " iterations, setup %.3f s, solve %.3f s\n", KSPConvergedReasons[reason], its, t2 - t1, t3 - t2));

  PetscCall(VecNorm(b, NORM_2, &nb));
  PetscCall(MatMult(D ? D : A, x, r));
  PetscCall(VecAYPX(r, -1.0, b));
  PetscCall(VecNorm(r, NORM_2, &res));
  PetscCall(VecNorm(xt, NORM_2, &nx));
  PetscCall(VecAXPY(xt, -1.0, x));
  PetscCall(VecNorm(xt, NORM_2, &errx));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "accuracy against %s: relative residual %.3e, relative error in x %.3e\n", D ? "the exact dense matrix (PETSc MATDENSE)" : "the H2 operator", (double)(res / nb), (double)(errx / nx)));

  PetscCall(KSPDestroy(&ksp));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&xt));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&r));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(PetscFinalize());
  return 0;
}
