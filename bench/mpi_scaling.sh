#!/bin/sh
# Strong scaling of the distributed PCH2ULV from 1 to 2 processes (one thread each), with the
# threaded one-process run for reference: sphere-laplace, MATH2 operator at 1e-8, PC at 1e-4,
# GMRES to 1e-10 (the bench suite's standard settings).  Usage: bench/mpi_scaling.sh [build] [N...]
# Output: the bench_pc table line and the PCH2ULV -log_view events per run.
B=${1:-build}; shift
SIZES=${*:-131072 262144}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}
for N in $SIZES; do
  for cfg in "1 1" "2 1" "1 2"; do
    set -- $cfg
    echo "## N=$N processes=$1 threads/process=$2"
    # the threaded one-process reference runs without mpiexec (which binds a process to one core)
    if [ $1 = 1 ] && [ $2 -gt 1 ]; then launch=""; else launch="mpiexec -n $1"; fi
    OPENBLAS_NUM_THREADS=$2 OMP_NUM_THREADS=$2 /usr/bin/time -f "wall %e s, max RSS per process %M KB" \
      $launch $B/bench/bench_pc -problem sphere-laplace -nmin $N -nmax $N -densemax 0 \
      -mat_h2_rtol 1e-8 -pc_h2ulv_rtol 1e-4 -log_view 2>&1 |
      grep -E "^ +[0-9]+ |^PCH2ULV|^MatAssemblyEnd|^wall"
  done
done
