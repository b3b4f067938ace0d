// Stage 2 of the pipeline, the product of an H^2 matrix (src/core/h2matrix.hpp) with k vectors:
// upward pass, couplings, downward pass, leaves (leaf bases and near field), and its flop count.
#include "h2_impl.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <numeric>

namespace h2ulv {

using detail::evalScratch;

namespace {

// exchange buffers are double; for float, stage through double
template <typename T, typename SizeF>
void exchangeCells(const Exchange &ex, std::vector<Matrix<T>> &cells, SizeF sizef)
{
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
}

// One product y = beta y + op(A) x: the sides, the leaf values of x (owned and ghost leaves), and
// per level the cells' xhat (input side) and yhat (output side).  The passes below run in order.
template <typename T>
struct Product {
  Product(const H2Structure &s_, const H2Values<T> &v_, bool transpose_, int k_);
  const H2Structure &s;
  const H2Values<T> &v;
  const ClusterTree &Tr;
  const Layout &lay;
  const int L, off, k;
  const bool threaded, transpose;
  // input side bases: columns (forward) or rows (transpose); output side the other one
  const bool inRow, outRow;
  const bool sym, tr;
  std::vector<Matrix<T>> xl;
  std::vector<std::vector<Matrix<T>>> xh, yh;
  // a pair (i, j) of owned cells with j < i of a symmetric matrix is evaluated as (j, i)
  bool mirrored(int l, int i, int j) const { return sym && lay.mine(l, j) && j < i; }
  void gatherLeaves(const T *x, int ldx);
  void upward();
  void couplings();
  void couplingsStored(int l);
  void couplingsJit(int l);
  Matrix<double> childShare(int l, int c) const;
  void downward();
  void nearJit(std::vector<Matrix<double>> &na, std::vector<Matrix<double>> &nb) const;
  void leaves(T beta, T *y, int ldy, const std::vector<Matrix<double>> &na, const std::vector<Matrix<double>> &nb) const;
  void leafBasis(int i, T *yi, int ldy) const;
  void nearBlocks(int i, T *yi, int ldy, const std::vector<Matrix<double>> &na, const std::vector<Matrix<double>> &nb) const;
};

template <typename T>
Product<T>::Product(const H2Structure &s_, const H2Values<T> &v_, bool transpose_, int k_) :
  s(s_), v(v_), Tr(s_.tree()), lay(s_.layout()), L(Tr.levels()), off(lay.pointBegin()), k(k_), threaded(s_.options().threaded && (!v_.jit() || v_.ev_->threadSafe())), transpose(transpose_), inRow(transpose_),
  outRow(!transpose_), sym(s_.symmetric()), tr(transpose_ && !s_.symmetric()), xh(L + 1), yh(L + 1)
{
}

// leaf values of x for owned and ghost leaves (partner exchange on the leaf level)
template <typename T>
void Product<T>::gatherLeaves(const T *x, int ldx)
{
  xl.resize(Tr.ncells(L));
  for (int i : lay.owned(L)) {
    const Cell &c = Tr.cell(L, i);
    xl[i].resize(c.size(), k);
    for (int j = 0; j < k; j++) std::copy(x + (c.begin - off) + static_cast<size_t>(j) * ldx, x + (c.end - off) + static_cast<size_t>(j) * ldx, xl[i].data() + static_cast<size_t>(j) * c.size());
  }
  for (int j = 0; j < Tr.ncells(L); j++)
    if (!lay.mine(L, j) && xl[j].empty()) xl[j].resize(Tr.cell(L, j).size(), k);
  exchangeCells(s.partners(L), xl, [&](int c) { return Tr.cell(L, c).size() * k; });
}

// upward pass: xhat_i = U_i^T [x_i or children's xhat], level by level from the leaves (owned
// cells threaded), then the partners' xhat of every level
template <typename T>
void Product<T>::upward()
{
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
    exchangeCells(s.up(l), xh[l], [&](int c) { return s.rank(l, c, inRow) * k; });
  }
  for (int l = L; l >= 1; l--) exchangeCells(s.partners(l), xh[l], [&](int c) { return s.rank(l, c, inRow) * k; });
}

// couplings: yhat_i = sum_j op(S)_ij xhat_j on every level, stored or on the fly
template <typename T>
void Product<T>::couplings()
{
  for (int l = 1; l <= L; l++) {
    for (int c = 0; c < Tr.ncells(l); c++) yh[l][c].resize(s.rank(l, c, outRow), k);
    if (v.jit()) couplingsJit(l);
    else couplingsStored(l);
  }
}

// the stored couplings of level l: each owned cell sums its far list in order (threaded over cells)
template <typename T>
void Product<T>::couplingsStored(int l)
{
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

// On the fly (-mat_h2_storage jit) the couplings S_ij = R_i A(skel_i, skel_j) R_j^T are never
// formed: the triangular factors go to the vectors instead (x~_j = R_j^T xhat_j once per cell,
// yhat_i = R_i y~_i), so a pair costs its r_i r_j entries and one product, and a pair of a
// symmetric matrix is evaluated once for both its cells (likewise the near blocks).  Every pair
// writes its own slot and each cell sums its slots in list order: the result does not depend on
// the thread schedule.  A pair (i, j) of owned cells with j < i is evaluated as (j, i).
template <typename T>
void Product<T>::couplingsJit(int l)
{
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
}

// the share of child c (level l) in its parent's U yhat: the parent's U rows of c times yhat
template <typename T>
Matrix<double> Product<T>::childShare(int l, int c) const
{
  const int pi = c / 2;
  const CellBasis &B = s.basis(l - 1, pi, outRow);
  const int o = c == 2 * pi ? 0 : s.rank(l, 2 * pi, outRow), rc = s.rank(l, c, outRow);
  Matrix<double> ypd(B.rank(), k), tmp(rc, k);
  for (size_t q = 0; q < ypd.size(); q++) ypd.data()[q] = yh[l - 1][pi].data()[q];
  blas::gemm('N', 'N', rc, k, B.rank(), 1.0, B.U.data() + o, B.U.ld(), ypd.data(), ypd.ld(), 0.0, tmp.data(), tmp.ld());
  return tmp;
}

// downward pass: children's yhat += U_i yhat_i, level by level from the root (the leaf level's
// U_i yhat_i goes to y in leaves())
template <typename T>
void Product<T>::downward()
{
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
      exchangeCells(s.down(l), in, [&](int c) { return s.rank(l, c, outRow) * k; });
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
}

// on the fly: each near pair's product in its own slot first (na: for row i, nb: the mirrored
// product of a symmetric pair, for row j), threaded over the owned leaves
template <typename T>
void Product<T>::nearJit(std::vector<Matrix<double>> &na, std::vector<Matrix<double>> &nb) const
{
  const PairList &N = Tr.nearList(L);
  const auto &mine = lay.owned(L);
  std::vector<Matrix<double>> xd(Tr.ncells(L)); // x on the leaves, in double
  for (int j = 0; j < Tr.ncells(L); j++)
    if (!xl[j].empty()) xd[j] = Matrix<double>(xl[j].rows(), k, xl[j].data());
  na.resize(N.nnz());
  if (sym) nb.resize(N.nnz());
  parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) {
    const int i = mine[t];
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

// leaves: y_i = beta y_i + U_i yhat_i + sum_j op(A)_ij x_j, threaded over the owned leaves
template <typename T>
void Product<T>::leaves(T beta, T *y, int ldy, const std::vector<Matrix<double>> &na, const std::vector<Matrix<double>> &nb) const
{
  const auto &mine = lay.owned(L);
  parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) {
    const int i = mine[t];
    const Cell &c = Tr.cell(L, i);
    const int n = c.size();
    T *yi = y + (c.begin - off);
    for (int j = 0; j < k; j++)
      for (int q = 0; q < n; q++) yi[q + static_cast<size_t>(j) * ldy] = beta == T(0) ? T(0) : beta * yi[q + static_cast<size_t>(j) * ldy];
    if (L >= 1) leafBasis(i, yi, ldy);
    nearBlocks(i, yi, ldy, na, nb);
  });
}

// y_i += U_i yhat_i for leaf i
template <typename T>
void Product<T>::leafBasis(int i, T *yi, int ldy) const
{
  const int n = Tr.cell(L, i).size();
  const CellBasis &B = s.basis(L, i, outRow);
  if (B.rank() > 0) {
    Matrix<double> ypd(B.rank(), k), tmp(n, k);
    for (size_t q = 0; q < ypd.size(); q++) ypd.data()[q] = yh[L][i].data()[q];
    blas::gemm('N', 'N', n, k, B.rank(), 1.0, B.U.data(), B.U.ld(), ypd.data(), ypd.ld(), 0.0, tmp.data(), tmp.ld());
    for (int j = 0; j < k; j++)
      for (int q = 0; q < n; q++) yi[q + static_cast<size_t>(j) * ldy] += static_cast<T>(tmp(q, j));
  }
}

// y_i += sum_j op(A)_ij x_j for leaf i, in near list order (stored blocks, or the slots of nearJit)
template <typename T>
void Product<T>::nearBlocks(int i, T *yi, int ldy, const std::vector<Matrix<double>> &na, const std::vector<Matrix<double>> &nb) const
{
  const PairList &N = Tr.nearList(L);
  const Cell &c = Tr.cell(L, i);
  const int n = c.size();
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
}

} // namespace

// ------------------------------------------------------------------------------------------------
// Matrix-vector product (k vectors): upward pass, couplings, downward pass, near field
// ------------------------------------------------------------------------------------------------
template <typename T>
void h2Multiply(const H2Structure &s, const H2Values<T> &v, bool transpose, int k, const T *x, int ldx, T beta, T *y, int ldy)
{
  static_assert(std::is_same<T, double>::value || std::is_same<T, float>::value, "real types only");
  Product<T> P(s, v, transpose, k);
  P.gatherLeaves(x, ldx);
  P.upward();
  P.couplings();
  P.downward();
  std::vector<Matrix<double>> na, nb;
  if (v.jit()) P.nearJit(na, nb);
  P.leaves(beta, y, ldy, na, nb);
}

double h2MultiplyFlops(const H2Structure &s)
{
  const ClusterTree &T = s.tree();
  const int L = T.levels();
  double flops = 0;
  const auto &N = T.nearList(L);
  for (int i : s.layout().owned(L))
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) flops += 2.0 * T.cell(L, i).size() * T.cell(L, N.col[p]).size();
  for (int l = 1; l <= L; l++) {
    const auto &F = T.farList(l);
    for (int i : s.layout().owned(l)) {
      const auto &B = s.basis(l, i, true);
      flops += 4.0 * B.U.rows() * B.rank();
      for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) flops += 2.0 * s.rank(l, i, true) * s.rank(l, F.col[p], false);
    }
  }
  return flops;
}

template void h2Multiply<double>(const H2Structure &, const H2Values<double> &, bool, int, const double *, int, double, double *, int);
template void h2Multiply<float>(const H2Structure &, const H2Values<float> &, bool, int, const float *, int, float, float *, int);

} // namespace h2ulv
