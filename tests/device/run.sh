#!/usr/bin/env bash
# Device check and timings of the CUDA backend, for a GPU machine (H100/H200, 16 cores, no network).
# Run from the repository root:   bash tests/device/run.sh
# Logs go to $OUT (if set) or ./device-logs; the whole script stays under ~8 minutes:
#   1. configure + build (Release, sm_90) the library, test_backend, bench_pc
#   2. nvidia-smi -L
#   3. test_backend -backend cuda (double, single) against the host backend; a uniform-batch check
#      (embedded below) of the batched cuBLAS/cuSOLVER paths that random-size batches rarely reach
#   4. sphere-laplace N = 2^16: host double vs cuda double (GMRES runs, and one application of the
#      preconditioner compared vector to vector)
#   4b. tensor cores on the device: corrected TF32 against FP32 factors, plain TF32 worse
#      (tests/test_pc_tensor.c, N = 2^16)
#   5. N = 2^16 .. 2^20 with cuda double, single, single with plain and corrected TF32 tensor
#      cores; no run is launched after ~6.5 min
#   6. one table: card, N, mode, build/setup/solve times, iterations, final true residual
# Overrides (for testing the script elsewhere): BUILD_DIR, JOBS, NMAX_LOG2, SKIP_BUILD=1.
# On a GPU machine without Debian's PETSc stack: make .devbundle/bundle.tar.xz here with
# tests/device/bundle.sh and carry .devbundle; the script then unpacks it and skips the build.
set -u
START=$(date +%s)
OUTDIR=${OUT:-./device-logs}
mkdir -p "$OUTDIR/logs"
OUTDIR=$(cd "$OUTDIR" && pwd)
BUILD_DIR=${BUILD_DIR:-build-device}
JOBS=${JOBS:-16}
NMAX_LOG2=${NMAX_LOG2:-20}
LAUNCH_CUTOFF=${LAUNCH_CUTOFF:-390} # s: no run starts after this
HARD_END=${HARD_END:-470}           # s: every run is killed by then
RESULTS="$OUTDIR/results.tsv"
: >"$RESULTS"
exec > >(tee -a "$OUTDIR/run.log") 2>&1

el() { echo $(($(date +%s) - START)); }
say() { printf '[%4ss] %s\n' "$(el)" "$*"; }
left() { local l=$((HARD_END - $(el))); [ $l -lt 10 ] && l=10; echo $l; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=16 OPENBLAS_NUM_THREADS=16
# as bench/run.py: Debian's OpenBLAS may take this CPU for an old core type
if grep -q avx512f /proc/cpuinfo 2>/dev/null && [ -z "${OPENBLAS_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE=SKYLAKEX; fi
[ -d /usr/local/cuda/bin ] && export PATH="/usr/local/cuda/bin:$PATH"
if [ -f .devbundle/bundle.tar.xz ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "unpacking .devbundle/bundle.tar.xz (prebuilt programs and their libraries)"
  source tests/device/unbundle.sh .devbundle/bundle.tar.xz
  SKIP_BUILD=1
  BUILD_DIR=build-device
fi

# ------------------------------------------------------------------ 1. build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "configure: cmake -S . -B $BUILD_DIR -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90"
  timeout -k 5 120 cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUTDIR/logs/configure.txt" 2>&1
  echo "  configure exit $?"
  grep -E "CUDA backend|Kokkos|CMake Error" "$OUTDIR/logs/configure.txt" | sed 's/^/  /'
  grep -q "CUDA backend: ON" "$OUTDIR/logs/configure.txt" || say "WARNING: the CUDA backend is not in this build: the cuda runs below will fail"
  targets=""
  for t in test_backend test_pc_backend test_pc_tensor bench_pc; do
    grep -q "^$t:" "$BUILD_DIR/Makefile" 2>/dev/null && targets="$targets $t" # only what this script runs
  done
  say "build: make -C $BUILD_DIR -j$JOBS${targets:- (all)}"
  timeout -k 5 300 make -C "$BUILD_DIR" -j"$JOBS" $targets >"$OUTDIR/logs/build.txt" 2>&1
  rc=$?
  echo "  build exit $rc"
  [ $rc -ne 0 ] && grep -E "error|Error" "$OUTDIR/logs/build.txt" | head -20 | sed 's/^/  /'
fi

# ------------------------------------------------------------------ 2. the card
say "nvidia-smi -L"
timeout -k 5 30 nvidia-smi -L 2>&1 | sed 's/^/  /'
CARD=$(timeout -k 5 30 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
CARD=${CARD:-unknown}
timeout -k 5 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | sed 's/^/  /'

# ------------------------------------------------------------------ 3. backend op checks
CHECKS=""
for prec in double single; do
  say "test_backend -backend cuda -precision $prec -required"
  timeout -k 5 120 "$BUILD_DIR/tests/test_backend" -backend cuda -precision $prec -required >"$OUTDIR/logs/test_backend_$prec.txt" 2>&1
  rc=$?
  tail -n 25 "$OUTDIR/logs/test_backend_$prec.txt" | sed 's/^/  /'
  echo "  exit $rc"
  CHECKS="$CHECKS test_backend-$prec=$([ $rc -eq 0 ] && echo PASS || echo "FAIL(rc=$rc)")"
done
say "test_backend -backend cuda -tensor -required (tensor-core TF32: plain rounds, corrected keeps FP32 accuracy)"
timeout -k 5 120 "$BUILD_DIR/tests/test_backend" -backend cuda -tensor -required >"$OUTDIR/logs/test_backend_tensor.txt" 2>&1
rc=$?
sed 's/^/  /' "$OUTDIR/logs/test_backend_tensor.txt"
CHECKS="$CHECKS test_backend-tensor=$([ $rc -eq 0 ] && echo PASS || echo "FAIL(rc=$rc)")"

say "uniform-batch check (cuda vs host)"
cat >"$OUTDIR/uniform_batch.cpp" <<'CPPEOF'
// Uniform-shape batches on a backend against the host backend: the batched cuBLAS/cuSOLVER paths
// (groups of many items with one shape, > 65535 items, scattered and contiguous pivots, the
// upper triangle kept by potrf, blocks above the batched-factorization size) that random-size
// batches rarely reach.  usage: uniform_batch cuda|host|kokkos
#include "core/backend/backend.hpp"
#include "core/dense.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace h2ulv;

static int failures = 0;

template <typename T>
struct Twin { // the same data on the tested backend (d) and on the host backend (h)
  Backend<T> &bd, &bh;
  size_t n;
  T *d, *h;
  Twin(Backend<T> &d_, Backend<T> &h_, const std::vector<T> &v) : bd(d_), bh(h_), n(v.size()), d(d_.alloc(n)), h(h_.alloc(n))
  {
    bd.upload(d, v.data(), n);
    bh.upload(h, v.data(), n);
  }
  ~Twin() { bd.release(d), bh.release(h); }
  double diff() const // max |d - h| / max |h|
  {
    std::vector<T> a(n), b(n);
    bd.download(a.data(), d, n);
    bh.download(b.data(), h, n);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
      const double x = a[i], y = b[i];
      if (std::isnan(x) != std::isnan(y)) return INFINITY;
      if (!std::isnan(x)) num = std::max(num, std::fabs(x - y)), den = std::max(den, std::fabs(y));
    }
    return den > 0 ? num / den : num;
  }
};

static void report(const char *what, double d, double tol)
{
  const bool ok = d <= tol;
  if (!ok) failures++;
  std::printf("  %-44s max rel diff %.2e (tol %.0e) %s\n", what, d, tol, ok ? "ok" : "FAIL");
}

template <typename T>
static std::vector<T> rnd(std::mt19937_64 &g, size_t n)
{
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(n);
  for (auto &x : v) x = static_cast<T>(u(g));
  return v;
}

template <typename T>
static void run(BackendKind kind)
{
  const bool dbl = sizeof(T) == 8;
  const double tol = dbl ? 1e-11 : 2e-4, ftol = dbl ? 1e-9 : 5e-3; // products; factorizations
  BackendRequest rq;
  rq.kind = kind;
  rq.required = true;
  std::string note;
  auto dev = makeBackend<T>(rq, &note);
  auto host = makeHostBackend<T>(BackendRequest{});
  std::printf("%s: %s vs %s\n", dbl ? "double" : "single", dev->describe().c_str(), host->describe().c_str());
  Backend<T> &D = *dev, &H = *host;
  std::mt19937_64 g(7);

  { // gemm: 300 items (N,N) 48x40x32, 100 items (T,N), one single item, one k = 0, one m = 0
    const int m = 48, n = 40, k = 32, cnt = 402, lda = 50, ldb = 36, ldc = 49;
    Twin<T> A(D, H, rnd<T>(g, size_t(cnt) * lda * 48)), B(D, H, rnd<T>(g, size_t(cnt) * ldb * n)), C(D, H, rnd<T>(g, size_t(cnt) * ldc * n));
    std::vector<GemmItem<T>> id, ih;
    for (int i = 0; i < cnt; i++) {
      const char ta = i >= 300 ? 'T' : 'N';
      const int kk = i == 400 ? 0 : k, mm = i == 401 ? 0 : m;
      const size_t oa = size_t(i) * lda * 48, ob = size_t(i) * ldb * n, oc = size_t(i) * ldc * n;
      id.push_back({ta, 'N', mm, n, kk, A.d + oa, ta == 'N' ? lda : lda, B.d + ob, ldb, C.d + oc, ldc});
      ih.push_back({ta, 'N', mm, n, kk, A.h + oa, lda, B.h + ob, ldb, C.h + oc, ldc});
    }
    D.gemm(T(0.5), T(-1.5), id);
    H.gemm(T(0.5), T(-1.5), ih);
    report("gemm 402 items, 3 shapes, k=0 and m=0 items", C.diff(), tol);
  }
  { // gemm: 70000 items 4x4x4 (more than one cuBLAS batch), beta 0
    const int cnt = 70000;
    Twin<T> A(D, H, rnd<T>(g, size_t(cnt) * 16)), B(D, H, rnd<T>(g, size_t(cnt) * 16)), C(D, H, rnd<T>(g, size_t(cnt) * 16));
    std::vector<GemmItem<T>> id, ih;
    for (int i = 0; i < cnt; i++) {
      id.push_back({'N', 'T', 4, 4, 4, A.d + 16 * i, 4, B.d + 16 * i, 4, C.d + 16 * i, 4});
      ih.push_back({'N', 'T', 4, 4, 4, A.h + 16 * i, 4, B.h + 16 * i, 4, C.h + 16 * i, 4});
    }
    D.gemm(T(1), T(0), id);
    H.gemm(T(1), T(0), ih);
    report("gemm 70000 items 4x4x4 (chunked)", C.diff(), tol);
  }
  // well-conditioned SPD / general blocks: n x n in ld x n, upper triangle of the SPD ones kept
  auto spd = [&](int n, int ld, int cnt) {
    std::vector<T> v(size_t(cnt) * ld * n, T(0));
    std::uniform_real_distribution<double> u(-1, 1);
    for (int b = 0; b < cnt; b++)
      for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
          const double x = i == j ? n + 1.0 : 0.5 * u(g) / n;
          v[size_t(b) * ld * n + i + size_t(j) * ld] = static_cast<T>(i >= j ? x : 7.0 + i - j); // upper: a marker
        }
    return v;
  };
  auto gen = [&](int n, int ld, int cnt) {
    std::vector<T> v = rnd<T>(g, size_t(cnt) * ld * n);
    for (int b = 0; b < cnt; b++)
      for (int j = 0; j < n; j++) v[size_t(b) * ld * n + j + size_t(j) * ld] += static_cast<T>(j % 3 == 0 ? 0.0 : 0.1); // pivoting needed
    return v;
  };
  for (int n : {1, 24, 64, 300}) { // 300: above the batched size, one cuSOLVER call per block
    const int cnt = n == 300 ? 3 : 500, ld = n + 3;
    { // potrf, then trsm with the factors (L, N and L, T)
      std::vector<T> v = spd(n, ld, cnt);
      if (n == 64) v[size_t(5) * ld * n + 10 + size_t(10) * ld] = T(-1); // item 5: not SPD at column 11
      Twin<T> A(D, H, v);
      std::vector<FactorItem<T>> fd, fh;
      for (int b = 0; b < cnt; b++) fd.push_back({n, A.d + size_t(b) * ld * n, ld, nullptr}), fh.push_back({n, A.h + size_t(b) * ld * n, ld, nullptr});
      std::vector<int> infd, infh;
      D.potrf(fd, infd);
      H.potrf(fh, infh);
      std::string w = "potrf n=" + std::to_string(n) + " x" + std::to_string(cnt) + " (upper kept)";
      if (n == 64) { // the failed item: its content is not specified (LAPACK stops, cuSOLVER may go on)
        const std::vector<T> z(size_t(ld) * n, T(0));
        D.upload(A.d + size_t(5) * ld * n, z.data(), z.size()), H.upload(A.h + size_t(5) * ld * n, z.data(), z.size());
      }
      for (int b = 0, shown = 0; b < cnt && infd.size() == infh.size() && shown < 3; b++)
        if (infd[b] != infh[b]) std::printf("  potrf info of item %d: device %d host %d\n", b, infd[b], infh[b]), shown++;
      report(w.c_str(), infd == infh ? A.diff() : INFINITY, ftol);
      if (n == 64 && infd[5] != 11) std::printf("  potrf info of the indefinite item: %d (expected 11) FAIL\n", infd[5]), failures++;
      if (n == 64) infd[5] = 0, infh[5] = 0;
      for (char tr : {'N', 'T'}) {
        const int nrhs = 5, ldb = n + 1;
        Twin<T> B(D, H, rnd<T>(g, size_t(cnt) * ldb * nrhs));
        std::vector<TrsmItem<T>> td, th;
        for (int b = 0; b < cnt; b++) {
          if (n == 64 && b == 5) continue;
          td.push_back({n, nrhs, A.d + size_t(b) * ld * n, ld, B.d + size_t(b) * ldb * nrhs, ldb});
          th.push_back({n, nrhs, A.h + size_t(b) * ld * n, ld, B.h + size_t(b) * ldb * nrhs, ldb});
        }
        D.trsm('L', tr, 'N', T(2), td);
        H.trsm('L', tr, 'N', T(2), th);
        w = std::string("trsm L,") + tr + ",N n=" + std::to_string(n);
        report(w.c_str(), B.diff(), ftol);
      }
      std::vector<double> dd, dh;
      D.diagonals(fd, dd);
      H.diagonals(fh, dh);
      double md = dd.size() == dh.size() ? 0 : INFINITY;
      for (size_t i = 0; i < dd.size() && i < dh.size(); i++) md = std::max(md, std::fabs(dd[i] - dh[i]) / (std::fabs(dh[i]) + 1e-300));
      report("diagonals", md, ftol);
    }
    for (int scattered = 0; scattered < 2; scattered++) { // getrf, getrs N and T
      Twin<T> A(D, H, gen(n, ld, cnt));
      int *pd = D.allocInt(size_t(cnt) * n), *ph = H.allocInt(size_t(cnt) * n);
      auto slot = [&](int b) { return scattered ? size_t(cnt - 1 - b) * n : size_t(b) * n; }; // reversed: not one strided array
      std::vector<FactorItem<T>> fd, fh;
      for (int b = 0; b < cnt; b++) fd.push_back({n, A.d + size_t(b) * ld * n, ld, pd + slot(b)}), fh.push_back({n, A.h + size_t(b) * ld * n, ld, ph + slot(b)});
      std::vector<int> infd, infh;
      D.getrf(fd, infd);
      H.getrf(fh, infh);
      std::vector<int> ipd(size_t(cnt) * n), iph(size_t(cnt) * n);
      D.downloadInt(ipd.data(), pd, ipd.size());
      H.downloadInt(iph.data(), ph, iph.size());
      std::string w = "getrf n=" + std::to_string(n) + " x" + std::to_string(cnt) + (scattered ? " scattered ipiv" : " strided ipiv");
      report(w.c_str(), (infd == infh && ipd == iph) ? A.diff() : INFINITY, ftol);
      if (ipd != iph) std::printf("  pivots differ (first: device %d host %d)\n", ipd[0], iph[0]);
      for (char tr : {'N', 'T'}) {
        const int nrhs = 3, ldb = n + 2;
        Twin<T> B(D, H, rnd<T>(g, size_t(cnt) * ldb * nrhs));
        std::vector<LuSolveItem<T>> sd, sh;
        for (int b = 0; b < cnt; b++) {
          sd.push_back({n, nrhs, A.d + size_t(b) * ld * n, ld, pd + slot(b), B.d + size_t(b) * ldb * nrhs, ldb});
          sh.push_back({n, nrhs, A.h + size_t(b) * ld * n, ld, ph + slot(b), B.h + size_t(b) * ldb * nrhs, ldb});
        }
        D.getrs(tr, sd);
        H.getrs(tr, sh);
        w = std::string("getrs ") + tr + " n=" + std::to_string(n);
        report(w.c_str(), B.diff(), ftol);
      }
      D.releaseInt(pd), H.releaseInt(ph);
    }
  }
  { // copy: 1000 items 30x20 (N and T), one 3000x2000 item (many blocks per item), alpha -2
    const int cnt = 1000;
    Twin<T> A(D, H, rnd<T>(g, size_t(cnt) * 32 * 30 + size_t(3000) * 2000)), B(D, H, rnd<T>(g, size_t(cnt) * 32 * 30 + size_t(3001) * 2000));
    std::vector<CopyItem<T>> cd, ch;
    for (int i = 0; i < cnt; i++) {
      const char tr = i % 2 ? 'T' : 'N';
      const size_t o = size_t(i) * 32 * 30;
      cd.push_back({tr, 30, 20, A.d + o, tr == 'N' ? 32 : 21, B.d + o, 31});
      ch.push_back({tr, 30, 20, A.h + o, tr == 'N' ? 32 : 21, B.h + o, 31});
    }
    const size_t o = size_t(cnt) * 32 * 30;
    cd.push_back({'N', 3000, 2000, A.d + o, 3000, B.d + o, 3001});
    ch.push_back({'N', 3000, 2000, A.h + o, 3000, B.h + o, 3001});
    D.copy(T(-2), cd);
    H.copy(T(-2), ch);
    report("copy 1001 items, N/T, one 3000x2000", B.diff(), 0.0);
  }
}

int main(int argc, char **argv)
{
  const std::string k = argc > 1 ? argv[1] : "cuda";
  const BackendKind kind = k == "host" ? BackendKind::Host : k == "kokkos" ? BackendKind::Kokkos : BackendKind::Cuda;
  try {
    run<double>(kind);
    run<float>(kind);
  } catch (const Error &e) {
    std::printf("ERROR (code %d): %s\n", e.code, e.what());
    return 2;
  }
  std::printf("RESULT: %s\n", failures ? "FAIL" : "PASS");
  return failures ? 1 : 0;
}
CPPEOF
if [ -x "$BUILD_DIR/uniform_batch" ]; then
  timeout -k 5 120 "$BUILD_DIR/uniform_batch" cuda # prebuilt by bundle.sh >"$OUTDIR/logs/uniform_batch.txt" 2>&1
  rc=$?
  sed 's/^/  /' "$OUTDIR/logs/uniform_batch.txt"
  echo "  exit $rc"
elif timeout -k 5 120 c++ -std=c++17 -O2 -Wall -Isrc "$OUTDIR/uniform_batch.cpp" -o "$OUTDIR/uniform_batch" -L"$BUILD_DIR" -lh2ulv -Wl,-rpath,"$(cd "$BUILD_DIR" 2>/dev/null && pwd)" >"$OUTDIR/logs/uniform_batch_build.txt" 2>&1; then
  timeout -k 5 120 "$OUTDIR/uniform_batch" cuda >"$OUTDIR/logs/uniform_batch.txt" 2>&1
  rc=$?
  sed 's/^/  /' "$OUTDIR/logs/uniform_batch.txt"
  echo "  exit $rc"
else
  rc=99
  echo "  could not compile the uniform-batch check:"; head -20 "$OUTDIR/logs/uniform_batch_build.txt" | sed 's/^/  /'
fi
CHECKS="$CHECKS uniform-batch=$([ $rc -eq 0 ] && echo PASS || echo "FAIL(rc=$rc)")"

# ------------------------------------------------------------------ runs of bench_pc
BENCH="$BUILD_DIR/bench/bench_pc"
COMMON=(-problem sphere-laplace -densemax 0 -mat_h2_rtol 1e-8 -pc_h2ulv_rtol 1e-4 -options_left)
CUDA=(-pc_h2ulv_backend cuda -pc_h2ulv_backend_required)
CUDA_BROKEN=0
declare -A DUR # mode -> seconds of its last run (to skip a run that cannot finish in time)

# run <label> <N> <mode> <extra options...>: one bench_pc size; appends its RECORD to results.tsv
run() {
  local label=$1 N=$2 mode=$3
  shift 3
  local e
  e=$(el)
  if [ "$CUDA_BROKEN" = 1 ] && [[ "$mode" == cuda* ]]; then
    say "skip $label N=$N $mode: the cuda backend was not usable in an earlier run"
    printf '%s\t%s\t%s\tskipped (cuda unusable)\t\n' "$label" "$N" "$mode" >>"$RESULTS"
    return
  fi
  if [ "$e" -ge "$LAUNCH_CUTOFF" ]; then
    say "skip $label N=$N $mode: ${e}s elapsed (no launch after ${LAUNCH_CUTOFF}s)"
    printf '%s\t%s\t%s\tskipped (time)\t\n' "$label" "$N" "$mode" >>"$RESULTS"
    return
  fi
  local prev=${DUR[$mode]:-0}
  if [ "$prev" -gt 0 ] && [ $((e + 2 * prev + 5)) -gt "$HARD_END" ]; then
    say "skip $label N=$N $mode: the last $mode run took ${prev}s, not enough time left"
    printf '%s\t%s\t%s\tskipped (time)\t\n' "$label" "$N" "$mode" >>"$RESULTS"
    return
  fi
  local log="$OUTDIR/logs/${label}_${mode}_N$N.txt" t0=$(date +%s) to
  to=$(left)
  say "run $label N=$N $mode (timeout ${to}s): bench_pc ${COMMON[*]} -nmin $N -nmax $N -method $mode $*"
  timeout -k 5 "$to" "$BENCH" "${COMMON[@]}" -nmin "$N" -nmax "$N" -method "$mode" "$@" >"$log" 2>&1
  local rc=$? status
  DUR[$mode]=$(($(date +%s) - t0))
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="timeout"; elif [ $rc -ne 0 ]; then status="failed (rc=$rc)"; else status=ok; fi
  grep -q "Option left: name:-pc_h2ulv_backend" "$log" && status="$status; -pc_h2ulv_backend NOT USED"
  grep -q "Option left: name:-pc_h2ulv_tensor_cores" "$log" && status="$status; -pc_h2ulv_tensor_cores NOT USED"
  grep -m1 -i "backend:" "$log" | sed 's/^ */  /'
  grep -i "PCH2ULV:" "$log" | head -3 | sed 's/^/  /'
  grep -E "^PCH2ULV(Setup|Bat)" "$log" | awk '{printf "  %-16s count %6s  time %s s  flop %s  %s MFlop/s\n", $1, $2, $4, $6, $NF}' # -log_view: per kind of batch
  if [ $rc -ne 0 ]; then
    if grep -q "PETSC ERROR: [^-]" "$log"; then grep -m6 "PETSC ERROR: [^-]" "$log"; else tail -n 15 "$log"; fi | sed 's/^/  | /'
    if [[ "$mode" == cuda* ]] && grep -q "backend was demanded but is not usable" "$log"; then
      CUDA_BROKEN=1
      say "  the cuda backend is not usable here: the remaining cuda runs are skipped"
    fi
  fi
  local rec
  rec=$(grep '^RECORD ' "$log" | grep '"bench":"solver"' | tail -1 | cut -c8-)
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$N" "$mode" "$status" "$rec" >>"$RESULTS"
  say "  $status in ${DUR[$mode]}s"
}

table() {
  python3 - "$RESULTS" "$CARD" "$CHECKS" <<'PYEOF'
import json, sys
path, card, checks = sys.argv[1], sys.argv[2], sys.argv[3]
print(f"\n== {card} | checks:{checks}")
print(f"{'card':<24} {'N':>8} {'run':<8} {'mode':<12} {'build_s':>8} {'setup_s':>8} {'solve_s':>8} {'its':>5} {'residual':>10}  status")
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if len(f) < 4: continue
    label, N, mode, status = f[:4]
    r = {}
    if len(f) > 4 and f[4].strip():
        try: r = json.loads(f[4])
        except Exception: status += "; bad RECORD"
    def g(k, fmt):
        v = r.get(k, -1)
        return fmt % v if isinstance(v, (int, float)) and v >= 0 else "-"
    its = r.get("its", None)
    its = "-" if its is None else (str(its) if its >= 0 else f"{-its}!")  # !: not converged
    print(f"{card[:24]:<24} {N:>8} {label:<8} {mode:<12} {g('build_s','%8.2f'):>8} {g('factor_s','%8.2f'):>8} {g('solve_s','%8.2f'):>8} {its:>5} {g('residual','%10.2e'):>10}  {status}")
print("build_s: H2 operator construction; setup_s: PC setup (KSPSetUp: the factorization); solve_s: KSPSolve;")
print("residual: ||b - A x||/||b|| with the H2 operator; its with '!': not converged.")
PYEOF
}

# ------------------------------------------------------------------ 4. host vs cuda at 2^16
N0=65536
rm -f "$OUTDIR"/x_host.bin* "$OUTDIR"/x_cuda.bin*
say "host vs cuda, double, N=$N0"
run compare $N0 host-double -ksp_type fgmres -pc_h2ulv_backend host -ksp_view -log_view
run compare $N0 cuda-double -ksp_type fgmres "${CUDA[@]}" -ksp_view -log_view
# the same factorization on both backends, applied to the same vectors (PCApply, PCMatApply),
# log det and inertia compared: tests/test_pc_backend.c (bound 1e-10 in double)
say "PC application, cuda vs host backend, double, N=$N0"
timeout 240 "$BUILD_DIR/tests/test_pc_backend" -problem sphere-laplace -n $N0 -backend cuda -required \
  -mat_h2_rtol 1e-8 -pc_h2ulv_rtol 1e-4 -max_diff 1e-10 2>&1 | tee "$OUTDIR/apply_compare.txt" | grep -v "^ *[0-9]  " || true
# tensor cores on the device: corrected TF32 within 1e-6 of FP32 factors, plain at least 10x farther
say "tensor cores, cuda, N=$N0: corrected and plain TF32 against FP32 factors"
timeout 240 "$BUILD_DIR/tests/test_pc_tensor" -problem sphere-laplace -n $N0 -backend cuda -rtol 1e-6 2>&1 | tee "$OUTDIR/tensor_check.txt" | grep -v "^ *[0-9]  " || true
CHECKS="$CHECKS test_pc_tensor=$(grep -q '^PASS' "$OUTDIR/tensor_check.txt" && grep -q 'corrected TF32 (3 products) GEMMs)' "$OUTDIR/tensor_check.txt" && echo PASS || echo FAIL)"
table

# ------------------------------------------------------------------ 5. cuda timings 2^16 .. 2^20
N=$N0
while [ "$N" -le $((1 << NMAX_LOG2)) ]; do
  [ "$N" -ne $N0 ] && run timing "$N" cuda-double -ksp_type fgmres "${CUDA[@]}" # N0: the 'compare' run
  run timing "$N" cuda-single -ksp_type fgmres "${CUDA[@]}" -pc_h2ulv_precision single
  run timing "$N" cuda-tf32 -ksp_type fgmres "${CUDA[@]}" -pc_h2ulv_precision single -pc_h2ulv_tensor_cores plain
  run timing "$N" cuda-tf32c -ksp_type fgmres "${CUDA[@]}" -pc_h2ulv_precision single -pc_h2ulv_tensor_cores corrected
  N=$((N * 2))
done

# ------------------------------------------------------------------ 6. the table
table | tee "$OUTDIR/table.txt"
say "done; logs in $OUTDIR"
