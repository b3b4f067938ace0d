/* MATH2 saved with MatView() to a PETSc binary file and read back with MatLoad():
   - the loaded matrix gives bit-identical products (MatMult, MatMultTranspose) and diagonal, and the
     factorization of the loaded matrix solves bit-identically, for a built-in kernel with stored and
     with on-the-fly values (with a MatShift, kept in the file), for a nonsymmetric user kernel, and
     for entries without points (the cluster tree built from the entries is stored whole);
   - a file whose entries came from a user kernel loads without it when its values are stored (the
     products work, the factorization is a clear error) and refuses to load without it when they are
     computed on the fly;
   - on several processes, a file written on all of them and loaded on one, and one written on one and
     loaded on all, multiply as the matrix they were written from (to rounding: the summation order
     differs);
   - a truncated file, a file of another format version, a MATAIJ file loaded as MATH2 and a MATH2
     file loaded as MATAIJ give errors, not crashes. */
#include <h2ulv.h>
#include <stdio.h>
#include <string.h>

#define NP  1500
#define DIM 3
static PetscReal pts[DIM * NP];

/* a nonsymmetric smooth kernel */
static PetscScalar KernelNs(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  PetscReal r2 = 0;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  return PetscExpReal(-PetscSqrtReal(r2)) * (1.0 + 0.3 * (x[0] - y[1])) + (r2 == 0 ? 2.0 : 0.0);
}

/* a smooth SPD kernel as a block callback over global indices: no points given to the matrix */
static PetscErrorCode EntriesSpd(PetscInt m, const PetscInt rows[], PetscInt n, const PetscInt cols[], PetscScalar out[], PetscInt ldo, void *ctx)
{
  PetscFunctionBeginUser;
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt i = 0; i < m; i++) {
      const PetscReal *x = pts + DIM * rows[i], *y = pts + DIM * cols[j];
      PetscReal        r2 = 0;
      for (PetscInt d = 0; d < DIM; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
      out[i + j * ldo] = PetscExpReal(-2.0 * PetscSqrtReal(r2)) + (rows[i] == cols[j] ? 0.1 : 0.0);
    }
  PetscFunctionReturn(0);
}

typedef enum {
  CASE_BUILTIN,
  CASE_USER,
  CASE_MATRIX /* entries without coordinates: the tree from the entries */
} Case;
static const char *casename[] = {"built-in kernel", "user kernel", "entries, no points"};

static PetscErrorCode CreateH2(MPI_Comm comm, Case c, PetscBool jit, Mat *A)
{
  PetscInt r0, r1;

  PetscFunctionBegin;
  PetscCall(MatCreate(comm, A));
  PetscCall(MatSetSizes(*A, PETSC_DECIDE, PETSC_DECIDE, NP, NP));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(MatH2SetLeafSize(*A, 64));
  PetscCall(MatH2SetTolerance(*A, 1e-8, PETSC_DEFAULT));
  if (jit) PetscCall(MatH2SetStorage(*A, MATH2_STORAGE_JIT, 0));
  PetscCall(MatSetUp(*A));
  PetscCall(MatGetOwnershipRange(*A, &r0, &r1));
  if (c == CASE_MATRIX) PetscCall(MatH2SetEntries(*A, EntriesSpd, NULL));
  else PetscCall(MatH2SetCoordinates(*A, DIM, pts + DIM * r0));
  if (c == CASE_BUILTIN) PetscCall(MatH2SetBuiltinKernel(*A, MATH2_KERNEL_MATERN32, 1.0, 0.5, PETSC_DEFAULT, 0.0));
  else if (c == CASE_USER) PetscCall(MatH2SetKernel(*A, KernelNs, NULL));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  if (c == CASE_BUILTIN) PetscCall(MatShift(*A, 0.25));
  PetscFunctionReturn(0);
}

static PetscErrorCode Save(Mat A, const char *name)
{
  PetscViewer v;

  PetscFunctionBegin;
  PetscCall(PetscViewerBinaryOpen(PetscObjectComm((PetscObject)A), name, FILE_MODE_WRITE, &v));
  PetscCall(MatView(A, v));
  PetscCall(PetscViewerDestroy(&v));
  PetscFunctionReturn(0);
}

/* MatLoad into a new matrix of the given type (the callbacks of case c set on it first, unless
   CASE_BUILTIN); the error code is returned */
static PetscErrorCode Load(MPI_Comm comm, const char *name, MatType type, Case c, Mat *B)
{
  PetscViewer    v;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  PetscCall(MatCreate(comm, B));
  PetscCall(MatSetType(*B, type));
  if (c == CASE_USER) PetscCall(MatH2SetKernel(*B, KernelNs, NULL));
  if (c == CASE_MATRIX) PetscCall(MatH2SetEntries(*B, EntriesSpd, NULL));
  PetscCall(PetscViewerBinaryOpen(comm, name, FILE_MODE_READ, &v));
  ierr = MatLoad(*B, v);
  PetscCall(PetscViewerDestroy(&v));
  PetscFunctionReturn(ierr);
}

/* |y_A - y_B|_inf of op(A) x and op(B) x */
static PetscErrorCode ProductDiff(Mat A, Mat B, PetscBool transpose, PetscReal *d)
{
  Vec x, ya, yb;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &x, &ya));
  PetscCall(VecDuplicate(ya, &yb));
  PetscCall(VecSetRandom(x, NULL));
  PetscCall((transpose ? MatMultTranspose : MatMult)(A, x, ya));
  PetscCall((transpose ? MatMultTranspose : MatMult)(B, x, yb));
  PetscCall(VecAXPY(yb, -1.0, ya));
  PetscCall(VecNorm(yb, NORM_INFINITY, d));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&ya));
  PetscCall(VecDestroy(&yb));
  PetscFunctionReturn(0);
}

/* |x_A - x_B|_inf of the PCH2ULV solutions with A and with B */
static PetscErrorCode SolveDiff(Mat A, Mat B, PetscReal *d)
{
  Mat M[2] = {A, B};
  Vec b, x[2];

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &x[0], &b));
  PetscCall(VecDuplicate(x[0], &x[1]));
  PetscCall(VecSetRandom(b, NULL));
  for (int t = 0; t < 2; t++) {
    KSP ksp;
    PC  pc;
    PetscCall(KSPCreate(PetscObjectComm((PetscObject)A), &ksp));
    PetscCall(KSPSetOperators(ksp, M[t], M[t]));
    PetscCall(KSPSetType(ksp, KSPPREONLY));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCSetType(pc, "h2ulv"));
    PetscCall(KSPSolve(ksp, b, x[t]));
    PetscCall(KSPDestroy(&ksp));
  }
  PetscCall(VecAXPY(x[1], -1.0, x[0]));
  PetscCall(VecNorm(x[1], NORM_INFINITY, d));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&x[0]));
  PetscCall(VecDestroy(&x[1]));
  PetscFunctionReturn(0);
}

static PetscErrorCode DiagonalDiff(Mat A, Mat B, PetscReal *d)
{
  Vec da, db;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(A, &da, NULL));
  PetscCall(VecDuplicate(da, &db));
  PetscCall(MatGetDiagonal(A, da));
  PetscCall(MatGetDiagonal(B, db));
  PetscCall(VecAXPY(db, -1.0, da));
  PetscCall(VecNorm(db, NORM_INFINITY, d));
  PetscCall(VecDestroy(&da));
  PetscCall(VecDestroy(&db));
  PetscFunctionReturn(0);
}

#define REQUIRE(cond, ...) \
  do { \
    if (!(cond)) { \
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL: " __VA_ARGS__)); \
      fails++; \
    } \
  } while (0)
static int fails = 0;

/* save A, load it, and require bit-identical products, diagonal and factorization */
static PetscErrorCode RoundTrip(Case c, PetscBool jit, const char *name)
{
  Mat       A, B;
  PetscReal d[4];

  PetscFunctionBegin;
  PetscCall(CreateH2(PETSC_COMM_WORLD, c, jit, &A));
  PetscCall(Save(A, name));
  PetscCall(Load(PETSC_COMM_WORLD, name, MATH2, c, &B));
  PetscCall(ProductDiff(A, B, PETSC_FALSE, &d[0]));
  PetscCall(ProductDiff(A, B, PETSC_TRUE, &d[1]));
  PetscCall(DiagonalDiff(A, B, &d[2]));
  PetscCall(SolveDiff(A, B, &d[3]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s, %s values: |Ax - Bx| %g, |A'x - B'x| %g, |diag A - diag B| %g, |A\\b - B\\b| %g\n", casename[c], jit ? "on-the-fly" : "stored", (double)d[0], (double)d[1], (double)d[2], (double)d[3]));
  REQUIRE(d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 0, "the loaded matrix is not bit-identical\n");
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&B));
  PetscFunctionReturn(0);
}

/* every message of an error's origin */
static char           errlog[4096];
static PetscErrorCode CatchError(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  if (p == PETSC_ERROR_INITIAL && mess) strncat(errlog, mess, sizeof(errlog) - strlen(errlog) - 1);
  return n;
}

/* stmt must fail with one of two codes and a message containing what */
#define EXPECT_ERROR(stmt, code1, code2, what, label) \
  do { \
    PetscErrorCode ierr_; \
    errlog[0] = 0; \
    PetscCall(PetscPushErrorHandler(CatchError, NULL)); \
    ierr_ = (stmt); \
    PetscCall(PetscPopErrorHandler()); \
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s: error %d: %s\n", label, (int)ierr_, errlog)); \
    REQUIRE((ierr_ == (code1) || ierr_ == (code2)) && strstr(errlog, what), "%s: expected error %d or %d naming \"%s\"\n", label, (int)(code1), (int)(code2), what); \
  } while (0)

/* a file of user-kernel values loaded without the kernel */
static PetscErrorCode WithoutKernel(const char *stored, const char *jitname)
{
  Mat       A, B;
  PetscReal d;
  KSP       ksp;
  PC        pc;

  PetscFunctionBegin;
  PetscCall(CreateH2(PETSC_COMM_WORLD, CASE_USER, PETSC_FALSE, &A));
  PetscCall(Save(A, stored));
  PetscCall(Load(PETSC_COMM_WORLD, stored, MATH2, CASE_BUILTIN, &B));
  PetscCall(ProductDiff(A, B, PETSC_FALSE, &d));
  REQUIRE(d == 0, "stored user-kernel values loaded without the kernel: |Ax - Bx| = %g\n", (double)d);
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, B, B));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, "h2ulv"));
  EXPECT_ERROR(PCSetUp(pc), PETSC_ERR_ARG_WRONGSTATE, PETSC_ERR_ARG_WRONGSTATE, "without its entries", "factorization of a loaded matrix without its entries");
  PetscCall(KSPDestroy(&ksp));
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&A));

  PetscCall(CreateH2(PETSC_COMM_WORLD, CASE_USER, PETSC_TRUE, &A));
  PetscCall(Save(A, jitname));
  PetscCall(MatDestroy(&A));
  EXPECT_ERROR(Load(PETSC_COMM_WORLD, jitname, MATH2, CASE_BUILTIN, &B), PETSC_ERR_ARG_WRONGSTATE, PETSC_ERR_ARG_WRONGSTATE, "MatH2SetKernel", "on-the-fly values loaded without the kernel");
  PetscCall(MatDestroy(&B));
  PetscFunctionReturn(0);
}

/* |B x - C x| / |B x| on all processes: B distributed, C on each process alone (the same matrix) */
static PetscErrorCode DistributedVsSelf(Mat B, Mat C, PetscReal *rel)
{
  Vec        x, y, xs, ys, yg;
  VecScatter sc;
  PetscReal  d, ny;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(B, &x, &y));
  PetscCall(VecSetRandom(x, NULL));
  PetscCall(MatMult(B, x, y));
  PetscCall(VecScatterCreateToAll(x, &sc, &xs));
  PetscCall(VecScatterBegin(sc, x, xs, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sc, x, xs, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecDuplicate(xs, &ys));
  PetscCall(VecDuplicate(xs, &yg));
  PetscCall(VecScatterBegin(sc, y, yg, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sc, y, yg, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(MatMult(C, xs, ys));
  PetscCall(VecNorm(yg, NORM_INFINITY, &ny));
  PetscCall(VecAXPY(ys, -1.0, yg));
  PetscCall(VecNorm(ys, NORM_INFINITY, &d));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &d, 1, MPIU_REAL, MPI_MAX, PETSC_COMM_WORLD));
  *rel = d / ny;
  PetscCall(VecScatterDestroy(&sc));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&xs));
  PetscCall(VecDestroy(&ys));
  PetscCall(VecDestroy(&yg));
  PetscFunctionReturn(0);
}

/* a file written on all processes loaded on each alone, and one written on one loaded on all */
static PetscErrorCode AcrossRanks(const char *name)
{
  Mat         A, B;
  PetscReal   rel;
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(CreateH2(PETSC_COMM_WORLD, CASE_BUILTIN, PETSC_FALSE, &A));
  PetscCall(Save(A, name));
  PetscCall(Load(PETSC_COMM_SELF, name, MATH2, CASE_BUILTIN, &B));
  PetscCall(DistributedVsSelf(A, B, &rel));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "written on all processes, loaded on one: |Ax - Bx| / |Ax| = %g\n", (double)rel));
  REQUIRE(rel <= 1e-12, "the matrix loaded on one process differs from the distributed one\n");
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&B));

  PetscCall(CreateH2(PETSC_COMM_SELF, CASE_BUILTIN, PETSC_FALSE, &A));
  if (rank == 0) PetscCall(Save(A, name));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCall(Load(PETSC_COMM_WORLD, name, MATH2, CASE_BUILTIN, &B));
  PetscCall(DistributedVsSelf(B, A, &rel));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "written on one process, loaded on all: |Ax - Bx| / |Ax| = %g\n", (double)rel));
  REQUIRE(rel <= 1e-12, "the matrix written on one process and loaded on all differs from it\n");
  PetscCall(MatDestroy(&A));
  PetscCall(MatDestroy(&B));
  PetscFunctionReturn(0);
}

/* a copy of src with its first keep bytes (keep < 0: all) and the 4 bytes at patch (if >= 0) set to val */
static PetscErrorCode CopyFile(const char *src, const char *dst, long keep, long patch, int val)
{
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    PetscCheck(in && out, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot copy %s to %s", src, dst);
    long n = 0;
    int  ch;
    while ((ch = fgetc(in)) != EOF && (keep < 0 || n < keep)) {
      if (patch >= 0 && n >= patch && n < patch + 4) ch = (val >> (8 * (3 - (n - patch)))) & 0xff; /* big-endian */
      fputc(ch, out);
      n++;
    }
    fclose(in);
    fclose(out);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

static PetscErrorCode BadFiles(const char *good, const char *bad)
{
  Mat  B, D;
  long size;

  PetscFunctionBegin;
  {
    FILE *f = fopen(good, "rb");
    PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", good);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
  }
  PetscCall(CopyFile(good, bad, size / 2, -1, 0));
  EXPECT_ERROR(Load(PETSC_COMM_WORLD, bad, MATH2, CASE_BUILTIN, &B), PETSC_ERR_FILE_READ, PETSC_ERR_FILE_UNEXPECTED, "", "truncated file");
  PetscCall(MatDestroy(&B));
  PetscCall(CopyFile(good, bad, -1, 16, 99));
  EXPECT_ERROR(Load(PETSC_COMM_WORLD, bad, MATH2, CASE_BUILTIN, &B), PETSC_ERR_FILE_UNEXPECTED, PETSC_ERR_FILE_UNEXPECTED, "version 99", "another format version");
  PetscCall(MatDestroy(&B));
  EXPECT_ERROR(Load(PETSC_COMM_WORLD, good, MATAIJ, CASE_BUILTIN, &B), PETSC_ERR_FILE_UNEXPECTED, PETSC_ERR_ARG_WRONG, "", "a MATH2 file loaded as MATAIJ");
  PetscCall(MatDestroy(&B));
  PetscCall(MatCreateDense(PETSC_COMM_WORLD, PETSC_DECIDE, PETSC_DECIDE, 8, 8, NULL, &D));
  PetscCall(MatShift(D, 1.0));
  PetscCall(Save(D, bad));
  PetscCall(MatDestroy(&D));
  EXPECT_ERROR(Load(PETSC_COMM_WORLD, bad, MATH2, CASE_BUILTIN, &B), PETSC_ERR_FILE_UNEXPECTED, PETSC_ERR_FILE_UNEXPECTED, "another type", "a MATDENSE file loaded as MATH2");
  PetscCall(MatDestroy(&B));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char        prefix[PETSC_MAX_PATH_LEN] = "test_io", n[6][PETSC_MAX_PATH_LEN];
  PetscMPIInt size, rank;
  PetscRandom rnd;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "MATH2 MatView/MatLoad round trip and bad files"));
  PetscCall(H2ULVInitializePackage());
  PetscCall(PetscOptionsGetString(NULL, NULL, "-prefix", prefix, sizeof(prefix), NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  for (int t = 0; t < 6; t++) PetscCall(PetscSNPrintf(n[t], sizeof(n[t]), "%s_np%d_%d.h2", prefix, (int)size, t));
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  for (PetscInt i = 0; i < DIM * NP; i++) PetscCall(PetscRandomGetValueReal(rnd, &pts[i]));
  PetscCall(PetscRandomDestroy(&rnd));

  PetscCall(RoundTrip(CASE_BUILTIN, PETSC_FALSE, n[0]));
  PetscCall(RoundTrip(CASE_BUILTIN, PETSC_TRUE, n[1]));
  PetscCall(RoundTrip(CASE_USER, PETSC_FALSE, n[2]));
  PetscCall(RoundTrip(CASE_USER, PETSC_TRUE, n[3]));
  PetscCall(RoundTrip(CASE_MATRIX, PETSC_FALSE, n[2]));
  PetscCall(RoundTrip(CASE_MATRIX, PETSC_TRUE, n[3]));
  PetscCall(WithoutKernel(n[2], n[3]));
  if (size > 1) PetscCall(AcrossRanks(n[4]));
  PetscCall(BadFiles(n[0], n[5]));

  if (rank == 0)
    for (int t = 0; t < 6; t++) {
      char info[PETSC_MAX_PATH_LEN + 8];
      remove(n[t]);
      PetscCall(PetscSNPrintf(info, sizeof(info), "%s.info", n[t]));
      remove(info);
    }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "RESULT: %s\n", fails ? "FAIL" : "PASS"));
  PetscCall(PetscFinalize());
  return fails ? 1 : 0;
}
