// Stage 1 of the pipeline: the cluster tree, admissibility, and the per-level near/far lists.
// The tree is a complete binary tree built by median bisection (docs/algorithm.md, "Cluster tree"); cells are
// numbered in heap order (level l, k-th cell: 2^l - 1 + k).  Every process builds the same tree.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
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

struct TreeOptions {
  int leafsize = 128;
  Admissibility adm = Admissibility::Theta;
  double admparam = 1.0; // theta or eta
};

class ClusterTree {
public:
  // coords: N points of dimension dim in the user's (global) numbering
  ClusterTree(int dim, int N, const double *coords, const TreeOptions &opt);
  // the same cells (same point order) with another admissibility: new near and far lists only
  ClusterTree(const ClusterTree &src, Admissibility adm, double admparam);

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

private:
  void build(int c, int l);
  void buildLists();
  int dim_, N_, L_;
  TreeOptions opt_;
  std::vector<int> perm_;
  std::vector<double> coords_;
  std::vector<Cell> cells_;
  std::vector<PairList> near_, far_;
};

} // namespace h2ulv
