/*
   PCH2ULV ("h2ulv"): the fill-in-aware H^2-ULV factorization (Ma, Deshmukh & Yokota, SC22; Ma &
   Yokota, IJHPCA 2024) as a PETSc preconditioner or direct solver.  This file is the type: its
   options, view, composed functions and public API; PCSetUp is in pch2ulvsetup.cxx, the solves in
   pch2ulvapply.cxx (private header pch2ulvimpl.h), the numerical work in src/core/ulv*.cpp.
*/
#include "pch2ulvimpl.h"

static const char *const PCH2ULVFactorTypes[] = {"auto", "cholesky", "lu", "PCH2ULVFactorType", "PCH2ULV_FACTOR_", NULL};
static const char *const PCH2ULVFillIns[] = {"none", "nearfield", "generator", "auto", "PCH2ULVFillIn", "PCH2ULV_FILLIN_", NULL};
static const char *const PCH2ULVSchurs[] = {"diag", "near1", "twohop", "PCH2ULVSchur", "PCH2ULV_SCHUR_", NULL};
static const char *const PCH2ULVPrecisions[] = {"double", "single", "PCH2ULVPrecision", "PCH2ULV_PRECISION_", NULL};

static const char *const PCH2ULVTensorCoreModes[] = {"off", "plain", "corrected", "PCH2ULVTensorCores", "PCH2ULV_TENSOR_", NULL};
static const char *const PCH2ULVBackendTypes[] = {"host", "cuda", "kokkos", "PCH2ULVBackendType", "PCH2ULV_BACKEND_", NULL};

/* forget the factorization (a changed option): the next PCSetUp builds it anew */
PetscErrorCode PCH2ULVInvalidate_Private(PC pc)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  p->fact.reset();
  p->srctree.reset();
  PetscFunctionReturn(0);
}

static PetscErrorCode PCReset_H2ULV(PC pc)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  p->pending = PETSC_FALSE;
  p->fact.reset();
  p->tree.reset();
  p->srctree.reset();
  p->evaluator.reset();
  p->srcev.reset();
  p->map.clear();
  PetscCall(MatDestroy(&p->h2));
  PetscCall(PCH2ULVResetHalves_Private(pc));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCSetCoordinates_H2ULV(PC pc, PetscInt dim, PetscInt nloc, PetscReal coords[])
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  PetscCheck(dim >= 1 && dim <= 3, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCSetCoordinates: dim = %" PetscInt_FMT " but it must be 1, 2 or 3", dim);
  p->cdim = dim;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)pc), PETSC_TRUE, [&]() { p->coords.assign(coords, coords + nloc * dim); }));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCSetFromOptions_H2ULV(PC pc, PetscOptionItems *PetscOptionsObject)
{
  PC_H2ULV *p = PCH2ULVData(pc);
  PetscReal rtol = p->rtol, krtol = p->krylovRtol;
  PetscInt  mr = p->maxrank, ns = p->nsamples;
  PetscBool rtolSet;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "H2-ULV factorization options");
  PetscCall(PetscOptionsReal("-pc_h2ulv_rtol", "Compression tolerance of the factorization's own fill-in-aware H2 (0: the matrix's -mat_h2_rtol; not given: chosen by use, see -pc_h2ulv_krylov_rtol)", "PCH2ULVSetTolerance", rtol, &rtol, &rtolSet));
  PetscCheck(rtol >= 0 && rtol < 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_rtol must lie in [0, 1), got %g", (double)rtol);
  PetscCall(PetscOptionsReal("-pc_h2ulv_krylov_rtol", "Without -pc_h2ulv_rtol: the tolerance of a factorization used inside a Krylov method (never below the matrix's); direct solves use the matrix's", "", krtol, &krtol, NULL));
  PetscCheck(krtol > 0 && krtol < 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_krylov_rtol must lie in (0, 1), got %g", (double)krtol);
  {
    PetscReal th = p->theta;
    PetscInt  lf = p->leafsize;
    PetscCall(PetscOptionsReal("-pc_h2ulv_theta", "Admissibility theta of the factorization's own cluster tree (negative: use the matrix's tree; 0: the matrix's where sampled leaves are dominated by their diagonal blocks, else 1)", "", th, &th, NULL));
    PetscCheck(!PetscIsInfOrNanReal(th), PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_theta must be a finite number (negative: the matrix's tree; 0: chosen), got %g", (double)th);
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
  PetscCall(PetscOptionsEnum("-pc_h2ulv_factorization", "Pivot factorization: auto (Cholesky for symmetric matrices, of the negative when the diagonal is negative; LU where that fails), cholesky (fail where it fails), lu", "", PCH2ULVFactorTypes, (PetscEnum)p->ftype, (PetscEnum *)&p->ftype, NULL));
  PetscCall(PetscOptionsEnum("-pc_h2ulv_fillin", "What the bases capture besides the far field: auto (per cell: nothing where its block row is dominated by its diagonal block and the solve corrects for the dropped couplings, else the generators), generator (A_ik A_kk^-1), nearfield (kernel samples of the near cells), none", "", PCH2ULVFillIns, (PetscEnum)p->fillin, (PetscEnum *)&p->fillin, NULL));
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
    PetscBool op = p->rtolDiagonal;
    PetscCall(PetscOptionsBool("-pc_h2ulv_rtol_diagonal", "Where a cell's own block dominates its diagonal, the bases' tolerance also relative to its dominance margin (a lower bound of its smallest singular value) and the fill-in generators weighted by at most that margin; false: every block to rtol of itself", "", op, &op, NULL));
    if (op != p->rtolDiagonal) PetscCall(PCH2ULVInvalidate_Private(pc));
    p->rtolDiagonal = op;
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
  PetscCall(PetscOptionsReal("-pc_h2ulv_keep_kernel_mb", "From the first refactorization (MatShift ...) on, keep the kernel's leaf near blocks and couplings for the next ones while they take at most about this many MB; larger: evaluated again by each refactorization", "", p->keepKernelMB, &p->keepKernelMB, NULL));
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
  {
    PetscBool c = p->cross;
    PetscCall(PetscOptionsBool("-pc_h2ulv_cross_correction", "The solve corrects, to first order, for the couplings between the redundant parts of near cells that the factorization drops (keeps those blocks: more memory, a slower solve)", "", c, &c, NULL));
    if (c != p->cross) PetscCall(PCH2ULVInvalidate_Private(pc));
    p->cross = c;
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
    PetscBool          req = p->backendRequired;
    PCH2ULVTensorCores tc  = p->tensor;
    PetscCall(PetscOptionsEnum("-pc_h2ulv_backend", "Where the batched dense operations of the factorization and the solve run: host (BLAS/LAPACK over threads), cuda (cuBLAS/cuSOLVER), kokkos (KokkosBatched); an unusable device falls back to host", "PCH2ULVSetBackend", PCH2ULVBackendTypes, (PetscEnum)be, (PetscEnum *)&be, NULL));
    PetscCall(PetscOptionsBool("-pc_h2ulv_backend_required", "Error out instead of falling back to the host when the -pc_h2ulv_backend is not usable", "PCH2ULVSetBackend", req, &req, NULL));
    PetscCall(PetscOptionsEnum("-pc_h2ulv_tensor_cores", "With -pc_h2ulv_precision single: the GEMMs on TF32 tensor cores, plain (operands rounded to TF32) or corrected (each operand split into two TF32 parts, three products: FP32 accuracy); on the cuda backend's tensor cores, emulated by the host backend (a check of the numerics, slower than off)", "", PCH2ULVTensorCoreModes, (PetscEnum)tc, (PetscEnum *)&tc, NULL));
    PetscCall(PCH2ULVSetBackend(pc, be, req));
    if (tc != p->tensor) PetscCall(PCH2ULVInvalidate_Private(pc));
    p->tensor = tc;
  }
  PetscCall(PetscOptionsBool("-pc_h2ulv_monitor", "Print a line per level of the setup (bases and factorization): elapsed time and an estimate of what remains", "", p->monitor, &p->monitor, NULL));
  PetscCall(PetscOptionsBool("-pc_h2ulv_dropped_norms", "Measure the Schur terms that fall outside the H2 pattern (diagnostic, costs extra)", "", p->dropped, &p->dropped, NULL));
  PetscCall(PetscOptionsInt("-pc_h2ulv_logdet_probes", "Random probes of the stochastic Lanczos estimate of log det A - log det P (PCH2ULVGetLogDeterminantCorrection with PETSC_DEFAULT)", "PCH2ULVGetLogDeterminantCorrection", p->ldProbes, &p->ldProbes, NULL));
  PetscCheck(p->ldProbes >= 2, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_h2ulv_logdet_probes must be at least 2 (the standard error needs two), got %" PetscInt_FMT, p->ldProbes);
  PetscCall(PetscOptionsBool("-pc_h2ulv_logdet_view", "After each setup: estimate log det A - log det P (A the operator) and print log det P, the correction with its standard error and their sum", "PCH2ULVGetLogDeterminantCorrection", p->ldView, &p->ldView, NULL));
  PetscOptionsHeadEnd();
  if (rtol != p->rtol || mr != p->maxrank || ns != p->nsamples || (rtolSet && !p->rtolSet) || krtol != p->krylovRtol) {
    PetscCall(PCH2ULVInvalidate_Private(pc));
  }
  p->rtolSet    = (PetscBool)(p->rtolSet || rtolSet);
  p->krylovRtol = krtol;
  p->rtol       = rtol;
  p->maxrank  = mr;
  p->nsamples = ns;
  PetscFunctionReturn(0);
}

/* the CPU time of this process (every thread, also those waiting in a spin) over the wall time, in
   percent: 200 is two threads busy throughout */
static double Utilisation(double cpu, double wall)
{
  return wall > 0 ? 100.0 * cpu / wall : 0.0;
}

static PetscErrorCode PCView_H2ULV(PC pc, PetscViewer viewer)
{
  PC_H2ULV *p = PCH2ULVData(pc);
  PetscBool isascii;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &isascii));
  if (!isascii) PetscFunctionReturn(0);
  PetscCall(PetscViewerASCIIPrintf(viewer, "  H2-ULV (h2ulv): fill-in %s, Schur %s, factorization %s, precision %s%s%s, %s\n", PCH2ULVFillIns[p->fillin], PCH2ULVSchurs[p->schur], PCH2ULVFactorTypes[p->ftype], PCH2ULVPrecisions[p->precision], p->tensor ? ", tensor cores " : "", p->tensor ? PCH2ULVTensorCoreModes[p->tensor] : "", p->map.empty() ? "the matrix's cluster tree" : "its own cluster tree"));
  if (p->pending) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  factorization deferred to its first use: tolerance %g inside a Krylov method (-pc_h2ulv_krylov_rtol), the matrix's for a direct solve (-pc_h2ulv_rtol fixes it)\n", (double)p->krylovRtol));
    PetscFunctionReturn(0);
  }
  if (!p->fact) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  (not set up)\n"));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "  tolerance %g: %s; %s\n", (double)p->usedRtol, p->use == PCH2ULV_USE_GIVEN ? "given (-pc_h2ulv_rtol or PCH2ULVSetTolerance)" : p->use == PCH2ULV_USE_KRYLOV ? "preconditioner of a Krylov method, no -pc_h2ulv_rtol (-pc_h2ulv_krylov_rtol)" : "direct solve, no -pc_h2ulv_rtol (the matrix's -mat_h2_rtol)",
                                   p->rtolDiagonal ? "relative to each block, or to its diagonal dominance margin where a cell's own block dominates (-pc_h2ulv_rtol_diagonal)" : "relative to each block alone (-pc_h2ulv_rtol_diagonal 0)"));
  if (p->tree && !p->tree->geometric()) PetscCall(PetscViewerASCIIPrintf(viewer, "  admissibility: the matrix's cluster tree from its entries (-pc_h2ulv_theta does not apply)\n"));
  else if (p->theta != 0) PetscCall(PetscViewerASCIIPrintf(viewer, "  admissibility theta %g: %s\n", (double)p->thetaUsed, p->theta < 0 ? "the matrix's (-pc_h2ulv_theta < 0)" : "given (-pc_h2ulv_theta)"));
  else if (p->thetaRatio >= 0 && PetscIsInfReal(p->thetaRatio)) PetscCall(PetscViewerASCIIPrintf(viewer, "  admissibility theta %g: chosen (-pc_h2ulv_theta 0): a sampled leaf's diagonal block has no dominance margin (or a diagonal of both signs, or no far field)\n", (double)p->thetaUsed));
  else if (p->thetaRatio >= 0)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  admissibility theta %g: chosen (-pc_h2ulv_theta 0): the sampled leaves' block rows have sum_k ||A_ik||_F %s %g times their diagonal dominance margin (%.3g)\n", (double)p->thetaUsed, p->thetaRatio <= h2ulv::kFarOnlyRatio ? "<=" : ">", h2ulv::kFarOnlyRatio, p->thetaRatio));
  else PetscCall(PetscViewerASCIIPrintf(viewer, "  admissibility theta %g: chosen (-pc_h2ulv_theta 0; the matrix's wider one is tried on one process, with -pc_h2ulv_fillin auto and -pc_h2ulv_cross_correction)\n", (double)p->thetaUsed));
  const PCH2ULVFactorization &f   = *p->fact;
  const auto                 &st  = f.levelStats();
  const auto                 &sta = f.status();
  const double                mem = (double)f.bytes();
  PetscCall(PetscViewerASCIIPrintf(viewer, "  memory %.4g MB, factorization %.4g Gflop, dense root block %d (the cells of level %d%s); setup %.3g s (bases %.3g s at %.0f %% CPU, factorization %.3g s at %.0f %% CPU); %" PetscInt_FMT " setups, %" PetscInt_FMT " refactorizations\n", mem / 1048576.0, f.factorFlops() / 1e9, f.rootSize(), f.rootLevel(), f.rootForCap() ? ", where the bases would have reached the rank cap" : "", p->t_setup, f.timeBasis(), Utilisation(f.cpuBasis(), f.timeBasis()), f.timeFactor(), Utilisation(f.cpuFactor(), f.timeFactor()), p->nsetups, p->nrefactor));
  {
    size_t fb, bb, kb;
    f.bytesSplit(fb, bb, kb);
    PetscCall(PetscViewerASCIIPrintf(viewer, "  memory: factors %.4g MB, bases %.4g MB, kernel blocks kept for refactorizations %.4g MB\n", fb / 1048576.0, bb / 1048576.0, kb / 1048576.0));
  }
  {
    PetscMPIInt size;
    PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)pc), &size));
    if (size > 1) { /* distributed: the largest share and what was communicated (max over processes) */
      const h2ulv::UlvCommStats &cs  = f.commStats();
      const h2ulv::Layout       &lay = f.layout();
      double loc[6] = {mem, (double)(lay.pointEnd() - lay.pointBegin()), cs.factorBytes, (double)cs.factorMessages, cs.solveBytes, (double)cs.solveMessages}, mx[6];
      PetscCall(MPIU_Allreduce(loc, mx, 6, MPI_DOUBLE, MPI_MAX, PetscObjectComm((PetscObject)pc)));
      PetscCall(PetscViewerASCIIPrintf(viewer, "  %d processes (subtree ownership, replicated root): at most %.0f points and %.4g MB per process; sent per process, at most: %.4g MB in %.0f messages by the factorizations, %.4g MB in %.0f messages by the solves so far (-log_view: PCH2ULVFactComm, PCH2ULVSolveComm)\n", (int)size, mx[1], mx[0] / 1048576.0, mx[2] / 1048576.0, mx[3], mx[4] / 1048576.0, mx[5]));
    }
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "  backend: %s%s%s\n", f.backendDescription().c_str(), f.backendNote().empty() ? "" : "; ", f.backendNote().c_str()));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  status: %s%s%s\n", sta.ok ? "factored" : sta.message.c_str(), f.negated() ? " (the negative of the matrix: its diagonal is negative)" : "", sta.usedLU ? " (LU used where Cholesky failed)" : ""));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  level  rank min/mean/max   Gflop  capped   dropped-term norm\n"));
  int ncap = 0;
  for (size_t l = (size_t)f.rootLevel() + 1; l < st.size(); l++) {
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %5d  %4d %7.1f %4d  %7.3f  %6d   %s%.3e\n", (int)l, st[l].minrank, st[l].meanrank, st[l].maxrank, st[l].flops / 1e9, st[l].ncapped, p->dropped ? "" : "(not measured) ", st[l].dropped));
    ncap += st[l].ncapped;
  }
  {
    int nfar = 0, ncells = 0, lo = -1, hi = -1;
    for (size_t l = (size_t)f.rootLevel() + 1; l < st.size(); l++) {
      nfar += st[l].nfarOnly;
      ncells += 1 << l;
      if (st[l].corrected) hi = (int)l, lo = lo < 0 ? (int)l : lo;
    }
    PetscMPIInt size;
    PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)pc), &size));
    if (lo >= 0) PetscCall(PetscViewerASCIIPrintf(viewer, "  fill-in: %d of %d cells with bases from the far field alone; the solve corrects for the dropped couplings of redundant parts on levels %d-%d (-pc_h2ulv_cross_correction)\n", nfar, ncells, lo, hi));
    else if (p->cross && size > 1 && (p->fillin == PCH2ULV_FILLIN_AUTO || p->fillin == PCH2ULV_FILLIN_NONE)) PetscCall(PetscViewerASCIIPrintf(viewer, "  fill-in: the solve's correction for the dropped couplings runs on one process only: not used here (auto: generators in every cell)\n"));
  }
  PetscCall(PCH2ULVLogDetView_Private(pc, viewer));
  if (ncap) PetscCall(PetscViewerASCIIPrintf(viewer, "  WARNING: %d cell(s) reached the rank cap before the tolerance (capped): the factorization is less accurate than its rtol there; raise -pc_h2ulv_max_rank (or -mat_h2_max_rank), or factor the top levels densely with -pc_h2ulv_root_size_capped <n>\n", ncap));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVGetLogDeterminant_H2ULV(PC pc, PetscReal *logdet, PetscInt *sign)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  PetscCall(PCH2ULVSetUpDirect_Private(pc, PETSC_TRUE));
  PetscCheck(p->fact, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV is not set up: call PCSetUp() or KSPSetUp() first");
  PetscCheck(!pc->failedreason, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV: the factorization failed, there is no determinant");
  *logdet = p->fact->logAbsDet();
  if (sign) *sign = p->fact->detSign();
  PetscFunctionReturn(0);
}

/* PCH2ULVGetLogDeterminantCorrection: PETSC_DEFAULT probes are -pc_h2ulv_logdet_probes (h2ulvlogdet.cxx) */
static PetscErrorCode PCH2ULVLogDetCorrection_H2ULV(PC pc, PetscInt nprobes, PetscInt maxits, PetscReal *corr, PetscReal *se)
{
  PetscFunctionBegin;
  PetscCall(PCH2ULVLogDetSLQ_Private(pc, nprobes == PETSC_DEFAULT ? PCH2ULVData(pc)->ldProbes : nprobes, maxits, corr, se));
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVGetInertia_H2ULV(PC pc, PetscInt *neg, PetscInt *zero, PetscInt *pos)
{
  PC_H2ULV *p = PCH2ULVData(pc);
  long      in[3];

  PetscFunctionBegin;
  PetscCall(PCH2ULVSetUpDirect_Private(pc, PETSC_TRUE));
  PetscCheck(p->fact, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV is not set up: call PCSetUp() or KSPSetUp() first");
  PetscCheck(!pc->failedreason, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV: the factorization failed, there is no inertia");
  const bool has = p->fact->hasInertia();
  PetscCheck(has, PetscObjectComm((PetscObject)pc), PETSC_ERR_SUP, "PCH2ULV: the inertia is defined for symmetric matrices only (this one is factored as nonsymmetric)");
  p->fact->inertia(in[0], in[1], in[2]);
  if (neg) *neg = (PetscInt)in[0];
  if (zero) *zero = (PetscInt)in[1];
  if (pos) *pos = (PetscInt)in[2];
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVSetTolerance_H2ULV(PC pc, PetscReal rtol, PetscInt maxrank)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  PetscCheck(rtol >= 0 && rtol < 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCH2ULVSetTolerance: rtol must lie in [0, 1) (0: the matrix's), got %g", (double)rtol);
  PetscCheck(maxrank >= 0 || maxrank == PETSC_DEFAULT, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "PCH2ULVSetTolerance: maxrank must be non-negative (0: the matrix's), got %" PetscInt_FMT, maxrank);
  if (maxrank == PETSC_DEFAULT) maxrank = 0;
  if (rtol != p->rtol || maxrank != p->maxrank || !p->rtolSet) {
    PetscCall(PCH2ULVInvalidate_Private(pc));
  }
  p->rtolSet = PETSC_TRUE;
  p->rtol    = rtol;
  p->maxrank = maxrank;
  PetscFunctionReturn(0);
}

static PetscErrorCode PCH2ULVGetInfo_H2ULV(PC pc, PetscLogDouble *bytes, PetscLogDouble *flops)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  PetscCall(PCH2ULVSetUpDirect_Private(pc, PETSC_FALSE));
  PetscCheck(p->fact, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULV is not set up: call PCSetUp() or KSPSetUp() first");
  if (bytes) *bytes = (PetscLogDouble)p->fact->bytes();
  if (flops) *flops = p->fact->factorFlops();
  PetscFunctionReturn(0);
}

static PetscErrorCode PCDestroy_H2ULV(PC pc)
{
  PetscFunctionBegin;
  PetscCall(PCReset_H2ULV(pc));
  delete PCH2ULVData(pc);
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
  PC_H2ULV *p = PCH2ULVData(pc);

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
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  if (requested) *requested = p->backend;
  if (used) {
    PetscCall(PCH2ULVSetUpDirect_Private(pc, PETSC_FALSE));
    PetscCheck(p->fact, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_WRONGSTATE, "PCH2ULVGetBackend: the backend in use is known after PCSetUp()");
    const h2ulv::BackendKind k = p->fact->backendKind();
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

   Tolerance: -pc_h2ulv_rtol when given; else chosen by use at the first KSPSolve (PCPreSolve) or
   apply: -pc_h2ulv_krylov_rtol (1e-4, never tighter than the matrix's) inside a Krylov method, the
   matrix's -mat_h2_rtol for a direct solve (KSPPREONLY or one iteration, PCApply outside a KSP,
   MatSolverType h2ulv, log-det, inertia: these refactor a Krylov method's factorization).
   The tolerance is relative to each block (each cell's basis resolves its sample to rtol of its
   largest pivot), except where a cell's own diagonal block dominates (-pc_h2ulv_rtol_diagonal, the
   default): there a basis drops what is below rtol times that block's dominance margin (a lower
   bound of its smallest singular value), scaled down for the sampled far field and the number of
   cells of the level so that the factored operator stays within about rtol of the matrix, and the
   fill-in generators are weighed by at most that margin.  A matrix whose diagonal dwarfs its
   couplings (kappa near 1) then gets the low ranks its solution needs; -pc_h2ulv_rtol_diagonal 0
   resolves every block to rtol of itself.

   Fill-in: by default (-pc_h2ulv_fillin auto) a cell whose diagonal block has a diagonal of one sign
   and dominates its block row (its near couplings add up to at most 1e-3 of its dominance margin)
   takes its basis from the far field alone, like the matrix's own, and the solve corrects, to first
   order, for the couplings between the redundant parts of near cells that the factorization drops
   (-pc_h2ulv_cross_correction); the other cells also capture the fill-in generators A_ik A_kk^-1.
   The correction keeps those couplings (more memory, two more passes over them per solve) and runs on
   one process; on several processes every cell takes the generators.  PCApplySymmetricLeft/Right are
   the halves of the uncorrected factors (the log-determinant is theirs too).

   Admissibility: -pc_h2ulv_theta 0 (the default) chooses.  On one process, with the fill-in auto and
   the correction, it evaluates the block rows of 16 leaves spread over the matrix's tree with the
   matrix's admissibility (theta 2): where all of them pass the far-field test above, the
   factorization takes the matrix's theta (a farther far field: lower ranks, and the near blocks it
   adds are corrected, not compressed); else theta 1 (fewer near blocks for cells that take the
   generators).  PCView says which and why; -pc_h2ulv_theta t > 0 fixes it, t < 0 the matrix's tree.

   Options: -pc_h2ulv_rtol, -pc_h2ulv_krylov_rtol, -pc_h2ulv_rtol_diagonal, -pc_h2ulv_theta, -pc_h2ulv_leaf_size, -pc_h2ulv_max_rank, -pc_h2ulv_samples, -pc_h2ulv_factorization
   auto|cholesky|lu, -pc_h2ulv_fillin auto|generator|nearfield|none, -pc_h2ulv_cross_correction, -pc_h2ulv_schur twohop|near1|diag,
   -pc_h2ulv_precision double|single, -pc_h2ulv_dropped_norms, -pc_h2ulv_backend host|cuda|kokkos,
   -pc_h2ulv_backend_required, -pc_h2ulv_tensor_cores off|plain|corrected, -pc_h2ulv_logdet_probes, -pc_h2ulv_logdet_view,
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
PetscErrorCode PCCreate_H2ULV(PC pc)
{
  PetscFunctionBegin;
  pc->data                 = static_cast<void *>(new PC_H2ULV()); /* owned by the PC: deleted in PCDestroy_H2ULV */
  pc->ops->setup           = PCSetUp_H2ULV;
  pc->ops->presolve        = PCPreSolve_H2ULV;
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
   below 1/cond(A), a direct solver.  Without this call (or -pc_h2ulv_rtol) the tolerance follows
   the use: -pc_h2ulv_krylov_rtol (1e-4) inside a Krylov method, the matrix's for a direct solve
   (KSPPREONLY, MatSolverType h2ulv, log-det, inertia); rtol 0 here fixes the matrix's for every use.

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
  PCH2ULVData(pc)->ftype = lu ? PCH2ULV_FACTOR_LU : PCH2ULV_FACTOR_AUTO;
  PCH2ULVData(pc)->inFactor = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* -pc_factor_zeropivot of PCCHOLESKY/PCLU around MatSolverType h2ulv: taken as the relative zero pivot
   unless -pc_h2ulv_zeropivot was given (PETSc's default, 100 eps, keeps the PC's own default) */
PetscErrorCode PCH2ULVSetFactorZeroPivot_Private(PC pc, PetscReal zp)
{
  PC_H2ULV *p = PCH2ULVData(pc);

  PetscFunctionBegin;
  if (p->zeropivotSet || zp == (PetscReal)(100 * PETSC_MACHINE_EPSILON) || zp == p->zeropivot) PetscFunctionReturn(0);
  PetscCheck(zp >= 0 && zp < 1, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-pc_factor_zeropivot must lie in [0, 1) for MatSolverType h2ulv (relative to the largest |A_ii|), got %g", (double)zp);
  PetscCall(PCH2ULVInvalidate_Private(pc));
  p->zeropivot = zp;
  PetscFunctionReturn(0);
}
