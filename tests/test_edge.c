/* MATH2 on degenerate and unusual inputs; every case must build and agree with a MATDENSE reference
   filled entry by entry from the same C kernel formula (relative error <= factor * rtol for MatMult,
   MatMultTranspose, MatConvert(MATDENSE), MatNorm(FROBENIUS) and MatMult after MatShift; MatNorm(1 and
   infinity) within 1%; MatGetDiagonal exact; MatH2GetIndexMap a permutation of 0..N-1):
     N = 1; N = 5 (smaller than a leaf); every point twice (user kernel and built-in Matern);
     300 copies of one point (more than a leaf); all points identical; points on a line (dim 1, and
     3-D with y = z = 0); points on a plane (dim 2, and 3-D with z = 0); one process owning no rows
     (explicit local sizes, needs >= 2 processes); a grid given in random order (nonsymmetric kernel).
   Options: -mat_h2_rtol <1e-8> -factor <10> -case <k> (only case k) */
#include <h2ulv.h>

typedef enum { K_EXP, K_EXP_NS, K_IMQ, K_MATERN_BUILTIN } KernelKind;

/* exponential kernel exp(-r/l); the nonsymmetric variant weights by the column point,
   (1 + y_0/2) exp(-r/l).  Same formulas for MatH2SetKernel and for the dense reference. */
static const PetscReal LEN = 0.5;
static PetscScalar     KExp(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  PetscReal r2 = 0;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return PetscExpReal(-PetscSqrtReal(r2) / LEN);
}
static PetscScalar KExpNS(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx) { return (1.0 + 0.5 * y[0]) * KExp(dim, x, y, ctx); }
/* inverse multiquadric 1/sqrt(r^2 + 0.01): for points on a line, where exp(-|x-y|/l) would be
   exactly separable (rank 1) and so compress without any approximation */
static PetscScalar KImq(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  PetscReal r2 = 0;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return 1.0 / PetscSqrtReal(r2 + 0.01);
}

/* the built-in MATH2_KERNEL_MATERN32 as documented in h2ulv.h: s (1 + sqrt3 r/l) exp(-sqrt3 r/l),
   diagonal (i == j) kernel(0) + nugget; coincident distinct points get kernel(0) */
static const PetscReal MS = 2.0, ML = 0.3, MNUG = 0.125;
static PetscScalar     MaternRef(PetscInt dim, const PetscReal x[], const PetscReal y[], PetscBool diag)
{
  PetscReal r2 = 0, t;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  t = PetscSqrtReal(3.0) * PetscSqrtReal(r2) / ML;
  return MS * (1 + t) * PetscExpReal(-t) + (diag ? MNUG : 0.0);
}

/* deterministic uniform numbers in [0, 1), identical on every process */
static unsigned long long rng_state = 88172645463325252ULL;
static PetscReal          Uniform(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (PetscReal)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct {
  char       name[80];
  PetscInt   N, dim, leaf; /* leaf 0: default */
  PetscReal *X;            /* all points, global order */
  KernelKind kernel;
  PetscBool  emptyrank; /* process 1 owns no rows */
} Case;

static PetscErrorCode CaseCreate(Case *c, const char *name, PetscInt N, PetscInt dim, KernelKind k, PetscInt leaf)
{
  PetscFunctionBegin;
  PetscCall(PetscMemzero(c, sizeof(*c)));
  PetscCall(PetscStrncpy(c->name, name, sizeof(c->name)));
  c->N      = N;
  c->dim    = dim;
  c->kernel = k;
  c->leaf   = leaf;
  PetscCall(PetscMalloc1(N * dim, &c->X));
  PetscFunctionReturn(0);
}

static PetscErrorCode RelErr(Vec a, Vec b, PetscReal *e)
{
  PetscReal nb;

  PetscFunctionBegin;
  PetscCall(VecNorm(b, NORM_2, &nb));
  PetscCall(VecAXPY(a, -1.0, b));
  PetscCall(VecNorm(a, NORM_2, e));
  *e /= nb;
  PetscFunctionReturn(0);
}

static PetscErrorCode RunCase(Case *c, PetscReal rtol, PetscReal factor)
{
  MPI_Comm    comm = PETSC_COMM_WORLD;
  PetscMPIInt rank, size;
  PetscInt    m = PETSC_DECIDE, rstart, rend, N = c->N, dim = c->dim;
  Mat         A, D, D2;
  Vec         x, y, yd;
  PetscReal   err[6], tol = factor * rtol, nd;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (c->emptyrank) {
    if (size < 2) {
      PetscCall(PetscPrintf(comm, "  %-52s skipped (needs >= 2 processes)\n", c->name));
      PetscFunctionReturn(0);
    }
    /* process 1 owns nothing, the others share the rows */
    m = rank == 1 ? 0 : N / (size - 1) + ((rank == 0 ? 0 : rank - 1) < N % (size - 1) ? 1 : 0);
  }

  /* the H2 matrix */
  PetscCall(MatCreate(comm, &A));
  PetscCall(MatSetSizes(A, m, m, N, N));
  PetscCall(MatSetType(A, MATH2));
  PetscCall(MatSetFromOptions(A));
  PetscCall(MatH2SetTolerance(A, rtol, PETSC_DEFAULT));
  if (c->leaf) PetscCall(MatH2SetLeafSize(A, c->leaf));
  PetscCall(MatSetUp(A));
  PetscCall(MatGetOwnershipRange(A, &rstart, &rend));
  if (c->emptyrank && rank == 1) PetscCheck(rend == rstart, PETSC_COMM_SELF, PETSC_ERR_PLIB, "process 1 should own no rows");
  PetscCall(MatH2SetCoordinates(A, dim, c->X + rstart * dim));
  switch (c->kernel) {
  case K_EXP:
    PetscCall(MatH2SetKernel(A, KExp, NULL));
    PetscCall(MatSetOption(A, MAT_SYMMETRIC, PETSC_TRUE));
    break;
  case K_EXP_NS: PetscCall(MatH2SetKernel(A, KExpNS, NULL)); break;
  case K_IMQ:
    PetscCall(MatH2SetKernel(A, KImq, NULL));
    PetscCall(MatSetOption(A, MAT_SYMMETRIC, PETSC_TRUE));
    break;
  case K_MATERN_BUILTIN: PetscCall(MatH2SetBuiltinKernel(A, MATH2_KERNEL_MATERN32, MS, ML, PETSC_DEFAULT, MNUG)); break;
  }
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));

  /* the dense reference: the same formula, entry by entry, with the same row layout */
  PetscCall(MatCreateDense(comm, rend - rstart, rend - rstart, N, N, NULL, &D));
  for (PetscInt i = rstart; i < rend; i++)
    for (PetscInt j = 0; j < N; j++) {
      const PetscReal *xi = c->X + i * dim, *xj = c->X + j * dim;
      PetscScalar      v;
      switch (c->kernel) {
      case K_EXP: v = KExp(dim, xi, xj, NULL); break;
      case K_EXP_NS: v = KExpNS(dim, xi, xj, NULL); break;
      case K_IMQ: v = KImq(dim, xi, xj, NULL); break;
      default: v = MaternRef(dim, xi, xj, (PetscBool)(i == j));
      }
      PetscCall(MatSetValue(D, i, j, v, INSERT_VALUES));
    }
  PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));

  /* products with a deterministic vector */
  PetscCall(MatCreateVecs(A, &x, &y));
  PetscCall(VecDuplicate(y, &yd));
  for (PetscInt i = rstart; i < rend; i++) PetscCall(VecSetValue(x, i, PetscSinReal(0.37 * i) + 0.1, INSERT_VALUES));
  PetscCall(VecAssemblyBegin(x));
  PetscCall(VecAssemblyEnd(x));
  PetscCall(MatMult(A, x, y));
  PetscCall(MatMult(D, x, yd));
  PetscCall(RelErr(y, yd, &err[0]));
  PetscCall(MatMultTranspose(A, x, y));
  PetscCall(MatMultTranspose(D, x, yd));
  PetscCall(RelErr(y, yd, &err[1]));
  /* explicit entries */
  PetscCall(MatConvert(A, MATDENSE, MAT_INITIAL_MATRIX, &D2));
  PetscCall(MatNorm(D, NORM_FROBENIUS, &nd));
  PetscCall(MatAXPY(D2, -1.0, D, SAME_NONZERO_PATTERN));
  PetscCall(MatNorm(D2, NORM_FROBENIUS, &err[2]));
  err[2] /= nd;
  PetscCall(MatDestroy(&D2));
  /* the diagonal comes from exact near blocks */
  PetscCall(MatGetDiagonal(A, y));
  PetscCall(MatGetDiagonal(D, yd));
  PetscCall(RelErr(y, yd, &err[3]));

  /* norms: Frobenius (exact for the H2 matrix); 1 and infinity (estimates, at most 1%% low) */
  {
    const NormType t[3] = {NORM_FROBENIUS, NORM_1, NORM_INFINITY};
    err[4] = err[5] = 0;
    for (int k = 0; k < 3; k++) {
      PetscReal nh;
      PetscCall(MatNorm(A, t[k], &nh));
      PetscCall(MatNorm(D, t[k], &nd));
      if (k == 0) err[4] = PetscAbsReal(nh - nd) / nd;
      else err[5] = PetscMax(err[5], PetscMax((nd - nh) / nd / 1e-2, (nh - nd) / nd / tol)); /* <= 1 when within [0.99, 1 + tol] */
    }
  }
  /* a shift (values only) */
  PetscCall(MatShift(A, 0.5));
  PetscCall(MatShift(D, 0.5));
  PetscCall(MatMult(A, x, y));
  PetscCall(MatMult(D, x, yd));
  PetscCall(RelErr(y, yd, &nd));
  err[0] = PetscMax(err[0], nd);

  /* the tree order is a permutation of 0..N-1 */
  {
    IS              is, all;
    const PetscInt *idx;
    PetscInt        n;
    PetscCall(MatH2GetIndexMap(A, &is));
    PetscCall(ISAllGather(is, &all));
    PetscCall(ISGetLocalSize(all, &n));
    PetscCheck(n == N, PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED %s: MatH2GetIndexMap has %" PetscInt_FMT " indices in all, not %" PetscInt_FMT, c->name, n, N);
    PetscCall(ISSort(all));
    PetscCall(ISGetIndices(all, &idx));
    for (PetscInt i = 0; i < N; i++) PetscCheck(idx[i] == i, PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED %s: MatH2GetIndexMap is not a permutation (index %" PetscInt_FMT " missing)", c->name, i);
    PetscCall(ISRestoreIndices(all, &idx));
    PetscCall(ISDestroy(&all));
    PetscCall(ISDestroy(&is));
  }

  PetscCall(PetscPrintf(comm, "  %-50s N=%4" PetscInt_FMT " mult %.1e multT %.1e entries %.1e diag %.1e normF %.1e norm1/inf %.2f\n", c->name, N, (double)err[0], (double)err[1], (double)err[2], (double)err[3], (double)err[4], (double)err[5]));
  PetscCheck(err[0] <= tol && err[1] <= tol && err[2] <= tol && err[4] <= tol, comm, PETSC_ERR_NOT_CONVERGED, "FAILED %s: errors %.3e %.3e %.3e %.3e exceed %.3e", c->name, (double)err[0], (double)err[1], (double)err[2], (double)err[4], (double)tol);
  PetscCheck(err[5] <= 1, comm, PETSC_ERR_NOT_CONVERGED, "FAILED %s: MatNorm(1 or infinity) is not within [0.99, 1 + tol] of the exact norm", c->name);
  PetscCheck(err[3] <= 1e-14, comm, PETSC_ERR_PLIB, "FAILED %s: diagonal error %.3e", c->name, (double)err[3]);
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&yd));
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&D));
  PetscFunctionReturn(0);
}

#define NCASES 13

/* case k: fills c (points generated identically on every process) */
static PetscErrorCode MakeCase(PetscInt k, Case *c)
{
  PetscFunctionBegin;
  rng_state = 88172645463325252ULL + 7919ULL * (unsigned long long)k;
  switch (k) {
  case 0: /* a single point */
    PetscCall(CaseCreate(c, "N = 1", 1, 3, K_EXP, 0));
    c->X[0] = 0.3, c->X[1] = 0.2, c->X[2] = 0.1;
    break;
  case 1: /* fewer points than a leaf; nonsymmetric */
    PetscCall(CaseCreate(c, "N = 5 (< leaf size), nonsymmetric", 5, 3, K_EXP_NS, 0));
    for (PetscInt i = 0; i < 15; i++) c->X[i] = Uniform();
    break;
  case 2:
  case 3: /* every point twice: point i and point i + 150 coincide */
    PetscCall(CaseCreate(c, k == 2 ? "every point twice, user exp kernel" : "every point twice, built-in matern32", 300, 3, k == 2 ? K_EXP : K_MATERN_BUILTIN, 16));
    for (PetscInt i = 0; i < 150 * 3; i++) c->X[i] = c->X[i + 450] = Uniform();
    break;
  case 4: /* 300 copies of one point (more than a leaf) among 300 random points */
    PetscCall(CaseCreate(c, "300 copies of one point + 300 random, leaf 16", 600, 3, K_EXP, 16));
    for (PetscInt i = 0; i < 600; i++)
      for (PetscInt d = 0; d < 3; d++) c->X[3 * i + d] = (i % 2) ? 0.5 : Uniform();
    break;
  case 5: /* all points identical: the rank-one matrix of ones */
    PetscCall(CaseCreate(c, "all 200 points identical, leaf 16", 200, 3, K_EXP, 16));
    for (PetscInt i = 0; i < 600; i++) c->X[i] = 0.25;
    break;
  case 6: /* a line, dim 1 */
    PetscCall(CaseCreate(c, "points on a line, dim 1, imq kernel, leaf 32", 1000, 1, K_IMQ, 32));
    for (PetscInt i = 0; i < 1000; i++) c->X[i] = Uniform();
    break;
  case 7: /* a line in 3-D: y = z = 0 */
    PetscCall(CaseCreate(c, "points on a line in 3-D (y = z = 0), imq, leaf 32", 1000, 3, K_IMQ, 32));
    for (PetscInt i = 0; i < 1000; i++) c->X[3 * i] = Uniform(), c->X[3 * i + 1] = c->X[3 * i + 2] = 0;
    break;
  case 8: /* a plane, dim 2 */
    PetscCall(CaseCreate(c, "points on a plane, dim 2, leaf 32", 1500, 2, K_EXP, 32));
    for (PetscInt i = 0; i < 3000; i++) c->X[i] = Uniform();
    break;
  case 9: /* a plane in 3-D: z = 0 */
    PetscCall(CaseCreate(c, "points on a plane in 3-D (z = 0), leaf 32", 1500, 3, K_MATERN_BUILTIN, 32));
    for (PetscInt i = 0; i < 1500; i++) c->X[3 * i] = Uniform(), c->X[3 * i + 1] = Uniform(), c->X[3 * i + 2] = 0;
    break;
  case 10: /* process 1 owns no rows */
  case 11:
    PetscCall(CaseCreate(c, k == 10 ? "process 1 owns no rows, leaf 32" : "process 1 owns no rows, nonsymmetric, leaf 32", 1200, 3, k == 10 ? K_EXP : K_EXP_NS, 32));
    for (PetscInt i = 0; i < 3600; i++) c->X[i] = Uniform();
    c->emptyrank = PETSC_TRUE;
    break;
  case 12: { /* a 12^3 grid in random order (Fisher-Yates), nonsymmetric */
    const PetscInt g = 12, n = g * g * g;
    PetscInt      *perm;
    PetscCall(CaseCreate(c, "12^3 grid in random order, nonsymmetric, leaf 32", n, 3, K_EXP_NS, 32));
    PetscCall(PetscMalloc1(n, &perm));
    for (PetscInt i = 0; i < n; i++) perm[i] = i;
    for (PetscInt i = n - 1; i > 0; i--) {
      PetscInt j = (PetscInt)(Uniform() * (i + 1)), t = perm[i];
      perm[i] = perm[j], perm[j] = t;
    }
    for (PetscInt i = 0; i < n; i++) {
      PetscInt p = perm[i];
      c->X[3 * i] = (p % g) / (PetscReal)g, c->X[3 * i + 1] = ((p / g) % g) / (PetscReal)g, c->X[3 * i + 2] = (p / (g * g)) / (PetscReal)g;
    }
    PetscCall(PetscFree(perm));
  } break;
  }
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscReal rtol = 1e-8, factor = 10;
  PetscInt  only = -1;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2 edge cases against dense references"));
  PetscCall(H2ULVInitializePackage()); /* registers MATH2 before the first MatSetType() */
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-mat_h2_rtol", &rtol, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-factor", &factor, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-case", &only, NULL));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "MATH2 edge cases, rtol %g, tolerance %g\n", (double)rtol, (double)(factor * rtol)));
  for (PetscInt k = 0; k < NCASES; k++) {
    Case c;
    if (only >= 0 && k != only) continue;
    PetscCall(MakeCase(k, &c));
    PetscCall(RunCase(&c, rtol, factor));
    PetscCall(PetscFree(c.X));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(PetscFinalize());
  return 0;
}
