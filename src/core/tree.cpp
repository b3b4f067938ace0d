#include "tree.hpp"
#include "dense.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace h2ulv {

int PairList::find(int i, int j) const
{
  auto b = col.begin() + ptr[i], e = col.begin() + ptr[i + 1];
  auto it = std::lower_bound(b, e, j);
  return (it != e && *it == j) ? static_cast<int>(it - col.begin()) : -1;
}

ClusterTree::ClusterTree(int dim, int N, const double *coords, const TreeOptions &opt) : dim_(dim), N_(N), opt_(opt)
{
  if (dim < 1 || dim > 3) throw Error(ERR_ARG, "dimension must be 1, 2 or 3");
  if (N < 1) throw Error(ERR_ARG, "a cluster tree needs at least one point");
  if (opt.leafsize < 1) throw Error(ERR_ARG, "leaf size must be at least 1");
  // depth: leaves hold between leafsize and 2*leafsize points (fewer when N < leafsize)
  L_ = 0;
  while ((static_cast<long long>(opt.leafsize) << (L_ + 1)) <= N) L_++;
  perm_.resize(N);
  std::iota(perm_.begin(), perm_.end(), 0);
  coords_.assign(coords, coords + static_cast<size_t>(N) * dim);
  cells_.resize((size_t(2) << L_) - 1);
  cells_[0].begin = 0;
  cells_[0].end = N;
  build(0, 0);
  // coordinates in tree order
  std::vector<double> tc(static_cast<size_t>(N) * dim);
  for (int t = 0; t < N; t++)
    for (int d = 0; d < dim; d++) tc[static_cast<size_t>(t) * dim + d] = coords[static_cast<size_t>(perm_[t]) * dim + d];
  coords_.swap(tc);
  buildLists();
}

ClusterTree::ClusterTree(const ClusterTree &src, Admissibility adm, double admparam) :
  dim_(src.dim_), N_(src.N_), L_(src.L_), opt_(src.opt_), perm_(src.perm_), coords_(src.coords_), cells_(src.cells_), diag_(src.diag_), entries_(src.entries_)
{
  if (!geometric()) { // no boxes: the lists from the entries stay
    near_ = src.near_;
    far_ = src.far_;
    return;
  }
  opt_.adm = adm;
  opt_.admparam = admparam;
  buildLists();
}

ClusterTree::ClusterTree(MatrixTreeParts &&p, const TreeOptions &opt) :
  dim_(p.dim), N_(static_cast<int>(p.perm.size())), L_(p.levels), opt_(opt), perm_(std::move(p.perm)), coords_(std::move(p.coords)), cells_(std::move(p.cells)), near_(std::move(p.near)), far_(std::move(p.far)), diag_(std::move(p.diag)), entries_(p.entries)
{
  if (diag_.size() != perm_.size() || cells_.size() != (size_t(2) << L_) - 1) throw Error(ERR_ARG, "inconsistent parts of a cluster tree");
}

PairList pairsToCSR(int n, std::vector<std::pair<int, int>> &p)
{
  std::sort(p.begin(), p.end());
  p.erase(std::unique(p.begin(), p.end()), p.end());
  PairList c;
  c.ptr.assign(n + 1, 0);
  c.col.resize(p.size());
  for (size_t t = 0; t < p.size(); t++) {
    c.ptr[p[t].first + 1]++;
    c.col[t] = p[t].second;
  }
  for (int i = 0; i < n; i++) c.ptr[i + 1] += c.ptr[i];
  return c;
}

// dual traversal from (root, root): near and far pairs per level
void ClusterTree::buildLists()
{
  std::vector<std::vector<std::pair<int, int>>> nearp(L_ + 1), farp(L_ + 1);
  std::vector<std::pair<int, int>> stack{{0, 0}};
  std::vector<std::pair<int, int>> next;
  for (int l = 0; l <= L_; l++) {
    next.clear();
    for (auto [i, j] : stack) {
      if (i != j && admissible(l, i, j)) farp[l].push_back({i, j});
      else {
        nearp[l].push_back({i, j});
        if (l < L_)
          for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) next.push_back({2 * i + a, 2 * j + b});
      }
    }
    stack.swap(next);
  }
  near_.resize(L_ + 1);
  far_.resize(L_ + 1);
  for (int l = 0; l <= L_; l++) {
    near_[l] = pairsToCSR(ncells(l), nearp[l]);
    far_[l] = pairsToCSR(ncells(l), farp[l]);
  }
}

// Bounding box of cell c, then (above the leaves) split at the median along the widest axis.
void ClusterTree::build(int c, int l)
{
  Cell &cl = cells_[c];
  double lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
  for (int d = 0; d < dim_; d++) {
    lo[d] = INFINITY;
    hi[d] = -INFINITY;
  }
  for (int t = cl.begin; t < cl.end; t++)
    for (int d = 0; d < dim_; d++) {
      double x = coords_[static_cast<size_t>(perm_[t]) * dim_ + d];
      lo[d] = std::min(lo[d], x);
      hi[d] = std::max(hi[d], x);
    }
  int axis = 0;
  for (int d = 0; d < 3; d++) {
    cl.center[d] = d < dim_ ? 0.5 * (lo[d] + hi[d]) : 0.0;
    cl.half[d] = d < dim_ ? 0.5 * (hi[d] - lo[d]) : 0.0;
    if (cl.half[d] > cl.half[axis]) axis = d;
  }
  if (l == L_) return;
  int mid = cl.begin + cl.size() / 2;
  const int dim = dim_;
  const double *X = coords_.data();
  // ties broken by the user index, so the order is fully determined on every process
  std::nth_element(perm_.begin() + cl.begin, perm_.begin() + mid, perm_.begin() + cl.end, [X, dim, axis](int a, int b) {
    double xa = X[static_cast<size_t>(a) * dim + axis], xb = X[static_cast<size_t>(b) * dim + axis];
    return xa < xb || (xa == xb && a < b);
  });
  Cell &c1 = cells_[2 * c + 1], &c2 = cells_[2 * c + 2];
  c1.begin = cl.begin;
  c1.end = mid;
  c2.begin = mid;
  c2.end = cl.end;
  build(2 * c + 1, l + 1);
  build(2 * c + 2, l + 1);
}

bool ClusterTree::admissible(int l, int i, int j) const
{
  const Cell &a = cell(l, i), &b = cell(l, j);
  double dc2 = 0, ra2 = 0, rb2 = 0, gap2 = 0;
  for (int d = 0; d < 3; d++) {
    double dc = a.center[d] - b.center[d];
    dc2 += dc * dc;
    ra2 += a.half[d] * a.half[d];
    rb2 += b.half[d] * b.half[d];
    double g = std::max(0.0, std::fabs(dc) - a.half[d] - b.half[d]);
    gap2 += g * g;
  }
  if (a.size() == 0 || b.size() == 0) return true; // nothing to approximate
  if (opt_.adm == Admissibility::Theta) {
    if (opt_.admparam <= 0) return true; // weak admissibility (HSS)
    return dc2 > opt_.admparam * (ra2 + rb2);
  }
  // eta rule: max(diam) <= eta * dist(boxes); diam = 2 * half-diagonal
  double diam = 2.0 * std::sqrt(std::max(ra2, rb2));
  double dist = std::sqrt(gap2);
  return dist > 0 && diam <= opt_.admparam * dist;
}

} // namespace h2ulv
