/*
   The memory of a large MATH2 estimated before its bases are built.  The points and the tree are
   checked exactly (MatH2CheckMemory_Private); the bases and the values depend on ranks nobody knows
   before the compression.  A pilot build measures them: the same options on a uniform subsample of
   the points (every k-th point in tree order, so cells of the same size hold points of the same
   spread), with the matrix's own entries.  Its bytes per point, scaled to N, say whether the
   stored values fit (else -mat_h2_storage auto computes them on the fly) and whether the bases
   fit at all; what cannot fit is refused before the long build starts.
*/
#include "math2impl.h"
#include "core/h2matrix.hpp"

#include <unistd.h>

static const PetscInt PilotPoints = 16384;

/* bytes per point of the bases and of the stored values, measured on the pilot (this process alone) */
static PetscErrorCode MatH2Pilot_Private(Mat A, double *basesPerPoint, double *valuesPerPoint)
{
  Mat_H2                   *h = static_cast<Mat_H2 *>(A->data);
  const h2ulv::ClusterTree &T = *h->tree;
  const int                 n = (int)PilotPoints, step = T.size() / n, dim = T.dim();

  PetscFunctionBegin;
  PetscCall(H2ULVCallCore(PetscObjectComm((PetscObject)A), PETSC_TRUE, [&]() { /* collective: a failing entry callback fails on every process */
    std::vector<double> x((size_t)n * dim);
    for (int i = 0; i < n; i++) std::copy_n(T.coords().data() + (size_t)i * step * dim, dim, x.data() + (size_t)i * dim);
    auto             sub = std::make_shared<const h2ulv::ClusterTree>(dim, n, x.data(), MatH2TreeOptions_Private(h));
    std::vector<int> map(n); /* pilot tree position -> the matrix's tree position */
    for (int t = 0; t < n; t++) map[t] = sub->perm()[t] * step;
    const h2ulv::PermutedEntries ev(h->evaluator, std::move(map));
    const h2ulv::H2Structure     S(PETSC_COMM_SELF, sub, ev, MatH2BuildOptions_Private(h));
    *basesPerPoint  = (double)S.bytes() / n;
    *valuesPerPoint = (double)h2ulv::H2Values<double>::estimateBytes(S) / n;
  }));
  PetscFunctionReturn(0);
}

PetscErrorCode MatH2CheckMemoryPilot_Private(Mat A)
{
  Mat_H2     *h = static_cast<Mat_H2 *>(A->data);
  MPI_Comm    comm = PetscObjectComm((PetscObject)A);
  const double N   = (double)A->rmap->N;
  PetscMPIInt size;
  double      avail, bases, values;
  PetscLogDouble limit;
  char        what[160];

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(H2ULVAvailableBytes_Private(comm, &avail));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &avail, 1, MPI_DOUBLE, MPI_MIN, comm));
  /* only where it could matter: 16 KB a point (more than measured for the standard problems at
     rtol 1e-8) would take more than half of what a process can get */
  if (N < 16 * PilotPoints || N / size * 16384.0 < 0.5 * avail) PetscFunctionReturn(0);
  if (!h->tree->geometric()) { /* a subsample of a tree from the entries would need a tree of its own from the entries */
    PetscCall(PetscInfo(A, "MATH2: no pilot build for a tree from the entries: the memory of the bases is not estimated before they are built\n"));
    PetscFunctionReturn(0);
  }
  PetscCall(MatH2Pilot_Private(A, &bases, &values)); /* the same on every process: same points, same options */
  bases *= N / size, values *= N / size;
  PetscCall(MatH2StoredValuesLimit_Private(A, &limit));
  const bool stored = h->storage == MATH2_STORAGE_STORED || (h->storage == MATH2_STORAGE_AUTO && values <= limit);
  PetscCall(PetscInfo(A, "MATH2: a pilot build on %" PetscInt_FMT " of the %.0f points estimates %.4g MB of bases and %.4g MB of stored values per process (%s)\n", PilotPoints, N, bases / 1048576.0, values / 1048576.0, stored ? "stored" : "not stored: computed on the fly"));
  PetscCall(PetscSNPrintf(what, sizeof(what), "MATH2 with %.0f points (its bases%s, estimated from a pilot build on %" PetscInt_FMT " of them)", N, stored ? " and stored values" : "", PilotPoints));
  PetscCall(H2ULVCheckMemory_Private(comm, bases + (stored ? values : 0), what, stored ? "use more processes or nodes, a looser -mat_h2_rtol, or -mat_h2_storage jit" : "use more processes or nodes, or a looser -mat_h2_rtol"));
  PetscFunctionReturn(0);
}

PetscErrorCode MatH2StoredValuesLimit_Private(Mat A, PetscLogDouble *limit)
{
  MPI_Comm    comm = PetscObjectComm((PetscObject)A);
  PetscMPIInt size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  *limit = H2(A)->memlimit * 1048576.0;
  if (*limit <= 0) *limit = 0.5 * (PetscLogDouble)sysconf(_SC_PHYS_PAGES) * (PetscLogDouble)sysconf(_SC_PAGE_SIZE) / size;
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, limit, 1, MPIU_PETSCLOGDOUBLE, MPI_MIN, comm)); /* one decision for all processes */
  PetscFunctionReturn(0);
}
