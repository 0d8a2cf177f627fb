// AVX2 (+FMA, F16C) row kernels: 8 floats per vector, 32 elements per main-loop
// iteration, then single vectors, then the last n % 8 elements through a small stack
// copy (AVX2 has no 16-bit masked load, and a full-width load would read past n); plus
// their streaming-store variants (row_stream.h) for outputs far larger than cache.
// Built with GQ_AVX2_FLAGS and -ffp-contract=off (CMakeLists.txt).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "src/cpu/kernels.h"
#include "src/cpu/row_stream.h"
#include "src/element.h"

namespace groupquant::detail {
namespace {

constexpr int64_t kLanes = 8;

template <gq_dtype kD>
constexpr int64_t elem_size() {
  return kD == GQ_DTYPE_FLOAT32 ? 4 : 2;
}

// Loads 8 elements and widens them to float32, exactly. bf16 is the top half of a float32.
template <gq_dtype kD>
__m256 load8(const void* base, int64_t i) {
  const char* p = static_cast<const char*>(base) + i * elem_size<kD>();
  if constexpr (kD == GQ_DTYPE_FLOAT32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else {
    const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (kD == GQ_DTYPE_FLOAT16) {
      return _mm256_cvtph_ps(halves);
    } else {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16));
    }
  }
}

// kAdd: whether the kernel adds the offset. An offset equal to 0 (+0 or -0) changes no
// product but -0 (to +0), and both give the integer 0, so the kernels skip that add: one
// vector op of seven per element when the call has no offset.
template <bool kAdd>
struct Consts {
  static constexpr bool add = kAdd;
  __m256 offset, hi;
};

// x * s + offset for 8 lanes, rounded half to even to int32: one multiply and one add,
// each rounded (never an FMA). Only the top is clamped in float, because cvtps2dq turns
// values >= 2^31 into INT_MIN; everything below the range already saturates in the
// narrowing packs (INT_MIN included, so -inf works too). NaN lanes are zeroed through
// the ordered mask. cvtps2dq rounds by MXCSR, which the driver sets to nearest-even.
template <class C>
__m256i quantize8(__m256 x, __m256 s, const C& c) {
  __m256 v = _mm256_mul_ps(x, s);
  if constexpr (C::add) v = _mm256_add_ps(v, c.offset);
  const __m256 ordered = _mm256_cmp_ps(v, v, _CMP_ORD_Q);
  return _mm256_cvtps_epi32(_mm256_and_ps(_mm256_min_ps(v, c.hi), ordered));
}

// 4 x 8 int32 -> 32 saturated int8 in order. The packs work per 128-bit lane,
// leaving dwords q0lo q1lo q2lo q3lo | q0hi q1hi q2hi q3hi; the permute restores order.
inline __m256i narrow32(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// 8 int32 -> 8 saturated int8 in the low half.
inline __m128i narrow8(__m256i q) {
  const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packs_epi16(words, words);
}

// int8 values <= 7 -> nibble pairs: clamp the bottom to -8, keep the low nibbles, and
// fold each byte pair into one 16-bit lane as n_even + 16 * n_odd (vpmaddubsw by 1 and
// 16: at most 255, so the unsigned pack that follows is exact), column 2j in the low
// nibble of pair j.
inline __m256i nibble_pairs(__m256i b) {
  const __m256i n =
      _mm256_and_si256(_mm256_max_epi8(b, _mm256_set1_epi8(-8)), _mm256_set1_epi8(0x0F));
  return _mm256_maddubs_epi16(n, _mm256_set1_epi16(0x1001));
}
inline __m128i nibble_pairs(__m128i b) {
  const __m128i n = _mm_and_si128(_mm_max_epi8(b, _mm_set1_epi8(-8)), _mm_set1_epi8(0x0F));
  return _mm_maddubs_epi16(n, _mm_set1_epi16(0x1001));
}

template <gq_dtype kX, gq_dtype kS, class C>
__m256i quantize_at(const void* x, const void* s, int64_t i, const C& c) {
  return quantize8(load8<kX>(x, i), load8<kS>(s, i), c);
}

template <gq_dtype kX, gq_dtype kS, class C>
void row_qs8(const void* x, const void* s, const C& c, int8_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    const __m256i b =
        narrow32(quantize_at<kX, kS>(x, s, i, c), quantize_at<kX, kS>(x, s, i + 8, c),
                 quantize_at<kX, kS>(x, s, i + 16, c), quantize_at<kX, kS>(x, s, i + 24, c));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), b);
  }
  for (; i + kLanes <= n; i += kLanes) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), narrow8(quantize_at<kX, kS>(x, s, i, c)));
  }
  if (i < n) {
    const int64_t rem = n - i;
    alignas(32) char x_tail[kLanes * 4] = {}, s_tail[kLanes * 4] = {};
    std::memcpy(x_tail, static_cast<const char*>(x) + i * elem_size<kX>(), rem * elem_size<kX>());
    std::memcpy(s_tail, static_cast<const char*>(s) + i * elem_size<kS>(), rem * elem_size<kS>());
    alignas(16) int8_t y_tail[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(y_tail),
                    narrow8(quantize_at<kX, kS>(x_tail, s_tail, 0, c)));
    std::memcpy(y + i, y_tail, rem);
  }
}

template <gq_dtype kX, gq_dtype kS, class C>
void row_qs4(const void* x, const void* s, const C& c, char* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    const __m256i pairs = nibble_pairs(
        narrow32(quantize_at<kX, kS>(x, s, i, c), quantize_at<kX, kS>(x, s, i + 8, c),
                 quantize_at<kX, kS>(x, s, i + 16, c), quantize_at<kX, kS>(x, s, i + 24, c)));
    const __m128i packed =
        _mm_packus_epi16(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i / 2), packed);
  }
  // n % 8 == 0: whole vectors only, one int32 word each.
  for (; i < n; i += kLanes) {
    const __m128i pairs = nibble_pairs(narrow8(quantize_at<kX, kS>(x, s, i, c)));
    const int32_t word = _mm_cvtsi128_si32(_mm_packus_epi16(pairs, pairs));
    std::memcpy(y + i / 2, &word, 4);
  }
}

template <gq_dtype kD>
const char* advance(const void* base, int64_t i) {
  return static_cast<const char*>(base) + i * elem_size<kD>();
}

template <gq_dtype kX, gq_dtype kS, class C>
__m256i bytes32(const void* x, const void* s, int64_t i, const C& c) {
  return narrow32(quantize_at<kX, kS>(x, s, i, c), quantize_at<kX, kS>(x, s, i + 8, c),
                  quantize_at<kX, kS>(x, s, i + 16, c), quantize_at<kX, kS>(x, s, i + 24, c));
}

// Streaming-store variants (row_stream.h): whole 64-byte lines of y go out with vmovntdq,
// the unaligned head and the tail through the plain kernels; the sfence orders the
// weakly-ordered stores before the kernel returns.
template <gq_dtype kX, gq_dtype kS, class C>
void row_qs8_stream(const void* x, const void* s, const C& c, int8_t* y, int64_t n) {
  const int64_t head = std::min<int64_t>(n, (64 - (reinterpret_cast<uintptr_t>(y) & 63)) & 63);
  row_qs8<kX, kS>(x, s, c, y, head);
  int64_t i = head;
  for (; i + 64 <= n; i += 64) {
    prefetch_stream_x<kX, 64>(x, i);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(y + i), bytes32<kX, kS>(x, s, i, c));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(y + i + 32), bytes32<kX, kS>(x, s, i + 32, c));
  }
  _mm_sfence();
  row_qs8<kX, kS>(advance<kX>(x, i), advance<kS>(s, i), c, y + i, n - i);
}

// 64 elements -> 32 bytes of packed int4.
template <gq_dtype kX, gq_dtype kS, class C>
__m256i packed32(const void* x, const void* s, int64_t i, const C& c) {
  const __m256i lo = nibble_pairs(bytes32<kX, kS>(x, s, i, c));
  const __m256i hi = nibble_pairs(bytes32<kX, kS>(x, s, i + 32, c));
  // packus works per 128-bit lane: lo.l hi.l | lo.h hi.h; the permute restores order.
  return _mm256_permute4x64_epi64(_mm256_packus_epi16(lo, hi), 0xD8);
}

// A y not on a 4-byte boundary never reaches a 64-byte one in whole words: plain path.
template <gq_dtype kX, gq_dtype kS, class C>
void row_qs4_stream(const void* x, const void* s, const C& c, char* y, int64_t n) {
  const uintptr_t misalign = reinterpret_cast<uintptr_t>(y) & 63;
  if ((misalign & 3) != 0) return row_qs4<kX, kS>(x, s, c, y, n);
  const int64_t head = std::min<int64_t>(n, 2 * static_cast<int64_t>((64 - misalign) & 63));
  row_qs4<kX, kS>(x, s, c, y, head);
  int64_t i = head;
  for (; i + 128 <= n; i += 128) {
    prefetch_stream_x<kX, 128>(x, i);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(y + i / 2), packed32<kX, kS>(x, s, i, c));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(y + i / 2 + 32),
                        packed32<kX, kS>(x, s, i + 64, c));
  }
  _mm_sfence();
  row_qs4<kX, kS>(advance<kX>(x, i), advance<kS>(s, i), c, y + i / 2, n - i);
}

template <gq_dtype kX, gq_dtype kS, gq_output_kind kKind, bool kStream, class C>
void row_with(const void* x, const void* s, const C& c, void* y, int64_t n) {
  static_assert(kKind == GQ_OUTPUT_INT8 || kKind == GQ_OUTPUT_INT4_PACKED,
                "npu_group_quant's output kinds");
  if constexpr (kKind == GQ_OUTPUT_INT8) {
    if constexpr (kStream) {
      row_qs8_stream<kX, kS>(x, s, c, static_cast<int8_t*>(y), n);
    } else {
      row_qs8<kX, kS>(x, s, c, static_cast<int8_t*>(y), n);
    }
  } else {
    if constexpr (kStream) {
      row_qs4_stream<kX, kS>(x, s, c, static_cast<char*>(y), n);
    } else {
      row_qs4<kX, kS>(x, s, c, static_cast<char*>(y), n);
    }
  }
}

template <gq_dtype kX, gq_dtype kS, gq_output_kind kKind, bool kStream>
void row_avx2(const void* x, const void* s, float offset, void* y, int64_t n) {
  const __m256 hi =
      _mm256_set1_ps(static_cast<float>(kKind == GQ_OUTPUT_INT8 ? kInt8Max : kInt4Max));
  if (offset == 0.0f) {
    row_with<kX, kS, kKind, kStream>(x, s, Consts<false>{_mm256_setzero_ps(), hi}, y, n);
  } else {
    row_with<kX, kS, kKind, kStream>(x, s, Consts<true>{_mm256_set1_ps(offset), hi}, y, n);
  }
}

}  // namespace

GQ_DEFINE_SIMD_ROW_KERNELS(avx2)

}  // namespace groupquant::detail
