// The factorization's own H^2 representation (docs/algorithm.md, "Fill-in-aware bases"): what the
// bases of level l are built from besides the far field -- the fill-in generators A_ik A_kk^{-1} of
// level l's Schur-complemented blocks (or their Gram matrix, or a Gaussian sketch of them), or
// kernel samples of the near cells (FillIn::NearField); H2Structure calls them through its
// extra-sample hooks.  Then the kernel's couplings in those bases, per level and at the root.
#include "ulv_impl.hpp"

#include <cmath>
#include <algorithm>
#include <limits>

namespace h2ulv {

namespace {
// A deterministic Gaussian matrix (entries N(0, scale^2)) from a seed: the same on every process
Matrix<double> gaussian(int m, int n, uint64_t seed, double scale)
{
  Matrix<double> G(m, n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  auto next = [&x]() { // splitmix64 -> (0, 1)
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (static_cast<double>(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  };
  for (size_t t = 0; t < G.size(); t += 2) { // Box-Muller
    const double u = next(), v = next(), rad = scale * std::sqrt(-2.0 * std::log(u));
    G.data()[t] = rad * std::cos(6.283185307179586 * v);
    if (t + 1 < G.size()) G.data()[t + 1] = rad * std::sin(6.283185307179586 * v);
  }
  return G;
}
} // namespace

// min(alpha, beta), alpha = min_r |d_rr| - sum_{c != r} |d_rc| over the rows of D and beta the same
// over the columns, or 0 where D is not strictly diagonally dominant.  A lower bound of the smallest
// singular value of D (Varah: at least sqrt(alpha beta)): a perturbation of the cell's block row
// below rtol times it changes the solution by about rtol, however small the block is against the
// diagonal.
double marginOf(const Matrix<double> &D)
{
  const int n = D.rows();
  if (n == 0 || D.cols() != n) return 0;
  std::vector<double> row(n, 0.0);
  double beta = std::numeric_limits<double>::infinity();
  for (int c = 0; c < n; c++) {
    double col = 0;
    for (int r = 0; r < n; r++) {
      const double a = std::fabs(D(r, c));
      if (r != c) {
        col += a;
        row[r] += a;
      }
    }
    beta = std::min(beta, std::fabs(D(c, c)) - col);
  }
  double alpha = std::numeric_limits<double>::infinity();
  for (int r = 0; r < n; r++) alpha = std::min(alpha, std::fabs(D(r, r)) - row[r]);
  const double m = std::min(alpha, beta);
  return std::isfinite(m) && m > 0 ? m : 0.0;
}

// sum_k ||off_k||_F / marginOf(Aii) for cell i of level l, or infinity where that cannot be trusted:
// the diagonal of Aii has both signs (with one sign every compression U^T A_ii U has the margin too,
// Gershgorin on the symmetric part; with both D_i = U_perp^T A_ii U_perp may be nearly singular), it
// has no margin, or the cell has no far field at its level or its ancestors' (its far-field basis
// would be empty and all of its block row left to the solve's correction).
double farOnlyRatio(const ClusterTree &T, int l, int i, const Matrix<double> &Aii, const std::vector<const Matrix<double> *> &off)
{
  constexpr double inf = std::numeric_limits<double>::infinity();
  bool pos = true, neg = true;
  for (int t = 0; t < Aii.rows() && t < Aii.cols(); t++) pos = pos && Aii(t, t) > 0, neg = neg && Aii(t, t) < 0;
  bool far = false;
  for (int a = l, c = i; a >= 0 && !far; a--, c /= 2) far = T.farList(a).count(c) > 0;
  const double d = (pos || neg) && far ? marginOf(Aii) : 0.0;
  if (!(d > 0)) return inf;
  double s = 0;
  for (const Matrix<double> *B : off) {
    double f = 0;
    for (double v : B->storage()) f += v * v;
    s += std::sqrt(f);
  }
  return s / d;
}

// The largest farOnlyRatio() over `samples` leaves spread evenly over the tree, of M = alpha K +
// diag(d) (d in tree order, or empty): their near blocks evaluated here.
double sampledLeafFarOnlyRatio(const ClusterTree &T, const EntryEvaluator &ev, double alpha, const std::vector<double> &d, int samples)
{
  const int L = T.levels(), nc = T.ncells(L);
  const PairList &N = T.nearList(L);
  samples = std::max(1, std::min(samples, nc));
  std::vector<double> r(samples, 0.0);
  parallelFor(samples, ev.threadSafe(), [&](int s) {
    const int i = static_cast<int>((2 * static_cast<long>(s) + 1) * nc / (2 * samples));
    const std::vector<int> pi = ulvimpl::cellPts(T.cell(L, i));
    std::vector<Matrix<double>> B(N.count(i));
    Matrix<double> *Aii = nullptr;
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) {
      const std::vector<int> pj = ulvimpl::cellPts(T.cell(L, N.col[q]));
      Matrix<double> &M = B[q - N.ptr[i]];
      M = Matrix<double>(static_cast<int>(pi.size()), static_cast<int>(pj.size()));
      ev.eval(pi.data(), M.rows(), pj.data(), M.cols(), M.data(), M.ld());
      for (auto &x : M.storage()) x *= alpha;
      if (N.col[q] == i) {
        Aii = &M;
        if (!d.empty())
          for (int t = 0; t < M.rows(); t++) M(t, t) += d[pi[t]];
      }
    }
    std::vector<const Matrix<double> *> off;
    for (auto &M : B)
      if (&M != Aii) off.push_back(&M);
    r[s] = Aii ? farOnlyRatio(T, L, i, *Aii, off) : std::numeric_limits<double>::infinity();
  });
  return *std::max_element(r.begin(), r.end());
}

// LU of the diagonal blocks A^(l)_kk of my cells and my ghosts, once per level (shared by the
// generators of all neighbours)
template <typename T>
void UlvFactorization<T>::factorSelfBlocks(int l)
{
  const ClusterTree &Tr = *tree_;
  const PairList &N = Tr.nearList(l);
  const int nc = Tr.ncells(l);
  selfLU_.assign(nc, Matrix<double>());
  selfPiv_.assign(nc, std::vector<int>());
  // the Gram generators (loose tolerances, no sketch) multiply by A_kk^{-1} once per neighbour:
  // an explicit inverse makes those GEMMs instead of pairs of triangular solves
  const bool inv = gramTolerance(opt_.basis.rtol) && !(opt_.fillinSketch > 0);
  selfInv_.assign(nc, Matrix<double>());
  // sketch: Omega_k has as many columns as the widest sketch of the level (cell i uses the first
  // ceil(c n_i) of them: still Gaussian), so one solve per k serves all its neighbours
  int m = 0;
  if (opt_.fillinSketch > 0)
    for (int k = 0; k < nc; k++) m = std::max(m, static_cast<int>(std::ceil(opt_.fillinSketch * blockSize(l, k))));
  if (m > 0) {
    selfW_.assign(nc, Matrix<double>());
    if (!opt_.basis.symmetric) selfWt_.assign(nc, Matrix<double>());
  }
  std::vector<int> cells(lay_->owned(l));
  cells.insert(cells.end(), ghost_[l].begin(), ghost_[l].end());
  parallelFor(static_cast<int>(cells.size()), opt_.basis.threaded, [&](int t) {
    const int k = cells[t];
    // symmetric, explicit inverse wanted: Cholesky and potri (half getrf + getri's flops) when the
    // self block is SPD (it is the Schur complement of an SPD matrix); LU otherwise
    if (inv && m == 0 && opt_.basis.symmetric) {
      Matrix<double> C = A_[l][N.find(k, k)];
      if (blas::potrf('U', C.rows(), C.data(), C.ld()) == 0 && blas::potriFull(C.rows(), C.data(), C.ld()) == 0) {
        selfInv_[k] = std::move(C);
        return;
      }
    }
    Matrix<double> F = A_[l][N.find(k, k)];
    std::vector<int> ipiv(std::max(1, F.rows()));
    const bool ok = blas::getrf(F.rows(), F.data(), F.ld(), ipiv.data()) == 0;
    if (m > 0) { // Omega_k (n_k x m, N(0, 1/m): E ||X Omega||_F = ||X||_F), then A_kk^{-1} Omega_k, A_kk^{-T} Omega_k
      const Matrix<double> Om = gaussian(F.rows(), m, (static_cast<uint64_t>(l) << 40) + static_cast<uint64_t>(k), 1.0);
      selfW_[k] = Om;
      if (ok && F.rows() > 0) blas::getrs('N', F.rows(), m, F.data(), F.ld(), ipiv.data(), selfW_[k].data(), selfW_[k].ld());
      if (!opt_.basis.symmetric) {
        selfWt_[k] = Om;
        if (ok && F.rows() > 0) blas::getrs('T', F.rows(), m, F.data(), F.ld(), ipiv.data(), selfWt_[k].data(), selfWt_[k].ld());
      }
    }
    if (ok && inv) {
      selfInv_[k] = F;
      if (blas::getri(F.rows(), selfInv_[k].data(), selfInv_[k].ld(), ipiv.data()) != 0) selfInv_[k] = Matrix<double>();
    }
    if (ok) {
      selfLU_[k] = std::move(F);
      selfPiv_[k] = std::move(ipiv);
    }
  });
}

// One neighbour's fill-in generator block, transposed: Z = A_kk^{-T} A_ik^T (rows) or
// A_kk^{-1} A_ki (columns), n_k x n, by one GEMM with the explicit inverse when there is one, else
// by the LU; a singular A_kk (no LU): the coupling itself.
template <typename T>
void UlvFactorization<T>::generatorBlock(int l, int i, int p, int k, int n, bool row, Matrix<double> &Z) const
{
  const PairList &N = tree_->nearList(l);
  const auto &A = A_[l];
  const int nk = A[N.find(k, k)].rows();
  const std::vector<int> &ipiv = selfPiv_[k];
  const Matrix<double> *inv = static_cast<size_t>(k) < selfInv_.size() ? &selfInv_[k] : nullptr;
  Z.resize(nk, n);
  if (inv && inv->rows() == nk && nk > 0) { // the explicit inverse (from the LU or the Cholesky factor)
    const Matrix<double> &Inv = *inv;
    if (row) blas::gemm('T', 'T', nk, n, nk, 1.0, Inv.data(), Inv.ld(), A[p].data(), A[p].ld(), 0.0, Z.data(), Z.ld());
    else {
      const Matrix<double> &Aki = A[N.find(k, i)];
      blas::gemm('N', 'N', nk, n, nk, 1.0, Inv.data(), Inv.ld(), Aki.data(), Aki.ld(), 0.0, Z.data(), Z.ld());
    }
    return;
  }
  if (row) {
    const Matrix<double> &Aik = A[p];
    for (int t = 0; t < n; t++)
      for (int j = 0; j < nk; j++) Z(j, t) = Aik(t, j);
  } else {
    const Matrix<double> &Aki = A[N.find(k, i)];
    for (int t = 0; t < n; t++) std::copy(&Aki(0, t), &Aki(0, t) + nk, &Z(0, t));
  }
  const Matrix<double> &F = selfLU_[k];
  if (!ipiv.empty()) blas::getrs(row ? 'T' : 'N', nk, n, F.data(), F.ld(), ipiv.data(), Z.data(), Z.ld());
}

// The generators' weight against the far-field sample: fillinWeight ||A_ii||_F / ||X||_F (the far
// sample's norm is not known here; the cell's own near block is the level's reference scale).
// Where the cell's block dominates its diagonal (rtolDiagonal), at most its margin (dominance):
// the generators A_ik A_kk^{-1} then have about the size of the couplings A_ik whose redundant
// parts the factorization drops, which is what the solution's error sees, instead of the size of
// a block that the diagonal dwarfs.
template <typename T>
double UlvFactorization<T>::generatorScale(int l, int i, double fx) const
{
  const PairList &N = tree_->nearList(l);
  double fg = 0;
  for (double v : A_[l][N.find(i, i)].storage()) fg += v * v;
  double s = fx > 0 && fg > 0 ? opt_.fillinWeight * std::sqrt(fg / fx) : 1.0;
  if (opt_.rtolDiagonal) {
    const double d = dominance(l, i);
    if (d > 0) s = std::min(s, d);
  }
  return s;
}

// The diagonal dominance margin of cell i's own block D of level l (Schur-complemented, in the
// children's skeleton coordinates above the leaves): marginOf(D).
template <typename T>
double UlvFactorization<T>::dominance(int l, int i) const
{
  if (A_[l].empty()) return 0;
  return marginOf(A_[l][tree_->nearList(l).find(i, i)]);
}

// Does my cell i of level l take its basis from the far field alone (FillIn::Auto)?  Where its block
// row is dominated by the diagonal block: farOnlyRatio() <= kFarOnlyRatio.  There ||D_i^{-1} E_ik||
// summed over k is at most kFarOnlyRatio for the redundant couplings E_ik the factorization drops,
// and the solve's first-order correction (crossCorrected()) leaves terms of its square; the
// generators would only take rank from the far field.
template <typename T>
bool UlvFactorization<T>::farOnlyCell(int l, int i) const
{
  const PairList &N = tree_->nearList(l);
  std::vector<const Matrix<double> *> off;
  for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++)
    if (N.col[q] != i) off.push_back(&A_[l][q]);
  return farOnlyRatio(*tree_, l, i, A_[l][N.find(i, i)], off) <= kFarOnlyRatio;
}

// (FillIn::Auto) Which of my cells of level l take their bases from the far field alone
// (farOnlyCell); without the solve's correction every cell takes the generators.  Returns whether
// some cell of mine takes them.
template <typename T>
bool UlvFactorization<T>::chooseFarOnly(int l)
{
  farOnly_.assign(tree_->ncells(l), 0);
  if (!crossCorrected() || A_[l].empty()) return true;
  const std::vector<int> &own = lay_->owned(l);
  parallelFor(static_cast<int>(own.size()), opt_.basis.threaded, [&](int u) { farOnly_[own[u]] = farOnlyCell(l, own[u]); });
  bool need = false;
  for (int i : own) need = need || !farOnly_[i];
  crossLevel_.resize(tree_->levels() + 1, 0);
  crossLevel_[l] = std::find(farOnly_.begin(), farOnly_.end(), 1) != farOnly_.end();
  if (l == tree_->levels()) leafFarOnly_ = farOnly_;
  stats_[l].nfarOnly = static_cast<int>(std::count(farOnly_.begin(), farOnly_.end(), 1));
  return need;
}

// Fill-in generators of cell i on level l: for each near k != i, the columns of
// A_ik A_kk^{-1} (rows) or (A_kk^{-1} A_ki)^T (columns), mapped to the candidate points by W^{-1}
// and scaled to the Frobenius norm of the far-field sample (docs/algorithm.md, "Fill-in-aware bases").
template <typename T>
Matrix<double> UlvFactorization<T>::generators(int l, int i, const std::vector<int> &cand, bool row)
{
  const ClusterTree &Tr = *tree_;
  const PairList &N = Tr.nearList(l);
  const int n = static_cast<int>(cand.size());
  const auto &A = A_[l];
  if (A.empty()) return Matrix<double>(n, 0); // the level below failed to factor: no generators
  if (opt_.fillin == FillIn::Auto && farOnly_[i]) return Matrix<double>(n, 0);
  int tot = 0;
  for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++)
    if (N.col[p] != i) tot += A[p].cols();
  const int m = opt_.fillinSketch > 0 ? std::max(1, static_cast<int>(std::ceil(opt_.fillinSketch * n))) : 0;
  const bool sketch = m > 0 && tot > m;
  Matrix<double> X(n, sketch ? m : tot);
  if (tot == 0) return X;
  int off = 0;
  Matrix<double> Z;
  for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
    const int k = N.col[p];
    if (k == i) continue;
    if (sketch) { // X = sum_k A_ik (A_kk^{-1} Omega_k) (rows) or A_ki^T (A_kk^{-T} Omega_k) (columns); a
                  // singular A_kk (no LU) contributes A_ik Omega_k
      const Matrix<double> &Wk = (row || opt_.basis.symmetric) ? selfW_[k] : selfWt_[k];
      const double sc = 1.0 / std::sqrt(static_cast<double>(m)); // entries N(0, 1/m): E ||X Omega||_F = ||X||_F
      if (row) blas::gemm('N', 'N', n, m, A[p].cols(), sc, A[p].data(), A[p].ld(), Wk.data(), Wk.ld(), 1.0, X.data(), X.ld());
      else {
        const Matrix<double> &Aki = A[N.find(k, i)];
        blas::gemm('T', 'N', n, m, Aki.rows(), sc, Aki.data(), Aki.ld(), Wk.data(), Wk.ld(), 1.0, X.data(), X.ld());
      }
      continue;
    }
    generatorBlock(l, i, p, k, n, row, Z);
    for (int j = 0; j < Z.rows(); j++)
      for (int t = 0; t < n; t++) X(t, off + j) = Z(j, t);
    off += Z.rows();
  }
  // sigma coordinates -> candidate points: X <- W^{-1} X, W = diag(R_c1, R_c2)
  if (l < Tr.levels()) {
    const CellBasis &c1 = S_->basis(l + 1, 2 * i, row), &c2 = S_->basis(l + 1, 2 * i + 1, row);
    const int r1 = c1.rank(), r2 = c2.rank();
    if (r1 > 0) blas::trsm('L', 'U', 'N', 'N', r1, X.cols(), 1.0, c1.R.data(), c1.R.ld(), X.data(), X.ld());
    if (r2 > 0) blas::trsm('L', 'U', 'N', 'N', r2, X.cols(), 1.0, c2.R.data(), c2.R.ld(), X.data() + r1, X.ld());
  }
  double fx = 0;
  for (double v : X.storage()) fx += v * v;
  const double s = generatorScale(l, i, fx);
  for (double &v : X.storage()) v *= s;
  return X;
}

// The Gram matrix E = X X^T of the generators above (upper triangle), accumulated neighbour by
// neighbour as E = s^2 sum_k Z_k^T Z_k with Z_k = X_k^T W^{-T} (n_k x n): the n x sum n_k block X
// (tens of MB per cell on the upper levels) is never formed or transposed.
template <typename T>
bool UlvFactorization<T>::generatorGram(int l, int i, const std::vector<int> &cand, bool row, Matrix<double> &E)
{
  const ClusterTree &Tr = *tree_;
  const PairList &N = Tr.nearList(l);
  const int n = static_cast<int>(cand.size());
  const auto &A = A_[l];
  if (A.empty() || n == 0 || (opt_.fillin == FillIn::Auto && farOnly_[i])) return false;
  int tot = 0;
  for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++)
    if (N.col[p] != i) tot += A[p].cols();
  if (tot == 0) return false;
  const int m = opt_.fillinSketch > 0 ? std::max(1, static_cast<int>(std::ceil(opt_.fillinSketch * n))) : 0;
  if (m > 0 && tot > m) { // sketched: X is only n x m
    Matrix<double> X = generators(l, i, cand, row);
    E.resize(n, n);
    blas::syrk('U', 'N', n, X.cols(), 1.0, X.data(), X.ld(), 0.0, E.data(), E.ld());
    return true;
  }
  const CellBasis *c1 = nullptr, *c2 = nullptr;
  if (l < Tr.levels()) {
    c1 = &S_->basis(l + 1, 2 * i, row);
    c2 = &S_->basis(l + 1, 2 * i + 1, row);
  }
  E.resize(n, n);
  Matrix<double> Z;
  for (int p = N.ptr[i]; p < N.ptr[i + 1]; p++) {
    const int k = N.col[p];
    if (k == i) continue;
    generatorBlock(l, i, p, k, n, row, Z);
    const int nk = Z.rows();
    // sigma coordinates -> candidate points: Z <- Z W^{-T}, W = diag(R_c1, R_c2)
    if (c1) {
      const int r1 = c1->rank(), r2 = c2->rank();
      if (r1 > 0) blas::trsm('R', 'U', 'T', 'N', nk, r1, 1.0, c1->R.data(), c1->R.ld(), Z.data(), Z.ld());
      if (r2 > 0) blas::trsm('R', 'U', 'T', 'N', nk, r2, 1.0, c2->R.data(), c2->R.ld(), Z.data() + static_cast<size_t>(r1) * Z.ld(), Z.ld());
    }
    blas::syrk('U', 'T', n, nk, 1.0, Z.data(), Z.ld(), 1.0, E.data(), E.ld());
  }
  // balance against the far field sample as generators() does: ||X||_F^2 = trace(E)
  double fx = 0;
  for (int t = 0; t < n; t++) fx += E(t, t);
  const double s = generatorScale(l, i, fx);
  for (double &v : E.storage()) v *= s * s;
  return true;
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

// The couplings of my rows (unscaled K, computed once; dropped after use unless kept), scaled by
// alpha into the far targets Tf
template <typename T>
void UlvFactorization<T>::levelCouplings(LevelWork &lw)
{
  const int l = lw.l;
  const ClusterTree &Tr = lw.Tr;
  const H2Structure &S = lw.S;
  const Layout &lay = lw.lay;
  const PairList &F = lw.F;
  const bool sym = lw.sym, threaded = lw.threaded;
  const std::vector<int> &own = lw.own;
  Backend<T> &be = lw.be;
  const std::vector<int> &r = lw.r;
  COff &fo = lw.fo;
  Buffer<T> &Tf = lw.Tf;
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
  fo = COff(F.nnz());
  for (int i : own)
    for (int q = F.ptr[i]; q < F.ptr[i + 1]; q++) fo.set(q, static_cast<size_t>(r[i]) * r[F.col[q]]);
  Tf = Buffer<T>(be, fo.total);
  {
    HostFill<T> h(be, Tf.get(), fo.total);
    parallelFor(static_cast<int>(own.size()), threaded, [&](int u) {
      for (int q = F.ptr[own[u]]; q < F.ptr[own[u] + 1]; q++) {
        const Matrix<double> &K = Kfar_[l][q];
        T *d = h.data() + fo.off[q];
        const double a = scale();
        if (a == 1.0) std::copy(K.data(), K.data() + K.size(), d);
        else
          for (size_t t = 0; t < K.size(); t++) d[t] = static_cast<T>(a * K.data()[t]);
      }
    });
    h.commit();
  }
  if (!keepKernel_) std::vector<Matrix<double>>().swap(Kfar_[l]);
}

// The root's couplings between the children of non-near cells of level top_ (no Schur terms reach
// them): my rows [rb, re) of the unscaled kernel in the bases of level top_+1, into KrootFar_ (off:
// the first row of each cell of level top_+1 in the root block)
template <typename T>
void UlvFactorization<T>::rootCouplings(const std::vector<int> &off, int rb, int re)
{
  const bool sym = opt_.basis.symmetric;
  const ClusterTree &Tr = *tree_;
  const Layout &lay = *lay_;
  const int l0 = top_, nc1 = Tr.ncells(l0 + 1);
  const std::vector<int> &r = levels_[l0 + 1]->r;
  const int n0 = off[nc1];
  const PairList &Np = Tr.nearList(l0);
  const std::vector<int> &own = lay.owned(l0);
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

#define H2ULV_ULV_GENERATORS(T) \
  template void UlvFactorization<T>::factorSelfBlocks(int); \
  template void UlvFactorization<T>::generatorBlock(int, int, int, int, int, bool, Matrix<double> &) const; \
  template double UlvFactorization<T>::generatorScale(int, int, double) const; \
  template double UlvFactorization<T>::dominance(int, int) const; \
  template bool UlvFactorization<T>::chooseFarOnly(int); \
  template bool UlvFactorization<T>::farOnlyCell(int, int) const; \
  template Matrix<double> UlvFactorization<T>::generators(int, int, const std::vector<int> &, bool); \
  template bool UlvFactorization<T>::generatorGram(int, int, const std::vector<int> &, bool, Matrix<double> &); \
  template Matrix<double> UlvFactorization<T>::nearSample(int, int, const std::vector<int> &, bool); \
  template void UlvFactorization<T>::levelCouplings(LevelWork &); \
  template void UlvFactorization<T>::rootCouplings(const std::vector<int> &, int, int);
H2ULV_ULV_GENERATORS(double)
H2ULV_ULV_GENERATORS(float)
#undef H2ULV_ULV_GENERATORS

} // namespace h2ulv
