// Private helpers of the H^2 matrix shared by its bases (h2_basis.cpp), values (h2_values.cpp) and
// product (h2_multiply.cpp): checked evaluation of entry blocks.  Not part of the interface
// (src/core/h2matrix.hpp).
#pragma once

#include "h2matrix.hpp"

#include <vector>

namespace h2ulv {
namespace detail {

// A(rows, cols) (m x n, leading dimension m) into this thread's scratch buffer, checked: the
// on-the-fly products evaluate thousands of blocks per product, without allocating or zero
// filling each one.  Valid until the thread's next call.
const double *evalScratch(const EntryEvaluator &ev, const ClusterTree &tree, const int *rows, int m, const int *cols, int n);

// A(rows, cols) as a new matrix, checked finite
Matrix<double> evalBlock(const EntryEvaluator &ev, const ClusterTree &tree, const std::vector<int> &rows, const std::vector<int> &cols);

// the points of a cell, in tree order
std::vector<int> cellPoints(const Cell &c);

} // namespace detail
} // namespace h2ulv
