// BlockArena (dense.hpp): one huge-page region for the blocks of a level
#include "dense.hpp"

#include <cstdlib>
#include <new>
#include <sys/mman.h>

namespace h2ulv {

BlockArena::BlockArena(size_t bytes, size_t align) : align_(std::max<size_t>(1, align))
{
  constexpr size_t huge = size_t(2) << 20;
  if (bytes == 0) return;
  const size_t whole = (bytes + huge - 1) / huge * huge;
  void *p = nullptr;
  if (posix_memalign(&p, huge, whole)) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
  (void)madvise(p, whole, MADV_HUGEPAGE); // advice only: without it the region has 4 KB pages
#endif
  base_ = static_cast<char *>(p);
  cap_ = whole;
}

BlockArena::~BlockArena()
{
  if (!detached_) std::free(base_);
}

void *BlockArena::detach()
{
  detached_ = true;
  return base_;
}

void *BlockArena::take(size_t bytes)
{
  const size_t need = rounded(bytes, align_);
  size_t at = used_.load(std::memory_order_relaxed);
  do {
    if (need > cap_ - at) return nullptr;
  } while (!used_.compare_exchange_weak(at, at + need, std::memory_order_relaxed));
  return base_ + at;
}

} // namespace h2ulv
