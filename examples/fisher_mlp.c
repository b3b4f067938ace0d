static const char help[] = "The Fisher information of a trained neural network, a dense SPD matrix with no coordinates,\n\
compressed by MATH2 from the matrix alone and factored by PCH2ULV: the natural-gradient (EWC) solve,\n\
log det (the Laplace evidence) and the top eigenvalues, against dense LAPACK.\n\
  -dataset <digits>     the training images: digits (scikit-learn's 8x8 digits, python3-sklearn) or\n\
                        fashion (Fashion-MNIST's 28x28 garments, dataset-fashion-mnist)\n\
  -data <file>          digits.csv.gz, or Fashion-MNIST's train-images-idx3-ubyte.gz with its labels in the\n\
                        file of the same name with labels-idx1 for images-idx3 (found by default)\n\
  -nsamples <n>         training images used: by default all 1797 digits, or max(2000, 1.2 N/9)\n\
                        Fashion-MNIST images (at most 60000), so that F can have full rank\n\
  -hidden <32 | 4>      hidden neurons of the MLP nin -> hidden (tanh) -> 10 (softmax), nin = 64 pixels\n\
                        for the digits, 784 for Fashion-MNIST: N = (nin + 11) hidden + 10 (default 32\n\
                        for the digits, 4 for Fashion-MNIST)\n\
  -epochs <100>         full-batch gradient descent with momentum (deterministic from -seed)\n\
  -seed <1>\n\
  -order natural|random the parameters in the network's order (layer, neuron) or randomly permuted\n\
  -alpha <1e-3>         damping: F + lambda I with lambda = alpha tr(F) / N\n\
  -nev <10>             top eigenvalues of F (SLEPc on the MATH2 of F) against LAPACK (0: none)\n\
  -compare              also the diagonal, layer-block, K-FAC and rank-k (at the H2 memory) approximations\n\
  -check <tol>          exit with an error when the solve, log det or eigenvalues differ from the dense\n\
                        reference by more than tol (relative)\n\
  -mat_h2_*             the compression (default here: -mat_h2_rtol 1e-10)\n\
  -pc_h2ulv_*           the direct solver's factorization (default here: -pc_h2ulv_rtol 1e-10)\n\
  -pre_pc_h2ulv_*       the preconditioner's (default here: -pre_pc_h2ulv_rtol 1e-4, single precision)\n\
Runs on one process.\n";

/*
  A multilayer perceptron with parameters theta (N of them) maps an image x to class probabilities
  p = softmax(z(x; theta)).  For the softmax cross-entropy loss the Fisher information matrix is
  the Gauss-Newton matrix

      F = (1/n) sum_i J_i^T (diag(p_i) - p_i p_i^T) J_i,     J_i = dz(x_i)/dtheta  (C x N),

  over the n training images.  Since diag(p) - p p^T = sum_c p_c (e_c - p)(e_c - p)^T, F = U^T U with
  one row sqrt(p_ic / n) (J_i^T (e_c - p_i))^T per image and class: n C rows (17970 for the
  digits), of rank n (C - 1) at most; with n (C - 1) >= N, F has the rank the network allows (an
  empirical Fisher from a few samples would have rank <= their number).  A row is
  the gradient of z_c - p^T z: for the output layer (e_c - p) outer h, for the hidden layer
  (W2[c,:] - p^T W2) * (1 - h^2) outer x.

  F has no coordinates: MatConvert(F, MATH2) builds the cluster tree from the entries themselves
  (docs/algorithm.md, "Construction without coordinates").  The uses of F + lambda I, lambda =
  alpha tr(F)/N: the natural-gradient step (F + lambda I)^{-1} g with PCH2ULV as a direct solver
  and as a single-precision preconditioner of FGMRES, log det(F + lambda I), and the top
  eigenvalues of F with SLEPc on the MATH2 matrix (those of F + lambda I, less lambda: F itself
  has zero rows, the weights of pixels that are blank in every image, where the tree from the
  entries has no distance to work with).  Everything is compared with dense LAPACK
  (potrf, potrs, syev) on the same matrix.
*/
#include <h2ulv.h>
#include <petscblaslapack.h>
#include <slepceps.h>
#include <stdio.h>
#include <string.h>
#include "fisher_mlp.h"

/* ------------------------------------------------------------------------------------------------
   The data: scikit-learn's digits (1797 8x8 images, 65 comma-separated numbers a line)
   ------------------------------------------------------------------------------------------------ */
static PetscErrorCode FindDigits(char *path, size_t len)
{
  const char *where[] = {"/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz", "/usr/share/sklearn/datasets/data/digits.csv.gz"};
  PetscBool   set, found = PETSC_FALSE;

  PetscFunctionBegin;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-data", path, len, &set));
  if (set) PetscFunctionReturn(0);
  for (size_t k = 0; k < sizeof(where) / sizeof(where[0]) && !found; k++) {
    PetscCall(PetscTestFile(where[k], 'r', &found));
    if (found) PetscCall(PetscStrncpy(path, where[k], len));
  }
  PetscCheck(found, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "scikit-learn's digits data set (digits.csv.gz) was not found: install the Debian package python3-sklearn (apt-get install python3-sklearn), or give the file with -data");
  PetscFunctionReturn(0);
}

/* the first nsamples images (all of them, up to 2000, with nsamples = PETSC_DECIDE), pixels / 16 */
static PetscErrorCode LoadDigits(const char *path, PetscInt nsamples, MLP *m)
{
  const PetscInt nin = 64, nmax = nsamples > 0 ? nsamples : 2000;
  char           cmd[PETSC_MAX_PATH_LEN + 32];
  FILE          *f;
  int            v[64 + 1];

  PetscFunctionBegin;
  m->data = "digits";
  m->nin  = nin;
  PetscCall(PetscSNPrintf(cmd, sizeof(cmd), "gzip -dc '%s'", path));
  f = popen(cmd, "r");
  PetscCheck(f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot run gzip to read %s", path);
  PetscCall(PetscMalloc2(nin * nmax, &m->x, nmax, &m->y));
  m->n = 0;
  while (m->n < nmax) {
    int k = 0;
    for (; k <= nin; k++)
      if (fscanf(f, k ? ",%d" : "%d", &v[k]) != 1) break;
    if (k <= nin) break;
    for (k = 0; k < nin; k++) m->x[nin * m->n + k] = v[k] / 16.0;
    m->y[m->n++] = v[nin];
  }
  pclose(f);
  if (nsamples > 0) PetscCheck(m->n == nsamples, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "%s: -nsamples %" PetscInt_FMT ", but the file holds %" PetscInt_FMT " images", path, nsamples, m->n);
  else PetscCheck(m->n >= 100, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: read %" PetscInt_FMT " images; expected 1797 lines of 65 comma-separated integers", path, m->n);
  for (PetscInt i = 0; i < m->n; i++) PetscCheck(m->y[i] >= 0 && m->y[i] < NOUT, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: label %" PetscInt_FMT " of image %" PetscInt_FMT " is not a digit", path, m->y[i], i);
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   The data: Fashion-MNIST (dataset-fashion-mnist: 60000 28x28 training images of ten kinds of
   garment and their labels, in two gzip-compressed IDX files: a big-endian int32 magic number and
   the dimensions, then unsigned bytes)
   ------------------------------------------------------------------------------------------------ */
/* the images file (-data, else the package's) and the labels file beside it, the same name with
   labels-idx1 for images-idx3 */
static PetscErrorCode FindFashion(char *images, char *labels, size_t len)
{
  const char *install = "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or give the images file with -data";
  PetscBool   set, found;
  char       *s;

  PetscFunctionBegin;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-data", images, len, &set));
  if (!set) PetscCall(PetscStrncpy(images, "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", len));
  PetscCall(PetscTestFile(images, 'r', &found));
  PetscCheck(found || set, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "the Fashion-MNIST data set (%s) was not found: %s", images, install);
  PetscCheck(found, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "-data %s: no such file, or it cannot be read", images);
  PetscCall(PetscStrncpy(labels, images, len));
  PetscCall(PetscStrrstr(labels, "images-idx3", &s));
  PetscCheck(s, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "-data %s: the labels are read from the file of the same name with labels-idx1 for images-idx3, and this name has no images-idx3", images);
  PetscCall(PetscMemcpy(s, "labels-idx1", 11));
  PetscCall(PetscTestFile(labels, 'r', &found));
  PetscCheck(found, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "the labels of %s (%s) were not found: %s", images, labels, install);
  PetscFunctionReturn(0);
}

/* an IDX file (gzip-compressed or not) as a stream after its header: the magic number checked, the
   ndim dimensions returned (each positive, the data at most 4 GB) */
static PetscErrorCode IDXOpen(const char *path, unsigned magic, int ndim, PetscInt dims[], FILE **f)
{
  char          cmd[PETSC_MAX_PATH_LEN + 32];
  unsigned char b[16] = {0};
  unsigned      v[4];
  double        total = 1; /* bytes of data */
  size_t        got;
  PetscBool     header, ok;

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(cmd, sizeof(cmd), "gzip -dcf '%s'", path));
  *f = popen(cmd, "r");
  PetscCheck(*f, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot run gzip to read %s", path);
  got = fread(b, 1, 4 * (ndim + 1), *f);
  for (int k = 0; k <= ndim; k++) v[k] = (unsigned)b[4 * k] << 24 | (unsigned)b[4 * k + 1] << 16 | (unsigned)b[4 * k + 2] << 8 | (unsigned)b[4 * k + 3];
  header = (PetscBool)(got == (size_t)(4 * (ndim + 1)) && v[0] == magic);
  ok     = header;
  for (int k = 1; k <= ndim; k++) {
    total *= v[k];
    ok         = (PetscBool)(ok && v[k] >= 1 && v[k] < (1u << 31) && total <= 4294967296.0);
    dims[k - 1] = (PetscInt)v[k];
  }
  if (!ok) pclose(*f);
  PetscCheck(got == (size_t)(4 * (ndim + 1)), PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s ends within the %d bytes of an IDX header: not an IDX file", path, 4 * (ndim + 1));
  PetscCheck(header, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s is not an IDX file of %s: its magic number is 0x%08x, expected 0x%08x", path, ndim == 1 ? "labels" : "images", v[0], magic);
  PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: the dimensions in the IDX header are zero or too large", path);
  PetscFunctionReturn(0);
}

/* the next `count` bytes of the stream into buf, the rest of it read too (and dropped), the stream
   closed: the data must be the `total` bytes its header announced */
static PetscErrorCode IDXRead(FILE *f, const char *path, size_t count, size_t total, unsigned char *buf)
{
  char   sink[65536];
  size_t got = fread(buf, 1, count, f), r;
  int    status;

  PetscFunctionBegin;
  while ((r = fread(sink, 1, sizeof(sink), f)) > 0) got += r;
  status = pclose(f);
  PetscCheck(got == total, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: the IDX header announces %" PetscInt64_FMT " bytes of data, the file holds %" PetscInt64_FMT ": a damaged or truncated file, or not an IDX file", path, (PetscInt64)total, (PetscInt64)got);
  PetscCheck(status == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "gzip could not read %s (exit status %d)", path, status);
  PetscFunctionReturn(0);
}

/* the first nsamples images (PETSC_DECIDE: enough that the n (C - 1) rows of U cover the N
   parameters of the network of m->H hidden neurons, at least 2000), pixels / 255 */
static PetscErrorCode LoadFashion(const char *images, const char *labels, PetscInt nsamples, MLP *m)
{
  PetscInt       dl[1], di[3], nl, ni, nin, N;
  FILE          *f;
  unsigned char *lb, *px;
  PetscBool      ok;

  PetscFunctionBegin;
  PetscCall(IDXOpen(labels, 0x801, 1, dl, &f));
  nl = dl[0];
  PetscCall(PetscMalloc1(nl, &lb));
  PetscCall(IDXRead(f, labels, nl, nl, lb));
  PetscCall(IDXOpen(images, 0x803, 3, di, &f));
  ni = di[0], nin = di[1] * di[2];
  ok = (PetscBool)(di[1] == 28 && di[2] == 28 && ni == nl);
  if (!ok) pclose(f);
  PetscCheck(di[1] == 28 && di[2] == 28, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: images of %" PetscInt_FMT " x %" PetscInt_FMT " pixels; Fashion-MNIST's are 28 x 28", images, di[1], di[2]);
  PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s holds %" PetscInt_FMT " images but %s %" PetscInt_FMT " labels", images, ni, labels, nl);
  N = m->H * (nin + 1) + NOUT * (m->H + 1);
  m->n = nsamples > 0 ? nsamples : PetscMin(PetscMin(ni, 60000), PetscMax(2000, (PetscInt)PetscCeilReal(1.2 * N / (NOUT - 1))));
  if (m->n > ni) pclose(f);
  PetscCheck(m->n <= ni, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "-nsamples %" PetscInt_FMT ", but %s holds %" PetscInt_FMT " images", m->n, images, ni);
  PetscCall(PetscMalloc1((size_t)nin * m->n, &px));
  PetscCall(IDXRead(f, images, (size_t)nin * m->n, (size_t)nin * ni, px));
  m->data = "Fashion-MNIST images";
  m->nin  = nin;
  PetscCall(PetscMalloc2((size_t)nin * m->n, &m->x, m->n, &m->y));
  for (size_t t = 0; t < (size_t)nin * m->n; t++) m->x[t] = px[t] / 255.0;
  for (PetscInt i = 0; i < m->n; i++) m->y[i] = lb[i];
  PetscCall(PetscFree(px));
  PetscCall(PetscFree(lb));
  for (PetscInt i = 0; i < m->n; i++) PetscCheck(m->y[i] < NOUT, PETSC_COMM_SELF, PETSC_ERR_FILE_UNEXPECTED, "%s: label %" PetscInt_FMT " of image %" PetscInt_FMT " is not one of the %d classes", labels, m->y[i], i, NOUT);
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   The network: forward pass, gradient, training
   ------------------------------------------------------------------------------------------------ */
void Gemm(const char *ta, const char *tb, PetscInt m, PetscInt n, PetscInt k, const PetscReal *A, PetscInt lda, const PetscReal *B, PetscInt ldb, PetscReal beta, PetscReal *C, PetscInt ldc)
{
  PetscBLASInt bm = (PetscBLASInt)m, bn = (PetscBLASInt)n, bk = (PetscBLASInt)k, la = (PetscBLASInt)lda, lb = (PetscBLASInt)ldb, lc = (PetscBLASInt)ldc;
  PetscReal    one = 1.0;
  BLASgemm_(ta, tb, &bm, &bn, &bk, &one, A, &la, B, &lb, &beta, C, &lc);
}

void Forward(const MLP *m, PetscReal *h, PetscReal *P)
{
  const PetscInt n = m->n, H = m->H;
  Gemm("N", "N", H, n, m->nin, m->W1, H, m->x, m->nin, 0.0, h, H);
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < H; j++) h[j + H * i] = PetscTanhReal(h[j + H * i] + m->b1[j]);
  Gemm("N", "N", NOUT, n, H, m->W2, NOUT, h, H, 0.0, P, NOUT);
  for (PetscInt i = 0; i < n; i++) {
    PetscReal *z = P + NOUT * i, zmax = z[0], s = 0;
    for (int c = 0; c < NOUT; c++) zmax = PetscMax(zmax, z[c] + m->b2[c]);
    for (int c = 0; c < NOUT; c++) s += (z[c] = PetscExpReal(z[c] + m->b2[c] - zmax));
    for (int c = 0; c < NOUT; c++) z[c] /= s;
  }
}

/* the gradient of the mean cross-entropy (gW1, gb1, gW2, gb2 as the weights) and the loss */
static PetscReal Gradient(const MLP *m, PetscReal *h, PetscReal *P, PetscReal *dh, PetscReal *gW1, PetscReal *gb1, PetscReal *gW2, PetscReal *gb2)
{
  const PetscInt n = m->n, H = m->H;
  PetscReal      loss = 0;
  Forward(m, h, P);
  for (PetscInt i = 0; i < n; i++) {
    loss -= PetscLogReal(PetscMax(P[m->y[i] + NOUT * i], 1e-300)) / n;
    P[m->y[i] + NOUT * i] -= 1.0;
    for (int c = 0; c < NOUT; c++) P[c + NOUT * i] /= n; /* dz */
  }
  Gemm("N", "T", NOUT, H, n, P, NOUT, h, H, 0.0, gW2, NOUT);
  Gemm("T", "N", H, n, NOUT, m->W2, NOUT, P, NOUT, 0.0, dh, H);
  for (int c = 0; c < NOUT; c++) gb2[c] = 0;
  for (PetscInt j = 0; j < H; j++) gb1[j] = 0;
  for (PetscInt i = 0; i < n; i++) {
    for (int c = 0; c < NOUT; c++) gb2[c] += P[c + NOUT * i];
    for (PetscInt j = 0; j < H; j++) gb1[j] += (dh[j + H * i] *= 1.0 - h[j + H * i] * h[j + H * i]);
  }
  Gemm("N", "T", H, m->nin, n, dh, H, m->x, m->nin, 0.0, gW1, H);
  return loss;
}

/* theta in the network's order (layer, neuron: its incoming weights, then its bias) from the
   weights, or (back) the weights from theta */
static void Pack(MLP *m, PetscReal *theta, const PetscReal *W1, const PetscReal *b1, const PetscReal *W2, const PetscReal *b2)
{
  const PetscInt H = m->H;
  PetscInt       t = 0;
  for (PetscInt j = 0; j < H; j++) {
    for (PetscInt k = 0; k < m->nin; k++) theta[t++] = W1[j + H * k];
    theta[t++] = b1[j];
  }
  for (int c = 0; c < NOUT; c++) {
    for (PetscInt j = 0; j < H; j++) theta[t++] = W2[c + NOUT * j];
    theta[t++] = b2[c];
  }
}

static PetscErrorCode Train(MLP *m, PetscInt epochs, PetscInt seed, PetscReal *g)
{
  const PetscInt H = m->H, N = m->N, nin = m->nin;
  PetscReal     *h, *P, *dh, *gw, *vel, loss = 0;
  PetscRandom    rnd;

  PetscFunctionBegin;
  PetscCall(PetscMalloc5(H * m->n, &h, NOUT * m->n, &P, H * m->n, &dh, N, &gw, N, &vel));
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, (unsigned long)seed));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(PetscRandomSetInterval(rnd, -1.0, 1.0));
  for (PetscInt t = 0; t < H * nin; t++) {
    PetscCall(PetscRandomGetValueReal(rnd, &m->W1[t]));
    m->W1[t] *= PetscSqrtReal(3.0 / nin);
  }
  for (PetscInt t = 0; t < NOUT * H; t++) {
    PetscCall(PetscRandomGetValueReal(rnd, &m->W2[t]));
    m->W2[t] *= PetscSqrtReal(3.0 / H);
  }
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(PetscArrayzero(m->b1, H));
  PetscCall(PetscArrayzero(m->b2, NOUT));
  PetscCall(PetscArrayzero(vel, N));
  /* the weights live in gw's layout during training: W1 | b1 | W2 | b2 */
  for (PetscInt e = 0; e <= epochs; e++) {
    loss = Gradient(m, h, P, dh, gw, gw + H * nin, gw + H * nin + H, gw + H * nin + H + NOUT * H);
    if (e == epochs) break;
    PetscReal *w[4] = {m->W1, m->b1, m->W2, m->b2};
    PetscInt   len[4] = {H * nin, H, NOUT * H, NOUT}, o = 0;
    PetscReal  step[4] = {0.5 * 64 / nin, 0.5 * 64 / nin, 0.5, 0.5}; /* 0.5, the first layer's times 64/nin: its curvature grows with the number of inputs */
    for (int b = 0; b < 4; o += len[b++])
      for (PetscInt t = 0; t < len[b]; t++) {
        vel[o + t] = 0.9 * vel[o + t] - step[b] * gw[o + t];
        w[b][t] += vel[o + t];
      }
  }
  Pack(m, g, gw, gw + H * nin, gw + H * nin + H, gw + H * nin + H + NOUT * H);
  Forward(m, h, P);
  PetscInt right = 0;
  for (PetscInt i = 0; i < m->n; i++) {
    int best = 0;
    for (int c = 1; c < NOUT; c++)
      if (P[c + NOUT * i] > P[best + NOUT * i]) best = c;
    right += best == m->y[i];
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "MLP %" PetscInt_FMT "-%" PetscInt_FMT "-10 (N = %" PetscInt_FMT " parameters) trained %" PetscInt_FMT " epochs on %" PetscInt_FMT " %s: loss %.4f, training accuracy %.1f%%\n", nin, H, N, epochs, m->n, m->data, (double)loss, 100.0 * right / m->n));
  PetscCall(PetscFree5(h, P, dh, gw, vel));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   The Fisher F = U^T U, assembled by blocks of images (syrk)
   ------------------------------------------------------------------------------------------------ */
/* the rows of U of image i (NOUT of them, leading dimension ld) */
static void FisherRows(const MLP *m, PetscInt i, const PetscReal *h, const PetscReal *p, PetscReal *U, PetscInt ld)
{
  const PetscInt   H = m->H, nin = m->nin, off2 = H * (nin + 1);
  const PetscReal *x = m->x + nin * i;
  PetscReal        pw[1024];
  for (PetscInt j = 0; j < H; j++) { /* p^T W2 */
    pw[j] = 0;
    for (int c = 0; c < NOUT; c++) pw[j] += p[c] * m->W2[c + NOUT * j];
  }
  for (int c = 0; c < NOUT; c++) {
    const PetscReal s = PetscSqrtReal(p[c] / m->n);
    for (PetscInt j = 0; j < H; j++) {
      const PetscReal a = s * (m->W2[c + NOUT * j] - pw[j]) * (1.0 - h[j] * h[j]);
      for (PetscInt k = 0; k < nin; k++) U[c + ld * (j * (nin + 1) + k)] = a * x[k];
      U[c + ld * (j * (nin + 1) + nin)] = a;
    }
    for (int c2 = 0; c2 < NOUT; c2++) {
      const PetscReal a = s * ((c == c2 ? 1.0 : 0.0) - p[c2]);
      for (PetscInt j = 0; j < H; j++) U[c + ld * (off2 + c2 * (H + 1) + j)] = a * h[j];
      U[c + ld * (off2 + c2 * (H + 1) + H)] = a;
    }
  }
}

/* F (N x N, column-major, both triangles) */
static PetscErrorCode AssembleFisher(const MLP *m, PetscReal *F)
{
  const PetscInt H = m->H, N = m->N, chunk = 256;
  PetscReal     *h, *P, *U;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(H * m->n, &h, NOUT * m->n, &P, (size_t)NOUT * chunk * N, &U));
  Forward(m, h, P);
  PetscCall(PetscArrayzero(F, (size_t)N * N));
  for (PetscInt i0 = 0; i0 < m->n; i0 += chunk) {
    const PetscInt nb = PetscMin(chunk, m->n - i0);
    for (PetscInt i = 0; i < nb; i++) FisherRows(m, i0 + i, h + H * (i0 + i), P + NOUT * (i0 + i), U + NOUT * i, NOUT * nb);
    PetscBLASInt bn = (PetscBLASInt)N, bk = (PetscBLASInt)(NOUT * nb);
    PetscReal    one = 1.0;
    BLASsyrk_("U", "T", &bn, &bk, &one, U, &bk, &one, F, &bn);
  }
  for (PetscInt j = 0; j < N; j++)
    for (PetscInt i = j + 1; i < N; i++) F[i + N * j] = F[j + N * i];
  PetscCall(PetscFree3(h, P, U));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   The dense reference: Cholesky of F + lambda I (log det, solve), eigenvalues of F
   ------------------------------------------------------------------------------------------------ */
static PetscErrorCode DenseReference(PetscInt N, const PetscReal *F, PetscReal lambda, const PetscReal *g, PetscBool eig, Reference *ref)
{
  PetscReal     *A, *work, wq;
  PetscBLASInt   n = (PetscBLASInt)N, one = 1, info, lw = -1;
  PetscLogDouble t0, t1;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)N * N, &A));
  PetscCall(PetscMalloc2(N, &ref->x, N, &ref->ev));
  PetscCall(PetscTime(&t0));
  PetscCall(PetscArraycpy(A, F, (size_t)N * N));
  for (PetscInt i = 0; i < N; i++) A[i + N * i] += lambda;
  LAPACKpotrf_("L", &n, A, &n, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK potrf of F + lambda I failed (info %d)", (int)info);
  ref->logdet = 0;
  for (PetscInt i = 0; i < N; i++) ref->logdet += 2 * PetscLogReal(A[i + N * i]);
  PetscCall(PetscArraycpy(ref->x, g, N));
  LAPACKpotrs_("L", &n, &one, A, &n, ref->x, &n, &info);
  PetscCall(PetscTime(&t1));
  ref->t_chol = t1 - t0;
  ref->t_eig  = 0;
  if (!eig) {
    PetscCall(PetscFree(A));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscArraycpy(A, F, (size_t)N * N));
  LAPACKsyev_("N", "L", &n, A, &n, ref->ev, &wq, &lw, &info);
  lw = (PetscBLASInt)wq;
  PetscCall(PetscMalloc1(lw, &work));
  LAPACKsyev_("N", "L", &n, A, &n, ref->ev, work, &lw, &info);
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK syev of F failed (info %d)", (int)info);
  PetscCall(PetscTime(&t0));
  ref->t_eig = t0 - t1;
  PetscCall(PetscFree(work));
  PetscCall(PetscFree(A));
  PetscFunctionReturn(0);
}

/* a random permutation of the parameters (-order random) applied to F and g; the identity otherwise */
static PetscErrorCode Reorder(PetscInt N, PetscInt seed, PetscReal *F, PetscReal *g)
{
  PetscInt   *perm;
  PetscReal  *G, *h;
  PetscRandom rnd;

  PetscFunctionBegin;
  PetscCall(PetscMalloc3(N, &perm, (size_t)N * N, &G, N, &h));
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, (unsigned long)(seed + 101)));
  PetscCall(PetscRandomSeed(rnd));
  for (PetscInt i = 0; i < N; i++) perm[i] = i;
  for (PetscInt i = N - 1; i > 0; i--) { /* Fisher-Yates */
    PetscReal u;
    PetscCall(PetscRandomGetValueReal(rnd, &u));
    PetscInt j = PetscMin(i, (PetscInt)(u * (i + 1))), t = perm[i];
    perm[i] = perm[j], perm[j] = t;
  }
  PetscCall(PetscRandomDestroy(&rnd));
  for (PetscInt j = 0; j < N; j++) {
    h[j] = g[perm[j]];
    for (PetscInt i = 0; i < N; i++) G[i + N * j] = F[perm[i] + N * perm[j]];
  }
  PetscCall(PetscArraycpy(F, G, (size_t)N * N));
  PetscCall(PetscArraycpy(g, h, N));
  PetscCall(PetscFree3(perm, G, h));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   The H2 path: MATH2 of F + lambda I from the matrix alone, PCH2ULV, SLEPc
   ------------------------------------------------------------------------------------------------ */
/* a MATH2 compressed from the dense N x N matrix (plus shift on the diagonal), no coordinates */
static PetscErrorCode CompressDense(PetscInt N, const PetscReal *F, PetscReal shift, Mat *H, PetscLogDouble *t)
{
  Mat            D;
  PetscScalar   *a;
  PetscLogDouble t0, t1;

  PetscFunctionBegin;
  PetscCall(MatCreateSeqDense(PETSC_COMM_SELF, N, N, NULL, &D));
  PetscCall(MatDenseGetArrayWrite(D, &a));
  PetscCall(PetscArraycpy(a, F, (size_t)N * N));
  for (PetscInt i = 0; i < N; i++) a[i + N * i] += shift;
  PetscCall(MatDenseRestoreArrayWrite(D, &a));
  PetscCall(MatAssemblyBegin(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(D, MAT_FINAL_ASSEMBLY));
  PetscCall(MatSetOption(D, MAT_SPD, PETSC_TRUE));
  PetscCall(PetscTime(&t0));
  PetscCall(MatConvert(D, MATH2, MAT_INITIAL_MATRIX, H));
  PetscCall(PetscTime(&t1));
  *t = t1 - t0;
  PetscCall(MatDestroy(&D));
  PetscFunctionReturn(0);
}

/* (F + lambda I) x = g with PCH2ULV: as a direct solver (prefix "") or preconditioning FGMRES
   (prefix "pre_"); x, the iterations, the setup time, and log det from the direct one.  A solve
   that fails (a loose tolerance can leave a pivot that is not positive definite) gives its = -1 */
static PetscErrorCode Solve(Mat H, const char *prefix, Vec g, Vec x, PetscInt *its, PetscLogDouble *tsetup, PetscReal *logdet)
{
  KSP            ksp;
  PC             pc;
  PetscBool           direct;
  PetscLogDouble      t0, t1;
  KSPConvergedReason  reason;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(prefix, "", &direct));
  PetscCall(KSPCreate(PETSC_COMM_SELF, &ksp));
  PetscCall(KSPSetOptionsPrefix(ksp, prefix));
  PetscCall(KSPSetOperators(ksp, H, H));
  PetscCall(KSPSetType(ksp, direct ? KSPPREONLY : KSPFGMRES));
  PetscCall(KSPSetTolerances(ksp, 1e-12, 1e-50, PETSC_DEFAULT, 200));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, "h2ulv"));
  PetscCall(KSPSetFromOptions(ksp));
  PetscCall(PetscTime(&t0));
  PetscCall(KSPSetUp(ksp));
  PetscCall(PetscTime(&t1));
  *tsetup = t1 - t0;
  PetscCall(KSPSolve(ksp, g, x));
  PetscCall(KSPGetIterationNumber(ksp, its));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  if (reason < 0) {
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "%s solve failed: %s\n", direct ? "the direct" : "the preconditioned", KSPConvergedReasons[reason]));
    *its = -1;
  } else if (logdet) PetscCall(PCH2ULVGetLogDeterminant(pc, logdet));
  PetscCall(KSPDestroy(&ksp));
  PetscFunctionReturn(0);
}

/* the largest nev eigenvalues of a MATH2 with SLEPc (Krylov-Schur on the products) */
static PetscErrorCode TopEigenvalues(Mat H, PetscInt nev, PetscReal *ev, PetscLogDouble *t)
{
  EPS            eps;
  PetscInt       nconv;
  PetscLogDouble t0, t1;

  PetscFunctionBegin;
  PetscCall(EPSCreate(PETSC_COMM_SELF, &eps));
  PetscCall(EPSSetOperators(eps, H, NULL));
  PetscCall(EPSSetProblemType(eps, EPS_HEP));
  PetscCall(EPSSetWhichEigenpairs(eps, EPS_LARGEST_REAL));
  PetscCall(EPSSetDimensions(eps, nev, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetTolerances(eps, 1e-12, 1000));
  PetscCall(EPSSetOptionsPrefix(eps, "fisher_"));
  PetscCall(EPSSetFromOptions(eps));
  PetscCall(PetscTime(&t0));
  PetscCall(EPSSolve(eps));
  PetscCall(PetscTime(&t1));
  *t = t1 - t0;
  PetscCall(EPSGetConverged(eps, &nconv));
  PetscCheck(nconv >= nev, PETSC_COMM_SELF, PETSC_ERR_NOT_CONVERGED, "SLEPc found %" PetscInt_FMT " of the %" PetscInt_FMT " largest eigenvalues of F", nconv, nev);
  for (PetscInt i = 0; i < nev; i++) PetscCall(EPSGetEigenvalue(eps, i, &ev[i], NULL));
  PetscCall(EPSDestroy(&eps));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------------------------------------------
   main: train, assemble, compare
   ------------------------------------------------------------------------------------------------ */
static PetscErrorCode SetDefault(const char *name, const char *value)
{
  PetscBool set;

  PetscFunctionBegin;
  PetscCall(PetscOptionsHasName(NULL, NULL, name, &set));
  if (!set) PetscCall(PetscOptionsSetValue(NULL, name, value));
  PetscFunctionReturn(0);
}

static PetscReal RelDiff(PetscInt n, const PetscReal *a, const PetscReal *b)
{
  PetscReal d = 0, s = 0;
  for (PetscInt i = 0; i < n; i++) d += (a[i] - b[i]) * (a[i] - b[i]), s += b[i] * b[i];
  return PetscSqrtReal(d / s);
}

/* the -mat_h2_rtol of the run (for the record) */
static PetscReal H2ULVRecordTol_Private(void)
{
  PetscReal t = 1e-10;
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-mat_h2_rtol", &t, NULL));
  return t;
}

/* the H2 results against the reference, printed (and as a RECORD line); the largest relative difference */
static PetscErrorCode Compare(Mat H, PetscReal lambda, PetscInt N, PetscInt nev, const PetscReal *g, const Reference *ref, PetscReal *worst)
{
  Vec                gv, x, xp;
  const PetscScalar *xa;
  PetscInt           its, itp;
  PetscLogDouble     ts, tp, te, mem;
  PetscReal          logdet = 0, ev[64], e_x, e_xp, e_ld, e_ev = -1;

  PetscFunctionBegin;
  PetscCall(VecCreateSeqWithArray(PETSC_COMM_SELF, 1, N, g, &gv));
  PetscCall(VecDuplicate(gv, &x));
  PetscCall(VecDuplicate(gv, &xp));
  PetscCall(Solve(H, "", gv, x, &its, &ts, &logdet));
  PetscCall(Solve(H, "pre_", gv, xp, &itp, &tp, NULL));
  PetscCall(VecGetArrayRead(x, &xa));
  e_x = RelDiff(N, xa, ref->x);
  PetscCall(VecRestoreArrayRead(x, &xa));
  PetscCall(VecGetArrayRead(xp, &xa));
  e_xp = RelDiff(N, xa, ref->x);
  PetscCall(VecRestoreArrayRead(xp, &xa));
  e_ld = PetscAbsReal(logdet - ref->logdet) / PetscAbsReal(ref->logdet);
  if (its < 0) e_x = e_ld = -2; /* failed */
  if (itp < 0) e_xp = -2;
  te = 0;
  if (nev > 0) PetscCall(TopEigenvalues(H, nev, ev, &te)); /* of F + lambda I: those of F shifted by lambda */
  for (PetscInt i = 0; i < nev; i++) ev[i] -= lambda;
  for (PetscInt i = 0; i < nev; i++) e_ev = PetscMax(e_ev, PetscAbsReal(ev[i] - ref->ev[N - 1 - i]) / ref->ev[N - 1]);
  PetscCall(MatH2GetMemory(H, &mem));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "MATH2 of F + lambda I: %.1f MB (dense %.1f MB)\n", mem / 1048576.0, 8.0 * N * N / 1048576.0));
  if (its >= 0) PetscCall(PetscPrintf(PETSC_COMM_SELF, "direct solve (PCH2ULV): setup %.2f s, relative error %.2e; log det %.10g (LAPACK %.10g, relative error %.2e)\n", ts, (double)e_x, (double)logdet, (double)ref->logdet, (double)e_ld));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "FGMRES preconditioned by PCH2ULV (-pre_pc_h2ulv_*): setup %.2f s, %" PetscInt_FMT " iterations, relative error %.2e\n", tp, itp, (double)e_xp));
  if (nev > 0) PetscCall(PetscPrintf(PETSC_COMM_SELF, "top %" PetscInt_FMT " eigenvalues of F (SLEPc on MATH2, %.2f s): largest %.8e, largest relative difference %.2e (of lambda_max)\n", nev, te, (double)ev[0], (double)e_ev));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "LAPACK: Cholesky + solve %.2f s, eigenvalues %.2f s\n", ref->t_chol, ref->t_eig));
  *worst = (its < 0 || itp < 0) ? PETSC_MAX_REAL : PetscMax(PetscMax(e_x, e_ld), PetscMax(e_ev, e_xp));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "RECORD {\"bench\": \"fisher\", \"method\": \"h2ulv\", \"N\": %" PetscInt_FMT ", \"tol\": %g, \"solve_error\": %.3e, \"logdet_error\": %.3e, \"eig_error\": %.3e, \"pre_error\": %.3e, \"pre_its\": %" PetscInt_FMT ", \"mem_bytes\": %.0f, \"factor_s\": %.3f, \"pre_factor_s\": %.3f, \"eig_s\": %.3f, \"dense_chol_s\": %.3f, \"dense_eig_s\": %.3f}\n", N, (double)H2ULVRecordTol_Private(), (double)e_x, (double)e_ld, (double)e_ev, (double)e_xp, itp, mem, ts, tp, te, ref->t_chol, ref->t_eig));
  PetscCall(VecDestroy(&gv));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&xp));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char           path[PETSC_MAX_PATH_LEN], labels[PETSC_MAX_PATH_LEN], order[16] = "natural", dataset[16] = "digits";
  MLP            m;
  PetscInt       epochs = 100, seed = 1, nev = 10, nsamples = PETSC_DECIDE;
  PetscReal      alpha = 1e-3, check = 0, *F, *g, tr = 0, lambda, worst;
  PetscBool      random, digits, fashion, compare = PETSC_FALSE;
  Reference      ref;
  Mat            H;
  PetscLogDouble tc;
  PetscMPIInt    size;

  PetscCall(SlepcInitialize(&argc, &argv, NULL, help));
  PetscCall(H2ULVInitializePackage());
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCheck(size == 1, PETSC_COMM_WORLD, PETSC_ERR_SUP, "fisher_mlp runs on one process");
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "Fisher information of an MLP with MATH2 and PCH2ULV", NULL);
  PetscCall(PetscOptionsString("-dataset", "Training images: digits (scikit-learn) or fashion (Fashion-MNIST)", NULL, dataset, dataset, sizeof(dataset), NULL));
  PetscCall(PetscStrcmp(dataset, "digits", &digits));
  PetscCall(PetscStrcmp(dataset, "fashion", &fashion));
  m.H = fashion ? 4 : 32; /* N = 3190 for Fashion-MNIST's 784 pixels, N = 2410 for the digits' 64 */
  PetscCall(PetscOptionsInt("-nsamples", "Training images used (default: digits all, fashion max(2000, 1.2 N/9))", NULL, nsamples, &nsamples, NULL));
  PetscCall(PetscOptionsInt("-hidden", "Hidden neurons", NULL, m.H, &m.H, NULL));
  PetscCall(PetscOptionsInt("-epochs", "Training epochs", NULL, epochs, &epochs, NULL));
  PetscCall(PetscOptionsInt("-seed", "Seed of the initial weights", NULL, seed, &seed, NULL));
  PetscCall(PetscOptionsString("-order", "Parameter order: natural or random", NULL, order, order, sizeof(order), NULL));
  PetscCall(PetscOptionsReal("-alpha", "Damping lambda = alpha tr(F)/N", NULL, alpha, &alpha, NULL));
  PetscCall(PetscOptionsInt("-nev", "Top eigenvalues compared", NULL, nev, &nev, NULL));
  PetscCall(PetscOptionsBool("-compare", "Also the diagonal, layer-block, K-FAC and rank-k approximations (natural order)", NULL, compare, &compare, NULL));
  PetscCall(PetscOptionsReal("-check", "Largest relative difference allowed (0: no check)", NULL, check, &check, NULL));
  PetscOptionsEnd();
  PetscCheck(digits || fashion, PETSC_COMM_WORLD, PETSC_ERR_ARG_WRONG, "-dataset must be digits or fashion, got %s", dataset);
  PetscCheck(nsamples == PETSC_DECIDE || nsamples >= 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nsamples must be positive, got %" PetscInt_FMT, nsamples);
  PetscCheck(m.H >= 1 && m.H <= 1024, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-hidden must be in 1..1024, got %" PetscInt_FMT, m.H);
  PetscCheck(nev >= 0 && nev <= 64, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-nev must be in 0..64 (0: no eigenvalues), got %" PetscInt_FMT, nev);
  PetscCheck(alpha > 0, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-alpha must be positive, got %g", (double)alpha);
  PetscCall(PetscStrcmp(order, "random", &random));
  PetscCall(SetDefault("-mat_h2_rtol", "1e-10"));
  PetscCall(SetDefault("-pc_h2ulv_rtol", "1e-10"));
  PetscCall(SetDefault("-pre_pc_h2ulv_rtol", "1e-4"));
  PetscCall(SetDefault("-pre_pc_h2ulv_precision", "single"));

  if (fashion) {
    PetscCall(FindFashion(path, labels, sizeof(path)));
    PetscCall(LoadFashion(path, labels, nsamples, &m));
  } else {
    PetscCall(FindDigits(path, sizeof(path)));
    PetscCall(LoadDigits(path, nsamples, &m));
  }
  m.N = m.H * (m.nin + 1) + NOUT * (m.H + 1);
  PetscCall(PetscMalloc4(m.H * m.nin, &m.W1, m.H, &m.b1, NOUT * m.H, &m.W2, NOUT, &m.b2));
  PetscCall(PetscMalloc2((size_t)m.N * m.N, &F, m.N, &g));
  PetscCall(Train(&m, epochs, seed, g));
  if (m.n * (NOUT - 1) < m.N) PetscCall(PetscPrintf(PETSC_COMM_SELF, "note: %" PetscInt_FMT " images give F a rank of at most %" PetscInt_FMT " (C - 1 = %d per image), below N = %" PetscInt_FMT ": the damping alone makes F + lambda I definite\n", m.n, m.n * (NOUT - 1), NOUT - 1, m.N));
  PetscCall(AssembleFisher(&m, F));
  if (random) PetscCall(Reorder(m.N, seed, F, g));
  for (PetscInt i = 0; i < m.N; i++) tr += F[i + m.N * i];
  lambda = alpha * tr / m.N;
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "Fisher F: N = %" PetscInt_FMT ", %" PetscInt_FMT " x %d rows of U, parameters in %s order; lambda = %g tr(F)/N = %.4e\n", m.N, m.n, NOUT, random ? "random" : "the network's", (double)alpha, (double)lambda));
  PetscCall(DenseReference(m.N, F, lambda, g, (PetscBool)(nev > 0), &ref));
  if (nev > 0) PetscCall(PetscPrintf(PETSC_COMM_SELF, "eigenvalues of F: largest %.4e, smallest %.4e; condition number of F + lambda I %.3e\n", (double)ref.ev[m.N - 1], (double)ref.ev[0], (double)((ref.ev[m.N - 1] + lambda) / (ref.ev[0] + lambda))));
  PetscCall(CompressDense(m.N, F, lambda, &H, &tc));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "MatConvert(dense, MATH2) without coordinates: %.2f s\n", tc));
  PetscCall(MatViewFromOptions(H, NULL, "-fisher_view"));
  PetscCall(Compare(H, lambda, m.N, nev, g, &ref, &worst));
  if (compare && !random) {
    PetscLogDouble mem;
    PetscCall(MatH2GetMemory(H, &mem));
    PetscCall(FisherApproximations(&m, F, lambda, g, &ref, mem));
  }
  if (check > 0) PetscCheck(worst <= check, PETSC_COMM_SELF, PETSC_ERR_NOT_CONVERGED, "the H2 results differ from dense LAPACK by %.3e relative, more than -check %g", (double)worst, (double)check);
  PetscCall(MatDestroy(&H));
  PetscCall(PetscFree2(ref.x, ref.ev));
  PetscCall(PetscFree2(F, g));
  PetscCall(PetscFree4(m.W1, m.b1, m.W2, m.b2));
  PetscCall(PetscFree2(m.x, m.y));
  PetscCall(SlepcFinalize());
  return 0;
}
