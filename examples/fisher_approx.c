/* The approximations of the damped Fisher F + lambda I that a user would take instead of the H2
   route (examples/fisher_mlp.c), each solved exactly so that its error is the approximation's:

   diagonal   diag(F) + lambda I (the EWC penalty's matrix)
   layers     the exact diagonal blocks of the two layers, each by Cholesky
   K-FAC      per layer the Kronecker product G (x) A of the output-gradient and input second moments
              (Martens & Grosse), inverted through the eigendecompositions of A and G
   rank-k     the top k eigenpairs of F + lambda I, with k chosen so that the k vectors take the memory
              of the H2 matrix (exact eigenpairs from LAPACK: the best rank-k approximation there is)

   The parameters of a layer with `in` inputs (plus the bias) and `out` neurons are ordered neuron by
   neuron, so the layer's block of the gradient of one output z_c is vec(a g^T) with a = (input, 1)
   and g the back-propagated vector: F's block is (1/n) sum_i sum_c p_ic (g g^T) (x) (a a^T), which
   K-FAC replaces by G (x) A, G = (1/n) sum_i sum_c p_ic g g^T and A = (1/n) sum_i a a^T. */
#include "fisher_mlp.h"
#include <petscblaslapack.h>

typedef struct {
  const char    *name;
  PetscReal      esolve, elogdet, bytes;
  PetscLogDouble seconds;
} Approx;

static PetscReal RelErr(PetscInt n, const PetscReal *a, const PetscReal *b)
{
  PetscReal d = 0, s = 0;
  for (PetscInt i = 0; i < n; i++) d += (a[i] - b[i]) * (a[i] - b[i]), s += b[i] * b[i];
  return PetscSqrtReal(d / s);
}

/* the symmetric n x n matrix A (overwritten by its eigenvectors), its eigenvalues w */
static PetscErrorCode Eig(PetscInt n, PetscReal *A, PetscReal *w)
{
  PetscBLASInt bn = (PetscBLASInt)n, lw = -1, info;
  PetscReal    q, *work;

  PetscFunctionBegin;
  LAPACKsyev_("V", "L", &bn, A, &bn, w, &q, &lw, &info);
  lw = (PetscBLASInt)q;
  PetscCall(PetscMalloc1(lw, &work));
  LAPACKsyev_("V", "L", &bn, A, &bn, w, work, &lw, &info);
  PetscCall(PetscFree(work));
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK syev failed (info %d)", (int)info);
  PetscFunctionReturn(0);
}

/* x = (B + lambda I)^{-1} r for the n x n diagonal block of F at offset o; log det added to *ld */
static PetscErrorCode BlockSolve(PetscInt N, const PetscReal *F, PetscInt o, PetscInt n, PetscReal lambda, const PetscReal *r, PetscReal *x, PetscReal *ld)
{
  PetscReal   *B;
  PetscBLASInt bn = (PetscBLASInt)n, one = 1, info;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)n * n, &B));
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt i = 0; i < n; i++) B[i + n * j] = F[(o + i) + N * (o + j)] + (i == j ? lambda : 0);
  LAPACKpotrf_("L", &bn, B, &bn, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "Cholesky of a layer block failed (info %d)", (int)info);
  for (PetscInt i = 0; i < n; i++) *ld += 2 * PetscLogReal(B[i + n * i]);
  PetscCall(PetscArraycpy(x, r, n));
  LAPACKpotrs_("L", &bn, &one, B, &bn, x, &bn, &info);
  PetscCall(PetscFree(B));
  PetscFunctionReturn(0);
}

static PetscErrorCode Diagonal(const MLP *m, const PetscReal *F, PetscReal lambda, const PetscReal *g, PetscReal *x, Approx *a)
{
  PetscFunctionBegin;
  a->elogdet = 0;
  for (PetscInt i = 0; i < m->N; i++) {
    x[i] = g[i] / (F[i + m->N * i] + lambda);
    a->elogdet += PetscLogReal(F[i + m->N * i] + lambda);
  }
  a->bytes = 8.0 * m->N;
  PetscFunctionReturn(0);
}

static PetscErrorCode Layers(const MLP *m, const PetscReal *F, PetscReal lambda, const PetscReal *g, PetscReal *x, Approx *a)
{
  const PetscInt n1 = m->H * (m->nin + 1), n2 = m->N - n1;

  PetscFunctionBegin;
  a->elogdet = 0;
  PetscCall(BlockSolve(m->N, F, 0, n1, lambda, g, x, &a->elogdet));
  PetscCall(BlockSolve(m->N, F, n1, n2, lambda, g + n1, x + n1, &a->elogdet));
  a->bytes = 8.0 * ((double)n1 * n1 + (double)n2 * n2);
  PetscFunctionReturn(0);
}

/* the K-FAC factors of both layers: A1 ((nin+1)^2), G1 (H^2), A2 ((H+1)^2), G2 (NOUT^2) */
static PetscErrorCode KfacFactors(const MLP *m, PetscReal *A1, PetscReal *G1, PetscReal *A2, PetscReal *G2)
{
  const PetscInt H = m->H, n = m->n, nin = m->nin, a1 = nin + 1, a2 = H + 1;
  PetscReal     *h, *P, u[1024], pw[1024];

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(H * n, &h, NOUT * n, &P));
  Forward(m, h, P);
  PetscCall(PetscArrayzero(A1, a1 * a1));
  PetscCall(PetscArrayzero(G1, H * H));
  PetscCall(PetscArrayzero(A2, a2 * a2));
  PetscCall(PetscArrayzero(G2, NOUT * NOUT));
  for (PetscInt i = 0; i < n; i++) {
    const PetscReal *x = m->x + nin * i, *hi = h + H * i, *p = P + NOUT * i;
    for (PetscInt s = 0; s < a1; s++)
      for (PetscInt t = 0; t < a1; t++) A1[s + a1 * t] += (s < nin ? x[s] : 1.0) * (t < nin ? x[t] : 1.0) / n;
    for (PetscInt s = 0; s < a2; s++)
      for (PetscInt t = 0; t < a2; t++) A2[s + a2 * t] += (s < H ? hi[s] : 1.0) * (t < H ? hi[t] : 1.0) / n;
    for (PetscInt j = 0; j < H; j++) {
      pw[j] = 0;
      for (int c = 0; c < NOUT; c++) pw[j] += p[c] * m->W2[c + NOUT * j];
    }
    for (int c = 0; c < NOUT; c++) {
      for (int s = 0; s < NOUT; s++)
        for (int t = 0; t < NOUT; t++) G2[s + NOUT * t] += p[c] * ((s == c) - p[s]) * ((t == c) - p[t]) / n;
      for (PetscInt j = 0; j < H; j++) u[j] = (m->W2[c + NOUT * j] - pw[j]) * (1.0 - hi[j] * hi[j]);
      for (PetscInt s = 0; s < H; s++)
        for (PetscInt t = 0; t < H; t++) G1[s + H * t] += p[c] * u[s] * u[t] / n;
    }
  }
  PetscCall(PetscFree2(h, P));
  PetscFunctionReturn(0);
}

/* x = (G (x) A + lambda I)^{-1} r for one layer (ni = A's order, no = G's), through their
   eigendecompositions (A and G are overwritten by their eigenvectors); log det added to *ld */
static PetscErrorCode KronSolve(PetscInt ni, PetscReal *A, PetscInt no, PetscReal *G, PetscReal lambda, const PetscReal *r, PetscReal *x, PetscReal *ld)
{
  PetscReal *wa, *wg, *T;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(ni, &wa, no, &wg, ni * no, &T));
  PetscCall(Eig(ni, A, wa));
  PetscCall(Eig(no, G, wg));
  /* r as the ni x no matrix R (parameter j*ni + k is R[k, j]): V = Q_A [(Q_A^T R Q_G) ./ (wa wg^T + lambda)] Q_G^T */
  Gemm("T", "N", ni, no, ni, A, ni, r, ni, 0.0, T, ni);
  Gemm("N", "N", ni, no, no, T, ni, G, no, 0.0, x, ni);
  for (PetscInt j = 0; j < no; j++)
    for (PetscInt k = 0; k < ni; k++) {
      x[k + ni * j] /= wa[k] * wg[j] + lambda;
      *ld += PetscLogReal(wa[k] * wg[j] + lambda);
    }
  Gemm("N", "T", ni, no, no, x, ni, G, no, 0.0, T, ni);
  Gemm("N", "N", ni, no, ni, A, ni, T, ni, 0.0, x, ni);
  PetscCall(PetscFree3(wa, wg, T));
  PetscFunctionReturn(0);
}

static PetscErrorCode Kfac(const MLP *m, PetscReal lambda, const PetscReal *g, PetscReal *x, Approx *a)
{
  const PetscInt H = m->H, a1 = m->nin + 1, a2 = H + 1;
  PetscReal     *A1, *G1, *A2, *G2;

  PetscFunctionBegin;
  PetscCall(PetscMalloc4(a1 * a1, &A1, H * H, &G1, a2 * a2, &A2, NOUT * NOUT, &G2));
  PetscCall(KfacFactors(m, A1, G1, A2, G2));
  a->elogdet = 0;
  PetscCall(KronSolve(a1, A1, H, G1, lambda, g, x, &a->elogdet));
  PetscCall(KronSolve(a2, A2, NOUT, G2, lambda, g + H * a1, x + H * a1, &a->elogdet));
  a->bytes = 8.0 * (a1 * a1 + H * H + a2 * a2 + NOUT * NOUT);
  PetscCall(PetscFree4(A1, G1, A2, G2));
  PetscFunctionReturn(0);
}

/* the top k eigenpairs of F (k vectors of N at the memory `bytes`): x = V (L + lambda)^{-1} V^T g + (g - V V^T g) / lambda */
static PetscErrorCode RankK(const MLP *m, const PetscReal *F, PetscReal lambda, const PetscReal *g, PetscReal bytes, PetscReal *x, Approx *a)
{
  const PetscInt N = m->N, k = PetscMax(1, PetscMin(N, (PetscInt)(bytes / (8.0 * N))));
  PetscReal     *V, *w, *c;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3((size_t)N * N, &V, N, &w, N, &c));
  PetscCall(PetscArraycpy(V, F, (size_t)N * N));
  PetscCall(Eig(N, V, w)); /* ascending: the top k are the last k columns */
  const PetscReal *Vk = V + (size_t)N * (N - k), *wk = w + N - k;
  Gemm("T", "N", k, 1, N, Vk, N, g, N, 0.0, c, k);
  for (PetscInt i = 0; i < N; i++) x[i] = g[i] / lambda;
  for (PetscInt j = 0; j < k; j++) c[j] = c[j] / (wk[j] + lambda) - c[j] / lambda;
  Gemm("N", "N", N, 1, k, Vk, N, c, k, 1.0, x, N);
  a->elogdet = (N - k) * PetscLogReal(lambda);
  for (PetscInt j = 0; j < k; j++) a->elogdet += PetscLogReal(PetscMax(wk[j], 0) + lambda);
  a->bytes = 8.0 * k * (N + 1);
  PetscCall(PetscFree3(V, w, c));
  PetscFunctionReturn(0);
}

PetscErrorCode FisherApproximations(const MLP *m, const PetscReal *F, PetscReal lambda, const PetscReal *g, const Reference *ref, PetscReal bytes)
{
  Approx     a[4] = {{"diagonal"}, {"layer blocks"}, {"K-FAC"}, {"rank-k + lambda I"}};
  PetscReal *x;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(m->N, &x));
  for (int t = 0; t < 4; t++) {
    PetscLogDouble t0, t1;
    PetscCall(PetscTime(&t0));
    if (t == 0) PetscCall(Diagonal(m, F, lambda, g, x, &a[t]));
    else if (t == 1) PetscCall(Layers(m, F, lambda, g, x, &a[t]));
    else if (t == 2) PetscCall(Kfac(m, lambda, g, x, &a[t]));
    else PetscCall(RankK(m, F, lambda, g, bytes, x, &a[t]));
    PetscCall(PetscTime(&t1));
    a[t].seconds = t1 - t0;
    a[t].esolve  = RelErr(m->N, x, ref->x);
    a[t].elogdet = PetscAbsReal(a[t].elogdet - ref->logdet) / PetscAbsReal(ref->logdet);
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "approximations of F + lambda I:  %-18s %12s %12s %10s %9s\n", "method", "solve err", "logdet err", "MB", "seconds"));
  for (int t = 0; t < 4; t++) PetscCall(PetscPrintf(PETSC_COMM_SELF, "                                 %-18s %12.3e %12.3e %10.2f %9.3f\n", a[t].name, (double)a[t].esolve, (double)a[t].elogdet, a[t].bytes / 1048576.0, a[t].seconds));
  for (int t = 0; t < 4; t++) PetscCall(PetscPrintf(PETSC_COMM_SELF, "RECORD {\"bench\": \"fisher\", \"method\": \"%s\", \"N\": %" PetscInt_FMT ", \"solve_error\": %.3e, \"logdet_error\": %.3e, \"mem_bytes\": %.0f, \"factor_s\": %.3f}\n", a[t].name, m->N, (double)a[t].esolve, (double)a[t].elogdet, a[t].bytes, a[t].seconds));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}
