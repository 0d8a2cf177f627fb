// C++17 API of groupquant: the same entry points as groupquant.h, throwing
// groupquant::Error (a std::invalid_argument) where the C ABI returns a status.
//
// Tensors are gq_tensor views (groupquant.h): {data, ndim, dtype, shape, strides,
// byte_offset}, strides in elements (nullptr: compact row-major), byte_offset in bytes,
// a 0-d tensor with ndim 0 and no shape. Non-owning: the caller keeps the memory alive
// for the call. Every function is thread-safe. docs/cpp.md is the guide, with a complete
// example.
#ifndef GROUPQUANT_GROUPQUANT_HPP_
#define GROUPQUANT_GROUPQUANT_HPP_

#include <groupquant/groupquant.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace groupquant {

// Thrown for every input that breaks a SPEC.md validation rule. The message names
// the argument, the rule and the offending value.
class GQ_API Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Thrown when a requested CPU ISA is not available on this machine or build.
class GQ_API Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct OutputSpec {
  gq_dtype dtype;
  std::array<int64_t, 2> shape;
};

GQ_API OutputSpec output_spec(const gq_tensor& x, gq_output_kind kind);

// Validates every argument, then quantizes x on the CPU into y_out, the OUTPUT (a const
// view of caller-allocated memory, which is written; see gq_group_quant). offset may be
// null. options: threads (gq_options in groupquant.h); the default uses the built-in pool.
GQ_API void group_quant(const gq_tensor& x, const gq_tensor& scale, const gq_tensor& group_index,
                        const gq_tensor* offset, gq_output_kind kind, const gq_tensor& y_out,
                        const gq_options& options = gq_options{});

// The scalar oracle that reads like SPEC.md: same validation, one element at a time,
// no SIMD, no threads. Every fast path is tested bit for bit against it.
GQ_API void group_quant_reference(const gq_tensor& x, const gq_tensor& scale,
                                  const gq_tensor& group_index, const gq_tensor* offset,
                                  gq_output_kind kind, const gq_tensor& y_out);

// ---- npu_dynamic_quant / npu_dynamic_quant_asymmetric (see groupquant.h) ----

struct DynamicOutputSpec {
  gq_dtype dtype;                // y's dtype
  int32_t ndim;                  // y's rank (x's); scale and offset have ndim - 1
  std::array<int64_t, 8> shape;  // y's shape; scale's is its first ndim - 1 entries
};

GQ_API DynamicOutputSpec dynamic_quant_output_spec(const gq_tensor& x,
                                                   const gq_dynamic_quant_config& config);

// Validates every argument (group_index values included), then quantizes x into y, scale
// and, for config.asymmetric, offset (null otherwise) on the CPU. smooth_scales and
// group_index may be null.
GQ_API void dynamic_quant(const gq_tensor& x, const gq_tensor* smooth_scales,
                          const gq_tensor* group_index, const gq_dynamic_quant_config& config,
                          const gq_tensor& y, const gq_tensor& scale, const gq_tensor* offset,
                          const gq_options& options = gq_options{});

// The scalar oracle for dynamic_quant, written to read like SPEC-dynamic-quant.md.
GQ_API void dynamic_quant_reference(const gq_tensor& x, const gq_tensor* smooth_scales,
                                    const gq_tensor* group_index,
                                    const gq_dynamic_quant_config& config, const gq_tensor& y,
                                    const gq_tensor& scale, const gq_tensor* offset);

}  // namespace groupquant

#endif  // GROUPQUANT_GROUPQUANT_HPP_
