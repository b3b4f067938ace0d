/* MATH2 construction: the user layout <-> tree orderings, the collective checks, the build of the
   tree, bases and values at MatAssemblyEnd(), and the check of the product against the exact entries */
#include "math2impl.h"

#include "core/parallel.hpp"

#include <petscsf.h>
#include <cmath>
#include <string>

/* ------------------------------------------------------------------------------------------------
   Orderings: user layout (PETSc) <-> local tree order
   ------------------------------------------------------------------------------------------------ */
PetscErrorCode MatH2ToTree_Private(Mat A, const PetscScalar *user, PetscScalar *tree, PetscInt k, PetscInt ldu)
{
  Mat_H2  *h  = H2(A);
  PetscInt nt = h->ntree;

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
  PetscInt nt = h->ntree;

  PetscFunctionBegin;
  for (PetscInt j = 0; j < k; j++) {
    PetscCall(PetscSFReduceBegin(h->sf, MPIU_SCALAR, tree + j * nt, user + j * ldu, MPI_REPLACE));
    PetscCall(PetscSFReduceEnd(h->sf, MPIU_SCALAR, tree + j * nt, user + j * ldu, MPI_REPLACE));
  }
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
    {"the source of the entries (built-in kernel, MatH2SetKernel, MatH2SetEntries, dense, MatH2SetKernelBlock)", (double)(h->kernel != MATH2_KERNEL_NONE ? 0 : h->kfn ? 1 : h->efn ? 2 : h->kbfn ? 4 : 3)},
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
    {"-mat_h2_geometry", (double)h->geometry},
    {"-mat_h2_neighbors", (double)h->neighbors},
    {"MatH2SetCoordinates() (1: called)", (double)h->coords_set},
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

/* one basis for rows and columns: a built-in kernel, MAT_SYMMETRIC, MAT_SPD or -mat_h2_symmetric
   (-mat_h2_symmetric 0 wins) */
static void MatH2SymmetryFromFlags_Private(Mat A)
{
  Mat_H2 *h = H2(A);

  h->symmetric = (PetscBool)(h->kernel != MATH2_KERNEL_NONE || A->symmetric == PETSC_BOOL3_TRUE || A->spd == PETSC_BOOL3_TRUE || (h->symmetric_set && h->symmetric_opt));
  if (h->symmetric_set && !h->symmetric_opt) h->symmetric = PETSC_FALSE;
}

/* the input is complete and the same on every process; the previous build is dropped */
static PetscErrorCode MatH2BuildCheckInput_Private(Mat A)
{
  Mat_H2  *h    = H2(A);
  MPI_Comm comm = PetscObjectComm((PetscObject)A);

  PetscFunctionBegin;
  PetscCall(PetscLayoutSetUp(A->rmap));
  PetscCall(PetscLayoutSetUp(A->cmap));
  A->preallocated = PETSC_TRUE; /* nothing to preallocate (and no MatH2SetCoordinates() without points) */
  PetscCheck(A->rmap->N == A->cmap->N && A->rmap->n == A->cmap->n, comm, PETSC_ERR_ARG_SIZ, "MATH2 matrices are square with the same row and column layout; got %" PetscInt_FMT " x %" PetscInt_FMT " (local %" PetscInt_FMT " x %" PetscInt_FMT ")", A->rmap->N, A->cmap->N, A->rmap->n, A->cmap->n);
  PetscCheck(h->coords_set || h->geometry != MATH2_GEOMETRY_POINTS, comm, PETSC_ERR_ORDER, "MATH2 has no coordinates but -mat_h2_geometry points asks for them: call MatH2SetCoordinates() before MatAssemblyEnd(), or build the tree from the entries (-mat_h2_geometry auto or matrix)");
  PetscCheck(h->coords_set || !(h->kfn || h->kbfn || h->kernel != MATH2_KERNEL_NONE), comm, PETSC_ERR_ORDER, "MATH2 has a point kernel (MatH2SetKernel, MatH2SetKernelBlock, MatH2SetBuiltinKernel or -mat_h2_kernel) but no coordinates: call MatH2SetCoordinates() before MatAssemblyEnd() (without points, give the entries with MatH2SetEntries or MatConvert from a dense matrix)");
  PetscCheck(!h->coords_set || (PetscInt)h->coords.size() == A->rmap->n * h->dim, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "MATH2 was given %" PetscInt_FMT " local points but owns %" PetscInt_FMT " rows: the layout changed after MatH2SetCoordinates()", (PetscInt)h->coords.size() / h->dim, A->rmap->n);
  PetscCheck(h->kfn || h->kbfn || h->efn || h->dense || h->kernel != MATH2_KERNEL_NONE, comm, PETSC_ERR_ORDER, "MATH2 has no entries: call MatH2SetKernel(), MatH2SetKernelBlock(), MatH2SetEntries() or MatH2SetBuiltinKernel(), or choose -mat_h2_kernel, before MatAssemblyEnd()");
  PetscCheck(A->rmap->N >= 1, comm, PETSC_ERR_ARG_SIZ, "MATH2 needs at least one point (the global size is 0)");
  if (h->kernel == MATH2_KERNEL_LAPLACE || h->kernel == MATH2_KERNEL_YUKAWA) PetscCheck(h->kdiag_set, comm, PETSC_ERR_ARG_WRONG, "The %s kernel is singular at r = 0: give its diagonal value with -mat_h2_kernel_diag (or MatH2SetBuiltinKernel)", MatH2KernelTypes[h->kernel]);
  PetscCall(MatH2ResetBuilt_Private(A));
  if (h->threads > 0) PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { h2ulv::setDefaultThreads((int)h->threads); }));
  MatH2SymmetryFromFlags_Private(A);
  PetscCall(MatH2CheckSame_Private(A));
  PetscCall(MatH2CheckMemory_Private(A));
  PetscFunctionReturn(0);
}

/* the entries on the tree's points: built-in kernel, user kernel, user block callback or dense (throws) */
void MatH2CreateEvaluator_Private(Mat_H2 *h)
{
  const h2ulv::ClusterTree &T = *h->tree;
  if (h->kernel != MATH2_KERNEL_NONE) {
    h2ulv::KernelParams kp;
    const h2ulv::KernelKind kinds[] = {h2ulv::KernelKind::Laplace, h2ulv::KernelKind::Laplace, h2ulv::KernelKind::Yukawa, h2ulv::KernelKind::Gaussian, h2ulv::KernelKind::Exponential, h2ulv::KernelKind::Matern32, h2ulv::KernelKind::Matern52, h2ulv::KernelKind::IMQ};
    kp.kind         = kinds[h->kernel];
    kp.scale        = h->kscale;
    kp.param        = h->kparam;
    kp.diag         = h->kdiag_set ? (double)h->kdiag : NAN;
    kp.nugget       = h->knugget;
    h->evaluator    = std::make_shared<h2ulv::BuiltinKernel>(T, kp);
  } else if (h->kfn) { /* MatH2KernelFn called directly by the core's loop (same types with real, 32-bit-index PETSc) */
    static_assert(sizeof(PetscInt) == sizeof(int) && sizeof(PetscScalar) == sizeof(double), "real scalars and 32-bit PetscInt expected");
    h->evaluator = std::make_shared<h2ulv::FunctionKernel>(T, reinterpret_cast<h2ulv::FunctionKernel::Fn>(h->kfn), h->kctx, h->cbthreads != PETSC_BOOL3_FALSE);
  } else if (h->kbfn) { /* MatH2KernelBlockFn called once per block with the gathered points */
    h->evaluator = std::make_shared<h2ulv::PointBlockKernel>(T, reinterpret_cast<h2ulv::PointBlockKernel::Fn>(h->kbfn), h->kbctx, h->cbthreads != PETSC_BOOL3_FALSE);
  } else if (h->efn) {
    MatH2EntriesFn fn = h->efn;
    void          *cx = h->ectx;
    h->evaluator      = std::make_shared<h2ulv::BlockCallback>(T,
                                                          [fn, cx](int m, const int *r, int n, const int *c, double *o, int ld) {
                                                            static_assert(sizeof(PetscInt) == sizeof(int), "32-bit PetscInt expected");
                                                            return (int)fn(m, (const PetscInt *)r, n, (const PetscInt *)c, o, ld, cx);
                                                          },
                                                          h->cbthreads == PETSC_BOOL3_TRUE);
  } else h->evaluator = std::make_shared<h2ulv::DenseEntries>(T, *h->dense);
}

/* the end of a timed build step: its time (since t0) into *t and its event ended, also when the step
   failed (ierr), so the events stay balanced */
static PetscErrorCode MatH2BuildStepEnd_Private(Mat A, PetscLogEvent event, PetscLogDouble t0, PetscLogDouble *t, PetscErrorCode ierr)
{
  PetscLogDouble t1;

  PetscFunctionBegin;
  PetscCall(PetscTime(&t1));
  *t = t1 - t0;
  PetscCall(PetscLogEventEnd(event, A, 0, 0, 0));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* all points on every process (the tree, the far samples and the point kernels need them); empty
   without coordinates */
static PetscErrorCode MatH2GatherPoints_Private(Mat A, std::vector<double> &all)
{
  Mat_H2        *h    = H2(A);
  MPI_Comm       comm = PetscObjectComm((PetscObject)A);
  const PetscInt N = A->rmap->N, dim = h->coords_set ? h->dim : 0;
  PetscMPIInt    size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() { all.resize((size_t)N * dim); }));
  if (!dim) PetscFunctionReturn(0);
  std::vector<PetscMPIInt> counts(size), displs(size);
  for (PetscMPIInt p = 0; p < size; p++) {
    counts[p] = (PetscMPIInt)((A->rmap->range[p + 1] - A->rmap->range[p]) * dim);
    displs[p] = (PetscMPIInt)(A->rmap->range[p] * dim);
  }
  PetscCallMPI(MPI_Allgatherv(h->coords.data(), (PetscMPIInt)h->coords.size(), MPIU_REAL, all.data(), counts.data(), displs.data(), MPIU_REAL, comm));
  PetscFunctionReturn(0);
}

/* the entries in the user's numbering, for the tree from the entries: a dense matrix directly, the
   other sources through their evaluator on the points in the user's order (throws) */
static h2ulv::UserEntries MatH2UserEntries_Private(Mat_H2 *h, int N, int dim, const std::vector<double> &all)
{
  if (h->dense) {
    std::shared_ptr<const std::vector<double>> a = h->dense;
    return [a, N](const int *r, int m, const int *c, int n, double *o, int ld) {
      for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) o[i + (size_t)j * ld] = (*a)[r[i] + (size_t)c[j] * N];
    };
  }
  h2ulv::MatrixTreeParts id; /* one cell, the identity order */
  id.dim = dim;
  id.coords = all;
  id.perm.resize(N);
  for (int t = 0; t < N; t++) id.perm[t] = t;
  id.cells.resize(1);
  id.cells[0].end = N;
  id.diag.assign(N, 1.0);
  id.near.resize(1);
  id.near[0].ptr = {0, 1};
  id.near[0].col = {0};
  id.far.resize(1);
  id.far[0].ptr = {0, 0};
  h->tree = std::make_shared<h2ulv::ClusterTree>(std::move(id), h2ulv::TreeOptions());
  MatH2CreateEvaluator_Private(h);
  std::shared_ptr<const h2ulv::EntryEvaluator> ev = h->evaluator;
  std::shared_ptr<const h2ulv::ClusterTree>    t  = h->tree;
  h->evaluator.reset();
  h->tree.reset();
  return [ev, t](const int *r, int m, const int *c, int n, double *o, int ld) { ev->eval(r, m, c, n, o, ld); };
}

/* the cluster tree (from the points, or from the entries: -mat_h2_geometry) and the entries on it */
static PetscErrorCode MatH2BuildTree_Private(Mat A)
{
  Mat_H2             *h    = H2(A);
  MPI_Comm            comm = PetscObjectComm((PetscObject)A);
  const PetscInt      N = A->rmap->N, dim = h->coords_set ? h->dim : 0;
  const bool          points = h->geometry == MATH2_GEOMETRY_POINTS || (h->geometry == MATH2_GEOMETRY_AUTO && h->coords_set);
  PetscLogDouble      t0;
  PetscErrorCode      ierr;
  std::vector<double> all;

  PetscFunctionBegin;
  PetscCall(MatH2GatherPoints_Private(A, all));
  PetscCall(PetscLogEventBegin(MATH2_Tree, A, 0, 0, 0));
  PetscCall(PetscTime(&t0));
  ierr = H2ULVCallCore(comm, PETSC_TRUE, [&]() { /* collective: a failing entry callback fails on every process */
    if (points) h->tree = std::make_shared<h2ulv::ClusterTree>((int)dim, (int)N, all.data(), MatH2TreeOptions_Private(h));
    else {
      h2ulv::MatrixTreeOptions mopt;
      mopt.leafsize  = (int)h->leafsize;
      mopt.neighbors = (int)h->neighbors;
      mopt.threaded  = !(h->kfn || h->kbfn || h->efn) || h->cbthreads;
      const h2ulv::UserEntries ue = MatH2UserEntries_Private(h, (int)N, (int)dim, all);
      h->tree                     = h2ulv::buildMatrixTree((int)N, ue, mopt, (int)dim, dim ? all.data() : nullptr);
    }
    all = std::vector<double>();
    MatH2CreateEvaluator_Private(h);
  });
  PetscCall(MatH2BuildStepEnd_Private(A, MATH2_Tree, t0, &h->t_tree, ierr));
  if (!points) PetscCall(PetscInfo(A, "MATH2: cluster tree from the entries alone: %lld entries evaluated (%.3g per point), %.3g s\n", h->tree->constructionEntries(), (double)h->tree->constructionEntries() / (double)N, h->t_tree));
  PetscFunctionReturn(0);
}

/* the memory the bases need (a pilot build, for large matrices), then the bases, level by level */
static PetscErrorCode MatH2BuildBases_Private(Mat A)
{
  Mat_H2             *h    = H2(A);
  MPI_Comm            comm = PetscObjectComm((PetscObject)A);
  PetscLogDouble      t0;
  PetscErrorCode      ierr;

  PetscFunctionBegin;
  if (h->tree->geometric()) PetscCall(MatH2CheckMemoryPilot_Private(A)); /* the pilot subsamples the points */
  PetscCall(PetscTime(&t0));
  PetscCall(PetscLogEventBegin(MATH2_Basis, A, 0, 0, 0));
  const h2ulv::BuildOptions bopt = MatH2BuildOptions_Private(h);
  h2ulv::LevelHookFn monitor = nullptr;
  if (h->monitor) monitor = [comm, t0, L = h->tree->levels()](int l, const h2ulv::H2Structure &) { return H2ULVMonitorLevel_Private(comm, "MATH2 bases", l, L, t0), true; };
  ierr = H2ULVCallCore(comm, PETSC_TRUE, [&]() { h->structure = std::make_shared<const h2ulv::H2Structure>(comm, h->tree, *h->evaluator, bopt, nullptr, monitor); });
  PetscCall(MatH2BuildStepEnd_Private(A, MATH2_Basis, t0, &h->t_basis, ierr));
  PetscFunctionReturn(0);
}

/* near blocks and couplings: stored, or computed on the fly when they would not fit */
static PetscErrorCode MatH2BuildValues_Private(Mat A)
{
  Mat_H2        *h    = H2(A);
  MPI_Comm       comm = PetscObjectComm((PetscObject)A);
  PetscLogDouble t0;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscTime(&t0));
  PetscCall(PetscLogEventBegin(MATH2_Values, A, 0, 0, 0));
  {
    PetscLogDouble est = 0, gest, limit;
    PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { est = (PetscLogDouble)h2ulv::H2Values<double>::estimateBytes(*h->structure); }));
    PetscCall(MPIU_Allreduce(&est, &gest, 1, MPIU_PETSCLOGDOUBLE, MPI_MAX, comm));
    PetscCall(MatH2StoredValuesLimit_Private(A, &limit));
    h->jit = (PetscBool)(h->storage == MATH2_STORAGE_JIT || (h->storage == MATH2_STORAGE_AUTO && gest > limit));
    if (h->jit && h->storage == MATH2_STORAGE_AUTO)
      PetscCall(PetscInfo(A, "MATH2: the near blocks and couplings would take %.4g MB on a process (limit %.4g MB, -mat_h2_memory_limit): computing them on the fly in every product instead\n", gest / 1048576.0, limit / 1048576.0));
  }
  ierr = H2ULVCallCore(comm, PETSC_TRUE, [&]() {
    if (h->jit) h->values.buildJit(*h->structure, h->evaluator);
    else h->values.build(*h->structure, *h->evaluator);
  });
  PetscCall(MatH2BuildStepEnd_Private(A, MATH2_Values, t0, &h->t_values, ierr));
  PetscFunctionReturn(0);
}

/* the PetscSF between the user layout (roots) and the local tree order (leaves) */
PetscErrorCode MatH2BuildSF_Private(Mat A)
{
  Mat_H2               *h    = H2(A);
  MPI_Comm              comm = PetscObjectComm((PetscObject)A);
  const auto           &perm = h->tree->perm();
  std::vector<PetscInt> gidx;

  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() {
    const h2ulv::Layout lay(comm, *h->tree); /* the ownership the structure will have */
    gidx.assign(perm.begin() + lay.pointBegin(), perm.begin() + lay.pointEnd());
  }));
  h->ntree = (PetscInt)gidx.size();
  PetscCall(PetscSFCreate(comm, &h->sf));
  PetscCall(PetscSFSetGraphLayout(h->sf, A->rmap, (PetscInt)gidx.size(), NULL, PETSC_COPY_VALUES, gidx.data()));
  PetscCall(PetscSFSetUp(h->sf));
  PetscFunctionReturn(0);
}

/* -info: the size, ranks, memory and times of the build, and the cells the rank cap stopped */
static PetscErrorCode MatH2BuildInfo_Private(Mat A)
{
  Mat_H2                        *h = H2(A);
  const PetscInt                 N = A->rmap->N;
  std::vector<h2ulv::LevelStats> st;
  PetscLogDouble                 mem;
  int                            ncap = 0;

  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_FALSE, [&]() { st = h->structure->stats(); }));
  PetscCall(MatH2GetMemory_H2(A, &mem));
  PetscCall(PetscInfo(A, "MATH2 built: N %" PetscInt_FMT ", %d levels, leaf rank %d..%d, top rank %d, %.3g MB (%.3g%% of dense), tree %.3g s, bases %.3g s, values %.3g s\n", N, (int)st.size(), st.back().minrank, st.back().maxrank, st.size() > 1 ? st[1].maxrank : 0, mem / 1048576.0,
                      100.0 * mem / (8.0 * (double)N * (double)N), h->t_tree, h->t_basis, h->t_values));
  for (const auto &s : st) ncap += s.ncapped;
  if (ncap) PetscCall(PetscInfo(A, "MATH2: %d cell(s) reached the rank cap %" PetscInt_FMT " before the tolerance %g: the approximation is less accurate than -mat_h2_rtol there (raise -mat_h2_max_rank)\n", ncap, h->maxrank, (double)h->rtol));
  PetscFunctionReturn(0);
}

/* the operator on the tree: bases, values (with the shifts and scalings made while it waited:
   alpha K + diag(dshift)), flop count */
static PetscErrorCode MatH2BuildOperator_Private(Mat A)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2BuildBases_Private(A));
  PetscCall(MatH2BuildValues_Private(A));
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_FALSE, [&]() {
    if (h->alpha != 1.0) h->values.scale(h->alpha);
    if (!h->dshift.empty()) h->values.shiftDiagonal(*h->structure, h->dshift.data(), 1.0);
    h->multflops = h2ulv::h2MultiplyFlops(*h->structure); /* of one product with one vector */
  }));
  PetscCall(MatH2BuildInfo_Private(A));
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

/* the sampled check of the product after a build (-mat_h2_check_rows) */
static PetscErrorCode MatH2CheckAfterBuild_Private(Mat A)
{
  Mat_H2        *h     = H2(A);
  const PetscInt auto_ = MatH2AutoSamples_Private(h->rtol);
  const PetscInt rows  = h->checkrows >= 0 ? h->checkrows : (h->nsamples > 0 && h->nsamples < auto_ ? 16 : 0);

  PetscFunctionBegin;
  h->checkerr = -1;
  if (rows > 0) PetscCall(MatH2CheckAccuracy_Private(A, PetscMin(rows, A->rmap->N)));
  PetscFunctionReturn(0);
}

/* MatAssemblyEnd: the input checked, the cluster tree, the entries on it and the orderings; then the
   operator, or (-mat_h2_defer) nothing more until an operation needs it (MatH2BuildDeferred_Private) */
static PetscErrorCode MatH2Assemble_Private(Mat A)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCall(MatH2BuildCheckInput_Private(A));
  PetscCall(MatH2BuildTree_Private(A));
  PetscCall(MatH2CheckSymmetric_Private(A)); /* a PCH2ULV factors what the flags say, built or not */
  PetscCall(MatH2BuildSF_Private(A));
  if (h->defer) {
    h->deferred = PETSC_TRUE;
    PetscCall(PetscInfo(A, "MATH2: cluster tree built (%.3g s); the bases and values are built at the first operation that needs them (a factorization by PCH2ULV does not; -mat_h2_defer 0 builds them here)\n", h->t_tree));
    PetscFunctionReturn(0);
  }
  PetscCall(MatH2BuildOperator_Private(A));
  PetscCall(MatH2CheckAfterBuild_Private(A));
  PetscFunctionReturn(0);
}

PetscErrorCode MatAssemblyEnd_H2(Mat A, MatAssemblyType type)
{
  PetscErrorCode ierr;

  PetscFunctionBegin;
  if (type == MAT_FLUSH_ASSEMBLY) PetscFunctionReturn(0);
  /* already assembled and nothing changed since (every setter and changed option drops the build) */
  if (H2(A)->tree) PetscFunctionReturn(0);
  ierr = MatH2Assemble_Private(A);
  /* a failed build (a callback's error, memory) leaves nothing half built: the next MatAssemblyEnd builds again */
  if (ierr) PetscCall(MatH2ResetBuilt_Private(A));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* The symmetry a deferred operator will be built with, from the flags as they are now (MAT_SYMMETRIC
   set after MatAssemblyEnd() still gives the one-basis build), the entries checked when declared;
   collective.  Nothing to do for a built matrix. */
PetscErrorCode MatH2ResolveSymmetry_Private(Mat A)
{
  Mat_H2         *h   = H2(A);
  const PetscBool was = h->symmetric;

  PetscFunctionBegin;
  if (!h->deferred) PetscFunctionReturn(0);
  MatH2SymmetryFromFlags_Private(A);
  if (h->symmetric != was) {
    PetscCall(MatH2CheckSame_Private(A));
    PetscCall(MatH2CheckSymmetric_Private(A));
  }
  PetscFunctionReturn(0);
}

/* the operator of a matrix assembled with -mat_h2_defer, at the first operation that needs it;
   a failure leaves the matrix unassembled, as a failed MatAssemblyEnd() does */
PetscErrorCode MatH2BuildDeferred_Private(Mat A)
{
  Mat_H2        *h = H2(A);
  PetscErrorCode ierr;

  PetscFunctionBegin;
  if (!h->deferred) PetscFunctionReturn(0);
  ierr = MatH2ResolveSymmetry_Private(A);
  h->deferred = PETSC_FALSE;
  if (!ierr) ierr = MatH2BuildOperator_Private(A);
  if (!ierr) ierr = MatH2CheckAfterBuild_Private(A);
  if (ierr) PetscCall(MatH2ResetBuilt_Private(A));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* declared symmetric after a build with row and column bases: the row bases are the ones a
   symmetric build computes (the same samples, the same compression), so they become the one basis;
   the entries are checked for symmetry and the values evaluated again on the new structure */
static PetscErrorCode MatH2SymmetrizeSteps_Private(Mat A)
{
  Mat_H2        *h    = H2(A);
  MPI_Comm       comm = PetscObjectComm((PetscObject)A);
  PetscLogDouble t0;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  h->symmetric = PETSC_TRUE;
  PetscCall(MatH2CheckSymmetric_Private(A));
  PetscCall(PetscLogEventBegin(MATH2_Basis, A, 0, 0, 0));
  PetscCall(PetscTime(&t0));
  ierr = H2ULVCallCore(comm, PETSC_TRUE, [&]() {
    h->structure = h->structure->symmetricFromRows(comm);
    h->values    = h2ulv::H2Values<double>();
  });
  PetscLogDouble tb = 0;
  PetscCall(MatH2BuildStepEnd_Private(A, MATH2_Basis, t0, &tb, ierr));
  h->t_basis += tb;
  PetscCall(MatH2BuildValues_Private(A));
  PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { h->multflops = h2ulv::h2MultiplyFlops(*h->structure); }));
  PetscCall(MatH2BuildInfo_Private(A));
  PetscCall(MatH2CheckAfterBuild_Private(A));
  PetscFunctionReturn(0);
}

PetscErrorCode MatH2SymmetrizeBuilt_Private(Mat A)
{
  PetscErrorCode ierr;

  PetscFunctionBegin;
  ierr = MatH2SymmetrizeSteps_Private(A);
  A->nonzerostate++; /* a new structure: preconditioners built on the old one set up again */
  if (ierr) PetscCall(MatH2ResetBuilt_Private(A));
  PetscCall(ierr);
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   What the tree is built from: -mat_h2_geometry, MatH2SetGeometry(), and what MatView says of it
   ------------------------------------------------------------------------------------------------ */
PetscErrorCode MatH2SetGeometry_H2(Mat A, MatH2GeometryType g, PetscInt neighbors)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  PetscCheck(g >= MATH2_GEOMETRY_AUTO && g <= MATH2_GEOMETRY_MATRIX, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetGeometry: unknown geometry type %d (auto, points or matrix)", (int)g);
  if (neighbors == PETSC_DEFAULT) neighbors = h->neighbors;
  PetscCheck(neighbors >= 1, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetGeometry: the number of neighbours (-mat_h2_neighbors) must be at least 1, got %" PetscInt_FMT, neighbors);
  if (g != h->geometry || neighbors != h->neighbors) PetscCall(MatH2ResetBuilt_Private(A));
  h->geometry  = g;
  h->neighbors = neighbors;
  PetscFunctionReturn(0);
}

PetscErrorCode MatH2GeometryFromOptions_Private(Mat A, PetscOptionItems *PetscOptionsObject, PetscBool *changed)
{
  Mat_H2           *h = H2(A);
  MatH2GeometryType g = h->geometry;
  PetscInt          k = h->neighbors;
  PetscBool         f1, f2;

  PetscFunctionBegin;
  PetscCall(PetscOptionsEnum("-mat_h2_geometry", "What the cluster tree is built from: points (MatH2SetCoordinates), matrix (the entries alone: angle distance 1 - A_ij^2/(A_ii A_jj), near field from nearest neighbours; meant for symmetric positive definite matrices, nonzero diagonal) or auto (points when given, else matrix)", "MatH2SetGeometry", MatH2GeometryTypes, (PetscEnum)g, (PetscEnum *)&g, &f1));
  PetscCall(PetscOptionsInt("-mat_h2_neighbors", "Tree from the entries: leaf clusters are near when a point of one has one of its k nearest neighbours in the other", "MatH2SetGeometry", k, &k, &f2));
  if (f1 || f2) PetscCall(MatH2SetGeometry_H2(A, g, k));
  *changed = (PetscBool)(*changed || f1 || f2);
  PetscFunctionReturn(0);
}

PetscErrorCode MatH2GeometryView_Private(Mat A, PetscViewer viewer)
{
  Mat_H2 *h = H2(A);

  PetscFunctionBegin;
  if (h->tree->geometric()) PetscCall(PetscViewerASCIIPrintf(viewer, "  cluster tree from the points (-mat_h2_geometry %s): %.3g s\n", MatH2GeometryTypes[h->geometry], h->t_tree));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "  cluster tree from the entries alone (-mat_h2_geometry %s, %" PetscInt_FMT " neighbours): %lld entries evaluated (%.1f per point), %.3g s\n", MatH2GeometryTypes[h->geometry], h->neighbors, h->tree->constructionEntries(),
                                     (double)h->tree->constructionEntries() / (double)A->rmap->N, h->t_tree));
  PetscFunctionReturn(0);
}
