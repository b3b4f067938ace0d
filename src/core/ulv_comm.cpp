// The factorization's communication (docs/parallel.md): the status and the pivots' scalars agreed
// over the processes, the ghosts' rows of a level matrix for the fill-in generators, the gather of
// the root's rows.  The neighbour exchanges of the batched stages are in ulv_impl.hpp (templates).
#include "ulv_impl.hpp"

#include <string>

namespace h2ulv {

namespace ulvimpl {
// (declared in ulv_impl.hpp)
template <typename V>
void allgatherRows(MPI_Comm comm, int n, int k, int m, const V *mine, V *all)
{
  int P;
  MPI_Comm_size(comm, &P);
  std::vector<int> rows(P), cnt(P), dsp(P + 1, 0);
  MPI_Allgather(&m, 1, MPI_INT, rows.data(), 1, MPI_INT, comm);
  for (int q = 0; q < P; q++) {
    cnt[q] = rows[q] * k;
    dsp[q + 1] = dsp[q] + cnt[q];
  }
  std::vector<V> tmp(static_cast<size_t>(dsp[P]));
  MPI_Allgatherv(mine, m * k, mpiType<V>(), tmp.data(), cnt.data(), dsp.data(), mpiType<V>(), comm);
  for (int q = 0, r0 = 0; q < P; q++) {
    for (int j = 0; j < k; j++)
      for (int i = 0; i < rows[q]; i++) all[r0 + i + static_cast<size_t>(j) * n] = tmp[dsp[q] + i + static_cast<size_t>(j) * rows[q]];
    r0 += rows[q];
  }
}
template void allgatherRows<double>(MPI_Comm, int, int, int, const double *, double *);
template void allgatherRows<float>(MPI_Comm, int, int, int, const float *, float *);
} // namespace ulvimpl

// A failure on one process (a pivot that is not SPD, a singular one) stops every process, with
// the message of the lowest failing process.
template <typename T>
void UlvFactorization<T>::agreeStatus()
{
  if (nprocs_ == 1) return;
  int me;
  MPI_Comm_rank(comm_, &me);
  int mine = status_.ok ? nprocs_ : me, first = nprocs_;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm_);
  if (first == nprocs_) return;
  int len = static_cast<int>(status_.message.size());
  MPI_Bcast(&len, 1, MPI_INT, first, comm_);
  std::string msg(static_cast<size_t>(len), ' ');
  if (me == first) msg = status_.message;
  MPI_Bcast(&msg[0], len, MPI_CHAR, first, comm_);
  status_.ok = false;
  status_.message = msg;
}

// The pivots' contributions of all processes, summed in process order (deterministic)
template <typename T>
void UlvFactorization<T>::reduceScalars()
{
  if (nprocs_ == 1) return;
  double loc[6] = {logdet_, static_cast<double>(sign_), static_cast<double>(inertia_[0]), static_cast<double>(inertia_[1]), static_cast<double>(inertia_[2]), status_.usedLU ? 1.0 : 0.0};
  std::vector<double> all(static_cast<size_t>(6) * nprocs_);
  MPI_Allgather(loc, 6, MPI_DOUBLE, all.data(), 6, MPI_DOUBLE, comm_);
  logdet_ = 0;
  sign_ = 1;
  inertia_[0] = inertia_[1] = inertia_[2] = 0;
  for (int q = 0; q < nprocs_; q++) {
    const double *v = &all[static_cast<size_t>(6) * q];
    logdet_ += v[0];
    if (v[1] < 0) sign_ = -sign_;
    for (int t = 0; t < 3; t++) inertia_[t] += static_cast<long>(v[2 + t]);
    if (v[5] > 0) status_.usedLU = true;
  }
}

// The ghosts' rows of A^(l) that the fill-in generators of my cells read: the diagonal blocks
// A_kk (symmetric), or the whole rows (nonsymmetric: the column side reads A_ki)
template <typename T>
void UlvFactorization<T>::ghostRows(int l)
{
  if (nprocs_ == 1) return;
  const ClusterTree &Tr = *tree_;
  const PairList &N = Tr.nearList(l);
  const bool sym = opt_.basis.symmetric;
  auto &A = A_[l];
  if (A.empty()) return;
  std::vector<std::vector<double>> buf(Tr.ncells(l));
  auto size = [&](int k) {
    const long nk = blockSize(l, k);
    if (sym) return static_cast<int>(nk * nk);
    long s = 0;
    for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) s += nk * blockSize(l, N.col[q]);
    return static_cast<int>(s);
  };
  for (int k : lay_->owned(l))
    for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++)
      if (!sym || N.col[q] == k) buf[k].insert(buf[k].end(), A[q].data(), A[q].data() + A[q].size());
  for (int k : ghost_[l]) buf[k].assign(static_cast<size_t>(size(k)), 0.0);
  double bytes = 0;
  for (const auto &cells : nearX_[l]->sendCells())
    for (int c : cells) bytes += 8.0 * size(c);
  communicate(false, bytes, nearX_[l]->neighbours(), [&]() { nearX_[l]->run(size, [&](int k) { return buf[k].data(); }); });
  for (int k : ghost_[l]) {
    const double *p = buf[k].data();
    const int nk = blockSize(l, k);
    for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) {
      const int j = N.col[q];
      if (sym && j != k) continue;
      Matrix<double> M(nk, blockSize(l, j));
      std::copy(p, p + M.size(), M.data());
      p += M.size();
      A[q] = std::move(M);
    }
  }
}

#define H2ULV_ULV_COMM(T) \
  template void UlvFactorization<T>::agreeStatus(); \
  template void UlvFactorization<T>::reduceScalars(); \
  template void UlvFactorization<T>::ghostRows(int);
H2ULV_ULV_COMM(double)
H2ULV_ULV_COMM(float)
#undef H2ULV_ULV_COMM

} // namespace h2ulv
