#include "ulv.hpp"

#include <array>
#include "parallel.hpp"

#include <chrono>
#include <cmath>
#include <numeric>
#include <sstream>

namespace h2ulv {

namespace {
double now()
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
template <typename U, typename V>
Matrix<U> cast(const Matrix<V> &A)
{
  Matrix<U> B(A.rows(), A.cols());
  for (size_t t = 0; t < A.size(); t++) B.data()[t] = static_cast<U>(A.data()[t]);
  return B;
}
// sub-block copy
template <typename U>
Matrix<U> sub(const Matrix<U> &A, int i0, int m, int j0, int n)
{
  Matrix<U> B(m, n);
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) B(i, j) = A(i0 + i, j0 + j);
  return B;
}
std::vector<int> cellPts(const Cell &c)
{
  std::vector<int> v(c.size());
  std::iota(v.begin(), v.end(), c.begin);
  return v;
}
} // namespace

// Factors of one level.  Cell k: n = r + p, transformed unknowns [sigma (r) ; rho (p)].
template <typename T>
struct UlvFactorization<T>::Level {
  std::vector<int> n, r, p;
  std::vector<Matrix<T>> Qr, Qc;         // n x n orthogonal; Qc empty when symmetric
  std::vector<Matrix<T>> D;              // pivot factor: Cholesky L (lower) or LU
  std::vector<std::vector<int>> piv;     // LU pivots (empty: Cholesky)
  std::vector<Matrix<T>> B, C;           // per near pair (k,j): B = A^(rho_k, sigma_j) (Cholesky cells: L^{-1} B)
                                         //                   (i,k): C = A^(sigma_i, rho_k) (nonsymmetric only)
  bool chol(int k) const { return piv[k].empty(); }
  size_t bytes() const
  {
    size_t b = 0;
    for (const auto *v : {&Qr, &Qc, &D, &B, &C})
      for (const auto &m : *v) b += m.bytes();
    return b;
  }
};

template <typename T>
UlvFactorization<T>::~UlvFactorization() = default;

template <typename T>
UlvFactorization<T>::UlvFactorization(MPI_Comm comm, std::shared_ptr<const ClusterTree> tree, const EntryEvaluator &ev, const UlvOptions &opt, double alpha, const std::vector<double> &dshift) :
  comm_(comm), tree_(std::move(tree)), ev_(&ev), opt_(opt), alpha_(alpha), dshift_(dshift)
{
  int size;
  MPI_Comm_size(comm, &size);
  if (size > 1) throw Error(ERR_ARG, "the H2-ULV factorization runs on one process in this version (use -pc_type bjacobi -sub_pc_type h2ulv, or one process)");
  const ClusterTree &Tr = *tree_;
  const int L = Tr.levels();
  if (static_cast<int>(dshift_.size()) != Tr.size()) dshift_.assign(Tr.size(), 0.0);
  opt_.basis.fullQ = true;
  levels_.resize(L + 1);
  A_.resize(L + 1);
  Kfar_.resize(L + 1);
  stats_.assign(L + 1, UlvLevelStats());
  const double t0 = now();
  double tf = 0;
  // level-by-level: before the bases of level l, factorize level l+1 (its Schur complements give
  // the generators of level l); the leaf level starts from the kernel's near blocks
  auto before = [&](int l, const H2Structure &self) {
    S_ = &self;
    double a = now();
    if (l == L) leafBlocks();
    else if (status_.ok) factorLevel(l + 1);
    // stop here when the cells of level l are few and small enough to factor as one dense block
    // (the top levels are all near each other: their bases would be nearly full, and building
    // them costs more than the dense factorization)
    if (l < L && opt_.maxRoot > 0) {
      long n = 0;
      for (int i = 0; i < Tr.ncells(l + 1); i++) n += levels_[l + 1]->r[i];
      if (n <= opt_.maxRoot) {
        top_ = l;
        tf += now() - a;
        return false;
      }
    }
    if (opt_.fillin == FillIn::Generator && status_.ok) factorSelfBlocks(l);
    tf += now() - a;
    return true;
  };
  ExtraSampleFn extra = nullptr;
  if (opt_.fillin == FillIn::Generator) extra = [this](int l, int i, const std::vector<int> &cand, bool row) { return generators(l, i, cand, row); };
  else if (opt_.fillin == FillIn::NearField) extra = [this](int l, int i, const std::vector<int> &cand, bool row) { return nearSample(l, i, cand, row); };
  if (L == 0) leafBlocks();
  structure_ = std::make_shared<H2Structure>(comm, tree_, ev, opt_.basis, extra, before);
  S_ = structure_.get();
  std::vector<Matrix<double>>().swap(selfLU_);
  std::vector<std::vector<int>>().swap(selfPiv_);
  double a = now();
  if (top_ == 0 && L >= 1 && status_.ok) factorLevel(1);
  factorRoot();
  tf += now() - a;
  tfactor_ = tf;
  tbasis_ = now() - t0 - tf;
}

// A^(L): alpha K(X_i, X_j) + diag(d) for the leaf near pairs (K kept for refactorizations)
template <typename T>
void UlvFactorization<T>::leafBlocks()
{
  const ClusterTree &Tr = *tree_;
  const int L = Tr.levels();
  const PairList &N = Tr.nearList(L);
  const bool threaded = opt_.basis.threaded && ev_->threadSafe();
  if (Knear_.empty()) {
    Knear_.resize(N.nnz());
    parallelFor(Tr.ncells(L), threaded, [&](int i) {
      const auto pi = cellPts(Tr.cell(L, i));
      for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
        const auto pj = cellPts(Tr.cell(L, N.col[p]));
        Matrix<double> B(static_cast<int>(pi.size()), static_cast<int>(pj.size()));
        ev_->eval(pi.data(), B.rows(), pj.data(), B.cols(), B.data(), B.ld());
        for (size_t t = 0; t < B.size(); t++)
          if (!std::isfinite(B.data()[t])) throw Error(ERR_NUMERIC, "the matrix entries are not finite (check the kernel or entry function)");
        Knear_[p] = std::move(B);
      }
    });
  }
  A_[L].resize(N.nnz());
  for (int i = 0; i < Tr.ncells(L); i++) {
    const Cell &c = Tr.cell(L, i);
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
      Matrix<double> B = Knear_[p];
      for (auto &x : B.storage()) x *= alpha_;
      if (N.col[p] == i)
        for (int t = 0; t < c.size(); t++) B(t, t) += dshift_[c.begin + t];
      A_[L][p] = std::move(B);
    }
  }
}

// LU of every diagonal block A^(l)_kk, once per level (shared by the generators of all neighbours)
template <typename T>
void UlvFactorization<T>::factorSelfBlocks(int l)
{
  const ClusterTree &Tr = *tree_;
  const PairList &N = Tr.nearList(l);
  const int nc = Tr.ncells(l);
  selfLU_.assign(nc, Matrix<double>());
  selfPiv_.assign(nc, std::vector<int>());
  parallelFor(nc, opt_.basis.threaded, [&](int k) {
    Matrix<double> F = A_[l][N.find(k, k)];
    std::vector<int> ipiv(std::max(1, F.rows()));
    if (blas::getrf(F.rows(), F.data(), F.ld(), ipiv.data()) == 0) {
      selfLU_[k] = std::move(F);
      selfPiv_[k] = std::move(ipiv);
    }
  });
}

// Fill-in generators of cell i on level l: for each near k != i, the columns of
// A_ik A_kk^{-1} (rows) or (A_kk^{-1} A_ki)^T (columns), mapped to the candidate points by W^{-1}
// and scaled to the Frobenius norm of the far-field sample (h2ulv-algorithm.md §4.3b).
template <typename T>
Matrix<double> UlvFactorization<T>::generators(int l, int i, const std::vector<int> &cand, bool row)
{
  const ClusterTree &Tr = *tree_;
  const PairList &N = Tr.nearList(l);
  const int n = static_cast<int>(cand.size());
  const auto &A = A_[l];
  if (A.empty()) return Matrix<double>(n, 0); // the level below failed to factor: no generators
  int tot = 0;
  for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++)
    if (N.col[p] != i) tot += A[p].cols();
  Matrix<double> X(n, tot);
  if (tot == 0) return X;
  int off = 0;
  for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
    const int k = N.col[p];
    if (k == i) continue;
    const int nk = A[N.find(k, k)].rows();
    const Matrix<double> &F = selfLU_[k];
    const std::vector<int> &ipiv = selfPiv_[k];
    if (ipiv.empty()) { // singular neighbour block: fall back to the coupling itself
      const Matrix<double> &Aik = row ? A[p] : A[N.find(k, i)];
      for (int j = 0; j < nk; j++)
        for (int t = 0; t < n; t++) X(t, off + j) = row ? Aik(t, j) : Aik(j, t);
      off += nk;
      continue;
    }
    // rows: Y = A_kk^{-T} A_ik^T = (A_ik A_kk^{-1})^T ; columns: Y = A_kk^{-1} A_ki
    Matrix<double> Y(nk, n);
    if (row) {
      const Matrix<double> &Aik = A[p];
      for (int j = 0; j < nk; j++)
        for (int t = 0; t < n; t++) Y(j, t) = Aik(t, j);
      blas::getrs('T', nk, n, F.data(), F.ld(), ipiv.data(), Y.data(), Y.ld());
    } else {
      Y = A[N.find(k, i)];
      blas::getrs('N', nk, n, F.data(), F.ld(), ipiv.data(), Y.data(), Y.ld());
    }
    for (int j = 0; j < nk; j++)
      for (int t = 0; t < n; t++) X(t, off + j) = Y(j, t);
    off += nk;
  }
  // sigma coordinates -> candidate points: X <- W^{-1} X, W = diag(R_c1, R_c2)
  if (l < Tr.levels()) {
    const CellBasis &c1 = S_->basis(l + 1, 2 * i, row), &c2 = S_->basis(l + 1, 2 * i + 1, row);
    const int r1 = c1.rank(), r2 = c2.rank();
    if (r1 > 0) blas::trsm('L', 'U', 'N', 'N', r1, tot, 1.0, c1.R.data(), c1.R.ld(), X.data(), X.ld());
    if (r2 > 0) blas::trsm('L', 'U', 'N', 'N', r2, tot, 1.0, c2.R.data(), c2.R.ld(), X.data() + r1, X.ld());
  }
  // balance against the far field sample: same Frobenius norm
  double fx = 0, fg = 0;
  for (double v : X.storage()) fx += v * v;
  {
    // far sample norm estimated from the kernel on a few far points is not available here; use the
    // magnitude of the near block of the cell itself as the reference scale of the level
    const Matrix<double> &Aii = A[N.find(i, i)];
    for (double v : Aii.storage()) fg += v * v;
  }
  if (fx > 0 && fg > 0) {
    double s = std::sqrt(fg / fx);
    for (double &v : X.storage()) v *= s;
  }
  return X;
}

// Cheap mode: kernel values between the candidates and sample points of the near cells
template <typename T>
Matrix<double> UlvFactorization<T>::nearSample(int l, int i, const std::vector<int> &cand, bool row)
{
  const ClusterTree &Tr = *tree_;
  const PairList &N = Tr.nearList(l);
  std::vector<int> z;
  const size_t q = std::max<size_t>(32, opt_.basis.nsamples / 12);
  for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
    const int k = N.col[p];
    if (k == i) continue;
    const Cell &c = Tr.cell(l, k);
    const size_t m = static_cast<size_t>(c.size());
    for (size_t t = 0; t < std::min(m, q); t++) z.push_back(c.begin + static_cast<int>((t * m) / std::min(m, q)));
  }
  Matrix<double> X(static_cast<int>(cand.size()), static_cast<int>(z.size()));
  if (z.empty()) return X;
  if (row) ev_->eval(cand.data(), X.rows(), z.data(), X.cols(), X.data(), X.ld());
  else {
    Matrix<double> Y(X.cols(), X.rows());
    ev_->eval(z.data(), Y.rows(), cand.data(), Y.cols(), Y.data(), Y.ld());
    for (int j = 0; j < Y.cols(); j++)
      for (int t = 0; t < Y.rows(); t++) X(j, t) = Y(t, j);
  }
  return X;
}

// One level: transform, pivots, panels, Schur complements, merge into A^(l-1)
template <typename T>
void UlvFactorization<T>::factorLevel(int l)
{
  const ClusterTree &Tr = *tree_;
  const H2Structure &S = *S_;
  const PairList &N = Tr.nearList(l), &F = Tr.farList(l);
  const int nc = Tr.ncells(l);
  const bool sym = opt_.basis.symmetric;
  const bool threaded = opt_.basis.threaded;
  auto lev = std::make_unique<Level>();
  Level &Lv = *lev;
  Lv.n.resize(nc);
  Lv.r.resize(nc);
  Lv.p.resize(nc);
  Lv.Qr.resize(nc);
  if (!sym) Lv.Qc.resize(nc);
  Lv.D.resize(nc);
  Lv.piv.resize(nc);
  Lv.B.resize(N.nnz());
  if (!sym) Lv.C.resize(N.nnz());
  UlvLevelStats &st = stats_[l];
  st = UlvLevelStats();
  st.minrank = 1 << 30;
  long long rsum = 0;
  for (int k = 0; k < nc; k++) {
    const CellBasis &b = S.basis(l, k, true);
    Lv.n[k] = b.U.rows();
    Lv.r[k] = b.rank();
    Lv.p[k] = Lv.n[k] - Lv.r[k];
    Lv.Qr[k] = cast<T>(b.U);
    if (!sym) Lv.Qc[k] = cast<T>(S.basis(l, k, false).U);
    st.minrank = std::min(st.minrank, Lv.r[k]);
    st.maxrank = std::max(st.maxrank, Lv.r[k]);
    rsum += Lv.r[k];
  }
  st.meanrank = static_cast<double>(rsum) / nc;
  // couplings of this level (unscaled K, computed once)
  if (Kfar_[l].empty() && F.nnz() > 0) {
    Kfar_[l].resize(F.nnz());
    parallelFor(nc, threaded && ev_->threadSafe(), [&](int i) {
      for (int p = F.ptr[i]; p < F.ptr[i + 1]; p++) Kfar_[l][p] = couplingBlock(*ev_, Tr, S.basis(l, i, true), S.basis(l, F.col[p], false));
    });
  }
  auto Qc = [&](int k) -> const Matrix<T> & { return sym ? Lv.Qr[k] : Lv.Qc[k]; };

  // 1. transform the near blocks: Ah = Qr_i^T A_ij Qc_j; keep sigma-sigma (to the Schur target),
  //    rho-sigma (B), sigma-rho (C, nonsymmetric), rho-rho of the diagonal blocks (pivots)
  std::vector<Matrix<T>> Tn(N.nnz()), Tf(F.nnz());
  std::vector<Matrix<T>> Dfull(nc);
  parallelFor(nc, threaded, [&](int i) {
    const int ni = Lv.n[i], ri = Lv.r[i], pi = Lv.p[i];
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
      const int j = N.col[q], nj = Lv.n[j], rj = Lv.r[j], pj = Lv.p[j];
      if (sym && j < i) continue; // symmetric: the block (j, i) gives both
      Matrix<T> Aij = cast<T>(A_[l][q]);
      Matrix<T> W1(ni, nj), Ah(ni, nj);
      blas::gemm('T', 'N', ni, nj, ni, T(1), Lv.Qr[i].data(), Lv.Qr[i].ld(), Aij.data(), Aij.ld(), T(0), W1.data(), W1.ld());
      blas::gemm('N', 'N', ni, nj, nj, T(1), W1.data(), W1.ld(), Qc(j).data(), Qc(j).ld(), T(0), Ah.data(), Ah.ld());
      Tn[q] = sub(Ah, 0, ri, 0, rj);
      Lv.B[q] = sub(Ah, ri, pi, 0, rj);
      if (!sym) Lv.C[q] = sub(Ah, 0, ri, rj, pj);
      if (j == i) Dfull[i] = sub(Ah, ri, pi, ri, pi);
      if (sym && j > i) { // (j, i) = (i, j)^T: sigma-sigma and rho_j-sigma_i
        const int qt = N.find(j, i);
        Matrix<T> Tt(rj, ri), Bt(pj, ri);
        for (int a = 0; a < ri; a++) {
          for (int b = 0; b < rj; b++) Tt(b, a) = Ah(a, b);
          for (int b = 0; b < pj; b++) Bt(b, a) = Ah(a, rj + b);
        }
        Tn[qt] = std::move(Tt);
        Lv.B[qt] = std::move(Bt);
      }
    }
    for (int q = F.ptr[i]; q < F.ptr[i + 1]; q++) {
      Tf[q] = cast<T>(Kfar_[l][q]);
      for (auto &x : Tf[q].storage()) x *= static_cast<T>(alpha_);
    }
  });
  // 2. pivots: Cholesky (symmetric, when allowed) with LU fallback, or LU
  std::vector<std::string> fail(nc);
  std::vector<char> fellback(nc, 0);
  std::vector<double> ld(nc, 0.0);
  std::vector<int> sg(nc, 1);
  std::vector<std::array<int, 3>> in(nc, std::array<int, 3>{0, 0, 0});
  parallelFor(nc, threaded, [&](int k) {
    const int pk = Lv.p[k];
    Matrix<T> Dk = Dfull[k];
    bool useChol = sym && opt_.cholesky;
    if (useChol) {
      int info = blas::potrf('L', pk, Dk.data(), Dk.ld());
      if (info == 0) {
        for (int t = 0; t < pk; t++) ld[k] += 2.0 * std::log(static_cast<double>(Dk(t, t)));
        in[k][2] = pk;
        Lv.D[k] = std::move(Dk);
        return;
      }
      if (opt_.choleskyRequired) {
        std::ostringstream os;
        os << "the pivot block of cell " << k << " on level " << l << " is not positive definite (Cholesky failed at column " << info << "): the matrix, or its compressed form, is not SPD";
        fail[k] = os.str();
        return;
      }
      fellback[k] = 1;
      Dk = Dfull[k];
    }
    if (sym) blas::inertia(pk, Dk.data(), Dk.ld(), in[k][0], in[k][1], in[k][2]);
    Lv.piv[k].assign(std::max(1, pk), 0);
    int info = blas::getrf(pk, Dk.data(), Dk.ld(), Lv.piv[k].data());
    if (info > 0) {
      std::ostringstream os;
      os << "the pivot block of cell " << k << " on level " << l << " is singular (zero pivot at " << info << ")";
      fail[k] = os.str();
      return;
    }
    for (int t = 0; t < pk; t++) {
      double u = static_cast<double>(Dk(t, t));
      ld[k] += std::log(std::fabs(u));
      if (u < 0) sg[k] = -sg[k];
      if (Lv.piv[k][t] != t + 1) sg[k] = -sg[k];
    }
    if (pk == 0) Lv.piv[k].assign(1, 1); // marks "LU" for an empty pivot
    Lv.D[k] = std::move(Dk);
  });
  if (!sym) // det(Qr^T A Qc) = det(Qr) det(A) det(Qc): the signs of the orthogonal factors
    for (int k = 0; k < nc; k++)
      for (const Matrix<T> *Q : {&Lv.Qr[k], &Lv.Qc[k]}) {
        Matrix<T> F = *Q;
        std::vector<int> ipv(std::max(1, F.rows()));
        blas::getrf(F.rows(), F.data(), F.ld(), ipv.data());
        for (int t = 0; t < F.rows(); t++)
          if ((F(t, t) < 0) != (ipv[t] != t + 1)) sg[k] = -sg[k];
      }
  for (int k = 0; k < nc; k++) {
    if (!fail[k].empty() && status_.ok) {
      status_.ok = false;
      status_.message = fail[k];
    }
    if (fellback[k]) status_.usedLU = true;
    logdet_ += ld[k];
    sign_ *= sg[k];
    for (int t = 0; t < 3; t++) inertia_[t] += in[k][t];
  }
  // 3. panels.  Cholesky cells: B <- L^{-1} B (kept).  LU cells: Rt = D^{-1} B (temporary).
  std::vector<Matrix<T>> Rt(N.nnz());
  parallelFor(nc, threaded, [&](int k) {
    if (!fail[k].empty()) return;
    const int pk = Lv.p[k];
    for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) {
      Matrix<T> &Bq = Lv.B[q];
      if (Lv.chol(k)) blas::trsm('L', 'L', 'N', 'N', pk, Bq.cols(), T(1), Lv.D[k].data(), Lv.D[k].ld(), Bq.data(), Bq.ld());
      else {
        Rt[q] = Bq;
        blas::getrs('N', pk, Bq.cols(), Lv.D[k].data(), Lv.D[k].ld(), Lv.piv[k].data(), Rt[q].data(), Rt[q].ld());
      }
    }
  });
  // 4. Schur complements T_ij -= sum_k Lf_ik Rt_kj, for targets (i,j) near or far on this level
  //    Lf_ik: Cholesky k: (L^{-1}B_ki)^T; LU k: C_ik (B_ki^T when symmetric)
  auto term = [&](int i, int k, int j, Matrix<T> &Tij) {
    const int qik = N.find(i, k), qkj = N.find(k, j);
    const int pk = Lv.p[k];
    if (pk == 0) return;
    if (Lv.chol(k)) {
      const Matrix<T> &Vki = Lv.B[N.find(k, i)], &Vkj = Lv.B[qkj];
      blas::gemm('T', 'N', Tij.rows(), Tij.cols(), pk, T(-1), Vki.data(), Vki.ld(), Vkj.data(), Vkj.ld(), T(1), Tij.data(), Tij.ld());
    } else if (sym) {
      const Matrix<T> &Bki = Lv.B[N.find(k, i)];
      blas::gemm('T', 'N', Tij.rows(), Tij.cols(), pk, T(-1), Bki.data(), Bki.ld(), Rt[qkj].data(), Rt[qkj].ld(), T(1), Tij.data(), Tij.ld());
    } else {
      const Matrix<T> &Cik = Lv.C[qik];
      blas::gemm('N', 'N', Tij.rows(), Tij.cols(), pk, T(-1), Cik.data(), Cik.ld(), Rt[qkj].data(), Rt[qkj].ld(), T(1), Tij.data(), Tij.ld());
    }
  };
  const SchurVariant var = opt_.schur;
  parallelFor(nc, threaded, [&](int i) {
    if (!status_.ok) return;
    for (const PairList *lst : {&N, &F}) {
      for (int q = lst->ptr[i]; q < lst->ptr[i + 1]; q++) {
        const int j = lst->col[q];
        if (sym && j < i) continue; // filled by transposition below
        Matrix<T> &Tij = lst == &N ? Tn[q] : Tf[q];
        if (var == SchurVariant::Diag) {
          if (i == j) term(i, i, i, Tij);
          continue;
        }
        if (var == SchurVariant::Near1) {
          if (lst != &N) continue;
          if (i == j) {
            for (int t = N.ptr[i]; t < N.ptr[i + 1]; t++) term(i, N.col[t], i, Tij);
          } else {
            term(i, i, j, Tij);
            term(i, j, j, Tij);
          }
          continue;
        }
        // two-hop: every k near to both i and j
        for (int t = N.ptr[i]; t < N.ptr[i + 1]; t++) {
          const int k = N.col[t];
          if (N.find(k, j) >= 0) term(i, k, j, Tij);
        }
      }
    }
  });
  if (!status_.ok) {
    levels_[l] = std::move(lev);
    return;
  }
  if (sym) // lower targets are the transposes of the upper ones
    parallelFor(nc, threaded, [&](int i) {
      for (const PairList *lst : {&N, &F})
        for (int q = lst->ptr[i]; q < lst->ptr[i + 1]; q++) {
          const int j = lst->col[q];
          if (j >= i) continue;
          const Matrix<T> &U = lst == &N ? Tn[lst->find(j, i)] : Tf[lst->find(j, i)];
          Matrix<T> Tt(U.cols(), U.rows());
          for (int b = 0; b < U.cols(); b++)
            for (int a = 0; a < U.rows(); a++) Tt(b, a) = U(a, b);
          (lst == &N ? Tn[q] : Tf[q]) = std::move(Tt);
        }
    });
  // optional: norm of the two-hop terms that fall outside the pattern (dropped)
  if (opt_.droppedNorms && var == SchurVariant::TwoHop) {
    double dn = 0;
    for (int i = 0; i < nc; i++)
      for (int t = N.ptr[i]; t < N.ptr[i + 1]; t++) {
        const int k = N.col[t];
        for (int u = N.ptr[k]; u < N.ptr[k + 1]; u++) {
          const int j = N.col[u];
          if (N.find(i, j) >= 0 || F.find(i, j) >= 0) continue;
          Matrix<T> Z(Lv.r[i], Lv.r[j]);
          term(i, k, j, Z);
          for (auto x : Z.storage()) dn += static_cast<double>(x) * x;
        }
      }
    st.dropped = std::sqrt(dn);
  }
  // flops (model): transforms, pivots, panels, Schur
  {
    double f = 0;
    for (int i = 0; i < nc; i++) {
      f += (sym ? 1.0 / 3.0 : 2.0 / 3.0) * std::pow(Lv.p[i], 3);
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        f += 2.0 * Lv.n[i] * Lv.n[i] * Lv.n[j] + 2.0 * Lv.n[i] * Lv.n[j] * Lv.n[j] + 2.0 * Lv.p[i] * Lv.p[i] * Lv.r[j];
        f += 2.0 * Lv.r[i] * Lv.r[j] * Lv.p[j] * (var == SchurVariant::TwoHop ? N.count(i) : 1);
      }
    }
    st.flops = f;
  }
  // 5. merge: A^(l-1)_IJ = [T_cd] for c in children(I), d in children(J)
  const PairList &Np = Tr.nearList(l - 1);
  A_[l - 1].assign(Np.nnz(), Matrix<double>());
  for (int I = 0; I < Tr.ncells(l - 1); I++)
    for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
      const int J = Np.col[q];
      const int nI = Lv.r[2 * I] + Lv.r[2 * I + 1], nJ = Lv.r[2 * J] + Lv.r[2 * J + 1];
      Matrix<double> M(nI, nJ);
      for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
          const int c = 2 * I + a, d = 2 * J + b;
          int pos = N.find(c, d);
          const Matrix<T> *src = pos >= 0 ? &Tn[pos] : nullptr;
          if (!src) {
            pos = F.find(c, d);
            if (pos < 0) throw Error(ERR_LIB, "internal: a child pair of a near pair is neither near nor far");
            src = &Tf[pos];
          }
          const int oi = a ? Lv.r[2 * I] : 0, oj = b ? Lv.r[2 * J] : 0;
          for (int jj = 0; jj < src->cols(); jj++)
            for (int ii = 0; ii < src->rows(); ii++) M(oi + ii, oj + jj) = static_cast<double>((*src)(ii, jj));
        }
      A_[l - 1][q] = std::move(M);
    }
  // A^(l) is no longer needed, except the leaf level's (kept as K)
  std::vector<Matrix<double>>().swap(A_[l]);
  levels_[l] = std::move(lev);
}

template <typename T>
void UlvFactorization<T>::factorRoot()
{
  if (!status_.ok) return;
  const bool sym = opt_.basis.symmetric;
  if (top_ == 0) root_ = cast<T>(A_[0][0]);
  else { // the cells of level top_ (their children's skeletons) as one dense block
    const ClusterTree &Tr = *tree_;
    const int l0 = top_, nc1 = Tr.ncells(l0 + 1);
    const std::vector<int> &r = levels_[l0 + 1]->r;
    std::vector<int> off(nc1 + 1, 0);
    for (int a = 0; a < nc1; a++) off[a + 1] = off[a] + r[a];
    const int n0 = off[nc1];
    const PairList &Np = Tr.nearList(l0);
    if (KrootFar_.rows() != n0) { // couplings between the children of non-near cells (no Schur terms reach them)
      KrootFar_.resize(n0, n0);
      for (int a = 0; a < nc1; a++)
        for (int b = 0; b < nc1; b++) {
          if (Np.find(a / 2, b / 2) >= 0) continue;
          Matrix<double> S = couplingBlock(*ev_, Tr, S_->basis(l0 + 1, a, true), S_->basis(l0 + 1, b, false));
          for (int jj = 0; jj < S.cols(); jj++)
            for (int ii = 0; ii < S.rows(); ii++) KrootFar_(off[a] + ii, off[b] + jj) = S(ii, jj);
        }
    }
    Matrix<T> R(n0, n0);
    for (int jj = 0; jj < n0; jj++)
      for (int ii = 0; ii < n0; ii++) R(ii, jj) = static_cast<T>(alpha_ * KrootFar_(ii, jj));
    for (int I = 0; I < Tr.ncells(l0); I++)
      for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
        const int J = Np.col[q];
        const Matrix<double> &M = A_[l0][q];
        for (int jj = 0; jj < M.cols(); jj++)
          for (int ii = 0; ii < M.rows(); ii++) R(off[2 * I] + ii, off[2 * J] + jj) = static_cast<T>(M(ii, jj));
      }
    root_ = std::move(R);
  }
  const int n = root_.rows();
  rootChol_ = false;
  if (sym && opt_.cholesky) {
    Matrix<T> R = root_;
    if (blas::potrf('L', n, R.data(), R.ld()) == 0) {
      for (int t = 0; t < n; t++) logdet_ += 2.0 * std::log(static_cast<double>(R(t, t)));
      inertia_[2] += n;
      root_ = std::move(R);
      rootChol_ = true;
    } else if (opt_.choleskyRequired) {
      status_.ok = false;
      status_.message = "the root block is not positive definite (Cholesky failed): the matrix, or its compressed form, is not SPD";
      return;
    } else status_.usedLU = true;
  }
  if (!rootChol_) {
    if (sym) {
      int ng, zr, ps;
      blas::inertia(n, root_.data(), root_.ld(), ng, zr, ps);
      inertia_[0] += ng, inertia_[1] += zr, inertia_[2] += ps;
    }
    rootPiv_.assign(std::max(1, n), 0);
    int info = blas::getrf(n, root_.data(), root_.ld(), rootPiv_.data());
    if (info > 0) {
      status_.ok = false;
      status_.message = "the root block is singular (zero pivot at " + std::to_string(info) + ")";
      return;
    }
    for (int t = 0; t < n; t++) {
      double u = static_cast<double>(root_(t, t));
      logdet_ += std::log(std::fabs(u));
      if (u < 0) sign_ = -sign_;
      if (rootPiv_[t] != t + 1) sign_ = -sign_;
    }
  }
  stats_[0].minrank = stats_[0].maxrank = 0;
  A_[top_].clear();
}

template <typename T>
void UlvFactorization<T>::refactor(double alpha, const std::vector<double> &dshift)
{
  const double t0 = now();
  alpha_ = alpha;
  if (static_cast<int>(dshift.size()) == tree_->size()) dshift_ = dshift;
  logdet_ = 0;
  sign_ = 1;
  inertia_[0] = inertia_[1] = inertia_[2] = 0;
  status_ = UlvStatus();
  leafBlocks();
  for (int l = tree_->levels(); l > top_; l--) {
    factorLevel(l);
    if (!status_.ok) return;
  }
  factorRoot();
  tfactor_ = now() - t0;
}

// Substitution: forward over the levels (leaves up), root, backward (root down).  Within a level
// every cell is independent: the products with the near cells' factors are gathered per target.
template <typename T>
void UlvFactorization<T>::solve(bool transpose, int k, T *x, int ldx) const
{
  if (!status_.ok) throw Error(ERR_NUMERIC, "the factorization failed: " + status_.message);
  const ClusterTree &Tr = *tree_;
  const int L = Tr.levels();
  const bool sym = opt_.basis.symmetric;
  const bool threaded = opt_.basis.threaded;
  const bool tr = transpose && !sym;
  // c[l][i]: transformed right-hand side of cell i on level l (n_i x k), z[l][i]: pivot solves
  std::vector<std::vector<Matrix<T>>> c(L + 1), z(L + 1);
  // level L input
  for (int l = L; l > top_; l--) {
    const Level &Lv = *levels_[l];
    const PairList &N = Tr.nearList(l);
    const int nc = Tr.ncells(l);
    c[l].resize(nc);
    z[l].resize(nc);
    parallelFor(nc, threaded, [&](int i) {
      const int n = Lv.n[i];
      Matrix<T> b(n, k);
      if (l == L) {
        const Cell &cl = Tr.cell(L, i);
        for (int j = 0; j < k; j++)
          for (int t = 0; t < n; t++) b(t, j) = x[cl.begin + t + static_cast<size_t>(j) * ldx];
      } else {
        const Matrix<T> &a = c[l + 1][2 * i], &bb = c[l + 1][2 * i + 1];
        const int r1 = levels_[l + 1]->r[2 * i], r2 = levels_[l + 1]->r[2 * i + 1];
        for (int j = 0; j < k; j++) {
          for (int t = 0; t < r1; t++) b(t, j) = a(t, j);
          for (int t = 0; t < r2; t++) b(r1 + t, j) = bb(t, j);
        }
      }
      const Matrix<T> &Q = (tr ? Lv.Qc[i] : Lv.Qr[i]);
      Matrix<T> ci(n, k);
      blas::gemm('T', 'N', n, k, n, T(1), Q.data(), Q.ld(), b.data(), b.ld(), T(0), ci.data(), ci.ld());
      // pivot solve on the redundant part
      const int r = Lv.r[i], p = Lv.p[i];
      Matrix<T> zi = sub(ci, r, p, 0, k);
      if (p > 0) {
        if (Lv.chol(i)) blas::trsm('L', 'L', 'N', 'N', p, k, T(1), Lv.D[i].data(), Lv.D[i].ld(), zi.data(), zi.ld());
        else blas::getrs(tr ? 'T' : 'N', p, k, Lv.D[i].data(), Lv.D[i].ld(), Lv.piv[i].data(), zi.data(), zi.ld());
      }
      c[l][i] = std::move(ci);
      z[l][i] = std::move(zi);
    });
    // skeleton updates: c_sigma_i -= sum_{k near i} Lf_ik z_k
    parallelFor(nc, threaded, [&](int i) {
      const int ri = Lv.r[i];
      Matrix<T> &ci = c[l][i];
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int kk = N.col[q], pk = Lv.p[kk];
        if (pk == 0 || ri == 0) continue;
        const Matrix<T> &zk = z[l][kk];
        // Lf_ik: Cholesky: (L^{-1}B_ki)^T; LU symmetric: B_ki^T; LU nonsymmetric: C_ik, transposed solve: B_ki^T
        if (sym || tr) {
          const Matrix<T> &Bki = Lv.B[N.find(kk, i)];
          blas::gemm('T', 'N', ri, k, pk, T(-1), Bki.data(), Bki.ld(), zk.data(), zk.ld(), T(1), ci.data(), ci.ld());
        } else {
          const Matrix<T> &Cik = Lv.C[q];
          blas::gemm('N', 'N', ri, k, pk, T(-1), Cik.data(), Cik.ld(), zk.data(), zk.ld(), T(1), ci.data(), ci.ld());
        }
      }
    });
  }
  // root
  Matrix<T> xr;
  {
    const int n0 = root_.rows();
    Matrix<T> b(n0, k);
    if (L == 0) {
      for (int j = 0; j < k; j++)
        for (int t = 0; t < n0; t++) b(t, j) = x[t + static_cast<size_t>(j) * ldx];
    } else { // the skeleton parts of the cells of level top_+1, in order
      int o = 0;
      for (int a = 0; a < Tr.ncells(top_ + 1); a++) {
        const int ra = levels_[top_ + 1]->r[a];
        for (int j = 0; j < k; j++)
          for (int t = 0; t < ra; t++) b(o + t, j) = c[top_ + 1][a](t, j);
        o += ra;
      }
    }
    if (n0 > 0) {
      if (rootChol_) {
        blas::trsm('L', 'L', 'N', 'N', n0, k, T(1), root_.data(), root_.ld(), b.data(), b.ld());
        blas::trsm('L', 'L', 'T', 'N', n0, k, T(1), root_.data(), root_.ld(), b.data(), b.ld());
      } else blas::getrs(tr ? 'T' : 'N', n0, k, root_.data(), root_.ld(), rootPiv_.data(), b.data(), b.ld());
    }
    xr = std::move(b);
  }
  // backward
  // sigma solution of the cells of the level above, per parent (the cells of level top_)
  std::vector<Matrix<T>> xs(L == 0 ? 1 : Tr.ncells(top_));
  if (L == 0 || top_ == 0) xs[0] = std::move(xr);
  else
    for (int I = 0, o = 0; I < Tr.ncells(top_); I++) {
      const int nI = levels_[top_ + 1]->r[2 * I] + levels_[top_ + 1]->r[2 * I + 1];
      xs[I] = sub(xr, o, nI, 0, k);
      o += nI;
    }
  for (int l = top_ + 1; l <= L; l++) {
    const Level &Lv = *levels_[l];
    const PairList &N = Tr.nearList(l);
    const int nc = Tr.ncells(l);
    std::vector<Matrix<T>> xsig(nc), xout(nc);
    for (int i = 0; i < nc; i++) {
      const Matrix<T> &par = xs[i / 2];
      const int r1 = Lv.r[2 * (i / 2)], off = (i % 2) ? r1 : 0;
      xsig[i] = sub(par, off, Lv.r[i], 0, k);
    }
    parallelFor(nc, threaded, [&](int kk) {
      const int n = Lv.n[kk], r = Lv.r[kk], p = Lv.p[kk];
      Matrix<T> xrho(p, k);
      if (p > 0) {
        if (Lv.chol(kk)) {
          // x_rho = L^{-T} (z - sum_j V_kj x_sigma_j)
          xrho = z[l][kk];
          for (int q = N.ptr[kk]; q < N.ptr[kk + 1]; q++) {
            const int j = N.col[q];
            if (Lv.r[j] == 0) continue;
            blas::gemm('N', 'N', p, k, Lv.r[j], T(-1), Lv.B[q].data(), Lv.B[q].ld(), xsig[j].data(), xsig[j].ld(), T(1), xrho.data(), xrho.ld());
          }
          blas::trsm('L', 'L', 'T', 'N', p, k, T(1), Lv.D[kk].data(), Lv.D[kk].ld(), xrho.data(), xrho.ld());
        } else {
          // x_rho = D^{-1} (c_rho - sum_j B_kj x_sigma_j)   (transposed: D^{-T}(c_rho - sum_j C_jk^T x_sigma_j))
          xrho = sub(c[l][kk], r, p, 0, k);
          for (int q = N.ptr[kk]; q < N.ptr[kk + 1]; q++) {
            const int j = N.col[q];
            if (Lv.r[j] == 0) continue;
            if (!tr) blas::gemm('N', 'N', p, k, Lv.r[j], T(-1), Lv.B[q].data(), Lv.B[q].ld(), xsig[j].data(), xsig[j].ld(), T(1), xrho.data(), xrho.ld());
            else {
              const Matrix<T> &Cjk = Lv.C[N.find(j, kk)];
              blas::gemm('T', 'N', p, k, Lv.r[j], T(-1), Cjk.data(), Cjk.ld(), xsig[j].data(), xsig[j].ld(), T(1), xrho.data(), xrho.ld());
            }
          }
          blas::getrs(tr ? 'T' : 'N', p, k, Lv.D[kk].data(), Lv.D[kk].ld(), Lv.piv[kk].data(), xrho.data(), xrho.ld());
        }
      }
      Matrix<T> xt(n, k);
      for (int j = 0; j < k; j++) {
        for (int t = 0; t < r; t++) xt(t, j) = xsig[kk](t, j);
        for (int t = 0; t < p; t++) xt(r + t, j) = xrho(t, j);
      }
      const Matrix<T> &Q = tr ? Lv.Qr[kk] : (sym ? Lv.Qr[kk] : Lv.Qc[kk]);
      Matrix<T> xo(n, k);
      blas::gemm('N', 'N', n, k, n, T(1), Q.data(), Q.ld(), xt.data(), xt.ld(), T(0), xo.data(), xo.ld());
      xout[kk] = std::move(xo);
    });
    xs = std::move(xout);
  }
  // leaves (or the single root block)
  if (L == 0) {
    const int n0 = root_.rows();
    for (int j = 0; j < k; j++)
      for (int t = 0; t < n0; t++) x[t + static_cast<size_t>(j) * ldx] = xs[0](t, j);
    return;
  }
  for (int i = 0; i < Tr.ncells(L); i++) {
    const Cell &cl = Tr.cell(L, i);
    for (int j = 0; j < k; j++)
      for (int t = 0; t < cl.size(); t++) x[cl.begin + t + static_cast<size_t>(j) * ldx] = xs[i](t, j);
  }
}

template <typename T>
size_t UlvFactorization<T>::bytes() const
{
  size_t b = root_.bytes() + KrootFar_.bytes() + S_->bytes();
  for (const auto &lv : levels_)
    if (lv) b += lv->bytes();
  for (const auto &m : Knear_) b += m.bytes();
  for (const auto &lev : Kfar_)
    for (const auto &m : lev) b += m.bytes();
  return b;
}

template <typename T>
double UlvFactorization<T>::factorFlops() const
{
  double f = std::pow(static_cast<double>(root_.rows()), 3) / 3.0;
  for (const auto &s : stats_) f += s.flops;
  return f;
}

template class UlvFactorization<double>;
template class UlvFactorization<float>;

} // namespace h2ulv
