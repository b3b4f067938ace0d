#include "parallel.hpp"

#include <cstdlib>
#include <dlfcn.h>

namespace h2ulv {

namespace {
using GetFn = int (*)(void);
using SetFn = void (*)(int);
GetFn getThreads()
{
  static GetFn f = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return f;
}
SetFn setThreads()
{
  static SetFn f = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  return f;
}
thread_local int saved = -1;
int nthreads = 0;
} // namespace

void blasThreadsPush()
{
  if (getThreads() && setThreads()) {
    saved = getThreads()();
    if (saved > 1) setThreads()(1);
  }
}
void blasThreadsPop()
{
  if (setThreads() && saved > 0) setThreads()(saved);
  saved = -1;
}

bool blasThreadsWiden(int nt)
{
#if defined(_OPENMP)
  if (omp_in_parallel()) return false;
#endif
  if (nt <= 1 || !getThreads() || !setThreads()) return false;
  saved = getThreads()();
  if (saved >= nt) {
    saved = -1;
    return false;
  }
  setThreads()(nt);
  return true;
}

BlasOneThread::BlasOneThread()
{
  if (getThreads() && setThreads() && (saved_ = getThreads()()) > 1) setThreads()(1);
}
BlasOneThread::~BlasOneThread()
{
  if (saved_ > 1) setThreads()(saved_);
}

int defaultThreads()
{
  if (nthreads > 0) return nthreads;
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}
void setDefaultThreads(int n) { nthreads = n; }

} // namespace h2ulv
