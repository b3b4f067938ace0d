/* A user callback that fails inside each MATH2 operation.  The matrix comes from MatH2SetKernel (a
   kernel reports failure by returning NaN, its only channel), from MatH2SetEntries (the callback
   returns PETSC_ERR_USER through SETERRQ) and from MatH2SetKernelBlock (an error code).  The callback is armed (it fails from the next call on),
   the operation is called with a returning error handler, and then:
   - an operation that evaluates entries must return an error on every process, with the code and
     message of the callback's failure (or, on a process whose own callback was not reached, the
     message that another process failed), never abort or hang;
   - an operation that does not evaluate entries must succeed without calling the callback, so a
     failure that an operation silently ignored cannot pass;
   - after disarming, the matrix the operation was given must still multiply as its MATDENSE
     reference does (the reference receives the same operation when it succeeded on MATH2).
   Stored values evaluate entries only at assembly; with -mat_h2_storage jit the products, the
   diagonal and the norms evaluate them too.  Runs on any number of processes; -malloc_dump makes a
   leak on an error path fail the test. */
#include <h2ulv.h>
#include <string.h>

#define NP  600
#define DIM 3
static PetscReal pts[DIM * NP]; /* all points, the same on every process */

typedef struct {
  PetscInt countdown; /* -1: disarmed; k >= 0: k more calls succeed, then every call fails */
  PetscInt fired;     /* calls that failed */
} Ctx;

static PetscBool Fail(Ctx *c)
{
  if (c->countdown < 0) return PETSC_FALSE;
  if (c->countdown > 0) {
    c->countdown--;
    return PETSC_FALSE;
  }
  c->fired++;
  return PETSC_TRUE;
}

static PetscScalar Entry(const PetscReal x[], const PetscReal y[])
{
  PetscReal r2 = 0;
  for (PetscInt d = 0; d < DIM; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return PetscExpReal(-PetscSqrtReal(r2)) + (r2 == 0 ? 1.0 : 0.0);
}

static PetscScalar KernelCb(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  if (Fail((Ctx *)ctx)) return NAN;
  return Entry(x, y);
}

static PetscErrorCode EntriesCb(PetscInt m, const PetscInt rows[], PetscInt n, const PetscInt cols[], PetscScalar out[], PetscInt ldo, void *ctx)
{
  PetscFunctionBeginUser;
  PetscCheck(!Fail((Ctx *)ctx), PETSC_COMM_SELF, PETSC_ERR_USER, "EntriesCb: armed failure of the test's entry callback");
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt i = 0; i < m; i++) out[i + j * ldo] = Entry(pts + DIM * rows[i], pts + DIM * cols[j]);
  PetscFunctionReturn(0);
}

/* the point kernel by blocks: an error code when armed (it may run on several threads: no SETERRQ) */
static PetscErrorCode BlockCb(PetscInt dim, PetscInt m, const PetscReal x[], PetscInt n, const PetscReal y[], PetscScalar out[], PetscInt ldo, void *ctx)
{
  if (Fail((Ctx *)ctx)) return PETSC_ERR_USER;
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt i = 0; i < m; i++) out[i + j * ldo] = Entry(x + dim * i, y + dim * j);
  return 0;
}

/* every message of an error's origin (the callback's own and the library's) */
static char           errlog[8192];
static PetscErrorCode CatchError(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  if (p == PETSC_ERROR_INITIAL && mess) {
    strncat(errlog, mess, sizeof(errlog) - strlen(errlog) - 4);
    strncat(errlog, " | ", sizeof(errlog) - strlen(errlog) - 1);
  }
  return n;
}

typedef enum {
  SRC_KERNEL,
  SRC_ENTRIES,
  SRC_BLOCK
} Source;
static const char *srcname[] = {"MatH2SetKernel", "MatH2SetEntries", "MatH2SetKernelBlock"};

typedef enum {
  EXPECT_OK,   /* does not evaluate entries: success, the callback not called */
  EXPECT_FAIL, /* evaluates entries: the callback's error */
  EXPECT_SUP   /* not supported by MATH2 at all: PETSC_ERR_SUP, the callback not called */
} Expect;

/* the outcome of one armed call against its expectation, on every process */
static PetscErrorCode CheckOutcome(PetscErrorCode ierr, Expect expect, Source src, const Ctx *c, const char *what)
{
  MPI_Comm    comm = PETSC_COMM_WORLD;
  PetscMPIInt fired = (PetscMPIInt)c->fired, gfired, failed = ierr ? 1 : 0, nfailed, size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Allreduce(&fired, &gfired, 1, MPI_INT, MPI_SUM, comm));
  PetscCallMPI(MPI_Allreduce(&failed, &nfailed, 1, MPI_INT, MPI_SUM, comm));
  if (expect == EXPECT_OK) {
    PetscCheck(!ierr, PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s, %s]: error %d from an operation that does not evaluate entries: %s", srcname[src], what, (int)ierr, errlog);
    PetscCheck(!gfired, comm, PETSC_ERR_PLIB, "FAILED [%s, %s]: the callback failed %d time(s) but the operation succeeded (a failure ignored)", srcname[src], what, gfired);
  } else if (expect == EXPECT_SUP) {
    PetscCheck(ierr == PETSC_ERR_SUP && strstr(errlog, "MATH2"), PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s, %s]: expected PETSC_ERR_SUP from MATH2, got %d: %s", srcname[src], what, (int)ierr, errlog);
    PetscCheck(!gfired, comm, PETSC_ERR_PLIB, "FAILED [%s, %s]: the callback was called by an unsupported operation", srcname[src], what);
  } else {
    PetscCheck(gfired > 0, comm, PETSC_ERR_PLIB, "FAILED [%s, %s]: the callback was never called while armed: the operation does not evaluate entries here", srcname[src], what);
    PetscCheck(nfailed == size, PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s, %s]: %d of %d processes returned an error (this one: %d)", srcname[src], what, nfailed, size, (int)ierr);
    if (fired) {
      const PetscErrorCode code = src == SRC_KERNEL ? PETSC_ERR_FP : PETSC_ERR_USER;
      PetscCheck(ierr == code, PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s, %s]: error code %d, expected %d: %s", srcname[src], what, (int)ierr, (int)code, errlog);
      PetscCheck(strstr(errlog, src == SRC_KERNEL ? "MatH2SetKernel callback returned nan" : src == SRC_BLOCK ? "MatH2SetKernelBlock callback returned error code" : "MatH2SetEntries callback returned error code"), PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s, %s]: the message does not name the callback: %s", srcname[src], what, errlog);
      if (src == SRC_ENTRIES) PetscCheck(strstr(errlog, "EntriesCb: armed failure"), PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s, %s]: the callback's own message is missing: %s", srcname[src], what, errlog);
    } else PetscCheck(strstr(errlog, "another process"), PETSC_COMM_SELF, PETSC_ERR_PLIB, "FAILED [%s, %s]: this process's callback did not fail but the message does not say another process did: %s", srcname[src], what, errlog);
  }
  PetscCall(PetscPrintf(comm, "  ok %-16s %-34s %s\n", srcname[src], what, expect == EXPECT_OK ? "succeeded, callback not called" : expect == EXPECT_SUP ? "not supported" : "failed with the callback's error"));
  PetscFunctionReturn(0);
}

/* ||B x - R x|| <= 1e-6 ||A0 x|| for a random x (A0: the original dense matrix) */
static PetscErrorCode CheckProduct(Mat B, Mat R, Mat D0, const char *what)
{
  Vec         x, y, z;
  PetscRandom rnd;
  PetscReal   e, s;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(D0, &x, &y));
  PetscCall(VecDuplicate(y, &z));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(VecSetRandom(x, rnd));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(MatMult(D0, x, y));
  PetscCall(VecNorm(y, NORM_2, &s));
  PetscCall(MatMult(R, x, y));
  PetscCall(MatMult(B, x, z));
  PetscCall(VecAXPY(z, -1.0, y));
  PetscCall(VecNorm(z, NORM_2, &e));
  PetscCheck(e <= 1e-6 * s, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED [%s]: after disarming, the product differs from the dense reference by %g relative", what, (double)(e / s));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&z));
  PetscFunctionReturn(0);
}

/* One operation on Y with X the original matrix (MATH2 or its dense reference alike) */
typedef struct {
  const char *name;
  PetscInt    kind;
  Expect      stored, jit;
  PetscBool   changes; /* changes the matrix: the reference receives it too */
} Op;
enum {
  OP_MULT, OP_MULTT, OP_MULTADD, OP_GETDIAG, OP_SHIFT, OP_DIAGSET_INSERT, OP_DIAGSET_ADD, OP_SCALE, OP_ZERO, OP_AXPY, OP_DUPLICATE, OP_COPY,
  OP_NORM_F, OP_NORM_1, OP_NORM_INF, OP_NORM_2, OP_CONVERT, OP_GETROW, OP_MATMAT, OP_TMATMAT
};
static const Op ops[] = {
  {"MatMult", OP_MULT, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatMultTranspose", OP_MULTT, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatMultAdd", OP_MULTADD, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatGetDiagonal", OP_GETDIAG, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatShift", OP_SHIFT, EXPECT_OK, EXPECT_OK, PETSC_TRUE},
  {"MatDiagonalSet(INSERT_VALUES)", OP_DIAGSET_INSERT, EXPECT_OK, EXPECT_FAIL, PETSC_TRUE},
  {"MatDiagonalSet(ADD_VALUES)", OP_DIAGSET_ADD, EXPECT_OK, EXPECT_OK, PETSC_TRUE},
  {"MatScale", OP_SCALE, EXPECT_OK, EXPECT_OK, PETSC_TRUE},
  {"MatZeroEntries", OP_ZERO, EXPECT_OK, EXPECT_OK, PETSC_TRUE},
  {"MatAXPY", OP_AXPY, EXPECT_OK, EXPECT_OK, PETSC_TRUE},
  {"MatDuplicate", OP_DUPLICATE, EXPECT_OK, EXPECT_OK, PETSC_FALSE},
  {"MatCopy", OP_COPY, EXPECT_OK, EXPECT_OK, PETSC_TRUE},
  {"MatNorm(NORM_FROBENIUS)", OP_NORM_F, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatNorm(NORM_1)", OP_NORM_1, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatNorm(NORM_INFINITY)", OP_NORM_INF, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatNorm(NORM_2)", OP_NORM_2, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatConvert(MATDENSE)", OP_CONVERT, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatGetRow", OP_GETROW, EXPECT_SUP, EXPECT_SUP, PETSC_FALSE},
  {"MatMatMult(dense)", OP_MATMAT, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
  {"MatTransposeMatMult(dense)", OP_TMATMAT, EXPECT_OK, EXPECT_FAIL, PETSC_FALSE},
};

static PetscErrorCode RunOp(PetscInt kind, Mat Y, Mat X)
{
  Vec       x, y, z;
  Mat       C = NULL, E = NULL;
  PetscReal nrm;
  PetscErrorCode ierr = 0;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(X, &x, &y));
  PetscCall(VecDuplicate(y, &z));
  PetscCall(VecSet(x, 1.0));
  PetscCall(VecSet(z, 0.5));
  switch (kind) {
  case OP_MULT: ierr = MatMult(Y, x, y); break;
  case OP_MULTT: ierr = MatMultTranspose(Y, x, y); break;
  case OP_MULTADD: ierr = MatMultAdd(Y, x, z, y); break;
  case OP_GETDIAG: ierr = MatGetDiagonal(Y, y); break;
  case OP_SHIFT: ierr = MatShift(Y, 2.5); break;
  case OP_DIAGSET_INSERT: ierr = MatDiagonalSet(Y, z, INSERT_VALUES); break;
  case OP_DIAGSET_ADD: ierr = MatDiagonalSet(Y, z, ADD_VALUES); break;
  case OP_SCALE: ierr = MatScale(Y, -3.0); break;
  case OP_ZERO: ierr = MatZeroEntries(Y); break;
  case OP_AXPY: ierr = MatAXPY(Y, 0.75, X, SAME_NONZERO_PATTERN); break;
  case OP_DUPLICATE:
    ierr = MatDuplicate(Y, MAT_COPY_VALUES, &C);
    if (!ierr) ierr = MatScale(C, 2.0); /* the duplicate's values are its own */
    break;
  case OP_COPY:
    ierr = MatScale(Y, 4.0);
    if (!ierr) ierr = MatCopy(X, Y, SAME_NONZERO_PATTERN);
    break;
  case OP_NORM_F: ierr = MatNorm(Y, NORM_FROBENIUS, &nrm); break;
  case OP_NORM_1: ierr = MatNorm(Y, NORM_1, &nrm); break;
  case OP_NORM_INF: ierr = MatNorm(Y, NORM_INFINITY, &nrm); break;
  case OP_NORM_2: ierr = MatNorm(Y, NORM_2, &nrm); break;
  case OP_CONVERT: ierr = MatConvert(Y, MATDENSE, MAT_INITIAL_MATRIX, &C); break;
  case OP_GETROW: {
    PetscInt           nz, r0;
    const PetscInt    *idx;
    const PetscScalar *v;
    PetscCall(MatGetOwnershipRange(Y, &r0, NULL));
    ierr = MatGetRow(Y, r0, &nz, &idx, &v);
    if (!ierr) PetscCall(MatRestoreRow(Y, r0, &nz, &idx, &v));
  } break;
  case OP_MATMAT:
  case OP_TMATMAT: {
    PetscInt m;
    PetscCall(MatGetLocalSize(X, &m, NULL));
    PetscCall(MatCreateDense(PETSC_COMM_WORLD, m, PETSC_DECIDE, PETSC_DETERMINE, 3, NULL, &E));
    PetscCall(MatZeroEntries(E));
    PetscCall(MatShift(E, 1.0));
    ierr = kind == OP_MATMAT ? MatMatMult(Y, E, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &C) : MatTransposeMatMult(Y, E, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &C);
  } break;
  }
  PetscCall(MatDestroy(&C));
  PetscCall(MatDestroy(&E));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&z));
  PetscFunctionReturn(ierr);
}

/* MatAssemblyBegin/End and the first use of the operator (its bases and values are built there) in
   one call (an expression for ARMED) */
static PetscErrorCode Assemble(Mat A)
{
  MatH2Info      info;
  PetscErrorCode ierr = MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY);
  if (!ierr) ierr = MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY);
  return ierr ? ierr : MatH2GetInfo(A, &info);
}

/* a MATH2 over the points, entries from src, -mat_h2_* options applied; assembled unless told not to */
static PetscErrorCode CreateH2(Source src, Ctx *c, PetscBool assemble, Mat *A)
{
  PetscInt r0, r1;

  PetscFunctionBegin;
  PetscCall(MatCreate(PETSC_COMM_WORLD, A));
  PetscCall(MatSetSizes(*A, PETSC_DECIDE, PETSC_DECIDE, NP, NP));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(MatH2SetLeafSize(*A, 32));
  PetscCall(MatSetFromOptions(*A));
  PetscCall(MatSetUp(*A)); /* the layout, for the ownership range */
  PetscCall(MatGetOwnershipRange(*A, &r0, &r1));
  PetscCall(MatH2SetCoordinates(*A, DIM, pts + DIM * r0));
  if (src == SRC_KERNEL) PetscCall(MatH2SetKernel(*A, KernelCb, c));
  else if (src == SRC_BLOCK) PetscCall(MatH2SetKernelBlock(*A, BlockCb, c));
  else PetscCall(MatH2SetEntries(*A, EntriesCb, c));
  if (assemble) PetscCall(Assemble(*A));
  PetscFunctionReturn(0);
}

/* arm the callback (k calls succeed first), run stmt with the returning handler, disarm, check */
#define ARMED(c, k, stmt, expect, src, what) \
  do { \
    PetscErrorCode ierr_; \
    errlog[0]      = 0; \
    (c)->fired     = 0; \
    (c)->countdown = (k); \
    PetscCall(PetscPushErrorHandler(CatchError, NULL)); \
    ierr_ = (stmt); \
    PetscCall(PetscPopErrorHandler()); \
    (c)->countdown = -1; \
    PetscCall(CheckOutcome(ierr_, expect, src, c, what)); \
  } while (0)

/* the assembly fails at the first entry and at the last one; the same matrix then assembles */
static PetscErrorCode BuildCases(Source src, Ctx *c, Mat D)
{
  Mat      A;
  PetscInt calls, last, glast;

  PetscFunctionBegin;
  PetscCall(CreateH2(src, c, PETSC_FALSE, &A));
  ARMED(c, 0, Assemble(A), EXPECT_FAIL, src, "MatAssemblyEnd, first entry");
  /* the number of calls of a whole build, then a failure at the last of them on every process */
  c->countdown = PETSC_MAX_INT;
  PetscCall(Assemble(A));
  calls        = PETSC_MAX_INT - c->countdown;
  c->countdown = -1;
  last         = calls - 1;
  PetscCall(MPIU_Allreduce(&last, &glast, 1, MPIU_INT, MPI_MIN, PETSC_COMM_WORLD));
  PetscCheck(glast >= 0, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: a process evaluated no entries in the build");
  PetscCall(MatH2SetLeafSize(A, 32)); /* drops the build */
  ARMED(c, last, Assemble(A), EXPECT_FAIL, src, "MatAssemblyEnd, last entry");
  PetscCall(Assemble(A));
  PetscCall(CheckProduct(A, D, D, "assembly after failed assemblies"));
  PetscCall(MatDestroy(&A));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  Mat              D;
  PetscInt         r0, r1;
  MatH2StorageType st  = MATH2_STORAGE_AUTO;
  PetscBool        jit = PETSC_FALSE, flg;
  Ctx              ctx = {-1, 0};

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2 with a user callback that fails inside each operation"));
  PetscCall(H2ULVInitializePackage()); /* registers MATH2 before the first MatSetType() */
  PetscCall(PetscOptionsGetEnum(NULL, NULL, "-mat_h2_storage", MatH2StorageTypes, (PetscEnum *)&st, &flg));
  jit = (PetscBool)(flg && st == MATH2_STORAGE_JIT);
  for (PetscInt i = 0; i < NP; i++) { /* a jittered grid in the unit cube */
    pts[DIM * i + 0] = (i % 9) / 9.0 + 0.01 * PetscSinReal(1.0 * i);
    pts[DIM * i + 1] = ((i / 9) % 9) / 9.0 + 0.01 * PetscCosReal(2.0 * i);
    pts[DIM * i + 2] = (i / 81) / 8.0 + 0.01 * PetscSinReal(3.0 * i);
  }
  /* the dense reference */
  PetscCall(MatCreateDense(PETSC_COMM_WORLD, PETSC_DECIDE, PETSC_DECIDE, NP, NP, NULL, &D));
  PetscCall(MatGetOwnershipRange(D, &r0, &r1));
  for (PetscInt i = r0; i < r1; i++)
    for (PetscInt j = 0; j < NP; j++) PetscCall(MatSetValue(D, i, j, Entry(pts + DIM * i, pts + DIM * j), INSERT_VALUES));
  PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));

  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "values %s\n", jit ? "computed on the fly (-mat_h2_storage jit)" : "stored"));
  for (int s = SRC_KERNEL; s <= SRC_BLOCK; s++) {
    const Source src = (Source)s;
    Mat          A;

    PetscCall(BuildCases(src, &ctx, D));
    PetscCall(CreateH2(src, &ctx, PETSC_TRUE, &A));
    PetscCall(CheckProduct(A, D, D, "the matrix the operations start from"));
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
      const Op *op = &ops[k];
      Mat       B, R;
      PetscCall(MatDuplicate(A, MAT_COPY_VALUES, &B));
      PetscCall(MatDuplicate(D, MAT_COPY_VALUES, &R));
      ARMED(&ctx, 0, RunOp(op->kind, B, A), jit ? op->jit : op->stored, src, op->name);
      if ((jit ? op->jit : op->stored) == EXPECT_OK && op->changes) PetscCall(RunOp(op->kind, R, D)); /* the same change on the reference */
      PetscCall(CheckProduct(B, R, D, op->name));
      PetscCall(MatDestroy(&B));
      PetscCall(MatDestroy(&R));
    }
    PetscCall(CheckProduct(A, D, D, "the original after all operations"));
    PetscCall(MatDestroy(&A));
  }
  PetscCall(MatDestroy(&D));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "RESULT: PASS\n"));
  PetscCall(PetscFinalize());
  return 0;
}
