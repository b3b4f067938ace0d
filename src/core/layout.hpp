// Distribution of the tree over MPI processes: subtree ownership and per-level ghost exchanges.
// Process p owns a contiguous range of leaves (balanced by points); a cell above the leaves is owned
// by the owner of its first leaf.  All exchanges are planned once (neighbour lists derived from the
// global, replicated tree) and executed with MPI_Neighbor_alltoallv in a fixed order, so results do
// not depend on message timing.
#pragma once

#include "tree.hpp"

#include <exception>
#include <mpi.h>
#include <type_traits>
#include <vector>

namespace h2ulv {

// Collective agreement on an error: rethrows the local exception, or throws an Error saying that
// another process failed.  Called wherever collectives follow work that may fail on one process.
void agree(MPI_Comm comm, std::exception_ptr err);

class Layout {
public:
  Layout(MPI_Comm comm, const ClusterTree &tree);
  // the same ownership for process `rank` of `size`, without a communicator (communication models)
  Layout(const ClusterTree &tree, int rank, int size);
  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return comm_; }
  int owner(int l, int k) const { return owner_[l][k]; }
  bool mine(int l, int k) const { return owner_[l][k] == rank_; }
  const std::vector<int> &owned(int l) const { return owned_[l]; } // my cells, ascending
  int pointBegin() const { return pbegin_; }                       // my tree-ordered points
  int pointEnd() const { return pend_; }
  const std::vector<int> &pointRanges() const { return pranges_; } // size+1 offsets

private:
  void assign(const ClusterTree &tree);
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<std::vector<int>> owner_, owned_;
  int pbegin_ = 0, pend_ = 0;
  std::vector<int> pranges_;
};

// Communication plans on level l (send[q]: my cells process q needs; recv[q]: cells of q I need;
// both sorted): the one place that says who talks to whom, used by the factorization, the product
// and the communication model (bench/commplan).
using Plan = std::vector<std::vector<int>>;
// near and far partners (bases for the couplings)
void planPartners(const ClusterTree &T, const Layout &lay, int l, Plan &send, Plan &recv);
// near partners only (ghost rows of the level matrix, ghost factors, ghost vector parts)
void planNear(const ClusterTree &T, const Layout &lay, int l, Plan &send, Plan &recv);
// near partners above: I receive the cells j of others near a cell i of mine with j > i (the
// symmetric factorization's ghost bases: it transforms the blocks above the diagonal only)
void planNearAbove(const ClusterTree &T, const Layout &lay, int l, Plan &send, Plan &recv);
// children on level l -> the owners of their parents (reverse it for parents -> children)
void planUp(const ClusterTree &T, const Layout &lay, int l, Plan &send, Plan &recv);

// Value type -> MPI datatype
template <typename V> MPI_Datatype mpiType();
template <> inline MPI_Datatype mpiType<double>() { return MPI_DOUBLE; }
template <> inline MPI_Datatype mpiType<float>() { return MPI_FLOAT; }
template <> inline MPI_Datatype mpiType<int>() { return MPI_INT; }

// One exchange pattern: for each neighbour process, which cells' payloads I send and receive.
// Payload sizes per cell are given at execution time (they are known on every process).
class Exchange {
public:
  Exchange() = default;
  // send[q] = my cells process q needs; recv[q] = cells of q I need (both sorted by cell id)
  void setup(MPI_Comm comm, const std::vector<std::vector<int>> &send, const std::vector<std::vector<int>> &recv);
  ~Exchange();
  Exchange(const Exchange &) = delete;
  Exchange &operator=(const Exchange &) = delete;
  // Move payloads: for each cell c, size(c) values at ptr(c) (send side read, receive side written);
  // the value type is ptr's (double, float, int).
  template <typename SizeF, typename PtrF>
  void run(SizeF size, PtrF ptr) const;
  // The same with payloads that depend on the destination process: cell c carries size(c, d)
  // values at ptr(c, d) for process d (sender: d = the neighbour; receiver: d = itself).
  template <typename SizeF, typename PtrF>
  void runTo(SizeF size, PtrF ptr) const;
  bool empty() const { return nbr_.empty(); }
  int neighbours() const { return static_cast<int>(nbr_.size()); }
  const Plan &sendCells() const { return send_; } // per neighbour
  const std::vector<int> &neighbourRanks() const { return nbr_; }
  const Plan &recvCells() const { return recv_; }

private:
  MPI_Comm graph_ = MPI_COMM_NULL;
  std::vector<int> nbr_;
  std::vector<std::vector<int>> send_, recv_;
};

template <typename SizeF, typename PtrF>
void Exchange::run(SizeF size, PtrF ptr) const
{
  runTo([&](int c, int) { return size(c); }, [&](int c, int) { return ptr(c); });
}

template <typename SizeF, typename PtrF>
void Exchange::runTo(SizeF size, PtrF ptr) const
{
  if (graph_ == MPI_COMM_NULL) return;
  using V = std::remove_const_t<std::remove_pointer_t<decltype(ptr(0, 0))>>;
  int me;
  MPI_Comm_rank(graph_, &me); // the graph communicator keeps the ranks of its parent
  const int nn = static_cast<int>(nbr_.size());
  std::vector<int> scount(nn), sdisp(nn), rcount(nn), rdisp(nn);
  int st = 0, rt = 0;
  for (int q = 0; q < nn; q++) {
    sdisp[q] = st;
    rdisp[q] = rt;
    for (int c : send_[q]) st += size(c, nbr_[q]);
    for (int c : recv_[q]) rt += size(c, me);
    scount[q] = st - sdisp[q];
    rcount[q] = rt - rdisp[q];
  }
  std::vector<V> sbuf(st), rbuf(rt);
  size_t o = 0;
  for (int q = 0; q < nn; q++)
    for (int c : send_[q]) {
      const V *p = ptr(c, nbr_[q]);
      int s = size(c, nbr_[q]);
      std::copy(p, p + s, sbuf.begin() + o);
      o += s;
    }
  MPI_Neighbor_alltoallv(sbuf.data(), scount.data(), sdisp.data(), mpiType<V>(), rbuf.data(), rcount.data(), rdisp.data(), mpiType<V>(), graph_);
  o = 0;
  for (int q = 0; q < nn; q++)
    for (int c : recv_[q]) {
      V *p = ptr(c, me);
      int s = size(c, me);
      std::copy(rbuf.begin() + o, rbuf.begin() + o + s, p);
      o += s;
    }
}

} // namespace h2ulv
