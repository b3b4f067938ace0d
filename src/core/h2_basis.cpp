// Stage 2 of the pipeline, the shared nested bases of an H^2 matrix (src/core/h2matrix.hpp): the
// compression of one cell, the far-field samples, and the structure built level by level from the
// leaves up (compress each owned cell, share the ranks, fetch the ghost bases).
#include "h2_impl.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <numeric>

namespace h2ulv {

using detail::cellPoints;
using detail::evalBlock;

namespace {
// The leading diagonal entries of a pivoted triangle above rtol times the first and above atol
// (the floor from a reference norm of the cell), at most kmax
int leadingRank(const Matrix<double> &M, int kmax, double rtol, double atol)
{
  const double d0 = std::fabs(M(0, 0));
  const double cut = std::max(rtol * d0, atol);
  int k = 0;
  if (d0 > 0 && std::isfinite(d0))
    while (k < kmax && std::fabs(M(k, k)) > cut) k++;
  return k;
}

// The sketch's columns beyond the rank found: fewer and the sketch is widened
constexpr int kSketchOversample = 16;
// The sketch's rank is taken at this times rtol (then its square), and checked at rtol
constexpr double kSketchMargin = 0.25;

// The first width of the sketch of an n x s sample, or 0 for the whole QR: only when the samples
// are at least four times the candidates and Omega stays small; at most the rank cap plus the
// oversampling
int sketchWidth(int n, int s, int maxrank)
{
  if (s < 4 * n || n < 2 * kSketchOversample) return 0;
  const int l = std::min(n, maxrank + kSketchOversample);
  // Omega (s x l, doubled at most to n columns) is kept for all cells: at most 8M entries (64 MB)
  constexpr size_t kMaxSketchEntries = size_t(8) << 20;
  return static_cast<size_t>(s) * static_cast<size_t>(n) <= kMaxSketchEntries ? l : 0;
}

// A standard normal number from the counter (i, j) (splitmix64, Box-Muller): Omega's entry
// (i, j) is the same whatever its size, process or thread, so the bases are too
double gaussianEntry(uint64_t i, uint64_t j)
{
  auto mix = [](uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const uint64_t a = mix((i << 32) ^ j), b = mix(a);
  const double u = (static_cast<double>(a >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  const double v = static_cast<double>(b >> 11) * (1.0 / 9007199254740992.0);
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
}

// Omega, at least rows x cols, shared by all cells and threads; grown (entries kept) on demand
std::shared_ptr<const Matrix<double>> sketchMatrix(int rows, int cols)
{
  static std::mutex mu;
  static std::shared_ptr<const Matrix<double>> cur;
  std::lock_guard<std::mutex> lock(mu);
  if (!cur || cur->rows() < rows || cur->cols() < cols) {
    const int r = std::max(rows, cur ? cur->rows() : 0), c = std::max(cols, cur ? cur->cols() : 0);
    auto O = std::make_shared<Matrix<double>>(r, c);
    for (int j = 0; j < c; j++)
      for (int i = 0; i < r; i++) (*O)(i, j) = gaussianEntry(static_cast<uint64_t>(i), static_cast<uint64_t>(j));
    cur = std::move(O);
  }
  return cur;
}

// M = (D G Omega)^T, l x n, for the n x s sample G and the row scales d
void sketchRows(const Matrix<double> &G, const std::vector<double> &d, int l, Matrix<double> &M)
{
  const int n = G.rows(), s = G.cols();
  const auto O = sketchMatrix(s, l);
  M.resize(l, n);
  blas::gemm('T', 'T', l, n, s, 1.0, O->data(), O->ld(), G.data(), G.ld(), 0.0, M.data(), M.ld());
  for (int j = 0; j < n; j++)
    for (int i = 0; i < l; i++) M(i, j) *= d[j];
}
} // namespace

// The column-pivoted triangle of (D G)^T: M (m x n, upper triangular in its first min(m, n)
// rows) and the column order piv
struct Pivoted {
  Matrix<double> M;
  std::vector<int> piv;
  int m = 0;
  int k = -1; // the rank, when the sketch chose it (else from M and rtol)
};

bool idResidualWithin(const Matrix<double> &G, const std::vector<double> &d, const Pivoted &T, int k, double rtol, double atol);

// E = R11^{-1} R12 (k x (n - k)) of a pivoted triangle: the row ID G(rest, :) ~ E^T G(skel, :)
Matrix<double> idCoefficients(const Matrix<double> &M, int k, int n)
{
  Matrix<double> E(k, n - k);
  for (int j = 0; j < n - k; j++)
    for (int i = 0; i < k; i++) E(i, j) = M(i, k + j);
  blas::trsm('L', 'U', 'N', 'N', k, n - k, 1.0, M.data(), M.ld(), E.data(), E.ld());
  return E;
}

// The whole triangle.  Loose tolerances (gramTolerance) or an extra Gram term: from the Gram
// matrix D (G G^T + E) D by pivoted Cholesky (level-3 SYRK instead of a tall Householder QR; same
// pivots and R in exact arithmetic).  Tighter tolerances: Householder QR of (D G)^T, reduced to
// its n x n triangle first when it is tall.
void wholeTriangle(const Matrix<double> &G, const std::vector<double> &d, double rtol, const Matrix<double> *Egram, Pivoted &T)
{
  const int n = G.rows(), s = G.cols();
  std::vector<double> tau;
  if ((gramTolerance(rtol) && s > n) || Egram) {
    Matrix<double> C(n, n);
    if (s > 0) blas::syrk('U', 'N', n, s, 1.0, G.data(), G.ld(), 0.0, C.data(), C.ld());
    for (int j = 0; j < n; j++)
      for (int i = 0; i <= j; i++) C(i, j) = d[i] * d[j] * (C(i, j) + (Egram ? (*Egram)(i, j) : 0.0));
    double dmax = 0;
    for (int j = 0; j < n; j++) dmax = std::max(dmax, C(j, j));
    const int rk = blas::pstrf(n, C.data(), C.ld(), T.piv, dmax * 1e-15);
    // columns beyond the computed rank are (numerically) zero
    for (int j = 0; j < n; j++)
      for (int i = 0; i < n; i++)
        if (i > j || i >= rk) C(i, j) = 0.0;
    T.M = std::move(C);
    T.m = n;
    return;
  }
  Matrix<double> M(s, n); // (D G)^T
  constexpr int B = 32;   // tiles: the strided reads of G were 7% of a whole setup
  for (int j0 = 0; j0 < n; j0 += B)
    for (int i0 = 0; i0 < s; i0 += B)
      for (int j = j0; j < std::min(n, j0 + B); j++)
        for (int i = i0; i < std::min(s, i0 + B); i++) M(i, j) = d[j] * G(j, i);
  T.m = s;
  if (s > n) {
    blas::qrR(s, n, M.data(), M.ld());
    Matrix<double> R(n, n);
    for (int j = 0; j < n; j++)
      for (int i = 0; i <= j; i++) R(i, j) = M(i, j);
    M = std::move(R);
    T.m = n;
  }
  blas::geqp3(T.m, n, M.data(), M.ld(), T.piv, tau);
  T.M = std::move(M);
}

// The triangle from a Gaussian sketch (D G Omega)^T of l columns: one GEMM (2 s n l flops) in place
// of the tall QR, when the samples are many more than the candidates.  l starts at the rank cap
// plus the oversampling and doubles while the rank comes within the oversampling of it.  The
// sketch only chooses the skeleton; its ID is checked against the whole sample: accepted when
// every row's residual is within rtol of the largest row (the whole QR's own stopping rule) or within
// atol, or when the rank cap binds (the cell is reported capped either way).  Else false: the caller
// takes the whole triangle.
bool sketchTriangle(const Matrix<double> &G, const std::vector<double> &d, double rtol, double atol, int maxrank, int minrank, Pivoted &T)
{
  const int n = G.rows(), s = G.cols();
  const int l0 = gramTolerance(rtol) ? 0 : sketchWidth(n, s, maxrank);
  if (l0 == 0) return false;
  std::vector<double> tau;
  int k = 0;
  for (int l = l0;; l = std::min(n, 2 * l)) {
    sketchRows(G, d, l, T.M);
    blas::geqp3(l, n, T.M.data(), T.M.ld(), T.piv, tau);
    T.m = l;
    k = leadingRank(T.M, std::min({l, n, maxrank}), rtol, atol);
    if (l == n || k >= maxrank || k + kSketchOversample <= l) break;
  }
  if (k >= maxrank) {
    T.k = std::min({maxrank, T.m, n});
    return true;
  }
  // the sketch's triangle underestimates the whole one's tail: the rank at a tighter threshold,
  // checked; a second, tighter one, then the whole triangle
  for (const double c : {kSketchMargin, kSketchMargin * kSketchMargin}) {
    const int kc = std::max(leadingRank(T.M, std::min({T.m, n, maxrank}), c * rtol, c * atol), std::min({minrank, T.m, n}));
    if (kc == 0) return false;
    if (kc == n || idResidualWithin(G, d, T, kc, rtol, atol)) {
      T.k = kc;
      return true;
    }
  }
  return false;
}

// Is every row's residual of the ID (D G)(rest, :) - E^T (D G)(skel, :) on the whole sample within
// rtol of the largest row of D G (the whole QR's stopping rule), or within atol?
bool idResidualWithin(const Matrix<double> &G, const std::vector<double> &d, const Pivoted &T, int k, double rtol, double atol)
{
  const int n = G.rows(), s = G.cols();
  const Matrix<double> E = idCoefficients(T.M, k, n);
  Matrix<double> Gs(k, s), Gr(n - k, s);
  for (int j = 0; j < s; j++) {
    for (int t = 0; t < k; t++) Gs(t, j) = d[T.piv[t]] * G(T.piv[t], j);
    for (int t = k; t < n; t++) Gr(t - k, j) = d[T.piv[t]] * G(T.piv[t], j);
  }
  blas::gemm('T', 'N', n - k, s, k, -1.0, E.data(), E.ld(), Gs.data(), Gs.ld(), 1.0, Gr.data(), Gr.ld());
  std::vector<double> res(n - k, 0.0), row(n, 0.0);
  for (int j = 0; j < s; j++) {
    for (int t = 0; t < n - k; t++) res[t] += Gr(t, j) * Gr(t, j);
    for (int t = 0; t < n; t++) row[t] += G(t, j) * G(t, j);
  }
  double top = 0, worst = 0;
  for (int t = 0; t < n; t++) top = std::max(top, d[t] * d[t] * row[t]);
  for (int t = 0; t < n - k; t++) worst = std::max(worst, res[t]);
  return worst <= std::max(rtol * rtol * top, atol * atol);
}

// ------------------------------------------------------------------------------------------------
// One cell: sampled interpolative decomposition, then orthogonalisation (docs/algorithm.md, "Shared nested bases")
// ------------------------------------------------------------------------------------------------
void compressCell(Matrix<double> &G, const Matrix<double> *W, const std::vector<int> &cand, double rtol, int maxrank, CellBasis &out, bool fullQ, int minrank, const Matrix<double> *Egram, double atol)
{
  const int n = G.rows(), s = G.cols();
  out.skel.clear();
  out.U.resize(n, 0);
  out.R.resize(0, 0);
  out.capped = false;
  if (fullQ) { // rank 0: everything is redundant, Q = I
    out.U.resize(n, n);
    for (int i = 0; i < n; i++) out.U(i, i) = 1.0;
  }
  if (n == 0 || (s == 0 && !Egram)) return;
  // Row t of G reaches the cell's points through column t of W: scale it by that column's norm,
  // so the pivoting (and the rank) see the error as amplified by the children's interpolation.
  // Without this the error grows with the product of the interpolation norms up the tree.
  std::vector<double> d(n, 1.0);
  if (W)
    for (int t = 0; t < n; t++) {
      double c = 0;
      for (int i = 0; i < n; i++) c += (*W)(i, t) * (*W)(i, t);
      d[t] = std::sqrt(c);
    }
  Pivoted T;
  const bool sketched = !Egram && sketchTriangle(G, d, rtol, atol, maxrank, minrank, T);
  if (!sketched) wholeTriangle(G, d, rtol, Egram, T);
  G = Matrix<double>();
  const Matrix<double> &M = T.M;
  const std::vector<int> &piv = T.piv;
  const int m = T.m;
  const int kmax = std::min({m, n, maxrank});
  int k = leadingRank(M, kmax, rtol, atol);
  out.capped = k == kmax && kmax == maxrank && k < std::min(m, n) && std::fabs(M(k, k)) > std::max(rtol * std::fabs(M(0, 0)), atol);
  k = T.k >= 0 ? T.k : std::max(k, std::min({minrank, m, n}));
  if (k == 0) return;
  const Matrix<double> E = idCoefficients(M, k, n);
  std::vector<double> tau;
  Matrix<double> P(n, k);
  for (int t = 0; t < k; t++) P(piv[t], t) = 1.0;
  for (int j = 0; j < n - k; j++)
    for (int t = 0; t < k; t++) P(piv[k + j], t) = E(t, j) * d[piv[t]] / d[piv[k + j]];
  Matrix<double> WP;
  if (W) {
    WP.resize(n, k);
    blas::gemm('N', 'N', n, k, n, 1.0, W->data(), W->ld(), P.data(), P.ld(), 0.0, WP.data(), WP.ld());
  } else WP = std::move(P);
  blas::geqrf(n, k, WP.data(), WP.ld(), tau);
  out.R.resize(k, k);
  for (int j = 0; j < k; j++)
    for (int i = 0; i <= j; i++) out.R(i, j) = WP(i, j);
  if (fullQ) { // [U U_perp] = Q I, applied with the blocked reflector code
    Matrix<double> Q(n, n);
    for (int i = 0; i < n; i++) Q(i, i) = 1.0;
    blas::ormqr('L', 'N', n, n, k, WP.data(), WP.ld(), tau, Q.data(), Q.ld());
    out.U = std::move(Q);
  } else {
    blas::orgqr(n, k, k, WP.data(), WP.ld(), tau);
    out.U = std::move(WP);
  }
  out.skel.resize(k);
  for (int t = 0; t < k; t++) out.skel[t] = cand[piv[t]];
}

namespace {

// evenly spaced subsample of v of at most s entries
std::vector<int> subsample(const std::vector<int> &v, size_t s)
{
  if (v.size() <= s) return v;
  std::vector<int> r(s);
  for (size_t t = 0; t < s; t++) r[t] = v[(t * v.size()) / s];
  return r;
}

} // namespace

// pack / unpack a basis (skeleton + R) into doubles
void packBasis(const CellBasis &b, std::vector<double> &buf)
{
  const int r = b.rank();
  for (int t = 0; t < r; t++) buf.push_back(static_cast<double>(b.skel[t]));
  buf.insert(buf.end(), b.R.data(), b.R.data() + static_cast<size_t>(r) * r);
}
const double *unpackBasis(const double *p, int r, CellBasis &b)
{
  b.skel.resize(r);
  for (int t = 0; t < r; t++) b.skel[t] = static_cast<int>(p[t]);
  p += r;
  b.R.resize(r, r);
  std::copy(p, p + static_cast<size_t>(r) * r, b.R.data());
  return p + static_cast<size_t>(r) * r;
}

namespace {

// the 2x2 block diagonal weight diag(R_c1, R_c2)
Matrix<double> childWeight(const CellBasis &a, const CellBasis &b)
{
  const int r1 = a.rank(), r2 = b.rank();
  Matrix<double> W(r1 + r2, r1 + r2);
  for (int j = 0; j < r1; j++)
    for (int i = 0; i < r1; i++) W(i, j) = a.R(i, j);
  for (int j = 0; j < r2; j++)
    for (int i = 0; i < r2; i++) W(r1 + i, r1 + j) = b.R(i, j);
  return W;
}


// representative points of every cell (bottom-up, evenly spaced in tree order, at most s),
// indexed by ClusterTree::index
std::vector<std::vector<int>> representatives(const ClusterTree &T, size_t s)
{
  const int L = T.levels();
  std::vector<std::vector<int>> rep(static_cast<size_t>(2) * T.ncells(L) - 1);
  for (int k = 0; k < T.ncells(L); k++) rep[ClusterTree::index(L, k)] = subsample(cellPoints(T.cell(L, k)), s);
  for (int l = L - 1; l >= 0; l--)
    for (int k = 0; k < T.ncells(l); k++) {
      std::vector<int> u = rep[ClusterTree::index(l + 1, 2 * k)];
      const auto &b = rep[ClusterTree::index(l + 1, 2 * k + 1)];
      u.insert(u.end(), b.begin(), b.end());
      rep[ClusterTree::index(l, k)] = subsample(u, s);
    }
  return rep;
}

// squared distance from point t to the box of cell c
double boxDist2(const ClusterTree &T, const Cell &c, int t)
{
  const double *x = T.point(t);
  double d2 = 0;
  for (int d = 0; d < T.dim(); d++) {
    double g = std::max(0.0, std::fabs(x[d] - c.center[d]) - c.half[d]);
    d2 += g * g;
  }
  return d2;
}

// How far the points v are from cell c (a key to sort by, smaller = nearer).  From the points:
// the squared distance to the box.  From the entries (no boxes): minus the largest similarity
// A_tp^2 / (A_tt A_pp) to a few points p spread over the cell, |v| x 8 entries.
std::vector<double> distancesToCell(const ClusterTree &T, const EntryEvaluator &ev, const Cell &c, const std::vector<int> &v)
{
  const int m = static_cast<int>(v.size());
  std::vector<double> dist(m);
  if (T.geometric()) {
    for (int t = 0; t < m; t++) dist[t] = boxDist2(T, c, v[t]);
    return dist;
  }
  const int np = std::min(8, c.size());
  if (m == 0 || np == 0) return dist;
  std::vector<int> piv(np);
  for (int t = 0; t < np; t++) piv[t] = c.begin + static_cast<int>((static_cast<long long>(2 * t + 1) * c.size()) / (2 * np));
  const std::vector<double> &D = T.diagonal();
  Matrix<double> B = evalBlock(ev, T, v, piv);
  for (int t = 0; t < m; t++) {
    double best = 0;
    for (int j = 0; j < np; j++) best = std::max(best, B(t, j) * B(t, j) / (D[v[t]] * D[piv[j]]));
    dist[t] = -best;
  }
  return dist;
}

// v sorted by distance to c (ties by point)
void byDistance(const ClusterTree &T, const EntryEvaluator &ev, const Cell &c, std::vector<int> &v)
{
  const std::vector<double> d = distancesToCell(T, ev, c, v);
  std::vector<std::pair<double, int>> dv(v.size());
  for (size_t t = 0; t < v.size(); t++) dv[t] = {d[t], v[t]};
  std::sort(dv.begin(), dv.end());
  for (size_t t = 0; t < v.size(); t++) v[t] = dv[t].second;
}

// keep at most m of a distance-ordered list: its nearer half of m in full, the other half
// spread evenly over the rest (never only the nearest: the distant field of slowly decaying
// kernels is smooth but large in aggregate)
void capByDistance(const ClusterTree &T, const EntryEvaluator &ev, const Cell &ci, std::vector<int> &v, size_t m)
{
  if (v.size() <= m) return;
  byDistance(T, ev, ci, v);
  const size_t h = m / 2;
  std::vector<int> rest(v.begin() + h, v.end());
  v.resize(h);
  auto r = subsample(rest, m - h);
  v.insert(v.end(), r.begin(), r.end());
}

// The far sample of cell k on level l (see farSamples): up to q points of each far cell of its
// level, then the thinned sample of its parent (null at the root), capped at s in all.
std::vector<int> farSampleOfCell(const ClusterTree &T, const EntryEvaluator &ev, int l, int k, const std::vector<std::vector<int>> &rep, const std::vector<int> *parent, size_t s, size_t q)
{
  const PairList &F = T.farList(l);
  const Cell &ci = T.cell(l, k);
  std::vector<int> z;
  for (int p = F.ptr[k]; p < F.ptr[k + 1]; p++) {
    const Cell &cj = T.cell(l, F.col[p]);
    if (static_cast<size_t>(cj.size()) <= q) {
      for (int t = cj.begin; t < cj.end; t++) z.push_back(t);
      continue;
    }
    std::vector<int> pts = cellPoints(cj);
    const std::vector<double> d = distancesToCell(T, ev, ci, pts);
    std::vector<std::pair<double, int>> dp(pts.size());
    for (size_t t = 0; t < pts.size(); t++) dp[t] = {d[t], pts[t]};
    std::nth_element(dp.begin(), dp.begin() + q / 2, dp.end());
    pts.resize(q / 2);
    for (size_t t = 0; t < q / 2; t++) pts[t] = dp[t].second;
    auto r = subsample(rep[ClusterTree::index(l, F.col[p])], q - q / 2);
    pts.insert(pts.end(), r.begin(), r.end());
    std::sort(pts.begin(), pts.end());
    pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
    z.insert(z.end(), pts.begin(), pts.end());
  }
  // The parent's far field must be in the sample too (the parent's basis is built from this
  // one's skeleton): it keeps up to a third of the cap even when the cell's own far cells
  // alone would fill it (3-D volumes: hundreds of far cells), else the far-far field is never
  // seen and the error grows with the number of levels (ball-matern 32768 at 1e-8: matvec
  // error 1.5e-7 -> 1.3e-8, cube-gaussian 2.3e-6 -> 1.5e-10, at the same cost).
  std::vector<int> zi;
  if (parent) {
    std::vector<int> inh = *parent;
    byDistance(T, ev, ci, inh);
    const size_t half = inh.size() / 2;
    zi.assign(inh.begin(), inh.begin() + half);
    for (size_t t = half; t < inh.size(); t += 4) zi.push_back(inh[t]);
  }
  capByDistance(T, ev, ci, z, s - std::min(zi.size(), s / 3));
  capByDistance(T, ev, ci, zi, s - z.size());
  z.insert(z.end(), zi.begin(), zi.end());
  return z;
}

// far samples, top-down.  Every far cell of the cell's own level contributes up to q points: half
// its points nearest to the cell (fast-decaying kernels live there), half spread over the cell.
// The parent's far sample comes in thinned with the same priority: its nearer half kept, one in
// four of the rest.  The total is capped at s (own cells first).  O(1) work per cell point.
// Only cells whose subtree holds points of mine are needed.  The cells of a level are independent
// (threaded; for a tree from the entries only when the entries may be evaluated concurrently).
std::vector<std::vector<std::vector<int>>> farSamples(const ClusterTree &T, const EntryEvaluator &ev, const Layout &lay, size_t s, bool threads)
{
  const int L = T.levels();
  const std::vector<std::vector<int>> rep = representatives(T, s);
  const int myfirst = lay.pointBegin(), mylast = lay.pointEnd();
  auto needed = [&](int l, int k) { const Cell &c = T.cell(l, k); return c.begin < mylast && c.end > myfirst; };
  const size_t q = std::max<size_t>(16, s / 12);
  std::vector<std::vector<std::vector<int>>> farSample(L + 1);
  for (int l = 0; l <= L; l++) {
    farSample[l].resize(T.ncells(l));
    parallelFor(T.ncells(l), threads && (T.geometric() || ev.threadSafe()), [&](int k) {
      if (needed(l, k)) farSample[l][k] = farSampleOfCell(T, ev, l, k, rep, l > 0 ? &farSample[l - 1][k / 2] : nullptr, s, q);
    });
  }
  return farSample;
}

// The sample block of one side of a cell: G = A(cand, Z) on the row side, A(Z, cand)^T on the
// column side (rows = candidates)
Matrix<double> sampleBlock(const EntryEvaluator &ev, const ClusterTree &T, const std::vector<int> &cand, const std::vector<int> &Z, bool row)
{
  Matrix<double> G = row ? evalBlock(ev, T, cand, Z) : Matrix<double>();
  if (!row) { // column side: G = A(Z, cand)^T
    Matrix<double> Gt = evalBlock(ev, T, Z, cand);
    G = Matrix<double>::uninitialized(static_cast<int>(cand.size()), static_cast<int>(Z.size()));
    for (int j = 0; j < Gt.cols(); j++)
      for (int i = 0; i < Gt.rows(); i++) G(j, i) = Gt(i, j);
  }
  return G;
}

} // namespace

// ------------------------------------------------------------------------------------------------
// Structure: bases, level by level from the leaves up
// ------------------------------------------------------------------------------------------------
H2Structure::H2Structure(MPI_Comm comm, std::shared_ptr<const ClusterTree> tree, const EntryEvaluator &ev, const BuildOptions &opt, const ExtraSampleFn &extra, const LevelHookFn &before, const ExtraGramFn &extraGram, const CellNormFn &floor) :
  tree_(std::move(tree)), layout_(comm, *tree_), opt_(opt)
{
  const ClusterTree &T = *tree_;
  const int L = T.levels();
  const bool threaded = opt_.threaded && ev.threadSafe();
  allocateLevels();
  planExchanges();

  std::vector<std::vector<std::vector<int>>> farSample = farSamples(T, ev, layout_, static_cast<size_t>(std::max(0, opt_.nsamples)), opt_.threaded);
  for (int l = L; l >= 1; l--) {
    std::exception_ptr err = nullptr;
    bool go = true;
    try {
      if (before) go = before(l, *this);
      if (go) compressLevel(l, ev, farSample[l], threaded, extra, extraGram, floor);
    } catch (...) {
      err = std::current_exception();
    }
    agree(comm, err);
    if (!go) break;
    for (auto &v : farSample[l]) std::vector<int>().swap(v);
    shareRanks(l);
    shareGhostBases(l);
  }
}

// the bases of the owned cells of level l (threaded over the cells), from their far samples Z
void H2Structure::compressLevel(int l, const EntryEvaluator &ev, const std::vector<std::vector<int>> &Z, bool threaded, const ExtraSampleFn &extra, const ExtraGramFn &extraGram, const CellNormFn &floor)
{
  const auto &mine = layout_.owned(l);
  parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) { compressSides(l, mine[t], ev, Z[mine[t]], extra, extraGram, floor ? opt_.rtol * floor(l, mine[t]) : 0.0); });
}

// the row basis of cell k on level l (and its column basis, nonsymmetric), from its far sample Z
// and the hooks' extra sample columns; atol: rtol times the cell's reference norm (0: none), from
// which floorFor gives the pivots' floor
void H2Structure::compressSides(int l, int k, const EntryEvaluator &ev, const std::vector<int> &Z, const ExtraSampleFn &extra, const ExtraGramFn &extraGram, double atol)
{
  const ClusterTree &T = *tree_;
  const int L = T.levels();
  // the ULV needs square pivot blocks: equal row and column ranks (nonsymmetric, fullQ)
  int minrank = 0;
  const int nsides = opt_.symmetric ? 1 : (opt_.fullQ ? 3 : 2);
  for (int pass = 0; pass < nsides; pass++) {
    const bool row = pass != 1;
    if (pass == 2) {
      if (rowb_[l][k].rank() == colb_[l][k].rank()) break;
      minrank = colb_[l][k].rank();
    }
    auto &B = row ? rowb_[l][k] : colb_[l][k];
    std::vector<int> cand;
    Matrix<double> W;
    if (l == L) cand = cellPoints(T.cell(l, k));
    else {
      const CellBasis &c1 = basis(l + 1, 2 * k, row), &c2 = basis(l + 1, 2 * k + 1, row);
      cand = c1.skel;
      cand.insert(cand.end(), c2.skel.begin(), c2.skel.end());
      W = childWeight(c1, c2);
    }
    Matrix<double> G = sampleBlock(ev, T, cand, Z, row);
    const double cellFloor = floorFor(l, k, G.cols(), atol);
    Matrix<double> E;
    const bool haveE = extraGram && gramTolerance(opt_.rtol) && extraGram(l, k, cand, row, E);
    if (extra && !haveE) {
      Matrix<double> X = extra(l, k, cand, row);
      if (X.cols() > 0) {
        auto GX = Matrix<double>::uninitialized(G.rows(), G.cols() + X.cols());
        std::copy(G.data(), G.data() + G.size(), GX.data());
        std::copy(X.data(), X.data() + X.size(), GX.data() + G.size());
        G = std::move(GX);
      }
    }
    compressCell(G, l == L ? nullptr : &W, cand, opt_.rtol, opt_.maxrank, B, opt_.fullQ, minrank, haveE ? &E : nullptr, cellFloor);
    if (pass == 0) minrank = B.rank();
  }
  if (nsides == 3 && rowb_[l][k].rank() != colb_[l][k].rank())
    throw Error(ERR_NUMERIC, "could not give cell " + std::to_string(k) + " on level " + std::to_string(l) + " equal row and column ranks (too few samples?)");
}

// The floor of cell k's pivots from the norm bound atol = rtol |D_k| for its whole block row: the s
// sampled far columns stand for all the cell's far points (their pivots are smaller by about
// sqrt(s / far)), and the error of the level's cells adds up over its rows (by about the square root
// of their number), so that the error of the whole operator stays within rtol |D|
double H2Structure::floorFor(int l, int k, int s, double atol) const
{
  if (atol <= 0) return 0.0;
  const ClusterTree &T = *tree_;
  const PairList &N = T.nearList(l);
  long nearPts = 0;
  for (int p = N.ptr[k]; p < N.ptr[k + 1]; p++) nearPts += T.cell(l, N.col[p]).size();
  const double far = static_cast<double>(T.size() - nearPts);
  const double sampled = far > 0 ? std::sqrt(std::min(1.0, s / far)) : 1.0;
  return atol * sampled / std::sqrt(static_cast<double>(T.ncells(l)));
}

// every process learns every rank of level l (sizes of all later messages) and whether the cap
// stopped it (collective)
void H2Structure::shareRanks(int l)
{
  const ClusterTree &T = *tree_;
  std::vector<int> loc;
  for (int k : layout_.owned(l)) {
    loc.push_back(rowb_[l][k].rank());
    loc.push_back(opt_.symmetric ? rowb_[l][k].rank() : colb_[l][k].rank());
    loc.push_back(rowb_[l][k].capped || (!opt_.symmetric && colb_[l][k].capped));
  }
  const int P = layout_.size();
  std::vector<int> counts(P, 0), displs(P + 1, 0);
  for (int k = 0; k < T.ncells(l); k++) counts[layout_.owner(l, k)] += 3;
  for (int p = 0; p < P; p++) displs[p + 1] = displs[p] + counts[p];
  std::vector<int> all(displs[P]);
  MPI_Allgatherv(loc.data(), static_cast<int>(loc.size()), MPI_INT, all.data(), counts.data(), displs.data(), MPI_INT, layout_.comm());
  std::vector<int> pos(displs.begin(), displs.end() - 1);
  for (int k = 0; k < T.ncells(l); k++) {
    int p = layout_.owner(l, k);
    rr_[l][k] = all[pos[p]];
    rc_[l][k] = all[pos[p] + 1];
    capped_[l][k] = all[pos[p] + 2];
    pos[p] += 3;
  }
}

// ghost bases (skeleton + R) of level l for the couplings of this level and for the parents
// (collective)
void H2Structure::shareGhostBases(int l)
{
  const ClusterTree &T = *tree_;
  auto payload = [&](int k) { return rr_[l][k] * (1 + rr_[l][k]) + (opt_.symmetric ? 0 : rc_[l][k] * (1 + rc_[l][k])); };
  std::vector<std::vector<double>> buf(T.ncells(l));
  for (int k : layout_.owned(l)) {
    packBasis(rowb_[l][k], buf[k]);
    if (!opt_.symmetric) packBasis(colb_[l][k], buf[k]);
  }
  for (int k = 0; k < T.ncells(l); k++)
    if (!layout_.mine(l, k)) buf[k].assign(payload(k), 0.0);
  auto ptr = [&](int k) { return buf[k].data(); };
  partner_[l]->run(payload, ptr);
  up_[l]->run(payload, ptr);
  for (int k = 0; k < T.ncells(l); k++)
    if (!layout_.mine(l, k) && !buf[k].empty()) {
      const double *p = unpackBasis(buf[k].data(), rr_[l][k], rowb_[l][k]);
      if (!opt_.symmetric) unpackBasis(p, rc_[l][k], colb_[l][k]);
    }
}

// per level: one (empty) basis per cell and side, ranks 0
void H2Structure::allocateLevels()
{
  const ClusterTree &T = *tree_;
  const int L = T.levels();
  rowb_.resize(L + 1);
  colb_.resize(L + 1);
  rr_.resize(L + 1);
  rc_.resize(L + 1);
  capped_.resize(L + 1);
  for (int l = 0; l <= L; l++) {
    capped_[l].assign(T.ncells(l), 0);
    rowb_[l].resize(T.ncells(l));
    if (!opt_.symmetric) colb_[l].resize(T.ncells(l));
    rr_[l].assign(T.ncells(l), 0);
    rc_[l].assign(T.ncells(l), 0);
  }
}

void H2Structure::planExchanges()
{
  const int L = tree_->levels();
  partner_.resize(L + 1);
  up_.resize(L + 1);
  down_.resize(L + 1);
  for (int l = 0; l <= L; l++) {
    Plan send, recv;
    planPartners(*tree_, layout_, l, send, recv);
    partner_[l] = std::make_unique<Exchange>();
    partner_[l]->setup(layout_.comm(), send, recv);
    planUp(*tree_, layout_, l, send, recv);
    up_[l] = std::make_unique<Exchange>();
    up_[l]->setup(layout_.comm(), send, recv);
    down_[l] = std::make_unique<Exchange>();
    down_[l]->setup(layout_.comm(), recv, send);
  }
}

std::vector<LevelStats> H2Structure::stats() const
{
  const ClusterTree &T = *tree_;
  std::vector<LevelStats> st(T.levels() + 1);
  for (int l = 0; l <= T.levels(); l++) {
    LevelStats &s = st[l];
    long long sum = 0;
    s.minrank = 1 << 30;
    for (int k = 0; k < T.ncells(l); k++) {
      int r = std::max(rr_[l][k], rc_[l][k]);
      s.minrank = std::min(s.minrank, r);
      s.maxrank = std::max(s.maxrank, r);
      sum += r;
    }
    s.ncapped = ncapped(l);
    s.meanrank = static_cast<double>(sum) / T.ncells(l);
    s.nnear = static_cast<long long>(T.nearList(l).nnz());
    s.nfar = static_cast<long long>(T.farList(l).nnz());
  }
  return st;
}

int H2Structure::ncapped(int l) const
{
  int c = 0;
  for (int v : capped_[l]) c += v;
  return c;
}

size_t H2Structure::bytes() const
{
  size_t b = tree_->coords().size() * sizeof(double) + tree_->perm().size() * sizeof(int);
  for (const auto *side : {&rowb_, &colb_})
    for (const auto &lev : *side)
      for (const auto &c : lev) b += c.U.bytes() + c.R.bytes() + c.skel.capacity() * sizeof(int);
  return b;
}

} // namespace h2ulv
