// The CUDA backend of the batched dense operations (backend.hpp): cuBLAS / cuSOLVER batched
// routines over groups of items with one shape, small kernels for copies and diagonals.
//
// Layout of one batched call:
//  1. wait for the backend's stream (the host staging buffer and the device workspaces of the
//     previous call are then free to reuse);
//  2. group the items by shape (gemm: ta, tb, m, n, k, lda, ldb, ldc; trsm: m, n, lda, ldb;
//     potrf/getrf: n, lda; getrs: n, nrhs, lda, ldb); items with a zero dimension are skipped
//     (gemm with k = 0 scales C by beta, as BLAS and the host backend do);
//  3. pack the pointer arrays / kernel descriptors of all groups into one host buffer, upload it
//     with one copy into a reusable device workspace;
//  4. one cuBLAS / cuSOLVER call per group (chunks of at most 65535 items); a group of one item,
//     and factorizations of blocks above kFactorBatchMaxN, use the non-batched routines.
// Everything runs on one stream; upload()/download() and the info arrays synchronize with it.
//
// This file includes no PETSc header (PETSc's pkg-config Cflags are not for nvcc).
#include "backend.hpp"

#include "../dense.hpp" // Error, ERR_*

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>
#include <mma.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace h2ulv {

namespace {

// ------------------------------------------------------------------------------ error checks

std::string callName(const char *expr)
{
  std::string s(expr);
  const size_t p = s.find('(');
  return p == std::string::npos ? s : s.substr(0, p);
}

const char *cusolverStatusName(cusolverStatus_t s)
{
  switch (s) {
  case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
  case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
  case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
  case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
  case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
  case CUSOLVER_STATUS_MAPPING_ERROR: return "CUSOLVER_STATUS_MAPPING_ERROR";
  case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
  case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
  case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
  case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
  case CUSOLVER_STATUS_INVALID_WORKSPACE: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
  default: return "cusolverStatus_t";
  }
}

void check(cudaError_t e, const char *expr)
{
  if (e != cudaSuccess) throw Error(ERR_LIB, callName(expr) + " failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char *expr)
{
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(ERR_LIB, callName(expr) + " failed: " + cublasGetStatusName(s) + " (" + std::to_string(static_cast<int>(s)) + "): " + cublasGetStatusString(s));
}
void check(cusolverStatus_t s, const char *expr)
{
  if (s != CUSOLVER_STATUS_SUCCESS) throw Error(ERR_LIB, callName(expr) + " failed: " + cusolverStatusName(s) + " (" + std::to_string(static_cast<int>(s)) + ")");
}
#define H2CK(expr) check((expr), #expr)

// ------------------------------------------------------------------------------ type dispatch

inline cublasStatus_t xgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const double *alpha, const double *A, int lda, const double *B, int ldb, const double *beta, double *C, int ldc)
{
  return cublasDgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline cublasStatus_t xgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc)
{
  return cublasSgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline cublasStatus_t xgemmBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const double *alpha, const double *const A[], int lda, const double *const B[], int ldb, const double *beta, double *const C[], int ldc, int count)
{
  return cublasDgemmBatched(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, count);
}
inline cublasStatus_t xgemmBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha, const float *const A[], int lda, const float *const B[], int ldb, const float *beta, float *const C[], int ldc, int count)
{
  return cublasSgemmBatched(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, count);
}
inline cublasStatus_t xtrsm(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t tr, cublasDiagType_t diag, int m, int n, const double *alpha, const double *A, int lda, double *B, int ldb)
{
  return cublasDtrsm(h, CUBLAS_SIDE_LEFT, uplo, tr, diag, m, n, alpha, A, lda, B, ldb);
}
inline cublasStatus_t xtrsm(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t tr, cublasDiagType_t diag, int m, int n, const float *alpha, const float *A, int lda, float *B, int ldb)
{
  return cublasStrsm(h, CUBLAS_SIDE_LEFT, uplo, tr, diag, m, n, alpha, A, lda, B, ldb);
}
inline cublasStatus_t xtrsmBatched(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t tr, cublasDiagType_t diag, int m, int n, const double *alpha, const double *const A[], int lda, double *const B[], int ldb, int count)
{
  return cublasDtrsmBatched(h, CUBLAS_SIDE_LEFT, uplo, tr, diag, m, n, alpha, A, lda, B, ldb, count);
}
inline cublasStatus_t xtrsmBatched(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t tr, cublasDiagType_t diag, int m, int n, const float *alpha, const float *const A[], int lda, float *const B[], int ldb, int count)
{
  return cublasStrsmBatched(h, CUBLAS_SIDE_LEFT, uplo, tr, diag, m, n, alpha, A, lda, B, ldb, count);
}
inline cublasStatus_t xgetrfBatched(cublasHandle_t h, int n, double *const A[], int lda, int *P, int *info, int count) { return cublasDgetrfBatched(h, n, A, lda, P, info, count); }
inline cublasStatus_t xgetrfBatched(cublasHandle_t h, int n, float *const A[], int lda, int *P, int *info, int count) { return cublasSgetrfBatched(h, n, A, lda, P, info, count); }
inline cublasStatus_t xgetrsBatched(cublasHandle_t h, cublasOperation_t tr, int n, int nrhs, const double *const A[], int lda, const int *P, double *const B[], int ldb, int *info, int count)
{
  return cublasDgetrsBatched(h, tr, n, nrhs, A, lda, P, B, ldb, info, count);
}
inline cublasStatus_t xgetrsBatched(cublasHandle_t h, cublasOperation_t tr, int n, int nrhs, const float *const A[], int lda, const int *P, float *const B[], int ldb, int *info, int count)
{
  return cublasSgetrsBatched(h, tr, n, nrhs, A, lda, P, B, ldb, info, count);
}
inline cusolverStatus_t xpotrfBatched(cusolverDnHandle_t h, int n, double *A[], int lda, int *info, int count) { return cusolverDnDpotrfBatched(h, CUBLAS_FILL_MODE_LOWER, n, A, lda, info, count); }
inline cusolverStatus_t xpotrfBatched(cusolverDnHandle_t h, int n, float *A[], int lda, int *info, int count) { return cusolverDnSpotrfBatched(h, CUBLAS_FILL_MODE_LOWER, n, A, lda, info, count); }
inline cusolverStatus_t xpotrfBufferSize(cusolverDnHandle_t h, int n, double *A, int lda, int *lwork) { return cusolverDnDpotrf_bufferSize(h, CUBLAS_FILL_MODE_LOWER, n, A, lda, lwork); }
inline cusolverStatus_t xpotrfBufferSize(cusolverDnHandle_t h, int n, float *A, int lda, int *lwork) { return cusolverDnSpotrf_bufferSize(h, CUBLAS_FILL_MODE_LOWER, n, A, lda, lwork); }
inline cusolverStatus_t xpotrf(cusolverDnHandle_t h, int n, double *A, int lda, double *work, int lwork, int *info) { return cusolverDnDpotrf(h, CUBLAS_FILL_MODE_LOWER, n, A, lda, work, lwork, info); }
inline cusolverStatus_t xpotrf(cusolverDnHandle_t h, int n, float *A, int lda, float *work, int lwork, int *info) { return cusolverDnSpotrf(h, CUBLAS_FILL_MODE_LOWER, n, A, lda, work, lwork, info); }
inline cusolverStatus_t xgetrfBufferSize(cusolverDnHandle_t h, int n, double *A, int lda, int *lwork) { return cusolverDnDgetrf_bufferSize(h, n, n, A, lda, lwork); }
inline cusolverStatus_t xgetrfBufferSize(cusolverDnHandle_t h, int n, float *A, int lda, int *lwork) { return cusolverDnSgetrf_bufferSize(h, n, n, A, lda, lwork); }
inline cusolverStatus_t xgetrf(cusolverDnHandle_t h, int n, double *A, int lda, double *work, int *ipiv, int *info) { return cusolverDnDgetrf(h, n, n, A, lda, work, ipiv, info); }
inline cusolverStatus_t xgetrf(cusolverDnHandle_t h, int n, float *A, int lda, float *work, int *ipiv, int *info) { return cusolverDnSgetrf(h, n, n, A, lda, work, ipiv, info); }
inline cusolverStatus_t xgetrs(cusolverDnHandle_t h, cublasOperation_t tr, int n, int nrhs, const double *A, int lda, const int *ipiv, double *B, int ldb, int *info)
{
  return cusolverDnDgetrs(h, tr, n, nrhs, A, lda, ipiv, B, ldb, info);
}
inline cusolverStatus_t xgetrs(cusolverDnHandle_t h, cublasOperation_t tr, int n, int nrhs, const float *A, int lda, const int *ipiv, float *B, int ldb, int *info)
{
  return cusolverDnSgetrs(h, tr, n, nrhs, A, lda, ipiv, B, ldb, info);
}

cublasOperation_t op(char t)
{
  return (t == 'T' || t == 't' || t == 'C' || t == 'c') ? CUBLAS_OP_T : CUBLAS_OP_N;
}

// ------------------------------------------------------------------------------ kernels

constexpr int kThreads = 256;

template <typename T>
struct CopyDesc {
  const T *A;
  T *B;
  int m, n, lda, ldb, trans;
};
struct IntCopyDesc {
  const int *src;
  int *dst;
  int n;
};
template <typename T>
struct DiagDesc {
  const T *A;
  long long off;
  int n, lda;
};
template <typename T>
struct TriDesc { // the strictly upper triangle of A (n x n) <-> packed storage at save
  T *A;
  T *save;
  int n, lda;
};

// B <- alpha op(A), one item per blockIdx.x, the item's elements spread over blockIdx.y and the
// threads.  blas: alpha == 0 writes exact zeros (BLAS's beta = 0), otherwise alpha * A as is.
template <typename T>
__global__ void copyKernel(const CopyDesc<T> *d, T alpha, int blas)
{
  const CopyDesc<T> c = d[blockIdx.x];
  const long long total = static_cast<long long>(c.m) * c.n;
  const long long stride = static_cast<long long>(gridDim.y) * blockDim.x;
  for (long long e = static_cast<long long>(blockIdx.y) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const long long t = e % c.m, j = e / c.m;
    const T v = c.trans ? c.A[j + t * c.lda] : c.A[t + j * c.lda];
    c.B[t + j * c.ldb] = (blas && alpha == T(0)) ? T(0) : alpha * v;
  }
}

__global__ void intCopyKernel(const IntCopyDesc *d)
{
  const IntCopyDesc c = d[blockIdx.x];
  for (int e = threadIdx.x; e < c.n; e += blockDim.x) c.dst[e] = c.src[e];
}

template <typename T>
__global__ void diagKernel(const DiagDesc<T> *d, double *out)
{
  const DiagDesc<T> c = d[blockIdx.x];
  for (long long t = static_cast<long long>(blockIdx.y) * blockDim.x + threadIdx.x; t < c.n; t += static_cast<long long>(gridDim.y) * blockDim.x)
    out[c.off + t] = static_cast<double>(c.A[t + t * c.lda]);
}

// packed strictly upper triangle, column by column: column j (1 <= j < n) holds rows 0..j-1 and
// starts at j (j - 1) / 2
template <typename T>
__global__ void triKernel(const TriDesc<T> *d, int restore)
{
  const TriDesc<T> c = d[blockIdx.x];
  const long long total = static_cast<long long>(c.n) * (c.n - 1) / 2;
  const long long stride = static_cast<long long>(gridDim.y) * blockDim.x;
  for (long long e = static_cast<long long>(blockIdx.y) * blockDim.x + threadIdx.x; e < total; e += stride) {
    long long j = static_cast<long long>((1.0 + sqrt(1.0 + 8.0 * static_cast<double>(e))) / 2.0);
    while (j * (j - 1) / 2 > e) j--;
    while ((j + 1) * j / 2 <= e) j++;
    const long long i = e - j * (j - 1) / 2;
    T *a = c.A + i + j * c.lda;
    if (restore) *a = c.save[e];
    else c.save[e] = *a;
  }
}

// ---- corrected TF32 GEMM (tensor.hpp): C <- alpha op(A) op(B) + beta C in FP32 accuracy
// One warp per 16 x 16 tile of C.  Per step of kTensorChunk along k the warp stages its 16 x 8 slice
// of op(A) and 8 x 16 slice of op(B) in shared memory, split into TF32 hi and lo parts (zero beyond
// the edges), then issues three mma: hi*hi into a fresh accumulator that is added, rounded to nearest,
// to the FP32 sum kept in registers, and lo*hi and hi*lo into the corrections' accumulator.
struct TensorGemmDesc {
  const float *A, *B;
  float *C;
  int m, n, k, lda, ldb, ldc, ta, tb;
};
constexpr int kTensorWarps = 4; // warps (tiles) per block
static_assert(kTensorChunk == 8, "the corrected kernel issues m16n16k8 TF32 mma steps");

__global__ void tensorGemmCorrectedKernel(const TensorGemmDesc *d, float alpha, float beta)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  __shared__ float sh[kTensorWarps][4 * 128 + 256]; // A hi, A lo (16 x 8), B hi, B lo (8 x 16), C (16 x 16)
  const TensorGemmDesc g = d[blockIdx.x];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float *ahi = sh[warp], *alo = ahi + 128, *bhi = alo + 128, *blo = bhi + 128, *cs = blo + 128;
  const int tm = (g.m + 15) / 16, tiles = tm * ((g.n + 15) / 16);
  for (int t = blockIdx.y * kTensorWarps + warp; t < tiles; t += gridDim.y * kTensorWarps) {
    const int i0 = (t % tm) * 16, j0 = (t / tm) * 16;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> sum, corr, step;
    wmma::fill_fragment(sum, 0.0f);
    wmma::fill_fragment(corr, 0.0f);
    for (int p0 = 0; p0 < g.k; p0 += 8) {
      for (int e = lane; e < 128; e += 32) {
        const int ar = e % 16, ac = e / 16, br = e % 8, bc = e / 8;
        const int i = i0 + ar, pa = p0 + ac, pb = p0 + br, j = j0 + bc;
        const float av = (i < g.m && pa < g.k) ? (g.ta ? g.A[pa + static_cast<long long>(i) * g.lda] : g.A[i + static_cast<long long>(pa) * g.lda]) : 0.0f;
        const float bv = (pb < g.k && j < g.n) ? (g.tb ? g.B[j + static_cast<long long>(pb) * g.ldb] : g.B[pb + static_cast<long long>(j) * g.ldb]) : 0.0f;
        tf32Split(av, ahi[e], alo[e]);
        tf32Split(bv, bhi[e], blo[e]);
      }
      __syncwarp();
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fah, fal;
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fbh, fbl;
      wmma::load_matrix_sync(fah, ahi, 16);
      wmma::load_matrix_sync(fal, alo, 16);
      wmma::load_matrix_sync(fbh, bhi, 8);
      wmma::load_matrix_sync(fbl, blo, 8);
      // the staged values are TF32 already: the conversions the API asks for change nothing
      for (int q = 0; q < fah.num_elements; q++) fah.x[q] = wmma::__float_to_tf32(fah.x[q]), fal.x[q] = wmma::__float_to_tf32(fal.x[q]);
      for (int q = 0; q < fbh.num_elements; q++) fbh.x[q] = wmma::__float_to_tf32(fbh.x[q]), fbl.x[q] = wmma::__float_to_tf32(fbl.x[q]);
      wmma::fill_fragment(step, 0.0f);
      wmma::mma_sync(step, fah, fbh, step);
      for (int q = 0; q < sum.num_elements; q++) sum.x[q] = __fadd_rn(sum.x[q], step.x[q]);
      wmma::mma_sync(corr, fal, fbh, corr);
      wmma::mma_sync(corr, fah, fbl, corr);
      __syncwarp();
    }
    for (int q = 0; q < sum.num_elements; q++) sum.x[q] = __fadd_rn(sum.x[q], corr.x[q]);
    wmma::store_matrix_sync(cs, sum, 16, wmma::mem_col_major);
    __syncwarp();
    for (int e = lane; e < 256; e += 32) {
      const int i = i0 + e % 16, j = j0 + e / 16;
      if (i >= g.m || j >= g.n) continue;
      float &c = g.C[i + static_cast<long long>(j) * g.ldc];
      c = beta == 0.0f ? alpha * cs[e] : alpha * cs[e] + beta * c;
    }
    __syncwarp();
  }
#endif
}

// blocks along y for items of at most maxElems elements: about 4 elements per thread, at most 1024,
// and at most ~4M blocks in all
unsigned chunksFor(long long maxElems, size_t items)
{
  long long c = (maxElems + 4LL * kThreads - 1) / (4LL * kThreads);
  const long long cap = std::max<long long>(1, (1LL << 22) / static_cast<long long>(std::max<size_t>(items, 1)));
  c = std::min<long long>(std::min<long long>(c, cap), 1024);
  return static_cast<unsigned>(std::max<long long>(c, 1));
}

// ------------------------------------------------------------------------------ helpers

// A host staging buffer of descriptors / pointer arrays, uploaded with one copy.
class Stager {
public:
  void clear() { buf_.clear(); }
  template <typename X>
  size_t add(const X *p, size_t n)
  {
    const size_t off = (buf_.size() + 15) / 16 * 16;
    buf_.resize(off + n * sizeof(X));
    if (n) std::memcpy(buf_.data() + off, p, n * sizeof(X));
    return off;
  }
  size_t size() const { return buf_.size(); }
  const unsigned char *data() const { return buf_.data(); }

private:
  std::vector<unsigned char> buf_;
};

constexpr int kMaxBatch = 65535;      // items per cuBLAS/cuSOLVER batched call
constexpr int kFactorBatchMaxN = 256; // larger pivot blocks: one cuSOLVER call per block
constexpr size_t kTriSaveMax = size_t(1) << 24; // elements of the potrfBatched triangle save area

struct DeviceInfo {
  bool ok = false;
  std::string why;
};

const DeviceInfo &deviceInfo()
{
  static const DeviceInfo info = [] {
    DeviceInfo d;
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      d.why = std::string("no CUDA device: ") + cudaGetErrorString(e);
      (void)cudaGetLastError(); // clear the (non-sticky) error
    } else if (count <= 0) d.why = "no CUDA device: cudaGetDeviceCount found none";
    else d.ok = true;
    return d;
  }();
  return info;
}

// ------------------------------------------------------------------------------ the backend

template <typename T>
class CudaBackend final : public Backend<T> {
public:
  explicit CudaBackend(const BackendRequest &req)
  {
    try {
      H2CK(cudaGetDevice(&dev_));
      cudaDeviceProp prop;
      H2CK(cudaGetDeviceProperties(&prop, dev_));
      std::ostringstream os;
      os.setf(std::ios::fixed);
      os.precision(1);
      os << "cuda (" << prop.name << ", sm_" << prop.major << prop.minor << ", " << static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0) << " GiB";
      tensor_ = std::is_same<T, float>::value ? req.tensor : TensorMode::Off;
      if (tensor_ != TensorMode::Off) os << ", " << tensorModeName(tensor_) << " GEMMs";
      os << ")";
      desc_ = os.str();
      // a device this library has no kernel image for (CUDA_ARCHITECTURES) fails here, cleanly
      cudaFuncAttributes fa;
      H2CK(cudaFuncGetAttributes(&fa, copyKernel<T>));
      H2CK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      H2CK(cublasCreate(&blas_));
      H2CK(cublasSetStream(blas_, stream_));
      H2CK(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST));
      H2CK(cusolverDnCreate(&solver_));
      H2CK(cusolverDnSetStream(solver_, stream_));
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~CudaBackend() override { destroy(); }
  CudaBackend(const CudaBackend &) = delete;
  CudaBackend &operator=(const CudaBackend &) = delete;

  BackendKind kind() const override { return BackendKind::Cuda; }
  std::string describe() const override { return desc_; }

  T *alloc(size_t n) override { return static_cast<T *>(rawAlloc(n * sizeof(T))); }
  void release(T *p) override { rawFree(p); }
  int *allocInt(size_t n) override { return static_cast<int *>(rawAlloc(n * sizeof(int))); }
  void releaseInt(int *p) override { rawFree(p); }
  void synchronize() override { H2CK(cudaStreamSynchronize(stream_)); }
  void upload(T *dst, const T *src, size_t n) override
  {
    if (!n) return;
    H2CK(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyHostToDevice, stream_));
    H2CK(cudaStreamSynchronize(stream_));
  }
  void download(T *dst, const T *src, size_t n) override
  {
    if (!n) return;
    H2CK(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToHost, stream_));
    H2CK(cudaStreamSynchronize(stream_));
  }
  void downloadInt(int *dst, const int *src, size_t n) override
  {
    if (!n) return;
    H2CK(cudaMemcpyAsync(dst, src, n * sizeof(int), cudaMemcpyDeviceToHost, stream_));
    H2CK(cudaStreamSynchronize(stream_));
  }

  // ---------------------------------------------------------------- gemm
  void gemm(T alpha, T beta, const std::vector<GemmItem<T>> &items) override
  {
    if constexpr (std::is_same<T, float>::value)
      if (tensor_ == TensorMode::Corrected) return correctedGemm(alpha, beta, items);
    std::vector<size_t> idx, scale;
    for (size_t i = 0; i < items.size(); i++) {
      const auto &g = items[i];
      if (g.m <= 0 || g.n <= 0) continue;
      if (g.k <= 0) scale.push_back(i); // C <- beta C
      else idx.push_back(i);
    }
    if (idx.empty() && scale.empty()) return;
    auto key = [&](size_t i) {
      const auto &g = items[i];
      return std::make_tuple(op(g.ta), op(g.tb), g.m, g.n, g.k, g.lda, g.ldb, g.ldc);
    };
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
    const auto runs = makeRuns(idx, [&](size_t a, size_t b) { return key(a) == key(b); });

    begin();
    std::vector<size_t> off(runs.size(), 0);
    std::vector<void *> ptr;
    for (size_t r = 0; r < runs.size(); r++) {
      const size_t cnt = runs[r].second - runs[r].first;
      if (cnt < 2) continue;
      ptr.assign(3 * cnt, nullptr);
      for (size_t j = 0; j < cnt; j++) {
        const auto &g = items[idx[runs[r].first + j]];
        ptr[j] = const_cast<T *>(g.A), ptr[cnt + j] = const_cast<T *>(g.B), ptr[2 * cnt + j] = g.C;
      }
      off[r] = stage_.add(ptr.data(), ptr.size());
    }
    size_t scaleOff = 0;
    long long scaleMax = 0;
    if (!scale.empty()) {
      std::vector<CopyDesc<T>> cd;
      for (size_t i : scale) {
        const auto &g = items[i];
        cd.push_back({g.C, g.C, g.m, g.n, g.ldc, g.ldc, 0});
        scaleMax = std::max(scaleMax, static_cast<long long>(g.m) * g.n);
      }
      scaleOff = stage_.add(cd.data(), cd.size());
    }
    unsigned char *dws = uploadStage();

    // TF32 tensor-core kernels read 16-byte vectors: cuBLAS checks the pointers of a single GEMM
    // itself, but cannot see those of a batch (they are in device memory) and faults on a
    // misaligned one ("misaligned address"), so a batch gets TF32 only when every pointer and
    // every column start of its items is 16-byte aligned.
    auto aligned16 = [&](size_t r) {
      const auto &g0 = items[idx[runs[r].first]];
      if ((g0.lda * sizeof(T)) % 16 || (g0.ldb * sizeof(T)) % 16 || (g0.ldc * sizeof(T)) % 16) return false;
      for (size_t j = runs[r].first; j < runs[r].second; j++) {
        const auto &g = items[idx[j]];
        if ((reinterpret_cast<uintptr_t>(g.A) | reinterpret_cast<uintptr_t>(g.B) | reinterpret_cast<uintptr_t>(g.C)) % 16) return false;
      }
      return true;
    };
    bool tensorMath = false;
    auto setMath = [&](bool on) {
      if (on != tensorMath) H2CK(cublasSetMathMode(blas_, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
      tensorMath = on;
    };
    try {
      for (size_t r = 0; r < runs.size(); r++) {
        const size_t cnt = runs[r].second - runs[r].first;
        const auto &g = items[idx[runs[r].first]];
        if (cnt == 1) {
          setMath(tensor_ == TensorMode::Plain);
          H2CK(xgemm(blas_, op(g.ta), op(g.tb), g.m, g.n, g.k, &alpha, g.A, g.lda, g.B, g.ldb, &beta, g.C, g.ldc));
          continue;
        }
        setMath(tensor_ == TensorMode::Plain && aligned16(r));
        void *const *p = reinterpret_cast<void *const *>(dws + off[r]);
        for (size_t c0 = 0; c0 < cnt; c0 += kMaxBatch) {
          const int c = static_cast<int>(std::min<size_t>(kMaxBatch, cnt - c0));
          H2CK(xgemmBatched(blas_, op(g.ta), op(g.tb), g.m, g.n, g.k, &alpha, reinterpret_cast<const T *const *>(p + c0), g.lda, reinterpret_cast<const T *const *>(p + cnt + c0), g.ldb, &beta,
                            reinterpret_cast<T *const *>(p + 2 * cnt + c0), g.ldc, c));
        }
      }
    } catch (...) {
      if (tensorMath) (void)cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH);
      throw;
    }
    setMath(false);
    if (!scale.empty()) launchCopy(reinterpret_cast<const CopyDesc<T> *>(dws + scaleOff), scale.size(), scaleMax, beta, 1);
  }

  // corrected TF32 (tensorGemmCorrectedKernel): one launch per call, an item per blockIdx.x
  void correctedGemm(float alpha, float beta, const std::vector<GemmItem<float>> &items)
  {
    std::vector<TensorGemmDesc> td;
    std::vector<CopyDesc<float>> scale;
    long long tilesMax = 0, scaleMax = 0;
    for (const auto &g : items) {
      if (g.m <= 0 || g.n <= 0) continue;
      if (g.k <= 0) { // C <- beta C
        scale.push_back({g.C, g.C, g.m, g.n, g.ldc, g.ldc, 0});
        scaleMax = std::max(scaleMax, static_cast<long long>(g.m) * g.n);
        continue;
      }
      td.push_back({g.A, g.B, g.C, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, op(g.ta) == CUBLAS_OP_T, op(g.tb) == CUBLAS_OP_T});
      tilesMax = std::max(tilesMax, static_cast<long long>((g.m + 15) / 16) * ((g.n + 15) / 16));
    }
    if (td.empty() && scale.empty()) return;
    begin();
    const size_t tdOff = td.empty() ? 0 : stage_.add(td.data(), td.size());
    const size_t scOff = scale.empty() ? 0 : stage_.add(scale.data(), scale.size());
    unsigned char *dws = uploadStage();
    if (!td.empty()) {
      const unsigned gy = static_cast<unsigned>(std::min<long long>((tilesMax + kTensorWarps - 1) / kTensorWarps, 1024));
      for (size_t c0 = 0; c0 < td.size(); c0 += static_cast<size_t>(INT_MAX)) {
        const unsigned c = static_cast<unsigned>(std::min<size_t>(INT_MAX, td.size() - c0));
        tensorGemmCorrectedKernel<<<dim3(c, gy), 32 * kTensorWarps, 0, stream_>>>(reinterpret_cast<const TensorGemmDesc *>(dws + tdOff) + c0, alpha, beta);
        H2CK(cudaGetLastError());
      }
    }
    if (!scale.empty()) launchCopy(reinterpret_cast<const CopyDesc<float> *>(dws + scOff), scale.size(), scaleMax, beta, 1);
  }

  // ---------------------------------------------------------------- trsm (left side)
  void trsm(char uplo, char trans, char diag, T alpha, const std::vector<TrsmItem<T>> &items) override
  {
    std::vector<size_t> idx;
    for (size_t i = 0; i < items.size(); i++)
      if (items[i].m > 0 && items[i].n > 0) idx.push_back(i);
    if (idx.empty()) return;
    auto key = [&](size_t i) {
      const auto &t = items[i];
      return std::make_tuple(t.m, t.n, t.lda, t.ldb);
    };
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
    const auto runs = makeRuns(idx, [&](size_t a, size_t b) { return key(a) == key(b); });
    const cublasFillMode_t fill = (uplo == 'U' || uplo == 'u') ? CUBLAS_FILL_MODE_UPPER : CUBLAS_FILL_MODE_LOWER;
    const cublasDiagType_t dg = (diag == 'U' || diag == 'u') ? CUBLAS_DIAG_UNIT : CUBLAS_DIAG_NON_UNIT;

    begin();
    std::vector<size_t> off(runs.size(), 0);
    std::vector<void *> ptr;
    for (size_t r = 0; r < runs.size(); r++) {
      const size_t cnt = runs[r].second - runs[r].first;
      if (cnt < 2) continue;
      ptr.assign(2 * cnt, nullptr);
      for (size_t j = 0; j < cnt; j++) {
        const auto &t = items[idx[runs[r].first + j]];
        ptr[j] = const_cast<T *>(t.A), ptr[cnt + j] = t.B;
      }
      off[r] = stage_.add(ptr.data(), ptr.size());
    }
    unsigned char *dws = uploadStage();
    for (size_t r = 0; r < runs.size(); r++) {
      const size_t cnt = runs[r].second - runs[r].first;
      const auto &t = items[idx[runs[r].first]];
      if (cnt == 1) {
        H2CK(xtrsm(blas_, fill, op(trans), dg, t.m, t.n, &alpha, t.A, t.lda, t.B, t.ldb));
        continue;
      }
      void *const *p = reinterpret_cast<void *const *>(dws + off[r]);
      for (size_t c0 = 0; c0 < cnt; c0 += kMaxBatch) {
        const int c = static_cast<int>(std::min<size_t>(kMaxBatch, cnt - c0));
        H2CK(xtrsmBatched(blas_, fill, op(trans), dg, t.m, t.n, &alpha, reinterpret_cast<const T *const *>(p + c0), t.lda, reinterpret_cast<T *const *>(p + cnt + c0), t.ldb, c));
      }
    }
  }

  // ---------------------------------------------------------------- potrf (lower)
  void potrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) override { factor(items, info, false); }
  // ---------------------------------------------------------------- getrf (partial pivoting)
  void getrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) override { factor(items, info, true); }

  // ---------------------------------------------------------------- getrs
  void getrs(char trans, const std::vector<LuSolveItem<T>> &items) override
  {
    std::vector<size_t> idx;
    for (size_t i = 0; i < items.size(); i++)
      if (items[i].n > 0 && items[i].nrhs > 0) idx.push_back(i);
    if (idx.empty()) return;
    auto key = [&](size_t i) {
      const auto &s = items[i];
      return std::make_tuple(s.n, s.nrhs, s.lda, s.ldb);
    };
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
    const auto runs = makeRuns(idx, [&](size_t a, size_t b) { return key(a) == key(b); });
    const cublasOperation_t tr = op(trans);

    // batched runs whose pivots are not one contiguous array are gathered into pivWs_
    size_t pivNeed = 0;
    std::vector<char> batched(runs.size(), 0), contiguous(runs.size(), 0);
    for (size_t r = 0; r < runs.size(); r++) {
      const size_t cnt = runs[r].second - runs[r].first;
      const int n = items[idx[runs[r].first]].n;
      batched[r] = cnt >= 2 && n <= kFactorBatchMaxN;
      if (!batched[r]) continue;
      contiguous[r] = isContiguous(cnt, n, [&](size_t j) { return items[idx[runs[r].first + j]].ipiv; });
      if (!contiguous[r]) pivNeed += cnt * static_cast<size_t>(n);
    }

    begin();
    grow(pivWs_, pivCap_, pivNeed * sizeof(int));
    grow(infoWs_, infoCap_, sizeof(int));
    std::vector<size_t> off(runs.size(), 0), gatherOff(runs.size(), 0);
    std::vector<size_t> pivBase(runs.size(), 0);
    std::vector<void *> ptr;
    std::vector<IntCopyDesc> gd;
    size_t pivPos = 0;
    for (size_t r = 0; r < runs.size(); r++) {
      if (!batched[r]) continue;
      const size_t cnt = runs[r].second - runs[r].first;
      const int n = items[idx[runs[r].first]].n;
      ptr.assign(2 * cnt, nullptr);
      for (size_t j = 0; j < cnt; j++) {
        const auto &s = items[idx[runs[r].first + j]];
        ptr[j] = const_cast<T *>(s.A), ptr[cnt + j] = s.B;
      }
      off[r] = stage_.add(ptr.data(), ptr.size());
      if (!contiguous[r]) {
        pivBase[r] = pivPos;
        gd.clear();
        for (size_t j = 0; j < cnt; j++) gd.push_back({items[idx[runs[r].first + j]].ipiv, static_cast<int *>(pivWs_) + pivPos + j * n, n});
        gatherOff[r] = stage_.add(gd.data(), gd.size());
        pivPos += cnt * static_cast<size_t>(n);
      }
    }
    unsigned char *dws = uploadStage();
    int *devInfo = static_cast<int *>(infoWs_);
    for (size_t r = 0; r < runs.size(); r++) {
      const size_t cnt = runs[r].second - runs[r].first;
      if (!batched[r]) { // one cuSOLVER call per item
        for (size_t j = 0; j < cnt; j++) {
          const auto &s = items[idx[runs[r].first + j]];
          H2CK(xgetrs(solver_, tr, s.n, s.nrhs, s.A, s.lda, s.ipiv, s.B, s.ldb, devInfo));
        }
        continue;
      }
      const auto &s = items[idx[runs[r].first]];
      const int *piv = s.ipiv;
      if (!contiguous[r]) {
        launchIntCopy(reinterpret_cast<const IntCopyDesc *>(dws + gatherOff[r]), cnt);
        piv = static_cast<const int *>(pivWs_) + pivBase[r];
      }
      void *const *p = reinterpret_cast<void *const *>(dws + off[r]);
      for (size_t c0 = 0; c0 < cnt; c0 += kMaxBatch) {
        const int c = static_cast<int>(std::min<size_t>(kMaxBatch, cnt - c0));
        int hinfo = 0; // host: argument check only
        H2CK(xgetrsBatched(blas_, tr, s.n, s.nrhs, reinterpret_cast<const T *const *>(p + c0), s.lda, piv + c0 * s.n, reinterpret_cast<T *const *>(p + cnt + c0), s.ldb, &hinfo, c));
        if (hinfo != 0) throw Error(ERR_LIB, "cublasXgetrsBatched: invalid argument " + std::to_string(-hinfo));
      }
    }
  }

  // ---------------------------------------------------------------- copy
  void copy(T alpha, const std::vector<CopyItem<T>> &items) override
  {
    std::vector<CopyDesc<T>> cd;
    long long maxElems = 0;
    for (const auto &c : items) {
      if (c.m <= 0 || c.n <= 0) continue;
      cd.push_back({c.A, c.B, c.m, c.n, c.lda, c.ldb, (c.trans == 'T' || c.trans == 't' || c.trans == 'C' || c.trans == 'c') ? 1 : 0});
      maxElems = std::max(maxElems, static_cast<long long>(c.m) * c.n);
    }
    if (cd.empty()) return;
    begin();
    const size_t o = stage_.add(cd.data(), cd.size());
    unsigned char *dws = uploadStage();
    launchCopy(reinterpret_cast<const CopyDesc<T> *>(dws + o), cd.size(), maxElems, alpha, 0);
  }

  // ---------------------------------------------------------------- diagonals
  void diagonals(const std::vector<FactorItem<T>> &items, std::vector<double> &out) override
  {
    out.clear();
    std::vector<DiagDesc<T>> dd;
    long long total = 0, maxN = 0;
    for (const auto &f : items) {
      if (f.n <= 0) continue;
      dd.push_back({f.A, total, f.n, f.lda});
      total += f.n;
      maxN = std::max<long long>(maxN, f.n);
    }
    if (dd.empty()) return;
    begin();
    grow(diagWs_, diagCap_, static_cast<size_t>(total) * sizeof(double));
    const size_t o = stage_.add(dd.data(), dd.size());
    unsigned char *dws = uploadStage();
    const dim3 grid(static_cast<unsigned>(dd.size()), chunksFor(maxN, dd.size()));
    diagKernel<T><<<grid, kThreads, 0, stream_>>>(reinterpret_cast<const DiagDesc<T> *>(dws + o), static_cast<double *>(diagWs_));
    H2CK(cudaGetLastError());
    out.resize(static_cast<size_t>(total));
    H2CK(cudaMemcpyAsync(out.data(), diagWs_, static_cast<size_t>(total) * sizeof(double), cudaMemcpyDeviceToHost, stream_));
    H2CK(cudaStreamSynchronize(stream_));
  }

private:
  using Runs = std::vector<std::pair<size_t, size_t>>;

  template <typename Eq>
  static Runs makeRuns(const std::vector<size_t> &idx, Eq eq)
  {
    Runs runs;
    for (size_t b = 0; b < idx.size();) {
      size_t e = b + 1;
      while (e < idx.size() && eq(idx[b], idx[e])) e++;
      runs.push_back({b, e});
      b = e;
    }
    return runs;
  }
  template <typename Piv>
  static bool isContiguous(size_t cnt, int n, Piv piv)
  {
    const int *p0 = piv(0);
    if (!p0) return false;
    for (size_t j = 1; j < cnt; j++)
      if (piv(j) != p0 + j * static_cast<size_t>(n)) return false;
    return true;
  }

  // potrf (lu = false) or getrf (lu = true)
  void factor(const std::vector<FactorItem<T>> &items, std::vector<int> &info, bool lu)
  {
    info.assign(items.size(), 0);
    std::vector<size_t> idx;
    for (size_t i = 0; i < items.size(); i++)
      if (items[i].n > 0) idx.push_back(i);
    if (idx.empty()) return;
    auto key = [&](size_t i) { return std::make_pair(items[i].n, items[i].lda); };
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
    const auto runs = makeRuns(idx, [&](size_t a, size_t b) { return key(a) == key(b); });

    // sizes of the workspaces: cuSOLVER work (single calls), pivots (batched LU with scattered
    // ipiv), the saved upper triangles (batched Cholesky)
    std::vector<char> batched(runs.size(), 0), contiguous(runs.size(), 0);
    std::vector<size_t> chunk(runs.size(), kMaxBatch);
    int lwork = 0;
    size_t pivNeed = 0, triNeed = 0;
    for (size_t r = 0; r < runs.size(); r++) {
      const size_t cnt = runs[r].second - runs[r].first;
      const auto &f = items[idx[runs[r].first]];
      batched[r] = cnt >= 2 && f.n <= kFactorBatchMaxN;
      if (!batched[r]) {
        int lw = 0;
        if (lu) H2CK(xgetrfBufferSize(solver_, f.n, f.A, f.lda, &lw));
        else H2CK(xpotrfBufferSize(solver_, f.n, f.A, f.lda, &lw));
        lwork = std::max(lwork, lw);
      } else if (lu) {
        contiguous[r] = isContiguous(cnt, f.n, [&](size_t j) { return items[idx[runs[r].first + j]].ipiv; });
        if (!contiguous[r]) pivNeed = std::max(pivNeed, std::min<size_t>(cnt, kMaxBatch) * static_cast<size_t>(f.n));
      } else {
        const size_t tri = static_cast<size_t>(f.n) * (f.n - 1) / 2;
        if (tri) {
          chunk[r] = std::max<size_t>(1, std::min<size_t>(kMaxBatch, kTriSaveMax / tri));
          triNeed = std::max(triNeed, std::min(chunk[r], cnt) * tri);
        }
      }
    }
    for (size_t r = 0; r < runs.size(); r++)
      if (lu && batched[r] && !items[idx[runs[r].first]].ipiv) throw Error(ERR_ARG, "getrf: an item without a pivot array");

    begin();
    // info slots: slot k belongs to the item idx[k] (shape order), so a batched chunk's infos are
    // one contiguous range
    const size_t nslots = idx.size();
    grow(infoWs_, infoCap_, nslots * sizeof(int));
    grow(workWs_, workCap_, static_cast<size_t>(std::max(lwork, 1)) * sizeof(T));
    grow(pivWs_, pivCap_, pivNeed * sizeof(int));
    grow(triWs_, triCap_, triNeed * sizeof(T));
    H2CK(cudaMemsetAsync(infoWs_, 0, nslots * sizeof(int), stream_));

    std::vector<size_t> off(runs.size(), 0), auxOff(runs.size(), 0);
    std::vector<void *> ptr;
    std::vector<IntCopyDesc> sd;
    std::vector<TriDesc<T>> td;
    for (size_t r = 0; r < runs.size(); r++) {
      if (!batched[r]) continue;
      const size_t cnt = runs[r].second - runs[r].first;
      const int n = items[idx[runs[r].first]].n;
      ptr.assign(cnt, nullptr);
      for (size_t j = 0; j < cnt; j++) ptr[j] = items[idx[runs[r].first + j]].A;
      off[r] = stage_.add(ptr.data(), ptr.size());
      if (lu && !contiguous[r]) { // scatter from pivWs_ (chunk-local) to the items' ipiv
        sd.clear();
        for (size_t j = 0; j < cnt; j++) sd.push_back({static_cast<const int *>(pivWs_) + (j % kMaxBatch) * n, items[idx[runs[r].first + j]].ipiv, n});
        auxOff[r] = stage_.add(sd.data(), sd.size());
      } else if (!lu && n > 1) { // save / restore the strictly upper triangles (potrfBatched overwrites them)
        const size_t tri = static_cast<size_t>(n) * (n - 1) / 2;
        td.clear();
        for (size_t j = 0; j < cnt; j++) td.push_back({items[idx[runs[r].first + j]].A, static_cast<T *>(triWs_) + (j % chunk[r]) * tri, n, items[idx[runs[r].first + j]].lda});
        auxOff[r] = stage_.add(td.data(), td.size());
      }
    }
    unsigned char *dws = uploadStage();
    int *dinfo = static_cast<int *>(infoWs_);
    for (size_t r = 0; r < runs.size(); r++) {
      const size_t cnt = runs[r].second - runs[r].first;
      const auto &f0 = items[idx[runs[r].first]];
      if (!batched[r]) { // one cuSOLVER call per item
        for (size_t j = 0; j < cnt; j++) {
          const size_t k = runs[r].first + j;
          const auto &f = items[idx[k]];
          if (lu) {
            if (!f.ipiv) throw Error(ERR_ARG, "getrf: an item without a pivot array");
            H2CK(xgetrf(solver_, f.n, f.A, f.lda, static_cast<T *>(workWs_), f.ipiv, dinfo + k));
          } else H2CK(xpotrf(solver_, f.n, f.A, f.lda, static_cast<T *>(workWs_), std::max(lwork, 1), dinfo + k));
        }
        continue;
      }
      T **A = reinterpret_cast<T **>(dws + off[r]);
      const size_t step = lu ? static_cast<size_t>(kMaxBatch) : chunk[r];
      for (size_t c0 = 0; c0 < cnt; c0 += step) {
        const int c = static_cast<int>(std::min(step, cnt - c0));
        int *binfo = dinfo + runs[r].first + c0;
        if (lu) {
          int *P = contiguous[r] ? f0.ipiv + c0 * f0.n : static_cast<int *>(pivWs_);
          H2CK(xgetrfBatched(blas_, f0.n, A + c0, f0.lda, P, binfo, c));
          if (!contiguous[r]) launchIntCopy(reinterpret_cast<const IntCopyDesc *>(dws + auxOff[r]) + c0, static_cast<size_t>(c));
        } else {
          const TriDesc<T> *t = f0.n > 1 ? reinterpret_cast<const TriDesc<T> *>(dws + auxOff[r]) + c0 : nullptr;
          if (t) launchTri(t, static_cast<size_t>(c), f0.n, 0);
          H2CK(xpotrfBatched(solver_, f0.n, A + c0, f0.lda, binfo, c));
          if (t) launchTri(t, static_cast<size_t>(c), f0.n, 1);
        }
      }
    }
    std::vector<int> h(nslots);
    H2CK(cudaMemcpyAsync(h.data(), infoWs_, nslots * sizeof(int), cudaMemcpyDeviceToHost, stream_));
    H2CK(cudaStreamSynchronize(stream_));
    for (size_t k = 0; k < nslots; k++) info[idx[k]] = h[k];
    for (size_t i = 0; i < items.size(); i++)
      if (info[i] < 0) throw Error(ERR_LIB, std::string(lu ? "getrf" : "potrf") + ": illegal argument " + std::to_string(-info[i]) + " (item " + std::to_string(i) + ")");
  }

  // ------------------------------------------------------------------ memory and launches
  void *rawAlloc(size_t bytes)
  {
    if (!bytes) return nullptr;
    void *p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      throw Error(ERR_LIB, "cudaMalloc failed: could not allocate " + std::to_string(bytes) + " bytes of device memory: " + cudaGetErrorString(e));
    }
    const cudaError_t z = cudaMemsetAsync(p, 0, bytes, stream_);
    if (z != cudaSuccess) {
      (void)cudaFree(p);
      check(z, "cudaMemsetAsync");
    }
    return p;
  }
  // no exception (called from destructors): errors here resurface at the next checked call
  void rawFree(void *p) noexcept
  {
    if (!p) return;
    (void)cudaStreamSynchronize(stream_);
    (void)cudaFree(p);
  }
  // grow a device workspace to at least bytes (nothing of this call is queued yet: begin() waited)
  void grow(void *&p, size_t &cap, size_t bytes)
  {
    if (bytes <= cap) return;
    const size_t want = std::max(bytes, cap + cap / 2);
    rawFree(p);
    p = nullptr;
    cap = 0;
    const cudaError_t e = cudaMalloc(&p, want);
    if (e != cudaSuccess) {
      p = nullptr;
      (void)cudaGetLastError();
      throw Error(ERR_LIB, "cudaMalloc failed: could not allocate a workspace of " + std::to_string(want) + " bytes: " + cudaGetErrorString(e));
    }
    cap = want;
  }
  // start of a batched call: previous work done, staging buffers free
  void begin()
  {
    H2CK(cudaStreamSynchronize(stream_));
    stage_.clear();
  }
  unsigned char *uploadStage()
  {
    if (!stage_.size()) return static_cast<unsigned char *>(ws_);
    grow(ws_, wsCap_, stage_.size());
    H2CK(cudaMemcpyAsync(ws_, stage_.data(), stage_.size(), cudaMemcpyHostToDevice, stream_));
    return static_cast<unsigned char *>(ws_);
  }
  void launchCopy(const CopyDesc<T> *d, size_t count, long long maxElems, T alpha, int blas)
  {
    const dim3 grid(static_cast<unsigned>(count), chunksFor(maxElems, count));
    copyKernel<T><<<grid, kThreads, 0, stream_>>>(d, alpha, blas);
    H2CK(cudaGetLastError());
  }
  void launchIntCopy(const IntCopyDesc *d, size_t count)
  {
    intCopyKernel<<<static_cast<unsigned>(count), 64, 0, stream_>>>(d);
    H2CK(cudaGetLastError());
  }
  void launchTri(const TriDesc<T> *d, size_t count, int n, int restore)
  {
    const dim3 grid(static_cast<unsigned>(count), chunksFor(static_cast<long long>(n) * (n - 1) / 2, count));
    triKernel<T><<<grid, kThreads, 0, stream_>>>(d, restore);
    H2CK(cudaGetLastError());
  }

  void destroy() noexcept
  {
    if (stream_) (void)cudaStreamSynchronize(stream_);
    for (void **p : {&ws_, &infoWs_, &workWs_, &pivWs_, &triWs_, &diagWs_}) {
      if (*p) (void)cudaFree(*p);
      *p = nullptr;
    }
    if (solver_) (void)cusolverDnDestroy(solver_);
    if (blas_) (void)cublasDestroy(blas_);
    if (stream_) (void)cudaStreamDestroy(stream_);
    solver_ = nullptr, blas_ = nullptr, stream_ = nullptr;
  }

  int dev_ = 0;
  TensorMode tensor_ = TensorMode::Off;
  std::string desc_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  Stager stage_;
  // device workspaces, grown on demand, reused across calls
  void *ws_ = nullptr, *infoWs_ = nullptr, *workWs_ = nullptr, *pivWs_ = nullptr, *triWs_ = nullptr, *diagWs_ = nullptr;
  size_t wsCap_ = 0, infoCap_ = 0, workCap_ = 0, pivCap_ = 0, triCap_ = 0, diagCap_ = 0;
};

} // namespace

bool cudaBackendAvailable(std::string *why)
{
  const DeviceInfo &d = deviceInfo();
  if (why) *why = d.ok ? std::string() : d.why;
  return d.ok;
}

template <typename T>
std::unique_ptr<Backend<T>> makeCudaBackend(const BackendRequest &req)
{
  std::string why;
  if (!cudaBackendAvailable(&why)) throw Error(ERR_SUPPORT, why);
  try {
    return std::make_unique<CudaBackend<T>>(req);
  } catch (const Error &e) {
    throw Error(ERR_SUPPORT, std::string("CUDA backend initialization failed: ") + e.what());
  }
}

template std::unique_ptr<Backend<double>> makeCudaBackend<double>(const BackendRequest &);
template std::unique_ptr<Backend<float>> makeCudaBackend<float>(const BackendRequest &);

} // namespace h2ulv
