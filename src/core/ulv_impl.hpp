// Private to the H^2-ULV factorization (ulv.cpp, ulv_generators.cpp, ulv_factor.cpp, ulv_solve.cpp,
// ulv_comm.cpp): the helpers they share, the per-level factors (Level) and the neighbour exchanges,
// which are templates over the payload's size and offset functions.
//
// Explicit instantiation: ulv.cpp instantiates the class (`template class UlvFactorization<T>`,
// with the members it defines and those of this header); every other file instantiates the member
// functions it defines, and only those.
#pragma once

#include "ulv.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace h2ulv {
namespace ulvimpl {

inline double now()
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
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
  T *Qrp(int k) const { return Qr.get() + qoff[k]; }
  T *Qcp(int k) const { return Qc.get() ? Qc.get() + qoff[k] : Qr.get() + qoff[k]; }
  T *Dp(int k) const { return D.get() + doff[k]; }
  int *pivp(int k) const { return piv.get() + pivoff[k]; }
  T *Bp(int q) const { return B.get() + boff[q]; }
  T *Cp(int q) const { return C.get() + coff[q]; }
  size_t bytes() const { return Qr.bytes() + Qc.bytes() + D.bytes() + B.bytes() + C.bytes() + piv.size() * sizeof(int); }
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
