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

/* the options of the benchmark (see help[]) */
typedef struct {
  char      name[64];
  PetscInt  nmin, nmax, leaf, exactmax, nsample, comp, fact;
  PetscReal eps, eta;
} BenchOptions;

static const char *const comps[] = {"acaplus", "acapartial", "acafull", "svd", "acarandom"};
static const char *const facts[] = {"llt", "ldlt", "lu"};

/* one size: the problem, the vectors, the H-matrix and what is measured on it */
typedef struct {
  PetscInt             N, f; /* size; factorization (index in facts[]) */
  PetscBool            sym;
  H2ULVProblem         prob;
  PetscRandom          rnd;
  double              *coords, *xtrue, *b, *hb, *x, *w; /* b = A x_true, hb = A_H x_true, x = A_H^-1 b, w work */
  hmat_cluster_tree_t *tree;
  hmat_matrix_t       *hm;
  double               mem_asm, mem_fact, residual, error, asmerr, logdet;
  int                  haslogdet, ok;
  PetscLogDouble       tbuild, tfactor, tsolve, exact, cpu; /* phases (wall), exact reference products, process CPU */
} BenchRun;

/* the command-line options */
static PetscErrorCode ReadOptions(BenchOptions *o)
{
  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", o->name, sizeof(o->name), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmin", &o->nmin, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nmax", &o->nmax, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-eps", &o->eps, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-leaf", &o->leaf, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-eta", &o->eta, NULL));
  PetscCall(PetscOptionsGetEList(NULL, NULL, "-compression", comps, 5, &o->comp, NULL));
  PetscCall(PetscOptionsGetEList(NULL, NULL, "-fact", facts, 3, &o->fact, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-exactmax", &o->exactmax, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nsample", &o->nsample, NULL));
  PetscCheck(o->nmin >= 1 && o->leaf >= 1 && o->eps > 0 && o->nsample >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "Need nmin >= 1, leaf >= 1, eps > 0, nsample >= 1");
  PetscFunctionReturn(0);
}

/* the problem of size N, its points and a random x_true */
static PetscErrorCode RunCreate(const BenchOptions *o, PetscInt N, BenchRun *r)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(r, sizeof(*r)));
  r->N        = N;
  r->f        = o->fact;
  r->mem_fact = r->residual = r->error = r->asmerr = -1;
  r->ok       = 1;
  PetscCheck(N <= 2147483647 / 3, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "N too large for hmat-oss int indices");
  PetscCall(H2ULVProblemCreate(o->name, N, 0, &r->prob));
  PetscCall(H2ULVProblemGetInfo(r->prob, NULL, NULL, NULL, &r->sym));
  if (r->f < 0) r->f = r->sym ? 0 : 2;
  PetscCheck(r->sym || r->f == 2, PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP, "Problem %s is nonsymmetric: use -fact lu", o->name);
  PetscCall(PetscMalloc6(3 * N, &r->coords, N, &r->xtrue, N, &r->b, N, &r->hb, N, &r->x, N, &r->w));
  PetscCall(H2ULVProblemGetCoordinates(r->prob, 0, N, r->coords));
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &r->rnd));
  PetscCall(PetscRandomSetSeed(r->rnd, 5));
  PetscCall(PetscRandomSeed(r->rnd));
  for (PetscInt i = 0; i < N; i++) PetscCall(PetscRandomGetValueReal(r->rnd, &r->xtrue[i]));
  PetscFunctionReturn(0);
}

/* 1. assembly: cluster tree (median bisection, leaves <= leaf), standard admissibility, compressed assembly */
static PetscErrorCode Assemble(const BenchOptions *o, hmat_interface_t *hi, BenchRun *r)
{
  const double                 eps = o->eps;
  hmat_clustering_algorithm_t *median, *clustering;
  hmat_admissibility_t        *adm;
  hmat_assemble_context_t      actx;
  hmat_info_t                  info;
  PetscLogDouble               t0, t1, c0;

  PetscFunctionBeginUser;
  nentries = 0;
  c0       = CPUSeconds();
  PetscCall(PetscTime(&t0));
  median     = hmat_create_clustering_median();
  clustering = hmat_create_clustering_max_dof(median, (int)o->leaf);
  r->tree    = hmat_create_cluster_tree(r->coords, 3, (int)r->N, clustering);
  hmat_delete_clustering(clustering);
  hmat_delete_clustering(median);
  PetscCheck(r->tree, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat_create_cluster_tree failed");
  adm   = hmat_create_admissibility_standard(o->eta);
  r->hm = hi->create_empty_hmatrix_admissibility(r->tree, r->tree, r->f != 2, adm); /* LLt/LDLt need the lower-symmetric storage */
  hmat_delete_admissibility(adm);
  PetscCheck(r->hm, PETSC_COMM_SELF, PETSC_ERR_LIB, "create_empty_hmatrix_admissibility failed");
  /* The matrix's low-rank epsilon (default 1e-4 in hmat-oss 1.8.1) also truncates every Rk block right
     after its ACA/SVD compression: without this call the assembly error is ~1e-7 whatever -eps is */
  hi->set_low_rank_epsilon(r->hm, eps);
  hmat_assemble_context_init(&actx);
  switch (o->comp) {
  case 0: actx.compression = hmat_create_compression_aca_plus(eps); break;
  case 1: actx.compression = hmat_create_compression_aca_partial(eps); break;
  case 2: actx.compression = hmat_create_compression_aca_full(eps); break;
  case 3: actx.compression = hmat_create_compression_svd(eps); break;
  default: actx.compression = hmat_create_compression_aca_random(eps); break;
  }
  actx.user_context    = (void *)r->prob;
  actx.simple_compute  = Interaction;
  actx.lower_symmetric = r->f != 2;
  actx.factorization   = hmat_factorization_none;
  actx.progress        = NULL; /* no progress bar on stdout */
  PetscCheck(hi->assemble_generic(r->hm, &actx) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat assemble_generic failed");
  PetscCall(PetscTime(&t1));
  r->cpu += CPUSeconds() - c0;
  r->tbuild = t1 - t0;
  hmat_delete_compression(actx.compression);
  PetscCheck(hi->get_info(r->hm, &info) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat get_info failed");
  r->mem_asm = (double)info.compressed_size * sizeof(double); /* compressed_size counts stored scalars */
  PetscFunctionReturn(0);
}

/* right-hand side b = A x_true (not timed), and hb = A_H x_true with hmat's product of the assembled H-matrix */
static PetscErrorCode RightHandSide(const BenchOptions *o, hmat_interface_t *hi, BenchRun *r)
{
  const PetscInt N = r->N;
  const double   one = 1.0, zero = 0.0;
  PetscLogDouble e0, e1;

  PetscFunctionBeginUser;
  PetscCall(PetscArraycpy(r->w, r->xtrue, N));
  PetscCall(PetscArrayzero(r->hb, N));
  PetscCheck(hi->vector_reorder(r->w, r->tree, 0, NULL, 1) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat vector_reorder failed");
  PetscCheck(hi->gemm_dense('N', 'N', 'L', &one, r->hm, r->w, &zero, r->hb, 1) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat gemm_dense failed");
  PetscCheck(hi->vector_restore(r->hb, r->tree, 0, NULL, 1) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat vector_restore failed");
  PetscCall(PetscTime(&e0));
  if (N <= o->exactmax) {
    PetscCall(ExactMult(r->prob, N, r->sym, r->xtrue, r->b));
    for (PetscInt i = 0; i < N; i++) r->w[i] = r->hb[i] - r->b[i];
    r->asmerr = Norm2(N, r->w) / Norm2(N, r->b);
  } else PetscCall(PetscArraycpy(r->b, r->hb, N)); /* asmerr on the sampled rows below */
  PetscCall(PetscTime(&e1));
  r->exact += e1 - e0;
  PetscFunctionReturn(0);
}

/* 2. factorization; its recompressions (Rk sums) at the same epsilon as the assembly (set again: harmless);
   3. one solve (solve_systems permutes to and from hmat's numbering itself).  A failure clears r->ok. */
static PetscErrorCode FactorAndSolve(const BenchOptions *o, hmat_interface_t *hi, BenchRun *r)
{
  hmat_factorization_context_t fctx;
  hmat_info_t                  info;
  PetscLogDouble               t2, t3, t4, t5, c0;

  PetscFunctionBeginUser;
  hi->set_low_rank_epsilon(r->hm, o->eps);
  hmat_factorization_context_init(&fctx);
  fctx.factorization = r->f == 0 ? hmat_factorization_llt : (r->f == 1 ? hmat_factorization_ldlt : hmat_factorization_lu);
  fctx.progress      = NULL;
  c0                 = CPUSeconds();
  PetscCall(PetscTime(&t2));
  if (hi->factorize_generic(r->hm, &fctx) != 0) r->ok = 0;
  PetscCall(PetscTime(&t3));
  r->cpu += CPUSeconds() - c0;
  r->tfactor = t3 - t2;
  t4 = t5 = 0;
  if (r->ok) {
    PetscCheck(hi->get_info(r->hm, &info) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat get_info failed");
    r->mem_fact = (double)info.compressed_size * sizeof(double);
    /* hmat-oss 1.8.1 logdet of an LLt factorization returns log det L = (log det A)/2 (checked
       against LAPACK dpotrf at N = 1024, 2048); it supports LLt only */
    r->haslogdet = r->f == 0 && hi->logdet && hi->logdet(r->hm, &r->logdet) == 0;
    r->logdet *= 2;

    PetscCall(PetscArraycpy(r->x, r->b, r->N));
    c0 = CPUSeconds();
    PetscCall(PetscTime(&t4));
    if (hi->solve_systems(r->hm, r->x, 1) != 0) r->ok = 0;
    PetscCall(PetscTime(&t5));
    r->cpu += CPUSeconds() - c0;
  }
  r->tsolve = t5 - t4;
  PetscFunctionReturn(0);
}

/* 4. accuracy with the exact A: residual (all rows, or sampled rows above exactmax) and error */
static PetscErrorCode Accuracy(const BenchOptions *o, BenchRun *r)
{
  const PetscInt N = r->N;
  PetscLogDouble e0, e1;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&e0));
  if (N <= o->exactmax) {
    PetscCall(ExactMult(r->prob, N, r->sym, r->x, r->w));
    for (PetscInt i = 0; i < N; i++) r->w[i] = r->b[i] - r->w[i];
    r->residual = Norm2(N, r->w) / Norm2(N, r->b);
  } else { /* nres random rows: ||(A x_true - A x)_S|| / ||(A x_true)_S|| */
    PetscInt nres = PetscMin(o->nsample, N), *rows;
    double  *xx, *ys, num = 0, den = 0;
    PetscCall(PetscMalloc3(nres, &rows, 2 * nres, &ys, 2 * N, &xx));
    for (PetscInt s = 0; s < nres; s++) {
      PetscReal v;
      PetscCall(PetscRandomGetValueReal(r->rnd, &v));
      rows[s] = PetscMin(N - 1, (PetscInt)(v * N));
    }
    PetscCall(PetscArraycpy(xx, r->xtrue, N));
    PetscCall(PetscArraycpy(xx + N, r->x, N));
    PetscCall(ExactRows(r->prob, N, nres, rows, 2, xx, ys));
    for (PetscInt s = 0; s < nres; s++) {
      num += (ys[s] - ys[nres + s]) * (ys[s] - ys[nres + s]);
      den += ys[s] * ys[s];
    }
    r->residual = sqrt(num / den);
    num         = 0;
    for (PetscInt s = 0; s < nres; s++) num += (r->hb[rows[s]] - ys[s]) * (r->hb[rows[s]] - ys[s]);
    r->asmerr = sqrt(num / den);
    PetscCall(PetscFree3(rows, ys, xx));
  }
  PetscCall(PetscTime(&e1));
  r->exact += e1 - e0;
  for (PetscInt i = 0; i < N; i++) r->w[i] = r->x[i] - r->xtrue[i];
  r->error = Norm2(N, r->w) / Norm2(N, r->xtrue);
  PetscFunctionReturn(0);
}

/* the table row and the RECORD line of one size */
static PetscErrorCode PrintRun(const BenchOptions *o, const BenchRun *r)
{
  char        ld[32], method[32];
  const char *fact = facts[r->f];

  PetscFunctionBeginUser;
  PetscCall(PetscSNPrintf(method, sizeof(method), "hmat-oss-%s", fact));
  if (r->haslogdet) PetscCall(PetscSNPrintf(ld, sizeof(ld), "%.6f", r->logdet));
  else PetscCall(PetscStrncpy(ld, "-", sizeof(ld)));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%8" PetscInt_FMT " %5s %9.3f %7.4f %9.3f %8.4f %5.0f %10.1f %10.1f %8.0f %10.2e %10.2e %10.2e %14s %8.1f\n", r->N, fact, r->tbuild, (double)nentries / ((double)r->N * r->N), r->ok ? r->tfactor : -1.0, r->ok ? r->tsolve : -1.0, 100.0 * r->cpu / (r->tbuild + r->tfactor + r->tsolve), r->mem_asm / 1048576.0,
                        r->mem_fact > 0 ? r->mem_fact / 1048576.0 : -1.0, PeakRSSBytes() / 1048576.0, r->asmerr, r->residual, r->error, ld, r->exact));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "RECORD {\"bench\":\"solver\",\"problem\":\"%s\",\"N\":%" PetscInt_FMT ",\"method\":\"%s\",\"threads\":%d,\"ranks\":1,\"tol\":%.6g,\"build_s\":%.6g,\"factor_s\":%.6g,\"solve_s\":%.6g,\"its\":%d,\"residual\":%.4g,\"error\":%.4g,"
                        "\"mem_bytes\":%.6g,\"rss_bytes\":%.6g,\"flops\":-1,\"gflops\":-1}\n",
                        o->name, r->N, method, Threads(), (double)o->eps, r->tbuild, r->ok ? r->tfactor : -1.0, r->ok ? r->tsolve : -1.0, r->ok ? 1 : -1, r->residual, r->error, r->mem_fact, PeakRSSBytes()));
  PetscFunctionReturn(0);
}

/* one size: assembly, factorization, solve, accuracy, one row of the table */
static PetscErrorCode RunSize(const BenchOptions *o, hmat_interface_t *hi, PetscInt N)
{
  BenchRun r;

  PetscFunctionBeginUser;
  PetscCall(RunCreate(o, N, &r));
  PetscCall(Assemble(o, hi, &r));
  PetscCall(RightHandSide(o, hi, &r));
  PetscCall(FactorAndSolve(o, hi, &r));
  if (r.ok) PetscCall(Accuracy(o, &r));
  else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# N %" PetscInt_FMT ": hmat-oss %s factorization or solve failed (message above on stderr)\n", N, facts[r.f]));
  PetscCall(PrintRun(o, &r));
  PetscCheck(hi->destroy(r.hm) == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat destroy failed");
  hmat_delete_cluster_tree(r.tree);
  PetscCall(PetscRandomDestroy(&r.rnd));
  PetscCall(PetscFree6(r.coords, r.xtrue, r.b, r.hb, r.x, r.w));
  PetscCall(H2ULVProblemDestroy(&r.prob));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  BenchOptions     o = {.name = "sphere-laplace", .nmin = 4096, .nmax = 16384, .leaf = 128, .exactmax = 16384, .nsample = 256, .comp = 0, .fact = -1, .eps = 1e-8, .eta = 2.0};
  hmat_interface_t hi;
  PetscMPIInt      size;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(size == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP, "bench_hmat is sequential (hmat-oss): run it on one process");
  PetscCall(ReadOptions(&o));

  hmat_init_default_interface(&hi, HMAT_DOUBLE_PRECISION);
  PetscCheck(hi.init() == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat-oss initialization failed");

  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# hmat-oss %s on %s: eps %g, leaf %" PetscInt_FMT ", eta %g, compression %s; OMP_NUM_THREADS=%s OPENBLAS_NUM_THREADS=%s (hmat-oss itself is sequential)\n", hmat_get_version(), o.name, (double)o.eps, o.leaf, (double)o.eta,
                        comps[o.comp], getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(unset)", getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "(unset)"));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%8s %5s %9s %7s %9s %8s %5s %10s %10s %8s %10s %10s %10s %14s %8s\n", "N", "fact", "build_s", "evals", "factor_s", "solve_s", "cpu%", "asm_MB", "factor_MB", "rss_MB", "asm_err", "residual", "error", "logdet", "exact_s"));
  for (PetscInt N = o.nmin; N <= o.nmax; N *= 2) PetscCall(RunSize(&o, &hi, N));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "# b = A x_true and the residual ||b - A x||/||b|| by direct summation of H2ULVProblemEntry over all rows for N <= %" PetscInt_FMT
                                          "; above: b from hmat gemv (assembled H-matrix), residual on %" PetscInt_FMT " random rows of the exact A. error = ||x - x_true||/||x_true||.\n"
                                          "# asm_err: ||A_H x_true - A x_true||/||A x_true|| (hmat gemm_dense with the assembled H-matrix vs the exact product; same rows as the residual)\n"
                                          "# cpu%%: process CPU time / wall time of build+factor+solve (single-threaded: below ~95%% means the cores were shared)\n"
                                          "# evals: entries computed by the assembly (H2ULVProblemEntry calls) / N^2. logdet: log det A = 2 x hmat logdet (LLt only). asm_MB/factor_MB: hmat get_info compressed_size x 8 bytes after assembly/factorization; rss_MB: peak RSS of the process so far; exact_s: time of the exact reference products (not part of any phase)\n",
                        o.exactmax, o.nsample));
  PetscCheck(hi.finalize() == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "hmat-oss finalize failed");
  PetscCall(PetscFinalize());
  return 0;
}
