// Row -> group lookup, shared by every op that routes rows through a group_index of
// cumulative END rows: the group of row r is the first g with group_index[g] > r (an
// upper bound). Kernels look it up once per chunk of rows and then advance, since rows
// are sorted by group.
#ifndef GROUPQUANT_SRC_GROUPS_H_
#define GROUPQUANT_SRC_GROUPS_H_

#include "src/element.h"
#include "src/problem.h"

namespace groupquant::detail {

// A group_index as every op holds it: G cumulative end rows of an int32 or int64 tensor.
struct GroupIndex {
  const char* data = nullptr;
  gq_dtype dtype = GQ_DTYPE_INT64;
  int64_t stride = 0;
  int64_t G = 0;

  int64_t end(int64_t g) const { return load_index(data, dtype, g * stride); }

  // Requires 0 <= row < the last end row (validated), so the answer is < G.
  int64_t group_of_row(int64_t row) const {
    int64_t lo = 0, hi = G;  // answer in [lo, hi)
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (end(mid) > row) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
  }
};

inline GroupIndex group_index_of(const Problem& p) {
  return {p.group_index, p.group_index_dtype, p.group_index_stride, p.G};
}
inline GroupIndex group_index_of(const DynamicProblem& p) {
  return {p.group_index, p.group_index_dtype, p.group_index_stride, p.E};
}

// Walks the groups of consecutive rows: seek once, then next() per row in order.
class GroupCursor {
 public:
  GroupCursor(const GroupIndex& groups, int64_t first_row)
      : groups_(groups), g_(groups.group_of_row(first_row)), end_(groups.end(g_)) {}
  // The group of `row`; rows must be visited in increasing order.
  int64_t group_of(int64_t row) {
    while (row >= end_) end_ = groups_.end(++g_);
    return g_;
  }

 private:
  GroupIndex groups_;
  int64_t g_, end_;
};

inline int64_t group_end(const Problem& p, int64_t g) { return group_index_of(p).end(g); }
inline int64_t group_of_row(const Problem& p, int64_t row) {
  return group_index_of(p).group_of_row(row);
}

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_GROUPS_H_
