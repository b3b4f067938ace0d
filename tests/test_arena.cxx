// Test of BlockArena and the Matrix allocator (src/core/dense.hpp): blocks made in an arena lie
// in it, side by side without overlap, also when two threads take from it at once; a block that
// does not fit goes to the heap; a copy goes to the heap and a move keeps the arena; every block
// keeps its entries after the last other reference to the arena is gone (the arena lives as long
// as its blocks: AddressSanitizer sees any use after free).  Plain C++; its output: checks.hpp.
#include "checks.hpp"
#include "core/dense.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

using namespace h2ulv;
using checks::check;

namespace {
// fills block b with values that name it
void fill(Matrix<double> &B, int b)
{
  for (size_t t = 0; t < B.size(); t++) B.data()[t] = b + 1e-6 * static_cast<double>(t);
}
bool holds(const Matrix<double> &B, int b)
{
  for (size_t t = 0; t < B.size(); t++)
    if (B.data()[t] != b + 1e-6 * static_cast<double>(t)) return false;
  return true;
}
} // namespace

int main()
{
  const int nb = 400, m = 37, n = 29; // 400 blocks of 37 x 29 (not a multiple of the alignment)
  size_t bytes = 0;
  for (int b = 0; b < nb; b++) bytes += BlockArena::rounded(sizeof(double) * m * n);
  std::vector<Matrix<double>> blocks(nb);
  Matrix<double> extra, copied, moved;
  {
    auto arena = std::make_shared<BlockArena>(bytes);
    check(arena->capacity() >= bytes, "the arena holds what was asked");
    // two threads take the blocks at once
    auto make = [&](int first) {
      for (int b = first; b < nb; b += 2) {
        Matrix<double> B = Matrix<double>::uninitialized(m, n, arena);
        fill(B, b);
        blocks[b] = std::move(B);
      }
    };
    std::thread t0(make, 0), t1(make, 1);
    t0.join(), t1.join();
    bool inside = true;
    for (const auto &B : blocks) inside = inside && arena->owns(B.data()) && arena->owns(B.data() + B.size() - 1);
    check(inside, "the blocks lie in the arena");
    std::vector<std::pair<const double *, const double *>> span;
    for (const auto &B : blocks) span.push_back({B.data(), B.data() + B.size()});
    std::sort(span.begin(), span.end());
    bool disjoint = true;
    for (size_t t = 1; t < span.size(); t++) disjoint = disjoint && span[t - 1].second <= span[t].first;
    check(disjoint, "the blocks do not overlap");
    // past the requested size (rounded up to 2 MB) the arena is full: blocks go to the heap
    const int big = static_cast<int>((arena->capacity() - bytes) / sizeof(double)) + 1;
    extra = Matrix<double>::uninitialized(big, 1, arena);
    fill(extra, -1);
    check(!arena->owns(extra.data()), "a block that does not fit goes to the heap");
    copied = blocks[3];
    check(!arena->owns(copied.data()) && holds(copied, 3), "a copy goes to the heap");
    moved = std::move(blocks[5]);
    check(arena->owns(moved.data()) && holds(moved, 5), "a move keeps the arena");
  } // the last reference other than the blocks' is gone
  bool all = holds(moved, 5) && holds(copied, 3) && holds(extra, -1);
  for (int b = 0; b < nb; b++)
    if (b != 5) all = all && holds(blocks[b], b);
  check(all, "every block keeps its entries while it lives");
  blocks.clear();
  moved = Matrix<double>();
  check(holds(copied, 3), "a heap copy outlives the arena");
  return checks::verdict();
}
