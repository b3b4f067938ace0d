// Thread-level batches: a parallel loop over independent items (cells or blocks of a level) that
// captures the first exception and rethrows it after the loop, and keeps OpenBLAS single-threaded
// while the batch runs so the two thread pools do not oversubscribe the cores.
#pragma once

#include <exception>
#include <mutex>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace h2ulv {

int defaultThreads();
void setDefaultThreads(int);

void blasThreadsPush(); // OpenBLAS to 1 thread (no-op without OpenBLAS)
void blasThreadsPop();
// OpenBLAS to nt threads for one large call made outside any parallel loop (a batch of one item:
// the dense root), so that it uses every core; returns whether it changed anything (then pop)
bool blasThreadsWiden(int nt);
// the same for a scope: widened to every thread given when `on`, restored at its end
class BlasThreadsWide {
public:
  explicit BlasThreadsWide(bool on) : on_(on && blasThreadsWiden(defaultThreads())) { }
  ~BlasThreadsWide()
  {
    if (on_) blasThreadsPop();
  }
  BlasThreadsWide(const BlasThreadsWide &) = delete;
  BlasThreadsWide &operator=(const BlasThreadsWide &) = delete;

private:
  bool on_;
};

// OpenBLAS on the calling thread alone for a scope (whatever its setting), restored at its end: for
// work whose result depends on the calling thread's floating-point state (a rounding mode)
class BlasOneThread {
public:
  BlasOneThread();
  ~BlasOneThread();
  BlasOneThread(const BlasOneThread &) = delete;
  BlasOneThread &operator=(const BlasOneThread &) = delete;

private:
  int saved_ = -1;
};

template <typename F>
void parallelFor(int n, bool threaded, F &&f)
{
  std::exception_ptr err = nullptr;
  std::mutex mtx;
  int nt = threaded ? defaultThreads() : 1;
  if (nt > 1 && n > 1) blasThreadsPush();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && n > 1)
  for (int i = 0; i < n; i++) {
    if (err) continue;
    try {
      f(i);
    } catch (...) {
      std::lock_guard<std::mutex> g(mtx);
      if (!err) err = std::current_exception();
    }
  }
  if (nt > 1 && n > 1) blasThreadsPop();
  if (err) std::rethrow_exception(err);
}

} // namespace h2ulv
