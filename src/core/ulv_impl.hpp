// Private to the H^2-ULV factorization (ulv.cpp, ulv_generators.cpp, ulv_factor.cpp, ulv_solve.cpp,
// ulv_comm.cpp): the helpers they share, the per-level factors (Level), the state the stages of one
// level's factorization share (LevelWork) and the neighbour exchanges, which are templates over the
// payload's size and offset functions.
//
// Explicit instantiation: ulv.cpp instantiates the class (`template class UlvFactorization<T>`,
// with the members it defines and those of this header); every other file instantiates the member
// functions it defines, and only those.
#pragma once

#include "ulv.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <numeric>
#include <vector>

namespace h2ulv {
namespace ulvimpl {

inline double now()
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// the CPU time of the whole process (every thread), in seconds
inline double cpuNow()
{
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
// Offsets of blocks indexed by cell or pair, only some present (this process' rows and its ghosts)
struct COff {
  std::vector<size_t> off;
  size_t total = 0;
  explicit COff(size_t n = 0) : off(n, 0) { }
  void set(size_t i, size_t m)
  {
    off[i] = total;
    total += m;
  }
};
inline int ld1(int m) { return std::max(1, m); }
// the tree positions of cell c's points
inline std::vector<int> cellPts(const Cell &c)
{
  std::vector<int> v(c.size());
  std::iota(v.begin(), v.end(), c.begin);
  return v;
}

// Sums into shared targets in rounds: round t adds the t-th term of every target that has one, so
// no two items of a batch write one block and the order of the sums is fixed (deterministic on
// every backend).  has(t, round): target t has a term in this round; add(t, round, items): append it.
template <typename T, typename Has, typename Add>
void inRounds(Backend<T> &be, size_t count, Has has, Add add, T alpha)
{
  std::vector<GemmItem<T>> gi;
  for (size_t round = 0;; round++) {
    gi.clear();
    bool any = false;
    for (size_t t = 0; t < count; t++)
      if (has(t, round)) {
        any = true;
        add(t, round, gi);
      }
    if (!any) break;
    be.gemm(alpha, T(1), gi);
  }
}
// Every process contributes m rows (column-major m x k, ld m) of an n x k matrix, in process order;
// every process receives the whole matrix (column-major, ld n).  (ulv_comm.cpp: V = double, float)
template <typename V>
void allgatherRows(MPI_Comm comm, int n, int k, int m, const V *mine, V *all);

} // namespace ulvimpl

using ulvimpl::COff;
using ulvimpl::ld1;

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
  Buffer<T> E;                      // near pair q = (i,k), i != k: A^(rho_i, rho_k), p_i x p_k, ld p_i (crossCorrection only)
  std::vector<size_t> eoff;
  T *Qrp(int k) const { return Qr.get() + qoff[k]; }
  T *Qcp(int k) const { return Qc.get() ? Qc.get() + qoff[k] : Qr.get() + qoff[k]; }
  T *Dp(int k) const { return D.get() + doff[k]; }
  int *pivp(int k) const { return piv.get() + pivoff[k]; }
  T *Bp(int q) const { return B.get() + boff[q]; }
  T *Cp(int q) const { return C.get() + coff[q]; }
  T *Ep(int q) const { return E.get() + eoff[q]; }
  size_t bytes() const { return Qr.bytes() + Qc.bytes() + D.bytes() + B.bytes() + C.bytes() + E.bytes() + piv.size() * sizeof(int); }
};

// One level's factorization (factorLevel): its sizes and cell lists, the offsets of its blocks in
// the backend buffers, the buffers that live through the level and the block lookups the stages share
template <typename T>
struct UlvFactorization<T>::LevelWork {
  const int l;
  const ClusterTree &Tr;
  const H2Structure &S;
  const Layout &lay;
  const PairList &N, &F;
  const int nc;
  const bool sym, threaded;
  const std::vector<int> &own, &gh;
  Backend<T> &be;
  const int me;
  std::vector<char> present; // 1: mine, 2: ghost
  std::unique_ptr<Level> lev;
  Level &Lv;
  const std::vector<int> &n, &r, &p; // Lv.n, Lv.r, Lv.p
  UlvLevelStats &st;
  double flops0 = 0;
  double diagnosticFlops = 0; // the dropped-term measurement's products: not part of the factorization
  // Q (n_k x n_k), far targets Tf (r_i x r_j), near blocks Ah (n_i x n_j), (symmetric, several
  // processes) the other processes' sigma x rho parts X1; the factor blocks D, pivots, B and C
  COff qo, fo, ao, x1o, dof, pvo, bo, co;
  Buffer<T> Tf, Ah, X1;
  Buffer<T> Rt; // the panels D^{-1} B of the LU cells (temporary)
  std::vector<int> luc;   // my cells factored by LU
  std::vector<double> dg; // the factors' diagonals (Cholesky L, LU U), own cells in order
  std::vector<std::vector<int>> cross[2];
  std::vector<char> crossDone[2];

  // the level's sizes (n = r + p, known on every process) and rank statistics
  LevelWork(UlvFactorization &f, int l_) :
    l(l_), Tr(*f.tree_), S(*f.S_), lay(*f.lay_), N(Tr.nearList(l)), F(Tr.farList(l)), nc(Tr.ncells(l)), sym(f.opt_.basis.symmetric),
    threaded(f.opt_.basis.threaded), own(lay.owned(l)), gh(f.ghost_[l]), be(*f.be_), me(lay.rank()), present(nc, 0),
    lev(std::make_unique<Level>()), Lv(*lev), n(Lv.n), r(Lv.r), p(Lv.p), st(f.stats_[l])
  {
    for (int k : own) present[k] = 1;
    for (int k : gh) present[k] = 2;
    Lv.n.resize(nc);
    Lv.r.resize(nc);
    Lv.p.resize(nc);
    Lv.lu.assign(nc, sym && f.opt_.cholesky ? 0 : 1);
    const int nfar = st.nfarOnly; // set while the level's bases were chosen
    st = UlvLevelStats();
    st.nfarOnly = nfar;
    st.minrank = 1 << 30;
    flops0 = *f.batchFlops_;
    long long rsum = 0;
    qo = COff(nc);
    for (int k = 0; k < nc; k++) {
      Lv.n[k] = f.blockSize(l, k);
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
  }
  T *tfp(int q) const { return Tf.get() + fo.off[q]; } // far target q
  T *ahp(int q) const { return Ah.get() + ao.off[q]; } // near block q
  // symmetric: a block below the diagonal is always the transpose of the one above it, computed by
  // the owner of its row (here, or sent by another process), so that the arithmetic does not
  // depend on the distribution: P processes give the one-process result to the last bit
  bool viaTranspose(int i, int j) const { return sym && j < i; }
  bool remote(int j) const { return present[j] != 1; }
  // (symmetric, several processes) the blocks (j, i) with i > j owned by another process than j's:
  // near (X1) or near and far (X2), ascending in i, so each destination's blocks are contiguous
  // (owners grow with i) and each process receives only its own (Exchange::runTo)
  // (computed once per cell and kind: the sizes, offsets and lookups below read them many times)
  const std::vector<int> &crossList(int j, bool far)
  {
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
  }
  // the part of cell j's payload for process d (d < 0: all of it) and, in skip, what precedes it
  // (X1: r_j x p_i blocks, near; X2: r_j x r_i blocks, near and far)
  size_t part(int j, bool x2, int d, size_t &skip)
  {
    size_t sz = 0;
    skip = 0;
    for (int i : crossList(j, x2)) {
      const size_t bsz = static_cast<size_t>(r[j]) * (x2 ? r[i] : p[i]);
      if (d < 0 || lay.owner(l, i) == d) sz += bsz;
      else if (lay.owner(l, i) < d) skip += bsz;
    }
    return sz;
  }
  // where block (j, i), i mine, sits in the part of j's payload I received
  const T *received(const T *base, size_t off, int i, int j, bool x2)
  {
    for (int t : crossList(j, x2)) {
      if (t == i) break;
      if (lay.owner(l, t) == me) off += static_cast<size_t>(r[j]) * (x2 ? r[t] : p[t]);
    }
    return base + off;
  }
  const T *x1Block(int i, int j) { return received(X1.get(), x1o.off[j], i, j, false); }
  // the pivot block D_k = Ah_kk(rho, rho), copied into the factors
  CopyItem<T> dItem(int k) const { return CopyItem<T>{'N', p[k], p[k], ahp(N.find(k, k)) + r[k] + static_cast<size_t>(r[k]) * n[k], n[k], Lv.Dp(k), ld1(p[k])}; }
  FactorItem<T> fitem(int k) const { return FactorItem<T>{p[k], Lv.Dp(k), ld1(p[k]), Lv.pivp(k)}; }
  T *rtp(int q) const { return Rt.get() ? Rt.get() + bo.off[q] : nullptr; }
  // the Schur term Lf_ik R_kj into c: Lf_ik: Cholesky k: (L^{-1}B_ki)^T; LU k: C_ik (B_ki^T when
  // symmetric).  R_kj: L^{-1}B_kj or Rt_kj
  GemmItem<T> term(int i, int k, int j, T *c, int ldc) const
  {
    const int qki = N.find(k, i), qkj = N.find(k, j);
    if (!Lv.lu[k]) return GemmItem<T>{'T', 'N', r[i], r[j], p[k], Lv.Bp(qki), ld1(p[k]), Lv.Bp(qkj), ld1(p[k]), c, ldc};
    if (sym) return GemmItem<T>{'T', 'N', r[i], r[j], p[k], Lv.Bp(qki), ld1(p[k]), rtp(qkj), ld1(p[k]), c, ldc};
    return GemmItem<T>{'N', 'N', r[i], r[j], p[k], Lv.Cp(N.find(i, k)), ld1(r[i]), rtp(qkj), ld1(p[k]), c, ldc};
  }
};

// Move one exchange's payloads between this process' cells in a backend buffer and its ghosts'
// (cell c: size(c) values at off(c)); device buffers go through the host.
template <typename T>
template <typename SizeF, typename OffF>
void UlvFactorization<T>::exchange(const Exchange &x, Buffer<T> &buf, SizeF size, OffF off, bool solvePhase) const
{
  exchangeTo(x, buf, [&](int c, int) { return size(c); }, [&](int c, int) { return off(c); }, solvePhase);
}

template <typename T>
template <typename SizeF, typename OffF>
void UlvFactorization<T>::exchangeTo(const Exchange &x, Buffer<T> &buf, SizeF size, OffF off, bool solvePhase) const
{
  if (nprocs_ == 1) return;
  double bytes = 0;
  for (size_t q = 0; q < x.sendCells().size(); q++)
    for (int c : x.sendCells()[q]) bytes += static_cast<double>(size(c, x.neighbourRanks()[q])) * sizeof(T);
  communicate(solvePhase, bytes, x.neighbours(), [&]() {
    if (be_->hostAccessible()) x.runTo(size, [&](int c, int d) { return buf.get() + off(c, d); });
    else {
      std::vector<T> h(buf.size());
      be_->download(h.data(), buf.get(), buf.size());
      x.runTo(size, [&](int c, int d) { return h.data() + off(c, d); });
      be_->upload(buf.get(), h.data(), buf.size());
    }
  });
}

template <typename T>
template <typename F>
void UlvFactorization<T>::communicate(bool solvePhase, double bytes, long messages, F f) const
{
  const UlvEvent ev = solvePhase ? UlvEvent::SolveComm : UlvEvent::FactorComm;
  if (opt_.onEvent) opt_.onEvent(ev, true);
  const double t0 = ulvimpl::now();
  f();
  const double dt = ulvimpl::now() - t0;
  if (opt_.onEvent) opt_.onEvent(ev, false);
  (solvePhase ? comm_stats_.solveBytes : comm_stats_.factorBytes) += bytes;
  (solvePhase ? comm_stats_.solveMessages : comm_stats_.factorMessages) += messages;
  (solvePhase ? comm_stats_.solveTime : comm_stats_.factorTime) += dt;
}

} // namespace h2ulv
