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
// Offsets of the blocks of one kind in one backend buffer
struct Offsets {
  std::vector<size_t> off;
  size_t total = 0;
  void add(size_t n)
  {
    off.push_back(total);
    total += n;
  }
};
inline int ld1(int m) { return std::max(1, m); }
} // namespace

// Factors of one level, in backend memory.  Cell k: n = r + p, transformed unknowns
// [sigma (r) ; rho (p)].
template <typename T>
struct UlvFactorization<T>::Level {
  std::vector<int> n, r, p;
  std::vector<char> lu;             // pivot k factored by LU (else Cholesky)
  Buffer<T> Qr, Qc;                 // n_k x n_k orthogonal, at qoff[k]; Qc empty when symmetric
  std::vector<size_t> qoff;
  Buffer<T> D;                      // p_k x p_k pivot factor (Cholesky L or LU), ld p_k, at doff[k]
  std::vector<size_t> doff;
  IntBuffer piv;                    // LU pivots, p_k at pivoff[k]
  std::vector<size_t> pivoff;
  Buffer<T> B;                      // near pair q = (k,j): A^(rho_k, sigma_j), p_k x r_j, ld p_k (Cholesky k: L^{-1} B)
  std::vector<size_t> boff;
  Buffer<T> C;                      // near pair q = (i,k): A^(sigma_i, rho_k), r_i x p_k, ld r_i (nonsymmetric only)
  std::vector<size_t> coff;
  T *Qrp(int k) const { return Qr.get() + qoff[k]; }
  T *Qcp(int k) const { return Qc.get() ? Qc.get() + qoff[k] : Qr.get() + qoff[k]; }
  T *Dp(int k) const { return D.get() + doff[k]; }
  int *pivp(int k) const { return piv.get() + pivoff[k]; }
  T *Bp(int q) const { return B.get() + boff[q]; }
  T *Cp(int q) const { return C.get() + coff[q]; }
  size_t bytes() const { return Qr.bytes() + Qc.bytes() + D.bytes() + B.bytes() + C.bytes() + piv.size() * sizeof(int); }
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
  BackendRequest req = opt_.backend;
  req.threaded = opt_.basis.threaded;
  be_ = makeBackend<T>(req, &backendNote_);
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
    else if (status_.ok) factorLevel(l + 1, true);
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
  if (top_ == 0 && L >= 1 && status_.ok) factorLevel(1, true);
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
  // keep K's near blocks for refactorizations only while they are small; otherwise they (and the
  // couplings) are evaluated again by each refactorization, and A^(L) takes their memory
  size_t kb = 0;
  for (const auto &m : Knear_) kb += m.bytes();
  if (kb > opt_.keepKernelBytes / 2) keepKernel_ = false;
  A_[L].resize(N.nnz());
  for (int i = 0; i < Tr.ncells(L); i++) {
    const Cell &c = Tr.cell(L, i);
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
      Matrix<double> B = keepKernel_ ? Knear_[p] : std::move(Knear_[p]);
      for (auto &x : B.storage()) x *= alpha_;
      if (N.col[p] == i)
        for (int t = 0; t < c.size(); t++) B(t, t) += dshift_[c.begin + t];
      A_[L][p] = std::move(B);
    }
  }
  if (!keepKernel_) std::vector<Matrix<double>>().swap(Knear_);
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
    double s = opt_.fillinWeight * std::sqrt(fg / fx);
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

// Host A^(l) (double) -> backend (T), the input of factorLevel(l)
template <typename T>
void UlvFactorization<T>::uploadA(int l)
{
  const auto &A = A_[l];
  Offsets ao;
  for (const auto &M : A) ao.add(M.size());
  Acur_ = Buffer<T>(*be_, ao.total);
  HostFill<T> h(*be_, Acur_.get(), ao.total);
  for (size_t q = 0; q < A.size(); q++)
    for (size_t t = 0; t < A[q].size(); t++) h.data()[ao.off[q] + t] = static_cast<T>(A[q].data()[t]);
  h.commit();
  Aoff_ = std::move(ao.off);
}

// One level, as a sequence of batches on the backend: transform the near blocks with [U U_perp],
// factor the redundant pivot blocks, panel solves, Schur complements in rounds (one term per
// target per round: no two items of a batch write one block, and the sums are deterministic),
// merge the skeleton blocks into A^(l-1).
template <typename T>
void UlvFactorization<T>::factorLevel(int l, bool hostNext)
{
  const ClusterTree &Tr = *tree_;
  const H2Structure &S = *S_;
  const PairList &N = Tr.nearList(l), &F = Tr.farList(l);
  const int nc = Tr.ncells(l);
  const bool sym = opt_.basis.symmetric;
  const bool threaded = opt_.basis.threaded;
  Backend<T> &be = *be_;
  // A^(l) on the backend (the leaf level comes from the host; the others from the merge below);
  // the host copy (for the fill-in generators of level l) is not needed any more
  if (!Acur_.get() && !A_[l].empty()) uploadA(l);
  std::vector<Matrix<double>>().swap(A_[l]);
  auto lev = std::make_unique<Level>();
  Level &Lv = *lev;
  Lv.n.resize(nc);
  Lv.r.resize(nc);
  Lv.p.resize(nc);
  Lv.lu.assign(nc, sym && opt_.cholesky ? 0 : 1);
  UlvLevelStats &st = stats_[l];
  st = UlvLevelStats();
  st.minrank = 1 << 30;
  long long rsum = 0;
  Offsets qo;
  for (int k = 0; k < nc; k++) {
    const CellBasis &b = S.basis(l, k, true);
    Lv.n[k] = b.U.rows();
    Lv.r[k] = b.rank();
    Lv.p[k] = Lv.n[k] - Lv.r[k];
    qo.add(static_cast<size_t>(Lv.n[k]) * Lv.n[k]);
    st.minrank = std::min(st.minrank, Lv.r[k]);
    st.maxrank = std::max(st.maxrank, Lv.r[k]);
    rsum += Lv.r[k];
  }
  st.meanrank = static_cast<double>(rsum) / nc;
  Lv.qoff = qo.off;
  for (bool row : {true, false}) {
    if (!row && sym) break;
    Buffer<T> Q(be, qo.total);
    HostFill<T> h(be, Q.get(), qo.total);
    for (int k = 0; k < nc; k++) {
      const Matrix<double> &U = S.basis(l, k, row).U;
      for (size_t t = 0; t < U.size(); t++) h.data()[qo.off[k] + t] = static_cast<T>(U.data()[t]);
    }
    h.commit();
    (row ? Lv.Qr : Lv.Qc) = std::move(Q);
  }
  const auto &n = Lv.n, &r = Lv.r, &p = Lv.p;
  // couplings of this level (unscaled K, computed once), scaled to the far targets
  if (Kfar_[l].empty() && F.nnz() > 0) {
    Kfar_[l].resize(F.nnz());
    parallelFor(nc, threaded && ev_->threadSafe(), [&](int i) {
      for (int q = F.ptr[i]; q < F.ptr[i + 1]; q++) Kfar_[l][q] = couplingBlock(*ev_, Tr, S.basis(l, i, true), S.basis(l, F.col[q], false));
    });
  }
  Offsets fo;
  for (int q = 0; q < static_cast<int>(F.nnz()); q++) fo.add(Kfar_[l][q].size());
  Buffer<T> Tf(be, fo.total);
  {
    HostFill<T> h(be, Tf.get(), fo.total);
    for (int q = 0; q < static_cast<int>(F.nnz()); q++)
      for (size_t t = 0; t < Kfar_[l][q].size(); t++) h.data()[fo.off[q] + t] = static_cast<T>(alpha_ * Kfar_[l][q].data()[t]);
    h.commit();
  }
  if (!keepKernel_) std::vector<Matrix<double>>().swap(Kfar_[l]);
  auto tfp = [&](int q) { return Tf.get() + fo.off[q]; };

  // 1. transform the near blocks: Ah_ij = Qr_i^T A_ij Qc_j (symmetric: j >= i, then transposes)
  Offsets ao;
  for (int i = 0; i < nc; i++)
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) ao.add(static_cast<size_t>(n[i]) * n[N.col[q]]);
  if (ao.total != Acur_.size()) throw Error(ERR_INTERNAL, "internal: the level matrix does not match the near pairs");
  Buffer<T> Ah = std::move(Acur_); // transformed in place: W = Qr^T A, then A <- W Qc
  auto ahp = [&](int q) { return Ah.get() + ao.off[q]; };
  {
    Buffer<T> W(be, ao.total);
    std::vector<GemmItem<T>> g1, g2;
    for (int i = 0; i < nc; i++)
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        if (sym && j < i) continue;
        T *w = W.get() + ao.off[q];
        g1.push_back({'T', 'N', n[i], n[j], n[i], Lv.Qrp(i), n[i], ahp(q), n[i], w, n[i]});
        g2.push_back({'N', 'N', n[i], n[j], n[j], w, n[i], Lv.Qcp(j), n[j], ahp(q), n[i]});
      }
    be.gemm(T(1), T(0), g1);
    be.gemm(T(1), T(0), g2);
  }
  std::vector<CopyItem<T>> cp;
  if (sym) {
    for (int i = 0; i < nc; i++)
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        if (j < i) cp.push_back({'T', n[i], n[j], ahp(N.find(j, i)), n[j], ahp(q), n[i]});
      }
    be.copy(T(1), cp);
  }
  // the factor blocks: D_k = Ah_kk(rho, rho), B_kj = Ah_kj(rho, sigma), C_ik = Ah_ik(sigma, rho)
  Offsets dof, pvo, bo, co;
  for (int k = 0; k < nc; k++) {
    dof.add(static_cast<size_t>(p[k]) * p[k]);
    pvo.add(p[k]);
  }
  for (int i = 0; i < nc; i++)
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
      bo.add(static_cast<size_t>(p[i]) * r[N.col[q]]);
      if (!sym) co.add(static_cast<size_t>(r[i]) * p[N.col[q]]);
    }
  Lv.D = Buffer<T>(be, dof.total);
  Lv.doff = dof.off;
  Lv.piv = IntBuffer(be, std::max<size_t>(1, pvo.total));
  Lv.pivoff = pvo.off;
  Lv.B = Buffer<T>(be, bo.total);
  Lv.boff = bo.off;
  if (!sym) {
    Lv.C = Buffer<T>(be, co.total);
    Lv.coff = co.off;
  }
  auto dItem = [&](int k) { return CopyItem<T>{'N', p[k], p[k], ahp(N.find(k, k)) + r[k] + static_cast<size_t>(r[k]) * n[k], n[k], Lv.Dp(k), ld1(p[k])}; };
  cp.clear();
  for (int k = 0; k < nc; k++) {
    cp.push_back(dItem(k));
    for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) {
      const int j = N.col[q];
      cp.push_back({'N', p[k], r[j], ahp(q) + r[k], n[k], Lv.Bp(q), ld1(p[k])});
      if (!sym) cp.push_back({'N', r[k], p[j], ahp(q) + static_cast<size_t>(r[j]) * n[k], n[k], Lv.Cp(q), ld1(r[k])});
    }
  }
  be.copy(T(1), cp);

  // 2. pivots: Cholesky (symmetric, when allowed) with LU fallback, or LU
  std::vector<std::string> fail(nc);
  auto fitem = [&](int k) { return FactorItem<T>{p[k], Lv.Dp(k), ld1(p[k]), Lv.pivp(k)}; };
  std::vector<int> info;
  if (sym && opt_.cholesky) {
    std::vector<FactorItem<T>> fi;
    for (int k = 0; k < nc; k++) fi.push_back(fitem(k));
    be.potrf(fi, info);
    cp.clear();
    for (int k = 0; k < nc; k++) {
      if (info[k] == 0) continue;
      if (opt_.choleskyRequired) {
        std::ostringstream os;
        os << "the pivot block of cell " << k << " on level " << l << " is not positive definite (Cholesky failed at column " << info[k] << "): the matrix, or its compressed form, is not SPD";
        fail[k] = os.str();
        continue;
      }
      Lv.lu[k] = 1;
      status_.usedLU = true;
      cp.push_back(dItem(k)); // the block again, for LU
    }
    be.copy(T(1), cp);
  }
  std::vector<int> luc;
  for (int k = 0; k < nc; k++)
    if (Lv.lu[k] && fail[k].empty()) luc.push_back(k);
  if (sym && !luc.empty()) { // inertia of the LU pivots from a Bunch-Kaufman factorization on the host
    HostRead<T> h(be, Lv.D.get(), dof.total);
    for (int k : luc) {
      int ng, zr, ps;
      blas::inertia(p[k], h.data() + dof.off[k], ld1(p[k]), ng, zr, ps);
      inertia_[0] += ng, inertia_[1] += zr, inertia_[2] += ps;
    }
  }
  if (!luc.empty()) {
    std::vector<FactorItem<T>> fi;
    for (int k : luc) fi.push_back(fitem(k));
    be.getrf(fi, info);
    for (size_t t = 0; t < luc.size(); t++)
      if (info[t] > 0) {
        std::ostringstream os;
        os << "the pivot block of cell " << luc[t] << " on level " << l << " is singular (zero pivot at " << info[t] << ")";
        fail[luc[t]] = os.str();
      }
  }
  for (int k = 0; k < nc; k++)
    if (!fail[k].empty() && status_.ok) {
      status_.ok = false;
      status_.message = fail[k];
    }
  if (!status_.ok) {
    levels_[l] = std::move(lev);
    return;
  }
  { // log |det| and sign from the pivots' diagonals (and LU's row interchanges)
    std::vector<FactorItem<T>> fi;
    for (int k = 0; k < nc; k++) fi.push_back(fitem(k));
    std::vector<double> dg;
    be.diagonals(fi, dg);
    std::vector<int> pv(std::max<size_t>(1, pvo.total));
    if (!luc.empty()) be.downloadInt(pv.data(), Lv.piv.get(), pvo.total);
    size_t o = 0;
    for (int k = 0; k < nc; k++) {
      for (int t = 0; t < p[k]; t++) {
        const double u = dg[o + t];
        if (!Lv.lu[k]) logdet_ += 2.0 * std::log(u);
        else {
          logdet_ += std::log(std::fabs(u));
          if (u < 0) sign_ = -sign_;
          if (pv[pvo.off[k] + t] != t + 1) sign_ = -sign_;
        }
      }
      if (!Lv.lu[k]) inertia_[2] += p[k];
      o += p[k];
    }
    if (!sym) // det(Qr^T A Qc) = det(Qr) det(A) det(Qc): the signs of the orthogonal factors
      for (int k = 0; k < nc; k++)
        for (bool row : {true, false}) {
          Matrix<double> Fq = S.basis(l, k, row).U;
          std::vector<int> ipv(std::max(1, Fq.rows()));
          blas::getrf(Fq.rows(), Fq.data(), Fq.ld(), ipv.data());
          for (int t = 0; t < Fq.rows(); t++)
            if ((Fq(t, t) < 0) != (ipv[t] != t + 1)) sign_ = -sign_;
        }
  }

  // 3. panels.  Cholesky cells: B <- L^{-1} B (kept).  LU cells: Rt = D^{-1} B (temporary).
  Buffer<T> Rt;
  {
    std::vector<TrsmItem<T>> ti;
    std::vector<LuSolveItem<T>> si;
    cp.clear();
    if (!luc.empty()) Rt = Buffer<T>(be, bo.total);
    for (int k = 0; k < nc; k++)
      for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) {
        const int rj = r[N.col[q]];
        if (!Lv.lu[k]) ti.push_back({p[k], rj, Lv.Dp(k), ld1(p[k]), Lv.Bp(q), ld1(p[k])});
        else {
          T *rt = Rt.get() + bo.off[q];
          cp.push_back({'N', p[k], rj, Lv.Bp(q), ld1(p[k]), rt, ld1(p[k])});
          si.push_back({p[k], rj, Lv.Dp(k), ld1(p[k]), Lv.pivp(k), rt, ld1(p[k])});
        }
      }
    be.trsm('L', 'N', 'N', T(1), ti);
    be.copy(T(1), cp);
    be.getrs('N', si);
  }
  auto rtp = [&](int q) { return Rt.get() ? Rt.get() + bo.off[q] : nullptr; };

  // 4. Schur complements T_ij -= sum_k Lf_ik R_kj for the targets (i,j) near or far on this level.
  //    Lf_ik: Cholesky k: (L^{-1}B_ki)^T; LU k: C_ik (B_ki^T when symmetric).  R_kj: L^{-1}B_kj or Rt_kj.
  struct Target {
    int i, j;
    T *c;
    int ldc;
    std::vector<int> ks;
  };
  std::vector<Target> tg;
  const SchurVariant var = opt_.schur;
  for (int i = 0; i < nc; i++)
    for (const PairList *lst : {&N, &F})
      for (int q = lst->ptr[i]; q < lst->ptr[i + 1]; q++) {
        const int j = lst->col[q];
        if (sym && j < i) continue; // filled by transposition below
        Target t{i, j, lst == &N ? ahp(q) : tfp(q), lst == &N ? n[i] : ld1(r[i]), {}};
        if (var == SchurVariant::Diag) {
          if (i == j) t.ks.push_back(i);
        } else if (var == SchurVariant::Near1) {
          if (lst != &N) continue;
          if (i == j)
            for (int u = N.ptr[i]; u < N.ptr[i + 1]; u++) t.ks.push_back(N.col[u]);
          else t.ks = {i, j};
        } else // two-hop: every k near to both i and j
          for (int u = N.ptr[i]; u < N.ptr[i + 1]; u++)
            if (N.find(N.col[u], j) >= 0) t.ks.push_back(N.col[u]);
        if (!t.ks.empty()) tg.push_back(std::move(t));
      }
  auto term = [&](int i, int k, int j, T *c, int ldc) {
    const int qki = N.find(k, i), qkj = N.find(k, j);
    if (!Lv.lu[k]) return GemmItem<T>{'T', 'N', r[i], r[j], p[k], Lv.Bp(qki), ld1(p[k]), Lv.Bp(qkj), ld1(p[k]), c, ldc};
    if (sym) return GemmItem<T>{'T', 'N', r[i], r[j], p[k], Lv.Bp(qki), ld1(p[k]), rtp(qkj), ld1(p[k]), c, ldc};
    return GemmItem<T>{'N', 'N', r[i], r[j], p[k], Lv.Cp(N.find(i, k)), ld1(r[i]), rtp(qkj), ld1(p[k]), c, ldc};
  };
  for (size_t round = 0;; round++) {
    std::vector<GemmItem<T>> gi;
    for (const Target &t : tg)
      if (round < t.ks.size() && p[t.ks[round]] > 0) gi.push_back(term(t.i, t.ks[round], t.j, t.c, t.ldc));
    bool more = false;
    for (const Target &t : tg) more = more || round + 1 < t.ks.size();
    be.gemm(T(-1), T(1), gi);
    if (!more) break;
  }
  if (sym) { // lower targets are the transposes of the upper ones
    cp.clear();
    for (int i = 0; i < nc; i++) {
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        if (j < i) cp.push_back({'T', r[i], r[j], ahp(N.find(j, i)), n[j], ahp(q), n[i]});
      }
      for (int q = F.ptr[i]; q < F.ptr[i + 1]; q++) {
        const int j = F.col[q];
        if (j < i) cp.push_back({'T', r[i], r[j], tfp(F.find(j, i)), ld1(r[j]), tfp(q), ld1(r[i])});
      }
    }
    be.copy(T(1), cp);
  }
  // optional: norm of the two-hop terms that fall outside the pattern (dropped)
  if (opt_.droppedNorms && var == SchurVariant::TwoHop) {
    std::vector<std::array<int, 3>> trip;
    Offsets zo;
    for (int i = 0; i < nc; i++)
      for (int t = N.ptr[i]; t < N.ptr[i + 1]; t++) {
        const int k = N.col[t];
        if (p[k] == 0) continue;
        for (int u = N.ptr[k]; u < N.ptr[k + 1]; u++) {
          const int j = N.col[u];
          if (N.find(i, j) >= 0 || F.find(i, j) >= 0) continue;
          trip.push_back({i, k, j});
          zo.add(static_cast<size_t>(r[i]) * r[j]);
        }
      }
    Buffer<T> Z(be, zo.total);
    std::vector<GemmItem<T>> gi;
    for (size_t t = 0; t < trip.size(); t++) gi.push_back(term(trip[t][0], trip[t][1], trip[t][2], Z.get() + zo.off[t], ld1(r[trip[t][0]])));
    be.gemm(T(-1), T(0), gi); // one term per Z block
    HostRead<T> h(be, Z.get(), zo.total);
    double dn = 0;
    for (size_t t = 0; t < zo.total; t++) dn += static_cast<double>(h.data()[t]) * h.data()[t];
    st.dropped = std::sqrt(dn);
  }
  // flops (model): transforms, pivots, panels, Schur
  {
    double f = 0;
    for (int i = 0; i < nc; i++) {
      f += (sym ? 1.0 / 3.0 : 2.0 / 3.0) * std::pow(p[i], 3);
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        f += 2.0 * n[i] * n[i] * n[j] + 2.0 * n[i] * n[j] * n[j] + 2.0 * p[i] * p[i] * r[j];
        f += 2.0 * r[i] * r[j] * p[j] * (var == SchurVariant::TwoHop ? N.count(i) : 1);
      }
    }
    st.flops = f;
  }
  // 5. merge: A^(l-1)_IJ = [T_cd] for c in children(I), d in children(J)
  const PairList &Np = Tr.nearList(l - 1);
  Offsets mo;
  std::vector<int> nI(Tr.ncells(l - 1));
  for (int I = 0; I < Tr.ncells(l - 1); I++) nI[I] = r[2 * I] + r[2 * I + 1];
  for (int I = 0; I < Tr.ncells(l - 1); I++)
    for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) mo.add(static_cast<size_t>(nI[I]) * nI[Np.col[q]]);
  Buffer<T> Anext(be, mo.total);
  cp.clear();
  for (int I = 0; I < Tr.ncells(l - 1); I++)
    for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
      const int J = Np.col[q];
      for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
          const int c = 2 * I + a, d = 2 * J + b;
          const T *src;
          int lds;
          int pos = N.find(c, d);
          if (pos >= 0) src = ahp(pos), lds = n[c];
          else {
            pos = F.find(c, d);
            if (pos < 0) throw Error(ERR_LIB, "internal: a child pair of a near pair is neither near nor far");
            src = tfp(pos), lds = ld1(r[c]);
          }
          const int oi = a ? r[2 * I] : 0, oj = b ? r[2 * J] : 0;
          cp.push_back({'N', r[c], r[d], src, lds, Anext.get() + mo.off[q] + oi + static_cast<size_t>(oj) * nI[I], ld1(nI[I])});
        }
    }
  be.copy(T(1), cp);
  Acur_ = std::move(Anext);
  Aoff_ = mo.off;
  A_[l - 1].assign(Np.nnz(), Matrix<double>());
  if (hostNext) {
    HostRead<T> h(be, Acur_.get(), mo.total);
    for (int I = 0; I < Tr.ncells(l - 1); I++)
      for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
        Matrix<double> M(nI[I], nI[Np.col[q]]);
        for (size_t t = 0; t < M.size(); t++) M.data()[t] = static_cast<double>(h.data()[mo.off[q] + t]);
        A_[l - 1][q] = std::move(M);
      }
  }
  levels_[l] = std::move(lev);
}

template <typename T>
void UlvFactorization<T>::factorRoot()
{
  if (!status_.ok) return;
  const bool sym = opt_.basis.symmetric;
  Matrix<T> R;
  if (top_ == 0) R = cast<T>(A_[0][0]);
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
    R.resize(n0, n0);
    for (int jj = 0; jj < n0; jj++)
      for (int ii = 0; ii < n0; ii++) R(ii, jj) = static_cast<T>(alpha_ * KrootFar_(ii, jj));
    for (int I = 0; I < Tr.ncells(l0); I++)
      for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
        const int J = Np.col[q];
        const Matrix<double> &M = A_[l0][q];
        for (int jj = 0; jj < M.cols(); jj++)
          for (int ii = 0; ii < M.rows(); ii++) R(off[2 * I] + ii, off[2 * J] + jj) = static_cast<T>(M(ii, jj));
      }
  }
  A_[top_].clear();
  Acur_.reset();
  const int n = R.rows();
  rootN_ = n;
  Backend<T> &be = *be_;
  root_ = Buffer<T>(be, std::max<size_t>(1, R.size()));
  rootPiv_ = IntBuffer(be, std::max(1, n));
  be.upload(root_.get(), R.data(), R.size());
  const std::vector<FactorItem<T>> fi{{n, root_.get(), ld1(n), rootPiv_.get()}};
  std::vector<int> info;
  std::vector<double> dg;
  rootChol_ = false;
  if (sym && opt_.cholesky) {
    be.potrf(fi, info);
    if (info[0] == 0) {
      be.diagonals(fi, dg);
      for (int t = 0; t < n; t++) logdet_ += 2.0 * std::log(dg[t]);
      inertia_[2] += n;
      rootChol_ = true;
    } else if (opt_.choleskyRequired) {
      status_.ok = false;
      status_.message = "the root block is not positive definite (Cholesky failed): the matrix, or its compressed form, is not SPD";
      return;
    } else {
      status_.usedLU = true;
      be.upload(root_.get(), R.data(), R.size());
    }
  }
  if (!rootChol_) {
    if (sym) {
      int ng, zr, ps;
      blas::inertia(n, R.data(), R.ld(), ng, zr, ps);
      inertia_[0] += ng, inertia_[1] += zr, inertia_[2] += ps;
    }
    be.getrf(fi, info);
    if (info[0] > 0) {
      status_.ok = false;
      status_.message = "the root block is singular (zero pivot at " + std::to_string(info[0]) + ")";
      return;
    }
    be.diagonals(fi, dg);
    std::vector<int> pv(std::max(1, n));
    be.downloadInt(pv.data(), rootPiv_.get(), n);
    for (int t = 0; t < n; t++) {
      logdet_ += std::log(std::fabs(dg[t]));
      if (dg[t] < 0) sign_ = -sign_;
      if (pv[t] != t + 1) sign_ = -sign_;
    }
  }
  stats_[0].minrank = stats_[0].maxrank = 0;
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
    factorLevel(l, l - 1 == top_);
    if (!status_.ok) return;
  }
  factorRoot();
  tfactor_ = now() - t0;
}

// Substitution: forward over the levels (leaves up), root, backward (root down).  Within a level
// every cell is independent; the products with the near cells' factors are summed per target in
// rounds (one term per target per batch).
template <typename T>
void UlvFactorization<T>::solve(bool transpose, int k, T *x, int ldx) const
{
  if (!status_.ok) throw Error(ERR_NUMERIC, "the factorization failed: " + status_.message);
  const ClusterTree &Tr = *tree_;
  const int L = Tr.levels();
  const int Nn = Tr.size();
  const bool sym = opt_.basis.symmetric;
  const bool tr = transpose && !sym;
  Backend<T> &be = *be_;
  // right-hand sides on the backend (N x k, ld N)
  Buffer<T> X(be, static_cast<size_t>(Nn) * k);
  {
    HostFill<T> h(be, X.get(), static_cast<size_t>(Nn) * k);
    for (int j = 0; j < k; j++)
      for (int t = 0; t < Nn; t++) h.data()[t + static_cast<size_t>(j) * Nn] = x[t + static_cast<size_t>(j) * ldx];
    h.commit();
  }
  // per level: c (n_i x k, transformed right-hand side), z (p_i x k, pivot solves)
  std::vector<Buffer<T>> c(L + 1), z(L + 1);
  std::vector<std::vector<size_t>> coff(L + 1), zoff(L + 1);
  std::vector<CopyItem<T>> cp;
  std::vector<GemmItem<T>> gi;
  for (int l = L; l > top_; l--) {
    const Level &Lv = *levels_[l];
    const PairList &N = Tr.nearList(l);
    const int nc = Tr.ncells(l);
    const auto &n = Lv.n, &r = Lv.r, &p = Lv.p;
    Offsets co, zo;
    for (int i = 0; i < nc; i++) {
      co.add(static_cast<size_t>(n[i]) * k);
      zo.add(static_cast<size_t>(p[i]) * k);
    }
    c[l] = Buffer<T>(be, co.total);
    z[l] = Buffer<T>(be, zo.total);
    coff[l] = co.off;
    zoff[l] = zo.off;
    auto cp_ = [&](int i) { return c[l].get() + coff[l][i]; };
    auto zp = [&](int i) { return z[l].get() + zoff[l][i]; };
    // gather the input of each cell: leaves from X, upper cells from the children's sigma parts
    Buffer<T> b(be, co.total);
    cp.clear();
    for (int i = 0; i < nc; i++) {
      T *bi = b.get() + co.off[i];
      if (l == L) cp.push_back({'N', n[i], k, X.get() + Tr.cell(L, i).begin, Nn, bi, n[i]});
      else {
        const Level &Lc = *levels_[l + 1];
        const int r1 = Lc.r[2 * i], r2 = Lc.r[2 * i + 1];
        cp.push_back({'N', r1, k, c[l + 1].get() + coff[l + 1][2 * i], Lc.n[2 * i], bi, n[i]});
        cp.push_back({'N', r2, k, c[l + 1].get() + coff[l + 1][2 * i + 1], Lc.n[2 * i + 1], bi + r1, n[i]});
      }
    }
    be.copy(T(1), cp);
    gi.clear();
    for (int i = 0; i < nc; i++) gi.push_back({'T', 'N', n[i], k, n[i], tr ? Lv.Qcp(i) : Lv.Qrp(i), n[i], b.get() + co.off[i], n[i], cp_(i), n[i]});
    be.gemm(T(1), T(0), gi);
    // pivot solves on the redundant parts
    cp.clear();
    for (int i = 0; i < nc; i++) cp.push_back({'N', p[i], k, cp_(i) + r[i], n[i], zp(i), ld1(p[i])});
    be.copy(T(1), cp);
    std::vector<TrsmItem<T>> ti;
    std::vector<LuSolveItem<T>> si;
    for (int i = 0; i < nc; i++) {
      if (!Lv.lu[i]) ti.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), zp(i), ld1(p[i])});
      else si.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), Lv.pivp(i), zp(i), ld1(p[i])});
    }
    be.trsm('L', 'N', 'N', T(1), ti);
    be.getrs(tr ? 'T' : 'N', si);
    // skeleton updates: c_sigma_i -= sum_{k near i} Lf_ik z_k, in rounds
    // (Lf_ik: Cholesky: (L^{-1}B_ki)^T; LU symmetric: B_ki^T; LU nonsymmetric: C_ik; transposed solve: B_ki^T)
    for (int round = 0;; round++) {
      gi.clear();
      bool more = false;
      for (int i = 0; i < nc; i++) {
        const int q = N.ptr[i] + round;
        if (q >= N.ptr[i + 1]) continue;
        more = more || q + 1 < N.ptr[i + 1];
        const int kk = N.col[q];
        if (p[kk] == 0 || r[i] == 0) continue;
        if (sym || tr) gi.push_back({'T', 'N', r[i], k, p[kk], Lv.Bp(N.find(kk, i)), ld1(p[kk]), zp(kk), ld1(p[kk]), cp_(i), n[i]});
        else gi.push_back({'N', 'N', r[i], k, p[kk], Lv.Cp(q), ld1(r[i]), zp(kk), ld1(p[kk]), cp_(i), n[i]});
      }
      be.gemm(T(-1), T(1), gi);
      if (!more) break;
    }
  }
  // root
  const int n0 = rootN_;
  Buffer<T> xr(be, static_cast<size_t>(n0) * k);
  cp.clear();
  if (L == 0) cp.push_back({'N', n0, k, X.get(), Nn, xr.get(), ld1(n0)});
  else
    for (int a = 0, o = 0; a < Tr.ncells(top_ + 1); a++) { // the skeleton parts of the cells of level top_+1
      const Level &Lc = *levels_[top_ + 1];
      cp.push_back({'N', Lc.r[a], k, c[top_ + 1].get() + coff[top_ + 1][a], Lc.n[a], xr.get() + o, ld1(n0)});
      o += Lc.r[a];
    }
  be.copy(T(1), cp);
  if (n0 > 0) {
    if (rootChol_) {
      const std::vector<TrsmItem<T>> ti{{n0, k, root_.get(), n0, xr.get(), n0}};
      be.trsm('L', 'N', 'N', T(1), ti);
      be.trsm('L', 'T', 'N', T(1), ti);
    } else be.getrs(tr ? 'T' : 'N', {{n0, k, root_.get(), n0, rootPiv_.get(), xr.get(), n0}});
  }
  // backward: the sigma part of cell i of level l sits in its parent's solution (level l-1's
  // output, n_I x k), or in the root's solution for the cells of level top_+1
  Buffer<T> xprev = std::move(xr);
  std::vector<size_t> poff; // offsets of the parents' solutions in xprev (unused for the root)
  for (int l = top_ + 1; l <= L; l++) {
    const Level &Lv = *levels_[l];
    const PairList &N = Tr.nearList(l);
    const int nc = Tr.ncells(l);
    const auto &n = Lv.n, &r = Lv.r, &p = Lv.p;
    std::vector<const T *> sig(nc);
    std::vector<int> lds(nc);
    for (int i = 0, o = 0; i < nc; i++) {
      if (l == top_ + 1) sig[i] = xprev.get() + o, lds[i] = ld1(n0), o += r[i];
      else {
        const int I = i / 2, nI = r[2 * I] + r[2 * I + 1];
        sig[i] = xprev.get() + poff[I] + ((i % 2) ? r[2 * I] : 0), lds[i] = ld1(nI);
      }
    }
    Offsets xo;
    for (int i = 0; i < nc; i++) xo.add(static_cast<size_t>(n[i]) * k);
    Buffer<T> xt(be, xo.total), xout(be, xo.total);
    auto xtp = [&](int i) { return xt.get() + xo.off[i]; };
    // xt = [x_sigma ; z (Cholesky) or c_rho (LU)]
    cp.clear();
    for (int i = 0; i < nc; i++) {
      cp.push_back({'N', r[i], k, sig[i], lds[i], xtp(i), n[i]});
      if (!Lv.lu[i]) cp.push_back({'N', p[i], k, z[l].get() + zoff[l][i], ld1(p[i]), xtp(i) + r[i], n[i]});
      else cp.push_back({'N', p[i], k, c[l].get() + coff[l][i] + r[i], n[i], xtp(i) + r[i], n[i]});
    }
    be.copy(T(1), cp);
    // x_rho -= sum_j B_ij x_sigma_j (transposed: C_ji^T x_sigma_j), in rounds
    for (int round = 0;; round++) {
      gi.clear();
      bool more = false;
      for (int i = 0; i < nc; i++) {
        const int q = N.ptr[i] + round;
        if (q >= N.ptr[i + 1]) continue;
        more = more || q + 1 < N.ptr[i + 1];
        const int j = N.col[q];
        if (p[i] == 0 || r[j] == 0) continue;
        if (!tr) gi.push_back({'N', 'N', p[i], k, r[j], Lv.Bp(q), ld1(p[i]), sig[j], lds[j], xtp(i) + r[i], n[i]});
        else gi.push_back({'T', 'N', p[i], k, r[j], Lv.Cp(N.find(j, i)), ld1(r[j]), sig[j], lds[j], xtp(i) + r[i], n[i]});
      }
      be.gemm(T(-1), T(1), gi);
      if (!more) break;
    }
    std::vector<TrsmItem<T>> ti;
    std::vector<LuSolveItem<T>> si;
    for (int i = 0; i < nc; i++) {
      if (!Lv.lu[i]) ti.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), xtp(i) + r[i], n[i]});
      else si.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), Lv.pivp(i), xtp(i) + r[i], n[i]});
    }
    be.trsm('L', 'T', 'N', T(1), ti);
    be.getrs(tr ? 'T' : 'N', si);
    gi.clear();
    for (int i = 0; i < nc; i++) gi.push_back({'N', 'N', n[i], k, n[i], tr ? Lv.Qrp(i) : Lv.Qcp(i), n[i], xtp(i), n[i], xout.get() + xo.off[i], n[i]});
    be.gemm(T(1), T(0), gi);
    xprev = std::move(xout);
    poff = xo.off;
  }
  // leaves (or the single root block) back to X, then to x
  cp.clear();
  if (L == 0) cp.push_back({'N', n0, k, xprev.get(), ld1(n0), X.get(), Nn});
  else
    for (int i = 0; i < Tr.ncells(L); i++) {
      const Cell &cl = Tr.cell(L, i);
      cp.push_back({'N', cl.size(), k, xprev.get() + poff[i], ld1(cl.size()), X.get() + cl.begin, Nn});
    }
  be.copy(T(1), cp);
  HostRead<T> h(be, X.get(), static_cast<size_t>(Nn) * k);
  for (int j = 0; j < k; j++)
    for (int t = 0; t < Nn; t++) x[t + static_cast<size_t>(j) * ldx] = h.data()[t + static_cast<size_t>(j) * Nn];
}

template <typename T>
void UlvFactorization<T>::bytesSplit(size_t &factors, size_t &bases, size_t &kernel) const
{
  factors = root_.bytes() + rootPiv_.size() * sizeof(int);
  for (const auto &lv : levels_)
    if (lv) factors += lv->bytes();
  bases  = S_->bytes();
  kernel = KrootFar_.bytes();
  for (const auto &m : Knear_) kernel += m.bytes();
  for (const auto &lev : Kfar_)
    for (const auto &m : lev) kernel += m.bytes();
}

template <typename T>
size_t UlvFactorization<T>::bytes() const
{
  size_t f, b, k;
  bytesSplit(f, b, k);
  return f + b + k;
}

template <typename T>
double UlvFactorization<T>::factorFlops() const
{
  double f = std::pow(static_cast<double>(rootN_), 3) / 3.0;
  for (const auto &s : stats_) f += s.flops;
  return f;
}

template class UlvFactorization<double>;
template class UlvFactorization<float>;

} // namespace h2ulv
