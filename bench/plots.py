#!/usr/bin/env python3
"""Plots and the results table from bench/results/records.jsonl (written by bench/run.py).

  python3 bench/plots.py [--records bench/results/records.jsonl] [--out docs]

Writes docs/bench_time.png, bench_memory.png, bench_accuracy.png, bench_speedup.png and
docs/benchmark-results.md (tables, slopes, headline ratios)."""
import argparse
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--records", default="bench/results/records.jsonl")
ap.add_argument("--out", default="docs")
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)

machine, R = {}, []
for line in open(args.records):
    if line.strip():
        r = json.loads(line)
        if "machine" in r:
            machine = r["machine"]
        else:
            for key in ("tol", "build_s", "factor_s", "solve_s", "matvec_s", "its", "residual", "error", "mem_bytes", "rss_bytes", "flops", "gflops"):
                r.setdefault(key, -1)
            R.append(r)


def sel(**kw):
    out = [r for r in R if all(r.get(k) == v for k, v in kw.items())]
    return sorted(out, key=lambda r: r["N"])


def series(rs, key):
    pts = [(r["N"], r[key]) for r in rs if r.get(key, -1) is not None and r[key] > 0]
    return [p[0] for p in pts], [p[1] for p in pts]


def slope(xs, ys, nmin=2**14):
    """least-squares slope of log(y) against log(N) over N >= nmin"""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x >= nmin and y > 0]
    if len(pts) < 2:
        return float("nan")
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sum((p[0] - mx) ** 2 for p in pts)


def guide(ax, xs, y0, power, label, style):
    if xs:
        x0 = xs[0]
        ax.plot(xs, [y0 * (x / x0) ** power for x in xs], style, color="gray", lw=0.8, label=label)


title = f"{machine.get('cpu', '')}, {machine.get('threads', '?')} threads"
P = "sphere-laplace"

# 1. time per phase against N
fig, ax = plt.subplots(figsize=(7, 5))
mv = [r for r in sel(bench="matvec", problem=P, method="h2") if r.get("run", "matvec-sphere") == "matvec-sphere"]  # the N series (not the tolerance runs)
pc, dn = sel(bench="solver", problem=P, method="h2ulv"), sel(bench="solver", problem=P, method="dense-cholesky")
hm = [r for r in sel(bench="solver", problem=P) if r["method"].startswith("hmat")]
sc = sel(bench="solver", problem=P, method="scalapack-cholesky")
for rs, key, lab, st in [(mv, "build_s", "H2 construction", "o-"), (mv, "matvec_s", "H2 matvec", "s-"), (pc, "build_s", "PC: operator construction", "v--"), (pc, "factor_s", "PC: H2-ULV setup (bases + factorization)", "^-"),
                         (pc, "solve_s", "PC: GMRES solve", "d-"), (dn, "factor_s", "dense LAPACK Cholesky", "x-"), (sc, "factor_s", "ScaLAPACK Cholesky, 2 ranks", "+-"), (hm, "factor_s", "hmat-oss LLt factorization", "*-")]:
    xs, ys = series(rs, key)
    if xs:
        ax.loglog(xs, ys, st, label=f"{lab} (slope {slope(xs, ys):.2f})")
xs, ys = series(pc, "factor_s")
if xs:
    guide(ax, xs, ys[0], 1, "O(N)", ":")
xs, ys = series(dn, "factor_s")
if xs:
    guide(ax, xs, ys[0], 3, "O(N^3)", "-.")
ax.set_xlabel("N")
ax.set_ylabel("seconds")
ax.set_title(f"{P}, tol 1e-8 (PC 1e-4)\n{title}", fontsize=9)
ax.legend(fontsize=7)
ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(f"{args.out}/bench_time.png", dpi=110)

# 2. memory against N
fig, ax = plt.subplots(figsize=(7, 5))
for rs, lab, st in [(mv, "H2 sphere-laplace", "o-"), (sel(bench="matvec", problem="ball-matern", method="h2"), "H2 ball-matern", "s-"),
                    (sel(bench="solver", problem=P, method="h2ulv"), "H2 + H2-ULV factors, sphere-laplace", "^-"), (sel(bench="solver", problem="ball-matern", method="h2ulv"), "H2 + H2-ULV factors, ball-matern", "v-"),
                    (hm, "hmat-oss (factorized)", "*-")]:
    xs, ys = series(rs, "mem_bytes")
    if xs:
        ax.loglog(xs, [y / 2**20 for y in ys], st, label=f"{lab} (slope {slope(xs, ys):.2f})")
xs = sorted(set(r["N"] for r in R))
if xs:
    ax.loglog(xs, [8.0 * x * x / 2**20 for x in xs], "k:", lw=0.8, label="dense 8 N^2 bytes")
    ax.axhline(24 * 1024, color="red", lw=0.8, ls="--", label="24 GiB")
ax.set_xlabel("N")
ax.set_ylabel("MiB")
ax.set_title(f"memory\n{title}", fontsize=9)
ax.legend(fontsize=7)
ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(f"{args.out}/bench_memory.png", dpi=110)

# 3. accuracy against tolerance (matvec, N = 16384)
fig, ax = plt.subplots(figsize=(6, 5))
acc = sorted([r for r in R if r["bench"] == "matvec" and r["problem"] == P and r["method"] == "h2" and r["N"] == 16384 and r["tol"] > 0], key=lambda r: r["tol"])
if acc:
    ts = [r["tol"] for r in acc]
    ax.loglog(ts, [r["error"] for r in acc], "o-", label="||A_H2 x - A x|| / ||A x||")
    ax.loglog(ts, ts, "k:", lw=0.8, label="= tol")
    ax.loglog(ts, [10 * t for t in ts], "r--", lw=0.8, label="10 tol (acceptance)")
ax.set_xlabel("tolerance -mat_h2_rtol")
ax.set_ylabel("relative matvec error")
ax.set_title(f"{P}, N = 16384", fontsize=9)
ax.legend(fontsize=8)
ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(f"{args.out}/bench_accuracy.png", dpi=110)

# 4. speed-up against dense Cholesky and hmat-oss (setup = construction + factorization)
fig, ax = plt.subplots(figsize=(6, 5))
ours = {r["N"]: r for r in sel(bench="solver", problem=P, method="h2ulv")}
sp_d = [(N, d["factor_s"] / (ours[N]["build_s"] + ours[N]["factor_s"])) for N, d in ((r["N"], r) for r in dn) if N in ours]
sp_h = [(r["N"], (r["build_s"] + r["factor_s"]) / (ours[r["N"]]["build_s"] + ours[r["N"]]["factor_s"])) for r in hm if r["N"] in ours]
if sp_d:
    ax.loglog(*zip(*sp_d), "o-", label="dense LAPACK Cholesky time / H2-ULV setup")
if sp_h:
    ax.loglog(*zip(*sp_h), "s-", label="hmat-oss (assembly + LLt) / H2-ULV setup")
ax.axhline(1, color="gray", lw=0.8)
ax.set_xlabel("N")
ax.set_ylabel("speed-up")
ax.set_title(f"{P}\n{title}", fontsize=9)
ax.legend(fontsize=7)
ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(f"{args.out}/bench_speedup.png", dpi=110)

# 5. the results page
L = ["# Benchmark results (generated by `make bench-plots` from bench/results/records.jsonl)", "",
     f"Machine: {machine.get('cpu', '?')}, {machine.get('threads', '?')} threads, {machine.get('mem_gib', '?')} GiB, "
     f"OpenBLAS core type {machine.get('openblas_coretype', '?')}. Reproduce with `make bench && make bench-plots`.", "",
     "![time](bench_time.png) ![memory](bench_memory.png)", "", "![accuracy](bench_accuracy.png) ![speed-up](bench_speedup.png)", ""]
L += ["## Headline ratios", ""]
for N, s in sp_d:
    L.append(f"- N = {N}: dense LAPACK Cholesky {[d for d in dn if d['N'] == N][0]['factor_s']:.2f} s vs H2-ULV setup (construction + factorization) "
             f"{ours[N]['build_s'] + ours[N]['factor_s']:.2f} s: **{s:.1f}x** (H2-ULV factorization alone: {[d for d in dn if d['N'] == N][0]['factor_s'] / ours[N]['factor_s']:.1f}x)")
for N, s in sp_h:
    L.append(f"- N = {N}: hmat-oss assembly + LLt vs H2-ULV setup: **{s:.1f}x**")
for r in sc:
    if r["N"] in ours:
        L.append(f"- N = {r['N']}: ScaLAPACK Cholesky on 2 MPI ranks {r['factor_s']:.2f} s vs H2-ULV setup: **{r['factor_s'] / (ours[r['N']]['build_s'] + ours[r['N']]['factor_s']):.1f}x**")
for name, rs, key in [("H2 construction", mv, "build_s"), ("H2 matvec", mv, "matvec_s"), ("H2-ULV setup", pc, "factor_s"), ("GMRES + H2-ULV solve", pc, "solve_s"), ("dense Cholesky", dn, "factor_s")]:
    xs, ys = series(rs, key)
    if len(xs) > 1:
        L.append(f"- slope of log time against log N ({name}, {P}, N >= 16384): {slope(xs, ys):.2f}")
# the factorization's rate against the machine's DGEMM rate and dense Cholesky, one table
dg = [r for r in R if r["bench"] == "dgemm"]
if ours:
    rate = dg[-1]["gflops"] if dg else -1
    L += ["", f"## H2-ULV factorization: time, executed flops and rate ({P}, operator 1e-8, PC 1e-4)", "",
          (f"DGEMM on this machine (n = 4096, {machine.get('threads', '?')} threads, best of 3): **{rate:.1f} GFLOP/s**. " if rate > 0 else "")
          + "Flops are those executed by the batched operations (counted batch by batch; `-log_view` events `PCH2ULVBat*`); "
          "'factorization s' is the whole PC setup, which also builds the PC's own fill-in-aware bases (not counted as flops), "
          "so 'GFLOP/s' (executed flops / that time) understates the ULV's own rate (`-log_view` gives it per operation).", "",
          "| N | H2 build s | factorization s | executed Gflop | GFLOP/s | % of DGEMM | dense Cholesky s | dense GFLOP/s | speed-up (setup / factorization) |",
          "|---|---|---|---|---|---|---|---|---|"]
    for N in sorted(ours):
        o = ours[N]
        d = [x for x in dn if x["N"] == N]
        g = o["flops"] / 1e9 if o["flops"] > 0 else -1
        pct = 100 * o["gflops"] / rate if rate > 0 and o["gflops"] > 0 else -1
        sp = (f"{d[0]['factor_s'] / (o['build_s'] + o['factor_s']):.1f}x / {d[0]['factor_s'] / o['factor_s']:.1f}x") if d else ""
        L.append(f"| {N} | {o['build_s']:.2f} | {o['factor_s']:.2f} | {g:.1f} | {o['gflops']:.1f} | {pct:.0f} % | {d[0]['factor_s']:.2f} | {d[0]['gflops']:.1f} | {sp} |" if d else
                 f"| {N} | {o['build_s']:.2f} | {o['factor_s']:.2f} | {g:.1f} | {o['gflops']:.1f} | {pct:.0f} % | | | |")
L += ["", "## All runs", "", "| run | method | problem | N | tol | build s | factor s | solve s | matvec s | its | residual | error | memory MB | GFlop/s |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]


def f(x, fmt):
    return "" if x is None or x < 0 else format(x, fmt)


for r in R:
    L.append(f"| {r.get('run', '')} | {r['method']} | {r['problem']} | {r['N']} | {f(r['tol'], '.0e')} | {f(r['build_s'], '.3f')} | {f(r['factor_s'], '.3f')} | {f(r['solve_s'], '.3f')} | {f(r['matvec_s'], '.4f')} | "
             f"{r['its'] if r['its'] != -1 else ''} | {f(r['residual'], '.1e')} | {f(r['error'], '.1e')} | {f(r['mem_bytes'] / 2**20 if r['mem_bytes'] > 0 else -1, '.0f')} | {f(r['gflops'], '.1f')} |")
L += ["", "Negative iteration counts: not converged within 500 iterations. `error`: matvec runs, ||A_H2 x - A x||/||A x|| on sample rows; "
      "solver runs, ||x - x_dense||/||x_dense|| against the PETSc MATDENSE + LAPACK solution (N <= 32768); hmat-oss, see bench/bench_hmat.c."]
open(f"{args.out}/benchmark-results.md", "w").write("\n".join(L) + "\n")
print(f"wrote {args.out}/bench_*.png and {args.out}/benchmark-results.md")
