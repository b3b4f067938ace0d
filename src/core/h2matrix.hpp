// Stage 2 of the pipeline: the H^2 matrix with shared nested bases (docs/algorithm.md, "Shared nested bases").
//
//   A ~ sum_{(i,j) near, leaves} A_ij  +  sum_l sum_{(i,j) far on l} V_i S_ij W_j^T
//
// with orthonormal nested row bases V (and column bases W; W = V for symmetric matrices).  The bases
// (H2Structure) are immutable once built and shared between matrices that are shifted, scaled,
// copied or duplicated; the values (H2Values: near blocks and couplings) belong to one matrix.
#pragma once

#include "dense.hpp"
#include "entries.hpp"
#include "layout.hpp"
#include "tree.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace h2ulv {

struct BuildOptions {
  double rtol = 1e-8; // relative tolerance on the pivots of each cell's sample
  int maxrank = 512;  // cap on every rank
  int nsamples = 1500;// far-field sample size per cell (inherited, capped)
  bool symmetric = true;
  bool threaded = true;
  bool fullQ = false; // keep the whole orthogonal [U U_perp] (n x n) for the ULV factorization
};

// Shared basis of one cell on one side (rows or columns).
struct CellBasis {
  std::vector<int> skel; // skeleton points (tree positions), r of them
  Matrix<double> U;      // n x r (or n x n [U U_perp] with fullQ), orthonormal: leaf basis, or transfer matrix
  Matrix<double> R;      // r x r upper triangular: interpolation operator = V R
  bool capped = false;   // the rank cap stopped the compression before the tolerance was met
  int rank() const { return static_cast<int>(skel.size()); }
};

// a basis' skeleton and R as r (1 + r) doubles (for messages)
void packBasis(const CellBasis &b, std::vector<double> &buf);
const double *unpackBasis(const double *p, int r, CellBasis &b);

// Extra sample columns for a cell's basis (the hook the factorization uses for fill-in rows):
// called with the level, cell and candidate points; returns an n x e matrix appended to the far
// sample before compression (e = 0 for none).
using ExtraSampleFn = std::function<Matrix<double>(int level, int cell, const std::vector<int> &cand, bool rowside)>;

// Loose tolerances (>= 1e-6, above sqrt(eps) squared) can work on Gram matrices: the compression
// (pivoted Cholesky of G G^T instead of a Householder QR of G), the fill-in generators as a Gram
// matrix, their explicit self-block inverses.  Tighter ones keep the orthogonal factorizations.
inline bool gramTolerance(double rtol) { return rtol >= 1e-6; }

// The same extra sample given as its Gram matrix E = X X^T (n x n, upper triangle), for the
// loose tolerances (>= 1e-6) whose compression works on the Gram matrix anyway: the hook adds its
// columns' products without ever forming the n x e block.  Returns false for none.
using ExtraGramFn = std::function<bool(int level, int cell, const std::vector<int> &cand, bool rowside, Matrix<double> &E)>;

// Compress one cell: G (n x s, rows = candidates) is consumed.  W is the n x n weight
// diag(R_c1, R_c2) of the children (nullptr at a leaf).  E: the Gram matrix of further sample
// columns (upper triangle), added to G G^T (the Gram path is then taken whatever the tolerance).
// atol: pivots at or below it are dropped too (0: the tolerance is relative to the sample alone).
void compressCell(Matrix<double> &G, const Matrix<double> *W, const std::vector<int> &cand, double rtol, int maxrank, CellBasis &out, bool fullQ = false, int minrank = 0, const Matrix<double> *E = nullptr, double atol = 0);

// A reference norm of a cell's block row (the 2-norm of the part the basis must resolve to rtol of
// it): the pivots below a floor from rtol times it are dropped even where they are large against the
// sample's first (H2Structure::floorFor: corrected for the sampling and the cells of the level).
// The factorization gives the diagonal dominance margin of the cell's own block, so that a cell
// whose diagonal dwarfs its couplings does not resolve them below what the solution needs.
using CellNormFn = std::function<double(int level, int cell)>;

// Called before the bases of a level are computed (levels L, L-1, ..., 1); lets the factorization
// finish the level below first, so that its Schur complements can shape this level's bases.
// Returning false stops the construction there: level `level` and those above get no bases (the
// factorization treats them as one dense block).  Called on every process (collective).
class H2Structure;
using LevelHookFn = std::function<bool(int level, const H2Structure &self)>;

// S_ij = R_i A(skel_i, skel_j) R_j^T (with the row basis of i and the column basis of j)
Matrix<double> couplingBlock(const EntryEvaluator &ev, const ClusterTree &T, const CellBasis &bi, const CellBasis &bj);

struct LevelStats {
  int minrank = 0, maxrank = 0;
  double meanrank = 0;
  long long nnear = 0, nfar = 0;
  int ncapped = 0; // cells whose rank the cap stopped before the tolerance was met
};

class H2Structure {
public:
  H2Structure(MPI_Comm comm, std::shared_ptr<const ClusterTree> tree, const EntryEvaluator &ev, const BuildOptions &opt, const ExtraSampleFn &extra = nullptr, const LevelHookFn &before = nullptr, const ExtraGramFn &extraGram = nullptr, const CellNormFn &floor = nullptr);
  const ClusterTree &tree() const { return *tree_; }
  std::shared_ptr<const ClusterTree> treePtr() const { return tree_; }
  const Layout &layout() const { return layout_; }
  bool symmetric() const { return opt_.symmetric; }
  const BuildOptions &options() const { return opt_; }
  // The same structure from bases computed before (a file): rowb[l][k] (and colb[l][k] when not
  // opt.symmetric) hold the bases of the owned cells of levels 1..L, the other entries are ignored;
  // the ranks and the ghost bases are shared as after a construction (collective).  Throws
  // ERR_ARG when a basis does not fit its cell.
  H2Structure(MPI_Comm comm, std::shared_ptr<const ClusterTree> tree, const BuildOptions &opt, std::vector<std::vector<CellBasis>> rowb, std::vector<std::vector<CellBasis>> colb);
  // The symmetric structure whose one basis is this one's row basis (a matrix found symmetric after
  // a build with two bases: the row bases are what a symmetric build computes); collective.
  std::shared_ptr<const H2Structure> symmetricFromRows(MPI_Comm comm) const;
  const CellBasis &basis(int l, int k, bool row) const { return (row || opt_.symmetric) ? rowb_[l][k] : colb_[l][k]; }
  int rank(int l, int k, bool row) const { return (row || opt_.symmetric) ? rr_[l][k] : rc_[l][k]; }
  // a block (i,j) on level l (i owned) is stored with row i unless it is the transpose of an owned (j,i), j < i
  bool storedAtRow(int l, int i, int j) const { return !opt_.symmetric || j >= i || !layout_.mine(l, j); }
  const Exchange &partners(int l) const { return *partner_[l]; }
  const Exchange &up(int l) const { return *up_[l]; }     // children on level l -> parents
  const Exchange &down(int l) const { return *down_[l]; } // parents -> children on level l
  std::vector<LevelStats> stats() const;
  int ncapped(int l) const;                                // cells of level l stopped by the rank cap
  size_t bytes() const;                                    // this process

private:
  void planExchanges();
  void allocateLevels();
  void checkGivenBasis(int l, int k, const CellBasis &b, bool row) const;
  // the construction's steps for one level (src/core/h2_basis.cpp)
  void compressLevel(int l, const EntryEvaluator &ev, const std::vector<std::vector<int>> &Z, bool threaded, const ExtraSampleFn &extra, const ExtraGramFn &extraGram, const CellNormFn &floor);
  void compressSides(int l, int k, const EntryEvaluator &ev, const std::vector<int> &Z, const ExtraSampleFn &extra, const ExtraGramFn &extraGram, double atol);
  double floorFor(int l, int k, int s, double atol) const;
  void shareRanks(int l);
  void shareGhostBases(int l);
  std::shared_ptr<const ClusterTree> tree_;
  Layout layout_;
  BuildOptions opt_;
  std::vector<std::vector<CellBasis>> rowb_, colb_;
  std::vector<std::vector<int>> rr_, rc_, capped_;
  std::vector<std::unique_ptr<Exchange>> partner_, up_, down_;
};

// Values of one H^2 matrix on a given structure: stored (near blocks and couplings evaluated once),
// or on the fly ("jit": nothing stored but a scale and a diagonal; every product evaluates the
// blocks from the entries again -- O(N) memory beyond the bases, for problems whose stored values
// would not fit; the values are then alpha A + diag(d)).
template <typename T>
class H2Values {
public:
  H2Values() = default;
  // evaluate near blocks and couplings
  void build(const H2Structure &s, const EntryEvaluator &ev);
  // on-the-fly values: keep the evaluator (shared) instead of the blocks
  void buildJit(const H2Structure &s, std::shared_ptr<const EntryEvaluator> ev);
  // bytes that build() would store on this process
  static size_t estimateBytes(const H2Structure &s);
  bool jit() const { return static_cast<bool>(ev_); }
  // block (i,j) of level l (near on the leaf level, coupling otherwise) into B, op(A)_ij with
  // transpose (on the fly: evaluated; stored: copied); used by the product and the norm
  void block(const H2Structure &s, int l, int i, int j, bool nearb, Matrix<T> &B) const;
  // near blocks: for owned leaf rows, indexed by position in the leaf near list.  nearT_ holds
  // A_ji for ghost j (nonsymmetric only), at the position of (i, j).
  std::vector<Matrix<T>> near_, nearT_;
  std::vector<std::vector<Matrix<T>>> far_, farT_;
  std::shared_ptr<const EntryEvaluator> ev_; // on the fly: the entries
  T alpha_ = 1;                               // on the fly: scale of the entries
  std::vector<T> diag_;                       // on the fly: added diagonal, local tree order (empty: 0)
  size_t bytes() const;
  void scale(T a);
  void axpy(T a, const H2Values &x);
  void shiftDiagonal(const H2Structure &s, const T *d, T alpha); // A_ii += alpha * d_i (d in local tree order, or all-ones when null)
  void getDiagonal(const H2Structure &s, T *d) const;
  double frobeniusSquared(const H2Structure &s) const; // this process' part, exact
  template <typename U>
  H2Values<U> convert() const;
};

// y = op(A) x for k vectors, x and y in local tree order (n_local x k, leading dimensions ldx/ldy).
// Collective.  beta: y = A x + beta y.
template <typename T>
void h2Multiply(const H2Structure &s, const H2Values<T> &v, bool transpose, int k, const T *x, int ldx, T beta, T *y, int ldy);

// flops of one product with one vector on this process: near blocks, bases up and down (counted
// with the row bases), couplings; one figure for both storages and for the transpose
double h2MultiplyFlops(const H2Structure &s);

} // namespace h2ulv
