static const char help[] = "MATH2 construction and matvec benchmark: time and memory per phase for N = nmin, 2 nmin, ..., nmax.\n\
  -problem <sphere-laplace>   standard problem (shared/design/benchmarks.md)\n\
  -nmin <4096> -nmax <65536>  sizes (doubling)\n\
  -reps <5>                   matvecs timed (median reported)\n\
  -accuracy_rows <64>         rows of A x computed by direct kernel summation for the accuracy figure\n\
  -densemax <16384>           largest N at which a PETSc MATDENSE matvec is timed for comparison\n\
  -hidden                     the points hidden and the order shuffled: the matrix given by MatH2SetEntries\n\
                              alone, its cluster tree built from the entries (-mat_h2_geometry matrix)\n\
Prints a human-readable table and one CSV line per size (prefix CSV).\n";

#include <h2ulv.h>
#include "record.h"
#include "../tests/hidden.h"

static PetscReal PeakRSSMB(void) { return BenchPeakRSSBytes() / 1048576.0; }

/* the problem's MATH2 (from its points), or (-hidden) from its shuffled entries alone */
static PetscErrorCode CreateMat(Hidden *h, PetscInt N, PetscBool hidden, Mat *A)
{
  PetscFunctionBegin;
  h->sigma = NULL;
  if (!hidden) {
    PetscCall(H2ULVProblemCreateH2(h->prob, PETSC_COMM_WORLD, PETSC_DECIDE, A));
    PetscFunctionReturn(0);
  }
  PetscCall(HiddenShuffle(h, N));
  PetscCall(HiddenCreateH2(h, PETSC_COMM_WORLD, PETSC_DECIDE, A));
  PetscFunctionReturn(0);
}

static int CmpReal(const void *a, const void *b)
{
  PetscReal x = *(const PetscReal *)a, y = *(const PetscReal *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
  char        name[64] = "sphere-laplace";
  PetscInt    nmin = 4096, nmax = 65536, reps = 5, arows = 64, densemax = 16384;
  PetscMPIInt size;
  PetscBool   hidden = PETSC_FALSE;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmin", &nmin, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmax", &nmax, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-reps", &reps, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-accuracy_rows", &arows, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-densemax", &densemax, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-hidden", &hidden, NULL));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# %s%s, %d process(es), OMP_NUM_THREADS=%s\n", name, hidden ? " (points hidden, order shuffled: tree from the entries)" : "", size, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(unset)"));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%9s %8s %8s %8s %8s %9s %10s %10s %7s %10s %10s %10s %9s\n", "N", "tree_s", "basis_s", "values_s", "build_s", "build_us/N", "matvec_s", "mv_ns/N", "maxrank", "H2_MB", "bytes/N", "rss_MB", "rel_err"));
  for (PetscInt N = nmin; N <= nmax; N *= 2) {
    H2ULVProblem   prob;
    Hidden         hid;
    Mat            A;
    Vec            x, y;
    MatH2Info      info;
    PetscLogDouble t0, t1;
    PetscReal     *tm, tmv, err = 0, dense_mv = -1;
    PetscRandom    rnd;

    PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
    hid.prob = prob;
    PetscCall(PetscTime(&t0));
    PetscCall(CreateMat(&hid, N, hidden, &A));
    PetscCall(PetscTime(&t1));
    PetscCall(MatH2GetInfo(A, &info));
    PetscCall(MatCreateVecs(A, &x, &y));
    PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
    PetscCall(PetscRandomSetSeed(rnd, 7));
    PetscCall(PetscRandomSeed(rnd));
    PetscCall(VecSetRandom(x, rnd));
    PetscCall(PetscMalloc1(reps, &tm));
    for (PetscInt r = 0; r < reps; r++) {
      PetscLogDouble a, b;
      PetscCall(PetscTime(&a));
      PetscCall(MatMult(A, x, y));
      PetscCall(PetscTime(&b));
      tm[r] = b - a;
    }
    qsort(tm, reps, sizeof(PetscReal), CmpReal);
    tmv = tm[reps / 2];
    /* accuracy: a sample of rows of A x by direct summation (exact entries) */
    {
      Vec                xall;
      VecScatter         sc;
      const PetscScalar *xa, *ya;
      PetscInt           rs, re;
      PetscReal          num = 0, den = 0, g[2], l[2];
      PetscCall(VecScatterCreateToAll(x, &sc, &xall));
      PetscCall(VecScatterBegin(sc, x, xall, INSERT_VALUES, SCATTER_FORWARD));
      PetscCall(VecScatterEnd(sc, x, xall, INSERT_VALUES, SCATTER_FORWARD));
      PetscCall(VecGetArrayRead(xall, &xa));
      PetscCall(VecGetArrayRead(y, &ya));
      PetscCall(VecGetOwnershipRange(y, &rs, &re));
      for (PetscInt t = 0; t < arows; t++) {
        PetscInt    i = (PetscInt)(((long long)t * N) / arows + 13) % N;
        PetscScalar s = 0, a;
        if (i < rs || i >= re) continue;
        for (PetscInt j = 0; j < N; j++) {
          PetscCall(HiddenEntries(1, &i, 1, &j, &a, 1, &hid));
          s += a * xa[j];
        }
        num += PetscSqr(PetscRealPart(ya[i - rs] - s));
        den += PetscSqr(PetscRealPart(s));
      }
      l[0] = num;
      l[1] = den;
      PetscCall(MPIU_Allreduce(l, g, 2, MPIU_REAL, MPI_SUM, PETSC_COMM_WORLD));
      err = PetscSqrtReal(g[0] / g[1]);
      PetscCall(VecRestoreArrayRead(xall, &xa));
      PetscCall(VecRestoreArrayRead(y, &ya));
      PetscCall(VecScatterDestroy(&sc));
      PetscCall(VecDestroy(&xall));
    }
    if (N <= densemax) { /* the same product with PETSc MATDENSE (OpenBLAS GEMV) */
      Mat            D;
      PetscLogDouble a, b;
      PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &D));
      PetscCall(MatMult(D, x, y));
      PetscCall(PetscTime(&a));
      for (PetscInt r = 0; r < reps; r++) PetscCall(MatMult(D, x, y));
      PetscCall(PetscTime(&b));
      dense_mv = (b - a) / reps;
      PetscCall(MatDestroy(&D));
    }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%9" PetscInt_FMT " %8.3f %8.3f %8.3f %8.3f %9.2f %10.4f %10.1f %7" PetscInt_FMT " %10.1f %10.0f %10.0f %9.2e", N, info.time_tree, info.time_basis, info.time_values, t1 - t0, 1e6 * (t1 - t0) / N, tmv, 1e9 * tmv / N, info.maxrank, info.bytes / 1048576.0,
                          info.bytes / N, PeakRSSMB(), (double)err));
    if (dense_mv > 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "   dense matvec %.4f s (%.1fx slower)", dense_mv, dense_mv / tmv));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));
    {
      BenchRecord  rec;
      BenchRecordInit(&rec, "matvec", name, "h2", N);
      rec.ranks     = size;
      rec.tol       = info.rtol;
      rec.build_s   = t1 - t0;
      rec.matvec_s  = tmv;
      rec.error     = err;
      rec.mem_bytes = info.bytes;
      rec.flops     = info.mult_flops;
      rec.gflops    = info.mult_flops / tmv / 1e9;
      PetscCall(BenchRecordPrint(PETSC_COMM_WORLD, &rec));
      if (dense_mv > 0) {
        BenchRecordInit(&rec, "matvec", name, "dense", N);
        rec.ranks     = size;
        rec.matvec_s  = dense_mv;
        rec.error     = 0;
        rec.mem_bytes = 8.0 * N * (double)N;
        rec.flops     = 2.0 * N * (double)N;
        rec.gflops    = rec.flops / dense_mv / 1e9;
        PetscCall(BenchRecordPrint(PETSC_COMM_WORLD, &rec));
      }
    }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "CSV,%s,%" PetscInt_FMT ",%d,%s,%.4f,%.4f,%.4f,%.4f,%.5f,%.4g,%" PetscInt_FMT ",%.0f,%.0f,%.3e,%.5f\n", name, N, size, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "", info.time_tree, info.time_basis, info.time_values, t1 - t0, tmv, info.mult_flops / tmv / 1e9, info.maxrank, info.bytes, PeakRSSMB() * 1048576.0, (double)err,
                          (double)dense_mv));
    PetscCall(PetscFree(tm));
    PetscCall(PetscFree(hid.sigma));
    PetscCall(PetscRandomDestroy(&rnd));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&y));
    PetscCall(MatDestroy(&A));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# CSV columns: problem,N,procs,threads,tree_s,basis_s,values_s,build_s,matvec_s,matvec_gflops,maxrank,h2_bytes,peak_rss_bytes(rank0),rel_err,dense_matvec_s\n"));
  PetscCall(PetscFinalize());
  return 0;
}
