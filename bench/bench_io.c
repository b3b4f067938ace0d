static const char help[] = "MATH2 saved and loaded against built: the time to build a standard problem's H2 matrix and\n\
its factorization, against the time to load the saved matrix and factor it again.\n\
  -problem <sphere-laplace>   standard problem\n\
  -n <65536>                  size\n\
  -file <bench_io.h2>         the file (removed at the end unless -keep)\n\
  -factor                     also time PCSetUp (h2ulv) on the built and on the loaded matrix\n\
Prints one line per phase and checks that the loaded matrix multiplies bit-identically.\n";

#include <h2ulv.h>
#include <stdio.h>
#include <sys/stat.h>

/* PCSetUp of -pc_type h2ulv on A (its options: -pc_h2ulv_*), seconds */
static PetscErrorCode FactorTime(Mat A, PetscLogDouble *t)
{
  KSP            ksp;
  PC             pc;
  PetscLogDouble t0, t1;

  PetscFunctionBegin;
  PetscCall(KSPCreate(PetscObjectComm((PetscObject)A), &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, "h2ulv"));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(PetscTime(&t0));
  PetscCall(PCSetUp(pc));
  PetscCall(PetscTime(&t1));
  *t = t1 - t0;
  PetscCall(KSPDestroy(&ksp));
  PetscFunctionReturn(0);
}

static PetscErrorCode ProductDiff(Mat A, Mat B, PetscReal *d)
{
  Vec x, ya, yb;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &x, &ya));
  PetscCall(VecDuplicate(ya, &yb));
  PetscCall(VecSetRandom(x, NULL));
  PetscCall(MatMult(A, x, ya));
  PetscCall(MatMult(B, x, yb));
  PetscCall(VecAXPY(yb, -1.0, ya));
  PetscCall(VecNorm(yb, NORM_INFINITY, d));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&ya));
  PetscCall(VecDestroy(&yb));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char           name[64] = "sphere-laplace", file[PETSC_MAX_PATH_LEN] = "bench_io.h2";
  PetscInt       N        = 65536;
  PetscBool      factor = PETSC_FALSE, keep = PETSC_FALSE;
  H2ULVProblem   prob;
  Mat            A, B;
  PetscViewer    v;
  PetscLogDouble t0, t1, tbuild, tsave, tload, fbuilt = -1, floaded = -1, mem;
  PetscReal      d;
  PetscMPIInt    size, rank;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(H2ULVInitializePackage());
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-file", file, sizeof(file), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-factor", &factor, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-keep", &keep, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(H2ULVProblemCreate(name, N, 0, &prob));

  PetscCall(PetscTime(&t0));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  PetscCall(PetscTime(&t1));
  tbuild = t1 - t0;
  PetscCall(MatH2GetMemory(A, &mem));
  if (factor) PetscCall(FactorTime(A, &fbuilt));

  PetscCall(PetscTime(&t0));
  PetscCall(PetscViewerBinaryOpen(PETSC_COMM_WORLD, file, FILE_MODE_WRITE, &v));
  PetscCall(MatView(A, v));
  PetscCall(PetscViewerDestroy(&v));
  PetscCall(PetscTime(&t1));
  tsave = t1 - t0;

  PetscCall(PetscTime(&t0));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &B));
  PetscCall(MatSetType(B, MATH2));
  PetscCall(PetscViewerBinaryOpen(PETSC_COMM_WORLD, file, FILE_MODE_READ, &v));
  PetscCall(MatLoad(B, v));
  PetscCall(PetscViewerDestroy(&v));
  PetscCall(PetscTime(&t1));
  tload = t1 - t0;
  if (factor) PetscCall(FactorTime(B, &floaded));
  PetscCall(ProductDiff(A, B, &d));

  {
    struct stat st;
    double      bytes = rank == 0 && stat(file, &st) == 0 ? (double)st.st_size : 0;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "problem %s, N %" PetscInt_FMT ", %d process(es), H2 memory %.1f MB, file %.1f MB\n", name, N, (int)size, mem / 1048576.0, bytes / 1048576.0));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "build %.2f s, save %.2f s, load %.2f s (load / build %.3f)\n", tbuild, tsave, tload, tload / tbuild));
  if (factor) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "factorization of the built matrix %.2f s, of the loaded one %.2f s: build + factor %.2f s, load + factor %.2f s\n", fbuilt, floaded, tbuild + fbuilt, tload + floaded));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "|A x - B x|_inf = %g (%s)\n", (double)d, d == 0 ? "bit-identical" : "DIFFERENT"));
  if (!keep && rank == 0) {
    char info[PETSC_MAX_PATH_LEN + 8];
    remove(file);
    PetscCall(PetscSNPrintf(info, sizeof(info), "%s.info", file));
    remove(info);
  }
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&B));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(PetscFinalize());
  return d == 0 ? 0 : 1;
}
