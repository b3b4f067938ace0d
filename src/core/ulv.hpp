// Stages 3 and 4 of the pipeline: the fill-in-aware H^2-ULV factorization and the dependency-free
// substitution (docs/algorithm.md, "The per-level ULV factorization").
//
// The factorization owns its own H^2 representation of the kernel (bases with fill-in rows, built
// level by level interleaved with the elimination) and factorizes
//
//      M = alpha K_H2 + diag(d)      (K: the kernel matrix, d: a diagonal shift in tree order)
//
// Each level is a batch of independent dense operations: transform the near blocks with [U U_perp],
// factor the redundant pivot blocks, panel solves, Schur complements into the parent level's blocks.
// refactor() changes alpha and d and reuses the tree and the bases.
#pragma once

#include "backend/backend.hpp"
#include "dense.hpp"
#include "entries.hpp"
#include "h2matrix.hpp"
#include "layout.hpp"
#include "tree.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace h2ulv {

enum class SchurVariant { Diag, Near1, TwoHop };
// Auto: per cell, the far field alone where the cell's block row is dominated by its diagonal block
// and the solve corrects for the dropped redundant couplings (crossCorrected()); generators elsewhere
enum class FillIn { None, NearField, Generator, Auto };
// phases reported to UlvOptions::onEvent (the PETSc layer maps them to log events)
enum class UlvEvent { FactorComm, SolveComm, Root };

// The far-field-only test of FillIn::Auto (src/core/ulv_generators.cpp): a cell whose block row
// has sum_{k near, k != i} ||A_ik||_F <= kFarOnlyRatio times the dominance margin of A_ii takes
// its basis from the far field alone
constexpr double kFarOnlyRatio = 1e-3;
double marginOf(const Matrix<double> &D); // the diagonal dominance margin of D (0: none)
double farOnlyRatio(const ClusterTree &T, int l, int i, const Matrix<double> &Aii, const std::vector<const Matrix<double> *> &off);
// the largest farOnlyRatio() over `samples` leaves of T, of M = alpha K + diag(d) (d in tree order
// or empty): how -pc_h2ulv_theta 0 tells whether the wider admissibility pays
double sampledLeafFarOnlyRatio(const ClusterTree &T, const EntryEvaluator &ev, double alpha, const std::vector<double> &d, int samples);

struct UlvOptions {
  BuildOptions basis;                       // tolerance, rank cap, samples, symmetric
  FillIn fillin = FillIn::Generator;        // what the bases are made to capture besides the far field
  double fillinWeight = 1.0;                // generators scaled to this times the norm of the cell's own block
  bool rtolDiagonal = false;                // where a cell's block dominates its diagonal, the bases' tolerance is also
                                            // relative to its margin (not only to its sample), and the generators
                                            // weighted by at most that margin (UlvFactorization::dominance)
  double fillinSketch = 0;                  // > 0: a Gaussian sketch of each cell's generators, this times n_i columns
                                            // (A_ik A_kk^{-1} Omega_k, A_kk^{-1} Omega_k shared by all i) instead of all of them
  SchurVariant schur = SchurVariant::TwoHop;
  bool crossCorrection = false;             // the solve corrects, to first order, for the couplings between the
                                            // redundant parts of near cells that the factorization drops
  bool cholesky = true;                     // Cholesky pivots for symmetric matrices (LU otherwise)
  bool choleskyRequired = false;            // fail instead of falling back to LU
  bool spdKnown = false;                    // the matrix is known SPD (a failed Cholesky pivot is the compression's)
  double zeroPivot = 0;                     // a pivot of magnitude <= zeroPivot * max |A_ii| is zero: the factorization fails
  bool droppedNorms = false;                // measure the Schur terms that fall outside the pattern
  int maxRoot = 4096;                       // factor the top levels as one dense block once the cells'
                                            // skeletons of a level add up to at most this (0: never)
  int maxRootCapped = 0;                    // ... or up to this many, when the next level's bases would
                                            // reach the rank cap (0: go on with capped bases)
  BackendRequest backend;                   // where the batched dense operations run
  size_t keepKernelBytes = size_t(2) << 30; // keep K's near blocks and couplings for refactorizations up to about this
  std::function<void(UlvEvent, bool begin)> onEvent; // optional: phase begin/end (logging)
  BatchHook onBatch;                        // optional: every batched operation, begin/end with its flops (logging)
  std::function<void(int level, int levels, double seconds)> onLevel; // optional: progress, before the bases of each level (L..1; seconds since the start)
  bool syncBatches = true;                  // with onBatch: wait for the device after each batch (true times)
};

// What the distributed factorization and solve moved (this process; bytes sent, messages sent)
struct UlvCommStats {
  double factorBytes = 0, solveBytes = 0;
  long factorMessages = 0, solveMessages = 0;
  double factorTime = 0, solveTime = 0; // seconds inside exchanges (waiting included)
};

struct UlvLevelStats {
  int minrank = 0, maxrank = 0;
  double meanrank = 0;
  double dropped = 0;       // Frobenius norm of the 2-hop terms dropped (droppedNorms only)
  double flops = 0;
  int ncapped = 0;          // cells whose basis the rank cap stopped before the tolerance
  int nfarOnly = 0;         // (FillIn::Auto) my cells whose basis is from the far field alone
  bool corrected = false;   // the solve corrects for this level's dropped redundant couplings
};

struct UlvStatus {
  bool ok = true;
  bool usedLU = false;      // a level fell back to LU
  std::string message;      // what failed (non-SPD pivot, singular pivot)
};

template <typename T>
class UlvFactorization {
public:
  // Collective over comm.  The points are distributed by subtrees (Layout): this process holds
  // the tree positions [layout().pointBegin(), pointEnd()); dshift is given for those (local tree order).
  UlvFactorization(MPI_Comm comm, std::shared_ptr<const ClusterTree> tree, const EntryEvaluator &ev, const UlvOptions &opt, double alpha, const std::vector<double> &dshift);
  // new alpha and diagonal shift (local tree order), same tree and bases; collective.  spdKnown and
  // choleskyRequired replace the options' (a shift can make a matrix known SPD indefinite)
  void refactor(double alpha, const std::vector<double> &dshift, bool spdKnown, bool choleskyRequired);
  // x <- M^{-1} x (or M^{-T} x), k vectors in local tree order, leading dimension ldx; collective
  void solve(bool transpose, int k, T *x, int ldx) const;
  // The halves of the solve of a symmetric factorization with Cholesky pivots everywhere
  // (hasHalves()): M = F F^T, where F^{-1} is the forward sweeps (each level's orthogonal
  // transform, pivot L_i^{-1} and skeleton update) followed by the root's L_r^{-1}, and F^{-T} is the
  // root's L_r^{-T} followed by the backward sweeps; solve() is their composition.  The half space
  // holds the eliminated unknowns: this process' halfSize() of them are [for l = L .. top+1: the p_i
  // of my cells i, ascending] [my rows of the root block], and halfIndex() numbers them in one global
  // order that does not depend on the number of processes (levels from the leaves, cells, root last).
  // forward: h (halfSize() x k, ld ldh) <- F^{-1} x (x: my points in tree order, as solve());
  // backward: x <- F^{-T} h.  Collective.  When -M was factorized (negated()), -M = F F^T and the
  // backward half carries the sign: x <- -F^{-T} h, so that F^{-1} M (-F^{-T}) is SPD.
  bool hasHalves() const { return opt_.basis.symmetric && opt_.cholesky && status_.ok && !status_.usedLU && (rootChol_ || rootN_ == 0); }
  int halfSize() const;
  std::vector<int> halfIndex() const;
  void halfSolve(bool backward, int k, T *x, int ldx, T *h, int ldh) const;
  const Layout &layout() const { return *lay_; }
  const UlvCommStats &commStats() const { return comm_stats_; }
  const UlvStatus &status() const { return status_; }
  double logAbsDet() const { return logdet_; }
  int detSign() const { return sign_m_ < 0 && tree_->size() % 2 ? -sign_ : sign_; }
  // inertia of the factored (symmetric) matrix: counts of negative, zero and positive eigenvalues,
  // summed over the pivot blocks and the root (Sylvester's law: the factorization is a congruence)
  bool hasInertia() const { return opt_.basis.symmetric && status_.ok; }
  void inertia(long &neg, long &zero, long &pos) const
  {
    neg = inertia_[sign_m_ < 0 ? 2 : 0], zero = inertia_[1], pos = inertia_[sign_m_ < 0 ? 0 : 2];
  }
  bool negated() const { return sign_m_ < 0; } // -M was factorized (M is negative definite or near it)
  const std::vector<UlvLevelStats> &levelStats() const { return stats_; }
  size_t bytes() const;
  // bytes by kind: the factors (levels and root), the bases (structure), the kernel blocks kept
  // for refactorizations (leaf near blocks, couplings)
  void bytesSplit(size_t &factors, size_t &bases, size_t &kernel) const;
  double factorFlops() const;
  int rootSize() const { return rootN_; }
  int rootLevel() const { return top_; } // the cells of this level form the dense root block
  bool rootForCap() const { return rootForCap_; } // ... chosen there because the bases would have reached the rank cap
  const H2Structure &structure() const { return *S_; }
  double timeBasis() const { return tbasis_; }
  double cpuBasis() const { return cbasis_; } // CPU time of the process (every thread) in the bases
  const Backend<T> &backend() const { return *be_; }
  const std::string &backendNote() const { return backendNote_; } // why a requested device backend is not used
  double timeFactor() const { return tfactor_; }
  double cpuFactor() const { return cfactor_; } // ... and in the factorization

private:
  struct Level; // per-level factors, in backend memory
  void leafBlocks();                 // A^(L) = alpha K_near + diag(d) (rows of my leaves)
  std::vector<Matrix<double>> levelBlocks(int l, const std::vector<int> &n) const; // my rows' blocks, unfilled, in one region
  std::vector<Matrix<double>> leafLevel() const; // ... of the leaf level
  void chooseSign();                 // sign_m_ from the diagonal of M (collective)
  void negateRows(int k, T *x, int ldx) const;
  void ghostRows(int l);             // neighbours' rows of A^(l) (their diagonal blocks; whole rows when nonsymmetric)
  int blockSize(int l, int k) const; // n_k on level l (known on every process)
  void agreeStatus();                // the same status on every process
  std::string zeroPivot(const double *u, int n, bool cholesky, const std::string &what) const;
  std::string notSpd() const; // the message of a failed Cholesky pivot
  double zeroPivotAbs() const { return opt_.zeroPivot * pivotScale_; }
  void reduceScalars();              // log|det|, sign, inertia summed over the processes (rank order)
  template <typename SizeF, typename OffF>
  void exchange(const Exchange &x, Buffer<T> &buf, SizeF size, OffF off, bool solvePhase) const;
  template <typename F> // run the communication f inside its log event; count its time, bytes and messages
  void communicate(bool solvePhase, double bytes, long messages, F f) const;
  template <typename SizeF, typename OffF> // payloads that depend on the destination: size(c, d), off(c, d)
  void exchangeTo(const Exchange &x, Buffer<T> &buf, SizeF size, OffF off, bool solvePhase) const;
  void uploadA(int l);               // host A^(l) -> backend
  bool adoptBlocks(int l, const std::vector<size_t> &off, size_t total, Buffer<T> &buf); // buf over A_[l]'s region, where it can
  void factorLevel(int l, bool hostNext); // A^(l) -> factors of l, A^(l-1) (also on the host when hostNext)
  // the stages of factorLevel, in order, over one level's shared state (LevelWork, ulv_impl.hpp)
  struct LevelWork;
  void levelBases(LevelWork &lw);        // Q: [U U_perp] of my cells and my ghosts on the backend
  void levelCouplings(LevelWork &lw);    // the couplings of my rows: the far targets (ulv_generators.cpp)
  void transformNear(LevelWork &lw);     // 1. the near blocks transformed with [U U_perp]
  void crossPanels(LevelWork &lw);       // 1. (symmetric) other processes' transformed blocks in
  void pivotBlocks(LevelWork &lw);       // the pivot blocks D and panels B, C of the level's factors
  bool factorPivots(LevelWork &lw);      // 2. the pivots factored (false: failed, on some process)
  void pivotDeterminant(LevelWork &lw);  // 2. log |det|, sign, inertia
  void panelSolves(LevelWork &lw);       // 3. L^{-1} B (Cholesky) or D^{-1} B (LU) of my rows, the ghosts' in
  void schurComplements(LevelWork &lw);  // 4. the Schur complements (the upper targets when symmetric)
  void lowerTargets(LevelWork &lw);      // 4. (symmetric) the lower targets, by transposition
  void droppedTerms(LevelWork &lw);      // the norm of the Schur terms outside the pattern
  void mergeToParent(LevelWork &lw, bool hostNext); // 5. the skeleton blocks merged into A^(l-1)
  void factorRoot();
  void rootCouplings(const std::vector<int> &off, int rb, int re); // my rows of the root's far part (KrootFar_)
  enum class Sweep { Full, Forward, Backward }; // solve(), or one of its halves (halfSolve)
  void sweep(Sweep part, bool transpose, int k, T *x, int ldx, T *h, int ldh) const;
  // the passes of sweep, over one sweep's shared state (ulv_solve.cpp)
  struct SweepWork;
  void sweepForward(SweepWork &w, int l) const;                  // forward over level l
  void sweepHalfIn(SweepWork &w, const T *half, int ldhalf) const; // (Backward) z from the half space
  void sweepRoot(SweepWork &w, const T *half, int ldhalf) const;   // the root's solve
  void sweepHalfOut(SweepWork &w, T *half, int ldhalf) const;      // (Forward) the half space out
  void sweepBackward(SweepWork &w, int l) const;                 // backward over level l
  void sweepOut(SweepWork &w, T *x, int ldx) const;              // the solution to x
  bool crossCorrected() const { return opt_.crossCorrection && nprocs_ == 1; } // the E blocks kept and used
  // y_i <- y_i - (D_i^{-1} or L_i^{-1}) sum_{k near i, k != i} E_ik x_k over my cells (ld of y: ldy(i))
  template <typename YF, typename LdF>
  void crossSubtract(int l, bool tr, int k, const Buffer<T> &x, const std::vector<size_t> &xoff, YF y, LdF ldy, bool lowerOnly) const;
  int halfOffsets(std::vector<std::vector<int>> &off, int &rootRow, int &rootRows) const; // my half space's layout
  Matrix<double> generators(int l, int i, const std::vector<int> &cand, bool row);
  bool generatorGram(int l, int i, const std::vector<int> &cand, bool row, Matrix<double> &E); // the same as X X^T
  void generatorBlock(int l, int i, int p, int k, int n, bool row, Matrix<double> &Z) const; // one neighbour's, transposed
  double generatorScale(int l, int i, double fx) const;
  double dominance(int l, int i) const; // the diagonal dominance margin of A_ii on level l (0: none)
  bool farOnlyCell(int l, int i) const; // (FillIn::Auto) does my cell i of level l take far-field bases?
  bool chooseFarOnly(int l);            // (FillIn::Auto) farOnly_ for my cells of level l; false: all far-only
  std::vector<char> farOnly_;           // (FillIn::Auto) cells of the level being built whose bases skip the generators
  std::vector<char> crossLevel_;        // levels whose factors keep the E blocks for the solve's correction
  std::vector<char> leafFarOnly_;       // farOnly_ of the leaf level (checked again by refactor())
  bool crossAt(int l) const             // fillin none, or auto with far-only cells on level l
  {
    return crossCorrected() && (opt_.fillin == FillIn::None || (l < static_cast<int>(crossLevel_.size()) && crossLevel_[l]));
  }
  Matrix<double> nearSample(int l, int i, const std::vector<int> &cand, bool row);

  std::unique_ptr<Backend<T>> be_;   // first: the buffers below are released through it
  std::string backendNote_;
  MPI_Comm comm_;
  int nprocs_ = 1;
  std::shared_ptr<const ClusterTree> tree_;
  std::unique_ptr<Layout> lay_;
  std::vector<std::unique_ptr<Exchange>> nearX_; // per level: near neighbours' cells (ghosts)
  std::vector<std::unique_ptr<Exchange>> aboveX_; // per level, symmetric: the ghosts above my cells (their bases)
  std::vector<std::vector<int>> ghost_;          // per level: the ghost cells, ascending
  mutable UlvCommStats comm_stats_;
  const EntryEvaluator *ev_;
  UlvOptions opt_;
  double alpha_ = 1.0;
  std::vector<double> dshift_;
  // -1 when M is symmetric with a negative diagonal: -M is factorized instead (Cholesky can then
  // succeed where M itself would need LU: a negative definite M); solve(), the halves, the
  // determinant's sign and the inertia are turned back to M's
  double sign_m_ = 1.0;
  double scale() const { return sign_m_ * alpha_; } // the kernel's factor in the factorized matrix
  std::shared_ptr<H2Structure> structure_;
  const H2Structure *S_ = nullptr; // the structure, also while it is being built
  std::vector<Matrix<double>> Knear_;               // leaf near blocks of K (unscaled), full storage
  std::vector<std::vector<Matrix<double>>> Kfar_;   // couplings of K per level (unscaled)
  bool keepKernel_ = false;                         // Knear_ and Kfar_ kept (from the first refactorization on; else evaluated by each)
  std::vector<std::vector<Matrix<double>>> A_;      // level matrices A^(l) (near blocks) on the host, when needed
  Buffer<T> Acur_;                                  // the level matrix being factorized, in backend memory
  std::vector<size_t> Aoff_;                        // (near pair q: n_i x n_j, ld n_i, at Aoff_[q])
  std::vector<Matrix<double>> selfLU_;              // LU of the diagonal blocks A^(l)_kk of the level being built
  std::vector<Matrix<double>> selfInv_;             // their inverses (Gram generators: one GEMM per neighbour; empty: use the LU)
  std::vector<std::vector<int>> selfPiv_;           // (for the fill-in generators); info > 0: empty
  std::vector<Matrix<double>> selfW_, selfWt_;      // sketch: A_kk^{-1} Omega_k and A_kk^{-T} Omega_k (nonsymmetric)
  void factorSelfBlocks(int l);
  std::vector<std::unique_ptr<Level>> levels_;
  int top_ = 0;                        // level of the dense root (0: the tree's root)
  bool rootForCap_ = false;            // top_ chosen by UlvOptions::maxRootCapped
  Matrix<double> KrootFar_;            // root: my rows of the unscaled kernel couplings between non-near cells of level top_+1
  int rootN_ = 0;
  std::shared_ptr<double> batchFlops_ = std::make_shared<double>(0.0); // flops of every batch run on be_ so far
  double rootFlops_ = 0;               // of the root's factorization (the levels': stats_[l].flops)
  Buffer<T> root_;                     // the factored root block (backend memory)
  IntBuffer rootPiv_;
  bool rootChol_ = false;
  double pivotScale_ = 0;              // max |A_ii| over the matrix (the zero-pivot test's scale)
  double logdet_ = 0;
  int sign_ = 1;
  long inertia_[3] = {0, 0, 0};
  UlvStatus status_;
  std::vector<UlvLevelStats> stats_;
  double tbasis_ = 0, tfactor_ = 0, cbasis_ = 0, cfactor_ = 0; // wall and CPU seconds
public:
  ~UlvFactorization();
};

extern template class UlvFactorization<double>;
extern template class UlvFactorization<float>;

} // namespace h2ulv
