#!/usr/bin/env bash
# The factorization's executed rate against the machine's DGEMM, side by side in one run: DGEMM
# (n = 4096, best of 3) on one BLAS thread and on all the cores, then PCH2ULV with its defaults on
# sphere-laplace (FGMRES to 1e-10, 2 threads, one BLAS thread each) with -log_view: PCView's
# factorization time and CPU utilisation, the executed flops, and the batched operations' events.
# Run it once with OpenBLAS's own choice of kernels and once with OPENBLAS_CORETYPE set, if wanted.
#
#   bench/factor_rate.sh BENCH_PC [N ...]        (default N: 65536 131072; BENCH_PC: build/bench/bench_pc)
set -euo pipefail
B=${1:?usage: bench/factor_rate.sh BENCH_PC [N ...]}
shift
sizes=${*:-65536 131072}
cores=$(nproc)
echo "# $cores cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(library default)}"
for bt in 1 "$cores"; do
  echo "## DGEMM n = 4096, OPENBLAS_NUM_THREADS=$bt: $(OPENBLAS_NUM_THREADS=$bt "$B" -dgemm_rate -nmin 1 -nmax 0 2>&1 | grep '# DGEMM')"
done
for N in $sizes; do
  echo "## sphere-laplace $N: OMP_NUM_THREADS=$cores OPENBLAS_NUM_THREADS=1 bench_pc -problem sphere-laplace -nmin $N -nmax $N -densemax 0 -ksp_type fgmres -ksp_view -log_view"
  OMP_NUM_THREADS=$cores OPENBLAS_NUM_THREADS=1 /usr/bin/time -f "  wall %e s, CPU %P, peak RSS %M KB" "$B" -problem sphere-laplace -nmin "$N" -nmax "$N" -densemax 0 -ksp_type fgmres -ksp_view -log_view 2>&1 |
    grep -E "setup .*bases|wall|PCH2ULVBat|PCH2ULVRoot|PCH2ULVSetup|^ +$N " || true
done
