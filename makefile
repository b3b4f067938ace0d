# h2ulv top-level makefile.  The two commands of the README:
#   make demo    install missing Debian packages, build, run the main example
#   make check   build and run the whole test suite (serial and MPI)
#   make check-asan   the same with AddressSanitizer + UBSan on a subset of the tests (build-asan/)
# Other targets: make (build), make bench (+ make bench-plots), make install PREFIX=..., make clean

BUILD   ?= build
JOBS    ?= 2
PREFIX  ?= /usr/local
CMAKE_BUILD_TYPE ?= RelWithDebInfo
DEB_PACKAGES = build-essential cmake pkg-config petsc-dev slepc-dev libopenblas-dev \
               libtrilinos-kokkos-dev libtrilinos-kokkos-kernels-dev python3-petsc4py python3-numpy python3-sklearn \
               dataset-fashion-mnist

# mpiexec as root (CI) and oversubscription on small machines; BLAS threads set explicitly
export OMPI_ALLOW_RUN_AS_ROOT = 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = 1
export OMPI_MCA_rmaps_base_oversubscribe = 1
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: all deps bench-deps configure build check check-asan demo bench bench-plots install clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "h2ulv: installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

check: build
	cd $(BUILD) && OMP_NUM_THREADS=1 ctest -j $(JOBS) --output-on-failure --timeout 900

# AddressSanitizer (with leak checks) + UndefinedBehaviorSanitizer: its own build directory, the
# tests labelled asan (tests/CMakeLists.txt); the sanitizer options are in the tests' environment
ASAN_BUILD ?= build-asan
check-asan: deps
	@test -f $(ASAN_BUILD)/CMakeCache.txt || cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DH2ULV_SANITIZE=ON -DH2ULV_ENABLE_CUDA=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest -L asan -j $(JOBS) --output-on-failure --timeout 900

DEMO_N ?= 8192
demo: build
	OMP_NUM_THREADS=$(JOBS) $(BUILD)/examples/kernel_solve -problem sphere-laplace -n $(DEMO_N) \
	  -mat_type h2 -mat_h2_rtol 1e-8 -pc_type h2ulv -pc_h2ulv_rtol 1e-4 -ksp_type gmres -ksp_rtol 1e-10 -ksp_view

# The benchmark suite (bench/run.py, about 10-15 minutes on 2 cores at its default sizes; records
# in bench/results/records.jsonl, logs in bench/results/logs/), then the plots and the results page
# (docs/).  Extra Debian packages: matplotlib for the plots, and hmat-oss for the optional
# comparison program (GPL-2, confined to bench/bench_hmat.c).  BENCH_ARGS="--size large" for 2^18.
BENCH_PACKAGES = python3 python3-matplotlib libhmat-oss-dev
PYTHON ?= /usr/bin/python3
bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"

bench: bench-deps build
	cmake -S . -B $(BUILD) > /dev/null && cmake --build $(BUILD) -j $(JOBS)
	$(PYTHON) bench/run.py --build $(BUILD) --threads $(JOBS) $(BENCH_ARGS)
	$(PYTHON) bench/plots.py

bench-plots:
	$(PYTHON) bench/plots.py

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)
