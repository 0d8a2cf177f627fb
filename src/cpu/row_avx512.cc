// AVX-512 (F/BW/VL) row kernels: 16 floats per vector, 64 elements per main-loop
// iteration, then single vectors, then one masked vector for the last n % 16 elements.
// Masked loads and stores suppress faults on masked-off lanes, so nothing outside [0, n)
// is touched. Built with GQ_AVX512_FLAGS and -ffp-contract=off (CMakeLists.txt).
// GCC 12 flags the _mm512_undefined_*() pass-through operands inside max/min/cvtph/vpmovsdb
// as maybe-uninitialized once inlined (GCC bug 105593, fixed in 13); the header, not
// this code, is the subject, so the warning is silenced for its lines only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#include "src/cpu/kernels.h"
#include "src/element.h"

namespace groupquant::detail {
namespace {

constexpr int64_t kLanes = 16;

template <gq_dtype kD>
const char* element_ptr(const void* base, int64_t i) {
  return static_cast<const char*>(base) + i * (kD == GQ_DTYPE_FLOAT32 ? 4 : 2);
}

// Widens 16 elements to float32, exactly. bf16 is the top half of a float32.
template <gq_dtype kD>
__m512 widen(__m256i halves) {
  if constexpr (kD == GQ_DTYPE_FLOAT16) {
    return _mm512_cvtph_ps(halves);
  } else {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16));
  }
}

template <gq_dtype kD>
__m512 load16(const void* base, int64_t i) {
  const char* p = element_ptr<kD>(base, i);
  if constexpr (kD == GQ_DTYPE_FLOAT32) {
    return _mm512_loadu_ps(p);
  } else {
    return widen<kD>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
}

template <gq_dtype kD>
__m512 load16_masked(const void* base, int64_t i, __mmask16 mask) {
  const char* p = element_ptr<kD>(base, i);
  if constexpr (kD == GQ_DTYPE_FLOAT32) {
    return _mm512_maskz_loadu_ps(mask, p);
  } else {
    return widen<kD>(_mm256_maskz_loadu_epi16(mask, p));
  }
}

struct Consts {
  __m512 offset, lo, hi;
};

// round_saturate(x * s + offset) for 16 lanes as int32: one multiply and one add, each
// rounded (never an FMA); clamp in float first, because cvtps2dq turns out-of-range
// values into INT_MIN; NaN lanes are zeroed by the ordered mask. The convert rounds
// half to even by its own immediate, whatever MXCSR.RC says.
inline __m512i quantize16(__m512 x, __m512 s, const Consts& c) {
  const __m512 v = _mm512_add_ps(_mm512_mul_ps(x, s), c.offset);
  const __mmask16 ordered = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
  const __m512 clamped = _mm512_min_ps(_mm512_max_ps(v, c.lo), c.hi);
  return _mm512_maskz_cvt_roundps_epi32(ordered, clamped,
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// 16 nibbles in [-8, 7] (as int32) -> 8 bytes, column 2j in the low nibble of byte j.
// Within each 64-bit lane (q_odd << 32 | q_even), q_odd >> 28 lands at bit 4 of the
// low dword; vpmovqb then keeps each lane's low byte.
inline __m128i pack_nibbles16(__m512i q) {
  const __m512i n = _mm512_and_si512(q, _mm512_set1_epi32(0xF));
  return _mm512_cvtepi64_epi8(_mm512_or_si512(n, _mm512_srli_epi64(n, 28)));
}

template <gq_dtype kX, gq_dtype kS>
void row_qs8(const void* x, const void* s, const Consts& c, int8_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    const __m512i q0 = quantize16(load16<kX>(x, i), load16<kS>(s, i), c);
    const __m512i q1 = quantize16(load16<kX>(x, i + 16), load16<kS>(s, i + 16), c);
    const __m512i q2 = quantize16(load16<kX>(x, i + 32), load16<kS>(s, i + 32), c);
    const __m512i q3 = quantize16(load16<kX>(x, i + 48), load16<kS>(s, i + 48), c);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i + 16), _mm512_cvtsepi32_epi8(q1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i + 32), _mm512_cvtsepi32_epi8(q2));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i + 48), _mm512_cvtsepi32_epi8(q3));
  }
  for (; i + kLanes <= n; i += kLanes) {
    const __m512i q = quantize16(load16<kX>(x, i), load16<kS>(s, i), c);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm512_cvtsepi32_epi8(q));
  }
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i q = quantize16(load16_masked<kX>(x, i, mask), load16_masked<kS>(s, i, mask), c);
    _mm512_mask_cvtsepi32_storeu_epi8(y + i, mask, q);
  }
}

template <gq_dtype kX, gq_dtype kS>
void row_qs4(const void* x, const void* s, const Consts& c, char* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    const __m128i p0 = pack_nibbles16(quantize16(load16<kX>(x, i), load16<kS>(s, i), c));
    const __m128i p1 = pack_nibbles16(quantize16(load16<kX>(x, i + 16), load16<kS>(s, i + 16), c));
    const __m128i p2 = pack_nibbles16(quantize16(load16<kX>(x, i + 32), load16<kS>(s, i + 32), c));
    const __m128i p3 = pack_nibbles16(quantize16(load16<kX>(x, i + 48), load16<kS>(s, i + 48), c));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i / 2), _mm_unpacklo_epi64(p0, p1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i / 2 + 16), _mm_unpacklo_epi64(p2, p3));
  }
  for (; i + kLanes <= n; i += kLanes) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i / 2),
                     pack_nibbles16(quantize16(load16<kX>(x, i), load16<kS>(s, i), c)));
  }
  if (i < n) {  // n % 8 == 0, so 8 elements: one int32 word
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m128i p = pack_nibbles16(
        quantize16(load16_masked<kX>(x, i, mask), load16_masked<kS>(s, i, mask), c));
    _mm_mask_storeu_epi8(y + i / 2, static_cast<__mmask16>((1u << ((n - i) / 2)) - 1), p);
  }
}

template <gq_dtype kX, gq_dtype kS, gq_output_kind kKind>
void row_avx512(const void* x, const void* s, float offset, void* y, int64_t n) {
  Consts c;
  c.offset = _mm512_set1_ps(offset);
  if constexpr (kKind == GQ_OUTPUT_INT8) {
    c.lo = _mm512_set1_ps(static_cast<float>(kInt8Min));
    c.hi = _mm512_set1_ps(static_cast<float>(kInt8Max));
    row_qs8<kX, kS>(x, s, c, static_cast<int8_t*>(y), n);
  } else {
    c.lo = _mm512_set1_ps(static_cast<float>(kInt4Min));
    c.hi = _mm512_set1_ps(static_cast<float>(kInt4Max));
    row_qs4<kX, kS>(x, s, c, static_cast<char*>(y), n);
  }
}

}  // namespace

#define GQ_DEFINE_ROW_KERNEL(isa, xt, st, out)                                              \
  void row_##xt##_##st##_##out##__##isa(const void* x_row, const void* scale_row,          \
                                        float offset, void* y_row, int64_t n) {            \
    row_avx512<GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out>(x_row, scale_row,     \
                                                                       offset, y_row, n);  \
  }
GQ_ROW_KERNEL_TYPES(GQ_DEFINE_ROW_KERNEL, avx512)

}  // namespace groupquant::detail
