static const char help[] = "Dense direct solvers for comparison: PETSc MATDENSE + LAPACK, or MATSCALAPACK under MPI, on a standard problem.\n\
  -problem <sphere-laplace>   standard problem (shared/design/benchmarks.md)\n\
  -nmin <4096> -nmax <16384>  sizes (doubling)\n\
  -scalapack                  convert to MATSCALAPACK and factor with ScaLAPACK (any number of processes)\n\
Prints one RECORD line (JSON) per size: factorization and solve time, relative residual.\n";

#include <h2ulv.h>
#include "record.h"

int main(int argc, char **argv)
{
  char        name[64] = "sphere-laplace";
  PetscInt    nmin = 4096, nmax = 16384;
  PetscBool   scalapack = PETSC_FALSE;
  PetscMPIInt size;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmin", &nmin, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmax", &nmax, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-scalapack", &scalapack, NULL));
  for (PetscInt N = nmin; N <= nmax; N *= 2) {
    H2ULVProblem   prob;
    Mat            D, F = NULL;
    Vec            x, b, r;
    KSP            ksp;
    PC             pc;
    PetscBool      sym;
    PetscLogDouble t0, t1, t2;
    PetscReal      res, nb;
    BenchRecord    rec;

    PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
    PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
    PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
    PetscCall(MatCreateVecs(D, &x, &b));
    PetscCall(VecDuplicate(b, &r));
    PetscCall(VecSet(b, 1.0));
    if (scalapack) PetscCall(MatConvert(D, MATSCALAPACK, MAT_INITIAL_MATRIX, &F));
    PetscCall(MatSetOption(D, MAT_SPD, sym)); /* MATSCALAPACK takes no SPD option: PCCHOLESKY is enough there */
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
    PetscCall(KSPSetOperators(ksp, F ? F : D, F ? F : D));
    PetscCall(KSPSetType(ksp, KSPPREONLY));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, sym ? PCCHOLESKY : PCLU));
    if (scalapack) PetscCall(PCFactorSetMatSolverType(pc, MATSOLVERSCALAPACK));
    PetscCall(KSPSetFromOptions(ksp));
    PetscCall(PetscTime(&t0));
    PetscCall(KSPSetUp(ksp));
    PetscCall(PetscTime(&t1));
    PetscCall(KSPSolve(ksp, b, x));
    PetscCall(PetscTime(&t2));
    PetscCall(MatMult(D, x, r));
    PetscCall(VecAYPX(r, -1.0, b));
    PetscCall(VecNorm(r, NORM_2, &res));
    PetscCall(VecNorm(b, NORM_2, &nb));
    BenchRecordInit(&rec, "solver", name, scalapack ? (sym ? "scalapack-cholesky" : "scalapack-lu") : (sym ? "dense-cholesky" : "dense-lu"), N);
    rec.ranks     = size;
    rec.factor_s  = t1 - t0;
    rec.solve_s   = t2 - t1;
    rec.its       = 1;
    rec.residual  = res / nb;
    rec.mem_bytes = 8.0 * N * (double)N;
    rec.flops     = (sym ? 1.0 : 2.0) * N * (double)N * N / 3.0;
    rec.gflops    = rec.flops / (t1 - t0) / 1e9;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT " %s on %d process(es): factorization %.3f s, solve %.4f s, residual %.2e\n", name, N, rec.method, size, t1 - t0, t2 - t1, (double)(res / nb)));
    PetscCall(BenchRecordPrint(PETSC_COMM_WORLD, &rec));
    PetscCall(KSPDestroy(&ksp));
    PetscCall(MatDestroy(&F));
    PetscCall(MatDestroy(&D));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&b));
    PetscCall(VecDestroy(&r));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  PetscCall(PetscFinalize());
  return 0;
}
