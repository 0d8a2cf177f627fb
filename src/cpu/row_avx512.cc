// AVX-512 (F/BW/VL) row kernels: 16 floats per vector, 64 elements per main-loop
// iteration, then single vectors, then one masked vector for the last n % 16 elements;
// plus their streaming-store variants (row_stream.h) for outputs far larger than cache.
// Masked loads and stores suppress faults on masked-off lanes, so nothing outside [0, n)
// is touched. Built with GQ_AVX512_FLAGS and -ffp-contract=off (CMakeLists.txt).
// GCC 12 flags the _mm512_undefined_*() pass-through operands inside min/cvtph/vpmov*
// as (maybe-)uninitialized once inlined (GCC bug 105593, fixed in 13); the header, not
// this code, is the subject, so the warnings are silenced for its lines only.
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>

#include "src/cpu/kernels.h"
#include "src/cpu/row_stream.h"
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

// kAdd: whether the kernel adds the offset. An offset equal to 0 (+0 or -0) changes no
// product but -0 (to +0), and both give the integer 0, so the kernels skip that add: one
// vector op of seven per element when the call has no offset.
template <bool kAdd>
struct Consts {
  static constexpr bool add = kAdd;
  __m512 offset, hi;
};

// x * s + offset for 16 lanes, rounded half to even to int32: one multiply and one add,
// each rounded (never an FMA). Only the top is clamped in float, because cvtps2dq turns
// values >= 2^31 into INT_MIN; everything below the range already saturates in the
// narrowing packs (INT_MIN included, so -inf works too). NaN lanes are zeroed by the
// ordered mask. The convert rounds by its own immediate, whatever MXCSR.RC says.
template <class C>
__m512i quantize16(__m512 x, __m512 s, const C& c) {
  __m512 v = _mm512_mul_ps(x, s);
  if constexpr (C::add) v = _mm512_add_ps(v, c.offset);
  const __mmask16 ordered = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
  return _mm512_maskz_cvt_roundps_epi32(ordered, _mm512_min_ps(v, c.hi),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

template <gq_dtype kX, gq_dtype kS, class C>
__m512i quantize_at(const void* x, const void* s, int64_t i, const C& c) {
  return quantize16(load16<kX>(x, i), load16<kS>(s, i), c);
}

// 64 elements -> 64 saturated int8 in order. The packs work per 128-bit lane, leaving
// dword 4l+j = elements 4l..4l+3 of q_j; the permute puts them back in order.
template <gq_dtype kX, gq_dtype kS, class C>
__m512i bytes64(const void* x, const void* s, int64_t i, const C& c) {
  const __m512i w01 =
      _mm512_packs_epi32(quantize_at<kX, kS>(x, s, i, c), quantize_at<kX, kS>(x, s, i + 16, c));
  const __m512i w23 = _mm512_packs_epi32(quantize_at<kX, kS>(x, s, i + 32, c),
                                         quantize_at<kX, kS>(x, s, i + 48, c));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_epi32(order, _mm512_packs_epi16(w01, w23));
}

// int8 values <= 7 -> nibble pairs: clamp the bottom to -8, keep the low nibbles, and
// fold each byte pair into one 16-bit lane as n_even + 16 * n_odd (vpmaddubsw by 1 and
// 16: at most 255, so exact), column 2j in the low nibble of pair j.
inline __m512i nibble_pairs(__m512i b) {
  const __m512i n =
      _mm512_and_si512(_mm512_max_epi8(b, _mm512_set1_epi8(-8)), _mm512_set1_epi8(0x0F));
  return _mm512_maddubs_epi16(n, _mm512_set1_epi16(0x1001));
}
inline __m256i nibbles64(__m512i b) { return _mm512_cvtepi16_epi8(nibble_pairs(b)); }
inline __m128i nibbles16(__m128i b) {  // 16 bytes -> 8 in the low half
  const __m128i n = _mm_and_si128(_mm_max_epi8(b, _mm_set1_epi8(-8)), _mm_set1_epi8(0x0F));
  return _mm_cvtepi16_epi8(_mm_maddubs_epi16(n, _mm_set1_epi16(0x1001)));
}

template <gq_dtype kX, gq_dtype kS, class C>
void row_qs8(const void* x, const void* s, const C& c, int8_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    _mm512_storeu_si512(y + i, bytes64<kX, kS>(x, s, i, c));
  }
  for (; i + kLanes <= n; i += kLanes) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm512_cvtsepi32_epi8(quantize_at<kX, kS>(x, s, i, c)));
  }
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i q = quantize16(load16_masked<kX>(x, i, mask), load16_masked<kS>(s, i, mask), c);
    _mm512_mask_cvtsepi32_storeu_epi8(y + i, mask, q);
  }
}

// Streaming-store variant: whole 64-byte lines of y go out with vmovntdq (no
// read-for-ownership of y, no cache pollution); the unaligned head and the tail use
// row_qs8. The sfence orders the weakly-ordered stores before the kernel returns.
template <gq_dtype kX, gq_dtype kS, class C>
void row_qs8_stream(const void* x, const void* s, const C& c, int8_t* y, int64_t n) {
  const int64_t head = std::min<int64_t>(n, (64 - (reinterpret_cast<uintptr_t>(y) & 63)) & 63);
  row_qs8<kX, kS>(x, s, c, y, head);
  int64_t i = head;
  for (; i + 64 <= n; i += 64) {
    prefetch_stream_x<kX, 64>(x, i);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(y + i), bytes64<kX, kS>(x, s, i, c));
  }
  _mm_sfence();
  row_qs8<kX, kS>(element_ptr<kX>(x, i), element_ptr<kS>(s, i), c, y + i, n - i);
}

template <gq_dtype kX, gq_dtype kS, class C>
void row_qs4(const void* x, const void* s, const C& c, char* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i / 2),
                        nibbles64(bytes64<kX, kS>(x, s, i, c)));
  }
  for (; i + kLanes <= n; i += kLanes) {
    const __m128i b = _mm512_cvtsepi32_epi8(quantize_at<kX, kS>(x, s, i, c));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i / 2), nibbles16(b));
  }
  if (i < n) {  // n % 8 == 0, so 8 elements: one int32 word
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m128i b = _mm512_cvtsepi32_epi8(
        quantize16(load16_masked<kX>(x, i, mask), load16_masked<kS>(s, i, mask), c));
    _mm_mask_storeu_epi8(y + i / 2, static_cast<__mmask16>((1u << ((n - i) / 2)) - 1),
                         nibbles16(b));
  }
}

// Streaming-store variant of row_qs4 (see row_qs8_stream): 128 elements per 64-byte
// line. A y not on a 4-byte boundary never reaches a 64-byte one in whole words, so it
// takes the plain path.
template <gq_dtype kX, gq_dtype kS, class C>
void row_qs4_stream(const void* x, const void* s, const C& c, char* y, int64_t n) {
  const uintptr_t misalign = reinterpret_cast<uintptr_t>(y) & 63;
  if ((misalign & 3) != 0) return row_qs4<kX, kS>(x, s, c, y, n);
  const int64_t head = std::min<int64_t>(n, 2 * static_cast<int64_t>((64 - misalign) & 63));
  row_qs4<kX, kS>(x, s, c, y, head);
  int64_t i = head;
  for (; i + 128 <= n; i += 128) {
    prefetch_stream_x<kX, 128>(x, i);
    // packus works per 128-bit lane (8 bytes of each half); the permute restores order.
    const __m512i halves = _mm512_packus_epi16(nibble_pairs(bytes64<kX, kS>(x, s, i, c)),
                                               nibble_pairs(bytes64<kX, kS>(x, s, i + 64, c)));
    const __m512i line =
        _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), halves);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(y + i / 2), line);
  }
  _mm_sfence();
  row_qs4<kX, kS>(element_ptr<kX>(x, i), element_ptr<kS>(s, i), c, y + i / 2, n - i);
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
void row_avx512(const void* x, const void* s, float offset, void* y, int64_t n) {
  const __m512 hi =
      _mm512_set1_ps(static_cast<float>(kKind == GQ_OUTPUT_INT8 ? kInt8Max : kInt4Max));
  if (offset == 0.0f) {
    row_with<kX, kS, kKind, kStream>(x, s, Consts<false>{_mm512_setzero_ps(), hi}, y, n);
  } else {
    row_with<kX, kS, kKind, kStream>(x, s, Consts<true>{_mm512_set1_ps(offset), hi}, y, n);
  }
}

}  // namespace

GQ_DEFINE_SIMD_ROW_KERNELS(avx512)

}  // namespace groupquant::detail
