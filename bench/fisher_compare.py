#!/usr/bin/env python3
"""The Fisher information of an MLP on scikit-learn's digits (examples/fisher_mlp): H2-ULV at several
tolerances against the diagonal, the exact layer blocks, K-FAC and rank-k + lambda I at the H2
memory, over the damping alpha, in the network's and a random parameter order, at two sizes.

  /usr/bin/python3 bench/fisher_compare.py [--exe build/examples/fisher_mlp] [--out docs] [--quick]

Writes bench/results/fisher.jsonl (every RECORD), <out>/fisher-results.md (the tables) and
<out>/fisher_error.png (solve error against memory).  One thread (OMP_NUM_THREADS=1)."""
import argparse
import json
import os
import subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--exe", default="build/examples/fisher_mlp")
ap.add_argument("--out", default="docs")
ap.add_argument("--records", default="bench/results/fisher.jsonl")
ap.add_argument("--quick", action="store_true", help="the small size only, fewer tolerances")
args = ap.parse_args()

ALPHAS = [1e-1, 1e-2, 1e-3, 1e-4]
TOLS = [1e-4, 1e-8] if args.quick else [1e-2, 1e-4, 1e-6, 1e-8, 1e-10]
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def run(hidden, alpha, tol, order="natural", compare=False, nev=10):
    cmd = [args.exe, "-hidden", str(hidden), "-alpha", str(alpha), "-mat_h2_rtol", str(tol), "-pc_h2ulv_rtol", str(tol),
           "-order", order, "-nev", str(nev)] + (["-compare"] if compare else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=True).stdout
    recs = []
    for line in out.splitlines():
        if line.startswith("RECORD "):
            r = json.loads(line[7:])
            r.update(alpha=alpha, tol=tol if r["method"] == "h2ulv" else None, order=order, hidden=hidden)
            recs.append(r)
    print(" ".join(cmd[1:]), "->", ", ".join("%s %s" % (r["method"], fmt(r["solve_error"])) for r in recs), flush=True)
    return recs


def main():
    recs = []
    for a in ALPHAS:  # the small network: every tolerance, the approximations at the tightest
        for t in TOLS:
            recs += run(32, a, t, compare=(t == TOLS[-1]))
    for t in TOLS:
        recs += run(32, 1e-3, t, order="random")
    if not args.quick:
        for t in (1e-4, 1e-8):
            recs += run(120, 1e-3, t, compare=(t == 1e-8), nev=0)
    os.makedirs(os.path.dirname(args.records), exist_ok=True)
    with open(args.records, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    write_tables(recs)
    plot(recs)


def fmt(x):
    if x is not None and x == -2:
        return "failed"
    return "—" if x is None or x < 0 else "%.1e" % x


def write_tables(recs):
    h2 = [r for r in recs if r["method"] == "h2ulv"]
    ap_ = [r for r in recs if r["method"] != "h2ulv"]
    L = ["# Fisher of an MLP on digits: results", "",
         "Made by `/usr/bin/python3 bench/fisher_compare.py` (one thread); every run is",
         "`build/examples/fisher_mlp -hidden H -alpha a -mat_h2_rtol t -pc_h2ulv_rtol t -order o [-compare] [-nev 0]`.",
         "Errors are relative to dense LAPACK on the same matrix: the solve (F + λI)⁻¹g, log det(F + λI),",
         "the top 10 eigenvalues of F (relative to λ_max); MB: the H² matrix (for the approximations: what",
         "they store); factor s: PCH2ULV's setup (approximations: their whole solve).", ""]
    for hidden in sorted({r["hidden"] for r in h2}):
        N = next(r["N"] for r in h2 if r["hidden"] == hidden)
        L += ["## N = %d (hidden %d), the network's order" % (N, hidden), "",
              "| α | tol | solve error | log det error | eigenvalue error | MB (dense %.0f) | factor s | FGMRES its (single, 1e-4) |" % (8.0 * N * N / 2**20),
              "|---|---|---|---|---|---|---|---|"]
        for r in h2:
            if r["hidden"] == hidden and r["order"] == "natural":
                L.append("| %g | %g | %s | %s | %s | %.1f | %.2f | %d |" % (r["alpha"], r["tol"], fmt(r["solve_error"]), fmt(r["logdet_error"]), fmt(r["eig_error"]), r["mem_bytes"] / 2**20, r["factor_s"], r["pre_its"]))
        L += ["", "The approximations (at the memory of the H² matrix for rank-k):", "",
              "| α | method | solve error | log det error | MB | seconds |", "|---|---|---|---|---|---|"]
        for r in ap_:
            if r["hidden"] == hidden:
                L.append("| %g | %s | %s | %s | %.2f | %.2f |" % (r["alpha"], r["method"], fmt(r["solve_error"]), fmt(r["logdet_error"]), r["mem_bytes"] / 2**20, r["factor_s"]))
        L.append("")
    rnd = [r for r in h2 if r["order"] == "random"]
    if rnd:
        L += ["## The order of the parameters (N = %d, α = 1e-3)" % rnd[0]["N"], "",
              "| tol | solve error, network's order | random order | MB, network's | random |", "|---|---|---|---|---|"]
        for r in rnd:
            nat = next((q for q in h2 if q["order"] == "natural" and q["hidden"] == r["hidden"] and q["alpha"] == 1e-3 and q["tol"] == r["tol"]), None)
            if nat:
                L.append("| %g | %s | %s | %.1f | %.1f |" % (r["tol"], fmt(nat["solve_error"]), fmt(r["solve_error"]), nat["mem_bytes"] / 2**20, r["mem_bytes"] / 2**20))
        L.append("")
    with open(os.path.join(args.out, "fisher-results.md"), "w") as f:
        f.write("\n".join(L))


def plot(recs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for a, mk in zip(ALPHAS, "osD^"):
        h = [r for r in recs if r["method"] == "h2ulv" and r["hidden"] == 32 and r["order"] == "natural" and r["alpha"] == a]
        h = [r for r in h if r["solve_error"] >= 0]
        ax.plot([r["mem_bytes"] / 2**20 for r in h], [max(r["solve_error"], 1e-16) for r in h], "-" + mk, label="H²-ULV, α = %g" % a)
        for r in recs:
            if r["method"] != "h2ulv" and r["hidden"] == 32 and r["alpha"] == a:
                ax.plot(r["mem_bytes"] / 2**20, r["solve_error"], mk, color="gray", mfc="none")
                if a == ALPHAS[0]:
                    ax.annotate(r["method"], (r["mem_bytes"] / 2**20, r["solve_error"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memory (MB)")
    ax.set_ylabel("relative error of (F + λI)⁻¹ g")
    ax.set_title("Fisher of a 64-32-10 MLP on digits (N = 2410); gray: approximations")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "fisher_error.png"), dpi=120)


if __name__ == "__main__":
    main()
