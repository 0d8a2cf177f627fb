// The part of an npu_dynamic_quant SIMD row kernel that does not depend on the ISA: the
// empty row, the choice of the smooth/asymmetric/chip variant, row_quant() between the
// two passes, and the kernel definitions. An ISA file (dynamic_quant_<isa>.cc) provides
// its two passes as a policy type
//   template <gq_dtype kX, bool kSmooth, bool kAsym>
//   static RowStats reduce(const char* x, const char* s, int64_t n);
//   template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym>
//   static void quantize(const char* x, const char* s, int64_t n, const RowQuant& q,
//                        const DynamicOp& op, char* y);
// named DynamicQuantPolicy, and expands GQ_DEFINE_SIMD_DYNAMIC_QUANT_KERNELS(isa).
// A policy may also keep the smoothed row between its passes: it then declares
//   static constexpr int64_t kept_row_floats(gq_dtype x);  // 0: never
// and its two passes take one more argument, `float* kept` (reduce writes xs there,
// quantize reads it back): a 64-byte aligned stack buffer of that many floats, or null
// when the row is longer or the count is 0 (the passes then recompute xs).
#ifndef GROUPQUANT_SRC_CPU_DYNAMIC_QUANT_ROW_H_
#define GROUPQUANT_SRC_CPU_DYNAMIC_QUANT_ROW_H_

#include <groupquant/groupquant.h>

#include <cstdint>
#include <type_traits>

#include "src/cpu/kernels.h"
#include "src/dynamic_quant_math.h"

namespace groupquant::detail {

// Whether the policy declares kept_row_floats(), and its value for x (0 where not).
template <class Policy, class = void>
struct KeptRow {
  static constexpr bool kDeclared = false;
  static constexpr int64_t floats(gq_dtype) { return 0; }
};
template <class Policy>
struct KeptRow<Policy, std::void_t<decltype(Policy::kept_row_floats(GQ_DTYPE_FLOAT16))>> {
  static constexpr bool kDeclared = true;
  static constexpr int64_t floats(gq_dtype x) { return Policy::kept_row_floats(x); }
};

template <class Policy, gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool kAsym>
void dynamic_quant_row_variant(const char* x, const char* s, int64_t n, const DynamicOp& op,
                               char* y, float* scale, float* offset) {
  if constexpr (KeptRow<Policy>::kDeclared) {
    constexpr int64_t kKept = KeptRow<Policy>::floats(kX);
    alignas(64) float buffer[kKept > 0 ? kKept : 1];
    float* kept = n <= kKept ? buffer : nullptr;
    const RowQuant q = row_quant(op, Policy::template reduce<kX, kSmooth, kAsym>(x, s, n, kept));
    *scale = q.scale;
    if (offset != nullptr) *offset = q.offset;
    if (op.chip_950) {
      Policy::template quantize<kX, kKind, kSmooth, true, kAsym>(x, s, n, q, op, y, kept);
    } else {
      Policy::template quantize<kX, kKind, kSmooth, false, kAsym>(x, s, n, q, op, y, kept);
    }
  } else {
    const RowQuant q = row_quant(op, Policy::template reduce<kX, kSmooth, kAsym>(x, s, n));
    *scale = q.scale;
    if (offset != nullptr) *offset = q.offset;
    if (op.chip_950) {
      Policy::template quantize<kX, kKind, kSmooth, true, kAsym>(x, s, n, q, op, y);
    } else {
      Policy::template quantize<kX, kKind, kSmooth, false, kAsym>(x, s, n, q, op, y);
    }
  }
}

// The DynamicRowKernel contract (kernels.h) on top of a policy's two passes.
template <class Policy, gq_dtype kX, gq_output_kind kKind>
void dynamic_quant_row(const void* x_row, const void* smooth_row, int64_t n, const DynamicOp& op,
                       void* y_row, float* scale, float* offset) {
  static_assert(kX == GQ_DTYPE_FLOAT16 || kX == GQ_DTYPE_BFLOAT16, "16-bit x");
  if (n == 0) {  // as the scalar kernel: RowQuant{}
    *scale = 0.0f;
    if (offset != nullptr) *offset = 0.0f;
    return;
  }
  const char* x = static_cast<const char*>(x_row);
  const char* s = static_cast<const char*>(smooth_row);
  char* y = static_cast<char*>(y_row);
  if (s != nullptr) {
    if (op.asymmetric) {
      return dynamic_quant_row_variant<Policy, kX, kKind, true, true>(x, s, n, op, y, scale,
                                                                      offset);
    }
    return dynamic_quant_row_variant<Policy, kX, kKind, true, false>(x, s, n, op, y, scale, offset);
  }
  if (op.asymmetric) {
    return dynamic_quant_row_variant<Policy, kX, kKind, false, true>(x, s, n, op, y, scale, offset);
  }
  return dynamic_quant_row_variant<Policy, kX, kKind, false, false>(x, s, n, op, y, scale, offset);
}

// Defines an ISA's 8 kernels dynamic_quant_<x>_<out>__<isa> from the file's policy, which
// is named DynamicQuantPolicy (in the file's anonymous namespace, so each ISA's is its own).
#define GQ_DEFINE_SIMD_DYNAMIC_QUANT_KERNELS(isa) \
  GQ_DYNAMIC_QUANT_TYPES(GQ_DEFINE_SIMD_DYNAMIC_QUANT_KERNEL_, isa)
#define GQ_DEFINE_SIMD_DYNAMIC_QUANT_KERNEL_(isa, xt, out)                                       \
  void dynamic_quant_##xt##_##out##__##isa(const void* x_row, const void* smooth_row, int64_t n, \
                                           const DynamicOp& op, void* y_row, float* scale,       \
                                           float* offset) {                                      \
    dynamic_quant_row<DynamicQuantPolicy, GQ_DTYPE_OF_##xt, GQ_KIND_OF_##out>(                   \
        x_row, smooth_row, n, op, y_row, scale, offset);                                         \
  }

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_DYNAMIC_QUANT_ROW_H_
