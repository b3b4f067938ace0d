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
// x86-64 with GCC (not nvcc): libmvec, target_clones and the AVX-512 intrinsics below
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define H2ULV_X86_GCC 1
#endif

#ifdef H2ULV_X86_GCC
extern "C" {
#pragma omp declare simd notinbranch
double h2ulv_simd_exp(double) __asm__("exp");
}
#define H2ULV_SIMD_EXP h2ulv_simd_exp
#else
#define H2ULV_SIMD_EXP std::exp
#endif

#ifdef H2ULV_X86_GCC
#include <immintrin.h>
#endif

#include <cfloat>

namespace h2ulv {
namespace {

#ifdef H2ULV_X86_GCC
// One column of the 3-D Laplace kernel c / r with AVX-512: 1/sqrt(r^2) from the 14-bit estimate
// and two Newton steps (relative error about 1e-16: the division and the square root, not
// pipelined, bound the vectorized loop otherwise; this is 4-5 times faster).  Returns nonzero when
// some r^2 is zero or below DBL_MIN (those entries are redone by the caller).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized" // _mm512_rsqrt14_pd's own undefined operand
__attribute__((target("avx512f"))) int laplaceColumnAvx512(const double *xs, int m, const double *y, double c, double *o)
{
  const __m512d vy0 = _mm512_set1_pd(y[0]), vy1 = _mm512_set1_pd(y[1]), vy2 = _mm512_set1_pd(y[2]);
  const __m512d vc = _mm512_set1_pd(c), half = _mm512_set1_pd(0.5), th = _mm512_set1_pd(1.5), one = _mm512_set1_pd(1.0), tiny = _mm512_set1_pd(DBL_MIN);
  int fix = 0, i = 0;
  for (; i + 8 <= m; i += 8) {
    const __m512d d0 = _mm512_sub_pd(_mm512_loadu_pd(xs + i), vy0);
    const __m512d d1 = _mm512_sub_pd(_mm512_loadu_pd(xs + m + i), vy1);
    const __m512d d2 = _mm512_sub_pd(_mm512_loadu_pd(xs + 2 * m + i), vy2);
    __m512d r2 = _mm512_fmadd_pd(d2, d2, _mm512_fmadd_pd(d1, d1, _mm512_mul_pd(d0, d0)));
    const __mmask8 z = _mm512_cmp_pd_mask(r2, tiny, _CMP_LT_OQ);
    fix |= static_cast<int>(z);
    r2 = _mm512_mask_blend_pd(z, r2, one);
    const __m512d h = _mm512_mul_pd(half, r2);
    __m512d q = _mm512_rsqrt14_pd(r2);
    q = _mm512_mul_pd(q, _mm512_fnmadd_pd(h, _mm512_mul_pd(q, q), th));
    q = _mm512_mul_pd(q, _mm512_fnmadd_pd(h, _mm512_mul_pd(q, q), th));
    _mm512_storeu_pd(o + i, _mm512_mul_pd(vc, q));
  }
  for (; i < m; i++) {
    double t = xs[i] - y[0], r2 = t * t;
    t = xs[m + i] - y[1], r2 += t * t;
    t = xs[2 * m + i] - y[2], r2 += t * t;
    fix |= r2 < DBL_MIN;
    o[i] = c / std::sqrt(r2 < DBL_MIN ? 1.0 : r2);
  }
  return fix;
}
#pragma GCC diagnostic pop
const bool haveAvx512 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") != 0;
}();
#endif

struct SimdExp {
  double operator()(double x) const { return H2ULV_SIMD_EXP(x); }
};

// inlined into each instruction-set variant of kernelBlock
#if defined(__GNUC__)
#define H2ULV_INLINE inline __attribute__((always_inline))
#else
#define H2ULV_INLINE inline
#endif

// the entries of one column at coincident points (the diagonal entry, or distinct points at the
// same place) and, when tiny, below DBL_MIN (which the AVX-512 path leaves to this scalar code)
template <KernelKind K, int D>
H2ULV_INLINE void fixColumn(const double *xs, int m, const double *y, const int *rows, int col, double *o, double s, double p, double dself, double k0, bool tiny)
{
  for (int i = 0; i < m; i++) {
    double r2 = 0;
    for (int d = 0; d < D; d++) {
      double t = xs[d * m + i] - y[d];
      r2 += t * t;
    }
    if (r2 == 0.0) o[i] = rows[i] == col ? dself : k0;
    else if (tiny && r2 < DBL_MIN) o[i] = kernelValue<K>(std::sqrt(r2), s, p);
  }
}

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
#ifdef H2ULV_X86_GCC
    if constexpr (K == KernelKind::Laplace && D == 3)
      if (haveAvx512) {
        if (laplaceColumnAvx512(xs, m, y, kernelValue<K>(1.0, s, p), o)) fixColumn<K, D>(xs, m, y, rows, cols[j], o, s, p, dself, k0, true);
        continue;
      }
#endif
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
    if (zeros) fixColumn<K, D>(xs, m, y, rows, cols[j], o, s, p, dself, k0, false);
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

#ifdef H2ULV_X86_GCC
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

#ifdef H2ULV_X86_GCC
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
