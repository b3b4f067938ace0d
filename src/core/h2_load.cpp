// Stage 2 of the pipeline from stored bases: the H^2 structure of a matrix saved before (the PETSc
// layer reads the file, src/mat/h2ulv/math2io.cxx).  The owned cells' bases are given; everything a
// construction derives from them (the exchange plans, every rank, the ghost bases) is derived the
// same way, so a loaded structure equals the one that was saved, on any number of processes.
#include "h2_impl.hpp"

#include <string>

namespace h2ulv {

// a basis read from a file must fit its cell: the rows of U are the cell's points (leaf) or its
// children's ranks (transfer matrix), R is r x r, the skeleton lies in the cell
void H2Structure::checkGivenBasis(int l, int k, const CellBasis &b, bool row) const
{
  const ClusterTree &T = *tree_;
  const Cell &c = T.cell(l, k);
  const int r = b.rank();
  int n = c.size();
  if (l < T.levels()) n = rank(l + 1, 2 * k, row) + rank(l + 1, 2 * k + 1, row);
  const std::string where = "cell " + std::to_string(k) + " of level " + std::to_string(l);
  if (r > n || b.U.rows() != n || b.U.cols() != r || b.R.rows() != r || b.R.cols() != r)
    throw Error(ERR_ARG, "the stored basis of " + where + " does not fit the cell (" + std::to_string(b.U.rows()) + " x " + std::to_string(b.U.cols()) + ", " + std::to_string(n) + " rows expected)");
  for (int t : b.skel)
    if (t < c.begin || t >= c.end) throw Error(ERR_ARG, "the stored skeleton of " + where + " names a point outside the cell");
}

H2Structure::H2Structure(MPI_Comm comm, std::shared_ptr<const ClusterTree> tree, const BuildOptions &opt, std::vector<std::vector<CellBasis>> rowb, std::vector<std::vector<CellBasis>> colb) :
  tree_(std::move(tree)), layout_(comm, *tree_), opt_(opt)
{
  const int L = tree_->levels();
  allocateLevels();
  planExchanges();
  if (static_cast<int>(rowb.size()) != L + 1 || (!opt_.symmetric && static_cast<int>(colb.size()) != L + 1)) throw Error(ERR_ARG, "the stored bases do not have one entry per level of the tree");
  for (int l = L; l >= 1; l--) {
    std::exception_ptr err = nullptr;
    try {
      for (int k : layout_.owned(l)) {
        if (static_cast<int>(rowb[l].size()) != tree_->ncells(l) || (!opt_.symmetric && static_cast<int>(colb[l].size()) != tree_->ncells(l))) throw Error(ERR_ARG, "the stored bases of level " + std::to_string(l) + " do not have one entry per cell");
        rowb_[l][k] = std::move(rowb[l][k]);
        checkGivenBasis(l, k, rowb_[l][k], true);
        if (!opt_.symmetric) {
          colb_[l][k] = std::move(colb[l][k]);
          checkGivenBasis(l, k, colb_[l][k], false);
        }
      }
    } catch (...) {
      err = std::current_exception();
    }
    agree(comm, err);
    shareRanks(l);
    shareGhostBases(l);
  }
}

std::shared_ptr<const H2Structure> H2Structure::symmetricFromRows(MPI_Comm comm) const
{
  const int L = tree_->levels();
  BuildOptions o = opt_;
  o.symmetric = true;
  std::vector<std::vector<CellBasis>> rowb(L + 1);
  for (int l = 1; l <= L; l++) {
    rowb[l].resize(tree_->ncells(l));
    for (int k : layout_.owned(l)) rowb[l][k] = rowb_[l][k];
  }
  return std::make_shared<const H2Structure>(comm, tree_, o, std::move(rowb), std::vector<std::vector<CellBasis>>());
}

} // namespace h2ulv
