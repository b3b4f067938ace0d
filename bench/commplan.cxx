static const char help[] = "Communication model of the distributed H2-ULV factorization and solve, in one process.\n\
For P = 1, 2, 4, ... simulated processes, per tree level: the messages and the volume that the\n\
distributed factorization and solve (src/core/ulv.cpp) move, computed from the actual exchange plans\n\
(src/core/layout.hpp: Layout(tree, rank, size), planNear, planPartners, planUp) and the actual ranks\n\
of a one-process factorization (UlvFactorization<double> on MPI_COMM_SELF).\n\
  -problem <sphere-laplace>  standard problem (H2ULVProblemCreate)\n\
  -mode <weak|strong>        weak: N = n P; strong: N = -N for every P\n\
  -n <16384>                 points per process (weak scaling)\n\
  -N <131072>                points (strong scaling)\n\
  -P <1,2,4,8,16,32,64>      simulated process counts\n\
  -rank <R>                  use rank min(R, n_k) for every cell instead of measured ranks (no factorization)\n\
  -measure_max <32768>       largest N that is factorized for its ranks (one process, about 1 min at\n\
                             32768 on 2 cores); beyond it the ranks are extrapolated from N_max / 2^s\n\
                             (see the output, which also checks the extrapolation from N_src / 2 to N_src)\n\
  -check_root                factorize with the real dense root and check the root rule (default: only\n\
                             for N <= 8192; larger N are factorized with bases on every level, the same\n\
                             ranks below the root, and the root is placed by the maxroot rule)\n\
  -nrhs <1>                  right-hand sides per solve\n\
  -theta <1> -maxroot <4096> -fillin_weight <0.01> -rtol <the matrix's>   the factorization (PCH2ULV defaults)\n\
  -threads <0>               threads of the factorization (0: default)\n\
  -mat_h2_*                  the matrix (leaf size, admissibility of its tree, kernel)\n";

// The model (8 bytes per value; n_k, r_k, p_k = n_k - r_k: block size, rank, redundant part of cell k
// of level l; "ghosts": the cells in a process' receive lists), per level l = L, ..., top+1:
//   factorization  F1 ghost rows of A^(l) (planNear; symmetric: n_k^2, else sum_{j near k} n_k n_j)
//                  F2 ghost bases [U U_perp] (n_k^2; nonsymmetric: planNear, one exchange per side;
//                     symmetric: planNearAbove, only the ghosts above my cells)
//                  X1 (symmetric) the sigma x rho parts of blocks (j, i), i > j owned elsewhere
//                     (planNear; to each process the sum over its i of r_j p_i)
//                  X2 (symmetric) the Schur targets (j, i), i > j owned elsewhere, near or far
//                     (planPartners; to each process the sum over its i of r_j r_i)
//                  F3 skeleton + R of the bases (planPartners and planUp; r_k (1 + r_k) per side)
//                  F4 ghost factor panels (planNear; B: sum_j p_k r_j, and for LU pivots also
//                     D^{-1}B of the same size; nonsymmetric also C: sum_j r_k p_j) + the near
//                     ghosts' LU flags (one int per cell, not counted) and the ranks' MPI_Allgatherv (2 ints per cell)
//                  F5 merge rows to the parents' owners (planUp; r_c sum_{J near c/2} n_J)
//   root           MPI_Allgatherv of the dense root rows (n0 x n0) and of the bases of level top+1
//   solve          S1 up (planUp, levels > top+1; r_c), S2 ghost z (planNear; p_k),
//                  S3 root right-hand side (MPI_Allgatherv; n0), S4 down (planUp reversed,
//                  levels > top+1; r_c), S5 ghost x_sigma (planNear; r_k); times nrhs
// A message is one (process, neighbour) pair with something to send in one exchange
// (MPI_Neighbor_alltoallv); a root MPI_Allgatherv counts P-1 messages per contributing process.

#include <h2ulv.h>
#include "core/layout.hpp"
#include "core/tree.hpp"
#include "core/ulv.hpp"
#include "core/parallel.hpp"
#include "mat/h2ulv/math2impl.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

using namespace h2ulv;

namespace {

struct Config {
  char      problem[64] = "sphere-laplace";
  PetscBool strong      = PETSC_FALSE;
  PetscInt  nbase = 16384, Nstrong = 131072, fixedRank = 0, measureMax = 32768, nrhs = 1, maxRoot = 4096, threads = 0;
  PetscReal theta = 1.0, fillinWeight = 0.01, rtol = 0;
  PetscBool checkRoot = PETSC_FALSE;
  std::vector<int> P;
};

// per-level ranks of one problem size, and where they come from
struct Ranks {
  int L = 0, top = 0, rootN = 0;
  bool sym = true;
  std::vector<std::vector<int>> r; // r[l][k], l = top+1..L (all levels 1..L when full)
  std::string source, tag; // tag: short form for the summary table
  double factorSeconds = 0;
  bool full = false; // ranks on every level 1..L (factorized without the dense root)
};

struct Problem {
  PetscInt N = 0;
  std::shared_ptr<const ClusterTree> tree; // the factorization's tree
  std::shared_ptr<const EntryEvaluator> ev;
  bool sym = true;
  double rtol = 1e-8;
  int maxrank = 512;
  std::shared_ptr<_n_H2ULVProblem> prob;
};

// the matrix's tree and entries, exactly as MatAssemblyEnd (math2build.cxx) builds them, and the
// factorization's tree with the PC's admissibility (pch2ulv.cxx) -- without the matrix's bases and values
PetscErrorCode BuildProblem(const Config &cfg, PetscInt N, Problem &pb)
{
  H2ULVProblem prob;
  Mat          A;
  PetscBool    sym;

  PetscFunctionBegin;
  PetscCall(H2ULVProblemCreate(cfg.problem, N, 0, &prob));
  PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
  PetscCall(MatCreate(PETSC_COMM_SELF, &A));
  PetscCall(MatSetSizes(A, N, N, N, N));
  PetscCall(MatSetType(A, MATH2));
  PetscCall(H2ULVProblemSetUpMat(prob, A));
  PetscCall(MatSetFromOptions(A));
  {
    Mat_H2 *h = static_cast<Mat_H2 *>(A->data);
    PetscCheck(h && h->coords_set && (PetscInt)h->coords.size() == 3 * N, PETSC_COMM_SELF, PETSC_ERR_PLIB, "commplan: unexpected MATH2 state");
    PetscCheck(h->kernel != MATH2_KERNEL_NONE || h->kfn, PETSC_COMM_SELF, PETSC_ERR_SUP, "commplan: the problem's entries are neither a built-in nor a point kernel");
    TreeOptions topt;
    topt.leafsize = (int)h->leafsize;
    topt.adm      = h->adm == MATH2_ADMISSIBILITY_THETA ? Admissibility::Theta : Admissibility::Eta;
    topt.admparam = h->adm == MATH2_ADMISSIBILITY_THETA ? h->theta : h->eta;
    try {
      auto base = std::make_shared<ClusterTree>(3, (int)N, h->coords.data(), topt);
      std::shared_ptr<const ClusterTree> ft;
      if (h->adm == MATH2_ADMISSIBILITY_THETA && h->theta == cfg.theta) ft = base;
      else ft = std::make_shared<ClusterTree>(*base, Admissibility::Theta, cfg.theta);
      std::shared_ptr<const EntryEvaluator> ev;
      if (h->kernel != MATH2_KERNEL_NONE) {
        KernelParams     kp;
        const KernelKind kinds[] = {KernelKind::Laplace, KernelKind::Laplace, KernelKind::Yukawa, KernelKind::Gaussian, KernelKind::Exponential, KernelKind::Matern32, KernelKind::Matern52, KernelKind::IMQ};
        kp.kind   = kinds[h->kernel];
        kp.scale  = h->kscale;
        kp.param  = h->kparam;
        kp.diag   = h->kdiag_set ? (double)h->kdiag : NAN;
        kp.nugget = h->knugget;
        ev        = std::make_shared<BuiltinKernel>(*ft, kp);
      } else {
        ev = std::make_shared<FunctionKernel>(*ft, reinterpret_cast<FunctionKernel::Fn>(h->kfn), h->kctx, h->cbthreads != PETSC_BOOL3_FALSE);
      }
      // the evaluators keep a reference to the tree they were made with: keep the base alive with ft
      pb.tree = ft;
      pb.ev   = ev;
    } catch (const std::exception &e) {
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_LIB, "commplan: %s", e.what());
    }
    pb.N       = N;
    pb.sym     = (bool)sym;
    pb.rtol    = cfg.rtol > 0 ? cfg.rtol : h->rtol;
    pb.maxrank = (int)h->maxrank;
  }
  PetscCall(MatDestroy(&A));
  /* the point kernel of the nonsymmetric problem reads the problem's context: kept with the problem */
  pb.prob = std::shared_ptr<_n_H2ULVProblem>(prob, [](H2ULVProblem p) { (void)H2ULVProblemDestroy(&p); });
  PetscFunctionReturn(0);
}

// the root rule of UlvFactorization (before(l)): the first level l < L, going up, whose children's
// ranks add up to at most maxRoot is the root; none: level 0
void RootRule(const ClusterTree &T, int maxRoot, Ranks &rk)
{
  const int L = T.levels();
  rk.top = 0;
  if (maxRoot > 0)
    for (int l = L - 1; l >= 1; l--) {
      long s = 0;
      for (int k = 0; k < T.ncells(l + 1); k++) s += rk.r[l + 1][k];
      if (s <= maxRoot) {
        rk.top = l;
        break;
      }
    }
  rk.rootN = 0;
  if (L == 0) rk.rootN = T.size();
  else
    for (int k = 0; k < T.ncells(rk.top + 1); k++) rk.rootN += rk.r[rk.top + 1][k];
}

int BlockSize(const ClusterTree &T, const Ranks &rk, int l, int k)
{
  if (l == T.levels()) return T.cell(l, k).size();
  return rk.r[l + 1][2 * k] + rk.r[l + 1][2 * k + 1];
}

PetscErrorCode Measure(const Config &cfg, const Problem &pb, int maxRoot, Ranks &rk)
{
  PetscLogDouble t0, t1;

  PetscFunctionBegin;
  UlvOptions o;
  o.basis.rtol      = pb.rtol;
  o.basis.maxrank   = pb.maxrank;
  o.basis.nsamples  = (int)PetscMax(1000, (PetscInt)(500 * PetscCeilReal(-PetscLog10Real(pb.rtol))));
  o.basis.symmetric = pb.sym;
  o.fillin          = FillIn::Generator;
  o.fillinWeight    = cfg.fillinWeight;
  o.schur           = SchurVariant::TwoHop;
  o.cholesky        = pb.sym;
  o.maxRoot         = maxRoot;
  o.keepKernelBytes = 0;
  PetscCall(PetscTime(&t0));
  try {
    UlvFactorization<double> F(MPI_COMM_SELF, pb.tree, *pb.ev, o, 1.0, std::vector<double>());
    const ClusterTree &T = *pb.tree;
    const int          L = T.levels();
    PetscCheck(F.status().ok, PETSC_COMM_SELF, PETSC_ERR_LIB, "commplan: the factorization at N = %" PetscInt_FMT " failed: %s", pb.N, F.status().message.c_str());
    rk.L   = L;
    rk.sym = F.structure().symmetric();
    rk.r.assign(L + 1, {});
    for (int l = F.rootLevel() + 1; l <= L; l++) {
      rk.r[l].resize(T.ncells(l));
      for (int k = 0; k < T.ncells(l); k++) rk.r[l][k] = F.structure().rank(l, k, true);
    }
    rk.top   = F.rootLevel();
    rk.rootN = F.rootSize();
    if (maxRoot != cfg.maxRoot) RootRule(T, (int)cfg.maxRoot, rk); /* measured above the root: apply the real root rule */
    else {
      Ranks chk = rk;
      RootRule(T, (int)cfg.maxRoot, chk);
      PetscCheck(chk.top == rk.top && chk.rootN == rk.rootN, PETSC_COMM_SELF, PETSC_ERR_PLIB, "commplan: root rule (level %d, size %d) differs from the factorization's (level %d, size %d)", chk.top, chk.rootN, rk.top, rk.rootN);
    }
  } catch (const std::exception &e) {
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_LIB, "commplan: %s", e.what());
  }
  PetscCall(PetscTime(&t1));
  rk.factorSeconds = t1 - t0;
  rk.source        = "measured";
  rk.tag           = "measured";
  PetscFunctionReturn(0);
}

// fixed rank R: r_k = min(R, n_k) from the leaves up
void FixedRanks(const ClusterTree &T, int R, bool sym, int maxRoot, Ranks &rk)
{
  const int L = T.levels();
  rk.L   = L;
  rk.sym = sym;
  rk.r.assign(L + 1, {});
  for (int l = L; l >= 1; l--) {
    rk.r[l].resize(T.ncells(l));
    for (int k = 0; k < T.ncells(l); k++) rk.r[l][k] = std::min(R, BlockSize(T, rk, l, k));
  }
  RootRule(T, maxRoot, rk);
  rk.source = "fixed rank " + std::to_string(R);
  rk.tag    = "fixed rank " + std::to_string(R);
}

// Extrapolation to a larger tree: level l of the big tree has the ranks of level l - d of the
// source (cell k -> cell k >> d), d = L_big - L_src (cells with the same number of points have the
// same ranks); levels above the source's level 1 take the source's level-1 ranks; every rank is
// capped by its block size.  The source has ranks on all its levels 1..L_src.
void Extrapolate(const ClusterTree &T, const ClusterTree &Ts, const Ranks &src, int maxRoot, Ranks &rk)
{
  const int L = T.levels(), d = L - Ts.levels();
  rk.L   = L;
  rk.sym = src.sym;
  rk.r.assign(L + 1, {});
  for (int l = L; l >= 1; l--) {
    rk.r[l].resize(T.ncells(l));
    const int ls = std::max(1, l - d);
    for (int k = 0; k < T.ncells(l); k++) {
      const int ks = k >> (l - ls);
      rk.r[l][k] = std::min(src.r[ls][ks], BlockSize(T, rk, l, k));
    }
  }
  RootRule(T, maxRoot, rk);
  rk.source = "extrapolated from N = " + std::to_string(Ts.size()) + " (levels shifted by " + std::to_string(d) + ")";
  rk.tag    = "extrapolated (" + std::to_string(Ts.size()) + ", +" + std::to_string(d) + ")";
}

// ------------------------------------------------------------------------------------------------
// Accounting
struct Acc {
  std::vector<long>   msgs;       // per process: messages sent
  std::vector<double> sent, recv; // per process: bytes
  std::vector<long>   nbrs;       // per process: neighbours per exchange, receive-only ones included (the PC's counter)
  explicit Acc(int P = 0) : msgs(P, 0), sent(P, 0), recv(P, 0), nbrs(P, 0) { }
  long   totalMsgs() const { return std::accumulate(msgs.begin(), msgs.end(), 0L); }
  long   maxMsgs() const { return msgs.empty() ? 0 : *std::max_element(msgs.begin(), msgs.end()); }
  double totalBytes() const { return std::accumulate(sent.begin(), sent.end(), 0.0); }
  double maxRecv() const { return recv.empty() ? 0 : *std::max_element(recv.begin(), recv.end()); }
  void   add(const Acc &o)
  {
    for (size_t p = 0; p < msgs.size(); p++) msgs[p] += o.msgs[p], sent[p] += o.sent[p], recv[p] += o.recv[p], nbrs[p] += o.nbrs[p];
  }
};

// one exchange of process p: payload(c) values per cell
template <typename F>
void Exchange1(Acc &a, int p, const Plan &send, const Plan &recv, F payload, Acc *also = nullptr)
{
  if (also) Exchange1(*also, p, send, recv, payload);
  for (size_t q = 0; q < send.size(); q++) {
    double s = 0, r = 0;
    for (int c : send[q]) s += 8.0 * payload(c);
    for (int c : recv[q]) r += 8.0 * payload(c);
    if (s > 0) a.msgs[p]++;
    if (!send[q].empty() || !recv[q].empty()) a.nbrs[p]++;
    a.sent[p] += s;
    a.recv[p] += r;
  }
}

// the same with payloads that depend on the destination (Exchange::runTo): payload(c, d)
template <typename F>
void Exchange1To(Acc &a, int p, const Plan &send, const Plan &recv, F payload, Acc *also = nullptr)
{
  if (also) Exchange1To(*also, p, send, recv, payload);
  for (size_t q = 0; q < send.size(); q++) {
    double s = 0, r = 0;
    for (int c : send[q]) s += 8.0 * payload(c, (int)q);
    for (int c : recv[q]) r += 8.0 * payload(c, p);
    if (s > 0) a.msgs[p]++;
    if (!send[q].empty() || !recv[q].empty()) a.nbrs[p]++;
    a.sent[p] += s;
    a.recv[p] += r;
  }
}

// an MPI_Allgatherv in which process p contributes mine[p] values
void Allgather(Acc &a, const std::vector<double> &mine, Acc *also = nullptr)
{
  if (also) Allgather(*also, mine);
  const int    P     = (int)mine.size();
  const double total = std::accumulate(mine.begin(), mine.end(), 0.0);
  if (P == 1) return;
  for (int p = 0; p < P; p++) {
    if (mine[p] > 0) a.msgs[p] += P - 1;
    a.nbrs[p] += P - 1;
    a.sent[p] += 8.0 * mine[p] * (P - 1);
    a.recv[p] += 8.0 * (total - mine[p]);
  }
}

struct LevelRow {
  int    l, cells, idle;
  double rmean;
  Acc    f, s;
  double collBytes; // per process, received in the level's collectives (ints)
};

struct Result {
  std::vector<LevelRow> rows;
  Acc                   rootF, rootS, totF, totS;
  Acc                   bases; // F3 and the root's bases: moved by H2Structure, not in the PC's counters
  std::vector<Acc>      fph, sph; // by phase: F1..F5, root rows, root bases, X1+X2; S1..S5 (S3 = root)
  double                collMax = 0;
};

Result Model(const ClusterTree &T, const Ranks &rk, int P, int nrhs)
{
  const int L = T.levels(), top = rk.top;
  const bool sym = rk.sym;
  Result     res;
  res.rootF = Acc(P);
  res.rootS = Acc(P);
  res.totF  = Acc(P);
  res.totS  = Acc(P);
  res.bases = Acc(P);
  res.fph.assign(8, Acc(P));
  res.sph.assign(5, Acc(P));
  std::vector<Layout> lays;
  lays.reserve(P);
  for (int p = 0; p < P; p++) lays.emplace_back(T, p, P);
  const Layout &lay0 = lays[0];
  for (int l = L; l > top; l--) {
    const int       nc = T.ncells(l);
    const PairList &N  = T.nearList(l);
    std::vector<int> n(nc), r(nc), pk(nc);
    for (int k = 0; k < nc; k++) {
      n[k]  = BlockSize(T, rk, l, k);
      r[k]  = rk.r[l][k];
      pk[k] = n[k] - r[k];
    }
    // per-row sums over the near list
    std::vector<double> sumN(nc, 0), sumR(nc, 0), sumP(nc, 0);
    for (int k = 0; k < nc; k++)
      for (int q = N.ptr[k]; q < N.ptr[k + 1]; q++) {
        const int j = N.col[q];
        sumN[k] += n[j], sumR[k] += r[j], sumP[k] += pk[j];
      }
    // F5: width of a child's row in the parent level's near blocks
    std::vector<double> upW(nc, 0);
    if (l >= 1) {
      const PairList &Np = T.nearList(l - 1);
      for (int c = 0; c < nc; c++)
        for (int q = Np.ptr[c / 2]; q < Np.ptr[c / 2 + 1]; q++) {
          const int J = Np.col[q];
          upW[c] += r[2 * J] + r[2 * J + 1];
        }
    }
    const double sides = sym ? 1 : 2;
    LevelRow     row;
    row.l     = l;
    row.cells = nc;
    row.rmean = std::accumulate(r.begin(), r.end(), 0.0) / nc;
    row.f     = Acc(P);
    row.s     = Acc(P);
    {
      std::vector<int> owners;
      for (int k = 0; k < nc; k++) owners.push_back(lay0.owner(l, k));
      std::sort(owners.begin(), owners.end());
      row.idle = P - (int)(std::unique(owners.begin(), owners.end()) - owners.begin());
    }
    row.collBytes = P > 1 ? 4.0 * 2 * nc : 0; /* the ranks' Allgatherv (the LU flags go with the near ghosts: one int each), about */
    // symmetric: payload of cell j in X1 (withP: r_j p_i over near i > j owned elsewhere) or X2
    // (r_j r_i over near and far i > j owned elsewhere)
    const PairList &Fl = T.farList(l);
    auto crossSum = [&](int j, bool far, bool withP, int d) { // the part for process d
      double s2 = 0;
      for (const PairList *lst : {&N, &Fl}) {
        if (lst == &Fl && !far) continue;
        for (int q = lst->ptr[j]; q < lst->ptr[j + 1]; q++) {
          const int i = lst->col[q];
          if (i > j && lay0.owner(l, i) != lay0.owner(l, j) && lay0.owner(l, i) == d) s2 += (double)r[j] * (withP ? pk[i] : r[i]);
        }
      }
      return s2;
    };
    for (int p = 0; p < P; p++) {
      Plan ns, nr, ps, pr, us, ur, as, ar;
      planNear(T, lays[p], l, ns, nr);
      planNearAbove(T, lays[p], l, as, ar);
      planPartners(T, lays[p], l, ps, pr);
      planUp(T, lays[p], l, us, ur);
      // factorization
      Exchange1(row.f, p, ns, nr, [&](int k) { return sym ? (double)n[k] * n[k] : (double)n[k] * sumN[k]; }, &res.fph[0]); // F1
      if (sym) Exchange1(row.f, p, as, ar, [&](int k) { return (double)n[k] * n[k]; }, &res.fph[1]); // F2 (above)
      else
        for (int side = 0; side < 2; side++) Exchange1(row.f, p, ns, nr, [&](int k) { return (double)n[k] * n[k]; }, &res.fph[1]); // F2
      if (sym) { // X1, X2: the transposes of blocks above the diagonal computed by other processes
        Exchange1To(row.f, p, ns, nr, [&](int j, int d) { return crossSum(j, false, true, d); }, &res.fph[7]);
        Exchange1To(row.f, p, ps, pr, [&](int j, int d) { return crossSum(j, true, false, d); }, &res.fph[7]);
      }
      auto basis = [&](int k) { return sides * r[k] * (1.0 + r[k]); };
      Exchange1(row.f, p, ps, pr, basis, &res.fph[2]); // F3 partners
      Exchange1(row.f, p, us, ur, basis, &res.fph[2]); // F3 children -> parents
      Exchange1(res.bases, p, ps, pr, basis);
      Exchange1(res.bases, p, us, ur, basis);
      Exchange1(row.f, p, ns, nr, [&](int k) { return (double)pk[k] * sumR[k]; }, &res.fph[3]); // F4 B
      if (!sym) {
        Exchange1(row.f, p, ns, nr, [&](int k) { return (double)pk[k] * sumR[k]; }, &res.fph[3]); // F4 D^{-1}B (LU pivots)
        Exchange1(row.f, p, ns, nr, [&](int k) { return (double)r[k] * sumP[k]; }, &res.fph[3]);  // F4 C
      }
      Exchange1(row.f, p, us, ur, [&](int c) { return (double)r[c] * upW[c]; }, &res.fph[4]); // F5
      // solve (per right-hand side, times nrhs)
      if (l > top + 1) Exchange1(row.s, p, us, ur, [&](int c) { return (double)r[c] * nrhs; }, &res.sph[0]); // S1 up
      Exchange1(row.s, p, ns, nr, [&](int k) { return (double)pk[k] * nrhs; }, &res.sph[1]);                // S2
      if (l > top + 1) Exchange1(row.s, p, ur, us, [&](int c) { return (double)r[c] * nrhs; }, &res.sph[3]); // S4 down
      Exchange1(row.s, p, ns, nr, [&](int k) { return (double)r[k] * nrhs; }, &res.sph[4]);                 // S5
    }
    res.totF.add(row.f);
    res.totS.add(row.s);
    res.collMax += row.collBytes;
    res.rows.push_back(std::move(row));
  }
  // root
  if (L > 0) {
    const int        l1 = top + 1;
    std::vector<int> off(T.ncells(l1) + 1, 0);
    std::vector<double> rows(P, 0), bases(P, 0), rhs(P, 0);
    for (int a = 0; a < T.ncells(l1); a++) {
      const int ra = rk.r[l1][a];
      rows[lay0.owner(top, a / 2)] += (double)ra * rk.rootN; /* rows of the owners of level top's cells */
      bases[lay0.owner(l1, a)] += (sym ? 1 : 2) * ra * (1.0 + ra);
      rhs[lay0.owner(l1, a)] += (double)ra * nrhs;
    }
    Allgather(res.rootF, rows, &res.fph[5]);
    Allgather(res.rootF, bases, &res.fph[6]);
    Allgather(res.bases, bases);
    Allgather(res.rootS, rhs, &res.sph[2]);
  }
  res.totF.add(res.rootF);
  res.totS.add(res.rootS);
  return res;
}

PetscErrorCode ParseList(const char *s, std::vector<int> &v)
{
  PetscFunctionBegin;
  v.clear();
  std::string t(s);
  size_t      i = 0;
  while (i < t.size()) {
    size_t j = t.find(',', i);
    if (j == std::string::npos) j = t.size();
    const int x = atoi(t.substr(i, j - i).c_str());
    PetscCheck(x >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "-P: process counts are positive integers, got '%s'", t.substr(i, j - i).c_str());
    v.push_back(x);
    i = j + 1;
  }
  PetscFunctionReturn(0);
}

const double MB = 1048576.0;

PetscErrorCode PrintResult(const Config &cfg, PetscInt N, int P, const Ranks &rk, const Result &res, std::vector<std::string> &summary)
{
  PetscFunctionBegin;
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "\n== P = %d, N = %" PetscInt_FMT " (N/P = %.0f), levels %d, root level %d (root size %d), ranks: %s\n", P, N, (double)N / P, rk.L, rk.top, rk.rootN, rk.source.c_str()));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "%5s %6s %5s %6s | %9s %8s %10s %10s %8s | %9s %8s %10s %10s\n", "level", "cells", "idle", "r_mean", "F_msgs", "F_max", "F_MB", "F_maxrMB", "F_collKB", "S_msgs", "S_max", "S_MB", "S_maxrMB"));
  for (const auto &w : res.rows)
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "%5d %6d %5d %6.1f | %9ld %8ld %10.3f %10.3f %8.1f | %9ld %8ld %10.4f %10.4f\n", w.l, w.cells, w.idle, w.rmean, w.f.totalMsgs(), w.f.maxMsgs(), w.f.totalBytes() / MB, w.f.maxRecv() / MB, w.collBytes / 1024, w.s.totalMsgs(), w.s.maxMsgs(), w.s.totalBytes() / MB, w.s.maxRecv() / MB));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "%5s %6s %5s %6s | %9ld %8ld %10.3f %10.3f %8s | %9ld %8ld %10.4f %10.4f\n", "root", "", "", "", res.rootF.totalMsgs(), res.rootF.maxMsgs(), res.rootF.totalBytes() / MB, res.rootF.maxRecv() / MB, "", res.rootS.totalMsgs(), res.rootS.maxMsgs(), res.rootS.totalBytes() / MB, res.rootS.maxRecv() / MB));
  const double np = (double)N / P;
  Acc          noRoot = res.totF;
  for (size_t p = 0; p < noRoot.recv.size(); p++) noRoot.recv[p] -= res.rootF.recv[p];
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "%5s %6s %5s %6s | %9ld %8ld %10.3f %10.3f %8.1f | %9ld %8ld %10.4f %10.4f\n", "total", "", "", "", res.totF.totalMsgs(), res.totF.maxMsgs(), res.totF.totalBytes() / MB, res.totF.maxRecv() / MB, res.collMax / 1024, res.totS.totalMsgs(), res.totS.maxMsgs(), res.totS.totalBytes() / MB, res.totS.maxRecv() / MB));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "SUMMARY P=%d N=%" PetscInt_FMT " root=%d(level %d) | factor: msgs %ld, max/proc %ld, %.2f MB, max recv/proc %.3f MB = %.1f B/point (%.1f B/point without the root) | solve (nrhs %d): msgs %ld, max/proc %ld, %.4f MB, max recv/proc %.4f MB = %.2f B/point\n", P, N, rk.rootN, rk.top,
                        res.totF.totalMsgs(), res.totF.maxMsgs(), res.totF.totalBytes() / MB, res.totF.maxRecv() / MB, res.totF.maxRecv() / np, noRoot.maxRecv() / np, (int)cfg.nrhs, res.totS.totalMsgs(), res.totS.maxMsgs(), res.totS.totalBytes() / MB, res.totS.maxRecv() / MB, res.totS.maxRecv() / np));
  {
    /* what PCView of a real run reports (the most one process sends, by the factorization's own exchanges) */
    double mx = 0, mm = 0, sx = 0, sm = 0;
    for (size_t p = 0; p < res.totF.sent.size(); p++) {
      mx = std::max(mx, res.totF.sent[p] - res.bases.sent[p]);
      mm = std::max(mm, (double)(res.totF.nbrs[p] - res.bases.nbrs[p]));
      sx = std::max(sx, res.totS.sent[p]);
      sm = std::max(sm, (double)res.totS.nbrs[p]);
    }
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "  as PCView (-ksp_view) of a run on %d processes counts (the bases' exchanges excluded; per process, at most): %.4g MB in %.0f messages by the factorization, %.4g MB in %.0f messages per solve\n", P, mx / MB, mm, sx / MB, sm));
  }
  {
    const char *fn[] = {"F1 rows", "F2 Q", "F3 skel+R", "F4 panels", "F5 merge", "root rows", "root bases", "X1+X2 transposes"}, *sn[] = {"S1 up", "S2 z", "S3 root", "S4 down", "S5 x_sigma"};
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "  by phase, total MB (max received per process MB):"));
    for (int i = 0; i < 8; i++) PetscCall(PetscPrintf(PETSC_COMM_SELF, " %s %.1f (%.1f)%s", fn[i], res.fph[i].totalBytes() / MB, res.fph[i].maxRecv() / MB, i < 7 ? "," : ";"));
    for (int i = 0; i < 5; i++) PetscCall(PetscPrintf(PETSC_COMM_SELF, " %s %.3f (%.4f)%s", sn[i], res.sph[i].totalBytes() / MB, res.sph[i].maxRecv() / MB, i < 4 ? "," : "\n"));
  }
  char line[512];
  snprintf(line, sizeof(line), "%4d %9" PetscInt_FMT " %5d %5d | %8ld %6ld %10.2f %9.3f %8.1f %8.1f | %8ld %6ld %9.4f %9.4f %7.2f | %s", P, N, rk.rootN, res.rows.empty() ? 0 : res.rows.back().idle, res.totF.totalMsgs(), res.totF.maxMsgs(), res.totF.totalBytes() / MB, res.totF.maxRecv() / MB, res.totF.maxRecv() / np, noRoot.maxRecv() / np, res.totS.totalMsgs(), res.totS.maxMsgs(), res.totS.totalBytes() / MB, res.totS.maxRecv() / MB, res.totS.maxRecv() / np, rk.tag.c_str());
  summary.push_back(line);
  PetscFunctionReturn(0);
}

} // namespace

int main(int argc, char **argv)
{
  Config         cfg;
  char           mode[16] = "weak", plist[256] = "1,2,4,8,16,32,64";
  PetscLogDouble tstart, tend;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscTime(&tstart));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", cfg.problem, sizeof(cfg.problem), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-mode", mode, sizeof(mode), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-P", plist, sizeof(plist), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &cfg.nbase, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-N", &cfg.Nstrong, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-rank", &cfg.fixedRank, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-measure_max", &cfg.measureMax, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nrhs", &cfg.nrhs, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-maxroot", &cfg.maxRoot, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-threads", &cfg.threads, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-theta", &cfg.theta, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-fillin_weight", &cfg.fillinWeight, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-rtol", &cfg.rtol, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-check_root", &cfg.checkRoot, NULL));
  PetscCall(ParseList(plist, cfg.P));
  PetscCall(PetscStrcmp(mode, "strong", &cfg.strong));
  {
    PetscBool weak;
    PetscCall(PetscStrcmp(mode, "weak", &weak));
    PetscCheck(weak || cfg.strong, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "-mode weak or strong, got %s", mode);
  }
  if (cfg.threads > 0) setDefaultThreads((int)cfg.threads);

  // the problem sizes; beyond -measure_max the ranks come from the largest measured N_src = N_max / 2^s
  std::vector<PetscInt> Ns;
  for (int P : cfg.P) Ns.push_back(cfg.strong ? cfg.Nstrong : cfg.nbase * P);
  std::vector<PetscInt> uniq(Ns);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  const PetscInt Nmax       = uniq.back();
  const bool     needExtrap = cfg.fixedRank <= 0 && Nmax > cfg.measureMax;
  PetscInt       Nsrc = 0, Nprev = 0; /* the extrapolation's source, and the size whose extrapolation to N_src is checked */
  if (needExtrap) {
    Nsrc = Nmax;
    while (Nsrc > cfg.measureMax && Nsrc % 2 == 0) Nsrc /= 2;
    PetscCheck(Nsrc <= cfg.measureMax && Nsrc >= 256, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "commplan: no N_max / 2^s at most -measure_max %" PetscInt_FMT " to measure the ranks on (use -rank R)", cfg.measureMax);
    Nprev = Nsrc / 2;
  }

  PetscCall(PetscPrintf(PETSC_COMM_SELF, "# commplan: communication model of the distributed H2-ULV (src/core/ulv.cpp), one process simulating P\n"));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "# problem %s, %s scaling (%s), P = %s, nrhs %" PetscInt_FMT ", theta %g, maxroot %" PetscInt_FMT ", fillin weight %g, threads %d\n", cfg.problem, cfg.strong ? "strong" : "weak",
                        cfg.strong ? ("N = " + std::to_string(cfg.Nstrong)).c_str() : ("N = " + std::to_string(cfg.nbase) + " P").c_str(), plist, cfg.nrhs, (double)cfg.theta, cfg.maxRoot, (double)cfg.fillinWeight, defaultThreads()));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "# columns: idle = processes owning no cell of the level; r_mean = mean rank; F_ = factorization, S_ = solve (per nrhs\n"
                                         "#   right-hand sides); msgs = sum over processes of the neighbours sent to (one per exchange), max = the most of one process;\n"
                                         "#   MB = total volume (8-byte values), maxrMB = the most one process receives; collKB = ints a process receives in the\n"
                                         "#   level's collectives (lu flags, ranks); root: MPI_Allgatherv of the dense root rows and of the bases of level top+1 (factor)\n"
                                         "#   and of the root right-hand side (solve); B/point = the most one process receives / (N/P)\n"));

  std::map<PetscInt, Problem> probs;
  std::map<PetscInt, Ranks>   ranks;
  std::vector<PetscInt>       build(uniq);
  if (needExtrap) build.insert(build.end(), {Nprev, Nsrc});
  std::sort(build.begin(), build.end());
  build.erase(std::unique(build.begin(), build.end()), build.end());
  for (PetscInt N : build) {
    PetscLogDouble t0, t1;
    PetscCall(PetscTime(&t0));
    PetscCall(BuildProblem(cfg, N, probs[N]));
    PetscCall(PetscTime(&t1));
    const Problem &pb = probs[N];
    if (cfg.fixedRank > 0) FixedRanks(*pb.tree, (int)cfg.fixedRank, pb.sym, (int)cfg.maxRoot, ranks[N]);
    else if (N <= cfg.measureMax) {
      /* small N, or -check_root: the real root (the rule is checked against it); else bases on all
         levels (the same ranks below the root, cheaper than the dense root) and the root by the rule */
      const bool full = (needExtrap && (N == Nsrc || N == Nprev)) || !(cfg.checkRoot || N <= 8192);
      PetscCall(Measure(cfg, pb, full ? 0 : (int)cfg.maxRoot, ranks[N]));
      ranks[N].full = full;
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "# N = %" PetscInt_FMT ": tree %.1f s, factorization %.1f s (%s; levels %d, root level %d, root size %d)\n", N, t1 - t0, ranks[N].factorSeconds, full ? "bases on every level, root by the maxroot rule" : "real root, rule checked", ranks[N].L, ranks[N].top, ranks[N].rootN));
    }
  }
  if (needExtrap) {
    const Ranks &src = ranks[Nsrc];
    for (PetscInt N : uniq)
      if (N > cfg.measureMax) Extrapolate(*probs[N].tree, *probs[Nsrc].tree, src, (int)cfg.maxRoot, ranks[N]);
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "# N > %" PetscInt_FMT " (-measure_max): ranks extrapolated from the factorization at N = %" PetscInt_FMT ": level l of the larger tree takes the ranks\n"
                                           "#   of level l - d of that one (cell k -> k >> d: the same points per cell), d = the difference in depth; the trees and plans are the real ones\n",
                          cfg.measureMax, Nsrc));
    /* how good is the extrapolation: predict N_src from N_src / 2 and compare with the measured ranks */
    if (probs[Nprev].tree->levels() < probs[Nsrc].tree->levels()) {
      const ClusterTree &T = *probs[Nsrc].tree;
      Ranks              pred;
      Extrapolate(T, *probs[Nprev].tree, ranks[Nprev], (int)cfg.maxRoot, pred);
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "# check of the extrapolation, N = %" PetscInt_FMT " predicted from N = %" PetscInt_FMT ": mean rank per level (predicted/measured):", Nsrc, Nprev));
      for (int l = T.levels(); l >= 1; l--) {
        double a = 0, b = 0;
        for (int k = 0; k < T.ncells(l); k++) a += pred.r[l][k], b += ranks[Nsrc].r[l][k];
        PetscCall(PetscPrintf(PETSC_COMM_SELF, " %d:%.0f/%.0f", l, a / T.ncells(l), b / T.ncells(l)));
      }
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "\n"));
      {
        const int P  = cfg.P.back();
        Result    rm = Model(T, ranks[Nsrc], P, (int)cfg.nrhs), rp = Model(T, pred, P, (int)cfg.nrhs);
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "#   at P = %d: root size %d/%d, factorization %.2f/%.2f MB (max received per process %.3f/%.3f MB), solve %.4f/%.4f MB\n", P, pred.rootN, ranks[Nsrc].rootN, rp.totF.totalBytes() / MB, rm.totF.totalBytes() / MB, rp.totF.maxRecv() / MB, rm.totF.maxRecv() / MB, rp.totS.totalBytes() / MB, rm.totS.totalBytes() / MB));
      }
    }
  }

  std::vector<std::string> summary;
  for (size_t i = 0; i < cfg.P.size(); i++) {
    const int      P  = cfg.P[i];
    const PetscInt N  = Ns[i];
    const Ranks   &rk = ranks[N];
    Result         res = Model(*probs[N].tree, rk, P, (int)cfg.nrhs);
    /* consistency of the plans: what is sent is received */
    PetscCheck(std::fabs(res.totF.totalBytes() - std::accumulate(res.totF.recv.begin(), res.totF.recv.end(), 0.0)) <= 1e-9 * (1 + res.totF.totalBytes()), PETSC_COMM_SELF, PETSC_ERR_PLIB, "commplan: sent and received volumes differ");
    PetscCall(PrintResult(cfg, N, P, rk, res, summary));
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "\n# scaling summary (idle1 = processes owning no cell of level top+1; B/pt = max received per process / (N/P); noroot: without the root gathers)\n"));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "%4s %9s %5s %5s | %8s %6s %10s %9s %8s %8s | %8s %6s %9s %9s %7s | %s\n", "P", "N", "root", "idle1", "F_msgs", "F_max", "F_MB", "F_maxrMB", "F_B/pt", "noroot", "S_msgs", "S_max", "S_MB", "S_maxrMB", "S_B/pt", "ranks"));
  for (const auto &l : summary) PetscCall(PetscPrintf(PETSC_COMM_SELF, "%s\n", l.c_str()));
  probs.clear();
  PetscCall(PetscTime(&tend));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "\n# run time %.1f s\n", tend - tstart));
  PetscCall(PetscFinalize());
  return 0;
}
