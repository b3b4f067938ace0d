/* A standard problem with its points hidden and its order shuffled: row i of the hidden matrix is
   point sigma[i] of the problem (a fixed pseudo-random permutation, the same on every process),
   given by its entries alone (MatH2SetEntries).  Shared by tests/test_geo.c and bench/bench_h2.c. */
#ifndef H2ULV_TESTS_HIDDEN_H
#define H2ULV_TESTS_HIDDEN_H
#include <h2ulv.h>

typedef struct {
  H2ULVProblem prob;
  PetscInt     N, *sigma; /* sigma NULL: the problem's own order */
} Hidden;

static inline PetscErrorCode HiddenEntries(PetscInt m, const PetscInt rows[], PetscInt n, const PetscInt cols[], PetscScalar out[], PetscInt ld, void *ctx)
{
  const Hidden *h = (const Hidden *)ctx;

  PetscFunctionBegin;
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt i = 0; i < m; i++) PetscCall(H2ULVProblemEntry(h->prob, h->sigma ? h->sigma[rows[i]] : rows[i], h->sigma ? h->sigma[cols[j]] : cols[j], &out[i + j * ld]));
  PetscFunctionReturn(0);
}

/* h->sigma: Fisher-Yates with a fixed LCG (free with PetscFree) */
static inline PetscErrorCode HiddenShuffle(Hidden *h, PetscInt N)
{
  unsigned long r = 88172645463325252ul;

  PetscFunctionBegin;
  h->N = N;
  PetscCall(PetscMalloc1(N, &h->sigma));
  for (PetscInt i = 0; i < N; i++) h->sigma[i] = i;
  for (PetscInt i = N - 1; i > 0; i--) {
    r           = r * 6364136223846793005ul + 1442695040888963407ul;
    PetscInt j  = (PetscInt)((r >> 17) % (unsigned long)(i + 1)), t = h->sigma[i];
    h->sigma[i] = h->sigma[j];
    h->sigma[j] = t;
  }
  PetscFunctionReturn(0);
}

/* the MATH2 of the hidden matrix (symmetric), options applied, assembled */
static inline PetscErrorCode HiddenCreateH2(Hidden *h, MPI_Comm comm, PetscInt m, Mat *A)
{
  PetscFunctionBegin;
  PetscCall(MatCreate(comm, A));
  PetscCall(MatSetSizes(*A, m, m, h->N, h->N));
  PetscCall(MatSetType(*A, MATH2));
  PetscCall(MatSetOption(*A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatH2SetEntries(*A, HiddenEntries, h));
  PetscCall(MatSetFromOptions(*A));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}
#endif
