/* One machine-readable record per run: a line "RECORD {json}" that bench/run.py collects into
   bench/results/records.jsonl and bench/plots.py plots.  Keys (numbers; -1 = not measured):
     bench     "matvec" (MATH2 construction + matvec) or "solver" (a way of solving A x = b)
     problem, N, method, threads, ranks, tol
     build_s   construction of the operator / compressed matrix
     factor_s  factorization (PC setup); solve_s: the solve; matvec_s: one MatMult
     its       iterations; residual: ||b - A x||/||b||; error: accuracy figure of the run
               (matvec: ||A_H2 x - A x||/||A x|| on sample rows; solver: ||x - x_dense||/||x_dense||
               or ||x - x_true||/||x_true||, see the program)
     mem_bytes memory of the representation/factors; rss_bytes: peak resident set of the process
     flops, gflops  counted flops of the factorization (or matvec) and their rate */
#pragma once
#include <petscsys.h>
#include <stdlib.h>
#include <sys/resource.h>

static inline PetscLogDouble BenchPeakRSSBytes(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss * 1024.0;
}

static inline int BenchThreads(void)
{
  const char *t = getenv("OMP_NUM_THREADS");
  return t ? atoi(t) : 1;
}

typedef struct {
  const char *bench, *problem, *method;
  PetscInt    N, its, ranks;
  PetscReal   tol, build_s, factor_s, solve_s, matvec_s, residual, error, mem_bytes, rss_bytes, flops, gflops;
} BenchRecord;

static inline void BenchRecordInit(BenchRecord *r, const char *bench, const char *problem, const char *method, PetscInt N)
{
  r->bench = bench, r->problem = problem, r->method = method, r->N = N;
  r->its = -1, r->ranks = 1;
  r->tol = r->build_s = r->factor_s = r->solve_s = r->matvec_s = r->residual = r->error = r->mem_bytes = r->flops = r->gflops = -1;
  r->rss_bytes = BenchPeakRSSBytes();
}

static inline PetscErrorCode BenchRecordPrint(MPI_Comm comm, const BenchRecord *r)
{
  PetscFunctionBegin;
  PetscCall(PetscPrintf(comm,
                        "RECORD {\"bench\":\"%s\",\"problem\":\"%s\",\"N\":%" PetscInt_FMT ",\"method\":\"%s\",\"threads\":%d,\"ranks\":%" PetscInt_FMT ",\"tol\":%.6g,"
                        "\"build_s\":%.6g,\"factor_s\":%.6g,\"solve_s\":%.6g,\"matvec_s\":%.6g,\"its\":%" PetscInt_FMT ",\"residual\":%.4g,\"error\":%.4g,"
                        "\"mem_bytes\":%.6g,\"rss_bytes\":%.6g,\"flops\":%.6g,\"gflops\":%.4g}\n",
                        r->bench, r->problem, r->N, r->method, BenchThreads(), r->ranks, (double)r->tol, (double)r->build_s, (double)r->factor_s, (double)r->solve_s, (double)r->matvec_s, r->its, (double)r->residual, (double)r->error,
                        (double)r->mem_bytes, (double)r->rss_bytes, (double)r->flops, (double)r->gflops));
  PetscFunctionReturn(0);
}
