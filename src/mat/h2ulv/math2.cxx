/*
   MATH2 ("h2"): an H^2 matrix with shared nested bases, built from points plus a kernel, a block
   entry callback, or an assembled dense matrix.  The numerical work lives in src/core; this file is
   the PETSc-facing layer: options, ops table, user/tree orderings (a PetscSF), logging and views.
*/
#include "math2impl.h"

#include "core/parallel.hpp"

#include <petscsf.h>
#include <cmath>
#include <cstring>
#include <unistd.h>

static PetscErrorCode MatSetFromOptions_H2(Mat, PetscOptionItems *);
static PetscErrorCode MatH2Apply_Private(Mat, PetscBool, PetscInt, const PetscScalar *, PetscInt, PetscScalar *, PetscInt, PetscBool);

static Mat_H2 *H2(Mat A) { return static_cast<Mat_H2 *>(A->data); }

/* dshift += a * d (d in local tree order; NULL: all ones) */
static void MatH2TrackShift_Private(Mat_H2 *h, const PetscScalar *d, PetscReal a)
{
  const size_t n = (size_t)(h->structure->layout().pointEnd() - h->structure->layout().pointBegin());
  if (h->dshift.size() != n) h->dshift.assign(n, 0.0);
  for (size_t i = 0; i < n; i++) h->dshift[i] += a * (d ? PetscRealPart(d[i]) : 1.0);
}

/* forget the built representation (new points, kernel or parameters) */
static PetscErrorCode MatH2ResetBuilt_Private(Mat A)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  h->structure.reset();
  h->evaluator.reset();
  h->tree.reset();
  h->values = h2ulv::H2Values<double>();
  h->alpha  = 1.0;
  h->dshift.clear();
  PetscCall(PetscSFDestroy(&h->sf));
  A->assembled = PETSC_FALSE;
  A->nonzerostate++;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Setters (composed as "<Name>_C")
   ------------------------------------------------------------------------------------------------ */
static PetscErrorCode MatH2SetCoordinates_H2(Mat A, PetscInt dim, const PetscReal coords[])
{
  Mat_H2     *h = H2(A);
  PetscInt    n, bad = -1, gbad;
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCheck(dim >= 1 && dim <= 3, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetCoordinates: dim = %" PetscInt_FMT " but the spatial dimension must be 1, 2 or 3", dim);
  PetscCheck(A->rmap->n >= 0 || A->rmap->N >= 0, PetscObjectComm((PetscObject)A), PETSC_ERR_ORDER, "MatH2SetCoordinates: call MatSetSizes() first, so the number of local points is known");
  PetscCall(PetscLayoutSetUp(A->rmap));
  PetscCall(PetscLayoutSetUp(A->cmap));
  n = A->rmap->n;
  PetscCheck(n == 0 || coords, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "MatH2SetCoordinates: coords is NULL but this process owns %" PetscInt_FMT " rows", n);
  for (PetscInt i = 0; i < n * dim && bad < 0; i++)
    if (!std::isfinite(coords[i])) bad = i;
  PetscCall(MPIU_Allreduce(&bad, &gbad, 1, MPIU_INT, MPI_MAX, PetscObjectComm((PetscObject)A)));
  PetscCallMPI(MPI_Comm_rank(PetscObjectComm((PetscObject)A), &rank));
  PetscCheck(bad < 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetCoordinates: coordinate %" PetscInt_FMT " of local point %" PetscInt_FMT " (global row %" PetscInt_FMT ") is %g: coordinates must be finite", bad % dim, bad / dim, A->rmap->rstart + bad / dim,
             (double)coords[bad]);
  PetscCheck(gbad < 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetCoordinates: another process was given a coordinate that is NaN or Inf");
  PetscCall(MatH2ResetBuilt_Private(A));
  h->dim = dim;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { h->coords.assign(coords, coords + n * dim); }));
  h->coords_set  = PETSC_TRUE;
  A->preallocated = PETSC_TRUE;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetKernel_H2(Mat A, MatH2KernelFn fn, void *ctx)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2ResetBuilt_Private(A));
  h->kfn  = fn;
  h->kctx = ctx;
  if (fn) {
    h->efn = nullptr;
    h->dense.reset();
    h->kernel = MATH2_KERNEL_NONE;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetEntries_H2(Mat A, MatH2EntriesFn fn, void *ctx)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2ResetBuilt_Private(A));
  h->efn  = fn;
  h->ectx = ctx;
  if (fn) {
    h->kfn = nullptr;
    h->dense.reset();
    h->kernel = MATH2_KERNEL_NONE;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2CheckKernelParams_Private(Mat A, MatH2KernelType k, PetscReal scale, PetscReal param, PetscReal diag, PetscReal nugget)
{
  PetscFunctionBegin;
  PetscCheck(std::isfinite(scale), PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_kernel_scale (the kernel's prefactor) must be finite, got %g", (double)scale);
  PetscCheck(diag == PETSC_DEFAULT || std::isfinite(diag), PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_kernel_diag (the diagonal value A_ii) must be finite, got %g", (double)diag);
  PetscCheck(std::isfinite(nugget), PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_kernel_nugget (added to A_ii) must be finite, got %g", (double)nugget);
  PetscCheck(k >= MATH2_KERNEL_NONE && k <= MATH2_KERNEL_IMQ, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "Unknown MATH2 kernel type %d", (int)k);
  if (k != MATH2_KERNEL_NONE && k != MATH2_KERNEL_LAPLACE)
    PetscCheck(param > 0 || (k == MATH2_KERNEL_YUKAWA && param >= 0), PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_kernel_length (the kernel's length scale or decay) must be positive, got %g", (double)param);
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetBuiltinKernel_H2(Mat A, MatH2KernelType k, PetscReal scale, PetscReal param, PetscReal diag, PetscReal nugget)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2CheckKernelParams_Private(A, k, scale, param, diag, nugget));
  PetscCall(MatH2ResetBuilt_Private(A));
  h->kernel    = k;
  h->kscale    = scale;
  h->kparam    = param;
  h->kdiag_set = (PetscBool)(diag != PETSC_DEFAULT);
  h->kdiag     = diag;
  h->knugget   = nugget;
  if (k != MATH2_KERNEL_NONE) {
    h->kfn = nullptr;
    h->efn = nullptr;
    h->dense.reset();
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2CheckTolerance_Private(Mat A, PetscReal rtol, PetscInt maxrank)
{
  PetscFunctionBegin;
  PetscCheck(rtol > 0 && rtol < 1, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MATH2 tolerance (-mat_h2_rtol) must lie in (0, 1), got %g", (double)rtol);
  PetscCheck(maxrank >= 1, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MATH2 maximum rank (-mat_h2_max_rank) must be at least 1, got %" PetscInt_FMT, maxrank);
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetTolerance_H2(Mat A, PetscReal rtol, PetscInt maxrank)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  if (rtol == PETSC_DEFAULT) rtol = h->rtol;
  if (maxrank == PETSC_DEFAULT) maxrank = h->maxrank;
  PetscCall(MatH2CheckTolerance_Private(A, rtol, maxrank));
  PetscCall(MatH2ResetBuilt_Private(A));
  h->rtol    = rtol;
  h->maxrank = maxrank;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetLeafSize_H2(Mat A, PetscInt leaf)
{
  PetscFunctionBegin;
  PetscCheck(leaf >= 1, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MATH2 leaf size (-mat_h2_leaf_size) must be at least 1, got %" PetscInt_FMT, leaf);
  PetscCall(MatH2ResetBuilt_Private(A));
  H2(A)->leafsize = leaf;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetAdmissibility_H2(Mat A, MatH2AdmissibilityType t, PetscReal param)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCheck(param >= 0, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MATH2 admissibility parameter must be non-negative, got %g", (double)param);
  PetscCall(MatH2ResetBuilt_Private(A));
  h->adm = t;
  if (t == MATH2_ADMISSIBILITY_THETA) h->theta = param;
  else h->eta = param;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetSampleSize_H2(Mat A, PetscInt s)
{
  PetscFunctionBegin;
  PetscCheck(s >= 0, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MATH2 sample size (-mat_h2_samples) must be non-negative (0 = automatic), got %" PetscInt_FMT, s);
  PetscCall(MatH2ResetBuilt_Private(A));
  H2(A)->nsamples = s;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetStorage_H2(Mat A, MatH2StorageType st, PetscReal memlimit)
{
  PetscFunctionBegin;
  PetscCheck(st >= MATH2_STORAGE_AUTO && st <= MATH2_STORAGE_JIT, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetStorage: unknown storage type %d", (int)st);
  PetscCheck(memlimit >= 0 || memlimit == PETSC_DEFAULT, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetStorage: the memory limit (-mat_h2_memory_limit, MB) must be non-negative (0: automatic), got %g", (double)memlimit);
  if (st != H2(A)->storage) PetscCall(MatH2ResetBuilt_Private(A));
  H2(A)->storage  = st;
  H2(A)->memlimit = memlimit == PETSC_DEFAULT ? 0 : memlimit;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2CheckBuilt_Private(Mat A)
{
  PetscFunctionBegin;
  PetscCheck(H2(A)->structure, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_WRONGSTATE, "MATH2 matrix is not assembled: call MatAssemblyBegin/End() first");
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2GetIndexMap_H2(Mat A, IS *is)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  const h2ulv::Layout  &lay = h->structure->layout();
  std::vector<PetscInt> idx;
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { idx.assign(h->tree->perm().begin() + lay.pointBegin(), h->tree->perm().begin() + lay.pointEnd()); }));
  PetscCall(ISCreateGeneral(PetscObjectComm((PetscObject)A), (PetscInt)idx.size(), idx.data(), PETSC_COPY_VALUES, is));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2GetRanks_H2(Mat A, PetscInt *nlevels, PetscInt minr[], PetscInt maxr[], PetscReal meanr[])
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  std::vector<h2ulv::LevelStats> st;
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { st = h->structure->stats(); }));
  if (nlevels) *nlevels = (PetscInt)st.size();
  for (size_t l = 0; l < st.size(); l++) {
    if (minr) minr[l] = st[l].minrank;
    if (maxr) maxr[l] = st[l].maxrank;
    if (meanr) meanr[l] = st[l].meanrank;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2GetMemory_H2(Mat A, PetscLogDouble *bytes)
{
  Mat_H2        *h = H2(A);
  PetscLogDouble b;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { b = (PetscLogDouble)(h->structure->bytes() + h->values.bytes()); }));
  PetscCall(MPIU_Allreduce(&b, bytes, 1, MPIU_PETSCLOGDOUBLE, MPI_SUM, PetscObjectComm((PetscObject)A)));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2GetInfo_H2(Mat A, MatH2Info *info)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  std::vector<h2ulv::LevelStats> st;
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { st = h->structure->stats(); }));
  PetscCall(PetscMemzero(info, sizeof(*info)));
  info->levels   = (PetscInt)st.size();
  info->leafrank = st.back().meanrank;
  for (const auto &s : st) {
    info->maxrank = PetscMax(info->maxrank, (PetscInt)s.maxrank);
    info->nfar += (PetscInt)s.nfar;
  }
  info->nnear       = (PetscInt)st.back().nnear;
  info->time_tree   = h->t_tree;
  info->time_basis  = h->t_basis;
  info->time_values = h->t_values;
  info->rtol        = h->rtol;
  info->checkerr    = h->checkerr;
  PetscCall(MatH2GetMemory_H2(A, &info->bytes));
  PetscCall(MPIU_Allreduce(&h->multflops, &info->mult_flops, 1, MPIU_PETSCLOGDOUBLE, MPI_SUM, PetscObjectComm((PetscObject)A)));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Orderings: user layout (PETSc) <-> local tree order
   ------------------------------------------------------------------------------------------------ */
PetscErrorCode MatH2ToTree_Private(Mat A, const PetscScalar *user, PetscScalar *tree, PetscInt k, PetscInt ldu)
{
  Mat_H2  *h  = H2(A);
  PetscInt nt = h->structure->layout().pointEnd() - h->structure->layout().pointBegin();

  PetscFunctionBegin;
  for (PetscInt j = 0; j < k; j++) {
    PetscCall(PetscSFBcastBegin(h->sf, MPIU_SCALAR, user + j * ldu, tree + j * nt, MPI_REPLACE));
    PetscCall(PetscSFBcastEnd(h->sf, MPIU_SCALAR, user + j * ldu, tree + j * nt, MPI_REPLACE));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode MatH2FromTree_Private(Mat A, const PetscScalar *tree, PetscScalar *user, PetscInt k, PetscInt ldu)
{
  Mat_H2  *h  = H2(A);
  PetscInt nt = h->structure->layout().pointEnd() - h->structure->layout().pointBegin();

  PetscFunctionBegin;
  for (PetscInt j = 0; j < k; j++) {
    PetscCall(PetscSFReduceBegin(h->sf, MPIU_SCALAR, tree + j * nt, user + j * ldu, MPI_REPLACE));
    PetscCall(PetscSFReduceEnd(h->sf, MPIU_SCALAR, tree + j * nt, user + j * ldu, MPI_REPLACE));
  }
  PetscFunctionReturn(0);
}

/* the built-in kernels that are positive definite for distinct points, with a positive scale, no
   diagonal of their own and a non-negative nugget */
PetscBool MatH2KernelIsSPD_Private(const Mat_H2 *h)
{
  const bool pd = h->kernel == MATH2_KERNEL_GAUSSIAN || h->kernel == MATH2_KERNEL_EXPONENTIAL || h->kernel == MATH2_KERNEL_MATERN32 || h->kernel == MATH2_KERNEL_MATERN52 || h->kernel == MATH2_KERNEL_IMQ;
  return (PetscBool)(pd && h->kscale > 0 && !h->kdiag_set && h->knugget >= 0 && PetscRealPart(h->alpha) > 0 && h->dshift.empty());
}

PetscErrorCode MatH2GetStructure_Private(Mat A, Mat_H2 **h)
{
  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  *h = H2(A);
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Construction (MatAssemblyEnd)
   ------------------------------------------------------------------------------------------------ */
/* what shapes the tree, the bases and the storage must be the same on every process */
static PetscErrorCode MatH2CheckSame_Private(Mat A)
{
  Mat_H2          *h   = H2(A);
  const H2ULVParam p[] = {
    {"the point dimension of MatH2SetCoordinates()", (double)h->dim},
    {"the source of the entries (built-in kernel, MatH2SetKernel, MatH2SetEntries, dense)", (double)(h->kernel != MATH2_KERNEL_NONE ? 0 : h->kfn ? 1 : h->efn ? 2 : 3)},
    {"-mat_h2_kernel", (double)h->kernel},
    {"-mat_h2_kernel_scale", h->kscale},
    {"-mat_h2_kernel_length", h->kparam},
    {"-mat_h2_kernel_diag", h->kdiag_set ? h->kdiag : -PETSC_MAX_REAL},
    {"-mat_h2_kernel_nugget", h->knugget},
    {"MAT_SYMMETRIC or -mat_h2_symmetric", (double)h->symmetric},
    {"-mat_h2_leaf_size", (double)h->leafsize},
    {"-mat_h2_rtol", h->rtol},
    {"-mat_h2_max_rank", (double)h->maxrank},
    {"-mat_h2_samples", (double)h->nsamples},
    {"-mat_h2_admissibility", (double)h->adm},
    {"-mat_h2_theta", h->theta},
    {"-mat_h2_eta", h->eta},
    {"-mat_h2_storage", (double)h->storage},
    {"-mat_h2_memory_limit", h->memlimit},
    {"-mat_h2_check_rows", (double)h->checkrows},
  };

  PetscFunctionBegin;
  PetscCall(H2ULVCheckSame_Private(PetscObjectComm((PetscObject)A), "MATH2", (PetscInt)(sizeof(p) / sizeof(p[0])), p));
  PetscFunctionReturn(0);
}

/* A matrix declared symmetric (MAT_SYMMETRIC, MAT_SPD, -mat_h2_symmetric) whose entries are not:
   the bases of one side would serve both and the products would be silently wrong.  The entries of
   a few rows and columns (random, and their tree neighbours) against their transposes. */
static PetscErrorCode MatH2CheckSymmetric_Private(Mat A)
{
  Mat_H2             *h = H2(A);
  const int           N = h->tree->size(), m = PetscMin(N, 64);
  std::vector<int>    idx;
  std::vector<double> S((size_t)m * m);
  double              worst = 0, gworst;
  int                 wi = 0, wj = 0;

  PetscFunctionBegin;
  if (!h->symmetric || h->kernel != MATH2_KERNEL_NONE) PetscFunctionReturn(0);
  for (unsigned long k = 0, r = 12345; (int)idx.size() < m; k++) { /* the same pseudo-random rows on every process */
    r      = (r * 6364136223846793005ul + 1442695040888963407ul);
    int i  = (int)((r >> 17) % (unsigned long)N);
    idx.push_back(i);
    if ((int)idx.size() < m) idx.push_back((i + 1) % N);
  }
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { h->evaluator->eval(idx.data(), m, idx.data(), m, S.data(), m); }));
  double amax = 0;
  for (double v : S) amax = PetscMax(amax, PetscAbsReal(v));
  for (int j = 0; j < m; j++)
    for (int i = 0; i < m; i++) {
      const double a = S[i + (size_t)j * m], b = S[j + (size_t)i * m];
      const double d = PetscAbsReal(a - b) / (PetscMax(PetscAbsReal(a), PetscAbsReal(b)) + 1e-14 * amax + 1e-300);
      if (d > worst) worst = d, wi = idx[i], wj = idx[j];
    }
  PetscCall(MPIU_Allreduce(&worst, &gworst, 1, MPI_DOUBLE, MPI_MAX, PetscObjectComm((PetscObject)A)));
  if (gworst > PETSC_SQRT_MACHINE_EPSILON) {
    const auto &perm = h->tree->perm();
    PetscCheck(worst <= PETSC_SQRT_MACHINE_EPSILON, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "MATH2 was declared symmetric (MAT_SYMMETRIC, MAT_SPD or -mat_h2_symmetric) but its entries are not symmetric: A(%d, %d) and A(%d, %d) differ by %.3g relative; do not set the option (or give -mat_h2_symmetric 0)", (int)perm[wi], (int)perm[wj], (int)perm[wj], (int)perm[wi], worst);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "MATH2 was declared symmetric (MAT_SYMMETRIC, MAT_SPD or -mat_h2_symmetric) but its entries are not symmetric (found on another process); do not set the option (or give -mat_h2_symmetric 0)");
  }
  PetscFunctionReturn(0);
}

/* the points gathered on every process and the cluster tree over them: refuse up front what cannot fit */
static PetscErrorCode MatH2CheckMemory_Private(Mat A)
{
  Mat_H2      *h = H2(A);
  const double N = (double)A->rmap->N;
  char         what[128];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(what, sizeof(what), "MATH2 with %.0f points in %" PetscInt_FMT " dimensions (the points on every process and their cluster tree)", N, h->dim));
  PetscCall(H2ULVCheckMemory_Private(PetscObjectComm((PetscObject)A), N * (16.0 * h->dim + 16.0), what, "a smaller problem, or nodes with more memory (every process holds all the points)"));
  PetscFunctionReturn(0);
}

/* A user kernel reports that it cannot compute an entry by returning NaN or Inf (its only channel):
   an error naming the entry, from every operation that evaluates it (x and y are points of the tree) */
[[noreturn]] static void MatH2KernelNotFinite_Private(const h2ulv::ClusterTree &T, const double *x, const double *y, double v)
{
  const int d = T.dim(), i = T.perm()[(int)((x - T.point(0)) / d)], j = T.perm()[(int)((y - T.point(0)) / d)];
  throw h2ulv::Error(h2ulv::ERR_NUMERIC, "the matrix entries are not finite: the MatH2SetKernel callback returned " + std::to_string(v) + " for A(" + std::to_string(i) + ", " + std::to_string(j) + ") (check the kernel)");
}

static PetscErrorCode MatH2Build_Private(Mat A)
{
  Mat_H2        *h    = H2(A);
  MPI_Comm       comm = PetscObjectComm((PetscObject)A);
  PetscMPIInt    size;
  PetscLogDouble t0, t1;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscLayoutSetUp(A->rmap));
  PetscCall(PetscLayoutSetUp(A->cmap));
  PetscCheck(A->rmap->N == A->cmap->N && A->rmap->n == A->cmap->n, comm, PETSC_ERR_ARG_SIZ, "MATH2 matrices are square with the same row and column layout; got %" PetscInt_FMT " x %" PetscInt_FMT " (local %" PetscInt_FMT " x %" PetscInt_FMT ")", A->rmap->N, A->cmap->N, A->rmap->n, A->cmap->n);
  PetscCheck(h->coords_set, comm, PETSC_ERR_ORDER, "MATH2 has no coordinates: call MatH2SetCoordinates() before MatAssemblyEnd()");
  PetscCheck((PetscInt)h->coords.size() == A->rmap->n * h->dim, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "MATH2 was given %" PetscInt_FMT " local points but owns %" PetscInt_FMT " rows: the layout changed after MatH2SetCoordinates()", (PetscInt)h->coords.size() / h->dim, A->rmap->n);
  PetscCheck(h->kfn || h->efn || h->dense || h->kernel != MATH2_KERNEL_NONE, comm, PETSC_ERR_ORDER, "MATH2 has no entries: call MatH2SetKernel(), MatH2SetEntries() or MatH2SetBuiltinKernel(), or choose -mat_h2_kernel, before MatAssemblyEnd()");
  PetscCheck(A->rmap->N >= 1, comm, PETSC_ERR_ARG_SIZ, "MATH2 needs at least one point (the global size is 0)");
  if (h->kernel == MATH2_KERNEL_LAPLACE || h->kernel == MATH2_KERNEL_YUKAWA) PetscCheck(h->kdiag_set, comm, PETSC_ERR_ARG_WRONG, "The %s kernel is singular at r = 0: give its diagonal value with -mat_h2_kernel_diag (or MatH2SetBuiltinKernel)", MatH2KernelTypes[h->kernel]);
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(MatH2ResetBuilt_Private(A));
  if (h->threads > 0) PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { h2ulv::setDefaultThreads((int)h->threads); }));
  h->symmetric = (PetscBool)(h->kernel != MATH2_KERNEL_NONE || A->symmetric == PETSC_BOOL3_TRUE || A->spd == PETSC_BOOL3_TRUE || (h->symmetric_set && h->symmetric_opt));
  if (h->symmetric_set && !h->symmetric_opt) h->symmetric = PETSC_FALSE;
  PetscCall(MatH2CheckSame_Private(A));
  PetscCall(MatH2CheckMemory_Private(A));

  /* all points on every process (the tree and the far samples need them) */
  const PetscInt      N = A->rmap->N, dim = h->dim;
  std::vector<double> all;
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() { all.resize((size_t)N * dim); }));
  {
    std::vector<PetscMPIInt> counts(size), displs(size);
    for (PetscMPIInt p = 0; p < size; p++) {
      counts[p] = (PetscMPIInt)((A->rmap->range[p + 1] - A->rmap->range[p]) * dim);
      displs[p] = (PetscMPIInt)(A->rmap->range[p] * dim);
    }
    PetscCallMPI(MPI_Allgatherv(h->coords.data(), (PetscMPIInt)h->coords.size(), MPIU_REAL, all.data(), counts.data(), displs.data(), MPIU_REAL, comm));
  }

  PetscCall(PetscLogEventBegin(MATH2_Tree, A, 0, 0, 0));
  PetscCall(PetscTime(&t0));
  h2ulv::TreeOptions topt;
  topt.leafsize = (int)h->leafsize;
  topt.adm      = h->adm == MATH2_ADMISSIBILITY_THETA ? h2ulv::Admissibility::Theta : h2ulv::Admissibility::Eta;
  topt.admparam = h->adm == MATH2_ADMISSIBILITY_THETA ? h->theta : h->eta;
  ierr = H2ULVCallCore(comm, PETSC_FALSE, [&]() { h->tree = std::make_shared<h2ulv::ClusterTree>((int)dim, (int)N, all.data(), topt); });
  if (ierr) PetscCall(PetscLogEventEnd(MATH2_Tree, A, 0, 0, 0)); /* the events stay balanced when the build fails */
  PetscCall(ierr);
  all.clear();
  all.shrink_to_fit();

  /* the entries */
  const h2ulv::ClusterTree &T = *h->tree;
  PetscBool cbthreads = h->cbthreads;
  ierr = H2ULVCallCore(comm, PETSC_FALSE, [&]() {
    if (h->kernel != MATH2_KERNEL_NONE) {
      h2ulv::KernelParams kp;
      const h2ulv::KernelKind kinds[] = {h2ulv::KernelKind::Laplace, h2ulv::KernelKind::Laplace, h2ulv::KernelKind::Yukawa, h2ulv::KernelKind::Gaussian, h2ulv::KernelKind::Exponential, h2ulv::KernelKind::Matern32, h2ulv::KernelKind::Matern52, h2ulv::KernelKind::IMQ};
      kp.kind         = kinds[h->kernel];
      kp.scale        = h->kscale;
      kp.param        = h->kparam;
      kp.diag         = h->kdiag_set ? (double)h->kdiag : NAN;
      kp.nugget       = h->knugget;
      h->evaluator    = std::make_shared<h2ulv::BuiltinKernel>(T, kp);
    } else if (h->kfn) {
      MatH2KernelFn             fn = h->kfn;
      void                     *cx = h->kctx;
      PetscInt                  d  = dim;
      const h2ulv::ClusterTree *tp = &T;
      h->evaluator                 = std::make_shared<h2ulv::FunctionKernel>(T,
                                                             [fn, cx, d, tp](const double *x, const double *y) {
                                                               const double v = (double)fn(d, x, y, cx);
                                                               if (!std::isfinite(v)) MatH2KernelNotFinite_Private(*tp, x, y, v);
                                                               return v;
                                                             },
                                                             cbthreads);
    } else if (h->efn) {
      MatH2EntriesFn fn = h->efn;
      void          *cx = h->ectx;
      h->evaluator      = std::make_shared<h2ulv::BlockCallback>(T,
                                                            [fn, cx](int m, const int *r, int n, const int *c, double *o, int ld) {
                                                              static_assert(sizeof(PetscInt) == sizeof(int), "32-bit PetscInt expected");
                                                              return (int)fn(m, (const PetscInt *)r, n, (const PetscInt *)c, o, ld, cx);
                                                            },
                                                            cbthreads);
    } else h->evaluator = std::make_shared<h2ulv::DenseEntries>(T, *h->dense);
  });
  PetscCall(PetscTime(&t1));
  h->t_tree = t1 - t0;
  PetscCall(PetscLogEventEnd(MATH2_Tree, A, 0, 0, 0));
  PetscCall(ierr);

  PetscCall(MatH2CheckSymmetric_Private(A));

  /* bases, level by level */
  PetscCall(PetscLogEventBegin(MATH2_Basis, A, 0, 0, 0));
  h2ulv::BuildOptions bopt;
  bopt.rtol      = h->rtol;
  bopt.maxrank   = (int)h->maxrank;
  bopt.nsamples  = (int)(h->nsamples > 0 ? h->nsamples : MatH2AutoSamples_Private(h->rtol));
  bopt.symmetric = h->symmetric;
  ierr = H2ULVCallCore(comm, PETSC_TRUE, [&]() { h->structure = std::make_shared<const h2ulv::H2Structure>(comm, h->tree, *h->evaluator, bopt); });
  PetscCall(PetscTime(&t0));
  h->t_basis = t0 - t1;
  PetscCall(PetscLogEventEnd(MATH2_Basis, A, 0, 0, 0));
  PetscCall(ierr);

  /* near blocks and couplings: stored, or computed on the fly when they would not fit */
  PetscCall(PetscLogEventBegin(MATH2_Values, A, 0, 0, 0));
  {
    PetscMPIInt    size;
    PetscLogDouble est = 0, gest, limit = h->memlimit * 1048576.0;
    PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { est = (PetscLogDouble)h2ulv::H2Values<double>::estimateBytes(*h->structure); }));
    PetscCallMPI(MPI_Comm_size(comm, &size));
    PetscCall(MPIU_Allreduce(&est, &gest, 1, MPIU_PETSCLOGDOUBLE, MPI_MAX, comm));
    if (limit <= 0) limit = 0.5 * (PetscLogDouble)sysconf(_SC_PHYS_PAGES) * (PetscLogDouble)sysconf(_SC_PAGE_SIZE) / size;
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &limit, 1, MPIU_PETSCLOGDOUBLE, MPI_MIN, comm)); /* one decision for all processes */
    h->jit = (PetscBool)(h->storage == MATH2_STORAGE_JIT || (h->storage == MATH2_STORAGE_AUTO && gest > limit));
    if (h->jit && h->storage == MATH2_STORAGE_AUTO)
      PetscCall(PetscInfo(A, "MATH2: the near blocks and couplings would take %.4g MB on a process (limit %.4g MB, -mat_h2_memory_limit): computing them on the fly in every product instead\n", gest / 1048576.0, limit / 1048576.0));
  }
  ierr = H2ULVCallCore(comm, PETSC_TRUE, [&]() {
    if (h->jit) h->values.buildJit(*h->structure, h->evaluator);
    else h->values.build(*h->structure, *h->evaluator);
  });
  PetscCall(PetscTime(&t1));
  h->t_values = t1 - t0;
  PetscCall(PetscLogEventEnd(MATH2_Values, A, 0, 0, 0));
  PetscCall(ierr);

  /* user layout <-> tree order */
  {
    const h2ulv::Layout  &lay = h->structure->layout();
    std::vector<PetscInt> gidx;
    PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() { gidx.assign(T.perm().begin() + lay.pointBegin(), T.perm().begin() + lay.pointEnd()); }));
    PetscCall(PetscSFCreate(comm, &h->sf));
    PetscCall(PetscSFSetGraphLayout(h->sf, A->rmap, (PetscInt)gidx.size(), NULL, PETSC_COPY_VALUES, gidx.data()));
    PetscCall(PetscSFSetUp(h->sf));
  }

  /* flops of one product with one vector */
  {
    const int L     = T.levels();
    double    flops = 0;
    const auto &N  = T.nearList(L);
    for (int i : h->structure->layout().owned(L))
      for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) flops += 2.0 * T.cell(L, i).size() * T.cell(L, N.col[p]).size();
    for (int l = 1; l <= L; l++) {
      const auto &F = T.farList(l);
      for (int i : h->structure->layout().owned(l)) {
        const auto &B = h->structure->basis(l, i, true);
        flops += 4.0 * B.U.rows() * B.rank();
        for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) flops += 2.0 * h->structure->rank(l, i, true) * h->structure->rank(l, F.col[p], false);
      }
    }
    h->multflops = flops;
  }
  {
    std::vector<h2ulv::LevelStats> st;
    PetscLogDouble                 mem;
    PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { st = h->structure->stats(); }));
    PetscCall(MatH2GetMemory_H2(A, &mem));
    PetscCall(PetscInfo(A, "MATH2 built: N %" PetscInt_FMT ", %d levels, leaf rank %d..%d, top rank %d, %.3g MB (%.3g%% of dense), tree %.3g s, bases %.3g s, values %.3g s\n", N, (int)st.size(), st.back().minrank, st.back().maxrank, st.size() > 1 ? st[1].maxrank : 0, mem / 1048576.0,
                        100.0 * mem / (8.0 * (double)N * (double)N), h->t_tree, h->t_basis, h->t_values));
    int ncap = 0;
    for (const auto &s : st) ncap += s.ncapped;
    if (ncap) PetscCall(PetscInfo(A, "MATH2: %d cell(s) reached the rank cap %" PetscInt_FMT " before the tolerance %g: the approximation is less accurate than -mat_h2_rtol there (raise -mat_h2_max_rank)\n", ncap, h->maxrank, (double)h->rtol));
  }
  PetscFunctionReturn(0);
}

/* The product of a random vector on a few rows against the same rows of the exact entries: the
   relative error the compression actually reached, where too few far-field samples (or an entry
   function that is not smooth where the bases assume it) can leave it far above -mat_h2_rtol. */
static PetscErrorCode MatH2CheckAccuracy_Private(Mat A, PetscInt nrows)
{
  Mat_H2            *h    = H2(A);
  MPI_Comm           comm = PetscObjectComm((PetscObject)A);
  const PetscInt     N = A->rmap->N, n = A->rmap->n, r0 = A->rmap->rstart;
  const auto        &perm = h->tree->perm();
  std::vector<double> x, y, xall, krow;
  std::vector<int>    cols, tpos; /* tpos: user index -> tree position */
  PetscRandom         rnd;
  double              e[2] = {0, 0}, ge[2];

  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() { x.resize(n), y.resize(n), xall.resize(N), krow.resize(N), cols.resize(N), tpos.resize(N); }));
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 271828 + (unsigned long)r0));
  PetscCall(PetscRandomSeed(rnd));
  for (auto &v : x) PetscCall(PetscRandomGetValueReal(rnd, &v));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(MatH2Apply_Private(A, PETSC_FALSE, 1, x.data(), n, y.data(), n, PETSC_FALSE));
  {
    std::vector<PetscMPIInt> counts, displs;
    PetscMPIInt              size;
    PetscCallMPI(MPI_Comm_size(comm, &size));
    for (PetscMPIInt q = 0; q < size; q++) counts.push_back((PetscMPIInt)(A->rmap->range[q + 1] - A->rmap->range[q])), displs.push_back((PetscMPIInt)A->rmap->range[q]);
    PetscCallMPI(MPI_Allgatherv(x.data(), (PetscMPIInt)n, MPI_DOUBLE, xall.data(), counts.data(), displs.data(), MPI_DOUBLE, comm));
  }
  for (PetscInt t = 0; t < N; t++) tpos[perm[t]] = (int)t, cols[t] = (int)t;
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() {
    for (PetscInt k = 0; k < nrows; k++) { /* rows spread over the user numbering; this process's own */
      const PetscInt g = (PetscInt)((2 * k + 1) * (double)N / (2 * nrows));
      if (g < r0 || g >= r0 + n) continue;
      const int row = tpos[g];
      h->evaluator->eval(&row, 1, cols.data(), (int)N, krow.data(), 1);
      double ex = 0;
      for (PetscInt t = 0; t < N; t++) ex += krow[t] * xall[perm[t]];
      e[0] += (y[g - r0] - ex) * (y[g - r0] - ex), e[1] += ex * ex;
    }
  }));
  PetscCall(MPIU_Allreduce(e, ge, 2, MPI_DOUBLE, MPI_SUM, comm));
  h->checkerr = ge[1] > 0 ? std::sqrt(ge[0] / ge[1]) : 0;
  PetscCall(PetscInfo(A, "MATH2: the product on %" PetscInt_FMT " rows against the exact entries: relative error %.3g (-mat_h2_rtol %g)\n", nrows, (double)h->checkerr, (double)h->rtol));
  if (h->checkerr > 10 * h->rtol) PetscCall(PetscPrintf(comm, "MATH2 warning: the product on %" PetscInt_FMT " rows has relative error %.3g against the exact entries, above 10 x -mat_h2_rtol %g: raise -mat_h2_samples (%" PetscInt_FMT "; 0 is automatic)\n", nrows, (double)h->checkerr, (double)h->rtol, h->nsamples));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatAssemblyEnd_H2(Mat A, MatAssemblyType type)
{
  PetscErrorCode ierr;

  PetscFunctionBegin;
  if (type == MAT_FLUSH_ASSEMBLY) PetscFunctionReturn(0);
  /* already built and nothing changed since (every setter and changed option drops the build) */
  if (H2(A)->structure) PetscFunctionReturn(0);
  ierr = MatH2Build_Private(A);
  if (!ierr) {
    Mat_H2        *h    = H2(A);
    const PetscInt auto_ = MatH2AutoSamples_Private(h->rtol);
    const PetscInt rows  = h->checkrows >= 0 ? h->checkrows : (h->nsamples > 0 && h->nsamples < auto_ ? 16 : 0);
    h->checkerr          = -1;
    if (rows > 0) ierr = MatH2CheckAccuracy_Private(A, PetscMin(rows, A->rmap->N));
  }
  /* a failed build (a callback's error, memory) leaves nothing half built: the next MatAssemblyEnd builds again */
  if (ierr) PetscCall(MatH2ResetBuilt_Private(A));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Products
   ------------------------------------------------------------------------------------------------ */
/* Y(:, 0:k) = op(A) X(:, 0:k) (+ Y if add), user layout, leading dimensions ldx, ldy */
static PetscErrorCode MatH2Apply_Private(Mat A, PetscBool trans, PetscInt k, const PetscScalar *x, PetscInt ldx, PetscScalar *y, PetscInt ldy, PetscBool add)
{
  Mat_H2        *h = H2(A);
  PetscInt       nt;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  nt = h->structure->layout().pointEnd() - h->structure->layout().pointBegin();
  PetscCall(PetscLogEventBegin(MATH2_Mult, A, 0, 0, 0));
  std::vector<PetscScalar> xt, yt;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), h->jit, [&]() { xt.resize((size_t)nt * k), yt.resize((size_t)nt * k); }));
  PetscCall(MatH2ToTree_Private(A, x, xt.data(), k, ldx));
  /* on-the-fly values evaluate entries (which may fail) inside the product: agree on errors then */
  ierr = H2ULVCallCore(PetscObjectComm((PetscObject)A), h->jit, [&]() { h2ulv::h2Multiply<double>(*h->structure, h->values, trans, (int)k, xt.data(), (int)std::max<PetscInt>(nt, 1), 0.0, yt.data(), (int)std::max<PetscInt>(nt, 1)); });
  if (ierr) PetscCall(PetscLogEventEnd(MATH2_Mult, A, 0, 0, 0));
  PetscCall(ierr);
  for (PetscInt j = 0; j < k; j++) {
    PetscCall(PetscSFReduceBegin(h->sf, MPIU_SCALAR, yt.data() + j * nt, y + j * ldy, add ? MPIU_SUM : MPI_REPLACE));
    PetscCall(PetscSFReduceEnd(h->sf, MPIU_SCALAR, yt.data() + j * nt, y + j * ldy, add ? MPIU_SUM : MPI_REPLACE));
  }
  PetscCall(PetscLogFlops(h->multflops * k));
  PetscCall(PetscLogEventEnd(MATH2_Mult, A, 0, 0, 0));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatMultKernel_H2(Mat A, Vec x, Vec z, Vec y, PetscBool trans)
{
  const PetscScalar *xa;
  PetscScalar       *ya;
  PetscErrorCode     ierr;

  PetscFunctionBegin;
  if (z && z != y) PetscCall(VecCopy(z, y));
  PetscCall(VecGetArrayRead(x, &xa));
  PetscCall(z ? VecGetArray(y, &ya) : VecGetArrayWrite(y, &ya));
  ierr = MatH2Apply_Private(A, trans, 1, xa, A->rmap->n, ya, A->rmap->n, (PetscBool)(z != NULL));
  PetscCall(VecRestoreArrayRead(x, &xa)); /* also after an error, so the vectors stay usable */
  PetscCall(z ? VecRestoreArray(y, &ya) : VecRestoreArrayWrite(y, &ya));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

static PetscErrorCode MatMult_H2(Mat A, Vec x, Vec y) { return MatMultKernel_H2(A, x, NULL, y, PETSC_FALSE); }
static PetscErrorCode MatMultTranspose_H2(Mat A, Vec x, Vec y) { return MatMultKernel_H2(A, x, NULL, y, PETSC_TRUE); }
static PetscErrorCode MatMultAdd_H2(Mat A, Vec x, Vec z, Vec y) { return MatMultKernel_H2(A, x, z, y, PETSC_FALSE); }
static PetscErrorCode MatMultTransposeAdd_H2(Mat A, Vec x, Vec z, Vec y) { return MatMultKernel_H2(A, x, z, y, PETSC_TRUE); }

/* MatMatMult(H2, dense) and MatTransposeMatMult(H2, dense) */
static PetscErrorCode MatProductNumeric_H2_Dense(Mat C)
{
  Mat_Product       *product = C->product;
  Mat                A = product->A, B = product->B;
  const PetscScalar *b;
  PetscScalar       *c;
  PetscInt           ldb, ldc;
  PetscErrorCode     ierr;

  PetscFunctionBegin;
  PetscCall(MatDenseGetArrayRead(B, &b));
  PetscCall(MatDenseGetLDA(B, &ldb));
  PetscCall(MatDenseGetArrayWrite(C, &c));
  PetscCall(MatDenseGetLDA(C, &ldc));
  ierr = MatH2Apply_Private(A, (PetscBool)(product->type == MATPRODUCT_AtB), B->cmap->N, b, ldb, c, ldc, PETSC_FALSE);
  PetscCall(MatDenseRestoreArrayRead(B, &b)); /* also after an error */
  PetscCall(MatDenseRestoreArrayWrite(C, &c));
  PetscCall(ierr);
  PetscCall(MatAssemblyBegin(C, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(C, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatProductSymbolic_H2_Dense(Mat C)
{
  Mat_Product *product = C->product;
  Mat          A = product->A, B = product->B;

  PetscFunctionBegin;
  PetscCheck(A->cmap->n == B->rmap->n, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "MatMatMult(MATH2, dense): local sizes do not match (%" PetscInt_FMT " columns vs %" PetscInt_FMT " rows)", A->cmap->n, B->rmap->n);
  if (C->rmap->n < 0 || C->rmap->N < 0) PetscCall(MatSetSizes(C, A->rmap->n, B->cmap->n, A->rmap->N, B->cmap->N));
  PetscCall(MatSetType(C, MATDENSE));
  PetscCall(MatSetUp(C));
  C->ops->productsymbolic = NULL;
  C->ops->productnumeric  = MatProductNumeric_H2_Dense;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatProductSetFromOptions_H2_Dense(Mat C)
{
  PetscFunctionBegin;
  if (C->product->type == MATPRODUCT_AB || C->product->type == MATPRODUCT_AtB) C->ops->productsymbolic = MatProductSymbolic_H2_Dense;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Diagonal, shift, scale, axpy: values only, the bases are untouched
   ------------------------------------------------------------------------------------------------ */
static PetscErrorCode MatGetDiagonal_H2(Mat A, Vec d)
{
  Mat_H2      *h = H2(A);
  PetscScalar *da;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  const h2ulv::Layout     &lay = h->structure->layout();
  std::vector<PetscScalar> dt;
  /* on-the-fly values evaluate the diagonal entries (which may fail on one process) */
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() {
    dt.resize(lay.pointEnd() - lay.pointBegin());
    h->values.getDiagonal(*h->structure, dt.data());
  }));
  PetscCall(VecGetArrayWrite(d, &da));
  PetscCall(MatH2FromTree_Private(A, dt.data(), da, 1, A->rmap->n));
  PetscCall(VecRestoreArrayWrite(d, &da));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatShift_H2(Mat A, PetscScalar a)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() {
    h->values.shiftDiagonal(*h->structure, nullptr, a);
    MatH2TrackShift_Private(h, nullptr, a);
  }));
  PetscCall(PetscInfo(A, "MATH2 shifted by %g (bases kept)\n", (double)PetscRealPart(a)));
  PetscCall(PetscObjectStateIncrease((PetscObject)A)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

static PetscErrorCode MatDiagonalSet_H2(Mat A, Vec D, InsertMode mode)
{
  Mat_H2            *h = H2(A);
  const PetscScalar *da;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  PetscCheck(mode == INSERT_VALUES || mode == ADD_VALUES, PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MatDiagonalSet on MATH2 supports INSERT_VALUES and ADD_VALUES");
  const h2ulv::Layout     &lay = h->structure->layout();
  std::vector<PetscScalar> dt;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { dt.resize(lay.pointEnd() - lay.pointBegin()); }));
  PetscCall(VecGetArrayRead(D, &da));
  PetscCall(MatH2ToTree_Private(A, da, dt.data(), 1, A->rmap->n));
  PetscCall(VecRestoreArrayRead(D, &da));
  /* INSERT_VALUES with on-the-fly values evaluates the current diagonal (which may fail on one process) */
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() {
    if (mode == INSERT_VALUES) {
      std::vector<PetscScalar> cur(dt.size());
      h->values.getDiagonal(*h->structure, cur.data());
      for (size_t i = 0; i < dt.size(); i++) dt[i] -= cur[i];
    }
    h->values.shiftDiagonal(*h->structure, dt.data(), 1.0);
    MatH2TrackShift_Private(h, dt.data(), 1.0);
  }));
  PetscCall(PetscObjectStateIncrease((PetscObject)A)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

static PetscErrorCode MatScale_H2(Mat A, PetscScalar a)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_FALSE, [&]() { h->values.scale(a); }));
  h->alpha *= a;
  for (double &d : h->dshift) d *= PetscRealPart(a);
  PetscCall(PetscObjectStateIncrease((PetscObject)A)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

static PetscErrorCode MatAXPY_H2(Mat Y, PetscScalar a, Mat X, MatStructure str)
{
  Mat_H2   *y = H2(Y);
  PetscBool same;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)X, MATH2, &same));
  PetscCheck(same, PetscObjectComm((PetscObject)Y), PETSC_ERR_SUP, "MatAXPY into a MATH2 matrix needs X of type MATH2 too, got %s", ((PetscObject)X)->type_name);
  PetscCall(MatH2CheckBuilt_Private(Y));
  PetscCall(MatH2CheckBuilt_Private(X));
  PetscCheck(y->structure == H2(X)->structure, PetscObjectComm((PetscObject)Y), PETSC_ERR_ARG_INCOMP,
             "MatAXPY between MATH2 matrices needs the same H2 structure (shared cluster tree and bases, e.g. from MatDuplicate() or MatCopy()); these two were built separately");
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)Y), PETSC_TRUE, [&]() {
    y->values.axpy(a, H2(X)->values);
    if (!H2(X)->dshift.empty()) MatH2TrackShift_Private(y, H2(X)->dshift.data(), PetscRealPart(a));
  }));
  y->alpha += a * H2(X)->alpha;
  PetscCall(PetscObjectStateIncrease((PetscObject)Y)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Duplicate, copy, zero
   ------------------------------------------------------------------------------------------------ */
static void MatH2CopySettings_Private(const Mat_H2 *a, Mat_H2 *b)
{
  b->leafsize      = a->leafsize;
  b->rtol          = a->rtol;
  b->maxrank       = a->maxrank;
  b->nsamples      = a->nsamples;
  b->checkrows     = a->checkrows;
  b->checkerr      = a->checkerr;
  b->adm           = a->adm;
  b->theta         = a->theta;
  b->eta           = a->eta;
  b->threads       = a->threads;
  b->cbthreads     = a->cbthreads;
  b->symmetric_opt = a->symmetric_opt;
  b->symmetric_set = a->symmetric_set;
  b->kernel        = a->kernel;
  b->kscale        = a->kscale;
  b->kparam        = a->kparam;
  b->kdiag         = a->kdiag;
  b->kdiag_set     = a->kdiag_set;
  b->knugget       = a->knugget;
  b->dim           = a->dim;
  b->coords        = a->coords;
  b->coords_set    = a->coords_set;
  b->kfn           = a->kfn;
  b->kctx          = a->kctx;
  b->efn           = a->efn;
  b->ectx          = a->ectx;
  b->dense         = a->dense;
}

static PetscErrorCode MatH2CopyBuilt_Private(Mat A, Mat B, PetscBool values)
{
  Mat_H2 *a = H2(A), *b = H2(B);

  PetscFunctionBegin;
  b->tree      = a->tree;
  b->evaluator = a->evaluator;
  b->structure = a->structure;
  b->symmetric = a->symmetric;
  b->multflops = a->multflops;
  b->t_tree    = a->t_tree;
  b->t_basis   = a->t_basis;
  b->t_values  = a->t_values;
  b->jit       = a->jit;
  b->storage   = a->storage;
  b->alpha     = values ? a->alpha : 0.0;
  /* the stored values are copied (as much memory as A's): an allocation that may fail on one process */
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() {
    b->values = a->values;
    b->dshift = values ? a->dshift : std::vector<double>();
    if (!values) b->values.scale(0.0);
  }));
  if (a->sf) PetscCall(PetscObjectReference((PetscObject)a->sf));
  PetscCall(PetscSFDestroy(&b->sf));
  b->sf          = a->sf;
  B->assembled   = A->assembled;
  B->preallocated = PETSC_TRUE;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatDuplicate_H2(Mat A, MatDuplicateOption op, Mat *B)
{
  PetscFunctionBegin;
  PetscCall(MatCreate(PetscObjectComm((PetscObject)A), B));
  PetscCall(MatSetSizes(*B, A->rmap->n, A->cmap->n, A->rmap->N, A->cmap->N));
  PetscCall(MatSetType(*B, MATH2));
  PetscCall(PetscLayoutSetUp((*B)->rmap));
  PetscCall(PetscLayoutSetUp((*B)->cmap));
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { MatH2CopySettings_Private(H2(A), H2(*B)); }));
  if (H2(A)->structure) PetscCall(MatH2CopyBuilt_Private(A, *B, (PetscBool)(op == MAT_COPY_VALUES)));
  PetscCall(MatPropagateSymmetryOptions(A, *B));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatCopy_H2(Mat A, Mat B, MatStructure str)
{
  PetscBool same;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)B, MATH2, &same));
  PetscCheck(same, PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MatCopy from MATH2 needs a MATH2 target; use MatConvert(A, MATDENSE, ...) for a dense copy");
  PetscCheck(A->rmap->N == B->rmap->N && A->rmap->n == B->rmap->n, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_SIZ, "MatCopy: the two MATH2 matrices have different layouts");
  PetscCall(MatH2CheckBuilt_Private(A));
  if (H2(B)->structure != H2(A)->structure) {
    PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { MatH2CopySettings_Private(H2(A), H2(B)); }));
    B->nonzerostate++;
  }
  PetscCall(MatH2CopyBuilt_Private(A, B, PETSC_TRUE));
  PetscCall(PetscObjectStateIncrease((PetscObject)B));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatZeroEntries_H2(Mat A)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  if (h->structure) PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_FALSE, [&]() { h->values.scale(0.0); }));
  h->alpha = 0.0;
  h->dshift.clear();
  PetscCall(PetscObjectStateIncrease((PetscObject)A)); /* the values changed: a PC built on this matrix must refactor */
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Norms: Frobenius exact (orthonormal bases); 1 and infinity by Hager-Higham estimation; 2 by power
   iteration on A^T A.  The estimates are lower bounds that are usually exact or within a few %.
   ------------------------------------------------------------------------------------------------ */
/* Hager-Higham on work vectors x, y, z */
static PetscErrorCode MatNormEstimate1Iterate_Private(Mat A, PetscBool trans, Vec x, Vec y, Vec z, PetscReal *nrm)
{
  PetscReal est = 0, zmax, ztx;
  PetscInt  jmax = -1, N = A->rmap->N;

  PetscFunctionBegin;
  PetscCall(VecSet(x, 1.0 / (PetscReal)N));
  for (PetscInt it = 0; it < 5; it++) {
    PetscCall(trans ? MatMultTranspose(A, x, y) : MatMult(A, x, y));
    PetscReal e;
    PetscCall(VecNorm(y, NORM_1, &e));
    if (it > 0 && e <= est) break;
    est = e;
    /* sign vector */
    PetscScalar *ya;
    PetscInt     n;
    PetscCall(VecGetLocalSize(y, &n));
    PetscCall(VecGetArray(y, &ya));
    for (PetscInt i = 0; i < n; i++) ya[i] = PetscRealPart(ya[i]) >= 0 ? 1.0 : -1.0;
    PetscCall(VecRestoreArray(y, &ya));
    PetscCall(trans ? MatMult(A, y, z) : MatMultTranspose(A, y, z));
    PetscCall(VecMax(z, &jmax, &zmax));
    PetscReal zmin;
    PetscInt  jmin;
    PetscCall(VecMin(z, &jmin, &zmin));
    if (-zmin > zmax) {
      zmax = -zmin;
      jmax = jmin;
    }
    PetscScalar dot;
    PetscCall(VecDot(z, x, &dot));
    ztx = PetscRealPart(dot);
    if (zmax <= ztx) break;
    PetscCall(VecSet(x, 0.0));
    PetscCall(VecSetValue(x, jmax, 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(x));
    PetscCall(VecAssemblyEnd(x));
  }
  *nrm = est;
  PetscFunctionReturn(0);
}

/* power iteration on A^T A with work vectors x, y */
static PetscErrorCode MatNorm2Iterate_Private(Mat A, Vec x, Vec y, PetscReal *nrm)
{
  PetscReal lam = 0, prev = 0;

  PetscFunctionBegin;
  PetscCall(VecSet(x, 1.0));
  PetscCall(VecSetValue(x, 0, 2.0, INSERT_VALUES));
  PetscCall(VecAssemblyBegin(x));
  PetscCall(VecAssemblyEnd(x));
  for (PetscInt it = 0; it < 50; it++) {
    PetscReal nx;
    PetscCall(VecNormalize(x, &nx));
    PetscCall(MatMult(A, x, y));
    PetscCall(MatMultTranspose(A, y, x));
    PetscCall(VecNorm(x, NORM_2, &lam));
    if (it > 0 && PetscAbsReal(lam - prev) <= 1e-8 * lam) break;
    prev = lam;
  }
  *nrm = std::sqrt(lam);
  PetscFunctionReturn(0);
}

/* the estimates with their work vectors, freed also when a product fails */
static PetscErrorCode MatNormEstimate_Private(Mat A, NormType type, PetscReal *nrm)
{
  Vec            x, y, z;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &x, &y));
  PetscCall(VecDuplicate(x, &z));
  if (type == NORM_2) ierr = MatNorm2Iterate_Private(A, x, y, nrm);
  else ierr = MatNormEstimate1Iterate_Private(A, (PetscBool)(type == NORM_INFINITY), x, y, z, nrm);
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&z));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

static PetscErrorCode MatNorm_H2(Mat A, NormType type, PetscReal *nrm)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  if (type == NORM_FROBENIUS) {
    double loc = 0, glob;
    PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { loc = h->values.frobeniusSquared(*h->structure); }));
    PetscCall(MPIU_Allreduce(&loc, &glob, 1, MPI_DOUBLE, MPI_SUM, PetscObjectComm((PetscObject)A)));
    *nrm = std::sqrt(glob);
  } else if (type == NORM_1 || type == NORM_INFINITY || type == NORM_2) {
    PetscCall(MatNormEstimate_Private(A, type, nrm));
  } else SETERRQ(PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "Unsupported norm type for MATH2");
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Conversions
   ------------------------------------------------------------------------------------------------ */
static PetscErrorCode MatConvert_H2_Dense(Mat A, MatType newtype, MatReuse reuse, Mat *newmat)
{
  Mat          D;
  PetscScalar *d;
  PetscInt     lda, N = A->rmap->N, n = A->rmap->n, rs = A->rmap->rstart;
  const PetscInt bs = 64;
  PetscErrorCode ierr = 0;

  PetscFunctionBegin;
  PetscCall(MatH2CheckBuilt_Private(A));
  std::vector<PetscScalar> e;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { e.resize((size_t)std::max<PetscInt>(n, 1) * bs); }));
  PetscCall(MatCreateDense(PetscObjectComm((PetscObject)A), n, A->cmap->n, N, N, NULL, &D));
  PetscCall(MatDenseGetArrayWrite(D, &d));
  PetscCall(MatDenseGetLDA(D, &lda));
  for (PetscInt j0 = 0; j0 < N; j0 += bs) {
    PetscInt nb = std::min(bs, N - j0);
    std::fill(e.begin(), e.end(), 0.0);
    for (PetscInt j = j0; j < j0 + nb; j++)
      if (j >= rs && j < rs + n) e[(j - rs) + (size_t)(j - j0) * n] = 1.0;
    ierr = MatH2Apply_Private(A, PETSC_FALSE, nb, e.data(), n, d + (size_t)j0 * lda, lda, PETSC_FALSE);
    if (ierr) break;
  }
  PetscCall(MatDenseRestoreArrayWrite(D, &d));
  if (ierr) PetscCall(MatDestroy(&D)); /* nothing leaked when the products fail */
  PetscCall(ierr);
  PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));
  if (reuse == MAT_INPLACE_MATRIX) PetscCall(MatHeaderReplace(A, &D));
  else if (reuse == MAT_REUSE_MATRIX) {
    PetscCall(MatCopy(D, *newmat, SAME_NONZERO_PATTERN));
    PetscCall(MatDestroy(&D));
  } else *newmat = D;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatConvert_H2(Mat A, MatType newtype, MatReuse reuse, Mat *newmat)
{
  PetscBool dense;

  PetscFunctionBegin;
  PetscCall(PetscStrbeginswith(newtype, MATDENSE, &dense));
  if (!dense) PetscCall(PetscStrcmp(newtype, MATSEQDENSE, &dense));
  if (!dense) PetscCall(PetscStrcmp(newtype, MATMPIDENSE, &dense));
  PetscCheck(dense, PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MATH2 converts to dense types only (MATDENSE, MATSEQDENSE, MATMPIDENSE), not %s", newtype);
  PetscCall(MatConvert_H2_Dense(A, newtype, reuse, newmat));
  PetscFunctionReturn(0);
}

/* MatConvert(dense, MATH2): coordinates attached with MatH2SetCoordinates(dense, ...) */
static PetscErrorCode MatConvert_Dense_H2(Mat D, MatType newtype, MatReuse reuse, Mat *newmat)
{
  Vec                cvec = NULL;
  Mat                B;
  const PetscScalar *a, *c;
  PetscInt           lda, N = D->rmap->N, n = D->rmap->n, bsz;
  PetscMPIInt        size;
  MPI_Comm           comm = PetscObjectComm((PetscObject)D);
  PetscErrorCode     ierr;

  PetscFunctionBegin;
  PetscCall(PetscObjectQuery((PetscObject)D, "MatH2Coordinates", (PetscObject *)&cvec));
  PetscCheck(cvec, comm, PETSC_ERR_ARG_WRONGSTATE, "MatConvert(dense, MATH2) needs the points of the rows: call MatH2SetCoordinates(dense, dim, coords) on the dense matrix first");
  PetscCheck(D->rmap->N == D->cmap->N, comm, PETSC_ERR_ARG_SIZ, "MatConvert(dense, MATH2) needs a square matrix");
  PetscCallMPI(MPI_Comm_size(comm, &size));
  /* the whole matrix on every process (documented: the conversion replicates the dense matrix) */
  std::shared_ptr<std::vector<double>> full;
  std::vector<double>                  loc, chunks;
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() {
    full = std::make_shared<std::vector<double>>((size_t)N * N);
    loc.resize((size_t)n * N);
    chunks.resize((size_t)N * N);
  }));
  PetscCall(MatDenseGetArrayRead(D, &a));
  PetscCall(MatDenseGetLDA(D, &lda));
  {
    for (PetscInt j = 0; j < N; j++)
      for (PetscInt i = 0; i < n; i++) loc[i + (size_t)j * n] = a[i + (size_t)j * lda];
    std::vector<PetscMPIInt> counts(size), displs(size);
    for (PetscMPIInt p = 0; p < size; p++) {
      counts[p] = (PetscMPIInt)((D->rmap->range[p + 1] - D->rmap->range[p]) * N);
      displs[p] = (PetscMPIInt)(D->rmap->range[p] * N);
    }
    PetscCallMPI(MPI_Allgatherv(loc.data(), (PetscMPIInt)loc.size(), MPI_DOUBLE, chunks.data(), counts.data(), displs.data(), MPI_DOUBLE, comm));
    for (PetscMPIInt p = 0; p < size; p++) {
      PetscInt r0 = D->rmap->range[p], np = D->rmap->range[p + 1] - r0;
      for (PetscInt j = 0; j < N; j++)
        for (PetscInt i = 0; i < np; i++) (*full)[(r0 + i) + (size_t)j * N] = chunks[displs[p] + i + (size_t)j * np];
    }
  }
  loc    = std::vector<double>();
  chunks = std::vector<double>();
  PetscCall(MatDenseRestoreArrayRead(D, &a));
  PetscCall(MatCreate(comm, &B));
  PetscCall(MatSetSizes(B, n, D->cmap->n, N, N));
  PetscCall(MatSetType(B, MATH2));
  PetscCall(MatPropagateSymmetryOptions(D, B));
  PetscCall(VecGetBlockSize(cvec, &bsz));
  PetscCall(VecGetArrayRead(cvec, &c));
  PetscCall(MatH2SetCoordinates(B, bsz, c));
  PetscCall(VecRestoreArrayRead(cvec, &c));
  H2(B)->dense = full;
  PetscObjectOptionsBegin((PetscObject)B);
  PetscCall(MatSetFromOptions_H2(B, PetscOptionsObject));
  PetscOptionsEnd();
  ierr = MatAssemblyBegin(B, MAT_FINAL_ASSEMBLY);
  if (!ierr) ierr = MatAssemblyEnd(B, MAT_FINAL_ASSEMBLY);
  if (ierr) PetscCall(MatDestroy(&B)); /* nothing leaked when the build fails */
  PetscCall(ierr);
  if (reuse == MAT_INPLACE_MATRIX) PetscCall(MatHeaderReplace(D, &B));
  else if (reuse == MAT_REUSE_MATRIX) {
    PetscCall(MatCopy(B, *newmat, DIFFERENT_NONZERO_PATTERN));
    PetscCall(MatDestroy(&B));
  } else *newmat = B;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatGetRow_H2(Mat A, PetscInt row, PetscInt *nz, PetscInt **idx, PetscScalar **v)
{
  PetscFunctionBegin;
  SETERRQ(PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MATH2 does not give access to rows (MatGetRow): it stores a compressed H2 matrix. Use MatConvert(A, MATDENSE, ...) for explicit entries");
}

/* ------------------------------------------------------------------------------------------------
   Options, view, destroy, create
   ------------------------------------------------------------------------------------------------ */
static PetscErrorCode MatSetFromOptions_H2(Mat A, PetscOptionItems *PetscOptionsObject)
{
  Mat_H2   *h = H2(A);
  PetscBool flg, changed = PETSC_FALSE;
  PetscReal admp;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "MATH2 options (H2 matrix construction)");
  {
    PetscInt  leaf = h->leafsize, maxrank = h->maxrank, ns = h->nsamples;
    PetscReal rtol = h->rtol;
    PetscBool f1, f2, f3, f4;
    PetscCall(PetscOptionsInt("-mat_h2_leaf_size", "Target number of points per leaf cluster (leaves hold between it and twice it)", "MatH2SetLeafSize", leaf, &leaf, &f1));
    PetscCheck(leaf >= 1, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_leaf_size must be at least 1, got %" PetscInt_FMT, leaf);
    PetscCall(PetscOptionsReal("-mat_h2_rtol", "Relative compression tolerance of the shared bases, in (0,1)", "MatH2SetTolerance", rtol, &rtol, &f2));
    PetscCall(PetscOptionsInt("-mat_h2_max_rank", "Cap on every basis rank", "MatH2SetTolerance", maxrank, &maxrank, &f3));
    PetscCall(MatH2CheckTolerance_Private(A, rtol, maxrank));
    PetscCall(PetscOptionsInt("-mat_h2_samples", "Cap on the far-field sample points per cluster (0: automatic, 500 per digit of -mat_h2_rtol)", "MatH2SetSampleSize", ns, &ns, &f4));
    PetscCheck(ns >= 0, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_samples must be non-negative (0 = automatic), got %" PetscInt_FMT, ns);
    PetscCall(PetscOptionsInt("-mat_h2_check_rows", "After the build, check the product on this many rows against the exact entries and warn when the error exceeds 10 x -mat_h2_rtol (costs rows x N entries; default: 16 when -mat_h2_samples is below the automatic count, else 0)", "", h->checkrows, &h->checkrows, NULL));
    PetscCheck(h->checkrows >= -1, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_check_rows must be non-negative, got %" PetscInt_FMT, h->checkrows);
    h->leafsize = leaf;
    h->rtol     = rtol;
    h->maxrank  = maxrank;
    h->nsamples = ns;
    changed     = (PetscBool)(changed || f1 || f2 || f3 || f4);
  }
  PetscCall(PetscOptionsEnum("-mat_h2_admissibility", "Admissibility rule: theta (Ma-Deshmukh-Yokota: |C_i-C_j|^2 > theta(|R_i|^2+|R_j|^2)) or eta (max diam <= eta dist)", "MatH2SetAdmissibility", MatH2AdmissibilityTypes, (PetscEnum)h->adm, (PetscEnum *)&h->adm, &flg));
  changed = (PetscBool)(changed || flg);
  PetscCall(PetscOptionsReal("-mat_h2_theta", "Parameter of the theta rule (0 = weak admissibility, HSS)", "MatH2SetAdmissibility", h->theta, &admp, &flg));
  if (flg) {
    PetscCheck(admp >= 0, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_theta must be non-negative, got %g", (double)admp);
    h->theta = admp;
    changed  = PETSC_TRUE;
  }
  PetscCall(PetscOptionsReal("-mat_h2_eta", "Parameter of the eta rule", "MatH2SetAdmissibility", h->eta, &admp, &flg));
  if (flg) {
    PetscCheck(admp > 0, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_eta must be positive, got %g", (double)admp);
    h->eta  = admp;
    changed = PETSC_TRUE;
  }
  {
    MatH2KernelType kt = h->kernel;
    PetscReal       ks = h->kscale, kp = h->kparam, kd = h->kdiag, kn = h->knugget;
    PetscBool       f1, f2, f3, f4, f5;
    PetscCall(PetscOptionsEnum("-mat_h2_kernel", "Built-in kernel", "MatH2SetBuiltinKernel", MatH2KernelTypes, (PetscEnum)kt, (PetscEnum *)&kt, &f1));
    PetscCall(PetscOptionsReal("-mat_h2_kernel_scale", "Kernel prefactor s", "MatH2SetBuiltinKernel", ks, &ks, &f2));
    PetscCall(PetscOptionsReal("-mat_h2_kernel_length", "Kernel length scale l (gaussian, exponential, matern, imq) or decay alpha (yukawa)", "MatH2SetBuiltinKernel", kp, &kp, &f3));
    PetscCall(PetscOptionsReal("-mat_h2_kernel_diag", "Diagonal value A_ii (required for laplace and yukawa; default kernel(0))", "MatH2SetBuiltinKernel", kd, &kd, &f4));
    PetscCall(PetscOptionsReal("-mat_h2_kernel_nugget", "Added to every diagonal entry", "MatH2SetBuiltinKernel", kn, &kn, &f5));
    PetscCall(MatH2CheckKernelParams_Private(A, kt, ks, kp, f4 ? kd : PETSC_DEFAULT, kn));
    if (f1) {
      h->kfn = nullptr;
      h->efn = nullptr;
      h->dense.reset();
    }
    h->kernel  = kt;
    h->kscale  = ks;
    h->kparam  = kp;
    h->knugget = kn;
    if (f4) {
      h->kdiag     = kd;
      h->kdiag_set = PETSC_TRUE;
    }
    changed = (PetscBool)(changed || f1 || f2 || f3 || f4 || f5);
  }
  PetscCall(PetscOptionsBool("-mat_h2_symmetric", "Entries are symmetric: one shared basis for rows and columns (default: built-in kernels, or MAT_SYMMETRIC set)", "MatSetOption", h->symmetric_opt, &h->symmetric_opt, &h->symmetric_set));
  changed = (PetscBool)(changed || h->symmetric_set);
  PetscCall(PetscOptionsInt("-mat_h2_threads", "Threads for the batched work (0: OMP_NUM_THREADS)", "", h->threads, &h->threads, NULL));
  PetscCheck(h->threads >= 0, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "-mat_h2_threads must be non-negative (0: OMP_NUM_THREADS), got %" PetscInt_FMT, h->threads);
  {
    MatH2StorageType st = h->storage;
    PetscReal        ml = h->memlimit;
    PetscBool        f1, f2;
    PetscCall(PetscOptionsEnum("-mat_h2_storage", "Near blocks and couplings: stored, jit (computed in every product: O(N) memory), auto (jit when stored would exceed -mat_h2_memory_limit)", "MatH2SetStorage", MatH2StorageTypes, (PetscEnum)st, (PetscEnum *)&st, &f1));
    PetscCall(PetscOptionsReal("-mat_h2_memory_limit", "MB per process the stored values may take under -mat_h2_storage auto (0: half the physical memory / processes)", "MatH2SetStorage", ml, &ml, &f2));
    if (f1 || f2) PetscCall(MatH2SetStorage_H2(A, st, ml));
  }
  PetscCall(PetscOptionsBool("-mat_h2_callback_threadsafe", "User kernel/entry callbacks may be called from several threads at once", "MatH2SetKernel", h->cbthreads, &h->cbthreads, NULL));
  PetscOptionsHeadEnd();
  if (changed && h->structure) PetscCall(MatH2ResetBuilt_Private(A));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatView_H2(Mat A, PetscViewer viewer)
{
  Mat_H2           *h = H2(A);
  PetscBool         isascii;
  PetscViewerFormat format;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &isascii));
  if (!isascii) PetscFunctionReturn(0);
  PetscCall(PetscViewerGetFormat(viewer, &format));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  H2 matrix (h2ulv): rtol %g, max rank %" PetscInt_FMT ", leaf size %" PetscInt_FMT ", %s admissibility %g, %" PetscInt_FMT " samples, %s\n", (double)h->rtol, h->maxrank, h->leafsize, MatH2AdmissibilityTypes[h->adm],
                                   (double)(h->adm == MATH2_ADMISSIBILITY_THETA ? h->theta : h->eta), h->nsamples, h->symmetric ? "symmetric (one basis)" : "nonsymmetric (row and column bases)"));
  if (h->kernel != MATH2_KERNEL_NONE) {
    if (h->kdiag_set) PetscCall(PetscViewerASCIIPrintf(viewer, "  kernel %s: scale %g, length %g, diagonal %g + nugget %g\n", MatH2KernelTypes[h->kernel], (double)h->kscale, (double)h->kparam, (double)h->kdiag, (double)h->knugget));
    else PetscCall(PetscViewerASCIIPrintf(viewer, "  kernel %s: scale %g, length %g, diagonal kernel(0) + nugget %g\n", MatH2KernelTypes[h->kernel], (double)h->kscale, (double)h->kparam, (double)h->knugget));
  }
  else PetscCall(PetscViewerASCIIPrintf(viewer, "  entries from %s\n", h->kfn ? "a user kernel function" : h->efn ? "a user block callback" : h->dense ? "a dense matrix" : "(not set)"));
  if (!h->structure) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  (not assembled)\n"));
    PetscFunctionReturn(0);
  }
  std::vector<h2ulv::LevelStats> st;
  PetscLogDouble                 mem, dense = 8.0 * (double)A->rmap->N * (double)A->rmap->N, stored = 0;
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() {
    st     = h->structure->stats();
    stored = (PetscLogDouble)h2ulv::H2Values<double>::estimateBytes(*h->structure);
  }));
  PetscCall(MatH2GetMemory_H2(A, &mem));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  N %" PetscInt_FMT ", dimension %" PetscInt_FMT ", tree depth %d (%d leaves), %d process(es)\n", A->rmap->N, h->dim, (int)st.size() - 1, 1 << ((int)st.size() - 1), h->structure->layout().size()));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  memory %.4g MB, compression %.4g%% of dense (%.4g MB); build: tree %.3g s, bases %.3g s, values %.3g s\n", mem / 1048576.0, 100.0 * mem / dense, dense / 1048576.0, h->t_tree, h->t_basis, h->t_values));
  if (h->checkerr >= 0) PetscCall(PetscViewerASCIIPrintf(viewer, "  checked against the exact entries on %" PetscInt_FMT " rows: relative error %.3g%s\n", h->checkrows >= 0 ? h->checkrows : 16, (double)h->checkerr, h->checkerr > 10 * h->rtol ? " (ABOVE 10 x rtol: raise -mat_h2_samples)" : ""));
  if (h->jit) PetscCall(PetscViewerASCIIPrintf(viewer, "  values: computed on the fly in every product (-mat_h2_storage %s); stored they would take %.4g MB on this process\n", MatH2StorageTypes[h->storage], (double)stored / 1048576.0));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  level  cells  rank min/mean/max   near pairs  far pairs  capped\n"));
  int ncap = 0;
  for (size_t l = 0; l < st.size(); l++) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %5d  %5d  %4d %7.1f %4d   %10lld  %9lld  %6d\n", (int)l, 1 << (int)l, st[l].minrank, st[l].meanrank, st[l].maxrank, st[l].nnear, st[l].nfar, st[l].ncapped));
    ncap += st[l].ncapped;
  }
  if (ncap) PetscCall(PetscViewerASCIIPrintf(viewer, "  WARNING: %d cell(s) reached the rank cap %" PetscInt_FMT " before the tolerance (capped): the error there exceeds rtol; raise -mat_h2_max_rank\n", ncap, h->maxrank));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatDestroy_H2(Mat A)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(PetscSFDestroy(&h->sf));
  delete h;
  A->data = NULL;
  PetscCall(PetscObjectChangeTypeName((PetscObject)A, NULL));
  const char *names[] = {"MatH2SetCoordinates_C", "MatH2SetKernel_C", "MatH2SetEntries_C", "MatH2SetBuiltinKernel_C", "MatH2SetTolerance_C", "MatH2SetLeafSize_C", "MatH2SetAdmissibility_C", "MatH2SetSampleSize_C", "MatH2SetStorage_C", "MatH2GetIndexMap_C", "MatH2GetRanks_C", "MatH2GetMemory_C", "MatH2GetInfo_C", "MatProductSetFromOptions_h2_seqdense_C", "MatProductSetFromOptions_h2_mpidense_C", "MatConvert_seqdense_h2_C", "MatConvert_mpidense_h2_C"};
  for (const char *n : names) PetscCall(PetscObjectComposeFunction((PetscObject)A, n, (void (*)(void))NULL));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatSetUp_H2(Mat A)
{
  PetscFunctionBegin;
  PetscCall(PetscLayoutSetUp(A->rmap));
  PetscCall(PetscLayoutSetUp(A->cmap));
  A->preallocated = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/*MC
   MATH2 - "h2" - an H^2 matrix with shared nested bases (h2ulv).  Built at MatAssemblyEnd() from
   points (MatH2SetCoordinates) and a kernel (MatH2SetKernel, MatH2SetBuiltinKernel, -mat_h2_kernel),
   a block entry callback (MatH2SetEntries), or a dense matrix (MatConvert).

   Options: -mat_h2_leaf_size, -mat_h2_rtol, -mat_h2_max_rank, -mat_h2_samples,
   -mat_h2_admissibility theta|eta, -mat_h2_theta, -mat_h2_eta, -mat_h2_kernel <name>,
   -mat_h2_kernel_scale, -mat_h2_kernel_length, -mat_h2_kernel_diag, -mat_h2_kernel_nugget,
   -mat_h2_symmetric, -mat_h2_threads, -mat_h2_callback_threadsafe, -mat_h2_storage auto|stored|jit,
   -mat_h2_memory_limit, -mat_h2_check_rows

   Checks at assembly: the construction parameters must be the same on every process (an error names
   the first that differs); a matrix declared symmetric (MAT_SYMMETRIC, MAT_SPD, -mat_h2_symmetric)
   has its entries compared with their transposes on 64 sampled rows and columns (an error when they
   differ by more than sqrt(eps) relative); the points and tree are checked against the memory a
   process can allocate; with -mat_h2_samples below the automatic count (or -mat_h2_check_rows k)
   the product on k rows is compared with the exact entries, shown by MatView and MatH2GetInfo(), and
   a warning is printed when its error exceeds 10 x -mat_h2_rtol.
M*/
PetscErrorCode MatCreate_H2(Mat A)
{
  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { A->data = static_cast<void *>(new Mat_H2()); })); /* owned by the Mat: deleted in MatDestroy_H2 */
  PetscCall(PetscMemzero(A->ops, sizeof(struct _MatOps)));
  A->ops->mult                  = MatMult_H2;
  A->ops->multadd               = MatMultAdd_H2;
  A->ops->multtranspose         = MatMultTranspose_H2;
  A->ops->multtransposeadd      = MatMultTransposeAdd_H2;
  A->ops->getdiagonal           = MatGetDiagonal_H2;
  A->ops->shift                 = MatShift_H2;
  A->ops->diagonalset           = MatDiagonalSet_H2;
  A->ops->scale                 = MatScale_H2;
  A->ops->axpy                  = MatAXPY_H2;
  A->ops->duplicate             = MatDuplicate_H2;
  A->ops->copy                  = MatCopy_H2;
  A->ops->zeroentries           = MatZeroEntries_H2;
  A->ops->norm                  = MatNorm_H2;
  A->ops->convert               = MatConvert_H2;
  A->ops->assemblyend           = MatAssemblyEnd_H2;
  A->ops->setfromoptions        = MatSetFromOptions_H2;
  A->ops->view                  = MatView_H2;
  A->ops->destroy               = MatDestroy_H2;
  A->ops->setup                 = MatSetUp_H2;
  A->ops->getrow                = MatGetRow_H2;
  A->assembled                  = PETSC_FALSE;
  PetscCall(PetscObjectChangeTypeName((PetscObject)A, MATH2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetCoordinates_C", MatH2SetCoordinates_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetKernel_C", MatH2SetKernel_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetEntries_C", MatH2SetEntries_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetBuiltinKernel_C", MatH2SetBuiltinKernel_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetTolerance_C", MatH2SetTolerance_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetLeafSize_C", MatH2SetLeafSize_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetAdmissibility_C", MatH2SetAdmissibility_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetSampleSize_C", MatH2SetSampleSize_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetStorage_C", MatH2SetStorage_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2GetIndexMap_C", MatH2GetIndexMap_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2GetRanks_C", MatH2GetRanks_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2GetMemory_C", MatH2GetMemory_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2GetInfo_C", MatH2GetInfo_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatProductSetFromOptions_h2_seqdense_C", MatProductSetFromOptions_H2_Dense));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatProductSetFromOptions_h2_mpidense_C", MatProductSetFromOptions_H2_Dense));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatConvert_seqdense_h2_C", MatConvert_Dense_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatConvert_mpidense_h2_C", MatConvert_Dense_H2));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Public API
   ------------------------------------------------------------------------------------------------ */
/*@
   MatH2SetCoordinates - gives the points of the rows this process owns

   Collective on Mat

   Input Parameters:
+  A      - the matrix (MATH2, or any other type, e.g. MATDENSE, to attach the points for MatConvert(), PCH2ULV or the h2ulv MatSolverType)
.  dim    - the spatial dimension, 1, 2 or 3
-  coords - the coordinates of the local points, interleaved (x0 y0 z0 x1 ...), dim numbers per local row; they must be finite

   Notes:
   Call after MatSetSizes(). The coordinates are copied. With several processes the points of all
   processes are gathered on every process during assembly (O(N) numbers).

   Level: beginner

.seealso: MATH2, MatH2SetKernel(), MatH2SetEntries(), MatH2SetBuiltinKernel(), MatCreateH2FromKernel()
@*/
PetscErrorCode MatH2SetCoordinates(Mat A, PetscInt dim, const PetscReal coords[])
{
  PetscBool ish2;

  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscValidHeaderSpecific(A, MAT_CLASSID, 1);
  PetscCall(PetscObjectTypeCompare((PetscObject)A, MATH2, &ish2));
  if (ish2) {
    PetscCall(MatH2SetCoordinates_H2(A, dim, coords));
  } else {
    /* any other matrix (e.g. dense, for MatConvert or PCH2ULV): keep the points on the object */
    Vec          v;
    PetscScalar *va;
    PetscCheck(dim >= 1 && dim <= 3, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetCoordinates: dim = %" PetscInt_FMT " but the spatial dimension must be 1, 2 or 3", dim);
    PetscCall(PetscLayoutSetUp(A->rmap));
    PetscCall(VecCreateMPI(PetscObjectComm((PetscObject)A), A->rmap->n * dim, PETSC_DETERMINE, &v));
    PetscCall(VecSetBlockSize(v, dim));
    PetscCall(VecGetArrayWrite(v, &va));
    for (PetscInt i = 0; i < A->rmap->n * dim; i++) va[i] = coords[i];
    PetscCall(VecRestoreArrayWrite(v, &va));
    PetscCall(PetscObjectCompose((PetscObject)A, "MatH2Coordinates", (PetscObject)v));
    PetscCall(VecDestroy(&v));
  }
  PetscFunctionReturn(0);
}

/*@C
   MatH2SetKernel - the entries of a MATH2 are a user point kernel, A_ij = fn(dim, x_i, x_j, ctx)

   Logically Collective on Mat

   Input Parameters:
+  A   - the MATH2 matrix
.  fn  - the kernel; it handles x_i == x_j (the diagonal) itself
-  ctx - user context passed to fn (or NULL)

   Options Database Keys:
.  -mat_h2_callback_threadsafe - fn may be called from several threads at once

   Notes:
   Replaces an entry callback or a built-in kernel set before. fn is called from one thread unless
   -mat_h2_callback_threadsafe is given; with several processes it may be asked for any pair of
   points. The H^2 matrix is built in MatAssemblyEnd(). A kernel that cannot compute an entry
   returns NaN (or Inf): the operation that evaluates it (the assembly, and with
   -mat_h2_storage jit the products and the diagonal) fails with PETSC_ERR_FP naming the entry.

   Level: beginner

.seealso: MATH2, MatH2KernelFn, MatH2SetCoordinates(), MatH2SetEntries(), MatH2SetBuiltinKernel()
@*/
PetscErrorCode MatH2SetKernel(Mat A, MatH2KernelFn fn, void *ctx)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetKernel_C", (Mat, MatH2KernelFn, void *), (A, fn, ctx));
  PetscFunctionReturn(0);
}

/*@C
   MatH2SetEntries - the entries of a MATH2 come from a user block callback

   Logically Collective on Mat

   Input Parameters:
+  A   - the MATH2 matrix
.  fn  - fills out[i + j*ldo] = A(rows[i], cols[j]) for global row and column indices in the user's numbering
-  ctx - user context passed to fn (or NULL)

   Options Database Keys:
.  -mat_h2_callback_threadsafe - fn may be called from several threads at once

   Notes:
   For matrices that are not a function of two points; the points (MatH2SetCoordinates()) still
   define the cluster tree. Replaces a kernel set before. Any index may be asked for on any process.
   A nonzero error code returned by fn makes the operation that asked for the entries (the
   assembly, and with -mat_h2_storage jit the products and the diagonal) fail with PETSC_ERR_USER.

   Level: intermediate

.seealso: MATH2, MatH2EntriesFn, MatH2SetCoordinates(), MatH2SetKernel()
@*/
PetscErrorCode MatH2SetEntries(Mat A, MatH2EntriesFn fn, void *ctx)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetEntries_C", (Mat, MatH2EntriesFn, void *), (A, fn, ctx));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetBuiltinKernel - the entries of a MATH2 are one of the built-in (vectorized) kernels

   Logically Collective on Mat

   Input Parameters:
+  A      - the MATH2 matrix
.  k      - the kernel: MATH2_KERNEL_LAPLACE, _YUKAWA, _GAUSSIAN, _EXPONENTIAL, _MATERN32, _MATERN52, _IMQ (or _NONE)
.  scale  - the prefactor s
.  param  - the length scale l (the decay alpha for Yukawa; unused for Laplace)
.  diag   - the diagonal value A_ii, PETSC_DEFAULT for the kernel at r = 0 (required for the singular Laplace and Yukawa kernels)
-  nugget - a value added to A_ii

   Options Database Keys:
+  -mat_h2_kernel <laplace,yukawa,gaussian,exponential,matern32,matern52,imq> - the kernel
.  -mat_h2_kernel_scale <s> - the prefactor
.  -mat_h2_kernel_length <l> - the length scale or decay
.  -mat_h2_kernel_diag <d> - the diagonal value
-  -mat_h2_kernel_nugget <v> - added to the diagonal

   Notes:
   A built-in kernel makes the matrix symmetric (one shared basis). Gaussian, exponential, Matern and
   IMQ are positive definite, so PCH2ULV keeps Cholesky pivots for them.

   Level: beginner

.seealso: MATH2, MatH2KernelType, MatH2SetKernel(), MatH2SetCoordinates()
@*/
PetscErrorCode MatH2SetBuiltinKernel(Mat A, MatH2KernelType k, PetscReal scale, PetscReal param, PetscReal diag, PetscReal nugget)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetBuiltinKernel_C", (Mat, MatH2KernelType, PetscReal, PetscReal, PetscReal, PetscReal), (A, k, scale, param, diag, nugget));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetTolerance - relative compression tolerance and rank cap of the bases of a MATH2

   Logically Collective on Mat

   Input Parameters:
+  A       - the MATH2 matrix
.  rtol    - the relative tolerance, in (0, 1), or PETSC_DEFAULT to keep it
-  maxrank - the cap on every rank (at least 1), or PETSC_DEFAULT to keep it

   Options Database Keys:
+  -mat_h2_rtol <1e-8> - the tolerance
-  -mat_h2_max_rank <512> - the rank cap

   Notes:
   A cell whose rank reaches the cap before the tolerance is reported by MatView() (column capped)
   and -info: the error there exceeds rtol.

   Level: beginner

.seealso: MATH2, MatH2GetRanks(), MatH2GetInfo(), PCH2ULVSetTolerance()
@*/
PetscErrorCode MatH2SetTolerance(Mat A, PetscReal rtol, PetscInt maxrank)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetTolerance_C", (Mat, PetscReal, PetscInt), (A, rtol, maxrank));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetLeafSize - target number of points per leaf of the cluster tree of a MATH2

   Logically Collective on Mat

   Input Parameters:
+  A        - the MATH2 matrix
-  leafsize - the target (at least 1); the leaves hold between it and twice it

   Options Database Keys:
.  -mat_h2_leaf_size <128> - the leaf size

   Level: intermediate

.seealso: MATH2, MatH2SetAdmissibility(), MatH2GetIndexMap()
@*/
PetscErrorCode MatH2SetLeafSize(Mat A, PetscInt leaf)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetLeafSize_C", (Mat, PetscInt), (A, leaf));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetAdmissibility - the rule that decides which pairs of clusters are far (compressed)

   Logically Collective on Mat

   Input Parameters:
+  A     - the MATH2 matrix
.  t     - MATH2_ADMISSIBILITY_THETA, far when |C_i - C_j|^2 > theta (|R_i|^2 + |R_j|^2), or MATH2_ADMISSIBILITY_ETA, far when max(diam_i, diam_j) <= eta dist(B_i, B_j)
-  param - theta or eta, non-negative (theta = 0: weak admissibility, HSS)

   Options Database Keys:
+  -mat_h2_admissibility <theta,eta> - the rule
.  -mat_h2_theta <2> - theta
-  -mat_h2_eta <1> - eta

   Level: intermediate

.seealso: MATH2, MatH2AdmissibilityType, MatH2SetLeafSize()
@*/
PetscErrorCode MatH2SetAdmissibility(Mat A, MatH2AdmissibilityType t, PetscReal param)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetAdmissibility_C", (Mat, MatH2AdmissibilityType, PetscReal), (A, t, param));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetSampleSize - cap on the far-field sample from which each cluster's basis is computed

   Logically Collective on Mat

   Input Parameters:
+  A        - the MATH2 matrix
-  nsamples - the cap on the sample points per cluster; 0: automatic (500 per digit of the tolerance, at least 1000)

   Options Database Keys:
.  -mat_h2_samples <0> - the cap

   Level: advanced

.seealso: MATH2, MatH2SetTolerance()
@*/
PetscErrorCode MatH2SetSampleSize(Mat A, PetscInt s)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetSampleSize_C", (Mat, PetscInt), (A, s));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetStorage - whether the near blocks and couplings of a MATH2 are stored or computed in every product

   Logically Collective on Mat

   Input Parameters:
+  A           - the MATH2 matrix
.  st          - MATH2_STORAGE_STORED, MATH2_STORAGE_JIT (computed from the entries in every product: memory O(N) beyond the bases) or MATH2_STORAGE_AUTO (stored unless they would exceed memlimit_mb)
-  memlimit_mb - MB per process the stored values may take under auto; 0 or PETSC_DEFAULT: half the physical memory shared by the processes

   Options Database Keys:
+  -mat_h2_storage <auto,stored,jit> - the storage
-  -mat_h2_memory_limit <0> - the limit in MB

   Notes:
   The choice made under auto is reported by -info and MatView(). Every operation works in both modes.

   Level: intermediate

.seealso: MATH2, MatH2GetMemory(), MatH2StorageType
@*/
PetscErrorCode MatH2SetStorage(Mat A, MatH2StorageType st, PetscReal memlimit)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetStorage_C", (Mat, MatH2StorageType, PetscReal), (A, st, memlimit));
  PetscFunctionReturn(0);
}

/*@
   MatH2GetIndexMap - the points this process owns in the cluster tree's order

   Collective on Mat

   Input Parameter:
.  A - the assembled MATH2 matrix

   Output Parameter:
.  treeorder - the global indices (user numbering) of the points this process owns in the tree, in tree order; destroy with ISDestroy()

   Level: advanced

.seealso: MATH2, MatH2SetCoordinates()
@*/
PetscErrorCode MatH2GetIndexMap(Mat A, IS *is)
{
  PetscFunctionBegin;
  PetscUseMethod(A, "MatH2GetIndexMap_C", (Mat, IS *), (A, is));
  PetscFunctionReturn(0);
}

/*@
   MatH2GetRanks - the ranks of the bases of an assembled MATH2, per level

   Not Collective

   Input Parameter:
.  A - the assembled MATH2 matrix

   Output Parameters:
+  nlevels  - the number of levels (or NULL)
.  minrank  - the smallest rank on each level, an array of nlevels entries (or NULL)
.  maxrank  - the largest rank on each level (or NULL)
-  meanrank - the mean rank on each level (or NULL)

   Notes:
   Call once with NULL arrays to get nlevels.

   Level: intermediate

.seealso: MATH2, MatH2GetInfo(), MatH2SetTolerance()
@*/
PetscErrorCode MatH2GetRanks(Mat A, PetscInt *nlevels, PetscInt minr[], PetscInt maxr[], PetscReal meanr[])
{
  PetscFunctionBegin;
  PetscUseMethod(A, "MatH2GetRanks_C", (Mat, PetscInt *, PetscInt[], PetscInt[], PetscReal[]), (A, nlevels, minr, maxr, meanr));
  PetscFunctionReturn(0);
}

/*@
   MatH2GetMemory - memory of the H^2 representation (bases and values), summed over all processes

   Collective on Mat

   Input Parameter:
.  A - the assembled MATH2 matrix

   Output Parameter:
.  bytes - the memory in bytes

   Level: intermediate

.seealso: MATH2, MatH2GetInfo(), MatH2SetStorage()
@*/
PetscErrorCode MatH2GetMemory(Mat A, PetscLogDouble *bytes)
{
  PetscFunctionBegin;
  PetscUseMethod(A, "MatH2GetMemory_C", (Mat, PetscLogDouble *), (A, bytes));
  PetscFunctionReturn(0);
}

/*@
   MatH2GetInfo - a summary of the construction of an assembled MATH2

   Collective on Mat

   Input Parameter:
.  A - the assembled MATH2 matrix

   Output Parameter:
.  info - levels, largest rank, mean leaf rank, leaf near blocks, far pairs, bytes (all processes), the times of tree, bases and values (this process), flops of one MatMult (all processes), the tolerance

   Level: intermediate

.seealso: MATH2, MatH2Info, MatH2GetRanks(), MatH2GetMemory()
@*/
PetscErrorCode MatH2GetInfo(Mat A, MatH2Info *info)
{
  PetscFunctionBegin;
  PetscUseMethod(A, "MatH2GetInfo_C", (Mat, MatH2Info *), (A, info));
  PetscFunctionReturn(0);
}

/*@C
   MatCreateH2FromKernel - creates and assembles a MATH2 kernel matrix in one call

   Collective

   Input Parameters:
+  comm   - the communicator
.  m      - the number of local rows (and points), or PETSC_DECIDE
.  M      - the global size
.  dim    - the spatial dimension, 1, 2 or 3
.  coords - the local points, interleaved
.  fn     - the kernel, or NULL for a built-in kernel chosen with -mat_h2_kernel
-  ctx    - user context passed to fn (or NULL)

   Output Parameter:
.  A - the assembled matrix

   Notes:
   The -mat_h2_* options are applied (MatSetFromOptions()) before assembly.

   Level: beginner

.seealso: MATH2, MatH2SetCoordinates(), MatH2SetKernel(), MatH2SetBuiltinKernel()
@*/
PetscErrorCode MatCreateH2FromKernel(MPI_Comm comm, PetscInt m, PetscInt M, PetscInt dim, const PetscReal coords[], MatH2KernelFn fn, void *ctx, Mat *A)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscCall(MatCreate(comm, A));
  PetscCall(MatSetSizes(*A, m, m, M, M));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(MatSetFromOptions(*A));
  PetscCall(MatH2SetCoordinates(*A, dim, coords));
  if (fn) PetscCall(MatH2SetKernel(*A, fn, ctx));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}
