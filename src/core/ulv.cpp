#include "ulv_impl.hpp"

#include <array>
#include <cmath>
#include <numeric>
#include <sstream>

namespace h2ulv {

using ulvimpl::allgatherRows;
using ulvimpl::inRounds;
using ulvimpl::now;

namespace {
template <typename U, typename V>
Matrix<U> cast(const Matrix<V> &A)
{
  Matrix<U> B(A.rows(), A.cols());
  for (size_t t = 0; t < A.size(); t++) B.data()[t] = static_cast<U>(A.data()[t]);
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

template <typename T>
UlvFactorization<T>::~UlvFactorization() = default;

template <typename T>
UlvFactorization<T>::UlvFactorization(MPI_Comm comm, std::shared_ptr<const ClusterTree> tree, const EntryEvaluator &ev, const UlvOptions &opt, double alpha, const std::vector<double> &dshift) :
  comm_(comm), tree_(std::move(tree)), ev_(&ev), opt_(opt), alpha_(alpha), dshift_(dshift)
{
  MPI_Comm_size(comm, &nprocs_);
  BackendRequest req = opt_.backend;
  req.threaded = opt_.basis.threaded;
  be_ = makeBackend<T>(req, &backendNote_);
  // every batch's flops are counted (the factorization's figures are the executed ones); with
  // onBatch every batch is also reported (-log_view)
  be_ = makeProfiledBackend<T>(
    std::move(be_),
    [count = batchFlops_, user = opt_.onBatch](BatchOp op, bool begin, double flops) {
      if (!begin) *count += flops;
      if (user) user(op, begin, flops);
    },
    opt_.onBatch && opt_.syncBatches);
  const ClusterTree &Tr = *tree_;
  const int L = Tr.levels();
  // ownership by subtrees and the near-neighbour exchange of every level (planned once)
  lay_ = std::make_unique<Layout>(comm, Tr);
  nearX_.resize(L + 1);
  ghost_.resize(L + 1);
  for (int l = 0; l <= L; l++) {
    Plan send, recv;
    planNear(Tr, *lay_, l, send, recv);
    for (const auto &v : recv) ghost_[l].insert(ghost_[l].end(), v.begin(), v.end());
    std::sort(ghost_[l].begin(), ghost_[l].end());
    nearX_[l] = std::make_unique<Exchange>();
    nearX_[l]->setup(comm, send, recv);
  }
  if (opt_.basis.symmetric) {
    aboveX_.resize(L + 1);
    for (int l = 0; l <= L; l++) {
      Plan send, recv;
      planNearAbove(Tr, *lay_, l, send, recv);
      aboveX_[l] = std::make_unique<Exchange>();
      aboveX_[l]->setup(comm, send, recv);
    }
  }
  const size_t nloc = static_cast<size_t>(lay_->pointEnd() - lay_->pointBegin());
  if (dshift_.size() != nloc) dshift_.assign(nloc, 0.0);
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
    if (!status_.ok) { // a pivot failed (on some process: the status is agreed): stop building
      top_ = l;
      tf += now() - a;
      return false;
    }
    // stop here when the cells of level l are few and small enough to factor as one dense block
    // (the top levels are all near each other: their bases would be nearly full, and building
    // them costs more than the dense factorization).  The ranks are known on every process, so
    // every process takes the same decision.
    if (l < L && opt_.maxRoot > 0) {
      const Level &c = *levels_[l + 1];
      long n = 0;
      for (int i = 0; i < Tr.ncells(l + 1); i++) n += c.r[i];
      // Or (maxRootCapped, opt-in) when the bases of level l would reach the rank cap, if the block
      // is not too big: capped bases at the top levels make the factorization inaccurate where it
      // matters most (ball-matern 32768 at 1e-4: levels 3-5 capped at 512, a pivot is not SPD any
      // more and GMRES does not converge in 300 iterations; with a dense block of 15838 instead: 23
      // iterations).  Predicted: level l+1 compressed its cells' blocks by at most rho, so a cell
      // of level l gets about rho (r_2k + r_2k+1); or level l+1 reached it.
      bool capped = false;
      if (n > opt_.maxRoot && n <= opt_.maxRootCapped) {
        double rho = 0;
        for (int i = 0; i < Tr.ncells(l + 1); i++)
          if (c.n[i] > 0) rho = std::max(rho, static_cast<double>(c.r[i]) / c.n[i]);
        capped = self.ncapped(l + 1) > 0;
        for (int k = 0; k < Tr.ncells(l) && !capped; k++) capped = rho * (c.r[2 * k] + c.r[2 * k + 1]) > opt_.basis.maxrank;
      }
      if (n <= opt_.maxRoot || capped) {
        top_ = l;
        rootForCap_ = capped;
        tf += now() - a;
        return false;
      }
    }
    if (opt_.fillin == FillIn::Generator && status_.ok) {
      ghostRows(l);
      factorSelfBlocks(l);
    }
    tf += now() - a;
    return true;
  };
  ExtraSampleFn extra = nullptr;
  if (opt_.fillin == FillIn::Generator) extra = [this](int l, int i, const std::vector<int> &cand, bool row) { return generators(l, i, cand, row); };
  else if (opt_.fillin == FillIn::NearField) extra = [this](int l, int i, const std::vector<int> &cand, bool row) { return nearSample(l, i, cand, row); };
  if (L == 0) leafBlocks();
  ExtraGramFn extraGram = nullptr;
  if (opt_.fillin == FillIn::Generator) extraGram = [this](int l, int i, const std::vector<int> &cand, bool row, Matrix<double> &E) { return generatorGram(l, i, cand, row, E); };
  structure_ = std::make_shared<H2Structure>(comm, tree_, ev, opt_.basis, extra, before, extraGram);
  S_ = structure_.get();
  std::vector<Matrix<double>>().swap(selfLU_);
  std::vector<std::vector<int>>().swap(selfPiv_);
  std::vector<Matrix<double>>().swap(selfInv_);
  std::vector<Matrix<double>>().swap(selfW_);
  std::vector<Matrix<double>>().swap(selfWt_);
  double a = now();
  if (top_ == 0 && L >= 1 && status_.ok) factorLevel(1, true);
  reduceScalars();
  factorRoot();
  tf += now() - a;
  tfactor_ = tf;
  tbasis_ = now() - t0 - tf;
}

// n_k of cell k on level l: the leaf's points, or the children's ranks (known on every process)
template <typename T>
int UlvFactorization<T>::blockSize(int l, int k) const
{
  const ClusterTree &Tr = *tree_;
  if (l == Tr.levels()) return Tr.cell(l, k).size();
  return S_->rank(l + 1, 2 * k, true) + S_->rank(l + 1, 2 * k + 1, true);
}

// A^(L): alpha K(X_i, X_j) + diag(d) for the near pairs of my leaves (K kept for refactorizations)
template <typename T>
void UlvFactorization<T>::leafBlocks()
{
  const ClusterTree &Tr = *tree_;
  const int L = Tr.levels();
  const PairList &N = Tr.nearList(L);
  const bool threaded = opt_.basis.threaded && ev_->threadSafe();
  const std::vector<int> &own = lay_->owned(L);
  const int pb = lay_->pointBegin();
  std::exception_ptr err = nullptr;
  try {
    if (Knear_.empty()) {
      Knear_.resize(N.nnz());
      parallelFor(static_cast<int>(own.size()), threaded, [&](int t) {
        const int i = own[t];
        const auto pi = cellPts(Tr.cell(L, i));
        for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
          const auto pj = cellPts(Tr.cell(L, N.col[p]));
          Matrix<double> B(static_cast<int>(pi.size()), static_cast<int>(pj.size()));
          ev_->eval(pi.data(), B.rows(), pj.data(), B.cols(), B.data(), B.ld());
          for (size_t u = 0; u < B.size(); u++)
            if (!std::isfinite(B.data()[u])) throw Error(ERR_NUMERIC, "the matrix entries are not finite (check the kernel or entry function)");
          Knear_[p] = std::move(B);
        }
      });
    }
  } catch (...) {
    err = std::current_exception();
  }
  agree(comm_, err);
  // keep K's near blocks for refactorizations only while they are small; otherwise they (and the
  // couplings) are evaluated again by each refactorization, and A^(L) takes their memory
  size_t kb = 0;
  for (const auto &m : Knear_) kb += m.bytes();
  if (kb > opt_.keepKernelBytes / 2) keepKernel_ = false;
  A_[L].assign(N.nnz(), Matrix<double>());
  for (int i : own) {
    const Cell &c = Tr.cell(L, i);
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
      Matrix<double> B = keepKernel_ ? Knear_[p] : std::move(Knear_[p]);
      for (auto &x : B.storage()) x *= alpha_;
      if (N.col[p] == i)
        for (int t = 0; t < c.size(); t++) B(t, t) += dshift_[c.begin - pb + t];
      A_[L][p] = std::move(B);
    }
  }
  if (!keepKernel_) std::vector<Matrix<double>>().swap(Knear_);
  // the scale the pivots are measured against: the largest |A_ii| of the matrix
  double amax = 0;
  for (int i : own)
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++)
      if (N.col[p] == i)
        for (int t = 0; t < A_[L][p].rows(); t++) amax = std::max(amax, std::fabs(A_[L][p](t, t)));
  MPI_Allreduce(&amax, &pivotScale_, 1, MPI_DOUBLE, MPI_MAX, comm_);
}

// Why a Cholesky pivot failed, and what to change
template <typename T>
std::string UlvFactorization<T>::notSpd() const
{
  if (!opt_.spdKnown) return "the matrix, or its compressed form, is not SPD";
  std::string s = "the matrix is symmetric positive definite but its compressed form is not: the compression is too coarse for the matrix's condition number";
  int ncap = 0;
  for (const auto &ls : stats_) ncap += ls.ncapped;
  if (ncap) s += " (" + std::to_string(ncap) + " cells reached the rank cap)";
  return s + "; tighten -pc_h2ulv_rtol, raise -pc_h2ulv_max_rank, regularize (a larger nugget, -mat_h2_kernel_nugget), or use it as an indefinite preconditioner with -pc_h2ulv_factorization lu (its log-determinant and inertia are then not those of the matrix)";
}

// A pivot block's factor diagonal u (Cholesky: L_tt, the pivot is u^2; LU: U_tt) with a pivot of
// magnitude at most zeroPivotAbs() is numerically singular: the message that says so, or empty.
template <typename T>
std::string UlvFactorization<T>::zeroPivot(const double *u, int n, bool cholesky, const std::string &what) const
{
  const double tiny = zeroPivotAbs();
  for (int t = 0; t < n; t++) {
    const double piv = cholesky ? u[t] * u[t] : std::fabs(u[t]);
    if (piv <= tiny) {
      std::ostringstream os;
      os << what << " has a zero pivot (" << piv << " at row " << t << ", at most " << opt_.zeroPivot << " times the largest |A_ii| " << pivotScale_ << "): the matrix, or its compressed form, is singular";
      return os.str();
    }
  }
  return std::string();
}

// Host A^(l) (double, my rows) -> backend (T), the input of factorLevel(l)
template <typename T>
void UlvFactorization<T>::uploadA(int l)
{
  const auto &A = A_[l];
  const PairList &N = tree_->nearList(l);
  COff ao(N.nnz());
  for (int i : lay_->owned(l))
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) ao.set(q, A[q].size());
  Acur_ = Buffer<T>(*be_, ao.total);
  HostFill<T> h(*be_, Acur_.get(), ao.total);
  const std::vector<int> &own = lay_->owned(l);
  parallelFor(static_cast<int>(own.size()), opt_.basis.threaded, [&](int u) {
    for (int q = N.ptr[own[u]]; q < N.ptr[own[u] + 1]; q++) std::copy(A[q].data(), A[q].data() + A[q].size(), h.data() + ao.off[q]);
  });
  h.commit();
  Aoff_ = std::move(ao.off);
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
  const ClusterTree &Tr = *tree_;
  const H2Structure &S = *S_;
  const Layout &lay = *lay_;
  const PairList &N = Tr.nearList(l), &F = Tr.farList(l);
  const int nc = Tr.ncells(l);
  const bool sym = opt_.basis.symmetric;
  const bool threaded = opt_.basis.threaded;
  const std::vector<int> &own = lay.owned(l), &gh = ghost_[l];
  Backend<T> &be = *be_;
  std::vector<char> present(nc, 0); // 1: mine, 2: ghost
  for (int k : own) present[k] = 1;
  for (int k : gh) present[k] = 2;
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
  const double flops0 = *batchFlops_;
  double diagnosticFlops = 0; // the dropped-term measurement's products: not part of the factorization
  long long rsum = 0;
  COff qo(nc);
  for (int k = 0; k < nc; k++) {
    Lv.n[k] = blockSize(l, k);
    Lv.r[k] = S.rank(l, k, true);
    Lv.p[k] = Lv.n[k] - Lv.r[k];
    if (present[k]) qo.set(k, static_cast<size_t>(Lv.n[k]) * Lv.n[k]);
    st.minrank = std::min(st.minrank, Lv.r[k]);
    st.maxrank = std::max(st.maxrank, Lv.r[k]);
    rsum += Lv.r[k];
  }
  st.meanrank = static_cast<double>(rsum) / nc;
  st.ncapped = S.ncapped(l);
  Lv.qoff = qo.off;
  const auto &n = Lv.n, &r = Lv.r, &p = Lv.p;
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
  // couplings of my rows on this level (unscaled K, computed once), scaled to the far targets.
  // Symmetric: a block (i, j) below the diagonal is the transpose of (j, i), copied when that is
  // mine and evaluated as (j, i) otherwise -- half the work, and the same numbers on any P.
  if (Kfar_[l].empty() && F.nnz() > 0) {
    Kfar_[l].resize(F.nnz());
    std::exception_ptr err = nullptr;
    try {
      for (int pass = 0; pass < (sym ? 2 : 1); pass++)
        parallelFor(static_cast<int>(own.size()), threaded && (pass == 1 || ev_->threadSafe()), [&](int t) {
          const int i = own[t];
          for (int q = F.ptr[i]; q < F.ptr[i + 1]; q++) {
            const int j = F.col[q];
            const bool lower = sym && j < i, copy = lower && lay.mine(l, j);
            if (pass != (copy ? 1 : 0)) continue;
            if (!lower) Kfar_[l][q] = couplingBlock(*ev_, Tr, S.basis(l, i, true), S.basis(l, j, false));
            else {
              const Matrix<double> U = copy ? Matrix<double>() : couplingBlock(*ev_, Tr, S.basis(l, j, true), S.basis(l, i, false));
              const Matrix<double> &Kji = copy ? Kfar_[l][F.find(j, i)] : U;
              Matrix<double> &K = Kfar_[l][q];
              K.resize(Kji.cols(), Kji.rows());
              for (int b = 0; b < Kji.cols(); b++)
                for (int a = 0; a < Kji.rows(); a++) K(b, a) = Kji(a, b);
            }
          }
        });
    } catch (...) {
      err = std::current_exception();
    }
    agree(comm_, err);
  }
  COff fo(F.nnz());
  for (int i : own)
    for (int q = F.ptr[i]; q < F.ptr[i + 1]; q++) fo.set(q, static_cast<size_t>(r[i]) * r[F.col[q]]);
  Buffer<T> Tf(be, fo.total);
  {
    HostFill<T> h(be, Tf.get(), fo.total);
    parallelFor(static_cast<int>(own.size()), threaded, [&](int u) {
      for (int q = F.ptr[own[u]]; q < F.ptr[own[u] + 1]; q++) {
        const Matrix<double> &K = Kfar_[l][q];
        T *d = h.data() + fo.off[q];
        if (alpha_ == 1.0) std::copy(K.data(), K.data() + K.size(), d);
        else
          for (size_t t = 0; t < K.size(); t++) d[t] = static_cast<T>(alpha_ * K.data()[t]);
      }
    });
    h.commit();
  }
  if (!keepKernel_) std::vector<Matrix<double>>().swap(Kfar_[l]);
  auto tfp = [&](int q) { return Tf.get() + fo.off[q]; };

  // 1. transform my rows' near blocks: Ah_ij = Qr_i^T A_ij Qc_j (symmetric: a block whose
  //    transpose is also mine is computed once and transposed)
  COff ao(N.nnz());
  for (int i : own)
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) ao.set(q, static_cast<size_t>(n[i]) * n[N.col[q]]);
  if (ao.total != Acur_.size()) throw Error(ERR_INTERNAL, "internal: the level matrix does not match the near pairs");
  Buffer<T> Ah = std::move(Acur_); // transformed in place: W = Qr^T A, then A <- W Qc
  auto ahp = [&](int q) { return Ah.get() + ao.off[q]; };
  // symmetric: a block below the diagonal is always the transpose of the one above it, computed by
  // the owner of its row (here, or sent by another process), so that the arithmetic does not
  // depend on the distribution: P processes give the one-process result to the last bit
  auto viaTranspose = [&](int i, int j) { return sym && j < i; };
  auto remote = [&](int j) { return present[j] != 1; };
  // (symmetric, several processes) the blocks (j, i) with i > j owned by another process than j's:
  // near (X1) or near and far (X2), ascending in i, so each destination's blocks are contiguous
  // (owners grow with i) and each process receives only its own (Exchange::runTo)
  // (computed once per cell and kind: the sizes, offsets and lookups below read them many times)
  std::vector<std::vector<int>> cross[2];
  std::vector<char> crossDone[2];
  auto crossList = [&](int j, bool far) -> const std::vector<int> & {
    if (cross[far].empty()) cross[far].resize(nc), crossDone[far].assign(nc, 0);
    std::vector<int> &v = cross[far][j];
    if (!crossDone[far][j]) {
      for (const PairList *lst : {&N, &F}) {
        if (lst == &F && !far) continue;
        for (int q = lst->ptr[j]; q < lst->ptr[j + 1]; q++) {
          const int i = lst->col[q];
          if (i > j && lay.owner(l, i) != lay.owner(l, j)) v.push_back(i);
        }
      }
      std::sort(v.begin(), v.end());
      crossDone[far][j] = 1;
    }
    return v;
  };
  const int me = lay.rank();
  // the part of cell j's payload for process d (d < 0: all of it) and, in skip, what precedes it
  // (X1: r_j x p_i blocks, near; X2: r_j x r_i blocks, near and far)
  auto part = [&](int j, bool x2, int d, size_t &skip) {
    size_t sz = 0;
    skip = 0;
    for (int i : crossList(j, x2)) {
      const size_t bsz = static_cast<size_t>(r[j]) * (x2 ? r[i] : p[i]);
      if (d < 0 || lay.owner(l, i) == d) sz += bsz;
      else if (lay.owner(l, i) < d) skip += bsz;
    }
    return sz;
  };
  // where block (j, i), i mine, sits in the part of j's payload I received
  auto received = [&](const T *base, size_t off, int i, int j, bool x2) {
    for (int t : crossList(j, x2)) {
      if (t == i) break;
      if (lay.owner(l, t) == me) off += static_cast<size_t>(r[j]) * (x2 ? r[t] : p[t]);
    }
    return base + off;
  };
  {
    Buffer<T> W(be, ao.total);
    std::vector<GemmItem<T>> g1, g2;
    for (int i : own)
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        if (viaTranspose(i, j)) continue;
        T *w = W.get() + ao.off[q];
        g1.push_back({'T', 'N', n[i], n[j], n[i], Lv.Qrp(i), n[i], ahp(q), n[i], w, n[i]});
        g2.push_back({'N', 'N', n[i], n[j], n[j], w, n[i], Lv.Qcp(j), n[j], ahp(q), n[i]});
      }
    be.gemm(T(1), T(0), g1);
    be.gemm(T(1), T(0), g2);
  }
  std::vector<CopyItem<T>> cp;
  if (sym) {
    for (int i : own)
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        if (viaTranspose(i, j) && !remote(j)) cp.push_back({'T', n[i], n[j], ahp(N.find(j, i)), n[j], ahp(q), n[i]});
      }
    be.copy(T(1), cp);
  }
  // (symmetric, several processes) the other processes' blocks (j, i), i mine > j: their sigma_j
  // x rho_i parts, the transposes of my B_ij
  Buffer<T> X1;
  COff x1o(nc);
  if (sym && nprocs_ > 1) {
    size_t sk;
    for (int j = 0; j < nc; j++)
      if (present[j]) x1o.set(j, part(j, false, present[j] == 1 ? -1 : me, sk));
    X1 = Buffer<T>(be, x1o.total);
    cp.clear();
    for (int j : own) {
      size_t o = x1o.off[j];
      for (int i : crossList(j, false)) {
        cp.push_back({'N', r[j], p[i], ahp(N.find(j, i)) + static_cast<size_t>(r[i]) * n[j], n[j], X1.get() + o, ld1(r[j])});
        o += static_cast<size_t>(r[j]) * p[i];
      }
    }
    be.copy(T(1), cp);
    exchangeTo(*nearX_[l], X1, [&](int j, int d) { size_t k; return static_cast<int>(part(j, false, d, k)); }, [&](int j, int d) {
      size_t k = 0;
      if (present[j] == 1) part(j, false, d, k);
      return x1o.off[j] + k;
    }, false);
  }
  auto x1Block = [&](int i, int j) { return received(X1.get(), x1o.off[j], i, j, false); };
  // the factor blocks: D_k = Ah_kk(rho, rho), B_kj = Ah_kj(rho, sigma), C_ik = Ah_ik(sigma, rho)
  // (B and C also hold the ghosts' rows, filled by the exchange after the panels)
  COff dof(nc), pvo(nc), bo(N.nnz()), co(N.nnz());
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
  auto dItem = [&](int k) { return CopyItem<T>{'N', p[k], p[k], ahp(N.find(k, k)) + r[k] + static_cast<size_t>(r[k]) * n[k], n[k], Lv.Dp(k), ld1(p[k])}; };
  cp.clear();
  for (int k : own) {
    cp.push_back(dItem(k));
    for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) {
      const int j = N.col[q];
      if (viaTranspose(k, j) && remote(j)) cp.push_back({'T', p[k], r[j], x1Block(k, j), ld1(r[j]), Lv.Bp(q), ld1(p[k])});
      else cp.push_back({'N', p[k], r[j], ahp(q) + r[k], n[k], Lv.Bp(q), ld1(p[k])});
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
    for (int k : own) fi.push_back(fitem(k));
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
      cp.push_back(dItem(k)); // the block again, for LU
    }
    be.copy(T(1), cp);
  }
  std::vector<int> luc;
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
    for (int k : luc) fi.push_back(fitem(k));
    be.getrf(fi, info);
    for (size_t t = 0; t < luc.size(); t++)
      if (info[t] > 0) {
        std::ostringstream os;
        os << "the pivot block of cell " << luc[t] << " on level " << l << " is singular (zero pivot at " << info[t] << ")";
        fail[luc[t]] = os.str();
      }
  }
  std::vector<double> dg; // the factors' diagonals (Cholesky L, LU U), own cells in order
  {
    std::vector<FactorItem<T>> fi;
    for (int k : own) fi.push_back(fitem(k));
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
  if (!status_.ok) {
    levels_[l] = std::move(lev);
    return;
  }
  if (nprocs_ > 1) { // which ghosts are LU (their kind decides the form of their panels): one int each
    std::vector<int> f(nc, 0);
    for (int k : own) f[k] = Lv.lu[k];
    nearX_[l]->run([](int) { return 1; }, [&](int k) { return &f[k]; });
    for (int k : gh) Lv.lu[k] = static_cast<char>(f[k]);
  }
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

  // 3. panels.  Cholesky cells: B <- L^{-1} B (kept).  LU cells: Rt = D^{-1} B (temporary).
  bool anyLU = false;
  for (int k = 0; k < nc; k++) anyLU = anyLU || (present[k] && Lv.lu[k]);
  Buffer<T> Rt;
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
  auto rtp = [&](int q) { return Rt.get() ? Rt.get() + bo.off[q] : nullptr; };
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
        if (viaTranspose(i, j)) continue; // filled by transposition below
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
  inRounds(be, tg.size(), [&](size_t t, size_t round) { return round < tg[t].ks.size(); }, [&](size_t t, size_t round, std::vector<GemmItem<T>> &gi) {
    const Target &g = tg[t];
    if (p[g.ks[round]] > 0) gi.push_back(term(g.i, g.ks[round], g.j, g.c, g.ldc));
  }, T(-1));
  if (sym) { // the lower targets: transposes of the upper ones (another process' sent as T_ji, r_j x r_i each)
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
        if (in[j]) x2o.set(j, part(j, true, in[j] == 1 ? -1 : me, sk));
      X2 = Buffer<T>(be, x2o.total);
      cp.clear();
      for (int j : own) {
        size_t o = x2o.off[j];
        for (int i : crossList(j, true)) {
          const int qn = N.find(j, i);
          if (qn >= 0) cp.push_back({'N', r[j], r[i], ahp(qn), n[j], X2.get() + o, ld1(r[j])});
          else cp.push_back({'N', r[j], r[i], tfp(F.find(j, i)), ld1(r[j]), X2.get() + o, ld1(r[j])});
          o += static_cast<size_t>(r[j]) * r[i];
        }
      }
      be.copy(T(1), cp);
      exchangeTo(px, X2, [&](int j, int d) { size_t k; return static_cast<int>(part(j, true, d, k)); }, [&](int j, int d) {
        size_t k = 0;
        if (in[j] == 1) part(j, true, d, k);
        return x2o.off[j] + k;
      }, false);
    }
    auto x2Block = [&](int i, int j) { return received(X2.get(), x2o.off[j], i, j, true); };
    cp.clear();
    for (int i : own) {
      for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
        const int j = N.col[q];
        if (!viaTranspose(i, j)) continue;
        if (remote(j)) cp.push_back({'T', r[i], r[j], x2Block(i, j), ld1(r[j]), ahp(q), n[i]});
        else cp.push_back({'T', r[i], r[j], ahp(N.find(j, i)), n[j], ahp(q), n[i]});
      }
      for (int q = F.ptr[i]; q < F.ptr[i + 1]; q++) {
        const int j = F.col[q];
        if (!viaTranspose(i, j)) continue;
        if (remote(j)) cp.push_back({'T', r[i], r[j], x2Block(i, j), ld1(r[j]), tfp(q), ld1(r[i])});
        else cp.push_back({'T', r[i], r[j], tfp(F.find(j, i)), ld1(r[j]), tfp(q), ld1(r[i])});
      }
    }
    be.copy(T(1), cp);
  }
  // optional: norm of the two-hop terms that fall outside the pattern (dropped)
  if (opt_.droppedNorms && var == SchurVariant::TwoHop) {
    FlopSpan span(*batchFlops_, diagnosticFlops);
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
    for (size_t t = 0; t < trip.size(); t++) gi.push_back(term(trip[t][0], trip[t][1], trip[t][2], Z.get() + zo.off[t], ld1(r[trip[t][0]])));
    be.gemm(T(-1), T(0), gi); // one term per Z block
    HostRead<T> h(be, Z.get(), zo.total);
    double dn = 0, dsum = 0;
    for (size_t t = 0; t < zo.total; t++) dn += static_cast<double>(h.data()[t]) * h.data()[t];
    MPI_Allreduce(&dn, &dsum, 1, MPI_DOUBLE, MPI_SUM, comm_);
    st.dropped = std::sqrt(dsum);
  }
  // 5. merge: A^(l-1)_IJ = [T_cd] for c in children(I), d in children(J).  A child row whose
  //    parent is another process' goes to it first (r_c x sum_J n_J, the blocks in the parent's order).
  const PairList &Np = Tr.nearList(l - 1);
  std::vector<int> nI(Tr.ncells(l - 1));
  for (int I = 0; I < Tr.ncells(l - 1); I++) nI[I] = r[2 * I] + r[2 * I + 1];
  auto target = [&](int c, int d, const T *&src, int &lds) { // T_cd of a row c of mine
    int pos = N.find(c, d);
    if (pos >= 0) src = ahp(pos), lds = n[c];
    else {
      pos = F.find(c, d);
      if (pos < 0) throw Error(ERR_LIB, "internal: a child pair of a near pair is neither near nor far");
      src = tfp(pos), lds = ld1(r[c]);
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
  Buffer<T> Anext(be, mo.total);
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
  A_[l - 1].assign(Np.nnz(), Matrix<double>());
  if (hostNext) {
    HostRead<T> h(be, Acur_.get(), mo.total);
    const std::vector<int> &ownp = lay.owned(l - 1);
    parallelFor(static_cast<int>(ownp.size()), threaded, [&](int u) {
      const int I = ownp[u];
      for (int q = Np.ptr[I]; q < Np.ptr[I + 1]; q++) A_[l - 1][q] = Matrix<double>(nI[I], nI[Np.col[q]], h.data() + mo.off[q]);
    });
  }
  levels_[l] = std::move(lev);
  st.flops = *batchFlops_ - flops0 - diagnosticFlops; // executed (my rows), transforms to merge
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
    if (KrootFar_.rows() != re - rb || KrootFar_.cols() != n0) { // couplings between the children of non-near cells (no Schur terms reach them)
      // every cell's basis on level top_+1 (the far partners' are not all here)
      std::vector<CellBasis> rowB(nc1), colB(nc1);
      {
        std::vector<double> mine;
        for (int a : lay.owned(l0 + 1)) {
          packBasis(S_->basis(l0 + 1, a, true), mine);
          if (!sym) packBasis(S_->basis(l0 + 1, a, false), mine);
        }
        std::vector<int> cnt(nprocs_, 0), dsp(nprocs_ + 1, 0);
        for (int a = 0; a < nc1; a++) cnt[lay.owner(l0 + 1, a)] += (sym ? 1 : 2) * r[a] * (1 + r[a]);
        for (int q = 0; q < nprocs_; q++) dsp[q + 1] = dsp[q] + cnt[q];
        std::vector<double> all(static_cast<size_t>(dsp[nprocs_]));
        if (nprocs_ > 1) MPI_Allgatherv(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(), cnt.data(), dsp.data(), MPI_DOUBLE, comm_);
        else all = mine;
        const double *pp = all.data();
        for (int a = 0; a < nc1; a++) { // the owners are nondecreasing in a: the data is in cell order
          pp = unpackBasis(pp, r[a], rowB[a]);
          if (!sym) pp = unpackBasis(pp, r[a], colB[a]);
        }
      }
      KrootFar_.resize(re - rb, n0);
      for (int I : own)
        for (int a = 2 * I; a < 2 * I + 2; a++)
          for (int b = 0; b < nc1; b++) {
            if (Np.find(a / 2, b / 2) >= 0) continue;
            Matrix<double> S = couplingBlock(*ev_, Tr, rowB[a], sym ? rowB[b] : colB[b]);
            for (int jj = 0; jj < S.cols(); jj++)
              for (int ii = 0; ii < S.rows(); ii++) KrootFar_(off[a] - rb + ii, off[b] + jj) = S(ii, jj);
          }
    }
    Matrix<T> Rl(re - rb, n0);
    for (int jj = 0; jj < n0; jj++)
      for (int ii = 0; ii < re - rb; ii++) Rl(ii, jj) = static_cast<T>(alpha_ * KrootFar_(ii, jj));
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

template <typename T>
void UlvFactorization<T>::refactor(double alpha, const std::vector<double> &dshift)
{
  const double t0 = now();
  alpha_ = alpha;
  if (dshift.size() == dshift_.size()) dshift_ = dshift;
  logdet_ = 0;
  sign_ = 1;
  inertia_[0] = inertia_[1] = inertia_[2] = 0;
  status_ = UlvStatus();
  leafBlocks();
  for (int l = tree_->levels(); l > top_; l--) {
    factorLevel(l, l - 1 == top_);
    if (!status_.ok) return;
  }
  reduceScalars();
  factorRoot();
  tfactor_ = now() - t0;
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
  double f = rootFlops_; // executed flops (counted batch by batch), this process
  for (const auto &s : stats_) f += s.flops;
  return f;
}

template class UlvFactorization<double>;
template class UlvFactorization<float>;

} // namespace h2ulv
