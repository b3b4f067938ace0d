/* MATH2 public API: the MatH2* functions with their manual pages, and MatCreateH2FromKernel() */
#include "math2impl.h"

/* ------------------------------------------------------------------------------------------------
   Public API
   ------------------------------------------------------------------------------------------------ */
/*@
   MatH2SetCoordinates - gives the points of the rows this process owns

   Collective on Mat

   Input Parameters:
+  A      - the matrix (MATH2, or any other type, e.g. MATDENSE, to attach the points for MatConvert(), PCH2ULV or the h2ulv MatSolverType)
.  dim    - the spatial dimension, 1, 2 or 3
-  coords - the coordinates of the local points, interleaved (x0 y0 z0 x1 ...), dim numbers per local row; they must be finite

   Notes:
   Call after MatSetSizes(). The coordinates are copied. With several processes the points of all
   processes are gathered on every process during assembly (O(N) numbers).

   Level: beginner

.seealso: MATH2, MatH2SetKernel(), MatH2SetEntries(), MatH2SetBuiltinKernel(), MatCreateH2FromKernel()
@*/
PetscErrorCode MatH2SetCoordinates(Mat A, PetscInt dim, const PetscReal coords[])
{
  PetscBool ish2;

  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscValidHeaderSpecific(A, MAT_CLASSID, 1);
  PetscCall(PetscObjectTypeCompare((PetscObject)A, MATH2, &ish2));
  if (ish2) {
    PetscCall(MatH2SetCoordinates_H2(A, dim, coords));
  } else {
    /* any other matrix (e.g. dense, for MatConvert or PCH2ULV): keep the points on the object */
    Vec          v;
    PetscScalar *va;
    PetscCheck(dim >= 1 && dim <= 3, PetscObjectComm((PetscObject)A), PETSC_ERR_ARG_OUTOFRANGE, "MatH2SetCoordinates: dim = %" PetscInt_FMT " but the spatial dimension must be 1, 2 or 3", dim);
    PetscCall(PetscLayoutSetUp(A->rmap));
    PetscCall(VecCreateMPI(PetscObjectComm((PetscObject)A), A->rmap->n * dim, PETSC_DETERMINE, &v));
    PetscCall(VecSetBlockSize(v, dim));
    PetscCall(VecGetArrayWrite(v, &va));
    for (PetscInt i = 0; i < A->rmap->n * dim; i++) va[i] = coords[i];
    PetscCall(VecRestoreArrayWrite(v, &va));
    PetscCall(PetscObjectCompose((PetscObject)A, "MatH2Coordinates", (PetscObject)v));
    PetscCall(VecDestroy(&v));
  }
  PetscFunctionReturn(0);
}

/*@C
   MatH2SetKernel - the entries of a MATH2 are a user point kernel, A_ij = fn(dim, x_i, x_j, ctx)

   Logically Collective on Mat

   Input Parameters:
+  A   - the MATH2 matrix
.  fn  - the kernel; it handles x_i == x_j (the diagonal) itself
-  ctx - user context passed to fn (or NULL)

   Options Database Keys:
.  -mat_h2_callback_threadsafe <true> - fn may be called from several threads at once

   Notes:
   Replaces an entry callback or a built-in kernel set before. fn must be a pure function of its
   arguments (no PETSc calls, no writes to ctx): it is called from all threads of the construction
   at once unless -mat_h2_callback_threadsafe 0 is given; with several processes it may be asked for any pair of
   points. A kernel that cannot compute an entry returns NaN (or Inf): the operation that evaluates
   it (the first use of the matrix or a factorization, and with -mat_h2_storage jit the products and
   the diagonal) fails with PETSC_ERR_FP naming the entry. MatH2SetKernelBlock() takes the same
   kernel by blocks.

   Level: beginner

.seealso: MATH2, MatH2KernelFn, MatH2SetKernelBlock(), MatH2SetCoordinates(), MatH2SetEntries(), MatH2SetBuiltinKernel()
@*/
PetscErrorCode MatH2SetKernel(Mat A, MatH2KernelFn fn, void *ctx)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetKernel_C", (Mat, MatH2KernelFn, void *), (A, fn, ctx));
  PetscFunctionReturn(0);
}

/*@C
   MatH2SetKernelBlock - the entries of a MATH2 are a user point kernel evaluated by blocks,
   out[i + j*ldo] = K(x_i, y_j) for m row points x and n column points y

   Logically Collective on Mat

   Input Parameters:
+  A   - the MATH2 matrix
.  fn  - the block kernel: fn(dim, m, x, n, y, out, ldo, ctx) with x (m points) and y (n points)
         interleaved, dim coordinates each; it handles coincident points (the diagonal) itself and
         returns 0, or an error code
-  ctx - user context passed to fn (or NULL)

   Options Database Keys:
.  -mat_h2_callback_threadsafe <true> - fn may be called from several threads at once

   Notes:
   The same matrix as MatH2SetKernel() with K as the point kernel, but one call per block of
   entries (hundreds to thousands of each at a time) instead of one per entry, so that the kernel's
   loop can be vectorised and its per-call costs paid once per block. Replaces a point kernel, an
   entry callback or a built-in kernel set before. As for MatH2SetKernel(), fn is called from all
   threads of the construction at once unless -mat_h2_callback_threadsafe 0 is given (it must then
   not call PETSc or write to ctx), and with several processes any pair of points may be asked for.
   A nonzero return, or a NaN or Inf entry, makes the operation that evaluated the block fail (the
   first use of the matrix, a factorization, and with -mat_h2_storage jit the products).

   Level: intermediate

.seealso: MATH2, MatH2KernelBlockFn, MatH2SetKernel(), MatH2SetCoordinates(), MatH2SetEntries()
@*/
PetscErrorCode MatH2SetKernelBlock(Mat A, MatH2KernelBlockFn fn, void *ctx)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetKernelBlock_C", (Mat, MatH2KernelBlockFn, void *), (A, fn, ctx));
  PetscFunctionReturn(0);
}

/*@C
   MatH2SetEntries - the entries of a MATH2 come from a user block callback

   Logically Collective on Mat

   Input Parameters:
+  A   - the MATH2 matrix
.  fn  - fills out[i + j*ldo] = A(rows[i], cols[j]) for global row and column indices in the user's numbering
-  ctx - user context passed to fn (or NULL)

   Options Database Keys:
.  -mat_h2_callback_threadsafe <false> - fn may be called from several threads at once

   Notes:
   fn is called from one thread (it may call PETSc) unless -mat_h2_callback_threadsafe is given.
   For matrices that are not a function of two points; the points (MatH2SetCoordinates()) still
   define the cluster tree. Replaces a kernel set before. Any index may be asked for on any process.
   A nonzero error code returned by fn makes the operation that asked for the entries (the
   assembly, and with -mat_h2_storage jit the products and the diagonal) fail with PETSC_ERR_USER.

   Level: intermediate

.seealso: MATH2, MatH2EntriesFn, MatH2SetCoordinates(), MatH2SetKernel()
@*/
PetscErrorCode MatH2SetEntries(Mat A, MatH2EntriesFn fn, void *ctx)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetEntries_C", (Mat, MatH2EntriesFn, void *), (A, fn, ctx));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetBuiltinKernel - the entries of a MATH2 are one of the built-in (vectorized) kernels

   Logically Collective on Mat

   Input Parameters:
+  A      - the MATH2 matrix
.  k      - the kernel: MATH2_KERNEL_LAPLACE, _YUKAWA, _GAUSSIAN, _EXPONENTIAL, _MATERN32, _MATERN52, _IMQ (or _NONE)
.  scale  - the prefactor s
.  param  - the length scale l (the decay alpha for Yukawa; unused for Laplace)
.  diag   - the diagonal value A_ii, PETSC_DEFAULT for the kernel at r = 0 (required for the singular Laplace and Yukawa kernels)
-  nugget - a value added to A_ii

   Options Database Keys:
+  -mat_h2_kernel <laplace,yukawa,gaussian,exponential,matern32,matern52,imq> - the kernel
.  -mat_h2_kernel_scale <s> - the prefactor
.  -mat_h2_kernel_length <l> - the length scale or decay
.  -mat_h2_kernel_diag <d> - the diagonal value
-  -mat_h2_kernel_nugget <v> - added to the diagonal

   Notes:
   A built-in kernel makes the matrix symmetric (one shared basis). Gaussian, exponential, Matern and
   IMQ are positive definite, so PCH2ULV keeps Cholesky pivots for them.

   Level: beginner

.seealso: MATH2, MatH2KernelType, MatH2SetKernel(), MatH2SetCoordinates()
@*/
PetscErrorCode MatH2SetBuiltinKernel(Mat A, MatH2KernelType k, PetscReal scale, PetscReal param, PetscReal diag, PetscReal nugget)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetBuiltinKernel_C", (Mat, MatH2KernelType, PetscReal, PetscReal, PetscReal, PetscReal), (A, k, scale, param, diag, nugget));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetTolerance - relative compression tolerance and rank cap of the bases of a MATH2

   Logically Collective on Mat

   Input Parameters:
+  A       - the MATH2 matrix
.  rtol    - the relative tolerance, in (0, 1), or PETSC_DEFAULT to keep it
-  maxrank - the cap on every rank (at least 1), or PETSC_DEFAULT to keep it

   Options Database Keys:
+  -mat_h2_rtol <1e-8> - the tolerance
-  -mat_h2_max_rank <512> - the rank cap

   Notes:
   A cell whose rank reaches the cap before the tolerance is reported by MatView() (column capped)
   and -info: the error there exceeds rtol.

   Level: beginner

.seealso: MATH2, MatH2GetRanks(), MatH2GetInfo(), PCH2ULVSetTolerance()
@*/
PetscErrorCode MatH2SetTolerance(Mat A, PetscReal rtol, PetscInt maxrank)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetTolerance_C", (Mat, PetscReal, PetscInt), (A, rtol, maxrank));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetLeafSize - target number of points per leaf of the cluster tree of a MATH2

   Logically Collective on Mat

   Input Parameters:
+  A        - the MATH2 matrix
-  leafsize - the target (at least 1); the leaves hold between it and twice it

   Options Database Keys:
.  -mat_h2_leaf_size <128> - the leaf size

   Level: intermediate

.seealso: MATH2, MatH2SetAdmissibility(), MatH2GetIndexMap()
@*/
PetscErrorCode MatH2SetLeafSize(Mat A, PetscInt leaf)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetLeafSize_C", (Mat, PetscInt), (A, leaf));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetAdmissibility - the rule that decides which pairs of clusters are far (compressed)

   Logically Collective on Mat

   Input Parameters:
+  A     - the MATH2 matrix
.  t     - MATH2_ADMISSIBILITY_THETA, far when |C_i - C_j|^2 > theta (|R_i|^2 + |R_j|^2), or MATH2_ADMISSIBILITY_ETA, far when max(diam_i, diam_j) <= eta dist(B_i, B_j)
-  param - theta or eta, non-negative (theta = 0: weak admissibility, HSS)

   Options Database Keys:
+  -mat_h2_admissibility <theta,eta> - the rule
.  -mat_h2_theta <2> - theta
-  -mat_h2_eta <1> - eta

   Level: intermediate

.seealso: MATH2, MatH2AdmissibilityType, MatH2SetLeafSize()
@*/
PetscErrorCode MatH2SetAdmissibility(Mat A, MatH2AdmissibilityType t, PetscReal param)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetAdmissibility_C", (Mat, MatH2AdmissibilityType, PetscReal), (A, t, param));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetSampleSize - cap on the far-field sample from which each cluster's basis is computed

   Logically Collective on Mat

   Input Parameters:
+  A        - the MATH2 matrix
-  nsamples - the cap on the sample points per cluster; 0: automatic (500 per digit of the tolerance, at least 1000)

   Options Database Keys:
.  -mat_h2_samples <0> - the cap

   Level: advanced

.seealso: MATH2, MatH2SetTolerance()
@*/
PetscErrorCode MatH2SetSampleSize(Mat A, PetscInt s)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetSampleSize_C", (Mat, PetscInt), (A, s));
  PetscFunctionReturn(0);
}

const char *const MatH2GeometryTypes[] = {"auto", "points", "matrix", "MatH2GeometryType", "MATH2_GEOMETRY_", NULL};

/*@
   MatH2SetGeometry - what the cluster tree of a MATH2 is built from: its points or its entries alone

   Logically Collective on Mat

   Input Parameters:
+  A         - the MATH2 matrix
.  geometry  - MATH2_GEOMETRY_POINTS (the points of MatH2SetCoordinates()), MATH2_GEOMETRY_MATRIX (the entries alone) or MATH2_GEOMETRY_AUTO (the points when they are given, else the entries)
-  neighbors - for the tree from the entries: leaf clusters are near when a point of one has one of its neighbors nearest points in the other (PETSC_DEFAULT: 32)

   Options Database Keys:
+  -mat_h2_geometry <auto,points,matrix> - the geometry
-  -mat_h2_neighbors <32> - the neighbours

   Notes:
   Without points the tree comes from the angle distance d_ij = 1 - A_ij^2/(A_ii A_jj) between rows:
   clusters are split at the median of the distances to two far points, the near field comes from
   the nearest neighbours (found in randomized trees), and the far-field samples of the bases are
   chosen by the same distance.  The method is meant for symmetric positive definite matrices; a
   negative diagonal is measured by its magnitude, a zero or non-finite diagonal entry is an error
   naming it.  A dense matrix converted
   with MatConvert(), an entry callback (MatH2SetEntries()) and PCH2ULV on a dense matrix need no
   points then.  The tree costs O(N log N) entries, evaluated on every process (every process holds
   the same tree); MatView() shows which tree was built and the entries it took.

   Level: intermediate

.seealso: MATH2, MatH2SetCoordinates(), MatH2SetEntries(), PCH2ULV
@*/
PetscErrorCode MatH2SetGeometry(Mat A, MatH2GeometryType geometry, PetscInt neighbors)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetGeometry_C", (Mat, MatH2GeometryType, PetscInt), (A, geometry, neighbors));
  PetscFunctionReturn(0);
}

/*@
   MatH2SetStorage - whether the near blocks and couplings of a MATH2 are stored or computed in every product

   Logically Collective on Mat

   Input Parameters:
+  A           - the MATH2 matrix
.  st          - MATH2_STORAGE_STORED, MATH2_STORAGE_JIT (computed from the entries in every product: memory O(N) beyond the bases) or MATH2_STORAGE_AUTO (stored unless they would exceed memlimit_mb)
-  memlimit_mb - MB per process the stored values may take under auto; 0 or PETSC_DEFAULT: half the physical memory shared by the processes

   Options Database Keys:
+  -mat_h2_storage <auto,stored,jit> - the storage
-  -mat_h2_memory_limit <0> - the limit in MB

   Notes:
   The choice made under auto is reported by -info and MatView(). Every operation works in both modes.

   Level: intermediate

.seealso: MATH2, MatH2GetMemory(), MatH2StorageType
@*/
PetscErrorCode MatH2SetStorage(Mat A, MatH2StorageType st, PetscReal memlimit)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscTryMethod(A, "MatH2SetStorage_C", (Mat, MatH2StorageType, PetscReal), (A, st, memlimit));
  PetscFunctionReturn(0);
}

/*@
   MatH2GetIndexMap - the points this process owns in the cluster tree's order

   Collective on Mat

   Input Parameter:
.  A - the assembled MATH2 matrix

   Output Parameter:
.  treeorder - the global indices (user numbering) of the points this process owns in the tree, in tree order; destroy with ISDestroy()

   Level: advanced

.seealso: MATH2, MatH2SetCoordinates()
@*/
PetscErrorCode MatH2GetIndexMap(Mat A, IS *is)
{
  PetscFunctionBegin;
  PetscUseMethod(A, "MatH2GetIndexMap_C", (Mat, IS *), (A, is));
  PetscFunctionReturn(0);
}

/*@
   MatH2GetRanks - the ranks of the bases of an assembled MATH2, per level

   Not Collective

   Input Parameter:
.  A - the assembled MATH2 matrix

   Output Parameters:
+  nlevels  - the number of levels (or NULL)
.  minrank  - the smallest rank on each level, an array of nlevels entries (or NULL)
.  maxrank  - the largest rank on each level (or NULL)
-  meanrank - the mean rank on each level (or NULL)

   Notes:
   Call once with NULL arrays to get nlevels.

   Level: intermediate

.seealso: MATH2, MatH2GetInfo(), MatH2SetTolerance()
@*/
PetscErrorCode MatH2GetRanks(Mat A, PetscInt *nlevels, PetscInt minr[], PetscInt maxr[], PetscReal meanr[])
{
  PetscFunctionBegin;
  PetscUseMethod(A, "MatH2GetRanks_C", (Mat, PetscInt *, PetscInt[], PetscInt[], PetscReal[]), (A, nlevels, minr, maxr, meanr));
  PetscFunctionReturn(0);
}

/*@
   MatH2GetMemory - memory of the H^2 representation (bases and values), summed over all processes

   Collective on Mat

   Input Parameter:
.  A - the assembled MATH2 matrix

   Output Parameter:
.  bytes - the memory in bytes

   Level: intermediate

.seealso: MATH2, MatH2GetInfo(), MatH2SetStorage()
@*/
PetscErrorCode MatH2GetMemory(Mat A, PetscLogDouble *bytes)
{
  PetscFunctionBegin;
  PetscUseMethod(A, "MatH2GetMemory_C", (Mat, PetscLogDouble *), (A, bytes));
  PetscFunctionReturn(0);
}

/*@
   MatH2GetInfo - a summary of the construction of an assembled MATH2

   Collective on Mat

   Input Parameter:
.  A - the assembled MATH2 matrix

   Output Parameter:
.  info - levels, largest rank, mean leaf rank, leaf near blocks, far pairs, bytes (all processes), the times of tree, bases and values (this process), flops of one MatMult (all processes), the tolerance

   Level: intermediate

.seealso: MATH2, MatH2Info, MatH2GetRanks(), MatH2GetMemory()
@*/
PetscErrorCode MatH2GetInfo(Mat A, MatH2Info *info)
{
  PetscFunctionBegin;
  PetscUseMethod(A, "MatH2GetInfo_C", (Mat, MatH2Info *), (A, info));
  PetscFunctionReturn(0);
}

/*@C
   MatCreateH2FromKernel - creates and assembles a MATH2 kernel matrix in one call

   Collective

   Input Parameters:
+  comm   - the communicator
.  m      - the number of local rows (and points), or PETSC_DECIDE
.  M      - the global size
.  dim    - the spatial dimension, 1, 2 or 3
.  coords - the local points, interleaved
.  fn     - the kernel, or NULL for a built-in kernel chosen with -mat_h2_kernel
-  ctx    - user context passed to fn (or NULL)

   Output Parameter:
.  A - the assembled matrix

   Notes:
   The -mat_h2_* options are applied (MatSetFromOptions()) before assembly.

   Level: beginner

.seealso: MATH2, MatH2SetCoordinates(), MatH2SetKernel(), MatH2SetBuiltinKernel()
@*/
PetscErrorCode MatCreateH2FromKernel(MPI_Comm comm, PetscInt m, PetscInt M, PetscInt dim, const PetscReal coords[], MatH2KernelFn fn, void *ctx, Mat *A)
{
  PetscFunctionBegin;
  PetscCall(H2ULVInitializePackage());
  PetscCall(MatCreate(comm, A));
  PetscCall(MatSetSizes(*A, m, m, M, M));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(MatSetFromOptions(*A));
  PetscCall(MatH2SetCoordinates(*A, dim, coords));
  if (fn) PetscCall(MatH2SetKernel(*A, fn, ctx));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}
