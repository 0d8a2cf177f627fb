// Portable npu_dynamic_quant row kernels: plain C++ on the shared row arithmetic
// (src/dynamic_quant_math.h), no ISA flags. The fallback for every CPU, and the
// behaviour every SIMD kernel must match bit for bit.
#include <cstring>

#include "src/cpu/kernels.h"
#include "src/dynamic_quant_math.h"
#include "src/element.h"
#include "src/output_kind.h"

namespace groupquant::detail {
namespace {

template <gq_dtype kX, gq_output_kind kKind>
void dynamic_quant_row_scalar(const void* x_row, const void* smooth_row, int64_t n,
                              const DynamicOp& op, void* y_row, float* scale, float* offset) {
  const char* x = static_cast<const char*>(x_row);
  const char* smooth = static_cast<const char*>(smooth_row);
  auto smoothed = [&](int64_t j) {
    const float xf = load_float(x, kX, j);
    return smooth != nullptr ? mul_rn(xf, load_float(smooth, kX, j)) : xf;
  };
  RowStats stats;
  for (int64_t j = 0; j < n; ++j) accumulate(stats, smoothed(j));
  const RowQuant q = n == 0 ? RowQuant{} : row_quant(op, stats);
  *scale = q.scale;
  if (offset != nullptr) *offset = q.offset;
  constexpr OutputTraits kOut = output_traits(kKind);
  if constexpr (kOut.encoding == Encoding::kPackedInt4) {
    char* y = static_cast<char*>(y_row);
    for (int64_t w = 0; w < n / 8; ++w) {
      uint32_t word = 0;
      for (int k = 0; k < 8; ++k) {
        word |= pack_nibble(encode_output(kOut, scaled_value(op, q, smoothed(8 * w + k))), k);
      }
      std::memcpy(y + 4 * w, &word, 4);
    }
  } else {
    static_assert(kOut.word_bytes == 1, "one byte per element");
    char* y = static_cast<char*>(y_row);
    for (int64_t j = 0; j < n; ++j) {
      y[j] = static_cast<char>(encode_output(kOut, scaled_value(op, q, smoothed(j))));
    }
  }
}

}  // namespace

#define GQ_DEFINE_DYNAMIC_QUANT_KERNEL(isa, xt, out)                                              \
  void dynamic_quant_##xt##_##out##__##isa(const void* x_row, const void* smooth_row, int64_t n,  \
                                           const DynamicOp& op, void* y_row, float* scale,        \
                                           float* offset) {                                       \
    dynamic_quant_row_scalar<GQ_DTYPE_OF_##xt, GQ_KIND_OF_##out>(x_row, smooth_row, n, op, y_row, \
                                                                 scale, offset);                  \
  }
GQ_DYNAMIC_QUANT_TYPES(GQ_DEFINE_DYNAMIC_QUANT_KERNEL, scalar)

}  // namespace groupquant::detail
