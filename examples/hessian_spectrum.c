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

/* All eigenvalues of the symmetric M in [lo, hi] by spectrum slicing: Krylov-Schur with
   shift-and-invert, each shift factorized by the H2-ULV Cholesky MatSolverType, whose inertia
   counts the eigenvalues (options under the given prefix). */
static PetscErrorCode SliceEigenvalues(Mat M, const char *prefix, PetscReal lo, PetscReal hi, PetscInt *count, PetscReal **lambda, PetscLogDouble *secs)
{
  EPS            e;
  ST             st;
  KSP            ksp;
  PC             pc;
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(EPSCreate(PETSC_COMM_WORLD, &e));
  PetscCall(EPSSetOptionsPrefix(e, prefix));
  PetscCall(EPSSetOperators(e, M, NULL));
  PetscCall(EPSSetProblemType(e, EPS_HEP));
  PetscCall(EPSSetType(e, EPSKRYLOVSCHUR));
  PetscCall(EPSSetInterval(e, lo, hi));
  PetscCall(EPSSetWhichEigenpairs(e, EPS_ALL));
  PetscCall(EPSGetST(e, &st));
  PetscCall(STSetType(st, STSINVERT));
  PetscCall(STGetKSP(st, &ksp));
  PetscCall(KSPSetType(ksp, KSPPREONLY));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCCHOLESKY));
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

int main(int argc, char **argv)
{
  PetscInt       N = 4096, nev = 6, ntop = 20, mloc, rstart, rend, ntopc, nnear, nslice, nfslice = -1, its, tits, nmult0, nint = 2, cexact = -1;
  PetscReal      ell = 0.1, gamma, frtol = 1e-10, target, maxerr = 1e-6, maxerrslice = 1e-4, w, iv[2], a, b, *top, *near, *slice, *fslice = NULL;
  PetscBool      tgiven, igiven, dense, factored = PETSC_FALSE;
  FactoredCtx    fctx = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
  PetscMPIInt    size;
  H2ULVProblem   prob;
  PetscReal     *X;
  Mat            F, Happrox, H;
  HessianCtx     hctx;
  EPS            eps, etop;
  PetscLogDouble dt;
  ST             st;
  KSP            ksp;
  PC             pc;
  PetscLogDouble t0, t1, mem;
  MatH2Info      info;

  PetscCall(SlepcInitialize(&argc, &argv, NULL, help));
  PetscCall(H2ULVInitializePackage());
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-ell", &ell, NULL));
  PetscCheck(ell > 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-ell must be positive");
  gamma = 1e-3 * PetscPowReal(PETSC_PI * ell * ell, 3.0); /* the continuum F has lambda_max <= (pi l^2)^{3/2} */
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-gamma", &gamma, NULL));
  PetscCheck(gamma >= 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-gamma must be non-negative");
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-f_rtol", &frtol, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-ntop", &ntop, NULL));
  PetscCheck(ntop >= 8, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-ntop must be at least 8 (the default interval is placed among them)");
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nev", &nev, NULL));
  PetscCheck(nev >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nev must be positive");
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-target", &target, &tgiven));
  PetscCall(PetscOptionsGetRealArray(NULL, NULL, "-interval", iv, &nint, &igiven));
  PetscCheck(!igiven || (nint == 2 && iv[0] < iv[1]), PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-interval needs two values a,b with a < b");
  dense = (PetscBool)(N <= 4096 && size == 1);
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-dense", &dense, NULL));
  PetscCheck(!dense || size == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP, "-dense runs on one process (PETSc's dense Cholesky is sequential)");
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err", &maxerr, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err_slice", &maxerrslice, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-factored", &factored, NULL));
  w = 1.0 / N;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "Gauss-Newton Hessian H = F F + gamma I, F = Gaussian blur (l = %g) on N = %" PetscInt_FMT " points in the unit cube, gamma = %.4g\n", (double)ell, N, (double)gamma));

  /* the points: those of the standard problem cube-gaussian (uniform in the unit cube) */
  PetscCall(H2ULVProblemCreate("cube-gaussian", N, 0, &prob));
  {
    PetscLayout map;
    PetscCall(PetscLayoutCreate(PETSC_COMM_WORLD, &map));
    PetscCall(PetscLayoutSetSize(map, N));
    PetscCall(PetscLayoutSetUp(map));
    PetscCall(PetscLayoutGetLocalSize(map, &mloc));
    PetscCall(PetscLayoutGetRange(map, &rstart, &rend));
    PetscCall(PetscLayoutDestroy(&map));
  }
  PetscCall(PetscMalloc1(3 * mloc, &X));
  PetscCall(H2ULVProblemGetCoordinates(prob, rstart, rend, X));

  /* F: the Gaussian kernel scaled by w; its diagonal is w g_l(0) = w (the "diag" argument is the
     entry A_ii itself, no nugget).  Tight tolerance: H v is built from it and must be "exact". */
  PetscCall(PetscTime(&t0));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &F));
  PetscCall(MatSetSizes(F, mloc, mloc, N, N));
  PetscCall(MatSetType(F, MATH2));
  PetscCall(MatSetOptionsPrefix(F, "f_"));
  PetscCall(MatH2SetCoordinates(F, 3, X));
  PetscCall(MatH2SetBuiltinKernel(F, MATH2_KERNEL_GAUSSIAN, w, ell, w, 0.0));
  PetscCall(MatH2SetTolerance(F, frtol, PETSC_DEFAULT));
  PetscCall(MatSetOption(F, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatSetFromOptions(F));
  PetscCall(MatAssemblyBegin(F, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(F, MAT_FINAL_ASSEMBLY));
  PetscCall(PetscTime(&t1));
  PetscCall(MatH2GetInfo(F, &info));
  PetscCall(MatH2GetMemory(F, &mem));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[build F      ] %7.2f s  H2 blur at rtol %g: max rank %" PetscInt_FMT ", %.1f MB\n", t1 - t0, (double)frtol, info.maxrank, mem / 1048576.0));

  /* Happrox: the continuum F F, a Gaussian of width sqrt(2) l, diagonal kernel(0) + gamma */
  PetscCall(PetscTime(&t0));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &Happrox));
  PetscCall(MatSetSizes(Happrox, mloc, mloc, N, N));
  PetscCall(MatSetType(Happrox, MATH2));
  PetscCall(MatH2SetCoordinates(Happrox, 3, X));
  PetscCall(MatH2SetBuiltinKernel(Happrox, MATH2_KERNEL_GAUSSIAN, w * PetscPowReal(PETSC_PI / 2, 1.5) * ell * ell * ell, PetscSqrtReal(2.0) * ell, PETSC_DEFAULT, gamma));
  PetscCall(MatSetOption(Happrox, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatSetFromOptions(Happrox));
  PetscCall(MatAssemblyBegin(Happrox, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(Happrox, MAT_FINAL_ASSEMBLY));
  PetscCall(PetscTime(&t1));
  PetscCall(MatH2GetInfo(Happrox, &info));
  PetscCall(MatH2GetMemory(Happrox, &mem));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[build Happrox] %7.2f s  H2 of the continuum F F: max rank %" PetscInt_FMT ", %.1f MB\n", t1 - t0, info.maxrank, mem / 1048576.0));

  /* H: the exact Hessian as a MATSHELL */
  hctx.F     = F;
  hctx.gamma = gamma;
  hctx.nmult = 0;
  PetscCall(MatCreateVecs(F, &hctx.work, NULL));
  fctx.F     = F;
  fctx.gamma = gamma;
  PetscCall(MatCreateShell(PETSC_COMM_WORLD, mloc, mloc, N, N, &hctx, &H));
  PetscCall(MatShellSetOperation(H, MATOP_MULT, (void (*)(void))HessianMult));
  PetscCall(MatShellSetOperation(H, MATOP_MULT_TRANSPOSE, (void (*)(void))HessianMult));
  PetscCall(MatSetOption(H, MAT_SYMMETRIC, PETSC_TRUE));

  /* 1. the largest eigenvalues of H: Krylov-Schur, matvecs only */
  PetscCall(EPSCreate(PETSC_COMM_WORLD, &etop));
  PetscCall(EPSSetOptionsPrefix(etop, "top_"));
  PetscCall(EPSSetOperators(etop, H, NULL));
  PetscCall(EPSSetProblemType(etop, EPS_HEP));
  PetscCall(EPSSetType(etop, EPSKRYLOVSCHUR));
  PetscCall(EPSSetWhichEigenpairs(etop, EPS_LARGEST_REAL));
  PetscCall(EPSSetDimensions(etop, ntop, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetTolerances(etop, 1e-10, PETSC_DEFAULT));
  PetscCall(EPSSetFromOptions(etop));
  nmult0 = hctx.nmult;
  PetscCall(PetscTime(&t0));
  PetscCall(EPSSolve(etop));
  PetscCall(PetscTime(&t1));
  PetscCall(GetEigenvalues(etop, &ntopc, &top));
  PetscCheck(ntopc >= ntop, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "the largest eigenvalues: %" PetscInt_FMT " of %" PetscInt_FMT " converged", ntopc, ntop);
  ntopc = ntop;
  qsort(top, ntopc, sizeof(PetscReal), CmpDesc);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[largest      ] %7.2f s  %" PetscInt_FMT " largest eigenvalues of H, %" PetscInt_FMT " Hessian-vector products\n", t1 - t0, ntop, hctx.nmult - nmult0));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  lambda_max = %.8e: gradient descent on J is stable for step sizes below 2/lambda_max = %.6g\n", (double)top[0], (double)(2 / top[0])));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  condition number of H <= lambda_max / gamma = %.3g\n", (double)(top[0] / gamma)));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  largest:"));
  for (PetscInt i = 0; i < PetscMin(ntop, 8); i++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.6e", (double)top[i]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", ntop > 8 ? " ..." : ""));

  /* the target and the interval, from that part of the spectrum unless given */
  if (!tgiven) target = 0.5 * top[0];
  if (igiven) {
    a = iv[0], b = iv[1];
    if (a > top[ntop - 1]) cexact = CountIn(ntop, top, a, b); /* every eigenvalue >= a is among top[] */
  } else {
    PetscInt k1 = WidestGap(top, 1, ntop / 4), k2 = WidestGap(top, ntop / 2, ntop - 1);
    b      = 0.5 * (top[k1 - 1] + top[k1]);
    a      = 0.5 * (top[k2 - 1] + top[k2]);
    cexact = k2 - k1;
  }

  /* 2. the nev eigenvalues of H nearest the target: shift-and-invert on the exact H, the inner
        FGMRES preconditioned by the H2-ULV factorization of Happrox - sigma I (SLEPc builds it from
        Happrox with MatDuplicate and MatShift), or with -factored by (F - s I)^{-1} (F + s I)^{-1} */
  PetscCall(EPSCreate(PETSC_COMM_WORLD, &eps));
  PetscCall(EPSSetOperators(eps, H, NULL));
  PetscCall(EPSSetProblemType(eps, EPS_HEP));
  PetscCall(EPSSetType(eps, EPSKRYLOVSCHUR));
  PetscCall(EPSSetTarget(eps, target));
  PetscCall(EPSSetWhichEigenpairs(eps, EPS_TARGET_MAGNITUDE));
  PetscCall(EPSSetDimensions(eps, nev, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetTolerances(eps, 1e-10, PETSC_DEFAULT));
  PetscCall(EPSGetST(eps, &st));
  PetscCall(STSetType(st, STSINVERT));
  fctx.st = st;
  if (!factored) PetscCall(STSetSplitPreconditioner(st, 1, &Happrox, SAME_NONZERO_PATTERN));
  PetscCall(STGetKSP(st, &ksp));
  PetscCall(KSPSetType(ksp, KSPFGMRES));
  /* Happrox - sigma I is a rough model of H - sigma I near sigma (the eigenvalues of H and Happrox
     differ by far more than their spacing there): some tens of outlying eigenvalues of the
     preconditioned operator, which a restart of 30 never resolves; with 100 FGMRES converges in
     about 55 iterations a solve at N = 2048, 37 at N = 8192 (-factored: 2) */
  PetscCall(KSPGMRESSetRestart(ksp, 100));
  PetscCall(KSPSetTolerances(ksp, 1e-10, PETSC_DEFAULT, PETSC_DEFAULT, 1000));
  PetscCall(KSPGetPC(ksp, &pc));
  if (factored) {
    PetscCall(PCSetType(pc, PCSHELL));
    PetscCall(PCShellSetContext(pc, &fctx));
    PetscCall(PCShellSetSetUp(pc, FactoredSetUp));
    PetscCall(PCShellSetApply(pc, FactoredApply));
    PetscCall(PCShellSetName(pc, "(F - s I)^{-1} (F + s I)^{-1} by H2-ULV"));
  } else PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(EPSSetFromOptions(eps));
  nmult0 = hctx.nmult;
  PetscCall(PetscTime(&t0));
  PetscCall(EPSSolve(eps));
  PetscCall(PetscTime(&t1));
  PetscCall(GetEigenvalues(eps, &nnear, &near));
  PetscCheck(nnear >= nev, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "nearest the target: %" PetscInt_FMT " of %" PetscInt_FMT " converged", nnear, nev);
  nnear = nev;
  PetscCall(EPSGetIterationNumber(eps, &its));
  PetscCall(KSPGetTotalIterations(ksp, &tits));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[near target  ] %7.2f s  %" PetscInt_FMT " eigenvalues of H nearest %.6e (shift-and-invert; preconditioner: H2-ULV of %s): %" PetscInt_FMT " restarts, %" PetscInt_FMT " inner iterations, %" PetscInt_FMT " Hessian-vector products\n", t1 - t0, nev,
                        (double)target, factored ? "F - s I and F + s I" : "Happrox - sigma I", its, tits, hctx.nmult - nmult0));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  nearest:"));
  for (PetscInt i = 0; i < nev; i++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.8e", (double)near[i]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));

  /* 3a. the count in [a, b] by spectrum slicing: Krylov-Schur, shift-and-invert with the H2-ULV
         Cholesky factorization of Happrox - sigma I, whose inertia gives the counts: those of the
         model Happrox, not of H */
  PetscCall(SliceEigenvalues(Happrox, "slice_", a, b, &nslice, &slice, &dt));
  qsort(slice, nslice, sizeof(PetscReal), CmpDesc);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[slice Happrox] %7.2f s  [a, b] = [%.6e, %.6e]: %" PetscInt_FMT " eigenvalues of the H2 approximation Happrox (inertia of its H2-ULV Cholesky factors)\n", dt, (double)a, (double)b, nslice));
  if (nslice) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  Happrox:"));
    for (PetscInt i = 0; i < PetscMin(nslice, 8); i++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.6e", (double)slice[i]));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", nslice > 8 ? " ..." : ""));
  }

  /* 3b. the exact count, by slicing F.  H - sigma I = F F - s^2 I = (F - s I)(F + s I) with
         s = sqrt(sigma - gamma), and F + s I is positive definite (F is: the Gaussian is a
         positive-definite function), so H - sigma I has the inertia of F - s I.  The eigenvalues of
         H in [a, b] are mu^2 + gamma for the eigenvalues mu of F in [sqrt(a - gamma), sqrt(b - gamma)],
         and slicing F with its H2-ULV Cholesky factors counts them: the exact Hessian's count,
         from factorizations of the blur alone. */
  if (a > gamma) {
    PetscCall(SliceEigenvalues(F, "fslice_", PetscSqrtReal(a - gamma), PetscSqrtReal(b - gamma), &nfslice, &fslice, &dt));
    for (PetscInt i = 0; i < nfslice; i++) fslice[i] = fslice[i] * fslice[i] + gamma; /* mu -> mu^2 + gamma */
    qsort(fslice, nfslice, sizeof(PetscReal), CmpDesc);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[slice F      ] %7.2f s  [a, b] holds %" PetscInt_FMT " eigenvalues of the exact H (eigenvalues of F in [%.6e, %.6e], inertia of the H2-ULV Cholesky factors of F - s I)\n", dt, nfslice, (double)PetscSqrtReal(a - gamma), (double)PetscSqrtReal(b - gamma)));
    if (nfslice) {
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  H:      "));
      for (PetscInt i = 0; i < PetscMin(nfslice, 8); i++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, " %.6e", (double)fslice[i]));
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", nfslice > 8 ? " ..." : ""));
    }
    if (cexact >= 0) {
      PetscCheck(nfslice == cexact, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "slicing F counted %" PetscInt_FMT " eigenvalues of H in [a, b], its largest eigenvalues (phase 1) %" PetscInt_FMT, nfslice, cexact);
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  as many as among the largest eigenvalues of H (phase 1); Happrox, a continuum model of H, has %" PetscInt_FMT " %s\n", PetscAbsInt(nslice - nfslice), nslice > nfslice ? "more" : "fewer"));
    }
  } else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[slice F      ] skipped: a <= gamma\n"));

  /* 4. the exact dense Hessian */
  if (dense) {
    Mat          Fd, Hd, Ad;
    EPS          ed;
    PetscScalar *fa, *aa;
    PetscReal   *Xall, *ref, *dnear, eps2, errtop = 0, errnear = 0, errslice = 0, sa = w * PetscPowReal(PETSC_PI / 2, 1.5) * ell * ell * ell, l2 = 2 * ell * ell;
    PetscInt     nref, ndnear, cd, lo, hi, lda, lda2;

    /* F and the dense Happrox entry by entry; H = F F + gamma I */
    PetscCall(PetscTime(&t0));
    PetscCall(PetscMalloc1(3 * N, &Xall));
    PetscCall(H2ULVProblemGetCoordinates(prob, 0, N, Xall));
    PetscCall(MatCreateDense(PETSC_COMM_WORLD, mloc, mloc, N, N, NULL, &Fd));
    PetscCall(MatCreateDense(PETSC_COMM_WORLD, mloc, mloc, N, N, NULL, &Ad));
    PetscCall(MatDenseGetArrayWrite(Fd, &fa));
    PetscCall(MatDenseGetArrayWrite(Ad, &aa));
    PetscCall(MatDenseGetLDA(Fd, &lda));
    PetscCall(MatDenseGetLDA(Ad, &lda2));
    PetscCheck(lda == lda2, PETSC_COMM_SELF, PETSC_ERR_PLIB, "dense matrices with different leading dimensions");
    for (PetscInt j = 0; j < N; j++) /* one process: all rows are local */
      for (PetscInt i = 0; i < N; i++) {
        PetscReal r2 = 0;
        for (PetscInt d = 0; d < 3; d++) r2 += PetscSqr(Xall[3 * i + d] - Xall[3 * j + d]);
        fa[i + (size_t)j * lda] = w * PetscExpReal(-r2 / (ell * ell));
        aa[i + (size_t)j * lda] = sa * PetscExpReal(-r2 / l2) + (i == j ? gamma : 0);
      }
    PetscCall(MatDenseRestoreArrayWrite(Fd, &fa));
    PetscCall(MatDenseRestoreArrayWrite(Ad, &aa));
    PetscCall(MatAssemblyBegin(Fd, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(Fd, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyBegin(Ad, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(Ad, MAT_FINAL_ASSEMBLY));
    PetscCall(MatMatMult(Fd, Fd, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Hd));
    PetscCall(MatShift(Hd, gamma));
    PetscCall(MatSetOption(Hd, MAT_SYMMETRIC, PETSC_TRUE)); /* not SPD: the shifted copies are indefinite */
    PetscCall(MatAYPX(Ad, -1.0, Hd, SAME_NONZERO_PATTERN)); /* Ad = H - Happrox (dense) */
    PetscCall(MatSetOption(Ad, MAT_SYMMETRIC, PETSC_TRUE));
    PetscCall(MatDestroy(&Fd));
    PetscCall(PetscFree(Xall));
    PetscCall(PetscTime(&t1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[dense H      ] %7.2f s  F (MATDENSE), H = F F + gamma I (MatMatMult)\n", t1 - t0));

    /* the largest eigenvalues of the dense H, enough to count down to a - eps */
    PetscCall(PetscTime(&t0));
    PetscCall(EPSCreate(PETSC_COMM_WORLD, &ed));
    PetscCall(EPSSetOptionsPrefix(ed, "dense_top_"));
    PetscCall(EPSSetOperators(ed, Hd, NULL));
    PetscCall(EPSSetProblemType(ed, EPS_HEP));
    PetscCall(EPSSetType(ed, EPSKRYLOVSCHUR));
    PetscCall(EPSSetWhichEigenpairs(ed, EPS_LARGEST_REAL));
    PetscCall(EPSSetDimensions(ed, 3 * ntop, PETSC_DEFAULT, PETSC_DEFAULT));
    PetscCall(EPSSetTolerances(ed, 1e-12, PETSC_DEFAULT));
    PetscCall(EPSSetFromOptions(ed));
    PetscCall(EPSSolve(ed));
    PetscCall(GetEigenvalues(ed, &nref, &ref));
    PetscCall(EPSDestroy(&ed));
    PetscCheck(nref >= ntop, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "dense: %" PetscInt_FMT " of %" PetscInt_FMT " largest eigenvalues converged", nref, ntop);
    qsort(ref, nref, sizeof(PetscReal), CmpDesc);
    for (PetscInt i = 0; i < ntop; i++) errtop = PetscMax(errtop, PetscAbsReal(top[i] - ref[i]) / ref[i]);
    PetscCall(PetscTime(&t1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[dense largest] %7.2f s  %" PetscInt_FMT " largest eigenvalues of the dense H: max relative error of the MATSHELL ones %.2e\n", t1 - t0, nref, (double)errtop));

    /* those nearest the target: shift-and-invert with PETSc's dense Cholesky (LAPACK sytrf) */
    PetscCall(PetscTime(&t0));
    PetscCall(EPSCreate(PETSC_COMM_WORLD, &ed));
    PetscCall(EPSSetOptionsPrefix(ed, "dense_target_"));
    PetscCall(EPSSetOperators(ed, Hd, NULL));
    PetscCall(EPSSetProblemType(ed, EPS_HEP));
    PetscCall(EPSSetType(ed, EPSKRYLOVSCHUR));
    PetscCall(EPSSetTarget(ed, target));
    PetscCall(EPSSetWhichEigenpairs(ed, EPS_TARGET_MAGNITUDE));
    PetscCall(EPSSetDimensions(ed, nev, PETSC_DEFAULT, PETSC_DEFAULT));
    PetscCall(EPSSetTolerances(ed, 1e-12, PETSC_DEFAULT));
    PetscCall(EPSGetST(ed, &st));
    PetscCall(STSetType(st, STSINVERT));
    PetscCall(STGetKSP(st, &ksp));
    PetscCall(KSPSetType(ksp, KSPPREONLY));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, PCCHOLESKY));
    PetscCall(EPSSetFromOptions(ed));
    PetscCall(EPSSolve(ed));
    PetscCall(GetEigenvalues(ed, &ndnear, &dnear));
    PetscCall(EPSDestroy(&ed));
    PetscCheck(ndnear >= nev, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "dense: %" PetscInt_FMT " of %" PetscInt_FMT " eigenvalues nearest the target converged", ndnear, nev);
    for (PetscInt i = 0; i < nev; i++) { /* against the nearest dense eigenvalue */
      PetscReal best = PETSC_MAX_REAL;
      for (PetscInt j = 0; j < ndnear; j++) best = PetscMin(best, PetscAbsReal(near[i] - dnear[j]) / PetscAbsReal(dnear[j]));
      errnear = PetscMax(errnear, best);
    }
    PetscCall(PetscTime(&t1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[dense target ] %7.2f s  %" PetscInt_FMT " eigenvalues of the dense H nearest the target: max relative error of the MATSHELL ones %.2e\n", t1 - t0, ndnear, (double)errnear));

    /* eps = ||H - Happrox||_2: the largest eigenvalue in magnitude of the symmetric difference */
    PetscCall(PetscTime(&t0));
    PetscCall(EPSCreate(PETSC_COMM_WORLD, &ed));
    PetscCall(EPSSetOptionsPrefix(ed, "dense_norm_"));
    PetscCall(EPSSetOperators(ed, Ad, NULL));
    PetscCall(EPSSetProblemType(ed, EPS_HEP));
    PetscCall(EPSSetType(ed, EPSKRYLOVSCHUR));
    PetscCall(EPSSetWhichEigenpairs(ed, EPS_LARGEST_MAGNITUDE));
    PetscCall(EPSSetDimensions(ed, 1, PETSC_DEFAULT, PETSC_DEFAULT));
    PetscCall(EPSSetFromOptions(ed));
    PetscCall(EPSSolve(ed));
    {
      PetscInt   nc;
      PetscReal *e;
      PetscCall(GetEigenvalues(ed, &nc, &e));
      PetscCheck(nc >= 1, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "dense: ||H - Happrox||_2 did not converge");
      eps2 = PetscAbsReal(e[0]);
      PetscCall(PetscFree(e));
    }
    PetscCall(EPSDestroy(&ed));
    /* the MATH2 Happrox differs from its dense entries by the H2 tolerance (relative 1e-8 by
       default): a margin of 1e-6 lambda_max covers it */
    eps2 += 1e-6 * top[0];
    PetscCall(PetscTime(&t1));

    /* the counts.  ref[] holds every eigenvalue of H above ref[nref-1] */
    cd = a > ref[nref - 1] ? CountIn(nref, ref, a, b) : -1;
    lo = CountIn(nref, ref, a + eps2, b - eps2); /* a lower bound even where ref[] stops above a + eps */
    hi = a - eps2 > ref[nref - 1] ? CountIn(nref, ref, a - eps2, b + eps2) : -1;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "[dense count  ] %7.2f s  ||H - Happrox||_2 = %.3e (%.1f%% of lambda_max)\n", t1 - t0, (double)eps2, (double)(100 * eps2 / top[0])));
    if (cd >= 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  eigenvalues in [a, b]: dense H %" PetscInt_FMT ", slicing F %" PetscInt_FMT ", H2 approximation Happrox %" PetscInt_FMT "\n", cd, nfslice, nslice));
    else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  eigenvalues in [a, b]: dense H more than the %" PetscInt_FMT " largest computed, slicing F %" PetscInt_FMT ", H2 approximation Happrox %" PetscInt_FMT "\n", nref, nfslice, nslice));
    if (cd >= 0 && nfslice >= 0) { /* slicing F: the exact count, and the eigenvalues mu^2 + gamma */
      PetscInt k0 = 0;
      while (k0 < nref && ref[k0] > b) k0++;
      PetscCheck(nfslice == cd, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "slicing F counted %" PetscInt_FMT " eigenvalues of H in [a, b], the dense H has %" PetscInt_FMT, nfslice, cd);
      for (PetscInt i = 0; i < cd; i++) errslice = PetscMax(errslice, PetscAbsReal(fslice[i] - ref[k0 + i]) / ref[k0 + i]);
    }
    if (hi >= 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  Weyl: Happrox must have between %" PetscInt_FMT " (H in [a+eps, b-eps]) and %" PetscInt_FMT " (H in [a-eps, b+eps])\n", lo, hi));
    else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  Weyl: Happrox must have at least %" PetscInt_FMT " (H in [a+eps, b-eps]); a - eps lies below the %" PetscInt_FMT " computed eigenvalues of H, no upper bound\n", lo, nref));
    PetscCheck(cexact < 0 || cd < 0 || cexact == cd, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the MATSHELL eigenvalues count %" PetscInt_FMT " in [a, b], the dense ones %" PetscInt_FMT, cexact, cd);
    PetscCheck(nslice >= lo && (hi < 0 || nslice <= hi), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "spectrum slicing of Happrox counted %" PetscInt_FMT " eigenvalues in [a, b], outside the Weyl bounds [%" PetscInt_FMT ", %" PetscInt_FMT "]", nslice, lo, hi);
    PetscCheck(errtop <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the largest eigenvalues of the MATSHELL differ from the dense ones by %.3e relative (> %.3e)", (double)errtop, (double)maxerr);
    PetscCheck(errnear <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the eigenvalues of the MATSHELL nearest the target differ from the dense ones by %.3e relative (> %.3e)", (double)errnear, (double)maxerr);
    /* slicing computes the eigenvalues of the inverse of the H2-ULV factorization (no outer solve
       against the exact F): they are as accurate as the factorization, measured 1e-12 at N = 2048,
       6e-8 at N = 4096 and about 1e-6 at N = 8192 with -f_rtol 1e-10 */
    PetscCheck(errslice <= maxerrslice, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the eigenvalues of H from slicing F differ from the dense ones by %.3e relative (> %.3e)", (double)errslice, (double)maxerrslice);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "dense check passed: eigenvalues of H (relative errors: largest %.2e, nearest the target %.2e, slicing F %.2e), the count of slicing F exact, that of Happrox within the Weyl bounds\n", (double)errtop, (double)errnear, (double)errslice));
    PetscCall(PetscFree(ref));
    PetscCall(PetscFree(dnear));
    PetscCall(MatDestroy(&Hd));
    PetscCall(MatDestroy(&Ad));
  }

  PetscCall(PetscFree(top));
  PetscCall(PetscFree(near));
  PetscCall(PetscFree(slice));
  PetscCall(PetscFree(fslice));
  PetscCall(EPSDestroy(&etop));
  PetscCall(EPSDestroy(&eps));
  PetscCall(PCDestroy(&fctx.pm));
  PetscCall(PCDestroy(&fctx.pp));
  PetscCall(MatDestroy(&fctx.Fm));
  PetscCall(MatDestroy(&fctx.Fp));
  PetscCall(VecDestroy(&fctx.t));
  PetscCall(MatDestroy(&H));
  PetscCall(VecDestroy(&hctx.work));
  PetscCall(MatDestroy(&F));
  PetscCall(MatDestroy(&Happrox));
  PetscCall(PetscFree(X));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(SlepcFinalize());
  return 0;
}
