#include "h2_impl.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

namespace h2ulv {

using detail::cellPoints;
using detail::evalBlock;
using detail::evalScratch;

// ------------------------------------------------------------------------------------------------
// One cell: sampled interpolative decomposition, then orthogonalisation (docs/algorithm.md, "Shared nested bases")
// ------------------------------------------------------------------------------------------------
void compressCell(Matrix<double> &G, const Matrix<double> *W, const std::vector<int> &cand, double rtol, int maxrank, CellBasis &out, bool fullQ, int minrank, const Matrix<double> *Egram)
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
  Matrix<double> M;
  std::vector<double> tau;
  std::vector<int> piv;
  int m = s;
  // Loose tolerances (gramTolerance): the pivoted QR's triangle of (D G)^T from the Gram matrix
  // D (G G^T + E) D by pivoted Cholesky (level-3 SYRK instead of a tall Householder QR; same pivots
  // and R in exact arithmetic).  Tighter tolerances take the Householder path below.
  bool gram = (gramTolerance(rtol) && s > n) || Egram;
  if (gram) {
    Matrix<double> C(n, n);
    if (s > 0) blas::syrk('U', 'N', n, s, 1.0, G.data(), G.ld(), 0.0, C.data(), C.ld());
    G = Matrix<double>();
    for (int j = 0; j < n; j++)
      for (int i = 0; i <= j; i++) C(i, j) = d[i] * d[j] * (C(i, j) + (Egram ? (*Egram)(i, j) : 0.0));
    double dmax = 0;
    for (int j = 0; j < n; j++) dmax = std::max(dmax, C(j, j));
    int rk = blas::pstrf(n, C.data(), C.ld(), piv, dmax * 1e-15);
    // columns beyond the computed rank are (numerically) zero
    for (int j = 0; j < n; j++)
      for (int i = 0; i < n; i++)
        if (i > j || i >= rk) C(i, j) = 0.0;
    M = std::move(C);
    m = n;
  } else { // M = (D G)^T (s x n); reduced to its n x n triangle below when s > n
    M.resize(s, n);
    constexpr int B = 32; // tiles: the strided reads of G were 7% of a whole setup
    for (int j0 = 0; j0 < n; j0 += B)
      for (int i0 = 0; i0 < s; i0 += B)
        for (int j = j0; j < std::min(n, j0 + B); j++)
          for (int i = i0; i < std::min(s, i0 + B); i++) M(i, j) = d[j] * G(j, i);
    G = Matrix<double>();
  }
  if (!gram && s > n) {
    blas::qrR(s, n, M.data(), M.ld());
    Matrix<double> T(n, n);
    for (int j = 0; j < n; j++)
      for (int i = 0; i <= j; i++) T(i, j) = M(i, j);
    M = std::move(T);
    m = n;
  }
  if (!gram) blas::geqp3(m, n, M.data(), M.ld(), piv, tau);
  const int kmax = std::min({m, n, maxrank});
  const double d0 = std::fabs(M(0, 0));
  int k = 0;
  if (d0 > 0 && std::isfinite(d0))
    while (k < kmax && std::fabs(M(k, k)) > rtol * d0) k++;
  out.capped = k == kmax && kmax == maxrank && k < std::min(m, n) && std::fabs(M(k, k)) > rtol * d0;
  k = std::max(k, std::min({minrank, m, n}));
  if (k == 0) return;
  // E = R11^{-1} R12 : row ID  G(rest,:) ~ E^T G(skel,:)
  Matrix<double> E(k, n - k);
  for (int j = 0; j < n - k; j++)
    for (int i = 0; i < k; i++) E(i, j) = M(i, k + j);
  blas::trsm('L', 'U', 'N', 'N', k, n - k, 1.0, M.data(), M.ld(), E.data(), E.ld());
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

} // namespace

// ------------------------------------------------------------------------------------------------
// Structure: bases, level by level from the leaves up
// ------------------------------------------------------------------------------------------------
H2Structure::H2Structure(MPI_Comm comm, std::shared_ptr<const ClusterTree> tree, const EntryEvaluator &ev, const BuildOptions &opt, const ExtraSampleFn &extra, const LevelHookFn &before, const ExtraGramFn &extraGram) :
  tree_(std::move(tree)), layout_(comm, *tree_), opt_(opt)
{
  const ClusterTree &T = *tree_;
  const int L = T.levels();
  const bool threaded = opt_.threaded && ev.threadSafe();
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
  planExchanges();

  // representative points of every cell (bottom-up, evenly spaced in tree order, at most s)
  const size_t s = static_cast<size_t>(std::max(0, opt_.nsamples));
  std::vector<std::vector<int>> rep(static_cast<size_t>(2) * T.ncells(L) - 1);
  for (int k = 0; k < T.ncells(L); k++) rep[ClusterTree::index(L, k)] = subsample(cellPoints(T.cell(L, k)), s);
  for (int l = L - 1; l >= 0; l--)
    for (int k = 0; k < T.ncells(l); k++) {
      std::vector<int> u = rep[ClusterTree::index(l + 1, 2 * k)];
      const auto &b = rep[ClusterTree::index(l + 1, 2 * k + 1)];
      u.insert(u.end(), b.begin(), b.end());
      rep[ClusterTree::index(l, k)] = subsample(u, s);
    }
  // far samples, top-down.  Every far cell of the cell's own level contributes up to q points: half
  // its points nearest to the cell (fast-decaying kernels live there), half spread over the cell.
  // The parent's far sample comes in thinned with the same priority: its nearer half kept, one in
  // four of the rest.  The total is capped at s (own cells first).  O(1) work per cell point.
  // Only cells whose subtree holds points of mine are needed.
  const int myfirst = layout_.pointBegin(), mylast = layout_.pointEnd();
  auto needed = [&](int l, int k) { const Cell &c = T.cell(l, k); return c.begin < mylast && c.end > myfirst; };
  const size_t q = std::max<size_t>(16, s / 12);
  auto boxDist2 = [&](const Cell &c, int t) {
    const double *x = T.point(t);
    double d2 = 0;
    for (int d = 0; d < T.dim(); d++) {
      double g = std::max(0.0, std::fabs(x[d] - c.center[d]) - c.half[d]);
      d2 += g * g;
    }
    return d2;
  };
  auto byDistance = [&](const Cell &c, std::vector<int> &v) {
    std::vector<std::pair<double, int>> dv(v.size());
    for (size_t t = 0; t < v.size(); t++) dv[t] = {boxDist2(c, v[t]), v[t]};
    std::sort(dv.begin(), dv.end());
    for (size_t t = 0; t < v.size(); t++) v[t] = dv[t].second;
  };
  std::vector<std::vector<std::vector<int>>> farSample(L + 1);
  for (int l = 0; l <= L; l++) {
    farSample[l].resize(T.ncells(l));
    const PairList &F = T.farList(l);
    for (int k = 0; k < T.ncells(l); k++) {
      if (!needed(l, k)) continue;
      const Cell &ci = T.cell(l, k);
      std::vector<int> z;
      for (int p = F.ptr[k]; p < F.ptr[k + 1]; p++) {
        const Cell &cj = T.cell(l, F.col[p]);
        if (static_cast<size_t>(cj.size()) <= q) {
          for (int t = cj.begin; t < cj.end; t++) z.push_back(t);
          continue;
        }
        std::vector<int> pts = cellPoints(cj);
        std::nth_element(pts.begin(), pts.begin() + q / 2, pts.end(), [&](int a, int b) {
          double da = boxDist2(ci, a), db = boxDist2(ci, b);
          return da < db || (da == db && a < b);
        });
        pts.resize(q / 2);
        auto r = subsample(rep[ClusterTree::index(l, F.col[p])], q - q / 2);
        pts.insert(pts.end(), r.begin(), r.end());
        std::sort(pts.begin(), pts.end());
        pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
        z.insert(z.end(), pts.begin(), pts.end());
      }
      // keep at most m of a distance-ordered list: its nearer half of m in full, the other half
      // spread evenly over the rest (never only the nearest: the distant field of slowly decaying
      // kernels is smooth but large in aggregate)
      auto cap = [&](std::vector<int> &v, size_t m) {
        if (v.size() <= m) return;
        byDistance(ci, v);
        const size_t h = m / 2;
        std::vector<int> rest(v.begin() + h, v.end());
        v.resize(h);
        auto r = subsample(rest, m - h);
        v.insert(v.end(), r.begin(), r.end());
      };
      // The parent's far field must be in the sample too (the parent's basis is built from this
      // one's skeleton): it keeps up to a third of the cap even when the cell's own far cells
      // alone would fill it (3-D volumes: hundreds of far cells), else the far-far field is never
      // seen and the error grows with the number of levels (ball-matern 32768 at 1e-8: matvec
      // error 1.5e-7 -> 1.3e-8, cube-gaussian 2.3e-6 -> 1.5e-10, at the same cost).
      std::vector<int> zi;
      if (l > 0) {
        std::vector<int> inh = farSample[l - 1][k / 2];
        byDistance(ci, inh);
        const size_t half = inh.size() / 2;
        zi.assign(inh.begin(), inh.begin() + half);
        for (size_t t = half; t < inh.size(); t += 4) zi.push_back(inh[t]);
      }
      cap(z, s - std::min(zi.size(), s / 3));
      cap(zi, s - z.size());
      z.insert(z.end(), zi.begin(), zi.end());
      farSample[l][k] = std::move(z);
    }
  }
  rep.clear();
  rep.shrink_to_fit();

  for (int l = L; l >= 1; l--) {
    const auto &mine = layout_.owned(l);
    std::exception_ptr err = nullptr;
    bool go = true;
    try {
    if (before) go = before(l, *this);
    if (go) parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) {
      const int k = mine[t];
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
        const auto &Z = farSample[l][k];
        Matrix<double> G = row ? evalBlock(ev, T, cand, Z) : Matrix<double>();
        if (!row) { // column side: G = A(Z, cand)^T
          Matrix<double> Gt = evalBlock(ev, T, Z, cand);
          G.resize(static_cast<int>(cand.size()), static_cast<int>(Z.size()));
          for (int j = 0; j < Gt.cols(); j++)
            for (int i = 0; i < Gt.rows(); i++) G(j, i) = Gt(i, j);
        }
        Matrix<double> E;
        const bool haveE = extraGram && gramTolerance(opt_.rtol) && extraGram(l, k, cand, row, E);
        if (extra && !haveE) {
          Matrix<double> X = extra(l, k, cand, row);
          if (X.cols() > 0) {
            Matrix<double> GX(G.rows(), G.cols() + X.cols());
            std::copy(G.data(), G.data() + G.size(), GX.data());
            std::copy(X.data(), X.data() + X.size(), GX.data() + G.size());
            G = std::move(GX);
          }
        }
        compressCell(G, l == L ? nullptr : &W, cand, opt_.rtol, opt_.maxrank, B, opt_.fullQ, minrank, haveE ? &E : nullptr);
        if (pass == 0) minrank = B.rank();
      }
      if (nsides == 3 && rowb_[l][k].rank() != colb_[l][k].rank())
        throw Error(ERR_NUMERIC, "could not give cell " + std::to_string(k) + " on level " + std::to_string(l) + " equal row and column ranks (too few samples?)");
    });
    } catch (...) {
      err = std::current_exception();
    }
    agree(comm, err);
    if (!go) break;
    for (auto &v : farSample[l]) std::vector<int>().swap(v);

    // every process learns every rank of this level (sizes of all later messages) and whether the
    // cap stopped it
    {
      std::vector<int> loc;
      for (int k : mine) {
        loc.push_back(rowb_[l][k].rank());
        loc.push_back(opt_.symmetric ? rowb_[l][k].rank() : colb_[l][k].rank());
        loc.push_back(rowb_[l][k].capped || (!opt_.symmetric && colb_[l][k].capped));
      }
      const int P = layout_.size();
      std::vector<int> counts(P, 0), displs(P + 1, 0);
      for (int k = 0; k < T.ncells(l); k++) counts[layout_.owner(l, k)] += 3;
      for (int p = 0; p < P; p++) displs[p + 1] = displs[p] + counts[p];
      std::vector<int> all(displs[P]);
      MPI_Allgatherv(loc.data(), static_cast<int>(loc.size()), MPI_INT, all.data(), counts.data(), displs.data(), MPI_INT, comm);
      std::vector<int> pos(displs.begin(), displs.end() - 1);
      for (int k = 0; k < T.ncells(l); k++) {
        int p = layout_.owner(l, k);
        rr_[l][k] = all[pos[p]];
        rc_[l][k] = all[pos[p] + 1];
        capped_[l][k] = all[pos[p] + 2];
        pos[p] += 3;
      }
    }
    // ghost bases (skeleton + R) for the couplings of this level and for the parents
    auto payload = [&](int k) { return rr_[l][k] * (1 + rr_[l][k]) + (opt_.symmetric ? 0 : rc_[l][k] * (1 + rc_[l][k])); };
    std::vector<std::vector<double>> buf(T.ncells(l));
    for (int k : mine) {
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

// ------------------------------------------------------------------------------------------------
// Matrix-vector product (k vectors): upward pass, couplings, downward pass, near field
// ------------------------------------------------------------------------------------------------
template <typename T>
void h2Multiply(const H2Structure &s, const H2Values<T> &v, bool transpose, int k, const T *x, int ldx, T beta, T *y, int ldy)
{
  const ClusterTree &Tr = s.tree();
  const Layout &lay = s.layout();
  const int L = Tr.levels(), off = lay.pointBegin();
  const bool threaded = s.options().threaded && (!v.jit() || v.ev_->threadSafe());
  // input side bases: columns (forward) or rows (transpose); output side the other one
  const bool inRow = transpose, outRow = !transpose;
  static_assert(std::is_same<T, double>::value || std::is_same<T, float>::value, "real types only");

  // leaf values of x for owned and ghost leaves (partner exchange on the leaf level)
  std::vector<Matrix<T>> xl(Tr.ncells(L));
  for (int i : lay.owned(L)) {
    const Cell &c = Tr.cell(L, i);
    xl[i].resize(c.size(), k);
    for (int j = 0; j < k; j++) std::copy(x + (c.begin - off) + static_cast<size_t>(j) * ldx, x + (c.end - off) + static_cast<size_t>(j) * ldx, xl[i].data() + static_cast<size_t>(j) * c.size());
  }
  // exchange buffers are double; for float, stage through double
  auto exchange = [&](const Exchange &ex, std::vector<Matrix<T>> &cells, auto sizef) {
    if (ex.empty()) return;
    std::vector<std::vector<double>> buf(cells.size());
    for (size_t c = 0; c < cells.size(); c++) {
      buf[c].resize(sizef(static_cast<int>(c)));
      if (cells[c].size() == buf[c].size()) std::copy(cells[c].data(), cells[c].data() + cells[c].size(), buf[c].data());
    }
    ex.run(sizef, [&](int c) { return buf[c].data(); });
    for (size_t c = 0; c < cells.size(); c++) {
      if (cells[c].size() == buf[c].size() && !buf[c].empty()) {
        for (size_t t = 0; t < buf[c].size(); t++) cells[c].data()[t] = static_cast<T>(buf[c][t]);
      }
    }
  };
  for (int j = 0; j < Tr.ncells(L); j++)
    if (!lay.mine(L, j) && xl[j].empty()) xl[j].resize(Tr.cell(L, j).size(), k);
  exchange(s.partners(L), xl, [&](int c) { return Tr.cell(L, c).size() * k; });

  // upward pass: xhat_i = U_i^T [x_i or children's xhat]
  std::vector<std::vector<Matrix<T>>> xh(L + 1), yh(L + 1);
  for (int l = L; l >= 1; l--) {
    xh[l].resize(Tr.ncells(l));
    yh[l].resize(Tr.ncells(l));
    for (int c = 0; c < Tr.ncells(l); c++) xh[l][c].resize(s.rank(l, c, inRow), k);
    const auto &mine = lay.owned(l);
    parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) {
      const int i = mine[t];
      const CellBasis &B = s.basis(l, i, inRow);
      const int r = B.rank(), n = B.U.rows();
      if (r == 0) return;
      Matrix<double> src(n, k);
      if (l == L)
        for (size_t q = 0; q < src.size(); q++) src.data()[q] = xl[i].data()[q];
      else {
        const auto &a = xh[l + 1][2 * i], &b = xh[l + 1][2 * i + 1];
        for (int j = 0; j < k; j++) {
          for (int q = 0; q < a.rows(); q++) src(q, j) = a(q, j);
          for (int q = 0; q < b.rows(); q++) src(a.rows() + q, j) = b(q, j);
        }
      }
      Matrix<double> out(r, k);
      blas::gemm('T', 'N', r, k, n, 1.0, B.U.data(), B.U.ld(), src.data(), src.ld(), 0.0, out.data(), out.ld());
      for (size_t q = 0; q < out.size(); q++) xh[l][i].data()[q] = static_cast<T>(out.data()[q]);
    });
    exchange(s.up(l), xh[l], [&](int c) { return s.rank(l, c, inRow) * k; });
  }
  for (int l = L; l >= 1; l--) exchange(s.partners(l), xh[l], [&](int c) { return s.rank(l, c, inRow) * k; });

  // On the fly (-mat_h2_storage jit) the couplings S_ij = R_i A(skel_i, skel_j) R_j^T are never
  // formed: the triangular factors go to the vectors instead (x~_j = R_j^T xhat_j once per cell,
  // yhat_i = R_i y~_i), so a pair costs its r_i r_j entries and one product, and a pair of a
  // symmetric matrix is evaluated once for both its cells (likewise the near blocks).  Every pair
  // writes its own slot and each cell sums its slots in list order: the result does not depend on
  // the thread schedule.  A pair (i, j) of owned cells with j < i is evaluated as (j, i).
  const bool sym = s.symmetric(), tr = transpose && !sym;
  auto mirrored = [&](int l, int i, int j) { return sym && lay.mine(l, j) && j < i; };
  auto jitCouplings = [&](int l) {
    const PairList &F = Tr.farList(l);
    const auto &mine = lay.owned(l);
    std::vector<char> need(Tr.ncells(l), 0);
    for (int i : mine) {
      need[i] = 1;
      for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) need[F.col[p]] = 1;
    }
    std::vector<int> cells;
    for (int c = 0; c < Tr.ncells(l); c++)
      if (need[c] && s.rank(l, c, inRow) > 0) cells.push_back(c);
    std::vector<Matrix<double>> xt(Tr.ncells(l));
    parallelFor(static_cast<int>(cells.size()), threaded, [&](int t) {
      const int c = cells[t];
      const CellBasis &B = s.basis(l, c, inRow);
      xt[c] = Matrix<double>(B.rank(), k, xh[l][c].data());
      blas::trmm('L', 'U', 'T', 'N', B.rank(), k, 1.0, B.R.data(), B.R.ld(), xt[c].data(), xt[c].ld());
    });
    std::vector<Matrix<double>> a(F.nnz()), b(sym ? F.nnz() : 0);
    parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) {
      const int i = mine[t], ri = s.rank(l, i, outRow);
      for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) {
        const int j = F.col[p], rj = s.rank(l, j, inRow);
        if (ri == 0 || rj == 0 || mirrored(l, i, j)) continue;
        const CellBasis &br = s.basis(l, tr ? j : i, true), &bc = s.basis(l, tr ? i : j, false);
        const double *K = evalScratch(*v.ev_, Tr, br.skel.data(), br.rank(), bc.skel.data(), bc.rank());
        a[p].resize(ri, k);
        blas::gemm(tr ? 'T' : 'N', 'N', ri, k, rj, 1.0, K, std::max(1, br.rank()), xt[j].data(), xt[j].ld(), 0.0, a[p].data(), a[p].ld());
        if (sym && lay.mine(l, j)) {
          b[p].resize(rj, k);
          blas::gemm('T', 'N', rj, k, ri, 1.0, K, std::max(1, ri), xt[i].data(), xt[i].ld(), 0.0, b[p].data(), b[p].ld());
        }
      }
    });
    parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) {
      const int i = mine[t], r = s.rank(l, i, outRow);
      if (r == 0) return;
      Matrix<double> acc(r, k);
      for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) {
        const int j = F.col[p];
        const Matrix<double> &z = mirrored(l, i, j) ? b[F.find(j, i)] : a[p];
        for (size_t q = 0; q < z.size(); q++) acc.data()[q] += z.data()[q];
      }
      const CellBasis &B = s.basis(l, i, outRow);
      blas::trmm('L', 'U', 'N', 'N', r, k, static_cast<double>(v.alpha_), B.R.data(), B.R.ld(), acc.data(), acc.ld());
      for (size_t q = 0; q < acc.size(); q++) yh[l][i].data()[q] = static_cast<T>(acc.data()[q]);
    });
  };

  // couplings: yhat_i = sum_j op(S)_ij xhat_j
  for (int l = 1; l <= L; l++) {
    for (int c = 0; c < Tr.ncells(l); c++) yh[l][c].resize(s.rank(l, c, outRow), k);
    if (v.jit()) {
      jitCouplings(l);
      continue;
    }
    const PairList &F = Tr.farList(l);
    const auto &mine = lay.owned(l);
    parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) {
      const int i = mine[t];
      Matrix<T> &yi = yh[l][i];
      for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) {
        const int j = F.col[p];
        const Matrix<T> &xj = xh[l][j];
        const Matrix<T> *S;
        char op = 'T';
        if (!transpose || s.symmetric()) { // S_ij, or S_ji^T when only (j,i) is stored
          const bool here = s.storedAtRow(l, i, j);
          S = here ? &v.far_[l][p] : &v.far_[l][F.find(j, i)];
          op = here ? 'N' : 'T';
        } else // transpose of a nonsymmetric matrix: S_ji^T
          S = lay.mine(l, j) ? &v.far_[l][F.find(j, i)] : &v.farT_[l][p];
        if (yi.rows() == 0 || xj.rows() == 0) continue;
        blas::gemm(op, 'N', yi.rows(), k, xj.rows(), T(1), S->data(), S->ld(), xj.data(), xj.ld(), T(1), yi.data(), yi.ld());
      }
    });
  }

  // downward pass: children's yhat += U_i yhat_i; leaf: y_i = U_i yhat_i
  // the share of child c (level l) in its parent's U yhat: the parent's U rows of c times yhat
  auto childShare = [&](int l, int c) {
    const int pi = c / 2;
    const CellBasis &B = s.basis(l - 1, pi, outRow);
    const int o = c == 2 * pi ? 0 : s.rank(l, 2 * pi, outRow), rc = s.rank(l, c, outRow);
    Matrix<double> ypd(B.rank(), k), tmp(rc, k);
    for (size_t q = 0; q < ypd.size(); q++) ypd.data()[q] = yh[l - 1][pi].data()[q];
    blas::gemm('N', 'N', rc, k, B.rank(), 1.0, B.U.data() + o, B.U.ld(), ypd.data(), ypd.ld(), 0.0, tmp.data(), tmp.ld());
    return tmp;
  };
  for (int l = 2; l <= L; l++) {
    // children owned elsewhere: their share travels with the down exchange of level l
    if (!s.down(l).empty()) {
      std::vector<Matrix<T>> in(Tr.ncells(l));
      for (int c = 0; c < Tr.ncells(l); c++) in[c].resize(s.rank(l, c, outRow), k);
      for (int pi : lay.owned(l - 1))
        for (int c : {2 * pi, 2 * pi + 1}) {
          if (lay.mine(l, c) || s.rank(l - 1, pi, outRow) == 0) continue;
          const Matrix<double> tmp = childShare(l, c);
          for (size_t q = 0; q < tmp.size(); q++) in[c].data()[q] = static_cast<T>(tmp.data()[q]);
        }
      exchange(s.down(l), in, [&](int c) { return s.rank(l, c, outRow) * k; });
      for (int c : lay.owned(l))
        if (!lay.mine(l - 1, c / 2))
          for (size_t q = 0; q < in[c].size(); q++) yh[l][c].data()[q] += in[c].data()[q];
    }
    // children whose parent is mine
    for (int c : lay.owned(l)) {
      if (!lay.mine(l - 1, c / 2) || s.rank(l - 1, c / 2, outRow) == 0) continue;
      const Matrix<double> tmp = childShare(l, c);
      for (size_t q = 0; q < tmp.size(); q++) yh[l][c].data()[q] += static_cast<T>(tmp.data()[q]);
    }
  }

  // leaves: y_i = beta y_i + U_i yhat_i + sum_j op(A)_ij x_j
  const PairList &N = Tr.nearList(L);
  const auto &leaves = lay.owned(L);
  // on the fly: each near pair's product in its own slot first (a: for row i, b: the mirrored
  // product of a symmetric pair, for row j)
  std::vector<Matrix<double>> na, nb;
  if (v.jit()) {
    std::vector<Matrix<double>> xd(Tr.ncells(L)); // x on the leaves, in double
    for (int j = 0; j < Tr.ncells(L); j++)
      if (!xl[j].empty()) xd[j] = Matrix<double>(xl[j].rows(), k, xl[j].data());
    na.resize(N.nnz());
    if (sym) nb.resize(N.nnz());
    parallelFor(static_cast<int>(leaves.size()), threaded, [&](int t) {
      const int i = leaves[t];
      const Cell &ci = Tr.cell(L, i);
      thread_local std::vector<int> rows, cols;
      for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
        const int j = N.col[p];
        if (mirrored(L, i, j)) continue;
        const Cell &cj = Tr.cell(L, j), &rc = tr ? cj : ci, &cc = tr ? ci : cj;
        rows.resize(rc.size());
        cols.resize(cc.size());
        std::iota(rows.begin(), rows.end(), rc.begin);
        std::iota(cols.begin(), cols.end(), cc.begin);
        const double *K = evalScratch(*v.ev_, Tr, rows.data(), rc.size(), cols.data(), cc.size());
        na[p].resize(ci.size(), k);
        blas::gemm(tr ? 'T' : 'N', 'N', ci.size(), k, cj.size(), 1.0, K, std::max(1, rc.size()), xd[j].data(), xd[j].ld(), 0.0, na[p].data(), na[p].ld());
        if (sym && j != i && lay.mine(L, j)) {
          nb[p].resize(cj.size(), k);
          blas::gemm('T', 'N', cj.size(), k, ci.size(), 1.0, K, std::max(1, ci.size()), xd[i].data(), xd[i].ld(), 0.0, nb[p].data(), nb[p].ld());
        }
      }
    });
  }
  parallelFor(static_cast<int>(leaves.size()), threaded, [&](int t) {
    const int i = leaves[t];
    const Cell &c = Tr.cell(L, i);
    const int n = c.size();
    T *yi = y + (c.begin - off);
    for (int j = 0; j < k; j++)
      for (int q = 0; q < n; q++) yi[q + static_cast<size_t>(j) * ldy] = beta == T(0) ? T(0) : beta * yi[q + static_cast<size_t>(j) * ldy];
    if (L >= 1) {
      const CellBasis &B = s.basis(L, i, outRow);
      if (B.rank() > 0) {
        Matrix<double> ypd(B.rank(), k), tmp(n, k);
        for (size_t q = 0; q < ypd.size(); q++) ypd.data()[q] = yh[L][i].data()[q];
        blas::gemm('N', 'N', n, k, B.rank(), 1.0, B.U.data(), B.U.ld(), ypd.data(), ypd.ld(), 0.0, tmp.data(), tmp.ld());
        for (int j = 0; j < k; j++)
          for (int q = 0; q < n; q++) yi[q + static_cast<size_t>(j) * ldy] += static_cast<T>(tmp(q, j));
      }
    }
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
      const int j = N.col[p];
      const Matrix<T> &xj = xl[j];
      const Matrix<T> *A;
      char op = 'T';
      if (v.jit()) { // alpha A_ij x_j (+ diag(d) x_i on the diagonal block)
        const Matrix<double> &z = mirrored(L, i, j) ? nb[N.find(j, i)] : na[p];
        const double al = static_cast<double>(v.alpha_);
        const int o = c.begin - off;
        for (int q = 0; q < k; q++)
          for (int t2 = 0; t2 < n; t2++) {
            double add = al * z(t2, q);
            if (j == i && !v.diag_.empty()) add += static_cast<double>(v.diag_[o + t2]) * static_cast<double>(xj(t2, q));
            yi[t2 + static_cast<size_t>(q) * ldy] += static_cast<T>(add);
          }
        continue;
      }
      if (!transpose || s.symmetric()) {
        const bool here = s.storedAtRow(L, i, j);
        A = here ? &v.near_[p] : &v.near_[N.find(j, i)];
        op = here ? 'N' : 'T';
      } else A = lay.mine(L, j) ? &v.near_[N.find(j, i)] : &v.nearT_[p];
      blas::gemm(op, 'N', n, k, xj.rows(), T(1), A->data(), A->ld(), xj.data(), xj.ld(), T(1), yi, ldy);
    }
  });
}

template void h2Multiply<double>(const H2Structure &, const H2Values<double> &, bool, int, const double *, int, double, double *, int);
template void h2Multiply<float>(const H2Structure &, const H2Values<float> &, bool, int, const float *, int, float, float *, int);

} // namespace h2ulv
