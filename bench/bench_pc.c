static const char help[] = "PCH2ULV benchmark: setup (H2 construction + factorization) and solve for N = nmin, 2 nmin, ..., nmax,\n\
with PETSc MATDENSE + LAPACK Cholesky/LU for comparison up to -densemax.\n\
  -problem <sphere-laplace>   standard problem (shared/design/benchmarks.md)\n\
  -nmin <4096> -nmax <65536>  sizes (doubling)\n\
  -densemax <16384>           largest N with the dense LAPACK factorization timed\n\
  -ksp_type, -pc_h2ulv_*      the solver (default: GMRES preconditioned by PCH2ULV, rtol 1e-10)\n\
Prints a table and one CSV line per size (prefix CSV).\n";

#include <h2ulv.h>
#include <sys/resource.h>

static PetscReal PeakRSSMB(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv)
{
  char     name[64] = "sphere-laplace";
  PetscInt nmin = 4096, nmax = 65536, densemax = 16384;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmin", &nmin, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmax", &nmax, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-densemax", &densemax, NULL));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# %s, OMP_NUM_THREADS=%s\n", name, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(unset)"));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%9s %9s %9s %9s %8s %5s %10s %9s %9s %10s %s\n", "N", "build_s", "factor_s", "setup_us/N", "solve_s", "its", "residual", "rss_MB", "dense_s", "speedup", "reason"));
  for (PetscInt N = nmin; N <= nmax; N *= 2) {
    H2ULVProblem       prob;
    Mat                A;
    Vec                x, b, r;
    KSP                ksp;
    PC                 pc;
    PetscLogDouble     t0, t1, t2, t3;
    PetscInt           its;
    PetscReal          res, nb, dense = -1;
    PetscRandom        rnd;
    KSPConvergedReason reason;


    PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
    PetscCall(PetscTime(&t0));
    PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
    PetscCall(PetscTime(&t1));
    PetscCall(MatCreateVecs(A, &x, &b));
    PetscCall(VecDuplicate(b, &r));
    PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
    PetscCall(PetscRandomSetSeed(rnd, 5));
    PetscCall(PetscRandomSeed(rnd));
    PetscCall(VecSetRandom(x, rnd));
    PetscCall(MatMult(A, x, b));
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
    PetscCall(KSPSetOperators(ksp, A, A));
    PetscCall(KSPSetType(ksp, KSPGMRES));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, PCH2ULV));
    PetscCall(KSPSetTolerances(ksp, 1e-10, PETSC_DEFAULT, PETSC_DEFAULT, 200));
    PetscCall(KSPSetFromOptions(ksp));
    PetscCall(PetscTime(&t2));
    PetscCall(KSPSetUp(ksp));
    PetscCall(PetscTime(&t3));
    {
      PetscLogDouble s0, s1;
      PetscCall(VecSet(x, 0.0));
      PetscCall(PetscTime(&s0));
      PetscCall(KSPSolve(ksp, b, x));
      PetscCall(PetscTime(&s1));
      PetscCall(KSPGetIterationNumber(ksp, &its));
      PetscCall(KSPGetConvergedReason(ksp, &reason));
      PetscCall(MatMult(A, x, r));
      PetscCall(VecAYPX(r, -1.0, b));
      PetscCall(VecNorm(r, NORM_2, &res));
      PetscCall(VecNorm(b, NORM_2, &nb));
      res /= nb;
      if (N <= densemax) { /* PETSc MATDENSE + LAPACK Cholesky (LU for the nonsymmetric problem) */
        Mat            D;
        KSP            kd;
        PC             pd;
        PetscBool      sym;
        PetscLogDouble d0, d1;
        PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
        PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
        PetscCall(MatSetOption(D, MAT_SPD, sym));
        PetscCall(KSPCreate(PETSC_COMM_WORLD, &kd));
        PetscCall(KSPSetOperators(kd, D, D));
        PetscCall(KSPSetType(kd, KSPPREONLY));
        PetscCall(KSPGetPC(kd, &pd));
        PetscCall(PCSetType(pd, sym ? PCCHOLESKY : PCLU));
        PetscCall(PetscTime(&d0));
        PetscCall(KSPSetUp(kd));
        PetscCall(PetscTime(&d1));
        dense = d1 - d0;
        PetscCall(KSPDestroy(&kd));
        PetscCall(MatDestroy(&D));
      }
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%9" PetscInt_FMT " %9.3f %9.3f %9.1f %8.3f %5" PetscInt_FMT " %10.2e %9.0f %9.3f %10.1f %s\n", N, t1 - t0, t3 - t2, 1e6 * (t1 - t0 + t3 - t2) / N, s1 - s0, its, (double)res, PeakRSSMB(), dense, dense > 0 ? dense / (t1 - t0 + t3 - t2) : 0.0, KSPConvergedReasons[reason]));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "CSV,%s,%" PetscInt_FMT ",%.4f,%.4f,%.4f,%" PetscInt_FMT ",%.3e,%.0f,%.4f\n", name, N, t1 - t0, t3 - t2, s1 - s0, its, (double)res, PeakRSSMB() * 1048576.0, dense));
    }
    PetscCall(KSPDestroy(&ksp));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&b));
    PetscCall(VecDestroy(&r));
    PetscCall(PetscRandomDestroy(&rnd));
    PetscCall(MatDestroy(&A));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# CSV columns: problem,N,build_s,factor_s,solve_s,its,rel_residual(H2 operator),peak_rss_bytes,dense_factor_s\n"));
  PetscCall(PetscFinalize());
  return 0;
}
