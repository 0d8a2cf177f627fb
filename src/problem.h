// A validated call: what every backend (reference, CPU driver, CUDA launcher) reads.
// Built only by validate_arguments(), so a Problem always satisfies SPEC.md's rules
// (group_index values too, unless the call deferred them to the device).
#ifndef GROUPQUANT_SRC_PROBLEM_H_
#define GROUPQUANT_SRC_PROBLEM_H_

#include <groupquant/groupquant.h>

#include <cstdint>

#include "src/dynamic_quant_math.h"
#include "src/output_kind.h"

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
  int64_t y_cols() const { return N / output_traits(kind).cols_per_word; }
};

// The leading dimensions of an N-D tensor seen as rows: row r's first element is at
// element offset row_offset(r). Validation merges the dimensions that every tensor of a
// call lays out contiguously, so most calls have ndim == 1 (one multiply per row).
inline constexpr int32_t kMaxRowDims = 7;
struct RowDims {
  int32_t ndim = 1;
  int64_t size[kMaxRowDims] = {0};
};
struct RowStrides {
  int64_t stride[kMaxRowDims] = {0};
};
inline int64_t row_offset(const RowDims& d, const RowStrides& s, int64_t r) {
  if (d.ndim == 1) return r * s.stride[0];
  int64_t offset = 0;
  for (int32_t i = d.ndim - 1; i >= 0; --i) {
    offset += (r % d.size[i]) * s.stride[i];
    r /= d.size[i];
  }
  return offset;
}

// A validated npu_dynamic_quant(_asymmetric) call (SPEC-dynamic-quant.md and its §10).
struct DynamicProblem {
  DynamicOp op;
  int64_t rows = 0, H = 0;
  RowDims row_dims;

  gq_dtype x_dtype = GQ_DTYPE_FLOAT16;  // smooth_scales has the same dtype
  const char* x = nullptr;
  RowStrides x_rows;
  int64_t x_col_stride = 1;

  const char* smooth = nullptr;       // null: no smoothing
  int64_t smooth_stride[2] = {0, 0};  // [expert, column]; expert stride 0 for a [H] smooth

  // Non-null only when smooth_scales is [E, H] (group_index is ignored without smooth).
  const char* group_index = nullptr;
  gq_dtype group_index_dtype = GQ_DTYPE_INT32;
  int64_t group_index_stride = 0;
  int64_t E = 1;

  char* y = nullptr;
  RowStrides y_rows;
  int64_t y_col_stride = 1;  // in stored elements (int32 words for packed int4)

  char* scale = nullptr;  // float32
  RowStrides scale_rows;
  char* offset = nullptr;  // float32; asymmetric only
  RowStrides offset_rows;

  bool empty() const { return rows == 0; }
};

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_PROBLEM_H_
