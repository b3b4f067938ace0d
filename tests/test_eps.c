/* SLEPc eigenvalues of a MATH2 operator against a dense reference.

   The reference: SLEPc Krylov-Schur on the exact PETSc MATDENSE matrix of the same problem (dense
   matvecs, tol 1e-13): its largest -nref eigenvalues.  Everything the H^2 run is compared with is
   among them (targets and intervals are placed inside that part of the spectrum, at gaps of it).

   -which largest  : the -nev largest eigenvalues of the MATH2 operator (matvec only)
   -which target   : the -nev eigenvalues nearest a target inside the spectrum (in the widest gap
                     between reference eigenvalues 20 and 32, a quarter of the way up from its lower
                     end: a target between two eigenvalues of a tight cluster would make A - target
                     nearly singular, and the eigenvalues far from it as inaccurate as the factored
                     operator times that amplification); the ST (shift-and-invert, its KSP and PC)
                     comes from the options, e.g. -st_type sinvert -st_ksp_type preonly -st_pc_type h2ulv
   -which interval : all eigenvalues in an interval [a, b] whose ends sit in gaps of the reference
                     spectrum (spectrum slicing: -st_pc_type cholesky -st_pc_factor_mat_solver_type h2ulv,
                     counts by MatGetInertia on the factor); the count must be exact
   -split          : the operator is the exact dense matrix, MATH2 only the preconditioner (split form)
   Assertion: every computed eigenvalue matches a reference one to -max_err relative (default 1e-6),
   the right number of them converged, and they are the wanted ones (nearest, or inside). */
#include <h2ulv.h>
#include <slepceps.h>

static int cmpdesc(const void *a, const void *b)
{
  PetscReal x = *(const PetscReal *)a, y = *(const PetscReal *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

int main(int argc, char **argv)
{
  char         name[64] = "sphere-laplace", which[16] = "largest";
  PetscInt     N = 4096, nev = 10, nref = 40, nconv, k1 = 0, k2 = 0;
  PetscReal    maxerr = 1e-6, *ref, *got, worst = 0, target = 0, a = 0, b = 0;
  PetscBool    sym, split = PETSC_FALSE;
  H2ULVProblem prob;
  Mat          A, D;
  EPS          eps;
  ST           st;
  PetscLogDouble t0, t1;

  PetscCall(SlepcInitialize(&argc, &argv, NULL, "SLEPc on MATH2 against a dense reference"));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-which", which, sizeof(which), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nev", &nev, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err", &maxerr, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-split", &split, NULL));
  PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
  PetscCall(H2ULVProblemGetInfo(prob, NULL, NULL, NULL, &sym));
  PetscCheck(sym, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "this test is for the symmetric problems");
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  PetscInt mloc;
  PetscCall(MatGetLocalSize(A, &mloc, NULL));
  PetscCall(H2ULVProblemCreateDense(prob, PETSC_COMM_WORLD, mloc, &D));
  PetscCall(PetscMalloc2(nref, &ref, 4 * nev + nref, &got));

  /* reference: the nref largest eigenvalues of the exact dense matrix (SPD problems: largest real) */
  {
    EPS      e;
    PetscInt nc;
    PetscCall(EPSCreate(PETSC_COMM_WORLD, &e));
    PetscCall(EPSSetOptionsPrefix(e, "ref_"));
    PetscCall(EPSSetOperators(e, D, NULL));
    PetscCall(EPSSetProblemType(e, EPS_HEP));
    PetscCall(EPSSetType(e, EPSKRYLOVSCHUR));
    PetscCall(EPSSetWhichEigenpairs(e, EPS_LARGEST_REAL));
    PetscCall(EPSSetDimensions(e, nref, 2 * nref + 20, PETSC_DEFAULT));
    PetscCall(EPSSetTolerances(e, 1e-13, 1000));
    PetscCall(EPSSolve(e));
    PetscCall(EPSGetConverged(e, &nc));
    PetscCheck(nc >= nref, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "the dense reference found %" PetscInt_FMT " of %" PetscInt_FMT " eigenvalues", nc, nref);
    for (PetscInt i = 0; i < nref; i++) PetscCall(EPSGetEigenvalue(e, i, &ref[i], NULL));
    PetscCall(EPSDestroy(&e));
    qsort(ref, nref, sizeof(PetscReal), cmpdesc);
  }
  /* the widest relative gap between ref[k-1] and ref[k] for k in [lo, hi] */
  PetscInt gapIndex_lo[2] = {4, 20}, gapIndex_hi[2] = {9, 32}, gk[2];
  for (int g = 0; g < 2; g++) {
    PetscReal best = -1;
    for (PetscInt k = gapIndex_lo[g]; k <= gapIndex_hi[g]; k++) {
      PetscReal gap = (ref[k - 1] - ref[k]) / ref[k - 1];
      if (gap > best) best = gap, gk[g] = k;
    }
  }
  k1 = gk[0], k2 = gk[1];

  PetscCall(EPSCreate(PETSC_COMM_WORLD, &eps));
  PetscCall(EPSSetOperators(eps, split ? D : A, NULL));
  PetscCall(EPSSetProblemType(eps, EPS_HEP));
  PetscCall(EPSSetTolerances(eps, 1e-10, 1000));
  PetscCall(EPSGetST(eps, &st));
  if (split) PetscCall(STSetSplitPreconditioner(st, 1, &A, SAME_NONZERO_PATTERN));
  if (!strcmp(which, "largest")) {
    PetscCall(EPSSetWhichEigenpairs(eps, EPS_LARGEST_REAL));
    PetscCall(EPSSetDimensions(eps, nev, PETSC_DEFAULT, PETSC_DEFAULT));
  } else if (!strcmp(which, "target")) {
    target = ref[k2] + 0.25 * (ref[k2 - 1] - ref[k2]);
    PetscCall(EPSSetTarget(eps, target));
    PetscCall(EPSSetWhichEigenpairs(eps, EPS_TARGET_MAGNITUDE));
    PetscCall(EPSSetDimensions(eps, nev, PETSC_DEFAULT, PETSC_DEFAULT));
  } else if (!strcmp(which, "interval")) {
    a = 0.5 * (ref[k2 - 1] + ref[k2]);
    b = 0.5 * (ref[k1 - 1] + ref[k1]);
    PetscCall(EPSSetInterval(eps, a, b));
    PetscCall(EPSSetWhichEigenpairs(eps, EPS_ALL));
    PetscCall(EPSSetType(eps, EPSKRYLOVSCHUR));
  } else SETERRQ(PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-which must be largest, target or interval, got %s", which);
  PetscCall(EPSSetFromOptions(eps));
  PetscCall(PetscTime(&t0));
  PetscCall(EPSSolve(eps));
  PetscCall(PetscTime(&t1));
  PetscCall(EPSGetConverged(eps, &nconv));
  const PetscInt want = !strcmp(which, "interval") ? k2 - k1 : nev;
  PetscCheck(nconv >= want, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "EPS converged %" PetscInt_FMT " eigenvalues, %" PetscInt_FMT " wanted", nconv, want);
  PetscCheck(!strcmp(which, "interval") ? nconv == want : PETSC_TRUE, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the interval [%g, %g] holds %" PetscInt_FMT " eigenvalues of the dense matrix but EPS found %" PetscInt_FMT " (the inertia counts are wrong)", (double)a, (double)b, want, nconv);
  PetscCheck(nconv <= 4 * nev + nref, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "too many converged eigenvalues: %" PetscInt_FMT, nconv);
  for (PetscInt i = 0; i < want; i++) PetscCall(EPSGetEigenvalue(eps, i, &got[i], NULL));
  /* each computed eigenvalue against the nearest reference eigenvalue */
  PetscReal fardist = 0;
  for (PetscInt i = 0; i < want; i++) {
    PetscReal best = PETSC_MAX_REAL;
    for (PetscInt j = 0; j < nref; j++) best = PetscMin(best, PetscAbsReal(got[i] - ref[j]) / PetscAbsReal(ref[j]));
    worst   = PetscMax(worst, best);
    fardist = PetscMax(fardist, PetscAbsReal(got[i] - target));
  }
  if (!strcmp(which, "largest")) PetscCheck(PetscAbsReal(got[nev - 1] - ref[nev - 1]) <= maxerr * ref[nev - 1], PETSC_COMM_WORLD, PETSC_ERR_PLIB, "eigenvalue %" PetscInt_FMT " is %g, the dense one %g", nev, (double)got[nev - 1], (double)ref[nev - 1]);
  if (!strcmp(which, "target")) { /* they must be the nearest: none farther than the nev-th nearest reference one */
    PetscReal *d;
    PetscCall(PetscMalloc1(nref, &d));
    for (PetscInt j = 0; j < nref; j++) d[j] = -PetscAbsReal(ref[j] - target);
    qsort(d, nref, sizeof(PetscReal), cmpdesc);
    PetscCheck(fardist <= -d[nev - 1] * (1 + maxerr) + maxerr * PetscAbsReal(target), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "an eigenvalue at distance %g from the target is not among the %" PetscInt_FMT " nearest (%g)", (double)fardist, nev, (double)-d[nev - 1]);
    PetscCall(PetscFree(d));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT " %s%s: %" PetscInt_FMT " eigenvalues (%.6g ... %.6g), max relative error vs dense %.3e, EPS time %.3g s\n", name, N, which, split ? " (split: dense operator, MATH2 preconditioner)" : "", want, (double)got[0], (double)got[want - 1], (double)worst, t1 - t0));
  if (!strcmp(which, "target")) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  target %.8g\n", (double)target));
  if (!strcmp(which, "interval")) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  interval [%.8g, %.8g]: %" PetscInt_FMT " eigenvalues, as in the dense reference\n", (double)a, (double)b, nconv));
  PetscCheck(worst <= maxerr, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "eigenvalue error %.3e exceeds -max_err %.3e", (double)worst, (double)maxerr);
  PetscCall(EPSDestroy(&eps));
  PetscCall(PetscFree2(ref, got));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(SlepcFinalize());
  return 0;
}
