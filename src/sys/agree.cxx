/* Checks that every process must pass together: parameters that have to be equal on all processes
   (a different tree, tolerance or precision on one process would break the distributed algorithms
   or hang them), and the memory a construction needs against what the process can get. */
#include "h2ulvimpl.h"

#include <cstdio>
#include <cstring>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

PetscErrorCode H2ULVCheckSame_Private(MPI_Comm comm, const char *what, PetscInt n, const H2ULVParam params[])
{
  struct ValRank {
    double v;
    int    rank;
  };
  PetscMPIInt size, rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (size == 1 || n == 0) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  std::vector<ValRank> lo((size_t)n), hi((size_t)n);
  for (PetscInt i = 0; i < n; i++) lo[i] = hi[i] = {params[i].value, (int)rank};
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, lo.data(), (PetscMPIInt)n, MPI_DOUBLE_INT, MPI_MINLOC, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, hi.data(), (PetscMPIInt)n, MPI_DOUBLE_INT, MPI_MAXLOC, comm));
  for (PetscInt i = 0; i < n; i++)
    PetscCheck(lo[i].v == hi[i].v, comm, PETSC_ERR_ARG_INCOMP, "%s: %s differs between the processes (%g on rank %d, %g on rank %d); it must be the same on every process", what, params[i].name, lo[i].v, lo[i].rank, hi[i].v, hi[i].rank);
  PetscFunctionReturn(0);
}

/* bytes this process can still allocate: the smaller of its address-space limit (ulimit -v) less what
   it maps already, and the node's available memory shared by the processes on the node */
PetscErrorCode H2ULVAvailableBytes_Private(MPI_Comm comm, double *bytes)
{
  MPI_Comm      node;
  PetscMPIInt   nlocal;
  struct rlimit rl;
  double        avail = -1;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  PetscCallMPI(MPI_Comm_size(node, &nlocal));
  PetscCallMPI(MPI_Comm_free(&node));
  if (FILE *f = fopen("/proc/meminfo", "r")) {
    char   key[64];
    double kb;
    while (fscanf(f, "%63s %lf kB", key, &kb) == 2)
      if (!strcmp(key, "MemAvailable:")) {
        avail = kb * 1024.0 / nlocal;
        break;
      }
    fclose(f);
  }
  if (avail < 0) avail = (double)sysconf(_SC_AVPHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE) / nlocal;
  if (!getrlimit(RLIMIT_AS, &rl) && rl.rlim_cur != RLIM_INFINITY) {
    double mapped = 0;
    if (FILE *f = fopen("/proc/self/statm", "r")) {
      long pages;
      if (fscanf(f, "%ld", &pages) == 1) mapped = (double)pages * (double)sysconf(_SC_PAGE_SIZE);
      fclose(f);
    }
    avail = PetscMin(avail, (double)rl.rlim_cur - mapped);
  }
  *bytes = PetscMax(avail, 0.0);
  PetscFunctionReturn(0);
}

PetscErrorCode H2ULVCheckMemory_Private(MPI_Comm comm, double need, const char *what, const char *advice)
{
  double avail = 0, mine[3], worst[3];

  PetscFunctionBegin;
  PetscCall(H2ULVAvailableBytes_Private(comm, &avail));
  /* the largest need, the smallest availability, and whether some process cannot fit its share */
  mine[0] = need, mine[1] = -avail, mine[2] = need > avail ? 1 : 0;
  PetscCallMPI(MPI_Allreduce(mine, worst, 3, MPI_DOUBLE, MPI_MAX, comm));
  PetscCheck(worst[2] == 0, comm, PETSC_ERR_MEM, "%s needs at least %.4g GB on a process but a process can get only %.4g GB (its memory limit, or the node's available memory shared by its processes): %s", what, worst[0] / 1e9, -worst[1] / 1e9, advice);
  PetscFunctionReturn(0);
}

void H2ULVMonitorLevel_Private(MPI_Comm comm, const char *what, int l, int L, PetscLogDouble t0)
{
  PetscLogDouble t;
  const int      done = L - l, left = l; /* levels L..l+1 are done, l..1 remain */

  if (PetscTime(&t)) return;
  if (done == 0) (void)PetscPrintf(comm, "%s: level %d of %d..1 (the leaves), %.2f s\n", what, l, L, (double)(t - t0));
  else (void)PetscPrintf(comm, "%s: level %d of %d..1, %.2f s; about %.2f s left at the mean rate of the %d level(s) done\n", what, l, L, (double)(t - t0), (double)((t - t0) / done * left), done);
}
