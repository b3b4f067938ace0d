/* MATH2 rejects bad input with an error (never a crash, hang or silent garbage).  Every case must
   return a nonzero error code, caught with a returning error handler; for most cases the message of
   the error's origin must also name the offending option or function.  At the end a valid matrix is
   built and checked against MATDENSE, so the earlier errors left the library usable.
   Run on one process.  -group api|options|all (default all): API and operation cases, or the
   options-database cases (which leak PETSc option-parsing memory on error, see OptionCases). */
#include <h2ulv.h>
#include <stdio.h>
#include <string.h>

static char           errmsg[4096];
static PetscInt       ncases = 0;
static PetscErrorCode CatchError(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  if (p == PETSC_ERROR_INITIAL && mess) { /* keep the message of the origin, not of the traceback */
    strncpy(errmsg, mess, sizeof(errmsg) - 1);
    errmsg[sizeof(errmsg) - 1] = 0;
  }
  return n;
}

/* ierr must be an error; its message must contain key (if key != NULL) */
static PetscErrorCode ExpectError(PetscErrorCode ierr, const char *key, const char *what)
{
  PetscFunctionBegin;
  ncases++;
  PetscCheck(ierr, PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s]: no error was raised", what);
  PetscCheck(!key || strstr(errmsg, key), PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s]: the message does not mention \"%s\": %s", what, key, errmsg);
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "  ok %-58s -> %s\n", what, errmsg));
  errmsg[0] = 0;
  PetscFunctionReturn(0);
}

/* run a statement that must fail, with the returning handler pushed */
#define MUST_FAIL(stmt, key, what) \
  do { \
    PetscErrorCode ierr_; \
    errmsg[0] = 0; \
    PetscCall(PetscPushErrorHandler(CatchError, NULL)); \
    ierr_ = (stmt); \
    PetscCall(PetscPopErrorHandler()); \
    PetscCall(ExpectError(ierr_, key, what)); \
  } while (0)

/* smooth exponential kernel, and kernels that are NaN or Inf on the diagonal */
static PetscScalar KExp(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  PetscReal r2 = 0;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return PetscExpReal(-PetscSqrtReal(r2));
}
static PetscScalar KNaN(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  PetscReal r2 = 0, r;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  r = PetscSqrtReal(r2);
  return PetscSinReal(r) / r; /* 0/0 on the diagonal */
}
static PetscScalar KInf(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  PetscReal r2 = 0;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return 1.0 / PetscSqrtReal(r2); /* the classic mistake: 1/r without the r = 0 case */
}
static PetscErrorCode EntriesFail(PetscInt m, const PetscInt rows[], PetscInt n, const PetscInt cols[], PetscScalar out[], PetscInt ldo, void *ctx)
{
  return PETSC_ERR_USER_INPUT; /* a user callback that reports an error */
}

/* exp(-|i - j| / 10) with the diagonal 0 (no angle distance) or NaN */
static PetscErrorCode EntriesBadDiagonal(PetscInt m, const PetscInt rows[], PetscInt n, const PetscInt cols[], PetscScalar out[], PetscInt ldo, void *ctx)
{
  const PetscReal d = *(const PetscReal *)ctx;
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt i = 0; i < m; i++) out[i + j * ldo] = rows[i] == cols[j] ? d : PetscExpReal(-PetscAbsReal((PetscReal)(rows[i] - cols[j])) / 10);
  return 0;
}

#define NP 200
static PetscReal coords[3 * NP];

/* a MATH2 of NP points (sizes and type set, nothing else) */
static PetscErrorCode NewMat(Mat *A)
{
  PetscFunctionBegin;
  PetscCall(MatCreate(PETSC_COMM_WORLD, A));
  PetscCall(MatSetSizes(*A, PETSC_DECIDE, PETSC_DECIDE, NP, NP));
  PetscCall(MatSetType(*A, MATH2));
  PetscFunctionReturn(0);
}

/* the assembly, then the first use of the operator (its bases and values are built there) */
static PetscErrorCode Assemble(Mat A)
{
  MatH2Info info;

  PetscFunctionBegin;
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatH2GetInfo(A, &info));
  PetscFunctionReturn(0);
}

/* -name value, MatSetFromOptions, and the option removed again (whatever happened) */
static PetscErrorCode SetFromOptionsWith(Mat A, const char *name, const char *value)
{
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscOptionsSetValue(NULL, name, value));
  ierr = MatSetFromOptions(A);
  PetscCall(PetscOptionsClearValue(NULL, name));
  PetscFunctionReturn(ierr);
}

/* options then assembly (for errors that only show at MatAssemblyEnd) */
static PetscErrorCode AssembleWithOptions(Mat A, const char *name, const char *value)
{
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(PetscOptionsSetValue(NULL, name, value));
  ierr = MatSetFromOptions(A);
  PetscCall(PetscOptionsClearValue(NULL, name));
  if (!ierr) ierr = Assemble(A);
  PetscFunctionReturn(ierr);
}

static PetscErrorCode ApiCases(void)
{
  Mat A;

  PetscFunctionBegin;
  /* ---- construction order */
  PetscCall(NewMat(&A));
  PetscCall(MatH2SetKernel(A, KExp, NULL));
  MUST_FAIL(Assemble(A), "MatH2SetCoordinates", "MatAssemblyEnd without coordinates");
  PetscCall(MatDestroy(&A));

  PetscCall(NewMat(&A));
  PetscCall(MatH2SetCoordinates(A, 3, coords));
  MUST_FAIL(Assemble(A), "MatH2SetKernel", "MatAssemblyEnd without a kernel");
  PetscCall(MatDestroy(&A));

  /* ---- the tree from the entries alone (no coordinates) */
  {
    PetscReal zero = 0.0, nan = NAN;
    PetscCall(NewMat(&A));
    PetscCall(MatH2SetEntries(A, EntriesBadDiagonal, &zero));
    MUST_FAIL(Assemble(A), "nonzero, finite diagonal", "no coordinates, a zero diagonal");
    PetscCall(MatH2SetEntries(A, EntriesBadDiagonal, &nan));
    MUST_FAIL(Assemble(A), "nonzero, finite diagonal", "no coordinates, a NaN diagonal");
    PetscCall(MatH2SetGeometry(A, MATH2_GEOMETRY_POINTS, PETSC_DEFAULT));
    MUST_FAIL(Assemble(A), "-mat_h2_geometry points", "MatH2SetGeometry(points) without coordinates");
    MUST_FAIL(MatH2SetGeometry(A, MATH2_GEOMETRY_MATRIX, 0), "neighbours", "MatH2SetGeometry with 0 neighbours");
    PetscCall(MatDestroy(&A));
  }

  /* coordinates before the sizes are known */
  PetscCall(MatCreate(PETSC_COMM_WORLD, &A));
  PetscCall(MatSetType(A, MATH2));
  MUST_FAIL(MatH2SetCoordinates(A, 3, coords), "MatSetSizes", "MatH2SetCoordinates before MatSetSizes");
  PetscCall(MatDestroy(&A));

  /* sizes changed after MatH2SetCoordinates: PETSc itself refuses to change the sizes of a Mat
     whose layout is set up (MatH2SetCoordinates sets it up), so the stale coordinates can never be
     used; the library's own check at assembly ("the layout changed") is therefore unreachable. */
  PetscCall(NewMat(&A));
  PetscCall(MatH2SetCoordinates(A, 3, coords));
  MUST_FAIL(MatSetSizes(A, PETSC_DECIDE, PETSC_DECIDE, NP - 1, NP - 1), NULL, "MatSetSizes after MatH2SetCoordinates");
  PetscCall(MatDestroy(&A));

  /* not square */
  PetscCall(MatCreate(PETSC_COMM_WORLD, &A));
  PetscCall(MatSetSizes(A, PETSC_DECIDE, PETSC_DECIDE, NP, NP + 1));
  PetscCall(MatSetType(A, MATH2));
  PetscCall(MatH2SetKernel(A, KExp, NULL));
  {
    PetscErrorCode ierr;
    errmsg[0] = 0;
    PetscCall(PetscPushErrorHandler(CatchError, NULL));
    ierr = MatH2SetCoordinates(A, 3, coords);
    if (!ierr) ierr = Assemble(A);
    PetscCall(PetscPopErrorHandler());
    PetscCall(ExpectError(ierr, "square", "non-square sizes"));
  }
  PetscCall(MatDestroy(&A));

  /* ---- coordinates */
  PetscCall(NewMat(&A));
  MUST_FAIL(MatH2SetCoordinates(A, 0, coords), "MatH2SetCoordinates", "MatH2SetCoordinates dim = 0");
  MUST_FAIL(MatH2SetCoordinates(A, 4, coords), "MatH2SetCoordinates", "MatH2SetCoordinates dim = 4");
  MUST_FAIL(MatH2SetCoordinates(A, 3, NULL), "MatH2SetCoordinates", "MatH2SetCoordinates coords = NULL");
  coords[3 * 17 + 1] = NAN;
  MUST_FAIL(MatH2SetCoordinates(A, 3, coords), "finite", "coordinates with a NaN");
  coords[3 * 17 + 1] = 0.5;
  coords[3 * 123 + 2] = -INFINITY;
  MUST_FAIL(MatH2SetCoordinates(A, 3, coords), "finite", "coordinates with -Inf");
  coords[3 * 123 + 2] = 0.25;
  /* the failed calls must not have left stale state: a proper call then works */
  PetscCall(MatH2SetCoordinates(A, 3, coords));
  PetscCall(MatH2SetKernel(A, KExp, NULL));
  PetscCall(Assemble(A));
  PetscCall(MatDestroy(&A));

  /* ---- kernels that are not finite on the diagonal (seen while building the near blocks) */
  PetscCall(NewMat(&A));
  PetscCall(MatH2SetCoordinates(A, 3, coords));
  PetscCall(MatH2SetKernel(A, KNaN, NULL));
  MUST_FAIL(Assemble(A), "not finite", "user kernel returning NaN (0/0 at r = 0)");
  PetscCall(MatH2SetKernel(A, KInf, NULL));
  MUST_FAIL(Assemble(A), "not finite", "user kernel returning Inf (1/r at r = 0)");
  PetscCall(MatH2SetEntries(A, EntriesFail, NULL));
  MUST_FAIL(Assemble(A), "MatH2SetEntries", "MatH2SetEntries callback returning an error");
  /* the same matrix with a proper kernel then works */
  PetscCall(MatH2SetKernel(A, KExp, NULL));
  PetscCall(Assemble(A));
  PetscCall(MatDestroy(&A));

  /* ---- parameters through the API */
  PetscCall(NewMat(&A));
  MUST_FAIL(MatH2SetLeafSize(A, 0), "leaf size", "MatH2SetLeafSize(A, 0)");
  MUST_FAIL(MatH2SetLeafSize(A, -5), "leaf size", "MatH2SetLeafSize(A, -5)");
  MUST_FAIL(MatH2SetTolerance(A, 0.0, PETSC_DEFAULT), "-mat_h2_rtol", "MatH2SetTolerance(A, 0, default)");
  MUST_FAIL(MatH2SetTolerance(A, 1.0, PETSC_DEFAULT), "-mat_h2_rtol", "MatH2SetTolerance(A, 1, default)");
  MUST_FAIL(MatH2SetTolerance(A, -1e-8, PETSC_DEFAULT), "-mat_h2_rtol", "MatH2SetTolerance(A, -1e-8, default)");
  MUST_FAIL(MatH2SetTolerance(A, 1e-8, 0), "-mat_h2_max_rank", "MatH2SetTolerance(A, 1e-8, maxrank 0)");
  MUST_FAIL(MatH2SetAdmissibility(A, MATH2_ADMISSIBILITY_ETA, -1.0), "admissibility", "MatH2SetAdmissibility(eta, -1)");
  MUST_FAIL(MatH2SetSampleSize(A, -1), "-mat_h2_samples", "MatH2SetSampleSize(A, -1)");
  MUST_FAIL(MatH2SetBuiltinKernel(A, MATH2_KERNEL_GAUSSIAN, 1.0, -0.1, PETSC_DEFAULT, 0.0), "-mat_h2_kernel_length", "MatH2SetBuiltinKernel(gaussian, length -0.1)");
  MUST_FAIL(MatH2SetBuiltinKernel(A, (MatH2KernelType)42, 1.0, 1.0, PETSC_DEFAULT, 0.0), "kernel", "MatH2SetBuiltinKernel(kernel type 42)");
  /* the singular Laplace kernel needs its diagonal value */
  PetscCall(MatH2SetCoordinates(A, 3, coords));
  PetscCall(MatH2SetBuiltinKernel(A, MATH2_KERNEL_LAPLACE, 1.0, 0.0, PETSC_DEFAULT, 0.0));
  MUST_FAIL(Assemble(A), "-mat_h2_kernel_diag", "MatH2SetBuiltinKernel(laplace) without diagonal");
  PetscCall(MatDestroy(&A));
  PetscFunctionReturn(0);
}

static PetscErrorCode OperationCases(void)
{
  Mat A, B, D;

  PetscFunctionBegin;
  /* ---- operations */
  PetscCall(NewMat(&A));
  PetscCall(MatH2SetCoordinates(A, 3, coords));
  PetscCall(MatH2SetKernel(A, KExp, NULL));
  {
    Vec x, y;
    PetscCall(MatCreateVecs(A, &x, &y));
    PetscCall(VecSet(x, 1.0));
    MUST_FAIL(MatMult(A, x, y), NULL, "MatMult before assembly");
    PetscCall(Assemble(A));
    PetscCall(MatMult(A, x, y)); /* now fine */
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&y));
  }
  PetscCall(NewMat(&B));
  PetscCall(MatH2SetCoordinates(B, 3, coords));
  PetscCall(MatH2SetKernel(B, KExp, NULL));
  PetscCall(Assemble(B));
  MUST_FAIL(MatAXPY(B, 1.0, A, SAME_NONZERO_PATTERN), "same H2 structure", "MatAXPY between separately built MATH2");
  MUST_FAIL(MatConvert(A, MATAIJ, MAT_INITIAL_MATRIX, &D), "dense", "MatConvert(MATH2, MATAIJ)");
  {
    PetscInt           nz;
    const PetscInt    *idx;
    const PetscScalar *v;
    MUST_FAIL(MatGetRow(A, 0, &nz, &idx, &v), "MatGetRow", "MatGetRow");
  }
  PetscCall(MatDestroy(&B));
  PetscCall(MatCreateDense(PETSC_COMM_WORLD, PETSC_DECIDE, PETSC_DECIDE, NP, NP, NULL, &D));
  PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));
  MUST_FAIL(MatConvert(D, MATH2, MAT_INITIAL_MATRIX, &B), "nonzero, finite diagonal", "MatConvert(zero dense, MATH2) without coordinates");
  PetscCall(MatDestroy(&D));
  PetscCall(MatDestroy(&A));
  PetscFunctionReturn(0);
}

/* ---- the same through the options database (-group options).  Every error here leaks a few
   bytes of PETSc's own option-parsing state (the PetscOptionsBegin/End of MatSetFromOptions is
   never closed, PetscOptionsGetEList does not free its list on error), so these cases run as a
   separate test without -malloc_dump.  A fresh matrix for every case: a failed MatSetFromOptions()
   leaves the rejected value stored in the matrix, so a second MatSetFromOptions() fails again. */
static PetscErrorCode OptionCases(void)
{
  Mat A;

  PetscFunctionBegin;
  {
    const char *opts[][4] = {
      {"-mat_h2_kernel", "bogus", "bogus", "-mat_h2_kernel bogus"},
      {"-mat_h2_leaf_size", "0", "-mat_h2_leaf_size", "-mat_h2_leaf_size 0"},
      {"-mat_h2_rtol", "0", "-mat_h2_rtol", "-mat_h2_rtol 0"},
      {"-mat_h2_rtol", "1.5", "-mat_h2_rtol", "-mat_h2_rtol 1.5"},
      {"-mat_h2_max_rank", "0", "-mat_h2_max_rank", "-mat_h2_max_rank 0"},
      {"-mat_h2_samples", "-3", "-mat_h2_samples", "-mat_h2_samples -3"},
      {"-mat_h2_theta", "-1", "-mat_h2_theta", "-mat_h2_theta -1"},
      {"-mat_h2_eta", "0", "-mat_h2_eta", "-mat_h2_eta 0"},
      {"-mat_h2_admissibility", "bogus", "bogus", "-mat_h2_admissibility bogus"},
      {"-mat_h2_threads", "-2", "-mat_h2_threads", "-mat_h2_threads -2"},
      {"-mat_h2_check_rows", "-5", "-mat_h2_check_rows", "-mat_h2_check_rows -5"},
    };
    for (size_t c = 0; c < sizeof(opts) / sizeof(opts[0]); c++) {
      PetscCall(NewMat(&A));
      MUST_FAIL(SetFromOptionsWith(A, opts[c][0], opts[c][1]), opts[c][2], opts[c][3]);
      PetscCall(MatDestroy(&A));
    }
  }

  PetscCall(NewMat(&A));
  PetscCall(PetscOptionsSetValue(NULL, "-mat_h2_kernel", "gaussian"));
  MUST_FAIL(SetFromOptionsWith(A, "-mat_h2_kernel_length", "-2"), "-mat_h2_kernel_length", "-mat_h2_kernel gaussian -mat_h2_kernel_length -2");
  PetscCall(PetscOptionsClearValue(NULL, "-mat_h2_kernel"));
  PetscCall(MatDestroy(&A));

  PetscCall(NewMat(&A));
  PetscCall(PetscOptionsSetValue(NULL, "-mat_h2_kernel", "gaussian"));
  MUST_FAIL(SetFromOptionsWith(A, "-mat_h2_kernel_diag", "nan"), "-mat_h2_kernel_diag", "-mat_h2_kernel gaussian -mat_h2_kernel_diag nan");
  PetscCall(PetscOptionsClearValue(NULL, "-mat_h2_kernel"));
  PetscCall(MatDestroy(&A));

  PetscCall(NewMat(&A));
  PetscCall(MatH2SetCoordinates(A, 3, coords));
  MUST_FAIL(AssembleWithOptions(A, "-mat_h2_kernel", "laplace"), "-mat_h2_kernel_diag", "-mat_h2_kernel laplace without -mat_h2_kernel_diag");
  PetscCall(MatDestroy(&A));
  PetscCall(NewMat(&A));
  PetscCall(MatH2SetCoordinates(A, 3, coords));
  MUST_FAIL(AssembleWithOptions(A, "-mat_h2_kernel", "yukawa"), "-mat_h2_kernel_diag", "-mat_h2_kernel yukawa without -mat_h2_kernel_diag");
  PetscCall(MatDestroy(&A));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  Mat         A, D;
  PetscMPIInt size;
  char        group[16] = "all";
  PetscBool   all, api, options;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2 bad input"));
  PetscCall(H2ULVInitializePackage()); /* registers MATH2 before the first MatSetType() */
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(size == 1, PETSC_COMM_WORLD, PETSC_ERR_WRONG_MPI_SIZE, "run on one process");
  for (PetscInt i = 0; i < NP; i++) /* points on a scrambled lattice in the unit cube */
    for (PetscInt d = 0; d < 3; d++) coords[3 * i + d] = (PetscReal)((i * (7 + 6 * d) + 3 * d) % 97) / 97.0;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-group", group, sizeof(group), NULL));
  PetscCall(PetscStrcmp(group, "all", &all));
  PetscCall(PetscStrcmp(group, "api", &api));
  PetscCall(PetscStrcmp(group, "options", &options));
  PetscCheck(all || api || options, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-group all|api|options");
  if (all || api) PetscCall(ApiCases());
  if (all || api) PetscCall(OperationCases());
  if (all || options) PetscCall(OptionCases());

  /* ---- after all that, a valid matrix still agrees with the dense one */
  {
    Vec       x, y, yd;
    PetscReal e, n;
    PetscCall(NewMat(&A));
    PetscCall(MatH2SetCoordinates(A, 3, coords));
    PetscCall(MatH2SetKernel(A, KExp, NULL));
    PetscCall(MatSetFromOptions(A));
    PetscCall(Assemble(A));
    PetscCall(MatCreateDense(PETSC_COMM_WORLD, PETSC_DECIDE, PETSC_DECIDE, NP, NP, NULL, &D));
    for (PetscInt i = 0; i < NP; i++)
      for (PetscInt j = 0; j < NP; j++) PetscCall(MatSetValue(D, i, j, KExp(3, coords + 3 * i, coords + 3 * j, NULL), INSERT_VALUES));
    PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));
    PetscCall(MatCreateVecs(A, &x, &y));
    PetscCall(VecDuplicate(y, &yd));
    for (PetscInt i = 0; i < NP; i++) PetscCall(VecSetValue(x, i, PetscCosReal(1.3 * i), INSERT_VALUES));
    PetscCall(VecAssemblyBegin(x));
    PetscCall(VecAssemblyEnd(x));
    PetscCall(MatMult(A, x, y));
    PetscCall(MatMult(D, x, yd));
    PetscCall(VecNorm(yd, NORM_2, &n));
    PetscCall(VecAXPY(y, -1.0, yd));
    PetscCall(VecNorm(y, NORM_2, &e));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "valid matrix after the errors: relative error %.3e\n", (double)(e / n)));
    PetscCheck(e / n <= 1e-7, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: valid matrix after the errors has relative error %.3e", (double)(e / n));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&y));
    PetscCall(VecDestroy(&yd));
    PetscCall(MatDestroy(&D));
  }
  PetscCall(MatDestroy(&A));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%" PetscInt_FMT " bad inputs rejected\nPASS\n", ncases));
  PetscCall(PetscFinalize());
  return 0;
}
