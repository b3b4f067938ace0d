// The host backend: OpenBLAS/LAPACK, the items of a batch spread over the threads.
#include "backend.hpp"

#include "../dense.hpp"
#include "../parallel.hpp"

#include <cfenv>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <sstream>
#include <type_traits>
#include <unordered_map>

#include <sys/mman.h>

namespace h2ulv {

namespace {

// The tensor-core GEMM of tensor.hpp, emulated for one item: op(A) and op(B) rounded (plain) or
// split (corrected) into packed TF32 copies, each tensor-core product an FP32 GEMM on this thread
// with the rounding mode toward zero, each epilogue C <- alpha P + beta C rounded to nearest.
class TensorGemmEmulation {
public:
  TensorGemmEmulation(TensorMode mode, float alpha, float beta, const GemmItem<float> &g) : mode_(mode), alpha_(alpha), g_(g)
  {
    const int m = g.m, n = g.n, k = g.k;
    pack(g.ta, m, k, g.A, g.lda, ah_, al_);
    pack(g.tb, k, n, g.B, g.ldb, bh_, bl_);
    p_.resize(static_cast<size_t>(m) * n);
    if (mode == TensorMode::Plain) {
      product(ah_.data(), bh_.data(), 0, k);
      epilogue(beta);
      return;
    }
    product(al_.data(), bh_.data(), 0, k); // the corrections first (the smaller terms)
    epilogue(beta);
    product(ah_.data(), bl_.data(), 0, k);
    epilogue(1);
    for (int k0 = 0; k0 < k; k0 += kTensorChunk) {
      product(ah_.data(), bh_.data(), k0, std::min(kTensorChunk, k - k0));
      epilogue(1);
    }
  }

private:
  // op(X) (rows x cols) into packed hi (and lo) copies
  void pack(char trans, int rows, int cols, const float *x, int ld, std::vector<float> &hi, std::vector<float> &lo)
  {
    const size_t sz = static_cast<size_t>(rows) * cols;
    hi.resize(sz);
    if (mode_ == TensorMode::Corrected) lo.resize(sz);
    const bool t = trans == 'T' || trans == 't' || trans == 'C' || trans == 'c';
    for (int j = 0; j < cols; j++)
      for (int i = 0; i < rows; i++) {
        const float v = t ? x[j + static_cast<size_t>(i) * ld] : x[i + static_cast<size_t>(j) * ld];
        const size_t o = i + static_cast<size_t>(j) * rows;
        if (mode_ == TensorMode::Corrected) tf32Split(v, hi[o], lo[o]);
        else hi[o] = tf32Round(v);
      }
  }
  // P <- A(:, k0:k0+kk) B(k0:k0+kk, :), accumulated toward zero
  void product(const float *a, const float *b, int k0, int kk)
  {
    const int m = g_.m, n = g_.n, k = g_.k;
    const int saved = std::fegetround();
    std::fesetround(FE_TOWARDZERO);
    blas::gemm('N', 'N', m, n, kk, 1.0f, a + static_cast<size_t>(k0) * m, m, b + k0, k, 0.0f, p_.data(), m);
    std::fesetround(saved);
  }
  // C <- alpha P + beta C, to nearest (beta = 0: C is not read)
  void epilogue(float beta)
  {
    for (int j = 0; j < g_.n; j++)
      for (int i = 0; i < g_.m; i++) {
        float &c = g_.C[i + static_cast<size_t>(j) * g_.ldc];
        const float pv = alpha_ * p_[i + static_cast<size_t>(j) * g_.m];
        c = beta == 0.0f ? pv : pv + beta * c;
      }
  }
  TensorMode mode_;
  float alpha_;
  const GemmItem<float> &g_;
  std::vector<float> ah_, al_, bh_, bl_, p_;
};

template <typename T>
class HostBackend final : public Backend<T> {
public:
  explicit HostBackend(const BackendRequest &req) : threaded_(req.threaded), tensor_(std::is_same<T, float>::value ? req.tensor : TensorMode::Off) { }
  BackendKind kind() const override { return BackendKind::Host; }
  std::string describe() const override
  {
    std::ostringstream os;
    os << "host (BLAS/LAPACK, " << (threaded_ ? defaultThreads() : 1) << " thread" << ((threaded_ ? defaultThreads() : 1) > 1 ? "s" : "");
    if (tensor_ != TensorMode::Off) os << ", " << tensorModeName(tensor_) << " GEMMs emulated";
    os << ")";
    return os.str();
  }
  // Large level buffers come and go level by level, and every PCApply allocates its own: fresh
  // memory from the system costs a page fault (and the kernel's zeroing) per page, which was a
  // fifth of the whole setup.  Released blocks are kept (up to cacheMax_ bytes) and reused.
  bool hostAccessible() const override { return true; }
  T *alloc(size_t n) override
  {
    auto it = cache_.lower_bound(n);
    if (it != cache_.end() && it->first <= 2 * n + 4096) {
      T *p = it->second;
      sizes_[p] = it->first;
      cached_ -= it->first * sizeof(T);
      cache_.erase(it);
      return p;
    }
    void *p = fresh(n * sizeof(T));
    if (!p) {
      trim(0);
      p = fresh(n * sizeof(T));
    }
    if (!p) throw Error(ERR_LIB, "out of memory: could not allocate " + std::to_string(n * sizeof(T)) + " bytes");
    sizes_[static_cast<T *>(p)] = n;
    return static_cast<T *>(p);
  }
  T *adopt(T *p, size_t n) override
  {
    sizes_[p] = n;
    return p;
  }
  void release(T *p) override
  {
    auto it = sizes_.find(p);
    if (it == sizes_.end()) {
      std::free(p);
      return;
    }
    const size_t n = it->second;
    sizes_.erase(it);
    if (n * sizeof(T) >= 65536 && n * sizeof(T) <= cacheMax_) {
      cache_.emplace(n, p);
      cached_ += n * sizeof(T);
      trim(cacheMax_);
    } else std::free(p);
  }
  ~HostBackend() override { trim(0); }
  void trimCache(size_t keep) override { trim(keep); }
  int *allocInt(size_t n) override
  {
    void *p = std::calloc(n, sizeof(int));
    if (!p) throw Error(ERR_LIB, "out of memory");
    return static_cast<int *>(p);
  }
  void releaseInt(int *p) override { std::free(p); }
  void upload(T *dst, const T *src, size_t n) override
  {
    if (n) std::memcpy(dst, src, n * sizeof(T));
  }
  void download(T *dst, const T *src, size_t n) override
  {
    if (n) std::memcpy(dst, src, n * sizeof(T));
  }
  void downloadInt(int *dst, const int *src, size_t n) override
  {
    if (n) std::memcpy(dst, src, n * sizeof(int));
  }

  void gemm(T alpha, T beta, const std::vector<GemmItem<T>> &items) override
  {
    double w = 0;
    for (const auto &g : items) w += static_cast<double>(g.m) * g.n * g.k;
    if (tensor_ != TensorMode::Off) return emulatedGemm(alpha, beta, items, w);
    run(items.size(), w, [&](size_t i) {
      const auto &g = items[i];
      blas::gemm(g.ta, g.tb, g.m, g.n, g.k, alpha, g.A, g.lda, g.B, g.ldb, beta, g.C, g.ldc);
    });
  }
  void trsm(char uplo, char trans, char diag, T alpha, const std::vector<TrsmItem<T>> &items) override
  {
    double w = 0;
    for (const auto &t : items) w += static_cast<double>(t.m) * t.m * t.n;
    run(items.size(), w, [&](size_t i) {
      const auto &t = items[i];
      blas::trsm('L', uplo, trans, diag, t.m, t.n, alpha, t.A, t.lda, t.B, t.ldb);
    });
  }
  void potrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) override
  {
    info.assign(items.size(), 0);
    run(items.size(), 1e30, [&](size_t i) {
      const auto &f = items[i];
      if (f.n > 0) info[i] = blas::potrf('L', f.n, f.A, f.lda);
    });
  }
  void getrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) override
  {
    info.assign(items.size(), 0);
    run(items.size(), 1e30, [&](size_t i) {
      const auto &f = items[i];
      if (f.n > 0) info[i] = blas::getrf(f.n, f.A, f.lda, f.ipiv);
    });
  }
  void getrs(char trans, const std::vector<LuSolveItem<T>> &items) override
  {
    double w = 0;
    for (const auto &t : items) w += static_cast<double>(t.n) * t.n * t.nrhs;
    run(items.size(), w, [&](size_t i) {
      const auto &s = items[i];
      if (s.n > 0 && s.nrhs > 0) blas::getrs(trans, s.n, s.nrhs, s.A, s.lda, s.ipiv, s.B, s.ldb);
    });
  }
  void copy(T alpha, const std::vector<CopyItem<T>> &items) override
  {
    double w = 0;
    for (const auto &c : items) w += static_cast<double>(c.m) * c.n;
    run(items.size(), w / 16, [&](size_t i) {
      const auto &c = items[i];
      if (c.trans == 'N')
        for (int j = 0; j < c.n; j++)
          for (int t = 0; t < c.m; t++) c.B[t + static_cast<size_t>(j) * c.ldb] = alpha * c.A[t + static_cast<size_t>(j) * c.lda];
      else
        for (int j = 0; j < c.n; j++)
          for (int t = 0; t < c.m; t++) c.B[t + static_cast<size_t>(j) * c.ldb] = alpha * c.A[j + static_cast<size_t>(t) * c.lda];
    });
  }
  void diagonals(const std::vector<FactorItem<T>> &items, std::vector<double> &out) override
  {
    out.clear();
    for (const auto &f : items)
      for (int t = 0; t < f.n; t++) out.push_back(static_cast<double>(f.A[t + static_cast<size_t>(t) * f.lda]));
  }

private:
  // Fresh memory.  A block of several MB is aligned to 2 MB and marked for transparent huge pages:
  // its first touch then costs one page fault per 2 MB instead of one per 4 KB (on a virtual
  // machine a fault is dear: with 4 KB pages they took about a fifth of a factorization).
  static void *fresh(size_t bytes)
  {
    constexpr size_t huge = size_t(2) << 20;
    if (bytes < 4 * huge) return std::malloc(std::max<size_t>(1, bytes));
    const size_t whole = (bytes + huge - 1) / huge * huge;
    void *p = nullptr;
    if (posix_memalign(&p, huge, whole)) return nullptr;
#if defined(MADV_HUGEPAGE)
    (void)madvise(p, whole, MADV_HUGEPAGE);
#endif
    return p;
  }
  // the tensor-core GEMMs emulated (T = float only): BLAS on each calling thread alone, since the
  // rounding mode is a thread's own
  void emulatedGemm(T alpha, T beta, const std::vector<GemmItem<T>> &items, double work)
  {
    if constexpr (std::is_same<T, float>::value) {
      const BlasOneThread one;
      run(items.size(), work, [&](size_t i) {
        const auto &g = items[i];
        if (g.m <= 0 || g.n <= 0) return;
        if (g.k <= 0) blas::gemm(g.ta, g.tb, g.m, g.n, g.k, alpha, g.A, g.lda, g.B, g.ldb, beta, g.C, g.ldc);
        else TensorGemmEmulation(tensor_, alpha, beta, g);
      }, false);
    }
  }
  void trim(size_t keep) // free cached blocks, largest first, until at most keep bytes are cached
  {
    while (cached_ > keep && !cache_.empty()) {
      auto it = std::prev(cache_.end());
      cached_ -= it->first * sizeof(T);
      std::free(it->second);
      cache_.erase(it);
    }
  }
  std::multimap<size_t, T *> cache_;          // released blocks by size (elements)
  std::unordered_map<T *, size_t> sizes_;     // live blocks
  size_t cached_ = 0, cacheMax_ = size_t(1) << 30;
  // the items over the threads; one item (the root) with threaded BLAS unless widen is false; a
  // batch too small to pay for a parallel region (work: multiply-adds) on the calling thread
  template <typename F>
  void run(size_t n, double work, F &&f, bool widen = true)
  {
    if (n == 1) { // one item (the dense root): OpenBLAS's own threads, when the caller allows them
      const BlasThreadsWide wide(widen && threaded_ && work >= 1e8);
      f(0);
    } else if (work < 2e5)
      for (size_t i = 0; i < n; i++) f(i);
    else parallelFor(static_cast<int>(n), threaded_, [&](int i) { f(static_cast<size_t>(i)); });
  }
  bool threaded_;
  TensorMode tensor_;
};

} // namespace

template <typename T>
std::unique_ptr<Backend<T>> makeHostBackend(const BackendRequest &req)
{
  return std::make_unique<HostBackend<T>>(req);
}

template std::unique_ptr<Backend<double>> makeHostBackend<double>(const BackendRequest &);
template std::unique_ptr<Backend<float>> makeHostBackend<float>(const BackendRequest &);

} // namespace h2ulv
