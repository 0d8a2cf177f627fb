// A validated call: what every backend (reference, CPU driver, CUDA launcher) reads.
// Built only by validate_arguments(), so a Problem always satisfies SPEC.md's rules
// (group_index values too, unless the call deferred them to the device).
#ifndef GROUPQUANT_SRC_PROBLEM_H_
#define GROUPQUANT_SRC_PROBLEM_H_

#include <groupquant/groupquant.h>

#include <cstdint>

namespace groupquant::detail {

struct Problem {
  int64_t M = 0, N = 0, G = 0;
  gq_output_kind kind = GQ_OUTPUT_INT8;

  gq_dtype x_dtype = GQ_DTYPE_FLOAT32;
  const char* x = nullptr;       // element [0, 0]; byte_offset applied
  int64_t x_stride[2] = {0, 0};  // in elements

  gq_dtype scale_dtype = GQ_DTYPE_FLOAT32;
  const char* scale = nullptr;
  int64_t scale_stride[2] = {0, 0};

  gq_dtype group_index_dtype = GQ_DTYPE_INT64;
  const char* group_index = nullptr;
  int64_t group_index_stride = 0;

  const char* offset = nullptr;  // null when absent; dtype is scale_dtype

  char* y = nullptr;
  int64_t y_stride[2] = {0, 0};  // in output elements (int8 or int32 words)

  bool empty() const { return M == 0 || N == 0; }
  // Columns of y: N for int8, N / 8 int32 words for packed int4.
  int64_t y_cols() const { return kind == GQ_OUTPUT_INT4_PACKED ? N / 8 : N; }
};

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_PROBLEM_H_
