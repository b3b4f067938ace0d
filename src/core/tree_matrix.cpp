// The cluster tree of a symmetric positive matrix from its entries alone (docs/algorithm.md,
// "Construction without coordinates").  The distance between points i and j is the angle distance
// d_ij = 1 - s_ij with s_ij = A_ij^2 / (A_ii A_jj), the squared cosine of the angle between the
// points' feature vectors (A_ij = <phi_i, phi_j>; |A_ii| for a negative diagonal).  A cell is split at the median of
// log s_iq - log s_ip, where p is the point farthest from a pseudo-random point of the cell and q
// the point farthest from p: 3 columns per cell, O(N log N) entries for the tree.  Leaf pairs are
// near when a point of one has one of its k nearest neighbours in the other (symmetrized), found
// in the leaves of the cluster tree and of a few randomized trees; a pair above the leaves is near
// when a pair of its children is, and the far pairs of a level are the children pairs of near
// pairs that are not near themselves.  Every pair of cells is then near at the leaves, far on
// exactly one level, or below a far pair.
#include "tree.hpp"
#include "dense.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

namespace h2ulv {

namespace {

constexpr double TinySimilarity = 1e-300; // log of a zero similarity (entries that underflowed)
// A pair with a similarity at or below this (|A_ij| <= 1e-10 sqrt(A_ii A_jj)) is not a neighbour
// pair: a point coupled to nothing (a parameter that never moves the output gives a zero row of a
// Fisher matrix) is equally far from every other, and ties broken by index would make its k
// "neighbours" the points that come first in the user's order, and every leaf near every other
// when that order is shuffled.  Such couplings are left to the far field.
constexpr double NeighbourFloor = 1e-20;

// splitmix64: a pseudo-random 64-bit value of (salt, counter), the same on every process
uint64_t mix(uint64_t salt, uint64_t ctr)
{
  uint64_t z = salt * 0x9E3779B97F4A7C15ULL + ctr * 0xD1B54A32D192ED03ULL + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Work {
  int N;
  const UserEntries &A;
  std::vector<double> diag; // user order
  std::atomic<long long> entries{0};
  bool threaded;
  Work(int n, const UserEntries &a, bool th) : N(n), A(a), threaded(th) { }
  // s_ij for the points P (user indices) against the single point j
  void similarity(const std::vector<int> &P, int j, std::vector<double> &s)
  {
    const int n = static_cast<int>(P.size());
    s.resize(n);
    A(P.data(), n, &j, 1, s.data(), std::max(n, 1));
    entries += n;
    for (int i = 0; i < n; i++) s[i] = s[i] * s[i] / (diag[P[i]] * diag[j]);
  }
};

// the diagonal, checked: the angle distance needs A_ii != 0.  A negative diagonal (a negative
// definite or indefinite matrix) is measured by its magnitude: s_ij = A_ij^2 / (|A_ii| |A_jj|).
void readDiagonal(Work &w)
{
  w.diag.resize(w.N);
  parallelFor((w.N + 255) / 256, w.threaded, [&](int b) {
    for (int i = 256 * b; i < std::min(w.N, 256 * (b + 1)); i++) w.A(&i, 1, &i, 1, &w.diag[i], 1);
  });
  w.entries += w.N;
  for (int i = 0; i < w.N; i++) {
    if (w.diag[i] == 0 || !std::isfinite(w.diag[i]))
      throw Error(ERR_ARG, "the cluster tree from the entries alone (-mat_h2_geometry matrix, or auto without points) needs a nonzero, finite diagonal (the angle distance 1 - A_ij^2/(|A_ii| |A_jj|)), but A(" + std::to_string(i) + ", " + std::to_string(i) + ") = " + std::to_string(w.diag[i]) + ": give the points (MatH2SetCoordinates or PCSetCoordinates)");
    w.diag[i] = std::fabs(w.diag[i]);
  }
}

// split perm[b, e) of cell c in two at position mid: by log s_iq - log s_ip (p far from a random
// point, q far from p); ties by user index, so the order is fully determined
void splitCell(Work &w, std::vector<int> &perm, int b, int e, int mid, uint64_t salt, int c)
{
  std::vector<int> P(perm.begin() + b, perm.begin() + e);
  const int n = e - b;
  std::vector<double> sr, sp, sq;
  auto farthest = [&](const std::vector<double> &s) {
    int t = 0;
    for (int i = 1; i < n; i++)
      if (s[i] < s[t] || (s[i] == s[t] && P[i] < P[t])) t = i;
    return P[t];
  };
  w.similarity(P, P[mix(salt, c) % n], sr);
  const int p = farthest(sr);
  w.similarity(P, p, sp);
  const int q = farthest(sp);
  w.similarity(P, q, sq);
  std::vector<std::pair<double, int>> key(n);
  for (int i = 0; i < n; i++) key[i] = {std::log(std::max(sq[i], TinySimilarity)) - std::log(std::max(sp[i], TinySimilarity)), P[i]};
  std::nth_element(key.begin(), key.begin() + (mid - b), key.end());
  for (int i = 0; i < n; i++) perm[b + i] = key[i].second;
}

// a complete binary tree of L levels over all points: perm (tree position -> user index) and the
// cells [begin, end); split fraction 1/2, or (jitter > 0) drawn in [1/2 - jitter, 1/2 + jitter]
void splitTree(Work &w, int L, uint64_t salt, double jitter, std::vector<int> &perm, std::vector<Cell> &cells)
{
  perm.resize(w.N);
  std::iota(perm.begin(), perm.end(), 0);
  cells.assign((size_t(2) << L) - 1, Cell());
  cells[0].end = w.N;
  for (int l = 0; l < L; l++) {
    const int first = (1 << l) - 1;
    parallelFor(1 << l, w.threaded, [&](int k) {
      const int c = first + k, b = cells[c].begin, e = cells[c].end;
      double f = 0.5;
      if (jitter > 0) f += jitter * (2.0 * static_cast<double>(mix(salt + 1, c) >> 11) / 9007199254740992.0 - 1.0);
      const int mid = std::min(e, std::max(b, b + static_cast<int>(f * (e - b))));
      if (e - b >= 2) splitCell(w, perm, b, e, mid, salt, c);
      cells[2 * c + 1].begin = b;
      cells[2 * c + 1].end = mid;
      cells[2 * c + 2].begin = mid;
      cells[2 * c + 2].end = e;
    });
  }
}

// the k pairs (minus similarity, point) of v with the smallest keys (ties by point), in any order
void keepNearest(std::vector<std::pair<double, int>> &v, int k)
{
  if (static_cast<int>(v.size()) <= k) return;
  std::nth_element(v.begin(), v.begin() + k, v.end());
  v.resize(k);
}

// the k nearest neighbours of every point (user order; sorted by user index), improved with the
// points of each leaf of the tree (perm, cells): the leaf's block of entries, O(N leafsize)
void improveNeighbours(Work &w, int L, const std::vector<int> &perm, const std::vector<Cell> &cells, int k, std::vector<std::vector<std::pair<double, int>>> &knn)
{
  const int first = (1 << L) - 1;
  parallelFor(1 << L, w.threaded, [&](int leaf) {
    const Cell &c = cells[first + leaf];
    const int n = c.size();
    if (n == 0) return;
    std::vector<int> P(perm.begin() + c.begin, perm.begin() + c.end);
    std::vector<double> B(static_cast<size_t>(n) * n);
    w.A(P.data(), n, P.data(), n, B.data(), n);
    w.entries += static_cast<long long>(n) * n;
    std::vector<std::pair<double, int>> cand;
    for (int j = 0; j < n; j++) { // column j: the neighbours of P[j] (by symmetry), O(n + k log k)
      cand.clear();
      for (int i = 0; i < n; i++)
        if (i != j) {
          const double v = B[i + static_cast<size_t>(j) * n], sij = v * v / (w.diag[P[i]] * w.diag[P[j]]);
          if (sij > NeighbourFloor) cand.push_back({-sij, P[i]});
        }
      keepNearest(cand, k);
      auto &best = knn[P[j]];
      best.insert(best.end(), cand.begin(), cand.end());
      std::sort(best.begin(), best.end(), [](const auto &a, const auto &b) { return a.second < b.second || (a.second == b.second && a.first < b.first); });
      best.erase(std::unique(best.begin(), best.end(), [](const auto &a, const auto &b) { return a.second == b.second; }), best.end());
      keepNearest(best, k);
    }
  });
}

// near pairs of the leaves (a point of one has a neighbour in the other, symmetrized, or equal),
// then level by level up: near when a pair of children is near; far: the children pairs of near
// pairs that are not near
void nearFarLists(int L, const std::vector<int> &leafOf, const std::vector<std::vector<std::pair<double, int>>> &knn, std::vector<PairList> &nearl, std::vector<PairList> &farl)
{
  std::vector<std::vector<std::pair<int, int>>> nearp(L + 1);
  for (int l = 0; l <= L; l++)
    for (int k = 0; k < (1 << l); k++) nearp[l].push_back({k, k});
  for (size_t i = 0; i < knn.size(); i++)
    for (const auto &nb : knn[i]) {
      const int a = leafOf[i], b = leafOf[nb.second];
      if (a == b) continue;
      nearp[L].push_back({a, b});
      nearp[L].push_back({b, a});
    }
  nearl.resize(L + 1);
  farl.resize(L + 1);
  nearl[L] = pairsToCSR(1 << L, nearp[L]);
  for (int l = L - 1; l >= 0; l--) {
    for (auto [a, b] : nearp[l + 1]) nearp[l].push_back({a / 2, b / 2});
    nearl[l] = pairsToCSR(1 << l, nearp[l]);
  }
  std::vector<std::pair<int, int>> none;
  farl[0] = pairsToCSR(1, none);
  for (int l = 1; l <= L; l++) {
    std::vector<std::pair<int, int>> farp;
    const PairList &up = nearl[l - 1];
    for (int i = 0; i < (1 << (l - 1)); i++)
      for (int q = up.ptr[i]; q < up.ptr[i + 1]; q++)
        for (int a = 0; a < 2; a++)
          for (int b = 0; b < 2; b++)
            if (nearl[l].find(2 * i + a, 2 * up.col[q] + b) < 0) farp.push_back({2 * i + a, 2 * up.col[q] + b});
    farl[l] = pairsToCSR(1 << l, farp);
  }
}

} // namespace

std::shared_ptr<ClusterTree> buildMatrixTree(int N, const UserEntries &A, const MatrixTreeOptions &opt, int dim, const double *coords)
{
  if (N < 1) throw Error(ERR_ARG, "a cluster tree needs at least one point");
  if (opt.leafsize < 1) throw Error(ERR_ARG, "leaf size must be at least 1");
  if (opt.neighbors < 1) throw Error(ERR_ARG, "the number of neighbours must be at least 1");
  Work w(N, A, opt.threaded);
  readDiagonal(w);
  int L = 0; // as the tree from the points: leaves hold between leafsize and 2 leafsize points
  while ((static_cast<long long>(opt.leafsize) << (L + 1)) <= N) L++;
  MatrixTreeParts parts;
  splitTree(w, L, 0x5eed, 0.0, parts.perm, parts.cells);
  std::vector<std::vector<std::pair<double, int>>> knn(N);
  improveNeighbours(w, L, parts.perm, parts.cells, opt.neighbors, knn);
  for (int t = 0; t < opt.searchTrees; t++) { // smaller leaves, split fractions drawn in [0.35, 0.65]
    std::vector<int> perm;
    std::vector<Cell> cells;
    const int Ls = std::max(0, std::min(L + 1, static_cast<int>(std::log2(std::max(1, N / std::max(1, 2 * opt.neighbors))))));
    splitTree(w, Ls, 0x5eed + 7919 * (t + 1), 0.15, perm, cells);
    improveNeighbours(w, Ls, perm, cells, opt.neighbors, knn);
  }
  std::vector<int> leafOf(N);
  for (int k = 0; k < (1 << L); k++) {
    const Cell &c = parts.cells[(1 << L) - 1 + k];
    for (int t = c.begin; t < c.end; t++) leafOf[parts.perm[t]] = k;
  }
  nearFarLists(L, leafOf, knn, parts.near, parts.far);
  parts.levels = L;
  parts.diag.resize(N);
  for (int t = 0; t < N; t++) parts.diag[t] = w.diag[parts.perm[t]];
  if (dim > 0 && coords) {
    parts.dim = dim;
    parts.coords.resize(static_cast<size_t>(N) * dim);
    for (int t = 0; t < N; t++) std::copy_n(coords + static_cast<size_t>(parts.perm[t]) * dim, dim, parts.coords.data() + static_cast<size_t>(t) * dim);
  }
  parts.entries = w.entries;
  TreeOptions topt;
  topt.leafsize = opt.leafsize;
  return std::make_shared<ClusterTree>(std::move(parts), topt);
}

} // namespace h2ulv
