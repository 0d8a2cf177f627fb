// AVX-512 (F/BW/VL) npu_dynamic_quant row kernels, bit for bit the scalar kernel
// (dynamic_quant_scalar.cc). Two passes over the row: the first smooths and reduces it
// (and brings it into L1/L2), row_quant() turns the reduction into the row's scale,
// offset and factor, the second recomputes xs = x * s (an fp16 row of up to 8192
// elements reads it back from a stack buffer the first pass filled: DynamicQuantPolicy),
// scales and encodes. The kernels are port-bound (ports 0 and 5 on Intel), so uops count:
// bf16 widens 32 elements at a time into even and odd halves without a shuffle, NaN is
// zeroed without a compare, and A2 symmetric rows skip the top clamp where it is provably
// a no-op. 16 lanes per vector, the last n % 16 elements through masked loads and
// stores (masked-off lanes never fault, so nothing outside [0, n) is touched). Built with
// GQ_AVX512_FLAGS and -ffp-contract=off (CMakeLists.txt); assumes the driver's default
// floating-point environment, and every float -> int convert rounds by its own
// immediate. With DynamicOp::stream_output the second pass writes y's whole 64-byte
// lines with non-temporal stores and prefetches the next row (row_stream.h).
// GCC 12's -W(maybe-)uninitialized false positives inside the header: see row_avx512.cc.
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>

#include "src/cpu/dynamic_quant_row.h"
#include "src/cpu/kernels.h"
#include "src/dynamic_quant_math.h"
#include "src/element.h"
#include "src/output_kind.h"

namespace groupquant::detail {
namespace {

constexpr int64_t kLanes = 16;

inline __mmask16 tail_mask(int64_t count) { return static_cast<__mmask16>((1u << count) - 1); }

// Widens 16 elements to float32, exactly. bf16 is the top half of a float32.
template <gq_dtype kX>
__m512 widen(__m256i halves) {
  if constexpr (kX == GQ_DTYPE_FLOAT16) {
    return _mm512_cvtph_ps(halves);
  } else {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
  }
}

// xs = x * s for the 16 elements at i (x alone without smooth): one rounded multiply.
template <gq_dtype kX, bool kSmooth>
__m512 smoothed16(const char* x, const char* s, int64_t i) {
  const __m512 xf = widen<kX>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 2 * i)));
  if constexpr (!kSmooth) return xf;
  return _mm512_mul_ps(xf,
                       widen<kX>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 2 * i))));
}
// bf16 only: xs for the 32 elements at i, without a shuffle: a bf16 is the top half of
// a float32, so the even elements (low halves of the 32-bit words) are one shift away and
// the odd ones one AND away. even holds elements i, i+2, ..., i+30; odd i+1, ..., i+31.
struct Pair {
  __m512 even, odd;
};
inline Pair widen_bf16_pairs(const char* p, int64_t i) {
  const __m512i v = _mm512_loadu_si512(p + 2 * i);
  return {
      _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)),
      _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))))};
}
template <bool kSmooth>
Pair smoothed_pairs(const char* x, const char* s, int64_t i) {
  const Pair xf = widen_bf16_pairs(x, i);
  if constexpr (!kSmooth) return xf;
  const Pair sf = widen_bf16_pairs(s, i);
  return {_mm512_mul_ps(xf.even, sf.even), _mm512_mul_ps(xf.odd, sf.odd)};
}
template <gq_dtype kX, bool kSmooth>
__m512 smoothed16_masked(const char* x, const char* s, int64_t i, __mmask16 m) {
  const __m512 xf = widen<kX>(_mm256_maskz_loadu_epi16(m, x + 2 * i));
  if constexpr (!kSmooth) return xf;
  return _mm512_mul_ps(xf, widen<kX>(_mm256_maskz_loadu_epi16(m, s + 2 * i)));
}

// accumulate() on 16 lanes. vmaxps/vminps return their second operand when either is
// NaN, and keep it on ties: with the accumulator second, a NaN lane takes no part, as
// accumulate()'s compares (false for NaN) make it. Symmetric: max |xs| from +0.
// Asymmetric: max and min. accumulate() keeps the first of equal values, so where the
// max (or min) is zero the scalar kernel keeps the row's first zero, +0 or -0, which a
// lane-wise reduction does not know; it cannot change a bit of the output: row_quant()
// uses max and min only as max - min (x - (+-0) == x, z - z == +0) and max / scale
// (dmax - (+-0) == dmax; 0 / 0 is the same default NaN either way).
template <bool kAsym>
struct Acc {
  __m512 hi, lo;
  Acc()
      : hi(_mm512_set1_ps(kAsym ? -__builtin_huge_valf() : 0.0f)),
        lo(_mm512_set1_ps(__builtin_huge_valf())) {}
  void add(__m512 xs) {
    if constexpr (kAsym) {
      hi = _mm512_max_ps(xs, hi);
      lo = _mm512_min_ps(xs, lo);
    } else {
      hi = _mm512_max_ps(_mm512_abs_ps(xs), hi);
    }
  }
  void add_masked(__m512 xs, __mmask16 m) {
    if constexpr (kAsym) {
      hi = _mm512_mask_max_ps(hi, m, xs, hi);
      lo = _mm512_mask_min_ps(lo, m, xs, lo);
    } else {
      hi = _mm512_mask_max_ps(hi, m, _mm512_abs_ps(xs), hi);
    }
  }
  void merge(const Acc& o) {  // no NaN in either
    hi = _mm512_max_ps(hi, o.hi);
    lo = _mm512_min_ps(lo, o.lo);
  }
};

// kKeep: also store xs at kept + i (the order the loops produce, which quantize's
// kKept path reads back: in order, since only fp16 keeps its row).
template <gq_dtype kX, bool kSmooth, bool kAsym, bool kKeep>
RowStats reduce_row(const char* x, const char* s, int64_t n, float* kept) {
  static_assert(!kKeep || kX == GQ_DTYPE_FLOAT16, "bf16's pairs are not kept in order");
  Acc<kAsym> a0, a1, a2, a3;  // four chains: vmaxps' latency, not its throughput, bounds one
  int64_t i = 0;
  if constexpr (kX == GQ_DTYPE_BFLOAT16) {  // the reduction does not care about order
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
      const Pair p0 = smoothed_pairs<kSmooth>(x, s, i), p1 = smoothed_pairs<kSmooth>(x, s, i + 32);
      a0.add(p0.even);
      a1.add(p0.odd);
      a2.add(p1.even);
      a3.add(p1.odd);
    }
  }
  auto keep = [kept](int64_t j, __m512 xs) {
    if constexpr (kKeep) _mm512_store_ps(kept + j, xs);
    return xs;
  };
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    a0.add(keep(i, smoothed16<kX, kSmooth>(x, s, i)));
    a1.add(keep(i + 16, smoothed16<kX, kSmooth>(x, s, i + 16)));
    a2.add(keep(i + 32, smoothed16<kX, kSmooth>(x, s, i + 32)));
    a3.add(keep(i + 48, smoothed16<kX, kSmooth>(x, s, i + 48)));
  }
  for (; i + kLanes <= n; i += kLanes) a0.add(keep(i, smoothed16<kX, kSmooth>(x, s, i)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 xs = smoothed16_masked<kX, kSmooth>(x, s, i, m);
    if constexpr (kKeep) _mm512_mask_store_ps(kept + i, m, xs);
    a0.add_masked(xs, m);
  }
  a0.merge(a1);
  a2.merge(a3);
  a0.merge(a2);
  RowStats stats;
  if constexpr (kAsym) {
    stats.max = _mm512_reduce_max_ps(a0.hi);
    stats.min = _mm512_reduce_min_ps(a0.lo);
  } else {
    stats.absmax = _mm512_reduce_max_ps(a0.hi);  // +0 when zero, as accumulate() leaves it
  }
  return stats;
}

// scaled_value() on 16 lanes: a multiply (A2) or an IEEE division (950; vdivps is
// correctly rounded), then the asymmetric op's add, each rounded on its own.
template <bool k950, bool kAsym>
struct Scaler {
  __m512 factor, offset;
  explicit Scaler(const RowQuant& q)
      : factor(_mm512_set1_ps(q.factor)), offset(_mm512_set1_ps(q.offset)) {}
  __m512 operator()(__m512 xs) const {
    const __m512 v = k950 ? _mm512_div_ps(xs, factor) : _mm512_mul_ps(xs, factor);
    return kAsym ? _mm512_add_ps(v, offset) : v;
  }
};

// round_saturate(v, lo, hi) before the narrowing: rounds half to even by the convert's
// immediate; only the top is clamped in float (cvtps2dq turns >= 2^31 into INT_MIN), the
// bottom saturates in the narrowing that follows (INT_MIN included, so -inf works).
// NaN lanes become +0 through vfixupimmps (table 0x88: QNaN and SNaN -> +0, every other
// class keeps v), one uop off port 5, where a compare into a mask register would go.
// Without kClampTop the caller guarantees no lane above hi + 0.5 (see top_clamp_needed).
template <bool kClampTop>
inline __m512i round16(__m512 v, __m512 hi) {
  const __m512 no_nan = _mm512_fixupimm_ps(v, v, _mm512_set1_epi32(0x88), 0);
  return _mm512_cvt_roundps_epi32(kClampTop ? _mm512_min_ps(no_nan, hi) : no_nan,
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// Whether a row's scaled values may exceed the output's max (so round16 must clamp).
// For A2 symmetric with a finite factor q = fl(DMAX / m), every non-NaN |xs| <= m, so
// |v| = fl(|xs| * q) <= DMAX * (1 + 2^-24)^2 < DMAX + 0.5, which rounds to at most DMAX:
// the clamp is a no-op. q is infinite where m is 0 or tiny (then v may be +inf) and 0
// where m is inf (v is then +-0 or NaN); 950 divides and the asymmetric op adds an
// offset, so those always clamp.
template <bool k950, bool kAsym>
bool top_clamp_needed(const RowQuant& q) {
  if constexpr (k950 || kAsym) return true;
  return !(q.factor < __builtin_huge_valf());  // inf (or NaN, which m never makes)
}

// encode_fp8() on 16 lanes, in integer arithmetic on the bits (element.h has the scalar
// one and its reasoning). With e the biased float exponent and b = 128 - bias, a normal
// fp8 result has exponent field e - b >= 0; below it the kept mantissa shrinks by
// b - e bits (subnormal). Rounding to nearest even is one add before the shift:
// (sig + half - 1 + lsb) >> shift. Float subnormals and zeros shift out entirely
// (shift clamps at 31), inf saturates through the final min, NaN is masked to 0.
template <gq_output_kind kKind>
__m512i fp8_codes16(__m512 v) {
  constexpr Fp8Format kF = output_traits(kKind).fp8;
  constexpr int kMantissaBits = kF.mantissa_bits, kBias = kF.bias;
  constexpr int kMaxCode = static_cast<int>(kF.max_code);
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i mag = _mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF));
  const __m512i e = _mm512_srli_epi32(mag, 23);
  const __m512i sig = _mm512_or_si512(_mm512_and_si512(mag, _mm512_set1_epi32(0x7FFFFF)),
                                      _mm512_set1_epi32(0x800000));
  const __m512i below =
      _mm512_max_epi32(_mm512_sub_epi32(_mm512_set1_epi32(128 - kBias), e), _mm512_setzero_si512());
  const __m512i shift = _mm512_min_epi32(
      _mm512_add_epi32(below, _mm512_set1_epi32(23 - kMantissaBits)), _mm512_set1_epi32(31));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i lsb = _mm512_and_si512(_mm512_srlv_epi32(sig, shift), one);
  const __m512i half_m1 =
      _mm512_sub_epi32(_mm512_sllv_epi32(one, _mm512_sub_epi32(shift, one)), one);
  const __m512i rounded =
      _mm512_srlv_epi32(_mm512_add_epi32(_mm512_add_epi32(sig, half_m1), lsb), shift);
  const __m512i field =
      _mm512_max_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(128 - kBias)), _mm512_setzero_si512());
  const __m512i code =
      _mm512_min_epu32(_mm512_add_epi32(_mm512_slli_epi32(field, kMantissaBits), rounded),
                       _mm512_set1_epi32(kMaxCode));
  const __m512i sign = _mm512_and_si512(_mm512_srli_epi32(bits, 24), _mm512_set1_epi32(0x80));
  const __mmask16 not_nan = _mm512_cmple_epi32_mask(mag, _mm512_set1_epi32(0x7F800000));
  return _mm512_maskz_or_epi32(not_nan, code, sign);
}

// int8 values <= 7 -> nibble pairs (see row_avx512.cc): clamp the bottom to -8, keep the
// low nibbles, fold each byte pair into n_even + 16 * n_odd.
inline __m512i nibble_pairs(__m512i b) {
  const __m512i n =
      _mm512_and_si512(_mm512_max_epi8(b, _mm512_set1_epi8(-8)), _mm512_set1_epi8(0x0F));
  return _mm512_maddubs_epi16(n, _mm512_set1_epi16(0x1001));
}
inline __m128i nibbles16(__m128i b) {  // 16 bytes -> 8 in the low half
  const __m128i n = _mm_and_si128(_mm_max_epi8(b, _mm_set1_epi8(-8)), _mm_set1_epi8(0x0F));
  return _mm_cvtepi16_epi8(_mm_maddubs_epi16(n, _mm_set1_epi16(0x1001)));
}

// The second pass: xs again (from the kept row with kKept), scaled, encoded, stored.
template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym, bool kKept,
          bool kClampTop>
struct Quantizer {
  static constexpr OutputTraits kOut = output_traits(kKind);
  // Elements per 64-byte line of y.
  static constexpr int64_t kLine = kOut.encoding == Encoding::kPackedInt4 ? 128 : 64;

  const char* x;
  const char* s;
  const float* kept;
  Scaler<k950, kAsym> scaled;
  __m512 hi = _mm512_set1_ps(static_cast<float>(kOut.hi));

  __m512i round(__m512 v) const { return round16<kClampTop>(v, hi); }

  static_assert(!kKept || kX == GQ_DTYPE_FLOAT16, "bf16 reads its pairs from x");
  __m512 value(int64_t i) const {
    if constexpr (kKept) return scaled(_mm512_loadu_ps(kept + i));
    return scaled(smoothed16<kX, kSmooth>(x, s, i));
  }
  Pair scaled_pairs(int64_t i) const {  // bf16: the 32 elements at i, even and odd
    const Pair p = smoothed_pairs<kSmooth>(x, s, i);
    return {scaled(p.even), scaled(p.odd)};
  }
  __m512 value_masked(int64_t i, __mmask16 m) const {
    if constexpr (kKept) return scaled(_mm512_maskz_loadu_ps(m, kept + i));
    return scaled(smoothed16_masked<kX, kSmooth>(x, s, i, m));
  }
  // 64 elements at i -> 64 saturated int8 in order: the packs work per 128-bit lane, the
  // permute restores the order.
  __m512i bytes64(int64_t i) const {
    if constexpr (kX == GQ_DTYPE_BFLOAT16) {
      // The words of packs(even, odd) hold, per 128-bit lane L, elements 8L, 8L+2, 8L+4,
      // 8L+6, 8L+1, ..., 8L+7 (and 32 more in the next pack); vpshufb restores the order
      // within each 8 bytes, vpermq puts the 8-byte groups in place.
      const Pair p0 = scaled_pairs(i), p1 = scaled_pairs(i + 32);
      const __m512i w0 = _mm512_packs_epi32(round(p0.even), round(p0.odd));
      const __m512i w1 = _mm512_packs_epi32(round(p1.even), round(p1.odd));
      const __m512i in_lane = _mm512_shuffle_epi8(
          _mm512_packs_epi16(w0, w1), _mm512_broadcast_i32x4(_mm_setr_epi8(
                                          0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15)));
      return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), in_lane);
    }
    const __m512i w01 = _mm512_packs_epi32(round(value(i)), round(value(i + 16)));
    const __m512i w23 = _mm512_packs_epi32(round(value(i + 32)), round(value(i + 48)));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_epi32(order, _mm512_packs_epi16(w01, w23));
  }
  __m128i codes16(int64_t i) const { return _mm512_cvtepi32_epi8(fp8_codes16<kKind>(value(i))); }
  // The kLine elements at i -> one 64-byte line of y.
  __m512i line(int64_t i) const {
    if constexpr (kOut.encoding == Encoding::kFloat8) {
      __m512i l = _mm512_castsi128_si512(codes16(i));
      l = _mm512_inserti32x4(l, codes16(i + 16), 1);
      l = _mm512_inserti32x4(l, codes16(i + 32), 2);
      return _mm512_inserti32x4(l, codes16(i + 48), 3);
    } else if constexpr (kOut.encoding == Encoding::kInteger) {
      return bytes64(i);
    } else if constexpr (kX == GQ_DTYPE_BFLOAT16) {
      // Even and odd elements are the low and high nibbles of one byte: pack each kind to
      // bytes separately (byte b of dword d of 128-bit lane L holds the pair of output byte
      // 16d + 4L + b), clamp the bottom to -8, merge the nibbles, transpose the dwords.
      Pair p[4];
      for (int g = 0; g < 4; ++g) p[g] = scaled_pairs(i + 32 * g);
      auto bytes = [&](__m512 Pair::*half) {
        const __m512i b =
            _mm512_packs_epi16(_mm512_packs_epi32(round(p[0].*half), round(p[1].*half)),
                               _mm512_packs_epi32(round(p[2].*half), round(p[3].*half)));
        return _mm512_max_epi8(b, _mm512_set1_epi8(-8));
      };
      const __m512i lo = bytes(&Pair::even);
      const __m512i hi4 = _mm512_slli_epi16(bytes(&Pair::odd), 4);
      // (lo & 0x0F) | (hi4 & 0xF0): the bits vpsllw moved across a byte land in the low
      // nibble, which the mask drops.
      const __m512i merged = _mm512_ternarylogic_epi32(lo, hi4, _mm512_set1_epi8(0x0F), 0xE4);
      const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
      return _mm512_permutexvar_epi32(order, merged);
    } else {  // packus works per 128-bit lane (8 bytes of each half); the permute restores order
      const __m512i halves =
          _mm512_packus_epi16(nibble_pairs(bytes64(i)), nibble_pairs(bytes64(i + 64)));
      return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), halves);
    }
  }

  // Elements [i, n) into y (y points at element 0's output).
  void plain(int64_t i, int64_t n, char* y) const {
    if constexpr (kOut.encoding == Encoding::kFloat8) {
      for (; i + kLanes <= n; i += kLanes) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), codes16(i));
      }
      if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_cvtepi32_storeu_epi8(y + i, m, fp8_codes16<kKind>(value_masked(i, m)));
      }
    } else if constexpr (kOut.encoding == Encoding::kInteger) {
      for (; i + 4 * kLanes <= n; i += 4 * kLanes) _mm512_storeu_si512(y + i, bytes64(i));
      for (; i + kLanes <= n; i += kLanes) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm512_cvtsepi32_epi8(round(value(i))));
      }
      if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_cvtsepi32_storeu_epi8(y + i, m, round(value_masked(i, m)));
      }
    } else {  // packed int4, n % 8 == 0 and i % 8 == 0: element j's nibble in byte j / 2
      if constexpr (kX == GQ_DTYPE_BFLOAT16) {
        for (; i + kLine <= n; i += kLine) _mm512_storeu_si512(y + i / 2, line(i));
      }
      for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i / 2),
                            _mm512_cvtepi16_epi8(nibble_pairs(bytes64(i))));
      }
      for (; i + kLanes <= n; i += kLanes) {
        const __m128i b = _mm512_cvtsepi32_epi8(round(value(i)));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i / 2), nibbles16(b));
      }
      if (i < n) {  // 8 elements: one int32 word
        const __mmask16 m = tail_mask(n - i);
        const __m128i b = _mm512_cvtsepi32_epi8(round(value_masked(i, m)));
        _mm_mask_storeu_epi8(y + i / 2, tail_mask((n - i) / 2), nibbles16(b));
      }
    }
  }

  // Streaming-store variant (row_stream.h): the unaligned head and the tail as plain(),
  // whole 64-byte lines of y with vmovntdq, then an sfence that orders them before the
  // kernel returns. Meanwhile the next row's x (the bytes after this one's: in a
  // contiguous x) is prefetched, so the memory reads of the next first pass overlap this
  // pass's arithmetic. A prefetch never faults; the address is formed as an integer.
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
      _mm512_stream_si512(reinterpret_cast<__m512i*>(y + i / per_byte), line(i));
    }
    _mm_sfence();
    plain(i, n, y);
  }
};

template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym, bool kKept,
          bool kClampTop>
void quantize_row_as(const char* x, const char* s, const float* kept, int64_t n, const RowQuant& q,
                     bool stream, char* y) {
  const Quantizer<kX, kKind, kSmooth, k950, kAsym, kKept, kClampTop> quantizer{
      x, s, kept, Scaler<k950, kAsym>(q)};
  if (stream) {
    quantizer.streaming(n, y);
  } else {
    quantizer.plain(0, n, y);
  }
}
template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym, bool kKept>
void quantize_row(const char* x, const char* s, const float* kept, int64_t n, const RowQuant& q,
                  bool stream, char* y) {
  constexpr bool kInteger = output_traits(kKind).encoding != Encoding::kFloat8;
  if constexpr (kInteger && !k950 && !kAsym) {
    if (!top_clamp_needed<k950, kAsym>(q)) {
      return quantize_row_as<kX, kKind, kSmooth, k950, kAsym, kKept, false>(x, s, kept, n, q,
                                                                            stream, y);
    }
  }
  quantize_row_as<kX, kKind, kSmooth, k950, kAsym, kKept, true>(x, s, kept, n, q, stream, y);
}

// The two passes, for dynamic_quant_row.h. An fp16 row of up to 8192 elements (32 KiB
// of fp32 on the stack) keeps xs between the passes: the second pass then loads it
// instead of widening x and smooth again (vcvtph2ps, two uops per 16 elements, each);
// measured 1.25-1.4x on a cache-resident 7168-element row. bf16 widens in one uop
// (a shift or an AND) and measured slower with the kept row (x's row, the smooth row
// and 4 bytes an element no longer fit L1), so it recomputes.
struct DynamicQuantPolicy {
  static constexpr int64_t kept_row_floats(gq_dtype x) { return x == GQ_DTYPE_FLOAT16 ? 8192 : 0; }
  template <gq_dtype kX, bool kSmooth, bool kAsym>
  static RowStats reduce(const char* x, const char* s, int64_t n, float* kept) {
    if constexpr (kX == GQ_DTYPE_FLOAT16) {
      if (kept != nullptr) return reduce_row<kX, kSmooth, kAsym, true>(x, s, n, kept);
    }
    return reduce_row<kX, kSmooth, kAsym, false>(x, s, n, nullptr);
  }
  template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym>
  static void quantize(const char* x, const char* s, int64_t n, const RowQuant& q,
                       const DynamicOp& op, char* y, const float* kept) {
    if constexpr (kX == GQ_DTYPE_FLOAT16) {
      if (kept != nullptr) {
        return quantize_row<kX, kKind, kSmooth, k950, kAsym, true>(x, s, kept, n, q,
                                                                   op.stream_output, y);
      }
    }
    quantize_row<kX, kKind, kSmooth, k950, kAsym, false>(x, s, nullptr, n, q, op.stream_output, y);
  }
};

}  // namespace

GQ_DEFINE_SIMD_DYNAMIC_QUANT_KERNELS(avx512)

}  // namespace groupquant::detail
