// Test of the cluster tree from the entries alone (src/core/tree_matrix.cpp) on a matrix with
// exact zeros: two groups of points on lines, each with the kernel exp(-|x - y|) inside the group
// and nothing between the groups, and points coupled to nothing (identity rows), all in a shuffled
// order.  A leaf pair may be near only where the matrix couples the two leaves: a pair of leaves
// near without one nonzero entry between them would come from ties among points that are equally
// far from everything (their "nearest neighbours" chosen by index).  Also checked: the tree is a
// permutation of the points, and the count of near leaf pairs is the same for a second shuffle.
// Plain C++; its output: checks.hpp.
#include "checks.hpp"
#include "core/tree.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

using namespace h2ulv;
using checks::check;

namespace {

// point u (user index) -> group (0, 1: a line; 2: coupled to nothing) and position
struct Problem {
  std::vector<int> group;
  std::vector<double> x;
  double entry(int i, int j) const
  {
    if (i == j) return 2.0;
    if (group[i] == 2 || group[j] == 2 || group[i] != group[j]) return 0.0;
    return std::exp(-std::fabs(x[i] - x[j]));
  }
};

Problem shuffled(int n1, int n2, int n0, unsigned seed)
{
  const int N = n1 + n2 + n0;
  std::vector<int> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  Problem p;
  p.group.resize(N), p.x.resize(N);
  for (int t = 0; t < N; t++) {
    const int u = order[t];
    p.group[u] = t < n1 ? 0 : (t < n1 + n2 ? 1 : 2);
    p.x[u] = t < n1 ? 0.01 * t : 0.01 * (t - n1);
  }
  return p;
}

// the near leaf pairs (a != b) of a tree, and how many of them couple no entry
void nearPairs(const Problem &p, int N, long &pairs, long &uncoupled, bool &perm)
{
  UserEntries A = [&](const int *r, int m, const int *c, int n, double *out, int ld) {
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) out[i + static_cast<size_t>(j) * ld] = p.entry(r[i], c[j]);
  };
  MatrixTreeOptions opt;
  opt.leafsize = 64;
  opt.threaded = false;
  const auto T = buildMatrixTree(N, A, opt);
  std::vector<int> seen(T->perm());
  std::sort(seen.begin(), seen.end());
  perm = true;
  for (int t = 0; t < N; t++) perm = perm && seen[t] == t;
  const int L = T->levels();
  const PairList &Nl = T->nearList(L);
  pairs = uncoupled = 0;
  for (int a = 0; a < T->ncells(L); a++)
    for (int q = Nl.ptr[a]; q < Nl.ptr[a + 1]; q++) {
      const int b = Nl.col[q];
      if (a == b) continue;
      pairs++;
      bool coupled = false;
      const Cell &ca = T->cell(L, a), &cb = T->cell(L, b);
      for (int s = ca.begin; s < ca.end && !coupled; s++)
        for (int t = cb.begin; t < cb.end && !coupled; t++) coupled = p.entry(T->perm()[s], T->perm()[t]) != 0.0;
      if (!coupled) uncoupled++;
    }
}
} // namespace

int main()
{
  const int n1 = 1000, n2 = 700, n0 = 348, N = n1 + n2 + n0;
  long pairs1, unc1, pairs2, unc2;
  bool perm1, perm2;
  nearPairs(shuffled(n1, n2, n0, 1), N, pairs1, unc1, perm1);
  nearPairs(shuffled(n1, n2, n0, 2), N, pairs2, unc2, perm2);
  std::printf("near leaf pairs: %ld (%ld uncoupled), second shuffle %ld (%ld uncoupled)\n", pairs1, unc1, pairs2, unc2);
  check(perm1 && perm2, "the tree orders every point once");
  check(pairs1 > 0 && pairs2 > 0, "the groups' neighbouring leaves are near");
  check(unc1 == 0 && unc2 == 0, "no near leaf pair without a coupling between the leaves");
  return checks::verdict();
}
