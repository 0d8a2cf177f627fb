// The scalar oracle of npu_dynamic_quant(_asymmetric), in SPEC-dynamic-quant.md's steps:
// S1 route the row to its expert, S2/S3 widen and smooth, S4 reduce, then §2.2-§2.5's
// scale/offset and the per-element scale and encode (src/dynamic_quant_math.h).
#include "src/reference/dynamic_quant_ref.h"

#include <cstring>

#include "src/dynamic_quant_math.h"
#include "src/element.h"
#include "src/fp_env.h"
#include "src/groups.h"
#include "src/validate.h"

namespace groupquant::detail {

void dynamic_quant_ref(const DynamicProblem& p) {
  ScopedDefaultFpEnv fp_env;
  const OutputTraits out = output_traits(p.op.kind);
  const GroupIndex groups = group_index_of(p);
  for (int64_t r = 0; r < p.rows; ++r) {
    // S1: expert e(r) = searchsorted(group_index, r, side="right").
    const int64_t e = p.group_index != nullptr ? groups.group_of_row(r) : 0;
    // With H == 0, x and y may have no storage (null): no pointer arithmetic on them.
    const char* x =
        p.H == 0 ? p.x : p.x + row_offset(p.row_dims, p.x_rows, r) * dtype_size(p.x_dtype);
    // S2, S3: xs = fl(float(x) * float(s)), or float(x) without smooth_scales.
    auto smoothed = [&](int64_t j) {
      const float xf = load_float(x, p.x_dtype, j * p.x_col_stride);
      if (p.smooth == nullptr) return xf;
      return mul_rn(
          xf, load_float(p.smooth, p.x_dtype, e * p.smooth_stride[0] + j * p.smooth_stride[1]));
    };
    // S4: max |xs| (symmetric) or max and min (asymmetric), NaN left out (§10.6).
    RowStats stats;
    for (int64_t j = 0; j < p.H; ++j) accumulate(stats, smoothed(j));
    // H == 0: no element, scale and offset 0 (§10.7).
    const RowQuant q = p.H == 0 ? RowQuant{} : row_quant(p.op, stats);

    std::memcpy(p.scale + row_offset(p.row_dims, p.scale_rows, r) * 4, &q.scale, 4);
    if (p.offset != nullptr) {
      std::memcpy(p.offset + row_offset(p.row_dims, p.offset_rows, r) * 4, &q.offset, 4);
    }
    char* y = p.H == 0 ? p.y : p.y + row_offset(p.row_dims, p.y_rows, r) * out.word_bytes;
    uint32_t word = 0;
    for (int64_t j = 0; j < p.H; ++j) {
      const int32_t v = encode_output(out, scaled_value(p.op, q, smoothed(j)));
      if (out.encoding != Encoding::kPackedInt4) {
        y[j * p.y_col_stride] = static_cast<char>(v);
        continue;
      }
      word |= pack_nibble(v, static_cast<int>(j % 8));
      if (j % 8 == 7) {
        std::memcpy(y + 4 * (j / 8) * p.y_col_stride, &word, 4);
        word = 0;
      }
    }
  }
}

}  // namespace groupquant::detail
