// Stage 1 of the pipeline: the cluster tree, admissibility, and the per-level near/far lists.
// The tree is a complete binary tree built by median bisection (docs/algorithm.md, "Cluster tree"); cells are
// numbered in heap order (level l, k-th cell: 2^l - 1 + k).  Every process builds the same tree.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace h2ulv {

enum class Admissibility { Theta, Eta };

struct Cell {
  int begin = 0, end = 0; // points [begin, end) in tree order
  std::array<double, 3> center{{0, 0, 0}}, half{{0, 0, 0}};
  int size() const { return end - begin; }
};

// Compressed row storage of cell pairs on one level; rows and columns are level-local indices.
struct PairList {
  std::vector<int> ptr, col;
  int count(int i) const { return ptr[i + 1] - ptr[i]; }
  size_t nnz() const { return col.size(); }
  // position of pair (i, j) in col[], or -1
  int find(int i, int j) const;
};

// the pairs p (sorted here) of a level with n cells as compressed rows
PairList pairsToCSR(int n, std::vector<std::pair<int, int>> &p);

struct TreeOptions {
  int leafsize = 128;
  Admissibility adm = Admissibility::Theta;
  double admparam = 1.0; // theta or eta
};

// A tree whose cells and lists were computed from the entries (src/core/tree_matrix.cpp): cells
// without boxes, near and far lists given, the diagonal of the matrix in tree order.
struct MatrixTreeParts {
  int dim = 0;                 // coordinates kept for kernels that need them (0: none)
  std::vector<double> coords;  // tree order
  std::vector<int> perm;       // tree position -> user index
  int levels = 0;
  std::vector<Cell> cells;     // heap order
  std::vector<PairList> near, far;
  std::vector<double> diag;    // |A_tt| (nonzero), tree order
  long long entries = 0;       // entries evaluated to build the tree
};

class ClusterTree {
public:
  // coords: N points of dimension dim in the user's (global) numbering
  ClusterTree(int dim, int N, const double *coords, const TreeOptions &opt);
  // the same cells (same point order) with another admissibility: new near and far lists only
  // (a tree from the entries keeps its lists)
  ClusterTree(const ClusterTree &src, Admissibility adm, double admparam);
  // a tree from the entries (tree_matrix.cpp)
  ClusterTree(MatrixTreeParts &&parts, const TreeOptions &opt);

  int dim() const { return dim_; }
  int size() const { return N_; }
  int levels() const { return L_; } // leaves are on level L (root = level 0)
  int ncells(int l) const { return 1 << l; }
  static int index(int l, int k) { return (1 << l) - 1 + k; }
  const Cell &cell(int l, int k) const { return cells_[index(l, k)]; }
  // tree position -> user global index
  const std::vector<int> &perm() const { return perm_; }
  // coordinates in tree order
  const double *point(int t) const { return &coords_[static_cast<size_t>(t) * dim_]; }
  const std::vector<double> &coords() const { return coords_; }
  const PairList &nearList(int l) const { return near_[l]; }
  const PairList &farList(int l) const { return far_[l]; }
  bool admissible(int l, int i, int j) const;
  const TreeOptions &options() const { return opt_; }
  // cells from the points (boxes, admissible()), or from the entries (no boxes)
  bool geometric() const { return diag_.empty(); }
  // a tree from the entries: |A_tt| in tree order, and the entries its construction evaluated
  const std::vector<double> &diagonal() const { return diag_; }
  long long constructionEntries() const { return entries_; }

private:
  void build(int c, int l);
  void buildLists();
  int dim_, N_, L_;
  TreeOptions opt_;
  std::vector<int> perm_;
  std::vector<double> coords_;
  std::vector<Cell> cells_;
  std::vector<PairList> near_, far_;
  std::vector<double> diag_;
  long long entries_ = 0;
};

// Entries in the user's numbering: out[i + j*ld] = A(rows[i], cols[j]) (throws on failure)
using UserEntries = std::function<void(const int *rows, int m, const int *cols, int n, double *out, int ld)>;

struct MatrixTreeOptions {
  int leafsize = 128;
  int neighbors = 32;   // k of the k nearest neighbours that make leaf pairs near
  int searchTrees = 3;  // randomized trees of the neighbour search, beyond the cluster tree itself
  bool threaded = true; // entries may be asked for from several threads
};

// The cluster tree of an N x N symmetric positive matrix from its entries alone (docs/algorithm.md,
// "Construction without coordinates").  dim/coords (user order) are only carried along, for kernels
// that need them.  Deterministic: the same entries give the same tree on every process.
std::shared_ptr<ClusterTree> buildMatrixTree(int N, const UserEntries &A, const MatrixTreeOptions &opt, int dim = 0, const double *coords = nullptr);

} // namespace h2ulv
