/*
  bench_hmat: the standard problems solved with hmat-oss (H-matrix LLt / LDLt / LU), for comparison
  with PCH2ULV.

  LICENCE NOTE: this program links hmat-oss (https://github.com/jeromerobert/hmat-oss), which is
  GPL-2.0-or-later.  The resulting executable bench_hmat is therefore distributed under the GPL-2
  (or later).  This file is an optional benchmark target only: nothing else in h2ulv includes it or
  links hmat-oss, and the BSD-2-Clause licence of the library libh2ulv is not affected.
*/
static const char help[] = "hmat-oss benchmark: H-matrix assembly (ACA+), factorization and one solve for N = nmin, 2 nmin, ..., nmax.\n\
  -problem <sphere-laplace>   standard problem (shared/design/benchmarks.md); entries from H2ULVProblemEntry\n\
  -nmin <4096> -nmax <16384>  sizes (doubling)\n\
  -eps <1e-8>                 compression epsilon (ACA+) = low-rank epsilon of the matrix (truncations, recompressions)\n\
  -leaf <128>                 largest cluster-tree leaf (hmat_create_clustering_max_dof)\n\
  -eta <2>                    standard admissibility parameter (hmat_create_admissibility_standard)\n\
  -compression <acaplus>      acaplus, acapartial, acafull, svd, acarandom\n\
  -fact <llt|lu>              llt, ldlt or lu (default: llt for symmetric problems, lu otherwise)\n\
  -exactmax <16384>           largest N at which b = A x_true and the residual use all rows of the exact A\n\
                              (larger N: b = hmat gemm_dense with the assembled H-matrix, residual on -nsample rows)\n\
  -nsample <256>              sampled rows for the residual when N > exactmax\n\
hmat-oss (DefaultEngine) is sequential; BLAS threads follow OPENBLAS_NUM_THREADS / OMP_NUM_THREADS.\n\
Prints a table and one RECORD line (JSON) per size.\n";

#include <h2ulv.h>
#include <hmat/hmat.h>
#include <stdlib.h>
#include <sys/resource.h>

static PetscLogDouble PeakRSSBytes(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss * 1024.0;
}

static PetscLogDouble CPUSeconds(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec;
}

static int Threads(void)
{
  const char *t = getenv("OMP_NUM_THREADS");
  return t ? atoi(t) : 1;
}

static PetscInt64 nentries = 0; /* entries asked for by hmat during the assembly */

/* hmat simple_compute callback: A(i, j) in the user's (original) numbering */
static void Interaction(void *ctx, int i, int j, void *result)
{
  PetscScalar a;

  nentries++;
  PetscCallAbort(PETSC_COMM_SELF, H2ULVProblemEntry((H2ULVProblem)ctx, i, j, &a));
  *(double *)result = (double)a;
}

/* y = A x with the exact entries, all rows (direct summation; symmetric problems evaluate each pair once) */
static PetscErrorCode ExactMult(H2ULVProblem prob, PetscInt N, PetscBool sym, const double x[], double y[])
{
  PetscFunctionBegin;
  for (PetscInt i = 0; i < N; i++) y[i] = 0;
  for (PetscInt i = 0; i < N; i++) {
    double s = 0;
    if (sym) {
      for (PetscInt j = 0; j < i; j++) {
        PetscScalar a;
        PetscCall(H2ULVProblemEntry(prob, i, j, &a));
        s += a * x[j];
        y[j] += a * x[i];
      }
      {
        PetscScalar a;
        PetscCall(H2ULVProblemEntry(prob, i, i, &a));
        s += a * x[i];
      }
    } else {
      for (PetscInt j = 0; j < N; j++) {
        PetscScalar a;
        PetscCall(H2ULVProblemEntry(prob, i, j, &a));
        s += a * x[j];
      }
    }
    y[i] += s;
  }
  PetscFunctionReturn(0);
}

/* y[s] = (A x)[rows[s]] with the exact entries, for nv vectors x[v*N ...] -> y[v*n ...] */
static PetscErrorCode ExactRows(H2ULVProblem prob, PetscInt N, PetscInt n, const PetscInt rows[], PetscInt nv, const double x[], double y[])
{
  PetscFunctionBegin;
  for (PetscInt s = 0; s < n; s++) {
    for (PetscInt v = 0; v < nv; v++) y[v * n + s] = 0;
    for (PetscInt j = 0; j < N; j++) {
      PetscScalar a;
      PetscCall(H2ULVProblemEntry(prob, rows[s], j, &a));
      for (PetscInt v = 0; v < nv; v++) y[v * n + s] += a * x[v * N + j];
    }
  }
  PetscFunctionReturn(0);
}

static double Norm2(PetscInt n, const double v[])
{
  double s = 0;
  for (PetscInt i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

int main(int argc, char **argv)
{
  char             name[64] = "sphere-laplace";
  PetscInt         nmin = 4096, nmax = 16384, leaf = 128, exactmax = 16384, nsample = 256, comp = 0, fact = -1;
  PetscReal        eps = 1e-8, eta = 2.0;
  const char      *comps[] = {"acaplus", "acapartial", "acafull", "svd", "acarandom"};
  const char      *facts[] = {"llt", "ldlt", "lu"};
  hmat_interface_t hi;
  PetscMPIInt      size;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(size == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP, "bench_hmat is sequential (hmat-oss): run it on one process");
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmin", &nmin, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmax", &nmax, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-eps", &eps, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-leaf", &leaf, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-eta", &eta, NULL));
  PetscCall(PetscOptionsGetEList(NULL, NULL, "-compression", comps, 5, &comp, NULL));
  PetscCall(PetscOptionsGetEList(NULL, NULL, "-fact", facts, 3, &fact, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-exactmax", &exactmax, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nsample", &nsample, NULL));
  PetscCheck(nmin >= 1 && leaf >= 1 && eps > 0 && nsample >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "Need nmin >= 1, leaf >= 1, eps > 0, nsample >= 1");

  hmat_init_default_interface(&hi, HMAT_DOUBLE_PRECISION);
  PetscCheck(hi.init() == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat-oss initialization failed");

  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# hmat-oss %s on %s: eps %g, leaf %" PetscInt_FMT ", eta %g, compression %s; OMP_NUM_THREADS=%s OPENBLAS_NUM_THREADS=%s (hmat-oss itself is sequential)\n", hmat_get_version(), name, (double)eps, leaf, (double)eta,
                        comps[comp], getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(unset)", getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "(unset)"));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%8s %5s %9s %7s %9s %8s %5s %10s %10s %8s %10s %10s %10s %14s %8s\n", "N", "fact", "build_s", "evals", "factor_s", "solve_s", "cpu%", "asm_MB", "factor_MB", "rss_MB", "asm_err", "residual", "error", "logdet", "exact_s"));
  for (PetscInt N = nmin; N <= nmax; N *= 2) {
    H2ULVProblem                 prob;
    PetscBool                    sym;
    PetscInt                     f = fact, nres = 0, *rows = NULL;
    double                      *coords, *xtrue, *b, *hb, *x, *w, *ys = NULL, mem_asm, mem_fact = -1, residual = -1, error = -1, asmerr = -1, logdet = 0;
    int                          haslogdet = 0, ok = 1;
    PetscLogDouble               t0, t1, t2, t3, t4, t5, e0, e1, exact = 0, c0, cpu = 0;
    PetscRandom                  rnd;
    hmat_clustering_algorithm_t *median, *clustering;
    hmat_cluster_tree_t         *tree;
    hmat_admissibility_t        *adm;
    hmat_matrix_t               *hm;
    hmat_assemble_context_t      actx;
    hmat_factorization_context_t fctx;
    hmat_info_t                  info;
    char                         method[32];

    PetscCheck(N <= 2147483647 / 3, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "N too large for hmat-oss int indices");
    PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
    PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
    if (f < 0) f = sym ? 0 : 2;
    PetscCheck(sym || f == 2, PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP, "Problem %s is nonsymmetric: use -fact lu", name);
    PetscCall(PetscSNPrintf(method, sizeof(method), "hmat-oss-%s", facts[f]));
    PetscCall(PetscMalloc6(3 * N, &coords, N, &xtrue, N, &b, N, &hb, N, &x, N, &w));
    PetscCall(H2ULVProblemGetCoordinates(prob, 0, N, coords));
    PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
    PetscCall(PetscRandomSetSeed(rnd, 5));
    PetscCall(PetscRandomSeed(rnd));
    for (PetscInt i = 0; i < N; i++) PetscCall(PetscRandomGetValueReal(rnd, &xtrue[i]));

    /* 1. assembly: cluster tree (median bisection, leaves <= leaf), standard admissibility, compressed assembly */
    nentries = 0;
    c0       = CPUSeconds();
    PetscCall(PetscTime(&t0));
    median     = hmat_create_clustering_median();
    clustering = hmat_create_clustering_max_dof(median, (int)leaf);
    tree       = hmat_create_cluster_tree(coords, 3, (int)N, clustering);
    hmat_delete_clustering(clustering);
    hmat_delete_clustering(median);
    PetscCheck(tree, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat_create_cluster_tree failed");
    adm = hmat_create_admissibility_standard(eta);
    hm  = hi.create_empty_hmatrix_admissibility(tree, tree, f != 2, adm); /* LLt/LDLt need the lower-symmetric storage */
    hmat_delete_admissibility(adm);
    PetscCheck(hm, PETSC_COMM_SELF, PETSC_ERR_LIB, "create_empty_hmatrix_admissibility failed");
    /* The matrix's low-rank epsilon (default 1e-4 in hmat-oss 1.8.1) also truncates every Rk block right
       after its ACA/SVD compression: without this call the assembly error is ~1e-7 whatever -eps is */
    hi.set_low_rank_epsilon(hm, eps);
    hmat_assemble_context_init(&actx);
    switch (comp) {
    case 0: actx.compression = hmat_create_compression_aca_plus(eps); break;
    case 1: actx.compression = hmat_create_compression_aca_partial(eps); break;
    case 2: actx.compression = hmat_create_compression_aca_full(eps); break;
    case 3: actx.compression = hmat_create_compression_svd(eps); break;
    default: actx.compression = hmat_create_compression_aca_random(eps); break;
    }
    actx.user_context    = (void *)prob;
    actx.simple_compute  = Interaction;
    actx.lower_symmetric = f != 2;
    actx.factorization   = hmat_factorization_none;
    actx.progress        = NULL; /* no progress bar on stdout */
    PetscCheck(hi.assemble_generic(hm, &actx) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat assemble_generic failed");
    PetscCall(PetscTime(&t1));
    cpu += CPUSeconds() - c0;
    hmat_delete_compression(actx.compression);
    PetscCheck(hi.get_info(hm, &info) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat get_info failed");
    mem_asm = (double)info.compressed_size * sizeof(double); /* compressed_size counts stored scalars */

    /* right-hand side b = A x_true (not timed), and hb = A_H x_true with hmat's product of the assembled H-matrix */
    {
      const double one = 1.0, zero = 0.0;
      PetscCall(PetscArraycpy(w, xtrue, N));
      PetscCall(PetscArrayzero(hb, N));
      PetscCheck(hi.vector_reorder(w, tree, 0, NULL, 1) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat vector_reorder failed");
      PetscCheck(hi.gemm_dense('N', 'N', 'L', &one, hm, w, &zero, hb, 1) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat gemm_dense failed");
      PetscCheck(hi.vector_restore(hb, tree, 0, NULL, 1) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat vector_restore failed");
    }
    PetscCall(PetscTime(&e0));
    if (N <= exactmax) {
      PetscCall(ExactMult(prob, N, sym, xtrue, b));
      for (PetscInt i = 0; i < N; i++) w[i] = hb[i] - b[i];
      asmerr = Norm2(N, w) / Norm2(N, b);
    } else PetscCall(PetscArraycpy(b, hb, N)); /* asmerr on the sampled rows below */
    PetscCall(PetscTime(&e1));
    exact += e1 - e0;

    /* 2. factorization; its recompressions (Rk sums) at the same epsilon as the assembly (set again: harmless) */
    hi.set_low_rank_epsilon(hm, eps);
    hmat_factorization_context_init(&fctx);
    fctx.factorization = f == 0 ? hmat_factorization_llt : (f == 1 ? hmat_factorization_ldlt : hmat_factorization_lu);
    fctx.progress      = NULL;
    c0 = CPUSeconds();
    PetscCall(PetscTime(&t2));
    if (hi.factorize_generic(hm, &fctx) != 0) ok = 0;
    PetscCall(PetscTime(&t3));
    cpu += CPUSeconds() - c0;
    t4 = t5 = 0;
    if (ok) {
      PetscCheck(hi.get_info(hm, &info) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat get_info failed");
      mem_fact = (double)info.compressed_size * sizeof(double);
      /* hmat-oss 1.8.1 logdet of an LLt factorization returns log det L = (log det A)/2 (checked
         against LAPACK dpotrf at N = 1024, 2048); it supports LLt only */
      haslogdet = f == 0 && hi.logdet && hi.logdet(hm, &logdet) == 0;
      logdet *= 2;

      /* 3. one solve (solve_systems permutes to and from hmat's numbering itself) */
      PetscCall(PetscArraycpy(x, b, N));
      c0 = CPUSeconds();
      PetscCall(PetscTime(&t4));
      if (hi.solve_systems(hm, x, 1) != 0) ok = 0;
      PetscCall(PetscTime(&t5));
      cpu += CPUSeconds() - c0;
    }
    if (ok) {
      /* 4. accuracy with the exact A */
      PetscCall(PetscTime(&e0));
      if (N <= exactmax) {
        PetscCall(ExactMult(prob, N, sym, x, w));
        for (PetscInt i = 0; i < N; i++) w[i] = b[i] - w[i];
        residual = Norm2(N, w) / Norm2(N, b);
      } else { /* nres random rows: ||(A x_true - A x)_S|| / ||(A x_true)_S|| */
        double *xx, num = 0, den = 0;
        nres = PetscMin(nsample, N);
        PetscCall(PetscMalloc3(nres, &rows, 2 * nres, &ys, 2 * N, &xx));
        for (PetscInt s = 0; s < nres; s++) {
          PetscReal r;
          PetscCall(PetscRandomGetValueReal(rnd, &r));
          rows[s] = PetscMin(N - 1, (PetscInt)(r * N));
        }
        PetscCall(PetscArraycpy(xx, xtrue, N));
        PetscCall(PetscArraycpy(xx + N, x, N));
        PetscCall(ExactRows(prob, N, nres, rows, 2, xx, ys));
        for (PetscInt s = 0; s < nres; s++) {
          num += (ys[s] - ys[nres + s]) * (ys[s] - ys[nres + s]);
          den += ys[s] * ys[s];
        }
        residual = sqrt(num / den);
        num      = 0;
        for (PetscInt s = 0; s < nres; s++) num += (hb[rows[s]] - ys[s]) * (hb[rows[s]] - ys[s]);
        asmerr = sqrt(num / den);
        PetscCall(PetscFree3(rows, ys, xx));
      }
      PetscCall(PetscTime(&e1));
      exact += e1 - e0;
      for (PetscInt i = 0; i < N; i++) w[i] = x[i] - xtrue[i];
      error = Norm2(N, w) / Norm2(N, xtrue);
    } else {
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# N %" PetscInt_FMT ": hmat-oss %s factorization or solve failed (message above on stderr)\n", N, facts[f]));
    }

    {
      char ld[32];
      if (haslogdet) PetscCall(PetscSNPrintf(ld, sizeof(ld), "%.6f", logdet));
      else PetscCall(PetscStrncpy(ld, "-", sizeof(ld)));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%8" PetscInt_FMT " %5s %9.3f %7.4f %9.3f %8.4f %5.0f %10.1f %10.1f %8.0f %10.2e %10.2e %10.2e %14s %8.1f\n", N, facts[f], t1 - t0, (double)nentries / ((double)N * N), ok ? t3 - t2 : -1.0, ok ? t5 - t4 : -1.0, 100.0 * cpu / ((t1 - t0) + (t3 - t2) + (t5 - t4)), mem_asm / 1048576.0, mem_fact > 0 ? mem_fact / 1048576.0 : -1.0, PeakRSSBytes() / 1048576.0, asmerr, residual, error, ld, exact));
    }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "RECORD {\"bench\":\"solver\",\"problem\":\"%s\",\"N\":%" PetscInt_FMT ",\"method\":\"%s\",\"threads\":%d,\"ranks\":1,\"tol\":%.6g,\"build_s\":%.6g,\"factor_s\":%.6g,\"solve_s\":%.6g,\"its\":%d,\"residual\":%.4g,\"error\":%.4g,"
                          "\"mem_bytes\":%.6g,\"rss_bytes\":%.6g,\"flops\":-1,\"gflops\":-1}\n",
                          name, N, method, Threads(), (double)eps, t1 - t0, ok ? t3 - t2 : -1.0, ok ? t5 - t4 : -1.0, ok ? 1 : -1, residual, error, mem_fact, PeakRSSBytes()));

    PetscCheck(hi.destroy(hm) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat destroy failed");
    hmat_delete_cluster_tree(tree);
    PetscCall(PetscRandomDestroy(&rnd));
    PetscCall(PetscFree6(coords, xtrue, b, hb, x, w));
    PetscCall(H2ULVProblemDestroy(&prob));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# b = A x_true and the residual ||b - A x||/||b|| by direct summation of H2ULVProblemEntry over all rows for N <= %" PetscInt_FMT
                                          "; above: b from hmat gemv (assembled H-matrix), residual on %" PetscInt_FMT " random rows of the exact A. error = ||x - x_true||/||x_true||.\n"
                                          "# asm_err: ||A_H x_true - A x_true||/||A x_true|| (hmat gemm_dense with the assembled H-matrix vs the exact product; same rows as the residual)\n"
                                          "# cpu%%: process CPU time / wall time of build+factor+solve (single-threaded: below ~95%% means the cores were shared)\n"
                                          "# evals: entries computed by the assembly (H2ULVProblemEntry calls) / N^2. logdet: log det A = 2 x hmat logdet (LLt only). asm_MB/factor_MB: hmat get_info compressed_size x 8 bytes after assembly/factorization; rss_MB: peak RSS of the process so far; exact_s: time of the exact reference products (not part of any phase)\n",
                        exactmax, nsample));
  PetscCheck(hi.finalize() == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat-oss finalize failed");
  PetscCall(PetscFinalize());
  return 0;
}
