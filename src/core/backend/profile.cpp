// A backend that forwards every call to another and reports each batch (operation, flops) to a
// hook before and after it: -log_view's per-operation events of PCH2ULV (src/pc/h2ulv/pch2ulv.cxx).
#include "backend.hpp"

namespace h2ulv {

namespace {

template <typename T>
class ProfiledBackend final : public Backend<T> {
public:
  ProfiledBackend(std::unique_ptr<Backend<T>> inner, BatchHook hook, bool sync) : in_(std::move(inner)), hook_(std::move(hook)), sync_(sync) { }
  BackendKind kind() const override { return in_->kind(); }
  std::string describe() const override { return in_->describe(); }
  bool hostAccessible() const override { return in_->hostAccessible(); }
  T *alloc(size_t n) override { return in_->alloc(n); }
  T *adopt(T *p, size_t n) override { return in_->adopt(p, n); }
  void release(T *p) override { in_->release(p); }
  int *allocInt(size_t n) override { return in_->allocInt(n); }
  void releaseInt(int *p) override { in_->releaseInt(p); }
  void upload(T *dst, const T *src, size_t n) override { in_->upload(dst, src, n); }
  void download(T *dst, const T *src, size_t n) override { in_->download(dst, src, n); }
  void downloadInt(int *dst, const int *src, size_t n) override { in_->downloadInt(dst, src, n); }
  void synchronize() override { in_->synchronize(); }
  void trimCache(size_t keep) override { in_->trimCache(keep); }
  void diagonals(const std::vector<FactorItem<T>> &items, std::vector<double> &out) override { in_->diagonals(items, out); }

  void gemm(T alpha, T beta, const std::vector<GemmItem<T>> &items) override
  {
    double f = 0;
    for (const auto &g : items) f += 2.0 * g.m * g.n * g.k;
    timed(BatchOp::Gemm, f, [&] { in_->gemm(alpha, beta, items); });
  }
  void trsm(char uplo, char trans, char diag, T alpha, const std::vector<TrsmItem<T>> &items) override
  {
    double f = 0;
    for (const auto &t : items) f += 1.0 * t.m * t.m * t.n;
    timed(BatchOp::Trsm, f, [&] { in_->trsm(uplo, trans, diag, alpha, items); });
  }
  void potrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) override
  {
    double f = 0;
    for (const auto &t : items) f += 1.0 * t.n * t.n * t.n / 3;
    timed(BatchOp::Potrf, f, [&] { in_->potrf(items, info); });
  }
  void getrf(const std::vector<FactorItem<T>> &items, std::vector<int> &info) override
  {
    double f = 0;
    for (const auto &t : items) f += 2.0 * t.n * t.n * t.n / 3;
    timed(BatchOp::Getrf, f, [&] { in_->getrf(items, info); });
  }
  void getrs(char trans, const std::vector<LuSolveItem<T>> &items) override
  {
    double f = 0;
    for (const auto &t : items) f += 2.0 * t.n * t.n * t.nrhs;
    timed(BatchOp::Getrs, f, [&] { in_->getrs(trans, items); });
  }
  void copy(T alpha, const std::vector<CopyItem<T>> &items) override
  {
    timed(BatchOp::Copy, 0, [&] { in_->copy(alpha, items); });
  }

private:
  template <typename F>
  void timed(BatchOp op, double flops, F &&f)
  {
    hook_(op, true, 0);
    try {
      f();
      if (sync_) in_->synchronize();
    } catch (...) {
      hook_(op, false, 0);
      throw;
    }
    hook_(op, false, flops);
  }
  std::unique_ptr<Backend<T>> in_;
  BatchHook hook_;
  bool sync_;
};

} // namespace

template <typename T>
std::unique_ptr<Backend<T>> makeProfiledBackend(std::unique_ptr<Backend<T>> inner, BatchHook hook, bool sync)
{
  if (!hook) return inner;
  return std::make_unique<ProfiledBackend<T>>(std::move(inner), std::move(hook), sync);
}
template std::unique_ptr<Backend<double>> makeProfiledBackend<double>(std::unique_ptr<Backend<double>>, BatchHook, bool);
template std::unique_ptr<Backend<float>> makeProfiledBackend<float>(std::unique_ptr<Backend<float>>, BatchHook, bool);

} // namespace h2ulv
