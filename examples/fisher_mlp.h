/* The MLP of examples/fisher_mlp.c and the approximations of its Fisher in examples/fisher_approx.c */
#pragma once
#include <petscsys.h>

#define NOUT 10 /* classes: digits, or Fashion-MNIST's kinds of garment */

typedef struct {
  const char *data; /* the data set, as printed: "digits" or "Fashion-MNIST images" */
  PetscInt    nin;  /* inputs (pixels): 64 = 8 x 8 for the digits, 784 = 28 x 28 for Fashion-MNIST */
  PetscInt    n;    /* images */
  PetscReal  *x;    /* nin x n, column-major, pixels scaled to [0, 1] */
  PetscInt   *y;    /* labels */
  PetscInt    H, N; /* hidden neurons, parameters: theta = [layer 1: per neuron j, W1[j,:] and b1[j]; layer 2: per class c, W2[c,:] and b2[c]] */
  PetscReal  *W1, *b1, *W2, *b2; /* H x nin, H, NOUT x H, NOUT (column-major) */
} MLP;

/* hidden activations h (H x n) and class probabilities P (NOUT x n) */
void Forward(const MLP *m, PetscReal *h, PetscReal *P);
/* C = op(A) op(B) + beta C, column-major */
void Gemm(const char *ta, const char *tb, PetscInt m, PetscInt n, PetscInt k, const PetscReal *A, PetscInt lda, const PetscReal *B, PetscInt ldb, PetscReal beta, PetscReal *C, PetscInt ldc);

/* the exact answers of F + lambda I (dense LAPACK) */
typedef struct {
  PetscReal  logdet, *x; /* log det(F + lambda I), (F + lambda I)^{-1} g */
  PetscReal *ev;         /* eigenvalues of F, ascending */
  PetscReal  t_chol, t_eig;
} Reference;

/* The cheaper approximations of F + lambda I a user would otherwise take (diagonal, the exact layer
   blocks, K-FAC, the top-k eigenpairs + lambda I at the memory `bytes` of the H2 matrix): for each,
   the relative error of the solve and of log det against ref, its memory and time, printed as a
   table.  F and g in the network's order. */
PetscErrorCode FisherApproximations(const MLP *m, const PetscReal *F, PetscReal lambda, const PetscReal *g, const Reference *ref, PetscReal bytes);
