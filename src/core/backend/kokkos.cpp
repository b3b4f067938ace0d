// The Kokkos backend: every batch is one Kokkos::parallel_for over its items on Kokkos' default
// execution space, each item done by one thread with the KokkosBatched serial kernels (gemm, trsm)
// on unmanaged strided views of the column-major blocks, and with the serial kernels Kokkos lacks
// (Cholesky, LU with partial pivoting, the LU solve, the scaled copy/transpose) written here once.
// The kernels are device-portable (KOKKOS_LAMBDA, item descriptors in a View, no std:: calls), so
// the same file serves a CUDA/HIP build of Kokkos; the Debian Kokkos 3.4 has the Serial space only,
// and there the items of a batch go over the host threads (forItems).
#include "backend.hpp"

#include "../dense.hpp"
#include "../parallel.hpp"

#include <Kokkos_Core.hpp>
#include <Kokkos_ArithTraits.hpp>
#include <KokkosBatched_Gemm_Decl.hpp>
#include <KokkosBatched_Gemm_Serial_Impl.hpp>
#include <KokkosBatched_Trsm_Decl.hpp>
#include <KokkosBatched_Trsm_Serial_Impl.hpp>

#include <cstdlib>
#include <exception>
#include <mutex>
#include <sstream>
#include <type_traits>

namespace h2ulv {

// kernels and launchers; free functions (not class members) so that they can hold CUDA extended
// lambdas, in a named namespace for the same reason
namespace kokkos_backend {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;
using Policy = Kokkos::RangePolicy<ExecSpace>;
// a column-major block (or its transpose) of backend memory
template <typename T>
using Mat = Kokkos::View<T **, Kokkos::LayoutStride, MemSpace, Kokkos::MemoryUnmanaged>;
namespace kb = KokkosBatched;

KOKKOS_INLINE_FUNCTION bool isTrans(char c) { return c != 'N' && c != 'n'; }
KOKKOS_INLINE_FUNCTION size_t at(int i, int j, int ld) { return static_cast<size_t>(i) + static_cast<size_t>(j) * static_cast<size_t>(ld); }

// the rows x cols matrix op(X), X stored column-major with leading dimension ld (X is rows x cols
// when trans is 'N', cols x rows otherwise): the transpose is a view with the strides swapped
template <typename T>
KOKKOS_INLINE_FUNCTION Mat<T> opView(T *p, int rows, int cols, int ld, bool trans)
{
  return Mat<T>(p, Kokkos::LayoutStride(rows, trans ? ld : 1, cols, trans ? 1 : ld));
}
template <typename T>
KOKKOS_INLINE_FUNCTION Mat<T> view(T *p, int rows, int cols, int ld)
{
  return opView(p, rows, cols, ld, false);
}

// Cholesky A = L L^T of the n x n block (lower triangle; left-looking, as LAPACK's potf2): info 0,
// or the 1-based column where the pivot is not positive (A(j,j) then holds it, as in LAPACK)
template <typename T>
KOKKOS_INLINE_FUNCTION int cholesky(int n, T *a, int lda)
{
  using ats = Kokkos::Details::ArithTraits<T>;
  for (int j = 0; j < n; j++) {
    T ajj = a[at(j, j, lda)];
    for (int p = 0; p < j; p++) ajj -= a[at(j, p, lda)] * a[at(j, p, lda)];
    if (!(ajj > T(0))) { // also NaN
      a[at(j, j, lda)] = ajj;
      return j + 1;
    }
    ajj = ats::sqrt(ajj);
    a[at(j, j, lda)] = ajj;
    // L(j+1:n, j) = (A(j+1:n, j) - L(j+1:n, 0:j) L(j, 0:j)^T) / L(j, j)
    for (int p = 0; p < j; p++) {
      const T ljp = a[at(j, p, lda)];
      for (int i = j + 1; i < n; i++) a[at(i, j, lda)] -= a[at(i, p, lda)] * ljp;
    }
    const T r = T(1) / ajj;
    for (int i = j + 1; i < n; i++) a[at(i, j, lda)] *= r;
  }
  return 0;
}

// LU with partial pivoting P A = L U of the n x n block (right-looking, as LAPACK's getf2): ipiv
// 1-based, info 0 or the 1-based column of the first exactly zero pivot (the factorization goes on)
template <typename T>
KOKKOS_INLINE_FUNCTION int luFactor(int n, T *a, int lda, int *ipiv)
{
  using ats = Kokkos::Details::ArithTraits<T>;
  int info = 0;
  for (int j = 0; j < n; j++) {
    // pivot: the first entry of largest magnitude on or below the diagonal
    int p = j;
    T amax = ats::abs(a[at(j, j, lda)]);
    for (int i = j + 1; i < n; i++) {
      const T v = ats::abs(a[at(i, j, lda)]);
      if (v > amax) amax = v, p = i;
    }
    ipiv[j] = p + 1;
    const T piv = a[at(p, j, lda)];
    if (piv != T(0)) {
      if (p != j) // swap whole rows, the columns of L included
        for (int c = 0; c < n; c++) {
          const T t = a[at(j, c, lda)];
          a[at(j, c, lda)] = a[at(p, c, lda)];
          a[at(p, c, lda)] = t;
        }
      if (ats::abs(piv) >= ats::sfmin()) {
        const T r = T(1) / piv;
        for (int i = j + 1; i < n; i++) a[at(i, j, lda)] *= r;
      } else
        for (int i = j + 1; i < n; i++) a[at(i, j, lda)] /= piv;
    } else if (info == 0) info = j + 1;
    // trailing update A(j+1:n, j+1:n) -= L(j+1:n, j) U(j, j+1:n)
    for (int c = j + 1; c < n; c++) {
      const T u = a[at(j, c, lda)];
      if (u != T(0))
        for (int i = j + 1; i < n; i++) a[at(i, c, lda)] -= a[at(i, j, lda)] * u;
    }
  }
  return info;
}

// swap the rows of the n x nrhs block b as the pivots of getrf say, forward or backward
template <typename T>
KOKKOS_INLINE_FUNCTION void applyPivots(int n, int nrhs, const int *ipiv, T *b, int ldb, bool forward)
{
  for (int s = 0; s < n; s++) {
    const int i = forward ? s : n - 1 - s, p = ipiv[i] - 1;
    if (p != i)
      for (int c = 0; c < nrhs; c++) {
        const T t = b[at(i, c, ldb)];
        b[at(i, c, ldb)] = b[at(p, c, ldb)];
        b[at(p, c, ldb)] = t;
      }
  }
}

// B <- op(A)^{-1} B with the factors of getrf: A = P L U, so A^{-1} = U^{-1} L^{-1} P^T and
// A^{-T} = P L^{-T} U^{-T}
template <typename T>
KOKKOS_INLINE_FUNCTION void luSolve(bool trans, int n, int nrhs, const T *a, int lda, const int *ipiv, T *b, int ldb)
{
  using Algo = kb::Algo::Trsm::Unblocked; // not Blocked: see trsm() below
  const Mat<const T> A = view(a, n, n, lda);
  const Mat<T> B = view(b, n, nrhs, ldb);
  if (!trans) {
    applyPivots(n, nrhs, ipiv, b, ldb, true);
    kb::SerialTrsm<kb::Side::Left, kb::Uplo::Lower, kb::Trans::NoTranspose, kb::Diag::Unit, Algo>::invoke(T(1), A, B);
    kb::SerialTrsm<kb::Side::Left, kb::Uplo::Upper, kb::Trans::NoTranspose, kb::Diag::NonUnit, Algo>::invoke(T(1), A, B);
  } else {
    kb::SerialTrsm<kb::Side::Left, kb::Uplo::Upper, kb::Trans::Transpose, kb::Diag::NonUnit, Algo>::invoke(T(1), A, B);
    kb::SerialTrsm<kb::Side::Left, kb::Uplo::Lower, kb::Trans::Transpose, kb::Diag::Unit, Algo>::invoke(T(1), A, B);
    applyPivots(n, nrhs, ipiv, b, ldb, false);
  }
}

// One batch: f(i) for every item.  On a device or threaded execution space one Kokkos::parallel_for;
// on the Serial space (Debian's Kokkos has no other) the items go over the host threads as the host
// backend's do, each item's kernels serial as on any space.  The kernels touch only the items'
// memory and unmanaged views, so threads need nothing from the Serial space's runtime.
template <typename F>
void forItems(const char *name, size_t n, const F &f)
{
#if defined(KOKKOS_ENABLE_SERIAL)
  if constexpr (std::is_same<ExecSpace, Kokkos::Serial>::value) {
    if (n > 1) {
      parallelFor(static_cast<int>(n), true, [&](int i) { f(i); });
      return;
    }
  }
#endif
  Kokkos::parallel_for(name, Policy(0, n), f);
}

// the item descriptors where the kernels can read them (no copy when the memory space is the host's)
template <typename Item>
auto itemsView(const std::vector<Item> &items)
{
  Kokkos::View<const Item *, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> h(items.data(), items.size());
  return Kokkos::create_mirror_view_and_copy(MemSpace(), h);
}

// per-item results (info) back to the host
inline void toHost(const Kokkos::View<int *, MemSpace> &d, std::vector<int> &out)
{
  out.assign(d.extent(0), 0);
  Kokkos::View<int *, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> h(out.data(), out.size());
  Kokkos::deep_copy(h, d);
}

template <typename T>
void gemm(T alpha, T beta, const std::vector<GemmItem<T>> &items)
{
  const auto d = itemsView(items);
  forItems("h2ulv::kokkos::gemm", items.size(), KOKKOS_LAMBDA(const int i) {
    const GemmItem<T> g = d(i);
    if (g.m <= 0 || g.n <= 0) return;
    const int k = g.k > 0 ? g.k : 0; // k = 0: C <- beta C
    kb::SerialGemm<kb::Trans::NoTranspose, kb::Trans::NoTranspose, kb::Algo::Gemm::Blocked>::invoke(
      alpha, opView(g.A, g.m, k, g.lda, isTrans(g.ta)), opView(g.B, k, g.n, g.ldb, isTrans(g.tb)), beta, view(g.C, g.m, g.n, g.ldc));
  });
}

// Algo::Trsm::Unblocked: in Kokkos Kernels 3.4 the Blocked serial left-upper trsm (used for
// upper/'N' and lower/'T') silently skips the solve when m*n > 64*64 (its large case is commented out)
template <typename Uplo, typename Trans, typename Diag, typename T>
void trsm(T alpha, const std::vector<TrsmItem<T>> &items)
{
  const auto d = itemsView(items);
  forItems("h2ulv::kokkos::trsm", items.size(), KOKKOS_LAMBDA(const int i) {
    const TrsmItem<T> t = d(i);
    if (t.m <= 0 || t.n <= 0) return;
    kb::SerialTrsm<kb::Side::Left, Uplo, Trans, Diag, kb::Algo::Trsm::Unblocked>::invoke(alpha, view(t.A, t.m, t.m, t.lda), view(t.B, t.m, t.n, t.ldb));
  });
}
template <typename Uplo, typename Trans, typename T>
void trsm(char diag, T alpha, const std::vector<TrsmItem<T>> &items)
{
  if (diag == 'U' || diag == 'u') trsm<Uplo, Trans, kb::Diag::Unit>(alpha, items);
  else trsm<Uplo, Trans, kb::Diag::NonUnit>(alpha, items);
}
template <typename Uplo, typename T>
void trsm(char trans, char diag, T alpha, const std::vector<TrsmItem<T>> &items)
{
  if (isTrans(trans)) trsm<Uplo, kb::Trans::Transpose>(diag, alpha, items);
  else trsm<Uplo, kb::Trans::NoTranspose>(diag, alpha, items);
}

template <typename T>
void factor(bool lu, const std::vector<FactorItem<T>> &items, std::vector<int> &info)
{
  const auto d = itemsView(items);
  Kokkos::View<int *, MemSpace> dinfo("h2ulv::kokkos::info", items.size()); // zero: n = 0 items
  forItems(lu ? "h2ulv::kokkos::getrf" : "h2ulv::kokkos::potrf", items.size(), KOKKOS_LAMBDA(const int i) {
    const FactorItem<T> f = d(i);
    if (f.n <= 0) return;
    dinfo(i) = lu ? luFactor(f.n, f.A, f.lda, f.ipiv) : cholesky(f.n, f.A, f.lda);
  });
  toHost(dinfo, info);
}

template <typename T>
void getrs(char trans, const std::vector<LuSolveItem<T>> &items)
{
  const auto d = itemsView(items);
  const bool tr = isTrans(trans);
  forItems("h2ulv::kokkos::getrs", items.size(), KOKKOS_LAMBDA(const int i) {
    const LuSolveItem<T> s = d(i);
    if (s.n <= 0 || s.nrhs <= 0) return;
    luSolve(tr, s.n, s.nrhs, s.A, s.lda, s.ipiv, s.B, s.ldb);
  });
}

template <typename T>
void copy(T alpha, const std::vector<CopyItem<T>> &items)
{
  const auto d = itemsView(items);
  forItems("h2ulv::kokkos::copy", items.size(), KOKKOS_LAMBDA(const int i) {
    const CopyItem<T> c = d(i);
    const bool tr = isTrans(c.trans);
    for (int j = 0; j < c.n; j++)
      for (int r = 0; r < c.m; r++) c.B[at(r, j, c.ldb)] = alpha * c.A[tr ? at(j, r, c.lda) : at(r, j, c.lda)];
  });
}

template <typename T>
void diagonals(const std::vector<FactorItem<T>> &items, std::vector<double> &out)
{
  // where each item's diagonal goes in the output
  std::vector<size_t> offsets(items.size() + 1, 0);
  for (size_t i = 0; i < items.size(); i++) offsets[i + 1] = offsets[i] + static_cast<size_t>(items[i].n > 0 ? items[i].n : 0);
  const auto d = itemsView(items);
  const auto doff = itemsView(offsets);
  Kokkos::View<T *, MemSpace> diag(Kokkos::view_alloc(Kokkos::WithoutInitializing, "h2ulv::kokkos::diagonals"), offsets.back());
  forItems("h2ulv::kokkos::diagonals", items.size(), KOKKOS_LAMBDA(const int i) {
    const FactorItem<T> f = d(i);
    for (int t = 0; t < f.n; t++) diag(doff(i) + t) = f.A[at(t, t, f.lda)];
  });
  const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), diag);
  out.resize(offsets.back());
  for (size_t t = 0; t < out.size(); t++) out[t] = static_cast<double>(h(t));
}

// Kokkos is initialized by the first Kokkos backend, and finalized at exit if we initialized it
static std::mutex initMutex;
static bool weInitialized = false;

void finalizeAtExit()
{
  if (Kokkos::is_initialized()) Kokkos::finalize();
}

void ensureInitialized()
{
  std::lock_guard<std::mutex> lock(initMutex);
  if (Kokkos::is_initialized()) return;
  if (weInitialized) throw Error(ERR_SUPPORT, "Kokkos was finalized: the Kokkos backend cannot be used any more in this process");
  try {
    Kokkos::initialize();
  } catch (const std::exception &e) {
    throw Error(ERR_SUPPORT, std::string("Kokkos::initialize failed: ") + e.what());
  }
  weInitialized = true;
  std::atexit(finalizeAtExit);
}

// backend memory, zero-filled; after Kokkos::finalize (at exit) memory is not freed any more
void *allocBytes(size_t bytes)
{
  if (!Kokkos::is_initialized()) throw Error(ERR_SUPPORT, "Kokkos is not initialized");
  void *p = nullptr;
  try {
    p = Kokkos::kokkos_malloc<MemSpace>("h2ulv", bytes ? bytes : 1);
  } catch (const std::exception &e) {
    throw Error(ERR_LIB, "out of memory: could not allocate " + std::to_string(bytes) + " bytes of Kokkos memory (" + e.what() + ")");
  }
  Kokkos::View<unsigned char *, MemSpace, Kokkos::MemoryUnmanaged> v(static_cast<unsigned char *>(p), bytes);
  Kokkos::deep_copy(v, static_cast<unsigned char>(0));
  return p;
}
void freeBytes(void *p)
{
  if (p && Kokkos::is_initialized()) Kokkos::kokkos_free<MemSpace>(p);
}

// host <-> backend copies of n values
template <typename V>
void toBackend(V *dst, const V *src, size_t n)
{
  if (!n) return;
  Kokkos::View<const V *, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> h(src, n);
  Kokkos::View<V *, MemSpace, Kokkos::MemoryUnmanaged> d(dst, n);
  Kokkos::deep_copy(d, h);
}
template <typename V>
void fromBackend(V *dst, const V *src, size_t n)
{
  if (!n) return;
  Kokkos::View<V *, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> h(dst, n);
  Kokkos::View<const V *, MemSpace, Kokkos::MemoryUnmanaged> d(src, n);
  Kokkos::deep_copy(h, d);
  ExecSpace().fence();
}

} // namespace kokkos_backend

namespace {

template <typename T>
class KokkosBackend final : public Backend<T> {
public:
  explicit KokkosBackend(const BackendRequest &) { kokkos_backend::ensureInitialized(); }
  BackendKind kind() const override { return BackendKind::Kokkos; }
  std::string describe() const override
  {
    std::ostringstream os;
    os << "kokkos (" << kokkos_backend::ExecSpace::name() << ", Kokkos " << KOKKOS_VERSION / 10000 << "." << KOKKOS_VERSION / 100 % 100;
#if defined(KOKKOS_ENABLE_SERIAL)
    if (std::is_same<kokkos_backend::ExecSpace, Kokkos::Serial>::value) os << ", items over " << defaultThreads() << " host thread" << (defaultThreads() > 1 ? "s" : "");
#endif
    os << ")";
    return os.str();
  }

  void synchronize() override { Kokkos::fence(); }
  T *alloc(size_t n) override { return static_cast<T *>(kokkos_backend::allocBytes(n * sizeof(T))); }
  void release(T *p) override { kokkos_backend::freeBytes(p); }
  int *allocInt(size_t n) override { return static_cast<int *>(kokkos_backend::allocBytes(n * sizeof(int))); }
  void releaseInt(int *p) override { kokkos_backend::freeBytes(p); }
  void upload(T *dst, const T *src, size_t n) override { kokkos_backend::toBackend(dst, src, n); }
  void download(T *dst, const T *src, size_t n) override { kokkos_backend::fromBackend(dst, src, n); }
  void downloadInt(int *dst, const int *src, size_t n) override { kokkos_backend::fromBackend(dst, src, n); }

  void gemm(T alpha, T beta, const std::vector<GemmItem<T>> &items) override
  {
    if (!items.empty()) kokkos_backend::gemm(alpha, beta, items);
  }
  void trsm(char uplo, char trans, char diag, T alpha, const std::vector<TrsmItem<T>> &items) override
  {
    namespace kb = KokkosBatched;
    if (items.empty()) return;
    if (uplo == 'L' || uplo == 'l') kokkos_backend::trsm<kb::Uplo::Lower>(trans, diag, alpha, items);
    else kokkos_backend::trsm<kb::Uplo::Upper>(trans, diag, alpha, items);
  }
  void potrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) override
  {
    if (items.empty()) info.clear();
    else kokkos_backend::factor(false, items, info);
  }
  void getrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) override
  {
    if (items.empty()) info.clear();
    else kokkos_backend::factor(true, items, info);
  }
  void getrs(char trans, const std::vector<LuSolveItem<T>> &items) override
  {
    if (!items.empty()) kokkos_backend::getrs(trans, items);
  }
  void copy(T alpha, const std::vector<CopyItem<T>> &items) override
  {
    if (!items.empty()) kokkos_backend::copy(alpha, items);
  }
  void diagonals(const std::vector<FactorItem<T>> &items, std::vector<double> &out) override
  {
    if (items.empty()) out.clear();
    else kokkos_backend::diagonals(items, out);
  }
};

} // namespace

template <typename T>
std::unique_ptr<Backend<T>> makeKokkosBackend(const BackendRequest &req)
{
  return std::make_unique<KokkosBackend<T>>(req);
}

template std::unique_ptr<Backend<double>> makeKokkosBackend<double>(const BackendRequest &);
template std::unique_ptr<Backend<float>> makeKokkosBackend<float>(const BackendRequest &);

} // namespace h2ulv
