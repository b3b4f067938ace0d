/*
   MATH2 ("h2"): an H^2 matrix with shared nested bases, built from points plus a kernel, a block
   entry callback, or an assembled dense matrix.  The numerical work lives in src/core; the PETSc
   layer is split over this folder: this file holds the type itself (MatCreate_H2 and its ops table,
   options, view, destroy, the setters and getters composed on the object); math2build.cxx the
   orderings and the construction at MatAssemblyEnd(); math2ops.cxx the operations on a built matrix;
   math2api.cxx the public MatH2* functions.
*/
#include "math2impl.h"

#include <petscsf.h>
#include <cmath>

/* forget the built representation (new points, kernel or parameters) */
PetscErrorCode MatH2ResetBuilt_Private(Mat A)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  h->structure.reset();
  h->deferred = PETSC_FALSE;
  h->ntree    = 0;
  h->evaluator.reset();
  h->tree.reset();
  h->values = h2ulv::H2Values<double>();
  h->alpha  = 1.0;
  h->t_load = 0;
  h->dshift.clear();
  PetscCall(PetscSFDestroy(&h->sf));
  A->assembled = PETSC_FALSE;
  A->nonzerostate++;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Setters (composed as "<Name>_C")
   ------------------------------------------------------------------------------------------------ */
PetscErrorCode MatH2SetCoordinates_H2(Mat A, PetscInt dim, const PetscReal coords[])
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

/* a source of the entries given (set): it replaces the others */
static void MatH2OnlySource_Private(Mat_H2 *h, bool set)
{
  if (!set) return;
  h->kfn  = nullptr;
  h->kbfn = nullptr;
  h->efn  = nullptr;
  h->dense.reset();
  h->kernel = MATH2_KERNEL_NONE;
}

static PetscErrorCode MatH2SetKernel_H2(Mat A, MatH2KernelFn fn, void *ctx)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2ResetBuilt_Private(A));
  MatH2OnlySource_Private(h, fn);
  h->kfn  = fn;
  h->kctx = ctx;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetKernelBlock_H2(Mat A, MatH2KernelBlockFn fn, void *ctx)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2ResetBuilt_Private(A));
  MatH2OnlySource_Private(h, fn);
  h->kbfn  = fn;
  h->kbctx = ctx;
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2SetEntries_H2(Mat A, MatH2EntriesFn fn, void *ctx)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2ResetBuilt_Private(A));
  MatH2OnlySource_Private(h, fn);
  h->efn  = fn;
  h->ectx = ctx;
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
  MatH2OnlySource_Private(h, k != MATH2_KERNEL_NONE);
  h->kernel    = k;
  h->kscale    = scale;
  h->kparam    = param;
  h->kdiag_set = (PetscBool)(diag != PETSC_DEFAULT);
  h->kdiag     = diag;
  h->knugget   = nugget;
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

/* PETSc keeps MAT_SYMMETRIC, MAT_HERMITIAN and MAT_SPD to itself (no type method is called): one set
   after a build with row and column bases is found here, at the next operation, which keeps the row
   bases as the one basis and evaluates the values again (unless -mat_h2_symmetric 0, or its values were changed since by
   MatShift ...: those keep the two bases) */
static PetscBool MatH2DeclaredSymmetricLate_Private(Mat A)
{
  const Mat_H2 *h    = H2(A);
  const bool    decl = A->symmetric == PETSC_BOOL3_TRUE || A->hermitian == PETSC_BOOL3_TRUE || A->spd == PETSC_BOOL3_TRUE;
  return (PetscBool)(decl && h->structure && !h->symmetric && !(h->symmetric_set && !h->symmetric_opt) && PetscRealPart(h->alpha) == 1.0 && h->dshift.empty());
}

PetscErrorCode MatH2CheckBuilt_Private(Mat A)
{
  PetscFunctionBegin;
  PetscCall(MatH2BuildDeferred_Private(A)); /* collective, like the operations that call this */
  if (MatH2DeclaredSymmetricLate_Private(A)) {
    PetscCall(PetscInfo(A, "MATH2: declared symmetric after a build with row and column bases: its row bases become the one basis, the values are evaluated again (set MAT_SYMMETRIC before MatAssemblyEnd() to build once)\n"));
    PetscCall(MatH2SymmetrizeBuilt_Private(A));
  }
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
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { idx.assign(h->tree->perm().begin() + lay.pointBegin(), h->tree->perm().begin() + lay.pointEnd()); })); /* ISCreateGeneral is collective */
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

PetscErrorCode MatH2GetMemory_H2(Mat A, PetscLogDouble *bytes)
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
  /* the factorization needs the tree and the entries, not the operator's bases: a deferred one stays so */
  if (H2(A)->deferred) PetscCall(MatH2ResolveSymmetry_Private(A));
  else PetscCall(MatH2CheckBuilt_Private(A));
  PetscCheck(H2(A)->evaluator, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_WRONGSTATE, "This MATH2 was loaded from a file without its entries (they came from a user callback or a dense matrix, which a file does not hold): the factorization needs them; call MatH2SetKernel() or MatH2SetEntries() on the matrix before MatLoad()");
  *h = H2(A);
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Options, view, destroy, create
   ------------------------------------------------------------------------------------------------ */
PetscErrorCode MatSetFromOptions_H2(Mat A, PetscOptionItems *PetscOptionsObject)
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
    MatH2OnlySource_Private(h, f1);
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
  PetscCall(MatH2GeometryFromOptions_Private(A, PetscOptionsObject, &changed));
  PetscCall(PetscOptionsBool("-mat_h2_monitor", "Print a line per level of the basis construction: elapsed time and an estimate of what remains", "", h->monitor, &h->monitor, NULL));
  PetscCall(PetscOptionsBool("-mat_h2_defer", "MatAssemblyEnd() builds the cluster tree; the bases and values are built at the first operation that needs them (a product, MatGetDiagonal, MatNorm, MatH2GetInfo ...; a factorization by PCH2ULV needs only the tree and the entries). false: all in MatAssemblyEnd()", "", h->defer, &h->defer, NULL));
  {
    PetscBool ts = (PetscBool)(h->cbthreads == PETSC_BOOL3_TRUE), set;
    PetscCall(PetscOptionsBool("-mat_h2_callback_threadsafe", "User callbacks may be called from several threads at once (default: yes for MatH2SetKernel, no for MatH2SetEntries)", "MatH2SetKernel", ts, &ts, &set));
    if (set) h->cbthreads = PetscBoolToBool3(ts);
  }
  PetscOptionsHeadEnd();
  if (changed && h->tree) PetscCall(MatH2ResetBuilt_Private(A));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatView_H2(Mat A, PetscViewer viewer)
{
  Mat_H2           *h = H2(A);
  PetscBool         isascii, isbinary;
  PetscViewerFormat format;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERBINARY, &isbinary));
  if (isbinary) {
    PetscCall(MatView_H2_Binary(A, viewer));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &isascii));
  if (!isascii) PetscFunctionReturn(0);
  PetscCall(PetscViewerGetFormat(viewer, &format));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  H2 matrix (h2ulv): rtol %g, max rank %" PetscInt_FMT ", leaf size %" PetscInt_FMT ", %s admissibility %g, %" PetscInt_FMT " samples, %s\n", (double)h->rtol, h->maxrank, h->leafsize, MatH2AdmissibilityTypes[h->adm],
                                   (double)(h->adm == MATH2_ADMISSIBILITY_THETA ? h->theta : h->eta), h->nsamples, h->symmetric ? "symmetric (one basis)" : "nonsymmetric (row and column bases)"));
  if (h->kernel != MATH2_KERNEL_NONE) {
    if (h->kdiag_set) PetscCall(PetscViewerASCIIPrintf(viewer, "  kernel %s: scale %g, length %g, diagonal %g + nugget %g\n", MatH2KernelTypes[h->kernel], (double)h->kscale, (double)h->kparam, (double)h->kdiag, (double)h->knugget));
    else PetscCall(PetscViewerASCIIPrintf(viewer, "  kernel %s: scale %g, length %g, diagonal kernel(0) + nugget %g\n", MatH2KernelTypes[h->kernel], (double)h->kscale, (double)h->kparam, (double)h->knugget));
  }
  else PetscCall(PetscViewerASCIIPrintf(viewer, "  entries from %s\n", h->kfn ? "a user kernel function" : h->kbfn ? "a user kernel block function" : h->efn ? "a user block callback" : h->dense ? "a dense matrix" : "(not set)"));
  if (!h->tree) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  (not assembled)\n"));
    PetscFunctionReturn(0);
  }
  if (h->deferred) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  N %" PetscInt_FMT ", dimension %" PetscInt_FMT ", tree depth %d (%d leaves)\n", A->rmap->N, h->dim, h->tree->levels(), h->tree->ncells(h->tree->levels())));
    PetscCall(MatH2GeometryView_Private(A, viewer));
    PetscCall(PetscViewerASCIIPrintf(viewer, "  bases and values not built yet: built at the first operation that needs them (a product, MatGetDiagonal, MatH2GetInfo ...; -mat_h2_defer 0 builds them in MatAssemblyEnd())\n"));
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
  PetscCall(MatH2GeometryView_Private(A, viewer));
  if (h->t_load > 0) PetscCall(PetscViewerASCIIPrintf(viewer, "  loaded from a file (MatLoad) in %.3g s\n", h->t_load));
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
  const char *names[] = {"MatH2SetCoordinates_C", "MatH2SetKernel_C", "MatH2SetEntries_C", "MatH2SetKernelBlock_C", "MatH2SetBuiltinKernel_C", "MatH2SetTolerance_C", "MatH2SetLeafSize_C", "MatH2SetAdmissibility_C", "MatH2SetSampleSize_C", "MatH2SetStorage_C", "MatH2SetGeometry_C", "MatH2GetIndexMap_C", "MatH2GetRanks_C", "MatH2GetMemory_C", "MatH2GetInfo_C", "MatProductSetFromOptions_h2_seqdense_C", "MatProductSetFromOptions_h2_mpidense_C", "MatConvert_seqdense_h2_C", "MatConvert_mpidense_h2_C"};
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
   MATH2 - "h2" - an H^2 matrix with shared nested bases (h2ulv), from points (MatH2SetCoordinates)
   and a kernel (MatH2SetKernel, MatH2SetBuiltinKernel, -mat_h2_kernel), a block entry callback
   (MatH2SetEntries), or a dense matrix (MatConvert).  MatAssemblyEnd() builds the cluster tree; the
   bases and values are built at the first operation that needs them (a product, MatGetDiagonal,
   MatNorm, MatH2GetInfo, MatDuplicate, a binary MatView), with the symmetry options as they are
   then.  A factorization by PCH2ULV needs only the tree and the entries: a direct solve never builds
   them.  -mat_h2_defer 0 builds everything in MatAssemblyEnd().

   Options: -mat_h2_leaf_size, -mat_h2_rtol, -mat_h2_max_rank, -mat_h2_samples,
   -mat_h2_admissibility theta|eta, -mat_h2_theta, -mat_h2_eta, -mat_h2_kernel <name>,
   -mat_h2_kernel_scale, -mat_h2_kernel_length, -mat_h2_kernel_diag, -mat_h2_kernel_nugget,
   -mat_h2_symmetric, -mat_h2_threads, -mat_h2_callback_threadsafe, -mat_h2_storage auto|stored|jit,
   -mat_h2_memory_limit, -mat_h2_check_rows, -mat_h2_geometry auto|points|matrix, -mat_h2_neighbors,
   -mat_h2_defer

   Checks at assembly (those of the bases at their build): the construction parameters must be the same on every process (an error names
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
  A->ops->load                  = MatLoad_H2;
  A->ops->destroy               = MatDestroy_H2;
  A->ops->setup                 = MatSetUp_H2;
  A->ops->getrow                = MatGetRow_H2;
  A->assembled                  = PETSC_FALSE;
  PetscCall(PetscObjectChangeTypeName((PetscObject)A, MATH2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetCoordinates_C", MatH2SetCoordinates_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetKernel_C", MatH2SetKernel_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetEntries_C", MatH2SetEntries_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetKernelBlock_C", MatH2SetKernelBlock_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetBuiltinKernel_C", MatH2SetBuiltinKernel_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetTolerance_C", MatH2SetTolerance_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetLeafSize_C", MatH2SetLeafSize_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetAdmissibility_C", MatH2SetAdmissibility_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetSampleSize_C", MatH2SetSampleSize_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetStorage_C", MatH2SetStorage_H2));
  PetscCall(PetscObjectComposeFunction((PetscObject)A, "MatH2SetGeometry_C", MatH2SetGeometry_H2));
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
