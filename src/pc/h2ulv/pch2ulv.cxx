/*
   PCH2ULV ("h2ulv"): the fill-in-aware H^2-ULV factorization (Ma, Deshmukh & Yokota, SC22; Ma &
   Yokota, IJHPCA 2024) as a PETSc preconditioner or direct solver.  The numerical work is in
   src/core/ulv.cpp; this file is the PETSc layer: options, reuse decisions, orderings, views.
*/
#include <petsc/private/pcimpl.h>
#include "mat/h2ulv/math2impl.h"
#include "core/ulv.hpp"

PetscLogEvent PCH2ULV_Setup = 0, PCH2ULV_Solve = 0, PCH2ULV_FactComm = 0, PCH2ULV_SolveComm = 0, PCH2ULV_Root = 0;
/* one event per kind of batched dense operation (h2ulv::BatchOp order), logged only under -log_view */
static PetscLogEvent PCH2ULV_Batch[6];

typedef enum {
  PCH2ULV_FACTOR_AUTO,
  PCH2ULV_FACTOR_CHOLESKY,
  PCH2ULV_FACTOR_LU
} PCH2ULVFactorType;
static const char *const PCH2ULVFactorTypes[] = {"auto", "cholesky", "lu", "PCH2ULVFactorType", "PCH2ULV_FACTOR_", NULL};
typedef enum {
  PCH2ULV_FILLIN_NONE,
  PCH2ULV_FILLIN_NEARFIELD,
  PCH2ULV_FILLIN_GENERATOR
} PCH2ULVFillIn;
static const char *const PCH2ULVFillIns[] = {"none", "nearfield", "generator", "PCH2ULVFillIn", "PCH2ULV_FILLIN_", NULL};
typedef enum {
  PCH2ULV_SCHUR_DIAG,
  PCH2ULV_SCHUR_NEAR1,
  PCH2ULV_SCHUR_TWOHOP
} PCH2ULVSchur;
static const char *const PCH2ULVSchurs[] = {"diag", "near1", "twohop", "PCH2ULVSchur", "PCH2ULV_SCHUR_", NULL};
typedef enum {
  PCH2ULV_PRECISION_DOUBLE,
  PCH2ULV_PRECISION_SINGLE
} PCH2ULVPrecision;
static const char *const PCH2ULVPrecisions[] = {"double", "single", "PCH2ULVPrecision", "PCH2ULV_PRECISION_", NULL};

static const char *const PCH2ULVBackendTypes[] = {"host", "cuda", "kokkos", "PCH2ULVBackendType", "PCH2ULV_BACKEND_", NULL};

struct PC_H2ULV {
  /* options */
  PetscReal         rtol      = 0; /* 0: the Pmat's tolerance */
  PetscReal         theta     = 1; /* admissibility of the factorization's own tree (<0: the Pmat's tree) */
  PetscInt          leafsize  = 0; /* 0: the Pmat's */
  PetscInt          maxrank   = 0; /* 0: the Pmat's cap */
  PetscInt          nsamples  = 0;
  PCH2ULVFactorType ftype     = PCH2ULV_FACTOR_AUTO;
  PCH2ULVFillIn     fillin    = PCH2ULV_FILLIN_GENERATOR;
  PetscReal         keepKernelMB = 2048; /* keep K's near blocks and couplings for refactorizations up to about this */
  PetscReal         fillinWeight = 0.01; /* generator columns scaled to this times ||A_ii||_F (measured: bench/run.py fillin-weight runs) */
  PetscReal         fillinSketch = 0;    /* > 0: a Gaussian sketch of each cell's generators, this times its block size columns */
  PCH2ULVSchur      schur     = PCH2ULV_SCHUR_TWOHOP;
  PCH2ULVPrecision  precision = PCH2ULV_PRECISION_DOUBLE;
  PetscBool         dropped   = PETSC_FALSE;
  PetscInt          maxroot   = 4096; /* dense top block: levels whose skeletons add up to at most this */
  PetscInt          maxrootcapped = 0; /* ... or at most this, where the next level's bases would reach the rank cap (0: never) */
  PCH2ULVBackendType backend  = PCH2ULV_BACKEND_HOST; /* where the batched dense operations run */
  PetscBool         backendRequired = PETSC_FALSE;   /* error instead of falling back to the host */
  PetscBool         tf32      = PETSC_FALSE;          /* cuda, single: TF32 tensor-core GEMMs */
  PetscReal         zeropivot = PETSC_DEFAULT;        /* pivots below this times max |A_ii| are zero (default: 100 eps; 1e-6 for single factors) */
  PetscBool         zeropivotSet = PETSC_FALSE;       /* given by -pc_h2ulv_zeropivot */
  PetscBool         inFactor  = PETSC_FALSE;          /* the engine of MatSolverType h2ulv (PCCHOLESKY/PCLU outside) */
  /* coordinates from PCSetCoordinates (for a dense Pmat) */
  PetscInt               cdim = 0;
  std::vector<PetscReal> coords;
  /* the factorization and what it depends on */
  Mat                                                 h2 = NULL; /* the MATH2 that is factored (the Pmat, or a compressed copy of it) */
  std::shared_ptr<const h2ulv::ClusterTree>           srctree, tree; /* the Pmat's tree; the factorization's tree */
  std::shared_ptr<const h2ulv::EntryEvaluator>        srcev, evaluator;
  std::vector<int>                                    map; /* factorization tree position -> Pmat tree position (empty: same tree) */
  std::unique_ptr<h2ulv::UlvFactorization<double>>   fd;
  std::unique_ptr<h2ulv::UlvFactorization<float>>    ff;
  PetscLogDouble                                      t_setup = 0, t_first = 0;
  PetscInt                                            nsetups = 0, nrefactor = 0;
  PetscBool                                           batchLog = PETSC_FALSE; /* the factorization logs its batches' flops (-log_view) */
  /* PCApplySymmetricLeft/Right: my rows of the half space, and the scatter to the global order */
  Vec        halfv  = NULL, halfu = NULL; /* (arrays placed column by column) */
  VecScatter halfsc = NULL;
  PetscInt   ldProbes = 32;          /* -pc_h2ulv_logdet_probes */
  PetscBool  ldView   = PETSC_FALSE; /* -pc_h2ulv_logdet_view */
};

static PC_H2ULV *Data(PC pc) { return static_cast<PC_H2ULV *>(pc->data); }

/* forget the factorization (a changed option): the next PCSetUp builds it anew */
static PetscErrorCode PCH2ULVInvalidate_Private(PC pc)
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  p->fd.reset();
  p->ff.reset();
  p->srctree.reset();
  PetscFunctionReturn(0);
}

static PetscErrorCode PCReset_H2ULV(PC pc)
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  p->fd.reset();
  p->ff.reset();
  p->tree.reset();
  p->srctree.reset();
  p->evaluator.reset();
  p->srcev.reset();
  p->map.clear();
  PetscCall(MatDestroy(&p->h2));
  PetscCall(VecDestroy(&p->halfv));
  PetscCall(VecDestroy(&p->halfu));
  PetscCall(VecScatterDestroy(&p->halfsc));
  PetscFunctionReturn(0);
}

/* the MATH2 to factor: the Pmat itself, or a dense Pmat compressed with the PCSetCoordinates points */
static PetscErrorCode PCH2ULVGetH2_Private(PC pc, Mat *h2)
{
  PC_H2ULV *p = Data(pc);
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
  if (p->cdim == 0 && cvec) {
    PetscCall(MatConvert(P, MATH2, MAT_INITIAL_MATRIX, h2));
    PetscFunctionReturn(0);
  }
  PetscCheck(p->cdim > 0 || !p->inFactor, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE,
             "MatSolverType h2ulv with a dense matrix needs the points of its rows attached to the matrix: call MatH2SetCoordinates() on it (PCSetCoordinates() of -pc_type cholesky/lu does not reach the factorization), or use -pc_type h2ulv with PCSetCoordinates()");
  PetscCheck(p->cdim > 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV with a dense preconditioning matrix needs the points of its rows: call PCSetCoordinates() (or MatH2SetCoordinates() on the matrix) first");
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
  PC_H2ULV   *p = Data(pc);
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
  PC_H2ULV        *p   = Data(pc);
  const H2ULVParam o[] = {
    {"-pc_h2ulv_precision", (double)p->precision},
    {"-pc_h2ulv_factorization", (double)p->ftype},
    {"-pc_h2ulv_rtol", p->rtol},
    {"-pc_h2ulv_max_rank", (double)p->maxrank},
    {"-pc_h2ulv_samples", (double)p->nsamples},
    {"-pc_h2ulv_theta", p->theta},
    {"-pc_h2ulv_leaf_size", (double)p->leafsize},
    {"-pc_h2ulv_fillin", (double)p->fillin},
    {"-pc_h2ulv_fillin_weight", p->fillinWeight},
    {"-pc_h2ulv_fillin_sketch", p->fillinSketch},
    {"-pc_h2ulv_schur", (double)p->schur},
    {"-pc_h2ulv_zeropivot", p->zeropivot},
    {"-pc_h2ulv_root_size", (double)p->maxroot},
    {"-pc_h2ulv_root_size_capped", (double)p->maxrootcapped},
    {"-pc_h2ulv_keep_kernel_mb", p->keepKernelMB},
    {"-pc_h2ulv_backend", (double)p->backend},
    {"-pc_h2ulv_tf32", (double)p->tf32},
    {"-pc_h2ulv_dropped_norms", (double)p->dropped},
  };

  PetscFunctionBegin;
  PetscCall(H2ULVCheckSame_Private(PetscObjectComm((PetscObject)pc), "PCH2ULV", (PetscInt)(sizeof(o) / sizeof(o[0])), o));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCSetUp_H2ULV(PC pc)
{
  PC_H2ULV      *p = Data(pc);
  Mat            h2;
  Mat_H2        *h;
  PetscMPIInt    size;
  PetscLogDouble t0, t1;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)pc), &size));
  PetscCheck(pc->pmat->rmap->N > 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_SIZ, "PCH2ULV: the system has size 0");
  PetscCall(PCH2ULVCheckSame_Private(pc));
  PetscCall(PetscLogEventBegin(PCH2ULV_Setup, pc, 0, 0, 0));
  PetscCall(PetscTime(&t0));
  PetscCall(PCH2ULVGetH2_Private(pc, &h2));
  PetscCall(MatDestroy(&p->h2));
  p->h2 = h2; /* the PC's reference from here on, so that an error below does not leak it */
  PetscCall(MatH2GetStructure_Private(h2, &h));
  PetscCall(VecDestroy(&p->halfv)); /* the half space follows the factorization's ranks */
  PetscCall(VecDestroy(&p->halfu));
  PetscCall(VecScatterDestroy(&p->halfsc));
  const PetscBool reuse = (PetscBool)(p->srctree && p->srctree == h->tree && p->srcev == h->evaluator && (p->fd || p->ff));
  std::vector<double> dshift;
  const double        alpha = PetscRealPart(h->alpha);
  pc->failedreason          = PC_NOERROR;
  /* the matrix's diagonal shift, in the factorization's tree order */
  auto shiftInOrder = [&]() {
    std::vector<double> d(h->dshift);
    if (!p->map.empty() && !d.empty())
      for (size_t t = 0; t < d.size(); t++) d[t] = h->dshift[p->map[t]];
    return d;
  };
  if (reuse) {
    dshift = shiftInOrder();
    PetscCall(PetscInfo(pc, "PCH2ULV: refactorizing alpha K + diag(d) with the same tree and bases\n"));
    PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)pc), PETSC_TRUE, [&]() {
      if (p->fd) p->fd->refactor(alpha, dshift);
      else p->ff->refactor(alpha, dshift);
    }));
    p->nrefactor++;
  } else {
    p->fd.reset();
    p->ff.reset();
    h2ulv::UlvOptions o;
    o.basis.rtol      = p->rtol > 0 ? p->rtol : h->rtol;
    o.basis.maxrank   = (int)(p->maxrank > 0 ? p->maxrank : h->maxrank);
    o.basis.nsamples  = (int)(p->nsamples > 0 ? p->nsamples : MatH2AutoSamples_Private(o.basis.rtol));
    o.basis.symmetric = h->symmetric;
    o.fillin          = p->fillin == PCH2ULV_FILLIN_NONE ? h2ulv::FillIn::None : p->fillin == PCH2ULV_FILLIN_NEARFIELD ? h2ulv::FillIn::NearField : h2ulv::FillIn::Generator;
    o.schur           = p->schur == PCH2ULV_SCHUR_DIAG ? h2ulv::SchurVariant::Diag : p->schur == PCH2ULV_SCHUR_NEAR1 ? h2ulv::SchurVariant::Near1 : h2ulv::SchurVariant::TwoHop;
    o.cholesky        = (PetscBool)(h->symmetric && p->ftype != PCH2ULV_FACTOR_LU);
    /* a matrix known SPD: a pivot block that is not is the compression's failure; LU would hide it
       (and give a log-determinant of the wrong sign), so automatic pivots stay Cholesky */
    o.spdKnown         = (bool)(h->symmetric && (pc->pmat->spd == PETSC_BOOL3_TRUE || MatH2KernelIsSPD_Private(h)));
    o.choleskyRequired = (PetscBool)(p->ftype == PCH2ULV_FACTOR_CHOLESKY || (p->ftype == PCH2ULV_FACTOR_AUTO && o.spdKnown));
    o.zeroPivot        = p->zeropivot != PETSC_DEFAULT ? p->zeropivot : p->precision == PCH2ULV_PRECISION_SINGLE ? 1e-6 : 100 * PETSC_MACHINE_EPSILON;
    o.droppedNorms    = p->dropped;
    o.maxRoot         = (int)p->maxroot;
    o.maxRootCapped   = (int)p->maxrootcapped;
    o.fillinWeight    = p->fillinWeight;
    o.fillinSketch    = p->fillinSketch;
    o.keepKernelBytes = (size_t)(p->keepKernelMB * 1048576.0);
    o.backend.kind     = p->backend == PCH2ULV_BACKEND_CUDA ? h2ulv::BackendKind::Cuda : p->backend == PCH2ULV_BACKEND_KOKKOS ? h2ulv::BackendKind::Kokkos : h2ulv::BackendKind::Host;
    o.backend.required = (bool)p->backendRequired;
    o.backend.tf32     = (bool)p->tf32;
    o.onEvent          = [](h2ulv::UlvEvent e, bool begin) {
      const PetscLogEvent ev = e == h2ulv::UlvEvent::FactorComm ? PCH2ULV_FactComm : e == h2ulv::UlvEvent::SolveComm ? PCH2ULV_SolveComm : PCH2ULV_Root;
      if (begin) (void)PetscLogEventBegin(ev, 0, 0, 0, 0);
      else (void)PetscLogEventEnd(ev, 0, 0, 0, 0);
    };
    { /* -log_view: every batch as an event with its flops (a device backend waits for each batch) */
      PetscCall(PetscLogIsActive(&p->batchLog));
      if (p->batchLog)
        o.onBatch = [](h2ulv::BatchOp op, bool begin, double flops) {
          const PetscLogEvent ev = PCH2ULV_Batch[(int)op];
          if (begin) (void)PetscLogEventBegin(ev, 0, 0, 0, 0);
          else {
            (void)PetscLogFlops(flops);
            (void)PetscLogEventEnd(ev, 0, 0, 0, 0);
          }
        };
    }
    PetscCheck(!(p->ftype == PCH2ULV_FACTOR_CHOLESKY && !h->symmetric), PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_INCOMP, "-pc_h2ulv_factorization cholesky needs a symmetric matrix (MAT_SYMMETRIC, or a built-in kernel)");
    p->srctree = h->tree;
    p->srcev   = h->evaluator;
    p->map.clear();
    const PetscReal theta = p->theta < 0 ? h->theta : p->theta;
    const PetscInt  leaf  = p->leafsize > 0 ? p->leafsize : h->leafsize;
    MPI_Comm        comm  = PetscObjectComm((PetscObject)pc);
    if (h->adm == MATH2_ADMISSIBILITY_THETA && theta == h->theta && leaf == h->leafsize) {
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
    PetscCall(PCH2ULVCheckMemory_Private(pc, *p->tree));
    dshift = shiftInOrder();
    PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() {
      if (p->precision == PCH2ULV_PRECISION_SINGLE) p->ff = std::make_unique<h2ulv::UlvFactorization<float>>(comm, p->tree, *p->evaluator, o, alpha, dshift);
      else p->fd = std::make_unique<h2ulv::UlvFactorization<double>>(comm, p->tree, *p->evaluator, o, alpha, dshift);
    }));
  }
  {
    const h2ulv::UlvStatus &st   = p->fd ? p->fd->status() : p->ff->status();
    const std::string      &note = p->fd ? p->fd->backendNote() : p->ff->backendNote();
    if (!note.empty()) { /* a device backend was asked for but is not usable: say so once per process */
      static bool said = false;
      PetscCall(PetscInfo(pc, "PCH2ULV: %s\n", note.c_str()));
      if (!said) PetscCall(PetscFPrintf(PETSC_COMM_SELF, PETSC_STDERR, "PCH2ULV: %s (-pc_h2ulv_backend_required to make this an error)\n", note.c_str()));
      said = true;
    }
    {
      int ncap = 0;
      for (const auto &ls : p->fd ? p->fd->levelStats() : p->ff->levelStats()) ncap += ls.ncapped;
      if (ncap) PetscCall(PetscInfo(pc, "PCH2ULV: %d cell(s) reached the rank cap before the tolerance: the factorization is less accurate than its rtol there (raise -pc_h2ulv_max_rank)\n", ncap));
      if (p->fd ? p->fd->rootForCap() : p->ff->rootForCap()) PetscCall(PetscInfo(pc, "PCH2ULV: the bases of level %d would have reached the rank cap: levels 0..%d factored as one dense block of %d (-pc_h2ulv_root_size_capped)\n", p->fd ? p->fd->rootLevel() : p->ff->rootLevel(), p->fd ? p->fd->rootLevel() : p->ff->rootLevel(), p->fd ? p->fd->rootSize() : p->ff->rootSize()));
    }
    if (st.usedLU) PetscCall(PetscInfo(pc, "PCH2ULV: a pivot block was not positive definite: LU used there instead of Cholesky\n"));
    if (!st.ok) {
      PetscCall(PetscInfo(pc, "PCH2ULV: factorization failed: %s\n", st.message.c_str()));
      pc->failedreason = PC_FACTOR_NUMERIC_ZEROPIVOT;
    }
  }
  PetscCall(PetscTime(&t1));
  p->t_setup = t1 - t0;
  if (!reuse) p->t_first = p->t_setup;
  p->nsetups++;
  /* a factorization made under -log_view has logged its flops batch by batch (PCH2ULVBat* events) */
  if (!p->batchLog) PetscCall(PetscLogFlops(p->fd ? p->fd->factorFlops() : p->ff->factorFlops()));
  PetscCall(PetscLogEventEnd(PCH2ULV_Setup, pc, 0, 0, 0));
  PetscCall(PCH2ULVLogDetSetUp_Private(pc, p->ldView, p->ldProbes));
  PetscFunctionReturn(0);
}

/* k columns: user layout -> my points in the factorization's tree order (t: nt x k) and back */
static PetscErrorCode PCH2ULVToTree_Private(PC pc, PetscInt k, const PetscScalar *x, PetscInt ldx, std::vector<PetscScalar> &t)
{
  PC_H2ULV            *p   = Data(pc);
  const h2ulv::Layout &lay = p->fd ? p->fd->layout() : p->ff->layout();
  const PetscInt       nt  = lay.pointEnd() - lay.pointBegin(); /* on several processes not the same count as my rows */

  PetscFunctionBegin;
  t.resize((size_t)nt * k);
  PetscCall(MatH2ToTree_Private(p->h2, x, t.data(), k, ldx));
  if (!p->map.empty()) { /* Pmat tree order -> factorization tree order (one process) */
    const std::vector<PetscScalar> t1(t);
    for (PetscInt j = 0; j < k; j++)
      for (PetscInt i = 0; i < nt; i++) t[i + j * nt] = t1[p->map[i] + j * nt];
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVFromTree_Private(PC pc, PetscInt k, std::vector<PetscScalar> &t, PetscScalar *y, PetscInt ldy)
{
  PC_H2ULV      *p  = Data(pc);
  const PetscInt nt = (PetscInt)(k > 0 ? t.size() / k : 0);

  PetscFunctionBegin;
  if (!p->map.empty()) {
    std::vector<PetscScalar> t1(t.size());
    for (PetscInt j = 0; j < k; j++)
      for (PetscInt i = 0; i < nt; i++) t1[p->map[i] + j * nt] = t[i + j * nt];
    t.swap(t1);
  }
  PetscCall(MatH2FromTree_Private(p->h2, t.data(), y, k, ldy));
  PetscFunctionReturn(0);
}

/* the core's solve (half < 0), forward half (0) or backward half (1) on k columns t (tree order, nt
   x k) and h (half space, nh x k); single-precision factors work on float copies */
static PetscErrorCode PCH2ULVCoreSolve_Private(PC pc, PetscBool trans, int half, PetscInt k, std::vector<PetscScalar> &t, PetscScalar *h, PetscInt nh)
{
  PC_H2ULV *p  = Data(pc);
  const int nt = (int)(k > 0 ? t.size() / k : 0);

  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)pc), PETSC_TRUE, [&]() {
    if (p->fd) {
      if (half < 0) p->fd->solve(trans, (int)k, t.data(), std::max(nt, 1));
      else p->fd->halfSolve(half == 1, (int)k, t.data(), std::max(nt, 1), h, (int)PetscMax(nh, 1));
      return;
    }
    std::vector<float> tf(t.begin(), t.end()), hf(h, h + (half < 0 ? 0 : nh * k));
    if (half < 0) p->ff->solve(trans, (int)k, tf.data(), std::max(nt, 1));
    else p->ff->halfSolve(half == 1, (int)k, tf.data(), std::max(nt, 1), hf.data(), (int)PetscMax(nh, 1));
    std::copy(tf.begin(), tf.end(), t.begin());
    std::copy(hf.begin(), hf.end(), h);
  }));
  PetscFunctionReturn(0);
}

/* Y = M^{-1} X (or M^{-T} X), k columns in the user's layout */
static PetscErrorCode PCH2ULVApply_Private(PC pc, PetscBool trans, PetscInt k, const PetscScalar *x, PetscInt ldx, PetscScalar *y, PetscInt ldy)
{
  PetscInt n = pc->pmat->rmap->n;

  PetscFunctionBegin;
  if (pc->failedreason) { /* KSP reports DIVERGED_PC_FAILED; never return silent garbage */
    for (PetscInt j = 0; j < k; j++)
      for (PetscInt i = 0; i < n; i++) y[i + j * ldy] = PETSC_MAX_REAL;
    PetscFunctionReturn(0);
  }
  PetscCall(PetscLogEventBegin(PCH2ULV_Solve, pc, 0, 0, 0));
  std::vector<PetscScalar> t;
  PetscCall(PCH2ULVToTree_Private(pc, k, x, ldx, t));
  PetscCall(PCH2ULVCoreSolve_Private(pc, trans, -1, k, t, NULL, 0));
  PetscCall(PCH2ULVFromTree_Private(pc, k, t, y, ldy));
  PetscCall(PetscLogEventEnd(PCH2ULV_Solve, pc, 0, 0, 0));
  PetscFunctionReturn(0);
}

/* PCApplySymmetricLeft (y = F^{-1} x) and PCApplySymmetricRight (y = F^{-T} x) for M = F F^T: the
   halves of the solve of a Cholesky factorization, on k columns in the user's layout (ld: the local
   rows).  The half space (the unknowns each level eliminates, then the root's) is numbered in the
   core's process-independent order (halfIndex) and scattered into the user's layout in that order. */
/* one column: half space h -> user layout (forward), or user -> h (right: reverse) */
static PetscErrorCode PCH2ULVHalfScatter_Private(PC_H2ULV *p, PetscBool right, PetscScalar *h, PetscScalar *user)
{
  PetscFunctionBegin;
  PetscCall(VecPlaceArray(p->halfv, h));
  PetscCall(VecPlaceArray(p->halfu, user));
  if (right) {
    PetscCall(VecScatterBegin(p->halfsc, p->halfu, p->halfv, INSERT_VALUES, SCATTER_REVERSE));
    PetscCall(VecScatterEnd(p->halfsc, p->halfu, p->halfv, INSERT_VALUES, SCATTER_REVERSE));
  } else {
    PetscCall(VecScatterBegin(p->halfsc, p->halfv, p->halfu, INSERT_VALUES, SCATTER_FORWARD));
    PetscCall(VecScatterEnd(p->halfsc, p->halfv, p->halfu, INSERT_VALUES, SCATTER_FORWARD));
  }
  PetscCall(VecResetArray(p->halfv));
  PetscCall(VecResetArray(p->halfu));
  PetscFunctionReturn(0);
}

PetscErrorCode PCH2ULVApplySymmetricHalf_Private(PC pc, PetscBool right, PetscInt k, const PetscScalar *x, PetscScalar *y)
{
  PC_H2ULV      *p = Data(pc);
  const PetscInt n = pc->pmat->rmap->n;
  PetscInt       nh;

  PetscFunctionBegin;
  if (pc->failedreason) {
    for (PetscInt i = 0; i < n * k; i++) y[i] = PETSC_MAX_REAL;
    PetscFunctionReturn(0);
  }
  PetscCheck(p->fd ? p->fd->hasHalves() : p->ff->hasHalves(), PetscObjectComm((PetscObject)pc), PETSC_ERR_SUP, "PCApplySymmetricLeft/Right of PCH2ULV need M = F F^T: a symmetric matrix factored with Cholesky pivots everywhere (not -pc_h2ulv_factorization lu, and no pivot block may have fallen back to LU)");
  if (!p->halfsc) {
    std::vector<int> idx;
    IS               is;
    PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [&]() { idx = p->fd ? p->fd->halfIndex() : p->ff->halfIndex(); }));
    std::vector<PetscInt> pidx(idx.begin(), idx.end());
    PetscCall(ISCreateGeneral(PETSC_COMM_SELF, (PetscInt)pidx.size(), pidx.data(), PETSC_COPY_VALUES, &is));
    PetscCall(VecCreateSeqWithArray(PETSC_COMM_SELF, 1, (PetscInt)pidx.size(), NULL, &p->halfv));
    PetscCall(VecCreateMPIWithArray(PetscObjectComm((PetscObject)pc), 1, n, pc->pmat->rmap->N, NULL, &p->halfu));
    PetscCall(VecScatterCreate(p->halfv, NULL, p->halfu, is, &p->halfsc));
    PetscCall(ISDestroy(&is));
  }
  PetscCall(PetscLogEventBegin(PCH2ULV_Solve, pc, 0, 0, 0));
  PetscCall(VecGetLocalSize(p->halfv, &nh));
  std::vector<PetscScalar> t, h((size_t)nh * k);
  if (!right) {
    PetscCall(PCH2ULVToTree_Private(pc, k, x, n, t));
    PetscCall(PCH2ULVCoreSolve_Private(pc, PETSC_FALSE, 0, k, t, h.data(), nh));
    for (PetscInt j = 0; j < k; j++) PetscCall(PCH2ULVHalfScatter_Private(p, PETSC_FALSE, h.data() + j * nh, y + j * n));
  } else {
    const h2ulv::Layout &lay = p->fd ? p->fd->layout() : p->ff->layout();
    for (PetscInt j = 0; j < k; j++) PetscCall(PCH2ULVHalfScatter_Private(p, PETSC_TRUE, h.data() + j * nh, const_cast<PetscScalar *>(x) + j * n)); /* x: read only */
    t.resize((size_t)(lay.pointEnd() - lay.pointBegin()) * k);
    PetscCall(PCH2ULVCoreSolve_Private(pc, PETSC_FALSE, 1, k, t, h.data(), nh));
    PetscCall(PCH2ULVFromTree_Private(pc, k, t, y, n));
  }
  PetscCall(PetscLogEventEnd(PCH2ULV_Solve, pc, 0, 0, 0));
  PetscFunctionReturn(0);
}

/* kind: 0 PCApply, 1 PCApplyTranspose, 2 PCApplySymmetricLeft, 3 PCApplySymmetricRight */
static PetscErrorCode PCApplyKernel_H2ULV(PC pc, Vec x, Vec y, int kind)
{
  const PetscScalar *xa;
  PetscScalar       *ya;

  PetscFunctionBegin;
  PetscCall(VecGetArrayRead(x, &xa));
  PetscCall(VecGetArrayWrite(y, &ya));
  if (kind < 2) PetscCall(PCH2ULVApply_Private(pc, (PetscBool)(kind == 1), 1, xa, pc->pmat->rmap->n, ya, pc->pmat->rmap->n));
  else PetscCall(PCH2ULVApplySymmetricHalf_Private(pc, (PetscBool)(kind == 3), 1, xa, ya));
  PetscCall(VecRestoreArrayRead(x, &xa));
  PetscCall(VecRestoreArrayWrite(y, &ya));
  PetscFunctionReturn(0);
}
static PetscErrorCode PCApply_H2ULV(PC pc, Vec x, Vec y) { return PCApplyKernel_H2ULV(pc, x, y, 0); }
static PetscErrorCode PCApplyTranspose_H2ULV(PC pc, Vec x, Vec y) { return PCApplyKernel_H2ULV(pc, x, y, 1); }
static PetscErrorCode PCApplySymmetricLeft_H2ULV(PC pc, Vec x, Vec y) { return PCApplyKernel_H2ULV(pc, x, y, 2); }
static PetscErrorCode PCApplySymmetricRight_H2ULV(PC pc, Vec x, Vec y) { return PCApplyKernel_H2ULV(pc, x, y, 3); }

static PetscErrorCode PCMatApply_H2ULV(PC pc, Mat X, Mat Y)
{
  const PetscScalar *xa;
  PetscScalar       *ya;
  PetscInt           ldx, ldy, k;

  PetscFunctionBegin;
  PetscCall(MatGetSize(X, NULL, &k));
  PetscCall(MatDenseGetArrayRead(X, &xa));
  PetscCall(MatDenseGetLDA(X, &ldx));
  PetscCall(MatDenseGetArrayWrite(Y, &ya));
  PetscCall(MatDenseGetLDA(Y, &ldy));
  PetscCall(PCH2ULVApply_Private(pc, PETSC_FALSE, k, xa, ldx, ya, ldy));
  PetscCall(MatDenseRestoreArrayRead(X, &xa));
  PetscCall(MatDenseRestoreArrayWrite(Y, &ya));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCSetCoordinates_H2ULV(PC pc, PetscInt dim, PetscInt nloc, PetscReal coords[])
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  PetscCheck(dim >= 1 && dim <= 3, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCSetCoordinates: dim = %" PetscInt_FMT " but it must be 1, 2 or 3", dim);
  p->cdim = dim;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)pc), PETSC_TRUE, [&]() { p->coords.assign(coords, coords + nloc * dim); }));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCSetFromOptions_H2ULV(PC pc, PetscOptionItems *PetscOptionsObject)
{
  PC_H2ULV *p = Data(pc);
  PetscReal rtol = p->rtol;
  PetscInt  mr = p->maxrank, ns = p->nsamples;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "H2-ULV factorization options");
  PetscCall(PetscOptionsReal("-pc_h2ulv_rtol", "Compression tolerance of the factorization's own fill-in-aware H2 (0: the matrix's -mat_h2_rtol)", "", rtol, &rtol, NULL));
  PetscCheck(rtol >= 0 && rtol < 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_rtol must lie in [0, 1), got %g", (double)rtol);
  {
    PetscReal th = p->theta;
    PetscInt  lf = p->leafsize;
    PetscCall(PetscOptionsReal("-pc_h2ulv_theta", "Admissibility theta of the factorization's own cluster tree (negative: use the matrix's tree)", "", th, &th, NULL));
    PetscCheck(!PetscIsInfOrNanReal(th), PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_theta must be a finite number (negative: the matrix's tree), got %g", (double)th);
    PetscCall(PetscOptionsInt("-pc_h2ulv_leaf_size", "Leaf size of the factorization's own tree (0: the matrix's)", "", lf, &lf, NULL));
    PetscCheck(lf >= 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_leaf_size must be non-negative, got %" PetscInt_FMT, lf);
    if (th != p->theta || lf != p->leafsize) {
      PetscCall(PCH2ULVInvalidate_Private(pc));
    }
    p->theta    = th;
    p->leafsize = lf;
  }
  PetscCall(PetscOptionsInt("-pc_h2ulv_max_rank", "Rank cap of the factorization's bases (0: the matrix's)", "", mr, &mr, NULL));
  PetscCheck(mr >= 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_max_rank must be non-negative, got %" PetscInt_FMT, mr);
  PetscCall(PetscOptionsInt("-pc_h2ulv_samples", "Far-field sample cap of the factorization's bases (0: automatic)", "", ns, &ns, NULL));
  PetscCheck(ns >= 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_samples must be non-negative, got %" PetscInt_FMT, ns);
  PetscCall(PetscOptionsEnum("-pc_h2ulv_factorization", "Pivot factorization: auto (Cholesky for symmetric matrices, LU where that fails), cholesky (fail if not SPD), lu", "", PCH2ULVFactorTypes, (PetscEnum)p->ftype, (PetscEnum *)&p->ftype, NULL));
  PetscCall(PetscOptionsEnum("-pc_h2ulv_fillin", "What the bases capture besides the far field: generator (A_ik A_kk^-1), nearfield (kernel samples of the near cells), none", "", PCH2ULVFillIns, (PetscEnum)p->fillin, (PetscEnum *)&p->fillin, NULL));
  {
    PetscReal w = p->fillinWeight;
    PetscCall(PetscOptionsReal("-pc_h2ulv_fillin_weight", "Weight of the fill-in generators against the far field in the bases: they are scaled to this times the norm of the cell's own block (larger: more fill-in captured, higher ranks)", "", w, &w, NULL));
    PetscCheck(w > 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_fillin_weight must be positive, got %g", (double)w);
    if (w != p->fillinWeight) {
      PetscCall(PCH2ULVInvalidate_Private(pc));
    }
    p->fillinWeight = w;
  }
  {
    PetscReal m = p->fillinSketch;
    PetscCall(PetscOptionsReal("-pc_h2ulv_fillin_sketch", "Sketch each cell's fill-in generators to this times its block size Gaussian combinations (sum over the neighbours k of A_ik A_kk^-1 Omega_k) before the compression; 0: use all their columns", "", m, &m, NULL));
    PetscCheck(m >= 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_fillin_sketch must be non-negative, got %g", (double)m);
    if (m != p->fillinSketch) {
      PetscCall(PCH2ULVInvalidate_Private(pc));
    }
    p->fillinSketch = m;
  }
  PetscCall(PetscOptionsReal("-pc_h2ulv_keep_kernel_mb", "Keep the kernel's leaf near blocks and couplings for refactorizations (MatShift ...) while they take at most about this many MB; larger: evaluated again by each refactorization", "", p->keepKernelMB, &p->keepKernelMB, NULL));
  PetscCheck(p->keepKernelMB >= 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_keep_kernel_mb must be non-negative (0: keep nothing), got %g", (double)p->keepKernelMB);
  {
    PetscReal zp = p->zeropivot == PETSC_DEFAULT ? 100 * PETSC_MACHINE_EPSILON : p->zeropivot;
    PetscBool set;
    PetscCall(PetscOptionsReal("-pc_h2ulv_zeropivot", "Pivots of magnitude at most this times the largest |A_ii| are zero: the factorization fails (PC_FACTOR_NUMERIC_ZEROPIVOT); default 100 eps, 1e-6 with single-precision factors", "", zp, &zp, &set));
    if (set) {
      PetscCheck(zp >= 0 && zp < 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_zeropivot must lie in [0, 1), got %g", (double)zp);
      if (zp != p->zeropivot) PetscCall(PCH2ULVInvalidate_Private(pc));
      p->zeropivot    = zp;
      p->zeropivotSet = PETSC_TRUE;
    }
  }
  PetscCall(PetscOptionsEnum("-pc_h2ulv_schur", "Skeleton Schur complement terms kept: twohop (exact for the block-diagonal-redundant model), near1, diag", "", PCH2ULVSchurs, (PetscEnum)p->schur, (PetscEnum *)&p->schur, NULL));
  PetscCall(PetscOptionsEnum("-pc_h2ulv_precision", "Precision of the factors and the solve (vectors stay double)", "", PCH2ULVPrecisions, (PetscEnum)p->precision, (PetscEnum *)&p->precision, NULL));
  { /* the dense top block; a change needs a new factorization */
    struct {
      const char *name, *help;
      PetscInt   *v;
    } roots[] = {
      {"-pc_h2ulv_root_size", "Factor the top levels as one dense block once a level's skeletons add up to at most this many unknowns (0: go to the tree's root)", &p->maxroot},
      {"-pc_h2ulv_root_size_capped", "Factor the top levels as one dense block of at most this many unknowns where the next level's bases would reach the rank cap (0: go on with capped bases)", &p->maxrootcapped},
    };
    for (auto &o : roots) {
      PetscInt v = *o.v;
      PetscCall(PetscOptionsInt(o.name, o.help, "", v, &v, NULL));
      PetscCheck(v >= 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "%s must be non-negative, got %" PetscInt_FMT, o.name, v);
      if (v != *o.v) {
        PetscCall(PCH2ULVInvalidate_Private(pc));
      }
      *o.v = v;
    }
  }
  {
    PCH2ULVBackendType be  = p->backend;
    PetscBool          req = p->backendRequired, tf = p->tf32;
    PetscCall(PetscOptionsEnum("-pc_h2ulv_backend", "Where the batched dense operations of the factorization and the solve run: host (BLAS/LAPACK over threads), cuda (cuBLAS/cuSOLVER), kokkos (KokkosBatched); an unusable device falls back to host", "PCH2ULVSetBackend", PCH2ULVBackendTypes, (PetscEnum)be, (PetscEnum *)&be, NULL));
    PetscCall(PetscOptionsBool("-pc_h2ulv_backend_required", "Error out instead of falling back to the host when the -pc_h2ulv_backend is not usable", "PCH2ULVSetBackend", req, &req, NULL));
    PetscCall(PetscOptionsBool("-pc_h2ulv_tf32", "With -pc_h2ulv_backend cuda and -pc_h2ulv_precision single: TF32 tensor-core GEMMs", "", tf, &tf, NULL));
    PetscCall(PCH2ULVSetBackend(pc, be, req));
    if (tf != p->tf32) {
      PetscCall(PCH2ULVInvalidate_Private(pc));
    }
    p->tf32 = tf;
  }
  PetscCall(PetscOptionsBool("-pc_h2ulv_dropped_norms", "Measure the Schur terms that fall outside the H2 pattern (diagnostic, costs extra)", "", p->dropped, &p->dropped, NULL));
  PetscCall(PetscOptionsInt("-pc_h2ulv_logdet_probes", "Random probes of the stochastic Lanczos estimate of log det A - log det P (PCH2ULVGetLogDeterminantCorrection with PETSC_DEFAULT)", "PCH2ULVGetLogDeterminantCorrection", p->ldProbes, &p->ldProbes, NULL));
  PetscCheck(p->ldProbes >= 2, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_logdet_probes must be at least 2 (the standard error needs two), got %" PetscInt_FMT, p->ldProbes);
  PetscCall(PetscOptionsBool("-pc_h2ulv_logdet_view", "After each setup: estimate log det A - log det P (A the operator) and print log det P, the correction with its standard error and their sum", "PCH2ULVGetLogDeterminantCorrection", p->ldView, &p->ldView, NULL));
  PetscOptionsHeadEnd();
  if (rtol != p->rtol || mr != p->maxrank || ns != p->nsamples) {
    PetscCall(PCH2ULVInvalidate_Private(pc));
  }
  p->rtol     = rtol;
  p->maxrank  = mr;
  p->nsamples = ns;
  PetscFunctionReturn(0);
}

static PetscErrorCode PCView_H2ULV(PC pc, PetscViewer viewer)
{
  PC_H2ULV *p = Data(pc);
  PetscBool isascii;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &isascii));
  if (!isascii) PetscFunctionReturn(0);
  PetscCall(PetscViewerASCIIPrintf(viewer, "  H2-ULV (h2ulv): fill-in %s, Schur %s, factorization %s, precision %s, %s\n", PCH2ULVFillIns[p->fillin], PCH2ULVSchurs[p->schur], PCH2ULVFactorTypes[p->ftype], PCH2ULVPrecisions[p->precision], p->map.empty() ? "the matrix's cluster tree" : "its own cluster tree"));
  if (!p->fd && !p->ff) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  (not set up)\n"));
    PetscFunctionReturn(0);
  }
  const auto &st  = p->fd ? p->fd->levelStats() : p->ff->levelStats();
  const auto &sta = p->fd ? p->fd->status() : p->ff->status();
  double      mem = (double)(p->fd ? p->fd->bytes() : p->ff->bytes()), fl = p->fd ? p->fd->factorFlops() : p->ff->factorFlops();
  double      tb = p->fd ? p->fd->timeBasis() : p->ff->timeBasis(), tf = p->fd ? p->fd->timeFactor() : p->ff->timeFactor();
  PetscCall(PetscViewerASCIIPrintf(viewer, "  memory %.4g MB, factorization %.4g Gflop, dense root block %d (the cells of level %d%s); setup %.3g s (bases %.3g s, factorization %.3g s); %" PetscInt_FMT " setups, %" PetscInt_FMT " refactorizations\n", mem / 1048576.0, fl / 1e9, p->fd ? p->fd->rootSize() : p->ff->rootSize(), p->fd ? p->fd->rootLevel() : p->ff->rootLevel(), (p->fd ? p->fd->rootForCap() : p->ff->rootForCap()) ? ", where the bases would have reached the rank cap" : "", p->t_setup, tb, tf, p->nsetups, p->nrefactor));
  {
    size_t fb, bb, kb;
    if (p->fd) p->fd->bytesSplit(fb, bb, kb);
    else p->ff->bytesSplit(fb, bb, kb);
    PetscCall(PetscViewerASCIIPrintf(viewer, "  memory: factors %.4g MB, bases %.4g MB, kernel blocks kept for refactorizations %.4g MB\n", fb / 1048576.0, bb / 1048576.0, kb / 1048576.0));
  }
  {
    PetscMPIInt size;
    PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)pc), &size));
    if (size > 1) { /* distributed: the largest share and what was communicated (max over processes) */
      const h2ulv::UlvCommStats &cs = p->fd ? p->fd->commStats() : p->ff->commStats();
      const h2ulv::Layout       &lay = p->fd ? p->fd->layout() : p->ff->layout();
      double loc[6] = {mem, (double)(lay.pointEnd() - lay.pointBegin()), cs.factorBytes, (double)cs.factorMessages, cs.solveBytes, (double)cs.solveMessages}, mx[6];
      PetscCall(MPIU_Allreduce(loc, mx, 6, MPI_DOUBLE, MPI_MAX, PetscObjectComm((PetscObject)pc)));
      PetscCall(PetscViewerASCIIPrintf(viewer, "  %d processes (subtree ownership, replicated root): at most %.0f points and %.4g MB per process; sent per process, at most: %.4g MB in %.0f messages by the factorizations, %.4g MB in %.0f messages by the solves so far (-log_view: PCH2ULVFactComm, PCH2ULVSolveComm)\n", (int)size, mx[1], mx[0] / 1048576.0, mx[2] / 1048576.0, mx[3], mx[4] / 1048576.0, mx[5]));
    }
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "  backend: %s%s%s\n", (p->fd ? p->fd->backend().describe() : p->ff->backend().describe()).c_str(), (p->fd ? p->fd->backendNote() : p->ff->backendNote()).empty() ? "" : "; ", (p->fd ? p->fd->backendNote() : p->ff->backendNote()).c_str()));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  status: %s%s\n", sta.ok ? "factored" : sta.message.c_str(), sta.usedLU ? " (LU used where Cholesky failed)" : ""));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  level  rank min/mean/max   Gflop  capped   dropped-term norm\n"));
  int ncap = 0;
  for (size_t l = (size_t)(p->fd ? p->fd->rootLevel() : p->ff->rootLevel()) + 1; l < st.size(); l++) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %5d  %4d %7.1f %4d  %7.3f  %6d   %s%.3e\n", (int)l, st[l].minrank, st[l].meanrank, st[l].maxrank, st[l].flops / 1e9, st[l].ncapped, p->dropped ? "" : "(not measured) ", st[l].dropped));
    ncap += st[l].ncapped;
  }
  PetscCall(PCH2ULVLogDetView_Private(pc, viewer));
  if (ncap) PetscCall(PetscViewerASCIIPrintf(viewer, "  WARNING: %d cell(s) reached the rank cap before the tolerance (capped): the factorization is less accurate than its rtol there; raise -pc_h2ulv_max_rank (or -mat_h2_max_rank), or factor the top levels densely with -pc_h2ulv_root_size_capped <n>\n", ncap));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVGetLogDeterminant_H2ULV(PC pc, PetscReal *logdet, PetscInt *sign)
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  PetscCheck(p->fd || p->ff, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV is not set up: call PCSetUp() or KSPSetUp() first");
  PetscCheck(!pc->failedreason, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV: the factorization failed, there is no determinant");
  *logdet = p->fd ? p->fd->logAbsDet() : p->ff->logAbsDet();
  if (sign) *sign = p->fd ? p->fd->detSign() : p->ff->detSign();
  PetscFunctionReturn(0);
}

/* PCH2ULVGetLogDeterminantCorrection: PETSC_DEFAULT probes are -pc_h2ulv_logdet_probes (h2ulvlogdet.cxx) */
static PetscErrorCode PCH2ULVLogDetCorrection_H2ULV(PC pc, PetscInt nprobes, PetscInt maxits, PetscReal *corr, PetscReal *se)
{
  PetscFunctionBegin;
  PetscCall(PCH2ULVLogDetSLQ_Private(pc, nprobes == PETSC_DEFAULT ? Data(pc)->ldProbes : nprobes, maxits, corr, se));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVGetInertia_H2ULV(PC pc, PetscInt *neg, PetscInt *zero, PetscInt *pos)
{
  PC_H2ULV *p = Data(pc);
  long      in[3];

  PetscFunctionBegin;
  PetscCheck(p->fd || p->ff, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV is not set up: call PCSetUp() or KSPSetUp() first");
  PetscCheck(!pc->failedreason, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV: the factorization failed, there is no inertia");
  const bool has = p->fd ? p->fd->hasInertia() : p->ff->hasInertia();
  PetscCheck(has, PetscObjectComm((PetscObject)pc), PETSC_ERR_SUP, "PCH2ULV: the inertia is defined for symmetric matrices only (this one is factored as nonsymmetric)");
  if (p->fd) p->fd->inertia(in[0], in[1], in[2]);
  else p->ff->inertia(in[0], in[1], in[2]);
  if (neg) *neg = (PetscInt)in[0];
  if (zero) *zero = (PetscInt)in[1];
  if (pos) *pos = (PetscInt)in[2];
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVSetTolerance_H2ULV(PC pc, PetscReal rtol, PetscInt maxrank)
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  PetscCheck(rtol >= 0 && rtol < 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCH2ULVSetTolerance: rtol must lie in [0, 1) (0: the matrix's), got %g", (double)rtol);
  PetscCheck(maxrank >= 0 || maxrank == PETSC_DEFAULT, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCH2ULVSetTolerance: maxrank must be non-negative (0: the matrix's), got %" PetscInt_FMT, maxrank);
  if (maxrank == PETSC_DEFAULT) maxrank = 0;
  if (rtol != p->rtol || maxrank != p->maxrank) {
    PetscCall(PCH2ULVInvalidate_Private(pc));
  }
  p->rtol    = rtol;
  p->maxrank = maxrank;
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVGetInfo_H2ULV(PC pc, PetscLogDouble *bytes, PetscLogDouble *flops)
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  PetscCheck(p->fd || p->ff, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV is not set up: call PCSetUp() or KSPSetUp() first");
  if (bytes) *bytes = (PetscLogDouble)(p->fd ? p->fd->bytes() : p->ff->bytes());
  if (flops) *flops = p->fd ? p->fd->factorFlops() : p->ff->factorFlops();
  PetscFunctionReturn(0);
}

static PetscErrorCode PCDestroy_H2ULV(PC pc)
{
  PetscFunctionBegin;
  PetscCall(PCReset_H2ULV(pc));
  delete Data(pc);
  pc->data = NULL;
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCSetCoordinates_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetLogDeterminant_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetInertia_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVSetTolerance_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetInfo_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVSetBackend_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetBackend_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetLogDeterminantCorrection_C", NULL));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVSetBackend_H2ULV(PC pc, PCH2ULVBackendType be, PetscBool required)
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  if (be != p->backend || required != p->backendRequired) { /* a new backend: factor again from scratch */
    PetscCall(PCH2ULVInvalidate_Private(pc));
  }
  p->backend         = be;
  p->backendRequired = required;
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVGetBackend_H2ULV(PC pc, PCH2ULVBackendType *requested, PCH2ULVBackendType *used)
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  if (requested) *requested = p->backend;
  if (used) {
    PetscCheck(p->fd || p->ff, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULVGetBackend: the backend in use is known after PCSetUp()");
    const h2ulv::BackendKind k = p->fd ? p->fd->backend().kind() : p->ff->backend().kind();
    *used                      = k == h2ulv::BackendKind::Cuda ? PCH2ULV_BACKEND_CUDA : k == h2ulv::BackendKind::Kokkos ? PCH2ULV_BACKEND_KOKKOS : PCH2ULV_BACKEND_HOST;
  }
  PetscFunctionReturn(0);
}

/*@
   PCH2ULVGetBackend - the backend asked for, and the one the factorization runs on (they differ
   after a fallback to the host)

   Not Collective

   Input Parameter:
.  pc - the PCH2ULV preconditioner, set up (for used)

   Output Parameters:
+  requested - the backend of PCH2ULVSetBackend() or -pc_h2ulv_backend (or NULL)
-  used      - the backend in use (or NULL)

   Level: intermediate
@*/
PetscErrorCode PCH2ULVGetBackend(PC pc, PCH2ULVBackendType *requested, PCH2ULVBackendType *used)
{
  PetscFunctionBegin;
  PetscValidHeaderSpecific(pc, PC_CLASSID, 1);
  PetscUseMethod(pc, "PCH2ULVGetBackend_C", (PC, PCH2ULVBackendType *, PCH2ULVBackendType *), (pc, requested, used));
  PetscFunctionReturn(0);
}

/*@
   PCH2ULVSetBackend - where the batched dense operations of the factorization and the solve run

   Logically Collective

   Input Parameters:
+  pc       - the PCH2ULV preconditioner
.  backend  - PCH2ULV_BACKEND_HOST (BLAS/LAPACK over threads), PCH2ULV_BACKEND_CUDA (cuBLAS/cuSOLVER batched
              kernels; the factors stay on the device between applications) or PCH2ULV_BACKEND_KOKKOS
              (KokkosBatched over Kokkos' default execution space)
-  required - PETSC_TRUE: error out if that backend is not usable; PETSC_FALSE: fall back to the host
              backend, saying so once (and in PCView and -info)

   Options Database Keys:
+  -pc_h2ulv_backend <host,cuda,kokkos> - the backend
-  -pc_h2ulv_backend_required - no fallback

   Level: intermediate
@*/
PetscErrorCode PCH2ULVSetBackend(PC pc, PCH2ULVBackendType backend, PetscBool required)
{
  PetscFunctionBegin;
  PetscValidHeaderSpecific(pc, PC_CLASSID, 1);
  PetscValidLogicalCollectiveEnum(pc, backend, 2);
  PetscCheck(backend >= PCH2ULV_BACKEND_HOST && backend <= PCH2ULV_BACKEND_KOKKOS, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCH2ULVSetBackend: unknown backend %d", (int)backend);
  PetscTryMethod(pc, "PCH2ULVSetBackend_C", (PC, PCH2ULVBackendType, PetscBool), (pc, backend, required));
  PetscFunctionReturn(0);
}

/*MC
   PCH2ULV - "h2ulv" - the H^2-ULV factorization: direct solver (-ksp_type preonly, or a few
   refinement steps) or preconditioner for GMRES/FGMRES.  The preconditioning matrix is MATH2, or a
   dense matrix with PCSetCoordinates().

   Options: -pc_h2ulv_rtol, -pc_h2ulv_theta, -pc_h2ulv_leaf_size, -pc_h2ulv_max_rank, -pc_h2ulv_samples, -pc_h2ulv_factorization
   auto|cholesky|lu, -pc_h2ulv_fillin generator|nearfield|none, -pc_h2ulv_schur twohop|near1|diag,
   -pc_h2ulv_precision double|single, -pc_h2ulv_dropped_norms, -pc_h2ulv_backend host|cuda|kokkos,
   -pc_h2ulv_backend_required, -pc_h2ulv_tf32, -pc_h2ulv_logdet_probes, -pc_h2ulv_logdet_view,
   -pc_h2ulv_zeropivot, -pc_h2ulv_root_size, -pc_h2ulv_root_size_capped, -pc_h2ulv_keep_kernel_mb

   Failures: a pivot of magnitude at most -pc_h2ulv_zeropivot (default 100 eps, 1e-6 with single
   factors) times the largest |A_ii| is zero, and a matrix known SPD (MAT_SPD, or a positive definite
   built-in kernel) whose compressed pivot block is not positive definite keeps Cholesky: both fail
   the factorization (PC_FACTOR_NUMERIC_ZEROPIVOT, KSP_DIVERGED_PC_FAILED; -info and PCView say
   where and what to change) instead of giving a wrong solution or a log-determinant of the wrong
   sign.  Options that shape the factorization must be the same on every process: PCSetUp() stops
   with an error naming the first one that differs.  The leaf near blocks the factorization needs
   are checked against the memory a process can allocate before any is made.

   PCApplySymmetricLeft/Right apply the halves F^{-1}, F^{-T} of a Cholesky factorization M = F F^T
   (PCH2ULVGetLogDeterminantCorrection() uses them).
M*/
PETSC_INTERN PetscErrorCode PCCreate_H2ULV(PC pc)
{
  PetscFunctionBegin;
  pc->data                 = static_cast<void *>(new PC_H2ULV()); /* owned by the PC: deleted in PCDestroy_H2ULV */
  pc->ops->setup           = PCSetUp_H2ULV;
  pc->ops->apply           = PCApply_H2ULV;
  pc->ops->applytranspose  = PCApplyTranspose_H2ULV;
  pc->ops->matapply        = PCMatApply_H2ULV;
  pc->ops->applysymmetricleft  = PCApplySymmetricLeft_H2ULV;
  pc->ops->applysymmetricright = PCApplySymmetricRight_H2ULV;
  pc->ops->reset           = PCReset_H2ULV;
  pc->ops->destroy         = PCDestroy_H2ULV;
  pc->ops->setfromoptions  = PCSetFromOptions_H2ULV;
  pc->ops->view            = PCView_H2ULV;
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCSetCoordinates_C", PCSetCoordinates_H2ULV));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetLogDeterminant_C", PCH2ULVGetLogDeterminant_H2ULV));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetInertia_C", PCH2ULVGetInertia_H2ULV));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVSetTolerance_C", PCH2ULVSetTolerance_H2ULV));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetInfo_C", PCH2ULVGetInfo_H2ULV));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVSetBackend_C", PCH2ULVSetBackend_H2ULV));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetBackend_C", PCH2ULVGetBackend_H2ULV));
  PetscCall(PetscObjectComposeFunction((PetscObject)pc, "PCH2ULVGetLogDeterminantCorrection_C", PCH2ULVLogDetCorrection_H2ULV));
  PetscFunctionReturn(0);
}

/*@
   PCH2ULVGetLogDeterminant - log det of the factored operator

   Collective on PC

   Input Parameter:
.  pc - the PCH2ULV preconditioner, set up

   Output Parameter:
.  logdet - log det P of the H^2-ULV factorization P

   Notes:
   An error if the determinant is negative; PCH2ULVGetLogAbsDeterminant() gives log|det P| and the
   sign. PCH2ULVGetLogDeterminantCorrection() estimates log det A - log det P for the operator A.

   Level: intermediate

.seealso: PCH2ULV, PCH2ULVGetLogAbsDeterminant(), PCH2ULVGetLogDeterminantCorrection(), PCH2ULVGetInertia()
@*/
PetscErrorCode PCH2ULVGetLogDeterminant(PC pc, PetscReal *logdet)
{
  PetscInt sign = 1;

  PetscFunctionBegin;
  PetscUseMethod(pc, "PCH2ULVGetLogDeterminant_C", (PC, PetscReal *, PetscInt *), (pc, logdet, &sign));
  PetscCheck(sign > 0, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULVGetLogDeterminant: the determinant is negative (log|det| = %g); use PCH2ULVGetLogAbsDeterminant() for the sign", (double)*logdet);
  PetscFunctionReturn(0);
}

/*@
   PCH2ULVGetLogAbsDeterminant - log |det| and the sign of the determinant of the factored operator

   Collective on PC

   Input Parameter:
.  pc - the PCH2ULV preconditioner, set up

   Output Parameters:
+  logabsdet - log |det P|
-  sign      - +1 or -1, the sign of det P

   Level: intermediate

.seealso: PCH2ULV, PCH2ULVGetLogDeterminant(), PCH2ULVGetInertia()
@*/
PetscErrorCode PCH2ULVGetLogAbsDeterminant(PC pc, PetscReal *logabsdet, PetscInt *sign)
{
  PetscFunctionBegin;
  PetscUseMethod(pc, "PCH2ULVGetLogDeterminant_C", (PC, PetscReal *, PetscInt *), (pc, logabsdet, sign));
  PetscFunctionReturn(0);
}

/*@
   PCH2ULVGetInfo - memory of the factorization and the flops of the last factorization

   Not Collective

   Input Parameter:
.  pc - the PCH2ULV preconditioner, set up

   Output Parameters:
+  bytes - memory of the factorization (its own H^2 and the factors), in bytes (or NULL)
-  flops - the flops executed by the last factorization (or NULL)

   Level: intermediate

.seealso: PCH2ULV, PCH2ULVSetTolerance(), MatH2GetInfo()
@*/
PetscErrorCode PCH2ULVGetInfo(PC pc, PetscLogDouble *bytes, PetscLogDouble *flops)
{
  PetscFunctionBegin;
  PetscUseMethod(pc, "PCH2ULVGetInfo_C", (PC, PetscLogDouble *, PetscLogDouble *), (pc, bytes, flops));
  PetscFunctionReturn(0);
}

/*@
   PCH2ULVSetTolerance - compression tolerance and rank cap of the factorization's own fill-in-aware H^2

   Logically Collective on PC

   Input Parameters:
+  pc      - the PCH2ULV preconditioner
.  rtol    - the relative tolerance; 0: the matrix's -mat_h2_rtol
-  maxrank - the rank cap; 0: the matrix's -mat_h2_max_rank

   Options Database Keys:
+  -pc_h2ulv_rtol <0> - the tolerance
-  -pc_h2ulv_max_rank <0> - the rank cap

   Notes:
   A loose tolerance (1e-3 .. 1e-6) makes a cheap preconditioner for GMRES/FGMRES; a tight one,
   below 1/cond(A), a direct solver.

   Level: beginner

.seealso: PCH2ULV, MatH2SetTolerance(), PCH2ULVGetInfo()
@*/
PetscErrorCode PCH2ULVSetTolerance(PC pc, PetscReal rtol, PetscInt maxrank)
{
  PetscFunctionBegin;
  PetscTryMethod(pc, "PCH2ULVSetTolerance_C", (PC, PetscReal, PetscInt), (pc, rtol, maxrank));
  PetscFunctionReturn(0);
}

/*@
   PCH2ULVGetInertia - numbers of negative, zero and positive eigenvalues of the factored symmetric matrix

   Collective on PC

   Input Parameter:
.  pc - the PCH2ULV preconditioner, set up on a symmetric matrix

   Output Parameters:
+  neg  - the number of negative eigenvalues (or NULL)
.  zero - the number of zero eigenvalues (or NULL)
-  pos  - the number of positive eigenvalues (or NULL)

   Notes:
   Sylvester's law applied to the pivot blocks of the ULV congruence: the inertia of the H^2-ULV
   approximation of the preconditioning matrix. It equals that of the exact matrix for every
   eigenvalue farther than the approximation error from zero (docs/accuracy.md, "Inertia").
   MatGetInertia() on the factor of -pc_factor_mat_solver_type h2ulv gives the same.

   Level: intermediate

.seealso: PCH2ULV, PCH2ULVGetLogAbsDeterminant(), MatGetInertia()
@*/
PetscErrorCode PCH2ULVGetInertia(PC pc, PetscInt *neg, PetscInt *zero, PetscInt *pos)
{
  PetscFunctionBegin;
  PetscUseMethod(pc, "PCH2ULVGetInertia_C", (PC, PetscInt *, PetscInt *, PetscInt *), (pc, neg, zero, pos));
  PetscFunctionReturn(0);
}

PetscErrorCode PCH2ULVSetFactorization_Private(PC pc, PetscBool lu)
{
  PetscFunctionBegin;
  Data(pc)->ftype = lu ? PCH2ULV_FACTOR_LU : PCH2ULV_FACTOR_AUTO;
  Data(pc)->inFactor = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* -pc_factor_zeropivot of PCCHOLESKY/PCLU around MatSolverType h2ulv: taken as the relative zero pivot
   unless -pc_h2ulv_zeropivot was given (PETSc's default, 100 eps, keeps the PC's own default) */
PetscErrorCode PCH2ULVSetFactorZeroPivot_Private(PC pc, PetscReal zp)
{
  PC_H2ULV *p = Data(pc);

  PetscFunctionBegin;
  if (p->zeropivotSet || zp == (PetscReal)(100 * PETSC_MACHINE_EPSILON) || zp == p->zeropivot) PetscFunctionReturn(0);
  PetscCheck(zp >= 0 && zp < 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_factor_zeropivot must lie in [0, 1) for MatSolverType h2ulv (relative to the largest |A_ii|), got %g", (double)zp);
  PetscCall(PCH2ULVInvalidate_Private(pc));
  p->zeropivot = zp;
  PetscFunctionReturn(0);
}

PetscErrorCode H2ULVRegisterPC_Private(void)
{
  PetscFunctionBegin;
  PetscCall(PCInitializePackage());
  PetscCall(PCRegister(PCH2ULV, PCCreate_H2ULV));
  PetscCall(PetscLogEventRegister("PCH2ULVSetup", PC_CLASSID, &PCH2ULV_Setup));
  PetscCall(PetscLogEventRegister("PCH2ULVSolve", PC_CLASSID, &PCH2ULV_Solve));
  PetscCall(PetscLogEventRegister("PCH2ULVFactComm", PC_CLASSID, &PCH2ULV_FactComm));
  PetscCall(PetscLogEventRegister("PCH2ULVSolveComm", PC_CLASSID, &PCH2ULV_SolveComm));
  PetscCall(PetscLogEventRegister("PCH2ULVRoot", PC_CLASSID, &PCH2ULV_Root));
  {
    const char *names[6] = {"PCH2ULVBatGemm", "PCH2ULVBatTrsm", "PCH2ULVBatPotrf", "PCH2ULVBatGetrf", "PCH2ULVBatGetrs", "PCH2ULVBatCopy"};
    for (int i = 0; i < 6; i++) PetscCall(PetscLogEventRegister(names[i], PC_CLASSID, &PCH2ULV_Batch[i]));
  }
  PetscCall(H2ULVRegisterSolverType_Private());
  PetscFunctionReturn(0);
}
