#!/usr/bin/env python3
"""The benchmark suite behind `make bench`: runs the benchmark programs on the standard problems
(shared/design/benchmarks.md), shows progress, and collects their RECORD lines into
bench/results/records.jsonl (one JSON object per run); logs go to bench/results/logs/.
`make bench-plots` (bench/plots.py) turns the records into PNG plots and a results table.

  python3 bench/run.py [--build build] [--size default|large] [--only name,name] [--out bench/results]

Default sizes take about 10-15 minutes on 2 cores; --size large goes to N = 2^18 (about an hour)."""
import argparse
import json
import os
import subprocess
import sys
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--build", default="build")
ap.add_argument("--size", choices=["default", "large"], default="default")
ap.add_argument("--only", default="", help="comma-separated names of the runs to do (default: all)")
ap.add_argument("--out", default="bench/results")
ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
args = ap.parse_args()

big = args.size == "large"
B = args.build
# (name, command): each command prints RECORD lines.  PC runs: the operator at tol 1e-8; the
# factorization as a preconditioner at its own tolerance (-pc_h2ulv_rtol), GMRES to 1e-10.
PCH = ["-mat_h2_rtol", "1e-8", "-pc_h2ulv_rtol", "1e-4"]
RUNS = [
    ("matvec-sphere", [f"{B}/bench/bench_h2", "-problem", "sphere-laplace", "-nmin", "4096", "-nmax", str(2**18 if big else 2**17), "-densemax", "16384"]),
    ("matvec-matern", [f"{B}/bench/bench_h2", "-problem", "ball-matern", "-nmin", "4096", "-nmax", str(2**16 if big else 2**15), "-densemax", "16384"]),
]
for t in ["1e-4", "1e-6", "1e-10", "1e-12"]:  # accuracy against tolerance (1e-8 is in the runs above)
    RUNS.append((f"tol-{t}", [f"{B}/bench/bench_h2", "-problem", "sphere-laplace", "-nmin", "16384", "-nmax", "16384", "-densemax", "0", "-mat_h2_rtol", t]))
RUNS += [
    ("h2ulv-sphere", [f"{B}/bench/bench_pc", "-problem", "sphere-laplace", "-nmin", "4096", "-nmax", str(2**18 if big else 2**17), "-densemax", "32768", "-method", "h2ulv"] + PCH),
    # fixed rank cap, as in the papers' runs: O(N) setup, iterations growing slowly with N
    ("h2ulv-sphere-rank128", [f"{B}/bench/bench_pc", "-problem", "sphere-laplace", "-nmin", "16384", "-nmax", str(2**19 if big else 2**17), "-densemax", "0", "-method", "h2ulv-rank128", "-pc_h2ulv_max_rank", "128"] + PCH),
    ("h2ulv-matern", [f"{B}/bench/bench_pc", "-problem", "ball-matern", "-nmin", "4096", "-nmax", str(2**16 if big else 2**14), "-densemax", "16384", "-method", "h2ulv", "-mat_h2_rtol", "1e-8", "-pc_h2ulv_rtol", "1e-6"]),  # ill conditioned: 1e-4 is not enough
    ("h2ulv-direct", [f"{B}/bench/bench_pc", "-problem", "sphere-laplace", "-nmin", "4096", "-nmax", "16384", "-densemax", "0", "-method", "h2ulv-direct", "-ksp_type", "preonly", "-mat_h2_rtol", "1e-8"]),
    ("gmres-none", [f"{B}/bench/bench_pc", "-problem", "sphere-laplace", "-nmin", "4096", "-nmax", "65536", "-densemax", "0", "-method", "gmres-none", "-pc_type", "none"]),
    ("gmres-jacobi", [f"{B}/bench/bench_pc", "-problem", "sphere-laplace", "-nmin", "4096", "-nmax", "65536", "-densemax", "0", "-method", "gmres-jacobi", "-pc_type", "jacobi"]),
    ("gmres-bjacobi", [f"{B}/bench/bench_pc", "-problem", "sphere-laplace", "-nmin", "4096", "-nmax", "65536", "-densemax", "0", "-method", "gmres-bjacobi", "-pc_type", "bjacobi"]),
]
# the machine's DGEMM rate (the reference for the factorization's GFLOP/s); no solve
RUNS.append(("dgemm", [f"{B}/bench/bench_pc", "-dgemm_rate", "-nmin", "1", "-nmax", "0"]))
# our own variants, sphere-laplace N = 16384, GMRES to 1e-10
V = [f"{B}/bench/bench_pc", "-problem", "sphere-laplace", "-nmin", "16384", "-nmax", "16384", "-densemax", "0"] + PCH
for v in ["diag", "near1", "twohop"]:
    RUNS.append((f"schur-{v}", V + ["-method", f"h2ulv-schur-{v}", "-pc_h2ulv_schur", v]))
for v in ["nearfield", "none"]:
    RUNS.append((f"fillin-{v}", V + ["-method", f"h2ulv-fillin-{v}", "-pc_h2ulv_fillin", v]))
for v in ["1", "0.1", "0.001"]:  # the default is 0.01
    RUNS.append((f"fillin-weight-{v}", V + ["-method", f"h2ulv-fillinw{v}", "-pc_h2ulv_fillin_weight", v]))
RUNS.append(("single", V + ["-method", "h2ulv-single", "-pc_h2ulv_precision", "single", "-ksp_type", "fgmres"]))
for v in ["64", "256"]:
    RUNS.append((f"leaf-{v}", V + ["-method", f"h2ulv-leaf{v}", "-pc_h2ulv_leaf_size", v]))
for v in ["0.5", "2"]:
    RUNS.append((f"theta-{v}", V + ["-method", f"h2ulv-theta{v}", "-pc_h2ulv_theta", v]))
# ScaLAPACK (PETSc MATSCALAPACK) on 2 MPI processes, one thread each
RUNS.append(("scalapack", ["mpiexec", "-n", "2", f"{B}/bench/bench_dense", "-problem", "sphere-laplace", "-nmin", "4096", "-nmax", str(2**15 if big else 2**14), "-scalapack"], {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}))
# hmat-oss (GPL, optional): built only when the Debian package libhmat-oss-dev is installed
if os.path.exists(f"{B}/bench/bench_hmat"):
    RUNS.append(("hmat-oss", [f"{B}/bench/bench_hmat", "-problem", "sphere-laplace", "-nmin", "4096", "-nmax", str(2**16 if big else 2**15), "-eps", "1e-8", "-exactmax", "16384"]))
else:
    print("# hmat-oss comparison skipped: bench_hmat not built (install libhmat-oss-dev and rebuild)")

only = set(x for x in args.only.split(",") if x)
os.makedirs(f"{args.out}/logs", exist_ok=True)
env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads), OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
# Debian's OpenBLAS 0.3.21 takes this virtual CPU for a Prescott and runs SSE3 kernels: name the
# AVX-512 core type when the CPU has it (tests and CI keep the library's own choice)
if "avx512f" in open("/proc/cpuinfo").read() and "OPENBLAS_CORETYPE" not in env:
    env["OPENBLAS_CORETYPE"] = "SKYLAKEX"
records = []
start = time.time()
todo = [r for r in RUNS if not only or r[0] in only]
for k, (name, cmd, *extra) in enumerate(todo):
    renv = dict(env, **(extra[0] if extra else {}))
    t0 = time.time()
    print(f"[{time.time() - start:7.1f} s] ({k + 1}/{len(todo)}) {name}: {' '.join(cmd)}", flush=True)
    with open(f"{args.out}/logs/{name}.txt", "w") as log:
        log.write("# " + " ".join(cmd) + "\n")
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=renv)
        for line in p.stdout:
            log.write(line)
            if line.startswith("RECORD "):
                rec = json.loads(line[7:])
                rec["run"] = name
                records.append(rec)
                for key in ("tol", "build_s", "factor_s", "solve_s", "matvec_s", "its", "residual", "error", "mem_bytes", "rss_bytes", "flops", "gflops"):
                    rec.setdefault(key, -1)
                phases = " ".join(f"{key}={rec[key]:.3g}" for key in ("build_s", "factor_s", "solve_s", "matvec_s") if rec[key] >= 0)
                print(f"    [{time.time() - start:7.1f} s] {rec['method']:>20s} N={rec['N']:<8d} {phases} its={rec['its']} err={rec['error']:.2e} mem={rec['mem_bytes'] / 2**20:.0f}MB", flush=True)
        rc = p.wait()
    if rc:
        print(f"    FAILED (exit {rc}); see {args.out}/logs/{name}.txt", flush=True)
    print(f"    {name} done in {time.time() - t0:.1f} s", flush=True)

machine = {"cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"), "threads": args.threads,
           "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1), "date": time.strftime("%Y-%m-%d"),
           "openblas_coretype": env.get("OPENBLAS_CORETYPE", "(library default)")}
path = f"{args.out}/records.jsonl"
keep = []
if only and os.path.exists(path):  # a partial run replaces only its own runs
    keep = [json.loads(l) for l in open(path) if l.strip() and json.loads(l).get("run") not in only and "machine" not in json.loads(l)]
with open(path, "w") as f:
    f.write(json.dumps({"machine": machine}) + "\n")
    for r in keep + records:
        f.write(json.dumps(r) + "\n")
print(f"# {len(records)} records in {path}; total {time.time() - start:.0f} s")
