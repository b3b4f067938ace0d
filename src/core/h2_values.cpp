// Stage 2 of the pipeline, the values of an H^2 matrix (src/core/h2matrix.hpp): leaf near blocks
// and couplings, stored or evaluated on the fly, and the checked evaluation of entry blocks that
// the bases and the product share (src/core/h2_impl.hpp).
#include "h2_impl.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

namespace h2ulv {

namespace {

// an evaluated m x n block (leading dimension m) must be finite: name the first bad entry
void checkFinite(const double *B, int m, int n, const int *rows, const int *cols, const ClusterTree &tree)
{
  if (allFinite(B, static_cast<size_t>(m) * n)) return;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++)
      if (!std::isfinite(B[i + static_cast<size_t>(j) * m])) {
        std::ostringstream os;
        os << "the matrix entries are not finite: A(" << tree.perm()[rows[i]] << ", " << tree.perm()[cols[j]] << ") = " << B[i + static_cast<size_t>(j) * m] << " (check the kernel or entry function)";
        throw Error(ERR_NUMERIC, os.str());
      }
}
void checkFinite(const Matrix<double> &B, const std::vector<int> &rows, const std::vector<int> &cols, const ClusterTree &tree)
{
  checkFinite(B.data(), B.rows(), B.cols(), rows.data(), cols.data(), tree);
}

} // namespace

namespace detail {

const double *evalScratch(const EntryEvaluator &ev, const ClusterTree &tree, const int *rows, int m, const int *cols, int n)
{
  thread_local std::vector<double> buf;
  const size_t sz = static_cast<size_t>(m) * n;
  if (buf.size() < sz) buf.resize(sz);
  if (sz) ev.eval(rows, m, cols, n, buf.data(), std::max(1, m));
  checkFinite(buf.data(), m, n, rows, cols, tree);
  return buf.data();
}

Matrix<double> evalBlock(const EntryEvaluator &ev, const ClusterTree &tree, const std::vector<int> &rows, const std::vector<int> &cols)
{
  const int m = static_cast<int>(rows.size()), n = static_cast<int>(cols.size());
  Matrix<double> B = ev.writesWhole() ? Matrix<double>::uninitialized(m, n) : Matrix<double>(m, n);
  if (!rows.empty() && !cols.empty()) ev.eval(rows.data(), B.rows(), cols.data(), B.cols(), B.data(), B.ld());
  checkFinite(B, rows, cols, tree);
  return B;
}

std::vector<int> cellPoints(const Cell &c)
{
  std::vector<int> v(c.size());
  std::iota(v.begin(), v.end(), c.begin);
  return v;
}

} // namespace detail

using detail::cellPoints;
using detail::evalBlock;

// ------------------------------------------------------------------------------------------------
// Values: leaf near blocks and couplings S_ij = R_i A(skel_i, skel_j) R_j^T
// ------------------------------------------------------------------------------------------------
Matrix<double> couplingBlock(const EntryEvaluator &ev, const ClusterTree &T, const CellBasis &bi, const CellBasis &bj)
{
  Matrix<double> S = evalBlock(ev, T, bi.skel, bj.skel);
  const int ri = bi.rank(), rj = bj.rank();
  blas::trmm('L', 'U', 'N', 'N', ri, rj, 1.0, bi.R.data(), bi.R.ld(), S.data(), S.ld());
  blas::trmm('R', 'U', 'T', 'N', ri, rj, 1.0, bj.R.data(), bj.R.ld(), S.data(), S.ld());
  return S;
}
namespace {
template <typename T>
Matrix<T> castMatrix(const Matrix<double> &A)
{
  if constexpr (std::is_same<T, double>::value) return A;
  else {
    Matrix<T> B(A.rows(), A.cols());
    for (size_t t = 0; t < A.size(); t++) B.data()[t] = static_cast<T>(A.data()[t]);
    return B;
  }
}
} // namespace

template <typename T>
void H2Values<T>::build(const H2Structure &s, const EntryEvaluator &ev)
{
  const ClusterTree &Tr = s.tree();
  const Layout &lay = s.layout();
  const int L = Tr.levels();
  const bool threaded = s.options().threaded && ev.threadSafe();
  const PairList &N = Tr.nearList(L);
  near_.assign(N.nnz(), Matrix<T>());
  if (!s.symmetric()) nearT_.assign(N.nnz(), Matrix<T>());
  const auto &leaves = lay.owned(L);
  parallelFor(static_cast<int>(leaves.size()), threaded, [&](int t) {
    const int i = leaves[t];
    const auto pi = cellPoints(Tr.cell(L, i));
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
      const int j = N.col[p];
      const auto pj = cellPoints(Tr.cell(L, j));
      if (s.storedAtRow(L, i, j)) near_[p] = castMatrix<T>(evalBlock(ev, Tr, pi, pj));
      if (!s.symmetric() && !lay.mine(L, j)) nearT_[p] = castMatrix<T>(evalBlock(ev, Tr, pj, pi));
    }
  });
  far_.assign(L + 1, {});
  farT_.assign(L + 1, {});
  for (int l = 1; l <= L; l++) {
    const PairList &F = Tr.farList(l);
    far_[l].assign(F.nnz(), Matrix<T>());
    if (!s.symmetric()) farT_[l].assign(F.nnz(), Matrix<T>());
    const auto &mine = lay.owned(l);
    parallelFor(static_cast<int>(mine.size()), threaded, [&](int t) {
      const int i = mine[t];
      for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) {
        const int j = F.col[p];
        if (s.storedAtRow(l, i, j)) far_[l][p] = castMatrix<T>(couplingBlock(ev, Tr, s.basis(l, i, true), s.basis(l, j, false)));
        if (!s.symmetric() && !lay.mine(l, j)) farT_[l][p] = castMatrix<T>(couplingBlock(ev, Tr, s.basis(l, j, true), s.basis(l, i, false)));
      }
    });
  }
}

template <typename T>
void H2Values<T>::buildJit(const H2Structure &s, std::shared_ptr<const EntryEvaluator> ev)
{
  *this = H2Values<T>();
  ev_ = std::move(ev);
  alpha_ = 1;
  diag_.assign(s.layout().pointEnd() - s.layout().pointBegin(), T(0)); // allocated now: shifts do not change the memory
}

template <typename T>
size_t H2Values<T>::estimateBytes(const H2Structure &s)
{
  const ClusterTree &Tr = s.tree();
  const Layout &lay = s.layout();
  const int L = Tr.levels();
  size_t b = 0;
  const PairList &N = Tr.nearList(L);
  for (int i : lay.owned(L))
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
      const int j = N.col[p];
      const size_t e = static_cast<size_t>(Tr.cell(L, i).size()) * Tr.cell(L, j).size();
      if (s.storedAtRow(L, i, j)) b += e;
      if (!s.symmetric() && !lay.mine(L, j)) b += e;
    }
  for (int l = 1; l <= L; l++) {
    const PairList &F = Tr.farList(l);
    for (int i : lay.owned(l))
      for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) {
        const int j = F.col[p];
        const size_t e = static_cast<size_t>(s.rank(l, i, true)) * s.rank(l, j, false);
        if (s.storedAtRow(l, i, j)) b += e;
        if (!s.symmetric() && !lay.mine(l, j)) b += e;
      }
  }
  return b * sizeof(T);
}

template <typename T>
void H2Values<T>::block(const H2Structure &s, int l, int i, int j, bool nearb, Matrix<T> &B) const
{
  const ClusterTree &Tr = s.tree();
  const Layout &lay = s.layout();
  if (ev_) { // evaluate A_ij (or a coupling) from the entries, scaled
    const Matrix<double> A = nearb ? evalBlock(*ev_, Tr, cellPoints(Tr.cell(l, i)), cellPoints(Tr.cell(l, j))) : couplingBlock(*ev_, Tr, s.basis(l, i, true), s.basis(l, j, false));
    B.resize(A.rows(), A.cols());
    for (size_t t = 0; t < A.size(); t++) B.data()[t] = static_cast<T>(alpha_ * A.data()[t]);
    if (nearb && i == j && !diag_.empty()) {
      const int o = Tr.cell(l, i).begin - lay.pointBegin();
      for (int t = 0; t < B.rows(); t++) B(t, t) += diag_[o + t];
    }
    return;
  }
  const PairList &P = nearb ? Tr.nearList(l) : Tr.farList(l);
  const std::vector<Matrix<T>> &st = nearb ? near_ : far_[l];
  const std::vector<Matrix<T>> &stT = nearb ? nearT_ : farT_[l];
  const Matrix<T> *src;
  bool tr = false;
  if (lay.mine(l, i) && s.storedAtRow(l, i, j)) src = &st[P.find(i, j)];
  else if (lay.mine(l, j) && s.storedAtRow(l, j, i)) src = &st[P.find(j, i)], tr = s.symmetric();
  else if (!s.symmetric() && lay.mine(l, j)) src = &stT[P.find(j, i)];
  else throw Error(ERR_INTERNAL, "H2 block not held by this process");
  if (!tr) B = *src;
  else {
    B.resize(src->cols(), src->rows());
    for (int c = 0; c < src->cols(); c++)
      for (int r = 0; r < src->rows(); r++) B(c, r) = (*src)(r, c);
  }
}

template <typename T>
size_t H2Values<T>::bytes() const
{
  size_t b = diag_.size() * sizeof(T);
  for (const auto *v : {&near_, &nearT_})
    for (const auto &m : *v) b += m.bytes();
  for (const auto *v : {&far_, &farT_})
    for (const auto &lev : *v)
      for (const auto &m : lev) b += m.bytes();
  return b;
}

template <typename T>
void H2Values<T>::scale(T a)
{
  alpha_ *= a;
  for (auto &x : diag_) x *= a;
  for (auto *v : {&near_, &nearT_})
    for (auto &m : *v)
      for (auto &x : m.storage()) x *= a;
  for (auto *v : {&far_, &farT_})
    for (auto &lev : *v)
      for (auto &m : lev)
        for (auto &x : m.storage()) x *= a;
}

template <typename T>
void H2Values<T>::axpy(T a, const H2Values &X)
{
  if (jit() || X.jit()) {
    if (ev_ != X.ev_) throw Error(ERR_SUPPORT, "MatAXPY with on-the-fly (-mat_h2_storage jit) values needs both matrices to have the same entries (a duplicate or copy); store the values instead");
    alpha_ += a * X.alpha_;
    if (!X.diag_.empty()) {
      if (diag_.empty()) diag_.assign(X.diag_.size(), T(0));
      for (size_t t = 0; t < diag_.size(); t++) diag_[t] += a * X.diag_[t];
    }
    return;
  }
  auto add = [a](std::vector<Matrix<T>> &y, const std::vector<Matrix<T>> &x) {
    for (size_t p = 0; p < y.size(); p++)
      for (size_t t = 0; t < y[p].size(); t++) y[p].data()[t] += a * x[p].data()[t];
  };
  add(near_, X.near_);
  add(nearT_, X.nearT_);
  for (size_t l = 0; l < far_.size(); l++) {
    add(far_[l], X.far_[l]);
    add(farT_[l], X.farT_[l]);
  }
}

template <typename T>
void H2Values<T>::shiftDiagonal(const H2Structure &s, const T *d, T alpha)
{
  const ClusterTree &Tr = s.tree();
  const int L = Tr.levels(), off = s.layout().pointBegin();
  if (jit()) {
    const int n = s.layout().pointEnd() - off;
    if (diag_.empty()) diag_.assign(n, T(0));
    for (int t = 0; t < n; t++) diag_[t] += alpha * (d ? d[t] : T(1));
    return;
  }
  const PairList &N = Tr.nearList(L);
  for (int i : s.layout().owned(L)) {
    int p = N.find(i, i);
    const Cell &c = Tr.cell(L, i);
    for (int t = 0; t < c.size(); t++) near_[p](t, t) += alpha * (d ? d[c.begin - off + t] : T(1));
  }
}

template <typename T>
void H2Values<T>::getDiagonal(const H2Structure &s, T *d) const
{
  const ClusterTree &Tr = s.tree();
  const int L = Tr.levels(), off = s.layout().pointBegin();
  const PairList &N = Tr.nearList(L);
  for (int i : s.layout().owned(L)) {
    const Cell &c = Tr.cell(L, i);
    if (jit()) {
      for (int t = 0; t < c.size(); t++) {
        const int q = c.begin + t;
        double a;
        ev_->eval(&q, 1, &q, 1, &a, 1);
        d[c.begin - off + t] = static_cast<T>(alpha_ * a) + (diag_.empty() ? T(0) : diag_[c.begin - off + t]);
      }
      continue;
    }
    int p = N.find(i, i);
    for (int t = 0; t < c.size(); t++) d[c.begin - off + t] = near_[p](t, t);
  }
}

template <typename T>
double H2Values<T>::frobeniusSquared(const H2Structure &s) const
{
  // orthonormal bases: ||V S W^T||_F = ||S||_F; a block stored once for a symmetric pair counts twice
  const ClusterTree &Tr = s.tree();
  double sum = 0;
  auto acc = [&](int l, const PairList &lst, const std::vector<Matrix<T>> &blocks, bool nearb) {
    for (int i : s.layout().owned(l))
      for (int p = lst.ptr[i]; p < lst.ptr[i + 1]; p++) {
        const int j = lst.col[p];
        if (!s.storedAtRow(l, i, j)) continue;
        double f = 0;
        if (jit()) {
          Matrix<T> B;
          block(s, l, i, j, nearb, B);
          for (const auto &x : B.storage()) f += static_cast<double>(x) * x;
        } else
          for (const auto &x : blocks[p].storage()) f += static_cast<double>(x) * x;
        // symmetric storage: (i,j) with j > i owned also stands for (j,i); ghost pairs are stored on both sides
        sum += (s.symmetric() && j > i && s.layout().mine(l, j)) ? 2 * f : f;
      }
  };
  static const std::vector<Matrix<T>> none;
  acc(Tr.levels(), Tr.nearList(Tr.levels()), jit() ? none : near_, true);
  for (int l = 1; l <= Tr.levels(); l++) acc(l, Tr.farList(l), jit() ? none : far_[l], false);
  return sum;
}

template <typename T>
template <typename U>
H2Values<U> H2Values<T>::convert() const
{
  H2Values<U> r;
  auto cv = [](const std::vector<Matrix<T>> &a) {
    std::vector<Matrix<U>> b(a.size());
    for (size_t p = 0; p < a.size(); p++) {
      b[p].resize(a[p].rows(), a[p].cols());
      for (size_t t = 0; t < a[p].size(); t++) b[p].data()[t] = static_cast<U>(a[p].data()[t]);
    }
    return b;
  };
  r.ev_ = ev_;
  r.alpha_ = static_cast<U>(alpha_);
  r.diag_.assign(diag_.begin(), diag_.end());
  r.near_ = cv(near_);
  r.nearT_ = cv(nearT_);
  for (const auto &l : far_) r.far_.push_back(cv(l));
  for (const auto &l : farT_) r.farT_.push_back(cv(l));
  return r;
}


template class H2Values<double>;
template class H2Values<float>;
template H2Values<float> H2Values<double>::convert<float>() const;

} // namespace h2ulv
