/* MATH2 and PCH2ULV without coordinates (-mat_h2_geometry matrix): a standard problem whose points are
   hidden and whose order is shuffled, given by its entries alone (MatH2SetEntries over the shuffled
   order, or MatConvert of a dense matrix).  Checked against MATDENSE of the same shuffled matrix:
   the product to -max_err (default 10 x -mat_h2_rtol), the memory against the MATH2 built from the
   points at the same tolerance (-max_mem_ratio, default 2), FGMRES with PCH2ULV to 1e-10, and on
   several processes the product against a copy of the same matrix built on each process alone.
   Options: -problem <name> -n <N> -source entries|dense -solve <bool> */
#include <string.h>

#include "hidden.h"

/* the problem and its shuffle */
static PetscErrorCode HiddenCreate(const char name[], PetscInt N, Hidden *h)
{
  PetscFunctionBegin;
  PetscCall(H2ULVProblemCreate(name, N, 0, &h->prob));
  PetscCall(HiddenShuffle(h, N));
  PetscFunctionReturn(0);
}

/* MATDENSE of the shuffled matrix, m local rows */
static PetscErrorCode HiddenDense(const Hidden *h, MPI_Comm comm, PetscInt m, Mat *D)
{
  PetscInt     rs, re, lda;
  PetscScalar *a;

  PetscFunctionBegin;
  PetscCall(MatCreateDense(comm, m, m, h->N, h->N, NULL, D));
  PetscCall(MatGetOwnershipRange(*D, &rs, &re));
  PetscCall(MatDenseGetLDA(*D, &lda));
  PetscCall(MatDenseGetArrayWrite(*D, &a));
  for (PetscInt j = 0; j < h->N; j++)
    for (PetscInt i = rs; i < re; i++) PetscCall(H2ULVProblemEntry(h->prob, h->sigma[i], h->sigma[j], &a[(i - rs) + j * lda]));
  PetscCall(MatDenseRestoreArrayWrite(*D, &a));
  PetscCall(MatAssemblyBegin(*D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatSetOption(*D, MAT_SYMMETRIC, PETSC_TRUE));
  PetscFunctionReturn(0);
}

/* the MATH2 of the shuffled matrix without points: from the entry callback or from its dense matrix D */
static PetscErrorCode HiddenH2(Hidden *h, MPI_Comm comm, PetscInt m, PetscBool fromDense, Mat D, Mat *A)
{
  PetscFunctionBegin;
  if (fromDense) {
    PetscCall(MatConvert(D, MATH2, MAT_INITIAL_MATRIX, A));
    PetscFunctionReturn(0);
  }
  PetscCall(HiddenCreateH2(h, comm, m, A));
  PetscFunctionReturn(0);
}

/* ||A x - D x|| / ||D x|| for a random x */
static PetscErrorCode ProductError(Mat A, Mat D, PetscReal *err)
{
  Vec         x, y, z;
  PetscRandom rnd;
  PetscReal   nz;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &x, &y));
  PetscCall(VecDuplicate(y, &z));
  PetscCall(PetscRandomCreate(PetscObjectComm((PetscObject)A), &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 5));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecSetRandom(x, rnd));
  PetscCall(MatMult(A, x, y));
  PetscCall(MatMult(D, x, z));
  PetscCall(VecNorm(z, NORM_2, &nz));
  PetscCall(VecAXPY(y, -1.0, z));
  PetscCall(VecNorm(y, NORM_2, err));
  *err /= nz;
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&z));
  PetscFunctionReturn(0);
}

/* FGMRES with PCH2ULV on A to a relative residual of 1e-10; *res: the true residual */
static PetscErrorCode Solve(Mat A, PetscInt *its, PetscReal *res, KSPConvergedReason *reason)
{
  KSP       ksp;
  PC        pc;
  Vec       x, b, r;
  PetscReal nb;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &x, &b));
  PetscCall(VecDuplicate(b, &r));
  PetscCall(VecSet(x, 1.0));
  PetscCall(MatMult(A, x, b));
  PetscCall(KSPCreate(PetscObjectComm((PetscObject)A), &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetType(ksp, KSPFGMRES));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(KSPSetTolerances(ksp, 1e-10, 1e-50, PETSC_DEFAULT, 100));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(VecSet(x, 0.0));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetIterationNumber(ksp, its));
  PetscCall(KSPGetConvergedReason(ksp, reason));
  PetscCall(MatMult(A, x, r));
  PetscCall(VecAYPX(r, -1.0, b));
  PetscCall(VecNorm(r, NORM_2, res));
  PetscCall(VecNorm(b, NORM_2, &nb));
  *res /= nb;
  PetscCall(KSPDestroy(&ksp));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&r));
  PetscFunctionReturn(0);
}

/* several processes: the product of A against that of the same matrix built on this process alone */
static PetscErrorCode CompareSerial(Hidden *h, PetscBool fromDense, Mat A, PetscReal *diff)
{
  Mat                S, D = NULL;
  Vec                x, y, xs, ys;
  VecScatter         sc;
  PetscReal          nrm;
  const PetscScalar *ya, *ysa;
  PetscInt           rs, re;
  PetscReal          loc[2] = {0, 0}, glob[2];

  PetscFunctionBegin;
  if (fromDense) PetscCall(HiddenDense(h, PETSC_COMM_SELF, h->N, &D));
  PetscCall(HiddenH2(h, PETSC_COMM_SELF, h->N, fromDense, D, &S));
  PetscCall(MatDestroy(&D));
  PetscCall(MatCreateVecs(A, &x, &y));
  for (PetscInt i = 0; i < h->N; i++) PetscCall(VecSetValue(x, i, PetscSinReal(0.37 * i), INSERT_VALUES)); /* the same vector everywhere */
  PetscCall(VecAssemblyBegin(x));
  PetscCall(VecAssemblyEnd(x));
  PetscCall(MatMult(A, x, y));
  PetscCall(VecScatterCreateToAll(x, &sc, &xs));
  PetscCall(VecScatterBegin(sc, x, xs, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sc, x, xs, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecDuplicate(xs, &ys));
  PetscCall(MatMult(S, xs, ys));
  PetscCall(VecGetOwnershipRange(y, &rs, &re));
  PetscCall(VecGetArrayRead(y, &ya));
  PetscCall(VecGetArrayRead(ys, &ysa));
  for (PetscInt i = rs; i < re; i++) loc[0] += PetscSqr(PetscRealPart(ya[i - rs] - ysa[i])), loc[1] += PetscSqr(PetscRealPart(ysa[i]));
  PetscCall(VecRestoreArrayRead(y, &ya));
  PetscCall(VecRestoreArrayRead(ys, &ysa));
  PetscCall(MPIU_Allreduce(loc, glob, 2, MPIU_REAL, MPIU_SUM, PetscObjectComm((PetscObject)A)));
  nrm   = PetscSqrtReal(glob[1]);
  *diff = PetscSqrtReal(glob[0]) / nrm;
  PetscCall(VecScatterDestroy(&sc));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&xs));
  PetscCall(VecDestroy(&ys));
  PetscCall(MatDestroy(&S));
  PetscFunctionReturn(0);
}

/* the memory of the MATH2 built from the points, same options */
static PetscErrorCode GeometricMemory(const Hidden *h, PetscLogDouble *mem, PetscLogDouble *ttree)
{
  Mat       G;
  MatH2Info info;

  PetscFunctionBegin;
  PetscCall(H2ULVProblemCreateH2(h->prob, PETSC_COMM_WORLD, PETSC_DECIDE, &G));
  PetscCall(MatH2GetInfo(G, &info));
  *mem   = info.bytes;
  *ttree = info.time_tree;
  PetscCall(MatDestroy(&G));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char               name[64] = "sphere-laplace", source[16] = "entries";
  PetscInt           N = 4096, its = 0;
  PetscReal          rtol = 1e-8, maxerr = -1, maxratio = 2, err, res = 0, diff = 0;
  PetscBool          solve = PETSC_TRUE, fromDense;
  PetscMPIInt        size;
  Hidden             h;
  Mat                A, D;
  MatH2Info          info;
  PetscLogDouble     gmem, gtree;
  KSPConvergedReason reason = KSP_CONVERGED_ITERATING;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2 and PCH2ULV without coordinates"));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-source", source, sizeof(source), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-mat_h2_rtol", &rtol, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err", &maxerr, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_mem_ratio", &maxratio, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-solve", &solve, NULL));
  if (maxerr < 0) maxerr = 10 * rtol;
  fromDense = (PetscBool)!strcmp(source, "dense");
  PetscCall(HiddenCreate(name, N, &h));
  PetscCall(HiddenDense(&h, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
  PetscCall(HiddenH2(&h, PETSC_COMM_WORLD, PETSC_DECIDE, fromDense, D, &A));
  PetscCall(MatViewFromOptions(A, NULL, "-view_h2"));
  PetscCall(MatH2GetInfo(A, &info));
  PetscCall(ProductError(A, D, &err));
  PetscCall(GeometricMemory(&h, &gmem, &gtree));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT " hidden and shuffled (%s), rtol %g: matvec error %.3e; memory %.4g MB, %.3f x the tree from the points; tree %.3f s (from the points %.3f s), bases %.3f s\n", name, N, source, (double)rtol, (double)err, info.bytes / 1048576.0, info.bytes / gmem, info.time_tree, gtree, info.time_basis));
  PetscCheck(err <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: matvec error %.3e > %g", (double)err, (double)maxerr);
  PetscCheck(info.bytes <= maxratio * gmem, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: memory %.4g MB > %g x %.4g MB of the tree from the points", info.bytes / 1048576.0, (double)maxratio, gmem / 1048576.0);
  if (solve) {
    PetscCall(Solve(A, &its, &res, &reason));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FGMRES + PCH2ULV: %s in %" PetscInt_FMT " iterations, relative residual %.3e\n", KSPConvergedReasons[reason], its, (double)res));
    PetscCheck(reason > 0 && res <= 1e-9, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: FGMRES + PCH2ULV %s, residual %.3e", KSPConvergedReasons[reason], (double)res);
  }
  if (size > 1) {
    PetscCall(CompareSerial(&h, fromDense, A, &diff));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d processes against one: relative difference of the products %.3e\n", (int)size, (double)diff));
    PetscCheck(diff <= 1e-12, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "FAILED: %d processes differ from one by %.3e", (int)size, (double)diff);
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscCall(PetscFree(h.sigma));
  PetscCall(H2ULVProblemDestroy(&h.prob));
  PetscCall(PetscFinalize());
  return 0;
}
