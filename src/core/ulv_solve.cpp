// The substitution: solve() and the halves of a symmetric solve (halfSolve()), one sweep over the
// levels each (forward passes, the root, backward passes), every level a few batches.
#include "ulv_impl.hpp"

namespace h2ulv {

using ulvimpl::allgatherRows;
using ulvimpl::inRounds;

// One sweep's right-hand sides and per-level vectors, shared by its passes
template <typename T>
struct UlvFactorization<T>::SweepWork {
  Sweep part;
  bool tr;        // M^{-T} of a nonsymmetric factorization
  int k;          // right-hand sides
  int pb, Nn;     // my points: the first, and their number
  int ldX;
  Buffer<T> X;    // right-hand sides on the backend (Nn x k, ld Nn)
  // per level: c (n_i x k, transformed right-hand side), z (p_i x k, pivot solves; also the ghosts')
  std::vector<Buffer<T>> c, z;
  std::vector<std::vector<size_t>> coff, zoff;
  // the half space (halfSolve) on the backend: my cells' rows (hoff), my hm rows of the root (its
  // rows hrow ...), hn rows in all
  std::vector<std::vector<int>> hoff;
  int hrow = 0, hm = 0, hn = 0;
  Buffer<T> H;
  Buffer<T> xprev;          // backward: the solution of the level above (first the root's)
  std::vector<size_t> poff; // offsets of my parents' solutions in xprev (unused for the root)
  std::vector<int> rootOff; // the first row of each cell of level top_+1 in the root block
};

// Substitution: forward over the levels (leaves up), root, backward (root down).  Within a level
// every cell is independent; the products with the near cells' factors are summed per target in
// rounds (one term per target per batch).  Each process does its own cells; the ghosts' pivot
// solutions (forward) and skeleton solutions (backward) come in through nearX_, the children's
// skeleton parts go up to the parents' owners (S.up) and come back down (S.down); the root's
// right-hand side is gathered on every process and solved there redundantly.
// Sweep::Forward stops after the root's L^{-1} and writes the half space (the pivot solutions z of
// my cells, my rows of the root) to `half`; Sweep::Backward starts from `half` there (hasHalves()).
template <typename T>
void UlvFactorization<T>::sweep(Sweep part, bool transpose, int k, T *x, int ldx, T *half, int ldhalf) const
{
  if (!status_.ok) throw Error(ERR_NUMERIC, "the factorization failed: " + status_.message);
  const int L = tree_->levels();
  Backend<T> &be = *be_;
  SweepWork w;
  w.part = part;
  w.tr = transpose && !opt_.basis.symmetric;
  w.k = k;
  w.pb = lay_->pointBegin();
  w.Nn = lay_->pointEnd() - w.pb;
  w.ldX = ld1(w.Nn);
  const int Nn = w.Nn;
  // right-hand sides on the backend (Nn x k, ld Nn)
  w.X = Buffer<T>(be, static_cast<size_t>(Nn) * k);
  if (part != Sweep::Backward) {
    HostFill<T> h(be, w.X.get(), static_cast<size_t>(Nn) * k);
    for (int j = 0; j < k; j++)
      for (int t = 0; t < Nn; t++) h.data()[t + static_cast<size_t>(j) * Nn] = x[t + static_cast<size_t>(j) * ldx];
    h.commit();
  }
  w.c.resize(L + 1);
  w.z.resize(L + 1);
  w.coff.resize(L + 1);
  w.zoff.resize(L + 1);
  for (int l = L; l > top_ && part != Sweep::Backward; l--) sweepForward(w, l);
  // the half space (halfSolve) on the backend; the backward half takes my cells' z from it
  w.hn = part == Sweep::Full ? 0 : halfOffsets(w.hoff, w.hrow, w.hm);
  w.H = Buffer<T>(be, std::max<size_t>(1, static_cast<size_t>(w.hn) * k));
  if (part == Sweep::Backward) sweepHalfIn(w, half, ldhalf);
  sweepRoot(w, half, ldhalf);
  if (part == Sweep::Forward) return sweepHalfOut(w, half, ldhalf);
  // backward: the sigma part of cell i of level l sits in its parent's solution (level l-1's
  // output, n_I x k; another process' parent sends it down), or in the root's solution for the
  // cells of level top_+1; then the ghosts' sigma parts come in
  if (L > 0) {
    const std::vector<int> &r = levels_[top_ + 1]->r;
    w.rootOff.assign(r.size() + 1, 0);
    for (size_t a = 0; a < r.size(); a++) w.rootOff[a + 1] = w.rootOff[a] + r[a];
  }
  for (int l = top_ + 1; l <= L; l++) sweepBackward(w, l);
  sweepOut(w, x, ldx);
}

// The first-order correction for the redundant couplings E_ik = A^(rho_i, rho_k) between near
// cells, which the factorization drops (it factors the block diagonal D of A^(rho, rho)): with
// A^(rho, rho) = D + E, (D + E)^{-1} = D^{-1} - D^{-1} E D^{-1} + O((D^{-1} E)^2).  Over my cells:
// y_i <- y_i - F_i^{-1} sum_{k near i, k != i} E_ik x_k, with F_i = L_i (Cholesky, forward) or
// D_i (LU, or backward).  x: my cells' and my ghosts' p_k x k blocks (ld p_k) at xoff.
template <typename T>
template <typename YF, typename LdF>
void UlvFactorization<T>::crossSubtract(int l, bool tr, int k, const Buffer<T> &x, const std::vector<size_t> &xoff, YF y, LdF ldy, bool forward) const
{
  Backend<T> &be = *be_;
  const Level &Lv = *levels_[l];
  const PairList &N = tree_->nearList(l);
  const std::vector<int> &own = lay_->owned(l);
  const auto &p = Lv.p;
  COff go(tree_->ncells(l));
  for (int i : own) go.set(i, static_cast<size_t>(p[i]) * k);
  Buffer<T> G(be, std::max<size_t>(1, go.total)), I(be, static_cast<size_t>(k) * k);
  {
    HostFill<T> h(be, G.get(), go.total);
    std::fill(h.data(), h.data() + go.total, T(0));
    h.commit();
    HostFill<T> hi(be, I.get(), static_cast<size_t>(k) * k);
    std::fill(hi.data(), hi.data() + static_cast<size_t>(k) * k, T(0));
    for (int j = 0; j < k; j++) hi.data()[j + static_cast<size_t>(j) * k] = T(1);
    hi.commit();
  }
  auto gp = [&](int i) { return G.get() + go.off[i]; };
  inRounds(be, own.size(), [&](size_t t, size_t round) { return N.ptr[own[t]] + static_cast<int>(round) < N.ptr[own[t] + 1]; }, [&](size_t t, size_t round, std::vector<GemmItem<T>> &g) {
    const int i = own[t], q = N.ptr[i] + static_cast<int>(round), kk = N.col[q];
    if (kk == i || p[i] == 0 || p[kk] == 0) return;
    if (!tr) g.push_back({'N', 'N', p[i], k, p[kk], Lv.Ep(q), ld1(p[i]), x.get() + xoff[kk], ld1(p[kk]), gp(i), ld1(p[i])});
    else g.push_back({'T', 'N', p[i], k, p[kk], Lv.Ep(N.find(kk, i)), ld1(p[kk]), x.get() + xoff[kk], ld1(p[kk]), gp(i), ld1(p[i])});
  }, T(1));
  std::vector<TrsmItem<T>> ti;
  std::vector<LuSolveItem<T>> si;
  for (int i : own) {
    if (p[i] == 0) continue;
    if (!Lv.lu[i]) ti.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), gp(i), ld1(p[i])});
    else si.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), Lv.pivp(i), gp(i), ld1(p[i])});
  }
  be.trsm('L', 'N', 'N', T(1), ti);
  if (!forward) be.trsm('L', 'T', 'N', T(1), ti);
  be.getrs(tr ? 'T' : 'N', si);
  std::vector<GemmItem<T>> gi; // y_i -= G_i (times the k x k identity)
  for (int i : own)
    if (p[i] > 0) gi.push_back({'N', 'N', p[i], k, k, gp(i), ld1(p[i]), I.get(), k, y(i), ldy(i)});
  be.gemm(T(-1), T(1), gi);
}

// Forward pass over level l (leaves up): gather the cells' right-hand sides (the children's skeleton
// parts), transform them with Q^T, pivot solves, skeleton updates from the near cells' solutions
template <typename T>
void UlvFactorization<T>::sweepForward(SweepWork &w, int l) const
{
  const ClusterTree &Tr = *tree_;
  const Layout &lay = *lay_;
  const int L = Tr.levels();
  const int k = w.k;
  Backend<T> &be = *be_;
  std::vector<CopyItem<T>> cp;
  std::vector<GemmItem<T>> gi;
  const H2Structure &S = *S_;
  const int pb = w.pb, ldX = w.ldX;
  const bool sym = opt_.basis.symmetric, tr = w.tr;
  auto &c = w.c;
  auto &z = w.z;
  auto &coff = w.coff;
  auto &zoff = w.zoff;
  const Buffer<T> &X = w.X;
  const Level &Lv = *levels_[l];
  const PairList &N = Tr.nearList(l);
  const int nc = Tr.ncells(l);
  const std::vector<int> &own = lay.owned(l);
  const auto &n = Lv.n, &r = Lv.r, &p = Lv.p;
  COff co(nc), zo(nc);
  for (int i : own) co.set(i, static_cast<size_t>(n[i]) * k);
  for (int i = 0; i < nc; i++)
    if (lay.mine(l, i) || std::binary_search(ghost_[l].begin(), ghost_[l].end(), i)) zo.set(i, static_cast<size_t>(p[i]) * k);
  c[l] = Buffer<T>(be, co.total);
  z[l] = Buffer<T>(be, zo.total);
  coff[l] = co.off;
  zoff[l] = zo.off;
  auto cp_ = [&](int i) { return c[l].get() + coff[l][i]; };
  auto zp = [&](int i) { return z[l].get() + zoff[l][i]; };
  // gather the input of each cell: leaves from X, upper cells from the children's sigma parts
  // (a child of another process': its sigma part comes up, r_c x k)
  Buffer<T> U;
  COff uo(2 * nc);
  if (l < L) {
    const Level &Lc = *levels_[l + 1];
    const Exchange &up = S.up(l + 1);
    std::vector<char> move(2 * nc, 0);
    for (const auto *v : {&up.sendCells(), &up.recvCells()})
      for (const auto &cells : *v)
        for (int a : cells) move[a] = 1;
    for (int a = 0; a < 2 * nc; a++)
      if (move[a]) uo.set(a, static_cast<size_t>(Lc.r[a]) * k);
    U = Buffer<T>(be, uo.total);
    cp.clear();
    for (const auto &cells : up.sendCells())
      for (int a : cells) cp.push_back({'N', Lc.r[a], k, c[l + 1].get() + coff[l + 1][a], Lc.n[a], U.get() + uo.off[a], ld1(Lc.r[a])});
    be.copy(T(1), cp);
    exchange(up, U, [&](int a) { return Lc.r[a] * k; }, [&](int a) { return uo.off[a]; }, true);
  }
  Buffer<T> b(be, co.total);
  cp.clear();
  for (int i : own) {
    T *bi = b.get() + co.off[i];
    if (l == L) cp.push_back({'N', n[i], k, X.get() + (Tr.cell(L, i).begin - pb), ldX, bi, n[i]});
    else {
      const Level &Lc = *levels_[l + 1];
      int o = 0;
      for (int a : {2 * i, 2 * i + 1}) {
        if (lay.mine(l + 1, a)) cp.push_back({'N', Lc.r[a], k, c[l + 1].get() + coff[l + 1][a], Lc.n[a], bi + o, n[i]});
        else cp.push_back({'N', Lc.r[a], k, U.get() + uo.off[a], ld1(Lc.r[a]), bi + o, n[i]});
        o += Lc.r[a];
      }
    }
  }
  be.copy(T(1), cp);
  gi.clear();
  for (int i : own) gi.push_back({'T', 'N', n[i], k, n[i], tr ? Lv.Qcp(i) : Lv.Qrp(i), n[i], b.get() + co.off[i], n[i], cp_(i), n[i]});
  be.gemm(T(1), T(0), gi);
  // pivot solves on the redundant parts
  cp.clear();
  for (int i : own) cp.push_back({'N', p[i], k, cp_(i) + r[i], n[i], zp(i), ld1(p[i])});
  be.copy(T(1), cp);
  std::vector<TrsmItem<T>> ti;
  std::vector<LuSolveItem<T>> si;
  for (int i : own) {
    if (!Lv.lu[i]) ti.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), zp(i), ld1(p[i])});
    else si.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), Lv.pivp(i), zp(i), ld1(p[i])});
  }
  be.trsm('L', 'N', 'N', T(1), ti);
  be.getrs(tr ? 'T' : 'N', si);
  exchange(*nearX_[l], z[l], [&](int i) { return p[i] * k; }, [&](int i) { return zo.off[i]; }, true);
  // (crossCorrected) the skeleton updates take zc = F^{-1} (c_rho - E D^{-1} c_rho) instead of z;
  // z itself (F^{-1} c_rho) stays for the backward pass
  Buffer<T> zc;
  const bool cross = Lv.E.get() && w.part == Sweep::Full; // the halves (M = F F^T) stay uncorrected
  if (cross) {
    Buffer<T> y(be, std::max<size_t>(1, zo.total)); // D^{-1} c_rho = L^{-T} z (Cholesky) or z (LU)
    zc = Buffer<T>(be, std::max<size_t>(1, zo.total));
    cp.clear();
    for (int i = 0; i < nc; i++)
      if (lay.mine(l, i) || std::binary_search(ghost_[l].begin(), ghost_[l].end(), i)) {
        cp.push_back({'N', p[i], k, zp(i), ld1(p[i]), y.get() + zo.off[i], ld1(p[i])});
        cp.push_back({'N', p[i], k, zp(i), ld1(p[i]), zc.get() + zo.off[i], ld1(p[i])});
      }
    be.copy(T(1), cp);
    ti.clear();
    for (int i : own)
      if (!Lv.lu[i]) ti.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), y.get() + zo.off[i], ld1(p[i])});
    be.trsm('L', 'T', 'N', T(1), ti);
    crossSubtract(l, tr, k, y, zo.off, [&](int i) { return zc.get() + zo.off[i]; }, [&](int i) { return ld1(p[i]); }, true);
  }
  auto zs = [&](int i) { return cross ? zc.get() + zo.off[i] : zp(i); };
  // skeleton updates: c_sigma_i -= sum_{k near i} Lf_ik z_k, in rounds
  // (Lf_ik: Cholesky: (L^{-1}B_ki)^T; LU symmetric: B_ki^T; LU nonsymmetric: C_ik; transposed solve: B_ki^T)
  inRounds(be, own.size(), [&](size_t t, size_t round) { return N.ptr[own[t]] + static_cast<int>(round) < N.ptr[own[t] + 1]; }, [&](size_t t, size_t round, std::vector<GemmItem<T>> &g) {
    const int i = own[t], q = N.ptr[i] + static_cast<int>(round), kk = N.col[q];
    if (p[kk] == 0 || r[i] == 0) return;
    if (sym || tr) g.push_back({'T', 'N', r[i], k, p[kk], Lv.Bp(N.find(kk, i)), ld1(p[kk]), zs(kk), ld1(p[kk]), cp_(i), n[i]});
    else g.push_back({'N', 'N', r[i], k, p[kk], Lv.Cp(q), ld1(r[i]), zs(kk), ld1(p[kk]), cp_(i), n[i]});
  }, T(-1));
}

// Sweep::Backward: the half space to the backend, and my cells' z from it
template <typename T>
void UlvFactorization<T>::sweepHalfIn(SweepWork &w, const T *half, int ldhalf) const
{
  const ClusterTree &Tr = *tree_;
  const Layout &lay = *lay_;
  const int L = Tr.levels();
  const int k = w.k;
  Backend<T> &be = *be_;
  const int hn = w.hn;
  auto &z = w.z;
  auto &zoff = w.zoff;
  const auto &hoff = w.hoff;
  const Buffer<T> &H = w.H;
  std::vector<CopyItem<T>> cp;
  HostFill<T> hf(be, H.get(), static_cast<size_t>(hn) * k);
  for (int j = 0; j < k; j++)
    for (int t = 0; t < hn; t++) hf.data()[t + static_cast<size_t>(j) * hn] = half[t + static_cast<size_t>(j) * ldhalf];
  hf.commit();
  for (int l = L; l > top_; l--) {
    const std::vector<int> &p = levels_[l]->p;
    COff zo(Tr.ncells(l));
    for (int i : lay.owned(l)) zo.set(i, static_cast<size_t>(p[i]) * k);
    z[l] = Buffer<T>(be, zo.total);
    zoff[l] = zo.off;
    cp.clear();
    for (int i : lay.owned(l)) cp.push_back({'N', p[i], k, H.get() + hoff[l][i], ld1(hn), z[l].get() + zo.off[i], ld1(p[i])});
    be.copy(T(1), cp);
  }
}

// The root: its right-hand side gathered on every process (my rows: the skeleton parts of my cells
// of level top_+1, or my points when the tree is a single leaf; Sweep::Backward: my rows of its
// forward solution, from the half space), solved redundantly; the solution is left in w.xprev
template <typename T>
void UlvFactorization<T>::sweepRoot(SweepWork &w, const T *half, int ldhalf) const
{
  const Layout &lay = *lay_;
  const int L = tree_->levels();
  const int k = w.k;
  Backend<T> &be = *be_;
  const Sweep part = w.part;
  const int Nn = w.Nn, hn = w.hn, hm = w.hm;
  const bool tr = w.tr;
  const auto &c = w.c;
  const auto &coff = w.coff;
  const Buffer<T> &X = w.X;
  std::vector<CopyItem<T>> cp;
  const int n0 = rootN_;
  std::vector<T> xrh(static_cast<size_t>(n0) * k);
  {
    int m = 0;
    std::vector<T> mine;
    if (part == Sweep::Backward) { // my rows of the root's forward solution, from the half space
      m = hm;
      mine.resize(static_cast<size_t>(m) * k);
      for (int j = 0; j < k; j++)
        for (int t = 0; t < m; t++) mine[t + static_cast<size_t>(j) * m] = half[hn - hm + t + static_cast<size_t>(j) * ldhalf];
    } else if (L == 0) {
      m = Nn;
      HostRead<T> h(be, X.get(), static_cast<size_t>(Nn) * k);
      mine.assign(h.data(), h.data() + static_cast<size_t>(Nn) * k);
    } else {
      const Level &Lc = *levels_[top_ + 1];
      const std::vector<int> &own = lay.owned(top_ + 1);
      for (int a : own) m += Lc.r[a];
      Buffer<T> s(be, static_cast<size_t>(m) * k);
      cp.clear();
      int o = 0;
      for (int a : own) {
        cp.push_back({'N', Lc.r[a], k, c[top_ + 1].get() + coff[top_ + 1][a], Lc.n[a], s.get() + o, ld1(m)});
        o += Lc.r[a];
      }
      be.copy(T(1), cp);
      HostRead<T> h(be, s.get(), static_cast<size_t>(m) * k);
      mine.assign(h.data(), h.data() + static_cast<size_t>(m) * k);
    }
    if (nprocs_ == 1) xrh = std::move(mine);
    else communicate(true, static_cast<double>(m) * k * sizeof(T) * (nprocs_ - 1), nprocs_ - 1, [&]() { allgatherRows(comm_, n0, k, m, mine.data(), xrh.data()); });
  }
  Buffer<T> &xr = w.xprev;
  xr = Buffer<T>(be, std::max<size_t>(1, static_cast<size_t>(n0) * k));
  be.upload(xr.get(), xrh.data(), static_cast<size_t>(n0) * k);
  if (n0 > 0) {
    if (rootChol_) {
      const std::vector<TrsmItem<T>> ti{{n0, k, root_.get(), n0, xr.get(), n0}};
      if (part != Sweep::Backward) be.trsm('L', 'N', 'N', T(1), ti);
      if (part != Sweep::Forward) be.trsm('L', 'T', 'N', T(1), ti);
    } else be.getrs(tr ? 'T' : 'N', {{n0, k, root_.get(), n0, rootPiv_.get(), xr.get(), n0}});
  }
}

// Sweep::Forward: the half space, my cells' z and my rows of the root's forward solution, to `half`
template <typename T>
void UlvFactorization<T>::sweepHalfOut(SweepWork &w, T *half, int ldhalf) const
{
  const Layout &lay = *lay_;
  const int L = tree_->levels();
  const int k = w.k;
  Backend<T> &be = *be_;
  const int n0 = rootN_, hn = w.hn, hm = w.hm, hrow = w.hrow;
  const auto &z = w.z;
  const auto &zoff = w.zoff;
  const auto &hoff = w.hoff;
  const Buffer<T> &H = w.H, &xr = w.xprev;
  std::vector<CopyItem<T>> cp;
  for (int l = L; l > top_; l--)
    for (int i : lay.owned(l)) cp.push_back({'N', levels_[l]->p[i], k, z[l].get() + zoff[l][i], ld1(levels_[l]->p[i]), H.get() + hoff[l][i], ld1(hn)});
  if (hm > 0) cp.push_back({'N', hm, k, xr.get() + hrow, ld1(n0), H.get() + (hn - hm), ld1(hn)});
  be.copy(T(1), cp);
  HostRead<T> hr(be, H.get(), static_cast<size_t>(hn) * k);
  for (int j = 0; j < k; j++)
    for (int t = 0; t < hn; t++) half[t + static_cast<size_t>(j) * ldhalf] = hr.data()[t + static_cast<size_t>(j) * hn];
}

// Backward pass over level l (root down): the sigma parts of my cells (from the parents' solutions,
// sent down by another process' parent) and my ghosts', the rho parts' solves, the transform with Q
template <typename T>
void UlvFactorization<T>::sweepBackward(SweepWork &w, int l) const
{
  const ClusterTree &Tr = *tree_;
  const Layout &lay = *lay_;
  const int k = w.k;
  Backend<T> &be = *be_;
  std::vector<CopyItem<T>> cp;
  std::vector<GemmItem<T>> gi;
  const H2Structure &S = *S_;
  const bool tr = w.tr;
  const int n0 = rootN_;
  const auto &c = w.c;
  const auto &z = w.z;
  const auto &coff = w.coff;
  const auto &zoff = w.zoff;
  const std::vector<int> &rootOff = w.rootOff;
  Buffer<T> &xprev = w.xprev;
  std::vector<size_t> &poff = w.poff;
  const Level &Lv = *levels_[l];
  const PairList &N = Tr.nearList(l);
  const int nc = Tr.ncells(l);
  const std::vector<int> &own = lay.owned(l);
  const auto &n = Lv.n, &r = Lv.r, &p = Lv.p;
  // sigma parts of my cells and my ghosts, r_i x k each
  COff so(nc);
  for (int i = 0; i < nc; i++)
    if (lay.mine(l, i) || std::binary_search(ghost_[l].begin(), ghost_[l].end(), i)) so.set(i, static_cast<size_t>(r[i]) * k);
  Buffer<T> Sg(be, so.total);
  auto sgp = [&](int i) { return Sg.get() + so.off[i]; };
  cp.clear();
  std::vector<char> parentHere(nc, 0);
  for (int i : own) {
    if (l == top_ + 1) cp.push_back({'N', r[i], k, xprev.get() + rootOff[i], ld1(n0), sgp(i), ld1(r[i])});
    else if (lay.mine(l - 1, i / 2)) {
      const int I = i / 2, nI = r[2 * I] + r[2 * I + 1];
      cp.push_back({'N', r[i], k, xprev.get() + poff[I] + ((i % 2) ? r[2 * I] : 0), ld1(nI), sgp(i), ld1(r[i])});
    }
  }
  if (l > top_ + 1) { // children of my parents owned elsewhere: their sigma parts go down
    const Exchange &down = S.down(l);
    COff dso(nc);
    for (const auto &cells : down.sendCells())
      for (int i : cells) dso.set(i, static_cast<size_t>(r[i]) * k);
    Buffer<T> Ds(be, dso.total);
    std::vector<CopyItem<T>> dc;
    std::vector<char> sendc(nc, 0);
    for (const auto &cells : down.sendCells())
      for (int i : cells) {
        const int I = i / 2, nI = r[2 * I] + r[2 * I + 1];
        dc.push_back({'N', r[i], k, xprev.get() + poff[I] + ((i % 2) ? r[2 * I] : 0), ld1(nI), Ds.get() + dso.off[i], ld1(r[i])});
        sendc[i] = 1;
      }
    be.copy(T(1), dc);
    be.copy(T(1), cp);
    cp.clear();
    // one buffer view for the exchange: sent cells read from Ds, received ones land in Sg
    if (nprocs_ > 1) {
      auto size = [&](int i) { return r[i] * k; };
      double bytes = 0;
      for (const auto &cells : down.sendCells())
        for (int i : cells) bytes += static_cast<double>(size(i)) * sizeof(T);
      communicate(true, bytes, down.neighbours(), [&]() {
        if (be.hostAccessible()) down.run(size, [&](int i) { return sendc[i] ? Ds.get() + dso.off[i] : Sg.get() + so.off[i]; });
        else {
          std::vector<T> hd(Ds.size()), hs(Sg.size());
          be.download(hd.data(), Ds.get(), Ds.size());
          be.download(hs.data(), Sg.get(), Sg.size());
          down.run(size, [&](int i) { return sendc[i] ? hd.data() + dso.off[i] : hs.data() + so.off[i]; });
          be.upload(Sg.get(), hs.data(), Sg.size());
        }
      });
    }
  }
  be.copy(T(1), cp);
  exchange(*nearX_[l], Sg, [&](int i) { return r[i] * k; }, [&](int i) { return so.off[i]; }, true);
  COff xo(nc);
  for (int i : own) xo.set(i, static_cast<size_t>(n[i]) * k);
  Buffer<T> xt(be, xo.total), xout(be, xo.total);
  auto xtp = [&](int i) { return xt.get() + xo.off[i]; };
  // xt = [x_sigma ; z (Cholesky) or c_rho (LU)]
  cp.clear();
  for (int i : own) {
    cp.push_back({'N', r[i], k, sgp(i), ld1(r[i]), xtp(i), n[i]});
    if (!Lv.lu[i]) cp.push_back({'N', p[i], k, z[l].get() + zoff[l][i], ld1(p[i]), xtp(i) + r[i], n[i]});
    else cp.push_back({'N', p[i], k, c[l].get() + coff[l][i] + r[i], n[i], xtp(i) + r[i], n[i]});
  }
  be.copy(T(1), cp);
  // x_rho -= sum_j B_ij x_sigma_j (transposed: C_ji^T x_sigma_j), in rounds
  inRounds(be, own.size(), [&](size_t t, size_t round) { return N.ptr[own[t]] + static_cast<int>(round) < N.ptr[own[t] + 1]; }, [&](size_t t, size_t round, std::vector<GemmItem<T>> &g) {
    const int i = own[t], q = N.ptr[i] + static_cast<int>(round), j = N.col[q];
    if (p[i] == 0 || r[j] == 0) return;
    if (!tr) g.push_back({'N', 'N', p[i], k, r[j], Lv.Bp(q), ld1(p[i]), sgp(j), ld1(r[j]), xtp(i) + r[i], n[i]});
    else g.push_back({'T', 'N', p[i], k, r[j], Lv.Cp(N.find(j, i)), ld1(r[j]), sgp(j), ld1(r[j]), xtp(i) + r[i], n[i]});
  }, T(-1));
  std::vector<TrsmItem<T>> ti;
  std::vector<LuSolveItem<T>> si;
  for (int i : own) {
    if (!Lv.lu[i]) ti.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), xtp(i) + r[i], n[i]});
    else si.push_back({p[i], k, Lv.Dp(i), ld1(p[i]), Lv.pivp(i), xtp(i) + r[i], n[i]});
  }
  be.trsm('L', 'T', 'N', T(1), ti);
  be.getrs(tr ? 'T' : 'N', si);
  if (Lv.E.get() && w.part == Sweep::Full) { // (crossCorrected) x_rho <- x_rho - D^{-1} E x_rho, the near ghosts' x_rho in first
    COff yo(nc);
    for (int i = 0; i < nc; i++)
      if (lay.mine(l, i) || std::binary_search(ghost_[l].begin(), ghost_[l].end(), i)) yo.set(i, static_cast<size_t>(p[i]) * k);
    Buffer<T> y(be, std::max<size_t>(1, yo.total));
    cp.clear();
    for (int i : own) cp.push_back({'N', p[i], k, xtp(i) + r[i], n[i], y.get() + yo.off[i], ld1(p[i])});
    be.copy(T(1), cp);
    exchange(*nearX_[l], y, [&](int i) { return p[i] * k; }, [&](int i) { return yo.off[i]; }, true);
    crossSubtract(l, tr, k, y, yo.off, [&](int i) { return xtp(i) + r[i]; }, [&](int i) { return n[i]; }, false);
  }
  gi.clear();
  for (int i : own) gi.push_back({'N', 'N', n[i], k, n[i], tr ? Lv.Qrp(i) : Lv.Qcp(i), n[i], xtp(i), n[i], xout.get() + xo.off[i], n[i]});
  be.gemm(T(1), T(0), gi);
  xprev = std::move(xout);
  poff = xo.off;
}

// The solution: my leaves (or my rows of the single root block) back to X, then to x
template <typename T>
void UlvFactorization<T>::sweepOut(SweepWork &w, T *x, int ldx) const
{
  const ClusterTree &Tr = *tree_;
  const Layout &lay = *lay_;
  const int L = Tr.levels();
  const int k = w.k;
  Backend<T> &be = *be_;
  const int pb = w.pb, Nn = w.Nn, ldX = w.ldX, n0 = rootN_;
  const Buffer<T> &xprev = w.xprev;
  const std::vector<size_t> &poff = w.poff;
  Buffer<T> &X = w.X;
  std::vector<CopyItem<T>> cp;
  if (L == 0) {
    if (Nn > 0) cp.push_back({'N', Nn, k, xprev.get(), ld1(n0), X.get(), ldX}); // the single leaf is all mine
  } else
    for (int i : lay.owned(L)) {
      const Cell &cl = Tr.cell(L, i);
      cp.push_back({'N', cl.size(), k, xprev.get() + poff[i], ld1(cl.size()), X.get() + (cl.begin - pb), ldX});
    }
  be.copy(T(1), cp);
  HostRead<T> h(be, X.get(), static_cast<size_t>(Nn) * k);
  for (int j = 0; j < k; j++)
    for (int t = 0; t < Nn; t++) x[t + static_cast<size_t>(j) * ldx] = h.data()[t + static_cast<size_t>(j) * Nn];
}

template <typename T>
void UlvFactorization<T>::solve(bool transpose, int k, T *x, int ldx) const
{
  sweep(Sweep::Full, transpose, k, x, ldx, nullptr, 0);
  if (sign_m_ < 0) negateRows(k, x, ldx);
}

// x <- -x (the local rows, k columns): the solve with M of a factorization of -M
template <typename T>
void UlvFactorization<T>::negateRows(int k, T *x, int ldx) const
{
  const int n = lay_->pointEnd() - lay_->pointBegin();
  for (int j = 0; j < k; j++)
    for (int t = 0; t < n; t++) x[t + static_cast<size_t>(j) * ldx] = -x[t + static_cast<size_t>(j) * ldx];
}

template <typename T>
void UlvFactorization<T>::halfSolve(bool backward, int k, T *x, int ldx, T *h, int ldh) const
{
  if (!hasHalves()) throw Error(ERR_NUMERIC, "the halves of the solve need a symmetric factorization with Cholesky pivots everywhere");
  sweep(backward ? Sweep::Backward : Sweep::Forward, false, k, x, ldx, h, ldh);
  if (backward && sign_m_ < 0) negateRows(k, x, ldx); // M = -F F^T: the backward half carries the sign
}

// my half space: off[l][i] = the first row of my cell i of level l, then my rootRows rows of the
// root block (its rows rootRow ...); returns its size
template <typename T>
int UlvFactorization<T>::halfOffsets(std::vector<std::vector<int>> &off, int &rootRow, int &rootRows) const
{
  const int L = tree_->levels();
  int o = 0;
  off.assign(L + 1, {});
  for (int l = L; l > top_; l--) {
    off[l].assign(tree_->ncells(l), 0);
    for (int i : lay_->owned(l)) {
      off[l][i] = o;
      o += levels_[l]->p[i];
    }
  }
  rootRow = rootRows = 0;
  if (L == 0) {
    rootRow  = lay_->pointBegin();
    rootRows = lay_->pointEnd() - lay_->pointBegin();
  } else {
    const std::vector<int> &own = lay_->owned(top_ + 1);
    const std::vector<int> &r = levels_[top_ + 1]->r;
    for (int a = 0; a < (own.empty() ? 0 : own.front()); a++) rootRow += r[a];
    for (int a : own) rootRows += r[a];
  }
  return o + rootRows;
}

template <typename T>
int UlvFactorization<T>::halfSize() const
{
  std::vector<std::vector<int>> off;
  int r0, m;
  return halfOffsets(off, r0, m);
}

// the global position of each of my half-space rows: level by level from the leaves, cells in
// order, p_i rows each, then the root's rows (every process knows every cell's p_i)
template <typename T>
std::vector<int> UlvFactorization<T>::halfIndex() const
{
  std::vector<std::vector<int>> off;
  int r0, m;
  std::vector<int> idx(halfOffsets(off, r0, m));
  int base = 0;
  for (int l = tree_->levels(); l > top_; l--) {
    const std::vector<int> &p = levels_[l]->p;
    std::vector<int> first(p.size() + 1, 0);
    for (size_t i = 0; i < p.size(); i++) first[i + 1] = first[i] + p[i];
    for (int i : lay_->owned(l))
      for (int t = 0; t < p[i]; t++) idx[off[l][i] + t] = base + first[i] + t;
    base += first.back();
  }
  for (int t = 0; t < m; t++) idx[idx.size() - m + t] = base + r0 + t;
  return idx;
}

#define H2ULV_ULV_SOLVE(T) \
  template void UlvFactorization<T>::sweep(Sweep, bool, int, T *, int, T *, int) const; \
  template void UlvFactorization<T>::sweepForward(SweepWork &, int) const; \
  template void UlvFactorization<T>::sweepHalfIn(SweepWork &, const T *, int) const; \
  template void UlvFactorization<T>::sweepRoot(SweepWork &, const T *, int) const; \
  template void UlvFactorization<T>::sweepHalfOut(SweepWork &, T *, int) const; \
  template void UlvFactorization<T>::sweepBackward(SweepWork &, int) const; \
  template void UlvFactorization<T>::sweepOut(SweepWork &, T *, int) const; \
  template void UlvFactorization<T>::solve(bool, int, T *, int) const; \
  template void UlvFactorization<T>::halfSolve(bool, int, T *, int, T *, int) const; \
  template void UlvFactorization<T>::negateRows(int, T *, int) const; \
  template int UlvFactorization<T>::halfOffsets(std::vector<std::vector<int>> &, int &, int &) const; \
  template int UlvFactorization<T>::halfSize() const; \
  template std::vector<int> UlvFactorization<T>::halfIndex() const;
H2ULV_ULV_SOLVE(double)
H2ULV_ULV_SOLVE(float)
#undef H2ULV_ULV_SOLVE

} // namespace h2ulv
