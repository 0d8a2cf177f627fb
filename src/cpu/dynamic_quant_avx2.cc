// AVX2 (+F16C) npu_dynamic_quant row kernels, bit for bit the scalar kernel
// (dynamic_quant_scalar.cc); the same two passes as dynamic_quant_avx512.cc with 8 lanes
// per vector. The last n % 8 elements go through small zeroed stack copies (AVX2 has no
// 16-bit masked load, and a full-width load would read past n), with a lane mask that
// keeps the copies' padding out of the reduction. Built with GQ_AVX2_FLAGS and
// -ffp-contract=off (CMakeLists.txt); assumes the driver's default floating-point
// environment, and rounds to integers with vroundps' immediate, not MXCSR.RC. With
// DynamicOp::stream_output the second pass streams y's whole 64-byte lines
// (row_stream.h).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "src/cpu/dynamic_quant_row.h"
#include "src/cpu/kernels.h"
#include "src/dynamic_quant_math.h"
#include "src/element.h"
#include "src/output_kind.h"

namespace groupquant::detail {
namespace {

constexpr int64_t kLanes = 8;

// Lanes [0, count) set.
inline __m256 lane_mask(int64_t count) {
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}

// xs = x * s for the 8 elements at i (x alone without smooth), widened exactly (bf16 is
// the top half of a float32): one rounded multiply.
template <gq_dtype kX>
__m256 load8(const char* p, int64_t i) {
  const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i));
  if constexpr (kX == GQ_DTYPE_FLOAT16) {
    return _mm256_cvtph_ps(halves);
  } else {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16));
  }
}
template <gq_dtype kX, bool kSmooth>
__m256 smoothed8(const char* x, const char* s, int64_t i) {
  if constexpr (!kSmooth) return load8<kX>(x, i);
  return _mm256_mul_ps(load8<kX>(x, i), load8<kX>(s, i));
}

// bf16 only: xs for the 16 elements at i, without a shuffle (vpmovzxwd): the even
// elements (i, i+2, ..., i+14; low halves of the 32-bit words) one shift away, the odd ones
// one AND away. For the reduction, which does not care about order.
struct Pair {
  __m256 even, odd;
};
inline Pair widen_bf16_pairs(const char* p, int64_t i) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i));
  return {
      _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)),
      _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))))};
}
template <bool kSmooth>
Pair smoothed_pairs(const char* x, const char* s, int64_t i) {
  const Pair xf = widen_bf16_pairs(x, i);
  if constexpr (!kSmooth) return xf;
  const Pair sf = widen_bf16_pairs(s, i);
  return {_mm256_mul_ps(xf.even, sf.even), _mm256_mul_ps(xf.odd, sf.odd)};
}

// The last rem < 8 elements at i, copied into zeroed 8-element buffers.
struct Tail {
  alignas(16) char x[16] = {};
  alignas(16) char s[16] = {};
  Tail(const char* x_row, const char* s_row, int64_t i, int64_t rem) {
    std::memcpy(x, x_row + 2 * i, static_cast<size_t>(2 * rem));
    if (s_row != nullptr) std::memcpy(s, s_row + 2 * i, static_cast<size_t>(2 * rem));
  }
};

// accumulate() on 8 lanes: vmaxps/vminps return their second operand when either is NaN
// and keep it on ties, so with the accumulator second a NaN lane takes no part.
// Symmetric: max |xs| from +0.
// Asymmetric: max and min. accumulate() keeps the first of equal values, so where the
// max (or min) is zero the scalar kernel keeps the row's first zero, +0 or -0, which a
// lane-wise reduction does not know; it cannot change a bit of the output: row_quant()
// uses max and min only as max - min (x - (+-0) == x, z - z == +0) and max / scale
// (dmax - (+-0) == dmax; 0 / 0 is the same default NaN either way).
template <bool kAsym>
struct Acc {
  __m256 hi, lo;
  Acc()
      : hi(_mm256_set1_ps(kAsym ? -__builtin_huge_valf() : 0.0f)),
        lo(_mm256_set1_ps(__builtin_huge_valf())) {}
  void add(__m256 xs) {
    if constexpr (kAsym) {
      hi = _mm256_max_ps(xs, hi);
      lo = _mm256_min_ps(xs, lo);
    } else {
      hi = _mm256_max_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), xs), hi);
    }
  }
  void add_masked(__m256 xs, __m256 m) {
    Acc next = *this;
    next.add(xs);
    hi = _mm256_blendv_ps(hi, next.hi, m);
    lo = _mm256_blendv_ps(lo, next.lo, m);
  }
  void merge(const Acc& o) {  // no NaN in either
    hi = _mm256_max_ps(hi, o.hi);
    lo = _mm256_min_ps(lo, o.lo);
  }
};

inline float reduce_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
inline float reduce_min(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)));
}

template <gq_dtype kX, bool kSmooth, bool kAsym>
RowStats reduce_row(const char* x, const char* s, int64_t n) {
  Acc<kAsym> a0, a1, a2, a3;  // four chains: vmaxps' latency, not its throughput, bounds one
  int64_t i = 0;
  if constexpr (kX == GQ_DTYPE_BFLOAT16) {
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
      const Pair p0 = smoothed_pairs<kSmooth>(x, s, i), p1 = smoothed_pairs<kSmooth>(x, s, i + 16);
      a0.add(p0.even);
      a1.add(p0.odd);
      a2.add(p1.even);
      a3.add(p1.odd);
    }
  }
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    a0.add(smoothed8<kX, kSmooth>(x, s, i));
    a1.add(smoothed8<kX, kSmooth>(x, s, i + 8));
    a2.add(smoothed8<kX, kSmooth>(x, s, i + 16));
    a3.add(smoothed8<kX, kSmooth>(x, s, i + 24));
  }
  for (; i + kLanes <= n; i += kLanes) a0.add(smoothed8<kX, kSmooth>(x, s, i));
  if (i < n) {
    const Tail t(x, kSmooth ? s : nullptr, i, n - i);
    a0.add_masked(smoothed8<kX, kSmooth>(t.x, t.s, 0), lane_mask(n - i));
  }
  a0.merge(a1);
  a2.merge(a3);
  a0.merge(a2);
  RowStats stats;
  if constexpr (kAsym) {
    stats.max = reduce_max(a0.hi);
    stats.min = reduce_min(a0.lo);
  } else {
    stats.absmax = reduce_max(a0.hi);  // +0 when zero, as accumulate() leaves it
  }
  return stats;
}

// scaled_value() on 8 lanes: a multiply (A2) or an IEEE division (950; vdivps is
// correctly rounded), then the asymmetric op's add, each rounded on its own.
template <bool k950, bool kAsym>
struct Scaler {
  __m256 factor, offset;
  explicit Scaler(const RowQuant& q)
      : factor(_mm256_set1_ps(q.factor)), offset(_mm256_set1_ps(q.offset)) {}
  __m256 operator()(__m256 xs) const {
    const __m256 v = k950 ? _mm256_div_ps(xs, factor) : _mm256_mul_ps(xs, factor);
    return kAsym ? _mm256_add_ps(v, offset) : v;
  }
};

// round_saturate(v, lo, hi) before the narrowing: the top clamped in float (cvttps2dq
// turns >= 2^31 into INT_MIN), NaN lanes zeroed (vminps returns hi for them, the ordered
// mask clears it), rounded half to even by vroundps' immediate, then an exact truncating
// convert of an integer. The bottom saturates in the narrowing (INT_MIN included).
inline __m256i round8(__m256 v, __m256 hi) {
  const __m256 ordered = _mm256_cmp_ps(v, v, _CMP_ORD_Q);
  const __m256 r = _mm256_round_ps(_mm256_and_ps(_mm256_min_ps(v, hi), ordered),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm256_cvttps_epi32(r);
}

// encode_fp8() on 8 lanes in integer arithmetic; see fp8_codes16 in dynamic_quant_avx512.cc.
template <gq_output_kind kKind>
__m256i fp8_codes8(__m256 v) {
  constexpr Fp8Format kF = output_traits(kKind).fp8;
  constexpr int kMantissaBits = kF.mantissa_bits, kBias = kF.bias;
  constexpr int kMaxCode = static_cast<int>(kF.max_code);
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i mag = _mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i e = _mm256_srli_epi32(mag, 23);
  const __m256i sig = _mm256_or_si256(_mm256_and_si256(mag, _mm256_set1_epi32(0x7FFFFF)),
                                      _mm256_set1_epi32(0x800000));
  const __m256i below =
      _mm256_max_epi32(_mm256_sub_epi32(_mm256_set1_epi32(128 - kBias), e), _mm256_setzero_si256());
  const __m256i shift = _mm256_min_epi32(
      _mm256_add_epi32(below, _mm256_set1_epi32(23 - kMantissaBits)), _mm256_set1_epi32(31));
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i lsb = _mm256_and_si256(_mm256_srlv_epi32(sig, shift), one);
  const __m256i half_m1 =
      _mm256_sub_epi32(_mm256_sllv_epi32(one, _mm256_sub_epi32(shift, one)), one);
  const __m256i rounded =
      _mm256_srlv_epi32(_mm256_add_epi32(_mm256_add_epi32(sig, half_m1), lsb), shift);
  const __m256i field =
      _mm256_max_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(128 - kBias)), _mm256_setzero_si256());
  const __m256i code =
      _mm256_min_epu32(_mm256_add_epi32(_mm256_slli_epi32(field, kMantissaBits), rounded),
                       _mm256_set1_epi32(kMaxCode));
  const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(bits, 24), _mm256_set1_epi32(0x80));
  const __m256i nan = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x7F800000));
  return _mm256_andnot_si256(nan, _mm256_or_si256(code, sign));
}

// 4 x 8 int32 -> 32 bytes in order: signed saturation to int8 (integer kinds), or
// unsigned for fp8 codes (0..255, exact). The packs work per 128-bit lane; the permute
// restores the order.
template <bool kUnsigned>
__m256i narrow32(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  const __m256i w01 = _mm256_packs_epi32(q0, q1), w23 = _mm256_packs_epi32(q2, q3);
  const __m256i bytes = kUnsigned ? _mm256_packus_epi16(w01, w23) : _mm256_packs_epi16(w01, w23);
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
// 8 int32 -> 8 bytes in the low half.
template <bool kUnsigned>
__m128i narrow8(__m256i q) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return kUnsigned ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
}

// int8 values <= 7 -> nibble pairs (see row_avx2.cc).
inline __m256i nibble_pairs(__m256i b) {
  const __m256i n =
      _mm256_and_si256(_mm256_max_epi8(b, _mm256_set1_epi8(-8)), _mm256_set1_epi8(0x0F));
  return _mm256_maddubs_epi16(n, _mm256_set1_epi16(0x1001));
}
inline __m128i nibble_pairs(__m128i b) {
  const __m128i n = _mm_and_si128(_mm_max_epi8(b, _mm_set1_epi8(-8)), _mm_set1_epi8(0x0F));
  return _mm_maddubs_epi16(n, _mm_set1_epi16(0x1001));
}

// The second pass: xs again, scaled, encoded, stored.
template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym>
struct Quantizer {
  static constexpr OutputTraits kOut = output_traits(kKind);
  static constexpr bool kFp8 = kOut.encoding == Encoding::kFloat8;
  // Elements per 64-byte line of y.
  static constexpr int64_t kLine = kOut.encoding == Encoding::kPackedInt4 ? 128 : 64;

  const char* x;
  const char* s;
  Scaler<k950, kAsym> scaled;
  __m256 hi = _mm256_set1_ps(static_cast<float>(kOut.hi));

  // Element i..i+7 of the row at (xp, sp) -> 8 int32: integers or fp8 codes.
  __m256i encoded(const char* xp, const char* sp, int64_t i) const {
    const __m256 v = scaled(smoothed8<kX, kSmooth>(xp, sp, i));
    if constexpr (kFp8) {
      return fp8_codes8<kKind>(v);
    } else {
      return round8(v, hi);
    }
  }
  __m256i bytes32(int64_t i) const {
    return narrow32<kFp8>(encoded(x, s, i), encoded(x, s, i + 8), encoded(x, s, i + 16),
                          encoded(x, s, i + 24));
  }
  // Packed int4: 32 elements at i -> 16 bytes.
  __m128i packed16(int64_t i) const {
    const __m256i pairs = nibble_pairs(bytes32(i));
    return _mm_packus_epi16(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
  }
  // The 32-byte half of a 64-byte line of y that starts at element i.
  __m256i half_line(int64_t i) const {
    if constexpr (kOut.encoding == Encoding::kPackedInt4) {
      return _mm256_set_m128i(packed16(i + 32), packed16(i));
    } else {
      return bytes32(i);
    }
  }

  // Elements [i, n) into y (y points at element 0's output).
  void plain(int64_t i, int64_t n, char* y) const {
    if constexpr (kOut.encoding == Encoding::kPackedInt4) {  // n % 8 == 0, i % 8 == 0
      for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i / 2), packed16(i));
      }
      for (; i < n; i += kLanes) {  // one int32 word each
        const __m128i pairs = nibble_pairs(narrow8<false>(encoded(x, s, i)));
        const int32_t word = _mm_cvtsi128_si32(_mm_packus_epi16(pairs, pairs));
        std::memcpy(y + i / 2, &word, 4);
      }
    } else {
      for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), bytes32(i));
      }
      for (; i + kLanes <= n; i += kLanes) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), narrow8<kFp8>(encoded(x, s, i)));
      }
      if (i < n) {
        const Tail t(x, kSmooth ? s : nullptr, i, n - i);
        alignas(16) char y_tail[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(y_tail), narrow8<kFp8>(encoded(t.x, t.s, 0)));
        std::memcpy(y + i, y_tail, static_cast<size_t>(n - i));
      }
    }
  }

  // Streaming-store variant (row_stream.h), as in dynamic_quant_avx512.cc: head and tail
  // as plain(), whole 64-byte lines of y with vmovntdq, an sfence, and the next row's x
  // prefetched meanwhile (never faults; the address is formed as an integer).
  void streaming(int64_t n, char* y) const {
    const int64_t misalign = static_cast<int64_t>(reinterpret_cast<uintptr_t>(y) & 63);
    // A packed-int4 y off a 4-byte boundary never reaches a 64-byte one in whole words.
    if (kOut.encoding == Encoding::kPackedInt4 && (misalign & 3) != 0) return plain(0, n, y);
    const int64_t per_byte = kOut.encoding == Encoding::kPackedInt4 ? 2 : 1;
    const int64_t head = std::min<int64_t>(n, per_byte * ((64 - misalign) & 63));
    plain(0, head, y);
    const uintptr_t next_row = reinterpret_cast<uintptr_t>(x) + static_cast<uintptr_t>(2 * n);
    int64_t i = head;
    for (; i + kLine <= n; i += kLine) {
      for (int64_t b = 0; b < 2 * kLine; b += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(next_row + static_cast<uintptr_t>(2 * i + b)),
                     _MM_HINT_T1);
      }
      char* line = y + i / per_byte;
      _mm256_stream_si256(reinterpret_cast<__m256i*>(line), half_line(i));
      _mm256_stream_si256(reinterpret_cast<__m256i*>(line + 32), half_line(i + kLine / 2));
    }
    _mm_sfence();
    plain(i, n, y);
  }
};

template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym>
void quantize_row(const char* x, const char* s, int64_t n, const RowQuant& q, bool stream,
                  char* y) {
  const Quantizer<kX, kKind, kSmooth, k950, kAsym> quantizer{x, s, Scaler<k950, kAsym>(q)};
  if (stream) {
    quantizer.streaming(n, y);
  } else {
    quantizer.plain(0, n, y);
  }
}

// The two passes, for dynamic_quant_row.h.
struct DynamicQuantPolicy {
  template <gq_dtype kX, bool kSmooth, bool kAsym>
  static RowStats reduce(const char* x, const char* s, int64_t n) {
    return reduce_row<kX, kSmooth, kAsym>(x, s, n);
  }
  template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym>
  static void quantize(const char* x, const char* s, int64_t n, const RowQuant& q,
                       const DynamicOp& op, char* y) {
    quantize_row<kX, kKind, kSmooth, k950, kAsym>(x, s, n, q, op.stream_output, y);
  }
};

}  // namespace

GQ_DEFINE_SIMD_DYNAMIC_QUANT_KERNELS(avx2)

}  // namespace groupquant::detail
