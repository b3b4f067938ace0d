// The host backend: OpenBLAS/LAPACK, the items of a batch spread over the threads.
#include "backend.hpp"

#include "../dense.hpp"
#include "../parallel.hpp"

#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <unordered_map>
#include <sstream>

namespace h2ulv {

namespace {

template <typename T>
class HostBackend final : public Backend<T> {
public:
  explicit HostBackend(const BackendRequest &req) : threaded_(req.threaded) { }
  BackendKind kind() const override { return BackendKind::Host; }
  std::string describe() const override
  {
    std::ostringstream os;
    os << "host (BLAS/LAPACK, " << (threaded_ ? defaultThreads() : 1) << " thread" << ((threaded_ ? defaultThreads() : 1) > 1 ? "s" : "") << ")";
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
    void *p = std::malloc(std::max<size_t>(1, n) * sizeof(T));
    if (!p) {
      trim(0);
      p = std::malloc(std::max<size_t>(1, n) * sizeof(T));
    }
    if (!p) throw Error(ERR_LIB, "out of memory: could not allocate " + std::to_string(n * sizeof(T)) + " bytes");
    sizes_[static_cast<T *>(p)] = n;
    return static_cast<T *>(p);
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
  // the items over the threads; one item (the root) with threaded BLAS; a batch too small to
  // pay for a parallel region (work: multiply-adds) on the calling thread
  template <typename F>
  void run(size_t n, double work, F &&f)
  {
    if (n == 1) { // one item (the dense root): OpenBLAS's own threads, when the caller allows them
      const BlasThreadsWide wide(threaded_ && work >= 1e8);
      f(0);
    } else if (work < 2e5)
      for (size_t i = 0; i < n; i++) f(i);
    else parallelFor(static_cast<int>(n), threaded_, [&](int i) { f(static_cast<size_t>(i)); });
  }
  bool threaded_;
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
