// AVX2 (+FMA, F16C) row kernels: 8 floats per vector, 32 elements per main-loop
// iteration, then single vectors, then the last n % 8 elements through a small stack
// copy (AVX2 has no 16-bit masked load, and a full-width load would read past n).
// Built with GQ_AVX2_FLAGS and -ffp-contract=off (CMakeLists.txt).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "src/cpu/kernels.h"
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

struct Consts {
  __m256 offset, lo, hi;
};

// round_saturate(x * s + offset) for 8 lanes as int32: one multiply and one add, each
// rounded (never an FMA); clamp in float first, because cvtps2dq turns out-of-range
// values into INT_MIN; NaN lanes are zeroed through the ordered mask. cvtps2dq rounds
// by MXCSR, which the driver sets to round-to-nearest-even.
inline __m256i quantize8(__m256 x, __m256 s, const Consts& c) {
  const __m256 v = _mm256_add_ps(_mm256_mul_ps(x, s), c.offset);
  const __m256 ordered = _mm256_cmp_ps(v, v, _CMP_ORD_Q);
  const __m256 clamped = _mm256_min_ps(_mm256_max_ps(v, c.lo), c.hi);
  return _mm256_cvtps_epi32(_mm256_and_ps(clamped, ordered));
}

// 4 x 8 int32 (already in range) -> 32 int8 in order. The packs work per 128-bit lane,
// leaving dwords q0lo q1lo q2lo q3lo | q0hi q1hi q2hi q3hi; the permute restores order.
inline __m256i narrow32(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// 8 int32 -> 8 int8 in the low half.
inline __m128i narrow8(__m256i q) {
  const __m128i words =
      _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packs_epi16(words, words);
}

// Bytes in [-8, 7] -> nibble pairs: in each 16-bit lane (b_odd << 8 | b_even) of the
// low-nibble bytes, >> 4 brings b_odd to bits 4-7 and the low byte becomes the packed
// pair (column 2j in the low nibble); the 0xFF mask makes the unsigned pack exact.
inline __m256i nibble_pairs(__m256i b) {
  const __m256i n = _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
  return _mm256_and_si256(_mm256_or_si256(n, _mm256_srli_epi16(n, 4)), _mm256_set1_epi16(0xFF));
}
inline __m128i nibble_pairs(__m128i b) {
  const __m128i n = _mm_and_si128(b, _mm_set1_epi8(0x0F));
  return _mm_and_si128(_mm_or_si128(n, _mm_srli_epi16(n, 4)), _mm_set1_epi16(0xFF));
}

template <gq_dtype kX, gq_dtype kS>
__m256i quantize_at(const void* x, const void* s, int64_t i, const Consts& c) {
  return quantize8(load8<kX>(x, i), load8<kS>(s, i), c);
}

template <gq_dtype kX, gq_dtype kS>
void row_qs8(const void* x, const void* s, const Consts& c, int8_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    const __m256i b = narrow32(quantize_at<kX, kS>(x, s, i, c), quantize_at<kX, kS>(x, s, i + 8, c),
                               quantize_at<kX, kS>(x, s, i + 16, c),
                               quantize_at<kX, kS>(x, s, i + 24, c));
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
    _mm_store_si128(reinterpret_cast<__m128i*>(y_tail), narrow8(quantize_at<kX, kS>(x_tail, s_tail, 0, c)));
    std::memcpy(y + i, y_tail, rem);
  }
}

template <gq_dtype kX, gq_dtype kS>
void row_qs4(const void* x, const void* s, const Consts& c, char* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    const __m256i pairs = nibble_pairs(narrow32(
        quantize_at<kX, kS>(x, s, i, c), quantize_at<kX, kS>(x, s, i + 8, c),
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

template <gq_dtype kX, gq_dtype kS, gq_output_kind kKind>
void row_avx2(const void* x, const void* s, float offset, void* y, int64_t n) {
  Consts c;
  c.offset = _mm256_set1_ps(offset);
  if constexpr (kKind == GQ_OUTPUT_INT8) {
    c.lo = _mm256_set1_ps(static_cast<float>(kInt8Min));
    c.hi = _mm256_set1_ps(static_cast<float>(kInt8Max));
    row_qs8<kX, kS>(x, s, c, static_cast<int8_t*>(y), n);
  } else {
    c.lo = _mm256_set1_ps(static_cast<float>(kInt4Min));
    c.hi = _mm256_set1_ps(static_cast<float>(kInt4Max));
    row_qs4<kX, kS>(x, s, c, static_cast<char*>(y), n);
  }
}

}  // namespace

#define GQ_DEFINE_ROW_KERNEL(isa, xt, st, out)                                            \
  void row_##xt##_##st##_##out##__##isa(const void* x_row, const void* scale_row,        \
                                        float offset, void* y_row, int64_t n) {          \
    row_avx2<GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out>(x_row, scale_row,     \
                                                                     offset, y_row, n);  \
  }
GQ_ROW_KERNEL_TYPES(GQ_DEFINE_ROW_KERNEL, avx2)

}  // namespace groupquant::detail
