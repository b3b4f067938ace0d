static const char help[] = "Capacitance of a conductor from the first-kind single-layer equation, solved with MATH2 + PCH2ULV.\n\
  -surface <sphere>  sphere (unit radius, C = 4 pi) or spheroid (prolate, semi-axes -a along z and 1, closed-form C)\n\
  -a <2>             semi-major axis of the spheroid\n\
  -n <16384>         number of collocation points (panels)\n\
  -dense <auto>      also solve with PETSc MATDENSE + LAPACK Cholesky (default: when n <= 8192)\n\
  -max_err <0.01>    fail if the capacitance error against the exact value exceeds this\n\
With the conductor held at potential 1, the surface charge q solves  sum_j q_j / (4 pi |x_i - x_j|) = 1\n\
(units with epsilon_0 = 1), and the capacitance is C = sum_j q_j.  Any KSP/PC option applies; the\n\
default is GMRES with -pc_type h2ulv.\n";

/*
   Discretisation.  The N points are a Fibonacci lattice on the unit sphere (equal areas 4 pi/N),
   mapped to the spheroid (x, y, z) -> (x, y, a z).  Point i carries the area w_i of its panel: the
   sphere's 4 pi/N times the area stretch of the map, sqrt(a^2 (u_x^2 + u_y^2) + u_z^2) at the
   sphere point u.  The unknowns are the panel charges q_j (so the matrix is symmetric):

      K_ij = 1 / (4 pi |x_i - x_j|)                       (i != j: point charges)
      K_ii = (1/w_i) int_disk(w_i) 1/(4 pi r) dA = 1 / (2 sqrt(pi w_i))   (the panel's own charge,
                                                             spread over a flat disk of area w_i)

   The kernel is given to MATH2 as a user function (MatH2SetKernel); it computes w_i from the
   position, so the diagonal needs no extra data.

   Exact capacitances: sphere of radius R: 4 pi R.  Prolate spheroid with semi-axes a > b = 1:
   C = 4 pi sqrt(a^2 - 1) / ln(a + sqrt(a^2 - 1)).
*/
#include <h2ulv.h>

typedef struct {
  PetscReal a; /* z semi-axis (1: sphere) */
  PetscInt  N;
} Surface;

/* panel area at the surface point x */
static PetscReal PanelArea(const Surface *s, const PetscReal x[])
{
  const PetscReal uz = x[2] / s->a; /* the sphere point u = (x, y, z/a) */
  return 4.0 * PETSC_PI / s->N * PetscSqrtReal(s->a * s->a * (x[0] * x[0] + x[1] * x[1]) + uz * uz);
}

static PetscScalar SingleLayer(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  const Surface  *s  = (const Surface *)ctx;
  const PetscReal dx = x[0] - y[0], dy = x[1] - y[1], dz = x[2] - y[2];
  const PetscReal r  = PetscSqrtReal(dx * dx + dy * dy + dz * dz);

  (void)dim;
  if (r == 0) return 1.0 / (2.0 * PetscSqrtReal(PETSC_PI * PanelArea(s, x)));
  return 1.0 / (4.0 * PETSC_PI * r);
}

int main(int argc, char **argv)
{
  char           surf[32] = "sphere";
  Surface        s        = {2.0, 16384};
  PetscInt       rstart, rend, its, N;
  PetscBool      dense, dflg;
  PetscReal     *xyz, C, Cd = 0, Cex, maxerr = 0.01, area = 0, garea;
  Mat            A, D = NULL;
  Vec            q, one, qd;
  KSP            ksp;
  PC             pc;
  PetscLogDouble t0, t1, t2, t3, mem;
  KSPConvergedReason reason;

  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(H2ULVInitializePackage());
  PetscCall(PetscOptionsGetString(NULL, NULL, "-surface", surf, sizeof(surf), NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-a", &s.a, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &s.N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_err", &maxerr, NULL));
  N = s.N;
  PetscCheck(N >= 2, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-n must be at least 2, got %" PetscInt_FMT, N);
  if (!strcmp(surf, "sphere")) s.a = 1.0;
  else PetscCheck(!strcmp(surf, "spheroid"), PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-surface must be sphere or spheroid, got %s", surf);
  PetscCheck(s.a >= 1.0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-a must be >= 1 (prolate spheroid), got %g", (double)s.a);
  if (s.a == 1.0) Cex = 4.0 * PETSC_PI;
  else {
    const PetscReal e = PetscSqrtReal(s.a * s.a - 1.0);
    Cex = 4.0 * PETSC_PI * e / PetscLogReal(s.a + e);
  }
  dense = (PetscBool)(N <= 8192);
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-dense", &dense, &dflg));

  /* the operator: MATH2 from the points and the user kernel */
  PetscCall(PetscTime(&t0));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &A));
  PetscCall(MatSetSizes(A, PETSC_DECIDE, PETSC_DECIDE, N, N));
  PetscCall(MatSetType(A, MATH2));
  PetscCall(MatSetFromOptions(A));
  PetscCall(MatSetUp(A));
  PetscCall(MatGetOwnershipRange(A, &rstart, &rend));
  PetscCall(PetscMalloc1(3 * (rend - rstart), &xyz));
  for (PetscInt k = rstart; k < rend; k++) {
    const PetscReal z = 1.0 - (2.0 * k + 1.0) / N, rho = PetscSqrtReal(PetscMax(0.0, 1.0 - z * z)), phi = k * PETSC_PI * (3.0 - PetscSqrtReal(5.0));
    PetscReal      *p = xyz + 3 * (k - rstart);
    p[0] = rho * PetscCosReal(phi);
    p[1] = rho * PetscSinReal(phi);
    p[2] = s.a * z;
    area += PanelArea(&s, p);
  }
  PetscCall(MPIU_Allreduce(&area, &garea, 1, MPIU_REAL, MPIU_SUM, PETSC_COMM_WORLD));
  PetscCall(MatH2SetCoordinates(A, 3, xyz));
  PetscCall(MatH2SetKernel(A, SingleLayer, &s));
  PetscCall(MatSetOption(A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscCall(PetscTime(&t1));
  PetscCall(MatH2GetMemory(A, &mem));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s (a = %g), N = %" PetscInt_FMT ", surface area %.6f: H2 construction %.3f s, %.1f MB (dense: %.1f MB)\n", surf, (double)s.a, N, (double)garea, t1 - t0, mem / 1048576.0, 8.0 * N * (double)N / 1048576.0));

  /* solve K q = 1 */
  PetscCall(MatCreateVecs(A, &q, &one));
  PetscCall(VecSet(one, 1.0));
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetType(ksp, KSPGMRES));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCH2ULV));
  PetscCall(PCH2ULVSetTolerance(pc, 1e-4, 0)); /* a cheap factorization as the preconditioner (-pc_h2ulv_rtol overrides) */
  PetscCall(KSPSetTolerances(ksp, 1e-10, PETSC_DEFAULT, PETSC_DEFAULT, 200));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(KSPSetUp(ksp));
  PetscCall(PetscTime(&t2));
  PetscCall(KSPSolve(ksp, one, q));
  PetscCall(PetscTime(&t3));
  PetscCall(KSPGetIterationNumber(ksp, &its));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  PetscCheck(reason > 0, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "the solve did not converge: %s", KSPConvergedReasons[reason]);
  PetscCall(VecSum(q, &C));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "KSP %s: %" PetscInt_FMT " iterations; factorization (PC setup) %.3f s, solve %.3f s\n", KSPConvergedReasons[reason], its, t2 - t1, t3 - t2));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "capacitance C = %.8f, exact %.8f, relative error %.3e (discretisation error of the one-point panel rule)\n", (double)C, (double)Cex, (double)(PetscAbsReal(C - Cex) / Cex)));

  /* the same discrete system with PETSc MATDENSE and LAPACK Cholesky: checks the H2 part alone */
  if (dense) {
    KSP       kd;
    PC        pd;
    PetscInt  cstart, cend;
    PetscReal *all;
    PetscCall(PetscTime(&t0));
    PetscCall(MatCreateDense(PETSC_COMM_WORLD, rend - rstart, PETSC_DECIDE, N, N, NULL, &D));
    PetscCall(PetscMalloc1(3 * N, &all));
    for (PetscInt k = 0; k < N; k++) { /* every point (rows are local, columns global) */
      const PetscReal z = 1.0 - (2.0 * k + 1.0) / N, rho = PetscSqrtReal(PetscMax(0.0, 1.0 - z * z)), phi = k * PETSC_PI * (3.0 - PetscSqrtReal(5.0));
      all[3 * k] = rho * PetscCosReal(phi), all[3 * k + 1] = rho * PetscSinReal(phi), all[3 * k + 2] = s.a * z;
    }
    PetscCall(MatGetOwnershipRangeColumn(D, &cstart, &cend));
    {
      PetscScalar *a;
      PetscInt     lda;
      PetscCall(MatDenseGetArrayWrite(D, &a));
      PetscCall(MatDenseGetLDA(D, &lda));
      for (PetscInt j = 0; j < N; j++)
        for (PetscInt i = rstart; i < rend; i++) a[(i - rstart) + j * lda] = SingleLayer(3, all + 3 * i, all + 3 * j, &s);
      PetscCall(MatDenseRestoreArrayWrite(D, &a));
    }
    (void)cstart, (void)cend;
    PetscCall(PetscFree(all));
    PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));
    PetscCall(MatSetOption(D, MAT_SPD, PETSC_TRUE));
    PetscCall(VecDuplicate(q, &qd));
    PetscCall(KSPCreate(PETSC_COMM_WORLD, &kd));
    PetscCall(KSPSetOptionsPrefix(kd, "dense_"));
    PetscCall(KSPSetOperators(kd, D, D));
    PetscCall(KSPSetType(kd, KSPPREONLY));
    PetscCall(KSPGetPC(kd, &pd));
    PetscCall(PCSetType(pd, PCCHOLESKY));
    PetscCall(KSPSolve(kd, one, qd));
    PetscCall(PetscTime(&t1));
    PetscCall(VecSum(qd, &Cd));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "dense LAPACK (PETSc MATDENSE, Cholesky): C = %.8f in %.3f s; H2 vs dense: relative difference %.3e\n", (double)Cd, t1 - t0, (double)(PetscAbsReal(C - Cd) / Cd)));
    PetscCheck(PetscAbsReal(C - Cd) <= 1e-6 * Cd, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "the H2 capacitance differs from the dense one by %.3e (relative)", (double)(PetscAbsReal(C - Cd) / Cd));
    PetscCall(KSPDestroy(&kd));
    PetscCall(VecDestroy(&qd));
    PetscCall(MatDestroy(&D));
  }
  PetscCheck(PetscAbsReal(C - Cex) <= maxerr * Cex, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "capacitance error %.3e exceeds -max_err %g", (double)(PetscAbsReal(C - Cex) / Cex), (double)maxerr);

  PetscCall(KSPDestroy(&ksp));
  PetscCall(VecDestroy(&q));
  PetscCall(VecDestroy(&one));
  PetscCall(MatDestroy(&A));
  PetscCall(PetscFree(xyz));
  PetscCall(PetscFinalize());
  return 0;
}
