/*
   PCSetUp of PCH2ULV: which MATH2 is factored (the Pmat, or a dense Pmat compressed with its
   points), on which cluster tree, with which options; the factorization itself, or a
   refactorization with the same tree and bases after the values changed (MatShift ...).  The
   numerical work is in src/core/ulv*.cpp.
*/
#include "pch2ulvimpl.h"

#include <algorithm>
#include <type_traits>

namespace {

/* the precision-neutral handle over UlvFactorization<T> */
template <typename T>
class Factorization final : public PCH2ULVFactorization {
public:
  Factorization(MPI_Comm comm, std::shared_ptr<const h2ulv::ClusterTree> tree, const h2ulv::EntryEvaluator &ev, const h2ulv::UlvOptions &o, double alpha, const std::vector<double> &dshift) : f_(comm, std::move(tree), ev, o, alpha, dshift) { }
  void refactor(double alpha, const std::vector<double> &dshift, bool spdKnown, bool choleskyRequired) override { f_.refactor(alpha, dshift, spdKnown, choleskyRequired); }
  void solve(bool transpose, int k, PetscScalar *t, int nt) const override
  {
    if constexpr (std::is_same_v<T, PetscScalar>) f_.solve(transpose, k, t, std::max(nt, 1));
    else {
      std::vector<T> tt(t, t + (size_t)nt * k);
      f_.solve(transpose, k, tt.data(), std::max(nt, 1));
      std::copy(tt.begin(), tt.end(), t);
    }
  }
  void halfSolve(bool backward, int k, PetscScalar *t, int nt, PetscScalar *h, int nh) const override
  {
    if constexpr (std::is_same_v<T, PetscScalar>) f_.halfSolve(backward, k, t, std::max(nt, 1), h, std::max(nh, 1));
    else {
      std::vector<T> tt(t, t + (size_t)nt * k), hh(h, h + (size_t)nh * k);
      f_.halfSolve(backward, k, tt.data(), std::max(nt, 1), hh.data(), std::max(nh, 1));
      std::copy(tt.begin(), tt.end(), t);
      std::copy(hh.begin(), hh.end(), h);
    }
  }
  bool                                     hasHalves() const override { return f_.hasHalves(); }
  std::vector<int>                         halfIndex() const override { return f_.halfIndex(); }
  const h2ulv::Layout                     &layout() const override { return f_.layout(); }
  const h2ulv::UlvStatus                  &status() const override { return f_.status(); }
  const h2ulv::UlvCommStats               &commStats() const override { return f_.commStats(); }
  const std::vector<h2ulv::UlvLevelStats> &levelStats() const override { return f_.levelStats(); }
  double                                   logAbsDet() const override { return f_.logAbsDet(); }
  int                                      detSign() const override { return f_.detSign(); }
  bool                                     hasInertia() const override { return f_.hasInertia(); }
  bool                                     negated() const override { return f_.negated(); }
  void   inertia(long &neg, long &zero, long &pos) const override { f_.inertia(neg, zero, pos); }
  size_t bytes() const override { return f_.bytes(); }
  void   bytesSplit(size_t &factors, size_t &bases, size_t &kernel) const override { f_.bytesSplit(factors, bases, kernel); }
  double factorFlops() const override { return f_.factorFlops(); }
  double timeBasis() const override { return f_.timeBasis(); }
  double timeFactor() const override { return f_.timeFactor(); }
  double cpuBasis() const override { return f_.cpuBasis(); }
  double cpuFactor() const override { return f_.cpuFactor(); }
  int    rootSize() const override { return f_.rootSize(); }
  int    rootLevel() const override { return f_.rootLevel(); }
  bool   rootForCap() const override { return f_.rootForCap(); }
  h2ulv::BackendKind backendKind() const override { return f_.backend().kind(); }
  std::string        backendDescription() const override { return f_.backend().describe(); }
  const std::string &backendNote() const override { return f_.backendNote(); }

private:
  h2ulv::UlvFactorization<T> f_;
};

} // namespace

std::unique_ptr<PCH2ULVFactorization> PCH2ULVFactorizationCreate(PCH2ULVPrecision prec, MPI_Comm comm, std::shared_ptr<const h2ulv::ClusterTree> tree, const h2ulv::EntryEvaluator &ev, const h2ulv::UlvOptions &o, double alpha, const std::vector<double> &dshift)
{
  if (prec == PCH2ULV_PRECISION_SINGLE) return std::make_unique<Factorization<float>>(comm, std::move(tree), ev, o, alpha, dshift);
  return std::make_unique<Factorization<double>>(comm, std::move(tree), ev, o, alpha, dshift);
}

/* the MATH2 to factor: the Pmat itself, or a dense Pmat compressed with the PCSetCoordinates points */
static PetscErrorCode PCH2ULVGetH2_Private(PC pc, Mat *h2)
{
  PC_H2ULV *p = PCH2ULVData(pc);
  Mat       P = pc->pmat;
  PetscBool ish2, isdense;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)P, MATH2, &ish2));
  if (ish2) {
    PetscCall(PetscObjectReference((PetscObject)P));
    *h2 = P;
    PetscFunctionReturn(0);
  }
  PetscCall(PetscObjectTypeCompareAny((PetscObject)P, &isdense, MATSEQDENSE, MATMPIDENSE, MATDENSE, ""));
  PetscCheck(isdense, PetscObjectComm((PetscObject)pc), PETSC_ERR_SUP, "PCH2ULV factors a MATH2 preconditioning matrix, or a dense one whose points are given with PCSetCoordinates(); got a matrix of type %s", ((PetscObject)P)->type_name);
  Vec cvec = NULL; /* points attached to the dense matrix itself with MatH2SetCoordinates() */
  PetscCall(PetscObjectQuery((PetscObject)P, "MatH2Coordinates", (PetscObject *)&cvec));
  { /* where the points come from, the same on every process */
    const H2ULVParam src[] = {{"the dimension of PCSetCoordinates() (0: not called)", (double)p->cdim}, {"MatH2SetCoordinates() on the dense matrix (1: called)", cvec ? 1.0 : 0.0}};
    PetscCall(H2ULVCheckSame_Private(PetscObjectComm((PetscObject)pc), "PCH2ULV", 2, src));
  }
  if (p->cdim == 0) { /* the points attached to the matrix, or none: the tree from the entries (-mat_h2_geometry) */
    if (!cvec) PetscCall(PetscInfo(pc, "PCH2ULV: a dense preconditioning matrix without points: its cluster tree is built from the entries alone\n"));
    PetscCall(MatConvert(P, MATH2, MAT_INITIAL_MATRIX, h2));
    PetscFunctionReturn(0);
  }
  { /* the number of points on every process, checked together (no process left waiting) */
    PetscMPIInt rank, first;
    const bool  bad = (PetscInt)p->coords.size() != P->rmap->n * p->cdim;
    PetscCallMPI(MPI_Comm_rank(PetscObjectComm((PetscObject)pc), &rank));
    PetscMPIInt mine = bad ? rank : PETSC_MPI_INT_MAX;
    PetscCallMPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, PetscObjectComm((PetscObject)pc)));
    PetscCheck(!bad, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "PCSetCoordinates() gave %" PetscInt_FMT " points but the matrix has %" PetscInt_FMT " local rows on this process", (PetscInt)p->coords.size() / p->cdim, P->rmap->n);
    PetscCheck(first == PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "PCSetCoordinates() gave a number of points different from the local rows of the matrix on rank %d", first);
  }
  PetscCall(MatH2SetCoordinates(P, p->cdim, p->coords.data()));
  PetscCall(MatConvert(P, MATH2, MAT_INITIAL_MATRIX, h2));
  PetscFunctionReturn(0);
}

/* the factorization holds at least its leaf near blocks (a share of them on each process):
   refuse up front when they cannot fit */
static PetscErrorCode PCH2ULVCheckMemory_Private(PC pc, const h2ulv::ClusterTree &T)
{
  PC_H2ULV   *p = PCH2ULVData(pc);
  const int   L = T.levels();
  const auto &N = T.nearList(L);
  double      entries = 0;
  PetscMPIInt size;
  char        what[160];

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)pc), &size));
  for (int i = 0; i < T.ncells(L); i++)
    for (int q = N.ptr[i]; q < N.ptr[i + 1]; q++) entries += (double)T.cell(L, i).size() * (double)T.cell(L, N.col[q]).size();
  const double bytes = entries / size * (p->precision == PCH2ULV_PRECISION_SINGLE ? 4.0 : 8.0);
  PetscCall(PetscInfo(pc, "PCH2ULV: the leaf near blocks take %.4g MB per process (a lower bound of the factorization's memory)\n", bytes / 1048576.0));
  PetscCall(PetscSNPrintf(what, sizeof(what), "The H2-ULV factorization of %d unknowns (its leaf near blocks alone)", T.size()));
  PetscCall(H2ULVCheckMemory_Private(PetscObjectComm((PetscObject)pc), bytes, what, "use more processes or nodes, -pc_h2ulv_precision single, or a smaller leaf size (-mat_h2_leaf_size)"));
  PetscFunctionReturn(0);
}

/* the options that shape the factorization must be the same on every process */
static PetscErrorCode PCH2ULVCheckSame_Private(PC pc)
{
  PC_H2ULV        *p   = PCH2ULVData(pc);
  const H2ULVParam o[] = {
    {"-pc_h2ulv_precision", (double)p->precision},
    {"-pc_h2ulv_factorization", (double)p->ftype},
    {"-pc_h2ulv_rtol", p->rtol},
    {"-pc_h2ulv_rtol given (1) or chosen by use (0)", (double)p->rtolSet},
    {"-pc_h2ulv_krylov_rtol", p->krylovRtol},
    {"-pc_h2ulv_max_rank", (double)p->maxrank},
    {"-pc_h2ulv_samples", (double)p->nsamples},
    {"-pc_h2ulv_theta", p->theta},
    {"-pc_h2ulv_leaf_size", (double)p->leafsize},
    {"-pc_h2ulv_fillin", (double)p->fillin},
    {"-pc_h2ulv_fillin_weight", p->fillinWeight},
    {"-pc_h2ulv_fillin_sketch", p->fillinSketch},
    {"-pc_h2ulv_rtol_diagonal", (double)p->rtolDiagonal},
    {"-pc_h2ulv_schur", (double)p->schur},
    {"-pc_h2ulv_cross_correction", (double)p->cross},
    {"-pc_h2ulv_zeropivot", p->zeropivot},
    {"-pc_h2ulv_root_size", (double)p->maxroot},
    {"-pc_h2ulv_root_size_capped", (double)p->maxrootcapped},
    {"-pc_h2ulv_keep_kernel_mb", p->keepKernelMB},
    {"-pc_h2ulv_backend", (double)p->backend},
    {"-pc_h2ulv_tensor_cores", (double)p->tensor},
    {"-pc_h2ulv_dropped_norms", (double)p->dropped},
  };

  PetscFunctionBegin;
  PetscCall(H2ULVCheckSame_Private(PetscObjectComm((PetscObject)pc), "PCH2ULV", (PetscInt)(sizeof(o) / sizeof(o[0])), o));
  PetscFunctionReturn(0);
}

/* -log_view: the phases of the core, and (when logging) every batch as an event with its flops */
static PetscErrorCode PCH2ULVLogHooks_Private(PC_H2ULV *p, h2ulv::UlvOptions &o)
{
  PetscFunctionBegin;
  o.onEvent = [](h2ulv::UlvEvent e, bool begin) {
    const PetscLogEvent ev = e == h2ulv::UlvEvent::FactorComm ? PCH2ULV_FactComm : e == h2ulv::UlvEvent::SolveComm ? PCH2ULV_SolveComm : PCH2ULV_Root;
    if (begin) (void)PetscLogEventBegin(ev, 0, 0, 0, 0);
    else (void)PetscLogEventEnd(ev, 0, 0, 0, 0);
  };
  PetscCall(PetscLogIsActive(&p->batchLog));
  if (p->batchLog)
    o.onBatch = [](h2ulv::BatchOp op, bool begin, double flops) { /* a device backend waits for each batch */
      const PetscLogEvent ev = PCH2ULV_Batch[(int)op];
      if (begin) (void)PetscLogEventBegin(ev, 0, 0, 0, 0);
      else {
        (void)PetscLogFlops(flops);
        (void)PetscLogEventEnd(ev, 0, 0, 0, 0);
      }
    };
  PetscFunctionReturn(0);
}

/* a matrix known SPD (MAT_SPD, or a positive definite built-in kernel, unshifted): a pivot block that
   is not SPD is the compression's failure; LU would hide it (and give a log-determinant of the
   wrong sign), so automatic pivots stay Cholesky.  Known again at each refactorization. */
static void PCH2ULVPivotRule_Private(PC pc, const Mat_H2 *h, bool *spdKnown, bool *choleskyRequired)
{
  const PC_H2ULV *p = PCH2ULVData(pc);

  *spdKnown         = (bool)(h->symmetric && (pc->pmat->spd == PETSC_BOOL3_TRUE || MatH2KernelIsSPD_Private(h)));
  *choleskyRequired = p->ftype == PCH2ULV_FACTOR_CHOLESKY || (p->ftype == PCH2ULV_FACTOR_AUTO && *spdKnown);
}

/* the core's options of a new factorization of the MATH2 h with the tolerance rtol */
static PetscErrorCode PCH2ULVCoreOptions_Private(PC pc, const Mat_H2 *h, PetscReal rtol, h2ulv::UlvOptions &o)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  o.basis.rtol      = rtol;
  o.basis.maxrank   = (int)(p->maxrank > 0 ? p->maxrank : h->maxrank);
  o.basis.nsamples  = (int)(p->nsamples > 0 ? p->nsamples : MatH2AutoSamples_Private(o.basis.rtol));
  o.basis.symmetric = h->symmetric;
  o.fillin          = p->fillin == PCH2ULV_FILLIN_NONE ? h2ulv::FillIn::None : p->fillin == PCH2ULV_FILLIN_NEARFIELD ? h2ulv::FillIn::NearField : p->fillin == PCH2ULV_FILLIN_AUTO ? h2ulv::FillIn::Auto : h2ulv::FillIn::Generator;
  o.crossCorrection = p->cross;
  o.schur           = p->schur == PCH2ULV_SCHUR_DIAG ? h2ulv::SchurVariant::Diag : p->schur == PCH2ULV_SCHUR_NEAR1 ? h2ulv::SchurVariant::Near1 : h2ulv::SchurVariant::TwoHop;
  o.cholesky        = (PetscBool)(h->symmetric && p->ftype != PCH2ULV_FACTOR_LU);
  PCH2ULVPivotRule_Private(pc, h, &o.spdKnown, &o.choleskyRequired);
  PetscCheck(p->tensor == PCH2ULV_TENSOR_OFF || p->precision == PCH2ULV_PRECISION_SINGLE, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_INCOMP, "-pc_h2ulv_tensor_cores %s needs -pc_h2ulv_precision single (double-precision GEMMs run as they are)", p->tensor == PCH2ULV_TENSOR_PLAIN ? "plain" : "corrected");
  PetscCheck(p->tensor == PCH2ULV_TENSOR_OFF || p->backend != PCH2ULV_BACKEND_KOKKOS, PetscObjectComm((PetscObject)pc), PETSC_ERR_SUP, "-pc_h2ulv_tensor_cores is not supported by the kokkos backend: use -pc_h2ulv_backend cuda (or host, which emulates it)");
  o.zeroPivot        = p->zeropivot != PETSC_DEFAULT ? p->zeropivot : p->precision == PCH2ULV_PRECISION_SINGLE ? 1e-6 : 100 * PETSC_MACHINE_EPSILON;
  o.droppedNorms     = p->dropped;
  o.maxRoot          = (int)p->maxroot;
  o.maxRootCapped    = (int)p->maxrootcapped;
  o.fillinWeight     = p->fillinWeight;
  o.fillinSketch     = p->fillinSketch;
  o.rtolDiagonal     = p->rtolDiagonal ? true : false;
  o.keepKernelBytes  = (size_t)(p->keepKernelMB * 1048576.0);
  o.backend.kind     = p->backend == PCH2ULV_BACKEND_CUDA ? h2ulv::BackendKind::Cuda : p->backend == PCH2ULV_BACKEND_KOKKOS ? h2ulv::BackendKind::Kokkos : h2ulv::BackendKind::Host;
  o.backend.required = (bool)p->backendRequired;
  o.backend.tensor   = p->tensor == PCH2ULV_TENSOR_PLAIN ? h2ulv::TensorMode::Plain : p->tensor == PCH2ULV_TENSOR_CORRECTED ? h2ulv::TensorMode::Corrected : h2ulv::TensorMode::Off;
  PetscCall(PCH2ULVLogHooks_Private(p, o));
  if (p->monitor) {
    MPI_Comm       comm = PetscObjectComm((PetscObject)pc);
    PetscLogDouble t0;
    PetscCall(PetscTime(&t0));
    o.onLevel = [comm, t0](int l, int L, double) { H2ULVMonitorLevel_Private(comm, "PCH2ULV setup", l, L, t0); };
  }
  PetscFunctionReturn(0);
}

/* the factorization's cluster tree with admissibility theta: the matrix's, the matrix's cells with
   that admissibility, or (one process) its own tree over the same points with p->map into the
   matrix's order */
static PetscErrorCode PCH2ULVTreeFor_Private(PC pc, const Mat_H2 *h, PetscReal theta)
{
  PC_H2ULV       *p     = PCH2ULVData(pc);
  const PetscInt  leaf  = p->leafsize > 0 ? p->leafsize : h->leafsize;
  MPI_Comm        comm  = PetscObjectComm((PetscObject)pc);
  PetscMPIInt     size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  p->map.clear();
  if (!h->tree->geometric() && (theta != h->theta || leaf != h->leafsize)) PetscCall(PetscInfo(pc, "PCH2ULV: the matrix's cluster tree was built from its entries (no boxes): factored on it, -pc_h2ulv_theta and -pc_h2ulv_leaf_size do not apply\n"));
  if (!h->tree->geometric() || (h->adm == MATH2_ADMISSIBILITY_THETA && theta == h->theta && leaf == h->leafsize)) {
    p->tree      = h->tree;
    p->evaluator = h->evaluator;
  } else if (leaf == h->leafsize) { /* the matrix's cells (and distribution) with its own admissibility */
    PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() { p->tree = std::make_shared<h2ulv::ClusterTree>(*h->tree, h2ulv::Admissibility::Theta, theta); }));
    p->evaluator = h->evaluator;
  } else { /* its own tree over the same points (in the Pmat's tree order) */
    PetscCheck(size == 1, comm, PETSC_ERR_SUP, "PCH2ULV on several processes factors on the matrix's cluster tree: -pc_h2ulv_leaf_size %" PetscInt_FMT " differs from the matrix's leaf size %" PetscInt_FMT " (leave it at 0)", leaf, h->leafsize);
    h2ulv::TreeOptions topt;
    topt.leafsize = (int)leaf;
    topt.adm      = h2ulv::Admissibility::Theta;
    topt.admparam = theta;
    PetscCall(H2ULVCallCore(comm, PETSC_FALSE, [&]() {
      auto t       = std::make_shared<h2ulv::ClusterTree>(h->tree->dim(), h->tree->size(), h->tree->coords().data(), topt);
      p->map       = t->perm();
      p->tree      = t;
      p->evaluator = std::make_shared<h2ulv::PermutedEntries>(h->evaluator, p->map);
    }));
  }
  PetscFunctionReturn(0);
}

/* the matrix's diagonal shift, in the factorization's tree order */
static std::vector<double> PCH2ULVShiftInOrder_Private(const PC_H2ULV *p, const Mat_H2 *h)
{
  std::vector<double> d(h->dshift);
  if (!p->map.empty() && !d.empty())
    for (size_t t = 0; t < d.size(); t++) d[t] = h->dshift[p->map[t]];
  return d;
}

/* -pc_h2ulv_theta 0 (the default) on one process, with -pc_h2ulv_fillin auto and the solve's
   correction: the matrix's (wider) admissibility where the sampled leaves' block rows are dominated
   by their diagonal blocks, so that their bases come from the far field alone and a farther far
   field needs lower ranks (the near blocks it adds are dropped or corrected, not compressed); else
   1, fewer near blocks for the cells that take the fill-in generators (docs/algorithm.md) */
static PetscErrorCode PCH2ULVChooseTree_Private(PC pc, const Mat_H2 *h)
{
  PC_H2ULV       *p        = PCH2ULVData(pc);
  MPI_Comm        comm     = PetscObjectComm((PetscObject)pc);
  const PetscReal narrow   = 1, wide = h->theta;
  const PetscInt  nsampled = 16;
  PetscMPIInt     size;

  PetscFunctionBegin;
  p->thetaRatio = -1;
  if (p->theta != 0) {
    p->thetaUsed = p->theta < 0 ? h->theta : p->theta;
    PetscCall(PCH2ULVTreeFor_Private(pc, h, p->thetaUsed));
    PetscFunctionReturn(0);
  }
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (size == 1 && p->cross && p->fillin == PCH2ULV_FILLIN_AUTO && h->tree->geometric() && h->adm == MATH2_ADMISSIBILITY_THETA && wide > narrow) {
    double r = 0;
    PetscCall(PCH2ULVTreeFor_Private(pc, h, wide));
    const std::vector<double> d = PCH2ULVShiftInOrder_Private(p, h);
    PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() { r = h2ulv::sampledLeafFarOnlyRatio(*p->tree, *p->evaluator, PetscRealPart(h->alpha), d, (int)nsampled); }));
    p->thetaRatio = r;
    PetscCall(PetscInfo(pc, "PCH2ULV: -pc_h2ulv_theta 0: on %d sampled leaves at theta %g, sum_k ||A_ik||_F / margin(A_ii) <= %g (%s %g): theta %g\n", (int)PetscMin(nsampled, (PetscInt)p->tree->ncells(p->tree->levels())), (double)wide, r,
                          r <= h2ulv::kFarOnlyRatio ? "at most" : "above", h2ulv::kFarOnlyRatio, (double)(r <= h2ulv::kFarOnlyRatio ? wide : narrow)));
    if (r <= h2ulv::kFarOnlyRatio) {
      p->thetaUsed = wide;
      PetscFunctionReturn(0);
    }
  }
  p->thetaUsed = narrow;
  PetscCall(PCH2ULVTreeFor_Private(pc, h, narrow));
  PetscFunctionReturn(0);
}

/* PetscInfo of what the factorization chose or met; a failure sets pc->failedreason */
static PetscErrorCode PCH2ULVReport_Private(PC pc)
{
  const PCH2ULVFactorization &f    = *PCH2ULVData(pc)->fact;
  const h2ulv::UlvStatus     &st   = f.status();
  const std::string          &note = f.backendNote();
  int                         ncap = 0;

  PetscFunctionBegin;
  if (!note.empty()) { /* a device backend was asked for but is not usable: say so once per process */
    static bool said = false;
    PetscCall(PetscInfo(pc, "PCH2ULV: %s\n", note.c_str()));
    if (!said) PetscCall(PetscFPrintf(PETSC_COMM_SELF, PETSC_STDERR, "PCH2ULV: %s (-pc_h2ulv_backend_required to make this an error)\n", note.c_str()));
    said = true;
  }
  for (const auto &ls : f.levelStats()) ncap += ls.ncapped;
  if (ncap) PetscCall(PetscInfo(pc, "PCH2ULV: %d cell(s) reached the rank cap before the tolerance: the factorization is less accurate than its rtol there (raise -pc_h2ulv_max_rank)\n", ncap));
  if (f.rootForCap()) PetscCall(PetscInfo(pc, "PCH2ULV: the bases of level %d would have reached the rank cap: levels 0..%d factored as one dense block of %d (-pc_h2ulv_root_size_capped)\n", f.rootLevel(), f.rootLevel(), f.rootSize()));
  if (f.negated()) PetscCall(PetscInfo(pc, "PCH2ULV: the matrix is symmetric with a negative diagonal: its negative is factorized (Cholesky where it is positive definite)\n"));
  if (st.usedLU) PetscCall(PetscInfo(pc, "PCH2ULV: a pivot block was not positive definite: LU used there instead of Cholesky\n"));
  if (!st.ok) {
    PetscCall(PetscInfo(pc, "PCH2ULV: factorization failed: %s\n", st.message.c_str()));
    pc->failedreason = PC_FACTOR_NUMERIC_ZEROPIVOT;
  }
  PetscFunctionReturn(0);
}

/* a new factorization of the MATH2 h with the tolerance rtol: tree, options, then the core */
static PetscErrorCode PCH2ULVFactor_Private(PC pc, const Mat_H2 *h, PetscReal rtol)
{
  PC_H2ULV         *p    = PCH2ULVData(pc);
  MPI_Comm          comm = PetscObjectComm((PetscObject)pc);
  h2ulv::UlvOptions o;

  PetscFunctionBegin;
  p->fact.reset();
  PetscCall(PCH2ULVCoreOptions_Private(pc, h, rtol, o));
  p->srctree = h->tree;
  p->srcev   = h->evaluator;
  PetscCall(PCH2ULVChooseTree_Private(pc, h));
  PetscCall(PCH2ULVCheckMemory_Private(pc, *p->tree));
  const std::vector<double> dshift = PCH2ULVShiftInOrder_Private(p, h);
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() { p->fact = PCH2ULVFactorizationCreate(p->precision, comm, p->tree, *p->evaluator, o, PetscRealPart(h->alpha), dshift); }));
  PetscFunctionReturn(0);
}

/* the tolerance of a factorization for this use: the one given (0: the matrix's), the matrix's for a
   direct solve, -pc_h2ulv_krylov_rtol (never tighter than the matrix's) inside a Krylov method */
static PetscReal PCH2ULVRtolFor_Private(const PC_H2ULV *p, const Mat_H2 *h, PCH2ULVUse use)
{
  if (use == PCH2ULV_USE_GIVEN) return p->rtol > 0 ? p->rtol : h->rtol;
  if (use == PCH2ULV_USE_KRYLOV) return PetscMax(p->krylovRtol, h->rtol);
  return h->rtol;
}

/* the setup itself: the MATH2 to factor, then a new factorization or a refactorization with the same
   tree, bases and tolerance (the values changed: MatShift ...) */
PetscErrorCode PCH2ULVSetUpFor_Private(PC pc, PCH2ULVUse use)
{
  PC_H2ULV        *p       = PCH2ULVData(pc);
  const PetscBool  pending = p->pending;
  Mat_H2          *h;
  PetscLogDouble   t0, t1;

  PetscFunctionBegin;
  p->pending = PETSC_FALSE;
  if (pending) PetscCall(PetscLogEventBegin(PC_SetUp, pc, 0, 0, 0)); /* -log_view: a deferred setup still under PCSetUp */
  PetscCall(PetscLogEventBegin(PCH2ULV_Setup, pc, 0, 0, 0));
  PetscCall(PetscTime(&t0));
  PetscCall(MatH2GetStructure_Private(p->h2, &h));
  PetscCall(PCH2ULVResetHalves_Private(pc));
  const PetscReal rtol  = PCH2ULVRtolFor_Private(p, h, use);
  const PetscBool reuse = (PetscBool)(p->srctree && p->srctree == h->tree && p->srcev == h->evaluator && p->fact && p->usedRtol == rtol);
  pc->failedreason      = PC_NOERROR;
  PetscCall(PetscInfo(pc, "PCH2ULV: tolerance %g (%s)\n", (double)rtol, use == PCH2ULV_USE_GIVEN ? "-pc_h2ulv_rtol" : use == PCH2ULV_USE_KRYLOV ? "inside a Krylov method: -pc_h2ulv_krylov_rtol" : "a direct solve: the matrix's -mat_h2_rtol"));
  if (reuse) {
    const std::vector<double> dshift = PCH2ULVShiftInOrder_Private(p, h);
    PetscCall(PetscInfo(pc, "PCH2ULV: refactorizing alpha K + diag(d) with the same tree and bases\n"));
    bool                      spd, chol;
    PCH2ULVPivotRule_Private(pc, h, &spd, &chol);
    PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)pc), PETSC_TRUE, [&]() { p->fact->refactor(PetscRealPart(h->alpha), dshift, spd, chol); }));
    p->nrefactor++;
  } else PetscCall(PCH2ULVFactor_Private(pc, h, rtol));
  p->use      = use;
  p->usedRtol = rtol;
  PetscCall(PCH2ULVReport_Private(pc));
  PetscCall(PetscTime(&t1));
  p->t_setup = t1 - t0;
  if (!reuse) p->t_first = p->t_setup;
  p->nsetups++;
  /* a factorization made under -log_view has logged its flops batch by batch (PCH2ULVBat* events) */
  if (!p->batchLog) PetscCall(PetscLogFlops(p->fact->factorFlops()));
  PetscCall(PetscLogEventEnd(PCH2ULV_Setup, pc, 0, 0, 0));
  if (pending) PetscCall(PetscLogEventEnd(PC_SetUp, pc, 0, 0, 0));
  PetscCall(PCH2ULVLogDetSetUp_Private(pc, p->ldView, p->ldProbes));
  PetscFunctionReturn(0);
}

/* Without a given tolerance the factorization waits for its use, which PCSetUp does not know: the
   first of PCPreSolve (KSPSolve, with the KSP), an apply, log-det or inertia makes it.  Given a
   tolerance, or as MatSolverType h2ulv (always a direct solve), it is made here. */
PetscErrorCode PCSetUp_H2ULV(PC pc)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  PetscCheck(pc->pmat->rmap->N > 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_SIZ, "PCH2ULV: the system has size 0");
  PetscCall(PCH2ULVCheckSame_Private(pc));
  { /* the MATH2 to factor (built here: a dense Pmat is compressed, a MATH2 declared symmetric late is rebuilt) */
    Mat     h2;
    Mat_H2 *h;
    PetscCall(PCH2ULVGetH2_Private(pc, &h2));
    PetscCall(MatDestroy(&p->h2));
    p->h2 = h2; /* the PC's reference from here on, so that an error below does not leak it */
    PetscCall(MatH2GetStructure_Private(h2, &h));
    PetscCheck(!(p->ftype == PCH2ULV_FACTOR_CHOLESKY && !h->symmetric), PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_INCOMP, "-pc_h2ulv_factorization cholesky needs a symmetric matrix (MAT_SYMMETRIC, or a built-in kernel)");
  }
  if (!p->rtolSet && !p->inFactor) {
    PetscCall(PetscInfo(pc, "PCH2ULV: no -pc_h2ulv_rtol: the factorization waits for its first use (inside a Krylov method: -pc_h2ulv_krylov_rtol; a direct solve: the matrix's tolerance)\n"));
    pc->failedreason = PC_NOERROR;
    p->pending       = PETSC_TRUE;
    PetscFunctionReturn(0);
  }
  PetscCall(PCH2ULVSetUpFor_Private(pc, p->rtolSet ? PCH2ULV_USE_GIVEN : PCH2ULV_USE_DIRECT));
  PetscFunctionReturn(0);
}

/* KSPSolve's hook, after KSPSetUp: the deferred factorization, for a direct solve (KSPPREONLY, or at
   most one iteration) or for a Krylov method */
PetscErrorCode PCPreSolve_H2ULV(PC pc, KSP ksp, Vec b, Vec x)
{
  PetscBool preonly;
  PetscInt  maxits;

  PetscFunctionBegin;
  (void)b, (void)x;
  if (!PCH2ULVData(pc)->pending) PetscFunctionReturn(0);
  PetscCall(PetscObjectTypeCompare((PetscObject)ksp, KSPPREONLY, &preonly));
  PetscCall(KSPGetTolerances(ksp, NULL, NULL, NULL, &maxits));
  PetscCall(PCH2ULVSetUpFor_Private(pc, preonly || maxits <= 1 ? PCH2ULV_USE_DIRECT : PCH2ULV_USE_KRYLOV));
  PetscFunctionReturn(0);
}

PetscErrorCode PCH2ULVSetUpDirect_Private(PC pc, PetscBool tight)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  if (p->pending) PetscCall(PCH2ULVSetUpFor_Private(pc, PCH2ULV_USE_DIRECT));
  else if (tight && p->fact && p->use == PCH2ULV_USE_KRYLOV) {
    PetscCall(PetscInfo(pc, "PCH2ULV: the factorization was made for a Krylov method (tolerance %g): factored again with the matrix's tolerance for a direct result\n", (double)p->usedRtol));
    PetscCall(PCH2ULVSetUpFor_Private(pc, PCH2ULV_USE_DIRECT));
  }
  PetscFunctionReturn(0);
}
