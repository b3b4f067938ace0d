// Test of a batched dense-operation backend (src/core/backend/backend.hpp): random batches of every
// operation (about 50 items each, sizes 0..70, some with ld > rows, mixed transposes) run on the
// chosen backend and on the host backend, and the results must agree to rounding (max relative
// difference per array <= 1e-12 in double, 1e-4 in single) with equal info values and pivots.
// Independently of the comparison, the host results are checked against naive loops (gemm, copy)
// and against the input (L L^T and P L U reproduce A), and the deliberately indefinite and singular
// blocks must give the expected info.  Plain C++: no PETSc or MPI initialization.
//
//   test_backend [-backend host|cuda|kokkos] [-precision double|single] [-required] [-tensor]
//
// -tensor checks the tensor-core arithmetic of single-precision GEMMs instead (runTensor below).
//
// Without -required, a backend that is not usable prints "SKIP: ..." and exits 0.  Output: one
// line per operation, then "RESULT: PASS" or "RESULT: FAIL" (exit code 1).
#include "core/backend/backend.hpp"
#include "core/dense.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

using namespace h2ulv;

namespace {

using Rng = std::mt19937_64;

template <typename T>
using Arrays = std::vector<std::vector<T>>;

// results of one operation on one backend
template <typename T>
struct Result {
  Arrays<T> a;                  // output arrays, one per item
  std::vector<int> info;        // potrf/getrf
  std::vector<std::vector<int>> piv; // getrf
  std::vector<double> diag;     // diagonals
};

int randInt(Rng &rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
template <typename T>
std::vector<T> randVec(Rng &rng, size_t n)
{
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(n);
  for (auto &x : v) x = static_cast<T>(u(rng));
  return v;
}
// a size in 0..70, zero for about one item in ten (the first item of a batch has the largest)
const int maxSize = 70;
int randSize(Rng &rng) { return randInt(rng, 0, 9) == 0 ? 0 : randInt(rng, 1, maxSize); }
// a leading dimension for `rows` rows: larger than needed for about one item in three
int randLd(Rng &rng, int rows) { return std::max(1, rows) + (randInt(rng, 0, 2) == 0 ? randInt(rng, 1, 5) : 0); }

// backend memory holding copies of host arrays, released at the end of the scope
template <typename T>
struct Device {
  Backend<T> &be;
  std::vector<Buffer<T>> bufs;
  std::vector<IntBuffer> ibufs;
  explicit Device(Backend<T> &b) : be(b) { }
  T *put(const std::vector<T> &h)
  {
    bufs.emplace_back(be, h.size());
    if (!h.empty()) be.upload(bufs.back().get(), h.data(), h.size());
    return bufs.back().get();
  }
  int *ints(size_t n)
  {
    ibufs.emplace_back(be, n);
    return ibufs.back().get();
  }
  std::vector<T> get(const T *p, size_t n)
  {
    std::vector<T> h(n);
    if (n) be.download(h.data(), p, n);
    return h;
  }
  std::vector<int> getInts(const int *p, size_t n)
  {
    std::vector<int> h(n);
    if (n) be.downloadInt(h.data(), p, n);
    return h;
  }
};

// the array of the last relDiff's largest difference (for the failure message)
static long lastWorstArray = -1;

// max over arrays of max|x - r| / max|r| (skipped arrays: skip[i] true); inf on NaN
template <typename T>
double relDiff(const Arrays<T> &x, const Arrays<T> &r, const std::vector<bool> &skip = { })
{
  double worst = 0;
  long worstAt = -1;
  for (size_t i = 0; i < r.size(); i++) {
    if (i < skip.size() && skip[i]) continue;
    lastWorstArray = static_cast<long>(i);
    if (x[i].size() != r[i].size()) return std::numeric_limits<double>::infinity();
    double d = 0, m = 0;
    for (size_t t = 0; t < r[i].size(); t++) {
      const double e = std::fabs(static_cast<double>(x[i][t]) - static_cast<double>(r[i][t]));
      if (!(e <= std::numeric_limits<double>::max())) return std::numeric_limits<double>::infinity();
      d = std::max(d, e);
      m = std::max(m, std::fabs(static_cast<double>(r[i][t])));
    }
    const double rel = d > 0 ? d / std::max(m, std::numeric_limits<double>::min()) : 0;
    if (rel > worst) worst = rel, worstAt = static_cast<long>(i);
  }
  lastWorstArray = worstAt;
  return worst;
}

template <typename T>
class Tester {
public:
  Tester(Backend<T> &be, Backend<T> &host) : be_(be), host_(host) { }
  bool ok() const { return ok_; }

  void run()
  {
    gemm(T(0.7), T(-0.3), "gemm beta=-0.3");
    gemm(T(-1.1), T(0), "gemm beta=0");
    for (char uplo : { 'L', 'U' })
      for (char trans : { 'N', 'T' })
        for (char diag : { 'N', 'U' }) trsm(uplo, trans, diag);
    potrf();
    getrf();
    getrs('N');
    getrs('T');
    copy();
  }

private:
  static constexpr double tol = std::is_same<T, double>::value ? 1e-12 : 1e-4;
  static constexpr int nitems = 50;

  // one line for an operation; `sanity` false: a check of the host results failed
  void report(const std::string &op, double diff, bool infoOk, bool sanity, const std::string &note = "")
  {
    const bool pass = diff <= tol && infoOk && sanity;
    std::printf("%-22s max rel diff %9.2e (tol %.0e)  info/pivots %-5s  host check %-4s %s %s", op.c_str(), diff, tol, infoOk ? "equal" : "DIFF",
                sanity ? "ok" : "BAD", pass ? "ok" : "FAIL", note.c_str());
    if (!(diff <= tol)) std::printf(" (largest difference in item %ld)", lastWorstArray);
    std::printf("\n");
    ok_ = ok_ && pass;
  }

  // the same operation on both backends
  template <typename F>
  void both(F &&f, Result<T> &r, Result<T> &ref)
  {
    f(be_, r);
    f(host_, ref);
  }

  void gemm(T alpha, T beta, const std::string &name)
  {
    struct Spec {
      char ta, tb;
      int m, n, k, lda, ldb, ldc;
      std::vector<T> A, B, C;
    };
    std::vector<Spec> specs(nitems);
    for (auto &s : specs) {
      s.ta = randInt(rng_, 0, 1) ? 'T' : 'N', s.tb = randInt(rng_, 0, 1) ? 'T' : 'N';
      s.m = randSize(rng_), s.n = randSize(rng_), s.k = randSize(rng_);
      if (&s == &specs[0]) s.m = s.n = s.k = maxSize;
      const int ra = s.ta == 'N' ? s.m : s.k, ca = s.ta == 'N' ? s.k : s.m;
      const int rb = s.tb == 'N' ? s.k : s.n, cb = s.tb == 'N' ? s.n : s.k;
      s.lda = randLd(rng_, ra), s.ldb = randLd(rng_, rb), s.ldc = randLd(rng_, s.m);
      s.A = randVec<T>(rng_, static_cast<size_t>(s.lda) * ca);
      s.B = randVec<T>(rng_, static_cast<size_t>(s.ldb) * cb);
      s.C = randVec<T>(rng_, static_cast<size_t>(s.ldc) * s.n);
    }
    Result<T> r, ref;
    both([&](Backend<T> &b, Result<T> &out) {
      Device<T> d(b);
      std::vector<GemmItem<T>> items;
      for (auto &s : specs) items.push_back({ s.ta, s.tb, s.m, s.n, s.k, d.put(s.A), s.lda, d.put(s.B), s.ldb, d.put(s.C), s.ldc });
      b.gemm(alpha, beta, items);
      for (size_t i = 0; i < items.size(); i++) out.a.push_back(d.get(items[i].C, specs[i].C.size()));
    }, r, ref);
    // host check: naive loops in long double
    Arrays<T> naive;
    for (auto &s : specs) {
      std::vector<T> c = s.C;
      for (int j = 0; j < s.n; j++)
        for (int i = 0; i < s.m; i++) {
          long double sum = 0;
          for (int p = 0; p < s.k; p++) {
            const T a = s.ta == 'N' ? s.A[i + static_cast<size_t>(p) * s.lda] : s.A[p + static_cast<size_t>(i) * s.lda];
            const T bb = s.tb == 'N' ? s.B[p + static_cast<size_t>(j) * s.ldb] : s.B[j + static_cast<size_t>(p) * s.ldb];
            sum += static_cast<long double>(a) * bb;
          }
          T &cij = c[i + static_cast<size_t>(j) * s.ldc];
          cij = static_cast<T>(alpha * sum + (beta == T(0) ? 0.0L : static_cast<long double>(beta) * cij));
        }
      naive.push_back(std::move(c));
    }
    report(name, relDiff(r.a, ref.a), true, relDiff(ref.a, naive) <= tol);
  }

  void trsm(char uplo, char trans, char diag)
  {
    struct Spec {
      int m, n, lda, ldb;
      std::vector<T> A, B;
    };
    const T alpha = T(1.5);
    std::vector<Spec> specs(nitems);
    for (auto &s : specs) {
      s.m = randSize(rng_), s.n = randSize(rng_);
      if (&s == &specs[0]) s.m = s.n = maxSize;
      s.lda = randLd(rng_, s.m), s.ldb = randLd(rng_, s.m);
      // well-conditioned triangle: small off-diagonal entries, diagonal in [2, 3] (also where diag
      // is 'U', to catch a backend that reads it); the other triangle holds garbage
      s.A = randVec<T>(rng_, static_cast<size_t>(s.lda) * s.m);
      for (int j = 0; j < s.m; j++) {
        for (int i = 0; i < s.m; i++) s.A[i + static_cast<size_t>(j) * s.lda] /= static_cast<T>(s.m);
        s.A[j + static_cast<size_t>(j) * s.lda] = static_cast<T>(2.5) + s.A[j + static_cast<size_t>(j) * s.lda] * static_cast<T>(s.m) / 2;
      }
      s.B = randVec<T>(rng_, static_cast<size_t>(s.ldb) * s.n);
    }
    Result<T> r, ref;
    both([&](Backend<T> &b, Result<T> &out) {
      Device<T> d(b);
      std::vector<TrsmItem<T>> items;
      for (auto &s : specs) items.push_back({ s.m, s.n, d.put(s.A), s.lda, d.put(s.B), s.ldb });
      b.trsm(uplo, trans, diag, alpha, items);
      for (size_t i = 0; i < items.size(); i++) out.a.push_back(d.get(items[i].B, specs[i].B.size()));
    }, r, ref);
    // host check: alpha B - op(A) X = 0 for the host solution X
    bool sane = true;
    for (size_t it = 0; it < specs.size(); it++) {
      const Spec &s = specs[it];
      const auto &X = ref.a[it];
      double res = 0, nb = 0;
      for (int j = 0; j < s.n; j++)
        for (int i = 0; i < s.m; i++) {
          long double sum = 0;
          for (int p = 0; p < s.m; p++) {
            const int ii = trans == 'N' ? i : p, pp = trans == 'N' ? p : i; // op(A)(i,p) = A(ii,pp)
            const bool inTri = uplo == 'L' ? ii >= pp : ii <= pp;
            if (!inTri) continue;
            const T a = (ii == pp && diag == 'U') ? T(1) : s.A[ii + static_cast<size_t>(pp) * s.lda];
            sum += static_cast<long double>(a) * X[p + static_cast<size_t>(j) * s.ldb];
          }
          const double bij = static_cast<double>(alpha) * s.B[i + static_cast<size_t>(j) * s.ldb];
          res = std::max(res, std::fabs(static_cast<double>(sum) - bij));
          nb = std::max(nb, std::fabs(bij));
        }
      if (!(res <= 10 * tol * std::max(nb, 1e-300))) sane = false;
    }
    report(std::string("trsm ") + uplo + trans + diag, relDiff(r.a, ref.a), true, sane);
  }

  // SPD blocks (R R^T + n I, garbage in the strict upper triangle) and one indefinite block
  void potrf()
  {
    struct Spec {
      int n, lda;
      std::vector<T> A;
    };
    std::vector<Spec> specs(nitems);
    const size_t bad = 17;     // the indefinite block
    const int badColumn = 6;   // where Cholesky breaks down (1-based)
    for (size_t it = 0; it < specs.size(); it++) {
      Spec &s = specs[it];
      s.n = it == bad ? 20 : it == 0 ? maxSize : randSize(rng_);
      s.lda = randLd(rng_, s.n);
      const std::vector<T> R = randVec<T>(rng_, static_cast<size_t>(s.n) * s.n);
      s.A = randVec<T>(rng_, static_cast<size_t>(s.lda) * s.n);
      for (int j = 0; j < s.n; j++)
        for (int i = j; i < s.n; i++) {
          double sum = i == j ? s.n : 0;
          for (int p = 0; p < s.n; p++) sum += static_cast<double>(R[i + static_cast<size_t>(p) * s.n]) * R[j + static_cast<size_t>(p) * s.n];
          s.A[i + static_cast<size_t>(j) * s.lda] = static_cast<T>(sum);
        }
      if (it == bad) s.A[(badColumn - 1) * (1 + static_cast<size_t>(s.lda))] = T(-100);
    }
    Result<T> r, ref;
    both([&](Backend<T> &b, Result<T> &out) {
      Device<T> d(b);
      std::vector<FactorItem<T>> items;
      for (auto &s : specs) items.push_back({ s.n, d.put(s.A), s.lda, nullptr });
      b.potrf(items, out.info);
      for (size_t i = 0; i < items.size(); i++) out.a.push_back(d.get(items[i].A, specs[i].A.size()));
      b.diagonals(items, out.diag);
    }, r, ref);
    // host check: L L^T = A (lower triangle), upper triangle untouched, the expected info
    bool sane = ref.info.size() == specs.size() && r.info.size() == specs.size();
    std::vector<bool> skip(specs.size(), false);
    for (size_t it = 0; sane && it < specs.size(); it++) {
      const Spec &s = specs[it];
      const auto &L = ref.a[it];
      if (it == bad) {
        skip[it] = true; // the content of a failed factorization is not specified
        sane = ref.info[it] == badColumn;
        continue;
      }
      if (ref.info[it] != 0) sane = false;
      double res = 0, na = 0;
      for (int j = 0; j < s.n; j++)
        for (int i = 0; i < s.n; i++) {
          const size_t ij = i + static_cast<size_t>(j) * s.lda;
          if (i < j) {
            if (L[ij] != s.A[ij]) sane = false;
            continue;
          }
          long double sum = 0;
          for (int p = 0; p <= j; p++) sum += static_cast<long double>(L[i + static_cast<size_t>(p) * s.lda]) * L[j + static_cast<size_t>(p) * s.lda];
          res = std::max(res, std::fabs(static_cast<double>(sum) - s.A[ij]));
          na = std::max(na, std::fabs(static_cast<double>(s.A[ij])));
        }
      if (!(res <= tol * std::max(na, 1e-300))) sane = false;
    }
    report("potrf", relDiff(r.a, ref.a, skip), r.info == ref.info, sane, "(indefinite block: info " + std::to_string(r.info.size() > bad ? r.info[bad] : -1) + ")");
    // the diagonals of the factors (of the blocks that were factored)
    Arrays<T> dr(1), dref(1);
    bool sameLength = r.diag.size() == ref.diag.size();
    size_t off = 0;
    for (size_t it = 0; sameLength && it < specs.size(); off += specs[it].n, it++)
      if (it != bad)
        for (int t = 0; t < specs[it].n; t++) dr[0].push_back(static_cast<T>(r.diag[off + t])), dref[0].push_back(static_cast<T>(ref.diag[off + t]));
    // host check: the diagonals are those of the downloaded factors
    bool diagSane = sameLength;
    off = 0;
    for (size_t it = 0; diagSane && it < specs.size(); off += specs[it].n, it++)
      for (int t = 0; t < specs[it].n; t++)
        if (ref.diag[off + t] != static_cast<double>(ref.a[it][t + static_cast<size_t>(t) * specs[it].lda])) diagSane = false;
    report("diagonals", sameLength ? relDiff(dr, dref) : std::numeric_limits<double>::infinity(), sameLength, diagSane);
  }

  // well-conditioned general blocks R + n P (R random, P a random permutation: pivoting swaps
  // rows), and one singular block (a zero column)
  struct LuSpec {
    int n, lda;
    std::vector<T> A;
  };
  static constexpr size_t singular = 23;
  static constexpr int singularColumn = 4; // 1-based
  std::vector<LuSpec> luSpecs()
  {
    std::vector<LuSpec> specs(nitems);
    for (size_t it = 0; it < specs.size(); it++) {
      LuSpec &s = specs[it];
      s.n = it == singular ? 10 : it == 0 ? maxSize : randSize(rng_);
      s.lda = randLd(rng_, s.n);
      s.A = randVec<T>(rng_, static_cast<size_t>(s.lda) * s.n);
      if (it != singular) {
        std::vector<int> perm(s.n);
        for (int i = 0; i < s.n; i++) perm[i] = i;
        std::shuffle(perm.begin(), perm.end(), rng_);
        for (int j = 0; j < s.n; j++) s.A[perm[j] + static_cast<size_t>(j) * s.lda] += static_cast<T>(s.n);
      }
      if (it == singular)
        for (int i = 0; i < s.n; i++) s.A[i + static_cast<size_t>(singularColumn - 1) * s.lda] = T(0);
    }
    return specs;
  }

  void getrf()
  {
    const std::vector<LuSpec> specs = luSpecs();
    Result<T> r, ref;
    both([&](Backend<T> &b, Result<T> &out) {
      Device<T> d(b);
      std::vector<FactorItem<T>> items;
      for (auto &s : specs) items.push_back({ s.n, d.put(s.A), s.lda, d.ints(s.n) });
      b.getrf(items, out.info);
      for (size_t i = 0; i < items.size(); i++) {
        out.a.push_back(d.get(items[i].A, specs[i].A.size()));
        out.piv.push_back(d.getInts(items[i].ipiv, specs[i].n));
      }
    }, r, ref);
    // host check: P L U = A, the expected info
    bool sane = ref.info.size() == specs.size();
    for (size_t it = 0; sane && it < specs.size(); it++) {
      const LuSpec &s = specs[it];
      const auto &LU = ref.a[it];
      if (ref.info[it] != (it == singular ? singularColumn : 0)) sane = false;
      // L U, then the row swaps in reverse order
      std::vector<long double> M(static_cast<size_t>(s.n) * s.n);
      for (int j = 0; j < s.n; j++)
        for (int i = 0; i < s.n; i++) {
          long double sum = 0;
          for (int p = 0; p <= std::min(i, j); p++) sum += (p == i ? 1.0L : static_cast<long double>(LU[i + static_cast<size_t>(p) * s.lda])) * LU[p + static_cast<size_t>(j) * s.lda];
          M[i + static_cast<size_t>(j) * s.n] = sum;
        }
      for (int i = s.n - 1; i >= 0; i--) {
        const int p = ref.piv[it][i] - 1;
        if (p < i || p >= s.n) sane = false;
        else if (p != i)
          for (int j = 0; j < s.n; j++) std::swap(M[i + static_cast<size_t>(j) * s.n], M[p + static_cast<size_t>(j) * s.n]);
      }
      double res = 0, na = 0;
      for (int j = 0; sane && j < s.n; j++)
        for (int i = 0; i < s.n; i++) {
          res = std::max(res, std::fabs(static_cast<double>(M[i + static_cast<size_t>(j) * s.n] - s.A[i + static_cast<size_t>(j) * s.lda])));
          na = std::max(na, std::fabs(static_cast<double>(s.A[i + static_cast<size_t>(j) * s.lda])));
        }
      if (!(res <= tol * std::max(na, 1e-300))) sane = false;
    }
    // the singular block: the info must agree; its factors and later pivots are not specified
    // (LAPACK skips the division by the zero pivot, cuBLAS's batched LU does not)
    std::vector<bool> skip(specs.size(), false);
    skip[singular] = true;
    bool pivOk = r.piv.size() == ref.piv.size();
    for (size_t it = 0; pivOk && it < specs.size(); it++)
      if (it != singular && r.piv[it] != ref.piv[it]) pivOk = false;
    report("getrf", relDiff(r.a, ref.a, skip), r.info == ref.info && pivOk, sane,
           "(singular block: info " + std::to_string(r.info.size() > singular ? r.info[singular] : -1) + ")");
  }

  // getrf, then getrs with several right-hand sides (not the singular block)
  void getrs(char trans)
  {
    const std::vector<LuSpec> specs = luSpecs();
    struct Rhs {
      int nrhs, ldb;
      std::vector<T> B;
    };
    std::vector<Rhs> rhs(specs.size());
    for (size_t it = 0; it < specs.size(); it++) {
      rhs[it].nrhs = it == 0 ? maxSize : randInt(rng_, 0, 4) == 0 ? 0 : randInt(rng_, 1, 12);
      rhs[it].ldb = randLd(rng_, specs[it].n);
      rhs[it].B = randVec<T>(rng_, static_cast<size_t>(rhs[it].ldb) * rhs[it].nrhs);
    }
    Result<T> r, ref;
    both([&](Backend<T> &b, Result<T> &out) {
      Device<T> d(b);
      std::vector<FactorItem<T>> fitems;
      std::vector<LuSolveItem<T>> items;
      for (size_t it = 0; it < specs.size(); it++) {
        const LuSpec &s = specs[it];
        fitems.push_back({ s.n, d.put(s.A), s.lda, d.ints(s.n) });
        if (it != singular) items.push_back({ s.n, rhs[it].nrhs, fitems.back().A, s.lda, fitems.back().ipiv, d.put(rhs[it].B), rhs[it].ldb });
      }
      b.getrf(fitems, out.info);
      b.getrs(trans, items);
      for (size_t i = 0, it = 0; it < specs.size(); it++)
        if (it != singular) out.a.push_back(d.get(items[i].B, rhs[it].B.size())), i++;
    }, r, ref);
    // host check: op(A) X = B
    bool sane = true;
    for (size_t i = 0, it = 0; it < specs.size(); it++) {
      if (it == singular) continue;
      const LuSpec &s = specs[it];
      const auto &X = ref.a[i++];
      double res = 0, nb = 0;
      for (int j = 0; j < rhs[it].nrhs; j++)
        for (int row = 0; row < s.n; row++) {
          long double sum = 0;
          for (int p = 0; p < s.n; p++)
            sum += static_cast<long double>(trans == 'N' ? s.A[row + static_cast<size_t>(p) * s.lda] : s.A[p + static_cast<size_t>(row) * s.lda]) * X[p + static_cast<size_t>(j) * rhs[it].ldb];
          const double bij = rhs[it].B[row + static_cast<size_t>(j) * rhs[it].ldb];
          res = std::max(res, std::fabs(static_cast<double>(sum) - bij));
          nb = std::max(nb, std::fabs(bij));
        }
      if (!(res <= 100 * tol * std::max(nb, 1e-300))) sane = false;
    }
    report(std::string("getrs ") + trans, relDiff(r.a, ref.a), r.info == ref.info, sane);
  }

  // scaled copies, 'N' and 'T' mixed in one batch
  void copy()
  {
    struct Spec {
      char trans;
      int m, n, lda, ldb;
      std::vector<T> A, B;
    };
    const T alpha = T(-2.5);
    std::vector<Spec> specs(nitems);
    for (auto &s : specs) {
      s.trans = randInt(rng_, 0, 1) ? 'T' : 'N';
      s.m = randSize(rng_), s.n = randSize(rng_);
      if (&s == &specs[0]) s.m = s.n = maxSize;
      const int ra = s.trans == 'N' ? s.m : s.n, ca = s.trans == 'N' ? s.n : s.m;
      s.lda = randLd(rng_, ra), s.ldb = randLd(rng_, s.m);
      s.A = randVec<T>(rng_, static_cast<size_t>(s.lda) * ca);
      s.B = randVec<T>(rng_, static_cast<size_t>(s.ldb) * s.n);
    }
    Result<T> r, ref;
    both([&](Backend<T> &b, Result<T> &out) {
      Device<T> d(b);
      std::vector<CopyItem<T>> items;
      for (auto &s : specs) items.push_back({ s.trans, s.m, s.n, d.put(s.A), s.lda, d.put(s.B), s.ldb });
      b.copy(alpha, items);
      for (size_t i = 0; i < items.size(); i++) out.a.push_back(d.get(items[i].B, specs[i].B.size()));
    }, r, ref);
    // host check: exact
    Arrays<T> expect;
    for (auto &s : specs) {
      std::vector<T> e = s.B;
      for (int j = 0; j < s.n; j++)
        for (int i = 0; i < s.m; i++) e[i + static_cast<size_t>(j) * s.ldb] = alpha * (s.trans == 'N' ? s.A[i + static_cast<size_t>(j) * s.lda] : s.A[j + static_cast<size_t>(i) * s.lda]);
      expect.push_back(std::move(e));
    }
    report("copy", relDiff(r.a, ref.a), true, relDiff(ref.a, expect) == 0);
  }

  Backend<T> &be_, &host_;
  Rng rng_{ 20240607 };
  bool ok_ = true;
};

template <typename T>
int runAll(const BackendRequest &req)
{
  std::string note;
  std::unique_ptr<Backend<T>> be = makeBackend<T>(req, &note); // throws when required and not usable
  if (req.kind != BackendKind::Host && be->kind() != req.kind) {
    // the fallback: must be a working host backend
    std::printf("SKIP: %s\n", note.c_str());
    if (be->kind() != BackendKind::Host || note.empty()) {
      std::printf("RESULT: FAIL (the fallback did not give the host backend with a note)\n");
      return 1;
    }
    return 0;
  }
  BackendRequest hreq;
  std::unique_ptr<Backend<T>> host = makeHostBackend<T>(hreq);
  std::printf("backend: %s; reference: %s; precision %s\n", be->describe().c_str(), host->describe().c_str(), std::is_same<T, double>::value ? "double" : "single");
  // every check through the profiling wrapper of -log_view (makeProfiledBackend): it must forward
  // each operation unchanged, pair every begin with an end, and count a known batch's flops
  double flops[6] = {0, 0, 0, 0, 0, 0};
  int open = 0, batches = 0;
  bool paired = true;
  std::unique_ptr<Backend<T>> prof = makeProfiledBackend<T>(std::move(be), [&](BatchOp op, bool begin, double f) {
    if (begin) paired = paired && open == 0, open++;
    else paired = paired && open == 1, open--, flops[static_cast<int>(op)] += f, batches++;
  }, true);
  Tester<T> t(*prof, *host);
  t.run();
  bool profOk = paired && open == 0 && batches > 0 && flops[static_cast<int>(BatchOp::Gemm)] > 0 && flops[static_cast<int>(BatchOp::Potrf)] > 0;
  { // two 3x4 products with k = 5 and one 2x2 Cholesky: 2*2*3*4*5 = 240 and 8/3 flops
    const double g0 = flops[static_cast<int>(BatchOp::Gemm)], p0 = flops[static_cast<int>(BatchOp::Potrf)];
    Buffer<T> A(*prof, 64), B(*prof, 64), C(*prof, 64);
    const std::vector<T> z(64, T(0)), spd = {T(2), T(1), T(1), T(2)};
    prof->upload(A.get(), z.data(), 64), prof->upload(B.get(), z.data(), 64), prof->upload(C.get(), z.data(), 64);
    prof->gemm(T(1), T(0), {{'N', 'N', 3, 4, 5, A.get(), 3, B.get(), 5, C.get(), 3}, {'T', 'N', 3, 4, 5, A.get() + 32, 5, B.get() + 32, 5, C.get() + 32, 3}});
    prof->upload(A.get(), spd.data(), 4);
    std::vector<int> info;
    prof->potrf({{2, A.get(), 2, nullptr}}, info);
    const double dg = flops[static_cast<int>(BatchOp::Gemm)] - g0, dp = flops[static_cast<int>(BatchOp::Potrf)] - p0;
    const bool known = std::fabs(dg - 240) <= 1e-12 * std::max(1.0, g0) && std::fabs(dp - 8.0 / 3) <= 1e-12 * std::max(1.0, p0) && info.size() == 1 && info[0] == 0;
    std::printf("profiling wrapper: %d batches, begin/end %s, known batch flops gemm %g (240) potrf %.4f (2.6667) %s\n", batches, paired && open == 0 ? "paired" : "NOT PAIRED", dg, dp, known ? "ok" : "FAIL");
    profOk = profOk && known;
  }
  const bool ok = t.ok() && profOk;
  std::printf("RESULT: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

// -tensor: the tensor-core arithmetic of single-precision GEMMs (core/backend/tensor.hpp) on the
// backend (emulated by the host backend): exact cases that tell the modes apart, then random
// batches against double-precision products.  Corrected must be as accurate as an FP32 GEMM
// (within 4 times its error), plain at least 10 times less accurate than corrected.
int runTensor(BackendRequest req)
{
  std::string note;
  std::unique_ptr<Backend<float>> fp32 = makeBackend<float>(req, &note);
  if (req.kind != BackendKind::Host && fp32->kind() != req.kind) {
    std::printf("SKIP: %s\n", note.c_str());
    return 0;
  }
  bool ok = true;
  Rng rng(7);
  req.tensor = TensorMode::Plain;
  std::unique_ptr<Backend<float>> plain = makeBackend<float>(req, &note);
  req.tensor = TensorMode::Corrected;
  std::unique_ptr<Backend<float>> corr = makeBackend<float>(req, &note);
  std::printf("tensor cores: %s | %s\n", plain->describe().c_str(), corr->describe().c_str());
  // one product of an m x k and a k x n matrix (column-major), C <- alpha A B + beta C0
  auto product = [](Backend<float> &be, int m, int n, int k, char ta, char tb, const std::vector<float> &a, const std::vector<float> &b, float alpha, float beta, std::vector<float> c) {
    Device<float> d(be);
    float *A = d.put(a), *B = d.put(b), *C = d.put(c);
    be.gemm(alpha, beta, {{ta, tb, m, n, k, A, ta == 'N' ? m : k, B, tb == 'N' ? k : n, C, m}});
    return d.get(C, c.size());
  };
  { // 1 + 2^-20 has 20 mantissa bits: plain TF32 rounds it to 1, the corrected split keeps it
    const float x = 1.0f + std::ldexp(1.0f, -20);
    const float p = product(*plain, 1, 1, 1, 'N', 'N', {x}, {1.0f}, 1.0f, 0.0f, {std::nanf("")})[0];
    const float c = product(*corr, 1, 1, 1, 'N', 'N', {x}, {1.0f}, 1.0f, 0.0f, {std::nanf("")})[0];
    const bool good = p == 1.0f && c == x;
    std::printf("operand (1 + 2^-20) * 1: plain %.9g (1), corrected %.9g (%.9g) %s\n", p, c, x, good ? "ok" : "FAIL");
    ok = ok && good;
  }
  if (req.kind == BackendKind::Host) { // plain accumulates toward zero: 1 + 3 2^-25 stays 1 (FP32: 1 + 2^-23)
    const float p = product(*plain, 1, 1, 2, 'N', 'N', {1.0f, 3.0f * std::ldexp(1.0f, -25)}, {1.0f, 1.0f}, 1.0f, 0.0f, {0.0f})[0];
    const float f = product(*fp32, 1, 1, 2, 'N', 'N', {1.0f, 3.0f * std::ldexp(1.0f, -25)}, {1.0f, 1.0f}, 1.0f, 0.0f, {0.0f})[0];
    const bool good = p == 1.0f && f == 1.0f + std::ldexp(1.0f, -23);
    std::printf("accumulation 1 + 3 2^-25: plain %.9g (1), FP32 %.9g (1 + 2^-23) %s\n", p, f, good ? "ok" : "FAIL");
    ok = ok && good;
  }
  double ef = 0, ec = 0, ep = 0;
  for (int trial = 0; trial < 24; trial++) {
    const int m = randInt(rng, 1, 70), n = randInt(rng, 1, 70), k = randInt(rng, 1, 600);
    const char ta = trial % 2 ? 'T' : 'N', tb = trial % 3 ? 'N' : 'T';
    const float alpha = 0.7f, beta = trial % 4 ? -0.3f : 0.0f;
    const std::vector<float> a = randVec<float>(rng, static_cast<size_t>(m) * k), b = randVec<float>(rng, static_cast<size_t>(k) * n), c0 = randVec<float>(rng, static_cast<size_t>(m) * n);
    std::vector<double> ref(c0.size());
    double nref = 0;
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) {
        double s = 0;
        for (int p = 0; p < k; p++) s += static_cast<double>(ta == 'N' ? a[i + static_cast<size_t>(p) * m] : a[p + static_cast<size_t>(i) * k]) * (tb == 'N' ? b[p + static_cast<size_t>(j) * k] : b[j + static_cast<size_t>(p) * n]);
        const size_t o = i + static_cast<size_t>(j) * m;
        ref[o] = alpha * s + (beta == 0.0f ? 0.0 : beta * static_cast<double>(c0[o]));
        nref = std::max(nref, std::fabs(ref[o]));
      }
    auto err = [&](Backend<float> &be) {
      const std::vector<float> c = product(be, m, n, k, ta, tb, a, b, alpha, beta, c0);
      double e = 0;
      for (size_t o = 0; o < c.size(); o++) e = std::max(e, std::fabs(c[o] - ref[o]));
      return e / nref;
    };
    ef = std::max(ef, err(*fp32)), ec = std::max(ec, err(*corr)), ep = std::max(ep, err(*plain));
  }
  const bool good = ec <= 4 * ef && ep >= 10 * ec;
  std::printf("24 random products (k <= 600), max error relative to max|C|: FP32 %.2e, corrected %.2e, plain %.2e %s\n", ef, ec, ep, good ? "ok" : "FAIL");
  ok = ok && good;
  std::printf("RESULT: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
  BackendRequest req;
  bool single = false, tensor = false;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "-backend" && i + 1 < argc) {
      const std::string k = argv[++i];
      if (k == "host") req.kind = BackendKind::Host;
      else if (k == "cuda") req.kind = BackendKind::Cuda;
      else if (k == "kokkos") req.kind = BackendKind::Kokkos;
      else {
        std::fprintf(stderr, "unknown backend %s (host, cuda, kokkos)\n", k.c_str());
        return 2;
      }
    } else if (a == "-precision" && i + 1 < argc) {
      const std::string p = argv[++i];
      if (p == "single") single = true;
      else if (p != "double") {
        std::fprintf(stderr, "unknown precision %s (double, single)\n", p.c_str());
        return 2;
      }
    } else if (a == "-required") req.required = true;
    else if (a == "-tensor") tensor = true;
    else {
      std::fprintf(stderr, "usage: %s [-backend host|cuda|kokkos] [-precision double|single] [-required] [-tensor]\n", argv[0]);
      return 2;
    }
  }
  try {
    if (tensor) return runTensor(req);
    return single ? runAll<float>(req) : runAll<double>(req);
  } catch (const std::exception &e) {
    std::printf("ERROR: %s\nRESULT: FAIL\n", e.what());
    return 1;
  }
}
