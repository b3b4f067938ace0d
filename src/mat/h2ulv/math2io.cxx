/*
   MATH2 in PETSc binary files: MatView() on a binary viewer writes the whole H^2 matrix (its points
   and tree, the shared bases, the near blocks and couplings, or for values computed on the fly the
   recipe of its entries), MatLoad() reads it back on any number of processes.  Cells, bases and
   blocks are written in the global order of the tree, each by its owner.  Loaded on as many processes
   as wrote it, the matrix gives bit-identical products; on another number, products that agree with
   it to rounding (a block that two processes held, each its own copy, may come from the transposed
   copy there).

   The file (PETSc binary, every record through PetscViewerBinaryWrite/WriteAll):
     header    4 ints   MAT_FILE_CLASSID, M, N, MATH2_FILE_MARKER (negative: PETSc's own loaders refuse
                        the file instead of misreading it)
     version   1 int    MATH2_FILE_VERSION
     params    H2IO_NINT ints, H2IO_NREAL reals (enum below)
     tree      the permutation (N ints: tree position -> row), the points in tree order (N dim reals),
               the near and far pair counts of every level (a check of the tree the points rebuild);
               a tree from the entries (no points, or not built from them) also its cells (begin, end
               per cell in heap order), the near and far lists of every level (offsets, columns) and
               the diagonal it was built from (N reals)
     shifts    the added diagonal of the factorization's view (N reals, tree order) when there is one;
               the diagonal of on-the-fly values (N reals) for those
     bases     levels L..1: the ranks of the level (row side, then column side when nonsymmetric);
               per cell and side: [capped, skeleton] ints, [U, R] reals
     values    stored values only: the near blocks of level L, then the couplings of levels L..1: per
               row cell i, the blocks of its pairs (i, j) in the order of the pair list, column-major;
               for symmetric matrices the pairs j >= i and those j < i that the writing processes held
               apart from (j, i) (i and j owned by two of them: bit-identical products when loaded on
               as many processes; the file stays readable on any number)
*/
#include "math2impl.h"

#include <petscviewer.h>
#include <algorithm>
#include <cmath>

#define MATH2_FILE_MARKER  (-1212768306) /* -0x48494C32 */
#define MATH2_FILE_VERSION 1

/* the integer and real parameters, in file order */
enum { IO_DIM, IO_SYMMETRIC, IO_JIT, IO_KERNEL, IO_KDIAG_SET, IO_LEAFSIZE, IO_ADM, IO_MAXRANK, IO_NSAMPLES, IO_LEVELS, IO_SOURCE, IO_MAT_SYMMETRIC, IO_MAT_SPD, IO_HAS_DSHIFT, IO_HAS_VDIAG, IO_STORAGE, IO_CHECKROWS, IO_NPROCS, IO_TREEKIND, IO_GEOMETRY, IO_NEIGHBORS, H2IO_NINT };
enum { IO_RTOL, IO_THETA, IO_ETA, IO_KSCALE, IO_KPARAM, IO_KDIAG, IO_KNUGGET, IO_ALPHA, IO_VALPHA, IO_CHECKERR, IO_MEMLIMIT, IO_TREE_ENTRIES, H2IO_NREAL };
/* where the entries came from (IO_SOURCE) */
enum { SRC_BUILTIN, SRC_KERNEL, SRC_ENTRIES, SRC_DENSE };
static const char *const H2IOSources[] = {"a built-in kernel", "a user kernel function (MatH2SetKernel)", "a user block callback (MatH2SetEntries)", "a dense matrix (MatConvert)"};

struct H2FileParams {
  PetscInt  iv[H2IO_NINT];
  PetscReal rv[H2IO_NREAL];
};

/* ------------------------------------------------------------------------------------------------
   Writing
   ------------------------------------------------------------------------------------------------ */
/* a record held by one process (mine): it writes count values, the others none (collective) */
template <typename V>
static PetscErrorCode WriteOwned_Private(PetscViewer viewer, PetscBool mine, const std::vector<V> &v, PetscDataType type)
{
  PetscFunctionBegin;
  PetscCall(PetscViewerBinaryWriteAll(viewer, v.data(), mine ? (PetscInt)v.size() : 0, PETSC_DETERMINE, PETSC_DETERMINE, type));
  PetscFunctionReturn(0);
}

static void MatH2FileParams_Private(Mat A, H2FileParams &p)
{
  Mat_H2 *h = H2(A);

  p.iv[IO_DIM]           = h->tree->dim();
  p.iv[IO_SYMMETRIC]     = h->symmetric;
  p.iv[IO_JIT]           = h->jit;
  p.iv[IO_KERNEL]        = h->kernel;
  p.iv[IO_KDIAG_SET]     = h->kdiag_set;
  p.iv[IO_LEAFSIZE]      = h->leafsize;
  p.iv[IO_ADM]           = h->adm;
  p.iv[IO_MAXRANK]       = h->maxrank;
  p.iv[IO_NSAMPLES]      = h->nsamples;
  p.iv[IO_LEVELS]        = h->tree->levels();
  p.iv[IO_SOURCE]        = h->kernel != MATH2_KERNEL_NONE ? SRC_BUILTIN : (h->kfn || h->kbfn) ? SRC_KERNEL : h->efn ? SRC_ENTRIES : SRC_DENSE;
  p.iv[IO_MAT_SYMMETRIC] = A->symmetric;
  p.iv[IO_MAT_SPD]       = A->spd;
  p.iv[IO_HAS_DSHIFT]    = !h->dshift.empty();
  p.iv[IO_HAS_VDIAG]     = h->jit && !h->values.diag_.empty();
  p.iv[IO_STORAGE]       = h->storage;
  p.iv[IO_CHECKROWS]     = h->checkrows;
  p.iv[IO_NPROCS]        = h->structure->layout().size();
  p.iv[IO_TREEKIND]      = h->tree->geometric() ? 0 : 1;
  p.iv[IO_GEOMETRY]      = h->geometry;
  p.iv[IO_NEIGHBORS]     = h->neighbors;
  p.rv[IO_TREE_ENTRIES]  = (PetscReal)h->tree->constructionEntries();
  p.rv[IO_RTOL]          = h->rtol;
  p.rv[IO_THETA]         = h->theta;
  p.rv[IO_ETA]           = h->eta;
  p.rv[IO_KSCALE]        = h->kscale;
  p.rv[IO_KPARAM]        = h->kparam;
  p.rv[IO_KDIAG]         = h->kdiag;
  p.rv[IO_KNUGGET]       = h->knugget;
  p.rv[IO_ALPHA]         = PetscRealPart(h->alpha);
  p.rv[IO_VALPHA]        = h->values.alpha_;
  p.rv[IO_CHECKERR]      = h->checkerr;
  p.rv[IO_MEMLIMIT]      = h->memlimit;
}

/* the pair counts of every level: near, then far */
static std::vector<PetscInt> MatH2PairCounts_Private(const h2ulv::ClusterTree &T)
{
  std::vector<PetscInt> c;
  for (int l = 0; l <= T.levels(); l++) {
    c.push_back((PetscInt)T.nearList(l).nnz());
    c.push_back((PetscInt)T.farList(l).nnz());
  }
  return c;
}

/* a vector in local tree order, written in global tree order (each process holds a contiguous part) */
static PetscErrorCode WriteTreeVector_Private(PetscViewer viewer, const std::vector<double> &v)
{
  PetscFunctionBegin;
  PetscCall(PetscViewerBinaryWriteAll(viewer, v.data(), (PetscInt)v.size(), PETSC_DETERMINE, PETSC_DETERMINE, PETSC_DOUBLE));
  PetscFunctionReturn(0);
}

/* what a tree from the entries cannot rebuild from points: the cells, the pair lists, the diagonal */
static PetscErrorCode MatH2WriteMatrixTree_Private(const h2ulv::ClusterTree &T, PetscViewer viewer)
{
  std::vector<PetscInt> cells;

  PetscFunctionBegin;
  for (int l = 0; l <= T.levels(); l++)
    for (int k = 0; k < T.ncells(l); k++) cells.push_back(T.cell(l, k).begin), cells.push_back(T.cell(l, k).end);
  PetscCall(PetscViewerBinaryWrite(viewer, cells.data(), (PetscInt)cells.size(), PETSC_INT));
  for (int l = 0; l <= T.levels(); l++)
    for (const h2ulv::PairList *P : {&T.nearList(l), &T.farList(l)}) {
      PetscCall(PetscViewerBinaryWrite(viewer, P->ptr.data(), (PetscInt)P->ptr.size(), PETSC_INT));
      PetscCall(PetscViewerBinaryWrite(viewer, P->col.data(), (PetscInt)P->col.size(), PETSC_INT));
    }
  PetscCall(PetscViewerBinaryWrite(viewer, T.diagonal().data(), (PetscInt)T.diagonal().size(), PETSC_DOUBLE));
  PetscFunctionReturn(0);
}

static PetscErrorCode MatH2WriteTree_Private(Mat A, PetscViewer viewer, const H2FileParams &p)
{
  Mat_H2                   *h = H2(A);
  const h2ulv::ClusterTree &T = *h->tree;
  std::vector<PetscInt>     perm(T.perm().begin(), T.perm().end()), counts = MatH2PairCounts_Private(T);

  PetscFunctionBegin;
  PetscCall(PetscViewerBinaryWrite(viewer, perm.data(), (PetscInt)perm.size(), PETSC_INT));
  PetscCall(PetscViewerBinaryWrite(viewer, T.coords().data(), (PetscInt)T.coords().size(), PETSC_DOUBLE));
  PetscCall(PetscViewerBinaryWrite(viewer, counts.data(), (PetscInt)counts.size(), PETSC_INT));
  if (!T.geometric()) PetscCall(MatH2WriteMatrixTree_Private(T, viewer));
  if (p.iv[IO_HAS_DSHIFT]) PetscCall(WriteTreeVector_Private(viewer, h->dshift));
  if (p.iv[IO_HAS_VDIAG]) PetscCall(WriteTreeVector_Private(viewer, h->values.diag_));
  PetscFunctionReturn(0);
}

/* the bases of one side of level l: the ranks, then every cell's record from its owner */
static PetscErrorCode MatH2WriteBasesSide_Private(Mat A, PetscViewer viewer, int l, bool row)
{
  const h2ulv::H2Structure &s = *H2(A)->structure;
  const int                 nc = s.tree().ncells(l);
  std::vector<PetscInt>     ranks(nc), iv;
  std::vector<double>       rv;

  PetscFunctionBegin;
  for (int k = 0; k < nc; k++) ranks[k] = s.rank(l, k, row);
  PetscCall(PetscViewerBinaryWrite(viewer, ranks.data(), nc, PETSC_INT));
  for (int k = 0; k < nc; k++) {
    const PetscBool mine = (PetscBool)s.layout().mine(l, k);
    iv.clear();
    rv.clear();
    if (mine) {
      const h2ulv::CellBasis &b = s.basis(l, k, row);
      iv.push_back(b.capped);
      iv.insert(iv.end(), b.skel.begin(), b.skel.end());
      rv.insert(rv.end(), b.U.data(), b.U.data() + b.U.size());
      rv.insert(rv.end(), b.R.data(), b.R.data() + b.R.size());
    }
    PetscCall(WriteOwned_Private(viewer, mine, iv, PETSC_INT));
    PetscCall(WriteOwned_Private(viewer, mine, rv, PETSC_DOUBLE));
  }
  PetscFunctionReturn(0);
}

/* pair (i, j) of level l is in the file: all pairs of a nonsymmetric matrix; of a symmetric one, j >= i
   and the pairs j < i that the writing processes held apart from (j, i) because two of them own i and j
   (w: the ownership of the writers) */
static inline bool PairInFile(bool symmetric, const h2ulv::Layout &w, int l, int i, int j) { return !symmetric || j >= i || w.owner(l, i) != w.owner(l, j); }

/* the stored blocks of level l (near blocks at nearb, couplings otherwise), row cell by row cell */
static PetscErrorCode MatH2WriteValuesLevel_Private(Mat A, PetscViewer viewer, int l, bool nearb)
{
  Mat_H2                   *h = H2(A);
  const h2ulv::H2Structure &s = *h->structure;
  const h2ulv::PairList    &P = nearb ? s.tree().nearList(l) : s.tree().farList(l);
  std::vector<double>       buf;
  h2ulv::Matrix<double>     B;

  PetscFunctionBegin;
  for (int i = 0; i < s.tree().ncells(l); i++) {
    const PetscBool mine = (PetscBool)s.layout().mine(l, i);
    buf.clear();
    if (mine)
      PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() {
        for (int p = P.ptr[i]; p < P.ptr[i + 1]; p++)
          if (PairInFile(s.symmetric(), s.layout(), l, i, P.col[p])) {
            h->values.block(s, l, i, P.col[p], nearb, B);
            buf.insert(buf.end(), B.data(), B.data() + B.size());
          }
      }));
    PetscCall(WriteOwned_Private(viewer, mine, buf, PETSC_DOUBLE));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode MatView_H2_Binary(Mat A, PetscViewer viewer)
{
  Mat_H2      *h = H2(A);
  H2FileParams p;
  PetscInt     header[4] = {MAT_FILE_CLASSID, A->rmap->N, A->cmap->N, MATH2_FILE_MARKER}, version = MATH2_FILE_VERSION;

  PetscFunctionBegin;
  if (h->deferred) PetscCall(MatH2CheckBuilt_Private(A)); /* the file holds the bases */
  PetscCheck(h->structure, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_WRONGSTATE, "MatView of a MATH2 to a binary viewer needs the assembled matrix: call MatAssemblyBegin/End() first");
  PetscCall(PetscViewerSetUp(viewer));
  MatH2FileParams_Private(A, p);
  PetscCall(PetscViewerBinaryWrite(viewer, header, 4, PETSC_INT));
  PetscCall(PetscViewerBinaryWrite(viewer, &version, 1, PETSC_INT));
  PetscCall(PetscViewerBinaryWrite(viewer, p.iv, H2IO_NINT, PETSC_INT));
  PetscCall(PetscViewerBinaryWrite(viewer, p.rv, H2IO_NREAL, PETSC_REAL));
  PetscCall(MatH2WriteTree_Private(A, viewer, p));
  for (int l = h->tree->levels(); l >= 1; l--) {
    PetscCall(MatH2WriteBasesSide_Private(A, viewer, l, true));
    if (!h->symmetric) PetscCall(MatH2WriteBasesSide_Private(A, viewer, l, false));
  }
  if (!h->jit) {
    PetscCall(MatH2WriteValuesLevel_Private(A, viewer, h->tree->levels(), true));
    for (int l = h->tree->levels(); l >= 1; l--) PetscCall(MatH2WriteValuesLevel_Private(A, viewer, l, false));
  }
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   Reading (every record is read on process 0 and broadcast; each process keeps what it owns)
   ------------------------------------------------------------------------------------------------ */
#define FileCheck(cond, ...) PetscCheck(cond, comm, PETSC_ERR_FILE_UNEXPECTED, "MatLoad(MATH2): " __VA_ARGS__)

template <typename V>
static PetscErrorCode ReadVector_Private(PetscViewer viewer, std::vector<V> &v, size_t n, PetscDataType type)
{
  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { v.resize(n); }));
  PetscCall(PetscViewerBinaryRead(viewer, v.data(), (PetscInt)n, NULL, type));
  PetscFunctionReturn(0);
}

/* the header, the version and the parameters; the sizes of A set or checked */
static PetscErrorCode MatH2LoadHeader_Private(Mat A, PetscViewer viewer, H2FileParams &p)
{
  MPI_Comm comm = PetscObjectComm((PetscObject)A);
  PetscInt header[4], version;

  PetscFunctionBegin;
  PetscCall(PetscViewerBinaryRead(viewer, header, 4, NULL, PETSC_INT));
  FileCheck(header[0] == MAT_FILE_CLASSID, "the file does not start with a PETSc matrix (first record %" PetscInt_FMT ", not the matrix class id %d)", header[0], MAT_FILE_CLASSID);
  FileCheck(header[3] == MATH2_FILE_MARKER, "the file holds a matrix of another type (%" PetscInt_FMT " nonzeros or another format): load it with its own type (MATAIJ, MATDENSE) and convert it to MATH2 with MatConvert()", header[3]);
  PetscCall(PetscViewerBinaryRead(viewer, &version, 1, NULL, PETSC_INT));
  FileCheck(version == MATH2_FILE_VERSION, "the file is MATH2 format version %" PetscInt_FMT ", this h2ulv reads version %d", version, MATH2_FILE_VERSION);
  FileCheck(header[1] >= 1 && header[1] == header[2], "the file's matrix is %" PetscInt_FMT " x %" PetscInt_FMT ": a MATH2 matrix is square and not empty", header[1], header[2]);
  PetscCall(PetscViewerBinaryRead(viewer, p.iv, H2IO_NINT, NULL, PETSC_INT));
  PetscCall(PetscViewerBinaryRead(viewer, p.rv, H2IO_NREAL, NULL, PETSC_REAL));
  FileCheck(p.iv[IO_DIM] >= (p.iv[IO_TREEKIND] ? 0 : 1) && p.iv[IO_DIM] <= 3 && p.iv[IO_TREEKIND] >= 0 && p.iv[IO_TREEKIND] <= 1 && p.iv[IO_GEOMETRY] >= 0 && p.iv[IO_GEOMETRY] <= MATH2_GEOMETRY_MATRIX && p.iv[IO_NEIGHBORS] >= 1 && p.iv[IO_LEVELS] >= 0 && p.iv[IO_LEVELS] < 31 && p.iv[IO_LEAFSIZE] >= 1 && p.iv[IO_KERNEL] >= 0 && p.iv[IO_KERNEL] <= MATH2_KERNEL_IMQ && p.iv[IO_SOURCE] >= SRC_BUILTIN && p.iv[IO_SOURCE] <= SRC_DENSE && p.iv[IO_ADM] >= 0 && p.iv[IO_ADM] <= 1 && p.iv[IO_STORAGE] >= 0 && p.iv[IO_STORAGE] <= MATH2_STORAGE_JIT && p.iv[IO_NPROCS] >= 1 && p.iv[IO_NPROCS] <= (1 << 24), "the parameters in the file are out of range (a damaged file)");
  if (A->rmap->N < 0) A->rmap->N = header[1];
  if (A->cmap->N < 0) A->cmap->N = header[2];
  if (A->cmap->n < 0 && A->rmap->n >= 0) A->cmap->n = A->rmap->n;
  PetscCall(PetscLayoutSetUp(A->rmap));
  PetscCall(PetscLayoutSetUp(A->cmap));
  PetscCheck(A->rmap->N == header[1] && A->cmap->N == header[2], comm, PETSC_ERR_ARG_SIZ, "MatLoad(MATH2): the matrix was given the size %" PetscInt_FMT " x %" PetscInt_FMT " but the file holds %" PetscInt_FMT " x %" PetscInt_FMT, A->rmap->N, A->cmap->N, header[1], header[2]);
  PetscCheck(A->rmap->n == A->cmap->n, comm, PETSC_ERR_ARG_SIZ, "MatLoad(MATH2): MATH2 needs the same row and column layout");
  PetscFunctionReturn(0);
}

/* the parameters into the matrix; the user's callbacks are kept for a file whose entries came from one */
static void MatH2SetFileParams_Private(Mat A, const H2FileParams &p)
{
  Mat_H2 *h = H2(A);

  h->dim       = p.iv[IO_DIM];
  h->symmetric = (PetscBool)(p.iv[IO_SYMMETRIC] != 0);
  h->jit       = (PetscBool)(p.iv[IO_JIT] != 0);
  h->kernel    = (MatH2KernelType)p.iv[IO_KERNEL];
  h->kdiag_set = (PetscBool)(p.iv[IO_KDIAG_SET] != 0);
  h->leafsize  = p.iv[IO_LEAFSIZE];
  h->adm       = (MatH2AdmissibilityType)p.iv[IO_ADM];
  h->maxrank   = p.iv[IO_MAXRANK];
  h->nsamples  = p.iv[IO_NSAMPLES];
  h->storage   = (MatH2StorageType)p.iv[IO_STORAGE];
  h->checkrows = p.iv[IO_CHECKROWS];
  h->rtol      = p.rv[IO_RTOL];
  h->theta     = p.rv[IO_THETA];
  h->eta       = p.rv[IO_ETA];
  h->kscale    = p.rv[IO_KSCALE];
  h->kparam    = p.rv[IO_KPARAM];
  h->kdiag     = p.rv[IO_KDIAG];
  h->knugget   = p.rv[IO_KNUGGET];
  h->alpha     = p.rv[IO_ALPHA];
  h->checkerr  = p.rv[IO_CHECKERR];
  h->memlimit  = p.rv[IO_MEMLIMIT];
  h->geometry  = (MatH2GeometryType)p.iv[IO_GEOMETRY];
  h->neighbors = p.iv[IO_NEIGHBORS];
  if (p.iv[IO_SOURCE] == SRC_BUILTIN) {
    h->kfn  = nullptr;
    h->kbfn = nullptr;
    h->efn  = nullptr;
  }
  h->dense.reset();
  A->symmetric = (PetscBool3)p.iv[IO_MAT_SYMMETRIC];
  A->spd       = (PetscBool3)p.iv[IO_MAT_SPD];
}

/* the cells of a tree from the entries: nested halves of [0, N) in heap order */
static bool CellsNested(const std::vector<h2ulv::Cell> &c, int L, int N)
{
  if (c[0].begin != 0 || c[0].end != N) return false;
  for (int l = 0; l < L; l++)
    for (int k = 0; k < (1 << l); k++) {
      const h2ulv::Cell &p = c[h2ulv::ClusterTree::index(l, k)], &a = c[h2ulv::ClusterTree::index(l + 1, 2 * k)], &b = c[h2ulv::ClusterTree::index(l + 1, 2 * k + 1)];
      if (a.begin != p.begin || a.end != b.begin || b.end != p.end || a.begin > a.end || b.begin > b.end) return false;
    }
  return true;
}

/* a pair list of a level of n cells: n + 1 nondecreasing offsets from 0, columns in [0, n) */
static bool PairListValid(const h2ulv::PairList &P, int n)
{
  if ((int)P.ptr.size() != n + 1 || P.ptr[0] != 0 || P.ptr[n] != (int)P.col.size()) return false;
  for (int i = 0; i < n; i++)
    if (P.ptr[i] > P.ptr[i + 1]) return false;
  for (int j : P.col)
    if (j < 0 || j >= n) return false;
  return true;
}

/* a tree from the entries: its cells, lists and diagonal read and checked (perm and pts: read before) */
static PetscErrorCode MatH2LoadMatrixTree_Private(Mat A, PetscViewer viewer, const H2FileParams &p, const std::vector<PetscInt> &perm, std::vector<double> &pts)
{
  Mat_H2                 *h = H2(A);
  MPI_Comm                comm = PetscObjectComm((PetscObject)A);
  const int               L = (int)p.iv[IO_LEVELS], N = (int)A->rmap->N;
  h2ulv::MatrixTreeParts  parts;
  std::vector<PetscInt>   cells, ptr, col;
  bool                    ok = true;

  PetscFunctionBegin;
  PetscCall(ReadVector_Private(viewer, cells, (size_t)2 * ((size_t(2) << L) - 1), PETSC_INT));
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() {
    parts.dim    = (int)p.iv[IO_DIM];
    parts.coords = std::move(pts);
    parts.perm.assign(perm.begin(), perm.end());
    parts.levels = L;
    parts.cells.resize(cells.size() / 2);
    for (size_t c = 0; c < parts.cells.size(); c++) parts.cells[c].begin = (int)cells[2 * c], parts.cells[c].end = (int)cells[2 * c + 1];
    parts.near.resize(L + 1);
    parts.far.resize(L + 1);
    parts.entries = (long long)p.rv[IO_TREE_ENTRIES];
  }));
  FileCheck(CellsNested(parts.cells, L, N), "the stored cells of the tree are not nested halves of the rows (a damaged file)");
  for (int l = 0; l <= L; l++)
    for (h2ulv::PairList *P : {&parts.near[l], &parts.far[l]}) {
      PetscCall(ReadVector_Private(viewer, ptr, (size_t)(1 << l) + 1, PETSC_INT));
      FileCheck(ptr.back() >= 0 && ptr.back() <= (PetscInt)(1 << l) * (PetscInt)(1 << l), "a stored pair list of level %d is out of range (a damaged file)", l);
      PetscCall(ReadVector_Private(viewer, col, (size_t)ptr.back(), PETSC_INT));
      PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() {
        P->ptr.assign(ptr.begin(), ptr.end());
        P->col.assign(col.begin(), col.end());
      }));
      ok = ok && PairListValid(*P, 1 << l);
    }
  FileCheck(ok, "a stored pair list of the tree is not valid (a damaged file)");
  PetscCall(ReadVector_Private(viewer, parts.diag, N, PETSC_DOUBLE));
  for (double d : parts.diag) ok = ok && std::isfinite(d) && d != 0;
  FileCheck(ok, "the stored diagonal of the tree is not finite and nonzero (a damaged file)");
  PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { h->tree = std::make_shared<h2ulv::ClusterTree>(std::move(parts), MatH2TreeOptions_Private(h)); }));
  PetscFunctionReturn(0);
}

/* the permutation and the points; the tree rebuilt from them (or, from the entries, read) must be the stored one */
static PetscErrorCode MatH2LoadTree_Private(Mat A, PetscViewer viewer, const H2FileParams &p)
{
  Mat_H2               *h    = H2(A);
  MPI_Comm              comm = PetscObjectComm((PetscObject)A);
  const PetscInt        N = A->rmap->N, dim = p.iv[IO_DIM];
  std::vector<PetscInt> perm, counts;
  std::vector<double>   pts, user;
  std::vector<char>     seen;
  PetscBool             ok = PETSC_TRUE;

  PetscFunctionBegin;
  PetscCall(ReadVector_Private(viewer, perm, N, PETSC_INT));
  PetscCall(ReadVector_Private(viewer, pts, (size_t)N * dim, PETSC_DOUBLE));
  PetscCall(ReadVector_Private(viewer, counts, 2 * (size_t)(p.iv[IO_LEVELS] + 1), PETSC_INT));
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() {
    seen.assign(N, 0);
    user.resize((size_t)N * dim);
  }));
  for (PetscInt t = 0; t < N && ok; t++) {
    ok = (PetscBool)(perm[t] >= 0 && perm[t] < N && !seen[perm[t]]);
    if (ok) seen[perm[t]] = 1, std::copy(pts.data() + t * dim, pts.data() + (t + 1) * dim, user.data() + perm[t] * dim);
  }
  FileCheck(ok, "the stored order of the points is not a permutation (a damaged file)");
  if (p.iv[IO_TREEKIND]) PetscCall(MatH2LoadMatrixTree_Private(A, viewer, p, perm, pts));
  else {
    PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { h->tree = std::make_shared<h2ulv::ClusterTree>((int)dim, (int)N, user.data(), MatH2TreeOptions_Private(h)); }));
    ok = (PetscBool)(h->tree->levels() == p.iv[IO_LEVELS] && std::equal(perm.begin(), perm.end(), h->tree->perm().begin()));
    FileCheck(ok, "the tree the stored points give is not the stored one (a file written by another version of h2ulv, or a damaged one)");
  }
  FileCheck(counts == MatH2PairCounts_Private(*h->tree), "the pair counts of the stored tree do not match its lists (a damaged file)");
  if (dim > 0) {
    PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { h->coords.assign(user.begin() + A->rmap->rstart * dim, user.begin() + A->rmap->rend * dim); }));
    h->coords_set = PETSC_TRUE;
  }
  if (h->kernel != MATH2_KERNEL_NONE || h->kfn || h->kbfn || h->efn) PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { MatH2CreateEvaluator_Private(h); }));
  PetscFunctionReturn(0);
}

/* the ownership of the tree's cells the structure will have (before it exists) */
static PetscErrorCode MatH2FileLayout_Private(Mat A, std::unique_ptr<h2ulv::Layout> &lay)
{
  MPI_Comm    comm = PetscObjectComm((PetscObject)A);
  PetscMPIInt rank, size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { lay = std::make_unique<h2ulv::Layout>(*H2(A)->tree, rank, size); }));
  PetscFunctionReturn(0);
}

/* a vector stored in global tree order: my part of it (local tree order) */
static PetscErrorCode ReadTreeVector_Private(PetscViewer viewer, const h2ulv::Layout &lay, PetscInt N, std::vector<double> &mine)
{
  std::vector<double> all;

  PetscFunctionBegin;
  PetscCall(ReadVector_Private(viewer, all, N, PETSC_DOUBLE));
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { mine.assign(all.begin() + lay.pointBegin(), all.begin() + lay.pointEnd()); }));
  PetscFunctionReturn(0);
}

/* the rank table of one side of level l, then the owned cells' bases (others read past) */
static PetscErrorCode MatH2LoadBasesSide_Private(Mat A, PetscViewer viewer, const h2ulv::Layout &lay, int l, std::vector<std::vector<PetscInt>> &ranks, std::vector<h2ulv::CellBasis> &bases)
{
  MPI_Comm                  comm = PetscObjectComm((PetscObject)A);
  const h2ulv::ClusterTree &T    = *H2(A)->tree;
  const int                 nc   = T.ncells(l);
  std::vector<PetscInt>     iv;
  std::vector<double>       rv;

  PetscFunctionBegin;
  PetscCall(ReadVector_Private(viewer, ranks[l], nc, PETSC_INT));
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { bases.resize(nc); }));
  for (int k = 0; k < nc; k++) {
    const PetscInt n = l == T.levels() ? T.cell(l, k).size() : ranks[l + 1][2 * k] + ranks[l + 1][2 * k + 1], r = ranks[l][k];
    FileCheck(r >= 0 && r <= n, "the stored rank %" PetscInt_FMT " of cell %d of level %d is not in [0, %" PetscInt_FMT "] (a damaged file)", r, k, l, n);
    PetscCall(ReadVector_Private(viewer, iv, 1 + r, PETSC_INT));
    PetscCall(ReadVector_Private(viewer, rv, (size_t)(n + r) * r, PETSC_DOUBLE));
    if (!lay.mine(l, k)) continue;
    PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() {
      h2ulv::CellBasis &b = bases[k];
      b.capped            = iv[0] != 0;
      b.skel.assign(iv.begin() + 1, iv.end());
      b.U = h2ulv::Matrix<double>((int)n, (int)r, rv.data());
      b.R = h2ulv::Matrix<double>((int)r, (int)r, rv.data() + n * r);
    }));
  }
  PetscFunctionReturn(0);
}

/* every level's bases (leaves first), then the structure from them */
static PetscErrorCode MatH2LoadBases_Private(Mat A, PetscViewer viewer)
{
  Mat_H2                                     *h    = H2(A);
  MPI_Comm                                    comm = PetscObjectComm((PetscObject)A);
  const int                                   L    = h->tree->levels();
  std::vector<std::vector<PetscInt>>          rr(L + 2), rc(L + 2);
  std::vector<std::vector<h2ulv::CellBasis>>  rowb(L + 1), colb(h->symmetric ? 0 : L + 1);
  std::unique_ptr<h2ulv::Layout>              lay;

  PetscFunctionBegin;
  PetscCall(MatH2FileLayout_Private(A, lay));
  for (int l = L; l >= 1; l--) {
    PetscCall(MatH2LoadBasesSide_Private(A, viewer, *lay, l, rr, rowb[l]));
    if (!h->symmetric) PetscCall(MatH2LoadBasesSide_Private(A, viewer, *lay, l, rc, colb[l]));
  }
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() { h->structure = std::make_shared<const h2ulv::H2Structure>(comm, h->tree, MatH2BuildOptions_Private(h), std::move(rowb), std::move(colb)); }));
  PetscFunctionReturn(0);
}

/* one row cell's blocks from the file (w: the writers' ownership) into the values this process holds:
   (i, j) itself where i is mine and the block is held at row i; where only j is mine and (j, i) is not
   in the file, its transpose (symmetric) or the ghost block A_ij (nonsymmetric) */
static void MatH2PlaceRow_Private(const h2ulv::H2Structure &s, const h2ulv::Layout &w, int l, int i, bool nearb, const double *x, std::vector<h2ulv::Matrix<double>> &st, std::vector<h2ulv::Matrix<double>> &stT)
{
  const h2ulv::ClusterTree &T   = s.tree();
  const h2ulv::Layout      &lay = s.layout();
  const h2ulv::PairList    &P   = nearb ? T.nearList(l) : T.farList(l);
  const bool                sym = s.symmetric();
  for (int p = P.ptr[i]; p < P.ptr[i + 1]; p++) {
    const int j = P.col[p];
    if (!PairInFile(sym, w, l, i, j)) continue;
    const int m = nearb ? T.cell(l, i).size() : s.rank(l, i, true), n = nearb ? T.cell(l, j).size() : s.rank(l, j, false);
    if (lay.mine(l, i) && s.storedAtRow(l, i, j)) st[p] = h2ulv::Matrix<double>(m, n, x);
    if (j != i && lay.mine(l, j) && !lay.mine(l, i) && (!sym || !PairInFile(sym, w, l, j, i))) {
      const int q = P.find(j, i);
      if (q < 0) throw h2ulv::Error(h2ulv::ERR_ARG, "the pair lists of the tree are not symmetric");
      if (!sym) stT[q] = h2ulv::Matrix<double>(m, n, x);
      else {
        h2ulv::Matrix<double> &B = st[q];
        B.resize(n, m);
        for (int c = 0; c < n; c++)
          for (int r = 0; r < m; r++) B(c, r) = x[r + (size_t)c * m];
      }
    }
    x += (size_t)m * n;
  }
}

/* the size of row cell i's record */
static size_t MatH2RowRecordSize_Private(const h2ulv::H2Structure &s, const h2ulv::Layout &w, int l, int i, bool nearb)
{
  const h2ulv::ClusterTree &T = s.tree();
  const h2ulv::PairList    &P = nearb ? T.nearList(l) : T.farList(l);
  size_t                    n = 0;
  for (int p = P.ptr[i]; p < P.ptr[i + 1]; p++)
    if (PairInFile(s.symmetric(), w, l, i, P.col[p])) n += nearb ? (size_t)T.cell(l, i).size() * T.cell(l, P.col[p]).size() : (size_t)s.rank(l, i, true) * s.rank(l, P.col[p], false);
  return n;
}

static PetscErrorCode MatH2LoadValuesLevel_Private(Mat A, PetscViewer viewer, const h2ulv::Layout &w, int l, bool nearb)
{
  Mat_H2                   *h = H2(A);
  const h2ulv::H2Structure &s = *h->structure;
  auto                     &v = h->values;
  std::vector<double>       buf;

  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() {
    const size_t nnz = nearb ? s.tree().nearList(l).nnz() : s.tree().farList(l).nnz();
    (nearb ? v.near_ : v.far_[l]).assign(nnz, h2ulv::Matrix<double>());
    if (!s.symmetric()) (nearb ? v.nearT_ : v.farT_[l]).assign(nnz, h2ulv::Matrix<double>());
  }));
  for (int i = 0; i < s.tree().ncells(l); i++) {
    PetscCall(ReadVector_Private(viewer, buf, MatH2RowRecordSize_Private(s, w, l, i, nearb), PETSC_DOUBLE));
    PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { MatH2PlaceRow_Private(s, w, l, i, nearb, buf.data(), nearb ? v.near_ : v.far_[l], nearb ? v.nearT_ : v.farT_[l]); }));
  }
  PetscFunctionReturn(0);
}

/* the values: stored blocks read, or on-the-fly values from the entries (which must be known) */
static PetscErrorCode MatH2LoadValues_Private(Mat A, PetscViewer viewer, const H2FileParams &p, std::vector<double> &vdiag)
{
  Mat_H2  *h    = H2(A);
  MPI_Comm comm = PetscObjectComm((PetscObject)A);

  PetscFunctionBegin;
  if (h->jit) {
    PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() {
      h->values.buildJit(*h->structure, h->evaluator);
      h->values.alpha_ = p.rv[IO_VALPHA];
      if (p.iv[IO_HAS_VDIAG]) h->values.diag_ = vdiag;
    }));
    PetscFunctionReturn(0);
  }
  std::unique_ptr<h2ulv::Layout> w; /* the ownership of the processes that wrote the file */
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() {
    h->values.far_.assign(h->tree->levels() + 1, {});
    h->values.farT_.assign(h->tree->levels() + 1, {});
    w = std::make_unique<h2ulv::Layout>(*h->tree, 0, (int)p.iv[IO_NPROCS]);
  }));
  PetscCall(MatH2LoadValuesLevel_Private(A, viewer, *w, h->tree->levels(), true));
  for (int l = h->tree->levels(); l >= 1; l--) PetscCall(MatH2LoadValuesLevel_Private(A, viewer, *w, l, false));
  PetscFunctionReturn(0);
}

/* everything after the parameters; the matrix is left unbuilt when this fails */
static PetscErrorCode MatH2LoadBody_Private(Mat A, PetscViewer viewer, const H2FileParams &p)
{
  Mat_H2             *h    = H2(A);
  MPI_Comm            comm = PetscObjectComm((PetscObject)A);
  std::vector<double> vdiag;

  PetscFunctionBegin;
  PetscCall(MatH2LoadTree_Private(A, viewer, p));
  PetscCheck(!h->jit || h->evaluator, comm, PETSC_ERR_ARG_WRONGSTATE, "MatLoad(MATH2): the file holds a matrix whose values are computed on the fly from %s; give the entries again (MatH2SetKernel() or MatH2SetEntries() on the matrix) before MatLoad()", H2IOSources[p.iv[IO_SOURCE]]);
  {
    std::unique_ptr<h2ulv::Layout> lay;
    PetscCall(MatH2FileLayout_Private(A, lay));
    if (p.iv[IO_HAS_DSHIFT]) PetscCall(ReadTreeVector_Private(viewer, *lay, A->rmap->N, h->dshift));
    if (p.iv[IO_HAS_VDIAG]) PetscCall(ReadTreeVector_Private(viewer, *lay, A->rmap->N, vdiag));
  }
  PetscCall(MatH2LoadBases_Private(A, viewer));
  PetscCall(MatH2LoadValues_Private(A, viewer, p, vdiag));
  PetscCall(MatH2BuildSF_Private(A));
  PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { h->multflops = h2ulv::h2MultiplyFlops(*h->structure); }));
  PetscFunctionReturn(0);
}

PetscErrorCode MatLoad_H2(Mat A, PetscViewer viewer)
{
  Mat_H2        *h = H2(A);
  PetscBool      isbinary;
  H2FileParams   p;
  PetscLogDouble t0, t1;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERBINARY, &isbinary));
  PetscCheck(isbinary, PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "MatLoad of a MATH2 reads PETSc binary viewers only, got a %s viewer", ((PetscObject)viewer)->type_name);
  PetscCall(PetscTime(&t0));
  PetscCall(PetscViewerSetUp(viewer));
  PetscCall(MatH2ResetBuilt_Private(A));
  PetscCall(MatH2LoadHeader_Private(A, viewer, p));
  MatH2SetFileParams_Private(A, p);
  ierr = MatH2LoadBody_Private(A, viewer, p);
  if (ierr) PetscCall(MatH2ResetBuilt_Private(A));
  PetscCall(ierr);
  PetscCall(PetscTime(&t1));
  h->t_tree = h->t_basis = h->t_values = 0;
  h->t_load                            = t1 - t0;
  A->preallocated                      = PETSC_TRUE;
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscCall(PetscInfo(A, "MATH2 loaded: N %" PetscInt_FMT ", %d levels, entries from %s, %s values, %.3g s\n", A->rmap->N, h->tree->levels(), H2IOSources[p.iv[IO_SOURCE]], h->jit ? "on-the-fly" : "stored", h->t_load));
  PetscFunctionReturn(0);
}
