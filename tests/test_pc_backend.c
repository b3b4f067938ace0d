/* The same H2-ULV factorization on two backends: the host backend (BLAS/LAPACK) and the one named
   by -backend (cuda, kokkos).  Both PCs factor the same MATH2 with the same options; the program
   applies both to the same random vectors (PCApply, PCApplyTranspose for nonsymmetric problems,
   PCMatApply on a block of -k vectors) and compares
     - the PC applications: ||y_backend - y_host|| / ||y_host||          (-max_diff, default 1e-10)
     - log|det| (relative to max(|log det|, N)) and its sign, the inertia (-max_logdet_diff)
   and prints the setup and application times of both.  No dense matrix: runs at any N.
   Options: -problem <name> -n <N> -backend cuda|kokkos -required (no fallback) -k <block size>;
   the other PC options (-pc_h2ulv_rtol, -pc_h2ulv_precision, -pc_h2ulv_tf32 ...) apply to both.
   Exit code 0 and "PASS" when every difference is within its bound. */
#include <h2ulv.h>
#include "reldiff.h"

static PetscErrorCode SetUpPC(Mat A, PCH2ULVBackendType be, PetscBool required, PC *pc, PetscLogDouble *t)
{
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(PCCreate(PETSC_COMM_WORLD, pc));
  PetscCall(PCSetOperators(*pc, A, A));
  PetscCall(PCSetType(*pc, PCH2ULV));
  PetscCall(PCSetFromOptions(*pc));
  PetscCall(PCH2ULVSetBackend(*pc, be, required));
  PetscCall(PetscTime(&t0));
  PetscCall(PCSetUp(*pc));
  PetscCall(PetscTime(&t1));
  *t = t1 - t0;
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char               name[64] = "sphere-laplace", bname[16] = "kokkos";
  PetscInt           N = 4096, k = 4, sgn[2], inr[2][3];
  PetscReal          maxdiff = 1e-10, maxld = 1e-10, d, dmax = 0, ld[2];
  PetscBool          sym, required = PETSC_FALSE, ok = PETSC_TRUE;
  PCH2ULVBackendType be;
  H2ULVProblem       prob;
  Mat                A, X, Y[2];
  Vec                x, y[2];
  PC                 pc[2];
  PetscRandom        rnd;
  PetscLogDouble     ts[2], ta[2], t0, t1;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "PCH2ULV: a backend against the host backend"));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-backend", bname, sizeof(bname), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-k", &k, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_diff", &maxdiff, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_logdet_diff", &maxld, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-required", &required, NULL));
  if (!strcmp(bname, "cuda")) be = PCH2ULV_BACKEND_CUDA;
  else if (!strcmp(bname, "kokkos")) be = PCH2ULV_BACKEND_KOKKOS;
  else if (!strcmp(bname, "host")) be = PCH2ULV_BACKEND_HOST;
  else SETERRQ(PETSC_COMM_WORLD, PETSC_ERR_ARG_UNKNOWN_TYPE, "-backend must be host, cuda or kokkos, got %s", bname);
  PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
  PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));

  PetscCall(SetUpPC(A, PCH2ULV_BACKEND_HOST, PETSC_TRUE, &pc[0], &ts[0]));
  PetscCall(SetUpPC(A, be, required, &pc[1], &ts[1]));

  PetscCall(MatCreateVecs(A, &x, &y[0]));
  PetscCall(VecDuplicate(y[0], &y[1]));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 7));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecSetRandom(x, rnd));
  for (int b = 0; b < 2; b++) {
    PetscCall(PetscTime(&t0));
    PetscCall(PCApply(pc[b], x, y[b]));
    PetscCall(PetscTime(&t1));
    ta[b] = t1 - t0;
  }
  PetscCall(RelDiff(y[0], y[1], &d));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PCApply:          relative difference %.3e\n", (double)d));
  dmax = PetscMax(dmax, d);
  if (!sym) {
    for (int b = 0; b < 2; b++) PetscCall(PCApplyTranspose(pc[b], x, y[b]));
    PetscCall(RelDiff(y[0], y[1], &d));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PCApplyTranspose: relative difference %.3e\n", (double)d));
    dmax = PetscMax(dmax, d);
  }
  { /* a block of k right-hand sides */
    PetscInt  n;
    PetscReal n0, nd;
    PetscCall(MatGetLocalSize(A, &n, NULL));
    PetscCall(MatCreateDense(PETSC_COMM_WORLD, n, PETSC_DECIDE, N, k, NULL, &X));
    PetscCall(MatSetRandom(X, rnd));
    for (int b = 0; b < 2; b++) {
      PetscCall(MatDuplicate(X, MAT_DO_NOT_COPY_VALUES, &Y[b]));
      PetscCall(PCMatApply(pc[b], X, Y[b]));
    }
    PetscCall(MatNorm(Y[0], NORM_FROBENIUS, &n0));
    PetscCall(MatAXPY(Y[1], -1.0, Y[0], SAME_NONZERO_PATTERN));
    PetscCall(MatNorm(Y[1], NORM_FROBENIUS, &nd));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PCMatApply (k=%" PetscInt_FMT "): relative difference %.3e\n", k, (double)(nd / n0)));
    dmax = PetscMax(dmax, nd / n0);
  }
  for (int b = 0; b < 2; b++) {
    PetscCall(PCH2ULVGetLogAbsDeterminant(pc[b], &ld[b], &sgn[b]));
    if (sym) PetscCall(PCH2ULVGetInertia(pc[b], &inr[b][0], &inr[b][1], &inr[b][2]));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "log|det|: host %.12e, %s %.12e (signs %d, %d)\n", (double)ld[0], bname, (double)ld[1], (int)sgn[0], (int)sgn[1]));
  if (PetscAbsReal(ld[1] - ld[0]) > maxld * PetscMax(PetscAbsReal(ld[0]), (PetscReal)N) || sgn[0] != sgn[1]) ok = PETSC_FALSE; /* scale: N (rounding per pivot) */
  if (sym) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "inertia: host (%" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT "), %s (%" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT ")\n", inr[0][0], inr[0][1], inr[0][2], bname, inr[1][0], inr[1][1], inr[1][2]));
    for (int t = 0; t < 3; t++) ok = (PetscBool)(ok && inr[0][t] == inr[1][t]);
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT ": setup host %.3f s, %s %.3f s; PCApply host %.4f s, %s %.4f s\n", name, N, ts[0], bname, ts[1], ta[0], bname, ta[1]));
  PetscCall(PCView(pc[1], PETSC_VIEWER_STDOUT_WORLD));
  if (dmax > maxdiff) ok = PETSC_FALSE;
  {
    PCH2ULVBackendType used;
    PetscCall(PCH2ULVGetBackend(pc[1], NULL, &used));
    if (ok) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS [%s]\n", used == be ? bname : "fallback to host"));
    else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL: max difference %.3e (bound %g), or log det / inertia differ\n", (double)dmax, (double)maxdiff));
  }

  for (int b = 0; b < 2; b++) {
    PetscCall(PCDestroy(&pc[b]));
    PetscCall(VecDestroy(&y[b]));
    PetscCall(MatDestroy(&Y[b]));
  }
  PetscCall(MatDestroy(&X));
  PetscCall(VecDestroy(&x));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(MatDestroy(&A));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(PetscFinalize());
  return ok ? 0 : 1;
}
