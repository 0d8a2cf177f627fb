#include "src/reference/group_quant_ref.h"

#include <cstring>

#include "src/element.h"
#include "src/fp_env.h"
#include "src/groups.h"

namespace groupquant::detail {

void group_quant_ref(const Problem& p) {
  if (p.empty()) return;
  ScopedDefaultFpEnv fp_env;
  const OutputTraits out = output_traits(p.kind);  // int8 or packed int4 (validated)
  const bool int4 = out.encoding == Encoding::kPackedInt4;
  const int32_t lo = out.lo, hi = out.hi;

  // Group g owns rows [group_index[g-1], group_index[g]), with group_index[-1] = 0.
  int64_t first_row = 0;
  for (int64_t g = 0; g < p.G; ++g) {
    const int64_t end_row = group_end(p, g);
    for (int64_t r = first_row; r < end_row; ++r) {
      uint32_t word = 0;
      for (int64_t n = 0; n < p.N; ++n) {
        const float xf = load_float(p.x, p.x_dtype, r * p.x_stride[0] + n * p.x_stride[1]);
        const float sf =
            load_float(p.scale, p.scale_dtype, g * p.scale_stride[0] + n * p.scale_stride[1]);
        float v = mul_rn(xf, sf);  // one fp32 multiply
        if (p.offset != nullptr) v = add_rn(v, load_float(p.offset, p.scale_dtype, 0));  // one add
        const int32_t q = round_saturate(v, lo, hi);
        if (!int4) {
          p.y[r * p.y_stride[0] + n * p.y_stride[1]] = static_cast<char>(q);
          continue;
        }
        word |= pack_nibble(q, static_cast<int>(n % 8));
        if (n % 8 == 7) {
          std::memcpy(p.y + 4 * (r * p.y_stride[0] + (n / 8) * p.y_stride[1]), &word, 4);
          word = 0;
        }
      }
    }
    first_row = end_row;
  }
}

}  // namespace groupquant::detail
