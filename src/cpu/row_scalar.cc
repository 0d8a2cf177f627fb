// Portable row kernels: plain C++ on the shared element functions, no ISA flags. The
// fallback for CPUs without AVX2, and the shape every SIMD kernel's tail follows.
#include <cstring>

#include "src/cpu/kernels.h"
#include "src/element.h"

namespace groupquant::detail {
namespace {

template <gq_dtype kX, gq_dtype kScale, gq_output_kind kKind>
void row_scalar(const void* x_row, const void* scale_row, float offset, void* y_row, int64_t n) {
  const char* x = static_cast<const char*>(x_row);
  const char* scale = static_cast<const char*>(scale_row);
  auto quantize = [&](int64_t i, int32_t lo, int32_t hi) {
    const float p = mul_rn(load_float(x, kX, i), load_float(scale, kScale, i));
    return round_saturate(add_rn(p, offset), lo, hi);
  };
  static_assert(kKind == GQ_OUTPUT_INT8 || kKind == GQ_OUTPUT_INT4_PACKED,
                "npu_group_quant's output kinds");
  if constexpr (kKind == GQ_OUTPUT_INT8) {
    int8_t* y = static_cast<int8_t*>(y_row);
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<int8_t>(quantize(i, kInt8Min, kInt8Max));
  } else {
    char* y = static_cast<char*>(y_row);
    for (int64_t w = 0; w < n / 8; ++w) {
      uint32_t word = 0;
      for (int k = 0; k < 8; ++k) word |= pack_nibble(quantize(8 * w + k, kInt4Min, kInt4Max), k);
      std::memcpy(y + 4 * w, &word, 4);
    }
  }
}

}  // namespace

#define GQ_DEFINE_ROW_KERNEL(isa, xt, st, out)                                                 \
  void group_quant_##xt##_##st##_##out##__##isa(const void* x_row, const void* scale_row,      \
                                                float offset, void* y_row, int64_t n) {        \
    row_scalar<GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out>(x_row, scale_row, offset, \
                                                                     y_row, n);                \
  }
GQ_GROUP_QUANT_TYPES(GQ_DEFINE_ROW_KERNEL, scalar)

}  // namespace groupquant::detail
