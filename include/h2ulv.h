/*
  h2ulv: H^2 matrices (MATH2, -mat_type h2) and the H^2-ULV factorization (PCH2ULV, -pc_type h2ulv)
  as a PETSc plugin.  BSD-2-Clause.

  Registration: H2ULVInitializePackage() registers the types, options and log events.  It is called
  lazily by every public function below, and by PETSc itself when the library is loaded with
  -dll_append <path>/libh2ulv.so (symbol PetscDLLibraryRegister_h2ulv).
*/
#ifndef H2ULV_H
#define H2ULV_H

#include <petscmat.h>
#include <petscksp.h>

#define H2ULV_VERSION_MAJOR 0
#define H2ULV_VERSION_MINOR 1
#define H2ULV_VERSION_PATCH 0

#define MATH2   "h2"
#define PCH2ULV "h2ulv"
/* the same factorization as a MatSolverType: -pc_type cholesky|lu -pc_factor_mat_solver_type h2ulv */
#define MATSOLVERH2ULV "h2ulv"

PETSC_EXTERN PetscErrorCode H2ULVInitializePackage(void);
PETSC_EXTERN PetscErrorCode H2ULVFinalizePackage(void);
PETSC_EXTERN PetscErrorCode PetscDLLibraryRegister_h2ulv(void);

/* Log events (registered by H2ULVInitializePackage) */
PETSC_EXTERN PetscLogEvent MATH2_Tree, MATH2_Basis, MATH2_Values, MATH2_Mult;

/* ------------------------------------------------------------------------------------------------
   MATH2: the H^2 matrix type
   ------------------------------------------------------------------------------------------------ */

/* A_ij = fn(dim, x_i, x_j, ctx).  The function handles x_i == x_j (the diagonal) itself. */
typedef PetscScalar (*MatH2KernelFn)(PetscInt dim, const PetscReal x[], const PetscReal y[], void *ctx);

/* A block of a point kernel: out[i + j*ldo] = K(x_i, y_j) for the m points x and the n points y
   (dim coordinates each, interleaved).  One call per block, so that the loop can vectorise; it
   handles coincident points (the diagonal) itself; a nonzero return is an error. */
typedef PetscErrorCode (*MatH2KernelBlockFn)(PetscInt dim, PetscInt m, const PetscReal x[], PetscInt n, const PetscReal y[], PetscScalar out[], PetscInt ldo, void *ctx);

/* Block callback: fill the m x n block out[i + j*ldo] = A(rows[i], cols[j]) for global row and
   column indices in the user's numbering.  Any index may be asked for on any process. */
typedef PetscErrorCode (*MatH2EntriesFn)(PetscInt m, const PetscInt rows[], PetscInt n, const PetscInt cols[], PetscScalar out[], PetscInt ldo, void *ctx);

/* Built-in kernels (-mat_h2_kernel) */
typedef enum {
  MATH2_KERNEL_NONE = 0,
  MATH2_KERNEL_LAPLACE,     /* s / (4 pi r)                                */
  MATH2_KERNEL_YUKAWA,      /* s exp(-alpha r) / (4 pi r)                  */
  MATH2_KERNEL_GAUSSIAN,    /* s exp(-r^2 / l^2)                           */
  MATH2_KERNEL_EXPONENTIAL, /* s exp(-r / l)                               */
  MATH2_KERNEL_MATERN32,    /* s (1 + sqrt3 r/l) exp(-sqrt3 r/l)           */
  MATH2_KERNEL_MATERN52,    /* s (1 + sqrt5 r/l + 5r^2/(3l^2)) exp(-sqrt5 r/l) */
  MATH2_KERNEL_IMQ          /* s / sqrt(r^2 + l^2)                         */
} MatH2KernelType;
PETSC_EXTERN const char *const MatH2KernelTypes[];

typedef enum {
  MATH2_ADMISSIBILITY_THETA = 0, /* |C_i - C_j|^2 > theta (|R_i|^2 + |R_j|^2)  (Ma, Deshmukh, Yokota) */
  MATH2_ADMISSIBILITY_ETA        /* max(diam_i, diam_j) <= eta dist(B_i, B_j)  (standard)           */
} MatH2AdmissibilityType;
PETSC_EXTERN const char *const MatH2AdmissibilityTypes[];

/* Where the near blocks and couplings live (-mat_h2_storage): stored once (fast products), computed
   on the fly in every product (memory O(N) beyond the bases, products as costly as the entries), or
   auto: stored unless they would exceed -mat_h2_memory_limit (MB per process; default half the
   physical memory shared by the processes), then on the fly (said by -info and MatView). */
typedef enum {
  MATH2_STORAGE_AUTO = 0,
  MATH2_STORAGE_STORED,
  MATH2_STORAGE_JIT
} MatH2StorageType;
PETSC_EXTERN const char *const MatH2StorageTypes[];

/* What the cluster tree is built from (-mat_h2_geometry): the points (MatH2SetCoordinates), the
   entries alone (angle distance 1 - A_ij^2/(A_ii A_jj), k-nearest-neighbour near field: symmetric
   positive definite matrices; the diagonal must be nonzero), or auto: the points when they are given, else the entries. */
typedef enum {
  MATH2_GEOMETRY_AUTO = 0,
  MATH2_GEOMETRY_POINTS,
  MATH2_GEOMETRY_MATRIX
} MatH2GeometryType;
PETSC_EXTERN const char *const MatH2GeometryTypes[];

PETSC_EXTERN PetscErrorCode MatH2SetCoordinates(Mat, PetscInt dim, const PetscReal coords[]);
PETSC_EXTERN PetscErrorCode MatH2SetGeometry(Mat, MatH2GeometryType, PetscInt neighbors);
PETSC_EXTERN PetscErrorCode MatH2SetKernel(Mat, MatH2KernelFn, void *ctx);
PETSC_EXTERN PetscErrorCode MatH2SetEntries(Mat, MatH2EntriesFn, void *ctx);
PETSC_EXTERN PetscErrorCode MatH2SetKernelBlock(Mat, MatH2KernelBlockFn, void *ctx);
PETSC_EXTERN PetscErrorCode MatH2SetBuiltinKernel(Mat, MatH2KernelType, PetscReal scale, PetscReal param, PetscReal diag, PetscReal nugget);
PETSC_EXTERN PetscErrorCode MatH2SetTolerance(Mat, PetscReal rtol, PetscInt maxrank);
PETSC_EXTERN PetscErrorCode MatH2SetLeafSize(Mat, PetscInt leafsize);
PETSC_EXTERN PetscErrorCode MatH2SetAdmissibility(Mat, MatH2AdmissibilityType, PetscReal param);
PETSC_EXTERN PetscErrorCode MatH2SetSampleSize(Mat, PetscInt nsamples);
PETSC_EXTERN PetscErrorCode MatH2SetStorage(Mat, MatH2StorageType, PetscReal memlimit_mb);
PETSC_EXTERN PetscErrorCode MatH2GetIndexMap(Mat, IS *treeorder);
PETSC_EXTERN PetscErrorCode MatH2GetRanks(Mat, PetscInt *nlevels, PetscInt minrank[], PetscInt maxrank[], PetscReal meanrank[]);
PETSC_EXTERN PetscErrorCode MatH2GetMemory(Mat, PetscLogDouble *bytes);

/* Construction summary (collective) */
typedef struct {
  PetscInt       levels;                             /* tree depth + 1 */
  PetscInt       maxrank;                            /* over all cells */
  PetscReal      leafrank;                           /* mean rank on the leaf level */
  PetscInt       nnear, nfar;                        /* leaf near blocks, far pairs on all levels */
  PetscLogDouble bytes;                              /* memory of the H2 representation, all processes */
  PetscLogDouble time_tree, time_basis, time_values; /* seconds, this process */
  PetscLogDouble mult_flops;                         /* flops of one MatMult, all processes */
  PetscReal      rtol;                               /* the compression tolerance it was built with */
  PetscReal      checkerr;                           /* relative error of the product on -mat_h2_check_rows rows against the exact entries (-1: not checked) */
} MatH2Info;
PETSC_EXTERN PetscErrorCode MatH2GetInfo(Mat, MatH2Info *);

/* One-call convenience: an N x N kernel matrix on points coords (locally owned rows, interleaved).
   m is the local size (PETSC_DECIDE allowed), M the global size.  fn may be NULL and a built-in
   kernel chosen by -mat_h2_kernel. The matrix is assembled on return. */
PETSC_EXTERN PetscErrorCode MatCreateH2FromKernel(MPI_Comm, PetscInt m, PetscInt M, PetscInt dim, const PetscReal coords[], MatH2KernelFn fn, void *ctx, Mat *);

/* ------------------------------------------------------------------------------------------------
   PCH2ULV: the H^2-ULV factorization
   ------------------------------------------------------------------------------------------------ */
PETSC_EXTERN PetscLogEvent PCH2ULV_Setup, PCH2ULV_Solve;
/* tolerance and rank cap of the factorization's own H2 (0: the matrix's); -pc_h2ulv_rtol, -pc_h2ulv_max_rank */
PETSC_EXTERN PetscErrorCode PCH2ULVSetTolerance(PC, PetscReal rtol, PetscInt maxrank);
/* where the batched dense operations run (-pc_h2ulv_backend host|cuda|kokkos); required: no fallback to host */
typedef enum {
  PCH2ULV_BACKEND_HOST,
  PCH2ULV_BACKEND_CUDA,
  PCH2ULV_BACKEND_KOKKOS
} PCH2ULVBackendType;
PETSC_EXTERN PetscErrorCode PCH2ULVSetBackend(PC, PCH2ULVBackendType backend, PetscBool required);
PETSC_EXTERN PetscErrorCode PCH2ULVGetBackend(PC, PCH2ULVBackendType *requested, PCH2ULVBackendType *used);
/* memory (bytes) of the factorization and flops of the last factorization */
PETSC_EXTERN PetscErrorCode PCH2ULVGetInfo(PC, PetscLogDouble *bytes, PetscLogDouble *flops);
/* log det of the factored operator (errors if the determinant is negative) */
PETSC_EXTERN PetscErrorCode PCH2ULVGetLogDeterminant(PC, PetscReal *logdet);
/* log |det| and the sign (+1/-1) of the determinant (LU case) */
PETSC_EXTERN PetscErrorCode PCH2ULVGetLogAbsDeterminant(PC, PetscReal *logabsdet, PetscInt *sign);
/* log det A - log det P (A the operator, P the factorization) by stochastic Lanczos quadrature, with
   its standard error; nprobes, maxits: PETSC_DEFAULT for -pc_h2ulv_logdet_probes (32) and 50 */
PETSC_EXTERN PetscErrorCode PCH2ULVGetLogDeterminantCorrection(PC, PetscInt nprobes, PetscInt maxits, PetscReal *corr, PetscReal *stderr_);
/* inertia (negative, zero, positive eigenvalue counts) of the factored symmetric matrix; also
   MatGetInertia() on the factor of -pc_factor_mat_solver_type h2ulv */
PETSC_EXTERN PetscErrorCode PCH2ULVGetInertia(PC, PetscInt *neg, PetscInt *zero, PetscInt *pos);

/* ------------------------------------------------------------------------------------------------
   Standard problems of the project (docs/reference.md), used by tests, examples and
   benchmarks: sphere-laplace, cube-yukawa, ball-matern, cube-gaussian, sc22-sphere, sphere-laplace-ns
   ------------------------------------------------------------------------------------------------ */
typedef struct _n_H2ULVProblem *H2ULVProblem;
PETSC_EXTERN const char *const H2ULVProblemNames[];
PETSC_EXTERN PetscErrorCode H2ULVProblemCreate(const char name[], PetscInt N, PetscInt seed, H2ULVProblem *);
PETSC_EXTERN PetscErrorCode H2ULVProblemDestroy(H2ULVProblem *);
PETSC_EXTERN PetscErrorCode H2ULVProblemGetInfo(H2ULVProblem, const char **name, PetscInt *N, PetscInt *dim, PetscBool *symmetric);
/* coordinates of global points [rstart, rend), interleaved (dim per point) */
PETSC_EXTERN PetscErrorCode H2ULVProblemGetCoordinates(H2ULVProblem, PetscInt rstart, PetscInt rend, PetscReal coords[]);
/* exact entry A_ij (global indices) */
PETSC_EXTERN PetscErrorCode H2ULVProblemEntry(H2ULVProblem, PetscInt i, PetscInt j, PetscScalar *a);
/* Give an MATH2 matrix (sizes set) the problem's local coordinates and kernel */
PETSC_EXTERN PetscErrorCode H2ULVProblemSetUpMat(H2ULVProblem, Mat);
/* Exact dense reference (MATDENSE) with the row layout of the given matrix (or PETSC_DECIDE) */
PETSC_EXTERN PetscErrorCode H2ULVProblemCreateDense(H2ULVProblem, MPI_Comm, PetscInt m, Mat *);
/* Convenience: MATH2 of the problem, options applied (-mat_h2_*), assembled */
PETSC_EXTERN PetscErrorCode H2ULVProblemCreateH2(H2ULVProblem, MPI_Comm, PetscInt m, Mat *);

#endif
