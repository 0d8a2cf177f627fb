// Output kinds as traits: what every backend needs to know about y's encoding, in one
// table. Code that handles y asks these traits (bytes per stored element, columns per
// element, range, encoding) instead of branching "int8, else int4", so a new kind is a
// new row here plus its encoder, and code that cannot handle a kind says so.
#ifndef GROUPQUANT_SRC_OUTPUT_KIND_H_
#define GROUPQUANT_SRC_OUTPUT_KIND_H_

#include <groupquant/groupquant.h>

#include <cstdint>

#include "src/element.h"

namespace groupquant::detail {

enum class Encoding : int32_t {
  kInteger,     // round half to even, saturate to [lo, hi], NaN -> 0
  kPackedInt4,  // kInteger in [-8, 7], 8 columns per int32 word, column 8w+k in bits [4k, 4k+3]
  kFloat8,      // round to nearest even on the fp8 grid, saturate to +-max, NaN -> 0
};

struct OutputTraits {
  const char* name;       // in messages: "int8", "packed int4", ...
  gq_dtype storage;       // y's dtype
  int32_t word_bytes;     // bytes per stored element of y
  int32_t cols_per_word;  // x columns per stored element of y
  Encoding encoding;
  int32_t lo, hi;  // integer range (kInteger, kPackedInt4)
  float max;       // largest magnitude: DMAX of SPEC-dynamic-quant.md
  Fp8Format fp8;   // kFloat8 only
};

inline constexpr int kNumOutputKinds = 4;

GQ_HOST_DEVICE constexpr bool is_known_output_kind(gq_output_kind k) {
  return k >= 0 && k < kNumOutputKinds;
}

// Indexed by gq_output_kind; callers check is_known_output_kind first.
GQ_HOST_DEVICE constexpr OutputTraits output_traits(gq_output_kind k) {
  constexpr OutputTraits kTable[kNumOutputKinds] = {
      {"int8", GQ_DTYPE_INT8, 1, 1, Encoding::kInteger, kInt8Min, kInt8Max, 127.0f, {}},
      {"packed int4", GQ_DTYPE_INT32, 4, 8, Encoding::kPackedInt4, kInt4Min, kInt4Max, 7.0f, {}},
      {"float8_e4m3fn", GQ_DTYPE_FLOAT8_E4M3FN, 1, 1, Encoding::kFloat8, 0, 0, 448.0f, kFp8E4M3Fn},
      {"float8_e5m2", GQ_DTYPE_FLOAT8_E5M2, 1, 1, Encoding::kFloat8, 0, 0, 57344.0f, kFp8E5M2},
  };
  return kTable[k];
}

// One output element's value from v (already scaled): an integer for the integer kinds
// (packed by the caller for int4), an fp8 bit pattern for the fp8 kinds.
GQ_HOST_DEVICE int32_t encode_output(const OutputTraits& t, float v) {
  if (t.encoding == Encoding::kFloat8) return static_cast<int32_t>(encode_fp8(v, t.fp8));
  return round_saturate(v, t.lo, t.hi);
}

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_OUTPUT_KIND_H_
