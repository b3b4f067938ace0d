// The per-level factorization (docs/algorithm.md, "The per-level ULV factorization"): factorLevel()
// runs one level as a sequence of stages over one LevelWork (ulv_impl.hpp), each stage a few
// batches on the backend; factorRoot() factors the dense root.
#include "ulv_impl.hpp"

#include <array>
#include <cmath>
#include <memory>
#include <sstream>

namespace h2ulv {

using ulvimpl::allgatherRows;
using ulvimpl::inRounds;

namespace {
template <typename U, typename V>
Matrix<U> cast(const Matrix<V> &A)
{
  Matrix<U> B(A.rows(), A.cols());
  for (size_t t = 0; t < A.size(); t++) B.data()[t] = static_cast<U>(A.data()[t]);
  return B;
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
// Adds to `out` the flops counted (in `counter`) between its construction and its end, however
// the scope is left.
class FlopSpan {
public:
  FlopSpan(const double &counter, double &out) : c_(counter), f0_(counter), out_(out) { }
  FlopSpan(const FlopSpan &) = delete;
  FlopSpan &operator=(const FlopSpan &) = delete;
  ~FlopSpan() { out_ += c_ - f0_; }

private:
  const double &c_;
  const double f0_;
  double &out_;
};

} // namespace

// Host A^(l) (double, my rows) -> backend (T), the input of factorLevel(l)
template <typename T>
void UlvFactorization<T>::uploadA(int l)
{
  const auto &A = A_[l];
  const PairList &N = tree_->nearList(l);
  COff ao(N.nnz());
  for (int i : lay_->owned(l))
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) ao.set(q, A[q].size());
  if (adoptBlocks(l, ao.off, ao.total, Acur_)) {
    Aoff_ = std::move(ao.off);
    return;
  }
  Acur_ = Buffer<T>(*be_, ao.total);
  HostFill<T> h(*be_, Acur_.get(), ao.total);
  const std::vector<int> &own = lay_->owned(l);
  parallelFor(static_cast<int>(own.size()), opt_.basis.threaded, [&](int u) {
    for (int q = N.ptr[own[u]]; q < N.ptr[own[u] + 1]; q++) std::copy(A[q].data(), A[q].data() + A[q].size(), h.data() + ao.off[q]);
  });
  h.commit();
  Aoff_ = std::move(ao.off);
}

// The backend's level buffer `buf` (layout off, total entries) over the host blocks of A^(l)
// without a copy, where they lie side by side in that layout in one region (levelBlocks()) and
// the backend computes in double on the host; the region is the buffer's from then on
template <typename T>
bool UlvFactorization<T>::adoptBlocks(int l, const std::vector<size_t> &off, size_t total, Buffer<T> &buf)
{
  if constexpr (!std::is_same<T, double>::value) return false;
  else {
    const std::vector<Matrix<double>> &A = A_[l];
    const PairList &N = tree_->nearList(l);
    BlockArena *arena = nullptr;
    const double *base = nullptr;
    for (int i : lay_->owned(l))
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        if (A[q].empty()) continue;
        if (!arena) {
          arena = A[q].arena();
          base = A[q].data() - off[q];
          if (!arena || base != arena->base()) return false;
        }
        if (A[q].arena() != arena || A[q].data() != base + off[q]) return false;
      }
    if (!arena || !be_->adopt(const_cast<double *>(base), total)) return false;
    arena->detach();
    buf = Buffer<T>::adopted(*be_, const_cast<double *>(base), total);
    return true;
  }
}

// One level, as a sequence of batches on the backend: transform the near blocks with [U U_perp],
// factor the redundant pivot blocks, panel solves, Schur complements in rounds (one term per
// target per round: no two items of a batch write one block, and the sums are deterministic),
// merge the skeleton blocks into A^(l-1).  Each process does the rows of its own cells.
// Stages and their messages (one neighbour exchange each, planned once; none on one process):
//   Q        bases [U U_perp] of my cells; the near ghosts' Q in                     (nearX_)
//   1.       transform my rows; symmetric: the sigma x rho parts of the blocks (j, i),
//            i mine > j, that other processes computed, in (X1)                     (nearX_)
//   2.       pivots (Cholesky / LU), failures agreed; the near ghosts' LU flags in       (nearX_)
//   3.       panels of my rows; the near ghosts' panels B, D^-1 B, C in               (nearX_)
//   4.       Schur complements of my targets; symmetric: the targets (j, i) of other
//            processes, transposed, in (X2)                                         (S.partners)
//   5.       merge: a child row whose parent is another process' goes up to it        (S.up)
template <typename T>
void UlvFactorization<T>::factorLevel(int l, bool hostNext)
{
  // A^(l) on the backend (the leaf level comes from the host; the others from the merge below);
  // the host copy (for the fill-in generators of level l) is not needed any more
  if (!Acur_.get() && !A_[l].empty()) uploadA(l);
  std::vector<Matrix<double>>().swap(A_[l]);
  LevelWork lw(*this, l);
  levelBases(lw);
  levelCouplings(lw);
  transformNear(lw);
  crossPanels(lw);
  pivotBlocks(lw);
  if (!factorPivots(lw)) {
    levels_[l] = std::move(lw.lev);
    return;
  }
  pivotDeterminant(lw);
  panelSolves(lw);
  schurComplements(lw);
  if (lw.sym) lowerTargets(lw);
  if (opt_.droppedNorms && opt_.schur == SchurVariant::TwoHop) droppedTerms(lw);
  mergeToParent(lw, hostNext);
  levels_[l] = std::move(lw.lev);
  lw.st.flops = *batchFlops_ - lw.flops0 - lw.diagnosticFlops; // executed (my rows), transforms to merge
}

// Q: the bases [U U_perp] of my cells on the backend, and the ghosts' (nearX_; symmetric: aboveX_)
template <typename T>
void UlvFactorization<T>::levelBases(LevelWork &lw)
{
  const int l = lw.l;
  const H2Structure &S = lw.S;
  const bool sym = lw.sym, threaded = lw.threaded;
  const std::vector<int> &own = lw.own;
  Backend<T> &be = lw.be;
  Level &Lv = lw.Lv;
  const std::vector<int> &n = lw.n;
  const COff &qo = lw.qo;
  for (bool row : {true, false}) {
    if (!row && sym) break;
    Buffer<T> Q(be, qo.total);
    {
      HostFill<T> h(be, Q.get(), qo.total);
      parallelFor(static_cast<int>(own.size()), threaded, [&](int u) {
        const Matrix<double> &U = S.basis(l, own[u], row).U;
        std::copy(U.data(), U.data() + U.size(), h.data() + qo.off[own[u]]);
      });
      h.commit();
    }
    // the ghosts' bases: symmetric, only those above my cells (the blocks below the diagonal are not transformed here)
    exchange(sym ? *aboveX_[l] : *nearX_[l], Q, [&](int k) { return n[k] * n[k]; }, [&](int k) { return qo.off[k]; }, false);
    (row ? Lv.Qr : Lv.Qc) = std::move(Q);
  }
}

// 1. transform my rows' near blocks in place, Ah = Acur_
template <typename T>
void UlvFactorization<T>::transformNear(LevelWork &lw)
{
  const PairList &N = lw.N;
  const bool sym = lw.sym;
  const std::vector<int> &own = lw.own;
  Backend<T> &be = lw.be;
  Level &Lv = lw.Lv;
  const std::vector<int> &n = lw.n;
  COff &ao = lw.ao;
  Buffer<T> &Ah = lw.Ah;
  // 1. transform my rows' near blocks: Ah_ij = Qr_i^T A_ij Qc_j (symmetric: a block whose
  //    transpose is also mine is computed once and transposed)
  ao = COff(N.nnz());
  for (int i : own)
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) ao.set(q, static_cast<size_t>(n[i]) * n[N.col[q]]);
  if (ao.total != Acur_.size()) throw Error(ERR_INTERNAL, "internal: the level matrix does not match the near pairs");
  Ah = std::move(Acur_); // transformed in place: W = Qr^T A, then A <- W Qc
  {
    // in chunks of blocks through one workspace W of at most kChunk entries (or one block): the
    // workspace of the whole level would double its memory and its first-touch page faults
    constexpr size_t kChunk = size_t(8) << 20;
    std::vector<std::pair<int, int>> qs; // (row cell, pair)
    size_t wmax = 0;
    for (int i : own)
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++)
        if (!lw.viaTranspose(i, N.col[q])) {
          qs.push_back({i, q});
          wmax = std::max(wmax, static_cast<size_t>(n[i]) * n[N.col[q]]);
        }
    Buffer<T> W(be, std::max<size_t>(1, std::max(wmax, std::min(kChunk, ao.total))));
    std::vector<GemmItem<T>> g1, g2;
    size_t used = 0;
    auto flush = [&]() {
      be.gemm(T(1), T(0), g1);
      be.gemm(T(1), T(0), g2);
      g1.clear(), g2.clear(), used = 0;
    };
    for (const auto &iq : qs) {
      const int i = iq.first, q = iq.second, j = N.col[q];
      const size_t sz = static_cast<size_t>(n[i]) * n[j];
      if (used + sz > W.size()) flush();
      T *w = W.get() + used;
      used += sz;
      g1.push_back({'T', 'N', n[i], n[j], n[i], Lv.Qrp(i), n[i], lw.ahp(q), n[i], w, n[i]});
      g2.push_back({'N', 'N', n[i], n[j], n[j], w, n[i], Lv.Qcp(j), n[j], lw.ahp(q), n[i]});
    }
    if (!g1.empty()) flush();
  }
  std::vector<CopyItem<T>> cp;
  if (sym) {
    for (int i : own)
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        if (lw.viaTranspose(i, j) && !lw.remote(j)) cp.push_back({'T', n[i], n[j], lw.ahp(N.find(j, i)), n[j], lw.ahp(q), n[i]});
      }
    be.copy(T(1), cp);
  }
}

// 1. (symmetric, several processes) the sigma_j x rho_i parts of the other processes' blocks
// (j, i), i mine > j, into X1
template <typename T>
void UlvFactorization<T>::crossPanels(LevelWork &lw)
{
  const int l = lw.l, nc = lw.nc, me = lw.me;
  const PairList &N = lw.N;
  const bool sym = lw.sym;
  const std::vector<int> &own = lw.own;
  const std::vector<char> &present = lw.present;
  Backend<T> &be = lw.be;
  const std::vector<int> &n = lw.n, &r = lw.r, &p = lw.p;
  COff &x1o = lw.x1o;
  Buffer<T> &X1 = lw.X1;
  std::vector<CopyItem<T>> cp;
  // (symmetric, several processes) the other processes' blocks (j, i), i mine > j: their sigma_j
  // x rho_i parts, the transposes of my B_ij
  x1o = COff(nc);
  if (sym && nprocs_ > 1) {
    size_t sk;
    for (int j = 0; j < nc; j++)
      if (present[j]) x1o.set(j, lw.part(j, false, present[j] == 1 ? -1 : me, sk));
    X1 = Buffer<T>(be, x1o.total);
    cp.clear();
    for (int j : own) {
      size_t o = x1o.off[j];
      for (int i : lw.crossList(j, false)) {
        cp.push_back({'N', r[j], p[i], lw.ahp(N.find(j, i)) + static_cast<size_t>(r[i]) * n[j], n[j], X1.get() + o, ld1(r[j])});
        o += static_cast<size_t>(r[j]) * p[i];
      }
    }
    be.copy(T(1), cp);
    exchangeTo(*nearX_[l], X1, [&](int j, int d) { size_t k; return static_cast<int>(lw.part(j, false, d, k)); }, [&](int j, int d) {
      size_t k = 0;
      if (present[j] == 1) lw.part(j, false, d, k);
      return x1o.off[j] + k;
    }, false);
  }
}

// The factor blocks D, B, C of the level (Level), copied out of the transformed blocks
template <typename T>
void UlvFactorization<T>::pivotBlocks(LevelWork &lw)
{
  const PairList &N = lw.N;
  const int nc = lw.nc;
  const bool sym = lw.sym;
  const std::vector<int> &own = lw.own;
  const std::vector<char> &present = lw.present;
  Backend<T> &be = lw.be;
  Level &Lv = lw.Lv;
  const std::vector<int> &n = lw.n, &r = lw.r, &p = lw.p;
  COff &dof = lw.dof, &pvo = lw.pvo, &bo = lw.bo, &co = lw.co;
  std::vector<CopyItem<T>> cp;
  // the factor blocks: D_k = Ah_kk(rho, rho), B_kj = Ah_kj(rho, sigma), C_ik = Ah_ik(sigma, rho)
  // (B and C also hold the ghosts' rows, filled by the exchange after the panels)
  dof = COff(nc), pvo = COff(nc), bo = COff(N.nnz()), co = COff(N.nnz());
  for (int k : own) {
    dof.set(k, static_cast<size_t>(p[k]) * p[k]);
    pvo.set(k, p[k]);
  }
  for (int i = 0; i < nc; i++)
    if (present[i])
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        bo.set(q, static_cast<size_t>(p[i]) * r[N.col[q]]);
        if (!sym) co.set(q, static_cast<size_t>(r[i]) * p[N.col[q]]);
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
  cp.clear();
  for (int k : own) {
    cp.push_back(lw.dItem(k));
    for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) {
      const int j = N.col[q];
      if (lw.viaTranspose(k, j) && lw.remote(j)) cp.push_back({'T', p[k], r[j], lw.x1Block(k, j), ld1(r[j]), Lv.Bp(q), ld1(p[k])});
      else cp.push_back({'N', p[k], r[j], lw.ahp(q) + r[k], n[k], Lv.Bp(q), ld1(p[k])});
      if (!sym) cp.push_back({'N', r[k], p[j], lw.ahp(q) + static_cast<size_t>(r[j]) * n[k], n[k], Lv.Cp(q), ld1(r[k])});
    }
  }
  be.copy(T(1), cp);
  lw.st.corrected = crossAt(lw.l);
  if (lw.st.corrected) { // E_kj = Ah_kj(rho, rho), k != j, for the solve's correction
    COff eo(N.nnz());
    for (int k : own)
      for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++)
        if (N.col[q] != k) eo.set(q, static_cast<size_t>(p[k]) * p[N.col[q]]);
    Lv.E = Buffer<T>(be, eo.total);
    Lv.eoff = eo.off;
    cp.clear();
    for (int k : own)
      for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) {
        const int j = N.col[q];
        if (j != k) cp.push_back({'N', p[k], p[j], lw.ahp(q) + r[k] + static_cast<size_t>(r[j]) * n[k], n[k], Lv.Ep(q), ld1(p[k])});
      }
    be.copy(T(1), cp);
  }
}

// 2. factor the pivots, the failures agreed over the processes (false: the factorization failed);
// then the ghosts' LU flags
template <typename T>
bool UlvFactorization<T>::factorPivots(LevelWork &lw)
{
  const int l = lw.l, nc = lw.nc;
  const bool sym = lw.sym;
  const std::vector<int> &own = lw.own, &gh = lw.gh;
  Backend<T> &be = lw.be;
  Level &Lv = lw.Lv;
  const std::vector<int> &p = lw.p;
  COff &dof = lw.dof;
  std::vector<int> &luc = lw.luc;
  std::vector<double> &dg = lw.dg;
  std::vector<CopyItem<T>> cp;
  // 2. pivots: Cholesky (symmetric, when allowed) with LU fallback, or LU
  std::vector<std::string> fail(nc);
  std::vector<int> info;
  if (sym && opt_.cholesky) {
    std::vector<FactorItem<T>> fi;
    for (int k : own) fi.push_back(lw.fitem(k));
    be.potrf(fi, info);
    cp.clear();
    for (size_t t = 0; t < own.size(); t++) {
      const int k = own[t];
      if (info[t] == 0) continue;
      if (opt_.choleskyRequired) {
        std::ostringstream os;
        os << "the pivot block of cell " << k << " on level " << l << " is not positive definite (Cholesky failed at column " << info[t] << "): " << notSpd();
        fail[k] = os.str();
        continue;
      }
      Lv.lu[k] = 1;
      status_.usedLU = true;
      cp.push_back(lw.dItem(k)); // the block again, for LU
    }
    be.copy(T(1), cp);
  }
  for (int k : own)
    if (Lv.lu[k] && fail[k].empty()) luc.push_back(k);
  if (sym && !luc.empty()) { // inertia of the LU pivots from a Bunch-Kaufman factorization on the host
    HostRead<T> h(be, Lv.D.get(), dof.total);
    for (int k : luc) {
      int ng, zr, ps;
      blas::inertia(p[k], h.data() + dof.off[k], ld1(p[k]), ng, zr, ps, zeroPivotAbs());
      inertia_[0] += ng, inertia_[1] += zr, inertia_[2] += ps;
    }
  }
  if (!luc.empty()) {
    std::vector<FactorItem<T>> fi;
    for (int k : luc) fi.push_back(lw.fitem(k));
    be.getrf(fi, info);
    for (size_t t = 0; t < luc.size(); t++)
      if (info[t] > 0) {
        std::ostringstream os;
        os << "the pivot block of cell " << luc[t] << " on level " << l << " is singular (zero pivot at " << info[t] << ")";
        fail[luc[t]] = os.str();
      }
  }
  // dg: the factors' diagonals (Cholesky L, LU U), own cells in order
  {
    std::vector<FactorItem<T>> fi;
    for (int k : own) fi.push_back(lw.fitem(k));
    be.diagonals(fi, dg);
    size_t o = 0;
    for (int k : own) {
      if (fail[k].empty()) fail[k] = zeroPivot(dg.data() + o, p[k], !Lv.lu[k], "the pivot block of cell " + std::to_string(k) + " on level " + std::to_string(l));
      o += p[k];
    }
  }
  for (int k : own)
    if (!fail[k].empty() && status_.ok) {
      status_.ok = false;
      status_.message = fail[k];
    }
  agreeStatus();
  if (!status_.ok) return false;
  if (nprocs_ > 1) { // which ghosts are LU (their kind decides the form of their panels): one int each
    std::vector<int> f(nc, 0);
    for (int k : own) f[k] = Lv.lu[k];
    nearX_[l]->run([](int) { return 1; }, [&](int k) { return &f[k]; });
    for (int k : gh) Lv.lu[k] = static_cast<char>(f[k]);
  }
  return true;
}

// 2. log |det|, its sign and the inertia from my pivots
template <typename T>
void UlvFactorization<T>::pivotDeterminant(LevelWork &lw)
{
  const int l = lw.l;
  const H2Structure &S = lw.S;
  const bool sym = lw.sym;
  const std::vector<int> &own = lw.own;
  Backend<T> &be = lw.be;
  Level &Lv = lw.Lv;
  const std::vector<int> &p = lw.p;
  COff &pvo = lw.pvo;
  std::vector<int> &luc = lw.luc;
  std::vector<double> &dg = lw.dg;
  { // log |det| and sign from the pivots' diagonals (and LU's row interchanges)
    std::vector<int> pv(std::max<size_t>(1, pvo.total));
    if (!luc.empty()) be.downloadInt(pv.data(), Lv.piv.get(), pvo.total);
    size_t o = 0;
    for (int k : own) {
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
      for (int k : own)
        for (bool row : {true, false}) {
          Matrix<double> Fq = S.basis(l, k, row).U;
          std::vector<int> ipv(std::max(1, Fq.rows()));
          blas::getrf(Fq.rows(), Fq.data(), Fq.ld(), ipv.data());
          for (int t = 0; t < Fq.rows(); t++)
            if ((Fq(t, t) < 0) != (ipv[t] != t + 1)) sign_ = -sign_;
        }
  }
}

// 3. the panel solves of my rows, and the ghosts' panels in
template <typename T>
void UlvFactorization<T>::panelSolves(LevelWork &lw)
{
  const int l = lw.l, nc = lw.nc;
  const PairList &N = lw.N;
  const bool sym = lw.sym;
  const std::vector<int> &own = lw.own;
  const std::vector<char> &present = lw.present;
  Backend<T> &be = lw.be;
  Level &Lv = lw.Lv;
  const std::vector<int> &r = lw.r, &p = lw.p;
  COff &bo = lw.bo, &co = lw.co;
  Buffer<T> &Rt = lw.Rt;
  std::vector<CopyItem<T>> cp;
  // 3. panels.  Cholesky cells: B <- L^{-1} B (kept).  LU cells: Rt = D^{-1} B (temporary).
  bool anyLU = false;
  for (int k = 0; k < nc; k++) anyLU = anyLU || (present[k] && Lv.lu[k]);
  {
    std::vector<TrsmItem<T>> ti;
    std::vector<LuSolveItem<T>> si;
    cp.clear();
    if (anyLU) Rt = Buffer<T>(be, bo.total);
    for (int k : own)
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
  // the ghosts' panels (each row is contiguous in B, Rt and C)
  {
    auto rowB = [&](int k) {
      long s = 0;
      for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) s += static_cast<long>(p[k]) * r[N.col[q]];
      return static_cast<int>(s);
    };
    auto offB = [&](int k) { return bo.off[N.ptr[k]]; };
    exchange(*nearX_[l], Lv.B, rowB, offB, false);
    if (anyLU) exchange(*nearX_[l], Rt, [&](int k) { return Lv.lu[k] ? rowB(k) : 0; }, offB, false);
    if (!sym)
      exchange(*nearX_[l], Lv.C, [&](int k) {
        long s = 0;
        for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) s += static_cast<long>(r[k]) * p[N.col[q]];
        return static_cast<int>(s);
      }, [&](int k) { return co.off[N.ptr[k]]; }, false);
  }
}

// 4. the Schur complements of my targets (the upper ones when symmetric), summed in rounds
template <typename T>
void UlvFactorization<T>::schurComplements(LevelWork &lw)
{
  const PairList &N = lw.N, &F = lw.F;
  const std::vector<int> &own = lw.own;
  Backend<T> &be = lw.be;
  const std::vector<int> &n = lw.n, &r = lw.r, &p = lw.p;
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
  for (int i : own)
    for (const PairList *lst : {&N, &F})
      for (int q = lst->ptr[i]; q < lst->ptr[i + 1]; q++) {
        const int j = lst->col[q];
        if (lw.viaTranspose(i, j)) continue; // filled by transposition below
        Target t{i, j, lst == &N ? lw.ahp(q) : lw.tfp(q), lst == &N ? n[i] : ld1(r[i]), {}};
        if (var == SchurVariant::Diag) {
          if (i == j) t.ks.push_back(i);
        } else if (var == SchurVariant::Near1) {
          if (lst != &N) continue;
          if (i == j)
            for (int u = N.ptr[i]; u < N.ptr[i + 1]; u++) t.ks.push_back(N.col[u]);
          else t.ks = std::vector<int>{i, j};
        } else // two-hop: every k near to both i and j
          for (int u = N.ptr[i]; u < N.ptr[i + 1]; u++)
            if (N.find(N.col[u], j) >= 0) t.ks.push_back(N.col[u]);
        if (!t.ks.empty()) tg.push_back(std::move(t));
      }
  inRounds(be, tg.size(), [&](size_t t, size_t round) { return round < tg[t].ks.size(); }, [&](size_t t, size_t round, std::vector<GemmItem<T>> &gi) {
    const Target &g = tg[t];
    if (p[g.ks[round]] > 0) gi.push_back(lw.term(g.i, g.ks[round], g.j, g.c, g.ldc));
  }, T(-1));
}

// 4. (symmetric) my lower targets: the transposes of the upper ones (another process' sent as
// T_ji through S.partners)
template <typename T>
void UlvFactorization<T>::lowerTargets(LevelWork &lw)
{
  const int l = lw.l, nc = lw.nc, me = lw.me;
  const H2Structure &S = lw.S;
  const PairList &N = lw.N, &F = lw.F;
  const std::vector<int> &own = lw.own;
  Backend<T> &be = lw.be;
  const std::vector<int> &n = lw.n, &r = lw.r;
  std::vector<CopyItem<T>> cp;
  Buffer<T> X2;
  COff x2o(nc);
  if (nprocs_ > 1) {
    const Exchange &px = S.partners(l);
    std::vector<char> in(nc, 0);
    for (const auto &w : px.recvCells())
      for (int j : w) in[j] = 2;
    for (int j : own) in[j] = 1;
    size_t sk;
    for (int j = 0; j < nc; j++)
      if (in[j]) x2o.set(j, lw.part(j, true, in[j] == 1 ? -1 : me, sk));
    X2 = Buffer<T>(be, x2o.total);
    cp.clear();
    for (int j : own) {
      size_t o = x2o.off[j];
      for (int i : lw.crossList(j, true)) {
        const int qn = N.find(j, i);
        if (qn >= 0) cp.push_back({'N', r[j], r[i], lw.ahp(qn), n[j], X2.get() + o, ld1(r[j])});
        else cp.push_back({'N', r[j], r[i], lw.tfp(F.find(j, i)), ld1(r[j]), X2.get() + o, ld1(r[j])});
        o += static_cast<size_t>(r[j]) * r[i];
      }
    }
    be.copy(T(1), cp);
    exchangeTo(px, X2, [&](int j, int d) { size_t k; return static_cast<int>(lw.part(j, true, d, k)); }, [&](int j, int d) {
      size_t k = 0;
      if (in[j] == 1) lw.part(j, true, d, k);
      return x2o.off[j] + k;
    }, false);
  }
  auto x2Block = [&](int i, int j) { return lw.received(X2.get(), x2o.off[j], i, j, true); };
  cp.clear();
  for (int i : own) {
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
      const int j = N.col[q];
      if (!lw.viaTranspose(i, j)) continue;
      if (lw.remote(j)) cp.push_back({'T', r[i], r[j], x2Block(i, j), ld1(r[j]), lw.ahp(q), n[i]});
      else cp.push_back({'T', r[i], r[j], lw.ahp(N.find(j, i)), n[j], lw.ahp(q), n[i]});
    }
    for (int q = F.ptr[i]; q < F.ptr[i + 1]; q++) {
      const int j = F.col[q];
      if (!lw.viaTranspose(i, j)) continue;
      if (lw.remote(j)) cp.push_back({'T', r[i], r[j], x2Block(i, j), ld1(r[j]), lw.tfp(q), ld1(r[i])});
      else cp.push_back({'T', r[i], r[j], lw.tfp(F.find(j, i)), ld1(r[j]), lw.tfp(q), ld1(r[i])});
    }
  }
  be.copy(T(1), cp);
}

// 4. (UlvOptions::droppedNorms, two-hop) the norm of the Schur terms that fall outside the pattern
template <typename T>
void UlvFactorization<T>::droppedTerms(LevelWork &lw)
{
  const PairList &N = lw.N, &F = lw.F;
  const std::vector<int> &own = lw.own;
  Backend<T> &be = lw.be;
  const std::vector<int> &r = lw.r, &p = lw.p;
  UlvLevelStats &st = lw.st;
  FlopSpan span(*batchFlops_, lw.diagnosticFlops);
  std::vector<std::array<int, 3>> trip;
  Offsets zo;
  for (int i : own)
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
  for (size_t t = 0; t < trip.size(); t++) gi.push_back(lw.term(trip[t][0], trip[t][1], trip[t][2], Z.get() + zo.off[t], ld1(r[trip[t][0]])));
  be.gemm(T(-1), T(0), gi); // one term per Z block
  HostRead<T> h(be, Z.get(), zo.total);
  double dn = 0, dsum = 0;
  for (size_t t = 0; t < zo.total; t++) dn += static_cast<double>(h.data()[t]) * h.data()[t];
  MPI_Allreduce(&dn, &dsum, 1, MPI_DOUBLE, MPI_SUM, comm_);
  st.dropped = std::sqrt(dsum);
}

// 5. merge the skeleton blocks into A^(l-1), on the backend (and on the host when hostNext)
template <typename T>
void UlvFactorization<T>::mergeToParent(LevelWork &lw, bool hostNext)
{
  const int l = lw.l, nc = lw.nc;
  const ClusterTree &Tr = lw.Tr;
  const H2Structure &S = lw.S;
  const Layout &lay = lw.lay;
  const PairList &N = lw.N, &F = lw.F;
  const bool threaded = lw.threaded;
  const std::vector<char> &present = lw.present;
  Backend<T> &be = lw.be;
  const std::vector<int> &n = lw.n, &r = lw.r;
  std::vector<CopyItem<T>> cp;
  // 5. merge: A^(l-1)_IJ = [T_cd] for c in children(I), d in children(J).  A child row whose
  //    parent is another process' goes to it first (r_c x sum_J n_J, the blocks in the parent's order).
  const PairList &Np = Tr.nearList(l - 1);
  std::vector<int> nI(Tr.ncells(l - 1));
  for (int I = 0; I < Tr.ncells(l - 1); I++) nI[I] = r[2 * I] + r[2 * I + 1];
  auto target = [&](int c, int d, const T *&src, int &lds) { // T_cd of a row c of mine
    int pos = N.find(c, d);
    if (pos >= 0) src = lw.ahp(pos), lds = n[c];
    else {
      pos = F.find(c, d);
      if (pos < 0) throw Error(ERR_LIB, "internal: a child pair of a near pair is neither near nor far");
      src = lw.tfp(pos), lds = ld1(r[c]);
    }
  };
  const Exchange &up = S.up(l);
  COff uo(nc);
  std::vector<char> sent(nc, 0), recvd(nc, 0);
  auto upWidth = [&](int c) {
    long w = 0;
    for (int q = Np.ptr[c / 2]; q < Np.ptr[c / 2 + 1]; q++) w += nI[Np.col[q]];
    return w;
  };
  for (const auto &v : up.sendCells())
    for (int c : v) sent[c] = 1;
  for (const auto &v : up.recvCells())
    for (int c : v) recvd[c] = 1;
  for (int c = 0; c < nc; c++)
    if (sent[c] || recvd[c]) uo.set(c, static_cast<size_t>(r[c]) * upWidth(c));
  Buffer<T> Ub(be, uo.total);
  cp.clear();
  for (int c = 0; c < nc; c++) {
    if (!sent[c]) continue;
    const int I = c / 2;
    size_t col = 0;
    for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
      const int J = Np.col[q];
      for (int b = 0; b < 2; b++) {
        const int d = 2 * J + b;
        const T *src;
        int lds;
        target(c, d, src, lds);
        cp.push_back({'N', r[c], r[d], src, lds, Ub.get() + uo.off[c] + col * r[c], ld1(r[c])});
        col += r[d];
      }
    }
  }
  be.copy(T(1), cp);
  exchange(up, Ub, [&](int c) { return static_cast<int>(static_cast<size_t>(r[c]) * upWidth(c)); }, [&](int c) { return uo.off[c]; }, false);
  COff mo(Np.nnz());
  for (int I : lay.owned(l - 1))
    for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) mo.set(q, static_cast<size_t>(nI[I]) * nI[Np.col[q]]);
  // the host copy (hostNext) in the layout of the buffer; on the host backend in double they are
  // one memory, and the merge writes both at once
  if (hostNext) A_[l - 1] = levelBlocks(l - 1, nI);
  Buffer<T> Anext;
  const bool shared = hostNext && adoptBlocks(l - 1, mo.off, mo.total, Anext);
  if (!shared) Anext = Buffer<T>(be, mo.total);
  cp.clear();
  for (int I : lay.owned(l - 1)) {
    std::vector<size_t> col(2, 0); // running column of the row of child a in its up payload
    for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
      const int J = Np.col[q];
      for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
          const int c = 2 * I + a, d = 2 * J + b;
          const T *src;
          int lds;
          if (present[c] == 1) target(c, d, src, lds);
          else src = Ub.get() + uo.off[c] + col[a] * r[c], lds = ld1(r[c]);
          col[a] += r[d];
          const int oi = a ? r[2 * I] : 0, oj = b ? r[2 * J] : 0;
          cp.push_back({'N', r[c], r[d], src, lds, Anext.get() + mo.off[q] + oi + static_cast<size_t>(oj) * nI[I], ld1(nI[I])});
        }
    }
  }
  be.copy(T(1), cp);
  Acur_ = std::move(Anext);
  Aoff_ = mo.off;
  if (shared) return;
  if (!hostNext) {
    A_[l - 1].assign(Np.nnz(), Matrix<double>());
    return;
  }
  HostRead<T> h(be, Acur_.get(), mo.total);
  const std::vector<int> &ownp = lay.owned(l - 1);
  parallelFor(static_cast<int>(ownp.size()), threaded, [&](int u) {
    const int I = ownp[u];
    for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
      Matrix<double> &B = A_[l - 1][q];
      const T *src = h.data() + mo.off[q];
      for (size_t t = 0; t < B.size(); t++) B.data()[t] = static_cast<double>(src[t]);
    }
  });
}

// The dense root: the cells of level top_+1 (their skeletons) as one block, assembled by rows (the
// owners of the cells of level top_), gathered on every process and factorized redundantly there
// (it is small: at most UlvOptions::maxRoot).  Its pivots' contributions are added after
// reduceScalars(), once.
template <typename T>
void UlvFactorization<T>::factorRoot()
{
  rootFlops_ = 0;
  if (!status_.ok) return;
  FlopSpan span(*batchFlops_, rootFlops_); // whichever way it returns
  const bool sym = opt_.basis.symmetric;
  const ClusterTree &Tr = *tree_;
  const Layout &lay = *lay_;
  Matrix<T> R;
  if (Tr.levels() == 0) { // a single leaf: held by the process with the points
    const int n0 = Tr.size();
    Matrix<T> Rl(lay.mine(0, 0) ? n0 : 0, n0);
    if (lay.mine(0, 0)) Rl = cast<T>(A_[0][0]);
    R.resize(n0, n0);
    allgatherRows(comm_, n0, n0, Rl.rows(), Rl.data(), R.data());
  } else {
    const int l0 = top_, nc1 = Tr.ncells(l0 + 1);
    const std::vector<int> &r = levels_[l0 + 1]->r;
    std::vector<int> off(nc1 + 1, 0);
    for (int a = 0; a < nc1; a++) off[a + 1] = off[a] + r[a];
    const int n0 = off[nc1];
    const PairList &Np = Tr.nearList(l0);
    const std::vector<int> &own = lay.owned(l0);
    const int rb = own.empty() ? 0 : off[2 * own.front()], re = own.empty() ? 0 : off[2 * own.back() + 2];
    if (KrootFar_.rows() != re - rb || KrootFar_.cols() != n0) rootCouplings(off, rb, re); // couplings between the children of non-near cells (no Schur terms reach them)
    Matrix<T> Rl(re - rb, n0);
    const double a = scale();
    for (int jj = 0; jj < n0; jj++)
      for (int ii = 0; ii < re - rb; ii++) Rl(ii, jj) = static_cast<T>(a * KrootFar_(ii, jj));
    for (int I : own)
      for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) {
        const int J = Np.col[q];
        const Matrix<double> &M = A_[l0][q];
        for (int jj = 0; jj < M.cols(); jj++)
          for (int ii = 0; ii < M.rows(); ii++) Rl(off[2 * I] - rb + ii, off[2 * J] + jj) = static_cast<T>(M(ii, jj));
      }
    if (nprocs_ == 1) R = std::move(Rl);
    else {
      R.resize(n0, n0);
      communicate(false, static_cast<double>(Rl.size()) * sizeof(T) * (nprocs_ - 1), nprocs_ - 1, [&]() { allgatherRows(comm_, n0, n0, Rl.rows(), Rl.data(), R.data()); });
    }
  }
  if (opt_.onEvent) opt_.onEvent(UlvEvent::Root, true);
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
  auto done = [&]() {
    if (opt_.onEvent) opt_.onEvent(UlvEvent::Root, false);
  };
  auto fail = [&](const std::string &why) {
    status_.ok      = false;
    status_.message = why;
    done();
  };
  if (sym && opt_.cholesky) {
    be.potrf(fi, info);
    if (info[0] == 0) {
      be.diagonals(fi, dg);
      const std::string zp = zeroPivot(dg.data(), n, true, "the root block");
      if (!zp.empty()) return fail(zp);
      for (int t = 0; t < n; t++) logdet_ += 2.0 * std::log(dg[t]);
      inertia_[2] += n;
      rootChol_ = true;
    } else if (opt_.choleskyRequired) {
      return fail("the root block is not positive definite (Cholesky failed): " + notSpd());
    } else {
      status_.usedLU = true;
      be.upload(root_.get(), R.data(), R.size());
    }
  }
  if (!rootChol_) {
    if (sym) {
      int ng, zr, ps;
      blas::inertia(n, R.data(), R.ld(), ng, zr, ps, zeroPivotAbs());
      inertia_[0] += ng, inertia_[1] += zr, inertia_[2] += ps;
    }
    be.getrf(fi, info);
    if (info[0] > 0) return fail("the root block is singular (zero pivot at " + std::to_string(info[0]) + ")");
    be.diagonals(fi, dg);
    const std::string zp = zeroPivot(dg.data(), n, false, "the root block");
    if (!zp.empty()) return fail(zp);
    std::vector<int> pv(std::max(1, n));
    be.downloadInt(pv.data(), rootPiv_.get(), n);
    for (int t = 0; t < n; t++) {
      logdet_ += std::log(std::fabs(dg[t]));
      if (dg[t] < 0) sign_ = -sign_;
      if (pv[t] != t + 1) sign_ = -sign_;
    }
  }
  stats_[0].minrank = stats_[0].maxrank = 0;
  done();
}

#define H2ULV_ULV_FACTOR(T) \
  template void UlvFactorization<T>::uploadA(int); \
  template bool UlvFactorization<T>::adoptBlocks(int, const std::vector<size_t> &, size_t, Buffer<T> &); \
  template void UlvFactorization<T>::factorLevel(int, bool); \
  template void UlvFactorization<T>::levelBases(LevelWork &); \
  template void UlvFactorization<T>::transformNear(LevelWork &); \
  template void UlvFactorization<T>::crossPanels(LevelWork &); \
  template void UlvFactorization<T>::pivotBlocks(LevelWork &); \
  template bool UlvFactorization<T>::factorPivots(LevelWork &); \
  template void UlvFactorization<T>::pivotDeterminant(LevelWork &); \
  template void UlvFactorization<T>::panelSolves(LevelWork &); \
  template void UlvFactorization<T>::schurComplements(LevelWork &); \
  template void UlvFactorization<T>::lowerTargets(LevelWork &); \
  template void UlvFactorization<T>::droppedTerms(LevelWork &); \
  template void UlvFactorization<T>::mergeToParent(LevelWork &, bool); \
  template void UlvFactorization<T>::factorRoot();
H2ULV_ULV_FACTOR(double)
H2ULV_ULV_FACTOR(float)
#undef H2ULV_ULV_FACTOR

} // namespace h2ulv
