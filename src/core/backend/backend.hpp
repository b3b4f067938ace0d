// The batched dense-operation backend: the only place where the factorization and the
// substitution touch numbers.  Every per-level step of the H2-ULV factorization and solve is one
// call here with a batch of independent items (docs/algorithm.md, "The per-level ULV factorization"): the host backend runs the
// items over threads with OpenBLAS/LAPACK, the CUDA backend with cuBLAS/cuSOLVER batched kernels,
// the Kokkos backend with KokkosBatched kernels over Kokkos' default execution space.
//
// Contract (all backends):
//  - matrices are column-major, addressed by pointers into memory obtained from the same backend
//    (alloc()); the caller never dereferences them, it moves data with upload()/download();
//  - the items of one call are independent: no item writes memory another item of the call reads
//    or writes (accumulations into one target are split by the caller into successive calls, which
//    also makes the sums deterministic);
//  - sizes may differ from item to item; items with a zero dimension are no-ops, except a gemm
//    with k = 0, which gives C <- beta C as in BLAS;
//  - after potrf the strictly upper triangle of a block is unspecified (the factorization does not
//    read it);
//  - calls are executed in order; download() returns after the data are on the host.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor.hpp"

namespace h2ulv {

enum class BackendKind { Host, Cuda, Kokkos };
const char *backendName(BackendKind);

// C <- alpha op(A) op(B) + beta C   (C is m x n, op(A) m x k, op(B) k x n)
template <typename T>
struct GemmItem {
  char ta, tb;
  int m, n, k;
  const T *A;
  int lda;
  const T *B;
  int ldb;
  T *C;
  int ldc;
};
// B <- alpha op(A)^{-1} B, A triangular (left side; B is m x n, A m x m)
template <typename T>
struct TrsmItem {
  int m, n;
  const T *A;
  int lda;
  T *B;
  int ldb;
};
// in-place factorization of the n x n block A: Cholesky (lower) or LU with partial pivoting
// (ipiv: n ints of backend memory, 1-based as in LAPACK; unused by Cholesky)
template <typename T>
struct FactorItem {
  int n;
  T *A;
  int lda;
  int *ipiv;
};
// B <- op(A)^{-1} B with the LU factors of A (getrf); B is n x nrhs
template <typename T>
struct LuSolveItem {
  int n, nrhs;
  const T *A;
  int lda;
  const int *ipiv;
  T *B;
  int ldb;
};
// B <- alpha op(A)   (B is m x n; op(A) = A or A^T)
template <typename T>
struct CopyItem {
  char trans;
  int m, n;
  const T *A;
  int lda;
  T *B;
  int ldb;
};

template <typename T>
class Backend {
public:
  virtual ~Backend() = default;
  virtual BackendKind kind() const = 0;
  virtual std::string describe() const = 0; // e.g. "host (OpenBLAS, 2 threads)", "cuda (NVIDIA H100, sm_90)"

  // memory of the backend (device memory for a device backend); the contents of alloc() are
  // unspecified.  hostAccessible(): the pointers can be read and written on the host directly
  // (the host backend), so staging copies can be skipped.
  virtual bool hostAccessible() const { return false; }
  virtual T *alloc(size_t n) = 0;
  virtual void release(T *p) = 0;
  // takes over n elements of host memory from std::malloc or posix_memalign as backend memory
  // (given back with release()); nullptr where the backend cannot (device memory)
  virtual T *adopt(T *p, size_t n)
  {
    (void)p, (void)n;
    return nullptr;
  }
  virtual int *allocInt(size_t n) = 0;
  virtual void releaseInt(int *p) = 0;
  virtual void upload(T *dst, const T *src, size_t n) = 0;     // host -> backend
  virtual void download(T *dst, const T *src, size_t n) = 0;   // backend -> host
  virtual void downloadInt(int *dst, const int *src, size_t n) = 0;

  // batches
  virtual void gemm(T alpha, T beta, const std::vector<GemmItem<T>> &items) = 0;
  // uplo 'L' or 'U', trans 'N' or 'T', diag 'N' or 'U'
  virtual void trsm(char uplo, char trans, char diag, T alpha, const std::vector<TrsmItem<T>> &items) = 0;
  // info[i] as LAPACK's: 0 success, > 0 the (1-based) column where the factorization broke down
  virtual void potrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) = 0;
  virtual void getrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) = 0;
  virtual void getrs(char trans, const std::vector<LuSolveItem<T>> &items) = 0;
  virtual void copy(T alpha, const std::vector<CopyItem<T>> &items) = 0;
  // the diagonals of the items' blocks (n each), concatenated in item order, on the host
  virtual void diagonals(const std::vector<FactorItem<T>> &items, std::vector<double> &out) = 0;
  // returns once every call made so far has finished (a device backend's queue drained)
  virtual void synchronize() { }
  // a backend that keeps released blocks for reuse frees them until at most keep bytes are kept
  virtual void trimCache(size_t keep) { (void)keep; }
};

// Per-operation profiling (the PETSc layer maps the operations to -log_view events): a backend
// wrapped by makeProfiledBackend() calls hook(op, true, 0) before each batch and
// hook(op, false, flops) after it, having waited for the device (synchronize()) when sync is set,
// so that the time between the two calls is the batch's own.
enum class BatchOp { Gemm, Trsm, Potrf, Getrf, Getrs, Copy };
using BatchHook = std::function<void(BatchOp, bool begin, double flops)>;
template <typename T>
std::unique_ptr<Backend<T>> makeProfiledBackend(std::unique_ptr<Backend<T>> inner, BatchHook hook, bool sync);

// Fill backend memory from the host: in place on a host-accessible backend, else through a staging
// copy uploaded by commit() (HostRead: the same for reading).
template <typename T>
class HostFill {
public:
  HostFill(Backend<T> &b, T *dst, size_t n) : be_(b), dst_(dst), n_(n)
  {
    if (!b.hostAccessible()) stage_.resize(n);
  }
  T *data() { return be_.hostAccessible() ? dst_ : stage_.data(); }
  void commit()
  {
    if (!be_.hostAccessible()) be_.upload(dst_, stage_.data(), n_);
  }

private:
  Backend<T> &be_;
  T *dst_;
  size_t n_;
  std::vector<T> stage_;
};
template <typename T>
class HostRead {
public:
  HostRead(Backend<T> &b, const T *src, size_t n) : src_(src)
  {
    if (!b.hostAccessible()) {
      stage_.resize(n);
      b.download(stage_.data(), src, n);
    }
  }
  const T *data() const { return stage_.empty() ? src_ : stage_.data(); }

private:
  const T *src_;
  std::vector<T> stage_;
};

// Backend memory with an owner: released when the buffer goes.
template <typename T>
class Buffer {
public:
  Buffer() = default;
  Buffer(Backend<T> &b, size_t n) : be_(&b), n_(n), p_(n ? b.alloc(n) : nullptr) { }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  Buffer(Buffer &&o) noexcept : be_(o.be_), n_(o.n_), p_(o.p_) { o.p_ = nullptr, o.n_ = 0; }
  Buffer &operator=(Buffer &&o) noexcept
  {
    if (this != &o) {
      reset();
      be_ = o.be_, n_ = o.n_, p_ = o.p_;
      o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
  }
  ~Buffer() { reset(); }
  void reset()
  {
    if (p_) be_->release(p_);
    p_ = nullptr;
    n_ = 0;
  }
  // a buffer over memory that b took over (Backend::adopt)
  static Buffer adopted(Backend<T> &b, T *p, size_t n)
  {
    Buffer x;
    x.be_ = &b, x.n_ = n, x.p_ = p;
    return x;
  }
  T *get() const { return p_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

private:
  Backend<T> *be_ = nullptr;
  size_t n_ = 0;
  T *p_ = nullptr;
};

class IntBuffer {
public:
  IntBuffer() = default;
  template <typename T>
  IntBuffer(Backend<T> &b, size_t n) : n_(n), p_(n ? b.allocInt(n) : nullptr), rel_([&b](int *p) { b.releaseInt(p); }) { }
  IntBuffer(const IntBuffer &) = delete;
  IntBuffer &operator=(const IntBuffer &) = delete;
  IntBuffer(IntBuffer &&o) noexcept : n_(o.n_), p_(o.p_), rel_(std::move(o.rel_)) { o.p_ = nullptr, o.n_ = 0; }
  IntBuffer &operator=(IntBuffer &&o) noexcept
  {
    if (this != &o) {
      reset();
      n_ = o.n_, p_ = o.p_, rel_ = std::move(o.rel_);
      o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
  }
  ~IntBuffer() { reset(); }
  void reset()
  {
    if (p_ && rel_) rel_(p_);
    p_ = nullptr;
    n_ = 0;
  }
  int *get() const { return p_; }
  size_t size() const { return n_; }

private:
  size_t n_ = 0;
  int *p_ = nullptr;
  std::function<void(int *)> rel_;
};

struct BackendRequest {
  BackendKind kind = BackendKind::Host;
  bool required = false; // error instead of falling back to the host when the kind is unavailable
  // single precision: the GEMMs' tensor-core arithmetic (tensor.hpp): on the CUDA backend's tensor
  // cores; emulated by the host backend (slower than plain FP32: a check of the numerics)
  TensorMode tensor = TensorMode::Off;
  bool threaded = true;  // host: spread a batch over the threads
};

// The backend for a request.  An unavailable kind (not compiled in, no device at run time) falls
// back to the host backend and says why in *note, or throws Error(ERR_SUPPORT) when required.
template <typename T>
std::unique_ptr<Backend<T>> makeBackend(const BackendRequest &req, std::string *note);

// Availability, for -help text and tests: compiled in, and (for devices) a device present.
bool backendCompiled(BackendKind);
bool backendAvailable(BackendKind, std::string *why);

// factories of the optional backends (defined in their own files when compiled in)
template <typename T>
std::unique_ptr<Backend<T>> makeHostBackend(const BackendRequest &);
#if defined(H2ULV_HAVE_CUDA)
template <typename T>
std::unique_ptr<Backend<T>> makeCudaBackend(const BackendRequest &); // throws Error(ERR_SUPPORT) without a usable device
bool cudaBackendAvailable(std::string *why);
#endif
#if defined(H2ULV_HAVE_KOKKOS)
template <typename T>
std::unique_ptr<Backend<T>> makeKokkosBackend(const BackendRequest &);
#endif

} // namespace h2ulv
