// Dense building blocks of the numerical core: a column-major matrix and thin, typed wrappers
// over the Fortran BLAS/LAPACK (OpenBLAS on the host).  Templates cover float and double.
#pragma once

#include "error.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <memory>
#include <string>
#include <utility>
#include <vector>

extern "C" {
// BLAS
void dgemm_(const char *, const char *, const int *, const int *, const int *, const double *, const double *, const int *, const double *, const int *, const double *, double *, const int *);
void sgemm_(const char *, const char *, const int *, const int *, const int *, const float *, const float *, const int *, const float *, const int *, const float *, float *, const int *);
void dtrmm_(const char *, const char *, const char *, const char *, const int *, const int *, const double *, const double *, const int *, double *, const int *);
void strmm_(const char *, const char *, const char *, const char *, const int *, const int *, const float *, const float *, const int *, float *, const int *);
void dtrsm_(const char *, const char *, const char *, const char *, const int *, const int *, const double *, const double *, const int *, double *, const int *);
void strsm_(const char *, const char *, const char *, const char *, const int *, const int *, const float *, const float *, const int *, float *, const int *);
void dsyrk_(const char *, const char *, const int *, const int *, const double *, const double *, const int *, const double *, double *, const int *);
// LAPACK
void dpstrf_(const char *, const int *, double *, const int *, int *, int *, const double *, double *, int *);
void dgeqrf_(const int *, const int *, double *, const int *, double *, double *, const int *, int *);
void dgeqrt_(const int *, const int *, const int *, double *, const int *, double *, const int *, double *, int *);
void sgeqrt_(const int *, const int *, const int *, float *, const int *, float *, const int *, float *, int *);
void sgeqrf_(const int *, const int *, float *, const int *, float *, float *, const int *, int *);
void dgeqp3_(const int *, const int *, double *, const int *, int *, double *, double *, const int *, int *);
void sgeqp3_(const int *, const int *, float *, const int *, int *, float *, float *, const int *, int *);
void dorgqr_(const int *, const int *, const int *, double *, const int *, const double *, double *, const int *, int *);
void sorgqr_(const int *, const int *, const int *, float *, const int *, const float *, float *, const int *, int *);
void dormqr_(const char *, const char *, const int *, const int *, const int *, const double *, const int *, const double *, double *, const int *, double *, const int *, int *);
void sormqr_(const char *, const char *, const int *, const int *, const int *, const float *, const int *, const float *, float *, const int *, float *, const int *, int *);
void dpotrf_(const char *, const int *, double *, const int *, int *);
void spotrf_(const char *, const int *, float *, const int *, int *);
void dgetrf_(const int *, const int *, double *, const int *, int *, int *);
void dsytrf_(const char *, const int *, double *, const int *, int *, double *, const int *, int *);
void ssytrf_(const char *, const int *, float *, const int *, int *, float *, const int *, int *);
void sgetrf_(const int *, const int *, float *, const int *, int *, int *);
void dgetri_(const int *, double *, const int *, const int *, double *, const int *, int *);
void dpotri_(const char *, const int *, double *, const int *, int *);
void dgetrs_(const char *, const int *, const int *, const double *, const int *, const int *, double *, const int *, int *);
void sgetrs_(const char *, const int *, const int *, const float *, const int *, const int *, float *, const int *, int *);
}

namespace h2ulv {

// One region of memory for many blocks that are made together and die together (the near blocks
// of a level): a single allocation, aligned to 2 MB and marked for transparent huge pages, handed
// out in order and thread-safely, each block aligned to `align` bytes.  Blocks allocated one by
// one would each be faulted in page by page (4 KB) at their first touch, which on a virtual
// machine costs more than the kernels that fill them.  The region is freed with the last block
// that refers to it, unless detach() gave it away first.
class BlockArena {
public:
  explicit BlockArena(size_t bytes, size_t align = 64);
  ~BlockArena();
  BlockArena(const BlockArena &) = delete;
  BlockArena &operator=(const BlockArena &) = delete;
  void *take(size_t bytes); // nullptr when the region is full
  bool owns(const void *p) const { return p >= base_ && p < base_ + cap_; }
  // the room a block of `bytes` takes in an arena of alignment `align`
  static size_t rounded(size_t bytes, size_t align = 64) { return (bytes + align - 1) / align * align; }
  size_t capacity() const { return cap_; }
  const void *base() const { return base_; }
  // the region, to be freed by the caller with std::free; the blocks in it stay usable until then
  void *detach();

private:
  char *base_ = nullptr;
  size_t cap_ = 0, align_;
  bool detached_ = false;
  std::atomic<size_t> used_{0};
};

// The allocator of Matrix: value-initialization leaves the elements as they are (a Matrix made
// with Matrix::uninitialized() is not zero-filled first: its entries are written whole before
// use), and a Matrix can live in a BlockArena.  A copy always goes to the heap; a move takes the
// arena along.
template <typename T>
struct NoFillAllocator {
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using propagate_on_container_copy_assignment = std::false_type;
  using is_always_equal = std::false_type;
  template <typename U>
  struct rebind {
    using other = NoFillAllocator<U>;
  };
  NoFillAllocator() = default;
  explicit NoFillAllocator(std::shared_ptr<BlockArena> a) noexcept : arena(std::move(a)) { }
  template <typename U>
  NoFillAllocator(const NoFillAllocator<U> &o) noexcept : arena(o.arena) { }
  T *allocate(size_t n)
  {
    if (arena)
      if (void *p = arena->take(n * sizeof(T))) return static_cast<T *>(p);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T *p, size_t n) noexcept
  {
    if (!(arena && arena->owns(p))) std::allocator<T>().deallocate(p, n);
  }
  NoFillAllocator select_on_container_copy_construction() const { return NoFillAllocator(); }
  template <typename U>
  void construct(U *p) noexcept
  {
    ::new (static_cast<void *>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U *p, Args &&...args)
  {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const NoFillAllocator<U> &o) const noexcept
  {
    return arena == o.arena;
  }
  template <typename U>
  bool operator!=(const NoFillAllocator<U> &o) const noexcept
  {
    return arena != o.arena;
  }
  std::shared_ptr<BlockArena> arena; // null: the heap
};

template <typename T>
class Matrix {
public:
  Matrix() = default;
  Matrix(int m, int n) : m_(m), n_(n), a_(static_cast<size_t>(m) * n, T(0)) { }
  // m x n with unspecified entries, for a block its maker writes whole
  static Matrix uninitialized(int m, int n)
  {
    Matrix x;
    x.m_ = m, x.n_ = n;
    x.a_.resize(static_cast<size_t>(m) * n);
    return x;
  }
  // the same, in `arena` (on the heap when the arena is full)
  static Matrix uninitialized(int m, int n, const std::shared_ptr<BlockArena> &arena)
  {
    Matrix x;
    x.m_ = m, x.n_ = n;
    x.a_ = std::vector<T, NoFillAllocator<T>>(NoFillAllocator<T>(arena));
    x.a_.resize(static_cast<size_t>(m) * n);
    return x;
  }
  // m x n from the column-major entries src (ld m), converted to T: no zero fill first
  template <typename U>
  Matrix(int m, int n, const U *src) : m_(m), n_(n), a_(src, src + static_cast<size_t>(m) * n) { }
  void resize(int m, int n)
  {
    m_ = m;
    n_ = n;
    a_.assign(static_cast<size_t>(m) * n, T(0));
  }
  int rows() const { return m_; }
  int cols() const { return n_; }
  int ld() const { return std::max(1, m_); }
  T *data() { return a_.data(); }
  const T *data() const { return a_.data(); }
  T &operator()(int i, int j) { return a_[i + static_cast<size_t>(j) * m_]; }
  const T &operator()(int i, int j) const { return a_[i + static_cast<size_t>(j) * m_]; }
  size_t size() const { return a_.size(); }
  bool empty() const { return a_.empty(); }
  size_t bytes() const { return a_.capacity() * sizeof(T); }
  // the region the entries lie in (null: the heap)
  BlockArena *arena() const { return a_.get_allocator().arena.get(); }
  std::vector<T, NoFillAllocator<T>> &storage() { return a_; }
  const std::vector<T, NoFillAllocator<T>> &storage() const { return a_; }

private:
  int m_ = 0, n_ = 0;
  std::vector<T, NoFillAllocator<T>> a_;
};

namespace blas {

inline void gemm(char ta, char tb, int m, int n, int k, double alpha, const double *a, int lda, const double *b, int ldb, double beta, double *c, int ldc)
{
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) c[i + (size_t)j * ldc] = beta == 0.0 ? 0.0 : beta * c[i + (size_t)j * ldc];
    return;
  }
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}
inline void gemm(char ta, char tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) c[i + (size_t)j * ldc] = beta == 0.0f ? 0.0f : beta * c[i + (size_t)j * ldc];
    return;
  }
  sgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}
inline void trmm(char side, char uplo, char ta, char diag, int m, int n, double alpha, const double *a, int lda, double *b, int ldb)
{
  if (m <= 0 || n <= 0) return;
  dtrmm_(&side, &uplo, &ta, &diag, &m, &n, &alpha, a, &lda, b, &ldb);
}
inline void trmm(char side, char uplo, char ta, char diag, int m, int n, float alpha, const float *a, int lda, float *b, int ldb)
{
  if (m <= 0 || n <= 0) return;
  strmm_(&side, &uplo, &ta, &diag, &m, &n, &alpha, a, &lda, b, &ldb);
}
inline void trsm(char side, char uplo, char ta, char diag, int m, int n, double alpha, const double *a, int lda, double *b, int ldb)
{
  if (m <= 0 || n <= 0) return;
  dtrsm_(&side, &uplo, &ta, &diag, &m, &n, &alpha, a, &lda, b, &ldb);
}
inline void trsm(char side, char uplo, char ta, char diag, int m, int n, float alpha, const float *a, int lda, float *b, int ldb)
{
  if (m <= 0 || n <= 0) return;
  strsm_(&side, &uplo, &ta, &diag, &m, &n, &alpha, a, &lda, b, &ldb);
}

// C = alpha op(A) op(A)^T + beta C (upper or lower triangle), op(A) n x k
inline void syrk(char uplo, char trans, int n, int k, double alpha, const double *a, int lda, double beta, double *c, int ldc)
{
  if (n <= 0) return;
  dsyrk_(&uplo, &trans, &n, &k, &alpha, a, &lda, &beta, c, &ldc);
}
// pivoted Cholesky P^T C P = U^T U (upper), piv 0-based on return; returns the computed rank
inline int pstrf(int n, double *c, int ldc, std::vector<int> &piv, double tol)
{
  piv.assign(std::max(1, n), 0);
  if (n <= 0) return 0;
  int rank = 0, info = 0;
  const char u = 'U';
  std::vector<double> work(2 * static_cast<size_t>(n));
  dpstrf_(&u, &n, c, &ldc, piv.data(), &rank, &tol, work.data(), &info);
  if (info < 0) throw Error(ERR_LIB, "LAPACK pstrf failed, info " + std::to_string(info));
  for (int j = 0; j < n; j++) piv[j] -= 1;
  return rank;
}

// QR without pivoting: a (m x n) overwritten by R and reflectors; tau has min(m,n) entries.
template <typename T>
void geqrf(int m, int n, T *a, int lda, std::vector<T> &tau)
{
  tau.assign(std::max(1, std::min(m, n)), T(0));
  if (m <= 0 || n <= 0) return;
  int info = 0, lwork = -1;
  T wq;
  if constexpr (std::is_same<T, double>::value) dgeqrf_(&m, &n, a, &lda, tau.data(), &wq, &lwork, &info);
  else sgeqrf_(&m, &n, a, &lda, tau.data(), &wq, &lwork, &info);
  lwork = std::max(1, static_cast<int>(wq));
  std::vector<T> work(lwork);
  if constexpr (std::is_same<T, double>::value) dgeqrf_(&m, &n, a, &lda, tau.data(), work.data(), &lwork, &info);
  else sgeqrf_(&m, &n, a, &lda, tau.data(), work.data(), &lwork, &info);
  if (info) throw Error(ERR_LIB, "LAPACK geqrf failed, info " + std::to_string(info));
}

// QR of a tall m x n matrix when only R (upper triangle of a on return) is wanted: the compact-WY
// geqrt with recursive level-3 panels (geqrf's panels are level 2: 2-4x slower for tall samples)
template <typename T>
void qrR(int m, int n, T *a, int lda)
{
  if (m <= 0 || n <= 0) return;
  const int nb = std::min(n, 32);
  std::vector<T> t(static_cast<size_t>(nb) * n), work(static_cast<size_t>(nb) * n);
  int info = 0;
  if constexpr (std::is_same<T, double>::value) dgeqrt_(&m, &n, &nb, a, &lda, t.data(), &nb, work.data(), &info);
  else sgeqrt_(&m, &n, &nb, a, &lda, t.data(), &nb, work.data(), &info);
  if (info) throw Error(ERR_LIB, "LAPACK geqrt failed, info " + std::to_string(info));
}

// Column-pivoted QR; jpvt (0-based on return) gives the column order.
template <typename T>
void geqp3(int m, int n, T *a, int lda, std::vector<int> &jpvt, std::vector<T> &tau)
{
  jpvt.assign(std::max(1, n), 0);
  tau.assign(std::max(1, std::min(m, n)), T(0));
  if (m <= 0 || n <= 0) {
    for (int j = 0; j < n; j++) jpvt[j] = j;
    return;
  }
  int info = 0, lwork = -1;
  T wq;
  if constexpr (std::is_same<T, double>::value) dgeqp3_(&m, &n, a, &lda, jpvt.data(), tau.data(), &wq, &lwork, &info);
  else sgeqp3_(&m, &n, a, &lda, jpvt.data(), tau.data(), &wq, &lwork, &info);
  lwork = std::max(1, static_cast<int>(wq));
  std::vector<T> work(lwork);
  if constexpr (std::is_same<T, double>::value) dgeqp3_(&m, &n, a, &lda, jpvt.data(), tau.data(), work.data(), &lwork, &info);
  else sgeqp3_(&m, &n, a, &lda, jpvt.data(), tau.data(), work.data(), &lwork, &info);
  if (info) throw Error(ERR_LIB, "LAPACK geqp3 failed, info " + std::to_string(info));
  for (int j = 0; j < n; j++) jpvt[j] -= 1;
}

// Form the first ncol columns of Q from geqrf output (k reflectors), in place.
template <typename T>
void orgqr(int m, int ncol, int k, T *a, int lda, const std::vector<T> &tau)
{
  if (m <= 0 || ncol <= 0) return;
  int info = 0, lwork = -1;
  T wq;
  if constexpr (std::is_same<T, double>::value) dorgqr_(&m, &ncol, &k, a, &lda, tau.data(), &wq, &lwork, &info);
  else sorgqr_(&m, &ncol, &k, a, &lda, tau.data(), &wq, &lwork, &info);
  lwork = std::max(1, static_cast<int>(wq));
  std::vector<T> work(lwork);
  if constexpr (std::is_same<T, double>::value) dorgqr_(&m, &ncol, &k, a, &lda, tau.data(), work.data(), &lwork, &info);
  else sorgqr_(&m, &ncol, &k, a, &lda, tau.data(), work.data(), &lwork, &info);
  if (info) throw Error(ERR_LIB, "LAPACK orgqr failed, info " + std::to_string(info));
}

// C <- op(Q) C with Q from k reflectors of geqrf (blocked, level 3)
template <typename T>
void ormqr(char side, char trans, int m, int n, int k, const T *a, int lda, const std::vector<T> &tau, T *c, int ldc)
{
  if (m <= 0 || n <= 0 || k <= 0) return;
  int info = 0, lwork = -1;
  T wq;
  if constexpr (std::is_same<T, double>::value) dormqr_(&side, &trans, &m, &n, &k, a, &lda, tau.data(), c, &ldc, &wq, &lwork, &info);
  else sormqr_(&side, &trans, &m, &n, &k, a, &lda, tau.data(), c, &ldc, &wq, &lwork, &info);
  lwork = std::max(1, static_cast<int>(wq));
  std::vector<T> work(lwork);
  if constexpr (std::is_same<T, double>::value) dormqr_(&side, &trans, &m, &n, &k, a, &lda, tau.data(), c, &ldc, work.data(), &lwork, &info);
  else sormqr_(&side, &trans, &m, &n, &k, a, &lda, tau.data(), c, &ldc, work.data(), &lwork, &info);
  if (info) throw Error(ERR_LIB, "LAPACK ormqr failed, info " + std::to_string(info));
}

template <typename T>
int potrf(char uplo, int n, T *a, int lda)
{
  int info = 0;
  if (n <= 0) return 0;
  if constexpr (std::is_same<T, double>::value) dpotrf_(&uplo, &n, a, &lda, &info);
  else spotrf_(&uplo, &n, a, &lda, &info);
  return info;
}
template <typename T>
int getrf(int n, T *a, int lda, int *ipiv)
{
  int info = 0;
  if (n <= 0) return 0;
  if constexpr (std::is_same<T, double>::value) dgetrf_(&n, &n, a, &lda, ipiv, &info);
  else sgetrf_(&n, &n, a, &lda, ipiv, &info);
  return info;
}
// inverse of an SPD matrix from potrf's upper factor, in place, both triangles filled; returns info
inline int potriFull(int n, double *a, int lda)
{
  int info = 0;
  const char u = 'U';
  if (n <= 0) return 0;
  dpotri_(&u, &n, a, &lda, &info);
  if (info == 0)
    for (int j = 0; j < n; j++)
      for (int i = j + 1; i < n; i++) a[i + static_cast<size_t>(j) * lda] = a[j + static_cast<size_t>(i) * lda];
  return info;
}
// inverse from getrf's factors, in place; returns info
inline int getri(int n, double *a, int lda, const int *ipiv)
{
  int info = 0, lw = -1;
  if (n <= 0) return 0;
  double q;
  dgetri_(&n, a, &lda, ipiv, &q, &lw, &info);
  lw = std::max(1, static_cast<int>(q));
  std::vector<double> w(lw);
  dgetri_(&n, a, &lda, ipiv, w.data(), &lw, &info);
  return info;
}
template <typename T>
void getrs(char trans, int n, int nrhs, const T *a, int lda, const int *ipiv, T *b, int ldb)
{
  int info = 0;
  if (n <= 0 || nrhs <= 0) return;
  if constexpr (std::is_same<T, double>::value) dgetrs_(&trans, &n, &nrhs, a, &lda, ipiv, b, &ldb, &info);
  else sgetrs_(&trans, &n, &nrhs, a, &lda, ipiv, b, &ldb, &info);
  if (info) throw Error(ERR_LIB, "LAPACK getrs failed, info " + std::to_string(info));
}

// Inertia (negative, zero, positive eigenvalue counts) of the symmetric n x n matrix a (lower
// triangle used), by Sylvester's law from the Bunch-Kaufman factorization P L D L^T P^T (sytrf):
// the inertia of the 1x1 and 2x2 blocks of D; eigenvalues of D's blocks of magnitude at most tiny
// count as zero.
template <typename T>
void inertia(int n, const T *a, int lda, int &neg, int &zero, int &pos, double tiny = 0)
{
  auto count = [&](double lambda) { (lambda > tiny ? pos : lambda < -tiny ? neg : zero)++; };
  neg = zero = pos = 0;
  if (n <= 0) return;
  std::vector<T> f(static_cast<size_t>(n) * n);
  for (int j = 0; j < n; j++)
    for (int i = 0; i < n; i++) f[i + static_cast<size_t>(j) * n] = a[i + static_cast<size_t>(j) * lda];
  std::vector<int> ipiv(n);
  int info = 0, lwork = -1;
  const char uplo = 'L';
  T wq = 0;
  if constexpr (std::is_same<T, double>::value) dsytrf_(&uplo, &n, f.data(), &n, ipiv.data(), &wq, &lwork, &info);
  else ssytrf_(&uplo, &n, f.data(), &n, ipiv.data(), &wq, &lwork, &info);
  lwork = std::max(1, static_cast<int>(wq));
  std::vector<T> work(lwork);
  if constexpr (std::is_same<T, double>::value) dsytrf_(&uplo, &n, f.data(), &n, ipiv.data(), work.data(), &lwork, &info);
  else ssytrf_(&uplo, &n, f.data(), &n, ipiv.data(), work.data(), &lwork, &info);
  if (info < 0) throw Error(ERR_LIB, "LAPACK sytrf failed, info " + std::to_string(info));
  auto D = [&](int i, int j) { return static_cast<double>(f[i + static_cast<size_t>(j) * n]); };
  for (int k = 0; k < n; k++) {
    if (ipiv[k] > 0) count(D(k, k)); // 1x1 block
    else {                             // 2x2 block (k, k+1): its two eigenvalues
      const double a11 = D(k, k), a21 = D(k + 1, k), a22 = D(k + 1, k + 1);
      const double m = 0.5 * (a11 + a22), r = std::hypot(0.5 * (a11 - a22), a21);
      count(m + r);
      count(m - r);
      k++;
    }
  }
}

} // namespace blas
} // namespace h2ulv
