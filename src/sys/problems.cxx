/*
   The standard problems (docs/reference.md, "Standard problems"), in one place for tests, examples and
   benchmarks.  Points are deterministic: the same N and seed give the same points on every machine
   and for any process layout (a counter-based generator gives point k independently of the others).
*/
#include "h2ulvimpl.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

const char *const H2ULVProblemNames[] = {"sphere-laplace", "cube-yukawa", "ball-matern", "cube-gaussian", "sc22-sphere", "sphere-laplace-ns", NULL};

enum ProblemKind { SPHERE_LAPLACE = 0, CUBE_YUKAWA, BALL_MATERN, CUBE_GAUSSIAN, SC22_SPHERE, SPHERE_LAPLACE_NS };

struct _n_H2ULVProblem {
  ProblemKind         kind;
  const char         *name;
  PetscInt            N, seed;
  std::vector<double> pts; /* all points, filled by the first H2ULVProblemEntry() (entries at memory speed) */
  std::once_flag      once;
};

/* splitmix64 of (seed, counter): a uniform double in [0, 1) */
static double Uniform(uint64_t seed, uint64_t ctr)
{
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + ctr * 0xD1B54A32D192ED03ULL + 0x632BE59BD9B4E019ULL;
  z          = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z          = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z          = z ^ (z >> 31);
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static void ProblemPoint(const _n_H2ULVProblem *p, PetscInt k, double x[3])
{
  const double golden = M_PI * (3.0 - std::sqrt(5.0));
  const double N      = (double)p->N;
  switch (p->kind) {
  case SPHERE_LAPLACE:
  case SPHERE_LAPLACE_NS: {
    double z = 1.0 - (2.0 * k + 1.0) / N, r = std::sqrt(std::max(0.0, 1.0 - z * z)), phi = k * golden;
    x[0] = r * std::cos(phi);
    x[1] = r * std::sin(phi);
    x[2] = z;
  } break;
  case SC22_SPHERE: {
    double y = p->N > 1 ? 1.0 - 2.0 * k / (N - 1.0) : 0.0, r = std::sqrt(std::max(0.0, 1.0 - y * y)), phi = k * golden, s = std::sqrt(N);
    x[0] = s * r * std::cos(phi);
    x[1] = s * y;
    x[2] = s * r * std::sin(phi);
  } break;
  case CUBE_YUKAWA:
  case CUBE_GAUSSIAN:
    for (int d = 0; d < 3; d++) x[d] = Uniform((uint64_t)p->seed, 3 * (uint64_t)k + d);
    break;
  case BALL_MATERN:
    for (uint64_t a = 0;; a++) { /* rejection: attempt a of point k */
      double r2 = 0;
      for (int d = 0; d < 3; d++) {
        x[d] = 2.0 * Uniform((uint64_t)p->seed + 7919, (uint64_t)k * 3 * 64 + a * 3 + d) - 1.0;
        r2 += x[d] * x[d];
      }
      if (r2 <= 1.0 || a == 63) break;
    }
    break;
  }
}

static double ProblemEntry(const _n_H2ULVProblem *p, PetscInt i, PetscInt j, const double xi[3], const double xj[3])
{
  const double N  = (double)p->N, pi4 = 4.0 * M_PI;
  double       r2 = 0;
  for (int d = 0; d < 3; d++) r2 += (xi[d] - xj[d]) * (xi[d] - xj[d]);
  const double r = std::sqrt(r2);
  switch (p->kind) {
  case SPHERE_LAPLACE: {
    double w = pi4 / N;
    return (i == j || r == 0) ? std::sqrt(w / M_PI) / 2.0 : w / (pi4 * r);
  }
  case SPHERE_LAPLACE_NS: {
    double wi = pi4 / N * (1.0 + xi[2] / 2.0), wj = pi4 / N * (1.0 + xj[2] / 2.0);
    return (i == j || r == 0) ? std::sqrt(wi / M_PI) / 2.0 : wj / (pi4 * r);
  }
  case CUBE_YUKAWA: return (i == j) ? 1.0 : (r == 0 ? 1.0 : std::exp(-r) / (pi4 * r) / N);
  case BALL_MATERN: {
    double t = std::sqrt(3.0) * r / 0.2;
    return (1.0 + t) * std::exp(-t) + (i == j ? 1e-4 : 0.0);
  }
  case CUBE_GAUSSIAN: return std::exp(-r2 / 0.01) + (i == j ? 1e-6 : 0.0);
  case SC22_SPHERE: return (i == j || r == 0) ? -1e6 : 1.0 / r;
  }
  return 0;
}

/* the nonsymmetric problem as a user point kernel (x == y only on the diagonal) */
static PetscScalar KernelLaplaceNS(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx)
{
  const _n_H2ULVProblem *p   = (const _n_H2ULVProblem *)ctx;
  const double           pi4 = 4.0 * M_PI, N = (double)p->N;
  double                 r2  = 0;
  for (PetscInt d = 0; d < dim; d++) r2 += (x[d] - y[d]) * (x[d] - y[d]);
  if (r2 == 0) return std::sqrt(pi4 / N * (1.0 + x[2] / 2.0) / M_PI) / 2.0;
  return pi4 / N * (1.0 + y[2] / 2.0) / (pi4 * std::sqrt(r2));
}

/*@C
   H2ULVProblemCreate - creates one of the standard test problems

   Not Collective

   Input Parameters:
+  name - sphere-laplace, cube-yukawa, ball-matern, cube-gaussian, sc22-sphere or sphere-laplace-ns (H2ULVProblemNames)
.  N    - the number of points (at least 1)
-  seed - seed of the random point sets (the same N and seed give the same points on every machine and process layout)

   Output Parameter:
.  p - the problem; destroy with H2ULVProblemDestroy()

   Level: intermediate

.seealso: H2ULVProblemDestroy(), H2ULVProblemCreateH2(), H2ULVProblemCreateDense(), H2ULVProblemSetUpMat()
@*/
PetscErrorCode H2ULVProblemCreate(const char name[], PetscInt N, PetscInt seed, H2ULVProblem *prob)
{
  PetscInt k = -1;

  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  for (PetscInt t = 0; H2ULVProblemNames[t]; t++) {
    PetscBool eq;
    PetscCall(PetscStrcmp(name, H2ULVProblemNames[t], &eq));
    if (eq) k = t;
  }
  PetscCheck(k >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_UNKNOWN_TYPE, "Unknown problem '%s': choose sphere-laplace, cube-yukawa, ball-matern, cube-gaussian, sc22-sphere or sphere-laplace-ns", name);
  PetscCheck(N >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "Problem size N must be at least 1, got %" PetscInt_FMT, N);
  *prob = new _n_H2ULVProblem(); /* owned by the caller: H2ULVProblemDestroy */
  (*prob)->kind = (ProblemKind)k;
  (*prob)->name = H2ULVProblemNames[k];
  (*prob)->N    = N;
  (*prob)->seed = seed;
  PetscFunctionReturn(0);
}

/*@
   H2ULVProblemDestroy - destroys a standard problem

   Not Collective

   Input Parameter:
.  p - the problem; set to NULL

   Level: intermediate

.seealso: H2ULVProblemCreate()
@*/
PetscErrorCode H2ULVProblemDestroy(H2ULVProblem *prob)
{
  PetscFunctionBegin;
  delete *prob;
  *prob = NULL;
  PetscFunctionReturn(0);
}

/*@C
   H2ULVProblemGetInfo - the name, size, dimension and symmetry of a standard problem

   Not Collective

   Input Parameter:
.  p - the problem

   Output Parameters:
+  name      - its name (or NULL)
.  N         - the number of points (or NULL)
.  dim       - the spatial dimension, 3 (or NULL)
-  symmetric - whether the matrix is symmetric (or NULL)

   Level: intermediate

.seealso: H2ULVProblemCreate()
@*/
PetscErrorCode H2ULVProblemGetInfo(H2ULVProblem p, const char **name, PetscInt *N, PetscInt *dim, PetscBool *symmetric)
{
  PetscFunctionBegin;
  if (name) *name = p->name;
  if (N) *N = p->N;
  if (dim) *dim = 3;
  if (symmetric) *symmetric = (PetscBool)(p->kind != SPHERE_LAPLACE_NS);
  PetscFunctionReturn(0);
}

/*@
   H2ULVProblemGetCoordinates - coordinates of a range of the problem's points

   Not Collective

   Input Parameters:
+  p      - the problem
.  rstart - the first global point
-  rend   - one past the last global point

   Output Parameter:
.  coords - the coordinates, interleaved, 3 per point (room for 3 (rend - rstart) numbers)

   Level: intermediate

.seealso: H2ULVProblemCreate(), H2ULVProblemSetUpMat()
@*/
PetscErrorCode H2ULVProblemGetCoordinates(H2ULVProblem p, PetscInt rstart, PetscInt rend, PetscReal coords[])
{
  PetscFunctionBegin;
  PetscCheck(rstart >= 0 && rend <= p->N && rstart <= rend, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "Point range [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT ")", rstart, rend, p->N);
  for (PetscInt k = rstart; k < rend; k++) {
    double x[3];
    ProblemPoint(p, k, x);
    for (int d = 0; d < 3; d++) coords[3 * (k - rstart) + d] = x[d];
  }
  PetscFunctionReturn(0);
}

/*@
   H2ULVProblemEntry - the exact entry A_ij of a standard problem

   Not Collective

   Input Parameters:
+  p - the problem
.  i - the global row
-  j - the global column

   Output Parameter:
.  a - the entry

   Notes:
   The first call computes all points of the problem (O(N) memory); later calls are cheap.

   Level: intermediate

.seealso: H2ULVProblemCreate(), H2ULVProblemCreateDense()
@*/
PetscErrorCode H2ULVProblemEntry(H2ULVProblem p, PetscInt i, PetscInt j, PetscScalar *a)
{
  PetscFunctionBegin;
  PetscCheck(i >= 0 && i < p->N && j >= 0 && j < p->N, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "H2ULVProblemEntry: (%" PetscInt_FMT ", %" PetscInt_FMT ") outside the %" PetscInt_FMT " x %" PetscInt_FMT " matrix", i, j, p->N, p->N);
  PetscCall(H2ULVCallCore(PETSC_COMM_SELF, PETSC_FALSE, [p]() {
    std::call_once(p->once, [p]() {
      p->pts.resize(3 * (size_t)p->N);
      for (PetscInt k = 0; k < p->N; k++) ProblemPoint(p, k, &p->pts[3 * (size_t)k]);
    });
  }));
  *a = ProblemEntry(p, i, j, &p->pts[3 * (size_t)i], &p->pts[3 * (size_t)j]);
  PetscFunctionReturn(0);
}

/*@
   H2ULVProblemSetUpMat - gives a MATH2 the problem's local coordinates and kernel

   Collective on Mat

   Input Parameters:
+  p - the problem
-  A - a MATH2 matrix whose sizes are set (global size N)

   Notes:
   A built-in kernel where the problem has one (a user kernel for sphere-laplace-ns), and
   MAT_SYMMETRIC for the symmetric problems. The matrix is not assembled.

   Level: intermediate

.seealso: H2ULVProblemCreate(), H2ULVProblemCreateH2(), MatH2SetCoordinates()
@*/
PetscErrorCode H2ULVProblemSetUpMat(H2ULVProblem p, Mat A)
{
  PetscInt               rstart, rend;
  std::vector<PetscReal> c;
  const double           N = (double)p->N;

  PetscFunctionBegin;
  PetscCall(MatSetUp(A));
  PetscCall(MatGetOwnershipRange(A, &rstart, &rend));
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { c.resize(3 * (size_t)(rend - rstart)); }));
  PetscCall(H2ULVProblemGetCoordinates(p, rstart, rend, c.data()));
  PetscCall(MatH2SetCoordinates(A, 3, c.data()));
  switch (p->kind) {
  case SPHERE_LAPLACE: {
    double w = 4.0 * M_PI / N;
    PetscCall(MatH2SetBuiltinKernel(A, MATH2_KERNEL_LAPLACE, w, 0.0, std::sqrt(w / M_PI) / 2.0, 0.0));
  } break;
  case CUBE_YUKAWA: PetscCall(MatH2SetBuiltinKernel(A, MATH2_KERNEL_YUKAWA, 1.0 / N, 1.0, 1.0, 0.0)); break;
  case BALL_MATERN: PetscCall(MatH2SetBuiltinKernel(A, MATH2_KERNEL_MATERN32, 1.0, 0.2, PETSC_DEFAULT, 1e-4)); break;
  case CUBE_GAUSSIAN: PetscCall(MatH2SetBuiltinKernel(A, MATH2_KERNEL_GAUSSIAN, 1.0, 0.1, PETSC_DEFAULT, 1e-6)); break;
  case SC22_SPHERE: PetscCall(MatH2SetBuiltinKernel(A, MATH2_KERNEL_LAPLACE, 4.0 * M_PI, 0.0, -1e6, 0.0)); break;
  case SPHERE_LAPLACE_NS: PetscCall(MatH2SetKernel(A, KernelLaplaceNS, (void *)p)); break;
  }
  if (p->kind != SPHERE_LAPLACE_NS) PetscCall(MatSetOption(A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscFunctionReturn(0);
}

/*@
   H2ULVProblemCreateDense - the exact dense matrix of a standard problem

   Collective

   Input Parameters:
+  p    - the problem
.  comm - the communicator
-  m    - the number of local rows (the layout of the matrix to compare with), or PETSC_DECIDE

   Output Parameter:
.  D - the assembled MATDENSE matrix (MAT_SYMMETRIC set for the symmetric problems)

   Level: intermediate

.seealso: H2ULVProblemCreate(), H2ULVProblemCreateH2(), H2ULVProblemEntry()
@*/
PetscErrorCode H2ULVProblemCreateDense(H2ULVProblem p, MPI_Comm comm, PetscInt m, Mat *D)
{
  PetscInt     rstart, rend, lda;
  PetscScalar *a;

  PetscFunctionBegin;
  PetscCall(MatCreateDense(comm, m, m, p->N, p->N, NULL, D));
  PetscCall(MatGetOwnershipRange(*D, &rstart, &rend));
  PetscCall(MatDenseGetArrayWrite(*D, &a));
  PetscCall(MatDenseGetLDA(*D, &lda));
  std::vector<double> X;
  PetscCall(H2ULVCallCore(comm, PETSC_TRUE, [&]() { X.resize(3 * (size_t)p->N); }));
  for (PetscInt k = 0; k < p->N; k++) ProblemPoint(p, k, &X[3 * (size_t)k]);
  for (PetscInt j = 0; j < p->N; j++)
    for (PetscInt i = rstart; i < rend; i++) a[(i - rstart) + (size_t)j * lda] = ProblemEntry(p, i, j, &X[3 * (size_t)i], &X[3 * (size_t)j]);
  PetscCall(MatDenseRestoreArrayWrite(*D, &a));
  PetscCall(MatAssemblyBegin(*D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*D, MAT_FINAL_ASSEMBLY));
  if (p->kind != SPHERE_LAPLACE_NS) PetscCall(MatSetOption(*D, MAT_SYMMETRIC, PETSC_TRUE));
  PetscFunctionReturn(0);
}

/*@
   H2ULVProblemCreateH2 - a MATH2 of a standard problem, the options applied, assembled

   Collective

   Input Parameters:
+  p    - the problem
.  comm - the communicator
-  m    - the number of local rows, or PETSC_DECIDE

   Output Parameter:
.  A - the assembled MATH2 matrix

   Notes:
   The -mat_h2_* options apply (MatSetFromOptions()).

   Level: intermediate

.seealso: H2ULVProblemCreate(), H2ULVProblemSetUpMat(), H2ULVProblemCreateDense()
@*/
PetscErrorCode H2ULVProblemCreateH2(H2ULVProblem p, MPI_Comm comm, PetscInt m, Mat *A)
{
  PetscFunctionBegin;
  PetscCall(MatCreate(comm, A));
  PetscCall(MatSetSizes(*A, m, m, p->N, p->N));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(H2ULVProblemSetUpMat(p, *A));
  PetscCall(MatSetFromOptions(*A));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}
