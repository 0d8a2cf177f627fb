// Row -> group lookup. group_index holds cumulative END rows, so the group of row r is
// the first g with group_index[g] > r (an upper bound). Kernels look it up once per
// chunk of rows and then advance, since rows are sorted by group.
#ifndef GROUPQUANT_SRC_GROUPS_H_
#define GROUPQUANT_SRC_GROUPS_H_

#include "src/element.h"
#include "src/problem.h"

namespace groupquant::detail {

inline int64_t group_end(const Problem& p, int64_t g) {
  return load_index(p.group_index, p.group_index_dtype, g * p.group_index_stride);
}

// Requires 0 <= row < M and a validated group_index (so the answer is < G).
inline int64_t group_of_row(const Problem& p, int64_t row) {
  int64_t lo = 0, hi = p.G;  // answer in [lo, hi)
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (group_end(p, mid) > row) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_GROUPS_H_
