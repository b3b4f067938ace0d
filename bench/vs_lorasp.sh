#!/usr/bin/env bash
# h2ulv against the authors' SC22 H2-ULV driver `lorasp` (rioyokotalab/nbd-cpu-only) on its own
# problem, side by side in one run on one machine: the 1/r kernel on the sphere with diagonal -1e6
# (our standard problem sc22-sphere, the same points), leaf 256, admissibility 2, ranks <= 100.
#
#   bench/vs_lorasp.sh LORASP BENCH_PC [N ...]        (default N: 32768 65536 131072 262144)
#
# LORASP: the driver built from a snapshot of the public repository (see the comment at the end);
# BENCH_PC: build/bench/bench_pc.  Each N runs lorasp on 1 and on 2 MPI ranks (its parallelism is
# ranks, one BLAS thread each) and h2ulv as one process with OMP_NUM_THREADS=2, as a direct solver
# (-ksp_type preonly) of a random right-hand side as lorasp solves (-rhs_random: the MATH2 operator
# is never used, so its bases are never built), with the kernel built in and as a user callback
# (MatH2SetKernel, MAT_SYMMETRIC set after MatAssemblyEnd), with its defaults and lorasp's tolerance
# (-mat_h2_rtol 1e-10: a direct solve factors to the matrix's tolerance), and with lorasp's leaf size
# 256 besides the default 128.  Prints every run's own timing lines and, from
# /usr/bin/time, its wall time, CPU use and peak resident memory (per process: lorasp on 2 ranks holds
# two of them), and for h2ulv the residual of its solution against the exact kernel matrix on 128
# rows.  lorasp's driver compares with the exact kernel matrix only below N = 20000 (above, its
# errors are against its own compressed matrix): for its accuracy at every N, pass a driver built
# with that check at every N (LORASP_EXACT below).  Extra h2ulv options:
# H2ULV_OPTS; other h2ulv configurations: H2ULV_CONFIGS (a list of option sets separated by ';'); the lorasp
# rank counts: LORASP_RANKS (default "1 2").
#
# Building lorasp (Debian: libopenblas-dev liblapacke-dev libopenmpi-dev): fetch a snapshot of
# rioyokotalab/nbd-cpu-only, compile linalg basis build_tree comm umv lorasp .cxx with
# `mpicxx -std=c++14 -O3 -fopenmp` and a header that maps its four MKL calls onto CBLAS/LAPACKE,
# link with -lopenblas -llapacke.
#
# LORASP_EXACT=1 bench/vs_lorasp.sh LORASP_SRC_DIR ...: first builds, from that source directory,
# a copy of the driver whose exact check (`if (Nbody < 20000)` in lorasp.cxx) holds at every N, so
# that its "Err: Compress ..., Factor ..." line is against the exact kernel matrix (the check costs
# an O(N^2) product, outside the timed phases), and runs that one; LORASP_INCLUDE: the directory
# of the MKL-to-CBLAS header the build needs.
set -eu
if [ "${LORASP_EXACT:-0}" = 1 ]; then
  src=$1
  out=${TMPDIR:-/tmp}/lorasp-exact
  rm -rf "$out" && mkdir -p "$out/build" && cp -r "$src" "$out/src"
  sed -i 's/Nbody < 20000/Nbody < 2000000000/' "$out/src/lorasp.cxx"
  grep -q 'Nbody < 2000000000' "$out/src/lorasp.cxx" || { echo "vs_lorasp.sh: the driver's exact check was not found in $src/lorasp.cxx" >&2; exit 1; }
  for f in linalg basis build_tree comm umv lorasp; do
    mpicxx -std=c++14 -O3 -m64 -I"$out/src" ${LORASP_INCLUDE:+-I"$LORASP_INCLUDE"} -fopenmp -c "$out/src/$f.cxx" -o "$out/build/$f.o"
  done
  mpicxx -fopenmp "$out"/build/{linalg,basis,build_tree,comm,umv,lorasp}.o -lopenblas -llapacke -lm -o "$out/lorasp"
  set -- "$out/lorasp" "${@:2}"
fi

lorasp=$1
bench_pc=$2
shift 2
sizes=${*:-32768 65536 131072 262144}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
timed() { /usr/bin/time -f "  wall %e s, CPU %P, peak RSS %M KB" "$@" 2>&1; }
echo "# $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for N in $sizes; do
  for np in ${LORASP_RANKS:-1 2}; do
    echo "## N = $N: lorasp, $np rank(s): lorasp $N 2 256 1e-10 100 2000"
    OMP_NUM_THREADS=1 timed mpiexec -n "$np" "$lorasp" "$N" 2 256 1.e-10 100 2000 | grep -E "Construct|Factorize|Solution|GFLOPS|Memory|Err|wall"
  done
  IFS=';' read -r -a configs <<< "${H2ULV_CONFIGS:--mat_h2_rtol 1e-10;-mat_h2_rtol 1e-10 -callback;-mat_h2_rtol 1e-10 -mat_h2_leaf_size 256}"
  for opts in "${configs[@]}"; do
    echo "## N = $N: h2ulv, 2 threads: bench_pc -problem sc22-sphere -ksp_type preonly -rhs_random $opts ${H2ULV_OPTS:-}"
    OMP_NUM_THREADS=2 timed "$bench_pc" -problem sc22-sphere -nmin "$N" -nmax "$N" -densemax 0 -ksp_type preonly -rhs_random -exact_rows 128 $opts ${H2ULV_OPTS:-} | grep -vE "^RECORD|^# sc22"
  done
done
