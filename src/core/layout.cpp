#include "layout.hpp"
#include "dense.hpp"

#include <algorithm>

namespace h2ulv {

void agree(MPI_Comm comm, std::exception_ptr err)
{
  int mine = err ? 1 : 0, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
  if (err) std::rethrow_exception(err);
  if (any) throw Error(ERR_ARG, "the H2 computation failed on another process (see its error message)");
}

Layout::Layout(MPI_Comm comm, const ClusterTree &tree) : comm_(comm)
{
  MPI_Comm_rank(comm, &rank_);
  MPI_Comm_size(comm, &size_);
  assign(tree);
}

Layout::Layout(const ClusterTree &tree, int rank, int size) : rank_(rank), size_(size) { assign(tree); }

void Layout::assign(const ClusterTree &tree)
{
  const int L = tree.levels(), nleaf = tree.ncells(L);
  const long long N = tree.size();
  owner_.resize(L + 1);
  owned_.resize(L + 1);
  owner_[L].resize(nleaf);
  // leaf k goes to the process whose share [p N/P, (p+1) N/P) contains the leaf's first point
  for (int k = 0; k < nleaf; k++) {
    long long b = tree.cell(L, k).begin;
    int p = static_cast<int>((b * size_) / N);
    owner_[L][k] = std::min(p, size_ - 1);
  }
  for (int l = L - 1; l >= 0; l--) {
    owner_[l].resize(tree.ncells(l));
    for (int k = 0; k < tree.ncells(l); k++) owner_[l][k] = owner_[l + 1][2 * k];
  }
  for (int l = 0; l <= L; l++)
    for (int k = 0; k < tree.ncells(l); k++)
      if (owner_[l][k] == rank_) owned_[l].push_back(k);
  pranges_.assign(size_ + 1, 0);
  for (int k = 0; k < nleaf; k++) pranges_[owner_[L][k] + 1] += tree.cell(L, k).size();
  for (int p = 0; p < size_; p++) pranges_[p + 1] += pranges_[p];
  pbegin_ = pranges_[rank_];
  pend_ = pranges_[rank_ + 1];
}

namespace {
void sortUnique(Plan &v)
{
  for (auto &w : v) {
    std::sort(w.begin(), w.end());
    w.erase(std::unique(w.begin(), w.end()), w.end());
  }
}
// above: only pairs (i mine, j another's) with j > i go to recv (and i < j' to send): what the
// symmetric factorization needs of its neighbours' bases (it transforms the blocks above the diagonal)
void planLists(const ClusterTree &T, const Layout &lay, int l, bool far, Plan &send, Plan &recv, bool above = false)
{
  const int P = lay.size(), me = lay.rank();
  send.assign(P, {});
  recv.assign(P, {});
  for (int i : lay.owned(l))
    for (const PairList *lst : {&T.nearList(l), &T.farList(l)}) {
      if (lst == &T.farList(l) && !far) continue;
      for (int p = lst->ptr[i]; p < lst->ptr[i + 1]; p++) {
        const int j = lst->col[p], q = lay.owner(l, j);
        if (q != me) {
          if (!above || i > j) send[q].push_back(i);
          if (!above || j > i) recv[q].push_back(j);
        }
      }
    }
  sortUnique(send);
  sortUnique(recv);
}
} // namespace

void planPartners(const ClusterTree &T, const Layout &lay, int l, Plan &send, Plan &recv) { planLists(T, lay, l, true, send, recv); }
void planNear(const ClusterTree &T, const Layout &lay, int l, Plan &send, Plan &recv) { planLists(T, lay, l, false, send, recv); }
void planNearAbove(const ClusterTree &T, const Layout &lay, int l, Plan &send, Plan &recv) { planLists(T, lay, l, false, send, recv, true); }

void planUp(const ClusterTree &T, const Layout &lay, int l, Plan &send, Plan &recv)
{
  const int P = lay.size(), me = lay.rank();
  send.assign(P, {});
  recv.assign(P, {});
  if (l == 0) return;
  for (int c : lay.owned(l)) {
    const int q = lay.owner(l - 1, c / 2);
    if (q != me) send[q].push_back(c);
  }
  for (int p : lay.owned(l - 1))
    for (int c : {2 * p, 2 * p + 1}) {
      const int q = lay.owner(l, c);
      if (q != me) recv[q].push_back(c);
    }
}

void Exchange::setup(MPI_Comm comm, const std::vector<std::vector<int>> &send, const std::vector<std::vector<int>> &recv)
{
  int size;
  MPI_Comm_size(comm, &size);
  nbr_.clear();
  send_.clear();
  recv_.clear();
  for (int q = 0; q < size; q++)
    if (!send[q].empty() || !recv[q].empty()) {
      nbr_.push_back(q);
      send_.push_back(send[q]);
      recv_.push_back(recv[q]);
    }
  if (graph_ != MPI_COMM_NULL) MPI_Comm_free(&graph_);
  if (size == 1) return;
  const int nn = static_cast<int>(nbr_.size());
  MPI_Dist_graph_create_adjacent(comm, nn, nbr_.data(), MPI_UNWEIGHTED, nn, nbr_.data(), MPI_UNWEIGHTED, MPI_INFO_NULL, 0, &graph_);
}

Exchange::~Exchange()
{
  int fin = 0;
  MPI_Finalized(&fin);
  if (graph_ != MPI_COMM_NULL && !fin) MPI_Comm_free(&graph_);
}

} // namespace h2ulv
