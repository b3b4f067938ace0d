// Blocks of the built-in kernels: the loop that fills A(rows, cols) for every MATH2 built from
// -mat_h2_kernel, called for each near block, coupling and sampled block of the construction and
// of PCH2ULV's own bases.  Written as a plain double loop over the rows' and columns' coordinates
// it took a tenth of a whole setup (Laplace) to a quarter (exp) of a MATH2 construction (Matern,
// most of it in scalar exp), so it is written for the vectorizer: the rows' coordinates
// are gathered once per block into contiguous arrays, the dimension is a template parameter, the
// loop has no branch (coincident points are fixed up afterwards, only in the columns that have
// them), exp is glibc's vector exp, and the file is compiled with -O3 -fno-math-errno (see CMakeLists.txt) and in three
// instruction-set variants chosen at load time (SSE4.2, AVX2, AVX-512), since the library itself is
// built for a portable x86-64-v2 baseline.
#include "entries.hpp"

#include <vector>

// glibc's vector exp (libmvec: _ZGV{b,c,d,e}N*v_exp, at most 4 ulp), declared under another C name
// so that math.h's exp keeps its own declaration; the loop below calls it through omp simd
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
extern "C" {
#pragma omp declare simd notinbranch
double h2ulv_simd_exp(double) __asm__("exp");
}
#define H2ULV_SIMD_EXP h2ulv_simd_exp
#else
#define H2ULV_SIMD_EXP std::exp
#endif

namespace h2ulv {
namespace {

struct SimdExp {
  double operator()(double x) const { return H2ULV_SIMD_EXP(x); }
};

// inlined into each instruction-set variant of kernelBlock
#if defined(__GNUC__)
#define H2ULV_INLINE inline __attribute__((always_inline))
#else
#define H2ULV_INLINE inline
#endif

template <KernelKind K, int D>
H2ULV_INLINE void kernelLoop(const double *X, const int *rows, int m, const int *cols, int n, double *out, int ld, double s, double p, double dself, double k0)
{
  thread_local std::vector<double> buf;
  if (buf.size() < static_cast<size_t>(D) * m) buf.resize(static_cast<size_t>(D) * m);
  double *__restrict xs = buf.data();
  for (int i = 0; i < m; i++)
    for (int d = 0; d < D; d++) xs[d * m + i] = X[static_cast<size_t>(rows[i]) * D + d];
  for (int j = 0; j < n; j++) {
    const double *y = X + static_cast<size_t>(cols[j]) * D;
    const double y0 = y[0], y1 = D > 1 ? y[1] : 0.0, y2 = D > 2 ? y[2] : 0.0;
    double *__restrict o = out + static_cast<size_t>(j) * ld;
    int zeros = 0;
#pragma omp simd reduction(| : zeros)
    for (int i = 0; i < m; i++) {
      double t = xs[i] - y0, r2 = t * t;
      if constexpr (D > 1) {
        t = xs[m + i] - y1;
        r2 += t * t;
      }
      if constexpr (D > 2) {
        t = xs[2 * m + i] - y2;
        r2 += t * t;
      }
      const int z = r2 == 0.0; // a quiet comparison: no branch, no trap
      zeros |= z;
      o[i] = kernelValue<K>(std::sqrt(r2 + z), s, p, SimdExp());
    }
    if (zeros) { // the diagonal entry, or distinct points at the same place
      for (int i = 0; i < m; i++) {
        double r2 = 0;
        for (int d = 0; d < D; d++) {
          double t = xs[d * m + i] - y[d];
          r2 += t * t;
        }
        if (r2 == 0.0) o[i] = rows[i] == cols[j] ? dself : k0;
      }
    }
  }
}

template <KernelKind K>
H2ULV_INLINE void kernelDim(int dim, const double *X, const int *rows, int m, const int *cols, int n, double *out, int ld, double s, double p, double dself, double k0)
{
  if (dim == 1) kernelLoop<K, 1>(X, rows, m, cols, n, out, ld, s, p, dself, k0);
  else if (dim == 2) kernelLoop<K, 2>(X, rows, m, cols, n, out, ld, s, p, dself, k0);
  else kernelLoop<K, 3>(X, rows, m, cols, n, out, ld, s, p, dself, k0);
}

} // namespace

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
__attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#endif
void kernelBlock(KernelKind K, int dim, const double *X, const int *rows, int m, const int *cols, int n, double *out, int ld, double s, double p, double dself, double k0)
{
  switch (K) {
  case KernelKind::Laplace: return kernelDim<KernelKind::Laplace>(dim, X, rows, m, cols, n, out, ld, s, p, dself, k0);
  case KernelKind::Yukawa: return kernelDim<KernelKind::Yukawa>(dim, X, rows, m, cols, n, out, ld, s, p, dself, k0);
  case KernelKind::Gaussian: return kernelDim<KernelKind::Gaussian>(dim, X, rows, m, cols, n, out, ld, s, p, dself, k0);
  case KernelKind::Exponential: return kernelDim<KernelKind::Exponential>(dim, X, rows, m, cols, n, out, ld, s, p, dself, k0);
  case KernelKind::Matern32: return kernelDim<KernelKind::Matern32>(dim, X, rows, m, cols, n, out, ld, s, p, dself, k0);
  case KernelKind::Matern52: return kernelDim<KernelKind::Matern52>(dim, X, rows, m, cols, n, out, ld, s, p, dself, k0);
  case KernelKind::IMQ: return kernelDim<KernelKind::IMQ>(dim, X, rows, m, cols, n, out, ld, s, p, dself, k0);
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
__attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#endif
bool allFinite(const double *a, size_t n)
{
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (size_t t = 0; t < n; t++) bad |= (a[t] - a[t]) != 0.0; // NaN exactly for Inf and NaN
  return !bad;
}

} // namespace h2ulv
