// The H^2-ULV factorization (ulv.hpp): construction (the bases and the levels' factorization
// interleaved), the leaf blocks, refactor() and the accessors.  The stages are in their own files:
// ulv_generators.cpp (the fill-in generators of the bases, the couplings), ulv_factor.cpp (the
// per-level factorization, the root), ulv_solve.cpp (the substitution), ulv_comm.cpp (the
// communication).
#include "ulv_impl.hpp"

#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

namespace h2ulv {

using ulvimpl::cellPts;
using ulvimpl::cpuNow;
using ulvimpl::now;

namespace {
// B = A^T (B has the shape already)
void transpose(const Matrix<double> &A, Matrix<double> &B)
{
  for (int i = 0; i < A.rows(); i++)
    for (int j = 0; j < A.cols(); j++) B(j, i) = A(i, j);
}
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
  const double t0 = now(), c0 = cpuNow();
  double tf = 0, cf = 0; // wall and CPU time of the factorization (the rest is the bases')
  // level-by-level: before the bases of level l, factorize level l+1 (its Schur complements give
  // the generators of level l); the leaf level starts from the kernel's near blocks
  auto before = [&](int l, const H2Structure &self) {
    S_ = &self;
    double a = now(), ac = cpuNow();
    if (opt_.onLevel) opt_.onLevel(l, L, a - t0);
    if (l == L) leafBlocks();
    else if (status_.ok) factorLevel(l + 1, true);
    be_->trimCache(0);
    if (!status_.ok) { // a pivot failed (on some process: the status is agreed): stop building
      top_ = l;
      tf += now() - a, cf += cpuNow() - ac;
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
        tf += now() - a, cf += cpuNow() - ac;
        return false;
      }
    }
    const bool gen = opt_.fillin == FillIn::Generator || (opt_.fillin == FillIn::Auto && chooseFarOnly(l));
    if (gen && status_.ok) {
      ghostRows(l);
      factorSelfBlocks(l);
    }
    tf += now() - a, cf += cpuNow() - ac;
    return true;
  };
  ExtraSampleFn extra = nullptr;
  if (opt_.fillin == FillIn::Generator || opt_.fillin == FillIn::Auto) extra = [this](int l, int i, const std::vector<int> &cand, bool row) { return generators(l, i, cand, row); };
  else if (opt_.fillin == FillIn::NearField) extra = [this](int l, int i, const std::vector<int> &cand, bool row) { return nearSample(l, i, cand, row); };
  if (L == 0) leafBlocks();
  ExtraGramFn extraGram = nullptr;
  if (opt_.fillin == FillIn::Generator || opt_.fillin == FillIn::Auto) extraGram = [this](int l, int i, const std::vector<int> &cand, bool row, Matrix<double> &E) { return generatorGram(l, i, cand, row, E); };
  CellNormFn floor = nullptr;
  if (opt_.rtolDiagonal) floor = [this](int l, int i) { return dominance(l, i); };
  structure_ = std::make_shared<H2Structure>(comm, tree_, ev, opt_.basis, extra, before, extraGram, floor);
  S_ = structure_.get();
  std::vector<Matrix<double>>().swap(selfLU_);
  std::vector<std::vector<int>>().swap(selfPiv_);
  std::vector<Matrix<double>>().swap(selfInv_);
  std::vector<Matrix<double>>().swap(selfW_);
  std::vector<Matrix<double>>().swap(selfWt_);
  double a = now(), ac = cpuNow();
  if (top_ == 0 && L >= 1 && status_.ok) factorLevel(1, true);
  reduceScalars();
  factorRoot();
  be_->trimCache(0);
  tf += now() - a, cf += cpuNow() - ac;
  tfactor_ = tf, cfactor_ = cf;
  tbasis_ = now() - t0 - tf, cbasis_ = cpuNow() - c0 - cf;
}

// n_k of cell k on level l: the leaf's points, or the children's ranks (known on every process)
template <typename T>
int UlvFactorization<T>::blockSize(int l, int k) const
{
  const ClusterTree &Tr = *tree_;
  if (l == Tr.levels()) return Tr.cell(l, k).size();
  return S_->rank(l + 1, 2 * k, true) + S_->rank(l + 1, 2 * k + 1, true);
}

// The blocks of my rows of level l (n_i x n_j for the near pairs), entries unspecified, side by
// side in one region (BlockArena) in the order of the pairs: the layout of the level's backend
// buffer, which can then take the region over (adoptBlocks())
template <typename T>
std::vector<Matrix<double>> UlvFactorization<T>::levelBlocks(int l, const std::vector<int> &n) const
{
  const PairList &N = tree_->nearList(l);
  const std::vector<int> &own = lay_->owned(l);
  size_t bytes = 0;
  for (int i : own)
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) bytes += sizeof(double) * n[i] * n[N.col[p]];
  const auto arena = std::make_shared<BlockArena>(bytes, sizeof(double));
  std::vector<Matrix<double>> A(N.nnz());
  for (int i : own)
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) A[p] = Matrix<double>::uninitialized(n[i], n[N.col[p]], arena);
  return A;
}

// the leaf level's blocks (levelBlocks())
template <typename T>
std::vector<Matrix<double>> UlvFactorization<T>::leafLevel() const
{
  const ClusterTree &Tr = *tree_;
  const int L = Tr.levels();
  std::vector<int> n(Tr.ncells(L));
  for (int k = 0; k < Tr.ncells(L); k++) n[k] = Tr.cell(L, k).size();
  return levelBlocks(L, n);
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
      Knear_ = leafLevel();
      // symmetric: a block (i, j) below the diagonal whose transpose is mine too is that transpose
      const bool sym = opt_.basis.symmetric;
      auto mirrored = [&](int i, int p) { return sym && N.col[p] < i && lay_->mine(L, N.col[p]); };
      parallelFor(static_cast<int>(own.size()), threaded, [&](int t) {
        const int i = own[t];
        const auto pi = cellPts(Tr.cell(L, i));
        for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
          if (mirrored(i, p)) continue;
          const auto pj = cellPts(Tr.cell(L, N.col[p]));
          Matrix<double> &B = Knear_[p];
          if (!ev_->writesWhole()) std::fill(B.data(), B.data() + B.size(), 0.0);
          ev_->eval(pi.data(), B.rows(), pj.data(), B.cols(), B.data(), B.ld());
          for (size_t u = 0; u < B.size(); u++)
            if (!std::isfinite(B.data()[u])) throw Error(ERR_NUMERIC, "the matrix entries are not finite (check the kernel or entry function)");
        }
      });
      parallelFor(static_cast<int>(own.size()), opt_.basis.threaded, [&](int t) {
        const int i = own[t];
        for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++)
          if (mirrored(i, p)) transpose(Knear_[N.find(N.col[p], i)], Knear_[p]);
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
  chooseSign();
  const double a = scale();
  if (keepKernel_) A_[L] = leafLevel();
  else A_[L] = std::move(Knear_);
  parallelFor(static_cast<int>(own.size()), opt_.basis.threaded, [&](int u) {
    const int i = own[u];
    const Cell &c = Tr.cell(L, i);
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
      Matrix<double> &B = A_[L][p];
      const double *k = keepKernel_ ? Knear_[p].data() : B.data();
      for (size_t t = 0; t < B.size(); t++) B.data()[t] = a * k[t];
      if (N.col[p] == i)
        for (int t = 0; t < c.size(); t++) B(t, t) += sign_m_ * dshift_[c.begin - pb + t];
    }
  });
  if (!keepKernel_) std::vector<Matrix<double>>().swap(Knear_);
  // the scale the pivots are measured against: the largest |A_ii| of the matrix
  double amax = 0;
  for (int i : own)
    for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++)
      if (N.col[p] == i)
        for (int t = 0; t < A_[L][p].rows(); t++) amax = std::max(amax, std::fabs(A_[L][p](t, t)));
  MPI_Allreduce(&amax, &pivotScale_, 1, MPI_DOUBLE, MPI_MAX, comm_);
}

// A symmetric M whose diagonal alpha K_ii + d_i is negative everywhere is not positive definite,
// but -M may be (the 1/r single layer with a negative self term, -Laplacian-like Hessians):
// factorize -M with Cholesky instead of M with LU (half the flops, and the halves of the solve
// exist).  Decided on the leaf blocks, the same on every process; the bases do not change with the
// sign (the fill-in generators A_ik A_kk^{-1} are the same for -M).
template <typename T>
void UlvFactorization<T>::chooseSign()
{
  const ClusterTree &Tr = *tree_;
  const int L = Tr.levels();
  const PairList &N = Tr.nearList(L);
  const int pb = lay_->pointBegin();
  double dmax = -std::numeric_limits<double>::infinity();
  for (int i : lay_->owned(L)) {
    const Cell &c = Tr.cell(L, i);
    const Matrix<double> &K = Knear_[N.find(i, i)];
    for (int t = 0; t < c.size(); t++) dmax = std::max(dmax, alpha_ * K(t, t) + dshift_[c.begin - pb + t]);
  }
  MPI_Allreduce(MPI_IN_PLACE, &dmax, 1, MPI_DOUBLE, MPI_MAX, comm_);
  sign_m_ = opt_.basis.symmetric && opt_.cholesky && dmax < 0 ? -1.0 : 1.0;
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

template <typename T>
void UlvFactorization<T>::refactor(double alpha, const std::vector<double> &dshift, bool spdKnown, bool choleskyRequired)
{
  const double t0 = now(), c0 = cpuNow();
  alpha_ = alpha;
  opt_.spdKnown         = spdKnown;
  opt_.choleskyRequired = choleskyRequired;
  if (dshift.size() == dshift_.size()) dshift_ = dshift;
  logdet_ = 0;
  sign_ = 1;
  inertia_[0] = inertia_[1] = inertia_[2] = 0;
  status_ = UlvStatus();
  leafBlocks();
  keepKernel_ = true; // refactorizations come in series (shifts, damping): keep K from here on
  if (opt_.fillin == FillIn::Auto && !leafFarOnly_.empty()) {
    // the leaves whose bases came from the far field alone must still be dominated by their
    // diagonal blocks: else the corrected solve would not hold (a failure, not a wrong answer)
    const int L = tree_->levels();
    for (int i : lay_->owned(L))
      if (leafFarOnly_[i] && !farOnlyCell(L, i)) {
        status_.ok      = false;
        status_.message = "the new values no longer make the diagonal block of leaf " + std::to_string(i) + " dominate its block row, which its far-field basis (-pc_h2ulv_fillin auto) needs: set the preconditioner up again, or use -pc_h2ulv_fillin generator";
        break;
      }
    agreeStatus();
    if (!status_.ok) return;
  }
  for (int l = tree_->levels(); l > top_; l--) {
    factorLevel(l, l - 1 == top_);
    be_->trimCache(0);
    if (!status_.ok) return;
  }
  reduceScalars();
  factorRoot();
  be_->trimCache(0);
  tfactor_ = now() - t0, cfactor_ = cpuNow() - c0;
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
