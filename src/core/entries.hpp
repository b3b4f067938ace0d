// Matrix entries for the core: every stage asks for blocks A(rows, cols) with rows and columns given
// as tree positions.  Implementations: built-in kernels (inlined loops), a user point kernel, a user
// block callback (user numbering), and an assembled dense matrix.
#pragma once

#include "dense.hpp"
#include "tree.hpp"

#include <cmath>
#include <functional>
#include <memory>
#include <string>

namespace h2ulv {

class EntryEvaluator {
public:
  virtual ~EntryEvaluator() = default;
  // out[i + j*ld] = A(rows[i], cols[j]), tree positions; throws h2ulv::Error on failure.
  virtual void eval(const int *rows, int m, const int *cols, int n, double *out, int ld) const = 0;
  // may eval() be called from several threads at once?
  virtual bool threadSafe() const { return true; }
  // does eval() write every entry of the block (so a new block need not be cleared first)?  Only
  // the library's own kernels promise it; a user's function that leaves an entry gives a zero.
  virtual bool writesWhole() const { return false; }
};

enum class KernelKind { Laplace, Yukawa, Gaussian, Exponential, Matern32, Matern52, IMQ };

struct KernelParams {
  KernelKind kind = KernelKind::Laplace;
  double scale = 1.0;  // s
  double param = 1.0;  // length scale l (alpha for Yukawa)
  double diag = NAN;   // A_ii; NaN means kernel(0) (smooth kernels) -- required for singular ones
  double nugget = 0.0; // added to A_ii
};

inline bool kernelSingular(KernelKind k) { return k == KernelKind::Laplace || k == KernelKind::Yukawa; }

// kernel value at distance r > 0 (or r = 0 for smooth kernels); Exp computes exp (kernels.cpp
// passes the vectorized one)
struct StdExp {
  double operator()(double x) const { return std::exp(x); }
};
template <KernelKind K, typename Exp = StdExp>
inline double kernelValue(double r, double s, double p, Exp ex = Exp())
{
  constexpr double inv4pi = 0.079577471545947667884;
  if constexpr (K == KernelKind::Laplace) return s * inv4pi / r;
  else if constexpr (K == KernelKind::Yukawa) return s * inv4pi * ex(-p * r) / r;
  else if constexpr (K == KernelKind::Gaussian) return s * ex(-(r * r) / (p * p));
  else if constexpr (K == KernelKind::Exponential) return s * ex(-r / p);
  else if constexpr (K == KernelKind::Matern32) {
    double t = 1.7320508075688772 * r / p;
    return s * (1.0 + t) * ex(-t);
  } else if constexpr (K == KernelKind::Matern52) {
    double t = 2.2360679774997897 * r / p;
    return s * (1.0 + t + t * t / 3.0) * ex(-t);
  } else return s / std::sqrt(r * r + p * p);
}

// out[i + j*ld] = K(|x_rows[i] - x_cols[j]|) for the points X (dim coordinates each, tree order):
// self entries (rows[i] == cols[j]) are dself, distinct coincident points k0 (src/core/kernels.cpp)
void kernelBlock(KernelKind K, int dim, const double *X, const int *rows, int m, const int *cols, int n, double *out, int ld, double s, double p, double dself, double k0);

// no Inf or NaN among a[0..n) (vectorized; src/core/kernels.cpp)
bool allFinite(const double *a, size_t n);

// Diagonal entries are A_ii = diag + nugget (rows[i] == cols[j]); coincident distinct points take
// the same self value for singular kernels (documented: duplicate points are a regularised limit).
class BuiltinKernel : public EntryEvaluator {
public:
  BuiltinKernel(const ClusterTree &t, const KernelParams &p) : tree_(t), p_(p)
  {
    if (std::isnan(p_.diag)) {
      if (kernelSingular(p.kind)) throw Error(ERR_ARG, "the Laplace and Yukawa kernels are singular at r = 0: set the diagonal value (-mat_h2_kernel_diag)");
      p_.diag = evalr(0.0);
    }
  }
  bool writesWhole() const override { return true; }
  void eval(const int *rows, int m, const int *cols, int n, double *out, int ld) const override
  {
    // coincident distinct points: the self value of a singular kernel, kernel(0) otherwise
    const double k0 = kernelSingular(p_.kind) ? p_.diag : evalr(0.0);
    kernelBlock(p_.kind, tree_.dim(), tree_.coords().data(), rows, m, cols, n, out, ld, p_.scale, p_.param, p_.diag + p_.nugget, k0);
  }
  double evalr(double r) const
  {
    switch (p_.kind) {
    case KernelKind::Laplace: return kernelValue<KernelKind::Laplace>(r, p_.scale, p_.param);
    case KernelKind::Yukawa: return kernelValue<KernelKind::Yukawa>(r, p_.scale, p_.param);
    case KernelKind::Gaussian: return kernelValue<KernelKind::Gaussian>(r, p_.scale, p_.param);
    case KernelKind::Exponential: return kernelValue<KernelKind::Exponential>(r, p_.scale, p_.param);
    case KernelKind::Matern32: return kernelValue<KernelKind::Matern32>(r, p_.scale, p_.param);
    case KernelKind::Matern52: return kernelValue<KernelKind::Matern52>(r, p_.scale, p_.param);
    case KernelKind::IMQ: return kernelValue<KernelKind::IMQ>(r, p_.scale, p_.param);
    }
    return 0;
  }
  const KernelParams &params() const { return p_; }

private:
  const ClusterTree &tree_;
  KernelParams p_;
};

// User point kernel A_ij = fn(dim, x_i, x_j, ctx), called once per entry through a plain function
// pointer (no wrapper between the loop and the user's code); a block is checked for Inf/NaN after it
// is filled (the kernel's only way to report failure), and the first such entry is named in the error.
class FunctionKernel : public EntryEvaluator {
public:
  using Fn = double (*)(int dim, const double *x, const double *y, void *ctx);
  FunctionKernel(const ClusterTree &t, Fn f, void *ctx, bool threadsafe) : tree_(t), f_(f), ctx_(ctx), ts_(threadsafe) { }
  void eval(const int *rows, int m, const int *cols, int n, double *out, int ld) const override
  {
    const int     d = tree_.dim();
    const double *X = tree_.coords().data();
    for (int j = 0; j < n; j++) {
      const double *y = X + static_cast<size_t>(cols[j]) * d;
      double       *o = out + static_cast<size_t>(j) * ld;
      for (int i = 0; i < m; i++) o[i] = f_(d, X + static_cast<size_t>(rows[i]) * d, y, ctx_);
      if (!allFinite(o, static_cast<size_t>(m))) notFinite(rows, m, cols[j], o);
    }
  }
  bool threadSafe() const override { return ts_; }
  bool writesWhole() const override { return true; }

private:
  [[noreturn]] void notFinite(const int *rows, int m, int col, const double *o) const
  {
    int i = 0;
    while (i < m - 1 && std::isfinite(o[i])) i++;
    throw Error(ERR_NUMERIC, "the matrix entries are not finite: the MatH2SetKernel callback returned " + std::to_string(o[i]) + " for A(" + std::to_string(tree_.perm()[rows[i]]) + ", " + std::to_string(tree_.perm()[col]) +
                               ") (check the kernel)");
  }
  const ClusterTree &tree_;
  Fn                 f_;
  void              *ctx_;
  bool               ts_;
};

// User point kernel by blocks: fn(dim, m, x, n, y, out, ld, ctx) fills out[i + j*ld] = K(x_i, y_j)
// for the gathered row and column points, one call per block (the user's loop can vectorise); a
// nonzero return is the user's error, and the block is checked for Inf/NaN as FunctionKernel's.
class PointBlockKernel : public EntryEvaluator {
public:
  using Fn = int (*)(int dim, int m, const double *x, int n, const double *y, double *out, int ld, void *ctx);
  PointBlockKernel(const ClusterTree &t, Fn f, void *ctx, bool threadsafe) : tree_(t), f_(f), ctx_(ctx), ts_(threadsafe) { }
  void eval(const int *rows, int m, const int *cols, int n, double *out, int ld) const override
  {
    if (m == 0 || n == 0) return;
    const int           d = tree_.dim();
    const double       *X = tree_.coords().data();
    std::vector<double> x(static_cast<size_t>(m) * d), y(static_cast<size_t>(n) * d);
    for (int i = 0; i < m; i++)
      for (int k = 0; k < d; k++) x[static_cast<size_t>(i) * d + k] = X[static_cast<size_t>(rows[i]) * d + k];
    for (int j = 0; j < n; j++)
      for (int k = 0; k < d; k++) y[static_cast<size_t>(j) * d + k] = X[static_cast<size_t>(cols[j]) * d + k];
    const int ierr = f_(d, m, x.data(), n, y.data(), out, ld, ctx_);
    if (ierr) throw Error(ERR_USER, "the MatH2SetKernelBlock callback returned error code " + std::to_string(ierr));
    for (int j = 0; j < n; j++) {
      const double *o = out + static_cast<size_t>(j) * ld;
      if (allFinite(o, static_cast<size_t>(m))) continue;
      int i = 0;
      while (i < m - 1 && std::isfinite(o[i])) i++;
      throw Error(ERR_NUMERIC, "the matrix entries are not finite: the MatH2SetKernelBlock callback returned " + std::to_string(o[i]) + " for A(" + std::to_string(tree_.perm()[rows[i]]) + ", " + std::to_string(tree_.perm()[cols[j]]) + ") (check the kernel)");
    }
  }
  bool threadSafe() const override { return ts_; }

private:
  const ClusterTree &tree_;
  Fn                 f_;
  void              *ctx_;
  bool               ts_;
};

// User block callback in user numbering (tree positions mapped through perm).
class BlockCallback : public EntryEvaluator {
public:
  using Fn = std::function<int(int m, const int *rows, int n, const int *cols, double *out, int ld)>;
  BlockCallback(const ClusterTree &t, Fn f, bool threadsafe) : tree_(t), f_(std::move(f)), ts_(threadsafe) { }
  void eval(const int *rows, int m, const int *cols, int n, double *out, int ld) const override
  {
    std::vector<int> ur(m), uc(n);
    for (int i = 0; i < m; i++) ur[i] = tree_.perm()[rows[i]];
    for (int j = 0; j < n; j++) uc[j] = tree_.perm()[cols[j]];
    int ierr = f_(m, ur.data(), n, uc.data(), out, ld);
    if (ierr) throw Error(ERR_USER, "the MatH2SetEntries callback returned error code " + std::to_string(ierr));
  }
  bool threadSafe() const override { return ts_; }

private:
  const ClusterTree &tree_;
  Fn f_;
  bool ts_;
};

// Entries of an assembled dense matrix held in full (user numbering, column-major, ld = N).
class DenseEntries : public EntryEvaluator {
public:
  DenseEntries(const ClusterTree &t, std::vector<double> a) : tree_(t), a_(std::move(a)) { }
  void eval(const int *rows, int m, const int *cols, int n, double *out, int ld) const override
  {
    const size_t N = static_cast<size_t>(tree_.size());
    for (int j = 0; j < n; j++) {
      const double *c = a_.data() + static_cast<size_t>(tree_.perm()[cols[j]]) * N;
      for (int i = 0; i < m; i++) out[i + static_cast<size_t>(j) * ld] = c[tree_.perm()[rows[i]]];
    }
  }
  bool writesWhole() const override { return true; }

private:
  const ClusterTree &tree_;
  std::vector<double> a_;
};

// The entries of another evaluator seen through a renumbering of the points (another tree over the
// same points): position t here is position map[t] there.
class PermutedEntries : public EntryEvaluator {
public:
  PermutedEntries(std::shared_ptr<const EntryEvaluator> base, std::vector<int> map) : base_(std::move(base)), map_(std::move(map)) { }
  void eval(const int *rows, int m, const int *cols, int n, double *out, int ld) const override
  {
    std::vector<int> r(m), c(n);
    for (int i = 0; i < m; i++) r[i] = map_[rows[i]];
    for (int j = 0; j < n; j++) c[j] = map_[cols[j]];
    base_->eval(r.data(), m, c.data(), n, out, ld);
  }
  bool threadSafe() const override { return base_->threadSafe(); }
  bool writesWhole() const override { return base_->writesWhole(); }

private:
  std::shared_ptr<const EntryEvaluator> base_;
  std::vector<int> map_;
};

} // namespace h2ulv
