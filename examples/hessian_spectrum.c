static const char help[] = "Spectrum of a Gauss-Newton Hessian with geometry: SLEPc on a MATSHELL, H2 matrices and H2-ULV factorizations.\n\
  -n <4096>          number of points (uniform in the unit cube: the cube-gaussian problem's points)\n\
  -ell <0.1>         width l of the Gaussian blur F_ij = g_l(x_i - x_j) / N, g_l(r) = exp(-r^2/l^2)\n\
  -gamma <g>         Tikhonov weight (default 1e-3 (pi l^2)^3, a thousandth of the continuum bound on lambda_max)\n\
  -f_rtol <1e-10>    H2 tolerance of the blur F inside the exact Hessian-vector product (-f_mat_h2_* for F's other options)\n\
  -ntop <20>         largest eigenvalues of the exact Hessian computed first (matvecs only)\n\
  -nev <6>           eigenvalues nearest the target (shift-and-invert on the exact Hessian)\n\
  -target <t>        default 0.5 lambda_max\n\
  -factored <0>      precondition shift-and-invert with (F - s I)^-1 (F + s I)^-1, s^2 = target - gamma (exact up to\n\
                     the H2 tolerances), not with the H2 approximation Happrox - target I\n\
  -interval <a,b>    interval for the eigenvalue counts (default: ends in the widest gaps of the ntop largest)\n\
  -dense <N<=4096>   check against the exact dense Hessian (PETSc MATDENSE, one process)\n\
  -max_err <1e-6>    largest relative eigenvalue error accepted against the dense Hessian (phases 1 and 2)\n\
  -max_err_slice <1e-4> the same for the eigenvalues from slicing F (they come from the H2-ULV factors alone)\n\
The solvers take options with these prefixes: -top_eps_ (largest), -eps_ and -st_ (nearest the target),\n\
-factored_pc_h2ulv_ (the factorizations of -factored), -slice_eps_ and -slice_st_ (count of Happrox), -fslice_eps_\n\
and -fslice_st_ (count of H through F), -dense_top_eps_, -dense_target_eps_, -dense_target_st_, -dense_norm_eps_\n\
(dense check); -mat_h2_* set the H2 approximation Happrox, -f_mat_h2_* the blur F.\n";

/*
  A linear inverse problem.  The parameter m (one value per point x_i, uniform in the unit cube) is
  observed through a Gaussian blur,

      d = F m + noise,    F_ij = w g_l(x_i - x_j),   g_l(r) = exp(-|r|^2 / l^2),   w = 1/N

  (w is the quadrature weight of the unit cube: F is the Nystrom discretisation of the convolution
  with g_l).  The regularised least-squares misfit J(m) = 1/2 |F m - d|^2 + gamma/2 |m|^2 has the
  Gauss-Newton Hessian (here the exact Hessian: J is quadratic)

      H = F^T F + gamma I = F F + gamma I        (F is symmetric).

  Its spectrum says how well the data determine m: the eigenvectors of the large eigenvalues are
  the smooth modes the data see, the ones near gamma the modes the regulariser decides; lambda_max
  bounds the step size of gradient descent on J (stable for steps below 2 / lambda_max).  In the
  continuum the eigenvalues of F are at most the Fourier transform of g_l at 0, (pi l^2)^{3/2}, so
  lambda_max(H) <~ (pi l^2)^3 + gamma (3.1e-5 for l = 0.1).

  H is dense, and so is F; the program never forms H.  It uses
    - the exact Hessian-vector product v -> F (F v) + gamma v (a MATSHELL, F a MATH2 at a tight
      tolerance), for everything whose answer must be the spectrum of H;
    - an H2 approximation Happrox of H, a model of it that can be factorized: in the continuum the
      convolution of two Gaussians is a Gaussian,

          int_R3 exp(-|x-z|^2/l^2) exp(-|z-y|^2/l^2) dz = (pi/2)^{3/2} l^3 exp(-|x-y|^2/(2 l^2))

      (complete the square: the integrand is exp(-|x-y|^2/(2l^2)) exp(-2|z-(x+y)/2|^2/l^2)), so
          (F F)_ij = w^2 sum_k g_l(x_i-x_k) g_l(x_k-x_j)  ~  w (pi/2)^{3/2} l^3 g_{sqrt2 l}(x_i - x_j):
      Happrox is the Gaussian kernel of width sqrt(2) l and scale w (pi/2)^{3/2} l^3, plus gamma on
      the diagonal, a MATH2 from the built-in kernel.  It is not the Hessian: the sum over the random
      points is a Monte-Carlo quadrature of the integral (about N (sqrt(pi) l)^3 points per kernel
      volume: 11 at N = 2048, l = 0.1), it includes the terms k = i and k = j (which alone add
      2 w^2 g_l(x_i - x_j), half the continuum value at r = 0 for N = 2048), and near the faces of
      the cube part of the integral is missing.  At N = 2048 ||H - Happrox||_2 is a third of
      lambda_max and the top eigenvalue of Happrox is 26% below that of H;
    - the blur F itself, which can be factorized too: H - sigma I = (F - s I)(F + s I) with
      s = sqrt(sigma - gamma).

  Phases:
    1. the -ntop largest eigenvalues of H (Krylov-Schur on the MATSHELL, matvecs only);
    2. the -nev eigenvalues of H nearest -target: shift-and-invert on the MATSHELL, the inner
       systems (H - sigma I) y = x solved by FGMRES to 1e-10, so the eigenvalues are those of H and
       the preconditioner only sets the iteration counts.  Preconditioner: Happrox - sigma I
       (STSetSplitPreconditioner: SLEPc shifts the MATH2 itself), applied by PCH2ULV, its H2-ULV
       factorization; or with -factored, (F - s I)^{-1} (F + s I)^{-1}, two H2-ULV factorizations of
       shifted copies of F, which is (H - sigma I)^{-1} up to the H2 tolerances: 2 iterations a
       solve instead of about 60 at N = 2048;
    3. the number of eigenvalues in [a, b] by spectrum slicing (Krylov-Schur with inertia counts
       from H2-ULV Cholesky factorizations, -st_pc_factor_mat_solver_type h2ulv).  Slicing factorizes
       the operator itself, so it cannot run on the MATSHELL:
       a. on Happrox: the count of the model, not of H;
       b. on F: H - sigma I = (F - s I)(F + s I) and F + s I is positive definite (F is: the
          Gaussian is a positive-definite function), so H - sigma I has the inertia of F - s I, and
          the eigenvalues of H in [a, b] are mu^2 + gamma for the eigenvalues mu of F in
          [sqrt(a - gamma), sqrt(b - gamma)]: the exact count of H, from factorizations of F alone.
    4. (-dense) the same against the exact dense Hessian: F as a MATDENSE from the kernel formula,
       H = F F + gamma I by MatMatMult, SLEPc with dense matvecs and PETSc's dense Cholesky
       (LAPACK sytrf) for shift-and-invert.  Phases 1 and 2 must agree with it to -max_err, the
       eigenvalues of 3b to -max_err_slice and its count exactly.  The count of 3a cannot: by Weyl's inequality the k-th eigenvalues of
       H and Happrox differ by at most eps = ||H - Happrox||_2, so the count of Happrox in [a, b] lies
       between the counts of H in [a + eps, b - eps] and in [a - eps, b + eps]; eps is measured
       (largest eigenvalue in magnitude of the dense H - Happrox) and that bound is asserted.  With
       eps a third of lambda_max (N = 2048) the bound is loose: Happrox is a model of H, good enough
       to precondition, not to count.
*/
#include <h2ulv.h>
#include <slepceps.h>

/* the exact Hessian-vector product */
typedef struct {
  Mat       F;     /* the blur, MATH2 */
  Vec       work;  /* F v */
  PetscReal gamma;
  PetscInt  nmult; /* Hessian-vector products so far */
} HessianCtx;

static PetscErrorCode HessianMult(Mat H, Vec x, Vec y)
{
  HessianCtx *ctx;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(H, &ctx));
  PetscCall(MatMult(ctx->F, x, ctx->work));
  PetscCall(MatMult(ctx->F, ctx->work, y)); /* F^T = F */
  PetscCall(VecAXPY(y, ctx->gamma, x));
  ctx->nmult++;
  PetscFunctionReturn(0);
}

/* -factored: the exact inverse of H - sigma I from two H2-ULV factorizations of the blur,
     H - sigma I = F F - s^2 I = (F + s I)(F - s I),  s = sqrt(sigma - gamma),
   so (H - sigma I)^{-1} = (F - s I)^{-1} (F + s I)^{-1} (the factors commute).  A PCSHELL applies it;
   the shift is read from the ST when the KSP sets the PC up. */
typedef struct {
  Mat       F, Fm, Fp; /* F, F - s I, F + s I */
  PC        pm, pp;    /* their H2-ULV factorizations */
  Vec       t;
  ST        st;
  PetscReal gamma;
} FactoredCtx;

static PetscErrorCode FactoredSetUp(PC pc)
{
  FactoredCtx *c;
  PetscScalar  sigma;
  PetscReal    s;

  PetscFunctionBegin;
  PetscCall(PCShellGetContext(pc, &c));
  PetscCall(STGetShift(c->st, &sigma));
  PetscCheck(PetscRealPart(sigma) > c->gamma, PetscObjectComm((PetscObject)pc), PETSC_ERR_ARG_OUTOFRANGE, "-factored needs a target above gamma");
  s = PetscSqrtReal(PetscRealPart(sigma) - c->gamma);
  PetscCall(MatDestroy(&c->Fm));
  PetscCall(MatDestroy(&c->Fp));
  PetscCall(MatDuplicate(c->F, MAT_COPY_VALUES, &c->Fm)); /* MATH2 duplicates share tree and bases */
  PetscCall(MatDuplicate(c->F, MAT_COPY_VALUES, &c->Fp));
  PetscCall(MatShift(c->Fm, -s));
  PetscCall(MatShift(c->Fp, s));
  if (!c->pm) {
    PetscCall(PCCreate(PetscObjectComm((PetscObject)pc), &c->pm));
    PetscCall(PCCreate(PetscObjectComm((PetscObject)pc), &c->pp));
    PetscCall(PCSetType(c->pm, PCH2ULV));
    PetscCall(PCSetType(c->pp, PCH2ULV));
    PetscCall(PCSetOptionsPrefix(c->pm, "factored_"));
    PetscCall(PCSetOptionsPrefix(c->pp, "factored_"));
    PetscCall(PCSetFromOptions(c->pm));
    PetscCall(PCSetFromOptions(c->pp));
    PetscCall(MatCreateVecs(c->F, &c->t, NULL));
  }
  PetscCall(PCSetOperators(c->pm, c->Fm, c->Fm));
  PetscCall(PCSetOperators(c->pp, c->Fp, c->Fp));
  PetscCall(PCSetUp(c->pm));
  PetscCall(PCSetUp(c->pp));
  PetscFunctionReturn(0);
}

static PetscErrorCode FactoredApply(PC pc, Vec r, Vec z)
{
  FactoredCtx *c;

  PetscFunctionBegin;
  PetscCall(PCShellGetContext(pc, &c));
  PetscCall(PCApply(c->pp, r, c->t));
  PetscCall(PCApply(c->pm, c->t, z));
  PetscFunctionReturn(0);
}

static int CmpDesc(const void *a, const void *b)
{
  PetscReal x = *(const PetscReal *)a, y = *(const PetscReal *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* the eigenvalues of a solved EPS (real: symmetric problems), count = all converged */
static PetscErrorCode GetEigenvalues(EPS eps, PetscInt *count, PetscReal **lambda)
{
  PetscFunctionBegin;
  PetscCall(EPSGetConverged(eps, count));
  PetscCall(PetscMalloc1(PetscMax(*count, 1), lambda));
  for (PetscInt i = 0; i < *count; i++) {
    PetscScalar kr;
    PetscCall(EPSGetEigenvalue(eps, i, &kr, NULL));
    (*lambda)[i] = PetscRealPart(kr);
  }
  PetscFunctionReturn(0);
}

/* number of v[0..n) in [a, b] */
static PetscInt CountIn(PetscInt n, const PetscReal v[], PetscReal a, PetscReal b)
{
  PetscInt c = 0;
  for (PetscInt i = 0; i < n; i++) c += (v[i] >= a && v[i] <= b);
  return c;
}

/* widest relative gap v[k-1] > v[k] for k in [lo, hi] (v descending) */
static PetscInt WidestGap(const PetscReal v[], PetscInt lo, PetscInt hi)
{
  PetscInt  best = lo;
  PetscReal g    = -1;
  for (PetscInt k = lo; k <= hi; k++) {
    PetscReal t = (v[k - 1] - v[k]) / v[k - 1];
    if (t > g) g = t, best = k;
  }
  return best;
}

/* a Krylov-Schur EPS for the symmetric M, its options under prefix (NULL: none) */
static PetscErrorCode CreateSymmetricEPS(Mat M, const char *prefix, EPS *e)
{
  PetscFunctionBeginUser;
  PetscCall(EPSCreate(PETSC_COMM_WORLD, e));
  if (prefix) PetscCall(EPSSetOptionsPrefix(*e, prefix));
  PetscCall(EPSSetOperators(*e, M, NULL));
  PetscCall(EPSSetProblemType(*e, EPS_HEP));
  PetscCall(EPSSetType(*e, EPSKRYLOVSCHUR));
  PetscFunctionReturn(0);
}

/* shift-and-invert for e with a direct solve, KSPPREONLY and PCCHOLESKY; the PC (to choose its solver type) */
static PetscErrorCode ShiftInvertCholesky(EPS e, PC *pc)
{
  ST  st;
  KSP ksp;

  PetscFunctionBeginUser;
  PetscCall(EPSGetST(e, &st));
  PetscCall(STSetType(st, STSINVERT));
  PetscCall(STGetKSP(st, &ksp));
  PetscCall(KSPSetType(ksp, KSPPREONLY));
  PetscCall(KSPGetPC(ksp, pc));
  PetscCall(PCSetType(*pc, PCCHOLESKY));
  PetscFunctionReturn(0);
}

/* All eigenvalues of the symmetric M in [lo, hi] by spectrum slicing: Krylov-Schur with
   shift-and-invert, each shift factorized by the H2-ULV Cholesky MatSolverType, whose inertia
   counts the eigenvalues (options under the given prefix). */
static PetscErrorCode SliceEigenvalues(Mat M, const char *prefix, PetscReal lo, PetscReal hi, PetscInt *count, PetscReal **lambda, PetscLogDouble *secs)
{
  EPS            e;
  PC             pc;
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(CreateSymmetricEPS(M, prefix, &e));
  PetscCall(EPSSetInterval(e, lo, hi));
  PetscCall(EPSSetWhichEigenpairs(e, EPS_ALL));
  PetscCall(ShiftInvertCholesky(e, &pc));
  PetscCall(PCFactorSetMatSolverType(pc, MATSOLVERH2ULV));
  PetscCall(EPSSetFromOptions(e));
  PetscCall(PetscTime(&t0));
  PetscCall(EPSSolve(e));
  PetscCall(PetscTime(&t1));
  PetscCall(GetEigenvalues(e, count, lambda));
  PetscCall(EPSDestroy(&e));
  *secs = t1 - t0;
  PetscFunctionReturn(0);
}

/* what the phases of the example share: the options, the three operators, the eigenvalues found */
typedef struct {
  PetscInt     N, nev, ntop;
  PetscReal    ell, gamma, frtol, target, maxerr, maxerrslice, w, iv[2];
  PetscBool    tgiven, igiven, dense, factored;
  H2ULVProblem prob;
  PetscInt     mloc, rstart, rend;
  PetscReal   *X;          /* the local points */
  Mat          F, Happrox; /* the blur and the H2 approximation of H, MATH2 */
  Mat          H;          /* the exact Hessian, MATSHELL */
  HessianCtx   hctx;
  FactoredCtx  fctx;
  EPS          etop, eps;                /* phases 1 and 2 */
  PetscReal   *top, *near, a, b;         /* the ntop largest, the nev nearest the target, the interval */
  PetscInt     cexact;                   /* the count of H in [a, b] from phase 1 (-1: unknown) */
  PetscInt     nslice, nfslice;          /* counts in [a, b] by slicing Happrox and F (nfslice -1: skipped) */
  PetscReal   *slice, *fslice;           /* their eigenvalues (of Happrox; of H through F), descending */
} Spectrum;

/* the first (at most 8) values of v[0..n), after a label */
static PetscErrorCode PrintLeading(const char *label, PetscInt n, const PetscReal v[])
{
  PetscFunctionBeginUser;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s", label));
  for (PetscInt i = 0; i < PetscMin(n, 8); i++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.6e", (double)v[i]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", n > 8 ? " ..." : ""));
  PetscFunctionReturn(0);
}

/* the command-line options (see help[]) */
static PetscErrorCode ReadOptions(Spectrum *s)
{
  PetscMPIInt size;
  PetscInt    nint = 2;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &s->N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-ell", &s->ell, NULL));
  PetscCheck(s->ell > 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-ell must be positive");
  s->gamma = 1e-3 * PetscPowReal(PETSC_PI * s->ell * s->ell, 3.0); /* the continuum F has lambda_max <= (pi l^2)^{3/2} */
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-gamma", &s->gamma, NULL));
  PetscCheck(s->gamma >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-gamma must be non-negative");
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-f_rtol", &s->frtol, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ntop", &s->ntop, NULL));
  PetscCheck(s->ntop >= 8, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-ntop must be at least 8 (the default interval is placed among them)");
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nev", &s->nev, NULL));
  PetscCheck(s->nev >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nev must be positive");
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-target", &s->target, &s->tgiven));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-interval", s->iv, &nint, &s->igiven));
  PetscCheck(!s->igiven || (nint == 2 && s->iv[0] < s->iv[1]), PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-interval needs two values a,b with a < b");
  s->dense = (PetscBool)(s->N <= 4096 && size == 1);
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-dense", &s->dense, NULL));
  PetscCheck(!s->dense || size == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP, "-dense runs on one process (PETSc's dense Cholesky is sequential)");
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err", &s->maxerr, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err_slice", &s->maxerrslice, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-factored", &s->factored, NULL));
  s->w = 1.0 / s->N;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "Gauss-Newton Hessian H = F F + gamma I, F = Gaussian blur (l = %g) on N = %" PetscInt_FMT " points in the unit cube, gamma = %.4g\n", (double)s->ell, s->N, (double)s->gamma));
  PetscFunctionReturn(0);
}

/* the points: those of the standard problem cube-gaussian (uniform in the unit cube), this process's rows */
static PetscErrorCode CreatePoints(Spectrum *s)
{
  PetscLayout map;

  PetscFunctionBeginUser;
  PetscCall(H2ULVProblemCreate("cube-gaussian", s->N, 0, &s->prob));
  PetscCall(PetscLayoutCreate(PETSC_COMM_WORLD, &map));
  PetscCall(PetscLayoutSetSize(map, s->N));
  PetscCall(PetscLayoutSetUp(map));
  PetscCall(PetscLayoutGetLocalSize(map, &s->mloc));
  PetscCall(PetscLayoutGetRange(map, &s->rstart, &s->rend));
  PetscCall(PetscLayoutDestroy(&map));
  PetscCall(PetscMalloc1(3 * s->mloc, &s->X));
  PetscCall(H2ULVProblemGetCoordinates(s->prob, s->rstart, s->rend, s->X));
  PetscFunctionReturn(0);
}

/* F: the Gaussian kernel scaled by w; its diagonal is w g_l(0) = w (the "diag" argument is the
   entry A_ii itself, no nugget).  Tight tolerance: H v is built from it and must be "exact". */
static PetscErrorCode BuildBlur(Spectrum *s)
{
  PetscLogDouble t0, t1, mem;
  MatH2Info      info;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &s->F));
  PetscCall(MatSetSizes(s->F, s->mloc, s->mloc, s->N, s->N));
  PetscCall(MatSetType(s->F, MATH2));
  PetscCall(MatSetOptionsPrefix(s->F, "f_"));
  PetscCall(MatH2SetCoordinates(s->F, 3, s->X));
  PetscCall(MatH2SetBuiltinKernel(s->F, MATH2_KERNEL_GAUSSIAN, s->w, s->ell, s->w, 0.0));
  PetscCall(MatH2SetTolerance(s->F, s->frtol, PETSC_DEFAULT));
  PetscCall(MatSetOption(s->F, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatSetFromOptions(s->F));
  PetscCall(MatAssemblyBegin(s->F, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(s->F, MAT_FINAL_ASSEMBLY));
  PetscCall(PetscTime(&t1));
  PetscCall(MatH2GetInfo(s->F, &info));
  PetscCall(MatH2GetMemory(s->F, &mem));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[build F      ] %7.2f s  H2 blur at rtol %g: max rank %" PetscInt_FMT ", %.1f MB\n", t1 - t0, (double)s->frtol, info.maxrank, mem / 1048576.0));
  PetscFunctionReturn(0);
}

/* Happrox: the continuum F F, a Gaussian of width sqrt(2) l, diagonal kernel(0) + gamma */
static PetscErrorCode BuildHapprox(Spectrum *s)
{
  PetscLogDouble t0, t1, mem;
  MatH2Info      info;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &s->Happrox));
  PetscCall(MatSetSizes(s->Happrox, s->mloc, s->mloc, s->N, s->N));
  PetscCall(MatSetType(s->Happrox, MATH2));
  PetscCall(MatH2SetCoordinates(s->Happrox, 3, s->X));
  PetscCall(MatH2SetBuiltinKernel(s->Happrox, MATH2_KERNEL_GAUSSIAN, s->w * PetscPowReal(PETSC_PI / 2, 1.5) * s->ell * s->ell * s->ell, PetscSqrtReal(2.0) * s->ell, PETSC_DEFAULT, s->gamma));
  PetscCall(MatSetOption(s->Happrox, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatSetFromOptions(s->Happrox));
  PetscCall(MatAssemblyBegin(s->Happrox, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(s->Happrox, MAT_FINAL_ASSEMBLY));
  PetscCall(PetscTime(&t1));
  PetscCall(MatH2GetInfo(s->Happrox, &info));
  PetscCall(MatH2GetMemory(s->Happrox, &mem));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[build Happrox] %7.2f s  H2 of the continuum F F: max rank %" PetscInt_FMT ", %.1f MB\n", t1 - t0, info.maxrank, mem / 1048576.0));
  PetscFunctionReturn(0);
}

/* H: the exact Hessian as a MATSHELL (and the blur handed to the -factored preconditioner) */
static PetscErrorCode CreateHessian(Spectrum *s)
{
  PetscFunctionBeginUser;
  s->hctx.F     = s->F;
  s->hctx.gamma = s->gamma;
  s->hctx.nmult = 0;
  PetscCall(MatCreateVecs(s->F, &s->hctx.work, NULL));
  s->fctx.F     = s->F;
  s->fctx.gamma = s->gamma;
  PetscCall(MatCreateShell(PETSC_COMM_WORLD, s->mloc, s->mloc, s->N, s->N, &s->hctx, &s->H));
  PetscCall(MatShellSetOperation(s->H, MATOP_MULT, (void (*)(void))HessianMult));
  PetscCall(MatShellSetOperation(s->H, MATOP_MULT_TRANSPOSE, (void (*)(void))HessianMult));
  PetscCall(MatSetOption(s->H, MAT_SYMMETRIC, PETSC_TRUE));
  PetscFunctionReturn(0);
}

/* 1. the largest eigenvalues of H: Krylov-Schur, matvecs only */
static PetscErrorCode LargestEigenvalues(Spectrum *s)
{
  PetscInt       ntopc, nmult0;
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(CreateSymmetricEPS(s->H, "top_", &s->etop));
  PetscCall(EPSSetWhichEigenpairs(s->etop, EPS_LARGEST_REAL));
  PetscCall(EPSSetDimensions(s->etop, s->ntop, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetTolerances(s->etop, 1e-10, PETSC_DEFAULT));
  PetscCall(EPSSetFromOptions(s->etop));
  nmult0 = s->hctx.nmult;
  PetscCall(PetscTime(&t0));
  PetscCall(EPSSolve(s->etop));
  PetscCall(PetscTime(&t1));
  PetscCall(GetEigenvalues(s->etop, &ntopc, &s->top));
  PetscCheck(ntopc >= s->ntop, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "the largest eigenvalues: %" PetscInt_FMT " of %" PetscInt_FMT " converged", ntopc, s->ntop);
  ntopc = s->ntop;
  qsort(s->top, ntopc, sizeof(PetscReal), CmpDesc);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[largest      ] %7.2f s  %" PetscInt_FMT " largest eigenvalues of H, %" PetscInt_FMT " Hessian-vector products\n", t1 - t0, s->ntop, s->hctx.nmult - nmult0));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  lambda_max = %.8e: gradient descent on J is stable for step sizes below 2/lambda_max = %.6g\n", (double)s->top[0], (double)(2 / s->top[0])));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  condition number of H <= lambda_max / gamma = %.3g\n", (double)(s->top[0] / s->gamma)));
  PetscCall(PrintLeading("  largest:", s->ntop, s->top));
  PetscFunctionReturn(0);
}

/* the target and the interval, from that part of the spectrum unless given */
static PetscErrorCode ChooseTargetAndInterval(Spectrum *s)
{
  PetscFunctionBeginUser;
  if (!s->tgiven) s->target = 0.5 * s->top[0];
  if (s->igiven) {
    s->a = s->iv[0], s->b = s->iv[1];
    if (s->a > s->top[s->ntop - 1]) s->cexact = CountIn(s->ntop, s->top, s->a, s->b); /* every eigenvalue >= a is among top[] */
  } else {
    PetscInt k1 = WidestGap(s->top, 1, s->ntop / 4), k2 = WidestGap(s->top, s->ntop / 2, s->ntop - 1);
    s->b      = 0.5 * (s->top[k1 - 1] + s->top[k1]);
    s->a      = 0.5 * (s->top[k2 - 1] + s->top[k2]);
    s->cexact = k2 - k1;
  }
  PetscFunctionReturn(0);
}

/* 2. the nev eigenvalues of H nearest the target: shift-and-invert on the exact H, the inner
      FGMRES preconditioned by the H2-ULV factorization of Happrox - sigma I (SLEPc builds it from
      Happrox with MatDuplicate and MatShift), or with -factored by (F - s I)^{-1} (F + s I)^{-1} */
static PetscErrorCode NearestTarget(Spectrum *s)
{
  PetscInt       nnear, its, tits, nmult0;
  PetscLogDouble t0, t1;
  ST             st;
  KSP            ksp;
  PC             pc;

  PetscFunctionBeginUser;
  PetscCall(CreateSymmetricEPS(s->H, NULL, &s->eps));
  PetscCall(EPSSetTarget(s->eps, s->target));
  PetscCall(EPSSetWhichEigenpairs(s->eps, EPS_TARGET_MAGNITUDE));
  PetscCall(EPSSetDimensions(s->eps, s->nev, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetTolerances(s->eps, 1e-10, PETSC_DEFAULT));
  PetscCall(EPSGetST(s->eps, &st));
  PetscCall(STSetType(st, STSINVERT));
  s->fctx.st = st;
  if (!s->factored) PetscCall(STSetSplitPreconditioner(st, 1, &s->Happrox, SAME_NONZERO_PATTERN));
  PetscCall(STGetKSP(st, &ksp));
  PetscCall(KSPSetType(ksp, KSPFGMRES));
  /* Happrox - sigma I is a rough model of H - sigma I near sigma (the eigenvalues of H and Happrox
     differ by far more than their spacing there): some tens of outlying eigenvalues of the
     preconditioned operator, which a restart of 30 never resolves; with 100 FGMRES converges in
     about 55 iterations a solve at N = 2048, 37 at N = 8192 (-factored: 2) */
  PetscCall(KSPGMRESSetRestart(ksp, 100));
  PetscCall(KSPSetTolerances(ksp, 1e-10, PETSC_DEFAULT, PETSC_DEFAULT, 1000));
  PetscCall(KSPGetPC(ksp, &pc));
  if (s->factored) {
    PetscCall(PCSetType(pc, PCSHELL));
    PetscCall(PCShellSetContext(pc, &s->fctx));
    PetscCall(PCShellSetSetUp(pc, FactoredSetUp));
    PetscCall(PCShellSetApply(pc, FactoredApply));
    PetscCall(PCShellSetName(pc, "(F - s I)^{-1} (F + s I)^{-1} by H2-ULV"));
  } else PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(EPSSetFromOptions(s->eps));
  nmult0 = s->hctx.nmult;
  PetscCall(PetscTime(&t0));
  PetscCall(EPSSolve(s->eps));
  PetscCall(PetscTime(&t1));
  PetscCall(GetEigenvalues(s->eps, &nnear, &s->near));
  PetscCheck(nnear >= s->nev, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "nearest the target: %" PetscInt_FMT " of %" PetscInt_FMT " converged", nnear, s->nev);
  PetscCall(EPSGetIterationNumber(s->eps, &its));
  PetscCall(KSPGetTotalIterations(ksp, &tits));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[near target  ] %7.2f s  %" PetscInt_FMT " eigenvalues of H nearest %.6e (shift-and-invert; preconditioner: H2-ULV of %s): %" PetscInt_FMT " restarts, %" PetscInt_FMT " inner iterations, %" PetscInt_FMT " Hessian-vector products\n", t1 - t0, s->nev,
                        (double)s->target, s->factored ? "F - s I and F + s I" : "Happrox - sigma I", its, tits, s->hctx.nmult - nmult0));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  nearest:"));
  for (PetscInt i = 0; i < s->nev; i++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.8e", (double)s->near[i]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));
  PetscFunctionReturn(0);
}

/* 3a. the count in [a, b] by spectrum slicing: Krylov-Schur, shift-and-invert with the H2-ULV
       Cholesky factorization of Happrox - sigma I, whose inertia gives the counts: those of the
       model Happrox, not of H */
static PetscErrorCode SliceHapprox(Spectrum *s)
{
  PetscLogDouble dt;

  PetscFunctionBeginUser;
  PetscCall(SliceEigenvalues(s->Happrox, "slice_", s->a, s->b, &s->nslice, &s->slice, &dt));
  qsort(s->slice, s->nslice, sizeof(PetscReal), CmpDesc);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[slice Happrox] %7.2f s  [a, b] = [%.6e, %.6e]: %" PetscInt_FMT " eigenvalues of the H2 approximation Happrox (inertia of its H2-ULV Cholesky factors)\n", dt, (double)s->a, (double)s->b, s->nslice));
  if (s->nslice) PetscCall(PrintLeading("  Happrox:", s->nslice, s->slice));
  PetscFunctionReturn(0);
}

/* 3b. the exact count, by slicing F.  H - sigma I = F F - s^2 I = (F - s I)(F + s I) with
       s = sqrt(sigma - gamma), and F + s I is positive definite (F is: the Gaussian is a
       positive-definite function), so H - sigma I has the inertia of F - s I.  The eigenvalues of
       H in [a, b] are mu^2 + gamma for the eigenvalues mu of F in [sqrt(a - gamma), sqrt(b - gamma)],
       and slicing F with its H2-ULV Cholesky factors counts them: the exact Hessian's count,
       from factorizations of the blur alone. */
static PetscErrorCode SliceBlur(Spectrum *s)
{
  const PetscReal gamma = s->gamma, a = s->a, b = s->b;
  PetscLogDouble  dt;

  PetscFunctionBeginUser;
  if (!(a > gamma)) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[slice F      ] skipped: a <= gamma\n"));
    PetscFunctionReturn(0);
  }
  PetscCall(SliceEigenvalues(s->F, "fslice_", PetscSqrtReal(a - gamma), PetscSqrtReal(b - gamma), &s->nfslice, &s->fslice, &dt));
  for (PetscInt i = 0; i < s->nfslice; i++) s->fslice[i] = s->fslice[i] * s->fslice[i] + gamma; /* mu -> mu^2 + gamma */
  qsort(s->fslice, s->nfslice, sizeof(PetscReal), CmpDesc);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[slice F      ] %7.2f s  [a, b] holds %" PetscInt_FMT " eigenvalues of the exact H (eigenvalues of F in [%.6e, %.6e], inertia of the H2-ULV Cholesky factors of F - s I)\n", dt, s->nfslice, (double)PetscSqrtReal(a - gamma), (double)PetscSqrtReal(b - gamma)));
  if (s->nfslice) PetscCall(PrintLeading("  H:      ", s->nfslice, s->fslice));
  if (s->cexact >= 0) {
    PetscCheck(s->nfslice == s->cexact, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "slicing F counted %" PetscInt_FMT " eigenvalues of H in [a, b], its largest eigenvalues (phase 1) %" PetscInt_FMT, s->nfslice, s->cexact);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  as many as among the largest eigenvalues of H (phase 1); Happrox, a continuum model of H, has %" PetscInt_FMT " %s\n", PetscAbsInt(s->nslice - s->nfslice), s->nslice > s->nfslice ? "more" : "fewer"));
  }
  PetscFunctionReturn(0);
}

/* 4. what the dense check computes: the dense H and H - Happrox, and the reference eigenvalues */
typedef struct {
  Mat            Hd, Ad;               /* H = F F + gamma I and H - Happrox, MATDENSE */
  PetscReal     *ref;                  /* the nref largest eigenvalues of the dense H, descending */
  PetscInt       nref;
  PetscReal      errtop, errnear, eps2; /* errors of phases 1 and 2; ||H - Happrox||_2 (with margin) */
  PetscLogDouble tnorm;                /* time of the norm */
} DenseRef;

/* 4a. F and the dense Happrox entry by entry; H = F F + gamma I, and H - Happrox */
static PetscErrorCode DenseBuild(Spectrum *s, DenseRef *d)
{
  const PetscInt  N = s->N;
  const PetscReal w = s->w, ell = s->ell, gamma = s->gamma, sa = w * PetscPowReal(PETSC_PI / 2, 1.5) * ell * ell * ell, l2 = 2 * ell * ell;
  Mat             Fd;
  PetscScalar    *fa, *aa;
  PetscReal      *Xall;
  PetscInt        lda, lda2;
  PetscLogDouble  t0, t1;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCall(PetscMalloc1(3 * N, &Xall));
  PetscCall(H2ULVProblemGetCoordinates(s->prob, 0, N, Xall));
  PetscCall(MatCreateDense(PETSC_COMM_WORLD, s->mloc, s->mloc, N, N, NULL, &Fd));
  PetscCall(MatCreateDense(PETSC_COMM_WORLD, s->mloc, s->mloc, N, N, NULL, &d->Ad));
  PetscCall(MatDenseGetArrayWrite(Fd, &fa));
  PetscCall(MatDenseGetArrayWrite(d->Ad, &aa));
  PetscCall(MatDenseGetLDA(Fd, &lda));
  PetscCall(MatDenseGetLDA(d->Ad, &lda2));
  PetscCheck(lda == lda2, PETSC_COMM_SELF, PETSC_ERR_PLIB, "dense matrices with different leading dimensions");
  for (PetscInt j = 0; j < N; j++) /* one process: all rows are local */
    for (PetscInt i = 0; i < N; i++) {
      PetscReal r2 = 0;
      for (PetscInt k = 0; k < 3; k++) r2 += PetscSqr(Xall[3 * i + k] - Xall[3 * j + k]);
      fa[i + (size_t)j * lda] = w * PetscExpReal(-r2 / (ell * ell));
      aa[i + (size_t)j * lda] = sa * PetscExpReal(-r2 / l2) + (i == j ? gamma : 0);
    }
  PetscCall(MatDenseRestoreArrayWrite(Fd, &fa));
  PetscCall(MatDenseRestoreArrayWrite(d->Ad, &aa));
  PetscCall(MatAssemblyBegin(Fd, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(Fd, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyBegin(d->Ad, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(d->Ad, MAT_FINAL_ASSEMBLY));
  PetscCall(MatMatMult(Fd, Fd, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &d->Hd));
  PetscCall(MatShift(d->Hd, gamma));
  PetscCall(MatSetOption(d->Hd, MAT_SYMMETRIC, PETSC_TRUE)); /* not SPD: the shifted copies are indefinite */
  PetscCall(MatAYPX(d->Ad, -1.0, d->Hd, SAME_NONZERO_PATTERN)); /* Ad = H - Happrox (dense) */
  PetscCall(MatSetOption(d->Ad, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatDestroy(&Fd));
  PetscCall(PetscFree(Xall));
  PetscCall(PetscTime(&t1));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[dense H      ] %7.2f s  F (MATDENSE), H = F F + gamma I (MatMatMult)\n", t1 - t0));
  PetscFunctionReturn(0);
}

/* 4b. the largest eigenvalues of the dense H, enough to count down to a - eps */
static PetscErrorCode DenseLargest(Spectrum *s, DenseRef *d)
{
  EPS            ed;
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCall(CreateSymmetricEPS(d->Hd, "dense_top_", &ed));
  PetscCall(EPSSetWhichEigenpairs(ed, EPS_LARGEST_REAL));
  PetscCall(EPSSetDimensions(ed, 3 * s->ntop, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetTolerances(ed, 1e-12, PETSC_DEFAULT));
  PetscCall(EPSSetFromOptions(ed));
  PetscCall(EPSSolve(ed));
  PetscCall(GetEigenvalues(ed, &d->nref, &d->ref));
  PetscCall(EPSDestroy(&ed));
  PetscCheck(d->nref >= s->ntop, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "dense: %" PetscInt_FMT " of %" PetscInt_FMT " largest eigenvalues converged", d->nref, s->ntop);
  qsort(d->ref, d->nref, sizeof(PetscReal), CmpDesc);
  for (PetscInt i = 0; i < s->ntop; i++) d->errtop = PetscMax(d->errtop, PetscAbsReal(s->top[i] - d->ref[i]) / d->ref[i]);
  PetscCall(PetscTime(&t1));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[dense largest] %7.2f s  %" PetscInt_FMT " largest eigenvalues of the dense H: max relative error of the MATSHELL ones %.2e\n", t1 - t0, d->nref, (double)d->errtop));
  PetscFunctionReturn(0);
}

/* 4c. those nearest the target: shift-and-invert with PETSc's dense Cholesky (LAPACK sytrf) */
static PetscErrorCode DenseNearest(Spectrum *s, DenseRef *d)
{
  EPS            ed;
  PC             pc;
  PetscReal     *dnear;
  PetscInt       ndnear;
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCall(CreateSymmetricEPS(d->Hd, "dense_target_", &ed));
  PetscCall(EPSSetTarget(ed, s->target));
  PetscCall(EPSSetWhichEigenpairs(ed, EPS_TARGET_MAGNITUDE));
  PetscCall(EPSSetDimensions(ed, s->nev, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetTolerances(ed, 1e-12, PETSC_DEFAULT));
  PetscCall(ShiftInvertCholesky(ed, &pc));
  PetscCall(EPSSetFromOptions(ed));
  PetscCall(EPSSolve(ed));
  PetscCall(GetEigenvalues(ed, &ndnear, &dnear));
  PetscCall(EPSDestroy(&ed));
  PetscCheck(ndnear >= s->nev, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "dense: %" PetscInt_FMT " of %" PetscInt_FMT " eigenvalues nearest the target converged", ndnear, s->nev);
  for (PetscInt i = 0; i < s->nev; i++) { /* against the nearest dense eigenvalue */
    PetscReal best = PETSC_MAX_REAL;
    for (PetscInt j = 0; j < ndnear; j++) best = PetscMin(best, PetscAbsReal(s->near[i] - dnear[j]) / PetscAbsReal(dnear[j]));
    d->errnear = PetscMax(d->errnear, best);
  }
  PetscCall(PetscTime(&t1));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[dense target ] %7.2f s  %" PetscInt_FMT " eigenvalues of the dense H nearest the target: max relative error of the MATSHELL ones %.2e\n", t1 - t0, ndnear, (double)d->errnear));
  PetscCall(PetscFree(dnear));
  PetscFunctionReturn(0);
}

/* 4d. eps = ||H - Happrox||_2: the largest eigenvalue in magnitude of the symmetric difference */
static PetscErrorCode DenseDifferenceNorm(Spectrum *s, DenseRef *d)
{
  EPS            ed;
  PetscInt       nc;
  PetscReal     *e;
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCall(CreateSymmetricEPS(d->Ad, "dense_norm_", &ed));
  PetscCall(EPSSetWhichEigenpairs(ed, EPS_LARGEST_MAGNITUDE));
  PetscCall(EPSSetDimensions(ed, 1, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetFromOptions(ed));
  PetscCall(EPSSolve(ed));
  PetscCall(GetEigenvalues(ed, &nc, &e));
  PetscCheck(nc >= 1, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "dense: ||H - Happrox||_2 did not converge");
  d->eps2 = PetscAbsReal(e[0]);
  PetscCall(PetscFree(e));
  PetscCall(EPSDestroy(&ed));
  /* the MATH2 Happrox differs from its dense entries by the H2 tolerance (relative 1e-8 by
     default): a margin of 1e-6 lambda_max covers it */
  d->eps2 += 1e-6 * s->top[0];
  PetscCall(PetscTime(&t1));
  d->tnorm = t1 - t0;
  PetscFunctionReturn(0);
}

/* 4e. the counts in [a, b] against the dense H, and every check of the dense comparison */
static PetscErrorCode DenseCounts(Spectrum *s, DenseRef *d)
{
  const PetscReal a = s->a, b = s->b, eps2 = d->eps2, *ref = d->ref;
  const PetscInt  nref = d->nref, nslice = s->nslice, nfslice = s->nfslice, cexact = s->cexact;
  PetscReal       errslice = 0;
  PetscInt        cd, lo, hi;

  PetscFunctionBeginUser;
  /* ref[] holds every eigenvalue of H above ref[nref-1] */
  cd = a > ref[nref - 1] ? CountIn(nref, ref, a, b) : -1;
  lo = CountIn(nref, ref, a + eps2, b - eps2); /* a lower bound even where ref[] stops above a + eps */
  hi = a - eps2 > ref[nref - 1] ? CountIn(nref, ref, a - eps2, b + eps2) : -1;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[dense count  ] %7.2f s  ||H - Happrox||_2 = %.3e (%.1f%% of lambda_max)\n", d->tnorm, (double)eps2, (double)(100 * eps2 / s->top[0])));
  if (cd >= 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  eigenvalues in [a, b]: dense H %" PetscInt_FMT ", slicing F %" PetscInt_FMT ", H2 approximation Happrox %" PetscInt_FMT "\n", cd, nfslice, nslice));
  else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  eigenvalues in [a, b]: dense H more than the %" PetscInt_FMT " largest computed, slicing F %" PetscInt_FMT ", H2 approximation Happrox %" PetscInt_FMT "\n", nref, nfslice, nslice));
  if (cd >= 0 && nfslice >= 0) { /* slicing F: the exact count, and the eigenvalues mu^2 + gamma */
    PetscInt k0 = 0;
    while (k0 < nref && ref[k0] > b) k0++;
    PetscCheck(nfslice == cd, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "slicing F counted %" PetscInt_FMT " eigenvalues of H in [a, b], the dense H has %" PetscInt_FMT, nfslice, cd);
    for (PetscInt i = 0; i < cd; i++) errslice = PetscMax(errslice, PetscAbsReal(s->fslice[i] - ref[k0 + i]) / ref[k0 + i]);
  }
  if (hi >= 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  Weyl: Happrox must have between %" PetscInt_FMT " (H in [a+eps, b-eps]) and %" PetscInt_FMT " (H in [a-eps, b+eps])\n", lo, hi));
  else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  Weyl: Happrox must have at least %" PetscInt_FMT " (H in [a+eps, b-eps]); a - eps lies below the %" PetscInt_FMT " computed eigenvalues of H, no upper bound\n", lo, nref));
  PetscCheck(cexact < 0 || cd < 0 || cexact == cd, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the MATSHELL eigenvalues count %" PetscInt_FMT " in [a, b], the dense ones %" PetscInt_FMT, cexact, cd);
  PetscCheck(nslice >= lo && (hi < 0 || nslice <= hi), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "spectrum slicing of Happrox counted %" PetscInt_FMT " eigenvalues in [a, b], outside the Weyl bounds [%" PetscInt_FMT ", %" PetscInt_FMT "]", nslice, lo, hi);
  PetscCheck(d->errtop <= s->maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the largest eigenvalues of the MATSHELL differ from the dense ones by %.3e relative (> %.3e)", (double)d->errtop, (double)s->maxerr);
  PetscCheck(d->errnear <= s->maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the eigenvalues of the MATSHELL nearest the target differ from the dense ones by %.3e relative (> %.3e)", (double)d->errnear, (double)s->maxerr);
  /* slicing computes the eigenvalues of the inverse of the H2-ULV factorization (no outer solve
     against the exact F): they are as accurate as the factorization, measured 1e-12 at N = 2048,
     6e-8 at N = 4096 and about 1e-6 at N = 8192 with -f_rtol 1e-10 */
  PetscCheck(errslice <= s->maxerrslice, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the eigenvalues of H from slicing F differ from the dense ones by %.3e relative (> %.3e)", (double)errslice, (double)s->maxerrslice);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "dense check passed: eigenvalues of H (relative errors: largest %.2e, nearest the target %.2e, slicing F %.2e), the count of slicing F exact, that of Happrox within the Weyl bounds\n", (double)d->errtop, (double)d->errnear, (double)errslice));
  PetscFunctionReturn(0);
}

/* 4. (-dense) the same against the exact dense Hessian */
static PetscErrorCode DenseCheck(Spectrum *s)
{
  DenseRef d = {NULL, NULL, NULL, 0, 0, 0, 0, 0};

  PetscFunctionBeginUser;
  PetscCall(DenseBuild(s, &d));
  PetscCall(DenseLargest(s, &d));
  PetscCall(DenseNearest(s, &d));
  PetscCall(DenseDifferenceNorm(s, &d));
  PetscCall(DenseCounts(s, &d));
  PetscCall(PetscFree(d.ref));
  PetscCall(MatDestroy(&d.Hd));
  PetscCall(MatDestroy(&d.Ad));
  PetscFunctionReturn(0);
}

/* everything the phases created */
static PetscErrorCode SpectrumDestroy(Spectrum *s)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(s->top));
  PetscCall(PetscFree(s->near));
  PetscCall(PetscFree(s->slice));
  PetscCall(PetscFree(s->fslice));
  PetscCall(EPSDestroy(&s->etop));
  PetscCall(EPSDestroy(&s->eps));
  PetscCall(PCDestroy(&s->fctx.pm));
  PetscCall(PCDestroy(&s->fctx.pp));
  PetscCall(MatDestroy(&s->fctx.Fm));
  PetscCall(MatDestroy(&s->fctx.Fp));
  PetscCall(VecDestroy(&s->fctx.t));
  PetscCall(MatDestroy(&s->H));
  PetscCall(VecDestroy(&s->hctx.work));
  PetscCall(MatDestroy(&s->F));
  PetscCall(MatDestroy(&s->Happrox));
  PetscCall(PetscFree(s->X));
  PetscCall(H2ULVProblemDestroy(&s->prob));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  Spectrum s = {.N = 4096, .nev = 6, .ntop = 20, .ell = 0.1, .frtol = 1e-10, .maxerr = 1e-6, .maxerrslice = 1e-4, .cexact = -1, .nfslice = -1}; /* the rest zero */

  PetscCall(SlepcInitialize(&argc, &argv, NULL, help));
  PetscCall(H2ULVInitializePackage());
  PetscCall(ReadOptions(&s));
  PetscCall(CreatePoints(&s));
  PetscCall(BuildBlur(&s));
  PetscCall(BuildHapprox(&s));
  PetscCall(CreateHessian(&s));
  PetscCall(LargestEigenvalues(&s));      /* 1 */
  PetscCall(ChooseTargetAndInterval(&s));
  PetscCall(NearestTarget(&s));           /* 2 */
  PetscCall(SliceHapprox(&s));            /* 3a */
  PetscCall(SliceBlur(&s));               /* 3b */
  if (s.dense) PetscCall(DenseCheck(&s)); /* 4 */
  PetscCall(SpectrumDestroy(&s));
  PetscCall(SlepcFinalize());
  return 0;
}
